/*
 * receipts.h - fiscal e-receipts (财政电子票据) of yw-payment: a BLUE receipt for each
 * paid order and a RED one (冲红) for each refund, signed with the deployment's seal
 * (lib/yw_seal.h), issued by a periodic pass, read by the payer, the payee department and
 * finance, verified by anyone holding one (yiwang.payment.v1.ReceiptsService,
 * receipts.proto).
 */
#ifndef RECEIPTS_H
#define RECEIPTS_H

#include "payment.h"
#include "yw_seal.h"

typedef struct receipts_ctx {
  payment_ctx *pay;     /* pool, data key (contents at rest, verify codes), caller keys */
  const yw_seal *seal;  /* signs and verifies; NULL: nothing is issued, VerifyReceipt UNAVAILABLE */
} receipts_ctx;

/* The service table; data points to rc, which must outlive the server. */
void receipts_service_init(yw_rpc_service *svc, receipts_ctx *rc);

/*
 * One pass: issues up to max receipts, each in a transaction of its own: first the BLUE
 * receipts of paid orders (PAID or REFUNDED) that have none, oldest payment first, then
 * the RED receipts of refunds that succeeded (once their order's BLUE one exists), then
 * the RED receipt of each payment reconciliation reversed whose BLUE one is out. Rows
 * another pass holds are skipped (FOR UPDATE SKIP LOCKED). *issued counts them. Returns
 * 0, YW_EUNAVAIL (no connection, no seal) or a query's code (err).
 */
int receipts_issue(receipts_ctx *rc, int max, int *issued, yw_pg_error *err);

typedef struct receipts_job receipts_job;

/* Runs receipts_issue every interval_ms on a thread of its own (at once again while a
 * pass finds a full batch). Returns 0 and *out, or YW_ENOMEM / YW_EINTERNAL. */
int receipts_start(receipts_ctx *rc, int interval_ms, int batch, receipts_job **out);

/* Stops the thread (after its current pass), joins it and frees. Accepts NULL. */
void receipts_stop(receipts_job *j);

/* The seal from the PEM private key file path ("": none, *out NULL). Returns 0, or -1 with
 * why. */
int receipts_seal_load(const char *path, yw_seal **out, char *why, size_t whylen);

#endif
