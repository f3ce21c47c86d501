/*
 * supervision.c - electronic supervision (电子监察): the periodic job of yw-applications
 * that colours every application whose time limit runs.
 *
 * A pass (supervision_pass) takes a session advisory lock with pg_try_advisory_lock on a
 * pooled connection: one copy passes at a time and the others skip, so copies never
 * double the work. The candidates are the applications whose limit runs (the partial
 * index applications_running) and those still coloured (applications.supervision), read
 * in id order, a bounded batch per transaction: the batch's rows are locked FOR UPDATE
 * SKIP LOCKED (a row taking a step now is left for the next pass), each one's colour is
 * computed in C with the held calendar (lib/yw_workdays: statutory holidays and make-up
 * working days), and each change is stored in applications.supervision and the
 * department queues' rows, with application.supervision_changed appended through the
 * outbox in the same transaction. An unchanged colour writes nothing, so a second pass
 * changes nothing. The day is a parameter: the job passes today in Asia/Shanghai, tests
 * any day they like. The pass has a deadline: the connection wait and every statement end
 * by then, and a failure (a stopped database) ends the pass; the next one retries.
 * A change to yellow or red also records an alert for each department of the application
 * (and to red a feed entry for the applicant) in the batch's transaction; after the
 * applications, the same lock and deadline cover the open rectification cases past their
 * due date, a batch per transaction, each getting one alert (alerts.c).
 *
 * A pass stopped by its bound (deadline, or a number of batches) leaves where it stopped
 * in applications.supervision_cursor, written in each batch's transaction; the next pass
 * goes on from there to the last id and then from the first id back to that point, so
 * with many running applications every one is coloured, a bounded stretch per pass. A
 * pass that went through leaves 0. The steps of applications.c colour one application
 * with the same function (supervision_recolour) inside the transaction of its step, so an
 * acceptance already due (or a limit stopped) shows at once, not at the next pass.
 *
 * Offers: supervision_colour_of, supervision_colour_db, supervision_recolour,
 * supervision_pass, supervision_pass_n,
 * supervision_start, supervision_stop, supervision_metrics.
 */
#include "supervision.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "alerts.h"
#include "application_status.h"
#include "calendar.h"
#include "yiwang/events/v1/applications.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_log.h"
#include "yw_pass.h"
#include "yw_service.h"

#define COLOUR(x) YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__##x
#define ID_MAX 20
/* The pass's lock: one bigint key of its own (advisory keys of one bigint and of two
 * ints never meet). */
#define LOCK_KEY "('x' || substr(md5('applications.supervision'), 1, 16))::bit(64)::bigint"

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

supervision_colour supervision_colour_of(const struct yw_workdays *cal, const char *status,
                                         int has_due, yw_day due, yw_day today, int *days_left) {
  int left = 0;
  if (days_left != NULL) *days_left = 0;
  int running = strcmp(status, "accepted") == 0 || strcmp(status, "in_review") == 0 ||
                strcmp(status, "resubmitted") == 0;
  if (!running || !has_due || yw_workdays_between(cal, today, due, NULL, 0, &left) != 0)
    return COLOUR(SUPERVISION_NONE);
  if (days_left != NULL) *days_left = left;
  if (today > due) return COLOUR(RED);
  return left <= SUPERVISION_YELLOW_DAYS ? COLOUR(YELLOW) : COLOUR(GREEN);
}

const char *supervision_colour_db(supervision_colour c) {
  switch (c) {
    case COLOUR(SUPERVISION_NONE): return "none";
    case COLOUR(GREEN): return "green";
    case COLOUR(YELLOW): return "yellow";
    case COLOUR(RED): return "red";
    default: return NULL;
  }
}

static supervision_colour colour_from_db(const char *s) {
  return strcmp(s, "green") == 0    ? COLOUR(GREEN)
         : strcmp(s, "yellow") == 0 ? COLOUR(YELLOW)
         : strcmp(s, "red") == 0    ? COLOUR(RED)
                                    : COLOUR(SUPERVISION_NONE);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  return ev != NULL ? ev->name : "";
}

/* Stores a batch's changes (a JSON array of {id, colour, urgency, due, days_left}) in
 * one statement: applications.supervision and the queue's rows. */
static int store_changes(PGconn *conn, json_t *changes, yw_pg_error *err) {
  if (json_array_size(changes) == 0) return 0;
  char *text = json_dumps(changes, JSON_COMPACT);
  if (text == NULL) return YW_ENOMEM;
  const char *p[] = {text};
  /* the WITH's writes run whatever the UPDATE reads of them */
  int rc = yw_pg_query(conn,
                       "WITH x AS (SELECT * FROM json_to_recordset($1::json) AS x(id bigint,"
                       "   colour text, urgency smallint, due date, days_left int)),"
                       " d AS (DELETE FROM applications.supervision s USING x"
                       "   WHERE s.application_id = x.id AND x.colour = 'none' RETURNING 1),"
                       " u AS (INSERT INTO applications.supervision (application_id, colour,"
                       "   due_date, days_left) SELECT id, colour, due, days_left FROM x"
                       "   WHERE colour <> 'none'"
                       "   ON CONFLICT (application_id) DO UPDATE SET colour = EXCLUDED.colour,"
                       "   due_date = EXCLUDED.due_date, days_left = EXCLUDED.days_left,"
                       "   changed_at = now() RETURNING 1)"
                       " UPDATE applications.queue q SET supervision = x.colour, urgency = x.urgency"
                       " FROM x WHERE q.application_id = x.id",
                       1, p, NULL, err);
  free(text);
  return rc;
}

/* Notes one application's new colour in changes and appends its event; turned red, the
 * applicant's feed entry too (alerts.c). */
static int mark(PGconn *conn, const PGresult *r, int row, supervision_colour colour,
                const char *due, int left, json_t *changes, yw_pg_error *err) {
  const char *number = PQgetvalue(r, row, 1);
  int urgency = colour == COLOUR(RED) ? 0 : colour == COLOUR(YELLOW) ? 1 : 2;
  json_t *c = json_pack("{s:I,s:s,s:s,s:i,s:o,s:i,s:s}", "id",
                        (json_int_t)strtoll(PQgetvalue(r, row, 0), NULL, 10), "number", number,
                        "colour", supervision_colour_db(colour), "urgency", urgency, "due",
                        due[0] != '\0' ? json_string(due) : json_null(), "days_left", left, "depts",
                        PQgetvalue(r, row, 5));
  if (c == NULL || json_array_append_new(changes, c) != 0) return YW_ENOMEM;
  if (colour == COLOUR(RED)) {
    char to_whom[80]; /* a company's application: the company's feed */
    yw_feed_recipient(PQgetvalue(r, row, 8), PQgetvalue(r, row, 6), PQgetvalue(r, row, 9), to_whom,
                      sizeof to_whom);
    int rc = alerts_feed_late(conn, number, to_whom, PQgetvalue(r, row, 7), err);
    if (rc != 0) return rc;
  }
  /* the departments, lead first ("a,b": codes hold no comma) */
  char depts[16 * 65 + 1];
  snprintf(depts, sizeof depts, "%s", PQgetvalue(r, row, 5));
  char *list[16];
  size_t nd = 0;
  for (char *s = depts; *s != '\0' && nd < 16;) {
    char *comma = strchr(s, ',');
    if (comma != NULL) *comma = '\0';
    list[nd++] = s;
    if (comma == NULL) break;
    s = comma + 1;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  Yiwang__Events__V1__ApplicationSupervisionChanged ev =
      YIWANG__EVENTS__V1__APPLICATION_SUPERVISION_CHANGED__INIT;
  ev.number = (char *)number;
  ev.colour = (char *)enum_name(&yiwang__applications__v1__supervision_colour__descriptor, (int)colour);
  ev.due_date = (char *)due;
  ev.working_days_left = left;
  ev.at_unix_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  ev.status = (char *)enum_name(&yiwang__applications__v1__application_status__descriptor,
                                (int)application_status_from_db(PQgetvalue(r, row, 2)));
  ev.departments = list;
  ev.n_departments = nd;
  return yw_events_append(conn, "applications", "application.supervision_changed", 1, number,
                          &ev.base, NULL, err);
}

int supervision_recolour(PGconn *conn, const struct yw_workdays *cal, yw_day today,
                         const char *ids, supervision_result *res, supervision_colour *colour,
                         yw_pg_error *err) {
  const char *pl[] = {ids};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT a.id, a.number, a.status, COALESCE(to_char(a.due_date, 'YYYY-MM-DD'), ''),"
                       " COALESCE(s.colour, 'none'), array_to_string(a.departments, ','), a.applicant_subject,"
                       " a.item_name, a.applicant_kind, a.applicant_org"
                       " FROM applications.applications a"
                       " LEFT JOIN applications.supervision s ON s.application_id = a.id"
                       " WHERE a.id = ANY ($1::bigint[]) ORDER BY a.id FOR UPDATE OF a SKIP LOCKED",
                       1, pl, &r, err);
  if (rc != 0) return rc;
  json_t *changes = json_array();
  if (changes == NULL) rc = YW_ENOMEM;
  for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
    const char *due = PQgetvalue(r, i, 3);
    yw_day d = 0;
    int has_due = due[0] != '\0' && yw_day_parse(due, strlen(due), &d) == 0;
    int left = 0;
    supervision_colour c = supervision_colour_of(cal, PQgetvalue(r, i, 2), has_due, d, today, &left);
    if (colour != NULL && i == 0) *colour = c;
    res->checked++;
    if (c == colour_from_db(PQgetvalue(r, i, 4))) continue;
    rc = mark(conn, r, i, c, has_due ? due : "", left, changes, err);
    if (rc == 0) res->marked++;
  }
  PQclear(r);
  if (rc == 0) rc = store_changes(conn, changes, err);
  if (rc == 0) rc = alerts_for_applications(conn, today, changes, &res->alerted, err);
  json_decref(changes);
  return rc;
}

/* One batch after id *last: returns 0 with *n candidates seen (less than batch: the last
 * batch) and *last moved, or a code (err); the cursor row keeps where the pass is (0 once
 * the batch was the last), in the batch's transaction. Runs inside a transaction. */
static int pass_batch(PGconn *conn, const struct yw_workdays *cal, yw_day today, int batch,
                      const char *upto, char last[ID_MAX + 4], int *n, supervision_result *res,
                      yw_pg_error *err) {
  char limit[16];
  snprintf(limit, sizeof limit, "%d", batch);
  const char *pc[] = {last, limit, upto};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT id FROM ((SELECT a.id FROM applications.applications a"
                       "   WHERE a.status IN ('accepted', 'in_review', 'resubmitted')"
                       "   AND a.id > $1::bigint AND ($3::bigint IS NULL OR a.id <= $3::bigint)"
                       "   ORDER BY a.id LIMIT $2::int)"
                       " UNION (SELECT s.application_id FROM applications.supervision s"
                       "   WHERE s.application_id > $1::bigint"
                       "   AND ($3::bigint IS NULL OR s.application_id <= $3::bigint)"
                       "   ORDER BY 1 LIMIT $2::int)) c"
                       " ORDER BY id LIMIT $2::int",
                       3, pc, &r, err);
  if (rc != 0) return rc;
  *n = PQntuples(r);
  /* a bigint[] literal of the ids the database gave */
  size_t cap = (size_t)*n * (ID_MAX + 1) + 3, o = 0;
  char *ids = malloc(cap);
  if (ids == NULL) {
    PQclear(r);
    return YW_ENOMEM;
  }
  ids[o++] = '{';
  for (int i = 0; i < *n; i++)
    o += (size_t)snprintf(ids + o, cap - o, "%s%.20s", i > 0 ? "," : "", PQgetvalue(r, i, 0));
  snprintf(ids + o, cap - o, "}");
  if (*n > 0) snprintf(last, ID_MAX + 4, "%.20s", PQgetvalue(r, *n - 1, 0));
  PQclear(r);
  if (*n > 0) rc = supervision_recolour(conn, cal, today, ids, res, NULL, err);
  free(ids);
  /* the end of the range puts the cursor back to the start */
  const char *pk[] = {*n < batch ? "0" : last};
  if (rc == 0)
    rc = yw_pg_query(conn,
                     "INSERT INTO applications.supervision_cursor (id, last_id) VALUES (1, $1::bigint)"
                     " ON CONFLICT (id) DO UPDATE SET last_id = EXCLUDED.last_id, at = now()",
                     1, pk, NULL, err);
  return rc;
}

int supervision_pass(applications_ctx *ctx, yw_day today, int batch, int deadline_ms,
                     supervision_result *res) {
  return supervision_pass_n(ctx, today, batch, 0, deadline_ms, res);
}

int supervision_pass_n(applications_ctx *ctx, yw_day today, int batch, int max_batches,
                       int deadline_ms, supervision_result *res) {
  memset(res, 0, sizeof *res);
  if (batch < 1 || batch > 1000 || max_batches < 0 || deadline_ms <= 0) return YW_EINVAL;
  long long end = mono_ms() + deadline_ms;
  PGconn *conn = yw_pg_pool_acquire(ctx->pool, ctx->db_wait_ms < deadline_ms ? ctx->db_wait_ms : deadline_ms);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_set_deadline(conn, end - mono_ms());
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT pg_try_advisory_lock(" LOCK_KEY ")", 0, NULL, &r, &err);
  int locked = rc == 0 && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  if (r != NULL) PQclear(r);
  if (rc != 0 || !locked) {
    yw_pg_pool_release(ctx->pool, conn);
    res->skipped = rc == 0;
    return rc;
  }
  /* where the last pass stopped at its bound (0: it went through) */
  char start[ID_MAX + 4] = "0";
  r = NULL;
  rc = yw_pg_query(conn, "SELECT last_id FROM applications.supervision_cursor WHERE id = 1", 0,
                   NULL, &r, &err);
  if (rc == 0 && PQntuples(r) == 1) snprintf(start, sizeof start, "%.20s", PQgetvalue(r, 0, 0));
  if (r != NULL) PQclear(r);
  if (rc == 0) rc = applications_calendar_refresh(ctx->calendar, conn, 0, &err);
  void *ref = NULL;
  const struct yw_workdays *cal = applications_calendar_acquire(ctx->calendar, &ref);
  /* from the cursor to the last id, then (when it did not start at 0) from 0 to the cursor */
  char last[ID_MAX + 4];
  snprintf(last, sizeof last, "%s", start);
  int from_zero = strcmp(start, "0") == 0, wrapped = from_zero, batches = 0;
  for (int n = batch; rc == 0;) {
    if (n < batch) {
      if (wrapped) break;
      wrapped = 1;
      snprintf(last, sizeof last, "0");
    }
    if (mono_ms() >= end || (max_batches > 0 && batches >= max_batches)) {
      rc = YW_ETIMEOUT;
      break;
    }
    batches++;
    rc = yw_pg_begin(conn, &err);
    if (rc == 0) rc = pass_batch(conn, cal, today, batch, wrapped && !from_zero ? start : NULL, last, &n,
                                  res, &err);
    if (rc == 0) rc = yw_pg_commit(conn, &err);
    if (rc != 0) yw_pg_rollback(conn);
  }
  /* then the rectification cases past their deadline, under the same lock and deadline */
  snprintf(last, sizeof last, "0");
  for (int n = batch; rc == 0 && n == batch;) {
    if (mono_ms() >= end) {
      rc = YW_ETIMEOUT;
      break;
    }
    rc = yw_pg_begin(conn, &err);
    if (rc == 0) rc = alerts_overdue_cases(conn, today, batch, last, &n, &res->alerted, &err);
    if (rc == 0) rc = yw_pg_commit(conn, &err);
    if (rc != 0) yw_pg_rollback(conn);
  }
  applications_calendar_release(ref);
  /* the lock goes back on this connection; if it cannot, the connection is cut so that
   * the server ends its session (and the lock) and the pool makes a new one */
  yw_pg_set_deadline(conn, 2000);
  yw_pg_error uerr;
  if (yw_pg_query(conn, "SELECT pg_advisory_unlock(" LOCK_KEY ")", 0, NULL, NULL, &uerr) != 0)
    shutdown(PQsocket(conn), SHUT_RDWR);
  yw_pg_pool_release(ctx->pool, conn);
  return rc;
}

/* ---- the job ------------------------------------------------------------------------ */

struct supervision_job {
  applications_ctx *ctx;
  int deadline_ms; /* of one pass */
  yw_pass *thread;
  atomic_llong passes, failures, skipped, marked, alerted, last_pass_unix, last_pass_ms;
};

static int job_pass(void *arg) {
  supervision_job *job = arg;
  yw_day today = 0;
  supervision_result res;
  long long t0 = mono_ms();
  int rc = yw_day_from_time(time(NULL), &today);
  if (rc == 0) rc = supervision_pass(job->ctx, today, 200, job->deadline_ms, &res);
  atomic_fetch_add(&job->passes, 1);
  if (rc != 0) {
    atomic_fetch_add(&job->failures, 1);
    yw_log(YW_LOG_WARN, "applications.supervision_failed", NULL, "%s", yw_strerror(rc));
  } else if (res.skipped) {
    atomic_fetch_add(&job->skipped, 1);
  } else {
    atomic_fetch_add(&job->marked, res.marked);
    atomic_fetch_add(&job->alerted, res.alerted);
    atomic_store(&job->last_pass_unix, (long long)time(NULL));
    atomic_store(&job->last_pass_ms, mono_ms() - t0);
    if (res.marked > 0)
      yw_log(YW_LOG_INFO, "applications.supervision_marked", NULL, "%d of %d applications",
             res.marked, res.checked);
  }
  return 0;
}

int supervision_start(applications_ctx *ctx, int interval_s, supervision_job **out) {
  supervision_job *job = calloc(1, sizeof *job);
  if (job == NULL) return YW_ENOMEM;
  job->ctx = ctx;
  long long interval_ms = (long long)(interval_s < 1 ? 1 : interval_s) * 1000;
  job->deadline_ms = (int)(interval_ms < 30000 ? interval_ms : 30000);
  if (yw_pass_start((int)interval_ms, job_pass, job, &job->thread) != 0) {
    free(job);
    return YW_EIO;
  }
  *out = job;
  return 0;
}

void supervision_stop(supervision_job *job) {
  if (job == NULL) return;
  yw_pass_stop(job->thread);
  free(job);
}

int supervision_metrics(supervision_job *job, char *buf, size_t len) {
  if (job == NULL) return 0;
  int n = snprintf(buf, len,
                   "# TYPE yw_supervision_passes_total counter\n"
                   "yw_supervision_passes_total %lld\n"
                   "# TYPE yw_supervision_failures_total counter\n"
                   "yw_supervision_failures_total %lld\n"
                   "# HELP yw_supervision_skipped_total passes that found another copy's under way\n"
                   "# TYPE yw_supervision_skipped_total counter\n"
                   "yw_supervision_skipped_total %lld\n"
                   "# HELP yw_supervision_marked_total colours changed (one event each)\n"
                   "# TYPE yw_supervision_marked_total counter\n"
                   "yw_supervision_marked_total %lld\n"
                   "# HELP yw_supervision_alerts_total alerts recorded for departments\n"
                   "# TYPE yw_supervision_alerts_total counter\n"
                   "yw_supervision_alerts_total %lld\n"
                   "# HELP yw_supervision_last_pass_unix end of the last complete pass (0: none yet)\n"
                   "# TYPE yw_supervision_last_pass_unix gauge\n"
                   "yw_supervision_last_pass_unix %lld\n"
                   "# TYPE yw_supervision_last_pass_ms gauge\n"
                   "yw_supervision_last_pass_ms %lld\n",
                   atomic_load(&job->passes), atomic_load(&job->failures), atomic_load(&job->skipped),
                   atomic_load(&job->marked), atomic_load(&job->alerted), atomic_load(&job->last_pass_unix),
                   atomic_load(&job->last_pass_ms));
  return n < 0 || (size_t)n >= len ? YW_ETOOBIG : n;
}
