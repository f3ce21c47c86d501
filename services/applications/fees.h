/*
 * fees.h - an application's fee (收费) and its payment through unified payment
 * (yw-payment): the fee kept at filing, asked for by yw-payment before it issues the
 * order (GetApplicationFee), recorded when yw-payment's payment.order_paid and
 * payment.refunded arrive on its stream, and the completion refused until it is paid.
 *
 * The functions for applications.c run inside its transactions, on its connection; they
 * return 0, a refusal with the call's status set (err left empty), or the code of a
 * failed statement with err filled.
 */
#ifndef FEES_H
#define FEES_H

#include "applications.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yw_events.h"

/* At filing, in the filing's transaction: keeps on application app_id the fee of the
 * item version it pins (item->fee->amount_fen when item->fee->required and the item
 * offers online payment, item->details->online_payment; else 0). */
int fees_file(PGconn *conn, const char *app_id, const Yiwang__Catalog__V1__Item *item, yw_pg_error *err);

/* The fee of application app_id into app->fee (in the call's arena). */
int fees_load(yw_rpc_call *call, PGconn *conn, const char *app_id,
              Yiwang__Applications__V1__Application *app, yw_pg_error *err);

/* Before application app_id (locked by the caller) becomes COMPLETED: FAILED_PRECONDITION
 * (status set) while its fee is not paid, else 0. */
int fees_check_completion(yw_rpc_call *call, PGconn *conn, const char *app_id, yw_pg_error *err);

/* GetApplicationFee (ApplicationsService): the fee of an application for its applicant,
 * on a call yw-payment forwarded (via=payment). data is the applications_ctx. */
int fees_get_application_fee(yw_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **out,
                             void *data);

/* The consumer's handler of yw-payment's stream: payment.order_paid, payment.refunded and
 * payment.order_reversed of orders whose source is APPLICATION recorded on the
 * application with a timeline row, application.status_changed (from_status = to_status,
 * reason 已缴费 / 已退费 / 缴费已冲正) and a feed.entry for the applicant; a reversal after
 * completion is recorded and leaves an alert for fees_consumer_config's after_commit;
 * every other event is not ours (0). arg is unused. */
int fees_handle_payment_event(PGconn *conn_in_tx, const yw_event *ev, void *arg);

/* The consumer of yw-payment's stream (group "applications", schema applications'
 * processed_events, an after_commit that writes the alerts of reversals after
 * completion) into cfg; stream and consumer must outlive it. */
void fees_consumer_config(const char *stream, const char *consumer, yw_events_consumer_config *cfg);

#endif
