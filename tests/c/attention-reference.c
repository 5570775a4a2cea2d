/* The tests' reference attention (attention-reference.h): one query row at a time, plain
 * loops, the scaled scores through clipdb__softmax. */
#include <math.h>

#include "attention-reference.h"

size_t clipdb__attention_portable_scratch_floats(size_t n_q, size_t n_kv, size_t head_dim) {
  (void)n_q;
  return n_kv + head_dim;
}

void clipdb__attention_portable(size_t n_q, size_t n_kv, size_t heads, size_t head_dim,
                                const float *q, size_t ldq, const float *k, size_t ldk,
                                const float *v, size_t ldv, int causal, float *out, size_t ldo,
                                float *scratch) {
  float scale = 1.0f / sqrtf((float)head_dim);
  float *p = scratch, *qs = scratch + n_kv;
  for (size_t h = 0; h < heads; h++) {
    size_t off = h * head_dim;
    for (size_t i = 0; i < n_q; i++) {
      size_t n = causal ? (i + 1 < n_kv ? i + 1 : n_kv) : n_kv;
      const float *qi = q + i * ldq + off;
      for (size_t d = 0; d < head_dim; d++) qs[d] = qi[d] * scale;
      for (size_t j = 0; j < n; j++) {
        const float *kj = k + j * ldk + off;
        float s = 0.0f;
        for (size_t d = 0; d < head_dim; d++) s += qs[d] * kj[d];
        p[j] = s;
      }
      clipdb__softmax(p, n);
      float *oi = out + i * ldo + off;
      for (size_t d = 0; d < head_dim; d++) oi[d] = 0.0f;
      for (size_t j = 0; j < n; j++) {
        const float *vj = v + j * ldv + off;
        float pj = p[j];
        for (size_t d = 0; d < head_dim; d++) oi[d] += pj * vj[d];
      }
    }
  }
}
