/*
 * yw-testsvc - serves yiwang.test.v1.NotesService (tests/testsvc/testsvc.c), the test
 * service that stands on every platform piece. Built only in tests/.
 *
 * Start-up as any service (yw_service_start): settings, migrations of the testsvc
 * schema with its outbox and idempotency tables, Redis; then the relay of its outbox
 * (a thread, woken by NOTIFY), the consumer of its event stream into the residents'
 * feeds (a thread), and a channel to the catalog for GetNoteItem.
 */
#include <stdio.h>
#include <unistd.h>

#include "testsvc.h"
#include "yw_service.h"

static char *cfg_catalog;

static const yw_cfg_entry settings[] = {
    {"YW_TESTSVC_CATALOG", YW_CFG_STR, "", 0, 0,
     "the catalog's gRPC target, for GetNoteItem; empty: none", &cfg_catalog},
};

static yw_events_relay *relay;

static void stop_threads(void *arg) {
  testsvc_feed_stop(arg);
  yw_events_relay_stop(relay);
}

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "testsvc",
      .listen = "127.0.0.1:50090",
      .schema = "testsvc",
      .migrations = testsvc_migrations,
      .events = 1,
      .idempotency = 1,
      .redis_timeout_ms = 1000, /* above the consumer's blocked read (300 ms) + 200 */
      .redis_use = "events and kept answers wait",
      .calls_out = 1,
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = testsvc_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  static testsvc_ctx ctx;
  ctx.pool = proc.pool;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis = proc.redis;
  ctx.caller_keys = proc.caller_keys;
  if (cfg_catalog[0] != '\0' && (ctx.catalog = yw_service_channel(&proc, cfg_catalog)) == NULL) {
    yw_service_stop(&proc);
    return 2;
  }
  yw_rpc_service svc;
  testsvc_service_init(&svc, &ctx);

  /* the stream under the deployment's prefix: copies of one deployment share it */
  static char stream[128];
  snprintf(stream, sizeof stream, "%s:events:{testsvc}", proc.redis_prefix);
  ctx.stream = stream;
  yw_events_relay_config rcfg = {
      .schema = "testsvc", .stream = stream, .listen = 1, .interval_ms = 500};
  char consumer[128], host[64] = "host";
  gethostname(host, sizeof host - 1);
  snprintf(consumer, sizeof consumer, "%s-%d", host, (int)getpid());
  if (proc.redis == NULL || yw_events_relay_start(proc.pool, proc.redis, &rcfg, &relay) != 0 ||
      testsvc_feed_start(&ctx, consumer) != 0) {
    fprintf(stderr, "yw-testsvc: the relay and the feed need Redis at start\n");
    yw_events_relay_stop(relay);
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_threads;
  proc.on_stop_arg = &ctx;
  return yw_service_run(&proc, &svc);
}
