/*
 * janitor.h - the periodic pass that brings every order to an end (PAID, CLOSED or
 * REFUNDED): orders left PAYING or UNKNOWN past their window are queried at the channel
 * and booked as the channel says; expired ones are closed (CLOSING -> close at the
 * channel -> CLOSED, or paid when the channel refuses the close because it is paid);
 * expired CREATED orders are closed; PENDING refunds are asked again with the same
 * out_refund_no. One copy of the service runs it at a time (a PostgreSQL advisory lock
 * held for the pass). Every pass is bounded: batch rows of each kind, each channel call
 * within the context's channel timeout.
 */
#ifndef PAY_JANITOR_H
#define PAY_JANITOR_H

#include "payment.h"

typedef struct janitor janitor;

typedef struct janitor_stats {
  long long passes, skipped;   /* passes run; passes another copy held the lock for */
  long long paid, closed, refunds_done, refunds_failed, unknown_left;
  long long deferred;          /* rows it could not resolve, put back with a growing delay */
} janitor_stats;

/*
 * One pass now, on a connection of ctx's pool: orders PAYING or UNKNOWN not changed for
 * window_s seconds (or expired), up to batch of each kind, rows deferred before (next_check_at
 * still ahead) left out and those never deferred first; a row it cannot resolve is deferred. Adds what it did to *st (may
 * be NULL). Returns 0 (also when another copy holds the lock: st->skipped), YW_EUNAVAIL
 * when no connection came, or a yw_pg_query code.
 */
int janitor_pass(payment_ctx *ctx, int window_s, int batch, janitor_stats *st);

/* Starts a thread running janitor_pass at once and then every interval_ms (lib/yw_pass.h).
 * Returns 0 and *out, or a code. */
int janitor_start(payment_ctx *ctx, int interval_ms, int window_s, int batch, janitor **out);

/* Stops the thread (waiting for a pass in progress) and frees it. Accepts NULL. */
void janitor_stop(janitor *j);

/* The janitor's counters as /metrics lines into buf (a yw_metrics_fn: arg is the janitor). */
int janitor_metrics(void *arg, char *buf, size_t len);

#endif
