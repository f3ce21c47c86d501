/*
 * replay.c - ReplayEvents: rebuilding the projection from the applications service's
 * event stream on demand.
 *
 * The projection's handler (progress_handle_event) is idempotent: a step is keyed by its
 * event id, and an application's row takes an event only at or after the outbox position
 * it last applied (yw_event.seq, which a replayed entry carries as the live one did, and
 * a copy a relay published twice too). So replaying the stream through it, outside the live consumer's group and without
 * recording the events as processed, adds whatever is missing (a row lost, an event that
 * was dead-lettered before a fix) and applies each application's newest event again,
 * while lookups go on being served from the rows already there. With `clear`, the rows
 * are emptied first in one transaction: a rebuild from scratch, for a projection whose
 * rows are wrong; lookups of an application (or a bundle filing) answer NOT_FOUND until
 * its events are replayed, and the live consumer goes on applying new events meanwhile
 * (its events land either before the replay reaches them, then the replay applies them
 * again, or after, over the replayed row).
 *
 * A call replays a bounded batch (max_events, at most 20 s or the call's deadline) and
 * answers where it stopped; the caller goes on from there. Every call leaves a row in
 * progress.replays, which the service's role may add to and read, never change.
 *
 * What the stream no longer holds cannot be replayed: yw-applications' relay keeps about
 * the newest million entries (yw_events MAXLEN), so a rebuild from scratch is for a
 * stream that still holds every application's events, and the README says how to check
 * (XINFO STREAM's first entry against the oldest application).
 *
 * Offers: progress_replay_events.
 */
#include <stdio.h>
#include <string.h>

#include "progress.h"
#include "yiwang/progress/v1/progress.pb-c.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

#define DB "the progress database"
#define REPLAY_DEFAULT 1000
#define REPLAY_MAX 10000
#define REPLAY_TIME_MS 20000
#define ENTRY_ID_MAX 40

static int clear_projection(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  (void)call;
  (void)arg;
  int rc = yw_pg_query_write(conn, "DELETE FROM progress.steps", 0, NULL, NULL, err);
  if (rc == 0) rc = yw_pg_query_write(conn, "DELETE FROM progress.applications", 0, NULL, NULL, err);
  if (rc == 0) rc = yw_pg_query_write(conn, "DELETE FROM progress.bundles", 0, NULL, NULL, err);
  return rc;
}

static int entry_id_ok(const char *s) {
  size_t n = strlen(s);
  if (n > ENTRY_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return 0;
  return 1;
}

int progress_replay_events(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data) {
  const Yiwang__Progress__V1__ReplayEventsRequest *req = (const void *)reqm;
  progress_ctx *ctx = data;
  yw_caller caller;
  int rc = yw_service_require_staff(call, &ctx->caller_keys, "platform_admin",
                                    "replaying the event stream", &caller);
  if (rc != 0) return rc;
  if (!entry_id_ok(req->after_entry_id))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "afterEntryId must be a stream entry id (\"1700000000000-0\") or \"\"");
  if (req->max_events < 0 || req->max_events > REPLAY_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "maxEvents must be from 0 to %d", REPLAY_MAX);
  if (req->clear && req->after_entry_id[0] != '\0')
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "clear rebuilds from the stream's start: afterEntryId must be \"\"");
  if (ctx->redis == NULL || ctx->stream == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the event stream is not reachable");
  int64_t left = yw_rpc_call_ms_left(call) - 500; /* room to record the call and answer */
  if (left < 100) return yw_rpc_call_fail(call, YW_ETIMEOUT, "too little time left to replay");
  int timeout = left < REPLAY_TIME_MS ? (int)left : REPLAY_TIME_MS;

  if (req->clear) {
    rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, DB, clear_projection, NULL);
    if (rc != 0) return rc;
  }
  yw_events_replay_result res;
  int max = req->max_events > 0 ? req->max_events : REPLAY_DEFAULT;
  int rrc = yw_events_replay(ctx->pool, ctx->redis, ctx->stream, req->after_entry_id, max, timeout,
                             progress_handle_event, ctx, progress_after_commit, ctx, &res);
  char stopped[300] = "";
  if (rrc != 0)
    snprintf(stopped, sizeof stopped, "stopped after entry %s: %s", res.last_id, yw_strerror(rrc));
  else if (!res.done && res.replayed + res.skipped < max)
    snprintf(stopped, sizeof stopped, "time ran out after entry %s", res.last_id);

  /* the record of the call, whatever came of it */
  char replayed[16], skipped[16];
  snprintf(replayed, sizeof replayed, "%d", res.replayed);
  snprintf(skipped, sizeof skipped, "%d", res.skipped);
  const char *p[] = {caller.subject,   req->clear ? "true" : "false",
                     req->after_entry_id, res.last_id,
                     replayed,         skipped,
                     res.done ? "true" : "false", stopped};
  rc = yw_service_query(call, ctx->pool, ctx->db_wait_ms, DB,
                        "INSERT INTO progress.replays (actor_subject, cleared, from_entry, to_entry,"
                        " replayed, skipped, done, stopped)"
                        " VALUES ($1, $2::boolean, $3, $4, $5::int, $6::int, $7::boolean, $8)",
                        8, p, NULL);
  if (rc != 0) return rc;
  yw_log(YW_LOG_INFO, "progress.replayed", yw_rpc_call_request_id(call),
         "%s replayed %d events (%d skipped) after %s up to %s%s%s", caller.subject, res.replayed,
         res.skipped, req->after_entry_id[0] != '\0' ? req->after_entry_id : "the start",
         res.last_id, stopped[0] != '\0' ? ": " : "", stopped);
  if (rrc != 0 && res.replayed == 0 && res.skipped == 0)
    return yw_rpc_call_fail(call, rrc == YW_ETIMEOUT ? YW_ETIMEOUT : YW_EUNAVAIL, "%s", stopped);

  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Progress__V1__ReplayEventsResponse *resp = yw_arena_alloc(a, sizeof *resp);
  if (resp == NULL) return YW_ENOMEM;
  yiwang__progress__v1__replay_events_response__init(resp);
  resp->replayed = res.replayed;
  resp->skipped = res.skipped;
  resp->done = res.done;
  resp->last_entry_id = yw_arena_strndup(a, res.last_id, strlen(res.last_id));
  resp->stopped = yw_arena_strndup(a, stopped, strlen(stopped));
  if (resp->last_entry_id == NULL || resp->stopped == NULL) return YW_ENOMEM;
  *out = &resp->base;
  return 0;
}
