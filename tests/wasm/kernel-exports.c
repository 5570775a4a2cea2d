/*
 * Test-only wasm exports for the kernel twin tests (tests/js/kernels.test.mjs) and the GEMM
 * bench (bench/gemm.mjs). Compiled only into build/wasm/clipdb-kernel-tests.{cjs,wasm} with
 * CLIPDB_WASM_TESTS; the release clipdb.wasm never contains them.
 */
#if !defined(CLIPDB_WASM_TESTS)
#error "test-only exports: build with CLIPDB_WASM_TESTS"
#endif
#include <stddef.h>

#include "clipdb.h"
#include "kernels/f32-gemm/f32-gemm.h"
#include "kernels/f32-softmax/f32-softmax.h"

CLIPDB_API int clipdb__wasm_test_gemm_kernel_count(void) {
  return (int)clipdb__f32_gemm_kernel_count;
}
CLIPDB_API const char *clipdb__wasm_test_gemm_kernel_name(int i) {
  return clipdb__f32_gemm_kernels[i].name;
}
CLIPDB_API int clipdb__wasm_test_gemm_kernel_mr(int i) { return (int)clipdb__f32_gemm_kernels[i].mr; }
CLIPDB_API int clipdb__wasm_test_gemm_kernel_twin(int i) { return clipdb__f32_gemm_kernels[i].twin; }
CLIPDB_API int clipdb__wasm_test_gemm_default(void) {
  return (int)(clipdb__f32_gemm_default() - clipdb__f32_gemm_kernels);
}
CLIPDB_API size_t clipdb__wasm_test_gemm_packed_size(size_t n, size_t k) {
  return clipdb__f32_gemm_packed_size(n, k);
}
CLIPDB_API void clipdb__wasm_test_gemm_pack(size_t n, size_t k, const float *weight,
                                            size_t n_stride, size_t k_stride, const float *bias,
                                            float *packed) {
  clipdb__f32_gemm_pack(n, k, weight, n_stride, k_stride, bias, packed);
}
/* Runs the GEMM `reps` times with kernel i (reps > 1 only for the bench). */
CLIPDB_API void clipdb__wasm_test_gemm_run(int i, size_t m, size_t n, size_t k, const float *a,
                                           size_t lda, const float *packed, float *c, size_t ldc,
                                           const float *r, size_t ldr, int act, int reps) {
  for (int t = 0; t < reps; t++)
    clipdb__f32_gemm(&clipdb__f32_gemm_kernels[i], m, n, k, a, lda, packed, c, ldc,
                     clipdb_epilogue_residual(r, ldr, (clipdb_act)act));
}

/* f32-dot (vector index scoring): isa 0 = scalar, 1 = wasmsimd_u16. */
#include "kernels/f32-dot/f32-dot.h"
CLIPDB_API void clipdb__wasm_test_f32_dot(int isa, size_t rows, size_t dim, const float *q,
                                          const float *m, size_t stride, float *out) {
  if (isa == 1)
    clipdb_f32_dot_ukernel__wasmsimd_u16(rows, dim, q, m, stride, out);
  else
    clipdb_f32_dot_ukernel__scalar(rows, dim, q, m, stride, out);
}

/* qs8-dot (the vector index's int8 candidate pass): isa 0 = scalar, 1 = wasmsimd_u16. */
#include "kernels/qs8-dot/qs8-dot.h"
CLIPDB_API void clipdb__wasm_test_qs8_dot(int isa, size_t rows, size_t dim, const int16_t *q,
                                          const int8_t *m, size_t stride, int32_t *out) {
  if (isa == 1)
    clipdb_qs8_dot_ukernel__wasmsimd_u16(rows, dim, q, m, stride, out);
  else
    clipdb_qs8_dot_ukernel__scalar(rows, dim, q, m, stride, out);
}

/* Softmax: which = 0 scalar twin, 1 the build's default (wasmsimd). */
CLIPDB_API void clipdb__wasm_test_softmax(int which, size_t n, float scale, float *x) {
  (which ? clipdb__f32_softmax_default() : clipdb_f32_softmax_ukernel__scalar)(n, scale, x);
}

/* ---- qs8 GEMM (tests/js/qs8-kernels.test.mjs) -------------------------------------------- */
#include <string.h>

#include "clipdb-impl.h"
#include "kernels/qs8-gemm/qs8-gemm.h"

CLIPDB_API int clipdb__wasm_test_qs8_kernel_count(void) { return (int)clipdb__qs8_gemm_kernel_count; }
CLIPDB_API const char *clipdb__wasm_test_qs8_kernel_name(int i) { return clipdb__qs8_gemm_kernels[i].name; }
CLIPDB_API const char *clipdb__wasm_test_qs8_default(void) { return clipdb__qs8_gemm_default()->name; }
/* 1 when kernel i has a first-tile form that widens the int8 panel as it goes */
CLIPDB_API int clipdb__wasm_test_qs8_kernel_widens(int i) { return clipdb__qs8_gemm_kernels[i].widen_ukernel != NULL; }
/* The per-row activation quantizer as the int8 layers run it (its SIMD128 path here). */
CLIPDB_API float clipdb__wasm_test_qs8_quantize_row(size_t k, size_t kpad, const float *x, int8_t *q) {
  return clipdb__qs8_quantize_row(k, kpad, x, q);
}

/*
 * Random A [m, k] and W [n, k] (seeded), quantized and packed; kernel i and its scalar twin
 * on every tile. Returns the number of int32 accumulators where kernel, twin and a plain
 * int32 reference do not all agree (0 = bit-exact), or -1 when out of memory.
 */
CLIPDB_API int clipdb__wasm_test_qs8_check(int i, size_t m, size_t n, size_t k, unsigned seed) {
  const clipdb_qs8_gemm_kernel *kern = &clipdb__qs8_gemm_kernels[i];
  const clipdb_qs8_gemm_kernel *twin = &clipdb__qs8_gemm_kernels[kern->twin];
  float *a = clipdb__malloc(m * k * sizeof(float)), *w = clipdb__malloc(n * k * sizeof(float));
  if (a == NULL || w == NULL) return -1;
  unsigned s = seed ? seed : 1;
  for (size_t t = 0; t < m * k; t++) s = s * 1103515245u + 12345u, a[t] = (float)(s >> 8) / 8388608.0f - 1.0f;
  for (size_t t = 0; t < n * k; t++) s = s * 1103515245u + 12345u, w[t] = (float)(s >> 8) / 8388608.0f - 1.0f;
  clipdb__qs8_packed *p = clipdb__qs8_pack_f32(n, k, w, k, 1, NULL);
  void *scratch = clipdb__malloc(clipdb__qs8_scratch_bytes(m, k));
  if (p == NULL || scratch == NULL) return -1;
  clipdb__qs8_gemm_quantize_a(m, k, a, k, scratch);
  const size_t kg = p->kg, kpad = kg * 4, panel_bytes = 32 + 32 * kg;
  const int8_t *qa = CLIPDB__QS8_SCRATCH_ROWS(scratch, m);
  /* a wide kernel gets the same values as int16: A's rows and the panel (past its header) */
  int16_t *qa16 = clipdb__malloc(m * kpad * 2 + 16), *panel16 = clipdb__malloc(kg * 64 + 16);
  int16_t *widened = clipdb__malloc(kg * 64 + 16); /* what a first-tile kernel writes */
  if (qa16 == NULL || panel16 == NULL || widened == NULL) return -1;
  clipdb__qs8_widen(m * kpad, qa, qa16);
  int bad = 0;
  for (size_t j0 = 0; j0 < n; j0 += 8) {
    const int8_t *panel = p->panels + (j0 / 8) * panel_bytes;
    clipdb__qs8_widen(kg * 32, panel + 32, panel16);
    for (size_t i0 = 0; i0 < m; i0 += kern->mr) {
      const size_t rows = m - i0 < kern->mr ? m - i0 : kern->mr;
      int32_t acc[CLIPDB_QS8_GEMM_MAX_MR * 8], tacc[CLIPDB_QS8_GEMM_MAX_MR * 8];
      int32_t wacc[CLIPDB_QS8_GEMM_MAX_MR * 8];
      if (kern->widen_ukernel != NULL) {
        /* the first-tile form on every tile: the same sums, and the int16 panel it writes on
         * the way equals clipdb__qs8_widen's */
        memset(widened, 0x5a, kg * 64);
        kern->widen_ukernel(rows, kg, (const int8_t *)(qa16 + i0 * kpad), kpad * 2, panel, wacc, widened);
        bad += memcmp(widened, panel16, kg * 64) != 0;
      }
      if (kern->wide)
        kern->ukernel(rows, kg, (const int8_t *)(qa16 + i0 * kpad), kpad * 2, (const int8_t *)panel16, acc);
      else
        kern->ukernel(rows, kg, qa + i0 * kpad, kpad, panel, acc);
      for (size_t r0 = 0; r0 < rows; r0 += twin->mr) {
        const size_t tr = rows - r0 < twin->mr ? rows - r0 : twin->mr;
        twin->ukernel(tr, kg, qa + (i0 + r0) * kpad, kpad, panel, tacc + r0 * 8);
      }
      for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < 8 && j0 + j < n; j++) {
          int32_t ref = 0;
          for (size_t q = 0; q < k; q++)
            ref += (int32_t)qa[(i0 + r) * kpad + q] * (int32_t)panel[32 + (q / 4) * 32 + j * 4 + q % 4];
          bad += acc[r * 8 + j] != ref || tacc[r * 8 + j] != ref ||
                 (kern->widen_ukernel != NULL && wacc[r * 8 + j] != ref);
        }
    }
  }
  clipdb__free(qa16), clipdb__free(panel16), clipdb__free(widened);
  clipdb__free(scratch);
  clipdb__qs8_free(p);
  clipdb__free(a), clipdb__free(w);
  return bad;
}

/*
 * For bench/gemm.mjs --qs8: random A [m, k] and W [n, k] quantized and packed once; returns an
 * opaque handle whose clipdb__wasm_test_qs8_bench_run(handle, i, reps) runs the whole int8 GEMM
 * (per-row quantization of A, kernel i, float epilogue) reps times. NULL when out of memory.
 */
typedef struct qs8_bench {
  size_t m, n, k;
  float *a, *c;
  clipdb__qs8_packed *w;
  void *scratch;
} qs8_bench;

CLIPDB_API void *clipdb__wasm_test_qs8_bench_new(size_t m, size_t n, size_t k) {
  qs8_bench *b = clipdb__malloc(sizeof *b);
  float *w = clipdb__malloc(n * k * sizeof(float));
  if (b == NULL || w == NULL) return NULL;
  b->m = m, b->n = n, b->k = k;
  b->a = clipdb__malloc(m * k * sizeof(float));
  b->c = clipdb__malloc(m * n * sizeof(float));
  b->scratch = clipdb__malloc(clipdb__qs8_scratch_bytes(m, k));
  if (b->a == NULL || b->c == NULL || b->scratch == NULL) return NULL;
  unsigned s = 7;
  for (size_t t = 0; t < m * k; t++) s = s * 1103515245u + 12345u, b->a[t] = (float)(s >> 8) / 8388608.0f - 1.0f;
  for (size_t t = 0; t < n * k; t++) s = s * 1103515245u + 12345u, w[t] = (float)(s >> 8) / 8388608.0f - 1.0f;
  b->w = clipdb__qs8_pack_f32(n, k, w, k, 1, NULL);
  clipdb__free(w);
  return b->w == NULL ? NULL : b;
}

CLIPDB_API void clipdb__wasm_test_qs8_bench_run(void *handle, int i, int reps) {
  qs8_bench *b = handle;
  for (int r = 0; r < reps; r++) {
    clipdb__qs8_gemm_quantize_a(b->m, b->k, b->a, b->k, b->scratch);
    clipdb__qs8_gemm_columns(&clipdb__qs8_gemm_kernels[i], b->m, b->w, b->scratch, 0, b->n, b->c,
                             b->n, clipdb_epilogue_act(CLIPDB_ACT_NONE));
  }
}
