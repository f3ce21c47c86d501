/*
 * progress.c - handlers of yiwang.progress.v1.ProgressService and the projection they
 * read.
 *
 * The projection: a consumer (group "progress") of the applications service's stream
 * applies application.submitted and application.status_changed (version 1) to
 * progress.applications (one row per application: where it stands) and progress.steps
 * (one row per event: its timeline), in the transaction that records the event as
 * processed, so a replay changes nothing. Order is the producer's outbox, never a clock:
 * an event carries its outbox position (yw_event.seq; per application the order of the
 * appends, whichever copy of yw-applications wrote them and whatever its clock said, and
 * the same in a relay's second copy and in a replay), and a row keeps the position of
 * the last status event and of the last supervision marking it applied (migration 009).
 * An event before it changes nothing but its timeline step; the one at it writes the
 * same values again; a later one applies. The events' clocks are shown, not compared,
 * except for entries relayed without a position (seq 0), which apply by their clock as
 * before, and only to a row that has taken no event with a position (POSITION_SQL).
 *
 * Reading: GetProgress answers anyone holding the number and the query code. The code is
 * checked as the applications service keeps it, an HMAC of "<number>:<code>" under
 * YW_LOOKUP_KEY, compared in constant time. A wrong code and an unknown number answer
 * the same NOT_FOUND, and each wrong try counts against the caller's address and
 * against the number (an hour each, in Redis): past either limit the lookup is refused
 * with RESOURCE_EXHAUSTED and retry-after, the right code included, so a number cannot
 * be guessed from many addresses. Answers come from a Redis cache (the packed view with
 * the code's HMAC in front, a short TTL) and from PostgreSQL when Redis is down or cold;
 * the consumer drops a number's cached view when an event changes it (in the event's
 * transaction and again after its commit). While Redis is down the guess limits
 * cannot be counted: the gateway's own per-address limit still bounds lookups.
 *
 * 一件事一次办: a member's application.submitted names its bundle filing (number, query
 * code HMAC, bundle code and name, place), kept in progress.bundles and on the member's
 * row; GetBundleProgress answers the filing with every member, by the filing's number
 * and code through the same lookup as GetProgress (public_lookup: the same guess
 * counters, cache and fallback). A member's event drops its filing's cached answer too.
 *
 * Supervision (电子监察) is what the applications service's job marked, with its holiday
 * calendar (application.supervision_changed: GREEN is ON_TIME, YELLOW DUE_SOON, RED
 * OVERDUE), shown while the limit runs (accepted, in review, resubmitted); anything else
 * has no limit running.
 *
 * Offers: progress_service_init, progress_handle_event, progress_after_commit,
 * progress_consumer_config, progress_start, progress_metrics, progress_stop.
 */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/events/v1/applications.pb-c.h"
#include "yiwang/events/v1/ratings.pb-c.h"
#include "yiwang/progress/v1/progress.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_net.h"
#include "yw_service.h"
#include "yw_workdays.h"

#define DB "the progress database"
#define PAGE_DEFAULT 20
#define PAGE_MAX 50
#define BATCH_MAX 50
#define NUMBER_LEN 20
#define CODE_LEN 6
#define MAC_LEN 64
#define GUESS_WINDOW_S 3600
#define CACHE_MAX (256 * 1024)

typedef Yiwang__Progress__V1__Progress Progress;
typedef Yiwang__Progress__V1__Step Step;

static int digits(const char *s, size_t n) {
  if (s == NULL || strlen(s) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* ---- the view --------------------------------------------------------------------- */

/* An application's supervision (the enum's names in lower case), from its row a: the
 * colour the applications service's job last marked (application.supervision_changed),
 * and none once its limit stops running (a step the job has not seen yet). */
#define SUPERVISION_SQL                                                                    \
  " CASE WHEN a.status NOT IN ('ACCEPTED', 'IN_REVIEW', 'RESUBMITTED')"                     \
  "      THEN 'supervision_none' ELSE a.supervision END"

/* What the queries read of an application: where it stands and its supervision now. */
#define VIEW_COLS                                                                          \
  "a.number, a.item_name, a.impl_code, a.status, a.departments[1],"                        \
  " array_to_string(a.departments, ','), COALESCE(to_char(a.due_date, 'YYYY-MM-DD'), ''),"  \
  SUPERVISION_SQL ","                                                                      \
  " a.submitted_us, floor(extract(epoch FROM a.updated_at))::bigint, a.query_code_mac"

static Google__Protobuf__Timestamp *ts_new(yw_arena *a, long long secs, int nanos) {
  Google__Protobuf__Timestamp *t = yw_arena_alloc(a, sizeof *t);
  if (t == NULL) return NULL;
  google__protobuf__timestamp__init(t);
  t->seconds = secs;
  t->nanos = nanos;
  return t;
}

/* The view of row i (VIEW_COLS) in a; NULL on ENOMEM. */
static Progress *view_from_row(yw_arena *a, const PGresult *r, int i) {
  Progress *p = yw_arena_alloc(a, sizeof *p);
  if (p == NULL) return NULL;
  yiwang__progress__v1__progress__init(p);
  p->number = yw_col_str(a, r, i, 0);
  p->item_name = yw_col_str(a, r, i, 1);
  p->impl_code = yw_col_str(a, r, i, 2);
  p->status = yw_col_str(a, r, i, 3);
  p->department_code = yw_col_str(a, r, i, 4);
  char *deps = yw_col_str(a, r, i, 5);
  p->due_date = yw_col_str(a, r, i, 6);
  p->supervision = yw_enum_from_db(&yiwang__progress__v1__supervision__descriptor, PQgetvalue(r, i, 7));
  long long us = yw_col_ll(r, i, 8);
  p->submit_time = ts_new(a, us / 1000000, (int)(us % 1000000) * 1000);
  p->update_time = ts_new(a, yw_col_ll(r, i, 9), 0);
  if (p->number == NULL || p->item_name == NULL || p->impl_code == NULL || p->status == NULL ||
      p->department_code == NULL || deps == NULL || p->due_date == NULL || p->submit_time == NULL ||
      p->update_time == NULL)
    return NULL;
  size_t n = deps[0] != '\0' ? 1 : 0;
  for (const char *c = deps; *c != '\0'; c++) n += *c == ',';
  p->departments = yw_arena_calloc(a, n + 1, sizeof *p->departments);
  if (p->departments == NULL) return NULL;
  for (char *s = deps; n > 0 && s != NULL;) {
    char *comma = strchr(s, ',');
    if (comma != NULL) *comma = '\0';
    p->departments[p->n_departments++] = s;
    s = comma != NULL ? comma + 1 : NULL;
  }
  return p;
}

/* Reads one application's view and timeline; *mac gets its code's HMAC. Returns 0,
 * YW_ENOTFOUND (no such number) or the code to answer with (status set). */
static int read_view(yw_rpc_call *call, progress_ctx *ctx, const char *number, Progress **out,
                     char mac[MAC_LEN + 1]) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {number};
  PGresult *r = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                            "SELECT " VIEW_COLS " FROM progress.applications a WHERE a.number = $1",
                            1, p, &r);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return YW_ENOTFOUND;
  }
  Progress *v = view_from_row(a, r, 0);
  snprintf(mac, MAC_LEN + 1, "%s", PQgetvalue(r, 0, 10));
  PQclear(r);
  if (v == NULL) return YW_ENOMEM;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT status, floor(extract(epoch FROM at))::bigint,"
                        " (extract(microseconds FROM at)::bigint % 1000000) * 1000,"
                        " department_code, reason FROM progress.steps WHERE number = $1"
                        " ORDER BY source_seq, seq",
                        1, p, &r);
  if (rc != 0) return rc;
  int n = PQntuples(r);
  v->timeline = yw_arena_calloc(a, (size_t)n + 1, sizeof *v->timeline);
  for (int i = 0; v->timeline != NULL && i < n; i++) {
    Step *s = yw_arena_alloc(a, sizeof *s);
    if (s == NULL) break;
    yiwang__progress__v1__step__init(s);
    s->status = yw_col_str(a, r, i, 0);
    s->time = ts_new(a, yw_col_ll(r, i, 1), (int)yw_col_ll(r, i, 2));
    s->department_code = yw_col_str(a, r, i, 3);
    s->reason = yw_col_str(a, r, i, 4);
    if (s->status == NULL || s->time == NULL || s->department_code == NULL || s->reason == NULL) break;
    v->timeline[v->n_timeline++] = s;
  }
  PQclear(r);
  if ((int)v->n_timeline != n) return YW_ENOMEM;
  *out = v;
  return 0;
}

/* ---- the cache and the guess counters ---------------------------------------------- */

/* The cached answer of number: kind "view" (an application's GetProgress) or "bundle"
 * (a filing's GetBundleProgress); one hash tag with the guess counters. */
static void cache_key(const progress_ctx *ctx, const char *kind, const char *number, char *key,
                      size_t size) {
  snprintf(key, size, "{%s:progress}:%s:%s", ctx->redis_prefix, kind, number);
}

/* A cached view in a reply element: the code's HMAC, then the packed view. */
static int cached_view(const redisReply *e) {
  return e != NULL && e->type == REDIS_REPLY_STRING && e->len > MAC_LEN;
}

static void cache_put(progress_ctx *ctx, const char *kind, const char *number, const char *mac,
                      const ProtobufCMessage *v) {
  if (ctx->redis == NULL || ctx->cache_ttl_s <= 0) return;
  size_t n = protobuf_c_message_get_packed_size(v);
  if (n > CACHE_MAX) return;
  uint8_t *buf = malloc(MAC_LEN + n);
  if (buf == NULL) return;
  memcpy(buf, mac, MAC_LEN);
  protobuf_c_message_pack(v, buf + MAC_LEN);
  char key[160], ttl[16];
  cache_key(ctx, kind, number, key, sizeof key);
  snprintf(ttl, sizeof ttl, "%d", ctx->cache_ttl_s);
  const char *argv[] = {"SET", key, (const char *)buf, "EX", ttl};
  size_t lens[] = {3, strlen(key), MAC_LEN + n, 2, strlen(ttl)};
  redisReply *rep = yw_redis_command_within(ctx->redis, 100, 5, argv, lens, NULL, 0);
  if (rep != NULL) freeReplyObject(rep);
  free(buf);
}

static void cache_drop(progress_ctx *ctx, const char *kind, const char *number) {
  if (ctx->redis == NULL) return;
  char key[160];
  cache_key(ctx, kind, number, key, sizeof key);
  const char *argv[] = {"DEL", key};
  redisReply *rep = yw_redis_command_within(ctx->redis, 200, 2, argv, NULL, NULL, 0);
  if (rep != NULL) freeReplyObject(rep);
}

/* A guess counter of a reply element (0 when absent). */
static long long counter(const redisReply *e) {
  return e != NULL && e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
}

/* Seconds left of key's hour (0 when unknown). */
static long long ttl_of(progress_ctx *ctx, const char *key) {
  const char *argv[] = {"TTL", key};
  redisReply *rep = yw_redis_command_within(ctx->redis, 100, 2, argv, NULL, NULL, 0);
  long long t = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
  if (rep != NULL) freeReplyObject(rep);
  return t;
}

static void count_guess(progress_ctx *ctx, const char *key) {
  if (ctx->redis == NULL) return;
  char window[16];
  snprintf(window, sizeof window, "%d", GUESS_WINDOW_S);
  const char *incr[] = {"INCR", key};
  redisReply *rep = yw_redis_command_within(ctx->redis, 100, 2, incr, NULL, NULL, 0);
  int first = rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
  if (rep != NULL) freeReplyObject(rep);
  /* the hour starts at the first wrong try (NX: a later one does not extend it) */
  const char *expire[] = {"EXPIRE", key, window, "NX"};
  if (first || rep == NULL) {
    rep = yw_redis_command_within(ctx->redis, 100, 4, expire, NULL, NULL, 0);
    if (rep != NULL) freeReplyObject(rep);
  }
}

/* ---- GetProgress and GetBundleProgress ---------------------------------------------- */

/* A wrong code or an unknown number: counted for the address and the number, and
 * answered alike. */
static int wrong_try(progress_ctx *ctx, yw_rpc_call *call, const char *kip, const char *knum,
                     const char *what) {
  count_guess(ctx, kip);
  count_guess(ctx, knum);
  return yw_rpc_call_fail(call, YW_ENOTFOUND, "no %s with this number and query code", what);
}

/* How a public lookup reads what it answers (the view of number into *out, its query
 * code's HMAC into mac). Returns 0, YW_ENOTFOUND (no such number) or the code to answer
 * with (status set). */
typedef int (*public_read_fn)(yw_rpc_call *call, progress_ctx *ctx, const char *number,
                              ProtobufCMessage **out, char mac[MAC_LEN + 1]);

/* A lookup by number and query code without signing in, for an application (kind
 * "view") or a bundle filing ("bundle"): both numbers come from the applications
 * service's one set of sequences, so the guess counters of the address and of the
 * number are the same ones for both. A wrong code and an unknown number are counted
 * and answered alike (NOT_FOUND naming what); past either limit RESOURCE_EXHAUSTED
 * with retry-after, the right code included. From the cache (packed, the code's HMAC in
 * front) or else read and cached. */
static int public_lookup(yw_rpc_call *call, progress_ctx *ctx, const char *number,
                         const char *code, const char *kind, const char *what,
                         public_read_fn read, ProtobufCMessage **out) {
  if (!digits(number, NUMBER_LEN))
    return yw_rpc_call_fail(call, YW_EINVAL, "number must be the 20 digits of the receipt");
  if (!digits(code, CODE_LEN))
    return yw_rpc_call_fail(call, YW_EINVAL, "queryCode must be the 6 digits of the receipt");
  yw_caller caller;
  int rc = yw_service_caller(call, &ctx->caller_keys, &caller);
  if (rc != 0) return rc;

  /* wrong tries count per client as the gateway's limits do: an IPv6 client by its
   * /64, inside which it can take any address */
  char client[64];
  if (yw_client_key(caller.ip, client, sizeof client) != 0) snprintf(client, sizeof client, "-");
  char kip[200], knum[200];
  snprintf(kip, sizeof kip, "{%s:progress}:guess:ip:%s", ctx->redis_prefix, client);
  snprintf(knum, sizeof knum, "{%s:progress}:guess:no:%s", ctx->redis_prefix, number);
  char kview[160];
  cache_key(ctx, kind, number, kview, sizeof kview);
  /* one round trip: the cached view and both counters (one hash tag, so one slot) */
  const char *mget[] = {"MGET", kview, kip, knum};
  redisReply *got = ctx->redis != NULL
                        ? yw_redis_command_within(ctx->redis, 100, 4, mget, NULL, NULL, 0)
                        : NULL;
  int have_reply = got != NULL && got->type == REDIS_REPLY_ARRAY && got->elements == 3;
  long long by_ip = have_reply ? counter(got->element[1]) : 0;
  long long by_no = have_reply ? counter(got->element[2]) : 0;
  if (by_ip >= ctx->guesses_per_address || by_no >= ctx->guesses_per_number) {
    freeReplyObject(got);
    long long wait = ttl_of(ctx, by_ip >= ctx->guesses_per_address ? kip : knum);
    char after[24];
    snprintf(after, sizeof after, "%lld", wait > 0 ? wait : GUESS_WINDOW_S);
    yw_rpc_call_add_trailer(call, "retry-after", after);
    return yw_rpc_call_fail(call, YW_ELIMIT, "too many wrong lookups; try again later");
  }

  char material[NUMBER_LEN + CODE_LEN + 2], want[MAC_LEN + 1], have[MAC_LEN + 1] = "";
  snprintf(material, sizeof material, "%s:%s", number, code);
  yw_hmac_hex(ctx->lookup_key, material, strlen(material), want);
  if (have_reply && ctx->cache_ttl_s > 0 && cached_view(got->element[0])) {
    const redisReply *e = got->element[0];
    memcpy(have, e->str, MAC_LEN);
    /* the right code: the view goes out as it was packed (no unpacking, no packing) */
    rc = yw_secure_equal(have, want) ? yw_rpc_call_answer_packed(call, e->str + MAC_LEN, e->len - MAC_LEN)
                                     : YW_ENOTFOUND;
    freeReplyObject(got);
    if (rc != YW_ENOTFOUND) return rc;
    return wrong_try(ctx, call, kip, knum, what);
  }
  if (got != NULL) freeReplyObject(got);
  ProtobufCMessage *v = NULL;
  rc = read(call, ctx, number, &v, have);
  if (rc != 0 && rc != YW_ENOTFOUND) return rc;
  if (v == NULL || !yw_secure_equal(have, want)) return wrong_try(ctx, call, kip, knum, what);
  cache_put(ctx, kind, number, have, v);
  *out = v;
  return 0;
}

static int read_application(yw_rpc_call *call, progress_ctx *ctx, const char *number,
                            ProtobufCMessage **out, char mac[MAC_LEN + 1]) {
  Progress *v = NULL;
  int rc = read_view(call, ctx, number, &v, mac);
  if (rc == 0) *out = &v->base;
  return rc;
}

static int get_progress(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                        void *data) {
  const Yiwang__Progress__V1__GetProgressRequest *req = (const void *)reqm;
  return public_lookup(call, data, req->number, req->query_code, "view", "application",
                       read_application, out);
}

/* A filing's status from its members', as yw-applications' GetBundleFiling computes it:
 * IN_PROGRESS while one is undecided, COMPLETED when all completed, else ENDED. */
static const char *bundle_status(Progress *const *m, size_t n) {
  size_t open = 0, completed = 0;
  for (size_t i = 0; i < n; i++) {
    const char *st = m[i]->status;
    if (strcmp(st, "COMPLETED") == 0) completed++;
    else if (strcmp(st, "REJECTED") != 0 && strcmp(st, "DISAPPROVED") != 0 &&
             strcmp(st, "WITHDRAWN") != 0)
      open++;
  }
  return open > 0 || n == 0 ? "IN_PROGRESS" : completed == n ? "COMPLETED" : "ENDED";
}

/* A bundle filing and its members (in the bundle's order, without timelines). */
static int read_bundle(yw_rpc_call *call, progress_ctx *ctx, const char *number,
                       ProtobufCMessage **out, char mac[MAC_LEN + 1]) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {number};
  PGresult *r = NULL;
  int rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                            "SELECT bundle_code, bundle_name, query_code_mac FROM progress.bundles"
                            " WHERE number = $1",
                            1, p, &r);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return YW_ENOTFOUND;
  }
  Yiwang__Progress__V1__BundleProgress *b = yw_arena_alloc(a, sizeof *b);
  if (b != NULL) {
    yiwang__progress__v1__bundle_progress__init(b);
    b->number = yw_arena_strndup(a, number, NUMBER_LEN);
    b->bundle_code = yw_col_str(a, r, 0, 0);
    b->bundle_name = yw_col_str(a, r, 0, 1);
  }
  snprintf(mac, MAC_LEN + 1, "%s", PQgetvalue(r, 0, 2));
  PQclear(r);
  if (b == NULL || b->number == NULL || b->bundle_code == NULL || b->bundle_name == NULL)
    return YW_ENOMEM;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " VIEW_COLS " FROM progress.applications a"
                        " WHERE a.bundle_number = $1 ORDER BY a.bundle_position, a.number",
                        1, p, &r);
  if (rc != 0) return rc;
  int n = PQntuples(r);
  b->members = yw_arena_calloc(a, (size_t)n + 1, sizeof *b->members);
  for (int i = 0; b->members != NULL && i < n; i++) {
    Progress *v = view_from_row(a, r, i);
    if (v == NULL) break;
    b->members[b->n_members++] = v;
  }
  PQclear(r);
  if ((int)b->n_members != n) return YW_ENOMEM;
  b->status = (char *)bundle_status(b->members, b->n_members);
  *out = &b->base;
  return 0;
}

static int get_bundle_progress(yw_rpc_call *call, const ProtobufCMessage *reqm,
                               ProtobufCMessage **out, void *data) {
  const Yiwang__Progress__V1__GetBundleProgressRequest *req = (const void *)reqm;
  return public_lookup(call, data, req->number, req->query_code, "bundle", "bundle filing",
                       read_bundle, out);
}

/* ---- ListMyProgress and BatchGetProgress ------------------------------------------- */

static int list_my_progress(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  const Yiwang__Progress__V1__ListMyProgressRequest *req = (const void *)reqm;
  progress_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  /* acting for a company: the company's applications (scope read); else the person's own */
  const char *kind = NULL, *key = NULL;
  rc = yw_service_applicant_key(call, &caller, &kind, &key);
  if (rc != 0) return rc;
  const char *filters[] = {kind, key};
  yw_page page;
  rc = yw_page_begin(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 2, &page);
  if (rc != 0) return rc;
  /* the cursor: "<submitted_us>|<number>" of the page's last row */
  char us[24] = "0", number[NUMBER_LEN + 1] = "";
  if (page.has_cursor) {
    const char *bar = strchr(page.cursor, '|');
    char *end = NULL;
    long long v = bar != NULL ? strtoll(page.cursor, &end, 10) : -1;
    if (bar == NULL || end != bar || v <= 0 || !digits(bar + 1, NUMBER_LEN))
      return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
    snprintf(us, sizeof us, "%lld", v);
    memcpy(number, bar + 1, NUMBER_LEN + 1);
  }
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {kind, key, page.has_cursor ? "1" : "0", us, number, limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " VIEW_COLS " FROM progress.applications a"
                        " WHERE " YW_APPLICANT_SQL("a.applicant", "$1", "$2")
                        "   AND ($3 = '0' OR (a.submitted_us, a.number) < ($4::bigint, $5))"
                        " ORDER BY a.submitted_us DESC, a.number DESC LIMIT $6::int",
                        6, p, &r);
  if (rc != 0) return rc;
  Yiwang__Progress__V1__ListMyProgressResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int rows = PQntuples(r), n = rows > page.size ? page.size : rows;
  if (resp != NULL) {
    yiwang__progress__v1__list_my_progress_response__init(resp);
    resp->applications = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->applications);
  }
  for (int i = 0; resp != NULL && resp->applications != NULL && i < n; i++) {
    Progress *v = view_from_row(a, r, i);
    if (v == NULL) break;
    resp->applications[resp->n_applications++] = v;
  }
  if (resp != NULL && (int)resp->n_applications == n && rows > page.size) {
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s|%s", PQgetvalue(r, n - 1, 8), PQgetvalue(r, n - 1, 0));
    resp->next_page_token = yw_page_token(a, &page, cursor);
  }
  PQclear(r);
  if (resp == NULL || (int)resp->n_applications != n || resp->next_page_token == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

static int batch_get_progress(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                              void *data) {
  const Yiwang__Progress__V1__BatchGetProgressRequest *req = (const void *)reqm;
  progress_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  if (req->n_numbers == 0 || req->n_numbers > BATCH_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "numbers must hold 1 to %d application numbers", BATCH_MAX);
  /* a text[] literal of digits only: every number is checked before it goes in */
  char *list = yw_arena_alloc(a, req->n_numbers * (NUMBER_LEN + 1) + 3);
  if (list == NULL) return YW_ENOMEM;
  size_t o = 0;
  list[o++] = '{';
  for (size_t i = 0; i < req->n_numbers; i++) {
    if (!digits(req->numbers[i], NUMBER_LEN))
      return yw_rpc_call_fail(call, YW_EINVAL, "numbers[%zu] is not an application number", i);
    if (i > 0) list[o++] = ',';
    memcpy(list + o, req->numbers[i], NUMBER_LEN);
    o += NUMBER_LEN;
  }
  list[o++] = '}';
  list[o] = '\0';
  const char *kind = NULL, *key = NULL;
  rc = yw_service_applicant_key(call, &caller, &kind, &key);
  if (rc != 0) return rc;
  const char *p[] = {kind, key, list};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " VIEW_COLS " FROM progress.applications a"
                        " WHERE " YW_APPLICANT_SQL("a.applicant", "$1", "$2")
                        " AND a.number = ANY($3::text[])",
                        3, p, &r);
  if (rc != 0) return rc;
  Yiwang__Progress__V1__BatchGetProgressResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int rows = PQntuples(r);
  if (resp != NULL) {
    yiwang__progress__v1__batch_get_progress_response__init(resp);
    resp->applications = yw_arena_calloc(a, req->n_numbers + 1, sizeof *resp->applications);
  }
  int ok = resp != NULL && resp->applications != NULL;
  /* in the order asked; a number asked twice is answered once */
  for (size_t i = 0; ok && i < req->n_numbers; i++) {
    int dup = 0;
    for (size_t k = 0; k < i && !dup; k++) dup = strcmp(req->numbers[k], req->numbers[i]) == 0;
    for (int row = 0; !dup && row < rows; row++) {
      if (strcmp(PQgetvalue(r, row, 0), req->numbers[i]) != 0) continue;
      Progress *v = view_from_row(a, r, row);
      if (v == NULL) ok = 0;
      else resp->applications[resp->n_applications++] = v;
      break;
    }
  }
  PQclear(r);
  if (!ok) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* ---- GetStatistics ------------------------------------------------------------------ */

#define STATISTICS_SPAN_MAX 366

static const char STATISTICS_SQL[] =
    "WITH a AS ("
    "  SELECT a.departments[1] AS dept, a.impl_code, a.item_name, a.status, a.due_date,"
    "         a.submitted_at," SUPERVISION_SQL " AS sup, a.rating_level,"
    "         (SELECT s.at FROM progress.steps s WHERE s.number = a.number"
    "            AND s.status = 'COMPLETED' ORDER BY s.seq DESC LIMIT 1) AS done_at"
    "  FROM progress.applications a"
    "  WHERE ($1 = '' OR a.departments[1] = $1)"
    "    AND a.submitted_at >= $2::date::timestamp AT TIME ZONE 'Asia/Shanghai'"
    "    AND a.submitted_at < ($3::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
    " SELECT dept, impl_code, max(item_name), count(*),"
    "   count(*) FILTER (WHERE status = 'COMPLETED'),"
    "   count(*) FILTER (WHERE status IN ('REJECTED', 'DISAPPROVED')),"
    "   count(*) FILTER (WHERE status = 'WITHDRAWN'),"
    "   count(*) FILTER (WHERE status NOT IN ('COMPLETED', 'REJECTED', 'DISAPPROVED', 'WITHDRAWN')),"
    "   count(*) FILTER (WHERE status = 'COMPLETED' AND done_at IS NOT NULL AND due_date IS NOT NULL"
    "                      AND (done_at AT TIME ZONE 'Asia/Shanghai')::date <= due_date),"
    "   count(*) FILTER (WHERE sup = 'overdue'), count(*) FILTER (WHERE sup = 'due_soon'),"
    "   COALESCE(sum(extract(epoch FROM done_at - submitted_at) / 86400.0)"
    "              FILTER (WHERE status = 'COMPLETED' AND done_at IS NOT NULL), 0),"
    "   count(*) FILTER (WHERE status = 'COMPLETED' AND done_at IS NOT NULL),"
    "   count(rating_level),"
    "   count(*) FILTER (WHERE rating_level IN ('VERY_SATISFIED', 'SATISFIED', 'BASICALLY_SATISFIED'))"
    " FROM a GROUP BY dept, impl_code ORDER BY dept, impl_code";

typedef Yiwang__Progress__V1__StatisticsRow Row;

/* Adds the counts of r into t. */
static void row_add(Row *t, const Row *r) {
  t->received += r->received;
  t->completed += r->completed;
  t->refused += r->refused;
  t->withdrawn += r->withdrawn;
  t->open += r->open;
  t->completed_on_time += r->completed_on_time;
  t->overdue_now += r->overdue_now;
  t->due_soon_now += r->due_soon_now;
  t->rated += r->rated;
  t->rated_satisfied += r->rated_satisfied;
}

/* The rates of r: days is the sum of the filing-to-completion days of timed completions. */
static void row_rates(Row *r, double days, long long timed) {
  r->on_time_rate = r->completed > 0 ? (double)r->completed_on_time / r->completed : 0;
  r->average_days = timed > 0 ? days / (double)timed : 0;
  r->satisfaction_rate = r->rated > 0 ? (double)r->rated_satisfied / r->rated : 0;
}

static int get_statistics(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Progress__V1__GetStatisticsRequest *req = (const void *)reqm;
  progress_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_staff(call, &ctx->caller_keys,
                                    "dept_staff,dept_admin,platform_admin,auditor", "statistics",
                                    &caller);
  if (rc != 0) return rc;
  int everyone = yw_service_has_any_role(&caller, "platform_admin,auditor");
  if (!everyone && strcmp(req->department_code, caller.department) != 0)
    return yw_rpc_call_fail(call, YW_EPERM, "statistics of another department (or of all) are "
                                            "for platform administrators and auditors");
  if (strlen(req->department_code) > 32 || strpbrk(req->department_code, ",{}\"\\ ") != NULL)
    return yw_rpc_call_fail(call, YW_EINVAL, "departmentCode is not a department code");
  yw_day from, to;
  if (yw_day_parse(req->from_date, strlen(req->from_date), &from) != 0 ||
      yw_day_parse(req->to_date, strlen(req->to_date), &to) != 0)
    return yw_rpc_call_fail(call, YW_EINVAL, "fromDate and toDate must be dates (YYYY-MM-DD)");
  if (to < from || to - from >= STATISTICS_SPAN_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "toDate must be from fromDate to %d days after it",
                            STATISTICS_SPAN_MAX - 1);
  const char *p[] = {req->department_code, req->from_date, req->to_date};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB, STATISTICS_SQL, 3, p, &r);
  if (rc != 0) return rc;
  int n = PQntuples(r);
  Yiwang__Progress__V1__GetStatisticsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  Row *total = yw_arena_alloc(a, sizeof *total);
  if (resp != NULL) {
    yiwang__progress__v1__get_statistics_response__init(resp);
    resp->rows = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->rows);
  }
  if (total != NULL) yiwang__progress__v1__statistics_row__init(total);
  double all_days = 0;
  long long all_timed = 0;
  for (int i = 0; resp != NULL && resp->rows != NULL && total != NULL && i < n; i++) {
    Row *row = yw_arena_alloc(a, sizeof *row);
    if (row == NULL) break;
    yiwang__progress__v1__statistics_row__init(row);
    row->department_code = yw_col_str(a, r, i, 0);
    row->impl_code = yw_col_str(a, r, i, 1);
    row->item_name = yw_col_str(a, r, i, 2);
    if (row->department_code == NULL || row->impl_code == NULL || row->item_name == NULL) break;
    int32_t *counts[] = {&row->received, &row->completed, &row->refused, &row->withdrawn,
                         &row->open, &row->completed_on_time, &row->overdue_now,
                         &row->due_soon_now};
    for (int c = 0; c < 8; c++) *counts[c] = (int32_t)yw_col_ll(r, i, 3 + c);
    double days = strtod(PQgetvalue(r, i, 11), NULL);
    long long timed = yw_col_ll(r, i, 12);
    row->rated = (int32_t)yw_col_ll(r, i, 13);
    row->rated_satisfied = (int32_t)yw_col_ll(r, i, 14);
    row_rates(row, days, timed);
    row_add(total, row);
    all_days += days;
    all_timed += timed;
    resp->rows[resp->n_rows++] = row;
  }
  PQclear(r);
  if (resp == NULL || total == NULL || (int)resp->n_rows != n) return YW_ENOMEM;
  total->department_code = (char *)"";
  total->impl_code = (char *)"";
  total->item_name = (char *)"";
  row_rates(total, all_days, all_timed);
  resp->total = total;
  *out = &resp->base;
  return 0;
}

/* application.rated (yw-applications' 好差评): the applicant's level on the application's
 * row, for the satisfaction of GetStatistics. A rating of a channel or hall (no number)
 * is not an application's: skipped. Applying it again changes nothing. */
static int apply_rated(PGconn *conn, const yw_event *ev) {
  if (ev->version != 1) return YW_EINVAL;
  ProtobufCMessage *m = NULL;
  if (yw_event_unpack(ev, &yiwang__events__v1__application_rated__descriptor, NULL, &m) != 0)
    return YW_EINVAL;
  const Yiwang__Events__V1__ApplicationRated *e = (const void *)m;
  static const char *const levels[] = {"VERY_SATISFIED", "SATISFIED", "BASICALLY_SATISFIED",
                                       "DISSATISFIED", "VERY_DISSATISFIED"};
  int known = 0;
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) known |= strcmp(e->level, levels[i]) == 0;
  int rc = 0;
  if (e->number[0] != '\0' && (!digits(e->number, NUMBER_LEN) || !known)) {
    rc = YW_EINVAL;
  } else if (e->number[0] != '\0') {
    const char *p[] = {e->number, e->level};
    rc = yw_pg_query(conn, "UPDATE progress.applications SET rating_level = $2 WHERE number = $1",
                     2, p, NULL, NULL);
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* ---- the projection ----------------------------------------------------------------- */

/* Whether an event at outbox position seq, stamped ms by its sender's clock, applies to
 * a row that last applied position pos at ms_kept (SQL text of each): at or after the
 * position (the one at it writes the same again); an event without a position (0, from
 * a relay before the stream carried it) by the clock, and only while the row has taken
 * none with a position. */
#define POSITION_SQL(seq, ms, pos, ms_kept)                                                 \
  " CASE WHEN " seq " > 0 THEN " pos " <= " seq " ELSE " pos " = 0 AND " ms_kept " <= " ms \
  " END"

static int valid_departments(char *const *d, size_t n) {
  if (n == 0 || n > 16) return 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(d[i]);
    if (len == 0 || len > 32 || strchr(d[i], ',') != NULL || strpbrk(d[i], "{}\"\\ ") != NULL) return 0;
  }
  return 1;
}

/* departments as a text[] literal (each checked by valid_departments) */
static void departments_literal(char *const *d, size_t n, char *buf, size_t size) {
  size_t o = 0;
  buf[o++] = '{';
  for (size_t i = 0; i < n && o + 40 < size; i++) {
    if (i > 0) buf[o++] = ',';
    size_t len = strlen(d[i]);
    memcpy(buf + o, d[i], len);
    o += len;
  }
  buf[o++] = '}';
  buf[o] = '\0';
}

/* A bundle filing's row from its member's application.submitted (the first member's
 * makes it; the others find it). Names the filing in bundle. */
static int apply_bundle(PGconn *conn, const Yiwang__Events__V1__ApplicationSubmitted *e,
                        char bundle[NUMBER_LEN + 1]) {
  size_t cl = strlen(e->bundle_code);
  if (!digits(e->bundle_number, NUMBER_LEN) || strlen(e->bundle_query_code_mac) != MAC_LEN ||
      cl == 0 || cl > 32 || strlen(e->bundle_name) > 600 || e->bundle_position < 1)
    return YW_EINVAL;
  const char *p[] = {e->bundle_number, e->bundle_code, e->bundle_name, e->bundle_query_code_mac};
  int rc = yw_pg_query(conn,
                       "INSERT INTO progress.bundles (number, bundle_code, bundle_name, query_code_mac)"
                       " VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO NOTHING",
                       4, p, NULL, NULL);
  if (rc == 0) snprintf(bundle, NUMBER_LEN + 1, "%s", e->bundle_number);
  return rc;
}

static int apply_submitted(PGconn *conn, const yw_event *ev, const Yiwang__Events__V1__ApplicationSubmitted *e,
                           char bundle[NUMBER_LEN + 1]) {
  if (!digits(e->application_id, NUMBER_LEN) || e->applicant_subject[0] == '\0' ||
      strlen(e->query_code_mac) != MAC_LEN || !valid_departments(e->departments, e->n_departments))
    return YW_EINVAL;
  int in_bundle = e->bundle_number[0] != '\0';
  if (in_bundle) {
    int rc = apply_bundle(conn, e, bundle);
    if (rc != 0) return rc;
  }
  char position[16], seq[24];
  snprintf(position, sizeof position, "%d", e->bundle_position);
  snprintf(seq, sizeof seq, "%lld", (long long)ev->seq);
  char deps[16 * 34 + 4], ms[24];
  departments_literal(e->departments, e->n_departments, deps, sizeof deps);
  snprintf(ms, sizeof ms, "%lld", (long long)(e->submitted_at_unix_ms > 0 ? e->submitted_at_unix_ms
                                                                          : ev->occurred_at_ms));
  const char *status = e->status[0] != '\0' ? e->status : "SUBMITTED";
  /* a company's application is the company's (its list, ListMyProgress) */
  int company = strcmp(e->applicant_kind, "company") == 0 && e->applicant_org[0] != '\0';
  const char *p[] = {e->application_id, e->applicant_subject, e->impl_code, e->item_name, deps,
                     status, e->query_code_mac, ms, in_bundle ? e->bundle_number : "", position,
                     seq, company ? "company" : "person", company ? e->applicant_org : ""};
  /* a row a status change made first (its submission not seen yet, or come later than
   * the change) keeps that change's status and gets its bundle */
  int rc = yw_pg_query(conn,
                       "INSERT INTO progress.applications AS a (number, applicant_subject, impl_code,"
                       " item_name, departments, status, query_code_mac, submitted_at, submitted_us,"
                       " updated_at, last_event_ms, bundle_number, bundle_position, last_seq,"
                       " applicant_kind, applicant_org)"
                       " VALUES ($1, $2, $3, $4, $5::text[], $6, $7, to_timestamp($8::bigint / 1000.0),"
                       " $8::bigint * 1000, to_timestamp($8::bigint / 1000.0), $8::bigint,"
                       " NULLIF($9, ''), CASE WHEN $9 = '' THEN NULL ELSE $10::int END, $11::bigint,"
                       " $12, $13)"
                       " ON CONFLICT (number) DO UPDATE SET"
                       " bundle_number = COALESCE(a.bundle_number, EXCLUDED.bundle_number),"
                       " bundle_position = CASE WHEN a.bundle_number IS NULL"
                       "   THEN EXCLUDED.bundle_position ELSE a.bundle_position END,"
                       " applicant_kind = EXCLUDED.applicant_kind, applicant_org = EXCLUDED.applicant_org"
                       " WHERE (a.bundle_number IS NULL AND EXCLUDED.bundle_number IS NOT NULL)"
                       " OR (a.applicant_kind, a.applicant_org)"
                       "   IS DISTINCT FROM (EXCLUDED.applicant_kind, EXCLUDED.applicant_org)",
                       13, p, NULL, NULL);
  if (rc != 0) return rc;
  const char *s[] = {ev->id, e->application_id, status, ms, seq};
  return yw_pg_query(conn,
                     "INSERT INTO progress.steps (event_id, number, status, at, source_seq)"
                     " VALUES ($1::uuid, $2, $3, to_timestamp($4::bigint / 1000.0), $5::bigint)"
                     " ON CONFLICT (event_id) DO NOTHING",
                     5, s, NULL, NULL);
}

/* The bundle filing of the row r answered (its first column), into bundle. */
static void bundle_of(PGresult *r, char bundle[NUMBER_LEN + 1]) {
  if (r != NULL && PQntuples(r) == 1 && digits(PQgetvalue(r, 0, 0), NUMBER_LEN))
    snprintf(bundle, NUMBER_LEN + 1, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
}

static int apply_changed(PGconn *conn, const yw_event *ev, const Yiwang__Events__V1__ApplicationStatusChanged *e,
                         char bundle[NUMBER_LEN + 1]) {
  if (!digits(e->number, NUMBER_LEN) || e->to_status[0] == '\0' || e->applicant_subject[0] == '\0' ||
      strlen(e->query_code_mac) != MAC_LEN || !valid_departments(e->departments, e->n_departments) ||
      (e->due_date[0] != '\0' && strlen(e->due_date) != 10))
    return YW_EINVAL;
  char deps[16 * 34 + 4], ms[24], seq[24];
  departments_literal(e->departments, e->n_departments, deps, sizeof deps);
  snprintf(ms, sizeof ms, "%lld", (long long)(e->occurred_at_unix_ms > 0 ? e->occurred_at_unix_ms
                                                                         : ev->occurred_at_ms));
  snprintf(seq, sizeof seq, "%lld", (long long)ev->seq);
  const char *p[] = {e->number, e->applicant_subject, e->impl_code, e->item_name, deps, e->to_status,
                     e->query_code_mac, ms, e->due_date, seq};
  PGresult *r = NULL;
  /* a row is made if the submission was never seen (its event dead-lettered); an
   * earlier change than the row's last (POSITION_SQL) only adds its step */
  int rc = yw_pg_query(conn,
                       "INSERT INTO progress.applications AS a (number, applicant_subject, impl_code,"
                       " item_name, departments, status, query_code_mac, submitted_at, submitted_us,"
                       " updated_at, last_event_ms, due_date, last_seq)"
                       " VALUES ($1, $2, $3, $4, $5::text[], $6, $7, to_timestamp($8::bigint / 1000.0),"
                       " $8::bigint * 1000, to_timestamp($8::bigint / 1000.0), $8::bigint,"
                       " NULLIF($9, '')::date, $10::bigint)"
                       " ON CONFLICT (number) DO UPDATE SET status = EXCLUDED.status,"
                       " due_date = COALESCE(EXCLUDED.due_date, a.due_date),"
                       " updated_at = EXCLUDED.updated_at, last_event_ms = EXCLUDED.last_event_ms,"
                       " last_seq = GREATEST(a.last_seq, EXCLUDED.last_seq)"
                       " WHERE" POSITION_SQL("EXCLUDED.last_seq", "EXCLUDED.last_event_ms", "a.last_seq",
                                             "a.last_event_ms")
                       " RETURNING a.bundle_number",
                       10, p, &r, NULL);
  if (rc != 0) return rc;
  bundle_of(r, bundle);
  const char *s[] = {ev->id, e->number, e->to_status, ms, e->actor_department, e->reason, seq};
  return yw_pg_query(conn,
                     "INSERT INTO progress.steps (event_id, number, status, at, department_code, reason,"
                     " source_seq)"
                     " VALUES ($1::uuid, $2, $3, to_timestamp($4::bigint / 1000.0), $5, $6, $7::bigint)"
                     " ON CONFLICT (event_id) DO NOTHING",
                     7, s, NULL, NULL);
}

/* The colour of the supervision job as this service's Supervision (lower case). */
static const char *supervision_of(const char *colour) {
  return strcmp(colour, "GREEN") == 0    ? "on_time"
         : strcmp(colour, "YELLOW") == 0 ? "due_soon"
         : strcmp(colour, "RED") == 0    ? "overdue"
         : strcmp(colour, "SUPERVISION_NONE") == 0 ? "supervision_none"
                                                   : NULL;
}

/* application.supervision_changed: the colour, over an earlier marking only (by outbox
 * position, POSITION_SQL). A marking of an application not seen yet finds no row and
 * changes nothing. */
static int apply_supervision(PGconn *conn, const yw_event *ev,
                             const Yiwang__Events__V1__ApplicationSupervisionChanged *e,
                             char bundle[NUMBER_LEN + 1]) {
  const char *sup = supervision_of(e->colour);
  if (!digits(e->number, NUMBER_LEN) || sup == NULL) return YW_EINVAL;
  char ms[24], seq[24];
  snprintf(ms, sizeof ms, "%lld", (long long)(e->at_unix_ms > 0 ? e->at_unix_ms : ev->occurred_at_ms));
  snprintf(seq, sizeof seq, "%lld", (long long)ev->seq);
  const char *p[] = {e->number, sup, ms, seq};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "UPDATE progress.applications SET supervision = $2, supervision_ms = $3::bigint,"
                       " supervision_seq = GREATEST(supervision_seq, $4::bigint)"
                       " WHERE number = $1 AND" POSITION_SQL("$4::bigint", "$3::bigint",
                                                             "supervision_seq", "supervision_ms")
                       " RETURNING bundle_number",
                       4, p, &r, NULL);
  if (rc == 0) bundle_of(r, bundle);
  return rc;
}

/* The bundle filing whose cached view the event being handled on this thread changed:
 * dropped in the event's transaction, and again by progress_after_commit, which the
 * consumer (and a replay) calls on the same thread right after that event's commit. */
static _Thread_local struct {
  char event_id[40];
  char bundle[NUMBER_LEN + 1];
} touched;

int progress_handle_event(PGconn *conn, const yw_event *ev, void *arg) {
  progress_ctx *ctx = arg;
  char bundle[NUMBER_LEN + 1] = "";
  touched.event_id[0] = '\0';
  if (strcmp(ev->type, "application.rated") == 0) return apply_rated(conn, ev);
  ProtobufCMessage *m = NULL;
  const char *number;
  int rc;
  if (strcmp(ev->type, "application.supervision_changed") == 0) {
    if (ev->version != 1) return YW_EINVAL;
    if (yw_event_unpack(ev, &yiwang__events__v1__application_supervision_changed__descriptor, NULL, &m) != 0)
      return YW_EINVAL;
    const Yiwang__Events__V1__ApplicationSupervisionChanged *e = (const void *)m;
    number = e->number;
    rc = apply_supervision(conn, ev, e, bundle);
  } else {
    int submitted = strcmp(ev->type, "application.submitted") == 0;
    if (!submitted && strcmp(ev->type, "application.status_changed") != 0) return 0; /* not ours */
    if (ev->version != 1) return YW_EINVAL; /* a version this copy cannot read */
    const ProtobufCMessageDescriptor *d = submitted
                                              ? &yiwang__events__v1__application_submitted__descriptor
                                              : &yiwang__events__v1__application_status_changed__descriptor;
    if (yw_event_unpack(ev, d, NULL, &m) != 0) return YW_EINVAL;
    if (submitted) {
      const Yiwang__Events__V1__ApplicationSubmitted *e = (const void *)m;
      number = e->application_id;
      rc = apply_submitted(conn, ev, e, bundle);
    } else {
      const Yiwang__Events__V1__ApplicationStatusChanged *e = (const void *)m;
      number = e->number;
      rc = apply_changed(conn, ev, e, bundle);
    }
  }
  if (rc == 0) { /* and again once committed (after_commit) */
    cache_drop(ctx, "view", number);
    if (bundle[0] != '\0') {
      cache_drop(ctx, "bundle", bundle);
      snprintf(touched.event_id, sizeof touched.event_id, "%s", ev->id);
      memcpy(touched.bundle, bundle, sizeof touched.bundle);
    }
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

/* ---- the consumer -------------------------------------------------------------------- */

/* After an event's transaction committed: a reader between the in-transaction drop and
 * the commit may have cached the old view; drop it once more. The event's aggregate key
 * is the application number. */
int progress_after_commit(void *arg, const yw_event *ev) {
  if (digits(ev->aggregate_key, NUMBER_LEN)) cache_drop(arg, "view", ev->aggregate_key);
  if (touched.event_id[0] != '\0' && strcmp(touched.event_id, ev->id) == 0)
    cache_drop(arg, "bundle", touched.bundle);
  touched.event_id[0] = '\0';
  return 0;
}

void progress_consumer_config(progress_ctx *ctx, const char *stream, const char *consumer,
                              yw_events_consumer_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  ctx->stream = stream; /* also what ReplayEvents reads */
  cfg->stream = stream;
  cfg->group = "progress";
  cfg->consumer = consumer;
  cfg->schema = "progress";
  cfg->handler = progress_handle_event;
  cfg->handler_arg = ctx;
  cfg->after_commit = progress_after_commit;
  cfg->hook_arg = ctx;
}

int progress_start(progress_ctx *ctx, const char *stream, const char *consumer) {
  yw_events_consumer_config cfg;
  progress_consumer_config(ctx, stream, consumer, &cfg);
  int rc = yw_events_consumer_new(ctx->pool, ctx->redis, &cfg, &ctx->consumer);
  return rc != 0 ? rc : yw_events_consumer_start(ctx->consumer);
}

void progress_stop(progress_ctx *ctx) {
  yw_events_consumer_free(ctx->consumer); /* stops its thread first */
  ctx->consumer = NULL;
}

int progress_metrics(void *arg, char *buf, size_t len) {
  progress_ctx *ctx = arg;
  if (ctx->consumer == NULL) return 0;
  return yw_events_consumer_metrics(ctx->consumer, 200, buf, len);
}

/* ---- the table ------------------------------------------------------------------------ */

static const yw_rpc_method methods[] = {
    {.name = "GetProgress", .fn = get_progress},
    {.name = "GetBundleProgress", .fn = get_bundle_progress},
    {.name = "ListMyProgress", .fn = list_my_progress},
    {.name = "BatchGetProgress", .fn = batch_get_progress},
    {.name = "GetStatistics", .fn = get_statistics},
    {.name = "ReplayEvents", .fn = progress_replay_events},
};

void progress_service_init(yw_rpc_service *svc, progress_ctx *ctx) {
  svc->descriptor = &yiwang__progress__v1__progress_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
}
