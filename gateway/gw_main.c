/*
 * yw-gateway - the HTTP/2 and HTTP/1.1 front door of yiwang.
 *
 * Start-up: configuration; routes compiled and checked against the linked descriptors
 * (a wrong table stops the process here, not at the first request); TLS context with
 * ALPN h2 and http/1.1; on each worker's loop its own HTTP/2 connections to every
 * upstream (gw_upstream.c); metrics slots; upstream health (grpc.health.v1.Health/Check
 * from the first worker's loop) and Redis (a thread) checked every second for
 * /readyz; `threads` workers, each an event loop with its own SO_REUSEPORT listeners.
 *
 * Stop: on SIGINT/SIGTERM every worker drains (gw_worker_drain): its listeners close,
 * HTTP/2 clients get GOAWAY and HTTP/1.1 answers connection: close, idle connections
 * close at once, requests in flight run to their answers for up to YW_GATEWAY_DRAIN_MS,
 * the rest are cut. A worker's loop ends with its last connection; then everything is
 * freed in reverse order and the process exits 0.
 *
 * Upstreams: every YW_UPSTREAM_<NAME>=host:port in the environment or YW_CONFIG_FILE is
 * an upstream named <name> (lower case); routes name theirs, and a route whose
 * upstream is not configured (or empty) stops the start, and fails --check-routes.
 *
 * Usage: yw-gateway [--check-routes] [--help]
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw.h"
#include "gw_metrics.h"
#include "gw_sse.h"
#include "gw_routes.h"
#include "gw_cache.h"
#include "gw_static.h"
#include "yw_config.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_redis.h"

gw_state gw;

static char *cfg_upstream_applications;
static char *cfg_upstream_catalog;
static char *cfg_upstream_identity;
static char *cfg_upstream_feed;
static char *cfg_upstream_progress;
static char *cfg_upstream_payment;
static char *cfg_tls_ca, *cfg_tls_cert, *cfg_tls_key, *cfg_tls_server_name;
static atomic_int stopping;

static const yw_cfg_entry config[] = {
    {"YW_GATEWAY_LISTEN", YW_CFG_STR, "127.0.0.1:8080", 0, 0, "HTTP/1.1 and h2c address",
     &gw.cfg.listen},
    {"YW_GATEWAY_TLS_LISTEN", YW_CFG_STR, "auto", 0, 0,
     "TLS address (ALPN h2, http/1.1), TLS 1.3 and 1.2 with ECDHE+AEAD only; \"auto\" is "
     "127.0.0.1:8443 when YW_GATEWAY_TLS_CERT and _KEY are both set and no TLS when both are "
     "empty; empty disables TLS; an address without both the certificate and the key, or one "
     "of them alone, stops the gateway at start (exit 2)",
     &gw.cfg.tls_listen},
    {"YW_GATEWAY_TLS_CERT", YW_CFG_STR, "", 0, 0, "PEM certificate chain (with YW_GATEWAY_TLS_KEY)",
     &gw.cfg.tls_cert},
    {"YW_GATEWAY_TLS_KEY", YW_CFG_STR, "", 0, 0, "PEM private key (with YW_GATEWAY_TLS_CERT)",
     &gw.cfg.tls_key},
    {"YW_GATEWAY_CORS_ORIGINS", YW_CFG_STR, "", 0, 0,
     "comma-separated origins allowed by CORS (\"*\" for any)", &gw.cfg.cors_origins},
    {"YW_GATEWAY_THREADS", YW_CFG_INT, "2", 1, 64, "event-loop threads", &gw.cfg.threads},
    {"YW_GATEWAY_TIMEOUT_MS", YW_CFG_INT, "10000", 1, 120000, "default upstream deadline",
     &gw.cfg.timeout_ms},
    {"YW_GATEWAY_MAX_BODY", YW_CFG_INT, "1048576", 1024, 67108864, "largest request body (bytes)",
     &gw.cfg.max_body},
    {"YW_GATEWAY_MAX_STREAMS", YW_CFG_INT, "100", 1, 1000,
     "concurrent HTTP/2 streams per connection", &gw.cfg.max_streams},
    {"YW_GATEWAY_IDLE_TIMEOUT_MS", YW_CFG_INT, "60000", 100, 3600000,
     "connections are closed this long after their last complete request, and clients "
     "that read nothing for this long", &gw.cfg.idle_timeout_ms},
    {"YW_GATEWAY_HEADER_TIMEOUT_MS", YW_CFG_INT, "10000", 100, 600000,
     "a request head (HTTP/2: the preface and SETTINGS, each header block) must arrive "
     "within this (capped by the idle timeout)", &gw.cfg.header_timeout_ms},
    {"YW_GATEWAY_MAX_CONNECTIONS", YW_CFG_INT, "10000", 1, 10000000,
     "open client connections in all; past it new ones are closed at once",
     &gw.cfg.max_connections},
    {"YW_GATEWAY_WORKER_CONNECTIONS", YW_CFG_INT, "0", 0, 10000000,
     "open client connections per worker thread; 0: only the total counts",
     &gw.cfg.worker_connections},
    {"YW_GATEWAY_CONN_BUFFER", YW_CFG_INT, "8388608", 65536, 1073741824,
     "bytes one connection may hold in requests and unsent answers; past it new HTTP/2 "
     "streams are refused and request bodies wait", &gw.cfg.conn_buffer},
    {"YW_GATEWAY_DRAIN_MS", YW_CFG_INT, "10000", 0, 600000,
     "on SIGTERM, how long requests in flight may still run before they are cut",
     &gw.cfg.drain_ms},
    {"YW_GATEWAY_SSE_HEARTBEAT_MS", YW_CFG_INT, "15000", 50, 600000,
     "a comment line on every open event stream (text/event-stream) this often, so that "
     "proxies and clients see it is alive", &gw.cfg.sse_heartbeat_ms},
    {"YW_GATEWAY_SSE_RETRY_MS", YW_CFG_INT, "3000", 0, 600000,
     "the retry: hint an event stream starts with (how long clients wait to reconnect)",
     &gw.cfg.sse_retry_ms},
    {"YW_GATEWAY_STREAMS_PER_CALLER", YW_CFG_INT, "8", 1, 100000,
     "open streamed answers (event streams, gRPC server streams) per caller (account, or "
     "address when anonymous) across every gateway copy; past it 429", &gw.cfg.streams_per_caller},
    {"YW_GATEWAY_CACHE_BYTES", YW_CFG_INT, "16777216", 0, 4294967296,
     "memory of each worker's answer cache: the answers of public reads that are the same "
     "for every caller (catalog search and guides), kept a few seconds; 0: no cache",
     &gw.cfg.cache_bytes},
    {"YW_GATEWAY_CACHE_ENTRIES", YW_CFG_INT, "8192", 1, 16777216,
     "answers each worker's answer cache holds at most", &gw.cfg.cache_entries},
    {"YW_GATEWAY_UPSTREAM_CONNECTIONS", YW_CFG_INT, "1", 1, 64,
     "HTTP/2 connections from each worker to each address of an upstream (more open when a "
     "service's stream limit is reached)", &gw.cfg.upstream_connections},
    {"YW_UPSTREAM_APPLICATIONS", YW_CFG_STR, "127.0.0.1:50055", 0, 0, "yw-applications address",
     &cfg_upstream_applications},
    {"YW_UPSTREAM_CATALOG", YW_CFG_STR, "127.0.0.1:50052", 0, 0, "yw-catalog address",
     &cfg_upstream_catalog},
    {"YW_UPSTREAM_IDENTITY", YW_CFG_STR, "127.0.0.1:50051", 0, 0, "yw-identity address",
     &cfg_upstream_identity},
    {"YW_UPSTREAM_FEED", YW_CFG_STR, "127.0.0.1:50054", 0, 0, "yw-feed address",
     &cfg_upstream_feed},
    {"YW_UPSTREAM_PROGRESS", YW_CFG_STR, "127.0.0.1:50056", 0, 0, "yw-progress address",
     &cfg_upstream_progress},
    {"YW_UPSTREAM_PAYMENT", YW_CFG_STR, "127.0.0.1:50057", 0, 0, "yw-payment address",
     &cfg_upstream_payment},
    {"YW_REDIS_ADDR", YW_CFG_STR, "127.0.0.1:6379", 0, 0, "Redis host:port, or a Redis Cluster's seed nodes host:port,host:port,...",
     &gw.cfg.redis_addr},
    {"YW_REDIS_PREFIX", YW_CFG_STR, "yw", 0, 0, "prefix of every Redis key", &gw.cfg.redis_prefix},
    {"YW_CALLER_KEY", YW_CFG_STR, "", 0, 0, "64 hex: signs the caller for the services",
     &gw.cfg.caller_key},
    {"YW_GATEWAY_METRICS_FROM", YW_CFG_STR, "127.0.0.1,::1", 0, 0,
     "networks allowed to read /metrics (comma-separated CIDR; an address is a /32 or /128)",
     &gw.cfg.metrics_from},
    {"YW_GATEWAY_TRUSTED_PROXIES", YW_CFG_STR, "", 0, 0,
     "networks of our load balancers, whose X-Forwarded-For is believed (comma-separated CIDR)",
     &gw.cfg.trusted_proxies},
    {"YW_GATEWAY_RATE_IP", YW_CFG_INT, "100", 1, 10000000, "requests per second per address",
     &gw.cfg.rate_ip},
    {"YW_GATEWAY_BURST_IP", YW_CFG_INT, "200", 1, 10000000, "burst per address", &gw.cfg.burst_ip},
    {"YW_GATEWAY_RATE_SUBJECT", YW_CFG_INT, "20", 1, 10000000, "requests per second per account",
     &gw.cfg.rate_subject},
    {"YW_GATEWAY_BURST_SUBJECT", YW_CFG_INT, "40", 1, 10000000, "burst per account",
     &gw.cfg.burst_subject},
    {"YW_GATEWAY_RATE_LOOKUP", YW_CFG_INT, "60", 1, 100000000,
     "lookups a minute per address on the routes anyone may try codes on (a notice code, "
     "a receipt number), besides YW_GATEWAY_RATE_IP", &gw.cfg.rate_lookup},
    {"YW_GATEWAY_BURST_LOOKUP", YW_CFG_INT, "20", 1, 10000000, "burst of lookups per address",
     &gw.cfg.burst_lookup},
    {"YW_GATEWAY_LOOKUP_MISS_COST", YW_CFG_INT, "4", 1, 1000,
     "tokens of YW_GATEWAY_BURST_LOOKUP a lookup that finds nothing (404) costs in all; 1: "
     "the same as one that finds", &gw.cfg.lookup_miss_cost},
    {"YW_GATEWAY_REDIS_TIMEOUT_MS", YW_CFG_INT, "250", 10, 10000,
     "longest wait for a Redis answer; then local limits (public) or 503 (sessions)",
     &gw.cfg.redis_timeout_ms},
    {"YW_GATEWAY_REDIS_CONNECT_TIMEOUT_MS", YW_CFG_INT, "1000", 10, 30000,
     "longest wait for a connection to Redis", &gw.cfg.redis_connect_timeout_ms},
    {"YW_GATEWAY_REDIS_BACKOFF_MAX_MS", YW_CFG_INT, "2000", 100, 60000,
     "longest pause between attempts to reach Redis again", &gw.cfg.redis_backoff_max_ms},
    {"YW_GATEWAY_STATIC", YW_CFG_STR, "", 0, 0,
     "static files: comma-separated URL-PREFIX=DIRECTORY (\"/=web/resident,/console/=web/console\"); "
     "GET/HEAD only, never /v1/ or a path of the route table; empty disables",
     &gw_static_cfg.roots},
    {"YW_GATEWAY_STATIC_CSP", YW_CFG_STR,
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
     "form-action 'self'; frame-ancestors 'none'",
     0, 0, "Content-Security-Policy of every static answer", &gw_static_cfg.csp},
    {"YW_GATEWAY_STATIC_MAX_FILE", YW_CFG_INT, "2097152", 1024, 67108864,
     "largest static file served (bytes; larger ones answer 404); at most 3 x "
     "YW_GATEWAY_MAX_BODY + 512 KiB", &gw_static_cfg.max_file},
    {"YW_LOG_LEVEL", YW_CFG_STR, "info", 0, 0, "debug, info, warn or error", &gw.cfg.log_level},
    {"YW_TLS_CA", YW_CFG_STR, "", 0, 0,
     "PEM CA certificate(s) that sign the services' certificates; with YW_TLS_CERT and "
     "YW_TLS_KEY the upstream calls use mutual TLS (all three, or none for cleartext)",
     &cfg_tls_ca},
    {"YW_TLS_CERT", YW_CFG_STR, "", 0, 0,
     "PEM client certificate chain the gateway shows the services (mutual TLS)", &cfg_tls_cert},
    {"YW_TLS_KEY", YW_CFG_STR, "", 0, 0, "PEM private key of YW_TLS_CERT (mutual TLS)",
     &cfg_tls_key},
    {"YW_TLS_SERVER_NAME", YW_CFG_STR, "", 0, 0,
     "name the services' certificates must carry instead of the upstream's host (mutual TLS); "
     "empty: the host of YW_UPSTREAM_*", &cfg_tls_server_name},
};
#define NCONFIG (sizeof config / sizeof config[0])

/* ---- upstreams from configuration ------------------------------------------------ */

#define UPSTREAM_PREFIX "YW_UPSTREAM_"
#define UPSTREAM_PREFIX_LEN (sizeof UPSTREAM_PREFIX - 1)

/* The settings the process reads: the table above, then one YW_UPSTREAM_<NAME> entry
 * for each further name the environment or YW_CONFIG_FILE holds (malloc). */
static yw_cfg_entry *settings;
static size_t n_settings;

/* 1 when s[0..len) is YW_UPSTREAM_ and a name of upper-case letters, digits, '_'. */
static int is_upstream_setting(const char *s, size_t len) {
  if (len <= UPSTREAM_PREFIX_LEN || len - UPSTREAM_PREFIX_LEN >= sizeof gw.upstreams[0].name ||
      memcmp(s, UPSTREAM_PREFIX, UPSTREAM_PREFIX_LEN) != 0)
    return 0;
  for (size_t i = UPSTREAM_PREFIX_LEN; i < len; i++)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
  return 1;
}

/* Adds a string setting named s[0..len) unless the settings have it. 0 or YW_ENOMEM. */
static int add_upstream_setting(const char *s, size_t len) {
  for (size_t i = 0; i < n_settings; i++)
    if (strlen(settings[i].name) == len && memcmp(settings[i].name, s, len) == 0) return 0;
  yw_cfg_entry *grown = realloc(settings, (n_settings + 1) * sizeof *settings);
  if (grown == NULL) return YW_ENOMEM;
  settings = grown;
  char *name = strndup(s, len);
  char **slot = calloc(1, sizeof *slot); /* the value; its address must not move */
  if (name == NULL || slot == NULL) {
    free(name);
    free(slot);
    return YW_ENOMEM;
  }
  settings[n_settings++] = (yw_cfg_entry){name, YW_CFG_STR, "", 0, 0, "an upstream's address",
                                          slot};
  return 0;
}

/* Builds the settings: the table and the upstreams named in the environment and in
 * YW_CONFIG_FILE (whose errors yw_config_load reports). 0 or YW_ENOMEM. */
static int settings_build(void) {
  extern char **environ;
  settings = malloc(NCONFIG * sizeof *settings);
  if (settings == NULL) return YW_ENOMEM;
  memcpy(settings, config, NCONFIG * sizeof *settings);
  n_settings = NCONFIG;
  for (char **e = environ; *e != NULL; e++) {
    size_t len = strcspn(*e, "=");
    if (is_upstream_setting(*e, len) && add_upstream_setting(*e, len) != 0) return YW_ENOMEM;
  }
  const char *file = getenv("YW_CONFIG_FILE");
  FILE *f = file != NULL && file[0] != '\0' ? fopen(file, "r") : NULL;
  if (f == NULL) return 0;
  char line[4096];
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    const char *p = line + strspn(line, " \t");
    const char *eq = strchr(p, '=');
    if (eq != NULL && is_upstream_setting(p, (size_t)(eq - p)))
      rc = add_upstream_setting(p, (size_t)(eq - p));
  }
  fclose(f);
  return rc;
}

static void settings_free(void) {
  for (size_t i = NCONFIG; i < n_settings; i++) {
    char **slot = settings[i].target;
    free(*slot);
    free(slot);
    free((char *)settings[i].name);
  }
  free(settings);
  settings = NULL;
  n_settings = 0;
}

/* gw.upstreams from the loaded settings: each YW_UPSTREAM_<NAME> with a value. */
static int upstreams_from_settings(void) {
  gw.upstreams = calloc(n_settings, sizeof *gw.upstreams);
  if (gw.upstreams == NULL) return YW_ENOMEM;
  gw.n_upstreams = 0;
  for (size_t i = 0; i < n_settings; i++) {
    const char *name = settings[i].name;
    const char *value = *(char **)settings[i].target;
    if (!is_upstream_setting(name, strlen(name)) || value == NULL || value[0] == '\0') continue;
    gw_upstream *u = &gw.upstreams[gw.n_upstreams++];
    size_t o = 0;
    for (const char *c = name + UPSTREAM_PREFIX_LEN; *c != '\0' && o + 1 < sizeof u->name; c++)
      u->name[o++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    u->name[o] = '\0';
    u->target = value;
  }
  return 0;
}

/* The start-up check of the table against the configuration: every route's upstream
 * is configured. 0, or YW_EINVAL with err naming the first route that is not. */
static int routes_check_upstreams(char *err, size_t errlen) {
  for (size_t i = 0; i < gw.routes.n; i++) {
    const gw_route *r = &gw.routes.routes[i];
    size_t u = 0;
    while (u < gw.n_upstreams && strcmp(gw.upstreams[u].name, r->upstream) != 0) u++;
    if (u < gw.n_upstreams) continue;
    char env[64];
    size_t o = 0;
    for (const char *c = r->upstream; *c != '\0' && o + 1 < sizeof env; c++)
      env[o++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    env[o] = '\0';
    snprintf(err, errlen, "route %s (%s): its upstream %s is not configured; set %s%s",
             r->label, r->grpc_path, r->upstream, UPSTREAM_PREFIX, env);
    return YW_EINVAL;
  }
  return 0;
}

/* ---- TLS ------------------------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  static const unsigned char prefs[] = "\x02h2\x08http/1.1";
  if (SSL_select_next_proto((unsigned char **)out, outlen, prefs, sizeof prefs - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  return SSL_TLSEXT_ERR_OK;
}

/* TLS 1.2 only with forward secrecy and an AEAD: RFC 7540 (9.2.2, appendix A) forbids
 * the others for HTTP/2 and browsers drop an h2 connection that negotiates one. DHE is
 * left out too: its groups are the client's to pick and cost far more than ECDHE. */
static const char TLS12_CIPHERS[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char TLS13_SUITES[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
#define TLS_LISTEN_AUTO "127.0.0.1:8443"

static void tls_log_openssl(const char *what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  yw_log(YW_LOG_ERROR, "gateway.tls_failed", NULL, "%s (certificate %s, key %s): %s", what,
         gw.cfg.tls_cert, gw.cfg.tls_key, buf);
}

/*
 * Decides from YW_GATEWAY_TLS_LISTEN, _CERT and _KEY whether TLS is served, and builds
 * its context. *out is NULL when TLS is off. Returns 0, or -1 after logging why when the
 * settings are half made or the certificate cannot be used: a gateway that an operator
 * meant to serve TLS must not start on cleartext alone.
 */
static int tls_context(SSL_CTX **out) {
  *out = NULL;
  int has_cert = gw.cfg.tls_cert[0] != '\0', has_key = gw.cfg.tls_key[0] != '\0';
  if (gw.cfg.tls_listen[0] == '\0') {
    if (has_cert || has_key)
      yw_log(YW_LOG_WARN, "gateway.tls_off", NULL,
             "YW_GATEWAY_TLS_LISTEN is empty: TLS is off and the certificate settings are unused");
    return 0;
  }
  int is_auto = strcmp(gw.cfg.tls_listen, "auto") == 0;
  if (is_auto && !has_cert && !has_key) {
    yw_log(YW_LOG_INFO, "gateway.tls_off", NULL,
           "no YW_GATEWAY_TLS_CERT and _KEY: cleartext only (set YW_GATEWAY_TLS_LISTEN= to say so)");
    return 0;
  }
  if (!has_cert || !has_key) {
    yw_log(YW_LOG_ERROR, "gateway.tls_misconfigured", NULL,
           "TLS on %s needs YW_GATEWAY_TLS_CERT and YW_GATEWAY_TLS_KEY, but %s; set both, or "
           "an empty YW_GATEWAY_TLS_LISTEN to serve without TLS",
           is_auto ? TLS_LISTEN_AUTO : gw.cfg.tls_listen,
           !has_cert && !has_key ? "both are empty"
           : !has_cert           ? "YW_GATEWAY_TLS_CERT is empty"
                                 : "YW_GATEWAY_TLS_KEY is empty");
    return -1;
  }
  if (is_auto) {
    /* the listener reads gw.cfg.tls_listen; config strings are malloc'ed copies */
    char *addr = strdup(TLS_LISTEN_AUTO);
    if (addr == NULL) return -1;
    free(gw.cfg.tls_listen);
    gw.cfg.tls_listen = addr;
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) {
    tls_log_openssl("cannot make a TLS context");
    return -1;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, 0); /* the highest this OpenSSL has: 1.3 */
  /* Renegotiation is a cheap way to make the server do handshakes and was never needed
   * by HTTP/2 (RFC 7540 9.2.1). Our order wins so a client cannot pick its weakest
   * suite, except that ChaCha20 goes first for a client that prefers it (phones without
   * AES instructions). */
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
      SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1) {
    tls_log_openssl("cannot set the cipher suites");
    SSL_CTX_free(ctx);
    return -1;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, gw.cfg.tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, gw.cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    tls_log_openssl("cannot use the certificate and key");
    SSL_CTX_free(ctx);
    return -1;
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  *out = ctx;
  return 0;
}

/* ---- health ---------------------------------------------------------------------- */

/* Redis, from a thread of its own (a blocking client, bounded by 500 ms). */
static void *health_main(void *arg) {
  (void)arg;
  yw_redis *redis = NULL;
  yw_redis_open(gw.cfg.redis_addr, 500, 1, &redis);
  while (!atomic_load(&stopping)) {
    gw.redis_ok = redis != NULL && yw_redis_ping(redis) == 0;
    for (int i = 0; i < 10 && !atomic_load(&stopping); i++) usleep(100000);
  }
  yw_redis_free(redis);
  return NULL;
}

/* The upstreams, from the first worker's loop over its own connections: each second,
 * grpc.health.v1.Health/Check with a 500 ms deadline. */
static void on_upstream_health(void *arg, int serving, grpc_status_code status) {
  gw_upstream *u = arg;
  if (serving != u->healthy) /* changes only: a down upstream is not logged every second */
    yw_log(serving ? YW_LOG_INFO : YW_LOG_WARN, "gateway.upstream_health", NULL,
           "%s is %s (%s)", u->name, serving ? "serving" : "not serving",
           status == GRPC_STATUS_OK ? "its health check says so" : yw_grpc_status_name(status));
  u->healthy = serving;
}

static void on_health_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_worker *w = arg;
  /* After a burst (10,000 streams) glibc keeps the freed memory: 9 MB in use held
   * 160 MB. Give it back to the system every 30 s. */
  static unsigned ticks;
  if (++ticks % 30 == 0) malloc_trim(0);
  for (size_t i = 0; i < gw.n_upstreams; i++)
    if (gw_upstream_health_check(w->up[i], "", 500, on_upstream_health, &gw.upstreams[i]) != 0)
      gw.upstreams[i].healthy = 0;
}

/* ---- workers --------------------------------------------------------------------- */

/* The client context for mutual TLS to the services (YW_TLS_*): the CA that signs
 * their certificates, ours to show, TLS 1.2 or later. NULL with err set on failure. */
static SSL_CTX *upstream_tls_context(const yw_rpc_tls *t, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    snprintf(err, errlen, "cannot make a TLS client context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(err, errlen, "cannot use YW_TLS_CA %s, YW_TLS_CERT %s and YW_TLS_KEY %s",
             t->ca_file, t->cert_file, t->key_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static void on_log_flush(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
  yw_log_flush();
}

static void *worker_main(void *arg) {
  gw_worker *w = arg;
  /* access-log lines leave in batches (one write per 32 KiB or 100 ms), not one
   * system call per request */
  yw_log_buffered(1);
  struct event *flush = event_new(w->base, -1, EV_PERSIST, on_log_flush, NULL);
  struct timeval every = {0, 100000};
  if (flush != NULL) event_add(flush, &every);
  event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
  if (flush != NULL) event_free(flush);
  yw_log_buffered(0);
  return NULL;
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  gw_worker_drain(arg);
}

int main(int argc, char **argv) {
  int check_only = 0;
  if (settings_build() != 0) {
    fprintf(stderr, "yw-gateway: no memory for the settings\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--check-routes") == 0) {
      check_only = 1;
    } else {
      fprintf(stderr, "usage: yw-gateway [--check-routes]\nsettings (environment):\n");
      yw_config_print(settings, n_settings, stderr);
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  yw_rpc_block_signals();
  /* a gateway holds a descriptor per client and per upstream connection: take what
   * the system allows, not the shell's default 1024 */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  char err[1024]; /* room for a route, its method, upstream and setting in one message */
  if (yw_config_load(settings, n_settings, err, sizeof err) != 0) {
    fprintf(stderr, "yw-gateway: %s\n", err);
    return 2;
  }
  int level = yw_log_level_parse(gw.cfg.log_level);
  yw_log_init("yw-gateway", level >= 0 ? (enum yw_log_level)level : YW_LOG_INFO);

  if (gw_routes_compile(gw_route_defs, gw_route_defs_count, gw_services, gw_services_count,
                        &gw.routes, err, sizeof err) != 0) {
    yw_log(YW_LOG_ERROR, "gateway.bad_routes", NULL, "%s", err);
    return 2;
  }
  if (upstreams_from_settings() != 0) return 1;
  if (routes_check_upstreams(err, sizeof err) != 0) {
    yw_log(YW_LOG_ERROR, "gateway.bad_routes", NULL, "%s", err);
    if (check_only) fprintf(stderr, "yw-gateway: %s\n", err);
    return 2;
  }
  if (check_only) {
    printf("%zu routes checked against %zu services and %zu upstreams\n", gw.routes.n,
           gw_services_count, gw.n_upstreams);
    gw_routes_free(&gw.routes);
    free(gw.upstreams);
    settings_free();
    return 0;
  }
  if (gw_auth_init(err, sizeof err) != 0) {
    fprintf(stderr, "yw-gateway: %s\n", err);
    return 2;
  }
  if (gw_static_init(err, sizeof err) != 0) {
    fprintf(stderr, "yw-gateway: %s\n", err);
    return 2;
  }

  /* metric slots: one per route, then pass-through, built-in, unmatched */
  size_t nslots = gw.routes.n + 3;
  const char **labels = calloc(nslots, sizeof *labels);
  char (*label_buf)[200] = calloc(gw.routes.n + 1, sizeof *label_buf);
  if (labels == NULL || label_buf == NULL) return 1;
  for (size_t i = 0; i < gw.routes.n; i++) {
    snprintf(label_buf[i], sizeof label_buf[i], "%s", gw.routes.routes[i].label);
    labels[i] = label_buf[i];
  }
  gw.slot_passthrough = gw.routes.n;
  gw.slot_builtin = gw.routes.n + 1;
  gw.slot_unmatched = gw.routes.n + 2;
  labels[gw.slot_passthrough] = "grpc pass-through";
  labels[gw.slot_builtin] = "built-in";
  labels[gw.slot_unmatched] = "unmatched";
  if (gw_metrics_init(labels, nslots) != 0 || gw_stream_init() != 0) return 1;

  if (yw_key_from_hex(gw.cfg.caller_key, gw.caller_key) != 0) {
    fprintf(stderr, "yw-gateway: YW_CALLER_KEY must be 64 hex characters (shared with services)\n");
    return 2;
  }
  SSL_CTX *tls = NULL;
  if (tls_context(&tls) != 0) return 2;
  gw.ssl_ctx = tls;

  /* mutual TLS to the services, checked before any upstream connection is opened */
  yw_rpc_tls upstream_tls;
  int upstream_tls_on = yw_rpc_tls_from_settings(&upstream_tls, cfg_tls_ca, cfg_tls_cert,
                                                 cfg_tls_key, cfg_tls_server_name, err,
                                                 sizeof err);
  if (upstream_tls_on > 0) {
    yw_rpc_tls_pem pem;
    if (yw_rpc_tls_read(&upstream_tls, &pem, err, sizeof err) != 0) upstream_tls_on = YW_EINVAL;
    else yw_rpc_tls_pem_free(&pem);
  }
  if (upstream_tls_on < 0) {
    fprintf(stderr, "yw-gateway: %s\n", err);
    return 2;
  }
  SSL_CTX *up_tls = NULL;
  if (upstream_tls_on > 0) {
    up_tls = upstream_tls_context(&upstream_tls, err, sizeof err);
    if (up_tls == NULL) {
      fprintf(stderr, "yw-gateway: %s\n", err);
      return 2;
    }
  }
  yw_log(YW_LOG_INFO, "gateway.upstream_tls", NULL, "calls to the services are %s",
         upstream_tls_on ? "mutual TLS" : "cleartext (no YW_TLS_CA, YW_TLS_CERT, YW_TLS_KEY)");
  for (size_t u = 0; u < gw.n_upstreams; u++)
    yw_log(YW_LOG_INFO, "gateway.upstream", NULL, "%s at %s", gw.upstreams[u].name,
           gw.upstreams[u].target);

  evthread_use_pthreads();
  size_t nw = (size_t)gw.cfg.threads;
  gw_worker *workers = calloc(nw, sizeof *workers);
  if (workers == NULL) return 1;
  int rc = 0;
  for (size_t i = 0; i < nw && rc == 0; i++) {
    gw_worker *w = &workers[i];
    w->index = (int)i;
    /* add-then-delete of one event within one loop turn (a write interest raised and
     * met at once, reading paused and resumed) becomes no epoll_ctl at all */
    struct event_config *ec = event_config_new();
    if (ec != NULL) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = ec != NULL ? event_base_new_with_config(ec) : NULL;
    if (ec != NULL) event_config_free(ec);
    w->up = calloc(gw.n_upstreams + 1, sizeof *w->up);
    if (w->base == NULL || w->up == NULL) rc = YW_ENOMEM;
    /* each loop has its own connections to every upstream: calls never leave it */
    for (size_t u = 0; u < gw.n_upstreams && rc == 0; u++) {
      gw_upstream_opts o = {.connections_per_address = (int)gw.cfg.upstream_connections,
                            .max_message = 8 << 20,
                            .ssl_ctx = up_tls,
                            .server_name = cfg_tls_server_name[0] != '\0' ? cfg_tls_server_name
                                                                          : NULL};
      rc = gw_upstream_new(w->base, gw.upstreams[u].target, &o, &w->up[u]);
      if (rc != 0)
        yw_log(YW_LOG_ERROR, "gateway.bad_upstream", NULL, "%s: %s: %s", gw.upstreams[u].name,
               gw.upstreams[u].target, yw_strerror(rc));
    }
    if (rc == 0 && gw.cfg.cache_bytes > 0) {
      w->cache = gw_cache_new((size_t)gw.cfg.cache_bytes, (size_t)gw.cfg.cache_entries);
      if (w->cache == NULL) rc = YW_ENOMEM;
    }
    if (rc == 0) rc = gw_worker_listen(w);
    if (rc == 0) gw_auth_worker_init(w);
  }
  if (rc != 0) return 1;

  pthread_t health;
  pthread_create(&health, NULL, health_main, NULL);
  struct event *health_tick = event_new(workers[0].base, -1, EV_PERSIST, on_health_tick, &workers[0]);
  struct timeval every_second = {1, 0};
  if (health_tick == NULL || event_add(health_tick, &every_second) != 0) return 1;
  event_active(health_tick, EV_TIMEOUT, 0); /* the first check at once */
  for (size_t i = 0; i < nw; i++) pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
  yw_log(YW_LOG_INFO, "gateway.started", NULL, "listening on %s%s%s with %zu routes",
         gw.cfg.listen, gw.ssl_ctx != NULL ? " and TLS on " : "",
         gw.ssl_ctx != NULL ? gw.cfg.tls_listen : "", gw.routes.n);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  yw_log(YW_LOG_INFO, "gateway.stopping", NULL, "signal %d", sig);
  atomic_store(&stopping, 1);
  /* each loop ends by itself once drained (within YW_GATEWAY_DRAIN_MS) */
  for (size_t i = 0; i < nw; i++) event_base_once(workers[i].base, -1, EV_TIMEOUT, on_stop, &workers[i], NULL);
  for (size_t i = 0; i < nw; i++) pthread_join(workers[i].thread, NULL);
  pthread_join(health, NULL);
  /* Redis first: its pending callbacks run now and must find the process stopping,
   * not upstream channels already gone */
  gw.stopping = 1;
  for (size_t i = 0; i < nw; i++) gw_auth_worker_free(&workers[i]);
  gw_auth_free();
  /* calls cut by the drain end here (CANCELLED): their requests, whose clients are
   * gone, are only released */
  event_free(health_tick);
  for (size_t i = 0; i < nw; i++)
    for (size_t u = 0; u < gw.n_upstreams; u++) gw_upstream_free(workers[i].up[u]);
  for (size_t i = 0; i < nw; i++) free(workers[i].up);
  for (size_t i = 0; i < nw; i++) gw_cache_free(workers[i].cache);
  for (size_t i = 0; i < nw; i++) {
    event_base_loop(workers[i].base, EVLOOP_NONBLOCK); /* sockets freed upstream close now */
    event_base_free(workers[i].base);
  }
  if (up_tls != NULL) SSL_CTX_free(up_tls);
  free(workers);
  if (gw.ssl_ctx != NULL) SSL_CTX_free(gw.ssl_ctx);
  gw_metrics_free();
  gw_stream_shutdown();
  free(labels);
  free(label_buf);
  gw_routes_free(&gw.routes);
  free(gw.upstreams);
  settings_free();
  yw_log(YW_LOG_INFO, "gateway.stopped", NULL, "bye");
  return 0;
}
