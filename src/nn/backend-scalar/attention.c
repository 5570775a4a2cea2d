/* Backend "scalar": attention = the portable implementation (see src/nn/ops.h). */
#include "../ops.h"

void clipdb__attention(size_t n_q, size_t n_kv, size_t heads, size_t head_dim, const float *q,
                       size_t ldq, const float *k, size_t ldk, const float *v, size_t ldv,
                       int causal, float *out, size_t ldo, float *scratch) {
  clipdb__attention_portable(n_q, n_kv, heads, head_dim, q, ldq, k, ldk, v, ldv, causal, out, ldo,
                          scratch);
}

size_t clipdb__attention_scratch_floats(size_t n_q, size_t n_kv, size_t head_dim) {
  return clipdb__attention_portable_scratch_floats(n_q, n_kv, head_dim);
}
