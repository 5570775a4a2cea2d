/*
 * Flat wasm exports for the vector index that are not in include/clipdb.h.
 */
#include "clipdb-impl.h"

/* The library is a static archive: reference the index object so the linker pulls it into
 * the module, where its CLIPDB_API ("used") functions become exports. */
__attribute__((used)) static const void *const clipdb__wasm_keep_index[] = {
    (const void *)clipdb_index_init, (const void *)clipdb_index_search};

/* Tests: the int8 candidate pass on or off (results must not change). */
CLIPDB_API void clipdb__wasm_index_set_prefilter(clipdb_index_t *index, int on) {
  clipdb__index_set_prefilter(index, on);
}
