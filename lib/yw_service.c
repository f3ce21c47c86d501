/*
 * yw_service.c - database helpers shared by the services' handlers.
 *
 * Offers: yw_service_db, yw_service_db_fail, yw_service_open_db, yw_service_serve.
 */
#include "yw_service.h"

#include "yw_err.h"
#include "yw_log.h"

PGconn *yw_service_db(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms) {
  int64_t left = yw_rpc_call_ms_left(call);
  int wait = left < wait_ms ? (int)(left > 0 ? left : 1) : wait_ms;
  PGconn *conn = yw_pg_pool_acquire(pool, wait);
  /* measured again: the wait for the connection came out of the same time */
  if (conn != NULL) yw_pg_set_deadline(conn, yw_rpc_call_ms_left(call));
  return conn;
}

int yw_service_db_fail(yw_rpc_call *call, int rc, const yw_pg_error *err) {
  if (rc == YW_EPRECOND || rc == YW_EINVAL || rc == YW_EEXIST)
    return yw_rpc_call_fail(call, rc, "%s", err->message);
  yw_log(YW_LOG_ERROR, "db.error", yw_rpc_call_request_id(call), "sqlstate %s: %s",
         err->sqlstate, err->message);
  if (rc == YW_ETIMEOUT)
    return yw_rpc_call_fail(call, YW_ETIMEOUT, "the database did not answer in time");
  return yw_rpc_call_fail(call, rc == YW_EUNAVAIL ? YW_EUNAVAIL : YW_EINTERNAL,
                          "the database failed");
}

int yw_service_open_db(const char *dsn, int pool_size, const char *schema,
                       const struct yw_embedded_file *migrations, unsigned n_migrations,
                       yw_pg_pool **out) {
  yw_pg_error err;
  int rc = yw_pg_pool_new(dsn, pool_size, out, &err);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "db.unavailable", NULL, "%s", err.message);
    return rc;
  }
  PGconn *conn = yw_pg_pool_acquire(*out, 5000);
  rc = conn != NULL ? yw_pg_migrate(conn, schema, migrations, n_migrations, &err) : YW_EUNAVAIL;
  yw_pg_pool_release(*out, conn);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "db.migration_failed", NULL, "%s: %s", schema,
           conn != NULL ? err.message : "no database connection");
    yw_pg_pool_free(*out);
    *out = NULL;
  }
  return rc;
}

/* The health probe: a query on a pooled connection, answered within a second even when
 * the database hangs. */
static int db_health(void *pool) { return yw_pg_pool_ping(pool, 1000); }

int yw_service_serve(const char *listen, const yw_service_limits *limits,
                     const yw_rpc_service *svc) {
  yw_rpc_server *server = NULL;
  int rc = yw_rpc_server_new_tls(listen, limits->threads, limits->tls, &server);
  if (rc == 0) rc = yw_rpc_server_set_queue(server, limits->queue);
  if (rc == 0 && limits->health_db != NULL)
    rc = yw_rpc_server_set_health(server, db_health, limits->health_db, 1000);
  if (rc == 0) rc = yw_rpc_server_add_service(server, svc);
  if (rc == 0) rc = yw_rpc_server_start(server);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "server.start_failed", NULL, "cannot serve on %s: %s", listen,
           yw_strerror(rc));
    yw_rpc_server_free(server);
    return rc;
  }
  yw_log(YW_LOG_INFO, "server.started", NULL, "serving %s on %s (%s)", svc->descriptor->name,
         listen, limits->tls != NULL ? "mutual TLS" : "cleartext");
  yw_rpc_server_wait_signal(server);
  yw_rpc_server_free(server);
  yw_log(YW_LOG_INFO, "server.stopped", NULL, "calls finished");
  return 0;
}
