/*
 * yw-identity - serves yiwang.identity.v1.IdentityService.
 *
 * Usage: yw-identity [--migrate-only | --create-staff USERNAME DEPARTMENT ROLES |
 *                    --reset-totp USERNAME | --help]
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

static char *cfg_data_key, *cfg_lookup_key, *cfg_sms_url, *cfg_registry_url, *cfg_company_url;
static long cfg_hash_slots, cfg_access_ttl, cfg_refresh_ttl, cfg_otp_ttl, cfg_otp_resend,
    cfg_otp_tries, cfg_sms_per_ip, cfg_lock_failures, cfg_lock_s, cfg_lock_max, cfg_rn_account, cfg_rn_id,
    cfg_refresh_grace, cfg_sms_per_phone, cfg_otp_tries_day;

/* The identity's own settings; those every service has come from yw_service_start. */
static const yw_cfg_entry config[] = {
    {"YW_DATA_KEY", YW_CFG_STR, "", 0, 0, "64 hex: encrypts personal data at rest", &cfg_data_key},
    {"YW_LOOKUP_KEY", YW_CFG_STR, "", 0, 0, "64 hex: keyed hashes of phones, IDs, codes",
     &cfg_lookup_key},
    {"YW_SMS_URL", YW_CFG_STR, "http://127.0.0.1:8089/sms/send", 0, 0, "SMS gateway endpoint",
     &cfg_sms_url},
    {"YW_REGISTRY_URL", YW_CFG_STR, "http://127.0.0.1:8089/registry/verify", 0, 0,
     "population registry endpoint", &cfg_registry_url},
    {"YW_COMPANY_REGISTER_URL", YW_CFG_STR, "http://127.0.0.1:8089/companies/lookup", 0, 0,
     "company register (企业登记) endpoint", &cfg_company_url},
    {"YW_IDENTITY_HASH_SLOTS", YW_CFG_INT, "2", 1, 64,
     "password hashes (argon2id, 64 MiB each) verified at once; the rest wait or get 429",
     &cfg_hash_slots},
    {"YW_ACCESS_TTL_S", YW_CFG_INT, "900", 30, 86400, "access token life", &cfg_access_ttl},
    {"YW_REFRESH_TTL_S", YW_CFG_INT, "2592000", 300, 31536000, "refresh token life",
     &cfg_refresh_ttl},
    {"YW_REFRESH_GRACE_S", YW_CFG_INT, "30", 0, 300,
     "a retry of the same refresh within this many seconds gets the same new pair",
     &cfg_refresh_grace},
    {"YW_OTP_TTL_S", YW_CFG_INT, "300", 60, 3600, "SMS code life", &cfg_otp_ttl},
    {"YW_OTP_RESEND_S", YW_CFG_INT, "60", 1, 3600, "least time between codes to one phone",
     &cfg_otp_resend},
    {"YW_OTP_MAX_TRIES", YW_CFG_INT, "5", 1, 20, "tries per SMS code", &cfg_otp_tries},
    {"YW_SMS_PER_IP_HOUR", YW_CFG_INT, "20", 1, 100000, "codes one address may ask for per hour",
     &cfg_sms_per_ip},
    {"YW_REALNAME_PER_ACCOUNT_DAY", YW_CFG_INT, "5", 1, 1000,
     "real-name checks (population registry) one account may ask for in 24 hours", &cfg_rn_account},
    {"YW_REALNAME_PER_ID_DAY", YW_CFG_INT, "5", 1, 1000,
     "real-name checks of one ID number, from any accounts, in 24 hours", &cfg_rn_id},
    {"YW_SMS_PER_PHONE_DAY", YW_CFG_INT, "10", 1, 1000, "codes one phone may be sent in 24 hours",
     &cfg_sms_per_phone},
    {"YW_OTP_TRIES_PER_PHONE_DAY", YW_CFG_INT, "10", 1, 1000,
     "wrong codes one phone may be tried with in 24 hours, across resends", &cfg_otp_tries_day},
    {"YW_LOCKOUT_FAILURES", YW_CFG_INT, "5", 1, 100, "failed staff logins before a lockout",
     &cfg_lock_failures},
    {"YW_LOCKOUT_S", YW_CFG_INT, "900", 1, 86400, "length of a first lockout", &cfg_lock_s},
    {"YW_LOCKOUT_MAX_S", YW_CFG_INT, "86400", 1, 604800,
     "longest lockout: one set within this time of the previous one's end lasts twice as long",
     &cfg_lock_max},
};

int main(int argc, char **argv) {
  const char *staff_user = NULL, *staff_dept = NULL, *staff_roles = NULL;
  if (argc == 5 && strcmp(argv[1], "--create-staff") == 0) {
    staff_user = argv[2];
    staff_dept = argv[3];
    staff_roles = argv[4];
    argc = 1; /* its own arguments, read */
  }
  const char *reset_user = NULL;
  if (argc == 3 && strcmp(argv[1], "--reset-totp") == 0) {
    reset_user = argv[2];
    argc = 1;
  }
  static yw_service_proc proc = {
      .name = "identity",
      .listen = "127.0.0.1:50051",
      .queue = 64,
      .schema = "identity",
      .migrations = identity_migrations,
      .redis_timeout_ms = 500,
      .redis_use = "logins fail",
      .settings = config,
      .n_settings = sizeof config / sizeof config[0],
      .usage = "[--create-staff USERNAME DEPARTMENT ROLES | --reset-totp USERNAME]",
  };
  proc.n_migrations = identity_migrations_count;
  yw_http_global_init();
  int rc = yw_service_start(&proc, argc, argv);
  if (rc != YW_SERVICE_SERVE) return rc;

  if (getenv("YW_ARGON2_FAST") != NULL && !yw_password_fast_allowed())
    yw_log(YW_LOG_WARN, "identity.argon2_fast_ignored", NULL,
           "YW_ARGON2_FAST is set but this is not a test build (YW_TEST_HASHING): "
           "passwords are hashed with the production parameters");
  identity_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (yw_key_from_hex(cfg_data_key, ctx.data_key) != 0 ||
      yw_key_from_hex(cfg_lookup_key, ctx.lookup_key) != 0) {
    fprintf(stderr, "yw-identity: YW_DATA_KEY and YW_LOOKUP_KEY must each be 64 hex characters\n");
    yw_service_stop(&proc);
    return 2;
  }
  ctx.pool = proc.pool;
  ctx.redis = proc.redis;
  ctx.caller_keys = proc.caller_keys;
  ctx.db_wait_ms = (int)proc.db_wait_ms;
  ctx.redis_prefix = proc.redis_prefix;
  ctx.sms_url = cfg_sms_url;
  ctx.registry_url = cfg_registry_url;
  ctx.company_register_url = cfg_company_url;
  ctx.access_ttl_s = (int)cfg_access_ttl;
  ctx.refresh_ttl_s = (int)cfg_refresh_ttl;
  ctx.refresh_grace_s = (int)cfg_refresh_grace;
  ctx.otp_ttl_s = (int)cfg_otp_ttl;
  ctx.otp_resend_s = (int)cfg_otp_resend;
  ctx.otp_max_tries = (int)cfg_otp_tries;
  ctx.sms_per_ip_hour = (int)cfg_sms_per_ip;
  ctx.sms_per_phone_day = (int)cfg_sms_per_phone;
  ctx.otp_tries_per_phone_day = (int)cfg_otp_tries_day;
  ctx.realname_per_account_day = (int)cfg_rn_account;
  ctx.realname_per_id_day = (int)cfg_rn_id;
  ctx.lockout_failures = (int)cfg_lock_failures;
  ctx.lockout_s = (int)cfg_lock_s;
  ctx.lockout_max_s = (int)cfg_lock_max;
  ctx.hash_wait_ms = 1000;

  if (staff_user != NULL) {
    char err[256];
    const char *pw = getenv("YW_STAFF_PASSWORD");
    rc = identity_create_staff(&ctx, staff_user, pw != NULL ? pw : "", staff_dept, staff_roles, err,
                               sizeof err);
    if (rc != 0) fprintf(stderr, "yw-identity: %s\n", err);
    yw_service_stop(&proc);
    return rc == 0 ? 0 : 1;
  }

  if (reset_user != NULL) {
    char err[256];
    rc = identity_reset_totp(&ctx, reset_user, err, sizeof err);
    if (rc != 0) fprintf(stderr, "yw-identity: %s\n", err);
    yw_service_stop(&proc);
    return rc == 0 ? 0 : 1;
  }

  /* as many may wait as hash at once: the rest are refused at once (429), so hashes and
   * their waiters hold at most 2 x slots handler threads */
  ctx.hash_slots = yw_slots_new((int)cfg_hash_slots, (int)cfg_hash_slots);
  if (ctx.hash_slots == NULL) {
    yw_service_stop(&proc);
    return 1;
  }
  yw_rpc_service svc;
  identity_service_init(&svc, &ctx);
  rc = yw_service_run(&proc, &svc);
  yw_slots_free(ctx.hash_slots);
  return rc;
}
