/*
 * Native f32 GEMM throughput of every kernel this CPU can run, single-threaded, on two shape
 * sets: the ViT-B/32 linear layers (M = 50 tokens; K, N in {768, 3072}) and the RN50 image
 * encoder's im2col GEMMs at 224×224 (M = output pixels, K = in-channels × kernel area,
 * N = out-channels: stem, layer1-4 3×3 and 1×1 convolutions). The native twin of
 * bench/gemm.mjs. GFLOP/s = 2·M·N·K / time; median of the timed runs, kernels alternating
 * after a warm-up; one geomean per shape set. Built and run by bench/run --native:
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/gemm-native.c \
 *       build/native-simd/libclipdb.a -lm
 * Usage: gemm-native [name-filter ...]   only kernels whose name contains one of the filters
 *        (e.g. `gemm-native avx512f 5x16__avx`); the default kernel is always measured.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clipdb-impl.h"
#include "kernels/f32-gemm/f32-gemm.h"

#define REPS 15
#define MAX_KERNELS 48

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* {M, K, N}; the first VIT_SHAPES are ViT-B/32's, the rest RN50's */
#define VIT_SHAPES 3
static const size_t shapes[][3] = {
    {50, 768, 768}, {50, 768, 3072}, {50, 3072, 768},
    {12544, 288, 32},  /* stem conv2 3x3 32->32 at 112x112 */
    {12544, 288, 64},  /* stem conv3 3x3 32->64 */
    {3136, 576, 64},   /* layer1 3x3 64->64 at 56x56 */
    {3136, 256, 64},   /* layer1 1x1 256->64 */
    {3136, 64, 256},   /* layer1 1x1 64->256 */
    {784, 1152, 128},  /* layer2 3x3 128->128 at 28x28 */
    {196, 2304, 256},  /* layer3 3x3 256->256 at 14x14 */
    {49, 4608, 512},   /* layer4 3x3 512->512 at 7x7 */
    {49, 512, 2048},   /* layer4 1x1 512->2048 */
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static int wanted(const char *name, int argc, char **argv) {
  if (argc < 2) return 1;
  for (int i = 1; i < argc; i++)
    if (strstr(name, argv[i]) != NULL) return 1;
  return 0;
}

int main(int argc, char **argv) {
  const clipdb_f32_gemm_kernel *def = clipdb__f32_gemm_default();
  const clipdb_f32_gemm_kernel *kerns[MAX_KERNELS];
  size_t nk = 0;
  for (size_t i = 0; i < clipdb__f32_gemm_kernel_count && nk < MAX_KERNELS; i++) {
    const clipdb_f32_gemm_kernel *kern = &clipdb__f32_gemm_kernels[i];
    if (clipdb__f32_gemm_kernel_usable(kern) && kern->mr > 1 &&
        (kern == def || wanted(kern->name, argc, argv)))
      kerns[nk++] = kern;
  }
  double geo[MAX_KERNELS][2] = {{0}};
  printf("kernel                     M     K     N   median ms  GFLOP/s\n");
  for (size_t s = 0; s < N_SHAPES; s++) {
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
        clipdb__f32_gemm(kerns[ki], m, n, k, a, k, packed, c, n,
                         clipdb_epilogue_act(CLIPDB_ACT_NONE));
        if (rep >= 0) t[ki][rep] = now_ms() - t0;
      }
    for (size_t ki = 0; ki < nk; ki++) {
      qsort(t[ki], REPS, sizeof(double), cmp_double);
      const double ms = t[ki][REPS / 2], gflops = 2.0 * m * n * k / (ms * 1e6);
      geo[ki][s >= VIT_SHAPES] += gflops > 0 ? log(gflops) : 0;
      printf("%-26s %s %4zu %5zu %5zu %10.3f %8.1f\n", kerns[ki]->name, kerns[ki] == def ? "*" : " ",
             m, k, n, ms, gflops);
    }
    free(a), free(w), free(c);
    clipdb__free(packed);
  }
  printf("geomean GFLOP/s             ViT-B/32  RN50\n");
  for (size_t ki = 0; ki < nk; ki++)
    printf("%-26s %s %8.1f %6.1f\n", kerns[ki]->name, kerns[ki] == def ? "*" : " ",
           exp(geo[ki][0] / VIT_SHAPES), exp(geo[ki][1] / (N_SHAPES - VIT_SHAPES)));
  return 0;
}
