/*
 * gw_static.h - web pages from the gateway: static files under configured roots.
 *
 * Two parts. gw_static_http.c (in yw_gateway_core, unit-tested) holds the pure HTTP
 * helpers: path cleaning, content types, the content-hash rule, ETags, conditional
 * requests, byte ranges, HTTP dates. gw_static.c (in yw-gateway) holds the settings,
 * the roots opened at start-up and gw_static_handle, which answers a request on the
 * worker's loop.
 *
 * Which requests are static (the rule against the route table): GET and HEAD only,
 * JSON kind only (never gRPC / gRPC-Web), never a path under /v1/, never a path any
 * route of the table matches with any method, and never the built-ins (/healthz,
 * /readyz, /metrics), which the builtin phase answers first. Everything else under a
 * configured URL prefix is answered here, 404 included; a path under no prefix is
 * declined and goes on to the route table.
 */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct gw_req gw_req;

/* Settings, filled by gw_main.c's configuration table before gw_static_init. */
typedef struct gw_static_config {
  char *roots;    /* "/=web/resident,/console/=web/console"; empty disables */
  char *csp;      /* Content-Security-Policy of every static answer */
  long max_file;  /* bytes: larger files answer 404 (they are read into the request) */
} gw_static_config;

extern gw_static_config gw_static_cfg;

/* Process-wide, after the configuration is loaded and before the workers start: parses
 * gw_static_cfg.roots and opens each root directory (kept open for the process's life).
 * Returns 0, or YW_EINVAL / YW_EIO with err saying which setting (the process must not
 * start). */
int gw_static_init(char *err, size_t errlen);

/* Makes r's answer from the static roots (status, headers with the security headers,
 * body in r's arena) and returns 1; the caller then finishes it like any answer
 * (filters, access log, send: the "static" phase returns GW_DONE). Returns 0 without
 * touching r when the request is not static (see the rule above): the next phase goes
 * on. Worker's thread; synchronous (small files, read with a size cap). */
int gw_static_handle(gw_req *r);

/* ---- pure helpers (gw_static_http.c) ---------------------------------------------- */

/*
 * Cleans the URL path raw[0..len) (no query, after the static prefix, no leading '/')
 * into a relative file path in out (size bytes, NUL-terminated): percent-decoded, every
 * segment checked. Refused (-1): bad percent-encoding, a decoded NUL, '/' or '\' (%2F,
 * %5C), a raw backslash, control bytes, an empty segment ("a//b"), a segment that starts
 * with '.' (so ".", ".." and dotfiles such as .git or .env), or out too small. A trailing
 * '/' is kept (a directory). Returns the length of out.
 */
long gw_static_path_clean(const char *raw, size_t len, char *out, size_t size);

/* Content type by the name's extension (charset=utf-8 for text); the default is
 * application/octet-stream. Static strings. */
const char *gw_static_type(const char *name);

/* 1 when the file name (last segment) carries a content hash: a run of 8 or more hex
 * digits with at least one digit, between '.', '-' or '_' and before the extension
 * (app.3f9a1c2b.js, chunk-0a1b2c3d4e.css); else 0. */
int gw_static_is_hashed(const char *name);

/* Writes the strong ETag "ino-size-mtime_ns" (hex, quoted) into out. */
void gw_static_etag(uint64_t ino, uint64_t size, int64_t mtime_ns, char *out, size_t size_out);

/* 1 when the If-None-Match value (a list, or "*") matches etag by the weak comparison
 * (W/ prefixes ignored), else 0. */
int gw_static_etag_match(const char *if_none_match, const char *etag);

/* Parses a Range value against a representation of size bytes. Returns 1 with
 * *first..*last (inclusive) for one satisfiable range ("bytes=a-b", "bytes=a-",
 * "bytes=-n"; b past the end is clamped), -1 when it is unsatisfiable (416), 0 when the
 * header is to be ignored (not bytes, several ranges, malformed): the whole file. */
int gw_static_range(const char *range, uint64_t size, uint64_t *first, uint64_t *last);

/* Writes t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out (>= 30 bytes). */
void gw_static_http_date(time_t t, char *out, size_t size);

/* Parses an IMF-fixdate; 0 with *t, or -1 (other formats are treated as absent). */
int gw_static_parse_http_date(const char *s, time_t *t);

/* 1 when an Accept-Encoding value accepts gzip (gzip or x-gzip or *, q > 0), else 0. */
int gw_static_accepts_gzip(const char *accept_encoding);

#endif
