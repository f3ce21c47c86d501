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
 * journal) and settles it only when the channel's answer says SUCCESS with the row's
 * amount, and is refused for a number we never issued. Review 1 #2-#4, #11: a superseded
 * statement's exceptions are SUPERSEDED (never proposed nor decided) and the current
 * one's write-off is keyed by the channel's row; an approval after the platform booked
 * the row is refused and the exception re-evaluated; a decision naming another proposal
 * (action, version) is refused; another merchant's statement is refused and an upload
 * replaces the channel's own statement only when forced with a reason; imports,
 * supersedes and runs are audited with the amount. A statement replaced after its run
 * has its settlement journals reversed by new journals, and the replacing statement's
 * run settles its own rows: the balances are what the corrected file alone gives, and a
 * third run books nothing. The automatic part of a run, against the channel simulator
 * (a real yw-paysim process): a channel-only payment of ours the channel confirms is
 * booked paid and resolved; one it does not confirm, and one naming no order of ours,
 * are held in suspense and left open (finance's refund and write-off of them then move
 * the money once); a platform-only payment the channel never took is reversed by a new
 * journal, its order EXCEPTION; one the channel has but its statement lacks is noted and
 * left open; the balances follow, a re-run asks and books nothing; with the simulator
 * stopped (SIGSTOP) the rows stay open and nothing is booked, and the next run once it
 * answers acts on them once; a statement replaced gives back what its run held in
 * suspense and the replacing one's run holds its own rows; the pass holds no connection
 * while its question waits at a stopped channel; a refund to a payer the channel refuses
 * is retried or written off by maker-checker; a refund to a payer the channel does not
 * answer is pushed back (10 s doubling, asked again once the stored next try comes) and
 * holds back no other channel's refund in the same pass. Every query is parameterised.
 * After every test ledger_check finds the ledger balanced.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "finance.h"
#include "ledger.h"
#include "payment.h"
#include "recon.h"
#include "recon_db.h"
#include "statement.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_pg.h"
#include "yw_testdb.h"
#include "yw_testnet.h"
#include "yw_testpaysim.h"

/* 2026-12-01 00:00:00 Asia/Shanghai */
#define D1 1796054400LL
#define D2 (D1 + 86400)

static char dsn[512];
static yw_pg_pool *pool;
static PGconn *conn;
static fin_db pdb; /* the passes' connections: the pool's other one */
/* the channel simulator as channel sim: the automatic part of a run asks it */
static yw_testpaysim sim;
static pay_channels *chans;

static int setup(void **state) {
  (void)state;
  char spec[256], cerr[256];
  if (yw_testpaysim_start(YW_PAYSIM_BIN, &sim) != 0) return -1;
  snprintf(spec, sizeof spec, "sim=%s,sim-sm2=%s-sm2", sim.url, sim.url);
  if (pay_channels_load(spec, sim.keys_spec, &chans, cerr, sizeof cerr) != 0) {
    fprintf(stderr, "channels: %s\n", cerr);
    return -1;
  }
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  /* the test holds one connection; the passes that ask a channel take the other per step */
  if (yw_pg_pool_new(dsn, 2, &pool, &err) != 0) return -1;
  conn = yw_pg_pool_acquire(pool, 5000);
  pdb.pool = pool;
  pdb.wait_ms = 2000;
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
  yw_testpaysim_stop(&sim);
  pay_channels_free(chans);
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

/* A file uploaded by a finance user, of our merchant at channel sim. */
static const fin_import_opts upload = {.source = "upload", .mchid = "1900000001"};

/* The channel the helpers below work on: sim, or sim-sm2 (merchant 1900000002) for a test
 * that needs days no other test has a statement of. */
static const char *chan = "sim", *chan_mchid = "1900000001";

/* Imports rows as the statement of chan on date; returns the import's rc. */
static int import_rows(const char *date, const pay_stmt_row *rows, size_t n, const char *actor,
                       fin_statement *st, char *msg) {
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(pay_statement_write(rows, n, &text, &len), 0);
  fin_import_opts opts = upload;
  opts.mchid = chan_mchid;
  int rc = fin_statement_import(conn, chan, date, (const uint8_t *)text, len, &opts, actor, NULL,
                                st, msg);
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

/* sql's rows with the n text parameters of ap. */
static PGresult *rows_of(const char *sql, int n, va_list ap) {
  const char *p[4] = {NULL};
  for (int i = 0; i < n && i < 4; i++) p[i] = va_arg(ap, const char *);
  PGresult *r = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  return r;
}

/* The first column of the first row of sql with the text parameters given (n of them). */
static long long value_of(const char *sql, int n, ...) {
  va_list ap;
  va_start(ap, n);
  PGresult *r = rows_of(sql, n, ap);
  va_end(ap);
  long long v = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return v;
}

/* The same as text ("(none)" without a row); valid until the next call. */
static const char *text_of(const char *sql, int n, ...) {
  static char t[128];
  va_list ap;
  va_start(ap, n);
  PGresult *r = rows_of(sql, n, ap);
  va_end(ap);
  snprintf(t, sizeof t, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "(none)");
  PQclear(r);
  return t;
}

static const char *num(int64_t v, char buf[24]) {
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

/* How many settle journals statement_id booked for its PAY rows of key (refs
 * sim:<statement>:PAY:<key>:<dup>). */
static long long settle_journals(int64_t statement_id, const char *key) {
  char sid[24];
  return value_of(
      "SELECT count(*) FROM payment.journal WHERE kind = 'settle' "
      "AND ref ~ ('^sim:' || $1 || ':PAY:' || $2 || ':[0-9]+$')",
      2, num(statement_id, sid), key);
}

/* How many journals of kind name run run of statement_id (ref sim:<statement>:run:<run>). */
static long long run_journals(const char *kind, int64_t statement_id, int run) {
  char sid[24], r[24];
  return value_of("SELECT count(*) FROM payment.journal WHERE kind = $1 "
                  "AND ref = 'sim:' || $2 || ':run:' || $3",
                  3, kind, num(statement_id, sid), num(run, r));
}

/* How many audit records of action name target, by actor (NULL: anyone), with a detail
 * LIKE detail_like (NULL: any). */
static long long audits(const char *action, int64_t target, const char *actor, const char *detail_like) {
  char id[24];
  return value_of("SELECT count(*) FROM payment.audit_log WHERE action = $1 AND target = $2 "
                  "AND ($3::text IS NULL OR actor = $3) AND ($4::text IS NULL OR detail LIKE $4)",
                  4, action, num(target, id), actor, detail_like);
}

/* The exception of statement_id for key. */
static int64_t exception_of(int64_t statement_id, const char *key) {
  char sid[24];
  return value_of("SELECT id FROM payment.recon_exceptions WHERE statement_id = $1::bigint "
                  "AND key = $2",
                  2, num(statement_id, sid), key);
}

/* Decides the exception's current proposal as the console does: naming its action and
 * version as read; said: the channel's answer to the query of its order (BOOK), or NULL. */
static int decide_said(int64_t id, int approve, const char *note, const char *actor,
                       const pay_query_res *said, char *msg) {
  char sid[24];
  const char *p[1] = {num(id, sid)};
  PGresult *r = PQexecParams(conn,
                             "SELECT COALESCE(action, 'BOOK'), version FROM "
                             "payment.recon_exceptions WHERE id = $1::bigint",
                             1, NULL, p, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  char action[16] = "BOOK";
  int version = 1;
  if (PQntuples(r) == 1) {
    snprintf(action, sizeof action, "%s", PQgetvalue(r, 0, 0));
    version = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
  }
  PQclear(r);
  if (version <= 0) version = 1; /* no proposal: the service says so */
  return fin_exception_decide(conn, id, approve, action, version, note, actor, NULL, said, msg);
}

static int decide(int64_t id, int approve, const char *note, const char *actor, char *msg) {
  return decide_said(id, approve, note, actor, NULL, msg);
}

/* What the channel answers a query of a paid order of fen. */
static pay_query_res channel_paid(int64_t fen, int64_t at) {
  pay_query_res q = {.state = PAY_TRADE_SUCCESS, .total_fen = fen, .payer_total_fen = fen,
                     .success_unix = at};
  snprintf(q.transaction_id, sizeof q.transaction_id, "4200000099");
  return q;
}

static int propose(int64_t id, const char *action, const char *note, const char *actor, char *msg) {
  return fin_exception_propose(conn, id, action, note, actor, NULL, msg);
}

static int run_day(const char *date, const char *actor, fin_run *run, char *msg) {
  return fin_recon_run(conn, chan, date, PAY_RECON_CUTOFF_DEFAULT_S, actor, NULL, run, msg);
}

/* Every stored result of the day, as one text (for comparing runs). */
static char *results_text(int64_t statement_id) {
  char sid[24];
  const char *p[1] = {num(statement_id, sid)};
  PGresult *r = PQexecParams(conn,
                             "SELECT string_agg(concat_ws('|', kind, key, dup, class, channel_fen, "
                             "platform_fen, fee_fen, success_time, carried), E'\\n' "
                             "ORDER BY kind, key, dup) FROM payment.recon_results "
                             "WHERE statement_id = $1::bigint",
                             1, NULL, p, NULL, NULL, 0);
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
  int rc = run_day("2026-12-01", "alice", &run, msg);
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
  assert_int_equal(run_day("2026-12-01", "bob", &again, msg),
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
  assert_int_equal(run_day("2026-12-02", "alice", &run, msg),
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
                                        strlen(lie), &upload, "alice", NULL, &c, msg),
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
  assert_int_equal(run_day("2026-12-06", "alice", &run, msg), 0);
  assert_int_equal(run.statement_id, c.id);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 2);
  /* once an exception of it is proposed, it stays */
  char sid[24];
  int64_t exc = value_of("SELECT min(id) FROM payment.recon_exceptions WHERE statement_id = $1::bigint",
                         1, num(c.id, sid));
  int rc = propose(exc, "WRITE_OFF", "unknown inflow", "alice", msg);
  if (rc != 0) fprintf(stderr, "propose: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(import_rows("2026-12-06", rows, 1, "alice", &b, msg), 0); /* the first file: same */
  assert_int_equal(b.reused, 1);
  pay_stmt_row three[] = {pay_row("Q9", 300, D1 + 5 * 86400)};
  assert_int_equal(import_rows("2026-12-06", three, 1, "alice", &b, msg), YW_EPRECOND);
  rc = decide(exc, 0, "", "bob", msg); /* reopened */
  if (rc != 0) fprintf(stderr, "reject: %s\n", msg);
  assert_int_equal(rc, 0);
}

static void maker_checker_resolves_with_new_journals(void **state) {
  (void)state;
  char msg[FIN_MSG_MAX];
  int64_t c1 = exception_of(d1_statement, "C1");
  int64_t p3 = exception_of(d1_statement, "P3");
  int64_t p2 = exception_of(d1_statement, "P2");
  /* an action that does not fit, a decision without a proposal, bad input */
  assert_int_equal(propose(p3, "REFUND", "no", "alice", msg), YW_EPRECOND);
  assert_int_equal(decide(p3, 1, "", "bob", msg), YW_EPRECOND);
  assert_int_equal(propose(c1, "PAY_OUT", "x", "alice", msg), YW_EINVAL);
  assert_int_equal(propose(c1, "WRITE_OFF", "", "alice", msg), YW_EINVAL);
  assert_int_equal(propose(999999, "WRITE_OFF", "x", "alice", msg), YW_ENOTFOUND);

  long long journals = count_of("SELECT count(*) FROM payment.journal");
  assert_int_equal(propose(c1, "WRITE_OFF", "no order of ours", "alice", msg), 0);
  assert_int_equal(propose(c1, "REFUND", "twice", "bob", msg), YW_EPRECOND);
  /* the proposer cannot approve */
  assert_int_equal(decide(c1, 1, "", "alice", msg), YW_EPERM);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  int64_t suspense = balance("suspense"), clearing = balance("clearing_bank");
  assert_int_equal(decide(c1, 1, "checked the channel", "bob", msg), 0);
  /* new journals: the write-off and the row's settlement */
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals + 2);
  assert_int_equal(balance("suspense"), suspense - 700);
  assert_int_equal(balance("clearing_bank"), clearing + 700 - 4);
  char id[24];
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND status = 'RESOLVED' AND proposed_by = 'alice' AND decided_by = 'bob' "
                            "AND journal_ref <> ''",
                            1, num(c1, id)),
                   1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.audit_log WHERE target = $1 AND action IN "
                            "('recon.propose', 'recon.approve')",
                            1, num(c1, id)),
                   2);
  /* decided once: a second approval finds nothing to decide */
  assert_int_equal(decide(c1, 1, "", "carol", msg), YW_EPRECOND);

  /* a short row written off: the receivable that never comes goes to suspense */
  assert_int_equal(propose(p3, "WRITE_OFF", "forged notice?", "bob", msg), 0);
  assert_int_equal(decide(p3, 1, "", "alice", msg), 0);
  assert_int_equal(balance("suspense"), suspense - 700 + 300);

  /* a rejection reopens; the mismatch's fen is then refunded */
  assert_int_equal(propose(p2, "WRITE_OFF", "a fen", "alice", msg), 0);
  assert_int_equal(decide(p2, 0, "refund it instead", "bob", msg), 0);
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND status = 'OPEN'",
                            1, num(p2, id)),
                   1);
  assert_int_equal(propose(p2, "REFUND", "a fen", "alice", msg), 0);
  assert_int_equal(decide(p2, 1, "", "bob", msg), 0);
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
  assert_int_equal(run_day("2026-12-08", "alice", &run, msg), 0);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 2);
  int64_t ours = exception_of(st.id, "2026120800000000000001");
  int64_t theirs = exception_of(st.id, "NOT-OURS");
  assert_int_equal(propose(theirs, "BOOK", "ours?", "alice", msg), 0);
  pay_query_res says_paid = channel_paid(10, at); /* even when the channel says paid */
  assert_int_equal(decide_said(theirs, 1, "", "bob", &says_paid, msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "no channel order NOT-OURS"));
  assert_int_equal(decide(theirs, 0, "not ours", "bob", msg), 0);
  assert_int_equal(propose(ours, "BOOK", "paid, notice lost", "alice", msg), 0);
  /* the statement's row alone does not book: the channel's answer must say SUCCESS with
   * the row's amount */
  assert_int_equal(decide(ours, 1, "", "bob", msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "needs the channel's answer"));
  pay_query_res notpay = {.state = PAY_TRADE_NOTPAY};
  assert_int_equal(decide_said(ours, 1, "", "bob", &notpay, msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "the channel says NOTPAY"));
  pay_query_res other = channel_paid(1400, at);
  assert_int_equal(decide_said(ours, 1, "", "bob", &other, msg), YW_EPRECOND);
  assert_int_equal(count_of("SELECT count(*) FROM payment.orders WHERE notice_code = "
                            "'32070000000000000018' AND status = 'PAID'"),
                   0);
  pay_query_res paid = channel_paid(1500, at);
  int rc = decide_said(ours, 1, "", "bob", &paid, msg);
  if (rc != 0) fprintf(stderr, "book: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(count_of("SELECT count(*) FROM payment.orders WHERE notice_code = "
                            "'32070000000000000018' AND status = 'PAID'"),
                   1);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal WHERE kind = 'pay' AND ref = "
                            "'2026120800000000000001'"),
                   1);
  assert_int_equal(settle_journals(st.id, "2026120800000000000001"), 1);
  /* a re-run of the day keeps the record and books nothing more */
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  assert_int_equal(run_day("2026-12-08", "alice", &run, msg), 0);
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
  assert_int_equal(run_day("2026-12-11", "alice", &run, msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "run that day first"));
  assert_int_equal(count_of("SELECT count(*) FROM payment.recon_runs r JOIN payment.statements s "
                            "ON s.id = r.statement_id WHERE s.bill_date = '2026-12-11'"),
                   0);
  assert_int_equal(run_day("2026-12-10", "alice", &run, msg), 0);
  assert_int_equal(run_day("2026-12-11", "alice", &run, msg), 0);
}

/* Inserts an order of ours PAYING on channel order otn of sim for fen (as PayOrder
 * leaves it before the channel's notification). */
static void order_paying(const char *notice_code, const char *otn, int64_t fen) {
  char f[24];
  const char *p[5] = {notice_code, otn, num(fen, f), chan, chan_mchid};
  PGresult *r = PQexecParams(conn,
                             "WITH o AS (INSERT INTO payment.orders (notice_code, source, amount_fen, "
                             "payee_department, item_code, item_name, payer_name_enc, created_by, "
                             "expires_at, status) VALUES ($1, 'NOTICE', $3::bigint, '320700-GA', "
                             "'FINE01', 'fine', 'x', 'clerk', now() + interval '1 day', 'PAYING') "
                             "RETURNING id) "
                             "INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, "
                             "channel, mchid, amount_fen) SELECT $2, id, 1, $4, $5, "
                             "$3::bigint FROM o RETURNING order_id",
                             5, NULL, p, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
}

/* order_paying, and a second channel order of it (attempt 2, second) since CLOSED. */
static void order_paying_with_a_closed_second(const char *notice_code, const char *first, const char *second,
                                              int64_t fen) {
  order_paying(notice_code, first, fen);
  const char *p[2] = {first, second};
  PGresult *r = PQexecParams(conn,
                             "INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, "
                             "channel, mchid, amount_fen, status) SELECT $2, order_id, 2, channel, "
                             "mchid, amount_fen, 'CLOSED' FROM payment.channel_orders "
                             "WHERE out_trade_no = $1",
                             2, NULL, p, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
}

/* Review #2: a day re-imported after its run. The first statement's exceptions are
 * SUPERSEDED: they cannot be proposed nor decided and are not open any more; the current
 * statement's exception for the same channel row is resolved once, its journal keyed by
 * the row (channel, day, kind, key), so suspense moves by the row's amount once. */
static void a_superseded_statements_exceptions_cannot_be_resolved(void **state) {
  (void)state;
  const int64_t d14 = D1 + 13 * 86400;
  pay_stmt_row one[] = {pay_row("X900", 900, d14 + 3600)};
  pay_stmt_row two[] = {pay_row("X900", 900, d14 + 3600), pay_row("Y100", 100, d14 + 7200)};
  fin_statement a, b;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-14", one, 1, "alice", &a, msg), 0);
  assert_int_equal(run_day("2026-12-14", "alice", &run, msg), 0);
  int64_t old = exception_of(a.id, "X900");
  assert_int_equal(import_rows("2026-12-14", two, 2, "alice", &b, msg), 0);
  assert_int_equal(b.superseded_id, a.id);
  assert_int_equal(run_day("2026-12-14", "alice", &run, msg), 0);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 2);
  int64_t cur = exception_of(b.id, "X900");
  char id[24];
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND status = 'SUPERSEDED'",
                            1, num(old, id)),
                   1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE statement_id = "
                            "$1::bigint AND status IN ('OPEN', 'PROPOSED')",
                            1, num(a.id, id)),
                   0);
  int64_t suspense = balance("suspense");
  assert_int_equal(propose(old, "WRITE_OFF", "stranger", "alice", msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "replaced by another file"));
  assert_int_equal(fin_exception_decide(conn, old, 1, "WRITE_OFF", 1, "", "bob", NULL, NULL, msg), YW_EPRECOND);
  assert_int_equal(propose(cur, "WRITE_OFF", "stranger", "alice", msg), 0);
  assert_int_equal(decide(cur, 1, "", "bob", msg), 0);
  assert_int_equal(balance("suspense"), suspense - 900);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal WHERE kind = 'recon_resolve' "
                            "AND ref = 'sim:2026-12-14:PAY:X900:0'"),
                   1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND journal_ref = 'recon_resolve:sim:2026-12-14:PAY:X900:0'",
                            1, num(cur, id)),
                   1);
  /* the import, the supersede and both runs are audited, with the amount */
  assert_int_equal(audits("recon.supersede", a.id, NULL, NULL), 1);
  assert_int_equal(audits("recon.import", b.id, NULL, "%amount_fen=1000"), 1);
  assert_int_equal(audits("recon.run", b.id, NULL, NULL), 1);
}

/* Review #3: a channel-only payment of one of our orders, proposed for write-off; the
 * channel's notification arrives late and books the order before the approval. The
 * approval is refused (YW_ECONFLICT), the exception re-evaluated (OPEN, the platform's
 * amount, a new version) and nothing booked to suspense; BOOK then settles the row. */
static void approval_rechecks_the_platform_and_pins_the_proposal(void **state) {
  (void)state;
  const int64_t d16 = D1 + 15 * 86400;
  order_paying("32070000000000000034", "2026121600000000000001", 500);
  pay_stmt_row rows[] = {pay_row("2026121600000000000001", 500, d16 + 3600),
                         pay_row("Z300", 300, d16 + 7200)};
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-16", rows, 2, "alice", &st, msg), 0);
  assert_int_equal(run_day("2026-12-16", "alice", &run, msg), 0);
  int64_t ours = exception_of(st.id, "2026121600000000000001");
  assert_int_equal(propose(ours, "WRITE_OFF", "no order?", "alice", msg), 0);
  /* the late notification */
  yw_pg_error err;
  pay_book_outcome outcome = 0;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(pay_book_paid(conn, "sim", "2026121600000000000001", "4200000001", 500, d16 + 3600, 0,
                                 "channel", &outcome, &err),
                   0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
  assert_int_equal(outcome, PAY_BOOK_PAID);
  int64_t suspense = balance("suspense");
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  int rc = decide(ours, 1, "", "bob", msg);
  assert_int_equal(rc, YW_ECONFLICT);
  assert_non_null(strstr(msg, "booked this row since the proposal"));
  assert_int_equal(balance("suspense"), suspense);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  char id[24];
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND status = 'OPEN' AND platform_fen = 500 AND action IS NULL "
                            "AND version = 2",
                            1, num(ours, id)),
                   1);
  assert_int_equal(audits("recon.reevaluate", ours, NULL, NULL), 1);
  assert_int_equal(propose(ours, "BOOK", "paid, notified late", "alice", msg), 0);
  pay_query_res paid = channel_paid(500, d16 + 3600);
  rc = decide_said(ours, 1, "", "bob", &paid, msg);
  if (rc != 0) fprintf(stderr, "book: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(balance("suspense"), suspense);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal WHERE kind = 'pay' AND ref = "
                            "'2026121600000000000001'"),
                   1);
  assert_int_equal(settle_journals(st.id, "2026121600000000000001"), 1);

  /* the checker names the proposal: a rejected WRITE_OFF proposed again as REFUND is not
   * approved on the WRITE_OFF the checker read */
  int64_t z = exception_of(st.id, "Z300");
  assert_int_equal(propose(z, "WRITE_OFF", "stranger", "alice", msg), 0);
  int seen = (int)value_of("SELECT version FROM payment.recon_exceptions WHERE id = $1::bigint", 1,
                           num(z, id));
  assert_int_equal(fin_exception_decide(conn, z, 0, "WRITE_OFF", seen, "refund it", "bob", NULL, NULL, msg), 0);
  assert_int_equal(propose(z, "REFUND", "give it back", "alice", msg), 0);
  assert_int_equal(fin_exception_decide(conn, z, 1, "WRITE_OFF", seen, "", "bob", NULL, NULL, msg),
                   YW_ECONFLICT);
  assert_non_null(strstr(msg, "changed since it was read"));
  assert_int_equal(fin_exception_decide(conn, z, 1, "REFUND", seen, "", "bob", NULL, NULL, msg), YW_ECONFLICT);
  assert_int_equal(fin_exception_decide(conn, z, 1, "", 0, "", "bob", NULL, NULL, msg), YW_EINVAL);
  assert_int_equal(fin_exception_decide(conn, z, 1, "REFUND", seen + 2, "", "bob", NULL, NULL, msg), 0);
}

/* Review #4: a statement of another merchant is refused whole; an upload does not
 * replace the day's statement fetched from the channel by API unless a finance user
 * forces it with a reason, which the supersede's audit record keeps. */
static void an_upload_replaces_the_channels_statement_only_when_forced(void **state) {
  (void)state;
  const int64_t d20 = D1 + 19 * 86400;
  pay_stmt_row api_rows[] = {pay_row("A1", 100, d20 + 3600)};
  pay_stmt_row up_rows[] = {pay_row("A1", 100, d20 + 3600), pay_row("A2", 200, d20 + 7200)};
  pay_stmt_row other[] = {pay_row("A3", 300, d20 + 3600)};
  other[0].mchid = "1900000009";
  char *text = NULL;
  size_t len = 0;
  fin_statement a, b;
  char msg[FIN_MSG_MAX];
  long long stmts = count_of("SELECT count(*) FROM payment.statements");
  assert_int_equal(pay_statement_write(other, 1, &text, &len), 0);
  assert_int_equal(fin_statement_import(conn, "sim", "2026-12-20", (const uint8_t *)text, len, &upload,
                                        "alice", NULL, &a, msg),
                   YW_EINVAL);
  assert_non_null(strstr(msg, "商户号 1900000009 is not the merchant of channel sim"));
  assert_int_equal(count_of("SELECT count(*) FROM payment.statements"), stmts);
  free(text);
  /* fetched from the channel */
  assert_int_equal(pay_statement_write(api_rows, 1, &text, &len), 0);
  fin_import_opts api = {.source = "api", .mchid = "1900000001"};
  assert_int_equal(fin_statement_import(conn, "sim", "2026-12-20", (const uint8_t *)text, len, &api,
                                        "alice", NULL, &a, msg),
                   0);
  free(text);
  assert_int_equal(import_rows("2026-12-20", up_rows, 2, "bob", &b, msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "fetched from the channel"));
  assert_int_equal(pay_statement_write(up_rows, 2, &text, &len), 0);
  fin_import_opts forced = {.source = "upload", .mchid = "1900000001", .force = 1, .reason = ""};
  assert_int_equal(fin_statement_import(conn, "sim", "2026-12-20", (const uint8_t *)text, len, &forced,
                                        "bob", NULL, &b, msg),
                   YW_EINVAL);
  forced.reason = "the channel's file missed A2 (ticket 7781)";
  assert_int_equal(fin_statement_import(conn, "sim", "2026-12-20", (const uint8_t *)text, len, &forced,
                                        "bob", NULL, &b, msg),
                   0);
  free(text);
  assert_int_equal(b.superseded_id, a.id);
  assert_int_equal(audits("recon.supersede", a.id, "bob", "%forced: the channel's file missed A2%"), 1);
}

/* Review #5: an order paid twice (its second channel order's payment booked to suspense,
 * journal unknown_inflow) is not matched and settled like a payment: its row opens a
 * CHANNEL_ONLY exception. BOOK is refused for it; REFUND moves what suspense holds to
 * refund_payable and settles the row. */
static void a_second_payment_opens_an_exception(void **state) {
  (void)state;
  const int64_t d22 = D1 + 21 * 86400;
  const char *first = "2026122200000000000001", *second = "2026122200000000000002";
  /* and a closed second attempt, paid too */
  order_paying_with_a_closed_second("32070000000000000042", first, second, 800);
  yw_pg_error err;
  pay_book_outcome o1 = 0, o2 = 0;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(pay_book_paid(conn, "sim", first, "4200000001", 800, d22 + 3600, 0, "channel", &o1, &err), 0);
  assert_int_equal(pay_book_paid(conn, "sim", second, "4200000002", 800, d22 + 3700, 0, "channel", &o2, &err), 0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
  assert_int_equal(o1, PAY_BOOK_PAID);
  assert_int_equal(o2, PAY_BOOK_SUSPENSE);
  pay_stmt_row rows[] = {pay_row(first, 800, d22 + 3600), pay_row(second, 800, d22 + 3700)};
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-22", rows, 2, "alice", &st, msg), 0);
  assert_int_equal(run_day("2026-12-22", "alice", &run, msg), 0);
  assert_string_equal(class_of(st.id, "PAY", first), "MATCHED");
  assert_string_equal(class_of(st.id, "PAY", second), "CHANNEL_ONLY");
  assert_int_equal(run.settled, 1);
  int64_t exc = exception_of(st.id, second);
  assert_true(exc > 0);
  int64_t suspense = balance("suspense"), refund = balance("refund_payable:sim");
  assert_int_equal(propose(exc, "BOOK", "paid?", "alice", msg), 0);
  pay_query_res paid = channel_paid(800, d22 + 3700);
  assert_int_equal(decide_said(exc, 1, "", "bob", &paid, msg), YW_EPRECOND);
  assert_non_null(strstr(msg, "second payment"));
  assert_int_equal(decide(exc, 0, "refund it", "bob", msg), 0);
  assert_int_equal(propose(exc, "REFUND", "paid twice", "alice", msg), 0);
  int rc = decide(exc, 1, "", "bob", msg);
  if (rc != 0) fprintf(stderr, "refund: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(balance("suspense"), suspense + 800);
  assert_int_equal(balance("refund_payable:sim"), refund - 800);
  assert_int_equal(settle_journals(st.id, "2026122200000000000002"), 1);
}

/* A second payment whose notification was lost (no unknown_inflow journal)
 * is BOOKed: pay_book_paid answers SUSPENSE, book_action settles the row and the exception
 * would be RESOLVED, the payer's money left in suspense with nothing open: it is refused,
 * and nothing is booked (the teardown checks the ledger balances). */
static void book_of_a_lost_second_payment_is_refused(void **state) {
  (void)state;
  const int64_t d28 = D1 + 27 * 86400;
  const char *first = "2026122800000000000001", *second = "2026122800000000000002";
  order_paying_with_a_closed_second("32070000000000000077", first, second, 700);
  yw_pg_error err;
  pay_book_outcome o1 = 0;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(pay_book_paid(conn, "sim", first, "4200000071", 700, d28 + 3600, 0, "channel", &o1, &err), 0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
  assert_int_equal(o1, PAY_BOOK_PAID);
  /* the second payment's notification never came */
  pay_stmt_row rows[] = {pay_row(first, 700, d28 + 3600), pay_row(second, 700, d28 + 3700)};
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2026-12-28", rows, 2, "alice", &st, msg), 0);
  assert_int_equal(run_day("2026-12-28", "alice", &run, msg), 0);
  assert_string_equal(class_of(st.id, "PAY", second), "CHANNEL_ONLY");
  int64_t exc = exception_of(st.id, second);
  int64_t suspense = balance("suspense");
  assert_int_equal(propose(exc, "BOOK", "notice lost", "alice", msg), 0);
  pay_query_res paid = channel_paid(700, d28 + 3700);
  assert_int_equal(decide_said(exc, 1, "", "bob", &paid, msg), YW_EPRECOND);
  /* refused: nothing moved out of suspense, the exception still open, none resolved */
  assert_int_equal(balance("suspense"), suspense);
  assert_int_equal(count_of("SELECT count(*) FROM payment.recon_exceptions WHERE bill_date = '2026-12-28' "
                            "AND status IN ('OPEN', 'PROPOSED')"),
                   1);
  assert_int_equal(count_of("SELECT count(*) FROM payment.recon_exceptions WHERE bill_date = '2026-12-28' "
                            "AND status = 'RESOLVED'"),
                   0);
  assert_int_equal(settle_journals(st.id, "2026122800000000000002"), 0);
}

/* A statement replaced after its run (the channel's corrected file: a fee corrected, an
 * amount changed, a row added): superseding reverses the first statement's settlement
 * journals with new journals, so until the new file is run the day has nothing settled,
 * and the new run books its own; clearing_bank, channel_fee and channel_receivable then
 * hold what the corrected file alone gives, and a third run books nothing. */
static void a_superseded_statements_settlements_are_reversed(void **state) {
  (void)state;
  const int64_t d = D1 + 71 * 86400; /* 2027-02-10 */
  platform_books("pay", "S-A", 1000, d + 3600);
  platform_books("pay", "S-B", 2000, d + 7200);
  platform_books("pay", "S-C", 500, d + 10800);
  fin_statement a, b;
  fin_run run;
  char msg[FIN_MSG_MAX];
  const int64_t clearing = balance("clearing_bank"), fee = balance("channel_fee:sim"),
                recv = balance("channel_receivable:sim");
  pay_stmt_row first[] = {pay_row("S-A", 1000, d + 3600), pay_row("S-B", 2000, d + 7200)};
  assert_int_equal(import_rows("2027-02-10", first, 2, "alice", &a, msg), 0);
  assert_int_equal(run_day("2027-02-10", "alice", &run, msg), 0);
  assert_int_equal(run.settled, 2);
  assert_int_equal(balance("clearing_bank"), clearing + 994 + 1988);
  /* the corrected file: S-A's fee 5, S-B 2100, S-C added */
  pay_stmt_row corrected[] = {pay_row("S-A", 1000, d + 3600), pay_row("S-B", 2100, d + 7200),
                              pay_row("S-C", 500, d + 10800)};
  corrected[0].fee_fen = 5;
  assert_int_equal(import_rows("2027-02-10", corrected, 3, "bob", &b, msg), 0);
  assert_int_equal(b.superseded_id, a.id);
  /* replaced: the first file's settlements are taken back */
  assert_int_equal(balance("clearing_bank"), clearing);
  assert_int_equal(balance("channel_fee:sim"), fee);
  assert_int_equal(balance("channel_receivable:sim"), recv);
  assert_int_equal(audits("recon.supersede", a.id, "bob", "%amount_fen=2982"), 1);
  /* one settlement journal for the first file's run, reversed by one journal */
  assert_int_equal(run_journals("settle", a.id, 1), 1);
  assert_int_equal(run_journals("settle_reversal", a.id, 1), 1);
  int rc = run_day("2027-02-10", "bob", &run, msg);
  if (rc != 0) fprintf(stderr, "run: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(run.statement_id, b.id);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 2);
  assert_int_equal(run.count[PAY_RECON_AMOUNT_MISMATCH], 1);
  assert_int_equal(run.settled, 2);
  /* what the corrected file alone gives: S-A and S-C settled, S-B open */
  assert_int_equal(balance("clearing_bank"), clearing + 995 + 497);
  assert_int_equal(balance("channel_fee:sim"), fee + 5 + 3);
  assert_int_equal(balance("channel_receivable:sim"), recv - 1000 - 500);
  /* a third run books nothing */
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  assert_int_equal(run_day("2027-02-10", "alice", &run, msg), 0);
  assert_int_equal(run.settled, 0);
  assert_int_equal(run.new_results, 0);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  assert_int_equal(balance("clearing_bank"), clearing + 995 + 497);
  assert_int_equal(balance("channel_receivable:sim"), recv - 1000 - 500);
}

/* ---- the automatic part of a run: the channel (the simulator) asked ------------------- */

/* 2027-01-10 00:00 Asia/Shanghai */
#define D40 (D1 + 40 * 86400)

static void prepay_at_channel(const char *otn, int64_t fen);

/* An order of ours paying on channel order otn: created at the channel (the simulator's
 * prepay) and on the platform. */
static void order_at_channel(const char *notice_code, const char *otn, int64_t fen) {
  order_paying(notice_code, otn, fen);
  prepay_at_channel(otn, fen);
}

/* Creates channel order otn of fen at the channel (the simulator's prepay). */
static void prepay_at_channel(const char *otn, int64_t fen) {
  pay_prepay_req req = {.out_trade_no = otn, .description = "fine", .total_fen = fen,
                        .notify_url = "http://127.0.0.1:9/notify"};
  pay_prepay_res res;
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_prepay(pay_channels_find(chans, chan), &req, 5000, &res, code), 0);
}

/* The payer pays otn in the simulator's wallet; its notification never comes. */
static void payer_pays(const char *otn) {
  char body[160], path[32];
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"payer\":\"o_test\",\"notify\":\"none\"}", otn);
  snprintf(path, sizeof path, "/%s/sim/pay", chan);
  assert_int_equal(yw_testpaysim_post(&sim, path, body), 200);
}

/* The payer pays otn in the simulator's wallet at at (the channel's success time); its
 * notification never comes. */
static void payer_pays_at(const char *otn, int64_t at) {
  char body[200], path[32], when[PAY_TIME_MAX];
  snprintf(
      body, sizeof body,
      "{\"out_trade_no\":\"%s\",\"payer\":\"o_test\",\"notify\":\"none\",\"success_time\":\"%s\"}",
      otn, pay_time_format(at, when));
  snprintf(path, sizeof path, "/%s/sim/pay", chan);
  assert_int_equal(yw_testpaysim_post(&sim, path, body), 200);
}

/* The platform books otn paid at at, as a notification would (genuine or forged). */
static void platform_paid(const char *otn, int64_t fen, int64_t at) {
  yw_pg_error err;
  pay_book_outcome o = 0;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(pay_book_paid(conn, chan, otn, "4200000500", fen, at, 0, "channel", &o, &err), 0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
  assert_int_equal(o, PAY_BOOK_PAID);
}

/* Runs the day as RunReconciliation does: the run, then its automatic part (each
 * question bounded by 1 s). */
static void run_auto(const char *date, fin_run *run, fin_auto *au) {
  char msg[FIN_MSG_MAX];
  int rc = run_day(date, "alice", run, msg);
  if (rc != 0) fprintf(stderr, "run: %s\n", msg);
  assert_int_equal(rc, 0);
  rc = fin_recon_auto(&pdb, chan, date, pay_channels_find(chans, chan), 1000, NULL, au, msg);
  if (rc != 0) fprintf(stderr, "auto: %s\n", msg);
  assert_int_equal(rc, 0);
}

/* "STATUS/AUTO_ACTION" of the exception of key on statement_id ("OPEN/-": not acted on). */
static const char *exc_state(int64_t statement_id, const char *key) {
  char sid[24];
  return text_of("SELECT status || '/' || COALESCE(auto_action, '-') FROM payment.recon_exceptions "
                 "WHERE statement_id = $1::bigint AND key = $2",
                 2, num(statement_id, sid), key);
}

static const char *order_status(const char *otn) {
  return text_of("SELECT o.status FROM payment.orders o JOIN payment.channel_orders c "
                 "ON c.order_id = o.id WHERE c.out_trade_no = $1",
                 1, otn);
}

/* What the automatic pass did: the channel silent or not, questions answered,
 * exceptions acted on and left. */
static void auto_was(const fin_auto *au, int unanswered, int asked, int done, int left) {
  assert_int_equal(au->unanswered, unanswered);
  assert_int_equal(au->asked, asked);
  assert_int_equal(au->n_done, done);
  assert_int_equal(au->left, left);
}

static long long journals_of(const char *kind, const char *ref) {
  return value_of("SELECT count(*) FROM payment.journal WHERE kind = $1 AND ref = $2", 2, kind, ref);
}

static long long auto_audits(void) {
  return count_of("SELECT count(*) FROM payment.audit_log WHERE action LIKE 'recon.auto%' "
                  "AND actor = 'system'");
}

/* The issue's automatic part on a day with every kind: a channel-only payment of ours
 * the channel confirms is booked PAID and resolved; one it does not confirm and one
 * naming no order of ours (not asked) are held in suspense and left open for finance; a
 * platform-only payment the channel never took is reversed by a new journal and its
 * order EXCEPTION; one the channel has but left off its statement is noted and left
 * open. Each once: a re-run asks and books nothing. Finance then refunds one held row
 * and writes off the other without moving the money twice. */
static void the_run_asks_the_channel_about_one_sided_rows_once(void **state) {
  (void)state;
  const int64_t at = D40 + 10 * 3600;
  const char *booked = "2027011000000000000001", *unconfirmed = "2027011000000000000002",
             *forged = "2027011000000000000003", *unlisted = "2027011000000000000004";
  /* the pass takes the last FIN_AUTO_DAYS days: what earlier tests, which ran no pass,
   * left open is acted on first, so this day's pass and balances are its own */
  fin_auto earlier;
  char emsg[FIN_MSG_MAX];
  assert_int_equal(fin_recon_auto(&pdb, chan, "2027-01-09", pay_channels_find(chans, chan), 1000,
                                  NULL, &earlier, emsg),
                   0);
  int64_t recv = balance("channel_receivable:sim"), susp = balance("suspense"),
          clearing = balance("clearing_bank"), treasury = balance("treasury_payable:320700-GA:FINE01");
  order_at_channel("32070000000000000101", booked, 1200);
  payer_pays(booked); /* its notification lost */
  order_at_channel("32070000000000000102", unconfirmed, 800); /* never paid */
  order_at_channel("32070000000000000103", forged, 600);
  platform_paid(forged, 600, at); /* booked; the channel never took it */
  order_at_channel("32070000000000000104", unlisted, 400);
  payer_pays(unlisted);
  platform_paid(unlisted, 400, at); /* the channel has it; its statement will not */
  platform_books("pay", "M-20270110", 500, at);
  pay_stmt_row rows[] = {pay_row(booked, 1200, at), pay_row(unconfirmed, 800, at + 60),
                         pay_row("STRANGER-0110", 300, at + 120), pay_row("M-20270110", 500, at)};
  fin_statement st;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-01-10", rows, 4, "alice", &st, msg), 0);
  fin_run run;
  fin_auto au;
  run_auto("2027-01-10", &run, &au);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 1);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 3);
  assert_int_equal(run.count[PAY_RECON_PLATFORM_ONLY], 2);
  auto_was(&au, 0, 4, 5, 0); /* the stranger is not asked about */
  /* confirmed: PAID through the payment's booking, settled, resolved by the system */
  assert_string_equal(exc_state(st.id, booked), "RESOLVED/BOOK");
  assert_string_equal(order_status(booked), "PAID");
  assert_int_equal(journals_of("pay", booked), 1);
  assert_int_equal(settle_journals(st.id, booked), 1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE key = $1 "
                            "AND action = 'BOOK' AND proposed_by = 'system' AND decided_by = 'system'",
                            1, booked),
                   1);
  /* not confirmed, and not ours: held in suspense and settled, open for finance */
  assert_string_equal(exc_state(st.id, unconfirmed), "OPEN/SUSPENSE");
  assert_string_equal(order_status(unconfirmed), "PAYING");
  assert_string_equal(exc_state(st.id, "STRANGER-0110"), "OPEN/SUSPENSE");
  char held_a[80], held_b[80];
  snprintf(held_a, sizeof held_a, "sim:%lld:PAY:%s:0", (long long)st.id, unconfirmed);
  snprintf(held_b, sizeof held_b, "sim:%lld:PAY:STRANGER-0110:0", (long long)st.id);
  assert_int_equal(journals_of("recon_suspense", held_a), 1);
  assert_int_equal(journals_of("recon_suspense", held_b), 1);
  assert_int_equal(settle_journals(st.id, "STRANGER-0110"), 1);
  /* the channel never took it: reversed by a new journal, the order EXCEPTION */
  assert_string_equal(exc_state(st.id, forged), "RESOLVED/REVERSE");
  assert_string_equal(order_status(forged), "EXCEPTION");
  assert_int_equal(value_of("SELECT count(*) FROM payment.orders o JOIN payment.channel_orders c "
                            "ON c.order_id = o.id WHERE c.out_trade_no = $1 "
                            "AND o.exception_reason LIKE 'reversed automatically: the channel says NOTPAY%'",
                            1, forged),
                   1);
  assert_int_equal(journals_of("pay", forged), 1);
  assert_int_equal(journals_of("pay_reversal", forged), 1);
  /* the reversal is effective when the payment was (the day's report nets it there),
   * and its order's consumers hear of it */
  assert_int_equal(value_of("SELECT count(*) FROM payment.journal r JOIN payment.journal p "
                            "ON p.kind = 'pay' AND p.ref = r.ref WHERE r.kind = 'pay_reversal' "
                            "AND r.ref = $1 AND r.effective_at = p.effective_at",
                            1, forged),
                   1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.outbox o JOIN payment.channel_orders c "
                            "ON o.aggregate_key = c.order_id::text WHERE c.out_trade_no = $1 "
                            "AND o.type = 'payment.order_reversed'",
                            1, forged),
                   1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.order_events e JOIN payment.channel_orders c "
                            "ON c.order_id = e.order_id WHERE c.out_trade_no = $1 "
                            "AND e.from_status = 'PAID' AND e.to_status = 'EXCEPTION' "
                            "AND e.reason LIKE '%says NOTPAY%'",
                            1, forged),
                   1);
  /* the channel has it but its statement does not: noted, open, nothing booked */
  assert_string_equal(exc_state(st.id, unlisted), "OPEN/CHANNEL_HAS");
  assert_string_equal(order_status(unlisted), "PAID");
  assert_true(strstr(text_of("SELECT note FROM payment.recon_exceptions WHERE key = $1", 1, unlisted),
                     "says SUCCESS") != NULL);
  /* audited once each, by the system */
  assert_int_equal(audits("recon.auto_book", exception_of(st.id, booked), "system", "%amount_fen=1200"), 1);
  assert_int_equal(audits("recon.auto_suspense", exception_of(st.id, unconfirmed), "system", NULL), 1);
  assert_int_equal(audits("recon.auto_suspense", exception_of(st.id, "STRANGER-0110"), "system", NULL), 1);
  assert_int_equal(audits("recon.auto_reverse", exception_of(st.id, forged), "system", "%amount_fen=600"), 1);
  assert_int_equal(audits("recon.auto_note", exception_of(st.id, unlisted), "system", NULL), 1);
  /* the balances: what the channel owes is only the unlisted payment; suspense holds
   * the two rows; the bank got every statement row net of its fee; the treasury is owed
   * the booked, unlisted and matched payments, not the reversed one */
  assert_int_equal(balance("channel_receivable:sim") - recv, 400);
  assert_int_equal(balance("suspense") - susp, -(800 + 300));
  assert_int_equal(balance("clearing_bank") - clearing,
                   1200 - fee_of(1200) + 800 - fee_of(800) + 300 - fee_of(300) + 500 - fee_of(500));
  assert_int_equal(balance("treasury_payable:320700-GA:FINE01") - treasury, -(1200 + 400 + 500));

  /* a re-run of the day: identical results, nothing asked, booked or audited again */
  char *before = results_text(st.id);
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  long long autos = auto_audits();
  fin_auto again;
  run_auto("2027-01-10", &run, &again);
  auto_was(&again, 0, 0, 0, 0);
  char *after = results_text(st.id);
  assert_string_equal(after, before);
  free(before);
  free(after);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  assert_int_equal(auto_audits(), autos);

  /* finance resolves the held rows: the refund moves suspense to refund_payable once, the
   * write-off moves nothing (the money is in suspense already) */
  int64_t held = exception_of(st.id, unconfirmed), stranger = exception_of(st.id, "STRANGER-0110");
  int64_t refund = balance("refund_payable:sim");
  assert_int_equal(propose(held, "REFUND", "not ours after all", "alice", msg), 0);
  assert_int_equal(decide(held, 1, "", "bob", msg), 0);
  assert_int_equal(balance("suspense") - susp, -300);
  assert_int_equal(balance("refund_payable:sim") - refund, -800);
  assert_int_equal(journals_of("recon_resolve", "sim:2027-01-10:PAY:2027011000000000000002:0"), 1);
  assert_int_equal(propose(stranger, "WRITE_OFF", "a stranger's payment", "alice", msg), 0);
  assert_int_equal(decide(stranger, 1, "", "bob", msg), 0);
  assert_int_equal(balance("suspense") - susp, -300);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals + 1);
  char id[24];
  assert_int_equal(value_of("SELECT count(*) FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND status = 'RESOLVED' AND decided_by = 'bob' "
                            "AND journal_ref = 'recon_suspense:' || $2",
                            2, num(stranger, id), held_b),
                   1);
  assert_int_equal(balance("clearing_bank") - clearing,
                   1200 - fee_of(1200) + 800 - fee_of(800) + 300 - fee_of(300) + 500 - fee_of(500));
}

/* The channel paused (the simulator stopped with SIGSTOP): the first question is not
 * answered within its bound, nothing more is asked, the rows stay open and nothing is
 * booked. Once it answers again the next run acts on them, once. */
static void a_silent_channel_leaves_the_rows_for_the_next_run(void **state) {
  (void)state;
  const int64_t at = D40 + 86400 + 9 * 3600;
  const char *booked = "2027011100000000000001", *forged = "2027011100000000000002";
  order_at_channel("32070000000000000111", booked, 900);
  payer_pays(booked);
  order_at_channel("32070000000000000112", forged, 700);
  platform_paid(forged, 700, at);
  pay_stmt_row rows[] = {pay_row(booked, 900, at)};
  fin_statement st;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-01-11", rows, 1, "alice", &st, msg), 0);
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  long long autos = auto_audits();
  assert_int_equal(kill(sim.pid, SIGSTOP), 0);
  fin_run run;
  fin_auto au;
  run_auto("2027-01-11", &run, &au);
  assert_int_equal(kill(sim.pid, SIGCONT), 0);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 1);
  assert_int_equal(run.count[PAY_RECON_PLATFORM_ONLY], 1);
  auto_was(&au, 1, 0, 0, 2);
  assert_string_equal(exc_state(st.id, booked), "OPEN/-");
  assert_string_equal(exc_state(st.id, forged), "OPEN/-");
  assert_string_equal(order_status(booked), "PAYING");
  assert_string_equal(order_status(forged), "PAID");
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
  assert_int_equal(auto_audits(), autos);
  /* answering again: the next run acts on both */
  run_auto("2027-01-11", &run, &au);
  auto_was(&au, 0, 2, 2, 0);
  assert_string_equal(exc_state(st.id, booked), "RESOLVED/BOOK");
  assert_string_equal(exc_state(st.id, forged), "RESOLVED/REVERSE");
  assert_string_equal(order_status(booked), "PAID");
  assert_string_equal(order_status(forged), "EXCEPTION");
  /* pay + settle of the booked row, the reversal of the forged one */
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals + 3);
  run_auto("2027-01-11", &run, &au);
  auto_was(&au, 0, 0, 0, 0);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals + 3);
}

/* A day whose run held a stranger's row in suspense, replaced by a corrected file: the
 * import takes back what the first run held (a reversing journal), the new run holds the
 * rows of its own file; a file without the row leaves nothing held for it. */
static void a_replaced_statement_gives_back_what_its_run_held(void **state) {
  (void)state;
  const int64_t at = D40 + 10 * 86400 + 3600; /* 2027-01-20 01:00 */
  pay_stmt_row one[] = {pay_row("STRANGER-A", 300, at)};
  pay_stmt_row two[] = {pay_row("STRANGER-A", 300, at), pay_row("STRANGER-B", 200, at + 60)};
  pay_stmt_row three[] = {pay_row("STRANGER-B", 200, at + 60)};
  int64_t susp = balance("suspense"), recv = balance("channel_receivable:sim");
  fin_statement a, b, c;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-01-20", one, 1, "alice", &a, msg), 0);
  run_auto("2027-01-20", &run, &au);
  auto_was(&au, 0, 0, 1, 0);
  assert_int_equal(balance("suspense") - susp, -300);
  assert_int_equal(import_rows("2027-01-20", two, 2, "alice", &b, msg), 0);
  assert_int_equal(b.superseded_id, a.id);
  assert_int_equal(balance("suspense"), susp); /* taken back with the file */
  assert_int_equal(balance("channel_receivable:sim"), recv);
  run_auto("2027-01-20", &run, &au);
  auto_was(&au, 0, 0, 2, 0);
  assert_string_equal(exc_state(a.id, "STRANGER-A"), "SUPERSEDED/SUSPENSE");
  assert_string_equal(exc_state(b.id, "STRANGER-A"), "OPEN/SUSPENSE");
  assert_int_equal(balance("suspense") - susp, -500);
  assert_int_equal(import_rows("2027-01-20", three, 1, "alice", &c, msg), 0);
  run_auto("2027-01-20", &run, &au);
  auto_was(&au, 0, 0, 1, 0);
  assert_int_equal(balance("suspense") - susp, -200);
  assert_int_equal(balance("channel_receivable:sim"), recv);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal WHERE kind = 'recon_suspense_reversal' "
                            "AND ref LIKE 'sim:%:PAY:STRANGER-%'"),
                   3);
}

/* On channel sim-sm2 (whose days no other test has a statement of): the payer paid an
 * order twice, on its channel order first and on a second one (closed); the platform
 * booked the first at at. rows gets the day's two statement rows. Returns the channel. */
static const pay_channel *paid_twice_on_sm2(const char *notice, const char *first,
                                            const char *second, int64_t fen, int64_t at,
                                            pay_stmt_row rows[2]) {
  chan = "sim-sm2";
  chan_mchid = "1900000002";
  order_paying_with_a_closed_second(notice, first, second, fen);
  prepay_at_channel(first, fen);
  prepay_at_channel(second, fen);
  payer_pays(first);
  payer_pays(second);
  platform_paid(first, fen, at);
  rows[0] = pay_row(first, fen, at);
  rows[1] = pay_row(second, fen, at + 60);
  rows[0].mchid = rows[1].mchid = "1900000002";
  return pay_channels_find(chans, chan);
}

/* Drives time for refund to the payer orn: its next try is now (never by sleeping). */
static void refund_due(const char *orn) {
  const char *p[1] = {orn};
  PGresult *r =
      PQexecParams(conn,
                   "UPDATE payment.recon_refunds SET next_try_at = now() - interval '1 second' "
                   "WHERE out_refund_no = $1 AND next_try_at IS NOT NULL",
                   1, NULL, p, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  assert_string_equal(PQcmdTuples(r), "1");
  PQclear(r);
}

/* REFUND asks the channel to pay the payer back (on channel sim-sm2, whose days no other
 * test has a statement of): a second payment found by the run (held in suspense by the
 * payment path) is refunded by finance; the channel stopped (SIGSTOP) leaves the refund
 * PENDING with the money in refund_payable, the next call refunds it at the channel
 * (its trade REFUND) and books recon_refund once, with the same out_refund_no; the
 * channel's statement of the refund's day then matches the refund and settles it. */
static void a_refund_is_paid_back_by_the_channel(void **state) {
  (void)state;
  const int64_t at = D40 + 15 * 86400 + 3600; /* 2027-01-25 01:00 */
  const char *first = "2027012500000000000001", *second = "2027012500000000000002";
  pay_stmt_row rows[2];
  const pay_channel *ch = paid_twice_on_sm2("32070000000000000125", first, second, 600, at, rows);
  int64_t payable = balance("refund_payable:sim-sm2"), susp = balance("suspense");
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-01-25", rows, 2, "alice", &st, msg), 0);
  run_auto("2027-01-25", &run, &au);
  auto_was(&au, 0, 1, 1, 0);
  assert_string_equal(exc_state(st.id, second), "OPEN/SUSPENSE");
  assert_int_equal(balance("suspense") - susp, -600);
  int64_t exc = exception_of(st.id, second);
  char orn[24];
  snprintf(orn, sizeof orn, "RC%010lld", (long long)exc);
  /* approved while the channel does not answer */
  assert_int_equal(propose(exc, "REFUND", "paid twice", "alice", msg), 0);
  assert_int_equal(decide(exc, 1, "", "bob", msg), 0);
  assert_int_equal(balance("refund_payable:sim-sm2") - payable, -600);
  assert_int_equal(balance("suspense") - susp, 0);
  assert_int_equal(kill(sim.pid, SIGSTOP), 0);
  fin_refunds fr;
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 1000, NULL, &fr, msg), 0);
  assert_int_equal(kill(sim.pid, SIGCONT), 0);
  assert_int_equal(fr.unanswered, 1);
  assert_int_equal(fr.left, 1);
  assert_string_equal(
      text_of("SELECT status || '/' || attempts || '/' || misses FROM "
              "payment.recon_refunds WHERE out_refund_no = $1 AND next_try_at > now()",
              1, orn),
      "PENDING/1/1");
  assert_int_equal(journals_of("recon_refund", orn), 0);
  /* not asked again before its next try */
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 1000, NULL, &fr, msg), 0);
  assert_int_equal(fr.asked + fr.unanswered, 0);
  assert_int_equal(fr.left, 1);
  assert_int_equal(
      value_of("SELECT attempts FROM payment.recon_refunds WHERE out_refund_no = $1", 1, orn), 1);
  /* its time has come: refunded at the channel, booked once */
  refund_due(orn);
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 1000, NULL, &fr, msg), 0);
  assert_int_equal(fr.succeeded, 1);
  assert_int_equal(fr.left, 0);
  assert_string_equal(text_of("SELECT status FROM payment.recon_refunds WHERE out_refund_no = $1", 1,
                              orn),
                      "SUCCESS");
  assert_int_equal(journals_of("recon_refund", orn), 1);
  assert_int_equal(balance("refund_payable:sim-sm2"), payable);
  assert_int_equal(audits("recon.refund", exc, "system", "%amount_fen=600"), 1);
  assert_string_equal(
      text_of("SELECT attempts || '/' || misses || '/' || (next_try_at IS NULL) FROM "
              "payment.recon_refunds WHERE out_refund_no = $1",
              1, orn),
      "2/0/true");
  pay_query_res said;
  assert_int_equal(fin_channel_ask(ch, second, 3000, &said), 0);
  assert_int_equal(said.state, PAY_TRADE_REFUND);
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 1000, NULL, &fr, msg), 0);
  assert_int_equal(fr.asked, 0);
  assert_int_equal(journals_of("recon_refund", orn), 1);
  /* the channel's statement of the refund's day: its REFUND row matches the platform's
   * recon_refund and is settled */
  char day[16];
  int64_t when = value_of("SELECT extract(epoch FROM effective_at)::bigint FROM payment.journal "
                          "WHERE kind = 'recon_refund' AND ref = $1",
                          1, orn);
  snprintf(day, sizeof day, "%s",
           text_of("SELECT to_char(to_timestamp($1::bigint) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')",
                   1, num(when, (char[24]){0})));
  pay_stmt_row back[] = {refund_row(second, orn, 600, 600, when)};
  back[0].mchid = "1900000002";
  assert_int_equal(import_rows(day, back, 1, "alice", &st, msg), 0);
  int rc = run_day(day, "alice", &run, msg);
  if (rc != 0) fprintf(stderr, "run: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_string_equal(class_of(st.id, "REFUND", orn), "MATCHED");
  assert_int_equal(run.settled, 1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.journal WHERE kind = 'settle' AND ref = $1",
                            1, text_of("SELECT 'sim-sm2:' || $1 || ':run:1'", 1,
                                       num(st.id, (char[24]){0}))),
                   1);
  chan = "sim";
  chan_mchid = "1900000001";
}

/* The matched rows of a run are settled by one journal, its postings the rows' sums per
 * account (ref <channel>:<statement>:run:<run>); a later run that stores new matched keys
 * settles them by a journal of its own run, the first one untouched; a re-run of the day
 * books nothing. */
static void matched_rows_are_settled_by_one_journal_a_run(void **state) {
  (void)state;
  const int64_t d = D1 + 81 * 86400; /* 2027-02-20 */
  platform_books("pay", "M-1", 1000, d + 3600);
  platform_books("pay", "M-2", 2000, d + 7200);
  platform_books("refund", "M-1R", 400, d + 10800);
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX], id[24];
  const int64_t clearing = balance("clearing_bank"), fee = balance("channel_fee:sim");
  pay_stmt_row rows[] = {pay_row("M-1", 1000, d + 3600), pay_row("M-2", 2000, d + 7200),
                         refund_row("M-1", "M-1R", 1000, 400, d + 10800)};
  assert_int_equal(import_rows("2027-02-20", rows, 3, "alice", &st, msg), 0);
  assert_int_equal(run_day("2027-02-20", "alice", &run, msg), 0);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 3);
  assert_int_equal(run.settled, 3);
  /* one journal: receivable -(1000 + 2000 - 400), clearing the net of the fees
   * (6 + 12 - 2), the fees to channel_fee */
  assert_int_equal(value_of("SELECT count(*) FROM payment.journal WHERE kind = 'settle' "
                            "AND ref LIKE 'sim:' || $1 || ':%'",
                            1, num(st.id, id)),
                   1);
  assert_int_equal(value_of("SELECT p.amount_fen FROM payment.journal j JOIN payment.postings p "
                            "ON p.journal_id = j.id WHERE j.kind = 'settle' AND j.ref = 'sim:' "
                            "|| $1 || ':run:1' AND p.account = 'channel_receivable:sim'",
                            1, num(st.id, id)),
                   -2600);
  assert_int_equal(balance("clearing_bank"), clearing + 2600 - 16);
  assert_int_equal(balance("channel_fee:sim"), fee + 16);

  /* a later run storing a new matched key (M-3): settled under run 2 */
  pay_recon_item ch = {.kind = PAY_STMT_PAY, .key = "M-3", .out_trade_no = "M-3",
                       .amount_fen = 500, .fee_fen = 3, .time_unix = d + 14400, .ref = 4};
  pay_recon_item pf = ch;
  pf.fee_fen = 0;
  pay_recon_result extra = {.cls = PAY_RECON_MATCHED, .channel = &ch, .platform = &pf};
  yw_pg_error err;
  int64_t stored = 0, settled = 0, settled_fen = 0;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(pay_recon_store_results(conn, st.id, &extra, 1, &stored, &err), 0);
  assert_int_equal(stored, 1);
  assert_int_equal(pay_recon_settle_matched(conn, "sim", st.id, &settled, &settled_fen, &err), 0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
  assert_int_equal(settled, 1);
  assert_int_equal(settled_fen, 500);
  assert_int_equal(value_of("SELECT run FROM payment.recon_results WHERE statement_id = $1::bigint "
                            "AND key = 'M-3'",
                            1, num(st.id, id)),
                   2);
  assert_int_equal(run_journals("settle", st.id, 2), 1);
  assert_int_equal(balance("clearing_bank"), clearing + 2600 - 16 + 497);
  /* the day again: nothing */
  long long journals = count_of("SELECT count(*) FROM payment.journal");
  assert_int_equal(run_day("2027-02-20", "bob", &run, msg), 0);
  assert_int_equal(run.settled, 0);
  assert_int_equal(count_of("SELECT count(*) FROM payment.journal"), journals);
}

/* 1 when a request waits unread at the simulator (stopped): a socket of its port with
 * bytes in its receive queue (/proc/net/tcp: local address, then tx_queue:rx_queue). */
static int question_waits_at_the_channel(void) {
  FILE *f = fopen("/proc/net/tcp", "r");
  if (f == NULL) return 0;
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    unsigned port = 0, rx = 0, tx = 0;
    if (sscanf(line, " %*d: %*8x:%4x %*8x:%*4x %*2x %8x:%8x", &port, &tx, &rx) == 3)
      found = (int)port == sim.port && rx > 0;
  }
  fclose(f);
  return found;
}

struct auto_job {
  const char *date;
  fin_auto au;
  int rc;
  volatile int done;
};

static void *auto_thread(void *arg) {
  struct auto_job *j = arg;
  char msg[FIN_MSG_MAX];
  j->rc = fin_recon_auto(&pdb, chan, j->date, pay_channels_find(chans, chan), 10000, NULL, &j->au,
                         msg);
  j->done = 1;
  return NULL;
}

/* The automatic pass holds no connection while the channel is asked: with the simulator
 * stopped and the pass's question waiting at it, the pool's last free connection is
 * there for anyone else; once the channel answers the pass takes one for its action
 * (the platform-only payment reversed). */
static void a_slow_channel_holds_no_connection(void **state) {
  (void)state;
  const int64_t at = D40 + 54 * 86400 + 10 * 3600; /* 2027-03-05 */
  const char *forged = "2027030500000000000001";
  order_at_channel("32070000000000000305", forged, 450);
  platform_paid(forged, 450, at);
  pay_stmt_row rows[] = {pay_row("M-20270305", 500, at)};
  platform_books("pay", "M-20270305", 500, at);
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-03-05", rows, 1, "alice", &st, msg), 0);
  assert_int_equal(run_day("2027-03-05", "alice", &run, msg), 0);
  assert_int_equal(run.count[PAY_RECON_PLATFORM_ONLY], 1);
  assert_int_equal(kill(sim.pid, SIGSTOP), 0);
  struct auto_job job = {.date = "2027-03-05"};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, auto_thread, &job), 0);
  /* polled with a bound: the question reaches the stopped channel */
  int waits = 0;
  for (int i = 0; i < 800 && !waits && !job.done; i++) {
    waits = question_waits_at_the_channel();
    if (!waits) usleep(10 * 1000);
  }
  assert_true(waits);
  /* the pool's other connection is free while the pass waits for the channel */
  PGconn *other = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(other);
  assert_false(job.done);
  yw_pg_pool_release(pool, other);
  assert_int_equal(kill(sim.pid, SIGCONT), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(job.rc, 0);
  auto_was(&job.au, 0, 1, 1, 0);
  assert_string_equal(exc_state(st.id, forged), "RESOLVED/REVERSE");
  assert_string_equal(order_status(forged), "EXCEPTION");
}

/* A recon refund answered 429 FREQUENCY_LIMITED (the simulator's "busy" fault: the refund
 * IS made at the channel) is an outcome not known: it must stay PENDING and be asked
 * again, as payment.c's refunds do (pay_refund_refused). */
static void a_busy_answer_leaves_a_recon_refund_pending(void **state) {
  (void)state;
  const int64_t at = D40 + 85 * 86400 + 3600; /* 2027-04-05 01:00 */
  const char *first = "2027040500000000000001", *second = "2027040500000000000002";
  pay_stmt_row rows[2];
  const pay_channel *ch = paid_twice_on_sm2("32070000000000000405", first, second, 700, at, rows);
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-04-05", rows, 2, "alice", &st, msg), 0);
  run_auto("2027-04-05", &run, &au);
  int64_t exc = exception_of(st.id, second);
  char orn[24];
  snprintf(orn, sizeof orn, "RC%010lld", (long long)exc);
  assert_int_equal(propose(exc, "REFUND", "paid twice", "alice", msg), 0);
  assert_int_equal(decide(exc, 1, "", "bob", msg), 0);
  /* the channel makes the refund and answers 429 FREQUENCY_LIMITED */
  assert_int_equal(
      yw_testpaysim_post(&sim, "/sim-sm2/sim/fault", "{\"refund\":\"busy\",\"times\":1}"), 200);
  fin_refunds fr;
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 3000, NULL, &fr, msg), 0);
  pay_query_res said;
  assert_int_equal(fin_channel_ask(ch, second, 3000, &said), 0);
  chan = "sim";
  chan_mchid = "1900000001";
  assert_int_equal(said.state, PAY_TRADE_REFUND); /* the payer has the money back */
  assert_string_equal(text_of("SELECT status FROM payment.recon_refunds WHERE out_refund_no = $1 "
                              "AND next_try_at > now()",
                              1, orn),
                      "PENDING");
  /* asked again once its time comes: the channel answers the refund it made */
  refund_due(orn);
  assert_int_equal(fin_refunds_send(&pdb, chans, "sim-sm2", 3000, NULL, &fr, msg), 0);
  assert_int_equal(fr.succeeded, 1);
  assert_string_equal(
      text_of("SELECT status FROM payment.recon_refunds WHERE out_refund_no = $1", 1, orn),
      "SUCCESS");
  assert_int_equal(journals_of("recon_refund", orn), 1);
}

/* Two statement rows of one key (dup 0 and dup 1) naming no order of ours: each is held
 * in suspense and each is settled (the settle ref names the row's dup), so
 * channel_receivable keeps nothing of either. */
static void rows_of_one_key_are_each_settled(void **state) {
  (void)state;
  const int64_t at = D40 + 95 * 86400 + 3600; /* 2027-04-15 01:00 */
  int64_t recv = balance("channel_receivable:sim"), susp = balance("suspense");
  pay_stmt_row rows[] = {pay_row("STRANGER-DUP", 300, at), pay_row("STRANGER-DUP", 300, at + 60)};
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-04-15", rows, 2, "alice", &st, msg), 0);
  run_auto("2027-04-15", &run, &au);
  assert_int_equal(balance("suspense") - susp, -600);
  assert_int_equal(balance("channel_receivable:sim") - recv, 0);
}

/* Our order paid once, listed twice by the channel's statement: the second row is
 * CHANNEL_ONLY and the channel's query says SUCCESS for the one payment, which the first
 * row matched: the pass neither books it paid again nor settles the row a second time
 * (channel_receivable would go negative by the order's amount); it is left OPEN for
 * finance with the platform's amount beside it. */
static void a_row_listed_twice_is_not_booked_twice(void **state) {
  (void)state;
  const int64_t at = D40 + 105 * 86400 + 3600; /* 2027-04-25 01:00 */
  const char *otn = "2027042500000000000001";
  int64_t recv = balance("channel_receivable:sim");
  order_at_channel("32070000000000000425", otn, 700);
  payer_pays(otn);
  platform_paid(otn, 700, at);
  pay_stmt_row rows[] = {pay_row(otn, 700, at), pay_row(otn, 700, at + 60)};
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-04-25", rows, 2, "alice", &st, msg), 0);
  run_auto("2027-04-25", &run, &au);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 1);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 1);
  /* the second row held in suspense and settled: the receivable nets to nothing */
  assert_string_equal(exc_state(st.id, otn), "OPEN/SUSPENSE");
  assert_int_equal(journals_of("pay", otn), 1);
  assert_int_equal(settle_journals(st.id, otn), 1);
  assert_int_equal(balance("channel_receivable:sim") - recv, 0);
  /* finance's BOOK of it is refused too: the one payment is the first row's */
  int64_t exc = exception_of(st.id, otn);
  assert_int_equal(propose(exc, "BOOK", "the channel says paid", "alice", msg), 0);
  pay_query_res paid = channel_paid(700, at);
  assert_int_equal(decide_said(exc, 1, "", "bob", &paid, msg), YW_EPRECOND);
  assert_int_equal(journals_of("pay", otn), 1);
  assert_int_equal(balance("channel_receivable:sim") - recv, 0);
}

/* A day whose run auto-BOOKed one row and noted another CHANNEL_HAS ("ask the channel for
 * its corrected statement"): the corrected statement replaces it (the system's own
 * resolutions do not hold a statement), and its run matches both rows. */
static void a_corrected_statement_can_replace_an_auto_resolved_day(void **state) {
  (void)state;
  const int64_t at = D40 + 115 * 86400 + 3600; /* 2027-05-05 01:00 */
  const char *lost = "2027050500000000000001", *unlisted = "2027050500000000000002";
  order_at_channel("32070000000000000505", lost, 500);
  payer_pays_at(lost, at); /* its notification lost */
  order_at_channel("32070000000000000506", unlisted, 400);
  payer_pays(unlisted);
  platform_paid(unlisted, 400, at); /* the statement will lack it */
  pay_stmt_row rows[] = {pay_row(lost, 500, at)};
  pay_stmt_row corrected[] = {pay_row(lost, 500, at), pay_row(unlisted, 400, at)};
  fin_statement st, st2;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-05-05", rows, 1, "alice", &st, msg), 0);
  run_auto("2027-05-05", &run, &au);
  assert_string_equal(exc_state(st.id, lost), "RESOLVED/BOOK");
  assert_string_equal(exc_state(st.id, unlisted), "OPEN/CHANNEL_HAS");
  int rc = import_rows("2027-05-05", corrected, 2, "alice", &st2, msg);
  assert_int_equal(rc, 0);
  assert_int_equal(st2.superseded_id, st.id);
  /* the corrected run matches both: the payment the pass booked, the one the file lacked */
  run_auto("2027-05-05", &run, &au);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 2);
  assert_string_equal(class_of(st2.id, "PAY", lost), "MATCHED");
  assert_string_equal(class_of(st2.id, "PAY", unlisted), "MATCHED");
  assert_int_equal(journals_of("pay", lost), 1);
}

/* A payment the pass reversed (the channel said NOTPAY) is off the platform's side of a
 * replacing statement's run: it does not come back as PLATFORM_ONLY. */
static void a_reversed_payment_is_off_a_replaced_days_platform_side(void **state) {
  (void)state;
  const int64_t at = D40 + 120 * 86400 + 3600; /* 2027-05-10 01:00 */
  const char *paid = "2027051000000000000001", *forged = "2027051000000000000002";
  order_at_channel("32070000000000000510", paid, 300);
  payer_pays_at(paid, at);
  platform_paid(paid, 300, at);
  order_at_channel("32070000000000000511", forged, 200);
  platform_paid(forged, 200, at); /* the channel never took it */
  pay_stmt_row rows[] = {pay_row(paid, 300, at)};
  pay_stmt_row corrected[] = {pay_row(paid, 300, at + 1)};
  fin_statement st, st2;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-05-10", rows, 1, "alice", &st, msg), 0);
  run_auto("2027-05-10", &run, &au);
  assert_string_equal(exc_state(st.id, forged), "RESOLVED/REVERSE");
  assert_int_equal(import_rows("2027-05-10", corrected, 1, "alice", &st2, msg), 0);
  run_auto("2027-05-10", &run, &au);
  assert_int_equal(run.count[PAY_RECON_MATCHED], 1);
  assert_int_equal(run.count[PAY_RECON_PLATFORM_ONLY], 0);
  assert_int_equal(
      count_of("SELECT count(*) FROM payment.recon_exceptions e JOIN payment.statements s "
               "ON s.id = e.statement_id WHERE s.bill_date = '2027-05-10' "
               "AND s.superseded_by IS NULL"),
      0);
  assert_string_equal(order_status(forged), "EXCEPTION");
}

/* The pass takes the rows of earlier days, not only the day run: two payments of ours
 * whose notifications were lost, left unanswered by a stopped channel on their day, are
 * booked by the next day's run. The row asked and not answered is pushed back (its
 * attempt counted, a next try set): the row never tried comes first. */
static void the_pass_takes_earlier_days_and_tries_failed_rows_last(void **state) {
  (void)state;
  const int64_t at = D40 + 125 * 86400 + 3600; /* 2027-05-15 01:00 */
  const char *a = "2027051500000000000001", *b = "2027051500000000000002";
  order_at_channel("32070000000000000515", a, 600);
  payer_pays_at(a, at);
  order_at_channel("32070000000000000516", b, 650);
  payer_pays_at(b, at);
  pay_stmt_row rows[] = {pay_row(a, 600, at), pay_row(b, 650, at)};
  pay_stmt_row next[] = {pay_row("STRANGER-0516", 100, at + 86400)};
  fin_statement st, st2;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-05-15", rows, 2, "alice", &st, msg), 0);
  assert_int_equal(kill(sim.pid, SIGSTOP), 0);
  run_auto("2027-05-15", &run, &au);
  assert_int_equal(kill(sim.pid, SIGCONT), 0);
  auto_was(&au, 1, 0, 0, 2);
  /* a was asked and not answered: pushed back; b was not asked */
  char ida[24], idb[24];
  num(exception_of(st.id, a), ida);
  num(exception_of(st.id, b), idb);
  assert_int_equal(value_of("SELECT auto_tries FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND auto_next_at > now()",
                            1, ida),
                   1);
  assert_int_equal(value_of("SELECT auto_tries FROM payment.recon_exceptions WHERE id = $1::bigint "
                            "AND auto_next_at IS NULL",
                            1, idb),
                   0);
  /* the next day's run: its stranger held, and both of the day before booked, b first */
  assert_int_equal(import_rows("2027-05-16", next, 1, "alice", &st2, msg), 0);
  run_auto("2027-05-16", &run, &au);
  assert_string_equal(exc_state(st.id, a), "RESOLVED/BOOK");
  assert_string_equal(exc_state(st.id, b), "RESOLVED/BOOK");
  assert_string_equal(exc_state(st2.id, "STRANGER-0516"), "OPEN/SUSPENSE");
  assert_string_equal(order_status(a), "PAID");
  assert_string_equal(order_status(b), "PAID");
  size_t at_a = au.n_done, at_b = au.n_done;
  for (size_t i = 0; i < au.n_done; i++) {
    if (strcmp(au.done[i].out_trade_no, a) == 0) at_a = i;
    if (strcmp(au.done[i].out_trade_no, b) == 0) at_b = i;
  }
  assert_true(at_b < at_a);
  assert_true(at_a < au.n_done);
  assert_int_equal(settle_journals(st.id, a), 1);
  assert_int_equal(settle_journals(st.id, b), 1);
}

/* An order in EXCEPTION with nothing booked (the channel reported another amount before)
 * whose payment the channel's statement lists and its query confirms: the pass books it
 * as the notification path holds it (PAY_BOOK_HELD: the pay journal, the order left
 * EXCEPTION for finance), settles the row and resolves the exception, never holding the
 * booked payment in suspense as well. */
static void the_pass_books_the_held_payment_of_an_exception_order(void **state) {
  (void)state;
  const int64_t at = D40 + 135 * 86400 + 3600; /* 2027-05-25 01:00 */
  const char *otn = "2027052500000000000001";
  order_at_channel("32070000000000000525", otn, 900);
  payer_pays_at(otn, at);
  yw_pg_error err;
  pay_book_outcome o = 0;
  assert_int_equal(yw_pg_begin(conn, &err), 0);
  assert_int_equal(pay_book_paid(conn, chan, otn, "4200000525", 901, at, 0, "channel", &o, &err),
                   0);
  assert_int_equal(yw_pg_commit(conn, &err), 0);
  assert_int_equal(o, PAY_BOOK_AMOUNT_MISMATCH);
  assert_string_equal(order_status(otn), "EXCEPTION");
  int64_t recv = balance("channel_receivable:sim"), susp = balance("suspense");
  pay_stmt_row rows[] = {pay_row(otn, 900, at)};
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-05-25", rows, 1, "alice", &st, msg), 0);
  run_auto("2027-05-25", &run, &au);
  assert_string_equal(exc_state(st.id, otn), "RESOLVED/BOOK");
  assert_string_equal(order_status(otn), "EXCEPTION");
  assert_int_equal(journals_of("pay", otn), 1);
  assert_int_equal(settle_journals(st.id, otn), 1);
  assert_int_equal(balance("channel_receivable:sim"), recv);
  assert_int_equal(balance("suspense"), susp);
}

/* A row the pass held in suspense (the channel did not confirm it then) that the
 * platform booked since (its notification came late): the approval re-evaluates it, and
 * then only BOOK resolves it, moving the money back out of suspense once; REFUND and
 * WRITE_OFF, which would pay or keep the payment a second time, are refused. */
static void a_held_row_the_platform_booked_since_is_only_booked(void **state) {
  (void)state;
  const int64_t at = D40 + 145 * 86400 + 3600; /* 2027-06-04 01:00 */
  const char *otn = "2027060400000000000001";
  order_at_channel("32070000000000000604", otn, 800);
  int64_t recv = balance("channel_receivable:sim"), susp = balance("suspense"),
          payable = balance("refund_payable:sim");
  pay_stmt_row rows[] = {pay_row(otn, 800, at)};
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-06-04", rows, 1, "alice", &st, msg), 0);
  run_auto("2027-06-04", &run, &au); /* the channel says NOTPAY: held */
  assert_string_equal(exc_state(st.id, otn), "OPEN/SUSPENSE");
  assert_int_equal(balance("suspense") - susp, -800);
  int64_t exc = exception_of(st.id, otn);
  assert_int_equal(propose(exc, "REFUND", "not ours", "alice", msg), 0);
  /* then the payer pays and the notification books it */
  payer_pays_at(otn, at);
  platform_paid(otn, 800, at);
  assert_int_equal(decide(exc, 1, "", "bob", msg), YW_ECONFLICT); /* re-evaluated */
  assert_int_equal(propose(exc, "REFUND", "not ours", "alice", msg), 0);
  assert_int_equal(decide(exc, 1, "", "bob", msg), YW_EPRECOND);
  assert_int_equal(decide(exc, 0, "", "bob", msg), 0);
  assert_int_equal(propose(exc, "WRITE_OFF", "keep it", "alice", msg), 0);
  assert_int_equal(decide(exc, 1, "", "bob", msg), YW_EPRECOND);
  assert_int_equal(decide(exc, 0, "", "bob", msg), 0);
  assert_int_equal(balance("refund_payable:sim"), payable);
  assert_int_equal(propose(exc, "BOOK", "paid after all", "alice", msg), 0);
  pay_query_res paid = channel_paid(800, at);
  assert_int_equal(decide_said(exc, 1, "", "bob", &paid, msg), 0);
  assert_string_equal(exc_state(st.id, otn), "RESOLVED/SUSPENSE");
  assert_int_equal(balance("suspense"), susp);
  assert_int_equal(balance("channel_receivable:sim"), recv);
  assert_int_equal(balance("refund_payable:sim"), payable);
  assert_int_equal(journals_of("pay", otn), 1);
  assert_int_equal(settle_journals(st.id, otn), 1);
}

/* "STATUS/attempts/action/proposed" of the refund to the payer orn. */
static const char *payer_refund(const char *orn) {
  return text_of("SELECT status || '/' || attempts || '/' || COALESCE(action, '-') || '/' || "
                 "(proposed_by IS NOT NULL AND decided_at IS NULL) FROM payment.recon_refunds "
                 "WHERE out_refund_no = $1",
                 1, orn);
}

static int payer_refund_version(const char *orn) {
  return (int)value_of("SELECT version FROM payment.recon_refunds WHERE out_refund_no = $1", 1, orn);
}

static long long refund_audits(const char *action, const char *orn, const char *actor) {
  return value_of("SELECT count(*) FROM payment.audit_log WHERE action = $1 AND target = $2 AND actor = $3",
                  3, action, orn, actor);
}

/* A refund to the payer the channel refuses (the stranger's trade is not the channel's:
 * ORDER_NOT_EXIST) ends FAILED with the channel's code; finance then decides it by
 * maker-checker: a retry (the proposer's own approval refused, a stale version refused)
 * is asked of the channel again with the same number, a rejection clears a proposal, a
 * write-off moves the money from refund_payable to suspense once (WRITTEN_OFF); only a
 * FAILED refund with no proposal pending is proposed. Every step audited. */
static void a_refused_refund_is_retried_or_written_off(void **state) {
  (void)state;
  const int64_t at = D40 + 55 * 86400 + 10 * 3600; /* 2027-03-06 */
  /* on sim-sm2: sim's queue holds refunds other tests left open */
  chan = "sim-sm2";
  chan_mchid = "1900000002";
  pay_stmt_row rows[] = {pay_row("STRANGER-0306A", 310, at), pay_row("STRANGER-0306B", 420, at + 60)};
  rows[0].mchid = rows[1].mchid = chan_mchid;
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-03-06", rows, 2, "alice", &st, msg), 0);
  run_auto("2027-03-06", &run, &au);
  int64_t a = exception_of(st.id, "STRANGER-0306A"), b = exception_of(st.id, "STRANGER-0306B");
  char orn_a[24], orn_b[24];
  snprintf(orn_a, sizeof orn_a, "RC%010lld", (long long)a);
  snprintf(orn_b, sizeof orn_b, "RC%010lld", (long long)b);
  /* a proposal on a refund that does not exist, or is not FAILED */
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "RETRY", "again", "alice", NULL, msg), YW_ENOTFOUND);
  assert_int_equal(propose(a, "REFUND", "a stranger's payment", "alice", msg), 0);
  assert_int_equal(decide(a, 1, "", "bob", msg), 0);
  assert_int_equal(propose(b, "REFUND", "a stranger's payment", "alice", msg), 0);
  assert_int_equal(decide(b, 1, "", "bob", msg), 0);
  assert_string_equal(payer_refund(orn_a), "PENDING/0/-/false");
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "RETRY", "again", "alice", NULL, msg), YW_EPRECOND);
  fin_refunds fr;
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 1000, NULL, &fr, msg), 0);
  assert_int_equal(fr.failed, 2);
  assert_string_equal(payer_refund(orn_a), "FAILED/1/-/false");
  assert_string_equal(text_of("SELECT last_error FROM payment.recon_refunds WHERE out_refund_no = $1", 1, orn_a),
                      "ORDER_NOT_EXIST");

  /* a retry: the maker's own approval refused, a stale version refused, then asked again */
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "RETRY", "", "alice", NULL, msg), YW_EINVAL);
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "REFUND", "x", "alice", NULL, msg), YW_EINVAL);
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "RETRY", "the channel had a bad day", "alice", NULL, msg),
                   0);
  assert_string_equal(payer_refund(orn_a), "FAILED/1/RETRY/true");
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "WRITE_OFF", "or not", "carol", NULL, msg), YW_EPRECOND);
  int v = payer_refund_version(orn_a);
  assert_int_equal(fin_payer_refund_decide(conn, orn_a, 1, "RETRY", v, "", "alice", NULL, msg), YW_EPERM);
  assert_int_equal(fin_payer_refund_decide(conn, orn_a, 1, "RETRY", v - 1, "", "bob", NULL, msg), YW_ECONFLICT);
  assert_int_equal(fin_payer_refund_decide(conn, orn_a, 1, "WRITE_OFF", v, "", "bob", NULL, msg), YW_ECONFLICT);
  assert_int_equal(fin_payer_refund_decide(conn, orn_a, 1, "RETRY", v, "once more", "bob", NULL, msg), 0);
  assert_string_equal(payer_refund(orn_a), "PENDING/1/RETRY/false");
  assert_int_equal(fin_refunds_send(&pdb, chans, chan, 1000, NULL, &fr, msg), 0);
  assert_int_equal(fr.asked, 1);
  assert_string_equal(payer_refund(orn_a), "FAILED/2/RETRY/false");
  /* the checker of the retry proposes next; a rejection clears it */
  assert_int_equal(fin_payer_refund_propose(conn, orn_a, "WRITE_OFF", "it will not go", "bob", NULL, msg), 0);
  v = payer_refund_version(orn_a);
  assert_int_equal(fin_payer_refund_decide(conn, orn_a, 0, "WRITE_OFF", v, "ask the payer first", "alice", NULL,
                                           msg),
                   0);
  assert_string_equal(payer_refund(orn_a), "FAILED/2/-/false");
  assert_true(payer_refund_version(orn_a) > v);

  /* a write-off: refund_payable to suspense, once */
  int64_t payable = balance("refund_payable:sim-sm2"), susp = balance("suspense");
  assert_int_equal(fin_payer_refund_propose(conn, orn_b, "WRITE_OFF", "the channel will not take it back",
                                            "alice", NULL, msg),
                   0);
  v = payer_refund_version(orn_b);
  assert_int_equal(fin_payer_refund_decide(conn, orn_b, 1, "WRITE_OFF", v, "", "bob", NULL, msg), 0);
  assert_string_equal(text_of("SELECT status FROM payment.recon_refunds WHERE out_refund_no = $1", 1, orn_b),
                      "WRITTEN_OFF");
  assert_int_equal(journals_of("recon_refund_writeoff", orn_b), 1);
  assert_int_equal(balance("refund_payable:sim-sm2") - payable, 420);
  assert_int_equal(balance("suspense") - susp, -420);
  assert_int_equal(fin_payer_refund_decide(conn, orn_b, 1, "WRITE_OFF", v, "", "bob", NULL, msg), YW_EPRECOND);
  assert_int_equal(fin_payer_refund_propose(conn, orn_b, "RETRY", "after all", "alice", NULL, msg), YW_EPRECOND);
  assert_int_equal(journals_of("recon_refund_writeoff", orn_b), 1);
  /* audited, each */
  assert_int_equal(refund_audits("recon.refund_propose", orn_a, "alice"), 1);
  assert_int_equal(refund_audits("recon.refund_approve", orn_a, "bob"), 1);
  assert_int_equal(refund_audits("recon.refund_reject", orn_a, "alice"), 1);
  assert_int_equal(refund_audits("recon.refund_approve", orn_b, "bob"), 1);
  assert_int_equal(value_of("SELECT count(*) FROM payment.audit_log WHERE action = 'recon.refund_approve' "
                            "AND target = $1 AND detail LIKE '%amount_fen=420'",
                            1, orn_b),
                   1);
  chan = "sim";
  chan_mchid = "1900000001";
}

/* Approves the REFUND of the stranger's payment key of chan's statement st (not held: the
 * channel's money goes to refund_payable); its out_refund_no in orn. */
static void stranger_refunded(const fin_statement *st, const char *key, char orn[24]) {
  char msg[FIN_MSG_MAX];
  int64_t exc = exception_of(st->id, key);
  assert_int_equal(propose(exc, "REFUND", "a stranger's payment", "alice", msg), 0);
  assert_int_equal(decide(exc, 1, "", "bob", msg), 0);
  snprintf(orn, 24, "RC%010lld", (long long)exc);
}

/* "STATUS/attempts/misses/next try in the future" of the refund to the payer orn. */
static const char *refund_queue(const char *orn) {
  return text_of(
      "SELECT status || '/' || attempts || '/' || misses || '/' || "
      "COALESCE((next_try_at > now())::text, '-') FROM payment.recon_refunds "
      "WHERE out_refund_no = $1",
      1, orn);
}

/* Refunds to the payers never wait behind one stuck refund: channel sim-hung takes the
 * connection and never answers. Its two refunds are the oldest; sim-sm2's refund of a
 * second payment, approved after them, is paid back in the same pass: the first of
 * sim-hung's is asked once (its timeout), pushed back (its next try 10 s on), and the
 * other of sim-hung's is not asked in that pass. The next pass asks the one never tried
 * and not the one pushed back; once its time comes (the stored next try moved, never
 * slept for) it is asked again and pushed back twice as far. */
static void a_stuck_refund_holds_back_no_other_channel(void **state) {
  (void)state;
  const int64_t at = D40 + 155 * 86400 + 3600; /* 2027-06-14 01:00 */
  int port = 0;
  int fd = yw_test_listen(16, &port); /* never accepted from: silent */
  assert_true(fd >= 0);
  char spec[256], keys[1024], cerr[256];
  snprintf(spec, sizeof spec, "sim-hung=http://127.0.0.1:%d/sim,sim-sm2=%s-sm2", port, sim.url);
  snprintf(keys, sizeof keys, "sim-hung=1900000001:%s:%s/sim.pub.pem,%s", sim.key_hex, sim.keys_dir,
           sim.keys_spec);
  pay_channels *set = NULL;
  if (pay_channels_load(spec, keys, &set, cerr, sizeof cerr) != 0)
    fprintf(stderr, "channels: %s\n", cerr);
  assert_non_null(set);
  fin_statement st;
  fin_run run;
  fin_auto au;
  char msg[FIN_MSG_MAX];
  /* sim-hung: two strangers' payments refunded (no channel of the run's to ask) */
  chan = "sim-hung";
  pay_stmt_row strangers[] = {pay_row("STRANGER-0614A", 210, at),
                              pay_row("STRANGER-0614B", 220, at + 60)};
  assert_int_equal(import_rows("2027-06-14", strangers, 2, "alice", &st, msg), 0);
  run_auto("2027-06-14", &run, &au);
  char hung1[24], hung2[24];
  stranger_refunded(&st, "STRANGER-0614A", hung1);
  stranger_refunded(&st, "STRANGER-0614B", hung2);
  /* sim-sm2: a second payment, held in suspense by the run, then refunded */
  const char *first = "2027061400000000000001", *second = "2027061400000000000002";
  pay_stmt_row rows[2];
  paid_twice_on_sm2("32070000000000000614", first, second, 500, at, rows);
  assert_int_equal(import_rows("2027-06-14", rows, 2, "alice", &st, msg), 0);
  run_auto("2027-06-14", &run, &au);
  assert_string_equal(exc_state(st.id, second), "OPEN/SUSPENSE");
  char paid[24];
  stranger_refunded(&st, second, paid);
  chan = "sim";
  chan_mchid = "1900000001";
  assert_true(value_of("SELECT count(*) FROM payment.recon_refunds WHERE out_refund_no IN ($1, $2) "
                       "AND created_at < (SELECT created_at FROM payment.recon_refunds WHERE "
                       "out_refund_no = $3)",
                       3, hung1, hung2, paid) == 2);
  int64_t payable = balance("refund_payable:sim-sm2");

  /* one pass over both channels */
  fin_refunds fr;
  int rc = fin_refunds_send(&pdb, set, NULL, 500, NULL, &fr, msg);
  if (rc != 0) fprintf(stderr, "refunds: %s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(fr.unanswered, 1);
  assert_int_equal(fr.asked, 1);
  assert_int_equal(fr.succeeded, 1);
  assert_string_equal(refund_queue(paid), "SUCCESS/1/0/-");
  assert_int_equal(journals_of("recon_refund", paid), 1);
  assert_int_equal(balance("refund_payable:sim-sm2") - payable, 500);
  assert_string_equal(refund_queue(hung1), "PENDING/1/1/true");
  assert_string_equal(refund_queue(hung2), "PENDING/0/0/-");
  assert_string_equal(
      text_of("SELECT last_error FROM payment.recon_refunds WHERE out_refund_no = $1", 1, hung1),
      "the channel did not answer");
  assert_true(value_of("SELECT count(*) FROM payment.recon_refunds WHERE out_refund_no = $1 "
                       "AND next_try_at <= now() + interval '10 seconds'",
                       1, hung1) == 1);

  /* the next pass: the one never tried is asked, the one pushed back is not */
  assert_int_equal(fin_refunds_send(&pdb, set, NULL, 500, NULL, &fr, msg), 0);
  assert_int_equal(fr.unanswered, 1);
  assert_int_equal(fr.asked, 0);
  assert_string_equal(refund_queue(hung1), "PENDING/1/1/true");
  assert_string_equal(refund_queue(hung2), "PENDING/1/1/true");

  /* the first one's time comes: asked again, pushed back twice as far (20 s) */
  refund_due(hung1);
  assert_int_equal(fin_refunds_send(&pdb, set, "sim-hung", 500, NULL, &fr, msg), 0);
  assert_int_equal(fr.unanswered, 1);
  assert_int_equal(fr.left, 2);
  assert_string_equal(refund_queue(hung1), "PENDING/2/2/true");
  assert_string_equal(refund_queue(hung2), "PENDING/1/1/true");
  assert_true(value_of("SELECT count(*) FROM payment.recon_refunds WHERE out_refund_no = $1 "
                       "AND next_try_at > (SELECT next_try_at FROM payment.recon_refunds "
                       "WHERE out_refund_no = $2) AND next_try_at <= now() + interval '20 seconds'",
                       2, hung1, hung2) == 1);
  assert_int_equal(journals_of("recon_refund", hung1), 0);
  pay_channels_free(set);
  close(fd);
}

/* A pass whose caller's time is up (fin_db.until_ms passed) asks the channel nothing and
 * books nothing: the row waits, and the next pass, with time, books it. */
static void a_pass_out_of_its_callers_time_asks_nothing(void **state) {
  (void)state;
  const int64_t at = D40 + 60 * 86400 + 10 * 3600; /* 2027-03-11 */
  const char *lost = "2027031100000000000001";
  order_at_channel("32070000000000000711", lost, 700);
  payer_pays(lost); /* its notification lost */
  pay_stmt_row rows[] = {pay_row(lost, 700, at)};
  fin_statement st;
  fin_run run;
  char msg[FIN_MSG_MAX];
  assert_int_equal(import_rows("2027-03-11", rows, 1, "alice", &st, msg), 0);
  assert_int_equal(run_day("2027-03-11", "alice", &run, msg), 0);
  assert_int_equal(run.count[PAY_RECON_CHANNEL_ONLY], 1);
  fin_db spent = pdb;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  spent.until_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  fin_auto au;
  assert_int_equal(fin_recon_auto(&spent, chan, "2027-03-11", pay_channels_find(chans, chan), 1000, NULL, &au, msg),
                   0);
  assert_int_equal(au.asked, 0);
  assert_int_equal(journals_of("pay", lost), 0);
  assert_string_equal(order_status(lost), "PAYING");
  assert_int_equal(fin_recon_auto(&pdb, chan, "2027-03-11", pay_channels_find(chans, chan), 1000, NULL, &au, msg), 0);
  assert_int_equal(journals_of("pay", lost), 1);
  assert_string_equal(order_status(lost), "PAID");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(every_kind_classifies_and_a_rerun_changes_nothing, ledger_balanced),
      cmocka_unit_test_teardown(imports_are_checked_and_idempotent, ledger_balanced),
      cmocka_unit_test_teardown(maker_checker_resolves_with_new_journals, ledger_balanced),
      cmocka_unit_test_teardown(book_pays_our_order_the_channel_alone_had, ledger_balanced),
      cmocka_unit_test_teardown(a_day_runs_only_after_the_day_before, ledger_balanced),
      cmocka_unit_test_teardown(a_superseded_statements_exceptions_cannot_be_resolved,
                                ledger_balanced),
      cmocka_unit_test_teardown(approval_rechecks_the_platform_and_pins_the_proposal,
                                ledger_balanced),
      cmocka_unit_test_teardown(an_upload_replaces_the_channels_statement_only_when_forced,
                                ledger_balanced),
      cmocka_unit_test_teardown(a_second_payment_opens_an_exception, ledger_balanced),
      cmocka_unit_test_teardown(book_of_a_lost_second_payment_is_refused, ledger_balanced),
      cmocka_unit_test_teardown(a_superseded_statements_settlements_are_reversed, ledger_balanced),
      cmocka_unit_test_teardown(the_run_asks_the_channel_about_one_sided_rows_once,
                                ledger_balanced),
      cmocka_unit_test_teardown(a_silent_channel_leaves_the_rows_for_the_next_run, ledger_balanced),
      cmocka_unit_test_teardown(a_replaced_statement_gives_back_what_its_run_held, ledger_balanced),
      cmocka_unit_test_teardown(a_refund_is_paid_back_by_the_channel, ledger_balanced),
      cmocka_unit_test_teardown(matched_rows_are_settled_by_one_journal_a_run, ledger_balanced),
      cmocka_unit_test_teardown(a_slow_channel_holds_no_connection, ledger_balanced),
      cmocka_unit_test_teardown(a_busy_answer_leaves_a_recon_refund_pending, ledger_balanced),
      cmocka_unit_test_teardown(rows_of_one_key_are_each_settled, ledger_balanced),
      cmocka_unit_test_teardown(a_row_listed_twice_is_not_booked_twice, ledger_balanced),
      cmocka_unit_test_teardown(a_corrected_statement_can_replace_an_auto_resolved_day,
                                ledger_balanced),
      cmocka_unit_test_teardown(a_reversed_payment_is_off_a_replaced_days_platform_side,
                                ledger_balanced),
      cmocka_unit_test_teardown(the_pass_takes_earlier_days_and_tries_failed_rows_last,
                                ledger_balanced),
      cmocka_unit_test_teardown(the_pass_books_the_held_payment_of_an_exception_order,
                                ledger_balanced),
      cmocka_unit_test_teardown(a_held_row_the_platform_booked_since_is_only_booked,
                                ledger_balanced),
      cmocka_unit_test_teardown(a_refused_refund_is_retried_or_written_off, ledger_balanced),
      cmocka_unit_test_teardown(a_stuck_refund_holds_back_no_other_channel, ledger_balanced),
      cmocka_unit_test_teardown(a_pass_out_of_its_callers_time_asks_nothing, ledger_balanced),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
