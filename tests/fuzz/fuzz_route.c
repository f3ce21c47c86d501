/*
 * fuzz_route.c - the gateway's route matching and percent-decoding (gateway/gw_route.c)
 * on any method and path, against the project's own route table.
 *
 * Input: one byte choosing the method, then the path (up to the first NUL). Properties:
 * gw_percent_decode agrees with a plain reference decoder (same length and bytes, or
 * both refuse) and never writes past its buffer, whatever its size; a match binds at
 * most GW_ROUTE_MAX_VARS variables, each the decoded segment it came from; a path that
 * matches for one method matches every other method as 405, never 404.
 */
#include <string.h>

#include "fuzz.h"
#include "gw_route.h"
#include "gw_routes.h"

static gw_route_table table;

static const char *const METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
                                      "get"};
#define NMETHODS (sizeof METHODS / sizeof METHODS[0])

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* The reference: RFC 3986 percent-decoding, '+' as space when asked; refuses a bad
 * escape and a NUL. Writes to out (len + 1 bytes); returns the length or -1. */
static long ref_decode(const char *s, size_t len, char *out, int plus_space) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (len - i < 3 || hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0)
        return -1;
      c = hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]);
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (c == 0) return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return (long)o;
}

static void check_decode(const char *s, size_t len, int plus_space) {
  char *want = malloc(len + 1);
  FUZZ_CHECK(want != NULL);
  long wn = ref_decode(s, len, want, plus_space);
  /* every size from too small to roomy, each buffer exactly that size for ASan */
  size_t sizes[] = {1, 2, (size_t)(wn > 0 ? wn : 1), (size_t)(wn >= 0 ? wn + 1 : 1), len + 1};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t size = sizes[k];
    char *dst = malloc(size);
    FUZZ_CHECK(dst != NULL);
    long n = gw_percent_decode(s, len, dst, size, plus_space);
    if (wn < 0 || (size_t)wn + 1 > size) {
      FUZZ_CHECK(n == -1);
    } else {
      FUZZ_CHECK(n == wn);
      FUZZ_CHECK(memcmp(dst, want, (size_t)wn + 1) == 0);
    }
    free(dst);
  }
  free(want);
}

static void check_match(const char *method, const char *path) {
  const gw_route *route = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t n = 0;
  int m = gw_route_match(&table, method, path, &route, vars, &n);
  FUZZ_CHECK(m == GW_MATCH_OK || m == GW_MATCH_NONE || m == GW_MATCH_BAD_METHOD ||
             m == GW_MATCH_BAD_PATH);
  if (m != GW_MATCH_OK) return;
  FUZZ_CHECK(route != NULL && n <= GW_ROUTE_MAX_VARS);
  FUZZ_CHECK(strcmp(route->def->http_method, method) == 0);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(memchr(vars[i].value, '\0', sizeof vars[i].value) != NULL);
    FUZZ_CHECK(vars[i].value[0] != '\0');
    /* a variable never holds a '/' that was written as one: segments split there */
    FUZZ_CHECK(vars[i].field != NULL && vars[i].field[0] != '\0');
  }
  /* the same path under another method: 405 or another route, never "no such path" */
  for (size_t k = 0; k < NMETHODS; k++) {
    if (strcmp(METHODS[k], method) == 0) continue;
    const gw_route *r2 = NULL;
    size_t n2 = 0;
    int m2 = gw_route_match(&table, METHODS[k], path, &r2, vars, &n2);
    FUZZ_CHECK(m2 == GW_MATCH_OK || m2 == GW_MATCH_BAD_METHOD || m2 == GW_MATCH_BAD_PATH);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (table.routes == NULL) {
    char err[256];
    FUZZ_CHECK(gw_routes_compile(gw_route_defs, gw_route_defs_count, gw_services,
                                 gw_services_count, &table, err, sizeof err) == 0);
  }
  if (size < 1 || size > 16384) return 0;
  const char *method = METHODS[data[0] % NMETHODS];
  size_t len = size - 1;
  char *path = malloc(len + 1);
  FUZZ_CHECK(path != NULL);
  memcpy(path, data + 1, len);
  path[len] = '\0';
  check_decode(path, len, 0);
  check_decode(path, len, 1);
  len = strlen(path); /* the gateway's paths are C strings */
  check_match(method, path);
  const gw_route *by_grpc = gw_route_by_grpc_path(&table, path);
  FUZZ_CHECK(by_grpc == NULL || strcmp(by_grpc->grpc_path, path) == 0);
  free(path);
  return 0;
}
