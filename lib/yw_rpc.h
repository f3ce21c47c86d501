/*
 * yw_rpc.h - gRPC on the core C library for protobuf-c services: a server that serves
 * any service from its ProtobufCServiceDescriptor and a client for unary calls.
 *
 * Server: a handler table per service, generic unpack/pack, N handler threads fed by a
 * bounded queue (past it calls are refused at once with RESOURCE_EXHAUSTED and a
 * retry-after trailer), deadlines, metadata in and out, the caller's cancellation seen
 * while the handler runs, grpc.health.v1.Health/Check built in (with an optional probe
 * of the service's own dependencies), and a graceful shutdown on SIGINT/SIGTERM that
 * finishes in-flight calls.
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
 * threads handler threads (and a queue of 4 x threads calls). Returns 0, YW_EIO when
 * the port cannot be bound, or YW_ENOMEM. */
int yw_rpc_server_new(const char *addr, int threads, yw_rpc_server **out);

/* Sets how many calls may wait for a free handler thread; past threads + max_queue
 * calls in progress, new calls are answered RESOURCE_EXHAUSTED (retry-after: 1) at once.
 * Before start. Returns 0 or YW_EINVAL. */
int yw_rpc_server_set_queue(yw_rpc_server *s, int max_queue);

/* A probe of what the service needs to serve (its database): 0 when it can serve. It
 * must bound its own wait (it runs on its own thread, every interval). */
typedef int (*yw_rpc_health_fn)(void *arg);

/* Makes grpc.health.v1.Health/Check answer NOT_SERVING while fn fails. fn runs once at
 * start and then every interval_ms on a thread of its own; the check itself never
 * waits for it. Before start. Returns 0 or YW_EINVAL. */
int yw_rpc_server_set_health(yw_rpc_server *s, yw_rpc_health_fn fn, void *arg, int interval_ms);

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
