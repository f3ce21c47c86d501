/*
 * notice_code.h - the payment notice code (缴款码): 20 decimal digits, unique per order,
 * whose last digit is a Damm check digit over the first 19.
 *
 * Structure (payment/README.md, "Notice code"):
 *   YY S RRRRRRRRRRRRRRRR C
 *   YY   the year of issue, two digits (Asia/Shanghai)
 *   S    the source: 1 a standalone notice, 2 an application's fee
 *   R    16 random digits (the OS CSPRNG): a code cannot be guessed from another
 *   C    the Damm check digit of the 19 before it
 * The Damm check digit detects every single wrong digit and every swap of two adjacent
 * digits, which covers the common mistakes of a code read out or typed at a counter.
 * Uniqueness is the database's (a UNIQUE column; the caller draws again on conflict).
 *
 * Pure functions; no I/O but the random source.
 */
#ifndef PAY_NOTICE_CODE_H
#define PAY_NOTICE_CODE_H

#define NOTICE_CODE_LEN 20

/* The Damm check digit ('0'..'9') of n decimal digits, or -1 when one is not a digit. */
int notice_code_check_digit(const char *digits, int n);

/* 1 when code is 20 decimal digits whose last is the check digit of the 19 before. */
int notice_code_valid(const char *code);

/* A new code for year (2000..2099) and source (1 or 2) into out (at least 21 bytes).
 * Returns 0, YW_EINVAL or YW_EINTERNAL (no randomness). */
int notice_code_new(int year, int source, char *out, unsigned long size);

#endif
