/*
 * The backend table, the current backend, and the GEMM boundary's four functions (gemm.h)
 * dispatched through it (see backend.h).
 */
#include "backend.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../clipdb-impl.h"

#ifndef CLIPDB_BACKEND_NAME
#define CLIPDB_BACKEND_NAME "simd"
#endif

/* XNNPACK is compiled in only by an xnnpack build (CMakeLists.txt), whose default it is. */
const clipdb__backend *const clipdb__backends[] = {
#if defined(CLIPDB_WITH_XNNPACK)
    &clipdb__backend_xnnpack,
#endif
    &clipdb__backend_simd,
    NULL,
};

const clipdb__backend *clipdb__backend_find(const char *name) {
  if (name == NULL) return NULL;
  for (size_t i = 0; clipdb__backends[i] != NULL; i++)
    if (strcmp(clipdb__backends[i]->name, name) == 0) return clipdb__backends[i];
  return NULL;
}

/* Set once from the default (or CLIPDB_BACKEND) on first use, then only by
 * clipdb__backend_select. */
static _Atomic(const clipdb__backend *) current;

const clipdb__backend *clipdb__backend_current(void) {
  const clipdb__backend *b = atomic_load_explicit(&current, memory_order_acquire);
  if (b == NULL) {
    const clipdb__backend *def = clipdb__backends[0];
#if !defined(__EMSCRIPTEN__)
    const clipdb__backend *env = clipdb__backend_find(getenv("CLIPDB_BACKEND"));
    if (env != NULL) def = env;
#endif
    const clipdb__backend *expected = NULL;
    b = atomic_compare_exchange_strong(&current, &expected, def) ? def : expected;
  }
  return b;
}

int clipdb__backend_select(const char *name) {
  const clipdb__backend *b = clipdb__backend_find(name);
  if (b == NULL) return -1;
  atomic_store_explicit(&current, b, memory_order_release);
  return 0;
}

/* The build's name for its default backend ("scalar" is the simd backend on the scalar kernel
 * configuration), else the current backend's own. */
const char *clipdb_backend_name(void) {
  const clipdb__backend *b = clipdb__backend_current();
  return b == clipdb__backends[0] ? CLIPDB_BACKEND_NAME : b->name;
}

clipdb__gemm_weights *clipdb__gemm_pack(size_t n, size_t k, const float *w, size_t stride_n,
                                        size_t stride_k, const float *bias) {
  const clipdb__backend *b = clipdb__backend_current();
  clipdb__gemm_weights *p = b->gemm_pack(n, k, w, stride_n, stride_k, bias);
  if (p != NULL) p->backend = b;
  return p;
}

void clipdb__gemm_free(clipdb__gemm_weights *w) {
  if (w != NULL) w->backend->gemm_free(w);
}

size_t clipdb__gemm_weights_bytes(const clipdb__gemm_weights *w) {
  return w != NULL ? w->backend->gemm_weights_bytes(w) : 0;
}

void clipdb__gemm_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const clipdb__gemm_weights *w, float *c, size_t ldc, clipdb_epilogue ep) {
  w->backend->gemm_run(m, n, k, a, lda, w, c, ldc, ep);
}
