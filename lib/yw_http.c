/*
 * yw_http.c - JSON POST over libcurl with a cap on the answer.
 *
 * A fresh easy handle per request keeps this thread-safe without sharing state; the
 * callers (SMS, registry) are rare next to the requests they serve.
 *
 * Offers: yw_http_global_init, yw_http_post_json.
 */
#include "yw_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"

#define RESPONSE_CAP (64 * 1024)

struct buf {
  char *data;
  size_t len;
  int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg) {
  struct buf *b = arg;
  size_t n = size * nmemb;
  if (b->len + n > RESPONSE_CAP) {
    b->too_big = 1;
    return 0; /* stops the transfer */
  }
  char *nd = realloc(b->data, b->len + n + 1);
  if (nd == NULL) return 0;
  memcpy(nd + b->len, ptr, n);
  b->data = nd;
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

void yw_http_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int yw_http_post_json(const char *url, const char *body, int timeout_ms, long *status,
                      char **response) {
  *response = NULL;
  *status = 0;
  CURL *h = curl_easy_init();
  if (h == NULL) return YW_ENOMEM;
  struct buf b = {NULL, 0, 0};
  struct curl_slist *headers = curl_slist_append(NULL, "content-type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (b.too_big) {
    free(b.data);
    return YW_ETOOBIG;
  }
  if (rc != CURLE_OK) {
    free(b.data);
    return YW_EUNAVAIL;
  }
  *response = b.data != NULL ? b.data : strdup("");
  return *response != NULL ? 0 : YW_ENOMEM;
}
