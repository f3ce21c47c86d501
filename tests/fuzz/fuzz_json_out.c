/*
 * fuzz_json_out.c - the proto3 JSON mapper (lib/yw_json.c) writing what services answer:
 * protobuf bytes -> message -> JSON -> message, over tests/proto's Everything.
 *
 * Input: protobuf wire bytes, unpacked by protobuf-c as the gateway unpacks answers.
 * Properties: the message writes as JSON unless a string is not valid UTF-8 (the one
 * documented refusal); the JSON is an object that reads back into a message that packs
 * to the same bytes as the first one without its unknown fields (JSON has no place for
 * them) and with every NaN the same NaN (JSON has one); writing is a fixed point. Leaks
 * are findings (ASan).
 */
#include <jansson.h>
#include <math.h>
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

/* JSON's "NaN" has no sign or payload: one NaN stands for all. */
static void canon_nan(ProtobufCMessage *m) {
  Yiwang__Test__V1__Everything *e = (Yiwang__Test__V1__Everything *)m;
  if (isnan(e->f_float)) e->f_float = NAN;
  if (isnan(e->f_double)) e->f_double = NAN;
}

/* Packs m as if it had no unknown fields, the nested ones included. */
static uint8_t *packed_known(ProtobufCMessage *m, size_t *len) {
  Yiwang__Test__V1__Everything *e = (Yiwang__Test__V1__Everything *)m;
  ProtobufCMessage *nested[64];
  unsigned saved[64];
  size_t n = 0;
  nested[n++] = m;
  if (e->nested != NULL) nested[n++] = &e->nested->base;
  if (e->choice_case == YIWANG__TEST__V1__EVERYTHING__CHOICE_CHOICE_NESTED && e->choice_nested)
    nested[n++] = &e->choice_nested->base;
  for (size_t i = 0; i < e->n_children && n < 64; i++) nested[n++] = &e->children[i]->base;
  if (n == 64) return NULL; /* too many to track; the caller skips the comparison */
  for (size_t i = 0; i < n; i++) {
    saved[i] = nested[i]->n_unknown_fields;
    nested[i]->n_unknown_fields = 0;
  }
  uint8_t *buf = packed(m, len);
  for (size_t i = 0; i < n; i++) nested[i]->n_unknown_fields = saved[i];
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  ProtobufCMessage *m = protobuf_c_message_unpack(DESC, NULL, size, data);
  if (m == NULL) return 0;
  char *text = NULL;
  size_t tlen = 0;
  int rc = yw_json_write(m, 0, &text, &tlen);
  if (rc != 0) {
    /* only a string that is not UTF-8 may stop the writer (documented as YW_ENOMEM) */
    FUZZ_CHECK(rc == YW_ENOMEM && text == NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
  }
  FUZZ_CHECK(text != NULL && strlen(text) == tlen);
  json_error_t jerr;
  json_t *doc = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) fprintf(stderr, "written JSON does not parse: %s\n%s\n", jerr.text, text);
  FUZZ_CHECK(doc != NULL && json_is_object(doc));
  ProtobufCMessage *m2 = NULL;
  yw_json_error err;
  rc = yw_json_to_message(DESC, doc, NULL, &m2, &err);
  json_decref(doc);
  if (rc != 0) fprintf(stderr, "written JSON refused on reading: %s\n%s\n", err.text, text);
  FUZZ_CHECK(rc == 0 && m2 != NULL);
  canon_nan(m);
  canon_nan(m2);
  size_t l1 = 0, l2 = 0;
  uint8_t *b1 = packed_known(m, &l1), *b2 = packed(m2, &l2);
  if (b1 != NULL) {
    if (l1 != l2 || memcmp(b1, b2, l1) != 0) fprintf(stderr, "round trip changed the message: %s\n", text);
    FUZZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
  }
  char *text2 = NULL;
  size_t tlen2 = 0;
  FUZZ_CHECK(yw_json_write(m2, 0, &text2, &tlen2) == 0);
  if (tlen != tlen2 || memcmp(text, text2, tlen) != 0)
    fprintf(stderr, "second writing differs:\n%s\n%s\n", text, text2);
  FUZZ_CHECK(tlen == tlen2 && memcmp(text, text2, tlen) == 0);
  free(b1);
  free(b2);
  free(text);
  free(text2);
  protobuf_c_message_free_unpacked(m, NULL);
  protobuf_c_message_free_unpacked(m2, NULL);
  return 0;
}
