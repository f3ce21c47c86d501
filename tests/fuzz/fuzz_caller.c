/*
 * fuzz_caller.c - the caller metadata a service reads (lib/yw_caller.c): any value and
 * signature, checked for any method and request id, under known keys.
 *
 * Input: four parts separated by NUL bytes: value, signature, method, request id.
 * Properties: a random input is refused (it would need the key); a refusal leaves an
 * empty caller; and a value the fuzzer's input makes the gateway sign (its fields
 * taken from the input) verifies for its own method and request id and for no other.
 */
#include <string.h>

#include "fuzz.h"
#include "yw_caller.h"
#include "yw_err.h"

static yw_caller_keys keys;
static uint8_t current[YW_KEY_BYTES], previous[YW_KEY_BYTES];

static const char *part(const char **p, const char *end) {
  const char *s = *p;
  const char *nul = memchr(s, '\0', (size_t)(end - s));
  *p = nul != NULL ? nul + 1 : end;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (keys.window_s == 0) {
    for (size_t i = 0; i < YW_KEY_BYTES; i++) {
      current[i] = (uint8_t)(i * 13 + 7);
      previous[i] = (uint8_t)(i * 31 + 3);
    }
    FUZZ_CHECK(yw_caller_keys_init(&keys, current, previous, 30) == 0);
  }
  if (size > 4096) return 0;
  /* a NUL-terminated copy so each part ends inside the buffer */
  char *buf = malloc(size + 1);
  FUZZ_CHECK(buf != NULL);
  memcpy(buf, data, size);
  buf[size] = '\0';
  const char *p = buf, *end = buf + size + 1;
  const char *value = part(&p, end);
  const char *sig = p < end ? part(&p, end) : "";
  const char *method = p < end ? part(&p, end) : "";
  const char *rid = p < end ? part(&p, end) : "";
  yw_caller out;
  memset(&out, 0x5a, sizeof out);
  long long now = 1700000000;
  int rc = yw_caller_decode(value, sig, &keys, method, rid, now, &out);
  FUZZ_CHECK(rc == YW_EUNAUTH);
  FUZZ_CHECK(out.subject[0] == '\0' && out.roles[0] == '\0' && out.kind == YW_CALLER_ANONYMOUS);

  /* the gateway's side: a caller whose fields come from the input */
  yw_caller c;
  memset(&c, 0, sizeof c);
  snprintf(c.subject, sizeof c.subject, "%s", value);
  snprintf(c.roles, sizeof c.roles, "%s", sig);
  snprintf(c.ip, sizeof c.ip, "%s", rid);
  c.kind = YW_CALLER_STAFF;
  c.ts = now - (long long)(size % 40);
  char v[YW_CALLER_VALUE_MAX], s[65];
  if (yw_caller_encode(&c, previous, method, rid, v, sizeof v, s) != 0) {
    free(buf);
    return 0;
  }
  rc = yw_caller_decode(v, s, &keys, method, rid, now, &out);
  FUZZ_CHECK(rc == (now - c.ts <= 30 ? 0 : YW_EUNAUTH));
  if (rc == 0) {
    FUZZ_CHECK(strcmp(out.subject, c.subject) == 0 && strcmp(out.roles, c.roles) == 0);
    FUZZ_CHECK(strcmp(out.key_id, keys.previous_id) == 0);
  }
  /* another method or request id: refused */
  FUZZ_CHECK(yw_caller_decode(v, s, &keys, "/other.Service/Method", rid, now, &out) == YW_EUNAUTH ||
             strcmp(method, "/other.Service/Method") == 0);
  FUZZ_CHECK(yw_caller_decode(v, s, &keys, method, "another-request", now, &out) == YW_EUNAUTH ||
             strcmp(rid, "another-request") == 0);
  free(buf);
  return 0;
}
