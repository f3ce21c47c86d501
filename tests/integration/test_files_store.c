/*
 * test_files_store.c - yw-files and its PostgreSQL store on a real PostgreSQL: the
 * service runs in this process on yw_rpc_server (port 0) and is called over a real
 * gRPC connection with a caller signed as the gateway signs it.
 *
 * Proves: an upload in several chunks is kept under the SHA-256 of its bytes with the
 * type sniffed from them; the same bytes uploaded again are stored once (dedup); a
 * hash or size that differs from the bytes is refused and leaves nothing; a type the
 * bytes contradict or the route does not allow is refused and leaves nothing; chunks
 * out of order and past the size limit are refused; ranges across chunk boundaries
 * read exactly the bytes asked for; abandoned uploads are purged; calls not from the
 * gateway are refused; every Commit is one hold on its blob and Release takes one
 * away, the blob going with its last (bytes a good upload holds stay when another
 * upload of them is released); Release from a service (via=) or with a malformed hash
 * changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "files.h"
#include "yiwang/files/v1/files.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_testdb.h"

#define SVC "/yiwang.files.v1.FilesService/"

static char dsn[512];
static yw_pg_pool *pool;
static files_ctx ctx;
static yw_rpc_service svc;
static yw_rpc_server *server;
static yw_rpc_client *client;
static yw_rpc_channel *channel;
static int send_caller = 1;
static const char *send_via = ""; /* via= of the signed caller: "" is the gateway */

static int setup(void **state) {
  (void)state;
  yw_log_init("test", YW_LOG_WARN);
  if (yw_testdb_create(dsn, sizeof dsn) != 0) return -1;
  yw_pg_error err;
  if (yw_pg_pool_new(dsn, 4, &pool, &err) != 0) return -1;
  PGconn *c = yw_pg_pool_acquire(pool, 1000);
  int rc = yw_pg_migrate(c, "files", files_migrations, files_migrations_count, &err);
  yw_pg_pool_release(pool, c);
  if (rc != 0) {
    fprintf(stderr, "migrate: %s\n", err.message);
    return -1;
  }
  uint8_t key[YW_KEY_BYTES];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 5 + 3);
  if (yw_caller_keys_init(&ctx.caller_keys, key, NULL, 30) != 0) return -1;
  if (files_store_pg_new(pool, 2000, &ctx.store) != 0) return -1;
  ctx.max_size = 4 << 20;
  files_service_init(&svc, &ctx);
  if (yw_rpc_server_new("127.0.0.1:0", 4, &server) != 0) return -1;
  if (yw_rpc_server_add_service(server, &svc) != 0 || yw_rpc_server_start(server) != 0) return -1;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", yw_rpc_server_port(server));
  if (yw_rpc_client_new(&client) != 0) return -1;
  channel = yw_rpc_channel_new(client, target, 1, 8 << 20);
  return channel != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  yw_rpc_channel_free(channel);
  yw_rpc_client_free(client);
  yw_rpc_server_free(server);
  ctx.store->ops->free(ctx.store);
  yw_pg_pool_free(pool);
  yw_testdb_drop();
  return 0;
}

static grpc_status_code call(const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out,
                             char *msg) {
  char path[128];
  snprintf(path, sizeof path, SVC "%s", method);
  char value[YW_CALLER_VALUE_MAX], sig[65];
  yw_rpc_md md[2];
  size_t nmd = 0;
  if (send_caller) {
    yw_caller who;
    memset(&who, 0, sizeof who);
    who.kind = YW_CALLER_ANONYMOUS;
    who.ts = (long long)time(NULL);
    snprintf(who.via, sizeof who.via, "%s", send_via);
    assert_int_equal(yw_caller_encode(&who, ctx.caller_keys.current, path, "", value, sizeof value, sig), 0);
    md[0] = (yw_rpc_md){"x-yw-caller", value, 0};
    md[1] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
    nmd = 2;
  }
  static char ignored[256];
  *out = NULL;
  return yw_rpc_call_sync(channel, path, req, out_desc, NULL, out, md, nmd, 10000,
                          msg != NULL ? msg : ignored, 256);
}

/* The one value of sql, with param as $1 when not NULL. */
static long long scalar_p(const char *sql, const char *param) {
  PGconn *c = yw_pg_pool_acquire(pool, 1000);
  PGresult *r = NULL;
  long long v = -1;
  const char *params[] = {param};
  if (yw_pg_query(c, sql, param != NULL ? 1 : 0, param != NULL ? params : NULL, &r, NULL) == 0)
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  yw_pg_pool_release(pool, c);
  return v;
}

static long long scalar(const char *sql) { return scalar_p(sql, NULL); }

static void sha256_hex(const uint8_t *d, size_t n, char out[65]) {
  uint8_t md[32];
  unsigned len = 0;
  EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* n bytes of a PNG: the signature, then a pattern that depends on seed. */
static uint8_t *png_bytes(size_t n, unsigned seed) {
  uint8_t *b = malloc(n);
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
  memcpy(b, "\x89PNG\r\n\x1a\n", n < 8 ? n : 8);
  return b;
}

static char *begin(int64_t max_size) {
  Yiwang__Files__V1__BeginUploadRequest req = YIWANG__FILES__V1__BEGIN_UPLOAD_REQUEST__INIT;
  req.max_size = max_size;
  ProtobufCMessage *out = NULL;
  assert_int_equal(call("BeginUpload", &req.base, &yiwang__files__v1__begin_upload_response__descriptor, &out, NULL),
                   GRPC_STATUS_OK);
  char *id = strdup(((Yiwang__Files__V1__BeginUploadResponse *)out)->upload_id);
  protobuf_c_message_free_unpacked(out, NULL);
  return id;
}

static grpc_status_code put(const char *id, int64_t off, const uint8_t *d, size_t n) {
  Yiwang__Files__V1__PutChunkRequest req = YIWANG__FILES__V1__PUT_CHUNK_REQUEST__INIT;
  req.upload_id = (char *)id;
  req.offset = off;
  req.data.data = (uint8_t *)d;
  req.data.len = n;
  ProtobufCMessage *out = NULL;
  grpc_status_code st = call("PutChunk", &req.base, &yiwang__files__v1__put_chunk_response__descriptor, &out, NULL);
  if (st == GRPC_STATUS_OK)
    assert_int_equal(((Yiwang__Files__V1__PutChunkResponse *)out)->received, off + (int64_t)n);
  protobuf_c_message_free_unpacked(out, NULL);
  return st;
}

static void put_all(const char *id, const uint8_t *d, size_t n) {
  for (size_t o = 0; o < n; o += FILES_CHUNK_MAX) {
    size_t k = n - o < FILES_CHUNK_MAX ? n - o : FILES_CHUNK_MAX;
    assert_int_equal(put(id, (int64_t)o, d + o, k), GRPC_STATUS_OK);
  }
}

static grpc_status_code commit(const char *id, const char *sha, int64_t size, const char *declared,
                               const char *allowed, Yiwang__Files__V1__CommitResponse **resp) {
  Yiwang__Files__V1__CommitRequest req = YIWANG__FILES__V1__COMMIT_REQUEST__INIT;
  req.upload_id = (char *)id;
  req.name = "scan.png";
  req.declared_type = (char *)declared;
  req.sha256 = (char *)sha;
  req.size = size;
  char *types[1] = {(char *)allowed};
  if (allowed != NULL) {
    req.allowed_types = types;
    req.n_allowed_types = 1;
  }
  ProtobufCMessage *out = NULL;
  grpc_status_code st = call("Commit", &req.base, &yiwang__files__v1__commit_response__descriptor, &out, NULL);
  if (resp != NULL)
    *resp = (Yiwang__Files__V1__CommitResponse *)out;
  else
    protobuf_c_message_free_unpacked(out, NULL);
  return st;
}

static Yiwang__Files__V1__ReadRangeResponse *read_range(const char *sha, int64_t off, int64_t len,
                                                        grpc_status_code *st) {
  Yiwang__Files__V1__ReadRangeRequest req = YIWANG__FILES__V1__READ_RANGE_REQUEST__INIT;
  req.sha256 = (char *)sha;
  req.offset = off;
  req.length = len;
  ProtobufCMessage *out = NULL;
  *st = call("ReadRange", &req.base, &yiwang__files__v1__read_range_response__descriptor, &out, NULL);
  return (Yiwang__Files__V1__ReadRangeResponse *)out;
}

static void test_a_file_in_chunks_is_kept_under_its_hash_with_its_sniffed_type(void **state) {
  (void)state;
  size_t n = 3 * FILES_CHUNK_MAX + 1234;
  uint8_t *d = png_bytes(n, 1);
  char sha[65];
  sha256_hex(d, n, sha);
  char *id = begin(0);
  put_all(id, d, n);
  Yiwang__Files__V1__CommitResponse *resp = NULL;
  assert_int_equal(commit(id, sha, (int64_t)n, "image/png", "image/png,application/pdf", &resp), GRPC_STATUS_OK);
  assert_string_equal(resp->file->sha256, sha);
  assert_int_equal(resp->file->size, (int64_t)n);
  assert_string_equal(resp->file->content_type, "image/png");
  assert_string_equal(resp->file->name, "scan.png");
  assert_false(resp->existed);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  /* the upload is gone, the bytes are in the blob's chunks */
  assert_int_equal(scalar("SELECT count(*) FROM files.uploads"), 0);
  assert_int_equal(scalar("SELECT count(*) FROM files.upload_chunks"), 0);
  assert_int_equal(scalar_p("SELECT sum(length(data)) FROM files.chunks WHERE sha256 = $1", sha),
                   (long long)n);
  free(id);
  free(d);
}

static void test_ranges_across_chunk_boundaries_read_exactly_those_bytes(void **state) {
  (void)state;
  size_t n = 3 * FILES_CHUNK_MAX + 1234;
  uint8_t *d = png_bytes(n, 1); /* the file of the test before */
  char sha[65];
  sha256_hex(d, n, sha);
  const int64_t cases[][2] = {
      {0, 10},                                    /* the start */
      {FILES_CHUNK_MAX - 5, 10},                  /* across the first boundary */
      {FILES_CHUNK_MAX, FILES_CHUNK_MAX},         /* exactly the second chunk */
      {100, 3 * FILES_CHUNK_MAX},                 /* four chunks */
      {(int64_t)n - 7, 100},                      /* past the end: cut */
      {(int64_t)n, 10},                           /* at the end: nothing */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    grpc_status_code st;
    Yiwang__Files__V1__ReadRangeResponse *r = read_range(sha, cases[i][0], cases[i][1], &st);
    assert_int_equal(st, GRPC_STATUS_OK);
    int64_t want = cases[i][0] + cases[i][1] > (int64_t)n ? (int64_t)n - cases[i][0] : cases[i][1];
    assert_int_equal(r->data.len, (size_t)want);
    assert_int_equal(r->size, (int64_t)n);
    assert_string_equal(r->content_type, "image/png");
    if (want > 0) assert_memory_equal(r->data.data, d + cases[i][0], (size_t)want);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  grpc_status_code st;
  Yiwang__Files__V1__ReadRangeResponse *r = read_range(sha, 0, 2 << 20, &st);
  assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT); /* more than 1 MiB at once */
  assert_null(r);
  char other[65];
  memset(other, 'a', 64);
  other[64] = '\0';
  r = read_range(other, 0, 10, &st);
  assert_int_equal(st, GRPC_STATUS_NOT_FOUND);
  free(d);
}

static void test_the_same_bytes_twice_are_stored_once(void **state) {
  (void)state;
  size_t n = 5000;
  uint8_t *d = png_bytes(n, 2);
  char sha[65];
  sha256_hex(d, n, sha);
  for (int round = 0; round < 2; round++) {
    char *id = begin(0);
    put_all(id, d, n);
    Yiwang__Files__V1__CommitResponse *resp = NULL;
    assert_int_equal(commit(id, sha, (int64_t)n, "", NULL, &resp), GRPC_STATUS_OK);
    assert_int_equal(resp->existed, round == 1);
    assert_string_equal(resp->file->sha256, sha);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    free(id);
  }
  assert_int_equal(scalar_p("SELECT count(*) FROM files.blobs WHERE sha256 = $1", sha), 1);
  assert_int_equal(scalar_p("SELECT sum(length(data)) FROM files.chunks WHERE sha256 = $1", sha),
                   (long long)n);
  assert_int_equal(scalar("SELECT count(*) FROM files.uploads"), 0);
  free(d);
}

static void test_a_hash_or_size_that_differs_is_refused_and_leaves_nothing(void **state) {
  (void)state;
  long long blobs = scalar("SELECT count(*) FROM files.blobs");
  size_t n = 3000;
  uint8_t *d = png_bytes(n, 3);
  char sha[65];
  sha256_hex(d, n, sha);
  char wrong[65];
  memcpy(wrong, sha, 65);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  char *id = begin(0);
  put_all(id, d, n);
  assert_int_equal(commit(id, wrong, (int64_t)n, "image/png", NULL, NULL), GRPC_STATUS_INVALID_ARGUMENT);
  /* refused: the upload is dropped, so committing it again finds nothing */
  assert_int_equal(commit(id, sha, (int64_t)n, "image/png", NULL, NULL), GRPC_STATUS_NOT_FOUND);
  free(id);
  id = begin(0);
  put_all(id, d, n);
  assert_int_equal(commit(id, sha, (int64_t)n + 1, "image/png", NULL, NULL), GRPC_STATUS_INVALID_ARGUMENT);
  free(id);
  assert_int_equal(scalar("SELECT count(*) FROM files.blobs"), blobs);
  assert_int_equal(scalar("SELECT count(*) FROM files.uploads"), 0);
  assert_int_equal(scalar("SELECT count(*) FROM files.upload_chunks"), 0);
  free(d);
}

static void test_a_type_contradicted_or_not_allowed_is_refused_and_leaves_nothing(void **state) {
  (void)state;
  long long blobs = scalar("SELECT count(*) FROM files.blobs");
  const uint8_t pdf[] = "%PDF-1.7\n% a small document\n";
  size_t n = sizeof pdf - 1;
  char sha[65];
  sha256_hex(pdf, n, sha);
  char *id = begin(0);
  put_all(id, pdf, n);
  /* declared a PNG, the bytes are a PDF */
  assert_int_equal(commit(id, sha, (int64_t)n, "image/png", NULL, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  free(id);
  id = begin(0);
  put_all(id, pdf, n);
  /* a PDF where only images are taken */
  assert_int_equal(commit(id, sha, (int64_t)n, "application/pdf", "image/*", NULL), GRPC_STATUS_FAILED_PRECONDITION);
  free(id);
  const uint8_t unknown[] = "plain words, no magic";
  sha256_hex(unknown, sizeof unknown - 1, sha);
  id = begin(0);
  put_all(id, unknown, sizeof unknown - 1);
  /* an unknown type is refused when the route lists none */
  assert_int_equal(commit(id, sha, (int64_t)(sizeof unknown - 1), "", NULL, NULL), GRPC_STATUS_FAILED_PRECONDITION);
  free(id);
  assert_int_equal(scalar("SELECT count(*) FROM files.blobs"), blobs);
  assert_int_equal(scalar("SELECT count(*) FROM files.uploads"), 0);
  /* a zip declared as an OFD document is kept as one */
  const uint8_t zip[] = "PK\x03\x04 an archive";
  sha256_hex(zip, sizeof zip - 1, sha);
  id = begin(0);
  put_all(id, zip, sizeof zip - 1);
  Yiwang__Files__V1__CommitResponse *resp = NULL;
  assert_int_equal(commit(id, sha, (int64_t)(sizeof zip - 1), "application/ofd", "application/ofd,application/pdf", &resp),
                   GRPC_STATUS_OK);
  assert_string_equal(resp->file->content_type, "application/ofd");
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  free(id);
}

static void test_chunks_out_of_order_or_past_the_limit_are_refused(void **state) {
  (void)state;
  uint8_t *d = png_bytes(3000, 4);
  char *id = begin(2500);
  assert_int_equal(put(id, 0, d, 1000), GRPC_STATUS_OK);
  assert_int_equal(put(id, 2000, d + 2000, 100), GRPC_STATUS_FAILED_PRECONDITION); /* a gap */
  assert_int_equal(put(id, 0, d, 1000), GRPC_STATUS_FAILED_PRECONDITION);         /* again */
  assert_int_equal(put(id, 1000, d + 1000, 1000), GRPC_STATUS_OK);
  assert_int_equal(put(id, 2000, d + 2000, 1000), GRPC_STATUS_RESOURCE_EXHAUSTED); /* 3000 > 2500 */
  assert_int_equal(scalar("SELECT sum(length(data)) FROM files.upload_chunks"), 2000);
  assert_int_equal(put("00000000-0000-0000-0000-000000000000", 0, d, 10), GRPC_STATUS_NOT_FOUND);
  assert_int_equal(put("not-an-id", 0, d, 10), GRPC_STATUS_INVALID_ARGUMENT);
  /* the store's own limit (4 MiB here) caps what a route asks */
  free(id);
  id = begin(1LL << 40);
  assert_int_equal(scalar("SELECT max(max_size) FROM files.uploads"), 4 << 20);
  free(id);
  free(d);
}

static void test_abandoned_uploads_are_purged(void **state) {
  (void)state;
  uint8_t *d = png_bytes(1000, 5);
  char *id = begin(0);
  assert_int_equal(put(id, 0, d, 1000), GRPC_STATUS_OK);
  assert_true(scalar("SELECT count(*) FROM files.uploads") >= 1);
  int purged = 0;
  /* younger than an hour: kept */
  assert_int_equal(ctx.store->ops->purge(ctx.store, 3600, &purged, 5000), 0);
  assert_int_equal(purged, 0);
  assert_int_equal(ctx.store->ops->purge(ctx.store, 0, &purged, 5000), 0);
  assert_true(purged >= 1);
  assert_int_equal(scalar("SELECT count(*) FROM files.uploads"), 0);
  assert_int_equal(scalar("SELECT count(*) FROM files.upload_chunks"), 0);
  assert_int_equal(put(id, 1000, d, 10), GRPC_STATUS_NOT_FOUND);
  free(id);
  free(d);
}

static void test_a_deleted_blob_is_gone_with_its_chunks(void **state) {
  (void)state;
  uint8_t *d = png_bytes(2000, 6);
  char sha[65];
  sha256_hex(d, 2000, sha);
  char *id = begin(0);
  put_all(id, d, 2000);
  assert_int_equal(commit(id, sha, 2000, "image/png", NULL, NULL), GRPC_STATUS_OK);
  assert_int_equal(ctx.store->ops->del(ctx.store, sha, 5000), 0);
  files_stat st;
  assert_int_equal(ctx.store->ops->stat(ctx.store, sha, &st, 5000), YW_ENOTFOUND);
  assert_int_equal(scalar_p("SELECT count(*) FROM files.chunks WHERE sha256 = $1", sha), 0);
  free(id);
  free(d);
}

static void test_calls_not_from_the_gateway_are_refused(void **state) {
  (void)state;
  send_caller = 0;
  Yiwang__Files__V1__BeginUploadRequest req = YIWANG__FILES__V1__BEGIN_UPLOAD_REQUEST__INIT;
  ProtobufCMessage *out = NULL;
  assert_int_equal(call("BeginUpload", &req.base, &yiwang__files__v1__begin_upload_response__descriptor, &out, NULL),
                   GRPC_STATUS_UNAUTHENTICATED);
  send_caller = 1;
}

/* Uploads and commits d[0..n) under sha: one hold more on its blob. */
static void upload(const uint8_t *d, size_t n, const char *sha) {
  char *id = begin(0);
  put_all(id, d, n);
  assert_int_equal(commit(id, sha, (int64_t)n, "image/png", NULL, NULL), GRPC_STATUS_OK);
  free(id);
}

static grpc_status_code release(const char **shas, size_t n, int *released, int *deleted) {
  Yiwang__Files__V1__ReleaseRequest req = YIWANG__FILES__V1__RELEASE_REQUEST__INIT;
  req.sha256s = (char **)shas;
  req.n_sha256s = n;
  ProtobufCMessage *out = NULL;
  grpc_status_code st = call("Release", &req.base, &yiwang__files__v1__release_response__descriptor, &out, NULL);
  if (st == GRPC_STATUS_OK) {
    *released = ((Yiwang__Files__V1__ReleaseResponse *)out)->released;
    *deleted = ((Yiwang__Files__V1__ReleaseResponse *)out)->deleted;
  }
  protobuf_c_message_free_unpacked(out, NULL);
  return st;
}

static long long holds(const char *sha) {
  return scalar_p("SELECT coalesce((SELECT holds FROM files.blobs WHERE sha256 = $1), 0)", sha);
}

static void test_each_commit_holds_and_release_drops_the_blob_with_its_last(void **state) {
  (void)state;
  size_t n = FILES_CHUNK_MAX + 700; /* two chunks */
  uint8_t *d = png_bytes(n, 7);
  char sha[65];
  sha256_hex(d, n, sha);
  const char *one[] = {sha};
  int released = -1, deleted = -1;
  upload(d, n, sha); /* a good upload: its service keeps the reference */
  assert_int_equal(holds(sha), 1);
  upload(d, n, sha); /* the same bytes, for a request its service then refuses */
  assert_int_equal(holds(sha), 2);
  assert_int_equal(release(one, 1, &released, &deleted), GRPC_STATUS_OK);
  assert_int_equal(released, 1);
  assert_int_equal(deleted, 0);
  assert_int_equal(holds(sha), 1);
  /* the good upload's file is whole */
  grpc_status_code st;
  Yiwang__Files__V1__ReadRangeResponse *rr = read_range(sha, 0, (int64_t)n, &st);
  assert_int_equal(st, GRPC_STATUS_OK);
  assert_int_equal(rr->data.len, n);
  assert_memory_equal(rr->data.data, d, n);
  protobuf_c_message_free_unpacked(&rr->base, NULL);
  /* the last hold: the blob and its chunks go */
  assert_int_equal(release(one, 1, &released, &deleted), GRPC_STATUS_OK);
  assert_int_equal(released, 1);
  assert_int_equal(deleted, 1);
  assert_int_equal(scalar_p("SELECT count(*) FROM files.blobs WHERE sha256 = $1", sha), 0);
  assert_int_equal(scalar_p("SELECT count(*) FROM files.chunks WHERE sha256 = $1", sha), 0);
  /* a hash no blob has is skipped */
  assert_int_equal(release(one, 1, &released, &deleted), GRPC_STATUS_OK);
  assert_int_equal(released, 0);
  assert_int_equal(deleted, 0);
  /* the same bytes committed anew are a new blob with one hold */
  upload(d, n, sha);
  assert_int_equal(holds(sha), 1);
  assert_int_equal(scalar_p("SELECT sum(length(data)) FROM files.chunks WHERE sha256 = $1", sha),
                   (long long)n);
  free(d);
}

static void test_one_request_committing_the_same_bytes_twice_releases_both_holds(void **state) {
  (void)state;
  uint8_t *d = png_bytes(1500, 8);
  char sha[65];
  sha256_hex(d, 1500, sha);
  upload(d, 1500, sha);
  upload(d, 1500, sha);
  const char *twice[] = {sha, sha};
  int released = -1, deleted = -1;
  assert_int_equal(release(twice, 2, &released, &deleted), GRPC_STATUS_OK);
  assert_int_equal(released, 2);
  assert_int_equal(deleted, 1);
  assert_int_equal(scalar_p("SELECT count(*) FROM files.blobs WHERE sha256 = $1", sha), 0);
  free(d);
}

static void test_release_from_a_service_or_of_a_malformed_hash_changes_nothing(void **state) {
  (void)state;
  uint8_t *d = png_bytes(1200, 9);
  char sha[65];
  sha256_hex(d, 1200, sha);
  upload(d, 1200, sha);
  const char *one[] = {sha};
  int released = -1, deleted = -1;
  send_via = "applications"; /* a service forwarding a caller, not the gateway */
  assert_int_equal(release(one, 1, &released, &deleted), GRPC_STATUS_PERMISSION_DENIED);
  send_via = "";
  assert_int_equal(holds(sha), 1);
  const char *bad[] = {sha, "ABC"};
  assert_int_equal(release(bad, 2, &released, &deleted), GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(holds(sha), 1); /* nothing of a refused list is released */
  send_caller = 0;
  assert_int_equal(release(one, 1, &released, &deleted), GRPC_STATUS_UNAUTHENTICATED);
  send_caller = 1;
  assert_int_equal(holds(sha), 1);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_file_in_chunks_is_kept_under_its_hash_with_its_sniffed_type),
      cmocka_unit_test(test_ranges_across_chunk_boundaries_read_exactly_those_bytes),
      cmocka_unit_test(test_the_same_bytes_twice_are_stored_once),
      cmocka_unit_test(test_a_hash_or_size_that_differs_is_refused_and_leaves_nothing),
      cmocka_unit_test(test_a_type_contradicted_or_not_allowed_is_refused_and_leaves_nothing),
      cmocka_unit_test(test_chunks_out_of_order_or_past_the_limit_are_refused),
      cmocka_unit_test(test_abandoned_uploads_are_purged),
      cmocka_unit_test(test_a_deleted_blob_is_gone_with_its_chunks),
      cmocka_unit_test(test_calls_not_from_the_gateway_are_refused),
      cmocka_unit_test(test_each_commit_holds_and_release_drops_the_blob_with_its_last),
      cmocka_unit_test(test_one_request_committing_the_same_bytes_twice_releases_both_holds),
      cmocka_unit_test(test_release_from_a_service_or_of_a_malformed_hash_changes_nothing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
