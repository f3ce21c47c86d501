/*
 * app_fee.h - orders for applications' fees (yw-payment): a resident asks CreateOrder for
 * their application's fee with applicationNumber; yw-payment asks yw-applications
 * (GetApplicationFee, forwarded over mutual TLS) what is due and answers the
 * application's one open order, issuing it when there is none (app_fee.c).
 */
#ifndef APP_FEE_H
#define APP_FEE_H

#include "payment.h"

/* CreateOrder with application_number set (payment.c hands it over before anything
 * else): the caller must be a resident; the other fields but expiresInDays empty. Defers
 * the call and asks ctx->applications; answers the order (idempotent by the call's key
 * through yw_idem_run, like every CreateOrder). Returns what the handler returns. */
int app_fee_create_order(yw_rpc_call *call, payment_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out);

#endif
