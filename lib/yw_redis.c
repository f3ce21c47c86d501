/*
 * yw_redis.c - reconnecting hiredis connections with a back-off.
 *
 * Every command is bounded by one deadline: the handle's timeout, or the caller's own
 * bound when shorter. The wait for a free connection (pthread_mutex_timedlock), the
 * connect (hiredis' non-blocking connect with a timeout) and the command (socket
 * timeouts set to the time left) all come out of it, so a stopped Redis, which still
 * accepts connections and takes commands into its socket buffers, costs a caller its
 * bound and no more. A connection that timed out is closed, never reused: its answer
 * would arrive as the answer to the next command.
 *
 * After a failure the handle backs off (exponential, 250 ms doubling to 2 s, with
 * jitter over the upper half): callers fall through at once instead of each waiting.
 * When the back-off ends, one caller probes and the others keep falling through until
 * it has succeeded or failed.
 *
 * Offers: yw_redis_open, yw_redis_free, yw_redis_command, yw_redis_command_within,
 * yw_redis_ping.
 */
#include "yw_redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yw_err.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 2000

struct conn {
  pthread_mutex_t mu;
  redisContext *ctx;
};

struct yw_redis {
  char host[256];
  int port;
  int timeout_ms;
  int n;
  struct conn *conns;
  atomic_uint next;
  atomic_llong down_until_ms; /* no attempts before this monotonic time */
  atomic_int failures;        /* in a row, for the back-off */
  atomic_uint jitter;         /* state of the back-off's jitter */
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_of(long long ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
  return tv;
}

static void drop(struct conn *c) {
  if (c->ctx != NULL) redisFree(c->ctx);
  c->ctx = NULL;
}

static int conn_open(yw_redis *r, struct conn *c, long long ms) {
  /* hiredis resolves the name here (getaddrinfo, on this thread), then connects
   * without blocking for at most ms */
  redisContext *ctx = redisConnectWithTimeout(r->host, r->port, tv_of(ms));
  if (ctx == NULL) return YW_ENOMEM;
  if (ctx->err != 0) {
    redisFree(ctx);
    return YW_EUNAVAIL;
  }
  c->ctx = ctx;
  return 0;
}

/* Redis sends nothing unasked on a connection that is not subscribed, so an idle
 * connection with something to read was closed (a restart, its client timeout) or
 * broke. One poll() with no wait. */
static int idle_closed(const redisContext *ctx) {
  struct pollfd pf = {.fd = ctx->fd, .events = POLLIN};
  return poll(&pf, 1, 0) != 0;
}

static void back_off(yw_redis *r) {
  int f = atomic_fetch_add(&r->failures, 1) + 1;
  long long d = BACKOFF_MIN_MS;
  for (int i = 1; i < f && d < BACKOFF_MAX_MS; i++) d *= 2;
  if (d > BACKOFF_MAX_MS) d = BACKOFF_MAX_MS;
  /* spread over the upper half, so copies of a service that failed together do not
   * come back together */
  unsigned x = atomic_fetch_add(&r->jitter, 0x9E3779B9u);
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  d = d / 2 + (long long)(x % (unsigned)(d / 2 + 1));
  atomic_store(&r->down_until_ms, now_ms() + d);
}

static void note_success(yw_redis *r) {
  if (atomic_load(&r->failures) != 0) {
    atomic_store(&r->failures, 0);
    atomic_store(&r->down_until_ms, 0);
  }
}

/* 0: backing off, fall through. 1: go. 2: go, as the one probe after a back-off (the
 * others are kept away until bound_ms past now). */
static int may_try(yw_redis *r, long long now, long long bound_ms) {
  long long until = atomic_load(&r->down_until_ms);
  if (now < until) return 0;
  if (atomic_load(&r->failures) == 0) return 1;
  return atomic_compare_exchange_strong(&r->down_until_ms, &until, now + bound_ms + 1) ? 2 : 0;
}

int yw_redis_open(const char *addr, int timeout_ms, int nconn, yw_redis **out) {
  *out = NULL;
  const char *host = addr;
  const char *colon = NULL;
  size_t hlen = 0;
  if (addr[0] == '[') { /* [IPv6]:port */
    const char *close = strchr(addr, ']');
    if (close == NULL || close[1] != ':') return YW_EINVAL;
    host = addr + 1;
    hlen = (size_t)(close - host);
    colon = close + 1;
  } else {
    colon = strrchr(addr, ':');
    if (colon == NULL) return YW_EINVAL;
    hlen = (size_t)(colon - addr);
  }
  if (hlen == 0 || hlen >= sizeof(((yw_redis *)0)->host)) return YW_EINVAL;
  char *end = NULL;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (errno != 0 || *end != '\0' || port < 1 || port > 65535) return YW_EINVAL;
  if (nconn < 1) nconn = 1;
  yw_redis *r = calloc(1, sizeof *r);
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  if (r == NULL || conns == NULL) {
    free(r);
    free(conns);
    return YW_ENOMEM;
  }
  memcpy(r->host, host, hlen);
  r->port = (int)port;
  r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
  r->n = nconn;
  r->conns = conns;
  atomic_store(&r->jitter, (unsigned)getpid() * 2654435761u ^ (unsigned)now_ms());
  for (int i = 0; i < nconn; i++) pthread_mutex_init(&conns[i].mu, NULL);
  *out = r;
  /* One connection and a PING now, to tell the caller whether Redis answers (a
   * stopped one accepts connections); the others open when first needed. */
  return yw_redis_ping(r) == 0 ? 0 : YW_EUNAVAIL;
}

void yw_redis_free(yw_redis *r) {
  if (r == NULL) return;
  for (int i = 0; i < r->n; i++) {
    drop(&r->conns[i]);
    pthread_mutex_destroy(&r->conns[i].mu);
  }
  free(r->conns);
  free(r);
}

/* Takes a free connection, or waits until deadline for one picked round robin. */
static struct conn *take(yw_redis *r, long long deadline) {
  unsigned start = atomic_fetch_add(&r->next, 1u);
  for (int i = 0; i < r->n; i++) {
    struct conn *c = &r->conns[(start + (unsigned)i) % (unsigned)r->n];
    if (pthread_mutex_trylock(&c->mu) == 0) return c;
  }
  struct conn *c = &r->conns[start % (unsigned)r->n];
  long long left = deadline - now_ms();
  if (left <= 0) return NULL;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until); /* pthread_mutex_timedlock's clock */
  until.tv_sec += (time_t)(left / 1000);
  until.tv_nsec += (long)(left % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  return pthread_mutex_timedlock(&c->mu, &until) == 0 ? c : NULL;
}

static redisReply *fail(char *err, size_t errlen, const char *why) {
  if (err != NULL && errlen > 0) snprintf(err, errlen, "%s", why);
  return NULL;
}

redisReply *yw_redis_command_within(yw_redis *r, int wait_ms, int argc, const char **argv,
                                    const size_t *argvlen, char *err, size_t errlen) {
  long long bound = wait_ms < r->timeout_ms ? wait_ms : r->timeout_ms;
  if (bound <= 0) return fail(err, errlen, "redis: no time left");
  long long deadline = now_ms() + bound;
  int go = may_try(r, now_ms(), bound);
  if (go == 0) return fail(err, errlen, "redis unreachable (backing off)");
  struct conn *c = take(r, deadline);
  if (c == NULL) return fail(err, errlen, "redis busy: no free connection in time");
  /* while this caller waited for the connection, another may have found Redis down */
  if (go == 1 && now_ms() < atomic_load(&r->down_until_ms)) {
    pthread_mutex_unlock(&c->mu);
    return fail(err, errlen, "redis unreachable (backing off)");
  }
  redisReply *reply = NULL;
  int attempted = 0;
  for (int attempt = 0; attempt < 2 && reply == NULL; attempt++) {
    if (c->ctx != NULL && (c->ctx->err != 0 || idle_closed(c->ctx))) drop(c);
    int fresh = c->ctx == NULL;
    long long left = deadline - now_ms();
    if (left <= 0) break;
    attempted = 1;
    if (fresh && conn_open(r, c, left) != 0) break;
    left = deadline - now_ms();
    if (left <= 0) break;
    redisSetTimeout(c->ctx, tv_of(left));
    errno = 0;
    reply = redisCommandArgv(c->ctx, argc, argv, argvlen);
    if (reply != NULL) break;
    /* Sent once more on a new connection only when an old one turns out closed as the
     * command goes (Redis went away in between); never after a timeout, when Redis may
     * still run it. */
    int closed = c->ctx->err == REDIS_ERR_EOF ||
                 (c->ctx->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
    drop(c);
    if (fresh || !closed) break;
  }
  pthread_mutex_unlock(&c->mu);
  if (reply == NULL) {
    /* Only a failed attempt is evidence: a caller whose time went on the wait for a
     * connection leaves the verdict to the one holding it. */
    if (attempted || go == 2) back_off(r);
    return fail(err, errlen, "redis unreachable");
  }
  note_success(r);
  if (reply->type == REDIS_REPLY_ERROR) {
    if (err != NULL && errlen > 0) snprintf(err, errlen, "%s", reply->str);
    freeReplyObject(reply);
    return NULL;
  }
  return reply;
}

redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen) {
  return yw_redis_command_within(r, r->timeout_ms, argc, argv, argvlen, err, errlen);
}

int yw_redis_ping(yw_redis *r) {
  const char *argv[] = {"PING"};
  redisReply *reply = yw_redis_command(r, 1, argv, NULL, NULL, 0);
  if (reply == NULL) return YW_EUNAVAIL;
  freeReplyObject(reply);
  return 0;
}
