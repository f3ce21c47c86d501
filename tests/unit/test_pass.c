/*
 * test_pass.c - the periodic pass's thread (lib/yw_pass.c): the first pass runs at once,
 * a pass that says more is waiting is followed at once by the next, and a stop wakes the
 * wait (it does not wait out the interval).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "yw_pass.h"

static long long mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* more_left: passes still to answer "more waiting"; runs: passes so far */
static atomic_int more_left, runs;

static int pass(void *arg) {
  (void)arg;
  atomic_fetch_add(&runs, 1);
  return atomic_fetch_sub(&more_left, 1) > 0 ? 1 : 0;
}

static void wait_for_runs(int n) {
  for (int i = 0; i < 2000 && atomic_load(&runs) < n; i++) usleep(5000);
}

static void test_runs_at_once_again_while_more_and_stop_wakes_the_wait(void **state) {
  (void)state;
  atomic_store(&runs, 0);
  atomic_store(&more_left, 4);
  yw_pass *t = NULL;
  long long t0 = mono_ms();
  /* an hour between passes: every pass seen here ran without waiting for it */
  assert_int_equal(yw_pass_start(3600 * 1000, pass, NULL, &t), 0);
  wait_for_runs(5);
  /* the first pass, then one after each of the four that said "more" */
  assert_int_equal(atomic_load(&runs), 5);
  yw_pass_stop(t); /* would take an hour if it waited the interval out */
  assert_true(mono_ms() - t0 < 600000);
  assert_int_equal(atomic_load(&runs), 5);
  yw_pass_stop(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runs_at_once_again_while_more_and_stop_wakes_the_wait),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
