/*
 * Attention on the f32-gemm microkernels (src/nn/ops.h, clipdb__attention; every backend's):
 * for each head h, with K_h, V_h the head's column group,
 *   pack K_h as a GEMM weight (n = n_kv outputs, k = head_dim)   -> S = Q_h · K_hᵀ  [n_q, n_kv]
 *   softmax each row of S with the 1/√head_dim scale (causal rows: first i+1 keys, rest 0)
 *   pack V_h (n = head_dim outputs, k = n_kv)                      -> O_h = P · V_h  [n_q, hd]
 * Only one head's score matrix exists at a time per thread (n_q·n_kv floats of scratch per
 * lane). Packing costs O(n_kv·head_dim) per head, small next to the two products. With a
 * thread pool current, heads are split into one contiguous group per thread.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

#include "../kernels/config.h"
#include "threads.h"

/* One lane's scratch: K_h and V_h packed, one head's scores; rounded up to 64 bytes. */
static size_t lane_floats(size_t n_q, size_t n_kv, size_t head_dim) {
  const size_t f = clipdb__f32_gemm_packed_size(n_kv, head_dim) +
                   clipdb__f32_gemm_packed_size(head_dim, n_kv) + n_q * n_kv;
  return (f + 15) / 16 * 16;
}

/* Lanes: one per thread of the current pool (src/nn/threads.h), so each thread works on its
 * own heads with its own scratch. Sized inside the embed call, where the pool is current. */
size_t clipdb__attention_scratch_floats(size_t n_q, size_t n_kv, size_t head_dim) {
  return lane_floats(n_q, n_kv, head_dim) * clipdb__threads_current();
}

typedef struct {
  size_t n_q, n_kv, heads, head_dim, ldq, ldk, ldv, ldo, lanes;
  const float *q, *k, *v;
  int causal;
  float *out, *scratch;
} attention_job;

/* Lane `lane` computes heads [lane·heads/lanes, (lane+1)·heads/lanes) in its own scratch; a
 * head's arithmetic does not depend on its lane, so results do not depend on the thread count. */
static void attention_lane(void *ctx, size_t lane) {
  const attention_job *j = ctx;
  const clipdb_kernel_config *cfg = clipdb__kernels();
  const clipdb_f32_gemm_kernel *kern = cfg->f32_gemm;
  const clipdb_f32_softmax_ukernel_fn softmax = cfg->f32_softmax;
  const size_t n_q = j->n_q, n_kv = j->n_kv, head_dim = j->head_dim;
  const float scale = 1.0f / sqrtf((float)head_dim);
  float *kpack = j->scratch + lane * lane_floats(n_q, n_kv, head_dim);
  float *vpack = kpack + clipdb__f32_gemm_packed_size(n_kv, head_dim);
  float *s = vpack + clipdb__f32_gemm_packed_size(head_dim, n_kv);
  const size_t h0 = lane * j->heads / j->lanes, h1 = (lane + 1) * j->heads / j->lanes;
  for (size_t h = h0; h < h1; h++) {
    const size_t off = h * head_dim;
    clipdb__f32_gemm_pack(n_kv, head_dim, j->k + off, j->ldk, 1, NULL, kpack);
    clipdb__f32_gemm(kern, n_q, n_kv, head_dim, j->q + off, j->ldq, kpack, s, n_kv,
                     clipdb_epilogue_act(CLIPDB_ACT_NONE));
    for (size_t i = 0; i < n_q; i++) {
      const size_t n = j->causal ? (i + 1 < n_kv ? i + 1 : n_kv) : n_kv;
      softmax(n, scale, s + i * n_kv);
      if (n < n_kv) memset(s + i * n_kv + n, 0, (n_kv - n) * sizeof(float));
    }
    clipdb__f32_gemm_pack(head_dim, n_kv, j->v + off, 1, j->ldv, NULL, vpack);
    clipdb__f32_gemm(kern, n_q, head_dim, n_kv, s, n_kv, vpack, j->out + off, j->ldo,
                     clipdb_epilogue_act(CLIPDB_ACT_NONE));
  }
}

void clipdb__attention(size_t n_q, size_t n_kv, size_t heads, size_t head_dim, const float *q,
                       size_t ldq, const float *k, size_t ldk, const float *v, size_t ldv,
                       int causal, float *out, size_t ldo, float *scratch) {
  attention_job job = {n_q, n_kv, heads, head_dim, ldq, ldk, ldv, ldo, 1, q, k, v, causal, out, scratch};
  size_t lanes = clipdb__threads_current();
  if (lanes > heads) lanes = heads;
  /* Small attention (a ResNet's pool: one query) stays on this thread. */
  if (lanes > 1 && 2 * n_q * n_kv * head_dim * heads >= clipdb__parallel_min_macs) {
    job.lanes = lanes;
    clipdb__parallel_for(lanes, attention_lane, &job);
  } else {
    attention_lane(&job, 0);
  }
}
