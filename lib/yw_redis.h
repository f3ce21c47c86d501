/*
 * yw_redis.h - Redis access with hiredis: a few connections that reconnect, commands
 * given as argument vectors only (no format strings, so values can never change a
 * command), and a short back-off after a failure so that callers using Redis as a
 * cache fall through to the database at once while Redis is down.
 *
 * Thread-safe: each connection has its own mutex; a command takes a free one.
 * Ownership: a redisReply from yw_redis_command is the caller's (freeReplyObject).
 */
#ifndef YW_REDIS_H
#define YW_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct yw_redis yw_redis;

/* Parses "host:port" and opens nconn connections with timeout_ms for connect and
 * commands. Returns 0, YW_EINVAL (bad address), YW_EUNAVAIL or YW_ENOMEM. On
 * YW_EUNAVAIL *out is still set: the handle reconnects on later commands. */
int yw_redis_open(const char *addr, int timeout_ms, int nconn, yw_redis **out);

/* Closes and frees. Accepts NULL. */
void yw_redis_free(yw_redis *r);

/* Runs one command; returns the reply, or NULL when Redis is unreachable (after one
 * reconnect attempt; then for a second no attempt is made) or the reply is an error
 * (err gets its text when not NULL). argvlen may be NULL for NUL-terminated args. */
redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen);

/* PING; returns 0 or YW_EUNAVAIL. */
int yw_redis_ping(yw_redis *r);

#endif
