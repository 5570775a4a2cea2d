/*
 * Test-only wasm exports for the kernel twin tests (tests/js/kernels.test.mjs) and the GEMM
 * bench (bench/gemm.mjs). Compiled only into build/wasm/clipdb-kernel-tests.{cjs,wasm} with
 * CLIPDB_WASM_TESTS; the release clipdb.wasm never contains them.
 */
#if !defined(CLIPDB_WASM_TESTS)
#error "test-only exports: build with CLIPDB_WASM_TESTS"
#endif
#include <stddef.h>

#include "clipdb.h"
#include "kernels/f32-gemm/f32-gemm.h"
#include "kernels/f32-softmax/f32-softmax.h"

CLIPDB_API int clipdb__wasm_test_gemm_kernel_count(void) {
  return (int)clipdb__f32_gemm_kernel_count;
}
CLIPDB_API const char *clipdb__wasm_test_gemm_kernel_name(int i) {
  return clipdb__f32_gemm_kernels[i].name;
}
CLIPDB_API int clipdb__wasm_test_gemm_kernel_mr(int i) { return (int)clipdb__f32_gemm_kernels[i].mr; }
CLIPDB_API int clipdb__wasm_test_gemm_kernel_twin(int i) { return clipdb__f32_gemm_kernels[i].twin; }
CLIPDB_API int clipdb__wasm_test_gemm_default(void) {
  return (int)(clipdb__f32_gemm_default() - clipdb__f32_gemm_kernels);
}
CLIPDB_API size_t clipdb__wasm_test_gemm_packed_size(size_t n, size_t k) {
  return clipdb__f32_gemm_packed_size(n, k);
}
CLIPDB_API void clipdb__wasm_test_gemm_pack(size_t n, size_t k, const float *weight,
                                            size_t n_stride, size_t k_stride, const float *bias,
                                            float *packed) {
  clipdb__f32_gemm_pack(n, k, weight, n_stride, k_stride, bias, packed);
}
/* Runs the GEMM `reps` times with kernel i (reps > 1 only for the bench). */
CLIPDB_API void clipdb__wasm_test_gemm_run(int i, size_t m, size_t n, size_t k, const float *a,
                                           size_t lda, const float *packed, float *c, size_t ldc,
                                           const float *r, size_t ldr, int act, int reps) {
  for (int t = 0; t < reps; t++)
    clipdb__f32_gemm(&clipdb__f32_gemm_kernels[i], m, n, k, a, lda, packed, c, ldc, r, ldr,
                     (clipdb_f32_act)act);
}

/* f32-dot (vector index scoring): isa 0 = scalar, 1 = wasmsimd_u16. */
#include "kernels/f32-dot/f32-dot.h"
CLIPDB_API void clipdb__wasm_test_f32_dot(int isa, size_t rows, size_t dim, const float *q,
                                          const float *m, size_t stride, float *out) {
  if (isa == 1)
    clipdb_f32_dot_ukernel__wasmsimd_u16(rows, dim, q, m, stride, out);
  else
    clipdb_f32_dot_ukernel__scalar(rows, dim, q, m, stride, out);
}

/* Softmax: which = 0 scalar twin, 1 the build's default (wasmsimd). */
CLIPDB_API void clipdb__wasm_test_softmax(int which, size_t n, float scale, float *x) {
  (which ? clipdb__f32_softmax_default() : clipdb_f32_softmax_ukernel__scalar)(n, scale, x);
}
