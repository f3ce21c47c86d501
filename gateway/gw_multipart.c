/*
 * gw_multipart.c - the streaming multipart/form-data parser (gw_multipart.h).
 *
 * The body is read as if it began with CRLF, so every delimiter, the first included,
 * is "\r\n--" boundary. Inside a part the parser looks for that delimiter one byte at
 * a time only from a CR on; runs without a CR are handed out as they stand (memchr).
 * A CR starts a possible delimiter: its bytes are held back (they equal the
 * delimiter's own prefix, so nothing needs copying) until the delimiter completes
 * or a byte differs, and then handed out from the delimiter string. Because a
 * boundary may not contain CR, no held-back byte after the first can begin another
 * match, so one counter is the whole matcher state, whatever the read sizes.
 *
 * Offers: gw_multipart_boundary, gw_multipart_init, gw_multipart_feed,
 * gw_multipart_finish.
 */
#include "gw_multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
  S_PREAMBLE = 0, /* before the first delimiter */
  S_AFTER_DELIM,  /* a delimiter ended: "--", padding or CRLF next */
  S_CLOSE,        /* one '-' of the closing "--" seen */
  S_PAD,          /* transport padding after a delimiter */
  S_LF,           /* the CR of the delimiter line's end seen */
  S_HEADERS,      /* a part's header block */
  S_BODY,         /* a part's data */
  S_EPILOGUE,     /* after the closing delimiter */
};

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=? and space (not last). */
static int boundary_ok(const char *b, size_t n) {
  if (n < 1 || n > GW_MP_BOUNDARY_MAX || b[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)b[i];
    if (!isalnum(c) && strchr("'()+_,-./:=? ", c) == NULL) return 0;
  }
  return 1;
}

/* Skips spaces and tabs. */
static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

/*
 * Reads a parameter value at p (a token or a quoted-string with backslash escapes) into
 * out (size bytes, truncation refused). Returns the position after it, or NULL.
 */
static const char *param_value(const char *p, char *out, size_t size) {
  size_t o = 0;
  if (*p == '"') {
    p++;
    while (*p != '"') {
      if (*p == '\0') return NULL;
      if (*p == '\\' && p[1] != '\0') p++;
      if (o + 1 >= size) return NULL;
      out[o++] = *p++;
    }
    p++;
  } else {
    while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t') {
      if (o + 1 >= size || (unsigned char)*p < 0x20 || *p == '"') return NULL;
      out[o++] = *p++;
    }
    if (o == 0) return NULL;
  }
  out[o] = '\0';
  return p;
}

/*
 * Walks the "; name=value" parameters after a media type or disposition. For each, fn
 * gets the lower-case name and the value. Returns 0 or GW_MP_EBAD.
 */
typedef int (*param_fn)(void *arg, const char *name, const char *value);

static int each_param(const char *p, param_fn fn, void *arg) {
  char value[512];
  for (;;) {
    p = skip_ws(p);
    if (*p == '\0') return 0;
    if (*p != ';') return GW_MP_EBAD;
    p = skip_ws(p + 1);
    if (*p == '\0') return 0; /* a trailing ';' */
    char name[32];
    size_t n = 0;
    while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' && *p != '\t') {
      if (n + 1 >= sizeof name) return GW_MP_EBAD;
      name[n++] = (char)tolower((unsigned char)*p++);
    }
    name[n] = '\0';
    p = skip_ws(p);
    if (n == 0 || *p != '=') return GW_MP_EBAD;
    p = param_value(skip_ws(p + 1), value, sizeof value);
    if (p == NULL) return GW_MP_EBAD;
    if (fn(arg, name, value) != 0) return GW_MP_EBAD;
  }
}

static int boundary_param(void *arg, const char *name, const char *value) {
  if (strcmp(name, "boundary") == 0) {
    size_t n = strlen(value);
    if (!boundary_ok(value, n)) return -1;
    memcpy(arg, value, n + 1);
  }
  return 0;
}

int gw_multipart_boundary(const char *content_type, char *out) {
  if (content_type == NULL) return GW_MP_EBAD;
  const char *p = skip_ws(content_type);
  static const char type[] = "multipart/form-data";
  if (strncasecmp(p, type, sizeof type - 1) != 0) return GW_MP_EBAD;
  out[0] = '\0';
  if (each_param(p + sizeof type - 1, boundary_param, out) != 0) return GW_MP_EBAD;
  return out[0] != '\0' ? 0 : GW_MP_EBAD;
}

int gw_multipart_init(gw_multipart *m, const char *boundary, int max_parts,
                      const gw_mp_callbacks *cb, void *arg) {
  memset(m, 0, sizeof *m);
  size_t n = strlen(boundary);
  if (!boundary_ok(boundary, n) || max_parts < 1) return GW_MP_EBAD;
  memcpy(m->delim, "\r\n--", 4);
  memcpy(m->delim + 4, boundary, n);
  m->dlen = 4 + n;
  m->matched = 2; /* the body is read as if it began with CRLF */
  m->state = S_PREAMBLE;
  m->max_parts = max_parts;
  m->cb = *cb;
  m->arg = arg;
  return 0;
}

/* ---- a part's headers ------------------------------------------------------------ */

static int disposition_param(void *arg, const char *name, const char *value) {
  gw_mp_part *part = arg;
  if (strcmp(name, "name") == 0) {
    if (strlen(value) >= sizeof part->name) return -1;
    snprintf(part->name, sizeof part->name, "%s", value);
  } else if (strcmp(name, "filename") == 0) {
    if (strlen(value) >= sizeof part->filename) return -1;
    snprintf(part->filename, sizeof part->filename, "%s", value);
    part->has_filename = 1;
  }
  return 0; /* others (filename*, which RFC 7578 says not to use) are ignored */
}

/* Parses the header block hbuf[0..hlen) (lines ending CRLF, the last one empty). */
static int parse_headers(gw_multipart *m) {
  gw_mp_part *part = &m->part;
  memset(part, 0, sizeof *part);
  int disposition = 0;
  char *p = m->hbuf;
  char *end = m->hbuf + m->hlen;
  while (p < end) {
    char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL || eol + 1 >= end || eol[1] != '\n') return GW_MP_EBAD;
    if (eol == p) break; /* the empty line */
    *eol = '\0';
    if (memchr(p, '\n', (size_t)(eol - p)) != NULL) return GW_MP_EBAD; /* a bare LF */
    char *colon = strchr(p, ':');
    if (colon == NULL || colon == p || *p == ' ' || *p == '\t') return GW_MP_EBAD;
    for (char *q = p; q < colon; q++)
      if (!isgraph((unsigned char)*q)) return GW_MP_EBAD;
    *colon = '\0';
    const char *value = skip_ws(colon + 1);
    if (strcasecmp(p, "content-disposition") == 0) {
      static const char fd[] = "form-data";
      if (disposition || strncasecmp(value, fd, sizeof fd - 1) != 0) return GW_MP_EBAD;
      disposition = 1;
      if (each_param(value + sizeof fd - 1, disposition_param, part) != 0) return GW_MP_EBAD;
    } else if (strcasecmp(p, "content-type") == 0) {
      size_t n = strlen(value);
      while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
      if (n >= sizeof part->content_type) return GW_MP_EBAD;
      memcpy(part->content_type, value, n);
      part->content_type[n] = '\0';
    }
    p = eol + 2;
  }
  if (!disposition || part->name[0] == '\0') return GW_MP_EBAD;
  return 0;
}

/* ---- feeding --------------------------------------------------------------------- */

/* Hands part data out (inside a part only). */
static int emit(gw_multipart *m, const uint8_t *d, size_t n) {
  if (m->state != S_BODY || n == 0) return 0;
  return m->cb.part_data(m->arg, d, n);
}

long gw_multipart_feed(gw_multipart *m, const uint8_t *data, size_t len) {
  size_t i = 0;
  int rc = 0;
  while (i < len) {
    int st = m->state;
    if (st == S_PREAMBLE || st == S_BODY) {
      if (m->matched == 0) {
        const uint8_t *cr = memchr(data + i, '\r', len - i);
        size_t stop = cr != NULL ? (size_t)(cr - data) : len;
        rc = emit(m, data + i, stop - i);
        i = stop;
        if (rc != 0) break;
        if (cr == NULL) break;
        m->matched = 1;
        i++;
        continue;
      }
      if ((char)data[i] == m->delim[m->matched]) {
        i++;
        if (++m->matched < m->dlen) continue;
        /* a whole delimiter: the part before it (if any) ends */
        m->matched = 0;
        m->state = S_AFTER_DELIM;
        if (m->in_part) {
          m->in_part = 0;
          rc = m->cb.part_end(m->arg);
          if (rc != 0) break;
        }
        continue;
      }
      /* not a delimiter after all: what was held back is data; data[i] is looked at
       * again from the start */
      size_t held = m->matched;
      m->matched = 0;
      rc = emit(m, (const uint8_t *)m->delim, held);
      if (rc != 0) break;
      continue;
    }
    uint8_t c = data[i++];
    switch (st) {
    case S_AFTER_DELIM:
      if (c == '-') {
        m->state = S_CLOSE;
      } else if (c == ' ' || c == '\t') {
        m->state = S_PAD;
      } else if (c == '\r') {
        m->state = S_LF;
      } else {
        return GW_MP_EBAD;
      }
      break;
    case S_CLOSE:
      if (c != '-') return GW_MP_EBAD;
      m->state = S_EPILOGUE;
      break;
    case S_PAD:
      if (c == '\r')
        m->state = S_LF;
      else if (c != ' ' && c != '\t')
        return GW_MP_EBAD;
      break;
    case S_LF:
      if (c != '\n') return GW_MP_EBAD;
      if (++m->parts > m->max_parts) return GW_MP_ETOOBIG;
      m->state = S_HEADERS;
      m->hlen = 0;
      break;
    case S_HEADERS:
      if (m->hlen >= sizeof m->hbuf) return GW_MP_ETOOBIG;
      m->hbuf[m->hlen++] = (char)c;
      if (c == '\n' && ((m->hlen == 2 && m->hbuf[0] == '\r') ||
                        (m->hlen >= 4 && memcmp(m->hbuf + m->hlen - 4, "\r\n\r\n", 4) == 0))) {
        if (parse_headers(m) != 0) return GW_MP_EBAD;
        m->state = S_BODY;
        m->in_part = 1;
        m->matched = 0;
        rc = m->cb.part_begin(m->arg, &m->part);
      }
      break;
    default: /* S_EPILOGUE: ignored */
      i = len;
      break;
    }
    if (rc != 0) break;
  }
  if (rc < 0) return rc;
  return (long)i;
}

int gw_multipart_finish(const gw_multipart *m) {
  return m->state == S_EPILOGUE ? 0 : GW_MP_EBAD;
}
