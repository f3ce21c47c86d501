/*
 * test_supervision.c - yw-applications' working-day calendar and supervision job (电子监察)
 * on the real runtime, PostgreSQL and Redis: the service serves in this process on a real
 * gRPC connection, callers are signed as the gateway signs them, applications are rows
 * of a fresh database.
 *
 * Proves: the demo seed (the 2026 notice) fills an empty calendar once; a platform administrator replaces one year of the calendar (JSON or CSV), other
 * years untouched, each load audited with who and how many days, anyone reads it; a
 * clerk is refused; malformed input (a bad CSV line, a day outside the year, a make-up
 * day on a weekday, a date twice, both forms, too many days, a year out of range) is
 * INVALID_ARGUMENT naming the line or entry and leaves every row as it was; a due date
 * is counted with the calendar loaded through the service and with a change another copy
 * made in the database; readers never see a calendar freed or torn while reloads swap
 * it (run under ASan by ./dev test); the supervision pass, on a day the test chooses: due in one
 * working day across holidays is YELLOW (weekends alone would say three: GREEN), past due
 * RED, far GREEN, paused for a supplement or not accepted none, each change one
 * application.supervision_changed in the outbox and the queue's rows coloured, the
 * applications' own rows untouched; a second pass changes nothing and writes no event;
 * a limit that stops running loses its colour; the work queue filters by colour and puts
 * red then yellow first; two passes at once mark each application once; a database that
 * does not answer fails a pass within its deadline and the next pass does the work.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "applications.h"
#include "calendar.h"
#include "supervision.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/events/v1/applications.pb-c.h"
#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_log.h"
#include "yw_testdb.h"
#include "yw_testrpc.h"
#include "yw_workdays.h"

#define SVC "/yiwang.applications.v1.ApplicationsService/"
#define DEPT "320700-JD"   /* the supervision tests' department */
#define DEPT2 "320700-ZJ"  /* the due-date test's */
#define RACE 60

typedef Yiwang__Applications__V1__Application Application;
typedef Yiwang__Applications__V1__Calendar Calendar;
typedef Yiwang__Applications__V1__CalendarDay CalendarDay;

static char dsn[512];
static applications_ctx app;
static yw_rpc_service svc;
static yw_test_rpc rpc;

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 8, &app.pool, &err) != 0) return -1;
  app.db_wait_ms = 5000;
  uint8_t key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 5 + 3);
  if (yw_caller_keys_init(&app.caller_keys, key, NULL, 30) != 0) return -1;
  if (yw_test_redis_open(500, 2, &app.redis) != 0) return -1;
  app.redis_prefix = "test-supervision";
  PGconn *c = yw_pg_pool_acquire(app.pool, 1000);
  int rc = yw_pg_migrate(c, "applications", applications_migrations, applications_migrations_count, &err);
  if (rc == 0) rc = yw_events_migrate(c, "applications", &err);
  if (rc == 0) rc = yw_idem_migrate(c, "applications", &err);
  yw_pg_pool_release(app.pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  /* check_ms 0: every due date asks for the calendar's version */
  if ((app.calendar = applications_calendar_new(NULL, 0)) == NULL) return -1;
  applications_service_init(&svc, &app);
  return yw_test_rpc_start(&svc, 4, 1, &rpc);
}

static int teardown(void **state) {
  (void)state;
  yw_test_rpc_stop(&rpc);
  applications_calendar_free(app.calendar);
  yw_redis_free(app.redis);
  yw_pg_pool_free(app.pool);
  yw_testdb_drop();
  return 0;
}

/* ---- helpers ----------------------------------------------------------------------- */

typedef struct as {
  const char *subject;
  const char *roles;
  const char *dept;
} as;

static const as ADMIN = {"s-admin", "platform_admin", ""};
static const as CLERK = {"s-clerk", "dept_staff", DEPT};
static const as CLERK2 = {"s-clerk2", "dept_staff", DEPT2};

static grpc_status_code call_as(const as *who, const char *method, const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
                                char *msg, size_t msglen) {
  char path[128];
  snprintf(path, sizeof path, SVC "%s", method);
  grpc_status_code st = GRPC_STATUS_OK;
  ProtobufCMessage *got = NULL;
  char ignored[256];
  if (msg == NULL) {
    msg = ignored;
    msglen = sizeof ignored;
  }
  if (who == NULL) {
    st = yw_rpc_call_sync(rpc.channel, path, req, out_desc, NULL, &got, NULL, 0, 20000, msg, msglen);
  } else {
    yw_caller c;
    memset(&c, 0, sizeof c);
    c.kind = YW_CALLER_STAFF;
    snprintf(c.subject, sizeof c.subject, "%s", who->subject);
    snprintf(c.roles, sizeof c.roles, "%s", who->roles);
    snprintf(c.department, sizeof c.department, "%s", who->dept);
    snprintf(c.session, sizeof c.session, "sid");
    snprintf(c.ip, sizeof c.ip, "10.0.0.9");
    c.ts = (long long)time(NULL);
    char value[YW_CALLER_VALUE_MAX], sig[65];
    if (yw_caller_encode(&c, app.caller_keys.current, path, "", value, sizeof value, sig) != 0)
      return GRPC_STATUS_INTERNAL;
    yw_rpc_md md[2] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0}};
    st = yw_rpc_call_sync(rpc.channel, path, req, out_desc, NULL, &got, md, 2, 20000, msg, msglen);
  }
  if (out != NULL)
    *out = got;
  else if (got != NULL)
    protobuf_c_message_free_unpacked(got, NULL);
  return st;
}

/* One value of a query as text (params: up to 2, NULL-terminated list). */
static void query1(const char *sql, const char *p1, const char *p2, char *out, size_t size) {
  PGconn *c = yw_pg_pool_acquire(app.pool, 2000);
  assert_non_null(c);
  const char *p[] = {p1, p2};
  int n = p1 == NULL ? 0 : p2 == NULL ? 1 : 2;
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(c, sql, n, p, &r, &err);
  yw_pg_pool_release(app.pool, c);
  if (rc != 0) fprintf(stderr, "%s: %s\n", sql, err.message);
  assert_int_equal(rc, 0);
  snprintf(out, size, "%s", PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
}

static long long count(const char *sql, const char *p1) {
  char v[32];
  query1(sql, p1, NULL, v, sizeof v);
  return strtoll(v, NULL, 10);
}

/* Everything the calendar tables hold, as one text, to see that a refusal changed nothing. */
static void calendar_state(char *out, size_t size) {
  query1("SELECT (SELECT version FROM applications.calendar_state) || '|' ||"
         " (SELECT count(*) FROM applications.calendar_loads) || '|' ||"
         " COALESCE((SELECT string_agg(day || kind || name, ',' ORDER BY day)"
         " FROM applications.calendar_days), '')",
         NULL, NULL, out, size);
}

static grpc_status_code put_calendar(const as *who, int year, const char *csv, CalendarDay **days,
                                     size_t n, Calendar **out, char *msg, size_t msglen) {
  Yiwang__Applications__V1__PutCalendarRequest req = YIWANG__APPLICATIONS__V1__PUT_CALENDAR_REQUEST__INIT;
  req.year = year;
  req.csv = (char *)(csv != NULL ? csv : "");
  req.days = days;
  req.n_days = n;
  return call_as(who, "PutCalendar", &req.base, &yiwang__applications__v1__calendar__descriptor,
                 (ProtobufCMessage **)out, msg, msglen);
}

static CalendarDay *day_of(CalendarDay *d, const char *date, int holiday, const char *name) {
  yiwang__applications__v1__calendar_day__init(d);
  d->date = (char *)date;
  d->kind = holiday ? YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__HOLIDAY
                    : YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__WORKDAY;
  d->name = (char *)name;
  return d;
}

/* Files an application directly (as a filing would leave it): status, due date ("" none),
 * lead department dept. Returns its number in out. */
static void application(int seq, const char *dept, const char *status, const char *due, char out[24]) {
  snprintf(out, 24, "32070020300411%06u", (unsigned)seq % 1000000u);
  char enc[128], p2[384]; /* the empty form, encrypted as the service keeps it */
  assert_int_equal(yw_encrypt(app.data_key, "{}", 2, out, enc, sizeof enc), 0);
  snprintf(p2, sizeof p2, "%s|%s|%s|%s", dept, status, due, enc);
  char v[32];
  query1("WITH x AS (SELECT split_part($2, '|', 1) AS dept, split_part($2, '|', 2) AS status,"
         " NULLIF(split_part($2, '|', 3), '')::date AS due)"
         " INSERT INTO applications.applications (number, query_code_mac, applicant_subject,"
         " applicant_kind, impl_code, item_version, item_name, region_code, lead_department,"
         " departments, promised_days, form_enc, status, due_date, accepted_at)"
         " SELECT $1, repeat('a', 64), 'p-resident', 'person', 'GG00001000-320700-GA', 1, '事项',"
         " '320700', x.dept, ARRAY[x.dept], 1, split_part($2, '|', 4), x.status, x.due,"
         " CASE WHEN x.due IS NULL THEN NULL ELSE now() END FROM x RETURNING id",
         out, p2, v, sizeof v);
  assert_true(v[0] != '\0');
}

static long long events(const char *type) {
  return count("SELECT count(*) FROM applications.outbox WHERE type = $1", type);
}

/* ---- the calendar ------------------------------------------------------------------- */

/* The demo seed (the 2026 notice) parses, fills an empty calendar once, and is what the
 * service then counts with; an empty load clears the year again. */
static void test_the_seed_fills_an_empty_calendar_once(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/services/applications/seed/holidays_2026.csv", YW_SOURCE_DIR);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char text[16384];
  size_t len = fread(text, 1, sizeof text, f);
  fclose(f);
  struct yw_workdays *seed = yw_workdays_new();
  int line = 0;
  assert_int_equal(yw_workdays_parse_csv(seed, text, len, &line, NULL), 0);
  assert_int_equal(yw_workdays_count(seed), 39);
  long long v0 = count("SELECT version FROM applications.calendar_state", NULL);
  PGconn *c = yw_pg_pool_acquire(app.pool, 2000);
  int stored = -1;
  assert_int_equal(applications_calendar_seed(c, seed, &stored, NULL), 0);
  assert_int_equal(stored, 39);
  assert_int_equal(applications_calendar_seed(c, seed, &stored, NULL), 0);
  assert_int_equal(stored, 0); /* not empty any more: nothing stored */
  assert_int_equal(applications_calendar_refresh(app.calendar, c, 0, NULL), 0);
  yw_pg_pool_release(app.pool, c);
  yw_workdays_free(seed);
  assert_int_equal(count("SELECT version FROM applications.calendar_state", NULL), v0 + 1);
  assert_int_equal(applications_calendar_version(app.calendar), v0 + 1);
  void *ref = NULL;
  const struct yw_workdays *cal = applications_calendar_acquire(app.calendar, &ref);
  yw_day national, makeup;
  yw_day_parse("2026-10-01", 10, &national);
  yw_day_parse("2026-10-10", 10, &makeup); /* a Saturday worked (调休上班) */
  assert_int_equal(yw_workdays_is_workday(cal, national), 0);
  assert_int_equal(yw_workdays_is_workday(cal, makeup), 1);
  applications_calendar_release(ref);
  /* an empty load clears the year: the tests after this one count weekends in 2026 */
  assert_int_equal(put_calendar(&ADMIN, 2026, NULL, NULL, 0, NULL, NULL, 0), GRPC_STATUS_OK);
  assert_int_equal(count("SELECT count(*) FROM applications.calendar_days", NULL), 0);
}

static void test_a_year_is_replaced_audited_and_read_by_anyone(void **state) {
  (void)state;
  CalendarDay d[3], *dp[3];
  dp[0] = day_of(&d[0], "2031-01-01", 1, "元旦");
  Calendar *cal = NULL;
  assert_int_equal(put_calendar(&ADMIN, 2031, NULL, dp, 1, &cal, NULL, 0), GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&cal->base, NULL);
  long long v0 = count("SELECT version FROM applications.calendar_state", NULL);

  dp[0] = day_of(&d[0], "2030-04-12", 1, "测试假日");
  dp[1] = day_of(&d[1], "2030-04-15", 1, "测试假日");
  dp[2] = day_of(&d[2], "2030-04-20", 0, "调休上班");
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, dp, 3, &cal, NULL, 0), GRPC_STATUS_OK);
  assert_int_equal(cal->year, 2030);
  assert_int_equal(cal->n_days, 3);
  assert_int_equal(cal->version, v0 + 1);
  assert_string_equal(cal->days[2]->date, "2030-04-20");
  assert_int_equal(cal->days[2]->kind, YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__WORKDAY);
  protobuf_c_message_free_unpacked(&cal->base, NULL);

  /* the CSV form replaces the year's rows: the old ones of 2030 are gone */
  assert_int_equal(put_calendar(&ADMIN, 2030, "# a notice\n2030-10-01,holiday,国庆节\n\n2030-10-02,holiday,国庆节\n",
                                NULL, 0, &cal, NULL, 0),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&cal->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.calendar_days WHERE day < '2031-01-01'", NULL), 2);
  assert_int_equal(count("SELECT count(*) FROM applications.calendar_days WHERE day >= '2031-01-01'", NULL), 1);
  /* audited: who, which year, how many days, the version it made */
  char audit[128];
  query1("SELECT actor || '|' || year || '|' || days || '|' || version || '|' || source_ip"
         " FROM applications.calendar_loads ORDER BY id DESC LIMIT 1",
         NULL, NULL, audit, sizeof audit);
  char want[128];
  snprintf(want, sizeof want, "s-admin|2030|2|%lld|10.0.0.9", v0 + 2);
  assert_string_equal(audit, want);

  /* anyone reads it; a clerk may not load it and changes nothing */
  Yiwang__Applications__V1__GetCalendarRequest g = YIWANG__APPLICATIONS__V1__GET_CALENDAR_REQUEST__INIT;
  g.year = 2030;
  assert_int_equal(call_as(NULL, "GetCalendar", &g.base, &yiwang__applications__v1__calendar__descriptor,
                           (ProtobufCMessage **)&cal, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(cal->n_days, 2);
  assert_string_equal(cal->days[0]->date, "2030-10-01");
  assert_string_equal(cal->days[0]->name, "国庆节");
  protobuf_c_message_free_unpacked(&cal->base, NULL);
  char before[4096], after[4096];
  calendar_state(before, sizeof before);
  assert_int_equal(put_calendar(&CLERK, 2030, NULL, NULL, 0, NULL, NULL, 0), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(put_calendar(NULL, 2030, NULL, NULL, 0, NULL, NULL, 0), GRPC_STATUS_UNAUTHENTICATED);
  calendar_state(after, sizeof after);
  assert_string_equal(before, after);
}

static void test_bad_calendar_input_is_refused_and_changes_nothing(void **state) {
  (void)state;
  char before[4096], after[4096], msg[256];
  calendar_state(before, sizeof before);
  CalendarDay d[2], *dp[2];
  assert_int_equal(put_calendar(&ADMIN, 2030, "2030-10-01,holiday,国庆节\n2030-10-02,holiday,国庆节\n2030-13-01,holiday,x\n",
                                NULL, 0, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "line 3"));
  assert_int_equal(put_calendar(&ADMIN, 2030, "2030-10-01,vacation,x\n", NULL, 0, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "line 1"));
  assert_int_equal(put_calendar(&ADMIN, 2030, "2030-10-01,holiday,国庆节\n2031-01-01,holiday,元旦\n", NULL,
                                0, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "2031-01-01 is not in 2030"));
  dp[0] = day_of(&d[0], "2030-04-16", 0, "调休"); /* a Tuesday cannot be a make-up working day */
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, dp, 1, NULL, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "days[0]"));
  dp[0] = day_of(&d[0], "2030-04-16", 1, "a");
  dp[1] = day_of(&d[1], "2030-04-16", 1, "b");
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, dp, 2, NULL, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "days[1]"));
  dp[0] = day_of(&d[0], "2030-4-16", 1, "a");
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, dp, 1, NULL, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  dp[0]->date = "2030-04-16";
  dp[0]->kind = YIWANG__APPLICATIONS__V1__CALENDAR_DAY_KIND__CALENDAR_DAY_KIND_UNSPECIFIED;
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, dp, 1, NULL, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  dp[0] = day_of(&d[0], "2030-04-16", 1, "a");
  assert_int_equal(put_calendar(&ADMIN, 2030, "2030-10-01,holiday,x\n", dp, 1, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(put_calendar(&ADMIN, 1999, NULL, NULL, 0, NULL, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  /* more days than a year has */
  static CalendarDay many[367];
  static CalendarDay *manyp[367];
  static char dates[367][11];
  for (int i = 0; i < 367; i++) {
    snprintf(dates[i], sizeof dates[i], "2030-01-%02d", i % 28 + 1);
    manyp[i] = day_of(&many[i], dates[i], 1, "");
  }
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, manyp, 367, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  calendar_state(after, sizeof after);
  assert_string_equal(before, after);
}

/* A due date counts with the calendar as loaded through this copy, and as another copy
 * changed it in the database (its version moved). */
static void test_due_dates_follow_the_calendar(void **state) {
  (void)state;
  char n1[24], n2[24], n3[24];
  application(901, DEPT2, "submitted", "", n1);
  application(902, DEPT2, "submitted", "", n2);
  application(903, DEPT2, "submitted", "", n3);
  Yiwang__Applications__V1__TransitionRequest t = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  t.department = DEPT2;
  t.reason = "";
  Application *a = NULL;
  t.number = n1;
  assert_int_equal(call_as(&CLERK2, "AcceptApplication", &t.base, &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  char due1[11];
  snprintf(due1, sizeof due1, "%s", a->due_date);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  yw_day d1;
  assert_int_equal(yw_day_parse(due1, 10, &d1), 0);
  int year = 0;
  yw_day_to_ymd(d1, &year, NULL, NULL);
  /* the day it fell on becomes a holiday: the next working day is due instead */
  char saved[4096];
  char ys[16];
  snprintf(ys, sizeof ys, "%d", year);
  query1("SELECT COALESCE(string_agg(day || ',' || kind || ',' || name, E'\\n' ORDER BY day), '')"
         " FROM applications.calendar_days WHERE extract(year FROM day) = $1::int",
         ys, NULL, saved, sizeof saved);
  char csv[4200];
  snprintf(csv, sizeof csv, "%s%s%s,holiday,测试", saved, saved[0] != '\0' ? "\n" : "", due1);
  assert_int_equal(put_calendar(&ADMIN, year, csv, NULL, 0, NULL, NULL, 0), GRPC_STATUS_OK);
  t.number = n2;
  assert_int_equal(call_as(&CLERK2, "AcceptApplication", &t.base, &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  struct yw_workdays *cal = yw_workdays_new();
  assert_int_equal(yw_workdays_set(cal, d1, YW_WORKDAYS_HOLIDAY, NULL), 0);
  yw_day today, want;
  assert_int_equal(yw_day_from_time(time(NULL), &today), 0);
  assert_int_equal(yw_workdays_add(cal, today, 1, NULL, 0, &want), 0);
  yw_workdays_free(cal);
  char want_s[YW_DAY_STRLEN];
  yw_day_format(want, want_s, sizeof want_s);
  assert_string_equal(a->due_date, want_s);
  assert_string_not_equal(a->due_date, due1);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* another copy takes the holiday back (its rows and the version, as its load would) */
  query1("WITH d AS (DELETE FROM applications.calendar_days WHERE day = $1::date RETURNING 1)"
         " UPDATE applications.calendar_state SET version = version + 1 RETURNING version",
         due1, NULL, saved, sizeof saved);
  t.number = n3;
  assert_int_equal(call_as(&CLERK2, "AcceptApplication", &t.base, &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  assert_string_equal(a->due_date, due1);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* out of the supervision tests' way (acceptance coloured them: no colour left either) */
  query1("WITH s AS (DELETE FROM applications.supervision s USING applications.applications a"
         " WHERE a.id = s.application_id AND a.lead_department = $1 RETURNING 1)"
         " UPDATE applications.applications SET status = 'withdrawn' WHERE lead_department = $1",
         DEPT2, NULL, saved, sizeof saved);
}

/* Handler threads read the calendar while reloads swap it: every reader sees a whole
 * calendar (one of the versions loaded), none is freed under a reader (ASan). */
static atomic_int readers_stop;
static void *read_calendar(void *arg) {
  long long *reads = arg;
  yw_day day;
  yw_day_parse("2030-10-01", 10, &day);
  while (!atomic_load(&readers_stop)) {
    void *ref = NULL;
    const struct yw_workdays *cal = applications_calendar_acquire(app.calendar, &ref);
    size_t n = yw_workdays_count(cal);
    int w = yw_workdays_is_workday(cal, day);
    applications_calendar_release(ref);
    if ((n == 0) != (w == 1)) return NULL; /* a torn calendar */
    (*reads)++;
  }
  return reads;
}

static void test_readers_never_see_a_freed_calendar_while_it_is_swapped(void **state) {
  (void)state;
  long long reads[4] = {0};
  pthread_t t[4];
  atomic_store(&readers_stop, 0);
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, read_calendar, &reads[i]), 0);
  PGconn *c = yw_pg_pool_acquire(app.pool, 2000);
  char v[32];
  for (int i = 0; i < 40; i++) {
    /* 2030-10-01 a holiday on even rounds, none on odd ones */
    query1(i % 2 == 0 ? "WITH d AS (INSERT INTO applications.calendar_days VALUES ('2030-10-01', 'holiday', '')"
                        " ON CONFLICT DO NOTHING RETURNING 1)"
                        " UPDATE applications.calendar_state SET version = version + 1 RETURNING version"
                      : "WITH d AS (DELETE FROM applications.calendar_days RETURNING 1)"
                        " UPDATE applications.calendar_state SET version = version + 1 RETURNING version",
           NULL, NULL, v, sizeof v);
    assert_int_equal(applications_calendar_refresh(app.calendar, c, 1, NULL), 0);
    assert_int_equal(applications_calendar_version(app.calendar), strtoll(v, NULL, 10));
  }
  yw_pg_pool_release(app.pool, c);
  atomic_store(&readers_stop, 1);
  for (int i = 0; i < 4; i++) {
    void *ok = NULL;
    pthread_join(t[i], &ok);
    assert_non_null(ok);
    assert_true(reads[i] > 0);
  }
}

/* ---- supervision -------------------------------------------------------------------- */

/* Thursday 2030-04-11; the calendar of the first test makes Friday 12th and Monday 15th
 * holidays again here. */
static yw_day today_2030(void) {
  yw_day d;
  assert_int_equal(yw_day_parse("2030-04-11", 10, &d), 0);
  return d;
}

static void test_a_pass_colours_by_working_days_and_a_second_changes_nothing(void **state) {
  (void)state;
  CalendarDay d[2], *dp[2];
  dp[0] = day_of(&d[0], "2030-04-12", 1, "测试假日");
  dp[1] = day_of(&d[1], "2030-04-15", 1, "测试假日");
  assert_int_equal(put_calendar(&ADMIN, 2030, NULL, dp, 2, NULL, NULL, 0), GRPC_STATUS_OK);
  char y[24], r[24], g[24], p[24], s[24];
  application(1, DEPT, "in_review", "2030-04-16", y);            /* 1 working day left */
  application(2, DEPT, "accepted", "2030-04-10", r);             /* past due */
  application(3, DEPT, "resubmitted", "2030-05-01", g);          /* far */
  application(4, DEPT, "supplement_requested", "2030-04-12", p); /* paused */
  application(5, DEPT, "submitted", "", s);                      /* not accepted yet */
  char updated[64], updated_after[64];
  query1("SELECT string_agg(updated_at::text, ',' ORDER BY id) FROM applications.applications",
         NULL, NULL, updated, sizeof updated);
  long long ev0 = events("application.supervision_changed");

  supervision_result res;
  assert_int_equal(supervision_pass(&app, today_2030(), 2, 10000, &res), 0); /* batches of 2 */
  assert_int_equal(res.skipped, 0);
  assert_int_equal(res.marked, 3);
  assert_int_equal(events("application.supervision_changed") - ev0, 3);
  char v[512];
  query1("SELECT string_agg(a.number || '=' || s.colour || ':' || s.days_left, ',' ORDER BY a.id)"
         " FROM applications.supervision s JOIN applications.applications a ON a.id = s.application_id",
         NULL, NULL, v, sizeof v);
  char want[512];
  snprintf(want, sizeof want, "%s=yellow:1,%s=red:-1,%s=green:12", y, r, g);
  assert_string_equal(v, want);
  query1("SELECT string_agg(number || '=' || supervision || urgency, ',' ORDER BY number)"
         " FROM applications.queue WHERE department = $1",
         DEPT, NULL, v, sizeof v);
  snprintf(want, sizeof want, "%s=yellow1,%s=red0,%s=green2,%s=none2,%s=none2", y, r, g, p, s);
  assert_string_equal(v, want);
  /* the event of the yellow one */
  PGconn *c = yw_pg_pool_acquire(app.pool, 2000);
  const char *pp[] = {y};
  PGresult *pr = NULL;
  assert_int_equal(yw_pg_query(c, "SELECT payload FROM applications.outbox WHERE aggregate_key = $1"
                                  " AND type = 'application.supervision_changed'",
                               1, pp, &pr, NULL),
                   0);
  assert_int_equal(PQntuples(pr), 1);
  size_t len = 0;
  unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(pr, 0, 0), &len);
  PQclear(pr);
  yw_pg_pool_release(app.pool, c);
  Yiwang__Events__V1__ApplicationSupervisionChanged *e =
      yiwang__events__v1__application_supervision_changed__unpack(NULL, len, raw);
  PQfreemem(raw);
  assert_non_null(e);
  assert_string_equal(e->number, y);
  assert_string_equal(e->colour, "YELLOW");
  assert_string_equal(e->due_date, "2030-04-16");
  assert_int_equal(e->working_days_left, 1);
  assert_string_equal(e->status, "IN_REVIEW");
  assert_int_equal(e->n_departments, 1);
  yiwang__events__v1__application_supervision_changed__free_unpacked(e, NULL);
  /* weekends alone would give it three working days: green */
  struct yw_workdays *weekends = yw_workdays_new();
  yw_day due;
  yw_day_parse("2030-04-16", 10, &due);
  assert_int_equal(supervision_colour_of(weekends, "in_review", 1, due, today_2030(), NULL),
                   YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__GREEN);
  yw_workdays_free(weekends);

  /* the applications' own rows are untouched; GetApplication shows the colour */
  query1("SELECT string_agg(updated_at::text, ',' ORDER BY id) FROM applications.applications",
         NULL, NULL, updated_after, sizeof updated_after);
  assert_string_equal(updated, updated_after);
  Yiwang__Applications__V1__GetApplicationRequest gr = YIWANG__APPLICATIONS__V1__GET_APPLICATION_REQUEST__INIT;
  gr.number = r;
  Application *a = NULL;
  assert_int_equal(call_as(&CLERK, "GetApplication", &gr.base, &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(a->supervision, YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__RED);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  /* a second pass on the same day: nothing changes, no event */
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 0);
  assert_true(res.checked >= 3);
  assert_int_equal(events("application.supervision_changed") - ev0, 3);

  /* the red one is withdrawn: its colour goes, with one event */
  query1("UPDATE applications.applications SET status = 'withdrawn' WHERE number = $1 RETURNING id",
         r, NULL, v, sizeof v);
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 1);
  assert_int_equal(events("application.supervision_changed") - ev0, 4);
  assert_int_equal(count("SELECT count(*) FROM applications.supervision s JOIN applications.applications a"
                         " ON a.id = s.application_id WHERE a.number = $1", r),
                   0);
  /* the next day the yellow one is due today (0 left: still yellow); the day after, red */
  yw_day next;
  yw_day_parse("2030-04-16", 10, &next);
  assert_int_equal(supervision_pass(&app, next, 200, 10000, &res), 0);
  assert_int_equal(res.marked, 0);
  assert_int_equal(supervision_pass(&app, next + 1, 200, 10000, &res), 0);
  assert_int_equal(res.marked, 1);
  query1("SELECT colour || days_left FROM applications.supervision s JOIN applications.applications a"
         " ON a.id = s.application_id WHERE a.number = $1",
         y, NULL, v, sizeof v);
  assert_string_equal(v, "red-1");
  /* back to the test's day for what follows */
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 1);
}

static void test_the_queue_filters_by_colour_and_puts_red_and_yellow_first(void **state) {
  (void)state;
  char r2[24];
  application(6, DEPT, "in_review", "2030-04-09", r2); /* red, due before the yellow one */
  supervision_result res;
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 1);
  Yiwang__Applications__V1__ListDepartmentApplicationsRequest q =
      YIWANG__APPLICATIONS__V1__LIST_DEPARTMENT_APPLICATIONS_REQUEST__INIT;
  q.department = DEPT;
  q.urgent_first = 1;
  q.page_size = 1;
  char seen[512] = "", token[256] = "";
  for (int pages = 0; pages < 10; pages++) {
    q.page_token = token;
    Yiwang__Applications__V1__ListApplicationsResponse *resp = NULL;
    assert_int_equal(call_as(&CLERK, "ListDepartmentApplications", &q.base,
                             &yiwang__applications__v1__list_applications_response__descriptor,
                             (ProtobufCMessage **)&resp, NULL, 0),
                     GRPC_STATUS_OK);
    for (size_t i = 0; i < resp->n_applications; i++) {
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
          &yiwang__applications__v1__supervision_colour__descriptor, (int)resp->applications[i]->supervision);
      size_t o = strlen(seen);
      snprintf(seen + o, sizeof seen - o, "%s%s", o > 0 ? "," : "", ev != NULL ? ev->name : "?");
    }
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (token[0] == '\0') break;
  }
  /* red, yellow, then the rest by due date (the withdrawn and the unaccepted have none) */
  assert_string_equal(seen, "RED,YELLOW,SUPERVISION_NONE,SUPERVISION_NONE,GREEN,SUPERVISION_NONE");
  /* only the yellow ones */
  q.urgent_first = 0;
  q.page_size = 0;
  q.page_token = "";
  q.supervision = YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__YELLOW;
  Yiwang__Applications__V1__ListApplicationsResponse *resp = NULL;
  assert_int_equal(call_as(&CLERK, "ListDepartmentApplications", &q.base,
                           &yiwang__applications__v1__list_applications_response__descriptor,
                           (ProtobufCMessage **)&resp, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(resp->n_applications, 1);
  assert_string_equal(resp->applications[0]->due_date, "2030-04-16");
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  q.supervision = 42;
  assert_int_equal(call_as(&CLERK, "ListDepartmentApplications", &q.base,
                           &yiwang__applications__v1__list_applications_response__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static void *race_pass(void *arg) {
  supervision_result *res = arg;
  int rc = supervision_pass(&app, today_2030(), 10, 20000, res);
  return rc == 0 ? res : NULL;
}

static void test_two_passes_at_once_mark_once(void **state) {
  (void)state;
  for (int i = 0; i < RACE; i++) {
    char n[24];
    application(100 + i, DEPT, "accepted", "2030-04-01", n);
  }
  long long ev0 = events("application.supervision_changed");
  supervision_result res[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, race_pass, &res[i]), 0);
  void *ok[2];
  for (int i = 0; i < 2; i++) {
    pthread_join(t[i], &ok[i]);
    assert_non_null(ok[i]);
  }
  assert_int_equal(res[0].marked + res[1].marked, RACE);
  assert_int_equal(events("application.supervision_changed") - ev0, RACE);
  assert_int_equal(count("SELECT count(*) FROM applications.supervision WHERE colour = 'red'", NULL), RACE + 1);
}

/* A database that does not answer (a table held by another session) fails the pass
 * within its deadline; its lock is given back and the next pass does the work. */
static void test_a_stuck_database_fails_the_pass_within_its_deadline(void **state) {
  (void)state;
  char n[24];
  application(300, DEPT, "accepted", "2030-04-01", n);
  PGconn *c = yw_pg_pool_acquire(app.pool, 2000);
  assert_non_null(c);
  assert_int_equal(yw_pg_begin(c, NULL), 0);
  assert_int_equal(yw_pg_query(c, "LOCK TABLE applications.supervision IN ACCESS EXCLUSIVE MODE", 0,
                               NULL, NULL, NULL),
                   0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  supervision_result res;
  assert_int_not_equal(supervision_pass(&app, today_2030(), 200, 1000, &res), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  assert_true(ms < 4000);
  assert_int_equal(res.marked, 0);
  yw_pg_rollback(c);
  yw_pg_pool_release(app.pool, c);
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(res.skipped, 0);
  assert_int_equal(res.marked, 1);
}

/* The colour of number as GetApplication answers it to the clerk. */
static int colour_read(const char *number) {
  Yiwang__Applications__V1__GetApplicationRequest gr = YIWANG__APPLICATIONS__V1__GET_APPLICATION_REQUEST__INIT;
  gr.number = (char *)number;
  Application *a = NULL;
  assert_int_equal(call_as(&CLERK, "GetApplication", &gr.base, &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  int c = (int)a->supervision;
  protobuf_c_message_free_unpacked(&a->base, NULL);
  return c;
}

/* A step (AcceptApplication, RequestSupplement...) on number by the clerk of DEPT; the
 * application answered in *out. */
static void clerk_step(const char *method, const char *number, const char *reason, Application **out) {
  Yiwang__Applications__V1__TransitionRequest t = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  t.department = DEPT;
  t.number = (char *)number;
  t.reason = (char *)reason;
  assert_int_equal(call_as(&CLERK, method, &t.base, &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)out, NULL, 0),
                   GRPC_STATUS_OK);
}

/* A pass stopped by its bound goes on next time where it stopped: with more candidates
 * than one bounded pass reaches, the high ids are coloured within a few passes (each
 * pass restarting at id 0 never got there); a pass starting from the cursor goes to the
 * end and wraps round to the first ids. */
static void test_a_bounded_pass_resumes_where_it_stopped(void **state) {
  (void)state;
  char n[5][24];
  for (int i = 0; i < 5; i++) application(400 + i, DEPT, "accepted", "2030-04-16", n[i]); /* yellow */
  long long candidates = count("SELECT count(*) FROM applications.applications a WHERE a.status IN"
                               " ('accepted', 'in_review', 'resubmitted') OR EXISTS (SELECT 1 FROM"
                               " applications.supervision s WHERE s.application_id = a.id)",
                               NULL);
  assert_true(candidates > 30); /* more than one pass of one batch of 10 reaches */
  long long ev0 = events("application.supervision_changed");
  const char *yellow_count = "SELECT count(*) FROM applications.supervision s JOIN applications.applications a"
                             " ON a.id = s.application_id WHERE a.number LIKE '3207002030041100040_'"
                             " AND s.colour = 'yellow'";
  int marked = 0, passes = 0;
  supervision_result res;
  while (count(yellow_count, NULL) < 5 && passes < candidates / 10 + 3) {
    int rc = supervision_pass_n(&app, today_2030(), 10, 1, 10000, &res);
    assert_true(rc == 0 || rc == YW_ETIMEOUT);
    marked += res.marked;
    passes++;
  }
  assert_int_equal(count(yellow_count, NULL), 5);
  assert_int_equal(marked, 5);
  assert_true(passes > 1);
  assert_int_equal(events("application.supervision_changed") - ev0, 5);

  /* stopped after the third: the first turns red, the last green; the next pass goes on
   * from the third to the end, then from the first id round to the third */
  char v[32];
  query1("INSERT INTO applications.supervision_cursor (id, last_id)"
         " SELECT 1, id FROM applications.applications WHERE number = $1"
         " ON CONFLICT (id) DO UPDATE SET last_id = EXCLUDED.last_id RETURNING last_id",
         n[2], NULL, v, sizeof v);
  query1("UPDATE applications.applications SET due_date = '2030-04-01' WHERE number = $1 RETURNING id",
         n[0], NULL, v, sizeof v);
  query1("UPDATE applications.applications SET due_date = '2030-05-30' WHERE number = $1 RETURNING id",
         n[4], NULL, v, sizeof v);
  assert_int_equal(supervision_pass_n(&app, today_2030(), 10, 0, 10000, &res), 0);
  assert_int_equal(res.marked, 2);
  assert_int_equal(colour_read(n[0]), YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__RED);
  assert_int_equal(colour_read(n[4]), YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__GREEN);
  assert_int_equal(count("SELECT last_id FROM applications.supervision_cursor", NULL), 0);
}

/* A status whose clock does not run shows no colour: at once through the step that stops
 * it (in its transaction: the colour row gone, the queue's rows cleared, one event), and
 * for a status changed by any other writer before the next pass. */
static void test_a_stopped_clock_shows_no_colour_at_once(void **state) {
  (void)state;
  char x[24], z[24], v[32];
  application(500, DEPT, "in_review", "2030-04-01", x);
  application(501, DEPT, "in_review", "2030-04-01", z);
  supervision_result res;
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(colour_read(x), YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__RED);
  long long ev0 = events("application.supervision_changed");
  Application *a = NULL;
  clerk_step("RequestSupplement", x, "请补正材料", &a);
  assert_int_equal(a->supervision, YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__SUPERVISION_NONE);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.supervision s JOIN applications.applications a"
                         " ON a.id = s.application_id WHERE a.number = $1", x),
                   0);
  query1("SELECT string_agg(DISTINCT supervision || urgency, ',') FROM applications.queue WHERE number = $1",
         x, NULL, v, sizeof v);
  assert_string_equal(v, "none2");
  assert_int_equal(events("application.supervision_changed") - ev0, 1);
  /* another writer decides z: no colour shown though its row is there until the pass */
  query1("UPDATE applications.applications SET status = 'approved' WHERE number = $1 RETURNING id", z,
         NULL, v, sizeof v);
  assert_int_equal(count("SELECT count(*) FROM applications.supervision s JOIN applications.applications a"
                         " ON a.id = s.application_id WHERE a.number = $1", z),
                   1);
  assert_int_equal(colour_read(z), YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__SUPERVISION_NONE);
  assert_int_equal(supervision_pass(&app, today_2030(), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 1);
}

/* Accepted with the due date within 2 working days: YELLOW in the acceptance's own
 * transaction, with the pass's event and the department's alert, so no pass is awaited. */
static void test_an_acceptance_already_due_is_coloured_at_once(void **state) {
  (void)state;
  char x[24], v[64];
  application(600, DEPT, "submitted", "", x); /* promised: 1 working day */
  long long ev0 = events("application.supervision_changed");
  Application *a = NULL;
  clerk_step("AcceptApplication", x, "", &a);
  assert_int_equal(a->supervision, YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__YELLOW);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  query1("SELECT s.colour || s.days_left FROM applications.supervision s JOIN applications.applications a"
         " ON a.id = s.application_id WHERE a.number = $1",
         x, NULL, v, sizeof v);
  assert_string_equal(v, "yellow1");
  query1("SELECT string_agg(DISTINCT supervision || urgency, ',') FROM applications.queue WHERE number = $1",
         x, NULL, v, sizeof v);
  assert_string_equal(v, "yellow1");
  assert_int_equal(events("application.supervision_changed") - ev0, 1);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1"
                         " AND type = 'application.supervision_changed'", x),
                   1);
  assert_int_equal(count("SELECT count(*) FROM applications.alerts WHERE application_number = $1 AND kind = 'yellow'"
                         " AND department = '" DEPT "'", x),
                   1);
}

/* Loading a year counts the due dates that run into it again, in the load's transaction:
 * the running application due in it moves past the new holiday (queue too), the one
 * awaiting a supplement and the one due before the year do not; the load's record says
 * how many changed; a due date counted through a year without its notice is counted for
 * the operators. */
static void test_a_loaded_year_corrects_the_due_dates_running_into_it(void **state) {
  (void)state;
  char run[24], paused[24], before[24], v[64];
  application(700, DEPT, "accepted", "2034-01-04", run);
  application(701, DEPT, "supplement_requested", "2034-01-04", paused);
  application(702, DEPT, "accepted", "2033-12-20", before);
  /* accepted on Friday 2033-12-30 for 3 working days: Wednesday 2034-01-04 by weekends */
  query1("UPDATE applications.applications SET accepted_at = '2033-12-30 10:00+08', promised_days = 3"
         " WHERE number IN ($1, $2) RETURNING id",
         run, paused, v, sizeof v);
  long long uncovered = applications_calendar_uncovered_total();
  CalendarDay d[2], *dp[2];
  dp[0] = day_of(&d[0], "2034-01-02", 1, "元旦");
  dp[1] = day_of(&d[1], "2034-10-02", 1, "国庆节");
  assert_int_equal(put_calendar(&ADMIN, 2034, NULL, dp, 2, NULL, NULL, 0), GRPC_STATUS_OK);
  query1("SELECT string_agg(number || '=' || to_char(due_date, 'MM-DD'), ',' ORDER BY id)"
         " FROM applications.applications WHERE number IN ($1, $2)",
         run, paused, v, sizeof v);
  char want[64];
  snprintf(want, sizeof want, "%s=01-05,%s=01-04", run, paused);
  assert_string_equal(v, want);
  query1("SELECT to_char(due_date, 'YYYY-MM-DD') FROM applications.applications WHERE number = $1",
         before, NULL, v, sizeof v);
  assert_string_equal(v, "2033-12-20");
  query1("SELECT string_agg(DISTINCT to_char(due_key, 'YYYY-MM-DD'), ',') FROM applications.queue"
         " WHERE number = $1",
         run, NULL, v, sizeof v);
  assert_string_equal(v, "2034-01-05");
  query1("SELECT year || ':' || due_dates_changed FROM applications.calendar_loads ORDER BY id DESC LIMIT 1",
         NULL, NULL, v, sizeof v);
  assert_string_equal(v, "2034:1");
  /* 2033, counted through, has no notice loaded */
  assert_true(applications_calendar_uncovered_total() > uncovered);
  /* loading it again changes nothing more */
  assert_int_equal(put_calendar(&ADMIN, 2034, NULL, dp, 2, NULL, NULL, 0), GRPC_STATUS_OK);
  query1("SELECT year || ':' || due_dates_changed FROM applications.calendar_loads ORDER BY id DESC LIMIT 1",
         NULL, NULL, v, sizeof v);
  assert_string_equal(v, "2034:0");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_seed_fills_an_empty_calendar_once),
      cmocka_unit_test(test_a_year_is_replaced_audited_and_read_by_anyone),
      cmocka_unit_test(test_bad_calendar_input_is_refused_and_changes_nothing),
      cmocka_unit_test(test_due_dates_follow_the_calendar),
      cmocka_unit_test(test_readers_never_see_a_freed_calendar_while_it_is_swapped),
      cmocka_unit_test(test_a_pass_colours_by_working_days_and_a_second_changes_nothing),
      cmocka_unit_test(test_the_queue_filters_by_colour_and_puts_red_and_yellow_first),
      cmocka_unit_test(test_two_passes_at_once_mark_once),
      cmocka_unit_test(test_a_stuck_database_fails_the_pass_within_its_deadline),
      cmocka_unit_test(test_a_bounded_pass_resumes_where_it_stopped),
      cmocka_unit_test(test_a_stopped_clock_shows_no_colour_at_once),
      cmocka_unit_test(test_an_acceptance_already_due_is_coloured_at_once),
      cmocka_unit_test(test_a_loaded_year_corrects_the_due_dates_running_into_it),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
