/*
 * The official CLIP image transform (clip/clip.py `_transform(n_px)` at d05afc4):
 *   Resize(n_px, BICUBIC) -> CenterCrop(n_px) -> convert("RGB") -> ToTensor -> Normalize
 * on a PIL image opened with PIL.Image.open, reproduced step by step:
 *
 *  - resize target: short side R, long side int(R * long / short) (truncated); nothing at
 *    all happens when the image already has that size (not even the RGBA round trip);
 *  - the resize runs in the image's own mode (resample.c), RGBA/LA premultiplied around it
 *    with Pillow's integer formulas;
 *  - centre crop offsets int(round((size - R) / 2.0)) with Python's round-half-to-even;
 *  - convert("RGB") with Pillow's converters (L/LA/1 gray, RGBA alpha dropped without
 *    compositing, I clamped to 0..255, CMYK by Pillow's cmyk2rgb);
 *  - float32 x / 255, then (x - mean[c]) / std[c] in float32, in that order.
 */
#include <math.h>
#include <string.h>

#include "image.h"

/* Pillow's MULDIV255: a * b / 255 rounded, in integers. */
static inline uint8_t muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return (uint8_t)(((t >> 8) + t) >> 8);
}

clipdb_image_params clipdb_image_default_params(void) {
  clipdb_image_params p;
  memset(&p, 0, sizeof p);
  p.resolution = 224;
  /* OpenAI CLIP's normalisation constants (clip/clip.py), as float32. */
  p.mean[0] = 0.48145466f;
  p.mean[1] = 0.4578275f;
  p.mean[2] = 0.40821073f;
  p.std[0] = 0.26862954f;
  p.std[1] = 0.26130258f;
  p.std[2] = 0.27577711f;
  p.max_pixels = 178956970; /* Pillow raises DecompressionBombError above 2 * 89478485 */
  p.exif = CLIPDB_EXIF_APPLY; /* one policy on every path (README "Images"): encoded bytes
                                  come out upright, as a browser draws them */
  return p;
}

static clipdb_status check_params(const clipdb_image_params *p, const void *out) {
  if (p == NULL || out == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess image: %s is NULL", p == NULL ? "params" : "out");
  if (p->resolution < 1 || p->resolution > 8192)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess image: resolution %d is outside 1..8192",
                         (int)p->resolution);
  for (int c = 0; c < 3; c++)
    if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
      return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                           "failed to preprocess image: mean[%d] = %g / std[%d] = %g is not a "
                           "finite mean and non-zero std", c, (double)p->mean[c], c,
                           (double)p->std[c]);
  if (p->exif != CLIPDB_EXIF_IGNORE && p->exif != CLIPDB_EXIF_APPLY)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess image: exif mode %d is neither IGNORE (0) nor "
                         "APPLY (1)", (int)p->exif);
  return CLIPDB_STATUS_SUCCESS;
}

/* Python's int(round(x / 2.0)) for an integer x >= 0: halves go to the even neighbour. */
static int32_t half_round_even(int32_t x) {
  const int32_t k = x / 2;
  if ((x & 1) == 0) return k;
  return (k & 1) == 0 ? k : k + 1;
}

/* RGBA -> RGBa / LA -> La in place (Pillow's rgbA2rgba, LA2La). */
static void premultiply(clipdb__image *img) {
  const int32_t c = img->channels;
  const size_t n = (size_t)img->width * (size_t)img->height;
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = img->u8 + i * c;
    const unsigned a = p[c - 1];
    for (int32_t j = 0; j < c - 1; j++) p[j] = muldiv255(p[j], a);
  }
}

/* RGBa -> RGBA / La -> LA (Pillow's rgba2rgbA, La2LA). */
static void unpremultiply(clipdb__image *img) {
  const int32_t c = img->channels;
  const size_t n = (size_t)img->width * (size_t)img->height;
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = img->u8 + i * c;
    const unsigned a = p[c - 1];
    if (a == 0 || a == 255) continue;
    for (int32_t j = 0; j < c - 1; j++) {
      const unsigned v = 255u * p[j] / a;
      p[j] = (uint8_t)(v > 255 ? 255 : v);
    }
  }
}

/* Copy the side x side window at (left, top) of an image that needs no resampling. */
static clipdb_status crop_window(const clipdb__image *in, int32_t left, int32_t top,
                                 int32_t side, clipdb__image *out) {
  memset(out, 0, sizeof *out);
  *out = *in;
  out->width = out->height = side;
  out->u8 = NULL;
  out->i32 = NULL;
  const size_t es = in->i32 != NULL ? sizeof(int32_t) : (size_t)in->channels;
  uint8_t *dst = clipdb__malloc((size_t)side * side * es);
  if (dst == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to crop image: out of memory for %d x %d pixels", (int)side,
                         (int)side);
  const uint8_t *src = in->i32 != NULL ? (const uint8_t *)in->i32 : in->u8;
  for (int32_t y = 0; y < side; y++)
    memcpy(dst + (size_t)y * side * es, src + ((size_t)(top + y) * in->width + left) * es,
           (size_t)side * es);
  if (in->i32 != NULL) out->i32 = (int32_t *)dst;
  else out->u8 = dst;
  return CLIPDB_STATUS_SUCCESS;
}

/* convert("RGB") of pixel i of `img`. */
static inline void to_rgb(const clipdb__image *img, size_t i, uint8_t rgb[3]) {
  const uint8_t *p = img->u8 != NULL ? img->u8 + i * img->channels : NULL;
  switch (img->mode) {
    case CLIPDB__MODE_L:
    case CLIPDB__MODE_1:
    case CLIPDB__MODE_LA: rgb[0] = rgb[1] = rgb[2] = p[0]; break;
    case CLIPDB__MODE_I: {
      const int32_t v = img->i32[i];
      rgb[0] = rgb[1] = rgb[2] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      break;
    }
    case CLIPDB__MODE_CMYK: {
      const unsigned nk = 255u - p[3];
      for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)(nk - muldiv255(p[c], nk));
      break;
    }
    default: rgb[0] = p[0]; rgb[1] = p[1]; rgb[2] = p[2]; break; /* RGB, P, RGBA */
  }
}

/* Resize + crop + convert + normalise `img` (owned by the caller, modified) into `out`. */
static clipdb_status run(clipdb__image *img, const clipdb_image_params *p, float *out) {
  const int32_t R = p->resolution, w = img->width, h = img->height;
  int32_t tw, th;
  if (w <= h) {
    tw = R;
    th = (int32_t)((double)((int64_t)R * h) / (double)w);
  } else {
    th = R;
    tw = (int32_t)((double)((int64_t)R * w) / (double)h);
  }
  if (tw < R || th < R)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess image: %d x %d cannot be resized to %d", (int)w,
                         (int)h, (int)R);
  if ((int64_t)tw * th > ((int64_t)1 << 31))
    return clipdb__error(NULL, CLIPDB_STATUS_IMAGE_TOO_LARGE,
                         "failed to preprocess image: %d x %d would be resized to %d x %d",
                         (int)w, (int)h, (int)tw, (int)th);
  const int32_t left = half_round_even(tw - R), top = half_round_even(th - R);

  clipdb__image win;
  clipdb_status status;
  if (tw == w && th == h) {
    status = crop_window(img, left, top, R, &win);
  } else {
    const int alpha = img->mode == CLIPDB__MODE_RGBA || img->mode == CLIPDB__MODE_LA;
    if (alpha) premultiply(img);
    status = clipdb__image_resize_window(img, tw, th, left, top, R, &win);
    if (status == CLIPDB_STATUS_SUCCESS && alpha) unpremultiply(&win);
  }
  if (status != CLIPDB_STATUS_SUCCESS) return status;

  const size_t plane = (size_t)R * R;
  for (size_t i = 0; i < plane; i++) {
    uint8_t rgb[3];
    to_rgb(&win, i, rgb);
    for (int c = 0; c < 3; c++) {
      const float x = (float)rgb[c] / 255.0f;
      out[c * plane + i] = (x - p->mean[c]) / p->std[c];
    }
  }
  clipdb__image_release(&win);
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb_image_preprocess(const void *data, size_t size,
                                      const clipdb_image_params *params, float *out,
                                      clipdb_image_info *info) {
  clipdb_status status = check_params(params, out);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  if (data == NULL && size != 0)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess image: data is NULL");
  clipdb_image_info local;
  if (info == NULL) info = &local;
  clipdb__image img;
  status = clipdb__image_decode(data, size, params->max_pixels, &img, info);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  if (params->exif == CLIPDB_EXIF_APPLY) status = clipdb__image_orient(&img, info->orientation);
  if (status == CLIPDB_STATUS_SUCCESS) status = run(&img, params, out);
  clipdb__image_release(&img);
  return status;
}

clipdb_status clipdb_image_preprocess_pixels(const uint8_t *pixels, int32_t width,
                                             int32_t height, int32_t channels, int32_t stride,
                                             const clipdb_image_params *params, float *out) {
  clipdb_status status = check_params(params, out);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  if (pixels == NULL || width <= 0 || height <= 0)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess pixels: %s", pixels == NULL ? "pixels is NULL"
                                                                           : "empty image");
  if (channels != 1 && channels != 3 && channels != 4)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess pixels: %d channels (1 = L, 3 = RGB or 4 = RGBA)",
                         (int)channels);
  if (stride < width * channels)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to preprocess pixels: stride %d is below width x channels = %d",
                         (int)stride, (int)(width * channels));
  if ((uint64_t)width * (uint64_t)height > params->max_pixels)
    return clipdb__error(NULL, CLIPDB_STATUS_IMAGE_TOO_LARGE,
                         "failed to preprocess pixels: %d x %d = %llu pixels is over the limit "
                         "of %llu pixels", (int)width, (int)height,
                         (unsigned long long)width * (unsigned long long)height,
                         (unsigned long long)params->max_pixels);
  clipdb__image img;
  memset(&img, 0, sizeof img);
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.mode = channels == 1 ? CLIPDB__MODE_L : channels == 3 ? CLIPDB__MODE_RGB : CLIPDB__MODE_RGBA;
  const size_t row = (size_t)width * channels;
  img.u8 = clipdb__malloc(row * (size_t)height);
  if (img.u8 == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to preprocess pixels: out of memory for %d x %d pixels",
                         (int)width, (int)height);
  for (int32_t y = 0; y < height; y++)
    memcpy(img.u8 + (size_t)y * row, pixels + (size_t)y * (size_t)stride, row);
  status = run(&img, params, out);
  clipdb__image_release(&img);
  return status;
}
