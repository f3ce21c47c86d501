/*
 * progress.h - yw-progress: where each application stands (办件进度和结果查询), from the
 * service's own projection of the applications service's events, served to anyone with
 * an application's number and query code, and to the signed-in applicant.
 */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdint.h>

#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_events.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

typedef struct progress_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_redis *redis;               /* the answers' cache and the guess counters; may be NULL */
  const char *redis_prefix;
  yw_caller_keys caller_keys;
  uint8_t lookup_key[YW_KEY_BYTES]; /* the applications service's key of query codes */
  int cache_ttl_s;
  int guesses_per_address;       /* wrong lookups an address may make per hour */
  int guesses_per_number;        /* wrong lookups of one number per hour, from anywhere */
  yw_events_consumer *consumer; /* of yw:events:{applications}, on its own thread */
  const char *stream;           /* that stream (set by progress_consumer_config), for ReplayEvents */
} progress_ctx;

/* The service table; data must point to a progress_ctx that outlives the server. */
void progress_service_init(yw_rpc_service *svc, progress_ctx *ctx);

/* The projection's event handler (a yw_events_handler; arg: the progress_ctx):
 * application.submitted (with its bundle filing, when it names one),
 * application.status_changed, application.supervision_changed and application.rated,
 * version 1; other types are acknowledged and skipped. A replay changes nothing. */
int progress_handle_event(PGconn *conn, const yw_event *ev, void *arg);

/* Drops the cached view of the event's application, and of its bundle filing when the
 * handler just changed a member on this thread, once the event's transaction committed
 * (the consumer's after_commit; arg: the progress_ctx). Returns 0. */
int progress_after_commit(void *arg, const yw_event *ev);

/* The consumer's settings: group "progress", this copy named consumer, the handler and
 * the after-commit drop. cfg's strings point at the arguments. */
void progress_consumer_config(progress_ctx *ctx, const char *stream, const char *consumer,
                              yw_events_consumer_config *cfg);

/* ReplayEvents (replay.c): platform administrators rebuild the projection from the
 * stream, a bounded batch per call. */
int progress_replay_events(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data);

/* Starts the consumer of stream on its own thread. Returns 0 or a code. */
int progress_start(progress_ctx *ctx, const char *stream, const char *consumer);

/* The consumer's lag, pending and dead letters for /metrics (a yw_metrics_fn). */
int progress_metrics(void *ctx, char *buf, size_t len);

void progress_stop(progress_ctx *ctx);

extern const struct yw_embedded_file progress_migrations[];
extern const unsigned progress_migrations_count;

#endif
