/*
 * test_caller.c - the signed caller metadata between the gateway and the services:
 * a round trip, and refusal of a forged signature, a changed field, a signature made
 * for another method or request id, a stamp outside the window, an unknown key id,
 * unsafe characters and missing parts; the previous key accepted while keys rotate;
 * a service forwarding a caller: the same identity, via= appended and signed, with the
 * current key only, a changed via refused, the gateway's values without via; the scope
 * of the company a resident acts for, signed, and what it allows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "yw_caller.h"
#include "yw_err.h"
#include "yw_service.h"

static uint8_t key[YW_KEY_BYTES], old_key[YW_KEY_BYTES], stranger[YW_KEY_BYTES];
static yw_caller_keys keys; /* key only, window 30 s */

#define METHOD_A "/yiwang.catalog.v1.CatalogService/UpsertItem"
#define METHOD_B "/yiwang.catalog.v1.CatalogService/GetItem"
#define RID "6f1c2a9e0b3d4c5e6f708192"
#define TS 1700000000LL

static yw_caller sample(void) {
  yw_caller c;
  memset(&c, 0, sizeof c);
  c.kind = YW_CALLER_STAFF;
  snprintf(c.subject, sizeof c.subject, "s-abc");
  snprintf(c.roles, sizeof c.roles, "dept_staff,dept_admin");
  snprintf(c.department, sizeof c.department, "320700-GA");
  snprintf(c.session, sizeof c.session, "0123abcd");
  snprintf(c.ip, sizeof c.ip, "127.0.0.1");
  c.level = 0;
  c.ts = TS;
  return c;
}

/* Signs sample() with k for METHOD_A and RID. */
static void sign_sample(const uint8_t *k, char value[YW_CALLER_VALUE_MAX], char sig[65]) {
  yw_caller c = sample();
  assert_int_equal(yw_caller_encode(&c, k, METHOD_A, RID, value, YW_CALLER_VALUE_MAX, sig), 0);
}

static void test_round_trip_keeps_every_field(void **state) {
  (void)state;
  yw_caller out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  sign_sample(key, value, sig);
  assert_int_equal(strncmp(value, "v2;kid=", 7), 0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS + 10, &out), 0);
  assert_string_equal(out.key_id, keys.current_id);
  assert_true(out.ts == TS);
  assert_int_equal(out.kind, YW_CALLER_STAFF);
  assert_string_equal(out.subject, "s-abc");
  assert_string_equal(out.department, "320700-GA");
  assert_string_equal(out.session, "0123abcd");
  assert_string_equal(out.ip, "127.0.0.1");
  assert_true(yw_caller_has_role(&out, "dept_admin"));
  assert_true(yw_caller_has_role(&out, "dept_staff"));
  assert_false(yw_caller_has_role(&out, "dept"));
  assert_false(yw_caller_has_role(&out, "auditor"));
}

static void test_forged_or_changed_metadata_is_refused(void **state) {
  (void)state;
  yw_caller out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  sign_sample(key, value, sig);
  /* a value naming our key id, with a signature made under another key */
  char forged[YW_CALLER_VALUE_MAX], forged_sig[65];
  sign_sample(stranger, forged, forged_sig);
  char stranger_id[YW_CALLER_KID_LEN + 1];
  yw_caller_key_id(stranger, stranger_id);
  assert_string_not_equal(stranger_id, keys.current_id);
  memcpy(forged + 7, keys.current_id, YW_CALLER_KID_LEN);
  assert_int_equal(yw_caller_decode(forged, forged_sig, &keys, METHOD_A, RID, TS, &out),
                   YW_EUNAUTH);
  char changed[YW_CALLER_VALUE_MAX];
  snprintf(changed, sizeof changed, "%s", value);
  char *roles = strstr(changed, "roles=");
  memcpy(roles + 6, "auditor,dept", 12); /* same length, other roles */
  assert_int_equal(yw_caller_decode(changed, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  char changed_ts[YW_CALLER_VALUE_MAX];
  snprintf(changed_ts, sizeof changed_ts, "%s", value);
  strstr(changed_ts, ";ts=")[4] = '2'; /* 2700000000: a stamp far ahead */
  assert_int_equal(yw_caller_decode(changed_ts, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, NULL, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(NULL, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, NULL, RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, NULL, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode("v0;sub=x", sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  /* the first version, without key id, method or request id, is no longer believed */
  assert_int_equal(yw_caller_decode("v1;sub=x;kind=staff;roles=platform_admin;ts=1700000000", sig,
                                    &keys, METHOD_A, RID, TS, &out),
                   YW_EUNAUTH);
  /* a caller that is refused leaves nothing behind to be used by mistake */
  assert_string_equal(out.subject, "");
  assert_string_equal(out.roles, "");
}

static void test_signature_for_one_method_is_refused_for_another(void **state) {
  (void)state;
  yw_caller out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  sign_sample(key, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_B, RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A "X", RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, "", RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS, &out), 0);
}

static void test_signature_under_one_request_id_is_refused_under_another(void **state) {
  (void)state;
  yw_caller c = sample(), out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  sign_sample(key, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, "6f1c2a9e0b3d4c5e6f708193", TS,
                                    &out),
                   YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, "", TS, &out), YW_EUNAUTH);
  /* signed without a request id: refused when the call carries one */
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, "", value, sizeof value, sig), 0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, "", TS, &out), 0);
}

static void test_bytes_moved_between_method_and_request_id_break_the_signature(void **state) {
  (void)state;
  yw_caller c = sample(), out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  /* plain concatenation would sign "/a/Mx" + "y" and "/a/M" + "xy" alike */
  assert_int_equal(yw_caller_encode(&c, key, "/a/Mx", "y", value, sizeof value, sig), 0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, "/a/M", "xy", TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, "/a/Mxy", "", TS, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, "/a/Mx", "y", TS, &out), 0);
}

static void test_stamp_outside_the_window_is_refused(void **state) {
  (void)state;
  yw_caller out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  sign_sample(key, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS + 31, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS - 31, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS + 300, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS + 30, &out), 0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS - 30, &out), 0);
  yw_caller_keys narrow;
  assert_int_equal(yw_caller_keys_init(&narrow, key, NULL, 5), 0);
  assert_int_equal(yw_caller_decode(value, sig, &narrow, METHOD_A, RID, TS + 6, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &narrow, METHOD_A, RID, TS + 5, &out), 0);
}

static void test_window_is_at_most_30_seconds(void **state) {
  (void)state;
  yw_caller_keys k;
  assert_int_equal(yw_caller_keys_init(&k, key, NULL, YW_CALLER_WINDOW_MAX_S + 1), YW_EINVAL);
  assert_int_equal(yw_caller_keys_init(&k, key, NULL, 300), YW_EINVAL);
  assert_int_equal(yw_caller_keys_init(&k, key, NULL, 0), YW_EINVAL);
  assert_int_equal(yw_caller_keys_init(&k, key, NULL, 30), 0);
  assert_int_equal(YW_CALLER_WINDOW_MAX_S, 30);
}

static void test_unknown_key_id_is_refused(void **state) {
  (void)state;
  yw_caller out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  /* a correct signature under a key the service does not hold */
  sign_sample(stranger, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  yw_caller_keys theirs;
  assert_int_equal(yw_caller_keys_init(&theirs, stranger, NULL, 30), 0);
  assert_int_equal(yw_caller_decode(value, sig, &theirs, METHOD_A, RID, TS, &out), 0);
  /* ids that are not ids */
  sign_sample(key, value, sig);
  char bad[YW_CALLER_VALUE_MAX];
  snprintf(bad, sizeof bad, "%s", value);
  memcpy(bad + 7, "ZZZZZZZZ", 8);
  assert_int_equal(yw_caller_decode(bad, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  snprintf(bad, sizeof bad, "v2;kid=;sub=x;ts=1700000000");
  assert_int_equal(yw_caller_decode(bad, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  /* keys never set up (all zero) believe nobody */
  yw_caller_keys none;
  memset(&none, 0, sizeof none);
  assert_int_equal(yw_caller_decode(value, sig, &none, METHOD_A, RID, TS, &out), YW_EUNAUTH);
}

static void test_previous_key_is_accepted_during_rotation(void **state) {
  (void)state;
  yw_caller out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  /* services first: the new key current, the old one previous */
  yw_caller_keys rotating;
  assert_int_equal(yw_caller_keys_init(&rotating, key, old_key, 30), 0);
  assert_string_not_equal(rotating.current_id, rotating.previous_id);
  /* a gateway still on the old key */
  sign_sample(old_key, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &rotating, METHOD_A, RID, TS, &out), 0);
  assert_string_equal(out.key_id, rotating.previous_id);
  assert_string_equal(out.subject, "s-abc");
  /* the previous key binds method and request id as well */
  assert_int_equal(yw_caller_decode(value, sig, &rotating, METHOD_B, RID, TS, &out), YW_EUNAUTH);
  /* a gateway already on the new key */
  sign_sample(key, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &rotating, METHOD_A, RID, TS, &out), 0);
  assert_string_equal(out.key_id, rotating.current_id);
  /* once the rotation is over, the old key is refused */
  sign_sample(old_key, value, sig);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  /* the same key given twice is one key */
  yw_caller_keys same;
  assert_int_equal(yw_caller_keys_init(&same, key, key, 30), 0);
  assert_string_equal(same.previous_id, "");
}

static void test_keys_are_read_from_hex(void **state) {
  (void)state;
  const char *cur = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const char *prev = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
  yw_caller_keys k;
  assert_int_equal(yw_caller_keys_from_hex(&k, cur, prev, 30), 0);
  assert_int_equal(k.current[1], 1);
  assert_int_equal(k.previous[0], 0xff);
  assert_int_equal(strlen(k.previous_id), YW_CALLER_KID_LEN);
  assert_int_equal(yw_caller_keys_from_hex(&k, cur, "", 30), 0);
  assert_string_equal(k.previous_id, "");
  assert_int_equal(yw_caller_keys_from_hex(&k, cur, NULL, 30), 0);
  assert_int_equal(yw_caller_keys_from_hex(&k, cur, "abc", 30), YW_EINVAL);
  assert_int_equal(yw_caller_keys_from_hex(&k, "", NULL, 30), YW_EINVAL);
  assert_int_equal(yw_caller_keys_from_hex(&k, NULL, NULL, 30), YW_EINVAL);
  assert_int_equal(yw_caller_keys_from_hex(&k, cur, prev, 31), YW_EINVAL);
}

static void test_unsafe_characters_cannot_be_encoded(void **state) {
  (void)state;
  yw_caller c = sample();
  char value[YW_CALLER_VALUE_MAX], sig[65];
  snprintf(c.department, sizeof c.department, "GA;roles=platform_admin");
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, RID, value, sizeof value, sig), YW_EINVAL);
  c = sample();
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, RID, value, 20, sig), YW_ETOOBIG);
  assert_int_equal(yw_caller_encode(&c, key, NULL, RID, value, sizeof value, sig), YW_EINVAL);
  assert_int_equal(yw_caller_encode(&c, key, "no-slash", RID, value, sizeof value, sig), YW_EINVAL);
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, NULL, value, sizeof value, sig), YW_EINVAL);
  char long_id[YW_CALLER_REQUEST_ID_MAX + 2];
  memset(long_id, 'a', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, long_id, value, sizeof value, sig), YW_EINVAL);
  char long_method[YW_CALLER_METHOD_MAX + 2];
  memset(long_method, 'm', sizeof long_method - 1);
  long_method[0] = '/';
  long_method[sizeof long_method - 1] = '\0';
  assert_int_equal(yw_caller_encode(&c, key, long_method, RID, value, sizeof value, sig),
                   YW_EINVAL);
}

static void test_longest_fields_fit_the_value_size(void **state) {
  (void)state;
  yw_caller c, out;
  memset(&c, 0, sizeof c);
  c.kind = YW_CALLER_ANONYMOUS; /* the longest kind name */
  memset(c.subject, 's', sizeof c.subject - 1);
  memset(c.roles, 'r', sizeof c.roles - 1);
  memset(c.department, 'd', sizeof c.department - 1);
  memset(c.session, 'i', sizeof c.session - 1);
  memset(c.ip, '1', sizeof c.ip - 1);
  memset(c.org, 'o', sizeof c.org - 1);
  memset(c.org_scope, 'a', sizeof c.org_scope - 1);
  memset(c.via, 'v', sizeof c.via - 1);
  c.level = -2147483647 - 1;
  c.ts = -9223372036854775807LL - 1;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, RID, value, sizeof value, sig), 0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, c.ts, &out), 0);
  assert_string_equal(out.roles, c.roles);
  assert_string_equal(out.org, c.org);
  assert_string_equal(out.org_scope, c.org_scope);
  assert_string_equal(out.via, c.via);
}

static void test_gateway_values_carry_no_via(void **state) {
  (void)state;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  sign_sample(key, value, sig);
  assert_null(strstr(value, "via="));
  yw_caller out;
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS, &out), 0);
  assert_string_equal(out.via, "");
}

static void test_forward_keeps_the_identity_and_appends_via(void **state) {
  (void)state;
  yw_caller in = sample(), out, twice;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  assert_int_equal(yw_caller_forward(&in, &keys, "applications", METHOD_B, RID, TS + 5, value,
                                     sizeof value, sig),
                   0);
  /* signed for the downstream method, with a fresh stamp */
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS + 5, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_B, RID, TS + 5, &out), 0);
  assert_string_equal(out.subject, "s-abc");
  assert_string_equal(out.roles, "dept_staff,dept_admin");
  assert_string_equal(out.department, "320700-GA");
  assert_int_equal(out.kind, YW_CALLER_STAFF);
  assert_string_equal(out.via, "applications");
  assert_true(out.ts == TS + 5);
  /* a second hop appends its name */
  assert_int_equal(yw_caller_forward(&out, &keys, "payment", METHOD_A, RID, TS + 6, value,
                                     sizeof value, sig),
                   0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS + 6, &twice), 0);
  assert_string_equal(twice.via, "applications,payment");
  assert_string_equal(twice.subject, "s-abc");
}

static void test_forward_signs_only_with_the_current_key(void **state) {
  (void)state;
  yw_caller_keys rotating;
  assert_int_equal(yw_caller_keys_init(&rotating, key, old_key, 30), 0);
  yw_caller in = sample(), out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  assert_int_equal(yw_caller_forward(&in, &rotating, "applications", METHOD_B, RID, TS, value,
                                     sizeof value, sig),
                   0);
  assert_int_equal(yw_caller_decode(value, sig, &rotating, METHOD_B, RID, TS, &out), 0);
  assert_string_equal(out.key_id, rotating.current_id);
  /* a service that knows only the old key cannot verify it */
  yw_caller_keys old_only;
  assert_int_equal(yw_caller_keys_init(&old_only, old_key, NULL, 30), 0);
  assert_int_equal(yw_caller_decode(value, sig, &old_only, METHOD_B, RID, TS, &out), YW_EUNAUTH);
}

static void test_changed_or_removed_via_is_refused(void **state) {
  (void)state;
  yw_caller in = sample(), out;
  char value[YW_CALLER_VALUE_MAX], sig[65], forged[YW_CALLER_VALUE_MAX];
  assert_int_equal(yw_caller_forward(&in, &keys, "applications", METHOD_B, RID, TS, value,
                                     sizeof value, sig),
                   0);
  const char *at = strstr(value, ";via=");
  assert_non_null(at);
  const char *variants[] = {"", ";via=catalog", ";via=applications,catalog", ";via="};
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    snprintf(forged, sizeof forged, "%.*s%s", (int)(at - value), value, variants[i]);
    assert_int_equal(yw_caller_decode(forged, sig, &keys, METHOD_B, RID, TS, &out), YW_EUNAUTH);
  }
}

static void test_forward_refuses_bad_names_and_too_many_hops(void **state) {
  (void)state;
  yw_caller in = sample(), out;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  const char *bad[] = {"", "Catalog", "a b", "a;via=x", "abcdefghijklmnopqrstuvwxyz0123456"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(yw_caller_forward(&in, &keys, bad[i], METHOD_B, RID, TS, value,
                                       sizeof value, sig),
                     YW_EINVAL);
  /* hop after hop until via is full: then refused, never cut short */
  int hops = 0, rc = 0;
  while (rc == 0 && hops < 100) {
    rc = yw_caller_forward(&in, &keys, "catalog", METHOD_B, RID, TS, value, sizeof value, sig);
    if (rc != 0) break;
    assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_B, RID, TS, &out), 0);
    in = out;
    hops++;
  }
  assert_int_equal(rc, YW_ETOOBIG);
  assert_true(hops >= 7);
}

static void test_org_scope_travels_signed_and_bounds_what_is_done_for_the_company(void **state) {
  (void)state;
  yw_caller c = sample(), out;
  c.kind = YW_CALLER_PERSON;
  snprintf(c.org, sizeof c.org, "91320700320000001D");
  snprintf(c.org_scope, sizeof c.org_scope, "read,pay");
  char value[YW_CALLER_VALUE_MAX], sig[65], forged[YW_CALLER_VALUE_MAX];
  assert_int_equal(yw_caller_encode(&c, key, METHOD_A, RID, value, sizeof value, sig), 0);
  assert_int_equal(yw_caller_decode(value, sig, &keys, METHOD_A, RID, TS, &out), 0);
  assert_string_equal(out.org_scope, "read,pay");
  assert_true(yw_caller_org_may(&out, "read"));
  assert_true(yw_caller_org_may(&out, "pay"));
  assert_false(yw_caller_org_may(&out, "apply"));
  assert_false(yw_caller_org_may(&out, "sign"));
  assert_false(yw_caller_org_may(&out, "rea"));
  assert_false(yw_caller_org_may(&out, ""));
  /* a widened scope breaks the signature */
  const char *at = strstr(value, ";scope=read,pay;");
  assert_non_null(at);
  snprintf(forged, sizeof forged, "%.*s;scope=apply,pay,read,sign%s", (int)(at - value), value,
           at + strlen(";scope=read,pay"));
  assert_int_equal(yw_caller_decode(forged, sig, &keys, METHOD_A, RID, TS, &out), YW_EUNAUTH);
  /* acting for a company with no scope: nothing for it; acting for nobody: no limit */
  c.org_scope[0] = '\0';
  assert_false(yw_caller_org_may(&c, "read"));
  c.org[0] = '\0';
  assert_true(yw_caller_org_may(&c, "apply"));
}

/* A company's application is the company's, whoever filed it: a person acting for the
 * company is its applicant, the person who filed it acting for nobody (or for another
 * company) is not; a person's own application is the person's alone. */
static void test_company_application_belongs_to_the_company(void **state) {
  (void)state;
  yw_caller agent, rep, staff;
  memset(&agent, 0, sizeof agent);
  agent.kind = YW_CALLER_PERSON;
  snprintf(agent.subject, sizeof agent.subject, "p-agent");
  rep = agent;
  snprintf(rep.subject, sizeof rep.subject, "p-rep");
  snprintf(rep.org, sizeof rep.org, "91320700320000001D");
  snprintf(rep.org_scope, sizeof rep.org_scope, "apply,pay,read,sign");
  /* filed by the agent for the company; the agent now acts for nobody */
  assert_false(yw_applicant_is_caller(&agent, "company", "p-agent", "91320700320000001D"));
  assert_true(yw_applicant_is_caller(&rep, "company", "p-agent", "91320700320000001D"));
  snprintf(agent.org, sizeof agent.org, "91320700320000003K");
  assert_false(yw_applicant_is_caller(&agent, "company", "p-agent", "91320700320000001D"));
  snprintf(agent.org, sizeof agent.org, "91320700320000001D");
  assert_true(yw_applicant_is_caller(&agent, "company", "p-agent", "91320700320000001D"));
  /* a person's own: the person's alone, acting for a company or not */
  assert_true(yw_applicant_is_caller(&agent, "person", "p-agent", ""));
  assert_false(yw_applicant_is_caller(&rep, "person", "p-agent", ""));
  /* a company application with no company, an unknown kind, staff: nobody's */
  assert_false(yw_applicant_is_caller(&rep, "company", "p-rep", ""));
  assert_false(yw_applicant_is_caller(&rep, "", "p-rep", ""));
  staff = rep;
  staff.kind = YW_CALLER_STAFF;
  assert_false(yw_applicant_is_caller(&staff, "company", "p-rep", "91320700320000001D"));
}

int main(void) {
  for (size_t i = 0; i < sizeof key; i++) {
    key[i] = (uint8_t)(3 * i + 11);
    old_key[i] = (uint8_t)(5 * i + 1);
    stranger[i] = (uint8_t)(7 * i + 2);
  }
  if (yw_caller_keys_init(&keys, key, NULL, 30) != 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_keeps_every_field),
      cmocka_unit_test(test_forged_or_changed_metadata_is_refused),
      cmocka_unit_test(test_signature_for_one_method_is_refused_for_another),
      cmocka_unit_test(test_signature_under_one_request_id_is_refused_under_another),
      cmocka_unit_test(test_bytes_moved_between_method_and_request_id_break_the_signature),
      cmocka_unit_test(test_stamp_outside_the_window_is_refused),
      cmocka_unit_test(test_window_is_at_most_30_seconds),
      cmocka_unit_test(test_unknown_key_id_is_refused),
      cmocka_unit_test(test_previous_key_is_accepted_during_rotation),
      cmocka_unit_test(test_keys_are_read_from_hex),
      cmocka_unit_test(test_unsafe_characters_cannot_be_encoded),
      cmocka_unit_test(test_longest_fields_fit_the_value_size),
      cmocka_unit_test(test_gateway_values_carry_no_via),
      cmocka_unit_test(test_forward_keeps_the_identity_and_appends_via),
      cmocka_unit_test(test_forward_signs_only_with_the_current_key),
      cmocka_unit_test(test_changed_or_removed_via_is_refused),
      cmocka_unit_test(test_forward_refuses_bad_names_and_too_many_hops),
      cmocka_unit_test(test_org_scope_travels_signed_and_bounds_what_is_done_for_the_company),
      cmocka_unit_test(test_company_application_belongs_to_the_company),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
