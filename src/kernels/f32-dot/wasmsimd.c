/* f32-dot wasm SIMD128 kernel: see f32-dot.h. Unaligned v128 loads are allowed in wasm. */
#include <wasm_simd128.h>

#include "f32-dot.h"

void clipdb_f32_dot_ukernel__wasmsimd_u16(size_t rows, size_t dim, const float *q,
                                          const float *m, size_t stride, float *out) {
  for (size_t r = 0; r < rows; r++) {
    const float *row = m + r * stride;
    v128_t acc0 = wasm_f32x4_splat(0.0f);
    v128_t acc1 = acc0, acc2 = acc0, acc3 = acc0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(q + i), wasm_v128_load(row + i)));
      acc1 = wasm_f32x4_add(acc1, wasm_f32x4_mul(wasm_v128_load(q + i + 4), wasm_v128_load(row + i + 4)));
      acc2 = wasm_f32x4_add(acc2, wasm_f32x4_mul(wasm_v128_load(q + i + 8), wasm_v128_load(row + i + 8)));
      acc3 = wasm_f32x4_add(acc3, wasm_f32x4_mul(wasm_v128_load(q + i + 12), wasm_v128_load(row + i + 12)));
    }
    for (; i + 4 <= dim; i += 4)
      acc0 = wasm_f32x4_add(acc0, wasm_f32x4_mul(wasm_v128_load(q + i), wasm_v128_load(row + i)));
    v128_t acc = wasm_f32x4_add(wasm_f32x4_add(acc0, acc1), wasm_f32x4_add(acc2, acc3));
    float s = (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
              (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3));
    for (; i < dim; i++) s += q[i] * row[i];
    out[r] = s;
  }
}
