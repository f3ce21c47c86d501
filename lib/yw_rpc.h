/*
 * yw_rpc.h - gRPC on the core C library for protobuf-c services: a server that serves
 * any service from its ProtobufCServiceDescriptor and a client for unary calls.
 *
 * Server: a handler table per service, generic unpack/pack, N worker threads sharing one
 * completion queue (a slow handler holds one worker, never the others), deadlines,
 * metadata in and out, grpc.health.v1.Health/Check built in, and a graceful shutdown on
 * SIGINT/SIGTERM that finishes in-flight calls.
 *
 * Client: channels per upstream, asynchronous calls whose completion runs a callback on
 * the client's completion-queue thread, and a synchronous wrapper.
 *
 * Threading: handlers run on worker threads; everything a handler allocates comes from
 * the call's arena (yw_rpc_call_arena / yw_rpc_call_allocator) and dies with the call.
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

typedef struct yw_rpc_method {
  const char *name; /* the method's short name, as in the descriptor: "ListItems" */
  yw_rpc_handler_fn fn;
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
 * threads workers. Returns 0, YW_EIO when the port cannot be bound, or YW_ENOMEM. */
int yw_rpc_server_new(const char *addr, int threads, yw_rpc_server **out);

/* Adds a service. Every method of the descriptor must have a handler: YW_EINVAL names
 * the missing one otherwise. service must outlive the server. */
int yw_rpc_server_add_service(yw_rpc_server *s, const yw_rpc_service *service);

/* Starts serving. Returns 0. */
int yw_rpc_server_start(yw_rpc_server *s);

/* The bound port. */
int yw_rpc_server_port(const yw_rpc_server *s);

/* Waits for SIGINT or SIGTERM (blocked with yw_rpc_block_signals), then shuts down. */
void yw_rpc_server_wait_signal(yw_rpc_server *s);

/* Stops accepting calls, lets in-flight calls finish (cancelling them after grace_ms),
 * and stops the workers. Idempotent. */
void yw_rpc_server_shutdown(yw_rpc_server *s, int grace_ms);

/* Shuts down if needed and frees everything. Accepts NULL. */
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
/* Sets the status message sent with code and returns code, for `return yw_rpc_call_fail(...)`. */
int yw_rpc_call_fail(yw_rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a trailing metadata entry to the answer (key lower case). Copied into the arena. */
int yw_rpc_call_add_trailer(yw_rpc_call *call, const char *key, const char *value);

/* ---- client ---------------------------------------------------------------------- */

typedef struct yw_rpc_client yw_rpc_client;
typedef struct yw_rpc_channel yw_rpc_channel;

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

/* Opens n_connections HTTP/2 connections to target ("127.0.0.1:50051"), used round
 * robin. max_message is the largest message accepted (bytes). NULL on ENOMEM. */
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

/* Calls grpc.health.v1.Health/Check on ch. Returns 0 when the server answers SERVING,
 * YW_EUNAVAIL otherwise. Blocks up to timeout_ms. */
int yw_rpc_health_check(yw_rpc_channel *ch, int64_t timeout_ms);

#endif
