/*
 * test_application_fees.c - an application's fee and its payment (services/applications/
 * fees.c) on the real runtime against a real PostgreSQL and Redis: yw-catalog and
 * yw-applications serve in this process (yw_testapps), and yw-payment's events come the
 * way they do in production: appended to a payment outbox in a transaction, relayed to
 * the stream <prefix>:events:{payment} by the real relay and read by the applications'
 * consumer (group applications) through Redis.
 *
 * Proves: the fee of the pinned item version is kept at filing and is due only once the
 * application is APPROVED (a fee the item has paid at the counter only is not held); completing it is refused (FAILED_PRECONDITION, nothing
 * changed) until it is paid, and the table's CHECK refuses a direct completion too;
 * GetApplicationFee answers only a call that came through yw-payment for the applicant
 * (the applicant straight from the gateway, another resident, staff: NOT_FOUND);
 * payment.order_paid of the application's order records order, amount and time once,
 * with one timeline row and one application.status_changed (APPROVED -> APPROVED, 已缴费)
 * and a feed entry, a second event for the paid application and an event of a
 * standalone notice change nothing, and the application then completes; a refund of the
 * whole fee before completion makes it due again (已退费) and completion is refused again.
 * payment.order_reversed of the order that paid makes the fee due again (paid cleared, one
 * step 缴费已冲正, GetApplicationFee says due), the same event delivered again and another
 * event of the same reversal change nothing, a reversal of a notice's or of another
 * order changes nothing, the reversed order's payment read later is not recorded, and a
 * new order's payment completes the application; after completion a reversal keeps the
 * payment, adds no step and writes the department's alert line once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fees.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/events/v1/payment.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_log.h"
#include "yw_testapps.h"

#define APPS "/yiwang.applications.v1.ApplicationsService/"
#define FEE_ITEM "XK00001000-320700-GA" /* 普通护照签发: 120.00 yuan paid online, 320700-GA alone */
#define COUNTER_ITEM "GG00001000-320700-GA" /* 居民身份证首次申领: 20.00 yuan at the counter only */
#define LEAD "320700-GA"

typedef Yiwang__Applications__V1__Application Application;
typedef Yiwang__Applications__V1__ApplicationFee Fee;
typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;
typedef yw_testapps_caller as;

static yw_testapps t;
static char stream[192];
static yw_events_consumer *consumer;

static const as RESIDENT = {YW_CALLER_PERSON, "p-payer", "", "", 2, NULL, NULL};
static const as OTHER_RESIDENT = {YW_CALLER_PERSON, "p-other", "", "", 2, NULL, NULL};
static const as GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff", LEAD, 0, NULL, NULL};

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testapps_start(&t, 8, 0, NULL, 0) != 0) return -1;
  /* yw-payment's outbox, as its .events = 1 makes it, in a schema of its own */
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 1000);
  yw_pg_error err;
  int rc = c != NULL ? yw_pg_query(c, "CREATE SCHEMA payment", 0, NULL, NULL, &err) : -1;
  if (rc == 0) rc = yw_events_migrate(c, "payment", &err);
  yw_pg_pool_release(t.app.pool, c);
  if (rc != 0) return -1;
  snprintf(stream, sizeof stream, "%s:events:{payment}", t.redis_prefix);
  yw_events_consumer_config cfg;
  fees_consumer_config(stream, "test-1", &cfg);
  cfg.block_ms = 100;
  return yw_events_consumer_new(t.app.pool, t.app.redis, &cfg, &consumer);
}

static int teardown(void **state) {
  (void)state;
  yw_events_consumer_free(consumer);
  yw_testapps_stop(&t);
  return 0;
}

/* ---- calls ------------------------------------------------------------------------- */

static void submit_item(const char *item, char number[24]) {
  Receipt *r = NULL;
  assert_int_equal(yw_testapps_submit(&t, &RESIDENT, item, "{}", (ProtobufCMessage **)&r, NULL, 0), GRPC_STATUS_OK);
  snprintf(number, 24, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static grpc_status_code step(const char *method, const char *number, char *msg, size_t msglen) {
  char path[128];
  snprintf(path, sizeof path, APPS "%s", method);
  Yiwang__Applications__V1__TransitionRequest req = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  req.department = LEAD;
  req.number = (char *)number;
  req.reason = "";
  return yw_testapps_call(&t, &GA_CLERK, NULL, path, &req.base, &yiwang__applications__v1__application__descriptor,
                          NULL, msg, msglen);
}

static void approve(const char *number) {
  assert_int_equal(yw_testapps_approve(&t, &GA_CLERK, number), GRPC_STATUS_OK);
}

static Application *get(const char *number) {
  Yiwang__Applications__V1__GetApplicationRequest req = YIWANG__APPLICATIONS__V1__GET_APPLICATION_REQUEST__INIT;
  req.number = (char *)number;
  Application *a = NULL;
  assert_int_equal(yw_testapps_call(&t, &RESIDENT, NULL, APPS "GetApplication", &req.base,
                                    &yiwang__applications__v1__application__descriptor, (ProtobufCMessage **)&a,
                                    NULL, 0),
                   GRPC_STATUS_OK);
  assert_non_null(a->fee);
  return a;
}

/* The last step of a's timeline is payment's, APPROVED -> APPROVED, with reason. */
static void assert_last_payment_step(const Application *a, const char *reason) {
  assert_true(a->n_timeline > 0);
  const Yiwang__Applications__V1__Transition *last = a->timeline[a->n_timeline - 1];
  assert_int_equal(last->from_status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  assert_int_equal(last->to_status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  assert_string_equal(last->actor, "payment");
  assert_string_equal(last->reason, reason);
}

static grpc_status_code get_fee(const as *who, const char *via, const char *number, Fee **out) {
  snprintf(t.via, sizeof t.via, "%s", via);
  Yiwang__Applications__V1__GetApplicationFeeRequest req =
      YIWANG__APPLICATIONS__V1__GET_APPLICATION_FEE_REQUEST__INIT;
  req.number = (char *)number;
  grpc_status_code s = yw_testapps_call(&t, who, NULL, APPS "GetApplicationFee", &req.base,
                                        &yiwang__applications__v1__application_fee__descriptor,
                                        (ProtobufCMessage **)out, NULL, 0);
  t.via[0] = '\0';
  return s;
}

static long long count(const char *sql, const char *param) {
  char v[64];
  assert_int_equal(yw_testapps_query1(&t, sql, param, v, sizeof v), 0);
  return strtoll(v, NULL, 10);
}

static void relay_and_consume(void);

/* yw-payment's side: the event appended in a transaction of its own, relayed to its
 * stream; then the applications' consumer reads until the stream has nothing more. */
static void payment_event(const char *type, const ProtobufCMessage *msg, const char *order_id) {
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 1000);
  assert_non_null(c);
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "BEGIN", 0, NULL, NULL, &err), 0);
  assert_int_equal(yw_events_append(c, "payment", type, 1, order_id, msg, NULL, &err), 0);
  assert_int_equal(yw_pg_query(c, "COMMIT", 0, NULL, NULL, &err), 0);
  yw_pg_pool_release(t.app.pool, c);
  relay_and_consume();
}

/* The payment outbox's unpublished row relayed, then read by the consumer until it has
 * acknowledged it (handled, or skipped as a copy already processed). */
static void relay_and_consume(void) {
  yw_pg_error err;
  yw_events_relay_config rcfg = {.schema = "payment", .stream = stream};
  assert_int_equal(yw_events_relay_run_once(t.app.pool, t.app.redis, &rcfg, 5000, &err), 1);
  /* a bounded poll: the entry is read and handled within a few rounds */
  int handled = 0;
  for (int i = 0; i < 20 && handled == 0; i++) {
    int n = yw_events_consumer_poll(consumer);
    assert_true(n >= 0);
    handled += n;
  }
  assert_int_equal(handled, 1);
}

/* The last payment event published again, the same event id (a relay that died between
 * XADD and its mark does so). */
static void republish_last(void) {
  char v[64];
  assert_int_equal(yw_testapps_query1(&t,
                                      "UPDATE payment.outbox SET published_at = NULL WHERE id ="
                                      " (SELECT max(id) FROM payment.outbox) RETURNING id",
                                      NULL, v, sizeof v),
                   0);
  relay_and_consume();
}

/* What payment.order_paid and payment.order_reversed of the fee's order both say. */
#define ORDER_EVENT(e, number, order_id, source) \
  do {                                           \
    (e).order_id = (char *)(order_id);           \
    (e).notice_code = "00000000000000000000";    \
    (e).source = (char *)(source);               \
    (e).application_number = (char *)(number);   \
    (e).payee_department = LEAD;                 \
    (e).item_code = FEE_ITEM;                    \
    (e).amount_fen = 12000;                      \
    (e).channel = "sim";                         \
    (e).out_trade_no = "0000000000000000000001"; \
    (e).payer_subject = (char *)RESIDENT.subject; \
  } while (0)

static void paid(const char *number, const char *order_id, const char *source) {
  Yiwang__Events__V1__PaymentOrderPaid e = YIWANG__EVENTS__V1__PAYMENT_ORDER_PAID__INIT;
  ORDER_EVENT(e, number, order_id, source);
  e.transaction_id = "4200000001";
  e.paid_at_unix_ms = 1764547200000LL; /* 2025-12-01T08:00:00+08:00 */
  payment_event("payment.order_paid", &e.base, order_id);
}

/* ---- tests ------------------------------------------------------------------------- */

static void fee_due_once_approved_and_completion_waits_for_it(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  Application *a = get(number);
  assert_int_equal(a->fee->amount_fen, 12000);
  assert_false(a->fee->due); /* SUBMITTED: nothing to pay yet */
  assert_false(a->fee->paid);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(count("SELECT fee_fen FROM applications.applications WHERE number = $1", number), 12000);

  approve(number);
  a = get(number);
  assert_true(a->fee->due);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  char msg[256] = "";
  assert_int_equal(step("CompleteApplication", number, msg, sizeof msg), GRPC_STATUS_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "120.00 yuan"));
  assert_int_equal(count("SELECT count(*) FROM applications.applications WHERE number = $1 AND status = 'approved'",
                         number),
                   1);
  /* whoever writes: the table refuses a completion of an unpaid fee */
  char v[64];
  assert_int_not_equal(yw_testapps_query1(&t,
                                          "UPDATE applications.applications SET status = 'completed'"
                                          " WHERE number = $1 RETURNING id",
                                          number, v, sizeof v),
                       0);

  /* a fee paid at the counter (no online payment offered) is not held here */
  submit_item(COUNTER_ITEM, number);
  approve(number);
  a = get(number);
  assert_int_equal(a->fee->amount_fen, 0);
  assert_false(a->fee->due);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step("CompleteApplication", number, NULL, 0), GRPC_STATUS_OK);
}

static void the_fee_is_told_only_to_payment_for_the_applicant(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  approve(number);
  Fee *f = NULL;
  assert_int_equal(get_fee(&RESIDENT, "payment", number, &f), GRPC_STATUS_OK);
  assert_string_equal(f->number, number);
  assert_int_equal(f->amount_fen, 12000);
  assert_true(f->due);
  assert_string_equal(f->applicant_subject, RESIDENT.subject);
  assert_string_equal(f->payee_department, LEAD);
  assert_string_equal(f->item_code, FEE_ITEM);
  assert_true(f->item_name[0] != '\0');
  assert_int_equal(f->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  protobuf_c_message_free_unpacked(&f->base, NULL);
  /* straight from the gateway (no via), another resident, staff: nothing */
  assert_int_equal(get_fee(&RESIDENT, "", number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_fee(&RESIDENT, "catalog", number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_fee(&OTHER_RESIDENT, "payment", number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_fee(&GA_CLERK, "payment", number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_fee(&RESIDENT, "payment", "123", NULL), GRPC_STATUS_INVALID_ARGUMENT);
}

static void order_paid_is_recorded_once_and_the_application_completes(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  approve(number);
  const char *order = "6f1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e11";
  long long events_before =
      count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1 AND type = 'application.status_changed'",
            number);
  /* a standalone notice's payment is not the application's */
  paid(number, "0a1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e12", "NOTICE");
  Application *a = get(number);
  assert_false(a->fee->paid);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  paid(number, order, "APPLICATION");
  a = get(number);
  assert_true(a->fee->paid);
  assert_false(a->fee->due);
  assert_string_equal(a->fee->order_id, order);
  assert_string_equal(a->fee->paid_at, "2025-12-01T08:00:00+08:00");
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  /* one step in the timeline: approved -> approved by payment, 已缴费 */
  assert_last_payment_step(a, "已缴费");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(
      count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1 AND type = 'application.status_changed'",
            number),
      events_before + 1);
  assert_int_equal(count("SELECT fee_paid_fen FROM applications.applications WHERE number = $1", number), 12000);

  /* another event for the paid application (a second order's, say) changes nothing */
  paid(number, "7f1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e13", "APPLICATION");
  assert_int_equal(count("SELECT count(*) FROM applications.application_transitions t JOIN"
                         " applications.applications a ON a.id = t.application_id"
                         " WHERE a.number = $1 AND t.reason = '已缴费'",
                         number),
                   1);
  a = get(number);
  assert_string_equal(a->fee->order_id, order);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  assert_int_equal(step("CompleteApplication", number, NULL, 0), GRPC_STATUS_OK);
  a = get(number);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__COMPLETED);
  protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void a_full_refund_before_completion_makes_the_fee_due_again(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  approve(number);
  const char *order = "8f1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e14";
  paid(number, order, "APPLICATION");
  Yiwang__Events__V1__PaymentRefunded e = YIWANG__EVENTS__V1__PAYMENT_REFUNDED__INIT;
  e.order_id = (char *)order;
  e.source = "APPLICATION";
  e.application_number = number;
  e.payee_department = LEAD;
  e.item_code = FEE_ITEM;
  e.amount_fen = 12000;
  e.refunded_total_fen = 12000;
  e.fully_refunded = 1;
  e.out_refund_no = "R0000000000000000000001";
  payment_event("payment.refunded", &e.base, order);
  Application *a = get(number);
  assert_false(a->fee->paid);
  assert_true(a->fee->due);
  assert_int_equal(a->fee->refunded_fen, 12000);
  assert_string_equal(a->timeline[a->n_timeline - 1]->reason, "已退费");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step("CompleteApplication", number, NULL, 0), GRPC_STATUS_FAILED_PRECONDITION);
}

static void reversed(const char *number, const char *order_id, const char *source) {
  Yiwang__Events__V1__PaymentOrderReversed e = YIWANG__EVENTS__V1__PAYMENT_ORDER_REVERSED__INIT;
  ORDER_EVENT(e, number, order_id, source);
  e.reason = "NOTPAY";
  e.reversed_at_unix_ms = 1764633600000LL; /* 2025-12-02T08:00:00+08:00 */
  payment_event("payment.order_reversed", &e.base, order_id);
}

/* The application's timeline rows of one reason (a string literal). */
#define STEPS_WITH_REASON(reason)                                                                     \
  "SELECT count(*) FROM applications.application_transitions t JOIN applications.applications a" \
  " ON a.id = t.application_id WHERE a.number = $1 AND t.reason = '" reason "'"

static void a_reversed_payment_makes_the_fee_due_again_once(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  approve(number);
  const char *order = "9f1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e15";
  paid(number, order, "APPLICATION");
  long long events_before =
      count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1 AND type = 'application.status_changed'",
            number);

  /* a notice's reversal, and a reversal of an order that paid nothing here: nothing */
  reversed(number, "1a1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e16", "NOTICE");
  reversed(number, "2a1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e17", "APPLICATION");
  Application *a = get(number);
  assert_true(a->fee->paid);
  assert_string_equal(a->fee->order_id, order);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  reversed(number, order, "APPLICATION");
  a = get(number);
  assert_false(a->fee->paid);
  assert_true(a->fee->due);
  assert_string_equal(a->fee->order_id, "");
  assert_string_equal(a->fee->paid_at, "");
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  assert_last_payment_step(a, "缴费已冲正");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* the step goes out to yw-progress and the resident's feed */
  assert_int_equal(
      count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1 AND type = 'application.status_changed'",
            number),
      events_before + 1);
  assert_int_equal(count("SELECT count(*) FROM applications.fee_reversals r JOIN applications.applications a"
                         " ON a.id = r.application_id WHERE a.number = $1 AND r.effect = 'due_again'",
                         number),
                   1);
  assert_int_equal(count("SELECT fee_paid_fen FROM applications.applications WHERE number = $1", number), 0);
  /* yw-payment, asked before it issues a new order, hears the fee is due again */
  Fee *f = NULL;
  assert_int_equal(get_fee(&RESIDENT, "payment", number, &f), GRPC_STATUS_OK);
  assert_true(f->due);
  assert_false(f->paid);
  protobuf_c_message_free_unpacked(&f->base, NULL);

  /* the same event delivered again, another event of the same reversal, and the
   * reversed order's payment read late: nothing more */
  republish_last();
  reversed(number, order, "APPLICATION");
  paid(number, order, "APPLICATION");
  assert_int_equal(count(STEPS_WITH_REASON("缴费已冲正"), number), 1);
  assert_int_equal(
      count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1 AND type = 'application.status_changed'",
            number),
      events_before + 1);
  a = get(number);
  assert_false(a->fee->paid);
  assert_true(a->fee->due);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step("CompleteApplication", number, NULL, 0), GRPC_STATUS_FAILED_PRECONDITION);

  /* a new order pays it, and the application completes */
  const char *again = "3a1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e18";
  paid(number, again, "APPLICATION");
  a = get(number);
  assert_true(a->fee->paid);
  assert_string_equal(a->fee->order_id, again);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step("CompleteApplication", number, NULL, 0), GRPC_STATUS_OK);
}

static void a_reversal_read_before_its_payment_keeps_the_fee_due(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  approve(number);
  const char *order = "4a1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e19";
  reversed(number, order, "APPLICATION");
  assert_int_equal(count(STEPS_WITH_REASON("缴费已冲正"), number), 0);
  paid(number, order, "APPLICATION");
  Application *a = get(number);
  assert_false(a->fee->paid);
  assert_true(a->fee->due);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(count(STEPS_WITH_REASON("已缴费"), number), 0);
}

static void a_reversal_after_completion_is_kept_and_alerted(void **state) {
  (void)state;
  char number[24];
  submit_item(FEE_ITEM, number);
  approve(number);
  const char *order = "5a1c2a52-5b8e-4d43-9d7e-3c1f8a0b7e1a";
  paid(number, order, "APPLICATION");
  assert_int_equal(step("CompleteApplication", number, NULL, 0), GRPC_STATUS_OK);
  Application *a = get(number);
  size_t steps_before = a->n_timeline;
  protobuf_c_message_free_unpacked(&a->base, NULL);

  /* stderr into a file while the event is handled, and delivered again */
  char path[] = "/tmp/yw-fee-alert-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  assert_true(saved >= 0);
  assert_true(dup2(fd, STDERR_FILENO) >= 0);
  reversed(number, order, "APPLICATION");
  republish_last();
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  static char log[65536];
  ssize_t n = pread(fd, log, sizeof log - 1, 0);
  close(fd);
  unlink(path);
  log[n > 0 ? n : 0] = '\0';
  const char *line = strstr(log, "applications.fee_reversed_after_completion");
  assert_non_null(line);
  assert_non_null(strstr(line, number));
  assert_non_null(strstr(line, LEAD));
  assert_non_null(strstr(line, "120.00 yuan"));
  assert_null(strstr(line + 1, "applications.fee_reversed_after_completion")); /* once */

  a = get(number);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__COMPLETED);
  assert_true(a->fee->paid);
  assert_false(a->fee->due);
  assert_string_equal(a->fee->order_id, order);
  assert_int_equal(a->n_timeline, steps_before);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.fee_reversals r JOIN applications.applications a"
                         " ON a.id = r.application_id WHERE a.number = $1 AND r.effect = 'after_completion'",
                         number),
                   1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fee_due_once_approved_and_completion_waits_for_it),
      cmocka_unit_test(the_fee_is_told_only_to_payment_for_the_applicant),
      cmocka_unit_test(order_paid_is_recorded_once_and_the_application_completes),
      cmocka_unit_test(a_full_refund_before_completion_makes_the_fee_due_again),
      cmocka_unit_test(a_reversed_payment_makes_the_fee_due_again_once),
      cmocka_unit_test(a_reversal_read_before_its_payment_keeps_the_fee_due),
      cmocka_unit_test(a_reversal_after_completion_is_kept_and_alerted),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
