/*
 * yw_redis.c - reconnecting hiredis connections with a back-off.
 *
 * Offers: yw_redis_open, yw_redis_free, yw_redis_command, yw_redis_ping.
 */
#include "yw_redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_err.h"

#define BACKOFF_MS 1000

struct conn {
  pthread_mutex_t mu;
  redisContext *ctx;
};

struct yw_redis {
  char host[256];
  int port;
  struct timeval timeout;
  int n;
  struct conn *conns;
  atomic_uint next;
  atomic_llong down_until_ms; /* no attempts before this monotonic time */
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reconnect(yw_redis *r, struct conn *c) {
  if (c->ctx != NULL) {
    redisFree(c->ctx);
    c->ctx = NULL;
  }
  redisContext *ctx = redisConnectWithTimeout(r->host, r->port, r->timeout);
  if (ctx == NULL) return YW_ENOMEM;
  if (ctx->err != 0) {
    redisFree(ctx);
    return YW_EUNAVAIL;
  }
  redisSetTimeout(ctx, r->timeout);
  c->ctx = ctx;
  return 0;
}

int yw_redis_open(const char *addr, int timeout_ms, int nconn, yw_redis **out) {
  *out = NULL;
  const char *colon = strrchr(addr, ':');
  if (colon == NULL || (size_t)(colon - addr) >= sizeof(((yw_redis *)0)->host)) return YW_EINVAL;
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
  memcpy(r->host, addr, (size_t)(colon - addr));
  r->port = (int)port;
  r->timeout.tv_sec = timeout_ms / 1000;
  r->timeout.tv_usec = (timeout_ms % 1000) * 1000;
  r->n = nconn;
  r->conns = conns;
  int rc = 0;
  for (int i = 0; i < nconn; i++) {
    pthread_mutex_init(&conns[i].mu, NULL);
    if (reconnect(r, &conns[i]) != 0) rc = YW_EUNAVAIL;
  }
  *out = r;
  return rc;
}

void yw_redis_free(yw_redis *r) {
  if (r == NULL) return;
  for (int i = 0; i < r->n; i++) {
    if (r->conns[i].ctx != NULL) redisFree(r->conns[i].ctx);
    pthread_mutex_destroy(&r->conns[i].mu);
  }
  free(r->conns);
  free(r);
}

/* Takes a free connection, or waits for one picked round robin. */
static struct conn *take(yw_redis *r) {
  unsigned start = atomic_fetch_add(&r->next, 1u);
  for (int i = 0; i < r->n; i++) {
    struct conn *c = &r->conns[(start + (unsigned)i) % (unsigned)r->n];
    if (pthread_mutex_trylock(&c->mu) == 0) return c;
  }
  struct conn *c = &r->conns[start % (unsigned)r->n];
  pthread_mutex_lock(&c->mu);
  return c;
}

redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen) {
  if (now_ms() < atomic_load(&r->down_until_ms)) {
    if (err != NULL) snprintf(err, errlen, "redis unreachable (backing off)");
    return NULL;
  }
  struct conn *c = take(r);
  redisReply *reply = NULL;
  for (int attempt = 0; attempt < 2 && reply == NULL; attempt++) {
    if ((c->ctx == NULL || c->ctx->err != 0) && reconnect(r, c) != 0) break;
    reply = redisCommandArgv(c->ctx, argc, argv, argvlen);
  }
  pthread_mutex_unlock(&c->mu);
  if (reply == NULL) {
    atomic_store(&r->down_until_ms, now_ms() + BACKOFF_MS);
    if (err != NULL) snprintf(err, errlen, "redis unreachable");
    return NULL;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    if (err != NULL) snprintf(err, errlen, "%s", reply->str);
    freeReplyObject(reply);
    return NULL;
  }
  return reply;
}

int yw_redis_ping(yw_redis *r) {
  const char *argv[] = {"PING"};
  redisReply *reply = yw_redis_command(r, 1, argv, NULL, NULL, 0);
  if (reply == NULL) return YW_EUNAVAIL;
  freeReplyObject(reply);
  return 0;
}
