/*
 * channel_sim.c - the channel adapter (channel.h) for the simulator's protocol
 * (payment/sim/, modelled on WeChat Pay v3): channels `sim` and `sim-sm2`.
 *
 * Requests: JSON over HTTP/1.1 through lib/yw_http (libcurl), each within the caller's
 * total timeout, signed with HMAC-SHA256 under the merchant's API key in an
 * Authorization header (METHOD \n PATH_AND_QUERY \n TIMESTAMP \n NONCE \n BODY \n, the
 * path as sent, with the channel's prefix). A set keeps a few curl handles that calls
 * borrow, so connections to the channel are kept alive between calls of any thread.
 *
 * Notifications: the signature over TIMESTAMP \n NONCE \n BODY \n is checked with the
 * channel's public key — RSA-SHA256 PKCS#1 v1.5 for an RSA key, SM2 with SM3 and GM/T
 * 0009's user id (lib/yw_seal) for an SM2 key — before the body is even parsed; then
 * the 300 s window, then the shape.
 *
 * Offers: everything channel.h declares.
 */
#include "channel.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_http.h"
#include "yw_seal.h"

#define HANDLES 16
#define ANSWER_CAP (64 * 1024)
#define NOTIFY_CAP (64 * 1024)

struct pay_channel {
  char name[PAY_CHANNEL_NAME_MAX];
  char base[PAY_URL_MAX];     /* "http://127.0.0.1:8090/sim", no trailing slash */
  const char *prefix;         /* into base: "/sim" ("" when the base has no path) */
  char mchid[PAY_MCHID_MAX];
  uint8_t api_key[YW_KEY_BYTES];
  EVP_PKEY *pub;              /* RSA */
  yw_seal *seal;              /* SM2 */
  char serial[33];
  pay_channels *set;
};

struct pay_channels {
  pay_channel *ch;
  size_t n;
  pthread_mutex_t mu;
  CURL *handles[HANDLES];
  int nhandles;
};

/* ---- times ---- */

char *pay_time_format(int64_t t, char out[PAY_TIME_MAX]) {
  time_t local = (time_t)(t + 8 * 3600); /* Asia/Shanghai: UTC+8, no daylight saving */
  struct tm tm;
  gmtime_r(&local, &tm);
  snprintf(out, PAY_TIME_MAX, "%04u-%02u-%02uT%02u:%02u:%02u+08:00",
           (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
           (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
           (unsigned)tm.tm_sec % 100u);
  return out;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int pay_time_parse(const char *s, int64_t *out) {
  int y, mo, d, h, mi, se;
  if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
    return YW_EINVAL;
  if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
      digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
    return YW_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return YW_EINVAL;
  const char *z = s + 19;
  if (*z == '.') {
    z++;
    while (*z >= '0' && *z <= '9') z++;
  }
  int off = 0;
  if (strcmp(z, "Z") != 0) {
    int oh, om;
    if ((z[0] != '+' && z[0] != '-') || strlen(z) != 6 || z[3] != ':' || digits(z + 1, 2, &oh) ||
        digits(z + 4, 2, &om) || oh > 23 || om > 59)
      return YW_EINVAL;
    off = (oh * 60 + om) * 60 * (z[0] == '-' ? -1 : 1);
  }
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  *out = (int64_t)timegm(&tm) - off;
  return 0;
}

/* ---- states ---- */

static const char *const state_names[] = {"NOTPAY", "SUCCESS", "CLOSED", "REFUND", "PAYERROR"};

const char *pay_channel_state_name(pay_trade_state s) {
  return (unsigned)s < sizeof state_names / sizeof *state_names ? state_names[s] : "NOTPAY";
}

int pay_channel_state_parse(const char *name, pay_trade_state *out) {
  for (size_t i = 0; name != NULL && i < sizeof state_names / sizeof *state_names; i++)
    if (strcmp(name, state_names[i]) == 0) {
      *out = (pay_trade_state)i;
      return 0;
    }
  return YW_EINVAL;
}

/* ---- keys and settings ---- */

static int key_serial(EVP_PKEY *k, char out[33]) {
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(k, &der);
  if (n <= 0) return YW_EINVAL;
  unsigned char md[32];
  unsigned int ml = 0;
  int ok = EVP_Digest(der, (size_t)n, md, &ml, EVP_sha256(), NULL) == 1;
  OPENSSL_free(der);
  if (!ok) return YW_EINTERNAL;
  static const char hex[] = "0123456789ABCDEF";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[32] = '\0';
  return 0;
}

static EVP_PKEY *pem_key(const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (b == NULL) return NULL;
  EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  if (k == NULL) {
    BIO_free(b);
    b = BIO_new_mem_buf(pem, (int)len);
    k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  }
  BIO_free(b);
  return k;
}

int pay_channel_key_serial_pem(const char *pem, size_t len, char out[33]) {
  EVP_PKEY *k = pem_key(pem, len);
  if (k == NULL) return YW_EINVAL;
  int rc = key_serial(k, out);
  EVP_PKEY_free(k);
  return rc;
}

/* The value of name= in a comma-separated spec, into out. 0, or -1 when absent/too long. */
static int spec_value(const char *spec, const char *name, char *out, size_t size) {
  size_t nl = strlen(name);
  for (const char *p = spec; p != NULL && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
    while (*p == ' ') p++;
    if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
      const char *v = p + nl + 1, *e = strchr(v, ',');
      size_t vl = e != NULL ? (size_t)(e - v) : strlen(v);
      if (vl == 0 || vl >= size) return -1;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return 0;
    }
  }
  return -1;
}

static int load_one(pay_channel *c, const char *keys, char *err, size_t errlen) {
  char kv[1200];
  if (strncmp(c->name, "sim", 3) != 0) {
    snprintf(err, errlen, "channel %s: no adapter for this kind of channel", c->name);
    return YW_EINVAL;
  }
  if (spec_value(keys, c->name, kv, sizeof kv) != 0) {
    snprintf(err, errlen, "channel %s: no keys (%s=<mchid>:<api key hex>:<public key file>)",
             c->name, c->name);
    return YW_EINVAL;
  }
  char *k1 = strchr(kv, ':'), *k2 = k1 != NULL ? strchr(k1 + 1, ':') : NULL;
  if (k1 == NULL || k2 == NULL || k1 == kv || (size_t)(k1 - kv) >= sizeof c->mchid ||
      k2 - k1 - 1 != 64) {
    snprintf(err, errlen, "channel %s: keys are <mchid>:<api key, 64 hex>:<public key file>",
             c->name);
    return YW_EINVAL;
  }
  *k1 = *k2 = '\0';
  memcpy(c->mchid, kv, (size_t)(k1 - kv) + 1);
  if (yw_key_from_hex(k1 + 1, c->api_key) != 0) {
    snprintf(err, errlen, "channel %s: the API key is not 64 hex characters", c->name);
    return YW_EINVAL;
  }
  FILE *f = fopen(k2 + 1, "rb");
  char pem[16384];
  size_t n = f != NULL ? fread(pem, 1, sizeof pem - 1, f) : 0;
  if (f != NULL) fclose(f);
  pem[n] = '\0';
  EVP_PKEY *k = n > 0 ? pem_key(pem, n) : NULL;
  if (k == NULL) {
    snprintf(err, errlen, "channel %s: cannot read a PEM key from %s", c->name, k2 + 1);
    return YW_EINVAL;
  }
  int rc = key_serial(k, c->serial);
  if (rc == 0 && EVP_PKEY_is_a(k, "SM2")) {
    char *pub = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long dl = 0;
    if (b != NULL && PEM_write_bio_PUBKEY(b, k)) dl = BIO_get_mem_data(b, &data);
    pub = dl > 0 ? data : NULL;
    rc = pub != NULL ? yw_seal_from_pem(pub, (size_t)dl, &c->seal) : YW_EINVAL;
    BIO_free(b);
    EVP_PKEY_free(k);
  } else if (rc == 0 && EVP_PKEY_is_a(k, "RSA")) {
    c->pub = k;
  } else {
    EVP_PKEY_free(k);
    rc = YW_EINVAL;
  }
  if (rc != 0) snprintf(err, errlen, "channel %s: %s is neither an RSA nor an SM2 key", c->name, k2 + 1);
  return rc;
}

int pay_channels_load(const char *spec, const char *keys, pay_channels **out, char *err,
                      size_t errlen) {
  char dummy[8];
  if (err == NULL) {
    err = dummy;
    errlen = sizeof dummy;
  }
  *out = NULL;
  if (spec == NULL || keys == NULL || *spec == '\0') {
    snprintf(err, errlen, "no channels: name=base_url,...");
    return YW_EINVAL;
  }
  pay_channels *set = calloc(1, sizeof *set);
  size_t most = 1;
  for (const char *p = spec; *p; p++) most += *p == ',';
  if (set == NULL || (set->ch = calloc(most, sizeof *set->ch)) == NULL) {
    free(set);
    return YW_ENOMEM;
  }
  pthread_mutex_init(&set->mu, NULL);
  int rc = 0;
  for (const char *p = spec; p != NULL && *p && rc == 0;) {
    while (*p == ' ') p++;
    const char *eq = strchr(p, '='), *e = strchr(p, ',');
    if (e == NULL) e = p + strlen(p);
    pay_channel *c = &set->ch[set->n];
    c->set = set;
    size_t nl = eq != NULL && eq < e ? (size_t)(eq - p) : 0;
    size_t ul = nl > 0 ? (size_t)(e - eq - 1) : 0;
    if (nl == 0 || nl >= sizeof c->name || ul < 8 || ul >= sizeof c->base ||
        strncmp(eq + 1, "http", 4) != 0) {
      snprintf(err, errlen, "channel spec entry %.*s is not name=http://host:port/path",
               (int)(e - p > 80 ? 80 : e - p), p);
      rc = YW_EINVAL;
      break;
    }
    memcpy(c->name, p, nl);
    c->name[nl] = '\0';
    memcpy(c->base, eq + 1, ul);
    c->base[ul] = '\0';
    while (ul > 0 && c->base[ul - 1] == '/') c->base[--ul] = '\0';
    const char *hostpart = strstr(c->base, "://");
    const char *slash = hostpart != NULL ? strchr(hostpart + 3, '/') : NULL;
    c->prefix = slash != NULL ? slash : c->base + ul;
    if (pay_channels_find(set, c->name) != NULL) {
      snprintf(err, errlen, "channel %s is named twice", c->name);
      rc = YW_EINVAL;
      break;
    }
    set->n++;
    rc = load_one(c, keys, err, errlen);
    p = *e ? e + 1 : NULL;
  }
  if (rc != 0) {
    pay_channels_free(set);
    return rc;
  }
  *out = set;
  return 0;
}

void pay_channels_free(pay_channels *set) {
  if (set == NULL) return;
  for (size_t i = 0; i < set->n; i++) {
    EVP_PKEY_free(set->ch[i].pub);
    yw_seal_free(set->ch[i].seal);
  }
  for (int i = 0; i < set->nhandles; i++) curl_easy_cleanup(set->handles[i]);
  pthread_mutex_destroy(&set->mu);
  free(set->ch);
  free(set);
}

const pay_channel *pay_channels_find(const pay_channels *set, const char *name) {
  for (size_t i = 0; set != NULL && name != NULL && i < set->n; i++)
    if (strcmp(set->ch[i].name, name) == 0) return &set->ch[i];
  return NULL;
}

size_t pay_channels_count(const pay_channels *set) { return set != NULL ? set->n : 0; }

const pay_channel *pay_channels_at(const pay_channels *set, size_t i) {
  return set != NULL && i < set->n ? &set->ch[i] : NULL;
}

const char *pay_channel_name(const pay_channel *ch) { return ch->name; }
const char *pay_channel_mchid(const pay_channel *ch) { return ch->mchid; }

/* ---- requests ---- */

static CURL *handle_get(pay_channels *set) {
  CURL *h = NULL;
  pthread_mutex_lock(&set->mu);
  if (set->nhandles > 0) h = set->handles[--set->nhandles];
  pthread_mutex_unlock(&set->mu);
  return h != NULL ? h : curl_easy_init();
}

static void handle_put(pay_channels *set, CURL *h) {
  if (h == NULL) return;
  pthread_mutex_lock(&set->mu);
  if (set->nhandles < HANDLES) {
    set->handles[set->nhandles++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&set->mu);
  if (h != NULL) curl_easy_cleanup(h);
}

/* Sends a signed request for rest ("/v3/...") and maps the answer's status: 0 with the
 * answer in *resp for a 2xx; the refusal's code otherwise (*resp freed). */
static int call(const pay_channel *ch, const char *method, const char *rest, const char *body,
                int timeout_ms, size_t cap, long *status, char **resp, size_t *len,
                char *code_out) {
  if (code_out != NULL) code_out[0] = '\0';
  *resp = NULL;
  char url[PAY_URL_MAX + 256], path[PAY_URL_MAX + 256];
  if ((size_t)snprintf(url, sizeof url, "%s%s", ch->base, rest) >= sizeof url ||
      (size_t)snprintf(path, sizeof path, "%s%s", ch->prefix, rest) >= sizeof path)
    return YW_EINVAL;
  uint8_t rnd[16];
  char nonce[33], ts[24];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return YW_EINTERNAL;
  yw_hex_encode(rnd, sizeof rnd, nonce);
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  size_t bl = body != NULL ? strlen(body) : 0;
  size_t ml = strlen(method) + strlen(path) + strlen(ts) + strlen(nonce) + bl + 5;
  char *msg = malloc(ml + 1);
  if (msg == NULL) return YW_ENOMEM;
  int n = snprintf(msg, ml + 1, "%s\n%s\n%s\n%s\n", method, path, ts, nonce);
  if (bl > 0) memcpy(msg + n, body, bl);
  msg[(size_t)n + bl] = '\n';
  char sig[65];
  yw_hmac_hex(ch->api_key, msg, (size_t)n + bl + 1, sig);
  free(msg);
  char auth[400];
  snprintf(auth, sizeof auth,
           "Authorization: YWPAY mchid=\"%s\",nonce_str=\"%s\",timestamp=\"%s\",signature=\"%s\"",
           ch->mchid, nonce, ts, sig);
  const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json",
                           NULL};
  CURL *h = handle_get(ch->set);
  yw_http_req r = {.method = method, .url = url, .headers = headers, .body = body,
                   .body_len = bl, .timeout_ms = timeout_ms, .cap = cap, .curl = h};
  int rc = yw_http_request(&r, status, resp, len);
  handle_put(ch->set, h);
  if (rc == YW_ETOOBIG) return YW_ETOOBIG;
  if (rc != 0) return rc == YW_ENOMEM ? YW_ENOMEM : YW_EUNAVAIL;
  if (*status >= 200 && *status < 300) return 0;
  /* a refusal: the channel's code decides */
  json_t *j = json_loads(*resp, 0, NULL);
  const char *code = json_string_value(json_object_get(j, "code"));
  if (code_out != NULL && code != NULL) snprintf(code_out, PAY_CODE_MAX, "%s", code);
  if (code == NULL) code = "";
  if (*status >= 500 || *status < 200 || (*status == 404 && strcmp(code, "ORDER_NOT_EXIST") != 0 &&
                                         strcmp(code, "NO_STATEMENT_EXIST") != 0))
    rc = YW_EUNAVAIL;
  else if (*status == 401)
    rc = YW_EUNAUTH;
  else if (*status == 404)
    rc = YW_ENOTFOUND;
  else if (strcmp(code, "OUT_TRADE_NO_USED") == 0)
    rc = YW_EEXIST;
  else if (strcmp(code, "ORDER_PAID") == 0)
    rc = YW_ECONFLICT;
  else if (strcmp(code, "ORDER_CLOSED") == 0 || strcmp(code, "NOT_ENOUGH") == 0 ||
           strcmp(code, "ORDER_NOT_PAID") == 0)
    rc = YW_EPRECOND;
  else
    rc = YW_EINVAL;
  json_decref(j);
  free(*resp);
  *resp = NULL;
  return rc;
}

static int copy_str(char *dst, size_t size, const char *src) {
  if (src == NULL || strlen(src) >= size) return -1;
  memcpy(dst, src, strlen(src) + 1);
  return 0;
}

/* Copies o's string k into dst when it fits, else leaves dst "" (the caller compares). */
static void opt_str(char *dst, size_t size, json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  dst[0] = '\0';
  if (v != NULL) copy_str(dst, size, v);
}

static int get_int(json_t *o, const char *k, int64_t *out) {
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v)) return -1;
  *out = (int64_t)json_integer_value(v);
  return 0;
}

static int valid_no(const char *s) {
  size_t n = 0;
  for (; s != NULL && s[n]; n++)
    if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
          (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
      return 0;
  return n >= 6 && n <= 32;
}

/* The answer as a JSON object; YW_EUNAVAIL when it is not one (the outcome is unknown). */
static int answer_json(char *resp, json_t **out) {
  *out = json_loads(resp, 0, NULL);
  free(resp);
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return YW_EUNAVAIL;
  }
  return 0;
}

static int post_json(const pay_channel *ch, const char *rest, json_t *body, int timeout_ms,
                     json_t **out, char *code_out) {
  char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (text == NULL) return YW_ENOMEM;
  long status = 0;
  char *resp = NULL;
  int rc = call(ch, "POST", rest, text, timeout_ms, ANSWER_CAP, &status, &resp, NULL, code_out);
  free(text);
  if (rc != 0) return rc;
  if (out == NULL) {
    free(resp);
    return 0;
  }
  return answer_json(resp, out);
}

int pay_channel_prepay(const pay_channel *ch, const pay_prepay_req *req, int timeout_ms,
                       pay_prepay_res *out, char code_out[PAY_CODE_MAX]) {
  if (code_out != NULL) code_out[0] = '\0';
  if (!valid_no(req->out_trade_no) || req->description == NULL ||
      strlen(req->description) > PAY_DESC_MAX || req->total_fen <= 0 || req->notify_url == NULL ||
      strlen(req->notify_url) >= PAY_URL_MAX)
    return YW_EINVAL;
  json_t *b = json_pack("{s:s,s:s,s:s,s:{s:I,s:s},s:s}", "mchid", ch->mchid, "out_trade_no",
                        req->out_trade_no, "description", req->description, "amount", "total",
                        (json_int_t)req->total_fen, "currency", "CNY", "notify_url",
                        req->notify_url);
  if (b != NULL && req->expire_unix > 0) {
    char t[PAY_TIME_MAX];
    json_object_set_new(b, "time_expire", json_string(pay_time_format(req->expire_unix, t)));
  }
  json_t *a = NULL;
  int rc = post_json(ch, "/v3/pay/transactions/native", b, timeout_ms, &a, code_out);
  if (rc != 0) return rc;
  if (copy_str(out->prepay_id, sizeof out->prepay_id, json_string_value(json_object_get(a, "prepay_id"))) ||
      copy_str(out->code_url, sizeof out->code_url, json_string_value(json_object_get(a, "code_url"))))
    rc = YW_EUNAVAIL;
  json_decref(a);
  return rc;
}

int pay_channel_query(const pay_channel *ch, const char *out_trade_no, int timeout_ms,
                      pay_query_res *out, char code_out[PAY_CODE_MAX]) {
  if (code_out != NULL) code_out[0] = '\0';
  if (!valid_no(out_trade_no)) return YW_EINVAL;
  char rest[160];
  snprintf(rest, sizeof rest, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no,
           ch->mchid);
  long status = 0;
  char *resp = NULL;
  json_t *a = NULL;
  int rc = call(ch, "GET", rest, NULL, timeout_ms, ANSWER_CAP, &status, &resp, NULL, code_out);
  if (rc == 0) rc = answer_json(resp, &a);
  if (rc != 0) return rc;
  memset(out, 0, sizeof *out);
  json_t *amount = json_object_get(a, "amount");
  const char *st = json_string_value(json_object_get(a, "trade_state"));
  const char *tx = json_string_value(json_object_get(a, "transaction_id"));
  const char *when = json_string_value(json_object_get(a, "success_time"));
  if (pay_channel_state_parse(st, &out->state) != 0 || get_int(amount, "total", &out->total_fen) ||
      (tx != NULL && copy_str(out->transaction_id, sizeof out->transaction_id, tx)) ||
      (when != NULL && copy_str(out->success_time, sizeof out->success_time, when)))
    rc = YW_EUNAVAIL;
  get_int(amount, "payer_total", &out->payer_total_fen);
  opt_str(out->currency, sizeof out->currency, amount, "currency");
  if (rc == 0 && out->success_time[0] != '\0' &&
      pay_time_parse(out->success_time, &out->success_unix) != 0)
    rc = YW_EUNAVAIL;
  /* a payment the channel says succeeded has a time, or the answer is not one to book
   * from (paid_at and the journal's effective time come from it) */
  if (rc == 0 && out->state == PAY_TRADE_SUCCESS && out->success_time[0] == '\0') rc = YW_EUNAVAIL;
  json_decref(a);
  return rc;
}

int pay_channel_close(const pay_channel *ch, const char *out_trade_no, int timeout_ms,
                      char code_out[PAY_CODE_MAX]) {
  if (code_out != NULL) code_out[0] = '\0';
  if (!valid_no(out_trade_no)) return YW_EINVAL;
  char rest[160];
  snprintf(rest, sizeof rest, "/v3/pay/transactions/out-trade-no/%s/close", out_trade_no);
  return post_json(ch, rest, json_pack("{s:s}", "mchid", ch->mchid), timeout_ms, NULL, code_out);
}

int pay_channel_refund(const pay_channel *ch, const pay_refund_req *req, int timeout_ms,
                       pay_refund_res *out, char code_out[PAY_CODE_MAX]) {
  if (code_out != NULL) code_out[0] = '\0';
  if (!valid_no(req->out_trade_no) || !valid_no(req->out_refund_no) || req->refund_fen <= 0 ||
      req->total_fen <= 0)
    return YW_EINVAL;
  json_t *b = json_pack("{s:s,s:s,s:{s:I,s:I,s:s}}", "out_trade_no", req->out_trade_no,
                        "out_refund_no", req->out_refund_no, "amount", "refund",
                        (json_int_t)req->refund_fen, "total", (json_int_t)req->total_fen,
                        "currency", "CNY");
  json_t *a = NULL;
  int rc = post_json(ch, "/v3/refund/domestic/refunds", b, timeout_ms, &a, code_out);
  if (rc != 0) return rc;
  memset(out, 0, sizeof *out);
  if (copy_str(out->refund_id, sizeof out->refund_id, json_string_value(json_object_get(a, "refund_id"))) ||
      copy_str(out->out_refund_no, sizeof out->out_refund_no,
               json_string_value(json_object_get(a, "out_refund_no"))) ||
      copy_str(out->status, sizeof out->status, json_string_value(json_object_get(a, "status"))) ||
      copy_str(out->success_time, sizeof out->success_time,
               json_string_value(json_object_get(a, "success_time"))) ||
      pay_time_parse(out->success_time, &out->success_unix) != 0 ||
      get_int(json_object_get(a, "amount"), "refund", &out->refund_fen))
    rc = YW_EUNAVAIL;
  opt_str(out->currency, sizeof out->currency, json_object_get(a, "amount"), "currency");
  json_decref(a);
  return rc;
}

int pay_channel_statement(const pay_channel *ch, const char *date, int timeout_ms, char **csv,
                          size_t *len, char code_out[PAY_CODE_MAX]) {
  if (code_out != NULL) code_out[0] = '\0';
  *csv = NULL;
  *len = 0;
  int y, m, d;
  if (date == NULL || strlen(date) != 10 || date[4] != '-' || date[7] != '-' ||
      digits(date, 4, &y) || digits(date + 5, 2, &m) || digits(date + 8, 2, &d))
    return YW_EINVAL;
  char rest[64];
  snprintf(rest, sizeof rest, "/v3/bill/tradebill?bill_date=%s", date);
  long status = 0;
  return call(ch, "GET", rest, NULL, timeout_ms, PAY_STATEMENT_MAX, &status, csv, len, code_out);
}

/* ---- notifications ---- */

static int verify_sig(const pay_channel *ch, const char *msg, size_t ml, const char *sig_b64) {
  if (ch->seal != NULL) return yw_seal_verify(ch->seal, msg, ml, sig_b64) == 0 ? 0 : -1;
  size_t sl = strlen(sig_b64);
  if (sl == 0 || sl % 4 != 0 || sl > 1024) return -1;
  unsigned char der[800];
  int n = EVP_DecodeBlock(der, (const unsigned char *)sig_b64, (int)sl);
  if (n < 0) return -1;
  if (sig_b64[sl - 1] == '=') n--;
  if (sig_b64[sl - 2] == '=') n--;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL) return -1;
  int ok = EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, ch->pub, NULL) == 1 &&
           EVP_DigestVerify(md, der, (size_t)n, (const unsigned char *)msg, ml) == 1;
  EVP_MD_CTX_free(md);
  return ok ? 0 : -1;
}

int pay_channel_verify_notify(const pay_channel *ch, const char *timestamp, const char *nonce,
                              const char *serial, const char *signature_b64,
                              const uint8_t *body, size_t len, int64_t now_unix,
                              pay_notice *out) {
  if (len > NOTIFY_CAP) return YW_ETOOBIG;
  if (timestamp == NULL || nonce == NULL || signature_b64 == NULL || body == NULL) return YW_EPERM;
  if (serial != NULL && strcmp(serial, ch->serial) != 0) return YW_EPERM;
  size_t tl = strlen(timestamp), nl = strlen(nonce);
  if (tl == 0 || tl > 20 || nl == 0 || nl > 64) return YW_EPERM;
  char *end = NULL;
  long long ts = strtoll(timestamp, &end, 10);
  if (end == timestamp || *end != '\0') return YW_EPERM;
  size_t ml = tl + nl + len + 3;
  char *msg = malloc(ml);
  if (msg == NULL) return YW_ENOMEM;
  memcpy(msg, timestamp, tl);
  msg[tl] = '\n';
  memcpy(msg + tl + 1, nonce, nl);
  msg[tl + 1 + nl] = '\n';
  memcpy(msg + tl + nl + 2, body, len);
  msg[ml - 1] = '\n';
  int ok = verify_sig(ch, msg, ml, signature_b64) == 0;
  free(msg);
  if (!ok) return YW_EPERM;
  if (ts > now_unix + PAY_NOTIFY_WINDOW_S || ts < now_unix - PAY_NOTIFY_WINDOW_S) return YW_EPERM;
  /* signed by the channel: now the shape */
  json_t *j = json_loadb((const char *)body, len, 0, NULL);
  json_t *res = json_object_get(j, "resource");
  json_t *amount = json_object_get(res, "amount");
  const char *type = json_string_value(json_object_get(j, "event_type"));
  int rc = YW_EINVAL;
  memset(out, 0, sizeof *out);
  if (type != NULL && strcmp(type, "TRANSACTION.SUCCESS") == 0)
    out->kind = PAY_NOTICE_TRANSACTION;
  else if (type != NULL && strcmp(type, "REFUND.SUCCESS") == 0)
    out->kind = PAY_NOTICE_REFUND;
  else
    goto out;
  if (copy_str(out->id, sizeof out->id, json_string_value(json_object_get(j, "id"))) ||
      copy_str(out->mchid, sizeof out->mchid, json_string_value(json_object_get(res, "mchid"))) ||
      copy_str(out->out_trade_no, sizeof out->out_trade_no,
               json_string_value(json_object_get(res, "out_trade_no"))) ||
      copy_str(out->transaction_id, sizeof out->transaction_id,
               json_string_value(json_object_get(res, "transaction_id"))) ||
      copy_str(out->success_time, sizeof out->success_time,
               json_string_value(json_object_get(res, "success_time"))) ||
      pay_time_parse(out->success_time, &out->success_unix) != 0 ||
      get_int(amount, "total", &out->total_fen) || out->total_fen <= 0)
    goto out;
  opt_str(out->currency, sizeof out->currency, amount, "currency");
  if (out->kind == PAY_NOTICE_TRANSACTION) {
    if (copy_str(out->trade_state, sizeof out->trade_state,
                 json_string_value(json_object_get(res, "trade_state"))) ||
        get_int(amount, "payer_total", &out->payer_total_fen) || out->payer_total_fen < 0)
      goto out;
  } else {
    if (copy_str(out->out_refund_no, sizeof out->out_refund_no,
                 json_string_value(json_object_get(res, "out_refund_no"))) ||
        copy_str(out->refund_id, sizeof out->refund_id,
                 json_string_value(json_object_get(res, "refund_id"))) ||
        get_int(amount, "refund", &out->refund_fen) || out->refund_fen <= 0)
      goto out;
    get_int(amount, "payer_total", &out->payer_total_fen);
  }
  rc = 0;
out:
  json_decref(j);
  if (rc != 0) memset(out, 0, sizeof *out);
  return rc;
}
