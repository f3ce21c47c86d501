/*
 * yw_redis.h - Redis access with hiredis: a few connections that reconnect, commands
 * given as argument vectors only (no format strings, so values can never change a
 * command), and a back-off after a failure so that callers using Redis as a cache or
 * for throttles fall through at once while Redis is down.
 *
 * One Redis or a Redis Cluster, told apart at the first connection (CLUSTER SLOTS), so
 * the same address works for both. In a cluster each command goes to the master of its
 * key's slot (yw_redis_slot.h: argv[1], or the first key of EVAL/EVALSHA/FCALL; keyless
 * commands to a seed), with connections and a back-off per master; -MOVED and -ASK are
 * followed once each within the command's bound, and the slot map is asked again after
 * a redirection or a failed node. Against one Redis nothing of this happens.
 *
 * Time: a command never holds its caller longer than the handle's timeout (or the
 * caller's own bound, yw_redis_command_within), whether Redis is down, unreachable or
 * stopped (SIGSTOP: connections are still accepted, nothing answers). That covers the
 * wait for a free connection, the connect, a redirection or a map refresh, and the
 * answer; only resolving a host name (getaddrinfo, at each reconnect) is outside it.
 * After a failure a node is not tried for 250 ms, doubling to at most 2 s (with jitter)
 * while failures go on; then one caller probes while the others still fall through.
 *
 * Thread-safe: each connection has its own mutex; a command takes a free one.
 * Ownership: a redisReply from yw_redis_command is the caller's (freeReplyObject).
 */
#ifndef YW_REDIS_H
#define YW_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct yw_redis yw_redis;

/* Parses addr, "host:port" (IPv6 as "[addr]:port"), or for a cluster a comma-separated
 * list of seeds (any one is enough: the others are tried when it fails), and makes a
 * handle of up to nconn connections per node whose connects and commands take at most
 * timeout_ms. Opens one connection (which tells a cluster from a single Redis) and PINGs
 * within timeout_ms; the others open when first needed. Returns 0, YW_EINVAL (bad
 * address), YW_EUNAVAIL (no answer: the handle is backing off) or YW_ENOMEM. On
 * YW_EUNAVAIL *out is still set: the handle reconnects on later commands. */
int yw_redis_open(const char *addr, int timeout_ms, int nconn, yw_redis **out);

/* Closes and frees. Accepts NULL. */
void yw_redis_free(yw_redis *r);

/* Runs one command within the handle's timeout; returns the reply, or NULL when Redis
 * is unreachable, did not answer in time, the handle is backing off, no connection came
 * free in time, no master of the key's slot is known, or the reply is an error (err,
 * when not NULL, gets the reason or the error's text; so is a redirection still
 * pointing elsewhere after the hops followed). An error reply is no reason to back off.
 * A command whose connection turns out closed as it is sent is sent once more on a new
 * connection; one that timed out is not (Redis may still run it). argvlen may be NULL
 * for NUL-terminated args. */
redisReply *yw_redis_command(yw_redis *r, int argc, const char **argv, const size_t *argvlen,
                             char *err, size_t errlen);

/* yw_redis_command waiting at most wait_ms (when less than the handle's timeout), for a
 * caller with a deadline of its own, e.g. wait_ms = yw_rpc_call_ms_left(call). */
redisReply *yw_redis_command_within(yw_redis *r, int wait_ms, int argc, const char **argv,
                                    const size_t *argvlen, char *err, size_t errlen);

/* PING (of a seed, in a cluster) within the handle's timeout; returns 0 or YW_EUNAVAIL. */
int yw_redis_ping(yw_redis *r);

#endif
