/*
 * test_payment_receipts.c - fiscal e-receipts (payment/receipts.c) on yw-payment
 * in-process (yw_testpay: real gRPC, real PostgreSQL and Redis); ReceiptsService on a
 * server of its own over the same database. Orders are paid and refunded by the
 * payment service's own booking (pay_book_paid, pay_book_refund), as a channel's
 * notification books them.
 *
 * Proves: a paid order gets exactly one BLUE receipt from the periodic pass (a second
 * pass issues nothing; the unique index refuses a second one written directly), numbered
 * <issuer>-<year>-<10 digits>, whose content is canonical JSON with the order's amount,
 * item, issuer and payer, and whose SM2 signature verifies with the seal's public key
 * alone; an order not paid gets none; a partial refund gets one RED receipt for the
 * refunded amount referring to the BLUE one, once; the payer reads both whole, another
 * resident gets NOT_FOUND; anyone with the number and verify code learns it is genuine
 * with the payer masked, a wrong code is NOT_FOUND; a tampered content does not verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "finance.h"
#include "receipts.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yiwang/payment/v1/receipts.pb-c.h"
#include "yw_err.h"
#include "yw_seal.h"
#include "yw_testpay.h"
#include "yw_testrpc.h"

typedef Yiwang__Payment__V1__Order Order;
typedef Yiwang__Payment__V1__Receipt Receipt;

static receipts_ctx rc;
static yw_seal *seal, *public_only;
static char *priv_pem, *pub_pem;
static yw_rpc_service rsvc;
static yw_test_rpc rrpc;

static int setup(void **state) {
  (void)state;
  if (yw_testpay_start() != 0) return -1;
  if (yw_seal_generate(&priv_pem, &pub_pem) != 0 || yw_seal_from_pem(priv_pem, strlen(priv_pem), &seal) != 0 ||
      yw_seal_from_pem(pub_pem, strlen(pub_pem), &public_only) != 0)
    return -1;
  rc.pay = &yw_testpay_ctx;
  rc.seal = seal;
  receipts_service_init(&rsvc, &rc);
  return yw_test_rpc_start(&rsvc, 2, 1, &rrpc);
}

static int teardown(void **state) {
  (void)state;
  yw_test_rpc_stop(&rrpc);
  yw_testpay_stop();
  yw_seal_free(seal);
  yw_seal_free(public_only);
  free(priv_pem);
  free(pub_pem);
  return 0;
}

/* ReceiptsService's method as caller (NULL: anonymous). */
static grpc_status_code rcall(const yw_caller *caller, const char *method, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out) {
  char path[128], value[YW_CALLER_VALUE_MAX], sig[65], m[256];
  snprintf(path, sizeof path, "/yiwang.payment.v1.ReceiptsService/%s", method);
  yw_rpc_md md[2];
  size_t n = 0;
  if (caller != NULL) {
    yw_caller c = *caller;
    c.ts = (long long)time(NULL);
    assert_int_equal(yw_caller_encode(&c, yw_testpay_ctx.caller_keys.current, path, "", value, sizeof value, sig), 0);
    md[n++] = (yw_rpc_md){"x-yw-caller", value, 0};
    md[n++] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
  }
  *out = NULL;
  return yw_rpc_call_sync(rrpc.channel, path, req, desc, NULL, out, md, n, 10000, m, sizeof m);
}

static yw_caller person(const char *subject) {
  yw_caller c;
  memset(&c, 0, sizeof c);
  c.kind = YW_CALLER_PERSON;
  c.level = 2;
  snprintf(c.subject, sizeof c.subject, "%s", subject);
  return c;
}

/* A notice of fen for p-payer, issued by staff of 320700-GA: its id and notice code. */
static void issue(int64_t fen, char id[40], char code[24]) {
  yw_testpay_as_staff("s-ga", "320700-GA", "dept_staff");
  Yiwang__Payment__V1__CreateOrderRequest r = YIWANG__PAYMENT__V1__CREATE_ORDER_REQUEST__INIT;
  r.item_code = "FEE-PASSPORT";
  r.item_name = "普通护照签发费";
  r.amount_fen = fen;
  r.payer_name = "张三丰";
  r.payer_subject = "p-payer";
  char key[32];
  snprintf(key, sizeof key, "k-%lld-%ld", (long long)fen, (long)random());
  Order *o = NULL;
  assert_int_equal(yw_testpay_call("CreateOrder", &r.base, &yiwang__payment__v1__order__descriptor, key,
                                   (ProtobufCMessage **)&o, NULL),
                   GRPC_STATUS_OK);
  snprintf(id, 40, "%s", o->id);
  snprintf(code, 24, "%s", o->notice_code);
  protobuf_c_message_free_unpacked(&o->base, NULL);
}

static void sql(PGconn *c, const char *q, int n, const char *const *p) {
  yw_pg_error err;
  int rc_ = yw_pg_query(c, q, n, p, NULL, &err);
  if (rc_ != 0) fprintf(stderr, "%s: %s\n", q, err.message);
  assert_int_equal(rc_, 0);
}

/* The order paid on channel sim as a notification books it. */
static void pay(const char *id, const char *code, int64_t fen) {
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  char otn[32], amount[24];
  snprintf(otn, sizeof otn, "%s01", code);
  snprintf(amount, sizeof amount, "%lld", (long long)fen);
  sql(c, "BEGIN", 0, NULL);
  assert_int_equal(pay_order_transition(c, id, "CREATED", "PAYING", "test", "test", NULL, &err), 0);
  const char *p[] = {otn, id, amount};
  sql(c,
      "INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, channel, mchid, amount_fen)"
      " VALUES ($1, $2::uuid, 1, 'sim', '1900000001', $3::bigint)",
      3, p);
  pay_book_outcome outcome = 0;
  assert_int_equal(pay_book_paid(c, "sim", otn, "4200000001", fen, (int64_t)time(NULL), 0, "test", &outcome, &err), 0);
  assert_int_equal(outcome, PAY_BOOK_PAID);
  sql(c, "COMMIT", 0, NULL);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
}

/* A refund of fen of the paid order, booked as the channel's SUCCESS books it. */
static void refund(const char *id, const char *code, int64_t fen) {
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  char otn[32], orn[40], amount[24];
  snprintf(otn, sizeof otn, "%s01", code);
  snprintf(orn, sizeof orn, "%sR01", otn);
  snprintf(amount, sizeof amount, "%lld", (long long)fen);
  const char *p[] = {id, orn, otn, amount};
  sql(c, "BEGIN", 0, NULL);
  const char *pu[] = {id, amount};
  sql(c, "UPDATE payment.orders SET refunded_fen = refunded_fen + $2::bigint WHERE id = $1::uuid", 2, pu);
  sql(c,
      "INSERT INTO payment.refunds (order_id, out_refund_no, out_trade_no, channel, amount_fen, reason, requested_by)"
      " VALUES ($1::uuid, $2, $3, 'sim', $4::bigint, 'test', 's-fin')",
      4, p);
  int booked = 0;
  assert_int_equal(pay_book_refund(c, orn, "5000000001", (int64_t)time(NULL), &booked, &err), 0);
  assert_int_equal(booked, 1);
  sql(c, "COMMIT", 0, NULL);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
}

/* Two refunds of one order booked at the same time (review2 #1): each booking runs in a
 * transaction of its own on a connection of its own. */
struct book_arg {
  const char *orn;
  int rc, booked;
  atomic_int pid; /* its session's backend, once it has one */
};

static void *book_one(void *a_) {
  struct book_arg *a = a_;
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  a->rc = -1;
  if (c == NULL) return NULL;
  atomic_store(&a->pid, PQbackendPID(c));
  yw_pg_error err;
  if (yw_pg_query(c, "BEGIN", 0, NULL, NULL, &err) == 0) {
    a->rc = pay_book_refund(c, a->orn, "5000000009", (int64_t)time(NULL), &a->booked, &err);
    if (yw_pg_query(c, a->rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, &err) != 0 && a->rc == 0) a->rc = -1;
  }
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  return NULL;
}

/* Proves: two partial refunds summing to the amount, booked at once while both wait for
 * the order's lock, leave the order REFUNDED (the second booking sees the first). */
static void test_concurrent_refund_bookings_end_refunded(void **state) {
  (void)state;
  char id[40], code[24];
  issue(10000, id, code);
  pay(id, code, 10000);
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  char otn[32], orn[2][40];
  snprintf(otn, sizeof otn, "%s01", code);
  for (int i = 0; i < 2; i++) {
    snprintf(orn[i], sizeof orn[i], "%sC%d", otn, i);
    const char *p[] = {id, orn[i], otn};
    sql(c,
        "INSERT INTO payment.refunds (order_id, out_refund_no, out_trade_no, channel, amount_fen, reason, "
        "requested_by) VALUES ($1::uuid, $2, $3, 'sim', 5000, 'test', 's-fin')",
        3, p);
  }
  const char *pid[] = {id};
  sql(c, "UPDATE payment.orders SET refunded_fen = 10000 WHERE id = $1::uuid", 1, pid);
  /* hold the order's lock so both bookings start and wait */
  sql(c, "BEGIN", 0, NULL);
  sql(c, "SELECT 1 FROM payment.orders WHERE id = $1::uuid FOR UPDATE", 1, pid);
  struct book_arg a[2] = {{.orn = orn[0], .rc = -1}, {.orn = orn[1], .rc = -1}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, book_one, &a[i]), 0);
  /* both bookings' own sessions wait for a lock (no other session of the database counts) */
  int waiting = 0;
  for (int tries = 0; tries < 1000 && waiting < 2; tries++) { /* bounded: 10 s */
    char pid[2][16];
    for (int i = 0; i < 2; i++) snprintf(pid[i], sizeof pid[i], "%d", atomic_load(&a[i].pid));
    waiting = (int)yw_testpay_count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND pid IN ($1::int, $2::int)",
                                    pid[0], pid[1]);
    if (waiting < 2) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  sql(c, "COMMIT", 0, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  assert_int_equal(waiting, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(a[i].rc, 0);
    assert_int_equal(a[i].booked, 1);
  }
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE id = $1::uuid AND status = 'REFUNDED'", id), 1);
  yw_testpay_assert_ledger_ok();
}

static int pass(void) {
  int issued = -1;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int code = receipts_issue(&rc, 10, &issued, &err);
  if (code != 0) fprintf(stderr, "receipts_issue: %s %s\n", yw_strerror(code), err.message);
  assert_int_equal(code, 0);
  return issued;
}

static void receipts_of(const yw_caller *who, const char *id, Yiwang__Payment__V1__OrderReceipts **out,
                        grpc_status_code want) {
  Yiwang__Payment__V1__GetOrderReceiptRequest q = YIWANG__PAYMENT__V1__GET_ORDER_RECEIPT_REQUEST__INIT;
  q.id = (char *)id;
  assert_int_equal(rcall(who, "GetOrderReceipt", &q.base, &yiwang__payment__v1__order_receipts__descriptor,
                         (ProtobufCMessage **)out),
                   want);
}

static void test_one_blue_receipt_per_paid_order(void **state) {
  (void)state;
  char id[40], code[24], unpaid[40], ucode[24];
  issue(12000, id, code);
  issue(3000, unpaid, ucode);
  assert_int_equal(pass(), 0); /* nothing paid: nothing issued */
  pay(id, code, 12000);
  assert_int_equal(pass(), 1);
  assert_int_equal(pass(), 0); /* exactly once */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.receipts WHERE order_id = $1", unpaid), 0);

  yw_caller payer = person("p-payer");
  Yiwang__Payment__V1__OrderReceipts *rs = NULL;
  receipts_of(&payer, id, &rs, GRPC_STATUS_OK);
  assert_int_equal(rs->n_receipts, 1);
  Receipt *b = rs->receipts[0];
  assert_int_equal(b->kind, YIWANG__PAYMENT__V1__RECEIPT_KIND__RECEIPT_KIND_BLUE);
  assert_int_equal(b->amount_fen, 12000);
  assert_string_equal(b->issuer, "320700-GA");
  assert_string_equal(b->item_name, "普通护照签发费");
  assert_string_equal(b->payer, "张三丰");
  assert_string_equal(b->order_id, id);
  assert_int_equal(strlen(b->number), strlen("320700-GA-2026-0000000001"));
  assert_int_equal(strncmp(b->number, "320700-GA-", 10), 0);
  assert_int_equal(strlen(b->verify_code), 16);
  /* canonical: the stored content is its own canonical form */
  char *canon = NULL;
  assert_int_equal(yw_seal_canonical_json(b->content, strlen(b->content), &canon), 0);
  assert_string_equal(canon, b->content);
  free(canon);
  assert_non_null(strstr(b->content, "\"amountFen\":12000"));
  /* the signature verifies with the public key alone; a changed content does not */
  assert_int_equal(yw_seal_verify(public_only, b->content, strlen(b->content), b->signature), 0);
  char *tampered = strdup(b->content);
  char *at = strstr(tampered, "12000");
  at[0] = '9';
  assert_int_not_equal(yw_seal_verify(public_only, tampered, strlen(tampered), b->signature), 0);
  free(tampered);

  /* anyone with the number and code: genuine, payer masked; a wrong code: nothing */
  Yiwang__Payment__V1__VerifyReceiptRequest v = YIWANG__PAYMENT__V1__VERIFY_RECEIPT_REQUEST__INIT;
  v.number = b->number;
  v.verify_code = b->verify_code;
  Yiwang__Payment__V1__ReceiptVerification *ans = NULL;
  assert_int_equal(rcall(NULL, "VerifyReceipt", &v.base, &yiwang__payment__v1__receipt_verification__descriptor,
                         (ProtobufCMessage **)&ans),
                   GRPC_STATUS_OK);
  assert_true(ans->genuine);
  assert_string_equal(ans->receipt->number, b->number);
  assert_int_equal(ans->receipt->amount_fen, 12000);
  assert_string_equal(ans->receipt->payer, "*三丰");
  assert_string_equal(ans->receipt->content, "");
  protobuf_c_message_free_unpacked(&ans->base, NULL);
  v.verify_code = "0000000000000000";
  assert_int_equal(rcall(NULL, "VerifyReceipt", &v.base, &yiwang__payment__v1__receipt_verification__descriptor,
                         (ProtobufCMessage **)&ans),
                   GRPC_STATUS_NOT_FOUND);

  /* the seal's public key, to anyone: it verifies the receipt, and its fingerprint is
   * the one openssl computes from the PEM */
  Yiwang__Payment__V1__GetSealKeyRequest kr = YIWANG__PAYMENT__V1__GET_SEAL_KEY_REQUEST__INIT;
  Yiwang__Payment__V1__SealKey *key = NULL;
  assert_int_equal(rcall(NULL, "GetSealKey", &kr.base, &yiwang__payment__v1__seal_key__descriptor,
                         (ProtobufCMessage **)&key),
                   GRPC_STATUS_OK);
  assert_string_equal(key->algorithm, "SM2-SM3");
  assert_string_equal(key->user_id, "1234567812345678");
  assert_non_null(strstr(key->public_key_pem, "-----BEGIN PUBLIC KEY-----"));
  yw_seal *published = NULL;
  assert_int_equal(yw_seal_from_pem(key->public_key_pem, strlen(key->public_key_pem), &published), 0);
  assert_int_equal(yw_seal_verify(published, b->content, strlen(b->content), b->signature), 0);
  yw_seal_free(published);
  char pem_path[] = "/tmp/yw-seal-pub.XXXXXX";
  int fd = mkstemp(pem_path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, key->public_key_pem, strlen(key->public_key_pem)),
                   (ssize_t)strlen(key->public_key_pem));
  close(fd);
  char cmd[160], line[128] = "";
  snprintf(cmd, sizeof cmd, "openssl pkey -pubin -in %s -outform DER | sha256sum", pem_path);
  FILE *sh = popen(cmd, "r");
  assert_non_null(sh);
  assert_non_null(fgets(line, sizeof line, sh));
  pclose(sh);
  unlink(pem_path);
  assert_int_equal(strncmp(key->fingerprint, "SHA256:", 7), 0);
  assert_int_equal(strncmp(key->fingerprint + 7, line, 64), 0);
  protobuf_c_message_free_unpacked(&key->base, NULL);

  /* whoever writes: no second BLUE receipt of the order */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.receipts WHERE order_id = $1 AND kind = 'BLUE'", id), 1);
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  const char *p[] = {id};
  yw_pg_error err;
  assert_int_not_equal(yw_pg_query(c,
                                   "INSERT INTO payment.receipts (number, kind, order_id, issuer, year, amount_fen,"
                                   " content_enc, signature) VALUES ('x-2026-1', 'BLUE', $1::uuid, 'x', '2026', 1,"
                                   " 'x', 'x')",
                                   1, p, NULL, &err),
                       0);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  protobuf_c_message_free_unpacked(&rs->base, NULL);

  /* another resident: nothing */
  yw_caller other = person("p-other");
  receipts_of(&other, id, &rs, GRPC_STATUS_NOT_FOUND);

  /* a partial refund: one RED receipt for its amount, naming the BLUE one */
  refund(id, code, 5000);
  assert_int_equal(pass(), 1);
  assert_int_equal(pass(), 0);
  receipts_of(&payer, id, &rs, GRPC_STATUS_OK);
  assert_int_equal(rs->n_receipts, 2);
  Receipt *red = rs->receipts[1];
  assert_int_equal(red->kind, YIWANG__PAYMENT__V1__RECEIPT_KIND__RECEIPT_KIND_RED);
  assert_int_equal(red->amount_fen, 5000);
  assert_string_equal(red->original_number, rs->receipts[0]->number);
  assert_string_not_equal(red->number, rs->receipts[0]->number);
  assert_int_equal(yw_seal_verify(public_only, red->content, strlen(red->content), red->signature), 0);
  protobuf_c_message_free_unpacked(&rs->base, NULL);
  yw_testpay_assert_ledger_ok();
}

/* A payment reconciliation reverses (the channel never took it) after its BLUE receipt
 * was issued: the next pass issues its RED counterpart once, for the BLUE amount, naming
 * the BLUE one and no refund; the order is EXCEPTION and payment.order_reversed is in the
 * outbox; the index refuses a second reversal RED. */
static void test_a_reversed_payment_gets_its_red_receipt(void **state) {
  (void)state;
  char id[40], code[24], otn[32];
  while (pass() > 0) continue; /* what the tests before left */
  issue(4200, id, code);
  pay(id, code, 4200);
  assert_int_equal(pass(), 1); /* BLUE */
  snprintf(otn, sizeof otn, "%s01", code);
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  yw_pg_error err;
  int reversed = 0;
  sql(c, "BEGIN", 0, NULL);
  assert_int_equal(fin_pay_reverse(c, "sim", otn, "reversed automatically: the channel says NOTPAY",
                                   &reversed, &err),
                   0);
  sql(c, "COMMIT", 0, NULL);
  assert_int_equal(reversed, 1);
  assert_int_equal(pass(), 1); /* its RED */
  assert_int_equal(pass(), 0); /* once */
  yw_caller payer = person("p-payer");
  Yiwang__Payment__V1__OrderReceipts *rs = NULL;
  receipts_of(&payer, id, &rs, GRPC_STATUS_OK);
  assert_int_equal(rs->n_receipts, 2);
  Receipt *blue = rs->receipts[0], *red = rs->receipts[1];
  assert_int_equal(blue->kind, YIWANG__PAYMENT__V1__RECEIPT_KIND__RECEIPT_KIND_BLUE);
  assert_int_equal(red->kind, YIWANG__PAYMENT__V1__RECEIPT_KIND__RECEIPT_KIND_RED);
  assert_int_equal(red->amount_fen, 4200);
  assert_string_equal(red->original_number, blue->number);
  assert_string_equal(red->payer, "张三丰");
  assert_int_equal(yw_seal_verify(public_only, red->content, strlen(red->content), red->signature), 0);
  protobuf_c_message_free_unpacked(&rs->base, NULL);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.receipts WHERE order_id = $1 AND kind = 'RED' "
                                    "AND refund_id IS NULL",
                                    id),
                   1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE id = $1 AND status = 'EXCEPTION'", id),
                   1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.outbox WHERE type = 'payment.order_reversed' "
                                    "AND aggregate_key = $1",
                                    id),
                   1);
  /* whoever writes: no second RED of the reversal */
  const char *p[] = {id};
  assert_int_not_equal(yw_pg_query(c,
                                   "INSERT INTO payment.receipts (number, kind, order_id, original_number, issuer,"
                                   " year, amount_fen, content_enc, signature) SELECT 'x-2026-2', 'RED', $1::uuid,"
                                   " number, 'x', '2026', 1, 'x', 'x' FROM payment.receipts WHERE order_id = $1::uuid"
                                   " AND kind = 'BLUE'",
                                   1, p, NULL, &err),
                       0);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  yw_testpay_assert_ledger_ok();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_blue_receipt_per_paid_order),
      cmocka_unit_test(test_concurrent_refund_bookings_end_refunded),
      cmocka_unit_test(test_a_reversed_payment_gets_its_red_receipt),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
