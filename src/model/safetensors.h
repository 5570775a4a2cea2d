/*
 * A validated safetensors reader over a memory buffer (internal API).
 *
 * Format (github.com/huggingface/safetensors, "Format" section): 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON (an object: tensor name -> {"dtype", "shape",
 * "data_offsets": [begin, end]} with offsets relative to the data section, plus an optional
 * "__metadata__" object of string -> string), then the raw little-endian C-order data.
 *
 * Everything is checked before it is trusted: header length against the buffer, JSON
 * structure, dtype names, shapes (non-negative, at most CLIPDB__ST_MAX_DIMS dims, no
 * overflow), offsets (inside the data section, end - begin == numel * element size), duplicate
 * names. Failures return BAD_MODEL (OUT_OF_MEMORY for allocations) with a message shaped like
 * "failed to read safetensors: <reason>" naming the tensor where there is one.
 *
 * The reader borrows the buffer: tensor data pointers point into it, so the buffer must
 * outlive the reader. Names and metadata are copied (JSON escapes decoded).
 *
 * Streaming (clipdb__safetensors_open_reader): the file is pulled through a
 * clipdb_file_read_fn instead. Only the 8-byte length and the header are read at open (the
 * same checks, against the declared file size); tensor `data` is then NULL and
 * clipdb__st_tensor_load_f32 / _i32 (or read_f32 / read_i32) fetch the bytes on demand: F32
 * straight into the destination, other dtypes through one scratch buffer kept by the reader
 * (grown to the largest tensor converted so far, at most scratch_bytes, the largest non-F32
 * tensor; a mutable cache, so a streaming reader is for one thread at a time). The read
 * function and its `user` must stay valid until clipdb__safetensors_free.
 *
 * Typical use (tests read reference.safetensors this way):
 *
 *     clipdb__safetensors *st = NULL;
 *     if (clipdb__safetensors_open(bytes, n, NULL, &st) != CLIPDB_STATUS_SUCCESS) ...
 *     const clipdb__st_tensor *t = clipdb__safetensors_find(st, "text/0/tokens");
 *     float *v = clipdb__safetensors_read_f32(st, "image/astronaut/embedding", NULL, NULL);
 *     ...
 *     clipdb__free(v);
 *     clipdb__safetensors_free(st);
 */
#ifndef CLIPDB_MODEL_SAFETENSORS_H
#define CLIPDB_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../clipdb-impl.h"

#define CLIPDB__ST_MAX_DIMS 8

typedef enum clipdb__dtype {
  CLIPDB__DTYPE_F32 = 0,
  CLIPDB__DTYPE_F16,
  CLIPDB__DTYPE_BF16,
  CLIPDB__DTYPE_F64,
  CLIPDB__DTYPE_I64,
  CLIPDB__DTYPE_I32,
  CLIPDB__DTYPE_I16,
  CLIPDB__DTYPE_I8,
  CLIPDB__DTYPE_U8,
  CLIPDB__DTYPE_BOOL,
} clipdb__dtype;

typedef struct clipdb__st_tensor {
  const char *name;     /* owned by the reader, NUL-terminated, JSON escapes decoded */
  clipdb__dtype dtype;
  int32_t n_dims;       /* 0 for a scalar (shape []) */
  int64_t shape[CLIPDB__ST_MAX_DIMS];
  size_t numel;         /* product of shape (1 for a scalar) */
  size_t nbytes;        /* numel * element size */
  const uint8_t *data;  /* points into the caller's buffer (may be unaligned); NULL when streamed */
  uint64_t offset;      /* byte offset of the data in the file */
} clipdb__st_tensor;

typedef struct clipdb__safetensors {
  size_t n_tensors;
  clipdb__st_tensor *tensors; /* sorted by name */
  size_t n_metadata;
  const char **metadata_keys;
  const char **metadata_values;
  char *strings; /* pool holding names, keys and values */
  /* streaming source (NULL read: in memory) */
  clipdb_file_read_fn read;
  void *user;
  const char *source_name; /* optional, borrowed: names the file in streaming errors */
  size_t scratch_bytes;    /* largest non-F32 tensor */
  uint8_t *scratch;        /* scratch_cap bytes: the largest tensor converted so far */
  size_t scratch_cap;
} clipdb__safetensors;

/* "F32", "F16", ...; NULL if out of range. */
const char *clipdb__dtype_name(clipdb__dtype dtype);
/* Bytes per element. */
size_t clipdb__dtype_size(clipdb__dtype dtype);

/*
 * Parse and validate `size` bytes at `data`. `errbuf` (optional) receives the message too
 * (CLIPDB__ERROR_SIZE bytes). On success `*out` is a reader to release with
 * clipdb__safetensors_free; on failure `*out` is NULL.
 */
clipdb_status clipdb__safetensors_open(const void *data, size_t size, char *errbuf,
                                       clipdb__safetensors **out);
void clipdb__safetensors_free(clipdb__safetensors *st);

/*
 * Parse and validate a safetensors file of `size` bytes read through `read(user, ...)` (see
 * the streaming note above). Errors as clipdb__safetensors_open; a reader failure is
 * BAD_MODEL "failed to read safetensors: reader failed at bytes [a, b)".
 */
clipdb_status clipdb__safetensors_open_reader(clipdb_file_read_fn read, void *user, uint64_t size,
                                              char *errbuf, clipdb__safetensors **out);

/*
 * `t` (a tensor of `st`) as float32 into `out` [t->numel], in memory or streamed (see
 * clipdb__st_tensor_to_f32 for the conversions). BAD_MODEL when the reader fails (the message
 * names the tensor, and st->source_name when set), OUT_OF_MEMORY for the scratch buffer.
 */
clipdb_status clipdb__st_tensor_load_f32(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                         float *out, char *errbuf);
/* `t`'s bytes as stored (little-endian, t->nbytes of them) into `out`; errors as above. */
clipdb_status clipdb__st_tensor_load_raw(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                         void *out, char *errbuf);
/* Likewise as int32 (see clipdb__st_tensor_to_i32). */
clipdb_status clipdb__st_tensor_load_i32(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                         int32_t *out, char *errbuf);

/* The tensor called `name`, or NULL (no error recorded). */
const clipdb__st_tensor *clipdb__safetensors_find(const clipdb__safetensors *st, const char *name);

/* The `__metadata__` value of `key`, or NULL. */
const char *clipdb__safetensors_metadata(const clipdb__safetensors *st, const char *key);

/*
 * Convert a tensor of any numeric dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)
 * to float32 into `out` [t->numel]. F16 and BF16 are converted exactly (every value is
 * representable in float32); F64 and 64-bit integers are rounded to nearest.
 */
void clipdb__st_tensor_to_f32(const clipdb__st_tensor *t, float *out);

/* Convert an integer tensor (I64, I32, I16, I8, U8, BOOL) to int32 into `out`. Values
 * outside int32 range make it return BAD_MODEL naming the tensor. Float dtypes: BAD_MODEL. */
clipdb_status clipdb__st_tensor_to_i32(const clipdb__st_tensor *t, int32_t *out, char *errbuf);

/*
 * Find `name` and return its values as a newly allocated float32 array (clipdb__malloc; free
 * with clipdb__free), or NULL with the thread's last error set (BAD_MODEL "tensor ... not
 * found", OUT_OF_MEMORY). `numel` (optional) receives the element count.
 */
float *clipdb__safetensors_read_f32(const clipdb__safetensors *st, const char *name,
                                    char *errbuf, size_t *numel);

/* Likewise for integer tensors (I32/I64/...), as int32. */
int32_t *clipdb__safetensors_read_i32(const clipdb__safetensors *st, const char *name,
                                      char *errbuf, size_t *numel);

/* IEEE half / bfloat16 bit patterns to float32 (exact). */
float clipdb__f16_to_f32(uint16_t h);
float clipdb__bf16_to_f32(uint16_t b);
/* float32 to IEEE half, round to nearest even (for tests that build F16 files). */
uint16_t clipdb__f32_to_f16(float f);

#endif
