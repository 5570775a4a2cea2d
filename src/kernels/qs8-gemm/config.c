/*
 * qs8 GEMM: the kernel table, the run-time choice, weight packing, per-row activation
 * quantization and the driver with its float epilogue. Contract: qs8-gemm.h.
 */
#include <math.h>
#include <string.h>

#include "../../clipdb-impl.h"
#include "../../nn/gemm.h"
#include "qs8-gemm.h"

#define NR CLIPDB_QS8_GEMM_NR

const clipdb_qs8_gemm_kernel clipdb__qs8_gemm_kernels[] = {
    {"qs8_gemm_1x8c4__scalar", clipdb_qs8_gemm_ukernel_1x8c4__scalar, 1, 0, CLIPDB_QS8_GEMM_ISA_BASELINE},
    {"qs8_gemm_4x8c4__scalar", clipdb_qs8_gemm_ukernel_4x8c4__scalar, 4, 1, CLIPDB_QS8_GEMM_ISA_BASELINE},
#if defined(CLIPDB_WASM_SIMD)
    {"qs8_gemm_2x8c4__wasmsimd_dot16", clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16, 2, 0, CLIPDB_QS8_GEMM_ISA_BASELINE},
    {"qs8_gemm_4x8c4__wasmsimd_dot16", clipdb_qs8_gemm_ukernel_4x8c4__wasmsimd_dot16, 4, 1, CLIPDB_QS8_GEMM_ISA_BASELINE},
#endif
#if defined(CLIPDB_X86_KERNELS)
    {"qs8_gemm_4x8c4__avx2", clipdb_qs8_gemm_ukernel_4x8c4__avx2, 4, 1, CLIPDB_QS8_GEMM_ISA_X86_AVX2},
    {"qs8_gemm_4x8c4__avx512vnni", clipdb_qs8_gemm_ukernel_4x8c4__avx512vnni, 4, 1, CLIPDB_QS8_GEMM_ISA_X86_AVX512VNNI},
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
      "qs8_gemm_2x8c4__wasmsimd_dot16",
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

static inline int8_t round_q(float t) {
  /* half away from zero; |t| <= 127 by construction, clamped against rounding noise */
  float r = t >= 0.0f ? floorf(t + 0.5f) : -floorf(-t + 0.5f);
  if (r > 127.0f) r = 127.0f;
  if (r < -127.0f) r = -127.0f;
  return (int8_t)r;
}

float clipdb__qs8_quantize_row(size_t k, size_t kpad, const float *x, int8_t *q) {
  float amax = 0.0f;
  for (size_t p = 0; p < k; p++) {
    const float v = fabsf(x[p]);
    if (v > amax) amax = v;
  }
  if (!(amax > 0.0f) || !isfinite(amax)) {
    memset(q, 0, kpad);
    return 0.0f;
  }
  const float scale = amax / 127.0f;
  for (size_t p = 0; p < k; p++) q[p] = round_q(x[p] / scale);
  memset(q + k, 0, kpad - k);
  return scale;
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

size_t clipdb__qs8_scratch_bytes(size_t m, size_t k) {
  return m * ((k + 3) / 4 * 4) + m * sizeof(float) + 64;
}

/* scratch layout: row scales [m] floats first, then the int8 rows (kg*4 bytes each) */
void clipdb__qs8_gemm_quantize_a(size_t m, size_t k, const float *a, size_t lda, void *scratch) {
  const size_t kpad = (k + 3) / 4 * 4;
  float *rs = scratch;
  int8_t *q = (int8_t *)scratch + (m * sizeof(float) + 63) / 64 * 64;
  for (size_t i = 0; i < m; i++) rs[i] = clipdb__qs8_quantize_row(k, kpad, a + i * lda, q + i * kpad);
}

static inline float activate(float y, uint32_t flags) {
  if (flags & CLIPDB__GEMM_QUICKGELU) return y / (1.0f + expf(-1.702f * y));
  if (flags & CLIPDB__GEMM_RELU) return y > 0.0f ? y : 0.0f;
  return y;
}

void clipdb__qs8_gemm_columns(const clipdb_qs8_gemm_kernel *kern, size_t m,
                              const clipdb__qs8_packed *w, const void *scratch, size_t n0,
                              size_t n1, float *c, size_t ldc, uint32_t flags) {
  const size_t kg = w->kg, kpad = kg * 4, mr = kern->mr;
  const size_t panel_bytes = 32 + 32 * kg;
  const float *rs = scratch;
  const int8_t *q = (const int8_t *)scratch + (m * sizeof(float) + 63) / 64 * 64;
  int32_t acc[CLIPDB_QS8_GEMM_MAX_MR * NR];
  for (size_t j0 = n0; j0 < n1; j0 += NR) {
    const int8_t *panel = w->panels + (j0 / NR) * panel_bytes;
    const size_t cols = n1 - j0 < NR ? n1 - j0 : NR;
    const float *cs = w->col_scale + j0, *b = w->bias + j0;
    for (size_t i0 = 0; i0 < m; i0 += mr) {
      const size_t rows = m - i0 < mr ? m - i0 : mr;
      kern->ukernel(rows, kg, q + i0 * kpad, kpad, panel, acc);
      for (size_t i = 0; i < rows; i++) {
        const float r = rs[i0 + i];
        float *crow = c + (i0 + i) * ldc + j0;
        for (size_t j = 0; j < cols; j++) {
          float v = (float)acc[i * NR + j] * (r * cs[j]);
          v = v + b[j];
          if (flags & CLIPDB__GEMM_RESIDUAL) v = crow[j] + v;
          crow[j] = activate(v, flags);
        }
      }
    }
  }
}
