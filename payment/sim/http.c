/*
 * http.c - the simulator's routes: the merchant API of each channel (/v3/..., signed
 * with the merchant's API key) and the controls tests and the bench use (/sim/...,
 * unsigned). Every handler runs on the loop and answers before it returns.
 *
 * Merchant signature: Authorization: YWPAY mchid="..",nonce_str="..",timestamp="..",
 * signature="<hex HMAC-SHA256(api key, METHOD \n PATH_AND_QUERY \n TIMESTAMP \n NONCE \n
 * BODY \n)>", PATH_AND_QUERY being the request target as sent (with the channel's
 * prefix). A missing or wrong one, another mchid, or a timestamp more than 300 s off
 * answers 401 {"code":"SIGN_ERROR"}.
 *
 * Offers: sim_http_handle.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "yw_workdays.h"

#define BODY_CAP 65536
#define AUTH_WINDOW_S 300

static char g_body[BODY_CAP + 1];

static void reply(struct evhttp_request *req, int status, const char *type, const char *text,
                  size_t len) {
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  if (type != NULL) evhttp_add_header(h, "Content-Type", type);
  struct evbuffer *out = evhttp_request_get_output_buffer(req);
  if (len > 0) evbuffer_add(out, text, len);
  evhttp_send_reply(req, status, NULL, NULL);
}

static void reply_json(struct evhttp_request *req, int status, const char *json) {
  reply(req, status, "application/json", json, strlen(json));
}

static void reply_err(struct evhttp_request *req, int status, const char *code,
                      const char *message) {
  char buf[512];
  json_t *j = json_pack("{s:s,s:s}", "code", code, "message", message);
  char *t = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
  snprintf(buf, sizeof buf, "%s", t != NULL ? t : "{\"code\":\"SYSTEM_ERROR\"}");
  free(t);
  json_decref(j);
  reply_json(req, status, buf);
}

/* The request body as a NUL-terminated string in g_body; -1 when too big. */
static int read_body(struct evhttp_request *req, size_t *len) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  if (n > BODY_CAP) return -1;
  evbuffer_copyout(in, g_body, n);
  g_body[n] = '\0';
  *len = n;
  return 0;
}

/* Copies the value of key="value" from an Authorization header's parameters. */
static int auth_param(const char *h, const char *key, char *out, size_t size) {
  size_t kl = strlen(key);
  const char *p = h;
  while ((p = strstr(p, key)) != NULL) {
    if ((p == h || p[-1] == ' ' || p[-1] == ',') && p[kl] == '=' && p[kl + 1] == '"') {
      const char *v = p + kl + 2;
      const char *e = strchr(v, '"');
      if (e == NULL || (size_t)(e - v) >= size) return -1;
      memcpy(out, v, (size_t)(e - v));
      out[e - v] = '\0';
      return 0;
    }
    p += kl;
  }
  return -1;
}

static int merchant_ok(const sim_chan *c, struct evhttp_request *req, const char *body,
                       size_t len) {
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  if (h == NULL || strncmp(h, "YWPAY ", 6) != 0) return 0;
  char mchid[32], nonce[80], ts[24], sig[80];
  if (auth_param(h + 6, "mchid", mchid, sizeof mchid) ||
      auth_param(h + 6, "nonce_str", nonce, sizeof nonce) ||
      auth_param(h + 6, "timestamp", ts, sizeof ts) ||
      auth_param(h + 6, "signature", sig, sizeof sig))
    return 0;
  if (strcmp(mchid, c->mchid) != 0) return 0;
  char *end = NULL;
  long long t = strtoll(ts, &end, 10);
  if (end == ts || *end != '\0') return 0;
  long long d = (long long)sim_now() - t;
  if (d > AUTH_WINDOW_S || d < -AUTH_WINDOW_S) return 0;
  const char *method = evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "POST";
  const char *uri = evhttp_request_get_uri(req);
  size_t total = strlen(method) + strlen(uri) + strlen(ts) + strlen(nonce) + len + 5;
  char *msg = malloc(total + 1);
  if (msg == NULL) return 0;
  int n = snprintf(msg, total + 1, "%s\n%s\n%s\n%s\n", method, uri, ts, nonce);
  memcpy(msg + n, body, len);
  msg[n + len] = '\n';
  char want[65];
  yw_hmac_hex(c->api_key, msg, (size_t)n + len + 1, want);
  free(msg);
  return yw_secure_equal(want, sig);
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int jint(json_t *o, const char *k, int64_t *out) {
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v)) return -1;
  *out = (int64_t)json_integer_value(v);
  return 0;
}

/* ---- merchant API ---- */

static void prepay(sim *s, sim_chan *c, struct evhttp_request *req, json_t *j) {
  const char *mchid = jstr(j, "mchid"), *no = jstr(j, "out_trade_no");
  const char *desc = jstr(j, "description"), *url = jstr(j, "notify_url");
  const char *expire = jstr(j, "time_expire");
  json_t *amount = json_object_get(j, "amount");
  const char *cur = jstr(amount, "currency");
  int64_t total = 0, exp = 0;
  if (mchid == NULL || strcmp(mchid, c->mchid) != 0 || no == NULL || !sim_valid_no(no) ||
      desc == NULL || strlen(desc) > 127 || url == NULL || strlen(url) > 255 ||
      strncmp(url, "http://", 7) != 0 || jint(amount, "total", &total) || total <= 0 ||
      (cur != NULL && strcmp(cur, "CNY") != 0) ||
      (expire != NULL && pay_time_parse(expire, &exp) != 0))
    return reply_err(req, 400, "PARAM_ERROR", "mchid, out_trade_no, description, amount.total, "
                                             "notify_url or time_expire is invalid");
  sim_order *o = sim_map_get(&c->orders, no);
  if (o != NULL) {
    if (o->total != total)
      return reply_err(req, 400, "OUT_TRADE_NO_USED", "out_trade_no exists with another amount");
    if (o->state == SIM_CLOSED) return reply_err(req, 400, "ORDER_CLOSED", "the order is closed");
    if (o->state != SIM_NOTPAY) return reply_err(req, 400, "ORDER_PAID", "the order is paid");
  } else {
    o = sim_order_new(c, no);
    char *u = o != NULL ? strdup(url) : NULL;
    if (u == NULL) return reply_err(req, 500, "SYSTEM_ERROR", "out of memory");
    o->notify_url = u;
    o->total = total;
    o->expire_unix = exp;
    sim_new_id(s, c, "wx", o->prepay_id);
    c->n_prepay++;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "{\"prepay_id\":\"%s\",\"code_url\":\"ywpay://%s/pay?prepay_id=%s\"}",
           o->prepay_id, c->name, o->prepay_id);
  reply_json(req, 200, buf);
}

/* The order as JSON without its closing brace; returns the length written. */
static int order_json(const sim_chan *c, const sim_order *o, char *buf, size_t size) {
  char when[PAY_TIME_MAX] = "";
  if (o->success_unix != 0) pay_time_format(o->success_unix, when);
  int64_t paid = o->success_unix != 0 ? o->total : 0;
  return snprintf(buf, size,
           "{\"mchid\":\"%s\",\"out_trade_no\":\"%s\",\"transaction_id\":\"%s\",\"trade_type\":"
           "\"NATIVE\",\"trade_state\":\"%s\",\"success_time\":\"%s\",\"amount\":{\"total\":%" PRId64
           ",\"payer_total\":%" PRId64 ",\"currency\":\"CNY\"}",
           c->mchid, o->out_trade_no, o->transaction_id, sim_state_name(o->state), when, o->total,
           paid);
}

static void query(sim_chan *c, struct evhttp_request *req, const char *no) {
  const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
  const char *q = evhttp_uri_get_query(u);
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  const char *mchid = NULL;
  if (q != NULL && evhttp_parse_query_str(q, &kv) == 0) mchid = evhttp_find_header(&kv, "mchid");
  int ok = mchid != NULL && strcmp(mchid, c->mchid) == 0;
  evhttp_clear_headers(&kv);
  if (!ok) return reply_err(req, 400, "PARAM_ERROR", "mchid is missing or not this merchant's");
  const sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  char buf[1024];
  int n = order_json(c, o, buf, sizeof buf - 1);
  buf[n] = '}';
  reply(req, 200, "application/json", buf, (size_t)n + 1);
}

static void close_order(sim_chan *c, struct evhttp_request *req, const char *no, json_t *j) {
  const char *mchid = jstr(j, "mchid");
  if (mchid == NULL || strcmp(mchid, c->mchid) != 0)
    return reply_err(req, 400, "PARAM_ERROR", "mchid is missing or not this merchant's");
  sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  if (o->state == SIM_SUCCESS || o->state == SIM_REFUND)
    return reply_err(req, 400, "ORDER_PAID", "the order is paid");
  o->state = SIM_CLOSED;
  reply(req, 204, NULL, NULL, 0);
}

static void refund_answer(struct evhttp_request *req, const sim_refund *r) {
  char when[PAY_TIME_MAX], buf[512];
  pay_time_format(r->success_unix, when);
  snprintf(buf, sizeof buf,
           "{\"refund_id\":\"%s\",\"out_refund_no\":\"%s\",\"transaction_id\":\"%s\","
           "\"out_trade_no\":\"%s\",\"status\":\"SUCCESS\",\"success_time\":\"%s\",\"amount\":"
           "{\"refund\":%" PRId64 ",\"total\":%" PRId64 ",\"currency\":\"CNY\"}}",
           r->refund_id, r->out_refund_no, r->order->transaction_id, r->order->out_trade_no, when,
           r->amount, r->order->total);
  reply_json(req, 200, buf);
}

static void refund(sim *s, sim_chan *c, struct evhttp_request *req, json_t *j) {
  const char *no = jstr(j, "out_trade_no"), *rno = jstr(j, "out_refund_no");
  json_t *amount = json_object_get(j, "amount");
  int64_t amt = 0, total = 0;
  if (no == NULL || rno == NULL || !sim_valid_no(no) || !sim_valid_no(rno) ||
      jint(amount, "refund", &amt) || jint(amount, "total", &total) || amt <= 0)
    return reply_err(req, 400, "PARAM_ERROR", "out_trade_no, out_refund_no or amount is invalid");
  const sim_refund *old = sim_map_get(&c->refunds, rno);
  if (old != NULL) {
    if (strcmp(old->order->out_trade_no, no) != 0 || old->amount != amt)
      return reply_err(req, 400, "PARAM_ERROR", "out_refund_no was used for another refund");
    return refund_answer(req, old);
  }
  sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  if (o->state != SIM_SUCCESS && o->state != SIM_REFUND)
    return reply_err(req, 400, "ORDER_NOT_PAID", "the order is not paid");
  if (total != o->total) return reply_err(req, 400, "PARAM_ERROR", "amount.total is not the order's");
  if (amt > o->total - o->refunded)
    return reply_err(req, 400, "NOT_ENOUGH", "more than the amount left to refund");
  sim_refund *r = sim_refund_new(c, rno);
  if (r == NULL) return reply_err(req, 500, "SYSTEM_ERROR", "out of memory");
  r->order = o;
  r->amount = amt;
  r->success_unix = sim_now();
  sim_new_id(s, c, "50", r->refund_id);
  o->refunded += amt;
  o->nrefunds++;
  o->state = SIM_REFUND;
  if (c->refund_faults > 0) { /* made, but neither the answer nor a notification says so */
    c->refund_faults--;
    if (c->refund_fault == SIM_FAULT_OVERSIZED) {
      struct evbuffer *out = evhttp_request_get_output_buffer(req);
      evbuffer_add_printf(out, "{\"refund_id\":\"%s\",\"padding\":\"", r->refund_id);
      for (int k = 0; k < 80; k++)
        evbuffer_add_printf(out, "%01024d", 0);
      evbuffer_add_printf(out, "\"}");
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
      evhttp_send_reply(req, 200, NULL, NULL);
      return;
    }
    if (c->refund_fault == SIM_FAULT_BUSY)
      return reply_err(req, 429, "FREQUENCY_LIMITED", "too many requests");
    return reply_err(req, 500, "SYSTEM_ERROR", "system error");
  }
  sim_notify_new(s, c, o, r);
  refund_answer(req, r);
}

static void tradebill(sim_chan *c, struct evhttp_request *req) {
  const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  const char *date = NULL;
  yw_day day = 0;
  if (q != NULL && evhttp_parse_query_str(q, &kv) == 0) date = evhttp_find_header(&kv, "bill_date");
  int bad = date == NULL || yw_day_parse(date, strlen(date), &day) != 0;
  evhttp_clear_headers(&kv);
  if (bad) return reply_err(req, 400, "PARAM_ERROR", "bill_date must be YYYY-MM-DD");
  struct evbuffer *out = evhttp_request_get_output_buffer(req);
  long rows = sim_bill(c, (int)day, out);
  if (rows < 0) return reply_err(req, 500, "SYSTEM_ERROR", "out of memory");
  if (rows == 0) return reply_err(req, 404, "NO_STATEMENT_EXIST", "no statement for that day");
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/csv; charset=utf-8");
  evhttp_send_reply(req, 200, NULL, NULL);
}

/* ---- controls ---- */

static int valid_payer(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n >= SIM_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
          (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
      return 0;
  return 1;
}

static void sim_pay(sim *s, sim_chan *c, struct evhttp_request *req, json_t *j) {
  const char *no = jstr(j, "out_trade_no"), *payer = jstr(j, "payer");
  const char *notify = jstr(j, "notify"), *when = jstr(j, "success_time");
  int64_t t = sim_now();
  if (no == NULL || (payer != NULL && !valid_payer(payer)) ||
      (notify != NULL && strcmp(notify, "normal") != 0 && strcmp(notify, "none") != 0) ||
      (when != NULL && pay_time_parse(when, &t) != 0))
    return reply_err(req, 400, "PARAM_ERROR", "out_trade_no, payer, notify or success_time is invalid");
  sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  if (o->state == SIM_CLOSED) return reply_err(req, 400, "ORDER_CLOSED", "the order is closed");
  if (o->state != SIM_NOTPAY) return reply_err(req, 400, "ORDER_PAID", "the order is paid");
  o->state = SIM_SUCCESS;
  o->success_unix = t;
  snprintf(o->payer, sizeof o->payer, "%s", payer != NULL ? payer : "o_sim_payer");
  sim_new_id(s, c, "42", o->transaction_id);
  c->n_pay++;
  if (notify == NULL || strcmp(notify, "normal") == 0) sim_notify_new(s, c, o, NULL);
  char buf[128];
  snprintf(buf, sizeof buf, "{\"transaction_id\":\"%s\"}", o->transaction_id);
  reply_json(req, 200, buf);
}

static void sim_notify(sim *s, sim_chan *c, struct evhttp_request *req, json_t *j) {
  const char *no = jstr(j, "out_trade_no");
  int64_t times = 1;
  if (json_object_get(j, "times") != NULL && jint(j, "times", &times)) times = -1;
  json_t *par = json_object_get(j, "parallel"), *ooo = json_object_get(j, "out_of_order");
  if (no == NULL || times < 1 || times > 100 || (par != NULL && !json_is_boolean(par)) ||
      (ooo != NULL && !json_is_boolean(ooo)))
    return reply_err(req, 400, "PARAM_ERROR", "out_trade_no, times (1..100), parallel or "
                                             "out_of_order is invalid");
  sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  if (o->notices == NULL) return reply_err(req, 400, "NO_NOTIFICATION", "nothing was notified yet");
  /* out of order: every notification of the order, the newest first; otherwise the
   * latest. Copies go out at once, over the pool's connections (parallel), or one per
   * connection in turn so that each waits for the one before (not parallel). */
  int sent = 0;
  for (int64_t k = 0; k < times; k++) {
    for (sim_notice *n = o->notices; n != NULL; n = json_is_true(ooo) ? n->prev : NULL) {
      if (json_is_true(par)) {
        sim_notify_copy(s, n);
      } else {
        sim_notify_copy_serial(s, n);
      }
      sent++;
    }
  }
  char buf[64];
  snprintf(buf, sizeof buf, "{\"sent\":%d}", sent);
  reply_json(req, 200, buf);
}

static void sim_tamper(sim *s, sim_chan *c, struct evhttp_request *req, json_t *j) {
  const char *no = jstr(j, "out_trade_no"), *kind = jstr(j, "kind");
  int64_t amount = 0;
  if (no == NULL || kind == NULL || !sim_valid_no(no))
    return reply_err(req, 400, "PARAM_ERROR", "out_trade_no or kind is invalid");
  if (strcmp(kind, "extra") == 0) {
    sim_extra e = {0};
    const char *when = jstr(j, "success_time");
    e.success_unix = sim_now();
    if (jint(j, "amount", &amount) || amount <= 0 ||
        (when != NULL && pay_time_parse(when, &e.success_unix) != 0))
      return reply_err(req, 400, "PARAM_ERROR", "amount or success_time is invalid");
    snprintf(e.out_trade_no, sizeof e.out_trade_no, "%s", no);
    sim_new_id(s, c, "42", e.transaction_id);
    e.amount = amount;
    if (sim_extra_add(c, &e) != 0) return reply_err(req, 500, "SYSTEM_ERROR", "out of memory");
    char buf[128];
    snprintf(buf, sizeof buf, "{\"transaction_id\":\"%s\"}", e.transaction_id);
    return reply_json(req, 200, buf);
  }
  sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  if (strcmp(kind, "drop") == 0) {
    o->tamper = SIM_TAMPER_DROP;
  } else if (strcmp(kind, "amount") == 0 && jint(j, "amount", &amount) == 0 && amount > 0) {
    o->tamper = SIM_TAMPER_AMOUNT;
    o->tamper_amount = amount;
  } else {
    return reply_err(req, 400, "PARAM_ERROR", "kind is amount (with amount > 0), drop or extra");
  }
  reply_json(req, 200, "{}");
}

/* The next `times` refunds (default 1) are made, not notified, and answered as `refund` says:
 * "oversized" (200 with an answer past any client's cap), "busy" (429
 * FREQUENCY_LIMITED), "error" (500 SYSTEM_ERROR); "none" clears it. */
static void sim_fault(sim_chan *c, struct evhttp_request *req, json_t *j) {
  const char *kind = jstr(j, "refund");
  int64_t times = 1;
  if (json_object_get(j, "times") != NULL && jint(j, "times", &times)) times = -1;
  enum sim_fault f = SIM_FAULT_NONE;
  if (kind != NULL && strcmp(kind, "oversized") == 0) f = SIM_FAULT_OVERSIZED;
  else if (kind != NULL && strcmp(kind, "busy") == 0) f = SIM_FAULT_BUSY;
  else if (kind != NULL && strcmp(kind, "error") == 0) f = SIM_FAULT_ERROR;
  else if (kind == NULL || strcmp(kind, "none") != 0) times = -1;
  if (times < 0 || times > 1000)
    return reply_err(req, 400, "PARAM_ERROR", "refund is oversized, busy, error or none; times 0..1000");
  c->refund_fault = f;
  c->refund_faults = f == SIM_FAULT_NONE ? 0 : (int)times;
  reply_json(req, 200, "{}");
}

static void sim_view(sim_chan *c, struct evhttp_request *req, const char *no) {
  const sim_order *o = sim_map_get(&c->orders, no);
  if (o == NULL) return reply_err(req, 404, "ORDER_NOT_EXIST", "no such order");
  struct evbuffer *out = evhttp_request_get_output_buffer(req);
  char buf[1024];
  order_json(c, o, buf, sizeof buf);
  evbuffer_add_printf(out, "%s,\"prepay_id\":\"%s\",\"refunded\":%" PRId64 ",\"tamper\":\"%s\","
                           "\"notifications\":[",
                      buf, o->prepay_id, o->refunded,
                      o->tamper == SIM_TAMPER_DROP     ? "drop"
                      : o->tamper == SIM_TAMPER_AMOUNT ? "amount"
                                                       : "");
  for (const sim_notice *n = o->notices; n != NULL; n = n->prev)
    evbuffer_add_printf(out, "%s{\"id\":\"%s\",\"attempts\":%d,\"acked\":%s,\"pending\":%s}",
                        n == o->notices ? "" : ",", n->id, n->attempts, n->acked ? "true" : "false",
                        n->timer != NULL ? "true" : "false");
  evbuffer_add_printf(out, "]}");
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, 200, NULL, NULL);
}

static void sim_stats(sim_chan *c, struct evhttp_request *req) {
  char buf[256];
  snprintf(buf, sizeof buf,
           "{\"orders\":%zu,\"prepay\":%" PRIu64 ",\"pay\":%" PRIu64 ",\"notify_sent\":%" PRIu64
           ",\"notify_acked\":%" PRIu64 "}",
           c->orders.len, c->n_prepay, c->n_pay, c->n_notify_sent, c->n_notify_acked);
  reply_json(req, 200, buf);
}

/* ---- routing ---- */

#define ORDER_PATH "/v3/pay/transactions/out-trade-no/"

void sim_http_handle(struct evhttp_request *req, void *arg) {
  sim *s = arg;
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  enum evhttp_cmd_type m = evhttp_request_get_command(req);
  if (path == NULL) return reply_err(req, 400, "PARAM_ERROR", "no path");
  if (strcmp(path, "/healthz") == 0) return reply(req, 200, "text/plain", "ok\n", 3);
  sim_chan *c = NULL;
  const char *rest = NULL;
  for (int i = 0; i < s->nchans; i++) {
    size_t pl = strlen(s->chans[i].prefix);
    if (strncmp(path, s->chans[i].prefix, pl) == 0 && path[pl] == '/') {
      c = &s->chans[i];
      rest = path + pl;
    }
  }
  if (c == NULL) return reply_err(req, 404, "NOT_FOUND", "no such channel");
  size_t len = 0;
  if (read_body(req, &len) != 0) return reply_err(req, 413, "PARAM_ERROR", "body too large");
  json_t *j = NULL;
  if (m == EVHTTP_REQ_POST) {
    j = json_loadb(g_body, len, 0, NULL);
    if (!json_is_object(j)) {
      json_decref(j);
      /* a signed POST with a body that is not JSON is still a signature matter first */
      if (strncmp(rest, "/v3/", 4) == 0 && !merchant_ok(c, req, g_body, len))
        return reply_err(req, 401, "SIGN_ERROR", "the merchant signature does not verify");
      return reply_err(req, 400, "PARAM_ERROR", "the body is not a JSON object");
    }
  }
  if (strncmp(rest, "/v3/", 4) == 0) {
    if (!merchant_ok(c, req, g_body, len)) {
      json_decref(j);
      return reply_err(req, 401, "SIGN_ERROR", "the merchant signature does not verify");
    }
    size_t ol = strlen(ORDER_PATH);
    if (m == EVHTTP_REQ_POST && strcmp(rest, "/v3/pay/transactions/native") == 0) {
      prepay(s, c, req, j);
    } else if (m == EVHTTP_REQ_POST && strcmp(rest, "/v3/refund/domestic/refunds") == 0) {
      refund(s, c, req, j);
    } else if (m == EVHTTP_REQ_GET && strcmp(rest, "/v3/bill/tradebill") == 0) {
      tradebill(c, req);
    } else if (strncmp(rest, ORDER_PATH, ol) == 0) {
      char no[SIM_NO_MAX + 8];
      const char *p = rest + ol, *slash = strchr(p, '/');
      size_t nl = slash != NULL ? (size_t)(slash - p) : strlen(p);
      if (nl >= sizeof no) nl = sizeof no - 1;
      memcpy(no, p, nl);
      no[nl] = '\0';
      if (m == EVHTTP_REQ_GET && slash == NULL)
        query(c, req, no);
      else if (m == EVHTTP_REQ_POST && slash != NULL && strcmp(slash, "/close") == 0)
        close_order(c, req, no, j);
      else
        reply_err(req, 404, "NOT_FOUND", "no such route");
    } else {
      reply_err(req, 404, "NOT_FOUND", "no such route");
    }
  } else if (m == EVHTTP_REQ_POST && strcmp(rest, "/sim/pay") == 0) {
    sim_pay(s, c, req, j);
  } else if (m == EVHTTP_REQ_POST && strcmp(rest, "/sim/notify") == 0) {
    sim_notify(s, c, req, j);
  } else if (m == EVHTTP_REQ_POST && strcmp(rest, "/sim/tamper") == 0) {
    sim_tamper(s, c, req, j);
  } else if (m == EVHTTP_REQ_POST && strcmp(rest, "/sim/fault") == 0) {
    sim_fault(c, req, j);
  } else if (m == EVHTTP_REQ_GET && strncmp(rest, "/sim/orders/", 12) == 0) {
    sim_view(c, req, rest + 12);
  } else if (m == EVHTTP_REQ_GET && strcmp(rest, "/sim/stats") == 0) {
    sim_stats(c, req);
  } else {
    reply_err(req, 404, "NOT_FOUND", "no such route");
  }
  json_decref(j);
}
