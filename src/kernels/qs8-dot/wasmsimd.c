/* qs8-dot wasm SIMD128 kernel: see qs8-dot.h. Unaligned v128 loads are allowed in wasm. */
#include <wasm_simd128.h>

#include "qs8-dot.h"

void clipdb_qs8_dot_ukernel__wasmsimd_u16(size_t rows, size_t dim, const int16_t *q,
                                          const int8_t *m, size_t stride, int32_t *out) {
  for (size_t r = 0; r < rows; r++) {
    const int8_t *row = m + r * stride;
    v128_t acc0 = wasm_i32x4_splat(0), acc1 = acc0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
      v128_t codes = wasm_v128_load(row + i);
      acc0 = wasm_i32x4_add(acc0, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(codes), wasm_v128_load(q + i)));
      acc1 = wasm_i32x4_add(acc1, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(codes), wasm_v128_load(q + i + 8)));
    }
    v128_t acc = wasm_i32x4_add(acc0, acc1);
    int32_t s = wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 1) +
                wasm_i32x4_extract_lane(acc, 2) + wasm_i32x4_extract_lane(acc, 3);
    for (; i < dim; i++) s += (int32_t)q[i] * (int32_t)row[i];
    out[r] = s;
  }
}
