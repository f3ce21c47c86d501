/*
 * test_redis_sync.c - the synchronous Redis handle against a private redis-server this
 * test starts on a free port, stops with SIGSTOP (its kernel still accepts connections
 * and takes commands into socket buffers, nothing answers) and resumes with SIGCONT.
 *
 * Proves: commands round-trip binary values; with Redis stopped every command returns
 * NULL within the handle's timeout, for one caller and for many at once on few
 * connections; after a failure the handle backs off so callers fall through at once; a
 * caller's own shorter bound holds; after SIGCONT the handle serves again within a few
 * seconds; a restarted Redis costs no failed command.
 *
 * Timing assertions are generous (seconds for a 300 ms timeout): they catch waits
 * without bound or waits that add up, not slow machines.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "yw_err.h"
#include "yw_redis.h"
#include "yw_testnet.h"

#define TIMEOUT_MS 300

static pid_t redis_pid = -1;
static int redis_port;
static char addr[64];



/* A plain connection of its own, for checks that must not go through the handle. */
static int redis_answers(void) {
  struct timeval tv = {0, 200000};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
  int ok = 0;
  if (c != NULL && c->err == 0) {
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "PING");
    ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (r != NULL) freeReplyObject(r);
  }
  if (c != NULL) redisFree(c);
  return ok;
}

static int redis_start(void) {
  char port[16];
  snprintf(port, sizeof port, "%d", redis_port);
  redis_pid = fork();
  if (redis_pid < 0) return -1;
  if (redis_pid == 0) {
    execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 100; i++) {
    if (redis_answers()) return 0;
    usleep(50000);
  }
  fprintf(stderr, "redis-server did not start on %d\n", redis_port);
  return -1;
}

static void redis_kill(void) {
  if (redis_pid <= 0) return;
  kill(redis_pid, SIGCONT);
  kill(redis_pid, SIGTERM);
  waitpid(redis_pid, NULL, 0);
  redis_pid = -1;
}

static int setup(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN); /* as every server of the project does */
  redis_port = yw_test_free_port();
  snprintf(addr, sizeof addr, "127.0.0.1:%d", redis_port);
  return redis_start();
}

static int teardown(void **state) {
  (void)state;
  redis_kill();
  return 0;
}

/* Whatever a failed test left behind, the next one finds Redis running. */
static int resume(void **state) {
  (void)state;
  if (redis_pid > 0) kill(redis_pid, SIGCONT);
  return 0;
}

static redisReply *get(yw_redis *r, const char *key, char *err, size_t errlen) {
  const char *argv[] = {"GET", key};
  return yw_redis_command(r, 2, argv, NULL, err, errlen);
}

/* Waits up to seconds for a command through r to succeed; 1 when it did. */
static int serves_within(yw_redis *r, double seconds) {
  double until = yw_test_now_s() + seconds;
  while (yw_test_now_s() < until) {
    redisReply *rep = get(r, "k", NULL, 0);
    if (rep != NULL) {
      freeReplyObject(rep);
      return 1;
    }
    usleep(50000);
  }
  return 0;
}

static void test_commands_round_trip_binary_values(void **state) {
  (void)state;
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(addr, TIMEOUT_MS, 2, &r), 0);
  const char value[] = {'a', '\0', 'b', '\n', 'c'};
  const char *set[] = {"SET", "bin", value};
  size_t setlen[] = {3, 3, sizeof value};
  redisReply *rep = yw_redis_command(r, 3, set, setlen, NULL, 0);
  assert_non_null(rep);
  freeReplyObject(rep);
  rep = get(r, "bin", NULL, 0);
  assert_non_null(rep);
  assert_int_equal(rep->type, REDIS_REPLY_STRING);
  assert_int_equal(rep->len, sizeof value);
  assert_memory_equal(rep->str, value, sizeof value);
  freeReplyObject(rep);
  /* an error reply is NULL with its text, and is no reason to back off */
  const char *bad[] = {"INCR", "bin"};
  char err[128] = "";
  assert_null(yw_redis_command(r, 2, bad, NULL, err, sizeof err));
  assert_non_null(strstr(err, "ERR"));
  assert_int_equal(yw_redis_ping(r), 0);
  yw_redis_free(r);
}

/* A stopped Redis: each command is NULL within the bound; right after a failure the
 * handle says it is backing off and answers at once; after SIGCONT it serves again. */
static void test_stopped_redis_fails_each_command_within_its_timeout(void **state) {
  (void)state;
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(addr, TIMEOUT_MS, 2, &r), 0);
  assert_true(serves_within(r, 2));
  kill(redis_pid, SIGSTOP);
  char err[128];
  for (int i = 0; i < 6; i++) {
    double t0 = yw_test_now_s();
    err[0] = '\0';
    redisReply *rep = get(r, "k", err, sizeof err);
    double took = yw_test_now_s() - t0;
    assert_null(rep);
    assert_true(took < 3.0);
    if (i > 0) assert_non_null(strstr(err, "backing off"));
  }
  assert_int_equal(yw_redis_ping(r), YW_EUNAVAIL);
  kill(redis_pid, SIGCONT);
  assert_true(serves_within(r, 10));
  yw_redis_free(r);
}

/* Opening while Redis is stopped does not wait past the timeout per attempt either. */
static void test_open_while_stopped_is_bounded(void **state) {
  (void)state;
  kill(redis_pid, SIGSTOP);
  double t0 = yw_test_now_s();
  yw_redis *r = NULL;
  yw_redis_open(addr, TIMEOUT_MS, 4, &r);
  assert_non_null(r);
  redisReply *rep = get(r, "k", NULL, 0);
  assert_null(rep);
  assert_true(yw_test_now_s() - t0 < 4.0);
  kill(redis_pid, SIGCONT);
  assert_true(serves_within(r, 10));
  yw_redis_free(r);
}

static yw_redis *shared;
static double worst;
static pthread_mutex_t worst_mu = PTHREAD_MUTEX_INITIALIZER;

static void *one_caller(void *arg) {
  (void)arg;
  double t0 = yw_test_now_s();
  redisReply *rep = get(shared, "k", NULL, 0);
  double took = yw_test_now_s() - t0;
  if (rep != NULL) freeReplyObject(rep);
  pthread_mutex_lock(&worst_mu);
  if (took > worst) worst = took;
  pthread_mutex_unlock(&worst_mu);
  return NULL;
}

/* 16 callers on one connection while Redis is stopped: none waits for the others'
 * timeouts to add up. */
static void test_many_callers_on_few_connections_do_not_queue_behind_a_stopped_redis(void **state) {
  (void)state;
  assert_int_equal(yw_redis_open(addr, TIMEOUT_MS, 1, &shared), 0);
  assert_true(serves_within(shared, 2));
  kill(redis_pid, SIGSTOP);
  worst = 0;
  pthread_t th[16];
  for (int i = 0; i < 16; i++) assert_int_equal(pthread_create(&th[i], NULL, one_caller, NULL), 0);
  for (int i = 0; i < 16; i++) pthread_join(th[i], NULL);
  assert_true(worst < 3.0);
  kill(redis_pid, SIGCONT);
  assert_true(serves_within(shared, 10));
  yw_redis_free(shared);
  shared = NULL;
}

/* A caller with less time left than the handle's timeout is held no longer than that. */
static void test_a_callers_own_bound_holds(void **state) {
  (void)state;
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(addr, 5000, 1, &r), 0);
  assert_true(serves_within(r, 2));
  kill(redis_pid, SIGSTOP);
  const char *argv[] = {"GET", "k"};
  double t0 = yw_test_now_s();
  assert_null(yw_redis_command_within(r, 100, 2, argv, NULL, NULL, 0));
  assert_true(yw_test_now_s() - t0 < 2.5); /* half the handle's 5 s */
  kill(redis_pid, SIGCONT);
  assert_true(serves_within(r, 10));
  yw_redis_free(r);
}

/* Redis restarted between two commands: the handle notices the closed connection before
 * it sends and the next command succeeds at the first try. */
static void test_a_restarted_redis_fails_no_command(void **state) {
  (void)state;
  yw_redis *r = NULL;
  assert_int_equal(yw_redis_open(addr, TIMEOUT_MS, 2, &r), 0);
  assert_true(serves_within(r, 2));
  redis_kill();
  assert_int_equal(redis_start(), 0);
  for (int i = 0; i < 4; i++) {
    char err[128] = "";
    redisReply *rep = get(r, "k", err, sizeof err);
    if (rep == NULL) fprintf(stderr, "command %d after the restart: %s\n", i, err);
    assert_non_null(rep);
    freeReplyObject(rep);
  }
  yw_redis_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_commands_round_trip_binary_values, resume),
      cmocka_unit_test_teardown(test_stopped_redis_fails_each_command_within_its_timeout, resume),
      cmocka_unit_test_teardown(test_open_while_stopped_is_bounded, resume),
      cmocka_unit_test_teardown(
          test_many_callers_on_few_connections_do_not_queue_behind_a_stopped_redis, resume),
      cmocka_unit_test_teardown(test_a_callers_own_bound_holds, resume),
      cmocka_unit_test_teardown(test_a_restarted_redis_fails_no_command, resume),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
