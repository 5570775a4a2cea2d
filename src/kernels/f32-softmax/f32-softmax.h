/*
 * Scaled softmax of one row in place: x[j] = exp(scale·(x[j] − max x)) / Σ (the attention
 * softmax with the 1/√head_dim scale folded in; torch.softmax semantics). n >= 1.
 * scalar.c uses expf; wasmsimd.c a polynomial exp (relative error ~1e-7, tested against the
 * twin in tests/js/kernels.test.mjs).
 */
#ifndef CLIPDB_KERNELS_F32_SOFTMAX_H
#define CLIPDB_KERNELS_F32_SOFTMAX_H

#include <stddef.h>

typedef void (*clipdb_f32_softmax_ukernel_fn)(size_t n, float scale, float *x);

void clipdb_f32_softmax_ukernel__scalar(size_t n, float scale, float *x);
#if defined(CLIPDB_WASM_SIMD)
void clipdb_f32_softmax_ukernel__wasmsimd(size_t n, float scale, float *x);
#endif

/* The kernel for this build (wasmsimd when compiled for wasm SIMD, else scalar). */
clipdb_f32_softmax_ukernel_fn clipdb__f32_softmax_default(void);

#endif
