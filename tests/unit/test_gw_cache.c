/*
 * test_gw_cache.c - a gateway worker's answer cache (gateway/gw_cache.c): a kept answer
 * comes back byte for byte with its type, age and tag until it expires; a second put
 * replaces the first; the least recently used answer goes first when entries or bytes
 * run out; an answer larger than an eighth of the cache is never kept; many keys in
 * few buckets stay apart; past its time an answer is refreshed by one read while the
 * others get it stale, until its stale window ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_cache.h"

static int put(gw_cache *c, const char *key, const char *body, int64_t now, int64_t ttl) {
  return gw_cache_put(c, key, strlen(key), "application/json", body, strlen(body), now, ttl, 0, 7);
}

static int has(gw_cache *c, const char *key, int64_t now) {
  gw_cache_hit h;
  return gw_cache_get(c, key, strlen(key), now, 1000, &h) == GW_CACHE_FRESH;
}

static void a_kept_answer_comes_back_until_it_expires(void **state) {
  (void)state;
  gw_cache *c = gw_cache_new(1 << 20, 16);
  assert_non_null(c);
  const char *k = "/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81";
  assert_int_equal(put(c, k, "{\"items\":[]}", 1000, 2000), 1);
  gw_cache_hit h;
  assert_int_equal(gw_cache_get(c, k, strlen(k), 2500, 1000, &h), GW_CACHE_FRESH);
  assert_int_equal(h.len, strlen("{\"items\":[]}"));
  assert_memory_equal(h.body, "{\"items\":[]}", h.len);
  assert_string_equal(h.content_type, "application/json");
  assert_int_equal(h.age_ms, 1500);
  assert_int_equal(h.tag, 7);
  /* another key, and the same path with another query, are misses */
  assert_int_equal(has(c, "/v1/items?q=x", 2500), 0);
  assert_int_equal(has(c, "/v1/items", 2500), 0);
  /* at its expiry it is gone, and dropped */
  assert_int_equal(has(c, k, 3000), 0);
  gw_cache_stats st;
  gw_cache_stats_get(c, &st);
  assert_int_equal(st.entries, 0);
  assert_int_equal(st.bytes, 0);
  assert_int_equal(st.hits, 1);
  assert_int_equal(st.misses, 3);
  assert_int_equal(st.expired, 1);
  gw_cache_free(c);
}

static void a_second_put_replaces_the_first(void **state) {
  (void)state;
  gw_cache *c = gw_cache_new(1 << 20, 16);
  assert_int_equal(put(c, "/v1/topics", "old", 0, 1000), 1);
  assert_int_equal(gw_cache_put(c, "/v1/topics", 10, "text/plain", "newer", 5, 10, 1000, 0, 9), 1);
  gw_cache_hit h;
  assert_int_equal(gw_cache_get(c, "/v1/topics", 10, 20, 1000, &h), GW_CACHE_FRESH);
  assert_memory_equal(h.body, "newer", 5);
  assert_string_equal(h.content_type, "text/plain");
  assert_int_equal(h.tag, 9);
  gw_cache_stats st;
  gw_cache_stats_get(c, &st);
  assert_int_equal(st.entries, 1);
  gw_cache_free(c);
}

static void the_least_recently_used_goes_first(void **state) {
  (void)state;
  gw_cache *c = gw_cache_new(1 << 20, 3);
  put(c, "/a", "1", 0, 10000);
  put(c, "/b", "2", 0, 10000);
  put(c, "/c", "3", 0, 10000);
  assert_int_equal(has(c, "/a", 1), 1); /* /a used: /b is now the oldest */
  put(c, "/d", "4", 2, 10000);
  assert_int_equal(has(c, "/b", 3), 0);
  assert_int_equal(has(c, "/a", 3), 1);
  assert_int_equal(has(c, "/c", 3), 1);
  assert_int_equal(has(c, "/d", 3), 1);
  gw_cache_stats st;
  gw_cache_stats_get(c, &st);
  assert_int_equal(st.entries, 3);
  assert_int_equal(st.evictions, 1);
  gw_cache_free(c);
}

static void bytes_bound_the_cache_and_large_answers_are_not_kept(void **state) {
  (void)state;
  enum { CAP = 64 * 1024 };
  gw_cache *c = gw_cache_new(CAP, 1000);
  static char body[CAP];
  memset(body, 'x', sizeof body);
  /* more than an eighth of the cache: refused, nothing changes */
  assert_int_equal(gw_cache_put(c, "/big", 4, "application/json", body, CAP / 8, 0, 1000, 0, 0), 0);
  assert_int_equal(has(c, "/big", 1), 0);
  /* answers of 4 KiB: the bytes held never pass the bound, the newest stay */
  char key[32];
  for (int i = 0; i < 40; i++) {
    int n = snprintf(key, sizeof key, "/v1/items/%d", i);
    assert_int_equal(gw_cache_put(c, key, (size_t)n, "application/json", body, 4096, i, 100000, 0, 0), 1);
    gw_cache_stats st;
    gw_cache_stats_get(c, &st);
    assert_true(st.bytes <= CAP);
  }
  assert_int_equal(has(c, "/v1/items/39", 100), 1);
  assert_int_equal(has(c, "/v1/items/0", 100), 0);
  gw_cache_free(c);
}

static void many_keys_stay_apart(void **state) {
  (void)state;
  gw_cache *c = gw_cache_new(8 << 20, 5000);
  char key[32], val[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "/v1/items/%d", i);
    snprintf(val, sizeof val, "%d", i * 3);
    assert_int_equal(put(c, key, val, 0, 1000), 1);
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "/v1/items/%d", i);
    snprintf(val, sizeof val, "%d", i * 3);
    gw_cache_hit h;
    assert_int_equal(gw_cache_get(c, key, strlen(key), 1, 1000, &h), GW_CACHE_FRESH);
    assert_int_equal(h.len, strlen(val));
    assert_memory_equal(h.body, val, h.len);
  }
  gw_cache_free(c);
}

static void one_read_refreshes_while_the_others_get_it_stale(void **state) {
  (void)state;
  gw_cache *c = gw_cache_new(1 << 20, 16);
  const char *k = "/v1/items?q=%E7%A4%BE%E4%BF%9D";
  assert_int_equal(gw_cache_put(c, k, strlen(k), "application/json", "v1", 2, 0, 1000, 5000, 1), 1);
  gw_cache_hit h;
  size_t n = strlen(k);
  assert_int_equal(gw_cache_get(c, k, n, 999, 300, &h), GW_CACHE_FRESH);
  /* past its time: the first read refreshes (holding the claim 300 ms) */
  assert_int_equal(gw_cache_get(c, k, n, 1500, 300, &h), GW_CACHE_REFRESH);
  /* meanwhile the others get the kept answer, stale */
  memset(&h, 0, sizeof h);
  assert_int_equal(gw_cache_get(c, k, n, 1600, 300, &h), GW_CACHE_STALE);
  assert_memory_equal(h.body, "v1", 2);
  assert_int_equal(h.age_ms, 1600);
  assert_int_equal(gw_cache_get(c, k, n, 1799, 300, &h), GW_CACHE_STALE);
  /* a claim not answered in its time lapses: the next read refreshes */
  assert_int_equal(gw_cache_get(c, k, n, 1800, 300, &h), GW_CACHE_REFRESH);
  /* a refresh that failed gives its claim back at once */
  gw_cache_refresh_failed(c, k, n);
  assert_int_equal(gw_cache_get(c, k, n, 1850, 300, &h), GW_CACHE_REFRESH);
  /* the refresh's answer replaces the stale one */
  assert_int_equal(gw_cache_put(c, k, n, "application/json", "v2", 2, 1900, 1000, 5000, 1), 1);
  assert_int_equal(gw_cache_get(c, k, n, 2000, 300, &h), GW_CACHE_FRESH);
  assert_memory_equal(h.body, "v2", 2);
  /* past the stale window (1900 + 1000 + 5000) it is gone */
  assert_int_equal(gw_cache_get(c, k, n, 6899, 300, &h), GW_CACHE_REFRESH);
  assert_int_equal(gw_cache_get(c, k, n, 7000, 300, &h), GW_CACHE_STALE);
  assert_int_equal(gw_cache_get(c, k, n, 7900, 300, &h), GW_CACHE_MISS);
  gw_cache_stats st;
  gw_cache_stats_get(c, &st);
  assert_int_equal(st.entries, 0);
  assert_int_equal(st.refreshes, 4);
  assert_int_equal(st.stale_hits, 3);
  gw_cache_free(c);
}

static void no_cache_without_room(void **state) {
  (void)state;
  assert_null(gw_cache_new(0, 10));
  assert_null(gw_cache_new(1024, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_kept_answer_comes_back_until_it_expires),
      cmocka_unit_test(a_second_put_replaces_the_first),
      cmocka_unit_test(the_least_recently_used_goes_first),
      cmocka_unit_test(bytes_bound_the_cache_and_large_answers_are_not_kept),
      cmocka_unit_test(many_keys_stay_apart),
      cmocka_unit_test(one_read_refreshes_while_the_others_get_it_stale),
      cmocka_unit_test(no_cache_without_room),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
