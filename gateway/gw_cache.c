/*
 * gw_cache.c - a worker's answer cache: a chained hash table of entries and one list of
 * them in order of use (most recent first). Each entry is one allocation: the entry,
 * then its key, content type and body.
 *
 * Offers: gw_cache_new, gw_cache_free, gw_cache_get, gw_cache_put, gw_cache_stats_get.
 */
#include "gw_cache.h"

#include <stdlib.h>
#include <string.h>

struct entry {
  struct entry *chain;            /* the next entry of its bucket */
  struct entry *newer, *older;    /* the list in order of use */
  uint64_t hash;
  size_t key_len, len, size;      /* size: the whole allocation, what counts against bytes */
  int64_t stored_ms, expires_ms, stale_until_ms;
  int64_t refresh_until_ms;       /* a read refreshes it until then; 0: nobody */
  uint64_t tag;
  const char *content_type;       /* inside the allocation, after the key */
  const uint8_t *body;            /* inside the allocation, after the type */
  char key[];
};

struct gw_cache {
  struct entry **buckets;
  size_t n_buckets;               /* a power of two */
  struct entry *newest, *oldest;
  size_t max_bytes, max_entries;
  gw_cache_stats st;
};

/* FNV-1a, 64 bits: keys are paths the client chose, and a bucket's chain is bounded by
 * the entries, so a poor spread costs only time within the bound. */
static uint64_t hash_of(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

gw_cache *gw_cache_new(size_t max_bytes, size_t max_entries) {
  if (max_bytes == 0 || max_entries == 0) return NULL;
  gw_cache *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  size_t n = 16;
  while (n < max_entries && n < ((size_t)1 << 24)) n <<= 1;
  c->buckets = calloc(n, sizeof *c->buckets);
  if (c->buckets == NULL) {
    free(c);
    return NULL;
  }
  c->n_buckets = n;
  c->max_bytes = max_bytes;
  c->max_entries = max_entries;
  return c;
}

void gw_cache_free(gw_cache *c) {
  if (c == NULL) return;
  for (struct entry *e = c->newest, *next; e != NULL; e = next) {
    next = e->older;
    free(e);
  }
  free(c->buckets);
  free(c);
}

static void unlink_use(gw_cache *c, struct entry *e) {
  if (e->newer != NULL) e->newer->older = e->older;
  else c->newest = e->older;
  if (e->older != NULL) e->older->newer = e->newer;
  else c->oldest = e->newer;
  e->newer = e->older = NULL;
}

static void push_newest(gw_cache *c, struct entry *e) {
  e->newer = NULL;
  e->older = c->newest;
  if (c->newest != NULL) c->newest->newer = e;
  c->newest = e;
  if (c->oldest == NULL) c->oldest = e;
}

static struct entry **slot_of(gw_cache *c, const char *key, size_t key_len, uint64_t h) {
  struct entry **p = &c->buckets[h & (c->n_buckets - 1)];
  while (*p != NULL &&
         !((*p)->hash == h && (*p)->key_len == key_len && memcmp((*p)->key, key, key_len) == 0))
    p = &(*p)->chain;
  return p;
}

static void drop(gw_cache *c, struct entry *e) {
  struct entry **p = slot_of(c, e->key, e->key_len, e->hash);
  if (*p == e) *p = e->chain;
  unlink_use(c, e);
  c->st.entries--;
  c->st.bytes -= e->size;
  free(e);
}

enum gw_cache_result gw_cache_get(gw_cache *c, const char *key, size_t key_len, int64_t now_ms,
                                  int64_t refresh_ms, gw_cache_hit *hit) {
  struct entry *e = *slot_of(c, key, key_len, hash_of(key, key_len));
  if (e != NULL && now_ms >= e->stale_until_ms) {
    drop(c, e);
    c->st.expired++;
    e = NULL;
  }
  if (e == NULL) {
    c->st.misses++;
    return GW_CACHE_MISS;
  }
  enum gw_cache_result res = GW_CACHE_FRESH;
  if (now_ms >= e->expires_ms) {
    if (e->refresh_until_ms == 0 || now_ms >= e->refresh_until_ms) {
      e->refresh_until_ms = now_ms + (refresh_ms > 0 ? refresh_ms : 1);
      c->st.refreshes++;
      res = GW_CACHE_REFRESH;
    } else {
      res = GW_CACHE_STALE;
    }
  }
  unlink_use(c, e);
  push_newest(c, e);
  hit->content_type = e->content_type;
  hit->body = e->body;
  hit->len = e->len;
  hit->age_ms = now_ms - e->stored_ms;
  hit->tag = e->tag;
  if (res == GW_CACHE_STALE) c->st.stale_hits++;
  else if (res == GW_CACHE_FRESH) c->st.hits++;
  return res;
}

void gw_cache_refresh_failed(gw_cache *c, const char *key, size_t key_len) {
  struct entry *e = *slot_of(c, key, key_len, hash_of(key, key_len));
  if (e != NULL) e->refresh_until_ms = 0;
}

int gw_cache_put(gw_cache *c, const char *key, size_t key_len, const char *content_type,
                 const void *body, size_t len, int64_t now_ms, int64_t ttl_ms, int64_t stale_ms,
                 uint64_t tag) {
  if (content_type == NULL) content_type = "";
  size_t tlen = strlen(content_type);
  size_t size = sizeof(struct entry) + key_len + 1 + tlen + 1 + len;
  if (ttl_ms <= 0 || size > c->max_bytes / 8) return 0;
  uint64_t h = hash_of(key, key_len);
  struct entry *old = *slot_of(c, key, key_len, h);
  if (old != NULL) drop(c, old);
  while (c->oldest != NULL &&
         (c->st.bytes + size > c->max_bytes || c->st.entries + 1 > c->max_entries)) {
    drop(c, c->oldest);
    c->st.evictions++;
  }
  struct entry *e = malloc(size);
  if (e == NULL) return 0;
  memset(e, 0, sizeof *e);
  e->hash = h;
  e->key_len = key_len;
  e->len = len;
  e->size = size;
  e->stored_ms = now_ms;
  e->expires_ms = now_ms + ttl_ms;
  e->stale_until_ms = e->expires_ms + (stale_ms > 0 ? stale_ms : 0);
  e->tag = tag;
  memcpy(e->key, key, key_len);
  e->key[key_len] = '\0';
  char *type = e->key + key_len + 1;
  memcpy(type, content_type, tlen + 1);
  e->content_type = type;
  uint8_t *b = (uint8_t *)type + tlen + 1;
  if (len > 0) memcpy(b, body, len);
  e->body = b;
  struct entry **p = slot_of(c, key, key_len, h);
  e->chain = *p;
  *p = e;
  push_newest(c, e);
  c->st.entries++;
  c->st.bytes += size;
  c->st.stores++;
  return 1;
}

void gw_cache_stats_get(const gw_cache *c, gw_cache_stats *out) { *out = c->st; }
