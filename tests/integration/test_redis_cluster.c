/*
 * test_redis_cluster.c - the synchronous Redis handle (lib/yw_redis.c) against a real
 * three-master Redis Cluster this test starts (redis-server --cluster-enabled yes, slots
 * assigned with CLUSTER ADDSLOTSRANGE, distinct config epochs, nodes joined with CLUSTER
 * MEET).
 *
 * Proves: one seed is enough to reach every master (keys land on all three, scripts go
 * by their first key, multi-key commands by their hash tag); a dead first seed in the
 * list costs no failed open; a slot migrated (-ASK) and then moved (-MOVED) under eight
 * threads writing and reading costs none of them a failed command nor a wrong value; a
 * stopped master (SIGSTOP) fails only the commands for its own slots, each within the
 * bound, while the other masters answer at once. (That one Redis is still served as
 * one, through the same yw_redis_open, is test_redis_sync's part.)
 */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "yw_err.h"
#include "yw_redis.h"
#include "yw_redis_slot.h"
#include "yw_testnet.h"

#define TIMEOUT_MS 500
#define N 3

static pid_t pids[N];
static int ports[N], bus[N];
static char dirs[N][32];
static char seed[64];



/* A plain connection to node i, for setting the cluster up and looking behind the
 * handle's back. */
static redisContext *direct(int i) {
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", ports[i], tv);
  if (c != NULL && c->err == 0) {
    redisSetTimeout(c, tv);
    return c;
  }
  if (c != NULL) redisFree(c);
  return NULL;
}

/* Runs a command on node i; returns the reply (caller frees) or NULL. */
static redisReply *on(int i, int argc, const char **argv) {
  redisContext *c = direct(i);
  if (c == NULL) return NULL;
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);
  redisFree(c);
  return r;
}

static int ok_on(int i, int argc, const char **argv) {
  redisReply *r = on(i, argc, argv);
  int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
  if (r != NULL && !ok) fprintf(stderr, "node %d: %s: %s\n", i, argv[0], r->str);
  if (r != NULL) freeReplyObject(r);
  return ok;
}

static long long int_on(int i, int argc, const char **argv) {
  redisReply *r = on(i, argc, argv);
  long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  if (r != NULL) freeReplyObject(r);
  return v;
}

static int node_start(int i) {
  for (int attempt = 0; attempt < 3; attempt++) {
    ports[i] = yw_test_free_port();
    bus[i] = yw_test_free_port();
    char port[16], busport[16];
    snprintf(port, sizeof port, "%d", ports[i]);
    snprintf(busport, sizeof busport, "%d", bus[i]);
    pids[i] = fork();
    if (pids[i] < 0) return -1;
    if (pids[i] == 0) {
      execlp("redis-server", "redis-server", "--port", port, "--cluster-port", busport, "--bind",
             "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", "60000", "--dir", dirs[i], "--save", "", "--appendonly",
             "no", "--loglevel", "warning", (char *)NULL);
      _exit(127);
    }
    for (int k = 0; k < 100; k++) {
      const char *ping[] = {"PING"};
      if (waitpid(pids[i], NULL, WNOHANG) == pids[i]) break; /* a port was taken: again */
      if (ok_on(i, 1, ping)) return 0;
      usleep(50000);
    }
    kill(pids[i], SIGKILL);
    waitpid(pids[i], NULL, 0);
  }
  fprintf(stderr, "redis-server (cluster node %d) did not start\n", i);
  return -1;
}

/* The port of the master serving slot, as node i sees it; -1 when none. */
static int owner_port(int i, int slot) {
  const char *argv[] = {"CLUSTER", "SLOTS"};
  redisReply *r = on(i, 2, argv);
  int port = -1;
  for (size_t k = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
    redisReply *e = r->element[k];
    if (e->element[0]->integer <= slot && slot <= e->element[1]->integer)
      port = (int)e->element[2]->element[1]->integer;
  }
  if (r != NULL) freeReplyObject(r);
  return port;
}

static int index_of_port(int port) {
  for (int i = 0; i < N; i++)
    if (ports[i] == port) return i;
  return -1;
}

static int cluster_ok(void) {
  for (int i = 0; i < N; i++) {
    const char *info[] = {"CLUSTER", "INFO"};
    redisReply *r = on(i, 2, info);
    int ok =
        r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;
    if (r != NULL) freeReplyObject(r);
    if (!ok) return 0;
    for (int s = 0; s < YW_REDIS_SLOTS; s += 5461)
      if (owner_port(i, s) < 0) return 0;
  }
  return 1;
}

static int setup(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < N; i++) {
    snprintf(dirs[i], sizeof dirs[i], "/tmp/yw-rcluster.XXXXXX");
    if (mkdtemp(dirs[i]) == NULL || node_start(i) != 0) return -1;
  }
  const char *ranges[N][2] = {{"0", "5460"}, {"5461", "10922"}, {"10923", "16383"}};
  for (int i = 0; i < N; i++) {
    /* Distinct config epochs before the nodes meet, as redis-cli --cluster create
     * gives them. Left at 0, the nodes resolve the collision among themselves over the
     * next seconds; a slot closed by SETSLOT NODE meanwhile can be claimed back by its
     * old owner's newer epoch, and the new owner silently drops the slot's keys (a GET
     * after a SET read nothing; two nodes sent a command to each other). */
    char epoch[8];
    snprintf(epoch, sizeof epoch, "%d", i + 1);
    const char *set_epoch[] = {"CLUSTER", "SET-CONFIG-EPOCH", epoch};
    if (!ok_on(i, 3, set_epoch)) return -1;
    const char *add[] = {"CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]};
    if (!ok_on(i, 4, add)) return -1;
  }
  for (int i = 1; i < N; i++) {
    char p[16], b[16];
    snprintf(p, sizeof p, "%d", ports[i]);
    snprintf(b, sizeof b, "%d", bus[i]);
    const char *meet[] = {"CLUSTER", "MEET", "127.0.0.1", p, b};
    if (!ok_on(0, 5, meet)) return -1;
  }
  for (int k = 0; k < 300; k++) {
    if (cluster_ok()) {
      snprintf(seed, sizeof seed, "127.0.0.1:%d", ports[0]);
      return 0;
    }
    usleep(100000);
  }
  fprintf(stderr, "the cluster did not come up\n");
  return -1;
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < N; i++) {
    if (pids[i] <= 0) continue;
    kill(pids[i], SIGCONT);
    kill(pids[i], SIGTERM);
    waitpid(pids[i], NULL, 0);
    char conf[sizeof dirs + 16];
    snprintf(conf, sizeof conf, "%s/nodes.conf", dirs[i]);
    unlink(conf);
    rmdir(dirs[i]);
  }
  return 0;
}

static int resume(void **state) {
  (void)state;
  for (int i = 0; i < N; i++)
    if (pids[i] > 0) kill(pids[i], SIGCONT);
  return 0;
}

static int set_get(yw_redis *r, const char *key, const char *value) {
  const char *set[] = {"SET", key, value};
  char err[160] = "";
  redisReply *rep = yw_redis_command(r, 3, set, NULL, err, sizeof err);
  if (rep == NULL) {
    fprintf(stderr, "SET %s: %s\n", key, err);
    return -1;
  }
  freeReplyObject(rep);
  const char *get[] = {"GET", key};
  rep = yw_redis_command(r, 2, get, NULL, err, sizeof err);
  int ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, value) == 0;
  if (!ok && rep == NULL) fprintf(stderr, "GET %s: %s\n", key, err);
  if (!ok && rep != NULL)
    fprintf(stderr, "GET %s: reply type %d (%s) instead of %s\n", key, rep->type,
            rep->str != NULL ? rep->str : "no text", value);
  if (rep != NULL) freeReplyObject(rep);
  return ok ? 0 : -1;
}

static void test_one_seed_reaches_every_master(void **state) {
  (void)state;
  const char *flush[] = {"FLUSHALL"};
  for (int i = 0; i < N; i++) assert_true(ok_on(i, 1, flush));
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(seed, TIMEOUT_MS, 2, &r), 0);
  char key[32];
  for (int k = 0; k < 60; k++) {
    snprintf(key, sizeof key, "key:%d", k);
    assert_int_equal(set_get(r, key, key), 0);
  }
  const char *dbsize[] = {"DBSIZE"};
  for (int i = 0; i < N; i++) assert_true(int_on(i, 1, dbsize) > 0);
  /* a script goes by its first key; several keys of one hash tag in one command */
  const char *eval[] = {"EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "{t}:n", "5"};
  redisReply *rep = yw_redis_command(r, 5, eval, NULL, NULL, 0);
  assert_non_null(rep);
  assert_int_equal(rep->integer, 5);
  freeReplyObject(rep);
  const char *mset[] = {"MSET", "{t}:a", "1", "{t}:b", "2"};
  rep = yw_redis_command(r, 5, mset, NULL, NULL, 0);
  assert_non_null(rep);
  freeReplyObject(rep);
  const char *del[] = {"DEL", "{t}:a", "{t}:b", "{t}:n"};
  rep = yw_redis_command(r, 4, del, NULL, NULL, 0);
  assert_non_null(rep);
  assert_int_equal(rep->integer, 3);
  freeReplyObject(rep);
  /* keys of different slots in one command: Redis' own error, no redirection */
  const char *cross[] = {"DEL", "key:1", "key:2"};
  char err[160] = "";
  assert_null(yw_redis_command(r, 3, cross, NULL, err, sizeof err));
  assert_non_null(strstr(err, "CROSSSLOT"));
  assert_int_equal(yw_redis_ping(r), 0);
  yw_redis_free(r);
}

static void test_a_dead_first_seed_costs_no_failure(void **state) {
  (void)state;
  char seeds[128];
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d, 127.0.0.1:%d", yw_test_free_port(), ports[1]);
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(seeds, TIMEOUT_MS, 1, &r), 0);
  assert_int_equal(set_get(r, "seeded", "yes"), 0);
  assert_int_equal(set_get(r, "foo", "bar"), 0);
  yw_redis_free(r);
}

/* ---- a slot migrated and moved under load ---------------------------------------- */

static yw_redis *shared;
static atomic_int stop_load, failures, done_ops;

static void *load(void *arg) {
  int t = (int)(intptr_t)arg;
  char key[48], value[48];
  for (unsigned n = 0; !atomic_load(&stop_load); n++) {
    /* half on the moving slot (tag "{m}"), half anywhere */
    if (n % 2 == 0)
      snprintf(key, sizeof key, "{m}:%d:%u", t, n % 50);
    else
      snprintf(key, sizeof key, "any:%d:%u", t, n % 50);
    snprintf(value, sizeof value, "%d-%u", t, n);
    if (set_get(shared, key, value) != 0) atomic_fetch_add(&failures, 1);
    atomic_fetch_add(&done_ops, 1);
  }
  return NULL;
}

static void test_a_moving_slot_costs_no_command(void **state) {
  (void)state;
  int slot = yw_redis_key_slot("m", 1);
  int src = index_of_port(owner_port(0, slot));
  assert_true(src >= 0);
  int dst = (src + 1) % N;
  /* This test is about redirections: a loaded machine (the whole suite at once) must
   * not turn a slow answer into a failure, so its handle waits longer. */
  assert_int_equal(yw_redis_open(seed, 10 * TIMEOUT_MS, 4, &shared), 0);
  atomic_store(&stop_load, 0);
  atomic_store(&failures, 0);
  atomic_store(&done_ops, 0);
  pthread_t th[8];
  for (int t = 0; t < 8; t++)
    assert_int_equal(pthread_create(&th[t], NULL, load, (void *)(intptr_t)t), 0);
  usleep(200000);

  const char *id_cmd[] = {"CLUSTER", "MYID"};
  redisReply *sid = on(src, 2, id_cmd), *did = on(dst, 2, id_cmd);
  assert_non_null(sid);
  assert_non_null(did);
  char s[16], dport[16];
  snprintf(s, sizeof s, "%d", slot);
  snprintf(dport, sizeof dport, "%d", ports[dst]);
  const char *importing[] = {"CLUSTER", "SETSLOT", s, "IMPORTING", sid->str};
  const char *migrating[] = {"CLUSTER", "SETSLOT", s, "MIGRATING", did->str};
  assert_true(ok_on(dst, 5, importing));
  assert_true(ok_on(src, 5, migrating));
  /* the keys go over a few at a time while the threads go on: some answers are -ASK */
  const char *getkeys[] = {"CLUSTER", "GETKEYSINSLOT", s, "5"};
  for (int round = 0; round < 1000; round++) {
    redisReply *keys = on(src, 4, getkeys);
    assert_non_null(keys);
    size_t n = keys->elements;
    if (n > 0) {
      const char *mig[16] = {"MIGRATE", "127.0.0.1", dport, "", "0", "5000", "KEYS"};
      for (size_t k = 0; k < n; k++) mig[7 + k] = keys->element[k]->str;
      assert_true(ok_on(src, 7 + (int)n, mig));
    }
    freeReplyObject(keys);
    if (n == 0) break;
    usleep(10000);
  }
  usleep(100000);
  /* then the slot is the other node's: answers are -MOVED until the map is asked again */
  const char *node[] = {"CLUSTER", "SETSLOT", s, "NODE", did->str};
  assert_true(ok_on(dst, 5, node));
  assert_true(ok_on(src, 5, node));
  for (int i = 0; i < N; i++) ok_on(i, 5, node);
  freeReplyObject(sid);
  freeReplyObject(did);
  usleep(300000);
  atomic_store(&stop_load, 1);
  for (int t = 0; t < 8; t++) pthread_join(th[t], NULL);
  fprintf(stderr, "%d commands while slot %d moved, %d failed\n", atomic_load(&done_ops), slot,
          atomic_load(&failures));
  assert_int_equal(atomic_load(&failures), 0);
  assert_true(atomic_load(&done_ops) > 100);
  assert_int_equal(owner_port(src, slot), ports[dst]);
  const char *redirects[] = {"INFO", "errorstats"};
  redisReply *st = on(src, 2, redirects);
  assert_non_null(st);
  assert_non_null(strstr(st->str, "errorstat_ASK"));
  assert_non_null(strstr(st->str, "errorstat_MOVED"));
  freeReplyObject(st);
  yw_redis_free(shared);
  shared = NULL;
}

/* ---- one master stopped ---------------------------------------------------------- */

static void test_a_stopped_master_fails_only_its_slots(void **state) {
  (void)state;
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(seed, TIMEOUT_MS, 2, &r), 0);
  /* a key on the stopped master and one on another */
  int stopped = 2;
  char mine[32] = "", other[32] = "";
  for (int k = 0; k < 1000 && (mine[0] == '\0' || other[0] == '\0'); k++) {
    char key[32];
    snprintf(key, sizeof key, "probe:%d", k);
    int at = index_of_port(owner_port(0, yw_redis_key_slot(key, strlen(key))));
    if (at == stopped && mine[0] == '\0') snprintf(mine, sizeof mine, "%s", key);
    if (at >= 0 && at != stopped && other[0] == '\0') snprintf(other, sizeof other, "%s", key);
  }
  assert_int_equal(set_get(r, mine, "1"), 0);
  assert_int_equal(set_get(r, other, "1"), 0);
  kill(pids[stopped], SIGSTOP);
  for (int i = 0; i < 5; i++) {
    double t0 = yw_test_now_s();
    const char *get[] = {"GET", mine};
    assert_null(yw_redis_command(r, 2, get, NULL, NULL, 0));
    assert_true(yw_test_now_s() - t0 < 2.0);
    t0 = yw_test_now_s();
    assert_int_equal(set_get(r, other, "2"), 0); /* at once, without waiting on the other */
    assert_true(yw_test_now_s() - t0 < 0.4);
  }
  kill(pids[stopped], SIGCONT);
  int back = 0;
  for (double until = yw_test_now_s() + 10; !back && yw_test_now_s() < until; usleep(50000))
    back = set_get(r, mine, "3") == 0;
  assert_true(back);
  yw_redis_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_one_seed_reaches_every_master, resume),
      cmocka_unit_test_teardown(test_a_dead_first_seed_costs_no_failure, resume),
      cmocka_unit_test_teardown(test_a_moving_slot_costs_no_command, resume),
      cmocka_unit_test_teardown(test_a_stopped_master_fails_only_its_slots, resume),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
