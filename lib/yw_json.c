/*
 * yw_json.c - proto3 JSON mapping for protobuf-c messages, driven only by descriptors.
 *
 * Design notes:
 *  - protobuf-c gives each field an offset, a label, a type and, for repeated fields,
 *    proto2 optionals and oneof members, a quantifier offset (count, has-flag or case).
 *    Reading and writing go through those offsets; no generated code is involved.
 *  - Every allocation of an input message goes through the caller's allocator and the
 *    message stays consistent at every step (counts grow after elements are complete,
 *    a oneof case is set with its member), so protobuf_c_message_free_unpacked can free
 *    a half-built message after an error.
 *  - 64-bit integers are written as strings and read from strings or integral numbers
 *    with strtoll/strtoull and range checks: no value passes through a double.
 *  - Errors name the field path ("materials[2].copies") so a client can fix its input.
 *  - The well-known types (package google.protobuf) are known by their descriptors' full
 *    names, and their layout is checked before it is used (wkt_of): nothing here links
 *    their generated code. Timestamp and Duration are strings, wrappers their bare
 *    value, Struct/Value/ListValue any JSON, FieldMask a string of lowerCamelCase paths,
 *    Empty an ordinary message ({}). Any is refused: its JSON form names the packed
 *    type ("@type"), and this mapper has no registry of types to look it up in.
 *  - Depth is counted per JSON nesting level, the same way on both sides: a Value and
 *    the Struct or ListValue it holds are one level, so what is read can be written.
 *
 * Offers: yw_json_to_message, yw_json_set_field_text, yw_json_write, yw_json_from_message,
 * yw_json_name.
 */
#include "yw_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

#define MAX_DEPTH 32

/* ---- allocation ------------------------------------------------------------------ */

static void *sys_alloc(void *data, size_t size) {
  (void)data;
  return malloc(size);
}
static void sys_free(void *data, void *ptr) {
  (void)data;
  free(ptr);
}
static ProtobufCAllocator sys_allocator = {sys_alloc, sys_free, NULL};

static ProtobufCAllocator *alloc_or_default(ProtobufCAllocator *a) {
  return a != NULL ? a : &sys_allocator;
}

static void *zalloc(ProtobufCAllocator *a, size_t size) {
  void *p = a->alloc(a->allocator_data, size != 0 ? size : 1);
  if (p != NULL) memset(p, 0, size != 0 ? size : 1);
  return p;
}

#define MEMBER(type, msg, off) (*(type *)((char *)(msg) + (off)))

static size_t elem_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_ENUM: return 4;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: return 8;
  case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* ---- names ----------------------------------------------------------------------- */

int yw_json_name(const char *proto_name, char *buf, size_t size) {
  size_t o = 0;
  int upper = 0;
  for (const char *p = proto_name; *p != '\0'; p++) {
    if (*p == '_') {
      upper = 1;
      continue;
    }
    if (o + 1 >= size) return YW_ETOOBIG;
    buf[o++] = upper ? (char)toupper((unsigned char)*p) : *p;
    upper = 0;
  }
  if (size == 0) return YW_ETOOBIG;
  buf[o] = '\0';
  return 0;
}

static const ProtobufCFieldDescriptor *field_by_name(const ProtobufCMessageDescriptor *d,
                                                    const char *name) {
  for (unsigned i = 0; i < d->n_fields; i++) {
    char json[128];
    if (yw_json_name(d->fields[i].name, json, sizeof json) == 0 && strcmp(json, name) == 0)
      return &d->fields[i];
  }
  return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

/* ---- errors ---------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int fail(yw_json_error *err, const char *path,
                                                      const char *fmt, ...) {
  if (err == NULL) return YW_EINVAL;
  char why[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (path[0] == '\0') /* a well-known type read at the top: no field to name */
    snprintf(err->text, sizeof err->text, "%s", why);
  else
    snprintf(err->text, sizeof err->text, "field \"%s\": %s", path, why);
  return YW_EINVAL;
}

static void path_join(char *out, size_t size, const char *base, const char *name) {
  /* precisions bound the result: a path this long is cut, never overflows */
  if (base[0] == '\0')
    snprintf(out, size, "%.200s", name);
  else
    snprintf(out, size, "%.180s.%.60s", base, name);
}

/* ---- base64 ---------------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decodes standard or URL-safe base64, padded or not, into a new buffer. */
static int b64_decode(ProtobufCAllocator *a, const char *s, size_t n, ProtobufCBinaryData *out) {
  while (n > 0 && s[n - 1] == '=') n--;
  if (n % 4 == 1) return YW_EINVAL;
  uint8_t *buf = a->alloc(a->allocator_data, n * 3 / 4 + 1);
  if (buf == NULL) return YW_ENOMEM;
  size_t o = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int d = b64_value((unsigned char)s[i]);
    if (d < 0) {
      a->free(a->allocator_data, buf);
      return YW_EINVAL;
    }
    v = (v << 6) | (unsigned)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (uint8_t)((v >> bits) & 0xff);
    }
  }
  out->data = buf;
  out->len = o;
  return 0;
}

/* ---- well-known types ------------------------------------------------------------ */

enum wkt {
  WKT_NONE,
  WKT_TIMESTAMP,
  WKT_DURATION,
  WKT_WRAPPER, /* DoubleValue ... BytesValue: one field "value" = 1 */
  WKT_STRUCT,
  WKT_VALUE,
  WKT_LIST,
  WKT_FIELD_MASK,
  WKT_ANY,
};

/* Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z; the bound of a Duration. */
#define TS_MIN_SECONDS (-62135596800LL)
#define TS_MAX_SECONDS 253402300799LL
#define DURATION_MAX_SECONDS 315576000000LL

static int field_is(const ProtobufCMessageDescriptor *d, unsigned i, uint32_t id,
                    ProtobufCLabel label, ProtobufCType type) {
  return i < d->n_fields && d->fields[i].id == id && d->fields[i].label == label &&
         d->fields[i].type == type;
}

/* Which well-known type d is, by its full name, when its fields are laid out as in
 * the google/protobuf .proto files (anything else is treated as an ordinary message). */
static enum wkt wkt_of(const ProtobufCMessageDescriptor *d) {
  if (d->name[0] != 'g' || strncmp(d->name, "google.protobuf.", 16) != 0) return WKT_NONE;
  const char *n = d->name + 16;
  static const char *const wrappers[] = {"DoubleValue", "FloatValue",  "Int64Value",
                                         "UInt64Value", "Int32Value",  "UInt32Value",
                                         "BoolValue",   "StringValue", "BytesValue"};
  if (strcmp(n, "Timestamp") == 0 || strcmp(n, "Duration") == 0) {
    if (d->n_fields == 2 && field_is(d, 0, 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT64) &&
        field_is(d, 1, 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT32))
      return n[0] == 'T' ? WKT_TIMESTAMP : WKT_DURATION;
    return WKT_NONE;
  }
  for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++) {
    if (strcmp(n, wrappers[i]) != 0) continue;
    if (d->n_fields == 1 && d->fields[0].id == 1 && d->fields[0].label == PROTOBUF_C_LABEL_NONE &&
        d->fields[0].type != PROTOBUF_C_TYPE_MESSAGE && d->fields[0].type != PROTOBUF_C_TYPE_ENUM)
      return WKT_WRAPPER;
    return WKT_NONE;
  }
  if (strcmp(n, "Struct") == 0) {
    if (d->n_fields != 1 || !field_is(d, 0, 1, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE))
      return WKT_NONE;
    const ProtobufCMessageDescriptor *e = d->fields[0].descriptor; /* FieldsEntry */
    if (e->n_fields == 2 && field_is(e, 0, 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING) &&
        field_is(e, 1, 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE))
      return WKT_STRUCT;
    return WKT_NONE;
  }
  if (strcmp(n, "Value") == 0) {
    static const ProtobufCType kinds[6] = {PROTOBUF_C_TYPE_ENUM,    PROTOBUF_C_TYPE_DOUBLE,
                                           PROTOBUF_C_TYPE_STRING,  PROTOBUF_C_TYPE_BOOL,
                                           PROTOBUF_C_TYPE_MESSAGE, PROTOBUF_C_TYPE_MESSAGE};
    if (d->n_fields != 6) return WKT_NONE;
    for (unsigned i = 0; i < 6; i++)
      if (!field_is(d, i, i + 1, PROTOBUF_C_LABEL_NONE, kinds[i]) ||
          !(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return WKT_NONE;
    return WKT_VALUE;
  }
  if (strcmp(n, "ListValue") == 0)
    return d->n_fields == 1 && field_is(d, 0, 1, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE)
               ? WKT_LIST
               : WKT_NONE;
  if (strcmp(n, "FieldMask") == 0)
    return d->n_fields == 1 && field_is(d, 0, 1, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_STRING)
               ? WKT_FIELD_MASK
               : WKT_NONE;
  if (strcmp(n, "Any") == 0)
    return d->n_fields == 2 && field_is(d, 0, 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING) &&
                   field_is(d, 1, 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_BYTES)
               ? WKT_ANY
               : WKT_NONE;
  return WKT_NONE; /* Empty and the rest: ordinary messages */
}

/* Whether f is a google.protobuf.NullValue enum (written as null, read from null). */
static int is_null_enum(const ProtobufCFieldDescriptor *f) {
  return f->type == PROTOBUF_C_TYPE_ENUM &&
         strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name,
                "google.protobuf.NullValue") == 0;
}

/* Whether JSON null given for f is a value (a Value or a NullValue), not "absent". */
static int null_is_value(const ProtobufCFieldDescriptor *f) {
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) return wkt_of(f->descriptor) == WKT_VALUE;
  return is_null_enum(f);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The value of n decimal digits at s, or -1. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's
 * algorithms: exact for every year, no table, no time zone, no libc). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) return 29;
  return days[m - 1];
}

/* Reads ".d{1,9}" at s[*i] (when there) as nanoseconds. Returns 0 or -1. */
static int fraction(const char *s, size_t len, size_t *i, int32_t *nanos) {
  *nanos = 0;
  if (*i >= len || s[*i] != '.') return 0;
  size_t k = 0;
  int32_t v = 0;
  for ((*i)++; *i < len && is_digit(s[*i]); (*i)++, k++) {
    if (k == 9) return -1;
    v = v * 10 + (s[*i] - '0');
  }
  if (k == 0) return -1;
  for (; k < 9; k++) v *= 10;
  *nanos = v;
  return 0;
}

/* Reads an RFC 3339 date-time ("1972-01-01T10:00:20.021+08:00": upper-case T and Z,
 * two-digit fields, 0 to 9 fractional digits, Z or an offset) as UTC seconds and nanos.
 * Returns NULL, or why not. */
static const char *timestamp_parse(const char *s, size_t len, int64_t *seconds, int32_t *nanos) {
  static const char bad[] = "expected an RFC 3339 timestamp such as \"1972-01-01T10:00:20.021Z\"";
  static const char range[] = "out of range 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z";
  if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
    return bad;
  int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
  int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
      se > 59)
    return bad;
  if (y == 0) return range;
  if (d > days_in_month(y, mo)) return bad;
  size_t i = 19;
  int32_t ns = 0;
  if (fraction(s, len, &i, &ns) != 0) return bad;
  int64_t offset = 0;
  if (i < len && s[i] == 'Z') {
    i++;
  } else if (i < len && (s[i] == '+' || s[i] == '-')) {
    if (len - i < 6 || s[i + 3] != ':') return bad;
    int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return bad;
    offset = (oh * 60 + om) * 60;
    if (s[i] == '-') offset = -offset;
    i += 6;
  } else {
    return bad;
  }
  if (i != len) return bad;
  int64_t t =
      days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - offset;
  if (t < TS_MIN_SECONDS || t > TS_MAX_SECONDS) return range;
  *seconds = t;
  *nanos = ns;
  return NULL;
}

/* Reads a Duration ("1.000340012s", "-0.5s": an optional '-', seconds, 0 to 9 fractional
 * digits, 's') as seconds and nanos of the same sign. Returns NULL, or why not. */
static const char *duration_parse(const char *s, size_t len, int64_t *seconds, int32_t *nanos) {
  static const char bad[] = "expected a duration such as \"1.5s\" or \"-0.000340012s\"";
  size_t i = 0;
  int neg = 0;
  if (i < len && s[i] == '-') {
    neg = 1;
    i++;
  }
  size_t start = i;
  int64_t v = 0;
  for (; i < len && is_digit(s[i]); i++)
    v = v > DURATION_MAX_SECONDS ? v : v * 10 + (s[i] - '0'); /* stops growing past the bound */
  if (i == start) return bad;
  int32_t ns = 0;
  if (fraction(s, len, &i, &ns) != 0) return bad;
  if (i + 1 != len || s[i] != 's') return bad;
  if (v > DURATION_MAX_SECONDS) return "out of range -315576000000s to 315576000000s";
  *seconds = neg ? -v : v;
  *nanos = neg ? -ns : ns;
  return NULL;
}

/* ---- scalars from JSON or text --------------------------------------------------- */

/* Parses a signed integer in [min, max] from a JSON value (integer, integral real or
 * decimal string). */
static int get_signed(const json_t *v, long long min, long long max, long long *out) {
  if (json_is_integer(v)) {
    long long x = json_integer_value(v);
    if (x < min || x > max) return YW_EINVAL;
    *out = x;
    return 0;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d != floor(d) || d < (double)min || d > (double)max || d >= 9223372036854775807.0)
      return YW_EINVAL;
    *out = (long long)d;
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    if (s[0] == '\0' || isspace((unsigned char)s[0])) return YW_EINVAL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || x < min || x > max) return YW_EINVAL;
    *out = x;
    return 0;
  }
  return YW_EINVAL;
}

static int get_unsigned(const json_t *v, unsigned long long max, unsigned long long *out) {
  if (json_is_integer(v)) {
    long long x = json_integer_value(v);
    if (x < 0 || (unsigned long long)x > max) return YW_EINVAL;
    *out = (unsigned long long)x;
    return 0;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d != floor(d) || d < 0 || d > (double)max || d >= 18446744073709551615.0) return YW_EINVAL;
    *out = (unsigned long long)d;
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    if (!isdigit((unsigned char)s[0])) return YW_EINVAL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || x > max) return YW_EINVAL;
    *out = x;
    return 0;
  }
  return YW_EINVAL;
}

/* 1 when s is a JSON number's text (RFC 8259 section 6). strtod takes more: "-NaN",
 * "inf", "nan(1)", hex floats, a leading '+', which proto3 JSON does not. */
static int json_number_text(const char *s) {
  if (*s == '-') s++;
  if (*s == '0') s++;
  else if (*s >= '1' && *s <= '9') s += strspn(s, "0123456789");
  else return 0;
  if (*s == '.') {
    size_t n = strspn(s + 1, "0123456789");
    if (n == 0) return 0;
    s += 1 + n;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    size_t n = strspn(s, "0123456789");
    if (n == 0) return 0;
    s += n;
  }
  return *s == '\0';
}

static int get_double(const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) *out = NAN;
    else if (strcmp(s, "Infinity") == 0) *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0) *out = -INFINITY;
    else {
      char *end = NULL;
      if (!json_number_text(s)) return YW_EINVAL;
      errno = 0;
      *out = strtod(s, &end);
      if (errno != 0 || *end != '\0') return YW_EINVAL;
    }
    return 0;
  }
  return YW_EINVAL;
}

/* Replaces a string field's value, freeing an earlier one we allocated. */
static void set_string(ProtobufCAllocator *a, const ProtobufCFieldDescriptor *f, char **slot,
                       char *value) {
  if (*slot != NULL && *slot != (char *)f->default_value &&
      *slot != (char *)&protobuf_c_empty_string)
    a->free(a->allocator_data, *slot);
  *slot = value;
}

static char *copy_string(ProtobufCAllocator *a, const char *s, size_t n) {
  char *p = a->alloc(a->allocator_data, n + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static int parse_message(const ProtobufCMessageDescriptor *desc, json_t *obj,
                         ProtobufCAllocator *a, ProtobufCMessage **out, const char *path,
                         int depth, yw_json_error *err);

/*
 * Parses one value of field f (not the repeated container) into slot, which points at
 * the field's storage (or an array element). JSON null has been handled by the caller.
 */
static int parse_value(const ProtobufCFieldDescriptor *f, json_t *v, ProtobufCAllocator *a,
                       void *slot, const char *path, int depth, yw_json_error *err) {
  long long s;
  unsigned long long u;
  double d;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    if (get_signed(v, INT32_MIN, INT32_MAX, &s) != 0)
      return fail(err, path, "expected a 32-bit integer");
    *(int32_t *)slot = (int32_t)s;
    return 0;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    if (get_unsigned(v, UINT32_MAX, &u) != 0)
      return fail(err, path, "expected an unsigned 32-bit integer");
    *(uint32_t *)slot = (uint32_t)u;
    return 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if (get_signed(v, INT64_MIN, INT64_MAX, &s) != 0)
      return fail(err, path, "expected a 64-bit integer (as a string or number)");
    *(int64_t *)slot = (int64_t)s;
    return 0;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if (get_unsigned(v, UINT64_MAX, &u) != 0)
      return fail(err, path, "expected an unsigned 64-bit integer (as a string or number)");
    *(uint64_t *)slot = (uint64_t)u;
    return 0;
  case PROTOBUF_C_TYPE_FLOAT:
    if (get_double(v, &d) != 0) return fail(err, path, "expected a number");
    /* what rounds to a finite float is one: "3.4028235e+38" is how json_format (and most
     * printers) write FLT_MAX; past half an ulp above it a float would be infinite */
    if (isfinite(d) && fabs(d) >= 0x1.ffffffp+127)
      return fail(err, path, "out of range for a float");
    *(float *)slot = (float)d;
    return 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    if (get_double(v, &d) != 0) return fail(err, path, "expected a number");
    *(double *)slot = d;
    return 0;
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v)) return fail(err, path, "expected true or false");
    *(protobuf_c_boolean *)slot = json_is_true(v);
    return 0;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (is_null_enum(f)) {
      /* one value, written null: any other number would not read back as itself */
      if (!json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 0) &&
          !(json_is_string(v) && strcmp(json_string_value(v), "NULL_VALUE") == 0))
        return fail(err, path, "expected null (google.protobuf.NullValue)");
      *(int *)slot = 0;
      return 0;
    }
    if (json_is_string(v)) {
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
      if (ev == NULL) return fail(err, path, "unknown value \"%s\" of %s", json_string_value(v), ed->name);
      *(int *)slot = ev->value;
      return 0;
    }
    if (get_signed(v, INT32_MIN, INT32_MAX, &s) != 0 || !json_is_integer(v))
      return fail(err, path, "expected a %s name or number", ed->name);
    *(int *)slot = (int)s;
    return 0;
  }
  case PROTOBUF_C_TYPE_STRING: {
    if (!json_is_string(v)) return fail(err, path, "expected a string");
    char *copy = copy_string(a, json_string_value(v), json_string_length(v));
    if (copy == NULL) return YW_ENOMEM;
    set_string(a, f, (char **)slot, copy);
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    if (!json_is_string(v)) return fail(err, path, "expected base64 text");
    ProtobufCBinaryData bd;
    int rc = b64_decode(a, json_string_value(v), json_string_length(v), &bd);
    if (rc == YW_ENOMEM) return rc;
    if (rc != 0) return fail(err, path, "not valid base64");
    ProtobufCBinaryData *old = slot;
    const ProtobufCBinaryData *def = f->default_value;
    if (old->data != NULL && (def == NULL || def->data != old->data))
      a->free(a->allocator_data, old->data);
    *old = bd;
    return 0;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    ProtobufCMessage **mslot = slot;
    if (*mslot != NULL) {
      protobuf_c_message_free_unpacked(*mslot, a);
      *mslot = NULL;
    }
    return parse_message(f->descriptor, v, a, mslot, path, depth + 1, err);
  }
  }
  return fail(err, path, "unsupported field type");
}

static int parse_repeated(const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg, json_t *arr,
                          ProtobufCAllocator *a, const char *path, int depth, yw_json_error *err) {
  if (!json_is_array(arr)) return fail(err, path, "expected an array");
  size_t *count = &MEMBER(size_t, msg, f->quantifier_offset);
  void **array = &MEMBER(void *, msg, f->offset);
  if (*count != 0) return fail(err, path, "given twice");
  size_t n = json_array_size(arr);
  if (n == 0) return 0;
  size_t es = elem_size(f->type);
  void *elems = zalloc(a, n * es);
  if (elems == NULL) return YW_ENOMEM;
  *array = elems;
  for (size_t i = 0; i < n; i++) {
    char epath[256];
    snprintf(epath, sizeof epath, "%.200s[%zu]", path, i);
    json_t *v = json_array_get(arr, i);
    if (json_is_null(v) && !null_is_value(f))
      return fail(err, epath, "null is not allowed in an array");
    void *slot = (char *)elems + i * es;
    /* counted before it is filled: a zeroed element (NULL string, bytes or message) is
     * something free_unpacked handles, and whatever parse_value stored is then freed */
    *count = i + 1;
    int rc = parse_value(f, v, a, slot, epath, depth, err);
    if (rc != 0) return rc;
  }
  return 0;
}

/* Marks presence for proto2 optionals and oneof members. */
static int mark_present(const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg, const char *path,
                        yw_json_error *err) {
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t *c = &MEMBER(uint32_t, msg, f->quantifier_offset);
    if (*c != 0 && *c != f->id) return fail(err, path, "another member of its oneof is already set");
    return 0;
  }
  return 0;
}

static void set_presence(const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg) {
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    MEMBER(uint32_t, msg, f->quantifier_offset) = f->id;
  } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE) {
    MEMBER(protobuf_c_boolean, msg, f->quantifier_offset) = 1;
  }
}

/* ---- well-known types from JSON --------------------------------------------------- */

/* A Struct: a JSON object, each member a FieldsEntry {key, Value}, in the object's order. */
static int parse_struct(const ProtobufCMessageDescriptor *d, json_t *obj, ProtobufCAllocator *a,
                        ProtobufCMessage *msg, const char *path, int depth, yw_json_error *err) {
  if (!json_is_object(obj)) return fail(err, path, "expected an object (google.protobuf.Struct)");
  const ProtobufCFieldDescriptor *f = &d->fields[0];
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
  size_t n = json_object_size(obj);
  if (n == 0) return 0;
  ProtobufCMessage **entries = zalloc(a, n * sizeof *entries);
  if (entries == NULL) return YW_ENOMEM;
  MEMBER(ProtobufCMessage **, msg, f->offset) = entries;
  size_t *count = &MEMBER(size_t, msg, f->quantifier_offset);
  const char *key;
  json_t *v;
  size_t i = 0;
  json_object_foreach(obj, key, v) {
    char kpath[256];
    path_join(kpath, sizeof kpath, path, key);
    ProtobufCMessage *e = zalloc(a, ed->sizeof_message);
    if (e == NULL) return YW_ENOMEM;
    protobuf_c_message_init(ed, e);
    entries[i] = e;
    *count = ++i; /* complete enough to be freed with the rest from here on */
    char *k = copy_string(a, key, strlen(key));
    if (k == NULL) return YW_ENOMEM;
    set_string(a, kf, &MEMBER(char *, e, kf->offset), k);
    int rc = parse_message(vf->descriptor, v, a, &MEMBER(ProtobufCMessage *, e, vf->offset), kpath,
                           depth + 1, err);
    if (rc != 0) return rc;
  }
  return 0;
}

/* A ListValue: a JSON array of Values (null elements included). */
static int parse_list(const ProtobufCMessageDescriptor *d, json_t *arr, ProtobufCAllocator *a,
                      ProtobufCMessage *msg, const char *path, int depth, yw_json_error *err) {
  if (!json_is_array(arr)) return fail(err, path, "expected an array (google.protobuf.ListValue)");
  const ProtobufCFieldDescriptor *f = &d->fields[0];
  size_t n = json_array_size(arr);
  if (n == 0) return 0;
  ProtobufCMessage **values = zalloc(a, n * sizeof *values);
  if (values == NULL) return YW_ENOMEM;
  MEMBER(ProtobufCMessage **, msg, f->offset) = values;
  size_t *count = &MEMBER(size_t, msg, f->quantifier_offset);
  for (size_t i = 0; i < n; i++) {
    char epath[256];
    snprintf(epath, sizeof epath, "%.200s[%zu]", path, i);
    *count = i + 1; /* a NULL element is something free_unpacked handles */
    int rc =
        parse_message(f->descriptor, json_array_get(arr, i), a, &values[i], epath, depth + 1, err);
    if (rc != 0) return rc;
  }
  return 0;
}

/* A Value: whichever JSON value is given selects the member of its oneof "kind". An
 * object or array is the same nesting level as the Value that holds it. */
static int parse_any_value(const ProtobufCMessageDescriptor *d, json_t *v, ProtobufCAllocator *a,
                           ProtobufCMessage *msg, const char *path, int depth, yw_json_error *err) {
  unsigned id;
  switch (json_typeof(v)) {
    case JSON_NULL: id = 1; break;
    case JSON_INTEGER:
    case JSON_REAL: id = 2; break;
    case JSON_STRING: id = 3; break;
    case JSON_TRUE:
    case JSON_FALSE: id = 4; break;
    case JSON_OBJECT: id = 5; break;
    case JSON_ARRAY: id = 6; break;
    default: return fail(err, path, "expected a JSON value");
  }
  const ProtobufCFieldDescriptor *f = &d->fields[id - 1];
  void *slot = (char *)msg + f->offset;
  set_presence(f, msg); /* selected first: whatever is stored is freed with the message */
  switch (id) {
    case 1: *(int *)slot = 0; return 0;
    case 2: *(double *)slot = json_number_value(v); return 0;
    case 5:
    case 6: return parse_message(f->descriptor, v, a, (ProtobufCMessage **)slot, path, depth, err);
    default: return parse_value(f, v, a, slot, path, depth, err);
  }
}

/* A FieldMask: "user.displayName,photo" -> paths "user.display_name", "photo". Only
 * field-name characters are taken; each upper-case letter becomes '_' and its lower
 * case, so a '_' in the JSON form could not be read back and is refused. */
static int parse_field_mask(const ProtobufCMessageDescriptor *d, json_t *v, ProtobufCAllocator *a,
                            ProtobufCMessage *msg, const char *path, yw_json_error *err) {
  if (!json_is_string(v))
    return fail(err, path, "expected a FieldMask string such as \"user.displayName,photo\"");
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (len == 0) return 0; /* no paths */
  size_t n = 1;
  for (size_t i = 0; i < len; i++) n += s[i] == ',';
  const ProtobufCFieldDescriptor *f = &d->fields[0];
  char **paths = zalloc(a, n * sizeof *paths);
  if (paths == NULL) return YW_ENOMEM;
  MEMBER(char **, msg, f->offset) = paths;
  size_t *count = &MEMBER(size_t, msg, f->quantifier_offset);
  const char *p = s, *end = s + len;
  for (size_t i = 0; i < n; i++) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma != NULL ? comma : end;
    size_t seg = (size_t)(stop - p), upper = 0;
    if (seg == 0) return fail(err, path, "a FieldMask path is empty");
    for (const char *q = p; q < stop; q++) {
      if (*q >= 'A' && *q <= 'Z')
        upper++;
      else if (!((*q >= 'a' && *q <= 'z') || is_digit(*q) || *q == '.'))
        return fail(err, path,
                    "FieldMask path \"%.*s\" is not lowerCamelCase field names joined by '.'",
                    (int)(seg < 60 ? seg : 60), p);
    }
    char *out = a->alloc(a->allocator_data, seg + upper + 1);
    if (out == NULL) return YW_ENOMEM;
    size_t o = 0;
    for (const char *q = p; q < stop; q++) {
      if (*q >= 'A' && *q <= 'Z') {
        out[o++] = '_';
        out[o++] = (char)(*q - 'A' + 'a');
      } else {
        out[o++] = *q;
      }
    }
    out[o] = '\0';
    paths[i] = out;
    *count = i + 1;
    p = stop + 1;
  }
  return 0;
}

/* Fills msg, a well-known type k, from its JSON form v. */
static int parse_wkt(enum wkt k, const ProtobufCMessageDescriptor *d, json_t *v,
                     ProtobufCAllocator *a, ProtobufCMessage *msg, const char *path, int depth,
                     yw_json_error *err) {
  switch (k) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
      if (!json_is_string(v))
        return fail(err, path,
                    k == WKT_TIMESTAMP ? "expected an RFC 3339 timestamp string"
                                       : "expected a duration string such as \"1.5s\"");
      int64_t seconds = 0;
      int32_t nanos = 0;
      const char *why = (k == WKT_TIMESTAMP ? timestamp_parse : duration_parse)(
          json_string_value(v), json_string_length(v), &seconds, &nanos);
      if (why != NULL) return fail(err, path, "%s", why);
      MEMBER(int64_t, msg, d->fields[0].offset) = seconds;
      MEMBER(int32_t, msg, d->fields[1].offset) = nanos;
      return 0;
    }
    case WKT_WRAPPER:
      return parse_value(&d->fields[0], v, a, (char *)msg + d->fields[0].offset, path, depth, err);
    case WKT_STRUCT: return parse_struct(d, v, a, msg, path, depth, err);
    case WKT_LIST: return parse_list(d, v, a, msg, path, depth, err);
    case WKT_VALUE: return parse_any_value(d, v, a, msg, path, depth, err);
    case WKT_FIELD_MASK: return parse_field_mask(d, v, a, msg, path, err);
    case WKT_ANY: /* only {} comes this far: an empty Any */
    case WKT_NONE: return 0;
  }
  return 0;
}

/*
 * Builds a message of type desc from v (an object, or a well-known type's JSON form)
 * into *out. *out is set as soon as the message exists, so the caller frees a half-built
 * one with the rest after an error.
 */
static int parse_message(const ProtobufCMessageDescriptor *desc, json_t *obj,
                         ProtobufCAllocator *a, ProtobufCMessage **out, const char *path,
                         int depth, yw_json_error *err) {
  if (depth > MAX_DEPTH) return fail(err, path, "nested too deeply");
  enum wkt k = wkt_of(desc);
  if (k == WKT_NONE && !json_is_object(obj)) return fail(err, path, "expected an object");
  if (k == WKT_ANY && !(json_is_object(obj) && json_object_size(obj) == 0))
    return fail(err, path,
                "google.protobuf.Any is not supported: its JSON form names the packed type "
                "(\"@type\") and there is no registry of types to read it with");
  ProtobufCMessage *msg = zalloc(a, desc->sizeof_message);
  if (msg == NULL) return YW_ENOMEM;
  protobuf_c_message_init(desc, msg);
  *out = msg; /* from here on the caller frees it with the rest */
  if (k != WKT_NONE) return parse_wkt(k, desc, obj, a, msg, path, depth, err);
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    char fpath[256];
    path_join(fpath, sizeof fpath, path, key);
    const ProtobufCFieldDescriptor *f = field_by_name(desc, key);
    if (f == NULL) return fail(err, fpath, "unknown field of %s", desc->name);
    /* null is "absent", but for a Value (null_value) or a NullValue enum */
    if (json_is_null(v) && (f->label == PROTOBUF_C_LABEL_REPEATED || !null_is_value(f))) continue;
    int rc;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      rc = parse_repeated(f, msg, v, a, fpath, depth, err);
    } else {
      rc = mark_present(f, msg, fpath, err);
      if (rc == 0) {
        /* a oneof member becomes selected before its value is stored, so that a
         * failure half-way still frees what was stored */
        set_presence(f, msg);
        rc = parse_value(f, v, a, (char *)msg + f->offset, fpath, depth, err);
      }
    }
    if (rc != 0) return rc;
  }
  return 0;
}

int yw_json_to_message(const ProtobufCMessageDescriptor *desc, json_t *obj,
                       ProtobufCAllocator *allocator, ProtobufCMessage **out,
                       yw_json_error *err) {
  *out = NULL;
  if (err != NULL) err->text[0] = '\0';
  ProtobufCAllocator *a = alloc_or_default(allocator);
  if (wkt_of(desc) == WKT_NONE && !json_is_object(obj)) {
    if (err != NULL) snprintf(err->text, sizeof err->text, "expected a JSON object");
    return YW_EINVAL;
  }
  ProtobufCMessage *msg = NULL;
  int rc = parse_message(desc, obj, a, &msg, "", 0, err);
  if (rc != 0) {
    if (msg != NULL) protobuf_c_message_free_unpacked(msg, a);
    if (rc == YW_ENOMEM && err != NULL) snprintf(err->text, sizeof err->text, "out of memory");
    return rc;
  }
  *out = msg;
  return 0;
}

/* ---- one field from text --------------------------------------------------------- */

/* Turns text into the JSON value the field's parser expects. */
static json_t *text_as_json(const ProtobufCFieldDescriptor *f, const char *text) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_BOOL:
    if (strcmp(text, "true") == 0) return json_true();
    if (strcmp(text, "false") == 0) return json_false();
    return json_string(text); /* refused by the parser with a clear message */
  case PROTOBUF_C_TYPE_ENUM: {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (text[0] != '\0' && *end == '\0' && errno == 0) return json_integer(x);
    return json_string(text);
  }
  default:
    return json_string(text); /* numbers are accepted from strings */
  }
}

int yw_json_set_field_text(ProtobufCMessage *msg, const char *path, const char *value,
                           ProtobufCAllocator *allocator, yw_json_error *err) {
  ProtobufCAllocator *a = alloc_or_default(allocator);
  if (err != NULL) err->text[0] = '\0';
  char seg[128];
  const char *p = path;
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  ProtobufCMessage *cur = msg;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
    if (len == 0 || len >= sizeof seg) return fail(err, path, "not a field path");
    memcpy(seg, p, len);
    seg[len] = '\0';
    const ProtobufCFieldDescriptor *f = field_by_name(desc, seg);
    if (f == NULL) return fail(err, path, "unknown field of %s", desc->name);
    if (dot != NULL) {
      if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
        return fail(err, path, "%s is not a message field", seg);
      if (mark_present(f, cur, path, err) != 0) return YW_EINVAL;
      ProtobufCMessage **sub = &MEMBER(ProtobufCMessage *, cur, f->offset);
      if (*sub == NULL) {
        const ProtobufCMessageDescriptor *sd = f->descriptor;
        ProtobufCMessage *m = zalloc(a, sd->sizeof_message);
        if (m == NULL) return YW_ENOMEM;
        protobuf_c_message_init(sd, m);
        *sub = m;
        set_presence(f, cur);
      }
      cur = *sub;
      desc = cur->descriptor;
      p = dot + 1;
      continue;
    }
    json_t *v;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      /* the well-known types whose JSON form is a string or a scalar: ?since=2024-05-01T00:00:00Z,
       * ?ttl=30s, ?updateMask=displayName,photo, ?minLevel=2 for an Int32Value */
      const ProtobufCMessageDescriptor *md = f->descriptor;
      enum wkt k = wkt_of(md);
      if (k == WKT_WRAPPER)
        v = text_as_json(&md->fields[0], value);
      else if (k == WKT_TIMESTAMP || k == WKT_DURATION || k == WKT_FIELD_MASK)
        v = json_string(value);
      else
        return fail(err, path, "a message cannot be given as text");
    } else {
      v = text_as_json(f, value);
    }
    if (v == NULL) return fail(err, path, "not valid UTF-8");
    int rc;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      /* append one element: a new array one longer, the old one freed */
      size_t *count = &MEMBER(size_t, cur, f->quantifier_offset);
      void **array = &MEMBER(void *, cur, f->offset);
      size_t es = elem_size(f->type);
      if (*count >= 1000) {
        json_decref(v);
        return fail(err, path, "too many values");
      }
      void *grown = zalloc(a, (*count + 1) * es);
      if (grown == NULL) {
        json_decref(v);
        return YW_ENOMEM;
      }
      void *slot = (char *)grown + *count * es;
      rc = parse_value(f, v, a, slot, path, 0, err);
      if (rc == 0) {
        if (*count > 0) memcpy(grown, *array, *count * es);
        if (*array != NULL) a->free(a->allocator_data, *array);
        *array = grown;
        (*count)++;
      } else {
        ProtobufCMessage *half =
            f->type == PROTOBUF_C_TYPE_MESSAGE ? *(ProtobufCMessage **)slot : NULL;
        if (half != NULL) protobuf_c_message_free_unpacked(half, a);
        a->free(a->allocator_data, grown);
      }
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      /* read aside and swapped in, so a refused value leaves the field as it was */
      ProtobufCMessage *m = NULL;
      rc = mark_present(f, cur, path, err);
      if (rc == 0) rc = parse_message(f->descriptor, v, a, &m, path, 0, err);
      if (rc == 0) {
        ProtobufCMessage **sub = &MEMBER(ProtobufCMessage *, cur, f->offset);
        int held = !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
                   MEMBER(uint32_t, cur, f->quantifier_offset) == f->id;
        if (held && *sub != NULL) protobuf_c_message_free_unpacked(*sub, a);
        *sub = m;
        set_presence(f, cur);
      } else if (m != NULL) {
        protobuf_c_message_free_unpacked(m, a);
      }
    } else {
      rc = mark_present(f, cur, path, err);
      if (rc == 0) {
        set_presence(f, cur);
        rc = parse_value(f, v, a, (char *)cur + f->offset, path, 0, err);
      }
    }
    json_decref(v);
    return rc;
  }
}

/* ---- output ---------------------------------------------------------------------- */

/*
 * Output is written straight into a text buffer: building a jansson document first and
 * dumping it cost a hash table per object and most of the gateway's JSON time.
 */
struct wbuf {
  char *p;
  size_t len, cap;
  int failed;
  int err; /* with failed: YW_EINVAL for a value JSON cannot carry, else YW_ENOMEM */
};

/* Stops the output: the message holds a value its JSON form cannot carry. */
static void w_refuse(struct wbuf *b) {
  b->failed = 1;
  b->err = YW_EINVAL;
}

static void w_grow(struct wbuf *b, size_t more) {
  if (b->failed || b->len + more < b->cap) return;
  size_t cap = b->cap != 0 ? b->cap : 4096; /* an item's guide fits without a copy */
  while (cap <= b->len + more) cap *= 2;
  char *np = realloc(b->p, cap);
  if (np == NULL) {
    b->failed = 1;
    return;
  }
  b->p = np;
  b->cap = cap;
}

static void w_put(struct wbuf *b, const char *s, size_t n) {
  w_grow(b, n);
  if (b->failed) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void w_ch(struct wbuf *b, char c) {
  if (b->len + 1 < b->cap) /* room: w_grow keeps one byte spare, and so does this */
    b->p[b->len++] = c;
  else
    w_put(b, &c, 1);
}

__attribute__((format(printf, 2, 3))) static void w_fmt(struct wbuf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->failed = 1;
    return;
  }
  w_put(b, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (s[0] >= 0xE0 && s[0] <= 0xEF) {
    if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (s[0] == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
    if (s[0] == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
    return 3;
  }
  if (s[0] >= 0xF0 && s[0] <= 0xF4) {
    if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    if (s[0] == 0xF0 && s[1] < 0x90) return 0;
    if (s[0] == 0xF4 && s[1] >= 0x90) return 0;
    return 4;
  }
  return 0;
}

/* A JSON string: quotes, backslashes and control characters escaped; invalid UTF-8
 * fails the whole output (a JSON text must be Unicode). */
static void w_str(struct wbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  w_ch(b, '"');
  size_t i = 0, run = 0;
  while (i < n && !b->failed) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0x80) {
      /* s is NUL-terminated: utf8_len stops at the NUL, which is no continuation byte */
      size_t l = utf8_len((const unsigned char *)s + i);
      if (l == 0 || l > n - i) {
        b->failed = 1;
        return;
      }
      i += l;
      continue;
    }
    w_put(b, s + run, i - run);
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    switch (c) {
    case '"': w_put(b, "\\\"", 2); break;
    case '\\': w_put(b, "\\\\", 2); break;
    case '\n': w_put(b, "\\n", 2); break;
    case '\r': w_put(b, "\\r", 2); break;
    case '\t': w_put(b, "\\t", 2); break;
    default: w_put(b, esc, 6);
    }
    run = ++i;
  }
  w_put(b, s + run, n - run);
  w_ch(b, '"');
}

static void w_real(struct wbuf *b, double d) {
  if (isnan(d)) {
    w_put(b, "\"NaN\"", 5);
  } else if (isinf(d)) {
    if (d > 0) w_put(b, "\"Infinity\"", 10);
    else w_put(b, "\"-Infinity\"", 11);
  } else {
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof tmp) {
      b->failed = 1;
      return;
    }
    w_put(b, tmp, (size_t)n);
    if (strpbrk(tmp, ".eEn") == NULL) w_put(b, ".0", 2); /* stays a real when read back */
  }
}

static void w_message(struct wbuf *b, const ProtobufCMessage *msg, unsigned flags, int depth);

static void w_value(struct wbuf *b, const ProtobufCFieldDescriptor *f, const void *slot,
                    unsigned flags, int depth) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32: w_fmt(b, "%d", (int)*(const int32_t *)slot); return;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: w_fmt(b, "%u", (unsigned)*(const uint32_t *)slot); return;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64: w_fmt(b, "\"%lld\"", (long long)*(const int64_t *)slot); return;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    w_fmt(b, "\"%llu\"", (unsigned long long)*(const uint64_t *)slot);
    return;
  case PROTOBUF_C_TYPE_FLOAT: w_real(b, *(const float *)slot); return;
  case PROTOBUF_C_TYPE_DOUBLE: w_real(b, *(const double *)slot); return;
  case PROTOBUF_C_TYPE_BOOL:
    if (*(const protobuf_c_boolean *)slot) w_put(b, "true", 4);
    else w_put(b, "false", 5);
    return;
  case PROTOBUF_C_TYPE_ENUM: {
    int x = *(const int *)slot;
    if (is_null_enum(f)) {
      w_put(b, "null", 4); /* whatever number it holds, as json_format does */
      return;
    }
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, x);
    if (ev != NULL) w_str(b, ev->name, strlen(ev->name));
    else w_fmt(b, "%d", x);
    return;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)slot;
    if (s == NULL) s = "";
    w_str(b, s, strlen(s));
    return;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *bd = slot;
    size_t need = (bd->len + 2) / 3 * 4 + 2;
    w_grow(b, need);
    if (b->failed) return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < bd->len; i += 3) {
      unsigned v = (unsigned)bd->data[i] << 16;
      if (i + 1 < bd->len) v |= (unsigned)bd->data[i + 1] << 8;
      if (i + 2 < bd->len) v |= bd->data[i + 2];
      *o++ = b64_std[(v >> 18) & 63];
      *o++ = b64_std[(v >> 12) & 63];
      *o++ = i + 1 < bd->len ? b64_std[(v >> 6) & 63] : '=';
      *o++ = i + 2 < bd->len ? b64_std[v & 63] : '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    return;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *m = *(ProtobufCMessage *const *)slot;
    if (m != NULL) w_message(b, m, flags, depth + 1);
    else w_put(b, "null", 4);
    return;
  }
  }
  b->failed = 1;
}

/* ---- well-known types to JSON ---------------------------------------------------- */

/* ".021", ".000340", ".000000001": 0, 3, 6 or 9 digits, as json_format writes them. */
static void w_nanos(struct wbuf *b, int32_t ns) {
  if (ns == 0) return;
  if (ns % 1000000 == 0)
    w_fmt(b, ".%03d", (int)(ns / 1000000));
  else if (ns % 1000 == 0)
    w_fmt(b, ".%06d", (int)(ns / 1000));
  else
    w_fmt(b, ".%09d", (int)ns);
}

static void w_timestamp(struct wbuf *b, int64_t seconds, int32_t ns) {
  if (seconds < TS_MIN_SECONDS || seconds > TS_MAX_SECONDS || ns < 0 || ns > 999999999) {
    w_refuse(b);
    return;
  }
  int64_t days = seconds / 86400, rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  w_fmt(b, "\"%04d-%02u-%02uT%02d:%02d:%02d", (int)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
        (int)(rem % 60));
  w_nanos(b, ns);
  w_put(b, "Z\"", 2);
}

static void w_duration(struct wbuf *b, int64_t seconds, int32_t ns) {
  if (seconds < -DURATION_MAX_SECONDS || seconds > DURATION_MAX_SECONDS || ns <= -1000000000 ||
      ns >= 1000000000 || (seconds > 0 && ns < 0) || (seconds < 0 && ns > 0)) {
    w_refuse(b);
    return;
  }
  int neg = seconds < 0 || ns < 0;
  w_fmt(b, "\"%s%lld", neg ? "-" : "", (long long)(seconds < 0 ? -seconds : seconds));
  w_nanos(b, ns < 0 ? -ns : ns);
  w_put(b, "s\"", 2);
}

/* Paths "user.display_name", "photo" -> "user.displayName,photo". A path with no
 * lowerCamelCase form that reads back as itself (upper case, a '_' not before a
 * lower-case letter, other characters, empty, a comma) is refused. */
static void w_field_mask(struct wbuf *b, char *const *paths, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *p = paths[i] != NULL ? paths[i] : "";
    if (p[0] == '\0') {
      w_refuse(b);
      return;
    }
    for (; *p != '\0'; p++) {
      int ok = (*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '.' ||
               (*p == '_' && p[1] >= 'a' && p[1] <= 'z');
      if (!ok) {
        w_refuse(b);
        return;
      }
    }
  }
  w_ch(b, '"');
  for (size_t i = 0; i < n; i++) {
    if (i > 0) w_ch(b, ',');
    for (const char *p = paths[i]; *p != '\0'; p++) {
      if (*p == '_')
        w_ch(b, (char)(*++p - 'a' + 'A'));
      else
        w_ch(b, *p);
    }
  }
  w_ch(b, '"');
}

struct struct_key {
  const char *key;
  size_t ix;
};

static int struct_key_cmp(const void *x, const void *y) {
  const struct struct_key *a = x, *b = y;
  int c = strcmp(a->key, b->key);
  if (c != 0) return c;
  return a->ix < b->ix ? -1 : a->ix > b->ix;
}

static const char *entry_key(const ProtobufCMessage *e, const ProtobufCFieldDescriptor *kf) {
  const char *k = MEMBER(const char *, e, kf->offset);
  return k != NULL ? k : "";
}

/* A Struct as an object. A map that came off the wire may hold a key twice; as in every
 * protobuf runtime the last one counts, and the object gets each key once. */
static void w_struct(struct wbuf *b, const ProtobufCMessage *msg, unsigned flags, int depth) {
  const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[0];
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
  size_t n = MEMBER(size_t, msg, f->quantifier_offset);
  ProtobufCMessage *const *entries = MEMBER(ProtobufCMessage **, msg, f->offset);
  unsigned char *shadowed = NULL;
  if (n > 1) {
    struct struct_key *keys = malloc(n * sizeof *keys);
    shadowed = calloc(n, 1);
    if (keys == NULL || shadowed == NULL) {
      free(keys);
      free(shadowed);
      b->failed = 1;
      return;
    }
    for (size_t i = 0; i < n; i++) {
      keys[i].key = entries[i] != NULL ? entry_key(entries[i], kf) : "";
      keys[i].ix = i;
    }
    qsort(keys, n, sizeof *keys, struct_key_cmp);
    for (size_t i = 0; i + 1 < n; i++)
      if (strcmp(keys[i].key, keys[i + 1].key) == 0) shadowed[keys[i].ix] = 1;
    free(keys);
  }
  int first = 1;
  w_ch(b, '{');
  for (size_t i = 0; i < n && !b->failed; i++) {
    if (shadowed != NULL && shadowed[i]) continue;
    const ProtobufCMessage *e = entries[i];
    const char *k = e != NULL ? entry_key(e, kf) : "";
    if (!first) w_ch(b, ',');
    first = 0;
    w_str(b, k, strlen(k));
    w_ch(b, ':');
    const ProtobufCMessage *v = e != NULL ? MEMBER(const ProtobufCMessage *, e, vf->offset) : NULL;
    if (v != NULL)
      w_message(b, v, flags, depth + 1);
    else
      w_put(b, "null", 4); /* an entry without a value holds the default Value */
  }
  w_ch(b, '}');
  free(shadowed);
}

/* A Value as the JSON value its kind holds; no kind is null (as json_format writes it).
 * A number that is NaN or infinite has no JSON form (a string would read back as a
 * string_value) and is refused. */
static void w_any_value(struct wbuf *b, const ProtobufCMessage *msg, unsigned flags, int depth) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  uint32_t kind = MEMBER(uint32_t, msg, d->fields[0].quantifier_offset);
  if (kind < 2 || kind > 6) {
    w_put(b, "null", 4);
    return;
  }
  const ProtobufCFieldDescriptor *f = &d->fields[kind - 1];
  const void *slot = (const char *)msg + f->offset;
  if (kind == 2 && !isfinite(*(const double *)slot)) {
    w_refuse(b);
    return;
  }
  if (kind == 5 || kind == 6) {
    const ProtobufCMessage *m = *(ProtobufCMessage *const *)slot;
    if (m != NULL)
      w_message(b, m, flags, depth); /* the same nesting level as the Value */
    else
      w_put(b, kind == 5 ? "{}" : "[]", 2);
    return;
  }
  w_value(b, f, slot, flags, depth);
}

static void w_list(struct wbuf *b, const ProtobufCMessage *msg, unsigned flags, int depth) {
  const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[0];
  size_t n = MEMBER(size_t, msg, f->quantifier_offset);
  ProtobufCMessage *const *values = MEMBER(ProtobufCMessage **, msg, f->offset);
  w_ch(b, '[');
  for (size_t i = 0; i < n && !b->failed; i++) {
    if (i > 0) w_ch(b, ',');
    if (values[i] != NULL)
      w_message(b, values[i], flags, depth + 1);
    else
      w_put(b, "null", 4);
  }
  w_ch(b, ']');
}

/* Writes msg, a well-known type k, in its JSON form. */
static void w_wkt(struct wbuf *b, enum wkt k, const ProtobufCMessage *msg, unsigned flags,
                  int depth) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  switch (k) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
      int64_t seconds = MEMBER(int64_t, msg, d->fields[0].offset);
      int32_t nanos = MEMBER(int32_t, msg, d->fields[1].offset);
      if (k == WKT_TIMESTAMP)
        w_timestamp(b, seconds, nanos);
      else
        w_duration(b, seconds, nanos);
      return;
    }
    case WKT_WRAPPER:
      w_value(b, &d->fields[0], (const char *)msg + d->fields[0].offset, flags, depth);
      return;
    case WKT_STRUCT: w_struct(b, msg, flags, depth); return;
    case WKT_VALUE: w_any_value(b, msg, flags, depth); return;
    case WKT_LIST: w_list(b, msg, flags, depth); return;
    case WKT_FIELD_MASK:
      w_field_mask(b, MEMBER(char *const *, msg, d->fields[0].offset),
                   MEMBER(size_t, msg, d->fields[0].quantifier_offset));
      return;
    case WKT_ANY: {
      /* an empty Any is {} (json_format writes the same); one that holds a message would
       * need its type looked up in a registry this mapper does not have */
      const char *url = MEMBER(const char *, msg, d->fields[0].offset);
      const ProtobufCBinaryData *value = (const void *)((const char *)msg + d->fields[1].offset);
      if ((url == NULL || url[0] == '\0') && value->len == 0)
        w_put(b, "{}", 2);
      else
        w_refuse(b);
      return;
    }
    case WKT_NONE: break;
  }
  b->failed = 1;
}

/* Whether a non-repeated field is written: proto3 scalars at their default are not
 * (unless asked), unset messages, oneof members and proto2 optionals are not. */
static int field_written(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                         unsigned flags) {
  const void *slot = (const char *)msg + f->offset;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return MEMBER(uint32_t, msg, f->quantifier_offset) == f->id;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) return *(ProtobufCMessage *const *)slot != NULL;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING)
    return MEMBER(protobuf_c_boolean, msg, f->quantifier_offset) != 0;
  if (flags & YW_JSON_EMIT_DEFAULTS) return 1;
  /* a NullValue has one value: whatever number came off the wire, it reads back as the
   * default (json_format writes a non-zero one as null; the same message either way) */
  if (is_null_enum(f)) return 0;
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)slot;
    return s != NULL && s[0] != '\0';
  }
  case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)slot)->len != 0;
  case PROTOBUF_C_TYPE_FLOAT: return *(const float *)slot != 0 || signbit(*(const float *)slot);
  case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)slot != 0 || signbit(*(const double *)slot);
  default: {
    static const unsigned char zero[8];
    return memcmp(slot, zero, elem_size(f->type)) != 0;
  }
  }
}

/* Each message type's field names as the output writes them ("jsonName":), made once
 * per type and kept for the process's life: a table of types found by their
 * descriptor's address. An entry is filled under a mutex and published by storing its
 * descriptor last; readers take no lock. A full table only means the names are made
 * again each time. */
#define NAME_SLOTS 1024
#define NAME_PROBES 16
struct type_names {
  _Atomic(const ProtobufCMessageDescriptor *) desc;
  char **names; /* n_fields entries */
  size_t *lens;
};
static struct type_names type_names[NAME_SLOTS];
static pthread_mutex_t type_names_mu = PTHREAD_MUTEX_INITIALIZER;

static int make_names(const ProtobufCMessageDescriptor *d, struct type_names *e) {
  char **names = calloc(d->n_fields + 1, sizeof *names);
  size_t *lens = calloc(d->n_fields + 1, sizeof *lens);
  if (names == NULL || lens == NULL) goto fail;
  for (unsigned i = 0; i < d->n_fields; i++) {
    char json[128];
    if (yw_json_name(d->fields[i].name, json, sizeof json) != 0) goto fail;
    size_t n = strlen(json);
    for (size_t k = 0; k < n; k++) /* field names are identifiers: nothing to escape */
      if ((unsigned char)json[k] < 0x20 || json[k] == '"' || json[k] == '\\' ||
          (unsigned char)json[k] >= 0x80)
        goto fail;
    if ((names[i] = malloc(n + 4)) == NULL) goto fail;
    names[i][0] = '"';
    memcpy(names[i] + 1, json, n);
    memcpy(names[i] + 1 + n, "\":", 3);
    lens[i] = n + 3;
  }
  e->names = names;
  e->lens = lens;
  return 0;
fail:
  for (unsigned i = 0; names != NULL && i < d->n_fields; i++) free(names[i]);
  free(names);
  free(lens);
  return -1;
}

static const struct type_names *names_of(const ProtobufCMessageDescriptor *d) {
  size_t h = ((uintptr_t)d >> 4) * 2654435761u;
  for (int probe = 0; probe < NAME_PROBES; probe++) {
    struct type_names *e = &type_names[(h + (size_t)probe) % NAME_SLOTS];
    const ProtobufCMessageDescriptor *cur = atomic_load_explicit(&e->desc, memory_order_acquire);
    if (cur == d) return e;
    if (cur != NULL) continue;
    pthread_mutex_lock(&type_names_mu);
    cur = atomic_load_explicit(&e->desc, memory_order_acquire);
    if (cur == NULL && make_names(d, e) == 0) {
      atomic_store_explicit(&e->desc, d, memory_order_release);
      cur = d;
    }
    pthread_mutex_unlock(&type_names_mu);
    if (cur == d) return e;
    if (cur == NULL) return NULL; /* no memory */
  }
  return NULL;
}

static void w_message(struct wbuf *b, const ProtobufCMessage *msg, unsigned flags, int depth) {
  if (depth > MAX_DEPTH) {
    w_refuse(b); /* deeper than the reader takes (it came off the wire, not from JSON) */
    return;
  }
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  enum wkt k = wkt_of(desc);
  if (k != WKT_NONE) {
    w_wkt(b, k, msg, flags, depth);
    return;
  }
  int first = 1;
  const struct type_names *tn = names_of(desc);
  w_ch(b, '{');
  for (unsigned i = 0; i < desc->n_fields && !b->failed; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    size_t n = 0;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = MEMBER(size_t, msg, f->quantifier_offset);
      if (n == 0 && !(flags & YW_JSON_EMIT_DEFAULTS)) continue;
    } else if (!field_written(msg, f, flags)) {
      continue;
    }
    if (!first) w_ch(b, ',');
    first = 0;
    if (tn != NULL) {
      w_put(b, tn->names[i], tn->lens[i]);
    } else {
      char name[128];
      if (yw_json_name(f->name, name, sizeof name) != 0) {
        b->failed = 1;
        return;
      }
      w_str(b, name, strlen(name));
      w_ch(b, ':');
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      const char *arr = MEMBER(const char *, msg, f->offset);
      size_t es = elem_size(f->type);
      w_ch(b, '[');
      for (size_t k = 0; k < n; k++) {
        if (k > 0) w_ch(b, ',');
        w_value(b, f, arr + k * es, flags, depth);
      }
      w_ch(b, ']');
    } else {
      w_value(b, f, (const char *)msg + f->offset, flags, depth);
    }
  }
  w_ch(b, '}');
}

int yw_json_write(const ProtobufCMessage *msg, unsigned flags, char **out, size_t *len) {
  struct wbuf b = {NULL, 0, 0, 0, 0};
  w_message(&b, msg, flags, 0);
  w_grow(&b, 1);
  if (b.failed) {
    free(b.p);
    *out = NULL;
    *len = 0;
    return b.err != 0 ? b.err : YW_ENOMEM;
  }
  b.p[b.len] = '\0';
  *out = b.p;
  *len = b.len;
  return 0;
}

json_t *yw_json_from_message(const ProtobufCMessage *msg, unsigned flags) {
  char *text = NULL;
  size_t len = 0;
  if (yw_json_write(msg, flags, &text, &len) != 0) return NULL;
  json_t *doc =
      json_loadb(text, len, JSON_DECODE_ANY, NULL); /* a well-known type may be a string */
  free(text);
  return doc;
}
