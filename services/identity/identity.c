/*
 * identity.c - handlers of yiwang.identity.v1.IdentityService.
 *
 * Every handler first reads the caller vouched for by the gateway (yw_rpc_call_caller):
 * a call without valid signed metadata is refused, whoever makes it. Personal data is
 * encrypted with data_key (the subject as associated data, so a ciphertext cannot be
 * moved to another account) and found by HMAC under lookup_key; answers carry only
 * masked forms. SMS codes are kept as HMACs in Redis with a try counter, checked and
 * consumed atomically by a Lua script.
 *
 * Offers: identity_service_init, identity_create_staff.
 */
#include "identity.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "totp.h"
#include "yiwang/identity/v1/identity.pb-c.h"
#include "yw_caller.h"
#include "yw_err.h"
#include "yw_http.h"
#include "yw_log.h"
#include "yw_service.h"

typedef Yiwang__Identity__V1__Me Me;
typedef Yiwang__Identity__V1__Session Session;

/* Claims of a session: what the gateway needs to decide access. */
struct claims {
  char subject[64];
  enum yw_caller_kind kind;
  char roles[128];
  char department[64];
  int level;
  /* staff: a lockout this attempt set (its length in seconds, 0 when none) and how many
   * lockouts came in a row with it */
  int locked_s;
  int lock_streak;
};

/* ---- helpers --------------------------------------------------------------------- */

static void rkey(const identity_ctx *ctx, char *buf, size_t size, const char *what,
                 const char *id) {
  snprintf(buf, size, "%s:%s:%s", ctx->redis_prefix, what, id);
}

static redisReply *redis_do(identity_ctx *ctx, int argc, const char **argv) {
  return yw_redis_command(ctx->redis, argc, argv, NULL, NULL, 0);
}

static int redis_ok(identity_ctx *ctx, int argc, const char **argv) {
  redisReply *r = redis_do(ctx, argc, argv);
  if (r == NULL) return YW_EUNAVAIL;
  freeReplyObject(r);
  return 0;
}

static char *dup(yw_rpc_call *call, const char *s) {
  return yw_arena_strndup(yw_rpc_call_arena(call), s, (size_t)-1);
}

/* Writes an audit record on conn (inside the caller's transaction when there is one).
 * Returns 0, or the code of the failed insert (logged; err filled when given). */
static int audit(PGconn *conn, const yw_caller *caller, const char *actor, const char *actor_kind,
                 const char *action, const char *target, const char *target_subject,
                 const char *outcome, const char *request_id) {
  const char *p[] = {actor,          actor_kind, caller->department, action,    target,
                     target_subject, outcome,    request_id,         caller->ip};
  yw_pg_error err;
  int rc =
      yw_pg_query(conn,
                  "INSERT INTO identity.audit_log (actor, actor_kind, department, action, target,"
                  " target_subject, outcome, request_id, source_ip)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                  9, p, NULL, &err);
  if (rc != 0)
    yw_log(YW_LOG_ERROR, "audit.write_failed", request_id, "%s: %s", action, err.message);
  return rc;
}

/* An audit record the action cannot go without: written on conn inside the action's
 * transaction, so that both commit or neither. Returns 0, or YW_EUNAVAIL with the call's
 * status set (the caller rolls back and answers it). */
static int audit_required(yw_rpc_call *call, PGconn *conn, const yw_caller *caller,
                          const char *actor, const char *actor_kind, const char *action,
                          const char *target, const char *target_subject, const char *outcome,
                          const char *request_id) {
  if (audit(conn, caller, actor, actor_kind, action, target, target_subject, outcome, request_id) ==
      0)
    return 0;
  return yw_rpc_call_fail(
      call, YW_EUNAVAIL,
      "the audit trail cannot record this, so it was not done; try again shortly");
}

/* The record of a refusal (a failed login, a refused upgrade or binding), written on conn
 * or, when conn is NULL, on a connection of its own. A refusal is answered only once it is
 * recorded: returns 0, or YW_EUNAVAIL with the call's status set (the caller answers that
 * instead of the refusal, so no guess is ever answered without its record). */
static int record_refusal(identity_ctx *ctx, yw_rpc_call *call, PGconn *conn,
                          const yw_caller *caller, const char *actor, const char *actor_kind,
                          const char *action, const char *target, const char *target_subject,
                          const char *outcome) {
  PGconn *own = conn == NULL ? yw_service_db(call, ctx->pool, ctx->db_wait_ms) : NULL;
  PGconn *c = conn != NULL ? conn : own;
  int rc = c == NULL ? -1
                     : audit(c, caller, actor, actor_kind, action, target, target_subject,
                             outcome, yw_rpc_call_request_id(call));
  if (own != NULL) yw_pg_pool_release(ctx->pool, own);
  if (rc == 0) return 0;
  return yw_rpc_call_fail(call, YW_EUNAVAIL,
                          "the audit trail cannot record this attempt; try again shortly");
}

/* Ends a transaction begun on conn: commits when rc is 0, else rolls back; releases conn.
 * Returns 0 once committed, or the code to answer with (status set: the caller's own,
 * or the database's). */
static int end_tx(identity_ctx *ctx, yw_rpc_call *call, PGconn *conn, int rc, yw_pg_error *err) {
  if (rc == 0) rc = yw_pg_commit(conn, err);
  if (rc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == 0 || (rc == YW_EUNAVAIL && err->sqlstate[0] == '\0')) return rc;
  return yw_service_db_fail(call, rc, err);
}

/* Splits a comma-separated list into an arena array of strings; *n gets its length. */
static char **split_list(yw_rpc_call *call, const char *text, size_t *n) {
  yw_arena *a = yw_rpc_call_arena(call);
  size_t cap = text[0] != '\0' ? 1 : 0;
  for (const char *q = text; *q != '\0'; q++) cap += *q == ',';
  char **out = yw_arena_calloc(a, cap + 1, sizeof *out);
  char *copy = dup(call, text);
  *n = 0;
  for (char *q = copy, *save = NULL; out != NULL && copy != NULL && q != NULL; q = save) {
    save = strchr(q, ',');
    if (save != NULL) *save++ = '\0';
    if (*q != '\0') out[(*n)++] = q;
  }
  return out;
}

/* A binding row holds while the person represents the company, or while the agent's
 * authorisation is in force (not revoked, not expired); either only while the register's
 * legal representative, as last looked up, is the one who was the representative then
 * (the person bound, or the one who authorised the agent): a change of representative in
 * the register ends the previous one's binding and every authorisation they granted
 * (migration 005). Needs b (the binding), l (the company) and a (LEFT JOIN
 * identity.company_agents a ON a.id = b.agent_id). */
#define BINDING_IN_FORCE                                                                   \
  " ((b.role = 'representative' AND b.rep_id_sha256 = l.legal_rep_id_sha256) OR"           \
  "  (a.revoked_at IS NULL AND a.expires_at > now()"                                       \
  "   AND a.granted_rep_id_sha256 = l.legal_rep_id_sha256))"
/* A representative may do everything for the company an agent may be authorised to. */
#define REPRESENTATIVE_SCOPE "apply,pay,read,sign"
#define RFC3339(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SSOF:\"00\"')"
/* The columns binding_from_row reads, in order. */
#define BINDING_COLUMNS \
  " l.credit_code, l.name, l.legal_rep_enc, " RFC3339("b.bound_at") ", b.role,"          \
  " COALESCE(array_to_string(a.scope, ','), ''), COALESCE(" RFC3339("a.expires_at") ", '')"

static char *decrypt_masked(identity_ctx *ctx, yw_rpc_call *call, const char *enc,
                            const char *subject, char *(*mask)(const char *, char *, size_t));

/* A LegalPersonBinding from row i of r (BINDING_COLUMNS), in the call's arena. */
static Yiwang__Identity__V1__LegalPersonBinding *binding_from_row(identity_ctx *ctx,
                                                                  yw_rpc_call *call,
                                                                  const PGresult *r, int i) {
  Yiwang__Identity__V1__LegalPersonBinding *b = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *b);
  if (b == NULL) return NULL;
  yiwang__identity__v1__legal_person_binding__init(b);
  b->credit_code = dup(call, PQgetvalue(r, i, 0));
  b->name = dup(call, PQgetvalue(r, i, 1));
  b->legal_representative_masked =
      decrypt_masked(ctx, call, PQgetvalue(r, i, 2), PQgetvalue(r, i, 0), yw_mask_name);
  b->bound_at = dup(call, PQgetvalue(r, i, 3));
  b->role = dup(call, PQgetvalue(r, i, 4));
  b->scope = split_list(call, PQgetvalue(r, i, 5), &b->n_scope);
  b->expires_at = dup(call, PQgetvalue(r, i, 6));
  return b;
}

static const char *kind_text(enum yw_caller_kind k) {
  return k == YW_CALLER_STAFF ? "staff" : k == YW_CALLER_PERSON ? "person" : "anonymous";
}

/* The caller must be a logged-in person or staff member with a session. */
static int require_session(yw_rpc_call *call, const yw_caller *c) {
  if (c->kind == YW_CALLER_ANONYMOUS || c->subject[0] == '\0' || c->session[0] == '\0')
    return yw_rpc_call_fail(call, YW_EUNAUTH, "log in first");
  return 0;
}

/* Decrypts a field of subject's row and masks it with mask into the arena. */
static char *decrypt_masked(identity_ctx *ctx, yw_rpc_call *call, const char *enc,
                            const char *subject, char *(*mask)(const char *, char *, size_t)) {
  if (enc == NULL || enc[0] == '\0') return dup(call, "");
  char plain[256];
  char masked[256];
  if (yw_decrypt(ctx->data_key, enc, subject, plain, sizeof plain) != 0) {
    yw_log(YW_LOG_ERROR, "identity.decrypt_failed", yw_rpc_call_request_id(call),
           "a personal-data field of %s does not decrypt", subject);
    return dup(call, "");
  }
  mask(plain, masked, sizeof masked);
  return dup(call, masked);
}

/* Loads the account of subject as a masked Me. Returns 0, YW_ENOTFOUND or a db code. */
static int load_me(identity_ctx *ctx, yw_rpc_call *call, PGconn *conn, const char *subject,
                   Me **out, struct claims *claims, yw_pg_error *err) {
  yw_arena *a = yw_rpc_call_arena(call);
  Me *me = yw_arena_alloc(a, sizeof *me);
  if (me == NULL) return YW_ENOMEM;
  yiwang__identity__v1__me__init(me);
  const char *p[] = {subject};
  PGresult *r = NULL;
  int rc;
  if (strncmp(subject, "s-", 2) == 0) {
    rc = yw_pg_query(conn,
                     "SELECT username, department, array_to_string(roles, ','), roles"
                     " FROM identity.staff WHERE subject = $1",
                     1, p, &r, err);
    if (rc != 0) return rc;
    if (PQntuples(r) == 0) {
      PQclear(r);
      return YW_ENOTFOUND;
    }
    me->kind = YIWANG__IDENTITY__V1__ACCOUNT_KIND__STAFF;
    me->username = dup(call, PQgetvalue(r, 0, 0));
    me->department = dup(call, PQgetvalue(r, 0, 1));
    const char *roles = PQgetvalue(r, 0, 2);
    if (claims != NULL) {
      claims->kind = YW_CALLER_STAFF;
      snprintf(claims->roles, sizeof claims->roles, "%s", roles);
      snprintf(claims->department, sizeof claims->department, "%s", PQgetvalue(r, 0, 1));
      claims->level = 0;
    }
    size_t n = roles[0] != '\0' ? 1 : 0;
    for (const char *q = roles; *q != '\0'; q++) n += *q == ',';
    me->roles = yw_arena_calloc(a, n + 1, sizeof *me->roles);
    char *copy = dup(call, roles);
    for (char *q = copy, *save = NULL; me->roles != NULL && copy != NULL && q != NULL; q = save) {
      save = strchr(q, ',');
      if (save != NULL) *save++ = '\0';
      if (*q != '\0') me->roles[me->n_roles++] = q;
    }
    PQclear(r);
  } else {
    rc = yw_pg_query(conn,
                     "SELECT phone_enc, name_enc, id_card_enc, realname_level, id"
                     " FROM identity.persons WHERE subject = $1",
                     1, p, &r, err);
    if (rc != 0) return rc;
    if (PQntuples(r) == 0) {
      PQclear(r);
      return YW_ENOTFOUND;
    }
    me->kind = YIWANG__IDENTITY__V1__ACCOUNT_KIND__PERSON;
    me->phone_masked = decrypt_masked(ctx, call, PQgetvalue(r, 0, 0), subject, yw_mask_phone);
    me->name_masked = decrypt_masked(ctx, call, PQgetvalue(r, 0, 1), subject, yw_mask_name);
    me->id_card_masked = decrypt_masked(ctx, call, PQgetvalue(r, 0, 2), subject, yw_mask_id_card);
    me->realname_level = (int32_t)strtol(PQgetvalue(r, 0, 3), NULL, 10);
    char *person_id = dup(call, PQgetvalue(r, 0, 4));
    PQclear(r);
    if (claims != NULL) {
      claims->kind = YW_CALLER_PERSON;
      claims->roles[0] = '\0';
      claims->department[0] = '\0';
      claims->level = me->realname_level;
    }
    const char *pp[] = {person_id};
    rc = yw_pg_query(conn,
                     "SELECT" BINDING_COLUMNS
                     " FROM identity.person_legal_persons b"
                     " JOIN identity.legal_persons l ON l.credit_code = b.credit_code"
                     " LEFT JOIN identity.company_agents a ON a.id = b.agent_id"
                     " WHERE b.person_id = $1::bigint AND" BINDING_IN_FORCE " ORDER BY b.bound_at",
                     1, pp, &r, err);
    if (rc != 0) return rc;
    int n = PQntuples(r);
    me->legal_persons = yw_arena_calloc(a, (size_t)n + 1, sizeof *me->legal_persons);
    for (int i = 0; me->legal_persons != NULL && i < n; i++) {
      Yiwang__Identity__V1__LegalPersonBinding *b = binding_from_row(ctx, call, r, i);
      if (b == NULL) break;
      me->legal_persons[me->n_legal_persons++] = b;
    }
    PQclear(r);
  }
  me->subject = dup(call, subject);
  if (claims != NULL) snprintf(claims->subject, sizeof claims->subject, "%s", subject);
  *out = me;
  return 0;
}

/* Writes a session for claims: a refresh token row (family given, or a new one) inside
 * the caller's transaction, and the Redis session the gateway reads. */
static int issue_session(identity_ctx *ctx, yw_rpc_call *call, PGconn *conn,
                         const struct claims *cl, const char *family, Session **out,
                         yw_pg_error *err) {
  char access[64], refresh[64], sid[65], rhash[65], ttl[16], level[8];
  if (yw_random_token(32, access, sizeof access) != 0 ||
      yw_random_token(32, refresh, sizeof refresh) != 0)
    return YW_EINTERNAL;
  yw_sha256_hex(access, strlen(access), sid);
  yw_sha256_hex(refresh, strlen(refresh), rhash);
  snprintf(ttl, sizeof ttl, "%d", ctx->refresh_ttl_s);
  const char *p[] = {rhash, family, cl->subject, sid, ttl};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "INSERT INTO identity.refresh_tokens (token_hash, family, subject,"
                       " session_id, expires_at)"
                       " VALUES ($1, COALESCE($2::uuid, gen_random_uuid()), $3, $4,"
                       "         now() + $5::int * interval '1 second')"
                       " RETURNING family",
                       5, p, &r, err);
  if (rc != 0) return rc;
  char fam[64];
  snprintf(fam, sizeof fam, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);

  char skey[128], subkey[128], attl[16];
  rkey(ctx, skey, sizeof skey, "sess", sid);
  rkey(ctx, subkey, sizeof subkey, "subj", cl->subject);
  snprintf(level, sizeof level, "%d", cl->level);
  snprintf(attl, sizeof attl, "%d", ctx->access_ttl_s);
  const char *hset[] = {"HSET",  skey,      "sub",  cl->subject,    "kind",  kind_text(cl->kind),
                        "roles", cl->roles, "dept", cl->department, "level", level,
                        "fam",   fam};
  const char *exp[] = {"EXPIRE", skey, attl};
  const char *sadd[] = {"SADD", subkey, sid};
  const char *sexp[] = {"EXPIRE", subkey, ttl};
  if (redis_ok(ctx, 14, hset) != 0 || redis_ok(ctx, 3, exp) != 0 || redis_ok(ctx, 3, sadd) != 0 ||
      redis_ok(ctx, 3, sexp) != 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "sessions are unavailable, try again shortly");

  Session *s = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *s);
  if (s == NULL) return YW_ENOMEM;
  yiwang__identity__v1__session__init(s);
  s->access_token = dup(call, access);
  s->refresh_token = dup(call, refresh);
  s->expires_in = ctx->access_ttl_s;
  s->token_type = "Bearer";
  *out = s;
  return 0;
}

/* Deletes the Redis sessions whose ids are in r's first column. */
static void drop_sessions(identity_ctx *ctx, PGresult *r) {
  for (int i = 0; i < PQntuples(r); i++) {
    char skey[128];
    rkey(ctx, skey, sizeof skey, "sess", PQgetvalue(r, i, 0));
    const char *del[] = {"DEL", skey};
    redis_ok(ctx, 2, del);
  }
}

#define CALLER_OR_FAIL(call, ctx, c)                                \
  yw_caller c;                                                      \
  do {                                                              \
    int crc_ = yw_rpc_call_caller((call), &(ctx)->caller_keys, &c); \
    if (crc_ != 0) return crc_;                                     \
  } while (0)

/* ---- SendSmsCode ----------------------------------------------------------------- */

/* Answers retry-after with the time left on a limit's key (fallback when Redis has none). */
static void retry_after_ttl(identity_ctx *ctx, yw_rpc_call *call, const char *key,
                            long long fallback) {
  const char *ttl_cmd[] = {"TTL", key};
  redisReply *t = redis_do(ctx, 2, ttl_cmd);
  char after[24];
  snprintf(after, sizeof after, "%lld",
           t != NULL && t->type == REDIS_REPLY_INTEGER && t->integer > 0 ? t->integer : fallback);
  if (t != NULL) freeReplyObject(t);
  yw_rpc_call_add_trailer(call, "retry-after", after);
}

/* The keys of a phone (ph: its lookup hash): its current code {code, tries} and its
 * day {sends, tries}. Both carry the hash as a hash tag, so that a script may use the
 * two on a Redis Cluster too. */
static void otp_keys(const identity_ctx *ctx, const char *ph, char *code_key, size_t ck,
                     char *day_key, size_t dk) {
  char tag[72];
  snprintf(tag, sizeof tag, "{%s}", ph);
  rkey(ctx, code_key, ck, "otp", tag);
  rkey(ctx, day_key, dk, "otp-day", tag);
}

/* Counts a code to send against the phone's day (KEYS[1]): 0 to send, 1 too many codes
 * today (ARGV[1]), 2 too many wrong tries today (ARGV[2]). The day opens a 24-hour
 * window on its first use. */
static const char OTP_DAY_SCRIPT[] =
    "if redis.call('TTL', KEYS[1]) < 0 then redis.call('DEL', KEYS[1]) end\n"
    "local tries = tonumber(redis.call('HGET', KEYS[1], 'tries') or '0')\n"
    "local sends = redis.call('HINCRBY', KEYS[1], 'sends', 1)\n"
    "if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], 86400) end\n"
    "if tries >= tonumber(ARGV[2]) then return 2 end\n"
    "if sends > tonumber(ARGV[1]) then return 1 end\n"
    "return 0\n";

/* Puts a new code (ARGV[1], its HMAC) for ARGV[2] seconds, keeping the wrong tries of
 * the code it replaces. */
static const char OTP_PUT_SCRIPT[] =
    "local t = redis.call('HGET', KEYS[1], 'tries') or '0'\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'code', ARGV[1], 'tries', t)\n"
    "redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))\n"
    "return 0\n";

static int send_sms_code(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                         void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__SendSmsCodeRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  if (!yw_phone_valid(req->phone))
    return yw_rpc_call_fail(call, YW_EINVAL, "phone must be an 11-digit mobile number");
  char ph[65], key[128], wait[128], ipkey[128], day[128];
  char material[32];
  snprintf(material, sizeof material, "phone:%s", req->phone);
  yw_hmac_hex(ctx->lookup_key, material, strlen(material), ph);
  otp_keys(ctx, ph, key, sizeof key, day, sizeof day);
  rkey(ctx, wait, sizeof wait, "otp-wait", ph);
  rkey(ctx, ipkey, sizeof ipkey, "otp-ip", caller.ip[0] != '\0' ? caller.ip : "unknown");

  const char *incr[] = {"INCR", ipkey};
  redisReply *r = redis_do(ctx, 2, incr);
  if (r == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "codes cannot be sent now, try again shortly");
  long long sent_from_ip = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
  freeReplyObject(r);
  if (sent_from_ip == 1) {
    const char *exp[] = {"EXPIRE", ipkey, "3600"};
    redis_ok(ctx, 3, exp);
  }
  if (sent_from_ip > ctx->sms_per_ip_hour) {
    /* the window ends when the address's counter expires */
    retry_after_ttl(ctx, call, ipkey, 3600);
    return yw_rpc_call_fail(call, YW_ELIMIT,
                            "too many codes requested from this address; try later");
  }

  char resend[16];
  snprintf(resend, sizeof resend, "%d", ctx->otp_resend_s);
  const char *setnx[] = {"SET", wait, "1", "NX", "EX", resend};
  r = redis_do(ctx, 6, setnx);
  if (r == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "codes cannot be sent now, try again shortly");
  int throttled = r->type == REDIS_REPLY_NIL;
  freeReplyObject(r);
  if (throttled) {
    yw_rpc_call_add_trailer(call, "retry-after", resend);
    return yw_rpc_call_fail(call, YW_ELIMIT,
                            "a code was sent to this phone moments ago; wait %d seconds",
                            ctx->otp_resend_s);
  }

  /* the phone's day: codes sent and wrong tries, across every code */
  char sends_max[16], tries_max[16];
  snprintf(sends_max, sizeof sends_max, "%d", ctx->sms_per_phone_day);
  snprintf(tries_max, sizeof tries_max, "%d", ctx->otp_tries_per_phone_day);
  const char *dayc[] = {"EVAL", OTP_DAY_SCRIPT, "1", day, sends_max, tries_max};
  r = redis_do(ctx, 6, dayc);
  if (r == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "codes cannot be sent now, try again shortly");
  long long day_verdict = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
  freeReplyObject(r);
  if (day_verdict != 0) {
    retry_after_ttl(ctx, call, day, 86400);
    return yw_rpc_call_fail(call, YW_ELIMIT,
                            day_verdict == 1
                                ? "too many codes sent to this phone today; try later"
                                : "too many wrong codes for this phone today; try later");
  }

  char code[8], code_mac[65], mac_in[128], ttl[16];
  if (yw_random_digits(6, code, sizeof code) != 0) return YW_EINTERNAL;
  snprintf(mac_in, sizeof mac_in, "%s:%s", ph, code);
  yw_hmac_hex(ctx->lookup_key, mac_in, strlen(mac_in), code_mac);
  snprintf(ttl, sizeof ttl, "%d", ctx->otp_ttl_s);
  const char *del[] = {"DEL", key};
  /* a resend replaces the code but keeps its wrong tries */
  const char *put[] = {"EVAL", OTP_PUT_SCRIPT, "1", key, code_mac, ttl};
  if (redis_ok(ctx, 6, put) != 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "codes cannot be sent now, try again shortly");

  /* the SMS gateway's API: JSON with the phone, a template and its parameters */
  json_t *body = json_pack("{s:s, s:s, s:{s:s, s:i}}", "phone", req->phone, "template",
                           "login_code", "params", "code", code, "minutes", ctx->otp_ttl_s / 60);
  char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  long status = 0;
  char *resp = NULL;
  int rc = text != NULL ? yw_http_post_json(ctx->sms_url, text, 5000, &status, &resp) : YW_ENOMEM;
  free(text);
  free(resp);
  if (rc != 0 || status < 200 || status >= 300) {
    redis_ok(ctx, 2, del);
    const char *delw[] = {"DEL", wait};
    redis_ok(ctx, 2, delw);
    const char *unsend[] = {"HINCRBY", day, "sends", "-1"};
    redis_ok(ctx, 4, unsend);
    yw_log(YW_LOG_WARN, "identity.sms_failed", yw_rpc_call_request_id(call),
           "SMS gateway answered %ld (%s)", status, yw_strerror(rc));
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the SMS could not be sent, try again shortly");
  }
  Yiwang__Identity__V1__SendSmsCodeResponse *o = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *o);
  if (o == NULL) return YW_ENOMEM;
  yiwang__identity__v1__send_sms_code_response__init(o);
  o->expires_in_seconds = ctx->otp_ttl_s;
  o->resend_after_seconds = ctx->otp_resend_s;
  *out = &o->base;
  return 0;
}

/* ---- CreateSession --------------------------------------------------------------- */

/* Checks and consumes an SMS code atomically (KEYS[1] the code, KEYS[2] the phone's
 * day; ARGV: the HMAC tried, tries per code, wrong tries per phone per day): 1 right
 * (consumed), 0 no code, -1 too many tries of this code (consumed), -2 too many wrong
 * tries of the phone today (the code consumed), 2 wrong. */
static const char OTP_SCRIPT[] =
    "local d = tonumber(redis.call('HGET', KEYS[2], 'tries') or '0')\n"
    "if d >= tonumber(ARGV[3]) and redis.call('TTL', KEYS[2]) > 0 then\n"
    "  redis.call('DEL', KEYS[1]) return -2 end\n"
    "local c = redis.call('HGET', KEYS[1], 'code')\n"
    "if not c then return 0 end\n"
    "local t = redis.call('HINCRBY', KEYS[1], 'tries', 1)\n"
    "if c == ARGV[1] and t <= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return 1 end\n"
    "if redis.call('TTL', KEYS[2]) < 0 then redis.call('DEL', KEYS[2]) end\n"
    "redis.call('HINCRBY', KEYS[2], 'tries', 1)\n"
    "if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], 86400) end\n"
    "if t >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) return -1 end\n"
    "return 2\n";

static int login_by_phone(identity_ctx *ctx, yw_rpc_call *call, const yw_caller *caller,
                          const char *phone, const char *code, struct claims *cl) {
  if (!yw_phone_valid(phone))
    return yw_rpc_call_fail(call, YW_EINVAL, "phone must be an 11-digit mobile number");
  if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
    return yw_rpc_call_fail(call, YW_EINVAL, "code must be the 6 digits sent by SMS");
  char ph[65], key[128], day[128], mac_in[128], code_mac[65], tries[16], day_tries[16];
  char material[32];
  snprintf(material, sizeof material, "phone:%s", phone);
  yw_hmac_hex(ctx->lookup_key, material, strlen(material), ph);
  otp_keys(ctx, ph, key, sizeof key, day, sizeof day);
  snprintf(mac_in, sizeof mac_in, "%s:%s", ph, code);
  yw_hmac_hex(ctx->lookup_key, mac_in, strlen(mac_in), code_mac);
  snprintf(tries, sizeof tries, "%d", ctx->otp_max_tries);
  snprintf(day_tries, sizeof day_tries, "%d", ctx->otp_tries_per_phone_day);
  const char *argv[] = {"EVAL", OTP_SCRIPT, "2", key, day, code_mac, tries, day_tries};
  redisReply *r = redis_do(ctx, 8, argv);
  if (r == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "login is unavailable, try again shortly");
  long long verdict = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
  freeReplyObject(r);

  char masked[32];
  yw_mask_phone(phone, masked, sizeof masked);
  if (verdict != 1) {
    if (record_refusal(ctx, call, NULL, caller, masked, "anonymous", "login_failed", masked, NULL,
                       verdict == 0    ? "no code"
                       : verdict == -1 ? "too many tries"
                       : verdict == -2 ? "too many wrong codes today"
                                       : "wrong code") != 0)
      return YW_EUNAVAIL;
    if (verdict == 0)
      return yw_rpc_call_fail(call, YW_EUNAUTH, "no code was sent to this phone or it has expired");
    if (verdict == -1)
      return yw_rpc_call_fail(call, YW_EUNAUTH, "too many wrong codes; request a new one");
    if (verdict == -2)
      return yw_rpc_call_fail(call, YW_EUNAUTH,
                              "too many wrong codes for this phone today; log in tomorrow");
    return yw_rpc_call_fail(call, YW_EUNAUTH, "the code is wrong");
  }

  char subject[40], rnd[24], enc[256];
  if (yw_random_token(12, rnd, sizeof rnd) != 0) return YW_EINTERNAL;
  snprintf(subject, sizeof subject, "p-%s", rnd);
  if (yw_encrypt(ctx->data_key, phone, strlen(phone), subject, enc, sizeof enc) != 0)
    return YW_EINTERNAL;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "login is unavailable, try again shortly");
  const char *p[] = {subject, ph, enc};
  PGresult *res = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(conn,
                       "INSERT INTO identity.persons (subject, phone_hash, phone_enc)"
                       " VALUES ($1, $2, $3)"
                       " ON CONFLICT (phone_hash) DO UPDATE SET phone_hash = EXCLUDED.phone_hash"
                       " RETURNING subject, realname_level",
                       3, p, &res, &err);
  if (rc == 0) {
    snprintf(cl->subject, sizeof cl->subject, "%s", PQgetvalue(res, 0, 0));
    cl->kind = YW_CALLER_PERSON;
    cl->roles[0] = '\0';
    cl->department[0] = '\0';
    cl->level = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
  }
  yw_pg_pool_release(ctx->pool, conn);
  return rc != 0 ? yw_service_db_fail(call, rc, &err) : 0;
}

/* A fixed argon2id hash to verify against when the username is unknown, so that the
 * answer takes as long as for a known one. */
static char dummy[128];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void dummy_init(void) { yw_password_hash("not a real password", dummy, sizeof dummy); }
static const char *dummy_hash(void) {
  pthread_once(&dummy_once, dummy_init);
  return dummy;
}

/* Verifies password against encoded (or the dummy hash when encoded is NULL) within one
 * of the service's hashing slots, so that at most that many handler threads are ever in
 * argon2 at once and none holds a database connection meanwhile. Returns 1 when it
 * matches, 0 when not, or YW_ELIMIT when no slot came free in time. */
static int verify_password(identity_ctx *ctx, yw_rpc_call *call, const char *encoded,
                           const char *password) {
  int64_t left = yw_rpc_call_ms_left(call);
  int wait = left < ctx->hash_wait_ms ? (int)(left > 0 ? left : 0) : ctx->hash_wait_ms;
  if (ctx->hash_slots != NULL && yw_slots_acquire(ctx->hash_slots, wait) != 0) return YW_ELIMIT;
  int ok = yw_password_verify(encoded != NULL ? encoded : dummy_hash(), password);
  if (ctx->hash_slots != NULL) yw_slots_release(ctx->hash_slots);
  return encoded != NULL && ok;
}

/* The record of a lockout the attempt of cl set, written with the refusal that leaves
 * it standing: action "locked", its length and how many came in a row. Returns 0 (also
 * when the attempt set none), or YW_EUNAVAIL with the call's status set. */
static int record_lockout(identity_ctx *ctx, yw_rpc_call *call, PGconn *conn,
                          const yw_caller *caller, const char *username, const struct claims *cl) {
  if (cl->locked_s <= 0) return 0;
  char outcome[96];
  snprintf(outcome, sizeof outcome, "for %d s, lockout %d in a row", cl->locked_s,
           cl->lock_streak);
  return record_refusal(ctx, call, conn, caller, username, "staff", "locked", username, NULL,
                        outcome);
}

/* A right password whose stored hash has weaker or older parameters than the current
 * ones is hashed again and stored, unless the password changed meanwhile. Best effort:
 * without a free hashing slot, or when the write fails, the next login tries again. */
static void rehash_password(identity_ctx *ctx, yw_rpc_call *call, const char *username,
                            const char *old, const char *password) {
  char fresh[160];
  /* like every hash: in a slot, with no database connection held */
  if (ctx->hash_slots != NULL && yw_slots_acquire(ctx->hash_slots, 0) != 0) return;
  int rc = yw_password_hash(password, fresh, sizeof fresh);
  if (ctx->hash_slots != NULL) yw_slots_release(ctx->hash_slots);
  if (rc != 0) return;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return;
  const char *p[] = {username, old, fresh};
  yw_pg_error err;
  rc = yw_pg_query(conn,
                   "UPDATE identity.staff SET password_hash = $3"
                   " WHERE username = $1 AND password_hash = $2",
                   3, p, NULL, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0)
    yw_log(YW_LOG_WARN, "identity.rehash_failed", yw_rpc_call_request_id(call), "%s",
           err.message);
}

/* Staff login. Every attempt on a known account is counted before its hash is checked
 * (one statement, the row locked): a lockout that has expired starts the count again,
 * and an attempt whose count passes the limit is refused without checking the password,
 * so parallel guesses cannot all run. A lockout set within YW_LOCKOUT_MAX_S of the end
 * of the previous one lasts twice as long as that one (from YW_LOCKOUT_S up to
 * YW_LOCKOUT_MAX_S); a full login starts the lengths again. Unknown and locked accounts
 * verify the dummy hash and answer exactly as a wrong password (401), so the answer
 * tells nothing about which usernames exist. An unknown username is audited only as a
 * keyed hash: it may be a password typed in the wrong box. */
static int login_by_password(identity_ctx *ctx, yw_rpc_call *call, const yw_caller *caller,
                             const char *username, const char *password, struct claims *cl) {
  if (strlen(username) > 32 || strlen(password) > 128 || password[0] == '\0')
    return yw_rpc_call_fail(call, YW_EINVAL, "username and password are required");
  char limit[16], lock_s[16], lock_max[16];
  snprintf(limit, sizeof limit, "%d", ctx->lockout_failures);
  snprintf(lock_s, sizeof lock_s, "%d", ctx->lockout_s);
  snprintf(lock_max, sizeof lock_max, "%d",
           ctx->lockout_max_s > ctx->lockout_s ? ctx->lockout_max_s : ctx->lockout_s);
  const char *p[] = {username, limit, lock_s, lock_max};
  PGresult *r = NULL;
  int rc = yw_service_query(
      call, ctx->pool, ctx->db_wait_ms, "login",
      "WITH s AS ("
      "  SELECT id, COALESCE(locked_until > now(), false) AS locked,"
      "   CASE WHEN locked_until <= now() THEN 1 ELSE failed_count + 1 END AS n,"
      "   CASE WHEN last_lock_end > now() - $4::int * interval '1 second'"
      "        THEN lock_streak + 1 ELSE 1 END AS streak"
      "  FROM identity.staff WHERE username = $1 FOR UPDATE),"
      " l AS (SELECT id, locked, n, streak, NOT locked AND n >= $2::int AS locks,"
      "   LEAST($3::int * power(2, LEAST(streak - 1, 30)), $4::int)::int AS len FROM s)"
      " UPDATE identity.staff t SET failed_count = l.n,"
      "  locked_until = CASE WHEN l.locked THEN t.locked_until"
      "   WHEN l.locks THEN now() + l.len * interval '1 second' ELSE NULL END,"
      "  lock_streak = CASE WHEN l.locks THEN l.streak ELSE t.lock_streak END,"
      "  last_lock_end = CASE WHEN l.locks THEN now() + l.len * interval '1 second'"
      "   ELSE t.last_lock_end END"
      " FROM l WHERE t.id = l.id"
      " RETURNING t.subject, t.password_hash, t.department, array_to_string(t.roles, ','),"
      "  l.n <= $2::int, CASE WHEN l.locks THEN l.len ELSE 0 END, l.streak",
      4, p, &r);
  /* the connection went back before the hash: argon2 must not hold one */
  if (rc != 0) return rc;
  int known = PQntuples(r) > 0;
  int allowed = known && PQgetvalue(r, 0, 4)[0] == 't';
  char encoded[160] = "";
  if (known) {
    snprintf(encoded, sizeof encoded, "%s", PQgetvalue(r, 0, 1));
    snprintf(cl->subject, sizeof cl->subject, "%s", PQgetvalue(r, 0, 0));
    snprintf(cl->department, sizeof cl->department, "%s", PQgetvalue(r, 0, 2));
    snprintf(cl->roles, sizeof cl->roles, "%s", PQgetvalue(r, 0, 3));
    cl->locked_s = (int)strtol(PQgetvalue(r, 0, 5), NULL, 10);
    cl->lock_streak = (int)strtol(PQgetvalue(r, 0, 6), NULL, 10);
  }
  PQclear(r);
  cl->kind = YW_CALLER_STAFF;
  cl->level = 0;
  /* unknown and locked accounts cost the same hash as a known one */
  int ok = verify_password(ctx, call, allowed ? encoded : NULL, password);
  if (ok == YW_ELIMIT) {
    /* unchecked, the attempt still counted: a lockout it set stands */
    if (record_lockout(ctx, call, NULL, caller, username, cl) != 0) return YW_EUNAVAIL;
    return yw_rpc_call_fail(call, YW_ELIMIT, "too many logins at once, try again shortly");
  }
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "login is unavailable, try again shortly");
  if (!ok) {
    if (!known) {
      char material[64], mac[65], actor[72];
      snprintf(material, sizeof material, "staff-username:%s", username);
      yw_hmac_hex(ctx->lookup_key, material, strlen(material), mac);
      snprintf(actor, sizeof actor, "hmac:%s", mac);
      rc = record_refusal(ctx, call, conn, caller, actor, "anonymous", "login_failed", actor, NULL,
                          "unknown user");
    } else {
      rc = record_refusal(ctx, call, conn, caller, username, "staff", "login_failed", username,
                          NULL, allowed ? "wrong password" : "locked");
      if (rc == 0) rc = record_lockout(ctx, call, conn, caller, username, cl);
    }
    yw_pg_pool_release(ctx->pool, conn);
    if (rc != 0) return rc;
    return yw_rpc_call_fail(call, YW_EUNAUTH, "wrong username or password");
  }
  yw_pg_pool_release(ctx->pool, conn);
  if (yw_password_needs_rehash(encoded)) rehash_password(ctx, call, username, encoded, password);
  return 0; /* the password is right: the caller finishes (finish_login) */
}

/* ---- the staff's second factor (TOTP) ---------------------------------------------- */

/* Roles whose logins need a second factor. */
#define SECOND_FACTOR_ROLES "platform_admin,finance,auditor"

static int needs_second_factor(const char *roles_csv) {
  yw_caller c;
  memset(&c, 0, sizeof c);
  snprintf(c.roles, sizeof c.roles, "%s", roles_csv);
  return yw_service_has_any_role(&c, SECOND_FACTOR_ROLES);
}

/* Accepts the TOTP code for the secret (base32) at steps now-1..now+1 whose step is
 * later than the last one used, and records that step, atomically. Returns 1 accepted,
 * 0 not, or a negative database code. */
static int totp_accept(identity_ctx *ctx, PGconn *conn, const char *subject, const char *secret_b32,
                       const char *code, yw_pg_error *err) {
  uint8_t key[64];
  int keylen = identity_base32_decode(secret_b32, key, sizeof key);
  if (keylen <= 0 || strlen(code) != 6 || strspn(code, "0123456789") != 6) return 0;
  uint64_t now = (uint64_t)time(NULL) / IDENTITY_TOTP_STEP_S;
  long long step = -1;
  for (int d = -1; d <= 1; d++) {
    char want[8];
    if (identity_totp(key, (size_t)keylen, now + (uint64_t)(int64_t)d, 6, want, sizeof want) == 0 &&
        yw_secure_equal(want, code))
      step = (long long)(now + (uint64_t)(int64_t)d);
  }
  (void)ctx;
  if (step < 0) return 0;
  char steptext[24];
  snprintf(steptext, sizeof steptext, "%lld", step);
  const char *p[] = {subject, steptext};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "UPDATE identity.staff SET totp_last_step = $2::bigint WHERE subject = $1"
                       " AND (totp_last_step IS NULL OR totp_last_step < $2::bigint) RETURNING 1",
                       2, p, &r, err);
  if (rc != 0) return rc;
  int ok = PQntuples(r) == 1;
  PQclear(r);
  return ok;
}

/* The keyed hash of a recovery code of subject (dashes and case ignored). */
static void recovery_hash(identity_ctx *ctx, const char *subject, const char *code, char out[65]) {
  char norm[64], material[128];
  size_t n = 0;
  for (const char *q = code; *q != '\0' && n + 1 < sizeof norm; q++)
    if (*q != '-' && *q != ' ') norm[n++] = (char)toupper((unsigned char)*q);
  norm[n] = '\0';
  snprintf(material, sizeof material, "recovery:%s:%s", subject, norm);
  yw_hmac_hex(ctx->lookup_key, material, strlen(material), out);
}

/* The second factor of a staff login whose password was right. Returns 0 with *method
 * set, or the code answered (401, audited). */
static int second_factor(identity_ctx *ctx, yw_rpc_call *call, const yw_caller *caller,
                         const char *username, const struct claims *cl, const char *totp_code,
                         const char *recovery_code, const char **method) {
  const char *subject = cl->subject;
  const char *rid = yw_rpc_call_request_id(call);
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "login is unavailable, try again shortly");
  const char *p[] = {subject};
  PGresult *r = NULL;
  yw_pg_error err;
  int rc = yw_pg_query(
      conn, "SELECT COALESCE(totp_secret_enc, ''), id FROM identity.staff WHERE subject = $1", 1, p,
      &r, &err);
  if (rc != 0) {
    yw_pg_pool_release(ctx->pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }
  char enc[512] = "", staff_id[24] = "";
  if (PQntuples(r) == 1) {
    snprintf(enc, sizeof enc, "%s", PQgetvalue(r, 0, 0));
    snprintf(staff_id, sizeof staff_id, "%s", PQgetvalue(r, 0, 1));
  }
  PQclear(r);
  const char *outcome = NULL;
  int ok = 0;
  if (enc[0] == '\0') {
    outcome = "second factor not enrolled";
  } else if (totp_code[0] != '\0') {
    char secret[128];
    if (yw_decrypt(ctx->data_key, enc, subject, secret, sizeof secret) != 0) {
      yw_pg_pool_release(ctx->pool, conn);
      yw_log(YW_LOG_ERROR, "identity.decrypt_failed", rid, "the TOTP secret of %s does not decrypt",
             subject);
      return yw_rpc_call_fail(call, YW_EINTERNAL, "the second factor cannot be checked");
    }
    ok = totp_accept(ctx, conn, subject, secret, totp_code, &err);
    if (ok < 0) {
      yw_pg_pool_release(ctx->pool, conn);
      return yw_service_db_fail(call, ok, &err);
    }
    *method = "password+totp";
    outcome = "wrong or used TOTP code";
  } else if (recovery_code[0] != '\0' && strlen(recovery_code) < 40) {
    char h[65];
    recovery_hash(ctx, subject, recovery_code, h);
    const char *rp[] = {staff_id, h};
    rc = yw_pg_query(conn,
                     "UPDATE identity.staff_recovery_codes SET used_at = now()"
                     " WHERE staff_id = $1::bigint AND code_hash = $2 AND NOT pending"
                     "   AND used_at IS NULL RETURNING 1",
                     2, rp, &r, &err);
    if (rc != 0) {
      yw_pg_pool_release(ctx->pool, conn);
      return yw_service_db_fail(call, rc, &err);
    }
    ok = PQntuples(r) == 1;
    PQclear(r);
    *method = "password+recovery";
    outcome = "wrong or used recovery code";
  } else {
    outcome = "second factor missing";
  }
  rc = ok ? 0
          : record_refusal(ctx, call, conn, caller, username, "staff", "login_failed", username,
                           NULL, outcome);
  if (rc == 0 && !ok) rc = record_lockout(ctx, call, conn, caller, username, cl);
  yw_pg_pool_release(ctx->pool, conn);
  if (ok) return 0;
  if (rc != 0) return rc;
  if (enc[0] == '\0')
    return yw_rpc_call_fail(call, YW_EUNAUTH,
                            "this account needs a second factor: enrol an authenticator at "
                            "POST /v1/auth/totp-enrolments, then confirm it");
  return yw_rpc_call_fail(call, YW_EUNAUTH,
                          "this account needs its authenticator's code (totpCode) or a recovery "
                          "code (recoveryCode); the one given is wrong or was used");
}

static int enrol_totp(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                      void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__EnrolTotpRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  struct claims cl;
  memset(&cl, 0, sizeof cl);
  int rc = login_by_password(ctx, call, &caller, req->username, req->password, &cl);
  if (rc != 0) return rc;
  /* a new secret and recovery codes, pending until a code confirms them. The count of
   * attempts starts again only when an enrolment is made or confirmed: once enrolled,
   * a right password alone never resets it, so codes cannot be guessed without end */
  uint8_t key[20];
  char secret[40], enc[512];
  if (RAND_bytes(key, sizeof key) != 1) return YW_EINTERNAL;
  identity_base32_encode(key, sizeof key, secret, sizeof secret);
  if (yw_encrypt(ctx->data_key, secret, strlen(secret), cl.subject, enc, sizeof enc) != 0)
    return YW_EINTERNAL;
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Identity__V1__TotpEnrolment *o = yw_arena_alloc(a, sizeof *o);
  if (o == NULL) return YW_ENOMEM;
  yiwang__identity__v1__totp_enrolment__init(o);
  o->recovery_codes = yw_arena_calloc(a, 11, sizeof *o->recovery_codes);
  if (o->recovery_codes == NULL) return YW_ENOMEM;
  char hashes[10][65];
  for (int i = 0; i < 10; i++) {
    uint8_t b[10];
    char b32[24], shown[24];
    if (RAND_bytes(b, sizeof b) != 1) return YW_EINTERNAL;
    identity_base32_encode(b, sizeof b, b32, sizeof b32);
    snprintf(shown, sizeof shown, "%.4s-%.4s-%.4s-%.4s", b32, b32 + 4, b32 + 8, b32 + 12);
    o->recovery_codes[o->n_recovery_codes++] = dup(call, shown);
    recovery_hash(ctx, cl.subject, shown, hashes[i]);
  }
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  yw_pg_error err;
  PGresult *r = NULL;
  const char *p[] = {cl.subject, enc};
  rc = yw_pg_begin(conn, &err);
  if (rc == 0)
    rc = yw_pg_query(conn,
                     "UPDATE identity.staff SET totp_pending_enc = $2, failed_count = 0,"
                     " locked_until = NULL WHERE subject = $1 AND totp_secret_enc IS NULL"
                     " RETURNING id",
                     2, p, &r, &err);
  int enrolled = rc == 0 && PQntuples(r) == 0;
  char staff_id[24] = "";
  if (rc == 0 && !enrolled) snprintf(staff_id, sizeof staff_id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  const char *dp[] = {staff_id};
  if (rc == 0 && !enrolled)
    rc = yw_pg_query(conn, "DELETE FROM identity.staff_recovery_codes WHERE staff_id = $1::bigint",
                     1, dp, NULL, &err);
  for (int i = 0; rc == 0 && !enrolled && i < 10; i++) {
    const char *ip[] = {staff_id, hashes[i]};
    rc = yw_pg_query(conn,
                     "INSERT INTO identity.staff_recovery_codes (staff_id, code_hash)"
                     " VALUES ($1::bigint, $2)",
                     2, ip, NULL, &err);
  }
  if (rc == 0 && !enrolled)
    rc = audit_required(call, conn, &caller, req->username, "staff", "totp_enrol", req->username,
                        NULL, "pending", yw_rpc_call_request_id(call));
  if (rc == 0 && !enrolled) rc = yw_pg_commit(conn, &err);
  if (rc != 0 || enrolled) yw_pg_rollback(conn);
  /* refused with the count as it was: a lockout this attempt set stands */
  if (rc == 0 && enrolled && record_lockout(ctx, call, conn, &caller, req->username, &cl) != 0) {
    yw_pg_pool_release(ctx->pool, conn);
    return YW_EUNAVAIL;
  }
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (enrolled)
    return yw_rpc_call_fail(call, YW_EPRECOND,
                            "an authenticator is enrolled already; an administrator resets it "
                            "(yw-identity --reset-totp USERNAME)");
  char uri[256];
  snprintf(uri, sizeof uri,
           "otpauth://totp/yiwang:%s?secret=%s&issuer=yiwang&algorithm=SHA1&digits=6&period=30",
           req->username, secret);
  o->otpauth_uri = dup(call, uri);
  o->secret = dup(call, secret);
  char *svg = identity_qr_svg(uri);
  if (svg == NULL) return yw_rpc_call_fail(call, YW_EINTERNAL, "the QR code cannot be made");
  o->qr_svg = dup(call, svg);
  free(svg);
  *out = &o->base;
  return 0;
}

static int confirm_totp(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                        void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__ConfirmTotpRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  struct claims cl;
  memset(&cl, 0, sizeof cl);
  int rc = login_by_password(ctx, call, &caller, req->username, req->password, &cl);
  if (rc != 0) return rc;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  yw_pg_error err;
  PGresult *r = NULL;
  const char *p[] = {cl.subject};
  rc = yw_pg_begin(conn, &err);
  if (rc == 0)
    rc = yw_pg_query(conn,
                     "SELECT COALESCE(totp_pending_enc, ''), id FROM identity.staff"
                     " WHERE subject = $1 FOR UPDATE",
                     1, p, &r, &err);
  char enc[512] = "", staff_id[24] = "", secret[128] = "";
  if (rc == 0 && PQntuples(r) == 1) {
    snprintf(enc, sizeof enc, "%s", PQgetvalue(r, 0, 0));
    snprintf(staff_id, sizeof staff_id, "%s", PQgetvalue(r, 0, 1));
  }
  PQclear(r);
  int ok = 0;
  if (rc == 0 && enc[0] != '\0' &&
      yw_decrypt(ctx->data_key, enc, cl.subject, secret, sizeof secret) == 0) {
    ok = totp_accept(ctx, conn, cl.subject, secret, req->totp_code, &err);
    if (ok < 0) rc = ok;
  }
  const char *sp[] = {cl.subject};
  if (rc == 0 && ok)
    rc = yw_pg_query(conn,
                     "UPDATE identity.staff SET totp_secret_enc = totp_pending_enc,"
                     " totp_pending_enc = NULL, totp_enrolled_at = now(), failed_count = 0,"
                     " locked_until = NULL WHERE subject = $1",
                     1, sp, NULL, &err);
  const char *ip[] = {staff_id};
  if (rc == 0 && ok)
    rc = yw_pg_query(
        conn,
        "UPDATE identity.staff_recovery_codes SET pending = false WHERE staff_id = $1::bigint", 1,
        ip, NULL, &err);
  if (rc == 0)
    rc = audit_required(call, conn, &caller, req->username, "staff", "totp_enrol", req->username,
                        NULL,
                        ok               ? "confirmed"
                        : enc[0] == '\0' ? "nothing to confirm"
                                         : "wrong code",
                        yw_rpc_call_request_id(call));
  if (rc == 0 && !ok) rc = record_lockout(ctx, call, conn, &caller, req->username, &cl);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  if (rc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (enc[0] == '\0')
    return yw_rpc_call_fail(call, YW_EPRECOND, "no enrolment waits for confirmation");
  if (!ok) return yw_rpc_call_fail(call, YW_EUNAUTH, "the code is wrong; use the current one");
  Yiwang__Identity__V1__ConfirmTotpResponse *o = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *o);
  if (o == NULL) return YW_ENOMEM;
  yiwang__identity__v1__confirm_totp_response__init(o);
  time_t now = time(NULL);
  struct tm tm;
  char at[40];
  gmtime_r(&now, &tm);
  strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
  o->enrolled_at = dup(call, at);
  *out = &o->base;
  return 0;
}

/* Issues the session for cl and records the login (staff: username, their count of
 * attempts starting again; method "sms", "password", "password+totp" ...) in one
 * transaction, then loads Me. A login that cannot be recorded does not happen. */
static int finish_login(identity_ctx *ctx, yw_rpc_call *call, const yw_caller *caller,
                        const struct claims *cl, const char *username, const char *method,
                        ProtobufCMessage **out) {
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "login is unavailable, try again shortly");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  Session *s = NULL;
  const char *rid = yw_rpc_call_request_id(call);
  int staff = cl->kind == YW_CALLER_STAFF;
  const char *sp[] = {cl->subject};
  int rc = yw_pg_begin(conn, &err);
  if (rc == 0 && staff)
    rc = yw_pg_query(
        conn,
        "UPDATE identity.staff SET failed_count = 0, locked_until = NULL, lock_streak = 0,"
        " last_lock_end = NULL WHERE subject = $1",
        1, sp, NULL, &err);
  if (rc == 0)
    rc = staff ? audit_required(call, conn, caller, username, "staff", "login", method, NULL, "ok",
                                rid)
               : audit_required(call, conn, caller, cl->subject, "person", "login", method,
                                cl->subject, "ok", rid);
  if (rc == 0) rc = issue_session(ctx, call, conn, cl, NULL, &s, &err);
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  if (rc == 0) rc = load_me(ctx, call, conn, cl->subject, &s->me, NULL, &err);
  if (rc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_EUNAVAIL && err.sqlstate[0] == '\0') return rc; /* status set already */
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  *out = &s->base;
  return 0;
}

static int create_session(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__CreateSessionRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  struct claims cl;
  memset(&cl, 0, sizeof cl);
  int rc;
  const char *method = "sms";
  if (req->phone[0] != '\0' && req->username[0] == '\0')
    rc = login_by_phone(ctx, call, &caller, req->phone, req->code, &cl);
  else if (req->username[0] != '\0' && req->phone[0] == '\0') {
    rc = login_by_password(ctx, call, &caller, req->username, req->password, &cl);
    method = "password";
    if (rc == 0 && needs_second_factor(cl.roles))
      rc = second_factor(ctx, call, &caller, req->username, &cl, req->totp_code,
                         req->recovery_code, &method);
  } else
    return yw_rpc_call_fail(call, YW_EINVAL, "give phone and code, or username and password");
  if (rc != 0) return rc;
  return finish_login(ctx, call, &caller, &cl, req->username, method, out);
}

/* ---- RefreshSession -------------------------------------------------------------- */

/* Serializes the session changes of one account (refresh, logout, logout everywhere)
 * until the end of the caller's transaction: a refresh that has begun commits before a
 * logout looks at the account's tokens, or sees them revoked. */
static int lock_account_sessions(PGconn *conn, const char *subject, yw_pg_error *err) {
  const char *p[] = {subject};
  return yw_pg_query(
      conn, "SELECT pg_advisory_xact_lock(hashtextextended('identity.sessions:' || $1, 0))", 1, p,
      NULL, err);
}

/* The answer to a retried refresh: the pair the first one gave, decrypted from next_enc
 * (the old token's hash as associated data). Returns 0 or YW_EINTERNAL. */
static int session_from_enc(identity_ctx *ctx, yw_rpc_call *call, const char *next_enc,
                            const char *rhash, Session **out) {
  char plain[160];
  if (yw_decrypt(ctx->data_key, next_enc, rhash, plain, sizeof plain) != 0) return YW_EINTERNAL;
  char *sep = strchr(plain, ' ');
  if (sep == NULL) return YW_EINTERNAL;
  *sep = '\0';
  Session *s = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *s);
  if (s == NULL) return YW_ENOMEM;
  yiwang__identity__v1__session__init(s);
  s->access_token = dup(call, plain);
  s->refresh_token = dup(call, sep + 1);
  s->expires_in = ctx->access_ttl_s;
  s->token_type = "Bearer";
  *out = s;
  return 0;
}

struct refresh_job {
  identity_ctx *ctx;
  const yw_caller *caller;
  char rhash[65];
  Session *s;
  char old_sid[72]; /* the rotated session, whose access token ends after commit */
  int reused;       /* reuse outside the grace period: the family was revoked */
};

static int refresh_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct refresh_job *j = arg;
  identity_ctx *ctx = j->ctx;
  const char *rid = yw_rpc_call_request_id(call);
  const char *p[] = {j->rhash};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn, "SELECT subject FROM identity.refresh_tokens WHERE token_hash = $1", 1,
                       p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EUNAUTH, "the refresh token is not valid");
  }
  char subject[64];
  snprintf(subject, sizeof subject, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  rc = lock_account_sessions(conn, subject, err);
  if (rc != 0) return rc;
  char grace[16];
  snprintf(grace, sizeof grace, "%d", ctx->refresh_grace_s);
  const char *gp[] = {j->rhash, grace};
  /* read again under the lock: a logout that ran meanwhile has revoked it */
  rc = yw_pg_query(
      conn,
      "SELECT t.family::text, t.session_id, t.used_at IS NOT NULL,"
      "       t.revoked_at IS NOT NULL, t.expires_at < now(),"
      "       t.used_at > now() - $2::int * interval '1 second',"
      "       COALESCE(t.next_enc, ''),"
      "       COALESCE(n.used_at IS NULL AND n.revoked_at IS NULL AND n.expires_at > now(),"
      "                false)"
      " FROM identity.refresh_tokens t"
      " LEFT JOIN identity.refresh_tokens n ON n.token_hash = t.replaced_by"
      " WHERE t.token_hash = $1 FOR UPDATE OF t",
      2, gp, &r, err);
  if (rc != 0) return rc;
  char family[64], next_enc[512];
  snprintf(family, sizeof family, "%s", PQgetvalue(r, 0, 0));
  snprintf(j->old_sid, sizeof j->old_sid, "%s", PQgetvalue(r, 0, 1));
  int used = PQgetvalue(r, 0, 2)[0] == 't';
  int revoked = PQgetvalue(r, 0, 3)[0] == 't';
  int expired = PQgetvalue(r, 0, 4)[0] == 't';
  int in_grace = PQgetvalue(r, 0, 5)[0] == 't';
  snprintf(next_enc, sizeof next_enc, "%s", PQgetvalue(r, 0, 6));
  int next_fresh = PQgetvalue(r, 0, 7)[0] == 't';
  PQclear(r);
  if (used && !revoked && in_grace && next_fresh && next_enc[0] != '\0') {
    /* a retry (its answer was lost): the same new pair, nothing changes */
    rc = session_from_enc(ctx, call, next_enc, j->rhash, &j->s);
    if (rc != 0) return yw_rpc_call_fail(call, rc, "the session cannot be answered again");
    j->old_sid[0] = '\0';
    return load_me(ctx, call, conn, subject, &j->s->me, NULL, err);
  }
  if (used && !revoked) {
    /* reuse: someone holds a copy of a rotated token; end the whole login */
    const char *fp[] = {family};
    rc = yw_pg_query(conn,
                     "UPDATE identity.refresh_tokens SET revoked_at = now()"
                     " WHERE family = $1::uuid AND revoked_at IS NULL RETURNING session_id",
                     1, fp, &r, err);
    if (rc != 0) return rc;
    drop_sessions(ctx, r);
    PQclear(r);
    rc = audit_required(call, conn, j->caller, subject, "person", "refresh_token_reuse", family,
                        subject, "family revoked", rid);
    if (rc != 0) return rc;
    j->reused = 1;
    return 0; /* committed, then answered 401 */
  }
  if (revoked || expired)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "the refresh token has expired or was revoked");
  struct claims cl;
  memset(&cl, 0, sizeof cl);
  Me *me = NULL;
  rc = load_me(ctx, call, conn, subject, &me, &cl, err);
  if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, YW_EUNAUTH, "the account no longer exists");
  if (rc != 0) return rc;
  rc = issue_session(ctx, call, conn, &cl, family, &j->s, err);
  if (rc != 0) return rc;
  j->s->me = me;
  /* remember the answer for a retry within the grace period, encrypted */
  char next_hash[65], plain[160], enc[512];
  yw_sha256_hex(j->s->refresh_token, strlen(j->s->refresh_token), next_hash);
  snprintf(plain, sizeof plain, "%s %s", j->s->access_token, j->s->refresh_token);
  if (yw_encrypt(ctx->data_key, plain, strlen(plain), j->rhash, enc, sizeof enc) != 0)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "the session cannot be stored");
  const char *up[] = {j->rhash, next_hash, enc};
  return yw_pg_query(conn,
                     "UPDATE identity.refresh_tokens SET used_at = now(), replaced_by = $2,"
                     " next_enc = $3 WHERE token_hash = $1",
                     3, up, NULL, err);
}

static int refresh_session(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__RefreshSessionRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  size_t len = strlen(req->refresh_token);
  if (len < 20 || len > 100)
    return yw_rpc_call_fail(call, YW_EUNAUTH, "the refresh token is not valid");
  struct refresh_job job;
  memset(&job, 0, sizeof job);
  job.ctx = ctx;
  job.caller = &caller;
  yw_sha256_hex(req->refresh_token, len, job.rhash);
  int rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "sessions", refresh_tx, &job);
  if (rc != 0) return rc;
  if (job.reused) {
    yw_log(YW_LOG_WARN, "identity.refresh_reuse", yw_rpc_call_request_id(call),
           "a used refresh token came back after the grace period; login revoked");
    return yw_rpc_call_fail(call, YW_EUNAUTH,
                            "the refresh token was already used; this login has been ended");
  }
  if (job.old_sid[0] != '\0') {
    /* the access token of the rotated session ends with it */
    char skey[128];
    rkey(ctx, skey, sizeof skey, "sess", job.old_sid);
    const char *del[] = {"DEL", skey};
    redis_ok(ctx, 2, del);
  }
  *out = &job.s->base;
  return 0;
}

/* ---- logout ---------------------------------------------------------------------- */

static int answer_revoked(yw_rpc_call *call, int n, ProtobufCMessage **out) {
  Yiwang__Identity__V1__DeleteSessionsResponse *o =
      yw_arena_alloc(yw_rpc_call_arena(call), sizeof *o);
  if (o == NULL) return YW_ENOMEM;
  yiwang__identity__v1__delete_sessions_response__init(o);
  o->revoked = n;
  *out = &o->base;
  return 0;
}

struct logout_job {
  identity_ctx *ctx;
  const yw_caller *caller;
  int everywhere;
};

/* Revokes the refresh tokens of the caller's login (or of all their logins) under the
 * account's session lock, drops their Redis sessions and writes the audit record, all
 * before the commit releases the lock. */
static int logout_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct logout_job *j = arg;
  int rc = lock_account_sessions(conn, j->caller->subject, err);
  if (rc != 0) return rc;
  PGresult *r = NULL;
  if (j->everywhere) {
    const char *p[] = {j->caller->subject};
    rc = yw_pg_query(conn,
                     "UPDATE identity.refresh_tokens SET revoked_at = now()"
                     " WHERE subject = $1 AND revoked_at IS NULL RETURNING session_id",
                     1, p, &r, err);
  } else {
    const char *p[] = {j->caller->session};
    rc = yw_pg_query(
        conn,
        "UPDATE identity.refresh_tokens SET revoked_at = now()"
        " WHERE family IN (SELECT family FROM identity.refresh_tokens WHERE session_id = $1)"
        "   AND revoked_at IS NULL RETURNING session_id",
        1, p, &r, err);
  }
  if (rc != 0) return rc;
  drop_sessions(j->ctx, r);
  PQclear(r);
  return audit_required(call, conn, j->caller, j->caller->subject, kind_text(j->caller->kind),
                        j->everywhere ? "logout_everywhere" : "logout",
                        j->everywhere ? "sessions" : "session", j->caller->subject, "ok",
                        yw_rpc_call_request_id(call));
}

static int delete_session(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                          void *data) {
  (void)reqm;
  identity_ctx *ctx = data;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  struct logout_job job = {ctx, &caller, 0};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "sessions", logout_tx, &job);
  if (rc != 0) return rc;
  char skey[128];
  rkey(ctx, skey, sizeof skey, "sess", caller.session);
  const char *del[] = {"DEL", skey};
  if (redis_ok(ctx, 2, del) != 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "sessions are unavailable");
  return answer_revoked(call, 1, out);
}

static int delete_sessions(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data) {
  (void)reqm;
  identity_ctx *ctx = data;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  struct logout_job job = {ctx, &caller, 1};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "sessions", logout_tx, &job);
  if (rc != 0) return rc;
  /* every session Redis lists for the account, the ones the tokens name included */
  char subkey[128];
  rkey(ctx, subkey, sizeof subkey, "subj", caller.subject);
  const char *members[] = {"SMEMBERS", subkey};
  redisReply *r = redis_do(ctx, 2, members);
  if (r == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "sessions are unavailable");
  int n = 0;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    char skey[128];
    rkey(ctx, skey, sizeof skey, "sess", r->element[i]->str);
    const char *del[] = {"DEL", skey};
    redisReply *d = redis_do(ctx, 2, del);
    if (d != NULL) {
      n += d->type == REDIS_REPLY_INTEGER ? (int)d->integer : 0;
      freeReplyObject(d);
    }
  }
  freeReplyObject(r);
  const char *delsub[] = {"DEL", subkey};
  redis_ok(ctx, 2, delsub);
  return answer_revoked(call, n, out);
}

/* ---- me -------------------------------------------------------------------------- */

static int get_me(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                  void *data) {
  (void)reqm;
  identity_ctx *ctx = data;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  Me *me = NULL;
  yw_pg_error err;
  rc = load_me(ctx, call, conn, caller.subject, &me, NULL, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, YW_EUNAUTH, "the account no longer exists");
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  me->acting_for = dup(call, caller.org);
  *out = &me->base;
  return 0;
}

/* ---- acting for a legal person --------------------------------------------------- */

/* What the company register (企业登记) says of one company. */
struct company {
  char name[256];
  char rep_name[128];
  char rep_id_sha256[65]; /* SHA-256 hex of the representative's upper-case ID number */
  char status[32];        /* "active", "deregistered", "revoked" */
};

static int company_lookup(identity_ctx *ctx, const char *credit_code, struct company *out);
static int person_identity(identity_ctx *ctx, PGconn *conn, const char *subject,
                           const char *rep_id_sha256, char *person_id, size_t idsize, char *id_hash,
                           size_t hashsize, int *is_rep, yw_pg_error *err);

/* Sessions of subject that act for credit_code stop doing so (the account's index of its
 * sessions, kept for logout everywhere, names them). */
static const char DROP_ORG_SCRIPT[] =
    "if redis.call('HGET', KEYS[1], 'org') == ARGV[1] then\n"
    "  redis.call('HDEL', KEYS[1], 'org', 'org_until', 'org_scope')\n"
    "end\n"
    "return 0\n";

/* Sessions of subject that act for credit_code take the authorisation's new scope and
 * expiry at once (a representative authorising an agent again changes them in place). */
static const char SET_ORG_SCRIPT[] =
    "if redis.call('HGET', KEYS[1], 'org') == ARGV[1] then\n"
    "  redis.call('HSET', KEYS[1], 'org_scope', ARGV[2], 'org_until', ARGV[3])\n"
    "end\n"
    "return 0\n";

/* Runs script (DROP_ORG_SCRIPT, SET_ORG_SCRIPT) on each session of subject, with
 * credit_code, scope and until as its arguments. Returns 0 once every session is done,
 * or YW_EUNAVAIL when Redis did not answer one of the commands (each session is tried;
 * the others may be done, none is left half-changed: each script is one command). */
static int sessions_org_script(identity_ctx *ctx, const char *subject, const char *script,
                               const char *credit_code, const char *scope, const char *until) {
  char subkey[128];
  rkey(ctx, subkey, sizeof subkey, "subj", subject);
  const char *members[] = {"SMEMBERS", subkey};
  redisReply *m = redis_do(ctx, 2, members);
  int rc = m != NULL && m->type == REDIS_REPLY_ARRAY ? 0 : YW_EUNAVAIL;
  for (size_t i = 0; m != NULL && m->type == REDIS_REPLY_ARRAY && i < m->elements; i++) {
    char skey[128];
    rkey(ctx, skey, sizeof skey, "sess", m->element[i]->str);
    const char *ev[] = {"EVAL", script, "1", skey, credit_code, scope, until};
    if (redis_ok(ctx, 7, ev) != 0) rc = YW_EUNAVAIL;
  }
  if (m != NULL) freeReplyObject(m);
  return rc;
}

static int sessions_drop_org(identity_ctx *ctx, const char *subject, const char *credit_code) {
  return sessions_org_script(ctx, subject, DROP_ORG_SCRIPT, credit_code, "", "");
}

/* The same for every account in subjects' first column (NULL: none), after a change has
 * committed, or after a new scope failed to (authorize_agent) (a Redis failure leaves
 * those sessions to the binding's re-check at the next act_for); frees subjects. */
static void sessions_drop_org_all(identity_ctx *ctx, PGresult *subjects, const char *credit_code) {
  for (int i = 0; subjects != NULL && i < PQntuples(subjects); i++)
    (void)sessions_drop_org(ctx, PQgetvalue(subjects, i, 0), credit_code);
  PQclear(subjects);
}

/* Inside the transaction that changes an authorisation (revoke_tx, authorize_tx), before
 * it commits: for each account of subjects (first column; scope and until in columns 1
 * and 2 when script is SET_ORG_SCRIPT), takes the account's session lock (the one
 * act_for holds while it re-reads the binding and writes the session, so neither
 * overwrites the other) and runs script on its sessions. A Redis failure fails the call
 * (UNAVAILABLE) and the transaction rolls back: an authorisation never changes while
 * sessions go on acting on the old one. A new scope that reached some sessions only is
 * taken back from them (they stop acting for the company, and act_for reads the record
 * again), so no session holds a scope the record does not. Returns 0 or the code to
 * answer with. */
static int sessions_org_in_tx(yw_rpc_call *call, identity_ctx *ctx, PGconn *conn,
                              const PGresult *subjects, const char *script,
                              const char *credit_code, yw_pg_error *err) {
  int set = script == SET_ORG_SCRIPT;
  for (int i = 0; subjects != NULL && i < PQntuples(subjects); i++) {
    const char *subject = PQgetvalue(subjects, i, 0);
    int rc = lock_account_sessions(conn, subject, err);
    if (rc != 0) return rc;
    rc = sessions_org_script(ctx, subject, script, credit_code,
                             set ? PQgetvalue(subjects, i, 1) : "",
                             set ? PQgetvalue(subjects, i, 2) : "");
    for (int k = 0; rc != 0 && set && k <= i; k++)
      (void)sessions_drop_org(ctx, PQgetvalue(subjects, k, 0), credit_code);
    if (rc != 0)
      return yw_rpc_call_fail(call, YW_EUNAVAIL,
                              "the agent's sessions cannot be updated now, so nothing was "
                              "changed; try again shortly");
  }
  return 0;
}

/* The register names rep_id_sha256 as credit_code's legal representative: stores it.
 * When that changes the representative stored, the bindings of the former one and of the
 * agents they authorised end (BINDING_IN_FORCE); *former gets their accounts (one
 * column, subject; no rows when nothing changed), whose sessions the caller makes stop
 * acting for the company (sessions_drop_org_all) once the change has committed. Returns
 * 0 or a database code. */
static int rep_seen(PGconn *conn, const char *credit_code, const char *rep_id_sha256,
                    PGresult **former, yw_pg_error *err) {
  const char *p[] = {credit_code, rep_id_sha256};
  return yw_pg_query(conn,
                     "WITH prev AS (SELECT legal_rep_id_sha256 AS h FROM identity.legal_persons"
                     "  WHERE credit_code = $1),"
                     " u AS (UPDATE identity.legal_persons SET legal_rep_id_sha256 = $2,"
                     "  checked_at = now() WHERE credit_code = $1 RETURNING 1)"
                     " SELECT DISTINCT p.subject FROM identity.person_legal_persons b"
                     " JOIN identity.persons p ON p.id = b.person_id"
                     " LEFT JOIN identity.company_agents a ON a.id = b.agent_id"
                     " WHERE b.credit_code = $1"
                     "   AND EXISTS (SELECT 1 FROM prev WHERE h IS DISTINCT FROM $2)"
                     "   AND CASE WHEN b.role = 'representative' THEN b.rep_id_sha256"
                     "       ELSE a.granted_rep_id_sha256 END IS DISTINCT FROM $2",
                     2, p, former, err);
}

/* The caller's binding to credit_code in force (BINDING_IN_FORCE): *bound 1 with its
 * role, the session's org_until (unix seconds, "0" for a representative) and org_scope
 * (every scope for a representative, else the agent's); *bound 0 when none. Returns 0 or
 * a database code (err). */
static int binding_now(PGconn *conn, const char *subject, const char *credit_code,
                       char role[32], char org_until[24], char org_scope[32], int *bound,
                       yw_pg_error *err) {
  const char *p[] = {subject, credit_code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT b.role, COALESCE(floor(extract(epoch FROM a.expires_at))::bigint, 0),"
                       " CASE WHEN b.role = 'representative' THEN '" REPRESENTATIVE_SCOPE "'"
                       "  ELSE array_to_string(a.scope, ',') END"
                       " FROM identity.person_legal_persons b"
                       " JOIN identity.persons p ON p.id = b.person_id"
                       " JOIN identity.legal_persons l ON l.credit_code = b.credit_code"
                       " LEFT JOIN identity.company_agents a ON a.id = b.agent_id"
                       " WHERE p.subject = $1 AND b.credit_code = $2 AND" BINDING_IN_FORCE,
                       2, p, &r, err);
  *bound = rc == 0 && PQntuples(r) == 1;
  if (*bound) {
    snprintf(role, 32, "%s", PQgetvalue(r, 0, 0));
    snprintf(org_until, 24, "%s", PQgetvalue(r, 0, 1));
    snprintf(org_scope, 32, "%s", PQgetvalue(r, 0, 2));
  }
  PQclear(r);
  return rc;
}

/* Checks a binding again at the moment the session would act for the company (no
 * connection held while the register is asked): the
 * register must list the company as active, and a representative's binding must still
 * be the register's representative (else the binding is deleted, audited, and 403).
 * Returns 0, or the code answered. */
static int act_for_check(identity_ctx *ctx, yw_rpc_call *call, const yw_caller *caller,
                         const char *credit_code, const char *role) {
  struct company co;
  memset(&co, 0, sizeof co);
  int found = company_lookup(ctx, credit_code, &co);
  if (found < 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the company register cannot be reached, try later");
  if (found == 0 || strcmp(co.status, "active") != 0)
    return yw_rpc_call_fail(call, YW_EPRECOND, "the company register lists this company as %s",
                            found == 0 ? "unknown" : co.status);
  /* the register was asked without a connection held; now one, for the account */
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  /* the register's representative now: an agent acts only on an authorisation that
   * representative granted (a change of representative ends the previous one's) */
  PGresult *former = NULL;
  int rc = rep_seen(conn, credit_code, co.rep_id_sha256, &former, &err);
  if (rc != 0) {
    yw_pg_pool_release(ctx->pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }
  /* a change seen: the former representative's and their agents' sessions (the
   * caller's own among them when it was theirs) stop acting for the company now */
  sessions_drop_org_all(ctx, former, credit_code);
  const char *pr[] = {credit_code, co.rep_id_sha256, caller->subject};
  PGresult *r = NULL;
  rc = yw_pg_query(conn,
                   "SELECT count(*) FROM identity.person_legal_persons b"
                   " JOIN identity.persons p ON p.id = b.person_id"
                   " JOIN identity.company_agents a ON a.id = b.agent_id"
                   " WHERE p.subject = $3 AND b.credit_code = $1"
                   "   AND a.granted_rep_id_sha256 = $2",
                   3, pr, &r, &err);
  int granted_now = rc == 0 && strcmp(PQgetvalue(r, 0, 0), "0") != 0;
  PQclear(r);
  if (rc != 0) {
    yw_pg_pool_release(ctx->pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }
  if (strcmp(role, "representative") != 0) {
    yw_pg_pool_release(ctx->pool, conn);
    return granted_now ? 0
                       : yw_rpc_call_fail(call, YW_EPERM,
                                          "the representative who authorised you no longer "
                                          "represents the company");
  }
  char person_id[32], id_hash[65];
  int is_rep = 0;
  rc = person_identity(ctx, conn, caller->subject, co.rep_id_sha256, person_id,
                       sizeof person_id, id_hash, sizeof id_hash, &is_rep, &err);
  if (rc != 0 && rc != YW_EPERM) {
    yw_pg_pool_release(ctx->pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }
  if (is_rep) {
    yw_pg_pool_release(ctx->pool, conn);
    return 0;
  }
  const char *p[] = {person_id, credit_code};
  rc = yw_pg_begin(conn, &err);
  if (rc == 0)
    rc = yw_pg_query(conn,
                     "DELETE FROM identity.person_legal_persons WHERE person_id = $1::bigint"
                     " AND credit_code = $2 AND role = 'representative'",
                     2, p, NULL, &err);
  if (rc == 0)
    rc = audit_required(call, conn, caller, caller->subject, "person", "act_for", credit_code,
                        caller->subject, "refused: no longer the representative; binding removed",
                        yw_rpc_call_request_id(call));
  rc = end_tx(ctx, call, conn, rc, &err);
  if (rc != 0) return rc;
  return yw_rpc_call_fail(call, YW_EPERM,
                          "the company register no longer lists you as the company's legal "
                          "representative; the binding was removed");
}

static int act_for(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                   void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__ActForRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  if (caller.kind != YW_CALLER_PERSON)
    return yw_rpc_call_fail(call, YW_EPERM, "only residents act for companies");
  if (req->credit_code[0] != '\0' && !yw_uscc_valid(req->credit_code))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "creditCode is not a valid unified social credit code");
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  yw_pg_error err;
  /* an agent acts until their authorisation expires (the gateway drops the company from
   * the session past org_until, unix seconds); a representative with no end: 0 */
  char org_until[24] = "0";
  /* what it may do for the company: the agent's scope, or all of it for a representative
   * (the services check it, yw_service_require_org_scope) */
  char org_scope[32] = "";
  if (req->credit_code[0] != '\0') {
    char role[32] = "";
    int bound = 0;
    rc = binding_now(conn, caller.subject, req->credit_code, role, org_until, org_scope, &bound,
                     &err);
    if (rc != 0 || !bound) {
      yw_pg_pool_release(ctx->pool, conn);
      if (rc != 0) return yw_service_db_fail(call, rc, &err);
      return yw_rpc_call_fail(call, YW_EPERM, "this company is not bound to your account");
    }
    /* no connection is held while the register answers */
    yw_pg_pool_release(ctx->pool, conn);
    rc = act_for_check(ctx, call, &caller, req->credit_code, role);
    if (rc != 0) return rc;
    conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
    if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  }
  /* the session is written under the account's session lock, with the binding read
   * again under it: a revocation or a new scope (which take the same lock to update the
   * sessions before they commit) is either seen here or applied after this write */
  memset(&err, 0, sizeof err);
  rc = yw_pg_begin(conn, &err);
  if (rc == 0) rc = lock_account_sessions(conn, caller.subject, &err);
  if (rc == 0 && req->credit_code[0] != '\0') {
    char role[32] = "";
    int bound = 0;
    rc = binding_now(conn, caller.subject, req->credit_code, role, org_until, org_scope, &bound,
                     &err);
    if (rc == 0 && !bound) {
      yw_pg_rollback(conn);
      yw_pg_pool_release(ctx->pool, conn);
      return yw_rpc_call_fail(call, YW_EPERM, "this company is not bound to your account");
    }
  }
  /* recorded first: the session changes only once the record is written */
  if (rc == 0)
    rc = audit_required(call, conn, &caller, caller.subject, "person", "act_for",
                        req->credit_code, caller.subject, "ok", yw_rpc_call_request_id(call));
  char skey[128];
  rkey(ctx, skey, sizeof skey, "sess", caller.session);
  if (rc == 0) {
    const char *hset[] = {"HSET",      skey,      "org",       req->credit_code,
                          "org_until", org_until, "org_scope", org_scope};
    if (redis_ok(ctx, 8, hset) != 0) {
      rc = yw_rpc_call_fail(call, YW_EUNAVAIL, "sessions are unavailable");
    } else if ((rc = yw_pg_commit(conn, &err)) != 0) {
      /* the record did not commit: the session acts for no company rather than for one
       * without a record */
      const char *hdel[] = {"HDEL", skey, "org", "org_until", "org_scope"};
      (void)redis_ok(ctx, 5, hdel);
    }
  }
  if (rc != 0) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(ctx->pool, conn);
    return err.sqlstate[0] != '\0' || err.message[0] != '\0' ? yw_service_db_fail(call, rc, &err)
                                                             : rc;
  }
  Me *me = NULL;
  rc = load_me(ctx, call, conn, caller.subject, &me, NULL, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  me->acting_for = dup(call, req->credit_code);
  *out = &me->base;
  return 0;
}

static int get_acting_company(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  (void)reqm;
  identity_ctx *ctx = data;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  if (caller.kind != YW_CALLER_PERSON || caller.org[0] == '\0')
    return yw_rpc_call_fail(call, YW_EPERM, "this session does not act for a company");
  rc = yw_service_require_org_scope(call, &caller, "read", "reading the company");
  if (rc != 0) return rc;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  const char *p[] = {caller.subject, caller.org};
  PGresult *r = NULL;
  yw_pg_error err;
  rc = yw_pg_query(conn,
                   "SELECT" BINDING_COLUMNS
                   " FROM identity.person_legal_persons b"
                   " JOIN identity.persons p ON p.id = b.person_id"
                   " JOIN identity.legal_persons l ON l.credit_code = b.credit_code"
                   " LEFT JOIN identity.company_agents a ON a.id = b.agent_id"
                   " WHERE p.subject = $1 AND b.credit_code = $2 AND" BINDING_IN_FORCE,
                   2, p, &r, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_EPERM, "this company is no longer bound to your account");
  }
  Yiwang__Identity__V1__LegalPersonBinding *b = binding_from_row(ctx, call, r, 0);
  PQclear(r);
  if (b == NULL) return YW_ENOMEM;
  *out = &b->base;
  return 0;
}

static int valid_person_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 90) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
  return 1;
}

/* POSTs body (taken: freed here) as JSON to url within 5 s. Returns 0 with the HTTP
 * status and the parsed answer in *doc (NULL when it is not JSON; json_decref it), or
 * a negative code when the peer cannot be reached. */
static int post_json(const char *url, json_t *body, long *status, json_t **doc) {
  char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  *doc = NULL;
  if (text == NULL) return YW_ENOMEM;
  char *resp = NULL;
  int rc = yw_http_post_json(url, text, 5000, status, &resp);
  free(text);
  if (rc != 0) return rc;
  *doc = json_loads(resp, 0, NULL);
  free(resp);
  return 0;
}

/* Asks the population registry whether name and ID number belong together. Returns 1
 * match, 0 no match, or a negative code when the registry cannot answer. */
static int registry_match(identity_ctx *ctx, const char *name, const char *id) {
  long status = 0;
  json_t *doc = NULL;
  int rc = post_json(ctx->registry_url, json_pack("{s:s, s:s}", "name", name, "idCardNumber", id),
                     &status, &doc);
  if (rc != 0) return rc;
  int verdict = YW_EUNAVAIL;
  json_t *m = status == 200 ? json_object_get(doc, "match") : NULL;
  if (json_is_boolean(m)) verdict = json_is_true(m) ? 1 : 0;
  json_decref(doc);
  return verdict;
}

/* Counts one use against key's daily budget of limit: the counter starts a 24-hour
 * window on its first use and expires with it. Returns 0 within the budget, YW_ELIMIT
 * past it (*retry_after gets the seconds left in the window), or YW_EUNAVAIL when
 * Redis cannot count (fail closed). */
static const char DAY_COUNT_SCRIPT[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[1], 86400) end\n"
    "local t = redis.call('TTL', KEYS[1])\n"
    "if t < 0 then redis.call('EXPIRE', KEYS[1], 86400) t = 86400 end\n"
    "return {n, t}\n";

static int day_count(identity_ctx *ctx, const char *key, int limit, long long *retry_after) {
  const char *argv[] = {"EVAL", DAY_COUNT_SCRIPT, "1", key};
  redisReply *r = redis_do(ctx, 4, argv);
  if (r == NULL) return YW_EUNAVAIL;
  int rc = YW_EUNAVAIL;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
      r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
    rc = r->element[0]->integer > limit ? YW_ELIMIT : 0;
    *retry_after = r->element[1]->integer > 0 ? r->element[1]->integer : 1;
  }
  freeReplyObject(r);
  return rc;
}

/* Answers the account of subject as Me. */
static int answer_me(identity_ctx *ctx, yw_rpc_call *call, const char *subject,
                     ProtobufCMessage **out) {
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  Me *me = NULL;
  yw_pg_error err;
  int rc = load_me(ctx, call, conn, subject, &me, NULL, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_ENOTFOUND) return yw_rpc_call_fail(call, YW_EUNAUTH, "the account no longer exists");
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  *out = &me->base;
  return 0;
}

/* Records a refused real-name upgrade (outcome) and answers code with message. */
static int refuse_realname(identity_ctx *ctx, yw_rpc_call *call, const yw_caller *caller,
                           const char *masked, const char *outcome, int code, const char *message) {
  if (record_refusal(ctx, call, NULL, caller, caller->subject, "person", "realname_upgrade", masked,
                     caller->subject, outcome) != 0)
    return YW_EUNAVAIL;
  return yw_rpc_call_fail(call, code, "%s", message);
}

static int upgrade_realname(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__UpgradeRealnameRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  if (caller.kind != YW_CALLER_PERSON)
    return yw_rpc_call_fail(call, YW_EPERM, "only residents verify their real name");
  if (!valid_person_name(req->name)) return yw_rpc_call_fail(call, YW_EINVAL, "name is required");
  if (!yw_id_card_valid(req->id_card_number))
    return yw_rpc_call_fail(call, YW_EINVAL, "idCardNumber is not a valid citizen ID number");
  const char *rid = yw_rpc_call_request_id(call);
  char id_upper[32];
  snprintf(id_upper, sizeof id_upper, "%s", req->id_card_number);
  if (id_upper[17] == 'x') id_upper[17] = 'X';
  char name_enc[512], id_enc[256], id_hash[65], material[48], masked[32];
  snprintf(material, sizeof material, "id:%s", id_upper);
  yw_hmac_hex(ctx->lookup_key, material, strlen(material), id_hash);
  yw_mask_id_card(req->id_card_number, masked, sizeof masked);

  /* a verified identity is the account's for good: the same one again changes nothing,
   * another one is refused before the registry is asked */
  const char *sp[] = {caller.subject};
  PGresult *r = NULL;
  rc = yw_service_query(
      call, ctx->pool, ctx->db_wait_ms, "accounts",
      "SELECT COALESCE(id_card_hash, '') FROM identity.persons WHERE subject = $1", 1, sp, &r);
  if (rc != 0) return rc;
  char verified_hash[65] = "";
  if (PQntuples(r) == 1) snprintf(verified_hash, sizeof verified_hash, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  if (verified_hash[0] != '\0' && strcmp(verified_hash, id_hash) != 0)
    return refuse_realname(ctx, call, &caller, masked, "refused: identity already verified",
                           YW_EPRECOND, "a verified identity cannot be changed");

  if (verified_hash[0] != '\0') return answer_me(ctx, call, caller.subject, out);

  /* the registry is no oracle: checks are counted per account and per ID number */
  char rl_key[160];
  long long retry = 0;
  rkey(ctx, rl_key, sizeof rl_key, "rn-acct", caller.subject);
  rc = day_count(ctx, rl_key, ctx->realname_per_account_day, &retry);
  if (rc == 0) {
    rkey(ctx, rl_key, sizeof rl_key, "rn-id", id_hash);
    rc = day_count(ctx, rl_key, ctx->realname_per_id_day, &retry);
  }
  if (rc == YW_EUNAVAIL)
    return yw_rpc_call_fail(call, YW_EUNAVAIL,
                            "real-name checks are unavailable, try again shortly");
  if (rc == YW_ELIMIT) {
    char after[24];
    snprintf(after, sizeof after, "%lld", retry);
    yw_rpc_call_add_trailer(call, "retry-after", after);
    return refuse_realname(ctx, call, &caller, masked, "refused: daily limit", YW_ELIMIT,
                           "too many real-name checks today; try again later");
  }

  int verdict = registry_match(ctx, req->name, req->id_card_number);
  if (verdict < 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL,
                            "the population registry cannot be reached, try later");
  if (verdict == 0)
    return refuse_realname(ctx, call, &caller, masked, "registry mismatch", YW_EPRECOND,
                           "the name and ID number do not match the registry");
  if (yw_encrypt(ctx->data_key, req->name, strlen(req->name), caller.subject, name_enc,
                 sizeof name_enc) != 0 ||
      yw_encrypt(ctx->data_key, id_upper, strlen(id_upper), caller.subject, id_enc,
                 sizeof id_enc) != 0)
    return YW_EINTERNAL;
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  const char *p[] = {caller.subject, name_enc, id_enc, id_hash};
  yw_pg_error err;
  rc = yw_pg_begin(conn, &err);
  /* only an unverified account takes an identity (a concurrent upgrade may have won) */
  if (rc == 0)
    rc = yw_pg_query(
        conn,
        "UPDATE identity.persons SET name_enc = $2, id_card_enc = $3, id_card_hash = $4,"
        " realname_level = GREATEST(realname_level, 2), verified_at = now()"
        " WHERE subject = $1 AND (id_card_hash IS NULL OR id_card_hash = $4)"
        " RETURNING realname_level",
        4, p, &r, &err);
  if (rc == 0 && PQntuples(r) == 0) {
    PQclear(r);
    yw_pg_rollback(conn);
    yw_pg_pool_release(ctx->pool, conn);
    return refuse_realname(ctx, call, &caller, masked, "refused: identity already verified",
                           YW_EPRECOND, "a verified identity cannot be changed");
  }
  if (rc == YW_EEXIST) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(ctx->pool, conn);
    return refuse_realname(ctx, call, &caller, masked, "ID number bound to another account",
                           YW_EEXIST, "this ID number is bound to another account");
  }
  char level[8] = "2";
  if (rc == 0) {
    snprintf(level, sizeof level, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    rc = audit_required(call, conn, &caller, caller.subject, "person", "realname_upgrade", masked,
                        caller.subject, "ok", rid);
  }
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  if (rc != 0) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(ctx->pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }
  /* the new level holds for the sessions already open */
  char subkey[128];
  rkey(ctx, subkey, sizeof subkey, "subj", caller.subject);
  const char *members[] = {"SMEMBERS", subkey};
  redisReply *m = redis_do(ctx, 2, members);
  for (size_t i = 0; m != NULL && m->type == REDIS_REPLY_ARRAY && i < m->elements; i++) {
    char skey[128];
    rkey(ctx, skey, sizeof skey, "sess", m->element[i]->str);
    const char *hset[] = {"HSET", skey, "level", level};
    const char *exists[] = {"EXISTS", skey};
    redisReply *e = redis_do(ctx, 2, exists);
    if (e != NULL && e->type == REDIS_REPLY_INTEGER && e->integer == 1) redis_ok(ctx, 4, hset);
    if (e != NULL) freeReplyObject(e);
  }
  if (m != NULL) freeReplyObject(m);
  Me *me = NULL;
  rc = load_me(ctx, call, conn, caller.subject, &me, NULL, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  *out = &me->base;
  return 0;
}

/* ---- companies: the register, representatives and agents -------------------------- */

static void copy_json_str(json_t *doc, const char *key, char *out, size_t size) {
  const char *v = json_string_value(json_object_get(doc, key));
  snprintf(out, size, "%s", v != NULL ? v : "");
}

/* Looks credit_code up in the company register. Returns 1 found (*out filled), 0 the
 * register does not know it, or a negative code when the register cannot answer. */
static int company_lookup(identity_ctx *ctx, const char *credit_code, struct company *out) {
  long status = 0;
  json_t *doc = NULL;
  int rc = post_json(ctx->company_register_url, json_pack("{s:s}", "creditCode", credit_code),
                     &status, &doc);
  if (rc != 0) return rc;
  int verdict = status == 404 ? 0 : YW_EUNAVAIL;
  if (status != 200) {
    json_decref(doc);
    doc = NULL;
  }
  if (doc != NULL) {
    copy_json_str(doc, "name", out->name, sizeof out->name);
    copy_json_str(doc, "legalRepresentative", out->rep_name, sizeof out->rep_name);
    copy_json_str(doc, "legalRepresentativeIdSha256", out->rep_id_sha256,
                  sizeof out->rep_id_sha256);
    copy_json_str(doc, "status", out->status, sizeof out->status);
    for (char *q = out->rep_id_sha256; *q != '\0'; q++) *q = (char)tolower((unsigned char)*q);
    verdict = out->name[0] != '\0' && strlen(out->rep_id_sha256) == 64 && out->status[0] != '\0'
                  ? 1
                  : YW_EUNAVAIL;
    json_decref(doc);
  }
  return verdict;
}

/* The caller's own row: id, and whether their verified ID number is the one whose SHA-256
 * is rep_id_sha256 (rep_id_sha256 NULL: not asked). id_hash gets the lookup hash of their
 * ID number. Returns 0, YW_EPERM (not verified) or a database code. */
static int person_identity(identity_ctx *ctx, PGconn *conn, const char *subject,
                           const char *rep_id_sha256, char *person_id, size_t idsize, char *id_hash,
                           size_t hashsize, int *is_rep, yw_pg_error *err) {
  const char *p[] = {subject};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT id, id_card_enc, COALESCE(id_card_hash, '')"
                       " FROM identity.persons WHERE subject = $1",
                       1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0 || PQgetvalue(r, 0, 2)[0] == '\0') {
    PQclear(r);
    return YW_EPERM;
  }
  snprintf(person_id, idsize, "%s", PQgetvalue(r, 0, 0));
  snprintf(id_hash, hashsize, "%s", PQgetvalue(r, 0, 2));
  *is_rep = 0;
  if (rep_id_sha256 != NULL) {
    char id[64], sha[65];
    if (yw_decrypt(ctx->data_key, PQgetvalue(r, 0, 1), subject, id, sizeof id) == 0) {
      yw_sha256_hex(id, strlen(id), sha);
      *is_rep = yw_secure_equal(sha, rep_id_sha256);
    }
  }
  PQclear(r);
  return 0;
}

struct bind_job {
  identity_ctx *ctx;
  const yw_caller *caller;
  const char *credit_code;
  const struct company *company;
  PGresult *former; /* rep_seen's: accounts whose sessions stop acting for the company */
};

static int bind_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct bind_job *j = arg;
  const char *rid = yw_rpc_call_request_id(call);
  char person_id[32], id_hash[65], rep_enc[512];
  int is_rep = 0;
  int rc = person_identity(j->ctx, conn, j->caller->subject, j->company->rep_id_sha256, person_id,
                           sizeof person_id, id_hash, sizeof id_hash, &is_rep, err);
  if (rc == YW_EPERM)
    return yw_rpc_call_fail(call, YW_EPERM,
                            "verify your real name (level 2) before acting for a company");
  if (rc != 0) return rc;
  char agent_id[32] = "";
  if (!is_rep) {
    /* not the representative: an authorisation in force for this person, or nothing */
    /* granted by the representative the register names now */
    const char *ap[] = {j->credit_code, id_hash, j->company->rep_id_sha256};
    PGresult *r = NULL;
    rc = yw_pg_query(conn,
                     "SELECT id FROM identity.company_agents WHERE credit_code = $1"
                     " AND agent_id_hash = $2 AND revoked_at IS NULL AND expires_at > now()"
                     " AND granted_rep_id_sha256 = $3",
                     3, ap, &r, err);
    if (rc != 0) return rc;
    if (PQntuples(r) == 1) snprintf(agent_id, sizeof agent_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (agent_id[0] == '\0') return YW_EPERM; /* answered by the caller, audited there */
  }
  if (yw_encrypt(j->ctx->data_key, j->company->rep_name, strlen(j->company->rep_name),
                 j->credit_code, rep_enc, sizeof rep_enc) != 0)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "cannot store the binding");
  /* a change of representative seen here ends the former one's bindings (rep_seen) */
  PQclear(j->former);
  j->former = NULL;
  rc = rep_seen(conn, j->credit_code, j->company->rep_id_sha256, &j->former, err);
  if (rc != 0) return rc;
  /* the register's name and status replace whatever was stored: it is the truth */
  const char *lp[] = {j->credit_code, j->company->name, rep_enc, j->company->status,
                      j->company->rep_id_sha256};
  rc = yw_pg_query(conn,
                   "INSERT INTO identity.legal_persons (credit_code, name, legal_rep_enc, status,"
                   " legal_rep_id_sha256, checked_at) VALUES ($1, $2, $3, $4, $5, now())"
                   " ON CONFLICT (credit_code) DO UPDATE SET name = EXCLUDED.name,"
                   "  legal_rep_enc = EXCLUDED.legal_rep_enc, status = EXCLUDED.status,"
                   "  legal_rep_id_sha256 = EXCLUDED.legal_rep_id_sha256, checked_at = now()",
                   5, lp, NULL, err);
  if (rc != 0) return rc;
  const char *bp[] = {person_id, j->credit_code, is_rep ? "representative" : "agent",
                      is_rep ? NULL : agent_id, is_rep ? j->company->rep_id_sha256 : NULL};
  rc = yw_pg_query(
      conn,
      "INSERT INTO identity.person_legal_persons (person_id, credit_code, role, agent_id,"
      " rep_id_sha256) VALUES ($1::bigint, $2, $3, $4::bigint, $5)"
      " ON CONFLICT (person_id, credit_code) DO UPDATE SET role = EXCLUDED.role,"
      "  agent_id = EXCLUDED.agent_id, rep_id_sha256 = EXCLUDED.rep_id_sha256, bound_at = now()",
      5, bp, NULL, err);
  if (rc != 0) return rc;
  return audit_required(call, conn, j->caller, j->caller->subject, "person", "bind_legal_person",
                        j->credit_code, j->caller->subject, is_rep ? "ok" : "ok (agent)", rid);
}

/* Checks the optional name fields of a request against the register. */
static int same_or_empty(const char *given, const char *truth) {
  return given[0] == '\0' || strcmp(given, truth) == 0;
}

static int bind_legal_person(yw_rpc_call *call, const ProtobufCMessage *reqm,
                             ProtobufCMessage **out, void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__BindLegalPersonRequest *req = (const void *)reqm;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 2, &caller);
  if (rc != 0) return rc;
  if (!yw_uscc_valid(req->credit_code))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "creditCode is not a valid unified social credit code");
  if ((req->name[0] != '\0' && !valid_person_name(req->name)) ||
      (req->legal_representative[0] != '\0' && !valid_person_name(req->legal_representative)))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "name and legalRepresentative are at most 90 bytes of text");
  struct company co;
  memset(&co, 0, sizeof co);
  int found = company_lookup(ctx, req->credit_code, &co);
  if (found < 0)
    return yw_rpc_call_fail(call, YW_EUNAVAIL, "the company register cannot be reached, try later");
  if (found == 0)
    return yw_rpc_call_fail(call, YW_ENOTFOUND,
                            "the company register does not know this credit code");
  if (!same_or_empty(req->name, co.name) || !same_or_empty(req->legal_representative, co.rep_name))
    return yw_rpc_call_fail(call, YW_EPRECOND,
                            "the name or legal representative differs from the company register");
  if (strcmp(co.status, "active") != 0)
    return yw_rpc_call_fail(call, YW_EPRECOND, "the company register lists this company as %s",
                            co.status);
  struct bind_job job = {ctx, &caller, req->credit_code, &co, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "accounts", bind_tx, &job);
  /* committed: the former representative's and their agents' sessions stop acting */
  sessions_drop_org_all(ctx, rc == 0 ? job.former : NULL, req->credit_code);
  if (rc != 0) PQclear(job.former);
  if (rc == YW_EPERM && yw_rpc_call_status_message(call)[0] == '\0') {
    /* the refusal is recorded (its own write: the binding's transaction rolled back) */
    if (record_refusal(ctx, call, NULL, &caller, caller.subject, "person", "bind_legal_person",
                       req->credit_code, caller.subject,
                       "refused: neither representative nor agent") != 0)
      return YW_EUNAVAIL;
    return yw_rpc_call_fail(call, YW_EPERM,
                            "only the company's legal representative or an agent they authorised "
                            "binds it");
  }
  if (rc != 0) return rc;
  return answer_me(ctx, call, caller.subject, out);
}

static const char *const AGENT_SCOPES[] = {"apply", "pay", "read", "sign"};

/* 1 when s looks like an RFC 3339 time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)). */
static int rfc3339_shape(const char *s) {
  size_t n = strlen(s);
  if (n < 20 || n > 35) return 0;
  static const char pat[] = "dddd-dd-ddTdd:dd:dd";
  for (size_t i = 0; i < sizeof pat - 1; i++)
    if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i]) return 0;
  const char *q = s + sizeof pat - 1;
  if (*q == '.') {
    q++;
    if (!isdigit((unsigned char)*q)) return 0;
    while (isdigit((unsigned char)*q)) q++;
  }
  if (strcmp(q, "Z") == 0) return 1;
  return (q[0] == '+' || q[0] == '-') && strlen(q) == 6 && isdigit((unsigned char)q[1]) &&
         isdigit((unsigned char)q[2]) && q[3] == ':' && isdigit((unsigned char)q[4]) &&
         isdigit((unsigned char)q[5]);
}

/* The caller must be bound to credit_code as its legal representative. Returns 0,
 * YW_EPERM (status set) or a database code. */
static int require_representative(yw_rpc_call *call, PGconn *conn, const char *subject,
                                  const char *credit_code, yw_pg_error *err) {
  const char *p[] = {subject, credit_code};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT 1 FROM identity.person_legal_persons b"
                       " JOIN identity.persons p ON p.id = b.person_id"
                       " JOIN identity.legal_persons l ON l.credit_code = b.credit_code"
                       " WHERE p.subject = $1 AND b.credit_code = $2 AND b.role = 'representative'"
                       "   AND b.rep_id_sha256 = l.legal_rep_id_sha256",
                       2, p, &r, err);
  if (rc != 0) return rc;
  int ok = PQntuples(r) == 1;
  PQclear(r);
  return ok ? 0
            : yw_rpc_call_fail(call, YW_EPERM,
                               "only the company's legal representative, once bound, manages its "
                               "agents");
}

/* An Agent from a row: id, name_enc, id_enc, scope (a,b), expires_at, granted_at. */
static Yiwang__Identity__V1__Agent *agent_from_row(identity_ctx *ctx, yw_rpc_call *call,
                                                   const PGresult *r, int i,
                                                   const char *credit_code) {
  Yiwang__Identity__V1__Agent *o = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *o);
  if (o == NULL) return NULL;
  yiwang__identity__v1__agent__init(o);
  o->id = dup(call, PQgetvalue(r, i, 0));
  o->credit_code = dup(call, credit_code);
  o->name_masked = decrypt_masked(ctx, call, PQgetvalue(r, i, 1), credit_code, yw_mask_name);
  o->id_card_masked = decrypt_masked(ctx, call, PQgetvalue(r, i, 2), credit_code, yw_mask_id_card);
  o->scope = split_list(call, PQgetvalue(r, i, 3), &o->n_scope);
  o->expires_at = dup(call, PQgetvalue(r, i, 4));
  o->granted_at = dup(call, PQgetvalue(r, i, 5));
  return o;
}

#define AGENT_COLUMNS                                                         \
  " id, agent_name_enc, agent_id_enc, array_to_string(scope, ','), " RFC3339( \
      "expires_at") ", " RFC3339("granted_at")

struct agent_job {
  identity_ctx *ctx;
  const yw_caller *caller;
  const Yiwang__Identity__V1__AuthorizeAgentRequest *req;
  const char *scope; /* "{a,b}" */
  const char *id_hash;
  const char *name_enc, *id_enc;
  Yiwang__Identity__V1__Agent *out;
  PGresult *bound; /* the agent's accounts bound on it: subject, scope "a,b", expiry (unix s) */
};

static int authorize_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct agent_job *j = arg;
  int rc = require_representative(call, conn, j->caller->subject, j->req->credit_code, err);
  if (rc != 0) return rc;
  const char *tp[] = {j->req->expires_at};
  PGresult *r = NULL;
  rc = yw_pg_query(
      conn, "SELECT $1::timestamptz > now() AND $1::timestamptz <= now() + interval '366 days'", 1,
      tp, &r, err);
  if (rc != 0) return rc;
  int in_range = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (!in_range)
    return yw_rpc_call_fail(call, YW_EINVAL, "expiresAt must be in the future and within a year");
  const char *p[] = {j->req->credit_code, j->id_hash,        j->name_enc, j->id_enc, j->scope,
                     j->req->expires_at,  j->caller->subject};
  rc =
      yw_pg_query(conn,
                  "INSERT INTO identity.company_agents (credit_code, agent_id_hash, agent_name_enc,"
                  " agent_id_enc, scope, expires_at, granted_by, granted_rep_id_sha256)"
                  " VALUES ($1, $2, $3, $4, $5::text[], $6::timestamptz, $7,"
                  "  (SELECT legal_rep_id_sha256 FROM identity.legal_persons WHERE credit_code = $1))"
                  " ON CONFLICT (credit_code, agent_id_hash) WHERE revoked_at IS NULL"
                  " DO UPDATE SET agent_name_enc = EXCLUDED.agent_name_enc,"
                  "  agent_id_enc = EXCLUDED.agent_id_enc, scope = EXCLUDED.scope,"
                  "  expires_at = EXCLUDED.expires_at, granted_by = EXCLUDED.granted_by,"
                  "  granted_rep_id_sha256 = EXCLUDED.granted_rep_id_sha256, granted_at = now()"
                  " RETURNING" AGENT_COLUMNS,
                  7, p, &r, err);
  if (rc != 0) return rc;
  j->out = agent_from_row(j->ctx, call, r, 0, j->req->credit_code);
  char target[96];
  snprintf(target, sizeof target, "%s agent %s", j->req->credit_code, PQgetvalue(r, 0, 0));
  PQclear(r);
  if (j->out == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  /* recorded first: the sessions change only once the record is written */
  rc = audit_required(call, conn, j->caller, j->caller->subject, "person", "authorize_agent",
                      target, j->caller->subject, "ok", yw_rpc_call_request_id(call));
  if (rc != 0) return rc;
  /* authorised again: the agent's sessions acting on it take the new scope and expiry */
  const char *bp[] = {j->out->id};
  PQclear(j->bound);
  j->bound = NULL;
  rc = yw_pg_query(conn,
                   "SELECT p.subject, array_to_string(a.scope, ','),"
                   " floor(extract(epoch FROM a.expires_at))::bigint"
                   " FROM identity.person_legal_persons b"
                   " JOIN identity.persons p ON p.id = b.person_id"
                   " JOIN identity.company_agents a ON a.id = b.agent_id"
                   " WHERE b.agent_id = $1::bigint",
                   1, bp, &j->bound, err);
  if (rc != 0) return rc;
  /* and take them before this commits (authorize_agent takes the company back from them
   * should it not) */
  return sessions_org_in_tx(call, j->ctx, conn, j->bound, SET_ORG_SCRIPT, j->req->credit_code,
                            err);
}

static int authorize_agent(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                           void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__AuthorizeAgentRequest *req = (const void *)reqm;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 2, &caller);
  if (rc != 0) return rc;
  if (!yw_uscc_valid(req->credit_code))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "creditCode is not a valid unified social credit code");
  if (!valid_person_name(req->name)) return yw_rpc_call_fail(call, YW_EINVAL, "name is required");
  if (!yw_id_card_valid(req->id_card_number))
    return yw_rpc_call_fail(call, YW_EINVAL, "idCardNumber is not a valid citizen ID number");
  if (!rfc3339_shape(req->expires_at))
    return yw_rpc_call_fail(call, YW_EINVAL, "expiresAt must be an RFC 3339 time");
  if (req->n_scope == 0 || req->n_scope > 4)
    return yw_rpc_call_fail(call, YW_EINVAL, "scope names 1 to 4 of apply, pay, read, sign");
  char scope[64] = "{";
  for (size_t i = 0; i < req->n_scope; i++) {
    int known = 0;
    for (size_t k = 0; k < sizeof AGENT_SCOPES / sizeof AGENT_SCOPES[0]; k++)
      known |= strcmp(req->scope[i], AGENT_SCOPES[k]) == 0;
    for (size_t k = 0; k < i; k++) known &= strcmp(req->scope[i], req->scope[k]) != 0;
    if (!known)
      return yw_rpc_call_fail(call, YW_EINVAL,
                              "scope names 1 to 4 of apply, pay, read, sign, once each");
    size_t at = strlen(scope);
    snprintf(scope + at, sizeof scope - at, "%s%s", i > 0 ? "," : "", req->scope[i]);
  }
  size_t at = strlen(scope);
  snprintf(scope + at, sizeof scope - at, "}");
  char id_upper[32], material[48], id_hash[65], name_enc[512], id_enc[256];
  snprintf(id_upper, sizeof id_upper, "%s", req->id_card_number);
  if (id_upper[17] == 'x') id_upper[17] = 'X';
  snprintf(material, sizeof material, "id:%s", id_upper);
  yw_hmac_hex(ctx->lookup_key, material, strlen(material), id_hash);
  if (yw_encrypt(ctx->data_key, req->name, strlen(req->name), req->credit_code, name_enc,
                 sizeof name_enc) != 0 ||
      yw_encrypt(ctx->data_key, id_upper, strlen(id_upper), req->credit_code, id_enc,
                 sizeof id_enc) != 0)
    return YW_EINTERNAL;
  struct agent_job job = {ctx, &caller, req, scope, id_hash, name_enc, id_enc, NULL, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "accounts", authorize_tx, &job);
  if (rc != 0) {
    /* the agent's sessions (job.bound, read just before they are updated) may hold the
     * scope that did not commit: they stop acting for the company, and act_for reads the
     * record again */
    sessions_drop_org_all(ctx, job.bound, req->credit_code);
    return rc;
  }
  PQclear(job.bound);
  *out = &job.out->base;
  return 0;
}

static int list_agents(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                       void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__ListAgentsRequest *req = (const void *)reqm;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 2, &caller);
  if (rc != 0) return rc;
  if (!yw_uscc_valid(req->credit_code))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "creditCode is not a valid unified social credit code");
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  yw_pg_error err;
  PGresult *r = NULL;
  rc = require_representative(call, conn, caller.subject, req->credit_code, &err);
  const char *p[] = {req->credit_code};
  if (rc == 0)
    rc = yw_pg_query(conn,
                     "SELECT" AGENT_COLUMNS
                     " FROM identity.company_agents"
                     " WHERE credit_code = $1 AND revoked_at IS NULL AND expires_at > now()"
                     " ORDER BY id LIMIT 1000",
                     1, p, &r, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_EPERM) return rc;
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Identity__V1__ListAgentsResponse *o = yw_arena_alloc(a, sizeof *o);
  int n = PQntuples(r);
  if (o != NULL) {
    yiwang__identity__v1__list_agents_response__init(o);
    o->agents = yw_arena_calloc(a, (size_t)n + 1, sizeof *o->agents);
  }
  for (int i = 0; o != NULL && o->agents != NULL && i < n; i++) {
    Yiwang__Identity__V1__Agent *g = agent_from_row(ctx, call, r, i, req->credit_code);
    if (g == NULL) break;
    o->agents[o->n_agents++] = g;
  }
  PQclear(r);
  if (o == NULL) return YW_ENOMEM;
  *out = &o->base;
  return 0;
}

struct revoke_job {
  identity_ctx *ctx;
  const yw_caller *caller;
  const Yiwang__Identity__V1__RevokeAgentRequest *req;
  Yiwang__Identity__V1__Agent *out;
  PGresult *subjects; /* the agents' accounts whose sessions stop acting for the company */
};

static int revoke_tx(yw_rpc_call *call, PGconn *conn, void *arg, yw_pg_error *err) {
  struct revoke_job *j = arg;
  int rc = require_representative(call, conn, j->caller->subject, j->req->credit_code, err);
  if (rc != 0) return rc;
  const char *p[] = {j->req->agent_id, j->req->credit_code};
  PGresult *r = NULL;
  rc = yw_pg_query(conn,
                   "UPDATE identity.company_agents SET revoked_at = now()"
                   " WHERE id = $1::bigint AND credit_code = $2 AND revoked_at IS NULL"
                   " RETURNING" AGENT_COLUMNS,
                   2, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no authorisation in force with this id");
  }
  j->out = agent_from_row(j->ctx, call, r, 0, j->req->credit_code);
  PQclear(r);
  if (j->out == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  const char *dp[] = {j->req->agent_id};
  rc = yw_pg_query(
      conn,
      "WITH gone AS (DELETE FROM identity.person_legal_persons WHERE agent_id = $1::bigint"
      " RETURNING person_id)"
      " SELECT p.subject FROM gone JOIN identity.persons p ON p.id = gone.person_id",
      1, dp, &j->subjects, err);
  if (rc != 0) return rc;
  /* the agent's sessions stop acting for the company before this commits */
  rc = sessions_org_in_tx(call, j->ctx, conn, j->subjects, DROP_ORG_SCRIPT, j->req->credit_code,
                          err);
  if (rc != 0) return rc;
  char target[96];
  snprintf(target, sizeof target, "%s agent %s", j->req->credit_code, j->req->agent_id);
  return audit_required(call, conn, j->caller, j->caller->subject, "person", "revoke_agent", target,
                        j->caller->subject, "ok", yw_rpc_call_request_id(call));
}

static int revoke_agent(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                        void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__RevokeAgentRequest *req = (const void *)reqm;
  yw_caller caller;
  int rc = yw_service_require_person(call, &ctx->caller_keys, 2, &caller);
  if (rc != 0) return rc;
  if (!yw_uscc_valid(req->credit_code))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "creditCode is not a valid unified social credit code");
  size_t n = strlen(req->agent_id);
  if (n == 0 || n > 18 || strspn(req->agent_id, "0123456789") != n)
    return yw_rpc_call_fail(call, YW_EINVAL, "agentId is not valid");
  struct revoke_job job = {ctx, &caller, req, NULL, NULL};
  rc = yw_service_tx(call, ctx->pool, ctx->db_wait_ms, "accounts", revoke_tx, &job);
  PQclear(job.subjects);
  if (rc != 0) return rc;
  *out = &job.out->base;
  return 0;
}

/* ---- audit queries --------------------------------------------------------------- */

static int page_size_of(int32_t asked) { return asked <= 0 ? 20 : asked > 100 ? 100 : asked; }

static int list_data_access(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                            void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__ListDataAccessRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  if (req->page_token[0] != '\0' &&
      strspn(req->page_token, "0123456789") != strlen(req->page_token))
    return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
  char limit[16];
  snprintf(limit, sizeof limit, "%d", page_size_of(req->page_size) + 1);
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the audit trail is unavailable");
  const char *p[] = {caller.subject, req->page_token, limit};
  PGresult *r = NULL;
  yw_pg_error err;
  rc = yw_pg_query(conn,
                   "SELECT a.id, to_char(a.at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF:\"00\"'),"
                   "       COALESCE(s.username, a.actor), a.department, a.action, a.request_id"
                   " FROM identity.audit_log a LEFT JOIN identity.staff s ON s.subject = a.actor"
                   " WHERE a.target_subject = $1 AND a.actor_kind = 'staff'"
                   "   AND ($2 = '' OR a.id < $2::bigint)"
                   " ORDER BY a.id DESC LIMIT $3::int",
                   3, p, &r, &err);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Identity__V1__ListDataAccessResponse *o = yw_arena_alloc(a, sizeof *o);
  int rows = PQntuples(r),
      n = rows > page_size_of(req->page_size) ? page_size_of(req->page_size) : rows;
  if (o != NULL) {
    yiwang__identity__v1__list_data_access_response__init(o);
    o->entries = yw_arena_calloc(a, (size_t)n + 1, sizeof *o->entries);
  }
  for (int i = 0; o != NULL && o->entries != NULL && i < n; i++) {
    Yiwang__Identity__V1__DataAccessEntry *e = yw_arena_alloc(a, sizeof *e);
    if (e == NULL) break;
    yiwang__identity__v1__data_access_entry__init(e);
    e->at = dup(call, PQgetvalue(r, i, 1));
    e->actor = dup(call, PQgetvalue(r, i, 2));
    e->department = dup(call, PQgetvalue(r, i, 3));
    e->action = dup(call, PQgetvalue(r, i, 4));
    e->request_id = dup(call, PQgetvalue(r, i, 5));
    o->entries[o->n_entries++] = e;
  }
  if (o != NULL && rows > n) o->next_page_token = dup(call, PQgetvalue(r, n - 1, 0));
  PQclear(r);
  if (o == NULL) return YW_ENOMEM;
  *out = &o->base;
  return 0;
}

static int list_audit_records(yw_rpc_call *call, const ProtobufCMessage *reqm,
                              ProtobufCMessage **out, void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__ListAuditRecordsRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  if (caller.kind != YW_CALLER_STAFF || !yw_caller_has_role(&caller, "auditor"))
    return yw_rpc_call_fail(call, YW_EPERM, "only auditors read the audit trail");
  if (req->page_token[0] != '\0' &&
      strspn(req->page_token, "0123456789") != strlen(req->page_token))
    return yw_rpc_call_fail(call, YW_EINVAL, "pageToken is not valid");
  if (strlen(req->actor) > 64 || strlen(req->action) > 64)
    return yw_rpc_call_fail(call, YW_EINVAL, "actor and action are at most 64 characters");
  char limit[16];
  int ps = page_size_of(req->page_size);
  snprintf(limit, sizeof limit, "%d", ps + 1);
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the audit trail is unavailable");
  const char *p[] = {req->actor, req->action, req->page_token, limit};
  PGresult *r = NULL;
  yw_pg_error err;
  /* a privileged read: answered only once its record is committed (fails closed) */
  memset(&err, 0, sizeof err);
  rc = yw_pg_begin(conn, &err);
  if (rc == 0)
    rc = yw_pg_query(
        conn,
        "SELECT id, to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF:\"00\"'), actor, actor_kind,"
        "       action, target, outcome, request_id, source_ip"
        " FROM identity.audit_log"
        " WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2)"
        "   AND ($3 = '' OR id < $3::bigint)"
        " ORDER BY id DESC LIMIT $4::int",
        4, p, &r, &err);
  if (rc == 0)
    rc = audit_required(call, conn, &caller, caller.subject, "staff", "audit_query", req->action,
                        NULL, "ok", yw_rpc_call_request_id(call));
  if (rc == 0) rc = yw_pg_commit(conn, &err);
  if (rc != 0) {
    yw_pg_rollback(conn);
    PQclear(r);
  }
  yw_pg_pool_release(ctx->pool, conn);
  if (rc == YW_EUNAVAIL && err.sqlstate[0] == '\0') return rc;
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  yw_arena *a = yw_rpc_call_arena(call);
  Yiwang__Identity__V1__ListAuditRecordsResponse *o = yw_arena_alloc(a, sizeof *o);
  int rows = PQntuples(r), n = rows > ps ? ps : rows;
  if (o != NULL) {
    yiwang__identity__v1__list_audit_records_response__init(o);
    o->records = yw_arena_calloc(a, (size_t)n + 1, sizeof *o->records);
  }
  for (int i = 0; o != NULL && o->records != NULL && i < n; i++) {
    Yiwang__Identity__V1__AuditRecord *e = yw_arena_alloc(a, sizeof *e);
    if (e == NULL) break;
    yiwang__identity__v1__audit_record__init(e);
    e->id = dup(call, PQgetvalue(r, i, 0));
    e->at = dup(call, PQgetvalue(r, i, 1));
    e->actor = dup(call, PQgetvalue(r, i, 2));
    e->actor_kind = dup(call, PQgetvalue(r, i, 3));
    e->action = dup(call, PQgetvalue(r, i, 4));
    e->target = dup(call, PQgetvalue(r, i, 5));
    e->outcome = dup(call, PQgetvalue(r, i, 6));
    e->request_id = dup(call, PQgetvalue(r, i, 7));
    e->source_ip = dup(call, PQgetvalue(r, i, 8));
    o->records[o->n_records++] = e;
  }
  if (o != NULL && rows > n) o->next_page_token = dup(call, PQgetvalue(r, n - 1, 0));
  PQclear(r);
  if (o == NULL) return YW_ENOMEM;
  *out = &o->base;
  return 0;
}

static int get_person(yw_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage **out,
                      void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__GetPersonRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  int rc = require_session(call, &caller);
  if (rc != 0) return rc;
  if (caller.kind != YW_CALLER_STAFF ||
      !(yw_caller_has_role(&caller, "dept_staff") || yw_caller_has_role(&caller, "dept_admin") ||
        yw_caller_has_role(&caller, "platform_admin")))
    return yw_rpc_call_fail(call, YW_EPERM, "only department or platform staff read accounts");
  if (strncmp(req->subject, "p-", 2) != 0 || strlen(req->subject) > 40)
    return yw_rpc_call_fail(call, YW_EINVAL, "subject is not a resident's account");
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  Me *me = NULL;
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  /* every staff read of a resident's data is recorded, found or not, in the read's
   * transaction: the data is answered only once its record is committed */
  rc = yw_pg_begin(conn, &err);
  int found = 0;
  if (rc == 0) {
    rc = load_me(ctx, call, conn, req->subject, &me, NULL, &err);
    found = rc == 0;
    if (rc == YW_ENOTFOUND) rc = 0;
  }
  if (rc == 0)
    rc = audit_required(call, conn, &caller, caller.subject, "staff", "read_personal_data",
                        req->subject, found ? req->subject : NULL, found ? "ok" : "not found",
                        yw_rpc_call_request_id(call));
  rc = end_tx(ctx, call, conn, rc, &err);
  if (rc != 0) return rc;
  if (!found) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such account");
  *out = &me->base;
  return 0;
}

/* ---- verified identity, for other services ---------------------------------------- */

/* Decrypts a field of subject's row into out ("" when empty or it does not decrypt,
 * which is logged). */
static void decrypt_plain(identity_ctx *ctx, yw_rpc_call *call, const char *enc,
                          const char *subject, char *out, size_t size) {
  out[0] = '\0';
  if (enc == NULL || enc[0] == '\0') return;
  if (yw_decrypt(ctx->data_key, enc, subject, out, size) != 0) {
    out[0] = '\0';
    yw_log(YW_LOG_ERROR, "identity.decrypt_failed", yw_rpc_call_request_id(call),
           "a personal-data field of %s does not decrypt", subject);
  }
}

struct verified_work {
  identity_ctx *ctx;
  const yw_caller *caller;
  const char *subject;     /* whose */
  const char *credit_code; /* the company, or "" */
  int staff;               /* asked by staff: masked name and company name only */
  Yiwang__Identity__V1__VerifiedIdentity *out;
};

/* Reads w->subject's verified identity (and the company's name) on conn into w->out.
 * Returns 0, YW_ENOTFOUND or YW_EPERM (status set) or a query's code (err). */
static int verified_read(yw_rpc_call *call, PGconn *conn, struct verified_work *w,
                         yw_pg_error *err) {
  identity_ctx *ctx = w->ctx;
  Yiwang__Identity__V1__VerifiedIdentity *v = w->out;
  const char *p[] = {w->subject};
  PGresult *r = NULL;
  int rc = yw_pg_query(conn,
                       "SELECT name_enc, id_card_enc, realname_level FROM identity.persons"
                       " WHERE subject = $1",
                       1, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such account");
  }
  char name[256], id[64], masked[256];
  decrypt_plain(ctx, call, PQgetvalue(r, 0, 0), w->subject, name, sizeof name);
  decrypt_plain(ctx, call, PQgetvalue(r, 0, 1), w->subject, id, sizeof id);
  v->realname_level = (int32_t)strtol(PQgetvalue(r, 0, 2), NULL, 10);
  PQclear(r);
  v->subject = dup(call, w->subject);
  v->name_masked = dup(call, name[0] != '\0' ? yw_mask_name(name, masked, sizeof masked) : "");
  v->name = dup(call, w->staff ? "" : name);
  v->id_card_masked = dup(call, !w->staff && id[0] != '\0' ? yw_mask_id_card(id, masked, sizeof masked) : "");
  explicit_bzero(name, sizeof name);
  explicit_bzero(id, sizeof id);
  v->company_credit_code = dup(call, w->credit_code);
  v->company_name = dup(call, "");
  if (w->credit_code[0] == '\0') return 0;
  const char *pc[] = {w->subject, w->credit_code};
  /* the signed caller's company only while it is bound; a holder's company as it is */
  rc = yw_pg_query(conn,
                   w->staff ? "SELECT l.name FROM identity.legal_persons l WHERE l.credit_code = $2"
                              " AND $1::text IS NOT NULL"
                            : "SELECT l.name FROM identity.person_legal_persons b"
                              " JOIN identity.persons p ON p.id = b.person_id"
                              " JOIN identity.legal_persons l ON l.credit_code = b.credit_code"
                              " LEFT JOIN identity.company_agents a ON a.id = b.agent_id"
                              " WHERE p.subject = $1 AND b.credit_code = $2 AND" BINDING_IN_FORCE,
                   2, pc, &r, err);
  if (rc != 0) return rc;
  int found = PQntuples(r) == 1;
  if (found) v->company_name = dup(call, PQgetvalue(r, 0, 0));
  PQclear(r);
  if (!found && !w->staff)
    return yw_rpc_call_fail(call, YW_EPERM, "this company is no longer bound to the account");
  return 0;
}

/* GetVerifiedIdentity: for another service only (via= not empty). A resident's own
 * (the signed caller), or, for staff of a department, a resident's masked name and
 * company name, recorded as a staff read in the read's transaction (fail closed). */
static int get_verified_identity(yw_rpc_call *call, const ProtobufCMessage *reqm,
                                 ProtobufCMessage **out, void *data) {
  identity_ctx *ctx = data;
  const Yiwang__Identity__V1__GetVerifiedIdentityRequest *req = (const void *)reqm;
  CALLER_OR_FAIL(call, ctx, caller);
  if (caller.via[0] == '\0')
    return yw_rpc_call_fail(call, YW_EPERM, "this is asked by services only");
  struct verified_work w = {ctx, &caller, caller.subject, caller.org, 0, NULL};
  if (req->subject[0] != '\0') {
    if (caller.kind != YW_CALLER_STAFF ||
        !(yw_caller_has_role(&caller, "dept_staff") || yw_caller_has_role(&caller, "dept_admin") ||
          yw_caller_has_role(&caller, "platform_admin")))
      return yw_rpc_call_fail(call, YW_EPERM, "only department or platform staff ask for another account");
    if (strncmp(req->subject, "p-", 2) != 0 || strlen(req->subject) > 40)
      return yw_rpc_call_fail(call, YW_EINVAL, "subject is not a resident's account");
    if (strlen(req->credit_code) > 18)
      return yw_rpc_call_fail(call, YW_EINVAL, "creditCode is not a credit code");
    w.subject = req->subject;
    w.credit_code = req->credit_code;
    w.staff = 1;
  } else if (caller.kind != YW_CALLER_PERSON || caller.subject[0] == '\0') {
    return yw_rpc_call_fail(call, YW_EPERM, "the caller is not a resident");
  }
  w.out = yw_arena_alloc(yw_rpc_call_arena(call), sizeof *w.out);
  if (w.out == NULL) return YW_ENOMEM;
  yiwang__identity__v1__verified_identity__init(w.out);
  PGconn *conn = yw_service_db(call, ctx->pool, ctx->db_wait_ms);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "accounts are unavailable");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int rc = w.staff ? yw_pg_begin(conn, &err) : 0;
  if (rc == 0) rc = verified_read(call, conn, &w, &err);
  if (w.staff && (rc == 0 || rc == YW_ENOTFOUND)) {
    int arc = audit_required(call, conn, &caller, caller.subject, "staff", "read_personal_data",
                             "license holder", rc == 0 ? w.subject : NULL,
                             rc == 0 ? "ok" : "not found", yw_rpc_call_request_id(call));
    if (arc != 0) rc = arc;
  }
  if (w.staff) {
    int found = rc == 0;
    rc = end_tx(ctx, call, conn, found || rc == YW_ENOTFOUND ? 0 : rc, &err);
    if (rc == 0 && !found) return yw_rpc_call_fail(call, YW_ENOTFOUND, "no such account");
    if (rc != 0) return rc;
  } else {
    yw_pg_pool_release(ctx->pool, conn);
    if (rc != 0) return err.sqlstate[0] != '\0' || err.message[0] != '\0' ? yw_service_db_fail(call, rc, &err) : rc;
  }
  *out = &w.out->base;
  return 0;
}

/* ---- staff accounts (CLI) -------------------------------------------------------- */

int identity_create_staff(identity_ctx *ctx, const char *username, const char *password,
                          const char *department, const char *roles, char *err, size_t errlen) {
  if (strlen(password) < 10) {
    snprintf(err, errlen, "a staff password has at least 10 characters");
    return YW_EINVAL;
  }
  char hash[128];
  if (yw_password_hash(password, hash, sizeof hash) != 0) {
    snprintf(err, errlen, "cannot hash the password");
    return YW_EINTERNAL;
  }
  char subject[40], rnd[24], rolearr[160];
  if (yw_random_token(12, rnd, sizeof rnd) != 0) return YW_EINTERNAL;
  snprintf(subject, sizeof subject, "s-%s", rnd);
  snprintf(rolearr, sizeof rolearr, "{%s}", roles);
  if (strspn(roles, "abcdefghijklmnopqrstuvwxyz_,") != strlen(roles)) {
    snprintf(err, errlen, "roles are a comma-separated list of role names");
    return YW_EINVAL;
  }
  PGconn *conn = yw_pg_pool_acquire(ctx->pool, 5000);
  if (conn == NULL) {
    snprintf(err, errlen, "database unavailable");
    return YW_EUNAVAIL;
  }
  const char *p[] = {subject, username, hash, department, rolearr};
  yw_pg_error pe;
  int rc =
      yw_pg_query(conn,
                  "INSERT INTO identity.staff (subject, username, password_hash, department, roles)"
                  " VALUES ($1, $2, $3, $4, $5::text[])"
                  " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
                  "  department = EXCLUDED.department, roles = EXCLUDED.roles,"
                  "  failed_count = 0, locked_until = NULL, lock_streak = 0, last_lock_end = NULL",
                  5, p, NULL, &pe);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) snprintf(err, errlen, "%s", pe.message);
  return rc;
}

int identity_reset_totp(identity_ctx *ctx, const char *username, char *err, size_t errlen) {
  PGconn *conn = yw_pg_pool_acquire(ctx->pool, 5000);
  if (conn == NULL) {
    snprintf(err, errlen, "database unavailable");
    return YW_EUNAVAIL;
  }
  const char *p[] = {username};
  yw_pg_error pe;
  PGresult *r = NULL;
  int rc = yw_pg_begin(conn, &pe);
  if (rc == 0)
    rc = yw_pg_query(
        conn,
        "UPDATE identity.staff SET totp_secret_enc = NULL, totp_pending_enc = NULL,"
        " totp_enrolled_at = NULL, totp_last_step = NULL WHERE username = $1 RETURNING id",
        1, p, &r, &pe);
  int found = rc == 0 && PQntuples(r) == 1;
  char id[24] = "";
  if (found) snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  const char *ip[] = {id};
  if (found)
    rc = yw_pg_query(conn, "DELETE FROM identity.staff_recovery_codes WHERE staff_id = $1::bigint",
                     1, ip, NULL, &pe);
  yw_caller cli;
  memset(&cli, 0, sizeof cli);
  if (rc == 0 && found)
    rc = audit(conn, &cli, "cli", "operator", "totp_reset", username, NULL, "ok", "");
  if (rc == 0 && found) rc = yw_pg_commit(conn, &pe);
  if (rc != 0 || !found) yw_pg_rollback(conn);
  yw_pg_pool_release(ctx->pool, conn);
  if (rc != 0) snprintf(err, errlen, "%s", pe.message);
  if (rc == 0 && !found) {
    snprintf(err, errlen, "no staff account %s", username);
    return YW_ENOTFOUND;
  }
  return rc;
}

/* ---- the table ------------------------------------------------------------------- */

static const yw_rpc_method identity_methods[] = {
    {"SendSmsCode", send_sms_code, NULL},
    {"CreateSession", create_session, NULL},
    {"RefreshSession", refresh_session, NULL},
    {"DeleteSession", delete_session, NULL},
    {"DeleteSessions", delete_sessions, NULL},
    {"GetMe", get_me, NULL},
    {"UpgradeRealname", upgrade_realname, NULL},
    {"BindLegalPerson", bind_legal_person, NULL},
    {"ListDataAccess", list_data_access, NULL},
    {"ListAuditRecords", list_audit_records, NULL},
    {"GetPerson", get_person, NULL},
    {"ActFor", act_for, NULL},
    {"GetActingCompany", get_acting_company, NULL},
    {"AuthorizeAgent", authorize_agent, NULL},
    {"ListAgents", list_agents, NULL},
    {"RevokeAgent", revoke_agent, NULL},
    {"EnrolTotp", enrol_totp, NULL},
    {"ConfirmTotp", confirm_totp, NULL},
    {"GetVerifiedIdentity", get_verified_identity, NULL},
};

void identity_service_init(yw_rpc_service *svc, identity_ctx *ctx) {
  svc->descriptor = &yiwang__identity__v1__identity_service__descriptor;
  svc->methods = identity_methods;
  svc->n_methods = sizeof identity_methods / sizeof identity_methods[0];
  svc->data = ctx;
}
