/*
 * yw_caller.h - who is calling, as the gateway tells the services.
 *
 * The gateway authenticates the caller and sends two metadata entries with every
 * upstream call: x-yw-caller, a compact text ("v2;kid=...;sub=...;kind=person;
 * roles=...;dept=...;level=2;sid=...;ip=...;org=...;scope=...;ts=..."), and x-yw-caller-sig, the
 * HMAC-SHA256 under a key shared by the gateway and the services (YW_CALLER_KEY) of that
 * text together with the call's full gRPC method and its x-request-id. A service believes
 * the caller only when the signature verifies for the method and request id of the call
 * it is serving and the stamp is within a window of at most 30 s, so forged metadata
 * sent straight to a service is refused, and metadata seen on the internal network
 * cannot be replayed against another method or under another request id, nor later
 * than the window. (Within the window the same call can be repeated; no service keeps
 * a list of the calls it has seen.) Clients can never send x-yw-* metadata through the
 * gateway: it drops them.
 *
 * Calls between services: a service that calls another on behalf of its caller signs
 * the same caller anew for the downstream method and request id (yw_caller_forward),
 * with the current key only, a fresh stamp, and its own name appended to via= (a
 * comma-separated list of the services the call came through, in order). via= is
 * inside the signed value, so it cannot be changed or removed: an empty via is a call
 * straight from the gateway.
 *
 * Key rotation: kid names the key that signed, and is derived from the key itself
 * (yw_caller_key_id), so ids never need configuring and cannot disagree with their
 * keys. Services accept the current key (YW_CALLER_KEY) and, while keys rotate, the
 * previous one (YW_CALLER_KEY_PREVIOUS). To rotate without downtime: give every service
 * the new key as YW_CALLER_KEY and the old as YW_CALLER_KEY_PREVIOUS; then give the
 * gateways the new key; once no gateway signs with the old key, drop
 * YW_CALLER_KEY_PREVIOUS from the services.
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
  char org_scope[24];   /* what the session may do for org, comma-separated among "apply",
                         * "pay", "read", "sign" (an agent's authorisation; a representative
                         * has all four); "" when org is "" */
  long long ts;         /* unix seconds when the gateway signed */
  char key_id[9];       /* decoded: the id of the key that signed (current or previous) */
  char via[64];         /* services the call came through, "catalog,applications"; ""
                         * straight from the gateway */
} yw_caller;

/* The longest name a service gives itself in via=. */
#define YW_CALLER_SERVICE_MAX 31

#define YW_CALLER_KID_LEN 8
/* The largest window a service may allow between the gateway's stamp and its check. */
#define YW_CALLER_WINDOW_MAX_S 30
/* Room for the longest value yw_caller_encode writes from the fields above. */
#define YW_CALLER_VALUE_MAX 640
/* The longest method path and request id a signature covers. */
#define YW_CALLER_METHOD_MAX 256
#define YW_CALLER_REQUEST_ID_MAX 128

/* The keys a service accepts callers from, with their ids, and the window. */
typedef struct yw_caller_keys {
  uint8_t current[YW_KEY_BYTES];
  char current_id[YW_CALLER_KID_LEN + 1];
  uint8_t previous[YW_KEY_BYTES];
  char previous_id[YW_CALLER_KID_LEN + 1]; /* "" when there is no previous key */
  int window_s;                            /* 1..YW_CALLER_WINDOW_MAX_S */
} yw_caller_keys;

/* Writes the id of key: 8 hex characters of an HMAC under the key, which names the key
 * without telling anything about it. */
void yw_caller_key_id(const uint8_t key[YW_KEY_BYTES], char id[YW_CALLER_KID_LEN + 1]);

/* Sets up keys from the current key and the previous one (NULL: none; the same key as
 * the current one counts as none). Returns 0, or YW_EINVAL when window_s is outside
 * 1..YW_CALLER_WINDOW_MAX_S. */
int yw_caller_keys_init(yw_caller_keys *keys, const uint8_t current[YW_KEY_BYTES],
                        const uint8_t *previous, int window_s);

/* The same from 64 hex characters each; previous_hex NULL or "" means none. Returns 0,
 * or YW_EINVAL when a key is not 64 hex characters or the window is out of range. */
int yw_caller_keys_from_hex(yw_caller_keys *keys, const char *current_hex,
                            const char *previous_hex, int window_s);

/* Writes the metadata value for c (its ts as given, kid from key) and the signature over
 * it, method (the full path, "/pkg.Service/Method") and request_id (the x-request-id
 * sent with the call, "" when none). Fields may hold only [A-Za-z0-9._:,@-] characters.
 * Returns 0, YW_EINVAL (a field, method or request id that cannot be signed) or
 * YW_ETOOBIG (value smaller than needed; YW_CALLER_VALUE_MAX always suffices). */
int yw_caller_encode(const yw_caller *c, const uint8_t key[YW_KEY_BYTES], const char *method,
                     const char *request_id, char *value, size_t size, char sig[65]);

/*
 * A service's signature for a call to another service on behalf of in (a caller it has
 * verified): the same identity, ts = now, via = in's via with service appended, signed
 * with keys->current (never the previous key) for method and request_id. Returns 0,
 * YW_EINVAL (service not 1..YW_CALLER_SERVICE_MAX of [a-z0-9_-]) or YW_ETOOBIG (via
 * would not fit: too many hops), or yw_caller_encode's errors.
 */
int yw_caller_forward(const yw_caller *in, const yw_caller_keys *keys, const char *service,
                      const char *method, const char *request_id, long long now,
                      char *value, size_t size, char sig[65]);

/* Verifies sig over value for the call of method with request_id and parses value into
 * out. now is unix seconds. Returns 0, or YW_EUNAUTH when anything is missing, the key
 * id is neither keys' current nor previous one, the signature is wrong (another method,
 * request id or key, or a changed value) or the stamp is more than keys->window_s away
 * from now, in the past or the future. */
int yw_caller_decode(const char *value, const char *sig, const yw_caller_keys *keys,
                     const char *method, const char *request_id, long long now,
                     yw_caller *out);

/* 1 when role is one of the caller's roles. */
int yw_caller_has_role(const yw_caller *c, const char *role);

/* Acting for a company (授权经办人 scopes): 1 when the caller acts for no company (org
 * empty: they act for themselves), or when scope ("apply", "pay", "read", "sign") is one
 * of org_scope; 0 when the session acts for a company without it. */
int yw_caller_org_may(const yw_caller *c, const char *scope);

/* Reads and verifies the caller of an RPC against the call's own method and request id.
 * Returns 0 or YW_EUNAUTH (message set on the call). An anonymous caller verifies too:
 * its kind is YW_CALLER_ANONYMOUS. */
int yw_rpc_call_caller(yw_rpc_call *call, const yw_caller_keys *keys, yw_caller *out);

#endif
