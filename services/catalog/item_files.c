/*
 * item_files.c - an item's files: the blank and sample forms (空表, 样表) and the samples
 * of its results (审批结果样本) its guide names as yiwang.files.v1.FileRef.
 *
 *   GetItemFile      before the gateway answers GET /v1/items/{code}/files/{sha256}: OK
 *                    with the name the item gives the file when the version GetItem
 *                    answers (the version in effect, or the version asked for) names it
 *                    and the file is not withdrawn; NOT_FOUND otherwise, so a draft's
 *                    files, another item's and files no item names are not served
 *                    through an item. Public, as the guide. One query on indexed rows
 *                    (item_version_files, migration 016); only a version stored before
 *                    that table existed is read from its body.
 *   UploadItemFiles  a department's files, stored by the gateway's upload phase: the
 *                    administrators who write items get their FileRefs back, and each
 *                    upload is recorded (item_file_uploads) under the uploader's
 *                    department, within its daily quota (RESOURCE_EXHAUSTED past it). The
 *                    gateway's hold on each blob (services/files/README.md) stays with
 *                    this OK, so a file an item may name is never purged.
 *   WithdrawItemFile a platform administrator takes a file down: no version of any item
 *                    serves it from then on, no write may name it; audited.
 *   catalog_files_check  before UpsertItem writes: the stored item must be the caller's
 *                    to write, then every reference must name a file the item's
 *                    department (or a platform administrator) uploaded and nobody
 *                    withdrew; only then is each new one asked about in the store (Stat:
 *                    the size and content type it says). The checks run one after
 *                    another on the deferred call, each bounded by
 *                    YW_CATALOG_FILES_WAIT_MS; a store that does not answer makes the
 *                    write UNAVAILABLE, never a write of an unchecked reference.
 *
 * Offers: catalog_get_item_file, catalog_upload_item_files, catalog_withdraw_item_file,
 * catalog_files_check.
 */
#include "item_files.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "yiwang/files/v1/files.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define UPLOAD_FILES_MAX 10
#define REFS_MAX 64 /* 20 forms with two files each and 10 results fit */

typedef Yiwang__Files__V1__FileRef FileRef;
typedef Yiwang__Catalog__V1__ItemDetails ItemDetails;

static int is_sha256(const char *s) {
  return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* ---- GetItemFile ----------------------------------------------------------------- */

/* The name d gives the file sha256 (its FileRef's name), or NULL when d names no such
 * file. */
static const char *named_file(const ItemDetails *d, const char *sha256) {
  if (d == NULL) return NULL;
  for (size_t i = 0; i < d->n_forms; i++) {
    const FileRef *f[] = {d->forms[i]->blank, d->forms[i]->sample};
    for (int k = 0; k < 2; k++)
      if (f[k] != NULL && strcmp(f[k]->sha256, sha256) == 0) return f[k]->name;
  }
  for (size_t i = 0; i < d->n_results; i++) {
    const FileRef *f = d->results[i]->sample;
    if (f != NULL && strcmp(f->sha256, sha256) == 0) return f->name;
  }
  return NULL;
}

/* What GetItemFile needs of an item, in one row: the row's status and version, the
 * status of version $3 when one is asked for (NULL: not stored), the file set of that
 * version (NULL: a version stored before item_version_files), the name it gives the
 * file, and whether the file is withdrawn. Every lookup is by primary key. */
static const char FILE_SQL[] =
    "SELECT i.status, i.version, v.status, f.files IS NOT NULL, f.files->>$2::text,"
    "       EXISTS (SELECT 1 FROM catalog.withdrawn_files w WHERE w.sha256 = $2::text)"
    " FROM catalog.items i"
    " LEFT JOIN catalog.item_versions v ON $3::int > 0 AND v.item_id = i.id AND v.version = $3::int"
    " LEFT JOIN catalog.item_version_files f ON f.item_id = i.id"
    "  AND f.version = CASE WHEN $3::int > 0 THEN $3::int ELSE i.version END"
    " WHERE i.impl_code = $1";

struct file_work {
  const Yiwang__Catalog__V1__GetItemFileRequest *req;
  const char *name; /* the name the version gives the file, in the call's arena */
  int unrecorded;   /* the version is served but its file set was never recorded */
};

static int get_item_file_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct file_work *w = arg;
  char version[16];
  snprintf(version, sizeof version, "%d", w->req->version);
  const char *p[] = {w->req->code, w->req->sha256, version};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, FILE_SQL, 3, p, &r, err);
  if (rc != 0) return rc;
  int found = 0;
  if (PQntuples(r) == 1 && !yw_col_bool(r, 0, 5)) {
    const char *row_status = PQgetvalue(r, 0, 0);
    int served; /* GetItem answers this version */
    if (w->req->version == 0)
      served = strcmp(row_status, "draft") != 0;
    else if (!PQgetisnull(r, 0, 2))
      served = strcmp(PQgetvalue(r, 0, 2), "draft") != 0;
    else
      served = yw_col_ll(r, 0, 1) == w->req->version && strcmp(row_status, "draft") != 0;
    if (served && !yw_col_bool(r, 0, 3)) {
      w->unrecorded = 1;
    } else if (served && !PQgetisnull(r, 0, 4)) {
      w->name = yw_col_str(yw_rpc_call_arena(call), r, 0, 4);
      found = w->name != NULL ? 1 : -1;
    }
  }
  PQclear(r);
  if (found < 0) return YW_ENOMEM;
  return 0;
}

int catalog_get_item_file(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Catalog__V1__GetItemFileRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  if (req->code[0] == '\0') return yw_rpc_call_fail(call, YW_EINVAL, "code is required");
  if (strlen(req->code) > 64) return yw_rpc_call_fail(call, YW_EINVAL, "code is too long");
  if (!is_sha256(req->sha256))
    return yw_rpc_call_fail(call, YW_EINVAL, "sha256: 64 lower-case hex digits");
  if (req->version < 0) return yw_rpc_call_fail(call, YW_EINVAL, "version must be 1 or more");
  struct file_work w = {req, NULL, 0};
  int rc =
      yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "the catalog database", get_item_file_tx, &w);
  if (rc != 0) return rc;
  if (w.unrecorded) { /* a version kept before its files were recorded: its body says */
    Yiwang__Catalog__V1__Item *it = NULL;
    rc = catalog_read_item(call, ctx, req->code, req->version, &it);
    if (rc != 0) return rc;
    w.name = named_file(it->details, req->sha256);
  }
  if (w.name == NULL)
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "item %s names no file %s", req->code, req->sha256);
  Yiwang__Catalog__V1__GetItemFileResponse *resp =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__get_item_file_response__init(resp);
  resp->name = (char *)w.name;
  *out = &resp->base;
  return 0;
}

/* ---- UploadItemFiles ------------------------------------------------------------- */

/* The department's uploads of today (Asia/Shanghai, the session's zone), counted under
 * a lock of the department so that two uploads at once cannot both pass the quota. */
static const char QUOTA_SQL[] =
    "SELECT count(*), COALESCE(sum(size), 0) FROM catalog.item_file_uploads"
    " WHERE department = $1 AND source = 'upload' AND at >= date_trunc('day', now())";

struct upload_work {
  const yw_caller *caller;
  const Yiwang__Catalog__V1__UploadItemFilesRequest *req;
  const catalog_ctx *ctx;
};

static int upload_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct upload_work *w = arg;
  const Yiwang__Catalog__V1__UploadItemFilesRequest *req = w->req;
  const char *dept = w->caller->department;
  const char *p[] = {dept};
  int rc = yw_pg_query(conn,
                       "SELECT pg_advisory_xact_lock(hashtext('catalog.item_file_uploads:' || $1))",
                       1, p, NULL, err);
  PGresult *r = NULL;
  if (rc == 0) rc = yw_pg_query(conn, QUOTA_SQL, 1, p, &r, err);
  if (rc != 0) return rc;
  long long files = yw_col_ll(r, 0, 0), bytes = yw_col_ll(r, 0, 1);
  PQclear(r);
  long long add = 0;
  for (size_t i = 0; i < req->n_files; i++) add += req->files[i]->size;
  if (files + (long long)req->n_files > w->ctx->upload_daily_files ||
      bytes + add > w->ctx->upload_daily_bytes)
    return yw_rpc_call_fail(call, YW_ELIMIT,
                            "the department's uploads of today (%lld files, %lld bytes) and these"
                            " would pass its daily quota of %lld files and %lld bytes; try again"
                            " tomorrow",
                            files, bytes, (long long)w->ctx->upload_daily_files,
                            (long long)w->ctx->upload_daily_bytes);
  for (size_t i = 0; i < req->n_files; i++) {
    const FileRef *f = req->files[i];
    const char *pw[] = {f->sha256};
    rc = yw_pg_query(conn, "SELECT 1 FROM catalog.withdrawn_files WHERE sha256 = $1", 1, pw, &r,
                     err);
    if (rc != 0) return rc;
    int withdrawn = PQntuples(r) > 0;
    PQclear(r);
    if (withdrawn)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "files[%zu]: file %s was withdrawn and is not taken again", i,
                              f->sha256);
    char size[24];
    snprintf(size, sizeof size, "%lld", (long long)f->size);
    const char *pi[] = {f->sha256,
                        size,
                        f->content_type,
                        dept,
                        yw_caller_has_role(w->caller, "platform_admin") ? "true" : "false",
                        w->caller->subject};
    rc =
        yw_pg_query(conn,
                    "INSERT INTO catalog.item_file_uploads (sha256, size, content_type, department,"
                    " platform, actor) VALUES ($1, $2::bigint, $3, $4, $5::boolean, $6)",
                    6, pi, NULL, err);
    if (rc != 0) return rc;
  }
  return 0;
}

int catalog_upload_item_files(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  const Yiwang__Catalog__V1__UploadItemFilesRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "platform_admin,dept_admin",
                                    "uploading an item's files", &caller);
  if (rc != 0) return rc;
  if (req->n_files == 0 || req->n_files > UPLOAD_FILES_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "files: 1 to %d files", UPLOAD_FILES_MAX);
  for (size_t i = 0; i < req->n_files; i++)
    if (req->files[i] == NULL || !is_sha256(req->files[i]->sha256) || req->files[i]->size < 1)
      return yw_rpc_call_fail(call, YW_EINVAL, "files[%zu]: not a stored file", i);
  struct upload_work w = {&caller, req, ctx};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "the catalog database", upload_tx, &w);
  if (rc != 0) return rc;
  Yiwang__Catalog__V1__UploadItemFilesResponse *resp =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__upload_item_files_response__init(resp);
  resp->n_files = req->n_files;
  resp->files = req->files;
  yw_log(YW_LOG_INFO, "catalog.item_files_uploaded", yw_rpc_call_request_id(call),
         "%zu files uploaded by %s", req->n_files, caller.subject);
  *out = &resp->base;
  return 0;
}

/* ---- WithdrawItemFile ------------------------------------------------------------ */

#define REASON_MAX_BYTES 500

/* The withdrawal, the first one's record (a second withdrawal changes nothing), and how
 * many items' versions in effect still name the file. */
static const char WITHDRAW_SQL[] =
    "INSERT INTO catalog.withdrawn_files (sha256, reason, actor) VALUES ($1, $2, $3)"
    " ON CONFLICT (sha256) DO NOTHING RETURNING sha256";

static const char WITHDRAWN_SQL[] =
    "SELECT w.reason, w.actor, to_char(w.at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF:\"00\"'),"
    "       (SELECT count(*) FROM catalog.items i JOIN catalog.item_version_files f"
    "        ON f.item_id = i.id AND f.version = i.version WHERE f.files ? w.sha256)"
    " FROM catalog.withdrawn_files w WHERE w.sha256 = $1";

struct withdraw_work {
  const yw_caller *caller;
  const Yiwang__Catalog__V1__WithdrawItemFileRequest *req;
  Yiwang__Catalog__V1__WithdrawItemFileResponse *resp;
};

static int withdraw_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct withdraw_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {w->req->sha256, w->req->reason, w->caller->subject};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, WITHDRAW_SQL, 3, p, &r, err);
  if (rc != 0) return rc;
  int first = PQntuples(r) > 0;
  PQclear(r);
  if (first) {
    rc = catalog_audit(call, conn, w->caller, "item_file_withdraw", w->req->sha256, w->req->reason,
                       err);
    if (rc != 0) return rc;
  }
  rc = yw_pg_query(conn, WITHDRAWN_SQL, 1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return YW_EINTERNAL;
  }
  Yiwang__Catalog__V1__WithdrawItemFileResponse *resp = w->resp;
  resp->sha256 = (char *)w->req->sha256;
  resp->reason = yw_col_str(a, r, 0, 0);
  resp->actor = yw_col_str(a, r, 0, 1);
  resp->withdrawn_at = yw_col_str(a, r, 0, 2);
  resp->items_naming = (int32_t)yw_col_ll(r, 0, 3);
  PQclear(r);
  if (resp->reason == NULL || resp->actor == NULL || resp->withdrawn_at == NULL) return YW_ENOMEM;
  return 0;
}

int catalog_withdraw_item_file(yw_rpc_call *call, const ProtobufCMessage *reqm,
                               ProtobufCMessage **out, void *data) {
  const Yiwang__Catalog__V1__WithdrawItemFileRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "platform_admin",
                                    "withdrawing an item file", &caller);
  if (rc != 0) return rc;
  if (!is_sha256(req->sha256))
    return yw_rpc_call_fail(call, YW_EINVAL, "sha256: 64 lower-case hex digits");
  if (req->reason[0] == '\0' || strlen(req->reason) > REASON_MAX_BYTES)
    return yw_rpc_call_fail(call, YW_EINVAL, "reason is required (at most %d bytes)",
                            REASON_MAX_BYTES);
  Yiwang__Catalog__V1__WithdrawItemFileResponse *resp =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__withdraw_item_file_response__init(resp);
  struct withdraw_work w = {&caller, req, resp};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "the catalog database", withdraw_tx, &w);
  if (rc != 0) return rc;
  yw_log(YW_LOG_INFO, "catalog.item_file_withdrawn", yw_rpc_call_request_id(call),
         "file %s withdrawn by %s", req->sha256, caller.subject);
  *out = &resp->base;
  return 0;
}

/* ---- the references of a write ----------------------------------------------------- */

struct file_check {
  char field[64]; /* "item.details.forms[3].blank" */
  const FileRef *ref;
};

struct files_check {
  catalog_ctx *ctx;
  catalog_files_checked_fn done;
  void *arg;
  struct file_check refs[REFS_MAX];
  size_t n, next;
  Yiwang__Files__V1__StatRequest stat;
};

static void add_ref(struct files_check *c, const FileRef *f, const char *fmt, size_t i) {
  if (f == NULL || c->n >= REFS_MAX) return;
  for (size_t k = 0; k < c->n; k++) /* the same reference twice is checked once */
    if (strcmp(c->refs[k].ref->sha256, f->sha256) == 0 && c->refs[k].ref->size == f->size &&
        strcmp(c->refs[k].ref->content_type, f->content_type) == 0)
      return;
  snprintf(c->refs[c->n].field, sizeof c->refs[c->n].field, fmt, i);
  c->refs[c->n++].ref = f;
}

/* Refuses the write naming the field (also as the field violation). */
static int refuse(yw_rpc_call *call, const char *field, const char *reason, const char *fmt,
                  const char *detail) {
  char message[320];
  snprintf(message, sizeof message, fmt, field, detail);
  json_t *fields = json_pack("[{s:s, s:s}]", "field", field, "reason", reason);
  int rc = fields != NULL ? yw_service_fail_fields(call, message, fields)
                          : yw_rpc_call_fail(call, YW_EINVAL, "%s", message);
  json_decref(fields);
  return rc;
}

static int check_next(yw_rpc_call *call, struct files_check *c);

/* yw-files' answer about c->refs[c->next]. */
static void stat_done(yw_rpc_call *call, int code, ProtobufCMessage *response, const char *message,
                      void *arg) {
  struct files_check *c = arg;
  const struct file_check *fc = &c->refs[c->next];
  const Yiwang__Files__V1__StatResponse *st = (const void *)response;
  int rc = 0;
  if (code == YW_ENOTFOUND) {
    rc = refuse(call, fc->field, "FILE_NOT_STORED",
                "%s: the file store holds no file %s (upload it with POST /v1/item-files)",
                fc->ref->sha256);
  } else if (code != 0) {
    yw_log(YW_LOG_WARN, "catalog.files_unavailable", yw_rpc_call_request_id(call),
           "the file store did not answer a Stat: %s",
           message != NULL && message[0] != '\0' ? message : yw_strerror(code));
    rc = yw_rpc_call_fail(call, YW_EUNAVAIL,
                          "the file store cannot check %s now; nothing was written, try again",
                          fc->field);
  } else if (st->size != fc->ref->size) {
    char detail[64];
    snprintf(detail, sizeof detail, "%lld", (long long)st->size);
    rc = refuse(call, fc->field, "FILE_MISMATCH", "%s: the stored file has %s bytes", detail);
  } else if (strcmp(st->content_type, fc->ref->content_type) != 0) {
    rc = refuse(call, fc->field, "FILE_MISMATCH", "%s: the stored file is %s", st->content_type);
  }
  if (rc == 0) {
    c->next++;
    rc = check_next(call, c);
    if (rc == YW_RPC_DEFERRED) return;
  }
  c->done(call, rc, c->arg);
}

/* Starts the Stat of the next reference: YW_RPC_DEFERRED when it is on its way, 0 when
 * every one is checked, or the code (status set) when it could not start. */
static int check_next(yw_rpc_call *call, struct files_check *c) {
  if (c->next >= c->n) return 0;
  yiwang__files__v1__stat_request__init(&c->stat);
  c->stat.sha256 = c->refs[c->next].ref->sha256;
  int rc = yw_rpc_call_forward_within(call, c->ctx->files, "/yiwang.files.v1.FilesService/Stat",
                                      &c->stat.base, &yiwang__files__v1__stat_response__descriptor,
                                      c->ctx->files_wait_ms, stat_done, c);
  if (rc == 0) return YW_RPC_DEFERRED;
  return yw_rpc_call_fail(call, YW_EUNAVAIL, "the file store cannot be asked about %s: %s",
                          c->refs[c->next].field, yw_strerror(rc));
}

/* The references the stored item has already (sha256, size, content type), as rows. */
static const char STORED_REFS_SQL[] =
    "SELECT r.ref->>'sha256', r.ref->>'size', r.ref->>'contentType'"
    " FROM catalog.items i CROSS JOIN LATERAL catalog.details_refs(i.details) r"
    " WHERE i.impl_code = $1";

/* For each file of $1 (an array of SHA-256s, in its order): whether the department $2 (or
 * a platform administrator) uploaded it, and whether it is withdrawn; one round trip for
 * every reference of a write. */
static const char UPLOADED_SQL[] =
    "SELECT EXISTS (SELECT 1 FROM catalog.item_file_uploads u"
    "               WHERE u.sha256 = f.sha256 AND (u.department = $2 OR u.platform)),"
    "       EXISTS (SELECT 1 FROM catalog.withdrawn_files w WHERE w.sha256 = f.sha256)"
    " FROM unnest($1::text[]) WITH ORDINALITY AS f (sha256, n) ORDER BY f.n";

struct refs_work {
  const yw_caller *caller;
  const char *code;
  const char *department; /* the item's department once written */
  struct files_check *c;
};

/* 1 when the stored item names f with the same size and type: it was checked when it was
 * written (or seeded with its file), and a file an item names keeps its hold in the
 * store, so it is not asked about again. */
static int stored_ref(const PGresult *r, const FileRef *f) {
  char size[24];
  snprintf(size, sizeof size, "%lld", (long long)f->size);
  for (int i = 0; i < PQntuples(r); i++)
    if (strcmp(PQgetvalue(r, i, 0), f->sha256) == 0 && strcmp(PQgetvalue(r, i, 1), size) == 0 &&
        strcmp(PQgetvalue(r, i, 2), f->content_type) == 0)
      return 1;
  return 0;
}

/* The checks that need no file store, in this order: the stored item is the caller's to
 * write (so nothing about the store is answered to anyone else); every reference names
 * a file the item's department or a platform administrator uploaded (the stored item's
 * own references excepted), with one answer whether or not the store holds it; none is
 * withdrawn. Drops from c the references the stored item has already. */
static int check_refs_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct refs_work *w = arg;
  struct files_check *c = w->c;
  const char *p[] = {w->code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT department_code FROM catalog.items WHERE impl_code = $1", 1, p,
                       &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) > 0 && !yw_caller_has_role(w->caller, "platform_admin") &&
      strcmp(PQgetvalue(r, 0, 0), w->caller->department) != 0)
    rc = yw_rpc_call_fail(call, YW_EPERM, "item %s belongs to department %s", w->code,
                          PQgetvalue(r, 0, 0));
  PQclear(r);
  if (rc != 0) return rc;
  /* the references' SHA-256s as an array literal (validate_details kept only 64 hex
   * digits each: nothing to quote) */
  char shas[REFS_MAX * 65 + 3];
  size_t len = 0;
  shas[len++] = '{';
  for (size_t k = 0; k < c->n; k++)
    len += (size_t)snprintf(shas + len, sizeof shas - len, "%s%s", k > 0 ? "," : "",
                            c->refs[k].ref->sha256);
  snprintf(shas + len, sizeof shas - len, "}");
  const char *pu[] = {shas, w->department};
  PGresult *u = NULL;
  rc = yw_pg_query(conn, UPLOADED_SQL, 2, pu, &u, err);
  if (rc != 0) return rc;
  if ((size_t)PQntuples(u) != c->n) {
    PQclear(u);
    return YW_EINTERNAL;
  }
  rc = yw_pg_query(conn, STORED_REFS_SQL, 1, p, &r, err);
  if (rc != 0) {
    PQclear(u);
    return rc;
  }
  size_t kept = 0;
  for (size_t k = 0; rc == 0 && k < c->n; k++) {
    const struct file_check *fc = &c->refs[k];
    int stored = stored_ref(r, fc->ref);
    int uploaded = yw_col_bool(u, (int)k, 0), withdrawn = yw_col_bool(u, (int)k, 1);
    if (!stored && !uploaded)
      rc = refuse(call, fc->field, "FILE_NOT_UPLOADED",
                  "%s: names no file uploaded for the item's department (upload %s with POST"
                  " /v1/item-files)",
                  fc->ref->sha256);
    else if (withdrawn)
      rc = refuse(call, fc->field, "FILE_WITHDRAWN",
                  "%s: file %s was withdrawn and may not be named", fc->ref->sha256);
    else if (!stored)
      c->refs[kept++] = c->refs[k];
  }
  PQclear(r);
  PQclear(u);
  if (rc != 0) return rc;
  c->n = kept;
  return 0;
}

int catalog_files_check(yw_rpc_call *call, catalog_ctx *ctx, const yw_caller *caller,
                        const Yiwang__Catalog__V1__Item *it, catalog_files_checked_fn done,
                        void *arg) {
  const ItemDetails *d = it->details;
  if (d == NULL) return 0;
  struct files_check *c = yw_arena_calloc(yw_rpc_call_arena(call), 1, sizeof *c);
  if (c == NULL) return YW_ENOMEM;
  c->ctx = ctx;
  c->done = done;
  c->arg = arg;
  for (size_t i = 0; i < d->n_forms; i++) {
    add_ref(c, d->forms[i]->blank, "item.details.forms[%zu].blank", i);
    add_ref(c, d->forms[i]->sample, "item.details.forms[%zu].sample", i);
  }
  for (size_t i = 0; i < d->n_results; i++)
    add_ref(c, d->results[i]->sample, "item.details.results[%zu].sample", i);
  if (c->n == 0) return 0;
  struct refs_work rw = {caller, it->impl_code, it->department_code, c};
  int rc =
      yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "the catalog database", check_refs_tx, &rw);
  if (rc != 0) return rc;
  if (c->n == 0) return 0;
  if (ctx->files == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "no file store is configured (YW_CATALOG_FILES)");
  rc = yw_rpc_call_defer(call);
  if (rc != 0) return rc;
  rc = check_next(call, c);
  if (rc != YW_RPC_DEFERRED) done(call, rc, arg); /* it could not start: answer now */
  return YW_RPC_DEFERRED;
}
