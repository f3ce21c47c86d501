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

extern const struct yw_embedded_file payment_migrations[];
extern const unsigned payment_migrations_count;

#endif
