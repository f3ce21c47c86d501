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
 * records who loaded which year with how many days (applications.calendar_loads). In the
 * same transaction the due dates of the running applications due in or after that year
 * are counted again with the new days (applications_due_date, the steps' function), in
 * batches within the call's deadline, and the load's record says how many changed. A
 * due date counted through a year without its notice is logged and counted
 * (applications_calendar_note_uncovered, yw_calendar_uncovered_total on /metrics).
 *
 * Offers: applications_calendar_new, _free, _acquire, _release, _version, _refresh,
 * _invalidate, _seed, _note_uncovered, _uncovered_total, _metrics,
 * applications_put_calendar, applications_get_calendar.
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
#include "supervision.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define DB "the applications database"
#define YEAR_DAYS_MAX 366
#define CSV_MAX (64 * 1024)
#define RECOMPUTE_BATCH 200

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

/* The calendar as conn sees it now (its own transaction's uncommitted rows too) into
 * *out with its version. Returns 0, a query's code (err) or YW_EINTERNAL. */
static int calendar_load(PGconn *conn, struct yw_workdays **out, long long *version,
                         yw_pg_error *err) {
  PGresult *r = NULL;
  /* the rows and the version they belong to, in one snapshot */
  int rc = yw_pg_query(conn,
                       "SELECT s.version, to_char(d.day, 'YYYY-MM-DD'), d.kind, d.name"
                       " FROM applications.calendar_state s"
                       " LEFT JOIN applications.calendar_days d ON true ORDER BY d.day LIMIT 10001",
                       0, NULL, &r, err);
  if (rc != 0) return rc;
  struct yw_workdays *cal = yw_workdays_new();
  int ok = cal != NULL && PQntuples(r) >= 1 && PQntuples(r) <= YW_WORKDAYS_MAX_ENTRIES;
  if (ok) *version = yw_col_ll(r, 0, 0);
  for (int i = 0; ok && i < PQntuples(r); i++) {
    if (PQgetisnull(r, i, 1)) continue; /* no rows: the one row of the state */
    yw_day d;
    ok = yw_day_parse(PQgetvalue(r, i, 1), 10, &d) == 0 &&
         yw_workdays_set(cal, d, kind_of(PQgetvalue(r, i, 2)), PQgetvalue(r, i, 3)) == 0;
  }
  PQclear(r);
  if (!ok) {
    yw_workdays_free(cal);
    if (err != NULL) {
      memset(err, 0, sizeof *err);
      snprintf(err->message, sizeof err->message, "the stored calendar cannot be read");
    }
    return YW_EINTERNAL;
  }
  *out = cal;
  return 0;
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
  struct yw_workdays *cal = NULL;
  rc = calendar_load(conn, &cal, &version, err);
  struct snap *s = rc == 0 ? snap_new(cal, version) : NULL;
  if (s == NULL) {
    yw_workdays_free(cal);
    atomic_store(&h->asked_ms, 0);
    return rc != 0 ? rc : YW_ENOMEM;
  }
  swap_in(h, s);
  return 0;
}

/* ---- years not loaded ---------------------------------------------------------------- */

static atomic_llong uncovered_total;
static atomic_llong uncovered_logged_ms;

void applications_calendar_note_uncovered(int year) {
  atomic_fetch_add(&uncovered_total, 1);
  long long now = mono_ms(), last = atomic_load(&uncovered_logged_ms);
  if ((last == 0 || now - last >= 60000) &&
      atomic_compare_exchange_strong(&uncovered_logged_ms, &last, now))
    yw_log(YW_LOG_WARN, "applications.calendar_year_missing", NULL,
           "a due date runs through %d, whose holiday notice is not loaded (weekends only):"
           " load it with PUT /v1/calendar/%d",
           year, year);
}

long long applications_calendar_uncovered_total(void) { return atomic_load(&uncovered_total); }

int applications_calendar_metrics(char *buf, size_t len) {
  int n = snprintf(buf, len,
                   "# HELP yw_calendar_uncovered_total due dates counted through a year whose"
                   " holiday notice is not loaded\n"
                   "# TYPE yw_calendar_uncovered_total counter\n"
                   "yw_calendar_uncovered_total %lld\n",
                   atomic_load(&uncovered_total));
  return n < 0 || (size_t)n >= len ? YW_ETOOBIG : n;
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

/* With the year's rows replaced (uncommitted, in this transaction): the due dates of the
 * running applications due in or after the year again with applications_due_date (pauses
 * included) and the calendar as this transaction sees it, RECOMPUTE_BATCH rows a
 * statement in id order, each changed one stored (the queue's rows follow by the table's
 * trigger) and coloured again as a pass would (supervision_recolour). Bounded by the
 * call's deadline (the statements' too). *changed counts the changed due dates. */
static int recompute_due_dates(yw_rpc_call *call, PGconn *conn, int year, int *changed,
                               yw_pg_error *err) {
  struct yw_workdays *cal = NULL;
  long long version = 0;
  int rc = calendar_load(conn, &cal, &version, err);
  if (rc != 0) return rc;
  yw_day today = 0;
  if (yw_day_from_time(time(NULL), &today) != 0) rc = YW_EINTERNAL;
  char y[16], last[24] = "0", limit[16];
  snprintf(y, sizeof y, "%d", year);
  snprintf(limit, sizeof limit, "%d", RECOMPUTE_BATCH);
  for (int n = RECOMPUTE_BATCH; rc == 0 && n == RECOMPUTE_BATCH;) {
    if (yw_rpc_call_cancelled(call)) {
      rc = yw_rpc_call_fail(call, YW_ETIMEOUT, "the due dates of %d could not be recomputed in time",
                            year);
      break;
    }
    const char *p[] = {y, last, limit};
    PGresult *r = NULL;
    rc = yw_pg_query(conn,
                     "SELECT id, promised_days, to_char(due_date, 'YYYY-MM-DD')"
                     " FROM applications.applications"
                     " WHERE status IN ('accepted', 'in_review', 'resubmitted')"
                     " AND due_date >= make_date($1::int, 1, 1) AND id > $2::bigint"
                     " ORDER BY id LIMIT $3::int FOR UPDATE",
                     3, p, &r, err);
    if (rc != 0) break;
    n = PQntuples(r);
    json_t *changes = json_array();
    size_t cap = (size_t)n * 21 + 3, o = 0;
    char *ids = malloc(cap);
    if (changes == NULL || ids == NULL) rc = YW_ENOMEM;
    if (ids != NULL) ids[o++] = '{';
    for (int i = 0; rc == 0 && i < n; i++) {
      const char *id = PQgetvalue(r, i, 0);
      yw_day due = 0;
      char text[YW_DAY_STRLEN];
      rc = applications_due_date(conn, cal, id, (int)yw_col_ll(r, i, 1), &due, err);
      if (rc == YW_EINVAL) {
        rc = 0; /* not computable (as a step would say): left as it is */
        continue;
      }
      if (rc == 0 && yw_day_format(due, text, sizeof text) != 0) rc = YW_EINTERNAL;
      if (rc != 0 || strcmp(text, PQgetvalue(r, i, 2)) == 0) continue;
      if (json_array_append_new(changes, json_pack("{s:s,s:s}", "id", id, "due", text)) != 0)
        rc = YW_ENOMEM;
      o += (size_t)snprintf(ids + o, cap - o, "%s%.20s", o > 1 ? "," : "", id);
    }
    if (n > 0) snprintf(last, sizeof last, "%.20s", PQgetvalue(r, n - 1, 0));
    PQclear(r);
    if (rc == 0 && json_array_size(changes) > 0) {
      snprintf(ids + o, cap - o, "}");
      char *text = json_dumps(changes, JSON_COMPACT);
      const char *pu[] = {text};
      rc = text == NULL ? YW_ENOMEM
                        : yw_pg_query(conn,
                                      "UPDATE applications.applications a SET due_date = x.due"
                                      " FROM json_to_recordset($1::json) AS x(id bigint, due date)"
                                      " WHERE a.id = x.id",
                                      1, pu, NULL, err);
      free(text);
      supervision_result sres;
      memset(&sres, 0, sizeof sres);
      if (rc == 0) rc = supervision_recolour(conn, cal, today, ids, &sres, NULL, err);
      if (rc == 0) *changed += (int)json_array_size(changes);
    }
    json_decref(changes);
    free(ids);
  }
  yw_workdays_free(cal);
  return rc;
}

static int put_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct put_work *w = arg;
  char y[16], n[16], c[16];
  snprintf(y, sizeof y, "%d", w->year);
  snprintf(n, sizeof n, "%zu", yw_workdays_count(w->cal));
  const char *p[] = {y};
  int rc = yw_pg_query(conn,
                       "DELETE FROM applications.calendar_days"
                       " WHERE day >= make_date($1::int, 1, 1) AND day < make_date($1::int + 1, 1, 1)",
                       1, p, NULL, err);
  if (rc == 0) rc = insert_entries(conn, w->cal, err);
  int changed = 0;
  if (rc == 0) rc = recompute_due_dates(call, conn, w->year, &changed, err);
  if (rc != 0) return rc;
  snprintf(c, sizeof c, "%d", changed);
  const char *pa[] = {w->caller.subject, y, n, yw_rpc_call_request_id(call), w->caller.ip, c};
  rc = yw_pg_query(conn,
                   "WITH v AS (UPDATE applications.calendar_state SET version = version + 1,"
                   " updated_at = now() RETURNING version)"
                   " INSERT INTO applications.calendar_loads (actor, year, days, version,"
                   " request_id, source_ip, due_dates_changed)"
                   " SELECT $1, $2::int, $3::int, v.version, $4, $5, $6::int FROM v",
                   6, pa, NULL, err);
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
