/*
 * Backend "simd": the GEMM boundary (src/nn/gemm.h) on our register-tiled microkernels
 * (src/kernels/f32-gemm/): wasm SIMD128 under Emscripten, their scalar twins natively. The
 * kernel is chosen once (clipdb__f32_gemm_default); W is packed at load into 8-wide panels,
 * bias first; the epilogue (residual add, ReLU, QuickGELU) is fused into the microkernel.
 */
#include "../gemm.h"

#include "../../kernels/f32-gemm/f32-gemm.h"

size_t clipdb__gemm_packed_floats(size_t n, size_t k) { return clipdb__f32_gemm_packed_size(n, k); }

int clipdb__gemm_pack(size_t n, size_t k, const float *w, size_t stride_n, size_t stride_k,
                      const float *bias, float *packed) {
  clipdb__f32_gemm_pack(n, k, w, stride_n, stride_k, bias, packed);
  return 0;
}

void clipdb__gemm_release(float *packed) { (void)packed; }

void clipdb__gemm_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const float *packed, float *c, size_t ldc, uint32_t flags) {
  const clipdb_f32_act act = (flags & CLIPDB__GEMM_QUICKGELU) ? CLIPDB_F32_ACT_QUICK_GELU
                             : (flags & CLIPDB__GEMM_RELU)    ? CLIPDB_F32_ACT_RELU
                                                              : CLIPDB_F32_ACT_NONE;
  /* RESIDUAL adds C's old value: the residual operand is C itself (the kernel reads each
   * element before it writes it). */
  const float *r = (flags & CLIPDB__GEMM_RESIDUAL) ? c : NULL;
  clipdb__f32_gemm(clipdb__f32_gemm_default(), m, n, k, a, lda, packed, c, ldc, r, ldc, act);
}
