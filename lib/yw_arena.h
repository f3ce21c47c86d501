/*
 * yw_arena.h - a region allocator: one per request, stream or RPC, freed at once when
 * it ends (h2o pools, PostgreSQL memory contexts).
 *
 * Ownership: memory from yw_arena_alloc belongs to the arena and dies with
 * yw_arena_free; never free it one piece at a time. An arena has a hard cap on its
 * total size so that input cannot grow it without bound; past the cap allocation
 * returns NULL. Not thread-safe: an arena is used by one thread at a time.
 */
#ifndef YW_ARENA_H
#define YW_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct yw_arena yw_arena;

/* Creates an arena that refuses to grow past cap bytes (0 = 64 MiB). NULL on ENOMEM. */
yw_arena *yw_arena_new(size_t cap);

/* Frees every allocation of the arena and the arena itself. Accepts NULL. */
void yw_arena_free(yw_arena *a);

/* Returns size bytes aligned to 16, or NULL when out of memory or past the cap. */
void *yw_arena_alloc(yw_arena *a, size_t size);

/* Zeroed allocation of n * size bytes; NULL on overflow, ENOMEM or cap. */
void *yw_arena_calloc(yw_arena *a, size_t n, size_t size);

/* Copies s (len bytes, or strlen(s) when len is (size_t)-1) with a NUL. NULL on failure. */
char *yw_arena_strndup(yw_arena *a, const char *s, size_t len);

/* Bytes handed out so far. */
size_t yw_arena_used(const yw_arena *a);

/* A protobuf-c allocator drawing from the arena; its free is a no-op. The returned
 * pointer lives as long as the arena. */
ProtobufCAllocator *yw_arena_allocator(yw_arena *a);

#endif
