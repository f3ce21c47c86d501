/*
 * test_recon_service.c - daily reconciliation on the real PostgreSQL with the payment
 * schema (payment/finance.c): the platform's side is what the ledger booked (pay and
 * refund journals of channel sim, as the payment path books them), the channel's side a
 * statement file.
 *
 * Proves: a statement with every kind of difference classifies each row correctly
 * (R9: matched payment and refund, amount mismatch, channel-only, platform-only, and a
 * platform row just before midnight deferred, then matched by the next day's
 * statement); re-running a day stores nothing new, books nothing and leaves the results
 * identical (R10); the same file imported again is the same statement, a file that lies
 * in its summary is refused and stores nothing, another file supersedes the day only
 * while none of its exceptions is under resolution; maker-checker: the proposer cannot
 * approve, another finance user can, an approval books new journals and an audit
 * record, a rejection reopens; an action that does not fit the class is refused; BOOK
 * books a channel-only payment of one of our orders as paid (the order PAID, one pay
 * journal) and settles it, and is refused for a number we never issued. After
 * every test ledger_check finds the ledger balanced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "finance.h"
#include "ledger.h"
#include "payment.h"
#include "statement.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_pg.h"
#include "yw_testdb.h"

/* 2026-12-01 00:00:00 Asia/Shanghai */
#define D1 1796054400LL
#define D2 (D1 + 86400)

static char dsn[512];
static yw_pg_pool *pool;
static PGconn *conn;

static int setup(void **state) {
  (void)state;
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  if (yw_pg_pool_new(dsn, 1, &pool, &err) != 0) return -1;
  conn = yw_pg_pool_acquire(pool, 5000);
  int rc = yw_pg_migrate(conn, "payment", payment_migrations, payment_migrations_count, &err);
  if (rc == 0) rc = yw_events_migrate(conn, "payment", &err); /* pay_book_paid's outbox */
  if (rc != 0) fprintf(stderr, "migrate: %s\n", err.message);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  yw_pg_pool_release(pool, conn);
  yw_pg_pool_free(pool);
  yw_testdb_drop();
  return 0;
}

/* After each test: the ledger balances (I1, I2). */
static int ledger_balanced(void **state) {
  (void)state;
  ledger_report r;
  yw_pg_error err;
  if (ledger_check(conn, &r, &err) != 0) return -1;
  if (!ledger_report_ok(&r)) fprintf(stderr, "ledger: %s\n", r.first);
  return ledger_report_ok(&r) ? 0 : -1;
}

/* Books what the payment path books when the channel says a payment succeeded (kind
 * "pay": Dr channel_receivable / Cr treasury_payable) or a refund (kind "refund": the
 * reverse), at the channel's success time. */
static void platform_books(const char *kind, const char *ref, int64_t fen, int64_t at) {
  char eff[PAY_TIME_MAX];
  pay_time_format(at, eff);
  int pay = strcmp(kind, "pay") == 0;
  ledger_posting p[2] = {{"channel_receivable:sim", pay ? fen : -fen},
                         {"treasury_payable:320700-GA:FINE01", pay ? -fen : fen}};
  ledger_entry e = {.kind = kind, .ref = ref, .channel = "sim", .effective_at = eff};
  yw_pg_error err;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(ledger_post(conn, &e, p, 2, &err), 0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
}

static int64_t fee_of(int64_t fen) { return (fen * 6 + 500) / 1000; }

static pay_stmt_row pay_row(const char *otn, int64_t fen, int64_t at) {
  pay_stmt_row r = {.time_unix = at, .mchid = "1900000001", .out_trade_no = otn,
                    .transaction_id = "4200000001", .trade_type = "NATIVE", .out_refund_no = "",
                    .kind = PAY_STMT_PAY, .order_fen = fen, .fee_fen = fee_of(fen)};
  return r;
}

static pay_stmt_row refund_row(const char *otn, const char *orn, int64_t order, int64_t fen,
                               int64_t at) {
  pay_stmt_row r = pay_row(otn, order, at);
  r.kind = PAY_STMT_REFUND;
  r.out_refund_no = orn;
  r.refund_fen = fen;
  r.fee_fen = -fee_of(fen);
  return r;
}

/* Imports rows as the statement of sim on date; returns the import's rc. */
static int import_rows(const char *date, const pay_stmt_row *rows, size_t n, const char *actor,
                       fin_statement *st, char *msg) {
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(pay_statement_write(rows, n, &text, &len), 0);
  int rc = fin_statement_import(conn, "sim", date, (const uint8_t *)text, len, "upload", actor, st,
                                msg);
  free(text);
  return rc;
}

static long long count_of(const char *sql) {
  PGresult *r = PQexec(conn, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

/* Every stored result of the day, as one text (for comparing runs). */
static char *results_text(int64_t statement_id) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT string_agg(concat_ws('|', kind, key, dup, class, channel_fen, platform_fen, "
           "fee_fen, success_time, carried), E'\\n' ORDER BY kind, key, dup) "
           "FROM payment.recon_results WHERE statement_id = %lld",
           (long long)statement_id);
  PGresult *r = PQexec(conn, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  char *s = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return s;
}

static const char *class_of(int64_t statement_id, const char *kind, const char *key) {
  static char cls[32];
  char sid[24];
  snprintf(sid, sizeof sid, "%lld", (long long)statement_id);
  const char *p[3] = {sid, kind, key};
  PGresult *r = PQexecParams(conn,
                             "SELECT class FROM payment.recon_results WHERE statement_id = "
                             "$1::bigint AND kind = $2 AND key = $3",
                             3, NULL, p, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  snprintf(cls, sizeof cls, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "(none)");
  PQclear(r);
  return cls;
}

static int64_t balance(const char *account) {
  int64_t v = 0;
  yw_pg_error err;
  assert_int_equal(ledger_balance(conn, account, &v, &err), 0);
  return v;
}

static int64_t d1_statement;

/* R9, then R10 on the same day. */
static void every_kind_classifies_and_a_rerun_changes_nothing(void **state) {
  (void)state;
  platform_books("pay", "P1", 1250, D1 + 10 * 3600);
  platform_books("refund", "R1", 500, D1 + 11 * 3600);
  platform_books("pay", "P2", 1000, D1 + 12 * 3600);
  platform_books("pay", "P3", 300, D1 + 13 * 3600);       /* the channel lacks it */
  platform_books("pay", "P4", 400, D2 - 120);             /* 23:58, the channel has it tomorrow */
  platform_books("pay", "OTHER-DAY", 900, D2 + 3600);     /* not this day */
  pay_stmt_row rows[] = {
      pay_row("P1", 1250, D1 + 10 * 3600),
      refund_row("P1", "R1", 1250, 500, D1 + 11 * 3600),
      pay_row("P2", 1001, D1 + 12 * 3600),                /* a fen more than booked */
      pay_row("C1", 700, D1 + 14 * 3600),                 /* the platform lacks it */
  };
  fin_statement st;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-01", rows, 4, "alice", &st, msg), 0);
  assert_int_equal(st.reused, 0);
  assert_int_equal(st.row_count, 4);
  d1_statement = st.id;
  fin_run run;
  int rc = fin_recon_run(conn, "sim", "2026-12-01", PAY_RECON_CUTOFF_DEFAULT_S, "alice", &run, msg);
  if (rc != 0) fprintf(stderr, "run: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 2);
  assert_int_equal(run.count[PAY_RECON_AMOUNT_MISMATCH], 1);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 1);
  assert_int_equal(run.count[PAY_RECON_PLATFORM_ONLY], 1);
  assert_int_equal(run.count[PAY_RECON_DEFERRED], 1);
  assert_int_equal(run.new_results, 6);
  assert_int_equal(run.settled, 2);
  assert_int_equal(run.opened, 3);
  assert_string_equal(class_of(st.id, "PAY", "P1"), "MATCHED");
  assert_string_equal(class_of(st.id, "REFUND", "R1"), "MATCHED");
  assert_string_equal(class_of(st.id, "PAY", "P2"), "AMOUNT_MISMATCH");
  assert_string_equal(class_of(st.id, "PAY", "C1"), "CHANNEL_ONLY");
  assert_string_equal(class_of(st.id, "PAY", "P3"), "PLATFORM_ONLY");
  assert_string_equal(class_of(st.id, "PAY", "P4"), "DEFERRED");
  assert_string_equal(class_of(st.id, "PAY", "OTHER-DAY"), "(none)");
  /* settled: P1 net of its fee (1250 - 8), R1 paid back net of the fee returned
   * (500 - 3) */
  assert_int_equal(balance("clearing_bank"), 1242 - 497);
  assert_int_equal(balance("channel_fee:sim"), 8 - 3);
  assert_int_equal(count_of("SELECT count(*) FROM payment.recon_exceptions WHERE status = 'OPEN'"),
                   3);

  /* R10: the same day again */
  char *before = results_text(st.id);
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  long long postings = count_of("SELECT count(*) FROM payment.postings");
  fin_run again;
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-01", PAY_RECON_CUTOFF_DEFAULT_S, "bob",
                                 &again, msg),
                   0);
  assert_int_equal(again.new_results, 0);
  assert_int_equal(again.settled, 0);
  assert_int_equal(again.opened, 0);
  assert_memory_equal(again.count, run.count, sizeof run.count);
  char *after = results_text(st.id);
  assert_string_equal(after, before);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  assert_int_equal(count_of("SELECT count(*) FROM payment.postings"), postings);
  assert_int_equal(count_of("SELECT runs FROM payment.recon_runs"), 2);
  free(before);
  free(after);

  /* the next day: P4 arrives on its statement and matches the carried row */
  pay_stmt_row next[] = {pay_row("P4", 400, D2 + 60)};
  assert_int_equal(import_rows("2026-12-02", next, 1, "alice", &st, msg), 0);
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-02", PAY_RECON_CUTOFF_DEFAULT_S, "alice",
                                 &run, msg),
                   0);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 1);
  assert_int_equal(run.count[PAY_RECON_PLATFORM_ONLY], 1); /* OTHER-DAY: 01:00, not in the file */
  assert_string_equal(class_of(st.id, "PAY", "P4"), "MATCHED");
  assert_int_equal(count_of("SELECT count(*) FROM payment.recon_results WHERE carried"), 1);
}

static void imports_are_checked_and_idempotent(void **state) {
  (void)state;
  pay_stmt_row rows[] = {pay_row("Q1", 100, D1 + 5 * 86400)};
  fin_statement a, b, c;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-06", rows, 1, "alice", &a, msg), 0);
  assert_int_equal(import_rows("2026-12-06", rows, 1, "bob", &b, msg), 0);
  assert_int_equal(b.reused, 1);
  assert_int_equal(b.id, a.id);
  assert_string_equal(b.sha256, a.sha256);
  long long stmts = count_of("SELECT count(*) FROM payment.statements");
  long long rowsn = count_of("SELECT count(*) FROM payment.statement_rows");
  /* a summary that lies: refused, nothing stored */
  const char *lie = "交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,商户退款单号,退款金额,手续费,费率\n"
                    "`2026-12-06 10:00:00,`19,`Q2,`T,`NATIVE,`SUCCESS,`1.00,`,`0.00,`0.01,`0.60%\n"
                    "总交易单数,应结订单总金额,退款总金额,手续费总金额\n`1,`2.00,`0.00,`0.01\n";
  assert_int_equal(fin_statement_import(conn, "sim", "2026-12-06", (const uint8_t *)lie,
                                        strlen(lie), "upload", "alice", &c, msg),
                   YW_EINVAL);
  assert_non_null(strstr(msg, "line 4: 应结订单总金额 says 2.00 but the rows add up to 1.00"));
  /* a row of another day */
  assert_int_equal(import_rows("2026-12-07", rows, 1, "alice", &c, msg), YW_EINVAL);
  assert_non_null(strstr(msg, "is not on 2026-12-07"));
  assert_int_equal(count_of("SELECT count(*) FROM payment.statements"), stmts);
  assert_int_equal(count_of("SELECT count(*) FROM payment.statement_rows"), rowsn);
  /* another file for the day supersedes the first while nothing is under resolution */
  pay_stmt_row two[] = {pay_row("Q1", 100, D1 + 5 * 86400), pay_row("Q3", 200, D1 + 5 * 86400 + 1)};
  assert_int_equal(import_rows("2026-12-06", two, 2, "alice", &c, msg), 0);
  assert_int_equal(c.superseded_id, a.id);
  fin_run run;
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-06", 300, "alice", &run, msg), 0);
  assert_int_equal(run.statement_id, c.id);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 2);
  /* once an exception of it is proposed, it stays */
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT min(id) FROM payment.recon_exceptions WHERE statement_id = %lld",
           (long long)c.id);
  int64_t exc = count_of(sql);
  int rc = fin_exception_propose(conn, exc, "WRITE_OFF", "unknown inflow", "alice", msg);
  if (rc != 0) fprintf(stderr, "propose: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(import_rows("2026-12-06", rows, 1, "alice", &b, msg), 0); /* the first file: same */
  assert_int_equal(b.reused, 1);
  pay_stmt_row three[] = {pay_row("Q9", 300, D1 + 5 * 86400)};
  assert_int_equal(import_rows("2026-12-06", three, 1, "alice", &b, msg), YW_EPRECOND);
  rc = fin_exception_decide(conn, exc, 0, "", "bob", msg); /* reopened */
  if (rc != 0) fprintf(stderr, "reject: %s\n", msg);
  assert_int_equal(rc, 0);
}

static void maker_checker_resolves_with_new_journals(void **state) {
  (void)state;
  char msg[FIN_MSG_MAX];
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT id FROM payment.recon_exceptions WHERE statement_id = %lld AND key = 'C1'",
           (long long)d1_statement);
  int64_t c1 = count_of(sql);
  snprintf(sql, sizeof sql,
           "SELECT id FROM payment.recon_exceptions WHERE statement_id = %lld AND key = 'P3'",
           (long long)d1_statement);
  int64_t p3 = count_of(sql);
  snprintf(sql, sizeof sql,
           "SELECT id FROM payment.recon_exceptions WHERE statement_id = %lld AND key = 'P2'",
           (long long)d1_statement);
  int64_t p2 = count_of(sql);
  /* an action that does not fit, a decision without a proposal, bad input */
  assert_int_equal(fin_exception_propose(conn, p3, "REFUND", "no", "alice", msg), YW_EPRECOND);
  assert_int_equal(fin_exception_decide(conn, p3, 1, "", "bob", msg), YW_EPRECOND);
  assert_int_equal(fin_exception_propose(conn, c1, "PAY_OUT", "x", "alice", msg), YW_EINVAL);
  assert_int_equal(fin_exception_propose(conn, c1, "WRITE_OFF", "", "alice", msg), YW_EINVAL);
  assert_int_equal(fin_exception_propose(conn, 999999, "WRITE_OFF", "x", "alice", msg), YW_ENOTFOUND);

  long long journals = count_of("SELECT count(*) FROM payment.journal");
  assert_int_equal(fin_exception_propose(conn, c1, "WRITE_OFF", "no order of ours", "alice", msg), 0);
  assert_int_equal(fin_exception_propose(conn, c1, "REFUND", "twice", "bob", msg), YW_EPRECOND);
  /* the proposer cannot approve */
  assert_int_equal(fin_exception_decide(conn, c1, 1, "", "alice", msg), YW_EPERM);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  int64_t suspense = balance("suspense"), clearing = balance("clearing_bank");
  assert_int_equal(fin_exception_decide(conn, c1, 1, "checked the channel", "bob", msg), 0);
  /* new journals: the write-off and the row's settlement */
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals + 2);
  assert_int_equal(balance("suspense"), suspense - 700);
  assert_int_equal(balance("clearing_bank"), clearing + 700 - 4);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM payment.recon_exceptions WHERE id = %lld AND status = 'RESOLVED' "
           "AND proposed_by = 'alice' AND decided_by = 'bob' AND journal_ref <> ''",
           (long long)c1);
  assert_int_equal(count_of(sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM payment.audit_log WHERE target = '%lld' AND action IN "
           "('recon.propose', 'recon.approve')",
           (long long)c1);
  assert_int_equal(count_of(sql), 2);
  /* decided once: a second approval finds nothing to decide */
  assert_int_equal(fin_exception_decide(conn, c1, 1, "", "carol", msg), YW_EPRECOND);

  /* a short row written off: the receivable that never comes goes to suspense */
  assert_int_equal(fin_exception_propose(conn, p3, "WRITE_OFF", "forged notice?", "bob", msg), 0);
  assert_int_equal(fin_exception_decide(conn, p3, 1, "", "alice", msg), 0);
  assert_int_equal(balance("suspense"), suspense - 700 + 300);

  /* a rejection reopens; the mismatch's fen is then refunded */
  assert_int_equal(fin_exception_propose(conn, p2, "WRITE_OFF", "a fen", "alice", msg), 0);
  assert_int_equal(fin_exception_decide(conn, p2, 0, "refund it instead", "bob", msg), 0);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM payment.recon_exceptions WHERE id = %lld AND status = 'OPEN'",
           (long long)p2);
  assert_int_equal(count_of(sql), 1);
  assert_int_equal(fin_exception_propose(conn, p2, "REFUND", "a fen", "alice", msg), 0);
  assert_int_equal(fin_exception_decide(conn, p2, 1, "", "bob", msg), 0);
  assert_int_equal(balance("refund_payable:sim"), -1);
}

static void book_pays_our_order_the_channel_alone_had(void **state) {
  (void)state;
  PGresult *r = PQexec(conn,
                       "WITH o AS (INSERT INTO payment.orders (notice_code, source, amount_fen, "
                       "payee_department, item_code, item_name, payer_name_enc, created_by, "
                       "expires_at, status) VALUES ('32070000000000000018', 'NOTICE', 1500, "
                       "'320700-GA', 'FINE01', 'fine', 'x', 'clerk', now() + interval '1 day', "
                       "'PAYING') RETURNING id) "
                       "INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, "
                       "channel, mchid, amount_fen) SELECT '2026120800000000000001', id, 1, 'sim', "
                       "'1900000001', 1500 FROM o RETURNING order_id");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  const int64_t at = D1 + 7 * 86400 + 3600; /* 2026-12-08 01:00 */
  pay_stmt_row rows[] = {pay_row("2026120800000000000001", 1500, at), pay_row("NOT-OURS", 10, at)};
  fin_statement st;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-08", rows, 2, "alice", &st, msg), 0);
  fin_run run;
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-08", 300, "alice", &run, msg), 0);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 2);
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT id FROM payment.recon_exceptions WHERE statement_id = %lld AND key = "
           "'2026120800000000000001'",
           (long long)st.id);
  int64_t ours = count_of(sql);
  snprintf(sql, sizeof sql,
           "SELECT id FROM payment.recon_exceptions WHERE statement_id = %lld AND key = 'NOT-OURS'",
           (long long)st.id);
  int64_t theirs = count_of(sql);
  assert_int_equal(fin_exception_propose(conn, theirs, "BOOK", "ours?", "alice", msg), 0);
  assert_int_equal(fin_exception_decide(conn, theirs, 1, "", "bob", msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "no channel order NOT-OURS"));
  assert_int_equal(fin_exception_decide(conn, theirs, 0, "not ours", "bob", msg), 0);
  assert_int_equal(fin_exception_propose(conn, ours, "BOOK", "paid, notice lost", "alice", msg), 0);
  int rc = fin_exception_decide(conn, ours, 1, "", "bob", msg);
  if (rc != 0) fprintf(stderr, "book: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(count_of("SELECT count(*) FROM payment.orders WHERE notice_code = "
                            "'32070000000000000018' AND status = 'PAID'"),
                   1);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal WHERE kind = 'pay' AND ref = "
                            "'2026120800000000000001'"),
                   1);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal WHERE kind = 'settle' AND ref = "
                            "'sim:PAY:2026120800000000000001'"),
                   1);
  /* a re-run of the day keeps the record and books nothing more */
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-08", 300, "alice", &run, msg), 0);
  assert_int_equal(run.new_results, 0);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 2);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
}

/* Days run in order: a day whose day before has an imported statement not yet run is
 * refused (its DEFERRED rows would be lost); a channel's first day (no statement the day
 * before) runs. */
static void a_day_runs_only_after_the_day_before(void **state) {
  (void)state;
  const int64_t d10 = D1 + 9 * 86400, d11 = D1 + 10 * 86400;
  pay_stmt_row a[] = {pay_row("ORD-D10", 100, d10 + 3600)};
  pay_stmt_row b[] = {pay_row("ORD-D11", 100, d11 + 3600)};
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-10", a, 1, "alice", &st, msg), 0);
  assert_int_equal(import_rows("2026-12-11", b, 1, "alice", &st, msg), 0);
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-11", 300, "alice", &run, msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "run that day first"));
  assert_int_equal(count_of("SELECT count(*) FROM payment.recon_runs r JOIN payment.statements s "
                            "ON s.id = r.statement_id WHERE s.bill_date = '2026-12-11'"),
                   0);
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-10", 300, "alice", &run, msg), 0);
  assert_int_equal(fin_recon_run(conn, "sim", "2026-12-11", 300, "alice", &run, msg), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(every_kind_classifies_and_a_rerun_changes_nothing, ledger_balanced),
      cmocka_unit_test_teardown(imports_are_checked_and_idempotent, ledger_balanced),
      cmocka_unit_test_teardown(maker_checker_resolves_with_new_journals, ledger_balanced),
      cmocka_unit_test_teardown(book_pays_our_order_the_channel_alone_had, ledger_balanced),
      cmocka_unit_test_teardown(a_day_runs_only_after_the_day_before, ledger_balanced),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
