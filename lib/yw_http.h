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

/* A request of any method, with headers of the caller's (the payment channel adapter
 * signs each request). */
typedef struct yw_http_req {
  const char *method;          /* "GET" or "POST" */
  const char *url;
  const char *const *headers;  /* "Name: value" lines, NULL-terminated; NULL: none */
  const char *body;            /* POST only; NULL: empty */
  size_t body_len;
  int timeout_ms;              /* total: connect, send, answer */
  size_t cap;                  /* the answer's cap in bytes; 0: 64 KiB */
  void *curl;                  /* a CURL easy handle to reuse (its connections are kept
                                  alive; one thread at a time), or NULL for a fresh one */
} yw_http_req;

/*
 * Sends r and reads the answer. Returns 0, the HTTP status in *status and the body in
 * *response (NUL-terminated, caller frees) and its length in *len (may be NULL); an
 * answer of any status is a 0 return. YW_EUNAVAIL when the peer cannot be reached or
 * the timeout passes, YW_ETOOBIG past the cap, YW_EINVAL for a method other than GET or
 * POST, YW_ENOMEM.
 */
int yw_http_request(const yw_http_req *r, long *status, char **response, size_t *len);

#endif
