/*
 * test_static.c - the pure helpers of the gateway's static files (gw_static_http.c):
 * paths that could leave the root are refused before any file is opened, types by
 * extension, the content-hash rule of immutable caching, ETags and If-None-Match,
 * byte ranges (206/416/ignored), HTTP dates both ways, Accept-Encoding for gzip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h and stddef.h, which it needs */

#include "gw_static.h"

static const char *clean(const char *raw) {
  static char out[256];
  long n = gw_static_path_clean(raw, strlen(raw), out, sizeof out);
  return n < 0 ? NULL : out;
}

static void test_clean_paths_are_decoded_and_kept(void **state) {
  (void)state;
  assert_string_equal(clean(""), "");
  assert_string_equal(clean("index.html"), "index.html");
  assert_string_equal(clean("assets/app.3f9a1c2b.js"), "assets/app.3f9a1c2b.js");
  assert_string_equal(clean("docs/"), "docs/");
  assert_string_equal(clean("a%20b.txt"), "a b.txt");
  assert_string_equal(clean("%E5%8A%9E%E4%BA%8B.html"), "办事.html");
  assert_string_equal(clean("a..b/c.d"), "a..b/c.d"); /* dots inside a name are fine */
}

static void test_traversal_and_dotfiles_are_refused(void **state) {
  (void)state;
  const char *bad[] = {
      "..",          "../etc/passwd", "a/../../etc/passwd", "a/..",     ".",
      "./index.html", "%2e%2e/etc/passwd", "%2E%2E%2Fetc",  "a/%2e%2e/b", "%2e",
      ".git/config", ".env",          "a/.hidden",          "a%2fb",    "a%2F..%2Fb",
      "a%5c..%5cb",  "a\\b",          "..\\x",              "a%00b",    "a\x01",
      "a//b",        "/etc/passwd",   "a%",                 "a%4",      "a%zz",
      "a%7f",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (clean(bad[i]) != NULL) fail_msg("accepted %s", bad[i]);
  }
}

static void test_clean_never_overflows(void **state) {
  (void)state;
  char out[8];
  assert_int_equal(gw_static_path_clean("abcdefg", 7, out, sizeof out), 7);
  assert_int_equal(gw_static_path_clean("abcdefgh", 8, out, sizeof out), -1);
  assert_int_equal(gw_static_path_clean("a", 1, out, 0), -1);
}

static void test_types_by_extension_with_charset_for_text(void **state) {
  (void)state;
  assert_string_equal(gw_static_type("index.html"), "text/html; charset=utf-8");
  assert_string_equal(gw_static_type("a/app.3f9a1c2b.js"), "text/javascript; charset=utf-8");
  assert_string_equal(gw_static_type("m.mjs"), "text/javascript; charset=utf-8");
  assert_string_equal(gw_static_type("s.CSS"), "text/css; charset=utf-8");
  assert_string_equal(gw_static_type("d.json"), "application/json");
  assert_string_equal(gw_static_type("i.svg"), "image/svg+xml");
  assert_string_equal(gw_static_type("i.png"), "image/png");
  assert_string_equal(gw_static_type("i.jpg"), "image/jpeg");
  assert_string_equal(gw_static_type("i.webp"), "image/webp");
  assert_string_equal(gw_static_type("favicon.ico"), "image/x-icon");
  assert_string_equal(gw_static_type("f.woff2"), "font/woff2");
  assert_string_equal(gw_static_type("robots.txt"), "text/plain; charset=utf-8");
  assert_string_equal(gw_static_type("app.js.map"), "application/json");
  assert_string_equal(gw_static_type("m.wasm"), "application/wasm");
  assert_string_equal(gw_static_type("README"), "application/octet-stream");
  assert_string_equal(gw_static_type("x.exe"), "application/octet-stream");
  assert_string_equal(gw_static_type("dir.html/file"), "application/octet-stream");
}

static void test_content_hashed_names(void **state) {
  (void)state;
  assert_true(gw_static_is_hashed("app.3f9a1c2b.js"));
  assert_true(gw_static_is_hashed("assets/chunk-0a1b2c3d4e.css"));
  assert_true(gw_static_is_hashed("vendor_3F9A1C2B.js"));
  assert_true(gw_static_is_hashed("3f9a1c2b.js"));
  assert_false(gw_static_is_hashed("app.3f9a1c2.js"));   /* 7 digits */
  assert_false(gw_static_is_hashed("app.js"));
  assert_false(gw_static_is_hashed("index.html"));
  assert_false(gw_static_is_hashed("deadbeefcafe.js"));  /* hex letters only: a word */
  assert_false(gw_static_is_hashed("app.3f9a1c2g.js"));  /* not hex */
  assert_false(gw_static_is_hashed("3f9a1c2b"));         /* no extension */
  assert_false(gw_static_is_hashed("app.js.3f9a1c2b"));  /* the hash is the extension */
  assert_false(gw_static_is_hashed("3f9a1c2b/app.js"));  /* only the file name counts */
}

static void test_etag_and_if_none_match(void **state) {
  (void)state;
  char e[64];
  gw_static_etag(0x1234, 42, 1700000000123456789LL, e, sizeof e);
  assert_string_equal(e, "\"1234-2a-17979cfe3d85cd15\"");
  assert_true(gw_static_etag_match(e, e));
  assert_true(gw_static_etag_match("*", e));
  assert_true(gw_static_etag_match("\"x\", \"1234-2a-17979cfe3d85cd15\"", e));
  assert_true(gw_static_etag_match("W/\"1234-2a-17979cfe3d85cd15\"", e)); /* weak comparison */
  assert_false(gw_static_etag_match("\"1234-2a-17979cfe3d85cd16\"", e));
  assert_false(gw_static_etag_match("\"1234-2a\"", e));
  assert_false(gw_static_etag_match("", e));
  assert_false(gw_static_etag_match("\"unterminated", e));
  assert_false(gw_static_etag_match("1234-2a-17979cfe3d85cd15", e)); /* not quoted */
  assert_false(gw_static_etag_match(NULL, e));
}

static int range(const char *h, uint64_t size, uint64_t *a, uint64_t *b) {
  *a = *b = 999;
  return gw_static_range(h, size, a, b);
}

static void test_single_ranges_are_206_or_416_or_ignored(void **state) {
  (void)state;
  uint64_t a, b;
  assert_int_equal(range("bytes=0-99", 1000, &a, &b), 1);
  assert_true(a == 0 && b == 99);
  assert_int_equal(range("bytes=500-", 1000, &a, &b), 1);
  assert_true(a == 500 && b == 999);
  assert_int_equal(range("bytes=-100", 1000, &a, &b), 1);
  assert_true(a == 900 && b == 999);
  assert_int_equal(range("bytes=-5000", 1000, &a, &b), 1); /* suffix past the start: all */
  assert_true(a == 0 && b == 999);
  assert_int_equal(range("bytes=990-5000", 1000, &a, &b), 1); /* clamped */
  assert_true(a == 990 && b == 999);
  assert_int_equal(range("bytes=999-999", 1000, &a, &b), 1);
  assert_true(a == 999 && b == 999);
  /* unsatisfiable: 416 */
  assert_int_equal(range("bytes=1000-", 1000, &a, &b), -1);
  assert_int_equal(range("bytes=1000-2000", 1000, &a, &b), -1);
  assert_int_equal(range("bytes=-0", 1000, &a, &b), -1);
  assert_int_equal(range("bytes=0-", 0, &a, &b), -1);
  assert_int_equal(range("bytes=-10", 0, &a, &b), -1);
  /* ignored: the whole file */
  assert_int_equal(range("bytes=0-1,5-6", 1000, &a, &b), 0);
  assert_int_equal(range("items=0-1", 1000, &a, &b), 0);
  assert_int_equal(range("bytes=5-1", 1000, &a, &b), 0);
  assert_int_equal(range("bytes=a-b", 1000, &a, &b), 0);
  assert_int_equal(range("bytes=-", 1000, &a, &b), 0);
  assert_int_equal(range("bytes=1-2x", 1000, &a, &b), 0);
  assert_int_equal(range("bytes=99999999999999999999-", 1000, &a, &b), 0); /* overflow */
  assert_int_equal(range(NULL, 1000, &a, &b), 0);
}

static void test_http_dates_both_ways(void **state) {
  (void)state;
  char d[40];
  gw_static_http_date(784111777, d, sizeof d);
  assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
  time_t t = 0;
  assert_int_equal(gw_static_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  assert_int_equal((long long)t, 784111777LL);
  assert_int_equal(gw_static_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
  assert_int_equal((long long)t, 0);
  assert_int_equal(gw_static_parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT", &t), 0);
  gw_static_http_date(t, d, sizeof d);
  assert_string_equal(d, "Tue, 29 Feb 2028 23:59:59 GMT");
  /* obsolete formats and junk are treated as absent */
  assert_int_equal(gw_static_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), -1);
  assert_int_equal(gw_static_parse_http_date("Sun Nov  6 08:49:37 1994", &t), -1);
  assert_int_equal(gw_static_parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", &t), -1);
  assert_int_equal(gw_static_parse_http_date("Sun, 06 Xyz 1994 08:49:37 GMT", &t), -1);
  assert_int_equal(gw_static_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", &t), -1);
  assert_int_equal(gw_static_parse_http_date("", &t), -1);
  assert_int_equal(gw_static_parse_http_date(NULL, &t), -1);
}

static void test_accept_encoding_gzip(void **state) {
  (void)state;
  assert_true(gw_static_accepts_gzip("gzip"));
  assert_true(gw_static_accepts_gzip("gzip, deflate, br"));
  assert_true(gw_static_accepts_gzip("br;q=1.0, gzip;q=0.8"));
  assert_true(gw_static_accepts_gzip("x-gzip"));
  assert_true(gw_static_accepts_gzip("*"));
  assert_true(gw_static_accepts_gzip("GZIP;q=0.5"));
  assert_false(gw_static_accepts_gzip("gzip;q=0"));
  assert_false(gw_static_accepts_gzip("gzip;q=0.000"));
  assert_false(gw_static_accepts_gzip("*, gzip;q=0"));
  assert_false(gw_static_accepts_gzip("br, deflate"));
  assert_false(gw_static_accepts_gzip("gzipx"));
  assert_false(gw_static_accepts_gzip("identity"));
  assert_false(gw_static_accepts_gzip(""));
  assert_false(gw_static_accepts_gzip(NULL));
  assert_true(gw_static_accepts_gzip("gzip;q=0.01"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean_paths_are_decoded_and_kept),
      cmocka_unit_test(test_traversal_and_dotfiles_are_refused),
      cmocka_unit_test(test_clean_never_overflows),
      cmocka_unit_test(test_types_by_extension_with_charset_for_text),
      cmocka_unit_test(test_content_hashed_names),
      cmocka_unit_test(test_etag_and_if_none_match),
      cmocka_unit_test(test_single_ranges_are_206_or_416_or_ignored),
      cmocka_unit_test(test_http_dates_both_ways),
      cmocka_unit_test(test_accept_encoding_gzip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
