/*
 * wasm SIMD128 qs8 GEMM microkernels: each group of 4 inputs × 8 columns (32 bytes) is widened
 * to four i16x8 vectors (two columns × four inputs each), the row's 4 activations to one
 * i16x8 (a0..a3 twice), and i32x4.dot_i16x8_s gives pair sums [c0: a0w0+a1w1, c0: a2w2+a3w3,
 * c1: ..., c1: ...]; the pairs are folded once after the K loop. Products fit int16·int16 ->
 * int32 exactly, so the sums equal the scalar twin's.
 */
#include <wasm_simd128.h>

#include "qs8-gemm.h"

static inline v128_t fold_pairs(v128_t x, v128_t y) {
  /* [x0+x1, x2+x3, y0+y1, y2+y3] */
  return wasm_i32x4_add(wasm_i32x4_shuffle(x, y, 0, 2, 4, 6), wasm_i32x4_shuffle(x, y, 1, 3, 5, 7));
}

#define DEFINE_WASMSIMD_UKERNEL(MR)                                                            \
  void clipdb_qs8_gemm_ukernel_##MR##x8c4__wasmsimd_dot16(size_t mr, size_t kg,                \
                                                          const int8_t *a, size_t a_stride,    \
                                                          const int8_t *w, int32_t *acc) {     \
    const int8_t *arow[MR];                                                                    \
    for (size_t i = 0; i < MR; i++) arow[i] = a + (i < mr ? i : mr - 1) * a_stride;           \
    v128_t s[MR][4];                                                                           \
    for (size_t i = 0; i < MR; i++)                                                            \
      for (size_t q = 0; q < 4; q++) s[i][q] = wasm_i32x4_const_splat(0);                      \
    w += 32;                                                                                   \
    for (size_t g = 0; g < kg; g++) {                                                          \
      const v128_t wa = wasm_v128_load(w), wb = wasm_v128_load(w + 16);                        \
      const v128_t w01 = wasm_i16x8_extend_low_i8x16(wa), w23 = wasm_i16x8_extend_high_i8x16(wa); \
      const v128_t w45 = wasm_i16x8_extend_low_i8x16(wb), w67 = wasm_i16x8_extend_high_i8x16(wb); \
      for (size_t i = 0; i < MR; i++) {                                                        \
        const v128_t av = wasm_i16x8_extend_low_i8x16(wasm_v128_load32_splat(arow[i] + 4 * g)); \
        s[i][0] = wasm_i32x4_add(s[i][0], wasm_i32x4_dot_i16x8(w01, av));                      \
        s[i][1] = wasm_i32x4_add(s[i][1], wasm_i32x4_dot_i16x8(w23, av));                      \
        s[i][2] = wasm_i32x4_add(s[i][2], wasm_i32x4_dot_i16x8(w45, av));                      \
        s[i][3] = wasm_i32x4_add(s[i][3], wasm_i32x4_dot_i16x8(w67, av));                      \
      }                                                                                        \
      w += 32;                                                                                 \
    }                                                                                          \
    for (size_t i = 0; i < mr; i++) {                                                          \
      wasm_v128_store(acc + i * 8, fold_pairs(s[i][0], s[i][1]));                              \
      wasm_v128_store(acc + i * 8 + 4, fold_pairs(s[i][2], s[i][3]));                          \
    }                                                                                          \
  }

DEFINE_WASMSIMD_UKERNEL(2)
DEFINE_WASMSIMD_UKERNEL(4)

/* The wide 2x8 kernel. A's 4 values of a group are one v128.load64_splat of int16; the panel's
 * group is four int16 vectors (two columns x four inputs each): loaded as they are from the
 * int16 panel `w16` (WIDEN = 0), or, in the first-tile form (WIDEN = 1), sign-extended from the
 * packed int8 panel `w8` (header included, as the narrow kernels take it) and stored to
 * `w16_out` (kg groups of 32 int16: what clipdb__qs8_widen writes) for the panel's other row
 * tiles. Reading the int8 panel, the part of a small-M GEMM that streams from memory, then
 * overlaps the multiply-adds instead of preceding them. The same pair sums and fold as above,
 * so the same int32 sums. Always inlined into the two entry points below with WIDEN a
 * constant, so each gets its own loop. */
static inline __attribute__((always_inline)) void wide_2x8(size_t mr, size_t kg, const int8_t *a,
                                                           size_t a_stride, const int16_t *w16,
                                                           const int8_t *w8, int16_t *w16_out,
                                                           int32_t *acc, const int WIDEN) {
  const int16_t *a0 = (const int16_t *)a;
  const int16_t *a1 = (const int16_t *)(a + (mr > 1 ? a_stride : 0));
  v128_t s00 = wasm_i32x4_const_splat(0), s01 = s00, s02 = s00, s03 = s00;
  v128_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;
  if (WIDEN) w8 += 32;
  for (size_t g = 0; g < kg; g++) {
    v128_t w01, w23, w45, w67;
    if (WIDEN) {
      const v128_t wa = wasm_v128_load(w8), wb = wasm_v128_load(w8 + 16);
      w01 = wasm_i16x8_extend_low_i8x16(wa), w23 = wasm_i16x8_extend_high_i8x16(wa);
      w45 = wasm_i16x8_extend_low_i8x16(wb), w67 = wasm_i16x8_extend_high_i8x16(wb);
      wasm_v128_store(w16_out, w01);
      wasm_v128_store(w16_out + 8, w23);
      wasm_v128_store(w16_out + 16, w45);
      wasm_v128_store(w16_out + 24, w67);
    } else {
      w01 = wasm_v128_load(w16), w23 = wasm_v128_load(w16 + 8);
      w45 = wasm_v128_load(w16 + 16), w67 = wasm_v128_load(w16 + 24);
    }
    const v128_t x0 = wasm_v128_load64_splat(a0 + 4 * g), x1 = wasm_v128_load64_splat(a1 + 4 * g);
    s00 = wasm_i32x4_add(s00, wasm_i32x4_dot_i16x8(w01, x0));
    s01 = wasm_i32x4_add(s01, wasm_i32x4_dot_i16x8(w23, x0));
    s02 = wasm_i32x4_add(s02, wasm_i32x4_dot_i16x8(w45, x0));
    s03 = wasm_i32x4_add(s03, wasm_i32x4_dot_i16x8(w67, x0));
    s10 = wasm_i32x4_add(s10, wasm_i32x4_dot_i16x8(w01, x1));
    s11 = wasm_i32x4_add(s11, wasm_i32x4_dot_i16x8(w23, x1));
    s12 = wasm_i32x4_add(s12, wasm_i32x4_dot_i16x8(w45, x1));
    s13 = wasm_i32x4_add(s13, wasm_i32x4_dot_i16x8(w67, x1));
    if (WIDEN) {
      w8 += 32;
      w16_out += 32;
    } else {
      w16 += 32;
    }
  }
  wasm_v128_store(acc, fold_pairs(s00, s01));
  wasm_v128_store(acc + 4, fold_pairs(s02, s03));
  if (mr > 1) {
    wasm_v128_store(acc + 8, fold_pairs(s10, s11));
    wasm_v128_store(acc + 12, fold_pairs(s12, s13));
  }
}

void clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16_wide(size_t mr, size_t kg, const int8_t *a,
                                                        size_t a_stride, const int8_t *w,
                                                        int32_t *acc) {
  wide_2x8(mr, kg, a, a_stride, (const int16_t *)w, NULL, NULL, acc, 0);
}

void clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16_widen(size_t mr, size_t kg, const int8_t *a,
                                                         size_t a_stride, const int8_t *w,
                                                         int32_t *acc, int16_t *w16_out) {
  wide_2x8(mr, kg, a, a_stride, NULL, w, w16_out, acc, 1);
}
