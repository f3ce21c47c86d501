/*
 * test_applications_service.c - yw-applications on the real runtime against a real
 * PostgreSQL and Redis: yw-catalog and yw-applications serve in this process on one
 * yw_rpc_server (port 0), SubmitApplication reads the item from the catalog over a real
 * call between services (yw_rpc_call_forward, the caller signed anew), and the test
 * calls with yw_rpc_call_sync over a real gRPC connection with a signed caller. The
 * database is a fresh one with both schemas and the catalog's demo seed.
 *
 * Proves: the C allow-list equals the database's; the trigger refuses an illegal
 * change made directly; 200 concurrent submissions get 200 distinct numbers of the
 * region and day; one Idempotency-Key gives one application; the item must be
 * published and the applicant of its real-name level; a resident acting for a company
 * files as that company; a form over 64 KiB is refused and stores nothing; the journey of one application
 * (accept, review, supplement, resubmit, joint approval, completion) with its timeline,
 * events and feed entries in order; the due date's clock stopped while a supplement is
 * awaited; one refusal decides a joint application; a
 * department not on the application may neither read (NOT_FOUND) nor act
 * (PERMISSION_DENIED); an illegal step is FAILED_PRECONDITION and leaves the row as it
 * was; the work queue lists by due date, paged; bad input is INVALID_ARGUMENT.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "application_status.h"
#include "applications.h"
#include "calendar.h"
#include "catalog.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/events/v1/applications.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_json.h"
#include "yw_log.h"
#include "yw_testapps.h"
#include "yw_testdb.h"
#include "yw_workdays.h"

#define SVC "/yiwang.applications.v1.ApplicationsService/"
#define ITEM "GG00001000-320700-GA"        /* one department, real-name level 2 */
#define JOINT_ITEM "GG00005000-320700-GA"  /* 320700-GA with 320700-SW */
#define DRAFT_ITEM "XK00030000-320700-SCJG"
#define LEAD "320700-GA"
#define JOINT "320700-SW"
#define CONCURRENT 200

typedef Yiwang__Applications__V1__Application Application;
typedef Yiwang__Applications__V1__SubmitApplicationResponse Receipt;

static yw_testapps t;
static struct yw_workdays *weekends; /* what the service's empty calendar counts */

/* ---- set-up ----------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if ((weekends = yw_workdays_new()) == NULL) return -1;
  return yw_testapps_start(&t, 12, 2 * CONCURRENT, NULL, 0);
}

static int teardown(void **state) {
  (void)state;
  yw_testapps_stop(&t);
  yw_workdays_free(weekends);
  return 0;
}

/* ---- calls ------------------------------------------------------------------------ */

/* Who calls: a resident (subject, level), or staff of a department. */
typedef yw_testapps_caller as;

static const as RESIDENT = {YW_CALLER_PERSON, "p-resident", "", "", 2, NULL, NULL};
static const as OTHER_RESIDENT = {YW_CALLER_PERSON, "p-other", "", "", 2, NULL, NULL};
static const as LOW_RESIDENT = {YW_CALLER_PERSON, "p-low", "", "", 1, NULL, NULL};
static const as GA_CLERK = {YW_CALLER_STAFF, "s-ga", "dept_staff", LEAD, 0, NULL, NULL};
static const as SW_CLERK = {YW_CALLER_STAFF, "s-sw", "dept_staff", JOINT, 0, NULL, NULL};
static const as SCJG_CLERK = {YW_CALLER_STAFF, "s-scjg", "dept_staff", "320700-SCJG", 0, NULL, NULL};

static grpc_status_code call_as(const as *who, const char *idem_key, const char *method,
                                const ProtobufCMessage *req,
                                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
                                char *msg, size_t msglen) {
  char path[128];
  snprintf(path, sizeof path, SVC "%s", method);
  return yw_testapps_call(&t, who, idem_key, path, req, out_desc, out, msg, msglen);
}

/* A form {"name": value}. */
/* One form per thread: the concurrent submissions each pack their own (a form shared
 * between threads was rewritten while another packed it, and corrupted the heap). */
static Google__Protobuf__Struct *form_of(const char *value) {
  static _Thread_local Google__Protobuf__Value v;
  static _Thread_local Google__Protobuf__Struct__FieldsEntry e;
  static _Thread_local Google__Protobuf__Struct__FieldsEntry *es[1];
  static _Thread_local Google__Protobuf__Struct s;
  static _Thread_local char text[64];
  google__protobuf__value__init(&v);
  snprintf(text, sizeof text, "%s", value);
  v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
  v.string_value = text;
  google__protobuf__struct__fields_entry__init(&e);
  e.key = "name";
  e.value = &v;
  es[0] = &e;
  google__protobuf__struct__init(&s);
  s.n_fields = 1;
  s.fields = es;
  return &s;
}

static grpc_status_code submit(const as *who, const char *key, const char *item, Receipt **out,
                               char *msg, size_t msglen) {
  Yiwang__Applications__V1__SubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  req.item_code = (char *)item;
  req.form = form_of("张三");
  return call_as(who, key, "SubmitApplication", &req.base,
                 &yiwang__applications__v1__submit_application_response__descriptor,
                 (ProtobufCMessage **)out, msg, msglen);
}

/* A staff step (Accept, StartReview ...) by who, for its own department. */
static grpc_status_code step(const as *who, const char *method, const char *number,
                             const char *reason, Application **out) {
  Yiwang__Applications__V1__TransitionRequest req = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  req.department = (char *)who->dept;
  req.number = (char *)number;
  req.reason = (char *)reason;
  return call_as(who, NULL, method, &req.base, &yiwang__applications__v1__application__descriptor,
                 (ProtobufCMessage **)out, NULL, 0);
}

static grpc_status_code decide(const as *who, const char *number, int approve, Application **out) {
  Yiwang__Applications__V1__DecideRequest req = YIWANG__APPLICATIONS__V1__DECIDE_REQUEST__INIT;
  req.department = (char *)who->dept;
  req.number = (char *)number;
  req.decision = approve ? YIWANG__APPLICATIONS__V1__DECISION__APPROVE
                         : YIWANG__APPLICATIONS__V1__DECISION__DISAPPROVE;
  req.reason = approve ? "" : "材料不符合要求";
  return call_as(who, NULL, "DecideApplication", &req.base, &yiwang__applications__v1__application__descriptor,
                 (ProtobufCMessage **)out, NULL, 0);
}

static grpc_status_code get(const as *who, const char *number, Application **out) {
  Yiwang__Applications__V1__GetApplicationRequest req =
      YIWANG__APPLICATIONS__V1__GET_APPLICATION_REQUEST__INIT;
  req.number = (char *)number;
  return call_as(who, NULL, "GetApplication", &req.base, &yiwang__applications__v1__application__descriptor,
                 (ProtobufCMessage **)out, NULL, 0);
}

/* One value of a query, as text into out (out[0] = '\0' for none). */
static void query1(const char *sql, const char *param, char *out, size_t size) {
  assert_int_equal(yw_testapps_query1(&t, sql, param, out, size), 0);
}

static long long count(const char *sql, const char *param) {
  char v[32];
  query1(sql, param, v, sizeof v);
  return atoll(v);
}

/* The row's status and updated_at, to see that a refused step changed nothing. */
static void row_state(const char *number, char *out, size_t size) {
  query1("SELECT status || '|' || updated_at::text || '|' || form_enc || '|' ||"
         " (SELECT count(*) FROM applications.application_transitions t WHERE t.application_id = a.id)"
         " FROM applications.applications a WHERE number = $1",
         number, out, size);
}

static Receipt *submit_ok(const char *item, const char *key) {
  Receipt *r = NULL;
  char msg[256] = "";
  grpc_status_code st = submit(&RESIDENT, key, item, &r, msg, sizeof msg);
  if (st != GRPC_STATUS_OK) fprintf(stderr, "submit %s: %d %s\n", item, st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  return r;
}

/* ---- the allow-list --------------------------------------------------------------- */

static void test_c_allow_list_equals_the_table(void **state) {
  (void)state;
  assert_int_equal(count("SELECT count(*) FROM applications.status_transitions", NULL),
                   (long long)application_transitions_count);
  for (size_t i = 0; i < application_transitions_count; i++) {
    char pair[64];
    snprintf(pair, sizeof pair, "%s>%s", application_status_db(application_transitions[i].from),
             application_status_db(application_transitions[i].to));
    assert_int_equal(count("SELECT count(*) FROM applications.status_transitions"
                           " WHERE from_status || '>' || to_status = $1",
                           pair),
                     1);
  }
}

static void test_trigger_refuses_an_illegal_change(void **state) {
  (void)state;
  Receipt *r = submit_ok(ITEM, NULL);
  char before[512], after[512];
  row_state(r->application->number, before, sizeof before);
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 2000);
  const char *p[] = {r->application->number};
  yw_pg_error err;
  int rc = yw_pg_query(c, "UPDATE applications.applications SET status = 'completed' WHERE number = $1",
                       1, p, NULL, &err);
  yw_pg_pool_release(t.app.pool, c);
  assert_int_equal(rc, YW_EPRECOND);
  assert_string_equal(err.sqlstate, "YW001");
  row_state(r->application->number, after, sizeof after);
  assert_string_equal(before, after);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- numbers and idempotency ------------------------------------------------------ */

struct submitter {
  pthread_t t;
  char number[24];
  grpc_status_code st;
};

static void *submit_one(void *arg) {
  struct submitter *s = arg;
  Receipt *r = NULL;
  s->st = submit(&RESIDENT, NULL, ITEM, &r, NULL, 0);
  if (s->st == GRPC_STATUS_OK) {
    snprintf(s->number, sizeof s->number, "%s", r->application->number);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static void test_concurrent_submissions_get_distinct_numbers(void **state) {
  (void)state;
  long long before = count("SELECT count(*) FROM applications.applications", NULL);
  static struct submitter s[CONCURRENT];
  for (int i = 0; i < CONCURRENT; i++) assert_int_equal(pthread_create(&s[i].t, NULL, submit_one, &s[i]), 0);
  for (int i = 0; i < CONCURRENT; i++) pthread_join(s[i].t, NULL);
  char numbers[CONCURRENT][24];
  char day[16];
  query1("SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')", NULL, day, sizeof day);
  for (int i = 0; i < CONCURRENT; i++) {
    assert_int_equal(s[i].st, GRPC_STATUS_OK);
    assert_int_equal(strlen(s[i].number), 20);
    assert_memory_equal(s[i].number, "320700", 6); /* the item's region */
    assert_memory_equal(s[i].number + 6, day, 8);  /* the day in Asia/Shanghai */
    memcpy(numbers[i], s[i].number, 24);
  }
  qsort(numbers, CONCURRENT, sizeof numbers[0], cmp_str);
  for (int i = 1; i < CONCURRENT; i++) assert_string_not_equal(numbers[i - 1], numbers[i]);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), before + CONCURRENT);
  /* the sequence has no gaps: the last number given is the count of the day */
  char last[16];
  query1("SELECT last FROM applications.number_sequences WHERE region = '320700'", NULL, last, sizeof last);
  assert_int_equal(atoll(last), count("SELECT count(*) FROM applications.applications"
                                      " WHERE region_code = '320700'", NULL));
}

static void test_same_idempotency_key_gives_one_application(void **state) {
  (void)state;
  long long before = count("SELECT count(*) FROM applications.applications", NULL);
  Receipt *a = submit_ok(ITEM, "apply-once-1");
  Receipt *b = submit_ok(ITEM, "apply-once-1");
  assert_string_equal(a->application->number, b->application->number);
  assert_string_equal(a->query_code, b->query_code);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), before + 1);
  /* the query code is kept only as its HMAC */
  assert_int_equal(strlen(a->query_code), 6);
  assert_int_equal(count("SELECT count(*) FROM applications.applications WHERE query_code_mac = $1",
                         a->query_code), 0);
  char mac_in[40], mac[65];
  snprintf(mac_in, sizeof mac_in, "%s:%s", a->application->number, a->query_code);
  yw_hmac_hex(t.app.lookup_key, mac_in, strlen(mac_in), mac);
  assert_int_equal(count("SELECT count(*) FROM applications.applications WHERE query_code_mac = $1",
                         mac), 1);
  /* one application.submitted in the outbox */
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1"
                         " AND type = 'application.submitted'",
                         a->application->number),
                   1);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  protobuf_c_message_free_unpacked(&b->base, NULL);
}

static void test_item_must_be_published_and_level_met(void **state) {
  (void)state;
  long long before = count("SELECT count(*) FROM applications.applications", NULL);
  Receipt *r = NULL;
  assert_int_not_equal(submit(&RESIDENT, NULL, DRAFT_ITEM, &r, NULL, 0), GRPC_STATUS_OK);
  assert_int_equal(submit(&LOW_RESIDENT, NULL, ITEM, &r, NULL, 0), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(submit(&RESIDENT, NULL, "NO-SUCH-ITEM", &r, NULL, 0), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(submit(&RESIDENT, NULL, "bad code!", &r, NULL, 0), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(submit(&GA_CLERK, NULL, ITEM, &r, NULL, 0), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), before);
}

static void test_a_company_applies_and_a_large_form_is_refused(void **state) {
  (void)state;
  static const as AGENT = {YW_CALLER_PERSON, "p-agent", "", "", 2, "91350100M000100Y43", "apply"};
  Receipt *r = NULL;
  /* ITEM is for natural persons only: not filed for a company, nothing written */
  long long filed = count("SELECT count(*) FROM applications.applications", NULL);
  char msg[256] = "";
  assert_int_equal(submit(&AGENT, NULL, ITEM, &r, msg, sizeof msg), GRPC_STATUS_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "stop acting for the company"));
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), filed);
  char company_item[64];
  query1("SELECT impl_code FROM catalog.items WHERE status = 'published' AND form IS NULL"
         " AND department_code = $1 AND coalesce((details->>'minRealnameLevel')::int, 0) <= 2"
         " AND details->'audiences' ? 'LEGAL_PERSON' ORDER BY impl_code LIMIT 1",
         "320700-GA", company_item, sizeof company_item);
  assert_int_equal(submit(&AGENT, NULL, company_item, &r, NULL, 0), GRPC_STATUS_OK);
  assert_string_equal(r->application->applicant_kind, "company");
  assert_string_equal(r->application->applicant_org, "91350100M000100Y43");
  assert_string_equal(r->application->applicant_subject, "p-agent");
  protobuf_c_message_free_unpacked(&r->base, NULL);

  long long before = count("SELECT count(*) FROM applications.applications", NULL);
  static char big[70 * 1024];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  Yiwang__Applications__V1__SubmitApplicationRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  req.item_code = ITEM;
  req.form = form_of("");
  req.form->fields[0]->value->string_value = big;
  assert_int_equal(call_as(&RESIDENT, NULL, "SubmitApplication", &req.base,
                           &yiwang__applications__v1__submit_application_response__descriptor,
                           NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), before);
}

/* ---- the journey ------------------------------------------------------------------ */

static void test_joint_journey_with_timeline_events_and_feed(void **state) {
  (void)state;
  Receipt *r = submit_ok(JOINT_ITEM, NULL);
  char number[24];
  snprintf(number, sizeof number, "%s", r->application->number);
  assert_int_equal(r->application->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__SUBMITTED);
  assert_string_equal(r->application->lead_department, LEAD);
  assert_int_equal(r->application->n_joint_departments, 1);
  assert_string_equal(r->application->joint_departments[0], JOINT);
  assert_true(r->application->item_version >= 1);
  protobuf_c_message_free_unpacked(&r->base, NULL);

  /* another department neither sees nor acts; another resident does not see it */
  assert_int_equal(get(&SCJG_CLERK, number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get(&OTHER_RESIDENT, number, NULL), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(step(&SCJG_CLERK, "AcceptApplication", number, "", NULL), GRPC_STATUS_PERMISSION_DENIED);
  /* the joint department sees it but intake is the lead's */
  assert_int_equal(get(&SW_CLERK, number, NULL), GRPC_STATUS_OK);
  assert_int_equal(step(&SW_CLERK, "AcceptApplication", number, "", NULL), GRPC_STATUS_PERMISSION_DENIED);
  /* staff of one department cannot claim another's */
  Yiwang__Applications__V1__TransitionRequest spoof = YIWANG__APPLICATIONS__V1__TRANSITION_REQUEST__INIT;
  spoof.department = LEAD;
  spoof.number = number;
  assert_int_equal(call_as(&SW_CLERK, NULL, "AcceptApplication", &spoof.base,
                           &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_PERMISSION_DENIED);

  /* a step out of order is refused and changes nothing */
  char before[512], after[512];
  row_state(number, before, sizeof before);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, "", NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(decide(&GA_CLERK, number, 1, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  row_state(number, after, sizeof after);
  assert_string_equal(before, after);

  Application *a = NULL;
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number, "", &a), GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__ACCEPTED);
  assert_int_equal(strlen(a->due_date), 10);
  assert_true(a->accepted_at[0] != '\0');
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, "", NULL), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "RequestSupplement", number, "", NULL),
                   GRPC_STATUS_INVALID_ARGUMENT); /* a reason is required */
  assert_int_equal(step(&GA_CLERK, "RequestSupplement", number, "请补充户口簿", NULL), GRPC_STATUS_OK);

  /* the applicant resubmits the form */
  Yiwang__Applications__V1__ResubmitApplicationRequest rs =
      YIWANG__APPLICATIONS__V1__RESUBMIT_APPLICATION_REQUEST__INIT;
  rs.number = number;
  rs.form = form_of("张三（补正）");
  assert_int_equal(call_as(&OTHER_RESIDENT, NULL, "ResubmitApplication", &rs.base,
                           &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_NOT_FOUND);
  a = NULL;
  assert_int_equal(call_as(&RESIDENT, NULL, "ResubmitApplication", &rs.base,
                           &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__RESUBMITTED);
  assert_string_equal(a->form->fields[0]->value->string_value, "张三（补正）");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, "", NULL), GRPC_STATUS_OK);

  /* joint approval: one approval is not enough, a department decides once */
  a = NULL;
  assert_int_equal(decide(&GA_CLERK, number, 1, &a), GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__IN_REVIEW);
  assert_int_equal(a->n_opinions, 1);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(decide(&GA_CLERK, number, 1, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(decide(&SCJG_CLERK, number, 1, NULL), GRPC_STATUS_PERMISSION_DENIED);
  a = NULL;
  assert_int_equal(decide(&SW_CLERK, number, 1, &a), GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  /* withdrawal after the decision is refused and changes nothing */
  row_state(number, before, sizeof before);
  Yiwang__Applications__V1__WithdrawApplicationRequest wd =
      YIWANG__APPLICATIONS__V1__WITHDRAW_APPLICATION_REQUEST__INIT;
  wd.number = number;
  assert_int_equal(call_as(&RESIDENT, NULL, "WithdrawApplication", &wd.base,
                           &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_FAILED_PRECONDITION);
  row_state(number, after, sizeof after);
  assert_string_equal(before, after);

  assert_int_equal(step(&SW_CLERK, "CompleteApplication", number, "", NULL), GRPC_STATUS_PERMISSION_DENIED);
  /* its fee is paid online first (test_application_fees): a step of its own */
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", number, "", NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(yw_testapps_fee_paid(&t, number), 0);
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", number, "", NULL), GRPC_STATUS_OK);

  /* the timeline, oldest first */
  a = NULL;
  assert_int_equal(get(&RESIDENT, number, &a), GRPC_STATUS_OK);
  static const application_status want[] = {
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__SUBMITTED,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__ACCEPTED,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__IN_REVIEW,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__SUPPLEMENT_REQUESTED,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__RESUBMITTED,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__IN_REVIEW,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED,
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED, /* 已缴费: no change of status */
      YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__COMPLETED,
  };
  assert_int_equal(a->n_timeline, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < a->n_timeline; i++) {
    assert_int_equal(a->timeline[i]->to_status, want[i]);
    if (i > 0) assert_int_equal(a->timeline[i]->from_status, want[i - 1]);
  }
  assert_string_equal(a->timeline[3]->reason, "请补充户口簿");
  assert_string_equal(a->timeline[3]->actor_department, LEAD);
  assert_string_equal(a->timeline[6]->actor_department, JOINT); /* the last approval decided */
  assert_string_equal(a->timeline[7]->reason, "已缴费");
  assert_string_equal(a->timeline[7]->actor, "payment");
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__COMPLETED);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  /* the events in the outbox, in order: submitted, then each change with its statuses */
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1"
                         " AND type <> 'application.supervision_changed'", number), 9);
  /* and the colour each step gave in its transaction: at acceptance, none while the
   * supplement was awaited, again at resubmission, none once approved */
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = $1"
                         " AND type = 'application.supervision_changed'", number), 4);
  PGconn *c = yw_pg_pool_acquire(t.app.pool, 2000);
  const char *p[] = {number};
  PGresult *res = NULL;
  yw_pg_error err;
  assert_int_equal(yw_pg_query(c, "SELECT type, payload FROM applications.outbox WHERE aggregate_key = $1"
                                  " AND type <> 'application.supervision_changed' ORDER BY id",
                               1, p, &res, &err), 0);
  yw_pg_pool_release(t.app.pool, c);
  assert_string_equal(PQgetvalue(res, 0, 0), "application.submitted");
  for (int i = 1; i < PQntuples(res); i++) {
    assert_string_equal(PQgetvalue(res, i, 0), "application.status_changed");
    size_t len = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 1), &len);
    Yiwang__Events__V1__ApplicationStatusChanged *ev =
        yiwang__events__v1__application_status_changed__unpack(NULL, len, bytes);
    PQfreemem(bytes);
    assert_non_null(ev);
    assert_string_equal(ev->number, number);
    assert_string_equal(ev->to_status, protobuf_c_enum_descriptor_get_value(
        &yiwang__applications__v1__application_status__descriptor, (int)want[i])->name);
    assert_int_equal(ev->n_departments, 2);
    assert_int_equal(strlen(ev->query_code_mac), 64);
    assert_int_equal(strlen(ev->due_date), 10);
    yiwang__events__v1__application_status_changed__free_unpacked(ev, NULL);
  }
  PQclear(res);
  /* and a feed entry for the applicant with each */
  long long feed = count("SELECT count(*) FROM applications.outbox WHERE aggregate_key = 'p-resident'"
                         " AND type = 'feed.entry' AND position(convert_to($1, 'UTF8') IN payload) > 0",
                         number);
  assert_int_equal(feed, 9);
}

/* A joint application filed, accepted and in review; its number into number. */
static void joint_in_review(char number[24]) {
  Receipt *r = submit_ok(JOINT_ITEM, NULL);
  snprintf(number, 24, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number, "", NULL), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, "", NULL), GRPC_STATUS_OK);
}

static void test_one_refusal_decides_a_joint_application(void **state) {
  (void)state;
  char number[24];
  joint_in_review(number);
  Application *a = NULL;
  assert_int_equal(decide(&SW_CLERK, number, 0, &a), GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__DISAPPROVED);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* the other department's approval comes too late */
  assert_int_equal(decide(&GA_CLERK, number, 1, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(step(&GA_CLERK, "CompleteApplication", number, "", NULL), GRPC_STATUS_FAILED_PRECONDITION);
}

/* Opinions are given on what the application says: one given before a supplement was
 * asked for is not counted after it, and the department decides again. */
static void test_a_supplement_asks_every_department_again(void **state) {
  (void)state;
  char number[24];
  joint_in_review(number);
  assert_int_equal(decide(&SW_CLERK, number, 1, NULL), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "RequestSupplement", number, "请补充户口簿", NULL), GRPC_STATUS_OK);
  Yiwang__Applications__V1__ResubmitApplicationRequest rs =
      YIWANG__APPLICATIONS__V1__RESUBMIT_APPLICATION_REQUEST__INIT;
  rs.number = number;
  rs.form = form_of("李四");
  assert_int_equal(call_as(&RESIDENT, NULL, "ResubmitApplication", &rs.base,
                           &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, "", NULL), GRPC_STATUS_OK);
  Application *a = NULL;
  assert_int_equal(decide(&GA_CLERK, number, 1, &a), GRPC_STATUS_OK);
  /* the joint department's approval was of the form before: it is not counted */
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__IN_REVIEW);
  assert_int_equal(a->n_opinions, 1);
  assert_string_equal(a->opinions[0]->department, GA_CLERK.dept);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  a = NULL;
  assert_int_equal(decide(&SW_CLERK, number, 1, &a), GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__APPROVED);
  assert_int_equal(a->n_opinions, 2);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* the earlier opinion is kept, marked as given before the supplement */
  assert_int_equal(count("SELECT count(*) FROM applications.opinions o JOIN applications.applications p"
                         " ON p.id = o.application_id WHERE p.number = $1 AND o.superseded_at IS NOT NULL",
                         number),
                   1);
}

static void test_withdraw_before_a_decision(void **state) {
  (void)state;
  Receipt *r = submit_ok(ITEM, NULL);
  Yiwang__Applications__V1__WithdrawApplicationRequest wd =
      YIWANG__APPLICATIONS__V1__WITHDRAW_APPLICATION_REQUEST__INIT;
  wd.number = r->application->number;
  wd.reason = "不需要了";
  Application *a = NULL;
  assert_int_equal(call_as(&RESIDENT, NULL, "WithdrawApplication", &wd.base,
                           &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(a->status, YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__WITHDRAWN);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", r->application->number, "", NULL),
                   GRPC_STATUS_FAILED_PRECONDITION);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The clock stops while a supplement is awaited: from the day after the request to the
 * day of the answer. The acceptance and the request are moved 20 and 18 days back, so
 * the pause is long and the expected date is independent of today's weekday. */
static void test_supplement_pauses_the_due_date(void **state) {
  (void)state;
  Receipt *r = submit_ok(ITEM, NULL);
  char number[24];
  snprintf(number, sizeof number, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number, "", NULL), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "StartReview", number, "", NULL), GRPC_STATUS_OK);
  assert_int_equal(step(&GA_CLERK, "RequestSupplement", number, "请补充照片", NULL), GRPC_STATUS_OK);
  char v[64];
  query1("WITH a AS (UPDATE applications.applications SET accepted_at = now() - interval '20 days'"
         " WHERE number = $1 RETURNING id),"
         " t1 AS (UPDATE applications.application_transitions SET at = now() - interval '20 days'"
         " WHERE application_id = (SELECT id FROM a) AND to_status = 'accepted' RETURNING 1),"
         " t2 AS (UPDATE applications.application_transitions SET at = now() - interval '18 days'"
         " WHERE application_id = (SELECT id FROM a) AND to_status = 'supplement_requested' RETURNING 1)"
         " SELECT promised_days || '|' || to_char((now() - interval '20 days') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
         " || '|' || to_char((now() - interval '18 days') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
         " || '|' || to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
         " || (SELECT count(*) FROM t1) || (SELECT count(*) FROM t2)"
         " FROM applications.applications WHERE number = $1",
         number, v, sizeof v);
  int days = (int)strtol(v, NULL, 10);
  const char *bar = strchr(v, '|');
  assert_non_null(bar);
  yw_day accepted, requested, today;
  assert_int_equal(yw_day_parse(bar + 1, 10, &accepted), 0);
  assert_int_equal(yw_day_parse(bar + 12, 10, &requested), 0);
  assert_int_equal(yw_day_parse(bar + 23, 10, &today), 0);
  assert_string_equal(bar + 33, "11"); /* both timeline rows moved */
  assert_int_equal(days, 15);
  /* the working days counted before the pause, then the rest after today */
  int before = 0;
  yw_day want, unpaused;
  assert_int_equal(yw_workdays_between(weekends, accepted, requested, NULL, 0, &before), 0);
  assert_int_equal(yw_workdays_add(weekends, today, days - before, NULL, 0, &want), 0);
  assert_int_equal(yw_workdays_add(weekends, accepted, days, NULL, 0, &unpaused), 0);
  char want_s[YW_DAY_STRLEN], unpaused_s[YW_DAY_STRLEN];
  yw_day_format(want, want_s, sizeof want_s);
  yw_day_format(unpaused, unpaused_s, sizeof unpaused_s);
  assert_string_not_equal(want_s, unpaused_s);

  Yiwang__Applications__V1__ResubmitApplicationRequest rs =
      YIWANG__APPLICATIONS__V1__RESUBMIT_APPLICATION_REQUEST__INIT;
  rs.number = number;
  rs.form = form_of("张三");
  Application *a = NULL;
  assert_int_equal(call_as(&RESIDENT, NULL, "ResubmitApplication", &rs.base,
                           &yiwang__applications__v1__application__descriptor,
                           (ProtobufCMessage **)&a, NULL, 0),
                   GRPC_STATUS_OK);
  assert_string_equal(a->due_date, want_s);
  protobuf_c_message_free_unpacked(&a->base, NULL);
}

/* ---- lists ------------------------------------------------------------------------ */

static void test_lists_are_paged_and_scoped(void **state) {
  (void)state;
  /* the resident's, newest first, across pages */
  long long mine = count("SELECT count(*) FROM applications.applications WHERE applicant_subject = 'p-resident'", NULL);
  assert_true(mine > 40);
  Yiwang__Applications__V1__ListMyApplicationsRequest lr =
      YIWANG__APPLICATIONS__V1__LIST_MY_APPLICATIONS_REQUEST__INIT;
  lr.page_size = 100;
  long long seen = 0;
  char last[24] = "99999999999999999999";
  char token[256] = "";
  for (int pages = 0; pages < 10; pages++) {
    lr.page_token = token;
    Yiwang__Applications__V1__ListApplicationsResponse *resp = NULL;
    assert_int_equal(call_as(&RESIDENT, NULL, "ListMyApplications", &lr.base,
                             &yiwang__applications__v1__list_applications_response__descriptor,
                             (ProtobufCMessage **)&resp, NULL, 0),
                     GRPC_STATUS_OK);
    for (size_t i = 0; i < resp->n_applications; i++) {
      assert_true(strcmp(resp->applications[i]->number, last) < 0 ||
                  strncmp(resp->applications[i]->number, "320700", 6) != 0);
      snprintf(last, sizeof last, "%s", resp->applications[i]->number);
      assert_string_equal(resp->applications[i]->applicant_subject, "p-resident");
    }
    seen += (long long)resp->n_applications;
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (token[0] == '\0') break;
  }
  assert_int_equal(seen, mine);

  /* the joint department's queue holds only the applications naming it */
  Yiwang__Applications__V1__ListDepartmentApplicationsRequest qr =
      YIWANG__APPLICATIONS__V1__LIST_DEPARTMENT_APPLICATIONS_REQUEST__INIT;
  qr.department = JOINT;
  qr.page_size = 1;
  token[0] = '\0';
  seen = 0;
  char prev[40] = "";
  for (int pages = 0; pages < 50; pages++) {
    qr.page_token = token;
    Yiwang__Applications__V1__ListApplicationsResponse *resp = NULL;
    assert_int_equal(call_as(&SW_CLERK, NULL, "ListDepartmentApplications", &qr.base,
                             &yiwang__applications__v1__list_applications_response__descriptor,
                             (ProtobufCMessage **)&resp, NULL, 0),
                     GRPC_STATUS_OK);
    for (size_t i = 0; i < resp->n_applications; i++) {
      char key[40];
      snprintf(key, sizeof key, "%s|%s",
               resp->applications[i]->due_date[0] != '\0' ? resp->applications[i]->due_date : "9999-12-31",
               resp->applications[i]->number);
      assert_true(strcmp(prev, key) < 0); /* by due date, then number */
      snprintf(prev, sizeof prev, "%s", key);
      assert_string_equal(resp->applications[i]->joint_departments[0], JOINT);
    }
    seen += (long long)resp->n_applications;
    snprintf(token, sizeof token, "%s", resp->next_page_token);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (token[0] == '\0') break;
  }
  assert_int_equal(seen, count("SELECT count(*) FROM applications.applications"
                               " WHERE $1 = ANY (departments)", JOINT));
  assert_true(seen >= 2);
  /* by status; another department's queue is refused; a bad status too */
  qr.page_token = "";
  qr.page_size = 0;
  qr.status = YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__COMPLETED;
  Yiwang__Applications__V1__ListApplicationsResponse *resp = NULL;
  assert_int_equal(call_as(&SW_CLERK, NULL, "ListDepartmentApplications", &qr.base,
                           &yiwang__applications__v1__list_applications_response__descriptor,
                           (ProtobufCMessage **)&resp, NULL, 0),
                   GRPC_STATUS_OK);
  assert_int_equal(resp->n_applications, 1);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  assert_int_equal(call_as(&GA_CLERK, NULL, "ListDepartmentApplications", &qr.base,
                           &yiwang__applications__v1__list_applications_response__descriptor,
                           NULL, NULL, 0),
                   GRPC_STATUS_PERMISSION_DENIED);
  qr.status = 42;
  assert_int_equal(call_as(&SW_CLERK, NULL, "ListDepartmentApplications", &qr.base,
                           &yiwang__applications__v1__list_applications_response__descriptor,
                           NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_bad_input_is_invalid_argument(void **state) {
  (void)state;
  assert_int_equal(get(&RESIDENT, "123", NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(get(&RESIDENT, "3207002026113000000x", NULL), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(get(&RESIDENT, "32070020261130999999", NULL), GRPC_STATUS_NOT_FOUND);
  char reason[600];
  memset(reason, 'x', sizeof reason - 1);
  reason[sizeof reason - 1] = '\0';
  assert_int_equal(step(&GA_CLERK, "RejectApplication", "32070020261130999999", reason, NULL),
                   GRPC_STATUS_INVALID_ARGUMENT);
  Yiwang__Applications__V1__DecideRequest d = YIWANG__APPLICATIONS__V1__DECIDE_REQUEST__INIT;
  d.department = LEAD;
  d.number = "32070020261130999999";
  assert_int_equal(call_as(&GA_CLERK, NULL, "DecideApplication", &d.base,
                           &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
  Yiwang__Applications__V1__ListMyApplicationsRequest lr =
      YIWANG__APPLICATIONS__V1__LIST_MY_APPLICATIONS_REQUEST__INIT;
  lr.page_token = "not-a-token";
  assert_int_equal(call_as(&RESIDENT, NULL, "ListMyApplications", &lr.base,
                           &yiwang__applications__v1__list_applications_response__descriptor,
                           NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
}

/* ---- materials -------------------------------------------------------------------- */

typedef Yiwang__Files__V1__FileRef FileRef;
typedef Yiwang__Applications__V1__AddMaterialResponse Added;

static grpc_status_code add_material(const as *who, const char *number, const char *material,
                                     FileRef **files, size_t n, Added **out, char *msg,
                                     size_t msglen) {
  Yiwang__Applications__V1__AddMaterialRequest req =
      YIWANG__APPLICATIONS__V1__ADD_MATERIAL_REQUEST__INIT;
  req.number = (char *)number;
  req.material = (char *)material;
  req.files = files;
  req.n_files = n;
  return call_as(who, NULL, "AddMaterial", &req.base,
                 &yiwang__applications__v1__add_material_response__descriptor,
                 (ProtobufCMessage **)out, msg, msglen);
}

static grpc_status_code read_file(const as *who, const char *number, const char *sha256,
                                  char *name, size_t size) {
  Yiwang__Applications__V1__GetMaterialFileRequest req =
      YIWANG__APPLICATIONS__V1__GET_MATERIAL_FILE_REQUEST__INIT;
  req.number = (char *)number;
  req.sha256 = (char *)sha256;
  Yiwang__Applications__V1__GetMaterialFileResponse *resp = NULL;
  grpc_status_code st = call_as(who, NULL, "GetMaterialFile", &req.base,
                                &yiwang__applications__v1__get_material_file_response__descriptor,
                                (ProtobufCMessage **)&resp, NULL, 0);
  if (name != NULL) snprintf(name, size, "%s", resp != NULL ? resp->name : "");
  if (resp != NULL) protobuf_c_message_free_unpacked(&resp->base, NULL);
  return st;
}

/* the names of a list joined with '|' */
static void joined(char **names, size_t n, char *out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(out + used, size - used, "%s%s", i > 0 ? "|" : "", names[i]);
}

/* The item's materials at filing become the application's list; the applicant uploads
 * files for them (kept once each, at most 10 a material) while the application is open to
 * materials; the missing required ones are listed; the applicant and the application's
 * departments read the files (staff reads audited), nobody else; bad input changes
 * nothing. */
static void test_materials_are_uploaded_listed_and_read(void **state) {
  (void)state;
  char want[2048], got[2048], before[256], after[256], name[300], msg[256];
  query1("SELECT string_agg(m.name, '|' ORDER BY m.seq) FROM catalog.item_materials m"
         " JOIN catalog.items i ON i.id = m.item_id WHERE i.impl_code = $1 AND m.required",
         ITEM, want, sizeof want);
  assert_true(strlen(want) > 0);
  char first[256];
  query1("SELECT m.name FROM catalog.item_materials m JOIN catalog.items i ON i.id = m.item_id"
         " WHERE i.impl_code = $1 AND m.required ORDER BY m.seq LIMIT 1",
         ITEM, first, sizeof first);
  Receipt *r = submit_ok(ITEM, NULL);
  char number[32];
  snprintf(number, sizeof number, "%s", r->application->number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  Application *a = NULL;
  assert_int_equal(get(&RESIDENT, number, &a), GRPC_STATUS_OK);
  joined(a->missing_materials, a->n_missing_materials, got, sizeof got);
  assert_string_equal(got, want);
  protobuf_c_message_free_unpacked(&a->base, NULL);

  FileRef f1 = YIWANG__FILES__V1__FILE_REF__INIT, f2 = YIWANG__FILES__V1__FILE_REF__INIT;
  f1.sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
  f1.size = 2048;
  f1.content_type = "application/pdf";
  f1.name = "身份证正面.pdf";
  f2.sha256 = "2222222222222222222222222222222222222222222222222222222222222222";
  f2.size = 4096;
  f2.content_type = "image/jpeg";
  f2.name = "身份证反面.jpg";
  FileRef *two[] = {&f1, &f2};
  Added *added = NULL;
  assert_int_equal(add_material(&RESIDENT, number, first, two, 2, &added, msg, sizeof msg),
                   GRPC_STATUS_OK);
  assert_string_equal(added->material->source, "UPLOAD");
  assert_string_equal(added->material->name, first);
  assert_int_equal(added->material->n_files, 2);
  joined(added->missing_materials, added->n_missing_materials, got, sizeof got);
  assert_null(strstr(got, first));
  protobuf_c_message_free_unpacked(&added->base, NULL);
  /* the same file again is kept once */
  assert_int_equal(add_material(&RESIDENT, number, first, two, 1, &added, NULL, 0), GRPC_STATUS_OK);
  assert_int_equal(added->material->n_files, 2);
  protobuf_c_message_free_unpacked(&added->base, NULL);
  assert_int_equal(get(&RESIDENT, number, &a), GRPC_STATUS_OK);
  assert_int_equal(a->n_materials, 1);
  assert_string_equal(a->materials[0]->source, "UPLOAD");
  assert_int_equal(a->materials[0]->n_files, 2);
  assert_string_equal(a->materials[0]->files[1]->name, "身份证反面.jpg");
  protobuf_c_message_free_unpacked(&a->base, NULL);

  /* refused, and nothing changes */
  row_state(number, before, sizeof before);
  long long files = count("SELECT count(*) FROM applications.material_files f JOIN"
                          " applications.applications a ON a.id = f.application_id WHERE a.number = $1",
                          number);
  assert_int_equal(files, 2);
  assert_int_equal(add_material(&OTHER_RESIDENT, number, first, two, 2, NULL, NULL, 0),
                   GRPC_STATUS_NOT_FOUND);
  assert_int_equal(add_material(&GA_CLERK, number, first, two, 2, NULL, NULL, 0),
                   GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(add_material(&RESIDENT, number, "不在清单上的材料", two, 2, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "material"));
  FileRef bad = f1;
  bad.sha256 = "XYZ";
  FileRef *badp[] = {&bad};
  assert_int_equal(add_material(&RESIDENT, number, first, badp, 1, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "files[0].sha256"));
  bad = f1;
  bad.content_type = "text/html";
  assert_int_equal(add_material(&RESIDENT, number, first, badp, 1, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "files[0].contentType"));
  FileRef *six[] = {&f1, &f1, &f1, &f1, &f1, &f1};
  assert_int_equal(add_material(&RESIDENT, number, first, six, 6, NULL, NULL, 0),
                   GRPC_STATUS_INVALID_ARGUMENT);
  /* at most 10 files a material */
  static FileRef many[9];
  static char hashes[9][65];
  FileRef *manyp[9];
  for (int i = 0; i < 9; i++) {
    many[i] = f1;
    snprintf(hashes[i], sizeof hashes[i], "%064d", 1000 + i);
    many[i].sha256 = hashes[i];
    manyp[i] = &many[i];
  }
  assert_int_equal(add_material(&RESIDENT, number, first, manyp, 5, NULL, NULL, 0), GRPC_STATUS_OK);
  assert_int_equal(add_material(&RESIDENT, number, first, manyp + 5, 4, NULL, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "at most 10"));
  row_state(number, after, sizeof after);
  assert_string_equal(after, before);
  assert_int_equal(count("SELECT count(*) FROM applications.material_files f JOIN"
                         " applications.applications a ON a.id = f.application_id WHERE a.number = $1",
                         number),
                   7);

  /* reading a file: the applicant, and staff of its department (audited); nobody else */
  assert_int_equal(read_file(&RESIDENT, number, f2.sha256, name, sizeof name), GRPC_STATUS_OK);
  assert_string_equal(name, "身份证反面.jpg");
  assert_int_equal(read_file(&GA_CLERK, number, f2.sha256, name, sizeof name), GRPC_STATUS_OK);
  assert_int_equal(read_file(&SCJG_CLERK, number, f2.sha256, NULL, 0), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(read_file(&OTHER_RESIDENT, number, f2.sha256, NULL, 0), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(read_file(&RESIDENT, number, hashes[8], NULL, 0), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(count("SELECT count(*) FROM applications.material_reads m JOIN"
                         " applications.applications a ON a.id = m.application_id"
                         " WHERE a.number = $1 AND m.actor = 's-ga'",
                         number),
                   1);

  /* once accepted, no more materials until a supplement is asked for */
  assert_int_equal(step(&GA_CLERK, "AcceptApplication", number, "", NULL), GRPC_STATUS_OK);
  assert_int_equal(add_material(&RESIDENT, number, first, two, 2, NULL, NULL, 0),
                   GRPC_STATUS_FAILED_PRECONDITION);
}

/* ---- 一件事一次办 -------------------------------------------------------------------- */

typedef Yiwang__Applications__V1__SubmitBundleResponse BundleReceipt;
typedef Yiwang__Applications__V1__BundleFiling Filing;

/* The newborn bundle's one form: what 出生登记's definition asks for, and a field of the
 * members without a definition (name). */
#define NEWBORN_FORM                                                                         \
  "{\"name\": \"李四\", \"relation\": \"父亲\", \"phone\": \"13900000021\","                   \
  " \"children\": [{\"name\": \"李小宝\", \"sex\": \"男\", \"birthDate\": \"2026-11-28\","        \
  " \"birthCertificateNo\": \"P320000123\"}], \"followParent\": \"随父\","                        \
  " \"fatherIdNumber\": \"320706198803031239\", \"motherIdNumber\": \"320706199004042243\"}"

static grpc_status_code submit_bundle_form(const as *who, const char *key, const char *code,
                                           const char *form_json, BundleReceipt **out, char *msg,
                                           size_t msglen) {
  Yiwang__Applications__V1__SubmitBundleRequest req =
      YIWANG__APPLICATIONS__V1__SUBMIT_BUNDLE_REQUEST__INIT;
  req.bundle_code = (char *)code;
  json_error_t jerr;
  json_t *j = json_loads(form_json, 0, &jerr);
  assert_non_null(j);
  ProtobufCMessage *form = NULL;
  yw_json_error err;
  assert_int_equal(yw_json_to_message(&google__protobuf__struct__descriptor, j, NULL, &form, &err), 0);
  json_decref(j);
  req.form = (Google__Protobuf__Struct *)form;
  grpc_status_code st = call_as(who, key, "SubmitBundle", &req.base,
                                &yiwang__applications__v1__submit_bundle_response__descriptor,
                                (ProtobufCMessage **)out, msg, msglen);
  protobuf_c_message_free_unpacked(form, NULL);
  return st;
}

static grpc_status_code submit_bundle(const as *who, const char *key, const char *code,
                                      BundleReceipt **out, char *msg, size_t msglen) {
  return submit_bundle_form(who, key, code, NEWBORN_FORM, out, msg, msglen);
}

static grpc_status_code get_filing(const as *who, const char *number, Filing **out) {
  Yiwang__Applications__V1__GetBundleFilingRequest req =
      YIWANG__APPLICATIONS__V1__GET_BUNDLE_FILING_REQUEST__INIT;
  req.number = (char *)number;
  return call_as(who, NULL, "GetBundleFiling", &req.base,
                 &yiwang__applications__v1__bundle_filing__descriptor, (ProtobufCMessage **)out,
                 NULL, 0);
}

/* A bundle is filed once: one application per member, in the bundle's order, in one
 * transaction with its events, sharing the bundle's query code; the same key gives the
 * same filing; a company's bundle needs the caller to act for one and files nothing
 * otherwise; a material given to one member is given to each member that lists it; the
 * applicant sees the combined view, nobody else. */
static void test_a_bundle_is_filed_once_and_shares_its_materials(void **state) {
  (void)state;
  long long apps = count("SELECT count(*) FROM applications.applications", NULL);
  long long events = count("SELECT count(*) FROM applications.outbox WHERE type = 'application.submitted'", NULL);
  BundleReceipt *r = NULL;
  char msg[256] = "";
  grpc_status_code st = submit_bundle(&RESIDENT, "bundle-key-1", "newborn", &r, msg, sizeof msg);
  if (st != GRPC_STATUS_OK) fprintf(stderr, "SubmitBundle: %d %s\n", st, msg);
  assert_int_equal(st, GRPC_STATUS_OK);
  Filing *f = r->filing;
  assert_int_equal(strlen(f->number), 20);
  assert_int_equal(strlen(r->query_code), 6);
  assert_string_equal(f->bundle_code, "newborn");
  assert_string_equal(f->status, "IN_PROGRESS");
  assert_int_equal(f->n_applications, 3);
  assert_string_equal(f->applications[0]->item_code, "GG00050000-320700-WJ");
  assert_string_equal(f->applications[1]->item_code, "QR00001000-320700-GA");
  assert_string_equal(f->applications[2]->item_code, "GG00032000-320700-YB");
  char number[32], code[8], second[32];
  snprintf(number, sizeof number, "%s", f->number);
  snprintf(code, sizeof code, "%s", r->query_code);
  snprintf(second, sizeof second, "%s", f->applications[1]->number);
  for (size_t i = 0; i < 3; i++) {
    assert_string_not_equal(f->applications[i]->number, number);
    /* each member's query code is the bundle's */
    char in[40], mac[65];
    snprintf(in, sizeof in, "%s:%s", f->applications[i]->number, code);
    yw_hmac_hex(t.app.lookup_key, in, strlen(in), mac);
    char stored[80];
    query1("SELECT query_code_mac FROM applications.applications WHERE number = $1",
           f->applications[i]->number, stored, sizeof stored);
    assert_string_equal(stored, mac);
    /* its application.submitted names the filing, with the filing's code's HMAC, for
     * yw-progress's combined lookup */
    PGconn *c = yw_pg_pool_acquire(t.app.pool, 2000);
    const char *p[] = {f->applications[i]->number};
    PGresult *res = NULL;
    yw_pg_error err;
    assert_int_equal(yw_pg_query(c, "SELECT payload FROM applications.outbox WHERE aggregate_key = $1"
                                    " AND type = 'application.submitted'", 1, p, &res, &err), 0);
    yw_pg_pool_release(t.app.pool, c);
    assert_int_equal(PQntuples(res), 1);
    size_t len = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &len);
    PQclear(res);
    Yiwang__Events__V1__ApplicationSubmitted *ev =
        yiwang__events__v1__application_submitted__unpack(NULL, len, bytes);
    PQfreemem(bytes);
    assert_non_null(ev);
    snprintf(in, sizeof in, "%s:%s", number, code);
    yw_hmac_hex(t.app.lookup_key, in, strlen(in), mac);
    assert_string_equal(ev->bundle_number, number);
    assert_string_equal(ev->bundle_query_code_mac, mac);
    assert_string_equal(ev->bundle_code, "newborn");
    assert_string_equal(ev->bundle_name, f->bundle_name);
    assert_int_equal(ev->bundle_position, (int)i + 1);
    yiwang__events__v1__application_submitted__free_unpacked(ev, NULL);
  }
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), apps + 3);
  assert_int_equal(count("SELECT count(*) FROM applications.outbox WHERE type = 'application.submitted'", NULL),
                   events + 3);
  /* the same key: the same filing, nothing more */
  assert_int_equal(submit_bundle(&RESIDENT, "bundle-key-1", "newborn", &r, NULL, 0), GRPC_STATUS_OK);
  assert_string_equal(r->filing->number, number);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), apps + 3);

  /* the merged form, validated once: a field of 出生登记's left out is refused by its
   * path; each member keeps the fields its definition names */
  assert_int_equal(submit_bundle_form(&RESIDENT, NULL, "newborn", "{\"name\": \"李四\"}", NULL, msg,
                                      sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "form.relation"));
  char kept[512];
  assert_int_equal(yw_testapps_form(&t, second, kept, sizeof kept), 0);
  assert_non_null(strstr(kept, "relation"));
  assert_null(strstr(kept, "李四"));
  /* a company's bundle, by a resident acting for none: refused, nothing filed */
  assert_int_equal(submit_bundle(&RESIDENT, NULL, "company-start", NULL, msg, sizeof msg),
                   GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(submit_bundle(&RESIDENT, NULL, "no-such-bundle", NULL, NULL, 0), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(submit_bundle(&RESIDENT, NULL, "Bad Code", NULL, NULL, 0), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(submit_bundle(&LOW_RESIDENT, NULL, "newborn", NULL, NULL, 0), GRPC_STATUS_PERMISSION_DENIED);
  assert_int_equal(count("SELECT count(*) FROM applications.applications", NULL), apps + 3);
  assert_int_equal(count("SELECT count(*) FROM applications.bundle_filings", NULL), 1);
  static const as AGENT = {YW_CALLER_PERSON, "p-agent", "", "", 2, "91350100M000100Y43",
                           "apply,read"};
  /* acting for a company it gets past that, to 企业设立登记's own form */
  assert_int_equal(submit_bundle(&AGENT, NULL, "company-start", &r, msg, sizeof msg),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "form.companyName"));
  assert_int_equal(count("SELECT count(*) FROM applications.bundle_filings", NULL), 1);

  /* a shared material given once, for the birth registration: the medical insurance
   * enrolment lists it too and gets the same file; the first member does not list it */
  FileRef cert = YIWANG__FILES__V1__FILE_REF__INIT;
  cert.sha256 = "3333333333333333333333333333333333333333333333333333333333333333";
  cert.size = 1000;
  cert.content_type = "application/pdf";
  cert.name = "出生医学证明.pdf";
  FileRef *one[] = {&cert};
  Added *added = NULL;
  assert_int_equal(add_material(&RESIDENT, second, "出生医学证明", one, 1, &added, msg, sizeof msg),
                   GRPC_STATUS_OK);
  protobuf_c_message_free_unpacked(&added->base, NULL);
  Filing *g = NULL;
  assert_int_equal(get_filing(&RESIDENT, number, &g), GRPC_STATUS_OK);
  assert_int_equal(g->n_applications, 3);
  assert_int_equal(g->applications[0]->n_materials, 0);
  for (size_t i = 1; i < 3; i++) {
    assert_int_equal(g->applications[i]->n_materials, 1);
    assert_string_equal(g->applications[i]->materials[0]->name, "出生医学证明");
    assert_int_equal(g->applications[i]->materials[0]->n_files, 1);
    assert_string_equal(g->applications[i]->materials[0]->files[0]->sha256, cert.sha256);
  }
  /* the enrolment does not require it: only the registration's list lost it */
  for (size_t k = 0; k < g->applications[1]->n_missing_materials; k++)
    assert_string_not_equal(g->applications[1]->missing_materials[k], "出生医学证明");
  protobuf_c_message_free_unpacked(&g->base, NULL);
  /* the combined view is the applicant's alone */
  assert_int_equal(get_filing(&OTHER_RESIDENT, number, &g), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(get_filing(&GA_CLERK, number, &g), GRPC_STATUS_PERMISSION_DENIED);
  /* its status follows the members: every one withdrawn, and it has ENDED */
  assert_int_equal(get_filing(&RESIDENT, number, &g), GRPC_STATUS_OK);
  char members[3][32];
  for (size_t i = 0; i < 3; i++) snprintf(members[i], sizeof members[i], "%s", g->applications[i]->number);
  protobuf_c_message_free_unpacked(&g->base, NULL);
  for (size_t i = 0; i < 3; i++) {
    Yiwang__Applications__V1__WithdrawApplicationRequest wd =
        YIWANG__APPLICATIONS__V1__WITHDRAW_APPLICATION_REQUEST__INIT;
    wd.number = members[i];
    assert_int_equal(call_as(&RESIDENT, NULL, "WithdrawApplication", &wd.base,
                             &yiwang__applications__v1__application__descriptor, NULL, NULL, 0),
                     GRPC_STATUS_OK);
    assert_int_equal(get_filing(&RESIDENT, number, &g), GRPC_STATUS_OK);
    assert_string_equal(g->status, i < 2 ? "IN_PROGRESS" : "ENDED");
    protobuf_c_message_free_unpacked(&g->base, NULL);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c_allow_list_equals_the_table),
      cmocka_unit_test(test_trigger_refuses_an_illegal_change),
      cmocka_unit_test(test_concurrent_submissions_get_distinct_numbers),
      cmocka_unit_test(test_same_idempotency_key_gives_one_application),
      cmocka_unit_test(test_item_must_be_published_and_level_met),
      cmocka_unit_test(test_a_company_applies_and_a_large_form_is_refused),
      cmocka_unit_test(test_joint_journey_with_timeline_events_and_feed),
      cmocka_unit_test(test_one_refusal_decides_a_joint_application),
      cmocka_unit_test(test_a_supplement_asks_every_department_again),
      cmocka_unit_test(test_withdraw_before_a_decision),
      cmocka_unit_test(test_supplement_pauses_the_due_date),
      cmocka_unit_test(test_lists_are_paged_and_scoped),
      cmocka_unit_test(test_bad_input_is_invalid_argument),
      cmocka_unit_test(test_materials_are_uploaded_listed_and_read),
      cmocka_unit_test(test_a_bundle_is_filed_once_and_shares_its_materials),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
