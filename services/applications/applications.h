/*
 * applications.h - yw-applications' handlers (yiwang.applications.v1.ApplicationsService).
 *
 * The context is filled by main() (or a test) and must outlive the server.
 */
#ifndef APPLICATIONS_H
#define APPLICATIONS_H

#include <stdint.h>

#include "yw_caller.h"
#include "yw_crypto.h"
#include "yw_idem.h"
#include "yw_pg.h"
#include "yw_redis.h"
#include "yw_rpc.h"
#include "yw_seal.h"

/* A department's own seal. */
struct applications_dept_seal {
  char department[72];
  yw_seal *seal;
};

typedef struct applications_ctx {
  yw_pg_pool *pool;
  int db_wait_ms;
  yw_redis *redis;                   /* kept answers of SubmitApplication; NULL: none */
  const char *redis_prefix;          /* their keys' prefix (YW_REDIS_PREFIX); NULL: "yw" */
  yw_caller_keys caller_keys;
  uint8_t lookup_key[YW_KEY_BYTES];  /* HMAC of "<number>:<query code>" */
  yw_rpc_channel *catalog;           /* SubmitApplication reads the item there */
  /* Working days for due dates: statutory holidays and make-up working days, the
   * database's calendar held in memory and reloaded when it changes (calendar.h). Not NULL. */
  struct applications_calendar *calendar;
  /* The seals of electronic licenses (licenses.c; read-only, shared by threads): a
   * department's own (dept_seals, YW_APPLICATIONS_SEAL_KEYS) signs and verifies its
   * licenses; seal, the deployment's (YW_APPLICATIONS_SEAL_KEY), those of every other
   * department. A department with neither issues none. */
  const yw_seal *seal;
  const struct applications_dept_seal *dept_seals;
  size_t n_dept_seals;
  yw_idem_opts idem;                 /* filled by applications_service_init */
  yw_idem_opts idem_bundle;          /* the same for SubmitBundle's answers */
} applications_ctx;

/* The service table; data points to ctx. Fills ctx->idem from the rest of ctx. */
void applications_service_init(yw_rpc_service *svc, applications_ctx *ctx);

extern const struct yw_embedded_file applications_migrations[];
extern const unsigned applications_migrations_count;

#endif
