/*
 * fuzz_http.c - the gateway's HTTP/1.1 request path short of the network: http-parser
 * configured as gw_conn.c configures it (a request parser, the same callbacks' caps on
 * URL, header bytes, header count and body, paused at each message's end), then what
 * gw_handle.c does with a JSON route: the path matched against the project's route
 * table, path variables, query parameters and the JSON body set into the request
 * message, and the message packed for the upstream.
 *
 * gw_conn.c's callbacks are static, so they are mirrored here (accumulation and caps,
 * not the socket); http-parser, gw_route.c and yw_json.c are the real ones.
 *
 * Input: the first byte sets the size of the reads the bytes arrive in (1 to 255, or
 * all at once), the rest is the byte stream of one connection, pipelined requests and
 * all. Properties: the parser never reports more bytes than it was given; a message
 * built for the upstream packs to the size protobuf-c announced and unpacks again with
 * the method's input type (the service will read it).
 */
#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>

#include "fuzz.h"
#include "gw.h"
#include "gw_routes.h"
#include "yw_json.h"

#define MAX_BODY 65536 /* the e2e gateway's YW_GATEWAY_MAX_BODY */

typedef struct conn {
  char url[GW_URL_BYTES];
  size_t url_len;
  char hbuf[GW_HEADER_BYTES];
  size_t hlen;
  size_t n_headers;
  size_t name_off[GW_MAX_HEADERS], value_off[GW_MAX_HEADERS];
  int in_value;
  int header_overflow, body_overflow;
  uint8_t body[MAX_BODY];
  size_t body_len;
  int complete;
} conn;

static gw_route_table table;

static int hb_append(conn *c, const char *s, size_t n) {
  if (c->hlen + n + 1 > GW_HEADER_BYTES) {
    c->header_overflow = 1;
    return -1;
  }
  memcpy(c->hbuf + c->hlen, s, n);
  c->hlen += n;
  return 0;
}

static int hb_end(conn *c) {
  if (c->hlen + 1 > GW_HEADER_BYTES) {
    c->header_overflow = 1;
    return -1;
  }
  c->hbuf[c->hlen++] = '\0';
  return 0;
}

static int on_begin(http_parser *p) {
  conn *c = p->data;
  c->url_len = c->hlen = c->n_headers = c->body_len = 0;
  c->in_value = c->header_overflow = c->body_overflow = c->complete = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->url_len + len >= GW_URL_BYTES) {
    c->header_overflow = 1;
    return 0;
  }
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  return 0;
}

static int on_field(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->header_overflow) return 0;
  if (c->in_value || c->n_headers == 0) {
    if (c->n_headers > 0 && hb_end(c) != 0) return 0;
    if (c->n_headers >= GW_MAX_HEADERS) {
      c->header_overflow = 1;
      return 0;
    }
    c->name_off[c->n_headers] = c->hlen;
    c->value_off[c->n_headers] = SIZE_MAX;
    c->n_headers++;
    c->in_value = 0;
  }
  size_t start = c->hlen;
  if (hb_append(c, at, len) != 0) return 0;
  for (size_t i = start; i < c->hlen; i++)
    if (c->hbuf[i] >= 'A' && c->hbuf[i] <= 'Z') c->hbuf[i] = (char)(c->hbuf[i] + 32);
  return 0;
}

static int on_value(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->header_overflow || c->n_headers == 0) return 0;
  if (!c->in_value) {
    if (hb_end(c) != 0) return 0;
    c->value_off[c->n_headers - 1] = c->hlen;
    c->in_value = 1;
  }
  hb_append(c, at, len);
  return 0;
}

static int on_headers_complete(http_parser *p) {
  conn *c = p->data;
  if (c->n_headers > 0 && !c->header_overflow) {
    if (!c->in_value) {
      hb_end(c);
      c->value_off[c->n_headers - 1] = c->hlen;
    }
    hb_end(c);
  }
  if (p->content_length != ULLONG_MAX && p->content_length > MAX_BODY) c->body_overflow = 1;
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->body_overflow) return 0;
  if (c->body_len + len > MAX_BODY) {
    c->body_overflow = 1;
    return 0;
  }
  memcpy(c->body + c->body_len, at, len);
  c->body_len += len;
  return 0;
}

static int on_complete(http_parser *p) {
  conn *c = p->data;
  c->complete = 1;
  http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static const char *header(const conn *c, const char *name) {
  for (size_t i = 0; i < c->n_headers; i++)
    if (c->value_off[i] != SIZE_MAX && strcmp(c->hbuf + c->name_off[i], name) == 0)
      return c->hbuf + c->value_off[i];
  return NULL;
}

/* gw_handle.c's set_query: key=value pairs, '+' as space, into msg. 0 or -1. */
static int set_query(ProtobufCMessage *msg, const char *query) {
  const char *p = query;
  while (*p != '\0') {
    const char *amp = strchr(p, '&');
    size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
    if (len > 0) {
      const char *eq = memchr(p, '=', len);
      size_t klen = eq != NULL ? (size_t)(eq - p) : len;
      char key[128];
      char *value = malloc(len + 1);
      FUZZ_CHECK(value != NULL);
      int bad = gw_percent_decode(p, klen, key, sizeof key, 1) < 0 ||
                (eq != NULL && gw_percent_decode(eq + 1, len - klen - 1, value, len + 1, 1) < 0);
      if (eq == NULL) value[0] = '\0';
      yw_json_error jerr;
      if (!bad) bad = yw_json_set_field_text(msg, key, value, NULL, &jerr) != 0;
      free(value);
      if (bad) return -1;
    }
    p += len;
    if (*p == '&') p++;
  }
  return 0;
}

/* What gw_handle.c does with a complete request on a JSON route. */
static void handle(const conn *c, const char *method) {
  char *url = strndup(c->url, c->url_len);
  FUZZ_CHECK(url != NULL);
  size_t plen = strcspn(url, "?");
  const char *query = url[plen] == '?' ? url + plen + 1 : NULL;
  url[plen] = '\0';
  const gw_route *route = NULL;
  gw_route_var vars[GW_ROUTE_MAX_VARS];
  size_t nvars = 0;
  if (gw_route_match(&table, method, url, &route, vars, &nvars) != GW_MATCH_OK) goto out_url;
  const ProtobufCMessageDescriptor *in = route->method->input;
  ProtobufCMessage *msg = NULL;
  if (route->def->body != NULL && c->body_len > 0) {
    const char *ct = header(c, "content-type");
    if (ct == NULL || strncmp(ct, "application/json", 16) != 0) goto out_url;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)c->body, c->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
      json_decref(doc);
      goto out_url;
    }
    yw_json_error je;
    int rc = yw_json_to_message(in, doc, NULL, &msg, &je);
    json_decref(doc);
    FUZZ_CHECK((rc == 0) == (msg != NULL));
    if (rc != 0) goto out_url;
  } else if (route->def->body == NULL && c->body_len > 0) {
    goto out_url;
  } else {
    msg = calloc(1, in->sizeof_message);
    FUZZ_CHECK(msg != NULL);
    protobuf_c_message_init(in, msg);
  }
  for (size_t i = 0; i < nvars; i++) {
    yw_json_error je;
    if (yw_json_set_field_text(msg, vars[i].field, vars[i].value, NULL, &je) != 0) goto out_msg;
  }
  if (query != NULL && set_query(msg, query) != 0) goto out_msg;
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(len + 1);
  FUZZ_CHECK(buf != NULL);
  FUZZ_CHECK(protobuf_c_message_pack(msg, buf) == len);
  ProtobufCMessage *back = protobuf_c_message_unpack(in, NULL, len, buf);
  FUZZ_CHECK(back != NULL);
  protobuf_c_message_free_unpacked(back, NULL);
  free(buf);
out_msg:
  protobuf_c_message_free_unpacked(msg, NULL);
out_url:
  free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (table.routes == NULL) {
    char err[256];
    FUZZ_CHECK(gw_routes_compile(gw_route_defs, gw_route_defs_count, gw_services,
                                 gw_services_count, &table, err, sizeof err) == 0);
  }
  if (size < 1) return 0;
  size_t chunk = data[0] != 0 ? data[0] : size;
  const char *s = (const char *)data + 1;
  size_t len = size - 1;
  conn *c = calloc(1, sizeof *c);
  FUZZ_CHECK(c != NULL);
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST);
  p.data = c;
  size_t pos = 0, have = 0; /* bytes consumed, bytes arrived */
  while (pos < len) {
    if (have == pos) have = len - have > chunk ? have + chunk : len; /* the next read */
    size_t used = http_parser_execute(&p, &settings, s + pos, have - pos);
    FUZZ_CHECK(used <= have - pos);
    enum http_errno err = HTTP_PARSER_ERRNO(&p);
    if (err == HPE_PAUSED) {
      pos += used;
      FUZZ_CHECK(c->complete);
      /* gw_conn.c answers 431/413 and closes on overflow, else handles the request */
      if (c->header_overflow || c->body_overflow) break;
      handle(c, http_method_str((enum http_method)p.method));
      int keep = http_should_keep_alive(&p);
      http_parser_pause(&p, 0);
      if (!keep) break;
      continue;
    }
    if (err != HPE_OK) break; /* 400 and close */
    FUZZ_CHECK(used == have - pos);
    pos += used;
  }
  free(c);
  return 0;
}
