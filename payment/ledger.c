/*
 * ledger.c - double-entry booking on PostgreSQL and the checks of its invariants.
 *
 * ledger_post writes the journal first with INSERT ... ON CONFLICT (kind, ref) DO
 * NOTHING: a second booking of the same event writes nothing and says so (YW_EEXIST),
 * which is how notifications delivered twice, and the janitor racing a notification,
 * book once. Each posting creates its account on first use in the same statement. The
 * balance is checked here before anything is written and again by the database at
 * commit (payment.journal_balanced), so a caller's mistake cannot commit.
 *
 * No balance table is kept: a balance is always the sum of its account's postings, so
 * I2 (balances equal the replay) holds by construction and ledger_check verifies I1 and
 * I4 over the whole ledger.
 *
 * Offers: ledger_post, ledger_account_kind, ledger_check, ledger_report_ok,
 * ledger_balance.
 */
#include "ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

static const struct {
  const char *prefix; /* the name, or the name before its first ':' */
  int parts;          /* how many ':'-separated parts follow */
  const char *kind;
} chart[] = {
    {"channel_receivable", 1, "asset"},   {"clearing_bank", 0, "asset"},
    {"channel_fee", 1, "expense"},        {"treasury_payable", 2, "liability"},
    {"refund_payable", 1, "liability"},   {"suspense", 0, "suspense"},
};

static int part_ok(const char *s, size_t n) {
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return 0;
  }
  return 1;
}

const char *ledger_account_kind(const char *account) {
  if (account == NULL || strlen(account) >= LEDGER_ACCOUNT_MAX) return NULL;
  const char *colon = strchr(account, ':');
  size_t head = colon != NULL ? (size_t)(colon - account) : strlen(account);
  for (size_t i = 0; i < sizeof chart / sizeof chart[0]; i++) {
    if (strlen(chart[i].prefix) != head || strncmp(chart[i].prefix, account, head) != 0) continue;
    int parts = 0;
    const char *p = colon;
    while (p != NULL) {
      const char *s = p + 1;
      const char *next = strchr(s, ':');
      size_t n = next != NULL ? (size_t)(next - s) : strlen(s);
      if (!part_ok(s, n)) return NULL;
      parts++;
      p = next;
    }
    return parts == chart[i].parts ? chart[i].kind : NULL;
  }
  return NULL;
}

static int kind_ok(const char *k) {
  size_t n = k != NULL ? strlen(k) : 0;
  if (n == 0 || n > 32) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '_')) return 0;
  return 1;
}

int ledger_post(PGconn *conn, const ledger_entry *e, const ledger_posting *postings, size_t n,
                yw_pg_error *err) {
  if (conn == NULL || e == NULL || postings == NULL || n < 2 || n > LEDGER_MAX_POSTINGS ||
      !kind_ok(e->kind) || e->ref == NULL || e->ref[0] == '\0' || strlen(e->ref) > 128)
    return YW_EINVAL;
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (postings[i].amount_fen == 0 || ledger_account_kind(postings[i].account) == NULL) return YW_EINVAL;
    /* each amount is bounded by an order's (far below 2^62), so the sum cannot wrap */
    if (postings[i].amount_fen > INT64_C(1) << 50 || postings[i].amount_fen < -(INT64_C(1) << 50))
      return YW_EINVAL;
    sum += postings[i].amount_fen;
  }
  if (sum != 0) return YW_EINVAL;

  const char *jp[6] = {e->kind, e->ref, e->order_id, e->channel != NULL ? e->channel : "",
                       e->effective_at, e->memo != NULL ? e->memo : ""};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "INSERT INTO payment.journal (kind, ref, order_id, channel, effective_at, memo) "
                             "VALUES ($1, $2, $3::uuid, $4, coalesce($5::timestamptz, now()), $6) "
                             "ON CONFLICT (kind, ref) DO NOTHING RETURNING id",
                             6, jp, &res, err);
  if (rc != 0) return rc;
  if (PQntuples(res) != 1) {
    PQclear(res);
    return YW_EEXIST;
  }
  char journal_id[24];
  snprintf(journal_id, sizeof journal_id, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  for (size_t i = 0; i < n; i++) {
    char amount[24];
    snprintf(amount, sizeof amount, "%" PRId64, postings[i].amount_fen);
    const char *pp[4] = {journal_id, postings[i].account, ledger_account_kind(postings[i].account), amount};
    rc = yw_pg_query_write(conn,
                           "WITH a AS (INSERT INTO payment.accounts (account, kind) VALUES ($2, $3) "
                           "ON CONFLICT (account) DO NOTHING) "
                           "INSERT INTO payment.postings (journal_id, account, amount_fen) "
                           "VALUES ($1::bigint, $2, $4::bigint)",
                           4, pp, &res, err);
    PQclear(res);
    if (rc != 0) return rc;
  }
  return 0;
}

/* One number from a one-row, one-column query. */
static int scalar(PGconn *conn, const char *sql, long long *out, yw_pg_error *err) {
  PGresult *res = NULL;
  int rc = yw_pg_query_read(conn, sql, 0, NULL, &res, err);
  if (rc != 0) return rc;
  *out = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
  PQclear(res);
  return 0;
}

int ledger_check(PGconn *conn, ledger_report *r, yw_pg_error *err) {
  memset(r, 0, sizeof *r);
  int rc = scalar(conn, "SELECT count(*) FROM payment.journal", &r->journals, err);
  if (rc == 0)
    rc = scalar(conn,
                "SELECT count(*) FROM payment.journal j LEFT JOIN (SELECT journal_id, sum(amount_fen) AS s, "
                "count(*) AS n FROM payment.postings GROUP BY journal_id) p ON p.journal_id = j.id "
                "WHERE coalesce(p.s, 0) <> 0 OR coalesce(p.n, 0) < 2",
                &r->unbalanced, err);
  if (rc == 0) rc = scalar(conn, "SELECT coalesce(sum(amount_fen), 0) FROM payment.postings", &r->total_fen, err);
  if (rc == 0)
    rc = scalar(conn,
                "SELECT count(*) FROM payment.orders o WHERE o.status IN ('PAID', 'REFUNDED') AND "
                "(SELECT count(*) FROM payment.journal j WHERE j.kind = 'pay' AND j.order_id = o.id) <> 1",
                &r->paid_without_entry, err);
  if (rc == 0)
    rc = scalar(conn,
                "SELECT count(*) FROM (SELECT j.order_id, sum(p.amount_fen) AS s FROM payment.journal j "
                "JOIN payment.postings p ON p.journal_id = j.id WHERE j.kind IN ('pay', 'refund') AND "
                "p.account LIKE 'channel\\_receivable:%' AND j.order_id IS NOT NULL GROUP BY j.order_id) x "
                "WHERE x.s < 0",
                &r->over_refunded, err);
  if (rc != 0) return rc;
  if (r->unbalanced > 0)
    snprintf(r->first, sizeof r->first, "I1: %lld journals do not sum to zero", r->unbalanced);
  else if (r->total_fen != 0)
    snprintf(r->first, sizeof r->first, "I1: the postings sum to %lld fen, not 0", r->total_fen);
  else if (r->paid_without_entry > 0)
    snprintf(r->first, sizeof r->first, "I4: %lld paid orders without exactly one pay journal",
             r->paid_without_entry);
  else if (r->over_refunded > 0)
    snprintf(r->first, sizeof r->first, "I4: %lld orders refunded beyond their payment", r->over_refunded);
  return 0;
}

int ledger_report_ok(const ledger_report *r) {
  return r->unbalanced == 0 && r->total_fen == 0 && r->paid_without_entry == 0 && r->over_refunded == 0;
}

int ledger_balance(PGconn *conn, const char *account, int64_t *fen, yw_pg_error *err) {
  const char *p[1] = {account};
  PGresult *res = NULL;
  int rc = yw_pg_query_read(conn, "SELECT coalesce(sum(amount_fen), 0) FROM payment.postings WHERE account = $1",
                            1, p, &res, err);
  if (rc != 0) return rc;
  *fen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return 0;
}
