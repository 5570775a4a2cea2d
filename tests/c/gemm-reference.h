/*
 * The reference GEMM the backends' GEMM boundary (src/nn/gemm.h) is tested against
 * (gemm-reference.c): plain float32 loops, packed panels of NR = 8 output columns, each
 * [bias[8], W[p][8] for p < k], accumulated in k order; the same epilogue
 * (src/kernels/epilogue.h).
 */
#ifndef CLIPDB_TESTS_GEMM_REFERENCE_H
#define CLIPDB_TESTS_GEMM_REFERENCE_H

#include "nn/gemm.h"

#define CLIPDB__GEMM_PORTABLE_NR 8
size_t clipdb__gemm_packed_floats_portable(size_t n, size_t k);
void clipdb__gemm_pack_portable(size_t n, size_t k, const float *w, size_t stride_n,
                                size_t stride_k, const float *bias, float *packed);
void clipdb__gemm_run_portable(size_t m, size_t n, size_t k, const float *a, size_t lda,
                               const float *packed, float *c, size_t ldc, clipdb_epilogue ep);

#endif
