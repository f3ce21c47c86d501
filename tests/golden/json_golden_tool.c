/*
 * json_golden_tool.c - lib/yw_json.c driven from files, for json_golden.py, which
 * compares it with Python's json_format (the reference proto3 JSON mapping).
 *
 * Reads commands on stdin, one per line, fields separated by single spaces:
 *   to_json TYPE FLAGS IN OUT   protobuf bytes in IN -> yw_json_write(FLAGS) -> OUT
 *   to_bin TYPE IN OUT          JSON text in IN -> yw_json_to_message -> packed -> OUT
 * TYPE is a message's full name (yiwang.test.v1.WellKnown, google.protobuf.Timestamp ...);
 * FLAGS is 0 or 1 (YW_JSON_EMIT_DEFAULTS). On success OUT is written; on a refusal
 * OUT.err is written instead: the yw error code, a tab, the error text. Exits 0 when
 * every command ran (refusals included), 2 on a malformed command or an I/O error.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "yiwang/test/v1/test.pb-c.h"
#include "yiwang/test/v1/wkt.pb-c.h"
#include "yw_err.h"
#include "yw_json.h"

#define MAX_FILE (16u << 20)

static const ProtobufCMessageDescriptor *const types[] = {
    &yiwang__test__v1__well_known__descriptor,   &yiwang__test__v1__everything__descriptor,
    &google__protobuf__timestamp__descriptor,    &google__protobuf__duration__descriptor,
    &google__protobuf__struct__descriptor,       &google__protobuf__value__descriptor,
    &google__protobuf__list_value__descriptor,   &google__protobuf__field_mask__descriptor,
    &google__protobuf__empty__descriptor,        &google__protobuf__double_value__descriptor,
    &google__protobuf__float_value__descriptor,  &google__protobuf__int64_value__descriptor,
    &google__protobuf__uint64_value__descriptor, &google__protobuf__int32_value__descriptor,
    &google__protobuf__uint32_value__descriptor, &google__protobuf__bool_value__descriptor,
    &google__protobuf__string_value__descriptor, &google__protobuf__bytes_value__descriptor,
};

static const ProtobufCMessageDescriptor *type_by_name(const char *name) {
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcmp(types[i]->name, name) == 0) return types[i];
  return NULL;
}

/* Reads a whole file into a new buffer (NUL-terminated). Returns NULL on failure. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  char *buf = malloc(MAX_FILE + 1);
  size_t n = buf != NULL ? fread(buf, 1, MAX_FILE, f) : 0;
  int bad = buf == NULL || ferror(f) || !feof(f);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

static int write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return -1;
  size_t n = fwrite(data, 1, len, f);
  int rc = fclose(f);
  return n == len && rc == 0 ? 0 : -1;
}

/* Writes OUT.err: "code<TAB>text". */
static int refuse(const char *out, int code, const char *text) {
  char path[4096];
  char line[512];
  if ((size_t)snprintf(path, sizeof path, "%s.err", out) >= sizeof path) return -1;
  int n = snprintf(line, sizeof line, "%d\t%s", code, text);
  if (n < 0) return -1;
  return write_file(path, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int to_json(const ProtobufCMessageDescriptor *d, unsigned flags, const char *in,
                   const char *out) {
  size_t len = 0;
  char *data = read_file(in, &len);
  if (data == NULL) return -1;
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, (const uint8_t *)data);
  free(data);
  if (m == NULL) return refuse(out, 0, "protobuf-c could not unpack the bytes");
  char *text = NULL;
  size_t tlen = 0;
  int rc = yw_json_write(m, flags, &text, &tlen);
  protobuf_c_message_free_unpacked(m, NULL);
  if (rc != 0) return refuse(out, rc, yw_strerror(rc));
  rc = write_file(out, text, tlen);
  free(text);
  return rc;
}

static int to_bin(const ProtobufCMessageDescriptor *d, const char *in, const char *out) {
  size_t len = 0;
  char *text = read_file(in, &len);
  if (text == NULL) return -1;
  json_error_t jerr;
  /* as the gateway reads a body: duplicate keys refused */
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  free(text);
  if (doc == NULL) return refuse(out, YW_EINVAL, jerr.text);
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  int rc = yw_json_to_message(d, doc, NULL, &m, &err);
  json_decref(doc);
  if (rc != 0) return refuse(out, rc, err.text);
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n + 1);
  if (buf == NULL) {
    protobuf_c_message_free_unpacked(m, NULL);
    return -1;
  }
  protobuf_c_message_pack(m, buf);
  protobuf_c_message_free_unpacked(m, NULL);
  rc = write_file(out, buf, n);
  free(buf);
  return rc;
}

int main(void) {
  char line[8192];
  unsigned long lineno = 0;
  while (fgets(line, sizeof line, stdin) != NULL) {
    lineno++;
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0') continue;
    char *words[6] = {0};
    size_t n = 0;
    for (char *p = line; p != NULL && n < 6;) { /* split at single spaces */
      words[n++] = p;
      p = strchr(p, ' ');
      if (p != NULL) *p++ = '\0';
    }
    const ProtobufCMessageDescriptor *d = n >= 2 ? type_by_name(words[1]) : NULL;
    int rc = -1;
    if (d != NULL && n == 5 && strcmp(words[0], "to_json") == 0 &&
        (strcmp(words[2], "0") == 0 || strcmp(words[2], "1") == 0))
      rc = to_json(d, words[2][0] == '1' ? YW_JSON_EMIT_DEFAULTS : 0, words[3], words[4]);
    else if (d != NULL && n == 4 && strcmp(words[0], "to_bin") == 0)
      rc = to_bin(d, words[2], words[3]);
    if (rc != 0) {
      fprintf(stderr, "json_golden_tool: line %lu: bad command or I/O error\n", lineno);
      return 2;
    }
  }
  return 0;
}
