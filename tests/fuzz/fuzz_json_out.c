/*
 * fuzz_json_out.c - the proto3 JSON mapper (lib/yw_json.c) writing what services answer:
 * protobuf bytes -> message -> JSON -> message, over tests/proto's Everything.
 *
 * Input: protobuf wire bytes, unpacked by protobuf-c as the gateway unpacks answers.
 * Properties: the message writes as JSON unless a string is not valid UTF-8 (YW_ENOMEM)
 * or a well-known type (Everything.wkt) holds a value its JSON form cannot carry
 * (YW_EINVAL: a Timestamp out of range, a FieldMask path with no lowerCamelCase form, a
 * NaN Value, a non-empty Any, nesting past the reader's depth ...), the documented
 * refusals; the JSON is an object that reads back into a message that packs to the same
 * bytes as the first one once what JSON cannot tell apart is made alike (canon below);
 * writing is a fixed point. Leaks are findings (ASan).
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

#define MEMBER(type, m, off) (*(type *)((char *)(m) + (off)))

static int named(const ProtobufCMessageDescriptor *d, const char *name) {
  return strcmp(d->name, name) == 0;
}

struct key_ix {
  const char *key;
  size_t ix;
};

static int key_ix_cmp(const void *x, const void *y) {
  const struct key_ix *a = x, *b = y;
  int c = strcmp(a->key, b->key);
  return c != 0 ? c : (a->ix > b->ix) - (a->ix < b->ix);
}

/* A Struct as JSON holds each key once, the last one given on the wire: the entries a
 * later one shadows are dropped (in place, freed), the rest keep their order; an entry
 * without a value holds a null Value (it is written null). */
static void canon_struct(ProtobufCMessage *m) {
  const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  size_t *n = &MEMBER(size_t, m, f->quantifier_offset);
  ProtobufCMessage **entries = MEMBER(ProtobufCMessage **, m, f->offset);
  if (*n > 1) {
    struct key_ix *keys = malloc(*n * sizeof *keys);
    unsigned char *shadowed = calloc(*n, 1);
    FUZZ_CHECK(keys != NULL && shadowed != NULL);
    for (size_t i = 0; i < *n; i++) {
      const char *k = MEMBER(const char *, entries[i], ed->fields[0].offset);
      keys[i].key = k != NULL ? k : "";
      keys[i].ix = i;
    }
    qsort(keys, *n, sizeof *keys, key_ix_cmp);
    for (size_t i = 0; i + 1 < *n; i++)
      if (strcmp(keys[i].key, keys[i + 1].key) == 0) shadowed[keys[i].ix] = 1;
    size_t o = 0;
    for (size_t i = 0; i < *n; i++) {
      if (shadowed[i])
        protobuf_c_message_free_unpacked(entries[i], NULL);
      else
        entries[o++] = entries[i];
    }
    *n = o;
    free(keys);
    free(shadowed);
  }
  const ProtobufCFieldDescriptor *vf = &ed->fields[1];
  for (size_t i = 0; i < *n; i++) {
    ProtobufCMessage **v = &MEMBER(ProtobufCMessage *, entries[i], vf->offset);
    if (*v != NULL) continue;
    const ProtobufCMessageDescriptor *vd = vf->descriptor;
    *v = calloc(1, vd->sizeof_message);
    FUZZ_CHECK(*v != NULL);
    protobuf_c_message_init(vd, *v); /* no kind: made a null one below */
  }
}

static void canon_values(const ProtobufCFieldDescriptor *f, void *slot, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (f->type) {
      case PROTOBUF_C_TYPE_FLOAT:
        if (isnan(((float *)slot)[i])) ((float *)slot)[i] = NAN; /* JSON has one NaN */
        break;
      case PROTOBUF_C_TYPE_DOUBLE:
        if (isnan(((double *)slot)[i])) ((double *)slot)[i] = NAN;
        break;
      case PROTOBUF_C_TYPE_ENUM: /* a NullValue is written null, whatever number it holds */
        if (strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name,
                   "google.protobuf.NullValue") == 0)
          ((int *)slot)[i] = 0;
        break;
      default: break;
    }
  }
}

static void canon(ProtobufCMessage *m);

/* Makes m, as unpacked (malloc), what JSON tells apart and no more, in place: unknown
 * fields dropped (JSON has no place for them), NaNs and NullValues as above, a Value
 * with no kind a null one (written null, read as null_value), a Struct as above. Runs
 * only on a message the writer took, so no deeper than the writer goes. */
static void canon(ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < m->n_unknown_fields; i++) free(m->unknown_fields[i].data);
  free(m->unknown_fields);
  m->unknown_fields = NULL;
  m->n_unknown_fields = 0;
  if (named(d, "google.protobuf.Struct")) canon_struct(m);
  if (named(d, "google.protobuf.Value")) {
    uint32_t *kind = &MEMBER(uint32_t, m, d->fields[0].quantifier_offset);
    if (*kind < 1 || *kind > 6) {
      *kind = 1;
      MEMBER(int, m, d->fields[0].offset) = 0;
    }
  }
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        MEMBER(uint32_t, m, f->quantifier_offset) != f->id)
      continue;
    void *slot = (char *)m + f->offset;
    size_t n = 1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = MEMBER(size_t, m, f->quantifier_offset);
      slot = *(void **)slot;
    }
    if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
      canon_values(f, slot, n);
      continue;
    }
    for (size_t k = 0; k < n; k++) {
      ProtobufCMessage *sub = ((ProtobufCMessage **)slot)[k];
      if (sub != NULL) canon(sub);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  ProtobufCMessage *m = protobuf_c_message_unpack(DESC, NULL, size, data);
  if (m == NULL) return 0;
  char *text = NULL;
  size_t tlen = 0;
  int rc = yw_json_write(m, 0, &text, &tlen);
  if (rc != 0) {
    /* only a string that is not UTF-8 (YW_ENOMEM) or a value a well-known type's JSON form
     * cannot carry (YW_EINVAL) may stop the writer, as documented */
    FUZZ_CHECK((rc == YW_ENOMEM || rc == YW_EINVAL) && text == NULL);
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
  canon(m);
  canon(m2);
  size_t l1 = 0, l2 = 0;
  uint8_t *b1 = packed(m, &l1), *b2 = packed(m2, &l2);
  if (l1 != l2 || memcmp(b1, b2, l1) != 0)
    fprintf(stderr, "round trip changed the message: %s\n", text);
  FUZZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
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
