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
 * One stall is every link's stall (they all talk to the same Redis), so the first link
 * whose command times out notes the time (trip_ms); every other link that has been up
 * since before then goes down at its next command instead of waiting out a timeout of
 * its own.
 *
 * Link states: DOWN (a back-off timer will reconnect), PROBING (connecting, a PING
 * queued; the timer bounds connect and answer together), UP. The failure count that
 * sets the back-off is forgotten only after UP_STABLE_MS of health, so a Redis that
 * answers a PING but stalls under load backs off further each time instead of
 * flapping.
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

#define BACKOFF_BASE_MS 100
#define UP_STABLE_MS 5000
#define MAX_IN_FLIGHT 8192 /* per link; past it Redis is too slow to wait for anyway */
#define MAX_ADDRS 4
#define RESOLVE_EVERY_MS 1000 /* at most one lookup a second, however many links fail */

enum link_state { LINK_DOWN, LINK_PROBING, LINK_UP };

struct gw_redis {
  struct event_base *base;
  redisAsyncContext *ac; /* NULL while DOWN */
  enum link_state state;
  struct event *timer; /* DOWN: reconnect; PROBING: give up */
  int index;           /* the worker's, for logs */
  int failures;        /* since the link was last stable */
  unsigned attempt;    /* picks the address to try */
  long long up_since_ms;
  uint64_t rnd; /* jitter */
  size_t in_flight;
  int freeing;
};

struct pending {
  gw_redis *r;
  redisAsyncContext *ac;
  struct event *timer;
  gw_redis_cb *cb;
  void *arg;
};

/* ---- settings and the resolver thread -------------------------------------------- */

static struct {
  gw_redis_settings s;
  char host[256];
  int port;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char addrs[MAX_ADDRS][INET6_ADDRSTRLEN]; /* guarded by mu */
  size_t n_addrs;                          /* guarded by mu */
  int want, stop, resolved_once;           /* guarded by mu */
  int thread_running;
  pthread_t thread;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_llong trip_ms; /* when a link last saw a command time out */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int numeric(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* "host:port", "[v6]:port", or a bare v6 address followed by ":port". */
static int split_addr(const char *addr, char *host, size_t hsize, int *port) {
  const char *colon = strrchr(addr, ':');
  if (colon == NULL || colon == addr) return YW_EINVAL;
  const char *h = addr;
  size_t hlen = (size_t)(colon - addr);
  if (addr[0] == '[') {
    if (hlen < 3 || addr[hlen - 1] != ']') return YW_EINVAL;
    h = addr + 1;
    hlen -= 2;
  }
  if (hlen == 0 || hlen >= hsize) return YW_EINVAL;
  const char *p = colon + 1;
  size_t nd = strspn(p, "0123456789");
  if (nd == 0 || nd > 5 || p[nd] != '\0') return YW_EINVAL;
  long v = 0;
  for (size_t i = 0; i < nd; i++) v = v * 10 + (p[i] - '0');
  if (v < 1 || v > 65535) return YW_EINVAL;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = (int)v;
  return 0;
}

/* Looks the host up (blocking: only ever on the resolver thread). */
static void resolve_once(void) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(g.host, NULL, &hints, &res);
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
    memcpy(g.addrs, found, sizeof found);
    g.n_addrs = n;
  }
  g.resolved_once = 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  static int failing; /* only this thread resolves; logged when it starts failing */
  if (n == 0 && !failing)
    yw_log(YW_LOG_WARN, "gateway.redis_unresolved", NULL, "%s: %s (retried after failures)", g.host,
           rc != 0 ? gai_strerror(rc) : "no address");
  failing = n == 0;
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
  if (split_addr(s->addr, g.host, sizeof g.host, &g.port) != 0) {
    snprintf(err, errlen, "YW_REDIS_ADDR \"%s\" is not host:port", s->addr);
    return YW_EINVAL;
  }
  if (numeric(g.host)) { /* then it fits: INET6_ADDRSTRLEN bounds a numeric address */
    memcpy(g.addrs[0], g.host, strlen(g.host) + 1);
    g.n_addrs = 1;
    return 0;
  }
  g.stop = 0;
  g.want = 1;
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

static void link_connect(gw_redis *r);

static void arm(gw_redis *r, long ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  event_add(r->timer, &tv);
}

static uint64_t next_random(gw_redis *r) {
  r->rnd ^= r->rnd << 13;
  r->rnd ^= r->rnd >> 7;
  r->rnd ^= r->rnd << 17;
  return r->rnd;
}

/* Takes the link down and schedules the next attempt. free_ctx: the context is ours to
 * free (after a timeout or a wrong answer); otherwise hiredis is already freeing it. */
static void link_down(gw_redis *r, int free_ctx, const char *why) {
  redisAsyncContext *ac = r->ac;
  enum link_state was = r->state;
  r->ac = NULL;
  r->state = LINK_DOWN;
  event_del(r->timer);
  if (was == LINK_UP && now_ms() - r->up_since_ms >= UP_STABLE_MS) r->failures = 0;
  r->failures++;
  if (was != LINK_UP) r->attempt++;       /* an address that worked is tried first again */
  if (was == LINK_UP || r->failures == 1) /* once per outage, not per attempt */
    yw_log(YW_LOG_WARN, "gateway.redis_down", NULL, "worker %d: %s; local limits, 503 for sessions",
           r->index, why);
  if (ac != NULL && free_ctx) {
    ac->data = NULL;
    redisAsyncFree(ac); /* answers everything in flight with NULL */
  }
  if (r->freeing) return;
  resolver_kick(); /* the address may have moved (a fail-over renames redis.internal) */
  int shift = r->failures - 1 < 16 ? r->failures - 1 : 16;
  long long delay = (long long)BACKOFF_BASE_MS << shift;
  if (delay > g.s.backoff_max_ms) delay = g.s.backoff_max_ms;
  /* equal jitter: links that failed together do not all return together */
  long half = (long)(delay / 2);
  arm(r, half + (long)(next_random(r) % (uint64_t)(half + 1)));
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_redis *r = arg;
  if (r->state == LINK_DOWN)
    link_connect(r);
  else if (r->state == LINK_PROBING)
    link_down(r, 1, "no answer to the probe in time");
}

static void on_probe(redisAsyncContext *ac, void *reply_v, void *arg) {
  gw_redis *r = arg;
  redisReply *reply = reply_v;
  if (ac != r->ac || r->state != LINK_PROBING) return; /* an abandoned attempt */
  if (reply == NULL) {
    link_down(r, 0, "connection lost");
    return;
  }
  if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0) {
    link_down(r, 1, "unexpected answer to PING");
    return;
  }
  event_del(r->timer);
  r->state = LINK_UP;
  r->up_since_ms = now_ms();
  if (r->failures > 0)
    yw_log(YW_LOG_INFO, "gateway.redis_up", NULL, "worker %d: Redis answers again", r->index);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  gw_redis *r = ac->data;
  if (status != REDIS_OK && r != NULL && r->ac == ac) link_down(r, 0, "cannot connect");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  (void)status;
  gw_redis *r = ac->data;
  if (r != NULL && r->ac == ac) link_down(r, 0, "connection lost");
}

static void link_connect(gw_redis *r) {
  char ip[INET6_ADDRSTRLEN];
  pthread_mutex_lock(&g.mu);
  size_t n = g.n_addrs;
  if (n > 0) memcpy(ip, g.addrs[r->attempt % n], sizeof ip);
  pthread_mutex_unlock(&g.mu);
  if (n == 0) {
    link_down(r, 0, "the Redis host name has no address yet");
    return;
  }
  /* a numeric address: hiredis' getaddrinfo answers without any lookup */
  redisAsyncContext *ac = redisAsyncConnect(ip, g.port);
  if (ac == NULL || ac->err != 0) {
    if (ac != NULL) redisAsyncFree(ac);
    link_down(r, 0, "cannot connect");
    return;
  }
  ac->data = r;
  if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
    redisAsyncFree(ac);
    link_down(r, 0, "cannot watch the connection");
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  r->ac = ac;
  r->state = LINK_PROBING;
  const char *ping[] = {"PING"};
  if (redisAsyncCommandArgv(ac, on_probe, r, 1, ping, NULL) != REDIS_OK) {
    link_down(r, 1, "cannot send the probe");
    return;
  }
  arm(r, (long)g.s.connect_timeout_ms + g.s.command_timeout_ms);
}

int gw_redis_new(struct event_base *base, int index, gw_redis **out) {
  *out = NULL;
  gw_redis *r = calloc(1, sizeof *r);
  if (r == NULL) return YW_ENOMEM;
  r->base = base;
  r->index = index;
  r->timer = event_new(base, -1, 0, on_timer, r);
  if (r->timer == NULL) {
    free(r);
    return YW_ENOMEM;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  r->rnd = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)r ^ (uint64_t)index ^
           0x9e3779b97f4a7c15ULL;
  r->state = LINK_DOWN;
  link_connect(r);
  *out = r;
  return 0;
}

void gw_redis_free(gw_redis *r) {
  if (r == NULL) return;
  r->freeing = 1;
  event_del(r->timer);
  if (r->ac != NULL) {
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->state = LINK_DOWN;
    ac->data = NULL;
    redisAsyncFree(ac);
  }
  event_free(r->timer);
  free(r);
}

int gw_redis_up(const gw_redis *r) { return r != NULL && r->state == LINK_UP; }

static void on_reply(redisAsyncContext *ac, void *reply, void *arg) {
  struct pending *p = arg;
  gw_redis *r = p->r;
  event_free(p->timer);
  r->in_flight--;
  gw_redis_cb *cb = p->cb;
  void *cb_arg = p->arg;
  free(p);
  /* NULL: hiredis is tearing this context down; stop handing it new commands now */
  if (reply == NULL && ac == r->ac) link_down(r, 0, "connection lost");
  cb(reply, cb_arg);
}

static void on_command_timeout(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  struct pending *p = arg;
  gw_redis *r = p->r;
  atomic_store(&trip_ms, now_ms());
  if (p->ac == r->ac) link_down(r, 1, "a command passed its timeout");
  /* p is freed now: its reply callback ran with NULL inside redisAsyncFree */
}

int gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *lens, gw_redis_cb *cb,
                     void *arg) {
  if (r == NULL || r->state != LINK_UP || r->ac == NULL || r->in_flight >= MAX_IN_FLIGHT)
    return YW_EUNAVAIL;
  if (atomic_load(&trip_ms) >= r->up_since_ms) {
    link_down(r, 1, "another worker's link to Redis timed out");
    return YW_EUNAVAIL;
  }
  struct pending *p = malloc(sizeof *p);
  struct event *t = p != NULL ? event_new(r->base, -1, 0, on_command_timeout, p) : NULL;
  if (t == NULL) {
    free(p);
    return YW_EUNAVAIL;
  }
  p->r = r;
  p->ac = r->ac;
  p->timer = t;
  p->cb = cb;
  p->arg = arg;
  if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, lens) != REDIS_OK) {
    event_free(t);
    free(p);
    return YW_EUNAVAIL;
  }
  r->in_flight++;
  struct timeval tv = {g.s.command_timeout_ms / 1000, (g.s.command_timeout_ms % 1000) * 1000};
  event_add(t, &tv);
  return 0;
}
