/*
 * files.h - yw-files: the file store service (yiwang.files.v1.FilesService).
 *
 * Callers are the gateway only: every call must carry a caller the gateway signed
 * (any kind, anonymous included), so nothing reaches the store around the gateway's
 * upload limits and the owning services' authorisation of downloads.
 */
#ifndef YW_FILES_H
#define YW_FILES_H

#include <stdint.h>

#include "files_store.h"
#include "yw_caller.h"
#include "yw_embed.h"
#include "yw_rpc.h"

typedef struct files_ctx {
  files_store *store;
  int64_t max_size;           /* largest file, bytes: an upload's max_size is at most this */
  yw_caller_keys caller_keys; /* verify the gateway's caller metadata */
} files_ctx;

/* The service table; data must point to a files_ctx that outlives the server. */
void files_service_init(yw_rpc_service *svc, files_ctx *ctx);

/* Checks a sealed upload against what the sender said it sent (sha256, size) and the
 * types allowed, and decides the type it is stored under (out, 128 bytes). Returns 0,
 * YW_EINVAL (hash or size differ: the bytes were changed or lost on the way) or
 * YW_EPRECOND (a type that is not allowed, or a declared type the bytes contradict),
 * with why set to a static reason. */
int files_check(const files_sealed *sealed, const char *sha256, int64_t size,
                const char *declared_type, const char *allowed, char *type_out,
                size_t type_size, const char **why);

/* The schema's migrations, embedded at build time. */
extern const struct yw_embedded_file files_migrations[];
extern const unsigned files_migrations_count;

#endif
