/*
 * Backend "simd" (src/nn/backend.h): the GEMM boundary (src/nn/gemm.h) on our register-tiled
 * microkernels (src/kernels/f32-gemm/): wasm SIMD128 under Emscripten; natively x86 AVX-512F,
 * AVX2+FMA or AVX, the best the CPU has, else their scalar twins (the scalar build is this
 * engine on the "scalar" configuration). The current kernel configuration (src/kernels/config.h)
 * decides, operators never name a kernel; W is packed at load into 8-wide panels, bias
 * first; the epilogue (residual add, ReLU, QuickGELU) is fused into the microkernel.
 * With a model thread pool, large GEMMs are split by output columns (gemm_slice), tall ones
 * (m >= 4n: a ResNet's convolutions) by rows (gemm_rows).
 */
#include "../backend.h"

#include "../../clipdb-impl.h"
#include "../../kernels/config.h"
#include "../threads.h"

/* The packed form: clipdb__f32_gemm_packed_size(n, k) floats of panels after a 64-byte header,
 * in one clipdb__malloc block. */
typedef struct simd_weights {
  clipdb__gemm_weights head; /* backend.h */
  size_t n, k;
  float *panels;
} simd_weights;
#define HEADER_BYTES 64

static clipdb__gemm_weights *simd_pack(size_t n, size_t k, const float *w, size_t stride_n,
                                       size_t stride_k, const float *bias) {
  _Static_assert(sizeof(simd_weights) <= HEADER_BYTES, "header");
  simd_weights *p =
      clipdb__malloc(HEADER_BYTES + clipdb__f32_gemm_packed_size(n, k) * sizeof(float));
  if (p == NULL) return NULL;
  p->n = n, p->k = k;
  p->panels = (float *)((char *)p + HEADER_BYTES);
  clipdb__f32_gemm_pack(n, k, w, stride_n, stride_k, bias, p->panels);
  return &p->head;
}

static void simd_free(clipdb__gemm_weights *w) { clipdb__free(w); }

static size_t simd_weights_bytes(const clipdb__gemm_weights *w) {
  const simd_weights *p = (const simd_weights *)w;
  return clipdb__f32_gemm_packed_size(p->n, p->k) * sizeof(float);
}

/* With a thread pool (src/nn/threads.h), the output columns are cut into slices of whole
 * panels, one task each; every element is computed exactly as without threads. */
typedef struct gemm_job {
  const clipdb_f32_gemm_kernel *kern;
  size_t m, n, k, lda, ldc, slice;
  const float *a, *packed;
  float *c;
  clipdb_epilogue ep;
} gemm_job;

/* Rows [t·slice, ...) of a tall GEMM (slice a multiple of the kernel's MR, so the row tiles are
 * the ones the whole GEMM would have). */
static void gemm_rows(void *ctx, size_t t) {
  const gemm_job *j = ctx;
  const size_t m0 = t * j->slice, mc = j->m - m0 < j->slice ? j->m - m0 : j->slice;
  clipdb__f32_gemm(j->kern, mc, j->n, j->k, j->a + m0 * j->lda, j->lda, j->packed,
                   j->c + m0 * j->ldc, j->ldc, clipdb_epilogue_at(j->ep, m0, 0));
}

static void gemm_slice(void *ctx, size_t t) {
  const gemm_job *j = ctx;
  const size_t n0 = t * j->slice, nc = j->n - n0 < j->slice ? j->n - n0 : j->slice;
  const size_t panel_floats = CLIPDB_F32_GEMM_NR * (j->k + 1);
  clipdb__f32_gemm(j->kern, j->m, nc, j->k, j->a, j->lda,
                   j->packed + n0 / CLIPDB_F32_GEMM_NR * panel_floats, j->c + n0, j->ldc,
                   clipdb_epilogue_at(j->ep, 0, n0));
}

static void simd_run(size_t m, size_t n, size_t k, const float *a, size_t lda,
                     const clipdb__gemm_weights *w, float *c, size_t ldc, clipdb_epilogue ep) {
  const float *packed = ((const simd_weights *)w)->panels;
  const clipdb_f32_gemm_kernel *kern = clipdb__kernels_f32_gemm_for_rows(clipdb__kernels(), m);
  const size_t threads = clipdb__threads_current();
  if (threads > 1 && m * n * k >= clipdb__parallel_min_macs && m >= 4 * n &&
      m >= 4 * threads * kern->mr) {
    /* A tall GEMM (a ResNet convolution's im2col: thousands of output pixels, 32 to 256
     * channels): about two row slices per thread, so each thread reads only its rows of A
     * (column slices would each read all of A, and too few columns leave threads idle). */
    size_t slice = clipdb__per_task(m, threads);
    slice = (slice + kern->mr - 1) / kern->mr * kern->mr;
    gemm_job job = {kern, m, n, k, lda, ldc, slice, a, packed, c, ep};
    clipdb__parallel_for((m + slice - 1) / slice, gemm_rows, &job);
    return;
  }
  if (threads > 1 && m * n * k >= clipdb__parallel_min_macs) {
    /* about two slices per thread, each a multiple of the kernel's columns per pass (at least
     * 16), so no slice but the last ends in a partial pass: whole panels for NR = 8 and for
     * the 16- and 32-column kernels alike */
    const size_t step = kern->nr > 16 ? kern->nr : 16;
    size_t slice = clipdb__per_task(n, threads);
    slice = (slice + step - 1) / step * step;
    if (slice < n) {
      gemm_job job = {kern, m, n, k, lda, ldc, slice, a, packed, c, ep};
      clipdb__parallel_for((n + slice - 1) / slice, gemm_slice, &job);
      return;
    }
  }
  clipdb__f32_gemm(kern, m, n, k, a, lda, packed, c, ldc, ep);
}

const clipdb__backend clipdb__backend_simd = {"simd", simd_pack, simd_free, simd_weights_bytes,
                                              simd_run};
