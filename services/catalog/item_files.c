/*
 * item_files.c - an item's files: the blank and sample forms (空表, 样表) and the samples
 * of its results (审批结果样本) its guide names as yiwang.files.v1.FileRef.
 *
 *   GetItemFile      before the gateway answers GET /v1/items/{code}/files/{sha256}: OK
 *                    with the name the item gives the file when the item's published
 *                    version (or the version asked for, read as GetItem reads it)
 *                    names it; NOT_FOUND otherwise, so a draft's files, another item's
 *                    and files no item names are not served through an item. Public.
 *   UploadItemFiles  a department's files, stored by the gateway's upload phase: the
 *                    administrators who write items get their FileRefs back. The
 *                    gateway's hold on each blob (services/files/README.md) stays with
 *                    this OK, so a file an item may name is never purged.
 *   catalog_files_check  before UpsertItem writes: every reference the stored item does
 *                    not have already must name a file the store holds (Stat) with the
 *                    size and content type it says. The
 *                    checks run one after another on the deferred call, each bounded by
 *                    YW_CATALOG_FILES_WAIT_MS; a store that does not answer makes the
 *                    write UNAVAILABLE, never a write of an unchecked reference.
 *
 * Offers: catalog_get_item_file, catalog_upload_item_files, catalog_files_check.
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

int catalog_get_item_file(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Catalog__V1__GetItemFileRequest *req = (const void *)reqm;
  catalog_ctx *ctx = data;
  if (req->code[0] == '\0') return yw_rpc_call_fail(call, YW_EINVAL, "code is required");
  if (!is_sha256(req->sha256))
    return yw_rpc_call_fail(call, YW_EINVAL, "sha256: 64 lower-case hex digits");
  if (req->version < 0) return yw_rpc_call_fail(call, YW_EINVAL, "version must be 1 or more");
  Yiwang__Catalog__V1__Item *it = NULL;
  int rc = catalog_read_item(call, ctx, req->code, req->version, &it);
  if (rc != 0) return rc;
  const char *name = named_file(it->details, req->sha256);
  if (name == NULL)
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "item %s names no file %s", req->code, req->sha256);
  Yiwang__Catalog__V1__GetItemFileResponse *resp =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__get_item_file_response__init(resp);
  resp->name = (char *)name;
  *out = &resp->base;
  return 0;
}

/* ---- UploadItemFiles ------------------------------------------------------------- */

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
    "SELECT f->>'sha256', f->>'size', f->>'contentType'"
    " FROM catalog.items i CROSS JOIN LATERAL ("
    "  SELECT x->'blank' FROM jsonb_array_elements(COALESCE(i.details->'forms', '[]')) x"
    "  UNION ALL SELECT x->'sample' FROM jsonb_array_elements(COALESCE(i.details->'forms', '[]')) x"
    "  UNION ALL SELECT x->'sample' FROM jsonb_array_elements(COALESCE(i.details->'results', "
    "'[]')) x"
    " ) s(f) WHERE i.impl_code = $1 AND f IS NOT NULL AND jsonb_typeof(f) = 'object'";

struct stored_work {
  const char *code;
  struct files_check *c;
};

/* Drops from c the references the stored item has with the same size and type: they
 * were checked when they were written (or seeded with their files), and a file an item
 * names keeps its hold in the store, so only a new reference is asked about. */
static int drop_stored(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  struct stored_work *w = arg;
  struct files_check *c = w->c;
  const char *p[] = {w->code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, STORED_REFS_SQL, 1, p, &r, err);
  if (rc != 0) return rc;
  size_t kept = 0;
  for (size_t k = 0; k < c->n; k++) {
    const FileRef *f = c->refs[k].ref;
    char size[24];
    snprintf(size, sizeof size, "%lld", (long long)f->size);
    int stored = 0;
    for (int i = 0; i < PQntuples(r) && !stored; i++)
      stored = strcmp(PQgetvalue(r, i, 0), f->sha256) == 0 &&
               strcmp(PQgetvalue(r, i, 1), size) == 0 &&
               strcmp(PQgetvalue(r, i, 2), f->content_type) == 0;
    if (!stored) c->refs[kept++] = c->refs[k];
  }
  c->n = kept;
  PQclear(r);
  return 0;
}

int catalog_files_check(yw_rpc_call *call, catalog_ctx *ctx, const char *code, const ItemDetails *d,
                        catalog_files_checked_fn done, void *arg) {
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
  struct stored_work sw = {code, c};
  int rc =
      yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "the catalog database", drop_stored, &sw);
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
