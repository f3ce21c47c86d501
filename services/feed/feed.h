/*
 * feed.h - yw-feed: a resident's feed (yiwang.feed.v1.FeedService), filled from the
 * feed.entry events of the services named in YW_FEED_STREAMS and served as a list and as
 * a live stream (Server-Sent Events through the gateway).
 */
#ifndef FEED_H
#define FEED_H

#include <pthread.h>

#include "yw_caller.h"
#include "yw_events.h"
#include "yw_live.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

#define FEED_MAX_STREAMS 16

typedef struct feed_ctx feed_ctx;

/* One consumed stream: its consumer and the thread that polls it. */
typedef struct feed_source {
  feed_ctx *ctx;
  char stream[128];
  yw_events_consumer *consumer;
  pthread_t thread;
  int running;
  yw_live_touched touched; /* residents whose feed grew in the current poll */
} feed_source;

struct feed_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_redis *redis;
  yw_caller_keys caller_keys;
  yw_live *live;          /* open WatchFeed streams */
  feed_source sources[FEED_MAX_STREAMS];
  int n_sources;
  volatile int stopping;
};

/* The service table; data must point to a feed_ctx that outlives the server. */
void feed_service_init(yw_rpc_service *svc, feed_ctx *ctx);

/* Starts a consumer (group "feed", this copy named consumer) for each stream of the
 * comma-separated list, and the listener of wakes from the other copies on
 * wake_channel of the Redis at redis_addr. Returns 0 or a code. */
int feed_start(feed_ctx *ctx, const char *streams, const char *consumer,
               const char *redis_addr, const char *wake_channel);

/* The feed's lines of /metrics: open streams, and each consumer's lag, pending and dead
 * letters (yw_events_consumer_metrics). A yw_metrics_fn. */
int feed_metrics(void *ctx, char *buf, size_t len);

/* Stops the consumers and ends the streams left; after the server stopped. */
void feed_stop(feed_ctx *ctx);

extern const struct yw_embedded_file feed_migrations[];
extern const unsigned feed_migrations_count;

#endif
