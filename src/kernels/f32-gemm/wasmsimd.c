/*
 * f32 GEMM microkernels in wasm SIMD128 (contract: f32-gemm.h; twins: scalar.c).
 *
 * Each tile keeps MR×2 v128 accumulators (8 columns per row). Wasm SIMD128 has no fused
 * multiply-add, so every step is f32x4.mul then f32x4.add (the same rounding as the scalar twin).
 *   loadsplat: per k, v128.load32_splat one A element per row, 2 loads of B.
 *   splat:     per 4 k, one v128.load of 4 A elements per row, then i32x4.shuffle broadcasts
 *              lane l for k+l (fewer memory operations; the K remainder uses loadsplat).
 * Names and the two variants follow XNNPACK's src/f32-gemm/gen/ wasmsimd loadsplat/splat files.
 */
#include <string.h>
#include <wasm_simd128.h>

#include "f32-gemm.h"
#include "../wasmsimd-exp.h"

#define NR CLIPDB_F32_GEMM_NR

static inline v128_t activate(v128_t y, clipdb_act act) {
  switch (act) {
  case CLIPDB_ACT_RELU: return wasm_f32x4_pmax(y, wasm_f32x4_splat(0.0f));
  case CLIPDB_ACT_QUICK_GELU: return clipdb__wasmsimd_quick_gelu(y);
  default: return y;
  }
}

/* Epilogue for one row of the tile: residual, activation, store (partial when ncols < NR). */
static inline void store_row(float *c, const float *r, v128_t v0, v128_t v1, size_t ncols,
                             clipdb_act act) {
  if (ncols == NR) {
    if (r != NULL) {
      v0 = wasm_f32x4_add(v0, wasm_v128_load(r));
      v1 = wasm_f32x4_add(v1, wasm_v128_load(r + 4));
    }
    wasm_v128_store(c, activate(v0, act));
    wasm_v128_store(c + 4, activate(v1, act));
    return;
  }
  float t[NR] = {0};
  if (r != NULL) {
    memcpy(t, r, ncols * sizeof(float));
    v0 = wasm_f32x4_add(v0, wasm_v128_load(t));
    v1 = wasm_f32x4_add(v1, wasm_v128_load(t + 4));
  }
  wasm_v128_store(t, activate(v0, act));
  wasm_v128_store(t + 4, activate(v1, act));
  memcpy(c, t, ncols * sizeof(float));
}

#define TILE_PROLOGUE(MR)                                                                       \
  const float *ap[MR];                                                                         \
  for (size_t i = 0; i < MR; i++) ap[i] = a + (i < mr ? i : mr - 1) * a_stride;

#define TILE_INIT(MR)                                                                           \
  v128_t acc0[MR], acc1[MR];                                                                   \
  {                                                                                            \
    const v128_t b0 = wasm_v128_load(w), b1 = wasm_v128_load(w + 4);                           \
    for (size_t i = 0; i < MR; i++) {                                                          \
      acc0[i] = b0;                                                                            \
      acc1[i] = b1;                                                                            \
    }                                                                                          \
    w += NR;                                                                                   \
  }

#define TILE_STORE(MR)                                                                          \
  {                                                                                            \
    const size_t ncols = nc - n0 < NR ? nc - n0 : NR;                                          \
    _Pragma("clang loop unroll(full)") for (size_t i = 0; i < MR; i++)                         \
      if (i < mr)                                                                              \
        store_row(c + i * c_stride + n0, r != NULL ? r + i * r_stride + n0 : NULL, acc0[i],      \
                acc1[i], ncols, act);                                                          \
  }

#define LOADSPLAT_STEP(MR, kk)                                                                  \
  {                                                                                            \
    const v128_t b0 = wasm_v128_load(w), b1 = wasm_v128_load(w + 4);                           \
    w += NR;                                                                                   \
    for (size_t i = 0; i < MR; i++) {                                                          \
      const v128_t av = wasm_v128_load32_splat(ap[i] + (kk));                                  \
      acc0[i] = wasm_f32x4_add(acc0[i], wasm_f32x4_mul(av, b0));                               \
      acc1[i] = wasm_f32x4_add(acc1[i], wasm_f32x4_mul(av, b1));                               \
    }                                                                                          \
  }

#define DEFINE_LOADSPLAT(MR)                                                                    \
  void clipdb_f32_gemm_ukernel_##MR##x8__wasmsimd_loadsplat(                                   \
      size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride, const float *w,        \
      float *c, size_t c_stride, clipdb_epilogue ep) {                                         \
    const float *r = ep.residual;                                                              \
    const size_t r_stride = ep.residual_stride;                                                \
    const clipdb_act act = ep.act;                                                             \
    TILE_PROLOGUE(MR)                                                                          \
    for (size_t n0 = 0; n0 < nc; n0 += NR) {                                                   \
      TILE_INIT(MR)                                                                            \
      for (size_t k = 0; k < kc; k++) LOADSPLAT_STEP(MR, k)                                    \
      TILE_STORE(MR)                                                                           \
    }                                                                                          \
  }

#define SPLAT_LANE(MR, l)                                                                       \
  {                                                                                            \
    const v128_t b0 = wasm_v128_load(w), b1 = wasm_v128_load(w + 4);                           \
    w += NR;                                                                                   \
    for (size_t i = 0; i < MR; i++) {                                                          \
      const v128_t av = wasm_i32x4_shuffle(a4[i], a4[i], l, l, l, l);                          \
      acc0[i] = wasm_f32x4_add(acc0[i], wasm_f32x4_mul(av, b0));                               \
      acc1[i] = wasm_f32x4_add(acc1[i], wasm_f32x4_mul(av, b1));                               \
    }                                                                                          \
  }

#define DEFINE_SPLAT(MR)                                                                        \
  void clipdb_f32_gemm_ukernel_##MR##x8__wasmsimd_splat(                                       \
      size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride, const float *w,        \
      float *c, size_t c_stride, clipdb_epilogue ep) {                                         \
    const float *r = ep.residual;                                                              \
    const size_t r_stride = ep.residual_stride;                                                \
    const clipdb_act act = ep.act;                                                             \
    TILE_PROLOGUE(MR)                                                                          \
    for (size_t n0 = 0; n0 < nc; n0 += NR) {                                                   \
      TILE_INIT(MR)                                                                            \
      size_t k = 0;                                                                            \
      for (; k + 4 <= kc; k += 4) {                                                            \
        v128_t a4[MR];                                                                         \
        for (size_t i = 0; i < MR; i++) a4[i] = wasm_v128_load(ap[i] + k);                     \
        SPLAT_LANE(MR, 0)                                                                      \
        SPLAT_LANE(MR, 1)                                                                      \
        SPLAT_LANE(MR, 2)                                                                      \
        SPLAT_LANE(MR, 3)                                                                      \
      }                                                                                        \
      for (; k < kc; k++) LOADSPLAT_STEP(MR, k)                                                \
      TILE_STORE(MR)                                                                           \
    }                                                                                          \
  }

DEFINE_LOADSPLAT(1)
DEFINE_LOADSPLAT(4)
DEFINE_LOADSPLAT(5)
DEFINE_LOADSPLAT(6)
DEFINE_SPLAT(4)
DEFINE_SPLAT(5)
DEFINE_SPLAT(6)

#define DEFINE_LOADSPLAT_U4(MR)                                                                 \
  void clipdb_f32_gemm_ukernel_##MR##x8__wasmsimd_loadsplat_u4(                                \
      size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride, const float *w,        \
      float *c, size_t c_stride, clipdb_epilogue ep) {                                         \
    const float *r = ep.residual;                                                              \
    const size_t r_stride = ep.residual_stride;                                                \
    const clipdb_act act = ep.act;                                                             \
    TILE_PROLOGUE(MR)                                                                          \
    for (size_t n0 = 0; n0 < nc; n0 += NR) {                                                   \
      TILE_INIT(MR)                                                                            \
      size_t k = 0;                                                                            \
      for (; k + 4 <= kc; k += 4) {                                                            \
        LOADSPLAT_STEP(MR, k)                                                                  \
        LOADSPLAT_STEP(MR, k + 1)                                                              \
        LOADSPLAT_STEP(MR, k + 2)                                                              \
        LOADSPLAT_STEP(MR, k + 3)                                                              \
      }                                                                                        \
      for (; k < kc; k++) LOADSPLAT_STEP(MR, k)                                                \
      TILE_STORE(MR)                                                                           \
    }                                                                                          \
  }
DEFINE_LOADSPLAT_U4(4)
DEFINE_LOADSPLAT_U4(5)
DEFINE_LOADSPLAT_U4(6)
