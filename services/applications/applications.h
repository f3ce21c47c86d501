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
#include "yw_workdays.h"

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
  /* encrypts the forms at rest (AES-256-GCM, the application's number as associated
   * data; YW_APPLICATIONS_DATA_KEY) */
  uint8_t data_key[YW_KEY_BYTES];
  yw_rpc_channel *catalog;           /* SubmitApplication reads the item there */
  /* yw-identity: the applicant's verified name, masked ID number and company for a
   * form's prefilled fields (GetVerifiedIdentity); NULL: none configured (tests of
   * other parts), then only the company's credit code the caller carries is prefilled */
  yw_rpc_channel *identity;
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

/* Defers call and forwards req to yw-catalog's method (of CatalogService: "GetItem"),
 * with the caller, request id and deadline, as SubmitApplication asks for its item; done
 * (on the client's thread) answers the call with yw_rpc_call_finish. Returns what the
 * handler returns: YW_RPC_DEFERRED (a failed forward is answered UNAVAILABLE at once). */
int applications_ask_catalog(yw_rpc_call *call, applications_ctx *ctx, const char *method,
                             const ProtobufCMessage *req, const ProtobufCMessageDescriptor *answer,
                             yw_rpc_forward_fn done, void *arg);

/* Asks yw-identity's GetVerifiedIdentity from the deferred call (forwarded: its caller,
 * request id and deadline go along) for subject and credit_code ("" and "": the signed
 * caller itself); done gets a yiwang.identity.v1.VerifiedIdentity. Returns 0, or a code
 * (YW_EUNAVAIL when ctx has no identity channel) and then done does not run. */
int applications_ask_identity(yw_rpc_call *call, applications_ctx *ctx, const char *subject,
                              const char *credit_code, yw_rpc_forward_fn done, void *arg);

/* The status to answer when yw-identity answered code (not 0) with message: its
 * PERMISSION_DENIED and NOT_FOUND as they are, anything else UNAVAILABLE (or
 * DEADLINE_EXCEEDED). Sets the call's status; returns the code. */
int applications_identity_failed(yw_rpc_call *call, int code, const char *message);

/* Re-encrypts the forms still kept in clear (applications.applications.form, before
 * migration 013) into form_enc with ctx->data_key, batch rows a transaction (locked
 * FOR UPDATE SKIP LOCKED, so copies starting together share the work), until none is
 * left; *done counts them. Returns 0 or a code with err filled. */
int applications_forms_encrypt(applications_ctx *ctx, int batch, long long *done, yw_pg_error *err);

/* The due date of application id (a bigint as text) into *due: promised_days working
 * days of cal from the day of its acceptance (today when not accepted yet), the clock
 * stopped for each supplement from the day after its request to the day of its answer
 * (today for one still awaited). A year the count runs through that cal does not cover
 * (no notice loaded: weekends only) is logged and counted
 * (applications_calendar_note_uncovered). The one function for a step's due date and a
 * calendar load's recomputation. Returns 0, YW_EINVAL when it cannot be computed, or a
 * query's code (err). */
int applications_due_date(PGconn *conn, const struct yw_workdays *cal, const char *id,
                          int promised_days, yw_day *due, yw_pg_error *err);

/* The service table; data points to ctx. Fills ctx->idem from the rest of ctx. */
void applications_service_init(yw_rpc_service *svc, applications_ctx *ctx);

extern const struct yw_embedded_file applications_migrations[];
extern const unsigned applications_migrations_count;

#endif
