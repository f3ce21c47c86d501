/*
 * recon_db.h - storing a parsed statement's rows and the results of matching it in
 * PostgreSQL (schema payment, migrations/010_recon.sql), in bulk: one COPY per table,
 * never one statement per row; and booking the settlement of a statement's rows.
 *
 * Every function runs on the caller's connection inside the caller's transaction (they
 * do not begin or commit; the results' staging table lives until the commit), and is
 * bounded by the session's statement_timeout. The storing ones return 0, YW_EUNAVAIL
 * (connection lost), YW_EEXIST (rows of that statement already stored) or YW_EINTERNAL,
 * with err (may be NULL) holding the server's message.
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

/*
 * Settlement: the channel's money for a statement row reaches clearing_bank net of its
 * fee. One journal per row, kind "settle", ref "<channel>:<statement id>:<kind>:<key>:<dup>"
 * (kind PAY or REFUND, key the out_trade_no or out_refund_no, dup the row's position
 * among the statement's rows of that key, so each of two rows of one key is settled; a
 * first row settled before the refs named the position has the ref without ":<dup>"):
 * Dr clearing_bank
 * (amount - fee), Dr channel_fee:<channel> (fee) / Cr channel_receivable:<channel>
 * (amount); a refund's amount and fee are negative, so its postings are the reverse.
 * The ref names the statement, so a statement that replaces another settles its rows
 * under its own refs once the other's settlements are reversed (pay_recon_unsettle).
 */

/* Books the settlement of one row of statement_id (0: the channel's current statement
 * of the day of at, Asia/Shanghai), the row dup (>= 0) of its kind and key: amount
 * signed (a payment +, a refund -), fee as the
 * statement has it, at the row's success time (unix seconds). Returns 0 when booked, 1
 * when booked before (nothing written), YW_EPRECOND when statement_id is 0 and the day
 * has no current statement, or a ledger_post / yw_pg_query code with err set. */
int pay_recon_settle_row(PGconn *conn, const char *channel, int64_t statement_id, const char *kind,
                         const char *key, int dup, int64_t amount, int64_t fee, int64_t at,
                         yw_pg_error *err);

/* Settles every MATCHED result of statement_id (of channel) not settled yet. *settled
 * gets how many journals were booked, *settled_fen the fen they moved (refunds
 * negative). 0, or a pay_recon_settle_row code. */
int pay_recon_settle_matched(PGconn *conn, const char *channel, int64_t statement_id,
                             int64_t *settled, int64_t *settled_fen, yw_pg_error *err);

/* Reverses the settlements of statement_id (of channel), which another statement has
 * just replaced: each of its settle journals gets one "settle_reversal" journal with
 * the same ref, the same effective time and the opposite postings (new journals, never
 * an update; a second call books nothing). *reversed_fen gets the fen taken back from
 * clearing_bank. One statement whatever the number of rows. 0 or a yw_pg_query code. */
int pay_recon_unsettle(PGconn *conn, const char *channel, int64_t statement_id,
                       int64_t *reversed_fen, yw_pg_error *err);

#endif
