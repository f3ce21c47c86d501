/*
 * fuzz_json_in.c - the proto3 JSON mapper (lib/yw_json.c) reading what clients send:
 * JSON text -> message -> JSON -> message, over tests/proto's Everything (every scalar
 * type, enums, bytes, nested, repeated and oneof fields).
 *
 * Input: JSON text, parsed as the gateway parses bodies (jansson, duplicates refused).
 * Properties: a refusal leaves no message and a terminated error text; an accepted
 * message writes as JSON (strings from jansson are valid UTF-8), that JSON reads back,
 * the two messages pack to the same bytes, and writing the second gives the same text
 * (the mapping is a fixed point after one trip). Leaks are findings (ASan).
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "yiwang/test/v1/test.pb-c.h"
#include "yw_err.h"
#include "yw_json.h"

static const ProtobufCMessageDescriptor *const DESC = &yiwang__test__v1__everything__descriptor;

static uint8_t *packed(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(*len + 1);
  FUZZ_CHECK(buf != NULL);
  FUZZ_CHECK(protobuf_c_message_pack(m, buf) == *len);
  return buf;
}

static ProtobufCMessage *read_text(const char *text, size_t len) {
  json_error_t jerr;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  FUZZ_CHECK(doc != NULL && json_is_object(doc));
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  int rc = yw_json_to_message(DESC, doc, NULL, &m, &err);
  json_decref(doc);
  if (rc != 0) fprintf(stderr, "written JSON refused on reading: %s\n%.*s\n", err.text, (int)len, text);
  FUZZ_CHECK(rc == 0 && m != NULL);
  return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) return 0;
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  memset(&err, 0x55, sizeof err);
  int rc = yw_json_to_message(DESC, doc, NULL, &m, &err);
  json_decref(doc);
  if (rc != 0) {
    FUZZ_CHECK(rc == YW_EINVAL || rc == YW_ENOMEM);
    FUZZ_CHECK(m == NULL);
    FUZZ_CHECK(memchr(err.text, '\0', sizeof err.text) != NULL);
    return 0;
  }
  FUZZ_CHECK(m != NULL);
  char *text = NULL;
  size_t tlen = 0;
  FUZZ_CHECK(yw_json_write(m, 0, &text, &tlen) == 0);
  FUZZ_CHECK(text != NULL && strlen(text) == tlen);
  ProtobufCMessage *m2 = read_text(text, tlen);
  size_t l1, l2;
  uint8_t *b1 = packed(m, &l1), *b2 = packed(m2, &l2);
  if (l1 != l2 || memcmp(b1, b2, l1) != 0) fprintf(stderr, "round trip changed the message: %s\n", text);
  FUZZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
  char *text2 = NULL;
  size_t tlen2 = 0;
  FUZZ_CHECK(yw_json_write(m2, 0, &text2, &tlen2) == 0);
  if (tlen != tlen2 || memcmp(text, text2, tlen) != 0)
    fprintf(stderr, "second writing differs:\n%s\n%s\n", text, text2);
  FUZZ_CHECK(tlen == tlen2 && memcmp(text, text2, tlen) == 0);
  /* with defaults the same message reads back the same too */
  char *full = NULL;
  size_t flen = 0;
  FUZZ_CHECK(yw_json_write(m, YW_JSON_EMIT_DEFAULTS, &full, &flen) == 0);
  ProtobufCMessage *m3 = read_text(full, flen);
  size_t l3;
  uint8_t *b3 = packed(m3, &l3);
  FUZZ_CHECK(l1 == l3 && memcmp(b1, b3, l1) == 0);
  free(b1);
  free(b2);
  free(b3);
  free(text);
  free(text2);
  free(full);
  protobuf_c_message_free_unpacked(m, NULL);
  protobuf_c_message_free_unpacked(m2, NULL);
  protobuf_c_message_free_unpacked(m3, NULL);
  return 0;
}
