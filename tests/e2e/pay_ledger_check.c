/*
 * pay_ledger_check.c - yw-pay-ledger-check, the payment ledger's own check
 * (ledger_check, payment/ledger.h) run over a database from a shell, for the e2e tests
 * that drive the real processes (e2e_payment_invariants.sh).
 *
 *   yw-pay-ledger-check CONNINFO
 *
 * Prints what ledger_check found (journals, unbalanced journals, the sum of every
 * posting, paid orders without exactly one pay journal, orders refunded beyond their
 * payment) and exits 0 when the ledger holds I1 and I4, 1 when it does not, 2 when the
 * database could not be read.
 */
#include <libpq-fe.h>
#include <stdio.h>

#include "ledger.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: yw-pay-ledger-check CONNINFO\n");
    return 2;
  }
  PGconn *conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) {
    fprintf(stderr, "yw-pay-ledger-check: %s", PQerrorMessage(conn));
    PQfinish(conn);
    return 2;
  }
  ledger_report r;
  yw_pg_error err;
  int rc = ledger_check(conn, &r, &err);
  PQfinish(conn);
  if (rc != 0) {
    fprintf(stderr, "yw-pay-ledger-check: %s\n", err.message);
    return 2;
  }
  printf("journals %lld, unbalanced %lld, postings sum %lld fen, paid without one pay journal %lld, "
         "over-refunded %lld%s%s\n",
         r.journals, r.unbalanced, r.total_fen, r.paid_without_entry, r.over_refunded,
         r.first[0] ? ": " : "", r.first);
  return ledger_report_ok(&r) ? 0 : 1;
}
