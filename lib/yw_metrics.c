/*
 * yw_metrics.c - a service's /metrics and /healthz (yw_metrics.h): evhttp on an event
 * base owned by one thread; a timer on that base checks the stop flag, so no libevent
 * call ever comes from another thread.
 *
 * Offers: yw_metrics_start, yw_metrics_port, yw_metrics_stop.
 */
#include "yw_metrics.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "yw_err.h"

#define METRICS_MAX (256 * 1024)

struct yw_metrics_server {
  struct event_base *base;
  struct evhttp *http;
  struct event *tick;
  yw_metrics_fn fn;
  void *arg;
  int port;
  pthread_t thread;
  volatile int stopping;
  char *buf;
};

static void on_request(struct evhttp_request *req, void *arg) {
  yw_metrics_server *m = arg;
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
    evhttp_send_error(req, 405, "Method Not Allowed");
    return;
  }
  struct evbuffer *body = evbuffer_new();
  if (body == NULL) {
    evhttp_send_error(req, 500, "Internal Server Error");
    return;
  }
  if (path != NULL && strcmp(path, "/metrics") == 0) {
    int n = m->fn(m->arg, m->buf, METRICS_MAX);
    if (n < 0 || n > METRICS_MAX) {
      evbuffer_free(body);
      evhttp_send_error(req, 500, "Internal Server Error");
      return;
    }
    evbuffer_add(body, m->buf, (size_t)n);
    evhttp_add_header(out, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", body);
  } else if (path != NULL && strcmp(path, "/healthz") == 0) {
    evbuffer_add(body, "ok\n", 3);
    evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", body);
  } else {
    evhttp_send_error(req, 404, "Not Found");
  }
  evbuffer_free(body);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  yw_metrics_server *m = arg;
  if (m->stopping) event_base_loopbreak(m->base);
}

static void *run(void *arg) {
  yw_metrics_server *m = arg;
  event_base_dispatch(m->base);
  return NULL;
}

static void free_server(yw_metrics_server *m) {
  if (m->tick != NULL) event_free(m->tick);
  if (m->http != NULL) evhttp_free(m->http);
  if (m->base != NULL) event_base_free(m->base);
  free(m->buf);
  free(m);
}

int yw_metrics_start(const char *listen, yw_metrics_fn fn, void *arg, yw_metrics_server **out) {
  *out = NULL;
  const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
  if (colon == NULL || colon == listen || (size_t)(colon - listen) >= 64) return YW_EINVAL;
  char host[64];
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  char *end = NULL;
  long port = strtol(colon + 1, &end, 10);
  if (end == NULL || *end != '\0' || port < 0 || port > 65535) return YW_EINVAL;

  yw_metrics_server *m = calloc(1, sizeof *m);
  if (m == NULL) return YW_ENOMEM;
  m->fn = fn;
  m->arg = arg;
  m->buf = malloc(METRICS_MAX);
  m->base = event_base_new();
  m->http = m->base != NULL ? evhttp_new(m->base) : NULL;
  struct timeval tv = {0, 200 * 1000};
  m->tick = m->base != NULL ? event_new(m->base, -1, EV_PERSIST, on_tick, m) : NULL;
  if (m->buf == NULL || m->http == NULL || m->tick == NULL || event_add(m->tick, &tv) != 0) {
    free_server(m);
    return YW_ENOMEM;
  }
  evhttp_set_gencb(m->http, on_request, m);
  evhttp_set_timeout(m->http, 5);
  evhttp_set_max_headers_size(m->http, 8192);
  evhttp_set_max_body_size(m->http, 0);
  struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
  if (bound == NULL) {
    free_server(m);
    return YW_EIO;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0)
    m->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (pthread_create(&m->thread, NULL, run, m) != 0) {
    free_server(m);
    return YW_EINTERNAL;
  }
  *out = m;
  return 0;
}

int yw_metrics_port(const yw_metrics_server *m) { return m->port; }

void yw_metrics_stop(yw_metrics_server *m) {
  if (m == NULL) return;
  m->stopping = 1;
  pthread_join(m->thread, NULL);
  free_server(m);
}
