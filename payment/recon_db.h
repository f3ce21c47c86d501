/*
 * recon_db.h - storing a parsed statement's rows and the results of matching it in
 * PostgreSQL (schema payment, migrations/010_recon.sql), in bulk: one COPY per table,
 * never one statement per row.
 *
 * Both functions run on the caller's connection inside the caller's transaction (they
 * do not begin or commit; the results' staging table lives until the commit), and are
 * bounded by the session's statement_timeout. They return 0, YW_EUNAVAIL (connection
 * lost), YW_EEXIST (rows of that statement already stored) or YW_EINTERNAL, with err
 * (may be NULL) holding the server's message.
 */
#ifndef PAY_RECON_DB_H
#define PAY_RECON_DB_H

#include <libpq-fe.h>
#include <stdint.h>

#include "recon.h"
#include "statement.h"
#include "yw_pg.h"

/* Copies every row of st into payment.statement_rows under statement_id. */
int pay_recon_store_rows(PGconn *conn, int64_t statement_id, const pay_statement *st,
                         yw_pg_error *err);

/* Stores n results of statement_id in payment.recon_results (channel_line from the
 * channel item's ref): copied into a temporary
 * table, then inserted where (statement_id, kind, key, dup) is not there yet, so a
 * re-run keeps the first run's classification. *inserted (may be NULL) gets how many
 * were new. Results must be in pay_recon_match's order (dup counts repeats of a key). */
int pay_recon_store_results(PGconn *conn, int64_t statement_id, const pay_recon_result *r,
                            size_t n, int64_t *inserted, yw_pg_error *err);

#endif
