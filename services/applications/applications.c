/*
 * applications.c - handlers of yiwang.applications.v1.ApplicationsService (办件).
 *
 *   SubmitApplication   deferred: the item from yw-catalog (yw_rpc_call_forward), only a
 *                       PUBLISHED one, its version pinned; then, idempotent (yw_idem_run),
 *                       the number from the region's daily sequence, the application,
 *                       its first timeline row, application.submitted and a feed.entry
 *                       in one transaction
 *   GetApplication      the applicant, or staff of one of its departments; NOT_FOUND to
 *                       anyone else
 *   ListMyApplications  the caller's, newest first, keyset paged
 *   WithdrawApplication, ResubmitApplication   the applicant's steps
 *   ListDepartmentApplications  the work queue: one predicate on applications.queue
 *                       (department = $1, a B-tree range), by due date then number,
 *                       keyset paged
 *   Accept, Reject, StartReview, RequestSupplement, Complete   the lead department's
 *                       (Complete, when it issues a license, deferred: the holder's
 *                       masked name from yw-identity first)
 *   DecideApplication   joint approval: every department approves, one refusal decides
 *   SubmitBundle        一件事一次办: the bundle from yw-catalog, its one form validated once
 *                       against the members' merged form, each member's part projected,
 *                       then every member filed in one transaction (application.submitted
 *                       naming the filing); GetBundleFiling the applicant's combined view
 *
 * Every change of status is a compare-and-set (UPDATE ... WHERE id = $1 AND status =
 * $2) checked first against the C allow-list (application_status.c) and then by the
 * table's trigger; it writes its timeline row, application.status_changed and a
 * feed.entry for the applicant in the same transaction. A refused change answers
 * FAILED_PRECONDITION and rolls everything back.
 *
 * A form's prefilled fields take the applicant's verified values from yw-identity
 * (GetVerifiedIdentity, a forwarded call); forms are kept encrypted (form_enc, the
 * application's number as associated data) and opened only for the applicant and the
 * departments' staff.
 *
 * Offers: applications_service_init, applications_ask_identity,
 * applications_identity_failed, applications_forms_encrypt.
 */
#include "applications.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "application_status.h"
#include "calendar.h"
#include "fees.h"
#include "supervision.h"
#include "licenses.h"
#include "materials.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yiwang/events/v1/applications.pb-c.h"
#include "yiwang/events/v1/feed.pb-c.h"
#include "yiwang/identity/v1/identity.pb-c.h"
#include "yw_err.h"
#include "yw_events.h"
#include "yw_form.h"
#include "yw_json.h"
#include "yw_service.h"
#include "yw_workdays.h"

#define DB "the applications database"
#define SCHEMA "applications"
#define REASON_MAX 500
#define FORM_MAX (64 * 1024)
#define CODE_MAX 64
#define DEPTS_MAX 16
#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define STAFF_ROLES "dept_staff,dept_admin"

#define ST(x) YIWANG__APPLICATIONS__V1__APPLICATION_STATUS__##x

typedef Yiwang__Applications__V1__Application Application;

/* ---- validation ------------------------------------------------------------------- */

/* Item and department codes: 1..64 bytes of letters, digits, '-', '_', '.'. */
static int valid_code(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > CODE_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return 0;
  return 1;
}

static int check_number(yw_rpc_call *call, const char *number) {
  if (!application_number_valid(number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number must be 20 digits");
  return 0;
}

static int check_reason(yw_rpc_call *call, const char *reason, int required) {
  size_t n = strlen(reason);
  if (n > REASON_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "reason is longer than %d bytes", REASON_MAX);
  if (required && n == 0) return yw_rpc_call_fail(call, YW_EINVAL, "reason is required");
  return 0;
}

/* The form as JSON text in the arena (an object of at most FORM_MAX bytes; a missing
 * form is "{}"). Returns 0 with *out, or YW_EINVAL (status set) / YW_ENOMEM. */
static int form_json(yw_rpc_call *call, const Google__Protobuf__Struct *form, char **out) {
  yw_arena *a = yw_rpc_call_arena(call);
  if (form == NULL) {
    *out = yw_arena_strndup(a, "{}", 2);
    return *out != NULL ? 0 : YW_ENOMEM;
  }
  char *text = NULL;
  size_t len = 0;
  int rc = yw_json_write(&form->base, 0, &text, &len);
  if (rc != 0) return yw_rpc_call_fail(call, YW_EINVAL, "form cannot be written as JSON");
  if (len > FORM_MAX) {
    free(text);
    return yw_rpc_call_fail(call, YW_EINVAL, "form is larger than %d bytes as JSON", FORM_MAX);
  }
  *out = yw_arena_strndup(a, text, len);
  free(text);
  return *out != NULL ? 0 : YW_ENOMEM;
}

/* The form (JSON text in *text) against definition def (NULL: any object passes): the
 * prefilled fields set from pre (the applicant's verified values; NULL: none), *text
 * replaced by the form so completed (arena). Every violation refuses the call:
 * INVALID_ARGUMENT naming each path in the message and in the error-fields trailer. A
 * definition yw_form refuses (the catalog checked it) is UNAVAILABLE. Returns 0 or the
 * code to answer with (status set). */
static int form_validate_pre(yw_rpc_call *call, const Google__Protobuf__Struct *def,
                             const yw_form_prefill *pre, char **text) {
  if (def == NULL) return 0;
  yw_arena *a = yw_rpc_call_arena(call);
  json_t *dj = yw_json_from_message(&def->base, 0);
  yw_form *f = NULL;
  yw_form_error ferr;
  int rc = dj != NULL ? yw_form_parse(dj, &f, &ferr) : YW_ENOMEM;
  json_decref(dj);
  if (rc == YW_EINVAL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the item's form definition is unusable at %s",
                            ferr.path);
  if (rc != 0) return rc;
  json_error_t jerr;
  json_t *data = json_loads(*text, 0, &jerr);
  yw_form_report *rep = yw_arena_alloc(a, sizeof *rep);
  rc = data == NULL || rep == NULL ? YW_ENOMEM : yw_form_validate(f, data, "form", pre, rep);
  yw_form_free(f);
  if (rc == YW_EINVAL) {
    char msg[1024];
    size_t o = (size_t)snprintf(msg, sizeof msg, "the form has %zu invalid field%s:", rep->n,
                                rep->n == 1 ? "" : "s");
    for (size_t i = 0; i < rep->n && o < sizeof msg; i++)
      o += (size_t)snprintf(msg + o, sizeof msg - o, "%s %s (%s)", i > 0 ? "," : "",
                            rep->v[i].path, rep->v[i].reason);
    json_t *fields = yw_form_report_json(rep);
    rc = yw_service_fail_fields(call, msg, fields);
    json_decref(fields);
    json_decref(data);
    return rc;
  }
  char *out = rc == 0 ? json_dumps(data, JSON_COMPACT) : NULL;
  json_decref(data);
  if (out == NULL) return rc != 0 ? rc : YW_ENOMEM;
  if (strlen(out) > FORM_MAX) {
    free(out);
    return yw_rpc_call_fail(call, YW_EINVAL, "form is larger than %d bytes as JSON", FORM_MAX);
  }
  *text = yw_arena_strndup(a, out, strlen(out));
  free(out);
  return *text != NULL ? 0 : YW_ENOMEM;
}

/* The same with only what the caller carries: the credit code of the company it acts
 * for (company.uscc); the other sources stay empty. */
static int form_validate(yw_rpc_call *call, const Google__Protobuf__Struct *def,
                         const yw_caller *caller, char **text) {
  const yw_form_prefill pre = {NULL, NULL, NULL, caller->org};
  return form_validate_pre(call, def, &pre, text);
}

/* The prefill sources definition def uses (yw_form_prefill_sources); 0 when it has none
 * or does not parse (form_validate_pre then answers for it). */
static unsigned form_prefills(const Google__Protobuf__Struct *def) {
  if (def == NULL) return 0;
  json_t *dj = yw_json_from_message(&def->base, 0);
  yw_form *f = NULL;
  yw_form_error ferr;
  unsigned out = dj != NULL && yw_form_parse(dj, &f, &ferr) == 0 ? yw_form_prefill_sources(f) : 0;
  yw_form_free(f);
  json_decref(dj);
  return out;
}

/* The values a filed form (JSON text) holds at def's prefilled fields into pre (arena
 * copies): what the applicant's verified identity gave at filing. */
static int form_kept_prefill(yw_arena *a, const Google__Protobuf__Struct *def, const char *form,
                             yw_form_prefill *pre) {
  memset(pre, 0, sizeof *pre);
  if (def == NULL) return 0;
  json_t *dj = yw_json_from_message(&def->base, 0);
  json_t *data = json_loads(form, 0, NULL);
  yw_form *f = NULL;
  yw_form_error ferr;
  int rc = dj != NULL && data != NULL ? yw_form_parse(dj, &f, &ferr) : YW_ENOMEM;
  yw_form_prefill in;
  if (rc == 0) yw_form_prefill_read(f, data, &in);
  const char **from[] = {&in.identity_name, &in.identity_id_number_masked, &in.company_name,
                         &in.company_uscc};
  const char **to[] = {&pre->identity_name, &pre->identity_id_number_masked, &pre->company_name,
                       &pre->company_uscc};
  for (size_t i = 0; rc == 0 && i < 4; i++)
    if (*from[i] != NULL && (*to[i] = yw_arena_strndup(a, *from[i], strlen(*from[i]))) == NULL)
      rc = YW_ENOMEM;
  yw_form_free(f);
  json_decref(dj);
  json_decref(data);
  return rc;
}

/* The application's kept form definition into app->form_definition (arena; left NULL
 * when it has none). Returns 0, YW_ENOMEM or a query's code (err). */
static int load_form_definition(yw_arena *a, PGconn *conn, const char *id, Application *app,
                                yw_pg_error *err) {
  const char *p[] = {id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT form_definition::text FROM applications.applications"
                       " WHERE id = $1::bigint AND form_definition IS NOT NULL",
                       1, p, &r, err);
  if (rc != 0) return rc;
  json_t *def = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
  PQclear(r);
  if (def == NULL) return 0;
  ProtobufCMessage *m = NULL;
  yw_json_error jerr;
  rc = yw_json_to_message(&google__protobuf__struct__descriptor, def, yw_arena_allocator(a), &m,
                          &jerr);
  json_decref(def);
  if (rc != 0) return YW_ENOMEM;
  app->form_definition = (Google__Protobuf__Struct *)m;
  return 0;
}

/* ---- applications from rows ------------------------------------------------------- */

#define TS(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

#define APP_COLS                                                                            \
  "a.id, a.number, a.impl_code, a.item_version, a.item_name, a.lead_department,"            \
  " array_to_string(a.joint_departments, ','), a.applicant_subject, a.applicant_kind,"      \
  " a.applicant_org, COALESCE(a.form_enc, a.form::text), a.status, " TS("a.created_at") ", " TS("a.updated_at")   \
  ", COALESCE(" TS("a.accepted_at") ", ''), COALESCE(to_char(a.due_date, 'YYYY-MM-DD'), ''),"\
  " a.promised_days, array_to_string(a.departments, ','), a.query_code_mac,"               \
  " CASE WHEN a.status IN ('accepted', 'in_review', 'resubmitted') THEN"                    \
  " COALESCE((SELECT s.colour FROM applications.supervision s WHERE s.application_id = a.id),"\
  " 'supervision_none') ELSE 'supervision_none' END"

enum { C_ID, C_NUMBER, C_IMPL, C_VERSION, C_ITEM_NAME, C_LEAD, C_JOINT, C_SUBJECT, C_KIND,
       C_ORG, C_FORM, C_STATUS, C_CREATED, C_UPDATED, C_ACCEPTED, C_DUE, C_DAYS, C_DEPTS,
       C_MAC, C_SUPERVISION };

/* Splits "a,b" into a NULL-terminated array in the arena (codes hold no ','). */
static char **split_list(yw_arena *a, const char *text, size_t *n) {
  size_t count = text[0] != '\0' ? 1 : 0;
  for (const char *c = text; *c != '\0'; c++) count += *c == ',';
  char **out = yw_arena_calloc(a, count + 1, sizeof *out);
  char *copy = yw_arena_strndup(a, text, strlen(text));
  if (out == NULL || copy == NULL) return NULL;
  size_t i = 0;
  for (char *s = copy; count > 0 && i < count;) {
    char *comma = strchr(s, ',');
    if (comma != NULL) *comma = '\0';
    out[i++] = s;
    if (comma == NULL) break;
    s = comma + 1;
  }
  *n = i;
  return out;
}

/* ---- the form at rest ------------------------------------------------------------- */

/* The form (JSON text) encrypted with the service's data key (AES-256-GCM), the
 * application's number as associated data (a ciphertext moved to another row does not
 * decrypt), hex in the arena. NULL when out of memory or it cannot be encrypted. */
static char *form_seal(yw_arena *a, const uint8_t key[YW_KEY_BYTES], const char *number,
                       const char *form) {
  size_t len = strlen(form), size = 2 * (12 + len + 16) + 1;
  char *out = yw_arena_alloc(a, size);
  if (out == NULL || yw_encrypt(key, form, len, number, out, size) != 0) return NULL;
  return out;
}

/* The form kept in a row: form_enc decrypted for number (JSON text, arena), or a row's
 * plaintext not re-encrypted yet (it begins with '{', which hex never does) as it is.
 * NULL when it does not decrypt (another key, another row's ciphertext). */
static char *form_open(yw_arena *a, const uint8_t key[YW_KEY_BYTES], const char *number,
                       const char *kept) {
  if (kept[0] == '{') return yw_arena_strndup(a, kept, strlen(kept));
  size_t size = strlen(kept) / 2 + 1;
  char *out = yw_arena_alloc(a, size);
  if (out == NULL || yw_decrypt(key, kept, number, out, size) != 0) return NULL;
  return out;
}

int applications_forms_encrypt(applications_ctx *ctx, int batch, long long *done, yw_pg_error *err) {
  *done = 0;
  char limit[16];
  snprintf(limit, sizeof limit, "%d", batch);
  for (;;) {
    PGconn *conn = yw_pg_pool_acquire(ctx->pool, ctx->db_wait_ms);
    if (conn == NULL) {
      snprintf(err->message, sizeof err->message, "no database connection");
      return YW_EUNAVAIL;
    }
    yw_arena *a = yw_arena_new(0);
    PGresult *r = NULL;
    const char *pl[] = {limit};
    int rc = a != NULL ? yw_pg_begin(conn, err) : YW_ENOMEM;
    if (rc == 0)
      rc = yw_pg_query(conn,
                       "SELECT id, number, form::text FROM applications.applications"
                       " WHERE form IS NOT NULL ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED",
                       1, pl, &r, err);
    int rows = rc == 0 ? PQntuples(r) : 0;
    for (int i = 0; rc == 0 && i < rows; i++) {
      char *enc = form_seal(a, ctx->data_key, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
      const char *pu[] = {PQgetvalue(r, i, 0), enc};
      rc = enc == NULL ? YW_ENOMEM
                       : yw_pg_query(conn,
                                     "UPDATE applications.applications SET form_enc = $2,"
                                     " form = NULL WHERE id = $1::bigint",
                                     2, pu, NULL, err);
    }
    PQclear(r);
    if (rc == 0) rc = yw_pg_commit(conn, err);
    if (rc != 0) yw_pg_rollback(conn);
    yw_pg_pool_release(ctx->pool, conn);
    yw_arena_free(a);
    if (rc != 0) return rc;
    *done += rows;
    if (rows < batch) return 0;
  }
}

/* The application of row (columns APP_COLS), without opinions and timeline; its form
 * decrypted with key. */
static Application *app_from_row(yw_arena *a, const PGresult *r, int row,
                                 const uint8_t key[YW_KEY_BYTES]) {
  Application *p = yw_arena_alloc(a, sizeof *p);
  if (p == NULL) return NULL;
  yiwang__applications__v1__application__init(p);
  p->number = yw_col_str(a, r, row, C_NUMBER);
  p->item_code = yw_col_str(a, r, row, C_IMPL);
  p->item_version = (int32_t)yw_col_ll(r, row, C_VERSION);
  p->item_name = yw_col_str(a, r, row, C_ITEM_NAME);
  p->lead_department = yw_col_str(a, r, row, C_LEAD);
  p->joint_departments = split_list(a, PQgetvalue(r, row, C_JOINT), &p->n_joint_departments);
  p->applicant_subject = yw_col_str(a, r, row, C_SUBJECT);
  p->applicant_kind = yw_col_str(a, r, row, C_KIND);
  p->applicant_org = yw_col_str(a, r, row, C_ORG);
  p->status = application_status_from_db(PQgetvalue(r, row, C_STATUS));
  p->created_at = yw_col_str(a, r, row, C_CREATED);
  p->updated_at = yw_col_str(a, r, row, C_UPDATED);
  p->accepted_at = yw_col_str(a, r, row, C_ACCEPTED);
  p->due_date = yw_col_str(a, r, row, C_DUE);
  p->promised_days = (int32_t)yw_col_ll(r, row, C_DAYS);
  p->supervision = yw_enum_from_db(&yiwang__applications__v1__supervision_colour__descriptor,
                                   PQgetvalue(r, row, C_SUPERVISION));
  const char *text =
      p->number != NULL ? form_open(a, key, p->number, PQgetvalue(r, row, C_FORM)) : NULL;
  json_t *form = text != NULL ? json_loads(text, 0, NULL) : NULL;
  ProtobufCMessage *fm = NULL;
  yw_json_error jerr;
  if (form != NULL &&
      yw_json_to_message(&google__protobuf__struct__descriptor, form, yw_arena_allocator(a), &fm,
                         &jerr) == 0)
    p->form = (Google__Protobuf__Struct *)fm;
  json_decref(form);
  if (p->number == NULL || p->item_code == NULL || p->item_name == NULL ||
      p->lead_department == NULL || p->joint_departments == NULL ||
      p->applicant_subject == NULL || p->applicant_kind == NULL || p->applicant_org == NULL ||
      p->created_at == NULL || p->updated_at == NULL || p->accepted_at == NULL ||
      p->due_date == NULL || p->form == NULL)
    return NULL;
  return p;
}

/* One loaded application: its row's values the handlers decide on, and the message. */
typedef struct loaded {
  char id[24];
  application_status status;
  char subject[64];
  char kind[16]; /* applicant_kind: "person" or "company" */
  char org[64];  /* applicant_org: the company's credit code, "" for a person's */
  char lead[CODE_MAX + 1];
  char depts[DEPTS_MAX * (CODE_MAX + 1) + 1]; /* "a,b" */
  char mac[65];
  int promised_days;
  Application *app;
} loaded;

/* 1 when dept is one of the comma-separated list. */
static int in_list(const char *list, const char *dept) {
  size_t n = strlen(dept);
  if (n == 0) return 0;
  for (const char *s = list; *s != '\0';) {
    const char *comma = strchr(s, ',');
    size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
    if (len == n && memcmp(s, dept, n) == 0) return 1;
    if (comma == NULL) break;
    s = comma + 1;
  }
  return 0;
}

/* Loads the application number (FOR UPDATE when lock) with its opinions and, when
 * timeline, its timeline. Returns 0, YW_ENOTFOUND (status set) or a query's code (err). */
static int load_app(yw_rpc_call *call, const applications_ctx *ctx, PGconn *conn,
                    const char *number, int lock, int timeline, loaded *out, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {number};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       lock ? "SELECT " APP_COLS " FROM applications.applications a"
                              " WHERE a.number = $1 FOR UPDATE"
                            : "SELECT " APP_COLS " FROM applications.applications a"
                              " WHERE a.number = $1",
                       1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no application %s", number);
  }
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, C_ID));
  out->status = application_status_from_db(PQgetvalue(r, 0, C_STATUS));
  snprintf(out->subject, sizeof out->subject, "%s", PQgetvalue(r, 0, C_SUBJECT));
  snprintf(out->kind, sizeof out->kind, "%s", PQgetvalue(r, 0, C_KIND));
  snprintf(out->org, sizeof out->org, "%s", PQgetvalue(r, 0, C_ORG));
  snprintf(out->lead, sizeof out->lead, "%s", PQgetvalue(r, 0, C_LEAD));
  snprintf(out->depts, sizeof out->depts, "%s", PQgetvalue(r, 0, C_DEPTS));
  snprintf(out->mac, sizeof out->mac, "%s", PQgetvalue(r, 0, C_MAC));
  out->promised_days = (int)yw_col_ll(r, 0, C_DAYS);
  out->app = app_from_row(a, r, 0, ctx->data_key);
  PQclear(r);
  /* out of memory, or a form that does not decrypt (another key, another row's) */
  if (out->app == NULL)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "application %s cannot be read", number);
  Application *app = out->app;

  const char *pi[] = {out->id};
  rc = yw_pg_query(conn,
                   "SELECT department, decision, reason, actor, " TS("at")
                   " FROM applications.opinions WHERE application_id = $1::bigint"
                   " AND superseded_at IS NULL ORDER BY at, department",
                   1, pi, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  app->opinions = yw_arena_calloc(a, (size_t)rows + 1, sizeof *app->opinions);
  for (int i = 0; app->opinions != NULL && i < rows; i++) {
    Yiwang__Applications__V1__Opinion *o = yw_arena_alloc(a, sizeof *o);
    if (o == NULL) break;
    yiwang__applications__v1__opinion__init(o);
    o->department = yw_col_str(a, r, i, 0);
    o->decision = strcmp(PQgetvalue(r, i, 1), "approve") == 0
                      ? YIWANG__APPLICATIONS__V1__DECISION__APPROVE
                      : YIWANG__APPLICATIONS__V1__DECISION__DISAPPROVE;
    o->reason = yw_col_str(a, r, i, 2);
    o->actor = yw_col_str(a, r, i, 3);
    o->at = yw_col_str(a, r, i, 4);
    if (o->department == NULL || o->reason == NULL || o->actor == NULL || o->at == NULL) break;
    app->opinions[app->n_opinions++] = o;
  }
  PQclear(r);
  if ((int)app->n_opinions != rows) return YW_ENOMEM;
  if ((rc = licenses_load_materials(call, conn, out->id, app, err)) != 0) return rc;
  if ((rc = load_form_definition(a, conn, out->id, app, err)) != 0) return rc;
  if ((rc = materials_load(call, conn, out->id, app, err)) != 0) return rc;
  if ((rc = fees_load(call, conn, out->id, app, err)) != 0) return rc;
  if (!timeline) return 0;

  rc = yw_pg_query(conn,
                   "SELECT from_status, to_status, actor, actor_department, reason, " TS("at")
                   " FROM applications.application_transitions"
                   " WHERE application_id = $1::bigint ORDER BY id",
                   1, pi, &r, err);
  if (rc != 0) return rc;
  rows = PQntuples(r);
  app->timeline = yw_arena_calloc(a, (size_t)rows + 1, sizeof *app->timeline);
  for (int i = 0; app->timeline != NULL && i < rows; i++) {
    Yiwang__Applications__V1__Transition *t = yw_arena_alloc(a, sizeof *t);
    if (t == NULL) break;
    yiwang__applications__v1__transition__init(t);
    t->from_status = application_status_from_db(PQgetvalue(r, i, 0));
    t->to_status = application_status_from_db(PQgetvalue(r, i, 1));
    t->actor = yw_col_str(a, r, i, 2);
    t->actor_department = yw_col_str(a, r, i, 3);
    t->reason = yw_col_str(a, r, i, 4);
    t->at = yw_col_str(a, r, i, 5);
    if (t->actor == NULL || t->actor_department == NULL || t->reason == NULL || t->at == NULL)
      break;
    app->timeline[app->n_timeline++] = t;
  }
  PQclear(r);
  return (int)app->n_timeline == rows ? 0 : YW_ENOMEM;
}

/* ---- events ----------------------------------------------------------------------- */

static const char *status_name(application_status s) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&yiwang__applications__v1__application_status__descriptor, (int)s);
  return v != NULL ? v->name : "";
}

/* The resident-facing words of a status, for the feed. */
static const char *status_words(application_status s) {
  switch (s) {
    case ST(SUBMITTED): return "已提交";
    case ST(ACCEPTED): return "已受理";
    case ST(REJECTED): return "不予受理";
    case ST(IN_REVIEW): return "审查中";
    case ST(SUPPLEMENT_REQUESTED): return "需补正材料";
    case ST(RESUBMITTED): return "已补正";
    case ST(APPROVED): return "审批通过";
    case ST(DISAPPROVED): return "审批不通过";
    case ST(COMPLETED): return "已办结";
    case ST(WITHDRAWN): return "已撤回";
    default: return "";
  }
}

/* A feed.entry for the applicant of app (the company for a company's), in the change's
 * transaction. */
static int append_feed(PGconn *conn, const Application *app, const char *type,
                       application_status to, const char *reason, yw_pg_error *err) {
  char title[200], link[64], body[REASON_MAX + 256];
  snprintf(title, sizeof title, "办件 %s %s", app->number, status_words(to));
  snprintf(link, sizeof link, "applications/%s", app->number);
  if (reason[0] != '\0')
    snprintf(body, sizeof body, "%.200s：%s", app->item_name, reason);
  else
    snprintf(body, sizeof body, "%.200s", app->item_name);
  char to_whom[80]; /* a company's application: the company's feed, not its filer's */
  yw_feed_recipient(app->applicant_kind, app->applicant_subject, app->applicant_org, to_whom,
                    sizeof to_whom);
  Yiwang__Events__V1__FeedEntryAdded fe = YIWANG__EVENTS__V1__FEED_ENTRY_ADDED__INIT;
  fe.subject = to_whom;
  fe.type = (char *)type;
  fe.title = title;
  fe.body = body;
  fe.link = link;
  return yw_events_append(conn, SCHEMA, "feed.entry", 1, to_whom, &fe.base, NULL, err);
}

/* All departments, lead first: the list app carries. */
static char **all_departments(yw_arena *a, const Application *app, size_t *n) {
  char **d = yw_arena_calloc(a, app->n_joint_departments + 2, sizeof *d);
  if (d == NULL) return NULL;
  d[0] = app->lead_department;
  for (size_t i = 0; i < app->n_joint_departments; i++) d[i + 1] = app->joint_departments[i];
  *n = app->n_joint_departments + 1;
  return d;
}

/* ---- SubmitApplication ------------------------------------------------------------ */

struct submit_work {
  applications_ctx *ctx;
  yw_caller caller;
  const Yiwang__Applications__V1__SubmitApplicationRequest *req;
  const Yiwang__Catalog__V1__Item *item;
  char *form;            /* JSON text */
  char *form_definition; /* the item version's, JSON text, or NULL */
  int form_checked;      /* form already validated (a bundle's, against its merged form) */
  /* a bundle's member: its filing (number, query code HMAC, code, name) and place */
  const char *bundle_number, *bundle_mac, *bundle_code, *bundle_name;
  int bundle_position;
  yw_form_prefill pre;   /* the applicant's verified values, when identity_asked */
  int identity_asked;    /* yw-identity answered: pre holds its values */
  char region[7];
  char depts[DEPTS_MAX * (CODE_MAX + 1) + 3]; /* "{a,b}" */
  char joint[DEPTS_MAX * (CODE_MAX + 1) + 3];
};

/* The next number of region and day (region || YYYYMMDD || 6 digits, Asia/Shanghai):
 * the sequence's row stays locked until the commit, so numbers are distinct and a
 * rolled back filing gives its number back. Returns 0 or a code with the status set. */
static int next_number(yw_rpc_call *call, PGconn *conn, const char *region, char number[24]) {
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *r = NULL;
  const char *pn[] = {region};
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.number_sequences AS s (region, day, last)"
                       " VALUES ($1, to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD'), 1)"
                       " ON CONFLICT (region, day) DO UPDATE SET last = s.last + 1"
                       " RETURNING s.region || s.day || lpad(s.last::text, 6, '0')",
                       1, pn, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  snprintf(number, 24, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  if (!application_number_valid(number))
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the numbers of region %s are used up today", region);
  return 0;
}

/* Files one application for w->item in the caller's transaction: its number, the row,
 * the first timeline entry, the materials and licenses of filing, application.submitted
 * and the feed entry. bundle_id: the bundle filing it belongs to, or NULL; code: the
 * query code to give it (a bundle's members share the bundle's), or NULL for a new one,
 * written to code_out. Returns 0 with *l loaded, or a code with the status set. */
static int file_one(yw_rpc_call *call, PGconn *conn, struct submit_work *w, const char *bundle_id,
                    const char *code, char code_out[8], loaded *l) {
  yw_arena *a = yw_rpc_call_arena(call);
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *r = NULL;
  char number[24];
  int rc = next_number(call, conn, w->region, number);
  if (rc != 0) return rc;

  char mac_in[40], mac[65];
  if (code != NULL) snprintf(code_out, 8, "%s", code);
  else if (yw_random_digits(6, code_out, 8) != 0) return YW_EINTERNAL;
  snprintf(mac_in, sizeof mac_in, "%s:%s", number, code_out);
  yw_hmac_hex(w->ctx->lookup_key, mac_in, strlen(mac_in), mac);

  const Yiwang__Catalog__V1__Item *item = w->item;
  const char *kind = w->caller.org[0] != '\0' ? "company" : "person";
  const char *form_enc = form_seal(a, w->ctx->data_key, number, w->form);
  if (form_enc == NULL) return YW_ENOMEM;
  char version[16], days[16];
  snprintf(version, sizeof version, "%d", item->version);
  snprintf(days, sizeof days, "%d", item->promised_limit_days);
  const char *pa[] = {number,       mac,           w->caller.subject, kind,    w->caller.org,
                      item->impl_code, version,    item->name,        w->region,
                      item->department_code, w->joint, w->depts,      days,    form_enc,
                      w->form_definition, bundle_id != NULL ? bundle_id : ""};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.applications (number, query_code_mac,"
                   " applicant_subject, applicant_kind, applicant_org, impl_code, item_version,"
                   " item_name, region_code, lead_department, joint_departments, departments,"
                   " promised_days, form_enc, form_definition, bundle_id)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7::int, $8, $9, $10, $11::text[],"
                   " $12::text[], $13::int, $14, $15::jsonb, NULLIF($16, '')::bigint)"
                   " RETURNING id",
                   16, pa, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  char id[24];
  snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  const char *pt[] = {id, w->caller.subject};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.application_transitions"
                   " (application_id, from_status, to_status, actor) VALUES ($1::bigint, '', 'submitted', $2)",
                   2, pt, NULL, &err);
  if (rc == 0) rc = materials_file(conn, id, item, &err);
  if (rc == 0) rc = licenses_file(call, conn, id, w->caller.subject, item, w->req, &err);
  if (rc == 0) rc = fees_file(conn, id, item, &err);
  if (rc != 0) return err.sqlstate[0] != '\0' || err.message[0] != '\0' ? yw_service_db_fail(call, rc, &err) : rc;

  rc = load_app(call, w->ctx, conn, number, 0, 1, l, &err);
  if (rc != 0) return err.sqlstate[0] != '\0' || err.message[0] != '\0' ? yw_service_db_fail(call, rc, &err) : rc;

  Yiwang__Events__V1__ApplicationSubmitted ev = YIWANG__EVENTS__V1__APPLICATION_SUBMITTED__INIT;
  ev.application_id = number;
  ev.impl_code = l->app->item_code;
  ev.department_code = l->app->lead_department;
  ev.applicant_subject = l->app->applicant_subject;
  ev.submitted_at_unix_ms = (int64_t)time(NULL) * 1000;
  ev.item_version = l->app->item_version;
  ev.item_name = l->app->item_name;
  ev.departments = all_departments(a, l->app, &ev.n_departments);
  ev.query_code_mac = mac;
  ev.applicant_kind = l->app->applicant_kind;
  ev.applicant_org = l->app->applicant_org;
  ev.status = "SUBMITTED";
  ev.promised_days = l->app->promised_days;
  if (w->bundle_number != NULL) {
    ev.bundle_number = (char *)w->bundle_number;
    ev.bundle_query_code_mac = (char *)w->bundle_mac;
    ev.bundle_code = (char *)w->bundle_code;
    ev.bundle_name = (char *)w->bundle_name;
    ev.bundle_position = w->bundle_position;
  }
  if (ev.departments == NULL) return YW_ENOMEM;
  rc = yw_events_append(conn, SCHEMA, "application.submitted", 1, number, &ev.base, NULL, &err);
  if (rc == 0) rc = append_feed(conn, l->app, "application.submitted", ST(SUBMITTED), "", &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  return 0;
}

static int submit_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm,
                     ProtobufCMessage **out, void *arg) {
  (void)reqm;
  struct submit_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  char code[8];
  loaded l;
  int rc = file_one(call, conn, w, NULL, NULL, code, &l);
  if (rc != 0) return rc;
  Yiwang__Applications__V1__SubmitApplicationResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__applications__v1__submit_application_response__init(resp);
  resp->application = l.app;
  resp->query_code = yw_arena_strndup(a, code, 6);
  if (resp->query_code == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

static int prepare_item(yw_rpc_call *call, struct submit_work *w,
                        const Yiwang__Catalog__V1__Item *item);

/* Defers call and asks yw-catalog's method (of CatalogService) for req, with the caller,
 * request id and deadline; done answers the call. Returns what the handler returns. */
static int ask_catalog(yw_rpc_call *call, applications_ctx *ctx, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *answer,
                       yw_rpc_forward_fn done, void *arg) {
  char path[96];
  snprintf(path, sizeof path, "/yiwang.catalog.v1.CatalogService/%s", method);
  int rc = yw_rpc_call_defer(call);
  if (rc != 0) return rc;
  rc = yw_rpc_call_forward(call, ctx->catalog, path, req, answer, done, arg);
  if (rc != 0) { /* done will not run: answer now */
    yw_rpc_call_fail(call, rc == YW_ETIMEOUT ? rc : YW_EUNAVAIL,
                     "the catalog could not be called: %s", yw_strerror(rc));
    yw_rpc_call_finish(call, rc == YW_ETIMEOUT ? rc : YW_EUNAVAIL, NULL);
  }
  return YW_RPC_DEFERRED;
}

int applications_ask_catalog(yw_rpc_call *call, applications_ctx *ctx, const char *method,
                             const ProtobufCMessage *req, const ProtobufCMessageDescriptor *answer,
                             yw_rpc_forward_fn done, void *arg) {
  return ask_catalog(call, ctx, method, req, answer, done, arg);
}

/* The catalog's answer to a forwarded call: 0 when there is one, or the code with the
 * status set (what names the thing asked for, in NOT_FOUND). */
static int catalog_answered(yw_rpc_call *call, int code, const char *message, const char *what) {
  if (code == YW_ENOTFOUND) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no %s", what);
  if (code != 0)
    return yw_rpc_call_fail(call, code == YW_ETIMEOUT ? YW_ETIMEOUT : YW_EUNAVAIL,
                            "the catalog: %s", message != NULL ? message : "");
  return 0;
}

/* ---- the applicant's verified identity (yw-identity) ------------------------------ */

int applications_ask_identity(yw_rpc_call *call, applications_ctx *ctx, const char *subject,
                              const char *credit_code, yw_rpc_forward_fn done, void *arg) {
  if (ctx->identity == NULL) return YW_EUNAVAIL;
  Yiwang__Identity__V1__GetVerifiedIdentityRequest *req =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *req);
  if (req == NULL) return YW_ENOMEM;
  yiwang__identity__v1__get_verified_identity_request__init(req);
  req->subject = (char *)subject;
  req->credit_code = (char *)credit_code;
  return yw_rpc_call_forward(call, ctx->identity,
                             "/yiwang.identity.v1.IdentityService/GetVerifiedIdentity", &req->base,
                             &yiwang__identity__v1__verified_identity__descriptor, done, arg);
}

int applications_identity_failed(yw_rpc_call *call, int code, const char *message) {
  if (code == YW_EPERM || code == YW_ENOTFOUND)
    return yw_rpc_call_fail(call, code, "the applicant's identity: %s", message != NULL ? message : "");
  return yw_rpc_call_fail(call, code == YW_ETIMEOUT ? YW_ETIMEOUT : YW_EUNAVAIL,
                          "the applicant's verified identity cannot be read: %s",
                          message != NULL && message[0] != '\0' ? message : yw_strerror(code));
}

/* The checked item and the applicant's values: file the application (idempotent by the
 * call's key) and answer the call. */
static void file_submission(yw_rpc_call *call, struct submit_work *w, int rc) {
  ProtobufCMessage *out = NULL;
  if (rc == 0) rc = prepare_item(call, w, w->item);
  if (rc == 0) rc = yw_idem_run(call, &w->req->base, &out, w->ctx->pool, &w->ctx->idem, submit_tx, w);
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

/* yw-identity's answer (code, response) for caller as the prefill values pre (pointing
 * into the call's arena). Returns 0 or the code to answer with (status set). */
static int identity_prefill(yw_rpc_call *call, int code, const ProtobufCMessage *response,
                            const char *message, const yw_caller *caller, yw_form_prefill *pre) {
  if (code != 0) return applications_identity_failed(call, code, message);
  const Yiwang__Identity__V1__VerifiedIdentity *v = (const void *)response;
  if (strcmp(v->subject, caller->subject) != 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "yw-identity answered for another account");
  pre->identity_name = v->name[0] != '\0' ? v->name : NULL;
  pre->identity_id_number_masked = v->id_card_masked[0] != '\0' ? v->id_card_masked : NULL;
  pre->company_name = v->company_name[0] != '\0' ? v->company_name : NULL;
  pre->company_uscc = caller->org[0] != '\0' ? caller->org : NULL;
  return 0;
}

/* yw-identity answered: its values become the prefill of the form. */
static void identity_answered(yw_rpc_call *call, int code, ProtobufCMessage *response,
                              const char *message, void *arg) {
  struct submit_work *w = arg;
  int rc = identity_prefill(call, code, response, message, &w->caller, &w->pre);
  w->identity_asked = rc == 0;
  file_submission(call, w, rc);
}

/* The catalog answered: check the item; when its form prefills fields from the
 * applicant's identity or company, ask yw-identity first (within the call's deadline);
 * then file the application. */
static void item_answered(yw_rpc_call *call, int code, ProtobufCMessage *response,
                          const char *message, void *arg) {
  struct submit_work *w = arg;
  char what[80];
  snprintf(what, sizeof what, "item %s", w->req->item_code);
  int rc = catalog_answered(call, code, message, what);
  if (rc == 0) w->item = (const void *)response;
  if (rc == 0 && w->ctx->identity != NULL && form_prefills(w->item->form) != 0) {
    rc = applications_ask_identity(call, w->ctx, "", "", identity_answered, w);
    if (rc == 0) return; /* identity_answered files it */
    rc = applications_identity_failed(call, rc, NULL);
  }
  file_submission(call, w, rc);
}

/* 1 when a company may file item: its audiences name LEGAL_PERSON, or name nothing. */
static int item_for_companies(const Yiwang__Catalog__V1__Item *item) {
  if (item->details == NULL) return 1;
  int named = 0;
  for (size_t i = 0; i < item->details->n_audiences; i++) {
    if (item->details->audiences[i] == YIWANG__CATALOG__V1__AUDIENCE__LEGAL_PERSON) return 1;
    if (item->details->audiences[i] != YIWANG__CATALOG__V1__AUDIENCE__AUDIENCE_UNSPECIFIED) named = 1;
  }
  return !named;
}

/* The item the catalog answered, checked (published, the caller's real-name level, its
 * bounds) and made ready to file: w->item, its region and departments. Returns 0 or a
 * code with the status set. */
static int prepare_item(yw_rpc_call *call, struct submit_work *w,
                        const Yiwang__Catalog__V1__Item *item) {
  w->item = item;
  if (item->status != YIWANG__CATALOG__V1__ITEM_STATUS__PUBLISHED)
    return yw_rpc_call_fail(call, YW_EPRECOND, "item %s is not published", item->impl_code);
  /* acting for a company files the company's application: only of an item companies
   * may file (its audiences name LEGAL_PERSON; an item naming none keeps no rule) */
  if (w->caller.org[0] != '\0' && !item_for_companies(item))
    return yw_rpc_call_fail(call, YW_EPRECOND,
                            "item %s is not filed for a company: stop acting for the company"
                            " to file it as yourself",
                            item->impl_code);
  int need = item->details != NULL ? item->details->min_realname_level : 0;
  if (w->caller.level < need)
    return yw_rpc_call_fail(call, YW_EPERM, "item %s needs real-name level %d", item->impl_code, need);
  if (item->version < 1 || strlen(item->region_code) < 6 || !valid_code(item->department_code) ||
      item->promised_limit_days < 0 || item->promised_limit_days > 3650)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the catalog answered an item out of bounds");
  /* the form against the pinned version's definition, which the application keeps */
  int rc = w->form_checked     ? 0
           : w->identity_asked ? form_validate_pre(call, item->form, &w->pre, &w->form)
                               : form_validate(call, item->form, &w->caller, &w->form);
  if (rc != 0) return rc;
  if (item->form != NULL) {
    char *def = NULL;
    size_t def_len = 0;
    if (yw_json_write(&item->form->base, 0, &def, &def_len) != 0)
      return yw_rpc_call_fail(call, YW_EUNAVAIL, "the item's form definition cannot be kept");
    w->form_definition = yw_arena_strndup(yw_rpc_call_arena(call), def, def_len);
    free(def);
    if (w->form_definition == NULL) return YW_ENOMEM;
  }
  memcpy(w->region, item->region_code, 6);
  w->region[6] = '\0';
  /* the lead department, then each joint one that is a code and not already listed */
  size_t dl = 0, jl = 0, nd = 1;
  dl += (size_t)snprintf(w->depts, sizeof w->depts, "{%s", item->department_code);
  jl += (size_t)snprintf(w->joint, sizeof w->joint, "{");
  char seen[DEPTS_MAX * (CODE_MAX + 1) + 1];
  snprintf(seen, sizeof seen, "%s", item->department_code);
  size_t njd = item->details != NULL ? item->details->n_joint_departments : 0;
  for (size_t i = 0; i < njd && nd < DEPTS_MAX; i++) {
    const char *d = item->details->joint_departments[i];
    if (!valid_code(d) || in_list(seen, d)) continue; /* a name, not a department code */
    size_t sl = strlen(seen);
    snprintf(seen + sl, sizeof seen - sl, ",%s", d);
    dl += (size_t)snprintf(w->depts + dl, sizeof w->depts - dl, ",%s", d);
    jl += (size_t)snprintf(w->joint + jl, sizeof w->joint - jl, "%s%s", jl > 1 ? "," : "", d);
    nd++;
  }
  snprintf(w->depts + dl, sizeof w->depts - dl, "}");
  snprintf(w->joint + jl, sizeof w->joint - jl, "}");
  return 0;
}

static int submit_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  (void)out;
  const Yiwang__Applications__V1__SubmitApplicationRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  struct submit_work *w = yw_arena_calloc(a, 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &w->caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &w->caller, "apply", "filing an application for the company");
  if (rc != 0) return rc;
  if (!valid_code(req->item_code))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "itemCode must hold 1 to %d letters, digits, '-', '_', '.'", CODE_MAX);
  if ((rc = form_json(call, req->form, &w->form)) != 0) return rc;
  if ((rc = licenses_check_request(call, req)) != 0) return rc;
  if (ctx->catalog == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "no catalog is configured");
  w->ctx = ctx;
  w->req = req;
  Yiwang__Catalog__V1__GetItemRequest *get = yw_arena_alloc(a, sizeof *get);
  if (get == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__get_item_request__init(get);
  get->code = req->item_code;
  return ask_catalog(call, ctx, "GetItem", &get->base, &yiwang__catalog__v1__item__descriptor,
                     item_answered, w);
}

/* ---- bundles (一件事一次办) ---------------------------------------------------------- */

#define BUNDLE_MEMBERS_MAX 10

struct bundle_work {
  applications_ctx *ctx;
  yw_caller caller;
  yw_form_prefill pre;   /* the applicant's verified values, when identity_asked */
  int identity_asked;
  const Yiwang__Applications__V1__SubmitBundleRequest *req;
  const Yiwang__Catalog__V1__Bundle *bundle;
  char *form;
  struct submit_work members[BUNDLE_MEMBERS_MAX];
  size_t n_members;
};

/* every member ended: COMPLETED when all completed, else ENDED; IN_PROGRESS otherwise */
static const char *bundle_status(Application **apps, size_t n) {
  int open = 0, completed = 0;
  for (size_t i = 0; i < n; i++) {
    int st = (int)apps[i]->status;
    if (st == ST(COMPLETED)) completed++;
    else if (st != ST(REJECTED) && st != ST(DISAPPROVED) && st != ST(WITHDRAWN)) open++;
  }
  return open > 0 ? "IN_PROGRESS" : (size_t)completed == n ? "COMPLETED" : "ENDED";
}

/* The filing row id's members (ordered as filed, which is the bundle's order) into f. */
static int load_members(yw_rpc_call *call, const applications_ctx *ctx, PGconn *conn,
                        const char *bundle_id,
                        Yiwang__Applications__V1__BundleFiling *f, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {bundle_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT number FROM applications.applications WHERE bundle_id = $1::bigint"
                       " ORDER BY id",
                       1, p, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  char numbers[BUNDLE_MEMBERS_MAX][24];
  int n = rows < BUNDLE_MEMBERS_MAX ? rows : BUNDLE_MEMBERS_MAX;
  for (int i = 0; i < n; i++) snprintf(numbers[i], sizeof numbers[i], "%s", PQgetvalue(r, i, 0));
  PQclear(r);
  f->applications = yw_arena_calloc(a, (size_t)n + 1, sizeof *f->applications);
  if (f->applications == NULL) return YW_ENOMEM;
  for (int i = 0; i < n; i++) {
    loaded l;
    rc = load_app(call, ctx, conn, numbers[i], 0, 0, &l, err);
    if (rc != 0) return rc;
    f->applications[f->n_applications++] = l.app;
  }
  f->status = (char *)bundle_status(f->applications, f->n_applications);
  return 0;
}

static int bundle_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm,
                     ProtobufCMessage **out, void *arg) {
  (void)reqm;
  struct bundle_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  PGresult *r = NULL;
  /* the bundle's own number, from the sequence of its first member's region and day */
  char number[24];
  int rc = next_number(call, conn, w->members[0].region, number);
  if (rc != 0) return rc;
  char code[8], mac_in[40], mac[65];
  if (yw_random_digits(6, code, sizeof code) != 0) return YW_EINTERNAL;
  snprintf(mac_in, sizeof mac_in, "%s:%s", number, code);
  yw_hmac_hex(w->ctx->lookup_key, mac_in, strlen(mac_in), mac);
  const char *pb[] = {number, mac, w->bundle->code, w->bundle->name, w->caller.subject};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.bundle_filings (number, query_code_mac, bundle_code,"
                   " bundle_name, applicant_subject) VALUES ($1, $2, $3, $4, $5)"
                   " RETURNING id, " TS("created_at"),
                   5, pb, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  char id[24], created[40];
  snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  snprintf(created, sizeof created, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  /* every member, all or none: the first failure rolls the whole filing back */
  for (size_t i = 0; i < w->n_members; i++) {
    char member_code[8];
    loaded l;
    struct submit_work *m = &w->members[i];
    m->bundle_number = number; /* application.submitted names the filing */
    m->bundle_mac = mac;
    m->bundle_code = w->bundle->code;
    m->bundle_name = w->bundle->name;
    m->bundle_position = (int)i + 1;
    rc = file_one(call, conn, m, id, code, member_code, &l);
    if (rc != 0) return rc;
  }
  Yiwang__Applications__V1__BundleFiling *f = yw_arena_alloc(a, sizeof *f);
  Yiwang__Applications__V1__SubmitBundleResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (f == NULL || resp == NULL) return YW_ENOMEM;
  yiwang__applications__v1__bundle_filing__init(f);
  f->number = yw_arena_strndup(a, number, strlen(number));
  f->bundle_code = w->bundle->code;
  f->bundle_name = w->bundle->name;
  f->created_at = yw_arena_strndup(a, created, strlen(created));
  if (f->number == NULL || f->created_at == NULL) return YW_ENOMEM;
  rc = load_members(call, w->ctx, conn, id, f, &err);
  if (rc != 0) return err.sqlstate[0] != '\0' || err.message[0] != '\0' ? yw_service_db_fail(call, rc, &err) : rc;
  yiwang__applications__v1__submit_bundle_response__init(resp);
  resp->filing = f;
  resp->query_code = yw_arena_strndup(a, code, 6);
  if (resp->query_code == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* The bundle's one form, validated once: against the members' forms merged (b->form, as
 * the catalog answers it), so every invalid field of every member is answered by its
 * path in one INVALID_ARGUMENT (form_validate: the prefilled fields set as for one
 * application), then cut back per member (yw_form_project): a member with a form
 * definition gets the fields it names, a member without one the whole form. While a
 * member has no definition a field no definition names is its, not an unknown one, so
 * such fields are set aside before the validation and given back after. Sets each
 * member's form and form_checked. Returns 0 or the code to answer with (status set). */
static int bundle_form(yw_rpc_call *call, struct bundle_work *w,
                       const Yiwang__Catalog__V1__Bundle *b) {
  yw_arena *a = yw_rpc_call_arena(call);
  size_t defined = 0;
  for (size_t i = 0; i < b->n_items; i++) defined += b->items[i]->form != NULL;
  if (defined == 0) { /* no member has a definition: any object, as for one application */
    for (size_t i = 0; i < b->n_items; i++) w->members[i].form = w->form;
    return 0;
  }
  if (b->form == NULL) /* the catalog merges forms only when members define fields alike */
    return yw_rpc_call_fail(call, YW_EUNAVAIL,
                            "bundle %s has no merged form: its members define a field differently",
                            b->code);
  json_t *merged = yw_json_from_message(&b->form->base, 0);
  json_t *data = json_loads(w->form, 0, NULL);
  json_t *rest = NULL; /* the fields no definition names, for the members without one */
  char *text = w->form;
  int rc = merged != NULL && data != NULL ? 0 : YW_ENOMEM;
  if (rc == 0 && defined < b->n_items) {
    json_t *known = yw_form_project(merged, data);
    rest = json_object();
    char *kt = known != NULL ? json_dumps(known, JSON_COMPACT) : NULL;
    text = kt != NULL ? yw_arena_strndup(a, kt, strlen(kt)) : NULL;
    free(kt);
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v) {
      if (known != NULL && rest != NULL && json_object_get(known, k) == NULL)
        json_object_set(rest, k, v);
    }
    if (known == NULL || rest == NULL || text == NULL) rc = YW_ENOMEM;
    json_decref(known);
  }
  if (rc == 0)
    rc = w->identity_asked ? form_validate_pre(call, b->form, &w->pre, &text)
                           : form_validate(call, b->form, &w->caller, &text);
  json_t *valid = rc == 0 ? json_loads(text, 0, NULL) : NULL;
  if (rc == 0 && valid == NULL) rc = YW_ENOMEM;
  for (size_t i = 0; rc == 0 && i < b->n_items; i++) {
    const Google__Protobuf__Struct *form = b->items[i]->form;
    json_t *def = form != NULL ? yw_json_from_message(&form->base, 0) : NULL;
    json_t *mine = NULL;
    if (def != NULL) {
      mine = yw_form_project(def, valid);
    } else if (form == NULL) {
      mine = json_copy(valid);
      if (mine != NULL && rest != NULL && json_object_update(mine, rest) != 0) {
        json_decref(mine);
        mine = NULL;
      }
    }
    char *mt = mine != NULL ? json_dumps(mine, JSON_COMPACT) : NULL;
    w->members[i].form = mt != NULL ? yw_arena_strndup(a, mt, strlen(mt)) : NULL;
    w->members[i].form_checked = 1;
    free(mt);
    json_decref(mine);
    json_decref(def);
    if (w->members[i].form == NULL) rc = YW_ENOMEM;
    else if (strlen(w->members[i].form) > FORM_MAX)
      rc = yw_rpc_call_fail(call, YW_EINVAL, "form is larger than %d bytes as JSON", FORM_MAX);
  }
  json_decref(valid);
  json_decref(rest);
  json_decref(data);
  json_decref(merged);
  return rc;
}

/* The checked bundle w->bundle and the applicant's values: its one form, its members
 * prepared, then all filed in one transaction (idempotent by the call's key); answers
 * the call. */
static void file_bundle(yw_rpc_call *call, struct bundle_work *w) {
  const Yiwang__Catalog__V1__Bundle *b = w->bundle;
  ProtobufCMessage *out = NULL;
  static const Yiwang__Applications__V1__SubmitApplicationRequest no_licenses =
      YIWANG__APPLICATIONS__V1__SUBMIT_APPLICATION_REQUEST__INIT;
  int rc = bundle_form(call, w, b);
  for (size_t i = 0; i < b->n_items && rc == 0; i++) {
    struct submit_work *m = &w->members[i];
    m->ctx = w->ctx;
    m->caller = w->caller;
    m->req = &no_licenses;
    rc = prepare_item(call, m, b->items[i]);
    w->n_members = i + 1;
  }
  if (rc == 0)
    rc = yw_idem_run(call, &w->req->base, &out, w->ctx->pool, &w->ctx->idem_bundle, bundle_tx, w);
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

/* yw-identity answered for a bundle: its values prefill the merged form. */
static void bundle_identity_answered(yw_rpc_call *call, int code, ProtobufCMessage *response,
                                     const char *message, void *arg) {
  struct bundle_work *w = arg;
  int rc = identity_prefill(call, code, response, message, &w->caller, &w->pre);
  if (rc != 0) {
    yw_rpc_call_finish(call, rc, NULL);
    return;
  }
  w->identity_asked = 1;
  file_bundle(call, w);
}

/* The catalog answered the bundle: check every member as a filing of its own would be
 * checked, then (after yw-identity, when the merged form prefills) file them all in one
 * transaction. */
static void bundle_answered(yw_rpc_call *call, int code, ProtobufCMessage *response,
                            const char *message, void *arg) {
  struct bundle_work *w = arg;
  ProtobufCMessage *out = NULL;
  char what[80];
  snprintf(what, sizeof what, "bundle %s", w->req->bundle_code);
  int rc = catalog_answered(call, code, message, what);
  if (rc != 0) goto done;
  const Yiwang__Catalog__V1__Bundle *b = (const void *)response;
  w->bundle = b;
  if (b->n_items == 0 || b->n_items > BUNDLE_MEMBERS_MAX || b->n_items != b->n_members) {
    rc = yw_rpc_call_fail(call, YW_EUNAVAIL, "the catalog answered a bundle out of bounds");
    goto done;
  }
  if (strcmp(b->audience, "company") == 0 && w->caller.org[0] == '\0') {
    rc = yw_rpc_call_fail(call, YW_EPRECOND,
                          "bundle %s is filed for a company: act for one (a bound company) first",
                          b->code);
    goto done;
  }
  /* acting for a company, every member must be an item companies file (as prepare_item
   * checks each), told before the form is looked at */
  for (size_t i = 0; i < b->n_items && w->caller.org[0] != '\0'; i++) {
    if (b->items[i] != NULL && !item_for_companies(b->items[i])) {
      rc = yw_rpc_call_fail(call, YW_EPRECOND,
                            "bundle %s holds item %s, which is not filed for a company: stop acting"
                            " for the company to file it as yourself",
                            b->code, b->items[i]->impl_code);
      goto done;
    }
  }
  /* the merged form prefills from the applicant's identity or company: ask yw-identity */
  if (w->ctx->identity != NULL && form_prefills(b->form) != 0) {
    rc = applications_ask_identity(call, w->ctx, "", "", bundle_identity_answered, w);
    if (rc == 0) return; /* bundle_identity_answered files it */
    rc = applications_identity_failed(call, rc, NULL);
    goto done;
  }
  file_bundle(call, w);
  return;
done:
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

static int submit_bundle(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *data) {
  (void)out;
  const Yiwang__Applications__V1__SubmitBundleRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  struct bundle_work *w = yw_arena_calloc(a, 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &w->caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &w->caller, "apply", "filing a bundle for the company");
  if (rc != 0) return rc;
  size_t n = strlen(req->bundle_code);
  if (n == 0 || n > 32 || strspn(req->bundle_code, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
    return yw_rpc_call_fail(call, YW_EINVAL, "bundleCode must be 1 to 32 of a-z, 0-9 and '-'");
  if ((rc = form_json(call, req->form, &w->form)) != 0) return rc;
  if (ctx->catalog == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "no catalog is configured");
  w->ctx = ctx;
  w->req = req;
  Yiwang__Catalog__V1__GetBundleRequest *get = yw_arena_alloc(a, sizeof *get);
  if (get == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__get_bundle_request__init(get);
  get->code = req->bundle_code;
  return ask_catalog(call, ctx, "GetBundle", &get->base, &yiwang__catalog__v1__bundle__descriptor,
                     bundle_answered, w);
}

struct filing_work {
  const applications_ctx *ctx;
  const yw_caller *caller;
  const char *number;
  Yiwang__Applications__V1__BundleFiling *filing;
};

static int filing_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct filing_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {w->number};
  PGresult *r = NULL;
  /* the filing is its members' applicant's: a company's when filed for one (all members
   * are filed in one transaction for one applicant) */
  int rc = yw_pg_query(conn,
                       "SELECT f.id, f.number, f.bundle_code, f.bundle_name, " TS("f.created_at") ","
                       " m.applicant_kind, m.applicant_subject, m.applicant_org"
                       " FROM applications.bundle_filings f"
                       " JOIN LATERAL (SELECT a.applicant_kind, a.applicant_subject, a.applicant_org"
                       "   FROM applications.applications a WHERE a.bundle_id = f.id"
                       "   ORDER BY a.id LIMIT 1) m ON true"
                       " WHERE f.number = $1",
                       1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no bundle filing %s", w->number);
  }
  rc = yw_service_require_applicant(call, w->caller, PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 6),
                                    PQgetvalue(r, 0, 7), "read", "bundle filing", w->number);
  if (rc != 0) {
    PQclear(r);
    return rc;
  }
  Yiwang__Applications__V1__BundleFiling *f = yw_arena_alloc(a, sizeof *f);
  if (f == NULL) {
    PQclear(r);
    return YW_ENOMEM;
  }
  yiwang__applications__v1__bundle_filing__init(f);
  char id[24];
  snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  f->number = yw_col_str(a, r, 0, 1);
  f->bundle_code = yw_col_str(a, r, 0, 2);
  f->bundle_name = yw_col_str(a, r, 0, 3);
  f->created_at = yw_col_str(a, r, 0, 4);
  PQclear(r);
  if (f->number == NULL || f->bundle_code == NULL || f->bundle_name == NULL || f->created_at == NULL)
    return YW_ENOMEM;
  w->filing = f;
  return load_members(call, w->ctx, conn, id, f, err);
}

static int get_bundle_filing(yw_rpc_call *call, const ProtobufCMessage *reqm,
                             ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__GetBundleFilingRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &caller, "read", "reading the company's filings");
  if (rc != 0) return rc;
  if ((rc = check_number(call, req->number)) != 0) return rc;
  struct filing_work w = {ctx, &caller, req->number, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, filing_tx, &w);
  if (rc != 0) return rc;
  *out = &w.filing->base;
  return 0;
}

/* ---- GetApplication --------------------------------------------------------------- */

struct get_work {
  const applications_ctx *ctx;
  const yw_caller *caller;
  const char *number;
  loaded l;
};

/* Who may read: the applicant (a company's application: a person acting for the company
 * with the scope read, yw_service_require_applicant), or staff of one of its departments. */
static int get_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct get_work *w = arg;
  int rc = load_app(call, w->ctx, conn, w->number, 0, 1, &w->l, err);
  if (rc != 0) return rc;
  if (w->caller->kind == YW_CALLER_PERSON)
    return yw_service_require_applicant(call, w->caller, w->l.kind, w->l.subject, w->l.org,
                                        "read", "application", w->number);
  if (w->caller->kind == YW_CALLER_STAFF && in_list(w->l.depts, w->caller->department)) return 0;
  return yw_rpc_call_fail(call, YW_ENOTFOUND, "no application %s", w->number);
}

static int get_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                           ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__GetApplicationRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_caller(call, &ctx->caller_keys, &caller);
  if (rc != 0) return rc;
  if (caller.kind == YW_CALLER_ANONYMOUS)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "reading an application needs a signed-in caller");
  rc = yw_service_require_org_scope(call, &caller, "read", "reading the company's applications");
  if (rc != 0) return rc;
  if ((rc = check_number(call, req->number)) != 0) return rc;
  struct get_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  w->ctx = ctx;
  w->caller = &caller;
  w->number = req->number;
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_tx, w);
  if (rc != 0) return rc;
  *out = &w->l.app->base;
  return 0;
}

/* ---- lists ------------------------------------------------------------------------ */

/* Rows (APP_COLS, one more than the page) to a list answer; the cursor of the last row
 * comes from cursor_col. */
static int list_answer(yw_rpc_call *call, const applications_ctx *ctx, PGresult *r,
                       const yw_page *page, int cursor_col, ProtobufCMessage **out) {
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Applications__V1__ListApplicationsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int rows = PQntuples(r), n = rows > page->size ? page->size : rows;
  if (resp != NULL) {
    yiwang__applications__v1__list_applications_response__init(resp);
    resp->applications = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->applications);
  }
  for (int i = 0; resp != NULL && resp->applications != NULL && i < n; i++) {
    Application *app = app_from_row(a, r, i, ctx->data_key);
    if (app == NULL) break;
    resp->applications[resp->n_applications++] = app;
  }
  if (resp != NULL && rows > page->size)
    resp->next_page_token = yw_page_token(a, page, PQgetvalue(r, n - 1, cursor_col));
  PQclear(r);
  if (resp == NULL || (int)resp->n_applications != n || resp->next_page_token == NULL)
    return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

static int list_my_applications(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__ListMyApplicationsRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  /* acting for a company: the company's applications, whoever filed them; else the
   * person's own */
  const char *kind = NULL, *key = NULL;
  rc = yw_service_applicant_key(call, &caller, &kind, &key);
  if (rc != 0) return rc;
  /* the cursor is the id of the page's last (oldest) application */
  const char *filters[] = {kind, key};
  yw_page page;
  rc = yw_page_begin_id(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters,
                        2, &page);
  if (rc != 0) return rc;
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {kind, key, page.has_cursor ? page.cursor : NULL, limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " APP_COLS " FROM applications.applications a"
                        " WHERE " YW_APPLICANT_SQL("a.applicant", "$1", "$2")
                        " AND ($3::bigint IS NULL OR a.id < $3::bigint)"
                        " ORDER BY a.id DESC LIMIT $4::int",
                        4, p, &r);
  if (rc != 0) return rc;
  return list_answer(call, ctx, r, &page, C_ID, out);
}

/* Staff act for their own department only (platform administrators for any). */
static int require_department_staff(yw_rpc_call *call, applications_ctx *ctx, const char *dept,
                                    const char *action, yw_caller *caller) {
  int rc = yw_service_require_staff(call, &ctx->caller_keys, STAFF_ROLES ",platform_admin",
                                    action, caller);
  if (rc != 0) return rc;
  if (!valid_code(dept)) return yw_rpc_call_fail(call, YW_EINVAL, "department is not a department code");
  if (strcmp(caller->department, dept) != 0 && !yw_service_has_any_role(caller, "platform_admin"))
    return yw_rpc_call_fail(call, YW_EPERM, "%s is for staff of department %s", action, dept);
  return 0;
}

static int list_department_applications(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                        ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__ListDepartmentApplicationsRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = require_department_staff(call, ctx, req->department, "the work queue", &caller);
  if (rc != 0) return rc;
  const char *status = "";
  if (req->status != ST(APPLICATION_STATUS_UNSPECIFIED) &&
      (status = application_status_db(req->status)) == NULL)
    return yw_rpc_call_fail(call, YW_EINVAL, "status is not a status");
  const char *colour = "";
  if (req->supervision != YIWANG__APPLICATIONS__V1__SUPERVISION_COLOUR__SUPERVISION_COLOUR_UNSPECIFIED &&
      (colour = supervision_colour_db(req->supervision)) == NULL)
    return yw_rpc_call_fail(call, YW_EINVAL, "supervision is not a colour");
  /* the cursor is "<due date or 9999-12-31>|<number>" of the page's last row, after
   * "<urgency>|" when urgent first */
  const char *filters[] = {req->department, status, colour, req->urgent_first ? "urgent" : ""};
  yw_page page;
  rc = yw_page_begin(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 4,
                     &page);
  if (rc != 0) return rc;
  char due[16] = "", after[24] = "", urgency[2] = "";
  if (page.has_cursor && req->urgent_first) {
    int ok = page.cursor[0] >= '0' && page.cursor[0] <= '2' && page.cursor[1] == '|';
    if (!ok) return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
    urgency[0] = page.cursor[0];
    memmove(page.cursor, page.cursor + 2, strlen(page.cursor + 2) + 1);
  }
  if (page.has_cursor) {
    const char *bar = strchr(page.cursor, '|');
    int ok = bar != NULL && bar - page.cursor == 10 && application_number_valid(bar + 1);
    for (int i = 0; ok && i < 10; i++)
      ok = (i == 4 || i == 7) ? page.cursor[i] == '-' : isdigit((unsigned char)page.cursor[i]);
    if (!ok) return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
    memcpy(due, page.cursor, 10);
    snprintf(after, sizeof after, "%s", bar + 1);
  }
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {req->department, status[0] != '\0' ? status : NULL,
                     page.has_cursor ? due : NULL, page.has_cursor ? after : NULL, limit,
                     colour[0] != '\0' ? colour : NULL, page.has_cursor ? urgency : NULL};
  PGresult *r = NULL;
  /* the access rule is one predicate, q.department = $1: each order is one index range
   * (queue_by_due, or queue_by_urgency when urgent first) */
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        req->urgent_first
                            ? "SELECT " APP_COLS ", q.urgency || '|' || to_char(q.due_key,"
                              " 'YYYY-MM-DD') || '|' || q.number"
                              " FROM applications.queue q"
                              " JOIN applications.applications a ON a.id = q.application_id"
                              " WHERE q.department = $1 AND ($2::text IS NULL OR q.status = $2)"
                              " AND ($6::text IS NULL OR q.supervision = $6)"
                              " AND ($3::date IS NULL OR (q.urgency, q.due_key, q.number) >"
                              " ($7::smallint, $3::date, $4::text))"
                              " ORDER BY q.urgency, q.due_key, q.number LIMIT $5::int"
                            : "SELECT " APP_COLS ", to_char(q.due_key, 'YYYY-MM-DD') || '|' || q.number"
                              " FROM applications.queue q"
                              " JOIN applications.applications a ON a.id = q.application_id"
                              " WHERE q.department = $1 AND ($2::text IS NULL OR q.status = $2)"
                              " AND ($6::text IS NULL OR q.supervision = $6)"
                              " AND ($3::date IS NULL OR (q.due_key, q.number) > ($3::date, $4::text))"
                              " ORDER BY q.due_key, q.number LIMIT $5::int",
                        req->urgent_first ? 7 : 6, p, &r);
  if (rc != 0) return rc;
  return list_answer(call, ctx, r, &page, C_SUPERVISION + 1, out);
}

/* ---- status changes --------------------------------------------------------------- */

struct step_work {
  applications_ctx *ctx;
  yw_caller caller;
  const char *number;
  application_status to;       /* UNSPECIFIED: a decision, the status follows from it */
  const char *reason;
  const char *department;      /* staff: the caller's department; "" for the applicant */
  int lead_only;               /* staff steps of the lead department */
  const char *form;            /* ResubmitApplication: the form again (JSON), or NULL */
  const char *holder_name;     /* CompleteApplication: a license's holder as yw-identity
                                * names it (masked), or NULL */
  Yiwang__Applications__V1__Decision decision;
  loaded l;
};

int applications_due_date(PGconn *conn, const struct yw_workdays *cal, const char *id,
                          int promised_days, yw_day *due, yw_pg_error *err) {
  const char *p[] = {id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT to_char(COALESCE(accepted_at, now()) AT TIME ZONE 'Asia/Shanghai',"
                       " 'YYYY-MM-DD') FROM applications.applications WHERE id = $1::bigint",
                       1, p, &r, err);
  if (rc != 0) return rc;
  yw_day start = 0;
  int ok = PQntuples(r) == 1 && yw_day_parse(PQgetvalue(r, 0, 0), 10, &start) == 0;
  PQclear(r);
  rc = yw_pg_query(conn,
                   "SELECT to_char(t.at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),"
                   " to_char(COALESCE((SELECT min(n.at) FROM applications.application_transitions n"
                   " WHERE n.application_id = t.application_id AND n.id > t.id), now())"
                   " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
                   " FROM applications.application_transitions t WHERE t.application_id = $1::bigint"
                   " AND t.to_status = 'supplement_requested' ORDER BY t.id LIMIT 256",
                   1, p, &r, err);
  if (rc != 0) return rc;
  struct yw_workdays_pause pauses[256];
  size_t np = 0;
  for (int i = 0; ok && i < PQntuples(r) && np < 256; i++) {
    yw_day req = 0, ans = 0;
    ok = yw_day_parse(PQgetvalue(r, i, 0), 10, &req) == 0 &&
         yw_day_parse(PQgetvalue(r, i, 1), 10, &ans) == 0 && ans >= req;
    pauses[np++] = (struct yw_workdays_pause){req + 1, ans + 1};
  }
  PQclear(r);
  if (!ok || yw_workdays_add(cal, start, promised_days, pauses, np, due) != 0) return YW_EINVAL;
  /* a year the count ran through whose notice is not loaded counts weekends only */
  int y0 = 0, y1 = 0;
  if (yw_day_to_ymd(start, &y0, NULL, NULL) == 0 && yw_day_to_ymd(*due, &y1, NULL, NULL) == 0)
    for (int y = y0; y <= y1; y++)
      if (yw_workdays_covers(cal, y) == 0) applications_calendar_note_uncovered(y);
  return 0;
}

/* The due date of the application w->l (accepted now, or earlier) into out, by
 * applications_due_date with the database's calendar as it is now. Returns 0, a refusal
 * or a query's code (err). */
static int due_date(yw_rpc_call *call, PGconn *conn, struct step_work *w, char out[YW_DAY_STRLEN],
                    yw_pg_error *err) {
  /* the database's calendar as it is now (a load through any copy moves its version) */
  int rc = applications_calendar_refresh(w->ctx->calendar, conn, 0, err);
  if (rc != 0) return rc;
  void *ref = NULL;
  const struct yw_workdays *cal = applications_calendar_acquire(w->ctx->calendar, &ref);
  yw_day due = 0;
  rc = applications_due_date(conn, cal, w->l.id, w->l.promised_days, &due, err);
  applications_calendar_release(ref);
  if (rc == YW_EINVAL || (rc == 0 && yw_day_format(due, out, YW_DAY_STRLEN) != 0))
    return yw_rpc_call_fail(call, YW_EINTERNAL, "the due date of %s cannot be computed", w->number);
  return rc;
}

/* Moves w->l (loaded, locked) from its status to `to`: the compare-and-set, the
 * timeline row, the events. Returns 0, a refusal (status set) or a failure (err). */
static int change_status(yw_rpc_call *call, PGconn *conn, struct step_work *w,
                         application_status to, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  application_status from = w->l.status;
  if (!application_status_allowed(from, to))
    return yw_rpc_call_fail(call, YW_EPRECOND, "an application %s cannot become %s",
                            status_name(from), status_name(to));
  if (to == ST(COMPLETED)) { /* a fee is paid first (fees.c) */
    int rc = fees_check_completion(call, conn, w->l.id, err);
    if (rc != 0) return rc;
  }
  char due[YW_DAY_STRLEN] = "";
  if (to == ST(ACCEPTED) || to == ST(RESUBMITTED)) {
    int rc = due_date(call, conn, w, due, err);
    if (rc != 0) return rc;
  }
  const char *form_enc = NULL; /* a resubmitted form, sealed for the application's number */
  if (w->form != NULL && (form_enc = form_seal(a, w->ctx->data_key, w->number, w->form)) == NULL)
    return YW_ENOMEM;
  const char *p[] = {w->l.id, application_status_db(from), application_status_db(to),
                     due[0] != '\0' ? due : NULL, form_enc};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "UPDATE applications.applications SET status = $3,"
                       " accepted_at = CASE WHEN $3 = 'accepted' THEN now() ELSE accepted_at END,"
                       " due_date = COALESCE($4::date, due_date),"
                       " form_enc = COALESCE($5, form_enc)"
                       " WHERE id = $1::bigint AND status = $2 RETURNING id",
                       5, p, &r, err);
  if (rc != 0) return rc;
  int changed = PQntuples(r);
  PQclear(r);
  if (changed == 0)
    return yw_rpc_call_fail(call, YW_EPRECOND, "application %s changed meanwhile", w->number);
  const char *pt[] = {w->l.id, application_status_db(from), application_status_db(to),
                      w->caller.subject, w->department, w->reason};
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.application_transitions (application_id,"
                   " from_status, to_status, actor, actor_department, reason)"
                   " VALUES ($1::bigint, $2, $3, $4, $5, $6)",
                   6, pt, NULL, err);
  if (rc != 0) return rc;
  /* the supervision colour in the same transaction, with the pass's function: at
   * acceptance (and resubmission) one already due within 2 working days shows at once,
   * and a status that stops the clock loses its colour (an event each, as a pass writes) */
  yw_day today = 0;
  if (yw_day_from_time(time(NULL), &today) != 0) return YW_EINTERNAL;
  void *ref = NULL;
  const struct yw_workdays *cal = applications_calendar_acquire(w->ctx->calendar, &ref);
  char ids[32];
  snprintf(ids, sizeof ids, "{%s}", w->l.id);
  supervision_result sres;
  memset(&sres, 0, sizeof sres);
  rc = supervision_recolour(conn, cal, today, ids, &sres, NULL, err);
  applications_calendar_release(ref);
  if (rc != 0) return rc;
  /* the opinions so far were on what the supplement now changes: every department
   * decides again after the resubmission */
  if (to == ST(SUPPLEMENT_REQUESTED) &&
      (rc = yw_pg_query(conn,
                        "UPDATE applications.opinions SET superseded_at = now()"
                        " WHERE application_id = $1::bigint AND superseded_at IS NULL",
                        1, pt, NULL, err)) != 0)
    return rc;
  if ((rc = load_app(call, w->ctx, conn, w->number, 0, 1, &w->l, err)) != 0) return rc;

  Application *app = w->l.app;
  Yiwang__Events__V1__ApplicationStatusChanged ev = YIWANG__EVENTS__V1__APPLICATION_STATUS_CHANGED__INIT;
  ev.number = app->number;
  ev.impl_code = app->item_code;
  ev.item_version = app->item_version;
  ev.applicant_subject = app->applicant_subject;
  ev.departments = all_departments(a, app, &ev.n_departments);
  ev.from_status = (char *)status_name(from);
  ev.to_status = (char *)status_name(to);
  ev.actor = w->caller.subject;
  ev.actor_department = (char *)w->department;
  ev.reason = (char *)w->reason;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  ev.occurred_at_unix_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  ev.due_date = app->due_date;
  ev.query_code_mac = w->l.mac;
  ev.item_name = app->item_name;
  if (ev.departments == NULL) return YW_ENOMEM;
  rc = yw_events_append(conn, SCHEMA, "application.status_changed", 1, app->number, &ev.base,
                        NULL, err);
  if (rc == 0) rc = append_feed(conn, app, "application.status_changed", to, w->reason, err);
  if (rc == 0 && to == ST(COMPLETED))
    rc = licenses_issue(call, conn, w->ctx, w->l.id, w->holder_name, err);
  return rc;
}

static int step_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct step_work *w = arg;
  int rc = load_app(call, w->ctx, conn, w->number, 1, 0, &w->l, err);
  if (rc != 0) return rc;
  if (w->caller.kind == YW_CALLER_PERSON) {
    rc = yw_service_require_applicant(call, &w->caller, w->l.kind, w->l.subject, w->l.org,
                                      "apply", "application", w->number);
    if (rc != 0) return rc;
  } else if (!in_list(w->l.depts, w->department)) {
    return yw_rpc_call_fail(call, YW_EPERM, "department %s is not one of application %s's",
                            w->department, w->number);
  }
  if (w->lead_only && strcmp(w->l.lead, w->department) != 0)
    return yw_rpc_call_fail(call, YW_EPERM, "only the lead department %s takes this step",
                            w->l.lead);
  /* a resubmitted form: against the definition the application keeps */
  if (w->form != NULL && application_status_allowed(w->l.status, w->to)) {
    char *text = (char *)w->form;
    /* the prefilled fields keep the verified values given at filing */
    yw_form_prefill pre;
    char *kept = NULL;
    size_t kept_len = 0;
    rc = yw_json_write(&w->l.app->form->base, 0, &kept, &kept_len);
    if (rc == 0) rc = form_kept_prefill(yw_rpc_call_arena(call), w->l.app->form_definition, kept, &pre);
    free(kept);
    if (rc != 0) return rc;
    if ((rc = form_validate_pre(call, w->l.app->form_definition, &pre, &text)) != 0) return rc;
    w->form = text;
  }
  if (w->to != ST(APPLICATION_STATUS_UNSPECIFIED)) return change_status(call, conn, w, w->to, err);

  /* a decision: this department's opinion, then the outcome once it is known */
  if (w->l.status != ST(IN_REVIEW))
    return yw_rpc_call_fail(call, YW_EPRECOND, "an application %s takes no decision",
                            status_name(w->l.status));
  int approve = w->decision == YIWANG__APPLICATIONS__V1__DECISION__APPROVE;
  const char *p[] = {w->l.id, w->department, approve ? "approve" : "disapprove", w->reason,
                     w->caller.subject};
  PGresult *r = NULL;
  rc = yw_pg_query(conn,
                   "INSERT INTO applications.opinions (application_id, department, decision,"
                   " reason, actor) VALUES ($1::bigint, $2, $3, $4, $5)"
                   " ON CONFLICT (application_id, department) WHERE superseded_at IS NULL"
                   " DO NOTHING RETURNING"
                   " (SELECT count(*) FROM applications.opinions o"
                   "   WHERE o.application_id = $1::bigint AND o.decision = 'approve'"
                   "   AND o.superseded_at IS NULL)",
                   5, p, &r, err);
  if (rc != 0) return rc;
  int inserted = PQntuples(r);
  long long approvals_before = inserted ? yw_col_ll(r, 0, 0) : 0;
  PQclear(r);
  if (!inserted)
    return yw_rpc_call_fail(call, YW_EPRECOND, "department %s has already decided on %s",
                            w->department, w->number);
  size_t ndepts = 1;
  for (const char *c = w->l.depts; *c != '\0'; c++) ndepts += *c == ',';
  if (!approve) return change_status(call, conn, w, ST(DISAPPROVED), err);
  if ((size_t)approvals_before + 1 >= ndepts) return change_status(call, conn, w, ST(APPROVED), err);
  return load_app(call, w->ctx, conn, w->number, 0, 1, &w->l, err); /* waiting for the others */
}

static int run_step(yw_rpc_call *call, applications_ctx *ctx, struct step_work *w,
                    ProtobufCMessage **out) {
  w->ctx = ctx;
  int rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, step_tx, w);
  if (rc != 0) return rc;
  *out = &w->l.app->base;
  return 0;
}

/* The work of a staff step of TransitionRequest to status `to`, checked, into *out. */
static int staff_step_work(yw_rpc_call *call, const ProtobufCMessage *reqm, applications_ctx *ctx,
                           application_status to, int reason_required, const char *action,
                           struct step_work **out) {
  const Yiwang__Applications__V1__TransitionRequest *req = (const void *)reqm;
  struct step_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = require_department_staff(call, ctx, req->department, action, &w->caller);
  if (rc != 0) return rc;
  if ((rc = check_number(call, req->number)) != 0) return rc;
  if ((rc = check_reason(call, req->reason, reason_required)) != 0) return rc;
  w->ctx = ctx;
  w->number = req->number;
  w->to = to;
  w->reason = req->reason;
  w->department = req->department;
  w->lead_only = 1;
  *out = w;
  return 0;
}

/* A staff step of TransitionRequest to status `to`. */
static int staff_step(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                      void *data, application_status to, int reason_required, const char *action) {
  struct step_work *w = NULL;
  int rc = staff_step_work(call, reqm, data, to, reason_required, action, &w);
  return rc != 0 ? rc : run_step(call, data, w, out);
}

/* yw-identity named the holder of the license the completion issues: complete it. */
static void holder_answered(yw_rpc_call *call, int code, ProtobufCMessage *response,
                            const char *message, void *arg) {
  struct step_work *w = arg;
  ProtobufCMessage *out = NULL;
  int rc = code != 0 ? applications_identity_failed(call, code, message) : 0;
  if (rc == 0) {
    const Yiwang__Identity__V1__VerifiedIdentity *v = (const void *)response;
    /* a company is named by its register name, a person by the masked name */
    w->holder_name = v->company_credit_code[0] != '\0' ? v->company_name : v->name_masked;
    rc = run_step(call, w->ctx, w, &out);
  }
  yw_rpc_call_finish(call, rc, rc == 0 ? out : NULL);
}

static int accept_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  return staff_step(call, reqm, out, data, ST(ACCEPTED), 0, "accepting an application");
}
static int reject_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  return staff_step(call, reqm, out, data, ST(REJECTED), 1, "rejecting an application");
}
static int start_review(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                        void *data) {
  return staff_step(call, reqm, out, data, ST(IN_REVIEW), 0, "reviewing an application");
}
static int request_supplement(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  return staff_step(call, reqm, out, data, ST(SUPPLEMENT_REQUESTED), 1, "requesting a supplement");
}
/* Completing an application whose item issues a license first asks yw-identity for the
 * holder's masked name (or the company's name), as the completing staff (a read
 * yw-identity records); then the step runs as any other. Without an identity channel
 * the license names no holder. */
static int complete_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                ProtobufCMessage **out, void *data) {
  applications_ctx *ctx = data;
  struct step_work *w = NULL;
  int rc = staff_step_work(call, reqm, ctx, ST(COMPLETED), 0, "completing an application", &w);
  if (rc != 0) return rc;
  if (ctx->identity == NULL) return run_step(call, ctx, w, out);
  const char *p[] = {w->number};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT applicant_subject, applicant_org, lead_department"
                        " FROM applications.applications WHERE number = $1 AND license_name <> ''",
                        1, p, &r);
  if (rc != 0) return rc;
  /* no license to issue (or no application: the step says so) */
  if (PQntuples(r) == 0 || !licenses_can_seal(ctx, PQgetvalue(r, 0, 2))) {
    PQclear(r);
    return run_step(call, ctx, w, out);
  }
  yw_arena *a = yw_rpc_call_arena(call);
  char *subject = yw_col_str(a, r, 0, 0), *org = yw_col_str(a, r, 0, 1);
  PQclear(r);
  if (subject == NULL || org == NULL) return YW_ENOMEM;
  if ((rc = yw_rpc_call_defer(call)) != 0) return rc;
  rc = applications_ask_identity(call, ctx, subject, org, holder_answered, w);
  if (rc != 0) { /* holder_answered will not run: answer now */
    rc = applications_identity_failed(call, rc, NULL);
    yw_rpc_call_finish(call, rc, NULL);
  }
  return YW_RPC_DEFERRED;
}

static int decide_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__DecideRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  struct step_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = require_department_staff(call, ctx, req->department, "deciding on an application",
                                    &w->caller);
  if (rc != 0) return rc;
  if ((rc = check_number(call, req->number)) != 0) return rc;
  if (req->decision != YIWANG__APPLICATIONS__V1__DECISION__APPROVE &&
      req->decision != YIWANG__APPLICATIONS__V1__DECISION__DISAPPROVE)
    return yw_rpc_call_fail(call, YW_EINVAL, "decision must be APPROVE or DISAPPROVE");
  rc = check_reason(call, req->reason, req->decision == YIWANG__APPLICATIONS__V1__DECISION__DISAPPROVE);
  if (rc != 0) return rc;
  w->number = req->number;
  w->to = ST(APPLICATION_STATUS_UNSPECIFIED);
  w->decision = req->decision;
  w->reason = req->reason;
  w->department = req->department;
  return run_step(call, ctx, w, out);
}

/* The applicant's step of application number to `to`; form (JSON) replaces the form when
 * not NULL. */
static int applicant_step(yw_rpc_call *call, applications_ctx *ctx, const char *number,
                          const char *reason, application_status to,
                          const Google__Protobuf__Struct *form, ProtobufCMessage **out) {
  struct step_work *w = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &w->caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &w->caller, "apply", "changing the company's applications");
  if (rc != 0) return rc;
  if ((rc = check_number(call, number)) != 0) return rc;
  if ((rc = check_reason(call, reason, 0)) != 0) return rc;
  if (to == ST(RESUBMITTED)) {
    char *text = NULL;
    if (form == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "form is required");
    if ((rc = form_json(call, form, &text)) != 0) return rc;
    w->form = text;
  }
  w->number = number;
  w->to = to;
  w->reason = reason;
  w->department = "";
  return run_step(call, ctx, w, out);
}

static int withdraw_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__WithdrawApplicationRequest *req = (const void *)reqm;
  return applicant_step(call, data, req->number, req->reason, ST(WITHDRAWN), NULL, out);
}

static int resubmit_application(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                ProtobufCMessage **out, void *data) {
  const Yiwang__Applications__V1__ResubmitApplicationRequest *req = (const void *)reqm;
  return applicant_step(call, data, req->number, req->reason, ST(RESUBMITTED), req->form, out);
}

/* ---- the table -------------------------------------------------------------------- */

static const yw_rpc_method methods[] = {
    {.name = "SubmitApplication", .fn = submit_application},
    {.name = "GetApplication", .fn = get_application},
    {.name = "ListMyApplications", .fn = list_my_applications},
    {.name = "WithdrawApplication", .fn = withdraw_application},
    {.name = "ResubmitApplication", .fn = resubmit_application},
    {.name = "ListDepartmentApplications", .fn = list_department_applications},
    {.name = "AcceptApplication", .fn = accept_application},
    {.name = "RejectApplication", .fn = reject_application},
    {.name = "StartReview", .fn = start_review},
    {.name = "RequestSupplement", .fn = request_supplement},
    {.name = "DecideApplication", .fn = decide_application},
    {.name = "CompleteApplication", .fn = complete_application},
    {.name = "PutCalendar", .fn = applications_put_calendar},
    {.name = "GetCalendar", .fn = applications_get_calendar},
    {.name = "AddMaterial", .fn = materials_add},
    {.name = "GetMaterialFile", .fn = materials_get_file},
    {.name = "SubmitBundle", .fn = submit_bundle},
    {.name = "GetBundleFiling", .fn = get_bundle_filing},
    {.name = "GetApplicationFee", .fn = fees_get_application_fee},
};

void applications_service_init(yw_rpc_service *svc, applications_ctx *ctx) {
  svc->descriptor = &yiwang__applications__v1__applications_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
  ctx->idem.schema = SCHEMA;
  ctx->idem.keys = &ctx->caller_keys;
  ctx->idem.response = &yiwang__applications__v1__submit_application_response__descriptor;
  ctx->idem.redis = ctx->redis;
  ctx->idem.redis_prefix = ctx->redis_prefix;
  ctx->idem.db_wait_ms = ctx->db_wait_ms;
  ctx->idem.seal_key = ctx->data_key; /* the answers carry the form */
  ctx->idem_bundle = ctx->idem;
  ctx->idem_bundle.response = &yiwang__applications__v1__submit_bundle_response__descriptor;
}
