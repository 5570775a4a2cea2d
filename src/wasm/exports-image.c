/*
 * Flat wasm exports of the image pipeline for web/src/image.mjs: scalars and pointers only,
 * so JS never lays out clipdb_image_params / clipdb_image_info itself.
 */
#include <stdio.h>
#include <string.h>

#include "clipdb-impl.h"

/* The C defaults: resolution, mean[3] then std[3] into `mean_std`, max_pixels, exif. */
CLIPDB_API void clipdb__wasm_image_default_params(int32_t *resolution, float *mean_std,
                                                  double *max_pixels, int32_t *exif) {
  const clipdb_image_params p = clipdb_image_default_params();
  *resolution = p.resolution;
  memcpy(mean_std, p.mean, sizeof p.mean);
  memcpy(mean_std + 3, p.std, sizeof p.std);
  *max_pixels = (double)p.max_pixels;
  *exif = p.exif;
}

static clipdb_image_params params_of(int32_t resolution, const float *mean_std,
                                     double max_pixels, int32_t exif) {
  clipdb_image_params p = clipdb_image_default_params();
  p.resolution = resolution;
  memcpy(p.mean, mean_std, sizeof p.mean);
  memcpy(p.std, mean_std + 3, sizeof p.std);
  p.max_pixels = max_pixels <= 0 ? 0 : max_pixels >= 1.8e19 ? UINT64_MAX : (uint64_t)max_pixels;
  p.exif = exif;
  return p;
}

/*
 * clipdb_image_preprocess with scalar parameters. On success `info_json` (capacity
 * `info_cap` bytes) receives {"format","mode","width","height","orientation"}.
 */
CLIPDB_API int32_t clipdb__wasm_image_preprocess(const void *data, size_t size,
                                                 int32_t resolution, const float *mean_std,
                                                 double max_pixels, int32_t exif, float *out,
                                                 char *info_json, int32_t info_cap) {
  const clipdb_image_params p = params_of(resolution, mean_std, max_pixels, exif);
  clipdb_image_info info;
  const clipdb_status s = clipdb_image_preprocess(data, size, &p, out, &info);
  if (s == CLIPDB_STATUS_SUCCESS && info_json != NULL && info_cap > 0)
    snprintf(info_json, (size_t)info_cap,
             "{\"format\":\"%s\",\"mode\":\"%s\",\"width\":%d,\"height\":%d,\"orientation\":%d}",
             info.format, info.mode, (int)info.width, (int)info.height, (int)info.orientation);
  return (int32_t)s;
}

/* clipdb_image_preprocess_pixels with scalar parameters. */
CLIPDB_API int32_t clipdb__wasm_image_preprocess_pixels(const uint8_t *pixels, int32_t width,
                                                        int32_t height, int32_t channels,
                                                        int32_t stride, int32_t resolution,
                                                        const float *mean_std,
                                                        double max_pixels, float *out) {
  const clipdb_image_params p = params_of(resolution, mean_std, max_pixels, CLIPDB_EXIF_IGNORE);
  return (int32_t)clipdb_image_preprocess_pixels(pixels, width, height, channels, stride, &p,
                                                 out);
}

/* clipdb_thumbnail_default_params: max_side, quality, max_pixels, exif. */
CLIPDB_API void clipdb__wasm_thumbnail_default_params(int32_t *max_side, int32_t *quality,
                                                      double *max_pixels, int32_t *exif) {
  const clipdb_thumbnail_params p = clipdb_thumbnail_default_params();
  *max_side = p.max_side;
  *quality = p.quality;
  *max_pixels = (double)p.max_pixels;
  *exif = p.exif;
}

/*
 * clipdb_image_thumbnail with scalar parameters. On success `result` (int32 [4]) gets the
 * JPEG's address in wasm memory, its size in bytes, and the thumbnail's width and height;
 * the caller copies the bytes out and releases them with clipdb__wasm_thumbnail_free.
 */
CLIPDB_API int32_t clipdb__wasm_image_thumbnail(const void *data, size_t size, int32_t max_side,
                                                int32_t quality, double max_pixels,
                                                int32_t exif, int32_t *result) {
  clipdb_thumbnail_params p = clipdb_thumbnail_default_params();
  p.max_side = max_side;
  p.quality = quality;
  p.max_pixels = max_pixels <= 0 ? 0 : max_pixels >= 1.8e19 ? UINT64_MAX : (uint64_t)max_pixels;
  p.exif = exif;
  clipdb_thumbnail t;
  const clipdb_status s = clipdb_image_thumbnail(data, size, &p, &t, NULL);
  if (s == CLIPDB_STATUS_SUCCESS) {
    result[0] = (int32_t)(intptr_t)t.jpeg;
    result[1] = (int32_t)t.size;
    result[2] = t.width;
    result[3] = t.height;
  }
  return (int32_t)s;
}

/* Release a JPEG returned by clipdb__wasm_image_thumbnail (its address as given there). */
CLIPDB_API void clipdb__wasm_thumbnail_free(void *jpeg) {
  clipdb_thumbnail t;
  memset(&t, 0, sizeof t);
  t.jpeg = jpeg;
  clipdb_thumbnail_free(&t);
}
