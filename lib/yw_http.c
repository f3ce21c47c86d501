/*
 * yw_http.c - HTTP requests over libcurl with a cap on the answer.
 *
 * A fresh easy handle per request keeps this thread-safe without sharing state; the
 * callers (SMS, registry) are rare next to the requests they serve.
 *
 * A caller that talks to one peer often (the payment channel adapter) may pass an easy
 * handle of its own to reuse, which keeps its connections alive between requests.
 *
 * Offers: yw_http_global_init, yw_http_post_json, yw_http_request.
 */
#include "yw_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

#define RESPONSE_CAP (64 * 1024)

struct buf {
  char *data;
  size_t len, alloc, cap;
  int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg) {
  struct buf *b = arg;
  size_t n = size * nmemb;
  if (b->len + n > b->cap) {
    b->too_big = 1;
    return 0; /* stops the transfer */
  }
  if (b->len + n + 1 > b->alloc) { /* grows by halves: a large answer is not copied often */
    size_t want = b->len + n + 1, na = b->alloc + b->alloc / 2;
    if (na < want) na = want;
    char *nd = realloc(b->data, na);
    if (nd == NULL) return 0;
    b->data = nd;
    b->alloc = na;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

void yw_http_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int yw_http_post_json(const char *url, const char *body, int timeout_ms, long *status,
                      char **response) {
  static const char *const headers[] = {"content-type: application/json", NULL};
  yw_http_req r = {.method = "POST", .url = url, .headers = headers, .body = body,
                   .body_len = strlen(body), .timeout_ms = timeout_ms};
  return yw_http_request(&r, status, response, NULL);
}

int yw_http_request(const yw_http_req *r, long *status, char **response, size_t *len) {
  *response = NULL;
  *status = 0;
  if (len != NULL) *len = 0;
  int post = strcmp(r->method, "POST") == 0;
  if (!post && strcmp(r->method, "GET") != 0) return YW_EINVAL;
  CURL *h = r->curl;
  if (h != NULL)
    curl_easy_reset(h);
  else
    h = curl_easy_init();
  if (h == NULL) return YW_ENOMEM;
  struct buf b = {NULL, 0, 0, r->cap != 0 ? r->cap : RESPONSE_CAP, 0};
  struct curl_slist *headers = NULL;
  for (const char *const *p = r->headers; p != NULL && *p != NULL; p++) {
    struct curl_slist *n = curl_slist_append(headers, *p);
    if (n == NULL) {
      curl_slist_free_all(headers);
      if (h != r->curl) curl_easy_cleanup(h);
      return YW_ENOMEM;
    }
    headers = n;
  }
  curl_easy_setopt(h, CURLOPT_URL, r->url);
  if (post) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body != NULL ? r->body_len : 0));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(headers);
  if (h != r->curl) curl_easy_cleanup(h);
  if (b.too_big) {
    free(b.data);
    return YW_ETOOBIG;
  }
  if (rc != CURLE_OK) {
    free(b.data);
    *status = 0;
    return YW_EUNAVAIL;
  }
  *response = b.data != NULL ? b.data : strdup("");
  if (*response == NULL) return YW_ENOMEM;
  if (len != NULL) *len = b.len;
  return 0;
}
