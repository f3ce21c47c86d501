/*
 * gw_lease.h - tokens a worker has taken ahead from a client's shared bucket in Redis.
 *
 * Every request takes a token from its client's bucket in Redis (gw_auth.c). A client
 * that sends many requests in a row would pay one Redis round trip each; instead the
 * worker asks for several tokens at once and spends them locally, one per request,
 * until they run out or grow old. The tokens come out of the shared bucket, so all
 * gateways together still admit no more than the bucket allows; what a lease can do is
 * refuse a little early, while another worker still holds tokens it has not spent.
 * That is bounded: a lease asks for 1 token at first, doubles while the client keeps
 * coming back for more within a second, never asks beyond max (gw_auth sets it from
 * the burst), and unspent tokens lapse after GW_LEASE_TTL_MS.
 *
 * One table per worker, used only on that worker's loop: not thread-safe, no locks.
 * Fixed size; a key whose slot another key holds replaces it (the other's tokens are
 * dropped, which only ever refuses early). Ownership: gw_lease_new allocates,
 * gw_lease_free frees (accepts NULL). A NULL table (no memory) holds no tokens: every
 * request then asks Redis for one.
 */
#ifndef GW_LEASE_H
#define GW_LEASE_H

#define GW_LEASE_KEY_MAX 95 /* bytes of a key, without the NUL */
#define GW_LEASE_TTL_MS 1000

typedef struct gw_lease gw_lease;

/* A table of slots entries (rounded up to a power of two). Returns NULL without memory. */
gw_lease *gw_lease_new(unsigned slots);

void gw_lease_free(gw_lease *t);

/* Spends one of key's leased tokens at now_ms (monotonic). 1: spent; 0: none left,
 * ask Redis. A key that is too long never has a lease. */
int gw_lease_spend(gw_lease *t, const char *key, long long now_ms);

/* How many tokens to ask Redis for now (1..max): 1 for a client not seen lately, twice
 * the last ask while it keeps coming back within GW_LEASE_TTL_MS of its last grant. */
int gw_lease_want(gw_lease *t, const char *key, long long now_ms, int max);

/* Redis granted key granted tokens (>= 1) at now_ms, one of them for the request that
 * asked: the rest are kept for the requests to come. */
void gw_lease_grant(gw_lease *t, const char *key, int granted, long long now_ms);

#endif
