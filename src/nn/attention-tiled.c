/*
 * Attention on the f32-gemm microkernels (src/nn/ops.h, clipdb__attention_tiled): for each
 * head h, with K_h, V_h the head's column group,
 *   pack K_h as a GEMM weight (n = n_kv outputs, k = head_dim)   -> S = Q_h · K_hᵀ  [n_q, n_kv]
 *   softmax each row of S with the 1/√head_dim scale (causal rows: first i+1 keys, rest 0)
 *   pack V_h (n = head_dim outputs, k = n_kv)                      -> O_h = P · V_h  [n_q, hd]
 * Only one head's score matrix exists at a time (n_q·n_kv floats of scratch). Packing costs
 * O(n_kv·head_dim) per head, small next to the two products.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

#include "../kernels/f32-gemm/f32-gemm.h"
#include "../kernels/f32-softmax/f32-softmax.h"

size_t clipdb__attention_tiled_scratch_floats(size_t n_q, size_t n_kv, size_t head_dim) {
  return clipdb__f32_gemm_packed_size(n_kv, head_dim) + clipdb__f32_gemm_packed_size(head_dim, n_kv) +
         n_q * n_kv;
}

void clipdb__attention_tiled(size_t n_q, size_t n_kv, size_t heads, size_t head_dim,
                             const float *q, size_t ldq, const float *k, size_t ldk,
                             const float *v, size_t ldv, int causal, float *out, size_t ldo,
                             float *scratch) {
  const clipdb_f32_gemm_kernel *kern = clipdb__f32_gemm_default();
  const clipdb_f32_softmax_ukernel_fn softmax = clipdb__f32_softmax_default();
  const float scale = 1.0f / sqrtf((float)head_dim);
  float *kpack = scratch;
  float *vpack = kpack + clipdb__f32_gemm_packed_size(n_kv, head_dim);
  float *s = vpack + clipdb__f32_gemm_packed_size(head_dim, n_kv);
  for (size_t h = 0; h < heads; h++) {
    const size_t off = h * head_dim;
    clipdb__f32_gemm_pack(n_kv, head_dim, k + off, ldk, 1, NULL, kpack);
    clipdb__f32_gemm(kern, n_q, n_kv, head_dim, q + off, ldq, kpack, s, n_kv, NULL, 0,
                     CLIPDB_F32_ACT_NONE);
    for (size_t i = 0; i < n_q; i++) {
      const size_t n = causal ? (i + 1 < n_kv ? i + 1 : n_kv) : n_kv;
      softmax(n, scale, s + i * n_kv);
      if (n < n_kv) memset(s + i * n_kv + n, 0, (n_kv - n) * sizeof(float));
    }
    clipdb__f32_gemm_pack(head_dim, n_kv, v + off, 1, ldv, NULL, vpack);
    clipdb__f32_gemm(kern, n_q, head_dim, n_kv, s, n_kv, vpack, out + off, ldo, NULL, 0,
                     CLIPDB_F32_ACT_NONE);
  }
}
