/*
 * identity.h - yw-identity's domain: accounts of residents and staff, login by SMS code
 * or password, sessions, real-name levels, legal-person bindings and the audit trail.
 *
 * Sessions: an access token is 32 random bytes; its SHA-256 (the session id) keys a
 * Redis hash {sub, kind, roles, dept, level} that lives access_ttl_s and that the
 * gateway reads on every protected request, so logout revokes at once. The refresh
 * token (also random, stored only as a hash in PostgreSQL) rotates on every use; using
 * a consumed one again revokes its whole family.
 */
#ifndef YW_IDENTITY_H
#define YW_IDENTITY_H

#include <stdint.h>

#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_embed.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"
#include "yw_slots.h"

typedef struct identity_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_redis *redis;
  uint8_t data_key[YW_KEY_BYTES];   /* encrypts personal data at rest */
  uint8_t lookup_key[YW_KEY_BYTES]; /* keyed hashes for lookups and SMS codes */
  yw_caller_keys caller_keys;       /* verify the gateway's caller metadata */
  const char *redis_prefix;         /* "yw" */
  const char *sms_url;              /* SMS gateway endpoint */
  const char *registry_url;         /* population registry endpoint */
  const char *company_register_url; /* company register (企业登记) endpoint */
  int access_ttl_s;
  int refresh_ttl_s;
  int refresh_grace_s; /* a retried refresh within this gets the same pair */
  int otp_ttl_s;
  int otp_resend_s;
  int otp_max_tries;
  int sms_per_ip_hour;
  int sms_per_phone_day;        /* codes one phone may be sent in 24 hours */
  int otp_tries_per_phone_day;  /* wrong codes one phone may be tried with in 24 hours */
  int realname_per_account_day; /* real-name checks one account may ask for a day */
  int realname_per_id_day;      /* real-name checks of one ID number a day */
  int lockout_failures;
  int lockout_s;
  int lockout_max_s; /* lockouts in a row double up to this */
  yw_slots *hash_slots; /* password hashes verified at once (argon2id, 64 MiB) */
  int hash_wait_ms;     /* longest wait for one before answering 429 */
} identity_ctx;

/* The service table; data must point to an identity_ctx that outlives the server. */
void identity_service_init(yw_rpc_service *svc, identity_ctx *ctx);

/* Creates or replaces a staff account (the CLI's --create-staff). roles is a
 * comma-separated list. Returns 0 or an error code; err gets the reason. */
int identity_create_staff(identity_ctx *ctx, const char *username, const char *password,
                          const char *department, const char *roles, char *err, size_t errlen);

/* Removes the staff account's second factor (its TOTP secret, pending enrolment and
 * recovery codes), audited; the CLI's --reset-totp, for a lost authenticator. The
 * account enrols again at its next login. Returns 0, YW_ENOTFOUND or a database code;
 * err gets the reason. */
int identity_reset_totp(identity_ctx *ctx, const char *username, char *err, size_t errlen);

extern const struct yw_embedded_file identity_migrations[];
extern const unsigned identity_migrations_count;

#endif
