/*
 * The GEMM boundary (src/nn/gemm.h) of this build's backend against the portable reference
 * (gemm-reference.c): random shapes 1..65 and the ViT-B/32 shapes, both weight
 * layouts, row strides, every activation with no residual, C itself (in place) or another
 * buffer as the residual (src/kernels/epilogue.h); then clipdb__gemm_free must leave no
 * allocation behind. Runs on whichever backend CMake selected (scalar, simd, xnnpack).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb-impl.h"
#include "gemm-reference.h"

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0) - 1.0);
}
static size_t irand(size_t lo, size_t hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (size_t)(rng % (hi - lo + 1));
}

static int failures;

enum { NO_RESIDUAL, IN_PLACE, SEPARATE }; /* the residual: none, C's old value, another buffer */

static void check(size_t m, size_t n, size_t k, int transposed, int residual, clipdb_act act,
                  size_t pad) {
  const size_t lda = k + pad, ldc = n + pad, ldr = n + 3;
  float *a = malloc(sizeof(float) * m * lda), *w = malloc(sizeof(float) * n * k);
  float *bias = malloc(sizeof(float) * n), *res = malloc(sizeof(float) * m * ldr);
  float *c = malloc(sizeof(float) * m * ldc), *ref = malloc(sizeof(float) * m * ldc);
  for (size_t i = 0; i < m * lda; i++) a[i] = frand();
  for (size_t i = 0; i < n * k; i++) w[i] = frand();
  for (size_t i = 0; i < n; i++) bias[i] = frand();
  for (size_t i = 0; i < m * ldr; i++) res[i] = frand();
  for (size_t i = 0; i < m * ldc; i++) c[i] = ref[i] = frand();
  const clipdb_epilogue ep_c = residual == IN_PLACE ? clipdb_epilogue_residual(c, ldc, act)
                               : residual == SEPARATE ? clipdb_epilogue_residual(res, ldr, act)
                                                      : clipdb_epilogue_act(act);
  clipdb_epilogue ep_ref = ep_c;
  if (residual == IN_PLACE) ep_ref.residual = ref;
  const size_t sn = transposed ? 1 : k, sk = transposed ? n : 1;
  clipdb__gemm_weights *packed = clipdb__gemm_pack(n, k, w, sn, sk, bias);
  float *pref = malloc(sizeof(float) * clipdb__gemm_packed_floats_portable(n, k));
  if (packed == NULL) {
    fprintf(stderr, "FAIL pack %zu x %zu\n", n, k);
    failures++;
  } else {
    clipdb__gemm_pack_portable(n, k, w, sn, sk, bias, pref);
    clipdb__gemm_run(m, n, k, a, lda, packed, c, ldc, ep_c);
    clipdb__gemm_run_portable(m, n, k, a, lda, pref, ref, ldc, ep_ref);
    /* the weights it says it holds: at least W and bias in float32 */
    if (clipdb__gemm_weights_bytes(packed) < (n * k + n) * sizeof(float)) {
      fprintf(stderr, "FAIL weights_bytes %zu for %zu x %zu\n", clipdb__gemm_weights_bytes(packed), n, k);
      failures++;
    }
    double worst = 0.0;
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < ldc; j++) {
        const double e = fabs((double)c[i * ldc + j] - ref[i * ldc + j]);
        if (j >= n && e != 0.0) worst = INFINITY; /* wrote outside the n columns */
        if (!(e <= worst)) worst = e;
      }
    if (!(worst <= 2e-5 * sqrt((double)k))) {
      fprintf(stderr, "FAIL %s m=%zu n=%zu k=%zu t=%d residual=%d act=%d pad=%zu: max diff %g\n",
              clipdb_backend_name(), m, n, k, transposed, residual, (int)act, pad, worst);
      failures++;
    }
  }
  clipdb__gemm_free(packed);
  free(a), free(w), free(bias), free(res), free(c), free(ref), free(pref);
}

int main(void) {
  int cases = 0;
  for (int t = 0; t < 300; t++, cases++)
    check(irand(1, 65), irand(1, 65), irand(1, 65), (int)irand(0, 1), (int)irand(0, 2),
          (clipdb_act)irand(0, 2), irand(0, 1) * irand(1, 7));
  check(50, 2304, 768, 0, NO_RESIDUAL, CLIPDB_ACT_NONE, 0);
  check(50, 3072, 768, 0, NO_RESIDUAL, CLIPDB_ACT_QUICK_GELU, 0);
  check(50, 768, 3072, 0, IN_PLACE, CLIPDB_ACT_NONE, 0);
  check(7, 512, 768, 1, NO_RESIDUAL, CLIPDB_ACT_NONE, 0);
  cases += 4;
  if (clipdb_allocated_bytes() != 0) {
    fprintf(stderr, "FAIL: %zu bytes still allocated after release\n", clipdb_allocated_bytes());
    failures++;
  }
  printf("%s backend: %d GEMM cases vs the portable reference, %d failures\n",
         clipdb_backend_name(), cases, failures);
  return failures ? 1 : 0;
}
