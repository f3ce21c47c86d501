/*
 * payment.h - yw-payment: payment orders (统一公共支付), paying them through a channel,
 * the channels' notifications, refunds, all booked in the ledger (ledger.h).
 */
#ifndef PAYMENT_H
#define PAYMENT_H

#include <stdint.h>

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
  uint8_t data_key[YW_KEY_BYTES]; /* encrypts payers' names at rest (AES-256-GCM) */
  yw_idem_opts idem_create;       /* CreateOrder's kept answers */
  yw_idem_opts idem_refund;       /* RefundOrder's */
} payment_ctx;

/* The service table; data must point to a payment_ctx that outlives the server. Also
 * fills ctx's kept answers' options (after pool, redis and caller_keys are set). */
void payment_service_init(yw_rpc_service *svc, payment_ctx *ctx);

#define PAY_STATUS_MAX 16

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

/* 1 when s has the shape of a uuid (8-4-4-4-12 hex digits). */
int pay_uuid_ok(const char *s);

extern const struct yw_embedded_file payment_migrations[];
extern const unsigned payment_migrations_count;

#endif
