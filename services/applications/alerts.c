/*
 * alerts.c - alerts to departments (督办提醒): nothing turns overdue unseen.
 *
 * The supervision pass (supervision.c) calls in here inside each batch's transaction:
 * alerts_for_applications records, for every department of an application whose colour
 * turned yellow or red, an alert of that kind; alerts_overdue_cases takes the open
 * rectification cases past their due date without one (locked FOR UPDATE SKIP LOCKED, in
 * id order, a bounded batch) and records one for the case's department;
 * alerts_feed_late tells the applicant, through the outbox, that the department is late.
 * A partial unique index keeps at most one open alert per application, kind and
 * department (ON CONFLICT DO NOTHING), and one alert ever per case, so a second pass
 * records nothing.
 *
 *   ListAlerts        staff of a department its open alerts (or all), newest first, keyset
 *                     paged by id; the access rule is the predicate department = $1.
 *                     Supervisors (platform_admin, auditor) the red and overdue alerts of
 *                     one department or of all.
 *   AcknowledgeAlert  staff of the alert's department: who and when on the alert and a row
 *                     of alert_audit in one transaction; a second time changes nothing.
 *
 * Offers: alerts_for_applications, alerts_overdue_cases, alerts_feed_late,
 * alerts_service_init.
 */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yiwang/applications/v1/alerts.pb-c.h"
#include "yiwang/events/v1/feed.pb-c.h"
#include "staff_access.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_service.h"

#define DB "the applications database"
#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define KIND(x) YIWANG__APPLICATIONS__V1__ALERT_KIND__ALERT_##x

typedef Yiwang__Applications__V1__Alert Alert;

/* ---- what the pass records ------------------------------------------------------------ */

int alerts_for_applications(PGconn *conn, yw_day today, json_t *changes, int *raised,
                            yw_pg_error *err) {
  if (json_array_size(changes) == 0) return 0;
  char day[YW_DAY_STRLEN];
  if (yw_day_format(today, day, sizeof day) != 0) return YW_EINVAL;
  char *text = json_dumps(changes, JSON_COMPACT);
  if (text == NULL) return YW_ENOMEM;
  const char *p[] = {text, day};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.alerts (department, kind, application_id,"
                       " application_number, due_date, working_days, raised_on)"
                       " SELECT d, x.colour, x.id, x.number, x.due, x.days_left, $2::date"
                       " FROM json_to_recordset($1::json) AS x(id bigint, number text, colour text,"
                       "   due date, days_left int, depts text),"
                       " unnest(string_to_array(x.depts, ',')) d"
                       " WHERE x.colour IN ('yellow', 'red') AND x.due IS NOT NULL"
                       " ORDER BY x.id, d ON CONFLICT DO NOTHING RETURNING id",
                       2, p, &r, err);
  free(text);
  if (rc != 0) return rc;
  *raised += PQntuples(r);
  PQclear(r);
  return 0;
}

int alerts_overdue_cases(PGconn *conn, yw_day today, int batch, char last[24], int *n, int *raised,
                         yw_pg_error *err) {
  char day[YW_DAY_STRLEN], limit[16];
  if (yw_day_format(today, day, sizeof day) != 0) return YW_EINVAL;
  snprintf(limit, sizeof limit, "%d", batch);
  const char *p[] = {day, last, limit};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "WITH c AS (SELECT c.id, c.department, c.due_date"
                       "   FROM applications.rectifications c"
                       "   WHERE c.status = 'open' AND c.due_date < $1::date AND c.id > $2::bigint"
                       "   AND NOT EXISTS (SELECT 1 FROM applications.alerts a WHERE a.rectification_id = c.id)"
                       "   ORDER BY c.id LIMIT $3::int FOR UPDATE OF c SKIP LOCKED),"
                       " i AS (INSERT INTO applications.alerts (department, kind, rectification_id,"
                       "   due_date, raised_on)"
                       "   SELECT department, 'rectification_overdue', id, due_date, $1::date FROM c"
                       "   ORDER BY id ON CONFLICT DO NOTHING RETURNING 1)"
                       " SELECT (SELECT count(*) FROM c), COALESCE((SELECT max(id)::text FROM c), ''),"
                       " (SELECT count(*) FROM i)",
                       3, p, &r, err);
  if (rc != 0) return rc;
  *n = (int)yw_col_ll(r, 0, 0);
  if (PQgetvalue(r, 0, 1)[0] != '\0') snprintf(last, 24, "%.20s", PQgetvalue(r, 0, 1));
  *raised += (int)yw_col_ll(r, 0, 2);
  PQclear(r);
  return 0;
}

int alerts_feed_late(PGconn *conn, const char *number, const char *subject, const char *item_name,
                     yw_pg_error *err) {
  char title[200], link[64], body[400];
  snprintf(title, sizeof title, "办件 %.24s 已超过承诺办结时限", number);
  snprintf(body, sizeof body, "%.200s：承办部门未能在承诺时限内办结，已纳入电子监察督办。", item_name);
  snprintf(link, sizeof link, "applications/%.24s", number);
  Yiwang__Events__V1__FeedEntryAdded fe = YIWANG__EVENTS__V1__FEED_ENTRY_ADDED__INIT;
  fe.subject = (char *)subject;
  fe.type = "application.overdue";
  fe.title = title;
  fe.body = body;
  fe.link = link;
  return yw_events_append(conn, "applications", "feed.entry", 1, subject, &fe.base, NULL, err);
}

/* ---- reading and acknowledging ---------------------------------------------------------- */

#define TS(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
#define ALERT_COLS                                                                             \
  "a.id, a.department, a.kind, a.application_number, COALESCE(a.rectification_id::text, ''),"  \
  " to_char(a.due_date, 'YYYY-MM-DD'), a.working_days, " TS("a.raised_at") ","                 \
  " a.acknowledged_at IS NOT NULL, COALESCE(" TS("a.acknowledged_at") ", ''), a.acknowledged_by"
enum { A_ID, A_DEPT, A_KIND, A_NUMBER, A_CASE, A_DUE, A_DAYS, A_RAISED, A_ACKED, A_ACKED_AT, A_ACKED_BY };

static Alert *alert_from_row(yw_arena *a, const PGresult *r, int row) {
  Alert *m = yw_arena_calloc(a, 1, sizeof *m);
  if (m == NULL) return NULL;
  yiwang__applications__v1__alert__init(m);
  const char *kind = PQgetvalue(r, row, A_KIND);
  m->kind = strcmp(kind, "yellow") == 0 ? KIND(DUE_SOON)
            : strcmp(kind, "red") == 0  ? KIND(OVERDUE)
                                        : KIND(RECTIFICATION_OVERDUE);
  m->id = yw_col_str(a, r, row, A_ID);
  m->department = yw_col_str(a, r, row, A_DEPT);
  m->application_number = yw_col_str(a, r, row, A_NUMBER);
  m->rectification_id = yw_col_str(a, r, row, A_CASE);
  m->due_date = yw_col_str(a, r, row, A_DUE);
  m->working_days = (int32_t)yw_col_ll(r, row, A_DAYS);
  m->raised_at = yw_col_str(a, r, row, A_RAISED);
  m->acknowledged = yw_col_bool(r, row, A_ACKED);
  m->acknowledged_at = yw_col_str(a, r, row, A_ACKED_AT);
  m->acknowledged_by = yw_col_str(a, r, row, A_ACKED_BY);
  if (m->id == NULL || m->department == NULL || m->application_number == NULL ||
      m->rectification_id == NULL || m->due_date == NULL || m->raised_at == NULL ||
      m->acknowledged_at == NULL || m->acknowledged_by == NULL)
    return NULL;
  return m;
}

static int list_alerts(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Applications__V1__ListAlertsRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int supervisor = 0;
  int rc = staff_access_require(call, &ctx->caller_keys, req->department, 1, "listing alerts", &caller, &supervisor);
  if (rc != 0) return rc;
  const char *filters[] = {req->department, req->include_acknowledged ? "1" : "0", supervisor ? "s" : "d"};
  yw_page page;
  if ((rc = yw_page_begin_id(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 3,
                             &page)) != 0)
    return rc;
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {req->department, req->include_acknowledged ? "t" : "f", supervisor ? "t" : "f",
                     page.has_cursor ? page.cursor : NULL, limit};
  PGresult *r = NULL;
  /* staff: department = $1 (never ""); supervisors: their kinds, any department or one */
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " ALERT_COLS " FROM applications.alerts a"
                        " WHERE ($1 = '' OR a.department = $1)"
                        " AND ($2::bool OR a.acknowledged_at IS NULL)"
                        " AND (NOT $3::bool OR a.kind IN ('red', 'rectification_overdue'))"
                        " AND ($4::bigint IS NULL OR a.id < $4::bigint)"
                        " ORDER BY a.id DESC LIMIT $5::int",
                        5, p, &r);
  if (rc != 0) return rc;
  Yiwang__Applications__V1__ListAlertsResponse *resp = yw_arena_calloc(a, 1, sizeof *resp);
  int n = PQntuples(r), shown = n > page.size ? page.size : n;
  if (resp != NULL) {
    yiwang__applications__v1__list_alerts_response__init(resp);
    resp->alerts = yw_arena_calloc(a, (size_t)shown + 1, sizeof *resp->alerts);
  }
  for (int i = 0; resp != NULL && resp->alerts != NULL && i < shown; i++) {
    Alert *m = alert_from_row(a, r, i);
    if (m == NULL) break;
    resp->alerts[resp->n_alerts++] = m;
  }
  resp = resp != NULL && resp->n_alerts == (size_t)shown ? resp : NULL;
  if (resp != NULL && n > page.size &&
      (resp->next_page_token = yw_page_token(a, &page, PQgetvalue(r, shown - 1, A_ID))) == NULL)
    resp = NULL;
  PQclear(r);
  if (resp == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

struct ack_work {
  yw_caller caller;
  const char *department, *id;
  Alert *out;
};

static int ack_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct ack_work *w = arg;
  const char *p[] = {w->id, w->department, w->caller.subject};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "UPDATE applications.alerts SET acknowledged_at = now(), acknowledged_by = $3"
                       " WHERE id = $1::bigint AND department = $2 AND acknowledged_at IS NULL RETURNING id",
                       3, p, &r, err);
  if (rc != 0) return rc;
  int changed = PQntuples(r);
  PQclear(r);
  if (changed == 1) {
    const char *pa[] = {w->caller.subject, w->department, "alert_acknowledge", w->id,
                        yw_rpc_call_request_id(call), w->caller.ip};
    rc = yw_pg_query(conn,
                     "INSERT INTO applications.alert_audit (actor, department, action, target,"
                     " request_id, source_ip) VALUES ($1, $2, $3, $4, $5, $6)",
                     6, pa, NULL, err);
    if (rc != 0) return rc;
  }
  rc = yw_pg_query(conn,
                   "SELECT " ALERT_COLS " FROM applications.alerts a"
                   " WHERE a.id = $1::bigint AND a.department = $2",
                   2, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no alert %s", w->id);
  }
  w->out = alert_from_row(yw_rpc_call_arena(call), r, 0);
  PQclear(r);
  return w->out == NULL ? YW_ENOMEM : 0;
}

static int acknowledge_alert(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                             void *data) {
  const Yiwang__Applications__V1__AcknowledgeAlertRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  struct ack_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int supervisor = 0;
  int rc = staff_access_require(call, &ctx->caller_keys, req->department, 0, "acknowledging an alert", &w->caller, &supervisor);
  if (rc != 0) return rc;
  if (!staff_access_id_valid(req->id)) return yw_rpc_call_fail(call, YW_EINVAL, "id must be 1..18 digits");
  w->department = req->department;
  w->id = req->id;
  if ((rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, ack_tx, w)) != 0) return rc;
  *out = &w->out->base;
  return 0;
}

static const yw_rpc_method methods[] = {
    {.name = "ListAlerts", .fn = list_alerts},
    {.name = "AcknowledgeAlert", .fn = acknowledge_alert},
};

void alerts_service_init(yw_rpc_service *svc, applications_ctx *ctx) {
  svc->descriptor = &yiwang__applications__v1__alerts_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
}
