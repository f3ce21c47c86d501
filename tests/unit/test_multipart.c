/*
 * test_multipart.c - the streaming multipart/form-data parser (gateway/gw_multipart.c).
 *
 * Proves: a body split in two at every byte position, fed a byte at a time, or paused
 * after every callback gives the same parts, names, file names, types and bytes as
 * when fed whole; data that looks like a delimiter but is not one (a CR, CRLF--, the
 * boundary without its CRLF, a longer boundary) is data; preamble and epilogue are
 * ignored; boundaries are read from content-type values (quoted too) and bad ones
 * refused; malformed bodies and parts are refused; header and part-count limits hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_multipart.h"

/* What the callbacks saw, as text: "[name|filename|type]data." per part. */
typedef struct seen {
  char log[65536];
  size_t len;
  int pause; /* answer GW_MP_PAUSE from every callback */
} seen;

static void add(seen *s, const void *d, size_t n) {
  assert_true(s->len + n < sizeof s->log);
  memcpy(s->log + s->len, d, n);
  s->len += n;
  s->log[s->len] = '\0';
}

static int on_begin(void *arg, const gw_mp_part *p) {
  seen *s = arg;
  char b[600];
  int n = snprintf(b, sizeof b, "[%s|%s%s|%s]", p->name, p->has_filename ? "F:" : "", p->filename,
                   p->content_type);
  add(s, b, (size_t)n);
  return s->pause ? GW_MP_PAUSE : 0;
}

static int on_data(void *arg, const uint8_t *d, size_t n) {
  seen *s = arg;
  add(s, d, n);
  return s->pause ? GW_MP_PAUSE : 0;
}

static int on_end(void *arg) {
  seen *s = arg;
  add(s, ".", 1);
  return s->pause ? GW_MP_PAUSE : 0;
}

static const gw_mp_callbacks cbs = {on_begin, on_data, on_end};

/* Feeds body in the given pieces (cuts: offsets where a new piece starts), feeding the
 * rest again after every pause. Returns the final code: 0, or the first error. */
static int run(const char *boundary, const char *body, size_t len, const size_t *cuts,
               size_t ncuts, int pause, seen *s, int max_parts) {
  memset(s, 0, sizeof *s);
  s->pause = pause;
  gw_multipart m;
  assert_int_equal(gw_multipart_init(&m, boundary, max_parts, &cbs, s), 0);
  size_t from = 0;
  for (size_t k = 0; k <= ncuts; k++) {
    size_t to = k < ncuts ? cuts[k] : len;
    while (from < to) {
      long n = gw_multipart_feed(&m, (const uint8_t *)body + from, to - from);
      if (n < 0) return (int)n;
      assert_true(n > 0 || pause);
      assert_true((size_t)n <= to - from);
      from += (size_t)n;
    }
  }
  return gw_multipart_finish(&m);
}

static const char BODY[] =
    "preamble, ignored\r\n"
    "--XyZ'()+_,-./:=?\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "my \r\n application\r\r\n--XyZ not yet\r\n"
    "--XyZ'()+_,-./:=? \t\r\n"
    "content-disposition: form-data; name=\"files\"; filename=\"id \\\"card\\\".jpg\"\r\n"
    "Content-Type: image/jpeg\r\n"
    "\r\n"
    "\xff\xd8\xff\xe0\r\n--XyZ'()+_,-./:=!\r\r\r\n\0bin\r\n"
    "--XyZ'()+_,-./:=?\r\n"
    "Content-Disposition: form-data; filename=scan.pdf; name=files\r\n"
    "Content-Type: application/pdf\r\n"
    "\r\n"
    "\r\n"
    "--XyZ'()+_,-./:=?--\r\n"
    "epilogue, ignored --XyZ'()+_,-./:=?\r\n";
static const char BOUNDARY[] = "XyZ'()+_,-./:=?";
static const char WANT[] =
    "[title||]my \r\n application\r\r\n--XyZ not yet."
    "[files|F:id \"card\".jpg|image/jpeg]\xff\xd8\xff\xe0\r\n--XyZ'()+_,-./:=!\r\r\r\n\0bin."
    "[files|F:scan.pdf|application/pdf].";

static void test_whole_body_gives_every_part(void **state) {
  (void)state;
  seen s;
  assert_int_equal(run(BOUNDARY, BODY, sizeof BODY - 1, NULL, 0, 0, &s, 10), 0);
  assert_int_equal(s.len, sizeof WANT - 1);
  assert_memory_equal(s.log, WANT, sizeof WANT - 1);
}

static void test_split_at_every_byte_position_gives_the_same_parts(void **state) {
  (void)state;
  size_t len = sizeof BODY - 1;
  seen s;
  for (size_t cut = 1; cut < len; cut++) {
    for (int pause = 0; pause < 2; pause++) {
      assert_int_equal(run(BOUNDARY, BODY, len, &cut, 1, pause, &s, 10), 0);
      if (s.len != sizeof WANT - 1 || memcmp(s.log, WANT, s.len) != 0)
        fail_msg("split at %zu (pause %d) gave a different result", cut, pause);
    }
  }
}

static void test_a_byte_at_a_time_with_pauses_gives_the_same_parts(void **state) {
  (void)state;
  size_t len = sizeof BODY - 1;
  size_t *cuts = malloc(len * sizeof *cuts);
  for (size_t i = 0; i < len - 1; i++) cuts[i] = i + 1;
  seen s;
  for (int pause = 0; pause < 2; pause++) {
    assert_int_equal(run(BOUNDARY, BODY, len, cuts, len - 1, pause, &s, 10), 0);
    assert_int_equal(s.len, sizeof WANT - 1);
    assert_memory_equal(s.log, WANT, sizeof WANT - 1);
  }
  free(cuts);
}

static void test_a_body_starting_with_the_delimiter_and_an_empty_form(void **state) {
  (void)state;
  seen s;
  static const char b1[] = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--";
  assert_int_equal(run("b", b1, sizeof b1 - 1, NULL, 0, 0, &s, 10), 0);
  assert_string_equal(s.log, "[a||]v.");
  static const char b2[] = "--b--\r\n";
  assert_int_equal(run("b", b2, sizeof b2 - 1, NULL, 0, 0, &s, 10), 0);
  assert_string_equal(s.log, "");
}

static void test_boundaries_are_read_from_the_content_type(void **state) {
  (void)state;
  char b[GW_MP_BOUNDARY_MAX + 1];
  assert_int_equal(gw_multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk", b), 0);
  assert_string_equal(b, "----WebKitFormBoundary7MA4YWxk");
  assert_int_equal(gw_multipart_boundary("Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\"", b), 0);
  assert_string_equal(b, "a b:c");
  assert_int_equal(gw_multipart_boundary("multipart/form-data", b), GW_MP_EBAD);
  assert_int_equal(gw_multipart_boundary("multipart/mixed; boundary=x", b), GW_MP_EBAD);
  assert_int_equal(gw_multipart_boundary("application/json", b), GW_MP_EBAD);
  assert_int_equal(gw_multipart_boundary("multipart/form-data; boundary=", b), GW_MP_EBAD);
  assert_int_equal(gw_multipart_boundary("multipart/form-data; boundary=\"ends with \"", b), GW_MP_EBAD);
  assert_int_equal(gw_multipart_boundary("multipart/form-data; boundary=a\"b", b), GW_MP_EBAD);
  assert_int_equal(gw_multipart_boundary("multipart/form-data; boundary=\"a\rb\"", b), GW_MP_EBAD);
  char longb[128];
  memset(longb, 'a', sizeof longb);
  snprintf(longb, sizeof longb, "multipart/form-data; boundary=%071d", 7);
  assert_int_equal(gw_multipart_boundary(longb, b), GW_MP_EBAD); /* 71 characters */
  assert_int_equal(gw_multipart_boundary(NULL, b), GW_MP_EBAD);
}

static void test_malformed_bodies_are_refused(void **state) {
  (void)state;
  seen s;
  static const char *const bad[] = {
      /* no closing delimiter */
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b\r\n",
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue without end",
      "no delimiter at all",
      "",
      /* no content-disposition, or not form-data, or no name */
      "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--",
      "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--b--",
      "--b\r\nContent-Disposition: form-data; filename=x\r\n\r\nv\r\n--b--",
      "--b\r\n\r\nv\r\n--b--",
      /* malformed header lines and parameters */
      "--b\r\nContent-Disposition form-data; name=a\r\n\r\nv\r\n--b--",
      "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--b--",
      "--b\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\nv\r\n--b--",
      "--b\r\n folded: x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--",
      "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\n\r\n--b--",
      /* junk after a delimiter */
      "--bx\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--",
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b-x",
      "--b \r\rContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = run("b", bad[i], strlen(bad[i]), NULL, 0, 0, &s, 10);
    if (rc != GW_MP_EBAD) fail_msg("body %zu gave %d, not GW_MP_EBAD", i, rc);
  }
}

static void test_header_and_part_limits_hold(void **state) {
  (void)state;
  seen s;
  static char body[GW_MP_HEADER_MAX + 200];
  int n = snprintf(body, sizeof body, "--b\r\nContent-Disposition: form-data; name=a\r\nX-Long: ");
  memset(body + n, 'x', GW_MP_HEADER_MAX);
  snprintf(body + n + GW_MP_HEADER_MAX, 100, "\r\n\r\nv\r\n--b--");
  assert_int_equal(run("b", body, strlen(body), NULL, 0, 0, &s, 10), GW_MP_ETOOBIG);
  static const char three[] =
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
      "--b\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n"
      "--b\r\nContent-Disposition: form-data; name=c\r\n\r\n3\r\n--b--";
  assert_int_equal(run("b", three, sizeof three - 1, NULL, 0, 0, &s, 3), 0);
  assert_int_equal(run("b", three, sizeof three - 1, NULL, 0, 0, &s, 2), GW_MP_ETOOBIG);
  /* a value too long for its field */
  char longname[400];
  snprintf(longname, sizeof longname, "--b\r\nContent-Disposition: form-data; name=%0200d\r\n\r\n\r\n--b--", 1);
  assert_int_equal(run("b", longname, strlen(longname), NULL, 0, 0, &s, 3), GW_MP_EBAD);
}

static int abort_on_data(void *arg, const uint8_t *d, size_t n) {
  (void)arg, (void)d, (void)n;
  return -42;
}

static void test_a_callback_can_abort_the_parse(void **state) {
  (void)state;
  gw_multipart m;
  gw_mp_callbacks cb = {on_begin, abort_on_data, on_end};
  seen s;
  memset(&s, 0, sizeof s);
  assert_int_equal(gw_multipart_init(&m, "b", 4, &cb, &s), 0);
  static const char b[] = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--";
  assert_int_equal(gw_multipart_feed(&m, (const uint8_t *)b, sizeof b - 1), -42);
  assert_int_equal(gw_multipart_init(&m, "bad\r", 4, &cb, &s), GW_MP_EBAD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_body_gives_every_part),
      cmocka_unit_test(test_split_at_every_byte_position_gives_the_same_parts),
      cmocka_unit_test(test_a_byte_at_a_time_with_pauses_gives_the_same_parts),
      cmocka_unit_test(test_a_body_starting_with_the_delimiter_and_an_empty_form),
      cmocka_unit_test(test_boundaries_are_read_from_the_content_type),
      cmocka_unit_test(test_malformed_bodies_are_refused),
      cmocka_unit_test(test_header_and_part_limits_hold),
      cmocka_unit_test(test_a_callback_can_abort_the_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
