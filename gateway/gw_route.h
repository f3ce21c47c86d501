/*
 * gw_route.h - the gateway's declarative route table: HTTP method and path template
 * to a full gRPC method, with the request fields taken from path, query and body, in
 * the spirit of google.api.http.
 *
 * A template is literal segments and {field} variables separated by '/':
 *   "/v1/items/{code}"  binds the segment to the request field `code`
 *   "/v1/auth/sessions:refresh"  a custom verb is part of the last literal segment
 * A variable names a request field by proto or JSON name, dotted for nested fields.
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

typedef struct gw_route_def {
  const char *http_method; /* "GET", "POST", "PUT", "DELETE" */
  const char *path;        /* template */
  const char *rpc;         /* "yiwang.catalog.v1.CatalogService/GetItem" */
  const char *body;        /* NULL: the request has no body; "*": the body is the request */
  gw_access access;
  int timeout_ms;          /* 0: the gateway's default */
  const char *roles;       /* GW_ACCESS_STAFF: roles allowed, comma-separated */
  int min_level;           /* GW_ACCESS_PERSON: least real-name level */
} gw_route_def;

#define GW_ROUTE_MAX_SEGMENTS 16
#define GW_ROUTE_MAX_VARS 4

typedef struct gw_route {
  const gw_route_def *def;
  const ProtobufCServiceDescriptor *service;
  const ProtobufCMethodDescriptor *method;
  char grpc_path[160];   /* "/yiwang.catalog.v1.CatalogService/GetItem" */
  char upstream[64];     /* the service's short name in lower case: "catalog" */
  size_t n_segments;
  struct {
    char text[64];       /* literal text, or the field path of a variable */
    int is_var;
  } segments[GW_ROUTE_MAX_SEGMENTS];
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

/* Percent-decodes src[0..len) into dst (size bytes). '+' stays '+' unless plus_space.
 * Returns the decoded length or -1 on bad encoding, an embedded NUL or overflow. */
long gw_percent_decode(const char *src, size_t len, char *dst, size_t size, int plus_space);

#endif
