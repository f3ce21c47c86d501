/*
 * yw-applications - serves yiwang.applications.v1.ApplicationsService (办件).
 *
 * Start-up: the settings every service has (yw_service_start), the applications schema's
 * migrations with the outbox and the kept answers, a channel to yw-catalog (the items
 * applications are filed for), the relay of the outbox to the stream
 * <prefix>:events:{applications}; serve until SIGINT/SIGTERM.
 *
 * Usage: yw-applications [--migrate-only] [--help]
 */
#include <stdio.h>

#include "applications.h"
#include "yw_events.h"
#include "yw_service.h"

static char *cfg_catalog, *cfg_lookup_key;

static const yw_cfg_entry settings[] = {
    {"YW_APPLICATIONS_CATALOG", YW_CFG_STR, "127.0.0.1:50052", 0, 0,
     "yw-catalog's gRPC target: the items applications are filed for", &cfg_catalog},
    {"YW_LOOKUP_KEY", YW_CFG_STR, "", 0, 0,
     "64 hex: the key of the query codes' HMAC (never stored in clear)", &cfg_lookup_key},
};

static yw_events_relay *relay;

static void stop_relay(void *arg) {
  (void)arg;
  yw_events_relay_stop(relay);
}

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "applications",
      .listen = "127.0.0.1:50055",
      .schema = "applications",
      .migrations = applications_migrations,
      .events = 1,
      .idempotency = 1, /* SubmitApplication keeps its answers by Idempotency-Key */
      .redis_timeout_ms = 500,
      .redis_use = "events wait in the outbox; kept answers come from PostgreSQL",
      .calls_out = 1,
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = applications_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  static applications_ctx ctx;
  ctx.pool = proc.pool;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis = proc.redis;
  ctx.caller_keys = proc.caller_keys;
  if (yw_key_from_hex(cfg_lookup_key, ctx.lookup_key) != 0) {
    fprintf(stderr, "yw-applications: YW_LOOKUP_KEY must be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  if ((ctx.catalog = yw_service_channel(&proc, cfg_catalog)) == NULL) {
    yw_service_stop(&proc);
    return 2;
  }
  yw_rpc_service svc;
  applications_service_init(&svc, &ctx);

  /* the stream under the deployment's prefix: copies of one deployment share it */
  static char stream[128];
  snprintf(stream, sizeof stream, "%s:events:{applications}", proc.redis_prefix);
  yw_events_relay_config rcfg = {
      .schema = "applications", .stream = stream, .listen = 1, .interval_ms = 500};
  if (proc.redis == NULL || yw_events_relay_start(proc.pool, proc.redis, &rcfg, &relay) != 0) {
    fprintf(stderr, "yw-applications: the relay of events needs Redis at start\n");
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_relay;
  return yw_service_run(&proc, &svc);
}
