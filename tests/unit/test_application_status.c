/*
 * test_application_status.c - the status machine of an application
 * (services/applications/application_status.c), without I/O.
 *
 * Proves: exactly the allowed changes pass, every other pair of statuses is refused;
 * withdrawal is possible before a decision and never after; the stored names go both
 * ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "application_status.h"

#define S(x) YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__##x
#define FIRST S(SUBMITTED)
#define LAST S(WITHDRAWN)

/* The machine as the contract states it, pair by pair. */
static const struct {
  application_status from, to;
} expected[] = {
    {S(SUBMITTED), S(ACCEPTED)},      {S(SUBMITTED), S(REJECTED)},
    {S(ACCEPTED), S(IN_REVIEW)},      {S(IN_REVIEW), S(SUPPLEMENT_REQUESTED)},
    {S(IN_REVIEW), S(APPROVED)},      {S(IN_REVIEW), S(DISAPPROVED)},
    {S(SUPPLEMENT_REQUESTED), S(RESUBMITTED)}, {S(RESUBMITTED), S(IN_REVIEW)},
    {S(APPROVED), S(COMPLETED)},      {S(SUBMITTED), S(WITHDRAWN)},
    {S(ACCEPTED), S(WITHDRAWN)},      {S(IN_REVIEW), S(WITHDRAWN)},
    {S(SUPPLEMENT_REQUESTED), S(WITHDRAWN)}, {S(RESUBMITTED), S(WITHDRAWN)},
};

static int is_expected(application_status from, application_status to) {
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    if (expected[i].from == from && expected[i].to == to) return 1;
  return 0;
}

static void test_every_pair_is_allowed_exactly_as_the_contract_says(void **state) {
  (void)state;
  int allowed = 0;
  for (int f = 0; f <= LAST; f++)
    for (int t = 0; t <= LAST; t++) {
      int got = application_status_allowed((application_status)f, (application_status)t);
      assert_int_equal(got, is_expected((application_status)f, (application_status)t));
      allowed += got;
    }
  assert_int_equal(allowed, (int)(sizeof expected / sizeof expected[0]));
  assert_int_equal(application_transitions_count, sizeof expected / sizeof expected[0]);
}

static void test_withdrawal_only_before_a_decision(void **state) {
  (void)state;
  application_status before[] = {S(SUBMITTED), S(ACCEPTED), S(IN_REVIEW),
                                 S(SUPPLEMENT_REQUESTED), S(RESUBMITTED)};
  application_status after[] = {S(REJECTED), S(APPROVED), S(DISAPPROVED), S(COMPLETED),
                                S(WITHDRAWN)};
  for (size_t i = 0; i < 5; i++) {
    assert_true(application_status_allowed(before[i], S(WITHDRAWN)));
    assert_false(application_status_final(before[i]));
    assert_false(application_status_allowed(after[i], S(WITHDRAWN)));
    assert_true(application_status_final(after[i]));
  }
  /* nothing leaves a final status but an approval's completion */
  for (int t = FIRST; t <= LAST; t++) {
    assert_false(application_status_allowed(S(COMPLETED), (application_status)t));
    assert_false(application_status_allowed(S(DISAPPROVED), (application_status)t));
    assert_int_equal(application_status_allowed(S(APPROVED), (application_status)t),
                     t == S(COMPLETED));
  }
}

static void test_stored_names_go_both_ways(void **state) {
  (void)state;
  for (int s = FIRST; s <= LAST; s++) {
    const char *name = application_status_db((application_status)s);
    assert_non_null(name);
    assert_int_equal(application_status_from_db(name), s);
  }
  assert_string_equal(application_status_db(S(SUPPLEMENT_REQUESTED)), "supplement_requested");
  assert_null(application_status_db(S(APPLICATION_STATUS_UNSPECIFIED)));
  assert_null(application_status_db((application_status)99));
  assert_int_equal(application_status_from_db("IN_REVIEW"), S(APPLICATION_STATUS_UNSPECIFIED));
  assert_int_equal(application_status_from_db(NULL), S(APPLICATION_STATUS_UNSPECIFIED));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_pair_is_allowed_exactly_as_the_contract_says),
      cmocka_unit_test(test_withdrawal_only_before_a_decision),
      cmocka_unit_test(test_stored_names_go_both_ways),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
