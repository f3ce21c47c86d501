/*
 * recon.c - the matching core of daily reconciliation: a full outer join of the
 * channel's statement and the platform's records by sorting both sides and merging.
 *
 * Design: sorting with qsort and one linear walk keeps the cost O(n log n) and the
 * memory at one result per row, whatever the mix; there is no hash table and no
 * per-row query. Ties (a key repeated on one side) pair in the order of the secondary
 * sort key (time, then ref), so the outcome is deterministic. The rule itself is
 * described in recon.h.
 *
 * Offers: pay_recon_class_name, pay_recon_class_parse, pay_recon_items_from_statement,
 * pay_recon_match.
 */
#include "recon.h"

#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

static const char *const CLASS_NAMES[PAY_RECON_CLASSES] = {
    "MATCHED", "AMOUNT_MISMATCH", "CHANNEL_ONLY", "PLATFORM_ONLY", "DEFERRED"};

const char *pay_recon_class_name(pay_recon_class c) {
  if ((int)c < 0 || (int)c >= PAY_RECON_CLASSES) return NULL;
  return CLASS_NAMES[c];
}

int pay_recon_class_parse(const char *name) {
  if (name == NULL) return -1;
  for (int c = 0; c < PAY_RECON_CLASSES; c++)
    if (strcmp(name, CLASS_NAMES[c]) == 0) return c;
  return -1;
}

void pay_recon_items_from_statement(const pay_statement *st, pay_recon_item *items) {
  for (size_t i = 0; i < st->n; i++) {
    const pay_stmt_row *r = &st->rows[i];
    pay_recon_item *it = &items[i];
    it->kind = r->kind;
    it->out_trade_no = r->out_trade_no;
    it->key = r->kind == PAY_STMT_PAY ? r->out_trade_no : r->out_refund_no;
    it->amount_fen = r->kind == PAY_STMT_PAY ? r->order_fen : r->refund_fen;
    it->fee_fen = r->fee_fen;
    it->time_unix = r->time_unix;
    it->ref = (int64_t)r->line;
    it->carried = 0;
  }
}

static int key_cmp(const pay_recon_item *a, const pay_recon_item *b) {
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  return strcmp(a->key, b->key);
}

static int item_cmp(const void *pa, const void *pb) {
  const pay_recon_item *a = pa, *b = pb;
  int c = key_cmp(a, b);
  if (c != 0) return c;
  if (a->time_unix != b->time_unix) return a->time_unix < b->time_unix ? -1 : 1;
  if (a->ref != b->ref) return a->ref < b->ref ? -1 : 1;
  return 0;
}

static pay_recon_class platform_only(const pay_recon_item *p, const pay_recon_window *w) {
  if (!p->carried && p->time_unix >= w->day_end_unix - w->cutoff_s) return PAY_RECON_DEFERRED;
  return PAY_RECON_PLATFORM_ONLY;
}

int pay_recon_match(pay_recon_item *channel, size_t nc, pay_recon_item *platform, size_t np,
                    const pay_recon_window *w, pay_recon_result **out, size_t *nout) {
  if (out == NULL || nout == NULL || w == NULL || w->cutoff_s < 0 || w->cutoff_s > 86400 ||
      (nc > 0 && channel == NULL) || (np > 0 && platform == NULL))
    return YW_EINVAL;
  *out = NULL;
  *nout = 0;
  for (size_t i = 0; i < nc; i++)
    if (channel[i].key == NULL) return YW_EINVAL;
  for (size_t i = 0; i < np; i++)
    if (platform[i].key == NULL) return YW_EINVAL;
  if (nc > 0) qsort(channel, nc, sizeof *channel, item_cmp);
  if (np > 0) qsort(platform, np, sizeof *platform, item_cmp);
  pay_recon_result *res = malloc((nc + np + 1) * sizeof *res);
  if (res == NULL) return YW_ENOMEM;
  size_t i = 0, j = 0, n = 0;
  while (i < nc || j < np) {
    int c = i == nc ? 1 : j == np ? -1 : key_cmp(&channel[i], &platform[j]);
    pay_recon_result *r = &res[n++];
    if (c == 0) {
      r->channel = &channel[i++];
      r->platform = &platform[j++];
      r->cls = r->channel->amount_fen == r->platform->amount_fen ? PAY_RECON_MATCHED
                                                                 : PAY_RECON_AMOUNT_MISMATCH;
    } else if (c < 0) {
      r->channel = &channel[i++];
      r->platform = NULL;
      r->cls = PAY_RECON_CHANNEL_ONLY;
    } else {
      r->channel = NULL;
      r->platform = &platform[j++];
      r->cls = platform_only(r->platform, w);
    }
  }
  *out = res;
  *nout = n;
  return 0;
}
