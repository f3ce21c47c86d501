/*
 * testsvc.c - handlers of yiwang.test.v1.NotesService: a resident's notes, written as a
 * service of the city would be, each handler its logic on top of lib/:
 *
 *   CreateNote   idempotent (yw_idem_run): the note, its note.created event and a
 *                feed.entry for the resident's feed (yw-feed) in the outbox
 *                (yw_events_append), and the kept answer commit together
 *   GetNote      a path variable over two segments (notes/<id>), the owner's only
 *   ListNotes    keyset paging (yw_page_begin / yw_page_token), Timestamp and Int32Value
 *   Ping         reachable over gRPC only; says who the gateway vouched for
 *   WatchNotes   a server stream: the resident's feed from the event stream (consumed
 *                into testsvc.feed), resumed after last-event-id, no thread held (yw_live)
 *   AttachFiles  references to uploaded files (the gateway stored the bytes)
 *   AuthorizeFile  who may download an attachment (the gateway serves the bytes)
 *   GetNoteItem  deferred: the note, then the catalog's item over a call between
 *                services (yw_rpc_call_forward), no thread held while it waits
 *
 * Offers: testsvc_service_init, testsvc_feed_start, testsvc_feed_stop.
 */
#include "testsvc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yiwang/events/v1/feed.pb-c.h"
#include "yiwang/test/v1/notes.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define DB "the notes database"
#define SCHEMA "testsvc"
#define TEXT_MAX 500
#define PAGE_DEFAULT 10
#define PAGE_MAX 50
#define FEED_BATCH 100

typedef Yiwang__Test__V1__Note Note;
typedef Yiwang__Files__V1__FileRef FileRef;

/* ---- notes from rows -------------------------------------------------------------- */

#define NOTE_COLS                                                                          \
  "n.id, n.owner, n.text, n.priority, n.item_code,"                                        \
  " floor(extract(epoch FROM n.created_at))::bigint,"                                      \
  " (extract(microseconds FROM n.created_at)::bigint % 1000000) * 1000"

/* The note of row (columns NOTE_COLS from col), in the arena; NULL on ENOMEM. */
static Note *note_from_row(yw_arena *a, PGresult *r, int row) {
  Note *n = yw_arena_alloc(a, sizeof *n);
  Google__Protobuf__Timestamp *ts = yw_arena_alloc(a, sizeof *ts);
  char name[40];
  if (n == NULL || ts == NULL) return NULL;
  yiwang__test__v1__note__init(n);
  google__protobuf__timestamp__init(ts);
  snprintf(name, sizeof name, "notes/%s", PQgetvalue(r, row, 0));
  n->name = yw_arena_strndup(a, name, (size_t)-1);
  n->owner = yw_col_str(a, r, row, 1);
  n->text = yw_col_str(a, r, row, 2);
  if (!PQgetisnull(r, row, 3)) {
    Google__Protobuf__Int32Value *p = yw_arena_alloc(a, sizeof *p);
    if (p == NULL) return NULL;
    google__protobuf__int32_value__init(p);
    p->value = (int32_t)yw_col_ll(r, row, 3);
    n->priority = p;
  }
  n->item_code = yw_col_str(a, r, row, 4);
  ts->seconds = yw_col_ll(r, row, 5);
  ts->nanos = (int32_t)yw_col_ll(r, row, 6);
  n->create_time = ts;
  if (n->name == NULL || n->owner == NULL || n->text == NULL || n->item_code == NULL) return NULL;
  return n;
}

/* "notes/<id>" to its id text in out. Returns 0 or YW_EINVAL (status set). */
static int parse_name(yw_rpc_call *call, const char *name, char *out, size_t size) {
  const char *id = strncmp(name, "notes/", 6) == 0 ? name + 6 : NULL;
  size_t n = id != NULL ? strlen(id) : 0;
  if (n == 0 || n >= size || n > 18) goto bad;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)id[i])) goto bad;
  memcpy(out, id, n + 1);
  return 0;
bad:
  return yw_rpc_call_fail(call, YW_EINVAL, "name must be notes/<id>");
}

/* Loads the caller's note id with its attachments on conn. YW_ENOTFOUND (status set)
 * for a note that does not exist or is another resident's. */
static int load_note(yw_rpc_call *call, PGconn *conn, const char *owner, const char *id,
                     Note **out, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  const char *p[] = {id, owner};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT " NOTE_COLS " FROM testsvc.notes n"
                       " WHERE n.id = $1::bigint AND n.owner = $2",
                       2, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no note notes/%s", id);
  }
  Note *n = note_from_row(a, r, 0);
  PQclear(r);
  if (n == NULL) return YW_ENOMEM;
  const char *pf[] = {id};
  rc = yw_pg_query(conn,
                   "SELECT sha256, size, content_type, name FROM testsvc.note_files"
                   " WHERE note_id = $1::bigint ORDER BY seq",
                   1, pf, &r, err);
  if (rc != 0) return rc;
  int rows = PQntuples(r);
  n->attachments = yw_arena_calloc(a, (size_t)rows + 1, sizeof *n->attachments);
  for (int i = 0; n->attachments != NULL && i < rows; i++) {
    FileRef *f = yw_arena_alloc(a, sizeof *f);
    if (f == NULL) break;
    yiwang__files__v1__file_ref__init(f);
    f->sha256 = yw_col_str(a, r, i, 0);
    f->size = yw_col_ll(r, i, 1);
    f->content_type = yw_col_str(a, r, i, 2);
    f->name = yw_col_str(a, r, i, 3);
    if (f->sha256 == NULL || f->content_type == NULL || f->name == NULL) break;
    n->attachments[n->n_attachments++] = f;
  }
  PQclear(r);
  if ((int)n->n_attachments != rows) return YW_ENOMEM;
  *out = n;
  return 0;
}

/* ---- CreateNote ------------------------------------------------------------------- */

static int validate_note(yw_rpc_call *call, const Note *n) {
  if (n == NULL) return yw_rpc_call_fail(call, YW_EINVAL, "note is required");
  size_t len = strlen(n->text);
  if (len == 0 || len > TEXT_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "note.text must hold 1 to %d bytes", TEXT_MAX);
  if (n->priority != NULL && (n->priority->value < 0 || n->priority->value > 9))
    return yw_rpc_call_fail(call, YW_EINVAL, "note.priority must be between 0 and 9");
  if (strlen(n->item_code) > 64)
    return yw_rpc_call_fail(call, YW_EINVAL, "note.itemCode is longer than 64 bytes");
  for (const char *c = n->item_code; *c != '\0'; c++)
    if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
      return yw_rpc_call_fail(call, YW_EINVAL, "note.itemCode may hold letters, digits, '-', '_', '.'");
  return 0;
}

struct create_work {
  testsvc_ctx *ctx;
  const yw_caller *caller;
};

/* The effect, inside the transaction that holds the idempotency key's claim. */
static int create_tx(yw_rpc_call *call, PGconn *conn, const ProtobufCMessage *reqm,
                     ProtobufCMessage **out, void *arg) {
  const Yiwang__Test__V1__CreateNoteRequest *req = (const void *)reqm;
  struct create_work *w = arg;
  yw_arena *a = yw_rpc_call_arena(call);
  const Note *in = req->note;
  char prio[16];
  if (in->priority != NULL) snprintf(prio, sizeof prio, "%d", in->priority->value);
  const char *p[] = {w->caller->subject, in->text, in->priority != NULL ? prio : NULL,
                     in->item_code};
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(conn,
                       "WITH n AS (INSERT INTO testsvc.notes (owner, text, priority, item_code)"
                       " VALUES ($1, $2, $3::int, $4) RETURNING *)"
                       " SELECT " NOTE_COLS " FROM n",
                       4, p, &r, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  Note *n = note_from_row(a, r, 0);
  PQclear(r);
  if (n == NULL) return YW_ENOMEM;
  n->attachments = NULL;
  Yiwang__Test__V1__NoteCreated ev = YIWANG__TEST__V1__NOTE_CREATED__INIT;
  ev.name = n->name;
  ev.owner = n->owner;
  ev.text = n->text;
  rc = yw_events_append(conn, SCHEMA, "note.created", 1, n->owner, &ev.base, NULL, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  /* and an entry of the resident's feed (yw-feed), in the same transaction */
  Yiwang__Events__V1__FeedEntryAdded fe = YIWANG__EVENTS__V1__FEED_ENTRY_ADDED__INIT;
  fe.subject = n->owner;
  fe.type = "note.created";
  fe.title = "A note was written";
  fe.body = n->text;
  fe.link = n->name;
  rc = yw_events_append(conn, SCHEMA, "feed.entry", 1, n->owner, &fe.base, NULL, &err);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  *out = &n->base;
  return 0;
}

static int create_note(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  const Yiwang__Test__V1__CreateNoteRequest *req = (const void *)reqm;
  testsvc_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  if ((rc = validate_note(call, req->note)) != 0) return rc;
  struct create_work w = {ctx, &caller};
  return yw_idem_run(call, reqm, out, ctx->pool, &ctx->idem, create_tx, &w);
}

/* ---- GetNote, ListNotes, Ping ------------------------------------------------------ */

struct get_work {
  const char *owner;
  char id[24];
  Note *note;
};

static int get_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct get_work *w = arg;
  return load_note(call, conn, w->owner, w->id, &w->note, err);
}

static int get_note(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                    void *data) {
  const Yiwang__Test__V1__GetNoteRequest *req = (const void *)reqm;
  testsvc_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  struct get_work w = {caller.subject, "", NULL};
  if ((rc = parse_name(call, req->name, w.id, sizeof w.id)) != 0) return rc;
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_tx, &w);
  if (rc != 0) return rc;
  *out = &w.note->base;
  return 0;
}

static int list_notes(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                      void *data) {
  const Yiwang__Test__V1__ListNotesRequest *req = (const void *)reqm;
  testsvc_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  if (strlen(req->prefix) > TEXT_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "prefix is longer than %d bytes", TEXT_MAX);
  /* the cursor is the id of a page's last note */
  const char *filters[] = {caller.subject, req->prefix};
  yw_page page;
  rc = yw_page_begin(call, req->page_size, req->page_token, PAGE_DEFAULT, PAGE_MAX, filters, 2,
                     &page);
  if (rc != 0) return rc;
  for (const char *c = page.cursor; *c != '\0'; c++)
    if (!isdigit((unsigned char)*c) || c - page.cursor > 18)
      return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page.size + 1);
  const char *p[] = {caller.subject, req->prefix, page.has_cursor ? page.cursor : "0", limit};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT " NOTE_COLS " FROM testsvc.notes n"
                        " WHERE n.owner = $1 AND starts_with(n.text, $2) AND n.id > $3::bigint"
                        " ORDER BY n.id LIMIT $4::int",
                        4, p, &r);
  if (rc != 0) return rc;
  Yiwang__Test__V1__ListNotesResponse *resp = yw_arena_alloc(a, sizeof *resp);
  int rows = PQntuples(r), n = rows > page.size ? page.size : rows;
  if (resp != NULL) {
    yiwang__test__v1__list_notes_response__init(resp);
    resp->notes = yw_arena_calloc(a, (size_t)n + 1, sizeof *resp->notes);
  }
  for (int i = 0; resp != NULL && resp->notes != NULL && i < n; i++) {
    Note *note = note_from_row(a, r, i);
    if (note == NULL) break;
    resp->notes[resp->n_notes++] = note;
  }
  if (resp != NULL && rows > page.size)
    resp->next_page_token = yw_page_token(a, &page, PQgetvalue(r, n - 1, 0));
  PQclear(r);
  if (resp == NULL || (int)resp->n_notes != n || resp->next_page_token == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

static int ping(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                void *data) {
  (void)reqm;
  testsvc_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_caller(call, &ctx->caller_keys, &caller);
  if (rc != 0) return rc;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Test__V1__PingReply *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__test__v1__ping_reply__init(resp);
  resp->subject = yw_arena_strndup(a, caller.subject, (size_t)-1);
  resp->kind = caller.kind == YW_CALLER_PERSON  ? "person"
               : caller.kind == YW_CALLER_STAFF ? "staff"
                                                : "anonymous";
  if (resp->subject == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}

/* ---- AttachFiles ------------------------------------------------------------------ */

struct attach_work {
  const char *owner;
  char id[24];
  const Yiwang__Test__V1__AttachFilesRequest *req;
  Note *note;
};

static int attach_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct attach_work *w = arg;
  Note *n = NULL;
  int rc = load_note(call, conn, w->owner, w->id, &n, err); /* the owner's, or NOT_FOUND */
  if (rc != 0) return rc;
  for (size_t i = 0; i < w->req->n_files; i++) {
    const FileRef *f = w->req->files[i];
    char size[24];
    snprintf(size, sizeof size, "%lld", (long long)f->size);
    const char *p[] = {w->id, f->sha256, size, f->content_type, f->name};
    rc = yw_pg_query(conn,
                     "INSERT INTO testsvc.note_files (note_id, seq, sha256, size, content_type, name)"
                     " SELECT $1::bigint, COALESCE(max(seq), 0) + 1, $2, $3::bigint, $4, $5"
                     " FROM testsvc.note_files WHERE note_id = $1::bigint",
                     5, p, NULL, err);
    if (rc != 0) return rc;
  }
  return load_note(call, conn, w->owner, w->id, &w->note, err);
}

static int attach_files(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                        void *data) {
  const Yiwang__Test__V1__AttachFilesRequest *req = (const void *)reqm;
  testsvc_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  struct attach_work w = {caller.subject, "", req, NULL};
  if ((rc = parse_name(call, req->name, w.id, sizeof w.id)) != 0) return rc;
  if (req->n_files == 0 || req->n_files > 10)
    return yw_rpc_call_fail(call, YW_EINVAL, "files must hold 1 to 10 references");
  for (size_t i = 0; i < req->n_files; i++) {
    const FileRef *f = req->files[i];
    size_t n = strlen(f->sha256);
    int hex = n == 64;
    for (size_t k = 0; hex && k < n; k++) hex = isxdigit((unsigned char)f->sha256[k]) && !isupper((unsigned char)f->sha256[k]);
    if (!hex || f->size < 0 || strlen(f->name) > 255 || strlen(f->content_type) > 127)
      return yw_rpc_call_fail(call, YW_EINVAL, "files[%zu] is not a file reference", i);
  }
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, attach_tx, &w);
  if (rc != 0) return rc;
  *out = &w.note->base;
  return 0;
}

/* A download of the file sha256 is the owner's of a note it is attached to: OK, or
 * NOT_FOUND (whether it exists is not told). */
static int authorize_file(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  const Yiwang__Test__V1__AuthorizeFileRequest *req = (const void *)reqm;
  testsvc_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  if (strlen(req->sha256) != 64) return yw_rpc_call_fail(call, YW_EINVAL, "sha256 is 64 hex digits");
  const char *p[] = {req->sha256, caller.subject};
  PGresult *r = NULL;
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "SELECT 1 FROM testsvc.note_files f JOIN testsvc.notes n ON n.id = f.note_id"
                        " WHERE f.sha256 = $1 AND n.owner = $2 LIMIT 1",
                        2, p, &r);
  if (rc != 0) return rc;
  int found = PQntuples(r) > 0;
  PQclear(r);
  if (!found) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such file");
  Google__Protobuf__Empty *e = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *e);
  if (e == NULL) return YW_ENOMEM;
  google__protobuf__empty__init(e);
  *out = &e->base;
  return 0;
}

/* ---- GetNoteItem: deferred, calls the catalog ------------------------------------- */

static void item_answered(yw_rpc_call *call, int code, ProtobufCMessage *response,
                          const char *message, void *arg) {
  Yiwang__Test__V1__NoteItem *ni = arg;
  if (code != 0) {
    yw_rpc_call_fail(call, code, "the catalog: %s", message != NULL ? message : "");
    yw_rpc_call_finish(call, code, NULL);
    return;
  }
  const Yiwang__Catalog__V1__Item *item = (const void *)response;
  ni->item_name = item->name;
  yw_rpc_call_finish(call, 0, &ni->base);
}

static int get_note_item(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *data) {
  const Yiwang__Test__V1__GetNoteRequest *req = (const void *)reqm;
  testsvc_ctx *ctx = data;
  yw_arena *a = yw_rpc_call_arena(call);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  struct get_work w = {caller.subject, "", NULL};
  if ((rc = parse_name(call, req->name, w.id, sizeof w.id)) != 0) return rc;
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, get_tx, &w);
  if (rc != 0) return rc;
  Yiwang__Test__V1__NoteItem *ni = yw_arena_alloc(a, sizeof *ni);
  if (ni == NULL) return YW_ENOMEM;
  yiwang__test__v1__note_item__init(ni);
  ni->note = w.note;
  if (w.note->item_code[0] == '\0') { /* nothing to ask */
    *out = &ni->base;
    return 0;
  }
  if (ctx->catalog == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "no catalog is configured");
  Yiwang__Catalog__V1__GetItemRequest *get = yw_arena_alloc(a, sizeof *get);
  if (get == NULL) return YW_ENOMEM;
  yiwang__catalog__v1__get_item_request__init(get);
  get->code = w.note->item_code;
  if ((rc = yw_rpc_call_defer(call)) != 0) return rc;
  rc = yw_rpc_call_forward(call, ctx->catalog, "/yiwang.catalog.v1.CatalogService/GetItem",
                           &get->base, &yiwang__catalog__v1__item__descriptor, item_answered, ni);
  if (rc != 0) { /* done will not run: answer now */
    yw_rpc_call_fail(call, rc, "the catalog could not be called: %s", yw_strerror(rc));
    yw_rpc_call_finish(call, rc, NULL);
  }
  return YW_RPC_DEFERRED;
}

/* ---- WatchNotes: the resident's feed as a stream (lib/yw_live) ------------------ */

/* yw_live's fetch: the owner's feed rows after `after`, sent as NoteEvents. */
static int feed_fetch(void *arg, yw_rpc_stream *st, const char *owner, long long after,
                      long long *last) {
  testsvc_ctx *ctx = arg;
  PGconn *conn = yw_pg_pool_acquire(ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return YW_EUNAVAIL;
  yw_pg_set_deadline(conn, 5000);
  char from[24], limit[16];
  snprintf(from, sizeof from, "%lld", after);
  snprintf(limit, sizeof limit, "%d", FEED_BATCH);
  const char *p[] = {owner, from, limit};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT id, type, note_name, text FROM testsvc.feed"
                       " WHERE owner = $1 AND id > $2::bigint ORDER BY id LIMIT $3::int",
                       3, p, &r, NULL);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return YW_EUNAVAIL;
  int rows = PQntuples(r), sent = 0;
  for (; sent < rows; sent++) {
    Note n = YIWANG__TEST__V1__NOTE__INIT;
    n.name = PQgetvalue(r, sent, 2);
    n.owner = (char *)owner;
    n.text = PQgetvalue(r, sent, 3);
    Yiwang__Test__V1__NoteEvent ev = YIWANG__TEST__V1__NOTE_EVENT__INIT;
    ev.id = PQgetvalue(r, sent, 0);
    ev.type = PQgetvalue(r, sent, 1);
    ev.note = &n;
    if ((rc = yw_rpc_stream_send(st, &ev.base)) != 0) break;
    *last = yw_col_ll(r, sent, 0);
  }
  PQclear(r);
  return rc != 0 ? rc : sent;
}

static int watch_notes(yw_rpc_stream *st, const ProtobufCMessage *reqm, void *data) {
  (void)reqm;
  testsvc_ctx *ctx = data;
  yw_rpc_call *call = yw_rpc_stream_call(st);
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 1, &caller);
  if (rc != 0) return rc;
  long long last = yw_live_last_event_id(st);
  if (last < 0) return yw_rpc_call_fail(call, YW_EINVAL, "Last-Event-ID must be an event id");
  yw_live_subscribe(ctx->live, st, caller.subject, last); /* finishes it on a failure */
  return 0;
}

/* The consumer's handler: the event into the owner's feed, in the transaction that
 * records it as processed (a replay is a no-op). */
static int feed_handle(PGconn *conn, const yw_event *ev, void *arg) {
  testsvc_ctx *ctx = arg;
  if (strcmp(ev->type, "note.created") != 0 || ev->version != 1) return 0; /* not ours */
  ProtobufCMessage *m = NULL;
  if (yw_event_unpack(ev, &yiwang__test__v1__note_created__descriptor, NULL, &m) != 0)
    return YW_EINVAL;
  const Yiwang__Test__V1__NoteCreated *nc = (const void *)m;
  const char *p[] = {nc->owner, ev->type, nc->name, nc->text};
  int rc = yw_pg_query(conn,
                       "INSERT INTO testsvc.feed (owner, type, note_name, text)"
                       " VALUES ($1, $2, $3, $4)",
                       4, p, NULL, NULL);
  if (rc == 0) yw_live_touched_add(&ctx->touched, nc->owner);
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

static void *feed_loop(void *arg) {
  testsvc_ctx *ctx = arg;
  int backoff_ms = 100;
  while (!ctx->stopping) {
    int rc = yw_events_consumer_poll(ctx->consumer);
    /* the events of this round are committed: their streams may go on */
    yw_live_touched_wake(ctx->live, &ctx->touched, 0);
    if (rc < 0) {
      struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
      backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000;
    } else {
      backoff_ms = 100;
    }
  }
  return NULL;
}

int testsvc_feed_start(testsvc_ctx *ctx, const char *consumer) {
  yw_events_consumer_config cfg = {
      .stream = ctx->stream,
      .group = "testsvc-feed",
      .consumer = consumer,
      .schema = SCHEMA,
      .handler = feed_handle,
      .handler_arg = ctx,
      .block_ms = 300,
      .retry_base_ms = 200,
  };
  int rc = yw_events_consumer_new(ctx->pool, ctx->redis, &cfg, &ctx->consumer);
  if (rc != 0) return rc;
  if (ctx->live == NULL && (ctx->live = yw_live_new(feed_fetch, ctx, FEED_BATCH)) == NULL) {
    yw_events_consumer_free(ctx->consumer);
    ctx->consumer = NULL;
    return YW_ENOMEM;
  }
  ctx->stopping = 0;
  if (pthread_create(&ctx->consumer_thread, NULL, feed_loop, ctx) != 0) {
    yw_events_consumer_free(ctx->consumer);
    ctx->consumer = NULL;
    return YW_EINTERNAL;
  }
  ctx->consumer_running = 1;
  return 0;
}

void testsvc_feed_stop(testsvc_ctx *ctx) {
  if (ctx->consumer_running) {
    ctx->stopping = 1;
    pthread_join(ctx->consumer_thread, NULL);
    ctx->consumer_running = 0;
  }
  yw_events_consumer_free(ctx->consumer);
  ctx->consumer = NULL;
  yw_live_free(ctx->live, YW_EUNAVAIL, "the service is stopping");
  ctx->live = NULL;
}

/* ---- the table -------------------------------------------------------------------- */

static const yw_rpc_method methods[] = {
    {.name = "CreateNote", .fn = create_note},
    {.name = "GetNote", .fn = get_note},
    {.name = "ListNotes", .fn = list_notes},
    {.name = "Ping", .fn = ping},
    {.name = "WatchNotes", .stream = watch_notes},
    {.name = "AttachFiles", .fn = attach_files},
    {.name = "GetNoteItem", .fn = get_note_item},
    {.name = "AuthorizeFile", .fn = authorize_file},
};

void testsvc_service_init(yw_rpc_service *svc, testsvc_ctx *ctx) {
  svc->descriptor = &yiwang__test__v1__notes_service__descriptor;
  svc->methods = methods;
  svc->n_methods = sizeof methods / sizeof methods[0];
  svc->data = ctx;
  ctx->idem.schema = SCHEMA;
  ctx->idem.keys = &ctx->caller_keys;
  ctx->idem.response = &yiwang__test__v1__note__descriptor;
  ctx->idem.redis = ctx->redis;
  ctx->idem.db_wait_ms = ctx->db_wait_ms;
}
