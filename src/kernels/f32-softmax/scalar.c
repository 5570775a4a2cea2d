/* Scaled row softmax, portable reference (contract: f32-softmax.h). */
#include <math.h>

#include "f32-softmax.h"

void clipdb_f32_softmax_ukernel__scalar(size_t n, float scale, float *x) {
  float mx = x[0];
  for (size_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  float sum = 0.0f;
  for (size_t j = 0; j < n; j++) {
    x[j] = expf((x[j] - mx) * scale);
    sum += x[j];
  }
  const float inv = 1.0f / sum;
  for (size_t j = 0; j < n; j++) x[j] *= inv;
}

clipdb_f32_softmax_ukernel_fn clipdb__f32_softmax_default(void) {
#if defined(CLIPDB_WASM_SIMD)
  return clipdb_f32_softmax_ukernel__wasmsimd;
#else
  return clipdb_f32_softmax_ukernel__scalar;
#endif
}
