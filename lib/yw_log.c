/*
 * yw_log.c - JSON-lines logger.
 *
 * Lines are built with jansson (so every string is escaped correctly) and written with a
 * single write(2) so lines from several threads never interleave. A thread that logs a
 * line per request (a gateway worker) may buffer its lines: they are written whole, in
 * one write(2) per batch, when the buffer fills or the thread calls yw_log_flush.
 *
 * yw_log_fields writes a line of typed fields straight into text, with its own JSON
 * string escaping, for lines written once per request: building a jansson document
 * twice and formatting the time with strftime were most of a static answer's cost.
 * The time's text is kept per thread for the current second.
 *
 * Offers: yw_log_init, yw_log_level_parse, yw_log, yw_log_json, yw_log_fields,
 * yw_log_now, yw_log_buffered, yw_log_flush.
 */
#include "yw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_BATCH 32768 /* bytes of buffered lines; a longer line goes out alone */

static const char *log_proc = "yiwang";
static _Thread_local char *batch;     /* NULL: this thread writes each line at once */
static _Thread_local size_t batch_len;
static enum yw_log_level log_min = YW_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void yw_log_init(const char *proc, enum yw_log_level min_level) {
  log_proc = proc;
  log_min = min_level;
}

int yw_log_level_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) return i;
  return -1;
}

void yw_log_now(char *buf, size_t size) {
  static _Thread_local time_t cached_sec = -1;
  static _Thread_local char base[32], zone[8];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  if (tv.tv_sec != cached_sec) {
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm); /* +0800 */
    cached_sec = tv.tv_sec;
  }
  /* by hand: this runs for every log line */
  char tail[16];
  int ms = (int)(tv.tv_usec / 1000);
  tail[0] = '.';
  tail[1] = (char)('0' + ms / 100);
  tail[2] = (char)('0' + ms / 10 % 10);
  tail[3] = (char)('0' + ms % 10);
  memcpy(tail + 4, zone, 3); /* +08 */
  tail[7] = ':';
  memcpy(tail + 8, zone + 3, 2);
  tail[10] = '\0';
  size_t bl = strnlen(base, sizeof base), tl = strnlen(tail, 10);
  if (size == 0) return;
  if (bl + tl + 1 > size) {
    snprintf(buf, size, "%s%s", base, tail);
    return;
  }
  memcpy(buf, base, bl);
  memcpy(buf + bl, tail, tl + 1);
}

static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, p, n);
    if (w <= 0) return; /* nothing sensible to do when stderr fails */
    p += w;
    n -= (size_t)w;
  }
}

void yw_log_flush(void) {
  if (batch == NULL || batch_len == 0) return;
  write_all(batch, batch_len);
  batch_len = 0;
}

int yw_log_buffered(int on) {
  if (!on) {
    yw_log_flush();
    free(batch);
    batch = NULL;
    return 0;
  }
  if (batch != NULL) return 0;
  batch = malloc(LOG_BATCH);
  batch_len = 0;
  return batch != NULL ? 0 : -1;
}

void yw_log_json(enum yw_log_level level, const char *event, json_t *fields) {
  if (fields == NULL) return;
  if (level < log_min) {
    json_decref(fields);
    return;
  }
  char ts[48];
  yw_log_now(ts, sizeof ts);
  json_t *line = json_object();
  if (line == NULL) {
    json_decref(fields);
    return;
  }
  json_object_set_new(line, "ts", json_string(ts));
  json_object_set_new(line, "level", json_string(level_names[level]));
  json_object_set_new(line, "proc", json_string(log_proc));
  json_object_set_new(line, "event", json_string(event));
  json_object_update(line, fields);
  json_decref(fields);
  char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
  json_decref(line);
  if (text == NULL) return;
  size_t len = strlen(text);
  if (batch != NULL && len + 1 <= LOG_BATCH) {
    if (batch_len + len + 1 > LOG_BATCH) yw_log_flush();
    memcpy(batch + batch_len, text, len);
    batch[batch_len + len] = '\n';
    batch_len += len + 1;
    free(text);
    return;
  }
  yw_log_flush(); /* keep this thread's lines in order */
  char *out = malloc(len + 1);
  if (out != NULL) {
    memcpy(out, text, len);
    out[len] = '\n';
    ssize_t w = write(STDERR_FILENO, out, len + 1);
    (void)w;
    free(out);
  }
  free(text);
}

/* ---- direct writer ------------------------------------------------------------ */

struct text {
  char *p;
  size_t len, cap;
  int full;
};

static void put(struct text *t, const char *s, size_t n) {
  if (t->full || t->len + n > t->cap) {
    t->full = 1;
    return;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
}

/* Length of the valid UTF-8 sequence at s (of at most n bytes), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
  else return 0;
  if (n < len) return 0;
  unsigned cp = c & (0x3f >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* Writes s (n bytes) as a JSON string; text that is not UTF-8 becomes a marker. */
static void put_string(struct text *t, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  /* most values (ids, methods, paths) are plain ASCII with nothing to escape: as is */
  size_t plain = 0;
  while (plain < n && u[plain] >= 0x20 && u[plain] < 0x80 && u[plain] != '"' && u[plain] != '\\')
    plain++;
  if (plain == n) {
    put(t, "\"", 1);
    put(t, s, n);
    put(t, "\"", 1);
    return;
  }
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(u + i, n - i);
    if (k == 0) {
      put(t, "\"(not UTF-8)\"", 13);
      return;
    }
    i += k;
  }
  put(t, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = u[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    put(t, s + run, i - run);
    run = i + 1;
    char esc[8];
    switch (c) {
    case '"': put(t, "\\\"", 2); break;
    case '\\': put(t, "\\\\", 2); break;
    case '\n': put(t, "\\n", 2); break;
    case '\r': put(t, "\\r", 2); break;
    case '\t': put(t, "\\t", 2); break;
    default:
      snprintf(esc, sizeof esc, "\\u%04x", c);
      put(t, esc, 6);
    }
  }
  put(t, s + run, n - run);
  put(t, "\"", 1);
}

/* A decimal integer, without printf. */
static void put_ll(struct text *t, long long v) {
  char d[24];
  int i = (int)sizeof d;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do d[--i] = (char)('0' + u % 10); while ((u /= 10) != 0);
  if (v < 0) d[--i] = '-';
  put(t, d + i, sizeof d - (size_t)i);
}

static void put_key(struct text *t, const char *key) {
  put(t, ",", 1);
  put_string(t, key, strlen(key));
  put(t, ":", 1);
}

void yw_log_fields(enum yw_log_level level, const char *event, const yw_log_field *fields,
                   size_t n) {
  if (level < log_min) return;
  char buf[4096];
  struct text t = {buf, 0, sizeof buf - 1, 0};
  char ts[48];
  yw_log_now(ts, sizeof ts);
  put(&t, "{\"ts\":", 6);
  put_string(&t, ts, strlen(ts));
  put_key(&t, "level");
  put_string(&t, level_names[level], strlen(level_names[level]));
  put_key(&t, "proc");
  put_string(&t, log_proc, strlen(log_proc));
  put_key(&t, "event");
  put_string(&t, event, strlen(event));
  for (size_t i = 0; i < n; i++) {
    const yw_log_field *f = &fields[i];
    char num[40];
    int k;
    switch (f->type) {
    case YW_LOG_STR:
      if (f->s == NULL) continue;
      put_key(&t, f->key);
      put_string(&t, f->s, f->len != 0 ? f->len : strlen(f->s));
      break;
    case YW_LOG_INT:
      put_key(&t, f->key);
      put_ll(&t, f->i);
      break;
    case YW_LOG_REAL:
      put_key(&t, f->key);
      if (f->d >= 0 && f->d < 1e9) { /* durations: six decimals, without printf */
        long long millionths = (long long)(f->d * 1e6 + 0.5);
        put_ll(&t, millionths / 1000000);
        char frac[7];
        frac[0] = '.';
        for (int j = 6, v = (int)(millionths % 1000000); j >= 1; j--, v /= 10) frac[j] = (char)('0' + v % 10);
        put(&t, frac, sizeof frac);
        break;
      }
      k = snprintf(num, sizeof num, "%.6g", f->d);
      /* a real stays a real in JSON readers: 12 is written 12.0, as jansson does */
      if (strpbrk(num, ".en") == NULL) num[k++] = '.', num[k++] = '0', num[k] = '\0';
      put(&t, num, (size_t)k);
      break;
    }
  }
  put(&t, "}\n", 2);
  if (t.full) { /* a line past 4 KiB: the slower path has no limit */
    json_t *o = json_object();
    if (o == NULL) return;
    for (size_t i = 0; i < n; i++) {
      const yw_log_field *f = &fields[i];
      json_t *v = f->type == YW_LOG_INT    ? json_integer(f->i)
                  : f->type == YW_LOG_REAL ? json_real(f->d)
                  : f->s != NULL ? json_stringn(f->s, f->len != 0 ? f->len : strlen(f->s))
                                 : NULL;
      if (v == NULL && f->type == YW_LOG_STR && f->s != NULL) v = json_string("(not UTF-8)");
      if (v != NULL) json_object_set_new(o, f->key, v);
    }
    yw_log_json(level, event, o);
    return;
  }
  if (batch != NULL) {
    if (batch_len + t.len > LOG_BATCH) yw_log_flush();
    memcpy(batch + batch_len, t.p, t.len);
    batch_len += t.len;
    return;
  }
  write_all(t.p, t.len);
}

void yw_log(enum yw_log_level level, const char *event, const char *request_id,
            const char *fmt, ...) {
  if (level < log_min) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_t *f = json_object();
  if (f == NULL) return;
  if (request_id != NULL && request_id[0] != '\0')
    json_object_set_new(f, "requestId", json_string(request_id));
  /* json_string refuses invalid UTF-8; fall back to a lossless-enough marker. */
  json_t *m = json_string(msg);
  json_object_set_new(f, "msg", m != NULL ? m : json_string("(message not UTF-8)"));
  yw_log_json(level, event, f);
}
