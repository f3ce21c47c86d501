/*
 * feed_server.c - yiwang.test.v1.FeedService on the service runtime (lib/yw_rpc's
 * server streams), the service behind yw-gateway-test in tests/e2e/e2e_sse.sh and
 * bench/sse.sh.
 *
 * Watch sends `count` FeedEvents numbered from the last-event-id metadata plus one (or
 * 1), interval_ms apart, then ends OK (trailer x-feed-sent), or with hold stays open
 * until the client goes, or with fail_after ends UNAVAILABLE after that many; topic
 * "missing" is NOT_FOUND before any message. No thread per subscriber: the handler
 * keeps the stream and returns; one sender thread walks the open streams, sending what
 * is due while fewer than MAX_QUEUED messages wait in a stream's queue (so a reader
 * that does not read holds the sender back, as the gateway's flow control does with
 * the HTTP/2 window). Each stream's end is one line on stdout, for the tests:
 *   watch <topic> ended cancelled=<0|1> sent=<n> last_event_id=<id|-> caller=<yes|no>
 *
 * Usage: feed_server PORT [HANDLER_THREADS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/test/v1/feed.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define MAX_QUEUED 2 /* messages waiting in a stream's queue before the sender waits */

typedef struct sub {
  struct sub *next;
  yw_rpc_stream *st;
  char topic[64];
  char last_id[32];
  int caller;
  int count, interval_ms, hold, fail_after, size, stamp;
  long long next_seq;
  int sent;
  long long due_ms;
  int cancelled; /* set by the runtime's cancel callback */
  int done;      /* finished by us, or its end reported */
} sub;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sub *subs;
static int stopping;
static char *padding; /* size bytes of 'x', the largest asked for */
static size_t padding_len;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(const sub *s, int cancelled) {
  printf("watch %s ended cancelled=%d sent=%d last_event_id=%s caller=%s\n", s->topic, cancelled,
         s->sent, s->last_id[0] != '\0' ? s->last_id : "-", s->caller ? "yes" : "no");
  fflush(stdout);
}

static void on_cancel(void *arg) {
  sub *s = arg;
  pthread_mutex_lock(&mu);
  s->cancelled = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

static int watch(yw_rpc_stream *st, const ProtobufCMessage *request, void *data) {
  (void)data;
  const Yiwang__Test__V1__FeedWatchRequest *req = (const void *)request;
  yw_rpc_call *call = yw_rpc_stream_call(st);
  if (strcmp(req->topic, "missing") == 0)
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such topic");
  sub *s = calloc(1, sizeof *s);
  if (s == NULL) return YW_ENOMEM;
  snprintf(s->topic, sizeof s->topic, "%s", req->topic);
  const char *last = yw_rpc_call_metadata(call, "last-event-id");
  if (last != NULL) snprintf(s->last_id, sizeof s->last_id, "%s", last);
  s->caller = yw_rpc_call_metadata(call, "x-yw-caller") != NULL;
  s->next_seq = last != NULL ? strtoll(last, NULL, 10) + 1 : 1;
  s->count = req->count;
  s->interval_ms = req->interval_ms;
  s->hold = req->hold;
  s->fail_after = req->fail_after;
  s->stamp = req->stamp;
  s->size = req->size > 0 && (size_t)req->size <= padding_len ? req->size : 0;
  s->due_ms = now_ms() + s->interval_ms;
  s->st = st;
  pthread_mutex_lock(&mu);
  s->next = subs;
  subs = s;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  yw_rpc_stream_on_cancel(st, on_cancel, s);
  return 0; /* the stream stays open; the sender holds our reference */
}

/* Ends s by our own finish: its reference goes back, but s itself stays (until exit),
 * since a cancel racing with the finish may still run its callback on s. */
static void finish_sub(sub *s, int code, const char *message) {
  s->done = 1;
  report(s, 0);
  yw_rpc_stream_finish(s->st, code, message);
  yw_rpc_stream_unref(s->st);
  s->st = NULL;
}

/* One step of s, under mu. Returns 1 when s is to be freed (its cancel came). */
static int step(sub *s, long long now) {
  if (s->done) return 0;
  if (s->cancelled) {
    report(s, 1);
    yw_rpc_stream_unref(s->st);
    return 1;
  }
  while (s->sent < s->count && now >= s->due_ms && yw_rpc_stream_queued(s->st) < MAX_QUEUED) {
    if (s->fail_after > 0 && s->sent == s->fail_after) {
      finish_sub(s, YW_EUNAVAIL, "the feed broke off");
      return 0;
    }
    char text[32];
    if (s->stamp) { /* when it left, for the latency of bench/sse.sh */
      struct timespec wall;
      clock_gettime(CLOCK_REALTIME, &wall);
      snprintf(text, sizeof text, "%lld", (long long)wall.tv_sec * 1000000 + wall.tv_nsec / 1000);
    } else {
      snprintf(text, sizeof text, "event %lld", s->next_seq);
    }
    Yiwang__Test__V1__FeedEvent ev = YIWANG__TEST__V1__FEED_EVENT__INIT;
    ev.seq = s->next_seq;
    ev.topic = s->topic;
    if (s->size > 0) {
      padding[s->size] = '\0';
      ev.text = padding;
    } else {
      ev.text = text;
    }
    int rc = yw_rpc_stream_send(s->st, &ev.base);
    if (s->size > 0) padding[s->size] = 'x';
    if (rc != 0) return 0; /* ended: its cancel callback says so */
    s->next_seq++;
    s->sent++;
    s->due_ms = s->interval_ms > 0 ? now + s->interval_ms : s->due_ms;
  }
  if (s->sent == s->count && !s->hold) {
    char n[16];
    snprintf(n, sizeof n, "%d", s->sent);
    yw_rpc_call_add_trailer(yw_rpc_stream_call(s->st), "x-feed-sent", n);
    finish_sub(s, 0, NULL);
  }
  return 0;
}

static void *sender(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  while (!stopping) {
    long long now = now_ms();
    for (sub **p = &subs; *p != NULL;) {
      sub *s = *p;
      if (step(s, now)) {
        *p = s->next;
        free(s);
      } else {
        p = &s->next;
      }
    }
    /* again in 2 ms: due times, and queues that have room again */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 2 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

static const yw_rpc_method methods[] = {{"Watch", NULL, watch}};

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: feed_server PORT [HANDLER_THREADS]\n");
    return 2;
  }
  yw_rpc_block_signals();
  yw_log_init("feed_server", YW_LOG_WARN);
  padding_len = 1 << 20;
  padding = malloc(padding_len + 1);
  if (padding == NULL) return 1;
  memset(padding, 'x', padding_len);
  padding[padding_len] = '\0';
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%s", argv[1]);
  yw_rpc_server *srv = NULL;
  long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
  if (yw_rpc_server_new(addr, threads > 0 && threads < 256 ? (int)threads : 2, &srv) != 0) return 1;
  yw_rpc_server_set_max_streams(srv, 20000);
  yw_rpc_server_set_queue(srv, 20000); /* a thousand subscribers may come at once */
  yw_rpc_service svc = {&yiwang__test__v1__feed_service__descriptor, methods, 1, NULL};
  if (yw_rpc_server_add_service(srv, &svc) != 0 || yw_rpc_server_start(srv) != 0) return 1;
  pthread_t t;
  pthread_create(&t, NULL, sender, NULL);
  printf("serving on %d\n", yw_rpc_server_port(srv));
  fflush(stdout);
  yw_rpc_server_wait_signal(srv);
  pthread_mutex_lock(&mu);
  stopping = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  pthread_join(t, NULL);
  yw_rpc_server_free(srv);
  while (subs != NULL) {
    sub *s = subs;
    subs = s->next;
    if (s->st != NULL) yw_rpc_stream_unref(s->st);
    free(s);
  }
  free(padding);
  return 0;
}
