/*
 * yw_rpc_client.c - unary gRPC client calls on the core C API.
 *
 * A client owns one completion queue and one thread that waits on it; each call is one
 * batch (SEND_INITIAL_METADATA, SEND_MESSAGE, SEND_CLOSE_FROM_CLIENT,
 * RECV_INITIAL_METADATA, RECV_MESSAGE, RECV_STATUS_ON_CLIENT) whose completion runs the
 * caller's callback on that thread. A channel opens several HTTP/2 connections (each
 * with its own subchannel pool, so they really are separate connections) and spreads
 * calls over them, since one connection caps concurrent streams.
 *
 * Each channel balances round robin over every address its target resolves to, so
 * copies of a service behind one name (or an ipv4:a:p,b:p list) share the calls.
 *
 * A call started with a handle can be cancelled by whoever holds it (the gateway, when
 * its client goes away): the pending call has two references, the completion's and the
 * holder's, so a cancel can never touch a freed call. The client keeps a count of calls
 * in flight and a list of them, so that freeing it cancels them and waits for their
 * callbacks.
 *
 * Mutual TLS: yw_rpc_client_set_tls reads the CA, certificate and key once and keeps
 * their text; each channel opened afterwards gets SSL credentials made from it (gRPC
 * copies the text), so nothing is read from disk after start-up. The same reading and
 * checking (yw_rpc_tls_read) serves yw_rpc_server_new_tls.
 *
 * Server-streaming calls (yw_rpc_stream_call_start) use three batches: the sending one
 * with RECV_INITIAL_METADATA, RECV_STATUS_ON_CLIENT, and one RECV_MESSAGE at a time,
 * each message handed to the caller's callback on the queue's thread before the next
 * is asked for (so a slow callback slows the sender, through HTTP/2 flow control). done
 * runs once the three are over, after the last message.
 *
 * Offers: yw_rpc_client_new, yw_rpc_client_free, yw_rpc_channel_new,
 * yw_rpc_channel_free, yw_rpc_channel_target, yw_rpc_call_start, yw_rpc_call_start_ex,
 * yw_rpc_stream_call_start,
 * yw_rpc_pending_cancel, yw_rpc_pending_release, yw_rpc_call_sync, yw_rpc_health_check,
 * yw_rpc_tls_from_settings, yw_rpc_tls_read, yw_rpc_tls_pem_free, yw_rpc_client_set_tls.
 */
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_rpc.h"

#define MAX_MD 16

struct yw_rpc_pending;

struct yw_rpc_client {
  grpc_completion_queue *cq;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct yw_rpc_pending *live; /* calls in flight, guarded by mu */
  int closing;                 /* no new calls, guarded by mu */
  yw_rpc_tls_pem tls_pem;      /* set by yw_rpc_client_set_tls; ca NULL: cleartext */
  char *tls_server_name;       /* GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, or NULL */
};

struct yw_rpc_channel {
  yw_rpc_client *client;
  char *target;
  int n;
  grpc_channel **chans;
  atomic_uint next;
};

enum ctag_kind { CTAG_UNARY, CTAG_STREAM_START, CTAG_STREAM_MSG, CTAG_STREAM_STATUS };

struct ctag {
  enum ctag_kind kind;
  struct yw_rpc_pending *p;
};

struct yw_rpc_pending {
  struct ctag tag_main;   /* the unary batch, or a stream's sending batch */
  struct ctag tag_msg;    /* a stream's RECV_MESSAGE */
  struct ctag tag_status; /* a stream's RECV_STATUS_ON_CLIENT */
  int parts_left;         /* a stream's batches still out (client thread only) */
  yw_rpc_message_fn on_message;
  yw_rpc_client *client;
  struct yw_rpc_pending *live_next, *live_prev;
  atomic_int refs;        /* the completion's, and the holder's when there is a handle */
  grpc_call *call;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_byte_buffer *send;
  grpc_byte_buffer *recv;
  grpc_status_code status;
  grpc_slice details;
  const char *error_string;
  grpc_metadata md[MAX_MD];
  size_t nmd;
  yw_rpc_done_fn done;
  void *arg;
};

static void pending_free(struct yw_rpc_pending *p);

static void pending_unref(struct yw_rpc_pending *p) {
  if (atomic_fetch_sub(&p->refs, 1) == 1) pending_free(p);
}

/* Unlinks p from its client's calls in flight (once its completion has run). */
static void pending_unlink(struct yw_rpc_pending *p) {
  yw_rpc_client *c = p->client;
  pthread_mutex_lock(&c->mu);
  if (p->live_prev != NULL) p->live_prev->live_next = p->live_next;
  else c->live = p->live_next;
  if (p->live_next != NULL) p->live_next->live_prev = p->live_prev;
  if (c->live == NULL) pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

void yw_rpc_pending_cancel(yw_rpc_pending *p) {
  if (p != NULL && p->call != NULL) grpc_call_cancel(p->call, NULL);
}

void yw_rpc_pending_release(yw_rpc_pending *p) {
  if (p != NULL) pending_unref(p);
}

static void pending_free(struct yw_rpc_pending *p) {
  if (p->call != NULL) grpc_call_unref(p->call);
  grpc_metadata_array_destroy(&p->initial_md);
  grpc_metadata_array_destroy(&p->trailing_md);
  if (p->send != NULL) grpc_byte_buffer_destroy(p->send);
  if (p->recv != NULL) grpc_byte_buffer_destroy(p->recv);
  grpc_slice_unref(p->details);
  if (p->error_string != NULL) gpr_free((void *)p->error_string);
  for (size_t i = 0; i < p->nmd; i++) {
    grpc_slice_unref(p->md[i].key);
    grpc_slice_unref(p->md[i].value);
  }
  free(p);
}

static void complete(struct yw_rpc_pending *p) {
  yw_rpc_result res;
  memset(&res, 0, sizeof res);
  res.status = p->status;
  size_t dlen = GRPC_SLICE_LENGTH(p->details);
  char *msg = malloc(dlen + 1);
  if (msg != NULL) {
    memcpy(msg, GRPC_SLICE_START_PTR(p->details), dlen);
    msg[dlen] = '\0';
  }
  res.message = msg != NULL ? msg : "";
  grpc_slice all = grpc_empty_slice();
  if (p->status == GRPC_STATUS_OK && p->on_message == NULL) {
    if (p->recv == NULL) {
      res.status = GRPC_STATUS_INTERNAL;
      res.message = "the upstream answered OK without a message";
    } else {
      grpc_byte_buffer_reader reader;
      if (grpc_byte_buffer_reader_init(&reader, p->recv)) {
        all = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
      }
      res.data = GRPC_SLICE_START_PTR(all);
      res.len = GRPC_SLICE_LENGTH(all);
    }
  }
  res.initial_md = &p->initial_md;
  res.trailing_md = &p->trailing_md;
  p->done(p->arg, &res);
  grpc_slice_unref(all);
  free(msg);
  pending_unlink(p);
  pending_unref(p);
}

/* Asks for a stream's next message. */
static void stream_recv_next(struct yw_rpc_pending *p) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &p->recv;
  if (grpc_call_start_batch(p->call, &op, 1, &p->tag_msg, NULL) != GRPC_CALL_OK) p->parts_left--;
}

/* A stream's message arrived (or the messages ended). */
static void stream_on_msg(struct yw_rpc_pending *p, int success) {
  if (!success || p->recv == NULL) {
    p->parts_left--;
    return;
  }
  grpc_byte_buffer_reader reader;
  grpc_slice all = grpc_empty_slice();
  if (grpc_byte_buffer_reader_init(&reader, p->recv)) {
    all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
  }
  grpc_byte_buffer_destroy(p->recv);
  p->recv = NULL;
  int stop = p->on_message(p->arg, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
  grpc_slice_unref(all);
  if (stop) grpc_call_cancel(p->call, NULL);
  stream_recv_next(p); /* after a cancel it completes at once, without a message */
}

static void *client_main(void *arg) {
  yw_rpc_client *c = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    struct ctag *t = ev.tag;
    struct yw_rpc_pending *p = t->p;
    switch (t->kind) {
    case CTAG_UNARY:
      complete(p);
      continue;
    case CTAG_STREAM_START:
      p->parts_left--;
      break;
    case CTAG_STREAM_MSG:
      stream_on_msg(p, ev.success);
      break;
    case CTAG_STREAM_STATUS:
      p->parts_left--;
      break;
    }
    if (p->parts_left == 0) complete(p); /* status known, every message delivered */
  }
  return NULL;
}

int yw_rpc_client_new(yw_rpc_client **out) {
  *out = NULL;
  grpc_init();
  yw_rpc_client *c = calloc(1, sizeof *c);
  if (c == NULL) {
    grpc_shutdown();
    return YW_ENOMEM;
  }
  c->cq = grpc_completion_queue_create_for_next(NULL);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_destroy(c->cq);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    grpc_shutdown();
    return YW_ENOMEM;
  }
  *out = c;
  return 0;
}

void yw_rpc_client_free(yw_rpc_client *c) {
  if (c == NULL) return;
  /* Cancel what is in flight; each callback runs (with CANCELLED) on the queue's
   * thread and unlinks its call, and the queue is shut down once none is left. */
  pthread_mutex_lock(&c->mu);
  c->closing = 1;
  for (struct yw_rpc_pending *p = c->live; p != NULL; p = p->live_next)
    grpc_call_cancel(p->call, NULL);
  while (c->live != NULL) pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
  grpc_completion_queue_shutdown(c->cq);
  pthread_join(c->thread, NULL);
  grpc_completion_queue_destroy(c->cq);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  yw_rpc_tls_pem_free(&c->tls_pem);
  free(c->tls_server_name);
  free(c);
  grpc_shutdown();
}

/* A new reference to the credentials of c's channels: cleartext, or TLS with the
 * client's certificate after yw_rpc_client_set_tls. */
static grpc_channel_credentials *channel_credentials(const yw_rpc_client *c) {
  if (c->tls_pem.ca == NULL) return grpc_insecure_credentials_create();
  grpc_ssl_pem_key_cert_pair pair = {c->tls_pem.key, c->tls_pem.cert};
  return grpc_ssl_credentials_create(c->tls_pem.ca, &pair, NULL, NULL);
}

yw_rpc_channel *yw_rpc_channel_new(yw_rpc_client *c, const char *target, int n_connections,
                                   int max_message) {
  if (n_connections < 1) n_connections = 1;
  yw_rpc_channel *ch = calloc(1, sizeof *ch);
  if (ch == NULL) return NULL;
  ch->client = c;
  ch->n = n_connections;
  ch->target = strdup(target);
  ch->chans = calloc((size_t)n_connections, sizeof *ch->chans);
  if (ch->target == NULL || ch->chans == NULL) {
    free(ch->target);
    free(ch->chans);
    free(ch);
    return NULL;
  }
  grpc_channel_credentials *creds = channel_credentials(c);
  for (int i = 0; i < n_connections; i++) {
    grpc_arg args[7];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[0].value.integer = 1;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = max_message > 0 ? max_message : 4 << 20;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = "yw.connection_index"; /* keeps the connections distinct */
    args[2].value.integer = i;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_KEEPALIVE_TIME_MS;
    args[3].value.integer = 30000;
    /* every address of the name, not the first that answers (pick_first) */
    args[4].type = GRPC_ARG_STRING;
    args[4].key = GRPC_ARG_LB_POLICY_NAME;
    args[4].value.string = "round_robin";
    /* a copy that comes back is used again within seconds, not gRPC's two minutes */
    args[5].type = GRPC_ARG_INTEGER;
    args[5].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[5].value.integer = 250;
    args[6].type = GRPC_ARG_INTEGER;
    args[6].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[6].value.integer = 3000;
    grpc_channel_args ca = {7, args};
    /* the name the server's certificate must carry, when it is not the target's host */
    grpc_arg named[sizeof args / sizeof args[0] + 1];
    if (c->tls_server_name != NULL) {
      memcpy(named, args, ca.num_args * sizeof *args);
      named[ca.num_args].type = GRPC_ARG_STRING;
      named[ca.num_args].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
      named[ca.num_args].value.string = c->tls_server_name;
      ca.args = named;
      ca.num_args++;
    }
    ch->chans[i] = grpc_channel_create(target, creds, &ca);
  }
  grpc_channel_credentials_release(creds);
  return ch;
}

void yw_rpc_channel_free(yw_rpc_channel *ch) {
  if (ch == NULL) return;
  for (int i = 0; i < ch->n; i++)
    if (ch->chans[i] != NULL) grpc_channel_destroy(ch->chans[i]);
  free(ch->chans);
  free(ch->target);
  free(ch);
}

const char *yw_rpc_channel_target(const yw_rpc_channel *ch) { return ch->target; }

int yw_rpc_call_start(yw_rpc_channel *ch, const char *method, const uint8_t *data, size_t len,
                      const yw_rpc_md *md, size_t nmd, int64_t timeout_ms, yw_rpc_done_fn done,
                      void *arg) {
  return yw_rpc_call_start_ex(ch, method, data, len, md, nmd, timeout_ms, done, arg, NULL);
}

/* Starts a unary call (on_message NULL) or a server-streaming one. */
static int call_begin(yw_rpc_channel *ch, const char *method, const uint8_t *data, size_t len,
                      const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                      yw_rpc_message_fn on_message, yw_rpc_done_fn done, void *arg,
                      yw_rpc_pending **handle) {
  if (handle != NULL) *handle = NULL;
  if (nmd > MAX_MD) return YW_EINVAL;
  struct yw_rpc_pending *p = calloc(1, sizeof *p);
  if (p == NULL) return YW_ENOMEM;
  p->tag_main = (struct ctag){on_message != NULL ? CTAG_STREAM_START : CTAG_UNARY, p};
  p->tag_msg = (struct ctag){CTAG_STREAM_MSG, p};
  p->tag_status = (struct ctag){CTAG_STREAM_STATUS, p};
  p->on_message = on_message;
  p->client = ch->client;
  atomic_init(&p->refs, 1);
  grpc_metadata_array_init(&p->initial_md);
  grpc_metadata_array_init(&p->trailing_md);
  p->details = grpc_empty_slice();
  p->done = done;
  p->arg = arg;
  for (size_t i = 0; i < nmd; i++) {
    grpc_slice k = grpc_slice_from_copied_string(md[i].key);
    grpc_slice v = grpc_slice_from_copied_buffer(
        md[i].value, md[i].value_len != 0 ? md[i].value_len : strlen(md[i].value));
    if (!grpc_header_key_is_legal(k) ||
        (!grpc_is_binary_header(k) && !grpc_header_nonbin_value_is_legal(v))) {
      grpc_slice_unref(k);
      grpc_slice_unref(v);
      pending_free(p);
      return YW_EINVAL;
    }
    p->md[p->nmd].key = k;
    p->md[p->nmd].value = v;
    p->nmd++;
  }
  grpc_slice payload = grpc_slice_from_copied_buffer((const char *)data, len);
  p->send = grpc_raw_byte_buffer_create(&payload, 1);
  grpc_slice_unref(payload);

  unsigned idx = atomic_fetch_add(&ch->next, 1u) % (unsigned)ch->n;
  gpr_timespec deadline =
      on_message != NULL && timeout_ms <= 0
          ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
          : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  grpc_slice method_slice = grpc_slice_from_copied_string(method);
  p->call = grpc_channel_create_call(ch->chans[idx], NULL, GRPC_PROPAGATE_DEFAULTS,
                                     ch->client->cq, method_slice, NULL, deadline, NULL);
  grpc_slice_unref(method_slice);
  if (p->call == NULL) {
    pending_free(p);
    return YW_EINTERNAL;
  }
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = p->nmd;
  ops[0].data.send_initial_metadata.metadata = p->md;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = p->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &p->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &p->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &p->trailing_md;
  ops[5].data.recv_status_on_client.status = &p->status;
  ops[5].data.recv_status_on_client.status_details = &p->details;
  ops[5].data.recv_status_on_client.error_string = &p->error_string;
  yw_rpc_client *c = ch->client;
  pthread_mutex_lock(&c->mu);
  int started;
  if (on_message == NULL) {
    started = !c->closing && grpc_call_start_batch(p->call, ops, 6, &p->tag_main, NULL) ==
                                 GRPC_CALL_OK;
  } else {
    /* three batches: send and read the initial metadata; the status; the messages,
     * one RECV_MESSAGE at a time */
    p->parts_left = 3;
    p->status = GRPC_STATUS_UNKNOWN; /* until the status batch says */
    started = !c->closing &&
              grpc_call_start_batch(p->call, ops, 4, &p->tag_main, NULL) == GRPC_CALL_OK;
    if (started) {
      if (grpc_call_start_batch(p->call, &ops[5], 1, &p->tag_status, NULL) != GRPC_CALL_OK) {
        p->parts_left--;
        grpc_call_cancel(p->call, NULL);
      }
      if (grpc_call_start_batch(p->call, &ops[4], 1, &p->tag_msg, NULL) != GRPC_CALL_OK)
        p->parts_left--;
    }
  }
  if (!started) {
    pthread_mutex_unlock(&c->mu);
    pending_free(p);
    return YW_EINTERNAL;
  }
  /* linked under the lock the completion's unlink takes, so it is never unlinked first */
  p->live_next = c->live;
  if (c->live != NULL) c->live->live_prev = p;
  c->live = p;
  if (handle != NULL) {
    atomic_fetch_add(&p->refs, 1);
    *handle = p;
  }
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int yw_rpc_call_start_ex(yw_rpc_channel *ch, const char *method, const uint8_t *data,
                         size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                         yw_rpc_done_fn done, void *arg, yw_rpc_pending **handle) {
  return call_begin(ch, method, data, len, md, nmd, timeout_ms, NULL, done, arg, handle);
}

int yw_rpc_stream_call_start(yw_rpc_channel *ch, const char *method, const uint8_t *data,
                             size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                             yw_rpc_message_fn on_message, yw_rpc_done_fn done, void *arg,
                             yw_rpc_pending **handle) {
  if (on_message == NULL) {
    if (handle != NULL) *handle = NULL;
    return YW_EINVAL;
  }
  return call_begin(ch, method, data, len, md, nmd, timeout_ms, on_message, done, arg, handle);
}

/* ---- synchronous wrapper --------------------------------------------------------- */

struct sync_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  grpc_status_code status;
  char *message;
  uint8_t *data;
  size_t len;
};

static void sync_done(void *arg, const yw_rpc_result *r) {
  struct sync_wait *w = arg;
  pthread_mutex_lock(&w->mu);
  w->status = r->status;
  w->message = strdup(r->message);
  if (r->status == GRPC_STATUS_OK) {
    w->data = malloc(r->len + 1);
    if (w->data != NULL) memcpy(w->data, r->data, r->len);
    w->len = r->len;
  }
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Starts a raw call and waits for it; w is initialised here, the caller frees its
 * message and data. Returns 0 or the start error. */
static int call_wait(yw_rpc_channel *ch, const char *method, const uint8_t *buf, size_t len,
                     const yw_rpc_md *md, size_t nmd, int64_t timeout_ms, struct sync_wait *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  int rc = yw_rpc_call_start(ch, method, buf, len, md, nmd, timeout_ms, sync_done, w);
  if (rc == 0) {
    pthread_mutex_lock(&w->mu);
    while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
  }
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  return rc;
}

int yw_rpc_health_check(yw_rpc_channel *ch, int64_t timeout_ms) {
  struct sync_wait w;
  int rc = call_wait(ch, "/grpc.health.v1.Health/Check", (const uint8_t *)"", 0, NULL, 0,
                     timeout_ms, &w);
  /* HealthCheckResponse{status: SERVING} is the two bytes 08 01 */
  int ok = rc == 0 && w.status == GRPC_STATUS_OK && w.len == 2 && w.data != NULL &&
           w.data[0] == 0x08 && w.data[1] == 0x01;
  free(w.message);
  free(w.data);
  return ok ? 0 : YW_EUNAVAIL;
}

grpc_status_code yw_rpc_call_sync(yw_rpc_channel *ch, const char *method,
                                  const ProtobufCMessage *request,
                                  const ProtobufCMessageDescriptor *response_desc,
                                  ProtobufCAllocator *allocator, ProtobufCMessage **response,
                                  const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                                  char *message, size_t message_size) {
  *response = NULL;
  if (message != NULL && message_size > 0) message[0] = '\0';
  size_t len = protobuf_c_message_get_packed_size(request);
  uint8_t *buf = malloc(len + 1);
  if (buf == NULL) return GRPC_STATUS_RESOURCE_EXHAUSTED;
  protobuf_c_message_pack(request, buf);
  struct sync_wait w;
  int rc = call_wait(ch, method, buf, len, md, nmd, timeout_ms, &w);
  free(buf);
  if (rc != 0) {
    if (message != NULL) snprintf(message, message_size, "%s", yw_strerror(rc));
    return yw_err_to_grpc(rc);
  }
  grpc_status_code st = w.status;
  if (message != NULL && w.message != NULL) snprintf(message, message_size, "%s", w.message);
  if (st == GRPC_STATUS_OK) {
    *response = protobuf_c_message_unpack(response_desc, allocator, w.len, w.data);
    if (*response == NULL) {
      st = GRPC_STATUS_INTERNAL;
      if (message != NULL) snprintf(message, message_size, "unparsable %s", response_desc->name);
    }
  }
  free(w.message);
  free(w.data);
  return st;
}

/* ---- mutual TLS ------------------------------------------------------------------ */

#define TLS_FILE_MAX (1 << 20) /* a CA bundle, a chain or a key is far smaller */

static void set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_size, const char *fmt, ...) {
  if (err == NULL || err_size == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_size, fmt, ap);
  va_end(ap);
}

int yw_rpc_tls_from_settings(yw_rpc_tls *tls, const char *ca, const char *cert,
                             const char *key, const char *server_name, char *err,
                             size_t err_size) {
  static const char *const names[3] = {"YW_TLS_CA", "YW_TLS_CERT", "YW_TLS_KEY"};
  const char *values[3] = {ca, cert, key};
  memset(tls, 0, sizeof *tls);
  int n_set = 0;
  for (int i = 0; i < 3; i++)
    if (values[i] != NULL && values[i][0] != '\0') n_set++;
  if (n_set == 0) return 0;
  if (n_set < 3) {
    char missing[64] = "";
    size_t used = 0;
    for (int i = 0; i < 3; i++) {
      if (values[i] != NULL && values[i][0] != '\0') continue;
      int w = snprintf(missing + used, sizeof missing - used, "%s%s", used > 0 ? " and " : "",
                       names[i]);
      if (w > 0 && (size_t)w < sizeof missing - used) used += (size_t)w;
    }
    set_err(err, err_size,
            "mutual TLS needs YW_TLS_CA, YW_TLS_CERT and YW_TLS_KEY together, but %s %s "
            "empty; set all three, or none for cleartext gRPC",
            missing, n_set == 2 ? "is" : "are");
    return YW_EINVAL;
  }
  tls->ca_file = ca;
  tls->cert_file = cert;
  tls->key_file = key;
  tls->server_name = server_name != NULL && server_name[0] != '\0' ? server_name : NULL;
  return 1;
}

/* Reads the whole of path (what says which file it is) into *out, NUL-terminated. */
static int read_pem_file(const char *what, const char *path, char **out, char *err,
                         size_t err_size) {
  *out = NULL;
  if (path == NULL || path[0] == '\0') {
    set_err(err, err_size, "no %s file given", what);
    return YW_EINVAL;
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    set_err(err, err_size, "%s file %s: %s", what, path, strerror(errno));
    return YW_EIO;
  }
  int rc = 0;
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  if (buf == NULL) rc = YW_ENOMEM;
  while (rc == 0) {
    if (len > TLS_FILE_MAX) {
      set_err(err, err_size, "%s file %s: larger than %d bytes", what, path, TLS_FILE_MAX);
      rc = YW_ETOOBIG;
      break;
    }
    if (len + 1 >= cap) {
      /* at most TLS_FILE_MAX + 2: one byte past the cap is enough to know */
      size_t want = cap * 2 < TLS_FILE_MAX + 2 ? cap * 2 : TLS_FILE_MAX + 2;
      char *grown = realloc(buf, want);
      if (grown == NULL) {
        rc = YW_ENOMEM;
        break;
      }
      buf = grown;
      cap = want;
    }
    size_t n = fread(buf + len, 1, cap - 1 - len, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        set_err(err, err_size, "%s file %s: %s", what, path, strerror(errno));
        rc = YW_EIO;
      }
      break;
    }
  }
  fclose(f);
  if (rc == 0 && memchr(buf, '\0', len) != NULL) {
    set_err(err, err_size, "%s file %s is not PEM text", what, path);
    rc = YW_EINVAL;
  }
  if (rc != 0) {
    if (rc == YW_ENOMEM) set_err(err, err_size, "%s file %s: out of memory", what, path);
    if (buf != NULL) OPENSSL_cleanse(buf, cap);
    free(buf);
    return rc;
  }
  buf[len] = '\0';
  *out = buf;
  return 0;
}

/* Refuses a passphrase prompt: keys must not be encrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

/* Checks that pem holds what yw_rpc_tls_read promises. */
static int check_pem(const yw_rpc_tls *tls, const yw_rpc_tls_pem *pem, char *err,
                     size_t err_size) {
  int rc = YW_EINVAL, n_ca = 0;
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  BIO *b = BIO_new_mem_buf(pem->ca, -1);
  if (b == NULL) goto nomem;
  for (;;) {
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL) break;
    n_ca++;
    X509_free(x);
  }
  BIO_free(b);
  if (n_ca == 0) {
    set_err(err, err_size, "CA file %s holds no PEM certificate", tls->ca_file);
    goto out;
  }
  b = BIO_new_mem_buf(pem->cert, -1);
  if (b == NULL) goto nomem;
  cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  if (cert == NULL) {
    set_err(err, err_size, "certificate file %s holds no PEM certificate", tls->cert_file);
    goto out;
  }
  b = BIO_new_mem_buf(pem->key, -1);
  if (b == NULL) goto nomem;
  key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
  BIO_free(b);
  if (key == NULL) {
    set_err(err, err_size, "key file %s holds no unencrypted PEM private key", tls->key_file);
    goto out;
  }
  if (X509_check_private_key(cert, key) != 1) {
    set_err(err, err_size, "the key in %s does not belong to the certificate in %s",
            tls->key_file, tls->cert_file);
    goto out;
  }
  rc = 0;
  goto out;
nomem:
  set_err(err, err_size, "out of memory checking the TLS files");
  rc = YW_ENOMEM;
out:
  X509_free(cert);
  EVP_PKEY_free(key);
  ERR_clear_error(); /* what failed is said in err; leave gRPC's OpenSSL queue clean */
  return rc;
}

int yw_rpc_tls_read(const yw_rpc_tls *tls, yw_rpc_tls_pem *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  int rc = read_pem_file("CA", tls->ca_file, &out->ca, err, err_size);
  if (rc == 0) rc = read_pem_file("certificate", tls->cert_file, &out->cert, err, err_size);
  if (rc == 0) rc = read_pem_file("key", tls->key_file, &out->key, err, err_size);
  if (rc == 0) rc = check_pem(tls, out, err, err_size);
  if (rc != 0) yw_rpc_tls_pem_free(out);
  return rc;
}

void yw_rpc_tls_pem_free(yw_rpc_tls_pem *pem) {
  if (pem == NULL) return;
  if (pem->key != NULL) OPENSSL_cleanse(pem->key, strlen(pem->key));
  free(pem->ca);
  free(pem->cert);
  free(pem->key);
  memset(pem, 0, sizeof *pem);
}

int yw_rpc_client_set_tls(yw_rpc_client *c, const yw_rpc_tls *tls, char *err,
                          size_t err_size) {
  yw_rpc_tls_pem pem;
  int rc = yw_rpc_tls_read(tls, &pem, err, err_size);
  if (rc != 0) return rc;
  char *name = NULL;
  if (tls->server_name != NULL && tls->server_name[0] != '\0') {
    name = strdup(tls->server_name);
    if (name == NULL) {
      yw_rpc_tls_pem_free(&pem);
      set_err(err, err_size, "out of memory");
      return YW_ENOMEM;
    }
  }
  yw_rpc_tls_pem_free(&c->tls_pem);
  free(c->tls_server_name);
  c->tls_pem = pem;
  c->tls_server_name = name;
  return 0;
}
