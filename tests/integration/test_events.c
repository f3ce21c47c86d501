/*
 * test_events.c - the outbox, the relay and consumers (lib/yw_events.h) on the real
 * PostgreSQL and Redis of ./dev test: a fresh database, streams named after it.
 *
 * Proves: an append rolled back leaves no event, a committed one reaches the stream
 * once with its fields; 1,000 events on 10 keys written by 4 threads while two relays
 * run reach the stream once each and in outbox order per key; a relay stopped (by a
 * hook, and by SIGKILL in a child process) between XADD and the mark publishes again and
 * the consumer's effect still happens once; duplicates in the stream have one effect; a
 * handler that always fails is retried with a growing back-off and lands in the
 * dead-letter stream after N deliveries, acknowledged, while a database outage before
 * the handler does not count as a delivery; a consumer that stops mid-batch (by a hook,
 * and by SIGKILL) is finished by its restart under the same name or by another copy,
 * each effect once; the group's pending and lag numbers before and after, and their
 * Prometheus text; the relay thread wakes on NOTIFY; pruning.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "yiwang/events/v1/applications.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_testdb.h"

#define CONS "t_cons" /* the consumers' schema: processed_events and effects */

static char dsn[512];
static char dbname[64];
static yw_pg_pool *pool;
static yw_redis *redis;
static const char *redis_addr;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- database and Redis helpers ---- */

static PGconn *db(void) {
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  yw_pg_set_deadline(c, 10000);
  return c;
}

static long long scalar(const char *sql, int n, const char *const *params) {
  PGconn *c = db();
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(c, sql, n, params, &r, &err);
  if (rc != 0) fprintf(stderr, "%s: %s\n", sql, err.message);
  assert_int_equal(rc, 0);
  long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  yw_pg_pool_release(pool, c);
  return v;
}

static void migrate(const char *schema) {
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  int rc = yw_events_migrate(c, schema, &err);
  if (rc != 0) fprintf(stderr, "migrate %s: %s\n", schema, err.message);
  assert_int_equal(rc, 0);
  yw_pg_pool_release(pool, c);
}

static redisReply *redis_do(int argc, const char **argv, const size_t *lens) {
  char err[256] = "";
  redisReply *r = yw_redis_command(redis, argc, argv, lens, err, sizeof err);
  if (r == NULL) fprintf(stderr, "%s: %s\n", argv[0], err);
  return r;
}

static long long xlen(const char *stream) {
  const char *argv[] = {"XLEN", stream};
  redisReply *r = redis_do(2, argv, NULL);
  assert_non_null(r);
  long long n = r->integer;
  freeReplyObject(r);
  return n;
}

static void del_key(const char *key) {
  const char *argv[] = {"DEL", key};
  redisReply *r = redis_do(2, argv, NULL);
  if (r != NULL) freeReplyObject(r);
}

/* A stream of this test database: "yw:test:{<db>.<name>}". */
static void stream_for(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "yw:test:{%s.%s}", dbname, name);
  char dead[300];
  snprintf(dead, sizeof dead, "%s:dead", buf);
  del_key(buf);
  del_key(dead);
}

static void drop_streams(const char *stream) {
  char dead[300];
  snprintf(dead, sizeof dead, "%s:dead", stream);
  del_key(stream);
  del_key(dead);
}

/* An entry's field value (NUL-terminated by hiredis), or NULL. */
static const redisReply *entry_field(const redisReply *entry, const char *name) {
  const redisReply *f = entry->element[1];
  for (size_t i = 0; i + 1 < f->elements; i += 2)
    if (strcmp(f->element[i]->str, name) == 0) return f->element[i + 1];
  return NULL;
}

static redisReply *xrange(const char *stream) {
  const char *argv[] = {"XRANGE", stream, "-", "+"};
  redisReply *r = redis_do(4, argv, NULL);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  return r;
}

/* Appends one ApplicationSubmitted for key in a transaction of its own that also writes
 * a business row (the change the event describes); commit or roll back. */
static void append_one(const char *schema, const char *key, int seq, int commit, char *id_out) {
  PGconn *c = db();
  yw_pg_error err;
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(
      yw_pg_query(c, "CREATE TEMP TABLE IF NOT EXISTS change (n int)", 0, NULL, NULL, &err), 0);
  assert_int_equal(yw_pg_query(c, "INSERT INTO change VALUES (1)", 0, NULL, NULL, &err), 0);
  Yiwang__Events__V1__ApplicationSubmitted m = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  m.application_id = (char *)key;
  m.impl_code = "11320700MB1234567X4000111701";
  m.department_code = "320700-GA";
  m.applicant_subject = "acct-1";
  m.submitted_at_unix_ms = 1700000000000LL + seq;
  m.material_count = seq;
  char id[YW_EVENTS_ID_MAX];
  int rc = yw_events_append(c, schema, "application.submitted", 1, key, &m.base, id, &err);
  if (rc != 0) fprintf(stderr, "append: %s\n", err.message);
  assert_int_equal(rc, 0);
  assert_int_equal(strlen(id), 36);
  if (commit)
    assert_int_equal(yw_pg_commit(c, &err), 0);
  else
    yw_pg_rollback(c);
  if (id_out != NULL) snprintf(id_out, YW_EVENTS_ID_MAX, "%s", id);
  yw_pg_pool_release(pool, c);
}

static yw_events_relay_config relay_cfg(const char *schema, const char *stream) {
  yw_events_relay_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.schema = schema;
  cfg.stream = stream;
  cfg.batch = 50;
  return cfg;
}

/* Starts a relay of schema (migrated) into a new stream for name that listens and runs
 * every minute otherwise, coalescing runs by coalesce_ms; returns once its first run is
 * done and its LISTEN is in place (seen in pg_stat_activity), so that from then on only a
 * NOTIFY makes it run again in time. *runs (if not NULL): the runs done by then. */
static yw_events_relay *start_listening_relay(const char *schema, const char *name, int coalesce_ms,
                                              char *stream, size_t len, long long *runs) {
  migrate(schema);
  stream_for(name, stream, len);
  yw_events_relay_config cfg = relay_cfg(schema, stream);
  cfg.listen = 1;
  cfg.interval_ms = 60000;
  cfg.coalesce_ms = coalesce_ms;
  yw_events_relay *r;
  assert_int_equal(yw_events_relay_start(pool, redis, &cfg, &r), 0);
  char listen[96];
  snprintf(listen, sizeof listen, "LISTEN \"yw_events_%s\"", schema);
  const char *p[] = {listen};
  yw_events_relay_stats st;
  long long until = now_ms() + 20000;
  for (;;) {
    yw_events_relay_stats_get(r, &st);
    if (st.runs >= 1 &&
        scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND query = $1", 1, p) == 1)
      break;
    assert_true(now_ms() < until);
    sleep_ms(10);
  }
  if (runs != NULL) *runs = st.runs;
  return r;
}

/* Runs the relay until the outbox has nothing left; returns rows published. */
static long long relay_drain(const yw_events_relay_config *cfg) {
  long long total = 0;
  long long until = now_ms() + 20000;
  for (;;) {
    yw_pg_error err;
    int n = yw_events_relay_run_once(pool, redis, cfg, 5000, &err);
    if (n < 0) fprintf(stderr, "relay: %d %s\n", n, err.message);
    assert_true(n >= 0);
    total += n;
    long long rows, oldest;
    assert_int_equal(yw_events_outbox_backlog(pool, cfg->schema, 2000, &rows, &oldest), 0);
    if (rows == 0) return total;
    assert_true(now_ms() < until);
    if (n == 0) sleep_ms(20); /* rows held by someone else (a dying session) */
  }
}

/* ---- the consumers' effect ---- */

struct effect {
  const char *tag; /* effects of one test are told apart by it */
  atomic_int calls;
  atomic_int fail;  /* 1: the handler fails (returns YW_EINTERNAL) */
  long long at[16]; /* when each call happened (monotonic ms) */
  char seen_id[YW_EVENTS_ID_MAX];
  int seen_version;
  int seen_deliveries[16];
};

static int effect_handler(PGconn *conn, const yw_event *ev, void *arg) {
  struct effect *e = arg;
  int n = atomic_fetch_add(&e->calls, 1);
  if (n < 16) {
    e->at[n] = now_ms();
    e->seen_deliveries[n] = ev->deliveries;
  }
  snprintf(e->seen_id, sizeof e->seen_id, "%s", ev->id);
  e->seen_version = ev->version;
  if (atomic_load(&e->fail)) return YW_EINTERNAL;
  /* the payload must be the message appended */
  ProtobufCMessage *msg = NULL;
  if (strcmp(ev->type, "application.submitted") != 0 || ev->version != 1 ||
      yw_event_unpack(ev, &yiwang__events__v1__application_submitted__descriptor, NULL, &msg) != 0)
    return YW_EINVAL;
  Yiwang__Events__V1__ApplicationSubmitted *m = (Yiwang__Events__V1__ApplicationSubmitted *)msg;
  int ok = strcmp(m->application_id, ev->aggregate_key) == 0;
  char seq[16];
  snprintf(seq, sizeof seq, "%d", m->material_count);
  protobuf_c_message_free_unpacked(msg, NULL);
  if (!ok) return YW_EINVAL;
  const char *p[] = {e->tag, ev->id, ev->aggregate_key, seq};
  return yw_pg_query(conn,
                     "INSERT INTO " CONS
                     ".effects (tag, event_id, aggregate_key, seq) "
                     "VALUES ($1, $2, $3, $4::int)",
                     4, p, NULL, NULL);
}

static long long effects(const char *tag) {
  const char *p[] = {tag};
  return scalar("SELECT count(*) FROM " CONS ".effects WHERE tag = $1", 1, p);
}

/* Events with more than one effect. */
static long long effects_twice(const char *tag) {
  const char *p[] = {tag};
  return scalar("SELECT count(*) FROM (SELECT event_id FROM " CONS
                ".effects WHERE tag = $1"
                " GROUP BY event_id HAVING count(*) > 1) x",
                1, p);
}

static yw_events_consumer_config consumer_cfg(const char *stream, const char *group,
                                              const char *name, struct effect *e) {
  yw_events_consumer_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.stream = stream;
  cfg.group = group;
  cfg.consumer = name;
  cfg.schema = CONS;
  cfg.handler = effect_handler;
  cfg.handler_arg = e;
  cfg.block_ms = 50;
  cfg.retry_base_ms = 50;
  cfg.retry_max_ms = 400;
  return cfg;
}

/* Polls until the group has nothing pending or undelivered (and polls at least once). */
static void consume_all(yw_events_consumer *c) {
  long long until = now_ms() + 20000;
  for (;;) {
    int rc = yw_events_consumer_poll(c);
    if (rc < 0) fprintf(stderr, "poll: %d\n", rc);
    assert_true(rc >= 0);
    yw_events_lag lag;
    assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
    if (lag.pending == 0 && lag.lag == 0) return;
    assert_true(now_ms() < until);
  }
}

/* ---- setup ---- */

static int setup(void **state) {
  (void)state;
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  const char *d = strstr(dsn, "dbname=");
  snprintf(dbname, sizeof dbname, "%s", d != NULL ? d + 7 : "test");
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 12, &pool, &err) != 0) {
    fprintf(stderr, "pool: %s\n", err.message);
    return -1;
  }
  redis_addr = getenv("YW_TEST_REDIS_ADDR");
  if (redis_addr == NULL || yw_redis_open(redis_addr, 2000, 8, &redis) != 0) {
    fprintf(stderr, "YW_TEST_REDIS_ADDR: no Redis (run with ./dev test)\n");
    return -1;
  }
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  int rc = c != NULL ? yw_events_migrate(c, CONS, &err) : -1;
  if (rc == 0)
    rc = yw_pg_query(c,
                     "CREATE TABLE " CONS
                     ".effects (tag text NOT NULL, event_id text NOT NULL,"
                     " aggregate_key text NOT NULL, seq int NOT NULL)",
                     0, NULL, NULL, &err);
  /* a second run of the events migration is a no-op */
  if (rc == 0) rc = yw_events_migrate(c, CONS, &err);
  yw_pg_pool_release(pool, c);
  if (rc != 0) {
    fprintf(stderr, "setup: %s\n", err.message);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  yw_redis_free(redis);
  yw_pg_pool_free(pool);
  yw_testdb_drop();
  return 0;
}

/* An event may be a transaction's first statement when its BEGIN is deferred
 * (yw_service_tx, yw_idem's run_plain): nothing has reached the server yet, but the
 * session is inside the transaction. */
static void test_append_first_after_a_deferred_begin(void **state) {
  (void)state;
  migrate("p_basic");
  PGconn *c = db();
  Yiwang__Events__V1__ApplicationSubmitted m = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;

  yw_pg_error err;
  memset(&err, 0, sizeof err);
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  int rc = yw_events_append(c, "p_basic", "application.submitted", 1, "a", &m.base, NULL, &err);
  yw_pg_rollback(c);
  yw_pg_pool_release(pool, c);
  assert_int_equal(rc, 0);
}

/* ---- tests ---- */

static void test_append_rolled_back_leaves_nothing_and_committed_is_relayed_once(void **state) {
  (void)state;
  migrate("p_basic");
  char stream[256];
  stream_for("basic", stream, sizeof stream);
  yw_events_relay_config cfg = relay_cfg("p_basic", stream);

  /* refused: outside a transaction, bad type, bad schema, bad key */
  PGconn *c = db();
  Yiwang__Events__V1__ApplicationSubmitted m = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  yw_pg_error err;
  assert_int_equal(
      yw_events_append(c, "p_basic", "application.submitted", 1, "a", &m.base, NULL, &err),
      YW_EINVAL);
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(yw_events_append(c, "p_basic", "Application", 1, "a", &m.base, NULL, &err),
                   YW_EINVAL);
  assert_int_equal(yw_events_append(c, "p_basic; DROP", "a.b", 1, "a", &m.base, NULL, &err),
                   YW_EINVAL);
  assert_int_equal(yw_events_append(c, "p_basic", "a.b", 1, "", &m.base, NULL, &err), YW_EINVAL);
  assert_int_equal(yw_events_append(c, "p_basic", "a.b", 0, "a", &m.base, NULL, &err), YW_EINVAL);
  yw_pg_rollback(c);
  yw_pg_pool_release(pool, c);
  c = db();
  assert_int_equal(yw_events_migrate(c, "Bad-Schema", &err), YW_EINVAL);
  yw_pg_pool_release(pool, c);

  /* rolled back: no row, nothing to publish */
  append_one("p_basic", "app-1", 1, 0, NULL);
  assert_int_equal(scalar("SELECT count(*) FROM p_basic.outbox", 0, NULL), 0);
  assert_int_equal(yw_events_relay_run_once(pool, redis, &cfg, 5000, &err), 0);
  assert_int_equal(xlen(stream), 0);

  /* committed: one row, published once */
  char id[YW_EVENTS_ID_MAX];
  append_one("p_basic", "app-1", 7, 1, id);
  long long rows, oldest;
  assert_int_equal(yw_events_outbox_backlog(pool, "p_basic", 2000, &rows, &oldest), 0);
  assert_int_equal(rows, 1);
  assert_int_equal(yw_events_relay_run_once(pool, redis, &cfg, 5000, &err), 1);
  assert_int_equal(yw_events_relay_run_once(pool, redis, &cfg, 5000, &err), 0);
  assert_int_equal(xlen(stream), 1);
  assert_int_equal(yw_events_outbox_backlog(pool, "p_basic", 2000, &rows, &oldest), 0);
  assert_int_equal(rows, 0);
  assert_int_equal(
      scalar("SELECT count(*) FROM p_basic.outbox WHERE published_at IS NOT NULL", 0, NULL), 1);

  redisReply *r = xrange(stream);
  assert_int_equal(r->elements, 1);
  const redisReply *e = r->element[0];
  assert_string_equal(entry_field(e, "id")->str, id);
  assert_string_equal(entry_field(e, "type")->str, "application.submitted");
  assert_string_equal(entry_field(e, "version")->str, "1");
  assert_string_equal(entry_field(e, "key")->str, "app-1");
  assert_true(strtoll(entry_field(e, "occurred_at")->str, NULL, 10) > 1600000000000LL);
  /* seq: the outbox row's id, what a consumer orders a key's events by */
  assert_int_equal(strtoll(entry_field(e, "seq")->str, NULL, 10),
                   scalar("SELECT id FROM p_basic.outbox", 0, NULL));
  const redisReply *pl = entry_field(e, "payload");
  Yiwang__Events__V1__ApplicationSubmitted *got =
      yiwang__events__v1__application_submitted__unpack(NULL, pl->len, (const uint8_t *)pl->str);
  assert_non_null(got);
  assert_string_equal(got->application_id, "app-1");
  assert_int_equal(got->material_count, 7);
  assert_int_equal(got->submitted_at_unix_ms, 1700000000007LL);
  yiwang__events__v1__application_submitted__free_unpacked(got, NULL);
  freeReplyObject(r);

  /* the default stream name carries the schema as its hash tag */
  char name[64];
  assert_int_equal(yw_events_stream_name("p_basic", name, sizeof name), 0);
  assert_string_equal(name, "yw:events:{p_basic}");
  drop_streams(stream);
}

/* ---- 1,000 events, 10 keys, 4 writers, 2 relays ---- */

#define KEYS 10
#define WRITERS 4
#define PER_WRITER 250

static void *writer_main(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
  int written = 0;
  while (written < PER_WRITER) {
    PGconn *c = yw_pg_pool_acquire(pool, 5000);
    if (c == NULL) return (void *)1;
    yw_pg_set_deadline(c, 10000);
    yw_pg_error err;
    int k1 = (int)(rand_r(&seed) % KEYS), k2 = (int)(rand_r(&seed) % KEYS);
    /* a quarter of the transactions append for two keys, in key order (no deadlock) */
    int two = written + 1 < PER_WRITER && rand_r(&seed) % 4 == 0 && k1 != k2;
    if (two && k2 < k1) {
      int t = k1;
      k1 = k2;
      k2 = t;
    }
    char key1[16], key2[16];
    snprintf(key1, sizeof key1, "app-%d", k1);
    snprintf(key2, sizeof key2, "app-%d", k2);
    Yiwang__Events__V1__ApplicationSubmitted m = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
    m.material_count = written;
    int rc = yw_pg_begin(c, &err);
    m.application_id = key1;
    if (rc == 0)
      rc = yw_events_append(c, "p_order", "application.submitted", 1, key1, &m.base, NULL, &err);
    m.application_id = key2;
    if (rc == 0 && two)
      rc = yw_events_append(c, "p_order", "application.submitted", 1, key2, &m.base, NULL, &err);
    if (rc == 0) rc = yw_pg_commit(c, &err);
    if (rc != 0) {
      yw_pg_rollback(c);
      fprintf(stderr, "writer: %s\n", err.message);
    } else {
      written += two ? 2 : 1;
    }
    yw_pg_pool_release(pool, c);
  }
  return NULL;
}

static void test_two_relays_keep_order_per_key_over_1000_events_without_loss(void **state) {
  (void)state;
  migrate("p_order");
  char stream[256];
  stream_for("order", stream, sizeof stream);
  yw_events_relay_config cfg = relay_cfg("p_order", stream);
  cfg.interval_ms = 5;
  cfg.batch = 20;
  yw_events_relay *r1, *r2;
  cfg.listen = 1;
  assert_int_equal(yw_events_relay_start(pool, redis, &cfg, &r1), 0);
  cfg.listen = 0;
  assert_int_equal(yw_events_relay_start(pool, redis, &cfg, &r2), 0);

  pthread_t w[WRITERS];
  for (uintptr_t i = 0; i < WRITERS; i++)
    assert_int_equal(pthread_create(&w[i], NULL, writer_main, (void *)i), 0);
  for (int i = 0; i < WRITERS; i++) {
    void *ret = NULL;
    pthread_join(w[i], &ret);
    assert_null(ret);
  }
  long long until = now_ms() + 30000, rows = 1, oldest;
  while (rows > 0) {
    assert_true(now_ms() < until);
    sleep_ms(20);
    assert_int_equal(yw_events_outbox_backlog(pool, "p_order", 2000, &rows, &oldest), 0);
  }
  yw_events_relay_stats s1, s2;
  yw_events_relay_stats_get(r1, &s1);
  yw_events_relay_stats_get(r2, &s2);
  yw_events_relay_stop(r1);
  yw_events_relay_stop(r2);
  if (s1.failures + s2.failures > 0)
    fprintf(stderr, "relay failures: %s / %s\n", s1.last_message, s2.last_message);
  assert_int_equal(s1.published + s2.published, WRITERS * PER_WRITER);
  /* both took part */
  assert_true(s1.published > 0 && s2.published > 0);

  /* the outbox order of each key */
  PGconn *c = db();
  PGresult *res = NULL;
  assert_int_equal(yw_pg_query(c,
                               "SELECT aggregate_key, event_id::text FROM p_order.outbox "
                               "ORDER BY aggregate_key, id",
                               0, NULL, &res, NULL),
                   0);
  yw_pg_pool_release(pool, c);
  int total = PQntuples(res);
  assert_int_equal(total, WRITERS * PER_WRITER);
  int first[KEYS + 1] = {0}; /* rows of key k are first[k] .. first[k+1]-1 */
  for (int i = 0, k = 0; k <= KEYS; k++) {
    first[k] = i;
    char key[16];
    snprintf(key, sizeof key, "app-%d", k);
    while (k < KEYS && i < total && strcmp(PQgetvalue(res, i, 0), key) == 0) i++;
  }
  assert_int_equal(first[KEYS], total);

  /* the stream: every event once, each key in outbox order */
  redisReply *r = xrange(stream);
  assert_int_equal(r->elements, (size_t)total);
  int next[KEYS];
  memcpy(next, first, sizeof next);
  for (size_t i = 0; i < r->elements; i++) {
    const char *key = entry_field(r->element[i], "key")->str;
    const char *id = entry_field(r->element[i], "id")->str;
    assert_true(strlen(key) == 5 && strncmp(key, "app-", 4) == 0);
    int k = key[4] - '0';
    assert_true(k >= 0 && k < KEYS);
    /* the next event of this key in outbox order, and never one seen before */
    assert_true(next[k] < first[k + 1]);
    assert_string_equal(id, PQgetvalue(res, next[k], 1));
    next[k]++;
  }
  for (int k = 0; k < KEYS; k++) assert_int_equal(next[k], first[k + 1]);
  freeReplyObject(r);
  PQclear(res);
  drop_streams(stream);
}

/* ---- the relay stopped between XADD and the mark ---- */

struct stop_after {
  int n; /* the hook fires at the n-th call */
  int seen;
  int kill; /* 1: SIGKILL the process instead of returning */
};

static int relay_hook(void *arg, const char *event_id) {
  (void)event_id;
  struct stop_after *s = arg;
  if (++s->seen < s->n) return 0;
  if (s->kill) raise(SIGKILL);
  return 1;
}

/* Entries of stream whose id is id. */
static int count_id(const char *stream, const char *id) {
  redisReply *r = xrange(stream);
  int n = 0;
  for (size_t i = 0; i < r->elements; i++)
    if (strcmp(entry_field(r->element[i], "id")->str, id) == 0) n++;
  freeReplyObject(r);
  return n;
}

static void check_consumed_once(const char *stream, const char *tag, long long events,
                                long long duplicates) {
  struct effect e = {.tag = tag};
  char group[64];
  snprintf(group, sizeof group, "g-%s", tag);
  yw_events_consumer_config cfg = consumer_cfg(stream, group, "c1", &e);
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  consume_all(c);
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(c, &st);
  yw_events_consumer_free(c);
  assert_int_equal(effects(tag), events);
  assert_int_equal(effects_twice(tag), 0);
  assert_int_equal(st.handled, events);
  assert_int_equal(st.duplicates, duplicates);
}

static void test_relay_stopped_between_publish_and_mark_publishes_again_effect_once(void **state) {
  (void)state;
  migrate("p_stop");
  char stream[256];
  stream_for("stop", stream, sizeof stream);
  char ids[3][YW_EVENTS_ID_MAX];
  append_one("p_stop", "app-1", 1, 1, ids[0]);
  append_one("p_stop", "app-1", 2, 1, ids[1]);
  append_one("p_stop", "app-2", 3, 1, ids[2]);

  yw_events_relay_config cfg = relay_cfg("p_stop", stream);
  struct stop_after s = {.n = 1};
  cfg.after_publish = relay_hook;
  cfg.hook_arg = &s;
  yw_pg_error err;
  assert_int_equal(yw_events_relay_run_once(pool, redis, &cfg, 5000, &err), YW_ECANCELED);
  assert_int_equal(xlen(stream), 1); /* XADDed ... */
  long long rows, oldest;
  assert_int_equal(yw_events_outbox_backlog(pool, "p_stop", 2000, &rows, &oldest), 0);
  assert_int_equal(rows, 3); /* ... and not marked */

  cfg.after_publish = NULL;
  assert_int_equal(relay_drain(&cfg), 3);
  assert_int_equal(xlen(stream), 4);
  assert_int_equal(count_id(stream, ids[0]), 2); /* at least once: here twice */
  assert_int_equal(count_id(stream, ids[1]), 1);
  assert_int_equal(count_id(stream, ids[2]), 1);
  check_consumed_once(stream, "stop", 3, 1);
  drop_streams(stream);
}

static void test_relay_killed_between_publish_and_mark_publishes_again_effect_once(void **state) {
  (void)state;
  migrate("p_kill");
  char stream[256];
  stream_for("kill", stream, sizeof stream);
  char ids[3][YW_EVENTS_ID_MAX];
  append_one("p_kill", "app-1", 1, 1, ids[0]);
  append_one("p_kill", "app-2", 2, 1, ids[1]);
  append_one("p_kill", "app-1", 3, 1, ids[2]);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* a relay process of its own, killed by SIGKILL right after its second XADD */
    yw_pg_pool *p = NULL;
    yw_redis *r = NULL;
    yw_pg_error err;
    if (yw_pg_pool_new(dsn, 1, &p, &err) != 0 || yw_redis_open(redis_addr, 2000, 1, &r) != 0)
      _exit(2);
    yw_events_relay_config cfg = relay_cfg("p_kill", stream);
    struct stop_after s = {.n = 2, .kill = 1};
    cfg.after_publish = relay_hook;
    cfg.hook_arg = &s;
    yw_events_relay_run_once(p, r, &cfg, 5000, &err);
    _exit(3);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(xlen(stream), 2);

  yw_events_relay_config cfg = relay_cfg("p_kill", stream);
  assert_int_equal(relay_drain(&cfg), 3); /* once the server has ended the dead session */
  assert_int_equal(xlen(stream), 5);
  assert_int_equal(count_id(stream, ids[0]), 2);
  assert_int_equal(count_id(stream, ids[1]), 2);
  assert_int_equal(count_id(stream, ids[2]), 1);
  check_consumed_once(stream, "kill", 3, 2);
  drop_streams(stream);
}

/* ---- consumers ---- */

/* XADDs an event as the relay would. */
static void xadd_event(const char *stream, const char *id, const char *key, int seq) {
  Yiwang__Events__V1__ApplicationSubmitted m = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  m.application_id = (char *)key;
  m.material_count = seq;
  uint8_t buf[256];
  size_t n = yiwang__events__v1__application_submitted__pack(&m, buf);
  const char *argv[] = {"XADD",
                        stream,
                        "*",
                        "id",
                        id,
                        "type",
                        "application.submitted",
                        "version",
                        "1",
                        "key",
                        key,
                        "occurred_at",
                        "1700000000000",
                        "payload",
                        (const char *)buf};
  size_t lens[15];
  for (int i = 0; i < 14; i++) lens[i] = strlen(argv[i]);
  lens[14] = n;
  redisReply *r = redis_do(15, argv, lens);
  assert_non_null(r);
  freeReplyObject(r);
}

static void test_duplicates_in_the_stream_have_one_effect(void **state) {
  (void)state;
  char stream[256];
  stream_for("dup", stream, sizeof stream);
  for (int i = 0; i < 3; i++) xadd_event(stream, "dup-event-1", "app-d", 1);
  xadd_event(stream, "dup-event-2", "app-d", 2);
  check_consumed_once(stream, "dup", 2, 2);

  /* a replay of an event already processed: no effect */
  xadd_event(stream, "dup-event-1", "app-d", 1);
  struct effect e = {.tag = "dup"};
  yw_events_consumer_config cfg = consumer_cfg(stream, "g-dup", "c1", &e);
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  consume_all(c);
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(c, &st);
  yw_events_consumer_free(c);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.handled, 0);
  assert_int_equal(effects("dup"), 2);

  /* another group is another consumer: it has its own effects */
  check_consumed_once(stream, "dup_other", 2, 3);
  drop_streams(stream);
}

/* fails for events of key "app-p" only, remembering each attempt */
struct poison {
  struct effect e;
  atomic_int calls;
  long long at[16];
  int deliveries[16];
};

static int poison_handler(PGconn *conn, const yw_event *ev, void *arg) {
  struct poison *p = arg;
  if (strcmp(ev->aggregate_key, "app-p") != 0) return effect_handler(conn, ev, &p->e);
  int n = atomic_fetch_add(&p->calls, 1);
  if (n < 16) {
    p->at[n] = now_ms();
    p->deliveries[n] = ev->deliveries;
  }
  return YW_EINTERNAL;
}

static void test_failing_handler_backs_off_then_dead_letters_after_n_and_acks(void **state) {
  (void)state;
  char stream[256];
  stream_for("dead", stream, sizeof stream);
  xadd_event(stream, "poison-1", "app-p", 1);
  xadd_event(stream, "good-1", "app-g", 2);
  redisReply *orig = xrange(stream);
  char poison_entry[64];
  snprintf(poison_entry, sizeof poison_entry, "%s", orig->element[0]->element[0]->str);
  freeReplyObject(orig);

  struct poison p = {.e = {.tag = "dead"}};
  yw_events_consumer_config cfg = consumer_cfg(stream, "g-dead", "c1", &p.e);
  cfg.handler = poison_handler;
  cfg.handler_arg = &p;
  cfg.max_deliveries = 3;
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  yw_events_consumer_stats st;
  long long until = now_ms() + 10000;
  do {
    assert_true(yw_events_consumer_poll(c) >= 0);
    yw_events_consumer_stats_get(c, &st);
    assert_true(now_ms() < until);
  } while (st.dead_lettered == 0);
  for (int i = 0; i < 5; i++) assert_true(yw_events_consumer_poll(c) >= 0); /* nothing more */

  assert_int_equal(atomic_load(&p.calls), 3);
  assert_int_equal(st.failures, 3);
  for (int i = 0; i < 3; i++) assert_int_equal(p.deliveries[i], i + 1);
  /* back-off: 50 ms before the second try, 100 ms before the third */
  assert_true(p.at[1] - p.at[0] >= 40);
  assert_true(p.at[2] - p.at[1] >= 90);
  assert_int_equal(effects("dead"), 1); /* the good event behind it went through */

  char dead[300];
  snprintf(dead, sizeof dead, "%s:dead", stream);
  redisReply *r = xrange(dead);
  assert_int_equal(r->elements, 1);
  const redisReply *e = r->element[0];
  assert_string_equal(entry_field(e, "id")->str, "poison-1");
  assert_string_equal(entry_field(e, "key")->str, "app-p");
  assert_string_equal(entry_field(e, "deliveries")->str, "3");
  assert_string_equal(entry_field(e, "group")->str, "g-dead");
  assert_string_equal(entry_field(e, "entry_id")->str, poison_entry);
  assert_non_null(strstr(entry_field(e, "error")->str, "handler failed"));
  assert_non_null(entry_field(e, "payload"));
  freeReplyObject(r);

  yw_events_lag lag;
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
  assert_int_equal(lag.pending, 0); /* acknowledged */
  assert_int_equal(lag.lag, 0);
  assert_int_equal(lag.dead, 1);
  yw_events_consumer_free(c);
  /* the poison was never recorded as processed */
  const char *pp[] = {"g-dead", "poison-1"};
  assert_int_equal(scalar("SELECT count(*) FROM " CONS ".processed_events"
                          " WHERE consumer = $1 AND event_id = $2",
                          2, pp),
                   0);
  drop_streams(stream);
}

static void test_database_outage_before_the_handler_is_not_a_delivery(void **state) {
  (void)state;
  char stream[256];
  stream_for("outage", stream, sizeof stream);
  xadd_event(stream, "outage-1", "app-o", 1);
  yw_pg_pool *small;
  yw_pg_error err;
  assert_int_equal(yw_pg_pool_new(dsn, 1, &small, &err), 0);
  struct poison p = {.e = {.tag = "outage"}};
  yw_events_consumer_config cfg = consumer_cfg(stream, "g-outage", "c1", &p.e);
  cfg.db_wait_ms = 50;
  cfg.max_deliveries = 2;
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(small, redis, &cfg, &c), 0);

  PGconn *held = yw_pg_pool_acquire(small, 1000); /* the database is "down" for c */
  assert_non_null(held);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(yw_events_consumer_poll(c), YW_EUNAVAIL);
    sleep_ms(60);
  }
  const char *argv[] = {"XPENDING", stream, "g-outage", "-", "+", "10"};
  redisReply *r = redis_do(6, argv, NULL);
  assert_non_null(r);
  assert_int_equal(r->elements, 1);
  assert_int_equal(r->element[0]->element[3]->integer, 0); /* deliveries given back */
  freeReplyObject(r);
  yw_pg_pool_release(small, held);

  consume_all(c);
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(c, &st);
  assert_int_equal(st.handled, 1);
  assert_int_equal(st.dead_lettered, 0);
  assert_string_equal(p.e.seen_id, "outage-1");
  assert_int_equal(p.e.seen_deliveries[0], 1); /* its first delivery that reached it */
  assert_int_equal(effects("outage"), 1);
  yw_events_consumer_free(c);
  yw_pg_pool_free(small);
  drop_streams(stream);
}

struct crash_after {
  int n; /* the hook fires after the n-th commit */
  int seen;
  int kill;
};

static int consumer_hook(void *arg, const yw_event *ev) {
  (void)ev;
  struct crash_after *s = arg;
  if (++s->seen < s->n) return 0;
  if (s->kill) raise(SIGKILL);
  return 1;
}

static void test_consumer_stopped_mid_batch_is_finished_by_its_restart_once(void **state) {
  (void)state;
  char stream[256];
  stream_for("restart", stream, sizeof stream);
  for (int i = 0; i < 10; i++) {
    char id[32];
    snprintf(id, sizeof id, "restart-%d", i);
    xadd_event(stream, id, "app-r", i);
  }
  struct effect e = {.tag = "restart"};
  yw_events_consumer_config cfg = consumer_cfg(stream, "g-restart", "c1", &e);
  cfg.batch = 10;
  struct crash_after s = {.n = 4};
  cfg.after_commit = consumer_hook;
  cfg.hook_arg = &s;
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  assert_int_equal(yw_events_consumer_poll(c), YW_ECANCELED);
  yw_events_lag lag;
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
  assert_int_equal(lag.pending, 7); /* 3 acknowledged; the 4th committed, not acknowledged */
  assert_int_equal(lag.lag, 0);
  assert_int_equal(effects("restart"), 4);
  yw_events_consumer_free(c);

  /* the same name again, as after a restart: takes its leftovers at once */
  cfg.after_commit = NULL;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  assert_int_equal(yw_events_consumer_poll(c), 7);
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(c, &st);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.handled, 6);
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
  assert_int_equal(lag.pending, 0);
  yw_events_consumer_free(c);
  assert_int_equal(effects("restart"), 10);
  assert_int_equal(effects_twice("restart"), 0);
  drop_streams(stream);
}

static void test_consumer_killed_mid_batch_is_finished_by_another_copy_once(void **state) {
  (void)state;
  char stream[256];
  stream_for("killc", stream, sizeof stream);
  for (int i = 0; i < 10; i++) {
    char id[32];
    snprintf(id, sizeof id, "killc-%d", i);
    xadd_event(stream, id, "app-k", i);
  }
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    yw_pg_pool *p = NULL;
    yw_redis *r = NULL;
    yw_pg_error err;
    if (yw_pg_pool_new(dsn, 1, &p, &err) != 0 || yw_redis_open(redis_addr, 2000, 1, &r) != 0)
      _exit(2);
    struct effect e = {.tag = "killc"};
    yw_events_consumer_config cfg = consumer_cfg(stream, "g-killc", "c1", &e);
    cfg.batch = 10;
    struct crash_after s = {.n = 3, .kill = 1};
    cfg.after_commit = consumer_hook;
    cfg.hook_arg = &s;
    yw_events_consumer *c;
    if (yw_events_consumer_new(p, r, &cfg, &c) != 0) _exit(4);
    yw_events_consumer_poll(c);
    _exit(3);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(effects("killc"), 3);

  /* another copy of the group claims what c1 left once it has been idle 50 ms */
  struct effect e = {.tag = "killc"};
  yw_events_consumer_config cfg = consumer_cfg(stream, "g-killc", "c2", &e);
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  consume_all(c);
  yw_events_consumer_stats st;
  yw_events_consumer_stats_get(c, &st);
  yw_events_consumer_free(c);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.handled, 7);
  assert_int_equal(effects("killc"), 10);
  assert_int_equal(effects_twice("killc"), 0);
  drop_streams(stream);
}

static void test_lag_and_pending_before_and_after_and_their_metrics(void **state) {
  (void)state;
  char stream[256];
  stream_for("lag", stream, sizeof stream);
  for (int i = 0; i < 5; i++) {
    char id[32];
    snprintf(id, sizeof id, "lag-%d", i);
    xadd_event(stream, id, "app-l", i);
  }
  struct effect e = {.tag = "lag"};
  yw_events_consumer_config cfg = consumer_cfg(stream, "g-lag", "c1", &e);
  cfg.batch = 2;
  yw_events_consumer *c;
  assert_int_equal(yw_events_consumer_new(pool, redis, &cfg, &c), 0);
  yw_events_lag lag;
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), YW_ENOTFOUND); /* no group yet */

  assert_int_equal(yw_events_consumer_poll(c), 2);
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
  assert_int_equal(lag.pending, 0);
  assert_int_equal(lag.lag, 3);
  assert_int_equal(lag.dead, 0);

  atomic_store(&e.fail, 1);
  assert_int_equal(yw_events_consumer_poll(c), 0);
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
  assert_int_equal(lag.pending, 2);
  assert_int_equal(lag.lag, 1);

  atomic_store(&e.fail, 0);
  consume_all(c);
  assert_int_equal(yw_events_consumer_lag(c, 2000, &lag), 0);
  assert_int_equal(lag.pending, 0);
  assert_int_equal(lag.lag, 0);
  assert_int_equal(effects("lag"), 5);

  char text[4096], want[512];
  int n = yw_events_consumer_metrics(c, 2000, text, sizeof text);
  assert_true(n > 0 && (size_t)n == strlen(text));
  snprintf(want, sizeof want, "yw_events_consumer_lag{stream=\"%s\",group=\"g-lag\"} 0\n", stream);
  assert_non_null(strstr(text, want));
  snprintf(want, sizeof want, "yw_events_consumer_pending{stream=\"%s\",group=\"g-lag\"} 0\n",
           stream);
  assert_non_null(strstr(text, want));
  snprintf(want, sizeof want, "yw_events_consumer_handled_total{stream=\"%s\",group=\"g-lag\"} 5\n",
           stream);
  assert_non_null(strstr(text, want));
  snprintf(want, sizeof want,
           "yw_events_consumer_failures_total{stream=\"%s\",group=\"g-lag\"} 2\n", stream);
  assert_non_null(strstr(text, want));
  assert_non_null(strstr(text, "# TYPE yw_events_consumer_lag gauge\n"));
  assert_int_equal(yw_events_consumer_metrics(c, 2000, text, 100), YW_ETOOBIG);
  yw_events_consumer_free(c);
  drop_streams(stream);
}

static void test_relay_thread_wakes_on_notify(void **state) {
  (void)state;
  char stream[256];
  yw_events_relay *r = start_listening_relay("p_listen", "listen", 0, stream, sizeof stream, NULL);
  long long t0 = now_ms();
  append_one("p_listen", "app-n", 1, 1, NULL);
  /* The relay's interval is a minute: a third of it on a loaded machine still tells a
   * wake-up (or a stop) from a run that waited its interval out. */
  while (xlen(stream) == 0) {
    assert_true(now_ms() - t0 < 20000);
    sleep_ms(10);
  }
  t0 = now_ms();
  yw_events_relay_stop(r);
  assert_true(now_ms() - t0 < 20000); /* stops without waiting out its interval */
  drop_streams(stream);
}

static void test_relay_coalesces_appends_committed_close_together(void **state) {
  (void)state;
  char stream[256];
  long long runs0;
  /* runs begin at least 1.5 s apart unless a batch was full */
  yw_events_relay *r = start_listening_relay("p_coalesce", "coalesce", 1500, stream, sizeof stream, &runs0);
  yw_events_relay_stats st;
  long long t0 = now_ms();
  for (int i = 0; i < 20; i++) append_one("p_coalesce", "app-c", i + 1, 1, NULL); /* 20 commits, 20 NOTIFYs */
  while (xlen(stream) < 20) {
    assert_true(now_ms() - t0 < 15000);
    sleep_ms(10);
  }
  long long elapsed = now_ms() - t0;
  yw_events_relay_stats_get(r, &st);
  assert_int_equal(xlen(stream), 20);
  /* every event published, by runs at most one per 1.5 s (one may have been under way) */
  assert_true(st.runs - runs0 <= elapsed / 1500 + 2);
  assert_true(st.runs - runs0 < 20);
  yw_events_relay_stop(r);
  drop_streams(stream);
}

static void test_prune_removes_old_published_rows_and_processed_records(void **state) {
  (void)state;
  /* p_basic has one published row; a new one stays unpublished */
  append_one("p_basic", "app-9", 9, 1, NULL);
  sleep_ms(20);
  assert_int_equal(yw_events_outbox_prune(pool, "p_basic", 0, 100, 2000), 1);
  assert_int_equal(scalar("SELECT count(*) FROM p_basic.outbox", 0, NULL), 1);
  assert_int_equal(yw_events_outbox_prune(pool, "p_basic", 0, 100, 2000), 0);
  assert_int_equal(yw_events_outbox_prune(pool, "p_basic; x", 0, 100, 2000), YW_EINVAL);

  const char *g[] = {"g-dup"};
  long long before =
      scalar("SELECT count(*) FROM " CONS ".processed_events WHERE consumer = $1", 1, g);
  assert_int_equal(before, 2);
  assert_int_equal(yw_events_processed_prune(pool, CONS, "g-dup", 3600, 100, 2000), 0);
  assert_int_equal(yw_events_processed_prune(pool, CONS, "g-dup", 0, 100, 2000), 2);
  assert_int_equal(
      scalar("SELECT count(*) FROM " CONS ".processed_events WHERE consumer = $1", 1, g), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_first_after_a_deferred_begin),
      cmocka_unit_test(test_append_rolled_back_leaves_nothing_and_committed_is_relayed_once),
      cmocka_unit_test(test_two_relays_keep_order_per_key_over_1000_events_without_loss),
      cmocka_unit_test(test_relay_stopped_between_publish_and_mark_publishes_again_effect_once),
      cmocka_unit_test(test_relay_killed_between_publish_and_mark_publishes_again_effect_once),
      cmocka_unit_test(test_duplicates_in_the_stream_have_one_effect),
      cmocka_unit_test(test_failing_handler_backs_off_then_dead_letters_after_n_and_acks),
      cmocka_unit_test(test_database_outage_before_the_handler_is_not_a_delivery),
      cmocka_unit_test(test_consumer_stopped_mid_batch_is_finished_by_its_restart_once),
      cmocka_unit_test(test_consumer_killed_mid_batch_is_finished_by_another_copy_once),
      cmocka_unit_test(test_lag_and_pending_before_and_after_and_their_metrics),
      cmocka_unit_test(test_relay_thread_wakes_on_notify),
      cmocka_unit_test(test_relay_coalesces_appends_committed_close_together),
      cmocka_unit_test(test_prune_removes_old_published_rows_and_processed_records),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
