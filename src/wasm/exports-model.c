/*
 * Flat wasm exports of the model API for web/src/binding.mjs: scalars and pointers only, so
 * JS never lays out clipdb_file / clipdb_model_params itself. The public functions
 * (clipdb_session_init, clipdb_image_embed, ...) are exported as they are.
 */
#include "clipdb-impl.h"

/*
 * clipdb_model_init_from_files with the file table as three parallel arrays of `n` entries:
 * `names` (NUL-terminated UTF-8), `datas` (bytes), `sizes`. Writes the model handle to *out.
 */
CLIPDB_API int32_t clipdb__wasm_model_init(const char *const *names, const void *const *datas,
                                           const uint32_t *sizes, int32_t n, int32_t load_vision,
                                           int32_t load_text, int32_t n_threads,
                                           clipdb_model_t **out) {
  if (n <= 0 || n > 64 || names == NULL || datas == NULL || sizes == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to load model: %d files (1 to 64 allowed)", (int)n);
  clipdb_file files[64];
  for (int32_t i = 0; i < n; i++) {
    files[i].name = names[i];
    files[i].data = datas[i];
    files[i].size = sizes[i];
  }
  clipdb_model_params p = clipdb_model_default_params();
  p.load_vision = load_vision ? 1 : 0;
  p.load_text = load_text ? 1 : 0;
  p.n_threads = n_threads;
  return clipdb_model_init_from_files(files, (size_t)n, &p, out);
}

/* The resolved config's embed_dim / image_resolution / context_length (for buffer sizes). */
CLIPDB_API int32_t clipdb__wasm_model_dims(const clipdb_model_t *model, int32_t *embed_dim,
                                           int32_t *image_resolution, int32_t *context_length) {
  clipdb_model_config c;
  clipdb_status st = clipdb_model_get_config(model, &c);
  if (st != CLIPDB_STATUS_SUCCESS) return st;
  *embed_dim = c.embed_dim;
  *image_resolution = c.image_resolution;
  *context_length = c.context_length;
  return CLIPDB_STATUS_SUCCESS;
}
