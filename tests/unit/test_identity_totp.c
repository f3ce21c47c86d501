/*
 * test_identity_totp.c - the staff's one-time passwords against RFC 6238 appendix B
 * (SHA-1, the key "12345678901234567890", 8 digits, and their last 6 digits), base32
 * against RFC 4648's examples, and the QR code of an otpauth:// URI as SVG.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "totp.h"

static const uint8_t rfc_key[] = "12345678901234567890";

static void test_totp_rfc6238_vectors(void **state) {
  (void)state;
  static const struct {
    uint64_t t;
    const char *code;
  } v[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
           {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000ULL, "65353130"}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char out[16];
    assert_int_equal(identity_totp(rfc_key, 20, v[i].t / 30, 8, out, sizeof out), 0);
    assert_string_equal(out, v[i].code);
    /* six digits are the last six of eight (the same number modulo 10^6) */
    assert_int_equal(identity_totp(rfc_key, 20, v[i].t / 30, 6, out, sizeof out), 0);
    assert_string_equal(out, v[i].code + 2);
  }
}

static void test_totp_refuses_bad_arguments(void **state) {
  (void)state;
  char out[16];
  assert_int_equal(identity_totp(rfc_key, 20, 1, 5, out, sizeof out), -1);
  assert_int_equal(identity_totp(rfc_key, 20, 1, 6, out, 6), -1); /* no room for the NUL */
  assert_int_equal(identity_totp(NULL, 20, 1, 6, out, sizeof out), -1);
}

static void test_base32_round_trip_and_rfc4648(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(identity_base32_encode((const uint8_t *)"foobar", 6, out, sizeof out), 10);
  assert_string_equal(out, "MZXW6YTBOI"); /* RFC 4648: "MZXW6YTBOI======" without padding */
  assert_int_equal(identity_base32_encode(rfc_key, 20, out, sizeof out), 32);
  assert_string_equal(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  uint8_t back[32];
  assert_int_equal(identity_base32_decode("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", back, sizeof back), 20);
  assert_memory_equal(back, rfc_key, 20);
  assert_int_equal(identity_base32_decode("GEZ1", back, sizeof back), -1); /* 1 is not base32 */
  assert_int_equal(identity_base32_decode("GEZDGNBVGY3TQOJQ", back, 4), -1); /* too small */
  assert_int_equal(identity_base32_encode(rfc_key, 20, out, 32), 0);
}

static void test_qr_svg_of_an_otpauth_uri(void **state) {
  (void)state;
  char *svg = identity_qr_svg(
      "otpauth://totp/yiwang:auditor?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=yiwang");
  assert_non_null(svg);
  assert_true(strncmp(svg, "<svg ", 5) == 0);
  assert_non_null(strstr(svg, "</g></svg>"));
  /* the three finder patterns alone have dozens of dark runs */
  size_t rects = 0;
  for (const char *p = svg; (p = strstr(p, "<rect")) != NULL; p++) rects++;
  assert_true(rects > 50);
  free(svg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_totp_rfc6238_vectors),
      cmocka_unit_test(test_totp_refuses_bad_arguments),
      cmocka_unit_test(test_base32_round_trip_and_rfc4648),
      cmocka_unit_test(test_qr_svg_of_an_otpauth_uri),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
