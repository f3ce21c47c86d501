/*
 * finance.h - daily reconciliation as finance staff run it (FinanceService's work, on a
 * PostgreSQL connection): importing a statement, running a day, and resolving its
 * exceptions by maker-checker. The RPC handlers (finance_service.c) check the caller
 * and call these; tests call them directly.
 *
 * Each function runs its own transaction on conn (which must be outside one) and never
 * logs. Errors: YW_EINVAL (bad input; msg says which), YW_ENOTFOUND, YW_EPRECOND (a rule
 * refuses: msg says which), YW_EPERM (the checker is the maker), or a yw_pg_query code.
 * msg (may be NULL) has room for FIN_MSG_MAX bytes.
 */
#ifndef PAY_FINANCE_H
#define PAY_FINANCE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "recon.h"
#include "yw_caller.h"
#include "yw_pg.h"
#include "yw_rpc.h"

#define FIN_MSG_MAX 256

/* Who does a finance action, for its audit record (payment.audit_log): the caller's
 * department, the request id and the client's address. Any may be NULL (empty). */
typedef struct fin_audit_ctx {
  const char *department;
  const char *request_id;
  const char *source_ip;
} fin_audit_ctx;

typedef struct fin_statement {
  int64_t id;
  int reused;              /* the same file was there: nothing changed */
  int64_t superseded_id;   /* the statement this one replaced, or 0 */
  int row_count;
  char sha256[65];
} fin_statement;

/* Where a statement comes from and what it must say. */
typedef struct fin_import_opts {
  const char *source;  /* "api" (fetched from the channel) or "upload" */
  const char *mchid;   /* the channel's merchant number: every row's 商户号 must be it */
  int force;           /* an upload may replace a statement fetched by API only so */
  const char *reason;  /* why (1..500 bytes), required with force; in the audit record */
} fin_import_opts;

/* Imports len bytes of a statement of channel ("sim") and date ("YYYY-MM-DD") by actor.
 * See finance.proto ImportStatement. A row of another merchant is YW_EINVAL (nothing
 * stored); an upload over the day's statement fetched by API is YW_EPRECOND unless
 * forced with a reason. Audited (recon.import, and recon.supersede for the statement it
 * replaces, with the reason when forced). */
int fin_statement_import(PGconn *conn, const char *channel, const char *date, const uint8_t *csv,
                         size_t len, const fin_import_opts *opts, const char *actor,
                         const fin_audit_ctx *ac, fin_statement *out, char *msg);

typedef struct fin_run {
  int64_t statement_id;
  int64_t count[PAY_RECON_CLASSES]; /* results stored for the statement, per class */
  int64_t new_results;              /* stored by this run (0 on a re-run) */
  int64_t settled;                  /* matched rows this run settled */
  int64_t opened;                   /* exceptions opened by this run */
} fin_run;

/* Reconciles channel's current statement of date (see finance.proto RunReconciliation).
 * cutoff_s: the window before midnight (PAY_RECON_CUTOFF_DEFAULT_S). Every run is
 * audited (recon.run: what it stored, settled and opened). */
int fin_recon_run(PGconn *conn, const char *channel, const char *date, int cutoff_s,
                  const char *actor, const fin_audit_ctx *ac, fin_run *out, char *msg);

/* The maker proposes action ("BOOK", "REFUND", "WRITE_OFF") for the open exception id.
 * YW_EPRECOND when it is not OPEN or its statement has been replaced (SUPERSEDED). */
int fin_exception_propose(PGconn *conn, int64_t id, const char *action, const char *note,
                          const char *actor, const fin_audit_ctx *ac, char *msg);

/* The checker approves (approve = 1: the action is booked) or rejects (0: open again)
 * the proposal on exception id, naming the proposal decided: its action and version
 * (ReconException.version; required, YW_EINVAL without). YW_ECONFLICT when the proposal
 * is not that one any more, or (approving) when the platform has booked the row since
 * the run: the exception is then re-evaluated (its platform amount and class from the
 * ledger, OPEN again, committed) and the approval refused. YW_EEXIST when the channel's
 * row has been resolved already. YW_EPERM when actor proposed it. Approving BOOK needs
 * channel_says, the channel's answer to a query of the row's out_trade_no made just
 * before (finance_service.c asks it outside any transaction): SUCCESS with the row's
 * amount, else YW_EPRECOND; NULL (not asked) is YW_EPRECOND too. */
int fin_exception_decide(PGconn *conn, int64_t id, int approve, const char *action, int version,
                         const char *note, const char *actor, const fin_audit_ctx *ac,
                         const pay_query_res *channel_says, char *msg);

/* ---- the automatic part of a run: the channel asked, its answer acted on once ---- */

/* Where the passes that ask a channel (fin_recon_auto, fin_refunds_send) take their
 * connections: one for each read or action, waited for at most wait_ms and given back
 * before the channel is asked, so a slow channel never holds a connection of the pool.
 * Each step runs under a deadline of FIN_STEP_MS. */
typedef struct fin_db {
  yw_pg_pool *pool;
  int wait_ms;
  long long until_ms; /* CLOCK_MONOTONIC ms past which a pass asks the channel nothing
                       * more (a caller's deadline: the rest waits for the next pass);
                       * 0: none */
} fin_db;

#define FIN_STEP_MS 5000

/* Asks channel ch about out_trade_no, within timeout_ms, outside any transaction (the
 * BOOK approval's question and the automatic pass's): 0 with *said (an order the
 * channel does not have answered as NOTPAY), YW_EINVAL when the channel refuses to look
 * the number up, or YW_EUNAVAIL when it did not answer. */
int fin_channel_ask(const pay_channel *ch, const char *out_trade_no, int timeout_ms,
                    pay_query_res *said);

/* At most this many exceptions are acted on by one automatic pass; the rest wait for
 * the next run of the day (or finance). */
#define FIN_AUTO_MAX 50
/* The automatic pass takes the rows of its channel's last FIN_AUTO_DAYS days, up to the
 * day being run (migration 032). */
#define FIN_AUTO_DAYS 30

/* One exception the automatic pass acted on. action: "BOOK" (the channel confirmed a
 * payment of ours: booked paid, resolved), "SUSPENSE" (no order of ours, or the channel
 * does not confirm it: booked to suspense, left open for finance), "REVERSE" (the
 * channel does not have the platform's payment: its pay journal reversed, the order
 * EXCEPTION, resolved), "CHANNEL_HAS" (the channel has the platform's payment its
 * statement lacks: noted, left open). */
typedef struct fin_auto_done {
  int64_t exception_id;
  char action[16];
  char out_trade_no[PAY_OUT_NO_MAX];
  int64_t amount_fen;
  char channel_says[16]; /* the channel's state ("NOTPAY"), "" when not asked */
} fin_auto_done;

typedef struct fin_auto {
  int asked;            /* questions the channel answered */
  int unanswered;       /* 1: the channel did not answer; nothing more was asked of it */
  int left;             /* candidates not acted on (no answer, over FIN_AUTO_MAX, refused) */
  size_t n_done;
  fin_auto_done done[FIN_AUTO_MAX];
} fin_auto;

/*
 * The automatic part of running channel's day date (after fin_recon_run stored it): the
 * OPEN exceptions not acted on yet of the channel's current statements of the last
 * FIN_AUTO_DAYS days up to date, at most FIN_AUTO_MAX, rows never tried first (then by
 * id), rows asked about before and not acted on after them by their next try (each such
 * attempt pushes a row back: auto_tries, auto_next_at):
 *   - CHANNEL_ONLY payment naming one of our channel orders (not a second payment,
 *     which keeps finance's handling): first the platform's side again, as the approval
 *     checks it (a row the platform booked since the run is re-evaluated and left for
 *     finance); then the channel asked; SUCCESS with the row's amount books it through
 *     pay_book_paid as its notification would have (an EXCEPTION order's payment held,
 *     the order left EXCEPTION; a payment booked before only when no other row took it
 *     and it was not reversed), settles the row and resolves the exception (audit
 *     recon.auto_book); otherwise, or a row naming no
 *     order of ours (not asked), it is booked to suspense (journal recon_suspense: Dr
 *     channel_receivable / Cr suspense) and settled, the exception left OPEN for
 *     finance to refund or keep (recon.auto_suspense);
 *   - PLATFORM_ONLY payment (past the cut-off) booked by a pay journal: the channel
 *     asked; it has the payment (SUCCESS, REFUND): noted, left OPEN; it does not
 *     (NOTPAY, CLOSED, PAYERROR): the pay journal reversed by a new journal
 *     (pay_reversal), the order PAID -> EXCEPTION, the exception resolved
 *     (recon.auto_reverse). An order refunded since is left for finance.
 * Each question is asked outside any transaction within timeout_ms; the first one not
 * answered ends the asking (the rest are left for the next run). Each action is one
 * transaction, on a connection of db taken for it after the channel answered, that
 * locks the exception and acts only when it is still OPEN and not acted on, so a re-run
 * or a concurrent run acts once. Actor "system" in the audit records (ac: the run's
 * request). ch NULL: nothing is done. YW_EUNAVAIL (msg says so) when no connection
 * could be had.
 */
int fin_recon_auto(const fin_db *db, const char *channel, const char *date, const pay_channel *ch,
                   int timeout_ms, const fin_audit_ctx *ac, fin_auto *out, char *msg);

/*
 * Reverses the payment the platform booked for channel order out_trade_no of channel and
 * the channel never took, on conn_in_tx inside the caller's transaction: its pay journal
 * negated by a new journal (pay_reversal, the same ref, effective when the payment was,
 * so the payment's day nets it out), and its order (locked) PAID -> EXCEPTION with reason
 * (also its exception_reason) and the outbox event payment.order_reversed. *reversed = 0,
 * nothing done, when there is no such pay journal, or its order is not PAID or has a
 * refund that is not FAILED (finance's). Returns 0 or a query's or ledger_post's code
 * with err set (roll back).
 */
int fin_pay_reverse(PGconn *conn_in_tx, const char *channel, const char *out_trade_no,
                    const char *reason, int *reversed, yw_pg_error *err);

/* ---- the channel pays back what finance refunds ---- */

typedef struct fin_refunds {
  int asked;      /* refunds the channel answered (done or refused) */
  int succeeded;  /* refunded: journal recon_refund booked, SUCCESS */
  int failed;     /* refused by the channel: FAILED, the money left in refund_payable */
  int unanswered; /* channels that gave no answer: each asked nothing more in the pass */
  int left;       /* PENDING after the pass (of channel, or all): asked once their time comes */
} fin_refunds;

/*
 * Asks the channels of set to pay back the PENDING refunds that approved REFUND
 * resolutions wrote (payment.recon_refunds; channel NULL: every configured channel's),
 * at most FIN_AUTO_MAX a call: the ones never asked first, then those whose next try has
 * come (migration 033), taken from the channels in turn, each outside any transaction
 * within timeout_ms with its own out_refund_no (a retry is a no-op at the channel).
 * SUCCESS books journal recon_refund (Dr refund_payable / Cr channel_receivable, at the
 * channel's time: the statement's REFUND row then matches it) and ends it SUCCESS; a
 * definite refusal (pay_refund_refused: the trade unknown or not refundable) ends it
 * FAILED, the money left in refund_payable for finance; no answer, any other code (a 429
 * included: the channel may have paid), an answer for another refund or amount
 * (alerted), or not done yet leaves it PENDING with its attempt counted and a next try
 * 10 s x 2^misses later (at most an hour). A channel that gives no answer (nothing, a
 * 5xx, a 429, an unknown code) is asked nothing more in this call; the other channels
 * are. Audited recon.refund (actor "system"). Connections are taken from db for each read
 * and write, never held while a channel is asked. finance_service.c calls it after an
 * approval and after every run. 0, or the code of a database failure (msg set).
 */
int fin_refunds_send(const fin_db *db, const pay_channels *set, const char *channel, int timeout_ms,
                     const fin_audit_ctx *ac, fin_refunds *out, char *msg);

/* ---- finance decides a refund to the payer the channel refused ---- */

/*
 * The maker proposes action ("RETRY": ask the channel again; "WRITE_OFF": the money from
 * refund_payable to suspense) for the refund to the payer out_refund_no, which must be
 * FAILED with no proposal pending (else YW_EPRECOND); note 1..500 bytes. Bumps its
 * version; audited (recon.refund_propose). YW_ENOTFOUND when there is no such refund.
 */
int fin_payer_refund_propose(PGconn *conn, const char *out_refund_no, const char *action,
                             const char *note, const char *actor, const fin_audit_ctx *ac, char *msg);

/*
 * The checker approves (approve = 1) or rejects (0) the pending proposal on refund
 * out_refund_no, naming it by action and version (as read; YW_ECONFLICT when it is not
 * that one any more); the proposer is refused (YW_EPERM). RETRY approved: the refund is
 * PENDING again (asked by fin_refunds_send with the same out_refund_no); WRITE_OFF
 * approved: journal recon_refund_writeoff (ref out_refund_no: Dr refund_payable:<ch> /
 * Cr suspense), WRITTEN_OFF. A rejection clears the proposal. One transaction, audited
 * (recon.refund_approve, recon.refund_reject).
 */
int fin_payer_refund_decide(PGconn *conn, const char *out_refund_no, int approve, const char *action,
                            int version, const char *note, const char *actor,
                            const fin_audit_ctx *ac, char *msg);

/* ---- the RPC side (finance_service.c): FinanceService on yw-payment's server ---- */

typedef struct finance_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_caller_keys caller_keys;
  int cutoff_s;                          /* YW_RECON_CUTOFF_S */
  const struct pay_channels *channels;   /* for ImportStatement by API; may be NULL */
  int channel_timeout_ms;
  const uint8_t *data_key;               /* decrypts payers' names (shown masked); NULL: "?" */
} finance_ctx;

/* The service table; ctx must outlive the server. */
void finance_service_init(yw_rpc_service *svc, finance_ctx *ctx);

#endif
