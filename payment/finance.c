/*
 * finance.c - daily reconciliation on PostgreSQL: import a channel's statement, run a
 * day, resolve its exceptions by maker-checker (finance.h).
 *
 * Design: every step is one transaction. The import stores the raw file and its SHA-256
 * and COPYs the parsed rows (recon_db.c). A run reads the statement's rows and the
 * platform's side from the ledger (journals "pay" and "refund" of the channel with their
 * effective time in the day, plus the previous day's DEFERRED results), matches them in
 * memory (recon.c), stores the results (the first run's classification is the record),
 * books a "settle" journal per matched row (unique (kind, ref): never twice) and opens
 * an exception per other result (unique per result). Resolutions are new journals only.
 * The automatic part after a run asks the channel about the one-sided payments (outside
 * any transaction) and acts on each answer once, one transaction each: booked paid, held
 * in suspense, reversed, or noted (fin_recon_auto).
 *
 * Offers: fin_statement_import, fin_recon_run, fin_exception_propose,
 * fin_exception_decide, fin_channel_ask, fin_recon_auto, fin_pay_reverse, fin_refunds_send,
 * fin_payer_refund_propose, fin_payer_refund_decide.
 */
#include "finance.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "ledger.h"
#include "payment.h"
#include "recon_db.h"
#include "statement.h"
#include "yiwang/events/v1/payment.pb-c.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_service.h"
#include "yw_workdays.h"

static void say(char *msg, const char *fmt, ...) {
  if (msg == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, FIN_MSG_MAX, fmt, ap);
  va_end(ap);
}

static int channel_ok(const char *s) {
  size_t n = s != NULL ? strlen(s) : 0;
  if (n == 0 || n > 32) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return 0;
  return 1;
}

/* The day's bounds [start, start + 86400) in unix seconds, Asia/Shanghai. */
static int day_bounds(const char *date, int64_t *start) {
  yw_day d;
  if (date == NULL || yw_day_parse(date, strlen(date), &d) != 0) return YW_EINVAL;
  *start = (int64_t)d * 86400 - 8 * 3600;
  return 0;
}

/* Ends a failed transaction and passes rc on. */
static int abort_tx(PGconn *conn, int rc) {
  yw_pg_rollback(conn);
  return rc;
}

/* Writes one audit record of a finance action: who (actor, department, request id,
 * address from ac, which may be NULL), what on which target, and the amount it moves
 * (written in detail as amount_fen=N, as the payment path's records are). */
static int fin_audit(PGconn *conn, const fin_audit_ctx *ac, const char *actor, const char *action,
                     const char *target, const char *detail, int64_t amount, yw_pg_error *err) {
  char d[400];
  snprintf(d, sizeof d, "%s amount_fen=%" PRId64, detail, amount);
  const char *p[7] = {actor,
                      ac != NULL && ac->department != NULL ? ac->department : "",
                      action,
                      target,
                      d,
                      ac != NULL && ac->request_id != NULL ? ac->request_id : "",
                      ac != NULL && ac->source_ip != NULL ? ac->source_ip : ""};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "INSERT INTO payment.audit_log (actor, department, action, target, "
                             "detail, request_id, source_ip) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             7, p, &res, err);
  PQclear(res);
  return rc;
}

static int note_ok(const char *s, int required) {
  size_t n = s != NULL ? strlen(s) : 0;
  return (!required || n > 0) && n <= 500;
}

/* ---- import ------------------------------------------------------------------------ */

/* Takes back what the run of statement sid ("123") of channel held in suspense: each of
 * its recon_suspense journals gets a recon_suspense_reversal journal of the same ref with
 * the opposite postings (new journals, never an update; booked once). */
static int unhold(PGconn *conn, const char *channel, const char *sid, yw_pg_error *err) {
  char like[64];
  snprintf(like, sizeof like, "%s:%s:%%", channel, sid);
  const char *p[2] = {channel, like};
  PGresult *res = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT j.ref, p.account, p.amount_fen FROM payment.journal j "
                       "JOIN payment.postings p ON p.journal_id = j.id WHERE j.kind = 'recon_suspense' "
                       "AND j.channel = $1 AND j.ref LIKE $2 ORDER BY j.ref, p.id",
                       2, p, &res, err);
  /* each held journal has two postings (channel_receivable, suspense) */
  for (int i = 0; rc == 0 && i + 1 < PQntuples(res); i += 2) {
    ledger_posting back[2] = {{PQgetvalue(res, i, 1), -yw_col_ll(res, i, 2)},
                              {PQgetvalue(res, i + 1, 1), -yw_col_ll(res, i + 1, 2)}};
    ledger_entry e = {.kind = "recon_suspense_reversal", .ref = PQgetvalue(res, i, 0),
                      .channel = channel, .memo = "statement superseded"};
    rc = ledger_post(conn, &e, back, 2, err);
    if (rc == YW_EEXIST) rc = 0;
  }
  PQclear(res);
  return rc;
}

int fin_statement_import(PGconn *conn, const char *channel, const char *date, const uint8_t *csv,
                         size_t len, const fin_import_opts *opts, const char *actor,
                         const fin_audit_ctx *ac, fin_statement *out, char *msg) {
  const char *source = opts->source;
  memset(out, 0, sizeof *out);
  if (msg != NULL) msg[0] = '\0';
  int64_t start;
  if (!channel_ok(channel)) {
    say(msg, "channel must be 1 to 32 of a-z, 0-9, '-'");
    return YW_EINVAL;
  }
  if (day_bounds(date, &start) != 0) {
    say(msg, "date must be YYYY-MM-DD");
    return YW_EINVAL;
  }
  if (csv == NULL || len == 0) {
    say(msg, "the statement is empty");
    return YW_EINVAL;
  }
  if (opts->mchid == NULL || opts->mchid[0] == '\0') {
    say(msg, "the channel's merchant number is not known");
    return YW_EINVAL;
  }
  if (opts->force && !note_ok(opts->reason, 1)) {
    say(msg, "a forced import needs a reason of 1 to 500 bytes");
    return YW_EINVAL;
  }
  pay_statement *st = NULL;
  char perr[PAY_STATEMENT_ERR_MAX];
  int rc = pay_statement_parse((const char *)csv, len, &st, perr);
  if (rc != 0) {
    say(msg, "%s", perr);
    return rc;
  }
  /* every row must be of the day (its time, Asia/Shanghai) */
  for (size_t i = 0; i < st->n; i++)
    if (st->rows[i].time_unix < start || st->rows[i].time_unix >= start + 86400) {
      say(msg, "line %u: 交易时间 is not on %s", st->rows[i].line, date);
      pay_statement_free(st);
      return YW_EINVAL;
    }
  /* and of our merchant at that channel (another merchant's file is not this one's) */
  for (size_t i = 0; i < st->n; i++)
    if (strcmp(st->rows[i].mchid, opts->mchid) != 0) {
      say(msg, "line %u: 商户号 %.32s is not the merchant of channel %s", st->rows[i].line,
          st->rows[i].mchid, channel);
      pay_statement_free(st);
      return YW_EINVAL;
    }
  yw_sha256_hex(csv, len, out->sha256);
  out->row_count = (int)st->n;
  int64_t unsettled_fen = 0; /* what the replaced statement's reversed settlements took back */
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *res = NULL;
  char *hex = malloc(2 * len + 3);
  if (hex == NULL) {
    pay_statement_free(st);
    return YW_ENOMEM;
  }
  yw_pg_bytea_hex(hex, csv, len);
  rc = yw_pg_begin(conn, &err);
  if (rc != 0) goto out;
  /* one import of a channel and day at a time */
  const char *lk[2] = {channel, date};
  rc = yw_pg_query(conn, "SELECT pg_advisory_xact_lock(hashtext('recon:' || $1 || ':' || $2))", 2,
                   lk, &res, &err);
  PQclear(res);
  res = NULL;
  if (rc != 0) goto fail;
  const char *p3[3] = {channel, date, out->sha256};
  rc = yw_pg_query(conn,
                   "SELECT id FROM payment.statements WHERE channel = $1 AND bill_date = $2::date "
                   "AND sha256 = $3",
                   3, p3, &res, &err);
  if (rc != 0) goto fail;
  if (PQntuples(res) == 1) { /* the same file: the same statement */
    out->id = yw_col_ll(res, 0, 0);
    out->reused = 1;
    PQclear(res);
    res = NULL;
    yw_pg_rollback(conn);
    goto out;
  }
  PQclear(res);
  res = NULL;
  rc = yw_pg_query(conn,
                   "SELECT s.id, s.source FROM payment.statements s WHERE s.channel = $1 "
                   "AND s.bill_date = $2::date AND s.superseded_by IS NULL FOR UPDATE",
                   2, lk, &res, &err);
  if (rc != 0) goto fail;
  if (PQntuples(res) == 1) {
    /* what the channel gave by API is its word: a file uploaded by hand replaces it
     * only when a finance user forces it with a reason (audited below) */
    if (strcmp(PQgetvalue(res, 0, 1), "api") == 0 && strcmp(source, "api") != 0 && !opts->force) {
      say(msg, "the statement of %s for %s was fetched from the channel: an upload replaces it "
               "only when forced with a reason", channel, date);
      rc = YW_EPRECOND;
      goto fail;
    }
    out->superseded_id = yw_col_ll(res, 0, 0);
  }
  PQclear(res);
  res = NULL;
  if (out->superseded_id != 0) {
    /* The old statement's open exceptions are SUPERSEDED first (their rows locked, so a
     * proposal being made waits and then finds them so), then whatever is still under
     * resolution (a proposal committed meanwhile) or resolved by finance keeps the old
     * statement current. What the system resolved on the channel's own answer (BOOK,
     * REVERSE) does not: its journals stand, and the replacing statement's run finds
     * them on the platform's side (a reversed payment not at all). */
    char old[24];
    snprintf(old, sizeof old, "%" PRId64, out->superseded_id);
    const char *po[1] = {old};
    rc = yw_pg_query_write(conn,
                           "UPDATE payment.recon_exceptions SET status = 'SUPERSEDED', "
                           "version = version + 1 WHERE statement_id = $1::bigint "
                           "AND status = 'OPEN'",
                           1, po, &res, &err);
    PQclear(res);
    res = NULL;
    if (rc != 0) goto fail;
    rc = yw_pg_query(
        conn,
        "SELECT 1 FROM payment.recon_exceptions WHERE statement_id = $1::bigint "
        "AND (status = 'PROPOSED' OR (status = 'RESOLVED' AND NOT "
        "(decided_by = 'system' AND auto_action IS NOT NULL AND action = auto_action))) "
        "LIMIT 1",
        1, po, &res, &err);
    if (rc != 0) goto fail;
    if (PQntuples(res) > 0) {
      say(msg, "the statement of %s for %s has exceptions under resolution: it cannot be "
               "replaced", channel, date);
      rc = YW_EPRECOND;
      goto fail;
    }
    PQclear(res);
    res = NULL;
    /* the current index allows one current statement: step the old one aside first */
    rc = yw_pg_query(conn, "UPDATE payment.statements SET superseded_by = id WHERE id = $1::bigint",
                     1, po, &res, &err);
    PQclear(res);
    res = NULL;
    if (rc != 0) goto fail;
  }
  char n[16], pay[24], refund[24], fee[24];
  snprintf(n, sizeof n, "%zu", st->n);
  snprintf(pay, sizeof pay, "%" PRId64, st->pay_total_fen);
  snprintf(refund, sizeof refund, "%" PRId64, st->refund_total_fen);
  snprintf(fee, sizeof fee, "%" PRId64, st->fee_total_fen);
  const char *pi[10] = {channel, date, out->sha256, hex, source, n, pay, refund, fee, actor};
  rc = yw_pg_query_write(conn,
                         "INSERT INTO payment.statements (channel, bill_date, sha256, raw, source, "
                         "row_count, pay_total_fen, refund_total_fen, fee_total_fen, imported_by) "
                         "VALUES ($1, $2::date, $3, $4::bytea, $5, $6::int, $7::bigint, $8::bigint, "
                         "$9::bigint, $10) RETURNING id",
                         10, pi, &res, &err);
  if (rc != 0) goto fail;
  out->id = yw_col_ll(res, 0, 0);
  PQclear(res);
  res = NULL;
  if (out->superseded_id != 0) {
    char old[24], id[24];
    snprintf(old, sizeof old, "%" PRId64, out->superseded_id);
    snprintf(id, sizeof id, "%" PRId64, out->id);
    const char *po[2] = {old, id};
    rc = yw_pg_query(conn,
                     "UPDATE payment.statements SET superseded_by = $2::bigint WHERE id = $1::bigint",
                     2, po, &res, &err);
    PQclear(res);
    res = NULL;
    /* its settlements are taken back, and what its run held in suspense: the new
     * statement's run settles and holds its own rows */
    if (rc == 0) rc = pay_recon_unsettle(conn, channel, out->superseded_id, &unsettled_fen, &err);
    if (rc == 0) rc = unhold(conn, channel, old, &err);
    if (rc != 0) goto fail;
  }
  rc = pay_recon_store_rows(conn, out->id, st, &err);
  if (rc != 0) goto fail;
  {
    char target[24], detail[200];
    snprintf(target, sizeof target, "%" PRId64, out->id);
    snprintf(detail, sizeof detail, "statement of %s for %s from %s, %zu rows, sha256 %.16s", channel,
             date, source, st->n, out->sha256);
    rc = fin_audit(conn, ac, actor, "recon.import", target, detail, st->pay_total_fen, &err);
    if (rc == 0 && out->superseded_id != 0) {
      char old[24];
      snprintf(old, sizeof old, "%" PRId64, out->superseded_id);
      if (opts->force)
        snprintf(detail, sizeof detail, "statement of %s for %s replaced by %s, forced: %.120s",
                 channel, date, target, opts->reason);
      else
        snprintf(detail, sizeof detail, "statement of %s for %s replaced by %s", channel, date, target);
      rc = fin_audit(conn, ac, actor, "recon.supersede", old, detail, unsettled_fen, &err);
    }
    if (rc != 0) goto fail;
  }
  rc = yw_pg_commit(conn, &err);
  if (rc != 0) say(msg, "%s", err.message);
  goto out;
fail:
  if (res != NULL) PQclear(res);
  if (msg != NULL && msg[0] == '\0') say(msg, "%s", err.message);
  yw_pg_rollback(conn);
out:
  free(hex);
  pay_statement_free(st);
  return rc;
}

/* ---- run ----------------------------------------------------------------------------- */

static pay_stmt_kind kind_of(const char *s) {
  return strcmp(s, "REFUND") == 0 ? PAY_STMT_REFUND : PAY_STMT_PAY;
}

/* A pay journal j the automatic pass reversed (journal pay_reversal of its ref) is not on
 * the platform's side any more: a condition on j for a WHERE clause. */
#define REVERSED_NOT                                                     \
  "AND NOT (j.kind = 'pay' AND EXISTS (SELECT 1 FROM payment.journal v " \
  "WHERE v.kind = 'pay_reversal' AND v.channel = j.channel AND v.ref = j.ref))"

/* Fills items from res's rows: kind, key, out_trade_no, amount, fee, time, ref. */
static void items_from(const PGresult *res, pay_recon_item *items, int carried) {
  for (int i = 0; i < PQntuples(res); i++) {
    pay_recon_item *it = &items[i];
    it->kind = kind_of(PQgetvalue(res, i, 0));
    it->key = PQgetvalue(res, i, 1);
    it->out_trade_no = PQgetvalue(res, i, 2);
    it->amount_fen = yw_col_ll(res, i, 3);
    it->fee_fen = yw_col_ll(res, i, 4);
    it->time_unix = yw_col_ll(res, i, 5);
    it->ref = yw_col_ll(res, i, 6);
    it->carried = carried;
  }
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* A second payment of an order (journal unknown_inflow, booked to suspense) is money
 * without an order: its statement row is not settled as a matched payment but opens a
 * CHANNEL_ONLY exception (with the platform's amount beside it) for finance to refund or
 * keep. pfres: the day's platform rows (column 6 the journal id, 7 unknown_inflow). */
static int inflows_unmatched(const PGresult *pfres, pay_recon_result *results, size_t nres) {
  size_t n = 0, np = (size_t)PQntuples(pfres);
  for (size_t i = 0; i < np; i++) n += yw_col_bool(pfres, (int)i, 7);
  if (n == 0) return 0;
  int64_t *ids = malloc(n * sizeof *ids);
  if (ids == NULL) return YW_ENOMEM;
  n = 0;
  for (size_t i = 0; i < np; i++)
    if (yw_col_bool(pfres, (int)i, 7)) ids[n++] = yw_col_ll(pfres, (int)i, 6);
  qsort(ids, n, sizeof *ids, cmp_i64);
  for (size_t i = 0; i < nres; i++) {
    pay_recon_result *r = &results[i];
    if (r->channel == NULL || r->platform == NULL || r->platform->carried) continue;
    if (r->cls != PAY_RECON_MATCHED && r->cls != PAY_RECON_AMOUNT_MISMATCH) continue;
    if (bsearch(&r->platform->ref, ids, n, sizeof *ids, cmp_i64) != NULL) r->cls = PAY_RECON_CHANNEL_ONLY;
  }
  free(ids);
  return 0;
}

/* Books the settlement of one statement row of the channel's current statement of the
 * day of at (recon_db.h): the channel's money reaches clearing_bank net of its fee.
 * amount is signed (a payment +, a refund -), fee as the statement has it. */
static int book_settle(PGconn *conn, const char *channel, const char *kind, const char *key,
                       int dup, int64_t amount, int64_t fee, int64_t at, yw_pg_error *err) {
  /* 1: booked before */
  return pay_recon_settle_row(conn, channel, 0, kind, key, dup, amount, fee, at, err);
}

int fin_recon_run(PGconn *conn, const char *channel, const char *date, int cutoff_s,
                  const char *actor, const fin_audit_ctx *ac, fin_run *out, char *msg) {
  memset(out, 0, sizeof *out);
  if (msg != NULL) msg[0] = '\0';
  int64_t start;
  if (!channel_ok(channel)) {
    say(msg, "channel must be 1 to 32 of a-z, 0-9, '-'");
    return YW_EINVAL;
  }
  if (day_bounds(date, &start) != 0) {
    say(msg, "date must be YYYY-MM-DD");
    return YW_EINVAL;
  }
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *res = NULL, *chres = NULL, *pfres = NULL, *cares = NULL;
  pay_recon_item *ch = NULL, *pf = NULL;
  pay_recon_result *results = NULL;
  int64_t settled_fen = 0;
  int rc = yw_pg_begin(conn, &err);
  if (rc != 0) return rc;
  const char *lk[2] = {channel, date};
  rc = yw_pg_query(conn, "SELECT pg_advisory_xact_lock(hashtext('recon:' || $1 || ':' || $2))", 2,
                   lk, &res, &err);
  PQclear(res);
  res = NULL;
  if (rc != 0) goto fail;
  rc = yw_pg_query(conn,
                   "SELECT id FROM payment.statements WHERE channel = $1 AND bill_date = $2::date "
                   "AND superseded_by IS NULL",
                   2, lk, &res, &err);
  if (rc != 0) goto fail;
  if (PQntuples(res) != 1) {
    say(msg, "no statement of %s for %s has been imported", channel, date);
    rc = YW_EPRECOND;
    goto fail;
  }
  out->statement_id = yw_col_ll(res, 0, 0);
  PQclear(res);
  res = NULL;
  /* days run in order: the day before's DEFERRED rows are read below, so a day before
   * with a statement must have been run (a channel's first day has none before it) */
  rc = yw_pg_query(conn,
                   "SELECT 1 FROM payment.statements s WHERE s.channel = $1 "
                   "AND s.bill_date = $2::date - 1 AND s.superseded_by IS NULL "
                   "AND NOT EXISTS (SELECT 1 FROM payment.recon_runs r "
                   "WHERE r.statement_id = s.id)",
                   2, lk, &res, &err);
  if (rc != 0) goto fail;
  if (PQntuples(res) > 0) {
    say(msg,
        "the statement of %s for the day before %s has not been reconciled: "
        "run that day first",
        channel, date);
    rc = YW_EPRECOND;
    goto fail;
  }
  PQclear(res);
  res = NULL;
  char sid[24], s0[24], s1[24];
  snprintf(sid, sizeof sid, "%" PRId64, out->statement_id);
  snprintf(s0, sizeof s0, "%" PRId64, start);
  snprintf(s1, sizeof s1, "%" PRId64, start + 86400);
  const char *ps[1] = {sid};
  rc = yw_pg_query(conn,
                   "SELECT kind, CASE kind WHEN 'PAY' THEN out_trade_no ELSE out_refund_no END, "
                   "out_trade_no, CASE kind WHEN 'PAY' THEN order_fen ELSE refund_fen END, fee_fen, "
                   "extract(epoch FROM success_time)::bigint, line "
                   "FROM payment.statement_rows WHERE statement_id = $1::bigint",
                   1, ps, &chres, &err);
  if (rc != 0) goto fail;
  /* the platform: what the ledger booked for the channel in the day (a refund of an
   * order, or one of an exception's money: recon_refund) */
  const char *pp[3] = {channel, s0, s1};
  rc = yw_pg_query(
      conn,
      "SELECT CASE WHEN j.kind IN ('refund', 'recon_refund') THEN 'REFUND' ELSE 'PAY' END, "
      "j.ref, COALESCE(rf.out_trade_no, rr.out_trade_no, j.ref), "
      "(SELECT sum(p.amount_fen) FROM payment.postings p "
      " WHERE p.journal_id = j.id AND p.amount_fen > 0), 0, "
      "extract(epoch FROM j.effective_at)::bigint, j.id, j.kind = 'unknown_inflow' "
      "FROM payment.journal j LEFT JOIN payment.refunds rf "
      "ON j.kind = 'refund' AND rf.out_refund_no = j.ref "
      "LEFT JOIN payment.recon_refunds rr ON j.kind = 'recon_refund' AND rr.out_refund_no = j.ref "
      "WHERE j.channel = $1 AND j.kind IN ('pay', 'unknown_inflow', 'refund', 'recon_refund') "
      "AND j.effective_at >= to_timestamp($2::bigint) "
      "AND j.effective_at < to_timestamp($3::bigint) " REVERSED_NOT,
      3, pp, &pfres, &err);
  if (rc != 0) goto fail;
  /* and what the day before deferred */
  rc = yw_pg_query(conn,
                   "SELECT r.kind, r.key, r.out_trade_no, r.platform_fen, 0, "
                   "extract(epoch FROM r.success_time)::bigint, 0 "
                   "FROM payment.recon_results r JOIN payment.statements s ON s.id = r.statement_id "
                   "WHERE s.channel = $1 AND s.bill_date = $2::date - 1 "
                   "AND s.superseded_by IS NULL AND r.class = 'DEFERRED'",
                   2, lk, &cares, &err);
  if (rc != 0) goto fail;
  size_t nc = (size_t)PQntuples(chres), np1 = (size_t)PQntuples(pfres),
         np2 = (size_t)PQntuples(cares);
  ch = calloc(nc + 1, sizeof *ch);
  pf = calloc(np1 + np2 + 1, sizeof *pf);
  if (ch == NULL || pf == NULL) {
    rc = YW_ENOMEM;
    goto fail;
  }
  items_from(chres, ch, 0);
  items_from(pfres, pf, 0);
  items_from(cares, pf + np1, 1);
  pay_recon_window w = {.day_end_unix = start + 86400, .cutoff_s = cutoff_s};
  size_t nres = 0;
  rc = pay_recon_match(ch, nc, pf, np1 + np2, &w, &results, &nres);
  if (rc != 0) goto fail;
  rc = inflows_unmatched(pfres, results, nres);
  if (rc != 0) goto fail;
  rc = pay_recon_store_results(conn, out->statement_id, results, nres, &out->new_results, &err);
  if (rc != 0) goto fail;
  /* settle every matched row not settled yet */
  rc = pay_recon_settle_matched(conn, channel, out->statement_id, &out->settled, &settled_fen, &err);
  if (rc != 0) goto fail;
  const char *pe[3] = {sid, channel, date};
  rc = yw_pg_query_write(conn,
                         "INSERT INTO payment.recon_exceptions (statement_id, channel, bill_date, "
                         "kind, key, dup, class, out_trade_no, channel_fen, platform_fen, fee_fen) "
                         "SELECT statement_id, $2, $3::date, kind, key, dup, class, out_trade_no, "
                         "channel_fen, platform_fen, fee_fen FROM payment.recon_results "
                         "WHERE statement_id = $1::bigint AND class IN ('AMOUNT_MISMATCH', "
                         "'CHANNEL_ONLY', 'PLATFORM_ONLY') "
                         "ON CONFLICT (statement_id, kind, key, dup) DO NOTHING",
                         3, pe, &res, &err);
  if (rc != 0) goto fail;
  out->opened = strtoll(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  res = NULL;
  const char *pr[2] = {sid, actor};
  rc = yw_pg_query_write(conn,
                         "INSERT INTO payment.recon_runs (statement_id, first_run_by) "
                         "VALUES ($1::bigint, $2) ON CONFLICT (statement_id) DO UPDATE "
                         "SET runs = payment.recon_runs.runs + 1, last_run_at = now()",
                         2, pr, &res, &err);
  PQclear(res);
  res = NULL;
  if (rc != 0) goto fail;
  rc = yw_pg_query(conn,
                   "SELECT class, count(*) FROM payment.recon_results "
                   "WHERE statement_id = $1::bigint GROUP BY class",
                   1, ps, &res, &err);
  if (rc != 0) goto fail;
  for (int i = 0; i < PQntuples(res); i++) {
    int c = pay_recon_class_parse(PQgetvalue(res, i, 0));
    if (c >= 0) out->count[c] = yw_col_ll(res, i, 1);
  }
  PQclear(res);
  res = NULL;
  {
    char detail[200];
    snprintf(detail, sizeof detail,
             "%s %s: %" PRId64 " new results, %" PRId64 " settled, %" PRId64 " exceptions opened",
             channel, date, out->new_results, out->settled, out->opened);
    rc = fin_audit(conn, ac, actor, "recon.run", sid, detail, settled_fen, &err);
    if (rc != 0) goto fail;
  }
  rc = yw_pg_commit(conn, &err);
  goto done;
fail:
  if (res != NULL) PQclear(res);
  res = NULL;
  if (msg != NULL && msg[0] == '\0') say(msg, "%s", err.message);
  yw_pg_rollback(conn);
done:
  free(results);
  free(ch);
  free(pf);
  PQclear(chres);
  PQclear(pfres);
  PQclear(cares);
  return rc;
}

/* ---- exceptions ---------------------------------------------------------------------- */

/* Which actions resolve which class: BOOK books an order the channel has as paid
 * (CHANNEL_ONLY with the platform's order), REFUND pays back what the channel took and
 * the platform does not owe (CHANNEL_ONLY, or the excess of an AMOUNT_MISMATCH),
 * WRITE_OFF moves the difference to suspense (every class). */
static int action_fits(const char *cls, const char *action) {
  if (strcmp(action, "WRITE_OFF") == 0) return 1;
  if (strcmp(action, "REFUND") == 0)
    return strcmp(cls, "CHANNEL_ONLY") == 0 || strcmp(cls, "AMOUNT_MISMATCH") == 0;
  if (strcmp(action, "BOOK") == 0) return strcmp(cls, "CHANNEL_ONLY") == 0;
  return 0;
}

#define SUPERSEDED_MSG                                                                    \
  "the exception's statement has been replaced by another file of the day: resolve the " \
  "current statement's exception instead"


/* The checker's request: a note of at most 500 bytes and the proposal decided (its
 * action and version). 0, or YW_EINVAL with msg set. */
static int decision_request_ok(const char *note, const char *action, int version, char *msg) {
  if (!note_ok(note, 0)) {
    say(msg, "note must be at most 500 bytes");
    return YW_EINVAL;
  }
  if (action == NULL || action[0] == '\0' || version <= 0) {
    say(msg, "action and version of the proposal being decided are required");
    return YW_EINVAL;
  }
  return 0;
}

/* The proposal pending is the one the checker names (action, version) and actor is not
 * its proposer: 0, YW_ECONFLICT or YW_EPERM with msg set. now_action, now_version and
 * proposer are the locked row's. */
static int decision_fits(const char *now_action, const char *now_version, const char *proposer,
                         const char *action, int version, const char *actor, char *msg) {
  if (strcmp(now_action, action) != 0 || strtoll(now_version, NULL, 10) != version) {
    say(msg, "the proposal changed since it was read: it is now %s (version %s); read it again",
        now_action, now_version);
    return YW_ECONFLICT;
  }
  if (strcmp(proposer, actor) == 0) {
    say(msg, "the proposal must be decided by another finance user than its proposer");
    return YW_EPERM;
  }
  return 0;
}

/* Begins a transaction on conn and locks the exception sid with sql (its $1); on
 * success *res holds its row and the transaction stays open. On failure the
 * transaction is ended and the code returned (YW_ENOTFOUND with msg set). */
static int exception_lock(PGconn *conn, const char *sid, const char *sql, PGresult **res,
                          yw_pg_error *err, char *msg) {
  int rc = yw_pg_begin(conn, err);
  if (rc != 0) return rc;
  const char *p1[1] = {sid};
  rc = yw_pg_query(conn, sql, 1, p1, res, err);
  if (rc != 0) {
    say(msg, "%s", err->message);
    return abort_tx(conn, rc);
  }
  if (PQntuples(*res) != 1) {
    PQclear(*res);
    *res = NULL;
    say(msg, "no such exception");
    return abort_tx(conn, YW_ENOTFOUND);
  }
  return 0;
}

int fin_exception_propose(PGconn *conn, int64_t id, const char *action, const char *note,
                          const char *actor, const fin_audit_ctx *ac, char *msg) {
  if (msg != NULL) msg[0] = '\0';
  if (action == NULL || (strcmp(action, "BOOK") != 0 && strcmp(action, "REFUND") != 0 &&
                         strcmp(action, "WRITE_OFF") != 0)) {
    say(msg, "action must be BOOK, REFUND or WRITE_OFF");
    return YW_EINVAL;
  }
  if (!note_ok(note, 1)) {
    say(msg, "note must be 1 to 500 bytes");
    return YW_EINVAL;
  }
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  char sid[24];
  snprintf(sid, sizeof sid, "%" PRId64, id);
  PGresult *res = NULL;
  int rc = exception_lock(conn, sid,
                          "SELECT e.class, e.status, s.superseded_by IS NOT NULL, "
                          "COALESCE(e.channel_fen, 0) - COALESCE(e.platform_fen, 0) "
                          "FROM payment.recon_exceptions e JOIN payment.statements s "
                          "ON s.id = e.statement_id WHERE e.id = $1::bigint FOR UPDATE OF e",
                          &res, &err, msg);
  if (rc != 0) return rc;
  if (strcmp(PQgetvalue(res, 0, 1), "SUPERSEDED") == 0 || yw_col_bool(res, 0, 2)) {
    say(msg, SUPERSEDED_MSG);
    PQclear(res);
    return abort_tx(conn, YW_EPRECOND);
  }
  if (strcmp(PQgetvalue(res, 0, 1), "OPEN") != 0) {
    say(msg, "the exception is %s, not OPEN", PQgetvalue(res, 0, 1));
    PQclear(res);
    return abort_tx(conn, YW_EPRECOND);
  }
  if (!action_fits(PQgetvalue(res, 0, 0), action)) {
    say(msg, "%s does not resolve a %s exception", action, PQgetvalue(res, 0, 0));
    PQclear(res);
    return abort_tx(conn, YW_EPRECOND);
  }
  int64_t amount = yw_col_ll(res, 0, 3);
  PQclear(res);
  res = NULL;
  const char *p4[4] = {sid, action, note, actor};
  rc = yw_pg_query_write(conn,
                         "UPDATE payment.recon_exceptions SET status = 'PROPOSED', action = $2, "
                         "note = $3, proposed_by = $4, proposed_at = now(), version = version + 1 "
                         "WHERE id = $1::bigint",
                         4, p4, &res, &err);
  PQclear(res);
  if (rc == 0) rc = fin_audit(conn, ac, actor, "recon.propose", sid, action, amount, &err);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  else yw_pg_rollback(conn);
  if (rc != 0 && msg != NULL && msg[0] == '\0') say(msg, "%s", err.message);
  return rc;
}

/* Columns of the exception as decide locks it (the order of EXC_LOCK's SELECT). */
enum {
  X_STATUS, X_PROPOSER, X_CHANNEL, X_KIND, X_KEY, X_CLASS, X_ACTION, X_CFEN, X_PFEN, X_FEE, X_AT,
  X_OTN, X_TXN, X_VERSION, X_SUPERSEDED, X_DATE, X_DUP, X_PFEN_NULL, X_AUTO, X_ID, X_STMT
};

#define EXC_LOCK                                                                              \
  "SELECT e.status, e.proposed_by, e.channel, e.kind, e.key, e.class, e.action, "             \
  "COALESCE(e.channel_fen, 0), COALESCE(e.platform_fen, 0), e.fee_fen, "                      \
  "extract(epoch FROM r.success_time)::bigint, e.out_trade_no, "                              \
  "COALESCE(sr.transaction_id, ''), e.version, s.superseded_by IS NOT NULL, "                 \
  "e.bill_date::text, e.dup, e.platform_fen IS NULL, COALESCE(e.auto_action, ''), e.id, "    \
  "e.statement_id "                                                                            \
  "FROM payment.recon_exceptions e JOIN payment.statements s ON s.id = e.statement_id "       \
  "JOIN payment.recon_results r ON r.statement_id = e.statement_id AND r.kind = e.kind "      \
  "AND r.key = e.key AND r.dup = e.dup LEFT JOIN payment.statement_rows sr "                   \
  "ON sr.statement_id = r.statement_id AND sr.line = r.channel_line "                         \
  "WHERE e.id = $1::bigint FOR UPDATE OF e"

/* The resolution's journal ref: the channel's row (channel, day, kind, key and its
 * position among rows of that key), never the exception, so one row is resolved once
 * whichever exception of it (a superseded statement's, the current one's) is approved. */
static void resolve_ref(const PGresult *res, char *ref, size_t cap) {
  snprintf(ref, cap, "%s:%s:%s:%s:%s", PQgetvalue(res, 0, X_CHANNEL), PQgetvalue(res, 0, X_DATE),
           PQgetvalue(res, 0, X_KIND), PQgetvalue(res, 0, X_KEY), PQgetvalue(res, 0, X_DUP));
}

/* The ref of the journal that holds a channel-only row in suspense (recon_suspense): the
 * row of its statement ("<channel>:<statement id>:<kind>:<key>:<dup>"), so a statement
 * replaced takes back what its run held (fin_statement_import) and the replacing one's
 * run holds its own rows. */
static void held_ref(const PGresult *res, char *ref, size_t cap) {
  snprintf(ref, cap, "%s:%s:%s:%s:%s", PQgetvalue(res, 0, X_CHANNEL), PQgetvalue(res, 0, X_STMT),
           PQgetvalue(res, 0, X_KIND), PQgetvalue(res, 0, X_KEY), PQgetvalue(res, 0, X_DUP));
}

/* Books the resolution journal recon_resolve:ref moving fen from account from (debit)
 * to account to (credit); YW_EEXIST (msg set) when the row has been resolved already. */
static int post_resolve(PGconn *conn, const char *channel, const char *ref, const char *from,
                        const char *to, int64_t fen, const char *memo, const char *key,
                        yw_pg_error *err, char *msg) {
  ledger_posting p[2] = {{from, fen}, {to, -fen}};
  ledger_entry e = {.kind = "recon_resolve", .ref = ref, .channel = channel, .memo = memo};
  int rc = ledger_post(conn, &e, p, 2, err);
  if (rc == YW_EEXIST)
    say(msg, "the channel's row %s has been resolved already (journal recon_resolve:%s)", key, ref);
  return rc;
}

/* Books the channel-only payment of exception row res (of EXC_LOCK) as the channel's
 * notification would have been (payment.c: the order's status, the pay journal,
 * payment.order_paid) when said, the channel's answer to a query of its out_trade_no
 * asked just now, confirms it: SUCCESS with the row's amount (the statement's row alone
 * does not book). 0 with *outcome; YW_EPRECOND (msg says why) when it does not confirm. */
static int book_confirmed(PGconn *conn, const PGresult *res, const pay_query_res *said,
                          const char *actor, pay_book_outcome *outcome, yw_pg_error *err,
                          char *msg) {
  const char *otn = PQgetvalue(res, 0, X_OTN);
  int64_t cfen = yw_col_ll(res, 0, X_CFEN), at = yw_col_ll(res, 0, X_AT);
  if (said == NULL || said->state != PAY_TRADE_SUCCESS || said->total_fen != cfen) {
    if (said == NULL)
      say(msg, "BOOK needs the channel's answer for %s", otn);
    else
      say(msg, "the channel says %s for %s (%" PRId64 " fen), not SUCCESS for %" PRId64 " fen: "
               "propose WRITE_OFF or REFUND",
          pay_channel_state_name(said->state), otn, said->total_fen, cfen);
    return YW_EPRECOND;
  }
  const char *txn = said->transaction_id[0] != '\0' ? said->transaction_id : PQgetvalue(res, 0, X_TXN);
  return pay_book_paid(conn, PQgetvalue(res, 0, X_CHANNEL), otn, txn, cfen,
                       said->success_unix > 0 ? said->success_unix : at, 0, actor, outcome, err);
}

/* Books the approved action of one exception (row of EXC_LOCK). A row the run booked to
 * suspense (auto_action SUSPENSE: its journal recon_suspense, the row settled) moves only
 * what suspense holds: REFUND to refund_payable, BOOK back to channel_receivable (the
 * pay journal booked it), WRITE_OFF nothing; *jref then names the journal that holds
 * the money. */
static int book_action(PGconn *conn, const PGresult *res, const char *ref, const char *actor,
                       const pay_query_res *said, yw_pg_error *err, char *msg, char *jref,
                       size_t jcap) {
  const char *channel = PQgetvalue(res, 0, X_CHANNEL), *kind = PQgetvalue(res, 0, X_KIND),
             *key = PQgetvalue(res, 0, X_KEY), *cls = PQgetvalue(res, 0, X_CLASS),
             *action = PQgetvalue(res, 0, X_ACTION);
  int sign = strcmp(kind, "REFUND") == 0 ? -1 : 1;
  int64_t cfen = sign * yw_col_ll(res, 0, X_CFEN), pfen = sign * yw_col_ll(res, 0, X_PFEN),
          fee = yw_col_ll(res, 0, X_FEE), at = yw_col_ll(res, 0, X_AT);
  int dup = (int)yw_col_ll(res, 0, X_DUP);
  int has_row = strcmp(cls, "PLATFORM_ONLY") != 0; /* the statement has the row */
  int held = strcmp(PQgetvalue(res, 0, X_AUTO), "SUSPENSE") == 0;
  char recv[64], refund[64];
  snprintf(recv, sizeof recv, "channel_receivable:%s", channel);
  snprintf(refund, sizeof refund, "refund_payable:%s", channel);
  /* a second payment of an order: the payment path booked it to suspense already */
  int inflow = 0;
  if (sign > 0) {
    const char *pi[2] = {channel, key};
    PGresult *r = NULL;
    int rc = yw_pg_query(conn,
                         "SELECT 1 FROM payment.journal WHERE kind = 'unknown_inflow' "
                         "AND channel = $1 AND ref = $2",
                         2, pi, &r, err);
    if (rc != 0) return rc;
    inflow = PQntuples(r) > 0;
    PQclear(r);
  }
  if (inflow) {
    if (strcmp(action, "BOOK") == 0) {
      say(msg, "%s is a second payment of an order paid already (held in suspense): propose "
               "REFUND or WRITE_OFF", key);
      return YW_EPRECOND;
    }
    /* REFUND: what suspense holds is owed back to the payer; WRITE_OFF: it stays there */
    if (strcmp(action, "REFUND") == 0 && cfen != 0) {
      int rc = post_resolve(conn, channel, ref, "suspense", refund, cfen, "second payment to refund",
                            key, err, msg);
      if (rc != 0) return rc;
    }
    int rc = book_settle(conn, channel, kind, key, dup, cfen, fee, at, err);
    return rc < 0 ? rc : 0;
  }
  if (strcmp(action, "BOOK") == 0) {
    pay_book_outcome outcome = 0;
    int rc = book_confirmed(conn, res, said, actor, &outcome, err, msg);
    if (rc != 0) return rc;
    if (outcome == PAY_BOOK_SUSPENSE) {
      /* the order was paid otherwise and this payment's notification never came: a second
       * payment, which BOOK would leave in suspense with nothing open (the transaction,
       * with the unknown_inflow journal just booked, rolls back) */
      say(msg, "%s is a second payment of an order paid already: propose REFUND or WRITE_OFF",
          PQgetvalue(res, 0, X_OTN));
      return YW_EPRECOND;
    }
    if (outcome == PAY_BOOK_NO_ORDER || outcome == PAY_BOOK_AMOUNT_MISMATCH) {
      say(msg, outcome == PAY_BOOK_NO_ORDER
                   ? "the platform has no channel order %s: propose WRITE_OFF or REFUND"
                   : "the channel's amount differs from order %s's: propose WRITE_OFF or REFUND",
          PQgetvalue(res, 0, X_OTN));
      return YW_EPRECOND;
    }
    if (outcome == PAY_BOOK_ALREADY && yw_col_bool(res, 0, X_PFEN_NULL)) {
      /* booked before, and not for this row (the approval's platform check found nothing
       * of it left): another row of the key took it, or it was reversed */
      say(msg,
          "the platform's payment of %s is another row's or was reversed: propose "
          "WRITE_OFF or REFUND",
          PQgetvalue(res, 0, X_OTN));
      return YW_EPRECOND;
    }
    if (held) {
      rc = post_resolve(conn, channel, ref, "suspense", recv, cfen, "booked: out of suspense", key,
                        err, msg);
      if (rc != 0) return rc;
    }
    rc = book_settle(conn, channel, kind, key, dup, cfen, fee, at, err);
    return rc < 0 ? rc : 0;
  }
  if (held && !yw_col_bool(res, 0, X_PFEN_NULL)) {
    /* the platform booked the row since it was held (the exception re-evaluated): what
     * suspense holds is (up to the platform's amount) that payment's, which goes back to
     * channel_receivable; only the excess, if any, is refunded or stays */
    if (strcmp(cls, "CHANNEL_ONLY") == 0) {
      say(msg,
          "the platform booked %s since it was held in suspense: propose BOOK, which moves "
          "it out of suspense",
          key);
      return YW_EPRECOND;
    }
    int refunds = strcmp(action, "REFUND") == 0;
    if (refunds && cfen <= pfen) {
      say(msg, "nothing of %s is beyond what the platform booked: propose WRITE_OFF", key);
      return YW_EPRECOND;
    }
    ledger_posting p[3] = {
        {"suspense", refunds ? cfen : pfen}, {recv, -pfen}, {refund, pfen - cfen}};
    ledger_entry e = {.kind = "recon_resolve",
                      .ref = ref,
                      .channel = channel,
                      .memo = refunds
                                  ? "suspense back to the platform's payment, the excess to refund"
                                  : "suspense back to the platform's payment"};
    int rc = ledger_post(conn, &e, p, refunds ? 3 : 2, err);
    if (rc == YW_EEXIST)
      say(msg, "the channel's row %s has been resolved already (journal recon_resolve:%s)", key,
          ref);
    return rc;
  }
  if (held) {
    if (strcmp(action, "REFUND") == 0)
      return post_resolve(conn, channel, ref, "suspense", refund, cfen, "suspense to refund", key,
                          err, msg);
    char held[200];
    held_ref(res, held, sizeof held);
    snprintf(jref, jcap, "recon_suspense:%s", held); /* WRITE_OFF: it stays where it is */
    return 0;
  }
  /* what the channel holds beyond what the platform booked (negative: short) */
  int64_t diff = cfen - pfen;
  if (diff != 0) {
    int refunds = strcmp(action, "REFUND") == 0;
    int rc = post_resolve(conn, channel, ref, recv, refunds ? refund : "suspense", diff,
                          refunds ? "to refund" : "written off to suspense", key, err, msg);
    if (rc != 0) return rc;
  }
  /* the statement's row is settled as a matched one would be */
  if (has_row) {
    int rc = book_settle(conn, channel, kind, key, dup, cfen, fee, at, err);
    if (rc < 0) return rc;
  }
  return 0;
}

/* The channel's refund of what the approved REFUND of exception x (row of EXC_LOCK) just
 * moved to refund_payable (journal recon_resolve:ref), written PENDING for
 * fin_refunds_send: out_refund_no "RC" and the exception's id, stable for every retry.
 * Nothing when the journal moved nothing to refund_payable. */
static int refund_ask_later(PGconn *conn, const PGresult *x, const char *ref, yw_pg_error *err) {
  char orn[24];
  snprintf(orn, sizeof orn, "RC%010lld", (long long)yw_col_ll(x, 0, X_ID));
  const char *p[5] = {orn, PQgetvalue(x, 0, X_ID), PQgetvalue(x, 0, X_OTN), PQgetvalue(x, 0, X_CFEN), ref};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "INSERT INTO payment.recon_refunds (out_refund_no, exception_id, channel, "
                             "out_trade_no, amount_fen, total_fen) SELECT $1, $2::bigint, j.channel, $3, "
                             "-p.amount_fen, $4::bigint FROM payment.journal j JOIN payment.postings p "
                             "ON p.journal_id = j.id WHERE j.kind = 'recon_resolve' AND j.ref = $5 "
                             "AND p.account = 'refund_payable:' || j.channel AND p.amount_fen < 0 "
                             "AND -p.amount_fen <= $4::bigint ON CONFLICT DO NOTHING",
                             5, p, &res, err);
  PQclear(res);
  return rc;
}

/* What the ledger holds now for the exception's row on the platform's side: the pay
 * (not reversed) or unknown_inflow journal of a PAY key, the refund journal of a REFUND
 * key, less what other rows of the key's current statements took of it (paired with it
 * by a run, or booked by a BOOK resolution): a row the channel listed twice finds the
 * one payment its first row matched. *fen and *booked = 0 when nothing is left. */
static int platform_now(PGconn *conn, const PGresult *x, int64_t *fen, int *booked,
                        yw_pg_error *err) {
  const char *p[7] = {PQgetvalue(x, 0, X_CHANNEL),
                      PQgetvalue(x, 0, X_KEY),
                      strcmp(PQgetvalue(x, 0, X_KIND), "REFUND") == 0 ? "t" : "f",
                      PQgetvalue(x, 0, X_KIND),
                      PQgetvalue(x, 0, X_STMT),
                      PQgetvalue(x, 0, X_DUP),
                      PQgetvalue(x, 0, X_ID)};
  PGresult *res = NULL;
  int rc = yw_pg_query(
      conn,
      "SELECT (SELECT sum(p.amount_fen) FROM payment.journal j JOIN payment.postings p "
      "ON p.journal_id = j.id WHERE j.channel = $1 AND j.ref = $2 "
      "AND p.amount_fen > 0 AND CASE WHEN $3::boolean THEN j.kind IN ('refund', 'recon_refund') "
      "ELSE j.kind IN ('pay', 'unknown_inflow') END " REVERSED_NOT
      "), "
      "(SELECT COALESCE(sum(r.platform_fen), 0) FROM payment.recon_results r "
      " JOIN payment.statements s ON s.id = r.statement_id WHERE s.channel = $1 "
      " AND s.superseded_by IS NULL AND r.kind = $4 AND r.key = $2 AND r.platform_fen IS NOT NULL "
      " AND r.class IN ('MATCHED', 'AMOUNT_MISMATCH', 'CHANNEL_ONLY') "
      " AND NOT (r.statement_id = $5::bigint AND r.dup = $6::int)) + "
      "(SELECT COALESCE(sum(e.channel_fen), 0) FROM payment.recon_exceptions e "
      " JOIN payment.statements s ON s.id = e.statement_id WHERE s.channel = $1 "
      " AND s.superseded_by IS NULL AND e.kind = $4 AND e.key = $2 AND e.status = 'RESOLVED' "
      " AND e.action = 'BOOK' AND e.id <> $7::bigint)",
      7, p, &res, err);
  if (rc != 0) return rc;
  int64_t left = PQgetisnull(res, 0, 0) ? 0 : yw_col_ll(res, 0, 0) - yw_col_ll(res, 0, 1);
  *booked = left > 0;
  *fen = *booked ? left : 0;
  PQclear(res);
  return 0;
}

/* The platform booked the row since the run (a late notification, the janitor): the
 * proposal was made, or the automatic pass would act, on what is no longer so. The
 * exception is opened again with the platform's amount (and its class from both sides),
 * for a new proposal; when names who found it ("the approval of alice"). */
static int reevaluate(PGconn *conn, const char *sid, int64_t fen, const char *when,
                      yw_pg_error *err) {
  char f[24];
  snprintf(f, sizeof f, "%" PRId64, fen);
  const char *p[3] = {sid, f, when};
  PGresult *res = NULL;
  int rc =
      yw_pg_query_write(conn,
                        "UPDATE payment.recon_exceptions SET platform_fen = $2::bigint, "
                        "class = CASE WHEN channel_fen IS NOT NULL AND channel_fen <> $2::bigint "
                        "THEN 'AMOUNT_MISMATCH' ELSE class END, status = 'OPEN', action = NULL, "
                        "proposed_by = NULL, proposed_at = NULL, version = version + 1, "
                        "note = note || E'\\n' || 're-evaluated at ' || $3 || "
                        "': the platform booked ' || $2 || ' fen since the run' "
                        "WHERE id = $1::bigint",
                        3, p, &res, err);
  PQclear(res);
  return rc;
}

int fin_exception_decide(PGconn *conn, int64_t id, int approve, const char *action, int version,
                         const char *note, const char *actor, const fin_audit_ctx *ac,
                         const pay_query_res *channel_says, char *msg) {
  if (msg != NULL) msg[0] = '\0';
  int rc = decision_request_ok(note, action, version, msg);
  if (rc != 0) return rc;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  char sid[24];
  snprintf(sid, sizeof sid, "%" PRId64, id);
  PGresult *res = NULL;
  rc = exception_lock(conn, sid, EXC_LOCK, &res, &err, msg);
  if (rc != 0) return rc;
  const char *status = PQgetvalue(res, 0, X_STATUS);
  if (strcmp(status, "SUPERSEDED") == 0 || yw_col_bool(res, 0, X_SUPERSEDED)) {
    say(msg, SUPERSEDED_MSG);
    PQclear(res);
    return abort_tx(conn, YW_EPRECOND);
  }
  if (strcmp(status, "PROPOSED") != 0) {
    say(msg, "the exception is %s: there is no proposal to decide", status);
    PQclear(res);
    return abort_tx(conn, YW_EPRECOND);
  }
  rc = decision_fits(PQgetvalue(res, 0, X_ACTION), PQgetvalue(res, 0, X_VERSION),
                     PQgetvalue(res, 0, X_PROPOSER), action, version, actor, msg);
  if (rc != 0) {
    PQclear(res);
    return abort_tx(conn, rc);
  }
  char ref[200], jref[240];
  resolve_ref(res, ref, sizeof ref);
  snprintf(jref, sizeof jref, "recon_resolve:%s", ref);
  char detail[64];
  snprintf(detail, sizeof detail, "%s %s", approve ? "approved" : "rejected",
           PQgetvalue(res, 0, X_ACTION));
  int64_t amount = yw_col_ll(res, 0, X_CFEN) - yw_col_ll(res, 0, X_PFEN);
  if (approve) {
    /* the platform's side again: booked since the run, the proposal no longer holds */
    int64_t now_fen = 0;
    int booked = 0;
    rc = platform_now(conn, res, &now_fen, &booked, &err);
    int was_null = yw_col_bool(res, 0, X_PFEN_NULL);
    if (rc == 0 && (booked == was_null || (booked && now_fen != yw_col_ll(res, 0, X_PFEN)))) {
      char when[FIN_MSG_MAX];
      snprintf(when, sizeof when, "the approval of %s", actor);
      rc = reevaluate(conn, sid, now_fen, when, &err);
      if (rc == 0)
        rc = fin_audit(conn, ac, actor, "recon.reevaluate", sid, "refused approval: the platform booked the row", now_fen, &err);
      PQclear(res);
      if (rc == 0) rc = yw_pg_commit(conn, &err);
      else yw_pg_rollback(conn);
      if (rc != 0) {
        say(msg, "%s", err.message);
        return rc;
      }
      say(msg,
          "the platform has booked this row since the proposal (%" PRId64 " fen now): the "
          "exception is open again for a new proposal",
          now_fen);
      return YW_ECONFLICT;
    }
    if (rc == 0) rc = book_action(conn, res, ref, actor, channel_says, &err, msg, jref, sizeof jref);
    if (rc == 0 && strcmp(action, "REFUND") == 0) rc = refund_ask_later(conn, res, ref, &err);
  }
  PQclear(res);
  res = NULL;
  if (rc != 0) {
    if (msg != NULL && msg[0] == '\0') say(msg, "%s", err.message);
    return abort_tx(conn, rc);
  }
  const char *p4[4] = {sid, actor, note != NULL ? note : "", jref};
  rc = yw_pg_query_write(conn,
                         approve ? "UPDATE payment.recon_exceptions SET status = 'RESOLVED', "
                                   "decided_by = $2, decided_at = now(), "
                                   "note = CASE WHEN $3 = '' THEN note ELSE note || E'\\n' || $3 END, "
                                   "journal_ref = $4 WHERE id = $1::bigint"
                                 : "UPDATE payment.recon_exceptions SET status = 'OPEN', "
                                   "action = NULL, proposed_by = NULL, proposed_at = NULL, "
                                   "version = version + 1, "
                                   "note = note || E'\\n' || 'rejected by ' || $2 || "
                                   "CASE WHEN $3 = '' THEN '' ELSE ': ' || $3 END "
                                   "WHERE id = $1::bigint",
                         approve ? 4 : 3, p4, &res, &err);
  PQclear(res);
  if (rc == 0)
    rc = fin_audit(conn, ac, actor, approve ? "recon.approve" : "recon.reject", sid, detail, amount, &err);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  else yw_pg_rollback(conn);
  if (rc != 0 && msg != NULL && msg[0] == '\0') say(msg, "%s", err.message);
  return rc;
}

/* ---- the automatic part of a run ----------------------------------------------------- */

/* A connection of db for one step (a read, one action's transaction), under the step's
 * deadline; NULL (msg set) when none could be had in time. */
static PGconn *db_take(const fin_db *db, char *msg) {
  PGconn *conn = yw_pg_pool_acquire(db->pool, db->wait_ms);
  if (conn == NULL) say(msg, "no connection to the payment database within %d ms", db->wait_ms);
  else yw_pg_set_deadline(conn, FIN_STEP_MS);
  return conn;
}

/* A read of the work to do (outside any transaction) on a connection of db given back at
 * once: 0 with *res, or the code with msg set. */
static int read_rows(const fin_db *db, const char *sql, int n, const char *const *p, PGresult **res,
                     char *msg) {
  PGconn *conn = db_take(db, msg);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_error err = {0};
  int rc = yw_pg_query_read(conn, sql, n, p, res, &err);
  yw_pg_pool_release(db->pool, conn);
  if (rc != 0) say(msg, "%s", err.message);
  return rc;
}

/* One write outside any transaction (a row pushed back in a pass's queue) on a connection
 * of db given back at once: 0, or the code with msg set. */
static int write_row(const fin_db *db, const char *sql, int n, const char *const *p, char *msg) {
  PGconn *conn = db_take(db, msg);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_error err = {0};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn, sql, n, p, &res, &err);
  PQclear(res);
  yw_pg_pool_release(db->pool, conn);
  if (rc != 0) say(msg, "%s", err.message);
  return rc;
}

int fin_channel_ask(const pay_channel *ch, const char *out_trade_no, int timeout_ms,
                    pay_query_res *said) {
  memset(said, 0, sizeof *said);
  char code[PAY_CODE_MAX];
  int rc = pay_channel_query(ch, out_trade_no, timeout_ms, said, code);
  if (rc == YW_ENOTFOUND) {
    memset(said, 0, sizeof *said); /* NOTPAY: the channel has no such order */
    return 0;
  }
  return rc == 0 || rc == YW_EINVAL ? rc : YW_EUNAVAIL;
}

/* Records what the pass did on exception x (row of EXC_LOCK, locked): auto_action and
 * the note, and for BOOK and REVERSE the resolution by the system (status RESOLVED,
 * action, proposer and checker "system", journal_ref); platform_fen (may be NULL) the
 * platform's amount now. Then the audit record audit (amount fen) and out's entry. */
static int auto_record(PGconn *conn, const PGresult *x, const char *auto_action,
                       const char *jref, const char *platform_fen, const char *note,
                       const char *audit, int64_t fen, const pay_query_res *said,
                       const fin_audit_ctx *ac, fin_auto *out, yw_pg_error *err) {
  const char *sid = PQgetvalue(x, 0, X_ID);
  int resolves = strcmp(auto_action, "BOOK") == 0 || strcmp(auto_action, "REVERSE") == 0;
  const char *p[6] = {sid, auto_action, resolves ? "t" : "f", jref, platform_fen, note};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "UPDATE payment.recon_exceptions SET auto_action = $2, auto_at = now(), "
                             "platform_fen = COALESCE($5::bigint, platform_fen), "
                             "note = CASE WHEN note = '' THEN $6 ELSE note || E'\\n' || $6 END, "
                             "status = CASE WHEN $3::boolean THEN 'RESOLVED' ELSE status END, "
                             "action = CASE WHEN $3::boolean THEN $2 ELSE action END, "
                             "proposed_by = CASE WHEN $3::boolean THEN 'system' ELSE proposed_by END, "
                             "proposed_at = CASE WHEN $3::boolean THEN now() ELSE proposed_at END, "
                             "decided_by = CASE WHEN $3::boolean THEN 'system' ELSE decided_by END, "
                             "decided_at = CASE WHEN $3::boolean THEN now() ELSE decided_at END, "
                             "journal_ref = $4 WHERE id = $1::bigint",
                             6, p, &res, err);
  PQclear(res);
  if (rc == 0) rc = fin_audit(conn, ac, "system", audit, sid, note, fen, err);
  if (rc != 0 || out->n_done >= FIN_AUTO_MAX) return rc;
  fin_auto_done *d = &out->done[out->n_done++];
  d->exception_id = yw_col_ll(x, 0, X_ID);
  snprintf(d->action, sizeof d->action, "%s", auto_action);
  snprintf(d->out_trade_no, sizeof d->out_trade_no, "%s", PQgetvalue(x, 0, X_OTN));
  d->amount_fen = fen;
  snprintf(d->channel_says, sizeof d->channel_says, "%s",
           said != NULL ? pay_channel_state_name(said->state) : "");
  return 0;
}

/* Books channel-only row x to suspense (journal recon_suspense, keyed by the statement's
 * row: held_ref) and settles the row; the exception stays OPEN for finance. why: the
 * note's reason. */
static int auto_suspense(PGconn *conn, const PGresult *x, const char *why,
                         const pay_query_res *said, const fin_audit_ctx *ac, fin_auto *out,
                         yw_pg_error *err) {
  const char *channel = PQgetvalue(x, 0, X_CHANNEL);
  int64_t cfen = yw_col_ll(x, 0, X_CFEN);
  char ref[200], jref[240], recv[64], note[400];
  held_ref(x, ref, sizeof ref);
  snprintf(jref, sizeof jref, "recon_suspense:%s", ref);
  snprintf(recv, sizeof recv, "channel_receivable:%s", channel);
  ledger_posting p[2] = {{recv, cfen}, {"suspense", -cfen}};
  ledger_entry e = {.kind = "recon_suspense", .ref = ref, .channel = channel,
                    .memo = "channel-only row held in suspense"};
  int rc = ledger_post(conn, &e, p, 2, err);
  if (rc != 0 && rc != YW_EEXIST) return rc; /* YW_EEXIST: held before */
  rc = book_settle(conn, channel, "PAY", PQgetvalue(x, 0, X_KEY), (int)yw_col_ll(x, 0, X_DUP), cfen,
                   yw_col_ll(x, 0, X_FEE), yw_col_ll(x, 0, X_AT), err);
  if (rc < 0) return rc;
  snprintf(note, sizeof note, "booked to suspense automatically (%s): propose REFUND or WRITE_OFF",
           why);
  return auto_record(conn, x, "SUSPENSE", jref, NULL, note, "recon.auto_suspense", cfen, said, ac,
                     out, err);
}

static int savepoint(PGconn *conn, const char *sql, yw_pg_error *err) {
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn, sql, 0, NULL, &res, err);
  PQclear(res);
  return rc;
}

/* CHANNEL_ONLY row x (locked): said (NULL: not asked, no order of ours) confirming it
 * books it paid (an EXCEPTION order's payment held as the notification holds it) and
 * settles it (resolved); a second payment of an order paid already is booked to suspense
 * by the payment path (unknown_inflow) and settled, left open as the run would have
 * opened it; anything else goes to suspense. First the platform's side again, as the
 * approval checks it: a row the platform booked since the run is re-evaluated and left
 * for finance (returns 1: committed, nothing acted on). A payment booked before
 * (PAY_BOOK_ALREADY) books this row only when it is still this row's (platform_now:
 * not reversed, no other row took it); otherwise, a row the channel listed twice or an
 * order whose payment was reversed, the row goes to suspense. */
static int auto_channel_only(PGconn *conn, const PGresult *x, const pay_query_res *said,
                             const fin_audit_ctx *ac, fin_auto *out, yw_pg_error *err) {
  const char *otn = PQgetvalue(x, 0, X_OTN), *cfen_s = PQgetvalue(x, 0, X_CFEN);
  int64_t cfen = yw_col_ll(x, 0, X_CFEN), now_fen = 0;
  int now_booked = 0;
  int rc = platform_now(conn, x, &now_fen, &now_booked, err);
  if (rc != 0) return rc;
  if (now_booked) {
    rc = reevaluate(conn, PQgetvalue(x, 0, X_ID), now_fen, "the automatic pass", err);
    if (rc == 0)
      rc = fin_audit(conn, ac, "system", "recon.reevaluate", PQgetvalue(x, 0, X_ID),
                     "not acted on: the platform booked the row since the run", now_fen, err);
    return rc == 0 ? 1 : rc;
  }
  char why[FIN_MSG_MAX] = "the platform has no channel order of that number";
  if (said != NULL) {
    rc = savepoint(conn, "SAVEPOINT fin_auto_book", err);
    pay_book_outcome outcome = 0;
    if (rc == 0) rc = book_confirmed(conn, x, said, "system", &outcome, err, why);
    if (rc != 0 && rc != YW_EPRECOND) return rc;
    if (rc == YW_EPRECOND)
      snprintf(why, sizeof why, "the channel says %s for %s (%" PRId64 " fen)",
               pay_channel_state_name(said->state), otn, said->total_fen);
    int booked = rc == 0 &&
                 (outcome == PAY_BOOK_PAID || outcome == PAY_BOOK_LATE || outcome == PAY_BOOK_HELD);
    if (rc == 0 && outcome == PAY_BOOK_ALREADY) {
      /* booked since the check above (a notification meanwhile): this row's */
      rc = platform_now(conn, x, &now_fen, &now_booked, err);
      if (rc != 0) return rc;
      booked = now_booked && now_fen == cfen;
      if (!booked)
        snprintf(why, sizeof why, "the platform's payment of %s is another row's or was reversed",
                 otn);
    }
    if (booked || (rc == 0 && outcome == PAY_BOOK_SUSPENSE)) {
      rc = book_settle(conn, PQgetvalue(x, 0, X_CHANNEL), "PAY", PQgetvalue(x, 0, X_KEY),
                       (int)yw_col_ll(x, 0, X_DUP), cfen, yw_col_ll(x, 0, X_FEE),
                       yw_col_ll(x, 0, X_AT), err);
      if (rc < 0) return rc;
      char jref[160], note[300];
      snprintf(jref, sizeof jref, "%s:%s", booked ? "pay" : "unknown_inflow", otn);
      if (booked)
        snprintf(note, sizeof note,
                 "booked paid automatically: the channel says SUCCESS for %s "
                 "(%" PRId64 " fen)%s",
                 otn, cfen,
                 outcome == PAY_BOOK_HELD ? "; the order stays EXCEPTION for finance" : "");
      else
        snprintf(note, sizeof note, "a second payment of an order paid already, booked to suspense "
                                    "automatically: propose REFUND or WRITE_OFF");
      return auto_record(conn, x, booked ? "BOOK" : "SUSPENSE", jref, cfen_s, note,
                         booked ? "recon.auto_book" : "recon.auto_suspense", cfen, said, ac, out, err);
    }
    if (rc == 0 && outcome != PAY_BOOK_ALREADY) /* no such order of this channel, or another amount:
                                                   nothing of it stays */
      snprintf(why, sizeof why, "%s",
               outcome == PAY_BOOK_NO_ORDER ? "the platform has no channel order of that number"
                                            : "the channel's amount differs from the order's");
    rc = savepoint(conn, "ROLLBACK TO SAVEPOINT fin_auto_book", err);
    if (rc != 0) return rc;
  }
  return auto_suspense(conn, x, why, said, ac, out, err);
}

/* The reversal's event: the order (row o of fin_pay_reverse's lock) reversed by reason. */
static int append_reversed_event(PGconn *conn, const PGresult *o, const char *order_id,
                                 const char *channel, const char *otn, const char *reason,
                                 yw_pg_error *err) {
  Yiwang__Events__V1__PaymentOrderReversed ev = YIWANG__EVENTS__V1__PAYMENT_ORDER_REVERSED__INIT;
  ev.order_id = (char *)order_id;
  ev.notice_code = PQgetvalue(o, 0, 1);
  ev.source = PQgetvalue(o, 0, 2);
  ev.application_number = PQgetvalue(o, 0, 3);
  ev.payee_department = PQgetvalue(o, 0, 4);
  ev.item_code = PQgetvalue(o, 0, 5);
  ev.amount_fen = yw_col_ll(o, 0, 6);
  ev.channel = (char *)channel;
  ev.out_trade_no = (char *)otn;
  ev.payer_subject = PQgetvalue(o, 0, 7);
  ev.reason = (char *)reason;
  ev.reversed_at_unix_ms = (int64_t)time(NULL) * 1000;
  return yw_events_append(conn, "payment", "payment.order_reversed", 1, order_id, &ev.base, NULL, err);
}

int fin_pay_reverse(PGconn *conn, const char *channel, const char *out_trade_no, const char *reason,
                    int *reversed, yw_pg_error *err) {
  *reversed = 0;
  const char *pj[2] = {channel, out_trade_no};
  PGresult *j = NULL, *o = NULL, *ps = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT id, COALESCE(order_id::text, ''), to_char(effective_at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM payment.journal "
                       "WHERE kind = 'pay' AND channel = $1 AND ref = $2",
                       2, pj, &j, err);
  if (rc != 0) return rc;
  if (PQntuples(j) != 1) {
    PQclear(j);
    return 0;
  }
  const char *order_id = PQgetvalue(j, 0, 1);
  if (order_id[0] != '\0') {
    /* the order locked: a refund started meanwhile is seen (or waits for this) */
    const char *po[1] = {order_id};
    rc = yw_pg_query(conn,
                     "SELECT o.status = 'PAID' AND NOT EXISTS (SELECT 1 FROM payment.refunds r "
                     "WHERE r.order_id = o.id AND r.status <> 'FAILED'), o.notice_code, o.source, "
                     "o.application_number, o.payee_department, o.item_code, o.amount_fen, "
                     "o.payer_subject FROM payment.orders o WHERE o.id = $1::uuid FOR UPDATE",
                     1, po, &o, err);
    if (rc != 0 || PQntuples(o) != 1 || !yw_col_bool(o, 0, 0)) {
      PQclear(j);
      PQclear(o);
      return rc;
    }
  }
  const char *pi[1] = {PQgetvalue(j, 0, 0)};
  rc = yw_pg_query(conn, "SELECT account, amount_fen FROM payment.postings WHERE journal_id = $1::bigint "
                         "ORDER BY id",
                   1, pi, &ps, err);
  if (rc == 0 && (PQntuples(ps) < 2 || PQntuples(ps) > LEDGER_MAX_POSTINGS)) rc = YW_EINTERNAL;
  if (rc == 0) {
    ledger_posting p[LEDGER_MAX_POSTINGS];
    size_t n = (size_t)PQntuples(ps);
    for (size_t i = 0; i < n; i++)
      p[i] = (ledger_posting){PQgetvalue(ps, (int)i, 0), -yw_col_ll(ps, (int)i, 1)};
    /* effective when the payment was: the payment's day nets it out (reports.c) */
    ledger_entry e = {.kind = "pay_reversal", .ref = out_trade_no,
                      .order_id = order_id[0] ? order_id : NULL, .channel = channel,
                      .effective_at = PQgetvalue(j, 0, 2),
                      .memo = "the channel does not have this payment"};
    rc = ledger_post(conn, &e, p, n, err);
    if (rc == YW_EEXIST) rc = 0; /* reversed before */
  }
  PQclear(ps);
  if (rc == 0 && order_id[0] != '\0') {
    rc = pay_order_transition(conn, order_id, "PAID", "EXCEPTION", reason, "system", NULL, err);
    /* the reason finance's queue shows (ListOrders) */
    const char *pe[2] = {order_id, reason};
    PGresult *u = NULL;
    if (rc == 0)
      rc = yw_pg_query_write(conn, "UPDATE payment.orders SET exception_reason = $2 WHERE id = $1::uuid", 2,
                             pe, &u, err);
    PQclear(u);
    /* whoever acted on payment.order_paid learns that the payment is gone */
    if (rc == 0) rc = append_reversed_event(conn, o, order_id, channel, out_trade_no, reason, err);
  }
  PQclear(o);
  PQclear(j);
  if (rc == 0) *reversed = 1;
  return rc;
}

/* PLATFORM_ONLY row x (locked) that the channel answered (said). It has the payment:
 * noted. It does not: the pay journal reversed, the order PAID -> EXCEPTION, resolved.
 * *acted = 0 when nothing was done (the channel's answer says neither, the order moved
 * on or has refunds: finance's). */
static int auto_platform_only(PGconn *conn, const PGresult *x, const pay_query_res *said,
                              const fin_audit_ctx *ac, fin_auto *out, yw_pg_error *err,
                              int *acted) {
  const char *channel = PQgetvalue(x, 0, X_CHANNEL), *otn = PQgetvalue(x, 0, X_OTN);
  int64_t pfen = yw_col_ll(x, 0, X_PFEN);
  char note[400];
  *acted = 0;
  if (said->state == PAY_TRADE_SUCCESS || said->state == PAY_TRADE_REFUND) {
    snprintf(note, sizeof note, "the channel says %s for %s (%" PRId64 " fen) but its statement "
                                "lacks the row: ask the channel for its corrected statement",
             pay_channel_state_name(said->state), otn, said->total_fen);
    *acted = 1;
    return auto_record(conn, x, "CHANNEL_HAS", NULL, NULL, note, "recon.auto_note", pfen, said, ac,
                       out, err);
  }
  if (said->state != PAY_TRADE_NOTPAY && said->state != PAY_TRADE_CLOSED &&
      said->state != PAY_TRADE_PAYERROR)
    return 0;
  snprintf(note, sizeof note, "reversed automatically: the channel says %s for %s, the platform "
                              "booked %" PRId64 " fen",
           pay_channel_state_name(said->state), otn, pfen);
  int reversed = 0;
  int rc = fin_pay_reverse(conn, channel, otn, note, &reversed, err);
  if (rc != 0 || !reversed) return rc; /* the order moved on or has refunds: finance's */
  char jref[160];
  snprintf(jref, sizeof jref, "pay_reversal:%s", otn);
  *acted = 1;
  return auto_record(conn, x, "REVERSE", jref, NULL, note, "recon.auto_reverse", pfen, said, ac, out,
                     err);
}

/* Acts on exception sid ("123") with the channel's answer said (NULL: not asked) in one
 * transaction, when it is still OPEN, current and not acted on. *acted = 0 when not. */
static int auto_one(PGconn *conn, const char *sid, const pay_query_res *said,
                    const fin_audit_ctx *ac, fin_auto *out, int *acted, char *msg) {
  yw_pg_error err = {0};
  PGresult *x = NULL;
  int reevaluated = 0;
  *acted = 0;
  int rc = exception_lock(conn, sid, EXC_LOCK, &x, &err, msg);
  if (rc == YW_ENOTFOUND) return 0;
  if (rc != 0) return rc;
  if (strcmp(PQgetvalue(x, 0, X_STATUS), "OPEN") != 0 || yw_col_bool(x, 0, X_SUPERSEDED) ||
      PQgetvalue(x, 0, X_AUTO)[0] != '\0' ||
      (strcmp(PQgetvalue(x, 0, X_CLASS), "CHANNEL_ONLY") == 0 && !yw_col_bool(x, 0, X_PFEN_NULL))) {
    PQclear(x);
    return abort_tx(conn, 0); /* finance or another run came first */
  }
  if (strcmp(PQgetvalue(x, 0, X_CLASS), "CHANNEL_ONLY") == 0) {
    rc = auto_channel_only(conn, x, said, ac, out, &err);
    *acted = rc == 0;
    reevaluated = rc == 1;
    if (reevaluated) rc = 0;
  } else if (said != NULL) {
    rc = auto_platform_only(conn, x, said, ac, out, &err, acted);
  }
  PQclear(x);
  if (rc == 0 && (*acted || reevaluated))
    rc = yw_pg_commit(conn, &err);
  else yw_pg_rollback(conn);
  if (rc != 0) {
    *acted = 0;
    if (msg != NULL && msg[0] == '\0') say(msg, "%s", err.message);
  }
  return rc;
}


/* The ms one question to a channel may take: timeout_ms, or less when db's caller has
 * less left (fin_db.until_ms); 0 when it has none left. */
static int ask_ms(const fin_db *db, int timeout_ms) {
  if (db->until_ms == 0) return timeout_ms;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long left = db->until_ms - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  if (left < 100) return 0;
  return left < timeout_ms ? (int)left : timeout_ms;
}

/* Pushes exception sid ("123") back in the pass's queue (migration 032): asked about or
 * taken and not acted on, it is tried after the rows never tried and those due sooner
 * (30 s doubling, at most a day). */
static int auto_later(const fin_db *db, const char *sid, char *msg) {
  const char *p[1] = {sid};
  return write_row(db,
                   "UPDATE payment.recon_exceptions SET auto_tries = auto_tries + 1, "
                   "auto_next_at = now() + least(interval '30 seconds' * "
                   "power(2, least(auto_tries, 12)), interval '1 day') "
                   "WHERE id = $1::bigint AND auto_action IS NULL",
                   1, p, msg);
}

int fin_recon_auto(const fin_db *db, const char *channel, const char *date, const pay_channel *ch,
                   int timeout_ms, const fin_audit_ctx *ac, fin_auto *out, char *msg) {
  memset(out, 0, sizeof *out);
  if (msg != NULL) msg[0] = '\0';
  int64_t start;
  if (!channel_ok(channel) || day_bounds(date, &start) != 0) {
    say(msg, "channel and date must be valid");
    return YW_EINVAL;
  }
  if (ch == NULL) return 0;
  /* the candidates: one read, outside any transaction (the channel is asked between), of
   * the last FIN_AUTO_DAYS days; rows never tried first, then by their next try */
  char limit[12], days[12];
  snprintf(limit, sizeof limit, "%d", FIN_AUTO_MAX);
  snprintf(days, sizeof days, "%d", FIN_AUTO_DAYS);
  const char *p[4] = {channel, date, limit, days};
  PGresult *res = NULL;
  int rc = read_rows(
      db,
      "SELECT e.id, e.class, e.out_trade_no, EXISTS (SELECT 1 FROM payment.channel_orders co "
      "WHERE co.out_trade_no = e.out_trade_no AND co.channel = e.channel), count(*) OVER () "
      "FROM payment.recon_exceptions e JOIN payment.statements s ON s.id = e.statement_id "
      "WHERE s.channel = $1 AND s.bill_date <= $2::date AND s.bill_date > $2::date - $4::int "
      "AND s.superseded_by IS NULL AND e.channel = $1 "
      "AND e.status = 'OPEN' AND e.auto_action IS NULL AND e.kind = 'PAY' "
      "AND ((e.class = 'CHANNEL_ONLY' AND e.platform_fen IS NULL) "
      " OR (e.class = 'PLATFORM_ONLY' AND EXISTS (SELECT 1 FROM payment.journal j "
      "     WHERE j.kind = 'pay' AND j.channel = e.channel AND j.ref = e.key))) "
      "ORDER BY e.auto_next_at NULLS FIRST, e.id LIMIT $3::int",
      4, p, &res, msg);
  if (rc != 0) return rc;
  int n = PQntuples(res);
  out->left = n > 0 ? (int)yw_col_ll(res, 0, 4) - n : 0;
  for (int i = 0; i < n && rc == 0; i++) {
    int ours = yw_col_bool(res, i, 3);
    int ask = !(strcmp(PQgetvalue(res, i, 1), "CHANNEL_ONLY") == 0 && !ours);
    pay_query_res said;
    int tmo = ask ? ask_ms(db, timeout_ms) : 0;
    int skipped = ask && (out->unanswered || tmo == 0); /* the channel down, or the caller's time up */
    int arc = ask && !skipped ? fin_channel_ask(ch, PQgetvalue(res, i, 2), tmo, &said) : 0;
    if (ask && (skipped || arc != 0)) {
      /* not answered: the channel is down, nothing more is asked of it this run; a number
       * it refuses to look up (YW_EINVAL) is finance's. The row asked goes back in the
       * queue. */
      if (arc == YW_EUNAVAIL) out->unanswered = 1;
      out->left++;
      if (!skipped) rc = auto_later(db, PQgetvalue(res, i, 0), msg);
      continue;
    }
    out->asked += ask;
    int acted = 0;
    /* the channel answered: a connection for this action alone */
    PGconn *conn = db_take(db, msg);
    if (conn == NULL) {
      rc = YW_EUNAVAIL;
      break;
    }
    rc = auto_one(conn, PQgetvalue(res, i, 0), ask ? &said : NULL, ac, out, &acted, msg);
    yw_pg_pool_release(db->pool, conn);
    if (rc == 0 && !acted) {
      out->left++;
      rc = auto_later(db, PQgetvalue(res, i, 0), msg);
    }
  }
  PQclear(res);
  return rc;
}

/* ---- the channel pays back what finance refunds ----------------------------------------- */

/* Records the channel's answer to refund orn (row locked PENDING): res (NULL: refused,
 * why) books it (SUCCESS: journal recon_refund, Dr refund_payable / Cr
 * channel_receivable, effective at the channel's time) or ends it FAILED. One transaction. */
static int refund_answered(PGconn *conn, const char *orn, const pay_refund_res *res,
                           const char *why, const fin_audit_ctx *ac, int *booked, char *msg) {
  yw_pg_error err = {0};
  PGresult *r = NULL;
  const char *p1[1] = {orn};
  *booked = 0;
  int rc = yw_pg_begin(conn, &err);
  if (rc == 0)
    rc = yw_pg_query(conn,
                     "SELECT channel, amount_fen, exception_id FROM payment.recon_refunds "
                     "WHERE out_refund_no = $1 AND status = 'PENDING' FOR UPDATE",
                     1, p1, &r, &err);
  if (rc != 0 || PQntuples(r) != 1) { /* answered meanwhile by another run */
    PQclear(r);
    if (rc != 0) say(msg, "%s", err.message);
    return abort_tx(conn, rc);
  }
  const char *channel = PQgetvalue(r, 0, 0);
  int64_t fen = yw_col_ll(r, 0, 1);
  char payable[64], recv[64], eff[PAY_TIME_MAX], detail[160];
  if (res != NULL) {
    snprintf(payable, sizeof payable, "refund_payable:%s", channel);
    snprintf(recv, sizeof recv, "channel_receivable:%s", channel);
    pay_time_format(res->success_unix, eff);
    ledger_posting p[2] = {{payable, fen}, {recv, -fen}};
    ledger_entry e = {.kind = "recon_refund", .ref = orn, .channel = channel,
                      .effective_at = res->success_unix > 0 ? eff : NULL,
                      .memo = "paid back by the channel"};
    rc = ledger_post(conn, &e, p, 2, &err);
    if (rc == YW_EEXIST) rc = 0;
    snprintf(detail, sizeof detail, "%s refunded by the channel (%s)", orn, res->refund_id);
  } else {
    snprintf(detail, sizeof detail, "%s refused by the channel: %.100s", orn, why);
  }
  const char *p4[4] = {orn, res != NULL ? "SUCCESS" : "FAILED", res != NULL ? res->refund_id : "",
                       res != NULL ? "" : why};
  PGresult *u = NULL;
  if (rc == 0)
    rc = yw_pg_query_write(conn,
                           "UPDATE payment.recon_refunds SET status = $2, refund_id = $3, "
                           "last_error = $4, attempts = attempts + 1, answered_at = now(), "
                           "next_try_at = NULL, misses = 0 "
                           "WHERE out_refund_no = $1",
                           4, p4, &u, &err);
  PQclear(u);
  if (rc == 0) rc = fin_audit(conn, ac, "system", "recon.refund", PQgetvalue(r, 0, 2), detail, fen, &err);
  PQclear(r);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  else yw_pg_rollback(conn);
  if (rc != 0) say(msg, "%s", err.message);
  *booked = rc == 0 && res != NULL;
  return rc;
}

/* The names of the channels of set a refunds' pass asks (channel NULL: every one; else
 * that one when configured), joined by commas (a channel's name never has one: the
 * channel spec is split on them): "" when none. Freed by the caller. */
static char *refund_channels(const pay_channels *set, const char *channel) {
  size_t n = pay_channels_count(set), len = 1;
  for (size_t i = 0; i < n; i++) len += strlen(pay_channel_name(pay_channels_at(set, i))) + 1;
  char *names = malloc(len);
  if (names == NULL) return NULL;
  names[0] = '\0';
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = pay_channel_name(pay_channels_at(set, i));
    if (channel != NULL && strcmp(channel, name) != 0) continue;
    at += (size_t)snprintf(names + at, len - at, "%s%s", at > 0 ? "," : "", name);
  }
  return names;
}

/* Pushes refund orn (still PENDING) back in the pass's queue after an ask it could not
 * end (migration 033): the attempt counted with why (last_error), asked again only after
 * next_try_at, 10 s doubling with each miss, at most an hour, as the janitor's rows. */
static int refund_later(const fin_db *db, const char *orn, const char *why, char *msg) {
  const char *p[2] = {orn, why};
  return write_row(db,
                   "UPDATE payment.recon_refunds SET attempts = attempts + 1, last_error = $2, "
                   "next_try_at = now() + make_interval(secs => least(3600, 10 * "
                   "power(2, least(misses, 12)))), misses = misses + 1 "
                   "WHERE out_refund_no = $1 AND status = 'PENDING'",
                   2, p, msg);
}

/* How many refunds of channel ("": every channel's) are PENDING: *n. */
static int refunds_pending(const fin_db *db, const char *channel, int *n, char *msg) {
  const char *p[1] = {channel};
  PGresult *res = NULL;
  int rc = read_rows(db,
                     "SELECT count(*) FROM payment.recon_refunds WHERE status = 'PENDING' "
                     "AND ($1 = '' OR channel = $1)",
                     1, p, &res, msg);
  if (rc == 0) *n = (int)yw_col_ll(res, 0, 0);
  PQclear(res);
  return rc;
}

int fin_refunds_send(const fin_db *db, const pay_channels *set, const char *channel, int timeout_ms,
                     const fin_audit_ctx *ac, fin_refunds *out, char *msg) {
  memset(out, 0, sizeof *out);
  if (msg != NULL) msg[0] = '\0';
  if (set == NULL) return 0;
  char *names = refund_channels(set, channel);
  if (names == NULL) {
    say(msg, "out of memory");
    return YW_ENOMEM;
  }
  char limit[12];
  snprintf(limit, sizeof limit, "%d", FIN_AUTO_MAX);
  const char *p[3] = {channel != NULL ? channel : "", names, limit};
  PGresult *res = NULL;
  /* one read, outside any transaction (the channels are asked between): the rows of the
   * configured channels whose time has come, the ones never tried first, each of the two
   * taken from the channels in turn (a channel's n-th after every channel's (n-1)-th), so
   * no one channel's rows fill a pass */
  int rc =
      read_rows(db,
                "SELECT out_refund_no, channel, out_trade_no, amount_fen, total_fen FROM "
                "(SELECT r.*, row_number() OVER (PARTITION BY channel, next_try_at IS NULL "
                "ORDER BY next_try_at, created_at, out_refund_no) AS turn "
                "FROM payment.recon_refunds r WHERE status = 'PENDING' "
                "AND ($1 = '' OR channel = $1) AND channel = ANY (string_to_array($2, ',')) "
                "AND (next_try_at IS NULL OR next_try_at <= now())) q "
                "ORDER BY next_try_at IS NOT NULL, turn, next_try_at, created_at, out_refund_no "
                "LIMIT $3::int",
                3, p, &res, msg);
  free(names);
  if (rc != 0) return rc;
  /* the channels that gave no answer in this pass, by their place in set */
  size_t nch = pay_channels_count(set);
  unsigned char *silent = calloc(nch + 1, 1);
  if (silent == NULL) {
    PQclear(res);
    say(msg, "out of memory");
    return YW_ENOMEM;
  }
  for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
    const char *orn = PQgetvalue(res, i, 0);
    size_t at = 0;
    while (at < nch &&
           strcmp(pay_channel_name(pay_channels_at(set, at)), PQgetvalue(res, i, 1)) != 0)
      at++;
    if (at == nch || silent[at]) continue;
    int tmo = ask_ms(db, timeout_ms);
    if (tmo == 0) break; /* the caller's time is up: the rest waits for the next pass */
    const pay_channel *ch = pay_channels_at(set, at);
    pay_refund_req req = {.out_trade_no = PQgetvalue(res, i, 2), .out_refund_no = orn,
                          .refund_fen = yw_col_ll(res, i, 3), .total_fen = yw_col_ll(res, i, 4)};
    pay_refund_res answer;
    memset(&answer, 0, sizeof answer);
    char code[PAY_CODE_MAX] = "";
    int arc = pay_channel_refund(ch, &req, tmo, &answer, code);
    const char *wrong = arc == 0 ? pay_refund_mismatch(&req, &answer) : NULL;
    /* only a definite business refusal ends it FAILED: a 429, an unknown code or an
     * answer for another refund or amount leaves the outcome unknown (the channel may
     * have paid), as the order refunds' rule has it */
    int refused = pay_refund_refused(arc);
    if (wrong != NULL) pay_alert("recon refund mismatch", orn, wrong);
    if (!refused && (arc != 0 || wrong != NULL || strcmp(answer.status, "SUCCESS") != 0)) {
      /* no answer, not done yet, or an answer that cannot be booked: asked again with the
       * same number once its time comes; a channel that gave no answer (nothing, a 5xx, a
       * 429, an unknown code) is asked nothing more this pass, the other channels are */
      char last[PAY_CODE_MAX + 80];
      snprintf(last, sizeof last, "%s",
               arc != 0        ? (code[0] != '\0' ? code : "the channel did not answer")
               : wrong != NULL ? wrong
                               : answer.status);
      if (arc != 0) {
        out->unanswered++;
        silent[at] = 1;
      }
      rc = refund_later(db, orn, last, msg);
      continue;
    }
    out->asked++;
    char why[PAY_CODE_MAX + 80];
    snprintf(why, sizeof why, "%s", code[0] != '\0' ? code : "refused");
    int booked = 0;
    PGconn *conn = db_take(db, msg);
    if (conn == NULL) {
      rc = YW_EUNAVAIL;
      break;
    }
    rc = refund_answered(conn, orn, refused ? NULL : &answer, why, ac, &booked, msg);
    yw_pg_pool_release(db->pool, conn);
    if (booked) out->succeeded++;
    else if (rc == 0 && refused) out->failed++;
  }
  PQclear(res);
  free(silent);
  if (rc == 0) rc = refunds_pending(db, p[0], &out->left, msg);
  return rc;
}

/* ---- finance decides a refund to the payer the channel refused ------------------------ */

/* Columns of a refund to the payer as the decisions lock it. */
#define PAYER_REFUND_LOCK                                                                     \
  "SELECT status, COALESCE(action, ''), COALESCE(proposed_by, ''), decided_at IS NULL "      \
  "AND proposed_by IS NOT NULL, version, channel, amount_fen, exception_id::text "           \
  "FROM payment.recon_refunds WHERE out_refund_no = $1 FOR UPDATE"

/* Begins a transaction and locks refund orn: 0 with *res (its row) and the transaction
 * open, or the code (the transaction ended; YW_ENOTFOUND with msg set). */
static int payer_refund_lock(PGconn *conn, const char *orn, PGresult **res, yw_pg_error *err, char *msg) {
  int rc = yw_pg_begin(conn, err);
  if (rc != 0) return rc;
  const char *p[1] = {orn};
  rc = yw_pg_query(conn, PAYER_REFUND_LOCK, 1, p, res, err);
  if (rc == 0 && PQntuples(*res) != 1) {
    PQclear(*res);
    *res = NULL;
    say(msg, "no such refund to a payer");
    rc = YW_ENOTFOUND;
  }
  return rc != 0 ? abort_tx(conn, rc) : 0;
}

/* Ends the decision's transaction: audit record action on orn, then COMMIT (or the
 * rollback of a failure). */
static int payer_refund_end(PGconn *conn, int rc, const fin_audit_ctx *ac, const char *actor,
                            const char *action, const char *orn, const char *detail, int64_t fen,
                            yw_pg_error *err, char *msg) {
  if (rc == 0) rc = fin_audit(conn, ac, actor, action, orn, detail, fen, err);
  if (rc == 0) rc = yw_pg_commit(conn, err);
  else yw_pg_rollback(conn);
  if (rc != 0 && msg != NULL && msg[0] == '\0') say(msg, "%s", err->message);
  return rc;
}

int fin_payer_refund_propose(PGconn *conn, const char *out_refund_no, const char *action,
                             const char *note, const char *actor, const fin_audit_ctx *ac, char *msg) {
  if (msg != NULL) msg[0] = '\0';
  if (action == NULL || (strcmp(action, "RETRY") != 0 && strcmp(action, "WRITE_OFF") != 0)) {
    say(msg, "action must be RETRY or WRITE_OFF");
    return YW_EINVAL;
  }
  if (!note_ok(note, 1)) {
    say(msg, "note must be 1 to 500 bytes");
    return YW_EINVAL;
  }
  yw_pg_error err = {0};
  PGresult *x = NULL;
  int rc = payer_refund_lock(conn, out_refund_no, &x, &err, msg);
  if (rc != 0) return rc;
  int64_t fen = yw_col_ll(x, 0, 6);
  if (strcmp(PQgetvalue(x, 0, 0), "FAILED") != 0 || yw_col_bool(x, 0, 3)) {
    say(msg, "the refund is %s%s: only a refused refund with no proposal pending is proposed",
        PQgetvalue(x, 0, 0), yw_col_bool(x, 0, 3) ? " with a proposal pending" : "");
    PQclear(x);
    return abort_tx(conn, YW_EPRECOND);
  }
  PQclear(x);
  const char *p[4] = {out_refund_no, action, note, actor};
  PGresult *u = NULL;
  rc = yw_pg_query_write(conn,
                         "UPDATE payment.recon_refunds SET action = $2, note = $3, proposed_by = $4, "
                         "proposed_at = now(), decided_by = NULL, decided_at = NULL, "
                         "version = version + 1 WHERE out_refund_no = $1",
                         4, p, &u, &err);
  PQclear(u);
  return payer_refund_end(conn, rc, ac, actor, "recon.refund_propose", out_refund_no, action, fen, &err,
                          msg);
}

int fin_payer_refund_decide(PGconn *conn, const char *out_refund_no, int approve, const char *action,
                            int version, const char *note, const char *actor,
                            const fin_audit_ctx *ac, char *msg) {
  if (msg != NULL) msg[0] = '\0';
  int rc = decision_request_ok(note, action, version, msg);
  if (rc != 0) return rc;
  yw_pg_error err = {0};
  PGresult *x = NULL;
  rc = payer_refund_lock(conn, out_refund_no, &x, &err, msg);
  if (rc != 0) return rc;
  if (strcmp(PQgetvalue(x, 0, 0), "FAILED") != 0 || !yw_col_bool(x, 0, 3)) {
    say(msg, "the refund is %s with no proposal to decide", PQgetvalue(x, 0, 0));
    rc = YW_EPRECOND;
  } else {
    rc = decision_fits(PQgetvalue(x, 0, 1), PQgetvalue(x, 0, 4), PQgetvalue(x, 0, 2), action, version,
                       actor, msg);
  }
  if (rc != 0) {
    PQclear(x);
    return abort_tx(conn, rc);
  }
  int64_t fen = yw_col_ll(x, 0, 6);
  char payable[64];
  snprintf(payable, sizeof payable, "refund_payable:%s", PQgetvalue(x, 0, 5));
  int write_off = approve && strcmp(action, "WRITE_OFF") == 0;
  if (write_off) {
    /* what the channel would not pay back stays with the platform, in suspense */
    ledger_posting p[2] = {{payable, fen}, {"suspense", -fen}};
    ledger_entry e = {.kind = "recon_refund_writeoff", .ref = out_refund_no,
                      .channel = PQgetvalue(x, 0, 5), .memo = "refund to the payer written off"};
    rc = ledger_post(conn, &e, p, 2, &err);
  }
  PQclear(x);
  const char *p4[4] = {out_refund_no, actor, note != NULL ? note : "",
                       !approve ? "" : write_off ? "WRITTEN_OFF" : "PENDING"};
  PGresult *u = NULL;
  if (rc == 0)
    rc = yw_pg_query_write(conn,
                           approve ? "UPDATE payment.recon_refunds SET status = $4, decided_by = $2, "
                                     "decided_at = now(), note = CASE WHEN $3 = '' THEN note "
                                     "ELSE note || E'\\n' || $3 END WHERE out_refund_no = $1"
                                   : "UPDATE payment.recon_refunds SET action = NULL, proposed_by = NULL, "
                                     "proposed_at = NULL, version = version + 1, "
                                     "note = note || E'\\n' || 'rejected by ' || $2 || "
                                     "CASE WHEN $3 = '' THEN '' ELSE ': ' || $3 END "
                                     "WHERE out_refund_no = $1",
                           approve ? 4 : 3, p4, &u, &err);
  PQclear(u);
  char detail[64];
  snprintf(detail, sizeof detail, "%s %s", approve ? "approved" : "rejected", action);
  return payer_refund_end(conn, rc, ac, actor, approve ? "recon.refund_approve" : "recon.refund_reject",
                          out_refund_no, detail, fen, &err, msg);
}
