/*
 * feed.c - handlers of yiwang.feed.v1.FeedService and the consumers that fill the feed.
 *
 * Filling: for each stream of YW_FEED_STREAMS a consumer of group "feed" handles
 * feed.entry events (version 1, yiwang.events.v1.FeedEntryAdded) by inserting the entry
 * in the transaction that records the event as processed; a replay adds nothing (the
 * event id is unique besides). Events of other types are acknowledged and skipped.
 * After each poll the residents whose feed grew have their open streams caught up, on
 * every copy (yw_live_wake_shared: a Redis publish each copy listens to).
 *
 * Reading: ListFeed pages newest first (the cursor is the last entry's id); WatchFeed is
 * a server stream (yw_live): the entries after Last-Event-ID, then each new one. Both
 * read the caller's own feed, or acting for a company (scope "read") the company's
 * ("org:<credit code>", yw_feed_recipient).
 *
 * Offers: feed_service_init, feed_start, feed_stop.
 */
#include "feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/events/v1/feed.pb-c.h"
#include "yiwang/feed/v1/feed.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define DB "the feed database"
#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define LIVE_BATCH 200

typedef Yiwang__Feed__V1__FeedEntry Entry;

#define ENTRY_COLS                                                                         \
  "id, type, title, body, link, source, floor(extract(epoch FROM created_at))::bigint,"    \
  " (extract(microseconds FROM created_at)::bigint % 1000000) * 1000"

/* The entry of row r (ENTRY_COLS); strings point into r when a is NULL. */
static Entry *entry_from_row(yw_arena *a, PGresult *r, int row, Entry *e,
                             Google__Protobuf__Timestamp *ts) {
  yiwang__feed__v1__feed_entry__init(e);
  google__protobuf__timestamp__init(ts);
  char **fields[] = {&e->id, &e->type, &e->title, &e->body, &e->link, &e->source};
  for (int c = 0; c < 6; c++) {
    *fields[c] = a != NULL ? yw_col_str(a, r, row, c) : PQgetvalue(r, row, c);
    if (*fields[c] == NULL) return NULL;
  }
  ts->seconds = yw_col_ll(r, row, 6);
  ts->nanos = (int32_t)yw_col_ll(r, row, 7);
  e->create_time = ts;
  return e;
}

/* ---- whose feed ------------------------------------------------------------------- */

/* The feed the person caller reads, into key (yw_feed_recipient): their own, or acting
 * for a company the company's, which needs the scope "read". 0 or YW_EPERM (status set). */
static int reader_key(yw_rpc_call *call, const yw_caller *caller, char *key, size_t len) {
  int rc = yw_service_require_org_scope(call, caller, "read", "reading the company's feed");
  if (rc != 0) return rc;
  yw_feed_recipient(caller->org[0] != '\0' ? "company" : "person", caller->subject, caller->org,
                    key, len);
  return 0;
}

/* ---- ListFeed --------------------------------------------------------------------- */

static int list_feed(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                     void *data) {
  const Yiwang__Feed__V1__ListFeedRequest *req = (const void *)reqm;
  feed_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  char key[YW_LIVE_OWNER_MAX + 1];
  if (rc == 0) rc = reader_key(call, &caller, key, sizeof key);
  if (rc != 0) return rc;
  const char *filters[] = {key};
  yw_page page;
  rc = yw_page_begin(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 1,
                     &page);
  if (rc != 0) return rc;
  char *end = NULL;
  long long before = page.has_cursor ? strtoll(page.cursor, &end, 10) : 0;
  if (page.has_cursor && (end == NULL || *end != '\0' || before <= 0))
    return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
  char before_s[24], limit[16];
  snprintf(before_s, sizeof before_s, "%lld", page.has_cursor ? before : 0);
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {key, before_s, limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " ENTRY_COLS " FROM feed.entries"
                        " WHERE subject = $1 AND ($2::bigint = 0 OR id < $2::bigint)"
                        " ORDER BY id DESC LIMIT $3::int",
                        3, p, &r);
  if (rc != 0) return rc;
  Yiwang__Feed__V1__ListFeedResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int rows = PQntuples(r), n = rows > page.size ? page.size : rows;
  if (resp != NULL) {
    yiwang__feed__v1__list_feed_response__init(resp);
    resp->entries = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->entries);
  }
  for (int i = 0; resp != NULL && resp->entries != NULL && i < n; i++) {
    Entry *e = yw_arena_alloc(a, sizeof *e);
    Google__Protobuf__Timestamp *ts = yw_arena_alloc(a, sizeof *ts);
    if (e == NULL || ts == NULL || entry_from_row(a, r, i, e, ts) == NULL) break;
    resp->entries[resp->n_entries++] = e;
  }
  if (resp != NULL && rows > page.size)
    resp->next_page_token = yw_page_token(a, &page, PQgetvalue(r, n - 1, 0));
  PQclear(r);
  if (resp == NULL || (int)resp->n_entries != n || resp->next_page_token == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* ---- WatchFeed -------------------------------------------------------------------- */

/* yw_live's fetch: the subject's entries after `after`, oldest first. */
static int live_fetch(void *arg, yw_rpc_stream *st, const char *subject, long long after,
                      long long *last) {
  feed_ctx *ctx = arg;
  PGconn *conn = yw_pg_pool_acquire(ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_set_deadline(conn, 5000);
  char from[24], limit[16];
  snprintf(from, sizeof from, "%lld", after);
  snprintf(limit, sizeof limit, "%d", LIVE_BATCH);
  const char *p[] = {subject, from, limit};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT " ENTRY_COLS " FROM feed.entries"
                       " WHERE subject = $1 AND id > $2::bigint ORDER BY id LIMIT $3::int",
                       3, p, &r, NULL);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return YW_EUNAVAIL;
  int rows = PQntuples(r), sent = 0;
  for (; sent < rows; sent++) {
    Entry e;
    Google__Protobuf__Timestamp ts;
    entry_from_row(NULL, r, sent, &e, &ts);
    if ((rc = yw_rpc_stream_send(st, &e.base)) != 0) break;
    *last = yw_col_ll(r, sent, 0);
  }
  PQclear(r);
  return rc != 0 ? rc : sent;
}

static int watch_feed(yw_rpc_stream *st, const ProtobufCMessage *reqm, void *data) {
  (void)reqm;
  feed_ctx *ctx = data;
  yw_rpc_call *call = yw_rpc_stream_call(st);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  char key[YW_LIVE_OWNER_MAX + 1];
  if (rc == 0) rc = reader_key(call, &caller, key, sizeof key);
  if (rc != 0) return rc;
  long long last = yw_live_last_event_id(st);
  if (last < 0) return yw_rpc_call_fail(call, YW_EINVAL, "Last-Event-ID must be an entry id");
  yw_live_subscribe(ctx->live, st, key, last); /* finishes it on a failure */
  return 0;
}

/* ---- filling ---------------------------------------------------------------------- */

static int handle_event(PGconn *conn, const yw_event *ev, void *arg) {
  feed_source *src = arg;
  if (strcmp(ev->type, "feed.entry") != 0) return 0; /* not for the feed */
  if (ev->version != 1) return YW_EINVAL;            /* a version this copy cannot read */
  ProtobufCMessage *m = NULL;
  if (yw_event_unpack(ev, &yiwang__events__v1__feed_entry_added__descriptor, NULL, &m) != 0)
    return YW_EINVAL;
  const Yiwang__Events__V1__FeedEntryAdded *fe = (const void *)m;
  int rc = YW_EINVAL; /* a malformed entry goes to the dead letters after its retries */
  if (fe->subject[0] != '\0' && strlen(fe->subject) <= YW_LIVE_OWNER_MAX && fe->title[0] != '\0') {
    const char *p[] = {ev->id, fe->subject, fe->type[0] != '\0' ? fe->type : "feed.entry",
                       fe->title, fe->body, fe->link, src->stream};
    rc = yw_pg_query(conn,
                     "INSERT INTO feed.entries (event_id, subject, type, title, body, link, source)"
                     " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
                     7, p, NULL, NULL);
  }
  if (rc == 0) yw_live_touched_add(&src->touched, fe->subject);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

static void *source_loop(void *arg) {
  feed_source *src = arg;
  feed_ctx *ctx = src->ctx;
  int backoff_ms = 100;
  while (!ctx->stopping) {
    int rc = yw_events_consumer_poll(src->consumer);
    /* this round's entries are committed: wake their residents' streams */
    /* on every copy: a resident's stream may be open on another */
    yw_live_touched_wake(ctx->live, &src->touched, 1);
    if (rc < 0) {
      struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
      backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
    } else {
      backoff_ms = 100;
    }
  }
  return NULL;
}

int feed_start(feed_ctx *ctx, const char *streams, const char *consumer,
               const char *redis_addr, const char *wake_channel) {
  ctx->live = yw_live_new(live_fetch, ctx, LIVE_BATCH);
  if (ctx->live == NULL) return YW_ENOMEM;
  int rc = yw_live_share(ctx->live, ctx->redis, redis_addr, wake_channel);
  if (rc != 0) return rc;
  ctx->stopping = 0;
  const char *p = streams;
  while (p != NULL && *p != '\0') {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n > 0) {
      if (ctx->n_sources == FEED_MAX_STREAMS || n >= sizeof ctx->sources[0].stream) return YW_EINVAL;
      feed_source *src = &ctx->sources[ctx->n_sources];
      memset(src, 0, sizeof *src);
      src->ctx = ctx;
      memcpy(src->stream, p, n);
      src->stream[n] = '\0';
      yw_events_consumer_config cfg = {.stream = src->stream,
                                       .group = "feed",
                                       .consumer = consumer,
                                       .schema = "feed",
                                       .handler = handle_event,
                                       .handler_arg = src};
      rc = yw_events_consumer_new(ctx->pool, ctx->redis, &cfg, &src->consumer);
      if (rc != 0) return rc;
      ctx->n_sources++;
      if (pthread_create(&src->thread, NULL, source_loop, src) != 0) return YW_EINTERNAL;
      src->running = 1;
    }
    p = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

void feed_stop(feed_ctx *ctx) {
  ctx->stopping = 1;
  for (int i = 0; i < ctx->n_sources; i++) {
    if (ctx->sources[i].running) pthread_join(ctx->sources[i].thread, NULL);
    yw_events_consumer_free(ctx->sources[i].consumer);
  }
  ctx->n_sources = 0;
  yw_live_free(ctx->live, YW_EUNAVAIL, "the feed is stopping");
  ctx->live = NULL;
}

/* ---- metrics ---------------------------------------------------------------------- */

int feed_metrics(void *arg, char *buf, size_t len) {
  feed_ctx *ctx = arg;
  int n = snprintf(buf, len, "# TYPE yw_feed_streams_open gauge\nyw_feed_streams_open %d\n",
                   ctx->live != NULL ? yw_live_count(ctx->live) : 0);
  if (n < 0 || (size_t)n >= len) return YW_ETOOBIG;
  for (int i = 0; i < ctx->n_sources; i++) {
    int more = yw_events_consumer_metrics(ctx->sources[i].consumer, 200, buf + n, len - (size_t)n);
    if (more < 0) return more;
    n += more;
  }
  return n;
}

/* ---- the table -------------------------------------------------------------------- */

static const yw_rpc_method methods[] = {
    {.name = "WatchFeed", .stream = watch_feed},
    {.name = "ListFeed", .fn = list_feed},
};

void feed_service_init(yw_rpc_service *svc, feed_ctx *ctx) {
  svc->descriptor = &yiwang__feed__v1__feed_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
}
