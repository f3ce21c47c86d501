/*
 * gw_upstream.h - a gRPC client that lives on one worker's libevent loop: HTTP/2 client
 * sessions (nghttp2) to the copies of one service, unary calls whose answer is handed
 * to the caller on the same loop, without a thread hop and without a copy of the
 * message.
 *
 * Why: through gRPC core every answer crossed from the completion-queue thread to the
 * worker's loop (a mutex, a wake-up, a context switch) and was copied twice on the way;
 * here the answer is reassembled once, in one buffer, by the loop that asked for it.
 *
 * Shape: a gw_upstream_client belongs to one event_base and is used only on that
 * base's thread (every function here, every callback from here). It resolves its target
 * (numeric addresses at once; host names on a helper thread, never on the loop), keeps
 * connections_per_address connections open to each address, balances calls round robin
 * over the addresses that are up, opens more connections to an address (up to
 * max_connections_per_address) when the server's SETTINGS_MAX_CONCURRENT_STREAMS (or
 * our own cap) fills the ones it has, and queues calls that find no free stream.
 *
 * Failures: an address whose connection attempt fails is marked down and retried after
 * an exponential back-off with jitter; calls go to the others. While every address is
 * down calls fail at once with UNAVAILABLE (gRPC's fail-fast). A call whose request
 * never left for the server (HEADERS not sent, or refused by the server: REFUSED_STREAM,
 * or above a GOAWAY's last stream id) is retried once on another connection; any other
 * call on a connection that breaks fails with UNAVAILABLE. After a GOAWAY the connection
 * takes no new calls, finishes the ones it has, and a new connection replaces it.
 *
 * Status mapping, as gRPC does it: grpc-status (and percent-decoded grpc-message) from
 * the trailers or a Trailers-Only answer; an HTTP status other than 200 by gRPC's
 * http-grpc-status-mapping (400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
 * 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, others UNKNOWN); RST_STREAM codes by
 * the gRPC HTTP/2 protocol document; our own deadline DEADLINE_EXCEEDED; a message
 * larger than max_message RESOURCE_EXHAUSTED.
 *
 * Offers: gw_upstream_new, gw_upstream_free, gw_upstream_call, gw_upstream_stream,
 * gw_upstream_stream_ack, gw_upstream_cancel, gw_upstream_take_frame, gw_upstream_ready, gw_upstream_health_check,
 * gw_upstream_get_stats.
 *
 * The type is gw_upstream_client, not gw_upstream, because gw.h already names the
 * process-wide upstream table entry gw_upstream.
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <event2/event.h>
#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_rpc.h" /* yw_rpc_md: the metadata shape the gateway already builds */

typedef struct gw_upstream_client gw_upstream_client;
typedef struct gw_upstream_pending gw_upstream_pending;

/* Settings of one client. A zero field takes its default (in parentheses). */
typedef struct gw_upstream_opts {
  int connections_per_address;     /* kept open to every address (1) */
  int max_connections_per_address; /* opened on demand while streams are full (4) */
  int max_streams_per_connection;  /* our cap below the server's own limit (1000) */
  size_t max_message;              /* largest answer message, bytes (4 MiB) */
  size_t max_header_bytes;         /* answer headers and trailers together (16 KiB) */
  int max_queued;                  /* calls waiting for a stream; past it UNAVAILABLE (10000) */
  int connect_timeout_ms;          /* TCP, TLS and the server's SETTINGS together (2000) */
  int backoff_base_ms;             /* first pause before reconnecting (100) */
  int backoff_max_ms;              /* longest pause (5000) */
  int resolve_interval_ms;         /* a host name is looked up again this often (30000) */
  int stream_window;               /* receive window per stream, bytes (1 MiB) */
  int connection_window;           /* receive window per connection, bytes (16 MiB) */
  /* A connection with calls on it that has heard nothing for keepalive_ms sends a PING;
   * without an answer within keepalive_timeout_ms it is closed (its calls fail with
   * UNAVAILABLE) and its address tried again. Also TCP_USER_TIMEOUT. -1: off. (30000) */
  int keepalive_ms;
  int keepalive_timeout_ms; /* (20000) */
  const char *authority;    /* :authority; NULL: the target's host:port (copied) */
  const char *server_name;  /* TLS: the name the servers' certificates must carry (and
                             * SNI) instead of the target's host; NULL: the host (copied) */
  /* SSL_CTX* for TLS with ALPN h2 (the client's certificate for mutual TLS goes in the
   * context); NULL: cleartext h2 with prior knowledge. Borrowed: it must outlive the
   * client. The host name is sent as SNI and, when the context verifies peers, checked
   * against the certificate. */
  void *ssl_ctx;
} gw_upstream_opts;

/* One metadata entry of an answer. name and value are NUL-terminated, in the call's own
 * buffer, valid only during the done callback. A "-bin" value is as on the wire
 * (base64). */
typedef struct gw_upstream_header {
  const char *name;
  const char *value;
  size_t value_len;
} gw_upstream_header;

/* What a finished call delivers. Every pointer is valid only during the callback. */
typedef struct gw_upstream_result {
  grpc_status_code status;
  const char *message; /* percent-decoded grpc-message or ours; maybe "" */
  const uint8_t *data; /* the answer message when status is OK, else NULL */
  size_t len;
  const gw_upstream_header *headers; /* custom initial metadata */
  size_t n_headers;
  const gw_upstream_header *trailers; /* custom trailers (a Trailers-Only answer's too) */
  size_t n_trailers;
  int http_status;           /* :status, 0 when none arrived */
  gw_upstream_pending *call; /* for gw_upstream_take_frame */
} gw_upstream_result;

/* Runs on the client's loop exactly once per accepted call, never inside
 * gw_upstream_call or gw_upstream_cancel. It may start and cancel calls; it must not
 * free the client. The call's handle dies when this returns. */
typedef void (*gw_upstream_done_fn)(void *arg, const gw_upstream_result *result);

/*
 * Makes a client on base for target: "host:port", "a.b.c.d:port", "[v6]:port",
 * "dns:///host:port", "dns:host:port", "ipv4:a.b.c.d:port,a.b.c.d:port" or
 * "ipv6:[v6]:port,...". A host name is resolved on a helper thread (at once, every
 * resolve_interval_ms, and after connection failures, at most once a second); numeric
 * addresses need none. Connecting starts at once. opts may be NULL (defaults); it is
 * copied. base must outlive the client; libevent must have threads enabled
 * (evthread_use_pthreads) when target holds a host name; the process must ignore
 * SIGPIPE (yw_rpc_block_signals does), since a server that closes its end turns our
 * next write into one. Returns 0 with *out set,
 * YW_EINVAL when target or opts are malformed, YW_ENOMEM, or YW_EIO when the resolver
 * thread or an event cannot be made.
 */
int gw_upstream_new(struct event_base *base, const char *target, const gw_upstream_opts *opts,
                    gw_upstream_client **out);

/*
 * Cancels every call (their callbacks run with CANCELLED before this returns), closes
 * the connections, lets go of the resolver thread (without waiting for it) and frees
 * the client. On the loop's thread, never from a done callback. Accepts NULL.
 */
void gw_upstream_free(gw_upstream_client *up);

/*
 * Starts a unary call of method_path ("/yiwang.catalog.v1.CatalogService/ListItems")
 * with the serialized request msg[0..len), metadata md (copied; keys lower case, values
 * printable ASCII and sent as given, so a "-bin" value must already be base64, as it
 * arrives from a gRPC client) and a deadline timeout_ms from now (<= 0: none).
 *
 * msg is NOT copied: it must stay valid and unchanged until done runs (the gateway's
 * request arena does). done runs once, later, on the loop, with the answer or the
 * failure. When handle is not NULL, *handle names the call for gw_upstream_cancel until
 * done starts.
 *
 * Returns 0 (done will run), or, and then done never runs and *handle is NULL:
 * YW_EINVAL for a malformed path or metadata (reserved or illegal keys, illegal value
 * bytes), YW_ENOMEM, YW_ECANCELED when the client is being freed.
 */
int gw_upstream_call(gw_upstream_client *up, const char *method_path, const uint8_t *msg,
                     size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                     gw_upstream_done_fn done, void *arg, gw_upstream_pending **handle);

/*
 * A streamed answer's message, handed over on the loop in the order the server sent
 * them, all before done. frame is the gRPC frame (the 5-byte prefix, then the message),
 * malloc'd and now the callee's to free(). The callee calls gw_upstream_stream_ack(call,
 * len) once its client has taken the bytes: until then they count against the stream's
 * window (stream_window), so the server cannot run further ahead of a slow client. It
 * may call gw_upstream_cancel(call); it must not free the client.
 */
typedef void (*gw_upstream_msg_fn)(void *arg, gw_upstream_pending *call, uint8_t *frame,
                                   size_t len);

/*
 * Starts a call whose answer is a stream of messages (gRPC server streaming): as
 * gw_upstream_call, but every message goes to on_msg as soon as it is complete, and
 * done runs once at the end with the status and trailers (result->data is NULL).
 * timeout_ms <= 0: no deadline, as long-lived streams want. Returns as
 * gw_upstream_call (YW_EINVAL also when on_msg is NULL).
 */
int gw_upstream_stream(gw_upstream_client *up, const char *method_path, const uint8_t *msg,
                       size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                       gw_upstream_msg_fn on_msg, gw_upstream_done_fn done, void *arg,
                       gw_upstream_pending **handle);

/*
 * The caller of a streamed call has passed bytes (the lengths of frames it was given)
 * on to its client: the stream's window opens by that much (WINDOW_UPDATE). Ignored
 * for a unary call or one that has ended. Until done has started.
 */
void gw_upstream_stream_ack(gw_upstream_pending *call, size_t bytes);

/*
 * Cancels a call whose done callback has not started: a call on the wire gets
 * RST_STREAM(CANCEL) (the server sees the cancellation), a queued one is dropped; its
 * callback then runs with CANCELLED, later on the loop (not inside this function). A
 * call already finished but whose callback is still to run keeps its result. Accepts
 * NULL.
 */
void gw_upstream_cancel(gw_upstream_pending *call);

/*
 * Inside a done callback with status OK: takes the answer's buffer, which holds the
 * gRPC frame (the 5-byte prefix, then result->data), so the gateway can pass it on
 * without a copy. Returns the frame (free it with free()) and its length in *len, or
 * NULL when there is no message or it was taken already; result->data then dies with
 * the returned buffer instead of with the callback.
 */
uint8_t *gw_upstream_take_frame(const gw_upstream_result *result, size_t *len);

/* 1 while at least one connection has finished its HTTP/2 handshake and takes calls
 * (for /readyz), else 0. */
int gw_upstream_ready(const gw_upstream_client *up);

/* Runs on the loop when a health check ends: serving is 1 when the server answered
 * SERVING; status is the call's status. */
typedef void (*gw_upstream_health_fn)(void *arg, int serving, grpc_status_code status);

/*
 * Calls grpc.health.v1.Health/Check for service ("" for the whole server) with a
 * deadline of timeout_ms; done runs once on the loop. Returns 0, or YW_EINVAL /
 * YW_ENOMEM / YW_ECANCELED as gw_upstream_call (done then never runs).
 */
int gw_upstream_health_check(gw_upstream_client *up, const char *service, int64_t timeout_ms,
                             gw_upstream_health_fn done, void *arg);

/* Counters and gauges of one client, for metrics and tests. */
typedef struct gw_upstream_stats {
  size_t addresses;      /* from the latest resolution */
  size_t addresses_down; /* whose latest connection attempt failed */
  size_t connections;    /* open or opening */
  size_t connections_ready;
  size_t calls_active;    /* on a stream */
  size_t calls_queued;    /* waiting for a stream or a connection */
  size_t peak_streams;    /* most streams ever open at once on one connection */
  unsigned long connects; /* connection attempts */
  unsigned long connect_failures;
  unsigned long retries;          /* calls sent again on another connection */
  unsigned long goaways;          /* GOAWAY frames received */
  unsigned long pings_sent;       /* keepalive PINGs */
  unsigned long pings_unanswered; /* connections closed by keepalive */
} gw_upstream_stats;

/* Fills *out. */
void gw_upstream_get_stats(const gw_upstream_client *up, gw_upstream_stats *out);

#endif
