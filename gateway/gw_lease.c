/*
 * gw_lease.c - tokens taken ahead from a client's shared bucket (see gw_lease.h).
 *
 * A direct-mapped table: a key's slot is its FNV-1a hash modulo the size. Each slot keeps
 * the full key, so two keys never share tokens.
 */
#include "gw_lease.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
  char key[GW_LEASE_KEY_MAX + 1];
  int tokens;              /* leased, not yet spent */
  int want;                /* the last ask */
  long long granted_at_ms; /* of the last grant */
};

struct gw_lease {
  unsigned mask;
  struct slot *slots;
};

gw_lease *gw_lease_new(unsigned slots) {
  unsigned n = 1;
  while (n < slots && n < (1u << 24)) n <<= 1;
  gw_lease *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->slots = calloc(n, sizeof *t->slots);
  if (t->slots == NULL) {
    free(t);
    return NULL;
  }
  t->mask = n - 1;
  return t;
}

void gw_lease_free(gw_lease *t) {
  if (t == NULL) return;
  free(t->slots);
  free(t);
}

/* key's slot, and whether it holds key now; with claim, a slot holding another key is
 * emptied and given to key (the other's tokens dropped). NULL for a key that is empty or
 * too long to keep. */
static struct slot *find(gw_lease *t, const char *key, int claim, int *mine) {
  uint32_t h = 2166136261u;
  size_t len = 0;
  for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++, len++)
    h = (h ^ *p) * 16777619u;
  *mine = 0;
  if (len == 0 || len > GW_LEASE_KEY_MAX) return NULL;
  struct slot *s = &t->slots[h & t->mask];
  *mine = strcmp(s->key, key) == 0;
  if (claim && !*mine) {
    memset(s, 0, sizeof *s);
    memcpy(s->key, key, len + 1);
    s->want = 1;
  }
  return s;
}

static int fresh(const struct slot *s, long long now_ms) {
  return now_ms - s->granted_at_ms < GW_LEASE_TTL_MS && now_ms >= s->granted_at_ms;
}

int gw_lease_spend(gw_lease *t, const char *key, long long now_ms) {
  if (t == NULL) return 0;
  int mine;
  struct slot *s = find(t, key, 0, &mine);
  if (s == NULL || !mine || s->tokens <= 0 || !fresh(s, now_ms)) return 0;
  s->tokens--;
  return 1;
}

int gw_lease_want(gw_lease *t, const char *key, long long now_ms, int max) {
  if (max < 1) max = 1;
  if (t == NULL) return 1;
  int mine;
  struct slot *s = find(t, key, 1, &mine);
  if (s == NULL) return 1;
  int want = 1;
  if (mine && fresh(s, now_ms) && s->want > 0) want = s->want >= max / 2 ? max : s->want * 2;
  s->want = want;
  return want;
}

void gw_lease_grant(gw_lease *t, const char *key, int granted, long long now_ms) {
  if (t == NULL) return;
  int mine;
  if (granted < 1) return;
  struct slot *s = find(t, key, 1, &mine);
  if (s == NULL) return;
  if (!fresh(s, now_ms)) s->tokens = 0; /* what is left of an old lease lapsed */
  s->tokens += granted - 1;
  s->granted_at_ms = now_ms;
}
