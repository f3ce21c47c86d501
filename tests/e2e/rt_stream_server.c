/*
 * rt_stream_server.c - yw-test-stream-server: a process serving
 * yiwang.test.v1.StreamService/Watch on the runtime's server streams, for
 * e2e_rpc_stream.sh (a python3-grpcio client against a real process).
 *
 * Watch{count: N} sends N messages (seq 1..N) paced by the stream's queue and finishes
 * OK; Watch{mode: "hold"} sends one message and keeps the stream until the client goes
 * (the cancel callback logs "stream.cancelled") or the server stops (SIGTERM: open
 * streams end UNAVAILABLE). Usage: yw-test-stream-server 127.0.0.1:PORT
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yiwang/test/v1/stream.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

struct sender {
  pthread_mutex_t mu; /* the handler's first batch and drain callbacks may overlap */
  yw_rpc_stream *st;
  int next, count;
};

static int send_seq(yw_rpc_stream *st, int seq) {
  Yiwang__Test__V1__WatchEvent ev = YIWANG__TEST__V1__WATCH_EVENT__INIT;
  ev.seq = seq;
  ev.text = "event";
  return yw_rpc_stream_send(st, &ev.base);
}

static void send_more(void *arg) {
  struct sender *s = arg;
  pthread_mutex_lock(&s->mu);
  yw_rpc_stream *st = s->st, *done = NULL;
  if (st == NULL) { /* finished by an earlier call */
    pthread_mutex_unlock(&s->mu);
    return;
  }
  while (s->next <= s->count && yw_rpc_stream_queued(st) < 32) {
    if (send_seq(st, s->next) != 0) break;
    s->next++;
  }
  if (s->next > s->count || yw_rpc_stream_ended(st)) {
    yw_rpc_stream_finish(st, 0, NULL);
    yw_rpc_stream_on_drain(st, NULL, NULL);
    s->st = NULL;
    done = st;
  }
  pthread_mutex_unlock(&s->mu);
  yw_rpc_stream_unref(done); /* the handler's reference; s lives in the stream's arena */
}

static void on_cancel(void *arg) {
  yw_rpc_stream *st = arg;
  yw_log(YW_LOG_INFO, "stream.cancelled", yw_rpc_stream_request_id(st), "the stream ended");
  yw_rpc_stream_unref(st);
}

static int watch(yw_rpc_stream *st, const ProtobufCMessage *reqm, void *data) {
  (void)data;
  const Yiwang__Test__V1__WatchRequest *req = (const void *)reqm;
  if (strcmp(req->mode, "hold") == 0) {
    yw_rpc_stream_on_cancel(st, on_cancel, st); /* it gives the reference back */
    return send_seq(st, 1);
  }
  struct sender *s = yw_arena_alloc(yw_rpc_stream_arena(st), sizeof *s);
  if (s == NULL) return YW_ENOMEM;
  pthread_mutex_init(&s->mu, NULL); /* plain memory, nothing to destroy */
  s->st = st;
  s->next = 1;
  s->count = req->count;
  yw_rpc_stream_on_drain(st, send_more, s);
  send_more(s);
  return 0;
}

static const yw_rpc_method methods[] = {{.name = "Watch", .stream = watch}};
static const yw_rpc_service service = {&yiwang__test__v1__stream_service__descriptor, methods,
                                       1, NULL};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s 127.0.0.1:PORT\n", argv[0]);
    return 2;
  }
  yw_rpc_block_signals();
  yw_log_init("yw-test-stream-server", YW_LOG_INFO);
  yw_rpc_server *s = NULL;
  if (yw_rpc_server_new(argv[1], 2, &s) != 0 || yw_rpc_server_add_service(s, &service) != 0 ||
      yw_rpc_server_start(s) != 0) {
    fprintf(stderr, "cannot serve on %s\n", argv[1]);
    yw_rpc_server_free(s);
    return 1;
  }
  yw_log(YW_LOG_INFO, "server.ready", NULL, "serving on %s", argv[1]);
  yw_rpc_server_wait_signal(s);
  yw_rpc_server_free(s);
  return 0;
}
