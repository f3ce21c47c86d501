/*
 * test_seal.c - the department's seal (lib/yw_seal.c) on OpenSSL 3: SM2 keys made and
 * read back; a signature verifies with the key and its public half only, not after a
 * byte of the record changed, not with another key, not when garbled; keys that are not
 * SM2 are refused; and the openssl command line, as anyone holding the public key would
 * use it, verifies our signature (and we verify its), with the documented user id.
 * Canonical JSON: key order and spacing do not change the bytes signed.
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

#include "yw_err.h"
#include "yw_seal.h"

static const char record[] =
    "{\"holder\":\"张三\",\"issuer\":\"320700-GA\",\"number\":\"320700-2026-000001\","
    "\"type\":\"居民身份证领取凭证\",\"validFrom\":\"2026-11-30\",\"validTo\":\"2036-11-30\"}";

static char *priv_pem, *pub_pem;

static int setup(void **state) {
  (void)state;
  return yw_seal_generate(&priv_pem, &pub_pem);
}

static int teardown(void **state) {
  (void)state;
  free(priv_pem);
  free(pub_pem);
  return 0;
}

static void sign_and_verify_with_either_half(void **state) {
  (void)state;
  yw_seal *priv = NULL, *pub = NULL;
  assert_int_equal(yw_seal_from_pem(priv_pem, strlen(priv_pem), &priv), 0);
  assert_int_equal(yw_seal_from_pem(pub_pem, strlen(pub_pem), &pub), 0);
  char sig[YW_SEAL_SIG_MAX];
  assert_int_equal(yw_seal_sign(priv, record, strlen(record), sig, sizeof sig), 0);
  assert_true(strlen(sig) > 80); /* base64 of a DER (r, s) */
  assert_int_equal(yw_seal_verify(pub, record, strlen(record), sig), 0);
  assert_int_equal(yw_seal_verify(priv, record, strlen(record), sig), 0);
  /* a public key cannot sign */
  assert_int_equal(yw_seal_sign(pub, record, strlen(record), sig, sizeof sig), YW_EINVAL);
  /* the public PEM of the private seal is the public key */
  char *again = NULL;
  assert_int_equal(yw_seal_public_pem(priv, &again), 0);
  assert_string_equal(again, pub_pem);
  free(again);
  yw_seal_free(priv);
  yw_seal_free(pub);
}

static void a_changed_record_another_key_or_garbage_fails(void **state) {
  (void)state;
  yw_seal *priv = NULL, *pub = NULL, *other = NULL;
  assert_int_equal(yw_seal_from_pem(priv_pem, strlen(priv_pem), &priv), 0);
  assert_int_equal(yw_seal_from_pem(pub_pem, strlen(pub_pem), &pub), 0);
  char *opriv = NULL, *opub = NULL;
  assert_int_equal(yw_seal_generate(&opriv, &opub), 0);
  assert_int_equal(yw_seal_from_pem(opub, strlen(opub), &other), 0);
  char sig[YW_SEAL_SIG_MAX];
  assert_int_equal(yw_seal_sign(priv, record, strlen(record), sig, sizeof sig), 0);
  char changed[sizeof record];
  memcpy(changed, record, sizeof record);
  changed[strlen(changed) - 3] = '7'; /* validTo 2037 */
  assert_int_equal(yw_seal_verify(pub, changed, strlen(changed), sig), YW_EINVAL);
  assert_int_equal(yw_seal_verify(other, record, strlen(record), sig), YW_EINVAL);
  char bad[YW_SEAL_SIG_MAX];
  memcpy(bad, sig, sizeof bad);
  bad[10] = bad[10] == 'A' ? 'B' : 'A';
  assert_int_equal(yw_seal_verify(pub, record, strlen(record), bad), YW_EINVAL);
  assert_int_equal(yw_seal_verify(pub, record, strlen(record), "not base64!"), YW_EINVAL);
  assert_int_equal(yw_seal_verify(pub, record, strlen(record), ""), YW_EINVAL);
  char small[16];
  assert_int_equal(yw_seal_sign(priv, record, strlen(record), small, sizeof small), YW_EINVAL);
  free(opriv);
  free(opub);
  yw_seal_free(priv);
  yw_seal_free(pub);
  yw_seal_free(other);
}

static int sh(const char *cmd) { return system(cmd); }

static void keys_that_are_not_sm2_are_refused(void **state) {
  (void)state;
  char dir[] = "/tmp/yw-seal.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char cmd[512], path[256];
  snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s/ec.key 2>/dev/null", dir);
  assert_int_equal(sh(cmd), 0);
  snprintf(path, sizeof path, "%s/ec.key", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char pem[4096];
  size_t n = fread(pem, 1, sizeof pem - 1, f);
  fclose(f);
  pem[n] = '\0';
  yw_seal *s = NULL;
  assert_int_equal(yw_seal_from_pem(pem, n, &s), YW_EINVAL);
  assert_null(s);
  assert_int_equal(yw_seal_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 58, &s),
                   YW_EINVAL);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  sh(cmd);
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void the_openssl_command_line_verifies_our_seal_and_we_its(void **state) {
  (void)state;
  char dir[] = "/tmp/yw-seal.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p_pub[64], p_priv[64], p_rec[64], p_sig[64], cmd[1024];
  snprintf(p_pub, sizeof p_pub, "%s/seal.pub", dir);
  snprintf(p_priv, sizeof p_priv, "%s/seal.key", dir);
  snprintf(p_rec, sizeof p_rec, "%s/record", dir);
  snprintf(p_sig, sizeof p_sig, "%s/record.sig", dir);
  write_file(p_pub, pub_pem, strlen(pub_pem));
  write_file(p_priv, priv_pem, strlen(priv_pem));
  write_file(p_rec, record, strlen(record));
  yw_seal *priv = NULL, *pub = NULL;
  assert_int_equal(yw_seal_from_pem(priv_pem, strlen(priv_pem), &priv), 0);
  assert_int_equal(yw_seal_from_pem(pub_pem, strlen(pub_pem), &pub), 0);
  char sig[YW_SEAL_SIG_MAX];
  assert_int_equal(yw_seal_sign(priv, record, strlen(record), sig, sizeof sig), 0);
  /* ours, checked by openssl pkeyutl (the DER from the base64) */
  snprintf(cmd, sizeof cmd,
           "echo '%s' | base64 -d > %s && openssl pkeyutl -verify -pubin -inkey %s -rawin "
           "-digest sm3 -pkeyopt distid:%s -in %s -sigfile %s >/dev/null 2>&1",
           sig, p_sig, p_pub, YW_SEAL_ID, p_rec, p_sig);
  assert_int_equal(sh(cmd), 0);
  /* and with another user id the same signature does not verify: the id is part of it */
  snprintf(cmd, sizeof cmd,
           "openssl pkeyutl -verify -pubin -inkey %s -rawin -digest sm3 -pkeyopt distid:other "
           "-in %s -sigfile %s >/dev/null 2>&1",
           p_pub, p_rec, p_sig);
  assert_int_not_equal(sh(cmd), 0);
  /* openssl's signature, checked by us */
  snprintf(cmd, sizeof cmd,
           "openssl pkeyutl -sign -inkey %s -rawin -digest sm3 -pkeyopt distid:%s -in %s "
           "-out %s/theirs.sig 2>/dev/null && base64 -w0 %s/theirs.sig > %s/theirs.b64",
           p_priv, YW_SEAL_ID, p_rec, dir, dir, dir);
  assert_int_equal(sh(cmd), 0);
  char b64path[300], theirs[YW_SEAL_SIG_MAX] = "";
  snprintf(b64path, sizeof b64path, "%s/theirs.b64", dir);
  FILE *f = fopen(b64path, "r");
  assert_non_null(f);
  size_t n = fread(theirs, 1, sizeof theirs - 1, f);
  fclose(f);
  theirs[n] = '\0';
  assert_int_equal(yw_seal_verify(pub, record, strlen(record), theirs), 0);
  yw_seal_free(priv);
  yw_seal_free(pub);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  sh(cmd);
}

static int canon(const char *json, char **out) { return yw_seal_canonical_json(json, strlen(json), out); }

static void canonical_json_ignores_order_and_spacing(void **state) {
  (void)state;
  char *a = NULL, *b = NULL, *c = NULL;
  assert_int_equal(canon("{\"b\": 1, \"a\": {\"y\": \"张\", \"x\": [2, 1]}}", &a), 0);
  assert_int_equal(canon("{\"a\":{\"x\":[2,1],\"y\":\"张\"},\"b\":1}", &b), 0);
  assert_string_equal(a, b);
  assert_string_equal(a, "{\"a\":{\"x\":[2,1],\"y\":\"张\"},\"b\":1}");
  assert_int_equal(canon("[1,2]", &c), YW_EINVAL);
  assert_int_equal(canon("{\"a\":1,\"a\":2}", &c), YW_EINVAL);
  assert_null(c);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sign_and_verify_with_either_half),
      cmocka_unit_test(a_changed_record_another_key_or_garbage_fails),
      cmocka_unit_test(keys_that_are_not_sm2_are_refused),
      cmocka_unit_test(the_openssl_command_line_verifies_our_seal_and_we_its),
      cmocka_unit_test(canonical_json_ignores_order_and_spacing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
