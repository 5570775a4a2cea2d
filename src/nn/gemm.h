/*
 * The GEMM kernel boundary (see src/nn/README.md): the one place a compute backend plugs in
 * its matrix multiply. Everything above it (linear layers, convolutions via im2col, the
 * encoders) only calls these four functions.
 *
 *   C[m, n] = epilogue(A[m, k] · W[n, k]ᵀ + bias[n])
 *
 * with the epilogue (residual add, activation) of src/kernels/epilogue.h, the one type every
 * GEMM of clipdb takes.
 *
 * W is packed once at model load (clipdb__gemm_pack) into the backend's own form, an opaque
 * clipdb__gemm_weights (the simd backend: 8-column panels for its microkernels; xnnpack: an
 * XNNPACK operator, which holds its own packed copy); clipdb__gemm_run multiplies with it. All
 * matrices are float32, row-major with explicit row strides in elements.
 */
#ifndef CLIPDB_NN_GEMM_H
#define CLIPDB_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels/epilogue.h"

/* One layer's packed W and bias, defined by the backend (opaque above the boundary). */
typedef struct clipdb__gemm_weights clipdb__gemm_weights;

/*
 * Pack W [n, k] and bias [n]. W element (j, p) (output j, input p) is read at
 * w[j*stride_n + p*stride_k] (torch Linear [n,k]: stride_n = k, stride_k = 1; a projection
 * used as x @ P [k,n]: stride_n = 1, stride_k = n). `bias` may be NULL (zeros). n, k >= 1.
 * Returns the packed form, owned by the caller (free with clipdb__gemm_free), or NULL when
 * out of memory or when the backend could not prepare the layer (xnnpack: XNNPACK failed to
 * initialise or to create its operator; logged).
 */
clipdb__gemm_weights *clipdb__gemm_pack(size_t n, size_t k, const float *w, size_t stride_n,
                                        size_t stride_k, const float *bias);

/* Frees `w` and whatever the backend attached to it (NULL allowed). */
void clipdb__gemm_free(clipdb__gemm_weights *w);

/* Bytes of weights `w` holds: the packed panels, or where a library keeps its own packed copy
 * (xnnpack), at least the float32 W and bias. */
size_t clipdb__gemm_weights_bytes(const clipdb__gemm_weights *w);

/*
 * C = epilogue(A · Wᵀ + bias) with `w` from clipdb__gemm_pack(n, k, ...). A: [m, k] rows `lda`
 * apart; C: [m, n] rows `ldc` apart. A and C must not overlap; the epilogue's residual may be C
 * itself (ep.residual = c, ep.residual_stride = ldc: an in-place add). m >= 1.
 */
void clipdb__gemm_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const clipdb__gemm_weights *w, float *c, size_t ldc, clipdb_epilogue ep);

#endif
