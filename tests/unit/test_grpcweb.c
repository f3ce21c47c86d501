/*
 * test_grpcweb.c - unframing unary gRPC / gRPC-Web / gRPC-Web-text bodies: one frame
 * exactly, no compression, and base64 that is strict (no stray "=", canonical padding
 * bits) yet takes several padded chunks one after another, as gRPC-Web clients send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_grpcweb.h"

static long dec(const char *s, uint8_t *out) {
  return gw_base64_decode_strict((const uint8_t *)s, strlen(s), out);
}

static void test_base64_decodes_canonical_text_and_refuses_the_rest(void **state) {
  (void)state;
  uint8_t out[64];
  assert_int_equal(dec("", out), 0);
  assert_int_equal(dec("TWFu", out), 3);
  assert_memory_equal(out, "Man", 3);
  assert_int_equal(dec("TWE=", out), 2);
  assert_memory_equal(out, "Ma", 2);
  assert_int_equal(dec("TQ==", out), 1);
  assert_memory_equal(out, "M", 1);
  /* regressions found by fuzzing: EVP_DecodeBlock took "=" anywhere as zero bits */
  assert_int_equal(dec("=AAA", out), -1);
  assert_int_equal(dec("A=AA", out), -1);
  assert_int_equal(dec("AA=A", out), -1);
  assert_int_equal(dec("AAA", out), -1);      /* not whole groups */
  assert_int_equal(dec("TQ== ", out), -1);    /* no whitespace */
  assert_int_equal(dec("TR==", out), -1);     /* padding bits must be zero */
  assert_int_equal(dec("TWF=", out), -1);
  assert_int_equal(dec("TW-u", out), -1);     /* the URL alphabet is not this one */
}

static void test_base64_chunks_each_padded_decode_one_after_another(void **state) {
  (void)state;
  uint8_t out[64];
  /* "M" + "Man": EVP_DecodeBlock made 6 bytes of this */
  assert_int_equal(dec("TQ==TWFu", out), 4);
  assert_memory_equal(out, "MMan", 4);
  assert_int_equal(dec("TQ==TQ==TWE=", out), 4);
  assert_memory_equal(out, "MMMa", 4);
}

static void test_unframe_takes_exactly_one_uncompressed_frame(void **state) {
  (void)state;
  yw_arena *a = yw_arena_new(0);
  const uint8_t *msg = NULL;
  size_t len = 0;
  const char *why = NULL;
  const uint8_t one[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
  assert_int_equal(gw_grpc_unframe(0, one, sizeof one, a, &msg, &len, &why), GRPC_STATUS_OK);
  assert_int_equal(len, 3);
  assert_memory_equal(msg, "abc", 3);
  const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 1, 'b'};
  assert_int_equal(gw_grpc_unframe(0, two, sizeof two, a, &msg, &len, &why),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(why, "a unary call carries exactly one message");
  const uint8_t short_frame[] = {0, 0, 0, 0, 9, 'a'};
  assert_int_equal(gw_grpc_unframe(0, short_frame, sizeof short_frame, a, &msg, &len, &why),
                   GRPC_STATUS_INVALID_ARGUMENT);
  const uint8_t compressed[] = {1, 0, 0, 0, 1, 'a'};
  assert_int_equal(gw_grpc_unframe(0, compressed, sizeof compressed, a, &msg, &len, &why),
                   GRPC_STATUS_UNIMPLEMENTED);
  assert_int_equal(gw_grpc_unframe(0, one, 4, a, &msg, &len, &why), GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(msg);
  /* the same frame as grpc-web-text: AAAAAANhYmM= is 00 00 00 00 03 'a' 'b' 'c' */
  const char *text = "AAAAAANhYmM=";
  assert_int_equal(gw_grpc_unframe(1, (const uint8_t *)text, strlen(text), a, &msg, &len, &why),
                   GRPC_STATUS_OK);
  assert_int_equal(len, 3);
  assert_memory_equal(msg, "abc", 3);
  const char *bad = "AAAAAANhYm=M";
  assert_int_equal(gw_grpc_unframe(1, (const uint8_t *)bad, strlen(bad), a, &msg, &len, &why),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(why, "grpc-web-text body is not base64");
  yw_arena_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64_decodes_canonical_text_and_refuses_the_rest),
      cmocka_unit_test(test_base64_chunks_each_padded_decode_one_after_another),
      cmocka_unit_test(test_unframe_takes_exactly_one_uncompressed_frame),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
