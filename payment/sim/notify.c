/*
 * notify.c - notifications from the channel to the platform: the body, the channel's
 * signature, delivery on the loop with libevent's HTTP client, retries on the schedule.
 *
 * A notification is signed over TIMESTAMP "\n" NONCE "\n" BODY "\n" with the channel's
 * key (RSA-SHA256 PKCS#1 v1.5, or SM2 with SM3 and user id 1234567812345678 through
 * lib/yw_seal). The signature is kept and reused for 60 s: copies sent at once (/sim/notify
 * parallel) are byte-identical, as a channel's duplicate deliveries are; a retry after
 * that is signed anew, so its timestamp stays inside the platform's window.
 *
 * Delivery never blocks the loop: each notify_url host:port has a pool of keep-alive
 * connections used in turn; an answer is awaited at most YW_PAYSIM_NOTIFY_TIMEOUT_MS.
 * Acknowledged means a 2xx whose body is {"code":"SUCCESS"}; anything else schedules
 * the next step of YW_PAYSIM_RETRY_MS until the schedule ends. Copies are not retried,
 * but a copy's acknowledgement acknowledges the notification (its retry is cancelled).
 *
 * Offers: sim_notify_new, sim_notify_copy, sim_sign.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define POOL 32
#define ANSWER_CAP 4096

typedef struct target {
  char key[280]; /* host:port */
  struct evhttp_connection *conns[POOL + 1]; /* the last one carries serial copies */
  unsigned next;
} target;

typedef struct delivery {
  sim *s;
  sim_notice *n;
  int copy;
} delivery;

static const char *target_key(const void *v) { return ((const target *)v)->key; }

int sim_sign(const sim_chan *c, const void *data, size_t len, char *sig, size_t size) {
  if (c->sm2) return yw_seal_sign(c->seal, data, len, sig, size) == 0 ? 0 : -1;
  unsigned char der[512];
  size_t n = sizeof der;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL) return -1;
  int ok = EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, c->rsa, NULL) == 1 &&
           EVP_DigestSign(md, der, &n, data, len) == 1;
  EVP_MD_CTX_free(md);
  if (!ok || size < 4 * ((n + 2) / 3) + 1) return -1;
  EVP_EncodeBlock((unsigned char *)sig, der, (int)n);
  return 0;
}

static int sign_notice(sim *s, sim_notice *n) {
  int64_t now = sim_now();
  if (n->signed_at != 0 && now - n->signed_at < 60) return 0;
  sim_chan *c = n->chan;
  snprintf(n->ts, sizeof n->ts, "%" PRId64, now);
  sim_new_id(s, c, "nc", n->nonce);
  size_t tl = strlen(n->ts), nl = strlen(n->nonce);
  size_t total = tl + nl + n->len + 3;
  char stack[2048];
  char *msg = total <= sizeof stack ? stack : malloc(total);
  if (msg == NULL) return -1;
  char *p = msg;
  memcpy(p, n->ts, tl);
  p += tl;
  *p++ = '\n';
  memcpy(p, n->nonce, nl);
  p += nl;
  *p++ = '\n';
  memcpy(p, n->body, n->len);
  p += n->len;
  *p++ = '\n';
  int rc = sim_sign(c, msg, total, n->sig, sizeof n->sig);
  if (msg != stack) free(msg);
  if (rc == 0) n->signed_at = now;
  return rc;
}

enum { MAIN = 0, COPY = 1, COPY_SERIAL = 2 };
static void send_notice(sim *s, sim_notice *n, int copy);

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  sim_notice *n = arg;
  event_free(n->timer);
  n->timer = NULL;
  if (!n->acked) send_notice(n->chan->owner, n, MAIN);
}

static void schedule_retry(sim *s, sim_notice *n) {
  if (n->acked || n->timer != NULL || n->retry_step >= s->nretry) return;
  int64_t ms = s->retry_ms[n->retry_step++];
  n->timer = evtimer_new(s->base, on_timer, n);
  if (n->timer == NULL) return;
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
  evtimer_add(n->timer, &tv);
}

static void on_answer(struct evhttp_request *req, void *arg) {
  delivery *d = arg;
  sim_notice *n = d->n;
  int ok = 0;
  int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
  if (code >= 200 && code < 300) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > 0 && len <= ANSWER_CAP) {
      const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
      json_t *j = json_loadb(body, len, 0, NULL);
      const char *c = json_string_value(json_object_get(j, "code"));
      ok = c != NULL && strcmp(c, "SUCCESS") == 0;
      json_decref(j);
    }
  }
  if (ok) {
    if (!n->acked) n->chan->n_notify_acked++;
    n->acked = 1;
    if (n->timer != NULL) {
      event_free(n->timer);
      n->timer = NULL;
    }
  } else if (!d->copy) {
    schedule_retry(d->s, n);
  }
  free(d);
}

static target *target_for(sim *s, const char *host, int port) {
  char key[280];
  snprintf(key, sizeof key, "%s:%d", host, port);
  target *t = sim_map_get(&s->targets, key);
  if (t != NULL) return t;
  t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  memcpy(t->key, key, sizeof key);
  if (sim_map_put(&s->targets, t) != 0) {
    free(t);
    return NULL;
  }
  return t;
}

static void send_notice(sim *s, sim_notice *n, int copy) {
  struct evhttp_uri *u = evhttp_uri_parse(n->url);
  const char *host = u != NULL ? evhttp_uri_get_host(u) : NULL;
  delivery *d = NULL;
  if (host == NULL || sign_notice(s, n) != 0) goto failed;
  int port = evhttp_uri_get_port(u);
  if (port < 0) port = 80;
  target *t = target_for(s, host, port);
  if (t == NULL) goto failed;
  /* one connection sends its requests one after the other, each after the answer to
   * the one before: serial copies share one, the rest take the pool in turn */
  unsigned i = copy == COPY_SERIAL ? POOL : t->next++ % POOL;
  if (t->conns[i] == NULL) {
    t->conns[i] = evhttp_connection_base_new(s->base, NULL, host, (unsigned short)port);
    if (t->conns[i] == NULL) goto failed;
    struct timeval tv = {s->notify_timeout_ms / 1000, (s->notify_timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(t->conns[i], &tv);
    evhttp_connection_set_retries(t->conns[i], 0);
  }
  d = malloc(sizeof *d);
  if (d == NULL) goto failed;
  *d = (delivery){s, n, copy};
  struct evhttp_request *req = evhttp_request_new(on_answer, d);
  if (req == NULL) goto failed;
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Host", host);
  evhttp_add_header(h, "Content-Type", "application/json");
  evhttp_add_header(h, "Yw-Pay-Timestamp", n->ts);
  evhttp_add_header(h, "Yw-Pay-Nonce", n->nonce);
  evhttp_add_header(h, "Yw-Pay-Serial", n->chan->serial);
  evhttp_add_header(h, "Yw-Pay-Signature", n->sig);
  evbuffer_add(evhttp_request_get_output_buffer(req), n->body, n->len);
  const char *path = evhttp_uri_get_path(u);
  const char *query = evhttp_uri_get_query(u);
  char target_path[1024];
  snprintf(target_path, sizeof target_path, "%s%s%s", path != NULL && *path ? path : "/",
           query != NULL ? "?" : "", query != NULL ? query : "");
  n->attempts++;
  n->chan->n_notify_sent++;
  if (evhttp_make_request(t->conns[i], req, EVHTTP_REQ_POST, target_path) != 0) {
    /* the request was freed by libevent; d was not */
    goto failed;
  }
  evhttp_uri_free(u);
  return;
failed:
  free(d);
  if (u != NULL) evhttp_uri_free(u);
  if (!copy) schedule_retry(s, n);
}

int sim_notify_new(sim *s, sim_chan *c, sim_order *o, const sim_refund *r) {
  sim_notice *n = calloc(1, sizeof *n);
  if (n == NULL) return -1;
  n->chan = c;
  n->order = o;
  n->url = o->notify_url;
  sim_new_id(s, c, "nt", n->id);
  char now[PAY_TIME_MAX], when[PAY_TIME_MAX], body[1536];
  pay_time_format(sim_now(), now);
  int len;
  if (r == NULL) {
    pay_time_format(o->success_unix, when);
    len = snprintf(body, sizeof body,
                   "{\"id\":\"%s\",\"create_time\":\"%s\",\"event_type\":\"TRANSACTION.SUCCESS\","
                   "\"resource\":{\"mchid\":\"%s\",\"out_trade_no\":\"%s\",\"transaction_id\":"
                   "\"%s\",\"trade_type\":\"NATIVE\",\"trade_state\":\"SUCCESS\",\"success_time\":"
                   "\"%s\",\"payer\":{\"openid\":\"%s\"},\"amount\":{\"total\":%" PRId64
                   ",\"payer_total\":%" PRId64 ",\"currency\":\"CNY\"}}}",
                   n->id, now, c->mchid, o->out_trade_no, o->transaction_id, when, o->payer,
                   o->total, o->total);
  } else {
    pay_time_format(r->success_unix, when);
    len = snprintf(body, sizeof body,
                   "{\"id\":\"%s\",\"create_time\":\"%s\",\"event_type\":\"REFUND.SUCCESS\","
                   "\"resource\":{\"mchid\":\"%s\",\"out_trade_no\":\"%s\",\"transaction_id\":"
                   "\"%s\",\"out_refund_no\":\"%s\",\"refund_id\":\"%s\",\"refund_status\":"
                   "\"SUCCESS\",\"success_time\":\"%s\",\"amount\":{\"total\":%" PRId64
                   ",\"refund\":%" PRId64 ",\"payer_total\":%" PRId64 ",\"payer_refund\":%" PRId64
                   ",\"currency\":\"CNY\"}}}",
                   n->id, now, c->mchid, o->out_trade_no, o->transaction_id, r->out_refund_no,
                   r->refund_id, when, o->total, r->amount, o->total, r->amount);
  }
  if (len < 0 || (size_t)len >= sizeof body) {
    free(n);
    return -1;
  }
  n->body = malloc((size_t)len + 1);
  if (n->body == NULL) {
    free(n);
    return -1;
  }
  memcpy(n->body, body, (size_t)len + 1);
  n->len = (size_t)len;
  n->prev = o->notices;
  o->notices = n;
  send_notice(s, n, MAIN);
  return 0;
}

void sim_notify_copy(sim *s, sim_notice *n) { send_notice(s, n, COPY); }

void sim_notify_copy_serial(sim *s, sim_notice *n) { send_notice(s, n, COPY_SERIAL); }

void sim_targets_init(sim *s) { s->targets.key_of = target_key; }
