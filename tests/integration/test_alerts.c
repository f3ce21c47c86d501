/*
 * test_alerts.c - alerts to departments (督办提醒) in yw-applications on the real runtime,
 * PostgreSQL and Redis: yw-catalog, ApplicationsService and AlertsService serve in this
 * process (support/yw_testapps), the test calls over a real gRPC connection with signed
 * callers, runs the supervision pass on a day it chooses, and files applications and
 * rectification cases as rows of a fresh database.
 *
 * Proves: a pass on 2030-04-11 that turns a joint application red records one alert for
 * each of its departments and a feed.entry for the applicant that says the department is
 * late and names no department; one turned yellow gets a yellow alert; one far from its
 * due date, an open case not yet due and an answered case past due get none; an open case
 * past its due date gets one alert for its department; all of it in batches of 2; a
 * second pass records nothing. Staff list their department's open alerts newest first,
 * paged; another department sees none of them (its own only) and may not name this one
 * (PERMISSION_DENIED). Acknowledging records who and when with one audit row; a second
 * time answers the same and writes nothing; another department's clerk cannot (NOT_FOUND,
 * PERMISSION_DENIED), a bad id is INVALID_ARGUMENT. Supervisors list every department's
 * red and overdue alerts, never yellow. An acknowledged application turning red again
 * gets a new alert where the old one was acknowledged and none where one is still open.
 * Overdue cases are taken in batches; one held by a step under way is left for the next
 * pass, which takes it once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "supervision.h"
#include "yiwang/applications/v1/alerts.pb-c.h"
#include "yiwang/events/v1/feed.pb-c.h"
#include "yw_log.h"
#include "yw_crypto.h"
#include "yw_testapps.h"
#include "yw_workdays.h"

#define ALERTS "/yiwang.applications.v1.AlertsService/"
#define DEPT "320700-JD"
#define DEPT2 "320700-ZJ"
#define DEPT3 "320700-SW"

typedef Yiwang__Applications__V1__Alert Alert;
typedef Yiwang__Applications__V1__ListAlertsResponse AlertList;
#define KIND(x) YIWANG__APPLICATIONS__V1__ALERT_KIND__ALERT_##x

static yw_testapps t;
static yw_rpc_service alerts_svc;

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  alerts_service_init(&alerts_svc, &t.app);
  const yw_rpc_service *more[] = {&alerts_svc};
  return yw_testapps_start(&t, 8, 0, more, 1);
}

static int teardown(void **state) {
  (void)state;
  yw_testapps_stop(&t);
  return 0;
}

typedef yw_testapps_caller as;
static const as CLERK = {YW_CALLER_STAFF, "s-jd", "dept_staff", DEPT, 0, NULL, NULL};
static const as CLERK2 = {YW_CALLER_STAFF, "s-zj", "dept_staff", DEPT2, 0, NULL, NULL};
static const as CLERK3 = {YW_CALLER_STAFF, "s-sw", "dept_staff", DEPT3, 0, NULL, NULL};
static const as AUDITOR = {YW_CALLER_STAFF, "s-audit", "auditor", "", 0, NULL, NULL};

static void query1(const char *sql, const char *param, char *out, size_t size) {
  assert_int_equal(yw_testapps_query1(&t, sql, param, out, size), 0);
}

static long long count(const char *sql, const char *param) {
  char v[32];
  query1(sql, param, v, sizeof v);
  return strtoll(v, NULL, 10);
}

/* Files an application as a filing and its steps would leave it: departments "a,b" (lead
 * first), status, due date ("" none). Its number into out. */
static void application(int seq, const char *depts, const char *status, const char *due, char out[24]) {
  snprintf(out, 24, "32070020300411%06d", seq);
  char enc[128], p[384], v[32]; /* the empty form, encrypted as the service keeps it */
  assert_int_equal(yw_encrypt(t.app.data_key, "{}", 2, out, enc, sizeof enc), 0);
  snprintf(p, sizeof p, "%s|%s|%s|%s|%s", out, depts, status, due, enc);
  query1("WITH x AS (SELECT split_part($1, '|', 1) AS number,"
         " string_to_array(split_part($1, '|', 2), ',') AS depts, split_part($1, '|', 3) AS status,"
         " NULLIF(split_part($1, '|', 4), '')::date AS due)"
         " INSERT INTO applications.applications (number, query_code_mac, applicant_subject,"
         " applicant_kind, impl_code, item_version, item_name, region_code, lead_department,"
         " departments, promised_days, form_enc, status, due_date, accepted_at)"
         " SELECT x.number, repeat('a', 64), 'p-applicant', 'person', 'GG00001000-320700-GA', 1,"
         " '居民身份证首次申领', '320700', x.depts[1], x.depts, 1, split_part($1, '|', 5), x.status,"
         " x.due,"
         " CASE WHEN x.due IS NULL THEN NULL ELSE now() END FROM x RETURNING id",
         p, v, sizeof v);
  assert_true(v[0] != '\0');
}

/* A channel's bad rating (a rater per due date) and its case for dept: status, due date.
 * The case id into out. */
static void rectification(const char *dept, const char *status, const char *due, char out[24]) {
  char p[128];
  snprintf(p, sizeof p, "%s|%s|%s", dept, status, due);
  query1("WITH x AS (SELECT split_part($1, '|', 1) AS dept, split_part($1, '|', 2) AS status,"
         " split_part($1, '|', 3)::date AS due),"
         " r AS (INSERT INTO applications.ratings (rater_subject, channel, department, departments,"
         "   level) SELECT 'p-rater-' || x.due, 'app', x.dept, ARRAY[x.dept], 'dissatisfied'"
         "   FROM x RETURNING id)"
         " INSERT INTO applications.rectifications (rating_id, department, status, due_date)"
         " SELECT r.id, x.dept, x.status, x.due FROM r, x RETURNING id",
         p, out, 24);
  assert_true(out[0] != '\0');
}

static yw_day day(const char *s) {
  yw_day d;
  assert_int_equal(yw_day_parse(s, 10, &d), 0);
  return d;
}

static grpc_status_code list(const as *who, const char *dept, int include_acked, int size,
                             const char *token, AlertList **out) {
  Yiwang__Applications__V1__ListAlertsRequest req = YIWANG__APPLICATIONS__V1__LIST_ALERTS_REQUEST__INIT;
  req.department = (char *)dept;
  req.include_acknowledged = include_acked;
  req.page_size = size;
  req.page_token = (char *)(token != NULL ? token : "");
  return yw_testapps_call(&t, who, NULL, ALERTS "ListAlerts", &req.base,
                          &yiwang__applications__v1__list_alerts_response__descriptor,
                          (ProtobufCMessage **)out, NULL, 0);
}

static grpc_status_code ack(const as *who, const char *dept, const char *id, Alert **out) {
  Yiwang__Applications__V1__AcknowledgeAlertRequest req =
      YIWANG__APPLICATIONS__V1__ACKNOWLEDGE_ALERT_REQUEST__INIT;
  req.department = (char *)dept;
  req.id = (char *)id;
  return yw_testapps_call(&t, who, NULL, ALERTS "AcknowledgeAlert", &req.base,
                          &yiwang__applications__v1__alert__descriptor, (ProtobufCMessage **)out, NULL, 0);
}

/* "kind:number-or-case" of each alert of a list, joined by ','. */
static void describe(const AlertList *l, char *out, size_t size) {
  size_t at = 0;
  out[0] = '\0';
  for (size_t i = 0; i < l->n_alerts && at < size; i++) {
    const Alert *a = l->alerts[i];
    const char *k = a->kind == KIND(DUE_SOON) ? "yellow" : a->kind == KIND(OVERDUE) ? "red" : "case";
    at += (size_t)snprintf(out + at, size - at, "%s%s:%s", i > 0 ? "," : "", k,
                           a->application_number[0] != '\0' ? a->application_number : a->rectification_id);
  }
}

static void test_a_pass_alerts_departments_once_and_staff_acknowledge(void **state) {
  (void)state;
  char red[24], yellow[24], green[24], other[24], c_over[24], c_later[24], c_answered[24];
  application(1, DEPT "," DEPT2, "in_review", "2030-04-09", red);   /* joint, past due */
  application(2, DEPT, "in_review", "2030-04-12", yellow);       /* 1 working day left */
  application(3, DEPT, "in_review", "2030-05-20", green);        /* far */
  application(4, DEPT3, "resubmitted", "2030-04-10", other);     /* another department's, red */
  rectification(DEPT, "open", "2030-04-10", c_over);             /* past due, unanswered */
  rectification(DEPT, "open", "2030-04-11", c_later);            /* due today: not yet over */
  rectification(DEPT, "answered", "2030-04-01", c_answered);     /* answered in time */
  long long feed0 = count("SELECT count(*) FROM applications.outbox WHERE type = 'feed.entry'", NULL);

  supervision_result res;
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 2, 10000, &res), 0);
  assert_int_equal(res.marked, 4);
  assert_int_equal(res.alerted, 5); /* red x2 departments, yellow, the other red, the case */
  char v[1024], want[1024];
  query1("SELECT string_agg(department || '=' || kind || ':' || working_days || ':' || due_date"
         " || ':' || raised_on, ',' ORDER BY id) FROM applications.alerts",
         NULL, v, sizeof v);
  snprintf(want, sizeof want,
           DEPT "=red:-2:2030-04-09:2030-04-11," DEPT2 "=red:-2:2030-04-09:2030-04-11,"
           DEPT "=yellow:1:2030-04-12:2030-04-11," DEPT3 "=red:-1:2030-04-10:2030-04-11,"
           DEPT "=rectification_overdue:0:2030-04-10:2030-04-11");
  assert_string_equal(v, want);
  query1("SELECT rectification_id FROM applications.alerts WHERE kind = 'rectification_overdue'", NULL, v,
         sizeof v);
  assert_string_equal(v, c_over);

  /* the applicants of the two red ones are told, and the entry names no department */
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'feed.entry'", NULL) - feed0, 2);
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 2000);
  const char *pp[] = {"p-applicant"};
  PGresult *pr = NULL;
  assert_int_equal(yw_pg_query(c, "SELECT payload FROM applications.outbox WHERE type = 'feed.entry'"
                                  " AND aggregate_key = $1 ORDER BY id LIMIT 1",
                               1, pp, &pr, NULL),
                   0);
  assert_int_equal(PQntuples(pr), 1);
  size_t len = 0;
  unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(pr, 0, 0), &len);
  PQclear(pr);
  yw_pg_pool_release(t.app.pool, c);
  Yiwang__Events__V1__FeedEntryAdded *fe = yiwang__events__v1__feed_entry_added__unpack(NULL, len, raw);
  PQfreemem(raw);
  assert_non_null(fe);
  assert_string_equal(fe->subject, "p-applicant");
  assert_string_equal(fe->type, "application.overdue");
  assert_non_null(strstr(fe->title, red));
  assert_non_null(strstr(fe->body, "承办部门未能在承诺时限内办结"));
  assert_null(strstr(fe->body, DEPT));
  assert_null(strstr(fe->body, DEPT2));
  char link[64];
  snprintf(link, sizeof link, "applications/%s", red);
  assert_string_equal(fe->link, link);
  yiwang__events__v1__feed_entry_added__free_unpacked(fe, NULL);

  /* a second pass records nothing */
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 0);
  assert_int_equal(res.alerted, 0);
  assert_int_equal(count("SELECT count(*) FROM applications.alerts", NULL), 5);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'feed.entry'", NULL) - feed0, 2);

  /* the department's open alerts, newest first, two a page */
  AlertList *l = NULL;
  assert_int_equal(list(&CLERK, DEPT, 0, 2, NULL, &l), GRPC_STATUS_OK);
  describe(l, v, sizeof v);
  snprintf(want, sizeof want, "case:%s,yellow:%s", c_over, yellow);
  assert_string_equal(v, want);
  assert_string_equal(l->alerts[0]->due_date, "2030-04-10");
  assert_false(l->alerts[0]->acknowledged);
  assert_true(l->next_page_token[0] != '\0');
  char token[256];
  snprintf(token, sizeof token, "%s", l->next_page_token);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  assert_int_equal(list(&CLERK, DEPT, 0, 2, token, &l), GRPC_STATUS_OK);
  describe(l, v, sizeof v);
  snprintf(want, sizeof want, "red:%s", red);
  assert_string_equal(v, want);
  assert_int_equal(l->alerts[0]->working_days, -2);
  assert_string_equal(l->next_page_token, "");
  char red_alert[24];
  snprintf(red_alert, sizeof red_alert, "%s", l->alerts[0]->id);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  /* a token of another query is refused */
  assert_int_equal(list(&CLERK, DEPT, 1, 2, token, NULL), GRPC_STATUS_INVALID_ARGUMENT);

  /* another department sees its own only, and may not name this one */
  assert_int_equal(list(&CLERK3, DEPT3, 0, 0, NULL, &l), GRPC_STATUS_OK);
  describe(l, v, sizeof v);
  snprintf(want, sizeof want, "red:%s", other);
  assert_string_equal(v, want);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  assert_int_equal(list(&CLERK3, DEPT, 0, 0, NULL, NULL), GRPC_STATUS_PERMISSION_DENIED);

  /* acknowledging: who and when, audited once; twice harmless; nobody else's */
  assert_int_equal(ack(&CLERK2, DEPT2, red_alert, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(ack(&CLERK2, DEPT, red_alert, NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(ack(&AUDITOR, DEPT, red_alert, NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(ack(&CLERK, DEPT, "12x", NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(count("SELECT count(*) FROM applications.alerts WHERE acknowledged_at IS NOT NULL", NULL), 0);
  Alert *a = NULL;
  assert_int_equal(ack(&CLERK, DEPT, red_alert, &a), GRPC_STATUS_OK);
  assert_true(a->acknowledged);
  assert_string_equal(a->acknowledged_by, "s-jd");
  assert_int_equal(strlen(a->acknowledged_at), 25);
  char first_at[32];
  snprintf(first_at, sizeof first_at, "%s", a->acknowledged_at);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.alert_audit WHERE target = $1"
                         " AND actor = 's-jd' AND action = 'alert_acknowledge' AND source_ip <> ''",
                         red_alert),
                   1);
  assert_int_equal(ack(&CLERK, DEPT, red_alert, &a), GRPC_STATUS_OK);
  assert_true(a->acknowledged);
  assert_string_equal(a->acknowledged_at, first_at);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.alert_audit", NULL), 1);
  /* the open list no longer holds it; with the acknowledged ones it does */
  assert_int_equal(list(&CLERK, DEPT, 0, 0, NULL, &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_alerts, 2);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  assert_int_equal(list(&CLERK, DEPT, 1, 0, NULL, &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_alerts, 3);
  assert_true(l->alerts[2]->acknowledged);
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* supervisors: every department's red and overdue (open), never yellow */
  assert_int_equal(list(&AUDITOR, "", 0, 0, NULL, &l), GRPC_STATUS_OK);
  describe(l, v, sizeof v);
  snprintf(want, sizeof want, "case:%s,red:%s,red:%s", c_over, other, red);
  assert_string_equal(v, want);
  assert_string_equal(l->alerts[2]->department, DEPT2);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  assert_int_equal(list(&AUDITOR, DEPT, 1, 0, NULL, &l), GRPC_STATUS_OK);
  describe(l, v, sizeof v);
  snprintf(want, sizeof want, "case:%s,red:%s", c_over, red);
  assert_string_equal(v, want);
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* the red one waits for a supplement (no colour), then is red again: a new alert where
   * the old one was acknowledged (DEPT), none where one is still open (DEPT2) */
  query1("UPDATE applications.applications SET status = 'supplement_requested' WHERE number = $1"
         " RETURNING id", red, v, sizeof v);
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 200, 10000, &res), 0);
  assert_int_equal(res.alerted, 0);
  query1("UPDATE applications.applications SET status = 'resubmitted' WHERE number = $1 RETURNING id",
         red, v, sizeof v);
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 200, 10000, &res), 0);
  assert_int_equal(res.marked, 1);
  assert_int_equal(res.alerted, 1);
  query1("SELECT string_agg(department || '=' || (acknowledged_at IS NULL), ',' ORDER BY id)"
         " FROM applications.alerts WHERE application_number = $1",
         red, v, sizeof v);
  assert_string_equal(v, DEPT "=false," DEPT2 "=true," DEPT "=true");
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'feed.entry'", NULL) - feed0, 3);

  /* an alert is only acknowledged, once, whoever writes */
  assert_int_not_equal(yw_testapps_query1(&t, "UPDATE applications.alerts SET kind = 'yellow'"
                                              " WHERE id = $1::bigint RETURNING id",
                                          red_alert, v, sizeof v),
                       0);
}

/* Five overdue cases in batches of 2, one of them held by a step under way (a row lock
 * of another session): the pass leaves that one, the next pass takes it, once. */
static void test_overdue_cases_in_batches_and_a_locked_one_next_pass(void **state) {
  (void)state;
  char ids[5][24];
  for (int i = 0; i < 5; i++) {
    char due[16];
    snprintf(due, sizeof due, "2030-03-%02d", i + 1);
    rectification("320700-CL", "open", due, ids[i]);
  }
  PGconn *held = yw_pg_pool_acquire(t.app.pool, 2000);
  assert_non_null(held);
  yw_pg_error err;
  assert_int_equal(yw_pg_begin(held, &err), 0);
  const char *p[] = {ids[2]};
  assert_int_equal(yw_pg_query(held, "SELECT 1 FROM applications.rectifications WHERE id = $1::bigint FOR UPDATE",
                               1, p, NULL, &err),
                   0);
  supervision_result res;
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 2, 10000, &res), 0);
  assert_int_equal(res.alerted, 4);
  assert_int_equal(count("SELECT count(*) FROM applications.alerts WHERE rectification_id = $1::bigint", ids[2]), 0);
  assert_int_equal(yw_pg_commit(held, &err), 0);
  yw_pg_pool_release(t.app.pool, held);
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 2, 10000, &res), 0);
  assert_int_equal(res.alerted, 1);
  assert_int_equal(supervision_pass(&t.app, day("2030-04-11"), 2, 10000, &res), 0);
  assert_int_equal(res.alerted, 0);
  /* the next day the first test's case due on the 11th is over too: one more, once */
  assert_int_equal(supervision_pass(&t.app, day("2030-04-12"), 2, 10000, &res), 0);
  assert_int_equal(res.alerted, 1);
  assert_int_equal(count("SELECT count(*) FROM applications.alerts WHERE due_date = '2030-04-11'"
                         " AND kind = 'rectification_overdue' AND raised_on = '2030-04-12'", NULL),
                   1);
  assert_int_equal(supervision_pass(&t.app, day("2030-04-12"), 2, 10000, &res), 0);
  assert_int_equal(res.alerted, 0);
  assert_int_equal(count("SELECT count(*) FROM applications.alerts WHERE department = '320700-CL'"
                         " AND kind = 'rectification_overdue'", NULL),
                   5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_pass_alerts_departments_once_and_staff_acknowledge),
      cmocka_unit_test(test_overdue_cases_in_batches_and_a_locked_one_next_pass),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
