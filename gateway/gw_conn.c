/*
 * gw_conn.c - connections: accept, TLS with ALPN, HTTP/1.1 and HTTP/2 on one port.
 *
 * A cleartext connection is HTTP/2 when its first bytes are the client connection
 * preface ("PRI * HTTP/2.0..."; h2c with prior knowledge) and HTTP/1.1 otherwise. A TLS
 * connection is whatever ALPN chose (h2 preferred, then http/1.1).
 *
 * HTTP/1.1: http-parser; one request at a time per connection: the parser pauses at
 * the end of a message and reading stops until the answer is written, so pipelined
 * requests wait their turn in the input buffer and answers keep their order.
 *
 * HTTP/2: nghttp2 with the session's bytes moved through a libevent bufferevent;
 * output stops while more than GW_OUT_HIGH bytes wait to be written and resumes from
 * the write callback (backpressure). Answers whose upstream is still busy are simply
 * submitted later; gRPC answers end with trailers (NGHTTP2_DATA_FLAG_NO_END_STREAM and
 * nghttp2_submit_trailer).
 *
 * Limits: header bytes per request (431 / stream reset), body bytes (413), concurrent
 * streams (SETTINGS), idle time (read timeout closes the connection).
 *
 * Offers: gw_worker_listen, gw_worker_unlisten, gw_conn_respond, gw_req_add_header,
 * gw_req_header, gw_req_unref.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw.h"
#include "gw_metrics.h"
#include "yw_err.h"
#include "yw_log.h"

#define GW_OUT_HIGH (256 * 1024)

static const char H2_PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum proto { PROTO_UNKNOWN = 0, PROTO_H1, PROTO_H2 };

struct gw_conn {
  gw_worker *worker;
  struct bufferevent *bev;
  int tls;
  enum proto proto;
  nghttp2_session *h2;
  gw_req *reqs;           /* live requests */
  /* HTTP/1.1 */
  http_parser parser;
  gw_req *h1_req;         /* the request being parsed or answered */
  int h1_busy;            /* a request is being answered: do not parse further */
  int h1_in_value;        /* the last header callback was a value */
  size_t h1_url_len;
  char *h1_url;           /* GW_URL_BYTES, malloc */
  int close_after_write;
  int freeing;
  int in_recv;            /* inside nghttp2_session_mem_recv: no sending from callbacks */
  char peer_ip[64];
};

static void conn_free(gw_conn *c);
static void h1_resume(gw_conn *c);
static int h2_flush(gw_conn *c);

/* ---- requests -------------------------------------------------------------------- */

static gw_req *req_new(gw_conn *c) {
  yw_arena *a = yw_arena_new((size_t)gw.cfg.max_body * 4 + (1 << 20));
  if (a == NULL) return NULL;
  gw_req *r = yw_arena_calloc(a, 1, sizeof *r);
  char *hbuf = yw_arena_alloc(a, GW_HEADER_BYTES);
  if (r == NULL || hbuf == NULL) {
    yw_arena_free(a);
    return NULL;
  }
  r->arena = a;
  r->hbuf = hbuf;
  r->conn = c;
  r->worker = c->worker;
  r->refs = 1;
  memcpy(r->peer_ip, c->peer_ip, sizeof r->peer_ip);
  r->conn_next = c->reqs;
  if (c->reqs != NULL) c->reqs->conn_prev = r;
  c->reqs = r;
  clock_gettime(CLOCK_MONOTONIC, &r->start);
  return r;
}

void gw_req_unref(gw_req *r) {
  if (--r->refs > 0) return;
  free(r->up_message);
  free(r->up_data);
  free(r->up_trailers);
  yw_arena_free(r->arena);
}

/* The client is gone or the stream closed: unlink from the connection. */
static void req_detach(gw_req *r) {
  gw_conn *c = r->conn;
  if (c == NULL) return;
  /* every "the client is gone" passes here: an unanswered request is logged as 499
   * and its upstream call cancelled */
  if (!r->responded) gw_handle_client_gone(r);
  if (r->conn_prev != NULL) r->conn_prev->conn_next = r->conn_next;
  else c->reqs = r->conn_next;
  if (r->conn_next != NULL) r->conn_next->conn_prev = r->conn_prev;
  r->conn = NULL;
  gw_req_unref(r);
}

/* Appends bytes to the request's header buffer; 0 or -1 past the limit. */
static int hbuf_append(gw_req *r, const char *s, size_t n) {
  if (r->hlen + n + 1 > GW_HEADER_BYTES) {
    r->header_overflow = 1;
    return -1;
  }
  memcpy(r->hbuf + r->hlen, s, n);
  r->hlen += n;
  return 0;
}

static int hbuf_end(gw_req *r) {
  if (r->hlen + 1 > GW_HEADER_BYTES) {
    r->header_overflow = 1;
    return -1;
  }
  r->hbuf[r->hlen++] = '\0';
  return 0;
}

static int body_append(gw_req *r, const uint8_t *data, size_t len) {
  if (r->body_overflow) return -1;
  if (r->body_len + len > (size_t)gw.cfg.max_body) {
    r->body_overflow = 1;
    return -1;
  }
  if (r->body_len + len > r->body_cap) {
    size_t cap = r->body_cap != 0 ? r->body_cap * 2 : 4096;
    while (cap < r->body_len + len) cap *= 2;
    if (cap > (size_t)gw.cfg.max_body) cap = (size_t)gw.cfg.max_body;
    uint8_t *nb = yw_arena_alloc(r->arena, cap);
    if (nb == NULL) {
      r->body_overflow = 1;
      return -1;
    }
    if (r->body_len > 0) memcpy(nb, r->body, r->body_len);
    r->body = nb;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
  return 0;
}

const char *gw_req_header(const gw_req *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

void gw_req_add_header(gw_req *r, const char *name, const char *value) {
  if (r->n_resp_headers >= GW_MAX_RESP_HEADERS) return;
  r->resp_headers[r->n_resp_headers].name = name;
  r->resp_headers[r->n_resp_headers].value = value;
  r->n_resp_headers++;
}

/* ---- HTTP/1.1 -------------------------------------------------------------------- */

static int h1_on_message_begin(http_parser *p) {
  gw_conn *c = p->data;
  c->h1_url_len = 0;
  c->h1_in_value = 0;
  c->h1_req = req_new(c);
  return c->h1_req != NULL ? 0 : -1;
}

static int h1_on_url(http_parser *p, const char *at, size_t len) {
  gw_conn *c = p->data;
  if (c->h1_url_len + len >= GW_URL_BYTES) {
    c->h1_req->header_overflow = 1;
    return 0;
  }
  memcpy(c->h1_url + c->h1_url_len, at, len);
  c->h1_url_len += len;
  return 0;
}

static int h1_on_header_field(http_parser *p, const char *at, size_t len) {
  gw_conn *c = p->data;
  gw_req *r = c->h1_req;
  if (r->header_overflow) return 0;
  if (c->h1_in_value || r->n_headers == 0) {
    /* a new header starts: close the previous value */
    if (r->n_headers > 0 && hbuf_end(r) != 0) return 0;
    if (r->n_headers >= GW_MAX_HEADERS) {
      r->header_overflow = 1;
      return 0;
    }
    r->headers[r->n_headers].name = (const char *)(uintptr_t)r->hlen; /* offset for now */
    r->headers[r->n_headers].value = NULL;
    r->n_headers++;
    c->h1_in_value = 0;
  }
  size_t start = r->hlen;
  if (hbuf_append(r, at, len) != 0) return 0;
  for (size_t i = start; i < r->hlen; i++) r->hbuf[i] = (char)tolower((unsigned char)r->hbuf[i]);
  return 0;
}

static int h1_on_header_value(http_parser *p, const char *at, size_t len) {
  gw_conn *c = p->data;
  gw_req *r = c->h1_req;
  if (r->header_overflow || r->n_headers == 0) return 0;
  if (!c->h1_in_value) {
    if (hbuf_end(r) != 0) return 0;
    r->headers[r->n_headers - 1].value = (const char *)(uintptr_t)r->hlen;
    c->h1_in_value = 1;
  }
  hbuf_append(r, at, len);
  return 0;
}

static int h1_on_headers_complete(http_parser *p) {
  gw_conn *c = p->data;
  gw_req *r = c->h1_req;
  if (r->n_headers > 0 && !r->header_overflow) {
    if (!c->h1_in_value) { /* a name without a value */
      hbuf_end(r);
      r->headers[r->n_headers - 1].value = (const char *)(uintptr_t)r->hlen;
    }
    hbuf_end(r);
  }
  if (r->header_overflow) {
    r->n_headers = 0;
  } else {
    for (size_t i = 0; i < r->n_headers; i++) {
      r->headers[i].name = r->hbuf + (uintptr_t)r->headers[i].name;
      r->headers[i].value = r->hbuf + (uintptr_t)r->headers[i].value;
    }
  }
  r->method = http_method_str((enum http_method)p->method);
  r->path = yw_arena_strndup(r->arena, c->h1_url, c->h1_url_len);
  if (p->content_length != ULLONG_MAX && p->content_length > (uint64_t)gw.cfg.max_body)
    r->body_overflow = 1;
  return 0;
}

static int h1_on_body(http_parser *p, const char *at, size_t len) {
  gw_conn *c = p->data;
  body_append(c->h1_req, (const uint8_t *)at, len);
  return 0;
}

static int h1_on_message_complete(http_parser *p) {
  gw_conn *c = p->data;
  c->h1_busy = 1;
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings h1_settings = {
    .on_message_begin = h1_on_message_begin,
    .on_url = h1_on_url,
    .on_header_field = h1_on_header_field,
    .on_header_value = h1_on_header_value,
    .on_headers_complete = h1_on_headers_complete,
    .on_body = h1_on_body,
    .on_message_complete = h1_on_message_complete,
};

/* Answers a request the parser could not read, then closes: nothing after it on this
 * connection can be trusted to start at a message boundary. */
static void h1_write_error_and_close(gw_conn *c, int status, const char *message) {
  char body[256];
  int blen = snprintf(body, sizeof body, "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"%s\"}",
                      message);
  struct evbuffer *out = bufferevent_get_output(c->bev);
  evbuffer_add_printf(out,
                      "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
                      "content-length: %d\r\n\r\n%s",
                      status, http_status_str((enum http_status)status), blen, body);
  c->close_after_write = 1;
  bufferevent_disable(c->bev, EV_READ);
}

/* Feeds buffered input to the parser until a message is complete or input runs out. */
static void h1_process(gw_conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  while (!c->h1_busy && !c->close_after_write && evbuffer_get_length(in) > 0) {
    size_t len = evbuffer_get_length(in);
    const char *data = (const char *)evbuffer_pullup(in, -1);
    size_t used = http_parser_execute(&c->parser, &h1_settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err == HPE_PAUSED) {
      evbuffer_drain(in, used);
      break;
    }
    if (err != HPE_OK) {
      evbuffer_drain(in, len);
      if (c->h1_req != NULL && c->h1_req->conn != NULL) req_detach(c->h1_req);
      c->h1_req = NULL;
      h1_write_error_and_close(c, 400, "malformed HTTP/1.1 request");
      return;
    }
    evbuffer_drain(in, used);
  }
  if (c->h1_busy && c->h1_req != NULL && c->h1_req->method != NULL && !c->h1_req->responded &&
      c->h1_req->refs == 1) {
    /* a complete message: hand it over once */
    gw_req *r = c->h1_req;
    bufferevent_disable(c->bev, EV_READ);
    if (r->header_overflow)
      gw_respond_too_large(r, 431, "request headers are too large");
    else if (r->body_overflow)
      gw_respond_too_large(r, 413, "request body is too large");
    else
      gw_handle_request(r);
  }
}

static void h1_send(gw_conn *c, gw_req *r) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  int keep = http_should_keep_alive(&c->parser) && !r->body_overflow && !r->header_overflow;
  evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", r->status,
                      http_status_str((enum http_status)r->status));
  for (size_t i = 0; i < r->n_resp_headers; i++)
    evbuffer_add_printf(out, "%s: %s\r\n", r->resp_headers[i].name, r->resp_headers[i].value);
  evbuffer_add_printf(out, "content-length: %zu\r\n%s\r\n", r->resp_len,
                      keep ? "" : "connection: close\r\n");
  if (r->resp_len > 0 && strcmp(r->method, "HEAD") != 0)
    evbuffer_add(out, r->resp_body, r->resp_len);
  if (!keep) c->close_after_write = 1;
  req_detach(r);
  c->h1_req = NULL;
  c->h1_busy = 0;
  if (!c->close_after_write) h1_resume(c);
}

static void h1_resume(gw_conn *c) {
  http_parser_pause(&c->parser, 0);
  bufferevent_enable(c->bev, EV_READ);
  h1_process(c);
}

/* ---- HTTP/2 ---------------------------------------------------------------------- */

static ssize_t h2_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)s;
  (void)user;
  gw_req *r = src->ptr;
  size_t left = r->resp_len - r->resp_off;
  size_t n = left < length ? left : length;
  if (n > 0) memcpy(buf, r->resp_body + r->resp_off, n);
  r->resp_off += n;
  if (r->resp_off == r->resp_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (r->n_trailers > 0) {
      nghttp2_nv nv[sizeof r->trailers / sizeof r->trailers[0]];
      for (size_t i = 0; i < r->n_trailers; i++) {
        nv[i].name = (uint8_t *)r->trailers[i].name;
        nv[i].namelen = strlen(r->trailers[i].name);
        nv[i].value = (uint8_t *)r->trailers[i].value;
        nv[i].valuelen = strlen(r->trailers[i].value);
        nv[i].flags = NGHTTP2_NV_FLAG_NONE;
      }
      if (nghttp2_submit_trailer(s, stream_id, nv, r->n_trailers) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return (ssize_t)n;
}

static void h2_send(gw_conn *c, gw_req *r) {
  nghttp2_nv nv[GW_MAX_RESP_HEADERS + 2];
  char status[8];
  snprintf(status, sizeof status, "%d", r->status);
  size_t n = 0;
  nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status),
                         NGHTTP2_NV_FLAG_NONE};
  char clen[24];
  for (size_t i = 0; i < r->n_resp_headers; i++)
    nv[n++] = (nghttp2_nv){(uint8_t *)r->resp_headers[i].name, (uint8_t *)r->resp_headers[i].value,
                           strlen(r->resp_headers[i].name), strlen(r->resp_headers[i].value),
                           NGHTTP2_NV_FLAG_NONE};
  if (r->n_trailers == 0) {
    snprintf(clen, sizeof clen, "%zu", r->resp_len);
    nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen),
                           NGHTTP2_NV_FLAG_NONE};
  }
  int has_data = r->resp_len > 0 || r->n_trailers > 0;
  nghttp2_data_provider prd;
  prd.source.ptr = r;
  prd.read_callback = h2_read_body;
  nghttp2_submit_response(c->h2, r->stream_id, nv, n, has_data ? &prd : NULL);
  /* Inside mem_recv the session must not send; h2_process flushes after it. */
  if (!c->in_recv && h2_flush(c) != 0) conn_free(c);
}

static int h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  gw_conn *c = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  gw_req *r = req_new(c);
  if (r == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  r->is_h2 = 1;
  r->stream_id = f->hd.stream_id;
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, r);
  return 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user) {
  (void)flags;
  (void)user;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  gw_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r == NULL || r->header_overflow) return 0;
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0; /* request trailers are ignored */
  size_t off = r->hlen;
  if (hbuf_append(r, (const char *)name, namelen) != 0 || hbuf_end(r) != 0) return 0;
  size_t voff = r->hlen;
  if (hbuf_append(r, (const char *)value, valuelen) != 0 || hbuf_end(r) != 0) return 0;
  const char *n = r->hbuf + off;
  const char *v = r->hbuf + voff;
  if (strcmp(n, ":method") == 0) {
    r->method = v;
  } else if (strcmp(n, ":path") == 0) {
    r->path = v;
  } else if (n[0] == ':') {
    /* :scheme, :authority */
    if (strcmp(n, ":authority") == 0 && r->n_headers < GW_MAX_HEADERS) {
      r->headers[r->n_headers].name = "host";
      r->headers[r->n_headers].value = v;
      r->n_headers++;
    }
  } else if (r->n_headers < GW_MAX_HEADERS) {
    r->headers[r->n_headers].name = n;
    r->headers[r->n_headers].value = v;
    r->n_headers++;
  } else {
    r->header_overflow = 1;
  }
  return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                      size_t len, void *user) {
  (void)flags;
  (void)user;
  gw_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
  if (r != NULL) body_append(r, data, len);
  return 0;
}

static void h2_dispatch(gw_req *r) {
  if (r->responded || r->refs > 1) return;
  if (r->header_overflow)
    gw_respond_too_large(r, 431, "request headers are too large");
  else if (r->method == NULL || r->path == NULL)
    gw_respond_error(r, GRPC_STATUS_INVALID_ARGUMENT, "missing :method or :path");
  else
    gw_handle_request(r);
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  (void)user;
  if (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) return 0;
  gw_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r == NULL) return 0;
  if (r->body_overflow && !r->responded) {
    /* answer 413 at once and stop reading the rest of the body */
    gw_respond_too_large(r, 413, "request body is too large");
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
  }
  if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) h2_dispatch(r);
  return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *user) {
  (void)code;
  (void)user;
  gw_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
  if (r != NULL) {
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    req_detach(r);
  }
  return 0;
}

static int h2_flush(gw_conn *c) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  while (evbuffer_get_length(out) < GW_OUT_HIGH) {
    const uint8_t *data = NULL;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) return -1;
    if (n == 0) break;
    evbuffer_add(out, data, (size_t)n);
  }
  if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
      evbuffer_get_length(out) == 0)
    return -1;
  return 0;
}

static int h2_start(gw_conn *c) {
  nghttp2_session_callbacks *cbs;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return -1;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
  nghttp2_option *opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
  int rc = nghttp2_session_server_new2(&c->h2, cbs, c, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rc != 0) return -1;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)gw.cfg.max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GW_HEADER_BYTES},
  };
  if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0) return -1;
  return 0;
}

static void h2_process(gw_conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  size_t len = evbuffer_get_length(in);
  if (len > 0) {
    const uint8_t *data = evbuffer_pullup(in, -1);
    c->in_recv = 1;
    ssize_t n = nghttp2_session_mem_recv(c->h2, data, len);
    c->in_recv = 0;
    if (n < 0) {
      conn_free(c);
      return;
    }
    evbuffer_drain(in, (size_t)n);
  }
  if (h2_flush(c) != 0) conn_free(c);
}

/* ---- connection events ----------------------------------------------------------- */

void gw_conn_respond(gw_req *r) {
  gw_conn *c = r->conn;
  if (r->responded || c == NULL) return;
  r->responded = 1;
  if (r->is_h2) {
    h2_send(c, r);
  } else {
    h1_send(c, r);
  }
}

static void conn_free(gw_conn *c) {
  if (c->freeing) return;
  c->freeing = 1;
  while (c->reqs != NULL) req_detach(c->reqs);
  if (c->h2 != NULL) nghttp2_session_del(c->h2);
  bufferevent_free(c->bev);
  free(c->h1_url);
  free(c);
  gw_metrics_connections(-1);
}

static void decide_proto(gw_conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  size_t len = evbuffer_get_length(in);
  size_t cmp = len < 24 ? len : 24;
  const uint8_t *data = evbuffer_pullup(in, (ssize_t)cmp);
  if (memcmp(data, H2_PREFACE, cmp) == 0) {
    if (len < 24) return; /* wait for the rest of the preface */
    c->proto = PROTO_H2;
    if (h2_start(c) != 0) conn_free(c);
  } else {
    c->proto = PROTO_H1;
  }
}

static void on_read(struct bufferevent *bev, void *arg) {
  (void)bev;
  gw_conn *c = arg;
  if (c->proto == PROTO_UNKNOWN) {
    decide_proto(c);
    if (c->proto == PROTO_UNKNOWN || c->freeing) return;
  }
  if (c->proto == PROTO_H2)
    h2_process(c);
  else
    h1_process(c);
}

static void on_write(struct bufferevent *bev, void *arg) {
  gw_conn *c = arg;
  struct evbuffer *out = bufferevent_get_output(bev);
  if (c->proto == PROTO_H2) {
    if (h2_flush(c) != 0) conn_free(c);
    return;
  }
  if (c->close_after_write && evbuffer_get_length(out) == 0) conn_free(c);
}

/* 1 when a complete request of c is with an upstream (or its access check). */
static int waiting_on_upstream(const gw_conn *c) {
  for (const gw_req *r = c->reqs; r != NULL; r = r->conn_next)
    if (r->refs > 1) return 1;
  return 0;
}

static void on_event(struct bufferevent *bev, short events, void *arg) {
  gw_conn *c = arg;
  if (events & BEV_EVENT_CONNECTED) {
    /* TLS handshake done: ALPN decides the protocol. */
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn != NULL && alpn_len == 2 && memcmp(alpn, "h2", 2) == 0) {
      c->proto = PROTO_H2;
      if (h2_start(c) != 0 || h2_flush(c) != 0) conn_free(c);
    } else {
      c->proto = PROTO_H1;
    }
    return;
  }
  if ((events & BEV_EVENT_TIMEOUT) && !(events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) &&
      c->proto == PROTO_H2 && waiting_on_upstream(c)) {
    /* quiet, but streams are waiting on upstreams: not idle; keep reading. A stream
     * the client never finished does not count, or it could hold the connection. */
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return;
  }
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) conn_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg) {
  (void)salen;
  gw_worker *w = arg;
  int tls = l == w->listeners[1];
  gw_conn *c = calloc(1, sizeof *c);
  char *url = malloc(GW_URL_BYTES);
  if (c == NULL || url == NULL) {
    free(c);
    free(url);
    evutil_closesocket(fd);
    return;
  }
  c->worker = w;
  c->tls = tls;
  c->h1_url = url;
  if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer_ip, sizeof c->peer_ip);
  else
    inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer_ip, sizeof c->peer_ip);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (tls) {
    SSL *ssl = SSL_new(gw.ssl_ctx);
    c->bev = ssl != NULL ? bufferevent_openssl_socket_new(w->base, fd, ssl,
                                                          BUFFEREVENT_SSL_ACCEPTING,
                                                          BEV_OPT_CLOSE_ON_FREE)
                         : NULL;
  } else {
    c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  if (c->bev == NULL) {
    free(c->h1_url);
    free(c);
    evutil_closesocket(fd);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  struct timeval idle = {gw.cfg.idle_timeout_ms / 1000, (gw.cfg.idle_timeout_ms % 1000) * 1000};
  bufferevent_set_timeouts(c->bev, &idle, &idle);
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  gw_metrics_connections(1);
}

static struct evconnlistener *listen_on(gw_worker *w, const char *addr) {
  struct sockaddr_storage ss;
  int sslen = sizeof ss;
  if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) return NULL;
  return evconnlistener_new_bind(w->base, on_accept, w,
                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                     LEV_OPT_REUSEABLE_PORT,
                                 512, (struct sockaddr *)&ss, sslen);
}

int gw_worker_listen(gw_worker *w) {
  w->listeners[0] = listen_on(w, gw.cfg.listen);
  if (w->listeners[0] == NULL) {
    yw_log(YW_LOG_ERROR, "gateway.listen_failed", NULL, "cannot listen on %s: %s", gw.cfg.listen,
           strerror(errno));
    return YW_EIO;
  }
  if (gw.ssl_ctx != NULL) {
    w->listeners[1] = listen_on(w, gw.cfg.tls_listen);
    if (w->listeners[1] == NULL) {
      yw_log(YW_LOG_ERROR, "gateway.listen_failed", NULL, "cannot listen on %s: %s",
             gw.cfg.tls_listen, strerror(errno));
      return YW_EIO;
    }
  }
  return 0;
}

void gw_worker_unlisten(gw_worker *w) {
  for (int i = 0; i < 2; i++) {
    if (w->listeners[i] != NULL) evconnlistener_free(w->listeners[i]);
    w->listeners[i] = NULL;
  }
}
