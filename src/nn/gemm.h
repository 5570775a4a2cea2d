/*
 * The GEMM kernel boundary (see src/nn/README.md): the one place a compute backend plugs in
 * its matrix multiply. Everything above it (linear layers, convolutions via im2col, the
 * encoders) only calls these three functions.
 *
 *   C[m, n] = epilogue(A[m, k] · W[n, k]ᵀ + bias[n])
 *
 * W is packed once at model load (clipdb__gemm_pack) into a backend-defined layout of
 * clipdb__gemm_packed_floats(n, k) floats, bias included; clipdb__gemm_run multiplies with
 * the packed form. A backend may pick any panel width and order, as long as pack and run
 * agree. All matrices are float32, row-major with explicit row strides in elements.
 */
#ifndef CLIPDB_NN_GEMM_H
#define CLIPDB_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Epilogue flags, applied per element in this order: + bias, + old C (RESIDUAL), then one
 * activation (RELU or QUICKGELU). */
#define CLIPDB__GEMM_RESIDUAL 1u  /* C = C_old + (A·Wᵀ + bias) */
#define CLIPDB__GEMM_RELU 2u      /* max(0, v) */
#define CLIPDB__GEMM_QUICKGELU 4u /* v · sigmoid(1.702 v), CLIP's MLP activation */

/* Floats needed to hold W [n, k] plus bias [n] packed. */
size_t clipdb__gemm_packed_floats(size_t n, size_t k);

/*
 * Pack W and bias. W element (j, p) (output j, input p) is read at w[j*stride_n + p*stride_k]
 * (torch Linear [n,k]: stride_n = k, stride_k = 1; a projection used as x @ P [k,n]:
 * stride_n = 1, stride_k = n). `bias` [n] may be NULL (zeros). `packed` holds
 * clipdb__gemm_packed_floats(n, k) floats (clipdb__malloc alignment).
 */
int clipdb__gemm_pack(size_t n, size_t k, const float *w, size_t stride_n, size_t stride_k,
                      const float *bias, float *packed);

/*
 * Returns 0 on success; nonzero when the backend could not prepare the layer (the xnnpack
 * backend: XNNPACK failed to create its operator, i.e. out of memory). Release what pack
 * attached to `packed` with clipdb__gemm_release before freeing it (the xnnpack backend keeps
 * its operator there; the others attach nothing). NULL is allowed.
 */
void clipdb__gemm_release(float *packed);

/*
 * C = epilogue(A · Wᵀ + bias). A: [m, k] rows `lda` apart; C: [m, n] rows `ldc` apart.
 * A and C must not overlap. m, n, k >= 1.
 */
void clipdb__gemm_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const float *packed, float *c, size_t ldc, uint32_t flags);

#endif
