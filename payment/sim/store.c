/*
 * store.c - the simulator's memory: string-keyed hash tables of orders and refunds,
 * ids.
 *
 * The tables are open addressing with linear probing, grown at half full; values are
 * never removed (the simulator forgets only by restarting), so no tombstones.
 *
 * Offers: sim_map_get, sim_map_put, sim_now, sim_new_id, sim_valid_no, sim_state_name, sim_order_new, sim_refund_new,
 * sim_extra_add, sim_chan_init.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

void *sim_map_get(const sim_map *m, const char *key) {
  if (m->cap == 0) return NULL;
  size_t i = hash_str(key) & (m->cap - 1);
  while (m->slots[i] != NULL) {
    if (strcmp(m->key_of(m->slots[i]), key) == 0) return m->slots[i];
    i = (i + 1) & (m->cap - 1);
  }
  return NULL;
}

static void put_slot(void **slots, size_t cap, const char *key, void *value) {
  size_t i = hash_str(key) & (cap - 1);
  while (slots[i] != NULL) i = (i + 1) & (cap - 1);
  slots[i] = value;
}

int sim_map_put(sim_map *m, void *value) {
  if ((m->len + 1) * 2 > m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    void **ns = calloc(ncap, sizeof *ns);
    if (ns == NULL) return -1;
    for (size_t i = 0; i < m->cap; i++)
      if (m->slots[i] != NULL) put_slot(ns, ncap, m->key_of(m->slots[i]), m->slots[i]);
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
  }
  put_slot(m->slots, m->cap, m->key_of(value), value);
  m->len++;
  return 0;
}

static const char *order_key(const void *v) { return ((const sim_order *)v)->out_trade_no; }
static const char *refund_key(const void *v) { return ((const sim_refund *)v)->out_refund_no; }

void sim_chan_init(sim_chan *c) {
  c->orders.key_of = order_key;
  c->refunds.key_of = refund_key;
}

int64_t sim_now(void) { return (int64_t)time(NULL); }

void sim_new_id(sim *s, sim_chan *c, const char *prefix, char out[SIM_ID_MAX]) {
  c->seq++;
  snprintf(out, SIM_ID_MAX, "%s%d%010" PRId64 "%012" PRIu64, prefix, c->sm2 ? 2 : 1,
           s->start_unix, c->seq);
}

int sim_valid_no(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    char ch = s[n];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-'))
      return 0;
  }
  return n >= 6 && n < SIM_NO_MAX;
}

const char *sim_state_name(enum sim_state st) {
  switch (st) {
    case SIM_NOTPAY: return "NOTPAY";
    case SIM_SUCCESS: return "SUCCESS";
    case SIM_CLOSED: return "CLOSED";
    case SIM_REFUND: return "REFUND";
    case SIM_PAYERROR: return "PAYERROR";
  }
  return "NOTPAY";
}

sim_order *sim_order_new(sim_chan *c, const char *no) {
  sim_order *o = calloc(1, sizeof *o);
  if (o == NULL) return NULL;
  snprintf(o->out_trade_no, sizeof o->out_trade_no, "%s", no);
  if (sim_map_put(&c->orders, o) != 0) {
    free(o);
    return NULL;
  }
  return o;
}

sim_refund *sim_refund_new(sim_chan *c, const char *no) {
  sim_refund *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  snprintf(r->out_refund_no, sizeof r->out_refund_no, "%s", no);
  if (sim_map_put(&c->refunds, r) != 0) {
    free(r);
    return NULL;
  }
  return r;
}

int sim_extra_add(sim_chan *c, const sim_extra *e) {
  if (c->nextras == c->extras_cap) {
    size_t ncap = c->extras_cap ? c->extras_cap * 2 : 16;
    sim_extra *ne = realloc(c->extras, ncap * sizeof *ne);
    if (ne == NULL) return -1;
    c->extras = ne;
    c->extras_cap = ncap;
  }
  c->extras[c->nextras++] = *e;
  return 0;
}
