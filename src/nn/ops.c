/* Portable ops (src/nn/ops.h). Matrix products go through the GEMM boundary (gemm.h). */
#include "ops.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../kernels/config.h"
#include "backend.h"
#include "threads.h"

/* Bytes of a stack buffer that int8 layers quantize one row of A into when the int8 copy of
 * all of A cannot be allocated; bounds the inputs of an int8 layer. */
#define QS8_FALLBACK_BYTES 16384

int clipdb__conv2d_float_im2col = 0;

clipdb_status clipdb__linear_init_dtype(clipdb__linear *l, clipdb__weight_dtype dtype, size_t n_out,
                                        size_t n_in, const float *w, size_t stride_n,
                                        size_t stride_k, const float *bias, const char *what,
                                        char *errbuf) {
  if (dtype == CLIPDB__WEIGHTS_F32)
    return clipdb__linear_init(l, n_out, n_in, w, stride_n, stride_k, bias, what, errbuf);
  l->n_in = n_in;
  l->n_out = n_out;
  l->packed = NULL;
  l->q8 = NULL;
  if (clipdb__qs8_scratch_bytes(1, n_in) > QS8_FALLBACK_BYTES)
    return clipdb__error(errbuf, CLIPDB_STATUS_UNSUPPORTED,
                         "failed to load model: %s has %zu inputs; int8 layers take at most %d",
                         what, n_in, QS8_FALLBACK_BYTES - 128);
  l->q8 = clipdb__qs8_pack_f32(n_out, n_in, w, stride_n, stride_k, bias);
  if (l->q8 == NULL)
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to allocate int8 packed weights of %s (%zu x %zu)", what, n_out, n_in);
  return CLIPDB_STATUS_SUCCESS;
}

size_t clipdb__linear_bytes(const clipdb__linear *l) {
  if (l->q8 != NULL) return clipdb__qs8_bytes(l->q8);
  return clipdb__gemm_weights_bytes(l->packed);
}

clipdb_status clipdb__linear_init(clipdb__linear *l, size_t n_out, size_t n_in, const float *w,
                                  size_t stride_n, size_t stride_k, const float *bias,
                                  const char *what, char *errbuf) {
  l->n_in = n_in;
  l->n_out = n_out;
  l->q8 = NULL;
  l->packed = clipdb__gemm_pack(n_out, n_in, w, stride_n, stride_k, bias);
  if (l->packed == NULL)
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to pack the weights of %s (%zu x %zu) for the %s backend: out of "
                         "memory",
                         what, n_out, n_in, clipdb__backend_current()->name);
  return CLIPDB_STATUS_SUCCESS;
}

void clipdb__linear_free(clipdb__linear *l) {
  if (l == NULL) return;
  clipdb__gemm_free(l->packed);
  l->packed = NULL;
  clipdb__qs8_free(l->q8);
  l->q8 = NULL;
}

typedef struct qs8_job {
  const clipdb_qs8_gemm_kernel *kern;
  const clipdb__qs8_packed *w;
  const void *scratch;
  size_t m, n, slice, ldc;
  float *c;
  clipdb_epilogue ep;
} qs8_job;

static void qs8_slice(void *ctx, size_t t) {
  const qs8_job *j = ctx;
  const size_t n0 = t * j->slice, n1 = n0 + j->slice < j->n ? n0 + j->slice : j->n;
  clipdb__qs8_gemm_columns(j->kern, j->m, j->w, j->scratch, n0, n1, j->c, j->ldc, j->ep);
}

/* The int8 GEMM of an int8 layer over `scratch` already holding A's row scales and int8 rows
 * (clipdb__qs8_gemm_quantize_a's layout for m rows), split by columns over the model's thread
 * pool. */
static void qs8_run_quantized(const clipdb__linear *l, size_t m, const void *scratch, float *y,
                              size_t ldy, clipdb_epilogue ep) {
  const size_t k = l->n_in, n = l->n_out;
  const size_t threads = clipdb__threads_current();
  size_t slice = n;
  if (threads > 1 && m * n * k >= clipdb__parallel_min_macs) {
    slice = (clipdb__per_task(n, threads) + 7) / 8 * 8;
  }
  qs8_job job = {clipdb__kernels()->qs8_gemm, l->q8, scratch, m, n, slice, ldy, y, ep};
  if (slice < n) clipdb__parallel_for((n + slice - 1) / slice, qs8_slice, &job);
  else qs8_slice(&job, 0);
}

static void qs8_run(const clipdb__linear *l, size_t m, const float *x, size_t ldx, float *y,
                    size_t ldy, clipdb_epilogue ep) {
  const size_t k = l->n_in, n = l->n_out;
  /* The int8 copy of all of A (so every weight panel is read once); under memory pressure,
   * row blocks through a stack buffer instead (slower, same results). */
  void *scratch = clipdb__malloc(clipdb__qs8_scratch_bytes(m, k));
  if (scratch != NULL) {
    clipdb__qs8_gemm_quantize_a(m, k, x, ldx, scratch);
    qs8_run_quantized(l, m, scratch, y, ldy, ep);
    clipdb__free(scratch);
    return;
  }
  const clipdb_qs8_gemm_kernel *kern = clipdb__kernels()->qs8_gemm;
  _Alignas(64) uint8_t buf[QS8_FALLBACK_BYTES];
  for (size_t i = 0; i < m; i++) { /* one row fits: clipdb__linear_init_dtype checks n_in */
    clipdb__qs8_gemm_quantize_a(1, k, x + i * ldx, ldx, buf);
    clipdb__qs8_gemm_columns(kern, 1, l->q8, buf, 0, n, y + i * ldy, ldy,
                             clipdb_epilogue_at(ep, i, 0));
  }
}

void clipdb__linear_run(const clipdb__linear *l, size_t m, const float *x, size_t ldx, float *y,
                        size_t ldy, clipdb_epilogue ep) {
  if (l->q8 != NULL) {
    qs8_run(l, m, x, ldx, y, ldy, ep);
    return;
  }
  clipdb__gemm_run(m, l->n_out, l->n_in, x, ldx, l->packed, y, ldy, ep);
}

clipdb_status clipdb__conv2d_init(clipdb__conv2d *c, size_t c_in, size_t c_out, size_t kernel,
                                  size_t stride, size_t pad, const float *w, const float *bias,
                                  const clipdb__batchnorm *bn, const char *what, char *errbuf) {
  return clipdb__conv2d_init_dtype(c, CLIPDB__WEIGHTS_F32, c_in, c_out, kernel, stride, pad, w,
                                   bias, bn, what, errbuf);
}

clipdb_status clipdb__conv2d_init_dtype(clipdb__conv2d *c, clipdb__weight_dtype dtype, size_t c_in,
                                        size_t c_out, size_t kernel, size_t stride, size_t pad,
                                        const float *w, const float *bias,
                                        const clipdb__batchnorm *bn, const char *what,
                                        char *errbuf) {
  return clipdb__conv2d_init_ex(c, dtype, c_in, c_out, kernel, stride, pad, w, bias, bn, 0, what,
                                errbuf);
}

int clipdb__conv2d_winograd = 1;

/* Winograd F(2x2, 3x3) weights from the folded 3×3 weights wt [c_out][(ky·3 + kx)·c_in + i]:
 * U_xi = (G g Gᵀ)[a][b], xi = 4a + b, G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]
 * (computed in double, rounded once); the bias goes to U_5, whose product reaches each of
 * the four outputs of a tile with coefficient 1 (output transform below). */
static clipdb_status winograd_init(clipdb__conv2d *c, const float *wt, const float *b,
                                   const char *what, char *errbuf) {
  static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const size_t ci = c->c_in, co = c->c_out;
  float *u = clipdb__malloc(16 * co * ci * sizeof(float));
  c->winograd = clipdb__calloc(16, sizeof(clipdb__linear));
  if (u == NULL || c->winograd == NULL) {
    clipdb__free(u);
    clipdb__free(c->winograd);
    c->winograd = NULL;
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to allocate %zu bytes for the Winograd weights of %s",
                         16 * co * ci * sizeof(float), what);
  }
  for (size_t o = 0; o < co; o++)
    for (size_t i = 0; i < ci; i++) {
      double g[3][3], t[4][3];
      for (size_t ky = 0; ky < 3; ky++)
        for (size_t kx = 0; kx < 3; kx++) g[ky][kx] = wt[o * 9 * ci + (ky * 3 + kx) * ci + i];
      for (size_t a = 0; a < 4; a++)
        for (size_t kx = 0; kx < 3; kx++)
          t[a][kx] = G[a][0] * g[0][kx] + G[a][1] * g[1][kx] + G[a][2] * g[2][kx];
      for (size_t a = 0; a < 4; a++)
        for (size_t bb = 0; bb < 4; bb++)
          u[((a * 4 + bb) * co + o) * ci + i] =
              (float)(t[a][0] * G[bb][0] + t[a][1] * G[bb][1] + t[a][2] * G[bb][2]);
    }
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  for (size_t xi = 0; xi < 16 && status == CLIPDB_STATUS_SUCCESS; xi++)
    status = clipdb__linear_init(&c->winograd[xi], co, ci, u + xi * co * ci, ci, 1,
                                 xi == 5 ? b : NULL, what, errbuf);
  clipdb__free(u);
  if (status != CLIPDB_STATUS_SUCCESS) {
    for (size_t xi = 0; xi < 16; xi++) clipdb__linear_free(&c->winograd[xi]);
    clipdb__free(c->winograd);
    c->winograd = NULL;
  }
  return status;
}

clipdb_status clipdb__conv2d_init_ex(clipdb__conv2d *c, clipdb__weight_dtype dtype, size_t c_in,
                                     size_t c_out, size_t kernel, size_t stride, size_t pad,
                                     const float *w, const float *bias,
                                     const clipdb__batchnorm *bn, int winograd, const char *what,
                                     char *errbuf) {
  c->c_in = c_in;
  c->c_out = c_out;
  c->kernel = kernel;
  c->stride = stride;
  c->pad = pad;
  c->winograd = NULL;
  memset(&c->gemm, 0, sizeof c->gemm);
  size_t k = kernel * kernel * c_in;
  float *wt = clipdb__malloc((c_out * k + c_out) * sizeof(float));
  if (wt == NULL)
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to allocate %zu bytes to pack %s", (c_out * k + c_out) * 4, what);
  float *b = wt + c_out * k;
  /* OIHW -> O(HWI), the im2col order; fold the BatchNorm scale in */
  for (size_t o = 0; o < c_out; o++) {
    float scale = 1.0f, shift = 0.0f;
    if (bn != NULL) {
      scale = bn->gamma[o] / sqrtf(bn->var[o] + bn->eps);
      shift = bn->beta[o] - bn->mean[o] * scale;
    }
    b[o] = (bias ? bias[o] * scale : 0.0f) + shift;
    for (size_t i = 0; i < c_in; i++)
      for (size_t ky = 0; ky < kernel; ky++)
        for (size_t kx = 0; kx < kernel; kx++)
          wt[o * k + (ky * kernel + kx) * c_in + i] =
              w[((o * c_in + i) * kernel + ky) * kernel + kx] * scale;
  }
  clipdb_status status;
  if (winograd && clipdb__conv2d_winograd && dtype == CLIPDB__WEIGHTS_F32 && kernel == 3 &&
      stride == 1 && pad == 1) {
    status = winograd_init(c, wt, b, what, errbuf);
  } else {
    status = clipdb__linear_init_dtype(&c->gemm, dtype, c_out, k, wt, k, 1, b, what, errbuf);
  }
  clipdb__free(wt);
  return status;
}

void clipdb__conv2d_free(clipdb__conv2d *c) {
  if (c == NULL) return;
  clipdb__linear_free(&c->gemm);
  if (c->winograd != NULL) {
    for (size_t xi = 0; xi < 16; xi++) clipdb__linear_free(&c->winograd[xi]);
    clipdb__free(c->winograd);
    c->winograd = NULL;
  }
}

size_t clipdb__conv2d_bytes(const clipdb__conv2d *c) {
  size_t b = clipdb__linear_bytes(&c->gemm);
  for (size_t xi = 0; c->winograd != NULL && xi < 16; xi++)
    b += clipdb__linear_bytes(&c->winograd[xi]);
  return b;
}

size_t clipdb__conv2d_out_size(const clipdb__conv2d *c, size_t in) {
  return (in + 2 * c->pad - c->kernel) / c->stride + 1;
}

/* im2col is done in blocks of output pixels of at most about this many bytes, so the
 * scratch stays bounded (a full im2col of the RN50 stem's second conv is 14 MB) while the
 * layers with large weights (RN50 stages 3-4: up to 9 MB of weights, under 2 MB of im2col)
 * still run as one GEMM each: every extra block re-reads all of the weights (measured: 512 KiB
 * blocks made RN50 1.7x slower natively). Block rows are a multiple of 60, which every
 * microkernel's MR (1-6, 10, 12) divides, so only the last block has a row tail. */
#define IM2COL_BLOCK_BYTES (4 * 1024 * 1024)

static size_t im2col_block_rows(size_t k, size_t rows) {
  size_t b = IM2COL_BLOCK_BYTES / (k * sizeof(float));
  b = b >= 60 ? b / 60 * 60 : 60;
  return b < rows ? b : rows;
}

/* Winograd: tiles are done in blocks whose transformed inputs and products (16 × tiles ×
 * (c_in + c_out) floats) take at most about this many bytes; every block reads all 16 weight
 * matrices again. */
#define WINOGRAD_BLOCK_BYTES (8 * 1024 * 1024)
/* Layers whose 16 weight matrices take at most 1 MiB (RN50's stem and first two stages) are
 * done in chunks of tiles whose transformed inputs and products take about 256 KiB (at least
 * 56 tiles, so the GEMMs keep enough rows), one chunk at a time per thread from transform to
 * transform, so that they stay in the core's cache instead of going out to memory and back (the
 * blocks above). Measured per layer (native, AVX-512F): at 2 threads the chunks take 0.71-0.92x
 * the blocks' time on RN50's 112x112, 56x56 and 28x28 layers, at 1 thread about the same. */
#define WINOGRAD_CHUNK_BYTES (256 * 1024)
#define WINOGRAD_CHUNKED_MAX_WEIGHTS (1024 * 1024)
#define WINOGRAD_MIN_CHUNK 56

static int winograd_chunked(const clipdb__conv2d *c) {
  return 16 * c->c_in * c->c_out * sizeof(float) <= WINOGRAD_CHUNKED_MAX_WEIGHTS;
}

static size_t winograd_block_tiles(const clipdb__conv2d *c, size_t tiles) {
  const size_t bytes = winograd_chunked(c) ? WINOGRAD_CHUNK_BYTES : WINOGRAD_BLOCK_BYTES;
  size_t b = bytes / (16 * (c->c_in + c->c_out) * sizeof(float));
  b = b >= 70 ? b / 70 * 70 : (b > 0 ? b : 1); /* whole 7- and 10-row tiles of the GEMMs */
  if (winograd_chunked(c) && b < WINOGRAD_MIN_CHUNK) b = WINOGRAD_MIN_CHUNK;
  return b < tiles ? b : tiles;
}

size_t clipdb__conv2d_scratch_floats(const clipdb__conv2d *c, size_t h, size_t w) {
  if (c->winograd != NULL) {
    /* a zero row, then one block, or one chunk per thread of the current pool */
    const size_t tiles = ((h + 1) / 2) * ((w + 1) / 2);
    const size_t lanes = winograd_chunked(c) ? clipdb__threads_current() : 1;
    return c->c_in + lanes * 16 * winograd_block_tiles(c, tiles) * (c->c_in + c->c_out);
  }
  if (c->kernel == 1 && c->stride == 1 && c->pad == 0) return 0;
  const size_t k = c->kernel * c->kernel * c->c_in;
  return im2col_block_rows(k, clipdb__conv2d_out_size(c, h) * clipdb__conv2d_out_size(c, w)) * k;
}

/* Whether input pixel (iy, ix) of an h×w image exists (im2col reads zeros outside it). */
static inline int in_image(ptrdiff_t iy, ptrdiff_t ix, size_t h, size_t w) {
  return iy >= 0 && ix >= 0 && iy < (ptrdiff_t)h && ix < (ptrdiff_t)w;
}

/* An int8 convolution's im2col written straight as int8: each output pixel's row is quantized
 * with the scale of its window (the largest max|x| of the input pixels it reads), one input
 * pixel's channels at a time, into the qs8 scratch; the same bytes as quantizing the float
 * im2col row (zero padding changes no maximum), without writing and re-reading that row as
 * floats. Returns 0 when its buffers cannot be allocated (the caller takes the float path). */
static int conv2d_run_q8(const clipdb__conv2d *c, size_t h, size_t w, const float *x, float *y,
                         clipdb_epilogue ep) {
  const size_t oh = clipdb__conv2d_out_size(c, h), ow = clipdb__conv2d_out_size(c, w);
  const size_t kk = c->kernel, ci = c->c_in, k = kk * kk * ci, kpad = (k + 3) / 4 * 4;
  const size_t n_pix = oh * ow, block = im2col_block_rows(k, n_pix);
  float *amax = clipdb__malloc(h * w * sizeof(float));
  void *scratch = clipdb__malloc(clipdb__qs8_scratch_bytes(block, k));
  if (amax == NULL || scratch == NULL) {
    clipdb__free(amax), clipdb__free(scratch);
    return 0;
  }
  for (size_t p = 0; p < h * w; p++) amax[p] = clipdb__qs8_amax(ci, x + p * ci);
  for (size_t p0 = 0; p0 < n_pix; p0 += block) {
    const size_t rows = n_pix - p0 < block ? n_pix - p0 : block;
    float *rs = scratch;
    int8_t *q = CLIPDB__QS8_SCRATCH_ROWS(scratch, rows);
    for (size_t p = p0; p < p0 + rows; p++) {
      const size_t oy = p / ow, ox = p % ow;
      int8_t *row = q + (p - p0) * kpad;
      float a = 0.0f; /* the window's max; NaN if any of its pixels holds one */
      for (size_t ky = 0; ky < kk; ky++)
        for (size_t kx = 0; kx < kk; kx++) {
          const ptrdiff_t iy = (ptrdiff_t)(oy * c->stride + ky) - (ptrdiff_t)c->pad;
          const ptrdiff_t ix = (ptrdiff_t)(ox * c->stride + kx) - (ptrdiff_t)c->pad;
          if (!in_image(iy, ix, h, w)) continue;
          const float v = amax[(size_t)iy * w + (size_t)ix];
          a = (v != v || a != a) ? NAN : (v > a ? v : a);
        }
      if (!(a > 0.0f) || !isfinite(a)) { /* as clipdb__qs8_quantize_row: zeros, scale 0 */
        memset(row, 0, kpad);
        rs[p - p0] = 0.0f;
        continue;
      }
      const float inv = 127.0f / a;
      rs[p - p0] = a / 127.0f;
      for (size_t ky = 0; ky < kk; ky++) {
        const ptrdiff_t iy = (ptrdiff_t)(oy * c->stride + ky) - (ptrdiff_t)c->pad;
        for (size_t kx = 0; kx < kk; kx++) {
          const ptrdiff_t ix = (ptrdiff_t)(ox * c->stride + kx) - (ptrdiff_t)c->pad;
          int8_t *dst = row + (ky * kk + kx) * ci;
          if (!in_image(iy, ix, h, w))
            memset(dst, 0, ci);
          else
            clipdb__qs8_quantize_scaled(ci, x + ((size_t)iy * w + (size_t)ix) * ci, inv, dst);
        }
      }
      memset(row + k, 0, kpad - k);
    }
    qs8_run_quantized(&c->gemm, rows, scratch, y + p0 * c->c_out, c->c_out,
                      clipdb_epilogue_at(ep, p0, 0));
  }
  clipdb__free(amax);
  clipdb__free(scratch);
  return 1;
}

/* A float im2col of output pixels [p0, p1) (rows of scratch from p0's), `run` pixels per task. */
typedef struct im2col_job {
  const clipdb__conv2d *c;
  size_t h, w, ow, k, p0, p1, run;
  const float *x;
  float *scratch;
} im2col_job;

/* im2cols of fewer floats than this stay on the calling thread. */
#define IM2COL_PARALLEL_FLOATS ((size_t)1 << 16)

static void im2col_rows(void *ctx, size_t t) {
  const im2col_job *j = ctx;
  const clipdb__conv2d *c = j->c;
  const size_t kk = c->kernel, ci = c->c_in;
  const size_t a = j->p0 + t * j->run, b = a + j->run < j->p1 ? a + j->run : j->p1;
  for (size_t p = a; p < b; p++) {
    const size_t oy = p / j->ow, ox = p % j->ow;
    float *row = j->scratch + (p - j->p0) * j->k;
    for (size_t ky = 0; ky < kk; ky++) {
      ptrdiff_t iy = (ptrdiff_t)(oy * c->stride + ky) - (ptrdiff_t)c->pad;
      for (size_t kx = 0; kx < kk; kx++) {
        ptrdiff_t ix = (ptrdiff_t)(ox * c->stride + kx) - (ptrdiff_t)c->pad;
        float *dst = row + (ky * kk + kx) * ci;
        if (!in_image(iy, ix, j->h, j->w))
          memset(dst, 0, ci * sizeof(float));
        else
          memcpy(dst, j->x + ((size_t)iy * j->w + (size_t)ix) * ci, ci * sizeof(float));
      }
    }
  }
}

/*
 * Winograd F(2×2, 3×3), stride 1, pad 1. Tile t of a block covers outputs (2ty.., 2tx..) and
 * reads the 4×4 input window from (2ty − 1, 2tx − 1) (zeros outside the image). Per channel,
 * V = Bᵀ d B with Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]; then
 * M_xi = V_xi · U_xiᵀ (one GEMM per xi over the block's tiles) and y = Aᵀ M A with
 * Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]], then the epilogue (+ y's old value, activation).
 * Scratch: V [tiles][16][c_in], M [tiles][16][c_out] (each tile's 16 rows together, so the
 * transforms read and write one contiguous run per tile; GEMM xi takes every 16th row), a zero
 * row of c_in.
 */
typedef struct winograd_job {
  const clipdb__conv2d *c;
  size_t h, w, tw, t0, n_tiles, run;
  const float *x;
  float *v, *m;
  const float *zero;
  float *y;
  clipdb_epilogue ep; /* residual indexed like y: [pixel, channel] */
  /* chunked layers: chunks of `chunk` tiles out of `tiles`, taken in turn by the lanes */
  size_t tiles, chunk;
  atomic_size_t next_chunk;
  float *lanes;
} winograd_job;

/* Channels per step of the transforms: each step's loops run over a chunk of this many
 * contiguous channels, which compilers vectorise. */
#define WINOGRAD_CHUNK 16

/* Natively on x86-64 the transforms are compiled for AVX-512F, AVX2 and the baseline (SSE2),
 * and the loader picks the widest the CPU runs (GCC/Clang function multi-versioning); a chunk
 * of 16 channels is then one 512-bit vector. Elsewhere (wasm: SIMD128) as the build targets. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) /* its runtime is not up yet when the ifunc resolvers run */
#define WINOGRAD_NO_CLONES
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WINOGRAD_NO_CLONES
#endif
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(WINOGRAD_NO_CLONES)
#define WINOGRAD_TARGETS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WINOGRAD_TARGETS
#endif

/* The input transform of `n` channels (n <= WINOGRAD_CHUNK) from the 16 window pointers d (each
 * already offset to the chunk) into V_0 at v0, V_xi `stride` floats further each. Inlined with
 * n = WINOGRAD_CHUNK for whole chunks, so their loops have a constant trip count. */
static inline void winograd_in_chunk(const float *const *d, size_t n, float *v0, size_t stride) {
  float e[16][WINOGRAD_CHUNK]; /* Bᵀ d, row r at e[4r + q] */
  for (size_t q = 0; q < 4; q++) {
    const float *restrict d0 = d[q], *restrict d1 = d[4 + q];
    const float *restrict d2 = d[8 + q], *restrict d3 = d[12 + q];
    for (size_t i = 0; i < n; i++) {
      e[q][i] = d0[i] - d2[i];
      e[4 + q][i] = d1[i] + d2[i];
      e[8 + q][i] = d2[i] - d1[i];
      e[12 + q][i] = d1[i] - d3[i];
    }
  }
  for (size_t r = 0; r < 4; r++) { /* (Bᵀ d) B */
    float *restrict o0 = v0 + (r * 4) * stride, *restrict o1 = o0 + stride;
    float *restrict o2 = o1 + stride, *restrict o3 = o2 + stride;
    const float *e0 = e[4 * r], *e1 = e[4 * r + 1], *e2 = e[4 * r + 2], *e3 = e[4 * r + 3];
    for (size_t i = 0; i < n; i++) {
      o0[i] = e0[i] - e2[i];
      o1[i] = e1[i] + e2[i];
      o2[i] = e2[i] - e1[i];
      o3[i] = e1[i] - e3[i];
    }
  }
}

WINOGRAD_TARGETS static void winograd_in(void *ctx, size_t task) {
  const winograd_job *j = ctx;
  const size_t ci = j->c->c_in, a = task * j->run;
  const size_t b = a + j->run < j->n_tiles ? a + j->run : j->n_tiles;
  const size_t stride = ci; /* from V_xi to V_xi+1 within a tile's row */
  for (size_t t = a; t < b; t++) {
    const size_t ty = (j->t0 + t) / j->tw, tx = (j->t0 + t) % j->tw;
    const float *d[16], *di[16];
    for (size_t r = 0; r < 4; r++)
      for (size_t q = 0; q < 4; q++) {
        const ptrdiff_t iy = (ptrdiff_t)(2 * ty + r) - 1, ix = (ptrdiff_t)(2 * tx + q) - 1;
        d[r * 4 + q] = in_image(iy, ix, j->h, j->w) ? j->x + ((size_t)iy * j->w + (size_t)ix) * ci
                                                    : j->zero;
      }
    size_t i0 = 0;
    for (; i0 + WINOGRAD_CHUNK <= ci; i0 += WINOGRAD_CHUNK) {
      for (size_t k = 0; k < 16; k++) di[k] = d[k] + i0;
      winograd_in_chunk(di, WINOGRAD_CHUNK, j->v + t * 16 * ci + i0, stride);
    }
    if (i0 < ci) {
      for (size_t k = 0; k < 16; k++) di[k] = d[k] + i0;
      winograd_in_chunk(di, ci - i0, j->v + t * 16 * ci + i0, stride);
    }
  }
}

/* M_xi = V_xi · U_xiᵀ over n tiles: row t of V_xi is V's row 16t + xi, likewise for M. */
static void winograd_gemm_xi(const clipdb__conv2d *c, size_t n, const float *v, float *m,
                             size_t xi) {
  const size_t ci = c->c_in, co = c->c_out;
  clipdb__linear_run(&c->winograd[xi], n, v + xi * ci, 16 * ci, m + xi * co, 16 * co,
                     clipdb_epilogue_act(CLIPDB_ACT_NONE));
}

/* GEMM xi of a block, on the calling thread alone (a task of the pool: no nested split). */
static void winograd_gemm(void *ctx, size_t xi) {
  const winograd_job *j = ctx;
  void *pool = clipdb__threadpool_swap(NULL);
  winograd_gemm_xi(j->c, j->n_tiles, j->v, j->m, xi);
  clipdb__threadpool_swap(pool);
}

/* The output transform of `n` channels (n <= WINOGRAD_CHUNK) of one tile, from M_0 at m0 (M_xi
 * `stride` floats further each) into out[p] for the tile's outputs p = 2r + q. */
static inline void winograd_out_chunk(const float *m0, size_t stride, size_t n,
                                      float out[4][WINOGRAD_CHUNK]) {
  float u[8][WINOGRAD_CHUNK]; /* Aᵀ M, row r at u[4r + q] */
  for (size_t q = 0; q < 4; q++) {
    const float *restrict a0 = m0 + q * stride, *restrict a1 = a0 + 4 * stride;
    const float *restrict a2 = a1 + 4 * stride, *restrict a3 = a2 + 4 * stride;
    for (size_t o = 0; o < n; o++) {
      u[q][o] = a0[o] + a1[o] + a2[o];
      u[4 + q][o] = a1[o] - a2[o] - a3[o];
    }
  }
  for (size_t r = 0; r < 2; r++)
    for (size_t o = 0; o < n; o++) {
      out[2 * r][o] = u[4 * r][o] + u[4 * r + 1][o] + u[4 * r + 2][o];
      out[2 * r + 1][o] = u[4 * r + 1][o] - u[4 * r + 2][o] - u[4 * r + 3][o];
    }
}

/* dst = act(src + res) for n channels (res: the epilogue's residual there, NULL for none; it
 * may be dst itself, the usual in-place add). */
static inline void winograd_store(float *restrict dst, const float *src, const float *res,
                                  size_t n, clipdb_act act) {
  if (res == dst)
    for (size_t o = 0; o < n; o++) dst[o] += src[o];
  else if (res != NULL)
    for (size_t o = 0; o < n; o++) dst[o] = res[o] + src[o];
  else
    for (size_t o = 0; o < n; o++) dst[o] = src[o];
  if (act == CLIPDB_ACT_RELU)
    for (size_t o = 0; o < n; o++) dst[o] = dst[o] > 0.0f ? dst[o] : 0.0f;
  if (act == CLIPDB_ACT_QUICK_GELU)
    for (size_t o = 0; o < n; o++) dst[o] = dst[o] / (1.0f + expf(-1.702f * dst[o]));
}

WINOGRAD_TARGETS static void winograd_out(void *ctx, size_t task) {
  const winograd_job *j = ctx;
  const size_t co = j->c->c_out, a = task * j->run, n = j->n_tiles;
  const size_t b = a + j->run < n ? a + j->run : n;
  const size_t stride = co; /* from M_xi to M_xi+1 within a tile's row */
  float out[4][WINOGRAD_CHUNK];
  for (size_t t = a; t < b; t++) {
    const size_t ty = (j->t0 + t) / j->tw, tx = (j->t0 + t) % j->tw;
    float *dst[4] = {NULL, NULL, NULL, NULL}; /* NULL: past the map's edge */
    const float *res[4] = {NULL, NULL, NULL, NULL};
    for (size_t p = 0; p < 4; p++) {
      const size_t oy = 2 * ty + p / 2, ox = 2 * tx + p % 2;
      if (oy >= j->h || ox >= j->w) continue;
      dst[p] = j->y + (oy * j->w + ox) * co;
      res[p] = clipdb_epilogue_at(j->ep, oy * j->w + ox, 0).residual;
    }
    for (size_t o0 = 0; o0 < co; o0 += WINOGRAD_CHUNK) {
      const size_t nc = co - o0 < WINOGRAD_CHUNK ? co - o0 : WINOGRAD_CHUNK;
      if (nc == WINOGRAD_CHUNK)
        winograd_out_chunk(j->m + t * 16 * co + o0, stride, WINOGRAD_CHUNK, out);
      else
        winograd_out_chunk(j->m + t * 16 * co + o0, stride, nc, out);
      for (size_t p = 0; p < 4; p++)
        if (dst[p] != NULL)
          winograd_store(dst[p] + o0, out[p], res[p] != NULL ? res[p] + o0 : NULL, nc, j->ep.act);
    }
  }
}

/* Lane `lane` of a chunked layer: takes chunks until none is left, each from input transform
 * to output transform in the lane's own scratch, its 16 GEMMs on this thread alone. Which lane
 * does a chunk changes nothing in what it computes. */
static void winograd_lane(void *ctx, size_t lane) {
  winograd_job *j = ctx;
  const clipdb__conv2d *c = j->c;
  const size_t ci = c->c_in, co = c->c_out;
  float *scratch = j->lanes + lane * 16 * j->chunk * (ci + co);
  void *pool = clipdb__threadpool_swap(NULL);
  for (;;) {
    const size_t k = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed);
    if (k * j->chunk >= j->tiles) break;
    winograd_job part = {c, j->h, j->w, j->tw, k * j->chunk, 0, 0, j->x, scratch, NULL, j->zero,
                         j->y, j->ep, 0, 0, 0, NULL};
    part.n_tiles = part.run = j->tiles - part.t0 < j->chunk ? j->tiles - part.t0 : j->chunk;
    const size_t n = part.n_tiles;
    part.m = scratch + 16 * n * ci;
    winograd_in(&part, 0);
    for (size_t xi = 0; xi < 16; xi++) winograd_gemm_xi(c, n, part.v, part.m, xi);
    winograd_out(&part, 0);
  }
  clipdb__threadpool_swap(pool);
}

/* Tiles per task of the transforms: about two tasks per thread, and at most one task where a
 * block's transform is too small to be worth waking the pool. */
static size_t winograd_run_tiles(size_t n_tiles, size_t channels, size_t threads) {
  if (threads <= 1 || n_tiles * channels * 16 < IM2COL_PARALLEL_FLOATS) return n_tiles;
  return clipdb__per_task(n_tiles, threads);
}

static void conv2d_run_winograd(const clipdb__conv2d *c, size_t h, size_t w, const float *x,
                                float *y, float *scratch, clipdb_epilogue ep) {
  const size_t ci = c->c_in, co = c->c_out, tw = (w + 1) / 2, tiles = ((h + 1) / 2) * tw;
  const size_t block = winograd_block_tiles(c, tiles), threads = clipdb__threads_current();
  float *zero = scratch;
  memset(zero, 0, ci * sizeof(float));
  scratch += ci;
  if (winograd_chunked(c)) {
    winograd_job job = {c, h, w, tw, 0, 0, 0, x, NULL, NULL, zero, y, ep, tiles, block, 0, scratch};
    atomic_init(&job.next_chunk, 0);
    const size_t chunks = (tiles + block - 1) / block;
    const size_t lanes = threads < chunks ? threads : chunks;
    if (lanes > 1 && 16 * tiles * ci * co >= clipdb__parallel_min_macs)
      clipdb__parallel_for(lanes, winograd_lane, &job);
    else
      winograd_lane(&job, 0);
    return;
  }
  for (size_t t0 = 0; t0 < tiles; t0 += block) {
    const size_t n = tiles - t0 < block ? tiles - t0 : block;
    winograd_job job = {c, h, w, tw, t0, n, 0, x, scratch, scratch + 16 * n * ci, zero, y, ep,
                        0, 0, 0, NULL};
    job.run = winograd_run_tiles(n, ci, threads);
    clipdb__parallel_for((n + job.run - 1) / job.run, winograd_in, &job);
    if (threads > 1 && 16 * n * ci * co >= clipdb__parallel_min_macs)
      clipdb__parallel_for(16, winograd_gemm, &job);
    else
      for (size_t xi = 0; xi < 16; xi++) winograd_gemm_xi(c, n, job.v, job.m, xi);
    job.run = winograd_run_tiles(n, co, threads);
    clipdb__parallel_for((n + job.run - 1) / job.run, winograd_out, &job);
  }
}

void clipdb__conv2d_run(const clipdb__conv2d *c, size_t h, size_t w, const float *x, float *y,
                        float *scratch, clipdb_epilogue ep) {
  if (c->winograd != NULL) {
    conv2d_run_winograd(c, h, w, x, y, scratch, ep);
    return;
  }
  size_t oh = clipdb__conv2d_out_size(c, h), ow = clipdb__conv2d_out_size(c, w);
  size_t kk = c->kernel, ci = c->c_in, k = kk * kk * ci;
  if (kk == 1 && c->stride == 1 && c->pad == 0) {
    clipdb__linear_run(&c->gemm, h * w, x, ci, y, c->c_out, ep);
    return;
  }
  if (c->gemm.q8 != NULL && !clipdb__conv2d_float_im2col && conv2d_run_q8(c, h, w, x, y, ep))
    return;
  /* im2col, block by block: one row per output pixel, (ky, kx, ci) order, zeros outside the
   * image (split over the model's threads in runs of pixels); then the block's rows of the
   * output as one GEMM. */
  const size_t n_pix = oh * ow, block = im2col_block_rows(k, n_pix);
  const size_t threads = clipdb__threads_current();
  for (size_t p0 = 0; p0 < n_pix; p0 += block) {
    const size_t p1 = p0 + block < n_pix ? p0 + block : n_pix;
    im2col_job job = {c, h, w, ow, k, p0, p1, p1 - p0, x, scratch};
    if (threads > 1 && (p1 - p0) * k >= IM2COL_PARALLEL_FLOATS) {
      job.run = clipdb__per_task(p1 - p0, threads);
      clipdb__parallel_for((p1 - p0 + job.run - 1) / job.run, im2col_rows, &job);
    } else {
      im2col_rows(&job, 0);
    }
    clipdb__linear_run(&c->gemm, p1 - p0, scratch, k, y + p0 * c->c_out, c->c_out,
                       clipdb_epilogue_at(ep, p0, 0));
  }
}

/* Layer norm of rows [t * run, (t + 1) * run) of a ln_job (one task of the row split). */
typedef struct ln_job {
  size_t m, n, ldx, ldy, run;
  const float *x, *gamma, *beta;
  float eps;
  float *y;
} ln_job;

static void ln_rows(void *ctx, size_t t) {
  const ln_job *job = ctx;
  const size_t n = job->n, a = t * job->run, b = a + job->run < job->m ? a + job->run : job->m;
  const float *gamma = job->gamma, *beta = job->beta;
  const float eps = job->eps;
  for (size_t i = a; i < b; i++) {
    const float *xi = job->x + i * job->ldx;
    float *yi = job->y + i * job->ldy;
    float mean = 0.0f;
    for (size_t j = 0; j < n; j++) mean += xi[j];
    mean /= (float)n;
    float var = 0.0f;
    for (size_t j = 0; j < n; j++) {
      float d = xi[j] - mean;
      var += d * d;
    }
    var /= (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    for (size_t j = 0; j < n; j++) yi[j] = (xi[j] - mean) * inv * gamma[j] + beta[j];
  }
}

void clipdb__layer_norm(size_t m, size_t n, const float *x, size_t ldx, const float *gamma,
                        const float *beta, float eps, float *y, size_t ldy) {
  ln_job job = {m, n, ldx, ldy, m, x, gamma, beta, eps, y};
  const size_t threads = clipdb__threads_current();
  /* Rows over the model's threads when the layer is big enough to pay for waking them (a
   * few operations per element: counted as 16 multiply-adds each against the GEMM threshold).
   * Each row is computed by one thread in the same order, so results do not change. */
  if (threads > 1 && m >= 2 && 16 * m * n >= clipdb__parallel_min_macs) {
    job.run = clipdb__per_task(m, threads);
    clipdb__parallel_for((m + job.run - 1) / job.run, ln_rows, &job);
  } else if (m > 0) {
    ln_rows(&job, 0);
  }
}

void clipdb__softmax(float *x, size_t n) {
  float mx = -INFINITY;
  for (size_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  float sum = 0.0f;
  for (size_t i = 0; i < n; i++) {
    x[i] = expf(x[i] - mx);
    sum += x[i];
  }
  float inv = 1.0f / sum;
  for (size_t i = 0; i < n; i++) x[i] *= inv;
}

/* Output rows [t·run, (t + 1)·run) of an average pool (one task of the row split). */
typedef struct pool_job {
  size_t h, w, c, s, run;
  const float *x;
  float *y;
} pool_job;

static void avg_pool_rows(void *ctx, size_t t) {
  const pool_job *j = ctx;
  const size_t s = j->s, c = j->c, oh = j->h / s, ow = j->w / s;
  const size_t a = t * j->run, b = a + j->run < oh ? a + j->run : oh;
  const float inv = 1.0f / (float)(s * s);
  for (size_t oy = a; oy < b; oy++)
    for (size_t ox = 0; ox < ow; ox++) {
      float *restrict dst = j->y + (oy * ow + ox) * c;
      for (size_t ch = 0; ch < c; ch++) dst[ch] = 0.0f;
      for (size_t ky = 0; ky < s; ky++)
        for (size_t kx = 0; kx < s; kx++) {
          const float *restrict src = j->x + ((oy * s + ky) * j->w + (ox * s + kx)) * c;
          for (size_t ch = 0; ch < c; ch++) dst[ch] += src[ch];
        }
      for (size_t ch = 0; ch < c; ch++) dst[ch] *= inv;
    }
}

void clipdb__avg_pool2d(size_t h, size_t w, size_t c, size_t s, const float *x, float *y) {
  const size_t oh = h / s, threads = clipdb__threads_current();
  pool_job job = {h, w, c, s, oh, x, y};
  /* split by output rows (about two runs per thread) when the input is large enough to pay */
  if (threads > 1 && oh >= 2 && h * w * c >= IM2COL_PARALLEL_FLOATS) {
    job.run = clipdb__per_task(oh, threads);
    clipdb__parallel_for((oh + job.run - 1) / job.run, avg_pool_rows, &job);
  } else {
    avg_pool_rows(&job, 0);
  }
}

void clipdb__mean_rows(size_t m, size_t n, const float *x, size_t ldx, float *y) {
  for (size_t j = 0; j < n; j++) y[j] = 0.0f;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) y[j] += x[i * ldx + j];
  for (size_t j = 0; j < n; j++) y[j] /= (float)m;
}
