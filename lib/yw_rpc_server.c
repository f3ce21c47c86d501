/*
 * yw_rpc_server.c - a gRPC server on the core C API for protobuf-c services.
 *
 * Design: one completion queue shared by `threads` workers, each blocked in
 * grpc_completion_queue_next. A worker that takes a completion runs the whole next step
 * of that call (unpack, handler, pack, send), so a slow handler occupies one worker
 * while the others go on. Several grpc_server_request_call are posted per worker so new
 * calls never wait for a re-post.
 *
 * A call moves through three batches, the call context being the tag of each:
 *   REQUESTED  -> the call arrived; post a RECV_MESSAGE batch
 *   RECEIVING  -> the request is here; dispatch and post the answer batch
 *                 (SEND_INITIAL_METADATA + SEND_MESSAGE + SEND_STATUS + RECV_CLOSE)
 *   SENDING    -> the answer went out; free the call
 *
 * Shutdown (DESIGN.md order): grpc_server_shutdown_and_notify, wait for its tag
 * (cancel all calls after the grace period), grpc_server_destroy, shut the queue down,
 * workers leave on GRPC_QUEUE_SHUTDOWN, destroy the queue, grpc_shutdown.
 *
 * Offers: yw_rpc_block_signals, yw_rpc_server_new, yw_rpc_server_add_service,
 * yw_rpc_server_start, yw_rpc_server_port, yw_rpc_server_wait_signal,
 * yw_rpc_server_shutdown, yw_rpc_server_free and the yw_rpc_call_* accessors.
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

#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define POSTS_PER_WORKER 8
#define MAX_SERVICES 8
#define MAX_TRAILERS 8
#define HEALTH_METHOD "/grpc.health.v1.Health/Check"

enum call_state { CALL_REQUESTED, CALL_RECEIVING, CALL_SENDING };

struct yw_rpc_call {
  enum call_state state;
  int accepted;        /* counted in server->inflight until freed */
  yw_rpc_server *server;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *recv;
  grpc_byte_buffer *send;
  int cancelled;
  yw_arena *arena;
  char *method;        /* NUL-terminated copy of details.method */
  char *status_text;
  grpc_slice status_slice;
  grpc_metadata trailers[MAX_TRAILERS];
  size_t n_trailers;
};

struct yw_rpc_server {
  grpc_server *server;
  grpc_completion_queue *cq;
  int port;
  int nthreads;
  pthread_t *threads;
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

int yw_rpc_call_add_trailer(yw_rpc_call *c, const char *key, const char *value) {
  if (c->n_trailers >= MAX_TRAILERS) return YW_ETOOBIG;
  grpc_metadata *m = &c->trailers[c->n_trailers];
  memset(m, 0, sizeof *m);
  m->key = grpc_slice_from_copied_string(key);
  m->value = grpc_slice_from_copied_string(value);
  c->n_trailers++;
  return 0;
}

/* ---- call lifecycle -------------------------------------------------------------- */

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
  yw_arena_free(c->arena);
  if (c->accepted) {
    /* a handler may outlive its caller (a deadline passed); shutdown waits for it */
    yw_rpc_server *s = c->server;
    pthread_mutex_lock(&s->mu);
    if (--s->inflight == 0) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  free(c);
}

static int post_request(yw_rpc_server *s) {
  yw_rpc_call *c = calloc(1, sizeof *c);
  if (c == NULL) return YW_ENOMEM;
  c->server = s;
  c->state = CALL_REQUESTED;
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  grpc_call_error e =
      grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq, c);
  if (e != GRPC_CALL_OK) {
    call_free(c);
    return YW_EINTERNAL;
  }
  return 0;
}

static void send_answer(yw_rpc_call *c, grpc_status_code status) {
  grpc_op ops[4];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  n++;
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
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
  n++;
  c->state = CALL_SENDING;
  if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
    yw_log(YW_LOG_ERROR, "rpc.batch_failed", NULL, "could not send the answer of %s", c->method);
    call_free(c);
  }
}

static int find_method(yw_rpc_server *s, const char *path, const yw_rpc_service **svc,
                       const ProtobufCMethodDescriptor **md, yw_rpc_handler_fn *fn) {
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
      *fn = sv->methods[m].fn;
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

static grpc_status_code dispatch(yw_rpc_call *c) {
  if (strcmp(c->method, HEALTH_METHOD) == 0) {
    /* grpc.health.v1.HealthCheckResponse{status: SERVING(1) or NOT_SERVING(2)} */
    uint8_t body[2] = {0x08, atomic_load(&c->server->shutting_down) ? 0x02 : 0x01};
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)body, sizeof body);
    c->send = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return GRPC_STATUS_OK;
  }
  const yw_rpc_service *svc = NULL;
  const ProtobufCMethodDescriptor *md = NULL;
  yw_rpc_handler_fn fn = NULL;
  if (find_method(c->server, c->method, &svc, &md, &fn) != 0) {
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
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, c->recv)) {
    yw_rpc_call_fail(c, YW_EINVAL, "unreadable request");
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  ProtobufCAllocator *alloc = yw_arena_allocator(c->arena);
  ProtobufCMessage *req = protobuf_c_message_unpack(md->input, alloc, GRPC_SLICE_LENGTH(all),
                                                    GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  if (req == NULL) {
    yw_rpc_call_fail(c, YW_EINVAL, "the request is not a valid %s", md->input->name);
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  ProtobufCMessage *resp = NULL;
  int rc = fn(c, req, &resp, svc->data);
  if (rc == 0 && resp == NULL) {
    yw_rpc_call_fail(c, YW_EINTERNAL, "handler of %s returned no answer", c->method);
    rc = YW_EINTERNAL;
  }
  if (rc == 0 && resp->descriptor != md->output) {
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
    call_free(c);
    return;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv;
  c->state = CALL_RECEIVING;
  if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) call_free(c);
}

static void *worker_main(void *arg) {
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
    yw_rpc_call *c = ev.tag;
    switch (c->state) {
    case CALL_REQUESTED:
      on_requested(c, ev.success);
      break;
    case CALL_RECEIVING:
      if (!ev.success) {
        call_free(c);
        break;
      }
      send_answer(c, dispatch(c));
      break;
    case CALL_SENDING:
      call_free(c);
      break;
    }
  }
  return NULL;
}

/* ---- server lifecycle ------------------------------------------------------------ */

int yw_rpc_server_new(const char *addr, int threads, yw_rpc_server **out) {
  *out = NULL;
  grpc_init();
  yw_rpc_server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    grpc_shutdown();
    return YW_ENOMEM;
  }
  s->nthreads = threads > 0 ? threads : 4;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  grpc_arg args[1];
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = 8 << 20;
  grpc_channel_args ch_args = {1, args};
  s->server = grpc_server_create(&ch_args, NULL);
  s->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(s->server, s->cq, NULL);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
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
    free(s);
    grpc_shutdown();
    return YW_EIO;
  }
  *out = s;
  return 0;
}

int yw_rpc_server_add_service(yw_rpc_server *s, const yw_rpc_service *svc) {
  if (s->n_services >= MAX_SERVICES || s->started) return YW_EINVAL;
  const ProtobufCServiceDescriptor *d = svc->descriptor;
  for (unsigned i = 0; i < d->n_methods; i++) {
    int found = 0;
    for (size_t m = 0; m < svc->n_methods; m++)
      if (strcmp(svc->methods[m].name, d->methods[i].name) == 0 && svc->methods[m].fn != NULL)
        found = 1;
    if (!found) {
      yw_log(YW_LOG_ERROR, "rpc.missing_handler", NULL, "%s/%s has no handler", d->name,
             d->methods[i].name);
      return YW_EINVAL;
    }
  }
  s->services[s->n_services++] = svc;
  return 0;
}

int yw_rpc_server_start(yw_rpc_server *s) {
  grpc_server_start(s->server);
  s->threads = calloc((size_t)s->nthreads, sizeof *s->threads);
  if (s->threads == NULL) return YW_ENOMEM;
  for (int i = 0; i < s->nthreads * POSTS_PER_WORKER; i++) post_request(s);
  for (int i = 0; i < s->nthreads; i++) pthread_create(&s->threads[i], NULL, worker_main, s);
  s->started = 1;
  return 0;
}

int yw_rpc_server_port(const yw_rpc_server *s) { return s->port; }

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

void yw_rpc_server_shutdown(yw_rpc_server *s, int grace_ms) {
  if (s == NULL || s->destroyed) return;
  atomic_store(&s->shutting_down, 1);
  grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
  if (s->started) {
    pthread_mutex_lock(&s->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += grace_ms / 1000;
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
      while (!s->shutdown_done || s->inflight > 0) pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
  } else {
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).tag !=
           &s->shutdown_tag) {
    }
  }
  grpc_server_destroy(s->server);
  grpc_completion_queue_shutdown(s->cq);
  if (s->started) {
    for (int i = 0; i < s->nthreads; i++) pthread_join(s->threads[i], NULL);
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
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->threads);
  free(s);
  grpc_shutdown();
}
