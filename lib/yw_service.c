/*
 * yw_service.c - database helpers shared by the services' handlers.
 *
 * Offers: yw_service_db, yw_service_db_fail.
 */
#include "yw_service.h"

#include "yw_err.h"
#include "yw_log.h"

PGconn *yw_service_db(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms) {
  int64_t left = yw_rpc_call_ms_left(call);
  int wait = left < wait_ms ? (int)(left > 0 ? left : 1) : wait_ms;
  return yw_pg_pool_acquire(pool, wait);
}

int yw_service_db_fail(yw_rpc_call *call, int rc, const yw_pg_error *err) {
  if (rc == YW_EPRECOND || rc == YW_EINVAL || rc == YW_EEXIST)
    return yw_rpc_call_fail(call, rc, "%s", err->message);
  yw_log(YW_LOG_ERROR, "db.error", yw_rpc_call_request_id(call), "sqlstate %s: %s",
         err->sqlstate, err->message);
  return yw_rpc_call_fail(call, rc == YW_EUNAVAIL ? YW_EUNAVAIL : YW_EINTERNAL,
                          "the database failed");
}
