/*
 * test_paysim.c - the channel simulator (yw-paysim, a real process on a free port) driven
 * through the channel adapter (payment/channel_sim.c), both channels: `sim` (RSA) and
 * `sim-sm2` (SM2). Notifications arrive at a small HTTP receiver of the test's own
 * (libevent, on a thread), which verifies each with the adapter and answers as the test
 * asks (acknowledge, or fail so many times).
 *
 * Proves: prepay is idempotent and refuses another amount; a payment's notification
 * verifies on both channels and carries the order; forged bodies, another channel's key,
 * stale timestamps, another serial are refused, a signed malformed body is EINVAL;
 * unacknowledged notifications are retried on the schedule and stop once acknowledged
 * (or when the schedule ends); /sim/notify sends 20 parallel copies, and older ones
 * first on demand; query and close (ORDER_PAID -> YW_ECONFLICT); refunds are idempotent
 * and NOT_ENOUGH past the amount; the statement's rows, fees and summary equal the
 * orders, parsed here independently, tampering included, by Asia/Shanghai day;
 * unsigned, badly signed and stale merchant calls answer 401; a stopped simulator makes
 * a call fail within its timeout.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
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

#include "channel.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_http.h"
#include "yw_seal.h"
#include "yw_testnet.h"
#include "yw_testpaysim.h"

#define MAXREC 2048

typedef struct rec {
  char chan[16];
  char no[PAY_OUT_NO_MAX];
  int rc;               /* pay_channel_verify_notify's answer */
  pay_notice notice;
  char ts[24], nonce[80], serial[40], sig[512];
  char body[2048];
  size_t len;
  double at;            /* arrival, monotonic seconds */
} rec;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static rec g_recs[MAXREC];
static int g_nrecs;
static struct {
  char no[40];
  int fail_left; /* -1: always */
} g_fail[16];
static int g_nfail;

static pay_channels *g_set;
static yw_testpaysim g_sim; /* the simulator: g_sim.pid, .port, .keys_dir, .key_hex */
static int g_recv_port;

/* ---- the receiver ---- */

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t size) {
  const char *v = evhttp_find_header(h, name);
  snprintf(out, size, "%s", v != NULL ? v : "");
}

static void on_notify(struct evhttp_request *req, void *arg) {
  (void)arg;
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  const char *chan = path != NULL && strncmp(path, "/notify/", 8) == 0 ? path + 8 : "";
  struct evkeyvalq *h = evhttp_request_get_input_headers(req);
  rec r = {0};
  r.at = yw_test_now_s();
  snprintf(r.chan, sizeof r.chan, "%s", chan);
  copy_header(h, "Yw-Pay-Timestamp", r.ts, sizeof r.ts);
  copy_header(h, "Yw-Pay-Nonce", r.nonce, sizeof r.nonce);
  copy_header(h, "Yw-Pay-Serial", r.serial, sizeof r.serial);
  copy_header(h, "Yw-Pay-Signature", r.sig, sizeof r.sig);
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  r.len = evbuffer_get_length(in);
  if (r.len >= sizeof r.body) r.len = sizeof r.body - 1;
  evbuffer_copyout(in, r.body, r.len);
  const pay_channel *ch = pay_channels_find(g_set, chan);
  r.rc = ch == NULL ? YW_ENOTFOUND
                    : pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, r.sig,
                                                (const uint8_t *)r.body, r.len, time(NULL),
                                                &r.notice);
  snprintf(r.no, sizeof r.no, "%s", r.notice.out_trade_no);
  int ack = r.rc == 0;
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nfail && ack; i++)
    if (strcmp(g_fail[i].no, r.no) == 0 && g_fail[i].fail_left != 0) {
      if (g_fail[i].fail_left > 0) g_fail[i].fail_left--;
      ack = 0;
    }
  if (g_nrecs < MAXREC) g_recs[g_nrecs++] = r;
  pthread_mutex_unlock(&g_mu);
  struct evbuffer *out = evhttp_request_get_output_buffer(req);
  evbuffer_add_printf(out, ack ? "{\"code\":\"SUCCESS\"}" : "{\"code\":\"FAIL\"}");
  evhttp_send_reply(req, ack ? 200 : 500, NULL, NULL);
}

static void *receiver(void *arg) {
  event_base_dispatch(arg);
  return NULL;
}

static void fail_next(const char *no, int times) {
  pthread_mutex_lock(&g_mu);
  snprintf(g_fail[g_nfail].no, sizeof g_fail[g_nfail].no, "%s", no);
  g_fail[g_nfail++].fail_left = times;
  pthread_mutex_unlock(&g_mu);
}

/* Verified deliveries for no of kind (0: any). */
static int count(const char *no, int kind) {
  int n = 0;
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nrecs; i++)
    if (g_recs[i].rc == 0 && strcmp(g_recs[i].no, no) == 0 &&
        (kind == 0 || (int)g_recs[i].notice.kind == kind))
      n++;
  pthread_mutex_unlock(&g_mu);
  return n;
}

/* Polls (bounded: 10 s) until count(no, kind) >= n; returns the count. */
static int wait_count(const char *no, int kind, int n) {
  double until = yw_test_now_s() + 10;
  int c;
  while ((c = count(no, kind)) < n && yw_test_now_s() < until) usleep(5000);
  return c;
}

/* The last verified delivery for no (a copy). */
static rec last_rec(const char *no) {
  rec r = {0};
  pthread_mutex_lock(&g_mu);
  for (int i = g_nrecs - 1; i >= 0; i--)
    if (g_recs[i].rc == 0 && strcmp(g_recs[i].no, no) == 0) {
      r = g_recs[i];
      break;
    }
  pthread_mutex_unlock(&g_mu);
  return r;
}

/* ---- the simulator's controls ---- */

static char *base_url(const char *chan, char *out, size_t size) {
  snprintf(out, size, "http://127.0.0.1:%d/%s", g_sim.port, chan);
  return out;
}

/* POSTs json to the simulator's path (unsigned); returns the status, *answer owned. */
static long sim_call(const char *method, const char *chan, const char *path, const char *json,
                     json_t **answer) {
  char url[256], b[128];
  snprintf(url, sizeof url, "%s%s", base_url(chan, b, sizeof b), path);
  static const char *const headers[] = {"Content-Type: application/json", NULL};
  yw_http_req r = {.method = method, .url = url, .headers = headers, .body = json,
                   .body_len = json != NULL ? strlen(json) : 0, .timeout_ms = 5000};
  long status = 0;
  char *resp = NULL;
  assert_int_equal(yw_http_request(&r, &status, &resp, NULL), 0);
  if (answer != NULL) *answer = json_loads(resp, 0, NULL);
  free(resp);
  return status;
}

static void sim_pay(const char *chan, const char *no, const char *extra, char txid[PAY_ID_MAX]) {
  char body[512];
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"payer\":\"o_test\"%s%s}", no,
           extra != NULL ? "," : "", extra != NULL ? extra : "");
  json_t *a = NULL;
  assert_int_equal(sim_call("POST", chan, "/sim/pay", body, &a), 200);
  if (txid != NULL) snprintf(txid, PAY_ID_MAX, "%s", json_string_value(json_object_get(a, "transaction_id")));
  json_decref(a);
}

/* The simulator's view of the order's newest notification. */
static void view(const char *chan, const char *no, int *attempts, int *acked, int *pending) {
  char path[128];
  snprintf(path, sizeof path, "/sim/orders/%s", no);
  json_t *a = NULL;
  assert_int_equal(sim_call("GET", chan, path, NULL, &a), 200);
  json_t *n = json_array_get(json_object_get(a, "notifications"), 0);
  assert_non_null(n);
  *attempts = (int)json_integer_value(json_object_get(n, "attempts"));
  *acked = json_is_true(json_object_get(n, "acked"));
  *pending = json_is_true(json_object_get(n, "pending"));
  json_decref(a);
}

static void prepay(const pay_channel *ch, const char *no, int64_t fen, pay_prepay_res *res) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/notify/%s", g_recv_port, pay_channel_name(ch));
  pay_prepay_req req = {.out_trade_no = no, .description = "不动产登记费 test", .total_fen = fen,
                        .notify_url = url, .expire_unix = time(NULL) + 900};
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_prepay(ch, &req, 3000, res, code), 0);
}

static void unique_no(const char *tag, char out[40]) {
  static int seq;
  snprintf(out, 40, "%s%d%ld%d", tag, (int)getpid(), (long)time(NULL) % 100000, ++seq);
}

/* ---- setup ---- */

static int setup(void **state) {
  (void)state;
  yw_http_global_init();
  g_recv_port = yw_test_free_port();
  /* the receiver */
  struct event_base *base = event_base_new();
  struct evhttp *http = evhttp_new(base);
  evhttp_set_gencb(http, on_notify, NULL);
  if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)g_recv_port) != 0) return -1;
  pthread_t t;
  pthread_create(&t, NULL, receiver, base);
  pthread_detach(t);
  /* the simulator */
  static const char *const sim_env[] = {"YW_PAYSIM_RETRY_MS=50,100,150,200,250", "YW_PAYSIM_NOTIFY_TIMEOUT_MS=2000",
                                         NULL};
  if (yw_testpaysim_start_env(YW_PAYSIM_BIN, &g_sim, sim_env) != 0) return -1;
  char spec[256], kspec[1024], err[256];
  snprintf(spec, sizeof spec, "sim=http://127.0.0.1:%d/sim,sim-sm2=http://127.0.0.1:%d/sim-sm2/",
           g_sim.port, g_sim.port);
  snprintf(kspec, sizeof kspec, "sim=1900000001:%s:%s/sim.pub.pem,sim-sm2=1900000002:%s:%s/sim-sm2.pub.pem",
           g_sim.key_hex, g_sim.keys_dir, g_sim.sm2_key_hex, g_sim.keys_dir);
  if (pay_channels_load(spec, kspec, &g_set, err, sizeof err) != 0) {
    fprintf(stderr, "load: %s\n", err);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  yw_testpaysim_stop(&g_sim);
  pay_channels_free(g_set);
  return 0;
}

/* ---- tests ---- */

static const char *const chans[] = {"sim", "sim-sm2"};

static void test_settings_refused_when_malformed(void **state) {
  (void)state;
  pay_channels *s = NULL;
  char err[256];
  assert_int_equal(pay_channels_load("sim=http://127.0.0.1:1/sim", "sim=1:abc:/nonexistent", &s,
                                     err, sizeof err), YW_EINVAL);
  assert_null(s);
  assert_int_equal(pay_channels_load("sim=http://127.0.0.1:1/sim", "", &s, err, sizeof err), YW_EINVAL);
  assert_int_equal(pay_channels_load("bank=http://127.0.0.1:1/x", "bank=1:aa:/x", &s, err, sizeof err),
                   YW_EINVAL);
  assert_int_equal(pay_channels_count(g_set), 2);
  assert_string_equal(pay_channel_mchid(pay_channels_find(g_set, "sim-sm2")), "1900000002");
  assert_null(pay_channels_find(g_set, "wechat"));
}

static void test_prepay_retry_same_id_other_amount_refused(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    const pay_channel *ch = pay_channels_find(g_set, chans[i]);
    char no[40];
    unique_no("pp", no);
    pay_prepay_res a, b;
    prepay(ch, no, 1250, &a);
    prepay(ch, no, 1250, &b);
    assert_string_equal(a.prepay_id, b.prepay_id);
    assert_non_null(strstr(a.code_url, a.prepay_id));
    char url[128], code[PAY_CODE_MAX];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/notify/%s", g_recv_port, chans[i]);
    pay_prepay_req req = {.out_trade_no = no, .description = "x", .total_fen = 1251, .notify_url = url};
    assert_int_equal(pay_channel_prepay(ch, &req, 3000, &b, code), YW_EEXIST);
    assert_string_equal(code, "OUT_TRADE_NO_USED");
    req.out_trade_no = "bad no!";
    assert_int_equal(pay_channel_prepay(ch, &req, 3000, &b, code), YW_EINVAL);
  }
}

static void test_pay_notification_verified_both_channels(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    const pay_channel *ch = pay_channels_find(g_set, chans[i]);
    char no[40], txid[PAY_ID_MAX];
    unique_no("pn", no);
    pay_prepay_res p;
    prepay(ch, no, 1250, &p);
    sim_pay(chans[i], no, NULL, txid);
    assert_int_equal(wait_count(no, PAY_NOTICE_TRANSACTION, 1), 1);
    rec r = last_rec(no);
    assert_string_equal(r.chan, chans[i]);
    assert_int_equal(r.notice.kind, PAY_NOTICE_TRANSACTION);
    assert_string_equal(r.notice.mchid, pay_channel_mchid(ch));
    assert_string_equal(r.notice.transaction_id, txid);
    assert_string_equal(r.notice.trade_state, "SUCCESS");
    assert_int_equal(r.notice.total_fen, 1250);
    assert_int_equal(r.notice.payer_total_fen, 1250);
    assert_true(llabs(r.notice.success_unix - (int64_t)time(NULL)) < 60);
    pay_query_res q;
    char code[PAY_CODE_MAX];
    assert_int_equal(pay_channel_query(ch, no, 3000, &q, code), 0);
    assert_int_equal(q.state, PAY_TRADE_SUCCESS);
    assert_string_equal(q.transaction_id, txid);
    assert_int_equal(q.total_fen, 1250);
    assert_int_equal(q.success_unix, r.notice.success_unix);
    /* acknowledged once: nothing pending (the simulator marks the notification acked
     * once it has read the receiver's answer, which may come after the receiver kept it) */
    int attempts = 0, acked = 0, pending = 1;
    double until = yw_test_now_s() + 10;
    for (;;) {
      view(chans[i], no, &attempts, &acked, &pending);
      if ((acked && !pending) || yw_test_now_s() >= until) break;
      usleep(10000);
    }
    assert_int_equal(attempts, 1);
    assert_true(acked);
    assert_false(pending);
  }
}

static void test_forged_stale_wrong_key_refused(void **state) {
  (void)state;
  const pay_channel *rsa = pay_channels_find(g_set, "sim");
  const pay_channel *sm2 = pay_channels_find(g_set, "sim-sm2");
  for (int i = 0; i < 2; i++) {
    const pay_channel *ch = i == 0 ? rsa : sm2, *other = i == 0 ? sm2 : rsa;
    char no[40];
    unique_no("fg", no);
    pay_prepay_res p;
    prepay(ch, no, 800, &p);
    sim_pay(chans[i], no, NULL, NULL);
    assert_int_equal(wait_count(no, 0, 1), 1);
    rec r = last_rec(no);
    int64_t ts = strtoll(r.ts, NULL, 10);
    pay_notice n;
    const uint8_t *b = (const uint8_t *)r.body;
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, r.sig, b, r.len, ts, &n), 0);
    /* forged: the amount changed in the body */
    char forged[2048];
    snprintf(forged, sizeof forged, "%.*s", (int)r.len, r.body);
    char *t = strstr(forged, "\"total\":800");
    assert_non_null(t);
    memcpy(t, "\"total\":100", 11);
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, r.sig,
                                               (const uint8_t *)forged, r.len, ts, &n), YW_EPERM);
    /* another nonce under the same signature */
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, "other", r.serial, r.sig, b, r.len, ts, &n),
                     YW_EPERM);
    /* stale or from the future: the 300 s window */
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, r.sig, b, r.len, ts + 301, &n),
                     YW_EPERM);
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, r.sig, b, r.len, ts - 301, &n),
                     YW_EPERM);
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, r.sig, b, r.len, ts + 300, &n), 0);
    /* the other channel's key (and serial) */
    assert_int_equal(pay_channel_verify_notify(other, r.ts, r.nonce, NULL, r.sig, b, r.len, ts, &n),
                     YW_EPERM);
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, "00FF", r.sig, b, r.len, ts, &n),
                     YW_EPERM);
    /* headers missing */
    assert_int_equal(pay_channel_verify_notify(ch, NULL, r.nonce, r.serial, r.sig, b, r.len, ts, &n),
                     YW_EPERM);
    assert_int_equal(pay_channel_verify_notify(ch, r.ts, r.nonce, r.serial, NULL, b, r.len, ts, &n),
                     YW_EPERM);
  }
  /* signed with the channel's real key but not the expected shape: EINVAL */
  char path[160];
  snprintf(path, sizeof path, "%s/sim-sm2.key", g_sim.keys_dir);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char pem[4096];
  size_t pl = fread(pem, 1, sizeof pem - 1, f);
  fclose(f);
  yw_seal *seal = NULL;
  assert_int_equal(yw_seal_from_pem(pem, pl, &seal), 0);
  const char *body = "{\"id\":\"x\",\"event_type\":\"TRANSACTION.SUCCESS\",\"resource\":{\"mchid\":1}}";
  char msg[512], sig[YW_SEAL_SIG_MAX], ts[24];
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  snprintf(msg, sizeof msg, "%s\nabc\n%s\n", ts, body);
  assert_int_equal(yw_seal_sign(seal, msg, strlen(msg), sig, sizeof sig), 0);
  pay_notice n;
  assert_int_equal(pay_channel_verify_notify(sm2, ts, "abc", NULL, sig, (const uint8_t *)body,
                                             strlen(body), time(NULL), &n), YW_EINVAL);
  yw_seal_free(seal);
}

static void test_unacknowledged_retried_until_acknowledged(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    const pay_channel *ch = pay_channels_find(g_set, chans[i]);
    char no[40];
    unique_no("rt", no);
    fail_next(no, 3); /* three refusals, then SUCCESS */
    pay_prepay_res p;
    prepay(ch, no, 500, &p);
    sim_pay(chans[i], no, NULL, NULL);
    int attempts = 0, acked = 0, pending = 1;
    double until = yw_test_now_s() + 10;
    while (!(acked && !pending) && yw_test_now_s() < until) {
      view(chans[i], no, &attempts, &acked, &pending);
      usleep(10000);
    }
    assert_true(acked);
    assert_false(pending);
    assert_int_equal(attempts, 4);
    assert_int_equal(count(no, 0), 4);
    /* on the schedule (50, 100, 150 ms): a retry never comes before its step is over */
    double at[4];
    int k = 0;
    pthread_mutex_lock(&g_mu);
    for (int j = 0; j < g_nrecs && k < 4; j++)
      if (strcmp(g_recs[j].no, no) == 0) at[k++] = g_recs[j].at;
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(k, 4);
    assert_true(at[1] - at[0] >= 0.045);
    assert_true(at[2] - at[1] >= 0.095);
    assert_true(at[3] - at[2] >= 0.145);
  }
  /* never acknowledged: the schedule (5 steps) ends, nothing stays pending */
  const pay_channel *ch = pay_channels_find(g_set, "sim");
  char no[40];
  unique_no("ga", no);
  fail_next(no, -1);
  pay_prepay_res p;
  prepay(ch, no, 500, &p);
  sim_pay("sim", no, NULL, NULL);
  int attempts = 0, acked = 0, pending = 1;
  double until = yw_test_now_s() + 10;
  while ((attempts < 6 || pending) && yw_test_now_s() < until) {
    view("sim", no, &attempts, &acked, &pending);
    usleep(10000);
  }
  assert_int_equal(attempts, 6);
  assert_false(acked);
  assert_false(pending);
  assert_int_equal(count(no, 0), 6);
}

static void test_notify_twenty_parallel_copies_and_out_of_order(void **state) {
  (void)state;
  const pay_channel *ch = pay_channels_find(g_set, "sim-sm2");
  char no[40];
  unique_no("cp", no);
  pay_prepay_res p;
  prepay(ch, no, 2000, &p);
  sim_pay("sim-sm2", no, NULL, NULL);
  assert_int_equal(wait_count(no, 0, 1), 1);
  char body[256];
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"times\":20,\"parallel\":true}", no);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/notify", body, NULL), 200);
  assert_int_equal(wait_count(no, PAY_NOTICE_TRANSACTION, 21), 21);
  /* every copy is the same notification */
  rec first = last_rec(no);
  pthread_mutex_lock(&g_mu);
  int same = 0;
  for (int i = 0; i < g_nrecs; i++)
    if (strcmp(g_recs[i].no, no) == 0 && strcmp(g_recs[i].notice.id, first.notice.id) == 0) same++;
  pthread_mutex_unlock(&g_mu);
  assert_int_equal(same, 21);
  /* a refund, then the older notification after the newer one */
  pay_refund_req rr = {.out_trade_no = no, .out_refund_no = "", .refund_fen = 300, .total_fen = 2000};
  char rno[40];
  unique_no("rf", rno);
  rr.out_refund_no = rno;
  pay_refund_res res;
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &res, code), 0);
  assert_int_equal(wait_count(no, PAY_NOTICE_REFUND, 1), 1);
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"times\":1,\"out_of_order\":true}", no);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/notify", body, NULL), 200);
  assert_int_equal(wait_count(no, PAY_NOTICE_TRANSACTION, 22), 22);
  assert_int_equal(wait_count(no, PAY_NOTICE_REFUND, 2), 2);
  pthread_mutex_lock(&g_mu);
  int last_kind = 0, before_last = 0;
  for (int i = 0; i < g_nrecs; i++)
    if (strcmp(g_recs[i].no, no) == 0) {
      before_last = last_kind;
      last_kind = (int)g_recs[i].notice.kind;
    }
  pthread_mutex_unlock(&g_mu);
  assert_int_equal(before_last, PAY_NOTICE_REFUND);    /* the newest first, */
  assert_int_equal(last_kind, PAY_NOTICE_TRANSACTION); /* then the older one */
  rec r = last_rec(no);
  assert_int_equal(r.notice.kind, PAY_NOTICE_TRANSACTION);
  /* nothing notified yet: refused */
  char none[40];
  unique_no("nn", none);
  prepay(ch, none, 100, &p);
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"times\":2}", none);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/notify", body, NULL), 400);
}

static void test_query_close_paid_is_conflict(void **state) {
  (void)state;
  const pay_channel *ch = pay_channels_find(g_set, "sim");
  char no[40], code[PAY_CODE_MAX];
  unique_no("cl", no);
  pay_prepay_res p;
  pay_query_res q;
  prepay(ch, no, 300, &p);
  assert_int_equal(pay_channel_query(ch, no, 3000, &q, code), 0);
  assert_int_equal(q.state, PAY_TRADE_NOTPAY);
  assert_string_equal(q.transaction_id, "");
  assert_int_equal(pay_channel_close(ch, no, 3000, code), 0);
  assert_int_equal(pay_channel_close(ch, no, 3000, code), 0);
  assert_int_equal(pay_channel_query(ch, no, 3000, &q, code), 0);
  assert_int_equal(q.state, PAY_TRADE_CLOSED);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/notify/sim", g_recv_port);
  pay_prepay_req req = {.out_trade_no = no, .description = "x", .total_fen = 300, .notify_url = url};
  assert_int_equal(pay_channel_prepay(ch, &req, 3000, &p, code), YW_EPRECOND);
  assert_string_equal(code, "ORDER_CLOSED");
  /* a paid order cannot be closed: the platform must treat it as paid */
  char paid[40];
  unique_no("cp", paid);
  prepay(ch, paid, 300, &p);
  sim_pay("sim", paid, "\"notify\":\"none\"", NULL);
  assert_int_equal(pay_channel_close(ch, paid, 3000, code), YW_ECONFLICT);
  assert_string_equal(code, "ORDER_PAID");
  assert_int_equal(pay_channel_query(ch, paid, 3000, &q, code), 0);
  assert_int_equal(q.state, PAY_TRADE_SUCCESS);
  assert_int_equal(count(paid, 0), 0); /* notify none */
  assert_int_equal(pay_channel_query(ch, "nosuchorder", 3000, &q, code), YW_ENOTFOUND);
  assert_string_equal(code, "ORDER_NOT_EXIST");
  assert_int_equal(pay_channel_close(ch, "nosuchorder", 3000, code), YW_ENOTFOUND);
}

static void test_refunds_idempotent_not_enough(void **state) {
  (void)state;
  const pay_channel *ch = pay_channels_find(g_set, "sim");
  char no[40], r1[40], r2[40], code[PAY_CODE_MAX];
  unique_no("rd", no);
  unique_no("ra", r1);
  unique_no("rb", r2);
  pay_prepay_res p;
  prepay(ch, no, 1250, &p);
  pay_refund_req rr = {.out_trade_no = no, .out_refund_no = r1, .refund_fen = 500, .total_fen = 1250};
  pay_refund_res a, b;
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &a, code), YW_EPRECOND); /* not paid */
  assert_string_equal(code, "ORDER_NOT_PAID");
  sim_pay("sim", no, NULL, NULL);
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &a, code), 0);
  assert_string_equal(a.status, "SUCCESS");
  assert_string_equal(a.out_refund_no, r1);
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &b, code), 0);
  assert_string_equal(a.refund_id, b.refund_id);
  rr.out_refund_no = r2;
  rr.refund_fen = 751;
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &b, code), YW_EPRECOND);
  assert_string_equal(code, "NOT_ENOUGH");
  rr.refund_fen = 750;
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &b, code), 0);
  assert_string_not_equal(a.refund_id, b.refund_id);
  pay_query_res q;
  assert_int_equal(pay_channel_query(ch, no, 3000, &q, code), 0);
  assert_int_equal(q.state, PAY_TRADE_REFUND);
  /* each refund notified once, verified, with its amounts */
  assert_int_equal(wait_count(no, PAY_NOTICE_REFUND, 2), 2);
  rec r = last_rec(no);
  assert_int_equal(r.notice.kind, PAY_NOTICE_REFUND);
  assert_string_equal(r.notice.out_refund_no, r2);
  assert_int_equal(r.notice.refund_fen, 750);
  assert_int_equal(r.notice.total_fen, 1250);
  rr.out_trade_no = "nosuchorder";
  char r3[40];
  unique_no("rc", r3);
  rr.out_refund_no = r3;
  assert_int_equal(pay_channel_refund(ch, &rr, 3000, &b, code), YW_ENOTFOUND);
}

/* ---- statements, parsed here on their own ---- */

typedef struct srow {
  char time[24], mchid[24], no[40], txid[48], type[12], state[12], rno[40];
  int64_t amount, refund, fee;
} srow;

/* "12.50" / "-0.03" -> fen; the field's leading backtick is required. */
static int64_t fen_of(const char *f) {
  assert_true(f[0] == '`');
  f++;
  int neg = *f == '-';
  if (neg) f++;
  const char *dot = strchr(f, '.');
  assert_non_null(dot);
  assert_int_equal(strlen(dot), 3);
  int64_t v = strtoll(f, NULL, 10) * 100 + strtoll(dot + 1, NULL, 10);
  return neg ? -v : v;
}

static void field(char *dst, size_t size, const char *f) {
  assert_true(f[0] == '`');
  snprintf(dst, size, "%s", f + 1);
}

/* Splits csv into rows and the summary; returns the number of rows. */
static int parse_statement(char *csv, srow *rows, int max, int64_t summary[4]) {
  int line = 0, n = 0, in_summary = 0;
  for (char *l = csv, *next; l != NULL && *l; l = next, line++) {
    next = strchr(l, '\n');
    if (next != NULL) *next++ = '\0';
    size_t ll = strlen(l);
    if (ll > 0 && l[ll - 1] == '\r') l[--ll] = '\0';
    if (line == 0) {
      assert_string_equal(l, "交易时间,商户号,商户订单号,渠道订单号,交易类型,交易状态,订单金额,"
                             "商户退款单号,退款金额,手续费,费率");
      continue;
    }
    if (strcmp(l, "总交易单数,应结订单总金额,退款总金额,手续费总金额") == 0) {
      in_summary = 1;
      continue;
    }
    char *f[16];
    int nf = 0;
    for (char *p = l; nf < 16;) {
      f[nf++] = p;
      char *c = strchr(p, ',');
      if (c == NULL) break;
      *c = '\0';
      p = c + 1;
    }
    if (in_summary) {
      assert_int_equal(nf, 4);
      assert_true(f[0][0] == '`');
      summary[0] = strtoll(f[0] + 1, NULL, 10);
      for (int i = 1; i < 4; i++) summary[i] = fen_of(f[i]);
      continue;
    }
    assert_int_equal(nf, 11);
    assert_true(n < max);
    srow *r = &rows[n++];
    field(r->time, sizeof r->time, f[0]);
    field(r->mchid, sizeof r->mchid, f[1]);
    field(r->no, sizeof r->no, f[2]);
    field(r->txid, sizeof r->txid, f[3]);
    field(r->type, sizeof r->type, f[4]);
    field(r->state, sizeof r->state, f[5]);
    r->amount = fen_of(f[6]);
    field(r->rno, sizeof r->rno, f[7]);
    r->refund = fen_of(f[8]);
    r->fee = fen_of(f[9]);
    assert_string_equal(f[10], "`0.60%");
  }
  assert_true(in_summary);
  return n;
}

static int64_t half_up_fee(int64_t fen) { return (fen * 6 + 500) / 1000; }

/* The statement's summary equals its rows; each row's fee is the rule's. */
static void check_consistent(const srow *rows, int n, const int64_t summary[4]) {
  int64_t paid = 0, refunded = 0, fees = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(rows[i].state, "SUCCESS") == 0) {
      paid += rows[i].amount;
      assert_int_equal(rows[i].fee, half_up_fee(rows[i].amount));
      assert_int_equal(rows[i].refund, 0);
    } else {
      assert_string_equal(rows[i].state, "REFUND");
      assert_int_equal(rows[i].fee, -half_up_fee(rows[i].refund));
    }
    refunded += rows[i].refund;
    fees += rows[i].fee;
  }
  assert_int_equal(summary[0], n);
  assert_int_equal(summary[1], paid);
  assert_int_equal(summary[2], refunded);
  assert_int_equal(summary[3], fees);
}

static const srow *find_row(const srow *rows, int n, const char *no, const char *state) {
  for (int i = 0; i < n; i++)
    if (strcmp(rows[i].no, no) == 0 && strcmp(rows[i].state, state) == 0) return &rows[i];
  return NULL;
}

static void test_statement_totals_fees_tamper_by_day(void **state) {
  (void)state;
  const pay_channel *ch = pay_channels_find(g_set, "sim-sm2");
  /* a day of its own, long ago, so that other tests' orders are not on it */
  struct {
    const char *tag;
    int64_t fen;
    const char *when;
  } o[] = {
      {"sa", 1250, "2025-03-10T10:00:00+08:00"},  /* fee 7.5 -> 8 fen */
      {"sb", 999, "2025-03-10T00:00:00+08:00"},   /* the day's first second */
      {"sc", 2000, "2025-03-10T12:00:00+08:00"},  /* shown as 19.00 */
      {"sd", 500, "2025-03-10T13:00:00+08:00"},   /* dropped */
      {"se", 1, "2025-03-10T15:59:59Z"},          /* 23:59:59 in Shanghai: the same day */
      {"sf", 700, "2025-03-10T16:00:00Z"},        /* 00:00:00 the next day */
  };
  char nos[6][40], tx[6][PAY_ID_MAX];
  for (int i = 0; i < 6; i++) {
    unique_no(o[i].tag, nos[i]);
    pay_prepay_res p;
    prepay(ch, nos[i], o[i].fen, &p);
    char extra[96];
    snprintf(extra, sizeof extra, "\"notify\":\"none\",\"success_time\":\"%s\"", o[i].when);
    sim_pay("sim-sm2", nos[i], extra, tx[i]);
  }
  char body[256], extra_no[40];
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"kind\":\"amount\",\"amount\":1900}", nos[2]);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/tamper", body, NULL), 200);
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"kind\":\"drop\"}", nos[3]);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/tamper", body, NULL), 200);
  unique_no("sx", extra_no);
  snprintf(body, sizeof body,
           "{\"out_trade_no\":\"%s\",\"kind\":\"extra\",\"amount\":777,\"success_time\":"
           "\"2025-03-10T20:00:00+08:00\"}", extra_no);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/tamper", body, NULL), 200);
  snprintf(body, sizeof body, "{\"out_trade_no\":\"%s\",\"kind\":\"bogus\"}", nos[0]);
  assert_int_equal(sim_call("POST", "sim-sm2", "/sim/tamper", body, NULL), 400);

  char *csv = NULL, code[PAY_CODE_MAX];
  size_t len = 0;
  assert_int_equal(pay_channel_statement(ch, "2025-03-10", 5000, &csv, &len, code), 0);
  assert_int_equal(strlen(csv), len);
  srow rows[64];
  int64_t summary[4];
  int n = parse_statement(csv, rows, 64, summary);
  free(csv);
  assert_int_equal(n, 5); /* sa sb sc se and the extra row */
  check_consistent(rows, n, summary);
  assert_int_equal(summary[1], 1250 + 999 + 1900 + 1 + 777);
  const srow *a = find_row(rows, n, nos[0], "SUCCESS");
  assert_non_null(a);
  assert_string_equal(a->time, "2025-03-10 10:00:00");
  assert_string_equal(a->mchid, "1900000002");
  assert_string_equal(a->txid, tx[0]);
  assert_string_equal(a->type, "NATIVE");
  assert_int_equal(a->amount, 1250);
  assert_int_equal(a->fee, 8);
  assert_string_equal(rows[0].no, nos[1]); /* ordered by time */
  assert_string_equal(find_row(rows, n, nos[2], "SUCCESS") != NULL ? "" : "x", "");
  assert_int_equal(find_row(rows, n, nos[2], "SUCCESS")->amount, 1900);
  assert_null(find_row(rows, n, nos[3], "SUCCESS"));
  assert_non_null(find_row(rows, n, nos[4], "SUCCESS"));
  assert_string_equal(find_row(rows, n, nos[4], "SUCCESS")->time, "2025-03-10 23:59:59");
  assert_null(find_row(rows, n, nos[5], "SUCCESS"));
  assert_int_equal(find_row(rows, n, extra_no, "SUCCESS")->amount, 777);
  /* the next day holds sf alone */
  assert_int_equal(pay_channel_statement(ch, "2025-03-11", 5000, &csv, &len, code), 0);
  n = parse_statement(csv, rows, 64, summary);
  free(csv);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].no, nos[5]);
  assert_string_equal(rows[0].time, "2025-03-11 00:00:00");
  check_consistent(rows, n, summary);
  /* nothing on that day */
  assert_int_equal(pay_channel_statement(ch, "2025-03-12", 5000, &csv, &len, code), YW_ENOTFOUND);
  assert_string_equal(code, "NO_STATEMENT_EXIST");
  assert_int_equal(pay_channel_statement(ch, "2025-3-12", 5000, &csv, &len, code), YW_EINVAL);

  /* refunds show on the day they were made, with the fee given back */
  const pay_channel *rsa = pay_channels_find(g_set, "sim");
  char no[40], rno[40];
  unique_no("sr", no);
  unique_no("sq", rno);
  pay_prepay_res p;
  prepay(rsa, no, 1250, &p);
  sim_pay("sim", no, "\"notify\":\"none\"", NULL);
  pay_refund_req rr = {.out_trade_no = no, .out_refund_no = rno, .refund_fen = 500, .total_fen = 1250};
  pay_refund_res res;
  assert_int_equal(pay_channel_refund(rsa, &rr, 3000, &res, code), 0);
  char today[PAY_TIME_MAX];
  pay_time_format(res.success_unix, today);
  today[10] = '\0';
  assert_int_equal(pay_channel_statement(rsa, today, 5000, &csv, &len, code), 0);
  srow *big = calloc(MAXREC, sizeof *big);
  n = parse_statement(csv, big, MAXREC, summary);
  free(csv);
  check_consistent(big, n, summary);
  const srow *rf = find_row(big, n, no, "REFUND");
  assert_non_null(rf);
  assert_string_equal(rf->rno, rno);
  assert_int_equal(rf->amount, 1250);
  assert_int_equal(rf->refund, 500);
  assert_int_equal(rf->fee, -3);
  assert_non_null(find_row(big, n, no, "SUCCESS"));
  free(big);
}

/* Sends a merchant call with an Authorization header of the test's making. */
static long raw_call(const char *method, const char *path, const char *body, const char *mchid,
                     const char *key_hex, long long ts) {
  char url[256], tss[24], sig[65] = "00";
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_sim.port, path);
  snprintf(tss, sizeof tss, "%lld", ts);
  if (key_hex != NULL) {
    uint8_t key[32];
    assert_int_equal(yw_key_from_hex(key_hex, key), 0);
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%s\nn0nce\n%s\n", method, path, tss, body);
    yw_hmac_hex(key, msg, (size_t)n, sig);
  }
  char auth[512];
  snprintf(auth, sizeof auth,
           "Authorization: YWPAY mchid=\"%s\",nonce_str=\"n0nce\",timestamp=\"%s\",signature=\"%s\"",
           mchid, tss, sig);
  const char *headers[] = {auth, "Content-Type: application/json", NULL};
  yw_http_req r = {.method = method, .url = url, .headers = mchid != NULL ? headers : NULL,
                   .body = body, .body_len = strlen(body), .timeout_ms = 3000};
  long status = 0;
  char *resp = NULL;
  assert_int_equal(yw_http_request(&r, &status, &resp, NULL), 0);
  if (status == 401) assert_non_null(strstr(resp, "SIGN_ERROR"));
  free(resp);
  return status;
}

static void test_merchant_calls_unsigned_or_badly_signed_401(void **state) {
  (void)state;
  const char *path = "/sim/v3/pay/transactions/out-trade-no/nosuchorder?mchid=1900000001";
  long long now = (long long)time(NULL);
  /* correctly signed: the order is unknown (404), so the signature passed */
  assert_int_equal(raw_call("GET", path, "", "1900000001", g_sim.key_hex, now), 404);
  assert_int_equal(raw_call("GET", path, "", NULL, NULL, now), 401);          /* unsigned */
  assert_int_equal(raw_call("GET", path, "", "1900000001", NULL, now), 401);  /* bad signature */
  assert_int_equal(raw_call("GET", path, "", "1900000001", g_sim.sm2_key_hex, now), 401); /* other key */
  assert_int_equal(raw_call("GET", path, "", "1900000002", g_sim.key_hex, now), 401); /* other mchid */
  assert_int_equal(raw_call("GET", path, "", "1900000001", g_sim.key_hex, now - 301), 401); /* stale */
  assert_int_equal(raw_call("POST", "/sim/v3/pay/transactions/native", "not json", "1900000001",
                            NULL, now), 401);
  /* the adapter with a wrong API key: YW_EUNAUTH */
  char spec[128], kspec[512], err[256];
  snprintf(spec, sizeof spec, "sim=http://127.0.0.1:%d/sim", g_sim.port);
  snprintf(kspec, sizeof kspec, "sim=1900000001:%s:%s/sim.pub.pem", g_sim.sm2_key_hex, g_sim.keys_dir);
  pay_channels *wrong = NULL;
  assert_int_equal(pay_channels_load(spec, kspec, &wrong, err, sizeof err), 0);
  pay_query_res q;
  char code[PAY_CODE_MAX];
  assert_int_equal(pay_channel_query(pay_channels_find(wrong, "sim"), "nosuchorder", 3000, &q, code),
                   YW_EUNAUTH);
  assert_string_equal(code, "SIGN_ERROR");
  pay_channels_free(wrong);
}

static void test_stopped_channel_times_out_bounded(void **state) {
  (void)state;
  const pay_channel *ch = pay_channels_find(g_set, "sim");
  char no[40], code[PAY_CODE_MAX];
  unique_no("to", no);
  pay_prepay_res p;
  prepay(ch, no, 100, &p);
  assert_int_equal(kill(g_sim.pid, SIGSTOP), 0);
  double t0 = yw_test_now_s();
  pay_query_res q;
  int rc = pay_channel_query(ch, no, 300, &q, code);
  double took = yw_test_now_s() - t0;
  pay_refund_req rr = {.out_trade_no = no, .out_refund_no = "to-refund", .refund_fen = 1, .total_fen = 100};
  pay_refund_res res;
  int rc2 = pay_channel_refund(ch, &rr, 200, &res, code);
  double took2 = yw_test_now_s() - t0 - took;
  assert_int_equal(kill(g_sim.pid, SIGCONT), 0);
  assert_int_equal(rc, YW_EUNAVAIL);
  assert_int_equal(rc2, YW_EUNAVAIL);
  assert_true(took >= 0.25 && took < 1.5);
  assert_true(took2 < 1.5);
  /* and it answers again once it runs */
  assert_int_equal(pay_channel_query(ch, no, 3000, &q, code), 0);
  assert_int_equal(q.state, PAY_TRADE_NOTPAY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_settings_refused_when_malformed),
      cmocka_unit_test(test_prepay_retry_same_id_other_amount_refused),
      cmocka_unit_test(test_pay_notification_verified_both_channels),
      cmocka_unit_test(test_forged_stale_wrong_key_refused),
      cmocka_unit_test(test_unacknowledged_retried_until_acknowledged),
      cmocka_unit_test(test_notify_twenty_parallel_copies_and_out_of_order),
      cmocka_unit_test(test_query_close_paid_is_conflict),
      cmocka_unit_test(test_refunds_idempotent_not_enough),
      cmocka_unit_test(test_statement_totals_fees_tamper_by_day),
      cmocka_unit_test(test_merchant_calls_unsigned_or_badly_signed_401),
      cmocka_unit_test(test_stopped_channel_times_out_bounded),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
