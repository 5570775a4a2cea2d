/*
 * Fuzz target for the model reader: the input is one `*.safetensors` file (the 8-byte header
 * length, the JSON header with its tensor table and `__metadata__`, the tensor data) given to
 * clipdb_model_init_from_files, once in memory and once through a streaming reader, so the
 * header parser, the tensor table checks, the dtype conversion, the shape inference and
 * every tensor loader of both checkpoint dialects see it. Any status is fine; a crash, a
 * failure without a message or a leak is not.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"

typedef struct {
  const uint8_t *data;
  size_t size;
} mem_file;

static int read_mem(void *user, uint64_t offset, void *dst, size_t n) {
  const mem_file *f = user;
  if (offset > f->size || n > f->size - offset) return 1;
  memcpy(dst, f->data + offset, n);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const size_t before = clipdb_allocated_bytes();
  clipdb_model_params p = clipdb_model_default_params();
  p.n_threads = 1;
  for (int streamed = 0; streamed < 2; streamed++) {
    mem_file mf = {data, size};
    clipdb_file f = {"model.safetensors", streamed ? NULL : data, size, streamed ? read_mem : NULL,
                     streamed ? &mf : NULL};
    if (!streamed && data == NULL) f.data = ""; /* libFuzzer may pass NULL for empty input */
    clipdb_model_t *m = NULL;
    clipdb_status s = clipdb_model_init_from_files(&f, 1, &p, &m);
    fuzz_require_message(s, clipdb_last_error(), "clipdb_model_init_from_files");
    if (s == CLIPDB_STATUS_SUCCESS) {
      clipdb_model_config c;
      if (clipdb_model_get_config(m, &c) != CLIPDB_STATUS_SUCCESS) abort();
      char json[2048];
      if (clipdb_model_config_json(m, json, sizeof json) < 0) abort();
      clipdb_model_free(m);
    } else if (m != NULL) {
      abort(); /* a failed init must leave *out NULL */
    }
  }
  fuzz_require_no_leak(before, "model init");
  return 0;
}
