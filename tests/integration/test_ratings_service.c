/*
 * test_ratings_service.c - 好差评 ratings and their rectification (整改) cases in
 * yw-applications, on the real runtime against a real PostgreSQL and Redis: yw-catalog,
 * ApplicationsService and RatingsService serve in this process on one yw_rpc_server
 * (support/yw_testapps), filings read their item from the catalog over a real call, and
 * the test calls over a real gRPC connection with signed callers.
 *
 * Proves: an application is rated by its applicant only (anyone else NOT_FOUND), only once
 * it ended (FAILED_PRECONDITION before), once (ALREADY_EXISTS after, nothing written),
 * and the same Idempotency-Key answers the first rating again; the rating, its counts and
 * application.rated (without the text) are written together and nothing of them when the
 * write is refused; a bad rating opens a case due 15 working days later by the service's
 * calendar (holidays loaded in the test move it) with rectification.opened; the case goes
 * open -> answered -> revisited -> closed only in that order, each step a timeline row and
 * staff's steps audited, closing counting the rating as rectified with
 * rectification.closed; staff of another department and other residents get NOT_FOUND;
 * a department's list shows its own cases overdue first, supervisors see every
 * department's and filter overdue; a channel or hall of a department is rated once a day (another item of it too); the public
 * summary adds up the levels, the satisfaction rate and the rectified; a resident lists
 * their own ratings newest first, paged, each with its case's status and, once given, the
 * department's answer, and nobody else's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ratings.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/applications/v1/ratings.pb-c.h"
#include "yw_log.h"
#include "yw_testapps.h"
#include "yw_workdays.h"

#define APPS "/yiwang.applications.v1.ApplicationsService/"
#define RATE "/yiwang.applications.v1.RatingsService/"
#define ITEM "GG00001000-320700-GA" /* 320700-GA alone */
#define LEAD "320700-GA"

typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;
typedef Yiwang__Applications__V1__Rating Rating;
typedef Yiwang__Applications__V1__Rectification Rectification;
typedef Yiwang__Applications__V1__ListRectificationsResponse CaseList;
typedef Yiwang__Applications__V1__RatingSummary Summary;
#define LV(x) YIWANG__APPLICATIONS__V1__RATING_LEVEL__##x
#define CH(x) YIWANG__APPLICATIONS__V1__RATING_CHANNEL__##x
#define RS(x) YIWANG__APPLICATIONS__V1__RECTIFICATION_STATUS__RECTIFICATION_##x
#define CV(x) YIWANG__APPLICATIONS__V1__COMPLAINT_VERIFICATION__COMPLAINT_##x

static yw_testapps t;
static ratings_ctx rctx;
static yw_rpc_service rate_svc;

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  rctx.app = &t.app;
  ratings_service_init(&rate_svc, &rctx);
  const yw_rpc_service *more[] = {&rate_svc};
  return yw_testapps_start(&t, 8, 0, more, 1);
}

static int teardown(void **state) {
  (void)state;
  yw_testapps_stop(&t);
  return 0;
}

typedef yw_testapps_caller as;

static const as RESIDENT = {YW_CALLER_PERSON, "p-rater", "", "", 2, NULL, NULL};
static const as OTHER_RESIDENT = {YW_CALLER_PERSON, "p-someone", "", "", 2, NULL, NULL};
static const as GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff", LEAD, 0, NULL, NULL};
static const as SW_CLERK = {YW_CALLER_STAFF, "s-sw", "dept_staff", "320700-SW", 0, NULL, NULL};
static const as AUDITOR = {YW_CALLER_STAFF, "s-audit", "auditor", "", 0, NULL, NULL};
static const as ADMIN = {YW_CALLER_STAFF, "s-admin", "platform_admin", "", 0, NULL, NULL};

static void query1(const char *sql, const char *param, char *out, size_t size) {
  assert_int_equal(yw_testapps_query1(&t, sql, param, out, size), 0);
}

static long long count(const char *sql, const char *param) {
  char v[32];
  query1(sql, param, v, sizeof v);
  return strtoll(v, NULL, 10);
}

/* An application of ITEM by RESIDENT; ended: rejected at intake, else left submitted. */
static void application(int ended, char number[24]) {
  Yiwang__Applications__V1__SubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  req.item_code = ITEM;
  Receipt *r = NULL;
  char msg[256] = "";
  grpc_status_code st = yw_testapps_call(&t, &RESIDENT, NULL, APPS "SubmitApplication", &req.base,
                                         &yiwang__applications__v1__submit_application_response__descriptor,
                                         (ProtobufCMessage **)&r, msg, sizeof msg);
  if (st != GRPC_STATUS_OK) fprintf(stderr, "submit: %s\n", msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  snprintf(number, 24, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  if (!ended) return;
  Yiwang__Applications__V1__TransitionRequest tr = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  tr.department = LEAD;
  tr.number = number;
  tr.reason = "材料不全";
  assert_int_equal(yw_testapps_call(&t, &GA_CLERK, NULL, APPS "RejectApplication", &tr.base,
                                    &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_OK);
}

static grpc_status_code rate(const as *who, const char *key, const char *number, int level,
                             const char *text, Rating **out) {
  Yiwang__Applications__V1__RateApplicationRequest req =
      YIWANG__APPLICATIONS__V1__RATE_APPLICATION_REQUEST__INIT;
  char *tags[] = {"办事慢"};
  req.number = (char *)number;
  req.level = level;
  req.text = (char *)text;
  req.tags = tags;
  req.n_tags = 1;
  return yw_testapps_call(&t, who, key, RATE "RateApplication", &req.base,
                          &yiwang__applications__v1__rating__descriptor, (ProtobufCMessage **)out,
                          NULL, 0);
}

static grpc_status_code rate_channel(const as *who, int channel, const char *hall, const char *dept,
                                     int level, Rating **out) {
  Yiwang__Applications__V1__CreateRatingRequest req =
      YIWANG__APPLICATIONS__V1__CREATE_RATING_REQUEST__INIT;
  req.channel = channel;
  req.hall_code = (char *)hall;
  req.department_code = (char *)dept;
  req.level = level;
  return yw_testapps_call(&t, who, NULL, RATE "CreateRating", &req.base,
                          &yiwang__applications__v1__rating__descriptor, (ProtobufCMessage **)out,
                          NULL, 0);
}

/* A case step: "Answer", "Revisit" or "Close" as who for department (staff) or "" (rater). */
static grpc_status_code case_step(const as *who, const char *method, const char *id, Rectification **out) {
  char path[128];
  snprintf(path, sizeof path, RATE "%sRectification", method);
  const char *dept = who->kind == YW_CALLER_STAFF ? who->dept : "";
  ProtobufCMessage *req = NULL;
  Yiwang__Applications__V1__AnswerRectificationRequest a =
      YIWANG__APPLICATIONS__V1__ANSWER_RECTIFICATION_REQUEST__INIT;
  Yiwang__Applications__V1__RevisitRectificationRequest v =
      YIWANG__APPLICATIONS__V1__REVISIT_RECTIFICATION_REQUEST__INIT;
  Yiwang__Applications__V1__CloseRectificationRequest c =
      YIWANG__APPLICATIONS__V1__CLOSE_RECTIFICATION_REQUEST__INIT;
  if (strcmp(method, "Answer") == 0) {
    a.department = (char *)dept;
    a.id = (char *)id;
    a.verification = CV(VALID);
    a.measures = "窗口增加人手，当日办结";
    req = &a.base;
  } else if (strcmp(method, "Revisit") == 0) {
    v.department = (char *)dept;
    v.id = (char *)id;
    v.satisfied = 1;
    v.note = "回访满意";
    req = &v.base;
  } else {
    c.department = (char *)dept;
    c.id = (char *)id;
    c.note = "办结";
    req = &c.base;
  }
  return yw_testapps_call(&t, who, NULL, path, req, &yiwang__applications__v1__rectification__descriptor,
                          (ProtobufCMessage **)out, NULL, 0);
}

static grpc_status_code get_case(const as *who, const char *dept, const char *id, Rectification **out) {
  Yiwang__Applications__V1__GetRectificationRequest req =
      YIWANG__APPLICATIONS__V1__GET_RECTIFICATION_REQUEST__INIT;
  req.department = (char *)dept;
  req.id = (char *)id;
  return yw_testapps_call(&t, who, NULL, RATE "GetRectification", &req.base,
                          &yiwang__applications__v1__rectification__descriptor,
                          (ProtobufCMessage **)out, NULL, 0);
}

static grpc_status_code list_cases(const as *who, const char *dept, int overdue, int page_size,
                                   const char *token, CaseList **out) {
  Yiwang__Applications__V1__ListRectificationsRequest req =
      YIWANG__APPLICATIONS__V1__LIST_RECTIFICATIONS_REQUEST__INIT;
  req.department = (char *)dept;
  req.overdue_only = overdue;
  req.page_size = page_size;
  req.page_token = (char *)token;
  return yw_testapps_call(&t, who, NULL, RATE "ListRectifications", &req.base,
                          &yiwang__applications__v1__list_rectifications_response__descriptor,
                          (ProtobufCMessage **)out, NULL, 0);
}

static Summary *summary(const char *dept, const char *item) {
  Yiwang__Applications__V1__GetRatingSummaryRequest req =
      YIWANG__APPLICATIONS__V1__GET_RATING_SUMMARY_REQUEST__INIT;
  req.department = (char *)dept;
  req.item = (char *)item;
  static const as NOBODY = {YW_CALLER_ANONYMOUS, "", "", "", 0, NULL, NULL};
  Summary *s = NULL;
  assert_int_equal(yw_testapps_call(&t, &NOBODY, NULL, RATE "GetRatingSummary", &req.base,
                                    &yiwang__applications__v1__rating_summary__descriptor,
                                    (ProtobufCMessage **)&s, NULL, 0),
                   GRPC_STATUS_OK);
  return s;
}

/* Rows written for application number: ratings, application.rated, rectification events. */
static long long ratings_of(const char *number) {
  return count("SELECT count(*) FROM applications.ratings WHERE application_number = $1", number);
}
static long long events_of(const char *number, const char *type) {
  char p[128];
  snprintf(p, sizeof p, "%s|%s", number, type);
  return count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = split_part($1, '|', 1)"
               " AND type = split_part($1, '|', 2)", p);
}

/* ---- ratings of applications ----------------------------------------------------------- */

static void test_rated_once_by_the_applicant_after_the_end(void **state) {
  (void)state;
  char running[24], ended[24];
  application(0, running);
  application(1, ended);
  /* not before the end */
  assert_int_equal(rate(&RESIDENT, NULL, running, LV(SATISFIED), "", NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(ratings_of(running), 0);
  /* not by another resident, nor by staff */
  assert_int_equal(rate(&OTHER_RESIDENT, NULL, ended, LV(SATISFIED), "", NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(rate(&GA_CLERK, NULL, ended, LV(SATISFIED), "", NULL), GRPC_STATUS_PERMISSION_DENIED);
  /* bad input */
  assert_int_equal(rate(&RESIDENT, NULL, ended, 0, "", NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(rate(&RESIDENT, NULL, ended, LV(SATISFIED), "\xff\xfe", NULL), GRPC_STATUS_INVALID_ARGUMENT);
  char longtext[1600] = "";
  for (int i = 0; i < 501; i++) memcpy(longtext + 3 * i, "好", 3);
  assert_int_equal(rate(&RESIDENT, NULL, ended, LV(SATISFIED), longtext, NULL), GRPC_STATUS_INVALID_ARGUMENT);
  longtext[1500] = '\0'; /* 500 characters: allowed */
  assert_int_equal(ratings_of(ended), 0);

  Rating *r = NULL;
  assert_int_equal(rate(&RESIDENT, "k-rate-1", ended, LV(SATISFIED), longtext, &r), GRPC_STATUS_OK);
  assert_string_equal(r->application_number, ended);
  assert_int_equal(r->level, LV(SATISFIED));
  assert_int_equal(r->channel, CH(APP));
  assert_string_equal(r->department, LEAD);
  assert_string_equal(r->item_code, ITEM);
  assert_int_equal(r->n_tags, 1);
  assert_string_equal(r->tags[0], "办事慢");
  assert_string_equal(r->rectification_id, ""); /* a good rating opens no case */
  char id[24];
  snprintf(id, sizeof id, "%s", r->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(ratings_of(ended), 1);
  assert_int_equal(events_of(ended, "application.rated"), 1);
  /* the event carries no text */
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1 AND"
                         " type = 'application.rated' AND position(convert_to('好好好', 'UTF8') in payload) > 0",
                         ended),
                   0);

  /* the same key: the first answer again, nothing new */
  r = NULL;
  assert_int_equal(rate(&RESIDENT, "k-rate-1", ended, LV(SATISFIED), longtext, &r), GRPC_STATUS_OK);
  assert_string_equal(r->id, id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* another key or none: ALREADY_EXISTS, nothing written */
  assert_int_equal(rate(&RESIDENT, "k-rate-2", ended, LV(VERY_DISSATISFIED), "", NULL), GRPC_STATUS_ALREADY_EXISTS);
  assert_int_equal(rate(&RESIDENT, NULL, ended, LV(VERY_DISSATISFIED), "", NULL), GRPC_STATUS_ALREADY_EXISTS);
  assert_int_equal(ratings_of(ended), 1);
  assert_int_equal(events_of(ended, "application.rated"), 1);
  assert_int_equal(events_of(ended, "rectification.opened"), 0);
  assert_int_equal(count("SELECT count(*) FROM applications.rectifications", NULL), 0);
}

/* ---- rectification cases -------------------------------------------------------------- */

/* Puts holidays on the first three weekdays after today, year by year. Returns the
 * calendar the service should now count with in *cal. */
static void holidays_ahead(struct yw_workdays **cal) {
  yw_day today = 0;
  assert_int_equal(yw_day_from_time(time(NULL), &today), 0);
  *cal = yw_workdays_new();
  assert_non_null(*cal);
  char csv[2][256] = {"", ""};
  int years[2] = {0, 0};
  int found = 0;
  for (yw_day d = today + 1; found < 3; d++) {
    if (yw_day_weekday(d) >= 6) continue;
    int y, m, dd;
    assert_int_equal(yw_day_to_ymd(d, &y, &m, &dd), 0);
    int slot = years[0] == 0 || years[0] == y ? 0 : 1;
    years[slot] = y;
    size_t at = strlen(csv[slot]);
    snprintf(csv[slot] + at, sizeof csv[slot] - at, "%04d-%02d-%02d,holiday,测试假日\n", y, m, dd);
    assert_int_equal(yw_workdays_set(*cal, d, YW_WORKDAYS_HOLIDAY, "测试假日"), 0);
    found++;
  }
  for (int i = 0; i < 2; i++) {
    if (years[i] == 0) continue;
    Yiwang__Applications__V1__PutCalendarRequest req = YIWANG__APPLICATIONS__V1__PUT_CALENDAR_REQUEST__INIT;
    req.year = years[i];
    req.csv = csv[i];
    char msg[256] = "";
    grpc_status_code st = yw_testapps_call(&t, &ADMIN, NULL, APPS "PutCalendar", &req.base,
                                           &yiwang__applications__v1__calendar__descriptor, NULL, msg,
                                           sizeof msg);
    if (st != GRPC_STATUS_OK) fprintf(stderr, "PutCalendar: %s\n", msg);
    assert_int_equal(st, GRPC_STATUS_OK);
  }
}

static void test_bad_rating_opens_a_case_due_in_working_days(void **state) {
  (void)state;
  struct yw_workdays *cal = NULL, *weekends = yw_workdays_new();
  holidays_ahead(&cal);
  yw_day today = 0, due = 0, due_weekends = 0;
  assert_int_equal(yw_day_from_time(time(NULL), &today), 0);
  assert_int_equal(yw_workdays_add(cal, today, 15, NULL, 0, &due), 0);
  assert_int_equal(yw_workdays_add(weekends, today, 15, NULL, 0, &due_weekends), 0);
  assert_int_equal(due - due_weekends >= 3, 1); /* the holidays moved it */
  char want[YW_DAY_STRLEN];
  assert_int_equal(yw_day_format(due, want, sizeof want), 0);
  yw_workdays_free(cal);
  yw_workdays_free(weekends);

  char number[24];
  application(1, number);
  Rating *r = NULL;
  assert_int_equal(rate(&RESIDENT, NULL, number, LV(VERY_DISSATISFIED), "等了三个小时", &r), GRPC_STATUS_OK);
  assert_string_not_equal(r->rectification_id, "");
  char id[24];
  snprintf(id, sizeof id, "%s", r->rectification_id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(events_of(number, "rectification.opened"), 1);

  Rectification *c = NULL;
  assert_int_equal(get_case(&GA_CLERK, LEAD, id, &c), GRPC_STATUS_OK);
  assert_int_equal(c->status, RS(OPEN));
  assert_string_equal(c->due_date, want);
  assert_string_equal(c->department, LEAD);
  assert_string_equal(c->application_number, number);
  assert_int_equal(c->level, LV(VERY_DISSATISFIED));
  assert_string_equal(c->rating_text, "等了三个小时");
  assert_int_equal(c->overdue, 0);
  assert_int_equal(c->n_timeline, 1);
  assert_int_equal(c->timeline[0]->to_status, RS(OPEN));
  protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void test_case_steps_in_order_by_the_right_people(void **state) {
  (void)state;
  char number[24];
  application(1, number);
  Rating *r = NULL;
  assert_int_equal(rate(&RESIDENT, NULL, number, LV(DISSATISFIED), "", &r), GRPC_STATUS_OK);
  char id[24];
  snprintf(id, sizeof id, "%s", r->rectification_id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  const char *audit = "SELECT count(*) FROM applications.rectification_audit WHERE target = $1";

  /* another department's staff and another resident: NOT_FOUND */
  assert_int_equal(get_case(&SW_CLERK, "320700-SW", id, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(case_step(&SW_CLERK, "Answer", id, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_case(&OTHER_RESIDENT, "", id, NULL), GRPC_STATUS_NOT_FOUND);
  /* staff naming a department not theirs: PERMISSION_DENIED */
  Yiwang__Applications__V1__AnswerRectificationRequest a =
      YIWANG__APPLICATIONS__V1__ANSWER_RECTIFICATION_REQUEST__INIT;
  a.department = LEAD;
  a.id = id;
  a.verification = CV(VALID);
  a.measures = "x";
  assert_int_equal(yw_testapps_call(&t, &SW_CLERK, NULL, RATE "AnswerRectification", &a.base,
                                    &yiwang__applications__v1__rectification__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_PERMISSION_DENIED);
  /* out of order: FAILED_PRECONDITION, nothing changes */
  assert_int_equal(case_step(&GA_CLERK, "Revisit", id, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(case_step(&GA_CLERK, "Close", id, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(count(audit, id), 0);

  Rectification *c = NULL;
  assert_int_equal(case_step(&GA_CLERK, "Answer", id, &c), GRPC_STATUS_OK);
  assert_int_equal(c->status, RS(ANSWERED));
  assert_int_equal(c->verification, CV(VALID));
  assert_string_equal(c->measures, "窗口增加人手，当日办结");
  protobuf_c_message_free_unpacked(&c->base, NULL);
  assert_int_equal(count(audit, id), 1);
  assert_int_equal(case_step(&GA_CLERK, "Answer", id, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(case_step(&OTHER_RESIDENT, "Revisit", id, NULL), GRPC_STATUS_NOT_FOUND);
  /* the rater revisits (not audited: not staff) */
  c = NULL;
  assert_int_equal(case_step(&RESIDENT, "Revisit", id, &c), GRPC_STATUS_OK);
  assert_int_equal(c->status, RS(REVISITED));
  assert_int_equal(c->revisit_satisfied, 1);
  assert_string_equal(c->revisit_by, "applicant");
  protobuf_c_message_free_unpacked(&c->base, NULL);
  assert_int_equal(count(audit, id), 1);
  assert_int_equal(case_step(&RESIDENT, "Revisit", id, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(events_of(number, "rectification.closed"), 0);

  c = NULL;
  assert_int_equal(case_step(&GA_CLERK, "Close", id, &c), GRPC_STATUS_OK);
  assert_int_equal(c->status, RS(CLOSED));
  assert_string_not_equal(c->closed_at, "");
  assert_int_equal(c->n_timeline, 4);
  assert_int_equal(c->timeline[3]->from_status, RS(REVISITED));
  assert_int_equal(c->timeline[3]->to_status, RS(CLOSED));
  protobuf_c_message_free_unpacked(&c->base, NULL);
  assert_int_equal(count(audit, id), 2);
  assert_int_equal(events_of(number, "rectification.closed"), 1);
  assert_int_equal(case_step(&GA_CLERK, "Close", id, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(events_of(number, "rectification.closed"), 1);
  /* the database holds the order too, whoever writes */
  char v[8];
  assert_int_equal(yw_testapps_query1(&t, "UPDATE applications.rectifications SET status = 'open'"
                                          " WHERE id = $1::bigint RETURNING 1", id, v, sizeof v),
                   -1);
}

static void test_lists_overdue_first_and_supervisors_see_all(void **state) {
  (void)state;
  /* one more open GA case made overdue, one SW case from a hall's rating */
  char number[24], overdue_id[24], sw_id[24];
  application(1, number);
  Rating *r = NULL;
  assert_int_equal(rate(&RESIDENT, NULL, number, LV(DISSATISFIED), "", &r), GRPC_STATUS_OK);
  snprintf(overdue_id, sizeof overdue_id, "%s", r->rectification_id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  char v[8];
  query1("UPDATE applications.rectifications SET due_date = current_date - 3 WHERE id = $1::bigint"
         " RETURNING 1", overdue_id, v, sizeof v);
  r = NULL;
  assert_int_equal(rate_channel(&RESIDENT, CH(HALL), "HALL-01", "320700-SW", LV(DISSATISFIED), &r),
                   GRPC_STATUS_OK);
  snprintf(sw_id, sizeof sw_id, "%s", r->rectification_id);
  protobuf_c_message_free_unpacked(&r->base, NULL);

  /* GA's list: its own only, overdue first, paged */
  long long ga = count("SELECT count(*) FROM applications.rectifications WHERE department = $1", LEAD);
  CaseList *l = NULL;
  assert_int_equal(list_cases(&GA_CLERK, LEAD, 0, 100, "", &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_rectifications, ga);
  assert_string_equal(l->rectifications[0]->id, overdue_id);
  assert_int_equal(l->rectifications[0]->overdue, 1);
  for (size_t i = 0; i < l->n_rectifications; i++) {
    assert_string_equal(l->rectifications[i]->department, LEAD);
    assert_string_equal(l->rectifications[i]->rating_text, "");
  }
  protobuf_c_message_free_unpacked(&l->base, NULL);
  size_t seen = 0;
  char token[512] = "";
  do {
    l = NULL;
    assert_int_equal(list_cases(&GA_CLERK, LEAD, 0, 1, token, &l), GRPC_STATUS_OK);
    if (seen == 0) assert_string_equal(l->rectifications[0]->id, overdue_id);
    seen += l->n_rectifications;
    snprintf(token, sizeof token, "%s", l->next_page_token);
    protobuf_c_message_free_unpacked(&l->base, NULL);
  } while (token[0] != '\0' && seen < 100);
  assert_int_equal(seen, ga);
  /* staff of another department: not GA's list */
  assert_int_equal(list_cases(&SW_CLERK, LEAD, 0, 0, "", NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(get_case(&GA_CLERK, LEAD, sw_id, NULL), GRPC_STATUS_NOT_FOUND);
  /* supervisors: every department's, and the overdue alone */
  l = NULL;
  assert_int_equal(list_cases(&AUDITOR, "", 0, 100, "", &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_rectifications, count("SELECT count(*) FROM applications.rectifications", NULL));
  int saw_sw = 0;
  for (size_t i = 0; i < l->n_rectifications; i++) saw_sw |= strcmp(l->rectifications[i]->id, sw_id) == 0;
  assert_int_equal(saw_sw, 1);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  l = NULL;
  assert_int_equal(list_cases(&AUDITOR, "", 1, 100, "", &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_rectifications, 1);
  assert_string_equal(l->rectifications[0]->id, overdue_id);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  assert_int_equal(get_case(&AUDITOR, "", sw_id, NULL), GRPC_STATUS_OK);
  /* supervisors read, but do not act */
  assert_int_equal(case_step(&AUDITOR, "Answer", sw_id, NULL), GRPC_STATUS_PERMISSION_DENIED);
}

/* ---- channels and the summary ------------------------------------------------------------ */

static void test_channel_rated_once_a_day_and_summary_adds_up(void **state) {
  (void)state;
  const char *dept = "320700-RF"; /* in the catalog; nothing else here rates it */
  assert_int_equal(rate_channel(&RESIDENT, CH(HALL), "", dept, LV(SATISFIED), NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(rate_channel(&RESIDENT, CH(APP), "HALL-01", dept, LV(SATISFIED), NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(rate_channel(&RESIDENT, 0, "", dept, LV(SATISFIED), NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(rate_channel(&RESIDENT, CH(APP), "", "bad code!", LV(SATISFIED), NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(rate_channel(&GA_CLERK, CH(APP), "", dept, LV(SATISFIED), NULL), GRPC_STATUS_PERMISSION_DENIED);

  assert_int_equal(rate_channel(&RESIDENT, CH(APP), "", dept, LV(VERY_SATISFIED), NULL), GRPC_STATUS_OK);
  assert_int_equal(rate_channel(&RESIDENT, CH(APP), "", dept, LV(SATISFIED), NULL), GRPC_STATUS_ALREADY_EXISTS);
  assert_int_equal(rate_channel(&RESIDENT, CH(WEB), "", dept, LV(BASICALLY_SATISFIED), NULL), GRPC_STATUS_OK);
  assert_int_equal(rate_channel(&OTHER_RESIDENT, CH(APP), "", dept, LV(SATISFIED), NULL), GRPC_STATUS_OK);
  Rating *r = NULL;
  assert_int_equal(rate_channel(&RESIDENT, CH(HALL), "HALL-02", dept, LV(VERY_DISSATISFIED), &r), GRPC_STATUS_OK);
  char id[24], key[40];
  snprintf(id, sizeof id, "%s", r->rectification_id);
  snprintf(key, sizeof key, "rating-%s", r->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(events_of(key, "application.rated"), 1);
  assert_int_equal(events_of(key, "rectification.opened"), 1);

  Summary *s = summary(dept, "");
  assert_int_equal(s->very_satisfied, 1);
  assert_int_equal(s->satisfied, 1);
  assert_int_equal(s->basically_satisfied, 1);
  assert_int_equal(s->dissatisfied, 0);
  assert_int_equal(s->very_dissatisfied, 1);
  assert_int_equal(s->total, 4);
  assert_int_equal(s->bad, 1);
  assert_int_equal(s->rectified, 0);
  assert_true(s->satisfaction_rate > 0.7499 && s->satisfaction_rate < 0.7501);
  protobuf_c_message_free_unpacked(&s->base, NULL);

  /* the case of the hall's rating closed by a phone revisit: counted as rectified */
  const as SUM_CLERK = {YW_CALLER_STAFF, "s-sum", "dept_admin", dept, 0, NULL, NULL};
  assert_int_equal(case_step(&SUM_CLERK, "Answer", id, NULL), GRPC_STATUS_OK);
  Rectification *c = NULL;
  assert_int_equal(case_step(&SUM_CLERK, "Revisit", id, &c), GRPC_STATUS_OK);
  assert_string_equal(c->revisit_by, "phone");
  protobuf_c_message_free_unpacked(&c->base, NULL);
  assert_int_equal(case_step(&SUM_CLERK, "Close", id, NULL), GRPC_STATUS_OK);
  s = summary(dept, "");
  assert_int_equal(s->rectified, 1);
  assert_int_equal(s->total, 4);
  protobuf_c_message_free_unpacked(&s->base, NULL);

  /* by item: the applications' ratings of ITEM, as the ratings table counts them */
  s = summary("", ITEM);
  assert_int_equal(s->total, count("SELECT count(*) FROM applications.ratings WHERE item_code = $1", ITEM));
  assert_true(s->total >= 3);
  protobuf_c_message_free_unpacked(&s->base, NULL);
  /* exactly one of department and item */
  Yiwang__Applications__V1__GetRatingSummaryRequest req =
      YIWANG__APPLICATIONS__V1__GET_RATING_SUMMARY_REQUEST__INIT;
  req.department = (char *)dept;
  req.item = ITEM;
  assert_int_equal(yw_testapps_call(&t, &RESIDENT, NULL, RATE "GetRatingSummary", &req.base,
                                    &yiwang__applications__v1__rating_summary__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

typedef Yiwang__Applications__V1__ListMyRatingsResponse MyList;

static grpc_status_code my_ratings(const as *who, int size, const char *token, MyList **out) {
  Yiwang__Applications__V1__ListMyRatingsRequest req = YIWANG__APPLICATIONS__V1__LIST_MY_RATINGS_REQUEST__INIT;
  req.page_size = size;
  req.page_token = (char *)(token != NULL ? token : "");
  return yw_testapps_call(&t, who, NULL, RATE "ListMyRatings", &req.base,
                          &yiwang__applications__v1__list_my_ratings_response__descriptor,
                          (ProtobufCMessage **)out, NULL, 0);
}

/* The ids of who's ratings page by page (pages of size), newest first, joined by ','. */
static void my_ids(const as *who, int size, char *out, size_t cap) {
  char token[256] = "";
  size_t at = 0;
  out[0] = '\0';
  for (int pages = 0; pages < 100; pages++) {
    MyList *l = NULL;
    assert_int_equal(my_ratings(who, size, token, &l), GRPC_STATUS_OK);
    assert_true(l->n_ratings <= (size_t)size);
    for (size_t i = 0; i < l->n_ratings; i++)
      at += (size_t)snprintf(out + at, cap - at, "%s%s", at > 0 ? "," : "", l->ratings[i]->id);
    snprintf(token, sizeof token, "%s", l->next_page_token);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    if (token[0] == '\0') return;
  }
  fail_msg("more than 100 pages");
}

static void test_a_resident_lists_their_own_ratings_with_the_cases(void **state) {
  (void)state;
  char n[24];
  application(1, n);
  Rating *r = NULL;
  assert_int_equal(rate(&RESIDENT, NULL, n, LV(DISSATISFIED), "等了很久", &r), GRPC_STATUS_OK);
  char app_rating[24], case_id[24];
  snprintf(app_rating, sizeof app_rating, "%s", r->id);
  snprintf(case_id, sizeof case_id, "%s", r->rectification_id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(rate_channel(&RESIDENT, CH(HALL), "HALL-MINE", LEAD, LV(SATISFIED), &r), GRPC_STATUS_OK);
  char hall_rating[24];
  snprintf(hall_rating, sizeof hall_rating, "%s", r->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);

  /* newest first: the hall's, then the application's with its open case */
  MyList *l = NULL;
  assert_int_equal(my_ratings(&RESIDENT, 2, NULL, &l), GRPC_STATUS_OK);
  assert_int_equal(l->n_ratings, 2);
  assert_string_equal(l->ratings[0]->id, hall_rating);
  assert_int_equal(l->ratings[0]->channel, CH(HALL));
  assert_string_equal(l->ratings[0]->hall_code, "HALL-MINE");
  assert_int_equal(l->ratings[0]->rectification_status, 0);
  assert_string_equal(l->ratings[1]->id, app_rating);
  assert_string_equal(l->ratings[1]->application_number, n);
  assert_string_equal(l->ratings[1]->text, "等了很久");
  assert_string_equal(l->ratings[1]->rectification_id, case_id);
  assert_int_equal(l->ratings[1]->rectification_status, RS(OPEN));
  assert_int_equal(strlen(l->ratings[1]->rectification_due_date), 10);
  assert_int_equal(l->ratings[1]->verification, 0);
  assert_string_equal(l->ratings[1]->measures, "");
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* the department's answer shows once given */
  assert_int_equal(case_step(&GA_CLERK, "Answer", case_id, NULL), GRPC_STATUS_OK);
  assert_int_equal(my_ratings(&RESIDENT, 2, NULL, &l), GRPC_STATUS_OK);
  assert_int_equal(l->ratings[1]->rectification_status, RS(ANSWERED));
  assert_int_equal(l->ratings[1]->verification, CV(VALID));
  assert_string_equal(l->ratings[1]->measures, "窗口增加人手，当日办结");
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* every rating of theirs, page by page of 3, exactly as the table holds them */
  char got[4096], want[4096];
  my_ids(&RESIDENT, 3, got, sizeof got);
  assert_int_equal(yw_testapps_query1(&t, "SELECT string_agg(id::text, ',' ORDER BY id DESC)"
                                          " FROM applications.ratings WHERE rater_subject = $1",
                                      RESIDENT.subject, want, sizeof want),
                   0);
  assert_string_equal(got, want);
  assert_non_null(strchr(got, ','));
  /* another resident's list holds none of them */
  my_ids(&OTHER_RESIDENT, 100, got, sizeof got);
  assert_int_equal(yw_testapps_query1(&t, "SELECT COALESCE(string_agg(id::text, ',' ORDER BY id DESC), '')"
                                          " FROM applications.ratings WHERE rater_subject = $1",
                                      OTHER_RESIDENT.subject, want, sizeof want),
                   0);
  assert_string_equal(got, want);
  assert_null(strstr(got, app_rating));
  /* staff have no ratings of their own; bad paging is refused */
  assert_int_equal(my_ratings(&GA_CLERK, 0, NULL, NULL), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(my_ratings(&RESIDENT, 101, NULL, NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(my_ratings(&RESIDENT, 1, "not-a-token", NULL), GRPC_STATUS_INVALID_ARGUMENT);
}

/* CreateRating of an APP channel for dept and item, with the status message in msg. */
static grpc_status_code rate_target(const char *dept, const char *item, char *msg, size_t msglen) {
  Yiwang__Applications__V1__CreateRatingRequest req =
      YIWANG__APPLICATIONS__V1__CREATE_RATING_REQUEST__INIT;
  req.channel = CH(APP);
  req.department_code = (char *)dept;
  req.item_code = (char *)item;
  req.level = LV(SATISFIED);
  msg[0] = '\0';
  return yw_testapps_call(&t, &RESIDENT, NULL, RATE "CreateRating", &req.base,
                          &yiwang__applications__v1__rating__descriptor, NULL, msg, msglen);
}

static void test_a_channel_rating_is_checked_against_the_catalog(void **state) {
  (void)state;
  long long before = count("SELECT count(*) FROM applications.ratings", NULL);
  char msg[256];
  assert_int_equal(rate_target("320700-NONE", "", msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "departmentCode"));
  assert_int_equal(rate_target(LEAD, "GG99999999-320700-GA", msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "itemCode"));
  assert_int_equal(rate_target("320700-MZ", ITEM, msg, sizeof msg), GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "itemCode"));
  assert_non_null(strstr(msg, "320700-MZ"));
  assert_int_equal(count("SELECT count(*) FROM applications.ratings", NULL), before);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'application.rated'"
                         " AND aggregate_key LIKE 'rating-%'", NULL),
                   count("SELECT count(*) FROM applications.ratings WHERE application_number IS NULL", NULL));

  /* the catalog down: UNAVAILABLE, nothing stored */
  yw_rpc_channel *live = t.app.catalog;
  yw_rpc_channel *dead = yw_rpc_channel_new(t.client, "127.0.0.1:1", 1, 4 << 20);
  assert_non_null(dead);
  t.app.catalog = dead;
  grpc_status_code st = rate_target(LEAD, "", msg, sizeof msg);
  t.app.catalog = live;
  yw_rpc_channel_free(dead);
  assert_int_equal(st, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(count("SELECT count(*) FROM applications.ratings", NULL), before);

  /* the department's own item: stored with it */
  assert_int_equal(rate_target(LEAD, ITEM, msg, sizeof msg), GRPC_STATUS_OK);
  assert_int_equal(count("SELECT count(*) FROM applications.ratings WHERE application_number IS NULL"
                         " AND item_code = $1 AND department = '" LEAD "'", ITEM),
                   1);
  /* one rating of the department's channel a day: another item, or none, is not a second
   * rating (ALREADY_EXISTS, nothing stored, no event) */
  long long rows = count("SELECT count(*) FROM applications.ratings", NULL);
  long long rated = count("SELECT count(*) FROM applications.outbox WHERE type = 'application.rated'", NULL);
  assert_int_equal(rate_target(LEAD, "", msg, sizeof msg), GRPC_STATUS_ALREADY_EXISTS);
  assert_non_null(strstr(msg, "already rated"));
  assert_int_equal(count("SELECT count(*) FROM applications.ratings", NULL), rows);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'application.rated'", NULL),
                   rated);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rated_once_by_the_applicant_after_the_end),
      cmocka_unit_test(test_bad_rating_opens_a_case_due_in_working_days),
      cmocka_unit_test(test_case_steps_in_order_by_the_right_people),
      cmocka_unit_test(test_lists_overdue_first_and_supervisors_see_all),
      cmocka_unit_test(test_channel_rated_once_a_day_and_summary_adds_up),
      cmocka_unit_test(test_a_resident_lists_their_own_ratings_with_the_cases),
      cmocka_unit_test(test_a_channel_rating_is_checked_against_the_catalog),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
