/*
 * gw_upload.c - the upload and download phases (gw_upload.h): files between clients
 * and the file store, yw-files, over the worker's own gRPC client (gw_upstream.c).
 *
 * An upload is a loop (drive) over what is left to do, one step at a time: a call to
 * the store in flight suspends the request, and its answer runs the loop again on the
 * worker's loop. The steps, in order of precedence:
 *   - the current file's first bytes are in: check its type (415), BeginUpload;
 *   - its chunk buffer is full (256 KiB), or the file ended: PutChunk;
 *   - the file ended and everything is stored: its SHA-256 is final;
 *   - bytes handed out by the parser and not yet buffered: buffer them (413 past the
 *     route's max_bytes), hashing as they go;
 *   - more body: feed the multipart parser, whose callbacks pause it at each file
 *     byte run and part end, so no more than one chunk is ever held;
 *   - the body is read and good: Commit each file, then the request message gets the
 *     FileRefs and goes on to the upstream phase.
 * Each Commit takes a hold on its blob in the store (the same bytes committed by
 * another request hold it too). The request remembers what it committed (held); when
 * the upload fails after a Commit, or the method answers anything but OK
 * (gw_upload_release, from the upstream phase), it gives those holds back with one
 * Release, once, and nobody waits for it: a refused request leaves no file behind,
 * and a blob that a good upload holds stays.
 * The parser's data pointers stay valid while paused: they point into the request's
 * body, or into the parser's delimiter. An upload route's body is streamed
 * (gw_request_body_stream): the connection holds at most GW_BODY_STREAM_BUF bytes of
 * it, the loop gives back what it has read (gw_conn_body_taken) before reading on, and
 * waits (body_wait) when the next bytes have not come yet; so a request holds a chunk
 * and a read buffer, never its files, and the client sends only as fast as the store
 * takes (HTTP/2's window, HTTP/1.1's socket).
 *
 * A download is the owner's authorisation, Stat (ETag, 304, Range, 416), then the file
 * streamed (gw_conn_stream_write, with its length): one ReadRange in flight at a time,
 * the next started from the connection's writable signal once less than READ_AHEAD of
 * the last piece waits for the client, each piece unpacked outside the arena and freed
 * once written, so a download of any size holds about one piece.
 *
 * Offers: gw_phase_upload, gw_upload_release, gw_phase_download.
 */
#include "gw_upload.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_metrics.h"
#include "gw_multipart.h"
#include "gw_static.h"
#include "yiwang/files/v1/files.pb-c.h"
#include "yw_err.h"
#include "yw_json.h"
#include "yw_log.h"
#include "yw_sniff.h"

#define CHUNK (256 * 1024)      /* a PutChunk's bytes: the store's most */
#define READ_PIECE (1024 * 1024) /* a ReadRange's bytes: the store's most */
#define MAX_FILES 16
#define FIELD_MAX 8192          /* a form field's value */
#define PACK_SLACK 256          /* a PutChunk's fields around its data */
#define FILES_SVC "/yiwang.files.v1.FilesService/"

/* ---- calls to the store and to services ----------------------------------------- */

static gw_upstream_client *client_named(gw_req *r, const char *name) {
  for (size_t i = 0; i < gw.n_upstreams; i++)
    if (strcmp(gw.upstreams[i].name, name) == 0) return r->worker->up[i];
  return NULL;
}

static int64_t timeout_of(const gw_req *r) {
  return r->route->def->timeout_ms > 0 ? r->route->def->timeout_ms : gw.cfg.timeout_ms;
}

/* Where a call's signed caller is written: YW_CALLER_VALUE_MAX and 65 bytes. */
typedef struct caller_buf {
  char value[YW_CALLER_VALUE_MAX];
  char sig[65];
} caller_buf;

/*
 * Calls method on upstream with msg (packed into r's arena) and the caller signed for
 * that method, as the upstream phase does. done gets arg; r is held until done runs
 * (the callee gives it back). handle: where the call's handle goes (NULL: none).
 * cb: where the caller is signed (it must live until the call ends), or NULL for new
 * room in the arena (a request making many calls passes its own, so that its arena
 * does not grow by each).
 * Returns 0, or a YW_E* code when the call could not start (done will not run).
 */
static int call_signed(gw_req *r, const char *upstream, const char *method,
                       const ProtobufCMessage *msg, const uint8_t *packed, size_t packed_len,
                       gw_upstream_done_fn done, void *arg, gw_upstream_pending **handle,
                       caller_buf *cb) {
  gw_upstream_client *up = client_named(r, upstream);
  if (up == NULL) return YW_EUNAVAIL;
  uint8_t *buf = (uint8_t *)packed;
  size_t len = packed_len;
  if (msg != NULL) {
    len = protobuf_c_message_get_packed_size(msg);
    buf = yw_arena_alloc(r->arena, len + 1);
    if (buf == NULL) return YW_ENOMEM;
    protobuf_c_message_pack(msg, buf);
  }
  r->caller.ts = (long long)time(NULL);
  if (cb == NULL) cb = yw_arena_alloc(r->arena, sizeof *cb);
  char *caller = cb != NULL ? cb->value : NULL;
  char *sig = cb != NULL ? cb->sig : NULL;
  if (caller == NULL || sig == NULL ||
      yw_caller_encode(&r->caller, gw.caller_key, method, r->request_id, caller,
                       YW_CALLER_VALUE_MAX, sig) != 0)
    return YW_EINTERNAL;
  yw_rpc_md md[3] = {{"x-request-id", r->request_id, 0},
                     {"x-yw-caller", caller, 0},
                     {"x-yw-caller-sig", sig, 0}};
  r->refs++;
  int rc = gw_upstream_call(up, method, buf, len, md, 3, timeout_of(r), done, arg, handle);
  if (rc != 0) r->refs--;
  return rc;
}

static int call(gw_req *r, const char *upstream, const char *method, const ProtobufCMessage *msg,
                const uint8_t *packed, size_t packed_len, gw_upstream_done_fn done, void *arg,
                gw_upstream_pending **handle) {
  return call_signed(r, upstream, method, msg, packed, packed_len, done, arg, handle, NULL);
}

/* An upstream's failure as the answer (the upstream phase's wording). */
static void answer_failure(gw_req *r, grpc_status_code st, const char *message) {
  const char *msg = message != NULL && message[0] != '\0' ? message : "the call failed";
  if (st == GRPC_STATUS_UNAVAILABLE)
    msg = "the service is unavailable, try again shortly";
  else if (st == GRPC_STATUS_DEADLINE_EXCEEDED)
    msg = "the service did not answer in time";
  else if (st == GRPC_STATUS_INTERNAL || st == GRPC_STATUS_UNKNOWN)
    msg = "internal error";
  gw_answer_error(r, st, msg);
}

static void release_only(void *arg, const gw_upstream_result *res) {
  (void)res;
  gw_req_unref(arg);
}

/* ---- uploads --------------------------------------------------------------------- */

typedef struct up_file {
  const char *name;     /* declared file name */
  const char *declared; /* declared content type */
  char upload_id[40];   /* "" until BeginUpload answered */
  char sha256[65];
  int64_t size;
  ProtobufCMessage *ref; /* the FileRef once committed */
  int held;              /* committed: one hold of the blob is this request's */
} up_file;

enum action { ACT_NONE, ACT_BEGIN, ACT_PUT, ACT_COMMIT };

typedef struct gw_upload {
  gw_req *r;
  const gw_upload_def *def;
  ProtobufCMessage *msg; /* the request message, from the route phase's payload */
  gw_multipart mp;
  int parsed;            /* the whole body is read */
  size_t body_off;
  const uint8_t *rest;   /* file bytes handed out, not yet buffered */
  size_t rest_len;
  up_file files[MAX_FILES];
  int n_files;
  up_file *cur;          /* the file being read */
  int cur_ended;         /* its part ended */
  int begun;             /* its BeginUpload answered */
  uint8_t *chunk;        /* CHUNK bytes */
  uint8_t *packed;       /* CHUNK + PACK_SLACK: a PutChunk request packed */
  size_t chunk_len;
  int64_t put_off;       /* bytes of the current file stored */
  EVP_MD_CTX *md;
  int in_field;          /* a form field's part */
  char field_name[128];
  char *field_val;       /* FIELD_MAX + 1 */
  size_t field_len;
  int committed;         /* files committed */
  enum action pending;
  int err_http;          /* the refusal found, if any: HTTP status (0: from err_status) */
  grpc_status_code err_status;
  const char *err_msg;
} gw_upload;

static void fail(gw_upload *u, int http, grpc_status_code st, const char *msg) {
  if (u->err_msg != NULL) return;
  u->err_http = http;
  u->err_status = st;
  u->err_msg = msg;
}

static int names_field(const ProtobufCFieldDescriptor *f, const char *name) {
  char json[128];
  return strcmp(f->name, name) == 0 ||
         (yw_json_name(f->name, json, sizeof json) == 0 && strcmp(json, name) == 0);
}

/* A new file part: its name and declared type kept, its hash begun. 0 or -1. */
static int start_file(gw_upload *u, const char *name, const char *declared) {
  yw_arena *a = u->r->arena;
  if (u->n_files >= u->def->max_files || u->n_files >= MAX_FILES) {
    fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "too many files in one request");
    return -1;
  }
  up_file *f = &u->files[u->n_files++];
  f->name = yw_arena_strndup(a, name, (size_t)-1);
  f->declared = yw_arena_strndup(a, declared, (size_t)-1);
  if (f->name == NULL || f->declared == NULL) {
    fail(u, 0, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return -1;
  }
  u->cur = f;
  u->cur_ended = 0;
  u->begun = 0;
  u->chunk_len = 0;
  u->put_off = 0;
  if (EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1) {
    fail(u, 0, GRPC_STATUS_INTERNAL, "cannot hash");
    return -1;
  }
  return 0;
}

static int on_part_begin(void *arg, const gw_mp_part *p) {
  gw_upload *u = arg;
  if (!p->has_filename) { /* a form field: its value, then set by name at its end */
    u->in_field = 1;
    u->field_len = 0;
    snprintf(u->field_name, sizeof u->field_name, "%s", p->name);
    return 0;
  }
  if (!names_field(u->r->route->upload_field, p->name)) {
    fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "a file came in a field that takes none");
    return -1;
  }
  return start_file(u, p->filename, p->content_type);
}

static int on_part_data(void *arg, const uint8_t *d, size_t n) {
  gw_upload *u = arg;
  if (u->in_field) {
    if (u->field_len + n > FIELD_MAX) {
      fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "a form field is too long");
      return -1;
    }
    memcpy(u->field_val + u->field_len, d, n);
    u->field_len += n;
    return 0;
  }
  /* a file's bytes: buffered and sent by drive before the parser reads on */
  u->rest = d;
  u->rest_len = n;
  return GW_MP_PAUSE;
}

static int on_part_end(void *arg) {
  gw_upload *u = arg;
  if (u->in_field) {
    u->in_field = 0;
    u->field_val[u->field_len] = '\0';
    if (memchr(u->field_val, '\0', u->field_len) != NULL) {
      fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "a form field holds a NUL byte");
      return -1;
    }
    yw_json_error je;
    if (yw_json_set_field_text(u->msg, u->field_name, u->field_val,
                               yw_arena_allocator(u->r->arena), &je) != 0) {
      char *m = yw_arena_alloc(u->r->arena, 512);
      if (m != NULL) snprintf(m, 512, "form field %.120s: %.300s", u->field_name, je.text);
      fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, m != NULL ? m : "a form field is not valid");
      return -1;
    }
    return 0;
  }
  u->cur_ended = 1;
  return GW_MP_PAUSE;
}

static const gw_mp_callbacks mp_callbacks = {on_part_begin, on_part_data, on_part_end};

static void on_store_answer(void *arg, const gw_upstream_result *res);

/* msg is packed into the arena, or, when it is NULL, packed[0..len) is sent as it is. */
static int start_store_call(gw_upload *u, enum action act, const char *method,
                            const ProtobufCMessage *msg, const uint8_t *packed, size_t len) {
  u->pending = act;
  int rc = call(u->r, "files", method, msg, packed, len, on_store_answer, u, &u->r->up_call);
  if (rc != 0) {
    u->pending = ACT_NONE;
    fail(u, 0, GRPC_STATUS_UNAVAILABLE,
         rc == YW_EUNAVAIL ? "the file store is not configured" : "cannot call the file store");
  }
  return rc;
}

static int call_begin(gw_upload *u) {
  Yiwang__Files__V1__BeginUploadRequest req = YIWANG__FILES__V1__BEGIN_UPLOAD_REQUEST__INIT;
  req.max_size = u->def->max_bytes;
  return start_store_call(u, ACT_BEGIN, FILES_SVC "BeginUpload", &req.base, NULL, 0);
}

static int call_put(gw_upload *u) {
  Yiwang__Files__V1__PutChunkRequest req = YIWANG__FILES__V1__PUT_CHUNK_REQUEST__INIT;
  req.upload_id = u->cur->upload_id;
  req.offset = u->put_off;
  req.data.data = u->chunk;
  req.data.len = u->chunk_len;
  /* packed into the one buffer every chunk of the request uses (the call before has
   * ended), not into the arena: a file costs one chunk of memory, not its size */
  size_t len = protobuf_c_message_get_packed_size(&req.base);
  if (len > CHUNK + PACK_SLACK) {
    fail(u, 0, GRPC_STATUS_INTERNAL, "a chunk does not fit its buffer");
    return -1;
  }
  protobuf_c_message_pack(&req.base, u->packed);
  return start_store_call(u, ACT_PUT, FILES_SVC "PutChunk", NULL, u->packed, len);
}

static int call_commit(gw_upload *u) {
  up_file *f = &u->files[u->committed];
  Yiwang__Files__V1__CommitRequest req = YIWANG__FILES__V1__COMMIT_REQUEST__INIT;
  req.upload_id = f->upload_id;
  req.name = (char *)f->name;
  req.declared_type = (char *)f->declared;
  req.sha256 = f->sha256;
  req.size = f->size;
  char *types = (char *)(u->def->types != NULL ? u->def->types : "");
  if (types[0] != '\0') {
    req.allowed_types = &types;
    req.n_allowed_types = 1; /* the store reads a comma-separated list as one */
  }
  return start_store_call(u, ACT_COMMIT, FILES_SVC "Commit", &req.base, NULL, 0);
}

/* Frees what is not in the arena. */
static void upload_free(gw_upload *u) {
  EVP_MD_CTX_free(u->md);
  u->md = NULL;
}

static void on_release_answer(void *arg, const gw_upstream_result *res) {
  gw_req *r = arg;
  gw_metrics_file_release(res->status == GRPC_STATUS_OK);
  if (res->status != GRPC_STATUS_OK)
    yw_log(YW_LOG_WARN, "gateway.release_failed", r->request_id,
           "the files of a refused upload stay stored: Release answered %s",
           yw_grpc_status_name(res->status));
  gw_req_unref(r);
}

/* Gives back the holds this request's Commits took (once: they are forgotten). */
static void release_held(gw_upload *u) {
  char *shas[MAX_FILES];
  size_t n = 0;
  for (int i = 0; i < u->n_files; i++) {
    if (!u->files[i].held) continue;
    u->files[i].held = 0;
    shas[n++] = u->files[i].sha256;
  }
  if (n == 0) return;
  Yiwang__Files__V1__ReleaseRequest req = YIWANG__FILES__V1__RELEASE_REQUEST__INIT;
  req.sha256s = shas;
  req.n_sha256s = n;
  int rc = call(u->r, "files", FILES_SVC "Release", &req.base, NULL, 0, on_release_answer, u->r,
                NULL);
  if (rc != 0) {
    gw_metrics_file_release(0);
    yw_log(YW_LOG_WARN, "gateway.release_failed", u->r->request_id,
           "the files of a refused upload stay stored: %s", yw_strerror(rc));
  }
}

void gw_upload_release(gw_req *r) {
  if (r->upload != NULL) release_held(r->upload);
}

/* Drops the uploads begun and not committed (the store purges any we miss), and gives
 * back the holds of those committed. */
static void abort_staged(gw_upload *u) {
  release_held(u);
  for (int i = 0; i < u->n_files; i++) {
    up_file *f = &u->files[i];
    if (f->upload_id[0] == '\0' || f->ref != NULL) continue;
    Yiwang__Files__V1__AbortUploadRequest req = YIWANG__FILES__V1__ABORT_UPLOAD_REQUEST__INIT;
    req.upload_id = f->upload_id;
    call(u->r, "files", FILES_SVC "AbortUpload", &req.base, NULL, 0, release_only, u->r, NULL);
  }
}

static enum gw_phase_result finish_error(gw_upload *u) {
  abort_staged(u);
  upload_free(u);
  if (u->err_http != 0)
    gw_answer_http_error(u->r, u->err_http, u->err_status, u->err_msg);
  else
    answer_failure(u->r, u->err_status, u->err_msg);
  return GW_DONE;
}

/* The FileRefs into the request message, packed for the upstream phase. */
static enum gw_phase_result finish_ok(gw_upload *u) {
  gw_req *r = u->r;
  upload_free(u);
  const ProtobufCFieldDescriptor *fd = r->route->upload_field;
  if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
    ProtobufCMessage **refs = yw_arena_alloc(r->arena, (size_t)u->n_files * sizeof *refs);
    if (refs == NULL) {
      gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      return GW_DONE;
    }
    for (int i = 0; i < u->n_files; i++) refs[i] = u->files[i].ref;
    *(size_t *)((char *)u->msg + fd->quantifier_offset) = (size_t)u->n_files;
    *(ProtobufCMessage ***)((char *)u->msg + fd->offset) = refs;
  } else {
    *(ProtobufCMessage **)((char *)u->msg + fd->offset) = u->files[0].ref;
  }
  size_t len = protobuf_c_message_get_packed_size(u->msg);
  uint8_t *buf = yw_arena_alloc(r->arena, len + 1);
  if (buf == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  protobuf_c_message_pack(u->msg, buf);
  r->payload = buf;
  r->payload_len = len;
  return GW_NEXT;
}

/* The current file's first bytes are in: may its type come in? */
static int type_ok(gw_upload *u) {
  const char *sniffed = yw_sniff(u->chunk, u->chunk_len);
  char buf[128];
  const char *type = yw_sniff_resolve(sniffed, u->cur->declared, buf, sizeof buf);
  if (!yw_sniff_agrees(sniffed, u->cur->declared)) {
    fail(u, 415, GRPC_STATUS_INVALID_ARGUMENT, "a file's content is not of its declared type");
    return 0;
  }
  if (!yw_sniff_allowed(type, u->def->types)) {
    fail(u, 415, GRPC_STATUS_INVALID_ARGUMENT, "this type of file is not accepted here");
    return 0;
  }
  return 1;
}

static int file_done(gw_upload *u) {
  uint8_t digest[32];
  unsigned n = 0;
  if (EVP_DigestFinal_ex(u->md, digest, &n) != 1 || n != 32) {
    fail(u, 0, GRPC_STATUS_INTERNAL, "cannot hash");
    return -1;
  }
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    u->cur->sha256[2 * i] = hex[digest[i] >> 4];
    u->cur->sha256[2 * i + 1] = hex[digest[i] & 15];
  }
  u->cur->sha256[64] = '\0';
  u->cur = NULL;
  return 0;
}

static void on_body_more(gw_req *r, void *arg);

/* Takes the next step of the upload (see the file's comment). */
static enum gw_phase_result drive(gw_upload *u) {
  gw_req *r = u->r;
  for (;;) {
    if (u->err_msg != NULL) return finish_error(u);
    up_file *f = u->cur;
    int ended = u->cur_ended && u->rest_len == 0;
    if (f != NULL) {
      if (!u->begun && (u->chunk_len >= YW_SNIFF_BYTES || ended)) {
        if (u->chunk_len == 0)
          fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "a file is empty");
        else if (type_ok(u) && call_begin(u) == 0)
          return GW_SUSPEND;
        continue;
      }
      if (u->begun && u->chunk_len > 0 && (u->chunk_len == CHUNK || ended)) {
        if (call_put(u) == 0) return GW_SUSPEND;
        continue;
      }
      if (u->begun && ended) {
        file_done(u);
        continue;
      }
    }
    if (u->rest_len > 0) {
      size_t k = CHUNK - u->chunk_len;
      if (k > u->rest_len) k = u->rest_len;
      if (f->size + (int64_t)k > (int64_t)u->def->max_bytes) {
        fail(u, 413, GRPC_STATUS_RESOURCE_EXHAUSTED, "a file is larger than this route takes");
        continue;
      }
      memcpy(u->chunk + u->chunk_len, u->rest, k);
      if (EVP_DigestUpdate(u->md, u->rest, k) != 1) fail(u, 0, GRPC_STATUS_INTERNAL, "cannot hash");
      u->chunk_len += k;
      f->size += (int64_t)k;
      u->rest += k;
      u->rest_len -= k;
      continue;
    }
    if (!u->parsed) {
      if (r->body_overflow) {
        fail(u, 413, GRPC_STATUS_RESOURCE_EXHAUSTED, "the request body is larger than this route takes");
        continue;
      }
      /* a streamed body: what the parser has read is given back (nothing points into
       * it any more: the bytes handed out are buffered), so the connection reads on */
      if (r->body_stream && u->body_off > 0) {
        size_t n = u->body_off;
        u->body_off = 0;
        gw_conn_body_taken(r, n);
      }
      if (u->body_off < r->body_len && u->def->raw) {
        u->rest = r->body + u->body_off; /* the body is the file */
        u->rest_len = r->body_len - u->body_off;
        u->body_off = r->body_len;
      } else if (u->body_off < r->body_len) {
        long n = gw_multipart_feed(&u->mp, r->body + u->body_off, r->body_len - u->body_off);
        if (n == GW_MP_ETOOBIG)
          fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "too many parts, or a part's headers too large");
        else if (n < 0)
          fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "the multipart/form-data body is malformed");
        else
          u->body_off += (size_t)n;
      } else if (r->body_stream && !r->body_done) {
        /* the rest of the body is still on its way: on_body_more goes on */
        r->body_wait = on_body_more;
        r->body_wait_arg = u;
        return GW_SUSPEND;
      } else if (u->def->raw) {
        u->cur_ended = 1;
        u->parsed = 1;
      } else if (gw_multipart_finish(&u->mp) != 0) {
        fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "the multipart/form-data body ends early");
      } else {
        u->parsed = 1;
      }
      continue;
    }
    if (u->n_files == 0) {
      fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "the request holds no file");
      continue;
    }
    if (u->committed < u->n_files) {
      if (call_commit(u) == 0) return GW_SUSPEND;
      continue;
    }
    return finish_ok(u);
  }
}

/* More of a streamed body came (or all of it), or the client left while the upload
 * waited for it. */
static void on_body_more(gw_req *r, void *arg) {
  gw_upload *u = arg;
  if (r->conn == NULL || r->status == 499) {
    abort_staged(u);
    upload_free(u);
    return;
  }
  enum gw_phase_result out = drive(u);
  if (out != GW_SUSPEND) gw_req_resume(r, out);
}

static void on_store_answer(void *arg, const gw_upstream_result *res) {
  gw_upload *u = arg;
  gw_req *r = u->r;
  r->up_call = NULL; /* the handle dies with this callback */
  enum action act = u->pending;
  u->pending = ACT_NONE;
  if (act == ACT_COMMIT && res->status == GRPC_STATUS_OK)
    u->files[u->committed].held = 1; /* stored, whatever comes next */
  if (r->conn == NULL) { /* the client left: nothing of its request is kept */
    abort_staged(u);
    upload_free(u);
    gw_req_unref(r);
    return;
  }
  ProtobufCAllocator *alloc = yw_arena_allocator(r->arena);
  if (res->status != GRPC_STATUS_OK) {
    if (res->status == GRPC_STATUS_RESOURCE_EXHAUSTED && act != ACT_BEGIN)
      fail(u, 413, res->status, "a file is larger than the store takes");
    else if (res->status == GRPC_STATUS_FAILED_PRECONDITION && act == ACT_COMMIT)
      fail(u, 415, GRPC_STATUS_INVALID_ARGUMENT, "this type of file is not accepted here");
    else
      fail(u, 0, res->status, yw_arena_strndup(r->arena, res->message, (size_t)-1));
  } else if (act == ACT_BEGIN) {
    Yiwang__Files__V1__BeginUploadResponse *b = (void *)protobuf_c_message_unpack(
        &yiwang__files__v1__begin_upload_response__descriptor, alloc, res->len, res->data);
    if (b == NULL || strlen(b->upload_id) >= sizeof u->cur->upload_id) {
      fail(u, 0, GRPC_STATUS_INTERNAL, "the file store answered an unreadable message");
    } else {
      snprintf(u->cur->upload_id, sizeof u->cur->upload_id, "%s", b->upload_id);
      u->begun = 1;
    }
  } else if (act == ACT_PUT) {
    u->put_off += (int64_t)u->chunk_len;
    u->chunk_len = 0;
  } else if (act == ACT_COMMIT) {
    Yiwang__Files__V1__CommitResponse *c = (void *)protobuf_c_message_unpack(
        &yiwang__files__v1__commit_response__descriptor, alloc, res->len, res->data);
    if (c == NULL || c->file == NULL)
      fail(u, 0, GRPC_STATUS_INTERNAL, "the file store answered an unreadable message");
    else
      u->files[u->committed++].ref = &c->file->base;
  }
  enum gw_phase_result out = drive(u);
  if (out != GW_SUSPEND) gw_req_resume(r, out);
  gw_req_unref(r);
}

size_t gw_upload_body_limit(gw_req *r) {
  const char *ct = gw_req_header(r, "content-type");
  if (ct != NULL && strncmp(ct, "application/grpc", 16) == 0) return 0;
  char *path = yw_arena_strndup(r->arena, r->path, strcspn(r->path, "?"));
  const gw_route *route = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t nvars = 0;
  if (path == NULL || gw_route_match(&gw.routes, r->method, path, &route, vars, &nvars) != GW_MATCH_OK ||
      route->def->upload == NULL || route->def->access == GW_ACCESS_INTERNAL)
    return 0;
  const gw_upload_def *u = route->def->upload;
  /* every file at its largest, and room for the form around them */
  return (size_t)u->max_bytes * (size_t)u->max_files + (size_t)u->max_files * 4096 + 65536;
}

enum gw_phase_result gw_phase_upload(gw_req *r) {
  if (r->route == NULL || r->route->def->upload == NULL) return GW_NEXT;
  if (r->kind != GW_KIND_JSON) {
    /* the FileRefs of an upload method are the gateway's, made from bytes the client sent
     * here: a pass-through caller's own would name files it never had (any stored file,
     * by its hash), and its services would take them for proof of possession */
    gw_answer_error(r, GRPC_STATUS_UNIMPLEMENTED,
                    "this method takes files: send them to its HTTP route as multipart/form-data");
    return GW_DONE;
  }
  yw_arena *a = r->arena;
  gw_upload *u = yw_arena_alloc(a, sizeof *u);
  if (u == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  memset(u, 0, sizeof *u);
  u->r = r;
  u->def = r->route->def->upload;
  /* known to the request: a client that leaves does not cancel its calls to the store
   * (a Commit's answer says what it holds), and the service's answer keeps the holds
   * or gives them back */
  r->upload = u;
  u->msg = protobuf_c_message_unpack(r->route->method->input, yw_arena_allocator(a),
                                     r->payload_len, r->payload);
  u->chunk = yw_arena_alloc(a, CHUNK);
  u->packed = yw_arena_alloc(a, CHUNK + PACK_SLACK);
  u->field_val = yw_arena_alloc(a, FIELD_MAX + 1);
  if (u->msg == NULL || u->chunk == NULL || u->packed == NULL || u->field_val == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  u->md = EVP_MD_CTX_new();
  if (u->md == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  const char *ct = gw_req_header(r, "content-type");
  if (u->def->raw) {
    /* the body is the file: one part that has already ended */
    const char *name = gw_req_header(r, "x-file-name");
    start_file(u, name != NULL ? name : "", ct != NULL ? ct : "");
    if (name != NULL && strlen(name) > 255)
      fail(u, 400, GRPC_STATUS_INVALID_ARGUMENT, "x-file-name is longer than 255 bytes");
  } else {
    char boundary[GW_MP_BOUNDARY_MAX + 1];
    if (gw_multipart_boundary(ct, boundary) != 0)
      fail(u, 415, GRPC_STATUS_INVALID_ARGUMENT,
           "the body must be multipart/form-data with a boundary");
    else
      gw_multipart_init(&u->mp, boundary, u->def->max_files + 32, &mp_callbacks, u);
  }
  return drive(u);
}

/* ---- downloads ------------------------------------------------------------------- */

#define READ_AHEAD (256 * 1024) /* the next ReadRange starts once less than this waits */
#define RANGE_REQ_MAX 128       /* a ReadRange request packed: a hash and two integers */

typedef struct gw_download {
  gw_req *r;
  int stage;            /* 0: the owner's authorisation, 1: Stat, 2: ReadRange */
  char sha256[65];
  char etag[68];
  const char *name;     /* from the authorisation's answer, or NULL */
  int64_t size;
  const char *type;
  uint64_t first, last; /* the bytes to send, inclusive */
  int partial;
  uint64_t got;         /* bytes read from the store and written to the client */
  int reading;          /* a ReadRange is in flight */
  uint8_t packed[RANGE_REQ_MAX]; /* every ReadRange of the download is packed here ... */
  caller_buf caller;    /* ... and signed here: the arena does not grow by the piece */
} gw_download;

static int is_sha256(const char *s) {
  return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* attachment; filename*=UTF-8''<percent-encoded name> (RFC 6266), and a plain
 * filename of the hash for clients that do not read filename*. */
static const char *disposition(gw_download *d) {
  yw_arena *a = d->r->arena;
  size_t n = d->name != NULL ? strlen(d->name) : 0;
  char *out = yw_arena_alloc(a, 3 * n + 160);
  if (out == NULL) return "attachment";
  int o = snprintf(out, 160, "attachment; filename=\"%s\"", d->sha256);
  if (n > 0) {
    o += snprintf(out + o, 40, "; filename*=UTF-8''");
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)d->name[i];
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          strchr("!#$&+-.^_`|~", c) != NULL) {
        out[o++] = (char)c;
      } else {
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
      }
    }
    out[o] = '\0';
  }
  return out;
}

static void on_download_answer(void *arg, const gw_upstream_result *res);

static int download_next_call(gw_download *d) {
  gw_req *r = d->r;
  if (d->stage == 1) {
    Yiwang__Files__V1__StatRequest req = YIWANG__FILES__V1__STAT_REQUEST__INIT;
    req.sha256 = d->sha256;
    return call(r, "files", FILES_SVC "Stat", &req.base, NULL, 0, on_download_answer, d, &r->up_call);
  }
  Yiwang__Files__V1__ReadRangeRequest req = YIWANG__FILES__V1__READ_RANGE_REQUEST__INIT;
  req.sha256 = d->sha256;
  uint64_t want = d->last + 1 - d->first - d->got;
  req.offset = (int64_t)(d->first + d->got);
  req.length = (int64_t)(want < READ_PIECE ? want : READ_PIECE);
  size_t len = protobuf_c_message_get_packed_size(&req.base);
  if (len > sizeof d->packed) return YW_EINTERNAL;
  protobuf_c_message_pack(&req.base, d->packed);
  return call_signed(r, "files", FILES_SVC "ReadRange", NULL, d->packed, len, on_download_answer,
                     d, &r->up_call, &d->caller);
}

/* The file's headers on the answer (200 or 206). */
static void file_headers(gw_download *d) {
  gw_req *r = d->r;
  r->status = d->partial ? 206 : 200;
  gw_req_add_header(r, "content-type", d->type);
  gw_req_add_header(r, "etag", d->etag);
  gw_req_add_header(r, "accept-ranges", "bytes");
  gw_req_add_header(r, "content-disposition", disposition(d));
  gw_req_add_header(r, "cache-control", "private, no-cache");
  gw_req_add_header(r, "x-content-type-options", "nosniff");
  if (d->partial) {
    char *cr = yw_arena_alloc(r->arena, 64);
    if (cr != NULL) {
      snprintf(cr, 64, "bytes %llu-%llu/%lld", (unsigned long long)d->first,
               (unsigned long long)d->last, (long long)d->size);
      gw_req_add_header(r, "content-range", cr);
    }
  }
}

/* Logs r's answer and cuts it, unless its client left meanwhile (logged 499 then). */
static void cut_now(gw_req *r) {
  if (r->conn == NULL || r->stream_ended) return;
  gw_request_log(r);
  gw_conn_stream_cut(r);
}

static void on_cut_later(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_req *r = arg;
  cut_now(r);
  gw_req_unref(r);
}

/* The store failed after the head went: the answer ends short, on the loop's next turn
 * (this may run inside the connection's own send). */
static void download_cut(gw_download *d, const char *why) {
  gw_req *r = d->r;
  yw_log(YW_LOG_WARN, "gateway.download_cut", r->request_id,
         "a download ended after %llu of its %llu bytes: %s", (unsigned long long)d->got,
         (unsigned long long)(d->last + 1 - d->first), why);
  struct timeval now = {0, 0};
  r->refs++;
  if (event_base_once(r->worker->base, -1, EV_TIMEOUT, on_cut_later, r, &now) != 0) {
    r->refs--;
    cut_now(r);
  }
}

/* The next piece from the store, unless one is on its way or the client has not taken
 * enough of the last (then the connection's signal, download_writable, comes back). */
static void download_more(gw_download *d) {
  gw_req *r = d->r;
  if (d->reading || r->conn == NULL || r->stream_ended || d->got == d->last + 1 - d->first ||
      gw_conn_stream_pending(r) >= READ_AHEAD)
    return;
  d->reading = 1;
  if (download_next_call(d) != 0) {
    d->reading = 0;
    download_cut(d, "cannot call the file store");
  }
}

static void download_writable(gw_req *r, void *arg) {
  (void)r;
  download_more(arg);
}

/* A ReadRange answered: its bytes go to the client (the first piece with the head). */
static void download_piece(gw_download *d, const gw_upstream_result *res) {
  gw_req *r = d->r;
  d->reading = 0;
  uint64_t total = d->last + 1 - d->first;
  Yiwang__Files__V1__ReadRangeResponse *rr = NULL;
  if (res->status == GRPC_STATUS_OK) /* malloc'd, freed once written: not in the arena */
    rr = yiwang__files__v1__read_range_response__unpack(NULL, res->len, res->data);
  int bad = rr == NULL || rr->data.len == 0 || rr->data.len > total - d->got;
  if (!r->streaming) {
    if (bad) { /* nothing sent yet: an ordinary answer */
      if (res->status != GRPC_STATUS_OK) answer_failure(r, res->status, res->message);
      else gw_answer_error(r, GRPC_STATUS_INTERNAL, "internal error");
    } else {
      file_headers(d);
      r->streaming = 1;
      r->stream_sized = 1;
      r->stream_size = total;
      r->writable = download_writable;
      r->writable_arg = d;
      r->resp_body = NULL;
      r->resp_len = 0;
    }
    gw_req_resume(r, GW_DONE); /* the head goes */
    if (bad || r->conn == NULL || !r->responded) {
      if (rr != NULL) yiwang__files__v1__read_range_response__free_unpacked(rr, NULL);
      return;
    }
  } else if (bad) {
    if (rr != NULL) yiwang__files__v1__read_range_response__free_unpacked(rr, NULL);
    download_cut(d, res->status != GRPC_STATUS_OK ? "the file store failed"
                                                   : "the file store answered short");
    return;
  }
  d->got += rr->data.len;
  int rc = gw_conn_stream_write(r, rr->data.data, rr->data.len);
  yiwang__files__v1__read_range_response__free_unpacked(rr, NULL);
  if (rc != 0 || r->conn == NULL) return; /* the client left: the request layer logs it */
  if (d->got == total) {
    gw_request_log(r); /* once, at the end, with the bytes and the whole time */
    gw_conn_stream_end(r);
    return;
  }
  download_more(d);
}

/* The answer of the owner's authorisation, Stat or a ReadRange is in: the next step,
 * or the answer. Returns GW_SUSPEND while a call is in flight. */
static enum gw_phase_result download_step(gw_download *d, const gw_upstream_result *res) {
  gw_req *r = d->r;
  ProtobufCAllocator *alloc = yw_arena_allocator(r->arena);
  if (res->status != GRPC_STATUS_OK) {
    /* the owner's refusal as it is (403, 404, ...); the store's NOT_FOUND too */
    answer_failure(r, res->status, res->message);
    return GW_DONE;
  }
  if (d->stage == 0) {
    /* allowed: the answer may name the file */
    ProtobufCMessage *m = protobuf_c_message_unpack(r->route->method->output, alloc, res->len, res->data);
    const ProtobufCFieldDescriptor *f =
        m != NULL ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "name") : NULL;
    if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED)
      d->name = *(const char **)((const char *)m + f->offset);
    snprintf(d->etag, sizeof d->etag, "\"%s\"", d->sha256);
    const char *inm = gw_req_header(r, "if-none-match");
    if (inm != NULL && gw_static_etag_match(inm, d->etag)) {
      r->status = 304;
      gw_req_add_header(r, "etag", d->etag);
      gw_req_add_header(r, "cache-control", "private, no-cache");
      return GW_DONE;
    }
    d->stage = 1;
  } else if (d->stage == 1) {
    Yiwang__Files__V1__StatResponse *st = (void *)protobuf_c_message_unpack(
        &yiwang__files__v1__stat_response__descriptor, alloc, res->len, res->data);
    if (st == NULL) {
      gw_answer_error(r, GRPC_STATUS_INTERNAL, "internal error");
      return GW_DONE;
    }
    d->size = st->size;
    d->type = st->content_type;
    const char *range = gw_req_header(r, "range");
    const char *if_range = gw_req_header(r, "if-range");
    if (if_range != NULL && strcmp(if_range, d->etag) != 0) range = NULL;
    int rc = range != NULL ? gw_static_range(range, (uint64_t)d->size, &d->first, &d->last) : 0;
    if (rc < 0) {
      char *cr = yw_arena_alloc(r->arena, 40);
      if (cr != NULL) snprintf(cr, 40, "bytes */%lld", (long long)d->size);
      gw_answer_http_error(r, 416, GRPC_STATUS_OUT_OF_RANGE, "the range is outside the file");
      if (cr != NULL) gw_req_add_header(r, "content-range", cr);
      return GW_DONE;
    }
    d->partial = rc == 1;
    if (!d->partial) {
      d->first = 0;
      d->last = d->size > 0 ? (uint64_t)d->size - 1 : 0;
    }
    uint64_t len = d->size > 0 ? d->last + 1 - d->first : 0;
    if (len == 0) { /* nothing to read: the head alone */
      file_headers(d);
      r->resp_body = NULL;
      r->resp_len = 0;
      return GW_DONE;
    }
    /* the file goes piece by piece as the client takes it (download_piece) */
    d->stage = 2;
    d->reading = 1;
  }
  int rc = download_next_call(d);
  if (rc == 0) return GW_SUSPEND;
  gw_answer_error(r, GRPC_STATUS_UNAVAILABLE,
                  rc == YW_EUNAVAIL ? "the file store is not configured" : "cannot call the file store");
  return GW_DONE;
}

static void on_download_answer(void *arg, const gw_upstream_result *res) {
  gw_download *d = arg;
  gw_req *r = d->r;
  r->up_call = NULL;
  if (r->conn != NULL && d->stage == 2) {
    download_piece(d, res);
  } else if (r->conn != NULL) {
    enum gw_phase_result out = download_step(d, res);
    if (out != GW_SUSPEND) gw_req_resume(r, out);
  }
  gw_req_unref(r);
}

enum gw_phase_result gw_phase_download(gw_req *r) {
  if (r->route == NULL || r->route->def->download == NULL) return GW_NEXT;
  if (r->kind != GW_KIND_JSON) {
    gw_answer_error(r, GRPC_STATUS_UNIMPLEMENTED, "files are downloaded over plain HTTP");
    return GW_DONE;
  }
  gw_download *d = yw_arena_alloc(r->arena, sizeof *d);
  ProtobufCMessage *m = protobuf_c_message_unpack(r->route->method->input,
                                                  yw_arena_allocator(r->arena), r->payload_len,
                                                  r->payload);
  if (d == NULL || m == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  memset(d, 0, sizeof *d);
  d->r = r;
  const char *sha = *(const char **)((const char *)m + r->route->download_field->offset);
  if (!is_sha256(sha)) {
    gw_answer_error(r, GRPC_STATUS_NOT_FOUND, "no such file");
    return GW_DONE;
  }
  memcpy(d->sha256, sha, 65);
  /* first the owning service: may this caller read this file? */
  int rc = call(r, r->route->upstream, r->route->grpc_path, NULL, r->payload, r->payload_len,
                on_download_answer, d, &r->up_call);
  if (rc != 0) {
    gw_answer_error(r, GRPC_STATUS_UNAVAILABLE, "could not call upstream");
    return GW_DONE;
  }
  return GW_SUSPEND;
}
