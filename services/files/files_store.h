/*
 * files_store.h - where the file store keeps its bytes: an interface (a table of
 * functions) that the PostgreSQL store implements and an object store could.
 *
 * The store knows bytes, not policy: it stages an upload's chunks, reports what it
 * received (size, SHA-256, first bytes) when sealed, keeps the bytes under their hash
 * (once per hash: content-addressed), reads ranges, and forgets. What is checked
 * (the sender's hash and size, the type) is decided by files.c above it.
 *
 * Every function returns 0 or a YW_E* code: YW_ENOTFOUND (no such upload or blob),
 * YW_EPRECOND (a chunk out of order), YW_ETOOBIG (past the upload's max_size),
 * YW_EUNAVAIL / YW_ETIMEOUT (the backing store), YW_ENOMEM. deadline_ms is the time
 * left for the operation (INT64_MAX: none).
 *
 * Threads: a store is shared by every handler thread; implementations are thread-safe.
 */
#ifndef FILES_STORE_H
#define FILES_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "yw_pg.h"
#include "yw_sniff.h"

#define FILES_UPLOAD_ID_LEN 36 /* a uuid's text */
#define FILES_SHA256_HEX 64
#define FILES_CHUNK_MAX (256 * 1024) /* the largest chunk put and read at once */

typedef struct files_store files_store;

/* What a sealed upload holds. */
typedef struct files_sealed {
  int64_t size;
  char sha256[FILES_SHA256_HEX + 1];   /* lower-case hex */
  uint8_t head[YW_SNIFF_BYTES];        /* its first bytes (fewer when shorter) */
  size_t head_len;
} files_sealed;

/* What a stored blob is. */
typedef struct files_stat {
  int64_t size;
  char content_type[128];
} files_stat;

typedef struct files_store_ops {
  /* Starts an upload of at most max_size bytes; writes its id (NUL-terminated). */
  int (*begin)(files_store *s, int64_t max_size, char id[FILES_UPLOAD_ID_LEN + 1],
               int64_t deadline_ms);
  /* Appends data at offset, which must be the bytes received so far (YW_EPRECOND
   * otherwise, with *received set to them); *received is the new count. */
  int (*put)(files_store *s, const char *upload_id, int64_t offset, const uint8_t *data,
             size_t len, int64_t *received, int64_t deadline_ms);
  /* Reads the upload's bytes through: their size, SHA-256 and first bytes. */
  int (*seal)(files_store *s, const char *upload_id, files_sealed *out, int64_t deadline_ms);
  /* Keeps a sealed upload's bytes under sha256 with content_type and ends the upload,
   * with one hold on the blob: a new blob has one, a blob stored already one more
   * (*existed is then 1 and the upload's bytes are dropped). */
  int (*keep)(files_store *s, const char *upload_id, const files_sealed *sealed,
              const char *content_type, int *existed, int64_t deadline_ms);
  /* Ends an upload and drops its bytes (a refused or abandoned one). */
  int (*abort)(files_store *s, const char *upload_id, int64_t deadline_ms);
  /* The size and type of a stored blob. */
  int (*stat)(files_store *s, const char *sha256, files_stat *out, int64_t deadline_ms);
  /* Reads up to len (<= FILES_CHUNK_MAX * 4) bytes at offset into buf; *got is how many
   * (0 at or past the end). */
  int (*read)(files_store *s, const char *sha256, int64_t offset, size_t len, uint8_t *buf,
              size_t *got, files_stat *st, int64_t deadline_ms);
  /* Forgets a blob whatever its holds (the owning services decide when no reference
   * is left). */
  int (*del)(files_store *s, const char *sha256, int64_t deadline_ms);
  /* Takes one hold away from a blob, in one transaction with the blob locked against
   * a concurrent keep or release; with its last the blob and its bytes go (as del).
   * *deleted is 1 then. YW_ENOTFOUND when no such blob. */
  int (*release)(files_store *s, const char *sha256, int *deleted, int64_t deadline_ms);
  /* Drops uploads started more than older_than_s seconds ago; *purged counts them. */
  int (*purge)(files_store *s, int older_than_s, int *purged, int64_t deadline_ms);
  /* Frees the store (not what it holds). Accepts NULL. */
  void (*free)(files_store *s);
} files_store_ops;

struct files_store {
  const files_store_ops *ops;
};

/*
 * The PostgreSQL store: tables of the files schema (migrations/), bytes in bytea rows
 * of at most FILES_CHUNK_MAX, one pooled connection per operation waited for at most
 * wait_ms. pool is borrowed. Returns 0 and *out, or YW_ENOMEM.
 */
int files_store_pg_new(yw_pg_pool *pool, int wait_ms, files_store **out);

#endif
