/*
 * clipdb__attention of this build's backend against the portable reference
 * (clipdb__attention_portable, attention-reference.c), and the f32 softmax kernel against a double-precision
 * softmax: random shapes (n_q = 1 as in attention pooling, n_q = n_kv, causal and not),
 * q/k/v interleaved in one qkv buffer as the encoders lay them out.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "clipdb-impl.h"
#include "kernels/f32-softmax/f32-softmax.h"
#include "attention-reference.h"

static unsigned long long rng = 0x1234567887654321ull;
static float frand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0) - 1.0);
}
static size_t irand(size_t lo, size_t hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (size_t)(rng % (hi - lo + 1));
}

static int failures;

static void check_attention(size_t n_q, size_t n_kv, size_t heads, size_t hd, int causal) {
  const size_t w = heads * hd, ld = 3 * w + 1;
  float *qkv = malloc(sizeof(float) * n_kv * ld);
  float *out = malloc(sizeof(float) * n_q * (w + 2)), *ref = malloc(sizeof(float) * n_q * (w + 2));
  for (size_t i = 0; i < n_kv * ld; i++) qkv[i] = 3.0f * frand();
  for (size_t i = 0; i < n_q * (w + 2); i++) out[i] = ref[i] = 5.0f;
  float *s1 = malloc(sizeof(float) * clipdb__attention_scratch_floats(n_q, n_kv, hd));
  float *s2 = malloc(sizeof(float) * clipdb__attention_portable_scratch_floats(n_q, n_kv, hd));
  clipdb__attention(n_q, n_kv, heads, hd, qkv, ld, qkv + w, ld, qkv + 2 * w, ld, causal, out,
                    w + 2, s1);
  clipdb__attention_portable(n_q, n_kv, heads, hd, qkv, ld, qkv + w, ld, qkv + 2 * w, ld, causal,
                             ref, w + 2, s2);
  double worst = 0.0;
  for (size_t i = 0; i < n_q * (w + 2); i++) {
    const double e = fabs((double)out[i] - ref[i]);
    if (!(e <= worst)) worst = e;
  }
  if (!(worst <= 2e-5)) {
    fprintf(stderr, "FAIL attention n_q=%zu n_kv=%zu heads=%zu hd=%zu causal=%d: max diff %g\n",
            n_q, n_kv, heads, hd, causal, worst);
    failures++;
  }
  free(qkv), free(out), free(ref), free(s1), free(s2);
}

static void check_softmax(size_t n, float scale) {
  float *x = malloc(sizeof(float) * n);
  double *ref = malloc(sizeof(double) * n), mx = -INFINITY, sum = 0.0;
  for (size_t j = 0; j < n; j++) x[j] = 20.0f * frand();
  for (size_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  for (size_t j = 0; j < n; j++) sum += ref[j] = exp((x[j] - mx) * scale);
  clipdb__f32_softmax_default()(n, scale, x);
  for (size_t j = 0; j < n; j++)
    if (!(fabs(x[j] - ref[j] / sum) <= 1e-6 + 1e-5 * ref[j] / sum)) {
      fprintf(stderr, "FAIL softmax n=%zu [%zu]: %g vs %g\n", n, j, x[j], ref[j] / sum);
      failures++;
      break;
    }
  free(x), free(ref);
}

int main(void) {
  int cases = 0;
  for (size_t n = 1; n <= 70; n++, cases++) check_softmax(n, n % 3 ? 0.125f : 1.0f);
  for (int t = 0; t < 120; t++, cases++) {
    const size_t n_kv = irand(1, 80);
    const size_t n_q = t % 3 == 0 ? 1 : n_kv;
    check_attention(n_q, n_kv, irand(1, 4), irand(1, 70), n_q == n_kv && (t & 1));
  }
  check_attention(50, 50, 12, 64, 0); /* ViT-B/32 */
  check_attention(77, 77, 8, 64, 1);  /* text */
  check_attention(1, 50, 32, 64, 0);  /* RN50 attention pool */
  cases += 3;
  printf("%s backend: %d attention/softmax cases, %d failures\n", clipdb_backend_name(), cases,
         failures);
  return failures ? 1 : 0;
}
