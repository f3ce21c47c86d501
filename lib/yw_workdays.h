/*
 * yw_workdays.h - the working-day calendar: dates, statutory holidays and make-up working
 * days, and time limits counted in working days (承诺时限) with pauses.
 *
 * A day is a yw_day, the number of days since 1970-01-01, on the calendar of
 * Asia/Shanghai. Every function here works on days from 2000-01-01 to 2100-12-31
 * (YW_WORKDAYS_YEAR_MIN..MAX) and refuses any other with YW_EINVAL.
 *
 * A calendar (struct yw_workdays) holds entries loaded per year from the State Council's
 * yearly notice: statutory holidays (法定节假日, rest days even when they fall on a weekday)
 * and make-up working days (调休上班, a Saturday or Sunday that is a working day). Every
 * other Saturday and Sunday is a rest day and every other weekday a working day; a year
 * with no entries is therefore "weekends only", and yw_workdays_covers tells a service
 * whether a year was loaded so that it can warn.
 *
 * The arithmetic does no I/O and no allocation, and every loop is bounded by the span
 * of the calendar. A calendar is not changed by the arithmetic: once loaded it can be
 * read by any number of threads at once; loading into it needs the only reference.
 */
#ifndef YW_WORKDAYS_H
#define YW_WORKDAYS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Days since 1970-01-01 (day 0 is Thursday 1970-01-01). */
typedef int32_t yw_day;

#define YW_WORKDAYS_YEAR_MIN 2000
#define YW_WORKDAYS_YEAR_MAX 2100
/* The most entries one calendar holds. */
#define YW_WORKDAYS_MAX_ENTRIES 10000
/* The largest n yw_workdays_add accepts (about ten years of working days). */
#define YW_WORKDAYS_MAX_N 3650
/* The most pauses one call accepts. */
#define YW_WORKDAYS_MAX_PAUSES 256
/* The longest text yw_workdays_parse_csv reads (10,000 entries with long names and room
 * for comments): 4 MiB. */
#define YW_WORKDAYS_CSV_MAX (4u << 20)
/* Bytes of an entry's name, its terminating NUL included (21 Chinese characters). */
#define YW_WORKDAYS_NAME_MAX 64
/* Bytes yw_day_format writes: "YYYY-MM-DD" and a NUL. */
#define YW_DAY_STRLEN 11

/* ---- dates ---- */

/* The day of year y, month m (1-12), day d (1-31) in *out. YW_EINVAL when the date does
 * not exist or y is outside 2000..2100. */
int yw_day_from_ymd(int y, int m, int d, yw_day *out);

/* The year, month and day of day (any pointer may be NULL). YW_EINVAL outside the range. */
int yw_day_to_ymd(yw_day day, int *y, int *m, int *d);

/* Reads exactly "YYYY-MM-DD" from s[0..len) (no spaces, no time, no offset) into *out.
 * YW_EINVAL for anything else, a date that does not exist or one outside the range. */
int yw_day_parse(const char *s, size_t len, yw_day *out);

/* Writes day as "YYYY-MM-DD" and a NUL into out (size bytes, at least YW_DAY_STRLEN).
 * YW_EINVAL when out is too small or day outside the range (then out[0] is NUL if size
 * allows). */
int yw_day_format(yw_day day, char *out, size_t size);

/* The ISO weekday of day: 1 Monday .. 7 Sunday; YW_EINVAL outside the range. */
int yw_day_weekday(yw_day day);

/* The day in Asia/Shanghai (UTC+8, no daylight saving since 1991) at instant t, in *out:
 * how a service turns now or a stored timestamptz into the day a time limit counts from.
 * YW_EINVAL outside the range. */
int yw_day_from_time(time_t t, yw_day *out);

/* ---- the calendar ---- */

struct yw_workdays;

enum yw_workdays_kind {
  YW_WORKDAYS_HOLIDAY = 1, /* 法定节假日: a rest day, whatever the weekday */
  YW_WORKDAYS_WORKDAY = 2, /* 调休上班: a Saturday or Sunday that is a working day */
};

struct yw_workdays_entry {
  yw_day day;
  int kind;                        /* enum yw_workdays_kind */
  char name[YW_WORKDAYS_NAME_MAX]; /* UTF-8, may be empty */
};

/* A new calendar with no entries (weekends only). The caller owns it and frees it with
 * yw_workdays_free. NULL when memory is short. */
struct yw_workdays *yw_workdays_new(void);

/* Frees cal; NULL is fine. */
void yw_workdays_free(struct yw_workdays *cal);

/*
 * Adds one entry, as a service does for each row of its stored calendar. name may be
 * NULL (empty); it is copied. Errors, each leaving cal as it was:
 *   YW_EINVAL   cal NULL, day outside the range, an unknown kind, a make-up working day
 *               that is not a Saturday or Sunday, a name of YW_WORKDAYS_NAME_MAX bytes
 *               or more, or one that is not UTF-8 or holds a control character or a
 *               comma;
 *   YW_EEXIST   cal already has an entry for that day;
 *   YW_ETOOBIG  cal already holds YW_WORKDAYS_MAX_ENTRIES entries;
 *   YW_ENOMEM.
 */
int yw_workdays_set(struct yw_workdays *cal, yw_day day, int kind, const char *name);

/*
 * Adds the entries of text[0..len), lines "YYYY-MM-DD,holiday|workday,name" (the name may
 * be empty, the last comma may then be left out). Blank lines and lines starting with '#'
 * are skipped; a UTF-8 byte order mark at the start, CR before LF and spaces around a
 * field are allowed. All or nothing: on any error cal is left as it was, *line (may be
 * NULL) is the 1-based number of the line refused (0 when the error is not a line's) and
 * *reason (may be NULL) a static English sentence saying why.
 * Returns 0, or YW_EINVAL (cal NULL, text NULL with len > 0, a malformed line or a line
 * yw_workdays_set refuses, a date given twice), YW_ETOOBIG (past YW_WORKDAYS_MAX_ENTRIES
 * entries, or len over YW_WORKDAYS_CSV_MAX), YW_ENOMEM.
 */
int yw_workdays_parse_csv(struct yw_workdays *cal, const char *text, size_t len, int *line,
                          const char **reason);

/* How many entries cal holds (0 for NULL). */
size_t yw_workdays_count(const struct yw_workdays *cal);

/* The i-th entry of cal in the order they were added (a CSV text's in the order of its
 * lines), copied into *out, so that a service can store what it parsed. YW_EINVAL when cal or out
 * is NULL or i >= yw_workdays_count(cal). */
int yw_workdays_entry(const struct yw_workdays *cal, size_t i, struct yw_workdays_entry *out);

/* 1 when the notice of year was loaded: cal holds at least one entry dated in year after
 * January 7th (a notice often gives the first days of the next year too, which do not
 * make that year known); 0 when it holds none, and the year counts weekends only apart
 * from the entries it has; YW_EINVAL for a NULL cal or a year outside the range. */
int yw_workdays_covers(const struct yw_workdays *cal, int year);

/* 1 when day is a working day, 0 when it is a rest day, YW_EINVAL for a NULL cal or a
 * day outside the range. */
int yw_workdays_is_workday(const struct yw_workdays *cal, yw_day day);

/*
 * A span during which the clock stops: the days d with from <= d < to do not count
 * (from == to is an empty pause). Pauses may overlap and may start or end on rest days.
 * Mapping a supplement (补正) requested on day R and received on day S the way the day of
 * acceptance is treated (the day of the request counts, the days of waiting and the day
 * of receipt do not): {R + 1, S + 1}.
 */
struct yw_workdays_pause {
  yw_day from;
  yw_day to;
};

/*
 * The due date of a time limit of n working days from start, in *due: the n-th working
 * day after start that no pause covers (start itself never counts, as 承诺时限 are
 * counted; n = 0 gives start). pauses may be NULL when n_pauses is 0.
 * YW_EINVAL: cal or due NULL, start outside the range, n < 0 or n > YW_WORKDAYS_MAX_N,
 * more than YW_WORKDAYS_MAX_PAUSES pauses, a pause with to < from or outside the range
 * (to may be the day after 2100-12-31), or a due date past 2100-12-31.
 */
int yw_workdays_add(const struct yw_workdays *cal, yw_day start, int n,
                    const struct yw_workdays_pause *pauses, size_t n_pauses, yw_day *due);

/*
 * The working days elapsed from from to to, in *out: the working days d with
 * from < d <= to that no pause covers, so that yw_workdays_between(start, due) is the n
 * that gave due. When to < from, the count of to < d <= from, negated: between(today,
 * due) is the working days left (supervision's yellow when it is 2 or less), negative
 * once working days have passed since due. Overdue (red) is today > due: on the rest
 * days right after due the count is still 0.
 * YW_EINVAL: cal or out NULL, a day outside the range, pauses as for yw_workdays_add.
 */
int yw_workdays_between(const struct yw_workdays *cal, yw_day from, yw_day to,
                        const struct yw_workdays_pause *pauses, size_t n_pauses, int *out);

#endif
