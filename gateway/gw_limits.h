/*
 * gw_limits.h - the gateway's own token buckets, used while Redis cannot be asked.
 *
 * One table per process, shared by every worker: a client whose connections land on
 * different workers (SO_REUSEPORT spreads them) has one budget, not one per worker. The
 * table is split into shards, each behind its own mutex, so workers seldom wait on each
 * other. Each entry keeps its full key, so two keys never share a bucket; the table has
 * a fixed size, and a new key evicts, within a short probe window, the entry that is
 * soonest back to a full bucket (an entry already full is as good as absent).
 *
 * Thread-safe. Ownership: gw_limits_new allocates; gw_limits_free frees (accepts NULL).
 */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

#include <stddef.h>

#define GW_LIMITS_KEY_MAX 79 /* bytes of a key, without the NUL */

typedef struct gw_limits gw_limits;

/* Makes a table of at least capacity entries (rounded up to a power of two, at least
 * 1024). Returns 0 or YW_ENOMEM. */
int gw_limits_new(size_t capacity, gw_limits **out);

void gw_limits_free(gw_limits *t);

/* Takes one token from key's bucket (rate tokens a second, at most burst) at now_ms (a
 * monotonic clock). Sets *wait_ms to 0 when the token was taken, else to how long
 * until one will be there. Returns 0, or YW_EINVAL (key empty or longer than
 * GW_LIMITS_KEY_MAX, rate or burst not positive). */
int gw_limits_take(gw_limits *t, const char *key, double rate, double burst, long long now_ms,
                   long *wait_ms);

/* Entries that were evicted before their bucket had refilled: a sign the table is too
 * small for the number of clients. */
unsigned long long gw_limits_evictions(const gw_limits *t);

#endif
