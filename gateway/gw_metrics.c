/*
 * gw_metrics.c - counters and histograms in memory, rendered in the Prometheus text
 * format on /metrics.
 *
 * Request counts and latencies are kept per thread (a shard each, for up to 64 threads;
 * more share shards): a worker's observation takes only its own shard's lock, which no
 * other worker contends for, and /metrics, read rarely, adds the shards up. The rare
 * counters (upstream errors, connections) share one mutex; the answer cache's hits and
 * misses are two atomic counters.
 *
 * Offers: gw_metrics_init, gw_metrics_free, gw_metrics_observe,
 * gw_metrics_upstream_error, gw_metrics_connections, gw_metrics_cache, gw_metrics_file_release,
 * gw_metrics_render.
 */
#include "gw_metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

#define MAX_STATUSES 12
#define MAX_UPSTREAM_ERRORS 32

static const double bucket_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   5, 10};
#define NBUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

struct slot {
  const char *label;
  struct {
    int status;
    unsigned long long count;
  } statuses[MAX_STATUSES];
  unsigned long long buckets[NBUCKETS + 1];
  unsigned long long count;
  double sum;
};

#define NSHARDS 64

struct shard {
  pthread_mutex_t mu;
  struct slot *slots;
} __attribute__((aligned(64)));

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct shard shards[NSHARDS];
static const char *const *slot_labels;
static size_t nslots;
static _Atomic unsigned next_shard;
static _Thread_local int my_shard = -1;
static struct {
  char upstream[32];
  char status[24];
  unsigned long long count;
} upstream_errors[MAX_UPSTREAM_ERRORS];
static long open_connections;
static unsigned long long connections_total;
static atomic_ullong cache_hits, cache_misses; /* the answer cache's (gw_cache.h) */
static atomic_ullong releases_ok, releases_failed; /* refused uploads' files (gw_upload.c) */

int gw_metrics_init(const char *const *labels, size_t n) {
  for (size_t k = 0; k < NSHARDS; k++) {
    shards[k].slots = calloc(n > 0 ? n : 1, sizeof *shards[k].slots);
    if (shards[k].slots == NULL) {
      gw_metrics_free();
      return YW_ENOMEM;
    }
    pthread_mutex_init(&shards[k].mu, NULL);
  }
  slot_labels = labels;
  nslots = n;
  return 0;
}

void gw_metrics_free(void) {
  for (size_t k = 0; k < NSHARDS; k++) {
    if (shards[k].slots == NULL) continue;
    free(shards[k].slots);
    shards[k].slots = NULL;
    pthread_mutex_destroy(&shards[k].mu);
  }
  nslots = 0;
}

void gw_metrics_observe(size_t i, int status, double seconds) {
  if (i >= nslots) return;
  if (my_shard < 0) my_shard = (int)(next_shard++ % NSHARDS);
  struct shard *sh = &shards[my_shard];
  pthread_mutex_lock(&sh->mu);
  struct slot *s = &sh->slots[i];
  for (size_t k = 0; k < MAX_STATUSES; k++) {
    if (s->statuses[k].status == status || s->statuses[k].status == 0) {
      s->statuses[k].status = status;
      s->statuses[k].count++;
      break;
    }
  }
  size_t b = 0;
  while (b < NBUCKETS && seconds > bucket_bounds[b]) b++;
  s->buckets[b]++;
  s->count++;
  s->sum += seconds;
  pthread_mutex_unlock(&sh->mu);
}

/* Adds every shard's slot i into *out (statuses merged by value). */
static void sum_slot(size_t i, struct slot *out) {
  memset(out, 0, sizeof *out);
  out->label = slot_labels[i];
  for (size_t k = 0; k < NSHARDS; k++) {
    pthread_mutex_lock(&shards[k].mu);
    const struct slot *s = &shards[k].slots[i];
    for (size_t st = 0; st < MAX_STATUSES && s->statuses[st].status != 0; st++) {
      for (size_t m = 0; m < MAX_STATUSES; m++) {
        if (out->statuses[m].status == s->statuses[st].status || out->statuses[m].status == 0) {
          out->statuses[m].status = s->statuses[st].status;
          out->statuses[m].count += s->statuses[st].count;
          break;
        }
      }
    }
    for (size_t b = 0; b <= NBUCKETS; b++) out->buckets[b] += s->buckets[b];
    out->count += s->count;
    out->sum += s->sum;
    pthread_mutex_unlock(&shards[k].mu);
  }
}

void gw_metrics_upstream_error(const char *upstream, const char *status_name) {
  pthread_mutex_lock(&mu);
  for (size_t k = 0; k < MAX_UPSTREAM_ERRORS; k++) {
    if (upstream_errors[k].count == 0) {
      snprintf(upstream_errors[k].upstream, sizeof upstream_errors[k].upstream, "%s", upstream);
      snprintf(upstream_errors[k].status, sizeof upstream_errors[k].status, "%s", status_name);
    }
    if (strcmp(upstream_errors[k].upstream, upstream) == 0 &&
        strcmp(upstream_errors[k].status, status_name) == 0) {
      upstream_errors[k].count++;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
}

void gw_metrics_cache(int hit) {
  atomic_fetch_add_explicit(hit ? &cache_hits : &cache_misses, 1, memory_order_relaxed);
}

void gw_metrics_file_release(int ok) {
  atomic_fetch_add_explicit(ok ? &releases_ok : &releases_failed, 1, memory_order_relaxed);
}

void gw_metrics_connections(int delta) {
  pthread_mutex_lock(&mu);
  open_connections += delta;
  if (delta > 0) connections_total += (unsigned long long)delta;
  pthread_mutex_unlock(&mu);
}

struct out {
  char *buf;
  size_t len, cap;
  int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...) {
  if (o->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->failed = 1;
      return;
    }
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    size_t cap = o->cap * 2 + (size_t)n;
    char *nb = realloc(o->buf, cap);
    if (nb == NULL) {
      o->failed = 1;
      return;
    }
    o->buf = nb;
    o->cap = cap;
  }
}

char *gw_metrics_render(size_t *len) {
  struct out o = {malloc(8192), 0, 8192, 0};
  struct slot *slots = calloc(nslots > 0 ? nslots : 1, sizeof *slots);
  if (o.buf == NULL || slots == NULL) {
    free(o.buf);
    free(slots);
    return NULL;
  }
  for (size_t i = 0; i < nslots; i++) sum_slot(i, &slots[i]);
  pthread_mutex_lock(&mu);
  put(&o, "# HELP yw_gateway_requests_total Requests answered, by route and HTTP status.\n"
          "# TYPE yw_gateway_requests_total counter\n");
  for (size_t i = 0; i < nslots; i++)
    for (size_t k = 0; k < MAX_STATUSES && slots[i].statuses[k].status != 0; k++)
      put(&o, "yw_gateway_requests_total{route=\"%s\",status=\"%d\"} %llu\n", slots[i].label,
          slots[i].statuses[k].status, slots[i].statuses[k].count);
  put(&o, "# HELP yw_gateway_request_duration_seconds Time from request to answer, by route.\n"
          "# TYPE yw_gateway_request_duration_seconds histogram\n");
  for (size_t i = 0; i < nslots; i++) {
    if (slots[i].count == 0) continue;
    unsigned long long cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
      cum += slots[i].buckets[b];
      put(&o, "yw_gateway_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
          slots[i].label, bucket_bounds[b], cum);
    }
    put(&o, "yw_gateway_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
        slots[i].label, slots[i].count);
    put(&o, "yw_gateway_request_duration_seconds_sum{route=\"%s\"} %.6f\n", slots[i].label,
        slots[i].sum);
    put(&o, "yw_gateway_request_duration_seconds_count{route=\"%s\"} %llu\n", slots[i].label,
        slots[i].count);
  }
  put(&o, "# HELP yw_gateway_upstream_errors_total Failed upstream calls, by upstream and status.\n"
          "# TYPE yw_gateway_upstream_errors_total counter\n");
  for (size_t k = 0; k < MAX_UPSTREAM_ERRORS && upstream_errors[k].count != 0; k++)
    put(&o, "yw_gateway_upstream_errors_total{upstream=\"%s\",status=\"%s\"} %llu\n",
        upstream_errors[k].upstream, upstream_errors[k].status, upstream_errors[k].count);
  put(&o, "# HELP yw_gateway_open_connections Client connections open now.\n"
          "# TYPE yw_gateway_open_connections gauge\n"
          "yw_gateway_open_connections %ld\n"
          "# HELP yw_gateway_connections_total Client connections accepted.\n"
          "# TYPE yw_gateway_connections_total counter\n"
          "yw_gateway_connections_total %llu\n"
          "# HELP yw_gateway_cache_requests_total Reads of kept routes, answered from the "
          "answer cache (hit) or by their service (miss).\n"
          "# TYPE yw_gateway_cache_requests_total counter\n"
          "yw_gateway_cache_requests_total{result=\"hit\"} %llu\n"
          "yw_gateway_cache_requests_total{result=\"miss\"} %llu\n"
          "# HELP yw_gateway_file_releases_total Releases of the files of uploads whose "
          "service refused them: done, or failed (the files stay stored).\n"
          "# TYPE yw_gateway_file_releases_total counter\n"
          "yw_gateway_file_releases_total{result=\"ok\"} %llu\n"
          "yw_gateway_file_releases_total{result=\"failed\"} %llu\n",
      open_connections, connections_total, (unsigned long long)atomic_load(&cache_hits),
      (unsigned long long)atomic_load(&cache_misses),
      (unsigned long long)atomic_load(&releases_ok),
      (unsigned long long)atomic_load(&releases_failed));
  pthread_mutex_unlock(&mu);
  free(slots);
  if (o.failed) {
    free(o.buf);
    return NULL;
  }
  *len = o.len;
  return o.buf;
}
