/*
 * yw_err.h - the one error enum of the project and its mapping to gRPC and HTTP.
 *
 * Every function in lib/ returns int: 0 on success, a negative YW_E* code on failure.
 * The mapping from a code to a gRPC status and from a gRPC status to an HTTP status
 * lives here and nowhere else.
 */
#ifndef YW_ERR_H
#define YW_ERR_H

#include <grpc/status.h>

enum yw_err {
  YW_OK = 0,
  YW_EINVAL = -1,       /* bad input from the caller: INVALID_ARGUMENT */
  YW_ENOMEM = -2,       /* allocation failed: RESOURCE_EXHAUSTED */
  YW_ENOTFOUND = -3,    /* NOT_FOUND */
  YW_EEXIST = -4,       /* ALREADY_EXISTS */
  YW_ETOOBIG = -5,      /* a buffer grown from input passed its cap: INVALID_ARGUMENT */
  YW_EUNAVAIL = -6,     /* a dependency (database, upstream) is unreachable: UNAVAILABLE */
  YW_ETIMEOUT = -7,     /* DEADLINE_EXCEEDED */
  YW_EPRECOND = -8,     /* a rule of the domain refuses the write: FAILED_PRECONDITION */
  YW_EPERM = -9,        /* PERMISSION_DENIED */
  YW_EUNAUTH = -10,     /* UNAUTHENTICATED */
  YW_ECONFLICT = -11,   /* concurrent change: ABORTED */
  YW_ELIMIT = -12,      /* rate or quota limit: RESOURCE_EXHAUSTED */
  YW_EINTERNAL = -13,   /* a bug or an unexpected state: INTERNAL */
  YW_EUNIMPL = -14,     /* UNIMPLEMENTED */
  YW_EIO = -15,         /* system call failed: INTERNAL */
  YW_ECANCELED = -16,   /* the caller went away: CANCELLED */
};

/* Returns a static English description of code; never NULL. */
const char *yw_strerror(int code);

/* Maps a YW_E* code to the gRPC status a server answers with. */
grpc_status_code yw_err_to_grpc(int code);

/* Maps a gRPC status from another service to the nearest YW_E* code (0 for OK), so a
 * service can pass a downstream failure on to its own caller. */
int yw_grpc_to_err(grpc_status_code status);

/* Maps a gRPC status to the HTTP status of the gateway's JSON answer. */
int yw_grpc_to_http(grpc_status_code status);

/* A service that needs to say more than its gRPC status names a reason in this trailing
 * metadata entry; the gateway maps status and reason together (yw_grpc_reason_to_http). */
#define YW_REASON_TRAILER "error-reason"
/* The Idempotency-Key was used before with another request: INVALID_ARGUMENT, HTTP 422. */
#define YW_REASON_IDEM_KEY_REUSED "IDEMPOTENCY_KEY_REUSED"
/* A request with the Idempotency-Key is still running: ABORTED, HTTP 409 (retry-after). */
#define YW_REASON_IDEM_IN_PROGRESS "IDEMPOTENCY_IN_PROGRESS"

/* A refusal of several fields at once (INVALID_ARGUMENT): this trailing metadata entry
 * holds a compact JSON array, ASCII only, of {"field": path, "reason": code} (a form's
 * violations, lib/yw_form.h), at most YW_FIELDS_TRAILER_MAX bytes; the gateway puts it in
 * its error body as "fieldViolations". Written by yw_service_fail_fields. */
#define YW_FIELDS_TRAILER "error-fields"
#define YW_FIELDS_TRAILER_MAX 6144

/* The HTTP status of a gRPC status that came with reason (NULL or "": none): 422 for
 * YW_REASON_IDEM_KEY_REUSED, yw_grpc_to_http(status) otherwise. */
int yw_grpc_reason_to_http(grpc_status_code status, const char *reason);

/* The canonical upper-case name of a gRPC status ("NOT_FOUND"); never NULL. */
const char *yw_grpc_status_name(grpc_status_code status);

/* Maps an HTTP status from a plain-HTTP peer to the closest gRPC status. */
grpc_status_code yw_http_to_grpc(int http_status);

#endif
