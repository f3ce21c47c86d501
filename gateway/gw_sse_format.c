/*
 * gw_sse_format.c - the text of Server-Sent Events (the WHATWG HTML standard's
 * text/event-stream): pure functions, in the gateway's core library so that unit tests
 * reach them (tests/unit/test_sse.c). The streams themselves are gw_sse.c.
 *
 * Offers: gw_sse_event, gw_sse_id_ok.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sse.h"

int gw_sse_id_ok(const char *s, size_t len) {
  if (len == 0 || len > 128) return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
  return 1;
}

char *gw_sse_event(const char *id, const char *event, const char *data, size_t data_len,
                   size_t *len) {
  size_t lines = 1;
  for (size_t i = 0; i < data_len; i++)
    if (data[i] == '\n' || data[i] == '\r') lines++; /* a line ends at either */
  size_t cap = (id != NULL ? strlen(id) + 5 : 0) + (event != NULL ? strlen(event) + 8 : 0) +
               data_len + lines * 7 + 2;
  char *out = malloc(cap);
  if (out == NULL) return NULL;
  size_t o = 0;
  if (id != NULL && id[0] != '\0') o += (size_t)snprintf(out + o, cap - o, "id: %s\n", id);
  if (event != NULL && event[0] != '\0')
    o += (size_t)snprintf(out + o, cap - o, "event: %s\n", event);
  /* a line of data per line (a CR LF or lone CR ends a line too, for SSE parsers) */
  size_t start = 0;
  for (size_t i = 0; i <= data_len; i++) {
    if (i < data_len && data[i] != '\n' && data[i] != '\r') continue;
    memcpy(out + o, "data: ", 6);
    o += 6;
    memcpy(out + o, data + start, i - start);
    o += i - start;
    out[o++] = '\n';
    if (i + 1 < data_len && data[i] == '\r' && data[i + 1] == '\n') i++;
    start = i + 1;
  }
  out[o++] = '\n';
  *len = o;
  return out;
}
