/*
 * yw-progress - serves yiwang.progress.v1.ProgressService: where each application stands,
 * from its own projection of the applications service's events (YW_PROGRESS_STREAM).
 *
 * Usage: yw-progress [--migrate-only] [--help]
 */
#include <stdio.h>
#include <unistd.h>

#include "progress.h"
#include "yw_err.h"
#include "yw_service.h"

static char *cfg_stream, *cfg_lookup_key;
static long cfg_cache_ttl_s, cfg_guess_address, cfg_guess_number;

static const yw_cfg_entry settings[] = {
    {"YW_PROGRESS_STREAM", YW_CFG_STR, "yw:events:{applications}", 0, 0,
     "the applications service's event stream", &cfg_stream},
    {"YW_LOOKUP_KEY", YW_CFG_STR, "", 0, 0,
     "64 hex: the applications service's key of the query codes' HMAC", &cfg_lookup_key},
    {"YW_PROGRESS_CACHE_TTL_S", YW_CFG_INT, "60", 0, 86400,
     "seconds a looked-up view stays in Redis (0: no cache)", &cfg_cache_ttl_s},
    {"YW_PROGRESS_GUESSES_PER_ADDRESS", YW_CFG_INT, "20", 1, 100000,
     "wrong number/query-code lookups an address may make in an hour", &cfg_guess_address},
    {"YW_PROGRESS_GUESSES_PER_NUMBER", YW_CFG_INT, "10", 1, 100000,
     "wrong lookups of one number in an hour, from anywhere, before it is locked for the hour",
     &cfg_guess_number},
};

static void stop_consumer(void *ctx) { progress_stop(ctx); }

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "progress",
      .listen = "127.0.0.1:50056",
      /* public lookups come in bursts and are mostly answered from Redis: more of them
       * may wait their turn than a service's default queue of 64 holds */
      .threads = 16,
      .queue = 512,
      .schema = "progress",
      .migrations = progress_migrations,
      .events = 1, /* processed_events of its consumer */
      .redis_timeout_ms = 1000, /* above the consumer's blocked read (500 ms) + 200 */
      .redis_use = "the projection is not updated and lookups are not cached",
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = progress_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  static progress_ctx ctx;
  ctx.pool = proc.pool;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis = proc.redis;
  ctx.redis_prefix = proc.redis_prefix;
  ctx.caller_keys = proc.caller_keys;
  ctx.cache_ttl_s = (int)cfg_cache_ttl_s;
  ctx.guesses_per_address = (int)cfg_guess_address;
  ctx.guesses_per_number = (int)cfg_guess_number;
  if (yw_key_from_hex(cfg_lookup_key, ctx.lookup_key) != 0) {
    fprintf(stderr, "yw-progress: YW_LOOKUP_KEY must be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  char consumer[128], host[64] = "host";
  gethostname(host, sizeof host - 1);
  snprintf(consumer, sizeof consumer, "%s-%d", host, (int)getpid());
  if (proc.redis == NULL || (rc = progress_start(&ctx, cfg_stream, consumer)) != 0) {
    fprintf(stderr, "yw-progress: cannot consume %s: %s\n", cfg_stream,
            proc.redis == NULL ? "no Redis" : yw_strerror(rc));
    progress_stop(&ctx);
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_consumer;
  proc.on_stop_arg = &ctx;
  proc.metrics_fn = progress_metrics;
  proc.metrics_arg = &ctx;
  yw_rpc_service svc;
  progress_service_init(&svc, &ctx);
  return yw_service_run(&proc, &svc);
}
