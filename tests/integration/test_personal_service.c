/*
 * test_personal_service.c - the applicant's personal data in yw-applications:
 * yw-identity, yw-catalog and yw-applications serve in this process
 * (support/yw_testapps.h, with_identity) on a fresh database with the demo seed, over real
 * gRPC connections (yw-applications calls yw-identity as a forwarded call), PostgreSQL
 * and Redis. The residents' accounts are rows of identity.persons written with the
 * identity's data key, as a real-name check leaves them.
 *
 * Proves: GetVerifiedIdentity refuses a call straight from the gateway (no via=); a
 * form's prefilled fields take the verified name and masked ID number from yw-identity
 * even when the client sent others, and keep them through a resubmission; a company's
 * name comes from yw-identity for a resident acting for it; a required prefilled field
 * of a resident at real-name level 1 is PREFILL_MISSING with nothing filed; with
 * yw-identity down a submission answers UNAVAILABLE and files nothing. The form's row
 * holds no personal data in clear; the applicant and the department's staff read it
 * whole; a row kept in clear is re-encrypted by what a start runs. A license names its
 * holder as yw-identity does at issue (a person masked, a company by its name), kept
 * encrypted, read by the holder and the issuer, never in a verification; yw-identity
 * records the read; with it down the completion is UNAVAILABLE and changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "licenses.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/applications/v1/licenses.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yiwang/identity/v1/identity.pb-c.h"
#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_json.h"
#include "yw_log.h"
#include "yw_seal.h"
#include "yw_testapps.h"

#define APPS "/yiwang.applications.v1.ApplicationsService/"
#define CAT "/yiwang.catalog.v1.CatalogService/"
#define IDN "/yiwang.identity.v1.IdentityService/"
#define RENEWAL "GG00002000-320700-GA"          /* 居民身份证换领, 320700-GA */
#define LICENSE_CHANGE "XK00014000-320700-SCJG" /* 营业执照变更登记 */
#define COMPANY "91350100M000100Y43"
#define COMPANY_NAME "连云港海州示范科技有限公司"
#define ZHANG_ID "320706199001011230"

typedef Yiwang__Applications__V1__Application Application;
typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;
typedef Yiwang__Catalog__V1__Item Item;

static yw_testapps t;
static yw_seal *seal;
static yw_rpc_service lic_svc;

static const yw_testapps_caller ZHANG = {YW_CALLER_PERSON, "p-zhang", "", "", 2, NULL, NULL};
static const yw_testapps_caller LOW = {YW_CALLER_PERSON, "p-low", "", "", 1, NULL, NULL};
static const yw_testapps_caller BOSS = {YW_CALLER_PERSON, "p-boss", "", "", 2, COMPANY,
                                           "apply,pay,read,sign"};
static const yw_testapps_caller GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff",
                                            "320700-GA",     0,      NULL, NULL};
static const yw_testapps_caller ADMIN = {YW_CALLER_STAFF, "s-admin", "platform_admin",
                                         "320700-GA",     0,         NULL, NULL};

static void sql(const char *text, const char *param) {
  char out[64];
  assert_int_equal(yw_testapps_query1(&t, text, param, out, sizeof out), 0);
}

/* An account of subject as a real-name check leaves it: name and ID number encrypted
 * with the identity's data key (name NULL: a level-1 account, phone only). */
static void person(const char *subject, const char *name, const char *id) {
  char name_enc[512] = "", id_enc[512] = "", params[1200];
  if (name != NULL) {
    assert_int_equal(
        yw_encrypt(t.idn.data_key, name, strlen(name), subject, name_enc, sizeof name_enc), 0);
    assert_int_equal(yw_encrypt(t.idn.data_key, id, strlen(id), subject, id_enc, sizeof id_enc), 0);
  }
  snprintf(params, sizeof params, "%s|%s|%s", subject, name_enc, id_enc);
  sql("INSERT INTO identity.persons (subject, phone_hash, phone_enc, name_enc, id_card_enc,"
      " realname_level) SELECT split_part($1, '|', 1), 'h-' || split_part($1, '|', 1), 'x',"
      " split_part($1, '|', 2), split_part($1, '|', 3),"
      " CASE WHEN split_part($1, '|', 2) = '' THEN 1 ELSE 2 END RETURNING id",
      params);
}

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  t.with_identity = 1;
  /* the deployment's seal, so that completions issue licenses */
  char *priv = NULL, *pub = NULL;
  int src = yw_seal_generate(&priv, &pub) != 0 || yw_seal_from_pem(priv, strlen(priv), &seal) != 0;
  free(priv);
  free(pub);
  if (src) return -1;
  t.app.seal = seal;
  licenses_service_init(&lic_svc, &t.app);
  const yw_rpc_service *more[] = {&lic_svc};
  if (yw_testapps_start(&t, 4, 0, more, 1) != 0) return -1;
  person("p-zhang", "张三", ZHANG_ID);
  person("p-boss", "王五", "320706198501011234");
  person("p-low", NULL, NULL);
  /* p-boss is the company's legal representative, bound to it */
  sql("INSERT INTO identity.legal_persons (credit_code, name, legal_rep_enc, legal_rep_id_sha256)"
      " VALUES ($1, '" COMPANY_NAME "', 'x', repeat('b', 64)) RETURNING credit_code",
      COMPANY);
  sql("INSERT INTO identity.person_legal_persons (person_id, credit_code, role, rep_id_sha256)"
      " SELECT id, $1, 'representative', repeat('b', 64) FROM identity.persons"
      " WHERE subject = 'p-boss' RETURNING person_id",
      COMPANY);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  yw_testapps_stop(&t);
  yw_seal_free(seal);
  return 0;
}

static Google__Protobuf__Struct *struct_of(const char *text) {
  Google__Protobuf__Struct *m = yw_testapps_struct(text);
  if (m == NULL) fail_msg("bad JSON in test: %s", text);
  return m;
}

/* The value of key in the form of app ("" when absent). */
static const char *form_value(const Application *app, const char *key, char *out, size_t size) {
  json_t *j = yw_json_from_message(&app->form->base, 0);
  const char *v = json_string_value(json_object_get(j, key));
  snprintf(out, size, "%s", v != NULL ? v : "");
  json_decref(j);
  return out;
}

/* The number sql (one text parameter, or none) counts. */
static long long count(const char *sql_text, const char *param) {
  char out[32];
  assert_int_equal(yw_testapps_query1(&t, sql_text, param, out, sizeof out), 0);
  return strtoll(out, NULL, 10);
}
#define APPLICATIONS "SELECT count(*) FROM applications.applications"

static grpc_status_code step(const yw_testapps_caller *who, const char *method,
                             const char *number) {
  Yiwang__Applications__V1__TransitionRequest req =
      YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  req.number = (char *)number;
  req.department = (char *)who->dept;
  req.reason = "补正材料";
  char path[128], msg[256];
  snprintf(path, sizeof path, APPS "%s", method);
  return yw_testapps_call(&t, who, NULL, path, &req.base,
                          &yiwang__applications__v1__application__descriptor, NULL, msg,
                          sizeof msg);
}

static const char GOOD_RENEWAL[] =
    "{\"applicantName\": \"李四\", \"idNumber\": \"110101199003070000\","
    " \"phone\": \"13912345678\", \"reason\": \"有效期满\", \"delivery\": \"窗口领取\"}";

static void test_identity_answers_services_only(void **state) {
  (void)state;
  Yiwang__Identity__V1__GetVerifiedIdentityRequest req =
      YIWANG__IDENTITY__V1__GET_VERIFIED_IDENTITY_REQUEST__INIT;
  char msg[256] = "";
  /* straight from the gateway (via= empty): refused, for oneself too */
  assert_int_equal(
      yw_testapps_call(&t, &ZHANG, NULL, IDN "GetVerifiedIdentity", &req.base,
                       &yiwang__identity__v1__verified_identity__descriptor, NULL, msg, sizeof msg),
      GRPC_STATUS_PERMISSION_DENIED);
  assert_non_null(strstr(msg, "services only"));
  req.subject = "p-zhang";
  assert_int_equal(
      yw_testapps_call(&t, &GA_CLERK, NULL, IDN "GetVerifiedIdentity", &req.base,
                       &yiwang__identity__v1__verified_identity__descriptor, NULL, msg, sizeof msg),
      GRPC_STATUS_PERMISSION_DENIED);
}

static void test_prefilled_fields_take_the_verified_identity(void **state) {
  (void)state;
  char msg[512] = "", v[128], masked[32];
  Receipt *r = NULL;
  /* the client sent another name and ID number: the verified ones are filed */
  assert_int_equal(yw_testapps_submit(&t, &ZHANG, RENEWAL, GOOD_RENEWAL, (ProtobufCMessage **)&r,
                                      msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_string_equal(form_value(r->application, "applicantName", v, sizeof v), "张三");
  yw_mask_id_card(ZHANG_ID, masked, sizeof masked);
  assert_string_equal(form_value(r->application, "idNumber", v, sizeof v), masked);
  assert_string_equal(masked, "3207**********1230");
  assert_string_equal(form_value(r->application, "phone", v, sizeof v), "13912345678");

  /* a resubmission keeps the values verified at filing, whatever it sends */
  char number[24];
  snprintf(number, sizeof number, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "RequestSupplement", number), GRPC_STATUS_OK);
  Yiwang__Applications__V1__ResubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__RESUBMIT_APPLICATION_REQUEST__INIT;
  req.number = number;
  req.form = struct_of(
      "{\"applicantName\": \"王二\", \"phone\": \"13912345679\","
      " \"reason\": \"有效期满\", \"delivery\": \"窗口领取\"}");
  req.reason = "补正";
  Application *app = NULL;
  assert_int_equal(yw_testapps_call(&t, &ZHANG, NULL, APPS "ResubmitApplication", &req.base,
                                    &yiwang__applications__v1__application__descriptor,
                                    (ProtobufCMessage **)&app, msg, sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&req.form->base, NULL);
  assert_string_equal(form_value(app, "applicantName", v, sizeof v), "张三");
  assert_string_equal(form_value(app, "idNumber", v, sizeof v), masked);
  assert_string_equal(form_value(app, "phone", v, sizeof v), "13912345679");
  protobuf_c_message_free_unpacked(&app->base, NULL);
}

static void test_a_company_gets_its_name_from_identity(void **state) {
  (void)state;
  char msg[512] = "", v[128];
  Receipt *r = NULL;
  const char *form =
      "{\"uscc\": \"91320700MA1N2B3C4Y\", \"companyName\": \"别的公司\","
      " \"items\": [\"住所\"], \"contactPhone\": \"13912345678\","
      " \"resolutionDate\": \"2026-11-20\"}";
  assert_int_equal(
      yw_testapps_submit(&t, &BOSS, LICENSE_CHANGE, form, (ProtobufCMessage **)&r, msg, sizeof msg),
      GRPC_STATUS_OK);
  assert_string_equal(form_value(r->application, "uscc", v, sizeof v), COMPANY);
  assert_string_equal(form_value(r->application, "companyName", v, sizeof v), COMPANY_NAME);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* An item a level-1 resident may apply for, its form asking for the verified name. */
static void level1_item_with_required_name(char code[64]) {
  assert_int_equal(
      yw_testapps_query1(&t,
                         "SELECT impl_code FROM catalog.items WHERE status = 'published'"
                         " AND COALESCE((details->>'minRealnameLevel')::int, 0) <= 1"
                         " ORDER BY impl_code LIMIT 1",
                         NULL, code, 64),
      0);
  assert_true(code[0] != '\0');
  Yiwang__Catalog__V1__GetItemRequest get = YIWANG__CATALOG__V1__GET_ITEM_REQUEST__INIT;
  get.code = code;
  Item *it = NULL;
  assert_int_equal(
      yw_testapps_call(&t, &ADMIN, NULL, CAT "GetItem", &get.base,
                       &yiwang__catalog__v1__item__descriptor, (ProtobufCMessage **)&it, NULL, 0),
      GRPC_STATUS_OK);
  Google__Protobuf__Struct *old = it->form;
  it->form = struct_of(
      "{\"fields\": [{\"name\": \"applicantName\", \"type\": \"string\","
      " \"prefill\": \"identity.name\", \"required\": true},"
      " {\"name\": \"phone\", \"type\": \"phone\", \"required\": true},"
      " {\"name\": \"idCard\", \"type\": \"id_card\"}]}");
  Yiwang__Catalog__V1__UpsertItemRequest req = YIWANG__CATALOG__V1__UPSERT_ITEM_REQUEST__INIT;
  req.item = it;
  char msg[256] = "";
  assert_int_equal(yw_testapps_call(&t, &ADMIN, NULL, CAT "UpsertItem", &req.base,
                                    &yiwang__catalog__v1__item__descriptor, NULL, msg, sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&it->form->base, NULL);
  it->form = old;
  protobuf_c_message_free_unpacked(&it->base, NULL);
}

static void test_a_required_prefill_without_a_verified_value_is_refused(void **state) {
  (void)state;
  char code[64], msg[512] = "";
  level1_item_with_required_name(code);
  long long before = count(APPLICATIONS, NULL);
  assert_int_equal(yw_testapps_submit(&t, &LOW, code,
                                      "{\"applicantName\": \"张三\", \"phone\": \"13912345678\"}",
                                      NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(msg, "the form has 1 invalid field: form.applicantName (PREFILL_MISSING)");
  assert_int_equal(count(APPLICATIONS, NULL), before);
  /* the verified resident files it, named as verified */
  Receipt *r = NULL;
  char v[64];
  assert_int_equal(yw_testapps_submit(&t, &ZHANG, code, "{\"phone\": \"13912345678\"}",
                                      (ProtobufCMessage **)&r, msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_string_equal(form_value(r->application, "applicantName", v, sizeof v), "张三");
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_identity_down_files_nothing(void **state) {
  (void)state;
  /* a channel to a port nothing listens on: yw-identity is down */
  yw_rpc_channel *down = yw_rpc_channel_new(t.client, "127.0.0.1:1", 1, 1 << 20);
  assert_non_null(down);
  t.app.identity = down;
  long long before = count(APPLICATIONS, NULL);
  char msg[512] = "";
  grpc_status_code st =
      yw_testapps_submit(&t, &ZHANG, RENEWAL, GOOD_RENEWAL, NULL, msg, sizeof msg);
  t.app.identity = t.channel;
  yw_rpc_channel_free(down);
  assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(msg, "verified identity"));
  assert_int_equal(count(APPLICATIONS, NULL), before);
}

/* GetApplication of number as who; the answer into *out (NULL: dropped). */
static grpc_status_code get_app(const yw_testapps_caller *who, const char *number,
                                Application **out) {
  Yiwang__Applications__V1__GetApplicationRequest req =
      YIWANG__APPLICATIONS__V1__GET_APPLICATION_REQUEST__INIT;
  req.number = (char *)number;
  return yw_testapps_call(&t, who, NULL, APPS "GetApplication", &req.base,
                          &yiwang__applications__v1__application__descriptor,
                          (ProtobufCMessage **)out, NULL, 0);
}

/* How many rows of applications.applications hold $1 anywhere in them. */
#define ROWS_HOLDING \
  "SELECT count(*) FROM applications.applications a WHERE a::text LIKE '%' || $1 || '%'"

static void test_the_form_is_encrypted_at_rest(void **state) {
  (void)state;
  char code[64], msg[512] = "", v[128];
  level1_item_with_required_name(code);
  Receipt *r = NULL;
  assert_int_equal(yw_testapps_submit(&t, &ZHANG, code,
                                      "{\"phone\": \"13987654321\", \"idCard\": \"" ZHANG_ID "\"}",
                                      (ProtobufCMessage **)&r, msg, sizeof msg),
                   GRPC_STATUS_OK);
  char number[24], dept[72];
  snprintf(number, sizeof number, "%s", r->application->number);
  snprintf(dept, sizeof dept, "%s", r->application->lead_department);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* the row holds neither the ID number, the phone number nor the name in clear */
  assert_int_equal(count(ROWS_HOLDING, ZHANG_ID), 0);
  assert_int_equal(count(ROWS_HOLDING, "13987654321"), 0);
  assert_int_equal(count(ROWS_HOLDING, "张三"), 0);
  assert_int_equal(count("SELECT count(*) FROM applications.applications WHERE number = $1"
                         " AND form IS NULL AND form_enc ~ '^[0-9a-f]+$'",
                         number),
                   1);
  /* the applicant and the department's staff read it back whole */
  const yw_testapps_caller staff = {YW_CALLER_STAFF, "s-dept", "dept_staff", dept, 0, NULL, NULL};
  const yw_testapps_caller *readers[] = {&ZHANG, &staff};
  for (size_t i = 0; i < 2; i++) {
    Application *app = NULL;
    assert_int_equal(get_app(readers[i], number, &app), GRPC_STATUS_OK);
    assert_string_equal(form_value(app, "idCard", v, sizeof v), ZHANG_ID);
    assert_string_equal(form_value(app, "phone", v, sizeof v), "13987654321");
    assert_string_equal(form_value(app, "applicantName", v, sizeof v), "张三");
    protobuf_c_message_free_unpacked(&app->base, NULL);
  }
  /* nobody else */
  const yw_testapps_caller other = {YW_CALLER_STAFF, "s-other", "dept_staff", "320700-XX", 0, NULL, NULL};
  assert_int_equal(get_app(&other, number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_app(&LOW, number, NULL), GRPC_STATUS_NOT_FOUND);
  /* a ciphertext copied to another row does not decrypt there (the number is its
   * associated data): that row fails to read rather than show the other's form */
  char moved[24];
  assert_int_equal(yw_testapps_submit(&t, &ZHANG, code, "{\"phone\": \"13900000000\"}",
                                      (ProtobufCMessage **)&r, msg, sizeof msg),
                   GRPC_STATUS_OK);
  snprintf(moved, sizeof moved, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  char own[1024], both[1100];
  assert_int_equal(yw_testapps_query1(&t,
                                      "SELECT form_enc FROM applications.applications"
                                      " WHERE number = $1",
                                      moved, own, sizeof own),
                   0);
  snprintf(both, sizeof both, "%s|%s", number, moved);
  sql("UPDATE applications.applications SET form_enc = (SELECT form_enc FROM"
      " applications.applications WHERE number = split_part($1, '|', 1))"
      " WHERE number = split_part($1, '|', 2) RETURNING id",
      both);
  assert_int_equal(get_app(&ZHANG, moved, NULL), GRPC_STATUS_INTERNAL);
  snprintf(both, sizeof both, "%s|%s", moved, own);
  sql("UPDATE applications.applications SET form_enc = split_part($1, '|', 2)"
      " WHERE number = split_part($1, '|', 1) RETURNING id",
      both);
  assert_int_equal(get_app(&ZHANG, moved, NULL), GRPC_STATUS_OK);
}

static void test_forms_kept_in_clear_are_encrypted_at_start(void **state) {
  (void)state;
  char code[64], msg[512] = "", v[128];
  level1_item_with_required_name(code);
  Receipt *r = NULL;
  assert_int_equal(yw_testapps_submit(&t, &ZHANG, code, "{\"phone\": \"13911112222\"}",
                                      (ProtobufCMessage **)&r, msg, sizeof msg),
                   GRPC_STATUS_OK);
  char number[24];
  snprintf(number, sizeof number, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* a row as filed before migration 013, its form in clear (the constraint that keeps
   * new rows from that set aside meanwhile) */
  sql("ALTER TABLE applications.applications DROP CONSTRAINT applications_form_in_clear_retired",
      NULL);
  sql("UPDATE applications.applications SET form_enc = NULL,"
      " form = '{\"applicantName\": \"张三\", \"phone\": \"13911112222\"}' WHERE number = $1"
      " RETURNING id",
      number);
  sql("ALTER TABLE applications.applications ADD CONSTRAINT applications_form_in_clear_retired"
      " CHECK (form IS NULL) NOT VALID",
      NULL);
  assert_int_equal(count(ROWS_HOLDING, "13911112222"), 1);
  /* read as it is until the service re-encrypts it */
  Application *app = NULL;
  assert_int_equal(get_app(&ZHANG, number, &app), GRPC_STATUS_OK);
  assert_string_equal(form_value(app, "phone", v, sizeof v), "13911112222");
  protobuf_c_message_free_unpacked(&app->base, NULL);
  /* what a start does, in batches of one here */
  long long done = 0;
  yw_pg_error err;
  assert_int_equal(applications_forms_encrypt(&t.app, 1, &done, &err), 0);
  assert_int_equal(done, 1);
  assert_int_equal(count(ROWS_HOLDING, "13911112222"), 0);
  char kept[256];
  assert_int_equal(yw_testapps_form(&t, number, kept, sizeof kept), 0);
  assert_non_null(strstr(kept, "13911112222"));
  assert_int_equal(get_app(&ZHANG, number, &app), GRPC_STATUS_OK);
  assert_string_equal(form_value(app, "phone", v, sizeof v), "13911112222");
  protobuf_c_message_free_unpacked(&app->base, NULL);
  /* nothing is left: a second run does nothing */
  assert_int_equal(applications_forms_encrypt(&t.app, 1, &done, &err), 0);
  assert_int_equal(done, 0);
}

static void test_kept_answers_hold_no_form_in_clear(void **state) {
  (void)state;
  char code[64], msg[512] = "", v[128];
  level1_item_with_required_name(code);
  Yiwang__Applications__V1__SubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  req.item_code = code;
  req.form = struct_of("{\"phone\": \"13955556666\", \"idCard\": \"" ZHANG_ID "\"}");
  Receipt *first = NULL, *again = NULL;
  const char *key = "personal-kept-answer-1";
  assert_int_equal(
      yw_testapps_call(&t, &ZHANG, key, APPS "SubmitApplication", &req.base,
                       &yiwang__applications__v1__submit_application_response__descriptor,
                       (ProtobufCMessage **)&first, msg, sizeof msg),
      GRPC_STATUS_OK);
  /* the kept answer (the row; its Redis copy holds the same bytes) carries the
   * application and its form, sealed: neither number is in it */
  assert_int_equal(count("SELECT count(*) FROM applications.idempotency WHERE key = $1", key), 1);
  assert_int_equal(count("SELECT count(*) FROM applications.idempotency WHERE key = $1 AND"
                         " (position(convert_to('13955556666', 'UTF8') in response) > 0 OR"
                         " position(convert_to('" ZHANG_ID "', 'UTF8') in response) > 0)",
                         key),
                   0);
  /* given again whole, from PostgreSQL and then from Redis */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(
        yw_testapps_call(&t, &ZHANG, key, APPS "SubmitApplication", &req.base,
                         &yiwang__applications__v1__submit_application_response__descriptor,
                         (ProtobufCMessage **)&again, msg, sizeof msg),
        GRPC_STATUS_OK);
    assert_string_equal(again->application->number, first->application->number);
    assert_string_equal(form_value(again->application, "idCard", v, sizeof v), ZHANG_ID);
    assert_string_equal(form_value(again->application, "phone", v, sizeof v), "13955556666");
    protobuf_c_message_free_unpacked(&again->base, NULL);
  }
  protobuf_c_message_free_unpacked(&first->base, NULL);
  protobuf_c_message_free_unpacked(&req.form->base, NULL);
}

static void test_a_bundle_prefills_from_the_verified_identity(void **state) {
  (void)state;
  Yiwang__Applications__V1__SubmitBundleRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_BUNDLE_REQUEST__INIT;
  req.bundle_code = "newborn";
  /* 出生登记's applicantName prefills identity.name: the client names someone else */
  req.form = struct_of(
      "{\"applicantName\": \"王二\", \"relation\": \"父亲\", \"phone\": \"13900000021\","
      " \"children\": [{\"name\": \"李小宝\", \"sex\": \"男\", \"birthDate\": \"2026-11-28\","
      " \"birthCertificateNo\": \"P320000123\"}], \"followParent\": \"随父\","
      " \"fatherIdNumber\": \"320706198803031239\", \"motherIdNumber\": \"320706199004042243\"}");
  Yiwang__Applications__V1__SubmitBundleResponse *r = NULL;
  char msg[512] = "", v[64];
  assert_int_equal(yw_testapps_call(&t, &ZHANG, NULL, APPS "SubmitBundle", &req.base,
                                    &yiwang__applications__v1__submit_bundle_response__descriptor,
                                    (ProtobufCMessage **)&r, msg, sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&req.form->base, NULL);
  size_t named = 0;
  for (size_t i = 0; i < r->filing->n_applications; i++) {
    form_value(r->filing->applications[i], "applicantName", v, sizeof v);
    if (v[0] == '\0') continue;
    assert_string_equal(v, "张三");
    named++;
  }
  assert_true(named >= 1);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- the holder of a license ---------------------------------------------------------- */

#define LICS "/yiwang.applications.v1.LicensesService/"
#define LIC_ITEM "XK00001000-320700-GA"    /* 普通护照签发: result 证照, 320700-GA alone */
#define SCJG_ITEM "XK00015000-320700-SCJG" /* 企业注销登记: result 证照, 320700-SCJG alone */
typedef Yiwang__Applications__V1__License License;

/* An application of item by who, taken to APPROVED by staff (the lead department's). */
static void approved(const yw_testapps_caller *who, const yw_testapps_caller *staff,
                     const char *item, char number[24]) {
  Receipt *r = NULL;
  char msg[256] = "";
  assert_int_equal(
      yw_testapps_submit(&t, who, item, "{}", (ProtobufCMessage **)&r, msg, sizeof msg),
      GRPC_STATUS_OK);
  snprintf(number, 24, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(step(staff, "AcceptApplication", number), GRPC_STATUS_OK);
  assert_int_equal(step(staff, "StartReview", number), GRPC_STATUS_OK);
  Yiwang__Applications__V1__DecideRequest req = YIWANG__APPLICATIONS__V1__DECIDE_REQUEST__INIT;
  req.department = (char *)staff->dept;
  req.number = number;
  req.decision = YIWANG__APPLICATIONS__V1__DECISION__APPROVE;
  req.reason = "";
  assert_int_equal(
      yw_testapps_call(&t, staff, NULL, APPS "DecideApplication", &req.base,
                       &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
      GRPC_STATUS_OK);
  /* a fee paid online is paid before completion (test_application_fees proves how) */
  assert_int_equal(yw_testapps_fee_paid(&t, number), 0);
}

static grpc_status_code get_license(const yw_testapps_caller *who, const char *number,
                                    License **out) {
  Yiwang__Applications__V1__GetLicenseRequest req =
      YIWANG__APPLICATIONS__V1__GET_LICENSE_REQUEST__INIT;
  req.number = (char *)number;
  return yw_testapps_call(&t, who, NULL, LICS "GetLicense", &req.base,
                          &yiwang__applications__v1__license__descriptor, (ProtobufCMessage **)out,
                          NULL, 0);
}

/* The license application number was completed with, into out ("" none). */
static void license_of(const char *app_number, char out[32]) {
  assert_int_equal(yw_testapps_query1(&t,
                                      "SELECT number FROM applications.licenses"
                                      " WHERE application_number = $1",
                                      app_number, out, 32),
                   0);
}

static void test_a_license_names_its_holder_masked(void **state) {
  (void)state;
  char app_number[24], number[32], masked[64];
  approved(&ZHANG, &GA_CLERK, LIC_ITEM, app_number);
  long long reads = count(
      "SELECT count(*) FROM identity.audit_log WHERE action ="
      " 'read_personal_data' AND target_subject = $1",
      ZHANG.subject);
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", app_number), GRPC_STATUS_OK);
  license_of(app_number, number);
  assert_true(number[0] != '\0');
  yw_mask_name("张三", masked, sizeof masked);
  assert_string_equal(masked, "*三");
  /* the holder and the issuer read it named */
  const yw_testapps_caller *readers[] = {&ZHANG, &GA_CLERK};
  for (size_t i = 0; i < 2; i++) {
    License *l = NULL;
    assert_int_equal(get_license(readers[i], number, &l), GRPC_STATUS_OK);
    assert_string_equal(l->holder_name, masked);
    /* not in the signed content */
    assert_null(strstr(l->content, masked));
    protobuf_c_message_free_unpacked(&l->base, NULL);
  }
  /* kept encrypted: neither the name nor its masked form in the row */
  assert_int_equal(count("SELECT count(*) FROM applications.licenses l WHERE l::text LIKE '%' || $1"
                         " || '%'",
                         masked),
                   0);
  assert_int_equal(count("SELECT count(*) FROM applications.licenses WHERE number = $1"
                         " AND holder_name_enc ~ '^[0-9a-f]+$'",
                         number),
                   1);
  /* yw-identity recorded the staff read of the holder's name */
  assert_int_equal(count("SELECT count(*) FROM identity.audit_log WHERE action ="
                         " 'read_personal_data' AND target_subject = $1",
                         ZHANG.subject),
                   reads + 1);
  /* the public verification never shows the holder */
  char code[32];
  License *l = NULL;
  assert_int_equal(get_license(&ZHANG, number, &l), GRPC_STATUS_OK);
  snprintf(code, sizeof code, "%s", l->verify_code);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  Yiwang__Applications__V1__VerifyLicenseRequest vreq =
      YIWANG__APPLICATIONS__V1__VERIFY_LICENSE_REQUEST__INIT;
  vreq.number = number;
  vreq.code = code;
  const yw_testapps_caller nobody = {YW_CALLER_ANONYMOUS, "", "", "", 0, NULL, NULL};
  ProtobufCMessage *v = NULL;
  assert_int_equal(
      yw_testapps_call(&t, &nobody, NULL, LICS "VerifyLicense", &vreq.base,
                       &yiwang__applications__v1__license_verification__descriptor, &v, NULL, 0),
      GRPC_STATUS_OK);
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(yw_json_write(v, 0, &text, &len), 0);
  assert_non_null(strstr(text, "LICENSE_VALID"));
  assert_null(strstr(text, "三"));
  assert_null(strstr(text, ZHANG.subject));
  free(text);
  protobuf_c_message_free_unpacked(v, NULL);
}

static void test_a_company_license_names_the_company(void **state) {
  (void)state;
  const yw_testapps_caller scjg = {YW_CALLER_STAFF, "s-scjg", "dept_staff", "320700-SCJG", 0, NULL, NULL};
  char app_number[24], number[32];
  approved(&BOSS, &scjg, SCJG_ITEM, app_number);
  assert_int_equal(step(&scjg, "CompleteApplication", app_number), GRPC_STATUS_OK);
  license_of(app_number, number);
  License *l = NULL;
  assert_int_equal(get_license(&BOSS, number, &l), GRPC_STATUS_OK);
  assert_string_equal(l->holder_kind, "company");
  assert_string_equal(l->holder_name, COMPANY_NAME);
  protobuf_c_message_free_unpacked(&l->base, NULL);
}

static void test_identity_down_completes_nothing(void **state) {
  (void)state;
  char app_number[24], number[32];
  approved(&ZHANG, &GA_CLERK, LIC_ITEM, app_number);
  yw_rpc_channel *down = yw_rpc_channel_new(t.client, "127.0.0.1:1", 1, 1 << 20);
  assert_non_null(down);
  t.app.identity = down;
  grpc_status_code st = step(&GA_CLERK, "CompleteApplication", app_number);
  t.app.identity = t.channel;
  yw_rpc_channel_free(down);
  assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
  license_of(app_number, number);
  assert_string_equal(number, "");
  assert_int_equal(count("SELECT count(*) FROM applications.applications WHERE number = $1"
                         " AND status = 'approved'",
                         app_number),
                   1);
  /* once it is back the completion goes through */
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", app_number), GRPC_STATUS_OK);
  license_of(app_number, number);
  assert_true(number[0] != '\0');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_answers_services_only),
      cmocka_unit_test(test_prefilled_fields_take_the_verified_identity),
      cmocka_unit_test(test_a_company_gets_its_name_from_identity),
      cmocka_unit_test(test_a_required_prefill_without_a_verified_value_is_refused),
      cmocka_unit_test(test_identity_down_files_nothing),
      cmocka_unit_test(test_the_form_is_encrypted_at_rest),
      cmocka_unit_test(test_forms_kept_in_clear_are_encrypted_at_start),
      cmocka_unit_test(test_kept_answers_hold_no_form_in_clear),
      cmocka_unit_test(test_a_bundle_prefills_from_the_verified_identity),
      cmocka_unit_test(test_a_license_names_its_holder_masked),
      cmocka_unit_test(test_a_company_license_names_the_company),
      cmocka_unit_test(test_identity_down_completes_nothing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
