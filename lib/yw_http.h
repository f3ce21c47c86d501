/*
 * yw_http.h - a small HTTP client (libcurl) for the adapters that talk to third parties
 * over HTTP: the SMS gateway and the population registry. In development and tests the
 * same code talks to local stand-ins (tools/fakes) that speak the same protocol.
 */
#ifndef YW_HTTP_H
#define YW_HTTP_H

#include <stddef.h>

/* Initialises libcurl once per process (call before threads start). */
void yw_http_global_init(void);

/*
 * POSTs body (JSON) to url with a total timeout. On success returns 0, the HTTP status
 * in *status and the response body in *response (NUL-terminated, caller frees, at most
 * 64 KiB). Returns YW_EUNAVAIL when the peer cannot be reached or times out,
 * YW_ETOOBIG when the answer is larger than the cap, YW_ENOMEM.
 */
int yw_http_post_json(const char *url, const char *body, int timeout_ms, long *status,
                      char **response);

#endif
