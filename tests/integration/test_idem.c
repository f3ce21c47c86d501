/*
 * test_idem.c - idempotent writes (lib/yw_idem) on the real runtime, a real PostgreSQL
 * and a real Redis: a small ledger service (tests/proto/yiwang/test/v1/idem.proto) runs
 * in this process on yw_rpc_server, each Transfer writes one row, and the test calls it
 * over a real gRPC connection with signed callers and idempotency-key metadata, then
 * counts the rows.
 *
 * Proves: the same key and body replays the first answer (trailer idempotent-replayed)
 * and the effect happened once, from Redis and from PostgreSQL; the same key with another
 * body is INVALID_ARGUMENT with reason IDEMPOTENCY_KEY_REUSED (HTTP 422); a second call
 * while the first runs waits for it and gets its answer, or gets ABORTED (409, retry-after)
 * when its wait runs out, and never runs the effect twice; a transient failure keeps no
 * claim and a retry runs; a caller's own error is kept and its effect rolled back;
 * another caller with the same key is independent; with Redis stopped (SIGSTOP) answers
 * come from PostgreSQL within the deadline; the bound of the wait for a claim does not
 * bound the effect's own lock waits; after the TTL (an injected clock) the key
 * runs again and expired rows are purged; keys are checked and may be required.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "yiwang/test/v1/idem.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_idem.h"
#include "yw_log.h"
#include "yw_testdb.h"
#include "yw_testnet.h"
#include "yw_testrpc.h"

#define METHOD "/yiwang.test.v1.LedgerService/Transfer"

static char dsn[512];
static yw_pg_pool *pool;
static yw_redis *redis;
static yw_caller_keys keys;
static yw_idem_opts opts;
static char prefix[128];
static yw_test_rpc rpc; /* the ledger served in this process, and a channel to it */

/* ---- the service -------------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int hold;     /* 1: the next effect waits, after its row, until released */
static int entered;  /* an effect is waiting */
static int released;
static int fail_next; /* a YW_E* code the next effect fails with, after writing its row */
static char seen_lock_timeout[32]; /* lock_timeout as the last effect ran */

static int transfer_fx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm,
                       ProtobufCMessage **out, void *arg) {
  (void)arg;
  const Yiwang__Test__V1__TransferRequest *req = (const void *)reqm;
  char amount[32];
  snprintf(amount, sizeof amount, "%lld", (long long)req->amount);
  const char *p[] = {req->account, amount};
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(conn,
                       "INSERT INTO ledger.entries (account, amount) VALUES ($1, $2::bigint)"
                       " RETURNING id, (SELECT coalesce(sum(amount), 0) FROM ledger.entries"
                       " WHERE account = $1) + $2::bigint",
                       2, p, &r, &err);
  if (rc != 0) return yw_rpc_call_fail(call, rc, "%s", err.message);
  Yiwang__Test__V1__TransferReply *reply =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *reply);
  yiwang__test__v1__transfer_reply__init(reply);
  reply->entry_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  reply->balance = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  PQclear(r);
  r = NULL;
  if (yw_pg_query(conn, "SHOW lock_timeout", 0, NULL, &r, &err) == 0)
    snprintf(seen_lock_timeout, sizeof seen_lock_timeout, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  pthread_mutex_lock(&mu);
  int fail = fail_next;
  fail_next = 0;
  if (hold) {
    hold = 0;
    entered = 1;
    pthread_cond_broadcast(&cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20; /* a bound, never reached when the test releases it */
    while (!released && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&mu);
  if (fail != 0) return yw_rpc_call_fail(call, fail, "injected failure %d", fail);
  *out = &reply->base;
  return 0;
}

static int transfer(yw_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **out,
                    void *data) {
  (void)data;
  return yw_idem_run(call, req, out, pool, &opts, transfer_fx, NULL);
}

static const yw_rpc_method methods[] = {{.name = "Transfer", .fn = transfer}};
static yw_rpc_service svc = {&yiwang__test__v1__ledger_service__descriptor, methods, 1, NULL};

/* ---- the client --------------------------------------------------------------------- */

typedef struct result {
  grpc_status_code status;
  char message[256];
  int64_t entry_id, balance;
  uint8_t data[256];
  size_t len;
  char reason[64];
  int replayed;
  int retry_after;
  /* completion */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
} result;

static void on_done(void *arg, const yw_rpc_result *res) {
  result *out = arg;
  pthread_mutex_lock(&out->mu);
  out->status = res->status;
  snprintf(out->message, sizeof out->message, "%s", res->message != NULL ? res->message : "");
  if (res->status == GRPC_STATUS_OK && res->len <= sizeof out->data) {
    memcpy(out->data, res->data, res->len);
    out->len = res->len;
    Yiwang__Test__V1__TransferReply *m =
        yiwang__test__v1__transfer_reply__unpack(NULL, res->len, res->data);
    if (m != NULL) {
      out->entry_id = m->entry_id;
      out->balance = m->balance;
      yiwang__test__v1__transfer_reply__free_unpacked(m, NULL);
    }
  }
  const grpc_metadata_array *md = res->trailing_md;
  for (size_t i = 0; md != NULL && i < md->count; i++) {
    const grpc_metadata *m = &md->metadata[i];
    size_t kl = GRPC_SLICE_LENGTH(m->key), vl = GRPC_SLICE_LENGTH(m->value);
    const char *k = (const char *)GRPC_SLICE_START_PTR(m->key);
    const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
    if (kl == strlen(YW_REASON_TRAILER) && memcmp(k, YW_REASON_TRAILER, kl) == 0)
      snprintf(out->reason, sizeof out->reason, "%.*s", (int)vl, v);
    if (kl == strlen(YW_IDEM_REPLAYED_TRAILER) && memcmp(k, YW_IDEM_REPLAYED_TRAILER, kl) == 0)
      out->replayed = vl == 4 && memcmp(v, "true", 4) == 0;
    if (kl == 11 && memcmp(k, "retry-after", 11) == 0) out->retry_after = 1;
  }
  out->done = 1;
  pthread_cond_broadcast(&out->cv);
  pthread_mutex_unlock(&out->mu);
}

static yw_caller as;

static void act_as(enum yw_caller_kind kind, const char *subject) {
  memset(&as, 0, sizeof as);
  as.kind = kind;
  snprintf(as.subject, sizeof as.subject, "%s", subject);
  snprintf(as.ip, sizeof as.ip, "10.0.0.7");
}

/* Transfer amount to account with key (NULL: none) as the current caller; waits for the
 * answer (the call's deadline bounds it). */
static void transfer_call(const char *key, const char *account, int64_t amount, result *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_init(&out->mu, NULL);
  pthread_cond_init(&out->cv, NULL);
  Yiwang__Test__V1__TransferRequest req = YIWANG__TEST__V1__TRANSFER_REQUEST__INIT;
  req.account = (char *)account;
  req.amount = amount;
  uint8_t buf[128];
  size_t len = yiwang__test__v1__transfer_request__pack(&req, buf);
  char value[YW_CALLER_VALUE_MAX], sig[65];
  as.ts = (long long)time(NULL);
  assert_int_equal(yw_caller_encode(&as, keys.current, METHOD, "", value, sizeof value, sig), 0);
  yw_rpc_md md[3] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0},
                     {YW_IDEM_METADATA, key, 0}};
  assert_int_equal(yw_rpc_call_start(rpc.channel, METHOD, buf, len, md, key != NULL ? 3 : 2, 5000,
                                     on_done, out),
                   0);
  pthread_mutex_lock(&out->mu);
  while (!out->done) pthread_cond_wait(&out->cv, &out->mu);
  pthread_mutex_unlock(&out->mu);
}

typedef struct bg_call {
  const char *key, *account;
  int64_t amount;
  yw_caller caller;
  result res;
  pthread_t thread;
} bg_call;

static void *bg_run(void *arg) {
  bg_call *b = arg;
  transfer_call(b->key, b->account, b->amount, &b->res);
  return NULL;
}

/* ---- database helpers --------------------------------------------------------------- */

static long long scalar(const char *sql, const char *param) {
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  const char *p[] = {param};
  PGresult *r = NULL;
  int rc = yw_pg_query(c, sql, param != NULL ? 1 : 0, p, &r, NULL);
  long long v = rc == 0 && PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  PQclear(r);
  yw_pg_pool_release(pool, c);
  assert_int_equal(rc, 0);
  return v;
}

static long long entries(const char *account) {
  return scalar("SELECT count(*) FROM ledger.entries WHERE account = $1", account);
}

static long long claims(const char *key) {
  return scalar("SELECT count(*) FROM ledger.idempotency WHERE key = $1", key);
}

/* Waits (bounded) until a backend of this database waits for a lock: the second call is
 * queued behind the first's claim. */
static void wait_for_lock_waiter(void) {
  for (int i = 0; i < 2000; i++) {
    if (scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND wait_event_type = 'Lock'",
               NULL) > 0)
      return;
    usleep(5000);
  }
  fail_msg("no call waited for the claim's lock");
}

static void hold_next(void) {
  pthread_mutex_lock(&mu);
  hold = 1;
  entered = 0;
  released = 0;
  pthread_mutex_unlock(&mu);
}

static void wait_entered(void) {
  pthread_mutex_lock(&mu);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  while (!entered && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
  }
  int ok = entered;
  pthread_mutex_unlock(&mu);
  assert_true(ok);
}

static void release_held(void) {
  pthread_mutex_lock(&mu);
  released = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* ---- setup -------------------------------------------------------------------------- */

static const struct yw_embedded_file ledger_migrations[] = {
    {"001_ledger.sql", "CREATE TABLE ledger.entries (id bigserial PRIMARY KEY,"
                       " account text NOT NULL, amount bigint NOT NULL);"},
};

static void opts_default(void) {
  memset(&opts, 0, sizeof opts);
  opts.schema = "ledger";
  opts.keys = &keys;
  opts.response = &yiwang__test__v1__transfer_reply__descriptor;
  opts.redis = redis;
  opts.redis_prefix = prefix;
}

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 8, &pool, &err) != 0) {
    fprintf(stderr, "pool: %s\n", err.message);
    return -1;
  }
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  int rc = yw_pg_migrate(c, "ledger", ledger_migrations, 1, &err);
  if (rc == 0) rc = yw_idem_migrate(c, "ledger", &err);
  if (rc == 0) rc = yw_idem_migrate(c, "ledger", &err); /* once only: recorded */
  yw_pg_pool_release(pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  if (yw_test_redis_open(500, 4, &redis) != 0) return -1;
  const char *db = strstr(dsn, "dbname=");
  snprintf(prefix, sizeof prefix, "%s", db != NULL ? db + 7 : "test");
  uint8_t k[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof k; i++) k[i] = (uint8_t)(i * 5 + 3);
  if (yw_caller_keys_init(&keys, k, NULL, 30) != 0) return -1;
  opts_default();
  return yw_test_rpc_start(&svc, 4, 2, &rpc);
}

static int teardown(void **state) {
  (void)state;
  yw_test_rpc_stop(&rpc);
  yw_redis_free(redis);
  yw_pg_pool_free(pool);
  yw_testdb_drop();
  return 0;
}

static int reset(void **state) {
  (void)state;
  opts_default();
  act_as(YW_CALLER_PERSON, "p-alice");
  return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void key_rule(void **state) {
  (void)state;
  char long_key[300];
  memset(long_key, 'k', sizeof long_key);
  long_key[255] = '\0';
  assert_true(yw_idem_key_valid(long_key));
  long_key[255] = 'k';
  long_key[256] = '\0';
  assert_false(yw_idem_key_valid(long_key));
  assert_true(yw_idem_key_valid("a"));
  assert_true(yw_idem_key_valid("550e8400-e29b-41d4-a716-446655440000"));
  assert_true(yw_idem_key_valid("with inner space"));
  assert_false(yw_idem_key_valid(""));
  assert_false(yw_idem_key_valid(NULL));
  assert_false(yw_idem_key_valid(" lead"));
  assert_false(yw_idem_key_valid("trail "));
  assert_false(yw_idem_key_valid("tab\there"));
  assert_false(yw_idem_key_valid("caf\xc3\xa9"));
}

static void same_key_same_body_replays_and_runs_once(void **state) {
  (void)state;
  result a, b, c;
  transfer_call("k-replay", "acc-replay", 100, &a);
  assert_int_equal(a.status, GRPC_STATUS_OK);
  assert_false(a.replayed);
  assert_int_equal(a.balance, 100);
  transfer_call("k-replay", "acc-replay", 100, &b); /* from Redis */
  assert_int_equal(b.status, GRPC_STATUS_OK);
  assert_true(b.replayed);
  assert_int_equal(b.len, a.len);
  assert_memory_equal(b.data, a.data, a.len);
  opts.redis = NULL; /* from PostgreSQL */
  transfer_call("k-replay", "acc-replay", 100, &c);
  assert_int_equal(c.status, GRPC_STATUS_OK);
  assert_true(c.replayed);
  assert_int_equal(c.entry_id, a.entry_id);
  assert_int_equal(c.balance, 100);
  assert_int_equal(entries("acc-replay"), 1);
  assert_int_equal(claims("k-replay"), 1);
}

static void same_key_other_body_is_422(void **state) {
  (void)state;
  result a, b, c;
  transfer_call("k-other", "acc-other", 5, &a);
  assert_int_equal(a.status, GRPC_STATUS_OK);
  transfer_call("k-other", "acc-other", 6, &b); /* Redis knows the first */
  assert_int_equal(b.status, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(b.reason, YW_REASON_IDEM_KEY_REUSED);
  assert_int_equal(yw_grpc_reason_to_http(b.status, b.reason), 422);
  assert_int_equal(yw_grpc_reason_to_http(b.status, ""), 400);
  opts.redis = NULL; /* PostgreSQL knows it too */
  transfer_call("k-other", "acc-another", 5, &c);
  assert_int_equal(c.status, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(c.reason, YW_REASON_IDEM_KEY_REUSED);
  assert_int_equal(entries("acc-other"), 1);
  assert_int_equal(entries("acc-another"), 0);
}

static void concurrent_second_waits_for_the_first(void **state) {
  (void)state;
  hold_next();
  bg_call first = {.key = "k-wait", .account = "acc-wait", .amount = 7};
  assert_int_equal(pthread_create(&first.thread, NULL, bg_run, &first), 0);
  wait_entered(); /* the first holds the claim, its row written, not committed */
  bg_call second = {.key = "k-wait", .account = "acc-wait", .amount = 7};
  assert_int_equal(pthread_create(&second.thread, NULL, bg_run, &second), 0);
  wait_for_lock_waiter(); /* the second is queued behind the claim */
  release_held();
  pthread_join(first.thread, NULL);
  pthread_join(second.thread, NULL);
  assert_int_equal(first.res.status, GRPC_STATUS_OK);
  assert_int_equal(second.res.status, GRPC_STATUS_OK);
  assert_false(first.res.replayed);
  assert_true(second.res.replayed);
  assert_int_equal(second.res.entry_id, first.res.entry_id);
  assert_int_equal(entries("acc-wait"), 1);
}

static void concurrent_second_gets_409_when_its_wait_runs_out(void **state) {
  (void)state;
  opts.wait_max_ms = 100;
  hold_next();
  bg_call first = {.key = "k-busy", .account = "acc-busy", .amount = 9};
  assert_int_equal(pthread_create(&first.thread, NULL, bg_run, &first), 0);
  wait_entered();
  result second;
  transfer_call("k-busy", "acc-busy", 9, &second); /* the first is held until we release it */
  release_held();
  pthread_join(first.thread, NULL);
  assert_int_equal(second.status, GRPC_STATUS_ABORTED);
  assert_string_equal(second.reason, YW_REASON_IDEM_IN_PROGRESS);
  assert_true(second.retry_after);
  assert_int_equal(yw_grpc_reason_to_http(second.status, second.reason), 409);
  assert_int_equal(first.res.status, GRPC_STATUS_OK);
  result third;
  transfer_call("k-busy", "acc-busy", 9, &third);
  assert_int_equal(third.status, GRPC_STATUS_OK);
  assert_true(third.replayed);
  assert_int_equal(third.entry_id, first.res.entry_id);
  assert_int_equal(entries("acc-busy"), 1);
}

static void the_claims_wait_bound_does_not_bound_the_effect(void **state) {
  (void)state;
  opts.wait_max_ms = 100;
  result a;
  transfer_call("k-bound", "acc-bound", 1, &a);
  assert_int_equal(a.status, GRPC_STATUS_OK);
  /* the effect's lock waits end with the call's deadline, as without a key */
  assert_string_equal(seen_lock_timeout, "0");
  /* and the effect runs with the session's own lock_timeout, whatever it is */
  PGconn *held[8];
  for (int i = 0; i < 8; i++) {
    held[i] = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(held[i]);
    assert_int_equal(yw_pg_query(held[i], "SET lock_timeout = '4s'", 0, NULL, NULL, NULL), 0);
  }
  for (int i = 0; i < 8; i++) yw_pg_pool_release(pool, held[i]);
  result b;
  transfer_call("k-bound-2", "acc-bound", 1, &b);
  assert_int_equal(b.status, GRPC_STATUS_OK);
  assert_string_equal(seen_lock_timeout, "4s");
  for (int i = 0; i < 8; i++) held[i] = yw_pg_pool_acquire(pool, 2000);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(yw_pg_query(held[i], "RESET lock_timeout", 0, NULL, NULL, NULL), 0);
    yw_pg_pool_release(pool, held[i]);
  }
}

static void transient_failure_keeps_no_claim_and_retry_runs(void **state) {
  (void)state;
  fail_next = YW_EUNAVAIL;
  result a, b;
  transfer_call("k-transient", "acc-transient", 3, &a);
  assert_int_equal(a.status, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(claims("k-transient"), 0);
  assert_int_equal(entries("acc-transient"), 0);
  transfer_call("k-transient", "acc-transient", 3, &b);
  assert_int_equal(b.status, GRPC_STATUS_OK);
  assert_false(b.replayed);
  assert_int_equal(entries("acc-transient"), 1);
}

static void caller_error_is_kept_and_its_effect_undone(void **state) {
  (void)state;
  fail_next = YW_EPRECOND;
  result a, b;
  transfer_call("k-refused", "acc-refused", 4, &a);
  assert_int_equal(a.status, GRPC_STATUS_FAILED_PRECONDITION);
  assert_string_equal(a.message, "injected failure -8");
  assert_int_equal(entries("acc-refused"), 0);
  assert_int_equal(claims("k-refused"), 1);
  opts.redis = NULL;
  transfer_call("k-refused", "acc-refused", 4, &b); /* the kept answer, not a new run */
  assert_int_equal(b.status, GRPC_STATUS_FAILED_PRECONDITION);
  assert_string_equal(b.message, "injected failure -8");
  assert_true(b.replayed);
  assert_int_equal(entries("acc-refused"), 0);
}

static void another_caller_with_the_same_key_is_independent(void **state) {
  (void)state;
  result a, b, c, d;
  transfer_call("k-shared", "acc-shared", 1, &a);
  act_as(YW_CALLER_PERSON, "p-bob");
  transfer_call("k-shared", "acc-shared", 1, &b);
  act_as(YW_CALLER_ANONYMOUS, "");
  transfer_call("k-shared", "acc-shared", 1, &c);
  transfer_call("k-shared", "acc-shared", 1, &d); /* the same anonymous client */
  assert_int_equal(a.status, GRPC_STATUS_OK);
  assert_int_equal(b.status, GRPC_STATUS_OK);
  assert_int_equal(c.status, GRPC_STATUS_OK);
  assert_false(b.replayed);
  assert_false(c.replayed);
  assert_true(d.replayed);
  assert_true(a.entry_id != b.entry_id && b.entry_id != c.entry_id);
  assert_int_equal(entries("acc-shared"), 3);
}

static void redis_stopped_answers_from_postgres(void **state) {
  (void)state;
  int port = yw_test_free_port();
  assert_true(port > 0);
  char ports[16];
  snprintf(ports, sizeof ports, "%d", port);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    FILE *devnull = freopen("/dev/null", "w", stdout);
    (void)devnull;
    execlp("redis-server", "redis-server", "--port", ports, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", (char *)NULL);
    _exit(127);
  }
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  yw_redis *priv = NULL;
  for (int i = 0; i < 100; i++) { /* until it listens, bounded */
    yw_redis_free(priv);
    priv = NULL;
    if (yw_redis_open(addr, 200, 2, &priv) == 0) break;
    usleep(50000);
  }
  assert_non_null(priv);
  assert_int_equal(yw_redis_ping(priv), 0);
  opts.redis = priv;
  result a, b, c;
  transfer_call("k-redis", "acc-redis", 2, &a); /* cached in the private Redis */
  assert_int_equal(a.status, GRPC_STATUS_OK);
  kill(pid, SIGSTOP); /* accepts connections, answers nothing */
  double t0 = yw_test_now_s();
  transfer_call("k-redis", "acc-redis", 2, &b);
  transfer_call("k-redis-2", "acc-redis", 2, &c);
  double took = yw_test_now_s() - t0;
  kill(pid, SIGCONT);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  yw_redis_free(priv);
  assert_int_equal(b.status, GRPC_STATUS_OK); /* within its 5 s deadline */
  assert_true(b.replayed);
  assert_int_equal(b.entry_id, a.entry_id);
  assert_int_equal(c.status, GRPC_STATUS_OK);
  assert_false(c.replayed);
  assert_int_equal(entries("acc-redis"), 2);
  assert_true(took < 5.0);
}

static void expired_key_runs_again_and_is_purged(void **state) {
  (void)state;
  result a, b, c;
  transfer_call("k-expire", "acc-expire", 8, &a);
  assert_int_equal(a.status, GRPC_STATUS_OK);
  opts.clock_offset_s = 86400 - 60; /* almost a day later: still kept (Redis and PostgreSQL) */
  transfer_call("k-expire", "acc-expire", 8, &b);
  assert_true(b.replayed);
  opts.clock_offset_s = 86400 + 1; /* a day and a second later: the key is free again */
  transfer_call("k-expire", "acc-expire", 8, &c);
  assert_int_equal(c.status, GRPC_STATUS_OK);
  assert_false(c.replayed);
  assert_true(c.entry_id != a.entry_id);
  assert_int_equal(entries("acc-expire"), 2);
  assert_int_equal(claims("k-expire"), 1); /* taken over, not a second row */
  /* the purge deletes what has expired, and only that */
  PGconn *conn = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(conn);
  long long before = scalar("SELECT count(*) FROM ledger.idempotency", NULL);
  assert_int_equal(yw_idem_purge(conn, "ledger", 100, 0, NULL), 0);
  int n = yw_idem_purge(conn, "ledger", 100, 3 * 86400, NULL);
  yw_pg_pool_release(pool, conn);
  assert_int_equal(n, before);
  assert_int_equal(claims("k-expire"), 0);
}

static void keys_are_checked_and_may_be_required(void **state) {
  (void)state;
  result a, b, c, d;
  char long_key[300];
  memset(long_key, 'x', 256);
  long_key[256] = '\0';
  transfer_call(long_key, "acc-keys", 1, &a);
  assert_int_equal(a.status, GRPC_STATUS_INVALID_ARGUMENT);
  transfer_call(NULL, "acc-keys", 1, &b); /* no key: runs, every time */
  transfer_call(NULL, "acc-keys", 1, &c);
  assert_int_equal(b.status, GRPC_STATUS_OK);
  assert_int_equal(c.status, GRPC_STATUS_OK);
  assert_int_equal(entries("acc-keys"), 2);
  opts.require_key = 1;
  transfer_call(NULL, "acc-keys", 1, &d);
  assert_int_equal(d.status, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(entries("acc-keys"), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(key_rule),
      cmocka_unit_test_setup(same_key_same_body_replays_and_runs_once, reset),
      cmocka_unit_test_setup(same_key_other_body_is_422, reset),
      cmocka_unit_test_setup(concurrent_second_waits_for_the_first, reset),
      cmocka_unit_test_setup(concurrent_second_gets_409_when_its_wait_runs_out, reset),
      cmocka_unit_test_setup(the_claims_wait_bound_does_not_bound_the_effect, reset),
      cmocka_unit_test_setup(transient_failure_keeps_no_claim_and_retry_runs, reset),
      cmocka_unit_test_setup(caller_error_is_kept_and_its_effect_undone, reset),
      cmocka_unit_test_setup(another_caller_with_the_same_key_is_independent, reset),
      cmocka_unit_test_setup(redis_stopped_answers_from_postgres, reset),
      cmocka_unit_test_setup(expired_key_runs_again_and_is_purged, reset),
      cmocka_unit_test_setup(keys_are_checked_and_may_be_required, reset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
