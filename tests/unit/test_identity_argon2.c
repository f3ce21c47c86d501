/*
 * test_identity_argon2.c - the password hashing of a production build. This test
 * compiles lib/yw_crypto.c itself, without YW_TEST_HASHING (the CMake option that only
 * the tests' build sets), as the build that ./dev up runs is compiled: there,
 * YW_ARGON2_FAST in the environment must not weaken argon2id (64 MiB, t=3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yw_crypto.h"

static void test_production_build_ignores_argon2_fast(void **state) {
  (void)state;
  setenv("YW_ARGON2_FAST", "1", 1);
  char hash[128];
  assert_int_equal(yw_password_hash("correct horse battery", hash, sizeof hash), 0);
  assert_non_null(strstr(hash, "$m=65536,t=3,p=1$"));
  assert_true(yw_password_verify(hash, "correct horse battery"));
  assert_false(yw_password_fast_allowed());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_production_build_ignores_argon2_fast),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
