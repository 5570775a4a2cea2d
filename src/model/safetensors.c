/* safetensors reader: see safetensors.h. The JSON header is read with the library's JSON
 * reader (common/json.h). */
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"

/* The safetensors project caps the header at 100 MB; so do we. */
#define MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)

static const struct {
  const char *name;
  size_t size;
} dtype_table[] = {
    [CLIPDB__DTYPE_F32] = {"F32", 4}, [CLIPDB__DTYPE_F16] = {"F16", 2},
    [CLIPDB__DTYPE_BF16] = {"BF16", 2}, [CLIPDB__DTYPE_F64] = {"F64", 8},
    [CLIPDB__DTYPE_I64] = {"I64", 8},  [CLIPDB__DTYPE_I32] = {"I32", 4},
    [CLIPDB__DTYPE_I16] = {"I16", 2},  [CLIPDB__DTYPE_I8] = {"I8", 1},
    [CLIPDB__DTYPE_U8] = {"U8", 1},    [CLIPDB__DTYPE_BOOL] = {"BOOL", 1},
};
#define N_DTYPES (sizeof dtype_table / sizeof dtype_table[0])

const char *clipdb__dtype_name(clipdb__dtype dtype) {
  return (unsigned)dtype < N_DTYPES ? dtype_table[dtype].name : NULL;
}

size_t clipdb__dtype_size(clipdb__dtype dtype) {
  return (unsigned)dtype < N_DTYPES ? dtype_table[dtype].size : 0;
}

/* ---- half / bfloat16 ---------------------------------------------------------------------- */

static float bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

float clipdb__f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf / nan */
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24, exact in float32 */
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

float clipdb__bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

uint16_t clipdb__f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t abs = u & 0x7fffffffu;
  if (abs >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
  if (abs < 0x38800000u) {
    /* subnormal half (or zero): value / 2^-24 rounded to nearest even */
    float a = bits_to_f32(abs);
    float q = a * 16777216.0f; /* exact */
    float r = nearbyintf(q);   /* default rounding mode: nearest even */
    return (uint16_t)(sign | (uint16_t)r);
  }
  uint32_t mant = abs & 0x7fffffu;
  uint32_t exp = (abs >> 23) - 112u;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

/* ---- little-endian loads (data may be unaligned; hosts are little-endian: x86, wasm) ----- */

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t ld32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32); }

void clipdb__st_tensor_to_f32(const clipdb__st_tensor *t, float *out) {
  const uint8_t *p = t->data;
  size_t n = t->numel;
  switch (t->dtype) {
    case CLIPDB__DTYPE_F32:
      memcpy(out, p, n * 4);
      break;
    case CLIPDB__DTYPE_F16:
      for (size_t i = 0; i < n; i++) out[i] = clipdb__f16_to_f32(ld16(p + 2 * i));
      break;
    case CLIPDB__DTYPE_BF16:
      for (size_t i = 0; i < n; i++) out[i] = clipdb__bf16_to_f32(ld16(p + 2 * i));
      break;
    case CLIPDB__DTYPE_F64:
      for (size_t i = 0; i < n; i++) {
        uint64_t u = ld64(p + 8 * i);
        double d;
        memcpy(&d, &u, 8);
        out[i] = (float)d;
      }
      break;
    case CLIPDB__DTYPE_I64:
      for (size_t i = 0; i < n; i++) out[i] = (float)(int64_t)ld64(p + 8 * i);
      break;
    case CLIPDB__DTYPE_I32:
      for (size_t i = 0; i < n; i++) out[i] = (float)(int32_t)ld32(p + 4 * i);
      break;
    case CLIPDB__DTYPE_I16:
      for (size_t i = 0; i < n; i++) out[i] = (float)(int16_t)ld16(p + 2 * i);
      break;
    case CLIPDB__DTYPE_I8:
      for (size_t i = 0; i < n; i++) out[i] = (float)(int8_t)p[i];
      break;
    case CLIPDB__DTYPE_U8:
    case CLIPDB__DTYPE_BOOL:
      for (size_t i = 0; i < n; i++) out[i] = (float)p[i];
      break;
  }
}

clipdb_status clipdb__st_tensor_to_i32(const clipdb__st_tensor *t, int32_t *out, char *errbuf) {
  const uint8_t *p = t->data;
  size_t n = t->numel;
  switch (t->dtype) {
    case CLIPDB__DTYPE_I64:
      for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)ld64(p + 8 * i);
        if (v < INT32_MIN || v > INT32_MAX)
          return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                               "failed to read tensor %s: element %zu = %lld is outside int32",
                               t->name, i, (long long)v);
        out[i] = (int32_t)v;
      }
      return CLIPDB_STATUS_SUCCESS;
    case CLIPDB__DTYPE_I32:
      for (size_t i = 0; i < n; i++) out[i] = (int32_t)ld32(p + 4 * i);
      return CLIPDB_STATUS_SUCCESS;
    case CLIPDB__DTYPE_I16:
      for (size_t i = 0; i < n; i++) out[i] = (int16_t)ld16(p + 2 * i);
      return CLIPDB_STATUS_SUCCESS;
    case CLIPDB__DTYPE_I8:
      for (size_t i = 0; i < n; i++) out[i] = (int8_t)p[i];
      return CLIPDB_STATUS_SUCCESS;
    case CLIPDB__DTYPE_U8:
    case CLIPDB__DTYPE_BOOL:
      for (size_t i = 0; i < n; i++) out[i] = p[i];
      return CLIPDB_STATUS_SUCCESS;
    default:
      return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                           "failed to read tensor %s: dtype %s is not an integer type", t->name,
                           clipdb__dtype_name(t->dtype));
  }
}

static int cmp_tensor_name(const void *a, const void *b) {
  return strcmp(((const clipdb__st_tensor *)a)->name, ((const clipdb__st_tensor *)b)->name);
}

typedef struct span {
  uint64_t begin, end;
  const char *name;
} span;

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* ---- open ----------------------------------------------------------------------------------- */

#define FAIL(...)                                                                 \
  do {                                                                            \
    status = clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL, __VA_ARGS__);         \
    goto error;                                                                   \
  } while (0)

/* The 8-byte length prefix of a file of `size` bytes: checked, returned in *header_len. */
static clipdb_status check_header_len(const uint8_t prefix[8], uint64_t size, char *errbuf,
                                      uint64_t *header_len) {
  uint64_t n = ld64(prefix);
  if (n < 2 || n > MAX_HEADER_BYTES)
    return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                         "failed to read safetensors: header length %llu is not plausible "
                         "(garbage or not a safetensors file)", (unsigned long long)n);
  if (n > size - 8)
    return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                         "failed to read safetensors: file is truncated (header needs %llu "
                         "bytes, %llu present)", (unsigned long long)n,
                         (unsigned long long)(size - 8));
  *header_len = n;
  return CLIPDB_STATUS_SUCCESS;
}

/*
 * Parse and validate the JSON header `js` [js_len] of a file whose data section starts at
 * file offset 8 + js_len and holds `payload_size` bytes; `payload` is that section in memory,
 * or NULL when the file is streamed.
 */
static clipdb_status parse_header(const char *js, size_t js_len, const uint8_t *payload,
                                  uint64_t payload_size, char *errbuf, clipdb__safetensors **out) {
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  clipdb__safetensors *st = NULL;
  clipdb__json doc = {0};
  span *spans = NULL;
  const uint64_t payload_offset = 8 + (uint64_t)js_len;
  /* the JSON object may be followed by padding spaces */
  if (js[0] != '{')
    FAIL("failed to read safetensors: header does not start with a JSON object");

  status = clipdb__json_parse_as(js, js_len, "safetensors header", CLIPDB_STATUS_BAD_MODEL, errbuf, &doc);
  if (status != CLIPDB_STATUS_SUCCESS) goto error;
  const clipdb__json_tok *tok = doc.tok;
  const int n_tok = doc.n;
  for (size_t i = (size_t)tok[0].end; i < js_len; i++)
    if (js[i] != ' ' && js[i] != '\t' && js[i] != '\n' && js[i] != '\r' && js[i] != '\0')
      FAIL("failed to parse safetensors header: unexpected bytes after the JSON object");

  st = clipdb__calloc(1, sizeof *st);
  size_t n_entries = (size_t)tok[0].size;
  if (st != NULL) {
    st->tensors = clipdb__calloc(n_entries + 1, sizeof *st->tensors);
    st->strings = clipdb__malloc(js_len + 1);
  }
  if (st == NULL || st->tensors == NULL || st->strings == NULL) {
    status = clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to allocate the safetensors index (%zu entries)", n_entries);
    goto error;
  }
  char *pool = st->strings;

  int i = 1;
  for (size_t e = 0; e < n_entries; e++) {
    if (i >= n_tok || tok[i].type != CLIPDB__JSON_STRING)
      FAIL("failed to parse safetensors header: entry %zu has no string key", e);
    int val = i + 1;
    if (val >= n_tok) FAIL("failed to parse safetensors header: entry %zu has no value", e);
    int next = clipdb__json_skip(&doc, val);
    char *name = pool;
    long name_len = clipdb__json_unescape(&doc, i, name);
    if (name_len < 0)
      FAIL("failed to parse safetensors header: bad string escape in key of entry %zu", e);
    pool += name_len + 1;

    if (strcmp(name, "__metadata__") == 0) {
      if (tok[val].type != CLIPDB__JSON_OBJECT)
        FAIL("failed to parse safetensors header: __metadata__ is not an object");
      if (st->metadata_keys != NULL)
        FAIL("failed to parse safetensors header: __metadata__ appears twice");
      size_t n_meta = (size_t)tok[val].size;
      st->metadata_keys = clipdb__calloc(n_meta + 1, sizeof(char *));
      st->metadata_values = clipdb__calloc(n_meta + 1, sizeof(char *));
      if (st->metadata_keys == NULL || st->metadata_values == NULL) {
        status = clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                               "failed to allocate the safetensors metadata (%zu entries)", n_meta);
        goto error;
      }
      int m = val + 1;
      for (size_t k = 0; k < n_meta; k++) {
        if (m + 1 >= n_tok || tok[m].type != CLIPDB__JSON_STRING || tok[m + 1].type != CLIPDB__JSON_STRING)
          FAIL("failed to parse safetensors header: __metadata__ values must be strings");
        char *mk = pool;
        long lk = clipdb__json_unescape(&doc, m, mk);
        if (lk < 0) FAIL("failed to parse safetensors header: bad escape in __metadata__ key");
        pool += lk + 1;
        char *mv = pool;
        long lv = clipdb__json_unescape(&doc, m + 1, mv);
        if (lv < 0)
          FAIL("failed to parse safetensors header: bad escape in __metadata__ value of %s", mk);
        pool += lv + 1;
        st->metadata_keys[st->n_metadata] = mk;
        st->metadata_values[st->n_metadata] = mv;
        st->n_metadata++;
        m += 2;
      }
      i = next;
      continue;
    }

    if (tok[val].type != CLIPDB__JSON_OBJECT)
      FAIL("failed to read safetensors: entry for tensor %s is not an object", name);
    clipdb__st_tensor *t = &st->tensors[st->n_tensors];
    t->name = name;
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    uint64_t begin = 0, end = 0;
    int f = val + 1;
    for (int k = 0; k < tok[val].size; k++) {
      if (f + 1 >= n_tok || tok[f].type != CLIPDB__JSON_STRING)
        FAIL("failed to read safetensors: malformed entry for tensor %s", name);
      const clipdb__json_tok *fv = &tok[f + 1];
      if (clipdb__json_streq(&doc, f, "dtype")) {
        if (fv->type != CLIPDB__JSON_STRING)
          FAIL("failed to read safetensors: dtype of tensor %s is not a string", name);
        int found = 0;
        for (size_t d = 0; d < N_DTYPES; d++)
          if (clipdb__json_streq(&doc, f + 1, dtype_table[d].name)) {
            t->dtype = (clipdb__dtype)d;
            found = 1;
          }
        if (!found)
          FAIL("failed to read safetensors: tensor %s has unknown dtype \"%.*s\"", name,
               fv->end - fv->start > 32 ? 32 : fv->end - fv->start, js + fv->start);
        have_dtype = 1;
      } else if (clipdb__json_streq(&doc, f, "shape")) {
        if (fv->type != CLIPDB__JSON_ARRAY)
          FAIL("failed to read safetensors: shape of tensor %s is not an array", name);
        if (fv->size > CLIPDB__ST_MAX_DIMS)
          FAIL("failed to read safetensors: tensor %s has %d dimensions (at most %d)", name,
               fv->size, CLIPDB__ST_MAX_DIMS);
        t->n_dims = fv->size;
        for (int d = 0; d < fv->size; d++) {
          uint64_t dim;
          if (f + 2 + d >= n_tok)
            FAIL("failed to read safetensors: shape of tensor %s is cut short", name);
          const clipdb__json_tok *dt = &tok[f + 2 + d];
          if (!clipdb__json_uint(&doc, f + 2 + d, &dim) || dim > (uint64_t)INT64_MAX)
            FAIL("failed to read safetensors: shape of tensor %s: entry %d is %.*s, not a size "
                 "(an integer >= 0)", name, d, dt->end - dt->start > 24 ? 24 : dt->end - dt->start,
                 js + dt->start);
          t->shape[d] = (int64_t)dim;
        }
        have_shape = 1;
      } else if (clipdb__json_streq(&doc, f, "data_offsets")) {
        if (fv->type != CLIPDB__JSON_ARRAY || fv->size != 2 || f + 3 >= n_tok ||
            !clipdb__json_uint(&doc, f + 2, &begin) || !clipdb__json_uint(&doc, f + 3, &end))
          FAIL("failed to read safetensors: data_offsets of tensor %s are not two integers", name);
        have_offsets = 1;
      }
      f = clipdb__json_skip(&doc, f + 1);
    }
    if (!have_dtype || !have_shape || !have_offsets)
      FAIL("failed to read safetensors: tensor %s lacks %s", name,
           !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    /* numel with overflow checks */
    uint64_t numel = 1;
    for (int d = 0; d < t->n_dims; d++) {
      uint64_t dim = (uint64_t)t->shape[d];
      if (dim != 0 && numel > UINT64_MAX / dim)
        FAIL("failed to read safetensors: shape of tensor %s overflows", name);
      numel *= dim;
    }
    uint64_t esize = dtype_table[t->dtype].size;
    if (numel > (uint64_t)SIZE_MAX / esize / 2)
      FAIL("failed to read safetensors: tensor %s is too large", name);
    uint64_t nbytes = numel * esize;
    if (begin > end || end > payload_size)
      FAIL("failed to read safetensors: tensor %s data [%llu, %llu) lies outside the data "
           "section of %llu bytes (file truncated?)",
           name, (unsigned long long)begin, (unsigned long long)end,
           (unsigned long long)payload_size);
    if (end - begin != nbytes)
      FAIL("failed to read safetensors: tensor %s has %llu data bytes, its dtype %s and shape "
           "need %llu",
           name, (unsigned long long)(end - begin), dtype_table[t->dtype].name,
           (unsigned long long)nbytes);
    t->numel = (size_t)numel;
    t->nbytes = (size_t)nbytes;
    t->data = payload ? payload + begin : NULL;
    t->offset = payload_offset + begin;
    if (t->dtype != CLIPDB__DTYPE_F32 && t->nbytes > st->scratch_bytes) st->scratch_bytes = t->nbytes;
    st->n_tensors++;
    i = next;
  }

  /* duplicate names, overlapping data */
  qsort(st->tensors, st->n_tensors, sizeof *st->tensors, cmp_tensor_name);
  for (size_t k = 1; k < st->n_tensors; k++)
    if (strcmp(st->tensors[k - 1].name, st->tensors[k].name) == 0)
      FAIL("failed to read safetensors: tensor %s appears twice", st->tensors[k].name);
  if (st->n_tensors > 1) {
    spans = clipdb__malloc(sizeof *spans * st->n_tensors);
    if (spans == NULL) {
      status = clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                             "failed to allocate %zu bytes", sizeof *spans * st->n_tensors);
      goto error;
    }
    size_t n_spans = 0;
    for (size_t k = 0; k < st->n_tensors; k++) {
      if (st->tensors[k].nbytes == 0) continue; /* empty tensors occupy nothing */
      spans[n_spans].begin = st->tensors[k].offset;
      spans[n_spans].end = spans[n_spans].begin + st->tensors[k].nbytes;
      spans[n_spans].name = st->tensors[k].name;
      n_spans++;
    }
    qsort(spans, n_spans, sizeof *spans, cmp_span);
    for (size_t k = 1; k < n_spans; k++)
      if (spans[k].begin < spans[k - 1].end)
        FAIL("failed to read safetensors: data of tensors %s and %s overlap", spans[k - 1].name,
             spans[k].name);
  }

  clipdb__free(spans);
  clipdb__json_free(&doc);
  *out = st;
  return CLIPDB_STATUS_SUCCESS;

error:
  clipdb__free(spans);
  clipdb__json_free(&doc);
  clipdb__safetensors_free(st);
  return status;
}

clipdb_status clipdb__safetensors_open(const void *data, size_t size, char *errbuf,
                                       clipdb__safetensors **out) {
  if (out == NULL || (data == NULL && size != 0))
    return clipdb__error(errbuf, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to read safetensors: NULL argument");
  *out = NULL;
  const uint8_t *bytes = data;
  if (size < 8)
    return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                         "failed to read safetensors: file is truncated (%zu bytes, the 8-byte "
                         "header length is missing)", size);
  uint64_t header_len = 0;
  clipdb_status status = check_header_len(bytes, size, errbuf, &header_len);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  size_t js_len = (size_t)header_len;
  return parse_header((const char *)bytes + 8, js_len, bytes + 8 + js_len, size - 8 - js_len,
                      errbuf, out);
}

static clipdb_status read_failed(const clipdb__safetensors *st, uint64_t offset, size_t n,
                                 const char *tensor, char *errbuf) {
  return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                       "failed to read %s: reader failed at bytes [%llu, %llu)%s%s",
                       st && st->source_name ? st->source_name : "safetensors",
                       (unsigned long long)offset, (unsigned long long)(offset + n),
                       tensor ? " of tensor " : " (the header)", tensor ? tensor : "");
}

clipdb_status clipdb__safetensors_open_reader(clipdb_file_read_fn read, void *user, uint64_t size,
                                              char *errbuf, clipdb__safetensors **out) {
  if (out == NULL || read == NULL)
    return clipdb__error(errbuf, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to read safetensors: NULL argument");
  *out = NULL;
  if (size < 8)
    return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                         "failed to read safetensors: file is truncated (%llu bytes, the 8-byte "
                         "header length is missing)", (unsigned long long)size);
  uint8_t prefix[8];
  if (read(user, 0, prefix, 8) != 0) return read_failed(NULL, 0, 8, NULL, errbuf);
  uint64_t header_len = 0;
  clipdb_status status = check_header_len(prefix, size, errbuf, &header_len);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  size_t js_len = (size_t)header_len;
  char *js = clipdb__malloc(js_len + 1);
  if (js == NULL)
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to allocate %zu bytes for the safetensors header", js_len);
  if (read(user, 8, js, js_len) != 0) {
    clipdb__free(js);
    return read_failed(NULL, 8, js_len, NULL, errbuf);
  }
  js[js_len] = '\0';
  status = parse_header(js, js_len, NULL, size - 8 - js_len, errbuf, out);
  clipdb__free(js);
  if (status == CLIPDB_STATUS_SUCCESS) {
    (*out)->read = read;
    (*out)->user = user;
  }
  return status;
}

/* The raw bytes of a tensor: in memory, or read into `dst` (room for t->nbytes). */
static clipdb_status tensor_bytes(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                  uint8_t *dst, char *errbuf) {
  if (t->nbytes == 0) return CLIPDB_STATUS_SUCCESS;
  if (st->read(st->user, t->offset, dst, t->nbytes) != 0)
    return read_failed(st, t->offset, t->nbytes, t->name, errbuf);
  return CLIPDB_STATUS_SUCCESS;
}

/* A view of a streamed tensor whose bytes are in the scratch buffer (read there first). */
static clipdb_status scratch_view(const clipdb__safetensors *cst, const clipdb__st_tensor *t,
                                  clipdb__st_tensor *view, char *errbuf) {
  clipdb__safetensors *st = (clipdb__safetensors *)cst; /* the scratch is a mutable cache */
  /* sized to the largest tensor converted so far, not the file's largest: a tensor that is
   * never converted (one outside the towers loaded, an int8 table kept as it is) costs
   * nothing */
  if (st->scratch_cap < t->nbytes) {
    clipdb__free(st->scratch);
    st->scratch_cap = 0;
    st->scratch = clipdb__malloc(t->nbytes);
    if (st->scratch == NULL)
      return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to allocate %zu bytes of scratch for tensor %s",
                           t->nbytes, t->name);
    st->scratch_cap = t->nbytes;
  }
  clipdb_status status = tensor_bytes(st, t, st->scratch, errbuf);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  *view = *t;
  view->data = st->scratch;
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb__st_tensor_load_f32(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                         float *out, char *errbuf) {
  if (t->nbytes == 0) return CLIPDB_STATUS_SUCCESS;
  if (t->data != NULL) {
    clipdb__st_tensor_to_f32(t, out);
    return CLIPDB_STATUS_SUCCESS;
  }
  if (t->dtype == CLIPDB__DTYPE_F32) return tensor_bytes(st, t, (uint8_t *)out, errbuf);
  clipdb__st_tensor view;
  clipdb_status status = scratch_view(st, t, &view, errbuf);
  if (status == CLIPDB_STATUS_SUCCESS) clipdb__st_tensor_to_f32(&view, out);
  return status;
}

clipdb_status clipdb__st_tensor_load_raw(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                         void *out, char *errbuf) {
  if (t->nbytes == 0) return CLIPDB_STATUS_SUCCESS;
  if (t->data != NULL) {
    memcpy(out, t->data, t->nbytes);
    return CLIPDB_STATUS_SUCCESS;
  }
  return tensor_bytes(st, t, out, errbuf);
}

clipdb_status clipdb__st_tensor_load_i32(const clipdb__safetensors *st, const clipdb__st_tensor *t,
                                         int32_t *out, char *errbuf) {
  if (t->data != NULL || t->nbytes == 0) return clipdb__st_tensor_to_i32(t, out, errbuf);
  if (t->dtype == CLIPDB__DTYPE_F32 || t->dtype == CLIPDB__DTYPE_F16 ||
      t->dtype == CLIPDB__DTYPE_BF16 || t->dtype == CLIPDB__DTYPE_F64)
    return clipdb__st_tensor_to_i32(t, out, errbuf); /* the dtype error, no read needed */
  clipdb__st_tensor view;
  clipdb_status status = scratch_view(st, t, &view, errbuf);
  if (status == CLIPDB_STATUS_SUCCESS) status = clipdb__st_tensor_to_i32(&view, out, errbuf);
  return status;
}

void clipdb__safetensors_free(clipdb__safetensors *st) {
  if (st == NULL) return;
  clipdb__free(st->scratch);
  clipdb__free(st->tensors);
  clipdb__free((void *)st->metadata_keys);
  clipdb__free((void *)st->metadata_values);
  clipdb__free(st->strings);
  clipdb__free(st);
}

const clipdb__st_tensor *clipdb__safetensors_find(const clipdb__safetensors *st,
                                                  const char *name) {
  if (st == NULL || name == NULL) return NULL;
  size_t lo = 0, hi = st->n_tensors;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->tensors[mid].name, name);
    if (c == 0) return &st->tensors[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const char *clipdb__safetensors_metadata(const clipdb__safetensors *st, const char *key) {
  if (st == NULL || key == NULL) return NULL;
  for (size_t i = 0; i < st->n_metadata; i++)
    if (strcmp(st->metadata_keys[i], key) == 0) return st->metadata_values[i];
  return NULL;
}

float *clipdb__safetensors_read_f32(const clipdb__safetensors *st, const char *name,
                                    char *errbuf, size_t *numel) {
  const clipdb__st_tensor *t = clipdb__safetensors_find(st, name);
  if (t == NULL) {
    clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL, "failed to find tensor %s: not in the file",
                  name ? name : "(null)");
    return NULL;
  }
  float *v = clipdb__malloc(t->numel * sizeof(float) + 1);
  if (v == NULL) {
    clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %zu bytes for %s",
                  t->numel * sizeof(float), name);
    return NULL;
  }
  if (clipdb__st_tensor_load_f32(st, t, v, errbuf) != CLIPDB_STATUS_SUCCESS) {
    clipdb__free(v);
    return NULL;
  }
  if (numel) *numel = t->numel;
  return v;
}

int32_t *clipdb__safetensors_read_i32(const clipdb__safetensors *st, const char *name,
                                      char *errbuf, size_t *numel) {
  const clipdb__st_tensor *t = clipdb__safetensors_find(st, name);
  if (t == NULL) {
    clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL, "failed to find tensor %s: not in the file",
                  name ? name : "(null)");
    return NULL;
  }
  int32_t *v = clipdb__malloc(t->numel * sizeof(int32_t) + 1);
  if (v == NULL) {
    clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %zu bytes for %s",
                  t->numel * sizeof(int32_t), name);
    return NULL;
  }
  if (clipdb__st_tensor_load_i32(st, t, v, errbuf) != CLIPDB_STATUS_SUCCESS) {
    clipdb__free(v);
    return NULL;
  }
  if (numel) *numel = t->numel;
  return v;
}
