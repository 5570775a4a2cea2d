/*
 * Compute backends: each implements the GEMM boundary (gemm.h) behind one small struct, so a
 * build can hold several and one process (a test, a bench) can run each in turn.
 *
 *   "simd"     our packed-panel engine (src/nn/backend-simd/) on the current kernel
 *              configuration (src/kernels/config.h); every build has it. The build called
 *              `scalar` is this backend starting on the "scalar" kernel configuration.
 *   "xnnpack"  XNNPACK's fully connected operator (src/nn/backend-xnnpack/), in builds
 *              configured with CLIPDB_BACKEND=xnnpack (native, Debian libxnnpack-dev).
 *
 * clipdb__gemm_pack packs with the current backend; the packed weights remember their backend
 * (the head below), so clipdb__gemm_run / _free / _weights_bytes always reach the backend that
 * made them, whatever is current later. A model therefore keeps the backend it was loaded on.
 * Attention, layer norm and the rest are the same code for every backend (ops.h).
 */
#ifndef CLIPDB_NN_BACKEND_H
#define CLIPDB_NN_BACKEND_H

#include <stddef.h>

#include "gemm.h"

typedef struct clipdb__backend {
  const char *name;
  /* the four operations of gemm.h, with the same contracts; pack sets the weights' head */
  clipdb__gemm_weights *(*gemm_pack)(size_t n, size_t k, const float *w, size_t stride_n,
                                     size_t stride_k, const float *bias);
  void (*gemm_free)(clipdb__gemm_weights *w);
  size_t (*gemm_weights_bytes)(const clipdb__gemm_weights *w);
  void (*gemm_run)(size_t m, size_t n, size_t k, const float *a, size_t lda,
                   const clipdb__gemm_weights *w, float *c, size_t ldc, clipdb_epilogue ep);
} clipdb__backend;

/* The head of every backend's packed weights: the first member of its own struct. */
struct clipdb__gemm_weights {
  const clipdb__backend *backend;
};

extern const clipdb__backend clipdb__backend_simd;
#if defined(CLIPDB_WITH_XNNPACK)
extern const clipdb__backend clipdb__backend_xnnpack;
#endif

/* The backends this build holds, the build's default first; NULL-terminated. */
extern const clipdb__backend *const clipdb__backends[];

/* The backend clipdb__gemm_pack uses now (never NULL). The process starts on the build's
 * default (CMake's CLIPDB_BACKEND), or natively on the environment variable CLIPDB_BACKEND
 * where it names a backend of this build (an unknown name there is ignored). */
const clipdb__backend *clipdb__backend_current(void);

/* The backend called `name` in this build, or NULL. */
const clipdb__backend *clipdb__backend_find(const char *name);

/* Make `name` the current backend, process-wide: 0, or -1 when this build has no backend of
 * that name (the current one is kept). Models loaded before keep theirs. Not while a model
 * loads. */
int clipdb__backend_select(const char *name);

#endif
