/*
 * qs8 GEMM: int8 weights × int8 activations -> int32 accumulators -> float32 output.
 *
 *   C[m, n] = epilogue( (Σ_p qa[i, p] · qw[j, p]) · row_scale[i] · col_scale[j] )
 *
 * Weights are quantized once at load, symmetric per output channel: qw[j, p] in [-127, 127],
 * col_scale[j] = max_p |w[j, p]| / 127. Activations are quantized on the fly, symmetric per
 * row (one scale per token or output pixel): row_scale[i] = max_p |a[i, p]| / 127, values
 * a · (127 / max_p |a[i, p]|) rounded to nearest (ties to even), in [-127, 127]; a row holding a
 * NaN or an infinity becomes zeros with scale 0. The int32 sums are exact (|sum| <= k·127² fits
 * int32 for k < 133 000), so every kernel of the table gives the same accumulators bit for bit
 * as its scalar twin, whatever order it adds in.
 *
 * Packed weights (clipdb__qs8_packed, opaque outside this folder's kernels): K is padded with
 * zeros to a multiple of 4 (kg = K/4 "groups"), N with zero columns to a multiple of NR = 8.
 * Panel j0 (columns j0..j0+7) is 32 bytes of header (int32 [8]: 128 · Σ_p qw[j, p], used by the
 * VNNI kernel that feeds activations as unsigned a+128) followed by kg groups of 32 bytes:
 * group g holds, for each of the 8 columns in turn, qw[j, 4g..4g+3].
 *
 * The epilogue (shared by every kernel of a build, so outputs agree exactly too) applies, per
 * element and in this order: v = (float)acc · (row_scale · col_scale); v = v + bias; then the
 * residual add and activation of ../epilogue.h (the clipdb_epilogue every GEMM takes). The
 * wasm SIMD128 build computes it four columns at a time with the vector exp of
 * ../wasmsimd-exp.h for QuickGELU (as its f32 GEMM does), native builds with expf.
 */
#ifndef CLIPDB_KERNELS_QS8_GEMM_H
#define CLIPDB_KERNELS_QS8_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "../epilogue.h"

#define CLIPDB_QS8_GEMM_NR 8
/* Largest MR of any kernel (the driver's accumulator tile). */
#define CLIPDB_QS8_GEMM_MAX_MR 4

/*
 * Microkernel: the int32 sums of rows 0..mr-1 (1 <= mr <= MR) of `a` against one packed panel
 * `w` (header included), over kg groups of 4. Row i of a starts at a + i*a_stride (bytes; rows
 * hold kg*4 int8, zero-padded). Writes acc[i*8 + j] for i < mr, j < 8.
 *
 * A "wide" kernel (table field `wide`) takes the same values widened to int16: `a` rows of kg*4
 * int16 (a_stride still in bytes) and `w` the panel's groups without the header, each byte
 * sign-extended in place (kg groups of 32 int16; clipdb__qs8_widen). The driver widens A once
 * per row block and each panel once per row block, so a wide kernel's inner loop only loads
 * and multiplies: in wasm SIMD128 the sign extensions were a third of the instructions.
 */
typedef void (*clipdb_qs8_gemm_ukernel_fn)(size_t mr, size_t kg, const int8_t *a,
                                           size_t a_stride, const int8_t *w, int32_t *acc);

#define CLIPDB__DECLARE_QS8_GEMM_UKERNEL(name)                                                  \
  void name(size_t mr, size_t kg, const int8_t *a, size_t a_stride, const int8_t *w, int32_t *acc)

/*
 * A wide kernel's first-tile form: the same sums as the wide kernel for rows 0..mr-1 of the
 * int16 `a`, but `w` is the packed int8 panel (header included, as a narrow kernel takes it);
 * it sign-extends each group as it goes and also writes the panel's int16 groups to `w16_out`
 * (kg·32 int16, exactly what clipdb__qs8_widen writes), which the wide kernel then reads for
 * the panel's other row tiles. The driver calls it for each panel's first tile, so reading the
 * int8 panel from memory (what bounds a small-M GEMM such as a short query's) overlaps the
 * multiply-adds instead of coming before them in a separate widening pass.
 */
typedef void (*clipdb_qs8_gemm_widen_ukernel_fn)(size_t mr, size_t kg, const int8_t *a,
                                                 size_t a_stride, const int8_t *w, int32_t *acc,
                                                 int16_t *w16_out);

#define CLIPDB__DECLARE_QS8_GEMM_WIDEN_UKERNEL(name)                                            \
  void name(size_t mr, size_t kg, const int8_t *a, size_t a_stride, const int8_t *w, int32_t *acc, \
            int16_t *w16_out)

CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_1x8c4__scalar);
CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_4x8c4__scalar);
#if defined(CLIPDB_WASM_SIMD)
/* wasmsimd.c: int8 widened to int16, i32x4.dot_i16x8_s. */
CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16);
CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_4x8c4__wasmsimd_dot16);
/* wide: int16 A and panel, v128.load64_splat of A's 4 values, i32x4.dot_i16x8_s. */
CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16_wide);
/* its first-tile form (see clipdb_qs8_gemm_widen_ukernel_fn) */
CLIPDB__DECLARE_QS8_GEMM_WIDEN_UKERNEL(clipdb_qs8_gemm_ukernel_2x8c4__wasmsimd_dot16_widen);
#endif
#if defined(CLIPDB_X86_KERNELS)
/* avx.c: AVX2 vpmaddubsw(|a|, sign(w, a)) + vpmaddwd; AVX-512 VNNI vpdpbusd on 256-bit vectors. */
CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_4x8c4__avx2);
CLIPDB__DECLARE_QS8_GEMM_UKERNEL(clipdb_qs8_gemm_ukernel_4x8c4__avx512vnni);
#endif

/* What a kernel needs from the CPU beyond the build's baseline (checked at run time). */
typedef enum clipdb_qs8_gemm_isa {
  CLIPDB_QS8_GEMM_ISA_BASELINE = 0, /* scalar, or wasm SIMD128 */
  CLIPDB_QS8_GEMM_ISA_X86_AVX2 = 1,
  CLIPDB_QS8_GEMM_ISA_X86_AVX512VNNI = 2, /* AVX-512 VNNI + VL */
} clipdb_qs8_gemm_isa;

typedef struct clipdb_qs8_gemm_kernel {
  const char *name;
  clipdb_qs8_gemm_ukernel_fn ukernel;
  unsigned mr;
  int twin; /* index of the scalar twin in the table */
  clipdb_qs8_gemm_isa isa;
  int wide; /* 1: takes int16 A rows and int16 panels (see the microkernel contract) */
  /* a wide kernel's first-tile form, or NULL (the driver then widens each panel first) */
  clipdb_qs8_gemm_widen_ukernel_fn widen_ukernel;
} clipdb_qs8_gemm_kernel;

extern const clipdb_qs8_gemm_kernel clipdb__qs8_gemm_kernels[];
extern const size_t clipdb__qs8_gemm_kernel_count;

/* Nonzero when this CPU can run `kern`. */
int clipdb__qs8_gemm_kernel_usable(const clipdb_qs8_gemm_kernel *kern);
/* The table entry called `name`, or NULL. */
const clipdb_qs8_gemm_kernel *clipdb__qs8_gemm_find(const char *name);
/* The kernel layers use: the best one the CPU can run (VNNI, then AVX2, else the baseline). */
const clipdb_qs8_gemm_kernel *clipdb__qs8_gemm_default(void);

/* Packed int8 weights of one layer (one allocation; see the layout above). */
typedef struct clipdb__qs8_packed {
  size_t n, k, kg;   /* output columns, inputs, groups of 4 inputs */
  int8_t *panels;    /* ceil(n/8) panels of 32 + 32·kg bytes */
  float *col_scale;  /* [ceil(n/8)·8], 0 past n */
  float *bias;       /* [ceil(n/8)·8], 0 past n */
} clipdb__qs8_packed;

/*
 * Quantize float W (element (j, p) at w[j*stride_n + p*stride_k]) per output channel and pack
 * it with `bias` (NULL: zeros). Returns NULL when out of memory. Free with clipdb__qs8_free.
 */
clipdb__qs8_packed *clipdb__qs8_pack_f32(size_t n, size_t k, const float *w, size_t stride_n,
                                         size_t stride_k, const float *bias);
void clipdb__qs8_free(clipdb__qs8_packed *p);
/* Bytes held by `p`. */
size_t clipdb__qs8_bytes(const clipdb__qs8_packed *p);

/* Symmetric per-row quantization of one row x[k] into q[kpad] (zeros past k); returns the
 * scale (max|x|/127; 0 for an all-zero row or one holding a NaN or an infinity, which become
 * zeros). Values x · (127/max|x|) rounded to nearest, ties to even (wasm SIMD128 and scalar
 * code give the same bytes). */
float clipdb__qs8_quantize_row(size_t k, size_t kpad, const float *x, int8_t *q);
/* Its two steps, for callers that assemble a row from pieces (the int8 im2col of
 * src/nn/ops.c): max|x[i]| over i < k (NaN when x holds a NaN), and q[i] = x[i] · inv rounded
 * as above, i < n. A row quantized piece by piece with inv = 127 / (the row's max) gets the
 * bytes clipdb__qs8_quantize_row gives the whole row. */
float clipdb__qs8_amax(size_t k, const float *x);
void clipdb__qs8_quantize_scaled(size_t n, const float *x, float inv, int8_t *q);

/* dst[i] = src[i] as int16, i < n (a wide kernel's operands). */
void clipdb__qs8_widen(size_t n, const int8_t *src, int16_t *dst);

/* Where the int8 rows of m rows start in clipdb__qs8_gemm's scratch: after the m float row
 * scales, rounded up to 64 bytes. */
#define CLIPDB__QS8_SCRATCH_ROWS(scratch, m) ((int8_t *)(scratch) + ((m) * sizeof(float) + 63) / 64 * 64)

/* Bytes of scratch clipdb__qs8_gemm needs for m rows: quantized A plus row scales. */
size_t clipdb__qs8_scratch_bytes(size_t m, size_t k);

/*
 * C[m, n] = epilogue(quantize(A) · Wᵀ) with `kern`; A [m, k] float rows `lda` apart, C rows
 * `ldc` apart (A and C must not overlap); `ep`'s residual is indexed like C (element (i, j) of
 * the whole, not of the slice). `scratch` holds clipdb__qs8_scratch_bytes(m, k) bytes. Columns
 * [n0, n1) only (a thread's slice; whole panels: n0 a multiple of 8).
 */
void clipdb__qs8_gemm_quantize_a(size_t m, size_t k, const float *a, size_t lda, void *scratch);
void clipdb__qs8_gemm_columns(const clipdb_qs8_gemm_kernel *kern, size_t m,
                              const clipdb__qs8_packed *w, const void *scratch, size_t n0,
                              size_t n1, float *c, size_t ldc, clipdb_epilogue ep);

#endif
