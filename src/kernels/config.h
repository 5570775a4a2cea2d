/*
 * The kernel configuration: which microkernel of each family (f32 GEMM, qs8 GEMM, f32 softmax,
 * f32 and qs8 dot products) the operators call, chosen together under one name. Operators
 * never name a kernel; they take the current configuration's.
 *
 *   "auto"    the fastest kernel of each family that this build and this CPU run (wasm
 *             SIMD128 in the wasm build; natively the x86 kernels by cpuid: AVX-512F, else
 *             AVX2 + FMA, else AVX for f32 GEMM; AVX-512 VNNI, else AVX2 for qs8 GEMM)
 *   "scalar"  the portable C twin of every family (the `scalar` backend's configuration; every
 *             other kernel is tested against these)
 *
 * Natively on x86-64 also, each only where the CPU has what it names (else
 * CLIPDB__KERNELS_UNSUPPORTED):
 *   "avx"     f32 GEMM 5x16 AVX (separate multiply and add: bit for bit its scalar twin);
 *             every other family scalar
 *   "avx2"    f32 GEMM 6x16 FMA, qs8 GEMM 4x8 AVX2; softmax and dot scalar
 *   "avx512"  f32 GEMM 10x32 / 7x32 AVX-512F, qs8 GEMM 4x8 AVX-512 VNNI (AVX2 where the CPU has
 *             AVX-512F without VNNI); softmax and dot scalar
 *
 * Every configuration packs weights the same way (f32: 8-column panels, qs8: the layout of
 * qs8-gemm.h), so the configuration may change between calls with models loaded; not while
 * a model computes. The process starts on the build's default (CLIPDB_DEFAULT_KERNELS: "scalar"
 * for the scalar backend, else "auto"), or on the environment variable CLIPDB_KERNELS where it
 * names a configuration this CPU runs (native builds; an unknown or unsupported name there is
 * ignored).
 */
#ifndef CLIPDB_KERNELS_CONFIG_H
#define CLIPDB_KERNELS_CONFIG_H

#include <stddef.h>

#include "f32-dot/f32-dot.h"
#include "f32-gemm/f32-gemm.h"
#include "f32-softmax/f32-softmax.h"
#include "qs8-dot/qs8-dot.h"
#include "qs8-gemm/qs8-gemm.h"

typedef struct clipdb_kernel_config {
  const char *name;
  const clipdb_f32_gemm_kernel *f32_gemm; /* every f32 GEMM, unless f32_gemm_rows says otherwise */
  /* or NULL: the kernel for GEMMs whose row count f32_gemm does not pad to clearly fewer rows
   * (see clipdb__kernels_f32_gemm_for_rows) */
  const clipdb_f32_gemm_kernel *f32_gemm_rows;
  const clipdb_qs8_gemm_kernel *qs8_gemm;
  clipdb_f32_softmax_ukernel_fn f32_softmax;
  clipdb_f32_dot_ukernel_fn f32_dot; /* the vector index: one query against many rows */
  const char *f32_dot_name;
  clipdb_qs8_dot_ukernel_fn qs8_dot; /* int16 query against int8 codes (candidate search) */
  const char *qs8_dot_name;
} clipdb_kernel_config;

#define CLIPDB__KERNELS_UNKNOWN (-1)     /* no configuration of that name in this build */
#define CLIPDB__KERNELS_UNSUPPORTED (-2) /* this CPU lacks an instruction set it needs */

/* The configuration names this build knows, in the order above; NULL-terminated. */
extern const char *const clipdb__kernel_config_names[];

/* The configuration `name` for this CPU (never NULL), or NULL with *err set (err may be NULL).
 * The result lives as long as the process. */
const clipdb_kernel_config *clipdb__kernels_find(const char *name, int *err);

/* The configuration operators use now (never NULL). */
const clipdb_kernel_config *clipdb__kernels(void);

/* Make `name` the current configuration, process-wide. Returns 0, or CLIPDB__KERNELS_UNKNOWN /
 * CLIPDB__KERNELS_UNSUPPORTED (the current one is kept). Not while a model computes. */
int clipdb__kernels_select(const char *name);

/* The f32 GEMM kernel of `cfg` for a GEMM of m rows: f32_gemm_rows, unless f32_gemm pads m to
 * more than 1% fewer rows (ViT-B/32's 50 tokens with 10x32 against 7x32), then f32_gemm. */
const clipdb_f32_gemm_kernel *clipdb__kernels_f32_gemm_for_rows(const clipdb_kernel_config *cfg,
                                                               size_t m);

#endif
