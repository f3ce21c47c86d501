/*
 * test_rpc_stream.c - server streams in the runtime, on the real gRPC core over loopback,
 * received with the runtime's own streaming client. Proves: the method kinds come from
 * the .proto files and a handler of the wrong kind (or a client-streaming method) is
 * refused at registration; 1000 messages arrive in order; a producer paced by the
 * queue (yw_rpc_stream_on_drain) sends 5000 through a queue of 64; an error before any message
 * is an ordinary status; 200 streams stay open on 2 handler threads and are sent to and
 * finished from another thread; a client's cancel runs the cancel callback once and
 * later sends return YW_ECANCELED, and so does a deadline the client gave; streams past
 * the cap are refused; a slow reader is cut
 * at the queue bound with RESOURCE_EXHAUSTED; shutdown ends open streams with
 * UNAVAILABLE and tells their holders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "yiwang/test/v1/echo.pb-c.h"
#include "yiwang/test/v1/stream.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define WATCH "/yiwang.test.v1.StreamService/Watch"
#define MAX_HELD 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* Waits (at most 20 s) until *counter reaches want; returns the value seen. */
static int wait_count(const int *counter, int want) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&mu);
  while (*counter < want && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
  }
  int seen = *counter;
  pthread_mutex_unlock(&mu);
  return seen;
}

/* ---- the service: streams the test holds --------------------------------------------- */

struct held {
  yw_rpc_stream *st;
  int cancels; /* cancel callbacks run for it */
};
static struct held held[MAX_HELD];
static int n_slots, n_held, n_cancels; /* slots taken, streams ready, callbacks run */

static int gate_open, gate_held; /* the "gate" handler and the slow client wait on it */

/* what the flood producer saw */
static int flood_sent, flood_rc, flood_over;

static void on_cancel(void *arg) {
  struct held *h = arg;
  pthread_mutex_lock(&mu);
  h->cancels++;
  n_cancels++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int send_event(yw_rpc_stream *st, int64_t seq, const char *text, size_t blob) {
  Yiwang__Test__V1__WatchEvent ev = YIWANG__TEST__V1__WATCH_EVENT__INIT;
  ev.seq = seq;
  ev.text = (char *)text;
  uint8_t *b = NULL;
  if (blob > 0) {
    b = calloc(1, blob);
    ev.blob.data = b;
    ev.blob.len = blob;
  }
  int rc = yw_rpc_stream_send(st, &ev.base);
  free(b);
  return rc;
}

/* Sends until the stream refuses, as a producer that ignores its reader would. */
static void *flood(void *arg) {
  yw_rpc_stream *st = arg;
  int rc = 0, n = 0;
  while (rc == 0 && n < 100000) {
    rc = send_event(st, n + 1, "flood", 64 * 1024);
    if (rc == 0) n++;
  }
  pthread_mutex_lock(&mu);
  flood_sent = n;
  flood_rc = rc;
  flood_over = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  yw_rpc_stream_unref(st);
  return NULL;
}

/* A replay paced by the queue: sends while there is room, again when it drains. */
struct replay {
  pthread_mutex_t mu; /* the handler's first batch and drain callbacks may overlap */
  yw_rpc_stream *st;
  int next, count, batch;
};
static struct replay replay = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void replay_more(void *arg) {
  struct replay *r = arg;
  pthread_mutex_lock(&r->mu);
  if (r->st == NULL) {
    pthread_mutex_unlock(&r->mu);
    return;
  }
  while (r->next <= r->count && yw_rpc_stream_queued(r->st) < r->batch) {
    if (send_event(r->st, r->next, "replayed", 0) != 0) break;
    r->next++;
  }
  if (r->next > r->count) {
    yw_rpc_stream_on_drain(r->st, NULL, NULL);
    yw_rpc_stream_finish(r->st, 0, NULL);
    yw_rpc_stream_unref(r->st);
    r->st = NULL;
  }
  pthread_mutex_unlock(&r->mu);
}

/*
 * count > 0: sends count messages, then finishes OK. mode "fail": NOT_FOUND before any
 * message. mode "hold": sends one message and keeps the stream for the test. mode
 * "flood": a thread sends until the stream refuses.
 */
static int watch(yw_rpc_stream *st, const ProtobufCMessage *reqm, void *data) {
  (void)data;
  const Yiwang__Test__V1__WatchRequest *req = (const void *)reqm;
  if (strcmp(req->mode, "fail") == 0)
    return yw_rpc_call_fail(yw_rpc_stream_call(st), YW_ENOTFOUND, "no such topic");
  if (strcmp(req->mode, "hold") == 0) {
    pthread_mutex_lock(&mu);
    struct held *h = &held[n_slots++];
    h->st = st; /* the handler's reference, given back by the test */
    pthread_mutex_unlock(&mu);
    yw_rpc_stream_on_cancel(st, on_cancel, h);
    send_event(st, 1, "hello", 0);
    pthread_mutex_lock(&mu);
    n_held++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
  }
  if (strcmp(req->mode, "gate") == 0) {
    /* holds this handler thread until the test opens the gate, then ends at once */
    pthread_mutex_lock(&mu);
    gate_held = 1;
    pthread_cond_broadcast(&cv);
    while (!gate_open) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    yw_rpc_stream_finish(st, 0, NULL);
    yw_rpc_stream_unref(st);
    return 0;
  }
  if (strcmp(req->mode, "replay") == 0) {
    pthread_mutex_lock(&replay.mu);
    replay.st = st;
    replay.next = 1;
    replay.count = req->count;
    replay.batch = 32;
    pthread_mutex_unlock(&replay.mu);
    yw_rpc_stream_on_drain(st, replay_more, &replay);
    replay_more(&replay);
    return 0;
  }
  if (strcmp(req->mode, "flood") == 0) {
    yw_rpc_stream_on_cancel(st, on_cancel, &held[0]);
    pthread_t t;
    pthread_create(&t, NULL, flood, st); /* the thread gives the reference back */
    pthread_detach(t);
    return 0;
  }
  for (int i = 1; i <= req->count; i++)
    if (send_event(st, i, "event", 0) != 0) break;
  yw_rpc_stream_finish(st, 0, NULL);
  yw_rpc_stream_unref(st);
  return 0;
}

static int unary(yw_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **out,
                 void *data) {
  (void)call;
  (void)req;
  (void)out;
  (void)data;
  return YW_EINTERNAL;
}

static int stream_fn(yw_rpc_stream *st, const ProtobufCMessage *req, void *data) {
  (void)st;
  (void)req;
  (void)data;
  return YW_EINTERNAL;
}

static const yw_rpc_method watch_methods[] = {{.name = "Watch", .stream = watch}};
static const yw_rpc_service watch_service = {&yiwang__test__v1__stream_service__descriptor,
                                             watch_methods, 1, NULL};

/* ---- the client side ---------------------------------------------------------------- */

struct sink {
  int n;
  int64_t last;
  int out_of_order;
  int done;
  grpc_status_code status;
  int gated; /* the first message blocks the client's thread until gate_open */
  int stop_at; /* when not 0: the callback stops the call at this message */
};
static int n_done, n_messages;

static int on_message(void *arg, const uint8_t *data, size_t len) {
  struct sink *s = arg;
  Yiwang__Test__V1__WatchEvent *ev = yiwang__test__v1__watch_event__unpack(NULL, len, data);
  pthread_mutex_lock(&mu);
  if (ev == NULL || ev->seq != s->last + 1) s->out_of_order++;
  if (ev != NULL) s->last = ev->seq;
  s->n++;
  n_messages++;
  pthread_cond_broadcast(&cv);
  while (s->gated && !gate_open) pthread_cond_wait(&cv, &mu);
  int stop = s->stop_at != 0 && s->n >= s->stop_at;
  pthread_mutex_unlock(&mu);
  if (ev != NULL) yiwang__test__v1__watch_event__free_unpacked(ev, NULL);
  return stop;
}

static void on_done(void *arg, const yw_rpc_result *r) {
  struct sink *s = arg;
  pthread_mutex_lock(&mu);
  s->status = r->status;
  s->done = 1;
  n_done++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int open_watch_within(yw_rpc_channel *ch, int count, const char *mode, struct sink *s,
                             yw_rpc_pending **handle, int64_t timeout_ms) {
  Yiwang__Test__V1__WatchRequest req = YIWANG__TEST__V1__WATCH_REQUEST__INIT;
  req.count = count;
  req.mode = (char *)mode;
  uint8_t buf[64];
  size_t len = yiwang__test__v1__watch_request__pack(&req, buf);
  return yw_rpc_stream_call_start(ch, WATCH, buf, len, NULL, 0, timeout_ms, on_message, on_done,
                                  s, handle);
}

/* A stream without a deadline, as long-lived streams are opened. */
static int open_watch(yw_rpc_channel *ch, int count, const char *mode, struct sink *s,
                      yw_rpc_pending **handle) {
  return open_watch_within(ch, count, mode, s, handle, 0);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static yw_rpc_client *client;

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_ERROR);
  return yw_rpc_client_new(&client);
}

static int teardown(void **state) {
  (void)state;
  yw_rpc_client_free(client);
  return 0;
}

static int reset(void **state) {
  (void)state;
  pthread_mutex_lock(&mu);
  memset(held, 0, sizeof held);
  n_slots = n_held = n_cancels = n_done = n_messages = 0;
  flood_sent = flood_rc = flood_over = 0;
  gate_open = gate_held = 0;
  pthread_mutex_unlock(&mu);
  return 0;
}

/* A server of StreamService with threads handler threads, and a channel to it. */
static yw_rpc_server *start_server(int threads, int max_streams, int stream_queue,
                                   yw_rpc_client *c, yw_rpc_channel **ch) {
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new("127.0.0.1:0", threads, &s), 0);
  assert_int_equal(yw_rpc_server_set_queue(s, 256), 0);
  if (max_streams > 0) assert_int_equal(yw_rpc_server_set_max_streams(s, max_streams), 0);
  if (stream_queue > 0) assert_int_equal(yw_rpc_server_set_stream_queue(s, stream_queue), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &watch_service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(s));
  *ch = yw_rpc_channel_new(c, target, 4, 0);
  assert_non_null(*ch);
  return s;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_method_kinds_come_from_the_protos(void **state) {
  (void)state;
  assert_int_equal(yw_rpc_method_streams(WATCH), YW_RPC_SERVER_STREAMING);
  assert_int_equal(yw_rpc_method_streams("/yiwang.test.v1.BidiService/Chat"),
                   YW_RPC_CLIENT_STREAMING);
  assert_int_equal(yw_rpc_method_streams("/yiwang.test.v1.RelayService/Slow"), YW_RPC_UNARY);
  assert_int_equal(yw_rpc_method_streams("/yiwang.test.v1.EchoService/Echo"), YW_RPC_UNARY);
  assert_int_equal(yw_rpc_method_streams("/yiwang.test.v1.EchoService/Missing"), YW_ENOTFOUND);
}

static void test_handler_of_the_wrong_kind_is_refused(void **state) {
  (void)state;
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new("127.0.0.1:0", 1, &s), 0);
  /* a stream method served as unary: never again silently */
  static const yw_rpc_method as_unary[] = {{.name = "Watch", .fn = unary}};
  static const yw_rpc_service w1 = {&yiwang__test__v1__stream_service__descriptor, as_unary, 1,
                                    NULL};
  assert_int_equal(yw_rpc_server_add_service(s, &w1), YW_EINVAL);
  /* both kinds at once */
  static const yw_rpc_method both[] = {{.name = "Watch", .fn = unary, .stream = stream_fn}};
  static const yw_rpc_service w2 = {&yiwang__test__v1__stream_service__descriptor, both, 1, NULL};
  assert_int_equal(yw_rpc_server_add_service(s, &w2), YW_EINVAL);
  /* a unary method served as a stream */
  static const yw_rpc_method relay_as_stream[] = {{.name = "Slow", .stream = stream_fn},
                                                  {.name = "Relay", .fn = unary}};
  static const yw_rpc_service r = {&yiwang__test__v1__relay_service__descriptor, relay_as_stream,
                                   2, NULL};
  assert_int_equal(yw_rpc_server_add_service(s, &r), YW_EINVAL);
  /* client and bidirectional streaming are refused clearly */
  static const yw_rpc_method chat[] = {{.name = "Chat", .stream = stream_fn}};
  static const yw_rpc_service b = {&yiwang__test__v1__bidi_service__descriptor, chat, 1, NULL};
  assert_int_equal(yw_rpc_server_add_service(s, &b), YW_EINVAL);
  /* the right kinds are taken */
  assert_int_equal(yw_rpc_server_add_service(s, &watch_service), 0);
  yw_rpc_server_free(s);
}

static void test_thousand_messages_arrive_in_order(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(2, 0, 2000, client, &ch);
  struct sink sink = {0};
  assert_int_equal(open_watch(ch, 1000, "", &sink, NULL), 0);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_OK);
  assert_int_equal(sink.n, 1000);
  assert_int_equal(sink.last, 1000);
  assert_int_equal(sink.out_of_order, 0);
  yw_rpc_server_stats stats;
  yw_rpc_server_stats_get(s, &stats);
  assert_int_equal(stats.stream_messages, 1000);
  assert_int_equal(stats.streams_total, 1);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

static void test_replay_paced_by_the_queue_is_never_cut(void **state) {
  (void)state;
  /* 5000 messages through a queue of 64: the producer sends as the queue drains */
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(1, 0, 64, client, &ch);
  struct sink sink = {0};
  assert_int_equal(open_watch(ch, 5000, "replay", &sink, NULL), 0);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_OK);
  assert_int_equal(sink.n, 5000);
  assert_int_equal(sink.out_of_order, 0);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

static void test_error_before_any_message_is_a_plain_status(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(1, 0, 0, client, &ch);
  struct sink sink = {0};
  assert_int_equal(open_watch(ch, 0, "fail", &sink, NULL), 0);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_NOT_FOUND);
  assert_int_equal(sink.n, 0);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

static void test_two_hundred_streams_on_two_handler_threads(void **state) {
  (void)state;
  enum { N = 200 };
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(2, 0, 0, client, &ch);
  static struct sink sinks[N];
  memset(sinks, 0, sizeof sinks);
  for (int i = 0; i < N; i++) assert_int_equal(open_watch(ch, 0, "hold", &sinks[i], NULL), 0);
  /* every stream is open at once, each got its first message, with 2 handler threads */
  assert_int_equal(wait_count(&n_held, N), N);
  assert_int_equal(wait_count(&n_messages, N), N);
  pthread_mutex_lock(&mu);
  assert_int_equal(n_done, 0);
  pthread_mutex_unlock(&mu);
  /* no thread is held by them: the handlers all return (each may still be between its
   * first message and its return for a moment), with every stream still open */
  yw_rpc_server_stats stats;
  for (int i = 0; i < 10000; i++) {
    yw_rpc_server_stats_get(s, &stats);
    if (stats.running == 0) break;
    usleep(1000);
  }
  assert_int_equal(stats.running, 0);
  assert_int_equal(stats.queued, 0);
  assert_int_equal(stats.streams_open, N);
  /* this thread (not a handler) sends to each and finishes it */
  for (int i = 0; i < N; i++) {
    assert_int_equal(send_event(held[i].st, 2, "second", 0), 0);
    yw_rpc_stream_finish(held[i].st, 0, NULL);
    yw_rpc_stream_unref(held[i].st);
  }
  assert_int_equal(wait_count(&n_done, N), N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(sinks[i].status, GRPC_STATUS_OK);
    assert_int_equal(sinks[i].n, 2);
    assert_int_equal(sinks[i].out_of_order, 0);
  }
  assert_int_equal(n_cancels, 0); /* finished by their holder: no cancel callback */
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

static void test_client_cancel_runs_the_cancel_callback_once(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(1, 0, 0, client, &ch);
  struct sink sink = {0};
  yw_rpc_pending *handle = NULL;
  assert_int_equal(open_watch(ch, 0, "hold", &sink, &handle), 0);
  assert_int_equal(wait_count(&n_messages, 1), 1);
  yw_rpc_pending_cancel(handle);
  assert_int_equal(wait_count(&n_cancels, 1), 1);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_CANCELLED);
  /* later sends are no-ops, finish is harmless, and the callback does not run again */
  assert_int_equal(yw_rpc_stream_ended(held[0].st), 1);
  assert_int_equal(send_event(held[0].st, 2, "late", 0), YW_ECANCELED);
  assert_int_equal(send_event(held[0].st, 3, "late", 0), YW_ECANCELED);
  yw_rpc_stream_finish(held[0].st, 0, NULL);
  yw_rpc_stream_unref(held[0].st);
  assert_int_equal(held[0].cancels, 1);
  yw_rpc_pending_release(handle);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
  assert_int_equal(n_cancels, 1);
}

static void test_stream_cancelled_while_queued_for_a_handler(void **state) {
  (void)state;
  /* the only handler thread is held, so the second stream waits in the queue */
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(1, 0, 0, client, &ch);
  struct sink gated = {0}, queued = {0};
  assert_int_equal(open_watch(ch, 0, "gate", &gated, NULL), 0);
  assert_int_equal(wait_count(&gate_held, 1), 1);
  yw_rpc_pending *handle = NULL;
  assert_int_equal(open_watch(ch, 0, "hold", &queued, &handle), 0);
  yw_rpc_pending_cancel(handle);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(queued.status, GRPC_STATUS_CANCELLED);
  pthread_mutex_lock(&mu);
  gate_open = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  assert_int_equal(wait_count(&n_done, 2), 2);
  assert_int_equal(gated.status, GRPC_STATUS_OK);
  /* whichever came first on the server, the cancel or the handler: a handler that ran
   * was told by its cancel callback, and its sends are refused */
  pthread_mutex_lock(&mu);
  int ran = n_slots;
  pthread_mutex_unlock(&mu);
  if (ran > 0) {
    assert_int_equal(wait_count(&n_cancels, 1), 1);
    assert_int_equal(send_event(held[0].st, 2, "late", 0), YW_ECANCELED);
    yw_rpc_stream_unref(held[0].st);
  }
  yw_rpc_pending_release(handle);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s); /* returns: nothing of the cancelled stream is left open */
}

static void test_stream_past_the_deadline_its_client_gave_ends(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(1, 0, 0, client, &ch);
  struct sink sink = {0};
  assert_int_equal(open_watch_within(ch, 0, "hold", &sink, NULL, 300), 0);
  assert_int_equal(wait_count(&n_held, 1), 1);
  assert_true(yw_rpc_stream_ms_left(held[0].st) <= 300 + 30);
  /* nobody finishes it: the deadline does, and the holder is told */
  assert_int_equal(wait_count(&n_cancels, 1), 1);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_int_equal(send_event(held[0].st, 2, "late", 0), YW_ECANCELED);
  yw_rpc_stream_unref(held[0].st);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

static void test_client_callback_stops_the_stream(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(1, 0, 0, client, &ch);
  struct sink sink = {0};
  sink.stop_at = 3;
  assert_int_equal(open_watch(ch, 0, "hold", &sink, NULL), 0);
  assert_int_equal(wait_count(&n_held, 1), 1);
  for (int i = 2; i <= 6; i++) send_event(held[0].st, i, "more", 0); /* some may be refused */
  /* the third message's callback stopped it: status CANCELLED, and the server's holder
   * was told (a message gRPC had already taken in may still be handed over) */
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_CANCELLED);
  assert_true(sink.n >= 3);
  assert_int_equal(wait_count(&n_cancels, 1), 1);
  yw_rpc_stream_unref(held[0].st);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

static void test_streams_past_the_cap_are_refused(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(2, 2, 0, client, &ch);
  struct sink a = {0}, b = {0}, c = {0};
  assert_int_equal(open_watch(ch, 0, "hold", &a, NULL), 0);
  assert_int_equal(open_watch(ch, 0, "hold", &b, NULL), 0);
  assert_int_equal(wait_count(&n_held, 2), 2);
  assert_int_equal(open_watch(ch, 0, "hold", &c, NULL), 0);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_true(c.done);
  assert_int_equal(c.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(c.n, 0);
  assert_int_equal(n_held, 2); /* its handler never ran */
  for (int i = 0; i < 2; i++) {
    yw_rpc_stream_finish(held[i].st, 0, NULL);
    yw_rpc_stream_unref(held[i].st);
  }
  assert_int_equal(wait_count(&n_done, 3), 3);
  assert_int_equal(a.status, GRPC_STATUS_OK);
  assert_int_equal(b.status, GRPC_STATUS_OK);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

/* A flood of 64 KiB messages to a client that reads nothing, against a server whose
 * stream queue holds count messages or bytes bytes (0: the default). */
static void slow_reader_is_cut(int count, size_t bytes) {
  /* a client of its own: its thread is held by the first message, so it reads nothing */
  yw_rpc_client *slow = NULL;
  assert_int_equal(yw_rpc_client_new(&slow), 0);
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new("127.0.0.1:0", 1, &s), 0);
  assert_int_equal(yw_rpc_server_set_stream_queue(s, count), 0);
  if (bytes > 0) assert_int_equal(yw_rpc_server_set_stream_queue_bytes(s, bytes), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &watch_service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(s));
  ch = yw_rpc_channel_new(slow, target, 1, 0);
  struct sink sink = {0};
  sink.gated = 1;
  assert_int_equal(open_watch(ch, 0, "flood", &sink, NULL), 0);
  assert_int_equal(wait_count(&flood_over, 1), 1);
  /* the producer was stopped by the bound, not by memory: the stream is ended */
  assert_int_equal(flood_rc, YW_ELIMIT);
  assert_true(flood_sent < 100000);
  pthread_mutex_lock(&mu);
  gate_open = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  assert_int_equal(wait_count(&n_done, 1), 1);
  assert_int_equal(sink.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_true(sink.n <= flood_sent);
  yw_rpc_server_stats stats;
  yw_rpc_server_stats_get(s, &stats);
  assert_int_equal(stats.streams_cut, 1);
  assert_int_equal(sink.out_of_order, 0);
  /* its holder learnt that the stream ended */
  assert_int_equal(wait_count(&n_cancels, 1), 1);
  yw_rpc_channel_free(ch);
  yw_rpc_client_free(slow);
  yw_rpc_server_free(s);
}

static void test_slow_reader_is_cut_at_the_queue_bound(void **state) {
  (void)state;
  slow_reader_is_cut(8, 0);
}

static void test_slow_reader_is_cut_at_the_queue_bytes(void **state) {
  (void)state;
  /* 16 messages of 64 KiB fill 1 MiB long before 100000 messages would */
  slow_reader_is_cut(100000, 1 << 20);
}

static void test_shutdown_ends_open_streams_unavailable(void **state) {
  (void)state;
  yw_rpc_channel *ch = NULL;
  yw_rpc_server *s = start_server(2, 0, 0, client, &ch);
  struct sink a = {0}, b = {0};
  assert_int_equal(open_watch(ch, 0, "hold", &a, NULL), 0);
  assert_int_equal(open_watch(ch, 0, "hold", &b, NULL), 0);
  assert_int_equal(wait_count(&n_held, 2), 2);
  yw_rpc_server_shutdown(s, 10000);
  assert_int_equal(wait_count(&n_done, 2), 2);
  assert_int_equal(a.status, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(b.status, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(a.n, 1);
  /* each holder was told, once */
  assert_int_equal(wait_count(&n_cancels, 2), 2);
  assert_int_equal(held[0].cancels, 1);
  assert_int_equal(held[1].cancels, 1);
  assert_int_equal(send_event(held[0].st, 2, "late", 0), YW_ECANCELED);
  for (int i = 0; i < 2; i++) yw_rpc_stream_unref(held[i].st);
  yw_rpc_channel_free(ch);
  yw_rpc_server_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_method_kinds_come_from_the_protos, reset),
      cmocka_unit_test_setup(test_handler_of_the_wrong_kind_is_refused, reset),
      cmocka_unit_test_setup(test_thousand_messages_arrive_in_order, reset),
      cmocka_unit_test_setup(test_replay_paced_by_the_queue_is_never_cut, reset),
      cmocka_unit_test_setup(test_error_before_any_message_is_a_plain_status, reset),
      cmocka_unit_test_setup(test_two_hundred_streams_on_two_handler_threads, reset),
      cmocka_unit_test_setup(test_client_cancel_runs_the_cancel_callback_once, reset),
      cmocka_unit_test_setup(test_stream_past_the_deadline_its_client_gave_ends, reset),
      cmocka_unit_test_setup(test_stream_cancelled_while_queued_for_a_handler, reset),
      cmocka_unit_test_setup(test_client_callback_stops_the_stream, reset),
      cmocka_unit_test_setup(test_streams_past_the_cap_are_refused, reset),
      cmocka_unit_test_setup(test_slow_reader_is_cut_at_the_queue_bound, reset),
      cmocka_unit_test_setup(test_slow_reader_is_cut_at_the_queue_bytes, reset),
      cmocka_unit_test_setup(test_shutdown_ends_open_streams_unavailable, reset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
