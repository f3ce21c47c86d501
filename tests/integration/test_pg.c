/*
 * test_pg.c - the PostgreSQL pool against the test server, directly and through a relay
 * this test runs in a thread between the pool and the server. The relay can cut every
 * connection at once (what a restarted server does to its clients) or freeze (what a
 * stopped server looks like: the kernel still accepts connections, nothing answers).
 *
 * Proves: prepared statements are tracked per connection with no cap; stale pooled
 * connections after a restart are noticed and replaced before use; a read found on a
 * broken connection is run again once on a fresh one, but not a write that may have run
 * nor anything inside a transaction; statement_timeout follows the caller's deadline
 * and is reset for the next user; connections carry connect_timeout; a frozen server
 * never holds a caller past its deadline; yw_pg_pool_ping answers within its timeout.
 *
 * Timing assertions are generous on purpose (seconds for bounds of a few hundred ms):
 * they catch waits without bound, not slow machines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "yw_err.h"
#include "yw_pg.h"
#include "yw_testdb.h"
#include "yw_testnet.h"

static char dsn[512];


/* ---- the relay ------------------------------------------------------------------- */

#define RELAY_PAIRS 64

static struct relay {
  int lfd;
  int port;
  int target_port;
  pthread_t thread;
  atomic_int frozen;
  atomic_int cut; /* 1: close every relayed connection; the thread sets it back to 0 */
  atomic_int stop;
  int pair[RELAY_PAIRS][2];
  int npairs;
} relay;

static void relay_close_pair(int i) {
  close(relay.pair[i][0]);
  close(relay.pair[i][1]);
  relay.pair[i][0] = relay.pair[--relay.npairs][0];
  relay.pair[i][1] = relay.pair[relay.npairs][1];
}

static int connect_target(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)relay.target_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* Copies what one end has to the other; 0 when the pair is finished. */
static int relay_copy(int from, int to) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return 0;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w <= 0) return 0;
    off += w;
  }
  return 1;
}

static void *relay_main(void *arg) {
  (void)arg;
  while (!atomic_load(&relay.stop)) {
    if (atomic_load(&relay.cut)) {
      while (relay.npairs > 0) relay_close_pair(0);
      atomic_store(&relay.cut, 0);
    }
    if (atomic_load(&relay.frozen)) {
      usleep(5000);
      continue;
    }
    struct pollfd pf[1 + 2 * RELAY_PAIRS];
    pf[0].fd = relay.lfd;
    pf[0].events = POLLIN;
    for (int i = 0; i < relay.npairs; i++) {
      pf[1 + 2 * i].fd = relay.pair[i][0];
      pf[2 + 2 * i].fd = relay.pair[i][1];
      pf[1 + 2 * i].events = pf[2 + 2 * i].events = POLLIN;
    }
    int np = relay.npairs;
    if (poll(pf, (nfds_t)(1 + 2 * np), 10) <= 0) continue;
    for (int i = np - 1; i >= 0; i--) {
      int ok = 1;
      if (pf[1 + 2 * i].revents != 0) ok = relay_copy(relay.pair[i][0], relay.pair[i][1]);
      if (ok && pf[2 + 2 * i].revents != 0) ok = relay_copy(relay.pair[i][1], relay.pair[i][0]);
      if (!ok) relay_close_pair(i);
    }
    if (pf[0].revents & POLLIN) {
      int c = accept(relay.lfd, NULL, NULL);
      int t = c >= 0 ? connect_target() : -1;
      if (c >= 0 && t >= 0 && relay.npairs < RELAY_PAIRS) {
        relay.pair[relay.npairs][0] = c;
        relay.pair[relay.npairs][1] = t;
        relay.npairs++;
      } else {
        if (c >= 0) close(c);
        if (t >= 0) close(t);
      }
    }
  }
  while (relay.npairs > 0) relay_close_pair(0);
  return NULL;
}

static int relay_start(void) {
  const char *tp = getenv("YW_TEST_PG_PORT");
  if (tp == NULL) return -1;
  relay.target_port = (int)strtol(tp, NULL, 10);
  relay.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(relay.lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(relay.lfd, 64) != 0 ||
      getsockname(relay.lfd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  relay.port = ntohs(a.sin_port);
  return pthread_create(&relay.thread, NULL, relay_main, NULL) == 0 ? 0 : -1;
}

static void relay_cut(void) {
  atomic_store(&relay.cut, 1);
  while (atomic_load(&relay.cut)) usleep(1000);
}

/* A pool whose connections go through the relay. */
static yw_pg_pool *relay_pool(int size) {
  char rdsn[640];
  snprintf(rdsn, sizeof rdsn, "%s port=%d", dsn, relay.port);
  yw_pg_pool *p = NULL;
  yw_pg_error err;
  if (yw_pg_pool_new(rdsn, size, &p, &err) != 0) fprintf(stderr, "relay pool: %s\n", err.message);
  return p;
}

/* ---- fixtures -------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  return relay_start();
}

static int teardown(void **state) {
  (void)state;
  atomic_store(&relay.frozen, 0);
  atomic_store(&relay.stop, 1);
  pthread_join(relay.thread, NULL);
  close(relay.lfd);
  yw_testdb_drop();
  return 0;
}

static yw_pg_pool *direct_pool(int size) {
  yw_pg_pool *p = NULL;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, size, &p, &err) != 0) fprintf(stderr, "pool: %s\n", err.message);
  return p;
}

/* Runs sql (one int parameter, answering one int) and returns the answer, or -1. */
static long query_int(PGconn *c, const char *sql, long arg) {
  char a[24];
  snprintf(a, sizeof a, "%ld", arg);
  const char *p[] = {a};
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(c, sql, 1, p, &r, &err);
  if (rc != 0) {
    fprintf(stderr, "query failed (%s): %s %s\n", yw_strerror(rc), err.sqlstate, err.message);
    return -1;
  }
  long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

/* Ends the server sessions of every connection of pool (of size n), as a restart does:
 * each backend sends FATAL 57P01 and closes its socket. Waits until they are gone. */
static void terminate_sessions(yw_pg_pool *pool, int n) {
  PGconn *held[16];
  char pids[16][16];
  for (int i = 0; i < n; i++) {
    held[i] = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(held[i]);
    snprintf(pids[i], sizeof pids[i], "%d", PQbackendPID(held[i]));
  }
  for (int i = 0; i < n; i++) yw_pg_pool_release(pool, held[i]);
  PGconn *admin = PQconnectdb(dsn);
  assert_int_equal(PQstatus(admin), CONNECTION_OK);
  for (int i = 0; i < n; i++) {
    const char *p[] = {pids[i]};
    PQclear(PQexecParams(admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, p, NULL, NULL, 0));
  }
  for (int tries = 0; tries < 500; tries++) {
    int alive = 0;
    for (int i = 0; i < n; i++) {
      const char *p[] = {pids[i]};
      PGresult *r = PQexecParams(admin, "SELECT 1 FROM pg_stat_activity WHERE pid = $1::int", 1,
                                 NULL, p, NULL, NULL, 0);
      alive += PQntuples(r);
      PQclear(r);
    }
    if (alive == 0) break;
    usleep(10000);
  }
  PQfinish(admin);
}

/* ---- defect 2: prepared statements per connection -------------------------------- */

/* 8 connections x 80 statements = 640 name x connection pairs, past the 512 entries the
 * old process-wide registry held; every statement must succeed on every connection,
 * again and again. The statements differ only in trailing blanks, so no value is ever
 * formatted into SQL text. */
static void test_prepared_statements_past_512_pairs_all_succeed(void **state) {
  (void)state;
  enum { CONNS = 8, STMTS = 80 };
  yw_pg_pool *pool = direct_pool(CONNS);
  assert_non_null(pool);
  PGconn *c[CONNS];
  for (int i = 0; i < CONNS; i++) {
    c[i] = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(c[i]);
  }
  static char sql[STMTS][64 + STMTS];
  for (int s = 0; s < STMTS; s++) {
    memcpy(sql[s], "SELECT $1::int + 1", 18);
    memset(sql[s] + 18, ' ', (size_t)s);
    sql[s][18 + s] = '\0';
  }
  int failures = 0;
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < CONNS; i++)
      for (int s = 0; s < STMTS; s++)
        if (query_int(c[i], sql[s], s) != s + 1) failures++;
  assert_int_equal(failures, 0);
  for (int i = 0; i < CONNS; i++) yw_pg_pool_release(pool, c[i]);
  yw_pg_pool_free(pool);
}

/* A reset connection forgets what it had prepared, and so must the pool. */
static void test_statements_are_prepared_again_after_a_reconnect(void **state) {
  (void)state;
  yw_pg_pool *pool = direct_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  assert_int_equal(query_int(c, "SELECT $1::int * 2", 21), 42);
  yw_pg_pool_release(pool, c);
  terminate_sessions(pool, 1);
  for (int i = 0; i < 3; i++) {
    c = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(c);
    assert_int_equal(query_int(c, "SELECT $1::int * 2", 21), 42);
    yw_pg_pool_release(pool, c);
  }
  yw_pg_pool_free(pool);
}

/* ---- defect 1: a restarted server ------------------------------------------------ */

/* After the server ended every session, each pooled connection is noticed to be stale
 * when it is taken and is replaced before the caller uses it: no query fails. */
static void test_stale_connections_after_restart_never_fail_a_query(void **state) {
  (void)state;
  enum { CONNS = 4 };
  yw_pg_pool *pool = direct_pool(CONNS);
  assert_non_null(pool);
  terminate_sessions(pool, CONNS);
  int failures = 0;
  for (int i = 0; i < 8; i++) {
    PGconn *c = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(c);
    if (query_int(c, "SELECT $1::int", i) != i) failures++;
    yw_pg_pool_release(pool, c);
  }
  /* every slot, held together, so none is skipped */
  terminate_sessions(pool, CONNS);
  PGconn *held[CONNS];
  for (int i = 0; i < CONNS; i++) {
    held[i] = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(held[i]);
    if (query_int(held[i], "SELECT $1::int", i) != i) failures++;
  }
  for (int i = 0; i < CONNS; i++) yw_pg_pool_release(pool, held[i]);
  assert_int_equal(failures, 0);
  yw_pg_pool_free(pool);
}

/* The same when the connections die without a word (the relay closes them). */
static void test_connections_cut_without_a_word_are_replaced_on_acquire(void **state) {
  (void)state;
  enum { CONNS = 3 };
  yw_pg_pool *pool = relay_pool(CONNS);
  assert_non_null(pool);
  relay_cut();
  int failures = 0;
  PGconn *held[CONNS];
  for (int i = 0; i < CONNS; i++) {
    held[i] = yw_pg_pool_acquire(pool, 2000);
    assert_non_null(held[i]);
    if (query_int(held[i], "SELECT $1::int", i) != i) failures++;
  }
  for (int i = 0; i < CONNS; i++) yw_pg_pool_release(pool, held[i]);
  assert_int_equal(failures, 0);
  yw_pg_pool_free(pool);
}

/* A read that finds its connection broken (held by the caller while the server went
 * away) is run again once on a re-established connection, on the same PGconn. */
static void test_a_read_on_a_connection_broken_while_held_is_run_again(void **state) {
  (void)state;
  yw_pg_pool *pool = relay_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  assert_int_equal(query_int(c, "SELECT $1::int", 1), 1);
  int pid = PQbackendPID(c);
  relay_cut();
  /* auto-detected read, the WITH form of the search */
  assert_int_equal(query_int(c, "WITH p AS (SELECT $1::int AS v) SELECT v FROM p", 2), 2);
  assert_int_not_equal(PQbackendPID(c), pid); /* a new session behind the same PGconn */
  relay_cut();
  const char *p[] = {"3"};
  PGresult *r = NULL;
  assert_int_equal(yw_pg_query_read(c, "SELECT $1::int", 1, p, &r, NULL), 0);
  assert_string_equal(PQgetvalue(r, 0, 0), "3");
  PQclear(r);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* A write that may have run is not run again: the caller sees YW_EUNAVAIL, the row is
 * there at most once, and the next acquire hands out a working connection. */
static void test_a_write_that_may_have_run_is_not_run_again(void **state) {
  (void)state;
  yw_pg_pool *pool = relay_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "CREATE TABLE IF NOT EXISTS w (n int)", 0, NULL, NULL, &err), 0);
  const char *one[] = {"1"}, *two[] = {"2"};
  const char *ins = "INSERT INTO w (n) VALUES ($1::int)";
  assert_int_equal(yw_pg_query(c, ins, 1, one, NULL, &err), 0); /* prepared now */
  relay_cut();
  assert_int_equal(yw_pg_query(c, ins, 1, two, NULL, &err), YW_EUNAVAIL);
  /* the broken session is not quietly replaced under the caller */
  assert_int_equal(yw_pg_query(c, "SELECT 1", 0, NULL, NULL, &err), YW_EUNAVAIL);
  yw_pg_pool_release(pool, c);
  /* a read that looks like one but is declared a write is not run again either */
  c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  assert_int_equal(yw_pg_query_write(c, "SELECT count(*) FROM w", 0, NULL, NULL, &err), 0);
  relay_cut();
  assert_int_equal(yw_pg_query_write(c, "SELECT count(*) FROM w", 0, NULL, NULL, &err),
                   YW_EUNAVAIL);
  yw_pg_pool_release(pool, c);
  /* and a data-modifying WITH is no read */
  c = yw_pg_pool_acquire(pool, 2000);
  const char *del =
      "WITH d AS (DELETE FROM w WHERE n = $1::int RETURNING n) SELECT count(*) FROM d";
  assert_int_equal(yw_pg_query(c, del, 1, two, NULL, &err), 0);
  relay_cut();
  assert_int_equal(yw_pg_query(c, del, 1, two, NULL, &err), YW_EUNAVAIL);
  yw_pg_pool_release(pool, c);
  c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  assert_int_equal(query_int(c, "SELECT count(*) + $1::int FROM w", 0), 1);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* A write whose connection fails while it is being prepared never reached execution,
 * so it is run once more. */
static void test_a_write_not_yet_sent_for_execution_is_run_again(void **state) {
  (void)state;
  yw_pg_pool *pool = relay_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "CREATE TABLE IF NOT EXISTS v (n int)", 0, NULL, NULL, &err), 0);
  relay_cut();
  const char *one[] = {"1"};
  assert_int_equal(yw_pg_query(c, "INSERT INTO v (n) VALUES ($1::int)", 1, one, NULL, &err), 0);
  assert_int_equal(query_int(c, "SELECT count(*) + $1::int FROM v", 0), 1);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* Inside a transaction nothing is run again: the work before the failure is gone, and
 * the caller must know. */
static void test_nothing_is_run_again_inside_a_transaction(void **state) {
  (void)state;
  yw_pg_pool *pool = relay_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_error err;
  assert_int_equal(yw_pg_begin(c, &err), 0);
  assert_int_equal(query_int(c, "SELECT $1::int", 5), 5);
  relay_cut();
  const char *p[] = {"6"};
  assert_int_equal(yw_pg_query_read(c, "SELECT $1::int", 1, p, NULL, &err), YW_EUNAVAIL);
  yw_pg_pool_release(pool, c);
  c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
  assert_int_equal(query_int(c, "SELECT $1::int", 7), 7);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

static long timeout_setting(PGconn *c) {
  PGresult *r = NULL;
  if (yw_pg_query(c, "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'", 0,
                  NULL, &r, NULL) != 0)
    return -1;
  long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

/* statement_timeout follows the deadline of the current use and is gone for the next. */
static void test_statement_timeout_follows_the_deadline(void **state) {
  (void)state;
  yw_pg_pool *pool = direct_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_set_deadline(c, 5000);
  long t = timeout_setting(c);
  assert_true(t > 3000 && t <= 5000);
  yw_pg_set_deadline(c, 300);
  double t0 = yw_test_now_s();
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "SELECT pg_sleep(5)", 0, NULL, NULL, &err), YW_ETIMEOUT);
  assert_true(yw_test_now_s() - t0 < 3.0);
  /* the server cancelled it, so the connection is still good */
  yw_pg_set_deadline(c, INT64_MAX);
  assert_int_equal(query_int(c, "SELECT $1::int", 8), 8);
  yw_pg_set_deadline(c, 0);
  assert_int_equal(yw_pg_query(c, "SELECT 1", 0, NULL, NULL, &err), YW_ETIMEOUT);
  yw_pg_pool_release(pool, c);
  c = yw_pg_pool_acquire(pool, 2000);
  assert_int_equal(timeout_setting(c), 0);
  yw_pg_pool_release(pool, c);
  /* a health ping leaves the setting alone (seen without going through yw_pg) */
  assert_int_equal(yw_pg_pool_ping(pool, 500), 0);
  c = yw_pg_pool_acquire(pool, 2000);
  PGresult *r = PQexec(c, "SHOW statement_timeout");
  assert_string_equal(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* Every connection carries connect_timeout; one the connection string sets is kept. */
static void test_connections_carry_connect_timeout(void **state) {
  (void)state;
  yw_pg_pool *pool = direct_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  const char *found = NULL;
  PQconninfoOption *o = PQconninfo(c);
  for (PQconninfoOption *i = o; i->keyword != NULL; i++)
    if (strcmp(i->keyword, "connect_timeout") == 0 && i->val != NULL) found = i->val;
  assert_non_null(found);
  assert_true(strtol(found, NULL, 10) > 0);
  PQconninfoFree(o);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);

  char d7[640];
  snprintf(d7, sizeof d7, "%s connect_timeout=7", dsn);
  yw_pg_error err;
  assert_int_equal(yw_pg_pool_new(d7, 1, &pool, &err), 0);
  c = yw_pg_pool_acquire(pool, 2000);
  o = PQconninfo(c);
  for (PQconninfoOption *i = o; i->keyword != NULL; i++)
    if (strcmp(i->keyword, "connect_timeout") == 0) assert_string_equal(i->val, "7");
  PQconninfoFree(o);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* A server that accepts but never answers (frozen) holds no caller past its deadline:
 * not a statement, not a reconnection, not the ping; once it answers again, the pool
 * serves again. */
static void test_a_frozen_server_holds_no_caller_past_its_deadline(void **state) {
  (void)state;
  yw_pg_pool *pool = relay_pool(2);
  assert_non_null(pool);
  assert_int_equal(yw_pg_pool_ping(pool, 2000), 0);
  atomic_store(&relay.frozen, 1);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  assert_non_null(c); /* nothing looks wrong yet */
  yw_pg_set_deadline(c, 300);
  double t0 = yw_test_now_s();
  yw_pg_error err;
  int rc = yw_pg_query(c, "SELECT $1::int", 1, (const char *const[]){"1"}, NULL, &err);
  assert_true(rc == YW_ETIMEOUT || rc == YW_EUNAVAIL);
  assert_true(yw_test_now_s() - t0 < 3.0);
  t0 = yw_test_now_s();
  yw_pg_pool_release(pool, c);
  assert_true(yw_test_now_s() - t0 < 3.0);
  /* the abandoned connection is re-established on acquire, which cannot finish */
  relay_cut();
  t0 = yw_test_now_s();
  PGconn *held[2] = {yw_pg_pool_acquire(pool, 300), yw_pg_pool_acquire(pool, 300)};
  assert_true(held[0] == NULL || held[1] == NULL);
  for (int i = 0; i < 2; i++) yw_pg_pool_release(pool, held[i]);
  assert_true(yw_test_now_s() - t0 < 4.0);
  t0 = yw_test_now_s();
  assert_int_equal(yw_pg_pool_ping(pool, 300), YW_EUNAVAIL);
  assert_true(yw_test_now_s() - t0 < 3.0);
  atomic_store(&relay.frozen, 0);
  int ok = 0;
  for (int i = 0; i < 50 && !ok; i++) {
    ok = yw_pg_pool_ping(pool, 1000) == 0;
    if (!ok) usleep(100000);
  }
  assert_true(ok);
  yw_pg_pool_free(pool);
}

/* ---- deferred statements and the commit with the last statement ----------------------- */

/* How many rows of pipe_t another connection sees (committed rows only). */
static long committed_rows(yw_pg_pool *pool) {
  PGconn *o = yw_pg_pool_acquire(pool, 2000);
  long n = query_int(o, "SELECT count(*) + $1::int FROM pipe_t", 0);
  yw_pg_pool_release(pool, o);
  return n;
}

/* A deferred BEGIN goes with the first statement; the last statement goes with COMMIT;
 * a failure anywhere is the caller's to see with its SQLSTATE, and nothing of the
 * transaction is left. */
static void test_deferred_begin_and_commit_with_the_last_statement(void **state) {
  (void)state;
  yw_pg_pool *pool = direct_pool(2);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_set_deadline(c, 5000);
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "DROP TABLE IF EXISTS pipe_t", 0, NULL, NULL, &err), 0);
  assert_int_equal(yw_pg_query(c,
                               "CREATE TABLE pipe_t (n int PRIMARY KEY, "
                               "m int UNIQUE DEFERRABLE INITIALLY DEFERRED)",
                               0, NULL, NULL, &err),
                   0);

  /* committed: both rows, in two round trips; COMMIT afterwards sends nothing */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE); /* nothing sent yet */
  assert_int_equal(query_int(c, "INSERT INTO pipe_t VALUES ($1::int, 1) RETURNING n", 1), 1);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_INTRANS);
  PGresult *r = NULL;
  const char *two[] = {"2"};
  assert_int_equal(yw_pg_query_commit(c, "INSERT INTO pipe_t VALUES ($1::int, 2) RETURNING n", 1, two,
                                      &r, &err),
                   0);
  assert_string_equal(PQgetvalue(r, 0, 0), "2"); /* the statement's answer, not COMMIT's */
  PQclear(r);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
  assert_int_equal(yw_pg_commit(c, &err), 0);
  assert_int_equal(committed_rows(pool), 2);

  /* the first statement fails: its SQLSTATE, the transaction aborted, rolled back */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  const char *dup[] = {"1"};
  memset(&err, 0, sizeof err);
  assert_int_equal(yw_pg_query(c, "INSERT INTO pipe_t VALUES ($1::int)", 1, dup, NULL, &err), YW_EEXIST);
  assert_string_equal(err.sqlstate, "23505");
  assert_int_equal(PQtransactionStatus(c), PQTRANS_INERROR);
  yw_pg_rollback(c);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

  /* the last statement fails: COMMIT is skipped, nothing of the transaction stays */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  assert_int_equal(query_int(c, "INSERT INTO pipe_t VALUES ($1::int) RETURNING n", 3), 3);
  memset(&err, 0, sizeof err);
  assert_int_equal(yw_pg_query_commit(c, "INSERT INTO pipe_t VALUES ($1::int)", 1, dup, NULL, &err), YW_EEXIST);
  assert_string_equal(err.sqlstate, "23505");
  yw_pg_rollback(c);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
  assert_int_equal(committed_rows(pool), 2);

  /* the statement succeeds, COMMIT fails (a deferred constraint): COMMIT's SQLSTATE */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  memset(&err, 0, sizeof err);
  const char *four[] = {"4"};
  assert_int_equal(yw_pg_query_commit(c, "INSERT INTO pipe_t VALUES ($1::int, 1)", 1, four, NULL, &err),
                   YW_EEXIST);
  assert_string_equal(err.sqlstate, "23505");
  yw_pg_rollback(c);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
  assert_int_equal(committed_rows(pool), 2);

  /* a deferred statement that fails: the next call reports it, and its own statement
   * never ran */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  const char *bad[] = {"not a time"};
  assert_int_equal(yw_pg_defer(c, "SELECT set_config('lock_timeout', $1, true)", 1, bad), 0);
  memset(&err, 0, sizeof err);
  assert_int_equal(yw_pg_query(c, "INSERT INTO pipe_t VALUES ($1::int)", 1, four, NULL, &err), YW_EINVAL);
  assert_string_equal(err.sqlstate, "22023");
  yw_pg_rollback(c);
  assert_int_equal(committed_rows(pool), 2);

  /* a rollback forgets what is deferred: the next statement runs outside a transaction */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  assert_int_equal(yw_pg_defer(c, "SAVEPOINT s", 0, NULL), 0);
  yw_pg_rollback(c);
  assert_int_equal(query_int(c, "SELECT $1::int", 8), 8);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

  /* so does the release: the next user of the connection starts clean */
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  yw_pg_pool_release(pool, c);
  c = yw_pg_pool_acquire(pool, 2000);
  assert_int_equal(query_int(c, "SELECT $1::int", 9), 9);
  assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

  /* too much to defer, or a parameter too long: refused, nothing deferred is lost */
  for (int i = 0; i < YW_PG_DEFER_MAX; i++) assert_int_equal(yw_pg_defer(c, "SELECT 1", 0, NULL), 0);
  assert_int_equal(yw_pg_defer(c, "SELECT 1", 0, NULL), YW_ETOOBIG);
  yw_pg_rollback(c);
  char longp[YW_PG_DEFER_PARAM_MAX + 1];
  memset(longp, 'x', sizeof longp - 1);
  longp[sizeof longp - 1] = '\0';
  const char *lp[] = {longp};
  assert_int_equal(yw_pg_defer(c, "SELECT $1::text", 1, lp), YW_ETOOBIG);

  assert_int_equal(yw_pg_query(c, "DROP TABLE pipe_t", 0, NULL, NULL, &err), 0);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* A pipelined round trip is bounded by the deadline as any statement (here a server
 * that stops answering): the connection is then re-established, out of pipeline mode,
 * for its next user. */
static void test_a_pipelined_statement_holds_no_caller_past_its_deadline(void **state) {
  (void)state;
  yw_pg_pool *pool = relay_pool(1);
  assert_non_null(pool);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_set_deadline(c, 1500);
  assert_int_equal(query_int(c, "SELECT $1::int", 1), 1); /* statement_timeout in place */
  atomic_store(&relay.frozen, 1);
  yw_pg_error err;
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  double t0 = yw_test_now_s();
  int rc = yw_pg_query_commit(c, "SELECT $1::int", 1, (const char *const[]){"2"}, NULL, &err);
  assert_int_equal(rc, YW_ETIMEOUT);
  assert_true(yw_test_now_s() - t0 < 3.0);
  yw_pg_pool_release(pool, c);
  atomic_store(&relay.frozen, 0);
  relay_cut();
  c = NULL;
  for (int i = 0; i < 50 && c == NULL; i++) {
    c = yw_pg_pool_acquire(pool, 1000);
    if (c == NULL) usleep(100000);
  }
  assert_non_null(c);
  assert_int_equal(PQpipelineStatus(c), PQ_PIPELINE_OFF);
  assert_int_equal(query_int(c, "SELECT $1::int", 3), 3);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
}

/* The COMMIT of a transaction the server aborted (a failed statement the caller went on
 * past) answers ROLLBACK with PGRES_COMMAND_OK: yw_pg_commit must report it as a
 * failure, never as kept. */
static void test_the_commit_of_an_aborted_transaction_fails(void **state) {
  (void)state;
  yw_pg_pool *pool = direct_pool(2);
  PGconn *c = yw_pg_pool_acquire(pool, 2000);
  yw_pg_set_deadline(c, 5000);
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "DROP TABLE IF EXISTS rv_t", 0, NULL, NULL, &err), 0);
  assert_int_equal(yw_pg_query(c, "CREATE TABLE rv_t (n int PRIMARY KEY)", 0, NULL, NULL, &err), 0);
  assert_int_equal(yw_pg_query(c, "INSERT INTO rv_t VALUES (1)", 0, NULL, NULL, &err), 0);
  assert_int_equal(yw_pg_begin_deferred(c, &err), 0);
  assert_int_equal(yw_pg_query(c, "INSERT INTO rv_t VALUES (2)", 0, NULL, NULL, &err), 0);
  /* a statement whose failure the caller tolerates (e.g. "exists already") */
  int dup = yw_pg_query(c, "INSERT INTO rv_t VALUES (1)", 0, NULL, NULL, &err);
  assert_int_equal(dup, YW_EEXIST);
  int rc = yw_pg_commit(c, &err);
  long rows = query_int(c, "SELECT count(*) + $1::int FROM rv_t", 0);
  yw_pg_query(c, "DROP TABLE rv_t", 0, NULL, NULL, &err);
  yw_pg_pool_release(pool, c);
  yw_pg_pool_free(pool);
  assert_int_not_equal(rc, 0);
  assert_int_equal(rows, 1); /* nothing of it kept, and said so */
}

/* ---- main ------------------------------------------------------------------------ */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prepared_statements_past_512_pairs_all_succeed),
      cmocka_unit_test(test_statements_are_prepared_again_after_a_reconnect),
      cmocka_unit_test(test_stale_connections_after_restart_never_fail_a_query),
      cmocka_unit_test(test_connections_cut_without_a_word_are_replaced_on_acquire),
      cmocka_unit_test(test_a_read_on_a_connection_broken_while_held_is_run_again),
      cmocka_unit_test(test_a_write_that_may_have_run_is_not_run_again),
      cmocka_unit_test(test_a_write_not_yet_sent_for_execution_is_run_again),
      cmocka_unit_test(test_nothing_is_run_again_inside_a_transaction),
      cmocka_unit_test(test_statement_timeout_follows_the_deadline),
      cmocka_unit_test(test_connections_carry_connect_timeout),
      cmocka_unit_test(test_a_frozen_server_holds_no_caller_past_its_deadline),
      cmocka_unit_test(test_deferred_begin_and_commit_with_the_last_statement),
      cmocka_unit_test(test_a_pipelined_statement_holds_no_caller_past_its_deadline),
      cmocka_unit_test(test_the_commit_of_an_aborted_transaction_fails),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
