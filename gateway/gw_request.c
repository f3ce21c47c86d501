/*
 * gw_request.c - the request layer: a request's life from the moment its connection
 * hands it over (gw_request_start) to its answer (the finish of the phase engine) or
 * its abandonment by the client (gw_request_abandon).
 *
 * The phases, in order (each owns one concern; gateway/README.md says what):
 *
 *   request_id  the request's id (the client's, when well formed, or a new one)
 *   limits      a head or body past its limit (431/413), an HTTP/2 request without
 *               :method or :path (400)
 *   kind        JSON, gRPC, gRPC-Web or gRPC-Web-text, from the content type
 *   cors        the allowed Origin noted; a preflight answered
 *   builtin     /healthz, /readyz, /metrics
 *   static      files under YW_GATEWAY_STATIC's URL prefixes (gw_static.c): GET and
 *               HEAD, never /v1/ nor a path the route table knows
 *   route       the route and its method: pass-through by gRPC path, or a REST route
 *               matched and its request message transcoded from path, query and body
 *   access      rate limits, the session, the route's access rule (gw_auth.c; waits
 *               for Redis)
 *   cache       a route kept in the answer cache (its cache_ms): a JSON GET answered
 *               from the worker's memory when its answer is kept and fresh; on a miss
 *               the finish keeps the 200 answer (gw_cache.h)
 *   idempotency an idempotent route's Idempotency-Key checked (400) and forwarded
 *   upload      an upload route's files streamed to the file store, FileRefs in
 *               their place (gw_upload.c; waits for the store)
 *   download    a download route: the owning service's authorisation, then the file
 *               from the store with ETag and Range (gw_upload.c)
 *   upstream    the call to the route's upstream (waits for its answer), the answer
 *               made in the shape the request's kind expects
 *
 * Then, once, whatever ended the run: the response filters (x-request-id, CORS
 * headers), the access log and metrics, and the send on the connection.
 *
 * Adding a step is an entry in `phases` and a file with its function; a phase that
 * waits returns GW_SUSPEND and, when its answer comes on the loop, calls
 * gw_req_resume(r, GW_NEXT) or, with the answer made, gw_req_resume(r, GW_DONE).
 *
 * Offers: gw_request_start, gw_request_abandon, gw_req_resume.
 */
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"
#include "gw_cache.h"
#include "gw_idem.h"
#include "gw_metrics.h"
#include "gw_sse.h"
#include "gw_static.h"
#include "gw_upload.h"
#include "yw_err.h"
#include "yw_json.h"
#include "yw_log.h"

/* ---- request_id ------------------------------------------------------------------- */

static enum gw_phase_result ph_request_id(gw_req *r) {
  r->metric_slot = gw.slot_unmatched;
  if (r->request_id[0] != '\0') return GW_NEXT;
  const char *given = gw_req_header(r, "x-request-id");
  if (given != NULL) {
    size_t n = strlen(given);
    if (n >= 1 && n <= 64 &&
        strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == n) {
      memcpy(r->request_id, given, n + 1);
      return GW_NEXT;
    }
  }
  /* Unique, not secret: a random 64-bit prefix per thread and a counter, instead of
   * RAND_bytes for every request (a tenth of a static answer's cost). */
  static _Thread_local uint64_t prefix, counter;
  if (prefix == 0 && RAND_bytes((unsigned char *)&prefix, sizeof prefix) != 1)
    prefix = (uint64_t)(uintptr_t)&prefix ^ (uint64_t)time(NULL);
  counter++;
  static const char hex[] = "0123456789abcdef";
  uint64_t parts[2] = {prefix, counter};
  size_t o = 0;
  for (int p = 0; p < 2; p++) /* 16 + 8 hex digits, 24 as before */
    for (int shift = p == 0 ? 60 : 28; shift >= 0; shift -= 4)
      r->request_id[o++] = hex[(parts[p] >> shift) & 0xf];
  r->request_id[o] = '\0';
  return GW_NEXT;
}

/* ---- limits ----------------------------------------------------------------------- */

/* What the connection found while reading: answered before anything else looks. */
static enum gw_phase_result ph_limits(gw_req *r) {
  if (r->header_overflow) {
    gw_answer_http_error(r, 431, GRPC_STATUS_INVALID_ARGUMENT, "request headers are too large");
    return GW_DONE;
  }
  if (r->body_overflow) {
    gw_answer_http_error(r, 413, GRPC_STATUS_RESOURCE_EXHAUSTED, "request body is too large");
    return GW_DONE;
  }
  if (r->method == NULL || r->path == NULL) {
    gw_answer_error(r, GRPC_STATUS_INVALID_ARGUMENT, "missing :method or :path");
    return GW_DONE;
  }
  return GW_NEXT;
}

/* ---- cache ------------------------------------------------------------------------ */

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static gw_upstream *upstream_named(const char *name) {
  for (size_t i = 0; i < gw.n_upstreams; i++)
    if (strcmp(gw.upstreams[i].name, name) == 0) return &gw.upstreams[i];
  return NULL;
}

/* An answer past its time is still given, while one read refreshes it, for this many
 * times its route's cache_ms (gw_cache.h: no stampede on the service at each expiry). */
#define STALE_FACTOR 10

/* A refresh in the background: the call that renews a stale answer while every reader,
 * the one that found it stale included, is answered from the kept one. */
struct refresh {
  gw_worker *worker;
  const gw_route *route;
  uint_fast64_t gen;
  size_t key_len, payload_len;
  char request_id[72];
  char *key;        /* inside this allocation */
  uint8_t *payload; /* inside this allocation: the packed request, alive until done */
};

static void refresh_done(void *arg, const gw_upstream_result *res) {
  struct refresh *f = arg;
  gw_cache *c = f->worker->cache;
  int kept = 0;
  if (res->status == GRPC_STATUS_OK && c != NULL) {
    ProtobufCMessage *msg = protobuf_c_message_unpack(f->route->method->output, NULL, res->len,
                                                      res->data != NULL ? res->data : (const uint8_t *)"");
    char *text = NULL;
    size_t len = 0;
    if (msg != NULL && yw_json_write(msg, 0, &text, &len) == 0)
      kept = gw_cache_put(c, f->key, f->key_len, "application/json", text, len, now_ms(),
                          f->route->def->cache_ms,
                          (int64_t)f->route->def->cache_ms * STALE_FACTOR, f->gen);
    free(text);
    if (msg != NULL) protobuf_c_message_free_unpacked(msg, NULL);
  }
  if (!kept && c != NULL) gw_cache_refresh_failed(c, f->key, f->key_len);
  free(f);
}

/* Starts r's call again in the background, for the cache only. Returns 0 when it runs
 * (refresh_done will), else the claim is given back. */
static int refresh_start(gw_req *r, gw_upstream *u, uint_fast64_t gen) {
  size_t klen = strlen(r->path);
  struct refresh *f = malloc(sizeof *f + klen + 1 + r->payload_len);
  if (f == NULL) return YW_ENOMEM;
  memset(f, 0, sizeof *f);
  f->worker = r->worker;
  f->route = r->route;
  f->gen = gen;
  f->key = (char *)(f + 1);
  memcpy(f->key, r->path, klen + 1);
  f->key_len = klen;
  f->payload = (uint8_t *)f->key + klen + 1;
  if (r->payload_len > 0) memcpy(f->payload, r->payload, r->payload_len);
  f->payload_len = r->payload_len;
  /* the reader's id, marked: the service's log tells the refresh from the read */
  snprintf(f->request_id, sizeof f->request_id, "%.60s.cache", r->request_id);
  yw_caller caller = r->caller;
  caller.ts = (long long)time(NULL);
  char value[YW_CALLER_VALUE_MAX], sig[65];
  int rc = yw_caller_encode(&caller, gw.caller_key, r->route->grpc_path, f->request_id, value,
                            sizeof value, sig);
  yw_rpc_md md[3] = {{"x-request-id", f->request_id, 0}, {"x-yw-caller", value, 0},
                     {"x-yw-caller-sig", sig, 0}};
  long timeout = r->route->def->timeout_ms > 0 ? r->route->def->timeout_ms : gw.cfg.timeout_ms;
  if (rc == 0)
    rc = gw_upstream_call(r->worker->up[u - gw.upstreams], r->route->grpc_path, f->payload,
                          f->payload_len, md, 3, timeout, refresh_done, f, NULL);
  if (rc != 0) free(f);
  return rc;
}

/* After access, so rate limits and a given token's validity hold for kept answers too.
 * The key is the path with its query as the client sent it. */
static enum gw_phase_result ph_cache(gw_req *r) {
  gw_cache *c = r->worker->cache;
  if (c == NULL || r->route == NULL || r->route->def->cache_ms <= 0 || r->kind != GW_KIND_JSON ||
      strcmp(r->method, "GET") != 0)
    return GW_NEXT;
  gw_upstream *u = upstream_named(r->route->upstream);
  if (u == NULL) return GW_NEXT;
  uint_fast64_t gen = atomic_load(&u->cache_gen);
  gw_cache_hit hit;
  long refresh_ms = r->route->def->timeout_ms > 0 ? r->route->def->timeout_ms : gw.cfg.timeout_ms;
  enum gw_cache_result res = gw_cache_get(c, r->path, strlen(r->path), now_ms(), refresh_ms, &hit);
  /* past its time and now ours to refresh: renewed in the background, this read too is
   * answered from the kept answer (unless the upstream was written to meanwhile) */
  if (res == GW_CACHE_REFRESH && hit.tag == gen) {
    if (refresh_start(r, u, gen) == 0) res = GW_CACHE_STALE;
    else gw_cache_refresh_failed(c, r->path, strlen(r->path));
  }
  if ((res == GW_CACHE_FRESH || res == GW_CACHE_STALE) && hit.tag == gen) {
    gw_answer_bytes(r, 200, hit.content_type, hit.body, hit.len);
    char *age = yw_arena_alloc(r->arena, 24);
    if (age != NULL) {
      snprintf(age, 24, "%lld", (long long)(hit.age_ms / 1000));
      gw_req_add_header(r, "age", age);
    }
    gw_req_add_header(r, "x-cache", res == GW_CACHE_FRESH ? "hit" : "stale");
    gw_metrics_cache(1);
    return GW_DONE;
  }
  r->cache_fill = res == GW_CACHE_REFRESH ? 2 : 1; /* a refresh that could not start */
  r->cache_gen = gen;
  gw_req_add_header(r, "x-cache", "miss");
  gw_metrics_cache(0);
  return GW_NEXT;
}

/* In the finish: a missed route's 200 answer is kept, tagged with the upstream's
 * generation at the miss, so a write that passed meanwhile leaves it stale. A refresh
 * that got no answer to keep gives its claim back. */
static void cache_keep(gw_req *r) {
  if (!r->cache_fill) return;
  if (r->status != 200 || r->streaming || r->conn == NULL) {
    if (r->cache_fill == 2) gw_cache_refresh_failed(r->worker->cache, r->path, strlen(r->path));
    return;
  }
  const char *type = NULL;
  for (size_t i = 0; i < r->n_resp_headers; i++)
    if (strcmp(r->resp_headers[i].name, "content-type") == 0) type = r->resp_headers[i].value;
  gw_cache_put(r->worker->cache, r->path, strlen(r->path), type, r->resp_body, r->resp_len,
               now_ms(), r->route->def->cache_ms,
               (int64_t)r->route->def->cache_ms * STALE_FACTOR, r->cache_gen);
}

/* ---- the table -------------------------------------------------------------------- */

static enum gw_phase_result ph_static(gw_req *r) { return gw_static_handle(r) ? GW_DONE : GW_NEXT; }

static const gw_phase phases[] = {
    {"request_id", ph_request_id},
    {"limits", ph_limits},
    {"kind", gw_phase_kind},
    {"cors", gw_phase_cors},
    {"builtin", gw_phase_builtin},
    {"static", ph_static}, /* files under YW_GATEWAY_STATIC's prefixes (gw_static.c) */
    {"route", gw_phase_route},
    {"access", gw_phase_access},
    {"cache", ph_cache},             /* public reads kept in the worker's memory (gw_cache.h) */
    {"idempotency", gw_phase_idem}, /* an idempotent route's Idempotency-Key (gw_idem.c) */
    {"upload", gw_phase_upload},     /* files to the store, FileRefs to the method (gw_upload.c) */
    {"download", gw_phase_download}, /* the owner allows, the store answers (gw_upload.c) */
    {"upstream", gw_phase_upstream},
};

/* Response filters: every answer passes each, in order, before it is logged and sent. */
typedef void (*gw_filter_fn)(gw_req *r);
static void filter_request_id(gw_req *r) { gw_req_add_header(r, "x-request-id", r->request_id); }
static const gw_filter_fn filters[] = {filter_request_id, gw_filter_cors};

/* ---- finish: filters, log, send --------------------------------------------------- */

static double elapsed_seconds(const gw_req *r) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - r->start.tv_sec) + (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
}

static const char *kind_name(enum gw_kind k) {
  switch (k) {
  case GW_KIND_GRPC: return "grpc";
  case GW_KIND_GRPC_WEB: return "grpc-web";
  case GW_KIND_GRPC_WEB_TEXT: return "grpc-web-text";
  default: return "json";
  }
}

/* The log phase: the metrics and the access-log line of r with its status. */
void gw_request_log(gw_req *r) {
  double secs = elapsed_seconds(r);
  gw_metrics_observe(r->metric_slot, r->status, secs);
  const char *path = r->path != NULL ? r->path : "";
  /* the path without its query: queries may carry what a resident typed */
  size_t plen = strcspn(path, "?");
  yw_log_field f[] = {
      {.key = "requestId", .type = YW_LOG_STR, .s = r->request_id},
      {.key = "method", .type = YW_LOG_STR, .s = r->method != NULL ? r->method : ""},
      {.key = "path", .type = YW_LOG_STR, .s = plen > 0 ? path : "", .len = plen},
      {.key = "rpc", .type = YW_LOG_STR, .s = r->route != NULL ? r->route->grpc_path : NULL},
      {.key = "status", .type = YW_LOG_INT, .i = r->status},
      {.key = "kind", .type = YW_LOG_STR, .s = kind_name(r->kind)},
      {.key = "proto", .type = YW_LOG_STR, .s = r->is_h2 ? "h2" : "http/1.1"},
      {.key = "bytes", .type = YW_LOG_INT, .i = (long long)r->resp_len},
      {.key = "durationMs", .type = YW_LOG_REAL, .d = secs * 1000.0},
  };
  yw_log_fields(YW_LOG_INFO, "http.access", f, sizeof f / sizeof f[0]);
}

static void finish(gw_req *r) {
  if (r->responded) return;
  if (r->status == 0) /* every phase went on and none answered: a hole in the table */
    gw_answer_error(r, GRPC_STATUS_INTERNAL, "no phase answered this request");
  cache_keep(r);
  gw_auth_answered(r); /* a lookup that found nothing costs its client more */
  for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) filters[i](r);
  /* a streamed answer is logged once, at its end (gw_sse.c), with its bytes and time */
  if (!r->streaming) gw_request_log(r);
  gw_conn_respond(r);
}

static const gw_pipeline pipeline = {phases, sizeof phases / sizeof phases[0], finish};

/* ---- streamed bodies (upload routes) ---------------------------------------------- */

size_t gw_request_body_stream(gw_req *r) {
  if (r->method == NULL || r->path == NULL || r->header_overflow) return 0;
  return gw_upload_body_limit(r);
}

void gw_request_body_more(gw_req *r) {
  void (*fn)(gw_req *, void *) = r->body_wait;
  if (fn == NULL) return;
  r->body_wait = NULL;
  r->refs++; /* the phase may answer, and the connection let go of r meanwhile */
  fn(r, r->body_wait_arg);
  gw_req_unref(r);
}

/* ---- entries ---------------------------------------------------------------------- */

void gw_request_start(gw_req *r) {
  gw_phase_start(&pipeline, &r->phase, r);
}

void gw_req_resume(gw_req *r, enum gw_phase_result res) {
  /* the client left (its 499 is logged): nothing goes on */
  if (r->conn == NULL) return;
  gw_phase_resume(&pipeline, &r->phase, r, res);
}

void gw_request_abandon(gw_req *r) {
  /* a streamed answer whose head went out is still unfinished until its end */
  int open_stream = r->streaming && !r->stream_ended;
  /* a request whose head never completed was never started: nothing to log */
  if (!r->phase.started || (!open_stream && (r->responded || r->phase.finished))) return;
  /* nginx's 499: the client closed the request before the answer */
  r->status = 499;
  gw_request_log(r);
  /* an upload's calls run to their answers (each has its deadline): a Commit or the
   * service may have kept the files already, and only the answer says whether their
   * holds are given back (gw_upload_release) */
  if (r->up_call != NULL && r->upload == NULL) gw_upstream_cancel(r->up_call);
  if (r->body_wait != NULL) gw_request_body_more(r); /* a phase waiting for the body */
  if (r->stream != NULL) gw_stream_abandon(r);
}
