/*
 * test_payment_orders.c - payment orders on yw-payment (in-process, real gRPC, real
 * PostgreSQL and Redis).
 *
 * Proves: department staff issue a notice payable to their own department: CREATED, a
 * valid 20-digit notice code, the amount, the default expiry of 2 days, a CREATED row in
 * order_events, the payer's name not stored in clear; the same Idempotency-Key answers
 * the same order and writes nothing more, the same key with another body is refused,
 * and a call without a key is refused; bad input (amount 0 or too large, expiry past 30
 * days, a malformed item code, no payer name) is refused and writes nothing; a resident
 * cannot issue notices; an issue writes its audit record (notice.issue) once; the payer
 * and the payee department read the order in clear, finance too, an auditor with the
 * payer masked, another resident and another department are answered NOT_FOUND; anyone
 * with the notice code reads it with the payer's name masked, and a code with a wrong
 * check digit is refused (INVALID_ARGUMENT) without a lookup; after it all the ledger
 * is sound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "notice_code.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_testpay.h"

typedef Yiwang__Payment__V1__Order Order;
#define ORDER_DESC (&yiwang__payment__v1__order__descriptor)

static char order_id[40], notice[24];

static int setup(void **state) {
  (void)state;
  return yw_testpay_start();
}

static int teardown(void **state) {
  (void)state;
  yw_testpay_stop();
  return 0;
}

static grpc_status_code create(const char *key, int64_t fen, const char *item, int days, Order **out) {
  Yiwang__Payment__V1__CreateOrderRequest r = YIWANG__PAYMENT__V1__CREATE_ORDER_REQUEST__INIT;
  r.item_code = (char *)item;
  r.item_name = "交通违法罚款";
  r.amount_fen = fen;
  r.payer_name = "张三丰";
  r.payer_subject = "p-100";
  r.expires_in_days = days;
  return yw_testpay_call("CreateOrder", &r.base, ORDER_DESC, key, (ProtobufCMessage **)out, NULL);
}

static void staff_issue_a_notice_once_per_key(void **state) {
  (void)state;
  yw_testpay_as_staff("s-ga", "320700-GA", "dept_staff");
  Order *o = NULL;
  assert_int_equal(create("k-1", 20000, "FINE01", 0, &o), GRPC_STATUS_OK);
  assert_int_equal(o->status, YIWANG__PAYMENT__V1__ORDER_STATUS__ORDER_STATUS_CREATED);
  assert_int_equal(o->source, YIWANG__PAYMENT__V1__ORDER_SOURCE__ORDER_SOURCE_NOTICE);
  assert_true(notice_code_valid(o->notice_code));
  assert_int_equal(o->amount_fen, 20000);
  assert_string_equal(o->payee_department, "320700-GA");
  assert_string_equal(o->payer_name, "张三丰");
  assert_non_null(o->expires_at);
  assert_non_null(o->created_at);
  long long days = (o->expires_at->seconds - o->created_at->seconds + 60) / 86400;
  assert_int_equal(days, 2);
  snprintf(order_id, sizeof order_id, "%s", o->id);
  snprintf(notice, sizeof notice, "%s", o->notice_code);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  /* the issue is audited in its transaction: who, which department, the amount */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE action = 'notice.issue' AND target = $1 "
                                    "AND actor = 's-ga' AND department = '320700-GA' AND detail LIKE 'amount_fen=20000 %'",
                                    order_id),
                   1);

  /* the same key: the same order, nothing more written */
  assert_int_equal(create("k-1", 20000, "FINE01", 0, &o), GRPC_STATUS_OK);
  assert_string_equal(o->id, order_id);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.order_events WHERE to_status = 'CREATED'"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE action = 'notice.issue'"), 1);
  /* the same key with another amount: refused */
  assert_int_equal(create("k-1", 20001, "FINE01", 0, &o), GRPC_STATUS_INVALID_ARGUMENT);
  /* no key: refused */
  assert_int_equal(create(NULL, 20000, "FINE01", 0, &o), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders"), 1);
  /* the payer's name is not kept in clear */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE payer_name_enc LIKE '%张%'"), 0);
  yw_testpay_assert_ledger_ok();
}

static void bad_input_and_residents_are_refused(void **state) {
  (void)state;
  Order *o = NULL;
  yw_testpay_as_staff("s-ga", "320700-GA", "dept_staff");
  assert_int_equal(create("k-2", 0, "FINE01", 0, &o), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(create("k-3", 10000000001LL, "FINE01", 0, &o), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(create("k-4", 100, "FINE01", 31, &o), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(create("k-5", 100, "FINE 01", 0, &o), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(create("k-6", 100, "FINE01'--", 0, &o), GRPC_STATUS_INVALID_ARGUMENT);
  yw_testpay_as_person("p-100");
  assert_int_equal(create("k-7", 100, "FINE01", 0, &o), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders"), 1);
}

static grpc_status_code get(const char *id, Order **out) {
  Yiwang__Payment__V1__GetOrderRequest r = YIWANG__PAYMENT__V1__GET_ORDER_REQUEST__INIT;
  r.id = (char *)id;
  return yw_testpay_call("GetOrder", &r.base, ORDER_DESC, NULL, (ProtobufCMessage **)out, NULL);
}

static void only_the_payer_the_payee_and_finance_read_an_order(void **state) {
  (void)state;
  Order *o = NULL;
  yw_testpay_as_person("p-100");
  assert_int_equal(get(order_id, &o), GRPC_STATUS_OK);
  assert_string_equal(o->payer_name, "张三丰");
  protobuf_c_message_free_unpacked(&o->base, NULL);
  yw_testpay_as_staff("s-ga2", "320700-GA", "dept_staff");
  assert_int_equal(get(order_id, &o), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&o->base, NULL);
  yw_testpay_as_staff("f-1", "", "finance");
  assert_int_equal(get(order_id, &o), GRPC_STATUS_OK);
  assert_string_equal(o->payer_name, "张三丰");
  protobuf_c_message_free_unpacked(&o->base, NULL);
  /* an auditor reads the order with the payer masked, as any other non-owner */
  yw_testpay_as_staff("a-1", "", "auditor");
  assert_int_equal(get(order_id, &o), GRPC_STATUS_OK);
  assert_string_not_equal(o->payer_name, "张三丰");
  assert_non_null(strstr(o->payer_name, "*"));
  assert_string_equal(o->payer_subject, "");
  protobuf_c_message_free_unpacked(&o->base, NULL);
  yw_testpay_as_person("p-200");
  assert_int_equal(get(order_id, &o), GRPC_STATUS_NOT_FOUND);
  yw_testpay_as_staff("s-sw", "320700-SW", "dept_staff");
  assert_int_equal(get(order_id, &o), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get("not-a-uuid", &o), GRPC_STATUS_NOT_FOUND);
}

static grpc_status_code lookup(const char *code, Order **out) {
  Yiwang__Payment__V1__GetNoticeRequest r = YIWANG__PAYMENT__V1__GET_NOTICE_REQUEST__INIT;
  r.code = (char *)code;
  return yw_testpay_call("GetNotice", &r.base, ORDER_DESC, NULL, (ProtobufCMessage **)out, NULL);
}

static void anyone_with_the_code_reads_the_notice_masked(void **state) {
  (void)state;
  Order *o = NULL;
  yw_testpay_as_anonymous();
  assert_int_equal(lookup(notice, &o), GRPC_STATUS_OK);
  assert_string_equal(o->id, order_id);
  assert_int_equal(o->amount_fen, 20000);
  assert_string_not_equal(o->payer_name, "张三丰");
  assert_non_null(strstr(o->payer_name, "*"));
  assert_string_equal(o->payer_subject, "");
  protobuf_c_message_free_unpacked(&o->base, NULL);
  char wrong[24];
  snprintf(wrong, sizeof wrong, "%s", notice);
  wrong[19] = wrong[19] == '9' ? '0' : (char)(wrong[19] + 1);
  assert_int_equal(lookup(wrong, &o), GRPC_STATUS_INVALID_ARGUMENT);
  char swapped[24];
  snprintf(swapped, sizeof swapped, "%s", notice);
  for (int i = 3; i < 18; i++)
    if (swapped[i] != swapped[i + 1]) {
      char t = swapped[i];
      swapped[i] = swapped[i + 1];
      swapped[i + 1] = t;
      break;
    }
  assert_int_equal(lookup(swapped, &o), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(lookup("123", &o), GRPC_STATUS_INVALID_ARGUMENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(staff_issue_a_notice_once_per_key),
      cmocka_unit_test(bad_input_and_residents_are_refused),
      cmocka_unit_test(only_the_payer_the_payee_and_finance_read_an_order),
      cmocka_unit_test(anyone_with_the_code_reads_the_notice_masked),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
