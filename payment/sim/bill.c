/*
 * bill.c - the daily statement (对账单) of one channel: one CSV per Asia/Shanghai day,
 * WeChat's layout (payment_spec / payment/README.md "Channels and the simulator").
 *
 * Rows come from the channel's own state: a SUCCESS row for each order paid that day
 * (kept as SUCCESS after later refunds, as WeChat does), a REFUND row for each refund
 * made that day, and the rows /sim/tamper asked for (an amount shown otherwise, a row
 * left out, a paid row of an order nobody created). Rows are ordered by time, then
 * out_trade_no. Fees: round-half-up(amount_fen * 6 / 1000) for a payment, the negative
 * of the same on the refunded amount for a refund. The summary is computed from the
 * rows as written, so a tampered statement is still consistent in itself.
 *
 * Offers: sim_bill.
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

typedef struct row {
  int64_t t;
  const char *no, *txid, *refund_no;
  int refund;
  int64_t amount, refund_amount, fee;
} row;

static int64_t fee_of(int64_t fen) { return (fen * 6 + 500) / 1000; }

static int cmp_row(const void *a, const void *b) {
  const row *x = a, *y = b;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  int c = strcmp(x->no, y->no);
  if (c != 0) return c;
  return x->refund - y->refund;
}

static int day_of(int64_t t) { return (int)((t + 8 * 3600) / 86400); }

static void yuan(char out[32], int64_t fen) {
  int64_t a = fen < 0 ? -fen : fen;
  snprintf(out, 32, "%s%" PRId64 ".%02" PRId64, fen < 0 ? "-" : "", a / 100, a % 100);
}

static int push(row **rows, size_t *n, size_t *cap, row r) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    row *nr = realloc(*rows, nc * sizeof *nr);
    if (nr == NULL) return -1;
    *rows = nr;
    *cap = nc;
  }
  (*rows)[(*n)++] = r;
  return 0;
}

long sim_bill(const sim_chan *c, int day, struct evbuffer *out) {
  row *rows = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < c->orders.cap; i++) {
    const sim_order *o = c->orders.slots[i];
    if (o == NULL || o->success_unix == 0 || o->tamper == SIM_TAMPER_DROP) continue;
    if (day_of(o->success_unix) != day) continue;
    int64_t amount = o->tamper == SIM_TAMPER_AMOUNT ? o->tamper_amount : o->total;
    if (push(&rows, &n, &cap,
             (row){o->success_unix, o->out_trade_no, o->transaction_id, "", 0, amount, 0,
                   fee_of(amount)}) != 0)
      goto oom;
  }
  for (size_t i = 0; i < c->refunds.cap; i++) {
    const sim_refund *r = c->refunds.slots[i];
    if (r == NULL || day_of(r->success_unix) != day) continue;
    if (push(&rows, &n, &cap,
             (row){r->success_unix, r->order->out_trade_no, r->order->transaction_id,
                   r->out_refund_no, 1, r->order->total, r->amount, -fee_of(r->amount)}) != 0)
      goto oom;
  }
  for (size_t i = 0; i < c->nextras; i++) {
    const sim_extra *e = &c->extras[i];
    if (day_of(e->success_unix) != day) continue;
    if (push(&rows, &n, &cap,
             (row){e->success_unix, e->out_trade_no, e->transaction_id, "", 0, e->amount, 0,
                   fee_of(e->amount)}) != 0)
      goto oom;
  }
  if (n == 0) {
    free(rows);
    return 0;
  }
  qsort(rows, n, sizeof *rows, cmp_row);
  evbuffer_add_printf(out, "交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,"
                           "商户退款单号,退款金额,手续费,费率\r\n");
  int64_t sum_paid = 0, sum_refund = 0, sum_fee = 0;
  for (size_t i = 0; i < n; i++) {
    const row *r = &rows[i];
    char when[PAY_TIME_MAX], amount[32], refund[32], fee[32];
    pay_time_format(r->t, when);
    when[10] = ' ';
    when[19] = '\0';
    yuan(amount, r->amount);
    yuan(refund, r->refund_amount);
    yuan(fee, r->fee);
    evbuffer_add_printf(out, "`%s,`%s,`%s,`%s,`NATIVE,`%s,`%s,`%s,`%s,`%s,`0.60%%\r\n", when,
                        c->mchid, r->no, r->txid, r->refund ? "REFUND" : "SUCCESS", amount,
                        r->refund_no, refund, fee);
    if (!r->refund) sum_paid += r->amount;
    sum_refund += r->refund_amount;
    sum_fee += r->fee;
  }
  char a[32], b[32], f[32];
  yuan(a, sum_paid);
  yuan(b, sum_refund);
  yuan(f, sum_fee);
  evbuffer_add_printf(out, "总交易单数,应结订单总金额,退款总金额,手续费总金额\r\n`%zu,`%s,`%s,`%s\r\n",
                      n, a, b, f);
  free(rows);
  return (long)n;
oom:
  free(rows);
  return -1;
}
