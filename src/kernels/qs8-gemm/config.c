/*
 * qs8 GEMM: the kernel table, the run-time choice, weight packing, per-row activation
 * quantization and the driver with its float epilogue. Contract: qs8-gemm.h.
 */
#include <math.h>
#include <string.h>

#include "../../clipdb-impl.h"
#include "qs8-gemm.h"

#if defined(CLIPDB_WASM_SIMD)
#include <wasm_simd128.h>

#include "../wasmsimd-exp.h"
#endif

#define NR CLIPDB_QS8_GEMM_NR

const clipdb_qs8_gemm_kernel clipdb__qs8_gemm_kernels[] = {
    {"qs8_gemm_1x8c4__scalar", clipdb_qs8_gemm_ukernel_1x8c4__scalar, 1, 0, CLIPDB_QS8_GEMM_ISA_BASELINE, 0, NULL},
    {"qs8_gemm_4x8c4__scalar", clipdb_qs8_gemm_ukernel_4x8c4__scalar, 4, 1, CLIPDB_QS8_GEMM_ISA_BASELINE, 0, NULL},
#if defined(CLIPDB_WASM_SIMD)
    {"qs8_gemm_2x8c4__wasmsimd_dot16", clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16, 2, 0, CLIPDB_QS8_GEMM_ISA_BASELINE, 0, NULL},
    {"qs8_gemm_4x8c4__wasmsimd_dot16", clipdb_qs8_gemm_ukernel_4x8c4__wasmsimd_dot16, 4, 1, CLIPDB_QS8_GEMM_ISA_BASELINE, 0, NULL},
    {"qs8_gemm_2x8c4__wasmsimd_dot16_wide", clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16_wide, 2, 0, CLIPDB_QS8_GEMM_ISA_BASELINE, 1,
     clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16_widen},
#endif
#if defined(CLIPDB_X86_KERNELS)
    {"qs8_gemm_4x8c4__avx2", clipdb_qs8_gemm_ukernel_4x8c4__avx2, 4, 1, CLIPDB_QS8_GEMM_ISA_X86_AVX2, 0, NULL},
    {"qs8_gemm_4x8c4__avx512vnni", clipdb_qs8_gemm_ukernel_4x8c4__avx512vnni, 4, 1, CLIPDB_QS8_GEMM_ISA_X86_AVX512VNNI, 0, NULL},
#endif
};
const size_t clipdb__qs8_gemm_kernel_count =
    sizeof clipdb__qs8_gemm_kernels / sizeof clipdb__qs8_gemm_kernels[0];

int clipdb__qs8_gemm_kernel_usable(const clipdb_qs8_gemm_kernel *kern) {
  switch (kern->isa) {
  case CLIPDB_QS8_GEMM_ISA_BASELINE: return 1;
#if defined(CLIPDB_X86_KERNELS)
  case CLIPDB_QS8_GEMM_ISA_X86_AVX2: return __builtin_cpu_supports("avx2");
  case CLIPDB_QS8_GEMM_ISA_X86_AVX512VNNI:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512vl");
#else
  default: return 0;
#endif
  }
  return 0;
}

const clipdb_qs8_gemm_kernel *clipdb__qs8_gemm_find(const char *name) {
  for (size_t i = 0; i < clipdb__qs8_gemm_kernel_count; i++)
    if (strcmp(clipdb__qs8_gemm_kernels[i].name, name) == 0) return &clipdb__qs8_gemm_kernels[i];
  return NULL;
}

const clipdb_qs8_gemm_kernel *clipdb__qs8_gemm_default(void) {
  static const char *const preferred[] = {
#if defined(CLIPDB_X86_KERNELS)
      "qs8_gemm_4x8c4__avx512vnni",
      "qs8_gemm_4x8c4__avx2",
#endif
#if defined(CLIPDB_WASM_SIMD)
      "qs8_gemm_2x8c4__wasmsimd_dot16_wide",
#endif
      "qs8_gemm_4x8c4__scalar",
  };
  for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
    const clipdb_qs8_gemm_kernel *k = clipdb__qs8_gemm_find(preferred[i]);
    if (k != NULL && clipdb__qs8_gemm_kernel_usable(k)) return k;
  }
  return &clipdb__qs8_gemm_kernels[1];
}

/* ---- quantization ---------------------------------------------------------------------- */

/* Rounding to the nearest integer, ties to even, by the float "magic number" 1.5 · 2^23:
 * for |t| < 2^22, t + 1.5·2^23 rounds t to an integer in the low mantissa bits (round to
 * nearest even, the default float mode), and those bits minus the constant's are that integer.
 * Two additions and no float-to-int conversion, so the SIMD path below does the same
 * arithmetic lane by lane and gets the same values. |t| <= 127 up to rounding noise, which the
 * clamp absorbs. */
#define ROUND_MAGIC 12582912.0f /* 1.5 · 2^23 */
#define ROUND_MAGIC_BITS 0x4B400000

static inline int8_t round_q(float t) {
  const float y = t + ROUND_MAGIC;
  int32_t bits;
  memcpy(&bits, &y, sizeof bits);
  int32_t r = bits - ROUND_MAGIC_BITS;
  if (r > 127) r = 127;
  if (r < -127) r = -127;
  return (int8_t)r;
}

float clipdb__qs8_amax(size_t k, const float *x) {
  size_t p = 0;
  float amax = 0.0f;
#if defined(CLIPDB_WASM_SIMD)
  /* |x| as bits (sign cleared) orders like the values under a signed integer max, with every
   * NaN above infinity above every finite value: so the integer max of the bits is max|x|, or a
   * NaN when the row holds one, as below. One and + one i32x4.max_s per vector, where
   * f32x4.max (NaN-propagating) takes V8 several instructions. */
  const v128_t mag = wasm_i32x4_splat(0x7fffffff);
  v128_t m0 = wasm_i32x4_splat(0), m1 = m0;
  for (; p + 8 <= k; p += 8) {
    m0 = wasm_i32x4_max(m0, wasm_v128_and(wasm_v128_load(x + p), mag));
    m1 = wasm_i32x4_max(m1, wasm_v128_and(wasm_v128_load(x + p + 4), mag));
  }
  float lanes[4];
  wasm_v128_store(lanes, wasm_i32x4_max(m0, m1));
  for (int i = 0; i < 4; i++)
    amax = (lanes[i] != lanes[i] || amax != amax) ? NAN : (lanes[i] > amax ? lanes[i] : amax);
#endif
  for (; p < k; p++) {
    const float v = fabsf(x[p]);
    amax = (v != v || amax != amax) ? NAN : (v > amax ? v : amax);
  }
  return amax;
}

void clipdb__qs8_quantize_scaled(size_t n, const float *x, float inv, int8_t *q) {
  size_t p = 0;
#if defined(CLIPDB_WASM_SIMD)
  /* 16 values per step: multiply, add the magic number, subtract its bits, clamp to
   * [-127, 127], narrow to int8: round_q's arithmetic lane by lane */
  const v128_t vinv = wasm_f32x4_splat(inv), magic = wasm_f32x4_splat(ROUND_MAGIC);
  const v128_t bits = wasm_i32x4_splat(ROUND_MAGIC_BITS);
  const v128_t hi = wasm_i32x4_splat(127), lo = wasm_i32x4_splat(-127);
  for (; p + 16 <= n; p += 16) {
    v128_t r[4];
    for (int i = 0; i < 4; i++) {
      const v128_t y = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(x + p + 4 * i), vinv), magic);
      r[i] = wasm_i32x4_max(wasm_i32x4_min(wasm_i32x4_sub(y, bits), hi), lo);
    }
    wasm_v128_store(q + p, wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(r[0], r[1]),
                                                   wasm_i16x8_narrow_i32x4(r[2], r[3])));
  }
#endif
  for (; p < n; p++) q[p] = round_q(x[p] * inv);
}

float clipdb__qs8_quantize_row(size_t k, size_t kpad, const float *x, int8_t *q) {
  const float amax = clipdb__qs8_amax(k, x);
  if (!(amax > 0.0f) || !isfinite(amax)) { /* all zeros, or a NaN / an infinity in the row */
    memset(q, 0, kpad);
    return 0.0f;
  }
  /* each value times 127 / max|x| (one multiply, not a division per value), then rounded */
  clipdb__qs8_quantize_scaled(k, x, 127.0f / amax, q);
  memset(q + k, 0, kpad - k);
  return amax / 127.0f;
}

static size_t panels_of(size_t n) { return (n + NR - 1) / NR; }

size_t clipdb__qs8_bytes(const clipdb__qs8_packed *p) {
  if (p == NULL) return 0;
  return sizeof *p + panels_of(p->n) * (32 + 32 * p->kg) + 2 * panels_of(p->n) * NR * sizeof(float);
}

clipdb__qs8_packed *clipdb__qs8_pack_f32(size_t n, size_t k, const float *w, size_t stride_n,
                                         size_t stride_k, const float *bias) {
  const size_t kg = (k + 3) / 4, np = panels_of(n);
  const size_t panel_bytes = 32 + 32 * kg;
  const size_t head = (sizeof(clipdb__qs8_packed) + 63) / 64 * 64;
  const size_t total = head + np * panel_bytes + 2 * np * NR * sizeof(float);
  uint8_t *mem = clipdb__malloc(total);
  int8_t *row = clipdb__malloc(kg * 4);
  float *tmp = clipdb__malloc(k * sizeof(float));
  if (mem == NULL || row == NULL || tmp == NULL) {
    clipdb__free(mem), clipdb__free(row), clipdb__free(tmp);
    return NULL;
  }
  clipdb__qs8_packed *p = (clipdb__qs8_packed *)mem;
  p->n = n, p->k = k, p->kg = kg;
  p->panels = (int8_t *)(mem + head);
  p->col_scale = (float *)(mem + head + np * panel_bytes);
  p->bias = p->col_scale + np * NR;
  memset(p->panels, 0, np * panel_bytes);
  for (size_t j = 0; j < np * NR; j++) {
    p->col_scale[j] = 0.0f;
    p->bias[j] = (j < n && bias != NULL) ? bias[j] : 0.0f;
  }
  for (size_t j = 0; j < n; j++) {
    for (size_t q = 0; q < k; q++) tmp[q] = w[j * stride_n + q * stride_k];
    p->col_scale[j] = clipdb__qs8_quantize_row(k, kg * 4, tmp, row);
    int8_t *panel = p->panels + (j / NR) * panel_bytes;
    int32_t sum = 0;
    for (size_t g = 0; g < kg; g++)
      for (size_t t = 0; t < 4; t++) {
        panel[32 + g * 32 + (j % NR) * 4 + t] = row[g * 4 + t];
        sum += row[g * 4 + t];
      }
    const int32_t corr = 128 * sum;
    memcpy(panel + (j % NR) * 4, &corr, 4);
  }
  clipdb__free(row);
  clipdb__free(tmp);
  return p;
}

void clipdb__qs8_free(clipdb__qs8_packed *p) { clipdb__free(p); }

/* ---- the driver -------------------------------------------------------------------------- */

#define A_BLOCK_BYTES (128 * 1024)
#define A_LARGE_BYTES (512 * 1024)

size_t clipdb__qs8_scratch_bytes(size_t m, size_t k) {
  return m * ((k + 3) / 4 * 4) + m * sizeof(float) + 64;
}

/* scratch layout: row scales [m] floats first, then the int8 rows (kg*4 bytes each) */
void clipdb__qs8_gemm_quantize_a(size_t m, size_t k, const float *a, size_t lda, void *scratch) {
  const size_t kpad = (k + 3) / 4 * 4;
  float *rs = scratch;
  int8_t *q = CLIPDB__QS8_SCRATCH_ROWS(scratch, m);
  for (size_t i = 0; i < m; i++) rs[i] = clipdb__qs8_quantize_row(k, kpad, a + i * lda, q + i * kpad);
}

#if defined(CLIPDB_WASM_SIMD)
/* The epilogue of one full row of a tile (8 columns) in two f32x4 halves: the same operations
 * in the same order as the scalar loop, QuickGELU through the vector exp. */
static inline void epilogue_simd(const int32_t *acc, float r, const float *cs, const float *b,
                                 const float *rrow, clipdb_act act, float *crow) {
  const v128_t vr = wasm_f32x4_splat(r);
  for (size_t h = 0; h < NR; h += 4) {
    v128_t v = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_v128_load(acc + h)),
                              wasm_f32x4_mul(vr, wasm_v128_load(cs + h)));
    v = wasm_f32x4_add(v, wasm_v128_load(b + h));
    if (rrow != NULL) v = wasm_f32x4_add(wasm_v128_load(rrow + h), v);
    if (act == CLIPDB_ACT_QUICK_GELU) v = clipdb__wasmsimd_quick_gelu(v);
    else if (act == CLIPDB_ACT_RELU) v = wasm_f32x4_pmax(wasm_f32x4_splat(0.0f), v); /* NaN -> 0 */
    wasm_v128_store(crow + h, v);
  }
}
#endif

void clipdb__qs8_widen(size_t n, const int8_t *src, int16_t *dst) {
  size_t i = 0;
#if defined(CLIPDB_WASM_SIMD)
  for (; i + 16 <= n; i += 16) {
    const v128_t v = wasm_v128_load(src + i);
    wasm_v128_store(dst + i, wasm_i16x8_extend_low_i8x16(v));
    wasm_v128_store(dst + i + 8, wasm_i16x8_extend_high_i8x16(v));
  }
#endif
  for (; i < n; i++) dst[i] = src[i];
}

/* Rows [i_begin, i_end) of the slice's columns [n0, n1): panels outer, MR-row tiles inner.
 * `a` is row i_begin's operand (int8, or int16 for a wide kernel), rows a_stride bytes apart;
 * `wide_panel` (wide kernels) holds room for one panel's kg·32 int16. */
static void gemm_block(const clipdb_qs8_gemm_kernel *kern, const clipdb__qs8_packed *w,
                       const float *rs, const int8_t *a, size_t a_stride, int16_t *wide_panel,
                       size_t i_begin, size_t i_end, size_t n0, size_t n1, float *c, size_t ldc,
                       clipdb_epilogue ep) {
  const size_t kg = w->kg, mr = kern->mr;
  const size_t panel_bytes = 32 + 32 * kg;
  int32_t acc[CLIPDB_QS8_GEMM_MAX_MR * NR];
  for (size_t j0 = n0; j0 < n1; j0 += NR) {
    const int8_t *panel = w->panels + (j0 / NR) * panel_bytes;
    const int8_t *packed = panel;
    if (kern->wide) {
      /* the first tile widens the panel as it goes (widen_ukernel), or a pass before it does */
      if (kern->widen_ukernel == NULL) clipdb__qs8_widen(32 * kg, panel + 32, wide_panel);
      panel = (const int8_t *)wide_panel;
    }
    const size_t cols = n1 - j0 < NR ? n1 - j0 : NR;
    const float *cs = w->col_scale + j0, *b = w->bias + j0;
    for (size_t i0 = i_begin; i0 < i_end; i0 += mr) {
      const size_t rows = i_end - i0 < mr ? i_end - i0 : mr;
      if (kern->widen_ukernel != NULL && i0 == i_begin)
        kern->widen_ukernel(rows, kg, a, a_stride, packed, acc, wide_panel);
      else
        kern->ukernel(rows, kg, a + (i0 - i_begin) * a_stride, a_stride, panel, acc);
#if defined(CLIPDB_WASM_SIMD)
      if (cols == NR) {
        for (size_t i = 0; i < rows; i++) {
          const clipdb_epilogue e = clipdb_epilogue_at(ep, i0 + i, j0);
          epilogue_simd(acc + i * NR, rs[i0 + i], cs, b, e.residual, e.act,
                        c + (i0 + i) * ldc + j0);
        }
        continue;
      }
#endif
      for (size_t i = 0; i < rows; i++) {
        const float r = rs[i0 + i];
        float *crow = c + (i0 + i) * ldc + j0;
        const float *rrow = clipdb_epilogue_at(ep, i0 + i, j0).residual;
        for (size_t j = 0; j < cols; j++) {
          float v = (float)acc[i * NR + j] * (r * cs[j]);
          v = v + b[j];
          if (rrow != NULL) v = rrow[j] + v;
          crow[j] = clipdb_act_scalar(v, ep.act);
        }
      }
    }
  }
}

void clipdb__qs8_gemm_columns(const clipdb_qs8_gemm_kernel *kern, size_t m,
                              const clipdb__qs8_packed *w, const void *scratch, size_t n0,
                              size_t n1, float *c, size_t ldc, clipdb_epilogue ep) {
  const size_t kpad = w->kg * 4;
  const float *rs = scratch;
  const int8_t *q = CLIPDB__QS8_SCRATCH_ROWS(scratch, m);
  /* A large A (the ResNet's im2col rows: thousands) is walked in row blocks of about
   * A_BLOCK_BYTES, so a block stays in cache while every weight panel of the slice passes over
   * it; a transformer's A (<= 77 rows) is one block, so each weight panel is read once. */
  const size_t elem = kern->wide ? 2 : 1, row_bytes = kpad * elem;
  size_t mc = m;
  if (m * row_bytes > A_LARGE_BYTES) {
    mc = A_BLOCK_BYTES / row_bytes / kern->mr * kern->mr;
    if (mc < kern->mr) mc = kern->mr;
  }
  int16_t *wide = NULL;
  if (kern->wide) {
    /* the block's rows and one panel as int16; without the memory, the scalar twin */
    wide = clipdb__malloc(mc * row_bytes + 64 * w->kg + 64);
    if (wide == NULL) kern = &clipdb__qs8_gemm_kernels[kern->twin];
  }
  for (size_t mb = 0; mb < m; mb += mc) {
    const size_t mend = m - mb < mc ? m : mb + mc;
    if (wide != NULL) {
      clipdb__qs8_widen((mend - mb) * kpad, q + mb * kpad, wide);
      gemm_block(kern, w, rs, (const int8_t *)wide, row_bytes, wide + (mend - mb) * kpad, mb,
                 mend, n0, n1, c, ldc, ep);
    } else {
      gemm_block(kern, w, rs, q + mb * kpad, kpad, NULL, mb, mend, n0, n1, c, ldc, ep);
    }
  }
  clipdb__free(wide);
}
