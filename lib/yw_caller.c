/*
 * yw_caller.c - signed caller metadata between the gateway and the services.
 *
 * The signature covers more than the value it travels with: the method path and the
 * request id of the call are signed too, but not carried in the value, so a service
 * checks them against the call it is actually serving instead of trusting a copy. The
 * signed text puts each of them behind its length, so no choice of method, request id
 * or field can make two different calls sign the same bytes.
 *
 * A service forwarding a call signs with the same function as the gateway, the value
 * carrying via= last; the gateway's values have no via= at all, so what the gateway
 * signs is unchanged.
 *
 * Offers: yw_caller_key_id, yw_caller_keys_init, yw_caller_keys_from_hex,
 * yw_caller_encode, yw_caller_forward, yw_caller_decode, yw_caller_has_role,
 * yw_caller_org_may, yw_rpc_call_caller.
 */
#include "yw_caller.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_err.h"

static const char SAFE[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:,@-";

static int safe(const char *s) { return strspn(s, SAFE) == strlen(s); }

static const char *kind_name(enum yw_caller_kind k) {
  switch (k) {
  case YW_CALLER_PERSON: return "person";
  case YW_CALLER_STAFF: return "staff";
  default: return "anonymous";
  }
}

void yw_caller_key_id(const uint8_t key[YW_KEY_BYTES], char id[YW_CALLER_KID_LEN + 1]) {
  static const char label[] = "yw-caller key id";
  char mac[65];
  yw_hmac_hex(key, label, sizeof label - 1, mac);
  memcpy(id, mac, YW_CALLER_KID_LEN);
  id[YW_CALLER_KID_LEN] = '\0';
}

int yw_caller_keys_init(yw_caller_keys *keys, const uint8_t current[YW_KEY_BYTES],
                        const uint8_t *previous, int window_s) {
  memset(keys, 0, sizeof *keys);
  if (window_s < 1 || window_s > YW_CALLER_WINDOW_MAX_S) return YW_EINVAL;
  keys->window_s = window_s;
  memcpy(keys->current, current, YW_KEY_BYTES);
  yw_caller_key_id(current, keys->current_id);
  if (previous != NULL && CRYPTO_memcmp(previous, current, YW_KEY_BYTES) != 0) {
    memcpy(keys->previous, previous, YW_KEY_BYTES);
    yw_caller_key_id(previous, keys->previous_id);
  }
  return 0;
}

int yw_caller_keys_from_hex(yw_caller_keys *keys, const char *current_hex,
                            const char *previous_hex, int window_s) {
  uint8_t cur[YW_KEY_BYTES], prev[YW_KEY_BYTES];
  int has_prev = previous_hex != NULL && previous_hex[0] != '\0';
  int rc = YW_EINVAL;
  memset(keys, 0, sizeof *keys);
  if (current_hex == NULL || yw_key_from_hex(current_hex, cur) != 0) goto out;
  if (has_prev && yw_key_from_hex(previous_hex, prev) != 0) goto out;
  rc = yw_caller_keys_init(keys, cur, has_prev ? prev : NULL, window_s);
out:
  OPENSSL_cleanse(cur, sizeof cur);
  OPENSSL_cleanse(prev, sizeof prev);
  return rc;
}

/* The signature of value for one call: HMAC over a text that frames method and request
 * id by their lengths. Returns 0, or YW_EINVAL when a part is too long to be signed. */
static int sign(const uint8_t key[YW_KEY_BYTES], const char *method, const char *request_id,
                const char *value, char sig[65]) {
  size_t ml = strlen(method), rl = strlen(request_id), vl = strlen(value);
  if (ml > YW_CALLER_METHOD_MAX || rl > YW_CALLER_REQUEST_ID_MAX || vl >= YW_CALLER_VALUE_MAX)
    return YW_EINVAL;
  char text[64 + YW_CALLER_METHOD_MAX + YW_CALLER_REQUEST_ID_MAX + YW_CALLER_VALUE_MAX];
  int n = snprintf(text, sizeof text, "yw-caller/v2\n%zu:%s\n%zu:%s\n%s", ml, method, rl,
                   request_id, value);
  if (n < 0 || (size_t)n >= sizeof text) return YW_EINVAL;
  yw_hmac_hex(key, text, (size_t)n, sig);
  OPENSSL_cleanse(text, sizeof text); /* it holds the caller's session id */
  return 0;
}

int yw_caller_encode(const yw_caller *c, const uint8_t key[YW_KEY_BYTES], const char *method,
                     const char *request_id, char *value, size_t size, char sig[65]) {
  if (!safe(c->subject) || !safe(c->roles) || !safe(c->department) || !safe(c->session) ||
      !safe(c->ip) || !safe(c->org) || !safe(c->org_scope) || !safe(c->via) || method == NULL || method[0] != '/' ||
      request_id == NULL)
    return YW_EINVAL;
  char kid[YW_CALLER_KID_LEN + 1];
  yw_caller_key_id(key, kid);
  int n = snprintf(value, size,
                   "v2;kid=%s;sub=%s;kind=%s;roles=%s;dept=%s;level=%d;sid=%s;ip=%s;org=%s;scope=%s;"
                   "ts=%lld",
                   kid, c->subject, kind_name(c->kind), c->roles, c->department, c->level,
                   c->session, c->ip, c->org, c->org_scope, c->ts);
  if (n < 0 || (size_t)n >= size) return YW_ETOOBIG;
  if (c->via[0] != '\0') {
    int m = snprintf(value + n, size - (size_t)n, ";via=%s", c->via);
    if (m < 0 || (size_t)m >= size - (size_t)n) return YW_ETOOBIG;
  }
  return sign(key, method, request_id, value, sig);
}

int yw_caller_forward(const yw_caller *in, const yw_caller_keys *keys, const char *service,
                      const char *method, const char *request_id, long long now,
                      char *value, size_t size, char sig[65]) {
  size_t sl = service != NULL ? strlen(service) : 0;
  if (sl == 0 || sl > YW_CALLER_SERVICE_MAX ||
      strspn(service, "abcdefghijklmnopqrstuvwxyz0123456789_-") != sl)
    return YW_EINVAL;
  yw_caller out = *in;
  out.ts = now;
  size_t vl = strlen(in->via);
  if (vl + (vl > 0) + sl >= sizeof out.via) return YW_ETOOBIG;
  if (vl > 0) out.via[vl++] = ',';
  memcpy(out.via + vl, service, sl + 1);
  return yw_caller_encode(&out, keys->current, method, request_id, value, size, sig);
}

static int copy_field(const char *v, size_t len, char *out, size_t size) {
  if (len >= size) return -1;
  memcpy(out, v, len);
  out[len] = '\0';
  return 0;
}

/* The key whose id value names ("v2;kid=<id>;..."), or NULL when neither is it. */
static const uint8_t *key_of(const char *value, const yw_caller_keys *keys) {
  const char *kid = value + 7;
  if (strspn(kid, "0123456789abcdef") != YW_CALLER_KID_LEN || kid[YW_CALLER_KID_LEN] != ';')
    return NULL;
  if (keys->current_id[0] != '\0' && memcmp(kid, keys->current_id, YW_CALLER_KID_LEN) == 0)
    return keys->current;
  if (keys->previous_id[0] != '\0' && memcmp(kid, keys->previous_id, YW_CALLER_KID_LEN) == 0)
    return keys->previous;
  return NULL;
}

int yw_caller_decode(const char *value, const char *sig, const yw_caller_keys *keys,
                     const char *method, const char *request_id, long long now,
                     yw_caller *out) {
  memset(out, 0, sizeof *out);
  if (value == NULL || sig == NULL || keys == NULL || method == NULL || request_id == NULL ||
      strncmp(value, "v2;kid=", 7) != 0)
    return YW_EUNAUTH;
  const uint8_t *key = key_of(value, keys);
  if (key == NULL) return YW_EUNAUTH;
  char want[65];
  if (sign(key, method, request_id, value, want) != 0 || !yw_secure_equal(want, sig))
    return YW_EUNAUTH;
  const char *p = value + 3;
  int have_ts = 0;
  while (*p != '\0') {
    const char *end = strchr(p, ';');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (eq == NULL) return YW_EUNAUTH;
    size_t klen = (size_t)(eq - p);
    const char *v = eq + 1;
    size_t vlen = len - klen - 1;
    int bad = 0;
    if (klen == 3 && memcmp(p, "sub", 3) == 0) {
      bad = copy_field(v, vlen, out->subject, sizeof out->subject);
    } else if (klen == 4 && memcmp(p, "kind", 4) == 0) {
      if (vlen == 6 && memcmp(v, "person", 6) == 0) out->kind = YW_CALLER_PERSON;
      else if (vlen == 5 && memcmp(v, "staff", 5) == 0) out->kind = YW_CALLER_STAFF;
      else out->kind = YW_CALLER_ANONYMOUS;
    } else if (klen == 5 && memcmp(p, "roles", 5) == 0) {
      bad = copy_field(v, vlen, out->roles, sizeof out->roles);
    } else if (klen == 4 && memcmp(p, "dept", 4) == 0) {
      bad = copy_field(v, vlen, out->department, sizeof out->department);
    } else if (klen == 5 && memcmp(p, "level", 5) == 0) {
      out->level = (int)strtol(v, NULL, 10);
    } else if (klen == 3 && memcmp(p, "sid", 3) == 0) {
      bad = copy_field(v, vlen, out->session, sizeof out->session);
    } else if (klen == 2 && memcmp(p, "ip", 2) == 0) {
      bad = copy_field(v, vlen, out->ip, sizeof out->ip);
    } else if (klen == 3 && memcmp(p, "org", 3) == 0) {
      bad = copy_field(v, vlen, out->org, sizeof out->org);
    } else if (klen == 5 && memcmp(p, "scope", 5) == 0) {
      bad = copy_field(v, vlen, out->org_scope, sizeof out->org_scope);
    } else if (klen == 3 && memcmp(p, "via", 3) == 0) {
      bad = copy_field(v, vlen, out->via, sizeof out->via);
    } else if (klen == 3 && memcmp(p, "kid", 3) == 0) {
      bad = copy_field(v, vlen, out->key_id, sizeof out->key_id);
    } else if (klen == 2 && memcmp(p, "ts", 2) == 0) {
      out->ts = strtoll(v, NULL, 10);
      have_ts = 1;
    }
    if (bad) return YW_EUNAUTH;
    p += len;
    if (*p == ';') p++;
  }
  /* bounds clamped so a clock or stamp at the end of the range cannot overflow */
  long long w = keys->window_s;
  long long lo = now > LLONG_MIN + w ? now - w : LLONG_MIN;
  long long hi = now < LLONG_MAX - w ? now + w : LLONG_MAX;
  if (!have_ts || out->ts < lo || out->ts > hi) return YW_EUNAUTH;
  return 0;
}

/* 1 when word is one of the comma-separated list. */
static int in_list(const char *list, const char *word) {
  size_t rl = strlen(word);
  const char *p = list;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == rl && memcmp(p, word, rl) == 0) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

int yw_caller_has_role(const yw_caller *c, const char *role) { return in_list(c->roles, role); }

int yw_caller_org_may(const yw_caller *c, const char *scope) {
  return c->org[0] == '\0' || (scope[0] != '\0' && in_list(c->org_scope, scope));
}

int yw_rpc_call_caller(yw_rpc_call *call, const yw_caller_keys *keys, yw_caller *out) {
  const char *value = yw_rpc_call_metadata(call, "x-yw-caller");
  const char *sig = yw_rpc_call_metadata(call, "x-yw-caller-sig");
  if (yw_caller_decode(value, sig, keys, yw_rpc_call_method(call), yw_rpc_call_request_id(call),
                       (long long)time(NULL), out) != 0)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "the caller is not vouched for by the gateway");
  return 0;
}
