/*
 * gw_redis.c - the workers' Redis links (see gw_redis.h for the contract).
 *
 * hiredis 0.14 (Debian 12) has no timeouts for asynchronous contexts, so they are ours:
 * a libevent timer per command in flight, and one per link for connecting. When a timer
 * fires the context is freed, which makes hiredis answer every command still in flight
 * with NULL, each exactly once, and never later.
 *
 * Who frees a context: hiredis itself after a failed connect or a lost connection (it
 * tells us through the connect or disconnect callback, or a NULL reply); we, through
 * link_down(..., 1), after a timeout or a wrong answer to the probe. hiredis defers a
 * free asked for inside one of its reply callbacks until the callback returns, so
 * link_down may run there too.
 *
 * One stall is every link's stall when they all talk to the same Redis, so the first
 * link whose command times out notes the time (trip_ms); every other link that has been
 * up since before then goes down at its next command instead of waiting out a timeout
 * of its own. In a cluster the same holds per node (a trip time per master address,
 * shared by the workers).
 *
 * Link states: DOWN (a back-off timer will reconnect), PROBING (connecting, a PING
 * queued; the timer bounds connect and answer together), UP. The failure count that
 * sets the back-off is forgotten only after UP_STABLE_MS of health, so a Redis that
 * answers a PING but stalls under load backs off further each time instead of
 * flapping.
 *
 * Cluster. Each worker has its seed link (links[0]: the only link with a single Redis,
 * to the configured addresses in turn) and, in a cluster, a link per master. Until the
 * process knows which it talks to, the seed link's probe sends CLUSTER SLOTS after its
 * PING: an error saying cluster support is disabled settles "single" for the process,
 * and from then on probes are a PING alone, exactly as before clusters; an array
 * settles "cluster" and is the worker's slot map. Then each command goes to the link of
 * its key's slot (yw_redis_slot.h), refused at once when that link is not up, like the
 * single link's breaker. The command is kept formatted until answered, so a -MOVED
 * (the map updated for that slot) or -ASK (ASKING, then the command, pipelined on the
 * target's link) sends it again on the link of the node named, at most MAX_HOPS times,
 * under the timer it was given when first sent: a redirection never extends a caller's
 * wait. A target link that is not up answers the caller with the redirection itself
 * (an error reply: the caller's fallback). The map is asked again (CLUSTER SLOTS on any
 * link that is up, at most every REFRESH_EVERY_MS a worker) after a MOVED, when a
 * node's link goes down, and when a slot has no known master. Node addresses are the
 * numeric ones CLUSTER SLOTS gives, so connecting never resolves a name on a loop.
 * Links are never freed before the worker's gw_redis; one whose node no longer serves a
 * slot is not reconnected.
 *
 * Offers: gw_redis_start, gw_redis_stop, gw_redis_new, gw_redis_free, gw_redis_command,
 * gw_redis_up.
 */
#include "gw_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "yw_err.h"
#include "yw_log.h"
#include "yw_redis_slot.h"

#define BACKOFF_BASE_MS 100
#define UP_STABLE_MS 5000
#define MAX_IN_FLIGHT 8192    /* per link; past it Redis is too slow to wait for anyway */
#define MAX_ADDRS 4           /* per configured host name */
#define RESOLVE_EVERY_MS 1000 /* at most one lookup a second, however many links fail */
#define REFRESH_EVERY_MS 100  /* at most one CLUSTER SLOTS a worker in that time */
#define MAX_HOPS 5            /* redirections followed for one command (MOVED and ASK): a slot's
                                 * move reaches the nodes one after another */
#define MAX_LINKS (1 + YW_REDIS_MAX_NODES)

enum link_state { LINK_DOWN, LINK_PROBING, LINK_UP };
enum mode { MODE_UNKNOWN, MODE_SINGLE, MODE_CLUSTER };

/* One connection to one Redis node. */
struct link {
  gw_redis *r;
  int seed;                  /* links[0]: to the configured addresses in turn */
  char ip[INET6_ADDRSTRLEN]; /* the node's (seed: of the current attempt) */
  int port;
  atomic_llong *trip;    /* when a link to this node last saw a command time out */
  redisAsyncContext *ac; /* NULL while DOWN */
  enum link_state state;
  struct event *timer; /* DOWN: reconnect; PROBING: give up */
  int failures;        /* since the link was last stable */
  unsigned attempt;    /* picks the address to try (seed link) */
  long long up_since_ms;
  size_t in_flight;
  int wanted; /* a node link: named by the map or a redirection; reconnects after failures */
};

struct gw_redis {
  struct event_base *base;
  int index;    /* the worker's, for logs */
  uint64_t rnd; /* jitter */
  int freeing;
  struct link *links[MAX_LINKS];
  int n_links;
  int16_t *owner; /* [YW_REDIS_SLOTS] index into links, -1: unknown; NULL until a map */
  int refreshing; /* a CLUSTER SLOTS in flight */
  int refresh_wanted;
  long long refreshed_ms;            /* when the last one was sent */
  char refresh_ip[INET6_ADDRSTRLEN]; /* the node it was sent to */
  struct event *refresh_timer;
};

struct pending {
  struct link *link; /* where it waits for its answer */
  redisAsyncContext *ac;
  struct event *timer;
  gw_redis_cb *cb;
  void *arg;
  char *cmd; /* formatted, kept to follow a redirection; NULL with a single Redis */
  int len;
  int hops;
};

/* ---- settings, the resolver thread, the nodes' trip times ------------------------- */

static struct {
  gw_redis_settings s;
  yw_redis_addr seeds[YW_REDIS_MAX_SEEDS];
  int n_seeds;
  int numeric[YW_REDIS_MAX_SEEDS];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char addrs[YW_REDIS_MAX_SEEDS][MAX_ADDRS][INET6_ADDRSTRLEN]; /* guarded by mu */
  size_t n_addrs[YW_REDIS_MAX_SEEDS];                          /* guarded by mu */
  int want, stop, resolved_once;                               /* guarded by mu */
  int thread_running;
  pthread_t thread;
  atomic_int mode;
  pthread_mutex_t nodes_mu;
  struct {
    char ip[INET6_ADDRSTRLEN];
    int port;
    atomic_llong trip_ms;
  } nodes[YW_REDIS_MAX_NODES]; /* appended under nodes_mu, never removed */
  int n_nodes;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .nodes_mu = PTHREAD_MUTEX_INITIALIZER};

static atomic_llong trip_ms; /* the seed links' */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int numeric(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The trip time of the node at ip:port, shared by every worker's link to it. */
static atomic_llong *node_trip(const char *ip, int port) {
  atomic_llong *t = &trip_ms; /* past the table's end: the seed links' */
  pthread_mutex_lock(&g.nodes_mu);
  int i = 0;
  while (i < g.n_nodes && (g.nodes[i].port != port || strcmp(g.nodes[i].ip, ip) != 0)) i++;
  if (i == g.n_nodes && i < YW_REDIS_MAX_NODES) {
    snprintf(g.nodes[i].ip, sizeof g.nodes[i].ip, "%s", ip);
    g.nodes[i].port = port;
    atomic_store(&g.nodes[i].trip_ms, 0);
    g.n_nodes++;
  }
  if (i < g.n_nodes) t = &g.nodes[i].trip_ms;
  pthread_mutex_unlock(&g.nodes_mu);
  return t;
}

/* Looks the seeds' host names up (blocking: only ever on the resolver thread). */
static void resolve_once(void) {
  int any_failed = 0;
  const char *failed_host = NULL;
  int failed_rc = 0;
  for (int s = 0; s < g.n_seeds; s++) {
    if (g.numeric[s]) continue;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(g.seeds[s].host, NULL, &hints, &res);
    char found[MAX_ADDRS][INET6_ADDRSTRLEN];
    size_t n = 0;
    for (struct addrinfo *ai = res; rc == 0 && ai != NULL && n < MAX_ADDRS; ai = ai->ai_next) {
      const void *src = ai->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
      if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
          inet_ntop(ai->ai_family, src, found[n], sizeof found[n]) != NULL) {
        int dup = 0;
        for (size_t i = 0; i < n; i++) dup = dup || strcmp(found[i], found[n]) == 0;
        if (!dup) n++;
      }
    }
    if (res != NULL) freeaddrinfo(res);
    pthread_mutex_lock(&g.mu);
    if (n > 0) { /* a failed lookup keeps the last good answer */
      memcpy(g.addrs[s], found, sizeof found);
      g.n_addrs[s] = n;
    }
    pthread_mutex_unlock(&g.mu);
    if (n == 0 && !any_failed) {
      any_failed = 1;
      failed_host = g.seeds[s].host;
      failed_rc = rc;
    }
  }
  pthread_mutex_lock(&g.mu);
  g.resolved_once = 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  static int failing; /* only this thread resolves; logged when it starts failing */
  if (any_failed && !failing)
    yw_log(YW_LOG_WARN, "gateway.redis_unresolved", NULL, "%s: %s (retried after failures)",
           failed_host, failed_rc != 0 ? gai_strerror(failed_rc) : "no address");
  failing = any_failed;
}

static void *resolver_main(void *arg) {
  (void)arg;
  long long last = 0;
  pthread_mutex_lock(&g.mu);
  while (!g.stop) {
    if (!g.want) {
      pthread_cond_wait(&g.cv, &g.mu);
      continue;
    }
    long long wait = last + RESOLVE_EVERY_MS - now_ms();
    if (last != 0 && wait > 0) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += wait / 1000;
      until.tv_nsec += (wait % 1000) * 1000000;
      if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&g.cv, &g.mu, &until);
      continue;
    }
    g.want = 0;
    pthread_mutex_unlock(&g.mu);
    resolve_once();
    last = now_ms();
    pthread_mutex_lock(&g.mu);
  }
  pthread_mutex_unlock(&g.mu);
  return NULL;
}

/* Asks for a fresh lookup; never waits on it. */
static void resolver_kick(void) {
  if (!g.thread_running) return;
  pthread_mutex_lock(&g.mu);
  g.want = 1;
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
}

int gw_redis_start(const gw_redis_settings *s, char *err, size_t errlen) {
  g.s = *s;
  atomic_store(&g.mode, MODE_UNKNOWN);
  if (yw_redis_addr_list_parse(s->addr, g.seeds, YW_REDIS_MAX_SEEDS, &g.n_seeds) != 0) {
    snprintf(err, errlen, "YW_REDIS_ADDR \"%s\" is not host:port (or a list of them, with commas)",
             s->addr);
    return YW_EINVAL;
  }
  int names = 0;
  for (int i = 0; i < g.n_seeds; i++) {
    g.numeric[i] = numeric(g.seeds[i].host);
    if (g.numeric[i]) { /* then it fits: INET6_ADDRSTRLEN bounds a numeric address */
      memcpy(g.addrs[i][0], g.seeds[i].host, strlen(g.seeds[i].host) + 1);
      g.n_addrs[i] = 1;
    } else {
      g.n_addrs[i] = 0;
      names = 1;
    }
  }
  if (!names) return 0;
  g.stop = 0;
  g.want = 1;
  g.resolved_once = 0;
  if (pthread_create(&g.thread, NULL, resolver_main, NULL) != 0) {
    snprintf(err, errlen, "cannot start the resolver thread");
    return YW_EIO;
  }
  g.thread_running = 1;
  /* a bounded wait, so that the first requests find an address to connect to */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += s->connect_timeout_ms / 1000;
  until.tv_nsec += (long)(s->connect_timeout_ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&g.mu);
  while (!g.resolved_once && pthread_cond_timedwait(&g.cv, &g.mu, &until) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&g.mu);
  return 0;
}

void gw_redis_stop(void) {
  if (!g.thread_running) return;
  pthread_mutex_lock(&g.mu);
  g.stop = 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  pthread_join(g.thread, NULL);
  g.thread_running = 0;
}

/* ---- links ----------------------------------------------------------------------- */

static void link_connect(struct link *l);
static void request_refresh(gw_redis *r);
static void maybe_refresh(gw_redis *r);

static void arm(struct event *ev, long ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  event_add(ev, &tv);
}

static uint64_t next_random(gw_redis *r) {
  r->rnd ^= r->rnd << 13;
  r->rnd ^= r->rnd >> 7;
  r->rnd ^= r->rnd << 17;
  return r->rnd;
}

static int cluster(void) { return atomic_load(&g.mode) == MODE_CLUSTER; }

/* Takes the link down and schedules the next attempt. free_ctx: the context is ours to
 * free (after a timeout or a wrong answer); otherwise hiredis is already freeing it. */
static void link_down(struct link *l, int free_ctx, const char *why) {
  gw_redis *r = l->r;
  redisAsyncContext *ac = l->ac;
  enum link_state was = l->state;
  l->ac = NULL;
  l->state = LINK_DOWN;
  event_del(l->timer);
  if (was == LINK_UP && now_ms() - l->up_since_ms >= UP_STABLE_MS) l->failures = 0;
  l->failures++;
  if (was != LINK_UP) l->attempt++;         /* an address that worked is tried first again */
  if (was == LINK_UP || l->failures == 1) { /* once per outage, not per attempt */
    if (l->seed && !cluster())
      yw_log(YW_LOG_WARN, "gateway.redis_down", NULL,
             "worker %d: %s; local limits, 503 for sessions", r->index, why);
    else if (l->seed) /* in a cluster it only carries CLUSTER SLOTS; the nodes' links serve */
      yw_log(YW_LOG_WARN, "gateway.redis_seed_down", NULL,
             "worker %d, cluster seed %s:%d: %s; the slot map is asked of the other nodes",
             r->index, l->ip, l->port, why);
    else
      yw_log(YW_LOG_WARN, "gateway.redis_down", NULL,
             "worker %d, cluster node %s:%d: %s; local limits, 503 for sessions on its slots",
             r->index, l->ip, l->port, why);
  }
  if (ac != NULL && free_ctx) {
    ac->data = NULL;
    redisAsyncFree(ac); /* answers everything in flight with NULL */
  }
  if (r->freeing) return;
  if (l->seed)
    resolver_kick(); /* the address may have moved (a fail-over renames redis.internal) */
  else
    request_refresh(r);               /* the node may have failed over: ask who serves its slots */
  if (!l->seed && !l->wanted) return; /* serves no slot: reconnected only when named again */
  int shift = l->failures - 1 < 16 ? l->failures - 1 : 16;
  long long delay = (long long)BACKOFF_BASE_MS << shift;
  if (delay > g.s.backoff_max_ms) delay = g.s.backoff_max_ms;
  /* equal jitter: links that failed together do not all return together */
  long half = (long)(delay / 2);
  arm(l->timer, half + (long)(next_random(r) % (uint64_t)(half + 1)));
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  struct link *l = arg;
  if (l->state == LINK_DOWN)
    link_connect(l);
  else if (l->state == LINK_PROBING)
    link_down(l, 1, "no answer to the probe in time");
}

static void on_probe(redisAsyncContext *ac, void *reply_v, void *arg) {
  struct link *l = arg;
  redisReply *reply = reply_v;
  if (ac != l->ac || l->state != LINK_PROBING) return; /* an abandoned attempt */
  if (reply == NULL) {
    link_down(l, 0, "connection lost");
    return;
  }
  if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0) {
    link_down(l, 1, "unexpected answer to PING");
    return;
  }
  event_del(l->timer);
  l->state = LINK_UP;
  l->up_since_ms = now_ms();
  if (l->failures > 0)
    yw_log(YW_LOG_INFO, "gateway.redis_up", NULL, "worker %d: Redis answers again%s%s", l->r->index,
           l->seed ? "" : " at ", l->seed ? "" : l->ip);
  if (cluster()) maybe_refresh(l->r); /* one may have waited for a link to be up */
}

/* ---- the slot map ---------------------------------------------------------------- */

static struct link *link_new(gw_redis *r, int seed, const char *ip, int port);

/* The index of the link to ip:port (a numeric address), made and connecting when new;
 * -1 when there are too many or no memory. */
static int link_for(gw_redis *r, const char *ip, int port) {
  for (int i = 1; i < r->n_links; i++)
    if (r->links[i]->port == port && strcmp(r->links[i]->ip, ip) == 0) {
      struct link *l = r->links[i];
      l->wanted = 1;
      /* down for good after its node stopped serving slots: back in use */
      if (l->state == LINK_DOWN && !evtimer_pending(l->timer, NULL)) link_connect(l);
      return i;
    }
  if (r->n_links >= MAX_LINKS) return -1;
  struct link *l = link_new(r, 0, ip, port);
  if (l == NULL) return -1;
  r->links[r->n_links] = l;
  l->wanted = 1;
  link_connect(l);
  return r->n_links++;
}

static int owner_ready(gw_redis *r) {
  if (r->owner != NULL) return 0;
  r->owner = malloc(YW_REDIS_SLOTS * sizeof *r->owner);
  if (r->owner == NULL) return YW_ENOMEM;
  for (int s = 0; s < YW_REDIS_SLOTS; s++) r->owner[s] = -1;
  return 0;
}

/* Takes a CLUSTER SLOTS answer, from the node at asked_ip, as the worker's map. */
static void load_map(gw_redis *r, const redisReply *reply, const char *asked_ip) {
  yw_redis_slot_map *m = malloc(sizeof *m);
  if (m == NULL || owner_ready(r) != 0) {
    free(m);
    r->refresh_wanted = 1;
    return;
  }
  int rc = yw_redis_slot_map_parse(reply, asked_ip, m);
  if (rc != 0) {
    yw_log(YW_LOG_WARN, "gateway.redis_slots", NULL, "worker %d: CLUSTER SLOTS unusable (%s)",
           r->index, yw_strerror(rc));
    free(m);
    r->refresh_wanted = 1;
    return;
  }
  for (int i = 1; i < r->n_links; i++) r->links[i]->wanted = 0;
  int idx[YW_REDIS_MAX_NODES];
  for (int i = 0; i < m->n_nodes; i++) {
    /* an endpoint given as a host name would need a lookup on this loop: not served */
    idx[i] = numeric(m->nodes[i].host) ? link_for(r, m->nodes[i].host, m->nodes[i].port) : -1;
    if (idx[i] < 0)
      yw_log(YW_LOG_WARN, "gateway.redis_slots", NULL,
             "worker %d: cluster node %s:%d cannot be used (not a numeric address, or too many)",
             r->index, m->nodes[i].host, m->nodes[i].port);
  }
  for (int s = 0; s < YW_REDIS_SLOTS; s++)
    r->owner[s] = m->owner[s] >= 0 ? (int16_t)idx[m->owner[s]] : (int16_t)-1;
  free(m);
}

static void on_refresh_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  maybe_refresh(arg);
}

static int send_pending(gw_redis *r, struct link *l, int argc, const char **argv,
                        const size_t *lens, gw_redis_cb *cb, void *arg);

static void on_slots(void *reply_v, void *arg) {
  gw_redis *r = arg;
  redisReply *reply = reply_v;
  r->refreshing = 0;
  if (r->freeing) return;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
    load_map(r, reply, r->refresh_ip);
  else
    r->refresh_wanted = 1;
  maybe_refresh(r);
}

/* Sends CLUSTER SLOTS when one is wanted, none is in flight, the last is long enough
 * ago, and a link is up to carry it; otherwise waits for the time or for a link. */
static void maybe_refresh(gw_redis *r) {
  if (!r->refresh_wanted || r->refreshing || r->freeing) return;
  long long wait = r->refreshed_ms + REFRESH_EVERY_MS - now_ms();
  if (wait > 0) {
    if (!evtimer_pending(r->refresh_timer, NULL)) arm(r->refresh_timer, (long)wait);
    return;
  }
  /* the seed link when up, else a node's, starting anywhere */
  struct link *l = r->links[0]->state == LINK_UP && r->links[0]->ac != NULL ? r->links[0] : NULL;
  int n = r->n_links - 1;
  uint64_t start = next_random(r);
  for (int i = 0; i < n && l == NULL; i++) {
    struct link *c = r->links[1 + (int)((start + (uint64_t)i) % (uint64_t)n)];
    if (c->state == LINK_UP && c->ac != NULL) l = c;
  }
  if (l == NULL) return; /* the next link to come up calls again */
  const char *argv[] = {"CLUSTER", "SLOTS"};
  snprintf(r->refresh_ip, sizeof r->refresh_ip, "%s", l->ip);
  r->refreshed_ms = now_ms();
  if (send_pending(r, l, 2, argv, NULL, on_slots, r) != 0) {
    arm(r->refresh_timer, REFRESH_EVERY_MS);
    return;
  }
  r->refreshing = 1;
  r->refresh_wanted = 0;
}

static void request_refresh(gw_redis *r) {
  if (r->freeing || !cluster()) return;
  r->refresh_wanted = 1;
  maybe_refresh(r);
}

/* The seed link's second probe, while the process does not know what it talks to, or
 * knows it is a cluster: CLUSTER SLOTS. */
static void on_probe_slots(redisAsyncContext *ac, void *reply_v, void *arg) {
  struct link *l = arg;
  gw_redis *r = l->r;
  redisReply *reply = reply_v;
  if (reply == NULL || r->freeing || ac != l->ac) return;
  int answer = yw_redis_cluster_answer(reply);
  int unknown = MODE_UNKNOWN;
  if (answer == 0 && atomic_compare_exchange_strong(&g.mode, &unknown, MODE_SINGLE))
    yw_log(YW_LOG_INFO, "gateway.redis_mode", NULL, "Redis at %s:%d is a single node", l->ip,
           l->port);
  if (answer != 1) return;
  if (atomic_compare_exchange_strong(&g.mode, &unknown, MODE_CLUSTER))
    yw_log(YW_LOG_INFO, "gateway.redis_mode", NULL,
           "Redis at %s:%d is a cluster node: commands go to their slots' masters", l->ip, l->port);
  if (!cluster()) return;
  r->refreshed_ms = now_ms();
  load_map(r, reply, l->ip);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  struct link *l = ac->data;
  if (status != REDIS_OK && l != NULL && l->ac == ac) link_down(l, 0, "cannot connect");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  (void)status;
  struct link *l = ac->data;
  if (l != NULL && l->ac == ac) link_down(l, 0, "connection lost");
}

static void link_connect(struct link *l) {
  if (l->seed) {
    /* the configured addresses in turn: each seed's, as last resolved */
    pthread_mutex_lock(&g.mu);
    size_t n = 0;
    for (int s = 0; s < g.n_seeds; s++) n += g.n_addrs[s];
    if (n > 0) {
      size_t k = l->attempt % n;
      int s = 0;
      while (k >= g.n_addrs[s]) k -= g.n_addrs[s++];
      memcpy(l->ip, g.addrs[s][k], sizeof l->ip);
      l->port = g.seeds[s].port;
    }
    pthread_mutex_unlock(&g.mu);
    if (n == 0) {
      link_down(l, 0, "the Redis host name has no address yet");
      return;
    }
  }
  /* a numeric address: hiredis' getaddrinfo answers without any lookup */
  redisAsyncContext *ac = redisAsyncConnect(l->ip, l->port);
  if (ac == NULL || ac->err != 0) {
    if (ac != NULL) redisAsyncFree(ac);
    link_down(l, 0, "cannot connect");
    return;
  }
  ac->data = l;
  if (redisLibeventAttach(ac, l->r->base) != REDIS_OK) {
    redisAsyncFree(ac);
    link_down(l, 0, "cannot watch the connection");
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  l->ac = ac;
  l->state = LINK_PROBING;
  const char *ping[] = {"PING"};
  if (redisAsyncCommandArgv(ac, on_probe, l, 1, ping, NULL) != REDIS_OK) {
    link_down(l, 1, "cannot send the probe");
    return;
  }
  if (l->seed && atomic_load(&g.mode) != MODE_SINGLE) {
    const char *slots[] = {"CLUSTER", "SLOTS"};
    if (redisAsyncCommandArgv(ac, on_probe_slots, l, 2, slots, NULL) != REDIS_OK) {
      link_down(l, 1, "cannot send the probe");
      return;
    }
  }
  arm(l->timer, (long)g.s.connect_timeout_ms + g.s.command_timeout_ms);
}

static struct link *link_new(gw_redis *r, int seed, const char *ip, int port) {
  struct link *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->r = r;
  l->seed = seed;
  l->state = LINK_DOWN;
  l->timer = event_new(r->base, -1, 0, on_timer, l);
  if (l->timer == NULL) {
    free(l);
    return NULL;
  }
  if (seed) {
    l->trip = &trip_ms;
  } else {
    snprintf(l->ip, sizeof l->ip, "%s", ip);
    l->port = port;
    l->trip = node_trip(ip, port);
  }
  return l;
}

int gw_redis_new(struct event_base *base, int index, gw_redis **out) {
  *out = NULL;
  gw_redis *r = calloc(1, sizeof *r);
  if (r == NULL) return YW_ENOMEM;
  r->base = base;
  r->index = index;
  r->refresh_timer = event_new(base, -1, 0, on_refresh_timer, r);
  struct link *seed = r->refresh_timer != NULL ? link_new(r, 1, NULL, 0) : NULL;
  if (seed == NULL) {
    if (r->refresh_timer != NULL) event_free(r->refresh_timer);
    free(r);
    return YW_ENOMEM;
  }
  r->links[0] = seed;
  r->n_links = 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  r->rnd = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)r ^ (uint64_t)index ^
           0x9e3779b97f4a7c15ULL;
  link_connect(seed);
  *out = r;
  return 0;
}

void gw_redis_free(gw_redis *r) {
  if (r == NULL) return;
  r->freeing = 1;
  event_del(r->refresh_timer);
  /* every context first: their commands' callbacks may still look at any link */
  for (int i = 0; i < r->n_links; i++) {
    struct link *l = r->links[i];
    event_del(l->timer);
    if (l->ac != NULL) {
      redisAsyncContext *ac = l->ac;
      l->ac = NULL;
      l->state = LINK_DOWN;
      ac->data = NULL;
      redisAsyncFree(ac);
    }
  }
  for (int i = 0; i < r->n_links; i++) {
    event_free(r->links[i]->timer);
    free(r->links[i]);
  }
  event_free(r->refresh_timer);
  free(r->owner);
  free(r);
}

int gw_redis_up(const gw_redis *r) {
  if (r == NULL) return 0;
  if (!cluster()) return r->links[0]->state == LINK_UP;
  if (r->owner == NULL) return 0;
  for (int i = 1; i < r->n_links; i++)
    if (r->links[i]->state == LINK_UP) return 1;
  return 0;
}

/* ---- commands -------------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *arg);

/* A -MOVED or -ASK answer to p: sends it again to the node named, on that node's link,
 * when it is up. 1 when sent (p waits there, under its own timer). */
static int redirect(struct pending *p, const redisReply *reply) {
  gw_redis *r = p->link->r;
  if (reply->type != REDIS_REPLY_ERROR || p->cmd == NULL || p->hops >= MAX_HOPS || r->freeing ||
      !cluster())
    return 0;
  yw_redis_addr to;
  int slot = 0;
  int kind = yw_redis_redirect_parse(reply->str, reply->len, p->link->ip, &slot, &to);
  if (kind == YW_REDIS_NO_REDIRECT || !numeric(to.host) || owner_ready(r) != 0) return 0;
  int idx = link_for(r, to.host, to.port);
  if (idx < 0) return 0;
  if (kind == YW_REDIS_MOVED) {
    r->owner[slot] = (int16_t)idx;
    request_refresh(r); /* more slots may have moved with it */
  }
  struct link *t = r->links[idx];
  if (t->state != LINK_UP || t->ac == NULL || t->in_flight >= MAX_IN_FLIGHT) return 0;
  const char *asking[] = {"ASKING"};
  /* ASKING holds for the next command on that connection: pipelined right before it */
  if (kind == YW_REDIS_ASK && redisAsyncCommandArgv(t->ac, NULL, NULL, 1, asking, NULL) != REDIS_OK)
    return 0;
  if (redisAsyncFormattedCommand(t->ac, on_reply, p, p->cmd, (size_t)p->len) != REDIS_OK) return 0;
  p->hops++;
  p->link = t;
  p->ac = t->ac;
  t->in_flight++;
  return 1;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *arg) {
  struct pending *p = arg;
  struct link *l = p->link;
  l->in_flight--;
  if (reply != NULL && redirect(p, reply)) return;
  event_free(p->timer);
  gw_redis_cb *cb = p->cb;
  void *cb_arg = p->arg;
  if (p->cmd != NULL) redisFreeCommand(p->cmd);
  free(p);
  /* NULL: hiredis is tearing this context down; stop handing it new commands now */
  if (reply == NULL && ac == l->ac) link_down(l, 0, "connection lost");
  cb(reply, cb_arg);
}

static void on_command_timeout(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  struct pending *p = arg;
  struct link *l = p->link;
  atomic_store(l->trip, now_ms());
  if (p->ac == l->ac) link_down(l, 1, "a command passed its timeout");
  /* p is freed now: its reply callback ran with NULL inside redisAsyncFree */
}

/* Sends a command on l (up) under a new timer. 0 when sent, else YW_EUNAVAIL. */
static int send_pending(gw_redis *r, struct link *l, int argc, const char **argv,
                        const size_t *lens, gw_redis_cb *cb, void *arg) {
  struct pending *p = malloc(sizeof *p);
  struct event *t = p != NULL ? event_new(r->base, -1, 0, on_command_timeout, p) : NULL;
  if (t == NULL) {
    free(p);
    return YW_EUNAVAIL;
  }
  p->link = l;
  p->ac = l->ac;
  p->timer = t;
  p->cb = cb;
  p->arg = arg;
  p->cmd = NULL;
  p->len = 0;
  p->hops = 0;
  int rc = REDIS_ERR;
  if (atomic_load(&g.mode) == MODE_SINGLE) {
    rc = redisAsyncCommandArgv(l->ac, on_reply, p, argc, argv, lens);
  } else {
    /* kept formatted until answered, to be sent again after a redirection */
    p->len = redisFormatCommandArgv(&p->cmd, argc, argv, lens);
    if (p->len > 0) rc = redisAsyncFormattedCommand(l->ac, on_reply, p, p->cmd, (size_t)p->len);
  }
  if (rc != REDIS_OK) {
    if (p->cmd != NULL) redisFreeCommand(p->cmd);
    event_free(t);
    free(p);
    return YW_EUNAVAIL;
  }
  l->in_flight++;
  struct timeval tv = {g.s.command_timeout_ms / 1000, (g.s.command_timeout_ms % 1000) * 1000};
  event_add(t, &tv);
  return 0;
}

/* The link a command goes to: the seed link until the process knows it talks to a
 * cluster and this worker has a map; then its slot's master's (a keyless command: the
 * seed's). NULL when the slot's master is not known (a refresh is asked for). */
static struct link *route(gw_redis *r, int argc, const char **argv, const size_t *lens) {
  if (!cluster() || r->owner == NULL) return r->links[0];
  int slot = yw_redis_command_slot(argc, argv, lens);
  if (slot < 0) return r->links[0];
  int idx = r->owner[slot];
  if (idx < 0) {
    request_refresh(r);
    return NULL;
  }
  return r->links[idx];
}

int gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *lens, gw_redis_cb *cb,
                     void *arg) {
  if (r == NULL) return YW_EUNAVAIL;
  struct link *l = route(r, argc, argv, lens);
  if (l == NULL || l->state != LINK_UP || l->ac == NULL || l->in_flight >= MAX_IN_FLIGHT)
    return YW_EUNAVAIL;
  if (atomic_load(l->trip) >= l->up_since_ms) {
    link_down(l, 1, "another worker's link to Redis timed out");
    return YW_EUNAVAIL;
  }
  return send_pending(r, l, argc, argv, lens, cb, arg);
}
