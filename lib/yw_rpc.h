/*
 * yw_rpc.h - gRPC on the core C library for protobuf-c services: a server that serves
 * any service from its ProtobufCServiceDescriptor (unary and server-streaming methods)
 * and a client for unary and server-streaming calls.
 *
 * Server: a handler table per service, generic unpack/pack, N handler threads fed by a
 * bounded queue (past it calls are refused at once with RESOURCE_EXHAUSTED and a
 * retry-after trailer), deadlines, metadata in and out, the caller's cancellation seen
 * while the handler runs, grpc.health.v1.Health/Check built in (with an optional probe
 * of the service's own dependencies), and a graceful shutdown on SIGINT/SIGTERM that
 * finishes in-flight calls.
 *
 * Client: channels per upstream, asynchronous calls whose completion runs a callback on
 * the client's completion-queue thread (for a stream, a callback per message too), and
 * a synchronous wrapper.
 *
 * Threading: handlers run on worker threads; everything a handler allocates comes from
 * the call's arena (yw_rpc_call_arena / yw_rpc_call_allocator) and dies with the call.
 *
 * Deferred calls: a unary handler may keep its call past its return (yw_rpc_call_defer,
 * return YW_RPC_DEFERRED) and answer later from any thread (yw_rpc_call_finish), so a
 * handler that waits for another service holds no thread (yw_rpc_call_forward).
 *
 * Server streaming: a method declared `returns (stream T)` gets a yw_rpc_stream_fn; it
 * keeps the stream and returns at once, and messages are sent later from any thread,
 * queued in order with one send in flight per stream. Which methods stream is read from
 * the .proto files at build time (yw_proto_library appends a table to the generated C):
 * the server refuses a service whose handler kinds disagree with it.
 *
 * Calls between services: yw_rpc_call_forward, from a deferred call or a stream, carries
 * the call's remaining deadline, request id and caller (re-signed with via=, see
 * yw_caller.h) to another service without holding a thread.
 */
#ifndef YW_RPC_H
#define YW_RPC_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_arena.h"

/* ---- server ---------------------------------------------------------------------- */

typedef struct yw_rpc_server yw_rpc_server;
typedef struct yw_rpc_call yw_rpc_call;

/*
 * A handler reads request and sets *response to a message allocated from the call's
 * arena. Returns 0 for OK, or a YW_E* code (use yw_rpc_call_fail to attach a message).
 */
typedef int (*yw_rpc_handler_fn)(yw_rpc_call *call, const ProtobufCMessage *request,
                                 ProtobufCMessage **response, void *service_data);

/* A unary handler returns this (a positive value, never a YW_E* code) after
 * yw_rpc_call_defer: the call stays open and yw_rpc_call_finish answers it later. */
#define YW_RPC_DEFERRED 1

/* A unary handler returns this (positive) after yw_rpc_call_answer_packed. */
#define YW_RPC_PACKED 2

typedef struct yw_rpc_stream yw_rpc_stream;

/*
 * A server-streaming handler. It runs on a handler thread, reads request (from the
 * call's arena, alive as long as the stream), and returns at once: 0 keeps the stream
 * open, and the handler's code then holds one reference to st (sends and finish from
 * any thread; yw_rpc_stream_unref when it no longer uses st); a YW_E* code finishes the
 * stream at once with that status, and no reference is kept.
 */
typedef int (*yw_rpc_stream_fn)(yw_rpc_stream *st, const ProtobufCMessage *request,
                                void *service_data);

/* One entry per method of the service: fn for a unary method, stream for a
 * server-streaming one (the other NULL). The kinds must match the .proto. */
typedef struct yw_rpc_method {
  const char *name; /* the method's short name, as in the descriptor: "ListItems" */
  yw_rpc_handler_fn fn;
  yw_rpc_stream_fn stream;
} yw_rpc_method;

typedef struct yw_rpc_service {
  const ProtobufCServiceDescriptor *descriptor;
  const yw_rpc_method *methods;
  size_t n_methods;
  void *data; /* passed to every handler */
} yw_rpc_service;

/* Blocks SIGINT and SIGTERM in the calling thread (and so in threads it creates later).
 * Call first thing in main, before any thread starts. */
void yw_rpc_block_signals(void);

/* Creates a server listening on addr ("127.0.0.1:50051"; port 0 picks one) with
 * threads handler threads (and a queue of 4 x threads calls). Returns 0, YW_EIO when
 * the port cannot be bound, or YW_ENOMEM. */
int yw_rpc_server_new(const char *addr, int threads, yw_rpc_server **out);

/* Sets how many calls may wait for a free handler thread; past threads + max_queue
 * calls in progress, new calls are answered RESOURCE_EXHAUSTED (retry-after: 1) at once.
 * Before start. Returns 0 or YW_EINVAL. */
int yw_rpc_server_set_queue(yw_rpc_server *s, int max_queue);

/* Names the server's priority methods: methods is a comma-separated list of full method
 * names ("/yiwang.payment.v1.PaymentService/Notify,..."; NULL or "": none). A unary call
 * to one of them is admitted while fewer than threads + max_queue + reserve calls are in
 * progress (any other call only below threads + max_queue), and is taken by the next
 * free handler ahead of every other queued call (in arrival order among themselves).
 * So calls that must not be shed with the rest (a payment's notification: the money is
 * taken already) are still admitted when ordinary calls fill the queue. Before start;
 * yw_rpc_server_start refuses (YW_EINVAL, logged) a name the server does not serve.
 * Returns 0 or YW_EINVAL (started, reserve < 0, a list too long or not of "/..." names). */
int yw_rpc_server_set_priority(yw_rpc_server *s, const char *methods, int reserve);

/* The last word on one priority call: called on an I/O thread with the call's method and
 * its request's bytes (req may be NULL when the call carried none) before the call is
 * admitted; 1 keeps its priority, 0 admits it as an ordinary call (so calls whose
 * priority is abused, as forged notifications, can be refused with the rest). It must
 * be quick and never block. */
typedef int (*yw_rpc_priority_gate)(void *arg, const char *method, const uint8_t *req, size_t len);

/* Sets the server's priority gate (NULL: every call to a priority method keeps its
 * priority). Before start. Returns 0 or YW_EINVAL (started). */
int yw_rpc_server_set_priority_gate(yw_rpc_server *s, yw_rpc_priority_gate gate, void *arg);

/* Sets how many deferred unary calls (yw_rpc_call_defer) may be open at once; past it
 * yw_rpc_call_defer returns YW_ELIMIT. Default 1024. Before start. Returns 0 or
 * YW_EINVAL (max < 1). */
int yw_rpc_server_set_max_deferred(yw_rpc_server *s, int max);

/* Sets how many streams may be open at once (a service reads it from
 * YW_<SVC>_MAX_STREAMS); past it a new stream is answered RESOURCE_EXHAUSTED
 * (retry-after: 1) before its handler runs. Default 1000. Before start. Returns 0 or
 * YW_EINVAL (max < 1). */
int yw_rpc_server_set_max_streams(yw_rpc_server *s, int max);

/* Mutual TLS: serves only callers whose client certificate's common name (CN) is one of
 * names (comma-separated, at most 16 of at most 63 bytes each), so that a certificate
 * the CA signed for another purpose (another service's) cannot call this one; any other
 * caller is answered UNAUTHENTICATED before its handler runs. The health service
 * answers every caller the handshake let in (load balancers). NULL or "": every
 * certificate the CA signed. Before start. Returns 0 or YW_EINVAL (a name empty or too
 * long, too many names, or a server without TLS). */
int yw_rpc_server_set_client_names(yw_rpc_server *s, const char *names);

/* Sets how many messages may wait to be sent on one stream; a send past it finishes
 * the stream with RESOURCE_EXHAUSTED (its reader is too slow) and returns YW_ELIMIT.
 * Default 256. Before start. Returns 0 or YW_EINVAL (max < 1). */
int yw_rpc_server_set_stream_queue(yw_rpc_server *s, int max);

/* The same bound on the packed bytes waiting on one stream (a single message larger
 * than it is still queued when the queue is empty). Default 4 MiB. Before start.
 * Returns 0 or YW_EINVAL. */
int yw_rpc_server_set_stream_queue_bytes(yw_rpc_server *s, size_t max);

/* The name this service gives in the via= field of the callers it forwards
 * (yw_rpc_call_forward) and the keys it verifies and signs them with (it signs only
 * with keys->current). keys must outlive the server. Before start. Returns 0 or
 * YW_EINVAL (a name outside [a-z0-9_-], 1..31 characters). */
struct yw_caller_keys;
int yw_rpc_server_set_caller(yw_rpc_server *s, const struct yw_caller_keys *keys,
                             const char *service_name);

/* A probe of what the service needs to serve (its database): 0 when it can serve. It
 * must bound its own wait (it runs on its own thread, every interval). */
typedef int (*yw_rpc_health_fn)(void *arg);

/* Makes grpc.health.v1.Health/Check answer NOT_SERVING while fn fails. fn runs once at
 * start and then every interval_ms on a thread of its own; the check itself never
 * waits for it. Before start. Returns 0 or YW_EINVAL. */
int yw_rpc_server_set_health(yw_rpc_server *s, yw_rpc_health_fn fn, void *arg, int interval_ms);

/* Adds a service. Every method of the descriptor must have a handler of the kind the
 * .proto declares (fn for unary, stream for server streaming): YW_EINVAL, logged with
 * the method, when one is missing, of the wrong kind, client or bidirectional streaming
 * (not supported), or has no record in the table of method kinds (its .proto was not
 * built with yw_proto_library). service must outlive the server. */
int yw_rpc_server_add_service(yw_rpc_server *s, const yw_rpc_service *service);

/* Starts serving. Returns 0. */
int yw_rpc_server_start(yw_rpc_server *s);

/* The bound port. */
int yw_rpc_server_port(const yw_rpc_server *s);

/* What the server is doing, for a service's /metrics or health: gauges now, and
 * counters since start. */
typedef struct yw_rpc_server_stats {
  int running;           /* handlers running */
  int queued;            /* calls waiting for a handler thread */
  int deferred;          /* deferred calls not yet finished */
  int streams_open;      /* streams admitted and not over */
  long refused;          /* calls answered RESOURCE_EXHAUSTED at admission */
  long streams_total;    /* streams whose handler ran */
  long stream_messages;  /* messages queued on streams */
  long streams_cut;      /* streams ended because their reader was too slow */
} yw_rpc_server_stats;
void yw_rpc_server_stats_get(yw_rpc_server *s, yw_rpc_server_stats *out);

/* Waits for SIGINT or SIGTERM (blocked with yw_rpc_block_signals), then shuts down. */
void yw_rpc_server_wait_signal(yw_rpc_server *s);

/* Stops accepting calls, ends open streams (UNAVAILABLE), lets in-flight calls finish
 * (cancelling them after grace_ms), and stops the workers. Every wait is bounded: when
 * calls are still open grace_ms (at least 1 s) after their cancellation (a deferred call
 * its owner never finished), it logs rpc.shutdown_incomplete and returns with the
 * server still standing; calling it again later completes it. Idempotent. */
void yw_rpc_server_shutdown(yw_rpc_server *s, int grace_ms);

/* Shuts down if needed and frees everything; when calls are still open after the
 * shutdown's bounded waits, it frees nothing (their memory points into the server).
 * Accepts NULL. */
void yw_rpc_server_free(yw_rpc_server *s);

/* Within a handler: */
yw_arena *yw_rpc_call_arena(yw_rpc_call *call);
ProtobufCAllocator *yw_rpc_call_allocator(yw_rpc_call *call);
/* First value of request metadata key (lower case), NUL-terminated, or NULL. */
const char *yw_rpc_call_metadata(yw_rpc_call *call, const char *key);
/* The caller's x-request-id, or "" when none came. */
const char *yw_rpc_call_request_id(yw_rpc_call *call);
/* Milliseconds left before the caller's deadline (INT64_MAX when none). */
int64_t yw_rpc_call_ms_left(yw_rpc_call *call);
/* 1 once the caller has cancelled the call or its deadline has passed: nobody waits for
 * the answer, so a handler should stop between steps (and answer anything). */
int yw_rpc_call_cancelled(yw_rpc_call *call);
/* The full method path of the call ("/yiwang.catalog.v1.CatalogService/ListItems"). */
const char *yw_rpc_call_method(yw_rpc_call *call);
/* Sets the status message sent with code and returns code, for `return yw_rpc_call_fail(...)`. */
int yw_rpc_call_fail(yw_rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The status message set so far (yw_rpc_call_fail), or "" when none; lives with the call. */
const char *yw_rpc_call_status_message(yw_rpc_call *call);
/* Adds a trailing metadata entry to the answer (key lower case), copied. A handler that
 * answers RESOURCE_EXHAUSTED may add "retry-after" (seconds); without it the server
 * adds "retry-after: 1". Returns 0 or YW_ETOOBIG past 8 entries. */
int yw_rpc_call_add_trailer(yw_rpc_call *call, const char *key, const char *value);

/* Answers a unary call with a message already packed (len bytes of the method's output
 * type, such as a cached answer: no unpacking and packing again). The bytes are
 * copied; they must be a message of the method's output type, which is not checked.
 * The handler returns what this returns: YW_RPC_PACKED, or YW_ENOMEM. */
int yw_rpc_call_answer_packed(yw_rpc_call *call, const void *bytes, size_t len);

/*
 * Deferred unary calls. Inside a unary handler, yw_rpc_call_defer(call) keeps the call
 * open past the handler's return; the handler then returns YW_RPC_DEFERRED and its
 * thread is free. Later, from any thread, yw_rpc_call_finish answers it exactly once:
 * code 0 with response (a message of the method's output type, normally from the call's
 * arena), or a YW_E* code (a message set with yw_rpc_call_fail before). The call and its
 * arena live until finish; it must always come, also after the caller cancelled (it is
 * harmless then: nothing is sent). The call's deadline and the caller's cancellation
 * still hold: either runs the call's cancel callback.
 * yw_rpc_call_defer returns 0, YW_ELIMIT when the server's cap on deferred calls is
 * reached (answer the call now, e.g. `return YW_ELIMIT`), or YW_EINVAL outside a unary
 * handler or when called twice.
 */
int yw_rpc_call_defer(yw_rpc_call *call);
void yw_rpc_call_finish(yw_rpc_call *call, int code, const ProtobufCMessage *response);

/*
 * Sets fn to run once, on a completion-queue thread, when the caller goes away (cancel,
 * deadline, connection lost, server shutdown) before the call was finished. fn must not
 * block; for a deferred call it typically stops the work and calls yw_rpc_call_finish.
 * When the caller is already gone, fn runs at once on the calling thread. Not after
 * finish. Replaces an earlier fn.
 */
void yw_rpc_call_on_cancel(yw_rpc_call *call, void (*fn)(void *arg), void *arg);

/*
 * Server streams. st belongs to the runtime; whoever keeps the pointer past the handler
 * holds a reference (the handler's code has one when it returned 0; yw_rpc_stream_ref
 * takes more) and gives it back with yw_rpc_stream_unref; the stream's memory (its call,
 * arena and request) lives until the last one.
 *
 * yw_rpc_stream_send queues a copy of msg (packed at once, so msg may die after) to be
 * sent after the ones before it; any thread. Returns 0, YW_ECANCELED once the stream
 * has ended (the caller left, its deadline passed, it was finished, the server is
 * stopping), YW_ELIMIT when the stream's queue was full (the stream is then finished
 * with RESOURCE_EXHAUSTED: its reader is too slow) or YW_ENOMEM.
 *
 * yw_rpc_stream_finish ends the stream with code (0 = OK, or a YW_E* code) and message
 * (may be NULL; copied) once the queued messages are sent. Any thread; only the first
 * finish counts, and a finish after the stream ended is harmless.
 *
 * yw_rpc_stream_on_cancel sets fn to run once, on a completion-queue thread, when the
 * stream ends other than by the holder's own finish: the caller left (cancel,
 * deadline, connection lost), its reader was too slow, or the server is shutting down
 * (it finishes open streams with UNAVAILABLE so clients reconnect elsewhere). fn must
 * not block; it typically drops the stream from the holder's subscribers and unrefs it.
 * When the stream has already ended so, fn runs at once on the calling thread.
 *
 * Streams have no deadline unless the client sends one.
 */
int yw_rpc_stream_send(yw_rpc_stream *st, const ProtobufCMessage *msg);
void yw_rpc_stream_finish(yw_rpc_stream *st, int code, const char *message);
void yw_rpc_stream_on_cancel(yw_rpc_stream *st, void (*fn)(void *arg), void *arg);
void yw_rpc_stream_ref(yw_rpc_stream *st);
void yw_rpc_stream_unref(yw_rpc_stream *st);

/*
 * Pacing a producer with more to send than the queue holds (a replay after
 * last-event-id): yw_rpc_stream_queued says how many messages wait now, and fn of
 * yw_rpc_stream_on_drain runs on a completion-queue thread each time the queue has
 * emptied (every queued message handed to gRPC) while the stream is open; it must not
 * block, and may send the next batch. It may run while another thread of the holder
 * sends (guard what they share). fn NULL stops it.
 */
int yw_rpc_stream_queued(yw_rpc_stream *st);
void yw_rpc_stream_on_drain(yw_rpc_stream *st, void (*fn)(void *arg), void *arg);
/* 1 once the stream has ended (for any reason), else 0. */
int yw_rpc_stream_ended(yw_rpc_stream *st);
/* The stream's call, for the call accessors: arena, allocator, metadata, request id,
 * method, ms_left, trailers (before finish) and yw_rpc_call_caller. The arena is not
 * thread-safe: allocate from it (yw_rpc_call_metadata copies into it) on one thread at
 * a time, normally in the handler; sends and finish never touch it. */
yw_rpc_call *yw_rpc_stream_call(yw_rpc_stream *st);
/* Shorthands of the call accessors. */
yw_arena *yw_rpc_stream_arena(yw_rpc_stream *st);
const char *yw_rpc_stream_metadata(yw_rpc_stream *st, const char *key);
const char *yw_rpc_stream_request_id(yw_rpc_stream *st);
const char *yw_rpc_stream_method(yw_rpc_stream *st);
int64_t yw_rpc_stream_ms_left(yw_rpc_stream *st);

/* ---- method kinds ---------------------------------------------------------------- */

/*
 * What the .proto files say of each method: yw_proto_library runs protoc
 * --descriptor_set_out on every file it compiles and tools/yw_rpc_methods.py appends
 * the file's table to its generated C, registered when the program starts.
 */
#define YW_RPC_UNARY 0
#define YW_RPC_SERVER_STREAMING 1
#define YW_RPC_CLIENT_STREAMING 2 /* client or bidirectional: not supported */

/* The kind of full_method ("/yiwang.feed.v1.FeedService/Watch"): YW_RPC_UNARY,
 * YW_RPC_SERVER_STREAMING or YW_RPC_CLIENT_STREAMING, or YW_ENOTFOUND when no compiled
 * .proto declares it. Any thread. */
int yw_rpc_method_streams(const char *full_method);

/* The registration the generated tables make (not for hand-written code). */
typedef struct yw_rpc_method_kind {
  const char *full_method;
  int kind;
} yw_rpc_method_kind;
typedef struct yw_rpc_method_table {
  const yw_rpc_method_kind *entries;
  unsigned long n;
  struct yw_rpc_method_table *next;
} yw_rpc_method_table;
void yw_rpc_method_table_register(yw_rpc_method_table *table);

/* ---- client ---------------------------------------------------------------------- */

typedef struct yw_rpc_client yw_rpc_client;
typedef struct yw_rpc_channel yw_rpc_channel;
typedef struct yw_rpc_pending yw_rpc_pending;

typedef struct yw_rpc_md {
  const char *key;   /* lower case */
  const char *value;
  size_t value_len;  /* 0 means strlen(value) */
} yw_rpc_md;

/* What a finished call delivers. Every pointer is valid only during the callback. */
typedef struct yw_rpc_result {
  grpc_status_code status;
  const char *message;          /* status details, NUL-terminated, maybe "" */
  const uint8_t *data;          /* response message bytes when status is OK */
  size_t len;
  const grpc_metadata_array *initial_md;
  const grpc_metadata_array *trailing_md;
} yw_rpc_result;

/* Runs on the client's completion-queue thread when the call ends, exactly once. */
typedef void (*yw_rpc_done_fn)(void *arg, const yw_rpc_result *result);

/* Creates a client with its completion-queue thread. Returns 0 or YW_ENOMEM. */
int yw_rpc_client_new(yw_rpc_client **out);

/* Cancels calls in flight (their callbacks run with CANCELLED), stops the thread, frees.
 * Channels must be freed first. Accepts NULL. */
void yw_rpc_client_free(yw_rpc_client *c);

/* Opens n_connections HTTP/2 connections to target ("127.0.0.1:50051",
 * "dns:///catalog.internal:50052", "ipv4:10.0.0.1:50052,10.0.0.2:50052"), used round
 * robin; each balances round robin over every address the target resolves to.
 * max_message is the largest message accepted (bytes). NULL on ENOMEM. */
yw_rpc_channel *yw_rpc_channel_new(yw_rpc_client *c, const char *target, int n_connections,
                                   int max_message);

/* Frees the channel. Accepts NULL. Calls on it must have finished. */
void yw_rpc_channel_free(yw_rpc_channel *ch);

/* The target the channel was opened with. */
const char *yw_rpc_channel_target(const yw_rpc_channel *ch);

/*
 * Starts a unary call of method ("/yiwang.catalog.v1.CatalogService/ListItems") with the
 * serialized request data, metadata md and a deadline timeout_ms from now. done runs
 * once when it ends. Returns 0, or YW_EINVAL/YW_ENOMEM/YW_EINTERNAL when the call could
 * not start (done does not run then).
 */
int yw_rpc_call_start(yw_rpc_channel *ch, const char *method, const uint8_t *data,
                      size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                      yw_rpc_done_fn done, void *arg);

/*
 * As yw_rpc_call_start, and when handle is not NULL, *handle is set to a reference to
 * the call: yw_rpc_pending_cancel ends it early (done then runs with CANCELLED), and the
 * holder must give the reference back with yw_rpc_pending_release exactly once, at any
 * time (before or after done ran). *handle is NULL when the call did not start.
 */
int yw_rpc_call_start_ex(yw_rpc_channel *ch, const char *method, const uint8_t *data,
                         size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                         yw_rpc_done_fn done, void *arg, yw_rpc_pending **handle);

/* Cancels the call if it is still in flight (the server sees the cancellation); its
 * done callback runs with CANCELLED. Any thread. Accepts NULL. */
void yw_rpc_pending_cancel(yw_rpc_pending *p);

/* Gives back the holder's reference. Accepts NULL. */
void yw_rpc_pending_release(yw_rpc_pending *p);

/*
 * Synchronous unary call with protobuf-c messages. On OK, *response is unpacked with
 * allocator (caller frees with protobuf_c_message_free_unpacked). Returns the gRPC
 * status; message (may be NULL) gets the status details.
 */
grpc_status_code yw_rpc_call_sync(yw_rpc_channel *ch, const char *method,
                                  const ProtobufCMessage *request,
                                  const ProtobufCMessageDescriptor *response_desc,
                                  ProtobufCAllocator *allocator, ProtobufCMessage **response,
                                  const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                                  char *message, size_t message_size);

/*
 * Server-streaming call. on_message runs on the client's completion-queue thread for
 * each message, in order (data valid only during the call); returning non-zero cancels
 * the call. done runs once when the call has ended (after the last on_message), with
 * the status (result->data is NULL). timeout_ms <= 0 means no deadline (long-lived
 * streams); the holder of *handle (when handle is not NULL) may cancel it and must
 * release it as for yw_rpc_call_start_ex. Returns as yw_rpc_call_start_ex.
 */
typedef int (*yw_rpc_message_fn)(void *arg, const uint8_t *data, size_t len);
int yw_rpc_stream_call_start(yw_rpc_channel *ch, const char *method, const uint8_t *data,
                             size_t len, const yw_rpc_md *md, size_t nmd, int64_t timeout_ms,
                             yw_rpc_message_fn on_message, yw_rpc_done_fn done, void *arg,
                             yw_rpc_pending **handle);

/*
 * Calls between services. From a handler (a deferred unary call or a stream's call),
 * yw_rpc_call_forward calls method on ch with req, carrying:
 *   - the deadline: the call's time left less YW_RPC_FORWARD_MARGIN_MS (calls without a
 *     deadline, such as streams, get YW_RPC_FORWARD_DEFAULT_MS);
 *   - the call's x-request-id;
 *   - its caller, when it has one: verified with the keys of yw_rpc_server_set_caller,
 *     then signed anew for method and the request id with the current key, with the
 *     same identity and this service's name appended to via= (yw_caller.h).
 * done runs once, on the client's completion-queue thread, with the status (0 or the
 * YW_E* code nearest to the downstream status), the response unpacked into the call's
 * arena (NULL unless code is 0) and the status message; it typically finishes the
 * deferred call. The call (and its arena) stays alive until done has returned.
 * Call it on the thread that owns the call at that moment (the handler, or one of the
 * stream holder's threads at a time): it reads the call's metadata into its arena.
 * Returns 0, or without running done: YW_ETIMEOUT (less time left than the margin),
 * YW_EUNAUTH (the call's caller does not verify, or the server has no keys to sign
 * with while the call has a caller), YW_EINVAL or YW_ENOMEM.
 */
#define YW_RPC_FORWARD_MARGIN_MS 20
#define YW_RPC_FORWARD_DEFAULT_MS 10000
typedef void (*yw_rpc_forward_fn)(yw_rpc_call *call, int code, ProtobufCMessage *response,
                                  const char *message, void *arg);
int yw_rpc_call_forward(yw_rpc_call *call, yw_rpc_channel *ch, const char *method,
                        const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                        yw_rpc_forward_fn done, void *arg);

/* As yw_rpc_call_forward, and the downstream call waits at most max_ms (0: no bound of
 * its own) even when the call has more time left: a check that must answer well
 * before the caller gives up (yw-catalog's Stat of a referenced file). Past the bound
 * done runs with YW_ETIMEOUT. */
int yw_rpc_call_forward_within(yw_rpc_call *call, yw_rpc_channel *ch, const char *method,
                               const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int64_t max_ms,
                               yw_rpc_forward_fn done, void *arg);

/* Calls grpc.health.v1.Health/Check on ch. Returns 0 when the server answers SERVING,
 * YW_EUNAVAIL otherwise. Blocks up to timeout_ms. */
int yw_rpc_health_check(yw_rpc_channel *ch, int64_t timeout_ms);

/* ---- mutual TLS ------------------------------------------------------------------ */

/*
 * Mutual TLS between the gateway and the services: each side shows a certificate signed
 * by a CA the other trusts. A server made with yw_rpc_server_new_tls refuses cleartext
 * clients and TLS clients without a certificate its CA file signed; a client given
 * yw_rpc_client_set_tls opens TLS channels with its certificate and checks the server's
 * certificate against its CA file and the target's host name (or server_name).
 *
 * The files are PEM and are read once, when the server or the client's TLS is made:
 * changed files take effect when the process starts again.
 */
typedef struct yw_rpc_tls {
  const char *ca_file;     /* the CA certificate(s) that sign the peers (several allowed) */
  const char *cert_file;   /* this side's certificate, then any intermediates */
  const char *key_file;    /* its private key, not encrypted */
  const char *server_name; /* client only: the name the server's certificate must carry
                            * instead of the target's host; NULL or "" for the target's */
} yw_rpc_tls;

/* The three files of a yw_rpc_tls read into memory, NUL-terminated. */
typedef struct yw_rpc_tls_pem {
  char *ca;
  char *cert;
  char *key;
} yw_rpc_tls_pem;

/*
 * Makes *tls from the settings YW_TLS_CA, YW_TLS_CERT and YW_TLS_KEY (paths; NULL or ""
 * when unset) and server_name (may be NULL). Returns 1 when the three are set (mutual
 * TLS; tls points into the arguments), 0 when none is (cleartext; tls zeroed), or
 * YW_EINVAL when only some are, with err saying which are missing.
 */
int yw_rpc_tls_from_settings(yw_rpc_tls *tls, const char *ca, const char *cert,
                             const char *key, const char *server_name, char *err,
                             size_t err_size);

/*
 * Reads the three files of tls (each at most 1 MiB) and checks them: the CA file holds
 * at least one certificate, the certificate file a certificate, the key file an
 * unencrypted private key that belongs to that certificate. Returns 0 and *out (free
 * with yw_rpc_tls_pem_free), or YW_EIO (a file cannot be read), YW_ETOOBIG, YW_EINVAL
 * (a file is not what it should be) or YW_ENOMEM, with err naming the file and why;
 * *out is empty then.
 */
int yw_rpc_tls_read(const yw_rpc_tls *tls, yw_rpc_tls_pem *out, char *err, size_t err_size);

/* Frees the text of pem (and wipes the key). Accepts NULL and an empty pem. */
void yw_rpc_tls_pem_free(yw_rpc_tls_pem *pem);

/*
 * As yw_rpc_server_new, serving mutual TLS: clients must show a certificate signed by
 * tls->ca_file; cleartext and certificate-less clients are refused in the handshake.
 * tls NULL makes a cleartext server (yw_rpc_server_new). Returns 0, YW_EIO/YW_EINVAL/
 * YW_ETOOBIG when the files cannot be used (logged with the file and why), YW_EIO when
 * the port cannot be bound, or YW_ENOMEM.
 */
int yw_rpc_server_new_tls(const char *addr, int threads, const yw_rpc_tls *tls,
                          yw_rpc_server **out);

/*
 * Makes every channel c opens from now on use mutual TLS with tls (channels opened
 * before keep cleartext). Call once, before yw_rpc_channel_new. Returns 0, or a code of
 * yw_rpc_tls_read with err saying why (c is unchanged then).
 */
int yw_rpc_client_set_tls(yw_rpc_client *c, const yw_rpc_tls *tls, char *err,
                          size_t err_size);

#endif
