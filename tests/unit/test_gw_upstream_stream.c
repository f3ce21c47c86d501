/*
 * test_gw_upstream_stream.c - the gateway's loop-native gRPC client (gw_upstream.c) on
 * server-streaming calls, against the runtime's real gRPC core server (lib/yw_rpc,
 * in-process, a sender thread per stream here) serving yiwang.test.v1.FeedService.
 *
 * Proves: every message arrives in order, one callback each, before the end with its
 * status and trailers; flow control: a caller that acknowledges nothing receives no
 * more than the stream's window (the server is held back, not buffered for), and the
 * rest comes once it acknowledges; the caller's cancel reaches the server's stream
 * (its cancel callback runs); an error after some messages comes after them; unary
 * calls on the same client still work (their windows are given back by hand now too).
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_upstream.h"
#include "yiwang/test/v1/feed.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define WATCH "/yiwang.test.v1.FeedService/Watch"
#define WINDOW (256 * 1024) /* the client's stream window in these tests */

/* ---- the server: a thread per stream sends count messages of size bytes ----------- */

static atomic_int server_cancels, senders_running;

typedef struct sender {
  yw_rpc_stream *st;
  int count, size, fail_after;
  atomic_int cancelled;
} sender;

static void on_server_cancel(void *arg) {
  sender *s = arg;
  atomic_store(&s->cancelled, 1);
  atomic_fetch_add(&server_cancels, 1);
}

/* the senders of a test: no allocation, so a cancel callback that comes late still finds
 * its sender */
static sender senders[128];
static atomic_int n_senders;

static void *send_main(void *arg) {
  sender *s = arg;
  char *text = malloc((size_t)s->size + 1);
  memset(text, 'x', (size_t)s->size);
  text[s->size] = '\0';
  int code = 0;
  for (int i = 0; i < s->count && !atomic_load(&s->cancelled); i++) {
    if (s->fail_after > 0 && i == s->fail_after) {
      code = YW_EUNAVAIL;
      break;
    }
    /* the queue is kept short, so what the client does not take holds this back */
    while (yw_rpc_stream_queued(s->st) >= 2 && !atomic_load(&s->cancelled)) usleep(1000);
    Yiwang__Test__V1__FeedEvent ev = YIWANG__TEST__V1__FEED_EVENT__INIT;
    ev.seq = i + 1;
    ev.topic = "t";
    ev.text = text;
    if (yw_rpc_stream_send(s->st, &ev.base) != 0) break;
  }
  if (!atomic_load(&s->cancelled)) {
    if (code == 0) yw_rpc_call_add_trailer(yw_rpc_stream_call(s->st), "x-sent", "all");
    yw_rpc_stream_finish(s->st, code, code != 0 ? "the feed broke off" : NULL);
  }
  /* the cancel callback may still run until the stream's last reference is gone */
  while (!yw_rpc_stream_ended(s->st)) usleep(1000);
  yw_rpc_stream_unref(s->st);
  free(text);
  atomic_fetch_sub(&senders_running, 1);
  return NULL;
}

static int watch(yw_rpc_stream *st, const ProtobufCMessage *reqm, void *data) {
  (void)data;
  const Yiwang__Test__V1__FeedWatchRequest *req = (const void *)reqm;
  int k = atomic_fetch_add(&n_senders, 1);
  if (k >= (int)(sizeof senders / sizeof senders[0])) return YW_ELIMIT;
  sender *s = &senders[k];
  memset(s, 0, sizeof *s);
  s->st = st;
  s->count = req->count;
  s->size = req->size;
  s->fail_after = req->fail_after;
  yw_rpc_stream_on_cancel(st, on_server_cancel, s);
  atomic_fetch_add(&senders_running, 1);
  pthread_t t;
  pthread_create(&t, NULL, send_main, s);
  pthread_detach(t);
  return 0;
}

static const yw_rpc_method methods[] = {{"Watch", NULL, watch}};
static const yw_rpc_service service = {&yiwang__test__v1__feed_service__descriptor, methods, 1,
                                       NULL};

/* ---- the client on a loop ---------------------------------------------------------- */

static struct event_base *base;
static yw_rpc_server *server;
static gw_upstream_client *up;

typedef struct got {
  gw_upstream_pending *call;
  int msgs, in_order, done;
  size_t bytes, unacked;
  int ack;                 /* acknowledge each message at once */
  int cancel_after;        /* cancel the call after this many messages (0: never) */
  grpc_status_code status;
  char trailer[32];
} got;

static void on_msg(void *arg, gw_upstream_pending *call, uint8_t *frame, size_t len) {
  got *g = arg;
  Yiwang__Test__V1__FeedEvent *ev =
      yiwang__test__v1__feed_event__unpack(NULL, len - 5, frame + 5);
  if (ev == NULL || ev->seq != g->msgs + 1) g->in_order = 0;
  if (ev != NULL) yiwang__test__v1__feed_event__free_unpacked(ev, NULL);
  free(frame);
  g->msgs++;
  g->bytes += len;
  if (g->ack)
    gw_upstream_stream_ack(call, len);
  else
    g->unacked += len;
  if (g->cancel_after > 0 && g->msgs == g->cancel_after) gw_upstream_cancel(call);
}

static void on_done(void *arg, const gw_upstream_result *r) {
  got *g = arg;
  g->done = 1;
  g->status = r->status;
  g->call = NULL;
  for (size_t i = 0; i < r->n_trailers; i++)
    if (strcmp(r->trailers[i].name, "x-sent") == 0)
      snprintf(g->trailer, sizeof g->trailer, "%s", r->trailers[i].value);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
  event_base_loopbreak(base);
}

/* Runs the loop until *flag is set or ms have passed. */
static void run_until(const int *flag, int ms) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (flag != NULL && *flag) return;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) return;
    struct timeval tv = {0, (left < 20 ? left : 20) * 1000};
    event_base_once(base, -1, EV_TIMEOUT, on_timer, NULL, &tv);
    event_base_dispatch(base);
  }
}

static void start_watch(got *g, int count, int size, int fail_after) {
  Yiwang__Test__V1__FeedWatchRequest req = YIWANG__TEST__V1__FEED_WATCH_REQUEST__INIT;
  req.topic = "t";
  req.count = count;
  req.size = size;
  req.fail_after = fail_after;
  static uint8_t buf[64];
  size_t len = yiwang__test__v1__feed_watch_request__pack(&req, buf);
  g->in_order = 1;
  assert_int_equal(gw_upstream_stream(up, WATCH, buf, len, NULL, 0, 0, on_msg, on_done, g,
                                      &g->call),
                   0);
}

static int setup(void **state) {
  (void)state;
  atomic_store(&server_cancels, 0);
  atomic_store(&n_senders, 0);
  if (yw_rpc_server_new("127.0.0.1:0", 2, &server) != 0) return -1;
  yw_rpc_server_set_queue(server, 1000); /* fifty streams may come at once */
  if (yw_rpc_server_add_service(server, &service) != 0 || yw_rpc_server_start(server) != 0)
    return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(server));
  base = event_base_new();
  gw_upstream_opts o = {.stream_window = WINDOW};
  return gw_upstream_new(base, target, &o, &up);
}

static int teardown(void **state) {
  (void)state;
  gw_upstream_free(up);
  event_base_free(base);
  /* every sender has seen its stream end (the client's free cancelled the rest) */
  for (int i = 0; i < 1000 && atomic_load(&senders_running) > 0; i++) usleep(10000);
  yw_rpc_server_free(server);
  return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_messages_arrive_in_order_before_the_end(void **state) {
  (void)state;
  got g = {.ack = 1};
  start_watch(&g, 200, 100, 0);
  run_until(&g.done, 10000);
  assert_true(g.done);
  assert_int_equal(g.status, GRPC_STATUS_OK);
  assert_int_equal(g.msgs, 200);
  assert_true(g.in_order);
  assert_string_equal(g.trailer, "all");
}

static void test_a_caller_that_takes_nothing_holds_the_server_back(void **state) {
  (void)state;
  /* 200 messages of 16 KiB (3.2 MiB) against a window of 256 KiB */
  got g = {.ack = 0};
  start_watch(&g, 200, 16384, 0);
  /* the window fills: its whole messages arrive (15 of 16389 bytes in 256 KiB) */
  int filled = 0;
  for (int i = 0; i < 500 && !filled; i++) {
    run_until(NULL, 20);
    filled = g.bytes >= WINDOW - 16389;
  }
  assert_true(filled);
  /* and nothing more comes while the caller takes nothing */
  run_until(NULL, 300);
  assert_false(g.done);
  assert_true(g.bytes <= WINDOW);
  assert_int_equal(g.msgs, (int)(WINDOW / 16389));
  /* acknowledging all of it lets the rest come */
  g.ack = 1;
  gw_upstream_stream_ack(g.call, g.unacked);
  g.unacked = 0;
  run_until(&g.done, 20000);
  assert_true(g.done);
  assert_int_equal(g.status, GRPC_STATUS_OK);
  assert_int_equal(g.msgs, 200);
  assert_true(g.in_order);
}

static void test_the_callers_cancel_reaches_the_servers_stream(void **state) {
  (void)state;
  got g = {.ack = 1, .cancel_after = 3};
  start_watch(&g, 100000, 10, 0);
  run_until(&g.done, 10000);
  assert_true(g.done);
  assert_int_equal(g.status, GRPC_STATUS_CANCELLED);
  assert_int_equal(g.msgs, 3); /* nothing is handed over after the cancel */
  for (int i = 0; i < 500 && atomic_load(&server_cancels) == 0; i++) usleep(10000);
  assert_int_equal(atomic_load(&server_cancels), 1);
}

static void test_an_error_after_messages_comes_after_them(void **state) {
  (void)state;
  got g = {.ack = 1};
  start_watch(&g, 10, 10, 4);
  run_until(&g.done, 10000);
  assert_true(g.done);
  assert_int_equal(g.msgs, 4);
  assert_int_equal(g.status, GRPC_STATUS_UNAVAILABLE);
}

static void test_many_streams_at_once_on_one_client(void **state) {
  (void)state;
  got g[50];
  memset(g, 0, sizeof g);
  for (int i = 0; i < 50; i++) {
    g[i].ack = 1;
    start_watch(&g[i], 20, 1000, 0);
  }
  int all = 0;
  for (int round = 0; round < 500 && !all; round++) {
    run_until(NULL, 20);
    all = 1;
    for (int i = 0; i < 50; i++) all = all && g[i].done;
  }
  assert_true(all);
  for (int i = 0; i < 50; i++) {
    assert_int_equal(g[i].status, GRPC_STATUS_OK);
    assert_int_equal(g[i].msgs, 20);
    assert_true(g[i].in_order);
  }
}

int main(void) {
  yw_rpc_block_signals();
  yw_log_init("test_gw_upstream_stream", YW_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_messages_arrive_in_order_before_the_end, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_caller_that_takes_nothing_holds_the_server_back,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_the_callers_cancel_reaches_the_servers_stream, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_an_error_after_messages_comes_after_them, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_many_streams_at_once_on_one_client, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
