/*
 * uploads_server.c - yiwang.test.v1.UploadsTestService for tests/e2e/e2e_uploads.sh:
 * the owning service of uploaded files, on the real service runtime (yw_rpc), checking
 * the caller the gateway signed (YW_CALLER_KEY) as a service does.
 *
 * Submit and SubmitPhoto record each FileRef's SHA-256 as the caller's (in memory) and
 * answer what they received; AuthorizeFile answers NOT_FOUND for a hash nobody
 * submitted, PERMISSION_DENIED for another caller's, and the file's name for its owner.
 * Submit with the title "not-yours" refuses as a service refuses another's
 * application (NOT_FOUND), keeping nothing: the gateway then gives its files back.
 *
 * Usage: uploads_server HOST:PORT (serves until SIGTERM)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yiwang/test/v1/uploads.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_rpc.h"

#define MAX_OWNED 1024

static struct {
  char sha256[65];
  char owner[64];
  char name[256];
} owned[MAX_OWNED];
static int n_owned;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static yw_caller_keys keys;

static void own(const Yiwang__Files__V1__FileRef *f, const char *owner) {
  pthread_mutex_lock(&mu);
  if (n_owned < MAX_OWNED) {
    snprintf(owned[n_owned].sha256, sizeof owned[n_owned].sha256, "%s", f->sha256);
    snprintf(owned[n_owned].owner, sizeof owned[n_owned].owner, "%s", owner);
    snprintf(owned[n_owned].name, sizeof owned[n_owned].name, "%s", f->name);
    n_owned++;
  }
  pthread_mutex_unlock(&mu);
}

static int answer(yw_rpc_call *call, const char *title, int copies,
                  Yiwang__Files__V1__FileRef **files, size_t n, const char *owner,
                  ProtobufCMessage **out) {
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Test__V1__SubmitResponse *resp = yw_arena_alloc(a, sizeof *resp);
  char *who = yw_arena_strndup(a, owner, (size_t)-1);
  if (resp == NULL || who == NULL) return YW_ENOMEM;
  yiwang__test__v1__submit_response__init(resp);
  resp->title = (char *)title;
  resp->copies = copies;
  resp->files = files;
  resp->n_files = n;
  resp->owner = who;
  for (size_t i = 0; i < n; i++) own(files[i], owner);
  *out = &resp->base;
  return 0;
}

static int h_submit(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                    void *data) {
  (void)data;
  const Yiwang__Test__V1__SubmitRequest *req = (const void *)in;
  yw_caller who;
  int rc = yw_rpc_call_caller(call, &keys, &who);
  if (rc != 0) return rc;
  if (strcmp(req->title, "not-yours") == 0)
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such application");
  return answer(call, req->title, req->copies, req->files, req->n_files, who.subject, out);
}

static int h_photo(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                   void *data) {
  (void)data;
  const Yiwang__Test__V1__SubmitPhotoRequest *req = (const void *)in;
  yw_caller who;
  int rc = yw_rpc_call_caller(call, &keys, &who);
  if (rc != 0) return rc;
  if (req->photo == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "no photo");
  Yiwang__Files__V1__FileRef **one = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *one);
  if (one == NULL) return YW_ENOMEM;
  one[0] = req->photo;
  return answer(call, "photo", 1, one, 1, who.subject, out);
}

static int h_authorize(yw_rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *data) {
  (void)data;
  const Yiwang__Test__V1__AuthorizeFileRequest *req = (const void *)in;
  yw_caller who;
  int rc = yw_rpc_call_caller(call, &keys, &who);
  if (rc != 0) return rc;
  const char *name = NULL;
  int other = 0;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < n_owned; i++) {
    if (strcmp(owned[i].sha256, req->sha256) != 0) continue;
    if (strcmp(owned[i].owner, who.subject) == 0)
      name = yw_arena_strndup(yw_rpc_call_arena(call), owned[i].name, (size_t)-1);
    else
      other = 1;
  }
  pthread_mutex_unlock(&mu);
  if (name == NULL && other) return yw_rpc_call_fail(call, YW_EPERM, "not your file");
  if (name == NULL) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such file");
  Yiwang__Test__V1__AuthorizeFileResponse *resp =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__test__v1__authorize_file_response__init(resp);
  resp->name = (char *)name;
  *out = &resp->base;
  return 0;
}

static const yw_rpc_method methods[] = {
    {.name = "Submit", .fn = h_submit},
    {.name = "SubmitPhoto", .fn = h_photo},
    {.name = "AuthorizeFile", .fn = h_authorize},
};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: uploads_server HOST:PORT\n");
    return 2;
  }
  yw_rpc_block_signals();
  yw_log_init("uploads-test", YW_LOG_WARN);
  const char *key = getenv("YW_CALLER_KEY");
  if (key == NULL || yw_caller_keys_from_hex(&keys, key, NULL, 30) != 0) {
    fprintf(stderr, "uploads_server: YW_CALLER_KEY (64 hex) is needed\n");
    return 2;
  }
  yw_rpc_service svc = {.descriptor = &yiwang__test__v1__uploads_test_service__descriptor,
                        .methods = methods,
                        .n_methods = sizeof methods / sizeof methods[0]};
  yw_rpc_server *server = NULL;
  if (yw_rpc_server_new(argv[1], 4, &server) != 0 || yw_rpc_server_add_service(server, &svc) != 0 ||
      yw_rpc_server_start(server) != 0) {
    fprintf(stderr, "uploads_server: cannot serve on %s\n", argv[1]);
    return 1;
  }
  yw_rpc_server_wait_signal(server);
  yw_rpc_server_free(server);
  return 0;
}
