/*
 * Vector index (clipdb_index_*) against a brute-force reference on random data: odd
 * dimensions, duplicate vectors (tied scores), upserts, removals, candidate sets, batched
 * queries, k edge cases, and the named errors. Also the f32-dot scalar kernel against a
 * double-precision loop on sizes 1..65 with strides. The wasm SIMD kernel is checked against
 * its scalar twin in tests/js/index.test.mjs.
 * Indexes of more than 4,096 rows take the int8 candidate pass: test_prefilter checks that it
 * returns exactly (keys, and scores bit for bit) what scoring every row returns, on clustered
 * data full of near-ties, with removals, upserts, candidate sets and k around its limits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb.h"
#include "clipdb-impl.h"
#include "kernels/f32-dot/f32-dot.h"
#include "kernels/qs8-dot/qs8-dot.h"

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      failures++;                                          \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);      \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      if (failures > 20) exit(1);                          \
    }                                                      \
  } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}
static float rndf(void) { return (float)((double)rnd() / 4294967296.0 * 2.0 - 1.0); }

/* ---- reference model: live entries in insertion order ---------------------------------- */
typedef struct entry {
  uint32_t key;
  float *vec; /* normalised like the index does (double norm) */
  int live;
} entry;

static entry ref[4096];
static int n_ref = 0;

static void normalise(const float *src, float *dst, int dim) {
  double ss = 0;
  for (int i = 0; i < dim; i++) ss += (double)src[i] * src[i];
  double inv = 1.0 / sqrt(ss);
  for (int i = 0; i < dim; i++) dst[i] = (float)(src[i] * inv);
}

static void ref_add(uint32_t key, const float *v, int dim) {
  for (int i = 0; i < n_ref; i++)
    if (ref[i].live && ref[i].key == key) {
      normalise(v, ref[i].vec, dim); /* upsert keeps the position */
      return;
    }
  ref[n_ref].key = key;
  ref[n_ref].vec = malloc(sizeof(float) * dim);
  normalise(v, ref[n_ref].vec, dim);
  ref[n_ref].live = 1;
  n_ref++;
}

static void ref_remove(uint32_t key) {
  for (int i = 0; i < n_ref; i++)
    if (ref[i].live && ref[i].key == key) ref[i].live = 0;
}

static void ref_clear(void) {
  for (int i = 0; i < n_ref; i++) free(ref[i].vec);
  n_ref = 0;
}

typedef struct hit {
  uint32_t key;
  float score;
  int pos;
} hit;

static int hit_cmp(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->pos - y->pos;
}

/* Brute force: score every live (candidate) entry with the scalar kernel, sort, cut at k. */
static int ref_search(const float *query, int dim, size_t k, const uint32_t *cand, size_t n_cand,
                      hit *out) {
  float *qn = malloc(sizeof(float) * dim);
  normalise(query, qn, dim);
  int n = 0;
  for (int i = 0; i < n_ref; i++) {
    if (!ref[i].live) continue;
    if (cand != NULL) {
      int found = 0;
      for (size_t c = 0; c < n_cand; c++) found |= cand[c] == ref[i].key;
      if (!found) continue;
    }
    float s;
    clipdb_f32_dot_ukernel__scalar(1, dim, qn, ref[i].vec, dim, &s);
    out[n].key = ref[i].key;
    out[n].score = s;
    out[n].pos = i;
    n++;
  }
  free(qn);
  qsort(out, n, sizeof *out, hit_cmp);
  return (size_t)n < k ? n : (int)k;
}

static void compare(clipdb_index_t *ix, int dim, const float *queries, size_t nq, size_t k,
                    const uint32_t *cand, size_t n_cand, const char *what) {
  uint32_t *keys = malloc(sizeof(uint32_t) * (nq * k + 1));
  float *scores = malloc(sizeof(float) * (nq * k + 1));
  size_t *counts = malloc(sizeof(size_t) * nq);
  hit *h = malloc(sizeof(hit) * (n_ref + 1));
  clipdb_status st = clipdb_index_search(ix, queries, nq, k, cand, n_cand, keys, scores, counts);
  CHECK(st == CLIPDB_STATUS_SUCCESS, "%s: search failed: %s", what, clipdb_index_last_error(ix));
  for (size_t q = 0; q < nq && st == CLIPDB_STATUS_SUCCESS; q++) {
    int n = ref_search(queries + q * dim, dim, k, cand, n_cand, h);
    CHECK(counts[q] == (size_t)n, "%s: dim %d k %zu query %zu: count %zu, expected %d", what, dim, k,
          q, counts[q], n);
    for (int r = 0; r < n && r < (int)counts[q]; r++) {
      CHECK(keys[q * k + r] == h[r].key && scores[q * k + r] == h[r].score,
            "%s: dim %d k %zu query %zu rank %d: got key %u score %.9g, expected key %u score %.9g",
            what, dim, k, q, r, keys[q * k + r], scores[q * k + r], h[r].key, h[r].score);
    }
    for (int r = 1; r < (int)counts[q]; r++)
      CHECK(scores[q * k + r - 1] >= scores[q * k + r], "%s: scores not descending", what);
  }
  free(keys);
  free(scores);
  free(counts);
  free(h);
}

static void test_kernel(void) {
  for (size_t dim = 1; dim <= 65; dim++)
    for (size_t extra = 0; extra <= 3; extra += 3) {
      size_t stride = dim + extra, rows = 5;
      float q[80], m[5 * 80], out[5];
      for (size_t i = 0; i < dim; i++) q[i] = rndf();
      for (size_t i = 0; i < rows * stride; i++) m[i] = rndf();
      clipdb_f32_dot_ukernel__scalar(rows, dim, q, m, stride, out);
      for (size_t r = 0; r < rows; r++) {
        double d = 0;
        for (size_t i = 0; i < dim; i++) d += (double)q[i] * m[r * stride + i];
        CHECK(fabs(d - out[r]) <= 1e-5 * (1 + fabs(d)), "kernel dim %zu stride %zu row %zu: %g vs %g",
              dim, stride, r, out[r], d);
      }
    }
}

static void test_random(int dim, int n, int with_ties) {
  clipdb_index_t *ix = NULL;
  CHECK(clipdb_index_init(dim, &ix) == CLIPDB_STATUS_SUCCESS, "init dim %d", dim);
  CHECK(clipdb_index_dim(ix) == dim, "dim");
  float *vecs = malloc(sizeof(float) * dim * (n + 1));
  uint32_t *keys = malloc(sizeof(uint32_t) * (n + 1));
  for (int i = 0; i < n; i++) {
    keys[i] = (uint32_t)i * 2654435761u + 12345u; /* distinct (odd multiplier), unordered */
    for (int d = 0; d < dim; d++) vecs[i * dim + d] = rndf();
    if (with_ties && i >= 2 && rnd() % 3 == 0) /* copy an earlier vector: exact tie */
      memcpy(vecs + i * dim, vecs + (rnd() % i) * dim, sizeof(float) * dim);
  }
  /* add in a few batches */
  int done = 0;
  while (done < n) {
    int b = 1 + (int)(rnd() % 50);
    if (b > n - done) b = n - done;
    CHECK(clipdb_index_add(ix, keys + done, vecs + done * dim, b) == CLIPDB_STATUS_SUCCESS, "add");
    for (int i = 0; i < b; i++) ref_add(keys[done + i], vecs + (done + i) * dim, dim);
    done += b;
  }
  CHECK(clipdb_index_count(ix) == (size_t)n, "count %zu vs %d", clipdb_index_count(ix), n);

  float queries[4 * 600];
  for (int i = 0; i < 4 * dim; i++) queries[i] = rndf();
  if (n > 0) memcpy(queries + dim, vecs, sizeof(float) * dim); /* query equal to a stored vector */
  size_t ks[] = {1, 2, 5, (size_t)n, (size_t)n + 7};
  for (int t = 0; t < 5; t++) compare(ix, dim, queries, 4, ks[t], NULL, 0, "all");

  /* remove a third, upsert a third (same key, new vector; keeps its tie position) */
  for (int i = 0; i < n; i++) {
    int r = (int)(rnd() % 3);
    if (r == 0) {
      CHECK(clipdb_index_remove(ix, keys[i]) == CLIPDB_STATUS_SUCCESS, "remove");
      ref_remove(keys[i]);
      CHECK(clipdb_index_remove(ix, keys[i]) == CLIPDB_STATUS_NOT_FOUND, "remove twice");
    } else if (r == 1) {
      float *v = vecs + (rnd() % n) * dim; /* often a tie with another entry */
      CHECK(clipdb_index_add(ix, keys + i, v, 1) == CLIPDB_STATUS_SUCCESS, "upsert");
      ref_add(keys[i], v, dim);
    }
  }
  int live = 0;
  for (int i = 0; i < n_ref; i++) live += ref[i].live;
  CHECK(clipdb_index_count(ix) == (size_t)live, "count after removals %zu vs %d", clipdb_index_count(ix), live);
  for (int t = 0; t < 5; t++) compare(ix, dim, queries, 4, ks[t], NULL, 0, "after remove/upsert");

  /* re-add removed keys: they go to the end of the tie order */
  for (int i = 0; i < n; i += 5) {
    clipdb_index_add(ix, keys + i, vecs + i * dim, 1);
    ref_add(keys[i], vecs + i * dim, dim);
  }
  compare(ix, dim, queries, 4, 10, NULL, 0, "re-added");

  /* candidate sets: random subset with duplicates and unknown keys */
  uint32_t cand[200];
  size_t nc = 0;
  for (int i = 0; i < n && nc < 190; i++)
    if (rnd() % 4 == 0) cand[nc++] = keys[i];
  if (nc > 0) cand[nc++] = cand[0];     /* duplicate */
  cand[nc++] = 0xFFFFFFFFu;              /* unknown */
  size_t kc[] = {1, 3, nc, nc + 5};
  for (int t = 0; t < 4; t++) compare(ix, dim, queries, 4, kc[t], cand, nc, "candidates");
  /* empty candidate set */
  uint32_t ok[4];
  float os[4];
  size_t cnt[1] = {99};
  CHECK(clipdb_index_search(ix, queries, 1, 4, cand, 0, ok, os, cnt) == CLIPDB_STATUS_SUCCESS && cnt[0] == 0,
        "empty candidate set returns nothing");

  clipdb_index_free(ix);
  ref_clear();
  free(vecs);
  free(keys);
}

static void test_errors(void) {
  clipdb_index_t *ix = NULL;
  CHECK(clipdb_index_init(0, &ix) == CLIPDB_STATUS_INVALID_ARGUMENT && ix == NULL, "dim 0");
  CHECK(clipdb_index_init(-3, &ix) == CLIPDB_STATUS_INVALID_ARGUMENT, "dim -3");
  CHECK(strstr(clipdb_last_error(), "-3") != NULL, "message names the dim: %s", clipdb_last_error());
  CHECK(clipdb_index_init(3, NULL) == CLIPDB_STATUS_INVALID_ARGUMENT, "out NULL");
  CHECK(clipdb_index_init(3, &ix) == CLIPDB_STATUS_SUCCESS, "init");
  float good[6] = {1, 0, 0, 0, 1, 0}, zero[6] = {1, 2, 3, 0, 0, 0}, nan[3] = {NAN, 1, 1},
        inf[3] = {1, INFINITY, 0};
  uint32_t keys[2] = {1, 2};
  CHECK(clipdb_index_add(ix, keys, zero, 2) == CLIPDB_STATUS_BAD_VECTOR, "zero vector");
  CHECK(strstr(clipdb_index_last_error(ix), "zeros") != NULL, "zero message: %s", clipdb_index_last_error(ix));
  CHECK(clipdb_index_count(ix) == 0, "nothing of the failed batch added");
  CHECK(clipdb_index_add(ix, keys, nan, 1) == CLIPDB_STATUS_BAD_VECTOR, "NaN");
  CHECK(clipdb_index_add(ix, keys, inf, 1) == CLIPDB_STATUS_BAD_VECTOR, "Inf");
  CHECK(clipdb_index_add(ix, NULL, good, 1) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL keys");
  CHECK(clipdb_index_add(ix, keys, good, 2) == CLIPDB_STATUS_SUCCESS, "add");
  uint32_t ok[2];
  float os[2];
  size_t cnt[1];
  CHECK(clipdb_index_search(ix, zero + 3, 1, 2, NULL, 0, ok, os, cnt) == CLIPDB_STATUS_BAD_VECTOR, "zero query");
  CHECK(clipdb_index_search(ix, nan, 1, 2, NULL, 0, ok, os, cnt) == CLIPDB_STATUS_BAD_VECTOR, "NaN query");
  CHECK(clipdb_index_search(ix, good, 1, 2, NULL, 3, ok, os, cnt) == CLIPDB_STATUS_INVALID_ARGUMENT,
        "candidates NULL with n > 0");
  CHECK(clipdb_index_search(ix, good, 1, 0, NULL, 0, NULL, NULL, cnt) == CLIPDB_STATUS_SUCCESS && cnt[0] == 0,
        "k = 0");
  /* huge k: no allocation by k; output rows are the caller's (1 query, so k entries) */
  CHECK(clipdb_index_search(ix, good, 1, 2, NULL, 0, ok, os, cnt) == CLIPDB_STATUS_SUCCESS && cnt[0] == 2 &&
            ok[0] == 1 && os[0] == 1.0f && ok[1] == 2 && os[1] == 0.0f,
        "exact scores");
  CHECK(clipdb_index_remove(ix, 7) == CLIPDB_STATUS_NOT_FOUND, "remove unknown");
  float got[3];
  CHECK(clipdb_index_get(ix, 2, got) == CLIPDB_STATUS_SUCCESS && got[1] == 1.0f, "get");
  CHECK(clipdb_index_get(ix, 9, got) == CLIPDB_STATUS_NOT_FOUND, "get unknown");
  clipdb_index_free(ix);
  clipdb_index_free(NULL);
}

/* Upsert keeps the tie position; equal vectors rank by insertion order, the same on every run. */
static void test_ties(void) {
  clipdb_index_t *ix = NULL;
  clipdb_index_init(2, &ix);
  float v[2] = {0.6f, 0.8f}, w[2] = {1, 0};
  uint32_t kx = 10, ky = 20, ka = 5, kb = 30;
  clipdb_index_add(ix, &kx, v, 1);
  clipdb_index_add(ix, &ky, v, 1);
  clipdb_index_add(ix, &kb, w, 1);
  clipdb_index_add(ix, &ka, v, 1);
  clipdb_index_add(ix, &kb, v, 1); /* upsert b: now tied, keeps position 3 */
  for (int run = 0; run < 100; run++) {
    uint32_t keys[4];
    float scores[4];
    size_t c;
    clipdb_index_search(ix, v, 1, 4, NULL, 0, keys, scores, &c);
    CHECK(c == 4 && keys[0] == 10 && keys[1] == 20 && keys[2] == 30 && keys[3] == 5,
          "tie order run %d: %u %u %u %u", run, keys[0], keys[1], keys[2], keys[3]);
  }
  CHECK(clipdb_index_count(ix) == 4, "upsert does not duplicate");
  clipdb_index_free(ix);
}

/* reserve(n) allocates exactly once for n vectors: adding them after it moves nothing. */
static void test_reserve(void) {
  clipdb_index_t *ix = NULL;
  CHECK(clipdb_index_reserve(NULL, 10) == CLIPDB_STATUS_INVALID_ARGUMENT, "reserve NULL");
  CHECK(clipdb_index_init(4, &ix) == CLIPDB_STATUS_SUCCESS, "init");
  size_t before = clipdb_allocated_bytes();
  CHECK(clipdb_index_reserve(ix, 1000) == CLIPDB_STATUS_SUCCESS, "reserve 1000");
  size_t after = clipdb_allocated_bytes();
  /* vectors 1000*4*4 + keys 1000*4 + seqs 1000*8 + int8 copies 1000*4 + their scales and
   * errors 1000*4*2 + a table of 2048 slots * 4 */
  CHECK(after - before == 1000 * 16 + 1000 * 4 + 1000 * 8 + 1000 * 4 + 1000 * 8 + 2048 * 4, "reserved bytes %zu", after - before);
  float v[4] = {1, 2, 3, 4};
  for (uint32_t k = 0; k < 1000; k++) CHECK(clipdb_index_add(ix, &k, v, 1) == CLIPDB_STATUS_SUCCESS, "add %u", k);
  CHECK(clipdb_allocated_bytes() == after, "no growth after reserve: %zu vs %zu", clipdb_allocated_bytes(), after);
  CHECK(clipdb_index_reserve(ix, 10) == CLIPDB_STATUS_SUCCESS && clipdb_allocated_bytes() == after, "smaller n does nothing");
  CHECK(clipdb_index_reserve(ix, (size_t)UINT32_MAX) == CLIPDB_STATUS_INVALID_ARGUMENT, "n above 2^32-2");
  CHECK(clipdb_index_count(ix) == 1000, "count kept");
  clipdb_index_free(ix);
}

/* Search with the candidate pass on and off: the same keys, counts and scores (bit for bit). */
static void compare_prefilter(clipdb_index_t *ix, int dim, const float *queries, size_t nq, size_t k,
                              const uint32_t *cand, size_t nc, const char *what) {
  uint32_t *k1 = malloc(sizeof(uint32_t) * (nq * k + 1)), *k2 = malloc(sizeof(uint32_t) * (nq * k + 1));
  float *s1 = malloc(sizeof(float) * (nq * k + 1)), *s2 = malloc(sizeof(float) * (nq * k + 1));
  size_t c1[8], c2[8];
  clipdb__index_set_prefilter(ix, 1);
  CHECK(clipdb_index_search(ix, queries, nq, k, cand, nc, k1, s1, c1) == CLIPDB_STATUS_SUCCESS, "%s: search", what);
  clipdb__index_set_prefilter(ix, 0);
  CHECK(clipdb_index_search(ix, queries, nq, k, cand, nc, k2, s2, c2) == CLIPDB_STATUS_SUCCESS, "%s: full search", what);
  clipdb__index_set_prefilter(ix, 1);
  for (size_t q = 0; q < nq; q++) {
    CHECK(c1[q] == c2[q], "%s: dim %d k %zu query %zu: %zu results vs %zu", what, dim, k, q, c1[q], c2[q]);
    for (size_t r = 0; r < c1[q] && r < c2[q]; r++) {
      CHECK(k1[q * k + r] == k2[q * k + r] && memcmp(&s1[q * k + r], &s2[q * k + r], sizeof(float)) == 0,
            "%s: dim %d k %zu query %zu rank %zu: key %u score %.9g vs key %u score %.9g", what, dim, k, q, r,
            (unsigned)k1[q * k + r], s1[q * k + r], (unsigned)k2[q * k + r], s2[q * k + r]);
    }
  }
  free(k1); free(k2); free(s1); free(s2);
}

static void test_prefilter(int dim, int n, int compact) {
  clipdb_index_t *ix = NULL;
  CHECK(clipdb_index_init(dim, &ix) == CLIPDB_STATUS_SUCCESS, "init");
  /* compact: every row is added as its 16-bit code; the candidate pass must still give exactly
   * the full scan's results (of those rows) */
  if (compact) CHECK(clipdb_index_compact(ix) == CLIPDB_STATUS_SUCCESS && clipdb_index_is_compact(ix), "compact");
  float *vecs = malloc(sizeof(float) * (size_t)dim * (size_t)n);
  uint32_t *keys = malloc(sizeof(uint32_t) * (size_t)n);
  /* 40 cluster centres; each row a centre plus noise of 1e-3 to 1e-6 (near-ties within the
   * int8 copy's error), some rows exact copies of others. */
  float *centres = malloc(sizeof(float) * (size_t)dim * 40);
  for (int i = 0; i < 40 * dim; i++) centres[i] = rndf();
  for (int i = 0; i < n; i++) {
    keys[i] = (uint32_t)i * 2654435761u + 7u;
    const float *c = centres + (rnd() % 40) * (size_t)dim;
    float noise = (rnd() % 2) ? 1e-3f : (rnd() % 2) ? 1e-5f : 1e-6f;
    for (int d = 0; d < dim; d++) vecs[(size_t)i * dim + d] = c[d] + noise * rndf();
    if (i >= 2 && rnd() % 7 == 0) memcpy(vecs + (size_t)i * dim, vecs + (rnd() % i) * (size_t)dim, sizeof(float) * dim);
  }
  CHECK(clipdb_index_add(ix, keys, vecs, (size_t)n) == CLIPDB_STATUS_SUCCESS, "add");
  float *queries = malloc(sizeof(float) * (size_t)dim * 6);
  for (int i = 0; i < 2 * dim; i++) queries[i] = rndf();                 /* random */
  memcpy(queries + 2 * dim, vecs + 17 * (size_t)dim, sizeof(float) * dim); /* a stored row */
  memcpy(queries + 3 * dim, centres, sizeof(float) * dim);                /* a cluster centre */
  for (int d = 0; d < dim; d++) queries[4 * dim + d] = centres[dim + d] + 1e-4f * rndf();
  for (int d = 0; d < dim; d++) queries[5 * dim + d] = -centres[2 * dim + d];
  size_t ks[] = {1, 10, 100, 1024, 1025};
  for (int t = 0; t < 5; t++) compare_prefilter(ix, dim, queries, 6, ks[t], NULL, 0, "all");
  /* candidate sets: half the keys (candidate pass), and a tenth (float32 rows only) */
  uint32_t *cand = malloc(sizeof(uint32_t) * (size_t)n);
  size_t nc = 0;
  for (int i = 0; i < n; i++) if (i % 2) cand[nc++] = keys[i];
  compare_prefilter(ix, dim, queries, 6, 10, cand, nc, "half");
  compare_prefilter(ix, dim, queries, 6, 10, cand, nc / 5, "a tenth");
  /* removals move the last row (and its int8 copy) into the hole; upserts re-quantise */
  for (int i = 0; i < n; i += 3) CHECK(clipdb_index_remove(ix, keys[i]) == CLIPDB_STATUS_SUCCESS, "remove");
  for (int i = 1; i < n; i += 11) CHECK(clipdb_index_add(ix, keys + i, vecs + (size_t)((i * 7) % n) * dim, 1) == CLIPDB_STATUS_SUCCESS, "upsert");
  if (clipdb_index_count(ix) >= 4096) for (int t = 0; t < 4; t++) compare_prefilter(ix, dim, queries, 6, ks[t], NULL, 0, "after remove/upsert");
  /* and against the brute-force reference, once */
  if (!compact) compare_prefilter(ix, dim, queries, 2, 20, NULL, 0, "final");
  clipdb_index_free(ix);
  free(vecs); free(keys); free(centres); free(queries); free(cand);
}

/*
 * Compact rows against float32 rows of the same data: an index compacted when empty and one
 * compacted after its adds hold the same bits; each row is within s/512 (+ rounding) per
 * element of the float32 row (s = max|v|/127); each returned key's float32 score is within
 * 2 eps of the float32 k-th score (eps: the largest ||v - v^||), and scores within eps of the
 * float32 score of the same key; removals and upserts keep the candidate pass exact.
 */
static void test_compact(int dim, int n) {
  clipdb_index_t *f = NULL, *c1 = NULL, *c2 = NULL;
  CHECK(clipdb_index_init(dim, &f) == CLIPDB_STATUS_SUCCESS && clipdb_index_init(dim, &c1) == CLIPDB_STATUS_SUCCESS &&
        clipdb_index_init(dim, &c2) == CLIPDB_STATUS_SUCCESS, "init");
  CHECK(clipdb_index_compact(NULL) == CLIPDB_STATUS_INVALID_ARGUMENT && !clipdb_index_is_compact(NULL), "compact NULL");
  CHECK(clipdb_index_compact(c1) == CLIPDB_STATUS_SUCCESS && clipdb_index_compact(c1) == CLIPDB_STATUS_SUCCESS, "compact twice");
  float *vecs = malloc(sizeof(float) * (size_t)dim * (size_t)n);
  uint32_t *keys = malloc(sizeof(uint32_t) * (size_t)n);
  float *centres = malloc(sizeof(float) * (size_t)dim * 20);
  for (int i = 0; i < 20 * dim; i++) centres[i] = rndf();
  for (int i = 0; i < n; i++) {
    keys[i] = (uint32_t)i * 40503u + 3u;
    const float *cc = centres + (rnd() % 20) * (size_t)dim;
    for (int d = 0; d < dim; d++) vecs[(size_t)i * dim + d] = cc[d] + 0.3f * rndf();
  }
  CHECK(clipdb_index_add(f, keys, vecs, (size_t)n) == CLIPDB_STATUS_SUCCESS, "add f");
  CHECK(clipdb_index_add(c1, keys, vecs, (size_t)n) == CLIPDB_STATUS_SUCCESS, "add c1");
  CHECK(clipdb_index_add(c2, keys, vecs, (size_t)n) == CLIPDB_STATUS_SUCCESS, "add c2");
  size_t before = clipdb_allocated_bytes();
  CHECK(clipdb_index_compact(c2) == CLIPDB_STATUS_SUCCESS && clipdb_index_is_compact(c2), "compact c2");
  CHECK(clipdb_allocated_bytes() < before && before - clipdb_allocated_bytes() >= (size_t)n * dim * 3,
        "compaction frees float32 rows: %zu -> %zu bytes", before, clipdb_allocated_bytes());
  float *a = malloc(sizeof(float) * dim), *b = malloc(sizeof(float) * dim), *g = malloc(sizeof(float) * dim);
  double eps = 0.0;
  for (int i = 0; i < n; i++) {
    CHECK(clipdb_index_get(f, keys[i], a) == 0 && clipdb_index_get(c1, keys[i], b) == 0 && clipdb_index_get(c2, keys[i], g) == 0, "get");
    CHECK(memcmp(b, g, sizeof(float) * dim) == 0, "dim %d row %d: compacted before and after adding differ", dim, i);
    float m = 0.0f;
    for (int d = 0; d < dim; d++) m = fmaxf(m, fabsf(a[d]));
    double e2 = 0.0, worst = 0.0;
    for (int d = 0; d < dim; d++) {
      double e = fabs((double)a[d] - (double)b[d]);
      e2 += e * e;
      if (e > worst) worst = e;
    }
    CHECK(worst <= m / 127.0 / 512.0 * 1.0001 + 1e-7 * m, "dim %d row %d: |v - v^| %.3g above s/512 = %.3g", dim, i, worst, m / 127.0 / 512.0);
    if (sqrt(e2) > eps) eps = sqrt(e2);
  }
  eps += 1e-6; /* float32 rounding of the scores */
  const size_t k = 10;
  float *queries = malloc(sizeof(float) * (size_t)dim * 4);
  for (int i = 0; i < dim; i++) queries[i] = rndf();
  memcpy(queries + dim, vecs + 5 * (size_t)dim, sizeof(float) * dim);
  memcpy(queries + 2 * dim, centres, sizeof(float) * dim);
  for (int i = 0; i < dim; i++) queries[3 * dim + i] = centres[dim + i] + 0.1f * rndf();
  uint32_t kf[4 * 10], k1[4 * 10], k2[4 * 10];
  float sf[4 * 10], s1[4 * 10], s2[4 * 10];
  size_t cf[4], cc1[4], cc2[4];
  CHECK(clipdb_index_search(f, queries, 4, k, NULL, 0, kf, sf, cf) == 0 && clipdb_index_search(c1, queries, 4, k, NULL, 0, k1, s1, cc1) == 0 &&
        clipdb_index_search(c2, queries, 4, k, NULL, 0, k2, s2, cc2) == 0, "search");
  CHECK(memcmp(k1, k2, sizeof k1) == 0 && memcmp(s1, s2, sizeof s1) == 0, "dim %d: the two compact indexes answer differently", dim);
  for (int q = 0; q < 4; q++) {
    CHECK(cf[q] == k && cc1[q] == k, "counts");
    for (size_t r = 0; r < k; r++) {
      /* this key's float32 score, from the float32 row */
      float row[1024], sc = 0.0f;
      CHECK(clipdb_index_get(f, k1[q * k + r], row) == 0, "get f");
      double qq = 0.0, dd = 0.0;
      for (int d = 0; d < dim; d++) qq += (double)queries[q * dim + d] * queries[q * dim + d];
      for (int d = 0; d < dim; d++) dd += (double)queries[q * dim + d] / sqrt(qq) * row[d];
      sc = (float)dd;
      CHECK(fabs(sc - s1[q * k + r]) <= eps, "dim %d query %d rank %zu: compact score %.9g vs float32 %.9g (eps %.3g)", dim, q, r, s1[q * k + r], sc, eps);
      CHECK(sc >= sf[q * k + k - 1] - 2 * eps, "dim %d query %d rank %zu: key %u (float32 score %.9g) is not within 2 eps of the float32 top %zu (%.9g)",
            dim, q, r, (unsigned)k1[q * k + r], sc, k, sf[q * k + k - 1]);
    }
  }
  /* stored planes: encoded once, added to a fresh compact index: the same rows and answers */
  {
    const size_t bytes = (size_t)n * (4 + 2 * (size_t)dim);
    uint8_t *planes = malloc(bytes);
    CHECK(clipdb_index_compact_version() == 1, "version");
    CHECK(clipdb_index_compact_encode(dim, vecs, (size_t)n, planes) == CLIPDB_STATUS_SUCCESS, "encode");
    clipdb_index_t *c3 = NULL;
    CHECK(clipdb_index_init(dim, &c3) == CLIPDB_STATUS_SUCCESS, "init c3");
    CHECK(clipdb_index_add_compact(c3, keys, planes, (size_t)n) == CLIPDB_STATUS_INVALID_ARGUMENT, "add_compact to a float32 index");
    CHECK(clipdb_index_compact(c3) == CLIPDB_STATUS_SUCCESS, "compact c3");
    uint8_t saved[8];
    memcpy(saved, planes, 4);
    float nan = NAN;
    memcpy(planes, &nan, 4); /* row 0's scale */
    CHECK(clipdb_index_add_compact(c3, keys, planes, (size_t)n) == CLIPDB_STATUS_BAD_VECTOR && clipdb_index_count(c3) == 0, "NaN scale");
    memcpy(planes, saved, 4);
    int8_t *codes = (int8_t *)(planes + (size_t)n * 4);
    int8_t old = codes[(size_t)(n - 1) * dim];
    codes[(size_t)(n - 1) * dim] = -128;
    CHECK(clipdb_index_add_compact(c3, keys, planes, (size_t)n) == CLIPDB_STATUS_BAD_VECTOR && clipdb_index_count(c3) == 0, "code -128");
    codes[(size_t)(n - 1) * dim] = old;
    CHECK(clipdb_index_add_compact(c3, keys, planes, (size_t)n) == CLIPDB_STATUS_SUCCESS && clipdb_index_count(c3) == (size_t)n, "add_compact");
    for (int i = 0; i < n; i += 13) {
      CHECK(clipdb_index_get(c1, keys[i], b) == 0 && clipdb_index_get(c3, keys[i], g) == 0 && memcmp(b, g, sizeof(float) * dim) == 0,
            "dim %d row %d: added from planes differs from added as float32", dim, i);
    }
    uint32_t k3[4 * 10];
    float s3[4 * 10];
    size_t cc3[4];
    CHECK(clipdb_index_search(c3, queries, 4, k, NULL, 0, k3, s3, cc3) == 0 && memcmp(k3, k1, sizeof k1) == 0 && memcmp(s3, s1, sizeof s1) == 0,
          "dim %d: the index added from planes answers differently", dim);
    clipdb_index_free(c3);
    free(planes);
  }
  /* removals move the last row's two code planes; upserts re-split; still exact */
  for (int i = 0; i < n; i += 4) CHECK(clipdb_index_remove(c2, keys[i]) == CLIPDB_STATUS_SUCCESS, "remove");
  for (int i = 1; i < n; i += 9) CHECK(clipdb_index_add(c2, keys + i, vecs + (size_t)((i * 5) % n) * dim, 1) == CLIPDB_STATUS_SUCCESS, "upsert");
  size_t ks[] = {1, 10, 1025};
  for (int t = 0; t < 3; t++) compare_prefilter(c2, dim, queries, 4, ks[t], NULL, 0, "compact after remove/upsert");
  clipdb_index_free(f); clipdb_index_free(c1); clipdb_index_free(c2);
  free(vecs); free(keys); free(centres); free(queries); free(a); free(b); free(g);
}

/* qs8-dot scalar kernel against a plain loop, odd sizes and strides, extreme values. */
static void test_qs8_kernel(void) {
  int16_t q[130];
  int8_t m[3 * 140];
  int32_t out[3];
  for (size_t dim = 1; dim <= 130; dim++) {
    for (size_t i = 0; i < dim; i++) q[i] = (int16_t)((int)(rnd() % 65535) - 32767);
    for (size_t i = 0; i < 3 * 140; i++) m[i] = (int8_t)((int)(rnd() % 255) - 127);
    if (dim == 130) { for (size_t i = 0; i < dim; i++) { q[i] = 16383; m[i] = -127; } }
    clipdb_qs8_dot_ukernel__scalar(3, dim, q, m, 140, out);
    for (int r = 0; r < 3; r++) {
      long long ref = 0;
      for (size_t i = 0; i < dim; i++) ref += (long long)q[i] * m[r * 140 + i];
      CHECK(out[r] == ref, "qs8 dot dim %zu row %d: %d vs %lld", dim, r, out[r], ref);
    }
  }
}

int main(void) {
  size_t base = clipdb_allocated_bytes();
  test_reserve();
  printf("kernel: %s\n", clipdb_index_kernel_name());
  test_kernel();
  test_errors();
  test_ties();
  int dims[] = {1, 3, 7, 16, 17, 33, 64, 100, 512};
  int ns[] = {0, 1, 5, 300, 1000};
  for (int d = 0; d < 9; d++)
    for (int j = 0; j < 5; j++) test_random(dims[d], ns[j], 1);
  test_qs8_kernel();
  test_prefilter(3, 5000, 0);
  test_prefilter(17, 4200, 0);
  test_prefilter(64, 6000, 0);
  test_prefilter(512, 9000, 0);
  test_prefilter(1024, 4500, 0);
  test_prefilter(3, 5000, 1);
  test_prefilter(64, 6000, 1);
  test_prefilter(512, 9000, 1);
  test_compact(7, 300);
  test_compact(512, 5000);
  test_compact(1024, 4200);
  CHECK(clipdb_allocated_bytes() == base, "leak: %zu bytes still allocated",
        clipdb_allocated_bytes() - base);
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("test-index: ok\n");
  return 0;
}
