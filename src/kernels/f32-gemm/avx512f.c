/*
 * f32 GEMM microkernels in x86 AVX-512F (512-bit zmm, FMA), for native x86-64 builds
 * (contract: f32-gemm.h; twins: scalar.c). This file alone is compiled with -mavx512f
 * (CMakeLists.txt); config.c selects its kernels only when the CPU (and OS) report AVX-512F.
 *
 * The packed layout stays the build-wide one (8-column panels [bias[8], W[k][8]]): a zmm holds
 * 16 columns = two adjacent panels, built per k from two 256-bit loads (the second inserted
 * into the upper half with vinsertf64x4). Tiles:
 *   MR×32  two zmm accumulators per row (four panels per pass); 2·MR + 2 + 1 of the 32 zmm
 *          registers, so MR <= 14;
 *   MR×16  one zmm accumulator per row (two panels per pass).
 * Each k step is one fused multiply-add per accumulator (vfmadd231ps with the A element
 * broadcast), so, as in fma.c, results differ from the scalar twins by FMA's rounding; the twin
 * test bounds the difference. Column tails (fewer panels than a pass holds) zero the missing
 * panel's half and store with a lane mask; the residual is read with the same mask.
 */
#include "f32-gemm.h"

#if defined(CLIPDB_X86_KERNELS)

#include <immintrin.h>

#define NR CLIPDB_F32_GEMM_NR
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* exp(t) for t <= 0 (clamped to >= -87): the method and constants of fma.c / avx.c. */
static ALWAYS_INLINE __m512 exp_nonpositive(__m512 t) {
  t = _mm512_max_ps(t, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 rr = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), t);
  rr = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), rr);
  static const float coef[6] = {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  for (int i = 0; i < 6; i++) p = _mm512_fmadd_ps(p, rr, _mm512_set1_ps(coef[i]));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* y · sigmoid(1.702·y) from e = exp(-|z|), so it never overflows. */
static ALWAYS_INLINE __m512 quick_gelu(__m512 y) {
  const __m512 z = _mm512_mul_ps(y, _mm512_set1_ps(1.702f));
  const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(z)));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 num = _mm512_mask_blend_ps(neg, one, e);
  return _mm512_mul_ps(y, _mm512_div_ps(num, _mm512_add_ps(one, e)));
}

/* ReLU as the scalar `y > 0 ? y : 0` (vmaxps returns its second operand, +0, for NaN, -0). */
static ALWAYS_INLINE __m512 activate(__m512 y, clipdb_act act) {
  switch (act) {
  case CLIPDB_ACT_RELU: return _mm512_max_ps(y, _mm512_setzero_ps());
  case CLIPDB_ACT_QUICK_GELU: return quick_gelu(y);
  default: return y;
  }
}

/* 16 columns from two panels' rows: lo (8 floats) in lanes 0-7, hi in 8-15 (hi NULL: zeros). */
static ALWAYS_INLINE __m512 load_pair(const float *lo, const float *hi) {
  const __m512d l = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(lo)));
  const __m256d h = hi != NULL ? _mm256_castps_pd(_mm256_loadu_ps(hi)) : _mm256_setzero_pd();
  return _mm512_castpd_ps(_mm512_insertf64x4(l, h, 1));
}

/*
 * One pass: rows 0..mr-1 of an MR-row tile over `np` adjacent panels (1 <= np <= 2·V) starting
 * at w, i.e. up to 16·V columns, of which `ncols` are stored. Always inlined with constant MR, V
 * and np, so acc[][] lives in registers and the panel pointers of absent panels vanish.
 */
static ALWAYS_INLINE void tile(const size_t MR, const size_t V, const size_t np, size_t mr,
                               size_t ncols, size_t kc, const float *const *ap, const float *w,
                               size_t panel, float *c, size_t c_stride, const float *r,
                               size_t r_stride, clipdb_act act) {
  __m512 acc[14][2];
  const float *wp[4];
  _Pragma("GCC unroll 4") for (size_t j = 0; j < 4; j++) wp[j] = j < np ? w + j * panel : NULL;
  _Pragma("GCC unroll 2") for (size_t v = 0; v < V; v++) {
    const __m512 bias = load_pair(wp[2 * v], wp[2 * v + 1]);
    _Pragma("GCC unroll 14") for (size_t i = 0; i < MR; i++) acc[i][v] = bias;
  }
  _Pragma("GCC unroll 4") for (size_t j = 0; j < 4; j++) if (j < np) wp[j] += NR;
  for (size_t k = 0; k < kc; k++) {
    __m512 b[2];
    _Pragma("GCC unroll 2") for (size_t v = 0; v < V; v++)
        b[v] = load_pair(wp[2 * v] + k * NR, 2 * v + 1 < np ? wp[2 * v + 1] + k * NR : NULL);
    _Pragma("GCC unroll 14") for (size_t i = 0; i < MR; i++) {
      const __m512 av = _mm512_set1_ps(ap[i][k]);
      _Pragma("GCC unroll 2") for (size_t v = 0; v < V; v++)
          acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);
    }
  }
  _Pragma("GCC unroll 14") for (size_t i = 0; i < MR; i++) if (i < mr) {
    _Pragma("GCC unroll 2") for (size_t v = 0; v < V; v++) {
      const size_t col = 16 * v;
      if (col >= ncols) break;
      const size_t cols = ncols - col < 16 ? ncols - col : 16;
      const __mmask16 m = (__mmask16)((1u << cols) - 1u);
      __m512 y = acc[i][v];
      if (r != NULL) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, r + i * r_stride + col));
      _mm512_mask_storeu_ps(c + i * c_stride + col, m, activate(y, act));
    }
  }
}

/* Rows past mr read the last valid row (computed, never stored), as in every kernel here. */
#define SETUP_ROWS(MR)                                                                           \
  const float *ap[MR];                                                                           \
  for (size_t i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * a_stride;                 \
  const size_t panel = NR * (kc + 1)

/* The column tail after the full passes: 1..15 columns (one or two panels) in one zmm. */
#define TAIL16(MR, left)                                                                         \
  tile(MR, 1, (left) > NR ? 2 : 1, mr, left, kc, ap, w, panel, c, c_stride, r, r_stride, act)

#define DEFINE_AVX512_UKERNEL_X32(MR)                                                            \
  void clipdb_f32_gemm_ukernel_##MR##x32__avx512f(size_t mr, size_t nc, size_t kc,               \
                                                  const float *a, size_t a_stride,               \
                                                  const float *w, float *c, size_t c_stride,     \
                                                  clipdb_epilogue ep) {                          \
    const float *r = ep.residual;                                                                \
    const size_t r_stride = ep.residual_stride;                                                  \
    const clipdb_act act = ep.act;                                                               \
    SETUP_ROWS(MR);                                                                              \
    for (; nc >= 32; nc -= 32) {                                                                 \
      tile(MR, 2, 4, mr, 32, kc, ap, w, panel, c, c_stride, r, r_stride, act);                  \
      w += 4 * panel, c += 32;                                                                   \
      if (r != NULL) r += 32;                                                                    \
    }                                                                                            \
    if (nc > 24) {                                                                               \
      tile(MR, 2, 4, mr, nc, kc, ap, w, panel, c, c_stride, r, r_stride, act);                  \
    } else if (nc > 16) {                                                                        \
      tile(MR, 2, 3, mr, nc, kc, ap, w, panel, c, c_stride, r, r_stride, act);                  \
    } else if (nc > 0) {                                                                         \
      TAIL16(MR, nc);                                                                            \
    }                                                                                            \
  }

#define DEFINE_AVX512_UKERNEL_X16(MR)                                                            \
  void clipdb_f32_gemm_ukernel_##MR##x16__avx512f(size_t mr, size_t nc, size_t kc,               \
                                                  const float *a, size_t a_stride,               \
                                                  const float *w, float *c, size_t c_stride,     \
                                                  clipdb_epilogue ep) {                          \
    const float *r = ep.residual;                                                                \
    const size_t r_stride = ep.residual_stride;                                                  \
    const clipdb_act act = ep.act;                                                               \
    SETUP_ROWS(MR);                                                                              \
    for (; nc >= 16; nc -= 16) {                                                                 \
      tile(MR, 1, 2, mr, 16, kc, ap, w, panel, c, c_stride, r, r_stride, act);                  \
      w += 2 * panel, c += 16;                                                                   \
      if (r != NULL) r += 16;                                                                    \
    }                                                                                            \
    if (nc > 0) TAIL16(MR, nc);                                                                  \
  }

DEFINE_AVX512_UKERNEL_X32(4)
DEFINE_AVX512_UKERNEL_X32(5)
DEFINE_AVX512_UKERNEL_X32(6)
DEFINE_AVX512_UKERNEL_X32(7)
DEFINE_AVX512_UKERNEL_X32(8)
DEFINE_AVX512_UKERNEL_X32(10)
DEFINE_AVX512_UKERNEL_X32(12)
DEFINE_AVX512_UKERNEL_X32(14)
DEFINE_AVX512_UKERNEL_X16(8)
DEFINE_AVX512_UKERNEL_X16(10)
DEFINE_AVX512_UKERNEL_X16(12)
DEFINE_AVX512_UKERNEL_X16(14)

#endif /* CLIPDB_X86_KERNELS */
