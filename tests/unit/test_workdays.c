/*
 * test_workdays.c - the working-day calendar (lib/yw_workdays.c): dates to and from
 * "YYYY-MM-DD" over the whole span 2000-2100, weekends, statutory holidays on weekdays,
 * make-up Saturdays, a due date across the Spring Festival week, pauses (starting and
 * ending on rest days, empty, overlapping), n = 0, the CSV form staff upload and every
 * kind of line it refuses, and the bounds (years, entries, n, pauses).
 *
 * The calendar used here is fictitious (FICTITIOUS_2030 below and
 * tests/data/workdays_sample.csv, the same entries): 2030 has no notice yet, and its
 * dates are made up for the cases above. Expected dates were counted by hand on a wall
 * calendar of 2026 and 2030 and checked with an independent count in Python's datetime.
 */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_workdays.h"

/* A made-up calendar of 2030, not a State Council notice. Spring Festival: a holiday from
 * Saturday 2030-02-02 to Sunday 2030-02-10 (five weekdays off), with make-up working
 * Saturdays 2030-01-26 and 2030-02-16; New Year's Day on Tuesday 2030-01-01 and Labour
 * Day on Wednesday 2030-05-01 are holidays on weekdays. */
static const char FICTITIOUS_2030[] =
    "2030-01-01,holiday,元旦\n"
    "2030-01-26,workday,春节调休上班\n"
    "2030-02-02,holiday,春节\n"
    "2030-02-03,holiday,春节\n"
    "2030-02-04,holiday,春节\n"
    "2030-02-05,holiday,春节\n"
    "2030-02-06,holiday,春节\n"
    "2030-02-07,holiday,春节\n"
    "2030-02-08,holiday,春节\n"
    "2030-02-09,holiday,春节\n"
    "2030-02-10,holiday,春节\n"
    "2030-02-16,workday,春节调休上班\n"
    "2030-05-01,holiday,劳动节\n";

static yw_day D(const char *s) {
  yw_day d;
  assert_int_equal(yw_day_parse(s, strlen(s), &d), 0);
  return d;
}

/* The day as text, in one of a few rotating buffers (several may be in one assert). */
static const char *S(yw_day d) {
  static char buf[4][YW_DAY_STRLEN];
  static int next;
  char *b = buf[next++ % 4];
  assert_int_equal(yw_day_format(d, b, YW_DAY_STRLEN), 0);
  return b;
}

static struct yw_workdays *calendar_2030(void) {
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  int line = -1;
  const char *reason = "unset";
  assert_int_equal(
      yw_workdays_parse_csv(cal, FICTITIOUS_2030, strlen(FICTITIOUS_2030), &line, &reason), 0);
  assert_int_equal(line, 0);
  assert_null(reason);
  assert_int_equal(yw_workdays_count(cal), 13);
  return cal;
}

static const char *due(const struct yw_workdays *cal, const char *start, int n,
                       const struct yw_workdays_pause *pauses, size_t n_pauses) {
  yw_day d = 0;
  assert_int_equal(yw_workdays_add(cal, D(start), n, pauses, n_pauses, &d), 0);
  return S(d);
}

static int between(const struct yw_workdays *cal, const char *from, const char *to,
                   const struct yw_workdays_pause *pauses, size_t n_pauses) {
  int n = -99999;
  assert_int_equal(yw_workdays_between(cal, D(from), D(to), pauses, n_pauses, &n), 0);
  return n;
}

static void test_dates_convert_both_ways_over_the_whole_span(void **state) {
  (void)state;
  assert_int_equal(D("2000-01-01"), 10957);
  assert_int_equal(D("2100-12-31"), 47846);
  assert_int_equal(D("2026-11-30"), 20787);
  /* every day of the span: format then parse gives it back, and the dates follow one
   * another (a month or a year ends only on its last day) */
  int py = 1999, pm = 12, pd = 31;
  for (yw_day d = 10957; d <= 47846; d++) {
    char text[YW_DAY_STRLEN];
    assert_int_equal(yw_day_format(d, text, sizeof text), 0);
    yw_day back = -1;
    assert_int_equal(yw_day_parse(text, 10, &back), 0);
    assert_int_equal(back, d);
    int y, m, dd;
    assert_int_equal(yw_day_to_ymd(d, &y, &m, &dd), 0);
    if (dd != pd + 1) {
      assert_int_equal(dd, 1);
      assert_true((m == pm + 1 && y == py) || (m == 1 && pm == 12 && y == py + 1));
      int last = pd;
      if (pm == 2)
        assert_int_equal(last, (py % 4 == 0 && (py % 100 != 0 || py % 400 == 0)) ? 29 : 28);
      else if (pm == 4 || pm == 6 || pm == 9 || pm == 11)
        assert_int_equal(last, 30);
      else
        assert_int_equal(last, 31);
    } else {
      assert_int_equal(m, pm);
      assert_int_equal(y, py);
    }
    py = y, pm = m, pd = dd;
  }
  assert_int_equal(py, 2100);
  assert_int_equal(pm, 12);
  assert_int_equal(pd, 31);
  /* leap years: 2000 (divisible by 400) and 2024 are, 2023 and 2100 are not */
  yw_day d;
  assert_int_equal(yw_day_parse("2000-02-29", 10, &d), 0);
  assert_int_equal(yw_day_parse("2024-02-29", 10, &d), 0);
  assert_string_equal(S(d + 1), "2024-03-01");
  assert_int_equal(yw_day_parse("2023-02-29", 10, &d), YW_EINVAL);
  assert_int_equal(yw_day_parse("2100-02-29", 10, &d), YW_EINVAL);
  /* weekdays: 2000-01-01 was a Saturday, 2026-11-30 is a Monday, 2100-12-31 a Friday */
  assert_int_equal(yw_day_weekday(D("2000-01-01")), 6);
  assert_int_equal(yw_day_weekday(D("2026-11-30")), 1);
  assert_int_equal(yw_day_weekday(D("2100-12-31")), 5);
}

static void test_dates_outside_the_span_or_malformed_are_refused(void **state) {
  (void)state;
  yw_day d = 12345;
  const char *bad[] = {
      "1999-12-31", "2101-01-01", "1970-01-01",           "2030-1-01",   "2030-01-1",
      "2030/01/01", "2030-13-01", "2030-00-10",           "2030-04-31",  "2030-01-00",
      "20300101",   "+030-01-01", "2030-01-01T00:00:00Z", " 2030-01-01", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(yw_day_parse(bad[i], strlen(bad[i]), &d), YW_EINVAL);
  assert_int_equal(d, 12345); /* untouched */
  assert_int_equal(yw_day_parse(NULL, 10, &d), YW_EINVAL);
  assert_int_equal(yw_day_from_ymd(1999, 12, 31, &d), YW_EINVAL);
  assert_int_equal(yw_day_from_ymd(2101, 1, 1, &d), YW_EINVAL);
  assert_int_equal(yw_day_from_ymd(2030, 2, 29, &d), YW_EINVAL);
  assert_int_equal(yw_day_from_ymd(2030, 2, 28, &d), 0);
  assert_string_equal(S(d), "2030-02-28");
  char out[YW_DAY_STRLEN] = "x";
  assert_int_equal(yw_day_format(10956, out, sizeof out), YW_EINVAL);
  assert_string_equal(out, "");
  assert_int_equal(yw_day_format(47847, out, sizeof out), YW_EINVAL);
  assert_int_equal(yw_day_format(D("2030-01-01"), out, 10), YW_EINVAL); /* no room for NUL */
  assert_int_equal(yw_day_to_ymd(47847, NULL, NULL, NULL), YW_EINVAL);
  assert_int_equal(yw_day_weekday(10956), YW_EINVAL);
}

static void test_instants_give_the_day_in_shanghai(void **state) {
  (void)state;
  yw_day d;
  /* 2026-11-29T16:00:00Z is midnight of 2026-11-30 in Asia/Shanghai (UTC+8) */
  assert_int_equal(yw_day_from_time((time_t)1795968000, &d), 0);
  assert_string_equal(S(d), "2026-11-30");
  assert_int_equal(yw_day_from_time((time_t)1795967999, &d), 0);
  assert_string_equal(S(d), "2026-11-29");
  /* 1999-12-31T16:00:00Z is the first instant of the span, 2100-12-31T15:59:59Z its last */
  assert_int_equal(yw_day_from_time((time_t)946656000, &d), 0);
  assert_string_equal(S(d), "2000-01-01");
  assert_int_equal(yw_day_from_time((time_t)946655999, &d), YW_EINVAL);
  assert_int_equal(yw_day_from_time((time_t)4133951999LL, &d), 0);
  assert_string_equal(S(d), "2100-12-31");
  assert_int_equal(yw_day_from_time((time_t)4133952000LL, &d), YW_EINVAL);
  assert_int_equal(yw_day_from_time((time_t)-1, &d), YW_EINVAL);
}

static void test_weekends_only_without_entries(void **state) {
  (void)state;
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  assert_int_equal(yw_workdays_covers(cal, 2026), 0);
  assert_int_equal(yw_workdays_is_workday(cal, D("2026-11-27")), 1); /* Friday */
  assert_int_equal(yw_workdays_is_workday(cal, D("2026-11-28")), 0); /* Saturday */
  assert_int_equal(yw_workdays_is_workday(cal, D("2026-11-29")), 0); /* Sunday */
  /* accepted on a Friday: one working day is the Monday after */
  assert_string_equal(due(cal, "2026-11-27", 1, NULL, 0), "2026-11-30");
  /* accepted on a Saturday: the same Monday */
  assert_string_equal(due(cal, "2026-11-28", 1, NULL, 0), "2026-11-30");
  assert_string_equal(due(cal, "2026-11-30", 5, NULL, 0), "2026-12-07");
  assert_int_equal(between(cal, "2026-11-30", "2026-12-07", NULL, 0), 5);
  /* 2030 without its notice: the Spring Festival week counts as working days */
  assert_string_equal(due(cal, "2030-01-24", 10, NULL, 0), "2030-02-07");
  yw_workdays_free(cal);
  yw_workdays_free(NULL);
}

static void test_a_holiday_on_a_weekday_is_a_rest_day(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  assert_int_equal(yw_workdays_is_workday(cal, D("2030-05-01")), 0); /* a Wednesday */
  assert_int_equal(yw_workdays_is_workday(cal, D("2030-04-30")), 1);
  assert_string_equal(due(cal, "2030-04-30", 1, NULL, 0), "2030-05-02");
  assert_string_equal(due(cal, "2029-12-31", 1, NULL, 0), "2030-01-02");
  assert_int_equal(between(cal, "2030-04-30", "2030-05-02", NULL, 0), 1);
  yw_workdays_free(cal);
}

static void test_a_make_up_saturday_is_a_working_day(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  assert_int_equal(yw_workdays_is_workday(cal, D("2030-01-26")), 1); /* Saturday, make-up */
  assert_int_equal(yw_workdays_is_workday(cal, D("2030-01-27")), 0); /* its Sunday */
  assert_string_equal(due(cal, "2030-01-25", 1, NULL, 0), "2030-01-26");
  assert_string_equal(due(cal, "2030-01-25", 2, NULL, 0), "2030-01-28");
  /* accepted on the make-up Saturday itself: it does not count */
  assert_string_equal(due(cal, "2030-01-26", 1, NULL, 0), "2030-01-28");
  yw_workdays_free(cal);
}

static void test_a_due_date_spans_the_spring_festival_week(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  assert_int_equal(yw_workdays_covers(cal, 2030), 1);
  assert_int_equal(yw_workdays_covers(cal, 2031), 0);
  assert_int_equal(yw_workdays_covers(cal, 2029), 0);
  /* Thursday before the festival: Friday 02-01, then nothing until Monday 02-11 */
  assert_string_equal(due(cal, "2030-01-31", 3, NULL, 0), "2030-02-12");
  /* ten working days from Thursday 01-24: 01-25, the make-up 01-26, 01-28 .. 02-01,
   * 02-11, 02-12, 02-13 */
  assert_string_equal(due(cal, "2030-01-24", 10, NULL, 0), "2030-02-13");
  assert_int_equal(between(cal, "2030-01-24", "2030-02-13", NULL, 0), 10);
  /* accepted during the festival: counting starts after it */
  assert_string_equal(due(cal, "2030-02-05", 1, NULL, 0), "2030-02-11");
  /* a whole year: 261 weekdays, 7 of them holidays, 2 make-up Saturdays */
  assert_int_equal(between(cal, "2029-12-31", "2030-12-31", NULL, 0), 256);
  /* every day of 2030 agrees with is_workday */
  int count = 0;
  for (yw_day d = D("2030-01-01"); d <= D("2030-12-31"); d++)
    count += yw_workdays_is_workday(cal, d);
  assert_int_equal(count, 256);
  yw_workdays_free(cal);
}

static void test_pauses_stop_the_clock(void **state) {
  (void)state;
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  /* from Saturday 12-05 up to Sunday 12-13 (not included): the five working days of the
   * week between do not count */
  struct yw_workdays_pause rest_to_rest = {D("2026-12-05"), D("2026-12-13")};
  assert_string_equal(due(cal, "2026-11-30", 5, &rest_to_rest, 1), "2026-12-14");
  assert_int_equal(between(cal, "2026-11-30", "2026-12-14", &rest_to_rest, 1), 5);
  /* a pause wholly on a weekend changes nothing */
  struct yw_workdays_pause weekend = {D("2026-12-05"), D("2026-12-07")};
  assert_string_equal(due(cal, "2026-11-30", 5, &weekend, 1), "2026-12-07");
  /* an empty pause changes nothing */
  struct yw_workdays_pause empty = {D("2026-12-02"), D("2026-12-02")};
  assert_string_equal(due(cal, "2026-11-30", 5, &empty, 1), "2026-12-07");
  /* overlapping pauses stop the clock once: 12-01 .. 12-03 */
  struct yw_workdays_pause overlap[] = {{D("2026-12-01"), D("2026-12-03")},
                                        {D("2026-12-02"), D("2026-12-04")}};
  assert_string_equal(due(cal, "2026-11-30", 5, overlap, 2), "2026-12-10");
  struct yw_workdays_pause one = {D("2026-12-01"), D("2026-12-04")};
  assert_string_equal(due(cal, "2026-11-30", 5, &one, 1), "2026-12-10");
  /* a pause inside another, listed first */
  struct yw_workdays_pause nested[] = {{D("2026-12-02"), D("2026-12-03")},
                                       {D("2026-12-01"), D("2026-12-04")}};
  assert_string_equal(due(cal, "2026-11-30", 5, nested, 2), "2026-12-10");
  assert_int_equal(between(cal, "2026-11-30", "2026-12-10", nested, 2), 5);
  /* touching pauses in any order are one pause: 12-01 .. 12-03 */
  struct yw_workdays_pause touching[] = {{D("2026-12-03"), D("2026-12-04")},
                                         {D("2026-12-01"), D("2026-12-02")},
                                         {D("2026-12-02"), D("2026-12-03")}};
  assert_string_equal(due(cal, "2026-11-30", 5, touching, 3), "2026-12-10");
  /* pauses before the start or after the due date change nothing */
  struct yw_workdays_pause outside[] = {{D("2026-11-02"), D("2026-11-30")},
                                        {D("2026-12-08"), D("2027-01-08")}};
  assert_string_equal(due(cal, "2026-11-30", 5, outside, 2), "2026-12-07");
  yw_workdays_free(cal);
}

static void test_a_supplement_across_the_spring_festival(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  /* ten working days from 01-24; a supplement requested on 01-28 and received on
   * 02-11 is the pause {01-29, 02-12}: 01-25, 01-26 and 01-28 count, then 02-12 ..
   * 02-15, the make-up 02-16, 02-18 and 02-19 */
  struct yw_workdays_pause supplement = {D("2030-01-29"), D("2030-02-12")};
  assert_string_equal(due(cal, "2030-01-24", 10, &supplement, 1), "2030-02-19");
  assert_int_equal(between(cal, "2030-01-24", "2030-02-19", &supplement, 1), 10);
  yw_workdays_free(cal);
}

/* The same counts by the plainest means: one day at a time, each pause looked at. */
static int plain_count(const struct yw_workdays *cal, yw_day from, yw_day to,
                       const struct yw_workdays_pause *p, size_t np) {
  int count = 0;
  for (yw_day d = from + 1; d <= to; d++) {
    int paused = 0;
    for (size_t i = 0; i < np; i++) paused |= p[i].from <= d && d < p[i].to;
    if (!paused && yw_workdays_is_workday(cal, d) == 1) count++;
  }
  return count;
}

static void test_add_and_between_agree_with_a_day_by_day_count(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  /* a fixed sequence of starts, limits and up to five pauses around the festival */
  uint32_t seed = 20301;
  for (int round = 0; round < 3000; round++) {
    seed = seed * 1103515245u + 12345u;
    yw_day start = D("2029-12-01") + (yw_day)(seed >> 8) % 120;
    seed = seed * 1103515245u + 12345u;
    int n = (int)((seed >> 8) % 40);
    struct yw_workdays_pause p[5];
    seed = seed * 1103515245u + 12345u;
    size_t np = (seed >> 8) % 6;
    for (size_t i = 0; i < np; i++) {
      seed = seed * 1103515245u + 12345u;
      p[i].from = D("2029-12-01") + (yw_day)(seed >> 8) % 150;
      seed = seed * 1103515245u + 12345u;
      p[i].to = p[i].from + (yw_day)(seed >> 8) % 12;
    }
    yw_day d;
    assert_int_equal(yw_workdays_add(cal, start, n, p, np, &d), 0);
    /* due is the n-th counted day: n counted up to it, and it counts itself (n > 0) */
    assert_int_equal(plain_count(cal, start, d, p, np), n);
    if (n > 0) assert_int_equal(plain_count(cal, start, d - 1, p, np), n - 1);
    if (n == 0) assert_int_equal(d, start);
    int between_n;
    yw_day to = start + (yw_day)(seed >> 4) % 90;
    assert_int_equal(yw_workdays_between(cal, start, to, p, np, &between_n), 0);
    assert_int_equal(between_n, plain_count(cal, start, to, p, np));
    assert_int_equal(yw_workdays_between(cal, to, start, p, np, &between_n), 0);
    assert_int_equal(between_n, to == start ? 0 : -plain_count(cal, start, to, p, np));
  }
  yw_workdays_free(cal);
}

static void test_zero_working_days_is_the_start(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  assert_string_equal(due(cal, "2030-03-05", 0, NULL, 0), "2030-03-05");
  /* also on a rest day, and under a pause */
  assert_string_equal(due(cal, "2030-02-03", 0, NULL, 0), "2030-02-03");
  struct yw_workdays_pause p = {D("2030-02-01"), D("2030-03-01")};
  assert_string_equal(due(cal, "2030-02-03", 0, &p, 1), "2030-02-03");
  assert_int_equal(between(cal, "2030-03-05", "2030-03-05", NULL, 0), 0);
  yw_workdays_free(cal);
}

static void test_working_days_left_and_overdue(void **state) {
  (void)state;
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  /* due Friday 2026-12-04 */
  assert_int_equal(between(cal, "2026-12-02", "2026-12-04", NULL, 0), 2); /* yellow */
  assert_int_equal(between(cal, "2026-12-01", "2026-12-04", NULL, 0), 3);
  assert_int_equal(between(cal, "2026-12-04", "2026-12-04", NULL, 0), 0);
  /* the Saturday after: past due, but no working day has passed yet */
  assert_int_equal(between(cal, "2026-12-05", "2026-12-04", NULL, 0), 0);
  assert_int_equal(between(cal, "2026-12-07", "2026-12-04", NULL, 0), -1);
  assert_int_equal(between(cal, "2026-12-11", "2026-12-04", NULL, 0), -5);
  yw_workdays_free(cal);
}

/* Each line is refused with its number, and the calendar keeps only what it had. */
static void refused(struct yw_workdays *cal, const char *text, size_t len, int want_line,
                    int want_rc) {
  size_t before = yw_workdays_count(cal);
  int was_workday = yw_workdays_is_workday(cal, D("2031-01-01"));
  int line = -1;
  const char *reason = NULL;
  assert_int_equal(yw_workdays_parse_csv(cal, text, len, &line, &reason), want_rc);
  assert_int_equal(line, want_line);
  assert_non_null(reason);
  assert_true(strlen(reason) > 10);
  assert_int_equal(yw_workdays_count(cal), before);
  assert_int_equal(yw_workdays_is_workday(cal, D("2031-01-01")), was_workday);
  assert_int_equal(yw_workdays_covers(cal, 2031), 0);
}

static void test_malformed_csv_lines_are_refused_with_their_number(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  /* the first line is good: all or nothing keeps it out too */
  static const struct {
    const char *text;
    int line;
  } cases[] = {
      {"2031-01-01,holiday,元旦\n2031-1-02,holiday,x\n", 2},
      {"2031-01-01,holiday,元旦\n2031-02-30,holiday,x\n", 2},
      {"2031-01-01,holiday,元旦\n1999-12-31,holiday,x\n", 2},
      {"2031-01-01,holiday,元旦\n2101-01-01,holiday,x\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02,vacation,x\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02,Holiday,x\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02,,x\n", 2},
      {"2031-01-01,holiday,元旦\n,holiday,x\n", 2},
      /* a make-up working day on a Wednesday */
      {"2031-01-01,holiday,元旦\n2031-01-08,workday,x\n", 2},
      /* the same date twice in one text, and a date the calendar has */
      {"2031-01-01,holiday,元旦\n2031-01-01,holiday,元旦\n", 2},
      {"2031-01-01,holiday,元旦\n2030-05-01,holiday,劳动节\n", 2},
      /* names: a comma (a fourth field), 64 bytes, a control character, not UTF-8 */
      {"2031-01-01,holiday,元旦\n2031-01-02,holiday,a,b\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02,holiday,"
       "0123456789012345678901234567890123456789012345678901234567890123\n",
       2},
      {"2031-01-01,holiday,元旦\n2031-01-02,holiday,a\tb\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02,holiday,\xe5\x85\n", 2},
      {"2031-01-01,holiday,元旦\n2031-01-02,holiday,\xc0\xaf\n", 2},
      /* comments and blank lines count as lines */
      {"# header\n\n2031-01-01,holiday,元旦\r\n\r\nbad line\n", 5},
      {"2031-01-01 holiday 元旦\n", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    refused(cal, cases[i].text, strlen(cases[i].text), cases[i].line, YW_EINVAL);
  }
  /* a NUL inside the name */
  static const char nul[] = "2031-01-01,holiday,a\0b\n";
  refused(cal, nul, sizeof nul - 1, 1, YW_EINVAL);
  /* a 63-byte name is the longest accepted */
  const char *longest =
      "2031-01-02,holiday,012345678901234567890123456789012345678901234567890123456789012\n";
  assert_int_equal(yw_workdays_parse_csv(cal, longest, strlen(longest), NULL, NULL), 0);
  assert_int_equal(yw_workdays_count(cal), 14);
  assert_int_equal(yw_workdays_parse_csv(NULL, longest, strlen(longest), NULL, NULL), YW_EINVAL);
  assert_int_equal(yw_workdays_parse_csv(cal, NULL, 5, NULL, NULL), YW_EINVAL);
  yw_workdays_free(cal);
}

static void test_csv_accepts_what_spreadsheets_write(void **state) {
  (void)state;
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  /* a byte order mark, CRLF, a comment, blank lines, spaces around fields, a missing or
   * empty name, no newline at the end */
  const char *text =
      "\xEF\xBB\xBF# date,kind,name\r\n"
      "\r\n"
      "  2031-10-01 , holiday , 国庆节 \r\n"
      "2031-10-02,holiday\r\n"
      "2031-10-03,holiday,\n"
      "2031-09-28,workday,国庆节调休上班";
  int line = -1;
  assert_int_equal(yw_workdays_parse_csv(cal, text, strlen(text), &line, NULL), 0);
  assert_int_equal(line, 0);
  assert_int_equal(yw_workdays_count(cal), 4);
  struct yw_workdays_entry e;
  assert_int_equal(yw_workdays_entry(cal, 0, &e), 0);
  assert_string_equal(S(e.day), "2031-10-01");
  assert_int_equal(e.kind, YW_WORKDAYS_HOLIDAY);
  assert_string_equal(e.name, "国庆节");
  assert_int_equal(yw_workdays_entry(cal, 1, &e), 0);
  assert_string_equal(S(e.day), "2031-10-02");
  assert_string_equal(e.name, "");
  assert_int_equal(yw_workdays_entry(cal, 3, &e), 0);
  assert_string_equal(S(e.day), "2031-09-28");
  assert_int_equal(e.kind, YW_WORKDAYS_WORKDAY);
  assert_string_equal(e.name, "国庆节调休上班");
  assert_int_equal(yw_workdays_entry(cal, 4, &e), YW_EINVAL);
  assert_int_equal(yw_workdays_is_workday(cal, D("2031-09-28")), 1); /* a Sunday */
  /* an empty text adds nothing */
  assert_int_equal(yw_workdays_parse_csv(cal, "", 0, &line, NULL), 0);
  assert_int_equal(yw_workdays_parse_csv(cal, NULL, 0, &line, NULL), 0);
  assert_int_equal(yw_workdays_count(cal), 4);
  yw_workdays_free(cal);
}

static void test_a_year_is_covered_once_its_notice_is_loaded(void **state) {
  (void)state;
  struct yw_workdays *cal = calendar_2030();
  /* the 2030 notice also gives New Year's Day of 2031 (and the days around it): 2031 is
   * not known for that, its Spring Festival still counts as working days */
  const char *spill =
      "2030-12-29,workday,元旦调休上班\n2030-12-30,holiday,元旦\n"
      "2030-12-31,holiday,元旦\n2031-01-01,holiday,元旦\n";
  assert_int_equal(yw_workdays_parse_csv(cal, spill, strlen(spill), NULL, NULL), 0);
  assert_int_equal(yw_workdays_covers(cal, 2031), 0);
  assert_int_equal(yw_workdays_is_workday(cal, D("2031-01-01")), 0);
  assert_int_equal(yw_workdays_is_workday(cal, D("2030-12-29")), 1); /* a Sunday */
  /* January 7th is still the first week; the 8th is the notice's own */
  assert_int_equal(yw_workdays_set(cal, D("2031-01-07"), YW_WORKDAYS_HOLIDAY, NULL), 0);
  assert_int_equal(yw_workdays_covers(cal, 2031), 0);
  assert_int_equal(yw_workdays_set(cal, D("2031-01-08"), YW_WORKDAYS_HOLIDAY, NULL), 0);
  assert_int_equal(yw_workdays_covers(cal, 2031), 1);
  /* a refused text leaves the years as they were */
  const char *bad = "2032-10-01,holiday,国庆节\n2032-10-02,vacation,x\n";
  assert_int_equal(yw_workdays_parse_csv(cal, bad, strlen(bad), NULL, NULL), YW_EINVAL);
  assert_int_equal(yw_workdays_covers(cal, 2032), 0);
  yw_workdays_free(cal);
}

static void test_the_sample_file_is_the_fictitious_calendar(void **state) {
  (void)state;
  FILE *f = fopen(YW_SOURCE_DIR "/tests/data/workdays_sample.csv", "rb");
  assert_non_null(f);
  char buf[4096];
  size_t len = fread(buf, 1, sizeof buf, f);
  assert_true(feof(f));
  fclose(f);
  struct yw_workdays *file = yw_workdays_new(), *inline_cal = calendar_2030();
  assert_non_null(file);
  assert_int_equal(yw_workdays_parse_csv(file, buf, len, NULL, NULL), 0);
  assert_int_equal(yw_workdays_count(file), yw_workdays_count(inline_cal));
  for (size_t i = 0; i < yw_workdays_count(file); i++) {
    struct yw_workdays_entry a, b;
    assert_int_equal(yw_workdays_entry(file, i, &a), 0);
    assert_int_equal(yw_workdays_entry(inline_cal, i, &b), 0);
    assert_int_equal(a.day, b.day);
    assert_int_equal(a.kind, b.kind);
    assert_string_equal(a.name, b.name);
  }
  assert_string_equal(due(file, "2030-01-24", 10, NULL, 0), "2030-02-13");
  yw_workdays_free(file);
  yw_workdays_free(inline_cal);
}

static void test_entries_set_one_by_one(void **state) {
  (void)state;
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  assert_int_equal(yw_workdays_set(cal, D("2031-01-01"), YW_WORKDAYS_HOLIDAY, "元旦"), 0);
  assert_int_equal(yw_workdays_set(cal, D("2031-01-01"), YW_WORKDAYS_HOLIDAY, "元旦"), YW_EEXIST);
  assert_int_equal(yw_workdays_set(cal, D("2031-01-04"), YW_WORKDAYS_WORKDAY, NULL), 0);
  assert_int_equal(yw_workdays_set(cal, D("2031-01-06"), YW_WORKDAYS_WORKDAY, NULL),
                   YW_EINVAL); /* a Monday */
  assert_int_equal(yw_workdays_set(cal, D("2031-01-06"), 3, NULL), YW_EINVAL);
  assert_int_equal(yw_workdays_set(cal, 10956, YW_WORKDAYS_HOLIDAY, NULL), YW_EINVAL);
  assert_int_equal(yw_workdays_set(NULL, D("2031-01-06"), YW_WORKDAYS_HOLIDAY, NULL), YW_EINVAL);
  assert_int_equal(yw_workdays_count(cal), 2);
  /* 01-01 off, Thursday 01-02, Friday 01-03, then the make-up Saturday */
  assert_string_equal(due(cal, "2030-12-31", 3, NULL, 0), "2031-01-04");
  yw_workdays_free(cal);
}

static void test_bounds_are_refused(void **state) {
  (void)state;
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  yw_day d = 777;
  /* years */
  assert_int_equal(yw_workdays_covers(cal, 1999), YW_EINVAL);
  assert_int_equal(yw_workdays_covers(cal, 2101), YW_EINVAL);
  assert_int_equal(yw_workdays_covers(cal, 2000), 0);
  assert_int_equal(yw_workdays_covers(cal, 2100), 0);
  assert_int_equal(yw_workdays_covers(NULL, 2030), YW_EINVAL);
  assert_int_equal(yw_workdays_is_workday(cal, 10956), YW_EINVAL);
  assert_int_equal(yw_workdays_is_workday(cal, 47847), YW_EINVAL);
  assert_int_equal(yw_workdays_is_workday(NULL, D("2030-01-01")), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, 10956, 1, NULL, 0, &d), YW_EINVAL);
  /* a due date past 2100-12-31 (a Friday): one working day from Thursday 12-30 is the
   * last day there is, two is not */
  assert_string_equal(due(cal, "2100-12-30", 1, NULL, 0), "2100-12-31");
  assert_int_equal(yw_workdays_add(cal, D("2100-12-30"), 2, NULL, 0, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2100-12-31"), 1, NULL, 0, &d), YW_EINVAL);
  /* n */
  assert_string_equal(due(cal, "2000-01-01", 3650, NULL, 0), "2013-12-27");
  assert_int_equal(yw_workdays_add(cal, D("2000-01-01"), 3651, NULL, 0, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2000-01-01"), -1, NULL, 0, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(NULL, D("2000-01-01"), 1, NULL, 0, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2000-01-01"), 1, NULL, 0, NULL), YW_EINVAL);
  assert_int_equal(d, 777); /* untouched by every refusal */
  /* the whole span: 26,350 weekdays from 2000-01-03 to 2100-12-31 */
  assert_int_equal(between(cal, "2000-01-01", "2100-12-31", NULL, 0), 26350);
  assert_int_equal(between(cal, "2100-12-31", "2000-01-01", NULL, 0), -26350);
  int n = 5;
  assert_int_equal(yw_workdays_between(cal, 10956, D("2030-01-01"), NULL, 0, &n), YW_EINVAL);
  assert_int_equal(yw_workdays_between(cal, D("2030-01-01"), 47847, NULL, 0, &n), YW_EINVAL);
  assert_int_equal(yw_workdays_between(cal, D("2030-01-01"), D("2030-01-02"), NULL, 0, NULL),
                   YW_EINVAL);
  assert_int_equal(n, 5);
  /* pauses: backwards, outside the span, missing, too many; a pause up to the day after
   * the span is allowed */
  struct yw_workdays_pause backwards = {D("2030-01-05"), D("2030-01-04")};
  struct yw_workdays_pause before = {10956, D("2030-01-04")};
  struct yw_workdays_pause after = {D("2030-01-04"), 47848};
  struct yw_workdays_pause to_end = {D("2100-12-01"), 47847};
  assert_int_equal(yw_workdays_add(cal, D("2030-01-01"), 1, &backwards, 1, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2030-01-01"), 1, &before, 1, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2030-01-01"), 1, &after, 1, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2030-01-01"), 1, NULL, 1, &d), YW_EINVAL);
  assert_int_equal(yw_workdays_between(cal, D("2030-01-01"), D("2030-01-02"), &backwards, 1, &n),
                   YW_EINVAL);
  assert_int_equal(yw_workdays_add(cal, D("2100-11-30"), 1, &to_end, 1, &d), YW_EINVAL);
  assert_int_equal(between(cal, "2100-11-30", "2100-12-31", &to_end, 1), 0);
  struct yw_workdays_pause many[YW_WORKDAYS_MAX_PAUSES + 1];
  for (size_t i = 0; i < YW_WORKDAYS_MAX_PAUSES + 1; i++)
    many[i] = (struct yw_workdays_pause){D("2030-01-07"), D("2030-01-08")};
  assert_string_equal(due(cal, "2030-01-04", 1, many, YW_WORKDAYS_MAX_PAUSES), "2030-01-08");
  assert_int_equal(yw_workdays_add(cal, D("2030-01-04"), 1, many, YW_WORKDAYS_MAX_PAUSES + 1, &d),
                   YW_EINVAL);
  yw_workdays_free(cal);
}

static void test_at_most_ten_thousand_entries(void **state) {
  (void)state;
  /* 10,001 holidays, one a day from 2000-01-01: the last line is refused and nothing
   * is kept */
  size_t cap = 10001 * 20 + 1, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (yw_day d = 10957; d < 10957 + 10001; d++) {
    assert_int_equal(yw_day_format(d, text + len, cap - len), 0);
    len += 10;
    memcpy(text + len, ",holiday\n", 9);
    len += 9;
  }
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  refused(cal, text, len, 10001, YW_ETOOBIG);
  assert_int_equal(yw_workdays_count(cal), 0);
  assert_int_equal(yw_workdays_covers(cal, 2000), 0);
  /* without the last line all 10,000 are taken */
  assert_int_equal(yw_workdays_parse_csv(cal, text, len - 19, NULL, NULL), 0);
  assert_int_equal(yw_workdays_count(cal), 10000);
  assert_int_equal(yw_workdays_covers(cal, 2027), 1);
  assert_int_equal(yw_workdays_is_workday(cal, D("2027-05-18")), 0); /* a Tuesday, the last entry */
  assert_int_equal(yw_workdays_set(cal, D("2030-01-01"), YW_WORKDAYS_HOLIDAY, NULL), YW_ETOOBIG);
  yw_workdays_free(cal);
  free(text);
}

static void test_at_most_four_mib_of_text(void **state) {
  (void)state;
  size_t len = YW_WORKDAYS_CSV_MAX + 1;
  char *text = malloc(len);
  assert_non_null(text);
  memset(text, '\n', len);
  memcpy(text, "2031-10-01,holiday,国庆节\n", strlen("2031-10-01,holiday,国庆节\n"));
  struct yw_workdays *cal = yw_workdays_new();
  assert_non_null(cal);
  /* one byte too many: refused before any line is read */
  refused(cal, text, len, 0, YW_ETOOBIG);
  assert_int_equal(yw_workdays_is_workday(cal, D("2031-10-01")), 1);
  /* the longest text is read */
  assert_int_equal(yw_workdays_parse_csv(cal, text, len - 1, NULL, NULL), 0);
  assert_int_equal(yw_workdays_count(cal), 1);
  assert_int_equal(yw_workdays_is_workday(cal, D("2031-10-01")), 0);
  yw_workdays_free(cal);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dates_convert_both_ways_over_the_whole_span),
      cmocka_unit_test(test_dates_outside_the_span_or_malformed_are_refused),
      cmocka_unit_test(test_instants_give_the_day_in_shanghai),
      cmocka_unit_test(test_weekends_only_without_entries),
      cmocka_unit_test(test_a_holiday_on_a_weekday_is_a_rest_day),
      cmocka_unit_test(test_a_make_up_saturday_is_a_working_day),
      cmocka_unit_test(test_a_due_date_spans_the_spring_festival_week),
      cmocka_unit_test(test_pauses_stop_the_clock),
      cmocka_unit_test(test_a_supplement_across_the_spring_festival),
      cmocka_unit_test(test_add_and_between_agree_with_a_day_by_day_count),
      cmocka_unit_test(test_zero_working_days_is_the_start),
      cmocka_unit_test(test_working_days_left_and_overdue),
      cmocka_unit_test(test_malformed_csv_lines_are_refused_with_their_number),
      cmocka_unit_test(test_csv_accepts_what_spreadsheets_write),
      cmocka_unit_test(test_a_year_is_covered_once_its_notice_is_loaded),
      cmocka_unit_test(test_the_sample_file_is_the_fictitious_calendar),
      cmocka_unit_test(test_entries_set_one_by_one),
      cmocka_unit_test(test_bounds_are_refused),
      cmocka_unit_test(test_at_most_ten_thousand_entries),
      cmocka_unit_test(test_at_most_four_mib_of_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
