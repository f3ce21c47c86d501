/*
 * test_crypto.c - personal-data protection: GB 11643 and GB 32100 check digits,
 * masking, AES-256-GCM with tamper detection, HMAC and SHA-256 against values computed
 * by the openssl command, argon2id passwords, random tokens and digits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yw_crypto.h"
#include "yw_err.h"

static uint8_t key[YW_KEY_BYTES];

static void test_id_card_check_digit_and_date(void **state) {
  (void)state;
  assert_true(yw_id_card_valid("320706199001011230"));
  assert_true(yw_id_card_valid("320724197806300885"));
  assert_false(yw_id_card_valid("320706199001011231")); /* wrong check digit */
  assert_false(yw_id_card_valid("32070619900101123"));  /* too short */
  assert_false(yw_id_card_valid("3207061990010112300"));
  assert_false(yw_id_card_valid("32070619900A011230"));
  /* 1990-02-30 does not exist; compute its check digit so only the date is wrong */
  static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  char bad[19] = "32070619900230123?";
  int sum = 0;
  for (int i = 0; i < 17; i++) sum += (bad[i] - '0') * w[i];
  bad[17] = "10X98765432"[sum % 11];
  assert_false(yw_id_card_valid(bad));
  char future[19] = "32070630000101123?";
  sum = 0;
  for (int i = 0; i < 17; i++) sum += (future[i] - '0') * w[i];
  future[17] = "10X98765432"[sum % 11];
  assert_false(yw_id_card_valid(future));
  /* a check character X, written in lower case too */
  char x[19] = "11010519491231002?";
  sum = 0;
  for (int i = 0; i < 17; i++) sum += (x[i] - '0') * w[i];
  x[17] = "10X98765432"[sum % 11];
  assert_true(yw_id_card_valid(x));
  if (x[17] == 'X') {
    x[17] = 'x';
    assert_true(yw_id_card_valid(x));
  }
}

static void test_credit_code_and_phone(void **state) {
  (void)state;
  assert_true(yw_uscc_valid("91350100M000100Y43"));
  assert_false(yw_uscc_valid("91350100M000100Y44"));
  assert_false(yw_uscc_valid("91350100M000100Y4"));
  assert_false(yw_uscc_valid("91350100I000100Y43")); /* I is not in the alphabet */
  assert_true(yw_phone_valid("13812345678"));
  assert_false(yw_phone_valid("12812345678"));
  assert_false(yw_phone_valid("1381234567"));
  assert_false(yw_phone_valid("1381234567a"));
}

static void test_masking_keeps_only_the_ends(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(yw_mask_id_card("320722199001011234", out, sizeof out), "3207**********1234");
  assert_string_equal(yw_mask_phone("13812345678", out, sizeof out), "138****5678");
  assert_string_equal(yw_mask_name("张三丰", out, sizeof out), "*三丰");
  assert_string_equal(yw_mask_name("李", out, sizeof out), "*");
  assert_string_equal(yw_mask_name("", out, sizeof out), "");
  assert_string_equal(yw_mask_phone("1234", out, sizeof out), "****");
  char small[5];
  yw_mask_name("欧阳娜娜", small, sizeof small); /* room for "*" and one 3-byte character */
  assert_string_equal(small, "*阳");
  yw_mask_id_card("320722199001011234", small, sizeof small);
  assert_int_equal(strlen(small), 4);
}

static void test_encryption_round_trip_and_tamper_detection(void **state) {
  (void)state;
  const char *plain = "张三 320706199001011230";
  char enc[256], dec[128];
  assert_int_equal(yw_encrypt(key, plain, strlen(plain), "p-subject", enc, sizeof enc), 0);
  assert_null(strstr(enc, "320706")); /* nothing in clear */
  assert_int_equal(yw_decrypt(key, enc, "p-subject", dec, sizeof dec), 0);
  assert_string_equal(dec, plain);
  char enc2[256];
  assert_int_equal(yw_encrypt(key, plain, strlen(plain), "p-subject", enc2, sizeof enc2), 0);
  assert_string_not_equal(enc, enc2); /* a fresh nonce every time */
  assert_int_equal(yw_decrypt(key, enc, "p-other", dec, sizeof dec), YW_EINVAL);
  enc[40] = enc[40] == '0' ? '1' : '0';
  assert_int_equal(yw_decrypt(key, enc, "p-subject", dec, sizeof dec), YW_EINVAL);
  uint8_t other[YW_KEY_BYTES];
  memcpy(other, key, sizeof other);
  other[0] ^= 1;
  assert_int_equal(yw_decrypt(other, enc2, "p-subject", dec, sizeof dec), YW_EINVAL);
  assert_int_equal(yw_encrypt(key, plain, strlen(plain), NULL, enc, 20), YW_ETOOBIG);
  assert_int_equal(yw_decrypt(key, enc2, "p-subject", dec, 5), YW_ETOOBIG);
  assert_int_equal(yw_decrypt(key, "zz", "p-subject", dec, sizeof dec), YW_EINVAL);
}

static void test_hmac_and_sha256_known_values(void **state) {
  (void)state;
  char out[65];
  /* printf 'phone:13812345678' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0001..1f */
  yw_hmac_hex(key, "phone:13812345678", 17, out);
  assert_string_equal(out, "c5b4a5c2e4fc091014dec10e8196ba2033f7e1306f5354d83481a8443a0fd920");
  yw_sha256_hex("abc", 3, out);
  assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  uint8_t k2[YW_KEY_BYTES] = {0};
  char out2[65];
  yw_hmac_hex(k2, "phone:13812345678", 17, out2);
  assert_string_not_equal(out, out2);
  uint8_t parsed[YW_KEY_BYTES];
  assert_int_equal(
      yw_key_from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", parsed), 0);
  assert_memory_equal(parsed, key, YW_KEY_BYTES);
  assert_int_equal(yw_key_from_hex("0001", parsed), YW_EINVAL);
  assert_int_equal(
      yw_key_from_hex("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", parsed),
      YW_EINVAL);
  assert_true(yw_secure_equal("abc", "abc"));
  assert_false(yw_secure_equal("abc", "abd"));
  assert_false(yw_secure_equal("abc", "abcd"));
}

static void test_passwords_verify_only_the_right_one(void **state) {
  (void)state;
  setenv("YW_ARGON2_FAST", "1", 1);
  char hash[128];
  assert_int_equal(yw_password_hash("correct horse battery", hash, sizeof hash), 0);
  assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
  assert_true(yw_password_verify(hash, "correct horse battery"));
  assert_false(yw_password_verify(hash, "correct horse batterY"));
  assert_false(yw_password_verify("not a hash", "x"));
  assert_false(yw_password_verify("$argon2id$v=19$m=1024,t=3,p=1$broken", "x"));
  char hash2[128];
  assert_int_equal(yw_password_hash("correct horse battery", hash2, sizeof hash2), 0);
  assert_string_not_equal(hash, hash2); /* salted */
  /* a hash made with the parameters in force is kept; any other is made again */
  assert_false(yw_password_needs_rehash(hash));
  assert_true(yw_password_needs_rehash("$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"));
  assert_true(yw_password_needs_rehash("$argon2i$v=19$m=1024,t=3,p=1$c2FsdA$aGFzaA"));
  assert_true(yw_password_needs_rehash(NULL));
  if (yw_password_fast_allowed()) {
    unsetenv("YW_ARGON2_FAST"); /* the production parameters: the test build's hash is weak */
    assert_true(yw_password_needs_rehash(hash));
    assert_false(yw_password_needs_rehash("$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"));
    setenv("YW_ARGON2_FAST", "1", 1);
  }
}

static void test_random_tokens_and_digits(void **state) {
  (void)state;
  char a[64], b[64];
  assert_int_equal(yw_random_token(32, a, sizeof a), 0);
  assert_int_equal(yw_random_token(32, b, sizeof b), 0);
  assert_int_equal(strlen(a), 43);
  assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
  assert_string_not_equal(a, b);
  assert_int_equal(yw_random_token(32, a, 10), YW_ETOOBIG);
  int seen[10] = {0};
  for (int i = 0; i < 200; i++) {
    char d[8];
    assert_int_equal(yw_random_digits(6, d, sizeof d), 0);
    assert_int_equal(strlen(d), 6);
    assert_int_equal(strspn(d, "0123456789"), 6);
    for (int k = 0; k < 6; k++) seen[d[k] - '0']++;
  }
  for (int k = 0; k < 10; k++) assert_true(seen[k] > 0); /* every digit appears in 1200 */
  char d[4];
  assert_int_equal(yw_random_digits(6, d, sizeof d), YW_ETOOBIG);
}

int main(void) {
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)i;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_id_card_check_digit_and_date),
      cmocka_unit_test(test_credit_code_and_phone),
      cmocka_unit_test(test_masking_keeps_only_the_ends),
      cmocka_unit_test(test_encryption_round_trip_and_tamper_detection),
      cmocka_unit_test(test_hmac_and_sha256_known_values),
      cmocka_unit_test(test_passwords_verify_only_the_right_one),
      cmocka_unit_test(test_random_tokens_and_digits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
