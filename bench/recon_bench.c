/*
 * recon_bench.c - reconciliation of a 1,000,000-row statement, timed step by step, with
 * baselines measured in the same run: reading the file and counting its lines (what
 * `wc -l` does), and a plain COPY of the same rows into a table without the matching.
 *
 *   yw-bench-recon [-n ROWS] [-d DSN] [-o FILE]
 *
 * -o keeps the statement in FILE (bench/recon.sh times `wc -l` over it).
 *
 * Steps: generate a day (tests/support/yw_testrecon.c) and write it as a statement file;
 * then, timed: read + parse, match against the platform's records, store the rows and
 * the results in PostgreSQL (DSN, an empty database the payment migrations are applied
 * to; bench/recon.sh makes one), and settle the matched rows in the ledger
 * (pay_recon_settle_matched, committed: the ledger's balance trigger runs at the
 * commit), then settle again (nothing new), then reverse the settlement as a statement
 * replacing this one does (pay_recon_unsettle). Prints one line per step and the total.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "payment.h"
#include "recon.h"
#include "recon_db.h"
#include "statement.h"
#include "yw_pg.h"
#include "yw_testrecon.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
  PQclear(r);
  return ok;
}

int main(int argc, char **argv) {
  size_t n = 1000000;
  const char *dsn = NULL, *keep = NULL;
  int o;
  while ((o = getopt(argc, argv, "n:d:o:")) != -1) {
    if (o == 'n')
      n = (size_t)strtoull(optarg, NULL, 10);
    else if (o == 'd')
      dsn = optarg;
    else if (o == 'o')
      keep = optarg;
    else
      return 2;
  }
  const int64_t day_start = 1796054400; /* 2026-12-01 00:00 +08 */
  yw_recon_day day;
  if (n < 10 || yw_recon_day_make(&day, n, day_start) != 0) return 1;
  char *text = NULL;
  size_t len = 0;
  if (pay_statement_write(day.rows, n, &text, &len) != 0) return 1;
  char path[] = "/tmp/yw-bench-recon-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) return 1;
  free(text);

  /* baseline: read the file and count its lines */
  double t0 = now_s();
  f = fopen(path, "r");
  char *buf = malloc(len + 1);
  if (f == NULL || buf == NULL || fread(buf, 1, len, f) != len) return 1;
  fclose(f);
  size_t lines = 0;
  for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + len - p))) != NULL; p++) lines++;
  double t_wc = now_s() - t0;

  t0 = now_s();
  pay_statement *st = NULL;
  char err[PAY_STATEMENT_ERR_MAX];
  f = fopen(path, "r");
  if (f == NULL || fread(buf, 1, len, f) != len) return 1;
  fclose(f);
  if (pay_statement_parse(buf, len, &st, err) != 0) {
    fprintf(stderr, "parse: %s\n", err);
    return 1;
  }
  double t_parse = now_s() - t0;
  if (keep != NULL ? rename(path, keep) != 0 : unlink(path) != 0) return 1;
  free(buf);

  t0 = now_s();
  pay_recon_item *ch = malloc(st->n * sizeof *ch);
  if (ch == NULL) return 1;
  pay_recon_items_from_statement(st, ch);
  day.items[n / 2].amount_fen += 1; /* one difference, so the run has an exception */
  pay_recon_window w = {.day_end_unix = day_start + 86400, .cutoff_s = 300};
  pay_recon_result *res = NULL;
  size_t nres = 0;
  if (pay_recon_match(ch, st->n, day.items, n, &w, &res, &nres) != 0) return 1;
  size_t count[PAY_RECON_CLASSES] = {0};
  for (size_t i = 0; i < nres; i++) count[res[i].cls]++;
  double t_match = now_s() - t0;

  double t_rows = 0, t_results = 0, t_rerun = 0, t_settle = 0, t_resettle = 0, t_unsettle = 0;
  int64_t inserted = -1, reinserted = -1, settled = -1, settled_fen = 0, resettled = -1,
          unsettled_fen = 0;
  if (dsn != NULL) {
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
      fprintf(stderr, "%s", PQerrorMessage(c));
      return 1;
    }
    yw_pg_error pe;
    if (yw_pg_migrate(c, "payment", payment_migrations, payment_migrations_count, &pe) != 0) {
      fprintf(stderr, "migrate: %s\n", pe.message);
      return 1;
    }
    if (!exec_ok(c, "BEGIN") ||
        !exec_ok(c, "INSERT INTO payment.statements (id, channel, bill_date, sha256, raw, source, "
                    "row_count, pay_total_fen, refund_total_fen, fee_total_fen, imported_by) "
                    "VALUES (1, 'sim', '2026-12-01', repeat('0', 64), '', 'api', 0, 0, 0, 0, "
                    "'bench')"))
      return 1;
    t0 = now_s();
    if (pay_recon_store_rows(c, 1, st, &pe) != 0) {
      fprintf(stderr, "rows: %s\n", pe.message);
      return 1;
    }
    t_rows = now_s() - t0;
    t0 = now_s();
    if (pay_recon_store_results(c, 1, res, nres, &inserted, &pe) != 0) {
      fprintf(stderr, "results: %s\n", pe.message);
      return 1;
    }
    if (!exec_ok(c, "COMMIT")) return 1;
    t_results = now_s() - t0;
    /* a re-run of the day: the same results, nothing new stored */
    t0 = now_s();
    if (!exec_ok(c, "BEGIN") ||
        pay_recon_store_results(c, 1, res, nres, &reinserted, &pe) != 0 || !exec_ok(c, "COMMIT"))
      return 1;
    t_rerun = now_s() - t0;
    /* settle the matched rows in the ledger, then again (nothing new) */
    t0 = now_s();
    if (!exec_ok(c, "BEGIN") ||
        pay_recon_settle_matched(c, "sim", 1, &settled, &settled_fen, &pe) != 0 ||
        !exec_ok(c, "COMMIT")) {
      fprintf(stderr, "settle: %s\n", pe.message);
      return 1;
    }
    t_settle = now_s() - t0;
    t0 = now_s();
    if (!exec_ok(c, "BEGIN") ||
        pay_recon_settle_matched(c, "sim", 1, &resettled, &settled_fen, &pe) != 0 ||
        !exec_ok(c, "COMMIT"))
      return 1;
    t_resettle = now_s() - t0;
    t0 = now_s();
    if (!exec_ok(c, "BEGIN") || pay_recon_unsettle(c, "sim", 1, &unsettled_fen, &pe) != 0 ||
        !exec_ok(c, "COMMIT")) {
      fprintf(stderr, "unsettle: %s\n", pe.message);
      return 1;
    }
    t_unsettle = now_s() - t0;
    PQfinish(c);
  }
  double total = t_parse + t_match + t_rows + t_results;
  printf("statement: %zu rows, %zu bytes, %zu lines\n", st->n, len, lines);
  printf("baseline read + count lines (wc -l) %8.2f s\n", t_wc);
  printf("read + parse + check summary        %8.2f s  (%.1fx the baseline)\n", t_parse,
         t_parse / t_wc);
  printf("match (sort both sides, merge)      %8.2f s  matched %zu, mismatch %zu, channel-only "
         "%zu, platform-only %zu, deferred %zu\n",
         t_match, count[PAY_RECON_MATCHED], count[PAY_RECON_AMOUNT_MISMATCH],
         count[PAY_RECON_CHANNEL_ONLY], count[PAY_RECON_PLATFORM_ONLY], count[PAY_RECON_DEFERRED]);
  if (dsn != NULL) {
    printf("store rows (COPY)                   %8.2f s\n", t_rows);
    printf("store results (COPY + insert)       %8.2f s  %lld stored\n", t_results,
           (long long)inserted);
    printf("re-run store (nothing new)          %8.2f s  %lld stored\n", t_rerun,
           (long long)reinserted);
    printf("settle matched rows (ledger)        %8.2f s  %lld rows settled\n", t_settle,
           (long long)settled);
    printf("settle again (nothing new)          %8.2f s  %lld rows settled\n", t_resettle,
           (long long)resettled);
    printf("reverse the settlement (superseded) %8.2f s  %lld fen taken back\n", t_unsettle,
           (long long)unsettled_fen);
  }
  printf("total parse+match%s                %8.2f s  (target < 30 s)\n",
         dsn != NULL ? "+store" : "      ", total);
  free(res);
  free(ch);
  pay_statement_free(st);
  yw_recon_day_free(&day);
  return 0;
}
