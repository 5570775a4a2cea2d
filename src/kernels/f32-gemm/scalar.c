/*
 * Portable f32 GEMM microkernels: the scalar twins of wasmsimd.c, and the kernels the native
 * `simd` backend runs (gcc vectorises the fixed-size column loops). Contract and packed layout:
 * f32-gemm.h. The summation order (bias, then k ascending, multiply then add) matches the SIMD
 * kernels exactly; keep it that way, the twin tests compare them bit for bit.
 */
#include <string.h>

#include "f32-gemm.h"

#define NR CLIPDB_F32_GEMM_NR

/* One MR×NR tile per panel; rows past mr alias the last valid row (computed, never stored). */
#define DEFINE_SCALAR_UKERNEL(MR)                                                                \
  void clipdb_f32_gemm_ukernel_##MR##x8__scalar(size_t mr, size_t nc, size_t kc, const float *a, \
                                                size_t a_stride, const float *w, float *c,      \
                                                size_t c_stride, clipdb_epilogue ep) {           \
    const float *r = ep.residual;                                                                \
    const float *arow[MR];                                                                       \
    for (size_t i = 0; i < MR; i++) arow[i] = a + (i < mr ? i : mr - 1) * a_stride;             \
    for (size_t n0 = 0; n0 < nc; n0 += NR) {                                                     \
      float acc[MR][NR];                                                                         \
      for (size_t i = 0; i < MR; i++)                                                            \
        for (size_t j = 0; j < NR; j++) acc[i][j] = w[j];                                        \
      w += NR;                                                                                   \
      for (size_t k = 0; k < kc; k++) {                                                          \
        for (size_t i = 0; i < MR; i++) {                                                        \
          const float av = arow[i][k];                                                           \
          for (size_t j = 0; j < NR; j++) {                                                      \
            const float p = av * w[j];                                                           \
            acc[i][j] = acc[i][j] + p;                                                           \
          }                                                                                      \
        }                                                                                        \
        w += NR;                                                                                 \
      }                                                                                          \
      const size_t ncols = nc - n0 < NR ? nc - n0 : NR;                                          \
      for (size_t i = 0; i < mr; i++) {                                                          \
        float *crow = c + i * c_stride + n0;                                                     \
        const float *rrow = r != NULL ? r + i * ep.residual_stride + n0 : NULL;                  \
        for (size_t j = 0; j < ncols; j++) {                                                     \
          float y = acc[i][j];                                                                   \
          if (rrow != NULL) y += rrow[j];                                                        \
          crow[j] = clipdb_act_scalar(y, ep.act);                                                \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
  }

DEFINE_SCALAR_UKERNEL(1)
DEFINE_SCALAR_UKERNEL(4)
DEFINE_SCALAR_UKERNEL(5)
DEFINE_SCALAR_UKERNEL(6)
