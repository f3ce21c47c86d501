/*
 * gw_auth.c - who is calling and may they: rate limits, sessions, access rules.
 *
 * One round trip to Redis per request, asynchronous on the worker's own loop (hiredis'
 * libevent adapter): a Lua script takes a token from the client address's bucket, reads
 * the session named by the bearer token's hash and takes a token from the account's
 * bucket. The script's answer decides: 429 with retry-after, 401 (no such session),
 * 403 (the route's rule refuses this caller), or on to the upstream with the caller
 * signed into the metadata.
 *
 * Redis unreachable: rate limits fall back to buckets in this worker's memory; routes
 * that need a session answer 503, because a session cannot be checked (an unverified
 * caller is never let through).
 *
 * Offers: gw_auth_worker_init, gw_auth_worker_free, gw_authorize.
 */
#include <arpa/inet.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/sha.h>

#include "gw.h"
#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_log.h"

#define LOCAL_BUCKETS 4096

static const char LIMIT_SCRIPT[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function take(key, rate, burst)\n"
    "  local b = redis.call('HMGET', key, 'tokens', 'ts')\n"
    "  local tokens, ts = tonumber(b[1]), tonumber(b[2])\n"
    "  if tokens == nil or ts == nil then tokens = burst; ts = now end\n"
    "  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)\n"
    "  local wait = 0\n"
    "  if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end\n"
    "  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)\n"
    "  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)\n"
    "  return wait\n"
    "end\n"
    "local wait = take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))\n"
    "if wait > 0 then return {0, wait} end\n"
    "if KEYS[2] == '' then return {1, 0} end\n"
    "local s = redis.call('HMGET', KEYS[2], 'sub', 'kind', 'roles', 'dept', 'level', 'org')\n"
    "if not s[1] then return {2, 0} end\n"
    "wait = take(ARGV[5] .. ':rl:sub:' .. s[1], tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
    "if wait > 0 then return {0, wait} end\n"
    "return {1, 0, s[1], s[2] or '', s[3] or '', s[4] or '', s[5] or '0', s[6] or ''}\n";

/* The script is sent by its SHA-1 (EVALSHA): Redis then neither receives nor hashes
 * its text on every request. A NOSCRIPT answer (Redis restarted) sends it once in full. */
static char script_sha[41];
static pthread_once_t script_once = PTHREAD_ONCE_INIT;

static void script_sha_init(void) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)LIMIT_SCRIPT, strlen(LIMIT_SCRIPT), md);
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) snprintf(script_sha + 2 * i, 3, "%02x", md[i]);
}

/* ---- local fallback buckets ------------------------------------------------------ */

struct bucket {
  char key[64];
  double tokens;
  long long ts_ms;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes a token for key from the worker's table; returns the wait in ms (0: allowed). */
static long local_take(gw_worker *w, const char *key, double rate, double burst) {
  struct bucket *t = w->local_buckets;
  if (t == NULL) return 0;
  unsigned long long h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  struct bucket *b = &t[h % LOCAL_BUCKETS];
  long long now = now_ms();
  if (strcmp(b->key, key) != 0) { /* a new key takes the slot */
    snprintf(b->key, sizeof b->key, "%s", key);
    b->tokens = burst;
    b->ts_ms = now;
  }
  b->tokens += (double)(now - b->ts_ms) * rate / 1000.0;
  if (b->tokens > burst) b->tokens = burst;
  b->ts_ms = now;
  if (b->tokens >= 1) {
    b->tokens -= 1;
    return 0;
  }
  return (long)((1 - b->tokens) * 1000.0 / rate) + 1;
}

/* ---- Redis connection ------------------------------------------------------------ */

static void on_disconnect(const redisAsyncContext *ac, int status) {
  (void)status;
  gw_worker *w = ac->data;
  if (w->redis == ac) w->redis = NULL; /* hiredis frees the context itself */
}

static void on_connect(const redisAsyncContext *ac, int status) {
  if (status != REDIS_OK) on_disconnect(ac, status);
}

static redisAsyncContext *connect_redis(gw_worker *w) {
  const char *colon = strrchr(gw.cfg.redis_addr, ':');
  if (colon == NULL) return NULL;
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - gw.cfg.redis_addr), gw.cfg.redis_addr);
  redisAsyncContext *ac = redisAsyncConnect(host, (int)strtol(colon + 1, NULL, 10));
  if (ac == NULL) return NULL;
  if (ac->err != 0) {
    redisAsyncFree(ac);
    return NULL;
  }
  ac->data = w;
  redisLibeventAttach(ac, w->base);
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

void gw_auth_worker_init(gw_worker *w) {
  pthread_once(&script_once, script_sha_init);
  w->local_buckets = calloc(LOCAL_BUCKETS, sizeof(struct bucket));
  w->redis = connect_redis(w);
}

void gw_auth_worker_free(gw_worker *w) {
  if (w->redis != NULL) {
    redisAsyncContext *ac = w->redis;
    w->redis = NULL;
    ac->data = w;
    redisAsyncFree(ac);
  }
  free(w->local_buckets);
  w->local_buckets = NULL;
}

/* ---- the client's address -------------------------------------------------------- */

static int trusted(const char *addr) {
  const char *p = gw.cfg.trusted_proxies;
  while (p != NULL && *p != '\0') {
    while (*p == ' ' || *p == ',') p++;
    size_t len = strcspn(p, ",");
    while (len > 0 && p[len - 1] == ' ') len--;
    if (len > 0 && strncmp(addr, p, len) == 0) return 1;
    p += strcspn(p, ",");
  }
  return 0;
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

static void too_many(gw_req *r, long wait_ms) {
  char *retry = yw_arena_alloc(r->arena, 24);
  if (retry != NULL) {
    snprintf(retry, 24, "%ld", wait_ms / 1000 + 1);
    gw_req_add_header(r, "retry-after", retry);
  }
  gw_respond_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many requests; slow down");
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

/* The route's rule for an authenticated or anonymous caller: 0 allowed, else answered. */
static int check_rule(gw_req *r) {
  const gw_route_def *d = r->route->def;
  const yw_caller *c = &r->caller;
  switch (d->access) {
  case GW_ACCESS_PUBLIC: return 0;
  case GW_ACCESS_ACCOUNT: return 0; /* a session was required and found */
  case GW_ACCESS_LEGAL_PERSON:
    if (c->kind != YW_CALLER_PERSON || c->org[0] == '\0') {
      gw_respond_error(r, GRPC_STATUS_PERMISSION_DENIED,
                       "act for a company first (POST /v1/me/acting-for)");
      return -1;
    }
    __attribute__((fallthrough)); /* the resident's level applies too */
  case GW_ACCESS_PERSON:
    if (c->kind != YW_CALLER_PERSON) {
      gw_respond_error(r, GRPC_STATUS_PERMISSION_DENIED, "this is for residents' accounts");
      return -1;
    }
    if (c->level < d->min_level) {
      char *msg = yw_arena_alloc(r->arena, 96);
      if (msg != NULL)
        snprintf(msg, 96, "real-name level %d is required; verify your identity first", d->min_level);
      gw_respond_error(r, GRPC_STATUS_PERMISSION_DENIED, msg != NULL ? msg : "level too low");
      return -1;
    }
    return 0;
  case GW_ACCESS_STAFF:
    if (c->kind != YW_CALLER_STAFF || !role_allowed(c, d->roles)) {
      gw_respond_error(r, GRPC_STATUS_PERMISSION_DENIED, "your role does not allow this");
      return -1;
    }
    return 0;
  case GW_ACCESS_INTERNAL: break;
  }
  gw_respond_error(r, GRPC_STATUS_NOT_FOUND, "no such route");
  return -1;
}

static void set_caller_field(char *dst, size_t size, const redisReply *e) {
  if (e != NULL && e->type == REDIS_REPLY_STRING)
    snprintf(dst, size, "%.*s", (int)e->len, e->str);
  else
    dst[0] = '\0';
}

static int send_script(gw_req *r, int full);

/* Runs on the worker's loop when the script answers (reply NULL: Redis went away). */
static void on_limit_reply(redisAsyncContext *ac, void *reply_v, void *arg) {
  (void)ac;
  gw_req *r = arg;
  redisReply *reply = reply_v;
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
      r->conn != NULL && send_script(r, 1) == 0)
    return; /* asked again with the script's text; the same reference travels on */
  if (r->conn == NULL || gw.stopping) { /* the client left meanwhile, or we are stopping */
    gw_req_unref(r);
    return;
  }
  int needs_session = r->route->def->access != GW_ACCESS_PUBLIC || r->caller.session[0] != '\0';
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
    if (needs_session) {
      gw_respond_error(r, GRPC_STATUS_UNAVAILABLE, "sessions cannot be checked now, try again shortly");
    } else {
      long wait = local_take(r->worker, r->caller.ip, (double)gw.cfg.rate_ip, (double)gw.cfg.burst_ip);
      if (wait > 0) too_many(r, wait);
      else gw_handle_authorized(r);
    }
    gw_req_unref(r);
    return;
  }
  long long verdict = reply->element[0]->integer;
  if (verdict == 0) {
    too_many(r, (long)reply->element[1]->integer);
  } else if (verdict == 2) {
    gw_respond_error(r, GRPC_STATUS_UNAUTHENTICATED, "the access token has expired or was revoked");
  } else {
    if (reply->elements >= 7) {
      yw_caller *c = &r->caller;
      set_caller_field(c->subject, sizeof c->subject, reply->element[2]);
      char kind[16];
      set_caller_field(kind, sizeof kind, reply->element[3]);
      c->kind = strcmp(kind, "staff") == 0 ? YW_CALLER_STAFF : YW_CALLER_PERSON;
      set_caller_field(c->roles, sizeof c->roles, reply->element[4]);
      set_caller_field(c->department, sizeof c->department, reply->element[5]);
      char level[8];
      set_caller_field(level, sizeof level, reply->element[6]);
      c->level = (int)strtol(level, NULL, 10);
      if (reply->elements >= 8) set_caller_field(c->org, sizeof c->org, reply->element[7]);
    }
    if (check_rule(r) == 0) gw_handle_authorized(r);
  }
  gw_req_unref(r);
}

void gw_authorize(gw_req *r) {
  gw_access access = r->route->def->access;
  yw_caller *c = &r->caller;
  memset(c, 0, sizeof *c);
  c->kind = YW_CALLER_ANONYMOUS;
  client_address(r, c->ip, sizeof c->ip);

  const char *auth = gw_req_header(r, "authorization");
  if (auth != NULL) {
    if (strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) < 20 || strlen(auth + 7) > 100) {
      gw_respond_error(r, GRPC_STATUS_UNAUTHENTICATED, "the authorization header is not a bearer token");
      return;
    }
    yw_sha256_hex(auth + 7, strlen(auth + 7), c->session);
  } else if (access != GW_ACCESS_PUBLIC) {
    gw_respond_error(r, GRPC_STATUS_UNAUTHENTICATED, "log in first: this needs an access token");
    return;
  }

  r->refs++;
  if (send_script(r, 0) != 0) on_limit_reply(NULL, NULL, r); /* as if Redis were down */
}

/* Sends the limits script for r (by SHA-1, or in full). 0 when sent. */
static int send_script(gw_req *r, int full) {
  gw_worker *w = r->worker;
  if (w->redis == NULL) w->redis = connect_redis(w);
  if (w->redis == NULL) return -1;
  const yw_caller *c = &r->caller;
  char ipkey[128], skey[128], rate_ip[24], burst_ip[24], rate_sub[24], burst_sub[24];
  snprintf(ipkey, sizeof ipkey, "%s:rl:ip:%s", gw.cfg.redis_prefix, c->ip);
  if (c->session[0] != '\0')
    snprintf(skey, sizeof skey, "%s:sess:%s", gw.cfg.redis_prefix, c->session);
  else
    skey[0] = '\0';
  snprintf(rate_ip, sizeof rate_ip, "%ld", gw.cfg.rate_ip);
  snprintf(burst_ip, sizeof burst_ip, "%ld", gw.cfg.burst_ip);
  snprintf(rate_sub, sizeof rate_sub, "%ld", gw.cfg.rate_subject);
  snprintf(burst_sub, sizeof burst_sub, "%ld", gw.cfg.burst_subject);
  const char *argv[] = {full ? "EVAL" : "EVALSHA", full ? LIMIT_SCRIPT : script_sha, "2", ipkey,
                        skey, rate_ip, burst_ip, rate_sub, burst_sub, gw.cfg.redis_prefix};
  return redisAsyncCommandArgv(w->redis, on_limit_reply, r, 10, argv, NULL) == REDIS_OK ? 0 : -1;
}
