/*
 * testsvc.h - yw-testsvc, the test service that stands on every platform piece at once
 * (tests/proto/yiwang/test/v1/notes.proto says which). It is built only in tests/ and
 * served only behind yw-gateway-test.
 */
#ifndef TESTSVC_H
#define TESTSVC_H

#include <pthread.h>

#include "yw_caller.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_live.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

typedef struct testsvc_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_redis *redis;
  yw_caller_keys caller_keys;
  yw_idem_opts idem;           /* CreateNote's idempotency */
  yw_rpc_channel *catalog;     /* GetNoteItem calls the catalog; NULL: it answers UNAVAILABLE */
  const char *stream;          /* the outbox's stream ("<prefix>:events:{testsvc}") */

  yw_live *live;               /* the residents' open WatchNotes streams */

  /* the feed: events of the outbox stream, consumed into testsvc.feed */
  yw_events_consumer *consumer;
  pthread_t consumer_thread;
  int consumer_running;
  volatile int stopping;
  yw_live_touched touched;     /* owners whose feed grew in the current poll */
} testsvc_ctx;

/* The service table; data must point to a testsvc_ctx that outlives the server. */
void testsvc_service_init(yw_rpc_service *svc, testsvc_ctx *ctx);

/* Starts the consumer of the outbox stream into the residents' feeds (a thread).
 * consumer names this copy in the group. Returns 0 or a code. */
int testsvc_feed_start(testsvc_ctx *ctx, const char *consumer);

/* Stops it, and ends every open stream left (UNAVAILABLE); after the server stopped. */
void testsvc_feed_stop(testsvc_ctx *ctx);

extern const struct yw_embedded_file testsvc_migrations[];
extern const unsigned testsvc_migrations_count;

#endif
