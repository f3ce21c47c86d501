/*
 * yw_pg.h - PostgreSQL access with libpq: a connection pool, parameterised queries only,
 * transactions, and migrations applied in order at start-up.
 *
 * SQL text is always a constant; values travel as parameters ($1, $2 ...). There is no
 * function here that formats values into SQL.
 *
 * Ownership: a PGconn from yw_pg_pool_acquire belongs to the caller until
 * yw_pg_pool_release; a PGresult from yw_pg_query is the caller's (PQclear).
 * The pool is thread-safe; a PGconn is used by one thread at a time.
 */
#ifndef YW_PG_H
#define YW_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "yw_embed.h"

typedef struct yw_pg_pool yw_pg_pool;

typedef struct yw_pg_error {
  char sqlstate[6];
  char message[512];
} yw_pg_error;

/* Opens size connections to conninfo (a libpq connection string). Each session runs in
 * time zone Asia/Shanghai. Returns 0, YW_EUNAVAIL (with err) or YW_ENOMEM. */
int yw_pg_pool_new(const char *conninfo, int size, yw_pg_pool **out, yw_pg_error *err);

/* Closes every connection. Accepts NULL. No connection may still be acquired. */
void yw_pg_pool_free(yw_pg_pool *pool);

/* Waits up to timeout_ms for a free connection; reconnects a broken one. Returns NULL
 * when none could be had (the database is down or the pool is exhausted). */
PGconn *yw_pg_pool_acquire(yw_pg_pool *pool, int timeout_ms);

/* Returns conn to the pool. A connection left inside a transaction is rolled back. */
void yw_pg_pool_release(yw_pg_pool *pool, PGconn *conn);

/*
 * Runs one parameterised statement. params are text values (NULL = SQL NULL).
 * On success returns 0 and, when out is not NULL, the result (caller PQclear's it).
 * On failure returns a code mapped from SQLSTATE: YW_EEXIST (23505), YW_EPRECOND
 * (23503 and the project's own YW001 rule violations), YW_EINVAL (23514, 22xxx),
 * YW_ECONFLICT (40001, 40P01), YW_ETIMEOUT (57014), YW_EUNAVAIL (connection lost),
 * YW_EINTERNAL otherwise; err (may be NULL) gets SQLSTATE and the server's message.
 */
int yw_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                PGresult **out, yw_pg_error *err);

/* BEGIN / COMMIT / ROLLBACK. */
int yw_pg_begin(PGconn *conn, yw_pg_error *err);
int yw_pg_commit(PGconn *conn, yw_pg_error *err);
void yw_pg_rollback(PGconn *conn);

/*
 * Applies migrations to schema: creates the schema and its schema_migrations table, then
 * runs, in order, each file not yet recorded there, each in its own transaction with its
 * record. Holds an advisory lock so copies starting together apply each file once.
 * schema must match [a-z_]+. Returns 0 or an error code with err set.
 */
int yw_pg_migrate(PGconn *conn, const char *schema, const struct yw_embedded_file *files,
                  unsigned nfiles, yw_pg_error *err);

#endif
