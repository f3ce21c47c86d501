/*
 * yw_workdays.c - the working-day calendar and time limits in working days.
 *
 * Design: the calendar covers a fixed span, 2000-01-01 to 2100-12-31 (36,890 days), so a
 * calendar keeps one byte per day of that span (none, holiday, make-up working day):
 * whether a day is a working day is one lookup, and counting working days is a walk of
 * at most the span, never a loop that input can stretch. Pauses are first sorted and
 * joined into disjoint spans (at most 256, on the stack), then skipped whole: on a paused
 * day the walk jumps to the end of the pause, so a call costs the days walked plus the
 * pauses, not their product. Entries (with their names) are kept
 * apart in the order they were added, for a service that stores what staff uploaded, and
 * a count per year (past its first week) answers yw_workdays_covers.
 *
 * Dates are converted by counting from 2000-01-01, which the span allows: within it a
 * year divisible by 4 is a leap year except 2100.
 *
 * Offers: yw_day_from_ymd, yw_day_to_ymd, yw_day_parse, yw_day_format, yw_day_weekday,
 * yw_day_from_time, yw_workdays_new, yw_workdays_free, yw_workdays_set,
 * yw_workdays_parse_csv, yw_workdays_count, yw_workdays_entry, yw_workdays_covers,
 * yw_workdays_is_workday, yw_workdays_add, yw_workdays_between.
 */
#include "yw_workdays.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

/* 2000-01-01 and 2100-12-31 as days since 1970-01-01. */
#define DAY_FIRST 10957
#define SPAN 36890
#define DAY_LAST (DAY_FIRST + SPAN - 1)
#define YEARS (YW_WORKDAYS_YEAR_MAX - YW_WORKDAYS_YEAR_MIN + 1)

enum { KIND_NONE = 0 };

struct yw_workdays {
  struct yw_workdays_entry *entries; /* in the order added */
  size_t n, cap;
  uint16_t per_year[YEARS];
  uint8_t kind[SPAN]; /* by day - DAY_FIRST: KIND_NONE or enum yw_workdays_kind */
};

/* ---- dates ---- */

static int is_leap(int y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

/* Days from 2000-01-01 to January 1st of y, for 2000 <= y <= 2101. */
static int32_t year_start(int y) {
  int32_t k = y - YW_WORKDAYS_YEAR_MIN;
  return 365 * k + (k + 3) / 4 - (y > 2100);
}

/* Days of the year before the first of month m (1-12) in a common year. */
static const int16_t month_start[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static int month_days(int y, int m) {
  return m == 12 ? 31 : month_start[m + 1] - month_start[m] + (m == 2 && is_leap(y));
}

static int in_span(yw_day day) { return day >= DAY_FIRST && day <= DAY_LAST; }

int yw_day_from_ymd(int y, int m, int d, yw_day *out) {
  if (out == NULL || y < YW_WORKDAYS_YEAR_MIN || y > YW_WORKDAYS_YEAR_MAX || m < 1 || m > 12 ||
      d < 1 || d > month_days(y, m))
    return YW_EINVAL;
  *out = DAY_FIRST + year_start(y) + month_start[m] + (m > 2 && is_leap(y)) + d - 1;
  return 0;
}

int yw_day_to_ymd(yw_day day, int *y, int *m, int *d) {
  if (!in_span(day)) return YW_EINVAL;
  int32_t off = day - DAY_FIRST;
  /* off / 366 is at most one year short within the span. */
  int year = YW_WORKDAYS_YEAR_MIN + off / 366;
  if (year_start(year + 1) <= off) year++;
  int doy = off - year_start(year);
  int month = 12;
  while (month > 1 && doy < month_start[month] + (month > 2 && is_leap(year))) month--;
  if (y != NULL) *y = year;
  if (m != NULL) *m = month;
  if (d != NULL) *d = doy - month_start[month] - (month > 2 && is_leap(year)) + 1;
  return 0;
}

/* The n digits at s as a number, or -1 when one is not a digit. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

int yw_day_parse(const char *s, size_t len, yw_day *out) {
  if (s == NULL || out == NULL || len != 10 || s[4] != '-' || s[7] != '-') return YW_EINVAL;
  int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
  if (y < 0 || m < 0 || d < 0) return YW_EINVAL;
  return yw_day_from_ymd(y, m, d, out);
}

/* Writes the n low decimal digits of v at p. */
static void put_digits(char *p, int v, int n) {
  for (int i = n - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

int yw_day_format(yw_day day, char *out, size_t size) {
  if (out == NULL || size == 0) return YW_EINVAL;
  out[0] = '\0';
  int y, m, d;
  if (size < YW_DAY_STRLEN || yw_day_to_ymd(day, &y, &m, &d) != 0) return YW_EINVAL;
  put_digits(out, y, 4);
  out[4] = '-';
  put_digits(out + 5, m, 2);
  out[7] = '-';
  put_digits(out + 8, d, 2);
  out[10] = '\0';
  return 0;
}

int yw_day_weekday(yw_day day) {
  if (!in_span(day)) return YW_EINVAL;
  return (day + 3) % 7 + 1; /* day 0 was a Thursday */
}

int yw_day_from_time(time_t t, yw_day *out) {
  /* Outside these bounds the day is outside the span; checking first keeps the
   * arithmetic below from overflowing whatever the width of time_t. */
  const int64_t offset = 8 * 3600, lo = (int64_t)DAY_FIRST * 86400 - offset,
                hi = (int64_t)(DAY_LAST + 1) * 86400 - offset;
  if (out == NULL || (int64_t)t < lo || (int64_t)t >= hi) return YW_EINVAL;
  *out = (yw_day)(((int64_t)t + offset) / 86400);
  return 0;
}

/* ---- the calendar ---- */

struct yw_workdays *yw_workdays_new(void) {
  return calloc(1, sizeof(struct yw_workdays));
}

void yw_workdays_free(struct yw_workdays *cal) {
  if (cal == NULL) return;
  free(cal->entries);
  free(cal);
}

/* Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0. Overlong forms, surrogates
 * and code points past U+10FFFF are invalid. */
static size_t utf8_char(const unsigned char *s, size_t n) {
  size_t len;
  uint32_t cp, min;
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xC2 && s[0] <= 0xDF) {
    len = 2, cp = s[0] & 0x1F, min = 0x80;
  } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
    len = 3, cp = s[0] & 0x0F, min = 0x800;
  } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
    len = 4, cp = s[0] & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/* Whether an entry may be added; *reason says why not. */
static int entry_check(const struct yw_workdays *cal, yw_day day, int kind, const char *name,
                       size_t name_len, const char **reason) {
  if (!in_span(day)) {
    *reason = "the date is outside 2000-01-01..2100-12-31";
    return YW_EINVAL;
  }
  if (kind != YW_WORKDAYS_HOLIDAY && kind != YW_WORKDAYS_WORKDAY) {
    *reason = "the kind is neither holiday nor workday";
    return YW_EINVAL;
  }
  if (kind == YW_WORKDAYS_WORKDAY && yw_day_weekday(day) < 6) {
    *reason = "a make-up working day must be a Saturday or a Sunday";
    return YW_EINVAL;
  }
  if (name_len >= YW_WORKDAYS_NAME_MAX) {
    *reason = "the name is longer than 63 bytes";
    return YW_EINVAL;
  }
  const unsigned char *p = (const unsigned char *)name;
  for (size_t i = 0; i < name_len;) {
    size_t len = utf8_char(p + i, name_len - i);
    if (len == 0 || p[i] < 0x20 || p[i] == 0x7F || p[i] == ',') {
      *reason = "the name holds a control character, a comma or invalid UTF-8";
      return YW_EINVAL;
    }
    i += len;
  }
  if (cal->kind[day - DAY_FIRST] != KIND_NONE) {
    *reason = "the date is given twice";
    return YW_EEXIST;
  }
  if (cal->n >= YW_WORKDAYS_MAX_ENTRIES) {
    *reason = "the calendar holds 10,000 entries already";
    return YW_ETOOBIG;
  }
  return 0;
}

/* The year whose notice an entry shows was loaded, or 0: the first week of January is
 * left out, since a notice often gives the next year's New Year's days with its own
 * (the notice of 2018 gave 2019-01-01), and the next year's holidays are still unknown. */
static int year_noticed(yw_day day) {
  int y, m, d;
  yw_day_to_ymd(day, &y, &m, &d);
  return m == 1 && d <= 7 ? 0 : y;
}

/* Adds an entry entry_check accepted. */
static int entry_add(struct yw_workdays *cal, yw_day day, int kind, const char *name,
                     size_t name_len) {
  if (cal->n == cal->cap) {
    size_t cap = cal->cap == 0 ? 64 : cal->cap * 2;
    if (cap > YW_WORKDAYS_MAX_ENTRIES) cap = YW_WORKDAYS_MAX_ENTRIES;
    struct yw_workdays_entry *e = realloc(cal->entries, cap * sizeof *e);
    if (e == NULL) return YW_ENOMEM;
    cal->entries = e;
    cal->cap = cap;
  }
  struct yw_workdays_entry *e = &cal->entries[cal->n++];
  e->day = day;
  e->kind = kind;
  memcpy(e->name, name, name_len);
  e->name[name_len] = '\0';
  cal->kind[day - DAY_FIRST] = (uint8_t)kind;
  int y = year_noticed(day);
  if (y != 0) cal->per_year[y - YW_WORKDAYS_YEAR_MIN]++;
  return 0;
}

int yw_workdays_set(struct yw_workdays *cal, yw_day day, int kind, const char *name) {
  if (cal == NULL) return YW_EINVAL;
  if (name == NULL) name = "";
  const char *reason;
  size_t name_len = strnlen(name, YW_WORKDAYS_NAME_MAX);
  int rc = entry_check(cal, day, kind, name, name_len, &reason);
  return rc != 0 ? rc : entry_add(cal, day, kind, name, name_len);
}

/* Removes the entries added after the first n, newest first. */
static void entries_truncate(struct yw_workdays *cal, size_t n) {
  while (cal->n > n) {
    const struct yw_workdays_entry *e = &cal->entries[--cal->n];
    int y = year_noticed(e->day);
    if (y != 0) cal->per_year[y - YW_WORKDAYS_YEAR_MIN]--;
    cal->kind[e->day - DAY_FIRST] = KIND_NONE;
  }
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Narrows [*s, *e) to its text without blanks on either side. */
static void trim(const char **s, const char **e) {
  while (*s < *e && is_blank(**s)) (*s)++;
  while (*e > *s && is_blank((*e)[-1])) (*e)--;
}

/* Reads one non-blank, non-comment line [s, e) and adds its entry. */
static int csv_line(struct yw_workdays *cal, const char *s, const char *e, const char **reason) {
  const char *c1 = memchr(s, ',', (size_t)(e - s));
  if (c1 == NULL) {
    *reason = "a line is date,kind,name";
    return YW_EINVAL;
  }
  const char *ds = s, *de = c1;
  trim(&ds, &de);
  yw_day day;
  if (yw_day_parse(ds, (size_t)(de - ds), &day) != 0) {
    *reason = "the date is not a YYYY-MM-DD from 2000 to 2100";
    return YW_EINVAL;
  }
  const char *ks = c1 + 1, *c2 = memchr(ks, ',', (size_t)(e - ks));
  const char *ke = c2 != NULL ? c2 : e, *ns = c2 != NULL ? c2 + 1 : e, *ne = e;
  trim(&ks, &ke);
  trim(&ns, &ne);
  int kind = 0;
  size_t klen = (size_t)(ke - ks);
  if (klen == 7 && memcmp(ks, "holiday", 7) == 0) kind = YW_WORKDAYS_HOLIDAY;
  if (klen == 7 && memcmp(ks, "workday", 7) == 0) kind = YW_WORKDAYS_WORKDAY;
  int rc = entry_check(cal, day, kind, ns, (size_t)(ne - ns), reason);
  if (rc == YW_EEXIST) rc = YW_EINVAL;
  return rc != 0 ? rc : entry_add(cal, day, kind, ns, (size_t)(ne - ns));
}

int yw_workdays_parse_csv(struct yw_workdays *cal, const char *text, size_t len, int *line,
                          const char **reason) {
  int line_no = 0;
  const char *why = NULL;
  int rc = 0;
  if (cal == NULL || (text == NULL && len > 0)) {
    why = "no calendar or no text";
    rc = YW_EINVAL;
    goto out;
  }
  if (len > YW_WORKDAYS_CSV_MAX) {
    why = "the text is longer than 4 MiB";
    rc = YW_ETOOBIG;
    goto out;
  }
  if (len == 0) goto out; /* text may be NULL then */
  size_t n0 = cal->n;
  const char *p = text, *end = text + len;
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  while (p < end) {
    line_no++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *s = p, *e = nl != NULL ? nl : end;
    p = nl != NULL ? nl + 1 : end;
    if (e > s && e[-1] == '\r') e--;
    trim(&s, &e);
    if (s == e || *s == '#') continue;
    rc = csv_line(cal, s, e, &why);
    if (rc != 0) {
      entries_truncate(cal, n0);
      goto out;
    }
  }
  line_no = 0;
out:
  if (line != NULL) *line = rc != 0 ? line_no : 0;
  if (reason != NULL) *reason = why;
  return rc;
}

size_t yw_workdays_count(const struct yw_workdays *cal) { return cal != NULL ? cal->n : 0; }

int yw_workdays_entry(const struct yw_workdays *cal, size_t i, struct yw_workdays_entry *out) {
  if (cal == NULL || out == NULL || i >= cal->n) return YW_EINVAL;
  *out = cal->entries[i];
  return 0;
}

int yw_workdays_covers(const struct yw_workdays *cal, int year) {
  if (cal == NULL || year < YW_WORKDAYS_YEAR_MIN || year > YW_WORKDAYS_YEAR_MAX) return YW_EINVAL;
  return cal->per_year[year - YW_WORKDAYS_YEAR_MIN] > 0;
}

/* Whether day (in the span) is a working day. */
static int workday(const struct yw_workdays *cal, yw_day day) {
  switch (cal->kind[day - DAY_FIRST]) {
    case YW_WORKDAYS_HOLIDAY: return 0;
    case YW_WORKDAYS_WORKDAY: return 1;
    default: return yw_day_weekday(day) <= 5;
  }
}

int yw_workdays_is_workday(const struct yw_workdays *cal, yw_day day) {
  if (cal == NULL || !in_span(day)) return YW_EINVAL;
  return workday(cal, day);
}

static int pauses_check(const struct yw_workdays_pause *pauses, size_t n) {
  if (n > YW_WORKDAYS_MAX_PAUSES || (pauses == NULL && n > 0)) return YW_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (pauses[i].from < DAY_FIRST || pauses[i].to > DAY_LAST + 1 || pauses[i].to < pauses[i].from)
      return YW_EINVAL;
  return 0;
}

/* The pauses as disjoint spans in order of day, in m (room for YW_WORKDAYS_MAX_PAUSES):
 * empty ones dropped, overlapping or touching ones joined. Returns how many. */
static size_t pauses_merge(const struct yw_workdays_pause *pauses, size_t n,
                           struct yw_workdays_pause *m) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (pauses[i].from == pauses[i].to) continue;
    /* insertion by from: n is small and bounded */
    size_t j = k++;
    while (j > 0 && m[j - 1].from > pauses[i].from) {
      m[j] = m[j - 1];
      j--;
    }
    m[j] = pauses[i];
  }
  size_t out = 0;
  for (size_t i = 0; i < k; i++) {
    if (out > 0 && m[i].from <= m[out - 1].to) {
      if (m[i].to > m[out - 1].to) m[out - 1].to = m[i].to;
    } else {
      m[out++] = m[i];
    }
  }
  return out;
}

/*
 * Walks the days after from, up to and including last, counting the working days no pause
 * covers, and stops at the stop-th. Returns the count (at most stop) and the day the walk
 * ended on in *at (last when it did not stop early). pauses are disjoint and in order
 * (pauses_merge). Each step moves forward by at least one day, so the walk takes at most
 * last - from steps, and each pause is passed once.
 */
static int walk(const struct yw_workdays *cal, yw_day from, yw_day last,
                const struct yw_workdays_pause *pauses, size_t n_pauses, int stop, yw_day *at) {
  int count = 0;
  size_t k = 0;
  yw_day d = from;
  while (count < stop && d < last) {
    d++;
    while (k < n_pauses && pauses[k].to <= d) k++;
    if (k < n_pauses && pauses[k].from <= d) {
      d = pauses[k].to - 1; /* the last paused day: the next step leaves the pause */
      if (d > last) d = last;
      continue;
    }
    if (workday(cal, d)) count++;
  }
  *at = d;
  return count;
}

int yw_workdays_add(const struct yw_workdays *cal, yw_day start, int n,
                    const struct yw_workdays_pause *pauses, size_t n_pauses, yw_day *due) {
  if (cal == NULL || due == NULL || !in_span(start) || n < 0 || n > YW_WORKDAYS_MAX_N ||
      pauses_check(pauses, n_pauses) != 0)
    return YW_EINVAL;
  struct yw_workdays_pause m[YW_WORKDAYS_MAX_PAUSES];
  size_t n_m = pauses_merge(pauses, n_pauses, m);
  yw_day at;
  if (walk(cal, start, DAY_LAST, m, n_m, n, &at) < n) return YW_EINVAL;
  *due = at;
  return 0;
}

int yw_workdays_between(const struct yw_workdays *cal, yw_day from, yw_day to,
                        const struct yw_workdays_pause *pauses, size_t n_pauses, int *out) {
  if (cal == NULL || out == NULL || !in_span(from) || !in_span(to) ||
      pauses_check(pauses, n_pauses) != 0)
    return YW_EINVAL;
  struct yw_workdays_pause m[YW_WORKDAYS_MAX_PAUSES];
  size_t n_m = pauses_merge(pauses, n_pauses, m);
  yw_day at;
  if (to >= from)
    *out = walk(cal, from, to, m, n_m, SPAN, &at);
  else
    *out = -walk(cal, to, from, m, n_m, SPAN, &at);
  return 0;
}
