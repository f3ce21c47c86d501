/*
 * files.c - handlers of yiwang.files.v1.FilesService over a files_store.
 *
 * An upload is BeginUpload, PutChunk in order (each at most 256 KiB, at the offset of
 * the bytes received so far), then Commit, which reads the staged bytes through (their
 * SHA-256, size and first bytes), checks them against what the sender computed and
 * the route's allowed types, and keeps them under their hash; a refused Commit drops
 * the upload, so nothing of a refused file stays. Uploads never committed are purged
 * by age (main.c). ReadRange and Stat serve downloads. Every Commit is a hold on its
 * blob; Release, the gateway's own (a signed caller with an empty via=), gives back
 * the holds of an upload whose owning service refused it, and the blob goes with its
 * last.
 *
 * Statuses: INVALID_ARGUMENT (malformed fields, hash or size mismatch), NOT_FOUND (no
 * such upload or file), FAILED_PRECONDITION (a chunk out of order; a type not allowed
 * or contradicting the declared one), RESOURCE_EXHAUSTED (past the size limit),
 * UNAUTHENTICATED (not called through the gateway), PERMISSION_DENIED (Release from
 * a service).
 *
 * Offers: files_service_init, files_check.
 */
#include "files.h"

#include <stdio.h>
#include <string.h>

#include "yiwang/files/v1/files.pb-c.h"
#include "yw_err.h"
#include "yw_service.h"

#define READ_MAX (1024 * 1024)

static int from_gateway(yw_rpc_call *call, files_ctx *ctx) {
  yw_caller who;
  return yw_rpc_call_caller(call, &ctx->caller_keys, &who);
}

static int64_t left(yw_rpc_call *call) { return yw_rpc_call_ms_left(call); }

static int is_sha256(const char *s) {
  return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int is_upload_id(const char *s) {
  return s != NULL && strlen(s) == FILES_UPLOAD_ID_LEN && strspn(s, "0123456789abcdef-") == 36;
}

/* A store failure as the call's status. */
static int store_fail(yw_rpc_call *call, int rc, const char *what) {
  switch (rc) {
  case YW_ENOTFOUND: return yw_rpc_call_fail(call, rc, "no such %s", what);
  case YW_ETOOBIG: return yw_rpc_call_fail(call, YW_ELIMIT, "the file is larger than allowed");
  case YW_EUNAVAIL: return yw_rpc_call_fail(call, rc, "the store is unavailable");
  case YW_ETIMEOUT: return yw_rpc_call_fail(call, rc, "the store did not answer in time");
  default: return yw_rpc_call_fail(call, rc, "%s", yw_strerror(rc));
  }
}

int files_check(const files_sealed *sealed, const char *sha256, int64_t size,
                const char *declared_type, const char *allowed, char *type_out,
                size_t type_size, const char **why) {
  if (sealed->size != size) {
    *why = "the size received differs from the size sent";
    return YW_EINVAL;
  }
  if (strcmp(sealed->sha256, sha256) != 0) {
    *why = "the SHA-256 of the bytes received differs from the one sent";
    return YW_EINVAL;
  }
  const char *sniffed = yw_sniff(sealed->head, sealed->head_len);
  if (!yw_sniff_agrees(sniffed, declared_type)) {
    *why = "the file's content is not of its declared type";
    return YW_EPRECOND;
  }
  const char *type = yw_sniff_resolve(sniffed, declared_type, type_out, type_size);
  if (!yw_sniff_allowed(type, allowed)) {
    *why = "this type of file is not accepted here";
    return YW_EPRECOND;
  }
  if (type != type_out) snprintf(type_out, type_size, "%s", type);
  return 0;
}

static int h_begin(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                   void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__BeginUploadRequest *req = (const void *)in;
  int rc = from_gateway(call, ctx);
  if (rc != 0) return rc;
  if (req->max_size < 0) return yw_rpc_call_fail(call, YW_EINVAL, "max_size is negative");
  int64_t max = req->max_size > 0 && req->max_size < ctx->max_size ? req->max_size : ctx->max_size;
  Yiwang__Files__V1__BeginUploadResponse *resp =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  char *id = yw_arena_alloc(yw_rpc_call_arena(call), FILES_UPLOAD_ID_LEN + 1);
  if (resp == NULL || id == NULL) return YW_ENOMEM;
  yiwang__files__v1__begin_upload_response__init(resp);
  rc = ctx->store->ops->begin(ctx->store, max, id, left(call));
  if (rc != 0) return store_fail(call, rc, "upload");
  resp->upload_id = id;
  *out = &resp->base;
  return 0;
}

static int h_put(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                 void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__PutChunkRequest *req = (const void *)in;
  int rc = from_gateway(call, ctx);
  if (rc != 0) return rc;
  if (!is_upload_id(req->upload_id)) return yw_rpc_call_fail(call, YW_EINVAL, "malformed upload_id");
  if (req->data.len == 0 || req->data.len > FILES_CHUNK_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "a chunk holds 1 to %d bytes", FILES_CHUNK_MAX);
  int64_t received = 0;
  rc = ctx->store->ops->put(ctx->store, req->upload_id, req->offset, req->data.data, req->data.len,
                            &received, left(call));
  if (rc == YW_EPRECOND)
    return yw_rpc_call_fail(call, rc, "chunks come in order: the next offset is %lld",
                            (long long)received);
  if (rc != 0) return store_fail(call, rc, "upload");
  Yiwang__Files__V1__PutChunkResponse *resp = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__files__v1__put_chunk_response__init(resp);
  resp->received = received;
  *out = &resp->base;
  return 0;
}

/* The allowed types of a Commit as one comma-separated list in the arena. */
static char *allowed_list(yw_arena *a, const Yiwang__Files__V1__CommitRequest *req) {
  size_t n = 1;
  for (size_t i = 0; i < req->n_allowed_types; i++) n += strlen(req->allowed_types[i]) + 1;
  char *s = yw_arena_alloc(a, n);
  if (s == NULL) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < req->n_allowed_types; i++) {
    size_t k = strlen(req->allowed_types[i]);
    if (o > 0) s[o++] = ',';
    memcpy(s + o, req->allowed_types[i], k);
    o += k;
  }
  s[o] = '\0';
  return s;
}

static int h_commit(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                    void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__CommitRequest *req = (const void *)in;
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = from_gateway(call, ctx);
  if (rc != 0) return rc;
  if (!is_upload_id(req->upload_id)) return yw_rpc_call_fail(call, YW_EINVAL, "malformed upload_id");
  if (!is_sha256(req->sha256))
    return yw_rpc_call_fail(call, YW_EINVAL, "sha256 must be 64 lower-case hex digits");
  if (strlen(req->name) > 255 || strlen(req->declared_type) > 127)
    return yw_rpc_call_fail(call, YW_EINVAL, "name or declared_type too long");
  char *allowed = allowed_list(a, req);
  Yiwang__Files__V1__CommitResponse *resp = yw_arena_alloc(a, sizeof *resp);
  Yiwang__Files__V1__FileRef *ref = yw_arena_alloc(a, sizeof *ref);
  char *type = yw_arena_alloc(a, 128);
  char *sha = yw_arena_strndup(a, req->sha256, 64);
  if (allowed == NULL || resp == NULL || ref == NULL || type == NULL || sha == NULL)
    return YW_ENOMEM;
  files_sealed sealed;
  rc = ctx->store->ops->seal(ctx->store, req->upload_id, &sealed, left(call));
  if (rc != 0) return store_fail(call, rc, "upload");
  const char *why = NULL;
  rc = files_check(&sealed, req->sha256, req->size, req->declared_type, allowed, type, 128, &why);
  if (rc != 0) {
    /* a refused file leaves nothing behind */
    ctx->store->ops->abort(ctx->store, req->upload_id, left(call));
    return yw_rpc_call_fail(call, rc, "%s", why);
  }
  int existed = 0;
  rc = ctx->store->ops->keep(ctx->store, req->upload_id, &sealed, type, &existed, left(call));
  if (rc != 0) return store_fail(call, rc, "upload");
  yiwang__files__v1__commit_response__init(resp);
  yiwang__files__v1__file_ref__init(ref);
  ref->sha256 = sha;
  ref->size = sealed.size;
  ref->content_type = type;
  ref->name = req->name;
  resp->file = ref;
  resp->existed = existed;
  *out = &resp->base;
  return 0;
}

static int h_abort(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                   void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__AbortUploadRequest *req = (const void *)in;
  int rc = from_gateway(call, ctx);
  if (rc != 0) return rc;
  if (!is_upload_id(req->upload_id)) return yw_rpc_call_fail(call, YW_EINVAL, "malformed upload_id");
  rc = ctx->store->ops->abort(ctx->store, req->upload_id, left(call));
  if (rc != 0 && rc != YW_ENOTFOUND) return store_fail(call, rc, "upload");
  Yiwang__Files__V1__AbortUploadResponse *resp = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__files__v1__abort_upload_response__init(resp);
  *out = &resp->base;
  return 0;
}

static int h_stat(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                  void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__StatRequest *req = (const void *)in;
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = from_gateway(call, ctx);
  if (rc != 0) return rc;
  if (!is_sha256(req->sha256)) return yw_rpc_call_fail(call, YW_EINVAL, "malformed sha256");
  files_stat st;
  rc = ctx->store->ops->stat(ctx->store, req->sha256, &st, left(call));
  if (rc != 0) return store_fail(call, rc, "file");
  Yiwang__Files__V1__StatResponse *resp = yw_arena_alloc(a, sizeof *resp);
  char *type = yw_arena_strndup(a, st.content_type, (size_t)-1);
  if (resp == NULL || type == NULL) return YW_ENOMEM;
  yiwang__files__v1__stat_response__init(resp);
  resp->size = st.size;
  resp->content_type = type;
  *out = &resp->base;
  return 0;
}

static int h_read(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                  void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__ReadRangeRequest *req = (const void *)in;
  yw_arena *a = yw_rpc_call_arena(call);
  int rc = from_gateway(call, ctx);
  if (rc != 0) return rc;
  if (!is_sha256(req->sha256)) return yw_rpc_call_fail(call, YW_EINVAL, "malformed sha256");
  if (req->offset < 0 || req->length < 0 || req->length > READ_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "offset >= 0 and length 0 to %d", READ_MAX);
  uint8_t *buf = yw_arena_alloc(a, (size_t)req->length + 1);
  Yiwang__Files__V1__ReadRangeResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (buf == NULL || resp == NULL) return YW_ENOMEM;
  files_stat st;
  size_t got = 0;
  rc = ctx->store->ops->read(ctx->store, req->sha256, req->offset, (size_t)req->length, buf, &got,
                             &st, left(call));
  if (rc != 0) return store_fail(call, rc, "file");
  char *type = yw_arena_strndup(a, st.content_type, (size_t)-1);
  if (type == NULL) return YW_ENOMEM;
  yiwang__files__v1__read_range_response__init(resp);
  resp->data.data = buf;
  resp->data.len = got;
  resp->size = st.size;
  resp->content_type = type;
  *out = &resp->base;
  return 0;
}

#define RELEASE_MAX 64

static int h_release(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                     void *data) {
  files_ctx *ctx = data;
  const Yiwang__Files__V1__ReleaseRequest *req = (const void *)in;
  yw_caller who;
  int rc = yw_rpc_call_caller(call, &ctx->caller_keys, &who);
  if (rc != 0) return rc;
  /* the gateway's alone: it releases what its own request committed, once; a service
   * (via= not empty) could otherwise drop files others hold */
  if (who.via[0] != '\0')
    return yw_rpc_call_fail(call, YW_EPERM, "only the gateway releases files");
  if (req->n_sha256s > RELEASE_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "at most %d sha256s", RELEASE_MAX);
  for (size_t i = 0; i < req->n_sha256s; i++)
    if (!is_sha256(req->sha256s[i]))
      return yw_rpc_call_fail(call, YW_EINVAL, "sha256 must be 64 lower-case hex digits");
  int released = 0, deleted = 0;
  for (size_t i = 0; i < req->n_sha256s; i++) {
    int gone = 0;
    rc = ctx->store->ops->release(ctx->store, req->sha256s[i], &gone, left(call));
    if (rc == YW_ENOTFOUND) continue;
    if (rc != 0) return store_fail(call, rc, "file");
    released++;
    deleted += gone;
  }
  Yiwang__Files__V1__ReleaseResponse *resp = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__files__v1__release_response__init(resp);
  resp->released = released;
  resp->deleted = deleted;
  *out = &resp->base;
  return 0;
}

/* designated: the table keeps its meaning when yw_rpc_method grows */
static const yw_rpc_method methods[] = {
    {.name = "BeginUpload", .fn = h_begin}, {.name = "PutChunk", .fn = h_put},
    {.name = "Commit", .fn = h_commit},     {.name = "AbortUpload", .fn = h_abort},
    {.name = "Stat", .fn = h_stat},         {.name = "ReadRange", .fn = h_read},
    {.name = "Release", .fn = h_release},
};

void files_service_init(yw_rpc_service *svc, files_ctx *ctx) {
  svc->descriptor = &yiwang__files__v1__files_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
}
