/*
 * yw_caller.c - signed caller metadata between the gateway and the services.
 *
 * Offers: yw_caller_encode, yw_caller_decode, yw_caller_has_role, yw_rpc_call_caller.
 */
#include "yw_caller.h"

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

int yw_caller_encode(const yw_caller *c, const uint8_t key[YW_KEY_BYTES], char *value,
                     size_t size, char sig[65]) {
  if (!safe(c->subject) || !safe(c->roles) || !safe(c->department) || !safe(c->session) ||
      !safe(c->ip) || !safe(c->org))
    return YW_EINVAL;
  int n = snprintf(value, size, "v1;sub=%s;kind=%s;roles=%s;dept=%s;level=%d;sid=%s;ip=%s;org=%s;ts=%lld",
                   c->subject, kind_name(c->kind), c->roles, c->department, c->level, c->session,
                   c->ip, c->org, c->ts);
  if (n < 0 || (size_t)n >= size) return YW_ETOOBIG;
  yw_hmac_hex(key, value, (size_t)n, sig);
  return 0;
}

static int copy_field(const char *v, size_t len, char *out, size_t size) {
  if (len >= size) return -1;
  memcpy(out, v, len);
  out[len] = '\0';
  return 0;
}

int yw_caller_decode(const char *value, const char *sig, const uint8_t key[YW_KEY_BYTES],
                     long long now, int max_age_s, yw_caller *out) {
  memset(out, 0, sizeof *out);
  if (value == NULL || sig == NULL || strncmp(value, "v1;", 3) != 0) return YW_EUNAUTH;
  char want[65];
  yw_hmac_hex(key, value, strlen(value), want);
  if (!yw_secure_equal(want, sig)) return YW_EUNAUTH;
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
    } else if (klen == 2 && memcmp(p, "ts", 2) == 0) {
      out->ts = strtoll(v, NULL, 10);
      have_ts = 1;
    }
    if (bad) return YW_EUNAUTH;
    p += len;
    if (*p == ';') p++;
  }
  if (!have_ts || out->ts < now - max_age_s || out->ts > now + max_age_s) return YW_EUNAUTH;
  return 0;
}

int yw_caller_has_role(const yw_caller *c, const char *role) {
  size_t rl = strlen(role);
  const char *p = c->roles;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == rl && memcmp(p, role, rl) == 0) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

int yw_rpc_call_caller(yw_rpc_call *call, const uint8_t key[YW_KEY_BYTES], yw_caller *out) {
  const char *value = yw_rpc_call_metadata(call, "x-yw-caller");
  const char *sig = yw_rpc_call_metadata(call, "x-yw-caller-sig");
  if (yw_caller_decode(value, sig, key, (long long)time(NULL), YW_CALLER_MAX_AGE_S, out) != 0)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "the caller is not vouched for by the gateway");
  return 0;
}
