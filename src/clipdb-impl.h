/* Internal declarations shared across clipdb's source files. Not installed. */
#ifndef CLIPDB_IMPL_H
#define CLIPDB_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "clipdb.h"

#define CLIPDB__ERROR_SIZE 512

#if defined(__GNUC__)
#define CLIPDB__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLIPDB__PRINTF(a, b)
#endif

/*
 * Record a failure: formats the message into the calling thread's last-error buffer and, if
 * `handle_buf` is not NULL, into that handle's CLIPDB__ERROR_SIZE buffer too. Returns
 * `status` so callers can write `return clipdb__error(...)`.
 */
clipdb_status clipdb__error(char *handle_buf, clipdb_status status, const char *fmt, ...)
    CLIPDB__PRINTF(3, 4);

/* Library log (no-op unless clipdb_log_set installed a callback). */
void clipdb__log(clipdb_log_level level, const char *fmt, ...) CLIPDB__PRINTF(2, 3);

/*
 * Library allocator. 64-byte aligned, padded by CLIPDB__EXTRA_BYTES (so SIMD kernels and
 * XNNPACK may read past the end), counted in clipdb_allocated_bytes(). NULL on failure (the
 * caller reports OUT_OF_MEMORY with the size). clipdb__free(NULL) is a no-op.
 */
#define CLIPDB__EXTRA_BYTES 64
void *clipdb__malloc(size_t size);
void *clipdb__calloc(size_t count, size_t size);
void *clipdb__realloc(void *ptr, size_t size);
void clipdb__free(void *ptr);
/* Bytes of this thread's last failed clipdb__malloc/calloc/realloc request, then 0 until the
 * next failure (clipdb__error adds it to every OUT_OF_MEMORY message). */
size_t clipdb__take_failed_request(void);

/* Vector index: turn the int8 candidate pass on (1, the default) or off (0: every search scores
 * every row in float32). Results are identical either way; tests compare the two. */
void clipdb__index_set_prefilter(clipdb_index_t *index, int on);

#endif /* CLIPDB_IMPL_H */
