/*
 * files_put.c - stores files straight into yw-files over the runtime's gRPC client, as
 * the gateway's upload phase does (BeginUpload, 256 KiB PutChunks in order, Commit with
 * the SHA-256), or reads them back as its download phase does (Stat, then ReadRanges of
 * 1 MiB in order), without the gateway: the baselines of bench/upload.sh.
 *
 * Usage: files_put HOST:PORT FILE...  or  files_put --read HOST:PORT SHA256...
 * (YW_CALLER_KEY signs the calls as the gateway does). Prints one line per file:
 * "<seconds> <bytes> <sha256>" (read: of the bytes read); exits 1 on a failure.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/files/v1/files.pb-c.h"
#include "yw_caller.h"
#include "yw_rpc.h"

#define SVC "/yiwang.files.v1.FilesService/"
#define CHUNK (256 * 1024)
#define PIECE (1024 * 1024)

static yw_rpc_channel *ch;
static uint8_t key[YW_KEY_BYTES];

static int call(const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out) {
  yw_caller who;
  memset(&who, 0, sizeof who);
  who.kind = YW_CALLER_ANONYMOUS;
  who.ts = (long long)time(NULL);
  char value[YW_CALLER_VALUE_MAX], sig[65], msg[256];
  if (yw_caller_encode(&who, key, method, "", value, sizeof value, sig) != 0) return -1;
  yw_rpc_md md[2] = {{"x-yw-caller", value, 0}, {"x-yw-caller-sig", sig, 0}};
  grpc_status_code st = yw_rpc_call_sync(ch, method, req, out_desc, NULL, out, md, 2, 30000, msg,
                                         sizeof msg);
  if (st != GRPC_STATUS_OK) fprintf(stderr, "files_put: %s: %d %s\n", method, (int)st, msg);
  return st == GRPC_STATUS_OK ? 0 : -1;
}

static int put_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return -1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ProtobufCMessage *out = NULL;
  Yiwang__Files__V1__BeginUploadRequest b = YIWANG__FILES__V1__BEGIN_UPLOAD_REQUEST__INIT;
  if (call(SVC "BeginUpload", &b.base, &yiwang__files__v1__begin_upload_response__descriptor, &out) != 0)
    return -1;
  char id[64];
  snprintf(id, sizeof id, "%s", ((Yiwang__Files__V1__BeginUploadResponse *)out)->upload_id);
  protobuf_c_message_free_unpacked(out, NULL);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  static uint8_t buf[CHUNK];
  int64_t off = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    EVP_DigestUpdate(md, buf, n);
    Yiwang__Files__V1__PutChunkRequest p = YIWANG__FILES__V1__PUT_CHUNK_REQUEST__INIT;
    p.upload_id = id;
    p.offset = off;
    p.data.data = buf;
    p.data.len = n;
    if (call(SVC "PutChunk", &p.base, &yiwang__files__v1__put_chunk_response__descriptor, &out) != 0)
      return -1;
    protobuf_c_message_free_unpacked(out, NULL);
    off += (int64_t)n;
  }
  fclose(f);
  uint8_t d[32];
  unsigned dl = 0;
  EVP_DigestFinal_ex(md, d, &dl);
  EVP_MD_CTX_free(md);
  char sha[65];
  for (int i = 0; i < 32; i++) snprintf(sha + 2 * i, 3, "%02x", d[i]);
  Yiwang__Files__V1__CommitRequest c = YIWANG__FILES__V1__COMMIT_REQUEST__INIT;
  c.upload_id = id;
  c.name = (char *)path;
  c.sha256 = sha;
  c.size = off;
  if (call(SVC "Commit", &c.base, &yiwang__files__v1__commit_response__descriptor, &out) != 0)
    return -1;
  protobuf_c_message_free_unpacked(out, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.6f %lld %s\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         (long long)off, sha);
  return 0;
}

/* Reads the file sha256 whole, hashing what comes. */
static int read_file(const char *sha256) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ProtobufCMessage *out = NULL;
  Yiwang__Files__V1__StatRequest st = YIWANG__FILES__V1__STAT_REQUEST__INIT;
  st.sha256 = (char *)sha256;
  if (call(SVC "Stat", &st.base, &yiwang__files__v1__stat_response__descriptor, &out) != 0)
    return -1;
  int64_t size = ((Yiwang__Files__V1__StatResponse *)out)->size;
  protobuf_c_message_free_unpacked(out, NULL);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  int64_t off = 0;
  while (off < size) {
    Yiwang__Files__V1__ReadRangeRequest rr = YIWANG__FILES__V1__READ_RANGE_REQUEST__INIT;
    rr.sha256 = (char *)sha256;
    rr.offset = off;
    rr.length = size - off < PIECE ? size - off : PIECE;
    if (call(SVC "ReadRange", &rr.base, &yiwang__files__v1__read_range_response__descriptor,
             &out) != 0)
      break;
    Yiwang__Files__V1__ReadRangeResponse *got = (Yiwang__Files__V1__ReadRangeResponse *)out;
    size_t n = got->data.len;
    EVP_DigestUpdate(md, got->data.data, n);
    protobuf_c_message_free_unpacked(out, NULL);
    if (n == 0) break;
    off += (int64_t)n;
  }
  uint8_t d[32];
  unsigned dl = 0;
  EVP_DigestFinal_ex(md, d, &dl);
  EVP_MD_CTX_free(md);
  if (off != size) return -1;
  char sha[65];
  for (int i = 0; i < 32; i++) snprintf(sha + 2 * i, 3, "%02x", d[i]);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.6f %lld %s\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         (long long)off, sha);
  return 0;
}

int main(int argc, char **argv) {
  int reading = argc > 1 && strcmp(argv[1], "--read") == 0;
  if (reading) {
    argv++;
    argc--;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: files_put HOST:PORT FILE...  or  files_put --read HOST:PORT SHA256...\n");
    return 2;
  }
  const char *hex = getenv("YW_CALLER_KEY");
  yw_caller_keys keys;
  if (hex == NULL || yw_caller_keys_from_hex(&keys, hex, NULL, 30) != 0) {
    fprintf(stderr, "files_put: YW_CALLER_KEY (64 hex) is needed\n");
    return 2;
  }
  memcpy(key, keys.current, sizeof key);
  yw_rpc_client *client = NULL;
  if (yw_rpc_client_new(&client) != 0) return 1;
  ch = yw_rpc_channel_new(client, argv[1], 1, 8 << 20);
  int rc = 0;
  for (int i = 2; i < argc && rc == 0; i++) rc = reading ? read_file(argv[i]) : put_file(argv[i]);
  yw_rpc_channel_free(ch);
  yw_rpc_client_free(client);
  return rc == 0 ? 0 : 1;
}
