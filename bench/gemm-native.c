/*
 * Native f32 GEMM throughput of every kernel this CPU can run, single-threaded, on the
 * ViT-B/32 linear-layer shapes (M = 50 tokens; K, N in {768, 3072}): the native twin of
 * bench/gemm.mjs. GFLOP/s = 2·M·N·K / time; median of the timed runs, kernels alternating
 * after a warm-up. Built and run by bench/run --native:
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/gemm-native.c \
 *       build/native/libclipdb.a -lXNNPACK -lpthreadpool -lpthread -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clipdb-impl.h"
#include "kernels/f32-gemm/f32-gemm.h"

#define REPS 15
#define MAX_KERNELS 32

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(void) {
  static const size_t shapes[][3] = {{50, 768, 768}, {50, 768, 3072}, {50, 3072, 768}};
  const clipdb_f32_gemm_kernel *def = clipdb__f32_gemm_default();
  const clipdb_f32_gemm_kernel *kerns[MAX_KERNELS];
  size_t nk = 0;
  for (size_t i = 0; i < clipdb__f32_gemm_kernel_count && nk < MAX_KERNELS; i++)
    if (clipdb__f32_gemm_kernel_usable(&clipdb__f32_gemm_kernels[i]) &&
        clipdb__f32_gemm_kernels[i].mr > 1)
      kerns[nk++] = &clipdb__f32_gemm_kernels[i];
  double geo[MAX_KERNELS] = {0};
  printf("kernel                     M     K     N   median ms  GFLOP/s\n");
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const size_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
    float *a = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
    float *c = malloc(sizeof(float) * m * n);
    float *packed = clipdb__malloc(sizeof(float) * clipdb__f32_gemm_packed_size(n, k));
    if (!a || !w || !c || !packed) return 1;
    for (size_t i = 0; i < m * k; i++) a[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    for (size_t i = 0; i < n * k; i++) w[i] = (float)((i * 53 % 97) - 48) / 48.0f;
    clipdb__f32_gemm_pack(n, k, w, k, 1, NULL, packed);
    double t[MAX_KERNELS][REPS];
    for (int rep = -2; rep < REPS; rep++)
      for (size_t ki = 0; ki < nk; ki++) {
        const double t0 = now_ms();
        clipdb__f32_gemm(kerns[ki], m, n, k, a, k, packed, c, n, NULL, 0, CLIPDB_F32_ACT_NONE);
        if (rep >= 0) t[ki][rep] = now_ms() - t0;
      }
    for (size_t ki = 0; ki < nk; ki++) {
      qsort(t[ki], REPS, sizeof(double), cmp_double);
      const double ms = t[ki][REPS / 2], gflops = 2.0 * m * n * k / (ms * 1e6);
      geo[ki] += gflops > 0 ? log(gflops) : 0;
      printf("%-24s %s %4zu %5zu %5zu %10.3f %8.1f\n", kerns[ki]->name, kerns[ki] == def ? "*" : " ",
             m, k, n, ms, gflops);
    }
    free(a), free(w), free(c);
    clipdb__free(packed);
  }
  for (size_t ki = 0; ki < nk; ki++)
    printf("geomean %-24s %6.1f GFLOP/s\n", kerns[ki]->name, exp(geo[ki] / 3));
  return 0;
}
