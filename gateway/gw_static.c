/*
 * gw_static.c - web pages from the gateway: files under the roots of YW_GATEWAY_STATIC
 * ("/=web/resident,/console/=web/console": URL prefix = directory, longest prefix
 * wins), answered on the worker's loop.
 *
 * Which requests: see gw_static.h (GET/HEAD, not /v1/, not a route of the table, not a
 * built-in). The request layer runs it as the "static" phase, after "builtin" and
 * before "route"; it makes the answer and the layer's finish sends it.
 * Static answers pass no rate limit or session check (like the built-ins): they are
 * public files.
 *
 * Why a path cannot leave its root: the path is cleaned first (gw_static_path_clean:
 * no "..", ".", empty segment, dotfile, backslash, control byte, or encoded '/', '\'
 * or NUL), then opened one segment at a time with openat() from the root's directory
 * descriptor, opened once at start-up: every directory with O_PATH | O_DIRECTORY |
 * O_NOFOLLOW and the file with O_NOFOLLOW, so no segment can be a symbolic link (the
 * kernel refuses with ELOOP/ENOTDIR) and no ".." is ever resolved. Symbolic links are
 * therefore refused everywhere beneath a root, also those that point inside it
 * (deploy real files; the root directory itself may be a link). The file must be a
 * regular file (fstat on the opened descriptor, so what is checked is what is read),
 * opened O_NONBLOCK so that a FIFO cannot stall the loop.
 *
 * Reading: files are small (pages, bundles), so a file is read with pread into the
 * request's arena and sent like any answer. Files larger than
 * YW_GATEWAY_STATIC_MAX_FILE (default 2 MiB, and at most 3 x YW_GATEWAY_MAX_BODY +
 * 512 KiB, what the request's arena can hold) answer 404: big downloads belong to the
 * file store, not here. The page cache makes the read a copy; there is no cache of our
 * own (a measured next step if the bench asks for it).
 *
 * Answers: Content-Type by extension; strong ETag "inode-size-mtime_ns" of the file
 * sent (the .gz variant has its own); Last-Modified; If-None-Match (weak comparison,
 * wins over If-Modified-Since) and If-Modified-Since -> 304; FILE.gz beside FILE is
 * sent with content-encoding: gzip when Accept-Encoding allows it, and every answer
 * of a file that has such a variant says vary: accept-encoding; one byte range ->
 * 206 with content-range (If-Range with the ETag or the Last-Modified date; in the
 * bytes of the representation sent, the .gz one included), unsatisfiable -> 416,
 * several ranges -> the whole file; Cache-Control "public,
 * max-age=31536000, immutable" for content-hashed names (gw_static_is_hashed), else
 * "no-cache" (revalidate with the ETag: pages must never be stale); a directory
 * answers its index.html, a directory without its trailing '/' a 301 to it. Every
 * static answer, 404 and 304 included, carries the Content-Security-Policy
 * (YW_GATEWAY_STATIC_CSP), X-Content-Type-Options: nosniff, Referrer-Policy:
 * no-referrer, X-Frame-Options: DENY, Cross-Origin-Opener-Policy and
 * -Resource-Policy: same-origin, and Strict-Transport-Security when the gateway serves
 * TLS (on its cleartext port too, where browsers ignore it, RFC 6797 8.1: the request
 * does not say here which port it came in on).
 *
 * HEAD answers carry the length GET would send and no body; 304 carries no length (the
 * connection layer, gw_conn.c, does both for every answer).
 *
 * Offers: gw_static_cfg, gw_static_init, gw_static_handle.
 */
#include "gw_static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"
#include "yw_err.h"
#include "yw_log.h"

gw_static_config gw_static_cfg;

#define MAX_ROOTS 16

typedef struct static_root {
  char prefix[256]; /* starts and ends with '/' */
  size_t plen;
  int fd;           /* the root directory, open for the process's life */
} static_root;

static static_root roots[MAX_ROOTS]; /* longest prefix first */
static size_t n_roots;
static size_t max_file;

static const char HSTS[] = "max-age=31536000";

int gw_static_init(char *err, size_t errlen) {
  const char *spec = gw_static_cfg.roots != NULL ? gw_static_cfg.roots : "";
  max_file = (size_t)gw_static_cfg.max_file;
  size_t arena_room = (size_t)gw.cfg.max_body * 3 + (512u << 10);
  if (max_file > arena_room) max_file = arena_room;
  const char *p = spec;
  while (*p != '\0') {
    while (*p == ' ' || *p == ',') p++;
    if (*p == '\0') break;
    size_t n = strcspn(p, ",");
    const char *eq = memchr(p, '=', n);
    if (eq == NULL || p[0] != '/' || eq == p || (size_t)(eq - p) + 2 > sizeof roots[0].prefix ||
        eq + 1 == p + n) {
      snprintf(err, errlen, "YW_GATEWAY_STATIC: \"%.*s\" is not URL-PREFIX=DIRECTORY "
               "(the prefix starting with /)", (int)n, p);
      return YW_EINVAL;
    }
    if (n_roots == MAX_ROOTS) {
      snprintf(err, errlen, "YW_GATEWAY_STATIC: at most %d roots", MAX_ROOTS);
      return YW_EINVAL;
    }
    static_root *rt = &roots[n_roots];
    size_t plen = (size_t)(eq - p);
    memcpy(rt->prefix, p, plen);
    if (rt->prefix[plen - 1] != '/') rt->prefix[plen++] = '/';
    rt->prefix[plen] = '\0';
    rt->plen = plen;
    if (strncmp(rt->prefix, "/v1/", 4) == 0) {
      snprintf(err, errlen, "YW_GATEWAY_STATIC: %s is under /v1/, the API's own", rt->prefix);
      return YW_EINVAL;
    }
    for (size_t i = 0; i < n_roots; i++)
      if (strcmp(roots[i].prefix, rt->prefix) == 0) {
        snprintf(err, errlen, "YW_GATEWAY_STATIC: %s is given twice", rt->prefix);
        return YW_EINVAL;
      }
    char dir[PATH_MAX];
    size_t dlen = (size_t)(p + n - (eq + 1));
    if (dlen >= sizeof dir) {
      snprintf(err, errlen, "YW_GATEWAY_STATIC: a directory name is too long");
      return YW_EINVAL;
    }
    memcpy(dir, eq + 1, dlen);
    dir[dlen] = '\0';
    rt->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rt->fd < 0) {
      snprintf(err, errlen, "YW_GATEWAY_STATIC: %s: %s", dir, strerror(errno));
      return YW_EIO;
    }
    yw_log(YW_LOG_INFO, "gateway.static_root", NULL, "%s serves %s", rt->prefix, dir);
    n_roots++;
    p += n;
  }
  /* longest prefix first, so that /console/ wins over / */
  for (size_t i = 1; i < n_roots; i++)
    for (size_t j = i; j > 0 && roots[j].plen > roots[j - 1].plen; j--) {
      static_root t = roots[j];
      roots[j] = roots[j - 1];
      roots[j - 1] = t;
    }
  return 0;
}

/* ---- the answer ------------------------------------------------------------------ */

/* The security headers of every static answer. The caller finishes the answer (the
 * request layer's filters add x-request-id and CORS, log it and send it). */
static void finish(gw_req *r) {
  gw_req_add_header(r, "content-security-policy", gw_static_cfg.csp);
  gw_req_add_header(r, "x-content-type-options", "nosniff");
  gw_req_add_header(r, "referrer-policy", "no-referrer");
  gw_req_add_header(r, "x-frame-options", "DENY");
  gw_req_add_header(r, "cross-origin-opener-policy", "same-origin");
  gw_req_add_header(r, "cross-origin-resource-policy", "same-origin");
  if (gw.ssl_ctx != NULL) gw_req_add_header(r, "strict-transport-security", HSTS);
}

static void respond_text(gw_req *r, int status, const char *text) {
  r->status = status;
  gw_req_add_header(r, "content-type", "text/plain; charset=utf-8");
  gw_req_add_header(r, "cache-control", "no-cache");
  r->resp_body = (uint8_t *)text; /* static text: the connection only reads it */
  r->resp_len = strlen(text); /* a HEAD answer says the length and sends no body */
  finish(r);
}

static void not_found(gw_req *r) { respond_text(r, 404, "not found\n"); }

/* 301 to location (path + "/"), kept in the arena. */
static void redirect_dir(gw_req *r, const char *path, size_t plen) {
  char *loc = yw_arena_alloc(r->arena, plen + 2);
  if (loc == NULL) {
    respond_text(r, 500, "internal error\n");
    return;
  }
  memcpy(loc, path, plen);
  loc[plen] = '/';
  loc[plen + 1] = '\0';
  gw_req_add_header(r, "location", loc);
  respond_text(r, 301, "moved to the directory\n");
}

/* Walks rel (cleaned: no "..", no empty segment) beneath rootfd, each directory opened
 * with O_NOFOLLOW. Returns the descriptor of the last directory (rootfd itself when
 * rel has no '/') and sets *name to the last segment (inside rel; "" after a trailing
 * '/'), or -1. */
static int walk_dirs(int rootfd, char *rel, char **name) {
  int dfd = rootfd;
  char *seg = rel;
  for (;;) {
    char *slash = strchr(seg, '/');
    if (slash == NULL) break;
    *slash = '\0';
    int nfd = openat(dfd, seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    *slash = '/';
    if (dfd != rootfd) close(dfd);
    if (nfd < 0) return -1;
    dfd = nfd;
    seg = slash + 1;
  }
  *name = seg;
  return dfd;
}

/* Opens name in dfd as a regular file or directory (no link, no FIFO wait). */
static int open_leaf(int dfd, const char *name, struct stat *st) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, st) != 0 || (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))) {
    close(fd);
    return -1;
  }
  return fd;
}

static char *arena_copy(gw_req *r, const char *s) { return yw_arena_strndup(r->arena, s, (size_t)-1); }

/* 1 when If-Range (an ETag or a date) still names this representation. */
static int if_range_holds(const char *if_range, const char *etag, time_t mtime) {
  if (if_range == NULL) return 1;
  if (if_range[0] == '"') return strcmp(if_range, etag) == 0; /* strong comparison */
  time_t t;
  return gw_static_parse_http_date(if_range, &t) == 0 && t == mtime;
}

/* Serves the file of root rt for the URL path[0..plen). */
static void serve(gw_req *r, const static_root *rt, const char *path, size_t plen) {
  int head = strcmp(r->method, "HEAD") == 0;
  char *clean = yw_arena_alloc(r->arena, plen + 16);
  long n = clean != NULL ? gw_static_path_clean(path + rt->plen, plen - rt->plen, clean, plen + 1)
                         : -1;
  if (n < 0) {
    not_found(r);
    return;
  }
  char *name = NULL;
  int dfd = walk_dirs(rt->fd, clean, &name);
  if (dfd < 0) {
    not_found(r);
    return;
  }
  int dir_url = name[0] == '\0';
  struct stat st;
  int fd = open_leaf(dfd, dir_url ? "index.html" : name, &st);
  if (fd >= 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    if (dfd != rt->fd) close(dfd);
    if (dir_url) not_found(r); /* index.html is a directory */
    else redirect_dir(r, path, plen);
    return;
  }
  if (fd < 0) {
    if (dfd != rt->fd) close(dfd);
    not_found(r);
    return;
  }
  const char *leaf = dir_url ? "index.html" : name;
  const char *type = gw_static_type(leaf);
  int hashed = gw_static_is_hashed(leaf);

  /* the precompressed variant beside the file */
  char gzname[NAME_MAX + 4];
  int gzfd = -1;
  struct stat gst;
  if (snprintf(gzname, sizeof gzname, "%s.gz", leaf) < (int)sizeof gzname) {
    gzfd = open_leaf(dfd, gzname, &gst);
    if (gzfd >= 0 && !S_ISREG(gst.st_mode)) {
      close(gzfd);
      gzfd = -1;
    }
  }
  if (dfd != rt->fd) close(dfd);
  int has_gz = gzfd >= 0;
  if (has_gz && gw_static_accepts_gzip(gw_req_header(r, "accept-encoding"))) {
    close(fd);
    fd = gzfd;
    st = gst;
    gw_req_add_header(r, "content-encoding", "gzip");
  } else if (has_gz) {
    close(gzfd);
  }
  if ((uint64_t)st.st_size > max_file) {
    close(fd);
    yw_log(YW_LOG_WARN, "gateway.static_too_large", r->request_id,
           "a static file of %lld bytes is over YW_GATEWAY_STATIC_MAX_FILE", (long long)st.st_size);
    r->n_resp_headers = 0;
    not_found(r);
    return;
  }

  char etag_buf[80], date_buf[40];
  gw_static_etag((uint64_t)st.st_ino, (uint64_t)st.st_size,
                 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, etag_buf,
                 sizeof etag_buf);
  gw_static_http_date(st.st_mtim.tv_sec, date_buf, sizeof date_buf);
  char *etag = arena_copy(r, etag_buf), *lastmod = arena_copy(r, date_buf);
  if (etag == NULL || lastmod == NULL) {
    close(fd);
    respond_text(r, 500, "internal error\n");
    return;
  }
  gw_req_add_header(r, "etag", etag);
  gw_req_add_header(r, "last-modified", lastmod);
  gw_req_add_header(r, "cache-control",
                    hashed ? "public, max-age=31536000, immutable" : "no-cache");
  if (has_gz) gw_req_add_header(r, "vary", "accept-encoding");

  /* conditional: If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2) */
  const char *inm = gw_req_header(r, "if-none-match");
  const char *ims = gw_req_header(r, "if-modified-since");
  time_t since;
  int not_modified = inm != NULL ? gw_static_etag_match(inm, etag)
                                 : ims != NULL && gw_static_parse_http_date(ims, &since) == 0 &&
                                       st.st_mtim.tv_sec <= since;
  if (not_modified) {
    close(fd);
    r->status = 304;
    r->resp_len = 0;
    finish(r);
    return;
  }
  gw_req_add_header(r, "content-type", type);
  gw_req_add_header(r, "accept-ranges", "bytes");

  uint64_t size = (uint64_t)st.st_size, first = 0, last = size > 0 ? size - 1 : 0;
  int status = 200;
  const char *range = gw_req_header(r, "range");
  if (range != NULL && !head && if_range_holds(gw_req_header(r, "if-range"), etag, st.st_mtim.tv_sec)) {
    int rc = gw_static_range(range, size, &first, &last);
    char cr[80];
    if (rc < 0) {
      close(fd);
      snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
      char *crv = arena_copy(r, cr);
      if (crv != NULL) gw_req_add_header(r, "content-range", crv);
      r->status = 416;
      r->resp_len = 0;
      finish(r);
      return;
    }
    if (rc > 0) {
      status = 206;
      snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)first,
               (unsigned long long)last, (unsigned long long)size);
      char *crv = arena_copy(r, cr);
      if (crv != NULL) gw_req_add_header(r, "content-range", crv);
    }
  }
  size_t len = size == 0 ? 0 : (size_t)(last - first + 1);
  r->status = status;
  if (head) {
    close(fd);
    /* the length of what GET would send; the connection sends no body for HEAD */
    r->resp_body = (uint8_t *)"";
    r->resp_len = len;
    finish(r);
    return;
  }
  uint8_t *buf = len > 0 ? yw_arena_alloc(r->arena, len) : NULL;
  if (len > 0 && buf == NULL) {
    close(fd);
    r->n_resp_headers = 0;
    respond_text(r, 503, "out of memory, try again\n");
    return;
  }
  size_t got = 0;
  while (got < len) {
    ssize_t k = pread(fd, buf + got, len - got, (off_t)(first + got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  if (got != len) { /* shrunk under us, or an I/O error */
    r->n_resp_headers = 0;
    respond_text(r, 500, "the file changed while it was read, try again\n");
    return;
  }
  r->resp_body = buf;
  r->resp_len = len;
  finish(r);
}

int gw_static_handle(gw_req *r) {
  if (n_roots == 0 || r->kind != GW_KIND_JSON || r->method == NULL || r->path == NULL) return 0;
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) return 0;
  const char *path = r->path;
  size_t plen = strcspn(path, "?");
  if (plen == 0 || path[0] != '/') return 0;
  if (strncmp(path, "/v1", 3) == 0 && (plen == 3 || path[3] == '/')) return 0;
  const static_root *rt = NULL;
  int bare_prefix = 0; /* "/console" for the prefix "/console/" */
  for (size_t i = 0; i < n_roots && rt == NULL; i++) {
    if (plen >= roots[i].plen && memcmp(path, roots[i].prefix, roots[i].plen) == 0) {
      rt = &roots[i];
    } else if (plen + 1 == roots[i].plen && memcmp(path, roots[i].prefix, plen) == 0) {
      rt = &roots[i];
      bare_prefix = 1;
    }
  }
  if (rt == NULL) return 0;
  /* a route of the table (any method) wins over a static prefix */
  char *p0 = yw_arena_strndup(r->arena, path, plen);
  if (p0 == NULL) return 0;
  const gw_route *route = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t nvars = 0;
  if (gw_route_match(&gw.routes, r->method, p0, &route, vars, &nvars) != GW_MATCH_NONE) return 0;
  r->metric_slot = gw.slot_builtin;
  if (bare_prefix)
    redirect_dir(r, path, plen);
  else
    serve(r, rt, p0, plen);
  return 1;
}
