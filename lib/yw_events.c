/*
 * yw_events.c - the transactional outbox, its relay to Redis Streams, and consumers in
 * consumer groups with processed-event records, retries and a dead-letter stream.
 *
 * Outbox order: yw_events_append takes pg_advisory_xact_lock on (schema, key) before
 * the row gets its id, so ids of one key follow commit order. The relay locks, with FOR
 * UPDATE SKIP LOCKED, the earliest unpublished row of each key it takes (a "head": no
 * unpublished row of the key before it). Holding a key's head is holding the key: no
 * other relay can lock that row, and no later row of the key is a head while it is
 * unpublished. If another relay publishes and commits the key between our snapshot and
 * our lock, the lock re-checks the row (READ COMMITTED), finds it published and skips
 * the key. So each key is published by one relay at a time, in id order, and a row is
 * marked in the transaction that held its key while it was XADDed.
 *
 * Consumer retries: the delivery count Redis keeps per pending entry (XPENDING) is the
 * attempt counter. A failed handler leaves its entry pending; the entry is due again
 * when its idle time passes the back-off of its count, and is claimed with XCLAIM with
 * that idle time as the minimum, so only one copy of the group wins it. A failure
 * before the handler ran gives the delivery back (XCLAIM ... RETRYCOUNT n-1 JUSTID):
 * an outage of PostgreSQL must not dead-letter good events.
 *
 * Offers: yw_events_migrate, yw_events_stream_name, yw_events_append,
 * yw_events_relay_run_once, yw_events_relay_start, yw_events_relay_stop,
 * yw_events_relay_stats_get, yw_events_outbox_backlog, yw_events_outbox_prune,
 * yw_events_consumer_new, yw_events_consumer_free, yw_events_consumer_poll,
 * yw_events_consumer_start, yw_events_consumer_stop, yw_events_consumer_stats_get,
 * yw_events_consumer_lag, yw_events_consumer_metrics, yw_event_unpack,
 * yw_events_processed_prune.
 */
#include "yw_events.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yw_crypto.h"
#include "yw_err.h"

#define SCHEMA_MAX 48
#define SQL_MAX 2048
#define ERRLEN 256
#define ENTRY_FIELDS_MAX 32 /* field pairs of an entry copied into a dead letter */

/* ---- small helpers ---- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stream_ok(const char *s) {
  size_t n = s != NULL ? strlen(s) : 0;
  return n > 0 && n <= YW_EVENTS_STREAM_MAX;
}

/* "<noun>.<verb>": [a-z][a-z0-9_]* parts, at least two, joined by single dots. */
static int type_ok(const char *t) {
  size_t n = t != NULL ? strlen(t) : 0;
  if (n == 0 || n >= YW_EVENTS_TYPE_MAX) return 0;
  int parts = 0, at_start = 1;
  for (size_t i = 0; i < n; i++) {
    char ch = t[i];
    if (at_start) {
      if (ch < 'a' || ch > 'z') return 0;
      at_start = 0;
      parts++;
    } else if (ch == '.') {
      at_start = 1;
    } else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
      return 0;
    }
  }
  return !at_start && parts >= 2;
}

/* Copies src into dst of size n, cut short when longer. */
static void str_copy(char *dst, size_t n, const char *src) {
  size_t l = strnlen(src, n - 1);
  memcpy(dst, src, l);
  dst[l] = '\0';
}

static void set_err(yw_pg_error *err, const char *msg) {
  if (err == NULL) return;
  err->sqlstate[0] = '\0';
  snprintf(err->message, sizeof err->message, "%s", msg);
}

/* A Redis command bounded by deadline (monotonic ms). */
static redisReply *rcmd(yw_redis *r, long long deadline, int argc, const char **argv,
                        const size_t *lens, char *err, size_t errlen) {
  long long left = deadline - now_ms();
  if (left <= 0) {
    if (err != NULL && errlen > 0) snprintf(err, errlen, "no time left");
    return NULL;
  }
  return yw_redis_command_within(r, left > INT_MAX ? INT_MAX : (int)left, argc, argv, lens, err,
                                 errlen);
}

/* ---- schema ---- */

static const char MIGRATION_001[] =
    "CREATE TABLE {S}.outbox (\n"
    "  id            bigserial PRIMARY KEY,\n"
    "  event_id      uuid NOT NULL UNIQUE,\n"
    "  aggregate_key text NOT NULL CHECK (octet_length(aggregate_key) BETWEEN 1 AND 200),\n"
    "  type          text NOT NULL CHECK (length(type) < 64\n"
    "                AND type ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),\n"
    "  version       int NOT NULL CHECK (version >= 1),\n"
    "  payload       bytea NOT NULL,\n"
    "  created_at    timestamptz NOT NULL DEFAULT now(),\n"
    "  published_at  timestamptz\n"
    ");\n"
    "-- the relay's heads and the rows of a key, both among unpublished rows only\n"
    "CREATE INDEX outbox_unpublished_key ON {S}.outbox (aggregate_key, id)\n"
    "  WHERE published_at IS NULL;\n"
    "CREATE INDEX outbox_unpublished_id ON {S}.outbox (id) WHERE published_at IS NULL;\n"
    "CREATE INDEX outbox_published_at ON {S}.outbox (published_at)\n"
    "  WHERE published_at IS NOT NULL;\n"
    "CREATE TABLE {S}.processed_events (\n"
    "  consumer     text NOT NULL,\n"
    "  event_id     text NOT NULL,\n"
    "  processed_at timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (consumer, event_id)\n"
    ");\n"
    "CREATE INDEX processed_events_at ON {S}.processed_events (consumer, processed_at);\n";

int yw_events_migrate(PGconn *conn, const char *schema, yw_pg_error *err) {
  if (!yw_pg_schema_ok(schema)) {
    set_err(err, "schema name must match [a-z_]+");
    return YW_EINVAL;
  }
  char *text = malloc(SQL_MAX * 2);
  if (text == NULL) return YW_ENOMEM;
  int rc = yw_pg_schema_sql(text, SQL_MAX * 2, MIGRATION_001, schema);
  if (rc == 0) {
    const struct yw_embedded_file files[] = {{"yw_events_001.sql", text}};
    rc = yw_pg_migrate(conn, schema, files, 1, err);
  }
  free(text);
  return rc;
}

int yw_events_stream_name(const char *schema, char *buf, size_t len) {
  if (!yw_pg_schema_ok(schema)) return YW_EINVAL;
  int n = snprintf(buf, len, "yw:events:{%s}", schema);
  return n > 0 && (size_t)n < len ? 0 : YW_EINVAL;
}

/* ---- producer ---- */

int yw_events_append(PGconn *conn, const char *schema, const char *type, int version,
                     const char *aggregate_key, const ProtobufCMessage *payload,
                     char event_id_out[YW_EVENTS_ID_MAX], yw_pg_error *err) {
  if (event_id_out != NULL) event_id_out[0] = '\0';
  size_t klen = aggregate_key != NULL ? strlen(aggregate_key) : 0;
  if (conn == NULL || !yw_pg_schema_ok(schema) || !type_ok(type) || version < 1 || klen == 0 ||
      klen > YW_EVENTS_KEY_MAX || payload == NULL) {
    set_err(err, "invalid event: schema, type, version, key or payload");
    return YW_EINVAL;
  }
  if (!yw_pg_in_transaction(conn)) { /* a BEGIN deferred counts: it goes with the append */
    set_err(err, "an event is appended inside the transaction of its change");
    return YW_EINVAL;
  }
  size_t plen = protobuf_c_message_get_packed_size(payload);
  if (plen > YW_EVENTS_PAYLOAD_MAX) {
    set_err(err, "event payload too large");
    return YW_ETOOBIG;
  }
  uint8_t *packed = malloc(plen > 0 ? plen : 1);
  char *hex = malloc(plen * 2 + 1);
  int rc = YW_ENOMEM;
  if (packed == NULL || hex == NULL) goto out;
  protobuf_c_message_pack(payload, packed);
  yw_hex_encode(packed, plen, hex);

  /* One statement. The key's lock is taken (and the relay NOTIFYed at commit) by the
   * subquery, which yields the one row the INSERT takes; the row's id (its default,
   * nextval) is drawn for that row only after the subquery produced it, so only once the
   * transaction holds its key. (The subquery is not flattened: its functions are
   * volatile.) */
  char lock_key[SCHEMA_MAX + YW_EVENTS_KEY_MAX + 16], channel[SCHEMA_MAX + 16];
  snprintf(lock_key, sizeof lock_key, "yw_events:%s:%s", schema, aggregate_key);
  snprintf(channel, sizeof channel, "yw_events_%s", schema);
  char sql[SQL_MAX], vbuf[16];
  rc = yw_pg_schema_sql(sql, sizeof sql,
                 "INSERT INTO {S}.outbox (event_id, aggregate_key, type, version, payload) "
                 "SELECT gen_random_uuid(), $1, $2, $3::int, decode($4, 'hex') FROM ("
                 "SELECT pg_advisory_xact_lock(hashtextextended($5, 0)), pg_notify($6, '')) l "
                 "RETURNING event_id::text",
                 schema);
  if (rc != 0) goto out;
  snprintf(vbuf, sizeof vbuf, "%d", version);
  const char *ip[] = {aggregate_key, type, vbuf, hex, lock_key, channel};
  PGresult *res = NULL;
  rc = yw_pg_query_write(conn, sql, 6, ip, &res, err);
  if (rc == 0 && event_id_out != NULL && PQntuples(res) == 1)
    snprintf(event_id_out, YW_EVENTS_ID_MAX, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
out:
  free(packed);
  free(hex);
  return rc;
}

/* ---- relay ---- */

struct relay_params {
  char schema[SCHEMA_MAX + 1];
  char stream[YW_EVENTS_STREAM_MAX + 1];
  int batch;
  long long maxlen;
  int db_wait_ms;
};

static int relay_params(const yw_events_relay_config *cfg, struct relay_params *p) {
  if (cfg == NULL || !yw_pg_schema_ok(cfg->schema)) return YW_EINVAL;
  snprintf(p->schema, sizeof p->schema, "%s", cfg->schema);
  if (cfg->stream != NULL) {
    if (!stream_ok(cfg->stream)) return YW_EINVAL;
    snprintf(p->stream, sizeof p->stream, "%s", cfg->stream);
  } else if (yw_events_stream_name(cfg->schema, p->stream, sizeof p->stream) != 0) {
    return YW_EINVAL;
  }
  p->batch = cfg->batch > 0 ? cfg->batch : 100;
  if (p->batch > 1000) return YW_EINVAL;
  p->maxlen = cfg->maxlen != 0 ? cfg->maxlen : 1000000;
  p->db_wait_ms = cfg->db_wait_ms > 0 ? cfg->db_wait_ms : 1000;
  return 0;
}

/* Heads of up to $1 keys locked, then the unpublished rows of those keys, in id order
 * (for each key a prefix of its rows: the LIMIT cuts one id-ordered list). */
static const char RELAY_CLAIM[] =
    "WITH heads AS ("
    " SELECT o.aggregate_key FROM {S}.outbox o"
    " WHERE o.published_at IS NULL AND NOT EXISTS ("
    "  SELECT 1 FROM {S}.outbox p WHERE p.published_at IS NULL"
    "   AND p.aggregate_key = o.aggregate_key AND p.id < o.id)"
    " ORDER BY o.id LIMIT $1::int FOR UPDATE SKIP LOCKED) "
    "SELECT r.id, r.event_id::text, r.aggregate_key, r.type, r.version,"
    " encode(r.payload, 'hex'), (extract(epoch FROM r.created_at) * 1000)::bigint "
    "FROM {S}.outbox r JOIN heads h ON h.aggregate_key = r.aggregate_key "
    "WHERE r.published_at IS NULL ORDER BY r.id LIMIT $1::int";

static const char RELAY_MARK[] =
    "UPDATE {S}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])";

/* XADDs row i of res. 0, YW_EUNAVAIL (Redis; err says why) or YW_ENOMEM. */
static int relay_xadd(yw_redis *redis, const struct relay_params *p, PGresult *res, int i,
                      long long deadline, char *err, size_t errlen) {
  const char *hex = PQgetvalue(res, i, 5);
  size_t hlen = (size_t)PQgetlength(res, i, 5);
  uint8_t *payload = malloc(hlen / 2 + 1);
  if (payload == NULL) return YW_ENOMEM;
  if (yw_hex_decode(hex, hlen, payload) != 0) {
    free(payload);
    snprintf(err, errlen, "outbox payload is not hex");
    return YW_EINTERNAL;
  }
  char maxlen[24];
  snprintf(maxlen, sizeof maxlen, "%lld", p->maxlen);
  const char *argv[20];
  size_t lens[20];
  int n = 0;
  argv[n++] = "XADD";
  argv[n++] = p->stream;
  if (p->maxlen > 0) {
    argv[n++] = "MAXLEN";
    argv[n++] = "~";
    argv[n++] = maxlen;
  }
  argv[n++] = "*";
  argv[n++] = "id";
  argv[n++] = PQgetvalue(res, i, 1);
  argv[n++] = "type";
  argv[n++] = PQgetvalue(res, i, 3);
  argv[n++] = "version";
  argv[n++] = PQgetvalue(res, i, 4);
  argv[n++] = "key";
  argv[n++] = PQgetvalue(res, i, 2);
  argv[n++] = "occurred_at";
  argv[n++] = PQgetvalue(res, i, 6);
  argv[n++] = "seq";
  argv[n++] = PQgetvalue(res, i, 0);
  argv[n++] = "payload";
  int payload_at = n;
  argv[n++] = (const char *)payload;
  for (int k = 0; k < n; k++) lens[k] = k == payload_at ? hlen / 2 : strlen(argv[k]);
  redisReply *rep = rcmd(redis, deadline, n, argv, lens, err, errlen);
  free(payload);
  if (rep == NULL) return YW_EUNAVAIL;
  freeReplyObject(rep);
  return 0;
}

int yw_events_relay_run_once(yw_pg_pool *pool, yw_redis *redis, const yw_events_relay_config *cfg,
                             int timeout_ms, yw_pg_error *err) {
  struct relay_params p;
  if (pool == NULL || redis == NULL || timeout_ms <= 0 || relay_params(cfg, &p) != 0) {
    set_err(err, "invalid relay configuration");
    return YW_EINVAL;
  }
  long long start = now_ms(), deadline = start + timeout_ms;
  /* time kept back from publishing for the mark and the commit */
  long long reserve = timeout_ms / 5;
  if (reserve < 20) reserve = 20;
  if (reserve > 1000) reserve = 1000;

  char claim[SQL_MAX], mark[SQL_MAX];
  if (yw_pg_schema_sql(claim, sizeof claim, RELAY_CLAIM, p.schema) != 0 ||
      yw_pg_schema_sql(mark, sizeof mark, RELAY_MARK, p.schema) != 0)
    return YW_EINTERNAL;

  PGconn *conn = yw_pg_pool_acquire(pool, p.db_wait_ms < timeout_ms ? p.db_wait_ms : timeout_ms);
  if (conn == NULL) {
    set_err(err, "no database connection in time");
    return YW_EUNAVAIL;
  }
  yw_pg_set_deadline(conn, deadline - now_ms());
  PGresult *res = NULL;
  char *ids = NULL;
  int published = 0;
  int rc = yw_pg_begin(conn, err);
  char batch[16];
  snprintf(batch, sizeof batch, "%d", p.batch);
  const char *cp[] = {batch};
  if (rc == 0) rc = yw_pg_query_write(conn, claim, 1, cp, &res, err);
  if (rc != 0) goto out;
  int rows = PQntuples(res);
  if (rows == 0) goto out; /* nothing to publish: the release rolls back */

  /* "{id,id,...}": digits and commas only, at most 20 + 1 bytes an id */
  ids = malloc((size_t)rows * 21 + 3);
  if (ids == NULL) {
    rc = YW_ENOMEM;
    goto out;
  }
  size_t used = 0;
  ids[used++] = '{';
  char rerr[ERRLEN] = "";
  int xrc = 0;
  for (int i = 0; i < rows; i++) {
    if (now_ms() + reserve >= deadline) break;
    xrc = relay_xadd(redis, &p, res, i, deadline - reserve, rerr, sizeof rerr);
    if (xrc != 0) break;
    if (cfg->after_publish != NULL && cfg->after_publish(cfg->hook_arg, PQgetvalue(res, i, 1))) {
      rc = YW_ECANCELED;
      set_err(err, "stopped after publishing, before marking");
      goto out;
    }
    const char *id = PQgetvalue(res, i, 0);
    size_t idl = strlen(id);
    if (idl > 20) { /* a bigint never is */
      rc = YW_EINTERNAL;
      goto out;
    }
    if (published > 0) ids[used++] = ',';
    memcpy(ids + used, id, idl);
    used += idl;
    published++;
  }
  ids[used++] = '}';
  ids[used] = '\0';
  if (published == 0) {
    rc = xrc != 0 ? xrc : YW_ETIMEOUT;
    set_err(err, xrc != 0 ? rerr : "no time left to publish");
    goto out;
  }
  const char *mp[] = {ids};
  rc = yw_pg_query_write(conn, mark, 1, mp, NULL, err);
  if (rc == 0) rc = yw_pg_commit(conn, err);
out:
  PQclear(res);
  free(ids);
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) yw_pg_rollback(conn);
  yw_pg_pool_release(pool, conn);
  return rc != 0 ? rc : published;
}

int yw_events_outbox_backlog(yw_pg_pool *pool, const char *schema, int timeout_ms, long long *rows,
                             long long *oldest_ms) {
  *rows = 0;
  *oldest_ms = 0;
  if (pool == NULL || !yw_pg_schema_ok(schema) || timeout_ms <= 0) return YW_EINVAL;
  char sql[SQL_MAX];
  if (yw_pg_schema_sql(sql, sizeof sql,
                "SELECT count(*), COALESCE((extract(epoch FROM now() - min(created_at)) * "
                "1000)::bigint, 0) FROM {S}.outbox WHERE published_at IS NULL",
                schema) != 0)
    return YW_EINTERNAL;
  long long deadline = now_ms() + timeout_ms;
  PGconn *conn = yw_pg_pool_acquire(pool, timeout_ms);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_set_deadline(conn, deadline - now_ms());
  PGresult *res = NULL;
  int rc = yw_pg_query_read(conn, sql, 0, NULL, &res, NULL);
  if (rc == 0 && PQntuples(res) == 1) {
    *rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *oldest_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
  }
  PQclear(res);
  yw_pg_pool_release(pool, conn);
  return rc;
}

/* Runs a DELETE of sql with params; returns the rows deleted or a code. */
static int run_delete(yw_pg_pool *pool, const char *sql, int n, const char *const *params,
                      int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  PGconn *conn = yw_pg_pool_acquire(pool, timeout_ms);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_set_deadline(conn, deadline - now_ms());
  PGresult *res = NULL;
  int rc = yw_pg_query_write(conn, sql, n, params, &res, NULL);
  if (rc == 0) {
    long long d = strtoll(PQcmdTuples(res), NULL, 10);
    rc = d > INT_MAX ? INT_MAX : (int)d;
  }
  PQclear(res);
  yw_pg_pool_release(pool, conn);
  return rc;
}

int yw_events_outbox_prune(yw_pg_pool *pool, const char *schema, int older_than_s, int limit,
                           int timeout_ms) {
  if (pool == NULL || !yw_pg_schema_ok(schema) || older_than_s < 0 || limit <= 0 || timeout_ms <= 0)
    return YW_EINVAL;
  char sql[SQL_MAX], age[32], lim[16];
  if (yw_pg_schema_sql(sql, sizeof sql,
                "DELETE FROM {S}.outbox WHERE id IN (SELECT id FROM {S}.outbox"
                " WHERE published_at IS NOT NULL AND published_at < now() - $1::interval"
                " ORDER BY published_at LIMIT $2::int)",
                schema) != 0)
    return YW_EINTERNAL;
  snprintf(age, sizeof age, "%d seconds", older_than_s);
  snprintf(lim, sizeof lim, "%d", limit);
  const char *params[] = {age, lim};
  return run_delete(pool, sql, 2, params, timeout_ms);
}

int yw_events_processed_prune(yw_pg_pool *pool, const char *schema, const char *group,
                              int older_than_s, int limit, int timeout_ms) {
  if (pool == NULL || !yw_pg_schema_ok(schema) || group == NULL || older_than_s < 0 || limit <= 0 ||
      timeout_ms <= 0)
    return YW_EINVAL;
  char sql[SQL_MAX], age[32], lim[16];
  if (yw_pg_schema_sql(sql, sizeof sql,
                "DELETE FROM {S}.processed_events WHERE (consumer, event_id) IN ("
                "SELECT consumer, event_id FROM {S}.processed_events"
                " WHERE consumer = $1 AND processed_at < now() - $2::interval"
                " ORDER BY processed_at LIMIT $3::int)",
                schema) != 0)
    return YW_EINTERNAL;
  snprintf(age, sizeof age, "%d seconds", older_than_s);
  snprintf(lim, sizeof lim, "%d", limit);
  const char *params[] = {group, age, lim};
  return run_delete(pool, sql, 3, params, timeout_ms);
}

/* ---- relay thread ---- */

struct yw_events_relay {
  yw_pg_pool *pool;
  yw_redis *redis;
  yw_events_relay_config cfg; /* schema and stream point into the copies below */
  char schema[SCHEMA_MAX + 1];
  char stream[YW_EVENTS_STREAM_MAX + 1];
  int wake[2]; /* a byte written to wake[1] stops the thread */
  atomic_int stop;
  pthread_t thread;
  PGconn *listen_conn;
  pthread_mutex_t mu;
  yw_events_relay_stats stats;
};

static void relay_unlisten(yw_events_relay *r) {
  if (r->listen_conn == NULL) return;
  yw_pg_set_deadline(r->listen_conn, 1000);
  yw_pg_query_write(r->listen_conn, "UNLISTEN *", 0, NULL, NULL, NULL);
  PQconsumeInput(r->listen_conn);
  PGnotify *nt;
  while ((nt = PQnotifies(r->listen_conn)) != NULL) PQfreemem(nt);
  yw_pg_pool_release(r->pool, r->listen_conn);
  r->listen_conn = NULL;
}

static void relay_listen(yw_events_relay *r) {
  if (r->listen_conn != NULL) return;
  PGconn *c = yw_pg_pool_acquire(r->pool, r->cfg.db_wait_ms > 0 ? r->cfg.db_wait_ms : 1000);
  if (c == NULL) return;
  char sql[SCHEMA_MAX + 32];
  snprintf(sql, sizeof sql, "LISTEN \"yw_events_%s\"", r->schema); /* [a-z_]+ */
  yw_pg_set_deadline(c, 2000);
  if (yw_pg_query_write(c, sql, 0, NULL, NULL, NULL) != 0) {
    yw_pg_pool_release(r->pool, c);
    return;
  }
  r->listen_conn = c;
}

/* Waits up to ms for a stop, or for a NOTIFY when listening. */
static void relay_wait(yw_events_relay *r, long long ms) {
  struct pollfd fds[2] = {{.fd = r->wake[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}};
  if (r->cfg.listen) {
    relay_listen(r);
    if (r->listen_conn != NULL) fds[1].fd = PQsocket(r->listen_conn);
  }
  long long until = now_ms() + ms;
  while (!atomic_load(&r->stop)) {
    long long left = until - now_ms();
    if (left <= 0) return;
    int n = poll(fds, fds[1].fd >= 0 ? 2 : 1, (int)(left > 60000 ? 60000 : left));
    if (n < 0 && errno != EINTR) return;
    if (n <= 0) continue;
    if (fds[0].revents != 0) return;
    if (fds[1].fd >= 0 && fds[1].revents != 0) {
      int woke = 0;
      if (!PQconsumeInput(r->listen_conn)) {
        /* the session is gone: the pool re-establishes it, the next wait listens again */
        yw_pg_pool_release(r->pool, r->listen_conn);
        r->listen_conn = NULL;
        return;
      }
      PGnotify *nt;
      while ((nt = PQnotifies(r->listen_conn)) != NULL) {
        woke = 1;
        PQfreemem(nt);
      }
      if (woke) return;
    }
  }
}

/* Waits up to ms for a stop only (a NOTIFY meanwhile stays for the next relay_wait). */
static void relay_pause(yw_events_relay *r, long long ms) {
  struct pollfd fd = {.fd = r->wake[0], .events = POLLIN};
  long long until = now_ms() + ms;
  while (!atomic_load(&r->stop)) {
    long long left = until - now_ms();
    if (left <= 0) return;
    int n = poll(&fd, 1, (int)left);
    if (n < 0 && errno != EINTR) return;
    if (n > 0) return;
  }
}

static void *relay_main(void *arg) {
  yw_events_relay *r = arg;
  int interval = r->cfg.interval_ms > 0 ? r->cfg.interval_ms : 1000;
  int run_ms = r->cfg.run_timeout_ms > 0 ? r->cfg.run_timeout_ms : 5000;
  int batch = r->cfg.batch > 0 ? r->cfg.batch : 100;
  int keep_s = r->cfg.keep_published_s != 0 ? r->cfg.keep_published_s : 7 * 24 * 3600;
  long long backoff = 0, next_prune = now_ms() + 60000, last_start = 0;
  int full = 0;
  while (!atomic_load(&r->stop)) {
    if (r->cfg.coalesce_ms > 0 && !full && last_start > 0) {
      long long rest = last_start + r->cfg.coalesce_ms - now_ms();
      if (rest > 0) relay_pause(r, rest);
      if (atomic_load(&r->stop)) break;
    }
    last_start = now_ms();
    yw_pg_error err = {"", ""};
    int rc = yw_events_relay_run_once(r->pool, r->redis, &r->cfg, run_ms, &err);
    full = rc == batch;
    pthread_mutex_lock(&r->mu);
    r->stats.runs++;
    if (rc >= 0) {
      r->stats.published += rc;
    } else {
      r->stats.failures++;
      r->stats.last_error = rc;
      str_copy(r->stats.last_message, sizeof r->stats.last_message, err.message);
    }
    pthread_mutex_unlock(&r->mu);
    if (rc == batch) continue; /* more may be waiting */
    if (keep_s > 0 && now_ms() >= next_prune) {
      while (!atomic_load(&r->stop) &&
             yw_events_outbox_prune(r->pool, r->schema, keep_s, 1000, run_ms) == 1000) {
      }
      next_prune = now_ms() + 3600 * 1000;
    }
    if (rc < 0) {
      backoff = backoff == 0 ? 100 : backoff * 2;
      if (backoff > 5000) backoff = 5000;
      relay_wait(r, backoff < interval ? backoff : interval);
    } else {
      backoff = 0;
      relay_wait(r, interval);
    }
  }
  relay_unlisten(r);
  return NULL;
}

int yw_events_relay_start(yw_pg_pool *pool, yw_redis *redis, const yw_events_relay_config *cfg,
                          yw_events_relay **out) {
  *out = NULL;
  struct relay_params p;
  if (pool == NULL || redis == NULL || relay_params(cfg, &p) != 0) return YW_EINVAL;
  yw_events_relay *r = calloc(1, sizeof *r);
  if (r == NULL) return YW_ENOMEM;
  r->pool = pool;
  r->redis = redis;
  r->cfg = *cfg;
  snprintf(r->schema, sizeof r->schema, "%s", p.schema);
  snprintf(r->stream, sizeof r->stream, "%s", p.stream);
  r->cfg.schema = r->schema;
  r->cfg.stream = r->stream;
  if (pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    free(r);
    return YW_EINTERNAL;
  }
  pthread_mutex_init(&r->mu, NULL);
  if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
    close(r->wake[0]);
    close(r->wake[1]);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return YW_EINTERNAL;
  }
  *out = r;
  return 0;
}

void yw_events_relay_stop(yw_events_relay *r) {
  if (r == NULL) return;
  atomic_store(&r->stop, 1);
  ssize_t w = write(r->wake[1], "x", 1);
  (void)w;
  pthread_join(r->thread, NULL);
  close(r->wake[0]);
  close(r->wake[1]);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

void yw_events_relay_stats_get(yw_events_relay *r, yw_events_relay_stats *out) {
  pthread_mutex_lock(&r->mu);
  *out = r->stats;
  pthread_mutex_unlock(&r->mu);
}

/* ---- consumer ---- */

struct yw_events_consumer {
  yw_pg_pool *pool;
  yw_redis *redis;
  char stream[YW_EVENTS_STREAM_MAX + 1];
  char dead[YW_EVENTS_STREAM_MAX + 8];
  char group[YW_EVENTS_STREAM_MAX + 1];
  char name[YW_EVENTS_STREAM_MAX + 1];
  char schema[SCHEMA_MAX + 1];
  char sql_processed[SQL_MAX];
  yw_events_handler handler;
  void *handler_arg;
  int batch, block_ms, max_deliveries, retry_base_ms, retry_max_ms, handler_timeout_ms, db_wait_ms,
      start_at_end;
  int (*after_commit)(void *arg, const yw_event *ev);
  void *hook_arg;

  int group_ready;
  int recovered;         /* this name's leftovers from a previous process were handled */
  char recover_from[48]; /* XPENDING start of the leftovers still to look at */

  atomic_llong handled, duplicates, failures, dead_lettered, rounds_failed;
  pthread_mutex_t mu; /* guards last_error, last_message and the thread fields */
  pthread_cond_t cv;
  int last_error;
  char last_message[ERRLEN];
  pthread_t thread;
  int running;
  atomic_int stop;
};

/* What became of one entry. */
enum outcome { ACKED = 1, LEFT = 0 };

/* Bound of one ordinary Redis command of the consumer. */
#define CMD_MS 2000

static void note_error(yw_events_consumer *c, int rc, const char *msg) {
  pthread_mutex_lock(&c->mu);
  c->last_error = rc;
  str_copy(c->last_message, sizeof c->last_message, msg);
  pthread_mutex_unlock(&c->mu);
}

int yw_events_consumer_new(yw_pg_pool *pool, yw_redis *redis, const yw_events_consumer_config *cfg,
                           yw_events_consumer **out) {
  *out = NULL;
  if (pool == NULL || redis == NULL || cfg == NULL || cfg->handler == NULL ||
      !stream_ok(cfg->stream) || !stream_ok(cfg->group) || !stream_ok(cfg->consumer) ||
      !yw_pg_schema_ok(cfg->schema) || cfg->batch < 0 || cfg->batch > 1000 || cfg->block_ms < 0 ||
      cfg->max_deliveries < 0 || cfg->retry_base_ms < 0 || cfg->retry_max_ms < 0 ||
      cfg->handler_timeout_ms < 0 || cfg->db_wait_ms < 0)
    return YW_EINVAL;
  yw_events_consumer *c = calloc(1, sizeof *c);
  if (c == NULL) return YW_ENOMEM;
  c->pool = pool;
  c->redis = redis;
  snprintf(c->stream, sizeof c->stream, "%s", cfg->stream);
  snprintf(c->dead, sizeof c->dead, "%s:dead", cfg->stream);
  snprintf(c->group, sizeof c->group, "%s", cfg->group);
  snprintf(c->name, sizeof c->name, "%s", cfg->consumer);
  snprintf(c->schema, sizeof c->schema, "%s", cfg->schema);
  if (yw_pg_schema_sql(c->sql_processed, sizeof c->sql_processed,
                "INSERT INTO {S}.processed_events (consumer, event_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                c->schema) != 0) {
    free(c);
    return YW_EINVAL;
  }
  c->handler = cfg->handler;
  c->handler_arg = cfg->handler_arg;
  c->batch = cfg->batch > 0 ? cfg->batch : 16;
  c->block_ms = cfg->block_ms > 0 ? cfg->block_ms : 500;
  c->max_deliveries = cfg->max_deliveries > 0 ? cfg->max_deliveries : 5;
  c->retry_base_ms = cfg->retry_base_ms > 0 ? cfg->retry_base_ms : 1000;
  c->retry_max_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms : 60000;
  if (c->retry_max_ms < c->retry_base_ms) c->retry_max_ms = c->retry_base_ms;
  c->handler_timeout_ms = cfg->handler_timeout_ms > 0 ? cfg->handler_timeout_ms : 5000;
  c->db_wait_ms = cfg->db_wait_ms > 0 ? cfg->db_wait_ms : 1000;
  c->start_at_end = cfg->start_at_end;
  c->after_commit = cfg->after_commit;
  c->hook_arg = cfg->hook_arg;
  snprintf(c->recover_from, sizeof c->recover_from, "-");
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  *out = c;
  return 0;
}

void yw_events_consumer_free(yw_events_consumer *c) {
  if (c == NULL) return;
  yw_events_consumer_stop(c);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* The wait before retrying an entry delivered n times. */
static long long backoff_ms(const yw_events_consumer *c, long long n) {
  long long ms = c->retry_base_ms;
  for (long long i = 1; i < n && ms < c->retry_max_ms; i++) ms *= 2;
  return ms < c->retry_max_ms ? ms : c->retry_max_ms;
}

static int ensure_group(yw_events_consumer *c) {
  if (c->group_ready) return 0;
  const char *argv[] = {"XGROUP",  "CREATE", c->stream, c->group, c->start_at_end ? "$" : "0",
                        "MKSTREAM"};
  char err[ERRLEN] = "";
  redisReply *r = rcmd(c->redis, now_ms() + CMD_MS, 6, argv, NULL, err, sizeof err);
  if (r == NULL && strncmp(err, "BUSYGROUP", 9) != 0) {
    note_error(c, YW_EUNAVAIL, err);
    return YW_EUNAVAIL;
  }
  if (r != NULL) freeReplyObject(r);
  c->group_ready = 1;
  return 0;
}

/* A Redis error that says the group (or the stream) is gone: create it again. */
static void check_nogroup(yw_events_consumer *c, const char *err) {
  if (strncmp(err, "NOGROUP", 7) == 0) c->group_ready = 0;
}

static int ack(yw_events_consumer *c, const char *entry_id) {
  const char *argv[] = {"XACK", c->stream, c->group, entry_id};
  char err[ERRLEN] = "";
  redisReply *r = rcmd(c->redis, now_ms() + CMD_MS, 4, argv, NULL, err, sizeof err);
  if (r == NULL) {
    note_error(c, YW_EUNAVAIL, err);
    return YW_EUNAVAIL;
  }
  freeReplyObject(r);
  return 0;
}

/* Gives back a delivery that never reached the handler: its count returns to prev. */
static void give_back(yw_events_consumer *c, const char *entry_id, int prev) {
  char n[16];
  snprintf(n, sizeof n, "%d", prev);
  const char *argv[] = {"XCLAIM", c->stream,    c->group, c->name, "0",
                        entry_id, "RETRYCOUNT", n,        "JUSTID"};
  redisReply *r = rcmd(c->redis, now_ms() + CMD_MS, 9, argv, NULL, NULL, 0);
  if (r != NULL) freeReplyObject(r);
}

static const redisReply *field(const redisReply *fields, const char *name) {
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const redisReply *k = fields->element[i];
    if (k->type == REDIS_REPLY_STRING && strlen(name) == k->len &&
        memcmp(k->str, name, k->len) == 0)
      return fields->element[i + 1];
  }
  return NULL;
}

static const char *field_str(const redisReply *fields, const char *name) {
  const redisReply *v = field(fields, name);
  /* hiredis ends every bulk string with a NUL; one inside would cut the value */
  if (v == NULL || v->type != REDIS_REPLY_STRING || strlen(v->str) != v->len) return NULL;
  return v->str;
}

/* Fills ev from an entry's fields. 0, or YW_EINVAL with why set. */
static int parse_entry(const redisReply *fields, yw_event *ev, const char **why) {
  memset(ev, 0, sizeof *ev);
  ev->id = field_str(fields, "id");
  ev->type = field_str(fields, "type");
  ev->aggregate_key = field_str(fields, "key");
  const char *version = field_str(fields, "version");
  const char *at = field_str(fields, "occurred_at");
  const char *seq = field_str(fields, "seq");
  const redisReply *payload = field(fields, "payload");
  if (ev->id == NULL || ev->id[0] == '\0' || strlen(ev->id) >= 200) {
    *why = "malformed entry: no event id";
    return YW_EINVAL;
  }
  if (ev->type == NULL || ev->aggregate_key == NULL || version == NULL || payload == NULL ||
      payload->type != REDIS_REPLY_STRING) {
    *why = "malformed entry: type, key, version or payload missing";
    return YW_EINVAL;
  }
  char *end = NULL;
  errno = 0;
  long v = strtol(version, &end, 10);
  if (errno != 0 || end == version || *end != '\0' || v < 1 || v > INT_MAX) {
    *why = "malformed entry: version";
    return YW_EINVAL;
  }
  ev->version = (int)v;
  if (at != NULL) {
    errno = 0;
    long long ms = strtoll(at, &end, 10);
    if (errno == 0 && end != at && *end == '\0') ev->occurred_at_ms = ms;
  }
  if (seq != NULL) { /* absent in entries of a relay before it carried seq: 0 */
    errno = 0;
    long long v = strtoll(seq, &end, 10);
    if (errno != 0 || end == seq || *end != '\0' || v < 1) {
      *why = "malformed entry: seq";
      return YW_EINVAL;
    }
    ev->seq = v;
  }
  ev->payload = (const uint8_t *)payload->str;
  ev->payload_len = payload->len;
  return 0;
}

/* XADDs the entry to the dead-letter stream with why, then acknowledges it. */
static int dead_letter(yw_events_consumer *c, const char *entry_id, const redisReply *fields,
                       int deliveries, const char *why) {
  const char *argv[4 + 2 * ENTRY_FIELDS_MAX + 10];
  size_t lens[4 + 2 * ENTRY_FIELDS_MAX + 10];
  char dn[16];
  snprintf(dn, sizeof dn, "%d", deliveries);
  int n = 0;
  argv[n++] = "XADD";
  argv[n++] = c->dead;
  argv[n++] = "*";
  for (size_t i = 0; fields != NULL && i + 1 < fields->elements && i < 2 * ENTRY_FIELDS_MAX;
       i += 2) {
    const redisReply *k = fields->element[i], *v = fields->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
    lens[n] = k->len;
    argv[n++] = k->str;
    lens[n] = v->len;
    argv[n++] = v->str;
  }
  const char *extra[] = {"error", why,          "group", c->group,   "consumer",
                         c->name, "deliveries", dn,      "entry_id", entry_id};
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
    lens[n] = strlen(extra[i]);
    argv[n++] = extra[i];
  }
  for (int i = 0; i < 3; i++) lens[i] = strlen(argv[i]);
  char err[ERRLEN] = "";
  redisReply *r = rcmd(c->redis, now_ms() + CMD_MS, n, argv, lens, err, sizeof err);
  if (r == NULL) {
    note_error(c, YW_EUNAVAIL, err);
    return YW_EUNAVAIL;
  }
  freeReplyObject(r);
  atomic_fetch_add(&c->dead_lettered, 1);
  return ack(c, entry_id);
}

/*
 * Handles one entry (an [id, fields] reply) delivered for the deliveries-th time.
 * Returns ACKED, LEFT (pending, to be retried) or a code that ends the round.
 */
static int handle(yw_events_consumer *c, const redisReply *entry, int deliveries) {
  if (entry == NULL || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
      entry->element[0]->type != REDIS_REPLY_STRING)
    return LEFT;
  const char *entry_id = entry->element[0]->str;
  const redisReply *fields = entry->element[1];
  if (fields->type != REDIS_REPLY_ARRAY) {
    /* deleted from the stream (trimmed) while pending: nothing left to handle */
    int rc = ack(c, entry_id);
    return rc != 0 ? rc : ACKED;
  }
  yw_event ev;
  const char *why = NULL;
  if (parse_entry(fields, &ev, &why) != 0) {
    int rc = dead_letter(c, entry_id, fields, deliveries, why);
    return rc != 0 ? rc : ACKED;
  }
  ev.entry_id = entry_id;
  ev.deliveries = deliveries;

  long long deadline = now_ms() + c->handler_timeout_ms;
  PGconn *conn = yw_pg_pool_acquire(c->pool, c->db_wait_ms);
  if (conn == NULL) {
    give_back(c, entry_id, deliveries - 1);
    note_error(c, YW_EUNAVAIL, "no database connection in time");
    return YW_EUNAVAIL;
  }
  yw_pg_set_deadline(conn, deadline - now_ms());
  yw_pg_error err = {"", ""};
  PGresult *res = NULL;
  const char *params[] = {c->group, ev.id};
  int rc = yw_pg_begin(conn, &err);
  if (rc == 0) rc = yw_pg_query_write(conn, c->sql_processed, 2, params, &res, &err);
  if (rc != 0) {
    /* the handler never ran: not a delivery */
    PQclear(res);
    yw_pg_rollback(conn);
    yw_pg_pool_release(c->pool, conn);
    give_back(c, entry_id, deliveries - 1);
    note_error(c, rc, err.message);
    return rc;
  }
  int fresh = PQntuples(res) == 1;
  PQclear(res);
  if (!fresh) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(c->pool, conn);
    atomic_fetch_add(&c->duplicates, 1);
    rc = ack(c, entry_id);
    return rc != 0 ? rc : ACKED;
  }
  int hrc = c->handler(conn, &ev, c->handler_arg);
  char why_buf[ERRLEN + sizeof err.message];
  if (hrc == 0) {
    hrc = yw_pg_commit(conn, &err);
    if (hrc != 0)
      snprintf(why_buf, sizeof why_buf, "commit failed: %s: %s", yw_strerror(hrc), err.message);
  } else {
    snprintf(why_buf, sizeof why_buf, "handler failed: %d (%s)", hrc, yw_strerror(hrc));
  }
  if (hrc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(c->pool, conn);
  if (hrc != 0) {
    atomic_fetch_add(&c->failures, 1);
    note_error(c, hrc, why_buf);
    if (deliveries >= c->max_deliveries) {
      rc = dead_letter(c, entry_id, fields, deliveries, why_buf);
      return rc != 0 ? rc : ACKED;
    }
    return LEFT; /* retried once its back-off passed */
  }
  atomic_fetch_add(&c->handled, 1);
  if (c->after_commit != NULL && c->after_commit(c->hook_arg, &ev)) return YW_ECANCELED;
  rc = ack(c, entry_id);
  return rc != 0 ? rc : ACKED;
}

/* ---- replay ---- */

/* Handles one parsed entry in a transaction of its own. */
static int replay_one(yw_pg_pool *pool, long long deadline, const yw_event *ev,
                      yw_events_handler handler, void *handler_arg) {
  long long left = deadline - now_ms();
  if (left <= 0) return YW_ETIMEOUT;
  PGconn *conn = yw_pg_pool_acquire(pool, left > INT_MAX ? INT_MAX : (int)left);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_set_deadline(conn, deadline - now_ms());
  yw_pg_error err = {"", ""};
  int rc = yw_pg_begin(conn, &err);
  if (rc == 0) rc = handler(conn, ev, handler_arg);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  if (rc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(pool, conn);
  return rc;
}

int yw_events_replay(yw_pg_pool *pool, yw_redis *redis, const char *stream, const char *after_id,
                     int max, int timeout_ms, yw_events_handler handler, void *handler_arg,
                     int (*after_commit)(void *arg, const yw_event *ev), void *hook_arg,
                     yw_events_replay_result *out) {
  memset(out, 0, sizeof *out);
  if (pool == NULL || redis == NULL || stream == NULL || handler == NULL || max < 1 ||
      max > 10000 || timeout_ms < 1 || after_id == NULL || strlen(after_id) >= sizeof out->last_id)
    return YW_EINVAL;
  /* an entry id: digits, '-', digits */
  for (const char *p = after_id; *p != '\0'; p++)
    if (!((*p >= '0' && *p <= '9') || *p == '-')) return YW_EINVAL;
  snprintf(out->last_id, sizeof out->last_id, "%s", after_id[0] != '\0' ? after_id : "0");
  long long deadline = now_ms() + timeout_ms;
  int rc = 0;
  while (rc == 0 && out->replayed + out->skipped < max && !out->done) {
    char start[sizeof out->last_id + 1], count[16];
    snprintf(start, sizeof start, "(%s", out->last_id); /* exclusive (Redis 6.2 and later) */
    int want = max - out->replayed - out->skipped;
    int asked = want < 200 ? want : 200;
    snprintf(count, sizeof count, "%d", asked);
    const char *argv[] = {"XRANGE", stream, strcmp(out->last_id, "0") == 0 ? "-" : start, "+",
                          "COUNT", count};
    char err[ERRLEN] = "";
    redisReply *r = rcmd(redis, deadline, 6, argv, NULL, err, sizeof err);
    if (r == NULL) return now_ms() >= deadline ? YW_ETIMEOUT : YW_EUNAVAIL;
    if (r->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      return YW_EIO;
    }
    if (r->elements == 0) out->done = 1;
    for (size_t i = 0; rc == 0 && i < r->elements; i++) {
      const redisReply *e = r->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
          e->element[0]->type != REDIS_REPLY_STRING ||
          e->element[0]->len >= sizeof out->last_id) {
        rc = YW_EIO;
        break;
      }
      yw_event ev;
      const char *why = NULL;
      if (e->element[1]->type != REDIS_REPLY_ARRAY || parse_entry(e->element[1], &ev, &why) != 0) {
        out->skipped++;
      } else {
        ev.entry_id = e->element[0]->str;
        ev.deliveries = 1;
        rc = replay_one(pool, deadline, &ev, handler, handler_arg);
        if (rc != 0) break;
        out->replayed++;
        if (after_commit != NULL) after_commit(hook_arg, &ev);
      }
      snprintf(out->last_id, sizeof out->last_id, "%s", e->element[0]->str);
    }
    if (rc == 0 && (size_t)asked > r->elements) out->done = 1; /* fewer than asked: the end */
    freeReplyObject(r);
    if (rc == 0 && !out->done && now_ms() >= deadline) break;
  }
  return rc;
}

/* Claims entry_id (if idle at least min_idle) and handles it as its deliveries-th
 * delivery; or dead-letters it when it was already delivered max_deliveries times. */
static int claim_and_handle(yw_events_consumer *c, const char *entry_id, long long min_idle,
                            long long prev_deliveries, int *acked) {
  char idle[24];
  snprintf(idle, sizeof idle, "%lld", min_idle);
  const char *argv[] = {"XCLAIM", c->stream, c->group, c->name, idle, entry_id};
  char err[ERRLEN] = "";
  redisReply *r = rcmd(c->redis, now_ms() + CMD_MS, 6, argv, NULL, err, sizeof err);
  if (r == NULL) {
    check_nogroup(c, err);
    note_error(c, YW_EUNAVAIL, err);
    return YW_EUNAVAIL;
  }
  int rc = 0;
  int deliveries = prev_deliveries + 1 > INT_MAX ? INT_MAX : (int)(prev_deliveries + 1);
  /* empty: another copy claimed it first, or it left the stream (Redis then drops it
   * from the pending list itself) */
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
    const redisReply *e = r->element[0];
    if (e->type == REDIS_REPLY_NIL) {
      rc = ack(c, entry_id); /* Redis before 7 answers nil for a deleted entry */
      if (rc == 0) (*acked)++;
    } else if (prev_deliveries >= c->max_deliveries && e->type == REDIS_REPLY_ARRAY &&
               e->elements >= 2) {
      char why[ERRLEN];
      snprintf(why, sizeof why,
               "delivered %lld times without an outcome (the handler may end or stall its "
               "process)",
               prev_deliveries);
      rc = dead_letter(c, entry_id, e->element[1], deliveries, why);
      if (rc == 0) (*acked)++;
    } else {
      rc = handle(c, e, deliveries);
      if (rc == ACKED) (*acked)++;
      if (rc > 0) rc = 0;
    }
  }
  freeReplyObject(r);
  return rc;
}

/* XPENDING with the extended form; returns the reply or NULL (rc set). */
static redisReply *pending(yw_events_consumer *c, const char *min_idle, const char *start,
                           const char *owner, int *rc) {
  char count[16];
  snprintf(count, sizeof count, "%d", c->batch);
  const char *argv[9];
  int n = 0;
  argv[n++] = "XPENDING";
  argv[n++] = c->stream;
  argv[n++] = c->group;
  if (min_idle != NULL) {
    argv[n++] = "IDLE";
    argv[n++] = min_idle;
  }
  argv[n++] = start;
  argv[n++] = "+";
  argv[n++] = count;
  if (owner != NULL) argv[n++] = owner;
  char err[ERRLEN] = "";
  redisReply *r = rcmd(c->redis, now_ms() + CMD_MS, n, argv, NULL, err, sizeof err);
  *rc = 0;
  if (r == NULL) {
    check_nogroup(c, err);
    note_error(c, YW_EUNAVAIL, err);
    *rc = YW_EUNAVAIL;
  } else if (r->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(r);
    r = NULL;
    *rc = YW_EINTERNAL;
  }
  return r;
}

/* One XPENDING row: [id, consumer, idle ms, deliveries]. */
static int pending_row(const redisReply *row, const char **id, long long *idle, long long *n) {
  if (row->type != REDIS_REPLY_ARRAY || row->elements < 4 ||
      row->element[0]->type != REDIS_REPLY_STRING || row->element[2]->type != REDIS_REPLY_INTEGER ||
      row->element[3]->type != REDIS_REPLY_INTEGER)
    return -1;
  *id = row->element[0]->str;
  *idle = row->element[2]->integer;
  *n = row->element[3]->integer;
  return 0;
}

/* Step 1: what a previous process of this name left pending, handled at once. */
static int recover(yw_events_consumer *c, int *acked) {
  while (!c->recovered) {
    int rc = 0;
    redisReply *r = pending(c, NULL, c->recover_from, c->name, &rc);
    if (r == NULL) return rc;
    for (size_t i = 0; i < r->elements && rc == 0; i++) {
      const char *id;
      long long idle, n;
      if (pending_row(r->element[i], &id, &idle, &n) != 0) continue;
      snprintf(c->recover_from, sizeof c->recover_from, "(%s", id); /* exclusive next */
      rc = claim_and_handle(c, id, 0, n, acked);
    }
    if (rc == 0 && r->elements < (size_t)c->batch) c->recovered = 1;
    freeReplyObject(r);
    if (rc != 0) return rc;
  }
  return 0;
}

/* Step 2: entries of the group whose back-off passed. *found: some were due. */
static int retry_due(yw_events_consumer *c, int *acked, int *found) {
  char base[24];
  snprintf(base, sizeof base, "%d", c->retry_base_ms);
  int rc = 0;
  redisReply *r = pending(c, base, "-", NULL, &rc);
  if (r == NULL) return rc;
  for (size_t i = 0; i < r->elements && rc == 0; i++) {
    const char *id;
    long long idle, n;
    if (pending_row(r->element[i], &id, &idle, &n) != 0) continue;
    long long need = backoff_ms(c, n);
    if (idle < need) continue;
    *found = 1;
    rc = claim_and_handle(c, id, need, n, acked);
  }
  freeReplyObject(r);
  return rc;
}

/* Step 3: new entries, blocking up to block_ms when block. */
static int read_new(yw_events_consumer *c, int block, int *acked) {
  char count[16], bms[16];
  snprintf(count, sizeof count, "%d", c->batch);
  snprintf(bms, sizeof bms, "%d", c->block_ms);
  const char *argv[12];
  int n = 0;
  argv[n++] = "XREADGROUP";
  argv[n++] = "GROUP";
  argv[n++] = c->group;
  argv[n++] = c->name;
  argv[n++] = "COUNT";
  argv[n++] = count;
  if (block) {
    argv[n++] = "BLOCK";
    argv[n++] = bms;
  }
  argv[n++] = "STREAMS";
  argv[n++] = c->stream;
  argv[n++] = ">";
  char err[ERRLEN] = "";
  long long wait = CMD_MS + (block ? c->block_ms : 0);
  redisReply *r = rcmd(c->redis, now_ms() + wait, n, argv, NULL, err, sizeof err);
  if (r == NULL) {
    check_nogroup(c, err);
    note_error(c, YW_EUNAVAIL, err);
    return YW_EUNAVAIL;
  }
  int rc = 0;
  /* [[stream, [entry, ...]]], or nil when BLOCK ended without entries */
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
      r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 2 &&
      r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
    const redisReply *entries = r->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
      rc = handle(c, entries->element[i], 1);
      if (rc == ACKED) (*acked)++;
      if (rc < 0) break;
      rc = 0;
    }
  }
  freeReplyObject(r);
  return rc;
}

int yw_events_consumer_poll(yw_events_consumer *c) {
  if (c == NULL) return YW_EINVAL;
  int rc = ensure_group(c);
  if (rc != 0) return rc;
  int acked = 0, found = 0;
  rc = recover(c, &acked);
  if (rc == 0) rc = retry_due(c, &acked, &found);
  if (rc == 0) rc = read_new(c, !found && acked == 0, &acked);
  return rc != 0 ? rc : acked;
}

static void *consumer_main(void *arg) {
  yw_events_consumer *c = arg;
  long long backoff = 0;
  while (!atomic_load(&c->stop)) {
    int rc = yw_events_consumer_poll(c);
    if (rc >= 0) {
      backoff = 0;
      continue;
    }
    atomic_fetch_add(&c->rounds_failed, 1);
    backoff = backoff == 0 ? 100 : backoff * 2;
    if (backoff > 5000) backoff = 5000;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += backoff / 1000;
    until.tv_nsec += (backoff % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c->mu);
    if (!atomic_load(&c->stop)) pthread_cond_timedwait(&c->cv, &c->mu, &until);
    pthread_mutex_unlock(&c->mu);
  }
  return NULL;
}

int yw_events_consumer_start(yw_events_consumer *c) {
  if (c == NULL) return YW_EINVAL;
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  if (c->running) {
    rc = YW_EINVAL;
  } else {
    atomic_store(&c->stop, 0);
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0)
      rc = YW_EINTERNAL;
    else
      c->running = 1;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void yw_events_consumer_stop(yw_events_consumer *c) {
  if (c == NULL) return;
  pthread_mutex_lock(&c->mu);
  int running = c->running;
  atomic_store(&c->stop, 1);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (!running) return;
  pthread_join(c->thread, NULL);
  pthread_mutex_lock(&c->mu);
  c->running = 0;
  pthread_mutex_unlock(&c->mu);
}

void yw_events_consumer_stats_get(yw_events_consumer *c, yw_events_consumer_stats *out) {
  memset(out, 0, sizeof *out);
  out->handled = atomic_load(&c->handled);
  out->duplicates = atomic_load(&c->duplicates);
  out->failures = atomic_load(&c->failures);
  out->dead_lettered = atomic_load(&c->dead_lettered);
  out->rounds_failed = atomic_load(&c->rounds_failed);
  pthread_mutex_lock(&c->mu);
  out->last_error = c->last_error;
  snprintf(out->last_message, sizeof out->last_message, "%s", c->last_message);
  pthread_mutex_unlock(&c->mu);
}

static int reply_is(const redisReply *r, const char *s) {
  return r->type == REDIS_REPLY_STRING && strlen(s) == r->len && memcmp(r->str, s, r->len) == 0;
}

int yw_events_consumer_lag(yw_events_consumer *c, int timeout_ms, yw_events_lag *out) {
  out->pending = 0;
  out->lag = -1;
  out->dead = 0;
  if (c == NULL || timeout_ms <= 0) return YW_EINVAL;
  long long deadline = now_ms() + timeout_ms;
  const char *argv[] = {"XINFO", "GROUPS", c->stream};
  redisReply *r = rcmd(c->redis, deadline, 3, argv, NULL, NULL, 0);
  if (r == NULL) return YW_EUNAVAIL;
  int rc = YW_ENOTFOUND;
  /* an array of groups, each a flat array of name, value pairs */
  for (size_t g = 0; r->type == REDIS_REPLY_ARRAY && g < r->elements && rc != 0; g++) {
    const redisReply *grp = r->element[g];
    if (grp->type != REDIS_REPLY_ARRAY) continue;
    const redisReply *name = field(grp, "name");
    if (name == NULL || !reply_is(name, c->group)) continue;
    const redisReply *p = field(grp, "pending"), *lag = field(grp, "lag");
    if (p != NULL && p->type == REDIS_REPLY_INTEGER) out->pending = p->integer;
    if (lag != NULL && lag->type == REDIS_REPLY_INTEGER) out->lag = lag->integer;
    rc = 0;
  }
  freeReplyObject(r);
  if (rc != 0) return rc;
  const char *xlen[] = {"XLEN", c->dead};
  r = rcmd(c->redis, deadline, 2, xlen, NULL, NULL, 0);
  if (r == NULL) return YW_EUNAVAIL;
  if (r->type == REDIS_REPLY_INTEGER) out->dead = r->integer;
  freeReplyObject(r);
  return 0;
}

/* Appends s to out as a Prometheus label value (backslash, quote and newline escaped). */
static size_t label_escape(char *out, size_t cap, const char *s) {
  size_t o = 0;
  for (; *s != '\0' && o + 3 < cap; s++) {
    if (*s == '\\' || *s == '"') {
      out[o++] = '\\';
      out[o++] = *s;
    } else if (*s == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else {
      out[o++] = *s;
    }
  }
  out[o] = '\0';
  return o;
}

int yw_events_consumer_metrics(yw_events_consumer *c, int timeout_ms, char *buf, size_t len) {
  if (c == NULL || buf == NULL || len == 0) return YW_EINVAL;
  char stream[2 * YW_EVENTS_STREAM_MAX + 2], group[2 * YW_EVENTS_STREAM_MAX + 2];
  label_escape(stream, sizeof stream, c->stream);
  label_escape(group, sizeof group, c->group);
  yw_events_lag lag;
  int have_lag = yw_events_consumer_lag(c, timeout_ms, &lag) == 0;
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(c, &st);
  size_t o = 0;
  struct {
    const char *name, *type, *help;
    long long v;
    int show;
  } m[] = {
      {"yw_events_consumer_pending", "gauge", "Entries delivered to the group, not acknowledged.",
       lag.pending, have_lag},
      {"yw_events_consumer_lag", "gauge", "Entries not yet delivered to the group.", lag.lag,
       have_lag && lag.lag >= 0},
      {"yw_events_dead_letters", "gauge", "Entries in the stream's dead-letter stream.", lag.dead,
       have_lag},
      {"yw_events_consumer_handled_total", "counter", "Events handled by this process.", st.handled,
       1},
      {"yw_events_consumer_duplicates_total", "counter",
       "Events found already processed and skipped.", st.duplicates, 1},
      {"yw_events_consumer_failures_total", "counter", "Handler or commit failures.", st.failures,
       1},
      {"yw_events_consumer_dead_lettered_total", "counter",
       "Entries this process moved to the dead-letter stream.", st.dead_lettered, 1},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    if (!m[i].show) continue;
    int n = snprintf(buf + o, len - o,
                     "# HELP %s %s\n# TYPE %s %s\n%s{stream=\"%s\",group=\"%s\"} %lld\n", m[i].name,
                     m[i].help, m[i].name, m[i].type, m[i].name, stream, group, m[i].v);
    if (n < 0 || (size_t)n >= len - o) return YW_ETOOBIG;
    o += (size_t)n;
  }
  return o > INT_MAX ? YW_ETOOBIG : (int)o;
}

int yw_event_unpack(const yw_event *ev, const ProtobufCMessageDescriptor *desc,
                    ProtobufCAllocator *allocator, ProtobufCMessage **out) {
  *out = NULL;
  if (ev == NULL || desc == NULL) return YW_EINVAL;
  *out = protobuf_c_message_unpack(desc, allocator, ev->payload_len, ev->payload);
  return *out != NULL ? 0 : YW_EINVAL;
}
