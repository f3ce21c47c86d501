/*
 * yw_service.c - database helpers shared by the services' handlers.
 *
 * Offers: yw_service_db, yw_service_db_fail, yw_service_query, yw_service_tx,
 * yw_service_caller, yw_service_require_staff, yw_service_require_person,
 * yw_service_require_org_scope, yw_applicant_is_caller, yw_service_require_applicant,
 * yw_service_applicant_key, yw_feed_recipient,
 * yw_service_has_any_role, yw_col_str, yw_col_ll, yw_col_bool, yw_enum_from_db,
 * yw_enum_to_db, yw_page_begin, yw_page_token, yw_service_open_db, yw_service_serve,
 * yw_service_start, yw_service_run, yw_service_stop.
 */
#include "yw_service.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yw_err.h"
#include "yw_events.h"
#include "yw_idem.h"
#include "yw_log.h"

PGconn *yw_service_db(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms) {
  int64_t left = yw_rpc_call_ms_left(call);
  int wait = left < wait_ms ? (int)(left > 0 ? left : 1) : wait_ms;
  PGconn *conn = yw_pg_pool_acquire(pool, wait);
  /* measured again: the wait for the connection came out of the same time */
  if (conn != NULL) yw_pg_set_deadline(conn, yw_rpc_call_ms_left(call));
  return conn;
}

int yw_service_fail_fields(yw_rpc_call *call, const char *message, const json_t *fields) {
  size_t n = json_array_size(fields);
  char *text = NULL;
  /* the longest prefix of the list that fits */
  while (text == NULL && n > 0) {
    json_t *part = json_array();
    for (size_t i = 0; part != NULL && i < n; i++)
      json_array_append(part, json_array_get(fields, i));
    text = part != NULL ? json_dumps(part, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(part);
    if (text == NULL) break;
    if (strlen(text) > YW_FIELDS_TRAILER_MAX) {
      free(text);
      text = NULL;
      n = n > 8 ? n - n / 4 : n - 1;
    }
  }
  if (text != NULL) yw_rpc_call_add_trailer(call, YW_FIELDS_TRAILER, text);
  free(text);
  return yw_rpc_call_fail(call, YW_EINVAL, "%s", message);
}

int yw_service_db_fail(yw_rpc_call *call, int rc, const yw_pg_error *err) {
  if (rc == YW_EPRECOND || rc == YW_EINVAL || rc == YW_EEXIST)
    return yw_rpc_call_fail(call, rc, "%s", err->message);
  yw_log(YW_LOG_ERROR, "db.error", yw_rpc_call_request_id(call), "sqlstate %s: %s",
         err->sqlstate, err->message);
  if (rc == YW_ETIMEOUT)
    return yw_rpc_call_fail(call, YW_ETIMEOUT, "the database did not answer in time");
  return yw_rpc_call_fail(call, rc == YW_EUNAVAIL ? YW_EUNAVAIL : YW_EINTERNAL,
                          "the database failed");
}

int yw_service_query(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms, const char *what,
                     const char *sql, int nparams, const char *const *params, PGresult **out) {
  if (out != NULL) *out = NULL;
  PGconn *conn = yw_service_db(call, pool, wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "%s is busy", what);
  yw_pg_error err;
  int rc = yw_pg_query(conn, sql, nparams, params, out, &err);
  yw_pg_pool_release(pool, conn);
  return rc != 0 ? yw_service_db_fail(call, rc, &err) : 0;
}

int yw_service_tx(yw_rpc_call *call, yw_pg_pool *pool, int wait_ms, const char *what,
                  yw_service_tx_fn fn, void *arg) {
  PGconn *conn = yw_service_db(call, pool, wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "%s is busy", what);
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int rc = yw_pg_begin_deferred(conn, &err); /* sent with fn's first statement */
  if (rc == 0) rc = fn(call, conn, arg, &err);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  if (rc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(pool, conn);
  if (rc == 0) return 0;
  /* a statement failed (err filled), or fn refused with the status already set */
  if (err.sqlstate[0] != '\0' || err.message[0] != '\0') return yw_service_db_fail(call, rc, &err);
  return rc;
}

int yw_service_has_any_role(const yw_caller *c, const char *roles) {
  if (roles == NULL) return 0;
  const char *p = roles;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    char role[64];
    if (n > 0 && n < sizeof role) {
      memcpy(role, p, n);
      role[n] = '\0';
      if (yw_caller_has_role(c, role)) return 1;
    }
    if (end == NULL) break;
    p = end + 1;
  }
  return 0;
}

int yw_service_caller(yw_rpc_call *call, const yw_caller_keys *keys, yw_caller *out) {
  return yw_rpc_call_caller(call, keys, out);
}

int yw_service_require_staff(yw_rpc_call *call, const yw_caller_keys *keys, const char *roles,
                             const char *action, yw_caller *out) {
  int rc = yw_rpc_call_caller(call, keys, out);
  if (rc != 0) return rc;
  if (out->kind != YW_CALLER_STAFF)
    return yw_rpc_call_fail(call, YW_EPERM, "%s is for staff", action);
  if (roles != NULL && roles[0] != '\0' && !yw_service_has_any_role(out, roles))
    return yw_rpc_call_fail(call, YW_EPERM, "%s needs one of the roles %s", action, roles);
  return 0;
}

int yw_service_require_org_scope(yw_rpc_call *call, const yw_caller *caller, const char *scope,
                                 const char *action) {
  if (yw_caller_org_may(caller, scope)) return 0;
  return yw_rpc_call_fail(call, YW_EPERM,
                          "%s needs the scope '%s', which your authorisation for company %s "
                          "does not include",
                          action, scope, caller->org);
}

int yw_applicant_is_caller(const yw_caller *caller, const char *kind, const char *subject,
                           const char *org) {
  if (caller->kind != YW_CALLER_PERSON) return 0;
  if (strcmp(kind, "company") == 0)
    return org[0] != '\0' && strcmp(caller->org, org) == 0;
  return strcmp(kind, "person") == 0 && subject[0] != '\0' && strcmp(caller->subject, subject) == 0;
}

const char *yw_feed_recipient(const char *kind, const char *subject, const char *org, char *buf,
                              size_t len) {
  if (strcmp(kind, "company") == 0)
    snprintf(buf, len, "org:%s", org);
  else
    snprintf(buf, len, "%s", subject);
  return buf;
}

int yw_service_require_applicant(yw_rpc_call *call, const yw_caller *caller, const char *kind,
                                 const char *subject, const char *org, const char *scope,
                                 const char *what, const char *number) {
  if (!yw_applicant_is_caller(caller, kind, subject, org))
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no %s %s", what, number);
  if (strcmp(kind, "company") == 0 && !yw_caller_org_may(caller, scope))
    return yw_rpc_call_fail(call, YW_EPERM,
                            "this needs the scope '%s', which your authorisation for company %s "
                            "does not include",
                            scope, caller->org);
  return 0;
}

int yw_service_applicant_key(yw_rpc_call *call, const yw_caller *caller, const char **kind,
                             const char **key) {
  if (caller->org[0] != '\0') {
    int rc = yw_service_require_org_scope(call, caller, "read", "listing the company's applications");
    if (rc != 0) return rc;
    *kind = "company";
    *key = caller->org;
    return 0;
  }
  *kind = "person";
  *key = caller->subject;
  return 0;
}

int yw_service_require_person(yw_rpc_call *call, const yw_caller_keys *keys, int min_level,
                              yw_caller *out) {
  int rc = yw_rpc_call_caller(call, keys, out);
  if (rc != 0) return rc;
  if (out->kind != YW_CALLER_PERSON)
    return yw_rpc_call_fail(call, YW_EPERM, "this is for a logged-in resident");
  if (out->level < min_level)
    return yw_rpc_call_fail(call, YW_EPERM, "this needs real-name level %d or more", min_level);
  return 0;
}

/* ---- columns and enums ------------------------------------------------------------ */

char *yw_col_str(yw_arena *a, const PGresult *r, int row, int col) {
  return yw_arena_strndup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

long long yw_col_ll(const PGresult *r, int row, int col) {
  return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int yw_col_bool(const PGresult *r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

int yw_enum_from_db(const ProtobufCEnumDescriptor *desc, const char *text) {
  char upper[64];
  size_t n = strlen(text);
  if (n >= sizeof upper) return 0;
  for (size_t i = 0; i <= n; i++) upper[i] = (char)toupper((unsigned char)text[i]);
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(desc, upper);
  return v != NULL ? v->value : 0;
}

const char *yw_enum_to_db(yw_arena *a, const ProtobufCEnumDescriptor *desc, int value, int lower) {
  if (value == 0) return NULL;
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
  if (v == NULL) return NULL;
  char *s = yw_arena_strndup(a, v->name, (size_t)-1);
  if (s != NULL && lower)
    for (char *p = s; *p != '\0'; p++) *p = (char)tolower((unsigned char)*p);
  return s;
}

/* ---- list paging ------------------------------------------------------------------ */

/* FNV-1a over the filters, each closed by a separator, so ("ab","") and ("a","b") differ. */
static unsigned long long filters_hash(const char *const *parts, size_t n) {
  unsigned long long h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    for (const unsigned char *p = (const unsigned char *)(parts[i] != NULL ? parts[i] : "");
         *p != '\0'; p++) {
      h ^= *p;
      h *= 1099511628211ULL;
    }
    h ^= 0x1f;
    h *= 1099511628211ULL;
  }
  return h;
}

#define PAGE_TOKEN_TEXT_MAX (YW_PAGE_CURSOR_MAX + 24)
#define PAGE_TOKEN_MAX ((PAGE_TOKEN_TEXT_MAX + 2) / 3 * 4)

/* base64url without padding of text (OpenSSL's encoder, alphabet swapped). */
static char *token_encode(yw_arena *a, const char *text, size_t n) {
  char *out = yw_arena_alloc(a, (n + 2) / 3 * 4 + 1);
  if (out == NULL) return NULL;
  int len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
  while (len > 0 && out[len - 1] == '=') len--;
  out[len] = '\0';
  for (char *p = out; *p != '\0'; p++) {
    if (*p == '+') *p = '-';
    else if (*p == '/') *p = '_';
  }
  return out;
}

/* The text of a token, NUL-terminated in out; -1 when it is not base64url or too long. */
static int token_decode(const char *tok, char *out, size_t size) {
  size_t n = strlen(tok);
  if (n == 0 || n > PAGE_TOKEN_MAX || n % 4 == 1) return -1;
  char b64[PAGE_TOKEN_MAX + 4];
  for (size_t i = 0; i < n; i++) {
    char c = tok[i];
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!isalnum((unsigned char)c)) return -1;
    b64[i] = c;
  }
  size_t pad = (4 - n % 4) % 4;
  for (size_t i = 0; i < pad; i++) b64[n + i] = '=';
  unsigned char raw[PAGE_TOKEN_MAX];
  int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)(n + pad));
  if (len < 0) return -1;
  len -= (int)pad;
  if (len <= 0 || (size_t)len >= size || memchr(raw, '\0', (size_t)len) != NULL) return -1;
  memcpy(out, raw, (size_t)len);
  out[len] = '\0';
  return 0;
}

int yw_page_begin(yw_rpc_call *call, int32_t page_size, const char *page_token, int def, int max,
                  const char *const *filters, size_t nf, yw_page *out) {
  memset(out, 0, sizeof *out);
  if (page_size < 0 || page_size > max)
    return yw_rpc_call_fail(call, YW_EINVAL, "pageSize must be between 0 and %d", max);
  out->size = page_size != 0 ? page_size : def;
  out->filters = filters_hash(filters, nf);
  if (page_token == NULL || page_token[0] == '\0') return 0;
  char text[PAGE_TOKEN_TEXT_MAX + 1];
  unsigned long long h = 0;
  int consumed = 0;
  if (token_decode(page_token, text, sizeof text) != 0 ||
      sscanf(text, "v1|%16llx|%n", &h, &consumed) != 1 || consumed == 0 ||
      text[consumed] == '\0' || strlen(text + consumed) > YW_PAGE_CURSOR_MAX)
    return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
  if (h != out->filters)
    return yw_rpc_call_fail(call, YW_EINVAL, "pageToken belongs to another query");
  out->has_cursor = 1;
  snprintf(out->cursor, sizeof out->cursor, "%s", text + consumed);
  return 0;
}

char *yw_page_token(yw_arena *a, const yw_page *page, const char *cursor) {
  size_t n = strlen(cursor);
  if (n == 0 || n > YW_PAGE_CURSOR_MAX) return NULL;
  char text[PAGE_TOKEN_TEXT_MAX + 1];
  int len = snprintf(text, sizeof text, "v1|%llx|%s", page->filters, cursor);
  if (len < 0 || (size_t)len >= sizeof text) return NULL;
  return token_encode(a, text, (size_t)len);
}

int yw_page_begin_id(yw_rpc_call *call, int32_t page_size, const char *page_token, int def,
                     int max, const char *const *filters, size_t nf, yw_page *out) {
  int rc = yw_page_begin(call, page_size, page_token, def, max, filters, nf, out);
  if (rc != 0) return rc;
  size_t n = strlen(out->cursor);
  int ok = n <= 18;
  for (size_t i = 0; ok && i < n; i++) ok = out->cursor[i] >= '0' && out->cursor[i] <= '9';
  return ok ? 0 : yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
}

int yw_service_open_db(const char *dsn, int pool_size, const char *schema,
                       const struct yw_embedded_file *migrations, unsigned n_migrations,
                       yw_pg_pool **out) {
  yw_pg_error err;
  int rc = yw_pg_pool_new(dsn, pool_size, out, &err);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "db.unavailable", NULL, "%s", err.message);
    return rc;
  }
  PGconn *conn = yw_pg_pool_acquire(*out, 5000);
  rc = conn != NULL ? yw_pg_migrate(conn, schema, migrations, n_migrations, &err) : YW_EUNAVAIL;
  yw_pg_pool_release(*out, conn);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "db.migration_failed", NULL, "%s: %s", schema,
           conn != NULL ? err.message : "no database connection");
    yw_pg_pool_free(*out);
    *out = NULL;
  }
  return rc;
}

/* The health probe: a query on a pooled connection, answered within a second even when
 * the database hangs. */
static int db_health(void *pool) { return yw_pg_pool_ping(pool, 1000); }

/* /metrics of a service: the runtime's gauges and counters, then the service's own. */
struct metrics_ctx {
  yw_rpc_server *server;
  const yw_service_limits *limits;
};

static int service_metrics(void *arg, char *buf, size_t len) {
  struct metrics_ctx *mc = arg;
  yw_rpc_server_stats st;
  yw_rpc_server_stats_get(mc->server, &st);
  int n = snprintf(buf, len,
                   "# TYPE yw_rpc_handlers_running gauge\nyw_rpc_handlers_running %d\n"
                   "# TYPE yw_rpc_calls_queued gauge\nyw_rpc_calls_queued %d\n"
                   "# TYPE yw_rpc_calls_deferred gauge\nyw_rpc_calls_deferred %d\n"
                   "# TYPE yw_rpc_streams_open gauge\nyw_rpc_streams_open %d\n"
                   "# TYPE yw_rpc_calls_refused_total counter\nyw_rpc_calls_refused_total %ld\n"
                   "# TYPE yw_rpc_streams_total counter\nyw_rpc_streams_total %ld\n"
                   "# TYPE yw_rpc_stream_messages_total counter\nyw_rpc_stream_messages_total %ld\n"
                   "# TYPE yw_rpc_streams_cut_total counter\nyw_rpc_streams_cut_total %ld\n",
                   st.running, st.queued, st.deferred, st.streams_open, st.refused,
                   st.streams_total, st.stream_messages, st.streams_cut);
  if (n < 0 || (size_t)n >= len) return YW_ETOOBIG;
  if (mc->limits->metrics_fn != NULL) {
    int more = mc->limits->metrics_fn(mc->limits->metrics_arg, buf + n, len - (size_t)n);
    if (more < 0) return more;
    n += more;
  }
  return n;
}

int yw_service_serve(const char *listen, const yw_service_limits *limits,
                     const yw_rpc_service *svc) {
  yw_rpc_server *server = NULL;
  int rc = yw_rpc_server_new_tls(listen, limits->threads, limits->tls, &server);
  if (rc == 0) rc = yw_rpc_server_set_queue(server, limits->queue);
  if (rc == 0) rc = yw_rpc_server_set_priority(server, limits->priority, limits->priority_reserve);
  if (rc == 0) rc = yw_rpc_server_set_priority_gate(server, limits->priority_gate, limits->priority_gate_arg);
  if (rc == 0 && limits->max_streams > 0)
    rc = yw_rpc_server_set_max_streams(server, limits->max_streams);
  if (rc == 0) rc = yw_rpc_server_set_client_names(server, limits->client_names);
  if (rc == 0 && limits->caller_keys != NULL && limits->name != NULL)
    rc = yw_rpc_server_set_caller(server, limits->caller_keys, limits->name);
  if (rc == 0 && limits->health_db != NULL)
    rc = yw_rpc_server_set_health(server, db_health, limits->health_db, 1000);
  if (rc == 0) rc = yw_rpc_server_add_service(server, svc);
  for (int i = 0; rc == 0 && i < limits->n_more; i++)
    rc = yw_rpc_server_add_service(server, limits->more[i]);
  if (rc == 0) rc = yw_rpc_server_start(server);
  if (rc != 0) {
    yw_log(YW_LOG_ERROR, "server.start_failed", NULL, "cannot serve on %s: %s", listen,
           yw_strerror(rc));
    yw_rpc_server_free(server);
    return rc;
  }
  yw_log(YW_LOG_INFO, "server.started", NULL, "serving %s on %s (%s)", svc->descriptor->name,
         listen, limits->tls != NULL ? "mutual TLS" : "cleartext");
  yw_metrics_server *metrics = NULL;
  struct metrics_ctx mc = {server, limits};
  if (limits->metrics_listen != NULL && limits->metrics_listen[0] != '\0') {
    rc = yw_metrics_start(limits->metrics_listen, service_metrics, &mc, &metrics);
    if (rc != 0)
      yw_log(YW_LOG_ERROR, "metrics.start_failed", NULL, "cannot serve /metrics on %s: %s",
             limits->metrics_listen, yw_strerror(rc));
    else
      yw_log(YW_LOG_INFO, "metrics.started", NULL, "/metrics on port %d", yw_metrics_port(metrics));
  }
  yw_rpc_server_wait_signal(server);
  yw_metrics_stop(metrics);
  yw_rpc_server_free(server);
  yw_log(YW_LOG_INFO, "server.stopped", NULL, "calls finished");
  return 0;
}

/* ---- a service's process ------------------------------------------------------------ */

static void add_setting(yw_service_proc *p, const char *name, enum yw_cfg_type type,
                        const char *def, long min, long max, const char *help, void *target) {
  if (p->n_table_ < YW_SERVICE_MAX_SETTINGS)
    p->table_[p->n_table_++] = (yw_cfg_entry){name, type, def, min, max, help, target};
}

static void build_settings(yw_service_proc *p) {
  char upper[32];
  size_t n = strlen(p->name);
  if (n >= sizeof upper) n = sizeof upper - 1;
  for (size_t i = 0; i < n; i++) upper[i] = (char)toupper((unsigned char)p->name[i]);
  upper[n] = '\0';
  static const char *const suffix[] = {"LISTEN",     "THREADS",     "QUEUE",         "DB_POOL",
                                       "DB_WAIT_MS", "MAX_STREAMS", "METRICS_LISTEN"};
  for (size_t i = 0; i < 7; i++)
    snprintf(p->names_[i], sizeof p->names_[i], "YW_%s_%s", upper, suffix[i]);
  char *threads = p->defaults_[0], *queue = p->defaults_[1], *pool = p->defaults_[2];
  snprintf(threads, 16, "%d", p->threads > 0 ? p->threads : 8);
  snprintf(queue, 16, "%d", p->queue > 0 ? p->queue : 64);
  snprintf(pool, 16, "%d", p->db_pool > 0 ? p->db_pool : 8);
  p->n_table_ = 0;
  add_setting(p, p->names_[0], YW_CFG_STR, p->listen, 0, 0, "gRPC listen address",
              &p->listen_addr);
  add_setting(p, p->names_[1], YW_CFG_INT, threads, 1, 256, "handler threads", &p->n_threads);
  add_setting(p, p->names_[2], YW_CFG_INT, queue, 0, 100000,
              "calls that may wait for a handler; past it calls are refused at once (429)",
              &p->n_queue);
  add_setting(p, p->names_[5], YW_CFG_INT, "1000", 1, 1000000,
              "server streams open at once; past it new ones are refused (429)", &p->max_streams);
  add_setting(p, p->names_[6], YW_CFG_STR, "", 0, 0,
              "internal address of /metrics and /healthz over HTTP (host:port); empty: none",
              &p->metrics_listen);
  if (p->schema != NULL) {
    add_setting(p, "YW_PG_DSN", YW_CFG_STR, "host=127.0.0.1 port=5432 dbname=yiwang user=yiwang",
                0, 0, "libpq connection string", &p->pg_dsn);
    add_setting(p, p->names_[3], YW_CFG_INT, pool, 1, 256, "PostgreSQL connections",
                &p->n_db_pool);
    add_setting(p, p->names_[4], YW_CFG_INT, "2000", 1, 60000,
                "longest wait for a pooled connection", &p->db_wait_ms);
  }
  if (p->redis_timeout_ms > 0)
    add_setting(p, "YW_REDIS_ADDR", YW_CFG_STR, "127.0.0.1:6379", 0, 0,
                "Redis host:port, or Redis Cluster seeds a:p,b:p", &p->redis_addr);
  add_setting(p, "YW_REDIS_PREFIX", YW_CFG_STR, "yw", 0, 0, "prefix of every Redis key",
              &p->redis_prefix);
  add_setting(p, "YW_CALLER_KEY", YW_CFG_STR, "", 0, 0,
              "64 hex: verifies callers vouched for by the gateway", &p->caller_key);
  add_setting(p, "YW_CALLER_KEY_PREVIOUS", YW_CFG_STR, "", 0, 0,
              "64 hex: the caller key before YW_CALLER_KEY, still accepted while keys rotate; "
              "empty: none",
              &p->caller_key_previous);
  add_setting(p, "YW_CALLER_WINDOW_S", YW_CFG_INT, "30", 1, 30,
              "seconds a caller signed by the gateway stays valid (clock skew and queueing "
              "included)",
              &p->caller_window_s);
  add_setting(p, "YW_LOG_LEVEL", YW_CFG_STR, "info", 0, 0, "debug, info, warn or error",
              &p->log_level);
  add_setting(p, "YW_TLS_CA", YW_CFG_STR, "", 0, 0,
              "PEM CA certificate(s) that sign the gateway's client certificate; with "
              "YW_TLS_CERT and YW_TLS_KEY the service serves mutual TLS only (all three, or "
              "none for cleartext)",
              &p->tls_ca);
  add_setting(p, "YW_TLS_CERT", YW_CFG_STR, "", 0, 0,
              "PEM certificate chain of this service (mutual TLS)", &p->tls_cert);
  add_setting(p, "YW_TLS_KEY", YW_CFG_STR, "", 0, 0, "PEM private key of YW_TLS_CERT (mutual TLS)",
              &p->tls_key);
  add_setting(p, "YW_TLS_CLIENT_NAMES", YW_CFG_STR, "", 0, 0,
              "mutual TLS: the common names of the client certificates this service serves, "
              "comma-separated (gateway,applications-client); empty: any the CA signed",
              &p->tls_client_names);
  if (p->calls_out) {
    add_setting(p, "YW_TLS_CLIENT_CERT", YW_CFG_STR, "", 0, 0,
                "PEM certificate chain this service shows when it calls another (mutual TLS, "
                "with YW_TLS_CA and YW_TLS_CLIENT_KEY)",
                &p->tls_client_cert);
    add_setting(p, "YW_TLS_CLIENT_KEY", YW_CFG_STR, "", 0, 0,
                "PEM private key of YW_TLS_CLIENT_CERT", &p->tls_client_key);
  }
  for (size_t i = 0; i < p->n_settings; i++)
    if (p->n_table_ < YW_SERVICE_MAX_SETTINGS) p->table_[p->n_table_++] = p->settings[i];
}

static int usage(yw_service_proc *p, int rc) {
  fprintf(stderr, "usage: %s [--migrate-only]%s%s [--help]\nsettings (environment):\n",
          p->program_, p->usage != NULL ? " " : "", p->usage != NULL ? p->usage : "");
  yw_config_print(p->table_, p->n_table_, stderr);
  return rc;
}

int yw_service_start(yw_service_proc *p, int argc, char **argv) {
  snprintf(p->program_, sizeof p->program_, "yw-%s", p->name);
  if (p->n_settings > YW_SERVICE_MAX_SETTINGS - 20) {
    fprintf(stderr, "%s: more than %d settings of its own\n", p->program_,
            YW_SERVICE_MAX_SETTINGS - 20);
    return 2;
  }
  build_settings(p);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--migrate-only") == 0 && p->schema != NULL) p->migrate_only = 1;
    else if (strcmp(argv[i], "--help") == 0) return usage(p, 0);
    else if (!p->keep_args) return usage(p, 2);
  }
  yw_rpc_block_signals();
  char err[256];
  if (yw_config_load(p->table_, p->n_table_, err, sizeof err) != 0) {
    fprintf(stderr, "%s: %s\n", p->program_, err);
    return 2;
  }
  int level = yw_log_level_parse(p->log_level);
  yw_log_init(p->program_, level >= 0 ? (enum yw_log_level)level : YW_LOG_INFO);
  p->tls_on = yw_rpc_tls_from_settings(&p->tls, p->tls_ca, p->tls_cert, p->tls_key, NULL, err,
                                       sizeof err);
  if (p->tls_on < 0) {
    fprintf(stderr, "%s: %s\n", p->program_, err);
    return 2;
  }
  if (p->tls_client_names != NULL && p->tls_client_names[0] != '\0' && p->tls_on == 0) {
    fprintf(stderr, "%s: YW_TLS_CLIENT_NAMES needs mutual TLS (YW_TLS_CA, _CERT, _KEY)\n",
            p->program_);
    return 2;
  }
  if (yw_caller_keys_from_hex(&p->caller_keys, p->caller_key, p->caller_key_previous,
                              (int)p->caller_window_s) != 0) {
    fprintf(stderr, "%s: YW_CALLER_KEY (shared with the gateway) and YW_CALLER_KEY_PREVIOUS, "
                    "when set, must be 64 hex characters\n",
            p->program_);
    return 2;
  }
  if (p->schema != NULL && yw_service_open_db(p->pg_dsn, (int)p->n_db_pool, p->schema,
                                              p->migrations, p->n_migrations, &p->pool) != 0)
    return 1;
  if (p->schema != NULL && (p->events || p->idempotency)) {
    yw_pg_error perr;
    PGconn *conn = yw_pg_pool_acquire(p->pool, 5000);
    int rc = conn != NULL ? 0 : YW_EUNAVAIL;
    if (rc == 0 && p->events) rc = yw_events_migrate(conn, p->schema, &perr);
    if (rc == 0 && p->idempotency) rc = yw_idem_migrate(conn, p->schema, &perr);
    yw_pg_pool_release(p->pool, conn);
    if (rc != 0) {
      yw_log(YW_LOG_ERROR, "db.migration_failed", NULL, "%s: %s", p->schema,
             conn != NULL ? perr.message : "no database connection");
      yw_service_stop(p);
      return 1;
    }
  }
  if (p->migrate_only) {
    yw_service_stop(p);
    return 0;
  }
  if (p->redis_timeout_ms > 0 &&
      yw_redis_open(p->redis_addr, p->redis_timeout_ms, (int)p->n_threads, &p->redis) ==
          YW_EUNAVAIL)
    yw_log(YW_LOG_WARN, "redis.unavailable", NULL, "%s: %s until it is back", p->redis_addr,
           p->redis_use != NULL ? p->redis_use : "serving without it");
  return YW_SERVICE_SERVE;
}

#define CHANNELS_MAX 8

yw_rpc_channel *yw_service_channel(yw_service_proc *p, const char *target) {
  if (p->client == NULL) {
    if (yw_rpc_client_new(&p->client) != 0) return NULL;
    if (p->calls_out && p->tls_client_cert != NULL && p->tls_client_cert[0] != '\0') {
      yw_rpc_tls tls;
      char err[256];
      int on = yw_rpc_tls_from_settings(&tls, p->tls_ca, p->tls_client_cert, p->tls_client_key,
                                        NULL, err, sizeof err);
      if (on > 0 && yw_rpc_client_set_tls(p->client, &tls, err, sizeof err) != 0) on = -1;
      if (on < 0) {
        yw_log(YW_LOG_ERROR, "client.tls", NULL, "%s", err);
        yw_rpc_client_free(p->client);
        p->client = NULL;
        return NULL;
      }
    }
  }
  if (p->n_channels_ >= CHANNELS_MAX) return NULL;
  yw_rpc_channel *ch = yw_rpc_channel_new(p->client, target, 2, 4 << 20);
  if (ch != NULL) p->channels_[p->n_channels_++] = ch;
  return ch;
}

void yw_service_stop(yw_service_proc *p) {
  for (int i = 0; i < p->n_channels_; i++) yw_rpc_channel_free(p->channels_[i]);
  p->n_channels_ = 0;
  yw_rpc_client_free(p->client);
  p->client = NULL;
  yw_redis_free(p->redis);
  p->redis = NULL;
  yw_pg_pool_free(p->pool);
  p->pool = NULL;
}

int yw_service_run(yw_service_proc *p, const yw_rpc_service *svc) {
  yw_service_limits limits = {.threads = (int)p->n_threads,
                              .queue = (int)p->n_queue,
                              .health_db = p->pool,
                              .tls = p->tls_on ? &p->tls : NULL,
                              .max_streams = (int)p->max_streams,
                              .caller_keys = &p->caller_keys,
                              .name = p->name,
                              .metrics_listen = p->metrics_listen,
                              .metrics_fn = p->metrics_fn,
                              .metrics_arg = p->metrics_arg,
                              .client_names = p->tls_client_names,
                              .more = p->more,
                              .n_more = p->n_more,
                              .priority = p->priority,
                              .priority_reserve = (int)p->n_queue,
                              .priority_gate = p->priority_gate,
                              .priority_gate_arg = p->priority_gate_arg};
  int rc = yw_service_serve(p->listen_addr, &limits, svc);
  if (p->on_stop != NULL) p->on_stop(p->on_stop_arg);
  yw_service_stop(p);
  return rc == 0 ? 0 : 1;
}
