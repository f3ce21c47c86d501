/*
 * test_json.c - the proto3 JSON mapping (lib/yw_json.c) over a message with every
 * shape: all scalar types, enums, bytes, nested and repeated messages, a oneof.
 * Proves the round trip, the names (lowerCamelCase out, both in), exact 64-bit
 * integers, and that bad input is refused with the field's path and leaks nothing
 * (the suite runs under ASan too). Then the well-known types over WellKnown
 * (tests/proto/yiwang/test/v1/wkt.proto): each JSON form both ways, its edges and
 * refusals; tests/golden/ checks the same forms against Python's json_format.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "yiwang/test/v1/test.pb-c.h"
#include "yiwang/test/v1/wkt.pb-c.h"
#include "yw_arena.h"
#include "yw_err.h"
#include "yw_json.h"

typedef Yiwang__Test__V1__Everything Everything;

/* Parses text into an Everything; returns the code, *out set on success. */
static int parse(const char *text, Everything **out, yw_json_error *err) {
  json_error_t jerr;
  json_t *doc = json_loads(text, 0, &jerr);
  assert_non_null(doc);
  ProtobufCMessage *m = NULL;
  int rc = yw_json_to_message(&yiwang__test__v1__everything__descriptor, doc, NULL, &m, err);
  json_decref(doc);
  *out = (Everything *)m;
  return rc;
}

static char *dump(const Everything *e, unsigned flags) {
  json_t *j = yw_json_from_message(&e->base, flags);
  assert_non_null(j);
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  return s;
}

static void expect_refused(const char *text, const char *in_message) {
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse(text, &e, &err), YW_EINVAL);
  assert_null(e);
  if (strstr(err.text, in_message) == NULL) fail_msg("error \"%s\" lacks \"%s\"", err.text, in_message);
}

static void test_every_scalar_round_trips(void **state) {
  (void)state;
  const char *in =
      "{\"fInt32\":-5,\"fInt64\":\"-9000000000\",\"fUint32\":4000000000,"
      "\"fUint64\":\"18000000000000000000\",\"fSint32\":-7,\"fSint64\":\"-8\",\"fFixed32\":9,"
      "\"fFixed64\":\"10\",\"fSfixed32\":-11,\"fSfixed64\":\"-12\",\"fBool\":true,"
      "\"fFloat\":1.5,\"fDouble\":-2.25,\"fString\":\"居民身份证换领\",\"fBytes\":\"AAEC/w==\","
      "\"colour\":\"GREEN\",\"nested\":{\"someField\":\"x\",\"count\":3},"
      "\"manyInt64\":[\"1\",\"-2\"],\"tags\":[\"a\",\"b\"],\"children\":[{\"count\":1},{\"count\":2}],"
      "\"colours\":[\"RED\",\"GREEN\"],\"choiceText\":\"t\",\"pageSize\":20,\"implCode\":\"X-1\"}";
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse(in, &e, &err), 0);
  assert_int_equal(e->f_int32, -5);
  assert_true(e->f_int64 == -9000000000LL);
  assert_true(e->f_uint32 == 4000000000U);
  assert_true(e->f_uint64 == 18000000000000000000ULL);
  assert_int_equal(e->f_sint32, -7);
  assert_true(e->f_bool);
  assert_true(e->f_float == 1.5f);
  assert_true(e->f_double == -2.25);
  assert_string_equal(e->f_string, "居民身份证换领");
  assert_int_equal(e->f_bytes.len, 4);
  assert_int_equal(e->f_bytes.data[3], 0xff);
  assert_int_equal(e->colour, YIWANG__TEST__V1__COLOUR__GREEN);
  assert_string_equal(e->nested->some_field, "x");
  assert_int_equal(e->n_many_int64, 2);
  assert_true(e->many_int64[1] == -2);
  assert_int_equal(e->n_children, 2);
  assert_int_equal(e->children[1]->count, 2);
  assert_int_equal(e->n_colours, 2);
  assert_int_equal(e->choice_case, YIWANG__TEST__V1__EVERYTHING__CHOICE_CHOICE_TEXT);
  assert_int_equal(e->page_size, 20);
  char *out = dump(e, 0);
  /* the same document, keys sorted */
  json_t *a = json_loads(in, 0, NULL);
  json_t *b = json_loads(out, 0, NULL);
  assert_true(json_equal(a, b));
  json_decref(a);
  json_decref(b);
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_int64_edges_are_exact(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"fInt64\":\"-9223372036854775808\",\"fUint64\":\"18446744073709551615\","
                         "\"fSint64\":\"9223372036854775807\",\"fSfixed64\":9007199254740993}",
                         &e, &err),
                   0);
  assert_true(e->f_int64 == INT64_MIN);
  assert_true(e->f_uint64 == UINT64_MAX);
  assert_true(e->f_sint64 == INT64_MAX);
  assert_true(e->f_sfixed64 == 9007199254740993LL); /* 2^53 + 1: no double on the way */
  char *out = dump(e, 0);
  assert_non_null(strstr(out, "\"fInt64\":\"-9223372036854775808\""));
  assert_non_null(strstr(out, "\"fUint64\":\"18446744073709551615\""));
  assert_non_null(strstr(out, "\"fSfixed64\":\"9007199254740993\""));
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  expect_refused("{\"fInt64\":\"9223372036854775808\"}", "fInt64");
  expect_refused("{\"fUint64\":\"-1\"}", "fUint64");
  expect_refused("{\"fInt64\":\"12abc\"}", "fInt64");
  expect_refused("{\"fInt64\":\" 12\"}", "fInt64");
}

static void test_int32_rules(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"fInt32\":\"42\",\"fUint32\":1e3}", &e, &err), 0);
  assert_int_equal(e->f_int32, 42);
  assert_int_equal(e->f_uint32, 1000);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  expect_refused("{\"fInt32\":1.5}", "fInt32");
  expect_refused("{\"fInt32\":2147483648}", "fInt32");
  expect_refused("{\"fInt32\":-2147483649}", "fInt32");
  expect_refused("{\"fUint32\":-1}", "fUint32");
  expect_refused("{\"fInt32\":true}", "expected a 32-bit integer");
}

static void test_unknown_field_is_refused_with_its_name(void **state) {
  (void)state;
  expect_refused("{\"fInt32\":1,\"colour\":\"RED\",\"noSuchField\":1}", "noSuchField");
  expect_refused("{\"nested\":{\"someField\":\"x\",\"extra\":2}}", "nested.extra");
}

static void test_wrong_types_are_refused_with_path(void **state) {
  (void)state;
  expect_refused("{\"fString\":5}", "expected a string");
  expect_refused("{\"fBool\":\"true\"}", "expected true or false");
  expect_refused("{\"nested\":[]}", "expected an object");
  expect_refused("{\"tags\":\"a\"}", "expected an array");
  expect_refused("{\"tags\":[\"a\",null]}", "tags[1]");
  expect_refused("{\"children\":[{\"count\":1},{\"count\":\"x\"}]}", "children[1].count");
  expect_refused("{\"manyInt64\":[\"1\",{}]}", "manyInt64[1]");
}

static void test_null_means_default(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"fInt32\":null,\"fString\":null,\"nested\":null,\"tags\":null}", &e, &err), 0);
  assert_int_equal(e->f_int32, 0);
  assert_string_equal(e->f_string, "");
  assert_null(e->nested);
  assert_int_equal(e->n_tags, 0);
  protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_enums_by_name_and_number(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"colour\":2,\"colours\":[\"RED\",1]}", &e, &err), 0);
  assert_int_equal(e->colour, YIWANG__TEST__V1__COLOUR__GREEN);
  assert_int_equal(e->colours[0], YIWANG__TEST__V1__COLOUR__RED);
  assert_int_equal(e->colours[1], YIWANG__TEST__V1__COLOUR__RED);
  char *out = dump(e, 0);
  assert_non_null(strstr(out, "\"colour\":\"GREEN\""));
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  expect_refused("{\"colour\":\"PURPLE\"}", "PURPLE");
  expect_refused("{\"colour\":1.5}", "colour");
}

static void test_bytes_accept_standard_and_url_safe_base64(void **state) {
  (void)state;
  const char *forms[] = {"{\"fBytes\":\"+/8=\"}", "{\"fBytes\":\"-_8=\"}", "{\"fBytes\":\"-_8\"}"};
  for (size_t i = 0; i < 3; i++) {
    Everything *e = NULL;
    yw_json_error err;
    assert_int_equal(parse(forms[i], &e, &err), 0);
    assert_int_equal(e->f_bytes.len, 2);
    assert_int_equal(e->f_bytes.data[0], 0xfb);
    assert_int_equal(e->f_bytes.data[1], 0xff);
    protobuf_c_message_free_unpacked(&e->base, NULL);
  }
  expect_refused("{\"fBytes\":\"a!b=\"}", "base64");
  expect_refused("{\"fBytes\":\"abcde\"}", "base64");
}

static void test_proto_names_are_accepted_and_camel_case_written(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"page_size\":7,\"impl_code\":\"A\",\"nested\":{\"some_field\":\"s\"}}", &e,
                         &err),
                   0);
  assert_int_equal(e->page_size, 7);
  assert_string_equal(e->impl_code, "A");
  char *out = dump(e, 0);
  assert_string_equal(out, "{\"implCode\":\"A\",\"nested\":{\"someField\":\"s\"},\"pageSize\":7}");
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  char buf[32];
  assert_int_equal(yw_json_name("promised_limit_days", buf, sizeof buf), 0);
  assert_string_equal(buf, "promisedLimitDays");
  assert_int_equal(yw_json_name("a_b_c", buf, 3), YW_ETOOBIG);
}

static void test_defaults_are_omitted_unless_asked(void **state) {
  (void)state;
  Everything e = YIWANG__TEST__V1__EVERYTHING__INIT;
  char *out = dump(&e, 0);
  assert_string_equal(out, "{}");
  free(out);
  out = dump(&e, YW_JSON_EMIT_DEFAULTS);
  assert_non_null(strstr(out, "\"fInt64\":\"0\""));
  assert_non_null(strstr(out, "\"fString\":\"\""));
  assert_non_null(strstr(out, "\"tags\":[]"));
  assert_non_null(strstr(out, "\"colour\":\"COLOUR_UNSPECIFIED\""));
  assert_null(strstr(out, "choiceText")); /* an unset oneof stays unset */
  free(out);
}

static void test_oneof_takes_one_member(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"choiceNested\":{\"count\":4}}", &e, &err), 0);
  assert_int_equal(e->choice_case, YIWANG__TEST__V1__EVERYTHING__CHOICE_CHOICE_NESTED);
  assert_int_equal(e->choice_nested->count, 4);
  char *out = dump(e, 0);
  assert_string_equal(out, "{\"choiceNested\":{\"count\":4}}");
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  expect_refused("{\"choiceText\":\"a\",\"choiceNumber\":1}", "oneof");
}

static void test_special_floats_use_strings(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"fDouble\":\"-Infinity\",\"fFloat\":\"NaN\"}", &e, &err), 0);
  char *out = dump(e, 0);
  assert_non_null(strstr(out, "\"fDouble\":\"-Infinity\""));
  assert_non_null(strstr(out, "\"fFloat\":\"NaN\""));
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  expect_refused("{\"fFloat\":1e39}", "fFloat");
  expect_refused("{\"fFloat\":-3.4028235677973366e38}",
                 "out of range for a float"); /* half an ulp past */
  /* FLT_MAX as json_format writes it (shortest form, a little above FLT_MAX as a double) */
  assert_int_equal(parse("{\"fFloat\":3.4028235e+38,\"fDouble\":\"-3.4028235e38\"}", &e, &err), 0);
  assert_true(e->f_float == 3.4028234663852886e38f);
  protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_set_field_text_for_paths_and_queries(void **state) {
  (void)state;
  yw_arena *a = yw_arena_new(0);
  ProtobufCAllocator *al = yw_arena_allocator(a);
  Everything *e = yw_arena_alloc(a, sizeof *e);
  yiwang__test__v1__everything__init(e);
  yw_json_error err;
  assert_int_equal(yw_json_set_field_text(&e->base, "pageSize", "20", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "impl_code", "身份证", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "fInt64", "-9223372036854775808", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "fBool", "true", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "colour", "GREEN", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "nested.someField", "deep", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "tags", "a", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "tags", "b", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "colours", "2", al, &err), 0);
  assert_int_equal(e->page_size, 20);
  assert_string_equal(e->impl_code, "身份证");
  assert_true(e->f_int64 == INT64_MIN);
  assert_true(e->f_bool);
  assert_int_equal(e->colour, YIWANG__TEST__V1__COLOUR__GREEN);
  assert_string_equal(e->nested->some_field, "deep");
  assert_int_equal(e->n_tags, 2);
  assert_string_equal(e->tags[1], "b");
  assert_int_equal(e->colours[0], YIWANG__TEST__V1__COLOUR__GREEN);

  assert_int_equal(yw_json_set_field_text(&e->base, "pageSize", "abc", al, &err), YW_EINVAL);
  assert_non_null(strstr(err.text, "pageSize"));
  assert_int_equal(yw_json_set_field_text(&e->base, "nope", "1", al, &err), YW_EINVAL);
  assert_non_null(strstr(err.text, "unknown field"));
  assert_int_equal(yw_json_set_field_text(&e->base, "fBool", "yes", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&e->base, "colour", "PURPLE", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&e->base, "nested", "x", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&e->base, "pageSize.x", "1", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&e->base, "fString", "\xff\xfe", al, &err), YW_EINVAL);
  yw_arena_free(a);
}

static void test_set_field_text_with_malloc_frees_replaced_values(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(parse("{\"fString\":\"first\",\"tags\":[\"x\"]}", &e, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "fString", "second", NULL, &err), 0);
  assert_int_equal(yw_json_set_field_text(&e->base, "tags", "y", NULL, &err), 0);
  assert_string_equal(e->f_string, "second");
  assert_int_equal(e->n_tags, 2);
  protobuf_c_message_free_unpacked(&e->base, NULL); /* ASan: nothing leaked, nothing twice */
}

static void test_not_an_object_is_refused(void **state) {
  (void)state;
  json_t *arr = json_array();
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  assert_int_equal(yw_json_to_message(&yiwang__test__v1__everything__descriptor, arr, NULL, &m, &err),
                   YW_EINVAL);
  assert_null(m);
  json_decref(arr);
}

static void test_failure_deep_inside_frees_the_partial_message(void **state) {
  (void)state;
  /* strings, bytes and nested messages are allocated before the bad value is met */
  expect_refused("{\"fString\":\"kept\",\"fBytes\":\"AAAA\",\"tags\":[\"a\",\"b\"],"
                 "\"children\":[{\"someField\":\"c\"},{\"someField\":\"d\",\"count\":\"bad\"}]}",
                 "children[1].count");
  expect_refused("{\"choiceNested\":{\"someField\":\"x\",\"count\":[]}}", "choiceNested.count");
}

static void test_writer_escapes_and_keeps_utf8(void **state) {
  (void)state;
  Everything e = YIWANG__TEST__V1__EVERYTHING__INIT;
  e.f_string = "a\"b\\c\nd\x01" "e 身份证"; /* split: \x01e would be one escape */
  e.f_int64 = -5;
  e.f_double = 2;
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(yw_json_write(&e.base, 0, &text, &len), 0);
  assert_string_equal(text,
                      "{\"fInt64\":\"-5\",\"fDouble\":2.0,"
                      "\"fString\":\"a\\\"b\\\\c\\nd\\u0001e 身份证\"}");
  assert_int_equal(len, strlen(text));
  json_t *back = json_loads(text, 0, NULL); /* what the writer wrote is JSON */
  assert_non_null(back);
  assert_string_equal(json_string_value(json_object_get(back, "fString")), e.f_string);
  json_decref(back);
  free(text);
}

static void test_writer_refuses_invalid_utf8(void **state) {
  (void)state;
  const char *bad[] = {"\xff", "abc\xe8\xba", "\xc0\xaf", "\xed\xa0\x80"};
  for (size_t i = 0; i < 4; i++) {
    Everything e = YIWANG__TEST__V1__EVERYTHING__INIT;
    e.f_string = (char *)bad[i];
    char *text = (char *)"untouched";
    size_t len = 1;
    assert_int_equal(yw_json_write(&e.base, 0, &text, &len), YW_ENOMEM);
    assert_null(text);
  }
}

/* An allocator that fails its nth allocation (failmalloc-style injection). */
struct failing {
  int countdown;
  int live;
};
static void *failing_alloc(void *data, size_t size) {
  struct failing *f = data;
  if (f->countdown-- == 0) return NULL;
  void *p = malloc(size);
  if (p != NULL) f->live++;
  return p;
}
static void failing_free(void *data, void *p) {
  struct failing *f = data;
  if (p != NULL) f->live--;
  free(p);
}

static void test_every_allocation_failure_is_clean(void **state) {
  (void)state;
  const char *in = "{\"fString\":\"居民\",\"fBytes\":\"AAEC\",\"nested\":{\"someField\":\"x\"},"
                   "\"tags\":[\"a\",\"b\"],\"children\":[{\"someField\":\"c\"},{\"count\":2}],"
                   "\"choiceNested\":{\"someField\":\"y\"},\"manyInt64\":[\"1\",\"2\"]}";
  json_t *doc = json_loads(in, 0, NULL);
  assert_non_null(doc);
  int succeeded = 0;
  for (int n = 0; n < 200 && !succeeded; n++) {
    struct failing f = {n, 0};
    ProtobufCAllocator a = {failing_alloc, failing_free, &f};
    ProtobufCMessage *m = NULL;
    yw_json_error err;
    int rc = yw_json_to_message(&yiwang__test__v1__everything__descriptor, doc, &a, &m, &err);
    if (rc == 0) {
      succeeded = 1;
      protobuf_c_message_free_unpacked(m, &a);
    } else {
      assert_int_equal(rc, YW_ENOMEM); /* the failure is reported as what it is */
      assert_null(m);
    }
    assert_int_equal(f.live, 0); /* nothing leaked, whichever allocation failed */
  }
  assert_true(succeeded);
  json_decref(doc);
}

/* ---- well-known types -------------------------------------------------------------- */

typedef Yiwang__Test__V1__WellKnown WellKnown;

static int parse_wk(const char *text, WellKnown **out, yw_json_error *err) {
  json_error_t jerr;
  json_t *doc = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (doc == NULL) fail_msg("test input is not JSON: %s: %s", jerr.text, text);
  ProtobufCMessage *m = NULL;
  int rc = yw_json_to_message(&yiwang__test__v1__well_known__descriptor, doc, NULL, &m, err);
  json_decref(doc);
  *out = (WellKnown *)m;
  return rc;
}

/* The exact text yw_json writes for m (flags 0); the caller frees it. */
static char *write_text(const ProtobufCMessage *m) {
  char *text = NULL;
  size_t len = 0;
  int rc = yw_json_write(m, 0, &text, &len);
  if (rc != 0) fail_msg("yw_json_write refused: %d", rc);
  return text;
}

static void expect_wk_refused(const char *text, const char *in_message) {
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(parse_wk(text, &w, &err), YW_EINVAL);
  assert_null(w);
  if (strstr(err.text, in_message) == NULL)
    fail_msg("error \"%s\" lacks \"%s\" (input %s)", err.text, in_message, text);
}

/* Reads text, writes it and expects want (NULL: the same text back). */
static void expect_wk_round_trip(const char *text, const char *want) {
  WellKnown *w = NULL;
  yw_json_error err;
  if (parse_wk(text, &w, &err) != 0) fail_msg("refused %s: %s", text, err.text);
  char *out = write_text(&w->base);
  if (strcmp(out, want != NULL ? want : text) != 0)
    fail_msg("%s\n  wrote %s\n  want  %s", text, out, want != NULL ? want : text);
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
}

static void test_timestamp_is_rfc3339_in_utc(void **state) {
  (void)state;
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(parse_wk("{\"timestamp\":\"1972-01-01T10:00:20.021Z\"}", &w, &err), 0);
  assert_true(w->timestamp->seconds == 63108020);
  assert_int_equal(w->timestamp->nanos, 21000000);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  /* 0, 3, 6 or 9 fractional digits, as json_format writes them */
  expect_wk_round_trip("{\"timestamp\":\"1970-01-01T00:00:00Z\"}", NULL);
  expect_wk_round_trip("{\"timestamp\":\"2024-02-29T23:59:59.100Z\"}", NULL);
  expect_wk_round_trip("{\"timestamp\":\"2024-02-29T23:59:59.000100Z\"}", NULL);
  expect_wk_round_trip("{\"timestamp\":\"2024-02-29T23:59:59.000000001Z\"}", NULL);
  expect_wk_round_trip("{\"timestamp\":\"1969-12-31T23:59:59.999999999Z\"}", NULL);
  expect_wk_round_trip("{\"timestamp\":\"2024-05-01T12:00:00.5Z\"}",
                       "{\"timestamp\":\"2024-05-01T12:00:00.500Z\"}");
  expect_wk_round_trip("{\"timestamp\":\"2024-05-01T12:00:00.1234Z\"}",
                       "{\"timestamp\":\"2024-05-01T12:00:00.123400Z\"}");
  /* offsets are read and normalised to UTC */
  expect_wk_round_trip("{\"timestamp\":\"2024-05-01T08:00:00+08:00\"}",
                       "{\"timestamp\":\"2024-05-01T00:00:00Z\"}");
  expect_wk_round_trip("{\"timestamp\":\"2024-12-31T20:30:00.25-05:30\"}",
                       "{\"timestamp\":\"2025-01-01T02:00:00.250Z\"}");
  /* the range ends */
  expect_wk_round_trip("{\"timestamp\":\"0001-01-01T00:00:00Z\"}", NULL);
  expect_wk_round_trip("{\"timestamp\":\"9999-12-31T23:59:59.999999999Z\"}", NULL);
  assert_int_equal(
      parse_wk("{\"timestamp\":\"0001-01-01T00:00:00Z\",\"at\":\"9999-12-31T23:59:59Z\"}", &w,
               &err),
      0);
  assert_true(w->timestamp->seconds == -62135596800LL);
  assert_true(w->at->seconds == 253402300799LL);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  expect_wk_refused("{\"timestamp\":\"0000-12-31T23:59:59Z\"}", "out of range");
  expect_wk_refused("{\"timestamp\":\"0001-01-01T00:00:00+00:01\"}", "out of range");
  expect_wk_refused("{\"timestamp\":\"9999-12-31T23:59:59-00:01\"}", "out of range");
  const char *bad[] = {"\"1972-01-01T10:00:20\"",
                       "\"1972-01-01t10:00:20Z\"",
                       "\"1972-01-01T10:00:20z\"",
                       "\"1972-01-01 10:00:20Z\"",
                       "\"1972-1-01T10:00:20Z\"",
                       "\"1972-02-30T10:00:20Z\"",
                       "\"1973-02-29T00:00:00Z\"",
                       "\"1972-01-01T24:00:00Z\"",
                       "\"1972-01-01T10:60:00Z\"",
                       "\"1972-01-01T10:00:60Z\"",
                       "\"1972-01-01T10:00:20.Z\"",
                       "\"1972-01-01T10:00:20.0123456789Z\"",
                       "\"1972-01-01T10:00:20+8:00\"",
                       "\"1972-01-01T10:00:20+0800\"",
                       "\"1972-01-01T10:00:20Z \"",
                       "\"1972-01-01T10:00:20+24:00\"",
                       "\"\"",
                       "63108020",
                       "{}",
                       "[]",
                       "true"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "{\"timestamp\":%s}", bad[i]);
    expect_wk_refused(text, "field \"timestamp\": expected an RFC 3339 timestamp");
  }
  expect_wk_refused("{\"timestamps\":[\"1972-01-01T10:00:20Z\",\"x\"]}", "timestamps[1]");
}

static void test_timestamp_out_of_range_is_not_written(void **state) {
  (void)state;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  WellKnown w = YIWANG__TEST__V1__WELL_KNOWN__INIT;
  w.timestamp = &ts;
  const struct {
    int64_t seconds;
    int32_t nanos;
  } bad[] = {
      {253402300800LL, 0}, {-62135596801LL, 999999999}, {0, -1}, {0, 1000000000}, {INT64_MIN, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ts.seconds = bad[i].seconds;
    ts.nanos = bad[i].nanos;
    char *text = (char *)"untouched";
    size_t len = 1;
    assert_int_equal(yw_json_write(&w.base, 0, &text, &len), YW_EINVAL);
    assert_null(text);
  }
  ts.seconds = -1;
  ts.nanos = 5000;
  char *text = write_text(&w.base);
  assert_string_equal(text, "{\"timestamp\":\"1969-12-31T23:59:59.000005Z\"}");
  free(text);
}

static void test_duration_forms_and_range(void **state) {
  (void)state;
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(parse_wk("{\"duration\":\"-0.5s\",\"after\":\"1.000340012s\"}", &w, &err), 0);
  assert_true(w->duration->seconds == 0);
  assert_int_equal(w->duration->nanos, -500000000);
  assert_true(w->after->seconds == 1);
  assert_int_equal(w->after->nanos, 340012);
  char *out = write_text(&w->base);
  assert_string_equal(out, "{\"duration\":\"-0.500s\",\"after\":\"1.000340012s\"}");
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  expect_wk_round_trip("{\"duration\":\"0s\"}", NULL);
  expect_wk_round_trip("{\"duration\":\"-3.100s\"}", NULL);
  expect_wk_round_trip("{\"duration\":\"1.000001s\"}", NULL);
  expect_wk_round_trip("{\"duration\":\"315576000000s\"}", NULL);
  expect_wk_round_trip("{\"duration\":\"-315576000000.999999999s\"}", NULL);
  expect_wk_round_trip("{\"duration\":\"-0s\"}", "{\"duration\":\"0s\"}");
  expect_wk_round_trip("{\"duration\":\"007.25s\"}", "{\"duration\":\"7.250s\"}");
  expect_wk_refused("{\"duration\":\"315576000001s\"}", "out of range");
  expect_wk_refused("{\"duration\":\"-99999999999999999999999s\"}", "out of range");
  const char *bad[] = {"\"1\"",    "\"1.5\"", "\"s\"",   "\"-s\"",  "\"1.s\"",
                       "\".5s\"",  "\"+1s\"", "\" 1s\"", "\"1s \"", "\"1.0000000001s\"",
                       "\"1e3s\"", "\"1S\"",  "1.5",     "null"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "{\"durations\":[%s]}", bad[i]);
    expect_wk_refused(text, i + 1 < sizeof bad / sizeof bad[0]
                                ? "field \"durations[0]\": expected a duration"
                                : "null is not allowed");
  }
  /* the writer refuses what no JSON form carries: mixed signs, nanos past a second */
  Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
  WellKnown wk = YIWANG__TEST__V1__WELL_KNOWN__INIT;
  wk.duration = &d;
  const struct {
    int64_t seconds;
    int32_t nanos;
  } refused[] = {{1, -1},       {-1, 1}, {0, 1000000000}, {0, -1000000000}, {315576000001LL, 0},
                 {INT64_MIN, 0}};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    d.seconds = refused[i].seconds;
    d.nanos = refused[i].nanos;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(yw_json_write(&wk.base, 0, &text, &len), YW_EINVAL);
  }
}

static void test_wrappers_are_bare_values(void **state) {
  (void)state;
  const char *in =
      "{\"doubleValue\":\"NaN\",\"floatValue\":\"-Infinity\",\"int64Value\":\"-"
      "9223372036854775808\","
      "\"uint64Value\":\"18446744073709551615\",\"int32Value\":-2147483648,\"uint32Value\":"
      "4294967295,"
      "\"boolValue\":false,\"stringValue\":\"居民 \\\"x\\\"\",\"bytesValue\":\"AAEC/w==\"}";
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(parse_wk(in, &w, &err), 0);
  assert_true(isnan(w->double_value->value));
  assert_true(isinf(w->float_value->value) && w->float_value->value < 0);
  assert_true(w->int64_value->value == INT64_MIN);
  assert_true(w->uint64_value->value == UINT64_MAX);
  assert_int_equal(w->int32_value->value, INT32_MIN);
  assert_true(w->uint32_value->value == UINT32_MAX);
  assert_non_null(w->bool_value);
  assert_false(w->bool_value->value);
  assert_string_equal(w->string_value->value, "居民 \"x\"");
  assert_int_equal(w->bytes_value->value.len, 4);
  char *out = write_text(&w->base);
  assert_string_equal(out, in); /* a wrapper at its default is present, so written */
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  /* zero values are still written: the wrapper's presence is the point */
  expect_wk_round_trip(
      "{\"doubleValue\":0.0,\"int64Value\":\"0\",\"stringValue\":\"\",\"bytesValue\":\"\"}", NULL);
  /* numbers from strings and 64-bit from numbers, as for plain fields */
  expect_wk_round_trip(
      "{\"int32Value\":\"42\",\"int64Value\":9007199254740993,\"doubleValue\":\"1e3\"}",
      "{\"doubleValue\":1000.0,\"int64Value\":\"9007199254740993\",\"int32Value\":42}");
  /* null is an absent wrapper */
  assert_int_equal(
      parse_wk("{\"int64Value\":null,\"boolValue\":null,\"int64Values\":null}", &w, &err), 0);
  assert_null(w->int64_value);
  assert_null(w->bool_value);
  out = write_text(&w->base);
  assert_string_equal(out, "{}");
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  expect_wk_round_trip("{\"int64Values\":[\"1\",\"-1\",\"0\"]}", NULL);
  expect_wk_refused("{\"int64Values\":[\"1\",null]}", "int64Values[1]");
  expect_wk_refused("{\"int32Value\":2147483648}",
                    "field \"int32Value\": expected a 32-bit integer");
  expect_wk_refused("{\"boolValue\":\"true\"}", "field \"boolValue\": expected true or false");
  expect_wk_refused("{\"uint64Value\":\"-1\"}", "uint64Value");
  expect_wk_refused("{\"floatValue\":1e39}", "floatValue");
  expect_wk_refused("{\"int64Value\":{\"value\":\"1\"}}", "int64Value");
}

static void test_struct_value_and_list_are_any_json(void **state) {
  (void)state;
  const char *in =
      "{\"structValue\":{\"name\":\"张三\",\"age\":42.0,\"ok\":true,\"none\":null,"
      "\"tags\":[\"a\",1.5,null,[],{}],\"deep\":{\"list\":[[[\"x\"]]],\"empty\":{}}},"
      "\"value\":[1.0,\"two\",{\"three\":3.0}],\"listValue\":[null,false,-0.0,1e+22]}";
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(parse_wk(in, &w, &err), 0);
  assert_int_equal(w->struct_value->n_fields, 6);
  assert_string_equal(w->struct_value->fields[0]->key, "name");
  assert_int_equal(w->struct_value->fields[0]->value->kind_case,
                   GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
  assert_int_equal(w->struct_value->fields[3]->value->kind_case,
                   GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
  assert_int_equal(w->value->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
  assert_int_equal(w->value->list_value->n_values, 3);
  assert_int_equal(w->list_value->n_values, 4);
  assert_int_equal(w->list_value->values[0]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
  char *out = write_text(&w->base);
  assert_string_equal(out, in);
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  /* empty ones, and a Value field given null is a null Value, not an absent one */
  assert_int_equal(
      parse_wk("{\"structValue\":{},\"listValue\":[],\"value\":null,\"values\":[null,{}]}", &w,
               &err),
      0);
  assert_non_null(w->struct_value);
  assert_int_equal(w->struct_value->n_fields, 0);
  assert_non_null(w->value);
  assert_int_equal(w->value->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
  assert_int_equal(w->n_values, 2);
  out = write_text(&w->base);
  assert_string_equal(out,
                      "{\"structValue\":{},\"value\":null,\"listValue\":[],\"values\":[null,{}]}");
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  /* a JSON integer is a number_value, written as a double */
  expect_wk_round_trip("{\"value\":7}", "{\"value\":7.0}");
  expect_wk_round_trip("{\"anything\":{\"a\":\"b\"}}", NULL);
  expect_wk_refused("{\"structValue\":[]}", "field \"structValue\": expected an object");
  expect_wk_refused("{\"listValue\":{}}", "field \"listValue\": expected an array");
  expect_wk_refused("{\"structs\":[{\"a\":1},null]}", "structs[1]");
  expect_wk_refused("{\"structs\":[{},[]]}", "field \"structs[1]\": expected an object");
}

static void test_struct_from_the_wire_edges(void **state) {
  (void)state;
  /* a Value with no kind is null; a key given twice on the wire keeps its last value */
  Google__Protobuf__Value unset = GOOGLE__PROTOBUF__VALUE__INIT;
  Google__Protobuf__Value one = GOOGLE__PROTOBUF__VALUE__INIT, two = GOOGLE__PROTOBUF__VALUE__INIT;
  one.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  one.number_value = 1;
  two.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
  two.string_value = "two";
  Google__Protobuf__Struct__FieldsEntry e[4] = {
      GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT, GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT,
      GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT, GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT};
  e[0].key = "k";
  e[0].value = &one;
  e[1].key = "u";
  e[1].value = &unset;
  e[2].key = "k";
  e[2].value = &two;
  e[3].key = "n"; /* no value at all */
  Google__Protobuf__Struct__FieldsEntry *ep[4] = {&e[0], &e[1], &e[2], &e[3]};
  Google__Protobuf__Struct st = GOOGLE__PROTOBUF__STRUCT__INIT;
  st.n_fields = 4;
  st.fields = ep;
  WellKnown w = YIWANG__TEST__V1__WELL_KNOWN__INIT;
  w.struct_value = &st;
  w.value = &unset;
  char *out = write_text(&w.base);
  assert_string_equal(out,
                      "{\"structValue\":{\"u\":null,\"k\":\"two\",\"n\":null},\"value\":null}");
  free(out);
  /* a number JSON cannot carry is refused, not turned into a string */
  double bad[] = {NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < 3; i++) {
    one.number_value = bad[i];
    w.value = &one;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(yw_json_write(&w.base, 0, &text, &len), YW_EINVAL);
    assert_null(text);
  }
}

static void test_null_value_fields_are_null(void **state) {
  (void)state;
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(
      parse_wk("{\"nullValue\":null,\"nothing\":null,\"nulls\":[null,\"NULL_VALUE\",0]}", &w, &err),
      0);
  assert_int_equal(w->when_case,
                   YIWANG__TEST__V1__WELL_KNOWN__WHEN_NOTHING); /* null selects the member */
  assert_int_equal(w->n_nulls, 3);
  char *out = write_text(&w->base);
  assert_string_equal(out, "{\"nulls\":[null,null,null],\"nothing\":null}");
  free(out);
  out = NULL;
  size_t len = 0;
  assert_int_equal(yw_json_write(&w->base, YW_JSON_EMIT_DEFAULTS, &out, &len), 0);
  assert_non_null(strstr(out, "\"nullValue\":null"));
  assert_non_null(strstr(out, "\"timestamps\":[]"));
  assert_null(strstr(out, "\"timestamp\":")); /* unset message fields stay unset */
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  expect_wk_refused("{\"nullValue\":\"NOT_NULL\"}", "field \"nullValue\": expected null");
  expect_wk_refused("{\"nulls\":[null,1]}",
                    "field \"nulls[1]\": expected null"); /* would be written null */
  expect_wk_refused("{\"nothing\":false}", "field \"nothing\": expected null");
}

static void test_field_mask_is_camel_case_paths(void **state) {
  (void)state;
  WellKnown *w = NULL;
  yw_json_error err;
  assert_int_equal(parse_wk("{\"fieldMask\":\"user.displayName,photo,a.bC.dEF\"}", &w, &err), 0);
  assert_int_equal(w->field_mask->n_paths, 3);
  assert_string_equal(w->field_mask->paths[0], "user.display_name");
  assert_string_equal(w->field_mask->paths[1], "photo");
  assert_string_equal(w->field_mask->paths[2], "a.b_c.d_e_f");
  char *out = write_text(&w->base);
  assert_string_equal(out, "{\"fieldMask\":\"user.displayName,photo,a.bC.dEF\"}");
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  assert_int_equal(parse_wk("{\"fieldMask\":\"\"}", &w, &err), 0);
  assert_non_null(w->field_mask);
  assert_int_equal(w->field_mask->n_paths, 0);
  out = write_text(&w->base);
  assert_string_equal(out, "{\"fieldMask\":\"\"}");
  free(out);
  protobuf_c_message_free_unpacked(&w->base, NULL);
  expect_wk_refused("{\"fieldMask\":\"display_name\"}",
                    "field \"fieldMask\": FieldMask path \"display_name\"");
  expect_wk_refused("{\"fieldMask\":\"a,,b\"}", "empty");
  expect_wk_refused("{\"fieldMask\":\"a,\"}", "empty");
  expect_wk_refused("{\"fieldMask\":\"a, b\"}", "\" b\"");
  expect_wk_refused("{\"fieldMask\":[\"a\"]}", "expected a FieldMask string");
  /* paths with no lowerCamelCase form that reads back are not written */
  const char *bad[] = {"Photo", "a_1", "a_", "a__b", "a,b", "", "a b", "ä"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *paths[2] = {(char *)"ok", (char *)bad[i]};
    Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    fm.n_paths = 2;
    fm.paths = paths;
    WellKnown wk = YIWANG__TEST__V1__WELL_KNOWN__INIT;
    wk.field_mask = &fm;
    char *text = NULL;
    size_t len = 0;
    if (yw_json_write(&wk.base, 0, &text, &len) != YW_EINVAL)
      fail_msg("path \"%s\" was written: %s", bad[i], text);
  }
}

static void test_empty_and_any(void **state) {
  (void)state;
  expect_wk_round_trip("{\"empty\":{},\"any\":{}}", NULL);
  expect_wk_refused("{\"empty\":{\"x\":1}}",
                    "field \"empty.x\": unknown field of google.protobuf.Empty");
  expect_wk_refused("{\"empty\":[]}", "field \"empty\": expected an object");
  expect_wk_refused(
      "{\"any\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"1s\"}}",
      "field \"any\": google.protobuf.Any is not supported");
  expect_wk_refused("{\"any\":\"x\"}", "google.protobuf.Any is not supported");
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/google.protobuf.Empty";
  WellKnown w = YIWANG__TEST__V1__WELL_KNOWN__INIT;
  w.any = &any;
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(yw_json_write(&w.base, 0, &text, &len), YW_EINVAL);
  assert_null(text);
}

static void test_well_known_type_at_the_top(void **state) {
  (void)state;
  json_t *s = json_string("2024-05-01T08:00:00.000000001+08:00");
  ProtobufCMessage *m = NULL;
  yw_json_error err;
  assert_int_equal(yw_json_to_message(&google__protobuf__timestamp__descriptor, s, NULL, &m, &err),
                   0);
  json_decref(s);
  char *out = write_text(m);
  assert_string_equal(out, "\"2024-05-01T00:00:00.000000001Z\"");
  free(out);
  json_t *doc = yw_json_from_message(m, 0);
  assert_true(json_is_string(doc));
  json_decref(doc);
  protobuf_c_message_free_unpacked(m, NULL);
  s = json_string("yesterday");
  assert_int_equal(yw_json_to_message(&google__protobuf__timestamp__descriptor, s, NULL, &m, &err),
                   YW_EINVAL);
  assert_null(m);
  assert_string_equal(err.text,
                      "expected an RFC 3339 timestamp such as \"1972-01-01T10:00:20.021Z\"");
  json_decref(s);
  json_t *n = json_null();
  assert_int_equal(yw_json_to_message(&google__protobuf__value__descriptor, n, NULL, &m, &err), 0);
  out = write_text(m);
  assert_string_equal(out, "null");
  free(out);
  protobuf_c_message_free_unpacked(m, NULL);
  /* a regular message still wants an object */
  assert_int_equal(yw_json_to_message(&yiwang__test__v1__well_known__descriptor, n, NULL, &m, &err),
                   YW_EINVAL);
  assert_string_equal(err.text, "expected a JSON object");
  json_decref(n);
}

static void test_everything_reaches_the_well_known_types(void **state) {
  (void)state;
  Everything *e = NULL;
  yw_json_error err;
  assert_int_equal(
      parse("{\"wkt\":{\"timestamp\":\"2024-05-01T00:00:00Z\",\"structValue\":{\"a\":[1.0]}}}", &e,
            &err),
      0);
  char *out = dump(e, 0);
  assert_string_equal(
      out, "{\"wkt\":{\"structValue\":{\"a\":[1.0]},\"timestamp\":\"2024-05-01T00:00:00Z\"}}");
  free(out);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  expect_refused("{\"wkt\":{\"duration\":\"1\"}}", "field \"wkt.duration\": expected a duration");
}

/* {"a":{"a":...{"a":1}}} n objects deep under structValue */
static char *nested_struct(int n) {
  size_t cap = (size_t)n * 8 + 64, o = 0;
  char *t = malloc(cap);
  assert_non_null(t);
  o += (size_t)snprintf(t + o, cap - o, "{\"structValue\":");
  for (int i = 0; i < n; i++) o += (size_t)snprintf(t + o, cap - o, "{\"a\":");
  o += (size_t)snprintf(t + o, cap - o, "1.0");
  for (int i = 0; i < n; i++) t[o++] = '}';
  t[o++] = '}';
  t[o] = '\0';
  return t;
}

static void test_depth_is_counted_alike_both_ways(void **state) {
  (void)state;
  /* the deepest Struct the reader takes is written back as it came */
  int deepest = 0;
  for (int n = 1; n < 64; n++) {
    char *text = nested_struct(n);
    WellKnown *w = NULL;
    yw_json_error err;
    int rc = parse_wk(text, &w, &err);
    if (rc == 0) {
      deepest = n;
      char *out = write_text(&w->base);
      assert_string_equal(out, text);
      free(out);
      protobuf_c_message_free_unpacked(&w->base, NULL);
    } else {
      assert_int_equal(rc, YW_EINVAL);
      assert_non_null(strstr(err.text, "nested too deeply"));
    }
    free(text);
  }
  assert_true(deepest >= 30 && deepest < 63);
}

static void test_set_field_text_for_well_known_types(void **state) {
  (void)state;
  yw_arena *a = yw_arena_new(0);
  ProtobufCAllocator *al = yw_arena_allocator(a);
  WellKnown *w = yw_arena_alloc(a, sizeof *w);
  yiwang__test__v1__well_known__init(w);
  yw_json_error err;
  assert_int_equal(
      yw_json_set_field_text(&w->base, "timestamp", "2024-05-01T08:00:00+08:00", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&w->base, "duration", "-1.5s", al, &err), 0);
  assert_int_equal(
      yw_json_set_field_text(&w->base, "fieldMask", "user.displayName,photo", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&w->base, "int32Value", "7", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&w->base, "boolValue", "true", al, &err), 0);
  assert_int_equal(
      yw_json_set_field_text(&w->base, "int64_value", "-9223372036854775808", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&w->base, "stringValue", "身份证", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&w->base, "timestamps", "1970-01-01T00:00:01Z", al, &err),
                   0);
  assert_int_equal(yw_json_set_field_text(&w->base, "timestamps", "1970-01-01T00:00:02Z", al, &err),
                   0);
  assert_int_equal(yw_json_set_field_text(&w->base, "at", "2000-01-01T00:00:00Z", al, &err), 0);
  assert_int_equal(yw_json_set_field_text(&w->base, "at", "2001-01-01T00:00:00Z", al, &err),
                   0); /* replaced */
  assert_int_equal(yw_json_set_field_text(&w->base, "doubleValue.value", "2.5", al, &err), 0);
  char *out = write_text(&w->base);
  assert_string_equal(
      out,
      "{\"timestamp\":\"2024-05-01T00:00:00Z\",\"duration\":\"-1.500s\",\"doubleValue\":2.5,"
      "\"int64Value\":\"-9223372036854775808\",\"int32Value\":7,\"boolValue\":true,"
      "\"stringValue\":\"身份证\",\"fieldMask\":\"user.displayName,photo\","
      "\"timestamps\":[\"1970-01-01T00:00:01Z\",\"1970-01-01T00:00:02Z\"],"
      "\"at\":\"2001-01-01T00:00:00Z\"}");
  free(out);
  /* a refused value leaves the field as it was */
  assert_int_equal(yw_json_set_field_text(&w->base, "timestamp", "tomorrow", al, &err), YW_EINVAL);
  assert_non_null(strstr(err.text, "field \"timestamp\": expected an RFC 3339 timestamp"));
  assert_int_equal(yw_json_set_field_text(&w->base, "timestamps", "never", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&w->base, "int32Value", "x", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&w->base, "after", "1s", al, &err),
                   YW_EINVAL); /* oneof taken */
  assert_non_null(strstr(err.text, "oneof"));
  assert_int_equal(yw_json_set_field_text(&w->base, "structValue", "{}", al, &err), YW_EINVAL);
  assert_non_null(strstr(err.text, "a message cannot be given as text"));
  assert_int_equal(yw_json_set_field_text(&w->base, "value", "1", al, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&w->base, "any", "x", al, &err), YW_EINVAL);
  assert_true(w->timestamp->seconds == 1714521600);
  assert_int_equal(w->n_timestamps, 2);
  assert_int_equal(w->int32_value->value, 7);
  yw_arena_free(a);
  /* with malloc: what is replaced or refused is freed (ASan) */
  WellKnown *m = NULL;
  assert_int_equal(
      parse_wk("{\"at\":\"2000-01-01T00:00:00Z\",\"timestamps\":[\"1970-01-01T00:00:00Z\"]}", &m,
               &err),
      0);
  assert_int_equal(yw_json_set_field_text(&m->base, "at", "2001-01-01T00:00:00Z", NULL, &err), 0);
  assert_int_equal(
      yw_json_set_field_text(&m->base, "timestamps", "1971-01-01T00:00:00Z", NULL, &err), 0);
  assert_int_equal(yw_json_set_field_text(&m->base, "timestamps", "bad", NULL, &err), YW_EINVAL);
  assert_int_equal(yw_json_set_field_text(&m->base, "at", "bad", NULL, &err), YW_EINVAL);
  assert_int_equal(m->n_timestamps, 2);
  assert_true(m->at->seconds == 978307200);
  protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void test_every_allocation_failure_is_clean_for_well_known_types(void **state) {
  (void)state;
  const char *in =
      "{\"timestamp\":\"2024-05-01T00:00:00Z\",\"stringValue\":\"s\",\"bytesValue\":\"AAEC\","
      "\"structValue\":{\"a\":{\"b\":[1,\"x\",null,{\"c\":true}]},\"d\":\"e\"},"
      "\"value\":[\"v\",{}],\"listValue\":[[],{}],\"fieldMask\":\"a.bC,d\","
      "\"values\":[null,\"w\"],\"structs\":[{},{\"k\":\"v\"}],\"anything\":{\"z\":[1]},"
      "\"int64Values\":[\"1\"],\"empty\":{},\"any\":{}}";
  json_t *doc = json_loads(in, 0, NULL);
  assert_non_null(doc);
  int succeeded = 0;
  for (int n = 0; n < 400 && !succeeded; n++) {
    struct failing f = {n, 0};
    ProtobufCAllocator a = {failing_alloc, failing_free, &f};
    ProtobufCMessage *m = NULL;
    yw_json_error err;
    int rc = yw_json_to_message(&yiwang__test__v1__well_known__descriptor, doc, &a, &m, &err);
    if (rc == 0) {
      succeeded = 1;
      char *out = write_text(m);
      json_t *back = json_loads(out, 0, NULL);
      assert_non_null(back);
      json_decref(back);
      free(out);
      protobuf_c_message_free_unpacked(m, &a);
    } else {
      assert_int_equal(rc, YW_ENOMEM);
      assert_null(m);
    }
    assert_int_equal(f.live, 0);
  }
  assert_true(succeeded);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_scalar_round_trips),
      cmocka_unit_test(test_int64_edges_are_exact),
      cmocka_unit_test(test_int32_rules),
      cmocka_unit_test(test_unknown_field_is_refused_with_its_name),
      cmocka_unit_test(test_wrong_types_are_refused_with_path),
      cmocka_unit_test(test_null_means_default),
      cmocka_unit_test(test_enums_by_name_and_number),
      cmocka_unit_test(test_bytes_accept_standard_and_url_safe_base64),
      cmocka_unit_test(test_proto_names_are_accepted_and_camel_case_written),
      cmocka_unit_test(test_defaults_are_omitted_unless_asked),
      cmocka_unit_test(test_oneof_takes_one_member),
      cmocka_unit_test(test_special_floats_use_strings),
      cmocka_unit_test(test_set_field_text_for_paths_and_queries),
      cmocka_unit_test(test_set_field_text_with_malloc_frees_replaced_values),
      cmocka_unit_test(test_not_an_object_is_refused),
      cmocka_unit_test(test_failure_deep_inside_frees_the_partial_message),
      cmocka_unit_test(test_writer_escapes_and_keeps_utf8),
      cmocka_unit_test(test_writer_refuses_invalid_utf8),
      cmocka_unit_test(test_every_allocation_failure_is_clean),
      cmocka_unit_test(test_timestamp_is_rfc3339_in_utc),
      cmocka_unit_test(test_timestamp_out_of_range_is_not_written),
      cmocka_unit_test(test_duration_forms_and_range),
      cmocka_unit_test(test_wrappers_are_bare_values),
      cmocka_unit_test(test_struct_value_and_list_are_any_json),
      cmocka_unit_test(test_struct_from_the_wire_edges),
      cmocka_unit_test(test_null_value_fields_are_null),
      cmocka_unit_test(test_field_mask_is_camel_case_paths),
      cmocka_unit_test(test_empty_and_any),
      cmocka_unit_test(test_well_known_type_at_the_top),
      cmocka_unit_test(test_everything_reaches_the_well_known_types),
      cmocka_unit_test(test_depth_is_counted_alike_both_ways),
      cmocka_unit_test(test_set_field_text_for_well_known_types),
      cmocka_unit_test(test_every_allocation_failure_is_clean_for_well_known_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
