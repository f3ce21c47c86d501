/*
 * notice_code.c - generating and checking payment notice codes (notice_code.h).
 *
 * The check digit is H. Michael Damm's (2004): a totally anti-symmetric quasigroup of
 * order 10 as a table; the check digit makes the running interim digit over the whole
 * code 0. Unlike the Luhn digit it detects every adjacent transposition (09 <-> 90 too),
 * and it needs no weights.
 *
 * Offers: notice_code_check_digit, notice_code_valid, notice_code_new.
 */
#include "notice_code.h"

#include <stdio.h>
#include <string.h>

#include "yw_crypto.h"
#include "yw_err.h"

static const unsigned char damm[10][10] = {
    {0, 3, 1, 7, 5, 9, 8, 6, 4, 2}, {7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
    {4, 2, 0, 6, 8, 7, 1, 3, 5, 9}, {1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
    {6, 1, 2, 3, 0, 4, 5, 9, 7, 8}, {3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
    {5, 8, 6, 9, 7, 2, 0, 1, 3, 4}, {8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
    {9, 4, 3, 8, 6, 1, 7, 2, 0, 5}, {2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
};

int notice_code_check_digit(const char *digits, int n) {
  int interim = 0;
  for (int i = 0; i < n; i++) {
    if (digits[i] < '0' || digits[i] > '9') return -1;
    interim = damm[interim][digits[i] - '0'];
  }
  return '0' + interim;
}

int notice_code_valid(const char *code) {
  if (code == NULL || strlen(code) != NOTICE_CODE_LEN) return 0;
  int c = notice_code_check_digit(code, NOTICE_CODE_LEN - 1);
  return c >= 0 && c == code[NOTICE_CODE_LEN - 1];
}

int notice_code_new(int year, int source, char *out, unsigned long size) {
  if (out == NULL || size < NOTICE_CODE_LEN + 1 || year < 2000 || year > 2099 || source < 1 || source > 2)
    return YW_EINVAL;
  char random[24];
  if (yw_random_digits(16, random, sizeof random) != 0) return YW_EINTERNAL;
  snprintf(out, size, "%02d%d%s", year % 100, source, random);
  int c = notice_code_check_digit(out, NOTICE_CODE_LEN - 1);
  if (c < 0 || strlen(out) != NOTICE_CODE_LEN - 1) return YW_EINTERNAL;
  out[NOTICE_CODE_LEN - 1] = (char)c;
  out[NOTICE_CODE_LEN] = '\0';
  return 0;
}
