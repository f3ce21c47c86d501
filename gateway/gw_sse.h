/*
 * gw_sse.h - streamed answers: a server-streaming method's messages passed to the
 * client as they come, as Server-Sent Events (text/event-stream) for JSON clients and
 * message by message for gRPC and gRPC-Web, with flow control from the client back to
 * the service, heartbeats, a limit of open streams per caller across gateway copies
 * (Redis, with a local count while Redis is down), drain and metrics.
 *
 * Where it sits: the upstream phase (gw_handle.c) hands a request whose route streams
 * to gw_stream_phase; the connection (gw_conn.c) tells the stream when its client has
 * read (req->writable, gw_stream_writable) and when the worker drains
 * (gw_stream_drain); the request layer (gw_request.c) tells it when the client left
 * (gw_stream_abandon).
 *
 * Threads: everything runs on the request's worker loop, except the process-wide
 * counters (gw_stream_metrics_render reads them from any thread).
 */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "gw_phase.h"
#include "gw_upstream.h"
#include "yw_rpc.h"

typedef struct gw_req gw_req;
typedef struct gw_stream gw_stream;

/*
 * The upstream phase of a request whose route streams: takes a place among the
 * caller's open streams (429 past YW_GATEWAY_STREAMS_PER_CALLER), then calls the
 * method on up with md (nmd entries, copied; their strings must live as long as req)
 * and timeout_ms (<= 0: none). An error before the first message is an ordinary
 * answer; the first message (or the first heartbeat, whichever comes first) sends the
 * head and the stream goes on until the service ends it, the client leaves or the
 * gateway drains. Returns GW_DONE (answered at once) or GW_SUSPEND.
 */
enum gw_phase_result gw_stream_phase(gw_req *req, gw_upstream_client *up, const yw_rpc_md *md,
                                     size_t nmd, int64_t timeout_ms);

/* The connection has passed req's pending bytes on (below its low-water mark; the
 * stream sets itself as req->writable): the upstream's window opens by what the client
 * has taken. */
void gw_stream_writable(gw_req *req);

/* The worker drains: ends req's open stream cleanly now (an event stream just ends, so
 * EventSource reconnects, to another copy; gRPC ends with UNAVAILABLE) and cancels its
 * upstream call. */
void gw_stream_drain(gw_req *req);

/* The client of req left (its 499 is logged by the request layer): the upstream call
 * is cancelled, timers stop, the caller's place is given back. */
void gw_stream_abandon(gw_req *req);

/* Frees the stream's state; with the request (gw_req_unref). Accepts NULL. */
void gw_stream_free(gw_stream *st);

/* Process-wide, before the workers: the local count of streams per caller (used while
 * Redis is unreachable). Returns 0 or YW_ENOMEM. */
int gw_stream_init(void);
void gw_stream_shutdown(void);

/* Appends the streams' metrics (Prometheus text) to buf (cap bytes). Returns the
 * length written, or 0 when it does not fit. */
size_t gw_stream_metrics_render(char *buf, size_t cap);

/*
 * One Server-Sent Event: "id: <id>\n" (when id is not empty), "event: <event>\n" (when
 * given), a "data: " line per line of data, and the blank line. id and event must hold
 * no CR or LF (the caller checks). Returns a malloc'd buffer and its length in *len, or
 * NULL on ENOMEM.
 */
char *gw_sse_event(const char *id, const char *event, const char *data, size_t data_len,
                   size_t *len);

/* 1 when s (len bytes) may be an event id or a Last-Event-ID: 1..128 printable ASCII
 * bytes, no CR, LF or NUL. */
int gw_sse_id_ok(const char *s, size_t len);

#endif
