/*
 * gw_route.h - the gateway's declarative route table: HTTP method and path template
 * to a full gRPC method, with the request fields taken from path, query and body, in
 * the spirit of google.api.http.
 *
 * A template is literal segments and {field} variables separated by '/':
 *   "/v1/items/{code}"  binds the segment to the request field `code`
 *   "/v1/{name=stores/ * /apps/ *}"  (without the spaces, which only this comment needs)
 *       binds four segments, literal and `*` (any one segment, not empty), to `name`
 *       as their text: "stores/s1/apps/a2"
 *   "/v1/auth/sessions:refresh"  a custom verb is part of the last literal segment
 * A variable names a request field by proto or JSON name, dotted for nested fields.
 * Each segment is percent-decoded on its own; in a variable of several segments a
 * segment that decodes to a '/' is refused (it would name another resource).
 *
 * The body: NULL (the request has none), "*" (a JSON object that is the request
 * message), or a field's name (the JSON value of that one field: body: "item").
 *
 * A route without http_method and path is reachable over gRPC only (pass-through by
 * its gRPC path), under its access rule. Every route names its upstream, the name of
 * a YW_UPSTREAM_<NAME> setting in lower case; the gateway refuses to start when a
 * route's upstream is not configured.
 * Routes are checked against the protobuf-c descriptors at start-up (gw_routes_compile):
 * a route naming an unknown service, method or field stops the gateway from starting.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Who may call a route. The gateway refuses with 401 (no valid session) or 403 (a
 * session that is not allowed) before any upstream is called. */
typedef enum gw_access {
  GW_ACCESS_PUBLIC = 0, /* anyone; a token, when given, must be valid and names the caller */
  GW_ACCESS_ACCOUNT,    /* any logged-in account, resident or staff */
  GW_ACCESS_PERSON,     /* a logged-in resident with at least min_level */
  GW_ACCESS_LEGAL_PERSON, /* a resident acting for a company bound to them (min_level too) */
  GW_ACCESS_STAFF,      /* staff holding one of roles ("a,b"; NULL: any staff) */
  GW_ACCESS_INTERNAL,   /* never served through the gateway */
} gw_access;

/* Whether a route takes an Idempotency-Key (gateway/gw_idem.h, lib/yw_idem.h). */
typedef enum gw_idem {
  GW_IDEM_NONE = 0, /* the header is ignored and never forwarded */
  GW_IDEM_OPTIONAL, /* a key, when sent, is checked and forwarded to the service */
  GW_IDEM_REQUIRED, /* a request without a key is refused (400) */
} gw_idem;

/* What an upload route takes (gw_upload.h). */
typedef struct gw_upload_def {
  const char *field; /* the request's FileRef field (repeated for several files) */
  long max_bytes;    /* the largest file, bytes: past it 413 */
  int max_files;     /* most files in one request: past it 400 (1 for a singular field) */
  const char *types; /* allowed types, "image/jpeg,application/pdf" (a subtype of '*'
                      * allows a whole kind); NULL: any type yw_sniff knows; a type not
                      * allowed, or that the bytes contradict: 415 */
  int raw;           /* 1: the body is the one file (content-type its declared type, the
                      * x-file-name header its name); 0: multipart/form-data */
} gw_upload_def;

/* A route's own rate limit, per client address (IPv4 address or IPv6 /64), taken in
 * addition to the general one (gw_auth.c): a class of routes that share one bucket per
 * address, its rate and burst from configuration. */
typedef enum gw_limit_class {
  GW_LIMIT_NONE = 0, /* only the general limits */
  GW_LIMIT_LOOKUP,   /* "lookup": codes and numbers anyone may try (notice codes, receipt
                      * numbers); YW_GATEWAY_RATE_LOOKUP, YW_GATEWAY_BURST_LOOKUP, and a
                      * lookup the service answers NOT_FOUND costs
                      * YW_GATEWAY_LOOKUP_MISS_COST tokens in all */
} gw_limit_class;

typedef struct gw_route_def {
  const char *http_method; /* "GET", "POST", "PUT", "DELETE"; NULL (and path NULL): gRPC only */
  const char *path;        /* template */
  const char *rpc;         /* "yiwang.catalog.v1.CatalogService/GetItem" */
  const char *body;        /* NULL: no body; "*": the body is the request; "f": field f */
  gw_access access;
  int timeout_ms;          /* 0: the gateway's default */
  const char *roles;       /* GW_ACCESS_STAFF: roles allowed, comma-separated */
  int min_level;           /* GW_ACCESS_PERSON: least real-name level */
  const char *upstream;    /* "catalog": YW_UPSTREAM_CATALOG; NULL: the package's second part */
  /* Uploads (gw_upload.h): the body is files, streamed to the file store (yw-files),
   * and the method gets FileRef references in place of their bytes: set by name,
   * {..., "svc", .upload = &(const gw_upload_def){"files", 10 << 20, 5, "image/png"}}. */
  const struct gw_upload_def *upload;
  /* Downloads (gw_upload.h): the route's method is the owning service's authorisation
   * of the file whose SHA-256 is in this request field; when it answers OK the gateway
   * answers the file from the store (ETag, 304, one Range). */
  const char *download;
  /* The service keeps the first answer of each key (lib/yw_idem.h): set by name,
   * {..., "catalog", .idempotent = GW_IDEM_OPTIONAL}. */
  gw_idem idempotent;
  /* Server streaming (gw_sse.h): the method answers a stream of messages. JSON clients
   * get it as Server-Sent Events (text/event-stream), gRPC and gRPC-Web clients
   * message by message; no deadline of the gateway's, no idle timeout; counted in
   * YW_GATEWAY_STREAMS_PER_CALLER. Declared with designated initializers:
   *   {.http_method = "GET", .path = "/v1/me/feed", ..., .stream = 1, .event_id = "id"} */
  int stream;
  const char *event_id; /* stream: the answer's field (proto name) each event's id comes from */
  const char *event;    /* stream: the event name of every message ("event: ..."); NULL: none */
  /* A public GET whose answer is the same for every caller: its 200 JSON answers are
   * kept this many ms in each gateway worker's memory (gw_cache.h) and answered from
   * there. Any other call that reaches the same upstream through this gateway (a
   * write) makes what its workers kept from that upstream stale at once; other
   * gateway copies see a write within this time. 0: never kept. */
  int cache_ms;
  /* Raw bodies (callbacks whose signature covers the exact bytes, e.g. a payment
   * channel's notification): the body, whatever its type, goes unparsed into this bytes
   * field of the request, at most raw_body_max bytes (0: 64 KiB; larger: 413 with the
   * standard error body); no JSON body binding then. headers names request headers
   * copied into string fields: "yw-pay-timestamp=timestamp,yw-pay-nonce=nonce" (lower
   * case; an absent header leaves its field ""). Declared by name:
   *   {..., "svc", .raw_body = "body", .headers = "yw-pay-nonce=nonce"} */
  const char *raw_body;
  const char *headers;
  int raw_body_max;
  /* The method answers a file made on request (a report's export): its answer's fields
   * `content` (bytes), `content_type` and `name` become the HTTP answer of JSON
   * clients: the bytes as the body, content-type, and content-disposition attachment
   * with the name; gRPC clients get the message. Set by name, {..., .file_answer = 1}. */
  int file_answer;
  /* The route's own limit class (above), per client address, whoever calls: set by
   * name, {..., "payment", .limit = GW_LIMIT_LOOKUP}. Past it 429 with retry-after. */
  gw_limit_class limit;
} gw_route_def;

#define GW_ROUTE_MAX_HEADERS 8
#define GW_RAW_BODY_DEFAULT_MAX (64 * 1024)

#define GW_ROUTE_MAX_SEGMENTS 16
#define GW_ROUTE_MAX_VARS 4

typedef struct gw_route {
  const gw_route_def *def;
  const ProtobufCServiceDescriptor *service;
  const ProtobufCMethodDescriptor *method;
  char grpc_path[160];   /* "/yiwang.catalog.v1.CatalogService/GetItem" */
  char upstream[64];     /* the upstream's name in lower case: "catalog" */
  char label[200];       /* "GET /v1/items/{code}", or "grpc /pkg.Svc/Method" */
  const ProtobufCFieldDescriptor *body_field; /* body names one field; NULL otherwise */
  const ProtobufCFieldDescriptor *upload_field;   /* def->upload: the FileRef field */
  const ProtobufCFieldDescriptor *download_field; /* def->download: the SHA-256 field */
  const ProtobufCFieldDescriptor *raw_body_field; /* def->raw_body: the bytes field */
  size_t raw_body_max;                            /* its cap in bytes */
  size_t n_headers;                               /* def->headers, parsed */
  struct {
    char name[64];                                /* the header, lower case */
    const ProtobufCFieldDescriptor *field;        /* the string field it goes to */
  } headers[GW_ROUTE_MAX_HEADERS];
  size_t n_segments;     /* 0 for a gRPC-only route */
  struct {
    char text[64];       /* literal text, or "*" for any one segment */
    int var;             /* the variable the segment belongs to, or -1 */
  } segments[GW_ROUTE_MAX_SEGMENTS];
  size_t n_vars;
  char verb[32];         /* a custom verb after the last variable (":withdraw"), or "" */
  struct {
    char field[64];      /* the field path */
    unsigned first, count; /* its segments */
  } vars[GW_ROUTE_MAX_VARS];
} gw_route;

typedef struct gw_route_table {
  gw_route *routes;
  size_t n;
} gw_route_table;

typedef struct gw_route_var {
  const char *field; /* points into the route */
  char value[256];   /* percent-decoded */
} gw_route_var;

/*
 * Compiles defs against services (the descriptors the gateway links). On error returns
 * YW_EINVAL and writes the reason (route and problem) into err.
 */
int gw_routes_compile(const gw_route_def *defs, size_t n,
                      const ProtobufCServiceDescriptor *const *services, size_t n_services,
                      gw_route_table *out, char *err, size_t errlen);

void gw_routes_free(gw_route_table *t);

/* Result of matching a request. */
enum gw_match {
  GW_MATCH_OK = 0,
  GW_MATCH_NONE = -1,        /* no template matches the path: 404 */
  GW_MATCH_BAD_METHOD = -2,  /* a template matches but not for this method: 405 */
  GW_MATCH_BAD_PATH = -3,    /* bad percent-encoding or a segment too long: 400 */
};

/*
 * Matches method and path (no query string) against the table. On GW_MATCH_OK *route
 * is set and vars[0..*n_vars) hold the bound variables.
 */
int gw_route_match(const gw_route_table *t, const char *method, const char *path,
                   const gw_route **route, gw_route_var *vars, size_t *n_vars);

/* Finds the route whose gRPC method is grpc_path ("/pkg.Svc/Method"), for pass-through. */
const gw_route *gw_route_by_grpc_path(const gw_route_table *t, const char *grpc_path);

/*
 * Reads a JSON body (len bytes) into a new request message of route, allocated with
 * alloc: the whole message (body "*": a JSON object) or its one body field. Returns 0,
 * YW_EINVAL with err saying what is wrong with the body, or YW_ENOMEM.
 */
int gw_route_read_body(const gw_route *route, const char *body, size_t len,
                       ProtobufCAllocator *alloc, ProtobufCMessage **out, char *err,
                       size_t errlen);

/* Percent-decodes src[0..len) into dst (size bytes). '+' stays '+' unless plus_space.
 * Returns the decoded length or -1 on bad encoding, an embedded NUL or overflow. */
long gw_percent_decode(const char *src, size_t len, char *dst, size_t size, int plus_space);

#endif
