/*
 * The library allocator: 64-byte alignment (cache lines, SIMD), CLIPDB__EXTRA_BYTES of
 * padding after every block, and a byte counter for leak checks (clipdb_allocated_bytes).
 * A 64-byte header in front of each block stores its size and the offset to the raw pointer.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../clipdb-impl.h"

#define ALIGN 64

static atomic_size_t allocated;
/* Size of this thread's most recent failed request (0: none since it was last reported). */
static _Thread_local size_t failed_request;

typedef struct header {
  size_t size;
  size_t offset; /* bytes from the raw malloc pointer to the user pointer */
} header;

void *clipdb__malloc(size_t size) {
  unsigned char *raw = NULL;
  if (size <= SIZE_MAX - 2 * ALIGN - CLIPDB__EXTRA_BYTES)
    raw = malloc(size + 2 * ALIGN + CLIPDB__EXTRA_BYTES);
  if (raw == NULL) {
    failed_request = size;
    return NULL;
  }
  uintptr_t user = ((uintptr_t)raw + sizeof(header) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
  header *h = (header *)(user - sizeof(header));
  h->size = size;
  h->offset = user - (uintptr_t)raw;
  atomic_fetch_add(&allocated, size);
  return (void *)user;
}

void *clipdb__calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    failed_request = SIZE_MAX;
    return NULL;
  }
  void *p = clipdb__malloc(count * size);
  if (p != NULL) memset(p, 0, count * size);
  return p;
}

void clipdb__free(void *ptr) {
  if (ptr == NULL) return;
  header *h = (header *)((uintptr_t)ptr - sizeof(header));
  atomic_fetch_sub(&allocated, h->size);
  free((unsigned char *)ptr - h->offset);
}

void *clipdb__realloc(void *ptr, size_t size) {
  if (ptr == NULL) return clipdb__malloc(size);
  header *h = (header *)((uintptr_t)ptr - sizeof(header));
  void *p = clipdb__malloc(size);
  if (p == NULL) return NULL;
  memcpy(p, ptr, h->size < size ? h->size : size);
  clipdb__free(ptr);
  return p;
}

size_t clipdb_allocated_bytes(void) { return atomic_load(&allocated); }

size_t clipdb__take_failed_request(void) {
  const size_t n = failed_request;
  failed_request = 0;
  return n;
}
