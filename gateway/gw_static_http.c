/*
 * gw_static_http.c - the pure HTTP helpers of static files: no I/O, no state, so that
 * the unit tests can take every edge (tests/unit/test_static.c).
 *
 * Path cleaning refuses rather than normalises: a path with "..", ".", an empty
 * segment, a dotfile, a backslash, a control byte or a percent-encoded '/', '\' or NUL
 * is not a file of ours, whatever a normaliser would make of it. Only what is left is
 * looked up, one segment at a time, beneath the root's descriptor (gw_static.c).
 *
 * Offers: gw_static_path_clean, gw_static_type, gw_static_is_hashed, gw_static_etag,
 * gw_static_etag_match, gw_static_range, gw_static_http_date,
 * gw_static_parse_http_date, gw_static_accepts_gzip.
 */
#include "gw_static.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long gw_static_path_clean(const char *raw, size_t len, char *out, size_t size) {
  size_t o = 0, seg = 0; /* seg: where the current segment starts in out */
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)raw[i];
    if (c == '/') {
      if (o == seg) return -1; /* empty segment: "a//b" or a leading '/' */
      if (o + 1 >= size) return -1;
      out[o++] = '/';
      seg = o;
      continue;
    }
    if (c == '%') {
      if (len - i < 3) return -1;
      int h = hexval((unsigned char)raw[i + 1]), l = hexval((unsigned char)raw[i + 2]);
      if (h < 0 || l < 0) return -1;
      c = h * 16 + l;
      i += 2;
      if (c == '/') return -1; /* %2F: a separator in disguise */
    }
    if (c == '\0' || c == '\\' || c < 0x20 || c == 0x7f) return -1;
    if (o == seg && c == '.') return -1; /* ".", "..", ".git", ".env" */
    if (o + 1 >= size) return -1;
    out[o++] = (char)c;
  }
  if (size == 0) return -1;
  out[o] = '\0';
  return (long)o;
}

static const struct {
  const char *ext;
  const char *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"gz", "application/gzip"},
};

const char *gw_static_type(const char *name) {
  const char *slash = strrchr(name, '/');
  const char *base = slash != NULL ? slash + 1 : name;
  const char *dot = strrchr(base, '.');
  if (dot != NULL && dot != base) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
  }
  return "application/octet-stream";
}

int gw_static_is_hashed(const char *name) {
  const char *slash = strrchr(name, '/');
  const char *base = slash != NULL ? slash + 1 : name;
  const char *ext = strrchr(base, '.');
  if (ext == NULL || ext == base) return 0; /* the hash is before an extension */
  const char *p = base;
  while (p < ext) {
    size_t n = 0, digits = 0;
    int hex = 1;
    while (p + n < ext && p[n] != '.' && p[n] != '-' && p[n] != '_') {
      if (hexval((unsigned char)p[n]) < 0) hex = 0;
      if (isdigit((unsigned char)p[n])) digits++;
      n++;
    }
    if (hex && n >= 8 && digits > 0) return 1;
    p += n + 1;
  }
  return 0;
}

void gw_static_etag(uint64_t ino, uint64_t size, int64_t mtime_ns, char *out, size_t size_out) {
  snprintf(out, size_out, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", ino, size,
           (uint64_t)mtime_ns);
}

int gw_static_etag_match(const char *inm, const char *etag) {
  if (inm == NULL || etag == NULL) return 0;
  const char *e = etag;
  if (strncmp(e, "W/", 2) == 0) e += 2;
  size_t elen = strlen(e);
  const char *p = inm;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (*p == '\0') return 0;
    if (*p == '*') return 1;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    size_t n = 0;
    if (*p == '"') {
      const char *q = strchr(p + 1, '"');
      if (q == NULL) return 0;
      n = (size_t)(q - p) + 1;
    } else {
      n = strcspn(p, ", \t"); /* not an entity-tag: skipped */
      p += n;
      continue;
    }
    if (n == elen && memcmp(p, e, n) == 0) return 1;
    p += n;
  }
}

/* Reads decimal digits at *p into *v; 0 with *p moved, -1 when none or on overflow. */
static int read_u64(const char **p, uint64_t *v) {
  const char *s = *p;
  uint64_t x = 0;
  if (!isdigit((unsigned char)*s)) return -1;
  while (isdigit((unsigned char)*s)) {
    unsigned d = (unsigned)(*s - '0');
    if (x > (UINT64_MAX - d) / 10) return -1;
    x = x * 10 + d;
    s++;
  }
  *v = x;
  *p = s;
  return 0;
}

int gw_static_range(const char *range, uint64_t size, uint64_t *first, uint64_t *last) {
  if (range == NULL || strncasecmp(range, "bytes=", 6) != 0) return 0;
  const char *p = range + 6;
  while (*p == ' ' || *p == '\t') p++;
  if (strchr(p, ',') != NULL) return 0; /* several ranges: the whole file instead */
  uint64_t a = 0, b = 0;
  if (*p == '-') {
    p++;
    if (read_u64(&p, &b) != 0) return 0;
    while (*p == ' ' || *p == '\t') p++;
    if (*p != '\0') return 0;
    if (b == 0 || size == 0) return -1;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return 1;
  }
  if (read_u64(&p, &a) != 0 || *p != '-') return 0;
  p++;
  int open_end = !isdigit((unsigned char)*p);
  if (!open_end && read_u64(&p, &b) != 0) return 0;
  while (*p == ' ' || *p == '\t') p++;
  if (*p != '\0') return 0;
  if (!open_end && b < a) return 0; /* invalid: ignored, as RFC 9110 14.2 allows */
  if (a >= size) return -1;
  *first = a;
  *last = open_end || b >= size ? size - 1 : b;
  return 1;
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void gw_static_http_date(time_t t, char *out, size_t size) {
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL) {
    snprintf(out, size, "Thu, 01 Jan 1970 00:00:00 GMT");
    return;
  }
  snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int two_digits(const char *s, int *v) {
  if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return -1;
  *v = (s[0] - '0') * 10 + (s[1] - '0');
  return 0;
}

int gw_static_parse_http_date(const char *s, time_t *t) {
  /* "Sun, 06 Nov 1994 08:49:37 GMT": 29 bytes, fixed positions */
  if (s == NULL || strlen(s) != 29) return -1;
  int wd = -1;
  for (int i = 0; i < 7; i++)
    if (memcmp(s, days[i], 3) == 0) wd = i;
  if (wd < 0 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
    return -1;
  int day, mon = -1, yh, yl, hh, mm, ss;
  for (int i = 0; i < 12; i++)
    if (memcmp(s + 8, months[i], 3) == 0) mon = i;
  if (mon < 0 || two_digits(s + 5, &day) != 0 || two_digits(s + 12, &yh) != 0 ||
      two_digits(s + 14, &yl) != 0 || two_digits(s + 17, &hh) != 0 ||
      two_digits(s + 20, &mm) != 0 || two_digits(s + 23, &ss) != 0)
    return -1;
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return -1;
  int64_t days_n = days_from_civil(yh * 100 + yl, (unsigned)mon + 1, (unsigned)day);
  *t = (time_t)(days_n * 86400 + hh * 3600 + mm * 60 + (ss == 60 ? 59 : ss));
  return 0;
}

/* 1 when the q parameter in params[0..n) (";q=0", ";q=0.000") is zero. */
static int q_is_zero(const char *params, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
        (i == 0 || params[i - 1] == ';' || params[i - 1] == ' ')) {
      size_t j = i + 2;
      if (j >= n || params[j] != '0') return 0;
      for (j++; j < n && params[j] != ';' && params[j] != ' '; j++)
        if (params[j] != '.' && params[j] != '0') return 0;
      return 1;
    }
  }
  return 0;
}

int gw_static_accepts_gzip(const char *ae) {
  if (ae == NULL) return 0;
  int star = 0, gzip = -1; /* gzip: -1 not named, 0 refused (q=0), 1 accepted */
  const char *p = ae;
  while (*p != '\0') {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    size_t n = strcspn(p, ",");
    size_t name = strcspn(p, ";, \t");
    if (name > n) name = n;
    int zero = q_is_zero(p + name, n - name);
    if ((name == 4 && strncasecmp(p, "gzip", 4) == 0) ||
        (name == 6 && strncasecmp(p, "x-gzip", 6) == 0))
      gzip = zero ? 0 : 1;
    else if (name == 1 && *p == '*')
      star = !zero;
    p += n;
  }
  return gzip == 1 || (gzip == -1 && star);
}
