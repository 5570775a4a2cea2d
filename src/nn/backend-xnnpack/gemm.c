/*
 * Backend "xnnpack" (src/nn/backend.h): the GEMM boundary (src/nn/gemm.h) on XNNPACK's fully
 * connected operator (xnn_create_fully_connected_nc_f32; Debian libxnnpack-dev, XNNPACK
 * ae108ef).
 *
 * XNNPACK's phases kept apart, so nothing is packed per call: the operator is created (and
 * XNNPACK packs W + bias into its own panels) once, in clipdb__gemm_pack at model load; each
 * run only sets up the batch size and pointers (xnn_setup_fully_connected_nc_f32) and runs it.
 * Our packed weights are a small handle (below); XNNPACK owns the packed copy, and
 * clipdb__gemm_free deletes the operator.
 *
 * What the operator lacks is done here, on the output rows: the residual add (the operator
 * writes into a scratch block that is then added to C), QuickGELU, and row strides other
 * than the ones the operator was created with (A is compacted, C copied out). ReLU is applied
 * here too, since one operator serves every call whatever its epilogue.
 *
 * An operator is not reentrant (setup writes into it), so each handle carries a mutex: two
 * sessions may share a model across threads. Runs use the model's thread pool when it has one
 * (n_threads > 1, src/nn/threads.h), else the calling thread; XNNPACK picks its own
 * microkernels for the CPU (cpuinfo).
 */
#include "../backend.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <xnnpack.h>

#include "../../clipdb-impl.h"
#include "../threads.h"

typedef struct handle {
  clipdb__gemm_weights head; /* backend.h */
  xnn_operator_t op;
  size_t n, k;
  float *scratch; /* grown on demand (clipdb__malloc), freed with the handle */
  size_t scratch_floats;
  pthread_mutex_t lock;
} handle;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum xnn_status init_status = xnn_status_uninitialized;
static void init_xnnpack(void) { init_status = xnn_initialize(NULL); }

static clipdb__gemm_weights *xnnpack_pack(size_t n, size_t k, const float *w, size_t stride_n,
                                          size_t stride_k, const float *bias) {
  pthread_once(&init_once, init_xnnpack);
  if (init_status != xnn_status_success) {
    clipdb__log(CLIPDB_LOG_LEVEL_ERROR, "xnn_initialize failed (status %d)", (int)init_status);
    return NULL;
  }
  handle *h = clipdb__malloc(sizeof *h);
  if (h == NULL) return NULL;
  memset(h, 0, sizeof *h);
  /* XNNPACK reads W as [n][k] (output channels, then input channels): make that copy when
   * the caller's strides differ (CLIP's x @ P projections). */
  const float *wk = w;
  float *copy = NULL;
  if (stride_n != k || stride_k != 1) {
    copy = clipdb__malloc(n * k * sizeof(float));
    if (copy == NULL) {
      clipdb__free(h);
      return NULL;
    }
    for (size_t j = 0; j < n; j++)
      for (size_t p = 0; p < k; p++) copy[j * k + p] = w[j * stride_n + p * stride_k];
    wk = copy;
  }
  enum xnn_status s = xnn_create_fully_connected_nc_f32(k, n, k, n, wk, bias, -INFINITY, INFINITY,
                                                        0, &h->op);
  clipdb__free(copy);
  if (s != xnn_status_success) {
    clipdb__log(CLIPDB_LOG_LEVEL_ERROR, "xnn_create_fully_connected_nc_f32(%zu x %zu) failed (status %d)",
                n, k, (int)s);
    clipdb__free(h);
    return NULL;
  }
  h->n = n;
  h->k = k;
  pthread_mutex_init(&h->lock, NULL);
  return &h->head;
}

static void xnnpack_free(clipdb__gemm_weights *w) {
  handle *h = (handle *)w;
  xnn_delete_operator(h->op);
  clipdb__free(h->scratch);
  pthread_mutex_destroy(&h->lock);
  clipdb__free(h);
}

static size_t xnnpack_weights_bytes(const clipdb__gemm_weights *w) {
  /* XNNPACK's packed copy is not ours to measure: at least the float32 W and bias */
  const handle *h = (const handle *)w;
  return (h->n * h->k + h->n) * sizeof(float);
}

/* exp(t) for t <= 0, branch-free so gcc vectorises the epilogue loop: 2^n · p(r) with
 * n = round(t / ln 2), r = t − n·ln 2 (two-constant split), p a degree-6 Taylor polynomial. */
static inline float exp_nonpositive(float t) {
  t += (float)(t < -87.0f) * (-87.0f - t); /* max(t, -87), branch-free; t unchanged above */
  /* round to nearest by adding and subtracting 1.5·2^23 (exact for |x| < 2^22; no libm call,
   * so the loop vectorises) */
  const float n = (t * 1.44269504f + 12582912.0f) - 12582912.0f;
  const float r = (t - n * 0.693145752f) - n * 1.42860677e-6f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* c = act(y + r) for one row (r: the epilogue's residual row or NULL; it may be c itself). */
static void epilogue_row(float *c, const float *y, const float *r, size_t n, clipdb_act act) {
  if (r != NULL)
    for (size_t j = 0; j < n; j++) c[j] = r[j] + y[j];
  else if (c != y)
    memcpy(c, y, n * sizeof(float));
  if (act == CLIPDB_ACT_RELU)
    for (size_t j = 0; j < n; j++) c[j] = c[j] > 0.0f ? c[j] : 0.0f;
  if (act == CLIPDB_ACT_QUICK_GELU)
    for (size_t j = 0; j < n; j++) {
      /* sigmoid(z) = 1/(1+e) for z >= 0, e/(1+e) for z < 0, with e = exp(-|z|); written with
       * fabsf and a multiply by 0/1 instead of branches so gcc vectorises it */
      const float v = c[j], z = 1.702f * v;
      const float e = exp_nonpositive(-fabsf(z));
      const float neg = (float)(z < 0.0f);
      c[j] = v * ((1.0f + neg * (e - 1.0f)) / (1.0f + e));
    }
}

static void xnnpack_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                        const clipdb__gemm_weights *w, float *c, size_t ldc, clipdb_epilogue ep) {
  /* our handle: its scratch and lock are mutable state behind the const API */
  handle *h = (handle *)w;
  pthread_mutex_lock(&h->lock);
  const int compact_a = lda != k;
  const int direct = ep.residual == NULL && ldc == n;
  const size_t need = (compact_a ? m * k : 0) + (direct ? 0 : m * n);
  if (need > h->scratch_floats) {
    float *grown = clipdb__malloc(need * sizeof(float));
    if (grown == NULL) { /* cannot fail silently mid-encoder: the ops layer has no status */
      clipdb__log(CLIPDB_LOG_LEVEL_ERROR, "xnnpack gemm: out of memory for %zu scratch floats", need);
      pthread_mutex_unlock(&h->lock);
      for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) c[i * ldc + j] = NAN;
      return;
    }
    clipdb__free(h->scratch);
    h->scratch = grown;
    h->scratch_floats = need;
  }
  const float *in = a;
  if (compact_a) {
    for (size_t i = 0; i < m; i++) memcpy(h->scratch + i * k, a + i * lda, k * sizeof(float));
    in = h->scratch;
  }
  float *out = direct ? c : h->scratch + (compact_a ? m * k : 0);
  pthreadpool_t pool = (pthreadpool_t)clipdb__threadpool_current(); /* NULL: this thread */
  enum xnn_status s = xnn_setup_fully_connected_nc_f32(h->op, m, in, out, pool);
  if (s == xnn_status_success) s = xnn_run_operator(h->op, pool);
  if (s != xnn_status_success) {
    clipdb__log(CLIPDB_LOG_LEVEL_ERROR, "xnnpack fully connected run failed (status %d)", (int)s);
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) c[i * ldc + j] = NAN;
  } else if (direct) {
    if (ep.act != CLIPDB_ACT_NONE)
      for (size_t i = 0; i < m; i++) epilogue_row(c + i * ldc, c + i * ldc, NULL, n, ep.act);
  } else {
    for (size_t i = 0; i < m; i++)
      epilogue_row(c + i * ldc, out + i * n, clipdb_epilogue_at(ep, i, 0).residual, n, ep.act);
  }
  pthread_mutex_unlock(&h->lock);
}

const clipdb__backend clipdb__backend_xnnpack = {"xnnpack", xnnpack_pack, xnnpack_free,
                                                 xnnpack_weights_bytes, xnnpack_run};
