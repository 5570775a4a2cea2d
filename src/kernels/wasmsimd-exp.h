/*
 * Vector exp for wasm SIMD128 kernels (shared by f32-gemm's QuickGELU epilogue and
 * f32-softmax). Header-only, static inline; include only from wasmsimd.c files.
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

#endif
