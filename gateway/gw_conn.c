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
 * nghttp2_submit_trailer). The client's send windows are ours to open (no automatic
 * WINDOW_UPDATE): the connection's reopens as bytes arrive, so that one stream cannot
 * stall the others; a stream's reopens as its body is copied into the request
 * (nghttp2_session_consume_stream), never past max_body, and not while the connection
 * holds more than conn_buffer bytes, except for its oldest unfinished body so that one
 * always completes. A client can so make a connection hold conn_buffer plus one initial
 * window (64 KiB) per stream, not max_body per stream.
 *
 * Limits, so that a slow or hostile client costs a bounded share:
 *   connections   max_connections in all, worker_connections per worker; past them a new
 *                 connection is accepted and closed at once (and logged)
 *   head          a request head (HTTP/1.1: first byte to end of headers; HTTP/2: the
 *                 preface and SETTINGS, and each HEADERS to END_HEADERS) must arrive
 *                 within min(header_timeout_ms, idle_timeout_ms); past it HTTP/1.1 is
 *                 closed (as nginx does) and HTTP/2 gets GOAWAY(ENHANCE_YOUR_CALM)
 *   idle          idle_timeout_ms from the last complete request, not from the last
 *                 byte, so that trickling bytes or PINGs do not keep a connection; a
 *                 request body must arrive within it from its head; time spent waiting
 *                 on an upstream does not count, but a streamed answer held back only
 *                 by a flow-control window the client keeps shut does
 *   output        past GW_OUT_HIGH unsent bytes a connection stops reading (and so stops
 *                 taking requests) until the client has read down to GW_OUT_LOW; the
 *                 write timeout (idle_timeout_ms without progress) ends a client that
 *                 never reads
 *   memory        past conn_buffer bytes in request arenas and buffers, new HTTP/2
 *                 streams are refused (REFUSED_STREAM) and stream windows stay shut
 *   headers, body header bytes (431 / stream reset), body bytes (413, on HTTP/2 with its
 *                 body, then RST_STREAM(NO_ERROR) once the answer is out), concurrent
 *                 streams (SETTINGS)
 *
 * Streamed bodies: an upload route's body (gw_request_body_stream says which, at the
 * end of the head) is not collected: the request starts at its head and the body is
 * handed on as it arrives, at most GW_BODY_STREAM_BUF bytes held; HTTP/2 reopens the
 * stream's window and HTTP/1.1 parses on only as the request takes bytes
 * (gw_conn_body_taken), each new piece told with gw_request_body_more. Its limit is the
 * route's, not max_body. A streamed request answered before its body's end closes an
 * HTTP/1.1 connection, and resets an HTTP/2 stream with NO_ERROR after the answer.
 *
 * Drain (SIGTERM): listeners close; HTTP/2 gets a shutdown notice (GOAWAY with the
 * largest stream id) and GW_GOAWAY_DELAY_MS later the final GOAWAY; HTTP/1.1 answers
 * carry connection: close; idle connections close at once; what is left after drain_ms
 * is cut (its upstream calls cancelled) and the worker's loop ends.
 *
 * Offers: gw_worker_listen, gw_worker_unlisten, gw_worker_drain, gw_conn_respond,
 * gw_req_add_header, gw_req_header, gw_req_unref, gw_conn_body_taken.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "gw.h"
#include "gw_metrics.h"
#include "gw_sse.h"
#include "yw_err.h"
#include "yw_log.h"

#define GW_OUT_HIGH (256 * 1024)
#define GW_OUT_LOW (GW_OUT_HIGH / 2)
#define GW_IN_HIGH (256 * 1024) /* input read ahead of the parser */
/* a streamed answer's producer is told to go on once less than this waits for HTTP/2 */
#define GW_STREAM_LOW (64 * 1024)
/* between HTTP/2's shutdown notice and the final GOAWAY: a round trip for requests the
 * client sent before it saw the notice */
#define GW_GOAWAY_DELAY_MS 1000

/* open connections of every worker, against max_connections */
static atomic_long open_total;

static const char H2_PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum proto { PROTO_UNKNOWN = 0, PROTO_H1, PROTO_H2 };

/* Which wait of the client is being timed: one timer per connection. */
enum deadline { DL_NONE = 0, DL_HEAD, DL_IDLE };

struct gw_conn {
  gw_worker *worker;
  gw_conn *next, *prev;   /* the worker's open connections */
  struct event *timer;
  enum deadline deadline;
  int out_paused;         /* reading stopped until the client reads its answers */
  int h2_settled;         /* the client's SETTINGS arrived after its preface */
  int32_t h2_headers_sid; /* the stream whose header block is arriving, 0 when none */
  int h2_goaway;          /* the final GOAWAY has been submitted */
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
  int h1_in_process;      /* inside h1_process */
  int h1_handed;          /* the complete request went to gw_request_start */
  char peer_ip[64];
};

static void conn_free(gw_conn *c);
static void h1_resume(gw_conn *c);
static void h1_answered(gw_conn *c, gw_req *r, int keep);
static int h2_flush(gw_conn *c);
static void h2_process(gw_conn *c);

/* ---- deadlines ------------------------------------------------------------------- */

/* A head slower than the idle timeout is as good as idle. */
static long head_timeout_ms(void) {
  return gw.cfg.header_timeout_ms < gw.cfg.idle_timeout_ms ? gw.cfg.header_timeout_ms
                                                           : gw.cfg.idle_timeout_ms;
}

/* Starts timing d from now (restarting it), or stops timing with DL_NONE. */
static void conn_deadline(gw_conn *c, enum deadline d) {
  if (c->freeing) return;
  c->deadline = d;
  if (d == DL_NONE) {
    evtimer_del(c->timer);
    return;
  }
  long ms = d == DL_HEAD ? head_timeout_ms() : gw.cfg.idle_timeout_ms;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  evtimer_add(c->timer, &tv);
}

/* 1 when r's streamed answer (HTTP/2) has bytes to send that only the client's
 * flow-control window holds back: the stream's or the connection's window is shut. */
static int stream_held_by_client(const gw_conn *c, const gw_req *r) {
  if (c->h2 == NULL || r->stream_out == NULL || evbuffer_get_length(r->stream_out) == 0) return 0;
  return nghttp2_session_get_stream_remote_window_size(c->h2, r->stream_id) <= 0 ||
         nghttp2_session_get_remote_window_size(c->h2) <= 0;
}

/* 1 when a complete request of c is with an upstream (or its access check), or its
 * answer is a stream still open: the wait is ours, not the client's. A stream whose
 * next bytes wait on a window the client keeps shut is the client's wait: otherwise a
 * client that answers PINGs but never opens its windows would hold the stream, and
 * the service's call behind it, for ever. */
static int waiting_on_upstream(const gw_conn *c) {
  for (const gw_req *r = c->reqs; r != NULL; r = r->conn_next)
    if ((r->refs > 1 && !r->responded) ||
        (r->streaming && !r->stream_ended && !stream_held_by_client(c, r)))
      return 1;
  return 0;
}

/* HTTP/2: after anything that completes or ends a request, which wait applies. */
static void h2_rearm(gw_conn *c) {
  if (c->freeing) return;
  if (!c->h2_settled || c->h2_headers_sid != 0) {
    if (c->deadline != DL_HEAD) conn_deadline(c, DL_HEAD);
    return;
  }
  conn_deadline(c, waiting_on_upstream(c) ? DL_NONE : DL_IDLE);
}

/* Bytes the connection holds for its client: request arenas (headers, bodies, answers
 * nghttp2 has not sent yet) and both socket buffers. */
static size_t conn_memory(const gw_conn *c) {
  size_t n = evbuffer_get_length(bufferevent_get_output(c->bev)) +
             evbuffer_get_length(bufferevent_get_input(c->bev));
  for (const gw_req *r = c->reqs; r != NULL; r = r->conn_next) n += yw_arena_used(r->arena);
  return n;
}

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
  gw_stream_free(r->stream);
  if (r->stream_out != NULL) evbuffer_free(r->stream_out);
  free(r->up_message);
  free(r->up_frame);
  free(r->up_trailers);
  free(r->up_fields);
  yw_arena_free(r->arena);
}

/* The client is gone or the stream closed: unlink from the connection. */
static void req_detach(gw_req *r) {
  gw_conn *c = r->conn;
  if (c == NULL) return;
  /* every "the client is gone" passes here: an unanswered request is logged as 499
   * and its upstream call cancelled, as is a streamed answer still open */
  if (!r->responded || (r->streaming && !r->stream_ended)) gw_request_abandon(r);
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
  /* a streamed body counts against its route's limit and is held a piece at a time */
  size_t limit = r->body_stream ? r->body_limit : (size_t)gw.cfg.max_body;
  size_t most = r->body_stream ? 2 * GW_BODY_STREAM_BUF : (size_t)gw.cfg.max_body;
  if ((r->body_stream ? r->body_total : r->body_len) + len > limit || r->body_len + len > most) {
    r->body_overflow = 1;
    return -1;
  }
  if (r->body_len + len > r->body_cap) {
    size_t cap = r->body_cap != 0 ? r->body_cap * 2 : 4096;
    while (cap < r->body_len + len) cap *= 2;
    if (cap > most) cap = most;
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
  r->body_total += len;
  return 0;
}

void gw_conn_body_taken(gw_req *r, size_t n) {
  if (n > r->body_len) n = r->body_len;
  memmove(r->body, r->body + n, r->body_len - n);
  r->body_len -= n;
  gw_conn *c = r->conn;
  if (c == NULL || c->freeing || n == 0) return;
  /* read on from the loop, not from inside the request's own call */
  if (r->is_h2) {
    size_t k = n < r->h2_unacked ? n : r->h2_unacked;
    r->h2_unacked -= k;
    if (k > 0 && !r->body_done) nghttp2_session_consume_stream(c->h2, r->stream_id, k);
    bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  } else if (c->h1_req == r && !r->body_done) {
    conn_deadline(c, DL_IDLE); /* the client's turn again */
    bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  }
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
  /* the head's clock starts at its first byte (already running when that byte also
   * decided the protocol) */
  if (c->deadline != DL_HEAD) conn_deadline(c, DL_HEAD);
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
  /* an upload route's body is handed on as it arrives, within the route's own limit */
  size_t stream_limit = gw_request_body_stream(r);
  if (stream_limit > 0) {
    r->body_stream = 1;
    r->body_limit = stream_limit;
  }
  if (p->content_length != ULLONG_MAX &&
      p->content_length > (r->body_stream ? (uint64_t)r->body_limit : (uint64_t)gw.cfg.max_body))
    r->body_overflow = 1;
  /* a client that waits for "100 Continue" before sending its body (curl past 1 MiB,
   * upload clients) gets it at once, unless its body is refused already; without it
   * such a client waits its own timeout (a second for curl) before every upload */
  if (!r->body_overflow && !r->header_overflow && p->http_major == 1 && p->http_minor >= 1) {
    const char *expect = gw_req_header(r, "expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
      evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
  }
  /* the body has the idle time from its head, however it trickles */
  conn_deadline(c, DL_IDLE);
  return 0;
}

static int h1_on_body(http_parser *p, const char *at, size_t len) {
  gw_conn *c = p->data;
  body_append(c->h1_req, (const uint8_t *)at, len);
  return 0;
}

static int h1_on_message_complete(http_parser *p) {
  gw_conn *c = p->data;
  if (c->h1_req != NULL && c->h1_req->body_stream) c->h1_req->body_done = 1;
  c->h1_busy = 1;
  http_parser_pause(p, 1);
  conn_deadline(c, DL_NONE); /* our turn: the upstream's deadline and the write timeout */
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
  conn_deadline(c, DL_NONE);
}

/* A streamed body's request is handed over once its head is read, then told each time
 * more of its body (or its end) has come. */
static void h1_body_news(gw_conn *c) {
  gw_req *r = c->h1_req;
  if (r == NULL || !r->body_stream) return;
  if (c->h1_handed) {
    gw_request_body_more(r);
    return;
  }
  c->h1_handed = 1;
  r->refs++; /* it may be answered and let go of at once */
  gw_request_start(r);
  gw_req_unref(r);
}

/* Feeds buffered input to the parser and hands over each complete message, until one
 * waits on an upstream, the client has too much unread output, or input runs out. */
static void h1_process(gw_conn *c) {
  /* An answer given at once comes back here through h1_send and h1_resume: this loop
   * takes the next pipelined request instead, so they do not nest a call deeper each. */
  if (c->h1_in_process) return;
  c->h1_in_process = 1;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  for (;;) {
    while (!c->h1_busy && !c->close_after_write && !c->out_paused &&
           evbuffer_get_length(in) > 0) {
      size_t len = evbuffer_get_length(in);
      gw_req *sr = c->h1_req;
      if (sr != NULL && sr->body_stream) {
        /* a streamed body: no more than the request has room for; the rest waits in the
         * input (and then in the socket) until it takes some (gw_conn_body_taken) */
        size_t room = sr->body_len < GW_BODY_STREAM_BUF ? GW_BODY_STREAM_BUF - sr->body_len : 0;
        if (room == 0) {
          conn_deadline(c, DL_NONE); /* the wait is ours, not the client's */
          break;
        }
        if (len > room) len = room;
      }
      const char *data = (const char *)evbuffer_pullup(in, (ssize_t)len);
      size_t used = http_parser_execute(&c->parser, &h1_settings, data, len);
      enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
      if (err == HPE_PAUSED) {
        evbuffer_drain(in, used);
        h1_body_news(c);
        break;
      }
      if (err != HPE_OK) {
        evbuffer_drain(in, len);
        if (c->h1_req != NULL && c->h1_req->conn != NULL) req_detach(c->h1_req);
        c->h1_req = NULL;
        h1_write_error_and_close(c, 400, "malformed HTTP/1.1 request");
        c->h1_in_process = 0;
        return;
      }
      evbuffer_drain(in, used);
      h1_body_news(c);
    }
    if (!c->h1_busy || c->h1_handed || c->h1_req == NULL || c->h1_req->method == NULL ||
        c->h1_req->responded || c->h1_req->refs != 1)
      break;
    /* A complete message: hand it over once. Reading stays on (the parser is paused),
     * so a client that closes while its answer is being made is seen at once (EOF),
     * its request abandoned (499) and its upstream call cancelled; what it pipelines
     * meanwhile waits in the input buffer, up to its high-water mark. */
    gw_req *r = c->h1_req;
    c->h1_handed = 1;
    gw_request_start(r); /* a head or body past its limit is answered by its first phases */
  }
  c->h1_in_process = 0;
}

/* 1 for a status that never has a body (RFC 9110: 1xx, 204, 304). */
static int answer_bodiless(const gw_req *r) {
  return (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304;
}

/* Appends len bytes of s to buf (cap bytes, *n used); 1, or 0 when they do not fit. */
static int head_put(char *buf, size_t cap, size_t *n, const char *s, size_t len) {
  if (*n + len > cap) return 0;
  memcpy(buf + *n, s, len);
  *n += len;
  return 1;
}

static void h1_send(gw_conn *c, gw_req *r) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  int keep = http_should_keep_alive(&c->parser) && !r->body_overflow && !r->header_overflow &&
             !c->worker->draining && !(r->body_stream && !r->body_done);
  /* the head is built in one buffer and added once (no printf per header) */
  char head[4096], line[96];
  size_t n = 0;
  int ok = 1;
  int ll = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", r->status,
                    http_status_str((enum http_status)r->status));
  ok = ok && head_put(head, sizeof head, &n, line, (size_t)ll);
  for (size_t i = 0; i < r->n_resp_headers && ok; i++)
    ok = head_put(head, sizeof head, &n, r->resp_headers[i].name, strlen(r->resp_headers[i].name)) &&
         head_put(head, sizeof head, &n, ": ", 2) &&
         head_put(head, sizeof head, &n, r->resp_headers[i].value, strlen(r->resp_headers[i].value)) &&
         head_put(head, sizeof head, &n, "\r\n", 2);
  /* 304 (and 1xx/204) carry no body and no length: a length would be the one of the
   * representation, which the answer does not know; HEAD says the length, sends none */
  if (answer_bodiless(r))
    ll = snprintf(line, sizeof line, "%s\r\n", keep ? "" : "connection: close\r\n");
  else if (r->streaming && r->stream_sized) /* its pieces as they come, its length known */
    ll = snprintf(line, sizeof line, "content-length: %llu\r\n%s\r\n",
                  (unsigned long long)r->stream_size, keep ? "" : "connection: close\r\n");
  else if (r->streaming) /* a stream: its pieces as they come, chunked */
    ll = snprintf(line, sizeof line, "transfer-encoding: chunked\r\n%s\r\n",
                  keep ? "" : "connection: close\r\n");
  else
    ll = snprintf(line, sizeof line, "content-length: %zu\r\n%s\r\n", r->resp_len,
                  keep ? "" : "connection: close\r\n");
  ok = ok && head_put(head, sizeof head, &n, line, (size_t)ll);
  if (ok) {
    evbuffer_add(out, head, n);
  } else { /* headers past 4 KiB: the slow way */
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", r->status,
                        http_status_str((enum http_status)r->status));
    for (size_t i = 0; i < r->n_resp_headers; i++)
      evbuffer_add_printf(out, "%s: %s\r\n", r->resp_headers[i].name, r->resp_headers[i].value);
    if (answer_bodiless(r))
      evbuffer_add_printf(out, "%s\r\n", keep ? "" : "connection: close\r\n");
    else if (r->streaming && r->stream_sized)
      evbuffer_add_printf(out, "content-length: %llu\r\n%s\r\n",
                          (unsigned long long)r->stream_size, keep ? "" : "connection: close\r\n");
    else if (r->streaming)
      evbuffer_add_printf(out, "transfer-encoding: chunked\r\n%s\r\n",
                          keep ? "" : "connection: close\r\n");
    else
      evbuffer_add_printf(out, "content-length: %zu\r\n%s\r\n", r->resp_len,
                          keep ? "" : "connection: close\r\n");
  }
  if (r->streaming) {
    /* the connection is the stream's until gw_conn_stream_end; no idle timeout meanwhile
     * (the write timeout still ends a client that stops reading) */
    size_t first = r->resp_len;
    r->resp_len = 0;
    if (first > 0) gw_conn_stream_write(r, r->resp_body, first);
    return;
  }
  if (r->resp_len > 0 && !answer_bodiless(r) && strcmp(r->method, "HEAD") != 0)
    evbuffer_add(out, r->resp_body, r->resp_len);
  h1_answered(c, r, keep);
}

/* The answer of r is all in the output: the connection takes the next request, or
 * closes once it is written. */
static void h1_answered(gw_conn *c, gw_req *r, int keep) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  if (!keep) c->close_after_write = 1;
  req_detach(r);
  c->h1_req = NULL;
  c->h1_busy = 0;
  c->h1_handed = 0;
  if (c->close_after_write) return;
  /* a client that pipelines requests but does not read the answers gets no more of
   * them parsed until it reads (on_write resumes); the write timeout times that wait */
  if (evbuffer_get_length(out) > GW_OUT_HIGH) {
    c->out_paused = 1;
    return;
  }
  conn_deadline(c, DL_IDLE);
  h1_resume(c);
}

static void h1_resume(gw_conn *c) {
  http_parser_pause(&c->parser, 0);
  bufferevent_enable(c->bev, EV_READ);
  h1_process(c);
}

/* ---- HTTP/2 ---------------------------------------------------------------------- */

/* The last DATA of r's answer: EOF, and its trailers when it has some. */
static void h2_body_end(nghttp2_session *s, int32_t stream_id, gw_req *r, uint32_t *flags) {
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

static ssize_t h2_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)user;
  gw_req *r = src->ptr;
  size_t left = r->resp_len - r->resp_off;
  size_t n = left < length ? left : length;
  if (n > 0) memcpy(buf, r->resp_body + r->resp_off, n);
  r->resp_off += n;
  if (r->resp_off == r->resp_len) h2_body_end(s, stream_id, r, flags);
  return (ssize_t)n;
}

/* A streamed answer: what has been written so far (stream_out), deferred while nothing
 * is there, EOF once gw_conn_stream_end was called and all is taken. */
static ssize_t h2_read_stream(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                              uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)user;
  gw_req *r = src->ptr;
  size_t avail = evbuffer_get_length(r->stream_out);
  if (avail == 0 && !r->stream_ended) return NGHTTP2_ERR_DEFERRED;
  size_t n = avail < length ? avail : length;
  if (n > 0) evbuffer_remove(r->stream_out, buf, n);
  if (avail == n && r->stream_ended) h2_body_end(s, stream_id, r, flags);
  if (!r->stream_ended && avail - n < GW_STREAM_LOW && r->writable != NULL)
    r->writable(r, r->writable_arg);
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
  /* a value that is new every time (the request id) is not put into the client's HPACK
   * table: it would only push out the values that repeat */
  for (size_t i = 0; i < r->n_resp_headers; i++)
    nv[n++] = (nghttp2_nv){(uint8_t *)r->resp_headers[i].name, (uint8_t *)r->resp_headers[i].value,
                           strlen(r->resp_headers[i].name), strlen(r->resp_headers[i].value),
                           strcmp(r->resp_headers[i].name, "x-request-id") == 0
                               ? NGHTTP2_NV_FLAG_NO_INDEX
                               : NGHTTP2_NV_FLAG_NONE};
  int bodiless = answer_bodiless(r);
  if (r->streaming) {
    /* a stream: DATA as gw_conn_stream_write gives it; a length only when it is known */
    if (r->stream_sized) {
      snprintf(clen, sizeof clen, "%llu", (unsigned long long)r->stream_size);
      nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen),
                             NGHTTP2_NV_FLAG_NONE};
    }
    r->stream_out = evbuffer_new();
    if (r->stream_out == NULL ||
        (r->resp_len > 0 && evbuffer_add(r->stream_out, r->resp_body, r->resp_len) != 0)) {
      nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
    } else {
      nghttp2_data_provider sp;
      sp.source.ptr = r;
      sp.read_callback = h2_read_stream;
      nghttp2_submit_response(c->h2, r->stream_id, nv, n, &sp);
    }
    h2_rearm(c);
    if (!c->in_recv && h2_flush(c) != 0) conn_free(c);
    return;
  }
  if (r->n_trailers == 0 && !bodiless) { /* HEAD: the length of what GET would send */
    snprintf(clen, sizeof clen, "%zu", r->resp_len);
    nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen),
                           NGHTTP2_NV_FLAG_NONE};
  }
  int has_data = !bodiless && strcmp(r->method != NULL ? r->method : "", "HEAD") != 0 &&
                 (r->resp_len > 0 || r->n_trailers > 0);
  nghttp2_data_provider prd;
  prd.source.ptr = r;
  prd.read_callback = h2_read_body;
  nghttp2_submit_response(c->h2, r->stream_id, nv, n, has_data ? &prd : NULL);
  h2_rearm(c); /* answered: from now on the wait is the client's */
  /* Inside mem_recv the session must not send; h2_process flushes after it. */
  if (!c->in_recv && h2_flush(c) != 0) conn_free(c);
}

/* 1 when r is the connection's oldest request still receiving its body: the one whose
 * window stays open past conn_buffer, so that some body always completes. */
static int h2_oldest_receiving(gw_conn *c, const gw_req *r) {
  for (const gw_req *o = c->reqs; o != NULL; o = o->conn_next)
    if (o != r && o->stream_id < r->stream_id && !o->body_overflow &&
        nghttp2_session_get_stream_remote_close(c->h2, o->stream_id) == 0)
      return 0;
  return 1;
}

/* Reopens r's stream window by the body bytes it has kept, unless the connection is over
 * its memory budget. */
static void h2_give_window(gw_conn *c, gw_req *r) {
  if (r->h2_unacked == 0 || r->body_stream) return; /* a streamed body's: as it is taken */
  if (conn_memory(c) >= (size_t)gw.cfg.conn_buffer && !h2_oldest_receiving(c, r)) return;
  nghttp2_session_consume_stream(c->h2, r->stream_id, r->h2_unacked);
  r->h2_unacked = 0;
}

/* Memory was freed: windows held back for the budget may open. */
static void h2_give_windows(gw_conn *c) {
  if (c->h2 == NULL || c->freeing) return;
  for (gw_req *r = c->reqs; r != NULL; r = r->conn_next) h2_give_window(c, r);
}

static int h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  gw_conn *c = user;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  /* HEADERS to END_HEADERS is a head: timed (one header block at a time per connection) */
  c->h2_headers_sid = f->hd.stream_id;
  conn_deadline(c, DL_HEAD);
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (conn_memory(c) >= (size_t)gw.cfg.conn_buffer) {
    /* the client may try again once it has read what it asked for */
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
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
  gw_conn *c = user;
  nghttp2_session_consume_connection(s, len);
  gw_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
  /* bytes nobody keeps (a refused stream, a body past max_body) leave the stream's
   * window shut */
  if (r == NULL) return 0;
  if (body_append(r, data, len) != 0) {
    if (r->body_stream) gw_request_body_more(r); /* its phase answers the overflow */
    return 0;
  }
  r->h2_unacked += len;
  if (r->body_stream)
    gw_request_body_more(r);
  else
    h2_give_window(c, r);
  return 0;
}

static void h2_dispatch(gw_req *r) {
  if (r->responded || r->refs > 1) return;
  gw_request_start(r);
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  gw_conn *c = user;
  if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK) && !c->h2_settled) {
    c->h2_settled = 1; /* the preface's deadline is met */
    h2_rearm(c);
    return 0;
  }
  if (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) return 0;
  int complete = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == c->h2_headers_sid) {
    c->h2_headers_sid = 0;
    complete = 1;
  }
  gw_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r != NULL && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    /* an upload route's body is handed on as it arrives, within the route's own limit:
     * the request starts at its head */
    size_t stream_limit =
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) ? 0 : gw_request_body_stream(r);
    if (stream_limit > 0) {
      r->body_stream = 1;
      r->body_limit = stream_limit;
    }
    /* a declared length past the limit is answered before any of the body comes */
    const char *cl = gw_req_header(r, "content-length");
    if (cl != NULL && strtoull(cl, NULL, 10) > (r->body_stream ? (unsigned long long)r->body_limit
                                                               : (unsigned long long)gw.cfg.max_body))
      r->body_overflow = 1;
  }
  if (r != NULL && r->body_overflow && !r->responded) {
    /* answer 413 at once; h2_on_frame_send resets the stream once the whole answer,
     * body included, is out, so the client stops sending the rest */
    gw_request_start(r); /* its limits phase answers 413 */
  } else if (r != NULL && r->body_stream) {
    if (f->hd.type == NGHTTP2_HEADERS) h2_dispatch(r);
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
      r->body_done = 1;
      gw_request_body_more(r);
    }
  } else if (r != NULL && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    h2_dispatch(r);
  }
  if (complete) h2_rearm(c);
  return 0;
}

static int h2_on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  gw_conn *c = user;
  if (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) return 0;
  gw_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r != NULL && (r->body_overflow || (r->body_stream && !r->body_done)) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(s, f->hd.stream_id) == 0)
    /* RFC 9113 8.1: a complete answer before the request's end, then NO_ERROR */
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
  /* the client reads what it asked for: that is progress, not idleness */
  if (f->hd.type == NGHTTP2_DATA) h2_rearm(c);
  return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *user) {
  (void)code;
  gw_conn *c = user;
  if (c->freeing) return 0;
  if (stream_id == c->h2_headers_sid) c->h2_headers_sid = 0;
  gw_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
  if (r != NULL) {
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    req_detach(r);
    h2_give_windows(c);
  }
  h2_rearm(c);
  return 0;
}

/* After a send: a streamed answer may have just run into a window the client keeps
 * shut, or out of one. The idle timer starts when the wait turns the client's and is
 * not restarted while it stays so; it stops when the wait is ours again. */
static void h2_recheck(gw_conn *c) {
  if (c->freeing || !c->h2_settled || c->h2_headers_sid != 0) return;
  int ours = waiting_on_upstream(c);
  if (ours && c->deadline == DL_IDLE)
    conn_deadline(c, DL_NONE);
  else if (!ours && c->deadline == DL_NONE)
    conn_deadline(c, DL_IDLE);
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
  h2_recheck(c);
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
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, h2_on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
  nghttp2_option *opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
  /* a stream's window opens as its body is taken (h2_give_window), not as bytes arrive */
  nghttp2_option_set_no_auto_window_update(opt, 1);
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
  if (h2_flush(c) != 0) {
    conn_free(c);
    return;
  }
  if (!nghttp2_session_want_read(c->h2)) {
    bufferevent_disable(c->bev, EV_READ); /* GOAWAY sent: only the last bytes go out */
  } else if (evbuffer_get_length(bufferevent_get_output(c->bev)) >= GW_OUT_HIGH) {
    /* the client does not read: take no more of its requests until it does */
    c->out_paused = 1;
    bufferevent_disable(c->bev, EV_READ);
  }
}

/* Ends an HTTP/2 connection with GOAWAY(code); it closes once that is written. */
static void h2_terminate(gw_conn *c, uint32_t code) {
  nghttp2_session_terminate_session(c->h2, code);
  bufferevent_disable(c->bev, EV_READ);
  if (h2_flush(c) != 0) conn_free(c);
}

/* ---- streamed answers ------------------------------------------------------------ */

int gw_conn_stream_write(gw_req *r, const void *data, size_t len) {
  gw_conn *c = r->conn;
  if (c == NULL || c->freeing || !r->streaming || r->stream_ended || !r->responded)
    return YW_ECANCELED;
  if (len == 0) return 0;
  r->resp_len += len; /* bytes sent, for the access log */
  if (!r->is_h2 && r->stream_sized) /* the length was in the head: the bytes as they are */
    return evbuffer_add(bufferevent_get_output(c->bev), data, len) == 0 ? 0 : YW_ENOMEM;
  if (!r->is_h2) {
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char size[24];
    int sl = snprintf(size, sizeof size, "%zx\r\n", len);
    if (evbuffer_add(out, size, (size_t)sl) != 0 || evbuffer_add(out, data, len) != 0 ||
        evbuffer_add(out, "\r\n", 2) != 0)
      return YW_ENOMEM;
    return 0;
  }
  if (evbuffer_add(r->stream_out, data, len) != 0) return YW_ENOMEM;
  nghttp2_session_resume_data(c->h2, r->stream_id);
  if (!c->in_recv && h2_flush(c) != 0) conn_free(c);
  return 0;
}

size_t gw_conn_stream_pending(const gw_req *r) {
  const gw_conn *c = r->conn;
  if (c == NULL) return 0;
  if (!r->is_h2) return evbuffer_get_length(bufferevent_get_output(c->bev));
  return r->stream_out != NULL ? evbuffer_get_length(r->stream_out) : 0;
}

void gw_conn_stream_end(gw_req *r) {
  gw_conn *c = r->conn;
  if (c == NULL || c->freeing || !r->streaming || r->stream_ended || !r->responded) return;
  r->stream_ended = 1;
  if (!r->is_h2) {
    if (!r->stream_sized) evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    h1_answered(c, r, !c->worker->draining && http_should_keep_alive(&c->parser));
    return;
  }
  nghttp2_session_resume_data(c->h2, r->stream_id);
  h2_rearm(c);
  if (!c->in_recv && h2_flush(c) != 0) conn_free(c);
}

void gw_conn_stream_cut(gw_req *r) {
  gw_conn *c = r->conn;
  if (c == NULL || c->freeing || !r->streaming || r->stream_ended || !r->responded) return;
  r->stream_ended = 1;
  if (!r->is_h2) {
    h1_answered(c, r, 0); /* closed once what was written has gone */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) conn_free(c);
    return;
  }
  nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
  h2_rearm(c);
  if (!c->in_recv && h2_flush(c) != 0) conn_free(c);
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
  gw_worker *w = c->worker;
  while (c->reqs != NULL) req_detach(c->reqs);
  if (c->h2 != NULL) nghttp2_session_del(c->h2);
  bufferevent_free(c->bev);
  event_free(c->timer);
  if (c->prev != NULL) c->prev->next = c->next;
  else w->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  w->n_conns--;
  atomic_fetch_sub(&open_total, 1);
  free(c->h1_url);
  free(c);
  gw_metrics_connections(-1);
  if (w->draining && w->n_conns == 0) event_base_loopexit(w->base, NULL);
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
    /* the first byte starts the head's clock: HTTP/1.1's request line or HTTP/2's
     * preface and SETTINGS */
    if (c->deadline != DL_HEAD) conn_deadline(c, DL_HEAD);
    decide_proto(c);
    if (c->proto == PROTO_UNKNOWN || c->freeing) return;
  }
  if (c->proto == PROTO_H2)
    h2_process(c);
  else
    h1_process(c);
}

/* Runs when the output has drained to GW_OUT_LOW (the write low-water mark). */
static void on_write(struct bufferevent *bev, void *arg) {
  gw_conn *c = arg;
  struct evbuffer *out = bufferevent_get_output(bev);
  if (c->proto == PROTO_H2) {
    h2_give_windows(c); /* what the client read no longer counts against its budget */
    if (h2_flush(c) != 0) {
      conn_free(c);
      return;
    }
    if (c->out_paused && evbuffer_get_length(out) < GW_OUT_HIGH &&
        nghttp2_session_want_read(c->h2)) {
      c->out_paused = 0;
      bufferevent_enable(c->bev, EV_READ);
      if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) h2_process(c);
    }
    return;
  }
  if (c->close_after_write && evbuffer_get_length(out) == 0) {
    conn_free(c);
    return;
  }
  if (c->h1_req != NULL && c->h1_req->streaming && !c->h1_req->stream_ended) {
    gw_req *r = c->h1_req; /* the client has read down to GW_OUT_LOW */
    if (r->writable != NULL) r->writable(r, r->writable_arg);
    return;
  }
  if (c->out_paused && !c->close_after_write) {
    c->out_paused = 0;
    conn_deadline(c, DL_IDLE);
    if (!c->h1_busy) h1_resume(c);
  }
}

/* The deadline of the client's current wait has passed. */
static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_conn *c = arg;
  enum deadline d = c->deadline;
  c->deadline = DL_NONE;
  yw_log(YW_LOG_DEBUG, d == DL_HEAD ? "gateway.head_timeout" : "gateway.idle_timeout", NULL,
         "%s connection closed", c->proto == PROTO_H2 ? "HTTP/2" : "HTTP/1.1");
  if (c->proto == PROTO_H2) {
    h2_terminate(c, d == DL_HEAD ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_NO_ERROR);
    return;
  }
  /* HTTP/1.1: closed without a word, as nginx does: a client this slow is not reading */
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
    /* an answer is still being written: the write timeout bounds that */
    c->close_after_write = 1;
    bufferevent_disable(c->bev, EV_READ);
    return;
  }
  conn_free(c);
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
      conn_deadline(c, DL_HEAD); /* the preface and SETTINGS */
      if (h2_start(c) != 0 || h2_flush(c) != 0) conn_free(c);
    } else {
      c->proto = PROTO_H1;
    }
    return;
  }
  /* EOF, an error, or the write timeout: the client did not read for idle_timeout_ms */
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) conn_free(c);
}

/* Closes a connection over the caps at once. The kernel's backlog is not a queue worth
 * having: a client refused now can try another gateway. Logged at most once a second
 * per worker, with the count since the last line. */
static void refuse(gw_worker *w, evutil_socket_t fd) {
  evutil_closesocket(fd);
  w->refused++;
  time_t now = time(NULL);
  if (now == w->refused_logged) return;
  yw_log(YW_LOG_WARN, "gateway.connections_refused", NULL,
         "%lu connections refused: %ld open in this worker (cap %ld), %ld in all (cap %ld)",
         w->refused, w->n_conns, gw.cfg.worker_connections, atomic_load(&open_total),
         gw.cfg.max_connections);
  w->refused = 0;
  w->refused_logged = now;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg) {
  (void)salen;
  gw_worker *w = arg;
  int tls = l == w->listeners[1];
  int over = gw.cfg.worker_connections > 0 && w->n_conns >= gw.cfg.worker_connections;
  if (!over && atomic_fetch_add(&open_total, 1) >= gw.cfg.max_connections) {
    atomic_fetch_sub(&open_total, 1);
    over = 1;
  }
  if (over) {
    refuse(w, fd);
    return;
  }
  gw_conn *c = calloc(1, sizeof *c);
  char *url = malloc(GW_URL_BYTES);
  struct event *timer = c != NULL ? evtimer_new(w->base, on_deadline, c) : NULL;
  if (c == NULL || url == NULL || timer == NULL) {
    free(c);
    free(url);
    if (timer != NULL) event_free(timer);
    atomic_fetch_sub(&open_total, 1);
    evutil_closesocket(fd);
    return;
  }
  c->timer = timer;
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
    event_free(c->timer);
    free(c->h1_url);
    free(c);
    atomic_fetch_sub(&open_total, 1);
    evutil_closesocket(fd);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->next = w->conns;
  if (w->conns != NULL) w->conns->prev = c;
  w->conns = c;
  w->n_conns++;
  /* no read timeout: bytes that trickle in must not keep a connection (on_deadline);
   * the write timeout ends a client that stops reading its answers */
  struct timeval idle = {gw.cfg.idle_timeout_ms / 1000, (gw.cfg.idle_timeout_ms % 1000) * 1000};
  bufferevent_set_timeouts(c->bev, NULL, &idle);
  bufferevent_setwatermark(c->bev, EV_READ, 0, GW_IN_HIGH);
  bufferevent_setwatermark(c->bev, EV_WRITE, GW_OUT_LOW, 0);
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  conn_deadline(c, DL_IDLE); /* a connection that never says anything is idle */
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

/* ---- drain ----------------------------------------------------------------------- */

/* HTTP/2: the final GOAWAY names the last stream taken; the connection closes when those
 * streams are done (h2_flush finds nothing more to read or write). */
static void h2_final_goaway(gw_conn *c) {
  if (c->h2_goaway) return;
  c->h2_goaway = 1;
  nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                        NGHTTP2_NO_ERROR, NULL, 0);
  if (h2_flush(c) != 0) conn_free(c);
}

static void on_drain_goaway(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_worker *w = arg;
  for (gw_conn *c = w->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->proto == PROTO_H2 && !c->freeing) h2_final_goaway(c);
  }
}

/* drain_ms has passed: what is still open is cut; its upstream calls are cancelled on
 * the way (req_detach). */
static void on_drain_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_worker *w = arg;
  long conns = w->n_conns, reqs = 0;
  for (gw_conn *c = w->conns; c != NULL; c = c->next)
    for (gw_req *r = c->reqs; r != NULL; r = r->conn_next)
      if (r->method != NULL && !r->responded) reqs++;
  yw_log(YW_LOG_WARN, "gateway.drain_cut", NULL,
         "worker %d: %ld connections and %ld unanswered requests cut after %ld ms", w->index,
         conns, reqs, gw.cfg.drain_ms);
  while (w->conns != NULL) conn_free(w->conns);
}

/* One connection at the start of the drain. */
static void conn_drain(gw_conn *c) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  switch (c->proto) {
  case PROTO_UNKNOWN: /* nothing asked yet, or still in its TLS handshake */
    conn_free(c);
    return;
  case PROTO_H1:
    if (c->h1_req != NULL && c->h1_req->stream != NULL && !c->h1_req->stream_ended) {
      gw_stream_drain(c->h1_req); /* ended now, so its client reconnects elsewhere */
      return;
    }
    if (c->h1_req != NULL || c->h1_busy) return; /* answered with connection: close */
    if (evbuffer_get_length(out) == 0) {
      conn_free(c);
    } else {
      c->close_after_write = 1;
      bufferevent_disable(c->bev, EV_READ);
      conn_deadline(c, DL_NONE);
    }
    return;
  case PROTO_H2:
    if (c->reqs == NULL) {
      h2_final_goaway(c); /* idle: at once */
      return;
    }
    /* open streamed answers end now, so their clients reconnect elsewhere */
    for (gw_req *r = c->reqs, *next; r != NULL && !c->freeing; r = next) {
      next = r->conn_next;
      if (r->stream != NULL && !r->stream_ended) gw_stream_drain(r);
    }
    if (c->freeing) return;
    /* streams the client sends before it sees this are still taken, until the final
     * GOAWAY a round trip later */
    nghttp2_submit_shutdown_notice(c->h2);
    if (h2_flush(c) != 0) conn_free(c);
    return;
  }
}

void gw_worker_drain(gw_worker *w) {
  gw_worker_unlisten(w);
  w->draining = 1;
  long before = w->n_conns;
  for (gw_conn *c = w->conns, *next; c != NULL; c = next) {
    next = c->next;
    conn_drain(c);
  }
  yw_log(YW_LOG_INFO, "gateway.draining", NULL,
         "worker %d: listeners closed, %ld connections open, %ld left after closing idle ones",
         w->index, before, w->n_conns);
  if (w->n_conns == 0) {
    event_base_loopexit(w->base, NULL);
    return;
  }
  long goaway_ms = GW_GOAWAY_DELAY_MS < gw.cfg.drain_ms / 2 ? GW_GOAWAY_DELAY_MS : gw.cfg.drain_ms / 2;
  struct timeval g = {goaway_ms / 1000, (goaway_ms % 1000) * 1000};
  struct timeval d = {gw.cfg.drain_ms / 1000, (gw.cfg.drain_ms % 1000) * 1000};
  event_base_once(w->base, -1, EV_TIMEOUT, on_drain_goaway, w, &g);
  event_base_once(w->base, -1, EV_TIMEOUT, on_drain_deadline, w, &d);
}
