/*
 * yw-files - serves yiwang.files.v1.FilesService: the content-addressed file store.
 *
 * Start-up as every service's (yw_service_start): settings, the PostgreSQL pool, the
 * files schema's migrations (under an advisory lock), then serve until SIGINT/SIGTERM. One more
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

static long cfg_max_size;
static long cfg_upload_ttl_s;
static long cfg_purge_interval_s;

/* The store's own settings; the ones every service has come from yw_service_start. */
static const yw_cfg_entry own[] = {
    {"YW_FILES_MAX_SIZE", YW_CFG_INT, "67108864", 1, 1073741824,
     "largest file the store takes, bytes (a route's own limit is at most this)", &cfg_max_size},
    {"YW_FILES_UPLOAD_TTL_S", YW_CFG_INT, "3600", 1, 604800,
     "an upload not committed this long after it began is purged", &cfg_upload_ttl_s},
    {"YW_FILES_PURGE_INTERVAL_S", YW_CFG_INT, "300", 1, 86400,
     "how often abandoned uploads are looked for", &cfg_purge_interval_s},
};

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
  static yw_service_proc proc = {.name = "files", .listen = "127.0.0.1:50053",
                                 .schema = "files", .settings = own,
                                 .n_settings = sizeof own / sizeof own[0]};
  proc.migrations = files_migrations;
  proc.n_migrations = files_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;
  files_ctx ctx = {.max_size = cfg_max_size, .caller_keys = proc.caller_keys};
  if (files_store_pg_new(proc.pool, (int)proc.db_wait_ms, &ctx.store) != 0) {
    yw_service_stop(&proc);
    return 1;
  }

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&purge_cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_t purger;
  int purging = pthread_create(&purger, NULL, purge_main, ctx.store) == 0;

  /* served here rather than by yw_service_run: the purge thread must stop before the
   * pool it uses is closed */
  yw_rpc_service svc;
  files_service_init(&svc, &ctx);
  yw_service_limits limits = {.threads = (int)proc.n_threads,
                              .queue = (int)proc.n_queue,
                              .health_db = proc.pool,
                              .tls = proc.tls_on ? &proc.tls : NULL,
                              .metrics_listen = proc.metrics_listen};
  rc = yw_service_serve(proc.listen_addr, &limits, &svc);

  pthread_mutex_lock(&purge_mu);
  purge_stop = 1;
  pthread_cond_signal(&purge_cv);
  pthread_mutex_unlock(&purge_mu);
  if (purging) pthread_join(purger, NULL);
  ctx.store->ops->free(ctx.store);
  yw_service_stop(&proc);
  return rc == 0 ? 0 : 1;
}
