/*
 * yw_redis.c - a reconnecting hiredis connection.
 *
 * Offers: yw_redis_open, yw_redis_free, yw_redis_command, yw_redis_ping.
 */
#include "yw_redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

struct yw_redis {
  pthread_mutex_t mu;
  redisContext *ctx;
  char host[256];
  int port;
  struct timeval timeout;
};

static int reconnect(yw_redis *r) {
  if (r->ctx != NULL) {
    redisFree(r->ctx);
    r->ctx = NULL;
  }
  redisContext *c = redisConnectWithTimeout(r->host, r->port, r->timeout);
  if (c == NULL) return YW_ENOMEM;
  if (c->err != 0) {
    redisFree(c);
    return YW_EUNAVAIL;
  }
  redisSetTimeout(c, r->timeout);
  r->ctx = c;
  return 0;
}

int yw_redis_open(const char *addr, int timeout_ms, yw_redis **out) {
  *out = NULL;
  const char *colon = strrchr(addr, ':');
  if (colon == NULL || (size_t)(colon - addr) >= sizeof(((yw_redis *)0)->host)) return YW_EINVAL;
  char *end = NULL;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (errno != 0 || *end != '\0' || port < 1 || port > 65535) return YW_EINVAL;
  yw_redis *r = calloc(1, sizeof *r);
  if (r == NULL) return YW_ENOMEM;
  memcpy(r->host, addr, (size_t)(colon - addr));
  r->port = (int)port;
  r->timeout.tv_sec = timeout_ms / 1000;
  r->timeout.tv_usec = (timeout_ms % 1000) * 1000;
  pthread_mutex_init(&r->mu, NULL);
  *out = r;
  return reconnect(r);
}

void yw_redis_free(yw_redis *r) {
  if (r == NULL) return;
  if (r->ctx != NULL) redisFree(r->ctx);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen) {
  redisReply *reply = NULL;
  pthread_mutex_lock(&r->mu);
  for (int attempt = 0; attempt < 2 && reply == NULL; attempt++) {
    if ((r->ctx == NULL || r->ctx->err != 0) && reconnect(r) != 0) continue;
    reply = redisCommandArgv(r->ctx, argc, argv, argvlen);
    if (reply == NULL && attempt == 0) reconnect(r);
  }
  pthread_mutex_unlock(&r->mu);
  if (reply == NULL) {
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
