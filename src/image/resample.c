/*
 * Pillow's Image.resize, as the official CLIP transform uses it, restricted to the window the
 * centre crop keeps. The arithmetic follows Pillow 9.4's libImaging (Resample.c for BICUBIC,
 * Geometry.c ImagingScaleAffine for NEAREST) step for step, because the golden pixels are
 * bit-exact Pillow output:
 *
 *  - per axis, scale = in/out and fs = max(1, scale) (antialiasing when downscaling); output
 *    index o samples input [max(0, int(c - 2fs + 0.5)), min(in, int(c + 2fs + 0.5))) around
 *    c = (o + 0.5)·scale with weights K((x - c + 0.5)/fs), K the bicubic kernel (a = -0.5),
 *    divided by their sum, all in double;
 *  - 8-bit modes: weights in fixed point with 22 fractional bits (rounded half away from
 *    zero), accumulator starting at 2^21, result >> 22 clamped to 0..255, horizontal pass
 *    first into an 8-bit image, then the vertical pass; an axis whose size does not change
 *    is not resampled at all;
 *  - mode I: the same weights in double, each pass rounded half away from zero to int32,
 *    never clamped;
 *  - NEAREST (modes P and 1): source x = int(x0) with x0 accumulated as 0.5·s, +s, +s, ...
 *    where s = in/out.
 * Computing only the kept window gives the same pixels: each output pixel depends only on
 * its own weights, and Pillow's intermediate image is cut to the rows the window needs too.
 */
#include <math.h>
#include <string.h>

#include "image.h"

#define PRECISION_BITS 22

static double bicubic(double x) {
  /* Keys' cubic convolution kernel with a = -0.5, written as Pillow evaluates it. */
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
  return 0.0;
}

/* Weights of outputs [first, first + n) of an axis resized from in_size to out_size. */
typedef struct axis {
  int32_t ksize;   /* weights per output (stride of k / k8) */
  int32_t *bounds; /* [n][2]: first input index, number of inputs */
  double *k;       /* [n][ksize] normalised weights */
  int32_t *k8;     /* [n][ksize] the same in 22-bit fixed point */
} axis;

static void axis_release(axis *ax) {
  clipdb__free(ax->bounds);
  clipdb__free(ax->k);
  clipdb__free(ax->k8);
  memset(ax, 0, sizeof *ax);
}

static clipdb_status axis_init(int32_t in_size, int32_t out_size, int32_t first, int32_t n,
                               axis *ax) {
  memset(ax, 0, sizeof *ax);
  /* Pillow passes the box as floats: (float)in_size - 0.0f, then divides in double. */
  const double scale = (double)((float)in_size - 0.0f) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  const int32_t ksize = (int32_t)ceil(support) * 2 + 1;
  ax->ksize = ksize;
  ax->bounds = clipdb__malloc((size_t)n * 2 * sizeof(int32_t));
  ax->k = clipdb__malloc((size_t)n * (size_t)ksize * sizeof(double));
  ax->k8 = clipdb__malloc((size_t)n * (size_t)ksize * sizeof(int32_t));
  if (ax->bounds == NULL || ax->k == NULL || ax->k8 == NULL) {
    axis_release(ax);
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to resize image: out of memory for %d x %d resampling weights",
                         (int)n, (int)ksize);
  }
  for (int32_t i = 0; i < n; i++) {
    const int32_t o = first + i;
    const double center = 0.0 + (o + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int32_t lo = (int32_t)(center - support + 0.5);
    if (lo < 0) lo = 0;
    int32_t hi = (int32_t)(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int32_t count = hi - lo;
    double *k = ax->k + (size_t)i * ksize;
    double sum = 0.0;
    for (int32_t x = 0; x < count; x++) {
      const double w = bicubic((x + lo - center + 0.5) * ss);
      k[x] = w;
      sum += w;
    }
    for (int32_t x = 0; x < count; x++)
      if (sum != 0.0) k[x] /= sum;
    for (int32_t x = count; x < ksize; x++) k[x] = 0.0;
    int32_t *k8 = ax->k8 + (size_t)i * ksize;
    for (int32_t x = 0; x < ksize; x++)
      k8[x] = k[x] < 0 ? (int32_t)(-0.5 + k[x] * (1 << PRECISION_BITS))
                       : (int32_t)(0.5 + k[x] * (1 << PRECISION_BITS));
    ax->bounds[2 * i + 0] = lo;
    ax->bounds[2 * i + 1] = count;
  }
  return CLIPDB_STATUS_SUCCESS;
}

static inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> PRECISION_BITS; /* arithmetic shift: floor, as Pillow's table */
  return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

static inline int32_t round_half_away(double f) {
  return (int32_t)(f >= 0.0 ? f + 0.5 : f - 0.5);
}

static clipdb_status alloc_image(clipdb__image *img, int32_t w, int32_t h, int32_t channels,
                                 int32_t mode) {
  memset(img, 0, sizeof *img);
  img->width = w;
  img->height = h;
  img->channels = channels;
  img->mode = mode;
  const size_t n = (size_t)w * (size_t)h * (size_t)channels;
  if (mode == CLIPDB__MODE_I) img->i32 = clipdb__malloc(n * sizeof(int32_t));
  else img->u8 = clipdb__malloc(n);
  if (img->u8 == NULL && img->i32 == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to resize image: out of memory for %d x %d x %d samples",
                         (int)w, (int)h, (int)channels);
  return CLIPDB_STATUS_SUCCESS;
}

/* NEAREST as ImagingScaleAffine: positions accumulated in double from the first column. */
static clipdb_status nearest_index(int32_t in_size, int32_t out_size, int32_t first, int32_t n,
                                   int32_t **out) {
  int32_t *idx = clipdb__malloc((size_t)n * sizeof(int32_t));
  if (idx == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to resize image: out of memory");
  const double step = (double)((float)in_size - 0.0f) / out_size;
  double pos = 0.0 + step * 0.5;
  for (int32_t o = 0; o < first + n; o++) {
    if (o >= first) {
      int32_t v = pos < 0.0 ? -1 : (int32_t)pos;
      /* cannot leave the image for a plain scale; clamp defensively */
      idx[o - first] = v < 0 ? 0 : v >= in_size ? in_size - 1 : v;
    }
    pos += step;
  }
  *out = idx;
  return CLIPDB_STATUS_SUCCESS;
}

static clipdb_status resize_nearest(const clipdb__image *in, int32_t tw, int32_t th,
                                    int32_t left, int32_t top, int32_t side,
                                    clipdb__image *out) {
  int32_t *xi = NULL, *yi = NULL;
  clipdb_status status = nearest_index(in->width, tw, left, side, &xi);
  if (status == CLIPDB_STATUS_SUCCESS) status = nearest_index(in->height, th, top, side, &yi);
  if (status == CLIPDB_STATUS_SUCCESS)
    status = alloc_image(out, side, side, in->channels, in->mode);
  if (status == CLIPDB_STATUS_SUCCESS) {
    const int32_t c = in->channels;
    for (int32_t y = 0; y < side; y++) {
      const uint8_t *src = in->u8 + (size_t)yi[y] * in->width * c;
      uint8_t *dst = out->u8 + (size_t)y * side * c;
      for (int32_t x = 0; x < side; x++) memcpy(dst + (size_t)x * c, src + (size_t)xi[x] * c, c);
    }
  }
  clipdb__free(xi);
  clipdb__free(yi);
  return status;
}

/* Bicubic, 8-bit samples or int32 (mode I), separable: horizontal pass first. */
static clipdb_status resize_bicubic(const clipdb__image *in, int32_t tw, int32_t th,
                                    int32_t left, int32_t top, int32_t side,
                                    clipdb__image *out) {
  const int is_i = in->mode == CLIPDB__MODE_I;
  const int32_t c = in->channels;
  const int need_h = tw != in->width, need_v = th != in->height;
  axis ax_h, ax_v;
  memset(&ax_h, 0, sizeof ax_h);
  memset(&ax_v, 0, sizeof ax_v);
  clipdb__image tmp;
  memset(&tmp, 0, sizeof tmp);
  clipdb_status status = CLIPDB_STATUS_SUCCESS;

  /* Rows of the (horizontally resized) image the window needs. */
  int32_t r0 = top, r1 = top + side;
  if (need_v) {
    status = axis_init(in->height, th, top, side, &ax_v);
    if (status != CLIPDB_STATUS_SUCCESS) goto done;
    r0 = ax_v.bounds[0];
    r1 = r0;
    for (int32_t i = 0; i < side; i++) {
      const int32_t end = ax_v.bounds[2 * i] + ax_v.bounds[2 * i + 1];
      if (end > r1) r1 = end;
    }
  }
  if (need_h) {
    status = axis_init(in->width, tw, left, side, &ax_h);
    if (status != CLIPDB_STATUS_SUCCESS) goto done;
  }

  /* Horizontal pass: rows [r0, r1), output columns [left, left + side). */
  status = alloc_image(&tmp, side, r1 - r0, c, in->mode);
  if (status != CLIPDB_STATUS_SUCCESS) goto done;
  for (int32_t y = r0; y < r1; y++) {
    const size_t row = (size_t)y * in->width * c;
    const size_t trow = (size_t)(y - r0) * side * c;
    for (int32_t x = 0; x < side; x++) {
      if (!need_h) {
        if (is_i) tmp.i32[trow + x] = in->i32[row + left + x];
        else memcpy(tmp.u8 + trow + (size_t)x * c, in->u8 + row + (size_t)(left + x) * c, c);
        continue;
      }
      const int32_t lo = ax_h.bounds[2 * x], count = ax_h.bounds[2 * x + 1];
      if (is_i) {
        const double *k = ax_h.k + (size_t)x * ax_h.ksize;
        double acc = 0.0;
        for (int32_t j = 0; j < count; j++) acc += in->i32[row + lo + j] * k[j];
        tmp.i32[trow + x] = round_half_away(acc);
      } else {
        const int32_t *k = ax_h.k8 + (size_t)x * ax_h.ksize;
        for (int32_t ch = 0; ch < c; ch++) {
          int32_t acc = 1 << (PRECISION_BITS - 1);
          const uint8_t *src = in->u8 + row + (size_t)lo * c + ch;
          for (int32_t j = 0; j < count; j++) acc += src[(size_t)j * c] * k[j];
          tmp.u8[trow + (size_t)x * c + ch] = clip8(acc);
        }
      }
    }
  }

  /* Vertical pass. */
  status = alloc_image(out, side, side, c, in->mode);
  if (status != CLIPDB_STATUS_SUCCESS) goto done;
  const size_t trow_len = (size_t)side * c;
  for (int32_t y = 0; y < side; y++) {
    if (!need_v) {
      const size_t src = (size_t)(top + y - r0) * trow_len;
      if (is_i) memcpy(out->i32 + (size_t)y * side, tmp.i32 + src, (size_t)side * sizeof(int32_t));
      else memcpy(out->u8 + (size_t)y * trow_len, tmp.u8 + src, trow_len);
      continue;
    }
    const int32_t lo = ax_v.bounds[2 * y] - r0, count = ax_v.bounds[2 * y + 1];
    if (is_i) {
      const double *k = ax_v.k + (size_t)y * ax_v.ksize;
      for (int32_t x = 0; x < side; x++) {
        double acc = 0.0;
        for (int32_t j = 0; j < count; j++) acc += tmp.i32[(size_t)(lo + j) * side + x] * k[j];
        out->i32[(size_t)y * side + x] = round_half_away(acc);
      }
    } else {
      const int32_t *k = ax_v.k8 + (size_t)y * ax_v.ksize;
      for (size_t i = 0; i < trow_len; i++) {
        int32_t acc = 1 << (PRECISION_BITS - 1);
        for (int32_t j = 0; j < count; j++) acc += tmp.u8[(size_t)(lo + j) * trow_len + i] * k[j];
        out->u8[(size_t)y * trow_len + i] = clip8(acc);
      }
    }
  }

done:
  if (status != CLIPDB_STATUS_SUCCESS) clipdb__image_release(out);
  clipdb__image_release(&tmp);
  axis_release(&ax_h);
  axis_release(&ax_v);
  return status;
}

clipdb_status clipdb__image_resize_window(const clipdb__image *in, int32_t tw, int32_t th,
                                          int32_t left, int32_t top, int32_t side,
                                          clipdb__image *out) {
  memset(out, 0, sizeof *out);
  if (in->mode == CLIPDB__MODE_P || in->mode == CLIPDB__MODE_1)
    return resize_nearest(in, tw, th, left, top, side, out);
  return resize_bicubic(in, tw, th, left, top, side, out);
}
