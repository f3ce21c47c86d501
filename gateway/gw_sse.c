/*
 * gw_sse.c - streamed answers: Server-Sent Events for JSON clients, gRPC and gRPC-Web
 * server streaming passed through message by message (gw_sse.h for the contract).
 *
 * A stream's life: the upstream phase calls gw_stream_phase, which asks Redis for a
 * place among the caller's open streams (a sorted set per caller whose members are the
 * open streams, scored by the end of their lease, so a gateway copy that dies without
 * a word loses its places when their leases run out; renewed while open, removed on
 * close), then starts the upstream call (gw_upstream_stream, no deadline unless the
 * gRPC client sent one). Nothing is sent until the first message or, for a quiet stream,
 * a second after it opened (HEAD_MS, or the heartbeat when shorter): an error before
 * that is an ordinary answer (the JSON error body, or
 * gRPC's Trailers-Only). The head then goes out (gw_conn_respond with req->streaming,
 * so no length: chunked on HTTP/1.1, DATA as it comes on HTTP/2), and each message
 * after it through gw_conn_stream_write:
 *
 *   JSON       "id: <the route's event_id field>\nevent: <the route's event>\ndata:
 *              <the message as one line of JSON>\n\n", after a first "retry: <ms>";
 *              ": hb" comments every YW_GATEWAY_SSE_HEARTBEAT_MS
 *   gRPC       the frame as the service sent it; trailers at the end
 *   gRPC-Web   the frame, then the trailer frame; -text: each frame in base64
 *
 * Flow control: a message's bytes are acknowledged to the upstream (its stream window
 * opens, gw_upstream_stream_ack) only once the connection holds less than its
 * low-water mark for this stream, at once or later from gw_stream_writable. So a slow
 * client holds at most the upstream's stream window plus that mark in the gateway.
 *
 * Ends: the service's end (OK or an error: after the head an event stream gets an
 * "event: error" with the JSON error body, gRPC its status), the client leaving
 * (gw_stream_abandon: 499 logged by the request layer, the upstream call cancelled),
 * or the drain (gw_stream_drain). The access line is written once, at the end, with
 * the bytes sent and the stream's duration.
 *
 * Offers: gw_stream_phase, gw_stream_writable, gw_stream_drain, gw_stream_abandon,
 * gw_stream_free, gw_stream_init, gw_stream_shutdown, gw_stream_metrics_render (and, in
 * gw_sse_format.c, the pure gw_sse_event and gw_sse_id_ok).
 */
#include "gw_sse.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw.h"
#include "gw_redis.h"
#include "yw_err.h"
#include "yw_json.h"
#include "yw_log.h"

#define PREFIX 5
#define STREAM_LOW (64 * 1024) /* acknowledge upstream while less than this waits */
#define LEASE_MS 60000         /* a place among the caller's streams lives this long... */
#define RENEW_MS 20000         /* ...and is renewed this often while the stream is open */
#define LOCAL_SLOTS 4096       /* callers counted locally while Redis is down */

enum count_kind { COUNT_NONE = 0, COUNT_REDIS, COUNT_LOCAL };

enum end_reason { END_OK = 0, END_ERROR, END_CLIENT, END_DRAIN, END_REASONS };
static const char *const reason_names[END_REASONS] = {"ok", "error", "client", "drain"};

struct gw_stream {
  gw_req *r;
  gw_upstream_client *up;
  yw_rpc_md md[12];
  size_t nmd;
  int64_t timeout_ms;
  int sse;             /* JSON: text/event-stream */
  int started;         /* the head has gone (or is going) to the connection */
  int closed;          /* ended: nothing more is written, timers stopped */
  int admitted;        /* counted among the open streams (the gauge) */
  size_t unacked;      /* bytes given to the connection, not yet acknowledged upstream */
  struct event *hb;    /* heartbeat (and the head of a quiet stream) */
  struct event *renew; /* the lease of the caller's place */
  enum count_kind counted;
  char limit_key[192]; /* <prefix>:streams:{<caller>} */
  char member[112];    /* this stream in that set */
  char local_key[160];
};

/* ---- process-wide counters ----------------------------------------------------- */

static atomic_long open_streams;
static atomic_ulong messages_sent, streams_refused;
static atomic_ulong ended[END_REASONS];

static pthread_mutex_t local_mu = PTHREAD_MUTEX_INITIALIZER;
static struct local_slot {
  char key[160];
  long n;
  int used;
} * local_slots;

int gw_stream_init(void) {
  local_slots = calloc(LOCAL_SLOTS, sizeof *local_slots);
  return local_slots != NULL ? 0 : YW_ENOMEM;
}

void gw_stream_shutdown(void) {
  free(local_slots);
  local_slots = NULL;
}

/* Takes (delta 1, refused past limit: returns 0) or gives back (delta -1) a place in
 * the local count of key. Returns 1 when taken. */
static int local_count(const char *key, int delta, long limit) {
  if (local_slots == NULL) return 1;
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = key; *p != '\0'; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  pthread_mutex_lock(&local_mu);
  struct local_slot *found = NULL, *free_slot = NULL;
  for (size_t i = 0; i < LOCAL_SLOTS; i++) {
    struct local_slot *s = &local_slots[(h + i) % LOCAL_SLOTS];
    if (!s->used) {
      if (free_slot == NULL) free_slot = s;
      break;
    }
    if (strcmp(s->key, key) == 0) {
      found = s;
      break;
    }
    if (s->n == 0 && free_slot == NULL) free_slot = s;
  }
  int ok = 1;
  if (found == NULL && delta > 0 && free_slot != NULL) {
    found = free_slot;
    found->used = 1;
    found->n = 0;
    snprintf(found->key, sizeof found->key, "%s", key);
  }
  if (found != NULL) {
    if (delta > 0 && found->n >= limit)
      ok = 0;
    else if (delta > 0 || found->n > 0)
      found->n += delta;
  }
  pthread_mutex_unlock(&local_mu);
  return ok;
}

size_t gw_stream_metrics_render(char *buf, size_t cap) {
  size_t o = 0;
  int n = snprintf(buf, cap,
                   "# HELP yw_gateway_streams_open Streamed answers open now (event streams, "
                   "gRPC server streams).\n"
                   "# TYPE yw_gateway_streams_open gauge\n"
                   "yw_gateway_streams_open %ld\n"
                   "# HELP yw_gateway_stream_messages_total Messages of streamed answers sent "
                   "to clients.\n"
                   "# TYPE yw_gateway_stream_messages_total counter\n"
                   "yw_gateway_stream_messages_total %lu\n"
                   "# HELP yw_gateway_streams_refused_total Streams refused over the limit per "
                   "caller (429).\n"
                   "# TYPE yw_gateway_streams_refused_total counter\n"
                   "yw_gateway_streams_refused_total %lu\n"
                   "# HELP yw_gateway_streams_ended_total Streamed answers ended, by reason.\n"
                   "# TYPE yw_gateway_streams_ended_total counter\n",
                   atomic_load(&open_streams), atomic_load(&messages_sent),
                   atomic_load(&streams_refused));
  if (n < 0 || (size_t)n >= cap) return 0;
  o = (size_t)n;
  for (int i = 0; i < END_REASONS; i++) {
    n = snprintf(buf + o, cap - o, "yw_gateway_streams_ended_total{reason=\"%s\"} %lu\n",
                 reason_names[i], atomic_load(&ended[i]));
    if (n < 0 || (size_t)n >= cap - o) return 0;
    o += (size_t)n;
  }
  return o;
}

/* ---- events (their text: gw_sse_format.c) ------------------------------------------ */

/* The event id of msg: the route's event_id field as text (a string, or an integer
 * written in decimal); "" when unset or unfit for an id line. */
static void message_id(const gw_route *route, const ProtobufCMessage *msg, char *out, size_t cap) {
  out[0] = '\0';
  const char *name = route->def->event_id;
  if (name == NULL) return;
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
  if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED) return;
  const void *p = (const char *)msg + f->offset;
  switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)p;
      if (s != NULL && gw_sse_id_ok(s, strlen(s))) snprintf(out, cap, "%s", s);
      return;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: snprintf(out, cap, "%" PRId64, *(const int64_t *)p); return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: snprintf(out, cap, "%" PRIu64, *(const uint64_t *)p); return;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: snprintf(out, cap, "%" PRId32, *(const int32_t *)p); return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: snprintf(out, cap, "%" PRIu32, *(const uint32_t *)p); return;
    default: return;
  }
}

/* The message of frame (prefix + message) as an event of the route: malloc'd. */
static char *event_of(gw_stream *st, const uint8_t *frame, size_t len, size_t *out_len) {
  const gw_route *route = st->r->route;
  yw_arena *a = yw_arena_new(len * 8 + 65536);
  if (a == NULL) return NULL;
  char *ev = NULL, *text = NULL;
  size_t tlen = 0;
  ProtobufCMessage *msg = protobuf_c_message_unpack(route->method->output, yw_arena_allocator(a),
                                                    len - PREFIX, frame + PREFIX);
  if (msg != NULL && yw_json_write(msg, 0, &text, &tlen) == 0) {
    char id[136];
    message_id(route, msg, id, sizeof id);
    ev = gw_sse_event(id, route->def->event, text, tlen, out_len);
  }
  free(text);
  yw_arena_free(a);
  return ev;
}

/* ---- the caller's places ---------------------------------------------------------- */

/* Takes a place (ARGV[2] the limit; 0 renews without a limit) for ARGV[1] until now +
 * ARGV[3] ms; expired places are dropped first. Redis's clock, so copies agree. */
static const char PLACE_SCRIPT[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local limit = tonumber(ARGV[2])\n"
    "if limit > 0 and redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and\n"
    "   redis.call('ZCARD', KEYS[1]) >= limit then return 0 end\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n";

static void on_ignore(void *reply, void *arg) {
  (void)reply;
  (void)arg;
}

static int place_command(gw_stream *st, long limit, gw_redis_cb *cb, void *arg) {
  char lim[24], lease[24];
  snprintf(lim, sizeof lim, "%ld", limit);
  snprintf(lease, sizeof lease, "%d", LEASE_MS);
  const char *argv[] = {"EVAL", PLACE_SCRIPT, "1", st->limit_key, st->member, lim, lease};
  if (st->r->worker->redis == NULL) return YW_EUNAVAIL;
  return gw_redis_command(st->r->worker->redis, 7, argv, NULL, cb, arg);
}

/* Gives the caller's place back. */
static void place_release(gw_stream *st) {
  if (st->counted == COUNT_REDIS && st->r->worker->redis != NULL) {
    const char *argv[] = {"ZREM", st->limit_key, st->member};
    gw_redis_command(st->r->worker->redis, 3, argv, NULL, on_ignore, NULL);
  } else if (st->counted == COUNT_LOCAL) {
    local_count(st->local_key, -1, 0);
  }
  st->counted = COUNT_NONE;
}

static void on_renew_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_stream *st = arg;
  if (st->counted == COUNT_REDIS) place_command(st, 0, on_ignore, NULL);
}

/* ---- ending ------------------------------------------------------------------------ */

/* Stops what keeps the stream going: timers, the place, the gauge. Once. */
static void stream_close(gw_stream *st, enum end_reason why) {
  if (st->closed) return;
  st->closed = 1;
  if (st->hb != NULL) event_del(st->hb);
  if (st->renew != NULL) event_del(st->renew);
  place_release(st);
  if (st->admitted) {
    atomic_fetch_sub(&open_streams, 1);
    atomic_fetch_add(&ended[why], 1);
    st->admitted = 0;
  }
}

/* The trailers of a gRPC-Web answer as its last frame (base64 for -text). */
static void write_grpc_web_trailers(gw_req *r, const char *block, size_t blen) {
  uint8_t *frame = malloc(PREFIX + blen);
  if (frame == NULL) return;
  frame[0] = 0x80;
  frame[1] = (uint8_t)(blen >> 24);
  frame[2] = (uint8_t)(blen >> 16);
  frame[3] = (uint8_t)(blen >> 8);
  frame[4] = (uint8_t)blen;
  memcpy(frame + PREFIX, block, blen);
  if (r->kind == GW_KIND_GRPC_WEB_TEXT) {
    char *b64 = malloc(4 * ((PREFIX + blen + 2) / 3) + 1);
    if (b64 != NULL) {
      int n = EVP_EncodeBlock((unsigned char *)b64, frame, (int)(PREFIX + blen));
      gw_conn_stream_write(r, b64, (size_t)n);
      free(b64);
    }
  } else {
    gw_conn_stream_write(r, frame, PREFIX + blen);
  }
  free(frame);
}

/* Ends a stream whose head has gone: the status in the shape of the request's kind,
 * then the end, and its access line. extra: "key:value\r\n" lines of trailers. */
static void end_started(gw_stream *st, grpc_status_code status, const char *message,
                        const char *extra) {
  gw_req *r = st->r;
  if (r->conn != NULL && !r->stream_ended) {
    const char *msg = message != NULL ? message : "";
    if (st->sse) {
      if (status != GRPC_STATUS_OK) {
        json_t *body = json_pack("{s:s,s:s,s:s}", "code", yw_grpc_status_name(status), "message",
                                 msg, "requestId", r->request_id);
        char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        size_t elen = 0;
        char *ev = text != NULL ? gw_sse_event(NULL, "error", text, strlen(text), &elen) : NULL;
        if (ev != NULL) gw_conn_stream_write(r, ev, elen);
        free(ev);
        free(text);
      }
    } else {
      const char *enc = gw_grpc_message_encode(r->arena, msg);
      char code[16];
      snprintf(code, sizeof code, "%d", (int)status);
      if (r->kind == GW_KIND_GRPC) {
        r->n_trailers = 0;
        r->trailers[r->n_trailers++] =
            (gw_header){"grpc-status", yw_arena_strndup(r->arena, code, (size_t)-1)};
        if (enc[0] != '\0') r->trailers[r->n_trailers++] = (gw_header){"grpc-message", enc};
        char *copy = extra != NULL ? yw_arena_strndup(r->arena, extra, (size_t)-1) : NULL;
        for (char *line = copy; line != NULL && *line != '\0';) {
          char *end = strstr(line, "\r\n");
          if (end == NULL) break;
          *end = '\0';
          char *colon = strchr(line, ':');
          if (colon != NULL && r->n_trailers < sizeof r->trailers / sizeof r->trailers[0]) {
            *colon = '\0';
            r->trailers[r->n_trailers++] = (gw_header){line, colon + 1};
          }
          line = end + 2;
        }
      } else {
        size_t cap = strlen(enc) + (extra != NULL ? strlen(extra) : 0) + 64;
        char *block = malloc(cap);
        if (block != NULL) {
          int n = snprintf(block, cap, "grpc-status:%s\r\ngrpc-message:%s\r\n%s", code, enc,
                           extra != NULL ? extra : "");
          write_grpc_web_trailers(r, block, n > 0 ? (size_t)n : 0);
          free(block);
        }
      }
    }
    if (r->conn != NULL) {
      gw_request_log(r); /* once, at the end: the bytes and the stream's whole time */
      gw_conn_stream_end(r);
    }
  }
}

/* ---- sending --------------------------------------------------------------------- */

/* The head goes, with body (len bytes, copied) as its first piece. */
static void start(gw_stream *st, const void *body, size_t len) {
  gw_req *r = st->r;
  st->started = 1;
  r->streaming = 1;
  const char *ct = st->sse                            ? "text/event-stream"
                   : r->kind == GW_KIND_GRPC_WEB      ? "application/grpc-web+proto"
                   : r->kind == GW_KIND_GRPC_WEB_TEXT ? "application/grpc-web-text+proto"
                                                      : "application/grpc";
  gw_answer_bytes(r, 200, ct, body, len);
  if (st->sse) {
    gw_req_add_header(r, "cache-control", "no-cache");
    gw_req_add_header(r, "x-accel-buffering", "no"); /* proxies in front must not buffer */
  }
  gw_req_resume(r, GW_DONE);
}

/* Sends piece (the head first, if it has not gone) and acknowledges what the client
 * has room for. */
static void send_piece(gw_stream *st, const void *piece, size_t len, size_t frame_len) {
  gw_req *r = st->r;
  st->unacked += frame_len;
  if (!st->started) {
    if (st->sse) {
      char retry[48];
      int n = snprintf(retry, sizeof retry, "retry: %ld\n\n", gw.cfg.sse_retry_ms);
      char *first = malloc((size_t)n + len);
      if (first == NULL) {
        start(st, piece, len);
      } else {
        memcpy(first, retry, (size_t)n);
        memcpy(first + n, piece, len);
        start(st, first, (size_t)n + len);
        free(first);
      }
    } else {
      start(st, piece, len);
    }
  } else {
    gw_conn_stream_write(r, piece, len);
  }
  if (r->conn != NULL && gw_conn_stream_pending(r) < STREAM_LOW) gw_stream_writable(r);
}

/* The connection's signal that the client has read (req->writable). */
static void on_writable(gw_req *r, void *arg) {
  (void)arg;
  gw_stream_writable(r);
}

void gw_stream_writable(gw_req *r) {
  gw_stream *st = r->stream;
  if (st == NULL || st->unacked == 0 || r->up_call == NULL) return;
  gw_upstream_stream_ack(r->up_call, st->unacked);
  st->unacked = 0;
}

#define HEAD_MS 1000 /* a quiet stream's head goes after this long */

static long heartbeat_ms(void) {
  return gw.cfg.sse_heartbeat_ms > 0 ? gw.cfg.sse_heartbeat_ms : 15000;
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_stream *st = arg;
  gw_req *r = st->r;
  if (st->closed || r->conn == NULL) return;
  long hb = heartbeat_ms();
  struct timeval tv = {hb / 1000, (hb % 1000) * 1000};
  event_add(st->hb, &tv); /* the next beat */
  if (r->worker->draining) { /* began after the drain: ended the same way */
    gw_stream_drain(r);
    return;
  }
  if (!st->started) {
    /* a quiet stream: its head goes now, so the client knows it is open */
    if (st->sse) {
      char first[64];
      int n = snprintf(first, sizeof first, "retry: %ld\n\n: hb\n\n", gw.cfg.sse_retry_ms);
      start(st, first, (size_t)n);
    } else {
      start(st, NULL, 0);
    }
    return;
  }
  if (st->sse) gw_conn_stream_write(r, ": hb\n\n", 6);
}

/* ---- the upstream call ------------------------------------------------------------ */

static void on_message(void *arg, gw_upstream_pending *call, uint8_t *frame, size_t len) {
  (void)call;
  gw_req *r = arg;
  gw_stream *st = r->stream;
  if (st->closed || r->conn == NULL) {
    free(frame);
    return;
  }
  atomic_fetch_add(&messages_sent, 1);
  if (st->sse) {
    size_t elen = 0;
    char *ev = event_of(st, frame, len, &elen);
    if (ev == NULL) {
      /* a message the route cannot show: the stream ends with the error */
      free(frame);
      gw_upstream_cancel(r->up_call);
      if (!st->started) {
        gw_answer_error(r, GRPC_STATUS_INTERNAL, "the service answered with an unreadable message");
        stream_close(st, END_ERROR);
        gw_req_resume(r, GW_DONE);
      } else {
        end_started(st, GRPC_STATUS_INTERNAL, "the service answered with an unreadable message",
                    NULL);
        stream_close(st, END_ERROR);
      }
      return;
    }
    send_piece(st, ev, elen, len);
    free(ev);
  } else if (r->kind == GW_KIND_GRPC_WEB_TEXT) {
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64 != NULL) {
      int n = EVP_EncodeBlock((unsigned char *)b64, frame, (int)len);
      send_piece(st, b64, (size_t)n, len);
      free(b64);
    }
  } else {
    send_piece(st, frame, len, len);
  }
  free(frame);
}

static void on_done(void *arg, const gw_upstream_result *res) {
  gw_req *r = arg;
  gw_stream *st = r->stream;
  r->up_call = NULL; /* the handle dies with this callback */
  if (!st->closed && r->conn != NULL) {
    /* custom trailers go back to gRPC clients, without -bin values */
    char *extra = NULL;
    if (r->kind != GW_KIND_JSON && res->n_trailers > 0) {
      size_t cap = 1;
      for (size_t i = 0; i < res->n_trailers; i++)
        cap += strlen(res->trailers[i].name) + res->trailers[i].value_len + 4;
      extra = malloc(cap);
      if (extra != NULL) {
        size_t o = 0;
        for (size_t i = 0; i < res->n_trailers; i++) {
          const gw_upstream_header *t = &res->trailers[i];
          size_t nlen = strlen(t->name);
          if (nlen > 4 && strcmp(t->name + nlen - 4, "-bin") == 0) continue;
          int n = snprintf(extra + o, cap - o, "%s:%.*s\r\n", t->name, (int)t->value_len, t->value);
          if (n > 0) o += (size_t)n;
        }
        extra[o] = '\0';
      }
    }
    enum end_reason why = res->status == GRPC_STATUS_OK ? END_OK : END_ERROR;
    if (!st->started && res->status != GRPC_STATUS_OK) {
      /* nothing sent yet: an ordinary answer (the JSON error, or Trailers-Only) */
      r->up_status = res->status;
      r->up_message = strdup(res->message != NULL ? res->message : "");
      r->up_trailers = extra;
      extra = NULL;
      for (size_t i = 0; i < res->n_trailers; i++) {
        const gw_upstream_header *t = &res->trailers[i];
        if (strcmp(t->name, "retry-after") == 0 && t->value_len > 0 && t->value_len < 16 &&
            strspn(t->value, "0123456789") >= t->value_len)
          snprintf(r->up_retry_after, sizeof r->up_retry_after, "%.*s", (int)t->value_len,
                   t->value);
      }
      stream_close(st, why);
      gw_answer_upstream(r);
      gw_req_resume(r, GW_DONE);
    } else {
      if (!st->started && st->sse) { /* ended without a message: an empty stream */
        char first[48];
        int n = snprintf(first, sizeof first, "retry: %ld\n\n", gw.cfg.sse_retry_ms);
        start(st, first, (size_t)n);
      } else if (!st->started) {
        start(st, NULL, 0);
      }
      end_started(st, res->status, res->message, extra);
      stream_close(st, why);
    }
    free(extra);
  } else {
    stream_close(st, END_CLIENT);
  }
  gw_req_unref(r);
}

/* Starts the upstream call of an admitted stream. */
static void call_upstream(gw_stream *st) {
  gw_req *r = st->r;
  st->admitted = 1;
  atomic_fetch_add(&open_streams, 1);
  struct event_base *base = r->worker->base;
  st->hb = event_new(base, -1, 0, on_heartbeat, st); /* re-armed by each beat */
  st->renew = event_new(base, -1, EV_PERSIST, on_renew_timer, st);
  if (st->hb == NULL || st->renew == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    stream_close(st, END_ERROR);
    gw_req_resume(r, GW_DONE);
    return;
  }
  r->refs++;
  int rc = gw_upstream_stream(st->up, r->route->grpc_path, r->payload, r->payload_len, st->md,
                              st->nmd, st->timeout_ms, on_message, on_done, r, &r->up_call);
  if (rc != 0) {
    r->refs--;
    gw_answer_error(r, rc == YW_EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_INTERNAL,
                    rc == YW_EINVAL ? "request metadata is not valid" : "could not call upstream");
    stream_close(st, END_ERROR);
    gw_req_resume(r, GW_DONE);
    return;
  }
  /* the first beat sends the head of a stream still quiet after a second (an empty
   * feed), so a client knows it is open without waiting a whole heartbeat */
  long hb = heartbeat_ms();
  long head = hb < HEAD_MS ? hb : HEAD_MS;
  struct timeval tv = {head / 1000, (head % 1000) * 1000};
  event_add(st->hb, &tv);
  if (st->counted == COUNT_REDIS) {
    struct timeval rv = {RENEW_MS / 1000, 0};
    event_add(st->renew, &rv);
  }
}

static void refuse_over_limit(gw_stream *st) {
  gw_req *r = st->r;
  atomic_fetch_add(&streams_refused, 1);
  gw_req_add_header(r, "retry-after", "5");
  gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many open streams for this caller");
}

/* Redis is not there: this process's own count decides. */
static void admit_locally(gw_stream *st) {
  if (!local_count(st->local_key, 1, gw.cfg.streams_per_caller)) {
    refuse_over_limit(st);
    gw_req_resume(st->r, GW_DONE);
    return;
  }
  st->counted = COUNT_LOCAL;
  call_upstream(st);
}

static void on_place(void *reply_v, void *arg) {
  gw_stream *st = arg;
  gw_req *r = st->r;
  redisReply *reply = reply_v;
  if (r->conn != NULL && !st->closed) {
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
      admit_locally(st);
    } else if (reply->integer != 1) {
      refuse_over_limit(st);
      gw_req_resume(r, GW_DONE);
    } else {
      st->counted = COUNT_REDIS;
      call_upstream(st);
    }
  } else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
    /* the client left while Redis answered: the place goes back at once */
    st->counted = COUNT_REDIS;
    place_release(st);
  }
  gw_req_unref(r);
}

enum gw_phase_result gw_stream_phase(gw_req *r, gw_upstream_client *up, const yw_rpc_md *md,
                                     size_t nmd, int64_t timeout_ms) {
  if (r->worker->draining) {
    gw_answer_error(r, GRPC_STATUS_UNAVAILABLE, "this gateway is shutting down, try again");
    return GW_DONE;
  }
  gw_stream *st = calloc(1, sizeof *st);
  if (st == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  r->stream = st;
  r->writable = on_writable;
  st->r = r;
  st->up = up;
  st->sse = r->kind == GW_KIND_JSON;
  st->timeout_ms = timeout_ms;
  st->nmd = nmd < sizeof st->md / sizeof st->md[0] ? nmd : sizeof st->md / sizeof st->md[0];
  memcpy(st->md, md, st->nmd * sizeof *md);
  /* the caller: the account, or the client's address when anonymous */
  const char *who = r->caller.subject[0] != '\0' ? r->caller.subject
                    : r->caller.ip[0] != '\0'    ? r->caller.ip
                                                 : r->peer_ip;
  const char *kind = r->caller.subject[0] != '\0' ? "sub" : "ip";
  snprintf(st->local_key, sizeof st->local_key, "%s:%s", kind, who);
  snprintf(st->limit_key, sizeof st->limit_key, "%s:streams:{%s:%s}", gw.cfg.redis_prefix, kind,
           who);
  static atomic_ulong seq;
  snprintf(st->member, sizeof st->member, "%d:%d:%s:%lu", (int)getpid(), r->worker->index,
           r->request_id, atomic_fetch_add(&seq, 1));
  r->refs++;
  if (place_command(st, gw.cfg.streams_per_caller, on_place, st) != 0) {
    r->refs--;
    admit_locally(st);
    return GW_SUSPEND; /* admit_locally resumed (or will, from the call) */
  }
  return GW_SUSPEND;
}

void gw_stream_drain(gw_req *r) {
  gw_stream *st = r->stream;
  if (st == NULL || st->closed || r->conn == NULL) return;
  if (r->up_call != NULL) gw_upstream_cancel(r->up_call);
  static const char why[] = "the gateway is shutting down, reconnect";
  if (st->started) {
    end_started(st, GRPC_STATUS_UNAVAILABLE, why, NULL);
    stream_close(st, END_DRAIN);
  } else { /* nothing sent yet: an ordinary 503 */
    stream_close(st, END_DRAIN);
    gw_answer_error(r, GRPC_STATUS_UNAVAILABLE, why);
    gw_req_resume(r, GW_DONE);
  }
}

void gw_stream_abandon(gw_req *r) {
  gw_stream *st = r->stream;
  if (st == NULL) return;
  stream_close(st, END_CLIENT);
}

void gw_stream_free(gw_stream *st) {
  if (st == NULL) return;
  if (st->hb != NULL) event_free(st->hb);
  if (st->renew != NULL) event_free(st->renew);
  free(st);
}
