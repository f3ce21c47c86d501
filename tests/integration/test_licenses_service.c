/*
 * test_licenses_service.c - electronic licenses (电子证照) of yw-applications on the real
 * runtime against a real PostgreSQL and Redis: yw-catalog, ApplicationsService and
 * LicensesService serve in this process on one yw_rpc_server (port 0), filings read the
 * item from the catalog over a real call, and the test calls over a real gRPC connection
 * with a signed caller. The seal is an SM2 key made for the run.
 *
 * Proves: completing an application whose item's result is a license (证照) issues
 * exactly one, numbered region + type + year + sequence, whose content is the documented
 * canonical JSON byte for byte and whose signature verifies here and with the openssl
 * command line under the published key of the issuing department's own seal (not the
 * deployment's); a department without its own seal uses the deployment's, and a folder
 * of <department>.key files loads, refusing a public key or another name; with one license.issued in the outbox; a
 * refused completion (not approved yet, another department) issues none; a completed
 * application of an item without a license result issues none; a tampered content or a
 * foreign signature is NOT_GENUINE; revocation is for the issuer's administrators only,
 * audited, an event, and verification then says REVOKED; a license past its last day is
 * EXPIRED; another resident and another department read NOT_FOUND, a wrong verify code
 * too; a license replaces a material in a later application (recorded on it) and a
 * revoked one, another's, or one for a material the item does not take is
 * INVALID_ARGUMENT naming the path, filing nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"
#include "licenses.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/applications/v1/licenses.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_seal.h"
#include "yw_testapps.h"

#define APPS "/yiwang.applications.v1.ApplicationsService/"
#define LICS "/yiwang.applications.v1.LicensesService/"
#define LIC_ITEM "XK00001000-320700-GA"    /* 普通护照签发: result 证照, 320700-GA alone */
#define PLAIN_ITEM "GG00001000-320700-GA"  /* result 其他; 居民户口簿 may be a license */
#define LEAD "320700-GA"
#define SCJG_ITEM "XK00015000-320700-SCJG" /* 企业注销登记: result 证照, 320700-SCJG alone */

typedef Yiwang__Applications__V1__Application Application;
typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;
typedef Yiwang__Applications__V1__License License;
typedef Yiwang__Applications__V1__LicenseVerification Verification;
#define LS(x) YIWANG__APPLICATIONS__V1__LICENSE_STATUS__LICENSE_##x

static yw_testapps t;
static yw_rpc_service lic_svc;
static yw_seal *seal, *ga_seal; /* the deployment's, and 320700-GA's own */
static char *priv_pem, *pub_pem, *ga_priv_pem, *ga_pub_pem;
static struct applications_dept_seal dept_seals[1];

/* ---- set-up ----------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_seal_generate(&priv_pem, &pub_pem) != 0 ||
      yw_seal_from_pem(priv_pem, strlen(priv_pem), &seal) != 0)
    return -1;
  if (yw_seal_generate(&ga_priv_pem, &ga_pub_pem) != 0 ||
      yw_seal_from_pem(ga_priv_pem, strlen(ga_priv_pem), &ga_seal) != 0)
    return -1;
  t.app.seal = seal;
  snprintf(dept_seals[0].department, sizeof dept_seals[0].department, "%s", LEAD);
  dept_seals[0].seal = ga_seal;
  t.app.dept_seals = dept_seals;
  t.app.n_dept_seals = 1;
  licenses_service_init(&lic_svc, &t.app);
  const yw_rpc_service *more[] = {&lic_svc};
  return yw_testapps_start(&t, 8, 0, more, 1);
}

static int teardown(void **state) {
  (void)state;
  yw_testapps_stop(&t);
  yw_seal_free(seal);
  yw_seal_free(ga_seal);
  free(priv_pem);
  free(pub_pem);
  free(ga_priv_pem);
  free(ga_pub_pem);
  return 0;
}

/* ---- calls ------------------------------------------------------------------------ */

typedef yw_testapps_caller as;

static const as NOBODY = {YW_CALLER_ANONYMOUS, "", "", "", 0, NULL, NULL};
static const as RESIDENT = {YW_CALLER_PERSON, "p-holder", "", "", 2, NULL, NULL};
static const as OTHER_RESIDENT = {YW_CALLER_PERSON, "p-someone", "", "", 2, NULL, NULL};
/* the holder acting for a company: the company's applications are not theirs */
static const as HOLDER_FOR_COMPANY = {YW_CALLER_PERSON, "p-holder", "", "", 2, "91320700320000001D",
                                      "apply,pay,read,sign"};
static const as GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff", LEAD, 0, NULL, NULL};
static const as GA_ADMIN = {YW_CALLER_STAFF, "s-ga-admin", "dept_admin", LEAD, 0, NULL, NULL};
static const as SW_CLERK = {YW_CALLER_STAFF, "s-sw", "dept_staff", "320700-SW", 0, NULL, NULL};
static const as SCJG_CLERK = {YW_CALLER_STAFF, "s-scjg", "dept_staff", "320700-SCJG", 0, NULL, NULL};
static const as SW_ADMIN = {YW_CALLER_STAFF, "s-sw-admin", "dept_admin", "320700-SW", 0, NULL, NULL};

/* Calls path as who (anonymous: no caller at all). msg gets the status message. */
static grpc_status_code call_as(const as *who, const char *path, const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
                                char *msg, size_t msglen) {
  return yw_testapps_call(&t, who, NULL, path, req, out_desc, out, msg, msglen);
}

static grpc_status_code submit(const as *who, const char *item, const char *material,
                               const char *license, Receipt **out, char *msg, size_t msglen) {
  Yiwang__Applications__V1__SubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  Yiwang__Applications__V1__MaterialLicense ml = YIWANG__APPLICATIONS__V1__MATERIAL_LICENSE__INIT;
  Yiwang__Applications__V1__MaterialLicense *mls[1] = {&ml};
  req.item_code = (char *)item;
  if (material != NULL) {
    ml.material = (char *)material;
    ml.license_number = (char *)license;
    req.material_licenses = mls;
    req.n_material_licenses = 1;
  }
  return call_as(who, APPS "SubmitApplication", &req.base,
                 &yiwang__applications__v1__submit_application_response__descriptor,
                 (ProtobufCMessage **)out, msg, msglen);
}

static grpc_status_code step(const as *who, const char *method, const char *number) {
  char path[128];
  snprintf(path, sizeof path, APPS "%s", method);
  Yiwang__Applications__V1__TransitionRequest req = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  req.department = (char *)who->dept;
  req.number = (char *)number;
  req.reason = "";
  return call_as(who, path, &req.base, &yiwang__applications__v1__application__descriptor, NULL,
                 NULL, 0);
}

static grpc_status_code approve(const as *who, const char *number) {
  Yiwang__Applications__V1__DecideRequest req = YIWANG__APPLICATIONS__V1__DECIDE_REQUEST__INIT;
  req.department = (char *)who->dept;
  req.number = (char *)number;
  req.decision = YIWANG__APPLICATIONS__V1__DECISION__APPROVE;
  req.reason = "";
  return call_as(who, APPS "DecideApplication", &req.base,
                 &yiwang__applications__v1__application__descriptor, NULL, NULL, 0);
}

static grpc_status_code get_license(const as *who, const char *number, License **out) {
  Yiwang__Applications__V1__GetLicenseRequest req = YIWANG__APPLICATIONS__V1__GET_LICENSE_REQUEST__INIT;
  req.number = (char *)number;
  return call_as(who, LICS "GetLicense", &req.base, &yiwang__applications__v1__license__descriptor,
                 (ProtobufCMessage **)out, NULL, 0);
}

static grpc_status_code verify_code(const char *number, const char *code, Verification **out) {
  Yiwang__Applications__V1__VerifyLicenseRequest req =
      YIWANG__APPLICATIONS__V1__VERIFY_LICENSE_REQUEST__INIT;
  req.number = (char *)number;
  req.code = (char *)code;
  return call_as(&NOBODY, LICS "VerifyLicense", &req.base,
                 &yiwang__applications__v1__license_verification__descriptor,
                 (ProtobufCMessage **)out, NULL, 0);
}

/* The status a verification by content answers (anonymous), or -1 when the call failed. */
static int verify_content(const char *content, const char *signature) {
  Yiwang__Applications__V1__VerifyLicenseContentRequest req =
      YIWANG__APPLICATIONS__V1__VERIFY_LICENSE_CONTENT_REQUEST__INIT;
  req.content = (char *)content;
  req.signature = (char *)signature;
  Verification *v = NULL;
  grpc_status_code st = call_as(&NOBODY, LICS "VerifyLicenseContent", &req.base,
                                &yiwang__applications__v1__license_verification__descriptor,
                                (ProtobufCMessage **)&v, NULL, 0);
  int out = st == GRPC_STATUS_OK ? (int)v->status : -1;
  if (v != NULL) protobuf_c_message_free_unpacked(&v->base, NULL);
  return out;
}

static grpc_status_code revoke_as(const as *who, const char *number, const char *reason,
                               License **out) {
  Yiwang__Applications__V1__RevokeLicenseRequest req =
      YIWANG__APPLICATIONS__V1__REVOKE_LICENSE_REQUEST__INIT;
  req.department = (char *)who->dept;
  req.number = (char *)number;
  req.reason = (char *)reason;
  return call_as(who, LICS "RevokeLicense", &req.base, &yiwang__applications__v1__license__descriptor,
                 (ProtobufCMessage **)out, NULL, 0);
}

/* The public key of department's seal, published to anyone (free it). */
static Yiwang__Applications__V1__SealPublicKey *public_key(const char *department) {
  Yiwang__Applications__V1__GetSealPublicKeyRequest req =
      YIWANG__APPLICATIONS__V1__GET_SEAL_PUBLIC_KEY_REQUEST__INIT;
  req.department = (char *)department;
  Yiwang__Applications__V1__SealPublicKey *key = NULL;
  assert_int_equal(call_as(&NOBODY, LICS "GetSealPublicKey", &req.base,
                           &yiwang__applications__v1__seal_public_key__descriptor,
                           (ProtobufCMessage **)&key, NULL, 0),
                   GRPC_STATUS_OK);
  return key;
}

static void query1(const char *sql, const char *param, char *out, size_t size) {
  assert_int_equal(yw_testapps_query1(&t, sql, param, out, size), 0);
}

static long long count(const char *sql, const char *param) {
  char v[32];
  query1(sql, param, v, sizeof v);
  return strtoll(v, NULL, 10);
}

/* An application of item by RESIDENT, taken to APPROVED by the lead department. */
static void approved_application(const char *item, char number[24]) {
  Receipt *r = NULL;
  char msg[256] = "";
  grpc_status_code st = submit(&RESIDENT, item, NULL, NULL, &r, msg, sizeof msg);
  if (st != GRPC_STATUS_OK) fprintf(stderr, "submit: %s\n", msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  snprintf(number, 24, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number), GRPC_STATUS_OK);
  assert_int_equal(approve(&GA_CLERK, number), GRPC_STATUS_OK);
  /* a fee paid online is paid before completion (test_application_fees proves how) */
  assert_int_equal(yw_testapps_fee_paid(&t, number), 0);
}

/* A license issued to RESIDENT by completing an application of LIC_ITEM: its number. */
static void issued_license(char number[32]) {
  char app_number[24];
  approved_application(LIC_ITEM, app_number);
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", app_number), GRPC_STATUS_OK);
  query1("SELECT number FROM applications.licenses WHERE application_number = $1", app_number,
         number, 32);
  assert_int_equal(strlen(number), 26);
}

/* The documented canonical content of l's fields, with validity from..until. */
static void expected_content(const License *l, const char *from, const char *until, char *out,
                             size_t size) {
  snprintf(out, size,
           "{\"applicationNumber\":\"%s\",\"format\":\"yiwang.license.v1\","
           "\"holder\":{\"kind\":\"%s\",\"org\":\"%s\",\"subject\":\"%s\"},"
           "\"issuedAt\":\"%s\",\"issuer\":\"%s\",\"name\":\"%s\",\"number\":\"%s\","
           "\"type\":\"%s\",\"validFrom\":\"%s\",\"validUntil\":\"%s\"}",
           l->application_number, l->holder_kind, l->holder_org, l->holder_subject, l->issued_at,
           l->issuer, l->name, l->number, l->type, from, until);
}

static int sh(const char *cmd) { return system(cmd); }

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
}

/* ---- issuance ----------------------------------------------------------------------- */

static void test_completion_issues_one_sealed_license(void **state) {
  (void)state;
  char app_number[24];
  approved_application(LIC_ITEM, app_number);
  assert_int_equal(count("SELECT count(*) FROM applications.licenses WHERE application_number = $1",
                         app_number), 0);
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", app_number), GRPC_STATUS_OK);
  assert_int_equal(count("SELECT count(*) FROM applications.licenses WHERE application_number = $1",
                         app_number), 1);
  char number[32];
  query1("SELECT number FROM applications.licenses WHERE application_number = $1", app_number,
         number, sizeof number);

  License *l = NULL;
  assert_int_equal(get_license(&RESIDENT, number, &l), GRPC_STATUS_OK);
  /* the number: issuer region, type (the item's basic code), year, sequence */
  char year[8];
  query1("SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY')", NULL, year, sizeof year);
  assert_int_equal(strlen(l->number), 26);
  assert_memory_equal(l->number, "320700XK00001000", 16);
  assert_memory_equal(l->number + 16, year, 4);
  assert_string_equal(l->type, "XK00001000");
  assert_string_equal(l->name, "普通护照签发许可决定书");
  assert_string_equal(l->holder_subject, RESIDENT.subject);
  assert_string_equal(l->holder_kind, "person");
  assert_string_equal(l->issuer, LEAD);
  assert_string_equal(l->application_number, app_number);
  assert_int_equal(l->status, LS(VALID));
  /* five years by default: from today to the day before the fifth anniversary */
  char today[16], until[16];
  query1("SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')", NULL, today, sizeof today);
  query1("SELECT to_char(($1::date + interval '5 years' - interval '1 day')::date, 'YYYY-MM-DD')",
         today, until, sizeof until);
  assert_string_equal(l->valid_from, today);
  assert_string_equal(l->valid_until, until);
  assert_int_equal(strlen(l->issued_at), 25);
  assert_string_equal(l->issued_at + 19, "+08:00");
  /* the content, byte for byte, and its seal */
  char want[2048];
  expected_content(l, today, until, want, sizeof want);
  assert_string_equal(l->content, want);
  yw_seal *pub = NULL;
  assert_int_equal(yw_seal_from_pem(ga_pub_pem, strlen(ga_pub_pem), &pub), 0);
  assert_int_equal(yw_seal_verify(pub, l->content, strlen(l->content), l->signature), 0);
  yw_seal_free(pub);
  /* the department's own seal, not the deployment's */
  assert_int_equal(yw_seal_from_pem(pub_pem, strlen(pub_pem), &pub), 0);
  assert_int_not_equal(yw_seal_verify(pub, l->content, strlen(l->content), l->signature), 0);
  yw_seal_free(pub);

  /* the published key, and the openssl command line over the canonical bytes */
  Yiwang__Applications__V1__SealPublicKey *key = public_key(LEAD);
  assert_string_equal(key->pem, ga_pub_pem);
  assert_string_equal(key->department, LEAD);
  assert_string_equal(key->distinguishing_id, YW_SEAL_ID);
  char dir[] = "/tmp/yw-license.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p_pub[64], p_rec[64], p_sig[64], cmd[1024];
  snprintf(p_pub, sizeof p_pub, "%s/seal.pub", dir);
  snprintf(p_rec, sizeof p_rec, "%s/license.json", dir);
  snprintf(p_sig, sizeof p_sig, "%s/license.sig", dir);
  write_file(p_pub, key->pem);
  write_file(p_rec, l->content);
  snprintf(cmd, sizeof cmd,
           "echo '%s' | base64 -d > %s && openssl pkeyutl -verify -pubin -inkey %s -rawin "
           "-digest sm3 -pkeyopt distid:%s -in %s -sigfile %s >/dev/null 2>&1",
           l->signature, p_sig, p_pub, key->distinguishing_id, p_rec, p_sig);
  assert_int_equal(sh(cmd), 0);
  /* one byte changed, and openssl says no */
  char *changed = strdup(l->content);
  changed[strlen(changed) - 3] = changed[strlen(changed) - 3] == '1' ? '2' : '1';
  write_file(p_rec, changed);
  free(changed);
  snprintf(cmd, sizeof cmd,
           "openssl pkeyutl -verify -pubin -inkey %s -rawin -digest sm3 -pkeyopt distid:%s "
           "-in %s -sigfile %s >/dev/null 2>&1",
           p_pub, YW_SEAL_ID, p_rec, p_sig);
  assert_int_not_equal(sh(cmd), 0);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  sh(cmd);
  protobuf_c_message_free_unpacked(&key->base, NULL);

  /* license.issued in the outbox, once, under the application's key, and the holder's
   * feed entry linking to the license */
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1"
                         " AND type = 'license.issued'", app_number), 1);
  char link[64];
  snprintf(link, sizeof link, "licenses/%s", number);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'feed.entry'"
                         " AND aggregate_key = 'p-holder' AND position($1::bytea IN payload) > 0",
                         link), 1);
  /* anyone holding it checks it by the printed code: what it shows, nobody's data */
  Verification *v = NULL;
  assert_int_equal(verify_code(number, l->verify_code, &v), GRPC_STATUS_OK);
  assert_int_equal(v->status, LS(VALID));
  assert_string_equal(v->number, number);
  assert_string_equal(v->issuer, LEAD);
  assert_string_equal(v->valid_until, until);
  protobuf_c_message_free_unpacked(&v->base, NULL);
  assert_int_equal(verify_content(l->content, l->signature), LS(VALID));
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* the next license of the type and year takes the next sequence */
  char second[32];
  issued_license(second);
  assert_memory_equal(second, number, 20);
  assert_int_equal(strtol(second + 20, NULL, 10), strtol(number + 20, NULL, 10) + 1);
}

static void test_refused_completion_issues_none(void **state) {
  (void)state;
  long long before = count("SELECT count(*) FROM applications.licenses", NULL);
  Receipt *r = NULL;
  assert_int_equal(submit(&RESIDENT, LIC_ITEM, NULL, NULL, &r, NULL, 0), GRPC_STATUS_OK);
  char number[24];
  snprintf(number, sizeof number, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* not approved yet */
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", number), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number), GRPC_STATUS_OK);
  assert_int_equal(approve(&GA_CLERK, number), GRPC_STATUS_OK);
  /* approved, but by a department not on it */
  assert_int_equal(step(&SW_CLERK, "CompleteApplication", number), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(count("SELECT count(*) FROM applications.licenses", NULL), before);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'license.issued'"
                         " AND aggregate_key = $1", number), 0);
  /* an item whose result is not a license issues none when completed */
  char plain[24];
  approved_application(PLAIN_ITEM, plain);
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", plain), GRPC_STATUS_OK);
  assert_int_equal(count("SELECT count(*) FROM applications.licenses", NULL), before);
}

/* ---- verification ------------------------------------------------------------------- */

static void test_tampered_content_is_not_genuine(void **state) {
  (void)state;
  char number[32];
  issued_license(number);
  License *l = NULL;
  assert_int_equal(get_license(&RESIDENT, number, &l), GRPC_STATUS_OK);
  assert_int_equal(verify_content(l->content, l->signature), LS(VALID));
  /* a later last day, the signature kept */
  char *tampered = strdup(l->content);
  char *until = strstr(tampered, "\"validUntil\":\"");
  assert_non_null(until);
  until[14] = '9';
  assert_int_equal(verify_content(tampered, l->signature), LS(NOT_GENUINE));
  /* the same content sealed by another key */
  char *other_priv = NULL, *other_pub = NULL, sig[YW_SEAL_SIG_MAX];
  yw_seal *other = NULL;
  assert_int_equal(yw_seal_generate(&other_priv, &other_pub), 0);
  assert_int_equal(yw_seal_from_pem(other_priv, strlen(other_priv), &other), 0);
  assert_int_equal(yw_seal_sign(other, l->content, strlen(l->content), sig, sizeof sig), 0);
  assert_int_equal(verify_content(l->content, sig), LS(NOT_GENUINE));
  /* our seal over content we never issued */
  assert_int_equal(yw_seal_sign(ga_seal, tampered, strlen(tampered), sig, sizeof sig), 0);
  assert_int_equal(verify_content(tampered, sig), LS(NOT_GENUINE));
  assert_int_equal(verify_content(l->content, "not base64!"), LS(NOT_GENUINE));
  assert_int_equal(verify_content("", l->signature), -1); /* INVALID_ARGUMENT */
  yw_seal_free(other);
  free(other_priv);
  free(other_pub);
  free(tampered);
  protobuf_c_message_free_unpacked(&l->base, NULL);
}

static void test_revoked_and_expired_answers(void **state) {
  (void)state;
  char number[32];
  issued_license(number);
  License *l = NULL;
  assert_int_equal(get_license(&RESIDENT, number, &l), GRPC_STATUS_OK);
  /* only the issuer's administrators, with a reason */
  assert_int_equal(revoke_as(&GA_CLERK, number, "证件信息有误", NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(revoke_as(&SW_ADMIN, number, "证件信息有误", NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(revoke_as(&RESIDENT, number, "证件信息有误", NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(revoke_as(&GA_ADMIN, number, "", NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(count("SELECT count(*) FROM applications.licenses WHERE number = $1"
                         " AND revoked_at IS NULL", number), 1);
  License *rv = NULL;
  assert_int_equal(revoke_as(&GA_ADMIN, number, "证件信息有误", &rv), GRPC_STATUS_OK);
  assert_int_equal(rv->status, LS(REVOKED));
  assert_string_equal(rv->revoke_reason, "证件信息有误");
  protobuf_c_message_free_unpacked(&rv->base, NULL);
  assert_int_equal(revoke_as(&GA_ADMIN, number, "again", NULL), GRPC_STATUS_FAILED_PRECONDITION);
  /* audited and an event */
  assert_int_equal(count("SELECT count(*) FROM applications.license_audit WHERE target = $1"
                         " AND action = 'license_revoke' AND actor = 's-ga-admin'"
                         " AND source_ip = '192.0.2.7'", number), 1);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'license.revoked'"
                         " AND aggregate_key = $1", l->application_number), 1);
  /* verification says revoked, by code and by content */
  Verification *v = NULL;
  assert_int_equal(verify_code(number, l->verify_code, &v), GRPC_STATUS_OK);
  assert_int_equal(v->status, LS(REVOKED));
  assert_string_not_equal(v->revoked_at, "");
  protobuf_c_message_free_unpacked(&v->base, NULL);
  assert_int_equal(verify_content(l->content, l->signature), LS(REVOKED));
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* a license issued years ago, past its last day (sealed here as the service would) */
  issued_license(number);
  assert_int_equal(get_license(&RESIDENT, number, &l), GRPC_STATUS_OK);
  char old[2048], sig[YW_SEAL_SIG_MAX];
  expected_content(l, "2019-01-02", "2024-01-01", old, sizeof old);
  assert_int_equal(yw_seal_sign(ga_seal, old, strlen(old), sig, sizeof sig), 0);
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 2000);
  const char *p[] = {number, old, sig};
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "UPDATE applications.licenses SET valid_from = '2019-01-02',"
                                  " valid_until = '2024-01-01', content = $2, signature = $3"
                                  " WHERE number = $1", 3, p, NULL, &err), 0);
  yw_pg_pool_release(t.app.pool, c);
  assert_int_equal(verify_content(old, sig), LS(EXPIRED));
  assert_int_equal(verify_code(number, l->verify_code, &v), GRPC_STATUS_OK);
  assert_int_equal(v->status, LS(EXPIRED));
  protobuf_c_message_free_unpacked(&v->base, NULL);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  /* an expired license replaces no material */
  Receipt *r = NULL;
  char msg[256] = "";
  assert_int_equal(submit(&RESIDENT, PLAIN_ITEM, "居民户口簿", number, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].licenseNumber"));
}

/* ---- seals of departments ---------------------------------------------------------------- */

static void write_file(const char *path, const char *text);

static void test_a_department_without_its_own_seal_uses_the_deployments(void **state) {
  (void)state;
  /* 320700-SCJG has no key of its own: its licenses carry the deployment's seal */
  Receipt *r = NULL;
  assert_int_equal(submit(&RESIDENT, SCJG_ITEM, NULL, NULL, &r, NULL, 0), GRPC_STATUS_OK);
  char app_number[24], number[32];
  snprintf(app_number, sizeof app_number, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(step(&SCJG_CLERK, "AcceptApplication", app_number), GRPC_STATUS_OK);
  assert_int_equal(step(&SCJG_CLERK, "StartReview", app_number), GRPC_STATUS_OK);
  assert_int_equal(approve(&SCJG_CLERK, app_number), GRPC_STATUS_OK);
  assert_int_equal(step(&SCJG_CLERK, "CompleteApplication", app_number), GRPC_STATUS_OK);
  query1("SELECT number FROM applications.licenses WHERE application_number = $1", app_number,
         number, sizeof number);
  assert_memory_equal(number, "320700XK00015000", 16);
  License *l = NULL;
  assert_int_equal(get_license(&RESIDENT, number, &l), GRPC_STATUS_OK);
  assert_int_equal(yw_seal_verify(seal, l->content, strlen(l->content), l->signature), 0);
  assert_int_not_equal(yw_seal_verify(ga_seal, l->content, strlen(l->content), l->signature), 0);
  assert_int_equal(verify_content(l->content, l->signature), LS(VALID));
  protobuf_c_message_free_unpacked(&l->base, NULL);
  /* its public key is the deployment's */
  Yiwang__Applications__V1__SealPublicKey *key = public_key("320700-SCJG");
  assert_string_equal(key->pem, pub_pem);
  assert_string_equal(key->department, "");
  protobuf_c_message_free_unpacked(&key->base, NULL);

  /* the keys of a folder: <department>.key each; a public key or another name is refused */
  char dir[] = "/tmp/yw-seals.XXXXXX", path[96], why[320];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/320700-GA.key", dir);
  write_file(path, ga_priv_pem);
  applications_ctx c;
  memset(&c, 0, sizeof c);
  assert_int_equal(licenses_seals_load(&c, "", dir, why, sizeof why), 0);
  assert_null(c.seal);
  assert_int_equal(c.n_dept_seals, 1);
  assert_string_equal(c.dept_seals[0].department, LEAD);
  char sig[YW_SEAL_SIG_MAX];
  assert_int_equal(yw_seal_sign(c.dept_seals[0].seal, "x", 1, sig, sizeof sig), 0);
  assert_int_equal(yw_seal_verify(ga_seal, "x", 1, sig), 0);
  licenses_seals_free(&c);
  snprintf(path, sizeof path, "%s/320700-SW.key", dir);
  write_file(path, ga_pub_pem);
  assert_int_equal(licenses_seals_load(&c, "", dir, why, sizeof why), -1);
  assert_non_null(strstr(why, "320700-SW.key"));
  assert_int_equal(c.n_dept_seals, 0);
  unlink(path);
  snprintf(path, sizeof path, "%s/a b.key", dir);
  write_file(path, ga_priv_pem);
  assert_int_equal(licenses_seals_load(&c, "", dir, why, sizeof why), -1);
  unlink(path);
  snprintf(path, sizeof path, "%s/320700-GA.key", dir);
  unlink(path);
  rmdir(dir);
}

/* ---- who reads ---------------------------------------------------------------------- */

static void test_only_holder_and_issuer_read(void **state) {
  (void)state;
  char number[32];
  issued_license(number);
  License *l = NULL;
  assert_int_equal(get_license(&OTHER_RESIDENT, number, &l), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_license(&SW_CLERK, number, &l), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_license(&NOBODY, number, &l), GRPC_STATUS_UNAUTHENTICATED);
  assert_int_equal(get_license(&RESIDENT, "not-a-number", &l), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(get_license(&GA_CLERK, number, &l), GRPC_STATUS_OK);
  char code[32];
  snprintf(code, sizeof code, "%s", l->verify_code);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  /* a wrong code and an unknown number answer alike */
  Verification *v = NULL;
  char wrong[32];
  snprintf(wrong, sizeof wrong, "%s", code);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  assert_int_equal(verify_code(number, wrong, &v), GRPC_STATUS_NOT_FOUND);
  char unknown[32];
  snprintf(unknown, sizeof unknown, "%.20s999999", number);
  assert_int_equal(verify_code(unknown, code, &v), GRPC_STATUS_NOT_FOUND);
  /* lists: the holder's own, newest first, paged */
  Yiwang__Applications__V1__ListMyLicensesRequest req =
      YIWANG__APPLICATIONS__V1__LIST_MY_LICENSES_REQUEST__INIT;
  Yiwang__Applications__V1__ListLicensesResponse *page = NULL;
  assert_int_equal(call_as(&OTHER_RESIDENT, LICS "ListMyLicenses", &req.base,
                           &yiwang__applications__v1__list_licenses_response__descriptor,
                           (ProtobufCMessage **)&page, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(page->n_licenses, 0);
  protobuf_c_message_free_unpacked(&page->base, NULL);
  long long held = count("SELECT count(*) FROM applications.licenses WHERE holder_subject = $1",
                         RESIDENT.subject);
  assert_true(held >= 2);
  req.page_size = 1;
  assert_int_equal(call_as(&RESIDENT, LICS "ListMyLicenses", &req.base,
                           &yiwang__applications__v1__list_licenses_response__descriptor,
                           (ProtobufCMessage **)&page, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(page->n_licenses, 1);
  assert_string_equal(page->licenses[0]->number, number); /* the newest */
  assert_string_not_equal(page->next_page_token, "");
  char token[512];
  snprintf(token, sizeof token, "%s", page->next_page_token);
  protobuf_c_message_free_unpacked(&page->base, NULL);
  req.page_token = token;
  assert_int_equal(call_as(&RESIDENT, LICS "ListMyLicenses", &req.base,
                           &yiwang__applications__v1__list_licenses_response__descriptor,
                           (ProtobufCMessage **)&page, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(page->n_licenses, 1);
  assert_string_not_equal(page->licenses[0]->number, number);
  protobuf_c_message_free_unpacked(&page->base, NULL);
}

/* ---- in place of materials ------------------------------------------------------------ */

static void test_license_replaces_a_material(void **state) {
  (void)state;
  char number[32];
  issued_license(number);
  Receipt *r = NULL;
  char msg[256] = "";
  grpc_status_code st = submit(&RESIDENT, PLAIN_ITEM, "居民户口簿", number, &r, msg, sizeof msg);
  if (st != GRPC_STATUS_OK) fprintf(stderr, "submit: %s\n", msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  /* recorded on the application: the item's second material, from the license */
  Yiwang__Applications__V1__GetApplicationRequest greq =
      YIWANG__APPLICATIONS__V1__GET_APPLICATION_REQUEST__INIT;
  greq.number = r->application->number;
  Application *a = NULL;
  assert_int_equal(call_as(&RESIDENT, APPS "GetApplication", &greq.base,
                           &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(a->n_materials, 1);
  assert_int_equal(a->materials[0]->seq, 2);
  assert_string_equal(a->materials[0]->name, "居民户口簿");
  assert_string_equal(a->materials[0]->source, "LICENSE");
  assert_string_equal(a->materials[0]->license_number, number);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  protobuf_c_message_free_unpacked(&r->base, NULL);

  long long before = count("SELECT count(*) FROM applications.applications", NULL);
  long long mats = count("SELECT count(*) FROM applications.application_materials", NULL);
  /* a material the item does not take a license for, and one it does not list */
  assert_int_equal(submit(&RESIDENT, PLAIN_ITEM, "《居民身份证申领登记表》", number, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].material"));
  assert_int_equal(submit(&RESIDENT, PLAIN_ITEM, "营业执照", number, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].material"));
  /* another's license */
  assert_int_equal(submit(&OTHER_RESIDENT, PLAIN_ITEM, "居民户口簿", number, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].licenseNumber"));
  /* the holder's own license, in an application the holder files for a company (of an
   * item companies file: PLAIN_ITEM is for natural persons only, not filed for one) */
  assert_int_equal(submit(&HOLDER_FOR_COMPANY, PLAIN_ITEM, "居民户口簿", number, &r, msg, sizeof msg),
                   GRPC_STATUS_FAILED_PRECONDITION);
  char co_item[320];
  query1("SELECT i.impl_code || '|' || m.name FROM catalog.items i"
         " JOIN catalog.item_materials m ON m.item_id = i.id AND m.license_replaceable"
         " WHERE i.status = 'published' AND i.form IS NULL AND i.region_code = $1"
         " AND coalesce((i.details->>'minRealnameLevel')::int, 0) <= 2"
         " AND i.details->'audiences' ? 'LEGAL_PERSON' ORDER BY i.impl_code, m.seq LIMIT 1",
         "320700", co_item, sizeof co_item);
  char *co_material = strchr(co_item, '|');
  assert_non_null(co_material);
  *co_material++ = '\0';
  assert_int_equal(submit(&HOLDER_FOR_COMPANY, co_item, co_material, number, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].licenseNumber"));
  /* not a license number at all */
  assert_int_equal(submit(&RESIDENT, PLAIN_ITEM, "居民户口簿", "12345", &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].licenseNumber"));
  /* revoked: refused, naming the material's path */
  assert_int_equal(revoke_as(&GA_ADMIN, number, "已注销", NULL), GRPC_STATUS_OK);
  assert_int_equal(submit(&RESIDENT, PLAIN_ITEM, "居民户口簿", number, &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "materialLicenses[0].licenseNumber"));
  assert_non_null(strstr(msg, "revoked"));
  /* none of the refused filings left anything */
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), before);
  assert_int_equal(count("SELECT count(*) FROM applications.application_materials", NULL), mats);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_completion_issues_one_sealed_license),
      cmocka_unit_test(test_refused_completion_issues_none),
      cmocka_unit_test(test_tampered_content_is_not_genuine),
      cmocka_unit_test(test_revoked_and_expired_answers),
      cmocka_unit_test(test_a_department_without_its_own_seal_uses_the_deployments),
      cmocka_unit_test(test_only_holder_and_issuer_read),
      cmocka_unit_test(test_license_replaces_a_material),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
