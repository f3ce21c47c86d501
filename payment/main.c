/*
 * yw-payment - serves yiwang.payment.v1.PaymentService (统一公共支付): payment orders,
 * paying them through a channel, the channels' notifications, refunds, the ledger.
 *
 * Start-up: the settings every service has (yw_service_start), the payment schema's
 * migrations with the outbox and the kept answers, the relay of the outbox to the stream
 * <prefix>:events:{payment}; serve until SIGINT/SIGTERM.
 *
 * Usage: yw-payment [--migrate-only] [--help]
 */
#include <stdio.h>

#include "payment.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_service.h"

static char *cfg_data_key;

static const yw_cfg_entry settings[] = {
    {"YW_PAYMENT_DATA_KEY", YW_CFG_STR, "", 0, 0,
     "64 hex: the key that encrypts payers' names at rest (AES-256-GCM)", &cfg_data_key},
};

static yw_events_relay *relay;

static void stop_all(void *arg) {
  (void)arg;
  yw_events_relay_stop(relay);
}

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "payment",
      .listen = "127.0.0.1:50057",
      .schema = "payment",
      .migrations = payment_migrations,
      .events = 1,      /* payment.order_paid, payment.refunded through the outbox */
      .idempotency = 1, /* CreateOrder and RefundOrder keep their answers by Idempotency-Key */
      .redis_timeout_ms = 500,
      .redis_use = "events wait in the outbox; kept answers come from PostgreSQL",
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = payment_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  static payment_ctx ctx;
  ctx.pool = proc.pool;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis = proc.redis;
  ctx.redis_prefix = proc.redis_prefix;
  ctx.caller_keys = proc.caller_keys;
  if (yw_key_from_hex(cfg_data_key, ctx.data_key) != 0) {
    fprintf(stderr, "yw-payment: YW_PAYMENT_DATA_KEY must be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  yw_rpc_service svc;
  payment_service_init(&svc, &ctx);

  static char stream[128];
  snprintf(stream, sizeof stream, "%s:events:{payment}", proc.redis_prefix);
  yw_events_relay_config rcfg = {.schema = "payment", .stream = stream, .listen = 1, .interval_ms = 500};
  if (proc.redis == NULL || yw_events_relay_start(proc.pool, proc.redis, &rcfg, &relay) != 0) {
    fprintf(stderr, "yw-payment: the relay of events needs Redis at start\n");
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_all;
  return yw_service_run(&proc, &svc);
}
