/*
 * gw_limits.c - the process's token buckets for when Redis cannot be asked (see
 * gw_limits.h).
 *
 * A key hashes (FNV-1a) to a shard (the hash's top bits) and a home slot in it (the low
 * bits); it lives in one of the PROBE slots from its home on. Lookups compare full keys
 * across the whole window, so there are no tombstones and no chains: a slot is only ever
 * overwritten, never emptied.
 *
 * Offers: gw_limits_new, gw_limits_free, gw_limits_take, gw_limits_evictions.
 */
#include "gw_limits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)
#define PROBE 8

struct entry {
  char key[GW_LIMITS_KEY_MAX + 1]; /* "" when never used */
  double tokens;
  long long ts_ms;
  long long full_ms; /* when the bucket will be full again: from then on, as if absent */
};

struct shard {
  pthread_mutex_t mu;
  struct entry *slots;
};

struct gw_limits {
  struct shard shards[SHARDS];
  size_t per_shard; /* a power of two */
  atomic_ullong evictions;
};

int gw_limits_new(size_t capacity, gw_limits **out) {
  *out = NULL;
  size_t per = 1024 / SHARDS;
  while (per * SHARDS < capacity) per *= 2;
  gw_limits *t = calloc(1, sizeof *t);
  if (t == NULL) return YW_ENOMEM;
  t->per_shard = per;
  atomic_init(&t->evictions, 0);
  for (size_t i = 0; i < SHARDS; i++) {
    t->shards[i].slots = calloc(per, sizeof(struct entry));
    pthread_mutex_init(&t->shards[i].mu, NULL);
    if (t->shards[i].slots == NULL) {
      gw_limits_free(t);
      return YW_ENOMEM;
    }
  }
  *out = t;
  return 0;
}

void gw_limits_free(gw_limits *t) {
  if (t == NULL) return;
  for (size_t i = 0; i < SHARDS; i++) {
    free(t->shards[i].slots);
    pthread_mutex_destroy(&t->shards[i].mu);
  }
  free(t);
}

unsigned long long gw_limits_evictions(const gw_limits *t) {
  return t != NULL ? atomic_load(&((gw_limits *)t)->evictions) : 0;
}

int gw_limits_take(gw_limits *t, const char *key, double rate, double burst, long long now_ms,
                   long *wait_ms) {
  *wait_ms = 0;
  size_t klen = key != NULL ? strlen(key) : 0;
  if (t == NULL || klen == 0 || klen > GW_LIMITS_KEY_MAX || !(rate > 0) || !(burst > 0))
    return YW_EINVAL;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < klen; i++) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211ULL;
  }
  /* FNV leaves its top bits, which pick the shard, nearly blind to the last bytes, where
   * addresses differ: a finaliser (MurmurHash3's) spreads every bit over all of them */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  struct shard *s = &t->shards[h >> (64 - SHARD_BITS)];
  size_t mask = t->per_shard - 1, home = (size_t)h & mask;

  pthread_mutex_lock(&s->mu);
  struct entry *e = NULL, *victim = NULL;
  for (size_t i = 0; i < PROBE && e == NULL; i++) {
    struct entry *c = &s->slots[(home + i) & mask];
    if (strcmp(c->key, key) == 0)
      e = c;
    else if (victim == NULL || c->full_ms < victim->full_ms)
      victim = c; /* unused: 0 */
  }
  if (e == NULL) {
    if (victim->key[0] != '\0' && victim->full_ms > now_ms) atomic_fetch_add(&t->evictions, 1);
    e = victim;
    memcpy(e->key, key, klen + 1);
    e->tokens = burst;
    e->ts_ms = now_ms;
  }
  double elapsed = now_ms > e->ts_ms ? (double)(now_ms - e->ts_ms) : 0;
  e->tokens += elapsed * rate / 1000.0;
  if (e->tokens > burst) e->tokens = burst;
  if (now_ms > e->ts_ms) e->ts_ms = now_ms;
  if (e->tokens >= 1) {
    e->tokens -= 1;
  } else {
    *wait_ms = (long)((1 - e->tokens) * 1000.0 / rate) + 1;
  }
  e->full_ms = e->ts_ms + (long long)((burst - e->tokens) * 1000.0 / rate) + 1;
  pthread_mutex_unlock(&s->mu);
  return 0;
}
