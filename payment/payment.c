/*
 * payment.c - PaymentService: payment orders, paying them on a channel, the channels'
 * notifications and refunds (payment/README.md).
 *
 * Offers: payment_service_init.
 */
#include "payment.h"

#include <string.h>

#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_err.h"
#include "yw_service.h"

#define SCHEMA "payment"

static int not_yet(yw_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **out, void *data) {
  (void)req;
  (void)out;
  (void)data;
  return yw_rpc_call_fail(call, YW_EUNIMPL, "not yet served");
}

static const yw_rpc_method methods[] = {
    {.name = "CreateOrder", .fn = not_yet}, {.name = "GetOrder", .fn = not_yet},
    {.name = "GetNotice", .fn = not_yet},   {.name = "PayOrder", .fn = not_yet},
    {.name = "GetOrderQr", .fn = not_yet},  {.name = "Notify", .fn = not_yet},
    {.name = "RefundOrder", .fn = not_yet},
};

void payment_service_init(yw_rpc_service *svc, payment_ctx *ctx) {
  svc->descriptor = &yiwang__payment__v1__payment_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
  memset(&ctx->idem_create, 0, sizeof ctx->idem_create);
  ctx->idem_create.schema = SCHEMA;
  ctx->idem_create.keys = &ctx->caller_keys;
  ctx->idem_create.response = &yiwang__payment__v1__order__descriptor;
  ctx->idem_create.require_key = 1;
  ctx->idem_create.redis = ctx->redis;
  ctx->idem_create.redis_prefix = ctx->redis_prefix;
  ctx->idem_create.db_wait_ms = ctx->db_wait_ms;
  ctx->idem_create.seal_key = ctx->data_key; /* the answer carries the payer's name */
  ctx->idem_refund = ctx->idem_create;
  ctx->idem_refund.response = &yiwang__payment__v1__refund__descriptor;
}
