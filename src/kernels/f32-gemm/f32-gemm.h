/*
 * f32 GEMM: C = act(A · W + bias [+ R]) with W packed once into NR-wide panels.
 *
 * The method is XNNPACK's (src/f32-gemm/, src/packing.c, src/configs/gemm-config.c):
 *   - at model load, pack W (K×N, any strides) into ceil(N/NR) panels; each panel holds NR
 *     bias values followed by K rows of NR weights (row k contiguous), zero-padded past N;
 *   - a microkernel computes an MR×NR register tile for up to MR rows of A and walks nc
 *     columns panel by panel; rows past `mr` reuse the last row's pointer so the tile code
 *     never branches on mr inside the K loop;
 *   - one kernel is selected once (the config table in config.c), operators never name one.
 *
 * Epilogue (../epilogue.h, the one every GEMM of clipdb takes), fused in the microkernel:
 *   y = A·W + bias;  y += residual (if any);  y = act(y).
 * The residual may be C itself (in-place add); A must not alias C.
 *
 * All strides and sizes are in elements (floats), not bytes.
 */
#ifndef CLIPDB_KERNELS_F32_GEMM_H
#define CLIPDB_KERNELS_F32_GEMM_H

#include <stddef.h>

#include "../epilogue.h"

/* Panel width shared by every f32 GEMM microkernel (two 128-bit vectors). */
#define CLIPDB_F32_GEMM_NR 8


/*
 * Microkernel. Computes rows 0..mr-1 (1 <= mr <= the kernel's MR) and columns 0..nc-1 (nc >= 1):
 *   a   mr rows of kc floats, row i at a + i*a_stride
 *   w   packed panels (see clipdb__f32_gemm_pack); the kernel reads ceil(nc/NR) panels
 *   c   output, row i at c + i*c_stride
 *   ep  epilogue, its residual row i at ep.residual + i*ep.residual_stride
 * The summation order is fixed (bias, then k = 0, 1, ... with a separate multiply and add), so
 * a SIMD kernel and its scalar twin agree bit for bit before the activation.
 */
typedef void (*clipdb_f32_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const float *a,
                                           size_t a_stride, const float *w, float *c,
                                           size_t c_stride, clipdb_epilogue ep);

#define CLIPDB__DECLARE_F32_GEMM_UKERNEL(name)                                                   \
  void name(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride, const float *w,   \
            float *c, size_t c_stride, clipdb_epilogue ep)

/* scalar.c: portable twins (also the native `simd` backend's kernels). */
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_1x8__scalar);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x8__scalar);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x8__scalar);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x8__scalar);

#if defined(CLIPDB_WASM_SIMD)
/* wasmsimd.c: "loadsplat" broadcasts one A element per k with v128.load32_splat; "splat"
 * loads four consecutive A elements of a row and broadcasts each lane with a shuffle. */
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_1x8__wasmsimd_loadsplat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x8__wasmsimd_loadsplat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x8__wasmsimd_loadsplat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x8__wasmsimd_loadsplat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x8__wasmsimd_splat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x8__wasmsimd_splat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x8__wasmsimd_splat);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x8__wasmsimd_loadsplat_u4);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x8__wasmsimd_loadsplat_u4);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x8__wasmsimd_loadsplat_u4);
#endif

#if defined(CLIPDB_X86_KERNELS)
/* avx.c: native x86-64, one 256-bit accumulator per row, separate multiply and add. */
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_3x16__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x16__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x16__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_3x8__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x8__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x8__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x8__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_8x8__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_10x8__avx);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_12x8__avx);

/* fma.c (compiled with -mavx2 -mfma): the avx.c tiles with one vfmadd231ps per k step. */
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x8__fma);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x8__fma);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x8__fma);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_8x8__fma);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x16__fma);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x16__fma);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x16__fma);

/* avx512f.c (compiled with -mavx512f): zmm rows of 16 columns (two adjacent panels); MR×32
 * holds two zmm per row (four panels per pass), MR×16 one. */
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_4x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_5x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_6x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_7x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_8x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_10x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_12x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_14x32__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_8x16__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_10x16__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_12x16__avx512f);
CLIPDB__DECLARE_F32_GEMM_UKERNEL(clipdb_f32_gemm_ukernel_14x16__avx512f);
#endif

/* What a kernel needs from the CPU beyond the build's baseline. */
typedef enum clipdb_f32_gemm_isa {
  CLIPDB_F32_GEMM_ISA_BASELINE = 0, /* scalar, or wasm SIMD128 (validated when the module loads) */
  CLIPDB_F32_GEMM_ISA_X86_AVX = 1,  /* checked at run time (cpuid) */
  /* The two below use fused multiply-add, so they round differently from their scalar twins
   * (one rounding per k step instead of two); checked at run time like AVX. */
  CLIPDB_F32_GEMM_ISA_X86_FMA = 2,     /* AVX2 and FMA3 */
  CLIPDB_F32_GEMM_ISA_X86_AVX512F = 3, /* AVX-512F (CPU and OS: zmm state enabled) */
} clipdb_f32_gemm_isa;

/* One entry of the kernel table. */
typedef struct clipdb_f32_gemm_kernel {
  const char *name;
  clipdb_f32_gemm_ukernel_fn ukernel;
  unsigned mr;       /* rows per tile */
  unsigned nr;       /* columns per call of the microkernel: CLIPDB_F32_GEMM_NR (one packed
                        panel) or a multiple (that many adjacent panels per pass) */
  int twin;          /* index of the scalar twin in the table (itself for scalar kernels);
                        the summation order is the same for every MR, so a twin may differ in MR */
  clipdb_f32_gemm_isa isa;
} clipdb_f32_gemm_kernel;

/* Nonzero when this CPU can run `kern` (tests and benches skip the others). */
int clipdb__f32_gemm_kernel_usable(const clipdb_f32_gemm_kernel *kern);

/* Every kernel compiled into this build (tests and bench/gemm.mjs walk it). */
extern const clipdb_f32_gemm_kernel clipdb__f32_gemm_kernels[];
extern const size_t clipdb__f32_gemm_kernel_count;

/* The kernel operators use: the fastest measured for this ISA that the CPU can run (config.c). */
const clipdb_f32_gemm_kernel *clipdb__f32_gemm_default(void);


/* Floats needed for the packed form of an N-column, K-deep weight: ceil(N/NR)*NR*(K+1). */
size_t clipdb__f32_gemm_packed_size(size_t n, size_t k);

/*
 * Pack W into panels. Element (k, n) of W is weight[n*n_stride + k*k_stride]: a PyTorch
 * Linear weight [N][K] has n_stride = K, k_stride = 1; a K×N row-major matrix has
 * n_stride = 1, k_stride = N. bias may be NULL (zeros). `packed` holds
 * clipdb__f32_gemm_packed_size(n, k) floats.
 */
void clipdb__f32_gemm_pack(size_t n, size_t k, const float *weight, size_t n_stride,
                           size_t k_stride, const float *bias, float *packed);

/*
 * The full GEMM with `kern`: C[m×n] = epilogue(A[m×k] · W + bias). Walks N panel by panel
 * (outer) and M in MR-row tiles (inner), so each weight panel is read from memory once and
 * stays in cache while all of A's tiles pass over it; a large A (over 1 MiB) is first cut into
 * row blocks of about 256 KiB. lda/ldc are row strides (elements).
 */
void clipdb__f32_gemm(const clipdb_f32_gemm_kernel *kern, size_t m, size_t n, size_t k,
                      const float *a, size_t lda, const float *packed, float *c, size_t ldc,
                      clipdb_epilogue ep);

#endif /* CLIPDB_KERNELS_F32_GEMM_H */
