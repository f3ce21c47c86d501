/*
 * test_gw_upstream.c - the gateway's loop-native gRPC client against real servers: the
 * gRPC core server of lib/yw_rpc (in-process, on its own threads) while the client runs
 * on a libevent loop in the test's thread, and a small nghttp2 server of our own (a
 * thread here) for what a gRPC core server will not do on demand: a low
 * SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY in the middle of calls, HTTP error statuses,
 * Trailers-Only answers.
 *
 * Proves: a unary round trip with metadata in and custom trailers out; an error status
 * with a UTF-8 message percent-encoded by the server; the deadline (ours, with the
 * server told by grpc-timeout); a cancel the server's handler sees; 500 concurrent calls
 * on one connection under a stream cap; the server's own stream limit kept, by queueing
 * or by more connections; a server that is down failing calls at once; a restarted
 * server used again after the back-off; two servers behind "ipv4:" sharing calls and a
 * dead one left out; 1 MiB both ways and the answer cap; the answer's frame taken
 * without a copy; GOAWAY's refused calls retried on a new connection; HTTP 503 and 404
 * and Trailers-Only mapped as gRPC does; a host name resolved off the loop; malformed
 * metadata refused; freeing the client cancelling its calls; the health check;
 * keepalive ending a connection to a silent host but not a slow call (and staying
 * under gRPC's "too many pings"); mutual TLS with ALPN h2 against the gRPC core TLS
 * server, by address and by name, and the handshakes it must refuse.
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_upstream.h"
#include "yiwang/test/v1/echo.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#ifndef YW_SOURCE_DIR
#error "YW_SOURCE_DIR must name the source tree (tools/pki.sh)"
#endif

#define ECHO "/yiwang.test.v1.EchoService/Echo"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the gRPC core server --------------------------------------------------------- */

/* A handler asked for text "until-cancelled" polls yw_rpc_call_cancelled (for at most
 * 20 s) and records what it saw. */
static atomic_int watcher_started, watcher_saw_cancel, watcher_finished;

static int echo(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                void *data) {
  const Yiwang__Test__V1__EchoRequest *req = (const void *)reqm;
  if (strcmp(req->text, "until-cancelled") == 0) {
    atomic_store(&watcher_started, 1);
    for (int i = 0; i < 4000 && !yw_rpc_call_cancelled(call); i++) usleep(5000);
    atomic_store(&watcher_saw_cancel, yw_rpc_call_cancelled(call));
    atomic_store(&watcher_finished, 1);
  }
  if (req->sleep_ms > 0) usleep((useconds_t)req->sleep_ms * 1000);
  if (req->fail_code != 0)
    return yw_rpc_call_fail(call, -req->fail_code, "failed on purpose: %s", req->text);
  Yiwang__Test__V1__EchoReply *r = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *r);
  yiwang__test__v1__echo_reply__init(r);
  /* "who" answers with the name of the copy that served it (the service's data) */
  const char *text = strcmp(req->text, "who") == 0 && data != NULL ? data : req->text;
  r->text = yw_arena_strndup(yw_rpc_call_arena(call), text, (size_t)-1);
  r->request_id = (char *)yw_rpc_call_request_id(call);
  const char *note = yw_rpc_call_metadata(call, "x-note");
  r->caller_note = (char *)(note != NULL ? note : "");
  r->ms_left = yw_rpc_call_ms_left(call);
  r->blob = req->blob; /* lives in the request, which outlives the packing of the answer */
  yw_rpc_call_add_trailer(call, "x-served-by", "test");
  if (note != NULL) yw_rpc_call_add_trailer(call, "x-note-back", note);
  *out = &r->base;
  return 0;
}

static const yw_rpc_method methods[] = {{"Echo", echo, NULL}, {"Other", echo, NULL}};
static const yw_rpc_service service = {&yiwang__test__v1__echo_service__descriptor, methods, 2,
                                       NULL};
static const yw_rpc_service service_a = {&yiwang__test__v1__echo_service__descriptor, methods, 2,
                                         (void *)"a"};
static const yw_rpc_service service_b = {&yiwang__test__v1__echo_service__descriptor, methods, 2,
                                         (void *)"b"};

static yw_rpc_server *start_server(const char *addr, const yw_rpc_service *svc) {
  yw_rpc_server *s = NULL;
  if (yw_rpc_server_new(addr, 4, &s) != 0) return NULL;
  /* room for every call of the concurrency test at once: the server's own admission
   * limit is not what is under test */
  yw_rpc_server_set_queue(s, 2000);
  if (yw_rpc_server_add_service(s, svc) != 0 || yw_rpc_server_start(s) != 0) {
    yw_rpc_server_free(s);
    return NULL;
  }
  return s;
}

/* ---- the loop and the calls ------------------------------------------------------- */

static struct event_base *base;
static yw_rpc_server *server;
static char target[64];

/* What one call delivered, copied out of the callback. */
typedef struct outcome {
  int done;
  grpc_status_code st;
  char msg[256];
  uint8_t *data;
  size_t len;
  char trailers[512]; /* "k=v;" */
  int http_status;
  int *counter;
} outcome;

static void on_done(void *arg, const gw_upstream_result *r) {
  outcome *o = arg;
  o->done++;
  o->st = r->status;
  snprintf(o->msg, sizeof o->msg, "%s", r->message);
  o->http_status = r->http_status;
  if (r->data != NULL) {
    o->data = malloc(r->len + 1);
    memcpy(o->data, r->data, r->len);
    o->len = r->len;
  }
  size_t off = 0;
  for (size_t i = 0; i < r->n_trailers && off < sizeof o->trailers; i++) {
    int n = snprintf(o->trailers + off, sizeof o->trailers - off, "%s=%s;", r->trailers[i].name,
                     r->trailers[i].value);
    if (n > 0) off += (size_t)n;
  }
  if (o->counter != NULL) (*o->counter)++;
}

static void outcome_clear(outcome *o) {
  free(o->data);
  memset(o, 0, sizeof *o);
}

/* Runs the loop until *flag reaches want or timeout_ms pass (a bound, never the point
 * of a test). Returns 1 when it did. */
static int run_until(const int *flag, int want, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (*flag < want) {
    if (now_ms() >= end) return 0;
    struct timeval tv = {0, 5000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
  }
  return 1;
}

static int run_until_atomic(atomic_int *flag, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (!atomic_load(flag)) {
    if (now_ms() >= end) return 0;
    struct timeval tv = {0, 5000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
  }
  return 1;
}

static void run_for(int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  event_base_loopexit(base, &tv);
  event_base_dispatch(base);
}

/* A packed EchoRequest in a buffer the caller frees after the call has ended. */
static uint8_t *pack_echo(const char *text, int sleep_ms, int fail_code, const uint8_t *blob,
                          size_t blob_len, size_t *len) {
  Yiwang__Test__V1__EchoRequest req = YIWANG__TEST__V1__ECHO_REQUEST__INIT;
  req.text = (char *)text;
  req.sleep_ms = sleep_ms;
  req.fail_code = fail_code;
  req.blob.data = (uint8_t *)blob;
  req.blob.len = blob_len;
  *len = protobuf_c_message_get_packed_size(&req.base);
  uint8_t *buf = malloc(*len + 1);
  protobuf_c_message_pack(&req.base, buf);
  return buf;
}

static Yiwang__Test__V1__EchoReply *unpack_reply(const outcome *o) {
  return yiwang__test__v1__echo_reply__unpack(NULL, o->len, o->data);
}

/* One call, run to its end. */
static int call_echo(gw_upstream_client *up, const char *text, int sleep_ms, int fail_code,
                     const yw_rpc_md *md, size_t nmd, int64_t timeout_ms, outcome *o) {
  size_t len;
  uint8_t *buf = pack_echo(text, sleep_ms, fail_code, NULL, 0, &len);
  int rc = gw_upstream_call(up, ECHO, buf, len, md, nmd, timeout_ms, on_done, o, NULL);
  if (rc == 0 && !run_until(&o->done, 1, 20000)) rc = -1;
  free(buf);
  return rc;
}

struct stopping {
  yw_rpc_server *s;
  atomic_int done;
};

static void *stop_server_main(void *arg) {
  struct stopping *st = arg;
  yw_rpc_server_free(st->s);
  atomic_store(&st->done, 1);
  return NULL;
}

/* Shuts a server down while the loop runs: its GOAWAY is answered by the clients here
 * closing their connections, which the shutdown waits for. */
static void stop_server(yw_rpc_server *s) {
  struct stopping st = {s, 0};
  pthread_t t;
  pthread_create(&t, NULL, stop_server_main, &st);
  run_until_atomic(&st.done, 30000);
  pthread_join(t, NULL);
}

static int wait_ready(gw_upstream_client *up, size_t n_ready, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  for (;;) {
    gw_upstream_stats st;
    gw_upstream_get_stats(up, &st);
    if (st.connections_ready >= n_ready) return 1;
    if (now_ms() >= end) return 0;
    run_for(5);
  }
}

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_ERROR);
  evthread_use_pthreads();  /* the resolver thread wakes the loop */
  signal(SIGPIPE, SIG_IGN); /* as yw_rpc_block_signals does in the gateway */
  base = event_base_new();
  server = start_server("127.0.0.1:0", &service);
  if (base == NULL || server == NULL) return -1;
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(server));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  stop_server(server);
  event_base_free(base);
  return 0;
}

/* ---- against the gRPC core server ------------------------------------------------- */

static void test_round_trip_carries_metadata_in_and_trailers_out(void **state) {
  (void)state;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  yw_rpc_md md[] = {{"x-request-id", "req-42", 0}, {"x-note", "hello", 0}};
  outcome o = {0};
  assert_int_equal(call_echo(up, "居民身份证换领", 0, 0, md, 2, 5000, &o), 0);
  assert_int_equal(o.done, 1);
  assert_int_equal(o.st, GRPC_STATUS_OK);
  assert_int_equal(o.http_status, 200);
  Yiwang__Test__V1__EchoReply *r = unpack_reply(&o);
  assert_non_null(r);
  assert_string_equal(r->text, "居民身份证换领");
  assert_string_equal(r->request_id, "req-42");
  assert_string_equal(r->caller_note, "hello");
  /* grpc-timeout carried our deadline: what the server saw is at most what we gave */
  assert_true(r->ms_left > 0 && r->ms_left <= 5000);
  yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
  assert_non_null(strstr(o.trailers, "x-served-by=test;"));
  assert_non_null(strstr(o.trailers, "x-note-back=hello;"));
  assert_null(strstr(o.trailers, "grpc-status")); /* the status is not a custom trailer */
  assert_int_equal(gw_upstream_ready(up), 1);
  outcome_clear(&o);
  gw_upstream_free(up);
}

static void test_error_status_with_utf8_message_is_decoded(void **state) {
  (void)state;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  outcome o = {0};
  /* the server percent-encodes every byte outside 0x20-0x7e, and '%' itself */
  assert_int_equal(call_echo(up, "没有这个事项 100%", 0, -YW_ENOTFOUND, NULL, 0, 5000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_NOT_FOUND);
  assert_string_equal(o.msg, "failed on purpose: 没有这个事项 100%");
  assert_null(o.data);
  outcome_clear(&o);
  assert_int_equal(call_echo(up, "x", 0, -YW_EPRECOND, NULL, 0, 5000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_FAILED_PRECONDITION);
  outcome_clear(&o);
  /* no such method: the server's UNIMPLEMENTED, in a Trailers-Only answer */
  size_t len;
  uint8_t *buf = pack_echo("x", 0, 0, NULL, 0, &len);
  assert_int_equal(gw_upstream_call(up, "/yiwang.test.v1.EchoService/Missing", buf, len, NULL, 0,
                                    5000, on_done, &o, NULL),
                   0);
  assert_true(run_until(&o.done, 1, 5000));
  assert_int_equal(o.st, GRPC_STATUS_UNIMPLEMENTED);
  free(buf);
  outcome_clear(&o);
  gw_upstream_free(up);
}

static void test_deadline_exceeded_ends_the_call_on_time(void **state) {
  (void)state;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  assert_true(wait_ready(up, 1, 5000));
  outcome o = {0};
  int64_t t0 = now_ms();
  assert_int_equal(call_echo(up, "slow", 600, 0, NULL, 0, 100, &o), 0);
  int64_t took = now_ms() - t0;
  assert_int_equal(o.st, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(took >= 90 && took < 450);
  outcome_clear(&o);
  /* the connection is still good for the next call */
  assert_int_equal(call_echo(up, "after", 0, 0, NULL, 0, 5000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_OK);
  outcome_clear(&o);
  gw_upstream_free(up);
}

static void test_cancel_reaches_the_servers_handler(void **state) {
  (void)state;
  atomic_store(&watcher_started, 0);
  atomic_store(&watcher_saw_cancel, 0);
  atomic_store(&watcher_finished, 0);
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  size_t len;
  uint8_t *buf = pack_echo("until-cancelled", 0, 0, NULL, 0, &len);
  outcome o = {0};
  gw_upstream_pending *h = NULL;
  assert_int_equal(gw_upstream_call(up, ECHO, buf, len, NULL, 0, 20000, on_done, &o, &h), 0);
  assert_non_null(h);
  assert_true(run_until_atomic(&watcher_started, 10000));
  gw_upstream_cancel(h);
  assert_int_equal(o.done, 0); /* the callback runs from the loop, not inside cancel */
  assert_true(run_until(&o.done, 1, 5000));
  assert_int_equal(o.st, GRPC_STATUS_CANCELLED);
  assert_true(run_until_atomic(&watcher_finished, 10000));
  assert_true(atomic_load(&watcher_saw_cancel)); /* it stopped because of our RST_STREAM */
  /* exactly once: nothing more arrives for it */
  run_for(50);
  assert_int_equal(o.done, 1);
  free(buf);
  outcome_clear(&o);
  gw_upstream_free(up);
}

static void test_500_concurrent_calls_share_one_connection_under_a_stream_cap(void **state) {
  (void)state;
  gw_upstream_opts opts = {0};
  opts.max_streams_per_connection = 50;
  opts.max_connections_per_address = 1;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, &opts, &up), 0);
  enum { N = 500 };
  static outcome o[N];
  static uint8_t *bufs[N];
  memset(o, 0, sizeof o);
  int finished = 0;
  for (int i = 0; i < N; i++) {
    char text[16];
    snprintf(text, sizeof text, "c%d", i);
    size_t len;
    bufs[i] = pack_echo(text, 0, 0, NULL, 0, &len);
    o[i].counter = &finished;
    assert_int_equal(gw_upstream_call(up, ECHO, bufs[i], len, NULL, 0, 20000, on_done, &o[i], NULL),
                     0);
  }
  assert_true(run_until(&finished, N, 30000));
  for (int i = 0; i < N; i++) {
    assert_int_equal(o[i].st, GRPC_STATUS_OK);
    Yiwang__Test__V1__EchoReply *r = unpack_reply(&o[i]);
    char text[16];
    snprintf(text, sizeof text, "c%d", i);
    assert_string_equal(r->text, text); /* each answer went to its own call */
    yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
    outcome_clear(&o[i]);
    free(bufs[i]);
  }
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.peak_streams, 50); /* full, and never past the cap */
  assert_int_equal(st.calls_active, 0);
  assert_int_equal(st.calls_queued, 0);
  gw_upstream_free(up);
}

/* A port nobody listens on. */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&sa, sizeof sa);
  socklen_t l = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &l);
  close(fd);
  return ntohs(sa.sin_port);
}

static void test_server_down_fails_calls_at_once(void **state) {
  (void)state;
  char t[64];
  snprintf(t, sizeof t, "127.0.0.1:%d", closed_port());
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, t, NULL, &up), 0);
  outcome o = {0};
  int64_t t0 = now_ms();
  /* the first call waits for the first attempt, which is refused at once */
  assert_int_equal(call_echo(up, "x", 0, 0, NULL, 0, 10000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(o.msg, t));
  assert_true(now_ms() - t0 < 500);
  outcome_clear(&o);
  /* later calls do not wait for the back-off's next attempt */
  t0 = now_ms();
  assert_int_equal(call_echo(up, "y", 0, 0, NULL, 0, 10000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_UNAVAILABLE);
  assert_true(now_ms() - t0 < 100);
  assert_int_equal(gw_upstream_ready(up), 0);
  outcome_clear(&o);
  gw_upstream_free(up);
}

static void test_restarted_server_is_used_again_after_the_back_off(void **state) {
  (void)state;
  yw_rpc_server *s = start_server("127.0.0.1:0", &service);
  assert_non_null(s);
  int port = yw_rpc_server_port(s);
  char t[64];
  snprintf(t, sizeof t, "127.0.0.1:%d", port);
  gw_upstream_opts opts = {0};
  opts.backoff_base_ms = 50;
  opts.backoff_max_ms = 400;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, t, &opts, &up), 0);
  outcome o = {0};
  assert_int_equal(call_echo(up, "before", 0, 0, NULL, 0, 5000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_OK);
  outcome_clear(&o);

  stop_server(s); /* GOAWAY, then the port closes */
  int64_t end = now_ms() + 5000;
  grpc_status_code st = GRPC_STATUS_OK;
  while (st != GRPC_STATUS_UNAVAILABLE && now_ms() < end) {
    assert_int_equal(call_echo(up, "while-down", 0, 0, NULL, 0, 2000, &o), 0);
    st = o.st;
    outcome_clear(&o);
    run_for(20);
  }
  assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(gw_upstream_ready(up), 0);

  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  s = start_server(addr, &service);
  assert_non_null(s);
  int64_t t0 = now_ms();
  end = t0 + 10000;
  st = GRPC_STATUS_UNAVAILABLE;
  while (st != GRPC_STATUS_OK && now_ms() < end) {
    assert_int_equal(call_echo(up, "after", 0, 0, NULL, 0, 2000, &o), 0);
    st = o.st;
    outcome_clear(&o);
    if (st != GRPC_STATUS_OK) run_for(20);
  }
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_true(now_ms() - t0 < 2000); /* within the longest back-off and then some */
  gw_upstream_stats stats;
  gw_upstream_get_stats(up, &stats);
  assert_true(stats.connect_failures >= 1);
  assert_int_equal(gw_upstream_ready(up), 1);
  gw_upstream_free(up);
  stop_server(s);
}

static void test_two_servers_share_calls_and_a_dead_one_is_left_out(void **state) {
  (void)state;
  yw_rpc_server *a = start_server("127.0.0.2:0", &service_a);
  assert_non_null(a);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.3:%d", yw_rpc_server_port(a));
  yw_rpc_server *b = start_server(addr, &service_b);
  assert_non_null(b);
  char t[128];
  snprintf(t, sizeof t, "ipv4:127.0.0.2:%d,127.0.0.3:%d", yw_rpc_server_port(a),
           yw_rpc_server_port(b));
  gw_upstream_opts opts = {0};
  opts.backoff_base_ms = 1000; /* b stays down for the rest of the test */
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, t, &opts, &up), 0);
  assert_true(wait_ready(up, 2, 5000));
  int by_a = 0, by_b = 0;
  for (int i = 0; i < 40; i++) {
    outcome o = {0};
    assert_int_equal(call_echo(up, "who", 0, 0, NULL, 0, 5000, &o), 0);
    assert_int_equal(o.st, GRPC_STATUS_OK);
    Yiwang__Test__V1__EchoReply *r = unpack_reply(&o);
    if (strcmp(r->text, "a") == 0) by_a++;
    if (strcmp(r->text, "b") == 0) by_b++;
    yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
    outcome_clear(&o);
  }
  assert_int_equal(by_a, 20); /* round robin: strictly alternating */
  assert_int_equal(by_b, 20);

  stop_server(b);
  int64_t end = now_ms() + 5000;
  gw_upstream_stats st;
  do {
    run_for(10);
    gw_upstream_get_stats(up, &st);
  } while (st.addresses_down < 1 && now_ms() < end);
  assert_int_equal(st.addresses_down, 1);
  for (int i = 0; i < 20; i++) {
    outcome o = {0};
    assert_int_equal(call_echo(up, "who", 0, 0, NULL, 0, 5000, &o), 0);
    assert_int_equal(o.st, GRPC_STATUS_OK);
    Yiwang__Test__V1__EchoReply *r = unpack_reply(&o);
    assert_string_equal(r->text, "a");
    yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
    outcome_clear(&o);
  }
  assert_int_equal(gw_upstream_ready(up), 1);
  gw_upstream_free(up);
  stop_server(a);
}

static void test_large_messages_both_ways_and_the_answer_cap(void **state) {
  (void)state;
  size_t blob_len = 1 << 20;
  uint8_t *blob = malloc(blob_len);
  for (size_t i = 0; i < blob_len; i++) blob[i] = (uint8_t)(i * 7 + (i >> 11));
  size_t len;
  uint8_t *buf = pack_echo("big", 0, 0, blob, blob_len, &len);
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  outcome o = {0};
  assert_int_equal(gw_upstream_call(up, ECHO, buf, len, NULL, 0, 20000, on_done, &o, NULL), 0);
  assert_true(run_until(&o.done, 1, 20000));
  assert_int_equal(o.st, GRPC_STATUS_OK);
  Yiwang__Test__V1__EchoReply *r = unpack_reply(&o);
  assert_non_null(r);
  assert_int_equal(r->blob.len, blob_len);
  assert_memory_equal(r->blob.data, blob, blob_len);
  yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
  outcome_clear(&o);
  gw_upstream_free(up);

  /* past max_message the answer is refused, the stream reset, the connection kept */
  gw_upstream_opts opts = {0};
  opts.max_message = 64 * 1024;
  assert_int_equal(gw_upstream_new(base, target, &opts, &up), 0);
  assert_int_equal(gw_upstream_call(up, ECHO, buf, len, NULL, 0, 20000, on_done, &o, NULL), 0);
  assert_true(run_until(&o.done, 1, 20000));
  assert_int_equal(o.st, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(o.msg, "larger than max"));
  outcome_clear(&o);
  assert_int_equal(call_echo(up, "small", 0, 0, NULL, 0, 5000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_OK);
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.connects, 1);
  outcome_clear(&o);
  gw_upstream_free(up);
  free(buf);
  free(blob);
}

struct taken {
  int done;
  uint8_t *frame;
  size_t len;
  const uint8_t *data;
  size_t data_len;
};

static void on_done_take(void *arg, const gw_upstream_result *r) {
  struct taken *t = arg;
  t->done++;
  t->data = r->data;
  t->data_len = r->len;
  t->frame = gw_upstream_take_frame(r, &t->len);
  size_t again_len = 1;
  assert_null(gw_upstream_take_frame(r, &again_len)); /* once */
  assert_int_equal(again_len, 0);
}

static void test_the_answer_frame_is_taken_without_a_copy(void **state) {
  (void)state;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  size_t len;
  uint8_t *buf = pack_echo("frame", 0, 0, NULL, 0, &len);
  struct taken t = {0};
  assert_int_equal(gw_upstream_call(up, ECHO, buf, len, NULL, 0, 5000, on_done_take, &t, NULL), 0);
  assert_true(run_until(&t.done, 1, 5000));
  assert_non_null(t.frame);
  assert_int_equal(t.len, 5 + t.data_len);
  assert_ptr_equal(t.frame + 5, t.data); /* the very bytes the callback saw */
  assert_int_equal(t.frame[0], 0);
  size_t framed = ((size_t)t.frame[1] << 24) | ((size_t)t.frame[2] << 16) |
                  ((size_t)t.frame[3] << 8) | t.frame[4];
  assert_int_equal(framed, t.data_len);
  Yiwang__Test__V1__EchoReply *r =
      yiwang__test__v1__echo_reply__unpack(NULL, t.data_len, t.frame + 5);
  assert_string_equal(r->text, "frame");
  yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
  free(t.frame);
  free(buf);
  gw_upstream_free(up);
}

static void test_a_host_name_is_resolved_off_the_loop(void **state) {
  (void)state;
  char t[64];
  snprintf(t, sizeof t, "dns:///localhost:%d", yw_rpc_server_port(server));
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, t, NULL, &up), 0);
  /* a call before the answer waits for it; if localhost is also ::1, where nothing
   * listens, that address goes down and the calls go to 127.0.0.1 */
  for (int i = 0; i < 4; i++) {
    outcome o = {0};
    assert_int_equal(call_echo(up, "named", 0, 0, NULL, 0, 5000, &o), 0);
    assert_int_equal(o.st, GRPC_STATUS_OK);
    outcome_clear(&o);
  }
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_true(st.addresses >= 1);
  gw_upstream_free(up);
}

static void test_malformed_targets_and_metadata_are_refused(void **state) {
  (void)state;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, "ipv4:127.0.0.1", NULL, &up), 0); /* port 443 */
  gw_upstream_free(up);
  assert_int_equal(gw_upstream_new(base, "ipv4:::1:80", NULL, &up), YW_EINVAL);
  assert_int_equal(gw_upstream_new(base, "ipv4:127.0.0.1:99999", NULL, &up), YW_EINVAL);
  assert_int_equal(gw_upstream_new(base, "::1:80", NULL, &up), YW_EINVAL);
  assert_int_equal(gw_upstream_new(base, "", NULL, &up), YW_EINVAL);
  assert_null(up);
  assert_int_equal(gw_upstream_new(base, "ipv6:[::1]:80,[::1]:81", NULL, &up), 0);
  gw_upstream_free(up);

  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  outcome o = {0};
  gw_upstream_pending *h = (gw_upstream_pending *)&o;
  yw_rpc_md bad_key[] = {{"Bad Key", "v", 0}};
  assert_int_equal(
      gw_upstream_call(up, ECHO, (const uint8_t *)"", 0, bad_key, 1, 1000, on_done, &o, &h),
      YW_EINVAL);
  assert_null(h);
  yw_rpc_md bad_value[] = {{"x-ok", "line\nbreak", 0}};
  assert_int_equal(
      gw_upstream_call(up, ECHO, (const uint8_t *)"", 0, bad_value, 1, 1000, on_done, &o, NULL),
      YW_EINVAL);
  yw_rpc_md reserved[] = {{"grpc-timeout", "1S", 0}};
  assert_int_equal(
      gw_upstream_call(up, ECHO, (const uint8_t *)"", 0, reserved, 1, 1000, on_done, &o, NULL),
      YW_EINVAL);
  yw_rpc_md te[] = {{"te", "gzip", 0}};
  assert_int_equal(
      gw_upstream_call(up, ECHO, (const uint8_t *)"", 0, te, 1, 1000, on_done, &o, NULL),
      YW_EINVAL);
  assert_int_equal(
      gw_upstream_call(up, "no-slash", (const uint8_t *)"", 0, NULL, 0, 1000, on_done, &o, NULL),
      YW_EINVAL);
  run_for(20);
  assert_int_equal(o.done, 0); /* refused calls never call back */
  gw_upstream_free(up);
}

static void test_freeing_the_client_cancels_its_calls(void **state) {
  (void)state;
  atomic_store(&watcher_started, 0);
  atomic_store(&watcher_saw_cancel, 0);
  atomic_store(&watcher_finished, 0);
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  size_t len;
  uint8_t *buf = pack_echo("until-cancelled", 0, 0, NULL, 0, &len);
  outcome on_wire = {0}, queued = {0};
  assert_int_equal(gw_upstream_call(up, ECHO, buf, len, NULL, 0, 20000, on_done, &on_wire, NULL),
                   0);
  assert_true(run_until_atomic(&watcher_started, 10000));
  assert_int_equal(gw_upstream_call(up, ECHO, buf, len, NULL, 0, 20000, on_done, &queued, NULL), 0);
  gw_upstream_free(up); /* returns only after both callbacks ran */
  assert_int_equal(on_wire.done, 1);
  assert_int_equal(on_wire.st, GRPC_STATUS_CANCELLED);
  assert_int_equal(queued.done, 1);
  assert_int_equal(queued.st, GRPC_STATUS_CANCELLED);
  assert_true(run_until_atomic(&watcher_finished, 10000));
  assert_true(atomic_load(&watcher_saw_cancel)); /* the closed connection cancelled it */
  free(buf);
  outcome_clear(&on_wire);
  outcome_clear(&queued);
}

struct health_outcome {
  int done, serving;
  grpc_status_code st;
};

static void on_health(void *arg, int serving, grpc_status_code st) {
  struct health_outcome *h = arg;
  h->done++;
  h->serving = serving;
  h->st = st;
}

static void test_health_check_reports_serving(void **state) {
  (void)state;
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, target, NULL, &up), 0);
  struct health_outcome h = {0};
  assert_int_equal(gw_upstream_health_check(up, "", 2000, on_health, &h), 0);
  assert_true(run_until(&h.done, 1, 5000));
  assert_int_equal(h.st, GRPC_STATUS_OK);
  assert_int_equal(h.serving, 1);
  gw_upstream_free(up);
}

/* ---- a small HTTP/2 server of our own --------------------------------------------- */

/* Answers by the method's name: Ok (echoes the request frame, trailers grpc-status 0
 * and x-fake), Http503 and Http404 (no gRPC at all), TrailersOnly (grpc-status 7 with a
 * percent-encoded message and a custom entry, in the only HEADERS), NoStatus (a message,
 * then END_STREAM without trailers), TwoMessages (the frame twice). */
enum { FAKE_MAX_CONNS = 8, FAKE_MAX_STREAMS = 512 };

typedef struct fake fake;

typedef struct fake_stream {
  int32_t id;
  char path[96];
  uint8_t body[8192];
  size_t body_len;
  size_t sent;
  int complete, answered;
  int64_t t_complete;
} fake_stream;

typedef struct fake_conn {
  fake *f;
  int fd;
  nghttp2_session *h2;
  int index;
  int open, begun;
  int32_t goaway_last; /* 0: no GOAWAY sent */
  fake_stream *streams[FAKE_MAX_STREAMS];
  size_t n_streams;
} fake_conn;

struct fake {
  int lfd, port;
  pthread_t thread;
  atomic_int stop;
  uint32_t max_streams; /* advertised SETTINGS_MAX_CONCURRENT_STREAMS */
  int hold;             /* answers wait until this many are ready, or 20 ms */
  int goaway_at;        /* the first connection sends GOAWAY(last 1) at this many streams */
  atomic_int max_open;  /* most streams open at once on one connection */
  atomic_int accepted;
  atomic_int mute; /* reads and writes nothing, as a host gone without a word */
  fake_conn *conns[FAKE_MAX_CONNS];
  int n_conns;
};

static fake_stream *fake_find(fake_conn *c, int32_t id) {
  for (size_t i = 0; i < c->n_streams; i++)
    if (c->streams[i]->id == id) return c->streams[i];
  return NULL;
}

static int fake_begin(nghttp2_session *s, const nghttp2_frame *fr, void *user) {
  (void)s;
  fake_conn *c = user;
  if (fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (c->n_streams == FAKE_MAX_STREAMS) return NGHTTP2_ERR_CALLBACK_FAILURE;
  fake_stream *st = calloc(1, sizeof *st);
  st->id = fr->hd.stream_id;
  c->streams[c->n_streams++] = st;
  c->open++;
  c->begun++;
  int m = atomic_load(&c->f->max_open);
  while (c->open > m && !atomic_compare_exchange_weak(&c->f->max_open, &m, c->open)) {
  }
  if (c->f->goaway_at > 0 && c->index == 0 && c->begun == c->f->goaway_at) {
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0);
    c->goaway_last = 1;
  }
  return 0;
}

static int fake_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name,
                       size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user) {
  (void)s;
  (void)flags;
  fake_stream *st = fake_find(user, fr->hd.stream_id);
  if (st != NULL && nlen == 5 && memcmp(name, ":path", 5) == 0)
    snprintf(st->path, sizeof st->path, "%.*s", (int)vlen, (const char *)value);
  return 0;
}

static int fake_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                     void *user) {
  (void)s;
  (void)flags;
  fake_stream *st = fake_find(user, id);
  if (st == NULL || st->body_len + len > sizeof st->body) return 0;
  memcpy(st->body + st->body_len, data, len);
  st->body_len += len;
  return 0;
}

static int fake_frame(nghttp2_session *s, const nghttp2_frame *fr, void *user) {
  (void)s;
  if ((fr->hd.type == NGHTTP2_DATA || fr->hd.type == NGHTTP2_HEADERS) &&
      (fr->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    fake_stream *st = fake_find(user, fr->hd.stream_id);
    if (st != NULL) {
      st->complete = 1;
      st->t_complete = now_ms();
    }
  }
  return 0;
}

static int fake_close(nghttp2_session *s, int32_t id, uint32_t code, void *user) {
  (void)s;
  (void)code;
  fake_conn *c = user;
  for (size_t i = 0; i < c->n_streams; i++)
    if (c->streams[i]->id == id) {
      free(c->streams[i]);
      c->streams[i] = c->streams[--c->n_streams];
      c->open--;
      break;
    }
  return 0;
}

static ssize_t fake_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user) {
  (void)user;
  fake_stream *st = src->ptr;
  int twice = strstr(st->path, "/TwoMessages") != NULL;
  size_t total = st->body_len * (twice ? 2 : 1);
  size_t n = total - st->sent < len ? total - st->sent : len;
  for (size_t i = 0; i < n; i++) buf[i] = st->body[(st->sent + i) % st->body_len];
  st->sent += n;
  if (st->sent == total) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (strstr(st->path, "/NoStatus") == NULL) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_nv tr[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0},
                         {(uint8_t *)"x-fake", (uint8_t *)"yes", 6, 3, 0}};
      nghttp2_submit_trailer(s, id, tr, 2);
    }
  }
  return (ssize_t)n;
}

#define FNV(n, v) \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0 }

static void fake_answer(fake_conn *c, fake_stream *st) {
  st->answered = 1;
  if (strstr(st->path, "/Http503") != NULL) {
    nghttp2_nv nv[] = {FNV(":status", "503"), FNV("content-type", "text/plain")};
    nghttp2_submit_response(c->h2, st->id, nv, 2, NULL);
  } else if (strstr(st->path, "/Http404") != NULL) {
    nghttp2_nv nv[] = {FNV(":status", "404")};
    nghttp2_submit_response(c->h2, st->id, nv, 1, NULL);
  } else if (strstr(st->path, "/TrailersOnly") != NULL) {
    nghttp2_nv nv[] = {FNV(":status", "200"), FNV("content-type", "application/grpc"),
                       FNV("grpc-status", "7"), FNV("grpc-message", "no%20way%ZZ%e4%b8%8d"),
                       FNV("x-why", "test")};
    nghttp2_submit_response(c->h2, st->id, nv, 5, NULL);
  } else {
    nghttp2_nv nv[] = {FNV(":status", "200"), FNV("content-type", "application/grpc")};
    nghttp2_data_provider prd;
    prd.source.ptr = st;
    prd.read_callback = fake_read;
    nghttp2_submit_response(c->h2, st->id, nv, 2, &prd);
  }
}

static void fake_conn_free(fake_conn *c) {
  nghttp2_session_del(c->h2);
  close(c->fd);
  for (size_t i = 0; i < c->n_streams; i++) free(c->streams[i]);
  free(c);
}

static void *fake_main(void *arg) {
  fake *f = arg;
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, fake_begin);
  nghttp2_session_callbacks_set_on_header_callback(cbs, fake_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, fake_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, fake_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, fake_close);
  while (!atomic_load(&f->stop)) {
    struct pollfd p[1 + FAKE_MAX_CONNS];
    p[0] = (struct pollfd){f->lfd, POLLIN, 0};
    for (int i = 0; i < f->n_conns; i++) p[1 + i] = (struct pollfd){f->conns[i]->fd, POLLIN, 0};
    if (atomic_load(&f->mute)) {
      usleep(5000);
      continue;
    }
    poll(p, (nfds_t)(1 + f->n_conns), 5);
    if (atomic_load(&f->mute)) continue;
    if ((p[0].revents & POLLIN) && f->n_conns < FAKE_MAX_CONNS) {
      int fd = accept(f->lfd, NULL, NULL);
      if (fd >= 0) {
        fake_conn *c = calloc(1, sizeof *c);
        c->f = f;
        c->fd = fd;
        c->index = atomic_fetch_add(&f->accepted, 1);
        nghttp2_session_server_new(&c->h2, cbs, c);
        nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, f->max_streams}};
        nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 1);
        f->conns[f->n_conns++] = c;
      }
    }
    for (int i = 0; i < f->n_conns; i++) {
      fake_conn *c = f->conns[i];
      int gone = 0;
      if (i + 1 < 1 + FAKE_MAX_CONNS && (p[1 + i].revents & (POLLIN | POLLHUP | POLLERR))) {
        uint8_t buf[16384];
        ssize_t n = read(c->fd, buf, sizeof buf);
        gone = n <= 0 || nghttp2_session_mem_recv(c->h2, buf, (size_t)n) < 0;
      }
      /* answers go out in batches of hold, or after 20 ms */
      size_t ready = 0;
      int64_t oldest = INT64_MAX;
      for (size_t k = 0; k < c->n_streams; k++)
        if (c->streams[k]->complete && !c->streams[k]->answered &&
            (c->goaway_last == 0 || c->streams[k]->id <= c->goaway_last)) {
          ready++;
          if (c->streams[k]->t_complete < oldest) oldest = c->streams[k]->t_complete;
        }
      if (ready > 0 && (ready >= (size_t)f->hold || now_ms() - oldest >= 20))
        for (size_t k = 0; k < c->n_streams; k++)
          if (c->streams[k]->complete && !c->streams[k]->answered &&
              (c->goaway_last == 0 || c->streams[k]->id <= c->goaway_last))
            fake_answer(c, c->streams[k]);
      const uint8_t *out;
      ssize_t n;
      while (!gone && (n = nghttp2_session_mem_send(c->h2, &out)) > 0)
        for (ssize_t w = 0; w < n;) {
          ssize_t k = write(c->fd, out + w, (size_t)(n - w));
          if (k <= 0) {
            gone = 1;
            break;
          }
          w += k;
        }
      if (gone) {
        fake_conn_free(c);
        f->conns[i] = f->conns[--f->n_conns];
        p[1 + i] = p[1 + f->n_conns];
        i--;
      }
    }
  }
  for (int i = 0; i < f->n_conns; i++) fake_conn_free(f->conns[i]);
  nghttp2_session_callbacks_del(cbs);
  return NULL;
}

static fake *fake_start(uint32_t max_streams, int hold, int goaway_at) {
  fake *f = calloc(1, sizeof *f);
  f->max_streams = max_streams;
  f->hold = hold;
  f->goaway_at = goaway_at;
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(f->lfd, (struct sockaddr *)&sa, sizeof sa);
  listen(f->lfd, 16);
  socklen_t l = sizeof sa;
  getsockname(f->lfd, (struct sockaddr *)&sa, &l);
  f->port = ntohs(sa.sin_port);
  pthread_create(&f->thread, NULL, fake_main, f);
  return f;
}

static void fake_stop(fake *f) {
  atomic_store(&f->stop, 1);
  pthread_join(f->thread, NULL);
  close(f->lfd);
  free(f);
}

static gw_upstream_client *fake_client(const fake *f, const gw_upstream_opts *opts) {
  char t[64];
  snprintf(t, sizeof t, "127.0.0.1:%d", f->port);
  gw_upstream_client *up = NULL;
  return gw_upstream_new(base, t, opts, &up) == 0 ? up : NULL;
}

/* Starts n calls of /fake.Svc/<method> and runs them to their end. */
static void fake_calls(gw_upstream_client *up, const char *method, int n, outcome *o) {
  char path[64];
  snprintf(path, sizeof path, "/fake.Svc/%s", method);
  static const uint8_t msg[] = "payload";
  int finished = 0;
  for (int i = 0; i < n; i++) {
    memset(&o[i], 0, sizeof o[i]);
    o[i].counter = &finished;
    assert_int_equal(
        gw_upstream_call(up, path, msg, sizeof msg - 1, NULL, 0, 10000, on_done, &o[i], NULL), 0);
  }
  assert_true(run_until(&finished, n, 20000));
}

static void test_the_servers_stream_limit_is_kept_by_queueing_or_more_connections(void **state) {
  (void)state;
  fake *f = fake_start(5, 5, 0);
  gw_upstream_opts opts = {0};
  opts.max_connections_per_address = 1;
  gw_upstream_client *up = fake_client(f, &opts);
  assert_non_null(up);
  static outcome o[40];
  fake_calls(up, "Ok", 40, o);
  for (int i = 0; i < 40; i++) {
    assert_int_equal(o[i].st, GRPC_STATUS_OK);
    assert_int_equal(o[i].len, 7);
    assert_memory_equal(o[i].data, "payload", 7);
    assert_non_null(strstr(o[i].trailers, "x-fake=yes;"));
    outcome_clear(&o[i]);
  }
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.peak_streams, 5); /* queued behind the server's limit */
  assert_true(atomic_load(&f->max_open) <= 5);
  gw_upstream_free(up);

  /* allowed more connections, the client opens them rather than wait */
  atomic_store(&f->max_open, 0);
  opts.max_connections_per_address = 3;
  up = fake_client(f, &opts);
  fake_calls(up, "Ok", 40, o);
  for (int i = 0; i < 40; i++) {
    assert_int_equal(o[i].st, GRPC_STATUS_OK);
    outcome_clear(&o[i]);
  }
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.connects, 3);
  assert_int_equal(st.peak_streams, 5);
  assert_true(atomic_load(&f->max_open) <= 5);
  gw_upstream_free(up);
  fake_stop(f);
}

static void test_goaway_sends_the_refused_calls_to_a_new_connection(void **state) {
  (void)state;
  fake *f = fake_start(100, 1, 3); /* GOAWAY(last_stream_id 1) once 3 streams began */
  gw_upstream_client *up = fake_client(f, NULL);
  assert_true(wait_ready(up, 1, 5000));
  static outcome o[3];
  fake_calls(up, "Ok", 3, o);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(o[i].st, GRPC_STATUS_OK); /* stream 1 answered, 3 and 5 retried */
    outcome_clear(&o[i]);
  }
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.goaways, 1);
  assert_int_equal(st.retries, 2);
  assert_int_equal(st.connects, 2);
  assert_int_equal(atomic_load(&f->accepted), 2);
  /* the drained connection closed; the new one carries the next calls */
  run_for(20);
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.connections, 1);
  fake_calls(up, "Ok", 3, o);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(o[i].st, GRPC_STATUS_OK);
    outcome_clear(&o[i]);
  }
  gw_upstream_free(up);
  fake_stop(f);
}

static void test_http_statuses_and_trailers_only_map_as_grpc_does(void **state) {
  (void)state;
  fake *f = fake_start(100, 1, 0);
  gw_upstream_client *up = fake_client(f, NULL);
  outcome o[1];
  fake_calls(up, "Http503", 1, o);
  assert_int_equal(o[0].st, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(o[0].http_status, 503);
  assert_non_null(strstr(o[0].msg, "503"));
  outcome_clear(&o[0]);
  fake_calls(up, "Http404", 1, o);
  assert_int_equal(o[0].st, GRPC_STATUS_UNIMPLEMENTED);
  outcome_clear(&o[0]);
  fake_calls(up, "TrailersOnly", 1, o);
  assert_int_equal(o[0].st, GRPC_STATUS_PERMISSION_DENIED);
  assert_string_equal(o[0].msg, "no way%ZZ不"); /* a bad escape is kept as it came */
  assert_string_equal(o[0].trailers, "x-why=test;");
  outcome_clear(&o[0]);
  fake_calls(up, "NoStatus", 1, o);
  assert_int_equal(o[0].st, GRPC_STATUS_UNKNOWN);
  assert_null(o[0].data);
  outcome_clear(&o[0]);
  fake_calls(up, "TwoMessages", 1, o);
  assert_int_equal(o[0].st, GRPC_STATUS_INTERNAL);
  outcome_clear(&o[0]);
  /* none of it broke the connection */
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.connects, 1);
  gw_upstream_free(up);
  fake_stop(f);
}

static void test_keepalive_ends_a_connection_to_a_silent_host(void **state) {
  (void)state;
  fake *f = fake_start(100, 1, 0);
  gw_upstream_opts opts = {0};
  opts.keepalive_ms = 100;
  opts.keepalive_timeout_ms = 200;
  gw_upstream_client *up = fake_client(f, &opts);
  assert_true(wait_ready(up, 1, 5000));
  atomic_store(&f->mute, 1);
  outcome o[1];
  int64_t t0 = now_ms();
  fake_calls(up, "Ok", 1, o); /* a 10 s deadline */
  assert_int_equal(o[0].st, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(o[0].msg, "keepalive"));
  assert_true(now_ms() - t0 < 1500);
  outcome_clear(&o[0]);
  gw_upstream_stats st;
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.pings_unanswered, 1);
  gw_upstream_free(up);
  atomic_store(&f->mute, 0);
  fake_stop(f);

  /* a slow call on a live server is not cut: the server answers the PINGs */
  up = NULL;
  assert_int_equal(gw_upstream_new(base, target, &opts, &up), 0);
  outcome slow = {0};
  assert_int_equal(call_echo(up, "slow", 700, 0, NULL, 0, 5000, &slow), 0);
  assert_int_equal(slow.st, GRPC_STATUS_OK);
  outcome_clear(&slow);
  gw_upstream_get_stats(up, &st);
  assert_int_equal(st.pings_sent, 2); /* then none until we send again: no "too many pings" */
  assert_int_equal(st.pings_unanswered, 0);
  assert_int_equal(st.connects, 1);
  gw_upstream_free(up);
}

/* ---- TLS --------------------------------------------------------------------------- */

/* tools/pki.sh with args (trusted text from this file only). */
static int pki(const char *args) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "bash %s/tools/pki.sh %s", YW_SOURCE_DIR, args);
  return system(cmd);
}

/* A client context as the gateway will make one: our CA, our client certificate. */
static SSL_CTX *client_ctx(const char *dir, int with_cert) {
  char ca[160], crt[160], key[160];
  snprintf(ca, sizeof ca, "%s/ca.crt", dir);
  snprintf(crt, sizeof crt, "%s/gateway.crt", dir);
  snprintf(key, sizeof key, "%s/gateway.key", dir);
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(ctx);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (with_cert) {
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
  }
  return ctx;
}

static void test_mutual_tls_with_alpn_h2_and_the_servers_name_checked(void **state) {
  (void)state;
  char dir[64], args[200];
  snprintf(dir, sizeof dir, "/tmp/yw-up-tls.XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(args, sizeof args, "dev %s", dir); /* CA, catalog (localhost, 127.0.0.1), gateway */
  assert_int_equal(pki(args), 0);
  snprintf(args, sizeof args, "server %s elsewhere DNS:elsewhere.internal", dir);
  assert_int_equal(pki(args), 0);
  char ca[160], crt[160], key[160];
  snprintf(ca, sizeof ca, "%s/ca.crt", dir);
  snprintf(crt, sizeof crt, "%s/catalog.crt", dir);
  snprintf(key, sizeof key, "%s/catalog.key", dir);
  yw_rpc_tls tls = {ca, crt, key, NULL};
  yw_rpc_server *s = NULL;
  assert_int_equal(yw_rpc_server_new_tls("127.0.0.1:0", 2, &tls, &s), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  int port = yw_rpc_server_port(s);

  /* by address (the certificate's IP entry) and by name (SNI and its DNS entry) */
  SSL_CTX *ctx = client_ctx(dir, 1);
  gw_upstream_opts opts = {0};
  opts.ssl_ctx = ctx;
  const char *forms[] = {"127.0.0.1:%d", "localhost:%d"};
  for (int i = 0; i < 2; i++) {
    char t[64];
    snprintf(t, sizeof t, forms[i], port);
    gw_upstream_client *up = NULL;
    assert_int_equal(gw_upstream_new(base, t, &opts, &up), 0);
    outcome o = {0};
    yw_rpc_md md[] = {{"x-note", "over tls", 0}};
    assert_int_equal(call_echo(up, "secret", 0, 0, md, 1, 5000, &o), 0);
    assert_int_equal(o.st, GRPC_STATUS_OK);
    Yiwang__Test__V1__EchoReply *r = unpack_reply(&o);
    assert_string_equal(r->text, "secret");
    assert_string_equal(r->caller_note, "over tls");
    yiwang__test__v1__echo_reply__free_unpacked(r, NULL);
    outcome_clear(&o);
    gw_upstream_free(up);
  }

  /* refused: no client certificate; a cleartext client; a server whose certificate
   * names another host */
  SSL_CTX *anon = client_ctx(dir, 0);
  gw_upstream_opts bad = {0};
  bad.ssl_ctx = anon;
  char t[64];
  snprintf(t, sizeof t, "127.0.0.1:%d", port);
  const gw_upstream_opts *refused[] = {&bad, NULL};
  for (int i = 0; i < 2; i++) {
    gw_upstream_client *up = NULL;
    assert_int_equal(gw_upstream_new(base, t, refused[i], &up), 0);
    outcome o = {0};
    assert_int_equal(call_echo(up, "x", 0, 0, NULL, 0, 3000, &o), 0);
    assert_int_equal(o.st, GRPC_STATUS_UNAVAILABLE);
    outcome_clear(&o);
    gw_upstream_free(up);
  }
  stop_server(s);
  snprintf(crt, sizeof crt, "%s/elsewhere.crt", dir);
  snprintf(key, sizeof key, "%s/elsewhere.key", dir);
  assert_int_equal(yw_rpc_server_new_tls("127.0.0.1:0", 2, &tls, &s), 0);
  assert_int_equal(yw_rpc_server_add_service(s, &service), 0);
  assert_int_equal(yw_rpc_server_start(s), 0);
  snprintf(t, sizeof t, "127.0.0.1:%d", yw_rpc_server_port(s));
  gw_upstream_client *up = NULL;
  assert_int_equal(gw_upstream_new(base, t, &opts, &up), 0);
  outcome o = {0};
  assert_int_equal(call_echo(up, "x", 0, 0, NULL, 0, 3000, &o), 0);
  assert_int_equal(o.st, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(o.msg, "TLS"));
  outcome_clear(&o);
  gw_upstream_free(up);
  stop_server(s);
  SSL_CTX_free(ctx);
  SSL_CTX_free(anon);
  snprintf(args, sizeof args, "rm -rf %s", dir);
  assert_int_equal(system(args), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_carries_metadata_in_and_trailers_out),
      cmocka_unit_test(test_error_status_with_utf8_message_is_decoded),
      cmocka_unit_test(test_deadline_exceeded_ends_the_call_on_time),
      cmocka_unit_test(test_cancel_reaches_the_servers_handler),
      cmocka_unit_test(test_500_concurrent_calls_share_one_connection_under_a_stream_cap),
      cmocka_unit_test(test_server_down_fails_calls_at_once),
      cmocka_unit_test(test_restarted_server_is_used_again_after_the_back_off),
      cmocka_unit_test(test_two_servers_share_calls_and_a_dead_one_is_left_out),
      cmocka_unit_test(test_large_messages_both_ways_and_the_answer_cap),
      cmocka_unit_test(test_the_answer_frame_is_taken_without_a_copy),
      cmocka_unit_test(test_a_host_name_is_resolved_off_the_loop),
      cmocka_unit_test(test_malformed_targets_and_metadata_are_refused),
      cmocka_unit_test(test_freeing_the_client_cancels_its_calls),
      cmocka_unit_test(test_health_check_reports_serving),
      cmocka_unit_test(test_the_servers_stream_limit_is_kept_by_queueing_or_more_connections),
      cmocka_unit_test(test_goaway_sends_the_refused_calls_to_a_new_connection),
      cmocka_unit_test(test_http_statuses_and_trailers_only_map_as_grpc_does),
      cmocka_unit_test(test_keepalive_ends_a_connection_to_a_silent_host),
      cmocka_unit_test(test_mutual_tls_with_alpn_h2_and_the_servers_name_checked),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
