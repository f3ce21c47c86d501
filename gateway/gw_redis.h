/*
 * gw_redis.h - a worker's connection to Redis on its own event loop, with every wait
 * bounded: connect and command timeouts, reconnection with exponential back-off and
 * jitter, a circuit breaker, and host names resolved off the loops.
 *
 * The breaker: commands are accepted only while the link is up. A command that passes
 * its timeout takes the whole connection down (Redis answers in order, so everything
 * queued behind it is late too), and every command in flight is answered with NULL at
 * once. While down, gw_redis_command refuses at once (the caller answers from its
 * fallback without waiting); after the back-off a new connection sends a PING, and only
 * its answer within the timeout opens the link again (the half-open probe).
 *
 * Host names: a helper thread resolves the configured hosts at start-up and again after
 * each failure; connections always go to a numeric address, so no worker ever waits on
 * DNS. Numeric addresses in the configuration need no thread.
 *
 * Redis Cluster: told apart from a single Redis by the first probe (CLUSTER SLOTS), so
 * the same address works for both; a list of seeds may be given. In a cluster a worker
 * keeps a link per master, each with the states, back-off and breaker above, sends each
 * command to the master of its key's slot (lib/yw_redis_slot.h), and follows -MOVED and
 * -ASK within the command's own timeout. With a single Redis, nothing of this happens
 * once the first probe's CLUSTER SLOTS has been refused.
 *
 * Threads: gw_redis_start / gw_redis_stop on the main thread; a gw_redis belongs to one
 * loop and is used only on its thread.
 */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include <event2/event.h>
#include <stddef.h>

typedef struct gw_redis gw_redis;

/* Runs on the link's loop exactly once per accepted command: reply is the redisReply*
 * (owned by hiredis, valid during the call; an error reply too, such as a redirection
 * that could not be followed), or NULL when the command timed out, the connection was
 * lost, or the link is being freed. */
typedef void gw_redis_cb(void *reply, void *arg);

typedef struct gw_redis_settings {
  const char *addr; /* "host:port", "a.b.c.d:port" or "[v6]:port", or several, with commas */
  int connect_timeout_ms;
  int command_timeout_ms;
  int backoff_max_ms;
} gw_redis_settings;

/* Process-wide start: checks the address (YW_EINVAL with err set when malformed),
 * starts the resolver thread for a host name and waits up to the connect timeout for
 * its first answer (Redis may be absent at start-up: the links keep trying). Returns 0,
 * YW_EINVAL or YW_EIO. */
int gw_redis_start(const gw_redis_settings *s, char *err, size_t errlen);
/* Stops the resolver thread; after every link is freed. */
void gw_redis_stop(void);

/* Makes a link on base and starts connecting. Returns 0 or YW_ENOMEM. */
int gw_redis_new(struct event_base *base, int index, gw_redis **out);
/* Closes the link (in a cluster, every node's); commands in flight are answered with
 * NULL before it returns. Accepts NULL. */
void gw_redis_free(gw_redis *r);

/* Sends a command (argv with lengths, or NULL lengths for NUL-terminated args).
 * Returns 0 when accepted (cb will run later, exactly once), or YW_EUNAVAIL when the
 * link (in a cluster: the link to the master of the command's key's slot) is not up, no
 * master of that slot is known yet, or too many commands are in flight (cb will not
 * run). */
int gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *lens, gw_redis_cb *cb,
                     void *arg);

/* 1 while commands are accepted (in a cluster: a slot map is known and some master's
 * link is up). */
int gw_redis_up(const gw_redis *r);

#endif
