/*
 * yw_log.h - structured logs: one JSON object per line on stderr.
 *
 * Every line carries ts (RFC 3339 with offset), level, proc and event; requestId when
 * known. Never log personal data (ID numbers, phone numbers): callers mask first.
 * Thread-safe: a line is written with one write(2), or with its thread's batch.
 */
#ifndef YW_LOG_H
#define YW_LOG_H

#include <jansson.h>

enum yw_log_level { YW_LOG_DEBUG = 0, YW_LOG_INFO, YW_LOG_WARN, YW_LOG_ERROR };

/* Sets the process name written in every line and the lowest level written. */
void yw_log_init(const char *proc, enum yw_log_level min_level);

/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int yw_log_level_parse(const char *s);

/* Writes a line with event, requestId (may be NULL) and a formatted msg. */
void yw_log(enum yw_log_level level, const char *event, const char *request_id,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes fields (an object; stolen: this function decrefs it) with ts, level, proc and
 * event added. */
void yw_log_json(enum yw_log_level level, const char *event, json_t *fields);

/* A field of a line for yw_log_fields. */
typedef struct yw_log_field {
  const char *key;
  enum { YW_LOG_STR, YW_LOG_INT, YW_LOG_REAL } type;
  const char *s;   /* YW_LOG_STR: left out when NULL; text not UTF-8 becomes a marker */
  size_t len;      /* YW_LOG_STR: 0 means strlen(s) */
  long long i;     /* YW_LOG_INT */
  double d;        /* YW_LOG_REAL: six decimals from 0 to 1e9, else six significant digits */
} yw_log_field;

/* Writes a line of fields with ts, level, proc and event first, without building a
 * document: for lines written once per request (the access log). Same text as
 * yw_log_json would write for the same fields. */
void yw_log_fields(enum yw_log_level level, const char *event, const yw_log_field *fields,
                   size_t n);

/* Makes the calling thread keep its lines in a 32 KiB buffer, written in one write(2)
 * when full or at yw_log_flush (on: 1), or write each at once again after flushing (on:
 * 0, which also frees the buffer; call it before the thread ends). Returns 0, or -1
 * when out of memory (lines are then written at once). */
int yw_log_buffered(int on);

/* Writes the calling thread's buffered lines, if any. */
void yw_log_flush(void);

/* Formats now as RFC 3339 with the local offset, e.g. 2026-11-24T21:36:06.123+08:00. */
void yw_log_now(char *buf, size_t size);

#endif
