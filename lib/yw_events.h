/*
 * yw_events.h - events between services: a transactional outbox in PostgreSQL, a relay
 * to Redis Streams, and consumers reading through consumer groups.
 *
 * Producer: in the transaction that makes a change, yw_events_append writes the event
 * (a protobuf message from proto/yiwang/events/v1, with its type and version) into the
 * service's own <schema>.outbox. The event exists if and only if the change commits.
 *
 * Relay: yw_events_relay_run_once (or the thread of yw_events_relay_start) moves
 * committed outbox rows to one Redis Stream with XADD and marks them published. Order:
 * per aggregate key, rows reach the stream in outbox id order, and a later row of a key
 * is never published while an earlier one is not (several relays may run at once; a key
 * belongs to one of them per run). At least once: a relay that dies between XADD and the
 * mark leaves its rows unpublished, and they are published again.
 *
 * Consumer: a yw_events_consumer reads one stream in a consumer group. Each event runs
 * the handler inside a PostgreSQL transaction that also records (group, event id) in the
 * consumer's <schema>.processed_events; an event already recorded is acknowledged
 * without running the handler, so a duplicate or a redelivery has no effect. A failed
 * handler is retried with an exponential back-off; after max_deliveries deliveries the
 * event goes to the dead-letter stream "<stream>:dead" with the error, and is
 * acknowledged.
 *
 * Stream entries have the fields id (the event id, a UUID), type, version, key (the
 * aggregate key), payload (the packed protobuf message, binary), occurred_at (unix ms
 * of the append, by the producer's clock: for display, not for order) and seq (the
 * outbox row's id: per key the order of the appends, the same in every copy a relay
 * publishes, so a consumer orders a key's events by it); message
 * yiwang.events.v1.Event describes the same for readers in other languages. Every stream operation names one key, so the streams work on a Redis
 * Cluster; a stream and its dead-letter stream share a hash tag when the stream name has
 * one (the default names do: "yw:events:{<schema>}").
 *
 * Time: every function bounds its waits: PostgreSQL through the connection's deadline
 * (yw_pg_set_deadline), Redis through yw_redis_command_within.
 *
 * Schemas: a schema name is spliced into SQL (identifiers cannot be parameters), so
 * every function refuses a schema that does not match [a-z_]+ (at most 48 bytes) with
 * YW_EINVAL; every value travels as a parameter.
 *
 * The library never logs: functions return codes, the threads keep their last error
 * for the caller to read (yw_events_relay_stats, yw_events_consumer_stats).
 */
#ifndef YW_EVENTS_H
#define YW_EVENTS_H

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_pg.h"
#include "yw_redis.h"

#define YW_EVENTS_ID_MAX 37             /* a UUID in text and its NUL */
#define YW_EVENTS_TYPE_MAX 64           /* "application.status_changed" */
#define YW_EVENTS_KEY_MAX 200           /* bytes of an aggregate key */
#define YW_EVENTS_PAYLOAD_MAX (1 << 20) /* bytes of a packed payload */
#define YW_EVENTS_STREAM_MAX 200        /* bytes of a stream name */

/* ---- schema ---- */

/* Creates <schema>.outbox and <schema>.processed_events (and their indexes) through
 * yw_pg_migrate, recorded in <schema>.schema_migrations as "yw_events_001.sql", so it
 * runs once per database; call it after the service's own migrations (yw_service_open_db),
 * on a connection without a deadline or with a generous one. A service that only
 * produces or only consumes gets both tables; they cost nothing empty.
 * Returns 0, YW_EINVAL (schema) or a code of yw_pg_migrate with err set. */
int yw_events_migrate(PGconn *conn, const char *schema, yw_pg_error *err);

/* The default stream of an outbox: "yw:events:{<schema>}" into buf. 0 or YW_EINVAL. */
int yw_events_stream_name(const char *schema, char *buf, size_t len);

/* ---- producer ---- */

/*
 * Writes one event into <schema>.outbox on conn_in_tx, which must be inside a
 * transaction (BEGIN sent, not yet committed): the event is written if and only if that
 * transaction commits. type is "<noun>.<verb>" in lower case ([a-z][a-z0-9_]* parts
 * joined by dots, at most 63 bytes), version >= 1 the version of payload's message for
 * that type, aggregate_key 1..200 bytes naming what the event is about (an application
 * id): events of one key reach consumers in the order of their appends. payload is
 * packed here (at most YW_EVENTS_PAYLOAD_MAX bytes).
 *
 * Order per key: the append takes a transaction-scoped advisory lock on (schema, key),
 * so two transactions appending for one key follow each other, and outbox ids per key
 * follow commit order. Two transactions appending for two keys in opposite orders may
 * deadlock; PostgreSQL ends one with YW_ECONFLICT (retry it). The commit also wakes a
 * listening relay (NOTIFY yw_events_<schema>).
 *
 * event_id_out (may be NULL) gets the new event's id. Returns 0, YW_EINVAL (arguments;
 * conn not in a transaction), YW_ETOOBIG (payload), YW_ENOMEM, or a yw_pg_query code
 * with err set (after which the transaction is aborted: roll it back).
 */
int yw_events_append(PGconn *conn_in_tx, const char *schema, const char *type, int version,
                     const char *aggregate_key, const ProtobufCMessage *payload,
                     char event_id_out[YW_EVENTS_ID_MAX], yw_pg_error *err);

/* ---- relay ---- */

typedef struct yw_events_relay_config {
  const char *schema; /* the outbox's schema, [a-z_]+ */
  const char *stream; /* stream key; NULL: yw_events_stream_name(schema) */
  int batch;          /* rows per run (one transaction); 0: 100, at most 1000 */
  long long maxlen;   /* XADD MAXLEN ~ maxlen (approximate trimming); 0: 1000000; <0: none */
  int db_wait_ms;     /* wait for a pooled connection; 0: 1000 */
  /* yw_events_relay_start only */
  int interval_ms;      /* runs at least this often; 0: 1000 */
  int run_timeout_ms;   /* bound of one run; 0: 5000 */
  int listen;           /* 1: also run when an append commits (LISTEN; holds one pooled
                           connection while the relay runs) */
  int keep_published_s; /* published rows older than this are deleted (hourly, 1000 at a
                           time); 0: 7 days; <0: never */
  int coalesce_ms;      /* a run not following a full batch starts at least this long
                           after the previous run began (a wake-up in between waits out
                           the rest), so appends committed close together are published
                           by one run instead of one run each; 0: none */
  /* For tests: called after each XADD, before the rows are marked. A non-zero return
   * ends the run at once without marking anything, as if the relay died there. */
  int (*after_publish)(void *arg, const char *event_id);
  void *hook_arg;
} yw_events_relay_config;

/*
 * One relay run: in one transaction, takes the earliest unpublished row of up to batch
 * aggregate keys (FOR UPDATE SKIP LOCKED: a key whose earliest row another relay holds is
 * left to it, and a key with an earlier unpublished row is not started), publishes the
 * keys' unpublished rows in id order (at most batch rows) with XADD, marks those XADDed
 * as published and commits. A failed XADD ends the publishing there (what went before is
 * marked). Everything ends within timeout_ms.
 *
 * Returns the number of rows published and marked (0: nothing to do), or YW_EINVAL
 * (config), YW_EUNAVAIL (no connection in time; Redis unreachable before any XADD),
 * YW_ETIMEOUT, YW_ECANCELED (after_publish stopped it), YW_ENOMEM, or a yw_pg_query code
 * (err, may be NULL, says why). Rows XADDed by a run that failed later are published
 * again by the next run: consumers see them twice and skip the copy.
 */
int yw_events_relay_run_once(yw_pg_pool *pool, yw_redis *redis, const yw_events_relay_config *cfg,
                             int timeout_ms, yw_pg_error *err);

typedef struct yw_events_relay yw_events_relay;

/* Starts a thread that runs the relay every cfg->interval_ms, at once again while runs
 * find full batches, on each NOTIFY when cfg->listen (no sooner than cfg->coalesce_ms
 * after the previous run began), and backs off (up to 5 s) while runs fail. cfg's strings are copied. Returns 0, YW_EINVAL, YW_ENOMEM or YW_EINTERNAL
 * (no thread). */
int yw_events_relay_start(yw_pg_pool *pool, yw_redis *redis, const yw_events_relay_config *cfg,
                          yw_events_relay **out);

/* Stops the thread (within the current run's bound), joins it and frees. Accepts NULL. */
void yw_events_relay_stop(yw_events_relay *relay);

typedef struct yw_events_relay_stats {
  long long runs;         /* runs finished */
  long long published;    /* rows published and marked */
  long long failures;     /* runs that failed */
  int last_error;         /* code of the last failed run, 0 if none yet */
  char last_message[256]; /* its database or Redis message */
} yw_events_relay_stats;

/* What the relay thread has done; safe from any thread. */
void yw_events_relay_stats_get(yw_events_relay *relay, yw_events_relay_stats *out);

/* Rows of <schema>.outbox not yet published and the age of the oldest in ms (0 when
 * none), within timeout_ms. Returns 0 or a code. */
int yw_events_outbox_backlog(yw_pg_pool *pool, const char *schema, int timeout_ms, long long *rows,
                             long long *oldest_ms);

/* Deletes up to limit published rows older than older_than_s from <schema>.outbox.
 * Returns the number deleted or a code. */
int yw_events_outbox_prune(yw_pg_pool *pool, const char *schema, int older_than_s, int limit,
                           int timeout_ms);

/* ---- consumer ---- */

/* One event as a handler sees it. Every pointer lives until the handler returns. */
typedef struct yw_event {
  const char *id;   /* the event id (UUID text) */
  const char *type; /* "application.submitted" */
  int version;      /* version of the payload's message */
  const char *aggregate_key;
  const uint8_t *payload; /* the packed message */
  size_t payload_len;
  int64_t occurred_at_ms; /* unix ms of the append, by the producer's clock */
  int64_t seq;            /* the outbox row's id: of two events of one aggregate key the
                             later append has the greater seq, whichever copy of the
                             producer wrote it and whatever its clock said; every copy
                             of one event (a relay's retry, a replay) has the same.
                             0 for an entry relayed without it */
  const char *entry_id;   /* the stream entry's id ("1700000000000-0"); a copy published
                             again has another, later one */
  int deliveries;         /* 1 on the first delivery, more on retries */
} yw_event;

/* Runs the effect of ev on conn_in_tx, inside the transaction that records ev as
 * processed: return 0 to commit both, anything else (a YW_E* code) to roll both back
 * and retry the event later. The handler must not COMMIT or ROLLBACK itself. */
typedef int (*yw_events_handler)(PGconn *conn_in_tx, const yw_event *ev, void *arg);

typedef struct yw_events_consumer_config {
  const char *stream;   /* the stream to read */
  const char *group;    /* the consumer group: the consuming service's name for this
                           stream; also the consumer's name in processed_events */
  const char *consumer; /* this copy's name in the group, unique among live copies
                           and stable across restarts (host name + slot) */
  const char *schema;   /* the consumer's schema holding processed_events */
  yw_events_handler handler;
  void *handler_arg;
  int batch;              /* entries per read; 0: 16, at most 1000 */
  int block_ms;           /* longest wait of a read for new entries; 0: 500. The Redis
                             handle's timeout must exceed it by 200 ms or more, and the
                             read holds one of the handle's connections that long */
  int max_deliveries;     /* deliveries before the dead-letter stream; 0: 5 */
  int retry_base_ms;      /* wait before the first retry, doubled per delivery; 0: 1000 */
  int retry_max_ms;       /* the longest wait between retries; 0: 60000 */
  int handler_timeout_ms; /* deadline of one event's transaction; 0: 5000 */
  int db_wait_ms;         /* wait for a pooled connection; 0: 1000 */
  int start_at_end;       /* 1: a new group starts at the stream's end; 0: at its start */
  /* Called after an event's transaction committed, before its XACK: for effects that
   * must follow the commit (dropping a cached answer the event changed), and in tests
   * to stop there. A non-zero return ends the poll at once, as if the process died
   * there. */
  int (*after_commit)(void *arg, const yw_event *ev);
  void *hook_arg;
} yw_events_consumer_config;

typedef struct yw_events_consumer yw_events_consumer;

/* Makes a consumer (strings copied; no I/O: the group is created, XGROUP CREATE ...
 * MKSTREAM, at the first poll). Returns 0, YW_EINVAL or YW_ENOMEM. */
int yw_events_consumer_new(yw_pg_pool *pool, yw_redis *redis, const yw_events_consumer_config *cfg,
                           yw_events_consumer **out);

/* Stops its thread if started, and frees. Accepts NULL. */
void yw_events_consumer_free(yw_events_consumer *c);

/*
 * One round, from the calling thread (not while the consumer's thread runs):
 *   1. on the first round, the entries still pending for this consumer's name (left by a
 *      previous process of the same name) are claimed and handled at once;
 *   2. pending entries of the group idle past their back-off (retry_base_ms << (n-1) for
 *      an entry delivered n times, at most retry_max_ms; also those of a copy that died)
 *      are claimed (XPENDING ... IDLE, then XCLAIM with that idle time, so that one copy
 *      wins) and handled; an entry already delivered max_deliveries times goes to the
 *      dead-letter stream without running the handler again;
 *   3. new entries are read (XREADGROUP ... >), blocking up to block_ms when 1 and 2 found
 *      nothing, and handled.
 * Handling: a failure before the handler ran (no database connection, BEGIN failed) does
 * not count as a delivery and ends the round; a handler or COMMIT failure does, and on
 * the max_deliveries-th the entry goes to "<stream>:dead" (its fields, plus error,
 * group, consumer, deliveries and entry_id) and is acknowledged. A malformed entry goes
 * there at once.
 * Returns the number of entries acknowledged (handled, duplicates, dead letters) or a
 * code: YW_EUNAVAIL (Redis or PostgreSQL unreachable), YW_ECANCELED (after_commit).
 */
int yw_events_consumer_poll(yw_events_consumer *c);

/* Runs yw_events_consumer_poll in a thread of its own until yw_events_consumer_stop,
 * backing off (up to 5 s) while rounds fail. Returns 0, YW_EINVAL (already running) or
 * YW_EINTERNAL. */
int yw_events_consumer_start(yw_events_consumer *c);

/* Stops the thread (after its current round) and joins it. Accepts a consumer without a
 * thread. */
void yw_events_consumer_stop(yw_events_consumer *c);

typedef struct yw_events_consumer_stats {
  long long handled;       /* handlers committed and acknowledged */
  long long duplicates;    /* events found already processed, acknowledged unhandled */
  long long failures;      /* handler or commit failures (each retried or dead-lettered) */
  long long dead_lettered; /* entries moved to the dead-letter stream */
  long long rounds_failed; /* thread rounds that failed (Redis or PostgreSQL down) */
  int last_error;
  char last_message[256];
} yw_events_consumer_stats;

/* The counters of this copy; safe from any thread. */
void yw_events_consumer_stats_get(yw_events_consumer *c, yw_events_consumer_stats *out);

typedef struct yw_events_lag {
  long long pending; /* entries delivered to the group and not acknowledged */
  long long lag;     /* entries in the stream not yet delivered to the group; -1 when
                        Redis cannot tell (entries deleted in between) */
  long long dead;    /* entries in the dead-letter stream (of every group) */
} yw_events_lag;

/* The group's lag, asked of Redis (XINFO GROUPS, XLEN) within timeout_ms; safe from any
 * thread. Returns 0, YW_ENOTFOUND (no such group yet) or YW_EUNAVAIL. */
int yw_events_consumer_lag(yw_events_consumer *c, int timeout_ms, yw_events_lag *out);

/* Writes the consumer's lag and counters in the Prometheus text format (gauges
 * yw_events_consumer_pending, _lag, yw_events_dead_letters, counters
 * yw_events_consumer_handled_total, _duplicates_total, _failures_total,
 * _dead_lettered_total; labels stream and group) into buf, for a process's /metrics.
 * Lag gauges are left out when Redis did not answer. Returns the length written or
 * YW_ETOOBIG (buf too small; 2 KiB is enough for names of 200 bytes). */
int yw_events_consumer_metrics(yw_events_consumer *c, int timeout_ms, char *buf, size_t len);

/* Unpacks ev's payload as a message of desc (allocator may be NULL). Returns 0 and *out
 * (free with protobuf_c_message_free_unpacked), or YW_EINVAL when it does not parse. The
 * handler checks ev->type and ev->version first. */
int yw_event_unpack(const yw_event *ev, const ProtobufCMessageDescriptor *desc,
                    ProtobufCAllocator *allocator, ProtobufCMessage **out);

/* ---- replay -------------------------------------------------------------------------- */

typedef struct yw_events_replay_result {
  int replayed;      /* entries handled and committed */
  int skipped;       /* malformed entries passed over */
  int done;          /* 1: the stream's end was reached */
  char last_id[48];  /* the last entry handled or skipped: where the next call goes on */
} yw_events_replay_result;

/* Replays the entries of stream after the entry after_id ("" or "0": from its start),
 * at most max of them (1..10,000), each through handler in a transaction of its own
 * (then after_commit, when not NULL), outside any consumer group and without recording
 * the events as processed: for rebuilding a projection whose handler is idempotent
 * (applying an event twice changes nothing). Stops at the stream's end, at max, when
 * timeout_ms has passed (each Redis command and transaction within what is left), or at
 * the first entry
 * whose handler fails (its error returned; out->last_id stays before it). Returns 0 and
 * *out, or a code with *out telling how far it went. */
int yw_events_replay(yw_pg_pool *pool, yw_redis *redis, const char *stream, const char *after_id,
                     int max, int timeout_ms, yw_events_handler handler, void *handler_arg,
                     int (*after_commit)(void *arg, const yw_event *ev), void *hook_arg,
                     yw_events_replay_result *out);

/* Deletes up to limit rows of <schema>.processed_events of group older than
 * older_than_s (keep them longer than an event can stay in the stream). Returns the
 * number deleted or a code. */
int yw_events_processed_prune(yw_pg_pool *pool, const char *schema, const char *group,
                              int older_than_s, int limit, int timeout_ms);

#endif
