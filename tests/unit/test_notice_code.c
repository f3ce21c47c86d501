/*
 * test_notice_code.c - the payment notice code (payment/notice_code.c).
 *
 * Proves: new codes are 20 digits with the year and source in front and a valid check
 * digit, and differ from each other; for many codes, EVERY single wrong digit (each of
 * the 20 positions, each of the 9 other digits) and EVERY swap of two different adjacent
 * digits is refused; a code of the wrong length or with a non-digit is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "notice_code.h"

static void new_codes_are_well_formed(void **state) {
  (void)state;
  char a[32], b[32];
  assert_int_equal(notice_code_new(2026, 1, a, sizeof a), 0);
  assert_int_equal(notice_code_new(2026, 2, b, sizeof b), 0);
  assert_int_equal(strlen(a), 20);
  assert_memory_equal(a, "261", 3);
  assert_memory_equal(b, "262", 3);
  assert_true(notice_code_valid(a));
  assert_true(notice_code_valid(b));
  assert_string_not_equal(a + 3, b + 3);
  assert_int_not_equal(notice_code_new(2026, 3, a, sizeof a), 0);
  assert_int_not_equal(notice_code_new(2026, 1, a, 20), 0);
}

static void every_single_error_and_adjacent_swap_is_caught(void **state) {
  (void)state;
  long single = 0, swaps = 0;
  for (int n = 0; n < 300; n++) {
    char code[32];
    assert_int_equal(notice_code_new(2026, 1 + n % 2, code, sizeof code), 0);
    for (int i = 0; i < 20; i++) {
      char orig = code[i];
      for (char d = '0'; d <= '9'; d++) {
        if (d == orig) continue;
        code[i] = d;
        assert_false(notice_code_valid(code));
        single++;
      }
      code[i] = orig;
      if (i < 19 && code[i] != code[i + 1]) {
        char t = code[i];
        code[i] = code[i + 1];
        code[i + 1] = t;
        assert_false(notice_code_valid(code));
        code[i + 1] = code[i];
        code[i] = t;
        swaps++;
      }
    }
    assert_true(notice_code_valid(code));
  }
  assert_int_equal(single, 300L * 20 * 9);
  assert_true(swaps > 300L * 15);
}

static void malformed_codes_are_refused(void **state) {
  (void)state;
  assert_false(notice_code_valid(NULL));
  assert_false(notice_code_valid(""));
  assert_false(notice_code_valid("2610000000000000000"));
  assert_false(notice_code_valid("261000000000000000000"));
  assert_false(notice_code_valid("26100000000000000a00"));
  /* the check digit of "2610000000000000000" followed by it is valid */
  char code[21] = "2610000000000000000";
  code[19] = (char)notice_code_check_digit(code, 19);
  code[20] = '\0';
  assert_true(notice_code_valid(code));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(new_codes_are_well_formed),
      cmocka_unit_test(every_single_error_and_adjacent_swap_is_caught),
      cmocka_unit_test(malformed_codes_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
