/* Scaled row softmax in wasm SIMD128 (contract: f32-softmax.h; twin: scalar.c). Four lanes at
 * a time; the last n % 4 elements go through a zero-padded vector whose extra lanes are
 * neither summed nor stored. */
#include <string.h>
#include <wasm_simd128.h>

#include "f32-softmax.h"
#include "../wasmsimd-exp.h"

void clipdb_f32_softmax_ukernel__wasmsimd(size_t n, float scale, float *x) {
  const size_t n4 = n & ~(size_t)3;
  float mx = x[0];
  if (n4 > 0) {
    v128_t vm = wasm_v128_load(x);
    for (size_t j = 4; j < n4; j += 4) vm = wasm_f32x4_max(vm, wasm_v128_load(x + j));
    float lanes[4];
    wasm_v128_store(lanes, vm);
    for (int l = 0; l < 4; l++) mx = lanes[l] > mx ? lanes[l] : mx;
  }
  for (size_t j = n4; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  const v128_t vmx = wasm_f32x4_splat(mx), vscale = wasm_f32x4_splat(scale);
  v128_t vsum = wasm_f32x4_splat(0.0f);
  for (size_t j = 0; j < n4; j += 4) {
    const v128_t e = clipdb__wasmsimd_exp_nonpositive(
        wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + j), vmx), vscale));
    wasm_v128_store(x + j, e);
    vsum = wasm_f32x4_add(vsum, e);
  }
  float lanes[4];
  wasm_v128_store(lanes, vsum);
  float sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  if (n4 < n) {
    float t[4] = {0};
    memcpy(t, x + n4, (n - n4) * sizeof(float));
    const v128_t e = clipdb__wasmsimd_exp_nonpositive(
        wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(t), vmx), vscale));
    wasm_v128_store(t, e);
    for (size_t j = 0; j < n - n4; j++) sum += t[j];
    memcpy(x + n4, t, (n - n4) * sizeof(float));
  }
  const v128_t inv = wasm_f32x4_splat(1.0f / sum);
  for (size_t j = 0; j < n4; j += 4) wasm_v128_store(x + j, wasm_f32x4_mul(wasm_v128_load(x + j), inv));
  for (size_t j = n4; j < n; j++) x[j] *= 1.0f / sum;
}
