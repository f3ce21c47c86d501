/*
 * ledger.c - double-entry booking on PostgreSQL and the checks of its invariants.
 *
 * ledger_post writes the journal first with INSERT ... ON CONFLICT (kind, ref) DO
 * NOTHING: a second booking of the same event writes nothing and says so (YW_EEXIST),
 * which is how notifications delivered twice, and the janitor racing a notification,
 * book once. The journal, its postings and the accounts not known to exist yet (created
 * on first use) are one statement; the accounts known to exist are cached. The
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
#include <pthread.h>
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

/* The accounts known to exist, so a posting need not create its account: the chart is
 * small and fixed in kind (a few accounts per channel, department and item). An account
 * is learnt only when a statement found it committed: one this process created is learnt
 * the next time it is found, and one found made by the caller's own transaction (an
 * earlier journal of it, perhaps in a savepoint) is not learnt, since that transaction
 * may still roll back and take the account with it. A learnt account therefore exists
 * for good (accounts are never deleted). Should one be missing all the same (a database
 * restored from before it), the posting fails on its reference and the cache is
 * forgotten. */
#define ACCOUNTS_CACHED 1024
static pthread_mutex_t accounts_mu = PTHREAD_MUTEX_INITIALIZER;
static char accounts_cache[ACCOUNTS_CACHED][LEDGER_ACCOUNT_MAX];
static size_t accounts_n;

/* Whether account is in the cache; accounts_mu held. */
static int account_cached(const char *account) {
  for (size_t i = 0; i < accounts_n; i++)
    if (strcmp(accounts_cache[i], account) == 0) return 1;
  return 0;
}

static int account_known(const char *account) {
  pthread_mutex_lock(&accounts_mu);
  int known = account_cached(account);
  pthread_mutex_unlock(&accounts_mu);
  return known;
}

static void account_learn(const char *account) {
  pthread_mutex_lock(&accounts_mu);
  if (!account_cached(account) && accounts_n < ACCOUNTS_CACHED)
    snprintf(accounts_cache[accounts_n++], LEDGER_ACCOUNT_MAX, "%s", account);
  pthread_mutex_unlock(&accounts_mu);
}

static void accounts_forget(void) {
  pthread_mutex_lock(&accounts_mu);
  accounts_n = 0;
  pthread_mutex_unlock(&accounts_mu);
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

  /* the postings as two arrays (accounts are [A-Za-z0-9_.:-], quoted all the same), and
   * the accounts not known to exist yet */
  char accts[LEDGER_MAX_POSTINGS * (LEDGER_ACCOUNT_MAX + 3) + 3], amounts[LEDGER_MAX_POSTINGS * 24 + 3];
  char new_accts[sizeof accts], new_kinds[LEDGER_MAX_POSTINGS * 16 + 3];
  size_t al = 0, ml = 0, nl = 0, kl = 0;
  int unknown = 0;
  accts[al++] = amounts[ml++] = new_accts[nl++] = new_kinds[kl++] = '{';
  for (size_t i = 0; i < n; i++) {
    const char *acc = postings[i].account;
    al += (size_t)snprintf(accts + al, sizeof accts - al, "%s\"%s\"", i > 0 ? "," : "", acc);
    ml += (size_t)snprintf(amounts + ml, sizeof amounts - ml, "%s%" PRId64, i > 0 ? "," : "", postings[i].amount_fen);
    int again = 0; /* named by an earlier posting of this journal */
    for (size_t k = 0; k < i && !again; k++) again = strcmp(postings[k].account, acc) == 0;
    if (!again && !account_known(acc)) {
      nl += (size_t)snprintf(new_accts + nl, sizeof new_accts - nl, "%s\"%s\"", unknown > 0 ? "," : "", acc);
      kl += (size_t)snprintf(new_kinds + kl, sizeof new_kinds - kl, "%s%s", unknown > 0 ? "," : "",
                             ledger_account_kind(acc));
      unknown++;
    }
  }
  snprintf(accts + al, sizeof accts - al, "}");
  snprintf(amounts + ml, sizeof amounts - ml, "}");
  snprintf(new_accts + nl, sizeof new_accts - nl, "}");
  snprintf(new_kinds + kl, sizeof new_kinds - kl, "}");

  /* One round trip: the journal (nothing when (kind, ref) is booked already), the
   * accounts not known to exist (created on first use), and the postings. The postings'
   * reference to their account is checked at the end of the statement, after the
   * accounts' insert. Returns the postings written and, of the accounts not known, those
   * that existed before the statement and are committed: a row whose inserting
   * transaction is still in progress, though visible, can only be the caller's own
   * transaction's (or one of its savepoints'), which may yet roll back. The row's xmin is
   * widened to a full transaction id with the current one's epoch (it can only be older)
   * for pg_xact_status. */
  const char *jp[10] = {e->kind, e->ref, e->order_id, e->channel != NULL ? e->channel : "",
                        e->effective_at, e->memo != NULL ? e->memo : "", accts, amounts, new_accts, new_kinds};
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn,
                             "WITH j AS (INSERT INTO payment.journal (kind, ref, order_id, channel, effective_at, memo) "
                             "  VALUES ($1, $2, $3::uuid, $4, coalesce($5::timestamptz, now()), $6) "
                             "  ON CONFLICT (kind, ref) DO NOTHING RETURNING id), "
                             "a AS (INSERT INTO payment.accounts (account, kind) "
                             "  SELECT x.account, x.kind FROM unnest($9::text[], $10::text[]) AS x(account, kind) "
                             "  WHERE EXISTS (SELECT 1 FROM j) ON CONFLICT (account) DO NOTHING RETURNING account), "
                             "p AS (INSERT INTO payment.postings (journal_id, account, amount_fen) "
                             "  SELECT j.id, x.account, x.amount FROM j, unnest($7::text[], $8::bigint[]) "
                             "  AS x(account, amount) RETURNING 1), "
                             "k AS (SELECT x.account, x.xmin::text::bigint AS xid, "
                             "  pg_current_xact_id()::text::bigint AS cur FROM payment.accounts x "
                             "  WHERE x.account = ANY($9::text[]) AND EXISTS (SELECT 1 FROM j)) "
                             "SELECT (SELECT count(*) FROM p), "
                             "  (SELECT coalesce(string_agg(account, ' '), '') FROM k "
                             "   WHERE pg_xact_status((greatest((cur >> 32) "
                             "     - (xid > (cur & 4294967295))::int, 0) << 32 | xid)::text::xid8) "
                             "   IS DISTINCT FROM 'in progress')",
                             10, jp, &res, err);
  if (rc == YW_EPRECOND) accounts_forget(); /* an account taken as known is not there */
  if (rc != 0) return rc;
  long long written = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  if (written == 0) {
    PQclear(res);
    return YW_EEXIST;
  }
  /* known from now on: the accounts found committed; the ones this statement or its
   * transaction made wait for a later posting to find them so */
  const char *committed = PQgetvalue(res, 0, 1);
  for (size_t i = 0; i < n; i++) {
    const char *acc = postings[i].account;
    size_t len = strlen(acc);
    int found = 0;
    for (const char *c = strstr(committed, acc); c != NULL && !found; c = strstr(c + 1, acc))
      found = (c == committed || c[-1] == ' ') && (c[len] == ' ' || c[len] == '\0');
    if (found) account_learn(acc);
  }
  PQclear(res);
  return (size_t)written == n ? 0 : YW_EINTERNAL;
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
