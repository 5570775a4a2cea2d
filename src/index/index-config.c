/*
 * The vector index's kernel table. SIMD support is a compile-time property of the wasm build
 * (-msimd128: the module does not validate without it), so the choice is fixed when the
 * table is first read; there is no per-call dispatch.
 */
#include "index-config.h"

static const clipdb__index_config config = {
#if defined(CLIPDB_WASM_SIMD)
    clipdb_f32_dot_ukernel__wasmsimd_u16,
    "clipdb_f32_dot_ukernel__wasmsimd_u16",
    clipdb_qs8_dot_ukernel__wasmsimd_u16,
    "clipdb_qs8_dot_ukernel__wasmsimd_u16",
#else
    clipdb_f32_dot_ukernel__scalar,
    "clipdb_f32_dot_ukernel__scalar",
    clipdb_qs8_dot_ukernel__scalar,
    "clipdb_qs8_dot_ukernel__scalar",
#endif
};

const clipdb__index_config *clipdb__index_get_config(void) { return &config; }
