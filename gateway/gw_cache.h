/*
 * gw_cache.h - the shared answer cache of one gateway worker: the 200 answers of public
 * GET routes that answer the same to every caller (a route's cache_ms, gw_route.h),
 * kept for a short time in the worker's memory, so a popular search or guide is
 * answered without a call to its service, as an edge cache does.
 *
 * One cache per worker loop, touched only from that loop: no locks. Bounded by bytes
 * and by entries; the least recently used entry goes first, an expired one as soon as
 * it is seen. Times are the caller's milliseconds of a monotonic clock, so a test
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
  uint64_t hits, misses, stores, evictions, expired;
  size_t entries, bytes;
} gw_cache_stats;

/* A cache holding at most max_bytes (keys, types and bodies together) in at most
 * max_entries entries. NULL when out of memory or a bound is 0. */
gw_cache *gw_cache_new(size_t max_bytes, size_t max_entries);
void gw_cache_free(gw_cache *c);

/* The answer kept under key (len bytes) and not expired at now_ms: 1 and *hit filled,
 * else 0 (an expired entry is dropped). */
int gw_cache_get(gw_cache *c, const char *key, size_t key_len, int64_t now_ms, gw_cache_hit *hit);

/* Keeps an answer under key until now_ms + ttl_ms, with the caller's tag (the gateway's:
 * the upstream's write generation), in place of one kept before. An
 * answer larger than an eighth of the cache is not kept. Returns 1 when kept, 0 when
 * not (too large, ttl_ms <= 0, out of memory). */
int gw_cache_put(gw_cache *c, const char *key, size_t key_len, const char *content_type,
                 const void *body, size_t len, int64_t now_ms, int64_t ttl_ms, uint64_t tag);

void gw_cache_stats_get(const gw_cache *c, gw_cache_stats *out);

#endif
