/*
 * yw_idem.h - idempotent writes on the service side: a call that carries an
 * idempotency-key (metadata, forwarded by the gateway from the Idempotency-Key header)
 * runs its effect once; the answer is kept and given again for the same key and the same
 * request for 24 hours.
 *
 * Store: <schema>.idempotency in the service's own schema (yw_idem_migrate), one row per
 * (caller scope, key): the request's fingerprint (SHA-256 of the full method and the
 * packed request), the answer (gRPC status, message, packed response) and when it
 * expires. Finished answers are also cached in Redis (optional; Redis down means
 * PostgreSQL answers, never a failure).
 *
 * Exactly once: yw_idem_run opens one transaction that first claims the key (INSERT ...
 * ON CONFLICT), then runs the handler's effect on the same connection, then stores the
 * answer, and commits all three together. A second call with the key while the first is
 * still running waits on the first's uncommitted row (a PostgreSQL row lock), at most a
 * share of its own deadline (lock_timeout), and then answers the stored answer, or
 * ABORTED (reason IDEMPOTENCY_IN_PROGRESS, HTTP 409, retry-after) when the first has not
 * finished by then. A crash rolls the claim back with the effect: nothing runs twice and
 * nothing is lost.
 *
 * Answers kept: OK and the caller's own errors (INVALID_ARGUMENT, NOT_FOUND,
 * ALREADY_EXISTS, PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE); the effect of a
 * failed handler is rolled back (to a savepoint) and the error kept. Transient failures
 * (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, CANCELLED) roll
 * the claim back too, so a retry with the same key runs again.
 *
 * The same key with another request answers INVALID_ARGUMENT with reason
 * IDEMPOTENCY_KEY_REUSED (HTTP 422, yw_err.h). A replayed answer carries the trailer
 * idempotent-replayed: true.
 *
 * Scope: keys belong to the signed caller (yw_caller.h): an account's subject (and the
 * company it acts for), or for an anonymous caller a hash of the client's address. Two
 * callers using the same key never see each other's answers.
 *
 * Expiry: a row lives ttl_s (24 h). An expired row is taken over by the next call with
 * its key (in the claim itself). Expired rows are purged by a bounded DELETE (at most
 * 100 rows, locked rows skipped) that runs after every purge_every-th claim, and by
 * yw_idem_purge for a service that prefers its own schedule.
 *
 * The library never logs; schema names are spliced into SQL, so they must match [a-z_]+.
 */
#ifndef YW_IDEM_H
#define YW_IDEM_H

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "yw_caller.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

/* The metadata key that carries the key, and the trailer of a replayed answer. */
#define YW_IDEM_METADATA "idempotency-key"
#define YW_IDEM_REPLAYED_TRAILER "idempotent-replayed"
#define YW_IDEM_KEY_MAX 255
#define YW_IDEM_TTL_DEFAULT_S 86400

/* 1 when key is a valid idempotency key: 1..255 printable ASCII characters (0x20-0x7e),
 * not starting or ending with a space. The gateway checks the same rule. */
int yw_idem_key_valid(const char *key);

/* Creates <schema>.idempotency through yw_pg_migrate, recorded as "yw_idem_001.sql" in
 * <schema>.schema_migrations; call after the service's own migrations. Returns 0,
 * YW_EINVAL (schema) or a code of yw_pg_migrate with err set. */
int yw_idem_migrate(PGconn *conn, const char *schema, yw_pg_error *err);

typedef struct yw_idem_opts {
  const char *schema;                 /* the service's schema, [a-z_]+ */
  const yw_caller_keys *keys;         /* verify the caller whose scope keys live in */
  const ProtobufCMessageDescriptor *response; /* the method's output, to unpack a replay */
  int require_key;     /* 1: a call without a key is refused (INVALID_ARGUMENT) */
  int ttl_s;           /* life of a kept answer; 0: YW_IDEM_TTL_DEFAULT_S */
  int db_wait_ms;      /* longest wait for a pooled connection; 0: 2000 */
  int wait_pct;        /* share (percent) of the call's time left that a second call
                          waits for the first; 0: 50 */
  int wait_max_ms;     /* and never longer than this; 0: 10000 */
  int purge_every;     /* purge expired rows after every n-th claim; 0: 100; <0: never */
  yw_redis *redis;     /* cache of finished answers; NULL: none */
  const char *redis_prefix; /* keys "<prefix>:idem:<hash>"; NULL: "yw" */
  int redis_wait_ms;   /* longest wait for Redis; 0: 100 */
  int64_t clock_offset_s; /* tests only: seconds added to now when judging expiry */
  /* kept answers (row and cache) encrypted with this key (AES-256-GCM, the scope and key
   * as associated data), for answers that carry personal data; NULL: kept as packed.
   * An answer kept before a key was given is still given again. */
  const uint8_t *seal_key;
} yw_idem_opts;

/*
 * The effect of a write, run on conn_in_tx inside the transaction that holds the key's
 * claim. Returns 0 with *response set (from the call's arena), or a YW_E* code with the
 * call's message set (yw_rpc_call_fail). It must not COMMIT or ROLLBACK; a failed
 * statement leaves the transaction aborted, which is fine: return its code. Its
 * statements go through yw_pg (the transaction's savepoint is deferred to its first,
 * yw_pg_defer).
 */
typedef int (*yw_idem_fn)(yw_rpc_call *call, PGconn *conn_in_tx, const ProtobufCMessage *request,
                          ProtobufCMessage **response, void *arg);

/*
 * Runs fn for request at most once per (caller, key) as the header comment says, and
 * returns what the handler returns to yw_rpc: 0 with *response set, or a YW_E* code with
 * the call's message set. Without a key (and require_key 0) fn runs in a transaction of
 * its own, committed when it returns 0. The connection comes from pool within the call's
 * deadline. A bad key or a caller that does not verify is INVALID_ARGUMENT /
 * UNAUTHENTICATED before anything runs.
 */
int yw_idem_run(yw_rpc_call *call, const ProtobufCMessage *request, ProtobufCMessage **response,
                yw_pg_pool *pool, const yw_idem_opts *o, yw_idem_fn fn, void *arg);

/* Deletes up to limit expired rows of <schema>.idempotency (rows being taken over are
 * skipped), judging expiry at now + clock_offset_s, on conn (with its deadline). Returns
 * the number deleted or a code. */
int yw_idem_purge(PGconn *conn, const char *schema, int limit, int64_t clock_offset_s,
                  yw_pg_error *err);

#endif
