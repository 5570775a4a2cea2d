/*
 * f32 GEMM kernels (src/kernels/f32-gemm) against a naive double-precision reference:
 * every kernel in the table, random M, N, K in 1..65 (odd sizes and tails), padded row
 * strides, both weight layouts, bias, residual (also in place) and each activation; then the
 * ViT-B/32 shapes (M = 50; K, N in {768, 3072}) with the default kernel. Native SIMD kernels
 * are also compared with their scalar twins: x86 AVX bit for bit before the activation; the
 * fused multiply-add kernels (x86 FMA, AVX-512F) within the bound fused_tolerance() states, on
 * M, N, K in 1..65 and the ViT-B/32 shapes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb-impl.h"
#include "kernels/config.h"
#include "kernels/f32-gemm/f32-gemm.h"

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0) - 1.0);
}
static size_t irand(size_t lo, size_t hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (size_t)(rng % (hi - lo + 1));
}

static int failures;

static double act_ref(double y, clipdb_act act) {
  if (act == CLIPDB_ACT_RELU) return y > 0 ? y : 0;
  if (act == CLIPDB_ACT_QUICK_GELU) return y / (1.0 + exp(-1.702 * y));
  return y;
}

/* One case: returns the worst error relative to the reference's scale. */
static void check(const clipdb_f32_gemm_kernel *kern, size_t m, size_t n, size_t k,
                  int transposed, int use_bias, int residual_mode, clipdb_act act) {
  const size_t lda = k + (irand(0, 1) ? 3 : 0), ldc = n + (irand(0, 1) ? 5 : 0);
  float *a = malloc(sizeof(float) * m * lda);
  float *wt = malloc(sizeof(float) * n * k); /* [N][K] or [K][N] */
  float *bias = malloc(sizeof(float) * n);
  float *res = malloc(sizeof(float) * m * ldc);
  float *c = malloc(sizeof(float) * m * ldc);
  float *packed = clipdb__malloc(sizeof(float) * clipdb__f32_gemm_packed_size(n, k));
  double *ref = malloc(sizeof(double) * m * n);
  for (size_t i = 0; i < m * lda; i++) a[i] = frand();
  for (size_t i = 0; i < n * k; i++) wt[i] = frand();
  for (size_t i = 0; i < n; i++) bias[i] = frand();
  for (size_t i = 0; i < m * ldc; i++) res[i] = c[i] = frand();
  const size_t ns = transposed ? 1 : k, ks = transposed ? n : 1;
  clipdb__f32_gemm_pack(n, k, wt, ns, ks, use_bias ? bias : NULL, packed);
  double scale = 1.0;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      double y = use_bias ? bias[j] : 0.0, mag = 0.0;
      for (size_t kk = 0; kk < k; kk++) {
        y += (double)a[i * lda + kk] * wt[j * ns + kk * ks];
        mag += fabs((double)a[i * lda + kk] * wt[j * ns + kk * ks]);
      }
      if (residual_mode) y += (residual_mode == 2 ? c : res)[i * ldc + j];
      ref[i * n + j] = act_ref(y, act);
      if (mag > scale) scale = mag;
    }
  /* residual_mode: 0 none, 1 separate buffer, 2 in place (R aliases C) */
  const float *r = residual_mode == 1 ? res : residual_mode == 2 ? c : NULL;
  clipdb__f32_gemm(kern, m, n, k, a, lda, packed, c, ldc,
                   clipdb_epilogue_residual(r, ldc, act));
  double worst = 0.0;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      const double e = fabs(c[i * ldc + j] - ref[i * n + j]);
      if (!(e <= worst)) worst = e;
    }
  /* f32 accumulation of k products: error grows ~ k * eps * sum|products|; 1e-6 * scale * 4 */
  if (!(worst <= 4e-7 * scale * sqrt((double)k + 1.0) + 1e-6)) {
    fprintf(stderr, "FAIL %s m=%zu n=%zu k=%zu t=%d bias=%d res=%d act=%d: max error %g (scale %g)\n",
            kern->name, m, n, k, transposed, use_bias, residual_mode, (int)act, worst, scale);
    failures++;
  }
  free(a), free(wt), free(bias), free(res), free(c), free(ref);
  clipdb__free(packed);
}

static int fused(const clipdb_f32_gemm_kernel *kern) {
  return kern->isa == CLIPDB_F32_GEMM_ISA_X86_FMA || kern->isa == CLIPDB_F32_GEMM_ISA_X86_AVX512F;
}

/*
 * How far a fused multiply-add kernel may be from its scalar twin, for one output element.
 * Both sum the same n = K + 2 terms in the same order (bias, the K products, the residual):
 * the twin rounds each product and each add, the FMA kernel rounds once per step. By the
 * standard recursive-summation bound (Higham, Accuracy and Stability of Numerical Algorithms,
 * 2nd ed., eq. 3.5), each is within gamma_n * mag of the exact sum, where gamma_n =
 * n*u / (1 - n*u), u = 2^-24 and mag = |bias| + sum_k |a_k * w_k| + |r|; so they are within
 * 2 * gamma_n * mag of each other. ReLU does not widen a difference; QuickGELU's slope
 * d/dy [y * sigmoid(1.702 y)] is below 1.1 everywhere, and its vector exp differs from libm's
 * expf by up to 1e-6 relative (the bound the AVX kernels are held to). A rounding-only bound:
 * any wrong operand, missed k step or misplaced column is off by about one |a_k w_k|, which
 * is far above it for the K of the twin cases (at K = 65, 2 * gamma_67 = 8e-6).
 */
static double fused_tolerance(size_t k, double mag, float twin_value, clipdb_act act) {
  const double u = 1.0 / 16777216.0, n = (double)k + 2.0;
  const double gamma = n * u / (1.0 - n * u);
  if (act == CLIPDB_ACT_QUICK_GELU) return 1.1 * 2.0 * gamma * mag + 1e-6 * (1.0 + fabsf(twin_value));
  return 2.0 * gamma * mag;
}

/* Compare kernel output c1 with its twin's c2 (m×n, row stride n); mag: per element (NULL for
 * bit-exact kernels). Returns 0 on the first mismatch (reported). */
static int same_as_twin(const clipdb_f32_gemm_kernel *kern, const float *c1, const float *c2,
                        const double *mag, size_t m, size_t n, size_t k, clipdb_act act,
                        int residual) {
  for (size_t i = 0; i < m * n; i++) {
    int same;
    if (mag != NULL)
      same = fabs((double)c1[i] - c2[i]) <= fused_tolerance(k, mag[i], c2[i], act);
    else if (act == CLIPDB_ACT_QUICK_GELU)
      same = fabsf(c1[i] - c2[i]) <= 1e-6f * (1.0f + fabsf(c2[i]));
    else
      same = memcmp(&c1[i], &c2[i], sizeof(float)) == 0;
    if (!same) {
      fprintf(stderr, "FAIL %s vs twin %s m=%zu n=%zu k=%zu act=%d res=%d [%zu]: %.9g vs %.9g\n",
              kern->name, clipdb__f32_gemm_kernels[kern->twin].name, m, n, k, (int)act, residual,
              i, c1[i], c2[i]);
      failures++;
      return 0;
    }
  }
  return 1;
}

/* |bias| + sum_k |a_k w_k| (+ |r|) per output element (w is [N][K], a is [M][K]). */
static double *magnitudes(size_t m, size_t n, size_t k, const float *a, const float *wt,
                          const float *bias, const float *r) {
  double *mag = malloc(sizeof(double) * m * n);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      double s = fabs((double)bias[j]) + (r != NULL ? fabs((double)r[i * n + j]) : 0.0);
      for (size_t kk = 0; kk < k; kk++) s += fabs((double)a[i * k + kk] * wt[j * k + kk]);
      mag[i * n + j] = s;
    }
  return mag;
}

/* One random GEMM: A [m][k], W [n][k], bias [n] and residual [m][n] drawn in that order from
 * frand(), W packed with the bias; c1, c2 [m][n] for two kernels' outputs. */
typedef struct gemm_case {
  float *a, *wt, *bias, *r, *c1, *c2, *packed;
} gemm_case;

static gemm_case case_new(size_t m, size_t n, size_t k) {
  gemm_case g = {malloc(sizeof(float) * m * k), malloc(sizeof(float) * n * k),
                 malloc(sizeof(float) * n),     malloc(sizeof(float) * m * n),
                 malloc(sizeof(float) * m * n), malloc(sizeof(float) * m * n),
                 clipdb__malloc(sizeof(float) * clipdb__f32_gemm_packed_size(n, k))};
  for (size_t i = 0; i < m * k; i++) g.a[i] = frand();
  for (size_t i = 0; i < n * k; i++) g.wt[i] = frand();
  for (size_t i = 0; i < n; i++) g.bias[i] = frand();
  for (size_t i = 0; i < m * n; i++) g.r[i] = frand();
  clipdb__f32_gemm_pack(n, k, g.wt, k, 1, g.bias, g.packed);
  return g;
}

static void case_free(gemm_case *g) {
  free(g->a), free(g->wt), free(g->bias), free(g->r), free(g->c1), free(g->c2);
  clipdb__free(g->packed);
}

/* A SIMD kernel against its scalar twin: bit for bit before the activation (act NONE/RELU,
 * with and without residual) and within the activation's rounding for QuickGELU, except fused
 * kernels, which are held to fused_tolerance(). */
static void check_twin(const clipdb_f32_gemm_kernel *kern, size_t m, size_t n, size_t k,
                       clipdb_act act, int residual) {
  const clipdb_f32_gemm_kernel *twin = &clipdb__f32_gemm_kernels[kern->twin];
  gemm_case g = case_new(m, n, k);
  const float *res = residual ? g.r : NULL;
  clipdb__f32_gemm(kern, m, n, k, g.a, k, g.packed, g.c1, n,
                   clipdb_epilogue_residual(res, n, act));
  clipdb__f32_gemm(twin, m, n, k, g.a, k, g.packed, g.c2, n,
                   clipdb_epilogue_residual(res, n, act));
  double *mag = fused(kern) ? magnitudes(m, n, k, g.a, g.wt, g.bias, res) : NULL;
  same_as_twin(kern, g.c1, g.c2, mag, m, n, k, act, residual);
  free(mag);
  case_free(&g);
}

/* The ViT-B/32 shapes, every fused kernel this CPU runs against the scalar result (all scalar
 * twins compute the same bits: one summation order). Data and magnitudes are made once per
 * shape. Returns the number of cases. */
static int check_fused_twins_vit(void) {
  static const struct { size_t m, n, k; clipdb_act act; int residual; } shapes[] = {
      {50, 768, 768, CLIPDB_ACT_NONE, 1},      /* attention out-projection + residual */
      {50, 3072, 768, CLIPDB_ACT_QUICK_GELU, 0}, /* c_fc */
      {50, 768, 3072, CLIPDB_ACT_NONE, 1},     /* c_proj + residual */
  };
  int cases = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const size_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
    const clipdb_act act = shapes[s].act;
    gemm_case g = case_new(m, n, k);
    const float *res = shapes[s].residual ? g.r : NULL;
    double *mag = magnitudes(m, n, k, g.a, g.wt, g.bias, res);
    const clipdb_f32_gemm_kernel *scalar = &clipdb__f32_gemm_kernels[3]; /* 6x8 scalar */
    if (scalar->twin != 3 || scalar->isa != CLIPDB_F32_GEMM_ISA_BASELINE) {
      fprintf(stderr, "FAIL: table entry 3 (%s) is not a scalar kernel\n", scalar->name);
      failures++;
    }
    clipdb__f32_gemm(scalar, m, n, k, g.a, k, g.packed, g.c2, n,
                     clipdb_epilogue_residual(res, n, act));
    for (size_t ki = 0; ki < clipdb__f32_gemm_kernel_count; ki++) {
      const clipdb_f32_gemm_kernel *kern = &clipdb__f32_gemm_kernels[ki];
      if (!fused(kern) || !clipdb__f32_gemm_kernel_usable(kern)) continue;
      clipdb__f32_gemm(kern, m, n, k, g.a, k, g.packed, g.c1, n,
                       clipdb_epilogue_residual(res, n, act));
      same_as_twin(kern, g.c1, g.c2, mag, m, n, k, act, shapes[s].residual);
      cases++;
    }
    free(mag);
    case_free(&g);
  }
  return cases;
}

int main(void) {
  int cases = 0;
  for (size_t ki = 0; ki < clipdb__f32_gemm_kernel_count; ki++) {
    const clipdb_f32_gemm_kernel *kern = &clipdb__f32_gemm_kernels[ki];
    if (!clipdb__f32_gemm_kernel_usable(kern)) {
      printf("skipping %s: this CPU lacks its instruction set\n", kern->name);
      continue;
    }
    if (kern->twin != (int)ki) {
      for (size_t m = 1; m <= 2 * kern->mr + 1; m++)
        for (size_t n = 1; n <= 17; n += 4) {
          check_twin(kern, m, n, irand(1, 33), (clipdb_act)irand(0, 2), (int)(m & 1));
          cases++;
        }
      /* columns past the widest tile (32: AVX-512 MR×32 passes and every tail after one) */
      for (size_t n = 18; n <= 65; n++) {
        check_twin(kern, irand(1, 2 * kern->mr + 1), n, irand(1, 65), (clipdb_act)irand(0, 2),
                   (int)(n & 1));
        cases++;
      }
      for (int t = 0; t < 60; t++) {
        check_twin(kern, irand(1, 65), irand(1, 65), irand(1, 65), (clipdb_act)irand(0, 2),
                   (int)irand(0, 1));
        cases++;
      }
    }
    /* every M in 1..2*MR+1 and N around the panel width, with small K */
    for (size_t m = 1; m <= 2 * kern->mr + 1; m++)
      for (size_t n = 1; n <= 17; n++) {
        check(kern, m, n, irand(1, 9), (int)(n & 1), 1, 0, CLIPDB_ACT_NONE);
        cases++;
      }
    for (int t = 0; t < 200; t++) {
      check(kern, irand(1, 65), irand(1, 65), irand(1, 65), (int)irand(0, 1), (int)irand(0, 1),
            (int)irand(0, 2), (clipdb_act)irand(0, 2));
      cases++;
    }
  }
  const clipdb_f32_gemm_kernel *def = clipdb__f32_gemm_default();
  /* ViT-B/32 shapes, a text query, and an im2col-sized A (row blocks, with a row tail) */
  static const size_t vit[][3] = {{50, 768, 768}, {50, 3072, 768}, {50, 768, 3072}, {7, 512, 2048},
                                  {787, 24, 576}};
  for (size_t i = 0; i < sizeof vit / sizeof vit[0]; i++) {
    check(def, vit[i][0], vit[i][1], vit[i][2], 0, 1, i == 2 ? 2 : 0,
          i == 1 ? CLIPDB_ACT_QUICK_GELU : CLIPDB_ACT_NONE);
    cases++;
  }
  cases += check_fused_twins_vit();
  /* the per-M choice: always a kernel this CPU runs; with AVX-512F, 10x32 for the ViT-B/32
   * image's 50 tokens, 7x32 for RN50's pixel counts, a 77-token text and im2col blocks */
  const clipdb_kernel_config *cfg = clipdb__kernels_find("auto", NULL);
  for (size_t m = 1; m <= 5000; m++) {
    const clipdb_f32_gemm_kernel *kern = clipdb__kernels_f32_gemm_for_rows(cfg, m);
    if (kern == NULL || !clipdb__f32_gemm_kernel_usable(kern)) {
      fprintf(stderr, "FAIL: for_rows(%zu) is not a usable kernel\n", m);
      failures++;
      break;
    }
  }
  if (def->isa == CLIPDB_F32_GEMM_ISA_X86_AVX512F) {
    static const size_t rows[][2] = {{50, 10}, {49, 7}, {77, 7}, {196, 7}, {3136, 7}, {3600, 7},
                                     {20, 10}, {1, 7}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
      const clipdb_f32_gemm_kernel *kern = clipdb__kernels_f32_gemm_for_rows(cfg, rows[i][0]);
      if (kern->mr != rows[i][1] || kern->isa != CLIPDB_F32_GEMM_ISA_X86_AVX512F) {
        fprintf(stderr, "FAIL: for_rows(%zu) = %s, expected MR %zu\n",
                rows[i][0], kern->name, rows[i][1]);
        failures++;
      }
    }
    cases++;
  }
  if (clipdb_allocated_bytes() != 0) {
    fprintf(stderr, "FAIL: %zu bytes still allocated\n", (size_t)clipdb_allocated_bytes());
    failures++;
  }
  printf("%d cases over %zu kernels (default %s), %d failures\n", cases,
         clipdb__f32_gemm_kernel_count, def->name, failures);
  return failures ? 1 : 0;
}
