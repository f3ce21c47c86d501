/*
 * yw_live.h - live streams of an owner's rows: the server streams open for each owner
 * (a resident's feed, the progress of their applications), each caught up from the
 * service's store after the last row it sent, and woken when new rows commit. No
 * thread is held per stream; rows go out once each and in order per stream.
 *
 * The service gives one fetch function: send, on the stream, the owner's rows after
 * `after` (at most a batch, in order), and say the id of the last one sent. A stream is
 * caught up when it subscribes (from the client's Last-Event-ID) and on every
 * yw_live_wake of its owner, one catch-up at a time per stream; a row committed
 * between the two is found by the next catch-up, so nothing is lost.
 *
 * Whoever learns of new rows (the consumer of an event stream, after its transaction
 * committed; or the handler that wrote them) calls yw_live_wake(owner). Several copies
 * of a service each hold their own streams; each copy's consumer wakes its own.
 */
#ifndef YW_LIVE_H
#define YW_LIVE_H

#include "yw_rpc.h"

typedef struct yw_live yw_live;

/* Sends on st the rows of owner whose id is greater than after, in id order, at most
 * one batch; sets *last to the id of the last row sent (left alone when none). Returns
 * the number of rows sent (fewer than the batch: caught up), or a code (YW_ECANCELED
 * when a send found the stream ended, YW_EUNAVAIL when the store cannot be read). */
typedef int (*yw_live_fetch_fn)(void *arg, yw_rpc_stream *st, const char *owner, long long after,
                                long long *last);

/* batch: the most rows one fetch sends; at most the runtime's queue per stream (256 by
 * default), since a fetch runs only when the stream's queue is empty. A stream with more
 * to send goes on each time its queue drains (on a worker thread of its own), so a
 * backlog reaches a slow reader whole without holding a thread. NULL on ENOMEM. */
yw_live *yw_live_new(yw_live_fetch_fn fetch, void *arg, int batch);

/* Adds st (from a stream handler, which returns 0 after this) for owner, resuming after
 * the row id after (0: from the start), and catches it up. Takes over the handler's
 * reference to st. Returns 0, or a code after which the stream has been finished with it
 * (UNAVAILABLE when the store could not be read). */
int yw_live_subscribe(yw_live *l, yw_rpc_stream *st, const char *owner, long long after);

/* Catches up every stream of owner (NULL: every stream). From any thread; runs the
 * fetches on the calling thread. */
void yw_live_wake(yw_live *l, const char *owner);

/*
 * Several copies: an owner's streams may be open on any copy, but the row that should
 * wake them is learnt by one. yw_live_share makes wakes travel: yw_live_wake_shared wakes
 * this copy's streams and PUBLISHes the owner on channel; a thread of each copy,
 * SUBSCRIBEd to channel on the Redis at addr ("host:port"; of a cluster's seeds, the
 * first: a cluster forwards publishes to every node), wakes that copy's streams of each
 * owner it hears. While Redis is away, wakes stay local and the thread reconnects with
 * back-off; a stream that missed a wake catches up at the next one. pub is the handle
 * PUBLISH goes through. Returns 0, YW_EINVAL or YW_EINTERNAL (no thread).
 */
struct yw_redis;
int yw_live_share(yw_live *l, struct yw_redis *pub, const char *addr, const char *channel);
void yw_live_wake_shared(yw_live *l, const char *owner);

/*
 * The owners a consumer's poll wrote rows for, to wake once that poll's transactions
 * have committed (a wake before the commit would find nothing new). Up to
 * YW_LIVE_TOUCHED_MAX owners are kept; past that, or for an owner name too long to
 * keep, the wake goes to every stream (a catch-up that finds nothing costs one query).
 * Zero-initialised; owned by the consumer's thread.
 */
#define YW_LIVE_TOUCHED_MAX 16
#define YW_LIVE_OWNER_MAX 63 /* bytes of an owner kept by name, without the NUL */
typedef struct yw_live_touched {
  char owners[YW_LIVE_TOUCHED_MAX][YW_LIVE_OWNER_MAX + 1];
  int n;
  int all;
} yw_live_touched;

void yw_live_touched_add(yw_live_touched *t, const char *owner);

/* Wakes the owners t holds (shared: with yw_live_wake_shared, so other copies' streams
 * wake too) and empties t. */
void yw_live_touched_wake(yw_live *l, yw_live_touched *t, int shared);

/* Streams open now. */
int yw_live_count(yw_live *l);

/* Finishes every stream left with code (UNAVAILABLE on a stop: clients reconnect
 * elsewhere) and frees. After the server has shut down (no stream's cancel callback can
 * run any more). Accepts NULL. */
void yw_live_free(yw_live *l, int code, const char *message);

/* Reads a Last-Event-ID (metadata "last-event-id") as a row id: 0 when absent, -1 when
 * it is not a decimal id. */
long long yw_live_last_event_id(yw_rpc_stream *st);

#endif
