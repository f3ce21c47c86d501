/*
 * yw-payment - serves yiwang.payment.v1.PaymentService (统一公共支付): payment orders,
 * paying them through a channel, the channels' notifications, refunds, the ledger; and
 * yiwang.payment.v1.FinanceService (daily reconciliation, finance.h) on the same server.
 *
 * Start-up: the settings every service has (yw_service_start), the payment schema's
 * migrations with the outbox and the kept answers, the channels (YW_PAYMENT_CHANNELS,
 * YW_PAYMENT_CHANNEL_KEYS), the relay of the outbox to the stream
 * <prefix>:events:{payment}, the janitor's thread; serve until SIGINT/SIGTERM.
 *
 * Usage: yw-payment [--migrate-only] [--help]
 */
#include <stdio.h>

#include "finance.h"
#include "janitor.h"
#include "payment.h"
#include "receipts.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_service.h"

static char *cfg_data_key, *cfg_channels, *cfg_channel_keys, *cfg_notify_base;
static long cfg_channel_timeout_ms, cfg_janitor_ms, cfg_window_s, cfg_batch;
static long cfg_recon_cutoff_s;
static char *cfg_applications, *cfg_identity, *cfg_seal_key;
static long cfg_receipts_ms;

static const yw_cfg_entry settings[] = {
    {"YW_PAYMENT_DATA_KEY", YW_CFG_STR, "", 0, 0,
     "64 hex: the key that encrypts payers' names at rest (AES-256-GCM)", &cfg_data_key},
    {"YW_PAYMENT_CHANNELS", YW_CFG_STR, "", 0, 0,
     "the channels: name=base URL,... (\"sim=http://127.0.0.1:8090/sim\"); empty: none, no payments",
     &cfg_channels},
    {"YW_PAYMENT_CHANNEL_KEYS", YW_CFG_STR, "", 0, 0,
     "each channel's merchant number, API key and public key: name=mchid:apikey hex:PEM path,...",
     &cfg_channel_keys},
    {"YW_PAYMENT_NOTIFY_BASE", YW_CFG_STR, "http://127.0.0.1:8080/v1/payments/notify", 0, 0,
     "where channels send notifications (through the gateway): <base>/<channel>", &cfg_notify_base},
    {"YW_PAYMENT_CHANNEL_TIMEOUT_MS", YW_CFG_INT, "3000", 100, 30000,
     "the total bound of one call to a channel", &cfg_channel_timeout_ms},
    {"YW_PAYMENT_JANITOR_MS", YW_CFG_INT, "30000", 50, 3600000,
     "ms between the janitor's passes (orders left paying, unknown or expired; pending refunds)",
     &cfg_janitor_ms},
    {"YW_PAYMENT_PAYING_WINDOW_S", YW_CFG_INT, "120", 0, 86400,
     "seconds an order stays paying or unknown before the janitor asks the channel", &cfg_window_s},
    {"YW_PAYMENT_JANITOR_BATCH", YW_CFG_INT, "200", 1, 10000,
     "orders (and refunds) of each kind one pass looks at", &cfg_batch},
    {"YW_RECON_CUTOFF_S", YW_CFG_INT, "300", 0, 3600,
     "seconds before midnight in which a payment missing from the day's statement is "
     "looked for in the next day's (reconciliation's cut-off)", &cfg_recon_cutoff_s},
    {"YW_PAYMENT_APPLICATIONS", YW_CFG_STR, "127.0.0.1:50055", 0, 0,
     "yw-applications' gRPC target: the fees of applications (GetApplicationFee); empty: "
     "no orders for applications", &cfg_applications},
    {"YW_PAYMENT_IDENTITY", YW_CFG_STR, "127.0.0.1:50051", 0, 0,
     "yw-identity's gRPC target: the verified name (or company) an application's fee order "
     "names as its payer (GetVerifiedIdentity); empty: the payer is named by account id", &cfg_identity},
    {"YW_PAYMENT_SEAL_KEY", YW_CFG_STR, "", 0, 0,
     "a PEM file of the SM2 private key (openssl genpkey -algorithm SM2) that seals fiscal "
     "e-receipts (财政电子票据); empty: none are issued", &cfg_seal_key},
    {"YW_PAYMENT_RECEIPTS_MS", YW_CFG_INT, "2000", 50, 3600000,
     "ms between the passes that issue receipts of paid orders and refunds", &cfg_receipts_ms},
};

static yw_events_relay *relay;
static janitor *jan;
static pay_channels *channels;
static receipts_job *receipts;

/* /metrics: the service's alerts, then the janitor's counters. */
static int metrics(void *arg, char *buf, size_t len) {
  int n = payment_metrics(buf, len);
  if (n < 0) return n;
  int m = janitor_metrics(arg, buf + n, len - (size_t)n);
  return m < 0 ? m : n + m;
}

static void stop_all(void *arg) {
  (void)arg;
  receipts_stop(receipts);
  receipts = NULL;
  janitor_stop(jan);
  jan = NULL;
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
      .calls_out = 1, /* yw-applications and yw-identity, with its own client certificate
                       * (payment-client) */
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
      /* a notification is money taken already, and a payer's look at an order is cheap:
       * neither is shed with new orders when the service is full */
      .priority = "/yiwang.payment.v1.PaymentService/Notify,/yiwang.payment.v1.PaymentService/GetOrder",
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
  ctx.notify_base = cfg_notify_base;
  ctx.channel_timeout_ms = (int)cfg_channel_timeout_ms;
  if (yw_key_from_hex(cfg_data_key, ctx.data_key) != 0) {
    fprintf(stderr, "yw-payment: YW_PAYMENT_DATA_KEY must be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  if (cfg_channels[0] != '\0') {
    char why[256] = "";
    if (pay_channels_load(cfg_channels, cfg_channel_keys, &channels, why, sizeof why) != 0) {
      fprintf(stderr, "yw-payment: YW_PAYMENT_CHANNELS / YW_PAYMENT_CHANNEL_KEYS: %s\n", why);
      yw_service_stop(&proc);
      return 2;
    }
    ctx.channels = channels;
  } else {
    fprintf(stderr, "yw-payment: no channels configured (YW_PAYMENT_CHANNELS): orders cannot be paid\n");
  }
  if ((cfg_applications[0] != '\0' && (ctx.applications = yw_service_channel(&proc, cfg_applications)) == NULL) ||
      (cfg_identity[0] != '\0' && (ctx.identity = yw_service_channel(&proc, cfg_identity)) == NULL)) {
    pay_channels_free(channels);
    yw_service_stop(&proc);
    return 2;
  }
  /* a channel's notifications lose their priority while forged ones flood it */
  proc.priority_gate = payment_priority_gate;
  proc.priority_gate_arg = &ctx;
  yw_rpc_service svc;
  payment_service_init(&svc, &ctx);
  /* FinanceService (reconciliation) on the same server */
  static finance_ctx fctx;
  fctx.pool = proc.pool;
  fctx.db_wait_ms = (int)proc.db_wait_ms;
  fctx.caller_keys = proc.caller_keys;
  fctx.cutoff_s = (int)cfg_recon_cutoff_s;
  fctx.channels = ctx.channels;
  fctx.channel_timeout_ms = (int)cfg_channel_timeout_ms;
  fctx.data_key = ctx.data_key;
  static yw_rpc_service finance_svc;
  finance_service_init(&finance_svc, &fctx);
  proc.more[proc.n_more++] = &finance_svc;
  /* ReceiptsService (fiscal e-receipts) too, sealed with the deployment's key */
  static yw_seal *seal;
  static receipts_ctx rctx;
  char why[320];
  if (receipts_seal_load(cfg_seal_key, &seal, why, sizeof why) != 0) {
    fprintf(stderr, "yw-payment: YW_PAYMENT_SEAL_KEY: %s\n", why);
    pay_channels_free(channels);
    yw_service_stop(&proc);
    return 2;
  }
  if (seal == NULL) fprintf(stderr, "yw-payment: no seal (YW_PAYMENT_SEAL_KEY): no receipts are issued\n");
  rctx.pay = &ctx;
  rctx.seal = seal;
  static yw_rpc_service receipts_svc;
  receipts_service_init(&receipts_svc, &rctx);
  proc.more[proc.n_more++] = &receipts_svc;

  static char stream[128];
  snprintf(stream, sizeof stream, "%s:events:{payment}", proc.redis_prefix);
  /* each payment's commit NOTIFYs the relay: runs 20 ms apart publish what came meanwhile */
  yw_events_relay_config rcfg = {
      .schema = "payment", .stream = stream, .listen = 1, .interval_ms = 500, .coalesce_ms = 20};
  if (proc.redis == NULL || yw_events_relay_start(proc.pool, proc.redis, &rcfg, &relay) != 0) {
    fprintf(stderr, "yw-payment: the relay of events needs Redis at start\n");
    pay_channels_free(channels);
    yw_service_stop(&proc);
    return 1;
  }
  if (janitor_start(&ctx, (int)cfg_janitor_ms, (int)cfg_window_s, (int)cfg_batch, &jan) != 0) {
    fprintf(stderr, "yw-payment: the janitor cannot start\n");
    yw_events_relay_stop(relay);
    pay_channels_free(channels);
    yw_service_stop(&proc);
    return 1;
  }
  if (seal != NULL && receipts_start(&rctx, (int)cfg_receipts_ms, 100, &receipts) != 0) {
    fprintf(stderr, "yw-payment: the receipts' pass cannot start\n");
    janitor_stop(jan);
    yw_events_relay_stop(relay);
    pay_channels_free(channels);
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_all;
  proc.metrics_fn = metrics;
  proc.metrics_arg = jan;
  rc = yw_service_run(&proc, &svc);
  pay_channels_free(channels);
  return rc;
}
