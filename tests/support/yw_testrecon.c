/*
 * yw_testrecon.c - a synthetic channel day for reconciliation tests and the benchmark
 * (see yw_testrecon.h). Offers: yw_recon_day_make, yw_recon_day_free.
 */
#include "yw_testrecon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

#define KEY_BYTES 24

int yw_recon_day_make(yw_recon_day *day, size_t n, int64_t day_start) {
  memset(day, 0, sizeof *day);
  day->keys = malloc(n * KEY_BYTES + 1);
  day->rows = calloc(n + 1, sizeof *day->rows);
  day->items = calloc(n + 1, sizeof *day->items);
  if (day->keys == NULL || day->rows == NULL || day->items == NULL) {
    yw_recon_day_free(day);
    return YW_ENOMEM;
  }
  day->n = n;
  uint64_t rng = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    char *k = day->keys + i * KEY_BYTES;
    pay_stmt_row *r = &day->rows[i];
    if (i % 10 == 9) {
      *r = day->rows[i - 1];
      snprintf(k, KEY_BYTES, "RF%010zu", i);
      r->kind = PAY_STMT_REFUND;
      r->out_refund_no = k;
      r->refund_fen = r->order_fen / 2;
      r->fee_fen = -((r->refund_fen * 6 + 500) / 1000);
    } else {
      snprintf(k, KEY_BYTES, "YW%010zu", i);
      r->mchid = "1900000001";
      r->transaction_id = "4200000001";
      r->trade_type = "NATIVE";
      r->kind = PAY_STMT_PAY;
      r->out_trade_no = k;
      r->out_refund_no = "";
      r->order_fen = 100 + (int64_t)(rng % 100000);
      r->fee_fen = (r->order_fen * 6 + 500) / 1000;
    }
    r->time_unix = day_start + (int64_t)(i * 86000 / (n ? n : 1));
    pay_recon_item *p = &day->items[i];
    p->kind = r->kind;
    p->key = k;
    p->out_trade_no = r->out_trade_no;
    p->amount_fen = r->kind == PAY_STMT_PAY ? r->order_fen : r->refund_fen;
    p->time_unix = r->time_unix;
    p->ref = (int64_t)i;
  }
  return 0;
}

void yw_recon_day_free(yw_recon_day *day) {
  if (day == NULL) return;
  free(day->keys);
  free(day->rows);
  free(day->items);
  memset(day, 0, sizeof *day);
}
