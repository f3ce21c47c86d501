/*
 * recon.h - matching a channel's statement against the platform's records of one
 * channel and one day (the core of daily reconciliation; no I/O).
 *
 * The matching rule: a row is keyed by its kind and merchant number, PAY + out_trade_no
 * or REFUND + out_refund_no. Both sides are sorted by that key and walked together (a
 * full outer join by merge, O(n log n), no hash per row):
 *   - both sides, same amount                 -> PAY_RECON_MATCHED
 *   - both sides, amounts differ              -> PAY_RECON_AMOUNT_MISMATCH
 *   - only on the statement                   -> PAY_RECON_CHANNEL_ONLY (长款)
 *   - only on the platform, its time within cutoff_s of the day's end and not carried
 *     from the day before                     -> PAY_RECON_DEFERRED (looked for again
 *                                                the next day)
 *   - only on the platform otherwise          -> PAY_RECON_PLATFORM_ONLY (短款)
 * The platform side of day D holds the platform's rows whose success time falls in D,
 * plus the rows that D-1 deferred, marked carried: those match D's statement rows, and
 * one missing there too is PLATFORM_ONLY (past the window). A key seen twice on one side
 * pairs with the other side's rows of that key in order; the surplus is one-sided.
 * The result is ordered by (kind, key, side), so the same inputs give the same results.
 */
#ifndef PAY_RECON_H
#define PAY_RECON_H

#include <stddef.h>
#include <stdint.h>

#include "statement.h"

/* The default cut-off window around midnight, seconds (YW_RECON_CUTOFF_S). */
#define PAY_RECON_CUTOFF_DEFAULT_S 300

typedef enum pay_recon_class {
  PAY_RECON_MATCHED = 0,
  PAY_RECON_AMOUNT_MISMATCH = 1,
  PAY_RECON_CHANNEL_ONLY = 2,
  PAY_RECON_PLATFORM_ONLY = 3,
  PAY_RECON_DEFERRED = 4,
} pay_recon_class;
#define PAY_RECON_CLASSES 5

/* The upper-case name of a class ("CHANNEL_ONLY"); NULL for an unknown value. */
const char *pay_recon_class_name(pay_recon_class c);
/* The class named name, or -1. */
int pay_recon_class_parse(const char *name);

/* One side's row as matching sees it. Strings are borrowed: they must outlive the
 * match and its results. */
typedef struct pay_recon_item {
  pay_stmt_kind kind;
  const char *key;          /* out_trade_no (PAY) or out_refund_no (REFUND) */
  const char *out_trade_no; /* the order, on both kinds */
  int64_t amount_fen;       /* PAY: the order's amount; REFUND: the refund's amount */
  int64_t fee_fen;          /* the channel's fee (statement side; 0 on the platform's) */
  int64_t time_unix;        /* success time */
  int64_t ref;              /* the caller's handle (row index, database id) */
  int carried;              /* platform side: deferred by the day before */
} pay_recon_item;

/* One result: a pair or a one-sided row. */
typedef struct pay_recon_result {
  pay_recon_class cls;
  const pay_recon_item *channel;  /* NULL when PLATFORM_ONLY or DEFERRED */
  const pay_recon_item *platform; /* NULL when CHANNEL_ONLY */
} pay_recon_result;

typedef struct pay_recon_window {
  int64_t day_end_unix; /* the instant the day ends (next day's 00:00 Asia/Shanghai) */
  int cutoff_s;         /* 0..86400 */
} pay_recon_window;

/* Fills items[i] from the statement's rows (ref = the row's line). items has st->n slots. */
void pay_recon_items_from_statement(const pay_statement *st, pay_recon_item *items);

/* Matches nc channel items against np platform items. Sorts both arrays in place.
 * On success *out is a new array of *nout results (free with free()), pointing into
 * the two arrays. YW_EINVAL on bad arguments (a NULL key, cutoff out of range),
 * YW_ENOMEM. */
int pay_recon_match(pay_recon_item *channel, size_t nc, pay_recon_item *platform, size_t np,
                    const pay_recon_window *w, pay_recon_result **out, size_t *nout);

#endif
