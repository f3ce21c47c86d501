/*
 * payment.h - yw-payment: payment orders (统一公共支付), paying them through a channel,
 * the channels' notifications, refunds, all booked in the ledger (ledger.h).
 */
#ifndef PAYMENT_H
#define PAYMENT_H

#include <stdint.h>

#include "channel.h"
#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_idem.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

typedef struct payment_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_redis *redis;               /* kept answers' cache; may be NULL */
  const char *redis_prefix;
  yw_caller_keys caller_keys;
  yw_rpc_channel *applications;  /* yw-applications: the fees of applications (app_fee.c); NULL: none */
  yw_rpc_channel *identity;      /* yw-identity: the verified name of an application's payer
                                  * (app_fee.c); NULL: the payer is named by account id */
  uint8_t data_key[YW_KEY_BYTES]; /* encrypts payers' names at rest (AES-256-GCM) */
  yw_idem_opts idem_create;       /* CreateOrder's kept answers */
  yw_idem_opts idem_refund;       /* RefundOrder's */
  const pay_channels *channels;   /* the configured channels; NULL: none (PayOrder refuses) */
  const char *notify_base;        /* notify_url given to a channel: "<notify_base>/<channel>" */
  int channel_timeout_ms;         /* the total bound of one call to a channel */
} payment_ctx;

/* The service table; data must point to a payment_ctx that outlives the server. Also
 * fills ctx's kept answers' options (after pool, redis and caller_keys are set). */
void payment_service_init(yw_rpc_service *svc, payment_ctx *ctx);

#define PAY_STATUS_MAX 16
#define PAY_PAYER_NAME_MAX 100 /* bytes of a payer's name */

/*
 * Moves the order order_id (a uuid) to status to when its status is one of from_set
 * ("PAYING,UNKNOWN"), by compare-and-set, and journals the change in order_events with
 * reason and actor ("janitor", "channel:sim", an account id), on conn_in_tx inside the
 * caller's transaction (the row stays locked until it ends). old (may be NULL) gets the
 * status the order had. Returns 0; YW_EPRECOND when the status was not in from_set
 * (nothing changed); YW_ENOTFOUND; or a yw_pg_query code with err set.
 */
int pay_order_transition(PGconn *conn_in_tx, const char *order_id, const char *from_set, const char *to,
                         const char *reason, const char *actor, char old[PAY_STATUS_MAX], yw_pg_error *err);

/* What pay_book_paid did. */
/* Channel switches (a channel order after the first) by anyone but the payer (the public
 * notice-code route): at most this many a minute and this many a day, per order. */
#define PAY_SWITCHES_PER_MINUTE 1
#define PAY_SWITCHES_PER_DAY 5

typedef enum pay_book_outcome {
  PAY_BOOK_PAID = 1,         /* the order is PAID now, booked, payment.order_paid appended */
  PAY_BOOK_LATE,             /* paid after close: EXCEPTION, booked (the money is there) */
  PAY_BOOK_ALREADY,          /* this channel order was booked before: nothing written */
  PAY_BOOK_SUSPENSE,         /* the order was already paid otherwise: booked to suspense */
  PAY_BOOK_AMOUNT_MISMATCH,  /* the channel's amount differs: EXCEPTION, not booked */
  PAY_BOOK_NO_ORDER,         /* no such channel order (of this channel): nothing written */
  PAY_BOOK_HELD,             /* the order was EXCEPTION with nothing booked (a mismatch the
                              * channel reported before): booked as its payment (journal
                              * pay), the order stays EXCEPTION for finance */
} pay_book_outcome;

/* Raises an operator's alert (a payment.alert log line, counted in /metrics): money and
 * records disagree. what and detail name no person. */
void pay_alert(const char *what, const char *ref, const char *detail);

/* Why a payment the channel reports (a notification or a query's answer) cannot be booked
 * as it stands: the currency is not CNY, or the payer paid other than the total. NULL
 * when it can. */
const char *pay_paid_mismatch(const char *currency, int64_t total_fen, int64_t payer_total_fen);

/* Why the channel's answer to a refund cannot be booked: another refund number, another
 * amount than asked, not CNY. NULL when it can. */
const char *pay_refund_mismatch(const pay_refund_req *asked, const pay_refund_res *answer);

/* 1 when rc, a pay_channel_refund code, is the channel's definite refusal: a verified
 * business code saying the refund was not made (YW_EPRECOND: NOT_ENOUGH, ORDER_NOT_PAID,
 * ORDER_CLOSED; YW_ENOTFOUND: ORDER_NOT_EXIST), so the refund may be marked FAILED and its
 * reservation released. Anything else (no answer, a 5xx, an answer too large or
 * malformed, an unknown code, a signature refused, out of memory) leaves the outcome
 * unknown: the refund stays PENDING and is asked again with the same out_refund_no. */
int pay_refund_refused(int rc);

/* Moves the order of channel order out_trade_no OF channel (another channel's order of
 * the same number is left alone) to EXCEPTION with reason, inside the caller's
 * transaction; no such channel order, or an order past the point (PAID...): nothing, 0. */
int pay_order_exception(PGconn *conn_in_tx, const char *channel, const char *out_trade_no, const char *reason,
                        const char *actor, yw_pg_error *err);

/*
 * The channel says out_trade_no of channel is paid (transaction_id, total_fen, at
 * success_unix): books it on conn_in_tx, inside the caller's transaction: the order's
 * status by compare-and-set (PAYING/UNKNOWN -> PAID; CLOSING -> PAID while its channel
 * order is still OPEN (not closed at the channel yet: paid in time) or when closing_paid
 * (the channel refused our close because it is paid); otherwise CLOSING/CLOSED ->
 * EXCEPTION "paid after close"; EXCEPTION with no payment booked stays EXCEPTION, its
 * payment recorded and booked: PAY_BOOK_HELD),
 * the journal (pay, out_trade_no: Dr channel_receivable:<ch> / Cr
 * treasury_payable:<dept>:<item>) and the event payment.order_paid. A differing amount
 * moves the order to EXCEPTION and books nothing. *outcome says which. Returns 0 or a
 * yw_pg_query code with err set (roll back).
 */
int pay_book_paid(PGconn *conn_in_tx, const char *channel, const char *out_trade_no, const char *transaction_id,
                  int64_t total_fen, int64_t success_unix, int closing_paid, const char *actor,
                  pay_book_outcome *outcome, yw_pg_error *err);

/*
 * The channel says the refund out_refund_no succeeded (refund_id, at success_unix): on
 * conn_in_tx, the refund PENDING -> SUCCESS, the journal (refund, out_refund_no: Dr
 * treasury_payable / Cr channel_receivable), PAID -> REFUNDED once refunds reach the
 * amount paid, and the event payment.refunded. *booked is 1, or 0 when it was booked
 * before or is not PENDING (a no-op, 0). Returns 0, YW_ENOTFOUND (no such refund), or a
 * yw_pg_query or ledger_post code with err set (the ledger refusing the journal included,
 * YW_EPRECOND among them: nothing is booked, roll back).
 */
int pay_book_refund(PGconn *conn_in_tx, const char *out_refund_no, const char *refund_id, int64_t success_unix,
                    int *booked, yw_pg_error *err);

/*
 * The channel definitively refused the PENDING refund out_refund_no: FAILED, and its
 * amount is refundable again. On conn_in_tx. Returns 0 (also when it was not PENDING)
 * or a yw_pg_query code.
 */
int pay_refund_failed(PGconn *conn_in_tx, const char *out_refund_no, yw_pg_error *err);
/* The order order_id as the payer and the payee see it (the payer's name in clear), read
 * on conn into *out from a's memory. Returns 0, YW_ENOTFOUND, YW_ENOMEM or a query's code
 * (err). */
struct Yiwang__Payment__V1__Order;
int pay_order_read(payment_ctx *ctx, yw_arena *a, PGconn *conn, const char *order_id,
                   struct Yiwang__Payment__V1__Order **out, yw_pg_error *err);

/*
 * Notify's priority (payment/README.md "Admission"). A notification refused before any
 * work (its signature, timestamp or shape: pay_channel_verify_notify) counts against its
 * channel; once PAY_NOTIFY_REFUSED_MAX are counted in the window of
 * PAY_NOTIFY_REFUSED_WINDOW_S seconds that began with the first of them, the channel's
 * notifications are admitted as ordinary calls until that window ends (a flood of forged
 * ones is then shed with the rest instead of served first). So at most
 * PAY_NOTIFY_REFUSED_MAX refused notifications a window per channel are admitted first.
 */
#define PAY_NOTIFY_REFUSED_MAX 20
#define PAY_NOTIFY_REFUSED_WINDOW_S 60

/* Counts a notification of channel refused at now_unix (thread-safe). */
void pay_notify_refused(const char *channel, int64_t now_unix);

/* 1 while channel's notifications keep their priority at now_unix (thread-safe). */
int pay_notify_priority(const char *channel, int64_t now_unix);

/* A yw_rpc_priority_gate for the server (arg: the payment_ctx): Notify keeps its priority
 * only for a configured channel (read from the request's bytes) still keeping it
 * (pay_notify_priority); every other priority method keeps it. Never blocks. */
int payment_priority_gate(void *arg, const char *method, const uint8_t *req, size_t len);

/* The service's own /metrics lines (alerts) into buf. Returns the bytes written or
 * YW_ETOOBIG. */
int payment_metrics(char *buf, size_t len);

/* 1 when s has the shape of a uuid (8-4-4-4-12 hex digits). */
int pay_uuid_ok(const char *s);

extern const struct yw_embedded_file payment_migrations[];
extern const unsigned payment_migrations_count;

#endif
