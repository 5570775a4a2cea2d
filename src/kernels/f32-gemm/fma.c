/*
 * f32 GEMM microkernels in x86 AVX2 + FMA3 (256-bit), for native x86-64 builds (contract:
 * f32-gemm.h; twins: scalar.c). This file alone is compiled with -mavx2 -mfma (CMakeLists.txt);
 * config.c selects its kernels only when the CPU reports both (clipdb__f32_gemm_kernel_usable).
 *
 * Same tiles as avx.c (one ymm accumulator per row and 8-column panel; MR×16 walks two adjacent
 * panels per pass so each broadcast of A feeds two FMAs), but each k step is one fused
 * multiply-add (vfmadd231ps): half the arithmetic instructions, and one rounding per step
 * instead of two. So these kernels do NOT agree bit for bit with their scalar twins; the twin
 * test bounds the difference (tests/c/test-f32-gemm.c states and justifies the tolerance).
 * MR rows × 2 accumulators + 2 weight vectors + 1 broadcast fit the 16 ymm registers up to
 * MR = 6.
 */
#include "f32-gemm.h"

#if defined(CLIPDB_X86_KERNELS)

#include <immintrin.h>
#include <string.h>

#define NR CLIPDB_F32_GEMM_NR

/* exp(t) for t <= 0 (clamped to >= -87): 2^n · p(r), n = round(t/ln2), r = t - n·ln2 in two
 * parts (Cody–Waite), p the degree-6 Taylor polynomial by Horner with FMA (rel. error ~1e-7);
 * the same method and constants as avx.c and src/kernels/wasmsimd-exp.h. */
static inline __m256 exp_nonpositive(__m256 t) {
  t = _mm256_max_ps(t, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 rr = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), t);
  rr = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), rr);
  static const float coef[6] = {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  for (int i = 0; i < 6; i++) p = _mm256_fmadd_ps(p, rr, _mm256_set1_ps(coef[i]));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* y · sigmoid(1.702·y) from e = exp(-|z|), so it never overflows. */
static inline __m256 quick_gelu(__m256 y) {
  const __m256 z = _mm256_mul_ps(y, _mm256_set1_ps(1.702f));
  const __m256 abs_z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), abs_z));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ));
  return _mm256_mul_ps(y, _mm256_div_ps(num, _mm256_add_ps(one, e)));
}

/* ReLU as the scalar `y > 0 ? y : 0` (maxps returns its second operand, +0, for NaN and -0). */
static inline __m256 activate(__m256 y, clipdb_act act) {
  switch (act) {
  case CLIPDB_ACT_RELU: return _mm256_max_ps(y, _mm256_setzero_ps());
  case CLIPDB_ACT_QUICK_GELU: return quick_gelu(y);
  default: return y;
  }
}

/* Residual, activation and store of one row of one panel (partial when ncols < NR). */
static inline void store_row(float *c, const float *r, __m256 v, size_t ncols, clipdb_act act) {
  if (ncols == NR) {
    if (r != NULL) v = _mm256_add_ps(v, _mm256_loadu_ps(r));
    _mm256_storeu_ps(c, activate(v, act));
    return;
  }
  float t[NR] = {0};
  if (r != NULL) {
    memcpy(t, r, ncols * sizeof(float));
    v = _mm256_add_ps(v, _mm256_loadu_ps(t));
  }
  _mm256_storeu_ps(t, activate(v, act));
  memcpy(c, t, ncols * sizeof(float));
}

/* MR×8: one panel per pass (also the last, odd panel of the MR×16 kernels). */
#define DEFINE_FMA_UKERNEL(MR)                                                                   \
  void clipdb_f32_gemm_ukernel_##MR##x8__fma(size_t mr, size_t nc, size_t kc, const float *a,    \
                                             size_t a_stride, const float *w, float *c,         \
                                             size_t c_stride, clipdb_epilogue ep) {              \
    const float *r = ep.residual;                                                                \
    const size_t r_stride = ep.residual_stride;                                                  \
    const clipdb_act act = ep.act;                                                               \
    const float *ap[MR];                                                                         \
    for (size_t i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * a_stride;               \
    for (size_t n0 = 0; n0 < nc; n0 += NR) {                                                     \
      __m256 acc[MR];                                                                            \
      const __m256 bias = _mm256_loadu_ps(w);                                                    \
      w += NR;                                                                                   \
      _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) acc[i] = bias;                    \
      for (size_t k = 0; k < kc; k++) {                                                          \
        const __m256 b = _mm256_loadu_ps(w);                                                     \
        w += NR;                                                                                 \
        _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) acc[i] =                        \
            _mm256_fmadd_ps(_mm256_broadcast_ss(ap[i] + k), b, acc[i]);                          \
      }                                                                                          \
      const size_t ncols = nc - n0 < NR ? nc - n0 : NR;                                          \
      _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) if (i < mr)                       \
          store_row(c + i * c_stride + n0, r != NULL ? r + i * r_stride + n0 : NULL, acc[i],    \
                    ncols, act);                                                                 \
    }                                                                                            \
  }

/* MR×16: two adjacent panels per pass (p at w, p + 1 at w + panel); a last odd panel takes an
 * MR×8 pass. */
#define DEFINE_FMA_UKERNEL_X16(MR)                                                               \
  void clipdb_f32_gemm_ukernel_##MR##x16__fma(size_t mr, size_t nc, size_t kc, const float *a,   \
                                              size_t a_stride, const float *w, float *c,        \
                                              size_t c_stride, clipdb_epilogue ep) {             \
    const float *r = ep.residual;                                                                \
    const size_t r_stride = ep.residual_stride;                                                  \
    const clipdb_act act = ep.act;                                                               \
    const float *ap[MR];                                                                         \
    for (size_t i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * a_stride;               \
    const size_t panel = NR * (kc + 1);                                                          \
    for (size_t n0 = 0; n0 < nc; n0 += 2 * NR) {                                                 \
      const size_t left = nc - n0;                                                               \
      if (left > NR) {                                                                           \
        const float *w0 = w + NR, *w1 = w + panel + NR;                                          \
        __m256 acc0[MR], acc1[MR];                                                               \
        const __m256 bias0 = _mm256_loadu_ps(w), bias1 = _mm256_loadu_ps(w + panel);             \
        _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) {                               \
          acc0[i] = bias0;                                                                       \
          acc1[i] = bias1;                                                                       \
        }                                                                                        \
        for (size_t k = 0; k < kc; k++) {                                                        \
          const __m256 b0 = _mm256_loadu_ps(w0 + k * NR), b1 = _mm256_loadu_ps(w1 + k * NR);     \
          _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) {                             \
            const __m256 av = _mm256_broadcast_ss(ap[i] + k);                                    \
            acc0[i] = _mm256_fmadd_ps(av, b0, acc0[i]);                                          \
            acc1[i] = _mm256_fmadd_ps(av, b1, acc1[i]);                                          \
          }                                                                                      \
        }                                                                                        \
        const size_t ncols = left - NR < NR ? left - NR : NR;                                    \
        _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) if (i < mr) {                   \
          float *ci = c + i * c_stride + n0;                                                     \
          const float *ri = r != NULL ? r + i * r_stride + n0 : NULL;                            \
          store_row(ci, ri, acc0[i], NR, act);                                                   \
          store_row(ci + NR, ri != NULL ? ri + NR : NULL, acc1[i], ncols, act);                  \
        }                                                                                        \
        w += 2 * panel;                                                                          \
      } else {                                                                                   \
        clipdb_f32_gemm_ukernel_##MR##x8__fma(mr, left, kc, a, a_stride, w, c + n0, c_stride,   \
                                              clipdb_epilogue_at(ep, 0, n0));                    \
        w += panel;                                                                              \
      }                                                                                          \
    }                                                                                            \
  }

DEFINE_FMA_UKERNEL(4)
DEFINE_FMA_UKERNEL(5)
DEFINE_FMA_UKERNEL(6)
DEFINE_FMA_UKERNEL(8)
DEFINE_FMA_UKERNEL_X16(4)
DEFINE_FMA_UKERNEL_X16(5)
DEFINE_FMA_UKERNEL_X16(6)

#endif /* CLIPDB_X86_KERNELS */
