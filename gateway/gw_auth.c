/*
 * gw_auth.c - who is calling and may they: rate limits, sessions, access rules.
 *
 * Asynchronous on the worker's own loop, through its gw_redis link (gw_redis.c: bounded
 * waits, back-off, circuit breaker). An anonymous request costs at most one round trip:
 * a Lua script takes a token from the client's bucket (its IPv4 address, or its IPv6
 * /64). A client that keeps sending gets several tokens at once, which the worker spends
 * on its next requests without asking again (gw_lease.h: never more than the bucket
 * holds, at most an eighth of the burst, lapsing after a second). A
 * request with a bearer token sends, in the same write, an HMGET of the session named by
 * the token's hash; once the session has given its subject, a second round trip takes a
 * token from the account's bucket. The answers decide: 429 with retry-after, 401 (no
 * such session), 403 (the route's rule refuses this caller), or on to the upstream with
 * the caller signed into the metadata.
 *
 * A route of a limit class (gw_route.h: GW_LIMIT_LOOKUP, the routes anyone may try codes
 * on) has one more bucket per client address, "<prefix>:rl:<class>:<client>", taken by
 * the same script in the same write as the client's bucket (its own command, one key:
 * the round trip is shared, the slots need not be). Its tokens are never leased: such
 * routes are asked seldom by an honest client, and a lease would only blur their small
 * budget. Both buckets must grant; a token taken from one when the other refuses stays
 * spent (the request was made). When the service answers such a lookup NOT_FOUND,
 * gw_auth_answered takes YW_GATEWAY_LOOKUP_MISS_COST - 1 more tokens from the class's
 * bucket (as many as it has), so guessing costs more than finding.
 *
 * Why a second round trip rather than one script (Redis Cluster): a script may touch
 * only the keys it is given in KEYS, and all of them must hash to one slot. The client's
 * bucket, the session and the account's bucket belong to three independent owners, so
 * no hash tag can put them together, and the account bucket's name (the subject) is
 * only known after the session is read. Naming the account bucket after the session's
 * hash tag would put it in the session's slot, but then each login would get its own
 * budget, and an account could multiply its rate by logging in again. So each command
 * touches exactly one key: take(client bucket) and HMGET(session) pipelined, then
 * take(account bucket). The cost is one more round trip, for signed-in requests only.
 *
 * Redis unreachable or slow (the link refuses at once, or a command passes its timeout):
 * rate limits fall back to the process's own table (gw_limits.c); a public route goes
 * on as an anonymous request; a route that needs a session answers 503, because a
 * session cannot be checked (an unverified caller is never let through). If only the
 * account's bucket cannot be reached, the session was already verified, and the
 * account's local bucket applies.
 *
 * This is the access phase of the request (gateway/README.md): it returns GW_DONE with
 * an answer made, or GW_SUSPEND while Redis is asked; each answer's callback ends in
 * one decision, handed to the request layer by gw_req_resume (GW_NEXT: allowed;
 * GW_DONE: refused, the answer made). It knows no other phase.
 *
 * Offers: gw_auth_init, gw_auth_free, gw_auth_worker_init, gw_auth_worker_free,
 * gw_phase_access, gw_auth_answered.
 */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/sha.h>

#include "gw.h"
#include "gw_lease.h"
#include "gw_limits.h"
#include "gw_net.h"
#include "gw_redis.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_log.h"
#include "yw_net.h"

#define LOCAL_ENTRIES 65536 /* clients the process's own table tracks at once */
#define LEASE_SLOTS 16384   /* clients a worker keeps leased tokens for at once */
#define LEASE_MAX 32        /* tokens a worker asks for at most, and at most an eighth
                               of the burst, so a lease never holds much of a budget */

/* One token bucket, the only key it touches being KEYS[1]; ARGV: rate a second, burst,
 * and how many tokens the worker would like (a lease, gw_lease.h). Answers {granted,
 * wait}: granted >= 1 tokens were taken (at most the ask, at most what the bucket
 * has), or none and the wait in ms until one will be there. */
static const char TAKE_SCRIPT[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
    "local tokens, ts = tonumber(b[1]), tonumber(b[2])\n"
    "if tokens == nil or ts == nil then tokens = burst; ts = now end\n"
    "tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)\n"
    "local want = math.max(1, math.floor(tonumber(ARGV[3]) or 1))\n"
    "local granted, wait = 0, 0\n"
    "if tokens >= 1 then granted = math.min(want, math.floor(tokens)); tokens = tokens - granted\n"
    "else wait = math.ceil((1 - tokens) * 1000 / rate) end\n"
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)\n"
    "return {granted, wait}\n";

/* The script is sent by its SHA-1 (EVALSHA): Redis then neither receives nor hashes
 * its text on every request. A NOSCRIPT answer (Redis restarted) sends it once in full. */
static char script_sha[41];

/* The process's buckets while Redis cannot be asked, shared by every worker. */
static gw_limits *local_limits;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes a token for key ("ip:<client>", "sub:<subject>" or "<class>:<client>") from the
 * local table (rate tokens a second); returns the wait in ms (0: allowed). */
static long local_take(const char *key, double rate, long burst) {
  long wait = 0;
  if (gw_limits_take(local_limits, key, rate, (double)burst, now_ms(), &wait) != 0)
    return 0; /* keys are built from parsed addresses and subjects; never too long */
  return wait;
}

/* The limit classes of routes (gw_route.h): the bucket's name and its settings (rate a
 * minute: a class is for routes tried rarely, where a second is too coarse). */
struct limit_class {
  const char *name;
  const long *rate_per_min, *burst, *miss_cost;
};

/* The tokens a second of class c. */
static double class_rate(const struct limit_class *c) { return (double)*c->rate_per_min / 60.0; }

static const struct limit_class *limit_class_of(gw_limit_class c) {
  static const struct limit_class lookup = {"lookup", &gw.cfg.rate_lookup, &gw.cfg.burst_lookup,
                                            &gw.cfg.lookup_miss_cost};
  switch (c) {
  case GW_LIMIT_LOOKUP: return &lookup;
  case GW_LIMIT_NONE: break;
  }
  return NULL;
}

/* The name of the client's bucket: its IPv4 address or IPv6 /64 (the address text
 * itself when it is not an IP peer). */
static void client_bucket(const char *ip, char *out, size_t size) {
  if (yw_client_key(ip, out, size) != 0) snprintf(out, size, "%s", ip);
}

/* Sends the bucket script for key, asking for want tokens (by SHA-1, or in full). 0 when
 * sent; cb runs later with the answer. */
static int eval_take(gw_redis *link, const char *key, double rate, long burst, int want, int full,
                     gw_redis_cb *cb, void *arg) {
  char r[32], b[24], w[24];
  snprintf(r, sizeof r, "%.6f", rate);
  snprintf(b, sizeof b, "%ld", burst);
  snprintf(w, sizeof w, "%d", want);
  const char *argv[] = {
      full ? "EVAL" : "EVALSHA", full ? TAKE_SCRIPT : script_sha, "1", key, r, b, w};
  return gw_redis_command(link, 7, argv, NULL, cb, arg);
}

/* ---- start and stop -------------------------------------------------------------- */

int gw_auth_init(char *err, size_t errlen) {
  char why[200];
  if (gw_net_list_parse(gw.cfg.trusted_proxies, &gw.trusted_nets, why, sizeof why) != 0) {
    snprintf(err, errlen, "YW_GATEWAY_TRUSTED_PROXIES: %s", why);
    return YW_EINVAL;
  }
  if (gw_net_list_parse(gw.cfg.metrics_from, &gw.metrics_nets, why, sizeof why) != 0) {
    snprintf(err, errlen, "YW_GATEWAY_METRICS_FROM: %s", why);
    return YW_EINVAL;
  }
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)TAKE_SCRIPT, strlen(TAKE_SCRIPT), md);
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) snprintf(script_sha + 2 * i, 3, "%02x", md[i]);
  if (gw_limits_new(LOCAL_ENTRIES, &local_limits) != 0) {
    snprintf(err, errlen, "no memory for the local rate limits");
    return YW_ENOMEM;
  }
  gw_redis_settings rs = {gw.cfg.redis_addr, (int)gw.cfg.redis_connect_timeout_ms,
                          (int)gw.cfg.redis_timeout_ms, (int)gw.cfg.redis_backoff_max_ms};
  int rc = gw_redis_start(&rs, err, errlen);
  if (rc != 0) {
    gw_limits_free(local_limits);
    local_limits = NULL;
  }
  return rc;
}

void gw_auth_free(void) {
  gw_redis_stop();
  gw_limits_free(local_limits);
  local_limits = NULL;
}

void gw_auth_worker_init(gw_worker *w) {
  w->lease = gw_lease_new(LEASE_SLOTS); /* none: every request asks Redis */
  gw_redis *link = NULL;
  if (gw_redis_new(w->base, w->index, &link) != 0)
    yw_log(YW_LOG_ERROR, "gateway.no_memory", NULL, "worker %d: no Redis link; local limits only",
           w->index);
  w->redis = link;
}

void gw_auth_worker_free(gw_worker *w) {
  gw_redis *link = w->redis;
  w->redis = NULL;
  gw_redis_free(link); /* commands in flight are answered (NULL) before it returns */
  gw_lease_free(w->lease);
  w->lease = NULL;
}

static int lease_max(long burst) {
  long m = burst / 8;
  return m < 1 ? 1 : m > LEASE_MAX ? LEASE_MAX : (int)m;
}

/* ---- the client's address -------------------------------------------------------- */

static int trusted(const char *addr) {
  return gw_net_list_match(&gw.trusted_nets, addr);
}

/* The address limits and audit records are about: the peer, or, when the peer is one
 * of our own proxies (YW_GATEWAY_TRUSTED_PROXIES), the right-most address in
 * X-Forwarded-For that is not one of them. A client cannot choose its own address:
 * what it writes into X-Forwarded-For stands to the left of what our proxies append. */
static void client_address(const gw_req *r, char *out, size_t size) {
  snprintf(out, size, "%s", r->peer_ip);
  const char *xff = gw_req_header(r, "x-forwarded-for");
  if (xff == NULL || !trusted(r->peer_ip)) return;
  size_t end = strlen(xff);
  while (end > 0) {
    size_t start = end;
    while (start > 0 && xff[start - 1] != ',') start--;
    char hop[64];
    size_t b = start, e = end;
    while (b < e && xff[b] == ' ') b++;
    while (e > b && xff[e - 1] == ' ') e--;
    unsigned char buf[16];
    if (e - b == 0 || e - b >= sizeof hop) return;
    memcpy(hop, xff + b, e - b);
    hop[e - b] = '\0';
    if (inet_pton(strchr(hop, ':') != NULL ? AF_INET6 : AF_INET, hop, buf) != 1) return;
    snprintf(out, size, "%s", hop);
    if (!trusted(hop)) return;
    end = start > 0 ? start - 1 : 0;
  }
}

/* ---- decisions ------------------------------------------------------------------- */

/* Makes the 429 answer; the caller resumes with GW_DONE. */
static void too_many(gw_req *r, long wait_ms, const char *message) {
  char *retry = yw_arena_alloc(r->arena, 24);
  if (retry != NULL) {
    snprintf(retry, 24, "%ld", wait_ms / 1000 + 1);
    gw_req_add_header(r, "retry-after", retry);
  }
  gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, message);
}

static int role_allowed(const yw_caller *c, const char *roles) {
  if (roles == NULL) return c->roles[0] != '\0';
  const char *p = roles;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    char role[32];
    snprintf(role, sizeof role, "%.*s", (int)len, p);
    if (yw_caller_has_role(c, role)) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

#define TOO_MANY "too many requests; slow down"
#define TOO_MANY_LOOKUPS "too many lookups from this address; slow down"

/* The route's rule for an authenticated or anonymous caller: 0 allowed, else answered. */
static int check_rule(gw_req *r) {
  const gw_route_def *d = r->route->def;
  const yw_caller *c = &r->caller;
  switch (d->access) {
  case GW_ACCESS_PUBLIC: return 0;
  case GW_ACCESS_ACCOUNT: return 0; /* a session was required and found */
  case GW_ACCESS_LEGAL_PERSON:
    if (c->kind != YW_CALLER_PERSON || c->org[0] == '\0') {
      gw_answer_error(r, GRPC_STATUS_PERMISSION_DENIED,
                       "act for a company first (POST /v1/me/acting-for)");
      return -1;
    }
    __attribute__((fallthrough)); /* the resident's level applies too */
  case GW_ACCESS_PERSON:
    if (c->kind != YW_CALLER_PERSON) {
      gw_answer_error(r, GRPC_STATUS_PERMISSION_DENIED, "this is for residents' accounts");
      return -1;
    }
    if (c->level < d->min_level) {
      char *msg = yw_arena_alloc(r->arena, 96);
      if (msg != NULL)
        snprintf(msg, 96, "real-name level %d is required; verify your identity first", d->min_level);
      gw_answer_error(r, GRPC_STATUS_PERMISSION_DENIED, msg != NULL ? msg : "level too low");
      return -1;
    }
    return 0;
  case GW_ACCESS_STAFF:
    if (c->kind != YW_CALLER_STAFF || !role_allowed(c, d->roles)) {
      gw_answer_error(r, GRPC_STATUS_PERMISSION_DENIED, "your role does not allow this");
      return -1;
    }
    return 0;
  case GW_ACCESS_INTERNAL: break;
  }
  gw_answer_error(r, GRPC_STATUS_NOT_FOUND, "no such route");
  return -1;
}

static void set_caller_field(char *dst, size_t size, const redisReply *e) {
  if (e != NULL && e->type == REDIS_REPLY_STRING)
    snprintf(dst, size, "%.*s", (int)e->len, e->str);
  else
    dst[0] = '\0';
}

/* What one request's Redis answers have said so far; lives in the request's arena. */
struct auth {
  gw_req *r;
  int waiting;             /* first-round answers (buckets, session) still to come */
  int ip_failed, sess_failed;
  long ip_wait;            /* ms; 0: the client's token was taken */
  int found;               /* the session exists */
  int ip_full, sub_full;   /* the script went in full after a NOSCRIPT */
  const struct limit_class *cls; /* the route's limit class, or NULL */
  int cls_failed, cls_full; /* its bucket: not asked or no answer; sent in full */
  long cls_wait;           /* ms; 0: the class's token was taken */
  char client[64];         /* the client's bucket name: IPv4 address or IPv6 /64 */
  char iplease[8 + 64], sublease[8 + sizeof(((yw_caller *)0)->subject)]; /* lease keys */
  char ipkey[160], skey[160], subkey[160], clskey[160];
};

enum take_bucket { TAKE_IP, TAKE_SUB, TAKE_CLASS };

static int send_take(struct auth *a, enum take_bucket which, int full);

static int is_noscript(const redisReply *reply) {
  return reply != NULL && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* The wait the route's limit class asks for, in ms (0: its token was taken, or the route
 * has no class): Redis's answer, or the local table's when Redis gave none. Once per
 * request: a local take spends a token. */
static long class_wait(struct auth *a) {
  if (a->cls == NULL) return 0;
  if (!a->cls_failed) return a->cls_wait;
  char key[GW_LIMITS_KEY_MAX + 1];
  snprintf(key, sizeof key, "%s:%s", a->cls->name, a->client);
  return local_take(key, class_rate(a->cls), *a->cls->burst);
}

/* Redis could not decide (unreachable, too slow, or an answer we do not understand). */
static void fallback(struct auth *a) {
  gw_req *r = a->r;
  if (r->route->def->access != GW_ACCESS_PUBLIC) {
    gw_answer_error(r, GRPC_STATUS_UNAVAILABLE, "sessions cannot be checked now, try again shortly");
    gw_req_resume(r, GW_DONE);
    return;
  }
  /* A public route goes on, as anonymous: a token that cannot be checked must not
   * name the caller to the upstream, but it is no reason to refuse what anyone may do. */
  yw_caller *c = &r->caller;
  char ip[sizeof c->ip];
  memcpy(ip, c->ip, sizeof ip);
  memset(c, 0, sizeof *c);
  memcpy(c->ip, ip, sizeof ip);
  c->kind = YW_CALLER_ANONYMOUS;
  char key[8 + sizeof a->client];
  snprintf(key, sizeof key, "ip:%s", a->client);
  long wait = local_take(key, (double)gw.cfg.rate_ip, gw.cfg.burst_ip);
  if (wait > 0) {
    too_many(r, wait, TOO_MANY);
  } else {
    wait = class_wait(a);
    if (wait > 0) too_many(r, wait, TOO_MANY_LOOKUPS);
  }
  gw_req_resume(r, wait > 0 ? GW_DONE : GW_NEXT);
}

/* The session was verified but its account's bucket in Redis could not be reached. */
static void account_local(struct auth *a) {
  gw_req *r = a->r;
  char key[8 + sizeof r->caller.subject];
  snprintf(key, sizeof key, "sub:%s", r->caller.subject);
  long wait = local_take(key, (double)gw.cfg.rate_subject, gw.cfg.burst_subject);
  if (wait > 0) {
    too_many(r, wait, TOO_MANY);
    gw_req_resume(r, GW_DONE);
  } else {
    gw_req_resume(r, check_rule(r) == 0 ? GW_NEXT : GW_DONE);
  }
}

/* Both first-round answers are in: decide, or ask for the account's bucket. */
static void decide(struct auth *a) {
  gw_req *r = a->r;
  if (r->conn == NULL || gw.stopping) return; /* the client left meanwhile, or we are stopping */
  int has_session = a->skey[0] != '\0';
  long cls_wait = 0;
  if (a->ip_failed || (has_session && a->sess_failed)) {
    fallback(a);
  } else if (a->ip_wait > 0) {
    too_many(r, a->ip_wait, TOO_MANY);
    gw_req_resume(r, GW_DONE);
  } else if ((cls_wait = class_wait(a)) > 0) {
    too_many(r, cls_wait, TOO_MANY_LOOKUPS);
    gw_req_resume(r, GW_DONE);
  } else if (!has_session) {
    gw_req_resume(r, check_rule(r) == 0 ? GW_NEXT : GW_DONE);
  } else if (!a->found) {
    gw_answer_error(r, GRPC_STATUS_UNAUTHENTICATED, "the access token has expired or was revoked");
    gw_req_resume(r, GW_DONE);
  } else {
    snprintf(a->subkey, sizeof a->subkey, "%s:rl:sub:%s", gw.cfg.redis_prefix, r->caller.subject);
    snprintf(a->sublease, sizeof a->sublease, "sub:%s", r->caller.subject);
    if (gw_lease_spend(r->worker->lease, a->sublease, now_ms())) { /* a token leased before */
      gw_req_resume(r, check_rule(r) == 0 ? GW_NEXT : GW_DONE);
      return;
    }
    r->refs++;
    if (send_take(a, TAKE_SUB, 0) != 0) {
      r->refs--;
      account_local(a);
    }
  }
}

/* The bucket script's answer {granted, wait}: 0 with *granted (>= 1) or the wait (ms,
 * >= 1), or -1 when it is no such answer (NULL: timed out, Redis went away). */
static int take_answer(const redisReply *reply, long *granted, long *wait) {
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER)
    return -1;
  *granted = (long)reply->element[0]->integer;
  *wait = (long)reply->element[1]->integer;
  if (*granted < 0 || (*granted == 0 && *wait < 1)) return -1;
  if (*granted > 0) *wait = 0;
  return 0;
}

/* One of the first round's answers is in (the client's bucket, the class's, the
 * session): the last one decides. Lets go of the request's reference it held. */
static void first_answered(struct auth *a) {
  gw_req *r = a->r;
  if (--a->waiting == 0) decide(a);
  gw_req_unref(r);
}

/* A NOSCRIPT answer (Redis restarted, or its scripts were flushed): the take is sent
 * again once, with the script's text, and the same reference to the request travels
 * on. 1 when it was sent again. */
static int take_again(struct auth *a, enum take_bucket which, const redisReply *reply,
                      int full_sent) {
  return is_noscript(reply) && !full_sent && a->r->conn != NULL && !gw.stopping &&
         send_take(a, which, 1) == 0;
}

/* The client's bucket answered (reply NULL: timed out or Redis went away). */
static void on_ip(void *reply_v, void *arg) {
  struct auth *a = arg;
  gw_req *r = a->r;
  redisReply *reply = reply_v;
  if (take_again(a, TAKE_IP, reply, a->ip_full)) return;
  long granted = 0;
  if (take_answer(reply, &granted, &a->ip_wait) != 0)
    a->ip_failed = 1;
  else if (granted > 0)
    gw_lease_grant(r->worker->lease, a->iplease, (int)granted, now_ms());
  first_answered(a);
}

/* The session answered: HMGET sub kind roles dept level org org_until org_scope. A
 * session acts for a company (org) until org_until (unix seconds; 0 or none: no end), the
 * expiry of the agent's authorisation it was set on, within org_scope (what the services
 * let it do for the company: an agent's scope, all of them for a representative). */
static void on_session(void *reply_v, void *arg) {
  struct auth *a = arg;
  gw_req *r = a->r;
  redisReply *reply = reply_v;
  if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 6) {
    if (reply->element[0]->type == REDIS_REPLY_STRING) {
      a->found = 1;
      yw_caller *c = &r->caller;
      set_caller_field(c->subject, sizeof c->subject, reply->element[0]);
      char kind[16];
      set_caller_field(kind, sizeof kind, reply->element[1]);
      c->kind = strcmp(kind, "staff") == 0 ? YW_CALLER_STAFF : YW_CALLER_PERSON;
      set_caller_field(c->roles, sizeof c->roles, reply->element[2]);
      set_caller_field(c->department, sizeof c->department, reply->element[3]);
      char level[8];
      set_caller_field(level, sizeof level, reply->element[4]);
      c->level = (int)strtol(level, NULL, 10);
      set_caller_field(c->org, sizeof c->org, reply->element[5]);
      char until[24] = "";
      if (reply->elements >= 7) set_caller_field(until, sizeof until, reply->element[6]);
      long long end = strtoll(until, NULL, 10);
      if (reply->elements >= 8) set_caller_field(c->org_scope, sizeof c->org_scope, reply->element[7]);
      if (end > 0 && (long long)time(NULL) >= end) c->org[0] = '\0'; /* the authorisation ended */
      if (c->org[0] == '\0') c->org_scope[0] = '\0';
    }
  } else {
    a->sess_failed = 1;
  }
  first_answered(a);
}

/* The account's bucket answered. */
static void on_sub(void *reply_v, void *arg) {
  struct auth *a = arg;
  gw_req *r = a->r;
  redisReply *reply = reply_v;
  if (take_again(a, TAKE_SUB, reply, a->sub_full)) return;
  if (r->conn != NULL && !gw.stopping) {
    long granted = 0, wait = 0;
    if (take_answer(reply, &granted, &wait) != 0) {
      account_local(a);
    } else if (granted == 0) {
      too_many(r, wait, TOO_MANY);
      gw_req_resume(r, GW_DONE);
    } else {
      gw_lease_grant(r->worker->lease, a->sublease, (int)granted, now_ms());
      gw_req_resume(r, check_rule(r) == 0 ? GW_NEXT : GW_DONE);
    }
  }
  gw_req_unref(r);
}

/* The bucket of the route's limit class answered. */
static void on_class(void *reply_v, void *arg) {
  struct auth *a = arg;
  redisReply *reply = reply_v;
  if (take_again(a, TAKE_CLASS, reply, a->cls_full)) return;
  long granted = 0;
  if (take_answer(reply, &granted, &a->cls_wait) != 0) a->cls_failed = 1;
  first_answered(a);
}

enum gw_phase_result gw_phase_access(gw_req *r) {
  gw_access access = r->route->def->access;
  yw_caller *c = &r->caller;
  memset(c, 0, sizeof *c);
  c->kind = YW_CALLER_ANONYMOUS;
  client_address(r, c->ip, sizeof c->ip);

  const char *auth = gw_req_header(r, "authorization");
  if (auth != NULL) {
    if (strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) < 20 || strlen(auth + 7) > 100) {
      gw_answer_error(r, GRPC_STATUS_UNAUTHENTICATED, "the authorization header is not a bearer token");
      return GW_DONE;
    }
    yw_sha256_hex(auth + 7, strlen(auth + 7), c->session);
  } else if (access != GW_ACCESS_PUBLIC) {
    gw_answer_error(r, GRPC_STATUS_UNAUTHENTICATED, "log in first: this needs an access token");
    return GW_DONE;
  }

  struct auth *a = yw_arena_alloc(r->arena, sizeof *a);
  if (a == NULL) {
    gw_answer_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory; try again shortly");
    return GW_DONE;
  }
  memset(a, 0, sizeof *a);
  a->r = r;
  client_bucket(c->ip, a->client, sizeof a->client);
  snprintf(a->ipkey, sizeof a->ipkey, "%s:rl:ip:%s", gw.cfg.redis_prefix, a->client);
  a->cls = limit_class_of(r->route->def->limit);
  if (a->cls != NULL)
    snprintf(a->clskey, sizeof a->clskey, "%s:rl:%s:%s", gw.cfg.redis_prefix, a->cls->name,
             a->client);
  snprintf(a->iplease, sizeof a->iplease, "ip:%s", a->client);
  if (c->session[0] != '\0')
    snprintf(a->skey, sizeof a->skey, "%s:sess:%s", gw.cfg.redis_prefix, c->session);

  if (gw_lease_spend(r->worker->lease, a->iplease, now_ms())) {
    /* the client's token was leased before: no round trip for it */
    if (a->skey[0] == '\0' && a->cls == NULL) return check_rule(r) == 0 ? GW_NEXT : GW_DONE;
  } else {
    r->refs++;
    if (send_take(a, TAKE_IP, 0) != 0) { /* the link is down: answer now, without waiting */
      r->refs--;
      a->cls_failed = 1; /* nor is the class's bucket asked */
      fallback(a); /* decides now: its gw_req_resume is taken when this phase returns */
      return GW_SUSPEND;
    }
    a->waiting = 1;
  }
  if (a->cls != NULL) {
    /* in the same write as the client's bucket: one round trip for both */
    r->refs++;
    if (send_take(a, TAKE_CLASS, 0) == 0) {
      a->waiting++;
    } else {
      r->refs--;
      a->cls_failed = 1; /* the local table decides for it */
    }
  }
  if (a->skey[0] != '\0') {
    /* pipelined behind the client's bucket: one round trip for both */
    const char *argv[] = {"HMGET", a->skey, "sub", "kind",      "roles",
                          "dept",  "level",  "org", "org_until", "org_scope"};
    r->refs++;
    if (gw_redis_command(r->worker->redis, 10, argv, NULL, on_session, a) == 0) {
      a->waiting++;
    } else {
      r->refs--;
      a->sess_failed = 1; /* decided when the other answers come */
    }
  }
  if (a->waiting == 0) decide(a); /* nothing could be asked: decide now */
  return GW_SUSPEND;
}

/* Sends the bucket script for one of a's buckets (by SHA-1, or in full). 0 when sent. */
static int send_take(struct auth *a, enum take_bucket which, int full) {
  gw_redis *link = a->r->worker->redis;
  gw_lease *lease = a->r->worker->lease;
  long long now = now_ms();
  switch (which) {
  case TAKE_IP:
    if (full) a->ip_full = 1;
    return eval_take(link, a->ipkey, (double)gw.cfg.rate_ip, gw.cfg.burst_ip,
                     gw_lease_want(lease, a->iplease, now, lease_max(gw.cfg.burst_ip)), full,
                     on_ip, a);
  case TAKE_SUB:
    if (full) a->sub_full = 1;
    return eval_take(link, a->subkey, (double)gw.cfg.rate_subject, gw.cfg.burst_subject,
                     gw_lease_want(lease, a->sublease, now, lease_max(gw.cfg.burst_subject)),
                     full, on_sub, a);
  case TAKE_CLASS:
    if (full) a->cls_full = 1;
    return eval_take(link, a->clskey, class_rate(a->cls), *a->cls->burst, 1, full, on_class, a);
  }
  return YW_EINVAL;
}

/* ---- after the answer ------------------------------------------------------------ */

static void on_charged(void *reply, void *arg) {
  (void)reply; /* nothing waits for it; a failed charge only leaves the tokens */
  (void)arg;
}

void gw_auth_answered(gw_req *r) {
  if (r->route == NULL || r->up_status != GRPC_STATUS_NOT_FOUND || r->worker == NULL) return;
  const struct limit_class *lc = limit_class_of(r->route->def->limit);
  if (lc == NULL || *lc->miss_cost <= 1 || r->caller.ip[0] == '\0') return;
  int more = (int)*lc->miss_cost - 1;
  char client[64], key[160];
  client_bucket(r->caller.ip, client, sizeof client);
  snprintf(key, sizeof key, "%s:rl:%s:%s", gw.cfg.redis_prefix, lc->name, client);
  if (eval_take(r->worker->redis, key, class_rate(lc), *lc->burst, more, 0, on_charged, NULL) == 0)
    return;
  /* Redis cannot be asked: the local table, where this client's requests are counted now */
  snprintf(key, sizeof key, "%s:%s", lc->name, client);
  for (int i = 0; i < more; i++)
    if (local_take(key, class_rate(lc), *lc->burst) > 0) break; /* the bucket is empty */
}
