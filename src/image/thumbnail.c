/*
 * clipdb_image_thumbnail: encoded image in, small upright JPEG out.
 *
 *   decode (decode.c, the image pipeline's decoder and its max_pixels guard)
 *   -> flatten to 8-bit gray or RGB in place (alpha over white, 16-bit gray to 8 bits,
 *      CMYK to RGB)
 *   -> shrink by area averaging, streaming one input row at a time
 *   -> apply the EXIF orientation to the small image (decode.c's clipdb__image_orient)
 *   -> JPEG (stb_image_write, src/common/stb-image-write.c)
 *
 * Why area averaging and not resample.c: that file reproduces Pillow's bicubic for the CLIP
 * transform and only computes a square crop window. A thumbnail wants the whole frame, and for
 * the large reductions it is made for (a 12-MP photo to 320 px is about 1/12 per side) the box
 * average over each output pixel's footprint is the classic antialiasing filter: every input
 * pixel contributes with the fraction of its area that falls in the output pixel, so fine
 * detail averages out instead of aliasing, and each input pixel is read once.
 *
 * Memory: the decoded image is the only full-size buffer. Orienting before shrinking would
 * need a second one (clipdb__image_orient copies), so the image is shrunk in its stored
 * orientation to the transposed target size and the thumbnail is turned afterwards; both
 * orders give the same pixels up to rounding, since averaging over rectangles commutes with
 * flips and quarter turns.
 */
#include <string.h>

#include "image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#define MIN_SIDE 16
#define MAX_SIDE 4096

clipdb_thumbnail_params clipdb_thumbnail_default_params(void) {
  clipdb_thumbnail_params p;
  memset(&p, 0, sizeof p);
  p.max_side = 320;
  p.quality = 80;
  p.max_pixels = clipdb_image_default_params().max_pixels;
  p.exif = CLIPDB_EXIF_APPLY;
  return p;
}

void clipdb_thumbnail_free(clipdb_thumbnail *thumbnail) {
  if (thumbnail == NULL) return;
  clipdb__free(thumbnail->jpeg);
  memset(thumbnail, 0, sizeof *thumbnail);
}

static clipdb_status check_params(const clipdb_thumbnail_params *p) {
  if (p->max_side < MIN_SIDE || p->max_side > MAX_SIDE)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to make thumbnail: max_side %d is outside %d..%d",
                         (int)p->max_side, MIN_SIDE, MAX_SIDE);
  if (p->quality < 1 || p->quality > 100)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to make thumbnail: quality %d is outside 1..100",
                         (int)p->quality);
  if (p->exif != CLIPDB_EXIF_IGNORE && p->exif != CLIPDB_EXIF_APPLY)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to make thumbnail: exif mode %d is neither IGNORE (0) nor "
                         "APPLY (1)", (int)p->exif);
  return CLIPDB_STATUS_SUCCESS;
}

/* ---- 8-bit gray or RGB, in place --------------------------------------------------------- */

/* a * b / 255 rounded, in integers (exact for 0..255). */
static inline unsigned muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/* Colour c with alpha a drawn over white. */
static inline uint8_t over_white(unsigned c, unsigned a) {
  return (uint8_t)(muldiv255(c, a) + 255u - a);
}

/*
 * Turn any decoded mode into 1 channel (L) or 3 channels (RGB) of 8-bit samples, reusing the
 * decoded buffer: every output pixel is no larger than its input pixel, so writing front to
 * back never overwrites a sample that is still to be read.
 */
static void flatten(clipdb__image *img) {
  const size_t n = (size_t)img->width * (size_t)img->height;
  switch (img->mode) {
    case CLIPDB__MODE_I: { /* 16-bit gray kept in int32: scale 0..65535 to 0..255 */
      uint8_t *dst = (uint8_t *)img->i32;
      for (size_t i = 0; i < n; i++) {
        int32_t v = img->i32[i];
        v = v < 0 ? 0 : v > 65535 ? 65535 : v;
        dst[i] = (uint8_t)((v + 128) / 257);
      }
      img->u8 = dst;
      img->i32 = NULL;
      img->channels = 1;
      img->mode = CLIPDB__MODE_L;
      return;
    }
    case CLIPDB__MODE_LA:
      for (size_t i = 0; i < n; i++) img->u8[i] = over_white(img->u8[2 * i], img->u8[2 * i + 1]);
      img->channels = 1;
      img->mode = CLIPDB__MODE_L;
      return;
    case CLIPDB__MODE_RGBA:
      for (size_t i = 0; i < n; i++) {
        const uint8_t *s = img->u8 + 4 * i;
        const unsigned a = s[3];
        const uint8_t r = over_white(s[0], a), g = over_white(s[1], a), b = over_white(s[2], a);
        img->u8[3 * i + 0] = r;
        img->u8[3 * i + 1] = g;
        img->u8[3 * i + 2] = b;
      }
      img->channels = 3;
      img->mode = CLIPDB__MODE_RGB;
      return;
    case CLIPDB__MODE_CMYK: /* the conversion the rest of the image pipeline uses (0 = no ink) */
      for (size_t i = 0; i < n; i++) {
        const uint8_t *s = img->u8 + 4 * i;
        const unsigned nk = 255u - s[3];
        const uint8_t r = (uint8_t)(nk - muldiv255(s[0], nk));
        const uint8_t g = (uint8_t)(nk - muldiv255(s[1], nk));
        const uint8_t b = (uint8_t)(nk - muldiv255(s[2], nk));
        img->u8[3 * i + 0] = r;
        img->u8[3 * i + 1] = g;
        img->u8[3 * i + 2] = b;
      }
      img->channels = 3;
      img->mode = CLIPDB__MODE_RGB;
      return;
    case CLIPDB__MODE_P: /* stored already looked up as RGB */
      img->mode = CLIPDB__MODE_RGB;
      return;
    case CLIPDB__MODE_1: /* stored as 0 / 255 */
      img->mode = CLIPDB__MODE_L;
      return;
    default: /* L, RGB */
      return;
  }
}

/* ---- area averaging ---------------------------------------------------------------------- */

/*
 * Weights of one axis shrunk from `in` to `out` samples (out <= in): output o covers the
 * input interval [o·s, (o+1)·s), s = in / out, and input sample i (covering [i, i+1))
 * contributes the length of the overlap divided by s. first[o] is the first input sample,
 * count[o] how many (at most ceil(s) + 1), w[o·stride ..] their weights, summing to 1.
 */
typedef struct area_axis {
  int32_t stride;
  int32_t *first, *count;
  float *w;
} area_axis;

static void area_release(area_axis *ax) {
  clipdb__free(ax->first);
  clipdb__free(ax->count);
  clipdb__free(ax->w);
  memset(ax, 0, sizeof *ax);
}

static clipdb_status area_init(int32_t in, int32_t out, area_axis *ax) {
  memset(ax, 0, sizeof *ax);
  const double s = (double)in / (double)out;
  ax->stride = (int32_t)s + 2;
  const size_t n_w = (size_t)out * (size_t)ax->stride;
  ax->first = clipdb__malloc((size_t)out * sizeof(int32_t));
  ax->count = clipdb__malloc((size_t)out * sizeof(int32_t));
  ax->w = clipdb__malloc(n_w * sizeof(float));
  if (ax->first == NULL || ax->count == NULL || ax->w == NULL) {
    area_release(ax);
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to make thumbnail: out of memory for %zu bytes of resampling "
                         "weights", n_w * sizeof(float) + 2 * (size_t)out * sizeof(int32_t));
  }
  for (int32_t o = 0; o < out; o++) {
    /* Interval ends computed from integers, so the last one is exactly `in`. */
    const double lo = (double)o * in / out, hi = (double)(o + 1) * in / out;
    int32_t i0 = (int32_t)lo;
    int32_t i1 = (int32_t)hi;
    if ((double)i1 < hi) i1++; /* ceil */
    if (i1 > in) i1 = in;
    if (i1 - i0 > ax->stride) i1 = i0 + ax->stride; /* cannot happen; keeps writes in bounds */
    float *w = ax->w + (size_t)o * ax->stride;
    double sum = 0.0;
    for (int32_t i = i0; i < i1; i++) {
      const double a = i > lo ? i : lo, b = i + 1 < hi ? i + 1 : hi;
      const double v = b > a ? b - a : 0.0;
      w[i - i0] = (float)v;
      sum += v;
    }
    for (int32_t i = 0; i < i1 - i0; i++) w[i] = (float)(w[i] / sum);
    ax->first[o] = i0;
    ax->count[o] = i1 - i0;
  }
  return CLIPDB_STATUS_SUCCESS;
}

static inline uint8_t to_u8(float v) {
  v += 0.5f;
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/*
 * Shrink `in` (1 or 3 channels, u8) to tw x th into `out`. Separable: each input row is
 * averaged horizontally once (the row shared by two output rows is kept), then added with
 * its vertical weight into the output row being built. Scratch: two float rows.
 */
static clipdb_status area_resize(const clipdb__image *in, int32_t tw, int32_t th,
                                 clipdb__image *out) {
  const int32_t c = in->channels;
  const size_t row_n = (size_t)tw * (size_t)c;
  area_axis ax, ay;
  memset(&ax, 0, sizeof ax);
  memset(&ay, 0, sizeof ay);
  float *hrow = NULL, *acc = NULL;
  memset(out, 0, sizeof *out);
  clipdb_status status = area_init(in->width, tw, &ax);
  if (status == CLIPDB_STATUS_SUCCESS) status = area_init(in->height, th, &ay);
  if (status != CLIPDB_STATUS_SUCCESS) goto done;
  const size_t out_bytes = row_n * (size_t)th;
  hrow = clipdb__malloc(row_n * sizeof(float));
  acc = clipdb__malloc(row_n * sizeof(float));
  out->u8 = clipdb__malloc(out_bytes);
  if (hrow == NULL || acc == NULL || out->u8 == NULL) {
    status = clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to make thumbnail: out of memory for %zu bytes (a %d x %d "
                           "thumbnail and two rows of scratch)",
                           out_bytes + 2 * row_n * sizeof(float), (int)tw, (int)th);
    goto done;
  }
  out->width = tw;
  out->height = th;
  out->channels = c;
  out->mode = in->mode;

  int32_t have = -1; /* input row currently in hrow */
  for (int32_t oy = 0; oy < th; oy++) {
    memset(acc, 0, row_n * sizeof(float));
    const float *wy = ay.w + (size_t)oy * ay.stride;
    for (int32_t j = 0; j < ay.count[oy]; j++) {
      const int32_t y = ay.first[oy] + j;
      if (wy[j] == 0.0f) continue;
      if (y != have) {
        const uint8_t *src = in->u8 + (size_t)y * (size_t)in->width * c;
        for (int32_t ox = 0; ox < tw; ox++) {
          const float *wx = ax.w + (size_t)ox * ax.stride;
          const uint8_t *s = src + (size_t)ax.first[ox] * c;
          const int32_t n = ax.count[ox];
          if (c == 1) {
            float v = 0.0f;
            for (int32_t i = 0; i < n; i++) v += wx[i] * s[i];
            hrow[ox] = v;
          } else {
            float r = 0.0f, g = 0.0f, b = 0.0f;
            for (int32_t i = 0; i < n; i++) {
              r += wx[i] * s[3 * i];
              g += wx[i] * s[3 * i + 1];
              b += wx[i] * s[3 * i + 2];
            }
            hrow[3 * ox] = r;
            hrow[3 * ox + 1] = g;
            hrow[3 * ox + 2] = b;
          }
        }
        have = y;
      }
      const float k = wy[j];
      for (size_t i = 0; i < row_n; i++) acc[i] += k * hrow[i];
    }
    uint8_t *dst = out->u8 + (size_t)oy * row_n;
    for (size_t i = 0; i < row_n; i++) dst[i] = to_u8(acc[i]);
  }

done:
  if (status != CLIPDB_STATUS_SUCCESS) clipdb__image_release(out);
  clipdb__free(hrow);
  clipdb__free(acc);
  area_release(&ax);
  area_release(&ay);
  return status;
}

/* ---- JPEG output ------------------------------------------------------------------------- */

typedef struct jpeg_sink {
  uint8_t *data;
  size_t size, cap;
  size_t failed_bytes; /* nonzero: an allocation of this many bytes failed */
} jpeg_sink;

static void sink_write(void *context, void *data, int n) {
  jpeg_sink *s = context;
  if (s->failed_bytes != 0 || n <= 0) return;
  if (s->size + (size_t)n > s->cap) {
    size_t cap = s->cap != 0 ? s->cap : 16384;
    while (cap < s->size + (size_t)n) cap *= 2;
    uint8_t *grown = clipdb__malloc(cap);
    if (grown == NULL) {
      s->failed_bytes = cap;
      return;
    }
    if (s->size != 0) memcpy(grown, s->data, s->size);
    clipdb__free(s->data);
    s->data = grown;
    s->cap = cap;
  }
  memcpy(s->data + s->size, data, (size_t)n);
  s->size += (size_t)n;
}

/* ---- the entry point ----------------------------------------------------------------------- */

/* Round a * b / c to the nearest integer (halves up), at least 1; all positive. */
static int32_t scale_side(int32_t a, int32_t b, int32_t c) {
  const int64_t v = ((int64_t)a * b * 2 + c) / ((int64_t)c * 2);
  return v < 1 ? 1 : (int32_t)v;
}

clipdb_status clipdb_image_thumbnail(const void *data, size_t size,
                                     const clipdb_thumbnail_params *params,
                                     clipdb_thumbnail *out, clipdb_image_info *info) {
  if (out == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to make thumbnail: out is NULL");
  memset(out, 0, sizeof *out);
  const clipdb_thumbnail_params defaults = clipdb_thumbnail_default_params();
  if (params == NULL) params = &defaults;
  clipdb_status status = check_params(params);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  if (data == NULL && size != 0)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to make thumbnail: data is NULL");

  clipdb_image_info local;
  if (info == NULL) info = &local;
  clipdb__image img, small;
  memset(&small, 0, sizeof small);
  status = clipdb__image_decode(data, size, params->max_pixels, &img, info);
  if (status == CLIPDB_STATUS_OUT_OF_MEMORY) {
    /* Name the size: the decoded pixels alone need width x height x samples bytes. */
    int w = 0, h = 0, comp = 0;
    if (size <= 0x7fffffff && stbi_info_from_memory(data, (int)size, &w, &h, &comp))
      return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to make thumbnail: out of memory decoding a %d x %d image "
                           "(at least %llu bytes of pixels)", w, h,
                           (unsigned long long)w * (unsigned long long)h *
                               (unsigned long long)comp);
  }
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  flatten(&img);

  /* Target size, upright; then in the stored orientation for the resize. */
  const int orientation = params->exif == CLIPDB_EXIF_APPLY ? info->orientation : 1;
  const int swap = orientation >= 5 && orientation <= 8;
  const int32_t uw = swap ? img.height : img.width, uh = swap ? img.width : img.height;
  const int32_t longer = uw > uh ? uw : uh, m = params->max_side;
  int32_t tw = uw, th = uh;
  if (longer > m) {
    if (uw >= uh) {
      tw = m;
      th = scale_side(uh, m, uw);
    } else {
      th = m;
      tw = scale_side(uw, m, uh);
    }
  }
  if (swap) {
    const int32_t t = tw;
    tw = th;
    th = t;
  }

  if (tw == img.width && th == img.height) {
    small = img; /* nothing to resample: adopt the decoded buffer */
    memset(&img, 0, sizeof img);
  } else {
    status = area_resize(&img, tw, th, &small);
    clipdb__image_release(&img);
  }
  if (status == CLIPDB_STATUS_SUCCESS) status = clipdb__image_orient(&small, orientation);
  if (status == CLIPDB_STATUS_SUCCESS) {
    jpeg_sink sink;
    memset(&sink, 0, sizeof sink);
    const int ok = stbi_write_jpg_to_func(sink_write, &sink, small.width, small.height,
                                          small.channels, small.u8, params->quality);
    if (sink.failed_bytes != 0) {
      status = clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                             "failed to make thumbnail: out of memory for %zu bytes of JPEG "
                             "output", sink.failed_bytes);
    } else if (!ok || sink.size == 0) {
      status = clipdb__error(NULL, CLIPDB_STATUS_INVALID_STATE,
                             "failed to make thumbnail: the JPEG encoder rejected a %d x %d "
                             "image", (int)small.width, (int)small.height);
    }
    if (status == CLIPDB_STATUS_SUCCESS) {
      out->jpeg = sink.data;
      out->size = sink.size;
      out->width = small.width;
      out->height = small.height;
    } else {
      clipdb__free(sink.data);
    }
  }
  clipdb__image_release(&small);
  return status;
}
