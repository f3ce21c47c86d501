/*
 * yw_arena.c - region allocator with a hard cap.
 *
 * Blocks are chained; small requests are carved from the current block, requests larger
 * than a quarter of the block size get a block of their own so they do not waste the
 * rest of the current one.
 *
 * Offers: yw_arena_new, yw_arena_free, yw_arena_alloc, yw_arena_calloc,
 * yw_arena_strndup, yw_arena_used, yw_arena_allocator.
 */
#include "yw_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192u
#define ARENA_ALIGN 16u

struct block {
  struct block *next;
  size_t size;
  size_t used;
  _Alignas(16) unsigned char data[];
};

struct yw_arena {
  struct block *head;
  size_t cap;
  size_t total;
  ProtobufCAllocator pb;
};

static void *pb_alloc(void *data, size_t size) { return yw_arena_alloc(data, size); }
static void pb_free(void *data, void *ptr) { (void)data; (void)ptr; }

yw_arena *yw_arena_new(size_t cap) {
  yw_arena *a = calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  a->cap = cap != 0 ? cap : (size_t)64 << 20;
  a->pb.alloc = pb_alloc;
  a->pb.free = pb_free;
  a->pb.allocator_data = a;
  return a;
}

void yw_arena_free(yw_arena *a) {
  if (a == NULL) return;
  struct block *b = a->head;
  while (b != NULL) {
    struct block *next = b->next;
    free(b);
    b = next;
  }
  free(a);
}

static struct block *block_new(yw_arena *a, size_t size) {
  if (size > a->cap || a->total > a->cap - size) return NULL;
  struct block *b = malloc(sizeof *b + size);
  if (b == NULL) return NULL;
  b->size = size;
  b->used = 0;
  a->total += size;
  return b;
}

void *yw_arena_alloc(yw_arena *a, size_t size) {
  if (size == 0) size = 1;
  if (size > SIZE_MAX - ARENA_ALIGN) return NULL;
  size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  struct block *b = a->head;
  if (b != NULL && b->size - b->used >= size) {
    void *p = b->data + b->used;
    b->used += size;
    return p;
  }
  if (size > ARENA_BLOCK / 4) {
    /* A big piece gets its own block behind the current one. */
    struct block *big = block_new(a, size);
    if (big == NULL) return NULL;
    big->used = size;
    if (b != NULL) {
      big->next = b->next;
      b->next = big;
    } else {
      big->next = NULL;
      a->head = big;
    }
    return big->data;
  }
  struct block *nb = block_new(a, ARENA_BLOCK);
  if (nb == NULL) return NULL;
  nb->next = a->head;
  a->head = nb;
  nb->used = size;
  return nb->data;
}

void *yw_arena_calloc(yw_arena *a, size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) return NULL;
  void *p = yw_arena_alloc(a, n * size);
  if (p != NULL) memset(p, 0, n * size);
  return p;
}

char *yw_arena_strndup(yw_arena *a, const char *s, size_t len) {
  if (len == (size_t)-1) len = strlen(s);
  char *p = yw_arena_alloc(a, len + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

size_t yw_arena_used(const yw_arena *a) { return a->total; }

ProtobufCAllocator *yw_arena_allocator(yw_arena *a) { return &a->pb; }
