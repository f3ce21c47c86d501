/*
 * gw_handle.c - the phases that give a request its meaning, and the shapes of answers.
 *
 * Phases (their order is the table in gw_request.c): kind (JSON or a gRPC flavour, from
 * the content type), cors (the allowed Origin; a preflight answered), builtin
 * (/healthz, /readyz, /metrics), route (gRPC / gRPC-Web pass-through to the method
 * named by the path, or a REST route of the table transcoded from JSON, path and query
 * to protobuf) and upstream (the call, suspended until its answer, then the answer in
 * the request's shape). The answer functions only make an answer; the request layer's
 * finish adds the common headers, logs and sends it.
 *
 * Transcoding is generic: the route gives the request message descriptor; the body is
 * read with yw_json_to_message, path variables and query parameters are set with
 * yw_json_set_field_text, the answer is unpacked by the method's output descriptor and
 * written with yw_json_from_message. No code here knows any particular method.
 *
 * Offers: gw_phase_kind, gw_phase_cors, gw_phase_builtin, gw_phase_route,
 * gw_phase_upstream, gw_filter_cors, gw_answer_bytes, gw_answer_error,
 * gw_answer_http_error.
 */
#include <ctype.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"
#include "gw_grpcweb.h"
#include "gw_metrics.h"
#include "gw_sse.h"
#include "gw_upload.h"
#include "yw_err.h"
#include "yw_idem.h"
#include "yw_json.h"
#include "yw_log.h"

#define GRPC_FRAME_HEADER 5

static const char CORS_ALLOW_HEADERS[] =
    "authorization, content-type, x-request-id, x-grpc-web, x-user-agent, grpc-timeout, "
    "idempotency-key";
static const char CORS_EXPOSE_HEADERS[] = "x-request-id, grpc-status, grpc-message, retry-after, idempotent-replayed";

/* ---- helpers --------------------------------------------------------------------- */

void gw_answer_bytes(gw_req *r, int status, const char *content_type, const void *body,
                     size_t len) {
  r->status = status;
  if (content_type != NULL) gw_req_add_header(r, "content-type", content_type);
  if (len > 0) {
    r->resp_body = yw_arena_alloc(r->arena, len);
    if (r->resp_body == NULL) {
      len = 0;
      r->status = 500;
    } else {
      memcpy(r->resp_body, body, len);
    }
  }
  r->resp_len = len;
}

static void respond_json(gw_req *r, int status, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (text == NULL) {
    gw_answer_bytes(r, 500, "application/json", "{\"code\":\"INTERNAL\"}", 19);
    return;
  }
  gw_answer_bytes(r, status, "application/json", text, strlen(text));
  free(text);
}

/* Percent-encodes a grpc-message value (gRPC spec: bytes outside 0x20-0x7e and '%'). */
char *gw_grpc_message_encode(yw_arena *a, const char *msg) {
  size_t n = strlen(msg);
  char *out = yw_arena_alloc(a, n * 3 + 1);
  if (out == NULL) return (char *)"";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)msg[i];
    if (c < 0x20 || c > 0x7e || c == '%') {
      snprintf(out + o, 4, "%%%02X", c);
      o += 3;
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

static char *status_text(yw_arena *a, grpc_status_code st) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d", (int)st);
  return yw_arena_strndup(a, buf, (size_t)-1);
}

static char *base64_encode(yw_arena *a, const uint8_t *data, size_t len, size_t *out_len) {
  char *out = yw_arena_alloc(a, 4 * ((len + 2) / 3) + 1);
  if (out == NULL) return NULL;
  int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  *out_len = (size_t)n;
  return out;
}

/* Builds the body of a gRPC-Web answer: the message frame (if any) and the trailer
 * frame, base64 for -text. */
static void respond_grpc_web(gw_req *r, grpc_status_code st, const char *message,
                             const uint8_t *data, size_t len, const char *extra_trailers) {
  const char *enc = gw_grpc_message_encode(r->arena, message != NULL ? message : "");
  size_t tcap = strlen(enc) + (extra_trailers != NULL ? strlen(extra_trailers) : 0) + 64;
  char *trailers = yw_arena_alloc(r->arena, tcap);
  size_t total = (data != NULL ? GRPC_FRAME_HEADER + len : 0) + GRPC_FRAME_HEADER + tcap;
  uint8_t *buf = yw_arena_alloc(r->arena, total);
  if (trailers == NULL || buf == NULL) {
    gw_answer_bytes(r, 500, NULL, NULL, 0);
    return;
  }
  int tlen = snprintf(trailers, tcap, "grpc-status:%d\r\ngrpc-message:%s\r\n%s", (int)st, enc,
                      extra_trailers != NULL ? extra_trailers : "");
  size_t o = 0;
  if (data != NULL) {
    buf[o++] = 0;
    buf[o++] = (uint8_t)(len >> 24);
    buf[o++] = (uint8_t)(len >> 16);
    buf[o++] = (uint8_t)(len >> 8);
    buf[o++] = (uint8_t)len;
    memcpy(buf + o, data, len);
    o += len;
  }
  buf[o++] = 0x80;
  buf[o++] = (uint8_t)((size_t)tlen >> 24);
  buf[o++] = (uint8_t)((size_t)tlen >> 16);
  buf[o++] = (uint8_t)((size_t)tlen >> 8);
  buf[o++] = (uint8_t)tlen;
  memcpy(buf + o, trailers, (size_t)tlen);
  o += (size_t)tlen;
  if (r->kind == GW_KIND_GRPC_WEB_TEXT) {
    size_t blen = 0;
    char *b64 = base64_encode(r->arena, buf, o, &blen);
    if (b64 == NULL) {
      gw_answer_bytes(r, 500, NULL, NULL, 0);
      return;
    }
    gw_answer_bytes(r, 200, "application/grpc-web-text+proto", b64, blen);
  } else {
    gw_answer_bytes(r, 200, "application/grpc-web+proto", buf, o);
  }
}

/* Adds the upstream's custom trailers ("key:value\r\n" lines) to the answer: as
 * trailers after a message, or as headers of a Trailers-Only answer. */
static void forward_trailers(gw_req *r, int as_headers) {
  if (r->up_trailers == NULL) return;
  char *copy = yw_arena_strndup(r->arena, r->up_trailers, (size_t)-1);
  for (char *line = copy; line != NULL && *line != '\0';) {
    char *end = strstr(line, "\r\n");
    if (end == NULL) break;
    *end = '\0';
    char *colon = strchr(line, ':');
    if (colon != NULL) {
      *colon = '\0';
      if (as_headers)
        gw_req_add_header(r, line, colon + 1);
      else if (r->n_trailers < sizeof r->trailers / sizeof r->trailers[0])
        r->trailers[r->n_trailers++] = (gw_header){line, colon + 1};
    }
    line = end + 2;
  }
}

/* gRPC over HTTP/2: a message frame then trailers, or Trailers-Only on error. */
static void respond_grpc(gw_req *r, grpc_status_code st, const char *message, const uint8_t *data,
                         size_t len) {
  if (r->kind == GW_KIND_GRPC_WEB || r->kind == GW_KIND_GRPC_WEB_TEXT) {
    respond_grpc_web(r, st, message, data, len, r->up_trailers);
    return;
  }
  r->status = 200;
  gw_req_add_header(r, "content-type", "application/grpc");
  const char *enc = gw_grpc_message_encode(r->arena, message != NULL ? message : "");
  if (st != GRPC_STATUS_OK || data == NULL || !r->is_h2) {
    /* Trailers-Only */
    gw_req_add_header(r, "grpc-status", status_text(r->arena, st));
    if (enc[0] != '\0') gw_req_add_header(r, "grpc-message", enc);
    forward_trailers(r, 1);
    r->resp_len = 0;
    return;
  }
  if (r->up_frame != NULL && data == r->up_data && len == r->up_len) {
    /* the upstream's own frame goes out as it came (it dies with the request) */
    r->resp_body = r->up_frame;
    r->resp_len = GRPC_FRAME_HEADER + len;
    r->trailers[r->n_trailers++] = (gw_header){"grpc-status", status_text(r->arena, st)};
    if (enc[0] != '\0') r->trailers[r->n_trailers++] = (gw_header){"grpc-message", enc};
    forward_trailers(r, 0);
    return;
  }
  uint8_t *buf = yw_arena_alloc(r->arena, GRPC_FRAME_HEADER + len);
  if (buf == NULL) {
    gw_req_add_header(r, "grpc-status", status_text(r->arena, GRPC_STATUS_RESOURCE_EXHAUSTED));
    return;
  }
  buf[0] = 0;
  buf[1] = (uint8_t)(len >> 24);
  buf[2] = (uint8_t)(len >> 16);
  buf[3] = (uint8_t)(len >> 8);
  buf[4] = (uint8_t)len;
  memcpy(buf + GRPC_FRAME_HEADER, data, len);
  r->resp_body = buf;
  r->resp_len = GRPC_FRAME_HEADER + len;
  r->trailers[r->n_trailers++] = (gw_header){"grpc-status", status_text(r->arena, st)};
  if (enc[0] != '\0') r->trailers[r->n_trailers++] = (gw_header){"grpc-message", enc};
  forward_trailers(r, 0);
}

/* The standard error body {"code", "message", "requestId"}. */
static json_t *error_body(gw_req *r, grpc_status_code st, const char *message) {
  json_t *body = json_object();
  json_object_set_new(body, "code", json_string(yw_grpc_status_name(st)));
  json_t *m = json_string(message != NULL ? message : "");
  json_object_set_new(body, "message", m != NULL ? m : json_string("(message not UTF-8)"));
  json_object_set_new(body, "requestId", json_string(r->request_id));
  return body;
}

void gw_answer_error(gw_req *r, grpc_status_code st, const char *message) {
  if (r->kind != GW_KIND_JSON) {
    respond_grpc(r, st, message, NULL, 0);
    return;
  }
  respond_json(r, yw_grpc_to_http(st), error_body(r, st, message));
}

void gw_answer_http_error(gw_req *r, int http_status, grpc_status_code st,
                          const char *message) {
  json_t *body = json_object();
  json_object_set_new(body, "code", json_string(yw_grpc_status_name(st)));
  json_object_set_new(body, "message", json_string(message));
  json_object_set_new(body, "requestId", json_string(r->request_id));
  respond_json(r, http_status, body);
}

/* ---- CORS ------------------------------------------------------------------------ */

static int origin_allowed(const char *origin) {
  const char *list = gw.cfg.cors_origins;
  if (list == NULL || list[0] == '\0') return 0;
  if (strcmp(list, "*") == 0) return 1;
  size_t olen = strlen(origin);
  const char *p = list;
  while (*p != '\0') {
    while (*p == ' ' || *p == ',') p++;
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    while (len > 0 && p[len - 1] == ' ') len--;
    if (len == olen && memcmp(p, origin, len) == 0) return 1;
    p += len;
  }
  return 0;
}

/* Notes an allowed Origin (its headers go on the answer, gw_filter_cors) and answers
 * a preflight. */
enum gw_phase_result gw_phase_cors(gw_req *r) {
  const char *origin = gw_req_header(r, "origin");
  int allowed = origin != NULL && origin_allowed(origin);
  if (allowed) r->cors_origin = origin;
  if (strcmp(r->method, "OPTIONS") != 0 || gw_req_header(r, "access-control-request-method") == NULL)
    return GW_NEXT;
  r->metric_slot = gw.slot_builtin;
  if (!allowed) {
    gw_answer_http_error(r, 403, GRPC_STATUS_PERMISSION_DENIED, "origin not allowed");
    return GW_DONE;
  }
  gw_req_add_header(r, "access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS");
  gw_req_add_header(r, "access-control-allow-headers", CORS_ALLOW_HEADERS);
  gw_req_add_header(r, "access-control-max-age", "600");
  gw_answer_bytes(r, 204, NULL, NULL, 0);
  return GW_DONE;
}

void gw_filter_cors(gw_req *r) {
  if (r->cors_origin == NULL) return;
  gw_req_add_header(r, "access-control-allow-origin", r->cors_origin);
  gw_req_add_header(r, "access-control-expose-headers", CORS_EXPOSE_HEADERS);
  gw_req_add_header(r, "vary", "origin");
}

/* ---- built-in endpoints ---------------------------------------------------------- */

/* 1 when r's path without its query is p. */
static int path_is(const gw_req *r, const char *p) {
  size_t n = strcspn(r->path, "?");
  return strlen(p) == n && memcmp(r->path, p, n) == 0;
}

static int answer_builtin(gw_req *r) {
  if (path_is(r, "/healthz")) {
    r->metric_slot = gw.slot_builtin;
    gw_answer_bytes(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
    return 1;
  }
  if (path_is(r, "/readyz")) {
    /* Ready means this gateway can serve: it is listening and not draining. Redis down
     * only degrades it (public routes go on under local limits) and a sick upstream
     * only fails its own routes, so neither takes the gateway out of the balancer;
     * both are reported for the operators. */
    r->metric_slot = gw.slot_builtin;
    json_t *body = json_object();
    json_t *deps = json_object();
    int ready = !gw.stopping && !r->worker->draining;
    json_object_set_new(deps, "redis", json_string(gw.redis_ok ? "ok" : "unavailable (local limits)"));
    for (size_t i = 0; i < gw.n_upstreams; i++)
      json_object_set_new(deps, gw.upstreams[i].name,
                          json_string(gw.upstreams[i].healthy ? "ok" : "unavailable"));
    json_object_set_new(body, "status", json_string(ready ? "ready" : "draining"));
    json_object_set_new(body, "dependencies", deps);
    respond_json(r, ready ? 200 : 503, body);
    return 1;
  }
  if (path_is(r, "/metrics")) {
    r->metric_slot = gw.slot_builtin;
    if (!gw_net_list_match(&gw.metrics_nets, r->peer_ip)) {
      gw_answer_http_error(r, 403, GRPC_STATUS_PERMISSION_DENIED, "metrics are for the operators' network");
      return 1;
    }
    size_t len = 0;
    char *text = gw_metrics_render(&len);
    char streams[2048];
    size_t slen = gw_stream_metrics_render(streams, sizeof streams);
    char *all = text != NULL ? realloc(text, len + slen + 1) : NULL;
    if (all == NULL) {
      free(text);
      gw_answer_bytes(r, 500, NULL, NULL, 0);
    } else {
      memcpy(all + len, streams, slen);
      gw_answer_bytes(r, 200, "text/plain; version=0.0.4", all, len + slen);
      free(all);
    }
    return 1;
  }
  return 0;
}

/* The gateway's own endpoints, for JSON GET and HEAD. */
enum gw_phase_result gw_phase_builtin(gw_req *r) {
  if (r->kind != GW_KIND_JSON || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0))
    return GW_NEXT;
  return answer_builtin(r) ? GW_DONE : GW_NEXT;
}

/* ---- upstream calls -------------------------------------------------------------- */

static gw_upstream *upstream_of(const gw_route *route) {
  for (size_t i = 0; i < gw.n_upstreams; i++)
    if (strcmp(gw.upstreams[i].name, route->upstream) == 0) return &gw.upstreams[i];
  return NULL;
}

static void upstream_done(gw_req *r);

/* On the worker's loop: the upstream call of r ended. Keeps what the answer needs, the
 * message's frame without a copy, and answers. */
static void on_upstream_result(void *arg, const gw_upstream_result *res) {
  gw_req *r = arg;
  r->up_call = NULL; /* the handle dies with this callback */
  r->up_status = res->status;
  r->up_message = strdup(res->message != NULL ? res->message : "");
  if (res->status == GRPC_STATUS_OK) {
    size_t flen = 0;
    r->up_frame = gw_upstream_take_frame(res, &flen);
    if (r->up_frame != NULL && flen >= GRPC_FRAME_HEADER) {
      r->up_data = r->up_frame + GRPC_FRAME_HEADER;
      r->up_len = flen - GRPC_FRAME_HEADER;
    } else {
      r->up_status = GRPC_STATUS_INTERNAL;
    }
  }
  for (size_t i = 0; i < res->n_trailers; i++) {
    const gw_upstream_header *t = &res->trailers[i];
    if (strcmp(t->name, "retry-after") == 0 && t->value_len > 0 && t->value_len < 16 &&
        strspn(t->value, "0123456789") >= t->value_len)
      snprintf(r->up_retry_after, sizeof r->up_retry_after, "%.*s", (int)t->value_len, t->value);
    if (strcmp(t->name, YW_REASON_TRAILER) == 0 && t->value_len < sizeof r->up_reason)
      snprintf(r->up_reason, sizeof r->up_reason, "%.*s", (int)t->value_len, t->value);
    if (strcmp(t->name, YW_IDEM_REPLAYED_TRAILER) == 0) r->up_replayed = 1;
    if (strcmp(t->name, YW_FIELDS_TRAILER) == 0 && r->up_fields == NULL &&
        t->value_len <= YW_FIELDS_TRAILER_MAX)
      r->up_fields = strndup(t->value, t->value_len);
  }
  if (r->kind != GW_KIND_JSON) {
    /* custom trailing metadata goes back: as trailers, or inside the grpc-web trailer
     * frame; binary (-bin) values are left out */
    size_t cap = 1;
    for (size_t i = 0; i < res->n_trailers; i++)
      cap += strlen(res->trailers[i].name) + res->trailers[i].value_len + 4;
    r->up_trailers = malloc(cap);
    if (r->up_trailers != NULL) {
      size_t o = 0;
      for (size_t i = 0; i < res->n_trailers; i++) {
        const gw_upstream_header *t = &res->trailers[i];
        size_t nlen = strlen(t->name);
        if (nlen > 4 && strcmp(t->name + nlen - 4, "-bin") == 0) continue;
        int n = snprintf(r->up_trailers + o, cap - o, "%s:%.*s\r\n", t->name, (int)t->value_len,
                         t->value);
        if (n > 0) o += (size_t)n;
      }
      r->up_trailers[o] = '\0';
    }
  }
  upstream_done(r);
}

/* Parses a grpc-timeout header ("100m", "5S") into milliseconds; -1 when malformed. */
static long long parse_grpc_timeout(const char *v) {
  char *end = NULL;
  long long n = strtoll(v, &end, 10);
  if (end == v || n < 0 || strlen(end) != 1 || end - v > 8) return -1;
  switch (*end) {
  case 'H': return n * 3600000LL;
  case 'M': return n * 60000LL;
  case 'S': return n * 1000LL;
  case 'm': return n;
  case 'u': return n / 1000 > 0 ? n / 1000 : 1;
  case 'n': return n / 1000000 > 0 ? n / 1000000 : 1;
  default: return -1;
  }
}

/* Calls the route's upstream with the packed request and the signed caller; waits for
 * the answer (upstream_done resumes the request with it). */
static enum gw_phase_result upstream_start(gw_req *r) {
  gw_upstream *up = upstream_of(r->route);
  if (up == NULL) {
    gw_answer_error(r, GRPC_STATUS_UNAVAILABLE, "no upstream for this method");
    return GW_DONE;
  }
  /* a stream has no deadline of ours (only the one a gRPC client sends) */
  long long timeout = r->route->def->stream          ? 0
                      : r->route->def->timeout_ms > 0 ? r->route->def->timeout_ms
                                                      : gw.cfg.timeout_ms;
  const char *gt = gw_req_header(r, "grpc-timeout");
  if (gt != NULL) {
    long long t = parse_grpc_timeout(gt);
    if (t < 0) {
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "malformed grpc-timeout");
      return GW_DONE;
    }
    if (t < timeout || timeout == 0) timeout = t;
  }
  /* the caller as the gateway vouches for it: stamped, and signed for this method and
   * request id only, so the metadata cannot be replayed on another call */
  r->caller.ts = (long long)time(NULL);
  char *caller = yw_arena_alloc(r->arena, YW_CALLER_VALUE_MAX);
  char *sig = yw_arena_alloc(r->arena, 65);
  if (caller == NULL || sig == NULL ||
      yw_caller_encode(&r->caller, gw.caller_key, r->route->grpc_path, r->request_id, caller,
                       YW_CALLER_VALUE_MAX, sig) != 0) {
    gw_answer_error(r, GRPC_STATUS_INTERNAL, "cannot describe the caller");
    return GW_DONE;
  }
  yw_rpc_md md[12];
  size_t nmd = 0;
  md[nmd++] = (yw_rpc_md){"x-request-id", r->request_id, 0};
  md[nmd++] = (yw_rpc_md){"x-yw-caller", caller, 0};
  md[nmd++] = (yw_rpc_md){"x-yw-caller-sig", sig, 0};
  if (r->idem_key != NULL) md[nmd++] = (yw_rpc_md){YW_IDEM_METADATA, r->idem_key, 0};
  /* where an event stream resumes: the Last-Event-ID header (or the lastEventId query
   * parameter of EventSource polyfills, taken by the route phase) */
  if (r->route->def->stream && r->last_event_id != NULL)
    md[nmd++] = (yw_rpc_md){"last-event-id", r->last_event_id, 0};
  /* Pass-through callers may send their own x- metadata; x-yw- is the gateway's own. */
  if (r->kind != GW_KIND_JSON) {
    for (size_t i = 0; i < r->n_headers && nmd < 10; i++) {
      const char *n = r->headers[i].name;
      if (strncmp(n, "x-", 2) == 0 && strncmp(n, "x-yw-", 5) != 0 &&
          strcmp(n, "x-request-id") != 0 && strcmp(n, "x-grpc-web") != 0 &&
          strcmp(n, "x-user-agent") != 0)
        md[nmd++] = (yw_rpc_md){n, r->headers[i].value, 0};
    }
  }
  if (r->route->def->stream)
    return gw_stream_phase(r, r->worker->up[up - gw.upstreams], md, nmd, timeout);
  r->refs++;
  int rc = gw_upstream_call(r->worker->up[up - gw.upstreams], r->route->grpc_path, r->payload,
                            r->payload_len, md, nmd, timeout, on_upstream_result, r, &r->up_call);
  if (rc != 0) {
    r->refs--;
    gw_answer_error(r, rc == YW_EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_INTERNAL,
                     rc == YW_EINVAL ? "request metadata is not valid" : "could not call upstream");
    return GW_DONE;
  }
  return GW_SUSPEND;
}

enum gw_phase_result gw_phase_upstream(gw_req *r) {
  enum gw_phase_result out = upstream_start(r);
  /* an upload's files, when its method was never called: given back */
  if (out == GW_DONE) gw_upload_release(r);
  return out;
}

/* The answer of r's upstream call is in: makes r's answer from it and finishes. */
static void upstream_done(gw_req *r) {
  /* an upload refused by its service (or whose call failed): the holds its files took
   * in the store are given back; an OK keeps them for the service's references */
  if (r->up_status != GRPC_STATUS_OK) gw_upload_release(r);
  /* a call of a route not kept in the cache may have changed what is kept: this
   * process's workers answer the upstream's kept answers no more */
  if (r->route->def->cache_ms == 0) {
    gw_upstream *u = upstream_of(r->route);
    if (u != NULL) atomic_fetch_add(&u->cache_gen, 1);
  }
  if (r->conn != NULL) {
    gw_answer_upstream(r);
    gw_req_resume(r, GW_DONE);
  }
  gw_req_unref(r);
}

/* The standard error body of an INVALID_ARGUMENT with the upstream's field violations
 * (YW_FIELDS_TRAILER) as "fieldViolations": [{"field", "reason"}]; without them when
 * the trailer is not such an array. */
static void answer_field_violations(gw_req *r, const char *message) {
  json_error_t jerr;
  json_t *fields = json_loads(r->up_fields, 0, &jerr);
  int ok = json_is_array(fields);
  for (size_t i = 0; ok && i < json_array_size(fields); i++) {
    const json_t *e = json_array_get(fields, i);
    ok = json_is_string(json_object_get(e, "field")) &&
         json_is_string(json_object_get(e, "reason")) && json_object_size(e) == 2;
  }
  if (!ok) {
    json_decref(fields);
    gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, message);
    return;
  }
  json_t *body = error_body(r, GRPC_STATUS_INVALID_ARGUMENT, message);
  json_object_set_new(body, "fieldViolations", fields);
  respond_json(r, yw_grpc_to_http(GRPC_STATUS_INVALID_ARGUMENT), body);
}

/* A route with .file_answer: the answer's content, content_type and name fields as a
 * download. A name is used only when it is plain ASCII without quotes or separators. */
static void answer_file(gw_req *r, const ProtobufCMessage *resp) {
  const ProtobufCMessageDescriptor *d = resp->descriptor;
  const ProtobufCFieldDescriptor *fc = protobuf_c_message_descriptor_get_field_by_name(d, "content"),
                                 *ft = protobuf_c_message_descriptor_get_field_by_name(d, "content_type"),
                                 *fn = protobuf_c_message_descriptor_get_field_by_name(d, "name");
  if (fc == NULL || fc->type != PROTOBUF_C_TYPE_BYTES || ft == NULL ||
      ft->type != PROTOBUF_C_TYPE_STRING || fn == NULL || fn->type != PROTOBUF_C_TYPE_STRING) {
    gw_answer_error(r, GRPC_STATUS_INTERNAL, "the service answered with an unreadable message");
    return;
  }
  const ProtobufCBinaryData *content = (const void *)((const char *)resp + fc->offset);
  const char *type = *(char *const *)((const char *)resp + ft->offset);
  const char *name = *(char *const *)((const char *)resp + fn->offset);
  int name_ok = name != NULL && name[0] != '\0' && strlen(name) <= 128;
  for (const char *p = name; name_ok && *p != '\0'; p++)
    if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '/' || *p == ';')
      name_ok = 0;
  if (name_ok) {
    char disp[160];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
    char *kept = yw_arena_strndup(r->arena, disp, (size_t)-1); /* the header keeps the pointer */
    if (kept != NULL) gw_req_add_header(r, "content-disposition", kept);
  }
  int type_ok = type != NULL && type[0] != '\0' && strlen(type) <= 128;
  for (const char *p = type; type_ok && *p != '\0'; p++)
    if (*p < ' ' || *p == 0x7f) type_ok = 0;
  gw_answer_bytes(r, 200, type_ok ? type : "application/octet-stream", content->data, content->len);
}

void gw_answer_upstream(gw_req *r) {
  if (r->up_status != GRPC_STATUS_OK && r->up_status != GRPC_STATUS_INVALID_ARGUMENT &&
      r->up_status != GRPC_STATUS_NOT_FOUND && r->up_status != GRPC_STATUS_FAILED_PRECONDITION &&
      r->up_status != GRPC_STATUS_ALREADY_EXISTS)
    gw_metrics_upstream_error(r->route->upstream, yw_grpc_status_name(r->up_status));
  if (r->kind != GW_KIND_JSON) {
    respond_grpc(r, r->up_status, r->up_message, r->up_data != NULL ? r->up_data : (uint8_t *)"",
                 r->up_len);
  } else if (r->up_status != GRPC_STATUS_OK) {
    if (r->up_replayed) gw_req_add_header(r, YW_IDEM_REPLAYED_TRAILER, "true");
    const char *msg = r->up_message;
    if (r->up_status == GRPC_STATUS_UNAVAILABLE)
      msg = "the service is unavailable, try again shortly";
    else if (r->up_status == GRPC_STATUS_DEADLINE_EXCEEDED)
      msg = "the service did not answer in time";
    else if (r->up_status == GRPC_STATUS_INTERNAL || r->up_status == GRPC_STATUS_UNKNOWN)
      msg = "internal error";
    if (r->up_status == GRPC_STATUS_RESOURCE_EXHAUSTED || r->up_retry_after[0] != '\0')
      gw_req_add_header(r, "retry-after", r->up_retry_after[0] != '\0' ? r->up_retry_after : "1");
    /* a reason may say more than the status (422: an Idempotency-Key reused) */
    int http = yw_grpc_reason_to_http(r->up_status, r->up_reason);
    if (r->up_status == GRPC_STATUS_INVALID_ARGUMENT && r->up_fields != NULL)
      answer_field_violations(r, msg);
    else if (http != yw_grpc_to_http(r->up_status))
      gw_answer_http_error(r, http, r->up_status, msg);
    else
      gw_answer_error(r, r->up_status, msg);
  } else {
    ProtobufCMessage *resp = protobuf_c_message_unpack(
        r->route->method->output, yw_arena_allocator(r->arena), r->up_len, r->up_data);
    char *text = NULL;
    size_t len = 0;
    if (resp != NULL && r->route->def->file_answer) {
      answer_file(r, resp);
    } else if (resp == NULL || yw_json_write(resp, 0, &text, &len) != 0) {
      gw_answer_error(r, GRPC_STATUS_INTERNAL, "the service answered with an unreadable message");
    } else {
      if (r->up_replayed) gw_req_add_header(r, YW_IDEM_REPLAYED_TRAILER, "true");
      gw_answer_bytes(r, 200, "application/json", text, len);
      free(text);
    }
  }
}

/* ---- pass-through ---------------------------------------------------------------- */

static enum gw_phase_result route_grpc(gw_req *r, const char *path) {
  r->metric_slot = gw.slot_passthrough;
  if (strcmp(r->method, "POST") != 0) {
    gw_answer_error(r, GRPC_STATUS_UNIMPLEMENTED, "gRPC calls are POST");
    return GW_DONE;
  }
  const gw_route *route = gw_route_by_grpc_path(&gw.routes, path);
  if (route == NULL || route->def->access == GW_ACCESS_INTERNAL) {
    gw_answer_error(r, GRPC_STATUS_UNIMPLEMENTED, "method not found");
    return GW_DONE;
  }
  r->route = route;
  if (route->def->stream) { /* gRPC clients resume a stream with this metadata too */
    r->last_event_id = gw_req_header(r, "last-event-id");
    if (r->last_event_id != NULL && !gw_sse_id_ok(r->last_event_id, strlen(r->last_event_id))) {
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "last-event-id is not a valid event id");
      return GW_DONE;
    }
  }
  const uint8_t *msg = NULL;
  size_t mlen = 0;
  const char *why = NULL;
  grpc_status_code st = gw_grpc_unframe(r->kind == GW_KIND_GRPC_WEB_TEXT, r->body, r->body_len,
                                        r->arena, &msg, &mlen, &why);
  if (st != GRPC_STATUS_OK) {
    gw_answer_error(r, st, why);
    return GW_DONE;
  }
  r->payload = (uint8_t *)msg;
  r->payload_len = mlen;
  return GW_NEXT;
}

/* ---- JSON routes ----------------------------------------------------------------- */

static int set_query(gw_req *r, ProtobufCMessage *msg, const char *query, char *err, size_t errlen) {
  const char *p = query;
  while (*p != '\0') {
    const char *amp = strchr(p, '&');
    size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
    if (len > 0) {
      const char *eq = memchr(p, '=', len);
      size_t klen = eq != NULL ? (size_t)(eq - p) : len;
      char key[128];
      char *value = yw_arena_alloc(r->arena, len + 1);
      if (value == NULL) return YW_ENOMEM;
      if (gw_percent_decode(p, klen, key, sizeof key, 1) < 0 ||
          (eq != NULL && gw_percent_decode(eq + 1, len - klen - 1, value, len + 1, 1) < 0)) {
        snprintf(err, errlen, "query parameter is not valid percent-encoding");
        return YW_EINVAL;
      }
      if (eq == NULL) value[0] = '\0';
      if (r->route->def->stream && strcmp(key, "lastEventId") == 0) {
        /* EventSource polyfills that cannot set headers say where to resume here */
        if (r->last_event_id == NULL) r->last_event_id = value;
        p += len;
        if (*p == '&') p++;
        continue;
      }
      yw_json_error jerr;
      int rc = yw_json_set_field_text(msg, key, value, yw_arena_allocator(r->arena), &jerr);
      if (rc != 0) {
        snprintf(err, errlen, "query parameter %s: %s", key, jerr.text);
        return rc;
      }
    }
    p += len;
    if (*p == '&') p++;
  }
  return 0;
}

static enum gw_phase_result route_json(gw_req *r, char *path, const char *query) {
  const gw_route *route = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t nvars = 0;
  int m = gw_route_match(&gw.routes, r->method, path, &route, vars, &nvars);
  if (m == GW_MATCH_OK && route->def->access == GW_ACCESS_INTERNAL) m = GW_MATCH_NONE;
  if (m != GW_MATCH_OK) {
    r->metric_slot = gw.slot_unmatched;
    if (m == GW_MATCH_BAD_METHOD)
      gw_answer_http_error(r, 405, GRPC_STATUS_UNIMPLEMENTED, "method not allowed on this path");
    else if (m == GW_MATCH_BAD_PATH)
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "the path is not valid");
    else
      gw_answer_error(r, GRPC_STATUS_NOT_FOUND, "no such route");
    return GW_DONE;
  }
  r->route = route;
  r->metric_slot = (size_t)(route - gw.routes.routes);
  if (route->def->stream) {
    r->last_event_id = gw_req_header(r, "last-event-id");
    if (r->last_event_id != NULL && !gw_sse_id_ok(r->last_event_id, strlen(r->last_event_id))) {
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "Last-Event-ID is not a valid event id");
      return GW_DONE;
    }
  }
  ProtobufCAllocator *alloc = yw_arena_allocator(r->arena);
  const ProtobufCMessageDescriptor *in = route->method->input;
  ProtobufCMessage *msg = NULL;
  char err[640];
  /* an upload route's body is files: the upload phase reads it (gw_upload.c) */
  if (route->raw_body_field != NULL) {
    /* the exact bytes (a signature covers them) and the named headers, unparsed */
    if (r->body_len > route->raw_body_max) {
      snprintf(err, sizeof err, "the body is larger than %zu bytes", route->raw_body_max);
      gw_answer_http_error(r, 413, GRPC_STATUS_RESOURCE_EXHAUSTED, err);
      return GW_DONE;
    }
    msg = yw_arena_alloc(r->arena, in->sizeof_message);
    uint8_t *copy = yw_arena_alloc(r->arena, r->body_len + 1);
    if (msg == NULL || copy == NULL) {
      gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      return GW_DONE;
    }
    protobuf_c_message_init(in, msg);
    if (r->body_len > 0) memcpy(copy, r->body, r->body_len);
    ProtobufCBinaryData *bd = (ProtobufCBinaryData *)((char *)msg + route->raw_body_field->offset);
    bd->data = copy;
    bd->len = r->body_len;
    for (size_t i = 0; i < route->n_headers; i++) {
      const char *v = gw_req_header(r, route->headers[i].name);
      if (v != NULL) *(const char **)((char *)msg + route->headers[i].field->offset) = v;
    }
  } else if (route->def->upload == NULL && route->def->body != NULL && r->body_len > 0) {
    const char *ct = gw_req_header(r, "content-type");
    if (ct == NULL || strncmp(ct, "application/json", 16) != 0) {
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "the body must be application/json");
      return GW_DONE;
    }
    /* the whole message ("*") or its one body field */
    int rc = gw_route_read_body(route, (const char *)r->body, r->body_len, alloc, &msg, err,
                                sizeof err);
    if (rc != 0) {
      gw_answer_error(r, rc == YW_ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED
                                         : GRPC_STATUS_INVALID_ARGUMENT,
                      err);
      return GW_DONE;
    }
  } else if (route->def->upload == NULL && route->def->body == NULL && r->body_len > 0) {
    gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "this route takes no body");
    return GW_DONE;
  } else {
    msg = yw_arena_alloc(r->arena, in->sizeof_message);
    if (msg == NULL) {
      gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      return GW_DONE;
    }
    protobuf_c_message_init(in, msg);
  }
  for (size_t i = 0; i < nvars; i++) {
    yw_json_error je;
    if (yw_json_set_field_text(msg, vars[i].field, vars[i].value, alloc, &je) != 0) {
      snprintf(err, sizeof err, "path parameter %s: %s", vars[i].field, je.text);
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, err);
      return GW_DONE;
    }
  }
  if (query != NULL) {
    int rc = set_query(r, msg, query, err, sizeof err);
    if (rc != 0) {
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, err);
      return GW_DONE;
    }
    if (r->last_event_id != NULL && !gw_sse_id_ok(r->last_event_id, strlen(r->last_event_id))) {
      gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "lastEventId is not a valid event id");
      return GW_DONE;
    }
  }
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = yw_arena_alloc(r->arena, len + 1);
  if (buf == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  protobuf_c_message_pack(msg, buf);
  r->payload = buf;
  r->payload_len = len;
  return GW_NEXT;
}

/* ---- kind and route -------------------------------------------------------------- */

/* JSON or a gRPC flavour, from the content type; gRPC proper needs HTTP/2. */
enum gw_phase_result gw_phase_kind(gw_req *r) {
  const char *ct = gw_req_header(r, "content-type");
  if (ct != NULL && strncmp(ct, "application/grpc", 16) == 0) {
    if (strncmp(ct, "application/grpc-web-text", 25) == 0)
      r->kind = GW_KIND_GRPC_WEB_TEXT;
    else if (strncmp(ct, "application/grpc-web", 20) == 0)
      r->kind = GW_KIND_GRPC_WEB;
    else
      r->kind = GW_KIND_GRPC;
  }
  if (r->kind == GW_KIND_GRPC && !r->is_h2) {
    gw_answer_http_error(r, 505, GRPC_STATUS_UNIMPLEMENTED, "gRPC needs HTTP/2");
    return GW_DONE;
  }
  return GW_NEXT;
}

/* The route and its method, and the request message packed for it in r->payload. */
enum gw_phase_result gw_phase_route(gw_req *r) {
  size_t plen = strcspn(r->path, "?");
  char *path = yw_arena_strndup(r->arena, r->path, plen);
  const char *query = r->path[plen] == '?' ? r->path + plen + 1 : NULL;
  if (path == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return GW_DONE;
  }
  if (r->kind != GW_KIND_JSON) return route_grpc(r, path);
  return route_json(r, path, query);
}
