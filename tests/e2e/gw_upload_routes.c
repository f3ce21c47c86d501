/*
 * gw_upload_routes.c - the route table of yw-gateway-uploads, the gateway built from
 * yw-gateway's own sources with these routes instead of gateway/gw_routes.c
 * (tests/CMakeLists.txt), so that tests/e2e/e2e_uploads.sh drives the real upload and
 * download phases against a test owning service (uploads_server.c) and yw-files.
 * Login goes through the production gateway of the same test (sessions are in Redis).
 */
#include "gw_routes.h"

#include "yiwang/test/v1/uploads.pb-c.h"

#define UP "yiwang.test.v1.UploadsTestService/"

/* materials: up to 3 images or PDFs of at most 64 KiB each, as multipart/form-data */
static const gw_upload_def materials = {"files", 64 * 1024, 3, "image/png,image/jpeg,application/pdf", 0};
/* a photo: the raw body is one image of at most 4 MiB */
static const gw_upload_def photo = {"photo", 4 * 1024 * 1024, 1, "image/*", 1};
/* bench/upload.sh: a raw body of any known type up to 16 MiB, for anyone */
static const gw_upload_def bench = {"photo", 16 * 1024 * 1024, 1, NULL, 1};
/* an archive: the raw body is one file of any known type up to 16 MiB, larger than two
 * answers' bodies, so that its download is streamed */
static const gw_upload_def archive = {"photo", 16 * 1024 * 1024, 1, NULL, 1};

const gw_route_def gw_route_defs[] = {
    {.http_method = "POST", .path = "/v1/test/uploads", .rpc = UP "Submit",
     .access = GW_ACCESS_STAFF, .upstream = "test", .upload = &materials},
    {.http_method = "PUT", .path = "/v1/test/photo", .rpc = UP "SubmitPhoto",
     .access = GW_ACCESS_STAFF, .upstream = "test", .upload = &photo},
    {.http_method = "PUT", .path = "/v1/test/bench-upload", .rpc = UP "SubmitPhoto",
     .access = GW_ACCESS_PUBLIC, .upstream = "test", .upload = &bench},
    {.http_method = "PUT", .path = "/v1/test/archive", .rpc = UP "SubmitPhoto",
     .access = GW_ACCESS_STAFF, .upstream = "test", .upload = &archive},
    {.http_method = "GET", .path = "/v1/test/files/{sha256}", .rpc = UP "AuthorizeFile",
     .access = GW_ACCESS_STAFF, .upstream = "test", .download = "sha256"},
    /* bench/upload.sh: what was uploaded through bench-upload comes back, for anyone */
    {.http_method = "GET", .path = "/v1/test/bench-files/{sha256}", .rpc = UP "AuthorizeFile",
     .access = GW_ACCESS_PUBLIC, .upstream = "test", .download = "sha256"},
};
const size_t gw_route_defs_count = sizeof gw_route_defs / sizeof gw_route_defs[0];

const ProtobufCServiceDescriptor *const gw_services[] = {
    &yiwang__test__v1__uploads_test_service__descriptor,
};
const size_t gw_services_count = sizeof gw_services / sizeof gw_services[0];
