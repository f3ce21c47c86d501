/*
 * gw_net.c - CIDR networks and client keys (see gw_net.h).
 *
 * Every address is held in the IPv6 space, IPv4 as ::ffff:a.b.c.d with its prefix
 * length plus 96, so one comparison of leading bits serves both families and a peer
 * that a dual-stack socket reports as ::ffff:10.0.0.7 matches "10.0.0.0/8". IPv4
 * addresses match IPv4 networks only, IPv6 ones IPv6 networks only.
 *
 * Offers: gw_net_parse, gw_net_list_parse, gw_net_list_match. Client keys are
 * lib/yw_net.h's (yw_client_key), which services use too.
 */
#include "gw_net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "yw_err.h"
#include "yw_net.h"

/* The prefix length in the IPv6 space. */
static int bits128(const gw_net *n) { return n->family == AF_INET ? n->bits + 96 : n->bits; }

/* 1 when the first bits of a and b are equal. */
static int same_prefix(const uint8_t *a, const uint8_t *b, int bits) {
  int whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)whole) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

int gw_net_parse(const char *text, size_t len, gw_net *out) {
  char buf[64];
  if (len == 0 || len >= sizeof buf) return YW_EINVAL;
  memcpy(buf, text, len);
  buf[len] = '\0';
  char *slash = strchr(buf, '/');
  int bits = -1;
  if (slash != NULL) {
    *slash = '\0';
    const char *p = slash + 1;
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 3 || p[nd] != '\0') return YW_EINVAL;
    bits = 0;
    for (size_t i = 0; i < nd; i++) bits = bits * 10 + (p[i] - '0');
  }
  gw_net n;
  memset(&n, 0, sizeof n);
  n.family = yw_addr_parse(buf, n.addr);
  if (n.family == 0) return YW_EINVAL;
  /* an IPv4 network written in the mapped form, e.g. ::ffff:10.0.0.0/104 */
  int written_v6 = strchr(buf, ':') != NULL;
  int max = n.family == AF_INET && !written_v6 ? 32 : 128;
  if (bits > max) return YW_EINVAL;
  if (bits < 0) bits = max;
  if (n.family == AF_INET && written_v6) {
    if (bits < 96) {
      n.family = AF_INET6; /* wider than the mapped range: a plain IPv6 network */
    } else {
      bits -= 96;
    }
  }
  n.bits = bits;
  /* host bits below the prefix must be zero */
  int b = bits128(&n);
  for (int i = b; i < 128; i++)
    if ((n.addr[i / 8] >> (7 - i % 8)) & 1) return YW_EINVAL;
  *out = n;
  return 0;
}

int gw_net_list_parse(const char *text, gw_net_list *out, char *err, size_t errlen) {
  out->n = 0;
  const char *p = text != NULL ? text : "";
  while (*p != '\0') {
    while (*p == ' ' || *p == ',') p++;
    size_t len = strcspn(p, ",");
    size_t end = len;
    while (end > 0 && p[end - 1] == ' ') end--;
    if (end > 0) {
      if (out->n == GW_NET_MAX) {
        snprintf(err, errlen, "more than %d networks", GW_NET_MAX);
        return YW_EINVAL;
      }
      if (gw_net_parse(p, end, &out->nets[out->n]) != 0) {
        snprintf(err, errlen,
                 "\"%.*s\" is not an address or network (write 10.0.0.0/8, 192.0.2.7, "
                 "2001:db8::/32; host bits must be zero)",
                 (int)(end < 64 ? end : 64), p);
        return YW_EINVAL;
      }
      out->n++;
    }
    p += len;
  }
  return 0;
}

int gw_net_list_match(const gw_net_list *list, const char *addr) {
  uint8_t a[16];
  int family = list != NULL && addr != NULL ? yw_addr_parse(addr, a) : 0;
  if (family == 0) return 0;
  /* families never cross: "::/0" is every IPv6 address, not every address */
  for (size_t i = 0; i < list->n; i++)
    if (list->nets[i].family == family &&
        same_prefix(a, list->nets[i].addr, bits128(&list->nets[i])))
      return 1;
  return 0;
}
