/*
 * yw_idem.c - idempotent writes (yw_idem.h): the key's claim, the effect and the kept
 * answer in one PostgreSQL transaction; finished answers cached in Redis.
 *
 * The claim is `INSERT ... ON CONFLICT (scope, key) DO UPDATE ... WHERE expired
 * RETURNING`: a row comes back when the key was free (or its row had expired and is
 * taken over), none when a live row exists. When another transaction has inserted the
 * key and not finished, PostgreSQL makes the INSERT wait for it; lock_timeout (set
 * locally, a share of the call's time left) bounds that wait, and its expiry (SQLSTATE
 * 55P03) is the "still running" answer. ON CONFLICT DO UPDATE locks the conflicting row
 * even when its WHERE is false, so the stored answer read next cannot be taken over
 * under us.
 *
 * The handler's effect runs after a SAVEPOINT: a kept error (the caller's own mistake)
 * rolls back to it, keeping the claim, and stores the error; anything else rolls the
 * whole transaction back, claim included.
 *
 * Cache value (Redis, binary): "yi1" | fingerprint (32 bytes) | expires (unix ms, 8
 * bytes big-endian) | gRPC status (1 byte) | message length (2 bytes) | message |
 * response (sealed, as in the row, when yw_idem_opts.seal_key is given). Only finished
 * answers are cached; they never change, so the cache needs no
 * invalidation, and its entries expire with their rows.
 *
 * Offers: yw_idem_key_valid, yw_idem_migrate, yw_idem_run, yw_idem_purge.
 */
#include "yw_idem.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yw_crypto.h"
#include "yw_err.h"
#include "yw_service.h"

#define SQL_MAX 2048
#define FP_LEN 32
#define CACHE_MAGIC "yi1"
#define CACHE_HEAD (3 + FP_LEN + 8 + 1 + 2)
#define MESSAGE_MAX 512
#define PURGE_LIMIT 100

/* ---- helpers ---------------------------------------------------------------------- */

static void set_err(yw_pg_error *err, const char *msg) {
  if (err == NULL) return;
  err->sqlstate[0] = '\0';
  snprintf(err->message, sizeof err->message, "%s", msg);
}

static long long wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int yw_idem_key_valid(const char *key) {
  if (key == NULL) return 0;
  size_t n = strlen(key);
  if (n < 1 || n > YW_IDEM_KEY_MAX || key[0] == ' ' || key[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e) return 0;
  return 1;
}

/* Statuses whose answers are kept: the caller's own mistakes, which a retry of the same
 * request would meet again. The YW code a kept status is answered with again. */
static int kept_code(grpc_status_code st) {
  switch (st) {
  case GRPC_STATUS_OK: return 0;
  case GRPC_STATUS_INVALID_ARGUMENT: return YW_EINVAL;
  case GRPC_STATUS_NOT_FOUND: return YW_ENOTFOUND;
  case GRPC_STATUS_ALREADY_EXISTS: return YW_EEXIST;
  case GRPC_STATUS_PERMISSION_DENIED: return YW_EPERM;
  case GRPC_STATUS_FAILED_PRECONDITION: return YW_EPRECOND;
  default: return 1; /* not kept */
  }
}

/* ---- schema ----------------------------------------------------------------------- */

static const char MIGRATION_001[] =
    "CREATE TABLE {S}.idempotency (\n"
    "  scope       text NOT NULL,\n"
    "  key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),\n"
    "  fingerprint bytea NOT NULL,\n"
    "  status      int,\n"
    "  message     text,\n"
    "  response    bytea,\n"
    "  created_at  timestamptz NOT NULL DEFAULT now(),\n"
    "  expires_at  timestamptz NOT NULL,\n"
    "  PRIMARY KEY (scope, key)\n"
    ");\n"
    "CREATE INDEX idempotency_expires ON {S}.idempotency (expires_at);\n";

int yw_idem_migrate(PGconn *conn, const char *schema, yw_pg_error *err) {
  if (!yw_pg_schema_ok(schema)) {
    set_err(err, "schema name must match [a-z_]+");
    return YW_EINVAL;
  }
  char text[SQL_MAX];
  int rc = yw_pg_schema_sql(text, sizeof text, MIGRATION_001, schema);
  if (rc != 0) return rc;
  const struct yw_embedded_file files[] = {{"yw_idem_001.sql", text}};
  return yw_pg_migrate(conn, schema, files, 1, err);
}

int yw_idem_purge(PGconn *conn, const char *schema, int limit, int64_t clock_offset_s,
                  yw_pg_error *err) {
  if (!yw_pg_schema_ok(schema) || limit <= 0) {
    set_err(err, "schema name must match [a-z_]+, limit > 0");
    return YW_EINVAL;
  }
  char sql[SQL_MAX];
  int rc = yw_pg_schema_sql(sql, sizeof sql,
                     "DELETE FROM {S}.idempotency WHERE (scope, key) IN (SELECT scope, key"
                     " FROM {S}.idempotency WHERE expires_at <= now() + make_interval(secs =>"
                     " $1::float8) ORDER BY expires_at LIMIT $2::int FOR UPDATE SKIP LOCKED)",
                     schema);
  if (rc != 0) return rc;
  char off[32], lim[16];
  snprintf(off, sizeof off, "%lld", (long long)clock_offset_s);
  snprintf(lim, sizeof lim, "%d", limit);
  const char *p[] = {off, lim};
  PGresult *r = NULL;
  rc = yw_pg_query_write(conn, sql, 2, p, &r, err);
  if (rc != 0) return rc;
  int n = (int)strtol(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  return n;
}

/* ---- one call ----------------------------------------------------------------------- */

typedef struct idem_call {
  yw_rpc_call *call;
  const yw_idem_opts *o;
  const char *key;
  char scope[YW_CALLER_VALUE_MAX];
  uint8_t fp[FP_LEN];
  char cache_key[192];
  int ttl_s;
} idem_call;

/* Who the key belongs to: the account (and the company it acts for), or for an
 * anonymous caller a hash of the client's address (no address is stored). */
static void make_scope(const yw_caller *c, char *out, size_t size) {
  if (c->kind == YW_CALLER_ANONYMOUS) {
    char h[65];
    yw_sha256_hex(c->ip, strlen(c->ip), h);
    snprintf(out, size, "anon:%.32s", h);
  } else {
    snprintf(out, size, "%s:%s%s%s", c->kind == YW_CALLER_STAFF ? "staff" : "person", c->subject,
             c->org[0] != '\0' ? "@" : "", c->org);
  }
}

/* SHA-256 of the full method, a NUL and the packed request. */
static int fingerprint(yw_rpc_call *call, const ProtobufCMessage *req, uint8_t out[FP_LEN]) {
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = yw_arena_alloc(yw_rpc_call_arena(call), n > 0 ? n : 1);
  if (buf == NULL) return YW_ENOMEM;
  protobuf_c_message_pack(req, buf);
  const char *m = yw_rpc_call_method(call);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, m, strlen(m) + 1) == 1 && EVP_DigestUpdate(ctx, buf, n) == 1 &&
           EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == FP_LEN;
  EVP_MD_CTX_free(ctx);
  return ok ? 0 : YW_EINTERNAL;
}

static int answer_reused(yw_rpc_call *call) {
  yw_rpc_call_add_trailer(call, YW_REASON_TRAILER, YW_REASON_IDEM_KEY_REUSED);
  return yw_rpc_call_fail(call, YW_EINVAL,
                          "this Idempotency-Key was used with another request; use a new key");
}

static int answer_in_progress(yw_rpc_call *call) {
  yw_rpc_call_add_trailer(call, YW_REASON_TRAILER, YW_REASON_IDEM_IN_PROGRESS);
  yw_rpc_call_add_trailer(call, "retry-after", "1");
  return yw_rpc_call_fail(call, YW_ECONFLICT,
                          "a request with this Idempotency-Key is still in progress; retry shortly");
}

/* The associated data of a sealed answer: its scope and key, so that a kept answer
 * moved to another key does not open. */
static void seal_aad(const idem_call *ic, char *out, size_t size) {
  snprintf(out, size, "%s|%s", ic->scope, ic->key);
}

/* A kept answer as stored: sealed with o->seal_key (nonce, ciphertext, tag) when it has
 * one and the answer is not empty, else as packed. In the call's arena; 0 or ENOMEM. */
static int seal_answer(idem_call *ic, const uint8_t *raw, size_t len, uint8_t **out,
                       size_t *out_len) {
  if (ic->o->seal_key == NULL || len == 0) {
    *out = (uint8_t *)raw;
    *out_len = len;
    return 0;
  }
  yw_arena *a = yw_rpc_call_arena(ic->call);
  size_t sealed = 12 + len + 16, hex_size = 2 * sealed + 1;
  char *hex = yw_arena_alloc(a, hex_size), aad[YW_CALLER_VALUE_MAX + YW_IDEM_KEY_MAX + 2];
  uint8_t *buf = yw_arena_alloc(a, sealed);
  if (hex == NULL || buf == NULL) return YW_ENOMEM;
  seal_aad(ic, aad, sizeof aad);
  if (yw_encrypt(ic->o->seal_key, (const char *)raw, len, aad, hex, hex_size) != 0 ||
      yw_hex_decode(hex, 2 * sealed, buf) != 0)
    return YW_ENOMEM;
  *out = buf;
  *out_len = sealed;
  return 0;
}

/* The packed answer of a kept one (seal_answer reversed; an answer kept before a seal
 * key was given is as packed). NULL when it does not open. */
static const uint8_t *open_answer(idem_call *ic, const uint8_t *kept, size_t len, size_t *out_len) {
  *out_len = len;
  if (ic->o->seal_key == NULL || len == 0) return kept;
  yw_arena *a = yw_rpc_call_arena(ic->call);
  char *hex = yw_arena_alloc(a, 2 * len + 1), aad[YW_CALLER_VALUE_MAX + YW_IDEM_KEY_MAX + 2];
  uint8_t *plain = len > 28 ? yw_arena_alloc(a, len - 28 + 1) : NULL;
  if (hex == NULL || plain == NULL) return kept;
  yw_hex_encode(kept, len, hex);
  seal_aad(ic, aad, sizeof aad);
  if (yw_decrypt(ic->o->seal_key, hex, aad, (char *)plain, len - 28 + 1) != 0) return kept;
  *out_len = len - 28;
  return plain;
}

/* Gives the kept answer again: status, message and response (as kept). */
static int replay(idem_call *ic, int status, const char *message, const uint8_t *kept,
                  size_t kept_len, ProtobufCMessage **response) {
  yw_rpc_call_add_trailer(ic->call, YW_IDEM_REPLAYED_TRAILER, "true");
  int code = kept_code((grpc_status_code)status);
  if (code > 0) return yw_rpc_call_fail(ic->call, YW_EINTERNAL, "a kept answer is not readable");
  if (code < 0) return yw_rpc_call_fail(ic->call, code, "%s", message);
  size_t resp_len = 0;
  const uint8_t *resp = open_answer(ic, kept, kept_len, &resp_len);
  ProtobufCMessage *m = protobuf_c_message_unpack(ic->o->response,
                                                  yw_rpc_call_allocator(ic->call), resp_len, resp);
  if (m == NULL) return yw_rpc_call_fail(ic->call, YW_EINTERNAL, "a kept answer is not readable");
  *response = m;
  return 0;
}

/* ---- the Redis cache -------------------------------------------------------------- */

static int redis_wait(const idem_call *ic) {
  int w = ic->o->redis_wait_ms > 0 ? ic->o->redis_wait_ms : 100;
  int64_t left = yw_rpc_call_ms_left(ic->call);
  if (left < w) w = left > 1 ? (int)(left / 2) : 1;
  return w;
}

/* 1 when the cache answered (*rc is the answer), 0 to ask PostgreSQL. */
static int cache_lookup(idem_call *ic, ProtobufCMessage **response, int *rc) {
  if (ic->o->redis == NULL) return 0;
  const char *argv[] = {"GET", ic->cache_key};
  redisReply *r = yw_redis_command_within(ic->o->redis, redis_wait(ic), 2, argv, NULL, NULL, 0);
  if (r == NULL) return 0;
  int hit = 0;
  if (r->type == REDIS_REPLY_STRING && r->len >= CACHE_HEAD &&
      memcmp(r->str, CACHE_MAGIC, 3) == 0) {
    const uint8_t *v = (const uint8_t *)r->str;
    long long expires = 0;
    for (int i = 0; i < 8; i++) expires = expires << 8 | v[3 + FP_LEN + i];
    int status = v[3 + FP_LEN + 8];
    size_t mlen = (size_t)v[CACHE_HEAD - 2] << 8 | v[CACHE_HEAD - 1];
    if (expires > wall_ms() + ic->o->clock_offset_s * 1000 && CACHE_HEAD + mlen <= r->len) {
      hit = 1;
      if (memcmp(v + 3, ic->fp, FP_LEN) != 0) {
        *rc = answer_reused(ic->call);
      } else {
        char msg[MESSAGE_MAX + 1];
        size_t ml = mlen < MESSAGE_MAX ? mlen : MESSAGE_MAX;
        memcpy(msg, v + CACHE_HEAD, ml);
        msg[ml] = '\0';
        *rc = replay(ic, status, msg, v + CACHE_HEAD + mlen, r->len - CACHE_HEAD - mlen, response);
      }
    }
  }
  freeReplyObject(r);
  return hit;
}

/* Keeps a finished answer for the rest of its row's life; failures are ignored (the
 * row answers). */
static void cache_store(idem_call *ic, long long expires_ms, int status, const char *message,
                        const uint8_t *resp, size_t resp_len) {
  if (ic->o->redis == NULL) return;
  long long ttl = expires_ms - (wall_ms() + ic->o->clock_offset_s * 1000);
  if (ttl <= 0) return;
  size_t mlen = strlen(message);
  if (mlen > MESSAGE_MAX) mlen = MESSAGE_MAX;
  size_t len = CACHE_HEAD + mlen + resp_len;
  uint8_t *v = yw_arena_alloc(yw_rpc_call_arena(ic->call), len);
  if (v == NULL) return;
  memcpy(v, CACHE_MAGIC, 3);
  memcpy(v + 3, ic->fp, FP_LEN);
  for (int i = 0; i < 8; i++) v[3 + FP_LEN + i] = (uint8_t)(expires_ms >> (56 - 8 * i));
  v[3 + FP_LEN + 8] = (uint8_t)status;
  v[CACHE_HEAD - 2] = (uint8_t)(mlen >> 8);
  v[CACHE_HEAD - 1] = (uint8_t)mlen;
  memcpy(v + CACHE_HEAD, message, mlen);
  if (resp_len > 0) memcpy(v + CACHE_HEAD + mlen, resp, resp_len);
  char px[24];
  snprintf(px, sizeof px, "%lld", ttl);
  const char *argv[] = {"SET", ic->cache_key, (const char *)v, "PX", px};
  size_t lens[] = {3, strlen(ic->cache_key), len, 2, strlen(px)};
  redisReply *r = yw_redis_command_within(ic->o->redis, redis_wait(ic), 5, argv, lens, NULL, 0);
  if (r != NULL) freeReplyObject(r);
}

/* ---- PostgreSQL --------------------------------------------------------------------- */

static const char CLAIM_SQL[] =
    "INSERT INTO {S}.idempotency AS i (scope, key, fingerprint, expires_at)"
    " VALUES ($1, $2, decode($3, 'hex'), now() + make_interval(secs => $4::float8 + $5::float8))"
    " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
    "  status = NULL, message = NULL, response = NULL, created_at = now(),"
    "  expires_at = EXCLUDED.expires_at"
    " WHERE i.expires_at <= now() + make_interval(secs => $4::float8)"
    " RETURNING (extract(epoch FROM i.expires_at) * 1000)::bigint";

static const char READ_SQL[] =
    "SELECT encode(fingerprint, 'hex'), status, coalesce(message, ''),"
    " encode(coalesce(response, ''::bytea), 'hex'),"
    " (extract(epoch FROM expires_at) * 1000)::bigint"
    " FROM {S}.idempotency WHERE scope = $1 AND key = $2";

static const char KEEP_SQL[] =
    "UPDATE {S}.idempotency SET status = $3::int, message = $4, response = decode($5, 'hex')"
    " WHERE scope = $1 AND key = $2";

static atomic_uint claims;

/* The answer kept in the row that holds the key (the claim found it live and locked). */
static int read_kept(idem_call *ic, PGconn *conn, ProtobufCMessage **response, yw_pg_error *err,
                     int *answered) {
  char sql[SQL_MAX];
  int rc = yw_pg_schema_sql(sql, sizeof sql, READ_SQL, ic->o->schema);
  if (rc != 0) return rc;
  const char *p[] = {ic->scope, ic->key};
  PGresult *r = NULL;
  rc = yw_pg_query(conn, sql, 2, p, &r, err);
  if (rc != 0) return rc;
  if (PQntuples(r) != 1 || PQgetisnull(r, 0, 1)) {
    /* a row without an answer cannot be seen committed: it is written with its answer */
    PQclear(r);
    set_err(err, "idempotency row without an answer");
    return YW_EINTERNAL;
  }
  uint8_t fp[FP_LEN];
  const char *fph = PQgetvalue(r, 0, 0);
  int status = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
  const char *msg = PQgetvalue(r, 0, 2);
  const char *resph = PQgetvalue(r, 0, 3);
  long long expires = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
  size_t rlen = strlen(resph) / 2;
  uint8_t *resp = yw_arena_alloc(yw_rpc_call_arena(ic->call), rlen > 0 ? rlen : 1);
  *answered = 1;
  if (resp == NULL) {
    rc = YW_ENOMEM;
  } else if (strlen(fph) != 2 * FP_LEN || yw_hex_decode(fph, 2 * FP_LEN, fp) != 0 ||
             yw_hex_decode(resph, 2 * rlen, resp) != 0) {
    rc = yw_rpc_call_fail(ic->call, YW_EINTERNAL, "a kept answer is not readable");
  } else if (memcmp(fp, ic->fp, FP_LEN) != 0) {
    rc = answer_reused(ic->call);
  } else {
    cache_store(ic, expires, status, msg, resp, rlen);
    rc = replay(ic, status, msg, resp, rlen, response);
  }
  PQclear(r);
  return rc;
}

/* Packs the answer (sealed when the options say so) into hex text for the row and the
 * bytes for the cache (arena). NULL on ENOMEM. */
static char *pack_hex(idem_call *ic, const ProtobufCMessage *m, uint8_t **raw, size_t *len) {
  size_t n = m != NULL ? protobuf_c_message_get_packed_size(m) : 0;
  yw_arena *a = yw_rpc_call_arena(ic->call);
  uint8_t *buf = yw_arena_alloc(a, n > 0 ? n : 1);
  if (buf == NULL) return NULL;
  if (n > 0) protobuf_c_message_pack(m, buf);
  if (seal_answer(ic, buf, n, raw, len) != 0) return NULL;
  char *hex = yw_arena_alloc(a, 2 * *len + 1);
  if (hex == NULL) return NULL;
  yw_hex_encode(*raw, *len, hex);
  return hex;
}

/* The call with a key: claim, effect, keep, commit (or the kept answer). */
static int run_keyed(idem_call *ic, const ProtobufCMessage *req, ProtobufCMessage **response,
                     yw_pg_pool *pool, yw_idem_fn fn, void *arg) {
  const yw_idem_opts *o = ic->o;
  yw_rpc_call *call = ic->call;
  PGconn *conn = yw_service_db(call, pool, o->db_wait_ms > 0 ? o->db_wait_ms : 2000);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the database is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  char sql[SQL_MAX];
  /* BEGIN goes with the lock_timeout below, the lock_timeout's restoring and the
   * savepoint with the effect's first statement, the kept answer with COMMIT: with a
   * one-statement effect, four round trips */
  int rc = yw_pg_begin_deferred(conn, &err);
  /* how long a second call waits for the first: a share of its time left, bounded */
  int64_t left = yw_rpc_call_ms_left(call);
  int pct = o->wait_pct > 0 && o->wait_pct <= 100 ? o->wait_pct : 50;
  int64_t wait = left == INT64_MAX ? INT64_MAX : left * pct / 100;
  int64_t wmax = o->wait_max_ms > 0 ? o->wait_max_ms : 10000;
  if (wait > wmax) wait = wmax;
  if (wait < 1) wait = 1;
  /* lock_timeout bounds the claim's wait only: the effect's own lock waits end with the
   * call's deadline (statement_timeout), as they would without a key */
  char lt_before[32] = "0";
  if (rc == 0) {
    char lt[32];
    snprintf(lt, sizeof lt, "%lldms", (long long)wait);
    const char *p[] = {lt};
    PGresult *r = NULL;
    rc = yw_pg_query(conn,
                     "SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)",
                     1, p, &r, &err);
    if (rc == 0) snprintf(lt_before, sizeof lt_before, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  int claimed = 0;
  long long expires = 0;
  if (rc == 0) rc = yw_pg_schema_sql(sql, sizeof sql, CLAIM_SQL, o->schema);
  if (rc == 0) {
    char fph[2 * FP_LEN + 1], off[32], ttl[32];
    yw_hex_encode(ic->fp, FP_LEN, fph);
    snprintf(off, sizeof off, "%lld", (long long)o->clock_offset_s);
    snprintf(ttl, sizeof ttl, "%d", ic->ttl_s);
    const char *p[] = {ic->scope, ic->key, fph, off, ttl};
    PGresult *r = NULL;
    rc = yw_pg_query(conn, sql, 5, p, &r, &err);
    if (rc == 0) {
      claimed = PQntuples(r) == 1;
      if (claimed) expires = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    if (rc != 0 && strcmp(err.sqlstate, "55P03") == 0) { /* lock_timeout: the first still runs */
      yw_pg_rollback(conn);
      yw_pg_pool_release(pool, conn);
      return answer_in_progress(call);
    }
  }
  if (rc == 0 && !claimed) {
    int answered = 0;
    rc = read_kept(ic, conn, response, &err, &answered);
    yw_pg_rollback(conn); /* nothing was written */
    yw_pg_pool_release(pool, conn);
    if (answered) return rc;
    return yw_service_db_fail(call, rc, &err);
  }
  if (rc == 0) {
    const char *p[] = {lt_before};
    rc = yw_pg_defer(conn, "SELECT set_config('lock_timeout', $1, true)", 1, p);
  }
  if (rc == 0) rc = yw_pg_defer(conn, "SAVEPOINT yw_idem", 0, NULL);
  if (rc != 0) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }

  /* the effect, on the transaction that holds the claim */
  ProtobufCMessage *resp = NULL;
  int frc = fn(call, conn, req, &resp, arg);
  grpc_status_code st = yw_err_to_grpc(frc);
  if (frc == 0 && resp == NULL) {
    frc = yw_rpc_call_fail(call, YW_EINTERNAL, "the handler answered nothing");
    st = GRPC_STATUS_INTERNAL;
  }
  if (kept_code(st) > 0) { /* transient: nothing is kept, a retry runs again */
    yw_pg_rollback(conn);
    yw_pg_pool_release(pool, conn);
    return frc;
  }
  if (frc != 0) {
    rc = yw_pg_query(conn, "ROLLBACK TO SAVEPOINT yw_idem", 0, NULL, NULL, &err);
    resp = NULL;
  }
  const char *message = frc != 0 ? yw_rpc_call_status_message(call) : "";
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  char *hex = rc == 0 ? pack_hex(ic, resp, &raw, &raw_len) : NULL;
  if (rc == 0 && hex == NULL) rc = YW_ENOMEM;
  if (rc == 0) rc = yw_pg_schema_sql(sql, sizeof sql, KEEP_SQL, o->schema);
  if (rc == 0) {
    char sts[8];
    snprintf(sts, sizeof sts, "%d", (int)st);
    char msg[MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "%s", message);
    const char *p[] = {ic->scope, ic->key, sts, msg, hex};
    rc = yw_pg_query_commit(conn, sql, 5, p, NULL, &err);
  }
  if (rc != 0) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(pool, conn);
    if (rc == YW_ENOMEM) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
    return yw_service_db_fail(call, rc, &err);
  }
  /* now and then, a bounded purge of expired rows on the same connection */
  int every = o->purge_every == 0 ? 100 : o->purge_every;
  if (every > 0 && (atomic_fetch_add(&claims, 1) + 1) % (unsigned)every == 0) {
    yw_pg_error perr;
    (void)yw_idem_purge(conn, o->schema, PURGE_LIMIT, o->clock_offset_s, &perr);
  }
  yw_pg_pool_release(pool, conn);
  char msg[MESSAGE_MAX + 1];
  snprintf(msg, sizeof msg, "%s", message);
  cache_store(ic, expires, (int)st, msg, raw, raw_len);
  if (frc != 0) return frc;
  *response = resp;
  return 0;
}

/* The call without a key: fn in a transaction of its own. */
static int run_plain(yw_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **response,
                     yw_pg_pool *pool, const yw_idem_opts *o, yw_idem_fn fn, void *arg) {
  PGconn *conn = yw_service_db(call, pool, o->db_wait_ms > 0 ? o->db_wait_ms : 2000);
  if (conn == NULL) return yw_rpc_call_fail(call, YW_EUNAVAIL, "the database is busy");
  yw_pg_error err;
  memset(&err, 0, sizeof err);
  int rc = yw_pg_begin_deferred(conn, &err);
  if (rc != 0) {
    yw_pg_pool_release(pool, conn);
    return yw_service_db_fail(call, rc, &err);
  }
  ProtobufCMessage *resp = NULL;
  int frc = fn(call, conn, req, &resp, arg);
  if (frc == 0 && resp == NULL) frc = yw_rpc_call_fail(call, YW_EINTERNAL, "the handler answered nothing");
  if (frc != 0) {
    yw_pg_rollback(conn);
    yw_pg_pool_release(pool, conn);
    return frc;
  }
  rc = yw_pg_commit(conn, &err);
  if (rc != 0) yw_pg_rollback(conn);
  yw_pg_pool_release(pool, conn);
  if (rc != 0) return yw_service_db_fail(call, rc, &err);
  *response = resp;
  return 0;
}

int yw_idem_run(yw_rpc_call *call, const ProtobufCMessage *request, ProtobufCMessage **response,
                yw_pg_pool *pool, const yw_idem_opts *o, yw_idem_fn fn, void *arg) {
  if (o == NULL || !yw_pg_schema_ok(o->schema) || o->keys == NULL || o->response == NULL || fn == NULL)
    return yw_rpc_call_fail(call, YW_EINTERNAL, "idempotency is not configured");
  const char *key = yw_rpc_call_metadata(call, YW_IDEM_METADATA);
  if (key == NULL) {
    if (o->require_key)
      return yw_rpc_call_fail(call, YW_EINVAL, "this request needs an Idempotency-Key");
    return run_plain(call, request, response, pool, o, fn, arg);
  }
  if (!yw_idem_key_valid(key))
    return yw_rpc_call_fail(call, YW_EINVAL,
                            "Idempotency-Key must be 1 to 255 printable ASCII characters");
  yw_caller caller;
  int rc = yw_rpc_call_caller(call, o->keys, &caller);
  if (rc != 0) return rc;
  idem_call ic = {.call = call, .o = o, .key = key,
                  .ttl_s = o->ttl_s > 0 ? o->ttl_s : YW_IDEM_TTL_DEFAULT_S};
  make_scope(&caller, ic.scope, sizeof ic.scope);
  rc = fingerprint(call, request, ic.fp);
  if (rc != 0) return yw_rpc_call_fail(call, rc, "cannot fingerprint the request");
  /* the cache key: the scope and the key, hashed (keys are the client's text) */
  size_t sl = strlen(ic.scope), kl = strlen(key);
  char *both = yw_arena_alloc(yw_rpc_call_arena(call), sl + kl + 2);
  if (both == NULL) return yw_rpc_call_fail(call, YW_ENOMEM, "out of memory");
  memcpy(both, ic.scope, sl);
  both[sl] = '\n';
  memcpy(both + sl + 1, key, kl + 1);
  char h[65];
  yw_sha256_hex(both, sl + kl + 1, h);
  snprintf(ic.cache_key, sizeof ic.cache_key, "%s:idem:%s:%s",
           o->redis_prefix != NULL ? o->redis_prefix : "yw", o->schema, h);
  if (cache_lookup(&ic, response, &rc)) return rc;
  return run_keyed(&ic, request, response, pool, fn, arg);
}
