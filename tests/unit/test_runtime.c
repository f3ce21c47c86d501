/*
 * test_runtime.c - the small parts of lib/: error mapping, the arena and its cap, the
 * configuration table (defaults, environment, file override, bounds), the slots that
 * bound heavy work.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yw_arena.h"
#include "yw_config.h"
#include "yw_err.h"
#include "yw_live.h"
#include "yw_log.h"
#include "yw_slots.h"

#include <jansson.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static void test_grpc_to_http_mapping_follows_design(void **state) {
  (void)state;
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_OK), 200);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_INVALID_ARGUMENT), 400);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_UNAUTHENTICATED), 401);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_PERMISSION_DENIED), 403);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_NOT_FOUND), 404);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_ALREADY_EXISTS), 409);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_ABORTED), 409);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_FAILED_PRECONDITION), 412);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_RESOURCE_EXHAUSTED), 429);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_UNAVAILABLE), 503);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_DEADLINE_EXCEEDED), 504);
  assert_int_equal(yw_grpc_to_http(GRPC_STATUS_INTERNAL), 500);
}

static void test_error_codes_map_to_grpc_and_names(void **state) {
  (void)state;
  assert_int_equal(yw_err_to_grpc(YW_EINVAL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(yw_err_to_grpc(YW_ENOTFOUND), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(yw_err_to_grpc(YW_EPRECOND), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(yw_err_to_grpc(YW_EUNAVAIL), GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(yw_err_to_grpc(-999), GRPC_STATUS_INTERNAL);
  assert_string_equal(yw_grpc_status_name(GRPC_STATUS_NOT_FOUND), "NOT_FOUND");
  assert_string_equal(yw_grpc_status_name((grpc_status_code)99), "UNKNOWN");
  assert_string_equal(yw_strerror(YW_ENOTFOUND), "not found");
}

static void test_arena_allocations_are_aligned_and_distinct(void **state) {
  (void)state;
  yw_arena *a = yw_arena_new(0);
  assert_non_null(a);
  char *p = yw_arena_alloc(a, 3);
  char *q = yw_arena_alloc(a, 5);
  assert_non_null(p);
  assert_non_null(q);
  assert_int_equal((uintptr_t)p % 16, 0);
  assert_int_equal((uintptr_t)q % 16, 0);
  assert_true(q >= p + 3);
  char *big = yw_arena_alloc(a, 100000);
  assert_non_null(big);
  memset(big, 1, 100000);
  char *s = yw_arena_strndup(a, "身份证换领", (size_t)-1);
  assert_string_equal(s, "身份证换领");
  yw_arena_free(a);
  yw_arena_free(NULL);
}

static void test_arena_refuses_past_its_cap(void **state) {
  (void)state;
  yw_arena *a = yw_arena_new(20000);
  assert_non_null(yw_arena_alloc(a, 1000));
  assert_null(yw_arena_alloc(a, 50000));
  assert_null(yw_arena_calloc(a, SIZE_MAX / 2, 4)); /* overflow */
  assert_true(yw_arena_used(a) <= 20000);
  yw_arena_free(a);
}

static char *s_value;
static long i_value;
static int b_value;
static const yw_cfg_entry table[] = {
    {"YW_TEST_STR", YW_CFG_STR, "dflt", 0, 0, "a string", &s_value},
    {"YW_TEST_INT", YW_CFG_INT, "5", 1, 10, "an int", &i_value},
    {"YW_TEST_BOOL", YW_CFG_BOOL, "false", 0, 0, "a flag", &b_value},
};

static void test_config_defaults_then_environment_then_file(void **state) {
  (void)state;
  char err[256];
  unsetenv("YW_TEST_STR");
  unsetenv("YW_TEST_INT");
  unsetenv("YW_TEST_BOOL");
  unsetenv("YW_CONFIG_FILE");
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), 0);
  assert_string_equal(s_value, "dflt");
  assert_int_equal(i_value, 5);
  assert_int_equal(b_value, 0);
  setenv("YW_TEST_INT", "7", 1);
  setenv("YW_TEST_BOOL", "true", 1);
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), 0);
  assert_int_equal(i_value, 7);
  assert_int_equal(b_value, 1);
  char path[] = "/tmp/yw_cfg_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("# override\nYW_TEST_INT=9\nYW_TEST_STR=from file\n", f);
  fclose(f);
  setenv("YW_CONFIG_FILE", path, 1);
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), 0);
  assert_int_equal(i_value, 9);
  assert_string_equal(s_value, "from file");
  unsetenv("YW_CONFIG_FILE");
  remove(path);
}

static void test_config_refuses_out_of_bounds_and_unknown_names(void **state) {
  (void)state;
  char err[256];
  unsetenv("YW_CONFIG_FILE");
  setenv("YW_TEST_INT", "11", 1);
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "YW_TEST_INT"));
  setenv("YW_TEST_INT", "3x", 1);
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), YW_EINVAL);
  setenv("YW_TEST_INT", "3", 1);
  setenv("YW_TEST_BOOL", "maybe", 1);
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), YW_EINVAL);
  setenv("YW_TEST_BOOL", "0", 1);
  char path[] = "/tmp/yw_cfg_XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs("YW_NOT_A_SETTING=1\n", f);
  fclose(f);
  setenv("YW_CONFIG_FILE", path, 1);
  assert_int_equal(yw_config_load(table, 3, err, sizeof err), YW_EINVAL);
  assert_non_null(strstr(err, "unknown setting"));
  unsetenv("YW_CONFIG_FILE");
  remove(path);
}

static void test_slots_refuse_past_their_count_within_the_wait(void **state) {
  (void)state;
  yw_slots *s = yw_slots_new(2, 1);
  assert_non_null(s);
  assert_int_equal(yw_slots_acquire(s, 0), 0);
  assert_int_equal(yw_slots_acquire(s, 0), 0);
  assert_int_equal(yw_slots_acquire(s, 0), YW_ELIMIT);  /* both taken: refused at once */
  assert_int_equal(yw_slots_acquire(s, 20), YW_ELIMIT); /* and after a bounded wait */
  yw_slots_release(s);
  assert_int_equal(yw_slots_acquire(s, 0), 0); /* a returned slot is taken again */
  yw_slots_release(s);
  yw_slots_release(s);
  yw_slots_free(s);
  yw_slots_free(NULL);
}

struct waiter {
  yw_slots *s;
  int rc;
};

static void *wait_long(void *arg) {
  struct waiter *w = arg;
  w->rc = yw_slots_acquire(w->s, 20000);
  return NULL;
}

static void test_slots_refuse_at_once_past_their_waiters(void **state) {
  (void)state;
  yw_slots *s = yw_slots_new(1, 1);
  assert_int_equal(yw_slots_acquire(s, 0), 0); /* the one slot is taken */
  struct waiter w = {s, -1};
  pthread_t t;
  pthread_create(&t, NULL, wait_long, &w); /* the one waiter */
  for (int i = 0; i < 4000 && yw_slots_waiting(s) < 1; i++) usleep(5000);
  assert_int_equal(yw_slots_waiting(s), 1);
  /* with one waiting, a caller is refused without waiting, whatever its bound */
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(yw_slots_acquire(s, 20000), YW_ELIMIT);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_true(b.tv_sec - a.tv_sec < 10); /* not the 20 s it asked for */
  yw_slots_release(s); /* the waiter gets the slot */
  pthread_join(t, NULL);
  assert_int_equal(w.rc, 0);
  yw_slots_release(s);
  yw_slots_free(s);
}

/* Runs fn with stderr going into a pipe and returns what it wrote (static buffer). */
static const char *capture_stderr(void (*fn)(void)) {
  static char out[8192];
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fds[1]);
  ssize_t n = read(fds[0], out, sizeof out - 1);
  close(fds[0]);
  out[n > 0 ? n : 0] = '\0';
  return out;
}

static void write_fields(void) {
  yw_log_field f[] = {
      {.key = "text", .type = YW_LOG_STR, .s = "a\"b\\c\n\x01 居民身份证"},
      {.key = "n", .type = YW_LOG_INT, .i = -42},
      {.key = "whole", .type = YW_LOG_REAL, .d = 12},
      {.key = "ms", .type = YW_LOG_REAL, .d = 0.123456789},
      {.key = "bad", .type = YW_LOG_STR, .s = "\xff\xfe"},
      {.key = "absent", .type = YW_LOG_STR, .s = NULL},
      {.key = "path", .type = YW_LOG_STR, .s = "/v1/items?q=secret", .len = 9},
  };
  yw_log_fields(YW_LOG_INFO, "test.fields", f, sizeof f / sizeof f[0]);
}

static void test_log_fields_write_one_valid_json_line(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_INFO);
  const char *line = capture_stderr(write_fields);
  const char *nl = strchr(line, '\n');
  assert_non_null(nl);
  assert_int_equal(nl[1], '\0'); /* exactly one line */
  json_error_t e;
  json_t *o = json_loads(line, 0, &e);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "event")), "test.fields");
  assert_string_equal(json_string_value(json_object_get(o, "proc")), "test");
  assert_string_equal(json_string_value(json_object_get(o, "text")), "a\"b\\c\n\x01 居民身份证");
  assert_int_equal(json_integer_value(json_object_get(o, "n")), -42);
  assert_true(json_is_real(json_object_get(o, "whole"))); /* 12.0, not 12 */
  assert_true(json_real_value(json_object_get(o, "ms")) > 0.12345 &&
              json_real_value(json_object_get(o, "ms")) < 0.12346);
  assert_string_equal(json_string_value(json_object_get(o, "bad")), "(not UTF-8)");
  assert_null(json_object_get(o, "absent"));
  assert_string_equal(json_string_value(json_object_get(o, "path")), "/v1/items");
  json_decref(o);
}

/* The owners a consumer's poll touched: each kept once, and past the table (or a name
 * too long to keep) every stream is woken instead. */
static void test_live_touched_keeps_each_owner_once(void **state) {
  (void)state;
  yw_live_touched t = {0};
  yw_live_touched_add(&t, "u-1");
  yw_live_touched_add(&t, "u-2");
  yw_live_touched_add(&t, "u-1");
  assert_int_equal(t.n, 2);
  assert_false(t.all);
  assert_string_equal(t.owners[0], "u-1");
  assert_string_equal(t.owners[1], "u-2");
  char name[16];
  for (int i = 2; i < YW_LIVE_TOUCHED_MAX; i++) {
    snprintf(name, sizeof name, "u-%d", i + 1);
    yw_live_touched_add(&t, name);
  }
  assert_int_equal(t.n, YW_LIVE_TOUCHED_MAX);
  assert_false(t.all);
  yw_live_touched_add(&t, "u-1"); /* already there: no overflow */
  assert_false(t.all);
  yw_live_touched_add(&t, "one-too-many");
  assert_true(t.all);
  yw_live_touched u = {0};
  char longname[YW_LIVE_OWNER_MAX + 2];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  yw_live_touched_add(&u, longname);
  assert_true(u.all);
  assert_int_equal(u.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_fields_write_one_valid_json_line),
      cmocka_unit_test(test_live_touched_keeps_each_owner_once),
      cmocka_unit_test(test_slots_refuse_past_their_count_within_the_wait),
      cmocka_unit_test(test_slots_refuse_at_once_past_their_waiters),
      cmocka_unit_test(test_grpc_to_http_mapping_follows_design),
      cmocka_unit_test(test_error_codes_map_to_grpc_and_names),
      cmocka_unit_test(test_arena_allocations_are_aligned_and_distinct),
      cmocka_unit_test(test_arena_refuses_past_its_cap),
      cmocka_unit_test(test_config_defaults_then_environment_then_file),
      cmocka_unit_test(test_config_refuses_out_of_bounds_and_unknown_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
