/*
 * test_payment_ledger.c - the payment schema's ledger and status guard on the real
 * PostgreSQL, through payment/ledger.c and plain SQL.
 *
 * Proves: a journal books once per (kind, ref) (the second booking writes nothing and
 * says YW_EEXIST); postings that do not sum to zero are refused before writing, and a
 * journal written around ledger_post that does not balance (or has one posting) cannot
 * commit (the deferred constraint trigger); journal, postings and accounts refuse
 * UPDATE, DELETE and TRUNCATE, even for the owner; balances are the sums of postings;
 * an order's status moves only along the allow-list (CREATED -> PAID refused by the
 * trigger), and ledger_check finds a PAID order without its pay journal and finds
 * nothing on a consistent ledger. The process's account cache learns only committed
 * accounts: one created in a transaction (or a savepoint) that rolled back, even after a
 * second journal of that transaction found it, is created again by the next journal,
 * which books; one found committed is not inserted again (a counting trigger sees no
 * attempt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger.h"
#include "payment.h"
#include "yw_err.h"
#include "yw_pg.h"
#include "yw_testdb.h"

static char dsn[512];
static yw_pg_pool *pool;

static int setup(void **state) {
  (void)state;
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  if (yw_pg_pool_new(dsn, 2, &pool, &err) != 0) return -1;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  int rc = yw_pg_migrate(c, "payment", payment_migrations, payment_migrations_count, &err);
  yw_pg_pool_release(pool, c);
  if (rc != 0) fprintf(stderr, "migrate: %s\n", err.message);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  yw_pg_pool_free(pool);
  yw_testdb_drop();
  return 0;
}

/* Runs sql alone (its own implicit transaction); returns the SQLSTATE ("" when it ran). */
static const char *exec_state(PGconn *c, const char *sql) {
  static char state[6];
  PGresult *r = PQexec(c, sql);
  const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  snprintf(state, sizeof state, "%s", s != NULL ? s : "");
  PQclear(r);
  return state;
}

/* Books a pay journal ref of fen between the two accounts on c, inside the caller's
 * transaction. */
static int post_between(PGconn *c, const char *ref, const char *debit, const char *credit,
                        int64_t fen, yw_pg_error *err) {
  ledger_posting p[2] = {{debit, fen}, {credit, -fen}};
  ledger_entry e = {.kind = "pay", .ref = ref, .channel = "sim"};
  return ledger_post(c, &e, p, 2, err);
}

static int post_pay(PGconn *c, const char *ref, int64_t fen, yw_pg_error *err) {
  int rc = yw_pg_begin(c, err);
  if (rc == 0)
    rc = post_between(c, ref, "channel_receivable:sim", "treasury_payable:320700-GA:FINE01", fen,
                      err);
  if (rc == 0) return yw_pg_commit(c, err);
  yw_pg_rollback(c);
  return rc;
}

static void books_once_per_kind_and_ref(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  yw_pg_error err;
  assert_int_equal(post_pay(c, "0000000000000000000101", 1250, &err), 0);
  assert_int_equal(post_pay(c, "0000000000000000000101", 1250, &err), YW_EEXIST);
  int64_t bal = 0;
  assert_int_equal(ledger_balance(c, "channel_receivable:sim", &bal, &err), 0);
  assert_int_equal(bal, 1250);
  assert_int_equal(ledger_balance(c, "treasury_payable:320700-GA:FINE01", &bal, &err), 0);
  assert_int_equal(bal, -1250);
  ledger_report r;
  assert_int_equal(ledger_check(c, &r, &err), 0);
  assert_true(ledger_report_ok(&r));
  assert_int_equal(r.journals, 1);
  yw_pg_pool_release(pool, c);
}

static void unbalanced_postings_never_commit(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  yw_pg_error err;
  ledger_posting bad[2] = {{"channel_receivable:sim", 100}, {"treasury_payable:320700-GA:FINE01", -99}};
  ledger_entry e = {.kind = "pay", .ref = "unbalanced"};
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(ledger_post(c, &e, bad, 2, &err), YW_EINVAL);
  ledger_posting unknown[2] = {{"petty_cash", 100}, {"suspense", -100}};
  assert_int_equal(ledger_post(c, &e, unknown, 2, &err), YW_EINVAL);
  yw_pg_rollback(c);
  /* written around ledger_post: refused at commit */
  assert_string_equal(exec_state(c, "BEGIN; "
                                    "INSERT INTO payment.accounts VALUES ('suspense', 'suspense') ON CONFLICT DO NOTHING; "
                                    "WITH j AS (INSERT INTO payment.journal (kind, ref, effective_at) "
                                    "VALUES ('manual', 'x1', now()) RETURNING id) "
                                    "INSERT INTO payment.postings (journal_id, account, amount_fen) "
                                    "SELECT id, 'suspense', 5 FROM j; COMMIT"),
                      "YW004");
  PQclear(PQexec(c, "ROLLBACK"));
  assert_string_equal(exec_state(c, "BEGIN; INSERT INTO payment.journal (kind, ref, effective_at) "
                                    "VALUES ('manual', 'x2', now()); COMMIT"),
                      "YW004");
  PQclear(PQexec(c, "ROLLBACK"));
  ledger_report r;
  assert_int_equal(ledger_check(c, &r, &err), 0);
  assert_true(ledger_report_ok(&r));
  yw_pg_pool_release(pool, c);
}

static void ledger_is_append_only(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  yw_pg_error err;
  assert_int_equal(post_pay(c, "0000000000000000000202", 700, &err), 0);
  assert_string_equal(exec_state(c, "UPDATE payment.postings SET amount_fen = amount_fen * 2"), "YW002");
  assert_string_equal(exec_state(c, "DELETE FROM payment.postings"), "YW002");
  assert_string_equal(exec_state(c, "TRUNCATE payment.postings CASCADE"), "YW002");
  assert_string_equal(exec_state(c, "UPDATE payment.journal SET memo = 'x'"), "YW002");
  assert_string_equal(exec_state(c, "DELETE FROM payment.journal"), "YW002");
  assert_string_equal(exec_state(c, "TRUNCATE payment.journal CASCADE"), "YW002");
  assert_string_equal(exec_state(c, "DELETE FROM payment.accounts"), "YW002");
  int64_t bal = 0;
  assert_int_equal(ledger_balance(c, "channel_receivable:sim", &bal, &err), 0);
  assert_true(bal >= 700);
  yw_pg_pool_release(pool, c);
}

/* A committed journal's postings are fixed: a balanced pair added later by another
 * transaction is refused (it would change what the journal booked); its own
 * transaction, also under a savepoint, adds them. */
static void a_committed_journals_postings_are_fixed(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  yw_pg_error err;
  assert_int_equal(post_pay(c, "0000000000000000000404", 400, &err), 0);
  char sql[512];
  snprintf(sql, sizeof sql,
           "INSERT INTO payment.postings (journal_id, account, amount_fen) "
           "SELECT id, a, f FROM payment.journal, (VALUES ('channel_receivable:sim', 50::bigint), "
           "('treasury_payable:320700-GA:FINE01', -50::bigint)) AS v(a, f) "
           "WHERE kind = 'pay' AND ref = '0000000000000000000404'");
  assert_string_equal(exec_state(c, sql), "YW002");
  int64_t bal = 0;
  assert_int_equal(ledger_balance(c, "channel_receivable:sim", &bal, &err), 0);
  int64_t before = bal;
  /* the journal's own transaction adds its postings, under a savepoint too */
  assert_string_equal(exec_state(c, "BEGIN; SAVEPOINT s; "
                                    "INSERT INTO payment.accounts VALUES ('suspense', 'suspense') "
                                    "ON CONFLICT DO NOTHING; "
                                    "WITH j AS (INSERT INTO payment.journal (kind, ref, effective_at) "
                                    "VALUES ('manual', 'sealed-1', now()) RETURNING id) "
                                    "INSERT INTO payment.postings (journal_id, account, amount_fen) "
                                    "SELECT id, a, f FROM j, (VALUES ('channel_receivable:sim', 30::bigint), "
                                    "('suspense', -30::bigint)) AS v(a, f); RELEASE s; COMMIT"),
                      "");
  assert_int_equal(ledger_balance(c, "channel_receivable:sim", &bal, &err), 0);
  assert_int_equal(bal, before + 30);
  ledger_report r;
  assert_int_equal(ledger_check(c, &r, &err), 0);
  assert_true(ledger_report_ok(&r));
  yw_pg_pool_release(pool, c);
}

static void status_moves_only_along_the_allow_list(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  yw_pg_error err;
  assert_string_equal(exec_state(c, "INSERT INTO payment.orders (id, notice_code, source, amount_fen, "
                                    "payee_department, item_code, item_name, payer_name_enc, created_by, expires_at) "
                                    "VALUES ('00000000-0000-0000-0000-000000000001', '12345678901234567890', 'NOTICE', "
                                    "500, '320700-GA', 'FINE01', 'fine', '\\x00', 'staff', now() + interval '1 day')"),
                      "");
  assert_string_equal(exec_state(c, "UPDATE payment.orders SET status = 'PAID'"), "YW003");
  assert_string_equal(exec_state(c, "UPDATE payment.orders SET status = 'PAYING'"), "");
  assert_string_equal(exec_state(c, "UPDATE payment.orders SET amount_fen = 1"), "YW003");
  assert_string_equal(exec_state(c, "UPDATE payment.orders SET status = 'PAID'"), "");
  /* PAID without its pay journal: found */
  ledger_report r;
  assert_int_equal(ledger_check(c, &r, &err), 0);
  assert_false(ledger_report_ok(&r));
  assert_int_equal(r.paid_without_entry, 1);
  ledger_posting p[2] = {{"channel_receivable:sim", 500}, {"treasury_payable:320700-GA:FINE01", -500}};
  ledger_entry e = {.kind = "pay", .ref = "0000000000000000000303", .order_id = "00000000-0000-0000-0000-000000000001"};
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(ledger_post(c, &e, p, 2, &err), 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  assert_int_equal(ledger_check(c, &r, &err), 0);
  assert_true(ledger_report_ok(&r));
  assert_string_equal(exec_state(c, "UPDATE payment.orders SET status = 'CREATED'"), "YW003");
  yw_pg_pool_release(pool, c);
}

static void run_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
  assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
  PQclear(r);
}

/* How many rows were offered to INSERT INTO payment.accounts so far (the counting
 * trigger's sequence: not transactional, so rolled back attempts count too). */
static long long account_inserts(PGconn *c) {
  PGresult *r = PQexec(c, "SELECT last_value + CASE WHEN is_called THEN 0 ELSE -1 END "
                          "FROM ledger_test_account_inserts");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

/* The account cache learnt an account from a transaction that rolled back: a second
 * journal of the transaction found it "existing" (created by the first, uncommitted),
 * so the next journal skipped creating it and failed on its reference. Only accounts
 * found committed may be learnt; rolled back ones are created again, here and after a
 * savepoint rolled back inside a transaction that goes on. */
static void an_account_of_a_rolled_back_transaction_is_created_again(void **state) {
  (void)state;
  PGconn *c = yw_pg_pool_acquire(pool, 5000);
  yw_pg_error err;
  run_ok(c, "CREATE SEQUENCE ledger_test_account_inserts MINVALUE 0 START 0");
  run_ok(c, "CREATE FUNCTION ledger_test_count_insert() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM nextval('ledger_test_account_inserts'); RETURN NEW; END $$");
  run_ok(c, "CREATE TRIGGER ledger_test_count BEFORE INSERT ON payment.accounts "
            "FOR EACH ROW EXECUTE FUNCTION ledger_test_count_insert()");
  const char *recv = "channel_receivable:rolledback";
  const char *payable = "treasury_payable:320700-RB:FINE09";

  /* created by the first journal, found by the second, rolled back */
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(post_between(c, "RB-1", recv, payable, 100, &err), 0);
  assert_int_equal(post_between(c, "RB-2", recv, payable, 200, &err), 0);
  yw_pg_rollback(c);
  /* the next journal creates them again and books */
  assert_int_equal(yw_pg_begin(c, &err), 0);
  int rc = post_between(c, "RB-3", recv, payable, 300, &err);
  if (rc != 0) fprintf(stderr, "RB-3: %s\n", err.message);
  assert_int_equal(rc, 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);

  /* the same inside a transaction that goes on: a savepoint rolled back */
  const char *refund = "refund_payable:rolledback";
  assert_int_equal(yw_pg_begin(c, &err), 0);
  run_ok(c, "SAVEPOINT s");
  assert_int_equal(post_between(c, "RB-4", refund, "suspense", 40, &err), 0);
  assert_int_equal(post_between(c, "RB-5", refund, "suspense", 50, &err), 0);
  run_ok(c, "ROLLBACK TO SAVEPOINT s");
  rc = post_between(c, "RB-6", refund, "suspense", 60, &err);
  if (rc != 0) fprintf(stderr, "RB-6: %s\n", err.message);
  assert_int_equal(rc, 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);

  /* committed now: the next journal finds them and learns them, the one after inserts
   * no account at all */
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(post_between(c, "RB-7", recv, payable, 70, &err), 0);
  assert_int_equal(post_between(c, "RB-8", refund, "suspense", 80, &err), 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  long long before = account_inserts(c);
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(post_between(c, "RB-9", recv, payable, 90, &err), 0);
  assert_int_equal(post_between(c, "RB-10", refund, "suspense", 10, &err), 0);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  assert_int_equal(account_inserts(c), before);

  int64_t bal = 0;
  assert_int_equal(ledger_balance(c, recv, &bal, &err), 0);
  assert_int_equal(bal, 300 + 70 + 90);
  assert_int_equal(ledger_balance(c, refund, &bal, &err), 0);
  assert_int_equal(bal, 60 + 80 + 10);
  run_ok(c, "DROP TRIGGER ledger_test_count ON payment.accounts");
  ledger_report r;
  assert_int_equal(ledger_check(c, &r, &err), 0);
  assert_true(ledger_report_ok(&r));
  yw_pg_pool_release(pool, c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(books_once_per_kind_and_ref),
      cmocka_unit_test(unbalanced_postings_never_commit),
      cmocka_unit_test(ledger_is_append_only),
      cmocka_unit_test(a_committed_journals_postings_are_fixed),
      cmocka_unit_test(status_moves_only_along_the_allow_list),
      cmocka_unit_test(an_account_of_a_rolled_back_transaction_is_created_again),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
