/*
 * calendar.c - the working-day calendar of yw-applications: stored per year in
 * applications.calendar_days, held in memory by every copy, swapped safely under readers.
 *
 * Design: the held calendar is a reference-counted snapshot (struct snap). A reader takes
 * a reference under the holder's mutex (a pointer copy and an increment, never a query),
 * reads without any lock, and gives the reference back; a reload builds the new calendar
 * outside the mutex, swaps the pointer under it and gives back the holder's own reference
 * to the old one, which is freed by its last reader. Freshness comes from
 * calendar_state.version, asked at most every check_ms, so a load through any copy
 * reaches every copy within check_ms of its commit (and at once on the copy that did it).
 *
 * PutCalendar replaces one year's rows in one transaction: the days (JSON list or the
 * CSV lines lib/yw_workdays parses) are all checked first, with a message naming the
 * refused entry or line, and a refusal changes nothing; the write bumps the version and
 * records who loaded which year with how many days (applications.calendar_loads).
 *
 * Offers: applications_calendar_new, _free, _acquire, _release, _version, _refresh,
 * _invalidate, _seed, applications_put_calendar, applications_get_calendar.
 */
#include "calendar.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applications.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yw_err.h"
#include "yw_service.h"

#define DB "the applications database"
#define YEAR_DAYS_MAX 366
#define CSV_MAX (64 * 1024)

typedef Yiwang__Applications__V1__CalendarDay CalendarDay;

struct snap {
  struct yw_workdays *cal;
  long long version;
  atomic_int refs;
};

struct applications_calendar {
  pthread_mutex_t mu;
  struct snap *cur;       /* the holder's reference is one of cur->refs */
  int check_ms;
  atomic_llong asked_ms;  /* monotonic ms of the last version asked; 0: ask next time */
};

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct snap *snap_new(struct yw_workdays *cal, long long version) {
  struct snap *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->cal = cal;
  s->version = version;
  atomic_init(&s->refs, 1);
  return s;
}

applications_calendar *applications_calendar_new(struct yw_workdays *initial, int check_ms) {
  applications_calendar *h = calloc(1, sizeof *h);
  struct yw_workdays *cal = initial != NULL ? initial : yw_workdays_new();
  struct snap *s = cal != NULL ? snap_new(cal, -1) : NULL;
  if (h == NULL || s == NULL) {
    free(h);
    free(s);
    yw_workdays_free(cal);
    return NULL;
  }
  pthread_mutex_init(&h->mu, NULL);
  h->cur = s;
  h->check_ms = check_ms < 0 ? 0 : check_ms;
  atomic_init(&h->asked_ms, 0);
  return h;
}

void applications_calendar_release(void *ref) {
  struct snap *s = ref;
  if (s == NULL) return;
  if (atomic_fetch_sub(&s->refs, 1) == 1) {
    yw_workdays_free(s->cal);
    free(s);
  }
}

void applications_calendar_free(applications_calendar *h) {
  if (h == NULL) return;
  applications_calendar_release(h->cur);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

const struct yw_workdays *applications_calendar_acquire(applications_calendar *h, void **ref) {
  pthread_mutex_lock(&h->mu);
  struct snap *s = h->cur;
  atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&h->mu);
  *ref = s;
  return s->cal;
}

long long applications_calendar_version(applications_calendar *h) {
  pthread_mutex_lock(&h->mu);
  long long v = h->cur->version;
  pthread_mutex_unlock(&h->mu);
  return v;
}

void applications_calendar_invalidate(applications_calendar *h) { atomic_store(&h->asked_ms, 0); }

/* Swaps s in unless the one held is as new (two threads reloading at once: the later
 * version stays); the snapshot left goes when its last reader gives it back. */
static void swap_in(applications_calendar *h, struct snap *s) {
  pthread_mutex_lock(&h->mu);
  struct snap *old = h->cur;
  if (s->version > old->version) {
    h->cur = s;
  } else {
    old = s;
  }
  pthread_mutex_unlock(&h->mu);
  applications_calendar_release(old);
}

static int kind_of(const char *text) {
  return strcmp(text, "holiday") == 0 ? YW_WORKDAYS_HOLIDAY
         : strcmp(text, "workday") == 0 ? YW_WORKDAYS_WORKDAY
                                        : 0;
}

int applications_calendar_refresh(applications_calendar *h, PGconn *conn, int force,
                                  yw_pg_error *err) {
  long long now = mono_ms(), asked = atomic_load(&h->asked_ms);
  if (!force && asked != 0 && now - asked < h->check_ms) return 0;
  atomic_store(&h->asked_ms, now);
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT version FROM applications.calendar_state", 0, NULL, &r, err);
  if (rc != 0) return rc;
  long long version = PQntuples(r) == 1 ? yw_col_ll(r, 0, 0) : 0;
  PQclear(r);
  if (version == applications_calendar_version(h)) return 0;
  /* the rows and the version they belong to, in one snapshot */
  rc = yw_pg_query(conn,
                   "SELECT s.version, to_char(d.day, 'YYYY-MM-DD'), d.kind, d.name"
                   " FROM applications.calendar_state s"
                   " LEFT JOIN applications.calendar_days d ON true ORDER BY d.day LIMIT 10001",
                   0, NULL, &r, err);
  if (rc != 0) return rc;
  struct yw_workdays *cal = yw_workdays_new();
  int ok = cal != NULL && PQntuples(r) >= 1 && PQntuples(r) <= YW_WORKDAYS_MAX_ENTRIES;
  if (ok) version = yw_col_ll(r, 0, 0);
  for (int i = 0; ok && i < PQntuples(r); i++) {
    if (PQgetisnull(r, i, 1)) continue; /* no rows: the one row of the state */
    yw_day d;
    ok = yw_day_parse(PQgetvalue(r, i, 1), 10, &d) == 0 &&
         yw_workdays_set(cal, d, kind_of(PQgetvalue(r, i, 2)), PQgetvalue(r, i, 3)) == 0;
  }
  PQclear(r);
  struct snap *s = ok ? snap_new(cal, version) : NULL;
  if (s == NULL) {
    yw_workdays_free(cal);
    if (err != NULL) {
      memset(err, 0, sizeof *err);
      snprintf(err->message, sizeof err->message, "the stored calendar cannot be read");
    }
    atomic_store(&h->asked_ms, 0);
    return YW_EINTERNAL;
  }
  swap_in(h, s);
  return 0;
}

/* The entries of cal as a JSON array [{"day":..,"kind":..,"name":..}] (malloc'd text). */
static char *entries_json(const struct yw_workdays *cal) {
  json_t *arr = json_array();
  size_t n = yw_workdays_count(cal);
  for (size_t i = 0; arr != NULL && i < n; i++) {
    struct yw_workdays_entry e;
    char day[YW_DAY_STRLEN];
    if (yw_workdays_entry(cal, i, &e) != 0 || yw_day_format(e.day, day, sizeof day) != 0 ||
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "day", day, "kind",
                                             e.kind == YW_WORKDAYS_HOLIDAY ? "holiday" : "workday",
                                             "name", e.name)) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  char *text = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  return text;
}

/* Inserts the entries of cal (already checked). */
static int insert_entries(PGconn *conn, const struct yw_workdays *cal, yw_pg_error *err) {
  if (yw_workdays_count(cal) == 0) return 0;
  char *json = entries_json(cal);
  if (json == NULL) return YW_ENOMEM;
  const char *p[] = {json};
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.calendar_days (day, kind, name)"
                       " SELECT x.day, x.kind, x.name FROM json_to_recordset($1::json)"
                       " AS x(day date, kind text, name text)",
                       1, p, NULL, err);
  free(json);
  return rc;
}

int applications_calendar_seed(PGconn *conn, const struct yw_workdays *seed, int *stored,
                               yw_pg_error *err) {
  if (stored != NULL) *stored = 0;
  if (seed == NULL || yw_workdays_count(seed) == 0) return 0;
  int rc = yw_pg_begin(conn, err);
  if (rc != 0) return rc;
  PGresult *r = NULL;
  /* the state row locked: two copies starting together seed once */
  rc = yw_pg_query(conn,
                   "SELECT NOT EXISTS (SELECT 1 FROM applications.calendar_days)"
                   " FROM applications.calendar_state FOR UPDATE",
                   0, NULL, &r, err);
  int empty = rc == 0 && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  if (r != NULL) PQclear(r);
  if (rc == 0 && empty) rc = insert_entries(conn, seed, err);
  if (rc == 0 && empty)
    rc = yw_pg_query(conn,
                     "UPDATE applications.calendar_state SET version = version + 1, updated_at = now()",
                     0, NULL, NULL, err);
  if (rc == 0) rc = yw_pg_commit(conn, err);
  if (rc != 0) {
    yw_pg_rollback(conn);
    return rc;
  }
  if (stored != NULL && empty) *stored = (int)yw_workdays_count(seed);
  return 0;
}

/* ---- the handlers ------------------------------------------------------------------ */

static int check_year(yw_rpc_call *call, int year) {
  if (year < YW_WORKDAYS_YEAR_MIN || year > YW_WORKDAYS_YEAR_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "year must be from %d to %d", YW_WORKDAYS_YEAR_MIN,
                            YW_WORKDAYS_YEAR_MAX);
  return 0;
}

/* The year's rows and the calendar's version into a Calendar in the call's arena. */
static int read_year(yw_rpc_call *call, PGconn *conn, int year, ProtobufCMessage **out,
                     yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  char y[16];
  snprintf(y, sizeof y, "%d", year);
  const char *p[] = {y};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT to_char(d.day, 'YYYY-MM-DD'), d.kind, d.name,"
                       " (SELECT version FROM applications.calendar_state)"
                       " FROM applications.calendar_days d"
                       " WHERE d.day >= make_date($1::int, 1, 1) AND d.day < make_date($1::int + 1, 1, 1)"
                       " ORDER BY d.day",
                       1, p, &r, err);
  if (rc == 0 && PQntuples(r) == 0) {
    PQclear(r);
    rc = yw_pg_query(conn, "SELECT NULL, NULL, NULL, version FROM applications.calendar_state", 0,
                     NULL, &r, err);
  }
  if (rc != 0) return rc;
  Yiwang__Applications__V1__Calendar *c = yw_arena_alloc(a, sizeof *c);
  int n = PQntuples(r);
  if (c != NULL) {
    yiwang__applications__v1__calendar__init(c);
    c->year = year;
    c->version = n > 0 ? yw_col_ll(r, 0, 3) : 0;
    c->days = yw_arena_calloc(a, (size_t)n + 1, sizeof *c->days);
  }
  for (int i = 0; c != NULL && c->days != NULL && i < n; i++) {
    if (PQgetisnull(r, i, 0)) continue;
    CalendarDay *d = yw_arena_alloc(a, sizeof *d);
    if (d == NULL) break;
    yiwang__applications__v1__calendar_day__init(d);
    d->date = yw_col_str(a, r, i, 0);
    d->kind = strcmp(PQgetvalue(r, i, 1), "holiday") == 0
                  ? YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__HOLIDAY
                  : YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__WORKDAY;
    d->name = yw_col_str(a, r, i, 2);
    if (d->date == NULL || d->name == NULL) break;
    c->days[c->n_days++] = d;
  }
  PQclear(r);
  if (c == NULL || c->days == NULL) return YW_ENOMEM;
  *out = &c->base;
  return 0;
}

struct put_work {
  applications_ctx *ctx;
  yw_caller caller;
  int year;
  const struct yw_workdays *cal;
  ProtobufCMessage *out;
};

static int put_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct put_work *w = arg;
  char y[16], n[16];
  snprintf(y, sizeof y, "%d", w->year);
  snprintf(n, sizeof n, "%zu", yw_workdays_count(w->cal));
  const char *p[] = {y};
  int rc = yw_pg_query(conn,
                       "DELETE FROM applications.calendar_days"
                       " WHERE day >= make_date($1::int, 1, 1) AND day < make_date($1::int + 1, 1, 1)",
                       1, p, NULL, err);
  if (rc == 0) rc = insert_entries(conn, w->cal, err);
  if (rc != 0) return rc;
  const char *pa[] = {w->caller.subject, y, n, yw_rpc_call_request_id(call), w->caller.ip};
  rc = yw_pg_query(conn,
                   "WITH v AS (UPDATE applications.calendar_state SET version = version + 1,"
                   " updated_at = now() RETURNING version)"
                   " INSERT INTO applications.calendar_loads (actor, year, days, version,"
                   " request_id, source_ip) SELECT $1, $2::int, $3::int, v.version, $4, $5 FROM v",
                   5, pa, NULL, err);
  if (rc != 0) return rc;
  return read_year(call, conn, w->year, &w->out, err);
}

/* The request's entries into cal, all checked: every day inside year, at most
 * YEAR_DAYS_MAX. Returns 0 or YW_EINVAL (status set, naming the entry or line). */
static int entries_of(yw_rpc_call *call, const Yiwang__Applications__V1__PutCalendarRequest *req,
                      struct yw_workdays *cal) {
  size_t csv_len = strlen(req->csv);
  if (csv_len > 0 && req->n_days > 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "give either days or csv, not both");
  if (csv_len > CSV_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "csv is larger than %d bytes", CSV_MAX);
  if (req->n_days > YEAR_DAYS_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "days holds more than %d entries", YEAR_DAYS_MAX);
  if (csv_len > 0) {
    int line = 0;
    const char *reason = NULL;
    int rc = yw_workdays_parse_csv(cal, req->csv, csv_len, &line, &reason);
    if (rc != 0)
      return yw_rpc_call_fail(call, YW_EINVAL, "csv line %d: %s", line,
                              reason != NULL ? reason : "is refused");
  }
  for (size_t i = 0; i < req->n_days; i++) {
    const CalendarDay *d = req->days[i];
    yw_day day;
    if (yw_day_parse(d->date, strlen(d->date), &day) != 0)
      return yw_rpc_call_fail(call, YW_EINVAL, "days[%zu].date must be a date YYYY-MM-DD", i);
    int kind = d->kind == YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__HOLIDAY ? YW_WORKDAYS_HOLIDAY
               : d->kind == YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__WORKDAY ? YW_WORKDAYS_WORKDAY
                                                                                  : 0;
    if (kind == 0) return yw_rpc_call_fail(call, YW_EINVAL, "days[%zu].kind must be HOLIDAY or WORKDAY", i);
    int rc = yw_workdays_set(cal, day, kind, d->name);
    if (rc == YW_EEXIST)
      return yw_rpc_call_fail(call, YW_EINVAL, "days[%zu]: %s is given twice", i, d->date);
    if (rc != 0)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              kind == YW_WORKDAYS_WORKDAY
                                  ? "days[%zu]: a make-up working day must be a Saturday or Sunday,"
                                    " and a name under 64 bytes without commas"
                                  : "days[%zu]: the name must be under 64 bytes without commas",
                              i);
  }
  size_t n = yw_workdays_count(cal);
  if (n > YEAR_DAYS_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "csv holds more than %d entries", YEAR_DAYS_MAX);
  for (size_t i = 0; i < n; i++) {
    struct yw_workdays_entry e;
    int y = 0;
    char day[YW_DAY_STRLEN] = "";
    if (yw_workdays_entry(cal, i, &e) != 0 || yw_day_to_ymd(e.day, &y, NULL, NULL) != 0)
      return YW_EINTERNAL;
    if (y != req->year) {
      yw_day_format(e.day, day, sizeof day);
      return yw_rpc_call_fail(call, YW_EINVAL, "%s is not in %d (entry %zu)", day, req->year, i + 1);
    }
  }
  return 0;
}

int applications_put_calendar(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__PutCalendarRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  struct put_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "platform_admin",
                                    "loading the working-day calendar", &w->caller);
  if (rc != 0) return rc;
  if ((rc = check_year(call, req->year)) != 0) return rc;
  struct yw_workdays *cal = yw_workdays_new();
  if (cal == NULL) return YW_ENOMEM;
  rc = entries_of(call, req, cal);
  if (rc == 0) {
    w->ctx = ctx;
    w->year = req->year;
    w->cal = cal;
    rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, put_tx, w);
  }
  yw_workdays_free(cal);
  if (rc != 0) return rc;
  applications_calendar_invalidate(ctx->calendar); /* this copy reloads at its next use */
  *out = w->out;
  return 0;
}

struct get_work {
  int year;
  ProtobufCMessage *out;
};

static int get_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct get_work *w = arg;
  return read_year(call, conn, w->year, &w->out, err);
}

int applications_get_calendar(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__GetCalendarRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  int rc = check_year(call, req->year);
  if (rc != 0) return rc;
  struct get_work w = {.year = req->year};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_tx, &w);
  if (rc != 0) return rc;
  *out = w.out;
  return 0;
}
