/*
 * yw-catalog - serves yiwang.catalog.v1.CatalogService.
 *
 * Start-up: load configuration, open the PostgreSQL pool, apply the catalog schema's
 * migrations (under an advisory lock, so several copies can start together), serve until
 * SIGINT/SIGTERM, finish calls in flight, exit 0.
 *
 * Usage: yw-catalog [--migrate-only] [--help]
 */
#include <stdio.h>
#include <string.h>

#include "catalog.h"
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
static char *cfg_redis_addr;
static long cfg_cache_ttl_s;
static char *cfg_caller_key;
static char *cfg_caller_key_previous;
static long cfg_caller_window_s;
static char *cfg_prefix;
static char *cfg_tls_ca, *cfg_tls_cert, *cfg_tls_key;

static const yw_cfg_entry config[] = {
    {"YW_CATALOG_LISTEN", YW_CFG_STR, "127.0.0.1:50052", 0, 0, "gRPC listen address",
     &cfg_listen},
    {"YW_PG_DSN", YW_CFG_STR, "host=127.0.0.1 port=5432 dbname=yiwang user=yiwang", 0, 0,
     "libpq connection string", &cfg_pg_dsn},
    {"YW_CATALOG_THREADS", YW_CFG_INT, "8", 1, 256, "handler threads", &cfg_threads},
    {"YW_CATALOG_QUEUE", YW_CFG_INT, "256", 0, 100000,
     "calls that may wait for a handler; past it calls are refused at once (429)", &cfg_queue},
    {"YW_CATALOG_DB_POOL", YW_CFG_INT, "8", 1, 256, "PostgreSQL connections", &cfg_db_pool},
    {"YW_CATALOG_DB_WAIT_MS", YW_CFG_INT, "2000", 1, 60000,
     "longest wait for a pooled connection", &cfg_db_wait_ms},
    {"YW_REDIS_ADDR", YW_CFG_STR, "127.0.0.1:6379", 0, 0, "Redis host:port, or Redis Cluster seeds a:p,b:p (read cache)",
     &cfg_redis_addr},
    {"YW_CATALOG_CACHE_TTL_S", YW_CFG_INT, "60", 0, 86400,
     "longest life of a cached answer; 0 disables the cache", &cfg_cache_ttl_s},
    {"YW_REDIS_PREFIX", YW_CFG_STR, "yw", 0, 0, "prefix of every Redis key", &cfg_prefix},
    {"YW_CALLER_KEY", YW_CFG_STR, "", 0, 0, "64 hex: verifies callers vouched for by the gateway",
     &cfg_caller_key},
    {"YW_CALLER_KEY_PREVIOUS", YW_CFG_STR, "", 0, 0,
     "64 hex: the caller key before YW_CALLER_KEY, still accepted while keys rotate; empty: none",
     &cfg_caller_key_previous},
    {"YW_CALLER_WINDOW_S", YW_CFG_INT, "30", 1, 30,
     "seconds a caller signed by the gateway stays valid (clock skew and queueing included)",
     &cfg_caller_window_s},
    {"YW_LOG_LEVEL", YW_CFG_STR, "info", 0, 0, "debug, info, warn or error", &cfg_log_level},
    {"YW_TLS_CA", YW_CFG_STR, "", 0, 0,
     "PEM CA certificate(s) that sign the gateway's client certificate; with YW_TLS_CERT and "
     "YW_TLS_KEY the service serves mutual TLS only (all three, or none for cleartext)",
     &cfg_tls_ca},
    {"YW_TLS_CERT", YW_CFG_STR, "", 0, 0, "PEM certificate chain of this service (mutual TLS)",
     &cfg_tls_cert},
    {"YW_TLS_KEY", YW_CFG_STR, "", 0, 0, "PEM private key of YW_TLS_CERT (mutual TLS)",
     &cfg_tls_key},
};
#define NCONFIG (sizeof config / sizeof config[0])

int main(int argc, char **argv) {
  int migrate_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--migrate-only") == 0) {
      migrate_only = 1;
    } else {
      fprintf(stderr, "usage: yw-catalog [--migrate-only]\nsettings (environment):\n");
      yw_config_print(config, NCONFIG, stderr);
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  yw_rpc_block_signals();
  char err[256];
  if (yw_config_load(config, NCONFIG, err, sizeof err) != 0) {
    fprintf(stderr, "yw-catalog: %s\n", err);
    return 2;
  }
  int level = yw_log_level_parse(cfg_log_level);
  yw_log_init("yw-catalog", level >= 0 ? (enum yw_log_level)level : YW_LOG_INFO);
  yw_rpc_tls tls;
  int tls_on = yw_rpc_tls_from_settings(&tls, cfg_tls_ca, cfg_tls_cert, cfg_tls_key, NULL, err,
                                        sizeof err);
  if (tls_on < 0) {
    fprintf(stderr, "yw-catalog: %s\n", err);
    return 2;
  }

  char cache_prefix[128];
  snprintf(cache_prefix, sizeof cache_prefix, "%s:catalog", cfg_prefix);
  catalog_ctx ctx = {.db_wait_ms = (int)cfg_db_wait_ms, .cache_ttl_s = (int)cfg_cache_ttl_s,
                     .cache_prefix = cache_prefix};
  if (yw_caller_keys_from_hex(&ctx.caller_keys, cfg_caller_key, cfg_caller_key_previous,
                              (int)cfg_caller_window_s) != 0) {
    fprintf(stderr, "yw-catalog: YW_CALLER_KEY (shared with the gateway) and "
                    "YW_CALLER_KEY_PREVIOUS, when set, must be 64 hex characters\n");
    return 2;
  }
  if (yw_service_open_db(cfg_pg_dsn, (int)cfg_db_pool, "catalog", catalog_migrations,
                         catalog_migrations_count, &ctx.pool) != 0)
    return 1;
  if (migrate_only) {
    yw_pg_pool_free(ctx.pool);
    return 0;
  }

  if (cfg_cache_ttl_s > 0 &&
      yw_redis_open(cfg_redis_addr, 200, (int)cfg_threads, &ctx.redis) == YW_EUNAVAIL)
    yw_log(YW_LOG_WARN, "redis.unavailable", NULL, "%s: serving without the cache until it is back",
           cfg_redis_addr);

  yw_rpc_service svc;
  yw_service_limits limits = {(int)cfg_threads, (int)cfg_queue, ctx.pool,
                              tls_on ? &tls : NULL};
  catalog_service_init(&svc, &ctx);
  int rc = yw_service_serve(cfg_listen, &limits, &svc);
  yw_redis_free(ctx.redis);
  yw_pg_pool_free(ctx.pool);
  return rc == 0 ? 0 : 1;
}
