/*
 * yw_err.c - descriptions of the project's error codes and the one place where codes
 * map to gRPC statuses and gRPC statuses map to HTTP statuses.
 *
 * Offers: yw_strerror, yw_err_to_grpc, yw_grpc_to_err, yw_grpc_to_http,
 * yw_grpc_reason_to_http, yw_grpc_status_name, yw_http_to_grpc.
 */
#include "yw_err.h"

#include <stddef.h>
#include <string.h>

const char *yw_strerror(int code) {
  switch (code) {
  case YW_OK: return "success";
  case YW_EINVAL: return "invalid argument";
  case YW_ENOMEM: return "out of memory";
  case YW_ENOTFOUND: return "not found";
  case YW_EEXIST: return "already exists";
  case YW_ETOOBIG: return "input too large";
  case YW_EUNAVAIL: return "service unavailable";
  case YW_ETIMEOUT: return "deadline exceeded";
  case YW_EPRECOND: return "failed precondition";
  case YW_EPERM: return "permission denied";
  case YW_EUNAUTH: return "unauthenticated";
  case YW_ECONFLICT: return "conflict";
  case YW_ELIMIT: return "limit exceeded";
  case YW_EINTERNAL: return "internal error";
  case YW_EUNIMPL: return "unimplemented method";
  case YW_EIO: return "i/o error";
  case YW_ECANCELED: return "cancelled by the caller";
  default: return "unknown error";
  }
}

grpc_status_code yw_err_to_grpc(int code) {
  switch (code) {
  case YW_OK: return GRPC_STATUS_OK;
  case YW_EINVAL:
  case YW_ETOOBIG: return GRPC_STATUS_INVALID_ARGUMENT;
  case YW_ENOMEM:
  case YW_ELIMIT: return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case YW_ENOTFOUND: return GRPC_STATUS_NOT_FOUND;
  case YW_EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
  case YW_EUNAVAIL: return GRPC_STATUS_UNAVAILABLE;
  case YW_ETIMEOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
  case YW_EPRECOND: return GRPC_STATUS_FAILED_PRECONDITION;
  case YW_EPERM: return GRPC_STATUS_PERMISSION_DENIED;
  case YW_EUNAUTH: return GRPC_STATUS_UNAUTHENTICATED;
  case YW_ECONFLICT: return GRPC_STATUS_ABORTED;
  case YW_EUNIMPL: return GRPC_STATUS_UNIMPLEMENTED;
  case YW_ECANCELED: return GRPC_STATUS_CANCELLED;
  default: return GRPC_STATUS_INTERNAL;
  }
}

int yw_grpc_to_err(grpc_status_code status) {
  switch (status) {
  case GRPC_STATUS_OK: return YW_OK;
  case GRPC_STATUS_INVALID_ARGUMENT:
  case GRPC_STATUS_OUT_OF_RANGE: return YW_EINVAL;
  case GRPC_STATUS_RESOURCE_EXHAUSTED: return YW_ELIMIT;
  case GRPC_STATUS_NOT_FOUND: return YW_ENOTFOUND;
  case GRPC_STATUS_ALREADY_EXISTS: return YW_EEXIST;
  case GRPC_STATUS_UNAVAILABLE: return YW_EUNAVAIL;
  case GRPC_STATUS_DEADLINE_EXCEEDED: return YW_ETIMEOUT;
  case GRPC_STATUS_FAILED_PRECONDITION: return YW_EPRECOND;
  case GRPC_STATUS_PERMISSION_DENIED: return YW_EPERM;
  case GRPC_STATUS_UNAUTHENTICATED: return YW_EUNAUTH;
  case GRPC_STATUS_ABORTED: return YW_ECONFLICT;
  case GRPC_STATUS_UNIMPLEMENTED: return YW_EUNIMPL;
  case GRPC_STATUS_CANCELLED: return YW_ECANCELED;
  default: return YW_EINTERNAL;
  }
}

int yw_grpc_to_http(grpc_status_code status) {
  switch (status) {
  case GRPC_STATUS_OK: return 200;
  case GRPC_STATUS_CANCELLED: return 499;
  case GRPC_STATUS_INVALID_ARGUMENT:
  case GRPC_STATUS_OUT_OF_RANGE: return 400;
  case GRPC_STATUS_UNAUTHENTICATED: return 401;
  case GRPC_STATUS_PERMISSION_DENIED: return 403;
  case GRPC_STATUS_NOT_FOUND: return 404;
  case GRPC_STATUS_ALREADY_EXISTS:
  case GRPC_STATUS_ABORTED: return 409;
  case GRPC_STATUS_FAILED_PRECONDITION: return 412;
  case GRPC_STATUS_RESOURCE_EXHAUSTED: return 429;
  case GRPC_STATUS_UNIMPLEMENTED: return 501;
  case GRPC_STATUS_UNAVAILABLE: return 503;
  case GRPC_STATUS_DEADLINE_EXCEEDED: return 504;
  default: return 500;
  }
}

int yw_grpc_reason_to_http(grpc_status_code status, const char *reason) {
  if (reason != NULL && status == GRPC_STATUS_INVALID_ARGUMENT &&
      strcmp(reason, YW_REASON_IDEM_KEY_REUSED) == 0)
    return 422; /* RFC 9110 Unprocessable Content, as the Idempotency-Key draft asks */
  return yw_grpc_to_http(status);
}

const char *yw_grpc_status_name(grpc_status_code status) {
  static const char *const names[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
      "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if ((int)status < 0 || (size_t)status >= sizeof names / sizeof names[0]) return "UNKNOWN";
  return names[status];
}

grpc_status_code yw_http_to_grpc(int http_status) {
  switch (http_status) {
  case 400: return GRPC_STATUS_INVALID_ARGUMENT;
  case 401: return GRPC_STATUS_UNAUTHENTICATED;
  case 403: return GRPC_STATUS_PERMISSION_DENIED;
  case 404: return GRPC_STATUS_NOT_FOUND;
  case 409: return GRPC_STATUS_ABORTED;
  case 429: return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case 501: return GRPC_STATUS_UNIMPLEMENTED;
  case 502:
  case 503: return GRPC_STATUS_UNAVAILABLE;
  case 504: return GRPC_STATUS_DEADLINE_EXCEEDED;
  default: return http_status >= 200 && http_status < 300 ? GRPC_STATUS_OK : GRPC_STATUS_UNKNOWN;
  }
}
