/*
 * 3×3 convolutions (src/nn/ops.c): the Winograd F(2×2, 3×3) path and the im2col path against
 * a direct convolution in double precision, on NHWC maps of odd and even sizes, channel counts
 * that are not multiples of the transforms' 16-channel chunks, every epilogue the GEMM boundary
 * has (residual, ReLU, QuickGELU), BatchNorm folded; and maps large enough to take many
 * chunks (small weights: a chunk per thread at a time) and several blocks (larger weights).
 * Each output must lie within
 *     TOL · u · (Σ|w'·x| + |b'| + |y_old|),  u = 2⁻²⁴,
 * of the reference, where the sum runs over the output's 3×3×c_in window. The worst-case
 * bound of a recursive sum, γ(9·c_in + 2), grows with c_in; random operands stay near √K
 * roundings, and both paths measure at most ~4 here (printed per shape), so TOL = 32: a wrong
 * transform coefficient, tile offset or bias placement is off by millions of u. Also: the
 * same output, bit for bit, with a 2-thread pool splitting every GEMM and transform; and the
 * shapes that must not take Winograd (stride 2, int8 weights, the global switch off).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/threads.h"

static uint32_t rng = 12345u;
static float frand(void) { /* uniform in [-1, 1) */
  rng = rng * 1103515245u + 12345u;
  return (float)((double)(rng >> 8) / 8388608.0 - 1.0);
}

static double act(double v, clipdb_act a) {
  if (a == CLIPDB_ACT_RELU) v = v > 0 ? v : 0;
  if (a == CLIPDB_ACT_QUICK_GELU) v = v / (1.0 + exp(-1.702 * v));
  return v;
}

enum { NO_RESIDUAL, IN_PLACE, SEPARATE }; /* the residual: none, y's old contents, another buffer */

typedef struct shape {
  size_t h, w, ci, co;
  int residual;
  clipdb_act act;
} shape;

/* The shape's epilogue for output y (rows of co): the residual y itself or `old`. */
static clipdb_epilogue epilogue_for(const shape *s, float *y, const float *old) {
  if (s->residual == NO_RESIDUAL) return clipdb_epilogue_act(s->act);
  return clipdb_epilogue_residual(s->residual == IN_PLACE ? y : old, s->co, s->act);
}

/* Runs one convolution both ways (and Winograd on 2 threads); returns the worst error seen as
 * a multiple of u·(Σ|w'·x| + |b'| + |y_old|). */
static double check_shape(const shape *s, void *pool) {
  const size_t h = s->h, w = s->w, ci = s->ci, co = s->co, K = 9 * ci;
  float *wt = malloc(sizeof(float) * co * K), *x = malloc(sizeof(float) * h * w * ci);
  float *bias = malloc(sizeof(float) * co), *old = malloc(sizeof(float) * h * w * co);
  float *g = malloc(sizeof(float) * co), *be = malloc(sizeof(float) * co);
  float *mu = malloc(sizeof(float) * co), *var = malloc(sizeof(float) * co);
  float *y_w = malloc(sizeof(float) * h * w * co), *y_i = malloc(sizeof(float) * h * w * co);
  float *y_t = malloc(sizeof(float) * h * w * co);
  for (size_t i = 0; i < co * K; i++) wt[i] = frand() * 0.3f;
  for (size_t i = 0; i < h * w * ci; i++) x[i] = frand() * 2.0f;
  for (size_t i = 0; i < h * w * co; i++) old[i] = frand();
  for (size_t o = 0; o < co; o++) {
    bias[o] = frand() * 0.1f;
    g[o] = 1.0f + 0.5f * frand(), be[o] = 0.2f * frand(), mu[o] = 0.1f * frand();
    var[o] = 0.5f + 0.4f * frand();
  }
  clipdb__batchnorm bn = {g, be, mu, var, 1e-5f};
  clipdb__conv2d cw, cm;
  char err[256];
  CHECK(clipdb__conv2d_init_ex(&cw, CLIPDB__WEIGHTS_F32, ci, co, 3, 1, 1, wt, bias, &bn, 1, "w", err) ==
            CLIPDB_STATUS_SUCCESS, "init (Winograd): %s", err);
  CHECK(clipdb__conv2d_init_ex(&cm, CLIPDB__WEIGHTS_F32, ci, co, 3, 1, 1, wt, bias, &bn, 0, "i", err) ==
            CLIPDB_STATUS_SUCCESS, "init (im2col): %s", err);
  CHECK(cw.winograd != NULL && cm.winograd == NULL, "%zux%zu %zu->%zu: Winograd chosen %d / %d", h,
        w, ci, co, cw.winograd != NULL, cm.winograd != NULL);
  /* scratch as an embed call sizes it: with the pool current (Winograd's chunked layers take
   * one chunk per thread) */
  size_t sf = clipdb__conv2d_scratch_floats(&cw, h, w), si = clipdb__conv2d_scratch_floats(&cm, h, w);
  void *was = clipdb__threadpool_swap(pool);
  const size_t st = clipdb__conv2d_scratch_floats(&cw, h, w);
  clipdb__threadpool_swap(was);
  float *scratch1 = malloc(sizeof(float) * ((sf > si ? sf : si) + 1));
  float *scratch2 = malloc(sizeof(float) * (st + 1));
  const int residual = s->residual != NO_RESIDUAL;
  /* in place: y starts as the residual; otherwise y starts as NaN, which must not be read */
  for (size_t i = 0; i < h * w * co; i++) y_w[i] = s->residual == IN_PLACE ? old[i] : NAN;
  memcpy(y_i, y_w, sizeof(float) * h * w * co);
  memcpy(y_t, y_w, sizeof(float) * h * w * co);
  clipdb__conv2d_run(&cw, h, w, x, y_w, scratch1, epilogue_for(s, y_w, old));
  clipdb__conv2d_run(&cm, h, w, x, y_i, scratch1, epilogue_for(s, y_i, old));
  void *prev = clipdb__threadpool_swap(pool);
  clipdb__conv2d_run(&cw, h, w, x, y_t, scratch2, epilogue_for(s, y_t, old));
  clipdb__threadpool_swap(prev);
  CHECK(memcmp(y_w, y_t, sizeof(float) * h * w * co) == 0,
        "%zux%zu %zu->%zu residual %d act %d: Winograd differs on 2 threads", h, w, ci, co,
        s->residual, (int)s->act);
  double worst_w = 0, worst_i = 0;
  const double u = ldexp(1.0, -24), tol = 32.0;
  for (size_t oy = 0; oy < h; oy++)
    for (size_t ox = 0; ox < w; ox++)
      for (size_t o = 0; o < co; o++) {
        const double scale = g[o] / sqrt((double)var[o] + 1e-5);
        const double b = bias[o] * scale + be[o] - mu[o] * scale;
        double sum = b, mag = fabs(b);
        for (size_t ky = 0; ky < 3; ky++)
          for (size_t kx = 0; kx < 3; kx++) {
            const ptrdiff_t iy = (ptrdiff_t)(oy + ky) - 1, ix = (ptrdiff_t)(ox + kx) - 1;
            if (iy < 0 || ix < 0 || iy >= (ptrdiff_t)h || ix >= (ptrdiff_t)w) continue;
            const float *xp = x + ((size_t)iy * w + (size_t)ix) * ci;
            for (size_t i = 0; i < ci; i++) {
              const double p = (double)wt[((o * ci + i) * 3 + ky) * 3 + kx] * scale * xp[i]; /* OIHW */
              sum += p;
              mag += fabs(p);
            }
          }
        const size_t at = (oy * w + ox) * co + o;
        if (residual) sum += old[at], mag += fabs(old[at]);
        const double ref = act(sum, s->act);
        /* QuickGELU's slope is at most ~1.1; its float evaluation adds a relative 1e-6 */
        const int gelu = s->act == CLIPDB_ACT_QUICK_GELU;
        const double bound = u * mag * (gelu ? 1.1 : 1.0), slack = gelu ? 1e-6 * fabs(ref) : 0.0;
        /* (a NaN, a y element read before it was written, fails through the !(<=) below) */
        const double ew = fmax(fabs(y_w[at] - ref) - slack, 0) / bound;
        const double ei = fmax(fabs(y_i[at] - ref) - slack, 0) / bound;
        CHECK(y_w[at] == y_w[at] && y_i[at] == y_i[at], "%zux%zu %zu->%zu residual %d: NaN at %zu",
              h, w, ci, co, s->residual, at);
        if (ew > worst_w) worst_w = ew;
        if (ei > worst_i) worst_i = ei;
      }
  CHECK(worst_w <= tol, "%zux%zu %zu->%zu residual %d act %d: Winograd off by %.1f u (bound %.0f)",
        h, w, ci, co, s->residual, (int)s->act, worst_w, tol);
  CHECK(worst_i <= tol, "%zux%zu %zu->%zu residual %d act %d: im2col off by %.1f u (bound %.0f)",
        h, w, ci, co, s->residual, (int)s->act, worst_i, tol);
  printf("%3zux%-3zu %3zu->%-3zu residual %d act %d: worst error %.2f u·Σ|terms| (Winograd), "
         "%.2f (im2col), bound %.0f\n", h, w, ci, co, s->residual, (int)s->act, worst_w, worst_i, tol);
  clipdb__conv2d_free(&cw);
  clipdb__conv2d_free(&cm);
  free(wt), free(x), free(bias), free(old), free(g), free(be), free(mu), free(var);
  free(y_w), free(y_i), free(y_t), free(scratch1), free(scratch2);
  return worst_w;
}

int main(void) {
  const shape shapes[] = {
      {1, 1, 1, 1, NO_RESIDUAL, CLIPDB_ACT_NONE},
      {2, 3, 3, 5, NO_RESIDUAL, CLIPDB_ACT_RELU},
      {5, 7, 17, 9, IN_PLACE, CLIPDB_ACT_RELU},
      {7, 5, 17, 9, SEPARATE, CLIPDB_ACT_RELU},
      {8, 8, 16, 32, NO_RESIDUAL, CLIPDB_ACT_QUICK_GELU},
      {9, 6, 33, 40, IN_PLACE, CLIPDB_ACT_NONE},
      {13, 11, 64, 24, NO_RESIDUAL, CLIPDB_ACT_RELU},
      {14, 14, 96, 80, NO_RESIDUAL, CLIPDB_ACT_RELU},
      /* 1,225 tiles of 64 + 64 channels: many chunks (weights of 256 KiB: the chunked path) */
      {70, 70, 64, 64, NO_RESIDUAL, CLIPDB_ACT_RELU},
      /* 96 + 96 channels: weights of 576 KiB, still chunked */
      {30, 26, 96, 96, IN_PLACE, CLIPDB_ACT_RELU},
      {26, 30, 96, 96, SEPARATE, CLIPDB_ACT_NONE},
      /* 625 tiles of 128 + 136 channels: weights over 1 MiB (the blocked path), two blocks */
      {50, 50, 128, 136, NO_RESIDUAL, CLIPDB_ACT_RELU},
      {50, 50, 128, 136, SEPARATE, CLIPDB_ACT_RELU},
  };
  size_t saved = clipdb__parallel_min_macs;
  clipdb__parallel_min_macs = 0; /* the pool splits every GEMM and transform it can */
  void *pool = clipdb__threadpool_create(2);
  if (pool == NULL) printf("no thread pool in this build: the 2-thread runs use one thread\n");
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i], pool);
  clipdb__threadpool_destroy(pool);
  clipdb__parallel_min_macs = saved;

  /* shapes and weights that keep the im2col path */
  float wt[2 * 3 * 9] = {0};
  clipdb__conv2d c;
  char err[256];
  CHECK(clipdb__conv2d_init_ex(&c, CLIPDB__WEIGHTS_F32, 3, 2, 3, 2, 1, wt, NULL, NULL, 1, "s2", err) ==
                CLIPDB_STATUS_SUCCESS && c.winograd == NULL && c.gemm.packed != NULL,
        "a stride-2 convolution must take im2col");
  clipdb__conv2d_free(&c);
  CHECK(clipdb__conv2d_init_ex(&c, CLIPDB__WEIGHTS_QS8, 3, 2, 3, 1, 1, wt, NULL, NULL, 1, "q8", err) ==
                CLIPDB_STATUS_SUCCESS && c.winograd == NULL && c.gemm.q8 != NULL,
        "an int8 convolution must take im2col");
  clipdb__conv2d_free(&c);
  clipdb__conv2d_winograd = 0;
  CHECK(clipdb__conv2d_init_ex(&c, CLIPDB__WEIGHTS_F32, 3, 2, 3, 1, 1, wt, NULL, NULL, 1, "off", err) ==
                CLIPDB_STATUS_SUCCESS && c.winograd == NULL,
        "clipdb__conv2d_winograd = 0 must keep im2col");
  clipdb__conv2d_free(&c);
  clipdb__conv2d_winograd = 1;
  return failures != 0;
}
