/*
 * test_json.c - the proto3 JSON mapping (lib/yw_json.c) over a message with every
 * shape: all scalar types, enums, bytes, nested and repeated messages, a oneof.
 * Proves the round trip, the names (lowerCamelCase out, both in), exact 64-bit
 * integers, and that bad input is refused with the field's path and leaks nothing
 * (the suite runs under ASan too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "yiwang/test/v1/test.pb-c.h"
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
