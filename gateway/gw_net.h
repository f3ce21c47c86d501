/*
 * gw_net.h - addresses and networks as bits, not text: lists of CIDR networks (the
 * trusted proxies, the /metrics allow-list) parsed once at start-up and matched by
 * prefix bits, and the key a client's rate-limit bucket is named by.
 *
 * Text prefixes are wrong both ways: "10.1.2.1" as a prefix also admits 10.1.2.100, and
 * "::1" admits "::1:5"; an IPv6 client moves freely inside its /64, so a bucket per full
 * address is a bucket per request for it.
 *
 * Pure functions, no allocation, no logging; safe from any thread.
 */
#ifndef GW_NET_H
#define GW_NET_H

#include <stddef.h>
#include <stdint.h>

#define GW_NET_MAX 64 /* networks in one list */

/* An address (bits = 32 or 128) or a network. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are held as IPv4, so a dual-stack listener's peers match IPv4 lists. */
typedef struct gw_net {
  int family;       /* AF_INET or AF_INET6 */
  uint8_t addr[16]; /* network byte order; IPv4 as ::ffff:a.b.c.d */
  int bits;         /* prefix length in the family: 0-32 or 0-128 */
} gw_net;

typedef struct gw_net_list {
  gw_net nets[GW_NET_MAX];
  size_t n;
} gw_net_list;

/* Parses one address ("192.0.2.7", "2001:db8::1") or network ("10.0.0.0/8",
 * "2001:db8::/32"); a bare address is a /32 or /128. len bytes of text are read (no NUL
 * needed). Returns 0, or YW_EINVAL for anything else, including a prefix length out of
 * range and host bits set below the prefix ("10.0.0.1/8": a typo for either 10.0.0.1
 * or 10.0.0.0/8, so it is refused rather than guessed). */
int gw_net_parse(const char *text, size_t len, gw_net *out);

/* Parses a comma-separated list (spaces around entries allowed; empty list allowed).
 * Returns 0, or YW_EINVAL with err naming the bad entry (also for more than GW_NET_MAX
 * entries). */
int gw_net_list_parse(const char *text, gw_net_list *out, char *err, size_t errlen);

/* 1 when the address text (a peer or a forwarded hop) lies in one of the networks;
 * 0 otherwise, also for text that is not an address. */
int gw_net_list_match(const gw_net_list *list, const char *addr);

#endif
