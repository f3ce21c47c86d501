/*
 * catalog.h - yw-catalog's domain: the catalog of service items and their guides.
 *
 * The handlers serve yiwang.catalog.v1.CatalogService over yw_rpc. They read and write
 * only the `catalog` schema; 三级四同 is enforced by the schema's trigger and surfaces as
 * FAILED_PRECONDITION.
 */
#ifndef YW_CATALOG_H
#define YW_CATALOG_H

#include <stdint.h>

#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_embed.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"

typedef struct catalog_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;          /* longest wait for a pooled connection */
  /* Read cache: answers of ListItems and GetItem kept in two Redis hashes that expire
   * cache_ttl_s after their first entry and are deleted by every catalog write. NULL
   * redis or a zero TTL disables it; Redis down means reading PostgreSQL. */
  yw_redis *redis;
  int cache_ttl_s;
  const char *cache_prefix; /* key prefix: "<YW_REDIS_PREFIX>:catalog" */
  yw_caller_keys caller_keys; /* verify the gateway's caller metadata (writes) */
  /* yw-files, asked (Stat) whether the files an item names are stored, each answer
   * awaited at most files_wait_ms; NULL: writes naming files are UNAVAILABLE */
  yw_rpc_channel *files;
  int files_wait_ms;
  /* a department's item file uploads per day (Asia/Shanghai): at most this many files
   * and bytes; past either, UploadItemFiles is RESOURCE_EXHAUSTED */
  long long upload_daily_files;
  long long upload_daily_bytes;
} catalog_ctx;

/* The service table; data must point to a catalog_ctx that outlives the server. */
void catalog_service_init(yw_rpc_service *svc, catalog_ctx *ctx);

/* The schema's migrations, embedded at build time. */
extern const struct yw_embedded_file catalog_migrations[];
extern const unsigned catalog_migrations_count;

#endif
