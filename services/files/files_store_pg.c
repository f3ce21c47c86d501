/*
 * files_store_pg.c - the file store in PostgreSQL (files_store.h): every copy of
 * yw-files shares it, and nothing lives on a copy's disk.
 *
 * Bytes travel as bytea in hex text (the runtime's statements take text parameters):
 * twice the bytes on the wire, in return for one way of running statements. A chunk row
 * holds at most FILES_CHUNK_MAX bytes, so no statement carries more than a few of them.
 * Commit moves an upload's rows into the blob's inside PostgreSQL (INSERT ... SELECT),
 * without their bytes coming back here; deduplication is the blob's primary key: of
 * two commits of the same bytes the second finds the row and drops its copy. Each
 * commit is one hold on the blob (holds, the same statement that inserts it); release
 * takes one away under the row's lock and deletes the blob with the last, so bytes a
 * good upload shares with a refused one stay.
 *
 * Offers: files_store_pg_new.
 */
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files_store.h"
#include "yw_err.h"

typedef struct pg_store {
  files_store base;
  yw_pg_pool *pool;
  int wait_ms;
} pg_store;

static PGconn *take(pg_store *s, int64_t deadline_ms) {
  if (deadline_ms <= 0) return NULL;
  int wait = s->wait_ms;
  if (deadline_ms < wait) wait = (int)deadline_ms;
  PGconn *c = yw_pg_pool_acquire(s->pool, wait);
  if (c != NULL) yw_pg_set_deadline(c, deadline_ms);
  return c;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* bytea's text output ("\x0a1b...") into out (room for (len - 2) / 2 bytes). */
static long bytea_decode(const char *text, size_t len, uint8_t *out) {
  if (len < 2 || text[0] != '\\' || text[1] != 'x' || (len - 2) % 2 != 0) return -1;
  size_t n = (len - 2) / 2;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(text[2 + 2 * i]), lo = hexval(text[3 + 2 * i]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return (long)n;
}

/* data as bytea's hex input ("\x0a1b..."), malloc'd. */
static char *bytea_encode(const uint8_t *data, size_t len) {
  static const char hex[] = "0123456789abcdef";
  char *t = malloc(2 * len + 3);
  if (t == NULL) return NULL;
  t[0] = '\\';
  t[1] = 'x';
  for (size_t i = 0; i < len; i++) {
    t[2 + 2 * i] = hex[data[i] >> 4];
    t[3 + 2 * i] = hex[data[i] & 15];
  }
  t[2 + 2 * len] = '\0';
  return t;
}

static int pg_begin_upload(files_store *base, int64_t max_size, char id[FILES_UPLOAD_ID_LEN + 1],
                           int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  char max[24];
  snprintf(max, sizeof max, "%lld", (long long)max_size);
  const char *p[] = {max};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(c,
                             "INSERT INTO files.uploads (id, max_size) "
                             "VALUES (gen_random_uuid(), $1::bigint) RETURNING id::text",
                             1, p, &r, NULL);
  if (rc == 0) {
    snprintf(id, FILES_UPLOAD_ID_LEN + 1, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  yw_pg_pool_release(s->pool, c);
  return rc;
}

/* Why an upload took no chunk at offset: gone, out of order or over its size. */
static int put_refused(PGconn *c, const char *upload_id, int64_t offset, size_t len,
                       int64_t *received) {
  const char *p[] = {upload_id};
  PGresult *r = NULL;
  int rc = yw_pg_query_read(c, "SELECT received, max_size FROM files.uploads WHERE id = $1::uuid",
                            1, p, &r, NULL);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return YW_ENOTFOUND;
  }
  long long got = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  long long max = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
  PQclear(r);
  *received = got;
  if (got != offset) return YW_EPRECOND;
  return got + (long long)len > max ? YW_ETOOBIG : YW_EPRECOND;
}

static int pg_put(files_store *base, const char *upload_id, int64_t offset, const uint8_t *data,
                  size_t len, int64_t *received, int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  if (len == 0 || len > FILES_CHUNK_MAX || offset < 0) return YW_EINVAL;
  char *hex = bytea_encode(data, len);
  if (hex == NULL) return YW_ENOMEM;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) {
    free(hex);
    return YW_EUNAVAIL;
  }
  char off[24], n[24];
  snprintf(off, sizeof off, "%lld", (long long)offset);
  snprintf(n, sizeof n, "%zu", len);
  const char *p[] = {upload_id, off, n, hex};
  PGresult *r = NULL;
  /* one statement: the count moves only when the chunk is where the count was, and
   * the chunk is kept only when the count moved */
  int rc = yw_pg_query_write(
      c,
      "WITH moved AS (UPDATE files.uploads SET received = received + $3::bigint "
      "  WHERE id = $1::uuid AND received = $2::bigint AND received + $3::bigint <= max_size "
      "  RETURNING id, received), "
      "kept AS (INSERT INTO files.upload_chunks (upload_id, off, data) "
      "  SELECT id, $2::bigint, $4::bytea FROM moved RETURNING 1) "
      "SELECT received FROM moved, kept",
      4, p, &r, NULL);
  free(hex);
  if (rc == 0) {
    if (PQntuples(r) == 1)
      *received = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
      rc = put_refused(c, upload_id, offset, len, received);
    PQclear(r);
  } else if (rc == YW_EINVAL) {
    rc = YW_ENOTFOUND; /* not a uuid */
  }
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static int pg_seal(files_store *base, const char *upload_id, files_sealed *out,
                   int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  memset(out, 0, sizeof *out);
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  uint8_t *buf = malloc(FILES_CHUNK_MAX);
  int rc = md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ? YW_ENOMEM : 0;
  const char *p1[] = {upload_id};
  PGresult *r = NULL;
  long long received = 0;
  if (rc == 0)
    rc = yw_pg_query_read(c, "SELECT received FROM files.uploads WHERE id = $1::uuid", 1, p1, &r,
                          NULL);
  if (rc == YW_EINVAL) rc = YW_ENOTFOUND;
  if (rc == 0) {
    if (PQntuples(r) == 0)
      rc = YW_ENOTFOUND;
    else
      received = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
  }
  /* chunk by chunk, in order: never the whole file in memory */
  long long at = 0;
  while (rc == 0 && at < received) {
    char off[24];
    snprintf(off, sizeof off, "%lld", at);
    const char *p[] = {upload_id, off};
    rc = yw_pg_query_read(c,
                          "SELECT data FROM files.upload_chunks "
                          "WHERE upload_id = $1::uuid AND off = $2::bigint",
                          2, p, &r, NULL);
    if (rc != 0) break;
    long n = PQntuples(r) == 1 ? bytea_decode(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), buf)
                               : -1;
    PQclear(r);
    if (n <= 0 || n > FILES_CHUNK_MAX) {
      rc = YW_EINTERNAL; /* the count and the chunks disagree */
      break;
    }
    if (out->head_len < YW_SNIFF_BYTES) {
      size_t k = YW_SNIFF_BYTES - out->head_len;
      if (k > (size_t)n) k = (size_t)n;
      memcpy(out->head + out->head_len, buf, k);
      out->head_len += k;
    }
    if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) rc = YW_EINTERNAL;
    at += n;
  }
  if (rc == 0) {
    uint8_t digest[32];
    unsigned dlen = 0;
    if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 32) {
      rc = YW_EINTERNAL;
    } else {
      static const char hex[] = "0123456789abcdef";
      for (int i = 0; i < 32; i++) {
        out->sha256[2 * i] = hex[digest[i] >> 4];
        out->sha256[2 * i + 1] = hex[digest[i] & 15];
      }
      out->sha256[64] = '\0';
      out->size = received;
    }
  }
  EVP_MD_CTX_free(md);
  free(buf);
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static int pg_keep(files_store *base, const char *upload_id, const files_sealed *sealed,
                   const char *content_type, int *existed, int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  char size[24];
  snprintf(size, sizeof size, "%lld", (long long)sealed->size);
  const char *pu[] = {upload_id};
  const char *pb[] = {sealed->sha256, size, content_type};
  const char *pc[] = {upload_id, sealed->sha256};
  PGresult *r = NULL;
  int rc = yw_pg_begin(c, NULL);
  if (rc == 0) {
    /* the upload, held until the end: a second Commit of it waits and finds it gone */
    rc = yw_pg_query(c, "SELECT received FROM files.uploads WHERE id = $1::uuid FOR UPDATE", 1, pu,
                     &r, NULL);
    if (rc == 0) {
      if (PQntuples(r) == 0 || strtoll(PQgetvalue(r, 0, 0), NULL, 10) != sealed->size)
        rc = YW_ENOTFOUND;
      PQclear(r);
    }
  }
  if (rc == 0) {
    /* one hold more: 1 on a new row, the row's count + 1 on one stored already (its
     * lock then held to the end, so a release of it waits for this commit) */
    rc = yw_pg_query(c,
                     "INSERT INTO files.blobs (sha256, size, content_type, holds) "
                     "VALUES ($1, $2::bigint, $3, 1) "
                     "ON CONFLICT (sha256) DO UPDATE SET holds = files.blobs.holds + 1 "
                     "RETURNING holds",
                     3, pb, &r, NULL);
    if (rc == 0) {
      *existed = PQntuples(r) == 1 && strtoll(PQgetvalue(r, 0, 0), NULL, 10) > 1;
      if (PQntuples(r) != 1) rc = YW_EINTERNAL;
      PQclear(r);
    }
  }
  if (rc == 0 && !*existed)
    rc = yw_pg_query(c,
                     "INSERT INTO files.chunks (sha256, off, data) "
                     "SELECT $2, off, data FROM files.upload_chunks WHERE upload_id = $1::uuid",
                     2, pc, NULL, NULL);
  if (rc == 0)
    rc = yw_pg_query(c, "DELETE FROM files.uploads WHERE id = $1::uuid", 1, pu, NULL, NULL);
  if (rc == 0)
    rc = yw_pg_commit(c, NULL);
  else
    yw_pg_rollback(c);
  yw_pg_pool_release(s->pool, c);
  return rc;
}

/* Runs a DELETE ... RETURNING 1 of one row by key: YW_ENOTFOUND when none went. */
static int delete_one(pg_store *s, const char *sql, const char *key, int64_t deadline_ms) {
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  const char *p[] = {key};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(c, sql, 1, p, &r, NULL);
  if (rc == YW_EINVAL) rc = YW_ENOTFOUND; /* not a uuid */
  if (rc == 0) {
    if (PQntuples(r) == 0) rc = YW_ENOTFOUND;
    PQclear(r);
  }
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static int pg_abort(files_store *base, const char *upload_id, int64_t deadline_ms) {
  return delete_one((pg_store *)base, "DELETE FROM files.uploads WHERE id = $1::uuid RETURNING 1",
                    upload_id, deadline_ms);
}

static int stat_on(PGconn *c, const char *sha256, files_stat *out) {
  const char *p[] = {sha256};
  PGresult *r = NULL;
  int rc = yw_pg_query_read(c, "SELECT size, content_type FROM files.blobs WHERE sha256 = $1", 1,
                            p, &r, NULL);
  if (rc != 0) return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return YW_ENOTFOUND;
  }
  out->size = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  snprintf(out->content_type, sizeof out->content_type, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  return 0;
}

static int pg_stat(files_store *base, const char *sha256, files_stat *out, int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  int rc = stat_on(c, sha256, out);
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static int pg_read(files_store *base, const char *sha256, int64_t offset, size_t len,
                   uint8_t *buf, size_t *got, files_stat *st, int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  *got = 0;
  if (offset < 0 || len > 4 * FILES_CHUNK_MAX) return YW_EINVAL;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  int rc = stat_on(c, sha256, st);
  if (rc == 0 && offset < st->size && len > 0) {
    int64_t end = offset + (int64_t)len;
    if (end > st->size) end = st->size;
    char from[24], to[24];
    snprintf(from, sizeof from, "%lld", (long long)offset);
    snprintf(to, sizeof to, "%lld", (long long)end);
    const char *p[] = {sha256, from, to};
    PGresult *r = NULL;
    /* the chunks that overlap [from, to), cut to it in the database */
    rc = yw_pg_query_read(
        c,
        "SELECT off, substring(data FROM (greatest($2::bigint - off, 0) + 1)::int "
        "  FOR (least($3::bigint, off + length(data)) - greatest($2::bigint, off))::int) "
        "FROM files.chunks WHERE sha256 = $1 AND off < $3::bigint "
        "  AND off + length(data) > $2::bigint ORDER BY off",
        3, p, &r, NULL);
    if (rc == 0) {
      size_t o = 0;
      for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        long long off = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        size_t tl = (size_t)PQgetlength(r, i, 1);
        long long at = off > offset ? off : offset;
        if ((size_t)(at - offset) != o || tl < 2 || o + (tl - 2) / 2 > len ||
            bytea_decode(PQgetvalue(r, i, 1), tl, buf + o) < 0)
          rc = YW_EINTERNAL; /* a hole in the chunks */
        else
          o += (tl - 2) / 2;
      }
      if (rc == 0 && (int64_t)o != end - offset) rc = YW_EINTERNAL;
      if (rc == 0) *got = o;
      PQclear(r);
    }
  }
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static int pg_del(files_store *base, const char *sha256, int64_t deadline_ms) {
  return delete_one((pg_store *)base, "DELETE FROM files.blobs WHERE sha256 = $1 RETURNING 1",
                    sha256, deadline_ms);
}

static int pg_release(files_store *base, const char *sha256, int *deleted, int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  *deleted = 0;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  const char *p[] = {sha256};
  PGresult *r = NULL;
  int rc = yw_pg_begin(c, NULL);
  int holds = 0;
  if (rc == 0) {
    rc = yw_pg_query(c, "SELECT holds FROM files.blobs WHERE sha256 = $1 FOR UPDATE", 1, p, &r,
                     NULL);
    if (rc == 0) {
      if (PQntuples(r) == 0)
        rc = YW_ENOTFOUND;
      else
        holds = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
      PQclear(r);
    }
  }
  if (rc == 0 && holds > 1)
    rc = yw_pg_query(c, "UPDATE files.blobs SET holds = holds - 1 WHERE sha256 = $1", 1, p, NULL,
                     NULL);
  else if (rc == 0) /* the last hold: the blob goes, its chunks by cascade */
    rc = yw_pg_query(c, "DELETE FROM files.blobs WHERE sha256 = $1", 1, p, NULL, NULL);
  if (rc == 0)
    rc = yw_pg_commit(c, NULL);
  else
    yw_pg_rollback(c);
  if (rc == 0) *deleted = holds <= 1;
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static int pg_purge(files_store *base, int older_than_s, int *purged, int64_t deadline_ms) {
  pg_store *s = (pg_store *)base;
  *purged = 0;
  PGconn *c = take(s, deadline_ms);
  if (c == NULL) return YW_EUNAVAIL;
  char secs[24];
  snprintf(secs, sizeof secs, "%d", older_than_s);
  const char *p[] = {secs};
  PGresult *r = NULL;
  int rc = yw_pg_query_write(c,
                             "DELETE FROM files.uploads "
                             "WHERE created_at <= now() - make_interval(secs => $1::int) RETURNING 1",
                             1, p, &r, NULL);
  if (rc == 0) {
    *purged = PQntuples(r);
    PQclear(r);
  }
  yw_pg_pool_release(s->pool, c);
  return rc;
}

static void pg_free(files_store *base) { free(base); }

static const files_store_ops pg_ops = {
    .begin = pg_begin_upload, .put = pg_put,   .seal = pg_seal,   .keep = pg_keep,
    .abort = pg_abort,        .stat = pg_stat, .read = pg_read,   .del = pg_del,
    .release = pg_release,    .purge = pg_purge, .free = pg_free,
};

int files_store_pg_new(yw_pg_pool *pool, int wait_ms, files_store **out) {
  pg_store *s = calloc(1, sizeof *s);
  if (s == NULL) return YW_ENOMEM;
  s->base.ops = &pg_ops;
  s->pool = pool;
  s->wait_ms = wait_ms;
  *out = &s->base;
  return 0;
}
