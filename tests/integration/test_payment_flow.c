/*
 * test_payment_flow.c - paying, notifications, refunds and the janitor on yw-payment
 * (in-process, real gRPC, PostgreSQL and Redis) against the channel simulator yw-paysim
 * (a real process on a free port). The simulator's notifications reach a small HTTP
 * receiver of the test's own that hands them to Notify with the raw body and the
 * signature headers, as the gateway does, and answers the channel as the service says.
 * Notifications the test signs itself use the simulator's own key (its keys folder).
 *
 * Proves:
 * - pay: a retry on the same channel reuses the out_trade_no; switching channel closes
 *   the previous channel order at the channel first; the channel's notification books
 *   the order PAID (one journal, one payment.order_paid event);
 * - R1: the same notification 20 times at once gives one transition, one journal, one
 *   event, and every copy is acknowledged;
 * - R2: a forged body, a stale timestamp are refused (UNAUTHENTICATED) and change
 *   nothing; a wrong amount is refused and makes the order EXCEPTION, not PAID, with no
 *   journal; a notification naming another merchant is refused and makes it EXCEPTION;
 *   each mismatch counts in yw_payment_alerts_total; R2b: a TRANSACTION.SUCCESS whose
 *   trade_state is not SUCCESS is refused changing nothing; another currency or a
 *   payer_total other than the total -> EXCEPTION, not booked; another merchant's
 *   notification on one channel leaves another channel's order of the same number
 *   alone; a REFUND.SUCCESS whose amount or payment is not the refund row's is refused
 *   (PENDING, nothing booked), the right one books it;
 * - R3: a notification arriving before the order's channel order is committed is
 *   refused, the channel retries, and after the commit it is accepted;
 * - R4: paid after close (the order and its channel order CLOSED) becomes EXCEPTION,
 *   booked, no paid event; R4c: paid while the janitor has the order CLOSING (its close
 *   not yet at the channel) is PAID;
 * - R5: the channel's success never notified (as if the process died before its commit)
 *   is found by the janitor's query and booked PAID with the channel's time;
 * - the janitor closes expired orders at the channel (CLOSED) and expired CREATED ones;
 *   while another copy holds its lock a pass does nothing; rows it cannot resolve (250
 *   on channels not configured or not answering) go to the back, so the next pass
 *   reaches a working channel's order and PENDING refund;
 * - R8: two refunds at once with the same expected refundable amount: one passes, the
 *   other is refused; partial then full refund -> REFUNDED; never more than paid; a
 *   refund's retry with its Idempotency-Key answers the same refund; each refund has an
 *   audit record; the channel's refund notifications are no-ops;
 * - R8b: the PENDING refund, its reservation and audit record are committed before the
 *   channel is asked (the channel held still), then booked from its answer;
 * - R4b: an EXCEPTION order (paid after close) is refunded by finance, ends REFUNDED;
 *   the payee department's dept_admin is refused it (PERMISSION_DENIED, nothing
 *   reserved) but refunds a PAID order of the department;
 * - R8c: a refund the channel refuses releases its reservation, ends FAILED, and keeps
 *   its audit record; R8d: a refund the channel made but whose answer does not say so (too
 *   large, a 429, a 500; no notification) stays PENDING, reserved, and the janitor's
 *   asking again books it once;
 * - anyone holding the notice code pays it (the payer masked in the answer); by id only
 *   the payer; a mistyped code is refused; R9: a stranger switches channel at most once a
 *   minute and five times a day (the open code stays open meanwhile), the payer
 *   is not limited; a close answered "not found" while a prepay may still reach the
 *   channel leaves the channel order open and the switch refused;
 * - the notice's QR code is an SVG of "YWPAY:<code>";
 * - an order EXCEPTION with nothing booked (another amount reported, another merchant
 *   named) whose genuine payment is notified: booked once as its payment (journal pay,
 *   no unknown_inflow), alerted, left EXCEPTION, refunded by finance;
 * - forged notifications (PAY_NOTIFY_REFUSED_MAX refused in a window) take Notify's
 *   priority from their channel (payment_priority_gate), counted in /metrics; other
 *   channels keep it, unknown channels never have it, the window's end restores it;
 * - the ledger refusing a refund's journal is pay_book_refund's error (YW_EPRECOND, the
 *   ledger's message), nothing booked, the notification refused; once it accepts, booked;
 * - after every test the ledger's invariants hold (ledger_check).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "janitor.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_http.h"
#include "yw_testnet.h"
#include "yw_testpay.h"
#include "yw_testpaysim.h"

typedef Yiwang__Payment__V1__Order Order;
#define ORDER_DESC (&yiwang__payment__v1__order__descriptor)
#define MCHID "1900000001"

static yw_testpaysim g_sim; /* the simulator: g_sim.pid, .port, .keys_dir, .key_hex */
static int g_recv_port;
static pay_channels *g_set;
static atomic_int g_refused; /* notifications the service did not acknowledge */
static char notify_base[128];

/* ---- the receiver: the gateway's part for notifications -------------------------------- */

static void header(struct evkeyvalq *h, const char *name, char *out, size_t size) {
  const char *v = evhttp_find_header(h, name);
  snprintf(out, size, "%s", v != NULL ? v : "");
}

static void on_notify(struct evhttp_request *req, void *arg) {
  (void)arg;
  const char *uri = evhttp_request_get_uri(req);
  const char *chan = strrchr(uri, '/');
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  uint8_t *body = malloc(len + 1);
  evbuffer_copyout(in, body, len);
  struct evkeyvalq *h = evhttp_request_get_input_headers(req);
  char ts[32], nonce[96], serial[64], sig[700];
  header(h, "Yw-Pay-Timestamp", ts, sizeof ts);
  header(h, "Yw-Pay-Nonce", nonce, sizeof nonce);
  header(h, "Yw-Pay-Serial", serial, sizeof serial);
  header(h, "Yw-Pay-Signature", sig, sizeof sig);
  Yiwang__Payment__V1__NotifyRequest n = YIWANG__PAYMENT__V1__NOTIFY_REQUEST__INIT;
  n.channel = (char *)(chan != NULL ? chan + 1 : "");
  n.body.data = body;
  n.body.len = len;
  n.timestamp = ts;
  n.nonce = nonce;
  n.serial = serial;
  n.signature = sig;
  yw_caller anon;
  memset(&anon, 0, sizeof anon);
  snprintf(anon.ip, sizeof anon.ip, "127.0.0.1");
  ProtobufCMessage *out = NULL;
  grpc_status_code st = yw_testpay_call_as(&anon, "Notify", &n.base, &yiwang__payment__v1__notify_response__descriptor,
                                           NULL, &out, NULL);
  free(body);
  struct evbuffer *ob = evbuffer_new();
  if (st == GRPC_STATUS_OK) {
    evbuffer_add_printf(ob, "{\"code\":\"SUCCESS\"}");
    evhttp_send_reply(req, 200, "OK", ob);
  } else {
    atomic_fetch_add(&g_refused, 1);
    evbuffer_add_printf(ob, "{\"code\":\"FAIL\"}");
    evhttp_send_reply(req, 500, "Error", ob);
  }
  evbuffer_free(ob);
  if (out != NULL) protobuf_c_message_free_unpacked(out, NULL);
}

static void *receiver(void *arg) {
  event_base_dispatch(arg);
  return NULL;
}

/* ---- the simulator's controls ------------------------------------------------------ */

static long sim_call(const char *method, const char *chan, const char *path, const char *json, json_t **answer) {
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/%s%s", g_sim.port, chan, path);
  static const char *const headers[] = {"Content-Type: application/json", NULL};
  yw_http_req r = {.method = method, .url = url, .headers = headers, .body = json,
                   .body_len = json != NULL ? strlen(json) : 0, .timeout_ms = 5000};
  long status = 0;
  char *resp = NULL;
  assert_int_equal(yw_http_request(&r, &status, &resp, NULL), 0);
  if (answer != NULL) *answer = json_loads(resp != NULL ? resp : "null", JSON_DECODE_ANY, NULL);
  free(resp);
  return status;
}

/* The payer pays out_trade_no in the channel's wallet; notify "normal" or "none". */
static void sim_pay(const char *chan, const char *no, const char *notify) {
  char body[256];
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"payer\":\"o_test\",\"notify\":\"%s\"}", no, notify);
  assert_int_equal(sim_call("POST", chan, "/sim/pay", body, NULL), 200);
}

/* The channel's trade_state of out_trade_no. */
static void sim_state(const char *chan, const char *no, char *out, size_t size) {
  pay_query_res q;
  memset(&q, 0, sizeof q);
  char code[PAY_CODE_MAX];
  int rc = pay_channel_query(pay_channels_find(g_set, chan), no, 3000, &q, code);
  snprintf(out, size, "%s", rc == 0 ? pay_channel_state_name(q.state) : "NONE");
}

/* ---- notifications the test signs with the channel's key ------------------------------ */

static void sign_notice(const char *body, long long ts, char *ts_out, char *nonce, char *serial, char *sig_b64) {
  char path[256];
  snprintf(path, sizeof path, "%s/sim.key", g_sim.keys_dir);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char pem[8192];
  size_t n = fread(pem, 1, sizeof pem - 1, f);
  fclose(f);
  pem[n] = '\0';
  assert_int_equal(pay_channel_key_serial_pem(pem, n, serial), 0);
  BIO *bio = BIO_new_mem_buf(pem, (int)n);
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  BIO_free(bio);
  assert_non_null(key);
  snprintf(ts_out, 24, "%lld", ts);
  static atomic_int seq;
  snprintf(nonce, 64, "n%d%d", (int)getpid(), atomic_fetch_add(&seq, 1));
  size_t mlen = strlen(ts_out) + strlen(nonce) + strlen(body) + 4;
  char *msg = malloc(mlen);
  snprintf(msg, mlen, "%s\n%s\n%s\n", ts_out, nonce, body);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char sig[512];
  size_t slen = sizeof sig;
  assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
  assert_int_equal(EVP_DigestSign(md, sig, &slen, (unsigned char *)msg, strlen(msg)), 1);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  free(msg);
  EVP_EncodeBlock((unsigned char *)sig_b64, sig, (int)slen);
}

typedef struct notice_msg {
  char body[1024], ts[24], nonce[64], serial[40], sig[700];
} notice_msg;

/* A TRANSACTION.SUCCESS signed with the channel's key at ts, its fields as given. */
static void make_notice_ex(notice_msg *m, const char *id, const char *mchid, const char *no, long long fen,
                           long long payer_fen, const char *state, const char *currency, long long ts) {
  snprintf(m->body, sizeof m->body,
           "{\"id\":\"%s\",\"create_time\":\"2026-12-01T10:00:00+08:00\",\"event_type\":\"TRANSACTION.SUCCESS\","
           "\"resource\":{\"mchid\":\"%s\",\"out_trade_no\":\"%s\",\"transaction_id\":\"4200%s\","
           "\"trade_state\":\"%s\",\"success_time\":\"2026-12-01T10:00:00+08:00\","
           "\"amount\":{\"total\":%lld,\"payer_total\":%lld,\"currency\":\"%s\"}}}",
           id, mchid, no, no, state, fen, payer_fen, currency);
  sign_notice(m->body, ts, m->ts, m->nonce, m->serial, m->sig);
}

static void make_notice(notice_msg *m, const char *id, const char *mchid, const char *no, long long fen,
                        long long ts) {
  make_notice_ex(m, id, mchid, no, fen, fen, "SUCCESS", "CNY", ts);
}

static grpc_status_code send_notice(const notice_msg *m) {
  Yiwang__Payment__V1__NotifyRequest n = YIWANG__PAYMENT__V1__NOTIFY_REQUEST__INIT;
  n.channel = "sim";
  n.body.data = (uint8_t *)m->body;
  n.body.len = strlen(m->body);
  n.timestamp = (char *)m->ts;
  n.nonce = (char *)m->nonce;
  n.serial = (char *)m->serial;
  n.signature = (char *)m->sig;
  yw_caller anon;
  memset(&anon, 0, sizeof anon);
  ProtobufCMessage *out = NULL;
  grpc_status_code st = yw_testpay_call_as(&anon, "Notify", &n.base, &yiwang__payment__v1__notify_response__descriptor,
                                           NULL, &out, NULL);
  if (out != NULL) protobuf_c_message_free_unpacked(out, NULL);
  return st;
}

/* ---- orders ------------------------------------------------------------------------ */

typedef struct order_ref {
  char id[40], code[24], no[40];
} order_ref;

static void new_order(int64_t fen, order_ref *o) {
  static int seq;
  char key[32];
  snprintf(key, sizeof key, "flow-%d", ++seq);
  yw_testpay_as_staff("s-ga", "320700-GA", "dept_staff");
  Yiwang__Payment__V1__CreateOrderRequest r = YIWANG__PAYMENT__V1__CREATE_ORDER_REQUEST__INIT;
  r.item_code = "FINE01";
  r.item_name = "交通违法罚款";
  r.amount_fen = fen;
  r.payer_name = "李四";
  r.payer_subject = "p-1";
  Order *out = NULL;
  assert_int_equal(yw_testpay_call("CreateOrder", &r.base, ORDER_DESC, key, (ProtobufCMessage **)&out, NULL), GRPC_STATUS_OK);
  snprintf(o->id, sizeof o->id, "%s", out->id);
  snprintf(o->code, sizeof o->code, "%s", out->notice_code);
  protobuf_c_message_free_unpacked(&out->base, NULL);
}

static grpc_status_code pay(order_ref *o, const char *channel, Yiwang__Payment__V1__PayOrderResponse **resp) {
  yw_testpay_as_person("p-1");
  Yiwang__Payment__V1__PayOrderRequest r = YIWANG__PAYMENT__V1__PAY_ORDER_REQUEST__INIT;
  r.id = o->id;
  r.channel = (char *)channel;
  Yiwang__Payment__V1__PayOrderResponse *out = NULL;
  grpc_status_code st = yw_testpay_call("PayOrder", &r.base, &yiwang__payment__v1__pay_order_response__descriptor, NULL,
                                        (ProtobufCMessage **)&out, NULL);
  if (st == GRPC_STATUS_OK) snprintf(o->no, sizeof o->no, "%s", out->out_trade_no);
  if (resp != NULL) *resp = out;
  else if (out != NULL) protobuf_c_message_free_unpacked(&out->base, NULL);
  return st;
}

static int status_is(const order_ref *o, const char *status) {
  return yw_testpay_count("SELECT count(*) FROM payment.orders WHERE id = $1 AND status = $2", o->id, status) == 1;
}

/* Waits (bounded, 10 s) until the order has status. */
static int wait_status(const order_ref *o, const char *status) {
  double until = yw_test_now_s() + 10;
  while (yw_test_now_s() < until) {
    if (status_is(o, status)) return 1;
    usleep(20000);
  }
  return 0;
}

static long long journals(const order_ref *o, const char *kind) {
  return yw_testpay_count("SELECT count(*) FROM payment.journal WHERE order_id = $1 AND kind = $2", o->id, kind);
}

static long long events(const order_ref *o, const char *type) {
  return yw_testpay_count("SELECT count(*) FROM payment.outbox WHERE aggregate_key = $1 AND type = $2", o->id, type);
}

/* Pays a new order of fen on channel into o, then sends a notification of another
 * merchant (1999999999) on channel sim naming o's channel order: refused
 * (PERMISSION_DENIED), o ends in status, nothing booked. */
static void other_merchants_notice(int64_t fen, const char *channel, const char *id, const char *status,
                                   order_ref *o) {
  new_order(fen, o);
  assert_int_equal(pay(o, channel, NULL), GRPC_STATUS_OK);
  notice_msg m;
  make_notice(&m, id, "1999999999", o->no, fen, (long long)time(NULL));
  assert_int_equal(send_notice(&m), GRPC_STATUS_PERMISSION_DENIED);
  assert_true(status_is(o, status));
  assert_int_equal(journals(o, "pay"), 0);
}

/* Runs one statement with text parameters: exec_sql("... $1", value). */
#define exec_sql(...) exec_sql_((const char *const[]){__VA_ARGS__, NULL})
static void exec_sql_(const char *const *sql_and_params) {
  const char *sql = sql_and_params[0];
  int n = 0;
  while (sql_and_params[1 + n] != NULL) n++;
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  PGresult *r = PQexecParams(c, sql, n, NULL, sql_and_params + 1, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
  assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
}

/* ---- setup --------------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  yw_http_global_init();
  g_recv_port = yw_test_free_port();
  struct event_base *base = event_base_new();
  struct evhttp *http = evhttp_new(base);
  evhttp_set_gencb(http, on_notify, NULL);
  if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)g_recv_port) != 0) return -1;
  pthread_t t;
  pthread_create(&t, NULL, receiver, base);
  pthread_detach(t);
  static const char *const sim_env[] = {"YW_PAYSIM_RETRY_MS=50,100,150,200,250,300,400,500,600,800",
                                         "YW_PAYSIM_NOTIFY_TIMEOUT_MS=3000", NULL};
  if (yw_testpaysim_start_env(YW_PAYSIM_BIN, &g_sim, sim_env) != 0) return -1;
  /* sim-down: a channel where nothing listens (janitor_never_starves) */
  char spec[256], kspec[1024], err[256];
  snprintf(spec, sizeof spec,
           "sim=http://127.0.0.1:%d/sim,sim-sm2=http://127.0.0.1:%d/sim-sm2,sim-down=http://127.0.0.1:%d/sim", g_sim.port,
           g_sim.port, yw_test_free_port());
  snprintf(kspec, sizeof kspec,
           "sim=" MCHID ":%s:%s/sim.pub.pem,sim-sm2=1900000002:%s:%s/sim-sm2.pub.pem,sim-down=" MCHID ":%s:%s/sim.pub.pem",
           g_sim.key_hex, g_sim.keys_dir, g_sim.sm2_key_hex, g_sim.keys_dir, g_sim.key_hex, g_sim.keys_dir);
  if (pay_channels_load(spec, kspec, &g_set, err, sizeof err) != 0) {
    fprintf(stderr, "channels: %s\n", err);
    return -1;
  }
  snprintf(notify_base, sizeof notify_base, "http://127.0.0.1:%d/notify", g_recv_port);
  yw_testpay_ctx.channels = g_set;
  yw_testpay_ctx.notify_base = notify_base;
  yw_testpay_ctx.channel_timeout_ms = 3000;
  return yw_testpay_start();
}

static int teardown(void **state) {
  (void)state;
  /* the simulator first: its notification retries (a refund made at its desk, R8c) must
   * not reach a service being stopped */
  yw_testpaysim_stop(&g_sim);
  yw_testpay_stop();
  pay_channels_free(g_set);
  return 0;
}

static int ledger_after(void **state) {
  (void)state;
  yw_testpay_assert_ledger_ok();
  return 0;
}

/* ---- tests --------------------------------------------------------------------------- */

static void pay_retry_switch_and_notification(void **state) {
  (void)state;
  order_ref o;
  new_order(1250, &o);
  Yiwang__Payment__V1__PayOrderResponse *resp = NULL;
  assert_int_equal(pay(&o, "sim", &resp), GRPC_STATUS_OK);
  assert_string_not_equal(resp->prepay_id, "");
  assert_string_not_equal(resp->code_url, "");
  assert_int_equal(resp->order->status, YIWANG__PAYMENT__V1__ORDER_STATUS__ORDER_STATUS_PAYING);
  char first[40];
  snprintf(first, sizeof first, "%s", o.no);
  assert_int_equal(strlen(first), 22);
  assert_memory_equal(first, o.code, 20);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  /* a retry on the same channel: the same merchant order number */
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
  assert_string_equal(o.no, first);
  /* another channel: the first is closed at its channel, a new number */
  assert_int_equal(pay(&o, "sim-sm2", NULL), GRPC_STATUS_OK);
  assert_string_not_equal(o.no, first);
  char st[16];
  sim_state("sim", first, st, sizeof st);
  assert_string_equal(st, "CLOSED");
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.channel_orders WHERE order_id = $1 AND status = 'OPEN'", o.id), 1);
  /* the payer pays on sim-sm2; its notification (SM2) books the order */
  sim_pay("sim-sm2", o.no, "normal");
  assert_true(wait_status(&o, "PAID"));
  assert_int_equal(journals(&o, "pay"), 1);
  assert_int_equal(events(&o, "payment.order_paid"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.order_events WHERE order_id = $1 AND to_status = 'PAID'", o.id), 1);
  /* paying a paid order is refused */
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_FAILED_PRECONDITION);
}

struct fire {
  const notice_msg *m;
  grpc_status_code st;
};

static void *fire_one(void *arg) {
  struct fire *f = arg;
  f->st = send_notice(f->m);
  return NULL;
}

static void r1_twenty_copies_at_once_book_once(void **state) {
  (void)state;
  order_ref o;
  new_order(3000, &o);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
  sim_pay("sim", o.no, "none");
  notice_msg m;
  make_notice(&m, "r1-notice", MCHID, o.no, 3000, (long long)time(NULL));
  pthread_t t[20];
  struct fire f[20];
  for (int i = 0; i < 20; i++) {
    f[i].m = &m;
    pthread_create(&t[i], NULL, fire_one, &f[i]);
  }
  for (int i = 0; i < 20; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 20; i++) assert_int_equal(f[i].st, GRPC_STATUS_OK);
  assert_true(status_is(&o, "PAID"));
  assert_int_equal(journals(&o, "pay"), 1);
  assert_int_equal(events(&o, "payment.order_paid"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.order_events WHERE order_id = $1 AND to_status = 'PAID'", o.id), 1);
  /* and the same again later: acknowledged, nothing new */
  assert_int_equal(send_notice(&m), GRPC_STATUS_OK);
  assert_int_equal(journals(&o, "pay"), 1);
}

/* A number of payment_metrics' line name. */
static long long payment_metric(const char *name) {
  char metrics[2048], key[96];
  assert_true(payment_metrics(metrics, sizeof metrics) > 0);
  snprintf(key, sizeof key, "\n%s ", name);
  const char *line = strstr(metrics, key);
  assert_non_null(line);
  return strtoll(line + strlen(key), NULL, 10);
}

static void r2_forged_stale_amount_merchant_refused(void **state) {
  (void)state;
  order_ref o;
  new_order(5000, &o);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
  notice_msg m;
  make_notice(&m, "r2-forged", MCHID, o.no, 5000, (long long)time(NULL));
  char *p = strstr(m.body, "5000");
  p[0] = '6'; /* the body changed after signing */
  assert_int_equal(send_notice(&m), GRPC_STATUS_UNAUTHENTICATED);
  make_notice(&m, "r2-stale", MCHID, o.no, 5000, (long long)time(NULL) - 3600);
  assert_int_equal(send_notice(&m), GRPC_STATUS_UNAUTHENTICATED);
  assert_true(status_is(&o, "PAYING"));
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.notifications WHERE out_trade_no = $1", o.no), 0);
  /* signed by the channel, but for another amount: refused, EXCEPTION, not PAID, no journal */
  make_notice(&m, "r2-amount", MCHID, o.no, 4999, (long long)time(NULL));
  assert_int_equal(send_notice(&m), GRPC_STATUS_FAILED_PRECONDITION);
  assert_true(status_is(&o, "EXCEPTION"));
  assert_int_equal(journals(&o, "pay"), 0);
  assert_int_equal(events(&o, "payment.order_paid"), 0);
  assert_int_equal(send_notice(&m), GRPC_STATUS_FAILED_PRECONDITION); /* every time */
  /* another merchant's notification */
  order_ref o2;
  other_merchants_notice(700, "sim", "r2-merchant", "EXCEPTION", &o2);
  /* each mismatch raised an alert, counted in /metrics */
  assert_true(payment_metric("yw_payment_alerts_total") >= 3);
}

static void r3_notification_before_commit_retried_then_accepted(void **state) {
  (void)state;
  order_ref o;
  new_order(880, &o);
  char no[40];
  snprintf(no, sizeof no, "%s01", o.code);
  /* the service's channel order is being written and not yet committed */
  PGconn *tx = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(tx);
  PGresult *r = PQexec(tx, "BEGIN");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  const char *cp[2] = {no, o.id};
  r = PQexecParams(tx,
                   "INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, channel, mchid, amount_fen) "
                   "VALUES ($1, $2, 1, 'sim', '" MCHID "', 880)",
                   2, NULL, cp, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  r = PQexecParams(tx, "UPDATE payment.orders SET status = 'PAYING' WHERE id = $1", 1, NULL, cp + 1, NULL, NULL, 0);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  /* the channel has it (the prepay went out) and the payer pays */
  pay_prepay_req pr = {.out_trade_no = no, .description = "fine", .total_fen = 880, .expire_unix = time(NULL) + 600};
  char url[160];
  snprintf(url, sizeof url, "%s/sim", notify_base);
  pr.notify_url = url;
  pay_prepay_res res;
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_prepay(pay_channels_find(g_set, "sim"), &pr, 3000, &res, code), 0);
  int refused_before = atomic_load(&g_refused);
  sim_pay("sim", no, "normal");
  double until = yw_test_now_s() + 10;
  while (atomic_load(&g_refused) == refused_before && yw_test_now_s() < until) usleep(10000);
  assert_true(atomic_load(&g_refused) > refused_before); /* refused: not committed yet */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.journal WHERE ref = $1", no), 0);
  r = PQexec(tx, "COMMIT");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  yw_pg_pool_release(yw_testpay_ctx.pool, tx);
  assert_true(wait_status(&o, "PAID")); /* the channel's retry is accepted */
  assert_int_equal(journals(&o, "pay"), 1);
}

/* An order of fen paid after we recorded it closed: EXCEPTION "paid after close". */
static void new_exception_order(int64_t fen, order_ref *o) {
  new_order(fen, o);
  assert_int_equal(pay(o, "sim", NULL), GRPC_STATUS_OK);
  /* our records say closed (the order and its channel order); the channel still takes
   * the payer's money */
  exec_sql("UPDATE payment.orders SET status = 'CLOSING' WHERE id = $1", o->id);
  exec_sql("UPDATE payment.orders SET status = 'CLOSED' WHERE id = $1", o->id);
  exec_sql("UPDATE payment.channel_orders SET status = 'CLOSED' WHERE out_trade_no = $1", o->no);
  sim_pay("sim", o->no, "normal");
  assert_true(wait_status(o, "EXCEPTION"));
}

static void r4_paid_after_close_is_an_exception(void **state) {
  (void)state;
  order_ref o;
  new_exception_order(990, &o);
  assert_int_equal(journals(&o, "pay"), 1); /* the money is there: booked */
  assert_int_equal(events(&o, "payment.order_paid"), 0);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE id = $1 AND exception_reason = 'paid after close'", o.id), 1);
}

/* Review #5: the janitor found the order NOTPAY and expired and moved it CLOSING; the
 * payer pays before its close reaches the channel; the notification arrives while the
 * order is CLOSING: paid in time, PAID, not an exception. */
static void r4c_paid_while_closing_is_paid(void **state) {
  (void)state;
  order_ref o;
  new_order(995, &o);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
  exec_sql("UPDATE payment.orders SET status = 'CLOSING' WHERE id = $1", o.id);
  sim_pay("sim", o.no, "normal");
  assert_true(wait_status(&o, "PAID"));
  assert_int_equal(journals(&o, "pay"), 1);
  assert_int_equal(events(&o, "payment.order_paid"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE id = $1 AND exception_reason <> ''", o.id), 0);
  /* the janitor's close that follows finds it paid and changes nothing */
  exec_sql("UPDATE payment.orders SET expires_at = now() - interval '1 second' WHERE id = $1", o.id);
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, NULL), 0);
  assert_true(status_is(&o, "PAID"));
  assert_int_equal(journals(&o, "pay"), 1);
}

static void r5_success_without_notification_found_by_the_janitor(void **state) {
  (void)state;
  order_ref o;
  new_order(1500, &o);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
  sim_pay("sim", o.no, "none"); /* the channel's success; we never hear of it */
  assert_true(status_is(&o, "PAYING"));
  janitor_stats st;
  memset(&st, 0, sizeof st);
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, &st), 0);
  assert_true(status_is(&o, "PAID"));
  assert_int_equal(journals(&o, "pay"), 1);
  assert_int_equal(events(&o, "payment.order_paid"), 1);
  assert_true(st.paid >= 1);
  /* booked with the channel's time, not the janitor's */
  pay_query_res q;
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_query(pay_channels_find(g_set, "sim"), o.no, 3000, &q, code), 0);
  assert_int_equal(yw_testpay_count("SELECT extract(epoch FROM paid_at)::bigint FROM payment.orders WHERE id = $1", o.id),
                   q.success_unix);
}

static void janitor_closes_expired_orders(void **state) {
  (void)state;
  order_ref paying, created;
  new_order(600, &paying);
  new_order(601, &created);
  assert_int_equal(pay(&paying, "sim", NULL), GRPC_STATUS_OK);
  exec_sql("UPDATE payment.orders SET expires_at = now() - interval '1 second' WHERE id IN ($1, $2)", paying.id,
           created.id);
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, NULL), 0);
  assert_true(status_is(&paying, "CLOSED"));
  assert_true(status_is(&created, "CLOSED"));
  char st[16];
  sim_state("sim", paying.no, st, sizeof st);
  assert_string_equal(st, "CLOSED");
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.order_events WHERE order_id = $1 AND to_status = 'CLOSING'", paying.id), 1);
  assert_int_equal(pay(&created, "sim", NULL), GRPC_STATUS_FAILED_PRECONDITION);
}

static void janitor_runs_in_one_copy_at_a_time(void **state) {
  (void)state;
  order_ref o;
  new_order(610, &o);
  exec_sql("UPDATE payment.orders SET expires_at = now() - interval '1 second' WHERE id = $1", o.id);
  /* another copy holds the janitor's lock: this one's pass does nothing */
  PGconn *other = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(other);
  PGresult *r = PQexec(other, "SELECT pg_advisory_lock(hashtext('payment.janitor'))");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  janitor_stats st;
  memset(&st, 0, sizeof st);
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, &st), 0);
  assert_int_equal(st.skipped, 1);
  assert_int_equal(st.passes, 0);
  assert_true(status_is(&o, "CREATED"));
  r = PQexec(other, "SELECT pg_advisory_unlock(hashtext('payment.janitor'))");
  PQclear(r);
  yw_pg_pool_release(yw_testpay_ctx.pool, other);
  /* once it is free, the pass runs */
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, &st), 0);
  assert_int_equal(st.passes, 1);
  assert_true(status_is(&o, "CLOSED"));
}

typedef struct refund_call {
  const char *id, *key;
  int64_t amount, expected;
  grpc_status_code st;
  char status[16];
  int64_t after;
} refund_call;

/* r's refund asked by staff subject of department with roles. */
static void refund_as(refund_call *r, const char *subject, const char *department, const char *roles) {
  yw_caller fin;
  memset(&fin, 0, sizeof fin);
  fin.kind = YW_CALLER_STAFF;
  snprintf(fin.subject, sizeof fin.subject, "%s", subject);
  snprintf(fin.department, sizeof fin.department, "%s", department);
  snprintf(fin.roles, sizeof fin.roles, "%s", roles);
  snprintf(fin.ip, sizeof fin.ip, "10.0.0.9");
  Yiwang__Payment__V1__RefundOrderRequest q = YIWANG__PAYMENT__V1__REFUND_ORDER_REQUEST__INIT;
  q.id = (char *)r->id;
  q.amount = r->amount;
  q.expected_refundable = r->expected;
  q.reason = "多收";
  Yiwang__Payment__V1__Refund *out = NULL;
  r->st = yw_testpay_call_as(&fin, "RefundOrder", &q.base, &yiwang__payment__v1__refund__descriptor, r->key,
                             (ProtobufCMessage **)&out, NULL);
  if (out != NULL) {
    snprintf(r->status, sizeof r->status, "%s", out->status);
    r->after = out->refundable_after;
    protobuf_c_message_free_unpacked(&out->base, NULL);
  }
}

/* r's refund asked by finance (a thread's function). */
static void *refund_one(void *arg) {
  refund_as(arg, "f-1", "", "finance");
  return NULL;
}

/* An order of fen paid on the simulator and booked PAID from its notification. */
static void new_paid_order(int64_t fen, order_ref *o) {
  new_order(fen, o);
  assert_int_equal(pay(o, "sim", NULL), GRPC_STATUS_OK);
  sim_pay("sim", o->no, "normal");
  assert_true(wait_status(o, "PAID"));
}

static void r8_refunds_never_more_than_paid(void **state) {
  (void)state;
  order_ref o;
  new_paid_order(1000, &o);
  refund_call a = {.id = o.id, .key = "rf-1", .amount = 300, .expected = 1000};
  refund_one(&a);
  assert_int_equal(a.st, GRPC_STATUS_OK);
  assert_string_equal(a.status, "SUCCESS");
  assert_int_equal(a.after, 700);
  /* its retry: the same answer, nothing more */
  refund_call a2 = a;
  refund_one(&a2);
  assert_int_equal(a2.st, GRPC_STATUS_OK);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1", o.id), 1);
  /* two at once, each with what it saw: one passes */
  refund_call b = {.id = o.id, .key = "rf-2", .amount = 700, .expected = 700};
  refund_call c = {.id = o.id, .key = "rf-3", .amount = 700, .expected = 700};
  pthread_t tb, tc;
  pthread_create(&tb, NULL, refund_one, &b);
  pthread_create(&tc, NULL, refund_one, &c);
  pthread_join(tb, NULL);
  pthread_join(tc, NULL);
  assert_true((b.st == GRPC_STATUS_OK) != (c.st == GRPC_STATUS_OK));
  assert_true(b.st == GRPC_STATUS_FAILED_PRECONDITION || c.st == GRPC_STATUS_FAILED_PRECONDITION);
  assert_true(status_is(&o, "REFUNDED"));
  assert_int_equal(journals(&o, "refund"), 2);
  assert_int_equal(events(&o, "payment.refunded"), 2);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE target = $1 AND action = 'refund'", o.id), 2);
  assert_int_equal(yw_testpay_count("SELECT refunded_fen FROM payment.orders WHERE id = $1", o.id), 1000);
  /* more than paid: refused */
  refund_call d = {.id = o.id, .key = "rf-4", .amount = 1, .expected = 0};
  refund_one(&d);
  assert_int_not_equal(d.st, GRPC_STATUS_OK);
  /* the channel's refund notifications arrive and change nothing */
  double until = yw_test_now_s() + 20;
  long long notified;
  while ((notified = yw_testpay_count("SELECT count(*) FROM payment.notifications WHERE event_type = 'REFUND.SUCCESS' "
                                      "AND out_refund_no LIKE $1 || '%'",
                                      o.no)) < 2 &&
         yw_test_now_s() < until)
    usleep(20000);
  assert_int_equal(notified, 2); /* they did arrive */
  assert_int_equal(journals(&o, "refund"), 2);
}

static atomic_int g_refund_done;

static void *refund_and_mark(void *arg) {
  refund_one(arg);
  atomic_store(&g_refund_done, 1);
  return NULL;
}

/* R8b: the reservation, the PENDING refund and its audit record are committed before the
 * channel is asked (the channel held still): a death past the channel's answer leaves a
 * PENDING refund to ask again, never a refund at the channel with no record of ours. */
static void r8b_refund_committed_before_the_channel_is_asked(void **state) {
  (void)state;
  order_ref o;
  new_paid_order(800, &o);
  atomic_store(&g_refund_done, 0);
  assert_int_equal(kill(g_sim.pid, SIGSTOP), 0);
  refund_call a = {.id = o.id, .key = "rf-held", .amount = 300, .expected = 800};
  pthread_t t;
  pthread_create(&t, NULL, refund_and_mark, &a);
  int seen = 0;
  double until = yw_test_now_s() + 10;
  while (!seen && yw_test_now_s() < until && !atomic_load(&g_refund_done)) {
    seen = yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1 AND status = 'PENDING'", o.id) == 1 &&
           yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE target = $1 AND action = 'refund'", o.id) == 1 &&
           yw_testpay_count("SELECT refunded_fen FROM payment.orders WHERE id = $1", o.id) == 300;
    if (!seen) usleep(10000);
  }
  int done_before = atomic_load(&g_refund_done);
  assert_int_equal(kill(g_sim.pid, SIGCONT), 0);
  pthread_join(t, NULL);
  assert_true(seen);
  assert_false(done_before);
  /* the channel, asked while nothing was locked, answered: booked in the second step */
  assert_int_equal(a.st, GRPC_STATUS_OK);
  assert_string_equal(a.status, "SUCCESS");
  assert_int_equal(journals(&o, "refund"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1 AND status = 'SUCCESS'", o.id), 1);
  /* R7: the refund's journal carries the channel's success time, not the booking's */
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.journal j JOIN payment.refunds f ON f.out_refund_no = j.ref "
                      "WHERE j.kind = 'refund' AND f.order_id = $1 AND j.effective_at = f.succeeded_at",
                      o.id),
                   1);
}

/* R8c: the channel refuses a refund: the reservation is released, the refund FAILED, and
 * its audit record stays. */
static void r8c_refused_refund_released_and_audited(void **state) {
  (void)state;
  order_ref o;
  new_paid_order(700, &o);
  /* the channel's amount left is spent elsewhere (a refund made at the channel's desk) */
  pay_refund_req rq = {.out_trade_no = o.no, .out_refund_no = "DESK-REFUND-1", .refund_fen = 700, .total_fen = 700};
  pay_refund_res rs;
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_refund(pay_channels_find(g_set, "sim"), &rq, 3000, &rs, code), 0);
  refund_call a = {.id = o.id, .key = "rf-refused", .amount = 200, .expected = 700};
  refund_one(&a);
  assert_int_equal(a.st, GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1 AND status = 'FAILED'", o.id), 1);
  assert_int_equal(yw_testpay_count("SELECT refunded_fen FROM payment.orders WHERE id = $1", o.id), 0);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.audit_log WHERE target = $1 AND action = 'refund'", o.id), 1);
  assert_int_equal(journals(&o, "refund"), 0);
  assert_true(status_is(&o, "PAID"));
}

/* R8d: the channel makes a refund but its answer does not say so (an answer past the
 * client's cap, a 429 with a code that is no refusal, a 500) and no notification comes:
 * the outcome is unknown, so the refund stays PENDING with its reservation held (never
 * FAILED: the money may be gone), and the janitor's asking again with the same number
 * books it once. */
static void r8d_refund_outcome_unknown_stays_pending(void **state) {
  (void)state;
  static const char *const faults[] = {"oversized", "busy", "error"};
  for (int i = 0; i < 3; i++) {
    order_ref o;
    new_paid_order(500 + i, &o);
    char body[64], key[32];
    snprintf(body, sizeof body, "{\"refund\":\"%s\",\"times\":1}", faults[i]);
    assert_int_equal(sim_call("POST", "sim", "/sim/fault", body, NULL), 200);
    snprintf(key, sizeof key, "rf-unknown-%d", i);
    refund_call a = {.id = o.id, .key = key, .amount = 200, .expected = 500 + i};
    refund_one(&a);
    assert_int_equal(a.st, GRPC_STATUS_OK);
    assert_string_equal(a.status, "PENDING");
    assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1 AND status = 'PENDING'", o.id), 1);
    assert_int_equal(yw_testpay_count("SELECT refunded_fen FROM payment.orders WHERE id = $1", o.id), 200);
    assert_int_equal(journals(&o, "refund"), 0);
    /* the channel did refund it */
    json_t *v = NULL;
    char path[96];
    snprintf(path, sizeof path, "/sim/orders/%s", o.no);
    assert_int_equal(sim_call("GET", "sim", path, NULL, &v), 200);
    assert_int_equal(json_integer_value(json_object_get(v, "refunded")), 200);
    json_decref(v);
    /* asked again (the janitor): booked, once */
    assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, NULL), 0);
    assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1 AND status = 'SUCCESS'", o.id), 1);
    assert_int_equal(journals(&o, "refund"), 1);
    assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 100, NULL), 0);
    assert_int_equal(journals(&o, "refund"), 1);
    assert_int_equal(events(&o, "payment.refunded"), 1);
    assert_int_equal(yw_testpay_count("SELECT refunded_fen FROM payment.orders WHERE id = $1", o.id), 200);
    assert_true(status_is(&o, "PAID"));
  }
}

/* R4b: an order paid after its close (EXCEPTION, booked) is refunded by finance with the
 * same guard and ends REFUNDED. */
static void r4b_exception_order_refunded(void **state) {
  (void)state;
  order_ref o;
  new_exception_order(640, &o);
  /* the payee department's administrator may not: an exception is finance's */
  refund_call adm = {.id = o.id, .key = "rf-exc-adm", .amount = 640, .expected = 640};
  refund_as(&adm, "s-adm", "320700-GA", "dept_admin");
  assert_int_equal(adm.st, GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE order_id = $1", o.id), 0);
  assert_int_equal(yw_testpay_count("SELECT refunded_fen FROM payment.orders WHERE id = $1", o.id), 0);
  /* a PAID order of the department stays refundable by its administrator */
  order_ref p;
  new_paid_order(650, &p);
  refund_call padm = {.id = p.id, .key = "rf-paid-adm", .amount = 650, .expected = 650};
  refund_as(&padm, "s-adm", "320700-GA", "dept_admin");
  assert_int_equal(padm.st, GRPC_STATUS_OK);
  assert_string_equal(padm.status, "SUCCESS");
  assert_true(status_is(&p, "REFUNDED"));
  refund_call stale = {.id = o.id, .key = "rf-exc-0", .amount = 640, .expected = 600};
  refund_one(&stale);
  assert_int_equal(stale.st, GRPC_STATUS_FAILED_PRECONDITION);
  refund_call a = {.id = o.id, .key = "rf-exc", .amount = 640, .expected = 640};
  refund_one(&a);
  assert_int_equal(a.st, GRPC_STATUS_OK);
  assert_string_equal(a.status, "SUCCESS");
  assert_true(status_is(&o, "REFUNDED"));
  assert_int_equal(journals(&o, "refund"), 1);
}

static void anyone_with_the_code_pays(void **state) {
  (void)state;
  order_ref o;
  new_order(420, &o);
  yw_testpay_as_anonymous();
  Yiwang__Payment__V1__PayOrderRequest r = YIWANG__PAYMENT__V1__PAY_ORDER_REQUEST__INIT;
  r.notice_code = o.code;
  r.channel = "sim";
  Yiwang__Payment__V1__PayOrderResponse *out = NULL;
  assert_int_equal(yw_testpay_call("PayOrder", &r.base, &yiwang__payment__v1__pay_order_response__descriptor, NULL,
                                   (ProtobufCMessage **)&out, NULL),
                   GRPC_STATUS_OK);
  assert_string_equal(out->order->id, o.id);
  assert_string_not_equal(out->order->payer_name, "李四"); /* masked for a stranger */
  assert_string_equal(out->order->payer_subject, "");
  snprintf(o.no, sizeof o.no, "%s", out->out_trade_no);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  sim_pay("sim", o.no, "normal");
  assert_true(wait_status(&o, "PAID"));
  /* by id it is the payer's alone; a mistyped code is refused */
  r.notice_code = "";
  r.id = o.id;
  assert_int_equal(yw_testpay_call("PayOrder", &r.base, &yiwang__payment__v1__pay_order_response__descriptor, NULL,
                                   (ProtobufCMessage **)&out, NULL),
                   GRPC_STATUS_NOT_FOUND);
  char bad[24];
  snprintf(bad, sizeof bad, "%s", o.code);
  bad[19] = bad[19] == '9' ? '0' : (char)(bad[19] + 1);
  r.id = "";
  r.notice_code = bad;
  assert_int_equal(yw_testpay_call("PayOrder", &r.base, &yiwang__payment__v1__pay_order_response__descriptor, NULL,
                                   (ProtobufCMessage **)&out, NULL),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static void qr_code_of_the_notice(void **state) {
  (void)state;
  order_ref o;
  new_order(100, &o);
  yw_testpay_as_person("p-1");
  Yiwang__Payment__V1__GetOrderQrRequest r = YIWANG__PAYMENT__V1__GET_ORDER_QR_REQUEST__INIT;
  r.id = o.id;
  Yiwang__Payment__V1__OrderQr *q = NULL;
  assert_int_equal(yw_testpay_call("GetOrderQr", &r.base, &yiwang__payment__v1__order_qr__descriptor, NULL,
                                   (ProtobufCMessage **)&q, NULL),
                   GRPC_STATUS_OK);
  char content[40];
  snprintf(content, sizeof content, "YWPAY:%s", o.code);
  assert_string_equal(q->content, content);
  assert_memory_equal(q->svg, "<svg", 4);
  assert_non_null(strstr(q->svg, "</svg>"));
  protobuf_c_message_free_unpacked(&q->base, NULL);
  yw_testpay_as_person("p-2");
  assert_int_equal(yw_testpay_call("GetOrderQr", &r.base, &yiwang__payment__v1__order_qr__descriptor, NULL,
                                   (ProtobufCMessage **)&q, NULL),
                   GRPC_STATUS_NOT_FOUND);
}

/* Pays o by its notice code as an anonymous caller on channel; the status, and o->no. */
static grpc_status_code pay_by_code(order_ref *o, const char *channel) {
  yw_testpay_as_anonymous();
  Yiwang__Payment__V1__PayOrderRequest r = YIWANG__PAYMENT__V1__PAY_ORDER_REQUEST__INIT;
  r.notice_code = o->code;
  r.channel = (char *)channel;
  Yiwang__Payment__V1__PayOrderResponse *out = NULL;
  grpc_status_code st = yw_testpay_call("PayOrder", &r.base, &yiwang__payment__v1__pay_order_response__descriptor,
                                        NULL, (ProtobufCMessage **)&out, NULL);
  if (st == GRPC_STATUS_OK) snprintf(o->no, sizeof o->no, "%s", out->out_trade_no);
  if (out != NULL) protobuf_c_message_free_unpacked(&out->base, NULL);
  return st;
}

/* Review #9: a stranger holding the code cannot switch channel in a loop (each switch
 * closes the payer's open code and spends an attempt): one switch a minute, five a day.
 * And a close the channel answers "not found" while a prepay of that channel order may
 * still reach it does not count as closed. */
static void r9_switches_limited_and_in_flight_prepay_kept(void **state) {
  (void)state;
  order_ref o;
  new_order(460, &o);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK); /* the payer's open code */
  assert_int_equal(pay_by_code(&o, "sim-sm2"), GRPC_STATUS_OK); /* one switch */
  assert_int_equal(pay_by_code(&o, "sim"), GRPC_STATUS_RESOURCE_EXHAUSTED); /* a second within the minute */
  char st[16];
  sim_state("sim-sm2", o.no, st, sizeof st);
  assert_string_equal(st, "NOTPAY"); /* the open code stays open */
  /* five switches in a day, then none */
  for (int i = 0; i < 4; i++) {
    exec_sql("UPDATE payment.channel_orders SET created_at = created_at - interval '2 minutes' WHERE order_id = $1", o.id);
    assert_int_equal(pay_by_code(&o, i % 2 == 0 ? "sim" : "sim-sm2"), GRPC_STATUS_OK);
  }
  exec_sql("UPDATE payment.channel_orders SET created_at = created_at - interval '2 minutes' WHERE order_id = $1", o.id);
  assert_int_equal(pay_by_code(&o, "sim"), GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.channel_orders WHERE order_id = $1", o.id), 6);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK); /* the payer is not limited */
  /* a channel order whose prepay is still in flight (the channel does not know it yet):
   * a switch whose close is answered "not found" leaves it open and is refused */
  order_ref p;
  new_order(470, &p);
  char no[40];
  snprintf(no, sizeof no, "%s01", p.code);
  exec_sql("INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, channel, mchid, amount_fen, "
           "prepay_until) VALUES ($1, $2, 1, 'sim', '" MCHID "', 470, now() + interval '1 hour')",
           no, p.id);
  exec_sql("UPDATE payment.orders SET status = 'PAYING' WHERE id = $1", p.id);
  assert_int_equal(pay(&p, "sim-sm2", NULL), GRPC_STATUS_ABORTED);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.channel_orders WHERE out_trade_no = $1 AND status = 'OPEN'", no), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.channel_orders WHERE order_id = $1", p.id), 1);
  /* once no prepay can arrive any more, "not found" means never created: switched */
  exec_sql("UPDATE payment.channel_orders SET prepay_until = now() - interval '1 second' WHERE out_trade_no = $1", no);
  assert_int_equal(pay(&p, "sim-sm2", NULL), GRPC_STATUS_OK);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.channel_orders WHERE out_trade_no = $1 AND status = 'CLOSED'", no), 1);
}

/* A PENDING refund of fen (text) of the paid order o, number o's out_trade_no + suffix
 * (into rno), reserved and never asked of the channel (as if the process died first). */
static void pending_refund(const order_ref *o, const char *fen, const char *suffix, char *rno, size_t size) {
  snprintf(rno, size, "%.22s%s", o->no, suffix);
  exec_sql("UPDATE payment.orders SET refunded_fen = $2::bigint WHERE id = $1", o->id, fen);
  exec_sql("INSERT INTO payment.refunds (order_id, out_refund_no, out_trade_no, channel, amount_fen, reason, "
           "requested_by) VALUES ($1, $2, $3, 'sim', $4::bigint, 'test', 'f-1')",
           o->id, rno, o->no, fen);
}

/* Review #8: rows the janitor cannot resolve (a channel no longer configured, a channel
 * that does not answer) go to the back with a growing delay: 250 of them, older than a
 * working channel's order and PENDING refund, fill the first pass of 200; the next pass
 * reaches the working ones. */
static void janitor_never_starves(void **state) {
  (void)state;
  order_ref good, paid;
  new_order(1700, &good);
  assert_int_equal(pay(&good, "sim", NULL), GRPC_STATUS_OK);
  sim_pay("sim", good.no, "none"); /* paid, never notified: only a query finds it */
  new_paid_order(800, &paid);
  char rno[64];
  pending_refund(&paid, "300", "R000000001", rno, sizeof rno);
  exec_sql("WITH o AS (INSERT INTO payment.orders (notice_code, source, status, amount_fen, refunded_fen, "
           "payee_department, item_code, item_name, payer_name_enc, created_by, expires_at, updated_at) "
           "SELECT '97' || lpad(g::text, 18, '0'), 'NOTICE', 'PAYING', 100, 1, '320700-GA', 'FINE01', 'x', 'x', "
           "'test', now() + interval '1 day', now() - interval '1 hour' FROM generate_series(1, 250) g "
           "RETURNING id, notice_code), "
           "c AS (INSERT INTO payment.channel_orders (out_trade_no, order_id, attempt, channel, mchid, amount_fen) "
           "SELECT notice_code || '01', id, 1, CASE WHEN right(notice_code, 1)::int % 2 = 0 THEN 'gone' "
           "ELSE 'sim-down' END, '" MCHID "', 100 FROM o RETURNING out_trade_no, order_id, channel) "
           "INSERT INTO payment.refunds (order_id, out_refund_no, out_trade_no, channel, amount_fen, reason, "
           "requested_by, created_at) SELECT order_id, out_trade_no || 'R000000001', out_trade_no, channel, 1, "
           "'test', 'f-1', now() - interval '1 hour' FROM c");
  /* the service's channels include sim-down, where nothing listens (setup); 'gone' is none */
  janitor_stats st;
  memset(&st, 0, sizeof st);
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 200, &st), 0);
  /* the first pass: the 200 oldest of each kind, none of them resolvable */
  assert_true(status_is(&good, "PAYING"));
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE notice_code LIKE '97%' "
                                    "AND check_misses = 1 AND next_check_at > now()"), 200);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE out_refund_no LIKE '97%' "
                                    "AND check_misses = 1 AND next_check_at > now()"), 200);
  assert_true(st.deferred >= 400);
  /* the next pass: the 50 left and the working channel's order and refund */
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 200, &st), 0);
  assert_true(status_is(&good, "PAID"));
  assert_int_equal(journals(&good, "pay"), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE out_refund_no = $1 AND status = 'SUCCESS'", rno), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE notice_code LIKE '97%' "
                                    "AND check_misses = 1 AND next_check_at > now()"), 250);
  /* a third pass asks none of them again before their time */
  memset(&st, 0, sizeof st);
  assert_int_equal(janitor_pass(&yw_testpay_ctx, 0, 200, &st), 0);
  assert_int_equal(st.deferred, 0);
  /* out of the other tests' way */
  exec_sql("UPDATE payment.refunds SET status = 'FAILED' WHERE out_refund_no LIKE '97%'");
  exec_sql("UPDATE payment.orders SET status = 'CLOSING' WHERE notice_code LIKE '97%'");
  exec_sql("UPDATE payment.orders SET status = 'CLOSED', refunded_fen = 0 WHERE notice_code LIKE '97%'");
}

/* A REFUND.SUCCESS signed with the channel's key. */
static void make_refund_notice(notice_msg *m, const char *id, const char *no, const char *rno, long long total,
                               long long refund) {
  snprintf(m->body, sizeof m->body,
           "{\"id\":\"%s\",\"create_time\":\"2026-12-01T10:00:00+08:00\",\"event_type\":\"REFUND.SUCCESS\","
           "\"resource\":{\"mchid\":\"" MCHID "\",\"out_trade_no\":\"%s\",\"transaction_id\":\"4200%s\","
           "\"out_refund_no\":\"%s\",\"refund_id\":\"50%s\",\"refund_status\":\"SUCCESS\","
           "\"success_time\":\"2026-12-01T10:00:00+08:00\",\"amount\":{\"total\":%lld,\"refund\":%lld,"
           "\"payer_total\":%lld,\"payer_refund\":%lld,\"currency\":\"CNY\"}}}",
           id, no, no, rno, rno, total, refund, total, refund);
  sign_notice(m->body, (long long)time(NULL), m->ts, m->nonce, m->serial, m->sig);
}

/* Sends o a TRANSACTION.SUCCESS with these fields: refused, o ends in status, unbooked. */
static void refused_notice(order_ref *o, const char *id, long long fen, long long payer_fen, const char *state,
                           const char *currency, const char *status) {
  notice_msg m;
  make_notice_ex(&m, id, MCHID, o->no, fen, payer_fen, state, currency, (long long)time(NULL));
  assert_int_equal(send_notice(&m), GRPC_STATUS_FAILED_PRECONDITION);
  assert_true(status_is(o, status));
  assert_int_equal(journals(o, "pay"), 0);
  assert_int_equal(events(o, "payment.order_paid"), 0);
}

/* Review #10: what the channel says is checked whole before anything is booked. */
static void r2b_notifications_checked_whole(void **state) {
  (void)state;
  notice_msg m;
  order_ref o, o2;
  new_order(1200, &o);
  assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
  refused_notice(&o, "r2b-state", 1200, 1200, "NOTPAY", "CNY", "PAYING"); /* not a success: nothing changes */
  refused_notice(&o, "r2b-currency", 1200, 1200, "SUCCESS", "USD", "EXCEPTION");
  new_order(1300, &o2);
  assert_int_equal(pay(&o2, "sim", NULL), GRPC_STATUS_OK);
  refused_notice(&o2, "r2b-payer", 1300, 1, "SUCCESS", "CNY", "EXCEPTION"); /* the payer paid less */
  /* another merchant's notification on channel sim naming a sim-sm2 order: that order
   * is not sim's and is left alone */
  order_ref o3;
  other_merchants_notice(1400, "sim-sm2", "r2b-merchant", "PAYING", &o3);
  /* a refund notification whose amount or payment is not our refund's: refused, the
   * refund stays PENDING, nothing booked; the right one books it */
  order_ref p;
  new_paid_order(900, &p);
  char rno[64];
  pending_refund(&p, "400", "R00000000a", rno, sizeof rno);
  make_refund_notice(&m, "r2b-refund-amount", p.no, rno, 900, 900);
  assert_int_equal(send_notice(&m), GRPC_STATUS_FAILED_PRECONDITION);
  make_refund_notice(&m, "r2b-refund-payment", o.no, rno, 900, 400);
  assert_int_equal(send_notice(&m), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE out_refund_no = $1 AND status = 'PENDING'", rno), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.journal WHERE kind = 'refund' AND ref = $1", rno), 0);
  make_refund_notice(&m, "r2b-refund-right", p.no, rno, 900, 400);
  assert_int_equal(send_notice(&m), GRPC_STATUS_OK);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE out_refund_no = $1 AND status = 'SUCCESS'", rno), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.journal WHERE kind = 'refund' AND ref = $1", rno), 1);
}


/* Review 2: an order gone EXCEPTION with nothing booked (the channel reported another
 * amount; a notification named another merchant) whose genuine payment is then notified:
 * the money is at the channel, so it is booked once as the order's payment (journal pay,
 * not a second payment in suspense), with an alert, the order left EXCEPTION for finance,
 * who refunds it through RefundOrder. */
static void exception_with_nothing_booked_books_its_genuine_payment(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    order_ref o;
    if (k == 0) {
      new_order(5100, &o);
      assert_int_equal(pay(&o, "sim", NULL), GRPC_STATUS_OK);
      notice_msg m;
      make_notice(&m, "held-amount", MCHID, o.no, 5099, (long long)time(NULL));
      assert_int_equal(send_notice(&m), GRPC_STATUS_FAILED_PRECONDITION);
      assert_true(status_is(&o, "EXCEPTION"));
    } else {
      other_merchants_notice(5101, "sim", "held-merchant", "EXCEPTION", &o);
    }
    long long alerts = payment_metric("yw_payment_alerts_total");
    sim_pay("sim", o.no, "normal"); /* the channel's own, signed notification */
    double until = yw_test_now_s() + 10;
    while (journals(&o, "pay") == 0 && yw_test_now_s() < until) usleep(20000);
    assert_int_equal(journals(&o, "pay"), 1);
    assert_int_equal(journals(&o, "unknown_inflow"), 0);
    assert_true(status_is(&o, "EXCEPTION"));
    assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.orders WHERE id = $1 AND paid_out_trade_no = $2 "
                                      "AND exception_reason LIKE '%then paid (booked)'",
                                      o.id, o.no),
                     1);
    assert_int_equal(events(&o, "payment.order_paid"), 0);
    assert_true(payment_metric("yw_payment_alerts_total") > alerts);
    /* the channel again (another notification of the same payment): acknowledged, nothing
     * more booked */
    notice_msg again;
    make_notice(&again, k == 0 ? "held-again-0" : "held-again-1", MCHID, o.no, 5100 + k, (long long)time(NULL));
    assert_int_equal(send_notice(&again), GRPC_STATUS_OK);
    assert_int_equal(journals(&o, "pay"), 1);
    assert_int_equal(journals(&o, "unknown_inflow"), 0);
    /* finance gives it back */
    char key[32];
    snprintf(key, sizeof key, "rf-held-%d", k);
    refund_call a = {.id = o.id, .key = key, .amount = 5100 + k, .expected = 5100 + k};
    refund_one(&a);
    assert_int_equal(a.st, GRPC_STATUS_OK);
    assert_string_equal(a.status, "SUCCESS");
    assert_true(status_is(&o, "REFUNDED"));
  }
}

/* Review 2: the ledger refusing a refund's journal (a precondition: here a trigger of the
 * test raising the ledger's YW001 for that journal) is an error of pay_book_refund, named
 * as the ledger's refusal, never a success: nothing is booked, the refund stays PENDING,
 * its notification is refused (the channel retries) and, the ledger willing again, the
 * retry books it once. */
static void ledger_refusal_of_a_refund_is_an_error(void **state) {
  (void)state;
  order_ref p;
  new_paid_order(880, &p);
  char rno[64];
  pending_refund(&p, "380", "R00000000b", rno, sizeof rno);
  exec_sql("CREATE FUNCTION public.test_refuse_journal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF NEW.kind = 'refund' AND NEW.ref LIKE '%R00000000b' THEN "
           "RAISE EXCEPTION USING ERRCODE = 'YW001', MESSAGE = 'the journal is refused'; END IF; RETURN NEW; END $$");
  exec_sql("CREATE TRIGGER test_refuse_journal BEFORE INSERT ON payment.journal FOR EACH ROW "
           "EXECUTE FUNCTION public.test_refuse_journal()");
  PGconn *c = yw_pg_pool_acquire(yw_testpay_ctx.pool, 2000);
  assert_non_null(c);
  PGresult *r = PQexec(c, "BEGIN");
  PQclear(r);
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int booked = -1;
  int rc = pay_book_refund(c, rno, "50test", (long long)time(NULL), &booked, &err);
  r = PQexec(c, "ROLLBACK");
  PQclear(r);
  yw_pg_pool_release(yw_testpay_ctx.pool, c);
  assert_int_equal(rc, YW_EPRECOND);
  assert_int_equal(booked, 0);
  assert_non_null(strstr(err.message, "the journal is refused"));
  notice_msg m;
  make_refund_notice(&m, "ledger-refused-1", p.no, rno, 880, 380);
  assert_int_not_equal(send_notice(&m), GRPC_STATUS_OK);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE out_refund_no = $1 AND status = 'PENDING'", rno), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.journal WHERE kind = 'refund' AND ref = $1", rno), 0);
  exec_sql("DROP TRIGGER test_refuse_journal ON payment.journal");
  exec_sql("DROP FUNCTION public.test_refuse_journal()");
  assert_int_equal(send_notice(&m), GRPC_STATUS_OK);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.refunds WHERE out_refund_no = $1 AND status = 'SUCCESS'", rno), 1);
  assert_int_equal(yw_testpay_count("SELECT count(*) FROM payment.journal WHERE kind = 'refund' AND ref = $1", rno), 1);
}

/* Whether the server's gate keeps a Notify on channel a priority call. */
static int notify_keeps_priority(const char *channel) {
  Yiwang__Payment__V1__NotifyRequest n = YIWANG__PAYMENT__V1__NOTIFY_REQUEST__INIT;
  n.channel = (char *)channel;
  n.body.data = (uint8_t *)"{\"id\":\"x\"}";
  n.body.len = 10;
  n.timestamp = "1700000000";
  n.signature = "c2ln";
  uint8_t buf[256];
  size_t len = protobuf_c_message_pack(&n.base, buf);
  return payment_priority_gate(&yw_testpay_ctx, "/yiwang.payment.v1.PaymentService/Notify", buf, len);
}

/* Review 2: a flood of forged notifications loses Notify's priority. Each one refused for
 * its signature counts against its channel; at PAY_NOTIFY_REFUSED_MAX in the window the
 * server's gate admits that channel's notifications as ordinary calls (other channels
 * and methods keep theirs; an unknown channel or bytes that are no request never have
 * it), and once the window is over (asked with the window's end as the time, never
 * waited for) the channel has it again. Counted in /metrics. */
static void forged_notifications_lose_their_priority(void **state) {
  (void)state;
  long long refused = payment_metric("yw_payment_notify_refused_total");
  long long demoted = payment_metric("yw_payment_notify_demoted_total");
  assert_true(notify_keeps_priority("sim-sm2"));
  assert_false(notify_keeps_priority("no-such-channel"));
  assert_int_equal(payment_priority_gate(&yw_testpay_ctx, "/yiwang.payment.v1.PaymentService/Notify",
                                         (const uint8_t *)"\x0a\x7f", 2),
                   0);
  assert_int_equal(payment_priority_gate(&yw_testpay_ctx, "/yiwang.payment.v1.PaymentService/GetOrder", NULL, 0), 1);
  for (int i = 0; i < PAY_NOTIFY_REFUSED_MAX; i++) {
    assert_true(notify_keeps_priority("sim-sm2"));
    Yiwang__Payment__V1__NotifyRequest n = YIWANG__PAYMENT__V1__NOTIFY_REQUEST__INIT;
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    n.channel = "sim-sm2";
    n.body.data = (uint8_t *)"{\"id\":\"forged\"}";
    n.body.len = 15;
    n.timestamp = ts;
    n.nonce = "forged-nonce";
    n.signature = "Zm9yZ2VkIHNpZ25hdHVyZQ==";
    yw_caller anon;
    memset(&anon, 0, sizeof anon);
    ProtobufCMessage *out = NULL;
    assert_int_equal(yw_testpay_call_as(&anon, "Notify", &n.base, &yiwang__payment__v1__notify_response__descriptor,
                                        NULL, &out, NULL),
                     GRPC_STATUS_UNAUTHENTICATED);
  }
  assert_int_equal(payment_metric("yw_payment_notify_refused_total"), refused + PAY_NOTIFY_REFUSED_MAX);
  assert_false(notify_keeps_priority("sim-sm2"));
  assert_true(notify_keeps_priority("sim"));
  assert_int_equal(payment_metric("yw_payment_notify_demoted_total"), demoted + 3); /* the unknown, the bytes, sim-sm2 */
  /* calm again once the window that began with the first refusal is over */
  assert_true(pay_notify_priority("sim-sm2", (int64_t)time(NULL) + PAY_NOTIFY_REFUSED_WINDOW_S));
  /* the bound by explicit times on a channel of its own: a window, its end, a new one */
  for (int i = 0; i < PAY_NOTIFY_REFUSED_MAX - 1; i++) pay_notify_refused("t-guard", 1000 + i);
  assert_true(pay_notify_priority("t-guard", 1030));
  pay_notify_refused("t-guard", 1030);
  assert_false(pay_notify_priority("t-guard", 1030));
  assert_false(pay_notify_priority("t-guard", 1000 + PAY_NOTIFY_REFUSED_WINDOW_S - 1));
  assert_true(pay_notify_priority("t-guard", 1000 + PAY_NOTIFY_REFUSED_WINDOW_S));
  pay_notify_refused("t-guard", 1000 + PAY_NOTIFY_REFUSED_WINDOW_S); /* a new window, one refusal */
  assert_true(pay_notify_priority("t-guard", 1000 + PAY_NOTIFY_REFUSED_WINDOW_S));
  /* the channel the gate reads is the one the handler gets: protobuf-c keeps the last
   * field 1, so a request naming a calm channel first and a demoted one last is demoted */
  const char *notify = "/yiwang.payment.v1.PaymentService/Notify";
  assert_int_equal(payment_priority_gate(&yw_testpay_ctx, notify, (const uint8_t *)"\x0a\x07sim-sm2\x0a\x03sim", 14), 1);
  assert_int_equal(payment_priority_gate(&yw_testpay_ctx, notify, (const uint8_t *)"\x0a\x03sim\x0a\x07sim-sm2", 14), 0);
  /* many channels: every one stays bounded, those past the table's room together */
  char name[24];
  for (int c = 0; c < 40; c++) {
    snprintf(name, sizeof name, "t-many-%d", c);
    for (int i = 0; i < PAY_NOTIFY_REFUSED_MAX; i++) pay_notify_refused(name, 5000);
    assert_false(pay_notify_priority(name, 5000));
    assert_true(pay_notify_priority(name, 5000 + PAY_NOTIFY_REFUSED_WINDOW_S));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(pay_retry_switch_and_notification, ledger_after),
      cmocka_unit_test_teardown(r1_twenty_copies_at_once_book_once, ledger_after),
      cmocka_unit_test_teardown(r2_forged_stale_amount_merchant_refused, ledger_after),
      cmocka_unit_test_teardown(r2b_notifications_checked_whole, ledger_after),
      cmocka_unit_test_teardown(r3_notification_before_commit_retried_then_accepted, ledger_after),
      cmocka_unit_test_teardown(r4_paid_after_close_is_an_exception, ledger_after),
      cmocka_unit_test_teardown(r4c_paid_while_closing_is_paid, ledger_after),
      cmocka_unit_test_teardown(r5_success_without_notification_found_by_the_janitor, ledger_after),
      cmocka_unit_test_teardown(janitor_closes_expired_orders, ledger_after),
      cmocka_unit_test_teardown(janitor_runs_in_one_copy_at_a_time, ledger_after),
      cmocka_unit_test_teardown(r8_refunds_never_more_than_paid, ledger_after),
      cmocka_unit_test_teardown(r8b_refund_committed_before_the_channel_is_asked, ledger_after),
      cmocka_unit_test_teardown(r8c_refused_refund_released_and_audited, ledger_after),
      cmocka_unit_test_teardown(r8d_refund_outcome_unknown_stays_pending, ledger_after),
      cmocka_unit_test_teardown(r4b_exception_order_refunded, ledger_after),
      cmocka_unit_test_teardown(anyone_with_the_code_pays, ledger_after),
      cmocka_unit_test_teardown(r9_switches_limited_and_in_flight_prepay_kept, ledger_after),
      cmocka_unit_test_teardown(qr_code_of_the_notice, ledger_after),
      cmocka_unit_test_teardown(janitor_never_starves, ledger_after),
      cmocka_unit_test_teardown(ledger_refusal_of_a_refund_is_an_error, ledger_after),
      cmocka_unit_test_teardown(exception_with_nothing_booked_books_its_genuine_payment, ledger_after),
      cmocka_unit_test_teardown(forged_notifications_lose_their_priority, ledger_after),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
