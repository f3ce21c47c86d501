/*
 * gw_test_routes.c - the route table of yw-gateway-test: the gateway built from the
 * same sources as yw-gateway (tests/CMakeLists.txt), with routes to the test services
 * of tests/proto/yiwang/test/v1 instead of the city's. It replaces gateway/gw_routes.c
 * (the same four symbols), so the e2e tests drive the real connection, request, access
 * and upstream code against a test service.
 */
#include "gw_routes.h"

#include "yiwang/test/v1/feed.pb-c.h"
#include "yiwang/test/v1/notes.pb-c.h"

#define FEED "yiwang.test.v1.FeedService/"
#define NOTES "yiwang.test.v1.NotesService/"

/* a note's attachments: up to 5 images or PDFs of at most 1 MiB each, multipart */
static const gw_upload_def note_files = {"files", 1 << 20, 5,
                                         "image/png,image/jpeg,application/pdf", 0};

const gw_route_def gw_route_defs[] = {
    /* a public event stream: anyone, counted per address */
    {.http_method = "GET", .path = "/v1/test/feed/{topic}", .rpc = FEED "Watch",
     .access = GW_ACCESS_PUBLIC, .upstream = "test", .stream = 1, .event_id = "seq",
     .event = "feed"},
    /* a resident's own feed: the access rule of any route applies */
    {.http_method = "GET", .path = "/v1/test/me/feed", .rpc = FEED "Watch",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test", .stream = 1,
     .event_id = "seq"},

    /* yw-testsvc (tests/testsvc): a resident's notes on every platform piece */
    {.http_method = "POST", .path = "/v1/test/notes", .rpc = NOTES "CreateNote", .body = "note",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test",
     .idempotent = GW_IDEM_OPTIONAL},
    {.http_method = "GET", .path = "/v1/test/notes", .rpc = NOTES "ListNotes",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test"},
    {.http_method = "GET", .path = "/v1/test/notes:watch", .rpc = NOTES "WatchNotes",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test", .stream = 1,
     .event_id = "id", .event = "note"},
    {.http_method = "GET", .path = "/v1/test/{name=notes/*}", .rpc = NOTES "GetNote",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test"},
    {.http_method = "GET", .path = "/v1/test/{name=notes/*}/item", .rpc = NOTES "GetNoteItem",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test"},
    /* uploads by reference into yw-files, downloads as the owner allows */
    {.http_method = "POST", .path = "/v1/test/{name=notes/*}/attachments",
     .rpc = NOTES "AttachFiles", .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test",
     .upload = &note_files},
    {.http_method = "GET", .path = "/v1/test/files/{sha256}", .rpc = NOTES "AuthorizeFile",
     .access = GW_ACCESS_PERSON, .min_level = 1, .upstream = "test", .download = "sha256"},
    /* reachable over gRPC only, by any logged-in account */
    {.rpc = NOTES "Ping", .access = GW_ACCESS_ACCOUNT, .upstream = "test"},
};
const size_t gw_route_defs_count = sizeof gw_route_defs / sizeof gw_route_defs[0];

const ProtobufCServiceDescriptor *const gw_services[] = {
    &yiwang__test__v1__feed_service__descriptor,
    &yiwang__test__v1__notes_service__descriptor,
};
const size_t gw_services_count = sizeof gw_services / sizeof gw_services[0];
