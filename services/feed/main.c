/*
 * yw-feed - serves yiwang.feed.v1.FeedService: a resident's feed, filled from the
 * feed.entry events of the streams in YW_FEED_STREAMS.
 *
 * Usage: yw-feed [--migrate-only] [--help]
 */
#include <stdio.h>
#include <unistd.h>

#include "feed.h"
#include "yw_err.h"
#include "yw_service.h"

static char *cfg_streams;

static const yw_cfg_entry settings[] = {
    {"YW_FEED_STREAMS", YW_CFG_STR, "", 0, 0,
     "event streams whose feed.entry events fill the feed, comma-separated "
     "(yw:events:{applications},yw:events:{payments})",
     &cfg_streams},
};

static void stop_consumers(void *ctx) { feed_stop(ctx); }

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "feed",
      .listen = "127.0.0.1:50054",
      .schema = "feed",
      .migrations = feed_migrations,
      .events = 1, /* processed_events of its consumers */
      .redis_timeout_ms = 1000, /* above a consumer's blocked read (500 ms) + 200 */
      .redis_use = "the feed is not filled",
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = feed_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  static feed_ctx ctx;
  ctx.pool = proc.pool;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis = proc.redis;
  ctx.caller_keys = proc.caller_keys;
  char consumer[128], host[64] = "host";
  gethostname(host, sizeof host - 1);
  snprintf(consumer, sizeof consumer, "%s-%d", host, (int)getpid());
  char channel[128];
  snprintf(channel, sizeof channel, "%s:feed:wake", proc.redis_prefix);
  if (proc.redis == NULL ||
      (rc = feed_start(&ctx, cfg_streams, consumer, proc.redis_addr, channel)) != 0) {
    fprintf(stderr, "yw-feed: cannot consume %s: %s\n", cfg_streams,
                proc.redis == NULL ? "no Redis" : yw_strerror(rc));
    feed_stop(&ctx);
    yw_service_stop(&proc);
    return 1;
  }
  proc.on_stop = stop_consumers;
  proc.on_stop_arg = &ctx;
  proc.metrics_fn = feed_metrics;
  proc.metrics_arg = &ctx;
  yw_rpc_service svc;
  feed_service_init(&svc, &ctx);
  return yw_service_run(&proc, &svc);
}
