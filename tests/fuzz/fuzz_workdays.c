/*
 * fuzz_workdays.c - the working-day calendar staff upload (lib/yw_workdays.c): any text
 * as the CSV of a year's notice, then the time-limit arithmetic on what it loaded.
 *
 * Properties: a refused text leaves the calendar exactly as it was and names a reason;
 * an accepted one adds entries that obey the rules (make-up working days only on
 * weekends, each day once, the day's kind as is_workday answers it, the name and the
 * date formatting back to what was parsed); and on the loaded calendar, n working days
 * added to a day are n working days between them again, with or without a pause.
 */
#include <string.h>

#include "fuzz.h"
#include "yw_err.h"
#include "yw_workdays.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  struct yw_workdays *cal = yw_workdays_new();
  FUZZ_CHECK(cal != NULL);
  yw_day first;
  FUZZ_CHECK(yw_day_from_ymd(2030, 1, 1, &first) == 0);
  FUZZ_CHECK(yw_workdays_set(cal, first, YW_WORKDAYS_HOLIDAY, "元旦") == 0);
  int line = -1;
  const char *reason = NULL;
  int rc = yw_workdays_parse_csv(cal, (const char *)data, size, &line, &reason);
  size_t n = yw_workdays_count(cal);
  if (rc != 0) {
    /* all or nothing: the entry made before is all there is */
    FUZZ_CHECK(n == 1 && reason != NULL && line >= 0);
    FUZZ_CHECK(yw_workdays_is_workday(cal, first) == 0);
  }
  size_t check = n < 300 ? n : 300; /* the pairwise check stays quick */
  for (size_t i = 1; rc == 0 && i < check; i++) {
    struct yw_workdays_entry e;
    FUZZ_CHECK(yw_workdays_entry(cal, i, &e) == 0);
    FUZZ_CHECK(e.kind == YW_WORKDAYS_HOLIDAY || e.kind == YW_WORKDAYS_WORKDAY);
    int wd = yw_day_weekday(e.day);
    FUZZ_CHECK(wd >= 1 && wd <= 7);
    if (e.kind == YW_WORKDAYS_WORKDAY) FUZZ_CHECK(wd >= 6);
    FUZZ_CHECK(yw_workdays_is_workday(cal, e.day) == (e.kind == YW_WORKDAYS_WORKDAY));
    FUZZ_CHECK(strlen(e.name) < YW_WORKDAYS_NAME_MAX && strchr(e.name, ',') == NULL);
    char text[YW_DAY_STRLEN];
    yw_day back;
    FUZZ_CHECK(yw_day_format(e.day, text, sizeof text) == 0);
    FUZZ_CHECK(yw_day_parse(text, strlen(text), &back) == 0 && back == e.day);
    for (size_t k = 0; k < i; k++) {
      struct yw_workdays_entry o;
      FUZZ_CHECK(yw_workdays_entry(cal, k, &o) == 0);
      FUZZ_CHECK(o.day != e.day);
    }
  }
  /* the arithmetic on whatever was loaded: from the last entry's day (or the first) */
  yw_day start = first;
  struct yw_workdays_entry last;
  if (yw_workdays_entry(cal, n - 1, &last) == 0) start = last.day;
  int days = (int)(size % 40);
  yw_day due;
  int between = -1;
  if (yw_workdays_add(cal, start, days, NULL, 0, &due) == 0) {
    FUZZ_CHECK(due >= start);
    FUZZ_CHECK(yw_workdays_between(cal, start, due, NULL, 0, &between) == 0 && between == days);
    if (days > 0) FUZZ_CHECK(yw_workdays_is_workday(cal, due) == 1);
    /* a pause of a week right after start pushes the due date at least as far */
    struct yw_workdays_pause pause = {start + 1, start + 8};
    yw_day later;
    if (yw_workdays_add(cal, start, days, &pause, 1, &later) == 0) {
      FUZZ_CHECK(later >= due);
      FUZZ_CHECK(yw_workdays_between(cal, start, later, &pause, 1, &between) == 0 && between == days);
    }
  }
  yw_workdays_free(cal);
  return 0;
}
