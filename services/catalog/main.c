/*
 * yw-catalog - serves yiwang.catalog.v1.CatalogService.
 *
 * Start-up: load configuration, open the PostgreSQL pool, apply the catalog schema's
 * migrations (under an advisory lock, so several copies can start together), open the
 * channel to yw-files (YW_CATALOG_FILES: the files items name are checked there), serve until
 * SIGINT/SIGTERM, finish calls in flight, exit 0. The settings every service has come
 * from yw_service_start (lib/yw_service.h); these are the catalog's own.
 *
 * Usage: yw-catalog [--migrate-only] [--help]
 */
#include <stdio.h>

#include "catalog.h"
#include "yw_service.h"

static long cfg_cache_ttl_s, cfg_files_wait_ms, cfg_upload_files, cfg_upload_mb;
static char *cfg_files;

static const yw_cfg_entry settings[] = {
    {"YW_CATALOG_CACHE_TTL_S", YW_CFG_INT, "60", 0, 86400,
     "longest life of a cached answer; 0 disables the cache", &cfg_cache_ttl_s},
    {"YW_CATALOG_FILES", YW_CFG_STR, "127.0.0.1:50053", 0, 0,
     "yw-files' gRPC target: whether the files an item names (forms, result samples) are "
     "stored", &cfg_files},
    {"YW_CATALOG_FILES_WAIT_MS", YW_CFG_INT, "2000", 50, 30000,
     "longest wait for yw-files' answer about one file an item names; past it the write is "
     "UNAVAILABLE", &cfg_files_wait_ms},
    {"YW_CATALOG_UPLOAD_DAILY_FILES", YW_CFG_INT, "2000", 1, 1000000,
     "item files (forms, samples) one department may upload per day; past it uploads are "
     "RESOURCE_EXHAUSTED (429)", &cfg_upload_files},
    {"YW_CATALOG_UPLOAD_DAILY_MB", YW_CFG_INT, "200", 1, 1000000,
     "MiB of item files one department may upload per day; past it uploads are "
     "RESOURCE_EXHAUSTED (429)", &cfg_upload_mb},
};

int main(int argc, char **argv) {
  static yw_service_proc proc = {
      .name = "catalog",
      .listen = "127.0.0.1:50052",
      .queue = 256,
      .schema = "catalog",
      .migrations = catalog_migrations,
      .idempotency = 1, /* UpsertItem keeps its answers by Idempotency-Key */
      .redis_timeout_ms = 200,
      .redis_use = "serving without the read cache",
      .calls_out = 1, /* yw-files, with its own client certificate */
      .settings = settings,
      .n_settings = sizeof settings / sizeof settings[0],
  };
  proc.n_migrations = catalog_migrations_count;
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  char cache_prefix[128];
  snprintf(cache_prefix, sizeof cache_prefix, "%s:catalog", proc.redis_prefix);
  catalog_ctx ctx = {.pool = proc.pool,
                     .db_wait_ms = (int)proc.db_wait_ms,
                     .redis = cfg_cache_ttl_s > 0 ? proc.redis : NULL,
                     .cache_ttl_s = (int)cfg_cache_ttl_s,
                     .cache_prefix = cache_prefix,
                     .caller_keys = proc.caller_keys,
                     .files_wait_ms = (int)cfg_files_wait_ms,
                     .upload_daily_files = cfg_upload_files,
                     .upload_daily_bytes = (long long)cfg_upload_mb << 20};
  if ((ctx.files = yw_service_channel(&proc, cfg_files)) == NULL) {
    yw_service_stop(&proc);
    return 2;
  }
  yw_rpc_service svc;
  catalog_service_init(&svc, &ctx);
  return yw_service_run(&proc, &svc);
}
