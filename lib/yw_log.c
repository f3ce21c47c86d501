/*
 * yw_log.c - JSON-lines logger.
 *
 * Lines are built with jansson (so every string is escaped correctly) and written with a
 * single write(2) so lines from several threads never interleave. A thread that logs a
 * line per request (a gateway worker) may buffer its lines: they are written whole, in
 * one write(2) per batch, when the buffer fills or the thread calls yw_log_flush.
 *
 * Offers: yw_log_init, yw_log_level_parse, yw_log, yw_log_json, yw_log_now,
 * yw_log_buffered, yw_log_flush.
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
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char base[32];
  char zone[8];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  strftime(zone, sizeof zone, "%z", &tm); /* +0800 */
  snprintf(buf, size, "%s.%03d%.3s:%.2s", base, (int)(tv.tv_usec / 1000), zone, zone + 3);
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
