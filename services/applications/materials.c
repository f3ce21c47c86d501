/*
 * materials.c - materials (材料) of applications.
 *
 *   materials_file      at filing: the item version's list of materials, kept with the
 *                       application (applications.item_materials), so a later version of
 *                       the item never changes what a running case asks for
 *   AddMaterial         the applicant's files for one material: the gateway has streamed
 *                       them to the file store (sniffed type, size and SHA-256 checked
 *                       there) and hands FileRefs; here the material must be on the list
 *                       and the application still open to materials (SUBMITTED or
 *                       SUPPLEMENT_REQUESTED); a material replaced by a license becomes
 *                       an uploaded one; the same file twice is kept once
 *   GetMaterialFile     before the gateway answers a file: the applicant, or staff of one
 *                       of the application's departments, whose every such read is a row
 *                       of applications.material_reads written in the same transaction
 *   materials_load      an application's answer: each uploaded material's files, and the
 *                       required materials neither replaced by a license nor uploaded
 *
 * Offers: materials_file, materials_load, materials_add, materials_get_file.
 */
#include "materials.h"

#include <stdio.h>
#include <string.h>

#include "application_status.h"
#include "yw_err.h"
#include "yw_service.h"

#define DB "the applications database"
#define FILES_PER_CALL 5
#define FILES_PER_MATERIAL 10
#define FILE_MAX_BYTES (10LL << 20)
#define NAME_MAX_BYTES 200
#define FILE_NAME_MAX_BYTES 255

typedef Yiwang__Applications__V1__ApplicationMaterial Material;
typedef Yiwang__Files__V1__FileRef FileRef;

int materials_file(PGconn *conn, const char *app_id, const Yiwang__Catalog__V1__Item *item,
                   yw_pg_error *err) {
  for (size_t i = 0; i < item->n_materials; i++) {
    const Yiwang__Catalog__V1__Material *m = item->materials[i];
    char seq[24];
    snprintf(seq, sizeof seq, "%zu", i + 1);
    const char *p[] = {app_id, seq, m->name, m->required ? "true" : "false",
                       m->license_replaceable ? "true" : "false"};
    int rc = yw_pg_query(conn,
                         "INSERT INTO applications.item_materials (application_id, seq, name,"
                         " required, license_replaceable)"
                         " VALUES ($1::bigint, $2::int, $3, $4::boolean, $5::boolean)",
                         5, p, NULL, err);
    if (rc != 0) return rc;
  }
  return 0;
}

/* the files of the application's materials, oldest first, onto the materials loaded */
static int load_files(yw_arena *a, PGconn *conn, const char *app_id, Material **materials,
                      size_t n, yw_pg_error *err) {
  const char *p[] = {app_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT seq, sha256, size, content_type, file_name"
                       " FROM applications.material_files WHERE application_id = $1::bigint"
                       " ORDER BY seq, uploaded_at, sha256",
                       1, p, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  for (size_t k = 0; k < n; k++) {
    Material *m = materials[k];
    int count = 0;
    for (int i = 0; i < rows; i++) count += yw_col_ll(r, i, 0) == m->seq;
    if (count == 0) continue;
    m->files = yw_arena_calloc(a, (size_t)count, sizeof *m->files);
    if (m->files == NULL) break;
    for (int i = 0; i < rows; i++) {
      if (yw_col_ll(r, i, 0) != m->seq) continue;
      FileRef *f = yw_arena_alloc(a, sizeof *f);
      if (f == NULL) break;
      yiwang__files__v1__file_ref__init(f);
      f->sha256 = yw_col_str(a, r, i, 1);
      f->size = yw_col_ll(r, i, 2);
      f->content_type = yw_col_str(a, r, i, 3);
      f->name = yw_col_str(a, r, i, 4);
      if (f->sha256 == NULL || f->content_type == NULL || f->name == NULL) break;
      m->files[m->n_files++] = f;
    }
    if ((int)m->n_files != count) {
      PQclear(r);
      return YW_ENOMEM;
    }
  }
  PQclear(r);
  return 0;
}

/* the names of the required materials not given yet, in the item's order */
static int load_missing(yw_arena *a, PGconn *conn, const char *app_id, char ***out, size_t *n,
                        yw_pg_error *err) {
  const char *p[] = {app_id};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT im.name FROM applications.item_materials im"
                       " WHERE im.application_id = $1::bigint AND im.required"
                       " AND NOT EXISTS (SELECT 1 FROM applications.application_materials am"
                       "                 WHERE am.application_id = im.application_id"
                       "                   AND am.seq = im.seq)"
                       " ORDER BY im.seq",
                       1, p, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  *n = 0;
  *out = yw_arena_calloc(a, (size_t)rows + 1, sizeof **out);
  for (int i = 0; *out != NULL && i < rows; i++) {
    char *name = yw_col_str(a, r, i, 0);
    if (name == NULL) break;
    (*out)[(*n)++] = name;
  }
  PQclear(r);
  return (int)*n == rows ? 0 : YW_ENOMEM;
}

int materials_load(yw_rpc_call *call, PGconn *conn, const char *app_id,
                   Yiwang__Applications__V1__Application *app, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = load_files(a, conn, app_id, app->materials, app->n_materials, err);
  if (rc == 0) rc = load_missing(a, conn, app_id, &app->missing_materials, &app->n_missing_materials, err);
  return rc;
}

/* ---- AddMaterial ---------------------------------------------------------------------- */

static int is_sha256(const char *s) {
  if (strlen(s) != 64) return 0;
  for (const char *p = s; *p != '\0'; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static int allowed_type(const char *t) {
  return strcmp(t, "application/pdf") == 0 || strcmp(t, "image/jpeg") == 0 ||
         strcmp(t, "image/png") == 0;
}

/* Material seq of application app_id becomes an uploaded one with req's files (each kept
 * once). */
static int give_files(PGconn *conn, const char *app_id, const char *seq,
                      const Yiwang__Applications__V1__AddMaterialRequest *req, const char *subject,
                      yw_pg_error *err) {
  const char *pu[] = {app_id, seq, req->material};
  int rc = yw_pg_query(conn,
                       "INSERT INTO applications.application_materials (application_id, seq, name,"
                       " source) VALUES ($1::bigint, $2::int, $3, 'upload')"
                       " ON CONFLICT (application_id, seq) DO UPDATE"
                       " SET source = 'upload', license_number = NULL",
                       3, pu, NULL, err);
  for (size_t i = 0; rc == 0 && i < req->n_files; i++) {
    const FileRef *f = req->files[i];
    char size[24];
    snprintf(size, sizeof size, "%lld", (long long)f->size);
    const char *pf[] = {app_id, seq, f->sha256, size, f->content_type, f->name, subject};
    rc = yw_pg_query(conn,
                     "INSERT INTO applications.material_files (application_id, seq, sha256, size,"
                     " content_type, file_name, uploaded_by)"
                     " VALUES ($1::bigint, $2::int, $3, $4::bigint, $5, $6, $7)"
                     " ON CONFLICT (application_id, seq, sha256) DO NOTHING",
                     7, pf, NULL, err);
  }
  return rc;
}

struct add_work {
  const Yiwang__Applications__V1__AddMaterialRequest *req;
  const yw_caller *caller;
  Yiwang__Applications__V1__AddMaterialResponse *resp;
};

static int add_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct add_work *w = arg;
  const Yiwang__Applications__V1__AddMaterialRequest *req = w->req;
  yw_arena *a = yw_rpc_call_arena(call);
  const char *pn[] = {req->number};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT id, applicant_subject, status, applicant_kind, applicant_org"
                       " FROM applications.applications WHERE number = $1 FOR UPDATE",
                       1, pn, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no application %s", req->number);
  }
  /* a company's application takes materials from a person acting for it (scope apply) */
  rc = yw_service_require_applicant(call, w->caller, PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 1),
                                    PQgetvalue(r, 0, 4), "apply", "application", req->number);
  char id[24] = "", status[32] = "";
  snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 2));
  PQclear(r);
  if (rc != 0) return rc;
  if (strcmp(status, "submitted") != 0 && strcmp(status, "supplement_requested") != 0)
    return yw_rpc_call_fail(call, YW_EPRECOND,
                            "materials are given while the application is SUBMITTED or "
                            "SUPPLEMENT_REQUESTED; it is %s",
                            status);
  const char *pm[] = {id, req->material};
  rc = yw_pg_query(conn,
                   "SELECT im.seq, (SELECT count(*) FROM applications.material_files f"
                   "                WHERE f.application_id = im.application_id AND f.seq = im.seq)"
                   " FROM applications.item_materials im"
                   " WHERE im.application_id = $1::bigint AND im.name = $2",
                   2, pm, &r, err);
  if (rc != 0) return rc;
  int listed = PQntuples(r) == 1;
  long long seq = listed ? yw_col_ll(r, 0, 0) : 0, kept = listed ? yw_col_ll(r, 0, 1) : 0;
  PQclear(r);
  if (!listed)
    return yw_rpc_call_fail(call, YW_EINVAL, "material: the item lists no material named \"%s\"",
                            req->material);
  char sq[16];
  snprintf(sq, sizeof sq, "%lld", seq);
  /* the files already kept are counted once: the same bytes again add nothing */
  long long fresh = 0;
  for (size_t i = 0; i < req->n_files; i++) {
    const char *pf[] = {id, sq, req->files[i]->sha256};
    rc = yw_pg_query(conn,
                     "SELECT 1 FROM applications.material_files"
                     " WHERE application_id = $1::bigint AND seq = $2::int AND sha256 = $3",
                     3, pf, &r, err);
    if (rc != 0) return rc;
    fresh += PQntuples(r) == 0;
    PQclear(r);
  }
  if (kept + fresh > FILES_PER_MATERIAL)
    return yw_rpc_call_fail(call, YW_EINVAL, "files: a material keeps at most %d files (it has %lld)",
                            FILES_PER_MATERIAL, kept);
  rc = give_files(conn, id, sq, req, w->caller->subject, err);
  if (rc != 0) return rc;
  /* 一件事一次办: the other members of the application's bundle that list a material of
   * the same name, and are open to materials, get the same files */
  rc = yw_pg_query(conn,
                   "SELECT o.id, im.seq FROM applications.applications a"
                   " JOIN applications.applications o ON o.bundle_id = a.bundle_id AND o.id <> a.id"
                   " JOIN applications.item_materials im ON im.application_id = o.id AND im.name = $2"
                   " WHERE a.id = $1::bigint AND o.status IN ('submitted', 'supplement_requested')"
                   " ORDER BY o.id FOR UPDATE OF o",
                   2, pm, &r, err);
  if (rc != 0) return rc;
  int siblings = PQntuples(r);
  char sib[10][2][24];
  if (siblings > 10) siblings = 10;
  for (int i = 0; i < siblings; i++) {
    snprintf(sib[i][0], sizeof sib[i][0], "%s", PQgetvalue(r, i, 0));
    snprintf(sib[i][1], sizeof sib[i][1], "%s", PQgetvalue(r, i, 1));
  }
  PQclear(r);
  for (int k = 0; k < siblings && rc == 0; k++)
    rc = give_files(conn, sib[k][0], sib[k][1], req, w->caller->subject, err);
  if (rc != 0) return rc;

  Material *m = yw_arena_alloc(a, sizeof *m);
  Material **one = yw_arena_alloc(a, sizeof *one);
  w->resp = yw_arena_alloc(a, sizeof *w->resp);
  if (m == NULL || one == NULL || w->resp == NULL) return YW_ENOMEM;
  yiwang__applications__v1__application_material__init(m);
  m->seq = (int32_t)seq;
  m->name = (char *)req->material;
  m->source = "UPLOAD";
  m->license_number = "";
  *one = m;
  rc = load_files(a, conn, id, one, 1, err);
  yiwang__applications__v1__add_material_response__init(w->resp);
  w->resp->material = m;
  if (rc == 0)
    rc = load_missing(a, conn, id, &w->resp->missing_materials, &w->resp->n_missing_materials, err);
  return rc;
}

int materials_add(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                  void *data) {
  const Yiwang__Applications__V1__AddMaterialRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  rc = yw_service_require_org_scope(call, &caller, "apply", "adding materials for the company");
  if (rc != 0) return rc;
  if (!application_number_valid(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number: an application number is 20 digits");
  size_t n = strlen(req->material);
  if (n == 0 || n > NAME_MAX_BYTES)
    return yw_rpc_call_fail(call, YW_EINVAL, "material: the material's name, 1 to %d bytes",
                            NAME_MAX_BYTES);
  if (req->n_files == 0 || req->n_files > FILES_PER_CALL)
    return yw_rpc_call_fail(call, YW_EINVAL, "files: 1 to %d files", FILES_PER_CALL);
  for (size_t i = 0; i < req->n_files; i++) {
    const FileRef *f = req->files[i];
    if (f == NULL || !is_sha256(f->sha256))
      return yw_rpc_call_fail(call, YW_EINVAL, "files[%zu].sha256: 64 lower-case hex digits", i);
    if (f->size < 1 || f->size > FILE_MAX_BYTES)
      return yw_rpc_call_fail(call, YW_EINVAL, "files[%zu].size: 1 byte to %lld MiB", i,
                              FILE_MAX_BYTES >> 20);
    if (!allowed_type(f->content_type))
      return yw_rpc_call_fail(call, YW_EINVAL, "files[%zu].contentType: PDF, JPEG or PNG", i);
    if (strlen(f->name) > FILE_NAME_MAX_BYTES)
      return yw_rpc_call_fail(call, YW_EINVAL, "files[%zu].name: at most %d bytes", i,
                              FILE_NAME_MAX_BYTES);
  }
  struct add_work w = {req, &caller, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, add_tx, &w);
  if (rc != 0) return rc;
  *out = &w.resp->base;
  return 0;
}

/* ---- GetMaterialFile ------------------------------------------------------------------ */

struct read_work {
  const Yiwang__Applications__V1__GetMaterialFileRequest *req;
  const yw_caller *caller;
  char name[FILE_NAME_MAX_BYTES + 1];
};

static int read_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct read_work *w = arg;
  const char *p[] = {w->req->number, w->req->sha256};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT a.id, a.applicant_subject, array_to_string(a.departments, ','),"
                       " f.file_name, a.applicant_kind, a.applicant_org"
                       " FROM applications.applications a"
                       " JOIN applications.material_files f ON f.application_id = a.id"
                       " WHERE a.number = $1 AND f.sha256 = $2"
                       " ORDER BY f.uploaded_at LIMIT 1",
                       2, p, &r, err);
  if (rc != 0) return rc;
  int found = PQntuples(r) == 1, staff = w->caller->kind == YW_CALLER_STAFF, allowed = 0;
  char id[24] = "";
  if (found) {
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    snprintf(w->name, sizeof w->name, "%s", PQgetvalue(r, 0, 3));
    if (w->caller->kind == YW_CALLER_PERSON) {
      /* a company's application's files: a person acting for it with the scope read */
      rc = yw_service_require_applicant(call, w->caller, PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 1),
                                        PQgetvalue(r, 0, 5), "read", "application",
                                        w->req->number);
      if (rc != 0) {
        PQclear(r);
        return rc;
      }
      allowed = 1;
    } else if (staff && w->caller->department[0] != '\0') {
      /* one of the application's departments, compared as whole codes */
      const char *list = PQgetvalue(r, 0, 2);
      size_t dl = strlen(w->caller->department);
      for (const char *s = list; *s != '\0' && !allowed;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        allowed = len == dl && memcmp(s, w->caller->department, dl) == 0;
        s = comma != NULL ? comma + 1 : s + len;
      }
    }
  }
  PQclear(r);
  if (!allowed) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such file of application %s", w->req->number);
  if (!staff) return 0;
  const char *pa[] = {id, w->req->sha256, w->caller->subject, w->caller->department};
  return yw_pg_query(conn,
                     "INSERT INTO applications.material_reads (application_id, sha256, actor,"
                     " actor_department) VALUES ($1::bigint, $2, $3, $4)",
                     4, pa, NULL, err);
}

int materials_get_file(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Applications__V1__GetMaterialFileRequest *req = (const void *)reqm;
  applications_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_caller(call, &ctx->caller_keys, &caller);
  if (rc != 0) return rc;
  if (caller.kind != YW_CALLER_PERSON && caller.kind != YW_CALLER_STAFF)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "reading a material needs a signed-in caller");
  if (!application_number_valid(req->number))
    return yw_rpc_call_fail(call, YW_EINVAL, "number: an application number is 20 digits");
  if (!is_sha256(req->sha256))
    return yw_rpc_call_fail(call, YW_EINVAL, "sha256: 64 lower-case hex digits");
  yw_arena *a = yw_rpc_call_arena(call);
  struct read_work *w = yw_arena_calloc(a, 1, sizeof *w);
  if (w == NULL) return YW_ENOMEM;
  w->req = req;
  w->caller = &caller;
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, read_tx, w);
  if (rc != 0) return rc;
  Yiwang__Applications__V1__GetMaterialFileResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__applications__v1__get_material_file_response__init(resp);
  resp->name = yw_arena_strndup(a, w->name, strlen(w->name));
  if (resp->name == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}
