/*
 * yw_net.c - client addresses and their budget keys (see yw_net.h).
 *
 * Offers: yw_addr_parse, yw_client_key.
 */
#include "yw_net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "yw_err.h"

static const uint8_t V4MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int yw_addr_parse(const char *text, uint8_t out[16]) {
  if (strchr(text, ':') != NULL) {
    if (inet_pton(AF_INET6, text, out) != 1) return 0;
    return memcmp(out, V4MAPPED, sizeof V4MAPPED) == 0 ? AF_INET : AF_INET6;
  }
  memcpy(out, V4MAPPED, sizeof V4MAPPED);
  return inet_pton(AF_INET, text, out + 12) == 1 ? AF_INET : 0;
}

int yw_client_key(const char *addr, char *out, size_t size) {
  uint8_t a[16];
  int family = addr != NULL ? yw_addr_parse(addr, a) : 0;
  if (family == 0) return YW_EINVAL;
  char text[INET6_ADDRSTRLEN];
  if (family == AF_INET) {
    inet_ntop(AF_INET, a + 12, text, sizeof text);
    if ((size_t)snprintf(out, size, "%s", text) >= size) return YW_ETOOBIG;
    return 0;
  }
  memset(a + 8, 0, 8);
  inet_ntop(AF_INET6, a, text, sizeof text);
  if ((size_t)snprintf(out, size, "%s/64", text) >= size) return YW_ETOOBIG;
  return 0;
}
