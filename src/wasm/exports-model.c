/*
 * Flat wasm exports of the model API for web/src/binding.mjs: scalars and pointers only, so
 * JS never lays out clipdb_file / clipdb_model_params itself. The public functions
 * (clipdb_session_init, clipdb_image_embed, ...) are exported as they are.
 */
#include <emscripten.h>
#include <stdio.h>
#include <string.h>

#include "clipdb-impl.h"
#include "nn/threads.h"

/*
 * Streaming reads from JS (web/src/binding.mjs): `Module.clipdbReaders` maps a handle to a
 * function read(offset, dst, n) that writes n bytes at wasm address dst (Node: fs.readSync
 * into HEAPU8; Worker: FileReaderSync on a Blob slice). Returns 0 on success; 2 if the handle
 * is unknown, 3 if the function threw (the exception is kept on the function as `.error`
 * for the binding to report). offset arrives as two uint32 halves (no BigInt needed).
 */
EM_JS(int, clipdb__js_read, (int32_t handle, uint32_t offset_lo, uint32_t offset_hi, void *dst, uint32_t n), {
  var readers = Module['clipdbReaders'];
  var read = readers && readers.get(handle);
  if (!read) return 2;
  try {
    return read(offset_lo + offset_hi * 4294967296, dst, n) | 0;
  } catch (e) {
    read.error = e;
    return 3;
  }
});

static int js_reader(void *user, uint64_t offset, void *dst, size_t n) {
  return clipdb__js_read((int32_t)(intptr_t)user, (uint32_t)offset, (uint32_t)(offset >> 32), dst,
                         (uint32_t)n);
}

/*
 * clipdb_model_init_from_files with the file table as parallel arrays of `n` entries:
 * `names` (NUL-terminated UTF-8), `datas` (bytes), `sizes`, and `readers`: per file 0 (bytes at
 * datas[i]) or a handle registered in Module.clipdbReaders (datas[i] ignored; the file is
 * streamed through it, sizes[i] bytes). `readers` may be NULL (all in memory). Writes the
 * model handle to *out.
 */
CLIPDB_API int32_t clipdb__wasm_model_init(const char *const *names, const void *const *datas,
                                           const uint32_t *sizes, const int32_t *readers, int32_t n,
                                           int32_t load_vision, int32_t load_text, int32_t n_threads,
                                           clipdb_model_t **out) {
  if (n <= 0 || n > 64 || names == NULL || datas == NULL || sizes == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to load model: %d files (1 to 64 allowed)", (int)n);
  clipdb_file files[64];
  memset(files, 0, sizeof files);
  for (int32_t i = 0; i < n; i++) {
    files[i].name = names[i];
    files[i].size = sizes[i];
    if (readers != NULL && readers[i] != 0) {
      files[i].read = js_reader;
      files[i].user = (void *)(intptr_t)readers[i];
    } else {
      files[i].data = datas[i];
    }
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

/* ---- intermediate activations, for the golden tests (tests/js/engine.test.mjs) ---------- */
#include "model/model-impl.h"

static struct {
  char name[96];
  float *out;
  int32_t cap;
  int32_t *info; /* [numel written, n_dims, shape[0..3]] */
} capture;

static void capture_hook(void *user, const char *name, const float *data, int n_dims, const size_t *shape) {
  (void)user;
  if (strcmp(name, capture.name) != 0) return;
  size_t numel = 1;
  for (int i = 0; i < n_dims; i++) numel *= shape[i];
  size_t n = numel < (size_t)capture.cap ? numel : (size_t)capture.cap;
  memcpy(capture.out, data, n * sizeof(float));
  capture.info[0] = (int32_t)n;
  capture.info[1] = n_dims;
  for (int i = 0; i < 4; i++) capture.info[2 + i] = i < n_dims ? (int32_t)shape[i] : 0;
}

/*
 * Until cleared (name NULL), the next embed calls on `session` copy the activation called
 * `name` (e.g. "visual.layer3", "transformer.resblocks.0": row-major, NHWC for feature maps)
 * into `out` (at most `cap` floats) and its size into `info` [6]. One capture at a time.
 */
CLIPDB_API void clipdb__wasm_session_capture(clipdb_session_t *session, const char *name,
                                             float *out, int32_t cap, int32_t *info) {
  if (session == NULL) return;
  if (name == NULL || out == NULL || info == NULL) {
    clipdb__session_set_debug(session, NULL, NULL);
    return;
  }
  snprintf(capture.name, sizeof capture.name, "%s", name);
  capture.out = out;
  capture.cap = cap;
  capture.info = info;
  info[0] = 0;
  clipdb__session_set_debug(session, capture_hook, NULL);
}

/* ---- clipdb_model_quantize --------------------------------------------------------------- */

/* Output chunks to JS: `Module.clipdbWriters` maps a handle to write(ptr, n), which must copy
 * the n bytes at wasm address ptr before returning. 0 = success; 2 unknown handle; 3 threw. */
EM_JS(int, clipdb__js_write, (int32_t handle, const void *data, uint32_t n), {
  var writers = Module['clipdbWriters'];
  var write = writers && writers.get(handle);
  if (!write) return 2;
  try {
    return write(data, n) | 0;
  } catch (e) {
    write.error = e;
    return 3;
  }
});

static int js_writer(void *user, const void *data, size_t size) {
  return clipdb__js_write((int32_t)(intptr_t)user, data, (uint32_t)size);
}

/*
 * clipdb_model_quantize for web/src/quantize.mjs: the input is `size` bytes at `data`, or,
 * with `reader` != 0, streamed through Module.clipdbReaders (as clipdb__wasm_model_init);
 * output goes to Module.clipdbWriters' `writer`. `dtype`: clipdb_quantize_dtype. The bytes
 * written go to *out_size when it is not NULL (as a double: files may pass 4 GiB).
 */
CLIPDB_API int32_t clipdb__wasm_model_quantize(const char *name, const void *data, uint32_t size,
                                               int32_t reader, int32_t dtype, int32_t writer,
                                               double *out_size) {
  clipdb_file f;
  memset(&f, 0, sizeof f);
  f.name = name;
  f.size = size;
  if (reader != 0) {
    f.read = js_reader;
    f.user = (void *)(intptr_t)reader;
  } else {
    f.data = data;
  }
  uint64_t written = 0;
  clipdb_status st = clipdb_model_quantize(&f, (clipdb_quantize_dtype)dtype, js_writer,
                                           (void *)(intptr_t)writer, &written);
  if (out_size != NULL) *out_size = (double)written;
  return st;
}

/*
 * Test hook: GEMMs with fewer multiply-adds than `macs` stay on the calling thread (default
 * 1 Mi, src/nn/threads.h); tests set 0 so the golden tiny models split every GEMM over the
 * threads of the threaded module. Returns the previous value.
 */
CLIPDB_API size_t clipdb__wasm_parallel_min_macs(size_t macs) {
  const size_t old = clipdb__parallel_min_macs;
  clipdb__parallel_min_macs = macs;
  return old;
}
