/*
 * ratings.c - 好差评 (GB/T 39735): handlers of yiwang.applications.v1.RatingsService.
 *
 *   RateApplication      the applicant, once per application, after it ended (COMPLETED,
 *                        REJECTED, DISAPPROVED); idempotent (yw_idem_run)
 *   CreateRating         a signed-in resident rates a channel or hall, at most once per
 *                        channel, hall, department and item a day; idempotent; deferred:
 *                        the department (or the item, which must be the department's)
 *                        is first looked up in yw-catalog (applications_ask_catalog)
 *   ListRectifications   staff of a department its cases, supervisors (platform_admin,
 *                        auditor) any department's or all; overdue first, keyset paged
 *   GetRectification     the case's department, supervisors, or the rated application's
 *                        applicant (a company's: acting for it, read; else the rater)
 *   AnswerRectification  OPEN -> ANSWERED (verification, measures), the department's staff
 *   RevisitRectification ANSWERED -> REVISITED, the applicant as for reading (scope apply),
 *                        or the department's staff recording a phone revisit
 *   CloseRectification   REVISITED -> CLOSED, the department's staff
 *   GetRatingSummary     public: counts per level, satisfaction rate, rectified
 *   ListMyRatings        the signed-in resident's own ratings, newest first, keyset paged
 *                        by id, each with its case's status, due date and answer
 *
 * A rating writes, in one transaction: the rating, one more in rating_counts for each of
 * its departments and its item (the summary reads those rows, never the ratings),
 * application.rated, and for a bad level (DISSATISFIED, VERY_DISSATISFIED) the case with
 * its due date (rectify_days working days of the service's calendar after today, in
 * Asia/Shanghai), its first timeline row and rectification.opened. A case's step is a
 * compare-and-set on its status (UPDATE ... WHERE status = $from, and the table's trigger
 * holds every writer to open -> answered -> revisited -> closed) with its timeline row and,
 * for staff, an audit row in the same transaction. The rating's text is never logged and
 * never leaves in an event.
 *
 * Offers: ratings_service_init.
 */
#include "ratings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "application_status.h"
#include "calendar.h"
#include "staff_access.h"
#include "yiwang/applications/v1/ratings.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yiwang/events/v1/ratings.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_service.h"
#include "yw_workdays.h"

#define DB "the applications database"
#define SCHEMA "applications"
#define TEXT_MAX 500      /* characters of a rating's text, a revisit's or a closing note */
#define MEASURES_MAX 1000 /* characters of the measures taken */
#define TAGS_MAX 8
#define TAG_MAX 32
#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define SEP "\x1f" /* tags travel to and from SQL joined by this (refused inside a tag) */

typedef Yiwang__Applications__V1__Rating Rating;
typedef Yiwang__Applications__V1__Rectification Rectification;
#define LV(x) YIWANG__APPLICATIONS__V1__RATING_LEVEL__##x
#define CH(x) YIWANG__APPLICATIONS__V1__RATING_CHANNEL__##x
#define RS(x) YIWANG__APPLICATIONS__V1__RECTIFICATION_STATUS__RECTIFICATION_##x
#define CV(x) YIWANG__APPLICATIONS__V1__COMPLAINT_VERIFICATION__COMPLAINT_##x

/* ---- forms of values --------------------------------------------------------------- */

/* Department, item and hall codes; case and rating ids (staff_access.h). */
#define valid_code staff_access_code_valid
#define valid_id staff_access_id_valid

/* The characters of s when it is well-formed UTF-8 without control characters other
 * than line breaks and tab (NUL ends it anyway), else -1. */
static long utf8_chars(const char *s) {
  long n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; n++) {
    unsigned c = *p;
    int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (more < 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) return -1;
    if ((more == 1 && c < 0xc2) || c > 0xf4) return -1; /* overlong, past U+10FFFF */
    unsigned cp = more == 0 ? c : c & (0x3f >> more);
    p++;
    for (int i = 0; i < more; i++, p++) {
      if ((*p & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (*p & 0x3f);
    }
    if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return -1;
  }
  return n;
}

/* A free text field: at most max characters, required or not. Returns 0 or YW_EINVAL. */
static int check_text(yw_rpc_call *call, const char *name, const char *s, long max, int required) {
  long n = utf8_chars(s);
  if (n < 0) return yw_rpc_call_fail(call, YW_EINVAL, "%s is not valid UTF-8 text", name);
  if (n > max) return yw_rpc_call_fail(call, YW_EINVAL, "%s is longer than %ld characters", name, max);
  if (required && n == 0) return yw_rpc_call_fail(call, YW_EINVAL, "%s is required", name);
  return 0;
}

/* Level, text and tags of a rating; the tags joined by SEP into *joined (arena). */
static int check_rating(yw_rpc_call *call, int level, const char *text, char **tags, size_t n_tags,
                        char **joined) {
  if (level < LV(VERY_SATISFIED) || level > LV(VERY_DISSATISFIED))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "level must be one of VERY_SATISFIED .. VERY_DISSATISFIED");
  int rc = check_text(call, "text", text, TEXT_MAX, 0);
  if (rc != 0) return rc;
  if (n_tags > TAGS_MAX) return yw_rpc_call_fail(call, YW_EINVAL, "tags: at most %d", TAGS_MAX);
  size_t len = 1;
  for (size_t i = 0; i < n_tags; i++) {
    long n = utf8_chars(tags[i]);
    if (n < 1 || n > TAG_MAX || strchr(tags[i], '\n') != NULL || strchr(tags[i], '\t') != NULL)
      return yw_rpc_call_fail(call, YW_EINVAL, "tags[%zu] must be 1..%d characters of text", i, TAG_MAX);
    len += strlen(tags[i]) + 1;
  }
  char *out = yw_arena_alloc(yw_rpc_call_arena(call), len);
  if (out == NULL) return YW_ENOMEM;
  out[0] = '\0';
  size_t at = 0;
  for (size_t i = 0; i < n_tags; i++) {
    size_t n = strlen(tags[i]);
    if (i > 0) out[at++] = SEP[0];
    memcpy(out + at, tags[i], n);
    at += n;
    out[at] = '\0';
  }
  *joined = out;
  return 0;
}

/* Enum values as the database keeps them ("very_satisfied", "mini_program") and as
 * events carry them (the proto names). */
static const char *const levels[] = {NULL, "very_satisfied", "satisfied", "basically_satisfied",
                                     "dissatisfied", "very_dissatisfied"};
static const char *const channels[] = {NULL, "app", "mini_program", "web", "hall"};
static const char *const statuses[] = {"", "open", "answered", "revisited", "closed"};
#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

static const char *level_db(int v) { return v >= 1 && v < COUNT(levels) ? levels[v] : NULL; }
static const char *channel_db(int v) { return v >= 1 && v < COUNT(channels) ? channels[v] : NULL; }
static const char *status_db(int v) { return v >= 0 && v < COUNT(statuses) ? statuses[v] : ""; }
static int from_db(const char *const *names, int n, const char *s) {
  for (int i = 1; i < n; i++)
    if (strcmp(names[i], s) == 0) return i;
  return 0;
}
static int level_from_db(const char *s) { return from_db(levels, COUNT(levels), s); }
static int channel_from_db(const char *s) { return from_db(channels, COUNT(channels), s); }
static int status_from_db(const char *s) { return from_db(statuses, COUNT(statuses), s); }
static const char *enum_name(const ProtobufCEnumDescriptor *d, int v) {
  const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
  return e != NULL ? e->name : "";
}

static int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- rows to messages --------------------------------------------------------------- */

#define TS(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
#define TODAY "(now() AT TIME ZONE 'Asia/Shanghai')::date"
#define OVERDUE "(c.status = 'open' AND c.due_date < " TODAY ")"

#define RATING_COLS                                                                           \
  "r.id, COALESCE(r.application_number, ''), r.channel, r.hall_code, r.department,"          \
  " r.item_code, r.level, r.text, array_to_string(r.tags, chr(31)), " TS("r.created_at") "," \
  " COALESCE((SELECT c.id::text FROM applications.rectifications c WHERE c.rating_id = r.id), '')"
enum { R_ID, R_NUMBER, R_CHANNEL, R_HALL, R_DEPT, R_ITEM, R_LEVEL, R_TEXT, R_TAGS, R_AT, R_CASE };

/* The strings of text split at SEP, in the arena ("" is none). */
static char **split_tags(yw_arena *a, const char *text, size_t *n) {
  *n = 0;
  if (text[0] == '\0') return NULL;
  size_t k = 1;
  for (const char *c = text; *c != '\0'; c++) k += *c == SEP[0];
  char **out = yw_arena_calloc(a, k, sizeof *out);
  char *copy = yw_arena_strndup(a, text, strlen(text));
  if (out == NULL || copy == NULL) return NULL;
  for (char *s = copy;;) {
    out[(*n)++] = s;
    char *e = strchr(s, SEP[0]);
    if (e == NULL) break;
    *e = '\0';
    s = e + 1;
  }
  return out;
}

static Rating *rating_from_row(yw_arena *a, const PGresult *r, int row) {
  Rating *m = yw_arena_calloc(a, 1, sizeof *m);
  if (m == NULL) return NULL;
  yiwang__applications__v1__rating__init(m);
  m->id = yw_col_str(a, r, row, R_ID);
  m->application_number = yw_col_str(a, r, row, R_NUMBER);
  m->channel = channel_from_db(PQgetvalue(r, row, R_CHANNEL));
  m->hall_code = yw_col_str(a, r, row, R_HALL);
  m->department = yw_col_str(a, r, row, R_DEPT);
  m->item_code = yw_col_str(a, r, row, R_ITEM);
  m->level = level_from_db(PQgetvalue(r, row, R_LEVEL));
  m->text = yw_col_str(a, r, row, R_TEXT);
  m->tags = split_tags(a, PQgetvalue(r, row, R_TAGS), &m->n_tags);
  m->created_at = yw_col_str(a, r, row, R_AT);
  m->rectification_id = yw_col_str(a, r, row, R_CASE);
  if (m->id == NULL || m->application_number == NULL || m->hall_code == NULL ||
      m->department == NULL || m->item_code == NULL || m->text == NULL || m->created_at == NULL ||
      m->rectification_id == NULL || (m->n_tags > 0 && m->tags == NULL))
    return NULL;
  return m;
}

#define CASE_COLS                                                                              \
  "c.id, c.rating_id, COALESCE(r.application_number, ''), c.department, r.item_code, r.level," \
  " c.status, to_char(c.due_date, 'YYYY-MM-DD'), " OVERDUE ", c.verification, c.measures,"     \
  " COALESCE(c.revisit_satisfied, false), c.revisit_note, c.revisit_by, " TS("c.opened_at") "," \
  " COALESCE(" TS("c.closed_at") ", ''), r.text, r.rater_subject,"                           \
  " CASE WHEN " OVERDUE " THEN 0 ELSE 1 END"
enum {
  K_ID, K_RATING, K_NUMBER, K_DEPT, K_ITEM, K_LEVEL, K_STATUS, K_DUE, K_OVERDUE, K_VERIF,
  K_MEASURES, K_SATISFIED, K_NOTE, K_BY, K_OPENED, K_CLOSED, K_TEXT, K_RATER, K_KEY
};
#define CASE_FROM " FROM applications.rectifications c JOIN applications.ratings r ON r.id = c.rating_id"

static Rectification *case_from_row(yw_arena *a, const PGresult *r, int row) {
  Rectification *m = yw_arena_calloc(a, 1, sizeof *m);
  if (m == NULL) return NULL;
  yiwang__applications__v1__rectification__init(m);
  m->id = yw_col_str(a, r, row, K_ID);
  m->rating_id = yw_col_str(a, r, row, K_RATING);
  m->application_number = yw_col_str(a, r, row, K_NUMBER);
  m->department = yw_col_str(a, r, row, K_DEPT);
  m->item_code = yw_col_str(a, r, row, K_ITEM);
  m->level = level_from_db(PQgetvalue(r, row, K_LEVEL));
  m->status = status_from_db(PQgetvalue(r, row, K_STATUS));
  m->due_date = yw_col_str(a, r, row, K_DUE);
  m->overdue = yw_col_bool(r, row, K_OVERDUE);
  const char *v = PQgetvalue(r, row, K_VERIF);
  m->verification = strcmp(v, "valid") == 0 ? CV(VALID) : strcmp(v, "invalid") == 0 ? CV(INVALID) : 0;
  m->measures = yw_col_str(a, r, row, K_MEASURES);
  m->revisit_satisfied = yw_col_bool(r, row, K_SATISFIED);
  m->revisit_note = yw_col_str(a, r, row, K_NOTE);
  m->revisit_by = yw_col_str(a, r, row, K_BY);
  m->opened_at = yw_col_str(a, r, row, K_OPENED);
  m->closed_at = yw_col_str(a, r, row, K_CLOSED);
  m->rating_text = yw_col_str(a, r, row, K_TEXT);
  if (m->id == NULL || m->rating_id == NULL || m->application_number == NULL ||
      m->department == NULL || m->item_code == NULL || m->due_date == NULL || m->measures == NULL ||
      m->revisit_note == NULL || m->revisit_by == NULL || m->opened_at == NULL ||
      m->closed_at == NULL || m->rating_text == NULL)
    return NULL;
  return m;
}

/* The case id with its timeline into *out (the call's arena); *rater (may be NULL) gets
 * the rater's account. Returns 0, YW_ENOTFOUND (status set) or a query's code (err). */
static int load_case(yw_rpc_call *call, PGconn *conn, const char *id, Rectification **out,
                     char **rater, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT " CASE_COLS CASE_FROM " WHERE c.id = $1::bigint", 1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no rectification %s", id);
  }
  Rectification *m = case_from_row(a, r, 0);
  if (rater != NULL) *rater = yw_col_str(a, r, 0, K_RATER);
  PQclear(r);
  if (m == NULL || (rater != NULL && *rater == NULL)) return YW_ENOMEM;
  rc = yw_pg_query(conn,
                   "SELECT from_status, to_status, actor, actor_department, note, " TS("at")
                   " FROM applications.rectification_steps WHERE rectification_id = $1::bigint"
                   " ORDER BY id LIMIT 64",
                   1, p, &r, err);
  if (rc != 0) return rc;
  int n = PQntuples(r);
  m->timeline = yw_arena_calloc(a, (size_t)n + 1, sizeof *m->timeline);
  for (int i = 0; m->timeline != NULL && i < n; i++) {
    Yiwang__Applications__V1__RectificationStep *s = yw_arena_calloc(a, 1, sizeof *s);
    if (s == NULL) break;
    yiwang__applications__v1__rectification_step__init(s);
    s->from_status = status_from_db(PQgetvalue(r, i, 0));
    s->to_status = status_from_db(PQgetvalue(r, i, 1));
    s->actor = yw_col_str(a, r, i, 2);
    s->actor_department = yw_col_str(a, r, i, 3);
    s->note = yw_col_str(a, r, i, 4);
    s->at = yw_col_str(a, r, i, 5);
    if (s->actor == NULL || s->actor_department == NULL || s->note == NULL || s->at == NULL) break;
    m->timeline[m->n_timeline++] = s;
  }
  PQclear(r);
  if (m->timeline == NULL || m->n_timeline != (size_t)n) return YW_ENOMEM;
  *out = m;
  return 0;
}

/* ---- a rating ------------------------------------------------------------------------ */

struct rate_work {
  ratings_ctx *ctx;
  yw_caller caller;
  const Yiwang__Applications__V1__CreateRatingRequest *create; /* CreateRating's, checked by the catalog */
  char *tags;       /* joined by SEP */
  const char *channel;
  const char *exists; /* the refusal when the insert found the rating there */
  Rating *rating;
};

/* Today (Asia/Shanghai) plus the context's working days, by the service's calendar as the
 * database holds it now, into out. Returns 0, a refusal or a query's code (err). */
static int case_due_date(yw_rpc_call *call, PGconn *conn, ratings_ctx *ctx, char out[YW_DAY_STRLEN],
                         yw_pg_error *err) {
  int rc = applications_calendar_refresh(ctx->app->calendar, conn, 0, err);
  if (rc != 0) return rc;
  yw_day today = 0, due = 0;
  void *ref = NULL;
  const struct yw_workdays *cal = applications_calendar_acquire(ctx->app->calendar, &ref);
  int ok = yw_day_from_time(time(NULL), &today) == 0 &&
           yw_workdays_add(cal, today, ctx->rectify_days, NULL, 0, &due) == 0;
  applications_calendar_release(ref);
  if (!ok || yw_day_format(due, out, YW_DAY_STRLEN) != 0)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "the due date of a rectification cannot be computed");
  return 0;
}

/* After the rating id was inserted: the counts, application.rated, and for a bad level the
 * case with its timeline row and rectification.opened; then the rating read back into
 * w->rating. */
static int rating_written(yw_rpc_call *call, PGconn *conn, struct rate_work *w, const char *id,
                          yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {id};
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.rating_counts (scope, code, level, ratings)"
                       " SELECT x.scope, x.code, r.level, 1 FROM applications.ratings r,"
                       " LATERAL (SELECT 'department' AS scope, d AS code FROM unnest(r.departments) d"
                       "   UNION SELECT 'item', r.item_code WHERE r.item_code <> '') x"
                       " WHERE r.id = $1::bigint ORDER BY 1, 2"
                       " ON CONFLICT (scope, code, level)"
                       " DO UPDATE SET ratings = applications.rating_counts.ratings + 1",
                       1, p, NULL, err);
  if (rc != 0) return rc;
  PGresult *r = NULL;
  rc = yw_pg_query(conn,
                   "SELECT " RATING_COLS ", array_to_string(r.departments, chr(31))"
                   " FROM applications.ratings r WHERE r.id = $1::bigint",
                   1, p, &r, err);
  if (rc != 0) return rc;
  Rating *m = PQntuples(r) == 1 ? rating_from_row(a, r, 0) : NULL;
  size_t n_depts = 0;
  char **depts = m != NULL ? split_tags(a, PQgetvalue(r, 0, R_CASE + 1), &n_depts) : NULL;
  PQclear(r);
  if (m == NULL || depts == NULL) return YW_ENOMEM;

  char key[32];
  if (m->application_number[0] != '\0') snprintf(key, sizeof key, "%s", m->application_number);
  else snprintf(key, sizeof key, "rating-%s", id);
  Yiwang__Events__V1__ApplicationRated ev = YIWANG__EVENTS__V1__APPLICATION_RATED__INIT;
  ev.rating_id = m->id;
  ev.number = m->application_number;
  ev.item_code = m->item_code;
  ev.departments = depts;
  ev.n_departments = n_depts;
  ev.level = (char *)enum_name(&yiwang__applications__v1__rating_level__descriptor, m->level);
  ev.channel = (char *)enum_name(&yiwang__applications__v1__rating_channel__descriptor, m->channel);
  ev.hall_code = m->hall_code;
  ev.occurred_at_unix_ms = now_ms();
  if ((rc = yw_events_append(conn, SCHEMA, "application.rated", 1, key, &ev.base, NULL, err)) != 0)
    return rc;

  if (m->level == LV(DISSATISFIED) || m->level == LV(VERY_DISSATISFIED)) {
    char due[YW_DAY_STRLEN];
    if ((rc = case_due_date(call, conn, w->ctx, due, err)) != 0) return rc;
    const char *pc[] = {id, m->department, due, w->caller.subject};
    rc = yw_pg_query(conn,
                     "WITH c AS (INSERT INTO applications.rectifications (rating_id, department, due_date)"
                     " VALUES ($1::bigint, $2, $3::date) RETURNING id)"
                     " INSERT INTO applications.rectification_steps (rectification_id, from_status,"
                     " to_status, actor) SELECT c.id, '', 'open', $4 FROM c RETURNING rectification_id",
                     4, pc, &r, err);
    if (rc != 0) return rc;
    m->rectification_id = yw_col_str(a, r, 0, 0);
    PQclear(r);
    if (m->rectification_id == NULL) return YW_ENOMEM;
    Yiwang__Events__V1__RectificationChanged ce = YIWANG__EVENTS__V1__RECTIFICATION_CHANGED__INIT;
    ce.id = m->rectification_id;
    ce.rating_id = m->id;
    ce.number = m->application_number;
    ce.department = m->department;
    ce.item_code = m->item_code;
    ce.status = "OPEN";
    ce.due_date = due;
    ce.verification = "";
    ce.occurred_at_unix_ms = ev.occurred_at_unix_ms;
    rc = yw_events_append(conn, SCHEMA, "rectification.opened", 1, key, &ce.base, NULL, err);
    if (rc != 0) return rc;
  }
  w->rating = m;
  return 0;
}

/* The insert's answer r (taken): no row is ALREADY_EXISTS (w->exists); else the rest of
 * the rating's writes and the rating in *out. */
static int after_insert(yw_rpc_call *call, PGconn *conn, struct rate_work *w, PGresult *r,
                        ProtobufCMessage **out) {
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  char id[24] = "";
  if (PQntuples(r) == 1) snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  if (id[0] == '\0') return yw_rpc_call_fail(call, YW_EEXIST, "%s", w->exists);
  int rc = rating_written(call, conn, w, id, &err);
  if (rc != 0)
    return err.message[0] != '\0' || err.sqlstate[0] != '\0' ? yw_service_db_fail(call, rc, &err) : rc;
  *out = &w->rating->base;
  return 0;
}

static int rate_application_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm,
                               ProtobufCMessage **out, void *arg) {
  const Yiwang__Applications__V1__RateApplicationRequest *req = (const void *)reqm;
  struct rate_work *w = arg;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  const char *p[] = {req->number};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT applicant_subject, status, applicant_kind, applicant_org"
                       " FROM applications.applications WHERE number = $1",
                       1, p, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (PQntuples(r) != 1) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no application %s", req->number);
  }
  /* a company's application is rated by a person acting for it (scope apply) */
  rc = yw_service_require_applicant(call, &w->caller, PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 0),
                                    PQgetvalue(r, 0, 3), "apply", "application", req->number);
  char status[32] = "";
  snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  if (rc != 0) return rc;
  if (strcmp(status, "completed") != 0 && strcmp(status, "rejected") != 0 &&
      strcmp(status, "disapproved") != 0)
    return yw_rpc_call_fail(call, YW_EPRECOND,
                            "application %s is %s: it is rated once it is completed, rejected or disapproved",
                            req->number, status);
  w->exists = "the application is already rated";
  const char *pi[] = {req->number, w->caller.subject, w->channel, level_db(req->level), req->text,
                      w->tags};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.ratings (rater_subject, application_number, channel,"
                   " department, departments, item_code, level, text, tags)"
                   " SELECT $2, a.number, $3, a.lead_department, a.departments, a.impl_code, $4, $5,"
                   " CASE WHEN $6 = '' THEN '{}'::text[] ELSE string_to_array($6, chr(31)) END"
                   " FROM applications.applications a WHERE a.number = $1"
                   " ON CONFLICT (application_number) DO NOTHING RETURNING id",
                   6, pi, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  return after_insert(call, conn, w, r, out);
}

/* The work of a rating by the calling resident (real-name level 1 or more) in *out. */
static int rater(yw_rpc_call *call, ratings_ctx *ctx, struct rate_work **out) {
  struct rate_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  w->ctx = ctx;
  *out = w;
  return yw_service_require_person(call, &ctx->app->caller_keys, 1, &w->caller);
}

/* Runs fn once per Idempotency-Key (yw_idem_run with the applications' options, the
 * answer being a Rating). */
static int idem_rating(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       struct rate_work *w, yw_idem_fn fn) {
  yw_idem_opts o = w->ctx->app->idem;
  o.response = &yiwang__applications__v1__rating__descriptor;
  return yw_idem_run(call, reqm, out, w->ctx->app->pool, &o, fn, w);
}

static int rate_application(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  const Yiwang__Applications__V1__RateApplicationRequest *req = (const void *)reqm;
  struct rate_work *w = NULL;
  int rc = rater(call, data, &w);
  if (rc != 0) return rc;
  if (!application_number_valid(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number must be 20 digits");
  if ((rc = check_rating(call, req->level, req->text, req->tags, req->n_tags, &w->tags)) != 0) return rc;
  int channel = req->channel == 0 ? CH(APP) : req->channel;
  if (channel == CH(HALL) || channel_db(channel) == NULL)
    return yw_rpc_call_fail(call, YW_EINVAL, "channel of an application's rating must be APP, MINI_PROGRAM or WEB");
  w->channel = channel_db(channel);
  return idem_rating(call, reqm, out, w, rate_application_tx);
}

static int create_rating_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm,
                            ProtobufCMessage **out, void *arg) {
  const Yiwang__Applications__V1__CreateRatingRequest *req = (const void *)reqm;
  struct rate_work *w = arg;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  const char *p[] = {w->caller.subject, w->channel, req->hall_code, req->department_code,
                     req->item_code, level_db(req->level), req->text, w->tags};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.ratings (rater_subject, channel, hall_code,"
                       " department, departments, item_code, level, text, tags)"
                       " VALUES ($1, $2, $3, $4, ARRAY[$4], $5, $6, $7,"
                       " CASE WHEN $8 = '' THEN '{}'::text[] ELSE string_to_array($8, chr(31)) END)"
                       /* one a day per rater, channel, hall and department: the index
                        * ratings_once_a_day (migration 019); the item is a detail */
                       " ON CONFLICT DO NOTHING RETURNING id",
                       8, p, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  w->exists = req->hall_code[0] != '\0' ? "you already rated this department's hall today"
                                         : "you already rated this department's channel today";
  return after_insert(call, conn, w, r, out);
}

/* The catalog's answer about a channel's rating (the item, or without one the department):
 * unknown is INVALID_ARGUMENT naming the field, no answer UNAVAILABLE (or
 * DEADLINE_EXCEEDED); then the rating is written and the call answered. */
static void rating_target_checked(yw_rpc_call *call, int code, ProtobufCMessage *response,
                                  const char *message, void *arg) {
  struct rate_work *w = arg;
  const Yiwang__Applications__V1__CreateRatingRequest *req = w->create;
  int by_item = req->item_code[0] != '\0';
  int rc = 0;
  if (code == YW_ENOTFOUND && by_item) {
    rc = yw_rpc_call_fail(call, YW_EINVAL, "itemCode: the catalog has no item %s", req->item_code);
  } else if (code == YW_ENOTFOUND) {
    rc = yw_rpc_call_fail(call, YW_EINVAL, "departmentCode: the catalog has no department %s",
                          req->department_code);
  } else if (code != 0) {
    rc = yw_rpc_call_fail(call, code == YW_ETIMEOUT ? YW_ETIMEOUT : YW_EUNAVAIL,
                          "the catalog could not check the rated service: %s", message != NULL ? message : "");
  } else if (by_item) {
    /* the item must be the department's: its own, or one it handles jointly (联办) */
    const Yiwang__Catalog__V1__Item *item = (const void *)response;
    int ours = strcmp(item->department_code, req->department_code) == 0;
    for (size_t i = 0; !ours && item->details != NULL && i < item->details->n_joint_departments; i++)
      ours = strcmp(item->details->joint_departments[i], req->department_code) == 0;
    if (!ours)
      rc = yw_rpc_call_fail(call, YW_EINVAL, "itemCode: item %s is not handled by department %s",
                            req->item_code, req->department_code);
  } else if (strcmp(((const Yiwang__Catalog__V1__Department *)(const void *)response)->code,
                    req->department_code) != 0) {
    rc = yw_rpc_call_fail(call, YW_EUNAVAIL, "the catalog answered another department");
  }
  ProtobufCMessage *out = NULL;
  if (rc == 0) rc = idem_rating(call, &req->base, &out, w, create_rating_tx);
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

static int create_rating(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *data) {
  const Yiwang__Applications__V1__CreateRatingRequest *req = (const void *)reqm;
  struct rate_work *w = NULL;
  int rc = rater(call, data, &w);
  if (rc != 0) return rc;
  if ((w->channel = channel_db(req->channel)) == NULL)
    return yw_rpc_call_fail(call, YW_EINVAL, "channel must be APP, MINI_PROGRAM, WEB or HALL");
  if (req->channel == CH(HALL) && !valid_code(req->hall_code))
    return yw_rpc_call_fail(call, YW_EINVAL, "hallCode is required for HALL: 1..64 letters, digits, '-', '_', '.'");
  if (req->channel != CH(HALL) && req->hall_code[0] != '\0')
    return yw_rpc_call_fail(call, YW_EINVAL, "hallCode is only for HALL");
  if (!valid_code(req->department_code))
    return yw_rpc_call_fail(call, YW_EINVAL, "departmentCode is required: 1..64 letters, digits, '-', '_', '.'");
  if (req->item_code[0] != '\0' && !valid_code(req->item_code))
    return yw_rpc_call_fail(call, YW_EINVAL, "itemCode must be 1..64 letters, digits, '-', '_', '.'");
  if ((rc = check_rating(call, req->level, req->text, req->tags, req->n_tags, &w->tags)) != 0) return rc;
  (void)out; /* answered by rating_target_checked */
  w->create = req;
  /* the department (or the item and its department) against yw-catalog, within the
   * call's deadline, on the path filings use */
  yw_arena *a = yw_rpc_call_arena(call);
  if (req->item_code[0] != '\0') {
    Yiwang__Catalog__V1__GetItemRequest *get = yw_arena_alloc(a, sizeof *get);
    if (get == NULL) return YW_ENOMEM;
    yiwang__catalog__v1__get_item_request__init(get);
    get->code = req->item_code;
    return applications_ask_catalog(call, w->ctx->app, "GetItem", &get->base,
                                    &yiwang__catalog__v1__item__descriptor, rating_target_checked, w);
  }
  Yiwang__Catalog__V1__GetDepartmentRequest *get = yw_arena_alloc(a, sizeof *get);
  if (get == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__get_department_request__init(get);
  get->code = req->department_code;
  return applications_ask_catalog(call, w->ctx->app, "GetDepartment", &get->base,
                                  &yiwang__catalog__v1__department__descriptor, rating_target_checked, w);
}

/* ---- rectification cases -------------------------------------------------------------- */

/* Who looks at or acts on cases. */
enum who { WHO_STAFF, WHO_SUPERVISOR, WHO_RATER };

/* Staff of department (dept_staff, dept_admin), or a supervisor when supervisors. */
static int require_case_staff(yw_rpc_call *call, ratings_ctx *ctx, const char *dept, int supervisors,
                              const char *action, yw_caller *caller, enum who *who) {
  int supervisor = 0;
  int rc = staff_access_require(call, &ctx->app->caller_keys, dept, supervisors, action, caller, &supervisor);
  if (rc == 0) *who = supervisor ? WHO_SUPERVISOR : WHO_STAFF;
  return rc;
}

static int list_rectifications(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                               void *data) {
  const Yiwang__Applications__V1__ListRectificationsRequest *req = (const void *)reqm;
  ratings_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  enum who who;
  int rc = require_case_staff(call, ctx, req->department, 1, "listing rectifications", &caller, &who);
  if (rc != 0) return rc;
  if (req->status < 0 || req->status > RS(CLOSED))
    return yw_rpc_call_fail(call, YW_EINVAL, "status is not a rectification status");
  const char *status = status_db(req->status);
  const char *filters[] = {req->department, req->overdue_only ? "1" : "0", status};
  yw_page page;
  if ((rc = yw_page_begin(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 3,
                          &page)) != 0)
    return rc;
  /* the cursor is "<0 overdue, 1 not>|<due date>|<id>" of the page's last row */
  char key[2] = "", due[11] = "", after[20] = {0};
  if (page.has_cursor) {
    const char *c = page.cursor;
    size_t n = strlen(c);
    yw_day d;
    if (n < 14 || n > 31 || (c[0] != '0' && c[0] != '1') || c[1] != '|' || c[12] != '|' ||
        yw_day_parse(c + 2, 10, &d) != 0 || !valid_id(c + 13))
      return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
    key[0] = c[0];
    memcpy(due, c + 2, 10);
    memcpy(after, c + 13, n - 13); /* valid_id: at most 18 digits */
  }
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {req->department, status, req->overdue_only ? "t" : "f",
                     page.has_cursor ? key : NULL, page.has_cursor ? due : NULL,
                     page.has_cursor ? after : NULL, limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->app->pool, ctx->app->db_wait_ms, DB,
                        "SELECT " CASE_COLS CASE_FROM
                        " WHERE ($1 = '' OR c.department = $1) AND ($2 = '' OR c.status = $2)"
                        " AND (NOT $3::bool OR " OVERDUE ")"
                        " AND ($4::int IS NULL OR (CASE WHEN " OVERDUE " THEN 0 ELSE 1 END, c.due_date, c.id)"
                        "   > ($4::int, $5::date, $6::bigint))"
                        " ORDER BY CASE WHEN " OVERDUE " THEN 0 ELSE 1 END, c.due_date, c.id LIMIT $7::int",
                        7, p, &r);
  if (rc != 0) return rc;
  Yiwang__Applications__V1__ListRectificationsResponse *resp = yw_arena_calloc(a, 1, sizeof *resp);
  int n = PQntuples(r), shown = n > page.size ? page.size : n;
  if (resp != NULL) {
    yiwang__applications__v1__list_rectifications_response__init(resp);
    resp->rectifications = yw_arena_calloc(a, (size_t)shown + 1, sizeof *resp->rectifications);
  }
  for (int i = 0; resp != NULL && resp->rectifications != NULL && i < shown; i++) {
    Rectification *m = case_from_row(a, r, i);
    if (m == NULL) break;
    m->rating_text = ""; /* the list is for triage; the text is read case by case */
    resp->rectifications[resp->n_rectifications++] = m;
  }
  resp = resp != NULL && resp->n_rectifications == (size_t)shown ? resp : NULL;
  if (resp != NULL && n > page.size) {
    char cursor[48];
    snprintf(cursor, sizeof cursor, "%s|%s|%s", PQgetvalue(r, shown - 1, K_KEY),
             PQgetvalue(r, shown - 1, K_DUE), PQgetvalue(r, shown - 1, K_ID));
    if ((resp->next_page_token = yw_page_token(a, &page, cursor)) == NULL) resp = NULL;
  }
  PQclear(r);
  if (resp == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

struct case_work {
  ratings_ctx *ctx;
  yw_caller caller;
  enum who who;
  const char *department; /* staff's; "" for the rater and supervisors */
  const char *id;
  int from, to;           /* a step: RS(...) values; 0 for a read */
  const char *action;     /* the audit's name of the step */
  const char *verification, *measures, *note;
  int satisfied;
  Rectification *out;
};

/* The case as w's caller may see it: staff of its department, a supervisor, or the
 * applicant of the rated application by the rule of lib/yw_service (a company's case is
 * the company's: a person acting for it with read, or apply for a step), or, for a rating
 * of no application, its rater; NOT_FOUND to anyone else. */
static int visible_case(yw_rpc_call *call, PGconn *conn, struct case_work *w, yw_pg_error *err) {
  char *rater = NULL;
  int rc = load_case(call, conn, w->id, &w->out, &rater, err);
  if (rc != 0) return rc;
  if (w->who == WHO_RATER && w->out->application_number[0] != '\0') {
    const char *p[] = {w->out->application_number};
    PGresult *r = NULL;
    rc = yw_pg_query(conn,
                     "SELECT applicant_kind, applicant_subject, applicant_org"
                     " FROM applications.applications WHERE number = $1",
                     1, p, &r, err);
    if (rc != 0) return rc;
    if (PQntuples(r) != 1) {
      PQclear(r);
      return yw_rpc_call_fail(call, YW_ENOTFOUND, "no rectification %s", w->id);
    }
    rc = yw_service_require_applicant(call, &w->caller, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                                      PQgetvalue(r, 0, 2), w->from == 0 ? "read" : "apply",
                                      "rectification", w->id);
    PQclear(r);
    return rc;
  }
  int ok = w->who == WHO_SUPERVISOR ||
           (w->who == WHO_STAFF && strcmp(w->out->department, w->department) == 0) ||
           (w->who == WHO_RATER && strcmp(rater, w->caller.subject) == 0);
  if (!ok) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no rectification %s", w->id);
  return 0;
}

static int get_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  return visible_case(call, conn, arg, err);
}

static int step_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct case_work *w = arg;
  const char *pl[] = {w->id};
  int rc = yw_pg_query(conn, "SELECT 1 FROM applications.rectifications WHERE id = $1::bigint FOR UPDATE",
                       1, pl, NULL, err);
  if (rc != 0) return rc;
  if ((rc = visible_case(call, conn, w, err)) != 0) return rc;
  const char *from = status_db(w->from), *to = status_db(w->to);
  const char *p[] = {w->id, from, to, w->verification, w->measures, w->satisfied ? "t" : "f",
                     w->note, w->who == WHO_RATER ? "applicant" : "phone"};
  PGresult *r = NULL;
  rc = yw_pg_query(conn,
                   "UPDATE applications.rectifications SET status = $3,"
                   " verification = CASE WHEN $3 = 'answered' THEN $4 ELSE verification END,"
                   " measures = CASE WHEN $3 = 'answered' THEN $5 ELSE measures END,"
                   " answered_at = CASE WHEN $3 = 'answered' THEN now() ELSE answered_at END,"
                   " revisit_satisfied = CASE WHEN $3 = 'revisited' THEN $6::bool ELSE revisit_satisfied END,"
                   " revisit_note = CASE WHEN $3 = 'revisited' THEN $7 ELSE revisit_note END,"
                   " revisit_by = CASE WHEN $3 = 'revisited' THEN $8 ELSE revisit_by END,"
                   " closed_at = CASE WHEN $3 = 'closed' THEN now() ELSE closed_at END"
                   " WHERE id = $1::bigint AND status = $2 RETURNING id",
                   8, p, &r, err);
  if (rc != 0) return rc;
  int changed = PQntuples(r);
  PQclear(r);
  if (changed == 0)
    return yw_rpc_call_fail(call, YW_EPRECOND, "a rectification %s cannot become %s",
                            status_db(w->out->status), to);
  const char *note = w->to == RS(ANSWERED) ? w->measures : w->note;
  const char *ps[] = {w->id, from, to, w->caller.subject, w->department, note};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.rectification_steps (rectification_id, from_status,"
                   " to_status, actor, actor_department, note) VALUES ($1::bigint, $2, $3, $4, $5, $6)",
                   6, ps, NULL, err);
  if (rc != 0) return rc;
  if (w->who == WHO_STAFF) {
    const char *pa[] = {w->caller.subject, w->department, w->action, w->id,
                        yw_rpc_call_request_id(call), w->caller.ip};
    rc = yw_pg_query(conn,
                     "INSERT INTO applications.rectification_audit (actor, department, action, target,"
                     " request_id, source_ip) VALUES ($1, $2, $3, $4, $5, $6)",
                     6, pa, NULL, err);
    if (rc != 0) return rc;
  }
  if (w->to == RS(CLOSED)) {
    rc = yw_pg_query(conn,
                     "UPDATE applications.rating_counts n SET rectified = n.rectified + 1"
                     " FROM applications.rectifications c JOIN applications.ratings r ON r.id = c.rating_id"
                     " WHERE c.id = $1::bigint AND n.level = r.level AND"
                     " ((n.scope = 'department' AND n.code = ANY (r.departments))"
                     "  OR (n.scope = 'item' AND n.code = r.item_code AND r.item_code <> ''))",
                     1, pl, NULL, err);
    if (rc != 0) return rc;
  }
  if ((rc = load_case(call, conn, w->id, &w->out, NULL, err)) != 0) return rc;
  if (w->to == RS(CLOSED)) {
    Rectification *m = w->out;
    char key[32];
    if (m->application_number[0] != '\0') snprintf(key, sizeof key, "%s", m->application_number);
    else snprintf(key, sizeof key, "rating-%s", m->rating_id);
    Yiwang__Events__V1__RectificationChanged ce = YIWANG__EVENTS__V1__RECTIFICATION_CHANGED__INIT;
    ce.id = m->id;
    ce.rating_id = m->rating_id;
    ce.number = m->application_number;
    ce.department = m->department;
    ce.item_code = m->item_code;
    ce.status = "CLOSED";
    ce.due_date = m->due_date;
    ce.verification = m->verification == CV(VALID) ? "VALID" : "INVALID";
    ce.revisit_satisfied = m->revisit_satisfied;
    ce.occurred_at_unix_ms = now_ms();
    rc = yw_events_append(conn, SCHEMA, "rectification.closed", 1, key, &ce.base, NULL, err);
  }
  return rc;
}

static int run_case(yw_rpc_call *call, struct case_work *w, yw_service_tx_fn fn, ProtobufCMessage **out) {
  if (!valid_id(w->id)) return yw_rpc_call_fail(call, YW_EINVAL, "id must be 1..18 digits");
  int rc = yw_service_tx(call, w->ctx->app->pool, w->ctx->app->db_wait_ms, DB, fn, w);
  if (rc != 0) return rc;
  *out = &w->out->base;
  return 0;
}

static struct case_work *new_work(yw_rpc_call *call, void *data) {
  struct case_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w != NULL) {
    w->ctx = data;
    w->department = w->verification = w->measures = w->note = "";
  }
  return w;
}

/* The caller as staff of department, or (department "" and a resident) as the rater. */
static int staff_or_rater(yw_rpc_call *call, struct case_work *w, const char *department,
                          int supervisors, const char *action) {
  yw_caller c;
  int rc = yw_service_caller(call, &w->ctx->app->caller_keys, &c);
  if (rc != 0) return rc;
  if (c.kind == YW_CALLER_PERSON) {
    if ((rc = yw_service_require_person(call, &w->ctx->app->caller_keys, 1, &w->caller)) != 0) return rc;
    w->who = WHO_RATER;
    return 0;
  }
  rc = require_case_staff(call, w->ctx, department, supervisors, action, &w->caller, &w->who);
  if (rc == 0 && w->who == WHO_STAFF) w->department = department;
  return rc;
}

static int get_rectification(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                             void *data) {
  const Yiwang__Applications__V1__GetRectificationRequest *req = (const void *)reqm;
  struct case_work *w = new_work(call, data);
  if (w == NULL) return YW_ENOMEM;
  int rc = staff_or_rater(call, w, req->department, 1, "reading a rectification");
  if (rc != 0) return rc;
  w->id = req->id;
  return run_case(call, w, get_tx, out);
}

static int answer_rectification(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__AnswerRectificationRequest *req = (const void *)reqm;
  struct case_work *w = new_work(call, data);
  if (w == NULL) return YW_ENOMEM;
  int rc = require_case_staff(call, w->ctx, req->department, 0, "answering a rectification",
                              &w->caller, &w->who);
  if (rc != 0) return rc;
  if (req->verification != CV(VALID) && req->verification != CV(INVALID))
    return yw_rpc_call_fail(call, YW_EINVAL, "verification must be COMPLAINT_VALID or COMPLAINT_INVALID");
  if ((rc = check_text(call, "measures", req->measures, MEASURES_MAX, 1)) != 0) return rc;
  w->department = req->department;
  w->id = req->id;
  w->from = RS(OPEN);
  w->to = RS(ANSWERED);
  w->action = "rectification_answer";
  w->verification = req->verification == CV(VALID) ? "valid" : "invalid";
  w->measures = req->measures;
  return run_case(call, w, step_tx, out);
}

static int revisit_rectification(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                 ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__RevisitRectificationRequest *req = (const void *)reqm;
  struct case_work *w = new_work(call, data);
  if (w == NULL) return YW_ENOMEM;
  int rc = staff_or_rater(call, w, req->department, 0, "recording a revisit");
  if (rc != 0) return rc;
  if ((rc = check_text(call, "note", req->note, TEXT_MAX, 0)) != 0) return rc;
  w->id = req->id;
  w->from = RS(ANSWERED);
  w->to = RS(REVISITED);
  w->action = "rectification_revisit";
  w->satisfied = req->satisfied;
  w->note = req->note;
  return run_case(call, w, step_tx, out);
}

static int close_rectification(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                               void *data) {
  const Yiwang__Applications__V1__CloseRectificationRequest *req = (const void *)reqm;
  struct case_work *w = new_work(call, data);
  if (w == NULL) return YW_ENOMEM;
  int rc = require_case_staff(call, w->ctx, req->department, 0, "closing a rectification",
                              &w->caller, &w->who);
  if (rc != 0) return rc;
  if ((rc = check_text(call, "note", req->note, TEXT_MAX, 0)) != 0) return rc;
  w->department = req->department;
  w->id = req->id;
  w->from = RS(REVISITED);
  w->to = RS(CLOSED);
  w->action = "rectification_close";
  w->note = req->note;
  return run_case(call, w, step_tx, out);
}

/* ---- the rater's own ----------------------------------------------------------------- */

static int list_my_ratings(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data) {
  const Yiwang__Applications__V1__ListMyRatingsRequest *req = (const void *)reqm;
  ratings_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->app->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  const char *filters[] = {caller.subject};
  yw_page page;
  if ((rc = yw_page_begin_id(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 1,
                             &page)) != 0)
    return rc;
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {caller.subject, page.has_cursor ? page.cursor : NULL, limit};
  PGresult *r = NULL;
  /* the access rule: r.rater_subject = $1 (the index ratings_by_rater) */
  rc = yw_service_query(call, ctx->app->pool, ctx->app->db_wait_ms, DB,
                        "SELECT " RATING_COLS ", COALESCE(c.status, ''),"
                        " COALESCE(to_char(c.due_date, 'YYYY-MM-DD'), ''), COALESCE(c.verification, ''),"
                        " COALESCE(c.measures, '')"
                        " FROM applications.ratings r"
                        " LEFT JOIN applications.rectifications c ON c.rating_id = r.id"
                        " WHERE r.rater_subject = $1 AND ($2::bigint IS NULL OR r.id < $2::bigint)"
                        " ORDER BY r.id DESC LIMIT $3::int",
                        3, p, &r);
  if (rc != 0) return rc;
  Yiwang__Applications__V1__ListMyRatingsResponse *resp = yw_arena_calloc(a, 1, sizeof *resp);
  int n = PQntuples(r), shown = n > page.size ? page.size : n;
  if (resp != NULL) {
    yiwang__applications__v1__list_my_ratings_response__init(resp);
    resp->ratings = yw_arena_calloc(a, (size_t)shown + 1, sizeof *resp->ratings);
  }
  for (int i = 0; resp != NULL && resp->ratings != NULL && i < shown; i++) {
    Rating *m = rating_from_row(a, r, i);
    if (m == NULL) break;
    m->rectification_status = status_from_db(PQgetvalue(r, i, R_CASE + 1));
    m->rectification_due_date = yw_col_str(a, r, i, R_CASE + 2);
    const char *v = PQgetvalue(r, i, R_CASE + 3);
    m->verification = strcmp(v, "valid") == 0 ? CV(VALID) : strcmp(v, "invalid") == 0 ? CV(INVALID) : 0;
    m->measures = yw_col_str(a, r, i, R_CASE + 4);
    if (m->rectification_due_date == NULL || m->measures == NULL) break;
    resp->ratings[resp->n_ratings++] = m;
  }
  resp = resp != NULL && resp->n_ratings == (size_t)shown ? resp : NULL;
  if (resp != NULL && n > page.size &&
      (resp->next_page_token = yw_page_token(a, &page, PQgetvalue(r, shown - 1, R_ID))) == NULL)
    resp = NULL;
  PQclear(r);
  if (resp == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* ---- the public summary ---------------------------------------------------------------- */

static int get_rating_summary(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  const Yiwang__Applications__V1__GetRatingSummaryRequest *req = (const void *)reqm;
  ratings_ctx *ctx = data;
  int by_dept = req->department[0] != '\0';
  if (by_dept == (req->item[0] != '\0'))
    return yw_rpc_call_fail(call, YW_EINVAL, "give exactly one of department and item");
  const char *code = by_dept ? req->department : req->item;
  if (!valid_code(code))
    return yw_rpc_call_fail(call, YW_EINVAL, "%s must be 1..64 letters, digits, '-', '_', '.'",
                            by_dept ? "department" : "item");
  const char *p[] = {by_dept ? "department" : "item", code};
  PGresult *r = NULL;
  int rc = yw_service_query(call, ctx->app->pool, ctx->app->db_wait_ms, DB,
                            "SELECT level, ratings, rectified FROM applications.rating_counts"
                            " WHERE scope = $1 AND code = $2",
                            2, p, &r);
  if (rc != 0) return rc;
  Yiwang__Applications__V1__RatingSummary *s = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *s);
  if (s == NULL) {
    PQclear(r);
    return YW_ENOMEM;
  }
  yiwang__applications__v1__rating_summary__init(s);
  s->department = (char *)req->department;
  s->item = (char *)req->item;
  for (int i = 0; i < PQntuples(r); i++) {
    long long n = yw_col_ll(r, i, 1);
    switch (level_from_db(PQgetvalue(r, i, 0))) {
      case LV(VERY_SATISFIED): s->very_satisfied += n; break;
      case LV(SATISFIED): s->satisfied += n; break;
      case LV(BASICALLY_SATISFIED): s->basically_satisfied += n; break;
      case LV(DISSATISFIED): s->dissatisfied += n; break;
      case LV(VERY_DISSATISFIED): s->very_dissatisfied += n; break;
      default: continue;
    }
    s->total += n;
    s->rectified += yw_col_ll(r, i, 2);
  }
  PQclear(r);
  s->bad = s->dissatisfied + s->very_dissatisfied;
  if (s->total > 0)
    s->satisfaction_rate =
        (double)(s->very_satisfied + s->satisfied + s->basically_satisfied) / (double)s->total;
  *out = &s->base;
  return 0;
}

/* ---- the table -------------------------------------------------------------------------- */

static const yw_rpc_method methods[] = {
    {.name = "RateApplication", .fn = rate_application},
    {.name = "CreateRating", .fn = create_rating},
    {.name = "ListRectifications", .fn = list_rectifications},
    {.name = "GetRectification", .fn = get_rectification},
    {.name = "AnswerRectification", .fn = answer_rectification},
    {.name = "RevisitRectification", .fn = revisit_rectification},
    {.name = "CloseRectification", .fn = close_rectification},
    {.name = "GetRatingSummary", .fn = get_rating_summary},
    {.name = "ListMyRatings", .fn = list_my_ratings},
};

void ratings_service_init(yw_rpc_service *svc, ratings_ctx *ctx) {
  svc->descriptor = &yiwang__applications__v1__ratings_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
  if (ctx->rectify_days < 1 || ctx->rectify_days > YW_WORKDAYS_MAX_N)
    ctx->rectify_days = RATINGS_RECTIFY_DAYS_DEFAULT;
}
