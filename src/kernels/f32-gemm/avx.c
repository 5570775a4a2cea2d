/*
 * f32 GEMM microkernels in x86 AVX (256-bit), for native x86-64 builds (contract: f32-gemm.h;
 * twins: scalar.c). One v256 accumulator per row holds the panel's 8 columns.
 *
 * Each k step broadcasts one A element per row (vbroadcastss) and does a separate multiply and
 * add (no FMA), so the result is bit for bit the scalar twin's before the activation. On CPUs
 * with separate floating-point multiply and add pipes (AMD Zen) this loses no peak throughput
 * against FMA. MR rows of accumulators + the B vector + one broadcast + one product fit the
 * 16 ymm registers up to MR = 12.
 *
 * Compiled with a per-function target attribute, so the rest of the build stays baseline
 * x86-64; config.c only selects these kernels when the CPU reports AVX.
 * Method: XNNPACK's src/f32-gemm/ avx-broadcast kernels (tile shape, broadcast per k).
 */
#include "f32-gemm.h"

#if defined(CLIPDB_X86_KERNELS)

#include <immintrin.h>
#include <string.h>

#define NR CLIPDB_F32_GEMM_NR
#define AVX __attribute__((target("avx")))

/* exp(t) for t <= 0 (clamped to >= -87), the same method and constants as
 * src/kernels/wasmsimd-exp.h: 2^n · p(r), n = round(t/ln2), r = t - n·ln2 (Cody–Waite split),
 * p = degree-6 Taylor polynomial (rel. error ~1e-7). AVX has no 256-bit integer ops, so the
 * 2^n scale is built in two 128-bit halves. */
static inline AVX __m256 exp_nonpositive(__m256 t) {
  t = _mm256_max_ps(t, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 rr = _mm256_sub_ps(t, _mm256_mul_ps(n, _mm256_set1_ps(0.693145752f)));
  rr = _mm256_sub_ps(rr, _mm256_mul_ps(n, _mm256_set1_ps(1.42860677e-6f)));
  static const float coef[6] = {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  for (int i = 0; i < 6; i++) p = _mm256_add_ps(_mm256_mul_ps(p, rr), _mm256_set1_ps(coef[i]));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m128i bias = _mm_set1_epi32(127);
  const __m128i lo = _mm_slli_epi32(_mm_add_epi32(_mm256_castsi256_si128(ni), bias), 23);
  const __m128i hi = _mm_slli_epi32(_mm_add_epi32(_mm256_extractf128_si256(ni, 1), bias), 23);
  const __m256 scale = _mm256_castsi256_ps(_mm256_insertf128_si256(_mm256_castsi128_si256(lo), hi, 1));
  return _mm256_mul_ps(p, scale);
}

/* y · sigmoid(1.702·y) from e = exp(-|z|), so it never overflows (as the wasm kernels do). */
static inline AVX __m256 quick_gelu(__m256 y) {
  const __m256 z = _mm256_mul_ps(y, _mm256_set1_ps(1.702f));
  const __m256 abs_z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), abs_z));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ));
  return _mm256_mul_ps(y, _mm256_div_ps(num, _mm256_add_ps(one, e)));
}

/* ReLU matches the scalar `y > 0 ? y : 0` (maxps returns its second operand, +0, for NaN
 * and -0). */
static inline AVX __m256 activate(__m256 y, clipdb_act act) {
  switch (act) {
  case CLIPDB_ACT_RELU: return _mm256_max_ps(y, _mm256_setzero_ps());
  case CLIPDB_ACT_QUICK_GELU: return quick_gelu(y);
  default: return y;
  }
}

/* Residual, activation and store of one row (partial when ncols < NR). */
static inline AVX void store_row(float *c, const float *r, __m256 v, size_t ncols,
                                 clipdb_act act) {
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

#define DEFINE_AVX_UKERNEL(MR)                                                                   \
  AVX void clipdb_f32_gemm_ukernel_##MR##x8__avx(size_t mr, size_t nc, size_t kc, const float *a,\
                                                 size_t a_stride, const float *w, float *c,     \
                                                 size_t c_stride, clipdb_epilogue ep) {          \
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
            _mm256_add_ps(acc[i], _mm256_mul_ps(_mm256_broadcast_ss(ap[i] + k), b));             \
      }                                                                                          \
      const size_t ncols = nc - n0 < NR ? nc - n0 : NR;                                          \
      /* unrolled over the constant MR so acc[] stays in registers */                           \
      _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) if (i < mr)                       \
          store_row(c + i * c_stride + n0, r != NULL ? r + i * r_stride + n0 : NULL, acc[i],    \
                    ncols, act);                                                                 \
    }                                                                                            \
  }

DEFINE_AVX_UKERNEL(3)
DEFINE_AVX_UKERNEL(4)
DEFINE_AVX_UKERNEL(5)
DEFINE_AVX_UKERNEL(6)
DEFINE_AVX_UKERNEL(8)
DEFINE_AVX_UKERNEL(10)
DEFINE_AVX_UKERNEL(12)

/* MR×16 tiles: two adjacent 8-column panels per pass (panel p at w, p + 1 at w + panel), so
 * each broadcast feeds two products; a last odd panel takes an MR×8 pass. The driver steps
 * 16 columns at a time (the table's nr). */
#define DEFINE_AVX_UKERNEL_X16(MR)                                                               \
  AVX void clipdb_f32_gemm_ukernel_##MR##x16__avx(size_t mr, size_t nc, size_t kc,              \
                                                  const float *a, size_t a_stride,               \
                                                  const float *w, float *c, size_t c_stride,     \
                                                  clipdb_epilogue ep) {                          \
    const float *r = ep.residual;                                                                \
    const size_t r_stride = ep.residual_stride;                                                  \
    const clipdb_act act = ep.act;                                                               \
    const float *ap[MR];                                                                         \
    for (size_t i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * a_stride;               \
    const size_t panel = NR * (kc + 1);                                                          \
    for (size_t n0 = 0; n0 < nc; n0 += 2 * NR) {                                                 \
      const size_t left = nc - n0;                                                               \
      if (left > NR) {                                                                           \
        const float *w0 = w, *w1 = w + panel;                                                    \
        __m256 acc0[MR], acc1[MR];                                                               \
        const __m256 bias0 = _mm256_loadu_ps(w0), bias1 = _mm256_loadu_ps(w1);                   \
        _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) {                               \
          acc0[i] = bias0;                                                                       \
          acc1[i] = bias1;                                                                       \
        }                                                                                        \
        w0 += NR, w1 += NR;                                                                      \
        for (size_t k = 0; k < kc; k++) {                                                        \
          const __m256 b0 = _mm256_loadu_ps(w0 + k * NR), b1 = _mm256_loadu_ps(w1 + k * NR);     \
          _Pragma("GCC unroll 16") for (size_t i = 0; i < MR; i++) {                             \
            const __m256 av = _mm256_broadcast_ss(ap[i] + k);                                    \
            acc0[i] = _mm256_add_ps(acc0[i], _mm256_mul_ps(av, b0));                             \
            acc1[i] = _mm256_add_ps(acc1[i], _mm256_mul_ps(av, b1));                             \
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
      } else { /* the last, odd panel */                                                       \
        clipdb_f32_gemm_ukernel_##MR##x8__avx(mr, left, kc, a, a_stride, w, c + n0, c_stride,   \
                                               clipdb_epilogue_at(ep, 0, n0));                   \
        w += panel;                                                                              \
      }                                                                                          \
    }                                                                                            \
  }

DEFINE_AVX_UKERNEL_X16(3)
DEFINE_AVX_UKERNEL_X16(4)
DEFINE_AVX_UKERNEL_X16(5)


#endif /* CLIPDB_X86_KERNELS */
