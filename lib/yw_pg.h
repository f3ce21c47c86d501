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
 *
 * Time: every connection has connect_timeout (added to the connection string when it has
 * none, or has 0). A user of a connection may give it a deadline (yw_pg_set_deadline):
 * then each statement runs with a statement_timeout a little under the time left, the
 * wait for its answer ends at the deadline, and a reconnection never waits past it. A
 * connection whose answer was not waited for is re-established before its next use.
 * Without a deadline statements may run as long as the server lets them (migrations).
 *
 * Broken connections: yw_pg_pool_acquire notices a pooled connection the server closed
 * (a restart) and re-establishes it before handing it out. A statement that still finds
 * its connection broken (PQstatus CONNECTION_BAD before any result) is run once more on
 * a re-established connection, within the deadline, only when all of these hold:
 *   - the session was outside a transaction block when it started (inside one the
 *     caller must see the failure: the work before it is gone);
 *   - it is a read (yw_pg_query_read, or yw_pg_query with a statement recognised as one,
 *     see yw_pg_query), or it is known not to have run: the connection failed while the
 *     statement was being prepared, before it was sent for execution.
 * A statement sent on a connection already broken fails at once with YW_EUNAVAIL.
 * Session state other than the time zone does not survive a re-establishment (session
 * advisory locks, SET values): hold such state only inside a transaction.
 *
 * Behind pgbouncer in transaction pooling, statement_timeout (a session setting) is
 * best effort; the client-side bound on waits holds regardless.
 */
#ifndef YW_PG_H
#define YW_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "yw_embed.h"

typedef struct yw_pg_pool yw_pg_pool;

typedef struct yw_pg_error {
  char sqlstate[6];
  char message[512];
} yw_pg_error;

/* Opens size connections to conninfo (a libpq connection string or URI; connect_timeout=5
 * is added unless it sets a positive one, and each connection attempt is bounded by it).
 * Each session runs in time zone Asia/Shanghai. Returns 0, YW_EINVAL (conninfo does not
 * parse; err says why), YW_EUNAVAIL (with err) or YW_ENOMEM. */
int yw_pg_pool_new(const char *conninfo, int size, yw_pg_pool **out, yw_pg_error *err);

/* Closes every connection. Accepts NULL. No connection may still be acquired. */
void yw_pg_pool_free(yw_pg_pool *pool);

/* Waits up to timeout_ms for a free connection. A connection found broken or closed by
 * the server (checked without a round trip: its status and whether its idle socket has
 * anything to read) is re-established first, within the same timeout_ms. Returns NULL
 * when none could be had in time (the database is down or the pool is exhausted). The
 * connection comes without a deadline. */
PGconn *yw_pg_pool_acquire(yw_pg_pool *pool, int timeout_ms);

/* Returns conn to the pool and clears its deadline (the statement_timeout it implied is
 * reset before the next statement that runs without one). A connection left inside a
 * transaction is rolled back, waiting a short grace past an expired deadline at most.
 * Accepts NULL. */
void yw_pg_pool_release(yw_pg_pool *pool, PGconn *conn);

/* Sets the deadline of the current use of conn to ms_left milliseconds from now
 * (INT64_MAX: none; 0 or less: already over, so statements fail with YW_ETIMEOUT
 * without being sent). Statements then run with statement_timeout slightly under the
 * time left (set only when it changes, outside transactions), and no wait for an answer
 * or a reconnection outlasts the deadline. Lasts until yw_pg_pool_release or the next
 * call. For a call's handler: yw_pg_set_deadline(conn, yw_rpc_call_ms_left(call)). */
void yw_pg_set_deadline(PGconn *conn, int64_t ms_left);

/* Runs SELECT 1 on a pooled connection and answers within timeout_ms in every case:
 * 0 when it succeeded, YW_EUNAVAIL otherwise (no free connection in time, database
 * unreachable, no answer in time). For health checks. */
int yw_pg_pool_ping(yw_pg_pool *pool, int timeout_ms);

/*
 * Runs one parameterised statement. params are text values (NULL = SQL NULL).
 * On success returns 0 and, when out is not NULL, the result (caller PQclear's it).
 * On failure returns a code mapped from SQLSTATE: YW_EEXIST (23505), YW_EPRECOND
 * (23503 and the project's own YW001 rule violations), YW_EINVAL (23514, 22xxx),
 * YW_ECONFLICT (40001, 40P01), YW_ETIMEOUT (57014), YW_EUNAVAIL (connection lost),
 * YW_EINTERNAL otherwise; err (may be NULL) gets SQLSTATE and the server's message.
 * YW_ETIMEOUT also when the deadline passed before the answer came (or before sending).
 *
 * Statements are prepared once per session (named by a hash of sql) and executed by name.
 *
 * A statement counts as a read, run once more on a re-established connection as the
 * header comment says, when its first word is SELECT, WITH, VALUES, TABLE or SHOW and,
 * outside quotes and comments, no word of it is INSERT, UPDATE, DELETE, MERGE, INTO,
 * COPY, CALL, DO, LOCK, SHARE, NEXTVAL, SETVAL, SET_CONFIG or PG_NOTIFY, or starts with
 * PG_ADVISORY, PG_TRY_ADVISORY, LO_ or DBLINK (text with a dollar quote is never a read).
 * A SELECT of a function that writes cannot be told apart: run it with
 * yw_pg_query_write, or inside a transaction.
 */
int yw_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                PGresult **out, yw_pg_error *err);

/* yw_pg_query for a statement the caller vouches is a read without side effects: it is
 * run again on a re-established connection as the header comment says. */
int yw_pg_query_read(PGconn *conn, const char *sql, int nparams, const char *const *params,
                     PGresult **out, yw_pg_error *err);

/* yw_pg_query for a statement that must never run twice, whatever it looks like: it is
 * run again only when it is known not to have been sent for execution. */
int yw_pg_query_write(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      PGresult **out, yw_pg_error *err);

/* BEGIN / COMMIT / ROLLBACK. A ROLLBACK is not sent on a broken connection, nor when
 * there is no transaction to end; its wait is bounded by the deadline with a short
 * grace. yw_pg_commit sends nothing when the session is outside a transaction with
 * nothing deferred (the transaction was committed with its last statement by
 * yw_pg_query_commit, or none was begun) and then returns 0. */
int yw_pg_begin(PGconn *conn, yw_pg_error *err);
/* A transaction the server aborted (a failed statement the caller went past) is not
 * kept: its COMMIT, which the server answers ROLLBACK, returns YW_EINTERNAL (SQLSTATE
 * 25P02), here and as yw_pg_query_commit's. */
int yw_pg_commit(PGconn *conn, yw_pg_error *err);
/* 1 when the session is inside a transaction block, or has a BEGIN deferred (nothing
 * sent yet: libpq still says idle); else 0. */
int yw_pg_in_transaction(PGconn *conn);
void yw_pg_rollback(PGconn *conn);

/*
 * Fewer round trips (libpq pipeline mode). A deferred statement is not sent at once: it
 * goes ahead of the next statement run on conn through yw_pg_query* or yw_pg_commit, in
 * the same round trip (one pipeline, one sync). When it fails, the statements behind it
 * are skipped by the server, and that next call returns the deferred statement's error
 * (its code and SQLSTATE, as for any statement); inside a transaction block the
 * transaction is then aborted as usual. yw_pg_rollback and yw_pg_pool_release forget
 * what is still deferred. A deferred statement's result is not seen: defer only
 * statements whose answer is "done" (BEGIN, SAVEPOINT, SET, set_config). While
 * something is deferred the session counts as inside a transaction (no statement is
 * run again on a re-established connection). Use these only on a connection whose
 * statements all go through this module: a statement sent with libpq directly (COPY)
 * would run before what is deferred.
 */
#define YW_PG_DEFER_MAX 4        /* statements deferred at once */
#define YW_PG_DEFER_PARAMS 2     /* parameters of one, each copied */
#define YW_PG_DEFER_PARAM_MAX 64 /* bytes of one parameter, with its NUL */

/* Defers sql (a constant: the text is not copied; the parameters are). Returns 0,
 * YW_ETOOBIG (YW_PG_DEFER_MAX deferred already, or a parameter too long) or YW_ENOMEM. */
int yw_pg_defer(PGconn *conn, const char *sql, int nparams, const char *const *params);

/* BEGIN, deferred: sent with the transaction's first statement. Sent at once (as
 * yw_pg_begin) when it cannot be deferred. Same returns as yw_pg_begin. */
int yw_pg_begin_deferred(PGconn *conn, yw_pg_error *err);

/* yw_pg_query_write for the last statement of a transaction: what is deferred, the
 * statement and COMMIT go in one round trip. 0 when both succeeded (the transaction is
 * committed; a later yw_pg_commit sends nothing); otherwise the code and SQLSTATE of the
 * statement, or of COMMIT when the statement succeeded (a deferred constraint's check,
 * a serialization failure): the transaction is then rolled back or aborted, and the
 * caller rolls back as after any failure. */
int yw_pg_query_commit(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       PGresult **out, yw_pg_error *err);

/* 1 when schema may be spliced into SQL as a service's schema: [a-z_]+, 1..48 bytes.
 * Schema names cannot be parameters; modules that work in a service's schema (events,
 * idempotency) accept only such names. */
int yw_pg_schema_ok(const char *schema);

/* Copies the SQL text tmpl into out (len bytes) with each "{S}" replaced by schema,
 * double-quoted. Returns 0, YW_EINVAL (schema fails yw_pg_schema_ok) or YW_ETOOBIG. */
int yw_pg_schema_sql(char *out, size_t len, const char *tmpl, const char *schema);

/* data as a bytea parameter in hex input form ("\x0a1b..."), NUL-terminated, in
 * out (at least 2 * len + 3 bytes). Returns out. */
char *yw_pg_bytea_hex(char *out, const uint8_t *data, size_t len);

/*
 * Applies migrations to schema: creates the schema and its schema_migrations table when
 * they do not exist, then runs, in order, each file not yet recorded there, each in its
 * own transaction with its record. Holds an advisory lock so copies starting together
 * apply each file once. With every file recorded it runs no DDL, so a service may run
 * as a role that cannot create anything once the owner has applied the migrations.
 * schema must match [a-z_]+. Returns 0 or an error code with err set.
 */
int yw_pg_migrate(PGconn *conn, const char *schema, const struct yw_embedded_file *files,
                  unsigned nfiles, yw_pg_error *err);

#endif
