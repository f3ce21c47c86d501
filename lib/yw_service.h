/*
 * yw_service.h - small pieces every service handler needs around its database: a
 * pooled connection within the caller's deadline, and one way to turn a database
 * error into the call's status.
 */
#ifndef YW_SERVICE_H
#define YW_SERVICE_H

#include "yw_pg.h"
#include "yw_rpc.h"

/* A pooled connection, waiting at most wait_ms and never past the caller's deadline,
 * with the caller's deadline set on it (yw_pg_set_deadline): its statements and any
 * reconnection end by then. NULL when none could be had (answer UNAVAILABLE). */
PGconn *yw_service_db(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms);

/* Sets the call's status for a failed query and returns the code to answer with:
 * rule violations (constraints, the project's YW0xx rules) carry the database's
 * message; anything else is logged with its SQLSTATE and answered as UNAVAILABLE,
 * DEADLINE_EXCEEDED (YW_ETIMEOUT: statement_timeout or the deadline) or INTERNAL
 * without details. */
int yw_service_db_fail(yw_rpc_call *call, int rc, const yw_pg_error *err);

/* Opens a pool of pool_size connections to dsn and applies schema's migrations (under
 * their advisory lock). Returns 0 and *out, or a code after logging why (the pool is
 * closed then). */
int yw_service_open_db(const char *dsn, int pool_size, const char *schema,
                       const struct yw_embedded_file *migrations, unsigned n_migrations,
                       yw_pg_pool **out);

/* How a service serves: handler threads, calls that may wait for one (past both, calls
 * are refused at once with RESOURCE_EXHAUSTED), the database its health check probes
 * (NULL: none), and its mutual TLS (NULL: cleartext; see yw_rpc_tls_from_settings). */
typedef struct yw_service_limits {
  int threads;
  int queue;
  yw_pg_pool *health_db;
  const yw_rpc_tls *tls;
} yw_service_limits;

/* Serves svc on listen until SIGINT or SIGTERM, then finishes the calls in flight. The
 * health check answers NOT_SERVING while health_db does not answer a query within a
 * second. Returns 0 after a clean stop, or a code when it could not start (logged). */
int yw_service_serve(const char *listen, const yw_service_limits *limits,
                     const yw_rpc_service *svc);

#endif
