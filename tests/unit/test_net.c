/*
 * test_net.c - the gateway's networks and client keys (gw_net.c): CIDR lists parsed
 * strictly and matched by bits, never by text; IPv6 clients keyed by their /64. And
 * the process's local token buckets (gw_limits.c): no two keys share a bucket, the
 * table stays bounded, workers on several threads share it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h and stddef.h, which it needs */

#include "gw_limits.h"
#include "gw_net.h"
#include "yw_net.h"
#include "yw_err.h"

static int in(const char *list, const char *addr) {
  gw_net_list l;
  char err[256];
  assert_int_equal(gw_net_list_parse(list, &l, err, sizeof err), 0);
  return gw_net_list_match(&l, addr);
}

static int parses(const char *text) {
  gw_net n;
  return gw_net_parse(text, strlen(text), &n) == 0;
}

static void test_a_bare_address_is_one_host_not_a_text_prefix(void **state) {
  (void)state;
  assert_true(in("10.1.2.1", "10.1.2.1"));
  assert_false(in("10.1.2.1", "10.1.2.10")); /* a text prefix would admit these two */
  assert_false(in("10.1.2.1", "10.1.2.100"));
  assert_true(in("::1", "::1"));
  assert_false(in("::1", "::1:5"));
  assert_false(in("127.0.0.1", "127.0.0.11"));
}

static void test_networks_match_by_prefix_bits(void **state) {
  (void)state;
  assert_true(in("10.0.0.0/8", "10.255.3.4"));
  assert_false(in("10.0.0.0/8", "11.0.0.1"));
  assert_true(in("192.168.4.0/22", "192.168.7.255"));
  assert_false(in("192.168.4.0/22", "192.168.8.0"));
  assert_true(in("172.16.0.0/12", "172.31.0.1"));
  assert_false(in("172.16.0.0/12", "172.32.0.1"));
  assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
  assert_false(in("2001:db8::/32", "2001:db9::1"));
  assert_true(in("2001:db8:0:100::/56", "2001:db8:0:1ff:abcd::1"));
  assert_false(in("2001:db8:0:100::/56", "2001:db8:0:200::1"));
  assert_true(in("0.0.0.0/0", "203.0.113.9"));
  assert_true(in("10.0.0.0/8, 2001:db8::/32 ,192.0.2.7", "192.0.2.7"));
  assert_true(in("10.0.0.0/8, 2001:db8::/32 ,192.0.2.7", "2001:db8::9"));
}

static void test_families_never_cross_but_mapped_ipv4_is_ipv4(void **state) {
  (void)state;
  assert_false(in("::/0", "10.0.0.1")); /* every IPv6 address, not every address */
  assert_false(in("0.0.0.0/0", "2001:db8::1"));
  assert_true(in("10.0.0.0/8", "::ffff:10.0.0.7")); /* a dual-stack socket's IPv4 peer */
  assert_true(in("::ffff:10.0.0.0/104", "10.9.9.9"));
  assert_false(in("::ffff:10.0.0.0/104", "11.9.9.9"));
}

static void test_bad_entries_are_refused_with_their_text(void **state) {
  (void)state;
  assert_false(parses("10.1.2.")); /* the old prefix style */
  assert_false(parses("10.0.0.0/33"));
  assert_false(parses("2001:db8::/129"));
  assert_false(parses("10.0.0.1/8")); /* host bits set: 10.0.0.1 or 10.0.0.0/8? */
  assert_false(parses("2001:db8::1/64"));
  assert_false(parses("10.0.0.0/"));
  assert_false(parses("10.0.0.0/-1"));
  assert_false(parses("10.0.0.0/+8"));
  assert_false(parses("10.0.0.0/8/8"));
  assert_false(parses("localhost"));
  assert_false(parses("1.2.3.4.5"));
  assert_false(parses(""));
  assert_true(parses("10.0.0.0/8"));
  assert_true(parses("0.0.0.0/0"));
  assert_true(parses("::/0"));
  assert_true(parses("192.0.2.7/32"));
  gw_net_list l;
  char err[256] = "";
  assert_int_equal(gw_net_list_parse("10.0.0.0/8, 10.1.2., ::1", &l, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "\"10.1.2.\""));
  assert_int_equal(gw_net_list_parse("", &l, err, sizeof err), 0);
  assert_int_equal(l.n, 0);
  assert_false(gw_net_list_match(&l, "127.0.0.1")); /* an empty list admits nobody */
  assert_int_equal(gw_net_list_parse(" , 127.0.0.1 ,, ", &l, err, sizeof err), 0);
  assert_int_equal(l.n, 1);
}

static void test_too_many_entries_are_refused(void **state) {
  (void)state;
  char text[GW_NET_MAX * 16 + 32] = "";
  size_t off = 0;
  for (int i = 0; i <= GW_NET_MAX; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "10.0.%d.0/24,", i);
  gw_net_list l;
  char err[256] = "";
  assert_int_equal(gw_net_list_parse(text, &l, err, sizeof err), YW_EINVAL);
}

static void test_garbage_addresses_match_nothing(void **state) {
  (void)state;
  assert_false(in("0.0.0.0/0", ""));
  assert_false(in("0.0.0.0/0", "not-an-address"));
  assert_false(in("0.0.0.0/0", "10.0.0.0/8"));
}

static void test_ipv6_clients_are_keyed_by_their_64(void **state) {
  (void)state;
  char a[64], b[64];
  assert_int_equal(yw_client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", a, sizeof a), 0);
  assert_int_equal(yw_client_key("2001:db8:1:2::77", b, sizeof b), 0);
  assert_string_equal(a, "2001:db8:1:2::/64");
  assert_string_equal(a, b); /* a rotating privacy address stays in one bucket */
  assert_int_equal(yw_client_key("2001:db8:1:3::77", b, sizeof b), 0);
  assert_string_not_equal(a, b);
  assert_int_equal(yw_client_key("203.0.113.9", a, sizeof a), 0);
  assert_string_equal(a, "203.0.113.9");
  assert_int_equal(yw_client_key("203.0.113.10", b, sizeof b), 0);
  assert_string_not_equal(a, b); /* IPv4 keeps the full address */
  assert_int_equal(yw_client_key("::ffff:203.0.113.9", b, sizeof b), 0);
  assert_string_equal(b, "203.0.113.9");
  assert_int_equal(yw_client_key("nonsense", a, sizeof a), YW_EINVAL);
  assert_int_equal(yw_client_key("2001:db8:1:2::77", a, 8), YW_ETOOBIG);
  assert_int_equal(yw_client_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", a, 48), 0);
}

/* ---- gw_limits ------------------------------------------------------------------- */

static void test_bucket_allows_burst_then_waits_then_refills(void **state) {
  (void)state;
  gw_limits *t = NULL;
  assert_int_equal(gw_limits_new(1024, &t), 0);
  long wait = -1;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(gw_limits_take(t, "ip:1.2.3.4", 1, 3, 1000, &wait), 0);
    assert_int_equal(wait, 0);
  }
  assert_int_equal(gw_limits_take(t, "ip:1.2.3.4", 1, 3, 1000, &wait), 0);
  assert_true(wait > 0 && wait <= 1001);
  assert_int_equal(gw_limits_take(t, "ip:1.2.3.4", 1, 3, 2001, &wait), 0);
  assert_int_equal(wait, 0); /* a second later, one token is back */
  gw_limits_free(t);
}

static void test_colliding_keys_never_share_or_reset_a_bucket(void **state) {
  (void)state;
  /* 300 keys in 1024 entries: a table indexed by hash alone has about ten pairs of
   * keys in one slot here, each resetting the other's bucket on every turn */
  gw_limits *t = NULL;
  assert_int_equal(gw_limits_new(1024, &t), 0);
  long wait = 0;
  char key[32];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 300; i++) {
      snprintf(key, sizeof key, "ip:198.51.%d.%d", i / 256, i % 256);
      assert_int_equal(gw_limits_take(t, key, 0.001, 2, 1 + round, &wait), 0);
      if (round < 2)
        assert_int_equal(wait, 0); /* its own burst of 2, whoever else was touched */
      else
        assert_true(wait > 0); /* and then empty: nobody reset it */
    }
  }
  assert_int_equal(gw_limits_evictions(t), 0);
  gw_limits_free(t);
}

static void test_full_buckets_are_evicted_before_busy_ones(void **state) {
  (void)state;
  gw_limits *t = NULL;
  assert_int_equal(gw_limits_new(1024, &t), 0);
  long wait = 0;
  char key[32];
  /* far more keys than the table holds, each taking a token once; the table stays
   * bounded and, as they refill fast, evicting them costs nothing */
  for (int i = 0; i < 100000; i++) {
    snprintf(key, sizeof key, "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
    assert_int_equal(gw_limits_take(t, key, 1000, 10, 1000 + i, &wait), 0);
    assert_int_equal(wait, 0);
  }
  assert_int_equal(gw_limits_evictions(t), 0);
  gw_limits_free(t);
}

static void test_bad_arguments_are_refused(void **state) {
  (void)state;
  gw_limits *t = NULL;
  assert_int_equal(gw_limits_new(10, &t), 0);
  long wait = 0;
  char key[GW_LIMITS_KEY_MAX + 2];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  assert_int_equal(gw_limits_take(t, key, 1, 1, 0, &wait), YW_EINVAL);
  key[GW_LIMITS_KEY_MAX] = '\0';
  assert_int_equal(gw_limits_take(t, key, 1, 1, 0, &wait), 0);
  assert_int_equal(gw_limits_take(t, "", 1, 1, 0, &wait), YW_EINVAL);
  assert_int_equal(gw_limits_take(t, "k", 0, 1, 0, &wait), YW_EINVAL);
  assert_int_equal(gw_limits_take(t, "k", 1, 0, 0, &wait), YW_EINVAL);
  gw_limits_free(t);
  gw_limits_free(NULL);
}

struct worker_arg {
  gw_limits *t;
  int allowed;
};

static void *take_many(void *arg) {
  struct worker_arg *w = arg;
  for (int i = 0; i < 1000; i++) {
    long wait = 0;
    if (gw_limits_take(w->t, "ip:shared", 0.001, 100, 5000, &wait) == 0 && wait == 0) w->allowed++;
  }
  return NULL;
}

static void test_workers_share_one_budget(void **state) {
  (void)state;
  gw_limits *t = NULL;
  assert_int_equal(gw_limits_new(1024, &t), 0);
  pthread_t th[4];
  struct worker_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i].t = t;
    args[i].allowed = 0;
    pthread_create(&th[i], NULL, take_many, &args[i]);
  }
  int total = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    total += args[i].allowed;
  }
  assert_int_equal(total, 100); /* the burst, once, whichever thread took it */
  gw_limits_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_bare_address_is_one_host_not_a_text_prefix),
      cmocka_unit_test(test_networks_match_by_prefix_bits),
      cmocka_unit_test(test_families_never_cross_but_mapped_ipv4_is_ipv4),
      cmocka_unit_test(test_bad_entries_are_refused_with_their_text),
      cmocka_unit_test(test_too_many_entries_are_refused),
      cmocka_unit_test(test_garbage_addresses_match_nothing),
      cmocka_unit_test(test_ipv6_clients_are_keyed_by_their_64),
      cmocka_unit_test(test_bucket_allows_burst_then_waits_then_refills),
      cmocka_unit_test(test_colliding_keys_never_share_or_reset_a_bucket),
      cmocka_unit_test(test_full_buckets_are_evicted_before_busy_ones),
      cmocka_unit_test(test_bad_arguments_are_refused),
      cmocka_unit_test(test_workers_share_one_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
