/*
 * yw-files - serves yiwang.files.v1.FilesService: the content-addressed file store.
 *
 * Start-up as yw-catalog's: configuration, the PostgreSQL pool, the files schema's
 * migrations (under an advisory lock), then serve until SIGINT/SIGTERM. One more
 * thread purges uploads never committed, every YW_FILES_PURGE_INTERVAL_S, once older
 * than YW_FILES_UPLOAD_TTL_S (any copy may purge: the statement is one DELETE).
 *
 * Usage: yw-files [--migrate-only] [--help]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "files.h"
#include "yw_config.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_service.h"

static char *cfg_listen;
static char *cfg_pg_dsn;
static char *cfg_log_level;
static long cfg_threads, cfg_queue;
static long cfg_db_pool;
static long cfg_db_wait_ms;
static long cfg_max_size;
static long cfg_upload_ttl_s;
static long cfg_purge_interval_s;
static char *cfg_caller_key;
static char *cfg_caller_key_previous;
static long cfg_caller_window_s;
static char *cfg_tls_ca, *cfg_tls_cert, *cfg_tls_key;

static const yw_cfg_entry config[] = {
    {"YW_FILES_LISTEN", YW_CFG_STR, "127.0.0.1:50053", 0, 0, "gRPC listen address", &cfg_listen},
    {"YW_PG_DSN", YW_CFG_STR, "host=127.0.0.1 port=5432 dbname=yiwang user=yiwang", 0, 0,
     "libpq connection string", &cfg_pg_dsn},
    {"YW_FILES_THREADS", YW_CFG_INT, "8", 1, 256, "handler threads", &cfg_threads},
    {"YW_FILES_QUEUE", YW_CFG_INT, "256", 0, 100000,
     "calls that may wait for a handler; past it calls are refused at once (429)", &cfg_queue},
    {"YW_FILES_DB_POOL", YW_CFG_INT, "8", 1, 256, "PostgreSQL connections", &cfg_db_pool},
    {"YW_FILES_DB_WAIT_MS", YW_CFG_INT, "2000", 1, 60000, "longest wait for a pooled connection",
     &cfg_db_wait_ms},
    {"YW_FILES_MAX_SIZE", YW_CFG_INT, "67108864", 1, 1073741824,
     "largest file the store takes, bytes (a route's own limit is at most this)", &cfg_max_size},
    {"YW_FILES_UPLOAD_TTL_S", YW_CFG_INT, "3600", 1, 604800,
     "an upload not committed this long after it began is purged", &cfg_upload_ttl_s},
    {"YW_FILES_PURGE_INTERVAL_S", YW_CFG_INT, "300", 1, 86400,
     "how often abandoned uploads are looked for", &cfg_purge_interval_s},
    {"YW_CALLER_KEY", YW_CFG_STR, "", 0, 0, "64 hex: verifies callers vouched for by the gateway",
     &cfg_caller_key},
    {"YW_CALLER_KEY_PREVIOUS", YW_CFG_STR, "", 0, 0,
     "64 hex: the caller key before YW_CALLER_KEY, still accepted while keys rotate; empty: none",
     &cfg_caller_key_previous},
    {"YW_CALLER_WINDOW_S", YW_CFG_INT, "30", 1, 30,
     "seconds a caller signed by the gateway stays valid", &cfg_caller_window_s},
    {"YW_LOG_LEVEL", YW_CFG_STR, "info", 0, 0, "debug, info, warn or error", &cfg_log_level},
    {"YW_TLS_CA", YW_CFG_STR, "", 0, 0,
     "PEM CA certificate(s) that sign the gateway's client certificate (mutual TLS with "
     "YW_TLS_CERT and YW_TLS_KEY; all three, or none for cleartext)",
     &cfg_tls_ca},
    {"YW_TLS_CERT", YW_CFG_STR, "", 0, 0, "PEM certificate chain of this service (mutual TLS)",
     &cfg_tls_cert},
    {"YW_TLS_KEY", YW_CFG_STR, "", 0, 0, "PEM private key of YW_TLS_CERT (mutual TLS)",
     &cfg_tls_key},
};
#define NCONFIG (sizeof config / sizeof config[0])

/* ---- the purge thread ------------------------------------------------------------ */

static pthread_mutex_t purge_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_cv;
static int purge_stop;

static void *purge_main(void *arg) {
  files_store *store = arg;
  pthread_mutex_lock(&purge_mu);
  while (!purge_stop) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += cfg_purge_interval_s;
    while (!purge_stop && pthread_cond_timedwait(&purge_cv, &purge_mu, &until) != ETIMEDOUT) {
    }
    if (purge_stop) break;
    pthread_mutex_unlock(&purge_mu);
    int purged = 0;
    int rc = store->ops->purge(store, (int)cfg_upload_ttl_s, &purged, 10000);
    if (rc != 0)
      yw_log(YW_LOG_WARN, "files.purge_failed", NULL, "%s", yw_strerror(rc));
    else if (purged > 0)
      yw_log(YW_LOG_INFO, "files.purged", NULL, "%d abandoned uploads", purged);
    pthread_mutex_lock(&purge_mu);
  }
  pthread_mutex_unlock(&purge_mu);
  return NULL;
}

int main(int argc, char **argv) {
  int migrate_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--migrate-only") == 0) {
      migrate_only = 1;
    } else {
      fprintf(stderr, "usage: yw-files [--migrate-only]\nsettings (environment):\n");
      yw_config_print(config, NCONFIG, stderr);
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  yw_rpc_block_signals();
  char err[256];
  if (yw_config_load(config, NCONFIG, err, sizeof err) != 0) {
    fprintf(stderr, "yw-files: %s\n", err);
    return 2;
  }
  int level = yw_log_level_parse(cfg_log_level);
  yw_log_init("yw-files", level >= 0 ? (enum yw_log_level)level : YW_LOG_INFO);
  yw_rpc_tls tls;
  int tls_on = yw_rpc_tls_from_settings(&tls, cfg_tls_ca, cfg_tls_cert, cfg_tls_key, NULL, err,
                                        sizeof err);
  if (tls_on < 0) {
    fprintf(stderr, "yw-files: %s\n", err);
    return 2;
  }
  files_ctx ctx = {.max_size = cfg_max_size};
  if (yw_caller_keys_from_hex(&ctx.caller_keys, cfg_caller_key, cfg_caller_key_previous,
                              (int)cfg_caller_window_s) != 0) {
    fprintf(stderr, "yw-files: YW_CALLER_KEY (shared with the gateway) and "
                    "YW_CALLER_KEY_PREVIOUS, when set, must be 64 hex characters\n");
    return 2;
  }
  yw_pg_pool *pool = NULL;
  if (yw_service_open_db(cfg_pg_dsn, (int)cfg_db_pool, "files", files_migrations,
                         files_migrations_count, &pool) != 0)
    return 1;
  if (migrate_only) {
    yw_pg_pool_free(pool);
    return 0;
  }
  if (files_store_pg_new(pool, (int)cfg_db_wait_ms, &ctx.store) != 0) {
    yw_pg_pool_free(pool);
    return 1;
  }

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&purge_cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_t purger;
  int purging = pthread_create(&purger, NULL, purge_main, ctx.store) == 0;

  yw_rpc_service svc;
  yw_service_limits limits = {(int)cfg_threads, (int)cfg_queue, pool, tls_on ? &tls : NULL};
  files_service_init(&svc, &ctx);
  int rc = yw_service_serve(cfg_listen, &limits, &svc);

  pthread_mutex_lock(&purge_mu);
  purge_stop = 1;
  pthread_cond_signal(&purge_cv);
  pthread_mutex_unlock(&purge_mu);
  if (purging) pthread_join(purger, NULL);
  ctx.store->ops->free(ctx.store);
  yw_pg_pool_free(pool);
  return rc == 0 ? 0 : 1;
}
