/*
 * qs8 GEMM (src/kernels/qs8-gemm): the rounding of the symmetric quantizer on known values;
 * every kernel of the build that this CPU runs against a plain int32 reference and against
 * its scalar twin, bit for bit in the int32 accumulators, on random odd M, N, K (tails in
 * every dimension, K not a multiple of 4); the full driver (row and column scales, bias,
 * residual, ReLU, QuickGELU, column slices) against a double-precision reference built from
 * the same int8 values; and that the kernel table offers the x86 kernels the CPU reports.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clipdb-impl.h"
#include "kernels/qs8-gemm/qs8-gemm.h"
#include "nn/gemm.h"

static unsigned long long rng = 0x243F6A8885A308D3ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0) - 1.0);
}
static size_t irand(size_t lo, size_t hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (size_t)(rng % (hi - lo + 1));
}

static void check_rounding(void) {
  const float x[5] = {1.0f, -0.5f, 0.25f, 0.0f, -1.0f};
  int8_t q[8];
  float s = clipdb__qs8_quantize_row(5, 8, x, q);
  CHECK(s == 1.0f / 127.0f, "scale %.9g, expected 1/127", (double)s);
  /* 127, -63.5 -> -64 (a tie: the even neighbour), 31.75 -> 32, 0, -127; padding zero */
  const int8_t want[8] = {127, -64, 32, 0, -127, 0, 0, 0};
  CHECK(memcmp(q, want, 8) == 0, "quantized [%d %d %d %d %d %d %d %d]", q[0], q[1], q[2], q[3], q[4],
        q[5], q[6], q[7]);
  const float z[3] = {0.0f, 0.0f, 0.0f};
  s = clipdb__qs8_quantize_row(3, 4, z, q);
  CHECK(s == 0.0f && q[0] == 0 && q[3] == 0, "an all-zero row: scale %g", (double)s);
  /* max 127: scale 1, the values themselves; ties go to the even neighbour */
  const float ties[7] = {127.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, -126.5f};
  int8_t qt[8];
  s = clipdb__qs8_quantize_row(7, 8, ties, qt);
  const int8_t want_ties[8] = {127, 2, -2, 4, 0, 0, -126, 0};
  CHECK(s == 1.0f && memcmp(qt, want_ties, 8) == 0, "ties: scale %g, [%d %d %d %d %d %d %d]",
        (double)s, qt[0], qt[1], qt[2], qt[3], qt[4], qt[5], qt[6]);
  /* a NaN or an infinity anywhere in the row: zeros, scale 0 */
  const float bad[5] = {1.0f, 2.0f, NAN, 3.0f, 4.0f};
  s = clipdb__qs8_quantize_row(5, 8, bad, q);
  CHECK(s == 0.0f && q[0] == 0 && q[4] == 0, "a row with NaN: scale %g, q[0] %d", (double)s, q[0]);
  const float inf[3] = {1.0f, -INFINITY, 2.0f};
  s = clipdb__qs8_quantize_row(3, 4, inf, q);
  CHECK(s == 0.0f && q[0] == 0 && q[2] == 0, "a row with -inf: scale %g", (double)s);
}

/* The int8 value of packed weight (j, p). */
static int wq(const clipdb__qs8_packed *w, size_t j, size_t p) {
  const int8_t *panel = w->panels + (j / 8) * (32 + 32 * w->kg);
  return panel[32 + (p / 4) * 32 + (j % 8) * 4 + p % 4];
}

static void check_kernels(size_t m, size_t n, size_t k) {
  float *a = malloc(sizeof(float) * m * k), *wt = malloc(sizeof(float) * n * k);
  for (size_t i = 0; i < m * k; i++) a[i] = frand() * (i % 7 == 0 ? 4.0f : 1.0f);
  for (size_t i = 0; i < n * k; i++) wt[i] = frand();
  clipdb__qs8_packed *w = clipdb__qs8_pack_f32(n, k, wt, k, 1, NULL);
  void *scratch = clipdb__malloc(clipdb__qs8_scratch_bytes(m, k));
  clipdb__qs8_gemm_quantize_a(m, k, a, k, scratch);
  const size_t kpad = w->kg * 4;
  const int8_t *qa = CLIPDB__QS8_SCRATCH_ROWS(scratch, m);
  for (size_t t = 0; t < clipdb__qs8_gemm_kernel_count; t++) {
    const clipdb_qs8_gemm_kernel *kern = &clipdb__qs8_gemm_kernels[t];
    if (!clipdb__qs8_gemm_kernel_usable(kern)) continue;
    const clipdb_qs8_gemm_kernel *twin = &clipdb__qs8_gemm_kernels[kern->twin];
    int bad = 0;
    for (size_t j0 = 0; j0 < n && !bad; j0 += 8) {
      const int8_t *panel = w->panels + (j0 / 8) * (32 + 32 * w->kg);
      for (size_t i0 = 0; i0 < m && !bad; i0 += kern->mr) {
        const size_t rows = m - i0 < kern->mr ? m - i0 : kern->mr;
        int32_t acc[4 * 8], tacc[4 * 8];
        memset(acc, 0x55, sizeof acc);
        kern->ukernel(rows, w->kg, qa + i0 * kpad, kpad, panel, acc);
        for (size_t r0 = 0; r0 < rows; r0 += twin->mr) {
          const size_t tr = rows - r0 < twin->mr ? rows - r0 : twin->mr;
          twin->ukernel(tr, w->kg, qa + (i0 + r0) * kpad, kpad, panel, tacc + r0 * 8);
        }
        for (size_t i = 0; i < rows && !bad; i++)
          for (size_t j = 0; j < 8 && j0 + j < n && !bad; j++) {
            int32_t ref = 0;
            for (size_t p = 0; p < k; p++) ref += (int32_t)qa[(i0 + i) * kpad + p] * wq(w, j0 + j, p);
            if (acc[i * 8 + j] != ref || tacc[i * 8 + j] != ref) {
              CHECK(0, "%s m=%zu n=%zu k=%zu row %zu col %zu: %d (twin %d), reference %d", kern->name,
                    m, n, k, i0 + i, j0 + j, acc[i * 8 + j], tacc[i * 8 + j], ref);
              bad = 1;
            }
          }
      }
    }
  }
  clipdb__free(scratch);
  clipdb__qs8_free(w);
  free(a), free(wt);
}

/* residual: 0 none, 1 C's old value (in place), 2 another buffer */
static void check_driver(size_t m, size_t n, size_t k, int residual, clipdb_act act) {
  const size_t lda = k + 3, ldc = n + 2, ldr = n + 5;
  float *a = malloc(sizeof(float) * m * lda), *wt = malloc(sizeof(float) * n * k);
  float *bias = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * m * ldc);
  float *c0 = malloc(sizeof(float) * m * ldc), *res = malloc(sizeof(float) * m * ldr);
  for (size_t i = 0; i < m * lda; i++) a[i] = frand();
  for (size_t i = 0; i < n * k; i++) wt[i] = frand();
  for (size_t i = 0; i < n; i++) bias[i] = frand();
  for (size_t i = 0; i < m * ldc; i++) c0[i] = frand();
  for (size_t i = 0; i < m * ldr; i++) res[i] = frand();
  const clipdb_epilogue ep = residual == 1 ? clipdb_epilogue_residual(c, ldc, act)
                             : residual == 2 ? clipdb_epilogue_residual(res, ldr, act)
                                             : clipdb_epilogue_act(act);
  const int plain = residual == 0 && act == CLIPDB_ACT_NONE;
  /* weights given as [K][N] (a projection's layout) */
  clipdb__qs8_packed *w = clipdb__qs8_pack_f32(n, k, wt, 1, n, bias);
  void *scratch = clipdb__malloc(clipdb__qs8_scratch_bytes(m, k));
  clipdb__qs8_gemm_quantize_a(m, k, a, lda, scratch);
  const float *rs = scratch;
  const int8_t *qa = CLIPDB__QS8_SCRATCH_ROWS(scratch, m);
  for (size_t t = 0; t < clipdb__qs8_gemm_kernel_count; t++) {
    const clipdb_qs8_gemm_kernel *kern = &clipdb__qs8_gemm_kernels[t];
    if (!clipdb__qs8_gemm_kernel_usable(kern)) continue;
    memcpy(c, c0, sizeof(float) * m * ldc);
    /* two column slices, as the threaded split does */
    const size_t cut = n > 8 ? (n / 2) / 8 * 8 : n;
    clipdb__qs8_gemm_columns(kern, m, w, scratch, 0, cut, c, ldc, ep);
    if (cut < n) clipdb__qs8_gemm_columns(kern, m, w, scratch, cut, n, c, ldc, ep);
    double worst = 0.0;
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        double y = 0.0;
        for (size_t p = 0; p < k; p++) y += (double)qa[i * (w->kg * 4) + p] * wq(w, j, p);
        y = y * rs[i] * w->col_scale[j] + bias[j];
        if (residual == 1) y += c0[i * ldc + j];
        if (residual == 2) y += res[i * ldr + j];
        if (act == CLIPDB_ACT_RELU) y = y > 0 ? y : 0;
        if (act == CLIPDB_ACT_QUICK_GELU) y = y / (1.0 + exp(-1.702 * y));
        const double e = fabs(y - c[i * ldc + j]) / (1.0 + fabs(y));
        if (e > worst) worst = e;
      }
    CHECK(worst < 1e-5, "%s driver m=%zu n=%zu k=%zu residual %d act %d: error %.3g", kern->name,
          m, n, k, residual, (int)act, worst);
    /* the padding between rows is untouched */
    for (size_t i = 0; i < m; i++)
      CHECK(c[i * ldc + n] == c0[i * ldc + n], "%s wrote past column n", kern->name);
  }
  /* and the float result stays close to the unquantized product */
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n && plain; j++) {
      double y = bias[j];
      for (size_t p = 0; p < k; p++) y += (double)a[i * lda + p] * wt[p * n + j];
      num += (y - c[i * ldc + j]) * (y - c[i * ldc + j]);
      den += y * y;
    }
  if (plain) CHECK(sqrt(num / den) < 0.02, "relative RMS error to float %.4f", sqrt(num / den));
  clipdb__free(scratch);
  clipdb__qs8_free(w);
  free(a), free(wt), free(bias), free(c), free(c0), free(res);
}

int main(void) {
  check_rounding();
  for (int it = 0; it < 300; it++) check_kernels(irand(1, 13), irand(1, 37), irand(1, 77));
  check_kernels(50, 24, 768);
  check_kernels(7, 9, 4608); /* RN50's deepest im2col K */
  /* every residual form (none, in place, another buffer) with every activation */
  for (int it = 0; it < 45; it++)
    check_driver(irand(1, 11), irand(1, 41), irand(1, 70), it % 3, (clipdb_act)(it / 3 % 3));
  check_driver(50, 72, 768, 0, CLIPDB_ACT_NONE);
  size_t usable = 0;
  for (size_t t = 0; t < clipdb__qs8_gemm_kernel_count; t++) {
    usable += clipdb__qs8_gemm_kernel_usable(&clipdb__qs8_gemm_kernels[t]) != 0;
    printf("  %-32s %s\n", clipdb__qs8_gemm_kernels[t].name,
           clipdb__qs8_gemm_kernel_usable(&clipdb__qs8_gemm_kernels[t]) ? "tested" : "not on this CPU");
  }
#if defined(CLIPDB_X86_KERNELS)
  CHECK(clipdb__qs8_gemm_find("qs8_gemm_4x8c4__avx2") != NULL, "no AVX2 kernel in an x86 build");
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl"))
    CHECK(strcmp(clipdb__qs8_gemm_default()->name, "qs8_gemm_4x8c4__avx512vnni") == 0,
          "default %s on a VNNI CPU", clipdb__qs8_gemm_default()->name);
#endif
  printf("%zu qs8 kernels tested, default %s: %s\n", usable, clipdb__qs8_gemm_default()->name,
         failures ? "FAILED" : "ok");
  return failures != 0;
}
