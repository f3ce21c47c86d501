/*
 * test_gw_lease.c - tokens a worker takes ahead from a client's shared bucket
 * (gateway/gw_lease.c): a new client asks for one token, the ask doubles while the
 * client keeps coming back and stops at the cap, leased tokens are spent one per
 * request and lapse after GW_LEASE_TTL_MS, keys never share tokens, and a key too
 * long for the table never holds any.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_lease.h"

static void a_new_client_asks_for_one(void **state) {
  (void)state;
  gw_lease *t = gw_lease_new(64);
  assert_non_null(t);
  assert_int_equal(gw_lease_spend(t, "ip:10.0.0.1", 1000), 0);
  assert_int_equal(gw_lease_want(t, "ip:10.0.0.1", 1000, 16), 1);
  gw_lease_grant(t, "ip:10.0.0.1", 1, 1000); /* the one token is the asking request's */
  assert_int_equal(gw_lease_spend(t, "ip:10.0.0.1", 1001), 0);
  gw_lease_free(t);
}

static void the_ask_doubles_up_to_the_cap_and_tokens_are_spent_one_by_one(void **state) {
  (void)state;
  gw_lease *t = gw_lease_new(64);
  const char *k = "ip:10.0.0.2";
  int asks[8];
  long long now = 5000;
  for (int i = 0; i < 8; i++) {
    asks[i] = gw_lease_want(t, k, now, 16);
    gw_lease_grant(t, k, asks[i], now);
    int spent = 0;
    while (gw_lease_spend(t, k, now + 1)) spent++;
    assert_int_equal(spent, asks[i] - 1); /* one went to the request that asked */
    now += 10;
  }
  int expect[8] = {1, 2, 4, 8, 16, 16, 16, 16};
  for (int i = 0; i < 8; i++) assert_int_equal(asks[i], expect[i]);
  gw_lease_free(t);
}

static void a_grant_smaller_than_the_ask_keeps_only_what_was_granted(void **state) {
  (void)state;
  gw_lease *t = gw_lease_new(64);
  const char *k = "sub:u-1";
  assert_int_equal(gw_lease_want(t, k, 0, 8), 1);
  gw_lease_grant(t, k, 1, 0);
  assert_int_equal(gw_lease_want(t, k, 10, 8), 2);
  gw_lease_grant(t, k, 2, 10);
  assert_int_equal(gw_lease_spend(t, k, 11), 1);
  assert_int_equal(gw_lease_want(t, k, 20, 8), 4);
  gw_lease_grant(t, k, 2, 20); /* the bucket had only two */
  assert_int_equal(gw_lease_spend(t, k, 21), 1);
  assert_int_equal(gw_lease_spend(t, k, 21), 0);
  gw_lease_free(t);
}

static void leased_tokens_lapse(void **state) {
  (void)state;
  gw_lease *t = gw_lease_new(64);
  const char *k = "ip:10.0.0.3";
  gw_lease_grant(t, k, 5, 1000);
  assert_int_equal(gw_lease_spend(t, k, 1000 + GW_LEASE_TTL_MS - 1), 1);
  assert_int_equal(gw_lease_spend(t, k, 1000 + GW_LEASE_TTL_MS), 0);
  /* after a pause the client starts again from one */
  assert_int_equal(gw_lease_want(t, k, 1000 + GW_LEASE_TTL_MS + 5, 16), 1);
  /* and a new grant does not revive the lapsed tokens */
  gw_lease_grant(t, k, 1, 1000 + GW_LEASE_TTL_MS + 5);
  assert_int_equal(gw_lease_spend(t, k, 1000 + GW_LEASE_TTL_MS + 6), 0);
  gw_lease_free(t);
}

static void keys_never_share_tokens(void **state) {
  (void)state;
  gw_lease *t = gw_lease_new(1); /* one slot: every key lands on it */
  gw_lease_grant(t, "ip:a", 5, 0);
  assert_int_equal(gw_lease_spend(t, "ip:b", 1), 0);
  gw_lease_grant(t, "ip:b", 3, 1); /* takes the slot: a's tokens are gone, never b's */
  assert_int_equal(gw_lease_spend(t, "ip:a", 2), 0);
  assert_int_equal(gw_lease_spend(t, "ip:b", 2), 1);
  assert_int_equal(gw_lease_spend(t, "ip:b", 2), 1);
  assert_int_equal(gw_lease_spend(t, "ip:b", 2), 0);
  gw_lease_free(t);
}

static void a_key_too_long_never_holds_tokens(void **state) {
  (void)state;
  gw_lease *t = gw_lease_new(64);
  char k[GW_LEASE_KEY_MAX + 2];
  memset(k, 'x', sizeof k - 1);
  k[sizeof k - 1] = '\0';
  gw_lease_grant(t, k, 10, 0);
  assert_int_equal(gw_lease_spend(t, k, 1), 0);
  assert_int_equal(gw_lease_want(t, k, 1, 16), 1);
  assert_int_equal(gw_lease_spend(t, "", 1), 0);
  gw_lease_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_new_client_asks_for_one),
      cmocka_unit_test(the_ask_doubles_up_to_the_cap_and_tokens_are_spent_one_by_one),
      cmocka_unit_test(a_grant_smaller_than_the_ask_keeps_only_what_was_granted),
      cmocka_unit_test(leased_tokens_lapse),
      cmocka_unit_test(keys_never_share_tokens),
      cmocka_unit_test(a_key_too_long_never_holds_tokens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
