/*
 * fuzz_statement.c - a channel's statement CSV as finance staff upload it
 * (payment/statement.c), then matched against itself (payment/recon.c).
 *
 * Properties: a refused text gives no statement and a reason; an accepted one has rows
 * whose amounts add up to its summary, whose keys are non-empty, and whose refunds are
 * at most their order; written back (pay_statement_write) it parses to the same rows;
 * and matched against itself every row is MATCHED.
 */
#include <string.h>

#include "fuzz.h"
#include "recon.h"
#include "statement.h"
#include "yw_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  pay_statement *st = (pay_statement *)1;
  char err[PAY_STATEMENT_ERR_MAX];
  int rc = pay_statement_parse((const char *)data, size, &st, err);
  if (rc != 0) {
    FUZZ_CHECK(st == NULL && err[0] != '\0');
    return 0;
  }
  FUZZ_CHECK(st != NULL);
  int64_t pay = 0, refund = 0, fee = 0;
  for (size_t i = 0; i < st->n; i++) {
    const pay_stmt_row *r = &st->rows[i];
    FUZZ_CHECK(r->out_trade_no[0] != '\0' && r->mchid[0] != '\0');
    FUZZ_CHECK(r->order_fen > 0);
    if (r->kind == PAY_STMT_PAY) {
      FUZZ_CHECK(r->refund_fen == 0 && r->out_refund_no[0] == '\0');
      pay += r->order_fen;
    } else {
      FUZZ_CHECK(r->refund_fen > 0 && r->refund_fen <= r->order_fen && r->out_refund_no[0] != '\0');
    }
    refund += r->refund_fen;
    fee += r->fee_fen;
  }
  FUZZ_CHECK(pay == st->pay_total_fen && refund == st->refund_total_fen && fee == st->fee_total_fen);
  /* written back, it reads the same */
  char *text = NULL;
  size_t len = 0;
  FUZZ_CHECK(pay_statement_write(st->rows, st->n, &text, &len) == 0);
  pay_statement *again = NULL;
  FUZZ_CHECK(pay_statement_parse(text, len, &again, err) == 0);
  FUZZ_CHECK(again->n == st->n);
  for (size_t i = 0; i < st->n; i++) {
    const pay_stmt_row *a = &st->rows[i], *b = &again->rows[i];
    FUZZ_CHECK(a->kind == b->kind && a->time_unix == b->time_unix && a->order_fen == b->order_fen &&
               a->refund_fen == b->refund_fen && a->fee_fen == b->fee_fen);
    FUZZ_CHECK(strcmp(a->out_trade_no, b->out_trade_no) == 0 &&
               strcmp(a->out_refund_no, b->out_refund_no) == 0);
  }
  /* against itself, everything matches */
  pay_recon_item *ch = calloc(st->n + 1, sizeof *ch), *pf = calloc(st->n + 1, sizeof *pf);
  FUZZ_CHECK(ch != NULL && pf != NULL);
  pay_recon_items_from_statement(st, ch);
  pay_recon_items_from_statement(again, pf);
  pay_recon_window w = {.day_end_unix = 0, .cutoff_s = 300};
  pay_recon_result *res = NULL;
  size_t n = 0;
  FUZZ_CHECK(pay_recon_match(ch, st->n, pf, st->n, &w, &res, &n) == 0);
  FUZZ_CHECK(n == st->n);
  for (size_t i = 0; i < n; i++) FUZZ_CHECK(res[i].cls == PAY_RECON_MATCHED);
  free(res);
  free(ch);
  free(pf);
  pay_statement_free(again);
  free(text);
  pay_statement_free(st);
  return 0;
}
