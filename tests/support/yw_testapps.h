/*
 * yw_testapps.h - yw-catalog and yw-applications (with the services it serves beside
 * ApplicationsService) in the test's own process on one yw_rpc_server (port 0), against
 * a fresh database holding both schemas (migrations, outbox, kept answers) and the
 * catalog's demo seed; and calls to them over a real gRPC connection as a caller the
 * gateway would sign. Filings read their item from the catalog over a real call between
 * services (the channel points at the same server).
 *
 * Use: fill nothing, or t->app fields a test needs before yw_testapps_start (the seal),
 * or with_identity;
 * services that share t->app (licenses_service_init(&svc, &t->app)) are passed as more.
 */
#ifndef YW_TESTAPPS_H
#define YW_TESTAPPS_H

#include <grpc/status.h>

#include "applications.h"
#include "catalog.h"
#include "identity.h"
#include "google/protobuf/struct.pb-c.h"
#include "yw_caller.h"

typedef struct yw_testapps {
  char dsn[512];
  catalog_ctx cat;
  applications_ctx app;                /* pool, keys, Redis, an empty calendar, catalog */
  yw_rpc_service cat_svc, app_svc;
  yw_rpc_server *server;
  yw_rpc_client *client;
  yw_rpc_channel *channel;             /* to the server: the tests' and the service's */
  char redis_prefix[128];              /* this database's name: its keys only */
  /* with_identity (set before start): yw-identity served too (its schema migrated,
   * data key t->idn.data_key) and t->app.identity pointed at it */
  int with_identity;
  identity_ctx idn;
  yw_rpc_service idn_svc;
  /* the via= of the callers yw_testapps_call signs: the services a call came through
   * ("payment"); "" (the default): straight from the gateway */
  char via[64];
} yw_testapps;

/* Who calls: a resident (subject, real-name level, the company acted for or NULL and what
 * the session may do for it, "apply,read" or NULL for nothing), staff of a department
 * with roles, or nobody (YW_CALLER_ANONYMOUS: no caller sent). */
typedef struct yw_testapps_caller {
  enum yw_caller_kind kind;
  const char *subject;
  const char *roles;
  const char *dept;
  int level;
  const char *org;
  const char *org_scope;
} yw_testapps_caller;

/* Creates the database and serves catalog, applications and more[0..n_more) with a
 * pool of pool_size and a server queue of queue calls (0: the runtime's). Returns 0, or
 * -1 with a message on stderr. */
int yw_testapps_start(yw_testapps *t, int pool_size, int queue,
                      const yw_rpc_service *const *more, int n_more);

/* Stops everything and drops the database. */
void yw_testapps_stop(yw_testapps *t);

/* Calls path ("/pkg.Service/Method") with req as who (with idem_key as the call's
 * Idempotency-Key unless NULL); the answer into *out (free it; out NULL: dropped), the
 * status message into msg (may be NULL). */
grpc_status_code yw_testapps_call(yw_testapps *t, const yw_testapps_caller *who,
                                  const char *idem_key, const char *path,
                                  const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *out_desc,
                                  ProtobufCMessage **out, char *msg, size_t msglen);

/* JSON text as a google.protobuf.Struct (free it with protobuf_c_message_free_unpacked),
 * or NULL when it is not a JSON object. */
Google__Protobuf__Struct *yw_testapps_struct(const char *json);

/* SubmitApplication of item with form (JSON text) as who, without an Idempotency-Key;
 * the receipt into *out (a SubmitApplicationResponse; free it; out NULL: dropped). */
grpc_status_code yw_testapps_submit(yw_testapps *t, const yw_testapps_caller *who,
                                    const char *item, const char *form, ProtobufCMessage **out,
                                    char *msg, size_t msglen);

/* The form application number keeps, decrypted with the service's data key, into out
 * (JSON text). Returns 0, or -1 (no row, or it does not decrypt). */
int yw_testapps_form(yw_testapps *t, const char *number, char *out, size_t size);

/* The lead department's accept, start of review and approval of application number by
 * who (staff of a department that decides alone): the application APPROVED. Returns the
 * first status that is not OK (GRPC_STATUS_OK when approved). */
grpc_status_code yw_testapps_approve(yw_testapps *t, const yw_testapps_caller *who, const char *number);

/* The fee of application number recorded as paid, as yw-payment's payment.order_paid
 * makes it (the handler of services/applications/fees.c in a transaction of its own), so
 * that tests of other parts can complete an application whose item takes a fee online.
 * Nothing when no fee is due. Returns 0 or -1 (message on stderr). */
int yw_testapps_fee_paid(yw_testapps *t, const char *number);

/* The first value of sql (one text parameter, or none when param is NULL) into out ("" when
 * no row). Returns 0, or -1 with the query's message on stderr. */
int yw_testapps_query1(yw_testapps *t, const char *sql, const char *param, char *out, size_t size);

#endif
