/*
 * test_payment_app_fee.c - orders for applications' fees (payment/app_fee.c) on the real
 * runtime against a real PostgreSQL and Redis: yw-catalog and yw-applications serve on
 * one yw_rpc_server (yw_testapps), yw-payment on a second one that names itself
 * "payment" to the services it calls, as yw-payment does; yw-payment asks
 * yw-applications for the fee over a real gRPC call (forwarded caller, via=payment). The
 * two schemas share the test's database; the services reach each other only by gRPC.
 *
 * Proves: a resident's application not yet approved has no fee due (FAILED_PRECONDITION,
 * no order); once APPROVED the applicant's request issues one order (source
 * APPLICATION, the application's number, the item version's 120.00 yuan, payable to the
 * lead department, CREATED in order_events), and a second request with another key
 * answers the same open order; another resident, and staff, get no order (NOT_FOUND /
 * PERMISSION_DENIED) and nothing is written; a request naming an amount or an item
 * beside the application is INVALID_ARGUMENT; the same key with the same request answers
 * the kept order; once the open order is closed the fee can be ordered again (a new
 * order); the unique index refuses a second open order written directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "payment.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_log.h"
#include "yw_testapps.h"

#define APPS "/yiwang.applications.v1.ApplicationsService/"
#define PAY "/yiwang.payment.v1.PaymentService/"
#define FEE_ITEM "XK00001000-320700-GA" /* 普通护照签发: 120.00 yuan paid online, 320700-GA alone */
#define LEAD "320700-GA"

typedef Yiwang__Payment__V1__Order Order;
typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;
typedef yw_testapps_caller as;

static yw_testapps t;
static payment_ctx pay;
static yw_rpc_service pay_svc;
static yw_rpc_server *pay_server;
static yw_rpc_channel *apps_channel, *to_payment;

static const as RESIDENT = {YW_CALLER_PERSON, "p-payer", "", "", 2, NULL, NULL};
static const as OTHER_RESIDENT = {YW_CALLER_PERSON, "p-other", "", "", 2, NULL, NULL};
static const as GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff", LEAD, 0, NULL, NULL};

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testapps_start(&t, 8, 0, NULL, 0) != 0) return -1;
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 1000);
  yw_pg_error err;
  int rc = c != NULL ? yw_pg_migrate(c, "payment", payment_migrations, payment_migrations_count, &err) : -1;
  if (rc == 0) rc = yw_events_migrate(c, "payment", &err);
  if (rc == 0) rc = yw_idem_migrate(c, "payment", &err);
  yw_pg_pool_release(t.app.pool, c);
  if (rc != 0) return -1;
  pay.pool = t.app.pool;
  pay.db_wait_ms = 5000;
  pay.caller_keys = t.app.caller_keys;
  for (size_t i = 0; i < sizeof pay.data_key; i++) pay.data_key[i] = (uint8_t)(i * 13 + 1);
  pay.applications = t.channel; /* yw-applications' server */
  payment_service_init(&pay_svc, &pay);
  if (yw_rpc_server_new("127.0.0.1:0", 4, &pay_server) != 0 ||
      yw_rpc_server_set_caller(pay_server, &pay.caller_keys, "payment") != 0 ||
      yw_rpc_server_add_service(pay_server, &pay_svc) != 0 || yw_rpc_server_start(pay_server) != 0)
    return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(pay_server));
  to_payment = yw_rpc_channel_new(t.client, target, 1, 4 << 20);
  apps_channel = t.channel;
  return to_payment != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  yw_rpc_server_free(pay_server);
  yw_rpc_channel_free(to_payment);
  yw_testapps_stop(&t);
  return 0;
}

/* ---- calls ------------------------------------------------------------------------- */

static grpc_status_code order_for(const as *who, const char *key, const char *number, int64_t amount, Order **out,
                                  char *msg) {
  Yiwang__Payment__V1__CreateOrderRequest r = YIWANG__PAYMENT__V1__CREATE_ORDER_REQUEST__INIT;
  r.application_number = (char *)number;
  r.amount_fen = amount;
  t.channel = to_payment; /* yw_testapps_call signs the caller as the gateway would */
  grpc_status_code s = yw_testapps_call(&t, who, key, PAY "CreateOrder", &r.base, &yiwang__payment__v1__order__descriptor,
                                        (ProtobufCMessage **)out, msg, msg != NULL ? 256 : 0);
  t.channel = apps_channel;
  return s;
}

static void approve(const char *number) {
  assert_int_equal(yw_testapps_approve(&t, &GA_CLERK, number), GRPC_STATUS_OK);
}

static void submit(char number[24]) {
  Receipt *r = NULL;
  assert_int_equal(yw_testapps_submit(&t, &RESIDENT, FEE_ITEM, "{}", (ProtobufCMessage **)&r, NULL, 0),
                   GRPC_STATUS_OK);
  snprintf(number, 24, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static long long orders_of(const char *number) {
  char v[32];
  assert_int_equal(yw_testapps_query1(&t, "SELECT count(*) FROM payment.orders WHERE application_number = $1", number,
                                      v, sizeof v),
                   0);
  return strtoll(v, NULL, 10);
}

/* ---- tests ------------------------------------------------------------------------- */

static void the_applicant_gets_one_open_order_once_approved(void **state) {
  (void)state;
  char number[24], msg[256] = "";
  submit(number);
  /* SUBMITTED: nothing is due yet */
  assert_int_equal(order_for(&RESIDENT, "k-early", number, 0, NULL, msg), GRPC_STATUS_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "no fee due"));
  assert_int_equal(orders_of(number), 0);

  approve(number);
  Order *o = NULL;
  assert_int_equal(order_for(&RESIDENT, "k-1", number, 0, &o, msg), GRPC_STATUS_OK);
  assert_int_equal(o->source, YIWANG__PAYMENT__V1__ORDER_SOURCE__ORDER_SOURCE_APPLICATION);
  assert_int_equal(o->status, YIWANG__PAYMENT__V1__ORDER_STATUS__ORDER_STATUS_CREATED);
  assert_string_equal(o->application_number, number);
  assert_int_equal(o->amount_fen, 12000);
  assert_string_equal(o->payee_department, LEAD);
  assert_string_equal(o->item_code, FEE_ITEM);
  assert_string_equal(o->payer_subject, RESIDENT.subject);
  char id[40];
  snprintf(id, sizeof id, "%s", o->id);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  char v[32];
  assert_int_equal(yw_testapps_query1(&t,
                                      "SELECT count(*) FROM payment.order_events WHERE order_id = $1::uuid"
                                      " AND to_status = 'CREATED'",
                                      id, v, sizeof v),
                   0);
  assert_string_equal(v, "1");

  /* a second request (another key): the same open order; the same key: its kept answer */
  assert_int_equal(order_for(&RESIDENT, "k-2", number, 0, &o, NULL), GRPC_STATUS_OK);
  assert_string_equal(o->id, id);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  assert_int_equal(order_for(&RESIDENT, "k-1", number, 0, &o, NULL), GRPC_STATUS_OK);
  assert_string_equal(o->id, id);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  assert_int_equal(orders_of(number), 1);

  /* not theirs: another resident, staff; an amount beside the application */
  assert_int_equal(order_for(&OTHER_RESIDENT, "k-3", number, 0, NULL, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(order_for(&GA_CLERK, "k-4", number, 0, NULL, NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(order_for(&RESIDENT, "k-5", number, 1, NULL, NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(order_for(&RESIDENT, "k-6", "12345", 0, NULL, NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(orders_of(number), 1);

  /* whoever writes: no second open order of one application */
  assert_int_not_equal(yw_testapps_query1(&t,
                                          "INSERT INTO payment.orders (notice_code, source, application_number,"
                                          " amount_fen, payee_department, item_code, item_name, payer_name_enc,"
                                          " created_by, expires_at) VALUES ('00000000000000000001', 'APPLICATION',"
                                          " $1, 2000, 'x', 'x', 'x', 'x', 'x', now()) RETURNING id",
                                          number, v, sizeof v),
                       0);

  /* the open order closes unpaid: the fee is ordered again, a new order */
  assert_int_equal(yw_testapps_query1(&t,
                                      "UPDATE payment.orders SET status = 'CLOSED' WHERE id = $1::uuid RETURNING id",
                                      id, v, sizeof v),
                   0);
  assert_int_equal(order_for(&RESIDENT, "k-7", number, 0, &o, NULL), GRPC_STATUS_OK);
  assert_string_not_equal(o->id, id);
  assert_int_equal(o->status, YIWANG__PAYMENT__V1__ORDER_STATUS__ORDER_STATUS_CREATED);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  assert_int_equal(orders_of(number), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_applicant_gets_one_open_order_once_approved),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
