/*
 * janitor.c - the pass over unfinished orders and refunds (janitor.h).
 *
 * No channel guarantees that its notification arrives, and a process may die between the
 * channel's answer and our commit; the janitor asks the channel (query) for every order
 * it left unresolved, as GOV.UK Pay's mop-up job and Kill Bill's Janitor do, and books
 * what the channel says through the same functions as a notification (pay_book_paid,
 * pay_book_refund), so the two never book twice (the journal's (kind, ref) is unique and
 * the order's status changes by compare-and-set).
 *
 * One copy at a time: pg_try_advisory_lock on the pass's connection; a copy that does not
 * get it skips the pass. The lock dies with the session if the process dies.
 *
 * Never starved: a row the pass cannot resolve (its channel not configured or not
 * answering, an error) is deferred: next_check_at = now() + 10 s * 2^misses (at most an
 * hour), check_misses + 1 (migrations/030_janitor_backoff.sql). A pass takes rows not
 * deferred, those never deferred first, so a bad channel's rows go to the back.
 *
 * Offers: janitor_pass, janitor_start, janitor_stop, janitor_metrics.
 */
#include "janitor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_log.h"
#include "yw_pass.h"

#define LOCK_SQL "SELECT pg_try_advisory_lock(hashtext('payment.janitor'))"
#define UNLOCK_SQL "SELECT pg_advisory_unlock(hashtext('payment.janitor'))"

/* The bound of each step's statements (the lock, a listing, one row's transaction or
 * deferral): the pass's connection has no caller's deadline, so each step is given its
 * own before it starts (the channel calls between steps have their own timeout). */
#define STEP_MS 5000

struct janitor {
  payment_ctx *ctx;
  int window_s, batch;
  yw_pass *thread;
  pthread_mutex_t mu; /* guards st */
  janitor_stats st;
};

/* ---- one transaction on the pass's connection ------------------------------------- */

typedef int (*tx_fn)(PGconn *conn, void *arg, yw_pg_error *err);

static int in_tx(PGconn *conn, tx_fn fn, void *arg) {
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  yw_pg_set_deadline(conn, STEP_MS);
  int rc = yw_pg_begin(conn, &err);
  if (rc == 0) rc = fn(conn, arg, &err);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  else yw_pg_rollback(conn);
  if (rc != 0 && rc != YW_EPRECOND)
    yw_log(YW_LOG_WARN, "payment.janitor_tx", NULL, "%s %s", yw_strerror(rc), err.message);
  return rc;
}

struct step {
  const char *order_id, *from, *to, *reason;
  const char *out_trade_no; /* a channel order to mark CLOSED, or NULL */
  const char *channel;
  const pay_query_res *q;
  int closing_paid;
  pay_book_outcome outcome;
};

static int step_transition(PGconn *conn, void *arg, yw_pg_error *err) {
  struct step *s = arg;
  int rc = 0;
  if (s->out_trade_no != NULL) {
    const char *p[1] = {s->out_trade_no};
    PGresult *r = NULL;
    rc = yw_pg_query_write(conn,
                           "UPDATE payment.channel_orders SET status = 'CLOSED', updated_at = now() "
                           "WHERE out_trade_no = $1 AND status = 'OPEN'",
                           1, p, &r, err);
    PQclear(r);
  }
  if (rc == 0) rc = pay_order_transition(conn, s->order_id, s->from, s->to, s->reason, "janitor", NULL, err);
  return rc;
}

static int step_exception(PGconn *conn, void *arg, yw_pg_error *err) {
  struct step *s = arg;
  return pay_order_exception(conn, s->channel, s->out_trade_no, s->reason, "janitor", err);
}

static int step_book(PGconn *conn, void *arg, yw_pg_error *err) {
  struct step *s = arg;
  return pay_book_paid(conn, s->channel, s->out_trade_no, s->q->transaction_id, s->q->total_fen, s->q->success_unix,
                       s->closing_paid, "janitor", &s->outcome, err);
}

static int step_touch(PGconn *conn, void *arg, yw_pg_error *err) {
  struct step *s = arg;
  const char *p[1] = {s->order_id};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(conn,
                             "UPDATE payment.orders SET updated_at = now(), next_check_at = NULL, check_misses = 0 "
                             "WHERE id = $1::uuid",
                             1, p, &r, err);
  PQclear(r);
  return rc;
}

/* The backoff of a row deferred after misses misses: 10 s doubling, at most an hour. */
#define BACKOFF_SQL(m) "now() + make_interval(secs => least(3600, 10 * power(2, least(" m ", 12))))"

/* Defers what the pass could not resolve: to the back of the queue, later each time. */
static void defer_row(PGconn *conn, const char *table_key, const char *key) {
  const char *p[1] = {key};
  PGresult *r = NULL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  yw_pg_set_deadline(conn, STEP_MS);
  int rc = yw_pg_query_write(
      conn,
      strcmp(table_key, "order") == 0
          ? "UPDATE payment.orders SET next_check_at = " BACKOFF_SQL("check_misses") ", check_misses = check_misses + 1 "
            "WHERE id = $1::uuid"
          : "UPDATE payment.refunds SET next_check_at = " BACKOFF_SQL("check_misses") ", check_misses = check_misses + 1 "
            "WHERE out_refund_no = $1 AND status = 'PENDING'",
      1, p, &r, &err);
  PQclear(r);
  if (rc != 0) yw_log(YW_LOG_WARN, "payment.janitor_defer", NULL, "%s %s", yw_strerror(rc), err.message);
}

/* ---- the orders a channel holds ------------------------------------------------------ */

/* Books the order paid as the channel says; 0 or the transaction's code. */
static int book(PGconn *conn, const char *order_id, const char *channel, const char *out_trade_no,
                const pay_query_res *q, int closing_paid, janitor_stats *st) {
  struct step s = {.order_id = order_id, .channel = channel, .out_trade_no = out_trade_no, .q = q,
                   .closing_paid = closing_paid};
  const char *why = pay_paid_mismatch(q->currency, q->total_fen, q->payer_total_fen);
  if (why != NULL) { /* never booked as a payment: EXCEPTION, for finance */
    pay_alert("payment mismatch", out_trade_no, why);
    s.reason = why;
    return in_tx(conn, step_exception, &s);
  }
  int rc = in_tx(conn, step_book, &s);
  if (rc == 0 && (s.outcome == PAY_BOOK_PAID || s.outcome == PAY_BOOK_LATE)) st->paid++;
  return rc;
}

/* CLOSING -> close at the channel -> CLOSED (or paid, when the channel says so). */
/* Returns 0 when the order was resolved, else nonzero (the caller defers it). */
static int close_at_channel(payment_ctx *ctx, PGconn *conn, const char *order_id, const pay_channel *ch,
                            const char *out_trade_no, janitor_stats *st) {
  char code[PAY_CODE_MAX] = "";
  int rc = pay_channel_close(ch, out_trade_no, ctx->channel_timeout_ms, code);
  if (rc == YW_ECONFLICT) { /* ORDER_PAID: query and book as paid */
    pay_query_res q;
    memset(&q, 0, sizeof q);
    if (pay_channel_query(ch, out_trade_no, ctx->channel_timeout_ms, &q, code) == 0 &&
        (q.state == PAY_TRADE_SUCCESS || q.state == PAY_TRADE_REFUND))
      return book(conn, order_id, pay_channel_name(ch), out_trade_no, &q, 1, st);
    return YW_EUNAVAIL;
  }
  if (rc != 0 && rc != YW_ENOTFOUND) return rc; /* no answer: later */
  struct step s = {.order_id = order_id, .from = "CLOSING", .to = "CLOSED", .reason = "closed at the channel",
                   .out_trade_no = out_trade_no};
  rc = in_tx(conn, step_transition, &s);
  if (rc == 0) st->closed++;
  return rc;
}

/* One order a channel holds; 0 when resolved (or left for its next window), else nonzero. */
static int held_order(payment_ctx *ctx, PGconn *conn, const pay_channel *ch, const char *order_id, const char *no,
                      const char *status, int expired, janitor_stats *st) {
  if (ch == NULL) return YW_ENOTFOUND; /* its channel is not configured (any more) */
  if (strcmp(status, "CLOSING") == 0) return close_at_channel(ctx, conn, order_id, ch, no, st);
  pay_query_res q;
  memset(&q, 0, sizeof q);
  char code[PAY_CODE_MAX] = "";
  int rc = pay_channel_query(ch, no, ctx->channel_timeout_ms, &q, code);
  if (rc != 0 && rc != YW_ENOTFOUND) {
    st->unknown_left++;
    return rc;
  }
  if (rc == 0 && (q.state == PAY_TRADE_SUCCESS || q.state == PAY_TRADE_REFUND))
    return book(conn, order_id, pay_channel_name(ch), no, &q, 0, st);
  struct step s = {.order_id = order_id};
  if (expired) {
    s.from = "PAYING,UNKNOWN";
    s.to = "CLOSING";
    s.reason = "expired";
    int trc = in_tx(conn, step_transition, &s);
    if (trc != 0) return trc;
    if (rc == YW_ENOTFOUND || q.state == PAY_TRADE_CLOSED) { /* nothing to close there */
      struct step c = {.order_id = order_id, .from = "CLOSING", .to = "CLOSED", .reason = "the channel has it closed",
                       .out_trade_no = no};
      trc = in_tx(conn, step_transition, &c);
      if (trc == 0) st->closed++;
      return trc;
    }
    return close_at_channel(ctx, conn, order_id, ch, no, st);
  }
  if (strcmp(status, "UNKNOWN") == 0) {
    s.from = "UNKNOWN";
    s.to = "PAYING";
    s.reason = "the channel answered the query: not paid yet";
    rc = in_tx(conn, step_transition, &s);
    return rc == YW_EPRECOND ? 0 : rc;
  }
  return in_tx(conn, step_touch, &s); /* asked again after another window */
}

static int held_orders(payment_ctx *ctx, PGconn *conn, int window_s, int batch, janitor_stats *st) {
  char win[16], lim[16];
  snprintf(win, sizeof win, "%d", window_s);
  snprintf(lim, sizeof lim, "%d", batch);
  const char *p[2] = {win, lim};
  PGresult *r = NULL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  yw_pg_set_deadline(conn, STEP_MS);
  int rc = yw_pg_query_read(conn,
                            "SELECT o.id, c.out_trade_no, c.channel, o.status, o.expires_at < now() "
                            "FROM payment.orders o JOIN LATERAL (SELECT out_trade_no, channel FROM payment.channel_orders "
                            "  WHERE order_id = o.id AND status = 'OPEN' ORDER BY attempt DESC LIMIT 1) c ON true "
                            "WHERE o.status IN ('PAYING', 'UNKNOWN', 'CLOSING') AND "
                            "(o.next_check_at IS NULL OR o.next_check_at <= now()) AND "
                            "(o.updated_at <= now() - make_interval(secs => $1::int) OR o.expires_at < now()) "
                            "ORDER BY o.next_check_at NULLS FIRST, o.updated_at LIMIT $2::int",
                            2, p, &r, &err);
  if (rc != 0) return rc;
  for (int i = 0; i < PQntuples(r); i++) {
    const char *order_id = PQgetvalue(r, i, 0), *no = PQgetvalue(r, i, 1), *status = PQgetvalue(r, i, 3);
    int expired = PQgetvalue(r, i, 4)[0] == 't';
    const pay_channel *ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, PQgetvalue(r, i, 2)) : NULL;
    if (held_order(ctx, conn, ch, order_id, no, status, expired, st) != 0) {
      st->deferred++;
      defer_row(conn, "order", order_id);
    }
  }
  PQclear(r);
  return 0;
}

/* Expired orders no channel holds: CREATED -> CLOSED, others through CLOSING. */
static int unheld_orders(PGconn *conn, int batch, janitor_stats *st) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", batch);
  const char *p[1] = {lim};
  PGresult *r = NULL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  yw_pg_set_deadline(conn, STEP_MS);
  int rc = yw_pg_query_read(conn,
                            "SELECT o.id, o.status FROM payment.orders o "
                            "WHERE o.status IN ('CREATED', 'PAYING', 'UNKNOWN', 'CLOSING') AND o.expires_at < now() "
                            "AND (o.next_check_at IS NULL OR o.next_check_at <= now()) "
                            "AND NOT EXISTS (SELECT 1 FROM payment.channel_orders c WHERE c.order_id = o.id "
                            "AND c.status = 'OPEN') ORDER BY o.next_check_at NULLS FIRST, o.expires_at LIMIT $1::int",
                            1, p, &r, &err);
  if (rc != 0) return rc;
  for (int i = 0; i < PQntuples(r); i++) {
    const char *order_id = PQgetvalue(r, i, 0), *status = PQgetvalue(r, i, 1);
    struct step s = {.order_id = order_id, .reason = "expired"};
    if (strcmp(status, "CREATED") == 0) {
      s.from = "CREATED";
      s.to = "CLOSED";
    } else {
      if (strcmp(status, "CLOSING") != 0) {
        s.from = "PAYING,UNKNOWN";
        s.to = "CLOSING";
        if (in_tx(conn, step_transition, &s) != 0) {
          st->deferred++;
          defer_row(conn, "order", order_id);
          continue;
        }
      }
      s.from = "CLOSING";
      s.to = "CLOSED";
    }
    if (in_tx(conn, step_transition, &s) == 0) {
      st->closed++;
    } else {
      st->deferred++;
      defer_row(conn, "order", order_id);
    }
  }
  PQclear(r);
  return 0;
}

/* ---- refunds ------------------------------------------------------------------------ */

struct refund_step {
  const char *out_refund_no;
  const pay_refund_res *res;
};

static int refund_book(PGconn *conn, void *arg, yw_pg_error *err) {
  struct refund_step *s = arg;
  int booked = 0;
  return pay_book_refund(conn, s->out_refund_no, s->res->refund_id, s->res->success_unix, &booked, err);
}

static int refund_fail(PGconn *conn, void *arg, yw_pg_error *err) {
  struct refund_step *s = arg;
  return pay_refund_failed(conn, s->out_refund_no, err);
}

static int pending_refunds(payment_ctx *ctx, PGconn *conn, int window_s, int batch, janitor_stats *st) {
  char win[16], lim[16];
  snprintf(win, sizeof win, "%d", window_s);
  snprintf(lim, sizeof lim, "%d", batch);
  const char *p[2] = {win, lim};
  PGresult *r = NULL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  yw_pg_set_deadline(conn, STEP_MS);
  int rc = yw_pg_query_read(conn,
                            "SELECT f.out_refund_no, f.out_trade_no, f.channel, f.amount_fen, o.amount_fen "
                            "FROM payment.refunds f JOIN payment.orders o ON o.id = f.order_id "
                            "WHERE f.status = 'PENDING' AND f.created_at <= now() - make_interval(secs => $1::int) "
                            "AND (f.next_check_at IS NULL OR f.next_check_at <= now()) "
                            "ORDER BY f.next_check_at NULLS FIRST, f.created_at LIMIT $2::int",
                            2, p, &r, &err);
  if (rc != 0) return rc;
  for (int i = 0; i < PQntuples(r); i++) {
    const pay_channel *ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, PQgetvalue(r, i, 2)) : NULL;
    if (ch == NULL) { /* its channel is not configured (any more) */
      st->deferred++;
      defer_row(conn, "refund", PQgetvalue(r, i, 0));
      continue;
    }
    pay_refund_req rq = {.out_trade_no = PQgetvalue(r, i, 1), .out_refund_no = PQgetvalue(r, i, 0),
                         .refund_fen = strtoll(PQgetvalue(r, i, 3), NULL, 10),
                         .total_fen = strtoll(PQgetvalue(r, i, 4), NULL, 10)};
    pay_refund_res rs;
    memset(&rs, 0, sizeof rs);
    char code[PAY_CODE_MAX] = "";
    rc = pay_channel_refund(ch, &rq, ctx->channel_timeout_ms, &rs, code);
    struct refund_step s = {.out_refund_no = rq.out_refund_no, .res = &rs};
    const char *why = rc == 0 ? pay_refund_mismatch(&rq, &rs) : NULL;
    if (why != NULL) { /* not booked: PENDING, alerted, asked again later */
      pay_alert("refund mismatch", rq.out_refund_no, why);
      rc = YW_ECONFLICT;
    } else if (rc == 0) {
      rc = in_tx(conn, refund_book, &s);
      if (rc == 0) st->refunds_done++;
    } else if (pay_refund_refused(rc)) { /* only a definite refusal; any other error stays PENDING */
      rc = in_tx(conn, refund_fail, &s);
      if (rc == 0) st->refunds_failed++;
    }
    if (rc != 0) { /* no answer, or not booked: later, behind the others */
      st->deferred++;
      defer_row(conn, "refund", rq.out_refund_no);
    }
  }
  PQclear(r);
  return 0;
}

/* ---- the pass ---------------------------------------------------------------------- */

int janitor_pass(payment_ctx *ctx, int window_s, int batch, janitor_stats *st) {
  janitor_stats local;
  memset(&local, 0, sizeof local);
  if (st == NULL) st = &local;
  PGconn *conn = yw_pg_pool_acquire(ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *r = NULL;
  yw_pg_set_deadline(conn, STEP_MS);
  int rc = yw_pg_query_write(conn, LOCK_SQL, 0, NULL, &r, &err);
  int locked = rc == 0 && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (!locked) {
    yw_pg_pool_release(ctx->pool, conn);
    if (rc == 0) st->skipped++;
    return rc;
  }
  st->passes++;
  rc = held_orders(ctx, conn, window_s, batch, st);
  if (rc == 0) rc = unheld_orders(conn, batch, st);
  if (rc == 0) rc = pending_refunds(ctx, conn, window_s, batch, st);
  yw_pg_set_deadline(conn, STEP_MS);
  if (yw_pg_query_write(conn, UNLOCK_SQL, 0, NULL, &r, &err) == 0) PQclear(r);
  yw_pg_pool_release(ctx->pool, conn);
  return rc;
}

/* One pass of the thread, its counts added to j->st. */
static int tick(void *arg) {
  janitor *j = arg;
  pthread_mutex_lock(&j->mu);
  janitor_stats st = j->st;
  pthread_mutex_unlock(&j->mu);
  int rc = janitor_pass(j->ctx, j->window_s, j->batch, &st);
  if (rc != 0) yw_log(YW_LOG_WARN, "payment.janitor", NULL, "the pass stopped: %s", yw_strerror(rc));
  pthread_mutex_lock(&j->mu);
  j->st = st;
  pthread_mutex_unlock(&j->mu);
  return 0;
}

int janitor_start(payment_ctx *ctx, int interval_ms, int window_s, int batch, janitor **out) {
  janitor *j = calloc(1, sizeof *j);
  if (j == NULL) return YW_ENOMEM;
  j->ctx = ctx;
  j->window_s = window_s;
  j->batch = batch;
  pthread_mutex_init(&j->mu, NULL);
  int e = yw_pass_start(interval_ms, tick, j, &j->thread);
  if (e != 0) {
    pthread_mutex_destroy(&j->mu);
    free(j);
    return e;
  }
  *out = j;
  return 0;
}

void janitor_stop(janitor *j) {
  if (j == NULL) return;
  yw_pass_stop(j->thread);
  pthread_mutex_destroy(&j->mu);
  free(j);
}

int janitor_metrics(void *arg, char *buf, size_t len) {
  janitor *j = arg;
  janitor_stats st;
  memset(&st, 0, sizeof st);
  if (j != NULL) {
    pthread_mutex_lock(&j->mu);
    st = j->st;
    pthread_mutex_unlock(&j->mu);
  }
  int n = snprintf(buf, len,
                   "# TYPE yw_payment_janitor_passes_total counter\nyw_payment_janitor_passes_total %lld\n"
                   "# TYPE yw_payment_janitor_paid_total counter\nyw_payment_janitor_paid_total %lld\n"
                   "# TYPE yw_payment_janitor_closed_total counter\nyw_payment_janitor_closed_total %lld\n"
                   "# TYPE yw_payment_janitor_refunds_total counter\nyw_payment_janitor_refunds_total %lld\n"
                   "# HELP yw_payment_janitor_unknown_left orders the channel did not answer for (cumulative)\n"
                   "# TYPE yw_payment_janitor_unknown_left counter\nyw_payment_janitor_unknown_left %lld\n"
                   "# HELP yw_payment_janitor_deferred_total rows the janitor could not resolve, put back\n"
                   "# TYPE yw_payment_janitor_deferred_total counter\nyw_payment_janitor_deferred_total %lld\n",
                   st.passes, st.paid, st.closed, st.refunds_done, st.unknown_left, st.deferred);
  return n < 0 || (size_t)n >= len ? YW_ETOOBIG : n;
}
