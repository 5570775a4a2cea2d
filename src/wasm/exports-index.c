/*
 * Flat wasm exports for the vector index that are not in include/clipdb.h.
 * clipdb__wasm_f32_dot: run one named f32-dot kernel directly, so tests/js/index.test.mjs can
 * check the wasm SIMD128 kernel against its scalar twin in the same module. `isa` 0 = scalar,
 * 1 = wasmsimd_u16. Returns 0, or 6 (UNSUPPORTED) if that kernel is not compiled in.
 */
#include "clipdb-impl.h"
#include "kernels/f32-dot/f32-dot.h"

CLIPDB_API int32_t clipdb__wasm_f32_dot(int32_t isa, uint32_t rows, uint32_t dim, const float *q,
                                        const float *m, uint32_t stride, float *out) {
  if (isa == 0) {
    clipdb_f32_dot_ukernel__scalar(rows, dim, q, m, stride, out);
    return CLIPDB_STATUS_SUCCESS;
  }
#if defined(CLIPDB_WASM_SIMD)
  if (isa == 1) {
    clipdb_f32_dot_ukernel__wasmsimd_u16(rows, dim, q, m, stride, out);
    return CLIPDB_STATUS_SUCCESS;
  }
#endif
  return CLIPDB_STATUS_UNSUPPORTED;
}

/* The library is a static archive: reference the index object so the linker pulls it into
 * the module, where its CLIPDB_API ("used") functions become exports. */
__attribute__((used)) static const void *const clipdb__wasm_keep_index[] = {
    (const void *)clipdb_index_init, (const void *)clipdb_index_search};
