/*
 * ledger.h - the payment ledger: double-entry, append-only (payment.journal,
 * payment.postings, payment.accounts; migrations/002_ledger.sql).
 *
 * A journal is one booked event with a unique (kind, ref): the same event is booked at
 * most once. Its postings are signed fen, debit positive and credit negative, summing to
 * zero (also checked by the database at commit). Accounts are text keys:
 *   channel_receivable:<channel>      asset
 *   clearing_bank                     asset
 *   channel_fee:<channel>             expense
 *   treasury_payable:<dept>:<item>    liability
 *   refund_payable:<channel>          liability
 *   suspense                          suspense
 * An account is created on its first posting.
 *
 * The library never logs; it runs on the caller's connection, inside the caller's
 * transaction.
 */
#ifndef PAY_LEDGER_H
#define PAY_LEDGER_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_pg.h"

#define LEDGER_MAX_POSTINGS 16
#define LEDGER_ACCOUNT_MAX 160

typedef struct ledger_posting {
  const char *account;  /* "channel_receivable:sim" */
  int64_t amount_fen;   /* debit > 0, credit < 0; never 0 */
} ledger_posting;

typedef struct ledger_entry {
  const char *kind;          /* [a-z_]{1,32}: "pay", "refund", "settle", ... */
  const char *ref;           /* 1..128 bytes: what is booked (an out_trade_no, an out_refund_no) */
  const char *order_id;      /* the order (uuid), or NULL */
  const char *channel;       /* the channel, or NULL */
  const char *effective_at;  /* RFC 3339: when it happened (the channel's time); NULL: now */
  const char *memo;          /* or NULL */
} ledger_entry;

/*
 * Books entry with its n postings on conn_in_tx, which must be inside a transaction
 * (the caller's: the booking commits or rolls back with the caller's change). Returns 0,
 * YW_EEXIST when (kind, ref) is already booked (nothing written: the event was booked
 * before), YW_EINVAL when the postings do not sum to zero, an amount is 0, n is out of
 * 2..LEDGER_MAX_POSTINGS or an account name is malformed, or a yw_pg_query code with err
 * set (the transaction is then aborted).
 */
int ledger_post(PGconn *conn_in_tx, const ledger_entry *entry, const ledger_posting *postings,
                size_t n, yw_pg_error *err);

/* The kind of an account from its name ("asset", "liability", "expense", "suspense"), or
 * NULL when the name is not one of the chart's. */
const char *ledger_account_kind(const char *account);

/* The findings of ledger_check. */
typedef struct ledger_report {
  long long journals;          /* journals looked at */
  long long unbalanced;        /* I1: journals whose postings do not sum to zero (or < 2) */
  long long total_fen;         /* I1: the sum of every posting (must be 0) */
  long long paid_without_entry; /* I4: PAID/REFUNDED orders without exactly one pay journal */
  long long over_refunded;     /* I4: orders whose booked refunds exceed the booked payment */
  char first[256];             /* the first violation, in words ("" when none) */
} ledger_report;

/*
 * Checks the ledger's invariants over every journal: I1 (each journal sums to zero, the
 * total is zero), I2 (balances are the replay of postings: no balance is kept, so every
 * balance is that replay), and I4 (a PAID or REFUNDED order has exactly one pay journal;
 * booked refunds never exceed it). Fills *report. Returns 0 (read the report for
 * violations: ledger_report_ok) or a yw_pg_query code with err set.
 */
int ledger_check(PGconn *conn, ledger_report *report, yw_pg_error *err);

/* 1 when report found nothing wrong. */
int ledger_report_ok(const ledger_report *report);

/* The balance of account (sum of its postings) into *fen. 0 or a yw_pg_query code. */
int ledger_balance(PGconn *conn, const char *account, int64_t *fen, yw_pg_error *err);

#endif
