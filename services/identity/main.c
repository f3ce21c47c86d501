/*
 * yw-identity - serves yiwang.identity.v1.IdentityService.
 *
 * Usage: yw-identity [--migrate-only | --create-staff USERNAME DEPARTMENT ROLES | --help]
 * --create-staff reads the password from YW_STAFF_PASSWORD (never from the command
 * line, where other users could read it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "yw_config.h"
#include "yw_err.h"
#include "yw_http.h"
#include "yw_log.h"
#include "yw_service.h"

static char *cfg_listen, *cfg_pg_dsn, *cfg_redis_addr, *cfg_log_level, *cfg_prefix;
static char *cfg_data_key, *cfg_lookup_key, *cfg_caller_key, *cfg_sms_url, *cfg_registry_url;
static char *cfg_caller_key_previous;
static char *cfg_tls_ca, *cfg_tls_cert, *cfg_tls_key;
static long cfg_caller_window_s;
static long cfg_threads, cfg_queue, cfg_hash_slots, cfg_db_pool, cfg_access_ttl, cfg_refresh_ttl, cfg_otp_ttl,
    cfg_otp_resend, cfg_otp_tries, cfg_sms_per_ip, cfg_lock_failures, cfg_lock_s;

static const yw_cfg_entry config[] = {
    {"YW_IDENTITY_LISTEN", YW_CFG_STR, "127.0.0.1:50051", 0, 0, "gRPC listen address", &cfg_listen},
    {"YW_PG_DSN", YW_CFG_STR, "host=127.0.0.1 port=5432 dbname=yiwang user=yiwang", 0, 0,
     "libpq connection string", &cfg_pg_dsn},
    {"YW_REDIS_ADDR", YW_CFG_STR, "127.0.0.1:6379", 0, 0, "Redis host:port, or Redis Cluster seeds a:p,b:p (sessions, codes)",
     &cfg_redis_addr},
    {"YW_REDIS_PREFIX", YW_CFG_STR, "yw", 0, 0, "prefix of every Redis key", &cfg_prefix},
    {"YW_DATA_KEY", YW_CFG_STR, "", 0, 0, "64 hex: encrypts personal data at rest", &cfg_data_key},
    {"YW_LOOKUP_KEY", YW_CFG_STR, "", 0, 0, "64 hex: keyed hashes of phones, IDs, codes",
     &cfg_lookup_key},
    {"YW_CALLER_KEY", YW_CFG_STR, "", 0, 0, "64 hex: shared with the gateway, signs the caller",
     &cfg_caller_key},
    {"YW_CALLER_KEY_PREVIOUS", YW_CFG_STR, "", 0, 0,
     "64 hex: the caller key before YW_CALLER_KEY, still accepted while keys rotate; empty: none",
     &cfg_caller_key_previous},
    {"YW_CALLER_WINDOW_S", YW_CFG_INT, "30", 1, 30,
     "seconds a caller signed by the gateway stays valid (clock skew and queueing included)",
     &cfg_caller_window_s},
    {"YW_SMS_URL", YW_CFG_STR, "http://127.0.0.1:8089/sms/send", 0, 0, "SMS gateway endpoint",
     &cfg_sms_url},
    {"YW_REGISTRY_URL", YW_CFG_STR, "http://127.0.0.1:8089/registry/verify", 0, 0,
     "population registry endpoint", &cfg_registry_url},
    {"YW_IDENTITY_THREADS", YW_CFG_INT, "8", 1, 256, "handler threads", &cfg_threads},
    {"YW_IDENTITY_QUEUE", YW_CFG_INT, "64", 0, 100000,
     "calls that may wait for a handler; past it calls are refused at once (429)", &cfg_queue},
    {"YW_IDENTITY_HASH_SLOTS", YW_CFG_INT, "2", 1, 64,
     "password hashes (argon2id, 64 MiB each) verified at once; the rest wait or get 429",
     &cfg_hash_slots},
    {"YW_IDENTITY_DB_POOL", YW_CFG_INT, "8", 1, 256, "PostgreSQL connections", &cfg_db_pool},
    {"YW_ACCESS_TTL_S", YW_CFG_INT, "900", 30, 86400, "access token life", &cfg_access_ttl},
    {"YW_REFRESH_TTL_S", YW_CFG_INT, "2592000", 300, 31536000, "refresh token life",
     &cfg_refresh_ttl},
    {"YW_OTP_TTL_S", YW_CFG_INT, "300", 60, 3600, "SMS code life", &cfg_otp_ttl},
    {"YW_OTP_RESEND_S", YW_CFG_INT, "60", 1, 3600, "least time between codes to one phone",
     &cfg_otp_resend},
    {"YW_OTP_MAX_TRIES", YW_CFG_INT, "5", 1, 20, "tries per SMS code", &cfg_otp_tries},
    {"YW_SMS_PER_IP_HOUR", YW_CFG_INT, "20", 1, 100000, "codes one address may ask for per hour",
     &cfg_sms_per_ip},
    {"YW_LOCKOUT_FAILURES", YW_CFG_INT, "5", 1, 100, "failed staff logins before a lockout",
     &cfg_lock_failures},
    {"YW_LOCKOUT_S", YW_CFG_INT, "900", 1, 86400, "length of a lockout", &cfg_lock_s},
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

static int usage(int rc) {
  fprintf(stderr,
          "usage: yw-identity [--migrate-only | --create-staff USERNAME DEPARTMENT ROLES]\n"
          "settings (environment):\n");
  yw_config_print(config, NCONFIG, stderr);
  return rc;
}

int main(int argc, char **argv) {
  int migrate_only = 0;
  const char *staff_user = NULL, *staff_dept = NULL, *staff_roles = NULL;
  if (argc == 2 && strcmp(argv[1], "--migrate-only") == 0) {
    migrate_only = 1;
  } else if (argc == 5 && strcmp(argv[1], "--create-staff") == 0) {
    staff_user = argv[2];
    staff_dept = argv[3];
    staff_roles = argv[4];
  } else if (argc != 1) {
    return usage(strcmp(argv[1], "--help") == 0 ? 0 : 2);
  }
  yw_rpc_block_signals();
  yw_http_global_init();
  char err[256];
  if (yw_config_load(config, NCONFIG, err, sizeof err) != 0) {
    fprintf(stderr, "yw-identity: %s\n", err);
    return 2;
  }
  int level = yw_log_level_parse(cfg_log_level);
  yw_log_init("yw-identity", level >= 0 ? (enum yw_log_level)level : YW_LOG_INFO);
  yw_rpc_tls tls;
  int tls_on = yw_rpc_tls_from_settings(&tls, cfg_tls_ca, cfg_tls_cert, cfg_tls_key, NULL, err,
                                        sizeof err);
  if (tls_on < 0) {
    fprintf(stderr, "yw-identity: %s\n", err);
    return 2;
  }

  identity_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (yw_key_from_hex(cfg_data_key, ctx.data_key) != 0 ||
      yw_key_from_hex(cfg_lookup_key, ctx.lookup_key) != 0 ||
      yw_caller_keys_from_hex(&ctx.caller_keys, cfg_caller_key, cfg_caller_key_previous,
                              (int)cfg_caller_window_s) != 0) {
    fprintf(stderr, "yw-identity: YW_DATA_KEY, YW_LOOKUP_KEY and YW_CALLER_KEY (and "
                    "YW_CALLER_KEY_PREVIOUS when set) must each be 64 hex characters\n");
    return 2;
  }
  ctx.db_wait_ms = 2000;
  ctx.redis_prefix = cfg_prefix;
  ctx.sms_url = cfg_sms_url;
  ctx.registry_url = cfg_registry_url;
  ctx.access_ttl_s = (int)cfg_access_ttl;
  ctx.refresh_ttl_s = (int)cfg_refresh_ttl;
  ctx.otp_ttl_s = (int)cfg_otp_ttl;
  ctx.otp_resend_s = (int)cfg_otp_resend;
  ctx.otp_max_tries = (int)cfg_otp_tries;
  ctx.sms_per_ip_hour = (int)cfg_sms_per_ip;
  ctx.lockout_failures = (int)cfg_lock_failures;
  ctx.lockout_s = (int)cfg_lock_s;
  ctx.hash_wait_ms = 1000;

  if (yw_service_open_db(cfg_pg_dsn, (int)cfg_db_pool, "identity", identity_migrations,
                         identity_migrations_count, &ctx.pool) != 0)
    return 1;
  int rc = 0;
  if (migrate_only || staff_user != NULL) {
    if (staff_user != NULL) {
      const char *pw = getenv("YW_STAFF_PASSWORD");
      rc = identity_create_staff(&ctx, staff_user, pw != NULL ? pw : "", staff_dept, staff_roles,
                                 err, sizeof err);
      if (rc != 0) fprintf(stderr, "yw-identity: %s\n", err);
    }
    yw_pg_pool_free(ctx.pool);
    return rc == 0 ? 0 : 1;
  }
  if (yw_redis_open(cfg_redis_addr, 500, (int)cfg_threads, &ctx.redis) == YW_EUNAVAIL)
    yw_log(YW_LOG_WARN, "redis.unavailable", NULL, "%s: logins fail until it is back",
           cfg_redis_addr);

  /* as many may wait as hash at once: the rest are refused at once (429), so hashes and
   * their waiters hold at most 2 x slots handler threads */
  ctx.hash_slots = yw_slots_new((int)cfg_hash_slots, (int)cfg_hash_slots);
  if (ctx.hash_slots == NULL) return 1;
  yw_rpc_service svc;
  yw_service_limits limits = {(int)cfg_threads, (int)cfg_queue, ctx.pool,
                              tls_on ? &tls : NULL};
  identity_service_init(&svc, &ctx);
  rc = yw_service_serve(cfg_listen, &limits, &svc);
  yw_slots_free(ctx.hash_slots);
  yw_redis_free(ctx.redis);
  yw_pg_pool_free(ctx.pool);
  return rc == 0 ? 0 : 1;
}
