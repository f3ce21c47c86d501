/*
 * gw_route.c - compiling and matching the route table.
 *
 * Compilation resolves each route's service and method by name among the linked
 * protobuf-c service descriptors and checks that every path variable names a scalar
 * field of the request message (dotted paths through message fields). Matching is a
 * linear scan over segments, which for a table of tens of routes costs less than the
 * hashing a trie would need; the first matching route wins, so more specific templates
 * go first in the table.
 *
 * Offers: gw_routes_compile, gw_routes_free, gw_route_match, gw_route_by_grpc_path,
 * gw_percent_decode.
 */
#include "gw_route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_json.h"

/* Finds a field by proto name or JSON name. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *name) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
  if (f != NULL) return f;
  for (unsigned i = 0; i < d->n_fields; i++) {
    char json[128];
    if (yw_json_name(d->fields[i].name, json, sizeof json) == 0 && strcmp(json, name) == 0)
      return &d->fields[i];
  }
  return NULL;
}

/* Checks that path (dotted) names a non-repeated scalar field under d. */
static int check_field_path(const ProtobufCMessageDescriptor *d, const char *path) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", path);
  char *save = buf;
  for (;;) {
    char *dot = strchr(save, '.');
    if (dot != NULL) *dot = '\0';
    const ProtobufCFieldDescriptor *f = find_field(d, save);
    if (f == NULL) return YW_EINVAL;
    if (dot == NULL)
      return f->type == PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED
                 ? YW_EINVAL
                 : 0;
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
      return YW_EINVAL;
    d = f->descriptor;
    save = dot + 1;
  }
}

static int compile_one(const gw_route_def *def, const ProtobufCServiceDescriptor *const *services,
                       size_t n_services, gw_route *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  r->def = def;
  const char *slash = strchr(def->rpc, '/');
  if (slash == NULL) {
    snprintf(err, errlen, "route %s %s: rpc must be Service/Method", def->http_method, def->path);
    return YW_EINVAL;
  }
  size_t svc_len = (size_t)(slash - def->rpc);
  for (size_t i = 0; i < n_services; i++)
    if (strlen(services[i]->name) == svc_len && memcmp(services[i]->name, def->rpc, svc_len) == 0)
      r->service = services[i];
  if (r->service == NULL) {
    snprintf(err, errlen, "route %s %s: unknown service %.*s", def->http_method, def->path,
             (int)svc_len, def->rpc);
    return YW_EINVAL;
  }
  r->method = protobuf_c_service_descriptor_get_method_by_name(r->service, slash + 1);
  if (r->method == NULL) {
    snprintf(err, errlen, "route %s %s: %s has no method %s", def->http_method, def->path,
             r->service->name, slash + 1);
    return YW_EINVAL;
  }
  snprintf(r->grpc_path, sizeof r->grpc_path, "/%s", def->rpc);
  /* upstream: the package's second component, "yiwang.catalog.v1" -> "catalog" */
  const char *pkg = r->service->package;
  const char *p1 = strchr(pkg, '.');
  const char *p2 = p1 != NULL ? strchr(p1 + 1, '.') : NULL;
  if (p1 == NULL || p2 == NULL || (size_t)(p2 - p1 - 1) >= sizeof r->upstream) {
    snprintf(err, errlen, "route %s %s: package %s is not yiwang.<service>.v1", def->http_method,
             def->path, pkg);
    return YW_EINVAL;
  }
  memcpy(r->upstream, p1 + 1, (size_t)(p2 - p1 - 1));

  if (def->path[0] != '/') {
    snprintf(err, errlen, "route %s: a path starts with '/'", def->path);
    return YW_EINVAL;
  }
  const char *s = def->path + 1;
  while (*s != '\0') {
    const char *end = strchr(s, '/');
    size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
    if (r->n_segments >= GW_ROUTE_MAX_SEGMENTS || len == 0 || len >= sizeof r->segments[0].text) {
      snprintf(err, errlen, "route %s: bad segment", def->path);
      return YW_EINVAL;
    }
    if (s[0] == '{') {
      if (s[len - 1] != '}' || len < 3) {
        snprintf(err, errlen, "route %s: bad variable", def->path);
        return YW_EINVAL;
      }
      memcpy(r->segments[r->n_segments].text, s + 1, len - 2);
      r->segments[r->n_segments].is_var = 1;
      if (check_field_path(r->method->input, r->segments[r->n_segments].text) != 0) {
        snprintf(err, errlen, "route %s %s: %s has no scalar field %s", def->http_method,
                 def->path, r->method->input->name, r->segments[r->n_segments].text);
        return YW_EINVAL;
      }
    } else {
      memcpy(r->segments[r->n_segments].text, s, len);
    }
    r->n_segments++;
    s += len;
    if (*s == '/') s++;
  }
  if (def->body != NULL && strcmp(def->body, "*") != 0) {
    snprintf(err, errlen, "route %s %s: body is NULL or \"*\"", def->http_method, def->path);
    return YW_EINVAL;
  }
  return 0;
}

int gw_routes_compile(const gw_route_def *defs, size_t n,
                      const ProtobufCServiceDescriptor *const *services, size_t n_services,
                      gw_route_table *out, char *err, size_t errlen) {
  out->routes = calloc(n + 1, sizeof *out->routes);
  out->n = 0;
  if (out->routes == NULL) return YW_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    int rc = compile_one(&defs[i], services, n_services, &out->routes[i], err, errlen);
    if (rc != 0) {
      gw_routes_free(out);
      return rc;
    }
    out->n++;
  }
  return 0;
}

void gw_routes_free(gw_route_table *t) {
  free(t->routes);
  t->routes = NULL;
  t->n = 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long gw_percent_decode(const char *src, size_t len, char *dst, size_t size, int plus_space) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)src[i];
    if (c == '%') {
      if (i + 2 >= len) return -1;
      int h = hexval((unsigned char)src[i + 1]);
      int l = hexval((unsigned char)src[i + 2]);
      if (h < 0 || l < 0) return -1;
      c = h * 16 + l;
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (c == 0 || o + 1 >= size) return -1;
    dst[o++] = (char)c;
  }
  dst[o] = '\0';
  return (long)o;
}

int gw_route_match(const gw_route_table *t, const char *method, const char *path,
                   const gw_route **route, gw_route_var *vars, size_t *n_vars) {
  /* Split the path once. */
  const char *seg[GW_ROUTE_MAX_SEGMENTS];
  size_t seglen[GW_ROUTE_MAX_SEGMENTS];
  size_t nseg = 0;
  if (path[0] != '/') return GW_MATCH_NONE;
  const char *s = path + 1;
  while (*s != '\0') {
    if (nseg >= GW_ROUTE_MAX_SEGMENTS) return GW_MATCH_NONE;
    const char *end = strchr(s, '/');
    size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
    seg[nseg] = s;
    seglen[nseg] = len;
    nseg++;
    s += len;
    if (*s == '/') {
      s++;
      if (*s == '\0') return GW_MATCH_NONE; /* a trailing slash names no resource */
    }
  }
  int method_mismatch = 0;
  for (size_t i = 0; i < t->n; i++) {
    const gw_route *r = &t->routes[i];
    if (r->n_segments != nseg) continue;
    size_t nv = 0;
    int ok = 1;
    for (size_t k = 0; k < nseg && ok; k++) {
      if (r->segments[k].is_var) {
        if (seglen[k] == 0) ok = 0;
        continue;
      }
      if (strlen(r->segments[k].text) != seglen[k] ||
          memcmp(r->segments[k].text, seg[k], seglen[k]) != 0)
        ok = 0;
    }
    if (!ok) continue;
    if (strcmp(r->def->http_method, method) != 0) {
      method_mismatch = 1;
      continue;
    }
    for (size_t k = 0; k < nseg; k++) {
      if (!r->segments[k].is_var) continue;
      if (nv >= GW_ROUTE_MAX_VARS) return GW_MATCH_BAD_PATH;
      vars[nv].field = r->segments[k].text;
      if (gw_percent_decode(seg[k], seglen[k], vars[nv].value, sizeof vars[nv].value, 0) < 0)
        return GW_MATCH_BAD_PATH;
      nv++;
    }
    *route = r;
    *n_vars = nv;
    return GW_MATCH_OK;
  }
  return method_mismatch ? GW_MATCH_BAD_METHOD : GW_MATCH_NONE;
}

const gw_route *gw_route_by_grpc_path(const gw_route_table *t, const char *grpc_path) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->routes[i].grpc_path, grpc_path) == 0) return &t->routes[i];
  return NULL;
}
