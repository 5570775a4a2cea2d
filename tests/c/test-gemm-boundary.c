/*
 * The GEMM boundary (src/nn/gemm.h) of every backend this build holds (src/nn/backend.h), one
 * after another in this process, against the portable reference
 * (gemm-reference.c): random shapes 1..65 and the ViT-B/32 shapes, both weight
 * layouts, row strides, every activation with no residual, C itself (in place) or another
 * buffer as the residual (src/kernels/epilogue.h); then clipdb__gemm_free must leave no
 * allocation behind. Weights packed by one backend are then run with another current: they
 * keep the backend that made them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb-impl.h"
#include "gemm-reference.h"
#include "nn/backend.h"

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
              clipdb__backend_current()->name, m, n, k, transposed, residual, (int)act, pad,
              worst);
      failures++;
    }
  }
  clipdb__gemm_free(packed);
  free(a), free(w), free(bias), free(res), free(c), free(ref), free(pref);
}

/* Weights packed while backend `a` is current, run, measured and freed while `b` is: they must
 * still go to `a` (the reference decides; with a = xnnpack and b = simd, reading XNNPACK's
 * handle as panels would give garbage or crash). */
static void check_across(const clipdb__backend *a, const clipdb__backend *b) {
  const size_t m = 9, n = 21, k = 33;
  float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
  float *bias = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * m * n);
  float *ref = malloc(sizeof(float) * m * n);
  float *pref = malloc(sizeof(float) * clipdb__gemm_packed_floats_portable(n, k));
  for (size_t i = 0; i < m * k; i++) x[i] = frand();
  for (size_t i = 0; i < n * k; i++) w[i] = frand();
  for (size_t i = 0; i < n; i++) bias[i] = frand();
  clipdb__backend_select(a->name);
  clipdb__gemm_weights *packed = clipdb__gemm_pack(n, k, w, k, 1, bias);
  clipdb__backend_select(b->name);
  if (packed == NULL) {
    fprintf(stderr, "FAIL pack on %s\n", a->name);
    failures++;
  } else {
    clipdb__gemm_run(m, n, k, x, k, packed, c, n, clipdb_epilogue_act(CLIPDB_ACT_RELU));
    clipdb__gemm_pack_portable(n, k, w, k, 1, bias, pref);
    clipdb__gemm_run_portable(m, n, k, x, k, pref, ref, n, clipdb_epilogue_act(CLIPDB_ACT_RELU));
    double worst = 0.0;
    for (size_t i = 0; i < m * n; i++) {
      const double e = fabs((double)c[i] - ref[i]);
      if (!(e <= worst)) worst = e;
    }
    if (!(worst <= 1e-4) || clipdb__gemm_weights_bytes(packed) < (n * k + n) * sizeof(float)) {
      fprintf(stderr, "FAIL packed on %s, run with %s current: max diff %g, %zu bytes\n",
              a->name, b->name, worst, clipdb__gemm_weights_bytes(packed));
      failures++;
    }
  }
  clipdb__gemm_free(packed);
  free(x), free(w), free(bias), free(c), free(ref), free(pref);
}

int main(void) {
  const clipdb__backend *start = clipdb__backend_current();
  if (getenv("CLIPDB_BACKEND") == NULL && start != clipdb__backends[0]) {
    fprintf(stderr, "FAIL: the process starts on %s, not the build's default %s\n", start->name,
            clipdb__backends[0]->name);
    failures++;
  }
  int cases = 0, backends = 0;
  for (size_t b = 0; clipdb__backends[b] != NULL; b++, backends++) {
    if (clipdb__backend_select(clipdb__backends[b]->name) != 0 ||
        clipdb__backend_current() != clipdb__backends[b]) {
      fprintf(stderr, "FAIL: backend %s not selected\n", clipdb__backends[b]->name);
      failures++;
      continue;
    }
    const int before = failures;
    for (int t = 0; t < 300; t++, cases++)
      check(irand(1, 65), irand(1, 65), irand(1, 65), (int)irand(0, 1), (int)irand(0, 2),
            (clipdb_act)irand(0, 2), irand(0, 1) * irand(1, 7));
    check(50, 2304, 768, 0, NO_RESIDUAL, CLIPDB_ACT_NONE, 0);
    check(50, 3072, 768, 0, NO_RESIDUAL, CLIPDB_ACT_QUICK_GELU, 0);
    check(50, 768, 3072, 0, IN_PLACE, CLIPDB_ACT_NONE, 0);
    check(7, 512, 768, 1, NO_RESIDUAL, CLIPDB_ACT_NONE, 0);
    cases += 4;
    printf("%s backend: 304 GEMM cases vs the portable reference, %d failures\n",
           clipdb__backends[b]->name, failures - before);
  }
  for (size_t a = 0; clipdb__backends[a] != NULL; a++)
    for (size_t b = 0; clipdb__backends[b] != NULL; b++)
      if (a != b) check_across(clipdb__backends[a], clipdb__backends[b]);
  if (clipdb__backend_select("no-such-backend") != -1 || clipdb__backend_find("scalar") != NULL) {
    fprintf(stderr, "FAIL: an unknown backend name was accepted\n");
    failures++;
  }
  clipdb__backend_select(start->name);
  if (clipdb_allocated_bytes() != 0) {
    fprintf(stderr, "FAIL: %zu bytes still allocated after release\n", clipdb_allocated_bytes());
    failures++;
  }
  printf("%d backend(s), %d GEMM cases in all, %d failures\n", backends, cases, failures);
  return failures ? 1 : 0;
}
