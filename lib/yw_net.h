/*
 * yw_net.h - client addresses as rate limits see them: the text of an IPv4 or IPv6
 * address read into one 16-byte space (IPv4 as ::ffff:a.b.c.d), and the key of a
 * client's budget, so that the gateway's limits and a service's (progress lookups'
 * wrong tries) count the same client the same way.
 */
#ifndef YW_NET_H
#define YW_NET_H

#include <stddef.h>
#include <stdint.h>

/* Reads an address without a prefix into the IPv6 space (IPv4, and IPv4-mapped IPv6,
 * as ::ffff:a.b.c.d). Returns AF_INET, AF_INET6, or 0 for text that is no address. */
int yw_addr_parse(const char *text, uint8_t out[16]);

/* Writes the name of addr's budget: the address itself for IPv4 (mapped IPv6 included),
 * its /64 for IPv6 ("2001:db8:1:2::/64": one subscriber's allocation, inside which
 * SLAAC and privacy addresses rotate). Returns 0, YW_EINVAL (not an address) or
 * YW_ETOOBIG (size too small; 48 bytes always suffice). */
int yw_client_key(const char *addr, char *out, size_t size);

#endif
