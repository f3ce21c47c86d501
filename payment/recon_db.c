/*
 * recon_db.c - bulk storage of statement rows and reconciliation results (COPY), and
 * the settlement journals of a statement's rows.
 *
 * Design: rows are written in COPY's text format into a 1 MiB buffer that is handed to
 * libpq whenever it fills, so a million rows cost one statement and a few hundred
 * PQputCopyData calls. Identifiers reaching here passed the statement parser (no
 * control characters); a backslash is still escaped as COPY's text format asks.
 * Results go through a temporary table so that the insert into recon_results can skip
 * keys already classified (ON CONFLICT DO NOTHING): the first run is the record.
 *
 * Each result records the run of its statement that stored it (the first run copies
 * them all; a re-run adds only keys not stored, numbered as the next run). The matched
 * rows of a run are settled by ONE journal whose postings are the rows' sums per
 * account, found again by its ref: a million matched rows cost one aggregate query and
 * one journal, not a million. A row settled by an exception's resolution gets a journal
 * of its own. Settlement journals name their statement in their ref, so replacing a
 * statement never leaves its settlements counted beside the new one's: the replaced
 * statement's are reversed by one statement (journals and postings by INSERT ...
 * SELECT), and the deferred balance trigger checks every reversing journal at commit.
 *
 * Offers: pay_recon_store_rows, pay_recon_store_results, pay_recon_settle_row,
 * pay_recon_settle_matched, pay_recon_unsettle.
 */
#include "recon_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "ledger.h"
#include "yw_err.h"
#include "yw_service.h"
#include "yw_workdays.h"

#define COPY_BUF (1u << 20)

typedef struct copybuf {
  PGconn *conn;
  char *p;
  size_t len;
  int failed;
} copybuf;

static void cb_flush(copybuf *b) {
  if (b->failed || b->len == 0) return;
  if (PQputCopyData(b->conn, b->p, (int)b->len) != 1) b->failed = 1;
  b->len = 0;
}

static void cb_put(copybuf *b, const char *s, size_t l) {
  if (b->len + l > COPY_BUF) cb_flush(b);
  if (l > COPY_BUF) { /* never: fields are short */
    b->failed = 1;
    return;
  }
  memcpy(b->p + b->len, s, l);
  b->len += l;
}

/* A text field, escaped for COPY's text format, then sep. */
static void cb_str(copybuf *b, const char *s, char sep) {
  for (const char *p = s; *p != '\0'; p++) {
    if (*p == '\\' || *p == '\t' || *p == '\n' || *p == '\r') {
      char e[2] = {'\\', *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n' : 'r'};
      cb_put(b, e, 2);
    } else {
      cb_put(b, p, 1);
    }
  }
  cb_put(b, &sep, 1);
}

static void cb_int(copybuf *b, int64_t v, char sep) {
  char t[32];
  int n = snprintf(t, sizeof t, "%" PRId64 "%c", v, sep);
  cb_put(b, t, (size_t)n);
}

static void cb_null(copybuf *b, char sep) {
  char t[3] = {'\\', 'N', sep};
  cb_put(b, t, 3);
}

/* unix seconds as "YYYY-MM-DD HH:MM:SS+08" (the statement's zone). */
static void cb_time(copybuf *b, int64_t t, char sep) {
  yw_day day;
  int y = 1970, m = 1, d = 1;
  if (yw_day_from_time((time_t)t, &day) == 0) yw_day_to_ymd(day, &y, &m, &d);
  int64_t sec = t + 8 * 3600 - (int64_t)day * 86400;
  char s[40];
  int n = snprintf(s, sizeof s, "%04d-%02d-%02d %02d:%02d:%02d+08%c", y, m, d, (int)(sec / 3600),
                   (int)(sec / 60 % 60), (int)(sec % 60), sep);
  cb_put(b, s, (size_t)n);
}

static int pg_fail(PGconn *conn, PGresult *res, yw_pg_error *err) {
  int rc = PQstatus(conn) == CONNECTION_BAD ? YW_EUNAVAIL : YW_EINTERNAL;
  if (err != NULL) {
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state != NULL ? state : "");
    snprintf(err->message, sizeof err->message, "%s", PQerrorMessage(conn));
    if (state != NULL && strcmp(state, "23505") == 0) rc = YW_EEXIST;
  }
  if (res != NULL) PQclear(res);
  return rc;
}

/* Runs a COPY ... FROM STDIN statement, then fill(b, arg), then ends the copy. */
static int copy_in(PGconn *conn, const char *sql, void (*fill)(copybuf *, const void *),
                   const void *arg, yw_pg_error *err) {
  PGresult *res = PQexec(conn, sql);
  if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN) return pg_fail(conn, res, err);
  PQclear(res);
  copybuf b = {.conn = conn, .p = malloc(COPY_BUF)};
  if (b.p == NULL) {
    PQputCopyEnd(conn, "out of memory");
    res = PQgetResult(conn);
    PQclear(res);
    return YW_ENOMEM;
  }
  fill(&b, arg);
  cb_flush(&b);
  free(b.p);
  if (PQputCopyEnd(conn, b.failed ? "client failed" : NULL) != 1) return pg_fail(conn, NULL, err);
  int rc = 0;
  while ((res = PQgetResult(conn)) != NULL) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
      rc = pg_fail(conn, res, err);
      continue;
    }
    PQclear(res);
  }
  return rc;
}

typedef struct rows_arg {
  int64_t statement_id;
  const pay_statement *st;
} rows_arg;

static void fill_rows(copybuf *b, const void *arg) {
  const rows_arg *a = arg;
  for (size_t i = 0; i < a->st->n && !b->failed; i++) {
    const pay_stmt_row *r = &a->st->rows[i];
    cb_int(b, a->statement_id, '\t');
    cb_int(b, r->line, '\t');
    cb_str(b, r->kind == PAY_STMT_PAY ? "PAY" : "REFUND", '\t');
    cb_time(b, r->time_unix, '\t');
    cb_str(b, r->out_trade_no, '\t');
    cb_str(b, r->transaction_id, '\t');
    cb_str(b, r->out_refund_no, '\t');
    cb_int(b, r->order_fen, '\t');
    cb_int(b, r->refund_fen, '\t');
    cb_int(b, r->fee_fen, '\n');
  }
}

int pay_recon_store_rows(PGconn *conn, int64_t statement_id, const pay_statement *st,
                         yw_pg_error *err) {
  if (conn == NULL || st == NULL) return YW_EINVAL;
  rows_arg a = {statement_id, st};
  return copy_in(conn,
                 "COPY payment.statement_rows (statement_id, line, kind, success_time, "
                 "out_trade_no, transaction_id, out_refund_no, order_fen, refund_fen, fee_fen) "
                 "FROM STDIN",
                 fill_rows, &a, err);
}

typedef struct results_arg {
  int64_t statement_id;
  const pay_recon_result *r;
  size_t n;
} results_arg;

static void fill_results(copybuf *b, const void *arg) {
  const results_arg *a = arg;
  int dup = 0;
  for (size_t i = 0; i < a->n && !b->failed; i++) {
    const pay_recon_result *r = &a->r[i];
    const pay_recon_item *it = r->channel != NULL ? r->channel : r->platform;
    if (i > 0) {
      const pay_recon_item *prev = a->r[i - 1].channel != NULL ? a->r[i - 1].channel
                                                               : a->r[i - 1].platform;
      dup = prev->kind == it->kind && strcmp(prev->key, it->key) == 0 ? dup + 1 : 0;
    }
    cb_int(b, a->statement_id, '\t');
    cb_str(b, it->kind == PAY_STMT_PAY ? "PAY" : "REFUND", '\t');
    cb_str(b, it->key, '\t');
    cb_int(b, dup, '\t');
    cb_str(b, pay_recon_class_name(r->cls), '\t');
    cb_str(b, it->out_trade_no != NULL ? it->out_trade_no : "", '\t');
    if (r->channel != NULL)
      cb_int(b, r->channel->amount_fen, '\t');
    else
      cb_null(b, '\t');
    if (r->platform != NULL)
      cb_int(b, r->platform->amount_fen, '\t');
    else
      cb_null(b, '\t');
    cb_int(b, r->channel != NULL ? r->channel->fee_fen : 0, '\t');
    if (r->channel != NULL)
      cb_int(b, r->channel->ref, '\t');
    else
      cb_null(b, '\t');
    cb_time(b, it->time_unix, '\t');
    cb_str(b, r->platform != NULL && r->platform->carried ? "t" : "f", '\n');
  }
}

int pay_recon_store_results(PGconn *conn, int64_t statement_id, const pay_recon_result *r,
                            size_t n, int64_t *inserted, yw_pg_error *err) {
  if (conn == NULL || (n > 0 && r == NULL)) return YW_EINVAL;
  if (inserted != NULL) *inserted = 0;
  results_arg a = {statement_id, r, n};
  /* the first run of a statement copies straight into the table */
  char id[24];
  snprintf(id, sizeof id, "%" PRId64, statement_id);
  const char *params[1] = {id};
  PGresult *res = PQexecParams(conn,
                               "SELECT 1 FROM payment.recon_results WHERE statement_id = $1 "
                               "LIMIT 1",
                               1, NULL, params, NULL, NULL, 0);
  if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail(conn, res, err);
  int first = PQntuples(res) == 0;
  PQclear(res);
  if (first) {
    int rc = copy_in(conn,
                     "COPY payment.recon_results (statement_id, kind, key, dup, class, "
                     "out_trade_no, channel_fen, platform_fen, fee_fen, channel_line, "
                     "success_time, carried) FROM STDIN",
                     fill_results, &a, err);
    if (rc == 0 && inserted != NULL) *inserted = (int64_t)n;
    return rc;
  }
  res = PQexec(conn,
               "CREATE TEMP TABLE IF NOT EXISTS recon_stage "
               "(LIKE payment.recon_results INCLUDING DEFAULTS) ON COMMIT DROP");
  if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) return pg_fail(conn, res, err);
  PQclear(res);
  res = PQexec(conn, "TRUNCATE recon_stage");
  if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) return pg_fail(conn, res, err);
  PQclear(res);
  int rc = copy_in(conn,
                   "COPY recon_stage (statement_id, kind, key, dup, class, out_trade_no, "
                   "channel_fen, platform_fen, fee_fen, channel_line, success_time, carried) "
                   "FROM STDIN",
                   fill_results, &a, err);
  if (rc != 0) return rc;
  /* the keys this run adds are its own: numbered after the statement's runs so far */
  res = PQexecParams(conn,
                     "INSERT INTO payment.recon_results (statement_id, kind, key, dup, class, "
                     "out_trade_no, channel_fen, platform_fen, fee_fen, channel_line, "
                     "success_time, carried, run) SELECT statement_id, kind, key, dup, class, "
                     "out_trade_no, channel_fen, platform_fen, fee_fen, channel_line, "
                     "success_time, carried, (SELECT coalesce(max(run), 0) + 1 "
                     "FROM payment.recon_results WHERE statement_id = $1::bigint) "
                     "FROM recon_stage ON CONFLICT (statement_id, kind, key, dup) DO NOTHING",
                     1, NULL, params, NULL, NULL, 0);
  if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) return pg_fail(conn, res, err);
  if (inserted != NULL) *inserted = strtoll(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  return 0;
}

/* ---- settlement ------------------------------------------------------------------- */

/* The current statement of channel for the day of at (Asia/Shanghai) into *id. */
static int current_statement(PGconn *conn, const char *channel, int64_t at, int64_t *id,
                             yw_pg_error *err) {
  yw_day day;
  int y = 1970, m = 1, d = 1;
  if (yw_day_from_time((time_t)at, &day) != 0 || yw_day_to_ymd(day, &y, &m, &d) != 0)
    return YW_EINVAL;
  char date[16];
  snprintf(date, sizeof date, "%04d-%02d-%02d", y, m, d);
  const char *p[2] = {channel, date};
  PGresult *res = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT id FROM payment.statements WHERE channel = $1 "
                       "AND bill_date = $2::date AND superseded_by IS NULL",
                       2, p, &res, err);
  if (rc != 0) return rc;
  rc = PQntuples(res) == 1 ? 0 : YW_EPRECOND;
  if (rc == 0) *id = yw_col_ll(res, 0, 0);
  PQclear(res);
  return rc;
}

/* Books a settle journal ref: amount (signed: payments +, refunds -) from
 * channel_receivable:<channel> to clearing_bank net of fee, fee to channel_fee:<channel>.
 * 0 booked, 1 booked before or nothing to move, or a ledger_post code. */
static int settle(PGconn *conn, const char *channel, const char *ref, int64_t amount,
                  int64_t fee, int64_t at, const char *memo, yw_pg_error *err) {
  char recv[64], feeacct[64], eff[PAY_TIME_MAX];
  snprintf(recv, sizeof recv, "channel_receivable:%s", channel);
  snprintf(feeacct, sizeof feeacct, "channel_fee:%s", channel);
  pay_time_format(at, eff);
  ledger_posting p[3];
  size_t n = 0;
  if (amount != 0) p[n++] = (ledger_posting){recv, -amount};
  if (amount - fee != 0) p[n++] = (ledger_posting){"clearing_bank", amount - fee};
  if (fee != 0) p[n++] = (ledger_posting){feeacct, fee};
  if (n < 2) return 1;
  ledger_entry e = {.kind = "settle", .ref = ref, .channel = channel, .effective_at = eff,
                    .memo = memo};
  int rc = ledger_post(conn, &e, p, n, err);
  return rc == YW_EEXIST ? 1 : rc;
}

int pay_recon_settle_row(PGconn *conn, const char *channel, int64_t statement_id, const char *kind,
                         const char *key, int dup, int64_t amount, int64_t fee, int64_t at,
                         yw_pg_error *err) {
  if (conn == NULL || channel == NULL || kind == NULL || key == NULL || dup < 0) return YW_EINVAL;
  if (statement_id == 0) {
    int rc = current_statement(conn, channel, at, &statement_id, err);
    if (rc != 0) return rc;
  }
  char ref[200];
  if (dup == 0) {
    /* a key's first row settled before the refs named the row's position has the ref
     * without it: that journal is this row's settlement */
    snprintf(ref, sizeof ref, "%s:%" PRId64 ":%s:%s", channel, statement_id, kind, key);
    const char *p[1] = {ref};
    PGresult *res = NULL;
    int rc = yw_pg_query(conn, "SELECT 1 FROM payment.journal WHERE kind = 'settle' AND ref = $1",
                         1, p, &res, err);
    int before = rc == 0 && PQntuples(res) > 0;
    PQclear(res);
    if (rc != 0) return rc;
    if (before) return 1;
  }
  snprintf(ref, sizeof ref, "%s:%" PRId64 ":%s:%s:%d", channel, statement_id, kind, key, dup);
  return settle(conn, channel, ref, amount, fee, at, "statement row settled", err);
}

int pay_recon_settle_matched(PGconn *conn, const char *channel, int64_t statement_id,
                             int64_t *settled, int64_t *settled_fen, yw_pg_error *err) {
  *settled = 0;
  *settled_fen = 0;
  char sid[24];
  snprintf(sid, sizeof sid, "%" PRId64, statement_id);
  const char *p[2] = {sid, channel};
  PGresult *res = NULL;
  /* per run of the statement not settled yet: its matched rows' sums */
  int rc = yw_pg_query(conn,
                       "SELECT g.run, g.amount, g.fee, g.n, extract(epoch FROM g.at)::bigint "
                       "FROM (SELECT r.run, sum(CASE r.kind WHEN 'REFUND' THEN -r.channel_fen "
                       "ELSE r.channel_fen END) AS amount, sum(r.fee_fen) AS fee, count(*) AS n, "
                       "max(r.success_time) AS at FROM payment.recon_results r "
                       "WHERE r.statement_id = $1::bigint AND r.class = 'MATCHED' AND r.run >= 1 "
                       "GROUP BY r.run) g WHERE NOT EXISTS (SELECT 1 FROM payment.journal j "
                       "WHERE j.kind = 'settle' AND j.ref = $2::text || ':' || $1::bigint || ':run:' "
                       "|| g.run) ORDER BY g.run",
                       2, p, &res, err);
  if (rc != 0) return rc;
  for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
    char ref[160], memo[64];
    snprintf(ref, sizeof ref, "%s:%" PRId64 ":run:%s", channel, statement_id,
             PQgetvalue(res, i, 0));
    snprintf(memo, sizeof memo, "%s statement rows matched", PQgetvalue(res, i, 3));
    int64_t amount = yw_col_ll(res, i, 1);
    rc = settle(conn, channel, ref, amount, yw_col_ll(res, i, 2), yw_col_ll(res, i, 4), memo, err);
    if (rc == 0) {
      *settled += yw_col_ll(res, i, 3);
      *settled_fen += amount;
    }
    if (rc == 1) rc = 0;
  }
  PQclear(res);
  return rc;
}

int pay_recon_unsettle(PGconn *conn, const char *channel, int64_t statement_id,
                       int64_t *reversed_fen, yw_pg_error *err) {
  *reversed_fen = 0;
  char sid[24], memo[64];
  snprintf(sid, sizeof sid, "%" PRId64, statement_id);
  snprintf(memo, sizeof memo, "statement %" PRId64 " superseded", statement_id);
  const char *p[3] = {channel, sid, memo};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(
      conn,
      "WITH old AS (SELECT j.id, j.ref, j.channel, j.effective_at FROM payment.journal j "
      "  WHERE j.kind = 'settle' AND j.ref IN ("
      "    SELECT $1::text || ':' || $2::bigint || ':run:' || r.run FROM payment.recon_results r "
      "    WHERE r.statement_id = $2::bigint AND r.run >= 1 GROUP BY r.run "
      "    UNION ALL SELECT $1::text || ':' || $2::bigint || ':' || r.kind || ':' || r.key "
      "    || ':' || r.dup FROM payment.recon_results r WHERE r.statement_id = $2::bigint "
      "    UNION ALL SELECT $1::text || ':' || $2::bigint || ':' || r.kind || ':' || r.key "
      "    FROM payment.recon_results r WHERE r.statement_id = $2::bigint AND r.dup = 0 "
      "    UNION ALL SELECT $1::text || ':' || r.kind || ':' || r.key "
      "    FROM payment.recon_results r WHERE r.statement_id = $2::bigint AND r.run = 0)), "
      "nj AS (INSERT INTO payment.journal (kind, ref, channel, effective_at, memo) "
      "  SELECT 'settle_reversal', o.ref, o.channel, o.effective_at, $3 FROM old o "
      "  ON CONFLICT (kind, ref) DO NOTHING RETURNING id, ref), "
      "np AS (INSERT INTO payment.postings (journal_id, account, amount_fen) "
      "  SELECT nj.id, p.account, -p.amount_fen FROM nj JOIN old o ON o.ref = nj.ref "
      "  JOIN payment.postings p ON p.journal_id = o.id RETURNING account, amount_fen) "
      "SELECT coalesce(-sum(amount_fen), 0) FROM np WHERE account = 'clearing_bank'",
      3, p, &res, err);
  if (rc != 0) return rc;
  *reversed_fen = yw_col_ll(res, 0, 0);
  PQclear(res);
  return 0;
}
