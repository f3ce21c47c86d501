/*
 * finance_service.c - FinanceService (proto/yiwang/payment/v1/finance.proto): the RPC
 * side of daily reconciliation. Each handler checks the caller (finance for every
 * method, auditor too for the reads), validates its request and calls finance.c, then
 * answers from what the database holds.
 *
 * Offers: finance_service_init.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "finance.h"
#include "payment.h"
#include "reports.h"
#include "yiwang/payment/v1/finance.pb-c.h"
#include "yw_arena.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define DB "the payment database"
#define WRITERS "finance"
#define READERS "finance,auditor"

typedef Yiwang__Payment__V1__Statement Statement;
typedef Yiwang__Payment__V1__Reconciliation Reconciliation;
typedef Yiwang__Payment__V1__ReconException ReconException;

static Google__Protobuf__Timestamp *ts(yw_arena *a, long long unix_s) {
  if (unix_s <= 0) return NULL;
  Google__Protobuf__Timestamp *t = yw_arena_alloc(a, sizeof *t);
  if (t == NULL) return NULL;
  google__protobuf__timestamp__init(t);
  t->seconds = unix_s;
  return t;
}

/* Answers rc from a finance.c function: its message for the caller's mistakes and the
 * domain's refusals, the database's mapping otherwise. */
static int fin_fail(yw_rpc_call *call, int rc, const char *msg) {
  if (rc == YW_EINVAL || rc == YW_EPRECOND || rc == YW_EPERM || rc == YW_ENOTFOUND ||
      rc == YW_ECONFLICT || rc == YW_EEXIST)
    return yw_rpc_call_fail(call, rc, "%s", msg);
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  snprintf(err.message, sizeof err.message, "%s", msg);
  return yw_service_db_fail(call, rc, &err);
}

/* Who the caller is, for a finance action's audit record; points into c and call. */
static fin_audit_ctx audit_ctx(yw_rpc_call *call, const yw_caller *c) {
  fin_audit_ctx ac = {.department = c->department, .request_id = yw_rpc_call_request_id(call),
                      .source_ip = c->ip};
  return ac;
}

/* "123" -> 123; 0 when s is not 1..18 digits. */
static int64_t id_parse(const char *s) {
  size_t n = s != NULL ? strlen(s) : 0;
  if (n == 0 || n > 18) return 0;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* One write of a finance user: who (checked), the audit record's context, a connection
 * taken as late as possible (after any call to the channel), and finance.c's message. */
typedef struct fin_write {
  yw_caller c;
  fin_audit_ctx ac; /* points into c: w is never copied */
  PGconn *conn;
  char msg[FIN_MSG_MAX];
} fin_write;

/* Checks that the caller is finance staff (what names the action in a refusal): 0, or
 * the code answered (status set). */
static int write_caller(yw_rpc_call *call, finance_ctx *ctx, const char *what, fin_write *w) {
  memset(w, 0, sizeof *w);
  int rc = yw_service_require_staff(call, &ctx->caller_keys, WRITERS, what, &w->c);
  if (rc != 0) return rc;
  w->ac = audit_ctx(call, &w->c);
  return 0;
}

/* Takes w's connection: 0, or UNAVAILABLE answered. */
static int write_db(yw_rpc_call *call, finance_ctx *ctx, fin_write *w) {
  w->conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  return w->conn != NULL ? 0 : yw_rpc_call_fail(call, YW_EUNAVAIL, DB " is busy");
}

/* Gives w's connection back; rc (a finance.c code, w->msg its message) answered when it
 * is a failure. Returns rc's status code, 0 on success. */
static int write_end(yw_rpc_call *call, finance_ctx *ctx, fin_write *w, int rc) {
  yw_pg_pool_release(ctx->pool, w->conn);
  w->conn = NULL;
  return rc != 0 ? fin_fail(call, rc, w->msg) : 0;
}

/* The exception named s ("123"): 0 with *id, or NOT_FOUND answered. */
static int exception_id(yw_rpc_call *call, const char *s, int64_t *id) {
  *id = id_parse(s);
  return *id != 0 ? 0 : yw_rpc_call_fail(call, YW_ENOTFOUND, "no such exception");
}

/* ---- ImportStatement ------------------------------------------------------------------ */

static int import_statement(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__ImportStatementRequest *r = (const void *)reqm;
  fin_write w;
  int rc = write_caller(call, ctx, "importing a statement", &w);
  if (rc != 0) return rc;
  const uint8_t *csv = r->csv.data;
  size_t len = r->csv.len;
  char *fetched = NULL;
  if (len == 0 && r->upload_content_type[0] != '\0')
    return yw_rpc_call_fail(call, YW_EINVAL, "the uploaded statement file is empty");
  /* the channel's merchant number is what every row must say: a configured channel only */
  const pay_channel *ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, r->channel) : NULL;
  if (ch == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "channel is not a configured channel");
  fin_import_opts opts = {.source = "upload", .mchid = pay_channel_mchid(ch), .force = r->force,
                          .reason = r->reason};
  if (len == 0) {
    char code[PAY_CODE_MAX];
    rc = pay_channel_statement(ch, r->date, ctx->channel_timeout_ms, &fetched, &len, code);
    if (rc == YW_ENOTFOUND)
      return yw_rpc_call_fail(call, YW_ENOTFOUND, "the channel has no statement for that date");
    if (rc != 0) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the channel did not give its statement");
    csv = (const uint8_t *)fetched;
    opts.source = "api";
  }
  rc = write_db(call, ctx, &w);
  if (rc != 0) {
    free(fetched);
    return rc;
  }
  fin_statement st;
  rc = fin_statement_import(w.conn, r->channel, r->date, csv, len, &opts, w.c.subject, &w.ac, &st,
                            w.msg);
  free(fetched);
  PGresult *res = NULL;
  if (rc == 0) {
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, st.id);
    const char *p[1] = {id};
    yw_pg_error err;
    rc = yw_pg_query_read(w.conn,
                          "SELECT id::text, channel, bill_date::text, sha256, source, row_count, "
                          "pay_total_fen, refund_total_fen, fee_total_fen, imported_by, "
                          "extract(epoch FROM imported_at)::bigint "
                          "FROM payment.statements WHERE id = $1::bigint",
                          1, p, &res, &err);
    if (rc != 0) snprintf(w.msg, sizeof w.msg, "%.200s", err.message);
  }
  rc = write_end(call, ctx, &w, rc);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Statement *s = yw_arena_alloc(a, sizeof *s);
  if (s == NULL) {
    PQclear(res);
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  }
  yiwang__payment__v1__statement__init(s);
  s->id = yw_col_str(a, res, 0, 0);
  s->channel = yw_col_str(a, res, 0, 1);
  s->date = yw_col_str(a, res, 0, 2);
  s->sha256 = yw_col_str(a, res, 0, 3);
  s->source = yw_col_str(a, res, 0, 4);
  s->row_count = (int32_t)yw_col_ll(res, 0, 5);
  s->pay_total_fen = yw_col_ll(res, 0, 6);
  s->refund_total_fen = yw_col_ll(res, 0, 7);
  s->fee_total_fen = yw_col_ll(res, 0, 8);
  s->imported_by = yw_col_str(a, res, 0, 9);
  s->imported_at = ts(a, yw_col_ll(res, 0, 10));
  s->reused = st.reused;
  char sup[24] = "";
  if (st.superseded_id != 0) snprintf(sup, sizeof sup, "%" PRId64, st.superseded_id);
  s->superseded_id = yw_arena_strndup(a, sup, (size_t)-1);
  PQclear(res);
  if (s->id == NULL || s->channel == NULL || s->date == NULL || s->sha256 == NULL ||
      s->source == NULL || s->imported_by == NULL || s->superseded_id == NULL)
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &s->base;
  return 0;
}

/* ---- GetReconciliation (and RunReconciliation's answer) ------------------------------ */

/* The cursor of a results page: "<kind>|<key>|<dup>". */
static int answer_reconciliation(yw_rpc_call *call, finance_ctx *ctx, const char *channel,
                                 const char *date, const char *cls, int32_t page_size,
                                 const char *page_token, ProtobufCMessage **out) {
  if (cls[0] != '\0' && pay_recon_class_parse(cls) < 0)
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "class must be MATCHED, AMOUNT_MISMATCH, CHANNEL_ONLY, PLATFORM_ONLY or "
                            "DEFERRED");
  const char *filters[3] = {channel, date, cls};
  yw_page page;
  int rc = yw_page_begin(call, page_size, page_token, 100, 500, filters, 3, &page);
  if (rc != 0) return rc;
  char ckind[8] = "", ckey[80] = "", cdup[12] = "-1";
  if (page.has_cursor) {
    const char *b1 = strchr(page.cursor, '|'), *b2 = b1 != NULL ? strrchr(page.cursor, '|') : NULL;
    if (b1 == NULL || b2 == b1 || (size_t)(b1 - page.cursor) >= sizeof ckind ||
        (size_t)(b2 - b1 - 1) >= sizeof ckey || strlen(b2 + 1) >= sizeof cdup ||
        (id_parse(b2 + 1) == 0 && strcmp(b2 + 1, "0") != 0))
      return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
    memcpy(ckind, page.cursor, (size_t)(b1 - page.cursor));
    memcpy(ckey, b1 + 1, (size_t)(b2 - b1 - 1));
    snprintf(cdup, sizeof cdup, "%s", b2 + 1);
  }
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, DB " is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *st = NULL, *sum = NULL, *rows = NULL;
  const char *p2[2] = {channel, date};
  rc = yw_pg_query_read(conn,
                        "SELECT s.id::text, extract(epoch FROM r.first_run_at)::bigint, "
                        "(SELECT count(*) FROM payment.recon_exceptions e WHERE e.statement_id = s.id "
                        " AND e.status IN ('OPEN', 'PROPOSED')), "
                        "(SELECT COALESCE(sum(p.amount_fen), 0) FROM payment.journal j JOIN "
                        " payment.postings p ON p.journal_id = j.id WHERE j.kind = 'settle' "
                        " AND j.channel = s.channel AND p.account = 'clearing_bank' "
                        " AND j.ref IN (SELECT s.channel || ':' || s.id || ':run:' || x.run FROM "
                        " payment.recon_results x WHERE x.statement_id = s.id AND x.class = 'MATCHED' "
                        " GROUP BY x.run)) "
                        "FROM payment.statements s JOIN payment.recon_runs r ON r.statement_id = s.id "
                        "WHERE s.channel = $1 AND s.bill_date = $2::date AND s.superseded_by IS NULL",
                        2, p2, &st, &err);
  if (rc == 0 && PQntuples(st) != 1) {
    PQclear(st);
    yw_pg_pool_release(ctx->pool, conn);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "that day of that channel has not been reconciled");
  }
  const char *sid = rc == 0 ? PQgetvalue(st, 0, 0) : "";
  const char *p1[1] = {sid};
  if (rc == 0)
    rc = yw_pg_query_read(conn,
                          "SELECT class, count(*), COALESCE(sum(channel_fen), 0), "
                          "COALESCE(sum(platform_fen), 0), COALESCE(sum(fee_fen), 0) "
                          "FROM payment.recon_results WHERE statement_id = $1::bigint GROUP BY class",
                          1, p1, &sum, &err);
  char limit[12];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *pr[6] = {sid, cls, ckind, ckey, cdup, limit};
  if (rc == 0)
    rc = yw_pg_query_read(conn,
                          "SELECT r.kind, r.key, r.out_trade_no, r.class, COALESCE(r.channel_fen, 0), "
                          "COALESCE(r.platform_fen, 0), r.fee_fen, "
                          "extract(epoch FROM r.success_time)::bigint, COALESCE(e.id::text, ''), "
                          "r.carried, COALESCE(r.channel_line, 0), r.dup "
                          "FROM payment.recon_results r LEFT JOIN payment.recon_exceptions e "
                          "ON e.statement_id = r.statement_id AND e.kind = r.kind AND e.key = r.key "
                          "AND e.dup = r.dup "
                          "WHERE r.statement_id = $1::bigint AND ($2 = '' OR r.class = $2) "
                          "AND (r.kind, r.key, r.dup) > ($3, $4, $5::int) "
                          "ORDER BY r.kind, r.key, r.dup LIMIT $6::int",
                          6, pr, &rows, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) {
    PQclear(st);
    PQclear(sum);
    PQclear(rows);
    return yw_service_db_fail(call, rc, &err);
  }
  yw_arena *a = yw_rpc_call_arena(call);
  Reconciliation *rec = yw_arena_alloc(a, sizeof *rec);
  int n = PQntuples(rows), more = n > page.size;
  if (more) n = page.size;
  if (rec != NULL) {
    yiwang__payment__v1__reconciliation__init(rec);
    rec->channel = yw_arena_strndup(a, channel, (size_t)-1);
    rec->date = yw_arena_strndup(a, date, (size_t)-1);
    rec->statement_id = yw_col_str(a, st, 0, 0);
    rec->run_at = ts(a, yw_col_ll(st, 0, 1));
    rec->open_exceptions = (int32_t)yw_col_ll(st, 0, 2);
    rec->settled_fen = yw_col_ll(st, 0, 3);
    rec->n_classes = PAY_RECON_CLASSES;
    rec->classes = yw_arena_calloc(a, PAY_RECON_CLASSES, sizeof *rec->classes);
    rec->n_results = (size_t)n;
    rec->results = yw_arena_calloc(a, (size_t)n + 1, sizeof *rec->results);
    rec->next_page_token = (char *)"";
  }
  int ok = rec != NULL && rec->classes != NULL && rec->results != NULL;
  for (int c = 0; ok && c < PAY_RECON_CLASSES; c++) {
    Yiwang__Payment__V1__ClassSummary *cs = yw_arena_alloc(a, sizeof *cs);
    if (cs == NULL) {
      ok = 0;
      break;
    }
    yiwang__payment__v1__class_summary__init(cs);
    cs->class_ = (char *)pay_recon_class_name((pay_recon_class)c);
    for (int i = 0; i < PQntuples(sum); i++)
      if (strcmp(PQgetvalue(sum, i, 0), cs->class_) == 0) {
        cs->count = yw_col_ll(sum, i, 1);
        cs->channel_fen = yw_col_ll(sum, i, 2);
        cs->platform_fen = yw_col_ll(sum, i, 3);
        cs->fee_fen = yw_col_ll(sum, i, 4);
      }
    rec->classes[c] = cs;
  }
  for (int i = 0; ok && i < n; i++) {
    Yiwang__Payment__V1__ReconResult *x = yw_arena_alloc(a, sizeof *x);
    if (x == NULL) {
      ok = 0;
      break;
    }
    yiwang__payment__v1__recon_result__init(x);
    x->kind = yw_col_str(a, rows, i, 0);
    x->key = yw_col_str(a, rows, i, 1);
    x->out_trade_no = yw_col_str(a, rows, i, 2);
    x->class_ = yw_col_str(a, rows, i, 3);
    x->channel_fen = yw_col_ll(rows, i, 4);
    x->platform_fen = yw_col_ll(rows, i, 5);
    x->fee_fen = yw_col_ll(rows, i, 6);
    x->success_time = ts(a, yw_col_ll(rows, i, 7));
    x->exception_id = yw_col_str(a, rows, i, 8);
    x->carried = yw_col_bool(rows, i, 9);
    x->line = (int32_t)yw_col_ll(rows, i, 10);
    ok = x->kind != NULL && x->key != NULL && x->out_trade_no != NULL && x->class_ != NULL &&
         x->exception_id != NULL;
    rec->results[i] = x;
  }
  if (ok && more) {
    char cursor[YW_PAGE_CURSOR_MAX + 1];
    snprintf(cursor, sizeof cursor, "%s|%s|%s", PQgetvalue(rows, n - 1, 0),
             PQgetvalue(rows, n - 1, 1), PQgetvalue(rows, n - 1, 11));
    rec->next_page_token = yw_page_token(a, &page, cursor);
    ok = rec->next_page_token != NULL;
  }
  ok = ok && rec->channel != NULL && rec->date != NULL && rec->statement_id != NULL;
  PQclear(st);
  PQclear(sum);
  PQclear(rows);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &rec->base;
  return 0;
}

static int get_reconciliation(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__GetReconciliationRequest *r = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, READERS, "reading a reconciliation", &c);
  if (rc != 0) return rc;
  return answer_reconciliation(call, ctx, r->channel, r->date, r->class_, r->page_size,
                               r->page_token, out);
}

/* The alerts of the automatic pass: a payment the platform booked that the channel does
 * not have (reversed), or has but left off its statement; the channel not answering. */
static void auto_alerts(const char *channel, const char *date, const fin_auto *au) {
  for (size_t i = 0; i < au->n_done; i++) {
    const fin_auto_done *d = &au->done[i];
    if (strcmp(d->action, "REVERSE") == 0)
      yw_log(YW_LOG_WARN, "payment.recon_platform_only", NULL,
             "channel %s, %s: %s booked %lld fen the channel does not have (it says %s): "
             "reversed, the order EXCEPTION, exception %lld",
             channel, date, d->out_trade_no, (long long)d->amount_fen, d->channel_says,
             (long long)d->exception_id);
    else if (strcmp(d->action, "CHANNEL_HAS") == 0)
      yw_log(YW_LOG_WARN, "payment.recon_platform_only", NULL,
             "channel %s, %s: %s is paid at the channel (%s) but not on its statement: "
             "exception %lld left open",
             channel, date, d->out_trade_no, d->channel_says, (long long)d->exception_id);
  }
  if (au->unanswered)
    yw_log(YW_LOG_WARN, "payment.recon_channel_silent", NULL,
           "channel %s, %s: the channel did not answer; %d exception(s) left for the next run",
           channel, date, au->left);
}

/* The connections of the passes that ask a channel: one per step from the pool, never
 * held while the channel is asked; and call's time (less a margin to answer) as the
 * bound of their questions: what they cannot ask waits for the next run. */
static fin_db pass_db(finance_ctx *ctx, yw_rpc_call *call) {
  fin_db db = {.pool = ctx->pool, .wait_ms = ctx->db_wait_ms};
  int64_t left = yw_rpc_call_ms_left(call);
  if (left != INT64_MAX) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    db.until_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (left > 500 ? left - 500 : 0);
  }
  return db;
}

/* Asks the channel (channel NULL: each) for the refunds approved and not yet answered,
 * with connections of its own (w's is given back before), within the call's time
 * (pass_db). A failure is logged, the next call goes on. */
static void send_refunds(finance_ctx *ctx, yw_rpc_call *call, fin_write *w, const char *channel) {
  fin_refunds fr;
  char rmsg[FIN_MSG_MAX];
  fin_db db = pass_db(ctx, call);
  if (fin_refunds_send(&db, ctx->channels, channel, ctx->channel_timeout_ms, &w->ac, &fr, rmsg) != 0)
    yw_log(YW_LOG_WARN, "payment.recon_refund_failed", NULL,
           "the refunds to the payers stopped (%s); the next run goes on", rmsg);
  else if (fr.failed > 0 || fr.unanswered)
    yw_log(YW_LOG_WARN, "payment.recon_refund_open", NULL,
           "refunds to the payers: %d refused by the channel (FAILED, in refund_payable), %d left "
           "for the next run",
           fr.failed, fr.left);
}

static int run_reconciliation(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__RunReconciliationRequest *r = (const void *)reqm;
  fin_write w;
  fin_run run;
  int rc = write_caller(call, ctx, "running a reconciliation", &w);
  if (rc == 0) rc = write_db(call, ctx, &w);
  if (rc != 0) return rc;
  rc = fin_recon_run(w.conn, r->channel, r->date, ctx->cutoff_s, w.c.subject, &w.ac, &run, w.msg);
  /* the run's connection goes back before the channel is asked (up to FIN_AUTO_MAX
   * questions): the automatic part takes one per action */
  rc = write_end(call, ctx, &w, rc);
  if (rc != 0) return rc;
  fin_auto au;
  memset(&au, 0, sizeof au);
  const pay_channel *ch = ctx->channels != NULL ? pay_channels_find(ctx->channels, r->channel) : NULL;
  char amsg[FIN_MSG_MAX];
  fin_db db = pass_db(ctx, call);
  if (fin_recon_auto(&db, r->channel, r->date, ch, ctx->channel_timeout_ms, &w.ac, &au, amsg) != 0)
    yw_log(YW_LOG_WARN, "payment.recon_auto_failed", NULL,
           "channel %s, %s: the automatic pass stopped (%s); the next run goes on", r->channel,
           r->date, amsg);
  send_refunds(ctx, call, &w, r->channel);
  auto_alerts(r->channel, r->date, &au);
  /* the alert of a short day (短款): money the platform booked that the channel does not
   * have, past the cut-off, may come from a forged notification; said once, on the run
   * that first stored the day's results */
  if (run.new_results > 0 && run.count[PAY_RECON_PLATFORM_ONLY] > 0)
    yw_log(YW_LOG_WARN, "payment.recon_platform_only", NULL,
           "channel %s, %s: %lld platform-only result(s) past the cut-off, exceptions opened",
           r->channel, r->date, (long long)run.count[PAY_RECON_PLATFORM_ONLY]);
  return answer_reconciliation(call, ctx, r->channel, r->date, "", 0, "", out);
}

/* ---- exceptions ----------------------------------------------------------------------- */

#define EXC_COLS                                                                              \
  "SELECT id::text, channel, bill_date::text, class, kind, key, out_trade_no, "              \
  "COALESCE(channel_fen, 0), COALESCE(platform_fen, 0), status, COALESCE(action, ''), note, " \
  "COALESCE(proposed_by, ''), extract(epoch FROM proposed_at)::bigint, "                     \
  "COALESCE(decided_by, ''), extract(epoch FROM decided_at)::bigint, "                       \
  "extract(epoch FROM opened_at)::bigint, "                                                  \
  "extract(epoch FROM COALESCE(decided_at, now()) - opened_at)::bigint, "                    \
  "COALESCE(journal_ref, ''), version FROM payment.recon_exceptions "

static ReconException *exc_from_row(yw_arena *a, const PGresult *res, int i) {
  ReconException *e = yw_arena_alloc(a, sizeof *e);
  if (e == NULL) return NULL;
  yiwang__payment__v1__recon_exception__init(e);
  char **s[] = {&e->id, &e->channel, &e->date, &e->class_, &e->kind, &e->key, &e->out_trade_no};
  for (int c = 0; c < 7; c++)
    if ((*s[c] = yw_col_str(a, res, i, c)) == NULL) return NULL;
  e->channel_fen = yw_col_ll(res, i, 7);
  e->platform_fen = yw_col_ll(res, i, 8);
  e->status = yw_col_str(a, res, i, 9);
  e->action = yw_col_str(a, res, i, 10);
  e->note = yw_col_str(a, res, i, 11);
  e->proposed_by = yw_col_str(a, res, i, 12);
  e->proposed_at = ts(a, yw_col_ll(res, i, 13));
  e->decided_by = yw_col_str(a, res, i, 14);
  e->decided_at = ts(a, yw_col_ll(res, i, 15));
  e->opened_at = ts(a, yw_col_ll(res, i, 16));
  e->age_seconds = yw_col_ll(res, i, 17);
  e->journal_ref = yw_col_str(a, res, i, 18);
  e->version = (int32_t)yw_col_ll(res, i, 19);
  if (e->status == NULL || e->action == NULL || e->note == NULL || e->proposed_by == NULL ||
      e->decided_by == NULL || e->journal_ref == NULL)
    return NULL;
  return e;
}

static int list_exceptions(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__ListExceptionsRequest *r = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, READERS, "reading exceptions", &c);
  if (rc != 0) return rc;
  const char *filters[2] = {r->channel, r->include_resolved ? "all" : "open"};
  yw_page page;
  rc = yw_page_begin_id(call, r->page_size, r->page_token, 100, 500, filters, 2, &page);
  if (rc != 0) return rc;
  char limit[12];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[4] = {r->channel, r->include_resolved ? "t" : "f",
                      page.has_cursor ? page.cursor : "0", limit};
  PGresult *res = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        EXC_COLS "WHERE ($1 = '' OR channel = $1) AND ($2::boolean OR status IN "
                                 "('OPEN', 'PROPOSED')) AND id > $3::bigint ORDER BY id LIMIT $4::int",
                        4, p, &res);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__ListExceptionsResponse *l = yw_arena_alloc(a, sizeof *l);
  int n = PQntuples(res), more = n > page.size;
  if (more) n = page.size;
  int ok = l != NULL;
  if (ok) {
    yiwang__payment__v1__list_exceptions_response__init(l);
    l->n_exceptions = (size_t)n;
    l->exceptions = yw_arena_calloc(a, (size_t)n + 1, sizeof *l->exceptions);
    ok = l->exceptions != NULL;
  }
  for (int i = 0; ok && i < n; i++) ok = (l->exceptions[i] = exc_from_row(a, res, i)) != NULL;
  if (ok && more) ok = (l->next_page_token = yw_page_token(a, &page, PQgetvalue(res, n - 1, 0))) != NULL;
  PQclear(res);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &l->base;
  return 0;
}

/* Answers the exception id as it now is. */
static int answer_exception(yw_rpc_call *call, finance_ctx *ctx, int64_t id, ProtobufCMessage **out) {
  char sid[24];
  snprintf(sid, sizeof sid, "%" PRId64, id);
  const char *p[1] = {sid};
  PGresult *res = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, EXC_COLS "WHERE id = $1::bigint", 1,
                            p, &res);
  if (rc != 0) return rc;
  ReconException *e = PQntuples(res) == 1 ? exc_from_row(yw_rpc_call_arena(call), res, 0) : NULL;
  PQclear(res);
  if (e == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &e->base;
  return 0;
}

static int propose_resolution(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__ProposeResolutionRequest *r = (const void *)reqm;
  fin_write w;
  int64_t id = 0;
  int rc = write_caller(call, ctx, "proposing a resolution", &w);
  if (rc == 0) rc = exception_id(call, r->id, &id);
  if (rc == 0) rc = write_db(call, ctx, &w);
  if (rc != 0) return rc;
  rc = fin_exception_propose(w.conn, id, r->action, r->note, w.c.subject, &w.ac, w.msg);
  rc = write_end(call, ctx, &w, rc);
  return rc != 0 ? rc : answer_exception(call, ctx, id, out);
}

/* Asks the channel of exception id about its out_trade_no, outside any transaction and
 * within the channel timeout, for a BOOK's approval (fin_exception_decide compares the
 * answer). An order the channel does not have is answered as NOTPAY; no answer is
 * UNAVAILABLE (status set, its code returned). */
static int channel_query(yw_rpc_call *call, finance_ctx *ctx, int64_t id, pay_query_res *said) {
  char sid[24];
  snprintf(sid, sizeof sid, "%" PRId64, id);
  const char *p[1] = {sid};
  PGresult *res = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                            "SELECT channel, out_trade_no FROM payment.recon_exceptions "
                            "WHERE id = $1::bigint",
                            1, p, &res);
  if (rc != 0) return rc;
  if (PQntuples(res) != 1) {
    PQclear(res);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such exception");
  }
  const pay_channel *ch =
      ctx->channels != NULL ? pay_channels_find(ctx->channels, PQgetvalue(res, 0, 0)) : NULL;
  char otn[PAY_OUT_NO_MAX + 1];
  snprintf(otn, sizeof otn, "%s", PQgetvalue(res, 0, 1));
  PQclear(res);
  if (ch == NULL)
    return yw_rpc_call_fail(call, YW_EPRECOND, "the exception's channel is not configured: BOOK "
                                                "needs its answer");
  rc = fin_channel_ask(ch, otn, ctx->channel_timeout_ms, said);
  if (rc == YW_EINVAL) memset(said, 0, sizeof *said); /* a number it refuses: NOTPAY, no BOOK */
  else if (rc != 0) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the channel did not answer the query");
  return 0;
}

static int decide(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                  finance_ctx *ctx, int approve) {
  const Yiwang__Payment__V1__DecideResolutionRequest *r = (const void *)reqm;
  fin_write w;
  int64_t id = 0;
  int rc = write_caller(call, ctx, "deciding a resolution", &w);
  if (rc == 0) rc = exception_id(call, r->id, &id);
  if (rc != 0) return rc;
  pay_query_res said;
  int asked = approve && strcmp(r->action, "BOOK") == 0; /* the channel's word, before the tx */
  if (asked) rc = channel_query(call, ctx, id, &said);
  if (rc == 0) rc = write_db(call, ctx, &w);
  if (rc != 0) return rc;
  rc = fin_exception_decide(w.conn, id, approve, r->action, r->version, r->note, w.c.subject, &w.ac,
                            asked ? &said : NULL, w.msg);
  rc = write_end(call, ctx, &w, rc);
  if (rc != 0) return rc;
  /* an approved refund is asked of the channel at once (and by every run until answered) */
  if (approve && strcmp(r->action, "REFUND") == 0) send_refunds(ctx, call, &w, NULL);
  return answer_exception(call, ctx, id, out);
}

static int approve_resolution(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  return decide(call, reqm, out, data, 1);
}

static int reject_resolution(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                             void *data) {
  return decide(call, reqm, out, data, 0);
}

/* ---- orders in EXCEPTION ---------------------------------------------------------------- */

/* An order in EXCEPTION as finance's queue shows it, its reason the order's (or, when it
 * has none, that of its last move to EXCEPTION); the cursor is the event id of that move
 * (column 19), so the oldest exception comes first. */
#define ORDER_QUEUE_SQL                                                                           \
  "SELECT o.id::text, o.notice_code, o.status, COALESCE(NULLIF(o.exception_reason, ''), ev.reason), " \
  "o.amount_fen, o.refunded_fen, "                                                               \
  "COALESCE(o.paid_channel, co.channel, ''), COALESCE(o.paid_out_trade_no, co.out_trade_no, ''), " \
  "o.payee_department, o.item_code, o.item_name, o.payer_name_enc, "                            \
  "extract(epoch FROM o.paid_at)::bigint, extract(epoch FROM ev.at)::bigint, "                 \
  "extract(epoch FROM now() - ev.at)::bigint, "                                                 \
  "EXISTS (SELECT 1 FROM payment.journal j WHERE j.order_id = o.id AND j.kind = 'pay'), "      \
  "EXISTS (SELECT 1 FROM payment.journal j WHERE j.order_id = o.id AND j.kind = 'pay_reversal'), " \
  "EXISTS (SELECT 1 FROM payment.refunds r WHERE r.order_id = o.id AND r.status = 'PENDING'), " \
  "'', ev.id "                                                                                   \
  "FROM payment.orders o "                                                                       \
  "JOIN LATERAL (SELECT e.id, e.at, e.reason FROM payment.order_events e WHERE e.order_id = o.id "        \
  " AND e.to_status = 'EXCEPTION' ORDER BY e.id DESC LIMIT 1) ev ON true "                      \
  "LEFT JOIN LATERAL (SELECT c.channel, c.out_trade_no FROM payment.channel_orders c "          \
  " WHERE c.order_id = o.id ORDER BY c.attempt DESC LIMIT 1) co ON true "                       \
  "WHERE o.status = 'EXCEPTION' AND ev.id > $1::bigint ORDER BY ev.id LIMIT $2::int"

static Yiwang__Payment__V1__FinanceOrder *queue_order(finance_ctx *ctx, yw_arena *a,
                                                      const PGresult *res, int i) {
  Yiwang__Payment__V1__FinanceOrder *o = yw_arena_alloc(a, sizeof *o);
  if (o == NULL) return NULL;
  yiwang__payment__v1__finance_order__init(o);
  char **s[] = {&o->id, &o->notice_code, &o->status, &o->reason};
  for (int c = 0; c < 4; c++)
    if ((*s[c] = yw_col_str(a, res, i, c)) == NULL) return NULL;
  o->amount_fen = yw_col_ll(res, i, 4);
  o->refunded_fen = yw_col_ll(res, i, 5);
  o->channel = yw_col_str(a, res, i, 6);
  o->out_trade_no = yw_col_str(a, res, i, 7);
  o->payee_department = yw_col_str(a, res, i, 8);
  o->item_code = yw_col_str(a, res, i, 9);
  o->item_name = yw_col_str(a, res, i, 10);
  char name[PAY_PAYER_NAME_MAX * 2 + 8] = "", masked[sizeof name];
  if (ctx->data_key == NULL ||
      yw_decrypt(ctx->data_key, PQgetvalue(res, i, 11), o->notice_code, name, sizeof name) != 0)
    snprintf(name, sizeof name, "?");
  yw_mask_name(name, masked, sizeof masked);
  o->payer_name = yw_arena_strndup(a, masked, strlen(masked));
  o->paid_at = ts(a, yw_col_ll(res, i, 12));
  o->exception_at = ts(a, yw_col_ll(res, i, 13));
  o->age_seconds = yw_col_ll(res, i, 14);
  o->reversed = yw_col_bool(res, i, 16);
  o->pay_booked = yw_col_bool(res, i, 15) && !o->reversed;
  o->refund_pending = yw_col_bool(res, i, 17);
  o->refundable_fen = o->pay_booked ? o->amount_fen - o->refunded_fen : 0;
  /* finance's one action on it: refund a booked payment (RefundOrder), else nothing */
  o->action = o->refundable_fen > 0 && !o->refund_pending ? (char *)"REFUND" : (char *)"";
  if (o->channel == NULL || o->out_trade_no == NULL || o->payee_department == NULL ||
      o->item_code == NULL || o->item_name == NULL || o->payer_name == NULL)
    return NULL;
  return o;
}

static int list_orders(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__ListOrdersRequest *r = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, READERS, "reading finance's orders", &c);
  if (rc != 0) return rc;
  if (r->status[0] != '\0' && strcmp(r->status, "EXCEPTION") != 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "status must be EXCEPTION");
  const char *filters[1] = {"EXCEPTION"};
  yw_page page;
  rc = yw_page_begin_id(call, r->page_size, r->page_token, 100, 500, filters, 1, &page);
  if (rc != 0) return rc;
  char limit[12];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[2] = {page.has_cursor ? page.cursor : "0", limit};
  PGresult *res = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, ORDER_QUEUE_SQL, 2, p, &res);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__ListOrdersResponse *l = yw_arena_alloc(a, sizeof *l);
  int n = PQntuples(res), more = n > page.size;
  if (more) n = page.size;
  int ok = l != NULL;
  if (ok) {
    yiwang__payment__v1__list_orders_response__init(l);
    l->n_orders = (size_t)n;
    l->orders = yw_arena_calloc(a, (size_t)n + 1, sizeof *l->orders);
    ok = l->orders != NULL;
  }
  for (int i = 0; ok && i < n; i++) ok = (l->orders[i] = queue_order(ctx, a, res, i)) != NULL;
  if (ok && more) ok = (l->next_page_token = yw_page_token(a, &page, PQgetvalue(res, n - 1, 19))) != NULL;
  PQclear(res);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &l->base;
  return 0;
}

/* ---- refunds to the payer ---------------------------------------------------------------- */

#define PAYER_REFUND_COLS                                                                       \
  "SELECT out_refund_no, exception_id::text, channel, out_trade_no, amount_fen, status, "      \
  "last_error, attempts, extract(epoch FROM created_at)::bigint, "                             \
  "extract(epoch FROM answered_at)::bigint, extract(epoch FROM now() - created_at)::bigint, "  \
  "COALESCE(action, ''), proposed_by IS NOT NULL AND decided_at IS NULL, note, "              \
  "COALESCE(proposed_by, ''), extract(epoch FROM proposed_at)::bigint, "                       \
  "COALESCE(decided_by, ''), extract(epoch FROM decided_at)::bigint, version "                 \
  "FROM payment.recon_refunds "

static Yiwang__Payment__V1__PayerRefund *payer_refund_from_row(yw_arena *a, const PGresult *res, int i) {
  Yiwang__Payment__V1__PayerRefund *r = yw_arena_alloc(a, sizeof *r);
  if (r == NULL) return NULL;
  yiwang__payment__v1__payer_refund__init(r);
  char **s[] = {&r->out_refund_no, &r->exception_id, &r->channel, &r->out_trade_no};
  for (int c = 0; c < 4; c++)
    if ((*s[c] = yw_col_str(a, res, i, c)) == NULL) return NULL;
  r->amount_fen = yw_col_ll(res, i, 4);
  r->status = yw_col_str(a, res, i, 5);
  r->reason = yw_col_str(a, res, i, 6);
  r->attempts = (int32_t)yw_col_ll(res, i, 7);
  r->created_at = ts(a, yw_col_ll(res, i, 8));
  r->answered_at = ts(a, yw_col_ll(res, i, 9));
  r->age_seconds = yw_col_ll(res, i, 10);
  r->action = yw_col_str(a, res, i, 11);
  r->proposed = yw_col_bool(res, i, 12);
  r->note = yw_col_str(a, res, i, 13);
  r->proposed_by = yw_col_str(a, res, i, 14);
  r->proposed_at = ts(a, yw_col_ll(res, i, 15));
  r->decided_by = yw_col_str(a, res, i, 16);
  r->decided_at = ts(a, yw_col_ll(res, i, 17));
  r->version = (int32_t)yw_col_ll(res, i, 18);
  if (r->status == NULL || r->reason == NULL || r->action == NULL || r->note == NULL ||
      r->proposed_by == NULL || r->decided_by == NULL)
    return NULL;
  return r;
}

static int list_payer_refunds(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__ListPayerRefundsRequest *r = (const void *)reqm;
  yw_caller c;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, READERS, "reading refunds to payers", &c);
  if (rc != 0) return rc;
  static const char *const statuses[] = {"", "PENDING", "FAILED", "SUCCESS", "WRITTEN_OFF"};
  int known = 0;
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) known |= strcmp(r->status, statuses[i]) == 0;
  if (!known)
    return yw_rpc_call_fail(call, YW_EINVAL, "status must be PENDING, FAILED, SUCCESS or WRITTEN_OFF");
  const char *filters[2] = {r->status, r->channel};
  yw_page page;
  rc = yw_page_begin(call, r->page_size, r->page_token, 100, 500, filters, 2, &page);
  if (rc != 0) return rc;
  char limit[12];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[4] = {r->status, r->channel, page.has_cursor ? page.cursor : "", limit};
  PGresult *res = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        PAYER_REFUND_COLS "WHERE (CASE WHEN $1 = '' THEN status IN ('PENDING', 'FAILED') "
                                          "ELSE status = $1 END) AND ($2 = '' OR channel = $2) "
                                          "AND out_refund_no > $3 ORDER BY out_refund_no LIMIT $4::int",
                        4, p, &res);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__ListPayerRefundsResponse *l = yw_arena_alloc(a, sizeof *l);
  int n = PQntuples(res), more = n > page.size;
  if (more) n = page.size;
  int ok = l != NULL;
  if (ok) {
    yiwang__payment__v1__list_payer_refunds_response__init(l);
    l->n_refunds = (size_t)n;
    l->refunds = yw_arena_calloc(a, (size_t)n + 1, sizeof *l->refunds);
    ok = l->refunds != NULL;
  }
  for (int i = 0; ok && i < n; i++) ok = (l->refunds[i] = payer_refund_from_row(a, res, i)) != NULL;
  if (ok && more) ok = (l->next_page_token = yw_page_token(a, &page, PQgetvalue(res, n - 1, 0))) != NULL;
  PQclear(res);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &l->base;
  return 0;
}

/* Answers the refund to the payer orn as it now is. */
static int answer_payer_refund(yw_rpc_call *call, finance_ctx *ctx, const char *orn, ProtobufCMessage **out) {
  const char *p[1] = {orn};
  PGresult *res = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, PAYER_REFUND_COLS "WHERE out_refund_no = $1",
                            1, p, &res);
  if (rc != 0) return rc;
  Yiwang__Payment__V1__PayerRefund *r =
      PQntuples(res) == 1 ? payer_refund_from_row(yw_rpc_call_arena(call), res, 0) : NULL;
  PQclear(res);
  if (r == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &r->base;
  return 0;
}

static int propose_payer_refund(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                                void *data) {
  finance_ctx *ctx = data;
  const Yiwang__Payment__V1__PayerRefundProposal *r = (const void *)reqm;
  fin_write w;
  int rc = write_caller(call, ctx, "proposing what to do with a refund", &w);
  if (rc == 0) rc = write_db(call, ctx, &w);
  if (rc != 0) return rc;
  rc = fin_payer_refund_propose(w.conn, r->out_refund_no, r->action, r->note, w.c.subject, &w.ac, w.msg);
  rc = write_end(call, ctx, &w, rc);
  return rc != 0 ? rc : answer_payer_refund(call, ctx, r->out_refund_no, out);
}

static int decide_payer_refund(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                               finance_ctx *ctx, int approve) {
  const Yiwang__Payment__V1__PayerRefundDecision *r = (const void *)reqm;
  fin_write w;
  int rc = write_caller(call, ctx, "deciding what to do with a refund", &w);
  if (rc == 0) rc = write_db(call, ctx, &w);
  if (rc != 0) return rc;
  rc = fin_payer_refund_decide(w.conn, r->out_refund_no, approve, r->action, r->version, r->note,
                               w.c.subject, &w.ac, w.msg);
  rc = write_end(call, ctx, &w, rc);
  if (rc != 0) return rc;
  /* a retry is asked of the channel at once (and by every run until answered) */
  if (approve && strcmp(r->action, "RETRY") == 0) send_refunds(ctx, call, &w, NULL);
  return answer_payer_refund(call, ctx, r->out_refund_no, out);
}

static int approve_payer_refund(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                                void *data) {
  return decide_payer_refund(call, reqm, out, data, 1);
}

static int reject_payer_refund(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                               void *data) {
  return decide_payer_refund(call, reqm, out, data, 0);
}

/* ---- reports --------------------------------------------------------------------------- */

/* Reads the report of date for a finance user or an auditor. 0 with *out, or the code
 * to answer with (status set). */
static int report_read(yw_rpc_call *call, finance_ctx *ctx, const char *date, pay_report **out) {
  yw_caller c;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, READERS, "reading the daily report", &c);
  if (rc != 0) return rc;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, DB " is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  rc = pay_report_daily(conn, date, out, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_EINVAL) return yw_rpc_call_fail(call, rc, "date must be YYYY-MM-DD");
  if (rc == YW_ENOMEM) return yw_rpc_call_fail(call, rc, "out of memory");
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  return 0;
}

static int get_daily_report(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  const Yiwang__Payment__V1__GetDailyReportRequest *r = (const void *)reqm;
  pay_report *rep = NULL;
  int rc = report_read(call, data, r->date, &rep);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__DailyReport *d = yw_arena_alloc(a, sizeof *d);
  int ok = d != NULL;
  if (ok) {
    yiwang__payment__v1__daily_report__init(d);
    d->date = yw_arena_strndup(a, rep->date, (size_t)-1);
    d->n_channels = rep->n_channels;
    d->channels = yw_arena_calloc(a, rep->n_channels + 1, sizeof *d->channels);
    d->n_departments = rep->n_departments;
    d->departments = yw_arena_calloc(a, rep->n_departments + 1, sizeof *d->departments);
    d->n_remittance = rep->n_remittance;
    d->remittance = yw_arena_calloc(a, rep->n_remittance + 1, sizeof *d->remittance);
    ok = d->date != NULL && d->channels != NULL && d->departments != NULL && d->remittance != NULL;
  }
  for (size_t i = 0; ok && i < rep->n_channels; i++) {
    const pay_report_channel *x = &rep->channels[i];
    Yiwang__Payment__V1__ChannelReportLine *l = yw_arena_alloc(a, sizeof *l);
    if ((ok = l != NULL) == 0) break;
    yiwang__payment__v1__channel_report_line__init(l);
    l->channel = yw_arena_strndup(a, x->channel, (size_t)-1);
    l->pay_count = x->pay_count;
    l->pay_fen = x->pay_fen;
    l->refund_count = x->refund_count;
    l->refund_fen = x->refund_fen;
    l->fee_fen = x->fee_fen;
    l->open_exceptions = x->open_exceptions;
    l->oldest_open_age_seconds = x->oldest_open_age_s;
    l->reversal_count = x->reversal_count;
    l->reversal_fen = x->reversal_fen;
    ok = l->channel != NULL;
    d->channels[i] = l;
  }
  for (size_t i = 0; ok && i < rep->n_departments; i++) {
    const pay_report_department *x = &rep->departments[i];
    Yiwang__Payment__V1__DepartmentReportLine *l = yw_arena_alloc(a, sizeof *l);
    if ((ok = l != NULL) == 0) break;
    yiwang__payment__v1__department_report_line__init(l);
    l->department = yw_arena_strndup(a, x->department, (size_t)-1);
    l->pay_count = x->pay_count;
    l->pay_fen = x->pay_fen;
    l->refund_count = x->refund_count;
    l->refund_fen = x->refund_fen;
    l->reversal_count = x->reversal_count;
    l->reversal_fen = x->reversal_fen;
    ok = l->department != NULL;
    d->departments[i] = l;
  }
  for (size_t i = 0; ok && i < rep->n_remittance; i++) {
    const pay_report_remit *x = &rep->remittance[i];
    Yiwang__Payment__V1__RemittanceLine *l = yw_arena_alloc(a, sizeof *l);
    if ((ok = l != NULL) == 0) break;
    yiwang__payment__v1__remittance_line__init(l);
    l->department = yw_arena_strndup(a, x->department, (size_t)-1);
    l->item_code = yw_arena_strndup(a, x->item_code, (size_t)-1);
    l->amount_fen = x->amount_fen;
    ok = l->department != NULL && l->item_code != NULL;
    d->remittance[i] = l;
  }
  pay_report_free(rep);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  *out = &d->base;
  return 0;
}

static int export_daily_report(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                               void *data) {
  const Yiwang__Payment__V1__ExportDailyReportRequest *r = (const void *)reqm;
  int xlsx = strcmp(r->format, "xlsx") == 0;
  if (!xlsx && r->format[0] != '\0' && strcmp(r->format, "csv") != 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "format must be csv or xlsx");
  pay_report *rep = NULL;
  int rc = report_read(call, data, r->date, &rep);
  if (rc != 0) return rc;
  char *buf = NULL;
  size_t len = 0;
  rc = xlsx ? pay_report_xlsx(rep, "/tmp", &buf, &len) : pay_report_csv(rep, &buf, &len);
  pay_report_free(rep);
  if (rc != 0) return yw_rpc_call_fail(call, rc, "the report could not be written");
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Payment__V1__ReportFile *f = yw_arena_alloc(a, sizeof *f);
  uint8_t *copy = yw_arena_alloc(a, len + 1);
  char name[64];
  snprintf(name, sizeof name, "daily-%s.%s", r->date, xlsx ? "xlsx" : "csv");
  if (f != NULL) {
    yiwang__payment__v1__report_file__init(f);
    f->name = yw_arena_strndup(a, name, (size_t)-1);
  }
  if (f == NULL || copy == NULL || f->name == NULL) {
    free(buf);
    return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  }
  memcpy(copy, buf, len);
  free(buf);
  f->content_type = xlsx ? (char *)"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                         : (char *)"text/csv; charset=utf-8";
  f->content.data = copy;
  f->content.len = len;
  *out = &f->base;
  return 0;
}

static const yw_rpc_method methods[] = {
    {.name = "ImportStatement", .fn = import_statement},
    {.name = "RunReconciliation", .fn = run_reconciliation},
    {.name = "GetReconciliation", .fn = get_reconciliation},
    {.name = "ListExceptions", .fn = list_exceptions},
    {.name = "ProposeResolution", .fn = propose_resolution},
    {.name = "ApproveResolution", .fn = approve_resolution},
    {.name = "RejectResolution", .fn = reject_resolution},
    {.name = "ListOrders", .fn = list_orders},
    {.name = "ListPayerRefunds", .fn = list_payer_refunds},
    {.name = "ProposePayerRefund", .fn = propose_payer_refund},
    {.name = "ApprovePayerRefund", .fn = approve_payer_refund},
    {.name = "RejectPayerRefund", .fn = reject_payer_refund},
    {.name = "GetDailyReport", .fn = get_daily_report},
    {.name = "ExportDailyReport", .fn = export_daily_report},
};

void finance_service_init(yw_rpc_service *svc, finance_ctx *ctx) {
  svc->descriptor = &yiwang__payment__v1__finance_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
}
