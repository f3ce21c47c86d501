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
 * A variable may span segments ({name=stores/ * /apps/ *}, without the spaces): the
 * template is expanded into one segment per pattern piece, each remembering its
 * variable, so matching stays one comparison per segment and binding joins the
 * variable's segments with '/'.
 *
 * Offers: gw_routes_compile, gw_routes_free, gw_route_match, gw_route_by_grpc_path,
 * gw_route_read_body, gw_percent_decode.
 */
#include "gw_route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "yw_err.h"
#include "yw_rpc.h"
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

/* Parses the template of r->def->path into segments and variables. */
static int parse_template(gw_route *r, char *err, size_t errlen) {
  const gw_route_def *def = r->def;
  if (def->path[0] != '/') {
    snprintf(err, errlen, "route %s: a path starts with '/'", r->label);
    return YW_EINVAL;
  }
  const char *s = def->path + 1;
  while (*s != '\0') {
    if (r->n_segments >= GW_ROUTE_MAX_SEGMENTS) {
      snprintf(err, errlen, "route %s: more than %d segments", r->label, GW_ROUTE_MAX_SEGMENTS);
      return YW_EINVAL;
    }
    if (s[0] == '{') {
      const char *close = strchr(s, '}');
      /* a custom verb after the last variable: "/v1/applications/{number}:withdraw" */
      if (close != NULL && close[1] == ':') {
        size_t vl = strlen(close + 1);
        if (vl < 2 || vl >= sizeof r->verb || strspn(close + 2, "abcdefghijklmnopqrstuvwxyz-") != vl - 1) {
          snprintf(err, errlen, "route %s: a verb is ':' and lower-case letters or '-', last", r->label);
          return YW_EINVAL;
        }
        memcpy(r->verb, close + 1, vl + 1);
      } else if (close == NULL || (close[1] != '/' && close[1] != '\0') ||
                 r->n_vars >= GW_ROUTE_MAX_VARS) {
        snprintf(err, errlen, "route %s: bad variable", r->label);
        return YW_EINVAL;
      }
      if (r->n_vars >= GW_ROUTE_MAX_VARS) {
        snprintf(err, errlen, "route %s: bad variable", r->label);
        return YW_EINVAL;
      }
      const char *eq = memchr(s, '=', (size_t)(close - s));
      const char *fend = eq != NULL ? eq : close;
      size_t flen = (size_t)(fend - s - 1);
      if (flen == 0 || flen >= sizeof r->vars[0].field) {
        snprintf(err, errlen, "route %s: bad variable", r->label);
        return YW_EINVAL;
      }
      unsigned v = (unsigned)r->n_vars;
      memcpy(r->vars[v].field, s + 1, flen);
      r->vars[v].field[flen] = '\0';
      if (check_field_path(r->method->input, r->vars[v].field) != 0) {
        snprintf(err, errlen, "route %s: %s has no scalar field %s", r->label,
                 r->method->input->name, r->vars[v].field);
        return YW_EINVAL;
      }
      r->vars[v].first = (unsigned)r->n_segments;
      /* the pattern: "*" when none is given */
      const char *p = eq != NULL ? eq + 1 : "*";
      const char *pend = eq != NULL ? close : p + 1;
      for (;;) {
        const char *slash = memchr(p, '/', (size_t)(pend - p));
        size_t len = slash != NULL ? (size_t)(slash - p) : (size_t)(pend - p);
        int wild = len == 1 && p[0] == '*';
        if (len == 0 || len >= sizeof r->segments[0].text || (!wild && memchr(p, '*', len) != NULL) ||
            r->n_segments >= GW_ROUTE_MAX_SEGMENTS) {
          snprintf(err, errlen, "route %s: variable %s: a pattern is literal segments and '*'",
                   r->label, r->vars[v].field);
          return YW_EINVAL;
        }
        memcpy(r->segments[r->n_segments].text, p, len);
        r->segments[r->n_segments].var = (int)v;
        r->n_segments++;
        if (slash == NULL) break;
        p = slash + 1;
      }
      r->vars[v].count = (unsigned)r->n_segments - r->vars[v].first;
      r->n_vars++;
      s = r->verb[0] != '\0' ? close + 1 + strlen(r->verb) : close + 1;
    } else {
      const char *end = strchr(s, '/');
      size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
      if (len == 0 || len >= sizeof r->segments[0].text || memchr(s, '{', len) != NULL ||
          memchr(s, '}', len) != NULL) {
        snprintf(err, errlen, "route %s: bad segment", r->label);
        return YW_EINVAL;
      }
      memcpy(r->segments[r->n_segments].text, s, len);
      r->segments[r->n_segments].var = -1;
      r->n_segments++;
      s += len;
    }
    if (*s == '/') s++;
  }
  return 0;
}

/* 1 when name is a valid upstream name: lower-case letters, digits and '_'. */
static int upstream_name_ok(const char *name) {
  size_t n = strlen(name);
  return n > 0 && n < 32 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int compile_one(const gw_route_def *def, const ProtobufCServiceDescriptor *const *services,
                       size_t n_services, gw_route *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  r->def = def;
  if (def->rpc == NULL || (def->http_method == NULL) != (def->path == NULL)) {
    snprintf(err, errlen, "route %s %s: rpc, and both or neither of method and path",
             def->http_method != NULL ? def->http_method : "(no method)",
             def->path != NULL ? def->path : def->rpc != NULL ? def->rpc : "(no rpc)");
    return YW_EINVAL;
  }
  if (def->http_method == NULL)
    snprintf(r->label, sizeof r->label, "grpc /%s", def->rpc);
  else
    snprintf(r->label, sizeof r->label, "%s %s", def->http_method, def->path);
  const char *slash = strchr(def->rpc, '/');
  if (slash == NULL) {
    snprintf(err, errlen, "route %s: rpc must be Service/Method", r->label);
    return YW_EINVAL;
  }
  size_t svc_len = (size_t)(slash - def->rpc);
  for (size_t i = 0; i < n_services; i++)
    if (strlen(services[i]->name) == svc_len && memcmp(services[i]->name, def->rpc, svc_len) == 0)
      r->service = services[i];
  if (r->service == NULL) {
    snprintf(err, errlen, "route %s: unknown service %.*s", r->label, (int)svc_len, def->rpc);
    return YW_EINVAL;
  }
  r->method = protobuf_c_service_descriptor_get_method_by_name(r->service, slash + 1);
  if (r->method == NULL) {
    snprintf(err, errlen, "route %s: %s has no method %s", r->label, r->service->name, slash + 1);
    return YW_EINVAL;
  }
  snprintf(r->grpc_path, sizeof r->grpc_path, "/%s", def->rpc);
  /* a route streams exactly when its method does (the kinds the .proto files declare,
   * lib/yw_rpc.h), so a stream is never answered as unary nor the reverse */
  int kind = yw_rpc_method_streams(r->grpc_path);
  if (kind == YW_RPC_CLIENT_STREAMING ||
      (kind >= 0 && (kind == YW_RPC_SERVER_STREAMING) != (def->stream != 0))) {
    snprintf(err, errlen, "route %s: %s is %s, the route %s", r->label, r->grpc_path,
             kind == YW_RPC_UNARY ? "unary" : kind == YW_RPC_SERVER_STREAMING
                                                  ? "server streaming"
                                                  : "client or bidirectional streaming",
             def->stream ? "streams" : "does not say stream");
    return YW_EINVAL;
  }
  if (def->event_id != NULL &&
      protobuf_c_message_descriptor_get_field_by_name(r->method->output, def->event_id) == NULL) {
    snprintf(err, errlen, "route %s: event_id: %s has no field %s", r->label,
             r->method->output->name, def->event_id);
    return YW_EINVAL;
  }
  if (def->upstream != NULL) {
    if (!upstream_name_ok(def->upstream)) {
      snprintf(err, errlen, "route %s: upstream \"%s\" is not a lower-case name", r->label,
               def->upstream);
      return YW_EINVAL;
    }
    snprintf(r->upstream, sizeof r->upstream, "%s", def->upstream);
  } else {
    /* the package's second component, "yiwang.catalog.v1" -> "catalog" */
    const char *pkg = r->service->package;
    const char *p1 = strchr(pkg, '.');
    const char *p2 = p1 != NULL ? strchr(p1 + 1, '.') : NULL;
    if (p1 == NULL || p2 == NULL || (size_t)(p2 - p1 - 1) >= sizeof r->upstream) {
      snprintf(err, errlen, "route %s: package %s is not yiwang.<service>.v1 (name the upstream)",
               r->label, pkg);
      return YW_EINVAL;
    }
    memcpy(r->upstream, p1 + 1, (size_t)(p2 - p1 - 1));
  }
  if (def->path == NULL) { /* gRPC only: no template, no body binding */
    if (def->body != NULL) {
      snprintf(err, errlen, "route %s: a gRPC-only route has no body binding", r->label);
      return YW_EINVAL;
    }
    return 0;
  }
  int rc = parse_template(r, err, errlen);
  if (rc != 0) return rc;
  if (def->body != NULL && strcmp(def->body, "*") != 0) {
    r->body_field = find_field(r->method->input, def->body);
    if (r->body_field == NULL) {
      snprintf(err, errlen, "route %s: body: %s has no field %s", r->label,
               r->method->input->name, def->body);
      return YW_EINVAL;
    }
  }
  if (def->upload != NULL) { /* the references' field: FileRef, repeated for several */
    const gw_upload_def *u = def->upload;
    r->upload_field = u->field != NULL ? find_field(r->method->input, u->field) : NULL;
    const ProtobufCFieldDescriptor *f = r->upload_field;
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
        strcmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name,
               "yiwang.files.v1.FileRef") != 0 ||
        (u->max_files > 1 && f->label != PROTOBUF_C_LABEL_REPEATED) || u->max_files < 1 ||
        u->max_bytes < 1 || def->body != NULL) {
      snprintf(err, errlen,
               "route %s: upload: %s needs a FileRef field (repeated for max_files > 1), "
               "max_files and max_bytes of 1 or more, and no body binding",
               r->label, r->method->input->name);
      return YW_EINVAL;
    }
  }
  if (def->raw_body != NULL) { /* the exact bytes: a bytes field, no JSON body */
    r->raw_body_field = find_field(r->method->input, def->raw_body);
    if (r->raw_body_field == NULL || r->raw_body_field->type != PROTOBUF_C_TYPE_BYTES ||
        r->raw_body_field->label == PROTOBUF_C_LABEL_REPEATED || def->body != NULL ||
        def->upload != NULL || def->raw_body_max < 0) {
      snprintf(err, errlen, "route %s: raw_body: %s needs a bytes field %s, and no body binding or upload",
               r->label, r->method->input->name, def->raw_body);
      return YW_EINVAL;
    }
    r->raw_body_max = def->raw_body_max > 0 ? (size_t)def->raw_body_max : GW_RAW_BODY_DEFAULT_MAX;
  }
  if (def->headers != NULL) { /* "header=field,...": each a string field */
    const char *p = def->headers;
    while (*p != '\0') {
      const char *comma = strchr(p, ',');
      size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
      const char *eq = memchr(p, '=', n);
      char field[64];
      size_t hn = eq != NULL ? (size_t)(eq - p) : 0, fn = eq != NULL ? n - hn - 1 : 0;
      int ok = eq != NULL && hn > 0 && hn < sizeof r->headers[0].name && fn > 0 && fn < sizeof field &&
               r->n_headers < GW_ROUTE_MAX_HEADERS;
      for (size_t i = 0; ok && i < hn; i++)
        ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-';
      const ProtobufCFieldDescriptor *f = NULL;
      if (ok) {
        memcpy(field, eq + 1, fn);
        field[fn] = '\0';
        f = find_field(r->method->input, field);
        ok = f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED;
      }
      if (!ok) {
        snprintf(err, errlen, "route %s: headers: \"%.*s\" is not header=string field of %s (lower-case names, "
                 "at most %d)", r->label, (int)n, p, r->method->input->name, GW_ROUTE_MAX_HEADERS);
        return YW_EINVAL;
      }
      memcpy(r->headers[r->n_headers].name, p, hn);
      r->headers[r->n_headers].name[hn] = '\0';
      r->headers[r->n_headers].field = f;
      r->n_headers++;
      p += n + (comma != NULL ? 1 : 0);
    }
  }
  if (def->download != NULL) { /* the file's SHA-256: a string field */
    r->download_field = find_field(r->method->input, def->download);
    if (r->download_field == NULL || r->download_field->type != PROTOBUF_C_TYPE_STRING ||
        r->download_field->label == PROTOBUF_C_LABEL_REPEATED) {
      snprintf(err, errlen, "route %s: download: %s has no string field %s", r->label,
               r->method->input->name, def->download);
      return YW_EINVAL;
    }
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

/* Decodes the segments of variable v of route r into out (size bytes). 0 or -1. */
static int bind_var(const gw_route *r, unsigned v, const char *const *seg, const size_t *seglen,
                    char *out, size_t size) {
  size_t o = 0;
  unsigned first = r->vars[v].first, count = r->vars[v].count;
  for (unsigned k = first; k < first + count; k++) {
    if (k > first) {
      if (o + 2 > size) return -1;
      out[o++] = '/';
    }
    long n = gw_percent_decode(seg[k], seglen[k], out + o, size - o, 0);
    if (n < 0) return -1;
    /* in a variable of several segments an encoded '/' would name another resource */
    if (count > 1 && memchr(out + o, '/', (size_t)n) != NULL) return -1;
    o += (size_t)n;
  }
  out[o] = '\0';
  return 0;
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
  size_t last_len = nseg > 0 ? seglen[nseg - 1] : 0;
  for (size_t i = 0; i < t->n; i++) {
    const gw_route *r = &t->routes[i];
    if (r->def->http_method == NULL || r->n_segments != nseg) continue; /* gRPC only */
    /* a route with a verb matches the last segment less its ":verb" */
    if (nseg > 0) seglen[nseg - 1] = last_len;
    if (r->verb[0] != '\0') {
      size_t vl = strlen(r->verb);
      if (last_len <= vl || memcmp(seg[nseg - 1] + last_len - vl, r->verb, vl) != 0) continue;
      seglen[nseg - 1] = last_len - vl;
    }
    int ok = 1;
    for (size_t k = 0; k < nseg && ok; k++) {
      if (r->segments[k].var >= 0 && strcmp(r->segments[k].text, "*") == 0) {
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
    for (unsigned v = 0; v < r->n_vars; v++) {
      vars[v].field = r->vars[v].field;
      if (bind_var(r, v, seg, seglen, vars[v].value, sizeof vars[v].value) != 0)
        return GW_MATCH_BAD_PATH;
    }
    *route = r;
    *n_vars = r->n_vars;
    return GW_MATCH_OK;
  }
  return method_mismatch ? GW_MATCH_BAD_METHOD : GW_MATCH_NONE;
}

const gw_route *gw_route_by_grpc_path(const gw_route_table *t, const char *grpc_path) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->routes[i].grpc_path, grpc_path) == 0) return &t->routes[i];
  return NULL;
}

int gw_route_read_body(const gw_route *route, const char *body, size_t len,
                       ProtobufCAllocator *alloc, ProtobufCMessage **out, char *err,
                       size_t errlen) {
  *out = NULL;
  json_error_t jerr;
  size_t flags = JSON_REJECT_DUPLICATES | (route->body_field != NULL ? JSON_DECODE_ANY : 0);
  json_t *doc = json_loadb(body, len, flags, &jerr);
  if (route->body_field == NULL && (doc == NULL || !json_is_object(doc))) {
    snprintf(err, errlen, "the body is not a JSON object: %s (line %d, column %d)",
             doc == NULL ? jerr.text : "expected an object", jerr.line, jerr.column);
    json_decref(doc);
    return YW_EINVAL;
  }
  if (doc == NULL) {
    snprintf(err, errlen, "the body is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
             jerr.column);
    return YW_EINVAL;
  }
  if (route->body_field != NULL) {
    /* the body is the value of one field: read it as {"field": body} */
    json_t *wrap = json_object();
    if (wrap == NULL || json_object_set_new(wrap, route->body_field->name, doc) != 0) {
      json_decref(wrap);
      snprintf(err, errlen, "out of memory");
      return YW_ENOMEM;
    }
    doc = wrap;
  }
  yw_json_error je;
  int rc = yw_json_to_message(route->method->input, doc, alloc, out, &je);
  json_decref(doc);
  if (rc != 0) {
    snprintf(err, errlen, "%s", je.text);
    return rc == YW_ENOMEM ? YW_ENOMEM : YW_EINVAL;
  }
  return 0;
}
