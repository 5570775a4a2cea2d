/*
 * Exact cosine top-k over L2-normalised float32 vectors (clipdb_index_* in clipdb.h).
 *
 * Layout: vectors are stored densely, one row of `dim` floats per slot, in slots [0, count).
 * Each slot also holds its key and an insertion sequence number; removal moves the last slot
 * into the hole, so slot order is not insertion order and ties are broken by the sequence
 * number instead. A linear-probing hash table (backward-shift deletion, no tombstones) maps
 * keys to slots.
 *
 * Search: scores are computed block by block with the f32-dot kernel of the kernel configuration
 * (src/kernels/config.h) current when the index was made,
 * and the best min(k, searched) are kept in a bounded heap that lives directly in the
 * caller's output arrays, so search allocates nothing that depends on k (only the normalised
 * query, and for candidate sets one bit per stored vector). Cosine similarity of unit vectors
 * is their dot product (Radford et al. 2021, CLIP: logits = scale * cos).
 *
 * Candidate pass (large indexes): every row also has an int8 copy, c = round(v / s) with
 * s = max|v| / 127 per row, and the norm of what that copy misses, err = ||v - s c||. A search
 * over at least PREFILTER_MIN rows first scores the int8 copies against an int16 copy of the
 * query (a quarter of the bytes to read), which bounds each row's float32 score x from both
 * sides: |x - a| <= err * ||q|| + ||q - t q16|| * (1 + err) + (rounding of the float32 dot).
 * With T the k-th largest lower bound, every row of the exact top-k has upper bound >= T, so
 * only rows with upper bound >= T are scored in float32, by the same kernel as the full scan.
 * The result is therefore identical, scores bit for bit, to scoring every row (tested against
 * the full scan in tests/c/test-index.c); the candidate pass only decides which rows to score.
 *
 * Compact rows (clipdb_index_compact): the float32 rows are dropped and each row is held as a
 * 16-bit code split in two int8 planes, the int8 copy c above and a second byte r, read as
 * v^ = (s / 256) * (256 c + r) (computed in float32 the same way everywhere: row_of()). The
 * candidate pass is unchanged (it reads c); the rows it keeps, and full scans, are scored on
 * v^. Everything above then holds with v^ in place of v: results are exactly those of scoring
 * every v^, and err is measured against v^.
 */
#include <math.h>
#include <string.h>

#include "../clipdb-impl.h"
#include "../kernels/config.h"

#define SCORE_BLOCK 256
/* The candidate pass is used from this many searched rows on, for k up to PREFILTER_MAX_K. */
#define PREFILTER_MIN 4096
#define PREFILTER_MAX_K 1024

struct clipdb_index {
  int32_t dim;
  size_t count;
  size_t capacity;
  float *vectors;     /* [capacity, dim] */
  uint32_t *keys;     /* [capacity] */
  uint64_t *seqs;     /* [capacity] insertion order, for tie-breaking */
  int8_t *codes;      /* [capacity, dim] int8 copy of each row (candidate pass) */
  float *code_scale;  /* [capacity] s: row ~= s * codes */
  float *code_err;    /* [capacity] ||row - s * codes||, rounded up */
  int8_t *lo;         /* [capacity, dim] compact: the low byte r of each row's 16-bit code */
  int compact;        /* 1 once clipdb_index_compact ran: no float32 rows (vectors is NULL) */
  double row_norm_max;/* compact: an upper bound on ||v^|| over the rows ever stored */
  int prefilter;      /* candidate pass enabled (1 by default; tests compare with 0) */
  uint64_t next_seq;
  uint32_t *table;    /* [table_size]: slot + 1, 0 = empty */
  size_t table_size;  /* power of two, >= 2 * count */
  const clipdb_kernel_config *config; /* its dot kernels: the configuration current when it was made */
  char error[CLIPDB__ERROR_SIZE];
};

/* ---- key -> slot map ------------------------------------------------------------------ */

static size_t hash_key(uint32_t key, size_t mask) {
  return (size_t)((key * 2654435761u) ^ (key >> 16)) & mask;
}

/* Position of `key` in the table, or of the empty cell where it would go. */
static size_t table_find(const clipdb_index_t *ix, uint32_t key) {
  size_t mask = ix->table_size - 1;
  size_t i = hash_key(key, mask);
  while (ix->table[i] != 0 && ix->keys[ix->table[i] - 1] != key) i = (i + 1) & mask;
  return i;
}

static int64_t slot_of(const clipdb_index_t *ix, uint32_t key) {
  if (ix->table_size == 0) return -1;
  size_t i = table_find(ix, key);
  return ix->table[i] == 0 ? -1 : (int64_t)ix->table[i] - 1;
}

static void table_erase(clipdb_index_t *ix, size_t i) {
  size_t mask = ix->table_size - 1;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (ix->table[j] == 0) break;
    size_t home = hash_key(ix->keys[ix->table[j] - 1], mask);
    /* Move entry j back into the hole at i unless its home lies cyclically in (i, j]. */
    int in_between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_between) {
      ix->table[i] = ix->table[j];
      i = j;
    }
  }
  ix->table[i] = 0;
}

static clipdb_status rehash(clipdb_index_t *ix, size_t size) {
  uint32_t *table = clipdb__calloc(size, sizeof *table);
  if (table == NULL)
    return clipdb__error(ix->error, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to grow index key table to %zu entries: out of memory", size);
  clipdb__free(ix->table);
  ix->table = table;
  ix->table_size = size;
  for (size_t s = 0; s < ix->count; s++) ix->table[table_find(ix, ix->keys[s])] = (uint32_t)(s + 1);
  return CLIPDB_STATUS_SUCCESS;
}

/* Make room for `extra` more vectors, growing by doubling, or (exact) to exactly count + extra;
 * on failure nothing is changed. */
static clipdb_status reserve_to(clipdb_index_t *ix, size_t extra, int exact) {
  if (extra > (size_t)UINT32_MAX - 1 - ix->count)
    return clipdb__error(ix->error, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to add %zu vectors to index: more than 2^32-2 in total", extra);
  size_t need = ix->count + extra;
  if (need > ix->capacity) {
    size_t cap = exact ? need : ix->capacity ? ix->capacity : 64;
    while (cap < need) cap *= 2;
    size_t dim = (size_t)ix->dim;
    if (cap > SIZE_MAX / sizeof(float) / dim)
      return clipdb__error(ix->error, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to grow index to %zu vectors: size overflow", cap);
    if (ix->compact) {
      int8_t *l = clipdb__realloc(ix->lo, cap * dim);
      if (l == NULL) goto oom;
      ix->lo = l;
    } else {
      float *v = clipdb__realloc(ix->vectors, cap * dim * sizeof(float));
      if (v == NULL) goto oom;
      ix->vectors = v;
    }
    uint32_t *k = clipdb__realloc(ix->keys, cap * sizeof(uint32_t));
    if (k == NULL) goto oom;
    ix->keys = k;
    uint64_t *s = clipdb__realloc(ix->seqs, cap * sizeof(uint64_t));
    if (s == NULL) goto oom;
    ix->seqs = s;
    int8_t *c = clipdb__realloc(ix->codes, cap * dim);
    if (c == NULL) goto oom;
    ix->codes = c;
    float *cs = clipdb__realloc(ix->code_scale, cap * sizeof(float));
    if (cs == NULL) goto oom;
    ix->code_scale = cs;
    float *ce = clipdb__realloc(ix->code_err, cap * sizeof(float));
    if (ce == NULL) goto oom;
    ix->code_err = ce;
    ix->capacity = cap;
  }
  if (ix->table_size < 2 * need) {
    size_t size = ix->table_size ? ix->table_size : 128;
    while (size < 2 * need) size *= 2;
    clipdb_status st = rehash(ix, size);
    if (st != CLIPDB_STATUS_SUCCESS) return st;
  }
  return CLIPDB_STATUS_SUCCESS;
oom:
  /* Arrays that were grown keep their contents; capacity is unchanged, so the state is valid. */
  return clipdb__error(ix->error, CLIPDB_STATUS_OUT_OF_MEMORY,
                       "failed to grow index to %zu vectors of dim %d: out of memory", need,
                       ix->dim);
}

static clipdb_status reserve(clipdb_index_t *ix, size_t extra) { return reserve_to(ix, extra, 0); }

clipdb_status clipdb_index_reserve(clipdb_index_t *index, size_t n) {
  if (index == NULL) return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to reserve: index is NULL");
  if (n <= index->count) return CLIPDB_STATUS_SUCCESS;
  return reserve_to(index, n - index->count, 1);
}

/* 0 if v is finite with a non-zero norm (then *inv_norm = 1/||v||), else 1 = NaN/Inf, 2 = zero. */
static int vector_check(const float *v, size_t dim, double *inv_norm) {
  double ss = 0.0;
  for (size_t i = 0; i < dim; i++) {
    if (!isfinite(v[i])) return 1;
    ss += (double)v[i] * (double)v[i];
  }
  if (!(ss > 0.0)) return 2;
  *inv_norm = 1.0 / sqrt(ss);
  return 0;
}

/* The int8 copy of a stored (normalised) row, its scale and the norm of what it misses. */
static void quantize_row(const float *v, size_t dim, int8_t *codes, float *scale, float *err) {
  float m = 0.0f;
  for (size_t i = 0; i < dim; i++) m = fmaxf(m, fabsf(v[i]));
  const float s = m / 127.0f, inv = m > 0.0f ? 127.0f / m : 0.0f;
  double e2 = 0.0;
  for (size_t i = 0; i < dim; i++) {
    /* Any rounding of v / s gives valid codes: err below is measured against these codes. */
    float c = nearbyintf(v[i] * inv);
    c = c > 127.0f ? 127.0f : c < -127.0f ? -127.0f : c;
    codes[i] = (int8_t)c;
    double d = (double)v[i] - (double)s * (double)c;
    e2 += d * d;
  }
  *scale = s;
  *err = (float)(sqrt(e2) * (1.0 + 1e-6)) + 1e-30f;
}

/* Compact rows: row `slot` as v^ = (s / 256) * (256 c + r), in float32. Every reader of a
 * compact row goes through here, so the same floats are scored everywhere. */
static void row_of(const clipdb_index_t *ix, size_t slot, float *out) {
  const size_t dim = (size_t)ix->dim;
  const float sl = ix->code_scale[slot] * (1.0f / 256.0f);
  const int8_t *c = ix->codes + slot * dim, *r = ix->lo + slot * dim;
  for (size_t i = 0; i < dim; i++) out[i] = sl * (float)(256 * (int32_t)c[i] + (int32_t)r[i]);
}

/* The row `slot` to score: its float32 row, or (compact) v^ written into `scratch` [dim]. */
static const float *row_ptr(const clipdb_index_t *ix, size_t slot, float *scratch) {
  if (!ix->compact) return ix->vectors + slot * (size_t)ix->dim;
  row_of(ix, slot, scratch);
  return scratch;
}

/*
 * Compact: the two code planes of row `slot` from its normalised float32 row v, its scale, the
 * bound err >= ||v^ - s c|| and the bound on ||v^||. Per element: c = round(v / s) (as
 * quantize_row), r = round((v - s c) / (s / 256)); when r would be 128, c + 1 and r - 256 (c + 1
 * is another valid rounding: c < 127 there, as c = 127 only at max|v|, where v - s c ~ 0).
 * Any rounding of either gives valid codes: the bounds are taken from the codes themselves.
 * v^_i = fl(sl K_i) with K_i = 256 c_i + r_i and sl = s / 256, so sl K_i = s c_i + sl r_i exactly
 * and |v^_i - s c_i - sl r_i| <= 2^-24 |v^_i|: ||v^ - s c|| <= sl ||r|| + 2^-24 ||v^||.
 * |v_i - v^_i| <= sl (sl / 2 but for the clamp, + rounding), so ||v^|| <= ||v|| + sqrt(dim) sl.
 * encode_compact_row writes c and r and returns s (branch-free float32, so the compiler can
 * vectorise it); compact_bounds derives err and the norm bound from the stored codes alone.
 */
static float encode_compact_row(const float *v, size_t dim, int8_t *c, int8_t *r) {
  float m = 0.0f;
  for (size_t i = 0; i < dim; i++) m = fmaxf(m, fabsf(v[i]));
  const float s = m / 127.0f, inv = m > 0.0f ? 127.0f / m : 0.0f;
  const float invl = m > 0.0f ? 256.0f / s : 0.0f;
  for (size_t i = 0; i < dim; i++) {
    float cf = fminf(fmaxf(nearbyintf(v[i] * inv), -127.0f), 127.0f);
    float q = nearbyintf((v[i] - s * cf) * invl);
    float up = (q >= 128.0f && cf < 127.0f) ? 1.0f : 0.0f;
    cf += up;
    q = fminf(fmaxf(q - 256.0f * up, -128.0f), 127.0f);
    c[i] = (int8_t)(int32_t)cf;
    r[i] = (int8_t)(int32_t)q;
  }
  return s;
}

/* The bounds of a compact row from its codes: err (into code_err) and ||v^|| (row_norm_max). */
static void compact_bounds(clipdb_index_t *ix, size_t slot) {
  const size_t dim = (size_t)ix->dim;
  const int8_t *r = ix->lo + slot * dim;
  /* int32 sums of at most 65,536 squares (<= 2^30 each block), so that the loop vectorises */
  int64_t r2 = 0;
  for (size_t b = 0; b < dim; b += 65536) {
    const size_t e = dim - b < 65536 ? dim : b + 65536;
    int32_t part = 0;
    for (size_t i = b; i < e; i++) part += (int32_t)r[i] * (int32_t)r[i];
    r2 += part;
  }
  const double sl = (double)(ix->code_scale[slot] * (1.0f / 256.0f));
  const double nn = (1.000001 + sqrt((double)dim) * sl) * 1.000001;
  ix->code_err[slot] = (float)((sl * sqrt((double)r2) + 6.0e-8 * nn) * 1.000001) + 1e-30f;
  if (nn > ix->row_norm_max) ix->row_norm_max = nn;
}

static void quantize_compact_row(clipdb_index_t *ix, const float *v, size_t slot) {
  const size_t dim = (size_t)ix->dim;
  ix->code_scale[slot] = encode_compact_row(v, dim, ix->codes + slot * dim, ix->lo + slot * dim);
  compact_bounds(ix, slot);
}

/* ---- public API --------------------------------------------------------------------------- */

clipdb_status clipdb_index_init(int32_t dim, clipdb_index_t **out) {
  if (out == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to create index: out is NULL");
  *out = NULL;
  if (dim <= 0 || dim > (1 << 20))
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to create index with dim %d: dim must be in [1, 1048576]", (int)dim);
  clipdb_index_t *ix = clipdb__calloc(1, sizeof *ix);
  if (ix == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to create index: out of memory");
  ix->dim = dim;
  ix->prefilter = 1;
  ix->config = clipdb__kernels();
  *out = ix;
  return CLIPDB_STATUS_SUCCESS;
}

void clipdb_index_free(clipdb_index_t *ix) {
  if (ix == NULL) return;
  clipdb__free(ix->vectors);
  clipdb__free(ix->keys);
  clipdb__free(ix->seqs);
  clipdb__free(ix->codes);
  clipdb__free(ix->code_scale);
  clipdb__free(ix->code_err);
  clipdb__free(ix->lo);
  clipdb__free(ix->table);
  clipdb__free(ix);
}

const char *clipdb_index_last_error(const clipdb_index_t *ix) { return ix ? ix->error : ""; }

int32_t clipdb_index_dim(const clipdb_index_t *ix) { return ix ? ix->dim : 0; }

size_t clipdb_index_count(const clipdb_index_t *ix) { return ix ? ix->count : 0; }

const char *clipdb_index_kernel_name(void) { return clipdb__kernels()->f32_dot_name; }

void clipdb__index_set_prefilter(clipdb_index_t *ix, int on) {
  if (ix != NULL) ix->prefilter = on != 0;
}

int clipdb_index_is_compact(const clipdb_index_t *ix) { return ix != NULL && ix->compact; }

int32_t clipdb_index_compact_version(void) { return 1; }

/* The slot of `key`, made (with the next insertion number) if the key is new; room reserved. An
 * existing key keeps its slot and insertion number (upsert). */
static size_t slot_for(clipdb_index_t *ix, uint32_t key) {
  size_t pos = table_find(ix, key);
  if (ix->table[pos] != 0) return ix->table[pos] - 1;
  size_t slot = ix->count++;
  ix->keys[slot] = key;
  ix->seqs[slot] = ix->next_seq++;
  ix->table[pos] = (uint32_t)(slot + 1);
  return slot;
}

/* memcpy in pieces under 512 bytes: Emscripten's memcpy hands copies of 512 bytes or more to
 * JavaScript (emscripten_memcpy_big), a call out of wasm per 512-d row. */
static void copy_bytes(int8_t *dst, const int8_t *src, size_t n) {
  size_t i = 0;
  for (; i + 256 <= n; i += 256) memcpy(dst + i, src + i, 256);
  if (i < n) memcpy(dst + i, src + i, n - i);
}

clipdb_status clipdb_index_compact_encode(int32_t dim, const float *vectors, size_t n, uint8_t *out) {
  if (dim <= 0 || dim > (1 << 20) || (n > 0 && (vectors == NULL || out == NULL)))
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to encode compact rows: dim %d out of [1, 1048576], or vectors or out is NULL", (int)dim);
  const size_t d = (size_t)dim;
  float *row = clipdb__malloc(d * sizeof *row);
  if (row == NULL && n > 0)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to encode %zu compact rows: out of memory", n);
  int8_t *codes = (int8_t *)(out + n * sizeof(float)), *lo = codes + n * d;
  for (size_t j = 0; j < n; j++) {
    double inv = 1.0;
    int bad = vector_check(vectors + j * d, d, &inv);
    if (bad) {
      clipdb__free(row);
      return clipdb__error(NULL, CLIPDB_STATUS_BAD_VECTOR, "failed to encode compact row %zu: %s", j,
                           bad == 1 ? "it contains NaN or Inf" : "it is all zeros (no direction)");
    }
    for (size_t i = 0; i < d; i++) row[i] = (float)(vectors[j * d + i] * inv);
    float sc = encode_compact_row(row, d, codes + j * d, lo + j * d);
    memcpy(out + j * sizeof(float), &sc, sizeof sc);
  }
  clipdb__free(row);
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb_index_add_compact(clipdb_index_t *ix, const uint32_t *keys, const uint8_t *planes, size_t n) {
  if (ix == NULL) return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to add compact rows: index is NULL");
  if (n == 0) return CLIPDB_STATUS_SUCCESS;
  if (keys == NULL || planes == NULL)
    return clipdb__error(ix->error, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to add %zu compact rows: keys or planes is NULL", n);
  if (!ix->compact)
    return clipdb__error(ix->error, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to add %zu compact rows: the index holds float32 rows (clipdb_index_compact first)", n);
  const size_t dim = (size_t)ix->dim;
  const int8_t *codes = (const int8_t *)(planes + n * sizeof(float)), *lo = codes + n * dim;
  /* Validate the whole batch first: a scale that is not a positive finite float, or a code
   * of -128 (c is in [-127, 127]), is damage; nothing of the batch is added then. */
  for (size_t j = 0; j < n; j++) {
    float sc;
    memcpy(&sc, planes + j * sizeof(float), sizeof sc);
    int bad = !(sc > 0.0f) || !isfinite(sc);
    for (size_t i = 0; i < dim && !bad; i++) bad = codes[j * dim + i] == -128;
    if (bad)
      return clipdb__error(ix->error, CLIPDB_STATUS_BAD_VECTOR,
                           "failed to add compact row %zu (key %u): its scale or codes are not what clipdb_index_compact_encode writes; nothing of the batch was added",
                           j, (unsigned)keys[j]);
  }
  clipdb_status st = reserve(ix, n);
  if (st != CLIPDB_STATUS_SUCCESS) return st;
  for (size_t j = 0; j < n; j++) {
    size_t slot = slot_for(ix, keys[j]);
    memcpy(&ix->code_scale[slot], planes + j * sizeof(float), sizeof(float));
    copy_bytes(ix->codes + slot * dim, codes + j * dim, dim);
    copy_bytes(ix->lo + slot * dim, lo + j * dim, dim);
    compact_bounds(ix, slot);
  }
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb_index_compact(clipdb_index_t *ix) {
  if (ix == NULL) return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to compact index: index is NULL");
  if (ix->compact) return CLIPDB_STATUS_SUCCESS;
  const size_t dim = (size_t)ix->dim;
  int8_t *lo = clipdb__malloc((ix->capacity ? ix->capacity : 1) * dim);
  if (lo == NULL) {
    return clipdb__error(ix->error, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to compact index of %zu vectors: out of memory (the index is unchanged)", ix->count);
  }
  ix->lo = lo;
  ix->row_norm_max = 1.000001;
  for (size_t slot = 0; slot < ix->count; slot++) quantize_compact_row(ix, ix->vectors + slot * dim, slot);
  clipdb__free(ix->vectors);
  ix->vectors = NULL;
  ix->compact = 1;
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb_index_add(clipdb_index_t *ix, const uint32_t *keys, const float *vectors,
                               size_t n) {
  if (ix == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to add to index: index is NULL");
  if (n == 0) return CLIPDB_STATUS_SUCCESS;
  if (keys == NULL || vectors == NULL)
    return clipdb__error(ix->error, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to add %zu vectors to index: keys or vectors is NULL", n);
  const size_t dim = (size_t)ix->dim;
  /* Validate the whole batch before changing anything, keeping each 1/norm for the copy (if
   * that scratch cannot be had, the copy computes them again: same values). */
  double *invs = clipdb__malloc(n * sizeof *invs);
  for (size_t j = 0; j < n; j++) {
    double inv = 1.0;
    int bad = vector_check(vectors + j * dim, dim, &inv);
    if (bad) {
      clipdb__free(invs);
      return clipdb__error(ix->error, CLIPDB_STATUS_BAD_VECTOR,
                           "failed to add vector %zu (key %u) to index: %s; nothing of the batch "
                           "was added", j, (unsigned)keys[j],
                           bad == 1 ? "it contains NaN or Inf" : "it is all zeros (no direction)");
    }
    if (invs != NULL) invs[j] = inv;
  }
  clipdb_status st = reserve(ix, n);
  /* Compact: each normalised row is made in `row` and kept only as its two code planes. */
  float *row = NULL;
  if (st == CLIPDB_STATUS_SUCCESS && ix->compact && (row = clipdb__malloc(dim * sizeof *row)) == NULL)
    st = clipdb__error(ix->error, CLIPDB_STATUS_OUT_OF_MEMORY,
                       "failed to add %zu vectors to index: out of memory; nothing of the batch was added", n);
  if (st != CLIPDB_STATUS_SUCCESS) {
    clipdb__free(invs);
    return st;
  }
  for (size_t j = 0; j < n; j++) {
    const float *src = vectors + j * dim;
    double inv = 1.0;
    if (invs != NULL) inv = invs[j]; else vector_check(src, dim, &inv);
    size_t slot = slot_for(ix, keys[j]); /* upsert: an existing key keeps its insertion number */
    float *dst = ix->compact ? row : ix->vectors + slot * dim;
    for (size_t i = 0; i < dim; i++) dst[i] = (float)(src[i] * inv);
    if (ix->compact) quantize_compact_row(ix, dst, slot);
    else quantize_row(dst, dim, ix->codes + slot * dim, &ix->code_scale[slot], &ix->code_err[slot]);
  }
  clipdb__free(row);
  clipdb__free(invs);
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb_index_remove(clipdb_index_t *ix, uint32_t key) {
  if (ix == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to remove from index: index is NULL");
  int64_t s = slot_of(ix, key);
  if (s < 0)
    return clipdb__error(ix->error, CLIPDB_STATUS_NOT_FOUND,
                         "failed to remove key %u from index: no such key", (unsigned)key);
  table_erase(ix, table_find(ix, key));
  size_t slot = (size_t)s, last = ix->count - 1;
  if (slot != last) {
    const size_t dim = (size_t)ix->dim;
    if (ix->compact) memcpy(ix->lo + slot * dim, ix->lo + last * dim, dim);
    else memcpy(ix->vectors + slot * dim, ix->vectors + last * dim, dim * sizeof(float));
    memcpy(ix->codes + slot * dim, ix->codes + last * dim, dim);
    ix->code_scale[slot] = ix->code_scale[last];
    ix->code_err[slot] = ix->code_err[last];
    ix->keys[slot] = ix->keys[last];
    ix->seqs[slot] = ix->seqs[last];
    ix->table[table_find(ix, ix->keys[slot])] = (uint32_t)(slot + 1);
  }
  ix->count--;
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb_index_get(const clipdb_index_t *ix, uint32_t key, float *out) {
  if (ix == NULL || out == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to get vector: NULL argument");
  int64_t s = slot_of(ix, key);
  if (s < 0)
    return clipdb__error((char *)ix->error, CLIPDB_STATUS_NOT_FOUND,
                         "failed to get vector of key %u: no such key", (unsigned)key);
  if (ix->compact) row_of(ix, (size_t)s, out);
  else memcpy(out, ix->vectors + (size_t)s * (size_t)ix->dim, (size_t)ix->dim * sizeof(float));
  return CLIPDB_STATUS_SUCCESS;
}

/* ---- bounded heap of the best results, worst at the root ---------------------------------- */

typedef struct heap {
  float *scores;   /* caller's out_scores row */
  uint32_t *slots; /* caller's out_keys row, holding slots until the end */
  const uint64_t *seqs;
  size_t size, cap;
} heap;

/* a ranks below b: lower score, or equal score and inserted later. */
static int ranks_below(const heap *h, float sa, uint32_t a, float sb, uint32_t b) {
  return sa < sb || (sa == sb && h->seqs[a] > h->seqs[b]);
}

static void sift_down(heap *h, size_t i, size_t size) {
  float s = h->scores[i];
  uint32_t v = h->slots[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= size) break;
    if (c + 1 < size && ranks_below(h, h->scores[c + 1], h->slots[c + 1], h->scores[c], h->slots[c])) c++;
    if (!ranks_below(h, h->scores[c], h->slots[c], s, v)) break;
    h->scores[i] = h->scores[c];
    h->slots[i] = h->slots[c];
    i = c;
  }
  h->scores[i] = s;
  h->slots[i] = v;
}

static void heap_offer(heap *h, float s, uint32_t slot) {
  if (h->size < h->cap) {
    size_t i = h->size++;
    while (i > 0) { /* sift up */
      size_t p = (i - 1) / 2;
      if (!ranks_below(h, s, slot, h->scores[p], h->slots[p])) break;
      h->scores[i] = h->scores[p];
      h->slots[i] = h->slots[p];
      i = p;
    }
    h->scores[i] = s;
    h->slots[i] = slot;
  } else if (ranks_below(h, h->scores[0], h->slots[0], s, slot)) {
    h->scores[0] = s;
    h->slots[0] = slot;
    sift_down(h, 0, h->size);
  }
}

/* Sort in place, best first (repeatedly move the worst to the end). */
static void heap_sort(heap *h) {
  for (size_t end = h->size; end > 1; end--) {
    float s = h->scores[0];
    uint32_t v = h->slots[0];
    h->scores[0] = h->scores[end - 1];
    h->slots[0] = h->slots[end - 1];
    h->scores[end - 1] = s;
    h->slots[end - 1] = v;
    sift_down(h, 0, end - 1);
  }
}

/* Whether `slot` is searched: every row when `seen` is NULL, else the rows whose bit is set. */
static int row_searched(const uint64_t *seen, size_t slot) {
  return seen == NULL || ((seen[slot / 64] >> (slot % 64)) & 1u);
}

/* Min-heap of floats (the k largest lower bounds seen; the smallest of them at the root). */
static void kheap_offer(float *kh, size_t *n, size_t cap, float x) {
  size_t i;
  if (*n < cap) {
    i = (*n)++;
    while (i > 0 && kh[(i - 1) / 2] > x) { kh[i] = kh[(i - 1) / 2]; i = (i - 1) / 2; }
    kh[i] = x;
    return;
  }
  if (!(x > kh[0])) return;
  i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && kh[c + 1] < kh[c]) c++;
    if (!(kh[c] < x)) break;
    kh[i] = kh[c];
    i = c;
  }
  kh[i] = x;
}

/*
 * One query through the candidate pass (see the comment at the top): offers to `h` every row
 * whose float32 score can reach the top h->cap, scored by the float32 kernel, so the heap ends
 * as after a full scan. `seen`: the rows searched (NULL: all). Returns -1 if its scratch
 * memory cannot be had (the caller then scans in full), else 0.
 */
static int prefilter_scan(const clipdb_index_t *ix, const float *qn, heap *h, const uint64_t *seen) {
  const size_t dim = (size_t)ix->dim, n = ix->count, k = h->cap;
  int16_t *q16 = clipdb__malloc(dim * sizeof *q16);
  float *lower = clipdb__malloc((n ? n : 1) * sizeof *lower);
  float *scratch = clipdb__malloc(dim * sizeof *scratch);
  if (q16 == NULL || lower == NULL || scratch == NULL) {
    clipdb__free(q16);
    clipdb__free(lower);
    clipdb__free(scratch);
    return -1;
  }
  /* The int16 copy of the query, q ~= t * q16, with |q16| small enough that no int32 sum of
   * dim products with int8 codes can overflow. */
  double qmax = floor(2147483647.0 / (127.0 * (double)dim));
  if (qmax > 32767.0) qmax = 32767.0;
  if (qmax < 1.0) qmax = 1.0;
  float m = 0.0f;
  for (size_t i = 0; i < dim; i++) m = fmaxf(m, fabsf(qn[i]));
  const double t = (double)m / qmax;
  double f2 = 0.0, q2 = 0.0;
  for (size_t i = 0; i < dim; i++) {
    double c = t > 0.0 ? nearbyint((double)qn[i] / t) : 0.0;
    c = c > qmax ? qmax : c < -qmax ? -qmax : c;
    q16[i] = (int16_t)c;
    double d = (double)qn[i] - t * c;
    f2 += d * d;
    q2 += (double)qn[i] * (double)qn[i];
  }
  const double qnorm = sqrt(q2) * (1.0 + 1e-6), eq = sqrt(f2) * (1.0 + 1e-6);
  /* rn bounds ||v||: 1 (+1e-6) for float32 rows (normalised), measured for compact rows. */
  const double rn = ix->compact ? ix->row_norm_max : 1.000001;
  /* The float32 kernel's own rounding: |computed - exact| <= gamma_(dim+1) * sum |q_i v_i|,
   * and sum |q_i v_i| <= ||q|| ||v||; taken twice over, plus 1e-6. */
  const double slack = ((double)dim + 2.0) * 1.2e-7 * qnorm * rn * 1.01 + 1e-6;
  float kh[PREFILTER_MAX_K];
  size_t kn = 0;
  int32_t acc[SCORE_BLOCK];
  for (size_t b = 0; b < n; b += SCORE_BLOCK) {
    size_t rows = n - b < SCORE_BLOCK ? n - b : SCORE_BLOCK;
    ix->config->qs8_dot(rows, dim, q16, ix->codes + b * dim, dim, acc);
    for (size_t r = 0; r < rows; r++) {
      size_t slot = b + r;
      if (!row_searched(seen, slot)) continue;
      double a = t * (double)ix->code_scale[slot] * (double)acc[r];
      double bd = qnorm * ix->code_err[slot] + eq * (rn + ix->code_err[slot]) + slack;
      /* Stored as float, at most a - bd (scores and bounds are below 2 in magnitude, where
       * float rounding moves a value by less than 1.2e-7). */
      lower[slot] = (float)(a - bd - 2e-7);
      kheap_offer(kh, &kn, k, lower[slot]);
    }
  }
  const double threshold = kn == k ? (double)kh[0] : -INFINITY;
  const clipdb_f32_dot_ukernel_fn dot = ix->config->f32_dot;
  for (size_t slot = 0; slot < n; slot++) {
    if (!row_searched(seen, slot)) continue;
    double bd = qnorm * ix->code_err[slot] + eq * (rn + ix->code_err[slot]) + slack;
    if ((double)lower[slot] + 2.0 * bd + 4e-7 < threshold) continue; /* upper bound below T */
    float sc;
    dot(1, dim, qn, row_ptr(ix, slot, scratch), dim, &sc);
    heap_offer(h, sc, (uint32_t)slot);
  }
  clipdb__free(q16);
  clipdb__free(lower);
  clipdb__free(scratch);
  return 0;
}

clipdb_status clipdb_index_search(const clipdb_index_t *ix, const float *queries,
                                  size_t n_queries, size_t k, const uint32_t *candidates,
                                  size_t n_candidates, uint32_t *out_keys, float *out_scores,
                                  size_t *out_counts) {
  if (ix == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to search index: index is NULL");
  char *err = (char *)ix->error;
  if (n_queries == 0) return CLIPDB_STATUS_SUCCESS;
  if (queries == NULL || out_counts == NULL || (k > 0 && (out_keys == NULL || out_scores == NULL)))
    return clipdb__error(err, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to search index: queries, out_keys, out_scores or out_counts is NULL");
  if (candidates == NULL && n_candidates > 0)
    return clipdb__error(err, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to search index: %zu candidates but candidates is NULL", n_candidates);
  const size_t dim = (size_t)ix->dim;
  for (size_t q = 0; q < n_queries; q++) {
    double inv = 1.0;
    int bad = vector_check(queries + q * dim, dim, &inv);
    if (bad)
      return clipdb__error(err, CLIPDB_STATUS_BAD_VECTOR, "failed to search index: query %zu %s", q,
                           bad == 1 ? "contains NaN or Inf" : "is all zeros (no direction)");
  }
  for (size_t q = 0; q < n_queries; q++) out_counts[q] = 0;
  if (k == 0 || ix->count == 0) return CLIPDB_STATUS_SUCCESS;

  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  /* Queries are normalised once, and scored together: each block of stored rows is read from
   * memory once for all queries of the batch (the scan is memory-bound for large indexes). */
  float *qn = NULL;
  float *rowbuf = NULL; /* compact: the rows of one block (or one row) as v^ */
  heap *heaps = NULL;
  uint64_t *seen = NULL;
  size_t n_cand_slots = 0;
  if (n_queries > SIZE_MAX / sizeof(float) / dim) {
    status = clipdb__error(err, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to search index: %zu queries is too many", n_queries);
    goto cleanup;
  }
  qn = clipdb__malloc(n_queries * dim * sizeof(float));
  heaps = clipdb__malloc(n_queries * sizeof(heap));
  if (qn == NULL || heaps == NULL) {
    status = clipdb__error(err, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to search index with %zu queries: out of memory", n_queries);
    goto cleanup;
  }
  if (candidates != NULL) {
    /* Resolve candidate keys to slots once; unknown keys are skipped, duplicates count once.
     * One bit per stored vector, never sized by k. */
    size_t words = (ix->count + 63) / 64;
    seen = clipdb__calloc(words ? words : 1, sizeof *seen);
    if (seen == NULL) {
      status = clipdb__error(err, CLIPDB_STATUS_OUT_OF_MEMORY,
                             "failed to search index with %zu candidates: out of memory", n_candidates);
      goto cleanup;
    }
    for (size_t c = 0; c < n_candidates; c++) {
      int64_t s = slot_of(ix, candidates[c]);
      if (s < 0) continue;
      if (row_searched(seen, (size_t)s)) continue; /* duplicate */
      seen[s / 64] |= (uint64_t)1 << (s % 64);
      n_cand_slots++;
    }
  }
  const clipdb_f32_dot_ukernel_fn dot = ix->config->f32_dot;
  const size_t searched = candidates != NULL ? n_cand_slots : ix->count;
  const size_t kk = k < searched ? k : searched;
  for (size_t q = 0; q < n_queries; q++) {
    const float *src = queries + q * dim;
    double inv = 1.0;
    vector_check(src, dim, &inv);
    for (size_t i = 0; i < dim; i++) qn[q * dim + i] = (float)(src[i] * inv);
    heap h = {out_scores + q * k, out_keys + q * k, ix->seqs, 0, kk};
    heaps[q] = h;
  }
  int prefiltered = 0;
  if (kk > 0 && ix->prefilter && kk <= PREFILTER_MAX_K && searched >= PREFILTER_MIN &&
      (candidates == NULL || 4 * n_cand_slots >= ix->count)) {
    prefiltered = 1;
    for (size_t q = 0; q < n_queries && prefiltered; q++)
      if (prefilter_scan(ix, qn + q * dim, &heaps[q], seen) != 0) prefiltered = 0;
    if (!prefiltered) /* no scratch memory: scan in full instead */
      for (size_t q = 0; q < n_queries; q++) heaps[q].size = 0;
  }
  if (kk > 0 && !prefiltered && ix->compact &&
      (rowbuf = clipdb__malloc((candidates == NULL ? SCORE_BLOCK : 1) * dim * sizeof *rowbuf)) == NULL) {
    status = clipdb__error(err, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to search index: out of memory");
    goto cleanup;
  }
  if (kk > 0 && !prefiltered) {
    float block[SCORE_BLOCK];
    if (candidates == NULL) {
      for (size_t b = 0; b < ix->count; b += SCORE_BLOCK) {
        size_t rows = ix->count - b < SCORE_BLOCK ? ix->count - b : SCORE_BLOCK;
        const float *base = rowbuf; /* compact: the block's rows as v^ */
        if (ix->compact) for (size_t r = 0; r < rows; r++) row_of(ix, b + r, rowbuf + r * dim);
        else base = ix->vectors + b * dim;
        for (size_t q = 0; q < n_queries; q++) {
          dot(rows, dim, qn + q * dim, base, dim, block);
          for (size_t r = 0; r < rows; r++) heap_offer(&heaps[q], block[r], (uint32_t)(b + r));
        }
      }
    } else {
      /* Candidates are visited in slot order (the bitmap's), so the rows are read from memory
       * front to back whatever order the caller listed them in; results do not depend on it. */
      size_t words = (ix->count + 63) / 64;
      for (size_t w = 0; w < words; w++) {
        for (uint64_t bits = seen[w]; bits != 0; bits &= bits - 1) {
          uint32_t slot = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
          const float *row = row_ptr(ix, slot, rowbuf);
          for (size_t q = 0; q < n_queries; q++) {
            float s;
            dot(1, dim, qn + q * dim, row, dim, &s);
            heap_offer(&heaps[q], s, slot);
          }
        }
      }
    }
  }
  for (size_t q = 0; q < n_queries; q++) {
    heap_sort(&heaps[q]);
    for (size_t r = 0; r < heaps[q].size; r++) heaps[q].slots[r] = ix->keys[heaps[q].slots[r]];
    out_counts[q] = heaps[q].size;
  }
cleanup:
  clipdb__free(rowbuf);
  clipdb__free(qn);
  clipdb__free(heaps);
  clipdb__free(seen);
  return status;
}
