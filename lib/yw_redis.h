/*
 * yw_redis.h - Redis access with hiredis: one connection that reconnects, commands given
 * as argument vectors only (no format strings, so values can never change a command).
 *
 * Thread-safe: a mutex serialises commands on the connection.
 * Ownership: a redisReply from yw_redis_command is the caller's (freeReplyObject).
 */
#ifndef YW_REDIS_H
#define YW_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct yw_redis yw_redis;

/* Parses "host:port" and connects with timeout_ms for connect and commands.
 * Returns 0, YW_EINVAL (bad address), YW_EUNAVAIL or YW_ENOMEM. On YW_EUNAVAIL *out is
 * still set: the handle retries on the next command. */
int yw_redis_open(const char *addr, int timeout_ms, yw_redis **out);

/* Closes and frees. Accepts NULL. */
void yw_redis_free(yw_redis *r);

/* Runs one command; returns the reply, or NULL when Redis is unreachable (after one
 * reconnect attempt) or the reply is an error (err gets its text when not NULL). */
redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen);

/* PING; returns 0 or YW_EUNAVAIL. */
int yw_redis_ping(yw_redis *r);

#endif
