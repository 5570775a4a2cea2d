/*
 * The kernel configurations (contract: config.h). Each is resolved once per process, on first
 * use, from the families' kernel tables and this CPU's features; the current one is an index
 * into the names.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifndef CLIPDB_DEFAULT_KERNELS
#define CLIPDB_DEFAULT_KERNELS "auto"
#endif

const char *const clipdb__kernel_config_names[] = {
    "auto", "scalar",
#if defined(CLIPDB_X86_KERNELS)
    "avx",  "avx2",   "avx512",
#endif
    NULL,
};
#define N_CONFIGS (sizeof clipdb__kernel_config_names / sizeof clipdb__kernel_config_names[0] - 1)

static const clipdb_f32_gemm_kernel *f32_by_fn(clipdb_f32_gemm_ukernel_fn fn) {
  for (size_t i = 0; i < clipdb__f32_gemm_kernel_count; i++)
    if (clipdb__f32_gemm_kernels[i].ukernel == fn) {
      const clipdb_f32_gemm_kernel *k = &clipdb__f32_gemm_kernels[i];
      return clipdb__f32_gemm_kernel_usable(k) ? k : NULL;
    }
  return NULL;
}

/* The kernel beside `k` for row counts it does not pad clearly better (config.h): 7x32 beside
 * 10x32 with AVX-512F; NULL for every other kernel. */
static const clipdb_f32_gemm_kernel *f32_rows_partner(const clipdb_f32_gemm_kernel *k) {
#if defined(CLIPDB_X86_KERNELS)
  if (k != NULL && k->ukernel == clipdb_f32_gemm_ukernel_10x32__avx512f)
    return f32_by_fn(clipdb_f32_gemm_ukernel_7x32__avx512f);
#endif
  (void)k;
  return NULL;
}

static const clipdb_qs8_gemm_kernel *qs8_by_name(const char *name) {
  const clipdb_qs8_gemm_kernel *k = clipdb__qs8_gemm_find(name);
  return k != NULL && clipdb__qs8_gemm_kernel_usable(k) ? k : NULL;
}

/* Fills *c with configuration `name`; returns 0 or CLIPDB__KERNELS_UNSUPPORTED. */
static int resolve(const char *name, clipdb_kernel_config *c) {
  memset(c, 0, sizeof *c);
  c->name = name;
  /* the portable kernels: "scalar" keeps all of them, the others replace some */
  c->f32_gemm = f32_by_fn(clipdb_f32_gemm_ukernel_4x8__scalar);
  c->qs8_gemm = qs8_by_name("qs8_gemm_4x8c4__scalar");
  c->f32_softmax = clipdb_f32_softmax_ukernel__scalar;
  c->f32_dot = clipdb_f32_dot_ukernel__scalar, c->f32_dot_name = "clipdb_f32_dot_ukernel__scalar";
  c->qs8_dot = clipdb_qs8_dot_ukernel__scalar, c->qs8_dot_name = "clipdb_qs8_dot_ukernel__scalar";
  if (strcmp(name, "scalar") == 0) return 0;
  if (strcmp(name, "auto") == 0) {
    c->f32_gemm = clipdb__f32_gemm_default();
    c->qs8_gemm = clipdb__qs8_gemm_default();
    c->f32_softmax = clipdb__f32_softmax_default();
    c->f32_gemm_rows = f32_rows_partner(c->f32_gemm);
#if defined(CLIPDB_WASM_SIMD)
    c->f32_dot = clipdb_f32_dot_ukernel__wasmsimd_u16;
    c->f32_dot_name = "clipdb_f32_dot_ukernel__wasmsimd_u16";
    c->qs8_dot = clipdb_qs8_dot_ukernel__wasmsimd_u16;
    c->qs8_dot_name = "clipdb_qs8_dot_ukernel__wasmsimd_u16";
#endif
    return 0;
  }
#if defined(CLIPDB_X86_KERNELS)
  if (strcmp(name, "avx") == 0) {
    c->f32_gemm = f32_by_fn(clipdb_f32_gemm_ukernel_5x16__avx);
    return c->f32_gemm != NULL ? 0 : CLIPDB__KERNELS_UNSUPPORTED;
  }
  if (strcmp(name, "avx2") == 0) {
    c->f32_gemm = f32_by_fn(clipdb_f32_gemm_ukernel_6x16__fma);
    c->qs8_gemm = qs8_by_name("qs8_gemm_4x8c4__avx2");
    return c->f32_gemm != NULL && c->qs8_gemm != NULL ? 0 : CLIPDB__KERNELS_UNSUPPORTED;
  }
  if (strcmp(name, "avx512") == 0) {
    c->f32_gemm = f32_by_fn(clipdb_f32_gemm_ukernel_10x32__avx512f);
    c->f32_gemm_rows = f32_rows_partner(c->f32_gemm);
    c->qs8_gemm = qs8_by_name("qs8_gemm_4x8c4__avx512vnni");
    if (c->qs8_gemm == NULL) c->qs8_gemm = qs8_by_name("qs8_gemm_4x8c4__avx2");
    return c->f32_gemm != NULL && c->f32_gemm_rows != NULL && c->qs8_gemm != NULL
               ? 0
               : CLIPDB__KERNELS_UNSUPPORTED;
  }
#endif
  return CLIPDB__KERNELS_UNSUPPORTED;
}

/* Per configuration: 0 not resolved yet, 1 being resolved, 2 resolved, 3 unsupported here. */
static clipdb_kernel_config configs[N_CONFIGS];
static atomic_int states[N_CONFIGS];

static int index_of(const char *name) {
  for (size_t i = 0; name != NULL && i < N_CONFIGS; i++)
    if (strcmp(clipdb__kernel_config_names[i], name) == 0) return (int)i;
  return -1;
}

/* Configuration i (an index into the names), resolved on first use; NULL with *err set when
 * this CPU cannot run it. */
static const clipdb_kernel_config *find_index(int i, int *err) {
  int s = atomic_load_explicit(&states[i], memory_order_acquire);
  if (s < 2) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&states[i], &expected, 1)) {
      s = resolve(clipdb__kernel_config_names[i], &configs[i]) == 0 ? 2 : 3;
      atomic_store_explicit(&states[i], s, memory_order_release);
    } else {
      /* another thread is resolving it: a few table lookups */
      while ((s = atomic_load_explicit(&states[i], memory_order_acquire)) < 2) {
      }
    }
  }
  if (s == 3) {
    if (err != NULL) *err = CLIPDB__KERNELS_UNSUPPORTED;
    return NULL;
  }
  return &configs[i];
}

const clipdb_kernel_config *clipdb__kernels_find(const char *name, int *err) {
  const int i = index_of(name);
  if (i < 0) {
    if (err != NULL) *err = CLIPDB__KERNELS_UNKNOWN;
    return NULL;
  }
  return find_index(i, err);
}

/* The current configuration's index: set once from the default (or CLIPDB_KERNELS) on first
 * use, then only by clipdb__kernels_select, which accepts only configurations this CPU runs. */
static atomic_int current = -1;

const clipdb_kernel_config *clipdb__kernels(void) {
  int i = atomic_load_explicit(&current, memory_order_acquire);
  if (i < 0) {
    /* the build's default ("auto" or "scalar": every CPU runs both) */
    int def = index_of(CLIPDB_DEFAULT_KERNELS);
#if !defined(__EMSCRIPTEN__)
    const char *env = getenv("CLIPDB_KERNELS");
    if (clipdb__kernels_find(env, NULL) != NULL) def = index_of(env);
#endif
    int expected = -1;
    i = atomic_compare_exchange_strong(&current, &expected, def) ? def : expected;
  }
  /* a lookup by index, not by name: this runs for every GEMM */
  return find_index(i, NULL);
}

int clipdb__kernels_select(const char *name) {
  int err = 0;
  if (clipdb__kernels_find(name, &err) == NULL) return err;
  atomic_store_explicit(&current, index_of(name), memory_order_release);
  return 0;
}

const clipdb_f32_gemm_kernel *clipdb__kernels_f32_gemm_for_rows(const clipdb_kernel_config *cfg,
                                                               size_t m) {
  const clipdb_f32_gemm_kernel *def = cfg->f32_gemm, *alt = cfg->f32_gemm_rows;
  if (alt == NULL) return def;
  const size_t pad_def = (m + def->mr - 1) / def->mr * def->mr;
  const size_t pad_alt = (m + alt->mr - 1) / alt->mr * alt->mr;
  return pad_def * 101 < pad_alt * 100 ? def : alt;
}
