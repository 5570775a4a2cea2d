/* The tests' reference GEMM (gemm-reference.h): packed panels of NR = 8 columns, plain float32
 * accumulation in k order. */
#include <math.h>
#include <string.h>

#include "gemm-reference.h"

#define NR CLIPDB__GEMM_PORTABLE_NR

size_t clipdb__gemm_packed_floats_portable(size_t n, size_t k) {
  size_t panels = (n + NR - 1) / NR;
  return panels * NR * (k + 1);
}

void clipdb__gemm_pack_portable(size_t n, size_t k, const float *w, size_t stride_n,
                                size_t stride_k, const float *bias, float *packed) {
  for (size_t j0 = 0; j0 < n; j0 += NR) {
    float *panel = packed + (j0 / NR) * NR * (k + 1);
    for (size_t jj = 0; jj < NR; jj++) {
      size_t j = j0 + jj;
      panel[jj] = (j < n && bias != NULL) ? bias[j] : 0.0f;
      for (size_t p = 0; p < k; p++)
        panel[NR + p * NR + jj] = j < n ? w[j * stride_n + p * stride_k] : 0.0f;
    }
  }
}

/* act(v + *r) (r: the residual element, or NULL) */
static inline float epilogue(float v, const float *r, clipdb_act act) {
  if (r != NULL) v += *r;
  if (act == CLIPDB_ACT_RELU) v = v > 0.0f ? v : 0.0f;
  if (act == CLIPDB_ACT_QUICK_GELU) v = v / (1.0f + expf(-1.702f * v));
  return v;
}

void clipdb__gemm_run_portable(size_t m, size_t n, size_t k, const float *a, size_t lda,
                               const float *packed, float *c, size_t ldc, clipdb_epilogue ep) {
  for (size_t j0 = 0; j0 < n; j0 += NR) {
    const float *panel = packed + (j0 / NR) * NR * (k + 1);
    size_t nc = n - j0 < NR ? n - j0 : NR;
    size_t i = 0;
    /* two rows at a time: reuses each panel load */
    for (; i + 2 <= m; i += 2) {
      const float *a0 = a + i * lda, *a1 = a0 + lda;
      float acc0[NR], acc1[NR];
      for (size_t jj = 0; jj < NR; jj++) acc0[jj] = acc1[jj] = panel[jj];
      const float *wp = panel + NR;
      for (size_t p = 0; p < k; p++, wp += NR) {
        float x0 = a0[p], x1 = a1[p];
        for (size_t jj = 0; jj < NR; jj++) {
          acc0[jj] += x0 * wp[jj];
          acc1[jj] += x1 * wp[jj];
        }
      }
      float *c0 = c + i * ldc + j0, *c1 = c0 + ldc;
      const float *r0 = clipdb_epilogue_at(ep, i, j0).residual;
      const float *r1 = clipdb_epilogue_at(ep, i + 1, j0).residual;
      for (size_t jj = 0; jj < nc; jj++) {
        c0[jj] = epilogue(acc0[jj], r0 != NULL ? r0 + jj : NULL, ep.act);
        c1[jj] = epilogue(acc1[jj], r1 != NULL ? r1 + jj : NULL, ep.act);
      }
    }
    for (; i < m; i++) {
      const float *a0 = a + i * lda;
      float acc0[NR];
      for (size_t jj = 0; jj < NR; jj++) acc0[jj] = panel[jj];
      const float *wp = panel + NR;
      for (size_t p = 0; p < k; p++, wp += NR) {
        float x0 = a0[p];
        for (size_t jj = 0; jj < NR; jj++) acc0[jj] += x0 * wp[jj];
      }
      float *c0 = c + i * ldc + j0;
      const float *r0 = clipdb_epilogue_at(ep, i, j0).residual;
      for (size_t jj = 0; jj < nc; jj++)
        c0[jj] = epilogue(acc0[jj], r0 != NULL ? r0 + jj : NULL, ep.act);
    }
  }
}
