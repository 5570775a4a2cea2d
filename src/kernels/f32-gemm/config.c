/*
 * f32 GEMM: weight packing, the kernel table, the one-time kernel choice and the driver loop.
 * See f32-gemm.h for the contract; XNNPACK's src/packing.c (xnn_pack_f32_gemm_goi_w) and
 * src/configs/gemm-config.c are the model for the layout and the selection.
 */
#include <string.h>

#include "f32-gemm.h"

#define NR CLIPDB_F32_GEMM_NR

const clipdb_f32_gemm_kernel clipdb__f32_gemm_kernels[] = {
    {"f32_gemm_1x8__scalar", clipdb_f32_gemm_ukernel_1x8__scalar, 1, NR, 0, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_4x8__scalar", clipdb_f32_gemm_ukernel_4x8__scalar, 4, NR, 1, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_5x8__scalar", clipdb_f32_gemm_ukernel_5x8__scalar, 5, NR, 2, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_6x8__scalar", clipdb_f32_gemm_ukernel_6x8__scalar, 6, NR, 3, CLIPDB_F32_GEMM_ISA_BASELINE},
#if defined(CLIPDB_WASM_SIMD)
    {"f32_gemm_1x8__wasmsimd_loadsplat", clipdb_f32_gemm_ukernel_1x8__wasmsimd_loadsplat, 1, NR, 0, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_4x8__wasmsimd_loadsplat", clipdb_f32_gemm_ukernel_4x8__wasmsimd_loadsplat, 4, NR, 1, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_5x8__wasmsimd_loadsplat", clipdb_f32_gemm_ukernel_5x8__wasmsimd_loadsplat, 5, NR, 2, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_6x8__wasmsimd_loadsplat", clipdb_f32_gemm_ukernel_6x8__wasmsimd_loadsplat, 6, NR, 3, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_4x8__wasmsimd_splat", clipdb_f32_gemm_ukernel_4x8__wasmsimd_splat, 4, NR, 1, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_5x8__wasmsimd_splat", clipdb_f32_gemm_ukernel_5x8__wasmsimd_splat, 5, NR, 2, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_6x8__wasmsimd_splat", clipdb_f32_gemm_ukernel_6x8__wasmsimd_splat, 6, NR, 3, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_4x8__wasmsimd_loadsplat_u4", clipdb_f32_gemm_ukernel_4x8__wasmsimd_loadsplat_u4, 4, NR, 1, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_5x8__wasmsimd_loadsplat_u4", clipdb_f32_gemm_ukernel_5x8__wasmsimd_loadsplat_u4, 5, NR, 2, CLIPDB_F32_GEMM_ISA_BASELINE},
    {"f32_gemm_6x8__wasmsimd_loadsplat_u4", clipdb_f32_gemm_ukernel_6x8__wasmsimd_loadsplat_u4, 6, NR, 3, CLIPDB_F32_GEMM_ISA_BASELINE},
#endif
#if defined(CLIPDB_X86_KERNELS)
    {"f32_gemm_3x16__avx", clipdb_f32_gemm_ukernel_3x16__avx, 3, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_4x16__avx", clipdb_f32_gemm_ukernel_4x16__avx, 4, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_5x16__avx", clipdb_f32_gemm_ukernel_5x16__avx, 5, 2 * NR, 2, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_3x8__avx", clipdb_f32_gemm_ukernel_3x8__avx, 3, NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_5x8__avx", clipdb_f32_gemm_ukernel_5x8__avx, 5, NR, 2, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_4x8__avx", clipdb_f32_gemm_ukernel_4x8__avx, 4, NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_6x8__avx", clipdb_f32_gemm_ukernel_6x8__avx, 6, NR, 3, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_8x8__avx", clipdb_f32_gemm_ukernel_8x8__avx, 8, NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_10x8__avx", clipdb_f32_gemm_ukernel_10x8__avx, 10, NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_12x8__avx", clipdb_f32_gemm_ukernel_12x8__avx, 12, NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX},
    {"f32_gemm_4x8__fma", clipdb_f32_gemm_ukernel_4x8__fma, 4, NR, 1, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_5x8__fma", clipdb_f32_gemm_ukernel_5x8__fma, 5, NR, 2, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_6x8__fma", clipdb_f32_gemm_ukernel_6x8__fma, 6, NR, 3, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_8x8__fma", clipdb_f32_gemm_ukernel_8x8__fma, 8, NR, 1, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_4x16__fma", clipdb_f32_gemm_ukernel_4x16__fma, 4, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_5x16__fma", clipdb_f32_gemm_ukernel_5x16__fma, 5, 2 * NR, 2, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_6x16__fma", clipdb_f32_gemm_ukernel_6x16__fma, 6, 2 * NR, 3, CLIPDB_F32_GEMM_ISA_X86_FMA},
    {"f32_gemm_4x32__avx512f", clipdb_f32_gemm_ukernel_4x32__avx512f, 4, 4 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_5x32__avx512f", clipdb_f32_gemm_ukernel_5x32__avx512f, 5, 4 * NR, 2, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_6x32__avx512f", clipdb_f32_gemm_ukernel_6x32__avx512f, 6, 4 * NR, 3, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_7x32__avx512f", clipdb_f32_gemm_ukernel_7x32__avx512f, 7, 4 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_8x32__avx512f", clipdb_f32_gemm_ukernel_8x32__avx512f, 8, 4 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_10x32__avx512f", clipdb_f32_gemm_ukernel_10x32__avx512f, 10, 4 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_12x32__avx512f", clipdb_f32_gemm_ukernel_12x32__avx512f, 12, 4 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_14x32__avx512f", clipdb_f32_gemm_ukernel_14x32__avx512f, 14, 4 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_8x16__avx512f", clipdb_f32_gemm_ukernel_8x16__avx512f, 8, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_10x16__avx512f", clipdb_f32_gemm_ukernel_10x16__avx512f, 10, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_12x16__avx512f", clipdb_f32_gemm_ukernel_12x16__avx512f, 12, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
    {"f32_gemm_14x16__avx512f", clipdb_f32_gemm_ukernel_14x16__avx512f, 14, 2 * NR, 1, CLIPDB_F32_GEMM_ISA_X86_AVX512F},
#endif
};
const size_t clipdb__f32_gemm_kernel_count =
    sizeof clipdb__f32_gemm_kernels / sizeof clipdb__f32_gemm_kernels[0];

int clipdb__f32_gemm_kernel_usable(const clipdb_f32_gemm_kernel *kern) {
  switch (kern->isa) {
  case CLIPDB_F32_GEMM_ISA_BASELINE: return 1;
  case CLIPDB_F32_GEMM_ISA_X86_AVX:
#if defined(CLIPDB_X86_KERNELS)
    return __builtin_cpu_supports("avx");
#else
    return 0;
#endif
  case CLIPDB_F32_GEMM_ISA_X86_FMA:
#if defined(CLIPDB_X86_KERNELS)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
  case CLIPDB_F32_GEMM_ISA_X86_AVX512F:
#if defined(CLIPDB_X86_KERNELS)
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
  }
  return 0;
}

/* The default, per ISA, from bench/gemm.mjs (wasm) and bench/gemm-native.c on the ViT-B/32
 * shapes (see README Performance). */
#if defined(CLIPDB_WASM_SIMD)
#define DEFAULT_KERNEL 5 /* 4x8 wasmsimd_loadsplat: 32 GFLOP/s vs 20 (5x8: V8 spills three accumulators), 22 (splat) */
#else
#define DEFAULT_KERNEL 3 /* 6x8 scalar: 22 GFLOP/s natively (gcc vectorises it) vs 6 (4x8) */
#endif
#if defined(CLIPDB_X86_KERNELS)
/* Native x86-64: the first of these the CPU can run (bench/gemm-native.c, single thread, on an
 * AMD EPYC with AVX-512; figures, machine and load in README.md Performance):
 *   10x32 AVX-512F  ~200 GFLOP/s on the ViT-B/32 shapes, ~190 on RN50's (5x32..14x32: 170-200;
 *                   MR = 10 tiles M = 50 exactly; the "auto" kernel configuration
 *                   (src/kernels/config.c) picks 7x32 for other row counts);
 *   6x16 FMA        ~100 (equal to AVX 5x16 on this CPU; preferred where there is no AVX-512
 *                   because it issues half the arithmetic instructions: not measured here);
 *   5x16 AVX        87-100 (vs 75 for 4x16, 62 for 6x8, <= 56 for the others). */
static const clipdb_f32_gemm_ukernel_fn x86_preference[] = {
    clipdb_f32_gemm_ukernel_10x32__avx512f,
    clipdb_f32_gemm_ukernel_6x16__fma,
    clipdb_f32_gemm_ukernel_5x16__avx,
};
#endif

const clipdb_f32_gemm_kernel *clipdb__f32_gemm_default(void) {
#if defined(CLIPDB_X86_KERNELS)
  /* __builtin_cpu_supports reads flags libgcc set at startup: cheap enough per GEMM call. */
  for (size_t p = 0; p < sizeof x86_preference / sizeof x86_preference[0]; p++)
    for (size_t i = 0; i < clipdb__f32_gemm_kernel_count; i++)
      if (clipdb__f32_gemm_kernels[i].ukernel == x86_preference[p] &&
          clipdb__f32_gemm_kernel_usable(&clipdb__f32_gemm_kernels[i]))
        return &clipdb__f32_gemm_kernels[i];
#endif
  return &clipdb__f32_gemm_kernels[DEFAULT_KERNEL];
}


size_t clipdb__f32_gemm_packed_size(size_t n, size_t k) {
  return (n + NR - 1) / NR * NR * (k + 1);
}

void clipdb__f32_gemm_pack(size_t n, size_t k, const float *weight, size_t n_stride,
                           size_t k_stride, const float *bias, float *packed) {
  for (size_t n0 = 0; n0 < n; n0 += NR) {
    const size_t cols = n - n0 < NR ? n - n0 : NR;
    for (size_t j = 0; j < NR; j++) *packed++ = (j < cols && bias != NULL) ? bias[n0 + j] : 0.0f;
    for (size_t kk = 0; kk < k; kk++) {
      const float *src = weight + n0 * n_stride + kk * k_stride;
      if (n_stride == 1 && cols == NR) {
        memcpy(packed, src, NR * sizeof(float));
      } else {
        for (size_t j = 0; j < NR; j++) packed[j] = j < cols ? src[j * n_stride] : 0.0f;
      }
      packed += NR;
    }
  }
}

/* A's rows are processed in blocks of about this many bytes when A is large (the ResNet's
 * im2col matrices: thousands of rows), so a block stays in L2 while every weight panel passes
 * over it; small A (transformer layers: 50-77 rows) is one block, so each weight panel is read
 * from memory exactly once. */
#define A_BLOCK_BYTES (256 * 1024)
#define A_LARGE_BYTES (1024 * 1024)

void clipdb__f32_gemm(const clipdb_f32_gemm_kernel *kern, size_t m, size_t n, size_t k,
                      const float *a, size_t lda, const float *packed, float *c, size_t ldc,
                      clipdb_epilogue ep) {
  const size_t mr = kern->mr;
  const size_t panel = NR * (k + 1);
  size_t mc = m;
  if (m * k * sizeof(float) > A_LARGE_BYTES) {
    mc = A_BLOCK_BYTES / (k * sizeof(float)) / mr * mr;
    if (mc < mr) mc = mr;
  }
  for (size_t mb = 0; mb < m; mb += mc) {
    const size_t mend = m - mb < mc ? m : mb + mc;
    for (size_t n0 = 0; n0 < n; n0 += kern->nr) {
      const size_t nc = n - n0 < kern->nr ? n - n0 : kern->nr;
      const float *w = packed + n0 / NR * panel;
      for (size_t m0 = mb; m0 < mend; m0 += mr) {
        const size_t rows = mend - m0 < mr ? mend - m0 : mr;
        kern->ukernel(rows, nc, k, a + m0 * lda, lda, w, c + m0 * ldc + n0, ldc,
                      clipdb_epilogue_at(ep, m0, n0));
      }
    }
  }
}
