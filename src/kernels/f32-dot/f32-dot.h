/*
 * f32-dot microkernels: dot products of one query vector against `rows` rows of a matrix.
 *
 *   out[r] = sum_{i < dim} q[i] * m[r * stride + i]      for r in [0, rows)
 *
 * Shapes: q float32 [dim]; m float32 [rows, stride] row-major with stride >= dim (elements,
 * not bytes); out float32 [rows]. No alignment is required. dim may be any size >= 1
 * (kernels handle tails). Kernels never allocate and never fail; callers validate.
 *
 * The scalar kernel is the reference; every other ISA variant is tested against it
 * (tests/c/test-index.c natively, tests/js/index.test.mjs for wasm SIMD128).
 * Operators never name a kernel directly: they take it from the config table
 * (src/kernels/config.h).
 */
#ifndef CLIPDB_KERNELS_F32_DOT_H
#define CLIPDB_KERNELS_F32_DOT_H

#include <stddef.h>

typedef void (*clipdb_f32_dot_ukernel_fn)(size_t rows, size_t dim, const float *q, const float *m,
                                          size_t stride, float *out);

/* Portable C, 4 independent accumulators (unrolled by 4). */
void clipdb_f32_dot_ukernel__scalar(size_t rows, size_t dim, const float *q, const float *m,
                                    size_t stride, float *out);

#if defined(CLIPDB_WASM_SIMD)
/* wasm SIMD128: 4 f32x4 accumulators, 16 floats per step; multiply then add (no FMA). */
void clipdb_f32_dot_ukernel__wasmsimd_u16(size_t rows, size_t dim, const float *q,
                                          const float *m, size_t stride, float *out);
#endif

#endif /* CLIPDB_KERNELS_F32_DOT_H */
