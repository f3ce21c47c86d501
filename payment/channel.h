/*
 * channel.h - the payment channel adapter: what yw-payment (payment.c, janitor.c) and
 * reconciliation (recon.c) ask of an acquirer, whichever one it is.
 *
 * The one implementation today, channel_sim.c, speaks the simulator's protocol
 * (payment/sim/, modelled on WeChat Pay v3; payment/README.md "Channels and the
 * simulator"): merchant requests signed with HMAC-SHA256 under the merchant's API key,
 * notifications signed by the channel with RSA-SHA256 (channel `sim`) or SM2 with SM3
 * (channel `sim-sm2`), a daily statement CSV.
 *
 * Configuration comes from two strings, the settings yw-payment exposes:
 *   YW_PAYMENT_CHANNELS      "sim=http://127.0.0.1:8090/sim,sim-sm2=http://127.0.0.1:8090/sim-sm2"
 *   YW_PAYMENT_CHANNEL_KEYS  "sim=1900000001:<api key hex>:<public key PEM path>,sim-sm2=..."
 * pay_channels_load parses both, reads the PEM files once and gives an immutable set;
 * every function below may be called from several threads at once.
 *
 * Calls to the channel: each has a total timeout in ms (connect + send + answer). The
 * codes are the same for every call:
 *   0             the channel answered as asked;
 *   YW_EUNAVAIL   no answer: unreachable, timed out, 5xx, or an answer that cannot be
 *                 read. The outcome is UNKNOWN (the channel may have acted): the caller
 *                 queries later, never assumes failure;
 *   YW_EINVAL     the caller's request is malformed (refused before sending), or the
 *                 channel answered 400 PARAM_ERROR;
 *   YW_EUNAUTH    the channel refused our signature (401 SIGN_ERROR): a configuration
 *                 error (wrong mchid or API key), not a state of the order;
 *   others as each function says (a refusal by the channel that is a state of the
 *   order: YW_EEXIST, YW_ECONFLICT, YW_EPRECOND, YW_ENOTFOUND).
 * When a call fails and code_out is given, the channel's error code ("ORDER_PAID") is
 * copied there (empty when there was none).
 *
 * Ownership: results are filled into caller-provided structs of fixed-size fields; the
 * only allocation handed out is the statement text (caller frees with free()).
 *
 * Offers: pay_channels_load, pay_channels_free, pay_channels_find, pay_channels_count,
 * pay_channels_at, pay_channel_name, pay_channel_mchid, pay_channel_prepay,
 * pay_channel_query, pay_channel_close, pay_channel_refund, pay_channel_verify_notify,
 * pay_channel_statement, pay_channel_state_name, pay_channel_state_parse,
 * pay_channel_key_serial_pem, pay_time_parse, pay_time_format.
 */
#ifndef PAY_CHANNEL_H
#define PAY_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define PAY_CHANNEL_NAME_MAX 32   /* "sim-sm2" and its NUL fit well within */
#define PAY_MCHID_MAX 32          /* merchant number "1900000001" */
#define PAY_OUT_NO_MAX 64         /* out_trade_no, out_refund_no: [A-Za-z0-9_-], 6..32 */
#define PAY_ID_MAX 64             /* prepay_id, transaction_id, refund_id, notice id */
#define PAY_URL_MAX 512           /* notify_url, code_url */
#define PAY_TIME_MAX 40           /* RFC 3339 "2026-12-01T10:00:00+08:00" */
#define PAY_CODE_MAX 40           /* the channel's error code "OUT_TRADE_NO_USED" */
#define PAY_DESC_MAX 128          /* description, bytes of UTF-8 */
#define PAY_STATEMENT_MAX (256u * 1024 * 1024) /* cap on a statement's bytes */
#define PAY_NOTIFY_WINDOW_S 300   /* a notification's timestamp may be this far off */

typedef struct pay_channel pay_channel;   /* one configured channel, owned by its set */
typedef struct pay_channels pay_channels; /* every configured channel */

/* The channel's view of an order (trade_state). */
typedef enum pay_trade_state {
  PAY_TRADE_NOTPAY = 0,
  PAY_TRADE_SUCCESS,
  PAY_TRADE_CLOSED,
  PAY_TRADE_REFUND,   /* paid, then (partly) refunded */
  PAY_TRADE_PAYERROR,
} pay_trade_state;

typedef struct pay_prepay_req {
  const char *out_trade_no;  /* ours, unique per channel; a retry reuses it */
  const char *description;   /* shown to the payer; at most PAY_DESC_MAX bytes */
  int64_t total_fen;         /* > 0 */
  const char *notify_url;    /* where the channel POSTs notifications */
  int64_t expire_unix;       /* time_expire; 0: none */
} pay_prepay_req;

typedef struct pay_prepay_res {
  char prepay_id[PAY_ID_MAX];
  char code_url[PAY_URL_MAX]; /* what the payer's wallet opens (QR code content) */
} pay_prepay_res;

typedef struct pay_query_res {
  pay_trade_state state;
  char transaction_id[PAY_ID_MAX];  /* "" before payment */
  int64_t total_fen;                /* the order's amount as the channel has it */
  int64_t payer_total_fen;          /* what the payer paid (0 before payment) */
  char success_time[PAY_TIME_MAX];  /* RFC 3339, "" before payment */
  int64_t success_unix;             /* the same as unix seconds, 0 before payment */
  char currency[8];                 /* amount.currency ("CNY"); "" when absent or too long */
} pay_query_res;

typedef struct pay_refund_req {
  const char *out_trade_no;
  const char *out_refund_no; /* ours, unique; a retry with the same number is a no-op */
  int64_t refund_fen;        /* > 0 */
  int64_t total_fen;         /* the order's amount */
} pay_refund_req;

typedef struct pay_refund_res {
  char refund_id[PAY_ID_MAX];
  char out_refund_no[PAY_OUT_NO_MAX];
  char status[16];                  /* "SUCCESS" */
  char success_time[PAY_TIME_MAX];
  int64_t success_unix;
  int64_t refund_fen;               /* amount.refund as the channel refunded it */
  char currency[8];                 /* amount.currency ("CNY"); "" when absent or too long */
} pay_refund_res;

typedef enum pay_notice_kind {
  PAY_NOTICE_TRANSACTION = 1, /* event_type TRANSACTION.SUCCESS */
  PAY_NOTICE_REFUND = 2,      /* event_type REFUND.SUCCESS */
} pay_notice_kind;

/* A verified notification. Every field is a copy (the body may be freed after). */
typedef struct pay_notice {
  pay_notice_kind kind;
  char id[PAY_ID_MAX];              /* the notification's id; the same for every resend */
  char mchid[PAY_MCHID_MAX];        /* the caller must compare it with pay_channel_mchid */
  char out_trade_no[PAY_OUT_NO_MAX];
  char transaction_id[PAY_ID_MAX];
  char trade_state[16];             /* "SUCCESS" (transaction); the caller checks it */
  char currency[8];                 /* amount.currency ("CNY"; "" when absent); the caller checks it */
  int64_t total_fen;                /* amount.total */
  int64_t payer_total_fen;          /* amount.payer_total (transaction) */
  char success_time[PAY_TIME_MAX];
  int64_t success_unix;
  /* refunds only ("" / 0 otherwise) */
  char out_refund_no[PAY_OUT_NO_MAX];
  char refund_id[PAY_ID_MAX];
  int64_t refund_fen;               /* amount.refund */
} pay_notice;

/*
 * Parses the channel list spec ("name=base_url,...") and the keys spec
 * ("name=mchid:apikey_hex:pubkey_pem_path,...") into a set; every channel of spec needs
 * its keys (and the reverse). The implementation is chosen by name: `sim` and `sim-sm2`
 * (any name starting with "sim") use the simulator's protocol; the public key's type
 * decides the notification algorithm (RSA: RSA-SHA256, SM2: SM2 with SM3).
 * Returns 0 and *out (free with pay_channels_free); YW_EINVAL for a malformed spec, an
 * unknown channel kind, an API key that is not 64 hex characters, a public key file that
 * cannot be read or is neither RSA nor SM2 (err, if not NULL, gets a one-line reason of
 * at most errlen bytes naming the entry); YW_ENOMEM.
 */
int pay_channels_load(const char *spec, const char *keys, pay_channels **out, char *err,
                      size_t errlen);

/* Frees the set and its channels; NULL is fine. No call may be running on them. */
void pay_channels_free(pay_channels *set);

/* The channel named name, or NULL. The pointer lives as long as the set. */
const pay_channel *pay_channels_find(const pay_channels *set, const char *name);

/* The number of channels and the i-th (0 <= i < count), in the order of the spec. */
size_t pay_channels_count(const pay_channels *set);
const pay_channel *pay_channels_at(const pay_channels *set, size_t i);

const char *pay_channel_name(const pay_channel *ch);  /* "sim" */
const char *pay_channel_mchid(const pay_channel *ch); /* "1900000001" */

/*
 * Creates (or finds again) the channel's order for req (POST .../v3/pay/transactions/native).
 * The same out_trade_no with the same amount answers the same prepay_id (safe to retry
 * after YW_EUNAVAIL). Returns 0 and *out; YW_EEXIST when the out_trade_no is known with
 * another amount (OUT_TRADE_NO_USED); YW_EPRECOND when that order is closed
 * (ORDER_CLOSED); YW_ECONFLICT when it is paid already (ORDER_PAID: query it);
 * YW_EUNAVAIL, YW_EINVAL, YW_EUNAUTH as above.
 */
int pay_channel_prepay(const pay_channel *ch, const pay_prepay_req *req, int timeout_ms,
                       pay_prepay_res *out, char code_out[PAY_CODE_MAX]);

/*
 * The channel's state of an order (GET .../out-trade-no/{no}). Returns 0 and *out;
 * YW_ENOTFOUND when the channel does not know it (ORDER_NOT_EXIST); YW_EUNAVAIL,
 * YW_EINVAL, YW_EUNAUTH as above.
 */
int pay_channel_query(const pay_channel *ch, const char *out_trade_no, int timeout_ms,
                      pay_query_res *out, char code_out[PAY_CODE_MAX]);

/*
 * Closes an unpaid order (POST .../out-trade-no/{no}/close). Returns 0 when it is closed
 * (also when it already was); YW_ECONFLICT when the channel says it is paid (ORDER_PAID:
 * query it and treat it as paid); YW_ENOTFOUND when unknown; YW_EUNAVAIL (state unknown),
 * YW_EINVAL, YW_EUNAUTH as above.
 */
int pay_channel_close(const pay_channel *ch, const char *out_trade_no, int timeout_ms,
                      char code_out[PAY_CODE_MAX]);

/*
 * Refunds part or all of a paid order (POST .../v3/refund/domestic/refunds); idempotent
 * on out_refund_no (a retry answers the first refund). Returns 0 and *out; YW_EPRECOND
 * when more than the remaining amount is asked (NOT_ENOUGH) or the order is not paid
 * (code_out says which); YW_ENOTFOUND when the order is unknown; YW_EUNAVAIL (state
 * unknown: retry with the same out_refund_no), YW_EINVAL, YW_EUNAUTH as above.
 */
int pay_channel_refund(const pay_channel *ch, const pay_refund_req *req, int timeout_ms,
                       pay_refund_res *out, char code_out[PAY_CODE_MAX]);

/*
 * Verifies a notification as it came (the raw body and the headers Yw-Pay-Timestamp,
 * Yw-Pay-Nonce, Yw-Pay-Serial, Yw-Pay-Signature; any may be NULL when absent): the
 * signature over TIMESTAMP "\n" NONCE "\n" BODY "\n" with the channel's public key, the
 * timestamp within PAY_NOTIFY_WINDOW_S of now_unix, the serial equal to the key's id
 * (when given), then the JSON shape. It does NOT compare mchid or amounts with the
 * order: the caller does (out->mchid, out->total_fen).
 * Returns 0 and *out; YW_EPERM when a header is missing, the signature does not verify
 * (forged, wrong key, changed body) or the timestamp is outside the window (stale);
 * YW_EINVAL when the signature verifies but the body is not the expected JSON (unknown
 * event_type, a field missing or of the wrong type, an amount < 0);
 * YW_ETOOBIG for a body above 64 KiB. No I/O; never blocks.
 */
int pay_channel_verify_notify(const pay_channel *ch, const char *timestamp,
                              const char *nonce, const char *serial,
                              const char *signature_b64, const uint8_t *body, size_t len,
                              int64_t now_unix, pay_notice *out);

/*
 * The channel's statement of one day (date "YYYY-MM-DD", Asia/Shanghai) as the CSV text
 * the channel publishes (GET .../v3/bill/tradebill). Returns 0, *csv (NUL-terminated,
 * caller frees) and *len; YW_ENOTFOUND when the channel has no statement for that day
 * (NO_STATEMENT_EXIST); YW_ETOOBIG past PAY_STATEMENT_MAX; YW_EUNAVAIL, YW_EINVAL,
 * YW_EUNAUTH as above.
 */
int pay_channel_statement(const pay_channel *ch, const char *date, int timeout_ms,
                          char **csv, size_t *len, char code_out[PAY_CODE_MAX]);

/* "NOTPAY", "SUCCESS", "CLOSED", "REFUND", "PAYERROR"; never NULL. */
const char *pay_channel_state_name(pay_trade_state s);

/* The state named name; 0 and *out, or YW_EINVAL. */
int pay_channel_state_parse(const char *name, pay_trade_state *out);

/* The id of a public key as channels send it in Yw-Pay-Serial: the first 16 bytes of
 * SHA-256 over the key's SubjectPublicKeyInfo DER, as 32 upper-case hex characters and
 * a NUL. pem is a public or private key. Returns 0, YW_EINVAL (not a PEM key). */
int pay_channel_key_serial_pem(const char *pem, size_t len, char out[33]);

/* Parses an RFC 3339 time ("2026-12-01T10:00:00+08:00", "...Z", fractions ignored)
 * into unix seconds. Returns 0 or YW_EINVAL. */
int pay_time_parse(const char *text, int64_t *out);

/* Formats unix seconds as RFC 3339 in Asia/Shanghai ("2026-12-01T10:00:00+08:00"), the
 * form channels use; out has room for PAY_TIME_MAX bytes. Returns out. */
char *pay_time_format(int64_t unix_s, char out[PAY_TIME_MAX]);

#endif
