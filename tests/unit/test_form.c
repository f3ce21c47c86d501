/*
 * test_form.c - form definitions and the validation of submissions (lib/yw_form.c):
 * every type and rule accepts what it should and names what it refuses by its exact
 * path and reason; every violation of a submission is reported at once; unknown keys,
 * conditional fields and prefilled fields; definitions that break a rule or a bound
 * are refused with the path of what is wrong; and the forms of a life-event bundle
 * merge into one (shared fields once, a conflicting one refused by its path) whose
 * submission projects back onto each member.
 *
 * Identifiers used: the ID number 11010519491231002X and the credit code
 * 91350100M000100Y43 are the standards' published examples (their check characters
 * verified by an independent computation in Python).
 */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_form.h"

static json_t *js(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, 0, &e);
  if (v == NULL) fail_msg("bad JSON in test: %s (%s)", text, e.text);
  return v;
}

static yw_form *parse_ok(const char *def) {
  json_t *d = js(def);
  yw_form *f = NULL;
  yw_form_error err;
  int rc = yw_form_parse(d, &f, &err);
  if (rc != 0) fail_msg("definition refused at %s: %s", err.path, err.reason);
  json_decref(d);
  return f;
}

/* The violations as "path:REASON;..." */
static char *violations(const yw_form *f, const char *data, const yw_form_prefill *pre,
                        json_t **kept) {
  json_t *d = js(data);
  yw_form_report rep;
  int rc = yw_form_validate(f, d, "form", pre, &rep);
  assert_int_equal(rc, rep.n > 0 ? YW_EINVAL : 0);
  static char out[4096];
  out[0] = '\0';
  for (size_t i = 0; i < rep.n; i++) {
    size_t l = strlen(out);
    snprintf(out + l, sizeof out - l, "%s%s:%s", i > 0 ? ";" : "", rep.v[i].path,
             rep.v[i].reason);
  }
  if (kept != NULL)
    *kept = d;
  else
    json_decref(d);
  return out;
}

static const char *refusal(const char *def, char *reason_out) {
  json_t *d = js(def);
  yw_form *f = NULL;
  static yw_form_error err;
  int rc = yw_form_parse(d, &f, &err);
  json_decref(d);
  assert_int_equal(rc, YW_EINVAL);
  assert_null(f);
  if (reason_out != NULL) snprintf(reason_out, 160, "%s", err.reason);
  return err.path;
}

static const char FAMILY[] =
    "{\"title\": \"出生登记\", \"fields\": ["
    " {\"name\": \"applicantName\", \"label\": \"申请人\", \"type\": \"string\","
    "  \"prefill\": \"identity.name\", \"required\": true},"
    " {\"name\": \"phone\", \"label\": \"手机\", \"type\": \"phone\", \"required\": true},"
    " {\"name\": \"reason\", \"type\": \"enum\", \"required\": true,"
    "  \"options\": [\"有效期满\", \"证件损坏\"]},"
    " {\"name\": \"damage\", \"type\": \"string\", \"maxLength\": 10, \"required\": true,"
    "  \"when\": {\"field\": \"reason\", \"equals\": \"证件损坏\"}},"
    " {\"name\": \"address\", \"type\": \"object\", \"fields\": ["
    "   {\"name\": \"postcode\", \"type\": \"string\", \"namedPattern\": \"postcode\"},"
    "   {\"name\": \"line\", \"type\": \"string\", \"minLength\": 1, \"required\": true}]},"
    " {\"name\": \"children\", \"type\": \"array\", \"minItems\": 1, \"maxItems\": 3,"
    "  \"items\": {\"type\": \"object\", \"fields\": ["
    "   {\"name\": \"name\", \"type\": \"string\", \"required\": true},"
    "   {\"name\": \"birthDate\", \"type\": \"date\", \"required\": true},"
    "   {\"name\": \"idNumber\", \"type\": \"id_card\"}]}},"
    " {\"name\": \"weightKg\", \"type\": \"number\", \"min\": 0.5, \"max\": 8},"
    " {\"name\": \"count\", \"type\": \"integer\", \"min\": 1, \"max\": 9},"
    " {\"name\": \"agree\", \"type\": \"boolean\", \"required\": true},"
    " {\"name\": \"email\", \"type\": \"email\"},"
    " {\"name\": \"company\", \"type\": \"uscc\"},"
    " {\"name\": \"code\", \"type\": \"string\", \"pattern\": \"^[A-Z]{2}[0-9]{4}$\"}"
    "]}";

static const yw_form_prefill PRE = {"王小明", "1101**********002X", NULL, NULL};

static void test_a_good_submission_passes_and_prefill_is_the_callers(void **state) {
  (void)state;
  yw_form *f = parse_ok(FAMILY);
  assert_int_equal(yw_form_field_count(f), 18); /* 12 + address 2 + items 1 + 3 */
  json_t *kept = NULL;
  const char *v = violations(
      f,
      "{\"applicantName\": \"someone else\", \"phone\": \"13912345678\", \"reason\": \"有效期满\","
      " \"address\": {\"postcode\": \"222000\", \"line\": \"海州区朝阳路1号\"},"
      " \"children\": [{\"name\": \"王一\", \"birthDate\": \"2026-02-28\","
      "   \"idNumber\": \"11010519491231002X\"}],"
      " \"weightKg\": 3.2, \"count\": 2.0, \"agree\": true, \"email\": \"a.b@example.cn\","
      " \"company\": \"91350100M000100Y43\", \"code\": \"AB1234\"}",
      &PRE, &kept);
  assert_string_equal(v, "");
  /* the submitted name was replaced by the caller's */
  assert_string_equal(json_string_value(json_object_get(kept, "applicantName")), "王小明");
  json_decref(kept);
  yw_form_free(f);
}

static void test_every_violation_is_named_by_its_path(void **state) {
  (void)state;
  yw_form *f = parse_ok(FAMILY);
  const char *v = violations(
      f,
      "{\"phone\": \"12345\", \"reason\": \"证件损坏\","
      " \"address\": {\"postcode\": \"22200\", \"line\": \"\", \"floor\": 3},"
      " \"children\": [{\"name\": \"王一\", \"birthDate\": \"2026-02-28\"},"
      "   {\"name\": \"王二\", \"birthDate\": \"2025-02-29\", \"idNumber\": \"110105194912310021\"},"
      "   null],"
      " \"weightKg\": 9, \"count\": 1.5, \"agree\": \"yes\", \"email\": \"not-an-email\","
      " \"company\": \"91350100M000100Y44\", \"code\": \"ab1234\", \"nickname\": \"x\"}",
      &PRE, NULL);
  assert_string_equal(v,
                      "form.phone:BAD_PHONE;"
                      "form.damage:REQUIRED;"
                      "form.address.postcode:PATTERN_MISMATCH;"
                      "form.address.line:REQUIRED;"
                      "form.address.floor:UNKNOWN_FIELD;"
                      "form.children[1].birthDate:BAD_DATE;"
                      "form.children[1].idNumber:BAD_ID_CARD;"
                      "form.children[2]:REQUIRED;"
                      "form.weightKg:TOO_LARGE;"
                      "form.count:WRONG_TYPE;"
                      "form.agree:WRONG_TYPE;"
                      "form.email:BAD_EMAIL;"
                      "form.company:BAD_USCC;"
                      "form.code:PATTERN_MISMATCH;"
                      "form.nickname:UNKNOWN_FIELD");
  yw_form_free(f);
}

static void test_required_missing_and_wrong_types(void **state) {
  (void)state;
  yw_form *f = parse_ok(FAMILY);
  /* no caller name: the required prefilled field is PREFILL_MISSING */
  const char *v = violations(f, "{\"reason\": \"丢失\", \"children\": [], \"agree\": null}", NULL,
                             NULL);
  assert_string_equal(v,
                      "form.applicantName:PREFILL_MISSING;"
                      "form.phone:REQUIRED;"
                      "form.reason:NOT_AN_OPTION;"
                      "form.children:TOO_FEW_ITEMS;"
                      "form.agree:REQUIRED");
  v = violations(f,
                 "{\"phone\": 13912345678, \"reason\": \"有效期满\", \"agree\": false,"
                 " \"address\": \"海州区\", \"children\": {\"name\": \"x\"}}",
                 &PRE, NULL);
  assert_string_equal(v, "form.phone:WRONG_TYPE;form.address:WRONG_TYPE;form.children:WRONG_TYPE");
  yw_form_free(f);
}

static void test_bounds_of_strings_numbers_and_arrays(void **state) {
  (void)state;
  yw_form *f = parse_ok(FAMILY);
  const char *v = violations(
      f,
      "{\"phone\": \"13912345678\", \"reason\": \"证件损坏\", \"damage\": \"一二三四五六七八九十十一\","
      " \"agree\": true, \"weightKg\": 0.2, \"count\": 10,"
      " \"children\": [{\"name\": \"a\", \"birthDate\": \"2020-01-01\"},"
      "  {\"name\": \"b\", \"birthDate\": \"2020-01-01\"},"
      "  {\"name\": \"c\", \"birthDate\": \"2020-01-01\"},"
      "  {\"name\": \"d\", \"birthDate\": \"2020-01-01\"}]}",
      &PRE, NULL);
  /* ten characters are allowed, eleven are not (counted as characters, not bytes) */
  assert_string_equal(v,
                      "form.damage:TOO_LONG;form.children:TOO_MANY_ITEMS;"
                      "form.weightKg:TOO_SMALL;form.count:TOO_LARGE");
  v = violations(f,
                 "{\"phone\": \"13912345678\", \"reason\": \"证件损坏\", \"damage\": \"一二三四五六七八九十\","
                 " \"agree\": true, \"children\": [{\"name\": \"a\", \"birthDate\": \"2020-01-01\"}]}",
                 &PRE, NULL);
  assert_string_equal(v, "");
  yw_form_free(f);
}

static void test_a_conditional_field_is_refused_when_its_condition_fails(void **state) {
  (void)state;
  yw_form *f = parse_ok(FAMILY);
  const char *v = violations(f,
                             "{\"phone\": \"13912345678\", \"reason\": \"有效期满\", \"damage\": \"裂了\","
                             " \"agree\": true, \"children\": [{\"name\": \"a\", \"birthDate\": \"2020-01-01\"}]}",
                             &PRE, NULL);
  assert_string_equal(v, "form.damage:NOT_APPLICABLE");
  yw_form_free(f);
}

static void test_conditions_on_numbers_booleans_and_nested_fields(void **state) {
  (void)state;
  yw_form *f = parse_ok(
      "{\"fields\": ["
      " {\"name\": \"kind\", \"type\": \"object\", \"fields\": ["
      "   {\"name\": \"married\", \"type\": \"boolean\"},"
      "   {\"name\": \"children\", \"type\": \"integer\"}]},"
      " {\"name\": \"spouse\", \"type\": \"string\", \"required\": true,"
      "  \"when\": {\"field\": \"kind.married\", \"equals\": true}},"
      " {\"name\": \"school\", \"type\": \"string\", \"required\": true,"
      "  \"when\": {\"field\": \"kind.children\", \"equals\": 2}}]}");
  assert_string_equal(violations(f, "{\"kind\": {\"married\": true, \"children\": 2.0}}", NULL, NULL),
                      "form.spouse:REQUIRED;form.school:REQUIRED");
  assert_string_equal(violations(f, "{\"kind\": {\"married\": false}}", NULL, NULL), "");
  assert_string_equal(violations(f, "{}", NULL, NULL), "");
  yw_form_free(f);
}

static void test_company_prefill_and_named_patterns(void **state) {
  (void)state;
  yw_form *f = parse_ok(
      "{\"fields\": ["
      " {\"name\": \"uscc\", \"type\": \"uscc\", \"prefill\": \"company.uscc\", \"required\": true},"
      " {\"name\": \"companyName\", \"type\": \"string\", \"prefill\": \"company.name\"},"
      " {\"name\": \"tel\", \"type\": \"string\", \"namedPattern\": \"landline\"},"
      " {\"name\": \"legalName\", \"type\": \"string\", \"namedPattern\": \"chinese_name\"},"
      " {\"name\": \"shares\", \"type\": \"string\", \"namedPattern\": \"digits\"}]}");
  yw_form_prefill company = {NULL, NULL, NULL, "91350100M000100Y43"};
  json_t *kept = NULL;
  assert_string_equal(violations(f,
                                 "{\"uscc\": \"forged\", \"companyName\": \"forged\","
                                 " \"tel\": \"0518-85822345\", \"legalName\": \"阿依古丽·买买提\","
                                 " \"shares\": \"100\"}",
                                 &company, &kept),
                      "");
  assert_string_equal(json_string_value(json_object_get(kept, "uscc")), "91350100M000100Y43");
  /* a prefill source the caller does not have removes the submitted value */
  assert_null(json_object_get(kept, "companyName"));
  json_decref(kept);
  assert_string_equal(violations(f,
                                 "{\"tel\": \"85822345\", \"legalName\": \"Wang\","
                                 " \"shares\": \"1e3\"}",
                                 NULL, NULL),
                      "form.uscc:PREFILL_MISSING;form.tel:PATTERN_MISMATCH;"
                      "form.legalName:PATTERN_MISMATCH;form.shares:PATTERN_MISMATCH");
  yw_form_free(f);
}

static void test_a_prefilled_field_whose_condition_fails_stays_out(void **state) {
  (void)state;
  yw_form *f = parse_ok(
      "{\"fields\": [{\"name\": \"asCompany\", \"type\": \"boolean\", \"required\": true},"
      " {\"name\": \"uscc\", \"type\": \"uscc\", \"prefill\": \"company.uscc\", \"required\": true,"
      "  \"when\": {\"field\": \"asCompany\", \"equals\": true}}]}");
  yw_form_prefill company = {NULL, NULL, NULL, "91350100M000100Y43"};
  json_t *kept = NULL;
  assert_string_equal(violations(f, "{\"asCompany\": false, \"uscc\": \"x\"}", &company, &kept), "");
  assert_null(json_object_get(kept, "uscc"));
  json_decref(kept);
  assert_string_equal(violations(f, "{\"asCompany\": true}", &company, &kept), "");
  assert_string_equal(json_string_value(json_object_get(kept, "uscc")), "91350100M000100Y43");
  json_decref(kept);
  yw_form_free(f);
}

static void test_the_root_must_be_an_object_and_unknown_keys_are_named(void **state) {
  (void)state;
  yw_form *f = parse_ok("{\"fields\": [{\"name\": \"a\", \"type\": \"string\"}]}");
  json_t *arr = js("[1]");
  yw_form_report rep;
  assert_int_equal(yw_form_validate(f, arr, "form", NULL, &rep), YW_EINVAL);
  assert_int_equal(rep.n, 1);
  assert_string_equal(rep.v[0].path, "form");
  assert_string_equal(rep.v[0].reason, "WRONG_TYPE");
  json_decref(arr);
  assert_string_equal(violations(f, "{\"姓名\": 1}", NULL, NULL), "form.姓名:UNKNOWN_FIELD");
  yw_form_free(f);
}

static void test_at_most_sixty_four_violations_are_kept(void **state) {
  (void)state;
  yw_form *f = parse_ok("{\"fields\": [{\"name\": \"a\", \"type\": \"string\"}]}");
  char data[8192] = "{";
  for (int i = 0; i < 100; i++) {
    size_t l = strlen(data);
    snprintf(data + l, sizeof data - l, "%s\"k%d\": 1", i > 0 ? "," : "", i);
  }
  size_t end = strlen(data);
  snprintf(data + end, sizeof data - end, "}");
  json_t *d = js(data);
  yw_form_report rep;
  assert_int_equal(yw_form_validate(f, d, "form", NULL, &rep), YW_EINVAL);
  assert_int_equal(rep.n, YW_FORM_MAX_VIOLATIONS);
  assert_true(rep.truncated);
  json_t *j = yw_form_report_json(&rep);
  assert_int_equal(json_array_size(j), YW_FORM_MAX_VIOLATIONS);
  assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "reason")),
                      "UNKNOWN_FIELD");
  json_decref(j);
  json_decref(d);
  yw_form_free(f);
}

/* Patterns a department writes still pass the bound on what regcomp expands, and match. */
static void test_ordinary_patterns_pass_the_expansion_bound(void **state) {
  (void)state;
  static const char *const ok[][2] = {
      {"^[0-9]{17}[0-9X]$", "11010519491231002X"},
      {"^[]a-z[:digit:]]{2,8}$", "a]b9"},
      {"^(a{32}){32}$", NULL},
      {"^([A-Z]{2}|[0-9]{6})(-[0-9]+)*$", "AB-1-22"},
      {"^[\\u4e00-\\u9fa5]+$", NULL},
      {"^([a-z]*)?(x|y?)[0-9]{0,1}$", "abcy"},
      {"^(-?[0-9]+)(,[0-9]+)*$", "-1,20,3"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    json_t *def = json_pack("{s:[{s:s, s:s, s:s}]}", "fields", "name", "a", "type", "string",
                            "pattern", ok[i][0]);
    yw_form *f = NULL;
    yw_form_error err;
    int rc = yw_form_parse(def, &f, &err);
    json_decref(def);
    if (rc != 0) fail_msg("%s refused: %s", ok[i][0], err.reason);
    if (ok[i][1] != NULL) {
      char data[128];
      snprintf(data, sizeof data, "{\"a\": \"%s\"}", ok[i][1]);
      assert_string_equal(violations(f, data, NULL, NULL), "");
    }
    yw_form_free(f);
  }
}

static void test_bad_definitions_are_refused_with_their_path(void **state) {
  (void)state;
  char reason[160];
  assert_string_equal(refusal("[]", NULL), "");
  assert_string_equal(refusal("{\"fields\": []}", NULL), "fields");
  assert_string_equal(refusal("{\"fields\": [], \"extra\": 1}", NULL), "");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"text\"}]}", NULL),
                      "fields[0]");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"1a\", \"type\": \"string\"}]}", NULL),
                      "fields[0]");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"string\"},"
                              " {\"name\": \"a\", \"type\": \"integer\"}]}",
                              reason),
                      "fields[1]");
  assert_string_equal(reason, "name a is used twice");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"enum\","
                              " \"options\": [\"x\", \"x\"]}]}",
                              NULL),
                      "fields[0].options[1]");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"integer\","
                              " \"maxLength\": 3}]}",
                              reason),
                      "fields[0]");
  assert_string_equal(reason, "maxLength does not apply to a field of type integer");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"string\","
                              " \"pattern\": \"(\"}]}",
                              NULL),
                      "fields[0]");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"string\","
                              " \"pattern\": \"(a{32}){33}\"}]}",
                              NULL),
                      "fields[0]");
  /* Regression (fuzz_form ran out of memory): each count is within bounds, but nested
   * repetitions multiply what regcomp copies. */
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"string\","
                              " \"pattern\": \"((a{32}){32}){32}\"}]}",
                              reason),
                      "fields[0]");
  assert_string_equal(reason, "pattern nests its repetitions too deeply");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"string\","
                              " \"pattern\": \"((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+\"}]}",
                              reason),
                      "fields[0]");
  assert_string_equal(reason, "pattern nests its repetitions too deeply");
  /* Regression (fuzz_form timed out): loops over parts that match the empty string make
   * regcomp's closures exponential. */
  static const char *const empty_loops[] = {"((($(()+)+)+)+)+", "(a*)*", "(a|b?)+", "(^)*x",
                                            "([0-9]?){2,3}", "(\\b|x)+"};
  for (size_t i = 0; i < sizeof empty_loops / sizeof empty_loops[0]; i++) {
    json_t *def = json_pack("{s:[{s:s, s:s, s:s}]}", "fields", "name", "a", "type", "string",
                            "pattern", empty_loops[i]);
    yw_form *f = NULL;
    yw_form_error err;
    assert_int_equal(yw_form_parse(def, &f, &err), YW_EINVAL);
    json_decref(def);
    assert_null(f);
    assert_string_equal(err.reason, "pattern repeats a part that can match nothing");
  }
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"o\", \"type\": \"object\", \"fields\": ["
                              " {\"name\": \"b\", \"type\": \"string\", \"when\":"
                              "  {\"field\": \"nothere\", \"equals\": \"x\"}}]}]}",
                              NULL),
                      "fields[0].fields[0].when.field");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"array\","
                              " \"items\": {\"type\": \"string\", \"prefill\": \"identity.name\"}}]}",
                              NULL),
                      "fields[0].items");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"integer\","
                              " \"prefill\": \"identity.name\"}]}",
                              NULL),
                      "fields[0]");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"array\","
                              " \"maxItems\": 101, \"items\": {\"type\": \"string\"}}]}",
                              NULL),
                      "fields[0]");
  assert_string_equal(refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"string\","
                              " \"minLength\": 5, \"maxLength\": 4}]}",
                              NULL),
                      "fields[0]");
  /* nesting deeper than YW_FORM_MAX_DEPTH */
  assert_string_equal(
      refusal("{\"fields\": [{\"name\": \"a\", \"type\": \"object\", \"fields\": ["
              "{\"name\": \"b\", \"type\": \"object\", \"fields\": ["
              "{\"name\": \"c\", \"type\": \"object\", \"fields\": ["
              "{\"name\": \"d\", \"type\": \"object\", \"fields\": ["
              "{\"name\": \"e\", \"type\": \"object\", \"fields\": ["
              "{\"name\": \"f\", \"type\": \"string\"}]}]}]}]}]}]}",
              NULL),
      "fields[0].fields[0].fields[0].fields[0].fields[0]");
}

static void test_at_most_two_hundred_fields(void **state) {
  (void)state;
  /* two objects of 100 fields each and the two objects themselves: 202 */
  size_t cap = 64 * 1024;
  char *def = malloc(cap);
  assert_non_null(def);
  size_t o = (size_t)snprintf(def, cap, "{\"fields\": [");
  for (int k = 0; k < 2; k++) {
    o += (size_t)snprintf(def + o, cap - o, "%s{\"name\": \"o%d\", \"type\": \"object\", \"fields\": [",
                          k > 0 ? "," : "", k);
    for (int i = 0; i < 100; i++)
      o += (size_t)snprintf(def + o, cap - o, "%s{\"name\": \"f%d\", \"type\": \"string\"}",
                            i > 0 ? "," : "", i);
    o += (size_t)snprintf(def + o, cap - o, "]}");
  }
  snprintf(def + o, cap - o, "]}");
  char reason[160];
  assert_string_equal(refusal(def, reason), "fields[1].fields[98]");
  assert_string_equal(reason, "a form holds at most 200 fields");
  free(def);
}

static void test_bundle_forms_merge_and_project_back(void **state) {
  (void)state;
  json_t *birth = js("{\"fields\": ["
                     " {\"name\": \"phone\", \"type\": \"phone\", \"required\": true},"
                     " {\"name\": \"babyName\", \"type\": \"string\", \"required\": true}]}");
  json_t *insurance = js("{\"fields\": ["
                         " {\"name\": \"phone\", \"type\": \"phone\", \"required\": true},"
                         " {\"name\": \"bank\", \"type\": \"enum\", \"options\": [\"农行\", \"建行\"]}]}");
  const json_t *members[] = {birth, NULL, insurance};
  json_t *merged = NULL;
  yw_form_error err;
  assert_int_equal(yw_form_merge(members, 3, "新生儿出生一件事", &merged, &err), 0);
  char *text = json_dumps(merged, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(text,
                      "{\"fields\":[{\"name\":\"phone\",\"required\":true,\"type\":\"phone\"},"
                      "{\"name\":\"babyName\",\"required\":true,\"type\":\"string\"},"
                      "{\"name\":\"bank\",\"options\":[\"农行\",\"建行\"],\"type\":\"enum\"}],"
                      "\"title\":\"新生儿出生一件事\"}");
  free(text);
  /* one submission of the merged form, validated once, then cut per member */
  yw_form *f = NULL;
  assert_int_equal(yw_form_parse(merged, &f, &err), 0);
  assert_string_equal(violations(f, "{\"phone\": \"13912345678\", \"babyName\": \"王一\","
                                    " \"bank\": \"农行\"}", NULL, NULL), "");
  json_t *data = js("{\"phone\": \"13912345678\", \"babyName\": \"王一\", \"bank\": \"农行\"}");
  json_t *part = yw_form_project(insurance, data);
  text = json_dumps(part, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(text, "{\"bank\":\"农行\",\"phone\":\"13912345678\"}");
  free(text);
  json_decref(part);
  json_decref(data);
  yw_form_free(f);
  json_decref(merged);
  /* the same name defined otherwise by a later member is refused by its path */
  json_t *other = js("{\"fields\": [{\"name\": \"bank\", \"type\": \"string\"},"
                     " {\"name\": \"phone\", \"type\": \"string\"}]}");
  const json_t *clash[] = {birth, insurance, other};
  assert_int_equal(yw_form_merge(clash, 3, NULL, &merged, &err), YW_EINVAL);
  assert_null(merged);
  assert_string_equal(err.path, "members[2].fields[0]");
  assert_string_equal(err.reason, "field bank differs from an earlier member's");
  json_decref(other);
  json_decref(insurance);
  json_decref(birth);
}

static void test_prefill_sources_and_kept_values(void **state) {
  (void)state;
  yw_form *f = parse_ok("{\"fields\": [{\"name\": \"who\", \"type\": \"string\","
                        " \"prefill\": \"identity.name\"},"
                        " {\"name\": \"rep\", \"type\": \"object\", \"fields\": ["
                        "  {\"name\": \"id\", \"type\": \"string\","
                        "   \"prefill\": \"identity.id_number_masked\"}]},"
                        " {\"name\": \"n\", \"type\": \"integer\"}]}");
  assert_int_equal(yw_form_prefill_sources(f),
                   YW_FORM_PREFILL_IDENTITY_NAME | YW_FORM_PREFILL_IDENTITY_ID_NUMBER_MASKED);
  json_t *data = json_loads("{\"who\": \"张三\", \"rep\": {\"id\": \"3207**********1230\"},"
                            " \"n\": 1}", 0, NULL);
  yw_form_prefill pre;
  yw_form_prefill_read(f, data, &pre);
  assert_string_equal(pre.identity_name, "张三");
  assert_string_equal(pre.identity_id_number_masked, "3207**********1230");
  assert_null(pre.company_name);
  assert_null(pre.company_uscc);
  json_decref(data);
  yw_form_free(f);
  yw_form *plain = parse_ok("{\"fields\": [{\"name\": \"n\", \"type\": \"integer\"}]}");
  assert_int_equal(yw_form_prefill_sources(plain), 0);
  yw_form_free(plain);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_good_submission_passes_and_prefill_is_the_callers),
      cmocka_unit_test(test_every_violation_is_named_by_its_path),
      cmocka_unit_test(test_required_missing_and_wrong_types),
      cmocka_unit_test(test_bounds_of_strings_numbers_and_arrays),
      cmocka_unit_test(test_a_conditional_field_is_refused_when_its_condition_fails),
      cmocka_unit_test(test_conditions_on_numbers_booleans_and_nested_fields),
      cmocka_unit_test(test_company_prefill_and_named_patterns),
      cmocka_unit_test(test_a_prefilled_field_whose_condition_fails_stays_out),
      cmocka_unit_test(test_the_root_must_be_an_object_and_unknown_keys_are_named),
      cmocka_unit_test(test_at_most_sixty_four_violations_are_kept),
      cmocka_unit_test(test_bad_definitions_are_refused_with_their_path),
      cmocka_unit_test(test_ordinary_patterns_pass_the_expansion_bound),
      cmocka_unit_test(test_at_most_two_hundred_fields),
      cmocka_unit_test(test_bundle_forms_merge_and_project_back),
      cmocka_unit_test(test_prefill_sources_and_kept_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
