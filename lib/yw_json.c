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
 *
 * Offers: yw_json_to_message, yw_json_set_field_text, yw_json_write, yw_json_from_message,
 * yw_json_name.
 */
#include "yw_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
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
    if (isfinite(d) && (d > 3.4028234663852886e38 || d < -3.4028234663852886e38))
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
    if (!json_is_object(v)) return fail(err, path, "expected an object");
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
    if (json_is_null(v)) return fail(err, epath, "null is not allowed in an array");
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

static int parse_message(const ProtobufCMessageDescriptor *desc, json_t *obj,
                         ProtobufCAllocator *a, ProtobufCMessage **out, const char *path,
                         int depth, yw_json_error *err) {
  if (depth > MAX_DEPTH) return fail(err, path, "nested too deeply");
  ProtobufCMessage *msg = zalloc(a, desc->sizeof_message);
  if (msg == NULL) return YW_ENOMEM;
  protobuf_c_message_init(desc, msg);
  *out = msg; /* from here on the caller frees it with the rest */
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    char fpath[256];
    path_join(fpath, sizeof fpath, path, key);
    const ProtobufCFieldDescriptor *f = field_by_name(desc, key);
    if (f == NULL) return fail(err, fpath, "unknown field of %s", desc->name);
    if (json_is_null(v)) continue;
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
  if (!json_is_object(obj)) {
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
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) return fail(err, path, "a message cannot be given as text");
    json_t *v = text_as_json(f, value);
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
        a->free(a->allocator_data, grown);
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
};

static void w_grow(struct wbuf *b, size_t more) {
  if (b->failed || b->len + more < b->cap) return;
  size_t cap = b->cap != 0 ? b->cap : 1024;
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

static void w_ch(struct wbuf *b, char c) { w_put(b, &c, 1); }

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

static void w_message(struct wbuf *b, const ProtobufCMessage *msg, unsigned flags, int depth) {
  if (depth > MAX_DEPTH) {
    b->failed = 1;
    return;
  }
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  int first = 1;
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
    char name[128];
    if (yw_json_name(f->name, name, sizeof name) != 0) {
      b->failed = 1;
      return;
    }
    if (!first) w_ch(b, ',');
    first = 0;
    w_str(b, name, strlen(name));
    w_ch(b, ':');
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
  struct wbuf b = {NULL, 0, 0, 0};
  w_message(&b, msg, flags, 0);
  w_grow(&b, 1);
  if (b.failed) {
    free(b.p);
    *out = NULL;
    *len = 0;
    return YW_ENOMEM;
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
  json_t *doc = json_loadb(text, len, 0, NULL);
  free(text);
  return doc;
}
