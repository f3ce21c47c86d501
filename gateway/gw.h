/*
 * gw.h - the gateway's internal interfaces between its parts:
 *
 *   gw_conn.c    listeners, TLS with ALPN, protocol detection, HTTP/1.1 (http-parser)
 *                and HTTP/2 (nghttp2) framing; turns bytes into gw_req, hands it to
 *                gw_request_start and sends what gw_conn_respond is given
 *   gw_request.c the request layer: the phase table (gw_phase.h), the response
 *                filters, the access log; the only entries the connection calls
 *   gw_handle.c  the phases kind, cors, builtin, route (JSON transcoding, gRPC and
 *                gRPC-Web pass-through) and upstream, and the answers' shapes
 *   gw_auth.c    the access phase: rate limits, session, the route's rule
 *   gw_main.c    configuration, workers, upstreams, health checks, signals
 *
 * Threads: each worker owns one libevent loop with its own listeners (SO_REUSEPORT),
 * its connections, their requests and its own HTTP/2 connections to the services
 * (gw_upstream.c): a call starts and ends on the loop, so no answer crosses threads.
 *
 * Request lifetime: a gw_req is referenced by its connection (until the stream closes
 * or the connection goes) and by an upstream call in flight; it is freed when both are
 * gone. req->conn is NULL once the client has gone, so a late answer is dropped.
 */
#ifndef GW_H
#define GW_H

#include <event2/event.h>
#include <grpc/status.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gw_net.h"
#include "gw_phase.h"
#include "gw_route.h"
#include "gw_upstream.h"
#include "yw_arena.h"
#include "yw_caller.h"
#include "yw_rpc.h"

#define GW_MAX_HEADERS 64
#define GW_MAX_RESP_HEADERS 24
#define GW_HEADER_BYTES 16384 /* all header names and values of one request */
#define GW_URL_BYTES 8192
#define GW_BODY_STREAM_BUF (256 * 1024) /* a streamed body held at once, at most */

typedef struct gw_worker gw_worker;
typedef struct gw_conn gw_conn;
typedef struct gw_req gw_req;

typedef struct gw_header {
  const char *name;  /* lower case */
  const char *value;
} gw_header;

typedef struct gw_config {
  char *listen;
  char *tls_listen;
  char *tls_cert;
  char *tls_key;
  char *cors_origins;     /* comma-separated allow-list; "*" allows any */
  char *redis_addr;
  char *log_level;
  long threads;
  long timeout_ms;        /* default upstream deadline */
  long max_body;          /* bytes */
  long max_streams;       /* concurrent HTTP/2 streams per connection */
  long idle_timeout_ms;   /* since the last complete request (or the connection's start) */
  long header_timeout_ms; /* a request head, or HTTP/2's preface and SETTINGS, must arrive in this */
  long max_connections;   /* open client connections of all workers together */
  long worker_connections; /* open client connections per worker; 0: only the total counts */
  long conn_buffer;       /* bytes a connection may hold in requests and unsent output */
  long drain_ms;          /* on SIGTERM, how long requests in flight may still run */
  long upstream_connections;
  char *caller_key;       /* 64 hex, shared with the services */
  char *metrics_from;     /* networks (CIDR, comma-separated) allowed to read /metrics */
  char *trusted_proxies;  /* networks of our own load balancers, whose X-Forwarded-For counts */
  char *redis_prefix;
  long rate_ip;           /* requests per second per client address */
  long burst_ip;
  long rate_subject;      /* requests per second per account */
  long burst_subject;
  long rate_lookup;       /* routes of GW_LIMIT_LOOKUP (gw_route.h): a minute, per client address */
  long burst_lookup;
  long lookup_miss_cost;  /* tokens a lookup the service answers NOT_FOUND costs in all */
  long redis_timeout_ms;  /* a Redis command's longest wait before the fallback answers */
  long redis_connect_timeout_ms;
  long redis_backoff_max_ms; /* longest pause between reconnection attempts */
  long sse_heartbeat_ms;  /* a comment on every open event stream this often */
  long sse_retry_ms;      /* the retry: hint an event stream starts with */
  long streams_per_caller; /* open streamed answers per caller, across gateway copies */
  long cache_bytes;       /* each worker's answer cache (gw_cache.h); 0: none */
  long cache_entries;
} gw_config;

/* A service the gateway calls, named in configuration: YW_UPSTREAM_<NAME>=target. */
typedef struct gw_upstream {
  char name[32];          /* "catalog": <NAME> in lower case; routes name it */
  const char *target;     /* "host:port" (the configuration's string) */
  volatile int healthy;   /* set from the first worker's loop (health checks) */
  /* bumped by every call through this gateway of a route not kept in the answer cache
   * (a write): answers kept from this upstream under an older value are stale */
  atomic_uint_fast64_t cache_gen;
} gw_upstream;

/* Process-wide state, read-only after start-up (except the atomics inside). */
typedef struct gw_state {
  gw_config cfg;
  gw_route_table routes;
  gw_upstream *upstreams; /* every configured upstream, in name order (malloc) */
  size_t n_upstreams;
  void *ssl_ctx;          /* SSL_CTX*, NULL without TLS */
  gw_net_list metrics_nets; /* cfg.metrics_from, parsed by gw_auth_init */
  gw_net_list trusted_nets; /* cfg.trusted_proxies, parsed by gw_auth_init */
  volatile int redis_ok;
  volatile int stopping;  /* set once the loops have ended */
  uint8_t caller_key[YW_KEY_BYTES];
  size_t slot_passthrough, slot_builtin, slot_unmatched; /* metric slots after the routes */
} gw_state;

extern gw_state gw;

struct gw_worker {
  struct event_base *base;
  pthread_t thread;
  gw_upstream_client **up; /* this loop's calls to gw.upstreams[i] (n_upstreams, malloc) */
  struct evconnlistener *listeners[2];
  int index;
  gw_conn *conns;         /* the worker's open connections */
  long n_conns;
  int draining;           /* SIGTERM: no more listeners; connections wind down */
  unsigned long refused;  /* connections refused over the caps, not yet logged */
  time_t refused_logged;
  void *redis;            /* gw_redis* on this loop (gw_redis.h) */
  void *lease;            /* gw_lease* of this loop: tokens taken ahead (gw_lease.h) */
  struct gw_cache *cache; /* this loop's kept answers (gw_cache.h), or NULL */
};

enum gw_kind { GW_KIND_JSON = 0, GW_KIND_GRPC, GW_KIND_GRPC_WEB, GW_KIND_GRPC_WEB_TEXT };

struct gw_req {
  gw_conn *conn;          /* NULL once the client is gone */
  gw_worker *worker;
  gw_req *conn_next, *conn_prev; /* the connection's live requests */
  int refs;
  int32_t stream_id;      /* HTTP/2 stream, 0 on HTTP/1.1 */
  int is_h2;
  yw_arena *arena;
  gw_phase_state phase;   /* where the request stands in the phases (gw_request.c) */

  /* request */
  const char *method;
  const char *path;       /* with the query string */
  gw_header headers[GW_MAX_HEADERS];
  size_t n_headers;
  char *hbuf;             /* GW_HEADER_BYTES, names and values, NUL-separated */
  size_t hlen;
  int header_overflow;
  uint8_t *body;
  size_t body_len, body_cap;
  int body_overflow;
  size_t h2_unacked;      /* body bytes kept whose stream window is not reopened yet */
  /* a body handed on as it arrives (gw_request_body_stream), for upload routes: the
   * connection keeps at most GW_BODY_STREAM_BUF bytes of it in body, reads on as the
   * request takes them (gw_conn_body_taken) and says when more came (gw_request_body_more) */
  int body_stream;
  int body_done;          /* body_stream: the whole body has arrived */
  size_t body_total;      /* body_stream: bytes of the body so far, taken or not */
  size_t body_limit;      /* body_stream: the body's own limit, in place of max_body */
  void (*body_wait)(gw_req *req, void *arg); /* the phase waiting for more of the body */
  void *body_wait_arg;

  /* what gw_handle decided */
  char peer_ip[64];
  yw_caller caller;       /* who is calling, once authorised */
  uint8_t *payload;       /* the packed request message for the upstream (arena) */
  size_t payload_len;
  enum gw_kind kind;
  const gw_route *route;
  const char *idem_key;   /* the Idempotency-Key forwarded (gw_idem.c), or NULL */
  size_t metric_slot;
  char request_id[72];
  const char *cors_origin; /* allowed Origin to echo, or NULL */
  const char *last_event_id; /* a streamed route's Last-Event-ID (header or lastEventId) */
  struct timespec start;
  int cache_fill;         /* a kept route missed: keep its 200 answer (gw_request.c); 2:
                           * this read refreshes a stale answer (gw_cache.h) */
  uint_fast64_t cache_gen; /* the upstream's cache_gen when it missed */

  /* answer */
  int responded;
  int status;
  gw_header resp_headers[GW_MAX_RESP_HEADERS];
  size_t n_resp_headers;
  uint8_t *resp_body;     /* arena */
  size_t resp_len, resp_off;
  gw_header trailers[12]; /* HTTP/2 gRPC trailers */
  size_t n_trailers;

  /* upstream result, copied on the client thread */
  grpc_status_code up_status;
  char *up_message;       /* malloc */
  uint8_t *up_data;       /* the answer message, inside up_frame */
  size_t up_len;
  char *up_trailers;      /* malloc: "key:value\r\n" lines of the upstream's custom trailers */
  char up_retry_after[16]; /* the upstream's retry-after trailer, "" when none */
  char up_reason[40];     /* the upstream's error-reason trailer (yw_err.h), "" when none */
  char *up_fields;        /* malloc: the upstream's error-fields trailer (yw_err.h), or NULL */
  int up_replayed;        /* the upstream answered a kept answer again (idempotent-replayed) */
  gw_upstream_pending *up_call; /* the upstream call in flight; dead once its callback runs */
  uint8_t *up_frame;      /* malloc: the answer's frame (prefix + message); up_data points in */

  /* a streamed answer (gw_sse.c's streams, gw_upload.c's downloads): the head, then
   * pieces as they come, then the end */
  int streaming;          /* set before the answer is sent: sent piece by piece */
  int stream_sized;       /* its length is known (stream_size): content-length, not chunked */
  uint64_t stream_size;
  int stream_ended;       /* gw_conn_stream_end was called (or the stream was cut) */
  struct evbuffer *stream_out; /* HTTP/2: written bytes nghttp2 has not taken yet */
  struct gw_stream *stream; /* the stream's state, owned by the request (gw_sse.c) */
  /* an upload route's upload (gw_upload.c): its files committed to the store, for the
   * service's answer to keep or give back (gw_upload_release); in the arena, NULL on
   * other routes. Its calls are not cancelled when the client leaves. */
  struct gw_upload *upload;
  /* the producer of the streamed answer: called when the connection holds less than its
   * low-water mark of it (the client has read), so it writes the next piece */
  void (*writable)(gw_req *req, void *arg);
  void *writable_arg;
};

/* ---- gw_conn.c ------------------------------------------------------------------- */

/* Opens the worker's listeners. Returns 0 or YW_EIO. */
int gw_worker_listen(gw_worker *w);
/* Closes the worker's listeners. */
void gw_worker_unlisten(gw_worker *w);
/* Graceful stop, on the worker's thread: closes the listeners, sends GOAWAY on HTTP/2,
 * answers HTTP/1.1 with connection: close, closes idle connections at once and the rest
 * once their requests are answered, or after gw.cfg.drain_ms. The worker's loop ends when
 * its last connection is gone. */
void gw_worker_drain(gw_worker *w);
/* Sends the answer of req (status, resp_headers, resp_body, trailers) on its
 * connection. Must run on the worker's thread. */
void gw_conn_respond(gw_req *req);
/* A streamed answer (req->streaming set before gw_conn_respond sent its head): appends
 * bytes (HTTP/1.1: one chunk, or the bytes as they are when req->stream_sized; HTTP/2:
 * DATA as the stream's window allows). A sized stream must be given exactly stream_size
 * bytes before gw_conn_stream_end. Returns 0,
 * YW_ECANCELED when the client is gone or the stream ended, YW_ENOMEM. The connection
 * may be gone when it returns (req->conn NULL). */
int gw_conn_stream_write(gw_req *req, const void *data, size_t len);
/* Bytes of req's stream still waiting for its client (HTTP/1.1: the connection's unsent
 * output; HTTP/2: what nghttp2 has not taken). The connection calls
 * req->writable(req, req->writable_arg) when it falls low again. */
size_t gw_conn_stream_pending(const gw_req *req);
/* Ends req's streamed answer: HTTP/1.1's last chunk (the connection then takes its next
 * request), HTTP/2's END_STREAM or req->trailers. */
void gw_conn_stream_end(gw_req *req);
/* Ends req's streamed answer short, when what it streams failed after its head went:
 * HTTP/1.1 closes the connection once its output is written (the client sees the body
 * end before its length, or without its last chunk), HTTP/2 resets the stream
 * (INTERNAL_ERROR). The connection may be gone when it returns. */
void gw_conn_stream_cut(gw_req *req);
/* A streamed body (req->body_stream): the request has used the first n bytes of
 * req->body; the connection drops them and reads on (HTTP/2: reopens the stream's
 * window by n; HTTP/1.1: parses more of the body). Worker's thread. */
void gw_conn_body_taken(gw_req *req, size_t n);
/* Adds a response header; name and value must live as long as req (arena or static). */
void gw_req_add_header(gw_req *req, const char *name, const char *value);
/* First request header named name (lower case), or NULL. */
const char *gw_req_header(const gw_req *req, const char *name);
void gw_req_unref(gw_req *req);

/* ---- gw_request.c: the request layer ---------------------------------------------- */

/* The connection has a complete request (or one it refuses: header_overflow,
 * body_overflow, no :method): runs its phases. The answer comes back through
 * gw_conn_respond, now or later on the same loop. Idempotent. */
void gw_request_start(gw_req *req);
/* The client reset the stream or closed the connection before req was answered: logs
 * it (status 499), counts it and cancels its upstream call. Worker's thread; req->conn
 * is still set. */
void gw_request_abandon(gw_req *req);
/* The log phase by itself: the access line and metrics of req with its status. The
 * finish does it, except for a streamed answer, which calls it once when it ends. */
void gw_request_log(gw_req *req);
/* A phase that returned GW_SUSPEND has its outcome: GW_NEXT goes on with the next
 * phase, GW_DONE (the answer made) finishes. Nothing happens once the client is gone. */
void gw_req_resume(gw_req *req, enum gw_phase_result res);
/* At the end of a request's head: 0 when its body is to be collected whole first (as
 * every body but an upload route's), else the largest body the request takes, which
 * the connection then hands on as it arrives: it starts the request at once. */
size_t gw_request_body_stream(gw_req *req);
/* A streamed body has more bytes, or has ended (req->body_done): wakes the phase that
 * waits for it (req->body_wait), if any. Also at the client's leaving (abandon). */
void gw_request_body_more(gw_req *req);

/* ---- gw_handle.c: phases and the shapes of answers ------------------------------- */

enum gw_phase_result gw_phase_kind(gw_req *req);
enum gw_phase_result gw_phase_cors(gw_req *req);
enum gw_phase_result gw_phase_builtin(gw_req *req);
enum gw_phase_result gw_phase_route(gw_req *req);
enum gw_phase_result gw_phase_upstream(gw_req *req);
/* Response filter: the CORS headers of an allowed Origin. */
void gw_filter_cors(gw_req *req);

/* These make the answer (status, headers, body, trailers) without sending it; the
 * phase that made it returns GW_DONE (or resumes with it). */
void gw_answer_bytes(gw_req *req, int status, const char *content_type, const void *body,
                     size_t len);
/* An error in the shape the request's kind expects (JSON body or gRPC status). */
void gw_answer_error(gw_req *req, grpc_status_code status, const char *message);
/* The answer of an upstream call from req->up_status, up_message, up_data and
 * up_trailers, in the shape of the request's kind. */
void gw_answer_upstream(gw_req *req);
/* grpc-message's percent-encoding of msg, in a's memory ("" when out of memory). */
char *gw_grpc_message_encode(yw_arena *a, const char *msg);
/* A JSON error with an HTTP status of its own. */
void gw_answer_http_error(gw_req *req, int http_status, grpc_status_code status,
                          const char *message);

/* ---- gw_auth.c: the access phase ------------------------------------------------- */

/* Process-wide, before the workers: parses the network lists into gw, makes the local
 * rate-limit table, starts the Redis address resolver. Returns 0, or YW_EINVAL / YW_EIO /
 * YW_ENOMEM with err saying which setting or resource (the process must not start). */
int gw_auth_init(char *err, size_t errlen);
/* After every worker's gw_auth_worker_free. */
void gw_auth_worker_free(gw_worker *w);
/* Connects the worker's Redis (asynchronous, on its loop). */
void gw_auth_worker_init(gw_worker *w);
void gw_auth_free(void);
/* The access phase: applies the rate limits and the route's access rule to req. Answers
 * 401/403/429/503 (GW_DONE), or waits for Redis (GW_SUSPEND) and resumes req with
 * GW_NEXT (allowed, req->caller set) or GW_DONE (refused, the answer made). */
enum gw_phase_result gw_phase_access(gw_req *req);
/* The answer of req is made: a lookup of a limit class (gw_route.h) that the service
 * answered NOT_FOUND takes the class's further tokens for a miss from the client's
 * bucket (YW_GATEWAY_LOOKUP_MISS_COST), without waiting for Redis. Worker's thread. */
void gw_auth_answered(gw_req *req);

#endif
