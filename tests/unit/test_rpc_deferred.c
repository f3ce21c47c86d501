/*
 * test_rpc_deferred.c - deferred unary calls and calls between services, on the real
 * gRPC core over loopback. Proves: a deferred call frees its handler thread (one
 * handler thread, several deferred calls open, another call answered meanwhile, then
 * all finished from another thread), the cap on deferred calls, a cancelled or timed-out
 * deferred call running its cancel callback once (and a finish after it being
 * harmless), a stream calling another service (with the default deadline, as it has
 * none), and a call forwarded from one in-process service to another carrying the
 * deadline, the request id and the caller, re-signed with via=, a forged via refused;
 * a call whose deadline passed while it waited for the handler thread answered
 * DEADLINE_EXCEEDED, its handler either never run or told at once by its cancel callback.
 *
 * No test depends on how fast the machine is: a deadline that must pass after the
 * handler deferred the call is tried again with twice the time when a loaded machine
 * let it pass before the handler ran (the runtime then answers without the handler).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "yiwang/test/v1/echo.pb-c.h"
#include "yiwang/test/v1/stream.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define RELAY "/yiwang.test.v1.RelayService/"
#define WHO "/yiwang.test.v1.WhoService/Who"
#define MAX_HELD 16

/* ---- what the handlers share with the tests ---------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static yw_rpc_call *held[MAX_HELD]; /* deferred calls waiting for the test to finish them */
static int n_held;
static int n_cancelled;             /* cancel callbacks run */
static int n_blocking;              /* "block" handlers holding the handler thread */
static int unblock;                 /* set by the test: the "block" handlers return */
static yw_caller_keys keys;
static yw_rpc_channel *downstream;  /* the relay's channel to WhoService */

/* Waits (at most 10 s) until *a reaches want_a or *b reaches want_b. */
static void wait_either(int *a, int want_a, int *b, int want_b) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&mu);
  while (*a < want_a && *b < want_b && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
  }
  pthread_mutex_unlock(&mu);
}

/* Waits (at most 10 s) until *counter reaches want; returns the value seen. */
static int wait_count(int *counter, int want) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&mu);
  while (*counter < want && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
  }
  int seen = *counter;
  pthread_mutex_unlock(&mu);
  return seen;
}

static void on_cancel(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  n_cancelled++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static Yiwang__Test__V1__EchoReply *echo_reply(yw_rpc_call *call, const char *text) {
  Yiwang__Test__V1__EchoReply *r = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *r);
  yiwang__test__v1__echo_reply__init(r);
  r->text = yw_arena_strndup(yw_rpc_call_arena(call), text, (size_t)-1);
  r->request_id = (char *)yw_rpc_call_request_id(call);
  return r;
}

/* "now": answered at once. "block": holds the handler thread until the test sets
 * unblock (10 s at most). "defer": kept for the test to finish. */
static int slow(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                void *data) {
  (void)data;
  const Yiwang__Test__V1__EchoRequest *req = (const void *)reqm;
  if (strcmp(req->text, "now") == 0) {
    *out = &echo_reply(call, "now")->base;
    return 0;
  }
  if (strcmp(req->text, "block") == 0) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&mu);
    n_blocking++;
    pthread_cond_broadcast(&cv);
    while (!unblock && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
    }
    pthread_mutex_unlock(&mu);
    *out = &echo_reply(call, "unblocked")->base;
    return 0;
  }
  int rc = yw_rpc_call_defer(call);
  if (rc != 0) return yw_rpc_call_fail(call, rc, "cannot defer: %s", yw_strerror(rc));
  yw_rpc_call_on_cancel(call, on_cancel, NULL);
  pthread_mutex_lock(&mu);
  held[n_held++] = call;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  return YW_RPC_DEFERRED;
}

/* The relay's answer comes from WhoService, on the client's thread. */
static void relay_done(yw_rpc_call *call, int code, ProtobufCMessage *resp, const char *message,
                       void *arg) {
  Yiwang__Test__V1__WhoReply *who = (Yiwang__Test__V1__WhoReply *)resp;
  if (code == 0) who->relay_ms_left = *(int64_t *)arg;
  else yw_rpc_call_fail(call, code, "downstream: %s", message);
  yw_rpc_call_finish(call, code, resp);
}

/* Checks its caller, then forwards to WhoService without holding the thread. */
static int relay(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                 void *data) {
  (void)out;
  (void)data;
  yw_caller caller;
  int rc = yw_rpc_call_caller(call, &keys, &caller);
  if (rc != 0) return rc;
  int64_t *left = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *left);
  *left = yw_rpc_call_ms_left(call);
  if (yw_rpc_call_defer(call) != 0) return YW_ELIMIT;
  rc = yw_rpc_call_forward(call, downstream, WHO, reqm, &yiwang__test__v1__who_reply__descriptor,
                           relay_done, left);
  if (rc != 0) yw_rpc_call_finish(call, rc, NULL);
  return YW_RPC_DEFERRED;
}

/* Says what it saw of the call and its caller. */
static int who(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
               void *data) {
  (void)reqm;
  (void)data;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Test__V1__WhoReply *r = yw_arena_alloc(a, sizeof *r);
  yiwang__test__v1__who_reply__init(r);
  yw_caller caller;
  if (yw_rpc_call_caller(call, &keys, &caller) == 0) {
    r->subject = yw_arena_strndup(a, caller.subject, (size_t)-1);
    r->via = yw_arena_strndup(a, caller.via, (size_t)-1);
  } else {
    r->error = "the caller does not verify";
  }
  r->request_id = (char *)yw_rpc_call_request_id(call);
  r->ms_left = yw_rpc_call_ms_left(call);
  *out = &r->base;
  return 0;
}

/* A stream that asks WhoService and sends what it said as its one message. */
static void watch_done(yw_rpc_call *call, int code, ProtobufCMessage *resp, const char *message,
                       void *arg) {
  (void)call;
  yw_rpc_stream *st = arg;
  if (code != 0) {
    yw_rpc_stream_finish(st, code, message);
  } else {
    Yiwang__Test__V1__WhoReply *who_reply = (Yiwang__Test__V1__WhoReply *)resp;
    char text[160];
    snprintf(text, sizeof text, "%s|%s|%s|%lld", who_reply->subject, who_reply->via,
             who_reply->request_id, (long long)who_reply->ms_left);
    Yiwang__Test__V1__WatchEvent ev = YIWANG__TEST__V1__WATCH_EVENT__INIT;
    ev.seq = 1;
    ev.text = text;
    yw_rpc_stream_send(st, &ev.base);
    yw_rpc_stream_finish(st, 0, NULL);
  }
  yw_rpc_stream_unref(st);
}

static int watch(yw_rpc_stream *st, const ProtobufCMessage *reqm, void *data) {
  (void)reqm;
  (void)data;
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "from a stream";
  int rc = yw_rpc_call_forward(yw_rpc_stream_call(st), downstream, WHO, &req.base,
                               &yiwang__test__v1__who_reply__descriptor, watch_done, st);
  return rc; /* 0: the handler's reference goes to watch_done */
}

static const yw_rpc_method watch_methods[] = {{.name = "Watch", .stream = watch}};
static const yw_rpc_service watch_service = {&yiwang__test__v1__stream_service__descriptor,
                                             watch_methods, 1, NULL};

static const yw_rpc_method relay_methods[] = {{.name = "Slow", .fn = slow},
                                              {.name = "Relay", .fn = relay}};
static const yw_rpc_service relay_service = {&yiwang__test__v1__relay_service__descriptor,
                                             relay_methods, 2, NULL};
static const yw_rpc_method who_methods[] = {{.name = "Who", .fn = who}};
static const yw_rpc_service who_service = {&yiwang__test__v1__who_service__descriptor,
                                           who_methods, 1, NULL};

/* ---- fixtures ----------------------------------------------------------------------- */

static yw_rpc_server *server;      /* RelayService, one handler thread */
static yw_rpc_server *who_server;  /* WhoService */
static yw_rpc_client *client;
static yw_rpc_channel *channel;

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_ERROR);
  uint8_t key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
  if (yw_caller_keys_init(&keys, key, NULL, 30) != 0) return -1;
  if (yw_rpc_server_new("127.0.0.1:0", 1, &who_server) != 0 ||
      yw_rpc_server_add_service(who_server, &who_service) != 0 ||
      yw_rpc_server_start(who_server) != 0)
    return -1;
  if (yw_rpc_server_new("127.0.0.1:0", 1, &server) != 0 ||
      yw_rpc_server_set_queue(server, 16) != 0 || /* the calls of a test arrive at once */
      yw_rpc_server_set_max_deferred(server, 8) != 0 ||
      yw_rpc_server_set_caller(server, &keys, "relay") != 0 ||
      yw_rpc_server_add_service(server, &relay_service) != 0 ||
      yw_rpc_server_add_service(server, &watch_service) != 0 || yw_rpc_server_start(server) != 0)
    return -1;
  if (yw_rpc_client_new(&client) != 0) return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(server));
  channel = yw_rpc_channel_new(client, target, 1, 0);
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(who_server));
  downstream = yw_rpc_channel_new(client, target, 1, 0);
  return channel != NULL && downstream != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  yw_rpc_channel_free(channel);
  yw_rpc_channel_free(downstream);
  yw_rpc_client_free(client);
  yw_rpc_server_free(server);
  yw_rpc_server_free(who_server);
  return 0;
}

static int reset(void **state) {
  (void)state;
  pthread_mutex_lock(&mu);
  n_held = 0;
  n_cancelled = 0;
  n_blocking = 0;
  unblock = 0;
  pthread_mutex_unlock(&mu);
  return 0;
}

/* ---- asynchronous calls from the test -------------------------------------------- */

struct answer {
  int done;
  grpc_status_code status;
  char text[64];
};
static struct answer answers[MAX_HELD];
static int n_answers;

static void answer_done(void *arg, const yw_rpc_result *r) {
  struct answer *a = arg;
  pthread_mutex_lock(&mu);
  a->status = r->status;
  if (r->status == GRPC_STATUS_OK) {
    Yiwang__Test__V1__EchoReply *reply =
        yiwang__test__v1__echo_reply__unpack(NULL, r->len, r->data);
    if (reply != NULL) {
      snprintf(a->text, sizeof a->text, "%s", reply->text);
      yiwang__test__v1__echo_reply__free_unpacked(reply, NULL);
    }
  }
  a->done = 1;
  n_answers++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int start_slow(const char *text, int64_t timeout_ms, struct answer *a,
                      yw_rpc_pending **handle) {
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = (char *)text;
  uint8_t buf[64];
  size_t len = yiwang__test__v1__echo_request__pack(&req, buf);
  memset(a, 0, sizeof *a);
  return yw_rpc_call_start_ex(channel, RELAY "Slow", buf, len, NULL, 0, timeout_ms, answer_done,
                              a, handle);
}

struct finisher {
  int from, to;
};

/* Finishes held calls [from, to) from a thread of its own, as a worker pool would. */
static void *finish_held(void *arg) {
  struct finisher *f = arg;
  for (int i = f->from; i < f->to; i++) {
    yw_rpc_call *call = held[i];
    char text[32];
    snprintf(text, sizeof text, "finished %d", i);
    yw_rpc_call_finish(call, 0, &echo_reply(call, text)->base);
  }
  return NULL;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_deferred_calls_free_the_only_handler_thread(void **state) {
  (void)state;
  n_answers = 0;
  enum { N = 6 };
  for (int i = 0; i < N; i++) assert_int_equal(start_slow("defer", 10000, &answers[i], NULL), 0);
  /* all N ran their handler on the one handler thread and were deferred */
  assert_int_equal(wait_count(&n_held, N), N);
  /* the thread is free: another call is answered while N are still open */
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "now";
  ProtobufCMessage *out = NULL;
  char msg[128];
  assert_int_equal(yw_rpc_call_sync(channel, RELAY "Slow", &req.base,
                                    &yiwang__test__v1__echo_reply__descriptor, NULL, &out, NULL,
                                    0, 5000, msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_string_equal(((Yiwang__Test__V1__EchoReply *)out)->text, "now");
  protobuf_c_message_free_unpacked(out, NULL);
  pthread_mutex_lock(&mu);
  assert_int_equal(n_answers, 0); /* none of the deferred ones has been answered */
  pthread_mutex_unlock(&mu);
  yw_rpc_server_stats stats;
  yw_rpc_server_stats_get(server, &stats);
  assert_int_equal(stats.deferred, N);
  /* another thread finishes them */
  pthread_t t;
  struct finisher f = {0, N};
  pthread_create(&t, NULL, finish_held, &f);
  pthread_join(t, NULL);
  yw_rpc_server_stats_get(server, &stats);
  assert_int_equal(stats.deferred, 0);
  assert_int_equal(wait_count(&n_answers, N), N);
  int seen[N] = {0};
  for (int i = 0; i < N; i++) {
    assert_int_equal(answers[i].status, GRPC_STATUS_OK);
    int k = -1;
    assert_int_equal(sscanf(answers[i].text, "finished %d", &k), 1);
    assert_true(k >= 0 && k < N);
    seen[k]++;
  }
  for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
  assert_int_equal(n_cancelled, 0);
}

static void test_deferred_calls_past_the_cap_are_refused(void **state) {
  (void)state;
  n_answers = 0;
  for (int i = 0; i < 8; i++) assert_int_equal(start_slow("defer", 10000, &answers[i], NULL), 0);
  assert_int_equal(wait_count(&n_held, 8), 8);
  struct answer extra;
  assert_int_equal(start_slow("defer", 10000, &extra, NULL), 0);
  assert_int_equal(wait_count(&n_answers, 1), 1);
  assert_true(extra.done);
  assert_int_equal(extra.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
  struct finisher f = {0, 8};
  finish_held(&f);
  assert_int_equal(wait_count(&n_answers, 9), 9);
  for (int i = 0; i < 8; i++) assert_int_equal(answers[i].status, GRPC_STATUS_OK);
}

static void test_cancelled_deferred_call_runs_its_cancel_callback_once(void **state) {
  (void)state;
  n_answers = 0;
  yw_rpc_pending *handle = NULL;
  assert_int_equal(start_slow("defer", 10000, &answers[0], &handle), 0);
  assert_int_equal(wait_count(&n_held, 1), 1);
  yw_rpc_pending_cancel(handle);
  assert_int_equal(wait_count(&n_cancelled, 1), 1);
  assert_int_equal(wait_count(&n_answers, 1), 1);
  assert_int_equal(answers[0].status, GRPC_STATUS_CANCELLED);
  /* the owner finishes after the cancel: harmless, and the callback does not run again */
  struct finisher f = {0, 1};
  finish_held(&f);
  yw_rpc_pending_release(handle);
  /* the server still serves (its only thread was never held) */
  struct answer next;
  assert_int_equal(start_slow("now", 5000, &next, NULL), 0);
  assert_int_equal(wait_count(&n_answers, 2), 2);
  assert_int_equal(next.status, GRPC_STATUS_OK);
  assert_int_equal(n_cancelled, 1);
}

/* A "now" call, waited for: the handler thread has taken every call before it. */
static grpc_status_code now_call(void) {
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "now";
  ProtobufCMessage *out = NULL;
  char msg[128];
  grpc_status_code st = yw_rpc_call_sync(channel, RELAY "Slow", &req.base,
                                         &yiwang__test__v1__echo_reply__descriptor, NULL, &out,
                                         NULL, 0, 10000, msg, sizeof msg);
  protobuf_c_message_free_unpacked(out, NULL);
  return st;
}

static void test_deferred_call_past_its_deadline_runs_its_cancel_callback(void **state) {
  (void)state;
  /* The deadline must pass after the handler deferred the call. On a loaded machine a
   * short one may pass while the call waits for the handler thread; the runtime then
   * answers DEADLINE_EXCEEDED without the handler (proved on its own below), and the
   * call is made again with twice the time. */
  for (int64_t ms = 300;; ms *= 2) {
    reset(NULL);
    n_answers = 0;
    assert_int_equal(start_slow("defer", ms, &answers[0], NULL), 0);
    wait_either(&n_held, 1, &n_answers, 1);
    /* a call behind it is answered: the one handler thread has taken it by now (its
     * client may have given up before the server, whose deadline starts later) */
    assert_int_equal(now_call(), GRPC_STATUS_OK);
    pthread_mutex_lock(&mu);
    int held_it = n_held == 1;
    pthread_mutex_unlock(&mu);
    if (held_it) break;
    assert_int_equal(wait_count(&n_answers, 1), 1);
    assert_int_equal(answers[0].status, GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_true(ms < 10000); /* five tries, up to 4.8 s: then the machine is too slow */
  }
  assert_int_equal(wait_count(&n_held, 1), 1);
  /* nobody finishes it: the deadline ends it, and the owner learns it */
  assert_int_equal(wait_count(&n_cancelled, 1), 1);
  assert_int_equal(wait_count(&n_answers, 1), 1);
  assert_int_equal(answers[0].status, GRPC_STATUS_DEADLINE_EXCEEDED);
  struct finisher f = {0, 1};
  finish_held(&f);
}

static void test_call_whose_deadline_passed_in_the_queue_is_not_left_open(void **state) {
  (void)state;
  n_answers = 0;
  struct answer blocker, late, after;
  /* the only handler thread is held ... */
  assert_int_equal(start_slow("block", 10000, &blocker, NULL), 0);
  assert_int_equal(wait_count(&n_blocking, 1), 1);
  /* ... while a call behind it runs out of time */
  assert_int_equal(start_slow("defer", 200, &late, NULL), 0);
  assert_int_equal(wait_count(&n_answers, 1), 1);
  assert_true(late.done);
  assert_int_equal(late.status, GRPC_STATUS_DEADLINE_EXCEEDED);
  pthread_mutex_lock(&mu);
  unblock = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  assert_int_equal(wait_count(&n_answers, 2), 2);
  assert_int_equal(blocker.status, GRPC_STATUS_OK);
  assert_string_equal(blocker.text, "unblocked");
  /* a call after it is answered: the queue has moved past the late one. Its server saw
   * the deadline first (it starts when the call arrives, so it may end after the
   * client's): the handler never ran; or it learned late, and then the handler that
   * deferred the call is told at once by its cancel callback. Either way nothing is
   * left open once the owner finishes what it holds. */
  assert_int_equal(start_slow("now", 5000, &after, NULL), 0);
  assert_int_equal(wait_count(&n_answers, 3), 3);
  assert_int_equal(after.status, GRPC_STATUS_OK);
  pthread_mutex_lock(&mu);
  int ran = n_held;
  pthread_mutex_unlock(&mu);
  if (ran == 1) {
    assert_int_equal(wait_count(&n_cancelled, 1), 1);
    struct finisher f = {0, 1};
    finish_held(&f); /* after its cancellation: harmless */
  } else {
    assert_int_equal(ran, 0);
    assert_int_equal(n_cancelled, 0);
  }
  yw_rpc_server_stats stats;
  yw_rpc_server_stats_get(server, &stats);
  assert_int_equal(stats.deferred, 0);
}

static void test_shutdown_is_bounded_by_a_deferred_call_never_finished(void **state) {
  (void)state;
  n_answers = 0;
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new("127.0.0.1:0", 1, &s), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &relay_service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(s));
  yw_rpc_channel *ch = yw_rpc_channel_new(client, target, 1, 0);
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "defer";
  uint8_t buf[64];
  size_t len = yiwang__test__v1__echo_request__pack(&req, buf);
  memset(&answers[0], 0, sizeof answers[0]);
  assert_int_equal(yw_rpc_call_start(ch, RELAY "Slow", buf, len, NULL, 0, 30000, answer_done,
                                     &answers[0]),
                   0);
  assert_int_equal(wait_count(&n_held, 1), 1);
  /* its owner does not finish it: shutdown cancels it, tells the owner, and returns
   * after its bounded wait instead of waiting for ever */
  yw_rpc_server_shutdown(s, 200);
  assert_int_equal(wait_count(&n_cancelled, 1), 1);
  assert_int_equal(wait_count(&n_answers, 1), 1);
  /* the client sees its call end (cancelled, or the server going away) */
  assert_true(answers[0].status == GRPC_STATUS_CANCELLED ||
              answers[0].status == GRPC_STATUS_UNAVAILABLE);
  yw_rpc_server_stats stats;
  yw_rpc_server_stats_get(s, &stats); /* still standing, with the call open */
  assert_int_equal(stats.deferred, 1);
  /* once the owner finishes, the server is freed completely */
  struct finisher f = {0, 1};
  finish_held(&f);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

/* Signs c as the gateway does, for method and request_id. */
static void gateway_sign(const char *method, const char *request_id, char *value, size_t size,
                         char sig[65]) {
  yw_caller c;
  memset(&c, 0, sizeof c);
  c.kind = YW_CALLER_PERSON;
  snprintf(c.subject, sizeof c.subject, "p-1001");
  snprintf(c.roles, sizeof c.roles, "resident");
  c.level = 2;
  c.ts = (long long)time(NULL);
  assert_int_equal(yw_caller_encode(&c, keys.current, method, request_id, value, size, sig), 0);
}

static grpc_status_code call_who_reply(const char *method, const yw_rpc_md *md, size_t nmd,
                                       int64_t timeout_ms, Yiwang__Test__V1__WhoReply **reply,
                                       yw_rpc_channel *ch) {
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = "who";
  ProtobufCMessage *out = NULL;
  char msg[128];
  grpc_status_code st = yw_rpc_call_sync(ch, method, &req.base,
                                         &yiwang__test__v1__who_reply__descriptor, NULL, &out, md,
                                         nmd, timeout_ms, msg, sizeof msg);
  *reply = (Yiwang__Test__V1__WhoReply *)out;
  return st;
}

static void test_forwarded_call_carries_deadline_request_id_and_caller(void **state) {
  (void)state;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  gateway_sign(RELAY "Relay", "req-fwd-1", value, sizeof value, sig);
  yw_rpc_md md[] = {{"x-request-id", "req-fwd-1", 0}, {"x-yw-caller", value, 0},
                    {"x-yw-caller-sig", sig, 0}};
  Yiwang__Test__V1__WhoReply *who_reply = NULL;
  assert_int_equal(call_who_reply(RELAY "Relay", md, 3, 5000, &who_reply, channel),
                   GRPC_STATUS_OK);
  assert_string_equal(who_reply->error, "");
  assert_string_equal(who_reply->subject, "p-1001");   /* the original identity */
  assert_string_equal(who_reply->via, "relay");        /* and the service it came through */
  assert_string_equal(who_reply->request_id, "req-fwd-1");
  /* the downstream deadline is the relay's time left less the margin */
  assert_true(who_reply->relay_ms_left > 0 && who_reply->relay_ms_left <= 5000 + 500);
  assert_true(who_reply->ms_left > 0 && who_reply->ms_left < who_reply->relay_ms_left);
  protobuf_c_message_free_unpacked(&who_reply->base, NULL);

  /* a call straight from the gateway has no via: the two can be told apart */
  gateway_sign(WHO, "req-direct", value, sizeof value, sig);
  yw_rpc_md direct[] = {{"x-request-id", "req-direct", 0}, {"x-yw-caller", value, 0},
                        {"x-yw-caller-sig", sig, 0}};
  assert_int_equal(call_who_reply(WHO, direct, 3, 5000, &who_reply, downstream), GRPC_STATUS_OK);
  assert_string_equal(who_reply->subject, "p-1001");
  assert_string_equal(who_reply->via, "");
  protobuf_c_message_free_unpacked(&who_reply->base, NULL);
}

static void test_forged_via_does_not_verify(void **state) {
  (void)state;
  /* what the relay would send downstream ... */
  yw_caller c;
  memset(&c, 0, sizeof c);
  c.kind = YW_CALLER_PERSON;
  snprintf(c.subject, sizeof c.subject, "p-1001");
  char value[YW_CALLER_VALUE_MAX], sig[65];
  assert_int_equal(yw_caller_forward(&c, &keys, "relay", WHO, "req-forged", (long long)time(NULL),
                                     value, sizeof value, sig),
                   0);
  assert_non_null(strstr(value, ";via=relay"));
  /* ... as sent, it verifies */
  yw_rpc_md md[] = {{"x-request-id", "req-forged", 0}, {"x-yw-caller", value, 0},
                    {"x-yw-caller-sig", sig, 0}};
  Yiwang__Test__V1__WhoReply *who_reply = NULL;
  assert_int_equal(call_who_reply(WHO, md, 3, 5000, &who_reply, downstream), GRPC_STATUS_OK);
  assert_string_equal(who_reply->via, "relay");
  protobuf_c_message_free_unpacked(&who_reply->base, NULL);
  /* with another via, or none (posing as the gateway), it does not */
  char forged[YW_CALLER_VALUE_MAX];
  const char *variants[] = {";via=admin", ";via=relay,admin", ""};
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    snprintf(forged, sizeof forged, "%.*s%s", (int)(strstr(value, ";via=") - value), value,
             variants[i]);
    md[1].value = forged;
    assert_int_equal(call_who_reply(WHO, md, 3, 5000, &who_reply, downstream), GRPC_STATUS_OK);
    assert_string_equal(who_reply->error, "the caller does not verify");
    assert_string_equal(who_reply->subject, "");
    protobuf_c_message_free_unpacked(&who_reply->base, NULL);
  }
  /* a service signs only with the current key: a forwarded caller's kid is the current */
  yw_caller out;
  assert_int_equal(yw_caller_decode(value, sig, &keys, WHO, "req-forged", (long long)time(NULL),
                                    &out),
                   0);
  assert_string_equal(out.key_id, keys.current_id);
}

static void test_relay_refuses_a_caller_that_does_not_verify(void **state) {
  (void)state;
  char value[YW_CALLER_VALUE_MAX], sig[65];
  /* signed for another request id: the relay must not pass it on */
  gateway_sign(RELAY "Relay", "req-other", value, sizeof value, sig);
  yw_rpc_md md[] = {{"x-request-id", "req-fwd-2", 0}, {"x-yw-caller", value, 0},
                    {"x-yw-caller-sig", sig, 0}};
  Yiwang__Test__V1__WhoReply *who_reply = NULL;
  assert_int_equal(call_who_reply(RELAY "Relay", md, 3, 5000, &who_reply, channel),
                   GRPC_STATUS_UNAUTHENTICATED);
  assert_null(who_reply);
}

struct stream_sink {
  char text[160];
  int done;
  grpc_status_code status;
};
static int n_stream_done;

static int stream_message(void *arg, const uint8_t *data, size_t len) {
  struct stream_sink *s = arg;
  Yiwang__Test__V1__WatchEvent *ev = yiwang__test__v1__watch_event__unpack(NULL, len, data);
  if (ev != NULL) {
    snprintf(s->text, sizeof s->text, "%s", ev->text);
    yiwang__test__v1__watch_event__free_unpacked(ev, NULL);
  }
  return 0;
}

static void stream_done(void *arg, const yw_rpc_result *r) {
  struct stream_sink *s = arg;
  pthread_mutex_lock(&mu);
  s->status = r->status;
  s->done = 1;
  n_stream_done++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void test_stream_forwards_with_its_caller_and_a_bounded_deadline(void **state) {
  (void)state;
  n_stream_done = 0;
  const char *method = "/yiwang.test.v1.StreamService/Watch";
  char value[YW_CALLER_VALUE_MAX], sig[65];
  gateway_sign(method, "req-stream-fwd", value, sizeof value, sig);
  yw_rpc_md md[] = {{"x-request-id", "req-stream-fwd", 0}, {"x-yw-caller", value, 0},
                    {"x-yw-caller-sig", sig, 0}};
  Yiwang__Test__V1__WatchRequest req = YIWANG__TEST__V1__WATCH_REQUEST__INIT;
  uint8_t buf[16];
  size_t len = yiwang__test__v1__watch_request__pack(&req, buf);
  struct stream_sink sink = {0};
  /* no deadline, as long-lived streams are opened */
  assert_int_equal(yw_rpc_stream_call_start(channel, method, buf, len, md, 3, 0, stream_message,
                                            stream_done, &sink, NULL),
                   0);
  assert_int_equal(wait_count(&n_stream_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_OK);
  char subject[64], via[64], rid[64];
  long long ms_left = -1;
  assert_int_equal(sscanf(sink.text, "%63[^|]|%63[^|]|%63[^|]|%lld", subject, via, rid, &ms_left),
                   4);
  assert_string_equal(subject, "p-1001");
  assert_string_equal(via, "relay");
  assert_string_equal(rid, "req-stream-fwd");
  /* a call without a deadline still gives the downstream one: the default */
  assert_true(ms_left > 0 && ms_left <= YW_RPC_FORWARD_DEFAULT_MS + YW_RPC_FORWARD_DEFAULT_MS / 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_deferred_calls_free_the_only_handler_thread, reset),
      cmocka_unit_test_setup(test_deferred_calls_past_the_cap_are_refused, reset),
      cmocka_unit_test_setup(test_cancelled_deferred_call_runs_its_cancel_callback_once, reset),
      cmocka_unit_test_setup(test_deferred_call_past_its_deadline_runs_its_cancel_callback, reset),
      cmocka_unit_test_setup(test_call_whose_deadline_passed_in_the_queue_is_not_left_open, reset),
      cmocka_unit_test_setup(test_shutdown_is_bounded_by_a_deferred_call_never_finished, reset),
      cmocka_unit_test_setup(test_forwarded_call_carries_deadline_request_id_and_caller, reset),
      cmocka_unit_test_setup(test_forged_via_does_not_verify, reset),
      cmocka_unit_test_setup(test_relay_refuses_a_caller_that_does_not_verify, reset),
      cmocka_unit_test_setup(test_stream_forwards_with_its_caller_and_a_bounded_deadline, reset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
