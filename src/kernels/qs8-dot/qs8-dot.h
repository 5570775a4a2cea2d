/*
 * qs8-dot microkernels: exact integer dot products of one int16 query against `rows` rows of
 * int8 codes (the vector index's quantized copy, used to find candidates before the exact
 * float32 scores are computed).
 *
 *   out[r] = sum_{i < dim} (int32) q[i] * (int32) m[r * stride + i]      for r in [0, rows)
 *
 * Shapes: q int16 [dim]; m int8 [rows, stride] row-major with stride >= dim (elements);
 * out int32 [rows]. No alignment is required; dim may be any size >= 1. The caller keeps
 * |q[i]| * 127 * dim below 2^31 so that no sum overflows; then every kernel returns exactly
 * the scalar kernel's sums (integer addition is exact in any order), which
 * tests/c/test-index.c and tests/js/index.test.mjs check. Kernels never allocate or fail.
 */
#ifndef CLIPDB_KERNELS_QS8_DOT_H
#define CLIPDB_KERNELS_QS8_DOT_H

#include <stddef.h>
#include <stdint.h>

typedef void (*clipdb_qs8_dot_ukernel_fn)(size_t rows, size_t dim, const int16_t *q,
                                          const int8_t *m, size_t stride, int32_t *out);

/* Portable C: the reference. */
void clipdb_qs8_dot_ukernel__scalar(size_t rows, size_t dim, const int16_t *q, const int8_t *m,
                                    size_t stride, int32_t *out);

#if defined(CLIPDB_WASM_SIMD)
/* wasm SIMD128: 16 codes per step, widened to int16 and multiplied with i32x4.dot_i16x8_s. */
void clipdb_qs8_dot_ukernel__wasmsimd_u16(size_t rows, size_t dim, const int16_t *q,
                                          const int8_t *m, size_t stride, int32_t *out);
#endif

#endif /* CLIPDB_KERNELS_QS8_DOT_H */
