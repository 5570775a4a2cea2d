/*
 * Portable qs8 GEMM microkernels: the scalar twins every SIMD kernel is checked against
 * (contract and packed layout: qs8-gemm.h).
 */
#include "qs8-gemm.h"

#define NR CLIPDB_QS8_GEMM_NR

#define DEFINE_SCALAR_UKERNEL(MR)                                                              \
  void clipdb_qs8_gemm_ukernel_##MR##x8c4__scalar(size_t mr, size_t kg, const int8_t *a,       \
                                                  size_t a_stride, const int8_t *w,            \
                                                  int32_t *acc) {                              \
    int32_t sum[MR][NR] = {{0}};                                                               \
    const int8_t *arow[MR];                                                                    \
    for (size_t i = 0; i < MR; i++) arow[i] = a + (i < mr ? i : mr - 1) * a_stride;           \
    w += 4 * NR; /* header: the VNNI kernel's column sums */                                   \
    for (size_t g = 0; g < kg; g++) {                                                          \
      for (size_t i = 0; i < MR; i++)                                                          \
        for (size_t j = 0; j < NR; j++)                                                        \
          for (size_t t = 0; t < 4; t++)                                                       \
            sum[i][j] += (int32_t)arow[i][4 * g + t] * (int32_t)w[4 * j + t];                  \
      w += 4 * NR;                                                                             \
    }                                                                                          \
    for (size_t i = 0; i < mr; i++)                                                            \
      for (size_t j = 0; j < NR; j++) acc[i * NR + j] = sum[i][j];                             \
  }

DEFINE_SCALAR_UKERNEL(1)
DEFINE_SCALAR_UKERNEL(4)
