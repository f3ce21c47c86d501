/*
 * test_caller.c - the signed caller metadata between the gateway and the services:
 * a round trip, and refusal of a forged signature, a changed field, a stale or future
 * stamp, unsafe characters and missing parts.
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

static uint8_t key[YW_KEY_BYTES];

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
  c.ts = 1700000000;
  return c;
}

static void test_round_trip_keeps_every_field(void **state) {
  (void)state;
  yw_caller c = sample(), out;
  char value[512], sig[65];
  assert_int_equal(yw_caller_encode(&c, key, value, sizeof value, sig), 0);
  assert_int_equal(yw_caller_decode(value, sig, key, 1700000010, 300, &out), 0);
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
  yw_caller c = sample(), out;
  char value[512], sig[65];
  assert_int_equal(yw_caller_encode(&c, key, value, sizeof value, sig), 0);
  uint8_t other[YW_KEY_BYTES];
  memcpy(other, key, sizeof other);
  other[5] ^= 0x40;
  assert_int_equal(yw_caller_decode(value, sig, other, 1700000000, 300, &out), YW_EUNAUTH);
  char changed[512];
  snprintf(changed, sizeof changed, "%s", value);
  char *roles = strstr(changed, "roles=");
  memcpy(roles + 6, "auditor,dept", 12); /* same length, other roles */
  assert_int_equal(yw_caller_decode(changed, sig, key, 1700000000, 300, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, NULL, key, 1700000000, 300, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(NULL, sig, key, 1700000000, 300, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode("v0;sub=x", sig, key, 1700000000, 300, &out), YW_EUNAUTH);
}

static void test_stale_and_future_stamps_are_refused(void **state) {
  (void)state;
  yw_caller c = sample(), out;
  char value[512], sig[65];
  assert_int_equal(yw_caller_encode(&c, key, value, sizeof value, sig), 0);
  assert_int_equal(yw_caller_decode(value, sig, key, 1700000000 + 301, 300, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, key, 1700000000 - 301, 300, &out), YW_EUNAUTH);
  assert_int_equal(yw_caller_decode(value, sig, key, 1700000000 + 299, 300, &out), 0);
}

static void test_unsafe_characters_cannot_be_encoded(void **state) {
  (void)state;
  yw_caller c = sample();
  char value[512], sig[65];
  snprintf(c.department, sizeof c.department, "GA;roles=platform_admin");
  assert_int_equal(yw_caller_encode(&c, key, value, sizeof value, sig), YW_EINVAL);
  c = sample();
  assert_int_equal(yw_caller_encode(&c, key, value, 20, sig), YW_ETOOBIG);
}

int main(void) {
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(3 * i + 11);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_keeps_every_field),
      cmocka_unit_test(test_forged_or_changed_metadata_is_refused),
      cmocka_unit_test(test_stale_and_future_stamps_are_refused),
      cmocka_unit_test(test_unsafe_characters_cannot_be_encoded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
