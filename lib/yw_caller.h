/*
 * yw_caller.h - who is calling, as the gateway tells the services.
 *
 * The gateway authenticates the caller and sends two metadata entries with every
 * upstream call: x-yw-caller, a compact text ("v1;sub=...;kind=person;roles=...;
 * dept=...;level=2;sid=...;ip=...;org=...;ts=..."), and x-yw-caller-sig, the HMAC-SHA256 of that
 * text under a key shared by the gateway and the services (YW_CALLER_KEY). A service
 * believes the caller only when the signature verifies and the stamp is recent, so a
 * call made straight to a service with forged metadata is refused. Clients can never
 * send x-yw-* metadata through the gateway: it drops them.
 */
#ifndef YW_CALLER_H
#define YW_CALLER_H

#include <stddef.h>
#include <stdint.h>

#include "yw_crypto.h"
#include "yw_rpc.h"

enum yw_caller_kind { YW_CALLER_ANONYMOUS = 0, YW_CALLER_PERSON = 1, YW_CALLER_STAFF = 2 };

typedef struct yw_caller {
  enum yw_caller_kind kind;
  char subject[64];
  char roles[128];      /* comma-separated, e.g. "dept_staff,dept_admin" */
  char department[64];
  int level;            /* real-name level of a person */
  char session[72];     /* the session id (hash of the access token), "" when none */
  char ip[64];          /* the client's address as the gateway saw it */
  char org[32];         /* credit code of the legal person the resident acts for, or "" */
  long long ts;         /* unix seconds when the gateway signed */
} yw_caller;

#define YW_CALLER_MAX_AGE_S 300

/* Writes the metadata value and its signature. Fields may hold only
 * [A-Za-z0-9._:,@-] characters. Returns 0, YW_EINVAL or YW_ETOOBIG. */
int yw_caller_encode(const yw_caller *c, const uint8_t key[YW_KEY_BYTES], char *value,
                     size_t size, char sig[65]);

/* Verifies sig over value and parses it. now is unix seconds. Returns 0, or
 * YW_EUNAUTH when either is missing, the signature is wrong or the stamp is older than
 * max_age_s (or in the future by more than that). */
int yw_caller_decode(const char *value, const char *sig, const uint8_t key[YW_KEY_BYTES],
                     long long now, int max_age_s, yw_caller *out);

/* 1 when role is one of the caller's roles. */
int yw_caller_has_role(const yw_caller *c, const char *role);

/* Reads and verifies the caller of an RPC. Returns 0 or YW_EUNAUTH (message set on the
 * call). An anonymous caller verifies too: its kind is YW_CALLER_ANONYMOUS. */
int yw_rpc_call_caller(yw_rpc_call *call, const uint8_t key[YW_KEY_BYTES], yw_caller *out);

#endif
