/*
 * x86 qs8 GEMM microkernels (native builds; each function carries its own target attribute
 * and runs only where cpuid says the CPU has the extension, see config.c).
 *
 * AVX2: vpmaddubsw multiplies unsigned by signed bytes, so activations go in as |a| and the
 * weights as sign(a)·w (vpsignb): |a|·sign(a)·w = a·w. Each int16 lane sums two products of
 * magnitude <= 127·127, so it never saturates (2·16129 < 32767); vpmaddwd with ones widens the
 * pairs to int32. AVX-512 VNNI: vpdpbusd adds four u8·s8 products straight into int32 without
 * saturation; activations go in as a + 128 (xor 0x80) and the panel header's 128·Σw is
 * subtracted at the end. Both give exactly the scalar twin's sums.
 */
#include <immintrin.h>
#include <string.h>

#include "qs8-gemm.h"

static inline int32_t load4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

__attribute__((target("avx2"))) void clipdb_qs8_gemm_ukernel_4x8c4__avx2(
    size_t mr, size_t kg, const int8_t *a, size_t a_stride, const int8_t *w, int32_t *acc) {
  const int8_t *a0 = a;
  const int8_t *a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t *a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t *a3 = mr > 3 ? a2 + a_stride : a2;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  w += 32;
  for (size_t g = 0; g < kg; g++) {
    const __m256i vw = _mm256_load_si256((const __m256i *)w);
    const __m256i v0 = _mm256_set1_epi32(load4(a0)), v1 = _mm256_set1_epi32(load4(a1));
    const __m256i v2 = _mm256_set1_epi32(load4(a2)), v3 = _mm256_set1_epi32(load4(a3));
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v0), _mm256_sign_epi8(vw, v0)), ones));
    c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v1), _mm256_sign_epi8(vw, v1)), ones));
    c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v2), _mm256_sign_epi8(vw, v2)), ones));
    c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v3), _mm256_sign_epi8(vw, v3)), ones));
    a0 += 4, a1 += 4, a2 += 4, a3 += 4;
    w += 32;
  }
  _mm256_storeu_si256((__m256i *)acc, c0);
  if (mr > 1) _mm256_storeu_si256((__m256i *)(acc + 8), c1);
  if (mr > 2) _mm256_storeu_si256((__m256i *)(acc + 16), c2);
  if (mr > 3) _mm256_storeu_si256((__m256i *)(acc + 24), c3);
}

__attribute__((target("avx2,avx512vnni,avx512vl"))) void clipdb_qs8_gemm_ukernel_4x8c4__avx512vnni(
    size_t mr, size_t kg, const int8_t *a, size_t a_stride, const int8_t *w, int32_t *acc) {
  const int8_t *a0 = a;
  const int8_t *a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t *a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t *a3 = mr > 3 ? a2 + a_stride : a2;
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  const __m256i corr = _mm256_load_si256((const __m256i *)w);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  w += 32;
  for (size_t g = 0; g < kg; g++) {
    const __m256i vw = _mm256_load_si256((const __m256i *)w);
    c0 = _mm256_dpbusd_epi32(c0, _mm256_xor_si256(_mm256_set1_epi32(load4(a0)), flip), vw);
    c1 = _mm256_dpbusd_epi32(c1, _mm256_xor_si256(_mm256_set1_epi32(load4(a1)), flip), vw);
    c2 = _mm256_dpbusd_epi32(c2, _mm256_xor_si256(_mm256_set1_epi32(load4(a2)), flip), vw);
    c3 = _mm256_dpbusd_epi32(c3, _mm256_xor_si256(_mm256_set1_epi32(load4(a3)), flip), vw);
    a0 += 4, a1 += 4, a2 += 4, a3 += 4;
    w += 32;
  }
  _mm256_storeu_si256((__m256i *)acc, _mm256_sub_epi32(c0, corr));
  if (mr > 1) _mm256_storeu_si256((__m256i *)(acc + 8), _mm256_sub_epi32(c1, corr));
  if (mr > 2) _mm256_storeu_si256((__m256i *)(acc + 16), _mm256_sub_epi32(c2, corr));
  if (mr > 3) _mm256_storeu_si256((__m256i *)(acc + 24), _mm256_sub_epi32(c3, corr));
}
