/*
 * Vector exp for wasm SIMD128 kernels (shared by the QuickGELU epilogues of f32-gemm and
 * qs8-gemm, and f32-softmax). Header-only, static inline; include only in wasm SIMD128 code
 * (wasmsimd.c files, or under CLIPDB_WASM_SIMD).
 */
#ifndef CLIPDB_KERNELS_WASMSIMD_EXP_H
#define CLIPDB_KERNELS_WASMSIMD_EXP_H

#include <wasm_simd128.h>

/* exp(t) for t <= 0 (t clamped to >= -87): 2^n · p(r), n = round(t/ln2), r = t - n·ln2 split in
 * two constants (Cody–Waite), p = degree-6 Taylor polynomial (|r| <= ln2/2: rel. error ~1e-7). */
static inline v128_t clipdb__wasmsimd_exp_nonpositive(v128_t t) {
  t = wasm_f32x4_max(t, wasm_f32x4_splat(-87.0f));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(t, wasm_f32x4_splat(1.44269504f)));
  v128_t rr = wasm_f32x4_sub(t, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693145752f)));
  rr = wasm_f32x4_sub(rr, wasm_f32x4_mul(n, wasm_f32x4_splat(1.42860677e-6f)));
  v128_t p = wasm_f32x4_splat(1.0f / 720.0f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, rr), wasm_f32x4_splat(1.0f / 120.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, rr), wasm_f32x4_splat(1.0f / 24.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, rr), wasm_f32x4_splat(1.0f / 6.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, rr), wasm_f32x4_splat(0.5f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, rr), wasm_f32x4_splat(1.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, rr), wasm_f32x4_splat(1.0f));
  const v128_t ni = wasm_i32x4_trunc_sat_f32x4(n);
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(ni, wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

/* QuickGELU, y · sigmoid(1.702·y), computed from e = exp(-|z|) so it never overflows (the
 * epilogue of f32-gemm and qs8-gemm in wasm). */
static inline v128_t clipdb__wasmsimd_quick_gelu(v128_t y) {
  const v128_t z = wasm_f32x4_mul(y, wasm_f32x4_splat(1.702f));
  const v128_t e = clipdb__wasmsimd_exp_nonpositive(wasm_f32x4_neg(wasm_f32x4_abs(z)));
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t num = wasm_v128_bitselect(e, one, wasm_f32x4_lt(z, wasm_f32x4_splat(0.0f)));
  return wasm_f32x4_mul(y, wasm_f32x4_div(num, wasm_f32x4_add(one, e)));
}

#endif
