/*
 * gw_cache.h - the shared answer cache of one gateway worker: the 200 answers of public
 * GET routes that answer the same to every caller (a route's cache_ms, gw_route.h),
 * kept for a short time in the worker's memory, so a popular search or guide is
 * answered without a call to its service, as an edge cache does.
 *
 * One cache per worker loop, touched only from that loop: no locks. Bounded by bytes
 * and by entries; the least recently used entry goes first.
 *
 * Stale while revalidating: an answer past its time is kept a while longer (its stale
 * window). The first read that finds it so claims its refresh for a bounded time (the
 * gateway refreshes it in the background and answers the read from the kept answer);
 * while that refresh is out, other reads of the key get the stale answer instead of all
 * calling the service at once (no stampede). The refresh's put
 * replaces the answer; a refresh that fails gives its claim back
 * (gw_cache_refresh_failed). Past the stale window the entry is gone. Times are the caller's milliseconds of a monotonic clock, so a test
 * drives the clock. Pure: no I/O, no gateway state (tests/unit/test_gw_cache.c).
 */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_cache gw_cache;

/* A kept answer, valid until the next put or free of its cache. */
typedef struct gw_cache_hit {
  const char *content_type;
  const uint8_t *body;
  size_t len;
  int64_t age_ms; /* since it was stored */
  uint64_t tag;   /* the put's tag */
} gw_cache_hit;

typedef struct gw_cache_stats {
  uint64_t hits, stale_hits, misses, refreshes, stores, evictions, expired;
  size_t entries, bytes;
} gw_cache_stats;

/* A cache holding at most max_bytes (keys, types and bodies together) in at most
 * max_entries entries. NULL when out of memory or a bound is 0. */
gw_cache *gw_cache_new(size_t max_bytes, size_t max_entries);
void gw_cache_free(gw_cache *c);

enum gw_cache_result {
  GW_CACHE_MISS = 0,  /* not kept (or past its stale window, now dropped): call the service */
  GW_CACHE_FRESH = 1, /* kept and within its time: *hit */
  GW_CACHE_STALE = 2, /* past its time, its refresh is out: *hit, stale */
  GW_CACHE_REFRESH = 3, /* past its time and nobody refreshes it: this read now does (it
                         * holds the claim until refresh_ms from now); *hit is the stale
                         * answer, which the reader may give meanwhile */
};

/* Looks key (key_len bytes) up at now_ms. FRESH, STALE and REFRESH fill *hit. */
enum gw_cache_result gw_cache_get(gw_cache *c, const char *key, size_t key_len, int64_t now_ms,
                                  int64_t refresh_ms, gw_cache_hit *hit);

/* A read that got GW_CACHE_REFRESH did not get a new answer: the next read of key may
 * try again. */
void gw_cache_refresh_failed(gw_cache *c, const char *key, size_t key_len);

/* Keeps an answer under key until now_ms + ttl_ms (and stale for stale_ms more), with
 * the caller's tag (the gateway's: the upstream's write generation), in place of one
 * kept before. An
 * answer larger than an eighth of the cache is not kept. Returns 1 when kept, 0 when
 * not (too large, ttl_ms <= 0, out of memory). */
int gw_cache_put(gw_cache *c, const char *key, size_t key_len, const char *content_type,
                 const void *body, size_t len, int64_t now_ms, int64_t ttl_ms, int64_t stale_ms,
                 uint64_t tag);

void gw_cache_stats_get(const gw_cache *c, gw_cache_stats *out);

#endif
