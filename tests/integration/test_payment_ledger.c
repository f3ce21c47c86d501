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
 * nothing on a consistent ledger.
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

static int post_pay(PGconn *c, const char *ref, int64_t fen, yw_pg_error *err) {
  ledger_posting p[2] = {{"channel_receivable:sim", fen}, {"treasury_payable:320700-GA:FINE01", -fen}};
  ledger_entry e = {.kind = "pay", .ref = ref, .channel = "sim"};
  int rc = yw_pg_begin(c, err);
  if (rc == 0) rc = ledger_post(c, &e, p, 2, err);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(books_once_per_kind_and_ref),
      cmocka_unit_test(unbalanced_postings_never_commit),
      cmocka_unit_test(ledger_is_append_only),
      cmocka_unit_test(status_moves_only_along_the_allow_list),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
