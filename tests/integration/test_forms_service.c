/*
 * test_forms_service.c - application forms end to end inside the services: yw-catalog
 * and yw-applications serve in this process (support/yw_testapps.h) on a fresh database
 * with the demo seed, over real gRPC connections, PostgreSQL and Redis.
 *
 * Proves: the seeded forms are definitions yw_form takes; the catalog refuses a
 * malformed definition naming its path and writes no version; a submission against an
 * item with a form is refused naming every invalid field by path and files nothing; a
 * good one is filed, its prefilled fields set by the service and not by the applicant,
 * and the application keeps the definition; a later change of the item's form makes a
 * new version and leaves the running case's kept definition alone, and a resubmission
 * is validated against the kept one; a resident acting for a company gets its credit
 * code prefilled; a life-event bundle answers its members' forms merged into one, and a
 * bundle submission is validated once against it: errors of two members in one answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_form.h"
#include "yw_json.h"
#include "yw_log.h"
#include "yw_testapps.h"

#define APPS "/yiwang.applications.v1.ApplicationsService/"
#define CAT "/yiwang.catalog.v1.CatalogService/"
#define RENEWAL "GG00002000-320700-GA" /* 居民身份证换领, 320700-GA */
#define LICENSE_CHANGE "XK00014000-320700-SCJG" /* 营业执照变更登记 */
#define COMPANY "91350100M000100Y43"

typedef Yiwang__Applications__V1__Application Application;
typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;
typedef Yiwang__Catalog__V1__Item Item;

static yw_testapps t;

static const yw_testapps_caller RESIDENT = {YW_CALLER_PERSON, "p-forms", "", "", 2, NULL, NULL};
static const yw_testapps_caller FOR_COMPANY = {YW_CALLER_PERSON, "p-boss", "", "", 2, COMPANY,
                                                  "apply,pay,read,sign"};
static const yw_testapps_caller GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff", "320700-GA", 0,
                                            NULL, NULL};
static const yw_testapps_caller ADMIN = {YW_CALLER_STAFF, "s-admin", "platform_admin",
                                         "320700-GA", 0, NULL, NULL};

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  return yw_testapps_start(&t, 4, 0, NULL, 0);
}

static int teardown(void **state) {
  (void)state;
  yw_testapps_stop(&t);
  return 0;
}

static Google__Protobuf__Struct *struct_of(const char *text) {
  Google__Protobuf__Struct *m = yw_testapps_struct(text);
  if (m == NULL) fail_msg("bad JSON in test: %s", text);
  return m;
}

static char *json_text(const ProtobufCMessage *m) {
  char *s = NULL;
  size_t n = 0;
  assert_int_equal(yw_json_write(m, 0, &s, &n), 0);
  return s;
}

static Item *get_item(const char *code) {
  Yiwang__Catalog__V1__GetItemRequest req = YIWANG__CATALOG__V1__GET_ITEM_REQUEST__INIT;
  req.code = (char *)code;
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(yw_testapps_call(&t, &RESIDENT, NULL, CAT "GetItem", &req.base,
                                    &yiwang__catalog__v1__item__descriptor, &out, msg, sizeof msg),
                   GRPC_STATUS_OK);
  return (Item *)out;
}

/* UpsertItem of the stored item with its form replaced by def (JSON text). */
static grpc_status_code put_form(const char *code, const char *def, Item **out, char *msg,
                                 size_t msglen) {
  Item *it = get_item(code);
  Google__Protobuf__Struct *old = it->form;
  it->form = struct_of(def);
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  req.item = it;
  grpc_status_code st = yw_testapps_call(&t, &ADMIN, NULL, CAT "UpsertItem", &req.base,
                                         &yiwang__catalog__v1__item__descriptor,
                                         (ProtobufCMessage **)out, msg, msglen);
  protobuf_c_message_free_unpacked(&it->form->base, NULL);
  it->form = old;
  protobuf_c_message_free_unpacked(&it->base, NULL);
  return st;
}

static grpc_status_code submit(const yw_testapps_caller *who, const char *item, const char *form,
                               Receipt **out, char *msg, size_t msglen) {
  return yw_testapps_submit(&t, who, item, form, (ProtobufCMessage **)out, msg, msglen);
}

static long long count_applications(void) {
  char out[32];
  assert_int_equal(
      yw_testapps_query1(&t, "SELECT count(*) FROM applications.applications", NULL, out, sizeof out),
      0);
  return strtoll(out, NULL, 10);
}

static const char GOOD_RENEWAL[] =
    "{\"applicantName\": \"someone else\", \"phone\": \"13912345678\", \"reason\": \"有效期满\","
    " \"delivery\": \"邮政寄递\","
    " \"address\": {\"district\": \"海州区\", \"detail\": \"朝阳东路32号\", \"postcode\": \"222000\"}}";

static void test_seeded_forms_are_valid_definitions(void **state) {
  (void)state;
  const char *codes[] = {RENEWAL, "QR00001000-320700-GA", "XK00017000-320700-SCJG",
                         "XK00013000-320700-SCJG", LICENSE_CHANGE};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    Item *it = get_item(codes[i]);
    assert_non_null(it->form);
    json_t *def = yw_json_from_message(&it->form->base, 0);
    yw_form *f = NULL;
    yw_form_error err;
    int rc = yw_form_parse(def, &f, &err);
    if (rc != 0) fail_msg("%s: %s: %s", codes[i], err.path, err.reason);
    assert_true(yw_form_field_count(f) >= 5);
    yw_form_free(f);
    json_decref(def);
    protobuf_c_message_free_unpacked(&it->base, NULL);
  }
}

static void test_the_catalog_refuses_a_malformed_definition_by_its_path(void **state) {
  (void)state;
  Item *before = get_item(RENEWAL);
  char msg[512];
  Item *out = NULL;
  assert_int_equal(put_form(RENEWAL,
                            "{\"fields\": [{\"name\": \"phone\", \"type\": \"phone\"},"
                            " {\"name\": \"kind\", \"type\": \"enum\", \"options\": []}]}",
                            &out, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(out);
  assert_string_equal(msg, "item.form.fields[1]: options must be a list of 1 to 200 strings");
  assert_int_equal(put_form(RENEWAL, "{\"fields\": [{\"name\": \"a\", \"type\": \"text\"}]}", &out,
                            msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "item.form.fields[0]: type must be"));
  /* no version was written */
  Item *after = get_item(RENEWAL);
  assert_int_equal(after->version, before->version);
  protobuf_c_message_free_unpacked(&before->base, NULL);
  protobuf_c_message_free_unpacked(&after->base, NULL);
}

static void test_a_bad_submission_names_every_path_and_files_nothing(void **state) {
  (void)state;
  long long before = count_applications();
  char msg[1024];
  Receipt *r = NULL;
  assert_int_equal(submit(&RESIDENT, RENEWAL,
                          "{\"phone\": \"23912345678\", \"reason\": \"登记项目变更\","
                          " \"delivery\": \"邮政寄递\","
                          " \"address\": {\"district\": \"鼓楼区\", \"detail\": \"路\"},"
                          " \"nickname\": \"小王\"}",
                          &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(r);
  assert_string_equal(msg,
                      "the form has 5 invalid fields: form.phone (BAD_PHONE),"
                      " form.changeNote (REQUIRED), form.address.district (NOT_AN_OPTION),"
                      " form.address.detail (TOO_SHORT), form.nickname (UNKNOWN_FIELD)");
  assert_int_equal(count_applications(), before);
}

static void test_a_good_submission_keeps_its_definition_and_prefills(void **state) {
  (void)state;
  char msg[512];
  Receipt *r = NULL;
  assert_int_equal(submit(&RESIDENT, RENEWAL, GOOD_RENEWAL, &r, msg, sizeof msg), GRPC_STATUS_OK);
  Application *app = r->application;
  /* the applicant's name is the identity's to fill, which the caller does not carry:
   * the submitted one is dropped */
  char *form = json_text(&app->form->base);
  assert_null(strstr(form, "someone else"));
  assert_non_null(strstr(form, "\"phone\":\"13912345678\""));
  free(form);
  Item *it = get_item(RENEWAL);
  assert_non_null(app->form_definition);
  char *kept = json_text(&app->form_definition->base), *cat = json_text(&it->form->base);
  assert_string_equal(kept, cat);
  free(kept);
  free(cat);
  protobuf_c_message_free_unpacked(&it->base, NULL);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static grpc_status_code step(const yw_testapps_caller *who, const char *method, const char *number,
                             const char *reason) {
  Yiwang__Applications__V1__TransitionRequest req =
      YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  req.number = (char *)number;
  req.department = (char *)who->dept;
  req.reason = (char *)reason;
  char path[128], msg[256];
  snprintf(path, sizeof path, APPS "%s", method);
  return yw_testapps_call(&t, who, NULL, path, &req.base, &yiwang__applications__v1__application__descriptor,
                          NULL, msg, sizeof msg);
}

static grpc_status_code resubmit(const char *number, const char *form, Application **out,
                                 char *msg, size_t msglen) {
  Yiwang__Applications__V1__ResubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__RESUBMIT_APPLICATION_REQUEST__INIT;
  req.number = (char *)number;
  req.form = struct_of(form);
  req.reason = "补正";
  grpc_status_code st = yw_testapps_call(&t, &RESIDENT, NULL, APPS "ResubmitApplication", &req.base,
                                         &yiwang__applications__v1__application__descriptor,
                                         (ProtobufCMessage **)out, msg, msglen);
  protobuf_c_message_free_unpacked(&req.form->base, NULL);
  return st;
}

static void test_a_later_form_change_leaves_the_running_case_alone(void **state) {
  (void)state;
  char msg[1024];
  Receipt *r = NULL;
  assert_int_equal(submit(&RESIDENT, RENEWAL, GOOD_RENEWAL, &r, msg, sizeof msg), GRPC_STATUS_OK);
  char number[32];
  snprintf(number, sizeof number, "%s", r->application->number);
  char *kept_before = json_text(&r->application->form_definition->base);
  int32_t pinned = r->application->item_version;
  protobuf_c_message_free_unpacked(&r->base, NULL);

  /* the department adds a required field: a new version of the item */
  Item *saved = NULL;
  assert_int_equal(put_form(RENEWAL,
                            "{\"fields\": [{\"name\": \"phone\", \"type\": \"phone\", \"required\": true},"
                            " {\"name\": \"photoReceipt\", \"type\": \"string\", \"required\": true}]}",
                            &saved, msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_true(saved->version > pinned);
  protobuf_c_message_free_unpacked(&saved->base, NULL);

  /* new filings follow the new form */
  Receipt *r2 = NULL;
  assert_int_equal(submit(&RESIDENT, RENEWAL, GOOD_RENEWAL, &r2, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "form.photoReceipt (REQUIRED)"));

  /* the running case keeps its definition and is resubmitted against it */
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number, ""), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, ""), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "RequestSupplement", number, "地址不详"), GRPC_STATUS_OK);
  Application *app = NULL;
  assert_int_equal(resubmit(number, "{\"phone\": \"13912345678\", \"reason\": \"有效期满\"}", &app,
                            msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(msg, "the form has 1 invalid field: form.delivery (REQUIRED)");
  assert_null(app);
  assert_int_equal(resubmit(number,
                            "{\"phone\": \"13912345678\", \"reason\": \"有效期满\","
                            " \"delivery\": \"窗口领取\"}",
                            &app, msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_int_equal(app->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__RESUBMITTED);
  char *kept_after = json_text(&app->form_definition->base);
  assert_string_equal(kept_after, kept_before);
  free(kept_after);
  free(kept_before);
  protobuf_c_message_free_unpacked(&app->base, NULL);
}

static void test_a_company_gets_its_credit_code_prefilled(void **state) {
  (void)state;
  char msg[1024];
  Receipt *r = NULL;
  const char *form = "{\"uscc\": \"91320700MA1N2B3C4Y\", \"items\": [\"住所\"],"
                     " \"contactPhone\": \"13912345678\", \"resolutionDate\": \"2026-11-20\"}";
  /* a person acting for nobody has no credit code to prefill */
  assert_int_equal(submit(&RESIDENT, LICENSE_CHANGE, form, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(msg, "the form has 1 invalid field: form.uscc (PREFILL_MISSING)");
  assert_int_equal(submit(&FOR_COMPANY, LICENSE_CHANGE, form, &r, msg, sizeof msg), GRPC_STATUS_OK);
  char *filed = json_text(&r->application->form->base);
  assert_non_null(strstr(filed, "\"uscc\":\"" COMPANY "\""));
  free(filed);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_a_bundle_answers_one_merged_form(void **state) {
  (void)state;
  Yiwang__Catalog__V1__GetBundleRequest req = YIWANG__CATALOG__V1__GET_BUNDLE_REQUEST__INIT;
  req.code = "newborn"; /* 出生医学证明, 出生登记 (a form), 城乡居民医保参保 */
  ProtobufCMessage *out = NULL;
  char msg[256];
  assert_int_equal(yw_testapps_call(&t, &RESIDENT, NULL, CAT "GetBundle", &req.base,
                                    &yiwang__catalog__v1__bundle__descriptor, &out, msg, sizeof msg),
                   GRPC_STATUS_OK);
  Yiwang__Catalog__V1__Bundle *b = (Yiwang__Catalog__V1__Bundle *)out;
  assert_int_equal(b->n_items, 3);
  assert_null(b->items[0]->form);
  assert_non_null(b->items[1]->form);
  assert_non_null(b->form);
  json_t *merged = yw_json_from_message(&b->form->base, 0);
  json_t *member = yw_json_from_message(&b->items[1]->form->base, 0);
  assert_string_equal(json_string_value(json_object_get(merged, "title")), "新生儿出生一件事");
  assert_true(json_equal(json_object_get(merged, "fields"), json_object_get(member, "fields")));
  json_decref(merged);
  json_decref(member);
  protobuf_c_message_free_unpacked(out, NULL);
}

static long long count_of(const char *sql) {
  char out[32];
  assert_int_equal(yw_testapps_query1(&t, sql, NULL, out, sizeof out), 0);
  return strtoll(out, NULL, 10);
}

static grpc_status_code submit_bundle(const char *code, const char *form,
                                      Yiwang__Applications__V1__SubmitBundleResponse **out,
                                      char *msg, size_t msglen) {
  Yiwang__Applications__V1__SubmitBundleRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_BUNDLE_REQUEST__INIT;
  req.bundle_code = (char *)code;
  req.form = struct_of(form);
  grpc_status_code st = yw_testapps_call(
      &t, &RESIDENT, NULL, APPS "SubmitBundle", &req.base,
      &yiwang__applications__v1__submit_bundle_response__descriptor, (ProtobufCMessage **)out,
      msg, msglen);
  protobuf_c_message_free_unpacked(&req.form->base, NULL);
  return st;
}

/* The newborn bundle with a second member that has a form (城乡居民医保参保 gets one):
 * a submission with an error in each of the two members answers both paths in one
 * INVALID_ARGUMENT and files nothing; a good one gives each member its own fields
 * (projected from the merged form), and the member without a form the whole form. */
static void test_a_bundle_is_validated_once_against_its_merged_form(void **state) {
  (void)state;
  char msg[1024];
  Item *saved = NULL;
  assert_int_equal(put_form("GG00032000-320700-YB",
                            "{\"fields\": [{\"name\": \"insuredCategory\", \"type\": \"enum\","
                            " \"required\": true, \"options\": [\"新生儿\", \"学生\"]},"
                            " {\"name\": \"bankCard\", \"type\": \"string\", \"namedPattern\": \"digits\"}]}",
                            &saved, msg, sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&saved->base, NULL);
  long long apps = count_applications();
  long long filings = count_of("SELECT count(*) FROM applications.bundle_filings");
  /* 出生登记: a bad phone; 医保参保: a category not offered and a card of letters */
  const char *bad =
      "{\"name\": \"李四\", \"relation\": \"父亲\", \"phone\": \"23900000021\","
      " \"children\": [{\"name\": \"李小宝\", \"sex\": \"男\", \"birthDate\": \"2026-11-28\","
      " \"birthCertificateNo\": \"P320000123\"}], \"followParent\": \"随父\","
      " \"fatherIdNumber\": \"320706198803031239\", \"motherIdNumber\": \"320706199004042243\","
      " \"insuredCategory\": \"退休\", \"bankCard\": \"abc\"}";
  Yiwang__Applications__V1__SubmitBundleResponse *r = NULL;
  assert_int_equal(submit_bundle("newborn", bad, &r, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(r);
  assert_string_equal(msg, "the form has 3 invalid fields: form.phone (BAD_PHONE),"
                           " form.insuredCategory (NOT_AN_OPTION), form.bankCard (PATTERN_MISMATCH)");
  assert_int_equal(count_applications(), apps);
  assert_int_equal(count_of("SELECT count(*) FROM applications.bundle_filings"), filings);

  /* a good one: each member with a form keeps its own fields, the one without all */
  const char *good =
      "{\"name\": \"李四\", \"relation\": \"父亲\", \"phone\": \"13900000021\","
      " \"children\": [{\"name\": \"李小宝\", \"sex\": \"男\", \"birthDate\": \"2026-11-28\","
      " \"birthCertificateNo\": \"P320000123\"}], \"followParent\": \"随父\","
      " \"fatherIdNumber\": \"320706198803031239\", \"motherIdNumber\": \"320706199004042243\","
      " \"insuredCategory\": \"新生儿\"}";
  assert_int_equal(submit_bundle("newborn", good, &r, msg, sizeof msg), GRPC_STATUS_OK);
  assert_int_equal(r->filing->n_applications, 3);
  char *whole = json_text(&r->filing->applications[0]->form->base);
  char *registration = json_text(&r->filing->applications[1]->form->base);
  char *insurance = json_text(&r->filing->applications[2]->form->base);
  assert_non_null(strstr(whole, "\"name\":\"李四\""));
  assert_non_null(strstr(whole, "insuredCategory"));
  assert_non_null(strstr(registration, "\"relation\":\"父亲\""));
  assert_null(strstr(registration, "insuredCategory"));
  assert_null(strstr(registration, "李四"));
  assert_string_equal(insurance, "{\"insuredCategory\":\"新生儿\"}");
  free(whole);
  free(registration);
  free(insurance);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(count_applications(), apps + 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seeded_forms_are_valid_definitions),
      cmocka_unit_test(test_the_catalog_refuses_a_malformed_definition_by_its_path),
      cmocka_unit_test(test_a_bad_submission_names_every_path_and_files_nothing),
      cmocka_unit_test(test_a_good_submission_keeps_its_definition_and_prefills),
      cmocka_unit_test(test_a_later_form_change_leaves_the_running_case_alone),
      cmocka_unit_test(test_a_company_gets_its_credit_code_prefilled),
      cmocka_unit_test(test_a_bundle_answers_one_merged_form),
      cmocka_unit_test(test_a_bundle_is_validated_once_against_its_merged_form),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
