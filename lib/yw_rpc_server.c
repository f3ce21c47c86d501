/*
 * yw_rpc_server.c - a gRPC server on the core C API for protobuf-c services.
 *
 * Design: two kinds of threads. A few I/O threads wait on the one completion queue and
 * do only cheap steps (a call arrived, its request was read, its answer went out, its
 * caller went away). Handlers run on a pool of `threads` handler threads fed by a
 * bounded queue. Admission happens when a request has been read: while fewer than
 * threads + max_queue calls are running or queued it is queued; past that it is refused
 * at once with RESOURCE_EXHAUSTED and a retry-after trailer, instead of waiting out its
 * deadline behind busy handlers. The health method is answered on the I/O thread from a
 * status a probe thread refreshes, so a saturated service still answers its checks.
 *
 * A call carries two tags: the main one moves it through three batches
 *   REQUESTED  -> the call arrived; post RECV_MESSAGE, and RECV_CLOSE_ON_SERVER apart
 *   RECEIVING  -> the request is here; admit (queue) or refuse
 *   SENDING    -> the answer (SEND_INITIAL_METADATA + SEND_MESSAGE + SEND_STATUS) went out
 * and the close tag completes when the call ends for any reason, early when the caller
 * cancels or its deadline passes: the handler can ask yw_rpc_call_cancelled between
 * steps and stop. The call is freed when both tags are done (a reference each).
 *
 * Deferred unary calls: a handler that called yw_rpc_call_defer returns YW_RPC_DEFERRED
 * and its thread goes back to the queue; the main reference stays with the call until
 * yw_rpc_call_finish sends the answer, from any thread. Deferred calls are counted apart
 * from running and queued ones, under their own cap (max_deferred).
 *
 * Server streams: the request is read and admitted as for a unary call (plus a cap on
 * open streams); the stream handler runs on a handler thread and returns at once.
 * Sends pack the message on the sender's thread and queue it under the call's lock;
 * one SEND_MESSAGE batch is in flight per stream (its own tag), and its completion on
 * an I/O thread starts the next; past the queue bound the stream is ended with
 * RESOURCE_EXHAUSTED. The status goes out once the queue is empty. Two counts keep a
 * call alive: refs for the gRPC side (main flow, close batch, a send in flight), whose
 * end gives back the server's count of calls in flight, and holds for its memory (the
 * gRPC side, the stream's holders, forwards in flight), so a holder can still call a
 * stream (and get YW_ECANCELED) after the caller went away.
 *
 * Shutdown (DESIGN.md order): grpc_server_shutdown_and_notify, finish the open streams
 * with UNAVAILABLE, wait for its tag and for
 * every accepted call (cancel all calls after the grace period), grpc_server_destroy,
 * shut the queue down, I/O threads leave on GRPC_QUEUE_SHUTDOWN, destroy the queue,
 * stop the handler threads, grpc_shutdown.
 *
 * Mutual TLS (yw_rpc_server_new_tls): the same server on SSL credentials that require
 * and verify a client certificate, so a cleartext or certificate-less caller never
 * reaches a handler; the files are read and checked once, here.
 *
 * Offers: yw_rpc_block_signals, yw_rpc_server_new, yw_rpc_server_new_tls,
 * yw_rpc_server_set_queue, yw_rpc_server_set_priority, yw_rpc_server_set_priority_gate,
 * yw_rpc_server_set_max_deferred, yw_rpc_server_set_max_streams, yw_rpc_server_set_client_names,
 * yw_rpc_server_set_stream_queue, yw_rpc_server_set_stream_queue_bytes,
 * yw_rpc_server_set_caller,
 * yw_rpc_server_set_health, yw_rpc_server_add_service, yw_rpc_server_start,
 * yw_rpc_server_port, yw_rpc_server_stats_get, yw_rpc_server_wait_signal, yw_rpc_server_shutdown,
 * yw_rpc_server_free, the yw_rpc_call_* accessors, yw_rpc_call_defer,
 * yw_rpc_call_finish, yw_rpc_call_on_cancel, yw_rpc_call_forward(_within), the yw_rpc_stream_*
 * functions, yw_rpc_method_streams and yw_rpc_method_table_register.
 */
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_caller.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define POSTS_PER_THREAD 8
#define MAX_SERVICES 8
#define MAX_TRAILERS 8
#define HEALTH_METHOD "/grpc.health.v1.Health/Check"
#define BUSY_RETRY_AFTER "1" /* seconds a refused caller is asked to wait */

#define DEFAULT_MAX_DEFERRED 1024
#define DEFAULT_MAX_STREAMS 1000
#define DEFAULT_STREAM_QUEUE 256
#define DEFAULT_STREAM_QUEUE_BYTES (4 << 20)

enum call_state { CALL_REQUESTED, CALL_RECEIVING, CALL_SENDING };
enum tag_kind { TAG_MAIN, TAG_CLOSE, TAG_SEND };

struct call_tag {
  enum tag_kind kind;
  yw_rpc_call *call;
};

struct out_msg {
  grpc_byte_buffer *bb;
  size_t size;
  struct out_msg *next;
};

/* A stream's state; every field is guarded by its call's cmu. */
struct yw_rpc_stream {
  yw_rpc_call *call;
  struct out_msg *head, *tail; /* packed messages waiting to be sent */
  int len;
  size_t bytes;                /* packed bytes of the queued messages */
  grpc_byte_buffer *sending;   /* the message of the send in flight */
  int op_inflight;             /* a send batch is out */
  int md_sent;                 /* initial metadata went out */
  int ended;                   /* no more sends: finished, cut or gone */
  int by_owner;                /* ended by the holder's yw_rpc_stream_finish */
  int drop;                    /* drop what is queued instead of sending it */
  int gone;                    /* the gRPC call is over (cancelled, failed) */
  int status_started;          /* the status batch is out */
  int main_released;           /* the main reference was given back (or will be) */
  int code;                    /* YW_E* code to end with */
  char *text;                  /* status message (malloc), or NULL */
  yw_rpc_stream *open_next, *open_prev; /* the server's open streams, guarded by s->mu */
  int listed;
  int started;                 /* its handler is about to run: the stream owns the call */
  void (*drain_fn)(void *); /* runs when the queue has emptied */
  void *drain_arg;
};

struct yw_rpc_call {
  struct call_tag main_tag;  /* the batches of the call's own flow */
  struct call_tag close_tag; /* RECV_CLOSE_ON_SERVER: the call ended, maybe cancelled */
  struct call_tag send_tag;  /* a stream's SEND_MESSAGE batch */
  atomic_int refs;           /* gRPC side: main flow + close batch + send in flight */
  atomic_int holds;          /* memory: the gRPC side + stream holders + forwards */
  pthread_mutex_t cmu;       /* guards finished, deferred, the cancel callback, st */
  int finished;              /* answered (unary) or finished by its holder (stream) */
  int deferred;              /* yw_rpc_call_defer succeeded */
  int in_handler;            /* the unary handler is running (defer allowed) */
  int is_stream;
  int counted_stream;        /* counted in server->streams_open */
  void (*cancel_fn)(void *);
  void *cancel_arg;
  int cancel_ran;
  const yw_rpc_service *svc;
  const ProtobufCMethodDescriptor *mdesc;
  yw_rpc_handler_fn fn;
  yw_rpc_stream_fn sfn;
  struct yw_rpc_stream st;
  enum call_state state;
  int accepted;        /* counted in server->inflight until freed */
  yw_rpc_server *server;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *recv;
  grpc_byte_buffer *send;
  int cancelled;       /* written by gRPC when the close batch completes */
  atomic_int gone;     /* the caller cancelled or its deadline passed */
  int has_retry_after;
  yw_arena *arena;
  char *method;        /* NUL-terminated copy of details.method */
  const char *request_id; /* x-request-id, copied once before the handler runs */
  char *status_text;
  grpc_slice status_slice;
  grpc_metadata trailers[MAX_TRAILERS];
  size_t n_trailers;
  yw_rpc_call *queue_next;
};

#define PRIORITY_MAX 1024
#define CLIENT_NAMES_MAX 16
#define CLIENT_NAME_MAX 63

struct yw_rpc_server {
  grpc_server *server;
  int tls;                 /* serves mutual TLS */
  int n_client_names;      /* 0: any client certificate the CA signed */
  char client_names[CLIENT_NAMES_MAX][CLIENT_NAME_MAX + 1];
  grpc_completion_queue *cq;
  int port;
  int nthreads;        /* handler threads */
  int nio;             /* completion-queue threads */
  int max_queue;       /* calls admitted beyond the running ones */
  pthread_t *threads;  /* nio I/O threads, then nthreads handler threads */
  int started;
  atomic_int shutting_down;
  int shutdown_done;   /* guarded by mu */
  int inflight;        /* accepted calls not yet freed, guarded by mu */
  int destroyed;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const yw_rpc_service *services[MAX_SERVICES];
  size_t n_services;
  char shutdown_tag;   /* its address is the tag */

  /* the handler queue */
  pthread_mutex_t qmu;
  pthread_cond_t qcv;
  yw_rpc_call *q_head, *q_tail;
  yw_rpc_call *q_prio_tail; /* the last queued priority call (they are the queue's head) */
  int q_len;
  char priority[PRIORITY_MAX]; /* ",/pkg.Svc/Method,...,": methods admitted first */
  int priority_reserve;        /* room beyond threads + max_queue kept for them */
  yw_rpc_priority_gate prio_gate; /* may take a priority call's priority away; NULL: none */
  void *prio_gate_arg;
  int running;         /* handlers running now */
  int q_closed;
  atomic_long refused;
  atomic_long stream_messages; /* messages queued on streams */
  atomic_long streams_cut;     /* streams ended behind a slow reader */
  atomic_long streams_total;   /* streams whose handler ran */
  int n_deferred;      /* deferred calls not yet finished */
  int max_deferred;
  int streams_open;    /* admitted streams whose gRPC side is not over */
  int max_streams;
  int stream_queue;    /* messages a stream may queue */
  size_t stream_queue_bytes; /* and their bytes */

  /* open streams, guarded by mu */
  yw_rpc_stream *open_streams;

  /* calls between services */
  const yw_caller_keys *caller_keys;
  char service_name[32];

  /* health */
  yw_rpc_health_fn health_fn;
  void *health_arg;
  int health_interval_ms;
  atomic_int healthy;
  pthread_t health_thread;
  int health_started;
  int health_stop;     /* guarded by mu */
};

void yw_rpc_block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* ---- per-call accessors ---------------------------------------------------------- */

yw_arena *yw_rpc_call_arena(yw_rpc_call *c) { return c->arena; }
ProtobufCAllocator *yw_rpc_call_allocator(yw_rpc_call *c) { return yw_arena_allocator(c->arena); }

const char *yw_rpc_call_metadata(yw_rpc_call *c, const char *key) {
  for (size_t i = 0; i < c->md.count; i++) {
    const grpc_metadata *m = &c->md.metadata[i];
    if (grpc_slice_str_cmp(m->key, key) == 0)
      return yw_arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(m->value),
                              GRPC_SLICE_LENGTH(m->value));
  }
  return NULL;
}

const char *yw_rpc_call_request_id(yw_rpc_call *c) {
  /* copied into the arena once, on the thread that admits the call, so that threads
   * sending on a stream or finishing a deferred call read it without the arena */
  if (c->request_id != NULL) return c->request_id;
  const char *id = yw_rpc_call_metadata(c, "x-request-id");
  return id != NULL ? id : "";
}

int64_t yw_rpc_call_ms_left(yw_rpc_call *c) {
  gpr_timespec dl = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
  if (gpr_time_cmp(dl, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0) return INT64_MAX;
  gpr_timespec left = gpr_time_sub(dl, gpr_now(GPR_CLOCK_MONOTONIC));
  /* Rounded down: gpr_time_to_millis rounds up, which after the clock conversions can
   * report more time than the caller gave. */
  if (left.tv_sec < 0) return 0;
  return (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

int yw_rpc_call_fail(yw_rpc_call *c, int code, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  c->status_text = yw_arena_strndup(c->arena, buf, (size_t)-1);
  return code;
}

const char *yw_rpc_call_status_message(yw_rpc_call *c) {
  return c->status_text != NULL ? c->status_text : "";
}

int yw_rpc_call_add_trailer(yw_rpc_call *c, const char *key, const char *value) {
  if (c->n_trailers >= MAX_TRAILERS) return YW_ETOOBIG;
  grpc_metadata *m = &c->trailers[c->n_trailers];
  memset(m, 0, sizeof *m);
  m->key = grpc_slice_from_copied_string(key);
  m->value = grpc_slice_from_copied_string(value);
  if (strcmp(key, "retry-after") == 0) c->has_retry_after = 1;
  c->n_trailers++;
  return 0;
}

int yw_rpc_call_cancelled(yw_rpc_call *c) { return atomic_load(&c->gone); }

const char *yw_rpc_call_method(yw_rpc_call *c) { return c->method != NULL ? c->method : ""; }

/* ---- call lifecycle -------------------------------------------------------------- */

static void stream_drop_queue(struct yw_rpc_stream *st) {
  while (st->head != NULL) {
    struct out_msg *m = st->head;
    st->head = m->next;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
  }
  st->tail = NULL;
  st->len = 0;
  st->bytes = 0;
}

/* Frees the call's memory: the last hold is gone. */
static void call_free(yw_rpc_call *c) {
  if (c == NULL) return;
  if (c->call != NULL) grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  if (c->recv != NULL) grpc_byte_buffer_destroy(c->recv);
  if (c->send != NULL) grpc_byte_buffer_destroy(c->send);
  for (size_t i = 0; i < c->n_trailers; i++) {
    grpc_slice_unref(c->trailers[i].key);
    grpc_slice_unref(c->trailers[i].value);
  }
  if (c->state == CALL_SENDING) grpc_slice_unref(c->status_slice);
  stream_drop_queue(&c->st);
  if (c->st.sending != NULL) grpc_byte_buffer_destroy(c->st.sending);
  free(c->st.text);
  yw_arena_free(c->arena);
  pthread_mutex_destroy(&c->cmu);
  free(c);
}

static void call_release(yw_rpc_call *c) {
  if (atomic_fetch_sub(&c->holds, 1) == 1) call_free(c);
}

/* The gRPC side of the call is over: no batch of it is left. */
static void call_done(yw_rpc_call *c) {
  yw_rpc_server *s = c->server;
  if (c->counted_stream) {
    pthread_mutex_lock(&s->qmu);
    s->streams_open--;
    pthread_mutex_unlock(&s->qmu);
  }
  if (c->accepted) {
    /* a handler may outlive its caller (a deadline passed); shutdown waits for it */
    pthread_mutex_lock(&s->mu);
    if (c->st.listed) {
      yw_rpc_stream *st = &c->st;
      if (st->open_prev != NULL) st->open_prev->open_next = st->open_next;
      else s->open_streams = st->open_next;
      if (st->open_next != NULL) st->open_next->open_prev = st->open_prev;
      st->listed = 0;
    }
    if (--s->inflight == 0) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  call_release(c);
}

static void call_unref(yw_rpc_call *c) {
  if (atomic_fetch_sub(&c->refs, 1) == 1) call_done(c);
}

static int post_request(yw_rpc_server *s) {
  yw_rpc_call *c = calloc(1, sizeof *c);
  if (c == NULL) return YW_ENOMEM;
  c->server = s;
  c->state = CALL_REQUESTED;
  c->main_tag = (struct call_tag){TAG_MAIN, c};
  c->close_tag = (struct call_tag){TAG_CLOSE, c};
  c->send_tag = (struct call_tag){TAG_SEND, c};
  c->st.call = c;
  atomic_init(&c->refs, 1);
  atomic_init(&c->holds, 1);
  pthread_mutex_init(&c->cmu, NULL);
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  grpc_call_error e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq,
                                               s->cq, &c->main_tag);
  if (e != GRPC_CALL_OK) {
    call_free(c);
    return YW_EINTERNAL;
  }
  return 0;
}

/* Starts the batch that ends the call: initial metadata (unless sent), c->send when
 * status is OK, and the status with c's trailers. Its completion gives back the main
 * reference. Returns 0, or -1 when gRPC refused the batch (the caller gives the main
 * reference back then). */
static int send_status(yw_rpc_call *c, grpc_status_code status, int with_md) {
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (status == GRPC_STATUS_RESOURCE_EXHAUSTED && !c->has_retry_after)
    yw_rpc_call_add_trailer(c, "retry-after", BUSY_RETRY_AFTER);
  if (with_md) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
  }
  if (status == GRPC_STATUS_OK && c->send != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->send;
    n++;
  }
  c->status_slice = grpc_slice_from_copied_string(c->status_text != NULL ? c->status_text : "");
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = status;
  ops[n].data.send_status_from_server.status_details = &c->status_slice;
  ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trailers;
  ops[n].data.send_status_from_server.trailing_metadata = c->trailers;
  n++;
  c->state = CALL_SENDING;
  if (grpc_call_start_batch(c->call, ops, n, &c->main_tag, NULL) != GRPC_CALL_OK) {
    yw_log(YW_LOG_ERROR, "rpc.batch_failed", NULL, "could not send the answer of %s", c->method);
    return -1;
  }
  return 0;
}

/* Answers a unary call (or refuses any call before its handler ran). */
static void send_answer(yw_rpc_call *c, grpc_status_code status) {
  pthread_mutex_lock(&c->cmu);
  c->finished = 1;
  pthread_mutex_unlock(&c->cmu);
  if (send_status(c, status, 1) != 0) call_unref(c);
}

static int find_method(yw_rpc_server *s, const char *path, const yw_rpc_service **svc,
                       const ProtobufCMethodDescriptor **md, const yw_rpc_method **entry) {
  /* path is "/pkg.Service/Method" */
  if (path[0] != '/') return YW_ENOTFOUND;
  const char *slash = strchr(path + 1, '/');
  if (slash == NULL) return YW_ENOTFOUND;
  size_t svc_len = (size_t)(slash - path - 1);
  for (size_t i = 0; i < s->n_services; i++) {
    const yw_rpc_service *sv = s->services[i];
    if (strlen(sv->descriptor->name) != svc_len ||
        memcmp(sv->descriptor->name, path + 1, svc_len) != 0)
      continue;
    for (size_t m = 0; m < sv->n_methods; m++) {
      if (strcmp(sv->methods[m].name, slash + 1) != 0) continue;
      *svc = sv;
      *entry = &sv->methods[m];
      *md = protobuf_c_service_descriptor_get_method_by_name(sv->descriptor, slash + 1);
      return *md != NULL ? 0 : YW_ENOTFOUND;
    }
  }
  return YW_ENOTFOUND;
}

/* Packs msg into a byte buffer. */
static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  grpc_slice slice = grpc_slice_malloc(len);
  protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

/* grpc.health.v1.HealthCheckResponse{status: SERVING(1) or NOT_SERVING(2)} */
static void answer_health(yw_rpc_call *c) {
  yw_rpc_server *s = c->server;
  int serving = !atomic_load(&s->shutting_down) && atomic_load(&s->healthy);
  uint8_t body[2] = {0x08, serving ? 0x01 : 0x02};
  grpc_slice slice = grpc_slice_from_copied_buffer((const char *)body, sizeof body);
  c->send = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  send_answer(c, GRPC_STATUS_OK);
}

/* The status a unary call ends with when its handler returned rc and resp; packs resp
 * into c->send on OK. */
int yw_rpc_call_answer_packed(yw_rpc_call *call, const void *bytes, size_t len) {
  grpc_slice slice = grpc_slice_from_copied_buffer((const char *)bytes, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  if (bb == NULL) return YW_ENOMEM;
  if (call->send != NULL) grpc_byte_buffer_destroy(call->send);
  call->send = bb;
  return YW_RPC_PACKED;
}

static grpc_status_code unary_status(yw_rpc_call *c, int rc, const ProtobufCMessage *resp) {
  if (rc == YW_RPC_PACKED && c->send != NULL) return GRPC_STATUS_OK; /* packed already */
  if (rc == YW_RPC_PACKED) rc = YW_EINTERNAL;
  if (c->send != NULL) { /* a handler that packed an answer and then failed */
    grpc_byte_buffer_destroy(c->send);
    c->send = NULL;
  }
  if (rc == 0 && resp == NULL) {
    yw_rpc_call_fail(c, YW_EINTERNAL, "handler of %s returned no answer", c->method);
    rc = YW_EINTERNAL;
  }
  if (rc == 0 && resp->descriptor != c->mdesc->output) {
    yw_rpc_call_fail(c, YW_EINTERNAL, "handler of %s answered with the wrong type", c->method);
    rc = YW_EINTERNAL;
  }
  if (rc != 0) {
    if (c->status_text == NULL) c->status_text = (char *)yw_strerror(rc);
    grpc_status_code st = yw_err_to_grpc(rc);
    if (st == GRPC_STATUS_INTERNAL)
      yw_log(YW_LOG_ERROR, "rpc.internal", yw_rpc_call_request_id(c), "%s: %s", c->method,
             c->status_text);
    return st;
  }
  c->send = pack_message(resp);
  return GRPC_STATUS_OK;
}

/* ---- streams ----------------------------------------------------------------------- */

/* Starts a send batch: initial metadata when not sent yet, and the first queued message
 * if any. cmu held. Returns 0, or -1 when gRPC refused the batch. */
static int stream_start_send(yw_rpc_call *c) {
  struct yw_rpc_stream *st = &c->st;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!st->md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
  }
  if (st->head != NULL) {
    struct out_msg *m = st->head;
    st->head = m->next;
    if (st->head == NULL) st->tail = NULL;
    st->len--;
    st->bytes -= m->size;
    st->sending = m->bb;
    free(m);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = st->sending;
    n++;
  }
  atomic_fetch_add(&c->refs, 1);
  st->op_inflight = 1;
  if (grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL) != GRPC_CALL_OK) {
    st->op_inflight = 0;
    atomic_fetch_sub(&c->refs, 1); /* the main reference is still held: never the last */
    return -1;
  }
  st->md_sent = 1;
  return 0;
}

/* Moves the stream on after any change: next send, or the status once it has ended
 * and its queue is empty (or dropped). cmu held. Returns 1 when the caller must give
 * back the main reference (call_unref, outside the lock). */
static int stream_pump(yw_rpc_call *c) {
  struct yw_rpc_stream *st = &c->st;
  for (;;) {
    if (st->op_inflight || st->main_released) return 0;
    if (st->gone) {
      stream_drop_queue(st);
      st->main_released = 1;
      return 1;
    }
    if (!st->ended || (!st->drop && st->head != NULL)) {
      if (st->head == NULL && st->md_sent) return 0;
      if (stream_start_send(c) == 0) return 0;
      st->gone = st->ended = 1;
      continue;
    }
    stream_drop_queue(st);
    st->status_started = st->main_released = 1;
    c->status_text = st->text != NULL ? st->text
                     : st->code != 0  ? (char *)yw_strerror(st->code)
                                      : NULL;
    return send_status(c, yw_err_to_grpc(st->code), !st->md_sent) != 0;
  }
}

/* Ends the stream with code and text (copied) unless it has ended; by_owner says the
 * holder finished it, drop that queued messages are not sent. */
static void stream_end(yw_rpc_call *c, int code, const char *text, int by_owner, int drop) {
  struct yw_rpc_stream *st = &c->st;
  char *copy = text != NULL ? strdup(text) : NULL;
  pthread_mutex_lock(&c->cmu);
  if (!st->ended) {
    st->ended = 1;
    st->by_owner = by_owner;
    st->drop = drop;
    st->code = code;
    st->text = copy;
    copy = NULL;
    if (by_owner) c->finished = 1;
  }
  int release = stream_pump(c); /* also when it ended before: it may not have moved on */
  pthread_mutex_unlock(&c->cmu);
  free(copy);
  if (release) call_unref(c);
}

/* Runs the cancel callback of c once, unless its holder finished it. */
static void run_cancel(yw_rpc_call *c) {
  void (*fn)(void *) = NULL;
  void *arg = NULL;
  pthread_mutex_lock(&c->cmu);
  if (!c->finished && !c->cancel_ran && c->cancel_fn != NULL) {
    c->cancel_ran = 1;
    fn = c->cancel_fn;
    arg = c->cancel_arg;
  }
  pthread_mutex_unlock(&c->cmu);
  if (fn != NULL) fn(arg);
}

int yw_rpc_stream_send(yw_rpc_stream *st, const ProtobufCMessage *msg) {
  yw_rpc_call *c = st->call;
  pthread_mutex_lock(&c->cmu);
  int ended = st->ended;
  pthread_mutex_unlock(&c->cmu);
  if (ended) return YW_ECANCELED;
  struct out_msg *m = malloc(sizeof *m);
  if (m == NULL) return YW_ENOMEM;
  m->bb = pack_message(msg);
  m->size = grpc_byte_buffer_length(m->bb);
  m->next = NULL;
  int rc = 0, release = 0;
  pthread_mutex_lock(&c->cmu);
  if (st->ended) {
    rc = YW_ECANCELED;
  } else if (st->len >= c->server->stream_queue ||
             (st->len > 0 && st->bytes + m->size > c->server->stream_queue_bytes)) {
    /* the count and the bytes are both bounded (one message may exceed the bytes) */
    rc = YW_ELIMIT;
  } else {
    if (st->tail != NULL) st->tail->next = m;
    else st->head = m;
    st->tail = m;
    st->len++;
    st->bytes += m->size;
    m = NULL;
    release = stream_pump(c);
  }
  pthread_mutex_unlock(&c->cmu);
  if (rc == 0) atomic_fetch_add(&c->server->stream_messages, 1);
  if (m != NULL) {
    grpc_byte_buffer_destroy(m->bb);
    free(m);
  }
  if (release) call_unref(c);
  if (rc == YW_ELIMIT) {
    atomic_fetch_add(&c->server->streams_cut, 1);
    yw_log(YW_LOG_WARN, "rpc.stream_slow_reader", yw_rpc_call_request_id(c),
           "%s: the queue (%d messages, %zu bytes) is full behind a slow reader; the stream "
           "is ended", c->method, c->server->stream_queue, c->server->stream_queue_bytes);
    stream_end(c, YW_ELIMIT, "the stream's reader is too slow", 0, 1);
  }
  return rc;
}

void yw_rpc_stream_finish(yw_rpc_stream *st, int code, const char *message) {
  stream_end(st->call, code, message, 1, 0);
}

/* Sets the cancel callback, or runs it now when the call has already ended so. The state
 * is read under the same lock run_cancel takes after the state changes, so fn runs once
 * whichever comes first. */
static void on_cancel_set(yw_rpc_call *c, void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&c->cmu);
  int now = 0;
  int ended_already = c->is_stream ? c->st.gone || (c->st.ended && !c->st.by_owner)
                                   : atomic_load(&c->gone);
  if (!c->finished && !c->cancel_ran) {
    if (ended_already) {
      c->cancel_ran = 1;
      now = 1;
    } else {
      c->cancel_fn = fn;
      c->cancel_arg = arg;
    }
  }
  pthread_mutex_unlock(&c->cmu);
  if (now && fn != NULL) fn(arg);
}

void yw_rpc_stream_on_cancel(yw_rpc_stream *st, void (*fn)(void *), void *arg) {
  on_cancel_set(st->call, fn, arg);
}

void yw_rpc_stream_on_drain(yw_rpc_stream *st, void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&st->call->cmu);
  st->drain_fn = fn;
  st->drain_arg = arg;
  pthread_mutex_unlock(&st->call->cmu);
}

int yw_rpc_stream_queued(yw_rpc_stream *st) {
  pthread_mutex_lock(&st->call->cmu);
  int n = st->len;
  pthread_mutex_unlock(&st->call->cmu);
  return n;
}

void yw_rpc_stream_ref(yw_rpc_stream *st) { atomic_fetch_add(&st->call->holds, 1); }
void yw_rpc_stream_unref(yw_rpc_stream *st) {
  if (st != NULL) call_release(st->call);
}

int yw_rpc_stream_ended(yw_rpc_stream *st) {
  pthread_mutex_lock(&st->call->cmu);
  int ended = st->ended || st->gone;
  pthread_mutex_unlock(&st->call->cmu);
  return ended;
}

yw_rpc_call *yw_rpc_stream_call(yw_rpc_stream *st) { return st->call; }
yw_arena *yw_rpc_stream_arena(yw_rpc_stream *st) { return st->call->arena; }
const char *yw_rpc_stream_metadata(yw_rpc_stream *st, const char *key) {
  return yw_rpc_call_metadata(st->call, key);
}
const char *yw_rpc_stream_request_id(yw_rpc_stream *st) {
  return yw_rpc_call_request_id(st->call);
}
const char *yw_rpc_stream_method(yw_rpc_stream *st) { return yw_rpc_call_method(st->call); }
int64_t yw_rpc_stream_ms_left(yw_rpc_stream *st) { return yw_rpc_call_ms_left(st->call); }

/* On a handler thread: opens the stream of c and runs its handler. */
static void run_stream(yw_rpc_call *c, const ProtobufCMessage *req) {
  yw_rpc_server *s = c->server;
  pthread_mutex_lock(&s->mu);
  int stopping = atomic_load(&s->shutting_down);
  if (!stopping) {
    c->st.open_next = s->open_streams;
    c->st.open_prev = NULL;
    if (s->open_streams != NULL) s->open_streams->open_prev = &c->st;
    s->open_streams = &c->st;
    c->st.listed = 1;
  }
  pthread_mutex_unlock(&s->mu);
  if (stopping) {
    stream_end(c, YW_EUNAVAIL, "the service is shutting down", 0, 1);
    return;
  }
  /* From here the stream, not the unary flow, ends the call; a caller that left before
   * this point ends it at once (the handler still runs, and learns it from its sends or
   * its cancel callback). */
  pthread_mutex_lock(&c->cmu);
  c->st.started = 1;
  if (atomic_load(&c->gone)) c->st.gone = c->st.ended = 1;
  pthread_mutex_unlock(&c->cmu);
  atomic_fetch_add(&c->holds, 1); /* the handler's reference */
  atomic_fetch_add(&s->streams_total, 1);
  int rc = c->sfn(&c->st, req, c->svc->data);
  if (rc != 0) {
    if (rc > 0) rc = YW_EINTERNAL;
    stream_end(c, rc, c->status_text != NULL ? c->status_text : yw_strerror(rc), 1, 1);
    yw_rpc_stream_unref(&c->st);
    return;
  }
  pthread_mutex_lock(&c->cmu);
  int release = stream_pump(c); /* the initial metadata, unless a send took it */
  pthread_mutex_unlock(&c->cmu);
  if (release) call_unref(c);
}

/* ---- deferred calls ---------------------------------------------------------------- */

int yw_rpc_call_defer(yw_rpc_call *c) {
  if (!c->in_handler || c->is_stream || c->deferred) return YW_EINVAL;
  yw_rpc_server *s = c->server;
  pthread_mutex_lock(&s->qmu);
  int room = s->n_deferred < s->max_deferred;
  if (room) s->n_deferred++;
  pthread_mutex_unlock(&s->qmu);
  if (!room) return YW_ELIMIT;
  pthread_mutex_lock(&c->cmu);
  c->deferred = 1;
  pthread_mutex_unlock(&c->cmu);
  return 0;
}

void yw_rpc_call_finish(yw_rpc_call *c, int code, const ProtobufCMessage *response) {
  pthread_mutex_lock(&c->cmu);
  int ok = c->deferred && !c->finished;
  if (ok) c->finished = 1;
  pthread_mutex_unlock(&c->cmu);
  if (!ok) return;
  yw_rpc_server *s = c->server;
  pthread_mutex_lock(&s->qmu);
  s->n_deferred--;
  pthread_mutex_unlock(&s->qmu);
  if (code > 0) code = YW_EINTERNAL;
  if (send_status(c, unary_status(c, code, response), 1) != 0) call_unref(c);
}

void yw_rpc_call_on_cancel(yw_rpc_call *c, void (*fn)(void *), void *arg) {
  on_cancel_set(c, fn, arg);
}

/* ---- the flow of a call ------------------------------------------------------------ */

/* Runs the handler of c on a handler thread and returns the status to answer with, or
 * -1 when the call is answered later (deferred) or is a stream. */
/* 1 when the call's client certificate names one of the server's client names. */
static int client_allowed(yw_rpc_call *c) {
  const yw_rpc_server *s = c->server;
  grpc_auth_context *ac = grpc_call_auth_context(c->call);
  if (ac == NULL) return 0;
  int ok = 0;
  grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ac, GRPC_X509_CN_PROPERTY_NAME);
  const grpc_auth_property *p;
  while (!ok && (p = grpc_auth_property_iterator_next(&it)) != NULL)
    for (int i = 0; i < s->n_client_names && !ok; i++)
      ok = p->value_length == strlen(s->client_names[i]) &&
           memcmp(p->value, s->client_names[i], p->value_length) == 0;
  grpc_auth_context_release(ac);
  return ok;
}

static int dispatch(yw_rpc_call *c) {
  if (c->server->n_client_names > 0 && !client_allowed(c)) {
    yw_log(YW_LOG_WARN, "rpc.client_refused", NULL,
           "%s: the client certificate's name is not one this service serves", c->method);
    yw_rpc_call_fail(c, YW_EUNAUTH, "this client certificate may not call this service");
    return GRPC_STATUS_UNAUTHENTICATED;
  }
  if (c->svc == NULL) {
    yw_rpc_call_fail(c, YW_EUNIMPL, "unknown method %s", c->method);
    return GRPC_STATUS_UNIMPLEMENTED;
  }
  if (c->recv == NULL) {
    yw_rpc_call_fail(c, YW_EINVAL, "the call carried no request message");
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  if (yw_rpc_call_ms_left(c) <= 0) {
    yw_rpc_call_fail(c, YW_ETIMEOUT, "deadline passed before the call was handled");
    return GRPC_STATUS_DEADLINE_EXCEEDED;
  }
  if (yw_rpc_call_cancelled(c)) {
    /* nobody waits for the answer: do not start the work */
    yw_log(YW_LOG_INFO, "rpc.abandoned", yw_rpc_call_request_id(c),
           "%s: the caller left before the handler started", c->method);
    yw_rpc_call_fail(c, YW_ECANCELED, "the caller cancelled the call");
    return GRPC_STATUS_CANCELLED;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, c->recv)) {
    yw_rpc_call_fail(c, YW_EINVAL, "unreadable request");
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  ProtobufCAllocator *alloc = yw_arena_allocator(c->arena);
  ProtobufCMessage *req = protobuf_c_message_unpack(c->mdesc->input, alloc,
                                                    GRPC_SLICE_LENGTH(all),
                                                    GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  if (req == NULL) {
    yw_rpc_call_fail(c, YW_EINVAL, "the request is not a valid %s", c->mdesc->input->name);
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  if (c->is_stream) {
    run_stream(c, req);
    return -1;
  }
  ProtobufCMessage *resp = NULL;
  c->in_handler = 1;
  int rc = c->fn(c, req, &resp, c->svc->data);
  c->in_handler = 0;
  if (c->deferred) {
    if (rc != YW_RPC_DEFERRED)
      yw_log(YW_LOG_ERROR, "rpc.internal", yw_rpc_call_request_id(c),
             "%s: the handler deferred the call but returned %d; it is answered by "
             "yw_rpc_call_finish", c->method, rc);
    return -1;
  }
  if (rc == YW_RPC_DEFERRED) {
    yw_rpc_call_fail(c, YW_EINTERNAL, "handler of %s returned YW_RPC_DEFERRED without "
                     "deferring the call", c->method);
    rc = YW_EINTERNAL;
  }
  if (yw_rpc_call_cancelled(c))
    yw_log(YW_LOG_INFO, "rpc.abandoned", yw_rpc_call_request_id(c),
           "%s: the caller left while the handler ran", c->method);
  return unary_status(c, rc, resp);
}

/* Refuses c at once, before any handler ran. */
static void refuse(yw_rpc_call *c, const char *what) {
  yw_rpc_server *s = c->server;
  long n = atomic_fetch_add(&s->refused, 1) + 1;
  if (n == 1 || n % 1000 == 0)
    yw_log(YW_LOG_WARN, "rpc.refused", yw_rpc_call_request_id(c),
           "%s: %s; %ld calls refused so far", c->method, what, n);
  yw_rpc_call_fail(c, YW_ELIMIT, "the service is busy, try again shortly");
  send_answer(c, GRPC_STATUS_RESOURCE_EXHAUSTED);
}

/* 1 when method ("/pkg.Svc/Method") is one of the server's priority methods. */
static int is_priority(const yw_rpc_server *s, const char *method) {
  if (s->priority[0] == '\0' || method == NULL) return 0;
  size_t n = strlen(method);
  for (const char *p = strstr(s->priority, method); p != NULL; p = strstr(p + 1, method))
    if (p[-1] == ',' && p[n] == ',') return 1;
  return 0;
}

/* 1 when the server's priority gate lets c keep its priority (given the request's bytes). */
static int gate_allows(yw_rpc_server *s, yw_rpc_call *c) {
  grpc_byte_buffer_reader reader;
  if (c->recv == NULL || !grpc_byte_buffer_reader_init(&reader, c->recv))
    return s->prio_gate(s->prio_gate_arg, c->method, NULL, 0);
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  int keep = s->prio_gate(s->prio_gate_arg, c->method, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
  grpc_slice_unref(all);
  return keep;
}

/* On an I/O thread: the request is here. Queue it for a handler, or refuse it at once
 * when the handlers and the queue (or, for a stream, the open streams) are full. */
static void admit(yw_rpc_call *c) {
  yw_rpc_server *s = c->server;
  if (strcmp(c->method, HEALTH_METHOD) == 0) {
    answer_health(c);
    return;
  }
  c->request_id = yw_rpc_call_request_id(c);
  const yw_rpc_method *entry = NULL;
  if (find_method(s, c->method, &c->svc, &c->mdesc, &entry) == 0) {
    c->fn = entry->fn;
    c->sfn = entry->stream;
    c->is_stream = entry->stream != NULL;
  } else {
    c->svc = NULL;
  }
  int prio = !c->is_stream && is_priority(s, c->method);
  if (prio && s->prio_gate != NULL) prio = gate_allows(s, c);
  pthread_mutex_lock(&s->qmu);
  int room = !s->q_closed &&
             s->running + s->q_len < s->nthreads + s->max_queue + (prio ? s->priority_reserve : 0);
  int streams_full = room && c->is_stream && s->streams_open >= s->max_streams;
  if (room && !streams_full) {
    if (c->is_stream) {
      s->streams_open++;
      c->counted_stream = 1;
    }
    if (prio) { /* behind the priority calls already queued, ahead of every other */
      c->queue_next = s->q_prio_tail != NULL ? s->q_prio_tail->queue_next : s->q_head;
      if (s->q_prio_tail != NULL) s->q_prio_tail->queue_next = c;
      else s->q_head = c;
      s->q_prio_tail = c;
      if (c->queue_next == NULL) s->q_tail = c;
    } else {
      c->queue_next = NULL;
      if (s->q_tail != NULL) s->q_tail->queue_next = c;
      else s->q_head = c;
      s->q_tail = c;
    }
    s->q_len++;
    pthread_cond_signal(&s->qcv);
  }
  pthread_mutex_unlock(&s->qmu);
  if (room && !streams_full) return;
  char what[128];
  if (streams_full)
    snprintf(what, sizeof what, "%d streams are open", s->max_streams);
  else
    snprintf(what, sizeof what, "%d handlers and %d queued are busy", s->nthreads,
             s->max_queue);
  refuse(c, what);
}

static void on_requested(yw_rpc_call *c, int success) {
  yw_rpc_server *s = c->server;
  if (!success) { /* the server is shutting down */
    call_free(c);
    return;
  }
  pthread_mutex_lock(&s->mu);
  s->inflight++;
  pthread_mutex_unlock(&s->mu);
  c->accepted = 1;
  if (!atomic_load(&s->shutting_down)) post_request(s);
  c->arena = yw_arena_new(0);
  if (c->arena != NULL)
    c->method = yw_arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(c->details.method),
                                 GRPC_SLICE_LENGTH(c->details.method));
  if (c->method == NULL) {
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
    call_unref(c);
    return;
  }
  /* Learn early when the caller goes away, while the handler may still be running. */
  grpc_op close_op;
  memset(&close_op, 0, sizeof close_op);
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &c->cancelled;
  atomic_fetch_add(&c->refs, 1);
  if (grpc_call_start_batch(c->call, &close_op, 1, &c->close_tag, NULL) != GRPC_CALL_OK)
    atomic_fetch_sub(&c->refs, 1);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv;
  c->state = CALL_RECEIVING;
  if (grpc_call_start_batch(c->call, &op, 1, &c->main_tag, NULL) != GRPC_CALL_OK) call_unref(c);
}

/* On an I/O thread: the call is over; when the caller went away, a deferred call or a
 * stream learns it (cancel callback) and a stream stops sending. */
static void on_closed(yw_rpc_call *c) {
  if (c->cancelled) {
    atomic_store(&c->gone, 1);
    if (c->is_stream) {
      /* a stream whose handler has not started yet is still in the unary flow: the
       * handler queue holds it and answers it CANCELLED */
      pthread_mutex_lock(&c->cmu);
      int release = 0;
      if (c->st.started) {
        c->st.gone = c->st.ended = 1;
        release = stream_pump(c);
      }
      pthread_mutex_unlock(&c->cmu);
      if (release) call_unref(c);
    }
    run_cancel(c);
  }
  call_unref(c);
}

/* On an I/O thread: a stream's send batch completed. */
static void on_sent(yw_rpc_call *c, int success) {
  pthread_mutex_lock(&c->cmu);
  c->st.op_inflight = 0;
  if (c->st.sending != NULL) {
    grpc_byte_buffer_destroy(c->st.sending);
    c->st.sending = NULL;
  }
  if (!success) c->st.gone = c->st.ended = 1;
  int release = stream_pump(c);
  void (*drain)(void *) = NULL;
  void *drain_arg = NULL;
  if (!c->st.ended && !c->st.op_inflight && c->st.head == NULL) {
    drain = c->st.drain_fn;
    drain_arg = c->st.drain_arg;
  }
  pthread_mutex_unlock(&c->cmu);
  if (drain != NULL) drain(drain_arg);
  if (release) call_unref(c);
  call_unref(c);
}

static void *io_main(void *arg) {
  yw_rpc_server *s = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    if (ev.tag == &s->shutdown_tag) {
      pthread_mutex_lock(&s->mu);
      s->shutdown_done = 1;
      pthread_cond_broadcast(&s->cv);
      pthread_mutex_unlock(&s->mu);
      continue;
    }
    struct call_tag *t = ev.tag;
    yw_rpc_call *c = t->call;
    if (t->kind == TAG_CLOSE) {
      on_closed(c);
      continue;
    }
    if (t->kind == TAG_SEND) {
      on_sent(c, ev.success);
      continue;
    }
    switch (c->state) {
    case CALL_REQUESTED:
      on_requested(c, ev.success);
      break;
    case CALL_RECEIVING:
      if (!ev.success) {
        call_unref(c);
        break;
      }
      admit(c);
      break;
    case CALL_SENDING:
      /* a stream the server ended (slow reader, shutdown) tells its holder */
      if (c->is_stream) run_cancel(c);
      call_unref(c);
      break;
    }
  }
  return NULL;
}

static void *handler_main(void *arg) {
  yw_rpc_server *s = arg;
  pthread_mutex_lock(&s->qmu);
  for (;;) {
    while (s->q_head == NULL && !s->q_closed) pthread_cond_wait(&s->qcv, &s->qmu);
    if (s->q_head == NULL) break;
    yw_rpc_call *c = s->q_head;
    s->q_head = c->queue_next;
    if (s->q_head == NULL) s->q_tail = NULL;
    if (s->q_prio_tail == c) s->q_prio_tail = NULL;
    s->q_len--;
    s->running++;
    pthread_mutex_unlock(&s->qmu);
    /* a deferred call or a stream may end on another thread before its handler has
     * returned here: this thread's hold keeps the memory until it is done with it */
    atomic_fetch_add(&c->holds, 1);
    int st = dispatch(c);
    if (st >= 0) send_answer(c, (grpc_status_code)st);
    call_release(c);
    pthread_mutex_lock(&s->qmu);
    s->running--;
  }
  pthread_mutex_unlock(&s->qmu);
  return NULL;
}

/* The time grace_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(int grace_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += grace_ms / 1000;
  until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  return until;
}

static void *health_main(void *arg) {
  yw_rpc_server *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->health_stop) {
    pthread_mutex_unlock(&s->mu);
    atomic_store(&s->healthy, s->health_fn(s->health_arg) == 0);
    pthread_mutex_lock(&s->mu);
    struct timespec until = deadline_in(s->health_interval_ms);
    while (!s->health_stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ---- server lifecycle ------------------------------------------------------------ */

/* Cleartext without pem; with it, TLS that requires a client certificate signed by
 * pem->ca (gRPC copies the text). */
static grpc_server_credentials *server_credentials(const yw_rpc_tls_pem *pem) {
  if (pem == NULL) return grpc_insecure_server_credentials_create();
  grpc_ssl_pem_key_cert_pair pair = {pem->key, pem->cert};
  return grpc_ssl_server_credentials_create_ex(
      pem->ca, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
}

static int server_create(const char *addr, int threads, const yw_rpc_tls_pem *pem,
                         yw_rpc_server **out) {
  *out = NULL;
  grpc_init();
  yw_rpc_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    grpc_shutdown();
    return YW_ENOMEM;
  }
  s->nthreads = threads > 0 ? threads : 4;
  s->tls = pem != NULL;
  s->nio = s->nthreads >= 8 ? 2 : 1;
  s->max_queue = s->nthreads * 4;
  s->max_deferred = DEFAULT_MAX_DEFERRED;
  s->max_streams = DEFAULT_MAX_STREAMS;
  s->stream_queue = DEFAULT_STREAM_QUEUE;
  s->stream_queue_bytes = DEFAULT_STREAM_QUEUE_BYTES;
  atomic_init(&s->healthy, 1);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_mutex_init(&s->qmu, NULL);
  pthread_cond_init(&s->qcv, NULL);
  grpc_arg args[1];
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = 8 << 20;
  grpc_channel_args ch_args = {1, args};
  s->server = grpc_server_create(&ch_args, NULL);
  s->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(s->server, s->cq, NULL);
  grpc_server_credentials *creds = server_credentials(pem);
  s->port = grpc_server_add_http2_port(s->server, addr, creds);
  grpc_server_credentials_release(creds);
  if (s->port == 0) {
    s->destroyed = 1;
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(s->cq);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    free(s);
    grpc_shutdown();
    return YW_EIO;
  }
  *out = s;
  return 0;
}

int yw_rpc_server_new(const char *addr, int threads, yw_rpc_server **out) {
  return server_create(addr, threads, NULL, out);
}

int yw_rpc_server_new_tls(const char *addr, int threads, const yw_rpc_tls *tls,
                          yw_rpc_server **out) {
  if (tls == NULL) return yw_rpc_server_new(addr, threads, out);
  *out = NULL;
  yw_rpc_tls_pem pem;
  char err[512];
  int rc = yw_rpc_tls_read(tls, &pem, err, sizeof err);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "rpc.tls_unusable", NULL, "cannot serve mutual TLS: %s", err);
    return rc;
  }
  rc = server_create(addr, threads, &pem, out);
  yw_rpc_tls_pem_free(&pem);
  return rc;
}

int yw_rpc_server_set_queue(yw_rpc_server *s, int max_queue) {
  if (s->started || max_queue < 0) return YW_EINVAL;
  s->max_queue = max_queue;
  return 0;
}

int yw_rpc_server_set_priority(yw_rpc_server *s, const char *methods, int reserve) {
  if (s->started || reserve < 0) return YW_EINVAL;
  if (methods == NULL || methods[0] == '\0') {
    s->priority[0] = '\0';
    s->priority_reserve = 0;
    return 0;
  }
  size_t n = strlen(methods);
  if (n + 3 > sizeof s->priority || strchr(methods, ' ') != NULL || methods[0] != '/') return YW_EINVAL;
  snprintf(s->priority, sizeof s->priority, ",%s,", methods);
  s->priority_reserve = reserve;
  return 0;
}

int yw_rpc_server_set_priority_gate(yw_rpc_server *s, yw_rpc_priority_gate gate, void *arg) {
  if (s->started) return YW_EINVAL;
  s->prio_gate = gate;
  s->prio_gate_arg = arg;
  return 0;
}

int yw_rpc_server_set_max_deferred(yw_rpc_server *s, int max) {
  if (s->started || max < 1) return YW_EINVAL;
  s->max_deferred = max;
  return 0;
}

int yw_rpc_server_set_client_names(yw_rpc_server *s, const char *names) {
  if (s->started) return YW_EINVAL;
  s->n_client_names = 0;
  if (names == NULL || names[0] == '\0') return 0;
  if (!s->tls) return YW_EINVAL;
  const char *p = names;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == 0 || len > CLIENT_NAME_MAX || s->n_client_names == CLIENT_NAMES_MAX) {
      s->n_client_names = 0;
      return YW_EINVAL;
    }
    memcpy(s->client_names[s->n_client_names], p, len);
    s->client_names[s->n_client_names++][len] = '\0';
    p += len;
    if (*p == ',' && *++p == '\0') { /* a trailing comma: an empty last name */
      s->n_client_names = 0;
      return YW_EINVAL;
    }
  }
  return 0;
}

int yw_rpc_server_set_max_streams(yw_rpc_server *s, int max) {
  if (s->started || max < 1) return YW_EINVAL;
  s->max_streams = max;
  return 0;
}

int yw_rpc_server_set_stream_queue(yw_rpc_server *s, int max) {
  if (s->started || max < 1) return YW_EINVAL;
  s->stream_queue = max;
  return 0;
}

int yw_rpc_server_set_stream_queue_bytes(yw_rpc_server *s, size_t max) {
  if (s->started || max < 1) return YW_EINVAL;
  s->stream_queue_bytes = max;
  return 0;
}

int yw_rpc_server_set_caller(yw_rpc_server *s, const yw_caller_keys *keys,
                             const char *service_name) {
  size_t n = service_name != NULL ? strlen(service_name) : 0;
  if (s->started || keys == NULL || n == 0 || n >= sizeof s->service_name ||
      strspn(service_name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
    return YW_EINVAL;
  s->caller_keys = keys;
  memcpy(s->service_name, service_name, n + 1);
  return 0;
}

int yw_rpc_server_set_health(yw_rpc_server *s, yw_rpc_health_fn fn, void *arg, int interval_ms) {
  if (s->started || fn == NULL) return YW_EINVAL;
  s->health_fn = fn;
  s->health_arg = arg;
  s->health_interval_ms = interval_ms > 0 ? interval_ms : 1000;
  return 0;
}

int yw_rpc_server_add_service(yw_rpc_server *s, const yw_rpc_service *svc) {
  if (s->n_services >= MAX_SERVICES || s->started) return YW_EINVAL;
  const ProtobufCServiceDescriptor *d = svc->descriptor;
  for (unsigned i = 0; i < d->n_methods; i++) {
    const yw_rpc_method *entry = NULL;
    for (size_t m = 0; m < svc->n_methods; m++)
      if (strcmp(svc->methods[m].name, d->methods[i].name) == 0) entry = &svc->methods[m];
    if (entry == NULL || (entry->fn == NULL && entry->stream == NULL)) {
      yw_log(YW_LOG_ERROR, "rpc.missing_handler", NULL, "%s/%s has no handler", d->name,
             d->methods[i].name);
      return YW_EINVAL;
    }
    char path[YW_CALLER_METHOD_MAX + 2];
    snprintf(path, sizeof path, "/%s/%s", d->name, d->methods[i].name);
    int kind = yw_rpc_method_streams(path);
    const char *wrong = NULL;
    if (kind == YW_ENOTFOUND)
      wrong = "is not in the table of method kinds (is its .proto built by yw_proto_library?)";
    else if (kind == YW_RPC_CLIENT_STREAMING)
      wrong = "streams from the client, which the runtime does not support";
    else if (entry->fn != NULL && entry->stream != NULL)
      wrong = "has both a unary and a stream handler";
    else if (kind == YW_RPC_SERVER_STREAMING && entry->stream == NULL)
      wrong = "is server streaming in its .proto but has a unary handler";
    else if (kind == YW_RPC_UNARY && entry->fn == NULL)
      wrong = "is unary in its .proto but has a stream handler";
    if (wrong != NULL) {
      yw_log(YW_LOG_ERROR, "rpc.wrong_handler", NULL, "%s %s", path, wrong);
      return YW_EINVAL;
    }
  }
  s->services[s->n_services++] = svc;
  return 0;
}

/* 0 when every priority method names a method the server serves, else YW_EINVAL (a
 * misspelt name would leave that method without its priority, unnoticed). */
static int priority_served(yw_rpc_server *s) {
  char name[PRIORITY_MAX];
  for (const char *p = s->priority; *p != '\0';) {
    const char *end = strchr(p + 1, ',');
    if (end == NULL) break;
    size_t n = (size_t)(end - p - 1);
    if (n > 0) {
      const yw_rpc_service *svc;
      const ProtobufCMethodDescriptor *md;
      const yw_rpc_method *entry;
      snprintf(name, sizeof name, "%.*s", (int)n, p + 1);
      if (find_method(s, name, &svc, &md, &entry) != 0) {
        yw_log(YW_LOG_ERROR, "rpc.priority", NULL, "priority method %s is not served", name);
        return YW_EINVAL;
      }
    }
    p = end;
  }
  return 0;
}

int yw_rpc_server_start(yw_rpc_server *s) {
  if (priority_served(s) != 0) return YW_EINVAL;
  s->threads = calloc((size_t)(s->nio + s->nthreads), sizeof *s->threads);
  if (s->threads == NULL) return YW_ENOMEM;
  if (s->health_fn != NULL) {
    /* the first answer is known before the first check arrives */
    atomic_store(&s->healthy, s->health_fn(s->health_arg) == 0);
    if (pthread_create(&s->health_thread, NULL, health_main, s) == 0) s->health_started = 1;
  }
  grpc_server_start(s->server);
  for (int i = 0; i < (s->nio + s->nthreads) * POSTS_PER_THREAD; i++) post_request(s);
  for (int i = 0; i < s->nio; i++) pthread_create(&s->threads[i], NULL, io_main, s);
  for (int i = 0; i < s->nthreads; i++)
    pthread_create(&s->threads[s->nio + i], NULL, handler_main, s);
  s->started = 1;
  return 0;
}

int yw_rpc_server_port(const yw_rpc_server *s) { return s->port; }

void yw_rpc_server_stats_get(yw_rpc_server *s, yw_rpc_server_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&s->qmu);
  out->running = s->running;
  out->queued = s->q_len;
  out->deferred = s->n_deferred;
  out->streams_open = s->streams_open;
  pthread_mutex_unlock(&s->qmu);
  out->refused = atomic_load(&s->refused);
  out->streams_total = atomic_load(&s->streams_total);
  out->stream_messages = atomic_load(&s->stream_messages);
  out->streams_cut = atomic_load(&s->streams_cut);
}

void yw_rpc_server_wait_signal(yw_rpc_server *s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  yw_log(YW_LOG_INFO, "server.stopping", NULL, "signal %d: finishing calls in flight", sig);
  yw_rpc_server_shutdown(s, 10000);
}

/* Ends every open stream with UNAVAILABLE, so its client reconnects to another copy;
 * holders learn it from their cancel callbacks. No stream opens after shutting_down. */
static void end_open_streams(yw_rpc_server *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = 0;
  for (yw_rpc_stream *st = s->open_streams; st != NULL; st = st->open_next) n++;
  yw_rpc_call **calls = n > 0 ? malloc(n * sizeof *calls) : NULL;
  size_t k = 0;
  for (yw_rpc_stream *st = s->open_streams; st != NULL && calls != NULL; st = st->open_next) {
    atomic_fetch_add(&st->call->holds, 1);
    calls[k++] = st->call;
  }
  pthread_mutex_unlock(&s->mu);
  for (size_t i = 0; i < k; i++) {
    stream_end(calls[i], YW_EUNAVAIL, "the service is shutting down", 0, 0);
    call_release(calls[i]);
  }
  free(calls); /* without memory, the grace period's cancellation ends them */
}

void yw_rpc_server_shutdown(yw_rpc_server *s, int grace_ms) {
  if (s == NULL || s->destroyed) return;
  if (!atomic_exchange(&s->shutting_down, 1))
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
  if (s->started) {
    end_open_streams(s);
    pthread_mutex_lock(&s->mu);
    struct timespec until = deadline_in(grace_ms);
    while (!s->shutdown_done) {
      if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
    }
    /* The notify tag says gRPC has no live calls; handlers whose caller went away may
     * still run and will post their answer batch: wait for every accepted call. */
    while (s->shutdown_done && s->inflight > 0) {
      if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
    }
    if (!s->shutdown_done || s->inflight > 0) {
      pthread_mutex_unlock(&s->mu);
      grpc_server_cancel_all_calls(s->server);
      pthread_mutex_lock(&s->mu);
      /* cancelled calls end at once, running handlers soon; a deferred call ends when
       * its owner finishes it (its cancel callback has run). This wait is bounded too:
       * past it the server is left running as it is, and shutdown or free may be
       * called again once the owners have finished. */
      until = deadline_in(grace_ms > 1000 ? grace_ms : 1000);
      while (!s->shutdown_done || s->inflight > 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) break;
      }
      if (!s->shutdown_done || s->inflight > 0) {
        int left = s->inflight;
        pthread_mutex_unlock(&s->mu);
        yw_log(YW_LOG_ERROR, "rpc.shutdown_incomplete", NULL,
               "%d calls were not finished after their cancellation (a deferred call "
               "without yw_rpc_call_finish?); the server is not stopped", left);
        return;
      }
    }
    s->health_stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  } else {
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).tag !=
           &s->shutdown_tag) {
    }
  }
  grpc_server_destroy(s->server);
  grpc_completion_queue_shutdown(s->cq);
  if (s->started) {
    for (int i = 0; i < s->nio; i++) pthread_join(s->threads[i], NULL);
    pthread_mutex_lock(&s->qmu);
    s->q_closed = 1;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; i < s->nthreads; i++) pthread_join(s->threads[s->nio + i], NULL);
    if (s->health_started) pthread_join(s->health_thread, NULL);
  } else {
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
  }
  grpc_completion_queue_destroy(s->cq);
  s->destroyed = 1;
}

void yw_rpc_server_free(yw_rpc_server *s) {
  if (s == NULL) return;
  yw_rpc_server_shutdown(s, 10000);
  if (!s->destroyed) return; /* calls are still open: their memory points here (logged) */
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->qmu);
  pthread_cond_destroy(&s->qcv);
  free(s->threads);
  free(s);
  grpc_shutdown();
}

/* ---- calls between services -------------------------------------------------------- */

struct forward {
  yw_rpc_call *call; /* held (holds) until done has returned */
  const ProtobufCMessageDescriptor *resp_desc;
  yw_rpc_forward_fn done;
  void *arg;
};

/* On the client's completion-queue thread: the downstream call ended. */
static void forward_done(void *arg, const yw_rpc_result *r) {
  struct forward *f = arg;
  yw_rpc_call *c = f->call;
  int code = yw_grpc_to_err(r->status);
  const char *message = r->message;
  ProtobufCMessage *resp = NULL;
  if (code == 0) {
    resp = protobuf_c_message_unpack(f->resp_desc, yw_arena_allocator(c->arena), r->len, r->data);
    if (resp == NULL) {
      code = YW_EINTERNAL;
      message = "the downstream answer does not parse";
    }
  }
  f->done(c, code, resp, message, f->arg);
  free(f);
  call_release(c);
}

int yw_rpc_call_forward(yw_rpc_call *c, yw_rpc_channel *ch, const char *method,
                        const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                        yw_rpc_forward_fn done, void *arg) {
  return yw_rpc_call_forward_within(c, ch, method, req, resp_desc, 0, done, arg);
}

int yw_rpc_call_forward_within(yw_rpc_call *c, yw_rpc_channel *ch, const char *method,
                               const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int64_t max_ms,
                               yw_rpc_forward_fn done, void *arg) {
  if (c == NULL || ch == NULL || method == NULL || req == NULL || resp_desc == NULL ||
      done == NULL || max_ms < 0)
    return YW_EINVAL;
  yw_rpc_server *s = c->server;
  int64_t left = yw_rpc_call_ms_left(c);
  int64_t timeout = YW_RPC_FORWARD_DEFAULT_MS;
  if (left != INT64_MAX) {
    if (left <= YW_RPC_FORWARD_MARGIN_MS) return YW_ETIMEOUT;
    timeout = left - YW_RPC_FORWARD_MARGIN_MS;
  }
  if (max_ms > 0 && max_ms < timeout) timeout = max_ms;
  const char *request_id = yw_rpc_call_request_id(c);
  yw_rpc_md md[3];
  size_t nmd = 0;
  if (request_id[0] != '\0') md[nmd++] = (yw_rpc_md){"x-request-id", request_id, 0};
  char value[YW_CALLER_VALUE_MAX], sig[65];
  const char *in_value = yw_rpc_call_metadata(c, "x-yw-caller");
  if (in_value != NULL) {
    /* the caller this call carries is passed on only once it verifies here */
    yw_caller caller;
    if (s->caller_keys == NULL ||
        yw_caller_decode(in_value, yw_rpc_call_metadata(c, "x-yw-caller-sig"), s->caller_keys,
                         yw_rpc_call_method(c), request_id, (long long)time(NULL), &caller) != 0)
      return YW_EUNAUTH;
    int rc = yw_caller_forward(&caller, s->caller_keys, s->service_name, method, request_id,
                               (long long)time(NULL), value, sizeof value, sig);
    if (rc != 0) return rc;
    md[nmd++] = (yw_rpc_md){"x-yw-caller", value, 0};
    md[nmd++] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
  }
  size_t len = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = malloc(len + 1);
  struct forward *f = malloc(sizeof *f);
  if (buf == NULL || f == NULL) {
    free(buf);
    free(f);
    return YW_ENOMEM;
  }
  protobuf_c_message_pack(req, buf);
  *f = (struct forward){c, resp_desc, done, arg};
  atomic_fetch_add(&c->holds, 1);
  int rc = yw_rpc_call_start(ch, method, buf, len, md, nmd, timeout, forward_done, f);
  free(buf);
  if (rc != 0) {
    free(f);
    call_release(c);
  }
  return rc;
}
