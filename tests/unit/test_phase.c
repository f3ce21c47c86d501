/*
 * test_phase.c - the gateway's phase engine (gateway/gw_phase.c) over a table of fake
 * phases: the order phases run in, a phase that finishes early skipping the rest but
 * the request still finishing (logged) once, suspension and resumption, a resume that
 * arrives before its phase has returned, and resumes that must be ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_phase.h"

/* The engine sees a request only as a pointer: the test's own request records what
 * happened to it. */
struct gw_req {
  char trace[64];     /* one letter per phase run, then 'F' for the finish */
  size_t n;
  int finished;
  enum gw_phase_result want[8]; /* what each phase answers */
  int resume_inside;  /* phase 1 resumes itself (GW_NEXT) before returning GW_SUSPEND */
};

static const gw_pipeline *current;
static gw_phase_state *current_state;

static void note(struct gw_req *r, char c) {
  if (r->n + 1 < sizeof r->trace) r->trace[r->n++] = c;
  r->trace[r->n] = '\0';
}

static enum gw_phase_result ph(struct gw_req *r, int i) {
  note(r, (char)('a' + i));
  if (i == 1 && r->resume_inside) gw_phase_resume(current, current_state, r, GW_NEXT);
  return r->want[i];
}
static enum gw_phase_result ph0(struct gw_req *r) { return ph(r, 0); }
static enum gw_phase_result ph1(struct gw_req *r) { return ph(r, 1); }
static enum gw_phase_result ph2(struct gw_req *r) { return ph(r, 2); }
static enum gw_phase_result ph3(struct gw_req *r) { return ph(r, 3); }

static void on_finish(struct gw_req *r) {
  r->finished++;
  note(r, 'F');
}

static const gw_phase phases[] = {{"a", ph0}, {"b", ph1}, {"c", ph2}, {"d", ph3}};
static const gw_pipeline pipeline = {phases, 4, on_finish};

static void start(struct gw_req *r, gw_phase_state *st) {
  memset(st, 0, sizeof *st);
  current = &pipeline;
  current_state = st;
  gw_phase_start(&pipeline, st, r);
}

static void test_every_phase_runs_in_order_then_finish(void **state) {
  (void)state;
  struct gw_req r = {0};
  gw_phase_state st;
  start(&r, &st);
  assert_string_equal(r.trace, "abcdF");
  assert_int_equal(r.finished, 1);
  assert_string_equal(gw_phase_name(&pipeline, &st), "finished");
}

static void test_a_phase_that_answers_skips_the_rest_but_is_still_logged(void **state) {
  (void)state;
  struct gw_req r = {.want = {GW_NEXT, GW_DONE, GW_NEXT, GW_NEXT}};
  gw_phase_state st;
  start(&r, &st);
  assert_string_equal(r.trace, "abF");
  assert_int_equal(r.finished, 1);
  gw_phase_start(&pipeline, &st, &r); /* a second start is ignored */
  assert_string_equal(r.trace, "abF");
}

static void test_suspend_waits_and_resume_next_goes_on_after_the_phase(void **state) {
  (void)state;
  struct gw_req r = {.want = {GW_NEXT, GW_SUSPEND, GW_NEXT, GW_NEXT}};
  gw_phase_state st;
  start(&r, &st);
  assert_string_equal(r.trace, "ab");
  assert_int_equal(r.finished, 0);
  assert_string_equal(gw_phase_name(&pipeline, &st), "b");
  gw_phase_resume(&pipeline, &st, &r, GW_NEXT);
  assert_string_equal(r.trace, "abcdF"); /* b is not run again */
  assert_int_equal(r.finished, 1);
}

static void test_resume_done_finishes_without_the_later_phases(void **state) {
  (void)state;
  struct gw_req r = {.want = {GW_NEXT, GW_NEXT, GW_SUSPEND, GW_NEXT}};
  gw_phase_state st;
  start(&r, &st);
  assert_string_equal(r.trace, "abc");
  gw_phase_resume(&pipeline, &st, &r, GW_DONE);
  assert_string_equal(r.trace, "abcF");
  gw_phase_resume(&pipeline, &st, &r, GW_NEXT); /* a late second answer changes nothing */
  assert_string_equal(r.trace, "abcF");
  assert_int_equal(r.finished, 1);
}

static void test_two_suspensions_in_one_request(void **state) {
  (void)state;
  struct gw_req r = {.want = {GW_SUSPEND, GW_NEXT, GW_SUSPEND, GW_NEXT}};
  gw_phase_state st;
  start(&r, &st);
  assert_string_equal(r.trace, "a");
  gw_phase_resume(&pipeline, &st, &r, GW_SUSPEND); /* still waiting */
  assert_string_equal(r.trace, "a");
  gw_phase_resume(&pipeline, &st, &r, GW_NEXT);
  assert_string_equal(r.trace, "abc");
  gw_phase_resume(&pipeline, &st, &r, GW_NEXT);
  assert_string_equal(r.trace, "abcdF");
}

static void test_resume_before_the_phase_returns_is_taken_when_it_does(void **state) {
  (void)state;
  struct gw_req r = {.want = {GW_NEXT, GW_SUSPEND, GW_NEXT, GW_NEXT}, .resume_inside = 1};
  gw_phase_state st;
  start(&r, &st);
  /* no nesting: c runs after b has returned, not inside it */
  assert_string_equal(r.trace, "abcdF");
  assert_int_equal(r.finished, 1);
}

static void test_resume_of_a_request_not_suspended_is_ignored(void **state) {
  (void)state;
  struct gw_req r = {.want = {GW_NEXT, GW_NEXT, GW_DONE, GW_NEXT}};
  gw_phase_state st;
  memset(&st, 0, sizeof st);
  gw_phase_resume(&pipeline, &st, &r, GW_NEXT); /* not started */
  assert_string_equal(r.trace, "");
  start(&r, &st);
  assert_string_equal(r.trace, "abcF");
  gw_phase_resume(&pipeline, &st, &r, GW_DONE);
  assert_int_equal(r.finished, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_phase_runs_in_order_then_finish),
      cmocka_unit_test(test_a_phase_that_answers_skips_the_rest_but_is_still_logged),
      cmocka_unit_test(test_suspend_waits_and_resume_next_goes_on_after_the_phase),
      cmocka_unit_test(test_resume_done_finishes_without_the_later_phases),
      cmocka_unit_test(test_two_suspensions_in_one_request),
      cmocka_unit_test(test_resume_before_the_phase_returns_is_taken_when_it_does),
      cmocka_unit_test(test_resume_of_a_request_not_suspended_is_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
