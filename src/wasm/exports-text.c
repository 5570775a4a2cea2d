/*
 * Flat wasm exports of the tokenizer for web/src/text.mjs: scalars and pointers only, so JS
 * never lays out clipdb_file itself. clipdb_tokenize, clipdb_tokenizer_free and the
 * accessors are exported as they are (include/clipdb.h).
 */
#include "clipdb-impl.h"

/*
 * clipdb_tokenizer_init_from_files with up to two files given as (name, data, size) triples;
 * `n_files` is 1 (OpenAI .txt.gz / .txt) or 2 (vocab.json + merges.txt). `out` receives the
 * handle. Returns the status (message: clipdb_last_error()).
 */
CLIPDB_API int32_t clipdb__wasm_tokenizer_init(const char *name0, const void *data0, size_t size0,
                                               const char *name1, const void *data1, size_t size1,
                                               int32_t n_files, clipdb_tokenizer_t **out) {
  if (n_files < 1 || n_files > 2) {
    *out = NULL;
    return (int32_t)clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                                  "failed to create tokenizer: %d files (expected 1 or 2)", (int)n_files);
  }
  const clipdb_file files[2] = {{name0, data0, size0}, {name1, data1, size1}};
  return (int32_t)clipdb_tokenizer_init_from_files(files, (size_t)n_files, out);
}
