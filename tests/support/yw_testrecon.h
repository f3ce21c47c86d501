/*
 * yw_testrecon.h - a synthetic day of one channel for reconciliation tests and the
 * benchmark: n statement rows (every tenth a refund of half the order before it, fees
 * as the simulator charges them) and the platform's matching records, one per row, in
 * the same order. Repeatable: the same n gives the same day.
 */
#ifndef YW_TESTRECON_H
#define YW_TESTRECON_H

#include <stddef.h>
#include <stdint.h>

#include "recon.h"
#include "statement.h"

typedef struct yw_recon_day {
  pay_stmt_row *rows;     /* n statement rows */
  pay_recon_item *items;  /* n platform records, items[i] matches rows[i] */
  char *keys;             /* the key strings both point into */
  size_t n;
} yw_recon_day;

/* Fills day with n rows whose success times spread over [day_start, day_start + 86000).
 * Returns 0, or YW_ENOMEM. */
int yw_recon_day_make(yw_recon_day *day, size_t n, int64_t day_start);

/* Frees what yw_recon_day_make allocated. Accepts a zeroed day. */
void yw_recon_day_free(yw_recon_day *day);

#endif
