/*
 * gw_upstream.c - unary and server-streaming gRPC calls over HTTP/2 client sessions on
 * a worker's loop (see gw_upstream.h for the contract).
 *
 * Objects: a client has addresses (from its target, resolved); an address has
 * connections (a bufferevent, plain or OpenSSL, and an nghttp2 client session); a
 * connection carries calls, one stream each. A call that finds no free stream waits in
 * the client's FIFO queue.
 *
 * Re-entrancy, the rule everything else leans on: user code (done callbacks) runs only
 * from the client's work event, never inside an nghttp2 callback, a bufferevent
 * callback or a public function. Everything that ends a call pushes it to the done list
 * and activates the work event, which libevent runs in the same loop iteration. So
 * nghttp2 callbacks may end calls freely, and a connection is freed only from a
 * top-level event handler (its own timer, made active when it must go), never while
 * nghttp2 or a caller is inside it.
 *
 * Lifetimes of a call: the user's part ends when its done callback returns; the
 * stream's part ends when nghttp2 closes the stream (or the connection goes). The call
 * is freed when both have ended, so nghttp2 never holds a pointer into freed memory
 * (the request HEADERS are submitted without copies, pointing into the call).
 *
 * The request message is not copied: DATA frames are written straight from the
 * caller's buffer into the socket's output (NGHTTP2_DATA_FLAG_NO_COPY), and reading
 * stops the moment the call ends. The answer is reassembled in one buffer of exactly
 * prefix + message bytes, allocated when the 5-byte prefix has arrived and checked
 * against max_message, so that the callback (or gw_upstream_take_frame) gets it
 * without another copy.
 *
 * Connection states: CONNECTING (TCP, TLS, until the server's SETTINGS; bounded by
 * connect_timeout_ms), READY (takes calls up to min(server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, our cap)), DRAINING (GOAWAY received, stream ids
 * exhausted, or the address left the resolution: finishes its calls, takes none, closes
 * when empty). A connection that fails before READY, or that dies within STABLE_MS of
 * becoming READY, marks its address down and arms an exponential back-off with equal
 * jitter; one that lived longer is replaced at once.
 *
 * Streamed answers: each message is queued on its call as it completes and handed over
 * from the work event, in order, before the call's end; flow control is manual (no
 * automatic WINDOW_UPDATE): a unary answer's bytes are given back as they arrive, a
 * stream's connection window at once and its stream window only as the caller acks.
 *
 * Offers: gw_upstream_new, gw_upstream_free, gw_upstream_call, gw_upstream_stream,
 * gw_upstream_stream_ack, gw_upstream_cancel, gw_upstream_take_frame, gw_upstream_ready, gw_upstream_health_check,
 * gw_upstream_get_stats.
 */
#include "gw_upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event_struct.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "yw_err.h"

#define MAX_ADDRS 32
#define MAX_MD 32
#define FIXED_NV 8 /* :method :scheme :path :authority te content-type user-agent grpc-timeout */
#define MAX_ANSWER_HEADERS 64    /* custom initial metadata and trailers together */
#define OUT_HIGH (256 * 1024)    /* unsent bytes past which no more frames are serialized */
#define PREFIX 5                 /* gRPC message prefix: compressed flag, big-endian length */
#define STABLE_MS 1000           /* a connection that dies younger than this counts as a failure */
#define RESOLVE_GAP_MS 1000      /* at most one lookup a second, however many failures */
#define MAX_PINGS_WITHOUT_DATA 2 /* gRPC core's default, which its servers expect */
#define MAX_PATH 1024
#define USER_AGENT "yw-gateway/1 (nghttp2)"

enum call_state { CALL_NEW, CALL_QUEUED, CALL_ACTIVE, CALL_FINISHED };
enum conn_state { CONN_CONNECTING, CONN_READY, CONN_DRAINING, CONN_CLOSED };

typedef struct up_conn up_conn;
typedef struct up_addr up_addr;
typedef struct resolver resolver;

/* A custom answer header: offsets into the call's hbuf (which may move as it grows). */
struct hdr_ent {
  uint32_t name_off, value_off, value_len;
  uint8_t trailer;
};

struct gw_upstream_pending {
  gw_upstream_client *up;
  up_conn *conn;                    /* while on a stream */
  gw_upstream_pending *prev, *next; /* the client's queue, or the connection's calls */
  gw_upstream_pending *done_next;
  enum call_state state;
  int32_t stream_id;
  int user_done; /* the done callback has returned */
  int in_done_list;
  int headers_sent;
  int retried;
  int has_timer;
  struct event timer;  /* the deadline */
  int64_t deadline_ms; /* monotonic; 0: none */
  gw_upstream_done_fn done;
  void *arg;

  /* request */
  const uint8_t *msg; /* the caller's, not copied */
  size_t len;
  size_t send_off; /* over prefix + msg */
  uint8_t prefix[PREFIX];
  const char *path;
  size_t path_len;
  nghttp2_nv *md_nv; /* nmd entries, copied into this allocation */
  size_t nmd;
  nghttp2_nv *nv; /* FIXED_NV + nmd, rebuilt at every submit */
  char timeout_text[24];

  /* answer */
  int http_status;
  int grpc_status;  /* -1 until one arrives */
  int got_response; /* the first HEADERS block has begun */
  int trailers_only;
  int end_stream;
  char *hbuf; /* "name\0value\0"..., grpc-message decoded */
  size_t hlen, hcap;
  struct hdr_ent *ents;
  size_t nents, cents;
  long msg_off; /* grpc-message in hbuf, -1 when none */
  uint8_t rprefix[PREFIX];
  size_t rprefix_got;
  int in_body;   /* a message's bytes are arriving */
  uint8_t *rbuf; /* prefix + message */
  size_t rlen, rgot;
  int n_msgs;

  /* server streaming (gw_upstream_stream): on_msg is NULL for a unary call */
  gw_upstream_msg_fn on_msg;
  struct up_msg *mq_head, *mq_tail; /* complete messages not handed over yet */
  gw_upstream_pending *ready_next;  /* the client's list of calls with messages */
  int in_ready;
  int user_cancelled; /* gw_upstream_cancel: messages still queued are dropped */

  /* outcome */
  grpc_status_code status;
  int own_msg; /* errmsg holds the message, not grpc-message */
  char errmsg[192];
};

/* A complete message of a streamed answer, waiting for its turn on the loop. */
struct up_msg {
  struct up_msg *next;
  uint8_t *frame; /* malloc: prefix + message */
  size_t len;
};

struct up_conn {
  gw_upstream_client *up;
  up_addr *addr;
  up_conn *prev, *next; /* the address's connections */
  struct bufferevent *bev;
  nghttp2_session *h2;
  enum conn_state state;
  struct event *timer; /* connect timeout, and closing from the top level */
  gw_upstream_pending *calls;
  size_t n_calls;
  uint32_t max_streams;
  int in_h2; /* inside nghttp2: flushing waits for the way out */
  int want_flush;
  int dead;     /* to be closed by its timer */
  int graceful; /* drained after GOAWAY: not a failure */
  int64_t ready_since_ms;
  int64_t last_recv_ms;   /* keepalive: when the server was last heard */
  int64_t ping_sent_ms;   /* keepalive: our PING waiting for its ACK, or 0 */
  int pings_without_data; /* keepalive: PINGs since we last sent HEADERS or DATA */
  char why[128];
};

struct up_addr {
  gw_upstream_client *up;
  struct sockaddr_storage sa;
  socklen_t salen;
  char ip[INET6_ADDRSTRLEN];
  char text[INET6_ADDRSTRLEN + 8]; /* "ip:port" or "[v6]:port", for messages */
  up_conn *conns;
  int n_conns, n_ready, n_connecting;
  int failures; /* consecutive */
  int down;     /* the latest attempt failed and none is READY since */
  int retiring; /* gone from the resolution: freed with its last connection */
  struct event *retry;
  up_addr *next_retiring;
};

/* Shared between a client and its resolver thread; freed by whichever lets go last. */
struct resolver {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs, stop, want, fresh; /* guarded by mu */
  struct event *notify;        /* guarded by mu; NULL once the client is gone */
  char host[256];
  char port[8];
  long interval_ms;
  struct sockaddr_storage found[MAX_ADDRS]; /* guarded by mu */
  socklen_t lens[MAX_ADDRS];
  size_t n_found;
  int gai_err;
};

struct gw_upstream_client {
  struct event_base *base;
  gw_upstream_opts o;
  char *authority;
  char server_name[256];  /* TLS name to check instead of the host; "" for the host */
  char host[256]; /* for SNI and certificate checks */
  int host_numeric;
  int tls;
  nghttp2_session_callbacks *cbs;
  nghttp2_option *h2opt;
  up_addr **addrs;
  size_t n_addrs;
  size_t rr;
  up_addr *retiring;
  int resolved; /* at least one answer (numeric targets: at once) */
  resolver *res;
  struct event *res_ev;
  struct event *work_ev;
  struct event *tick_ev; /* keepalive checks */
  gw_upstream_pending *q_head, *q_tail;
  size_t n_queued, n_active;
  gw_upstream_pending *done_head, *done_tail;
  gw_upstream_pending *ready_head, *ready_tail; /* streamed calls with messages to hand over */
  int freeing;
  uint64_t rnd;
  char last_error[192];
  size_t peak_streams;
  unsigned long connects, connect_failures, retries, goaways, pings_sent, pings_unanswered;
};

static void conn_flush(up_conn *c);
static void conn_close_later(up_conn *c, const char *why);
static up_conn *conn_open(up_addr *a);
static void kick(gw_upstream_client *up);

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t next_random(gw_upstream_client *up) {
  up->rnd ^= up->rnd << 13;
  up->rnd ^= up->rnd >> 7;
  up->rnd ^= up->rnd << 17;
  return up->rnd;
}

/* ---- status mapping ------------------------------------------------------------- */

/* gRPC's doc/http-grpc-status-mapping.md, for answers without a grpc-status of their
 * own. yw_http_to_grpc maps plain-HTTP peers for the JSON side and differs on purpose
 * (404 there is NOT_FOUND; from a gRPC server it means no such method). */
static grpc_status_code status_from_http(int http) {
  switch (http) {
    case 400: return GRPC_STATUS_INTERNAL;
    case 401: return GRPC_STATUS_UNAUTHENTICATED;
    case 403: return GRPC_STATUS_PERMISSION_DENIED;
    case 404: return GRPC_STATUS_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return GRPC_STATUS_UNAVAILABLE;
    default: return GRPC_STATUS_UNKNOWN;
  }
}

/* gRPC's doc/PROTOCOL-HTTP2.md, "Errors": RST_STREAM codes seen by a client. */
static grpc_status_code status_from_rst(uint32_t code) {
  switch (code) {
    case NGHTTP2_REFUSED_STREAM: return GRPC_STATUS_UNAVAILABLE;
    case NGHTTP2_CANCEL: return GRPC_STATUS_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY: return GRPC_STATUS_PERMISSION_DENIED;
    default: return GRPC_STATUS_INTERNAL;
  }
}

/* grpc-timeout: at most eight digits and a unit; the largest unit that keeps the value
 * exact or, past eight digits, rounds it up (a deadline is never shortened by us). */
static void grpc_timeout_text(int64_t ms, char *out, size_t n) {
  if (ms < 1) ms = 1;
  if (ms <= 99999999) {
    snprintf(out, n, "%lldm", (long long)ms);
  } else if ((ms + 999) / 1000 <= 99999999) {
    snprintf(out, n, "%lldS", (long long)((ms + 999) / 1000));
  } else if ((ms + 59999) / 60000 <= 99999999) {
    snprintf(out, n, "%lldM", (long long)((ms + 59999) / 60000));
  } else {
    long long h = (long long)((ms + 3599999) / 3600000);
    snprintf(out, n, "%lldH", h > 99999999 ? 99999999LL : h);
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes a grpc-message into out (room for n bytes). Lenient, as the gRPC
 * spec asks of clients: a '%' not followed by two hex digits stays as it is. */
static size_t percent_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 && (lo = hexval(s[i + 2])) >= 0) {
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  return o;
}

/* ---- lists ---------------------------------------------------------------------- */

static void queue_push(gw_upstream_client *up, gw_upstream_pending *call, int front) {
  call->state = CALL_QUEUED;
  call->prev = call->next = NULL;
  if (front) {
    call->next = up->q_head;
    if (up->q_head != NULL)
      up->q_head->prev = call;
    else
      up->q_tail = call;
    up->q_head = call;
  } else {
    call->prev = up->q_tail;
    if (up->q_tail != NULL)
      up->q_tail->next = call;
    else
      up->q_head = call;
    up->q_tail = call;
  }
  up->n_queued++;
}

static void queue_remove(gw_upstream_client *up, gw_upstream_pending *call) {
  if (call->prev != NULL)
    call->prev->next = call->next;
  else
    up->q_head = call->next;
  if (call->next != NULL)
    call->next->prev = call->prev;
  else
    up->q_tail = call->prev;
  call->prev = call->next = NULL;
  up->n_queued--;
}

static void conn_attach(up_conn *c, gw_upstream_pending *call) {
  call->conn = c;
  call->prev = NULL;
  call->next = c->calls;
  if (c->calls != NULL) c->calls->prev = call;
  c->calls = call;
  c->n_calls++;
  c->up->n_active++;
  if (c->n_calls > c->up->peak_streams) c->up->peak_streams = c->n_calls;
  call->state = CALL_ACTIVE;
}

/* Takes the call off its connection; a draining connection left empty is closed. */
static void conn_detach(gw_upstream_pending *call) {
  up_conn *c = call->conn;
  if (call->prev != NULL)
    call->prev->next = call->next;
  else
    c->calls = call->next;
  if (call->next != NULL) call->next->prev = call->prev;
  call->prev = call->next = NULL;
  c->n_calls--;
  c->up->n_active--;
  call->conn = NULL;
  call->stream_id = 0;
  if (c->state == CONN_DRAINING && c->n_calls == 0 && !c->dead) {
    c->graceful = 1;
    conn_close_later(c, "drained");
  }
}

static void call_free(gw_upstream_pending *call) {
  while (call->mq_head != NULL) {
    struct up_msg *m = call->mq_head;
    call->mq_head = m->next;
    free(m->frame);
    free(m);
  }
  free(call->rbuf);
  free(call->hbuf);
  free(call->ents);
  free(call);
}

/* Frees the call once both its user and its stream are done with it. */
static void call_maybe_free(gw_upstream_pending *call) {
  if (call->user_done && call->conn == NULL && !call->in_done_list && !call->in_ready)
    call_free(call);
}

/* Ends the call with st (msg: ours, or NULL to report the server's grpc-message); its
 * callback runs from the work event. The caller has taken it off the queue. */
static void finish(gw_upstream_pending *call, grpc_status_code st, const char *msg) {
  if (call->state == CALL_FINISHED) return;
  call->state = CALL_FINISHED;
  call->status = st;
  if (msg != NULL) {
    snprintf(call->errmsg, sizeof call->errmsg, "%s", msg);
    call->own_msg = 1;
  }
  if (call->has_timer) event_del(&call->timer);
  gw_upstream_client *up = call->up;
  call->done_next = NULL;
  if (up->done_tail != NULL)
    up->done_tail->done_next = call;
  else
    up->done_head = call;
  up->done_tail = call;
  call->in_done_list = 1;
  kick(up);
}

/* Ends a call that may be on a stream: the server is told with RST_STREAM(CANCEL). */
static void call_abort(gw_upstream_pending *call, grpc_status_code st, const char *msg) {
  up_conn *c = call->conn;
  if (c != NULL && call->stream_id > 0 && !c->dead) {
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
    conn_flush(c);
  }
  if (call->state == CALL_QUEUED) queue_remove(call->up, call);
  finish(call, st, msg);
}

/* ---- addresses ------------------------------------------------------------------ */

static void addr_text(up_addr *a) {
  int port = 0;
  if (a->sa.ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
    inet_ntop(AF_INET, &s->sin_addr, a->ip, sizeof a->ip);
    port = ntohs(s->sin_port);
    snprintf(a->text, sizeof a->text, "%s:%d", a->ip, port);
  } else {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->sa;
    inet_ntop(AF_INET6, &s->sin6_addr, a->ip, sizeof a->ip);
    port = ntohs(s->sin6_port);
    snprintf(a->text, sizeof a->text, "[%s]:%d", a->ip, port);
  }
}

static void on_addr_retry(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  up_addr *a = arg;
  if (a->retiring || a->up->freeing) return;
  if (conn_open(a) == NULL) kick(a->up);
}

static up_addr *addr_new(gw_upstream_client *up, const struct sockaddr *sa, socklen_t len) {
  up_addr *a = calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  a->up = up;
  memcpy(&a->sa, sa, len);
  a->salen = len;
  a->retry = evtimer_new(up->base, on_addr_retry, a);
  if (a->retry == NULL) {
    free(a);
    return NULL;
  }
  addr_text(a);
  return a;
}

static void addr_free(up_addr *a) {
  if (a == NULL) return;
  gw_upstream_client *up = a->up;
  for (up_addr **p = &up->retiring; *p != NULL; p = &(*p)->next_retiring)
    if (*p == a) {
      *p = a->next_retiring;
      break;
    }
  event_free(a->retry);
  free(a);
}

static void resolver_kick(gw_upstream_client *up);

/* The address's latest attempt failed: down until a connection is READY again, and
 * tried again after the back-off. */
static void addr_fail(up_addr *a, const char *why) {
  gw_upstream_client *up = a->up;
  a->failures++;
  a->down = 1;
  up->connect_failures++;
  snprintf(up->last_error, sizeof up->last_error, "%s: %s", a->text, why);
  if (a->retiring || up->freeing) return;
  int shift = a->failures - 1 < 16 ? a->failures - 1 : 16;
  long long delay = (long long)up->o.backoff_base_ms << shift;
  if (delay > up->o.backoff_max_ms) delay = up->o.backoff_max_ms;
  /* equal jitter: clients that failed together do not all come back together */
  long long half = delay / 2;
  long long ms = half + (long long)(next_random(up) % (uint64_t)(half + 1));
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
  event_add(a->retry, &tv);
  resolver_kick(up); /* the name may point elsewhere now */
}

/* Keeps connections_per_address connections open to an address that is not down. */
static void addr_ensure(up_addr *a) {
  if (a->down || a->retiring || evtimer_pending(a->retry, NULL)) return;
  int live = 0;
  for (up_conn *c = a->conns; c != NULL; c = c->next)
    if (c->state == CONN_CONNECTING || c->state == CONN_READY) live++;
  while (live < a->up->o.connections_per_address) {
    if (conn_open(a) == NULL) return;
    live++;
  }
}

static int all_down(const gw_upstream_client *up) {
  if (!up->resolved) return 0;
  for (size_t i = 0; i < up->n_addrs; i++)
    if (!up->addrs[i]->down || up->addrs[i]->n_ready > 0) return 0;
  return 1;
}

/* ---- connections: I/O ----------------------------------------------------------- */

static void conn_set_state(up_conn *c, enum conn_state s) {
  up_addr *a = c->addr;
  if (c->state == CONN_READY) a->n_ready--;
  if (c->state == CONN_CONNECTING) a->n_connecting--;
  c->state = s;
  if (s == CONN_READY) a->n_ready++;
  if (s == CONN_CONNECTING) a->n_connecting++;
}

/* Serializes what nghttp2 has to send into the socket's output; inside nghttp2 only
 * notes that it must be done on the way out. */
static void conn_flush(up_conn *c) {
  if (c->dead) return;
  if (c->in_h2) {
    c->want_flush = 1;
    return;
  }
  c->in_h2++;
  int rv = nghttp2_session_send(c->h2);
  c->in_h2--;
  c->want_flush = 0;
  if (rv != 0) conn_close_later(c, nghttp2_strerror(rv));
}

/* Closes c from its own timer, so that no caller on the stack still uses it. */
static void conn_close_later(up_conn *c, const char *why) {
  if (c->dead) return;
  c->dead = 1;
  snprintf(c->why, sizeof c->why, "%s", why);
  event_active(c->timer, EV_TIMEOUT, 0);
}

static void conn_close(up_conn *c, const char *why_in) {
  char why[128]; /* why_in may be c->why, which dies with c */
  snprintf(why, sizeof why, "%s", why_in);
  gw_upstream_client *up = c->up;
  up_addr *a = c->addr;
  int was_ready = c->ready_since_ms != 0;
  int64_t lived = was_ready ? now_ms() - c->ready_since_ms : 0;
  int graceful = c->graceful;
  conn_set_state(c, CONN_CLOSED);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  a->n_conns--;
  char msg[256];
  snprintf(msg, sizeof msg, "connection to %s lost: %s", a->text, why);
  gw_upstream_pending *call;
  while ((call = c->calls) != NULL) {
    conn_detach(call);
    if (call->state == CALL_FINISHED) {
      call_maybe_free(call);
    } else if (!call->headers_sent && !call->retried && !up->freeing) {
      /* never reached the server: once more, elsewhere */
      call->retried = 1;
      up->retries++;
      queue_push(up, call, 1);
    } else {
      finish(call, GRPC_STATUS_UNAVAILABLE, msg);
    }
  }
  nghttp2_session_del(c->h2);
  if (c->bev != NULL) bufferevent_free(c->bev);
  event_free(c->timer);
  free(c);
  if (!up->freeing) {
    if (!was_ready)
      addr_fail(a, why);
    else if (!graceful && lived < STABLE_MS)
      addr_fail(a, why); /* accepts, then dies: back off */
    else
      a->failures = 0;
  }
  if (a->retiring && a->n_conns == 0) addr_free(a);
  kick(up);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  up_conn *c = arg;
  if (c->dead)
    conn_close(c, c->why);
  else if (c->state == CONN_CONNECTING)
    conn_close(c, "no HTTP/2 handshake within the connect timeout");
}

static void conn_after_io(up_conn *c) {
  if (!c->dead && (c->want_flush || nghttp2_session_want_write(c->h2))) conn_flush(c);
  if (!c->dead && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
    c->graceful = c->state == CONN_DRAINING;
    conn_close_later(c, "HTTP/2 session ended");
  }
}

static void on_read(struct bufferevent *bev, void *arg) {
  up_conn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  c->last_recv_ms = now_ms();
  c->ping_sent_ms = 0; /* heard from: alive, whatever the PING's fate */
  while (!c->dead && evbuffer_get_length(in) > 0) {
    struct evbuffer_iovec v[8];
    int n = evbuffer_peek(in, -1, NULL, v, 8);
    if (n > 8) n = 8;
    size_t used = 0;
    for (int i = 0; i < n && !c->dead; i++) {
      c->in_h2++;
      ssize_t rv = nghttp2_session_mem_recv(c->h2, v[i].iov_base, v[i].iov_len);
      c->in_h2--;
      if (rv < 0) {
        conn_close_later(c, nghttp2_strerror((int)rv));
        break;
      }
      used += v[i].iov_len;
    }
    evbuffer_drain(in, used);
  }
  conn_after_io(c);
}

static void on_write(struct bufferevent *bev, void *arg) {
  (void)bev;
  up_conn *c = arg;
  conn_flush(c); /* frames held back while the output was full */
}

static void on_event(struct bufferevent *bev, short events, void *arg) {
  up_conn *c = arg;
  if (events & BEV_EVENT_CONNECTED) {
    evutil_socket_t fd = bufferevent_getfd(bev);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->up->o.keepalive_ms > 0) {
      /* what we sent and the peer never acknowledged ends the connection as a PING
       * without answer does */
      unsigned int uto = (unsigned int)c->up->o.keepalive_timeout_ms;
      setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof uto);
    }
    if (c->up->tls) {
      SSL *ssl = bufferevent_openssl_get_ssl(bev);
      const unsigned char *alpn = NULL;
      unsigned alpn_len = 0;
      SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
      if (alpn == NULL || alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
        conn_close(c, "the server did not choose h2 by ALPN");
        return;
      }
    }
    conn_flush(c); /* the preface and our SETTINGS */
    return;
  }
  char why[160];
  if (events & BEV_EVENT_EOF) {
    snprintf(why, sizeof why, "closed by the server");
  } else if (events & BEV_EVENT_TIMEOUT) {
    snprintf(why, sizeof why, "timed out");
  } else {
    unsigned long tls_err = c->up->tls ? bufferevent_get_openssl_error(bev) : 0;
    if (tls_err != 0) {
      char buf[120];
      ERR_error_string_n(tls_err, buf, sizeof buf);
      snprintf(why, sizeof why, "TLS: %s", buf);
    } else {
      int e = EVUTIL_SOCKET_ERROR();
      snprintf(why, sizeof why, "%s", e != 0 ? evutil_socket_error_to_string(e) : "error");
    }
  }
  conn_close(c, why);
}

/* ---- connections: nghttp2 callbacks ---------------------------------------------- */

static ssize_t h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user) {
  (void)s;
  (void)flags;
  up_conn *c = user;
  struct evbuffer *out = bufferevent_get_output(c->bev);
  if (evbuffer_get_length(out) >= OUT_HIGH) return NGHTTP2_ERR_WOULDBLOCK;
  if (evbuffer_add(out, data, len) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  return (ssize_t)len;
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)s;
  (void)stream_id;
  (void)buf;
  (void)user;
  gw_upstream_pending *call = src->ptr;
  /* after the call ended its message may be gone; nghttp2 resets the stream */
  if (call->state == CALL_FINISHED) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  size_t left = PREFIX + call->len - call->send_off;
  size_t n = left < length ? left : length;
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == left) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* Writes one DATA frame of the request straight from the caller's buffer. */
static int h2_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *user) {
  (void)s;
  (void)frame; /* no padding is ever asked for */
  up_conn *c = user;
  gw_upstream_pending *call = src->ptr;
  /* a frame held back by WOULDBLOCK comes here again later, maybe after the call ended
   * and its caller freed the message: reset the stream instead of reading it */
  if (call->state == CALL_FINISHED) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  struct evbuffer *out = bufferevent_get_output(c->bev);
  if (evbuffer_get_length(out) >= OUT_HIGH) return NGHTTP2_ERR_WOULDBLOCK;
  if (evbuffer_add(out, framehd, 9) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  size_t off = call->send_off, n = length;
  if (off < PREFIX) {
    size_t k = PREFIX - off < n ? PREFIX - off : n;
    if (evbuffer_add(out, call->prefix + off, k) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    off += k;
    n -= k;
  }
  if (n > 0 && evbuffer_add(out, call->msg + (off - PREFIX), n) != 0)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  call->send_off += length;
  return 0;
}

static gw_upstream_pending *stream_call(up_conn *c, int32_t stream_id) {
  gw_upstream_pending *call = nghttp2_session_get_stream_user_data(c->h2, stream_id);
  if (call != NULL) return call;
  for (call = c->calls; call != NULL; call = call->next)
    if (call->stream_id == stream_id) return call;
  return NULL;
}

/* Appends name and value (NUL-terminated each) to the call's header buffer. Returns
 * the offset of the name, or -1 past max_header_bytes or without memory. */
static long hb_add(gw_upstream_pending *call, const uint8_t *name, size_t nlen,
                   const uint8_t *value, size_t vlen) {
  size_t need = nlen + vlen + 2;
  if (call->hlen + need > call->up->o.max_header_bytes) return -1;
  if (call->hlen + need > call->hcap) {
    size_t cap = call->hcap != 0 ? call->hcap : 256;
    while (cap < call->hlen + need) cap *= 2;
    char *p = realloc(call->hbuf, cap);
    if (p == NULL) return -1;
    call->hbuf = p;
    call->hcap = cap;
  }
  long off = (long)call->hlen;
  if (nlen > 0) memcpy(call->hbuf + call->hlen, name, nlen);
  call->hbuf[call->hlen + nlen] = '\0';
  if (vlen > 0) memcpy(call->hbuf + call->hlen + nlen + 1, value, vlen);
  call->hbuf[call->hlen + nlen + 1 + vlen] = '\0';
  call->hlen += need;
  return off;
}

static int name_is(const uint8_t *name, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len == n && memcmp(name, lit, n) == 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                        size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user) {
  (void)s;
  (void)flags;
  up_conn *c = user;
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  gw_upstream_pending *call = nghttp2_session_get_stream_user_data(c->h2, frame->hd.stream_id);
  if (call == NULL || call->state == CALL_FINISHED) return 0;
  int trailer = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
  if (!trailer) call->got_response = 1;
  if (name_is(name, nlen, ":status")) {
    int st = 0;
    for (size_t i = 0; i < vlen && i < 3; i++)
      st = st * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 0);
    call->http_status = st;
    return 0;
  }
  if (name_is(name, nlen, "grpc-status")) {
    int st = 0, ok = vlen > 0 && vlen <= 3;
    for (size_t i = 0; ok && i < vlen; i++) {
      if (value[i] < '0' || value[i] > '9')
        ok = 0;
      else
        st = st * 10 + (value[i] - '0');
    }
    /* a code outside gRPC's range is UNKNOWN, as gRPC reads it */
    call->grpc_status = ok && st <= GRPC_STATUS_UNAUTHENTICATED ? st : GRPC_STATUS_UNKNOWN;
    return 0;
  }
  if (name_is(name, nlen, "grpc-message")) {
    long off = hb_add(call, (const uint8_t *)"", 0, value, vlen);
    if (off < 0) goto too_big;
    /* decoding only shrinks: in place over the copy just made */
    size_t d = percent_decode(call->hbuf + off + 1, vlen, call->hbuf + off + 1);
    call->hbuf[off + 1 + d] = '\0';
    call->msg_off = off + 1;
    return 0;
  }
  if (nlen > 0 && name[0] == ':') return 0;
  if (name_is(name, nlen, "content-type") || name_is(name, nlen, "grpc-encoding") ||
      name_is(name, nlen, "grpc-accept-encoding"))
    return 0;
  if (call->nents == MAX_ANSWER_HEADERS) goto too_big;
  if (call->nents == call->cents) {
    size_t cap = call->cents != 0 ? call->cents * 2 : 8;
    struct hdr_ent *e = realloc(call->ents, cap * sizeof *e);
    if (e == NULL) goto too_big;
    call->ents = e;
    call->cents = cap;
  }
  long off = hb_add(call, name, nlen, value, vlen);
  if (off < 0) goto too_big;
  call->ents[call->nents++] = (struct hdr_ent){(uint32_t)off, (uint32_t)(off + (long)nlen + 1),
                                               (uint32_t)vlen, (uint8_t)trailer};
  return 0;
too_big : {
  char msg[128];
  snprintf(msg, sizeof msg, "answer metadata larger than %zu bytes or %d entries",
           call->up->o.max_header_bytes, MAX_ANSWER_HEADERS);
  call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
  return 0;
}
}

/* A streamed call's message is complete in rbuf: it joins the call's queue, handed
 * over from the work event (never from inside nghttp2). */
static void msg_ready(gw_upstream_pending *call) {
  struct up_msg *m = malloc(sizeof *m);
  if (m == NULL) {
    call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the answer");
    return;
  }
  m->next = NULL;
  m->frame = call->rbuf;
  m->len = PREFIX + call->rlen;
  call->rbuf = NULL;
  if (call->mq_tail != NULL)
    call->mq_tail->next = m;
  else
    call->mq_head = m;
  call->mq_tail = m;
  gw_upstream_client *up = call->up;
  if (!call->in_ready) {
    call->in_ready = 1;
    call->ready_next = NULL;
    if (up->ready_tail != NULL)
      up->ready_tail->ready_next = call;
    else
      up->ready_head = call;
    up->ready_tail = call;
  }
  kick(up);
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                      size_t len, void *user) {
  (void)s;
  (void)flags;
  up_conn *c = user;
  gw_upstream_pending *call = nghttp2_session_get_stream_user_data(c->h2, stream_id);
  /* A unary answer's window is given back as its bytes arrive: they are in the call's
   * buffer now, which max_message bounds. A streamed answer gives back the connection's
   * window at once (one slow stream must not stall the others) and its stream's only
   * as its caller takes the messages (gw_upstream_stream_ack), so a server can be at
   * most stream_window bytes ahead of the client the gateway serves. */
  if (call == NULL || call->state == CALL_FINISHED || call->on_msg == NULL)
    nghttp2_session_consume(s, stream_id, len);
  else
    nghttp2_session_consume_connection(s, len);
  while (call != NULL && call->state != CALL_FINISHED && len > 0) {
    if (!call->in_body) {
      if (call->n_msgs > 0 && call->on_msg == NULL) {
        call_abort(call, GRPC_STATUS_INTERNAL, "more than one message in a unary answer");
        return 0;
      }
      size_t k = PREFIX - call->rprefix_got < len ? PREFIX - call->rprefix_got : len;
      memcpy(call->rprefix + call->rprefix_got, data, k);
      call->rprefix_got += k;
      data += k;
      len -= k;
      if (call->rprefix_got < PREFIX) return 0;
      if (call->rprefix[0] != 0) {
        call_abort(call, GRPC_STATUS_INTERNAL, "compressed answer, but no compression was offered");
        return 0;
      }
      size_t mlen = ((size_t)call->rprefix[1] << 24) | ((size_t)call->rprefix[2] << 16) |
                    ((size_t)call->rprefix[3] << 8) | (size_t)call->rprefix[4];
      if (mlen > call->up->o.max_message) {
        char msg[128];
        snprintf(msg, sizeof msg, "received message larger than max (%zu vs. %zu)", mlen,
                 call->up->o.max_message);
        call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
        return 0;
      }
      call->rbuf = malloc(PREFIX + mlen);
      if (call->rbuf == NULL) {
        call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the answer");
        return 0;
      }
      memcpy(call->rbuf, call->rprefix, PREFIX);
      call->rprefix_got = 0;
      call->rlen = mlen;
      call->rgot = 0;
      call->n_msgs++;
      call->in_body = mlen > 0;
      if (!call->in_body && call->on_msg != NULL) msg_ready(call);
      continue;
    }
    size_t k = call->rlen - call->rgot < len ? call->rlen - call->rgot : len;
    memcpy(call->rbuf + PREFIX + call->rgot, data, k);
    call->rgot += k;
    data += k;
    len -= k;
    if (call->rgot == call->rlen) {
      call->in_body = 0;
      if (call->on_msg != NULL) msg_ready(call);
    }
  }
  return 0;
}

/* The answer is complete (END_STREAM arrived): its status. */
static void complete_from_answer(gw_upstream_pending *call) {
  if (call->state == CALL_FINISHED) return;
  up_conn *c = call->conn;
  if (c != NULL && call->send_off < PREFIX + call->len) {
    /* answered before our message was all sent: stop sending it */
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
    conn_flush(c);
  }
  char msg[96];
  if (call->http_status != 200) {
    snprintf(msg, sizeof msg, "upstream answered HTTP status %d", call->http_status);
    finish(call, status_from_http(call->http_status), msg);
  } else if (call->grpc_status < 0) {
    finish(call, GRPC_STATUS_UNKNOWN, "upstream answer has no grpc-status");
  } else if (call->grpc_status != GRPC_STATUS_OK) {
    finish(call, (grpc_status_code)call->grpc_status, NULL);
  } else if (call->n_msgs == 0 && call->on_msg == NULL) {
    finish(call, GRPC_STATUS_INTERNAL, "no message in a unary answer");
  } else if (call->in_body || call->rprefix_got != 0) {
    finish(call, GRPC_STATUS_INTERNAL, "the answer's message was cut short");
  } else {
    finish(call, GRPC_STATUS_OK, NULL);
  }
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
  up_conn *c = user;
  gw_upstream_client *up = c->up;
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS: {
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) || c->dead) break;
      uint32_t m = nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
      uint32_t cap = (uint32_t)up->o.max_streams_per_connection;
      c->max_streams = m < cap ? m : cap;
      if (c->state == CONN_CONNECTING) {
        conn_set_state(c, CONN_READY);
        c->ready_since_ms = now_ms();
        c->last_recv_ms = c->ready_since_ms;
        event_del(c->timer);
        c->addr->down = 0;
      }
      kick(up); /* new streams may be free */
      break;
    }
    case NGHTTP2_GOAWAY:
      up->goaways++;
      /* streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM: retried */
      if (c->state == CONN_READY || c->state == CONN_CONNECTING) conn_set_state(c, CONN_DRAINING);
      if (c->n_calls == 0) {
        c->graceful = 1;
        conn_close_later(c, "GOAWAY");
      }
      kick(up); /* a replacement connection */
      break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        gw_upstream_pending *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        if (call == NULL || call->state == CALL_FINISHED) break;
        call->end_stream = 1;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE)
          call->trailers_only = 1;
        complete_from_answer(call);
      }
      break;
    default: break;
  }
  return 0;
}

static int h2_on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user) {
  up_conn *c = user;
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)
    c->pings_without_data = 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    gw_upstream_pending *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (call != NULL) call->headers_sent = 1;
  }
  return 0;
}

/* The request call left the stream: what happens to it. Inside nghttp2. */
static void stream_gone(up_conn *c, gw_upstream_pending *call, uint32_t code, int never_sent) {
  gw_upstream_client *up = c->up;
  conn_detach(call);
  if (call->state == CALL_FINISHED) {
    call_maybe_free(call);
    return;
  }
  /* REFUSED_STREAM (a RST_STREAM, or above a GOAWAY's last stream id) promises the
   * server did not process it; not sent at all is as good */
  if ((code == NGHTTP2_REFUSED_STREAM || never_sent) && !call->retried) {
    call->retried = 1;
    up->retries++;
    queue_push(up, call, 1);
    kick(up);
    return;
  }
  char msg[160];
  /* as gRPC core reads it: a CANCEL once the deadline has come is the server's own
   * deadline (ours and its differ by the trip and the rounding of grpc-timeout) */
  if (code == NGHTTP2_CANCEL && call->deadline_ms != 0 && now_ms() >= call->deadline_ms - 20) {
    call_abort(call, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
    return;
  }
  if (never_sent || code == NGHTTP2_REFUSED_STREAM)
    snprintf(msg, sizeof msg, "%s refused the call", c->addr->text);
  else
    snprintf(msg, sizeof msg, "stream reset by %s (HTTP/2 error %u)", c->addr->text, code);
  finish(call, never_sent ? GRPC_STATUS_UNAVAILABLE : status_from_rst(code), msg);
}

static int h2_on_frame_not_send(nghttp2_session *s, const nghttp2_frame *frame, int err,
                                void *user) {
  (void)err;
  up_conn *c = user;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  gw_upstream_pending *call = stream_call(c, frame->hd.stream_id);
  if (call == NULL || call->conn != c) return 0;
  /* newer nghttp2 also closes the stream it opened for these HEADERS: it must not find
   * the call there again */
  nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, NULL);
  stream_gone(c, call, NGHTTP2_REFUSED_STREAM, 1);
  return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *user) {
  up_conn *c = user;
  gw_upstream_pending *call = nghttp2_session_get_stream_user_data(s, stream_id);
  if (call == NULL || call->conn != c) return 0;
  stream_gone(c, call, code, 0);
  return 0;
}

/* ---- connections: opening ------------------------------------------------------- */

static int conn_session(up_conn *c) {
  gw_upstream_client *up = c->up;
  if (nghttp2_session_client_new2(&c->h2, up->cbs, c, up->h2opt) != 0) return -1;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)up->o.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)up->o.max_header_bytes + 1024},
  };
  if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
    return -1;
  if (nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, up->o.connection_window) !=
      0)
    return -1;
  return 0;
}

static struct bufferevent *conn_bev(up_conn *c) {
  gw_upstream_client *up = c->up;
  if (!up->tls) return bufferevent_socket_new(up->base, -1, BEV_OPT_CLOSE_ON_FREE);
  SSL *ssl = SSL_new(up->o.ssl_ctx);
  if (ssl == NULL) return NULL;
  static const unsigned char alpn[] = {2, 'h', '2'};
  int ok = SSL_set_alpn_protos(ssl, alpn, sizeof alpn) == 0; /* 0 is success here */
  int named = up->server_name[0] != '\0'; /* a name set by configuration wins */
  const char *name = named ? up->server_name : up->host_numeric ? c->addr->ip : up->host;
  if (ok && (named || !up->host_numeric)) ok = SSL_set_tlsext_host_name(ssl, name) == 1;
  if (ok && (SSL_CTX_get_verify_mode(up->o.ssl_ctx) & SSL_VERIFY_PEER)) {
    if (!named && up->host_numeric)
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
    else
      ok = SSL_set1_host(ssl, name) == 1;
  }
  if (!ok) {
    SSL_free(ssl);
    return NULL;
  }
  struct bufferevent *bev = bufferevent_openssl_socket_new(
      up->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
  if (bev == NULL) {
    SSL_free(ssl);
    return NULL;
  }
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

/* Starts a connection to a. NULL without memory (then the address counts as failed). */
static up_conn *conn_open(up_addr *a) {
  gw_upstream_client *up = a->up;
  up_conn *c = calloc(1, sizeof *c);
  if (c == NULL) goto fail;
  c->up = up;
  c->addr = a;
  c->state = CONN_CLOSED;
  c->timer = evtimer_new(up->base, on_conn_timer, c);
  if (c->timer == NULL) goto fail_c;
  if (conn_session(c) != 0) goto fail_timer;
  c->bev = conn_bev(c);
  if (c->bev == NULL) goto fail_h2;
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  bufferevent_setwatermark(c->bev, EV_WRITE, OUT_HIGH / 2, 0);
  bufferevent_set_max_single_read(c->bev, 64 * 1024);
  c->next = a->conns;
  if (a->conns != NULL) a->conns->prev = c;
  a->conns = c;
  a->n_conns++;
  conn_set_state(c, CONN_CONNECTING);
  up->connects++;
  struct timeval tv = {up->o.connect_timeout_ms / 1000, (up->o.connect_timeout_ms % 1000) * 1000};
  event_add(c->timer, &tv);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  /* a refusal on the spot is reported later through on_event; -1 means no socket */
  if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&a->sa, (int)a->salen) != 0)
    conn_close_later(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
  return c;
fail_h2:
  nghttp2_session_del(c->h2);
fail_timer:
  event_free(c->timer);
fail_c:
  free(c);
fail:
  addr_fail(a, "out of memory");
  return NULL;
}

/* ---- dispatch -------------------------------------------------------------------- */

/* The next connection with a free stream, round robin over the addresses; opens
 * another connection to an address whose connections are all full. */
static up_conn *pick_conn(gw_upstream_client *up) {
  size_t n = up->n_addrs;
  for (size_t i = 0; i < n; i++) {
    up_addr *a = up->addrs[(up->rr + i) % n];
    if (a->n_ready == 0) continue;
    up_conn *best = NULL;
    for (up_conn *c = a->conns; c != NULL; c = c->next)
      if (c->state == CONN_READY && !c->dead && c->n_calls < c->max_streams &&
          (best == NULL || c->n_calls < best->n_calls))
        best = c;
    if (best != NULL) {
      up->rr = (up->rr + i + 1) % n;
      return best;
    }
    if (a->n_conns < up->o.max_connections_per_address && a->n_connecting == 0) conn_open(a);
  }
  return NULL;
}

/* Puts the call on a stream of c. Returns 0, or -1 when c can take no new stream. */
static int submit(up_conn *c, gw_upstream_pending *call) {
  gw_upstream_client *up = c->up;
  nghttp2_nv *nv = call->nv;
  size_t n = 0;
#define NV(k, v, vl)                                                          \
  nv[n++] = (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), sizeof(k) - 1, (vl), \
                         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE}
  NV(":method", "POST", 4);
  NV(":scheme", up->tls ? "https" : "http", up->tls ? 5 : 4);
  NV(":path", call->path, call->path_len);
  NV(":authority", up->authority, strlen(up->authority));
  NV("te", "trailers", 8);
  NV("content-type", "application/grpc", 16);
  NV("user-agent", USER_AGENT, sizeof USER_AGENT - 1);
  if (call->deadline_ms != 0) {
    /* what is left now, not what was asked: the call may have waited in the queue */
    grpc_timeout_text(call->deadline_ms - now_ms(), call->timeout_text, sizeof call->timeout_text);
    NV("grpc-timeout", call->timeout_text, strlen(call->timeout_text));
  }
#undef NV
  memcpy(nv + n, call->md_nv, call->nmd * sizeof *nv);
  n += call->nmd;
  nghttp2_data_provider prd;
  prd.source.ptr = call;
  prd.read_callback = h2_read_body;
  call->send_off = 0;
  call->headers_sent = 0;
  int32_t id = nghttp2_submit_request(c->h2, NULL, nv, n, &prd, call);
  if (id < 0) {
    /* stream ids used up (or no memory): this connection takes no more */
    if (c->state == CONN_READY) conn_set_state(c, CONN_DRAINING);
    if (c->n_calls == 0) {
      c->graceful = 1;
      conn_close_later(c, "no more stream ids");
    }
    return -1;
  }
  call->stream_id = id;
  conn_attach(c, call);
  conn_flush(c);
  return 0;
}

static void dispatch(gw_upstream_client *up) {
  while (up->q_head != NULL && !up->freeing) {
    up_conn *c = pick_conn(up);
    if (c == NULL) return;
    gw_upstream_pending *call = up->q_head;
    queue_remove(up, call);
    if (submit(c, call) != 0) queue_push(up, call, 1);
  }
}

static gw_upstream_result result_of(gw_upstream_pending *call, gw_upstream_header *hs,
                                    gw_upstream_header *ts) {
  gw_upstream_result r;
  memset(&r, 0, sizeof r);
  r.status = call->status;
  r.message = call->own_msg ? call->errmsg : call->msg_off >= 0 ? call->hbuf + call->msg_off : "";
  if (call->status == GRPC_STATUS_OK && call->rbuf != NULL) {
    r.data = call->rbuf + PREFIX;
    r.len = call->rlen;
  }
  for (size_t i = 0; i < call->nents; i++) {
    const struct hdr_ent *e = &call->ents[i];
    gw_upstream_header h = {call->hbuf + e->name_off, call->hbuf + e->value_off, e->value_len};
    if (e->trailer || call->trailers_only)
      ts[r.n_trailers++] = h;
    else
      hs[r.n_headers++] = h;
  }
  r.headers = hs;
  r.trailers = ts;
  r.http_status = call->http_status;
  r.call = call;
  return r;
}

/* Hands a streamed call's queued messages to its caller, in order, until none is left
 * or the caller cancels. */
static void deliver_msgs(gw_upstream_pending *call) {
  while (call->mq_head != NULL && !call->user_done) {
    struct up_msg *m = call->mq_head;
    call->mq_head = m->next;
    if (call->mq_head == NULL) call->mq_tail = NULL;
    uint8_t *frame = m->frame;
    size_t len = m->len;
    free(m);
    if (call->user_cancelled) {
      free(frame);
      continue;
    }
    call->on_msg(call->arg, call, frame, len);
  }
}

static void run_msgs(gw_upstream_client *up) {
  gw_upstream_pending *call;
  while ((call = up->ready_head) != NULL) {
    up->ready_head = call->ready_next;
    if (up->ready_head == NULL) up->ready_tail = NULL;
    call->in_ready = 0;
    deliver_msgs(call);
    call_maybe_free(call);
  }
}

static void run_done(gw_upstream_client *up) {
  gw_upstream_pending *call;
  while ((call = up->done_head) != NULL) {
    up->done_head = call->done_next;
    if (up->done_head == NULL) up->done_tail = NULL;
    call->in_done_list = 0;
    /* every message comes before the end */
    if (call->on_msg != NULL) deliver_msgs(call);
    gw_upstream_header hs[MAX_ANSWER_HEADERS], ts[MAX_ANSWER_HEADERS];
    gw_upstream_result r = result_of(call, hs, ts);
    call->done(call->arg, &r);
    call->user_done = 1;
    free(call->rbuf);
    call->rbuf = NULL;
    call_maybe_free(call);
  }
}

static void on_work(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_upstream_client *up = arg;
  if (!up->freeing) {
    for (size_t i = 0; i < up->n_addrs; i++) addr_ensure(up->addrs[i]);
    if (all_down(up)) {
      char msg[256];
      snprintf(msg, sizeof msg, "upstream unavailable: %s",
               up->last_error[0] != '\0' ? up->last_error : "no address");
      while (up->q_head != NULL) {
        gw_upstream_pending *call = up->q_head;
        queue_remove(up, call);
        finish(call, GRPC_STATUS_UNAVAILABLE, msg);
      }
    } else {
      dispatch(up);
    }
  }
  run_msgs(up);
  run_done(up);
}

static void kick(gw_upstream_client *up) { event_active(up->work_ev, EV_READ, 0); }

/* Keepalive, as gRPC core's client does it: a connection with calls on it that has
 * heard nothing for keepalive_ms sends a PING, and one that hears nothing more within
 * keepalive_timeout_ms is dead (a host gone without a word never resets the TCP
 * connection; without this its calls would wait for their deadlines). gRPC servers
 * answer more than two PINGs between the client's HEADERS or DATA, or any on an idle
 * connection, with GOAWAY "too many pings": so none on an idle connection, and at most
 * MAX_PINGS_WITHOUT_DATA between frames we send (TCP_USER_TIMEOUT covers the rest). */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_upstream_client *up = arg;
  int64_t now = now_ms();
  for (size_t i = 0; i < up->n_addrs; i++)
    for (up_conn *c = up->addrs[i]->conns; c != NULL; c = c->next) {
      if (c->dead || c->ready_since_ms == 0) continue;
      if (c->ping_sent_ms != 0) {
        if (now - c->ping_sent_ms >= up->o.keepalive_timeout_ms) {
          up->pings_unanswered++;
          conn_close_later(c, "no answer to a keepalive PING");
        }
      } else if (c->n_calls > 0 && c->pings_without_data < MAX_PINGS_WITHOUT_DATA &&
                 now - c->last_recv_ms >= up->o.keepalive_ms) {
        if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL) == 0) {
          c->ping_sent_ms = now;
          c->pings_without_data++;
          up->pings_sent++;
          conn_flush(c);
        }
      }
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_upstream_pending *call = arg;
  call_abort(call, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
}

/* ---- resolution ----------------------------------------------------------------- */

static void resolver_unref(resolver *r) {
  pthread_mutex_lock(&r->mu);
  int last = --r->refs == 0;
  pthread_mutex_unlock(&r->mu);
  if (!last) return;
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

static void deadline_in(struct timespec *ts, long ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (ms % 1000) * 1000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

/* Looks the name up when asked (at most once a second) or every interval; blocking
 * lookups are why it is a thread. */
static void *resolver_main(void *arg) {
  resolver *r = arg;
  int64_t last = 0;
  pthread_mutex_lock(&r->mu);
  while (!r->stop) {
    int64_t now = now_ms();
    if (!r->want && last != 0 && now - last >= r->interval_ms) r->want = 1;
    long wait = 0;
    if (!r->want)
      wait = (long)(last + r->interval_ms - now);
    else if (last != 0 && now - last < RESOLVE_GAP_MS)
      wait = (long)(last + RESOLVE_GAP_MS - now);
    if (wait > 0) {
      struct timespec until;
      deadline_in(&until, wait);
      pthread_cond_timedwait(&r->cv, &r->mu, &until);
      continue;
    }
    r->want = 0;
    pthread_mutex_unlock(&r->mu);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(r->host, r->port, &hints, &res);
    struct sockaddr_storage found[MAX_ADDRS];
    socklen_t lens[MAX_ADDRS];
    size_t n = 0;
    for (struct addrinfo *ai = res; rc == 0 && ai != NULL && n < MAX_ADDRS; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      if (ai->ai_addrlen > sizeof found[0]) continue;
      int dup = 0;
      for (size_t i = 0; i < n && !dup; i++)
        dup = lens[i] == ai->ai_addrlen && memcmp(&found[i], ai->ai_addr, ai->ai_addrlen) == 0;
      if (dup) continue;
      memset(&found[n], 0, sizeof found[n]);
      memcpy(&found[n], ai->ai_addr, ai->ai_addrlen);
      lens[n++] = ai->ai_addrlen;
    }
    if (res != NULL) freeaddrinfo(res);
    last = now_ms();
    pthread_mutex_lock(&r->mu);
    memcpy(r->found, found, n * sizeof found[0]);
    memcpy(r->lens, lens, n * sizeof lens[0]);
    r->n_found = n;
    r->gai_err = n == 0 ? (rc != 0 ? rc : EAI_NONAME) : 0;
    r->fresh = 1;
    if (r->notify != NULL) event_active(r->notify, EV_READ, 0);
  }
  pthread_mutex_unlock(&r->mu);
  resolver_unref(r);
  return NULL;
}

static void resolver_kick(gw_upstream_client *up) {
  if (up->res == NULL) return;
  pthread_mutex_lock(&up->res->mu);
  up->res->want = 1;
  pthread_cond_signal(&up->res->cv);
  pthread_mutex_unlock(&up->res->mu);
}

static int same_sockaddr(const up_addr *a, const struct sockaddr_storage *s, socklen_t len) {
  return a->salen == len && memcmp(&a->sa, s, len) == 0;
}

/* Makes the address list what the lookup found: kept addresses keep their
 * connections, new ones start connecting, gone ones drain. */
static void apply_addrs(gw_upstream_client *up, const struct sockaddr_storage *found,
                        const socklen_t *lens, size_t n) {
  up_addr **next = calloc(n, sizeof *next);
  if (next == NULL) return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    up_addr *a = NULL;
    for (size_t j = 0; j < up->n_addrs && a == NULL; j++)
      if (up->addrs[j] != NULL && same_sockaddr(up->addrs[j], &found[i], lens[i])) {
        a = up->addrs[j];
        up->addrs[j] = NULL;
      }
    if (a == NULL) a = addr_new(up, (const struct sockaddr *)&found[i], lens[i]);
    if (a != NULL) next[k++] = a;
  }
  for (size_t j = 0; j < up->n_addrs; j++) {
    up_addr *a = up->addrs[j];
    if (a == NULL) continue;
    a->retiring = 1;
    event_del(a->retry);
    for (up_conn *c = a->conns; c != NULL; c = c->next) {
      if (c->state == CONN_READY || c->state == CONN_CONNECTING) conn_set_state(c, CONN_DRAINING);
      if (c->n_calls == 0) {
        c->graceful = 1;
        conn_close_later(c, "address no longer resolved");
      }
    }
    if (a->n_conns == 0) {
      event_free(a->retry);
      free(a);
    } else {
      a->next_retiring = up->retiring;
      up->retiring = a;
    }
  }
  free(up->addrs);
  up->addrs = next;
  up->n_addrs = k;
  if (up->rr >= k) up->rr = 0;
}

static void on_resolved(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_upstream_client *up = arg;
  resolver *r = up->res;
  struct sockaddr_storage found[MAX_ADDRS];
  socklen_t lens[MAX_ADDRS];
  pthread_mutex_lock(&r->mu);
  size_t n = r->n_found;
  int err = r->gai_err, fresh = r->fresh;
  memcpy(found, r->found, n * sizeof found[0]);
  memcpy(lens, r->lens, n * sizeof lens[0]);
  r->fresh = 0;
  pthread_mutex_unlock(&r->mu);
  if (!fresh || up->freeing) return;
  if (n > 0) {
    apply_addrs(up, found, lens, n);
  } else {
    /* a failed lookup keeps the addresses we had */
    snprintf(up->last_error, sizeof up->last_error, "cannot resolve %.100s: %s", r->host,
             gai_strerror(err));
  }
  up->resolved = 1;
  kick(up);
}

/* ---- targets -------------------------------------------------------------------- */

/* Splits "host:port" or "[v6]:port" (port 443 when absent, as gRPC does). */
static int split_host_port(const char *s, char *host, size_t hsize, int *port) {
  const char *h = s, *p = NULL;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL) return YW_EINVAL;
    h = s + 1;
    hlen = (size_t)(close - h);
    if (close[1] == ':')
      p = close + 2;
    else if (close[1] != '\0')
      return YW_EINVAL;
  } else {
    const char *colon = strchr(s, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL) return YW_EINVAL; /* bare v6 */
    hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (colon != NULL) p = colon + 1;
  }
  if (hlen == 0 || hlen >= hsize) return YW_EINVAL;
  long v = 443;
  if (p != NULL) {
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 5 || p[nd] != '\0') return YW_EINVAL;
    v = 0;
    for (size_t i = 0; i < nd; i++) v = v * 10 + (p[i] - '0');
    if (v < 1 || v > 65535) return YW_EINVAL;
  }
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = (int)v;
  return 0;
}

/* A numeric host into a socket address; 0 when it is one. */
static int numeric_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof *s4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *len = sizeof *s6;
    return 0;
  }
  return -1;
}

/* Reads the target into numeric addresses, or a host name for the resolver. */
static int parse_target(gw_upstream_client *up, const char *target, struct sockaddr_storage *found,
                        socklen_t *lens, size_t *n, int *port, char *first, size_t first_size) {
  *n = 0;
  int family = 0;
  const char *rest = target;
  if (strncmp(target, "ipv4:", 5) == 0) {
    family = AF_INET;
    rest = target + 5;
  } else if (strncmp(target, "ipv6:", 5) == 0) {
    family = AF_INET6;
    rest = target + 5;
  }
  if (family != 0) {
    /* "a:p,b:p": every entry numeric, of the family named */
    while (*rest != '\0') {
      const char *comma = strchr(rest, ',');
      size_t elen = comma != NULL ? (size_t)(comma - rest) : strlen(rest);
      char entry[128], host[INET6_ADDRSTRLEN + 2];
      if (elen == 0 || elen >= sizeof entry || *n == MAX_ADDRS) return YW_EINVAL;
      memcpy(entry, rest, elen);
      entry[elen] = '\0';
      int p;
      if (split_host_port(entry, host, sizeof host, &p) != 0) return YW_EINVAL;
      if (numeric_addr(host, p, &found[*n], &lens[*n]) != 0 || found[*n].ss_family != family)
        return YW_EINVAL;
      if (*n == 0) snprintf(first, first_size, "%s", entry);
      (*n)++;
      rest = comma != NULL ? comma + 1 : rest + elen;
    }
    if (*n == 0) return YW_EINVAL;
    up->host_numeric = 1;
    return 0;
  }
  if (strncmp(rest, "dns:", 4) == 0) {
    rest += 4;
    if (strncmp(rest, "//", 2) == 0) { /* dns://[authority]/host:port */
      const char *slash = strchr(rest + 2, '/');
      if (slash == NULL) return YW_EINVAL;
      rest = slash + 1;
    }
  }
  if (split_host_port(rest, up->host, sizeof up->host, port) != 0) return YW_EINVAL;
  snprintf(first, first_size, "%s", rest);
  if (numeric_addr(up->host, *port, &found[0], &lens[0]) == 0) {
    *n = 1;
    up->host_numeric = 1;
  }
  return 0;
}

/* ---- public ---------------------------------------------------------------------- */

static void opts_defaults(gw_upstream_opts *o) {
  if (o->connections_per_address <= 0) o->connections_per_address = 1;
  if (o->max_connections_per_address <= 0) o->max_connections_per_address = 4;
  if (o->max_connections_per_address < o->connections_per_address)
    o->max_connections_per_address = o->connections_per_address;
  if (o->max_streams_per_connection <= 0) o->max_streams_per_connection = 1000;
  if (o->max_message == 0) o->max_message = (size_t)4 << 20;
  if (o->max_header_bytes == 0) o->max_header_bytes = 16384;
  if (o->max_queued <= 0) o->max_queued = 10000;
  if (o->connect_timeout_ms <= 0) o->connect_timeout_ms = 2000;
  if (o->backoff_base_ms <= 0) o->backoff_base_ms = 100;
  if (o->backoff_max_ms <= 0) o->backoff_max_ms = 5000;
  if (o->backoff_max_ms < o->backoff_base_ms) o->backoff_max_ms = o->backoff_base_ms;
  if (o->resolve_interval_ms <= 0) o->resolve_interval_ms = 30000;
  if (o->stream_window <= 0) o->stream_window = 1 << 20;
  if (o->connection_window <= 0) o->connection_window = 16 << 20;
  if (o->keepalive_ms == 0) o->keepalive_ms = 30000;
  if (o->keepalive_timeout_ms <= 0) o->keepalive_timeout_ms = 20000;
}

static int make_callbacks(gw_upstream_client *up) {
  if (nghttp2_session_callbacks_new(&up->cbs) != 0) return -1;
  nghttp2_session_callbacks_set_send_callback(up->cbs, h2_send);
  nghttp2_session_callbacks_set_send_data_callback(up->cbs, h2_send_data);
  nghttp2_session_callbacks_set_on_header_callback(up->cbs, h2_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(up->cbs, h2_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(up->cbs, h2_on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(up->cbs, h2_on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(up->cbs, h2_on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(up->cbs, h2_on_stream_close);
  if (nghttp2_option_new(&up->h2opt) != 0) return -1;
  nghttp2_option_set_max_settings(up->h2opt, 32);
  /* windows are given back by h2_on_data (unary) and gw_upstream_stream_ack (streams) */
  nghttp2_option_set_no_auto_window_update(up->h2opt, 1);
  return 0;
}

int gw_upstream_new(struct event_base *base, const char *target, const gw_upstream_opts *opts,
                    gw_upstream_client **out) {
  *out = NULL;
  if (base == NULL || target == NULL) return YW_EINVAL;
  gw_upstream_client *up = calloc(1, sizeof *up);
  if (up == NULL) return YW_ENOMEM;
  int rc = YW_ENOMEM;
  up->base = base;
  if (opts != NULL) up->o = *opts;
  opts_defaults(&up->o);
  if (up->o.stream_window > 0x7fffffff || up->o.max_header_bytes > (1u << 24)) {
    rc = YW_EINVAL;
    goto fail;
  }
  up->tls = up->o.ssl_ctx != NULL;
  up->rnd = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)up;
  if (up->rnd == 0) up->rnd = 1;
  struct sockaddr_storage found[MAX_ADDRS];
  socklen_t lens[MAX_ADDRS];
  size_t n = 0;
  int port = 0;
  char first[300];
  if (parse_target(up, target, found, lens, &n, &port, first, sizeof first) != 0) {
    rc = YW_EINVAL;
    goto fail;
  }
  up->authority = strdup(up->o.authority != NULL ? up->o.authority : first);
  up->o.authority = NULL;
  if (up->o.server_name != NULL) {
    if (strlen(up->o.server_name) >= sizeof up->server_name) {
      rc = YW_EINVAL;
      goto fail;
    }
    snprintf(up->server_name, sizeof up->server_name, "%s", up->o.server_name);
  }
  up->o.server_name = NULL;
  if (up->authority == NULL) goto fail;
  if (make_callbacks(up) != 0) goto fail;
  up->work_ev = event_new(base, -1, 0, on_work, up);
  if (up->work_ev == NULL) {
    rc = YW_EIO;
    goto fail;
  }
  if (up->o.keepalive_ms > 0) {
    up->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, up);
    if (up->tick_ev == NULL) {
      rc = YW_EIO;
      goto fail;
    }
    long every = up->o.keepalive_ms < up->o.keepalive_timeout_ms ? up->o.keepalive_ms
                                                                 : up->o.keepalive_timeout_ms;
    every = every / 4 < 1000 ? every / 4 : 1000;
    if (every < 5) every = 5;
    struct timeval tv = {every / 1000, (every % 1000) * 1000};
    event_add(up->tick_ev, &tv);
  }
  if (n > 0) {
    apply_addrs(up, found, lens, n);
    if (up->n_addrs != n) goto fail;
    up->resolved = 1;
  } else {
    up->res_ev = event_new(base, -1, 0, on_resolved, up);
    resolver *r = calloc(1, sizeof *r);
    if (up->res_ev == NULL || r == NULL) {
      free(r);
      rc = YW_EIO;
      goto fail;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->refs = 2; /* the client's and the thread's */
    r->want = 1;
    r->notify = up->res_ev;
    r->interval_ms = up->o.resolve_interval_ms;
    snprintf(r->host, sizeof r->host, "%s", up->host);
    snprintf(r->port, sizeof r->port, "%d", port);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int prc = pthread_create(&t, &attr, resolver_main, r);
    pthread_attr_destroy(&attr);
    if (prc != 0) {
      pthread_mutex_destroy(&r->mu);
      pthread_cond_destroy(&r->cv);
      free(r);
      rc = YW_EIO;
      goto fail;
    }
    up->res = r;
  }
  kick(up); /* connect */
  *out = up;
  return 0;
fail:
  gw_upstream_free(up);
  return rc;
}

void gw_upstream_free(gw_upstream_client *up) {
  if (up == NULL) return;
  up->freeing = 1;
  if (up->res != NULL) {
    pthread_mutex_lock(&up->res->mu);
    up->res->stop = 1;
    up->res->notify = NULL; /* the thread may still be in getaddrinfo: it must not wake us */
    pthread_cond_signal(&up->res->cv);
    pthread_mutex_unlock(&up->res->mu);
    resolver_unref(up->res);
    up->res = NULL;
  }
  while (up->q_head != NULL) {
    gw_upstream_pending *call = up->q_head;
    queue_remove(up, call);
    finish(call, GRPC_STATUS_CANCELLED, "the upstream client is closing");
  }
  /* every call on a stream ends, then the connections go (which frees the ended calls
   * whose callbacks have already run) */
  for (up_addr *a = up->retiring; a != NULL; a = a->next_retiring) a->retiring = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i <= up->n_addrs; i++) {
      up_addr *a = i < up->n_addrs ? up->addrs[i] : up->retiring;
      for (; a != NULL; a = i < up->n_addrs ? NULL : a->next_retiring) {
        if (pass == 0) {
          for (up_conn *c = a->conns; c != NULL; c = c->next)
            for (gw_upstream_pending *call = c->calls; call != NULL; call = call->next)
              finish(call, GRPC_STATUS_CANCELLED, "the upstream client is closing");
        } else {
          while (a->conns != NULL) conn_close(a->conns, "client closing");
        }
      }
    }
  }
  run_done(up);
  for (size_t i = 0; i < up->n_addrs; i++) {
    event_free(up->addrs[i]->retry);
    free(up->addrs[i]);
  }
  while (up->retiring != NULL) {
    up_addr *a = up->retiring;
    up->retiring = a->next_retiring;
    event_free(a->retry);
    free(a);
  }
  free(up->addrs);
  if (up->res_ev != NULL) event_free(up->res_ev);
  if (up->work_ev != NULL) event_free(up->work_ev);
  if (up->tick_ev != NULL) event_free(up->tick_ev);
  if (up->cbs != NULL) nghttp2_session_callbacks_del(up->cbs);
  if (up->h2opt != NULL) nghttp2_option_del(up->h2opt);
  free(up->authority);
  free(up);
}

/* gRPC's legal metadata keys: lower-case letters, digits, '-', '_', '.'. */
static int key_ok(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 255) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return 0;
  }
  /* what we set ourselves, what HTTP/2 forbids, and gRPC's reserved names */
  static const char *const reserved[] = {
      "content-type", "te",         "user-agent",       "host",
      "connection",   "keep-alive", "proxy-connection", "transfer-encoding",
      "upgrade"};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcmp(k, reserved[i]) == 0) return 0;
  return strncmp(k, "grpc-", 5) != 0;
}

static int value_ok(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) return 0;
  return 1;
}

static int call_start(gw_upstream_client *up, const char *method_path, const uint8_t *msg,
                      size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                      gw_upstream_msg_fn on_msg, gw_upstream_done_fn done, void *arg,
                      gw_upstream_pending **handle) {
  if (handle != NULL) *handle = NULL;
  if (up == NULL || method_path == NULL || done == NULL || (msg == NULL && len > 0))
    return YW_EINVAL;
  if (up->freeing) return YW_ECANCELED;
  size_t path_len = strlen(method_path);
  if (path_len < 2 || path_len > MAX_PATH || method_path[0] != '/' ||
      !value_ok(method_path, path_len) || len > 0xffffffffu || nmd > MAX_MD)
    return YW_EINVAL;
  size_t bytes = path_len + 1;
  size_t vlens[MAX_MD];
  for (size_t i = 0; i < nmd; i++) {
    if (md[i].key == NULL || md[i].value == NULL || !key_ok(md[i].key)) return YW_EINVAL;
    vlens[i] = md[i].value_len != 0 ? md[i].value_len : strlen(md[i].value);
    if (!value_ok(md[i].value, vlens[i])) return YW_EINVAL;
    bytes += strlen(md[i].key) + 1 + vlens[i] + 1;
  }
  /* one allocation: the call, its header entries, then the strings they point to */
  size_t nv_bytes = (FIXED_NV + 2 * nmd) * sizeof(nghttp2_nv);
  gw_upstream_pending *call = calloc(1, sizeof *call + nv_bytes + bytes);
  if (call == NULL) return YW_ENOMEM;
  call->up = up;
  call->state = CALL_NEW;
  call->done = done;
  call->on_msg = on_msg;
  call->arg = arg;
  call->msg = msg;
  call->len = len;
  call->grpc_status = -1;
  call->msg_off = -1;
  call->prefix[0] = 0;
  call->prefix[1] = (uint8_t)(len >> 24);
  call->prefix[2] = (uint8_t)(len >> 16);
  call->prefix[3] = (uint8_t)(len >> 8);
  call->prefix[4] = (uint8_t)len;
  call->nv = (nghttp2_nv *)(call + 1);
  call->md_nv = call->nv + FIXED_NV + nmd;
  char *s = (char *)(call->md_nv + nmd);
  memcpy(s, method_path, path_len + 1);
  call->path = s;
  call->path_len = path_len;
  s += path_len + 1;
  for (size_t i = 0; i < nmd; i++) {
    size_t kl = strlen(md[i].key);
    memcpy(s, md[i].key, kl + 1);
    uint8_t *k = (uint8_t *)s;
    s += kl + 1;
    memcpy(s, md[i].value, vlens[i]);
    s[vlens[i]] = '\0';
    call->md_nv[i] = (nghttp2_nv){k, (uint8_t *)s, kl, vlens[i],
                                  NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    s += vlens[i] + 1;
  }
  call->nmd = nmd;
  if (timeout_ms > 0) {
    call->deadline_ms = now_ms() + timeout_ms;
    event_assign(&call->timer, up->base, -1, 0, on_deadline, call);
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)((timeout_ms % 1000) * 1000)};
    event_add(&call->timer, &tv);
    call->has_timer = 1;
  }
  if (handle != NULL) *handle = call;
  if (all_down(up)) {
    char m[256];
    snprintf(m, sizeof m, "upstream unavailable: %s",
             up->last_error[0] != '\0' ? up->last_error : "no address");
    finish(call, GRPC_STATUS_UNAVAILABLE, m);
  } else if (up->n_queued >= (size_t)up->o.max_queued) {
    finish(call, GRPC_STATUS_UNAVAILABLE, "too many calls wait for the upstream");
  } else {
    queue_push(up, call, 0);
    dispatch(up);
    if (call->state == CALL_QUEUED) kick(up); /* a connection may have to be opened */
  }
  return 0;
}

int gw_upstream_call(gw_upstream_client *up, const char *method_path, const uint8_t *msg,
                     size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                     gw_upstream_done_fn done, void *arg, gw_upstream_pending **handle) {
  return call_start(up, method_path, msg, len, md, nmd, timeout_ms, NULL, done, arg, handle);
}

int gw_upstream_stream(gw_upstream_client *up, const char *method_path, const uint8_t *msg,
                       size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                       gw_upstream_msg_fn on_msg, gw_upstream_done_fn done, void *arg,
                       gw_upstream_pending **handle) {
  if (on_msg == NULL) {
    if (handle != NULL) *handle = NULL;
    return YW_EINVAL;
  }
  return call_start(up, method_path, msg, len, md, nmd, timeout_ms, on_msg, done, arg, handle);
}

void gw_upstream_stream_ack(gw_upstream_pending *call, size_t bytes) {
  if (call == NULL || bytes == 0 || call->on_msg == NULL || call->state != CALL_ACTIVE) return;
  up_conn *c = call->conn;
  if (c == NULL || c->dead || call->stream_id <= 0) return;
  nghttp2_session_consume_stream(c->h2, call->stream_id, bytes);
  conn_flush(c);
}

void gw_upstream_cancel(gw_upstream_pending *call) {
  if (call == NULL) return;
  call->user_cancelled = 1;
  if (call->state == CALL_FINISHED) return;
  call_abort(call, GRPC_STATUS_CANCELLED, "cancelled by the caller");
}

uint8_t *gw_upstream_take_frame(const gw_upstream_result *result, size_t *len) {
  if (len != NULL) *len = 0;
  if (result == NULL || result->call == NULL) return NULL;
  gw_upstream_pending *call = result->call;
  if (call->status != GRPC_STATUS_OK || call->rbuf == NULL) return NULL;
  uint8_t *p = call->rbuf;
  call->rbuf = NULL;
  if (len != NULL) *len = PREFIX + call->rlen;
  return p;
}

int gw_upstream_ready(const gw_upstream_client *up) {
  for (size_t i = 0; i < up->n_addrs; i++)
    if (up->addrs[i]->n_ready > 0) return 1;
  return 0;
}

struct health {
  gw_upstream_health_fn fn;
  void *arg;
  size_t len;
  uint8_t req[];
};

/* HealthCheckResponse: field 1 (status, varint); SERVING is 1. */
static int health_serving(const uint8_t *p, size_t n) {
  size_t i = 0;
  int serving = 0;
  while (i < n) {
    uint64_t key = 0;
    for (int shift = 0; i < n && shift < 64; shift += 7) {
      key |= (uint64_t)(p[i] & 0x7f) << shift;
      if (!(p[i++] & 0x80)) break;
    }
    unsigned wt = (unsigned)(key & 7);
    uint64_t v = 0;
    if (wt == 0) {
      for (int shift = 0; i < n && shift < 64; shift += 7) {
        v |= (uint64_t)(p[i] & 0x7f) << shift;
        if (!(p[i++] & 0x80)) break;
      }
      if (key >> 3 == 1) serving = v == 1;
    } else if (wt == 2) {
      for (int shift = 0; i < n && shift < 64; shift += 7) {
        v |= (uint64_t)(p[i] & 0x7f) << shift;
        if (!(p[i++] & 0x80)) break;
      }
      if (v > n - i) return 0;
      i += (size_t)v;
    } else if (wt == 1) {
      i += 8;
    } else if (wt == 5) {
      i += 4;
    } else {
      return 0;
    }
  }
  return serving;
}

static void health_done(void *arg, const gw_upstream_result *r) {
  struct health *h = arg;
  int serving = r->status == GRPC_STATUS_OK && health_serving(r->data, r->len);
  h->fn(h->arg, serving, r->status);
  free(h);
}

int gw_upstream_health_check(gw_upstream_client *up, const char *service, int64_t timeout_ms,
                             gw_upstream_health_fn done, void *arg) {
  size_t sl = service != NULL ? strlen(service) : 0;
  if (done == NULL || sl > 127) return YW_EINVAL;
  struct health *h = malloc(sizeof *h + 2 + sl);
  if (h == NULL) return YW_ENOMEM;
  h->fn = done;
  h->arg = arg;
  h->len = 0;
  if (sl > 0) { /* HealthCheckRequest.service, field 1 */
    h->req[0] = 0x0a;
    h->req[1] = (uint8_t)sl;
    memcpy(h->req + 2, service, sl);
    h->len = 2 + sl;
  }
  int rc = gw_upstream_call(up, "/grpc.health.v1.Health/Check", h->req, h->len, NULL, 0, timeout_ms,
                            health_done, h, NULL);
  if (rc != 0) free(h);
  return rc;
}

void gw_upstream_get_stats(const gw_upstream_client *up, gw_upstream_stats *out) {
  memset(out, 0, sizeof *out);
  out->addresses = up->n_addrs;
  for (size_t i = 0; i < up->n_addrs; i++) {
    const up_addr *a = up->addrs[i];
    if (a->down && a->n_ready == 0) out->addresses_down++;
    out->connections += (size_t)a->n_conns;
    out->connections_ready += (size_t)a->n_ready;
  }
  for (const up_addr *a = up->retiring; a != NULL; a = a->next_retiring)
    out->connections += (size_t)a->n_conns;
  out->calls_active = up->n_active;
  out->calls_queued = up->n_queued;
  out->peak_streams = up->peak_streams;
  out->connects = up->connects;
  out->connect_failures = up->connect_failures;
  out->retries = up->retries;
  out->goaways = up->goaways;
  out->pings_sent = up->pings_sent;
  out->pings_unanswered = up->pings_unanswered;
}
