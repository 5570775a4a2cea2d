/* Backend "scalar": GEMM behind src/nn/gemm.h. For now it forwards to the portable GEMM
 * (src/nn/gemm-portable.c). */
#include "../gemm.h"

size_t clipdb__gemm_packed_floats(size_t n, size_t k) {
  return clipdb__gemm_packed_floats_portable(n, k);
}

int clipdb__gemm_pack(size_t n, size_t k, const float *w, size_t stride_n, size_t stride_k,
                      const float *bias, float *packed) {
  clipdb__gemm_pack_portable(n, k, w, stride_n, stride_k, bias, packed);
  return 0;
}

void clipdb__gemm_release(float *packed) { (void)packed; }

void clipdb__gemm_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const float *packed, float *c, size_t ldc, uint32_t flags) {
  clipdb__gemm_run_portable(m, n, k, a, lda, packed, c, ldc, flags);
}
