/*
 * clipdb_image_thumbnail:
 *  - defaults (320 px, quality 80, EXIF applied, the image pipeline's max_pixels);
 *  - exact sizes for several aspect ratios and max_side values (the struct and the decoded
 *    JPEG agree), never upscaled;
 *  - where the content lands (left red / right blue stays so), and no aliasing: a 1-pixel
 *    checkerboard shrunk 12.6x is flat gray (a resampler that skips pixels gives black/white);
 *  - EXIF orientations 3, 6, 8 (tests/data/exif: 320x160, red left, blue right) come out
 *    upright with swapped sides where they should, and as stored with IGNORE;
 *  - alpha over white, gray input, JPEG quality ordering, output framing (SOI .. EOI);
 *  - every error by status: INVALID_ARGUMENT, BAD_IMAGE, UNSUPPORTED, IMAGE_TOO_LARGE and
 *    OUT_OF_MEMORY (a GIF whose 13000x13000 canvas cannot be allocated under an address-space
 *    limit; skipped under sanitizers, whose allocators need the address space);
 *  - nothing leaks (clipdb_allocated_bytes back to where it started).
 * The pixel comparison against an independent downscale (Pillow) and the 12-MP photo are in
 * tests/c/thumbnail-vs-pillow.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/resource.h>
#endif

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "clipdb.h"
#include "read-file.h"

#include "check.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* ---- inputs made here ---------------------------------------------------------------- */

typedef struct buf {
  uint8_t *data;
  size_t size, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
  if (b->size + n > b->cap) {
    b->cap = (b->size + n) * 2;
    b->data = realloc(b->data, b->cap);
    if (b->data == NULL) {
      printf("out of memory in the test\n");
      exit(1);
    }
  }
  memcpy(b->data + b->size, p, n);
  b->size += n;
}

static void put_le(buf *b, uint32_t v, int bytes) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, t, (size_t)bytes);
}

static void stb_sink(void *ctx, void *data, int n) { put(ctx, data, (size_t)n); }

/* An uncompressed 24-bit BMP of w x h RGB pixels (rows top to bottom in `rgb`). */
static buf make_bmp(const uint8_t *rgb, int w, int h) {
  buf b = {0};
  const uint32_t row = ((uint32_t)w * 3 + 3) & ~3u;
  put(&b, "BM", 2);
  put_le(&b, 54 + row * (uint32_t)h, 4);
  put_le(&b, 0, 4);
  put_le(&b, 54, 4);
  put_le(&b, 40, 4);
  put_le(&b, (uint32_t)w, 4);
  put_le(&b, (uint32_t)h, 4);
  put_le(&b, 1, 2);
  put_le(&b, 24, 2);
  put_le(&b, 0, 4);
  put_le(&b, row * (uint32_t)h, 4);
  put_le(&b, 2835, 4);
  put_le(&b, 2835, 4);
  put_le(&b, 0, 4);
  put_le(&b, 0, 4);
  uint8_t *line = calloc(row, 1);
  for (int y = h - 1; y >= 0; y--) { /* bottom-up, BGR */
    for (int x = 0; x < w; x++) {
      const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
      line[3 * x] = p[2];
      line[3 * x + 1] = p[1];
      line[3 * x + 2] = p[0];
    }
    put(&b, line, row);
  }
  free(line);
  return b;
}

/* w x h, left half red, right half blue. */
static buf make_halves(int w, int h) {
  uint8_t *rgb = malloc((size_t)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = rgb + ((size_t)y * w + x) * 3;
      p[0] = x < w / 2 ? 255 : 0;
      p[1] = 0;
      p[2] = x < w / 2 ? 0 : 255;
    }
  buf b = make_bmp(rgb, w, h);
  free(rgb);
  return b;
}

/* ---- looking at a thumbnail -------------------------------------------------------------- */

typedef struct decoded {
  int w, h;
  uint8_t *rgb;
} decoded;

/* Decode the JPEG of `t` (checking its framing) to RGB. */
static decoded decode_jpeg(const clipdb_thumbnail *t) {
  decoded d = {0, 0, NULL};
  CHECK(t->size > 4 && t->jpeg[0] == 0xff && t->jpeg[1] == 0xd8 &&
            t->jpeg[t->size - 2] == 0xff && t->jpeg[t->size - 1] == 0xd9,
        "the thumbnail is not framed as a JPEG (SOI ... EOI), %zu bytes", t->size);
  int n = 0;
  d.rgb = stbi_load_from_memory(t->jpeg, (int)t->size, &d.w, &d.h, &n, 3);
  CHECK(d.rgb != NULL, "the thumbnail JPEG does not decode: %s", stbi_failure_reason());
  return d;
}

/* Mean of channel c over the rectangle [x0, x1) x [y0, y1). */
static double mean_of(const decoded *d, int c, int x0, int y0, int x1, int y1) {
  double s = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) s += d->rgb[((size_t)y * d->w + x) * 3 + c];
  return s / ((double)(x1 - x0) * (y1 - y0));
}

/* 'r' / 'b' / 'w' when the rectangle is clearly red / blue / white, else '?'. */
static char colour_of(const decoded *d, int x0, int y0, int x1, int y1) {
  const double r = mean_of(d, 0, x0, y0, x1, y1), g = mean_of(d, 1, x0, y0, x1, y1),
               b = mean_of(d, 2, x0, y0, x1, y1);
  if (r > 240 && g < 16 && b < 16) return 'r';
  if (b > 240 && g < 16 && r < 16) return 'b';
  if (r > 245 && g > 245 && b > 245) return 'w';
  return '?';
}

static clipdb_thumbnail_params params_with(int max_side, int quality, int exif) {
  clipdb_thumbnail_params p = clipdb_thumbnail_default_params();
  p.max_side = max_side;
  p.quality = quality;
  p.exif = exif;
  return p;
}

/* ---- checks ---------------------------------------------------------------------------- */

static void check_sizes(void) {
  static const struct {
    int w, h, max_side, want_w, want_h;
  } cases[] = {
      {4000, 3000, 320, 320, 240}, {3000, 4000, 320, 240, 320}, {100, 50, 320, 100, 50},
      {320, 320, 320, 320, 320},   {321, 100, 320, 320, 100},   {4000, 3000, 640, 640, 480},
      {1000, 1, 320, 320, 1},      {17, 5000, 16, 1, 16},       {999, 333, 16, 16, 5},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    buf in = make_halves(cases[i].w, cases[i].h);
    clipdb_thumbnail_params p = params_with(cases[i].max_side, 80, CLIPDB_EXIF_APPLY);
    clipdb_thumbnail t;
    clipdb_image_info info;
    const clipdb_status s = clipdb_image_thumbnail(in.data, in.size, &p, &t, &info);
    CHECK(s == CLIPDB_STATUS_SUCCESS, "%dx%d: %s", cases[i].w, cases[i].h, clipdb_last_error());
    if (s == CLIPDB_STATUS_SUCCESS) {
      CHECK(t.width == cases[i].want_w && t.height == cases[i].want_h,
            "%dx%d at max_side %d: got %dx%d, want %dx%d", cases[i].w, cases[i].h,
            cases[i].max_side, t.width, t.height, cases[i].want_w, cases[i].want_h);
      CHECK(strcmp(info.format, "BMP") == 0 && info.width == cases[i].w &&
                info.height == cases[i].h,
            "info: %s %dx%d", info.format, info.width, info.height);
      decoded d = decode_jpeg(&t);
      CHECK(d.w == t.width && d.h == t.height, "%dx%d: the JPEG is %dx%d, the struct says %dx%d",
            cases[i].w, cases[i].h, d.w, d.h, t.width, t.height);
      /* Content stays in place: the left quarter red, the right quarter blue (away from the
       * seam, where averaging and JPEG chroma blend the two). */
      if (d.rgb != NULL && d.w >= 16 && d.h >= 8) {
        const int q = d.w / 4;
        CHECK(colour_of(&d, 0, 0, q - 2, d.h) == 'r' && colour_of(&d, d.w - q + 2, 0, d.w, d.h) == 'b',
              "%dx%d: left quarter '%c', right quarter '%c' (want r, b)", cases[i].w, cases[i].h,
              colour_of(&d, 0, 0, q - 2, d.h), colour_of(&d, d.w - q + 2, 0, d.w, d.h));
      }
      stbi_image_free(d.rgb);
    }
    clipdb_thumbnail_free(&t);
    CHECK(t.jpeg == NULL && t.size == 0, "clipdb_thumbnail_free leaves the struct zeroed");
    free(in.data);
  }
}

static void check_no_aliasing(void) {
  /* 4032 x 3024 (a 12-MP frame), 1-pixel black/white checkerboard: every output pixel
   * averages about 12.6 x 12.6 input pixels, so it must be mid gray; a resampler that picks
   * (or bilinearly blends) a few input pixels per output pixel shows black, white or moire. */
  const int w = 4032, h = 3024;
  uint8_t *rgb = malloc((size_t)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) memset(rgb + ((size_t)y * w + x) * 3, ((x ^ y) & 1) ? 255 : 0, 3);
  buf in = make_bmp(rgb, w, h);
  free(rgb);
  clipdb_thumbnail t;
  const clipdb_status s = clipdb_image_thumbnail(in.data, in.size, NULL, &t, NULL);
  free(in.data);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "checkerboard: %s", clipdb_last_error());
  if (s != CLIPDB_STATUS_SUCCESS) return;
  CHECK(t.width == 320 && t.height == 240, "checkerboard: %dx%d", t.width, t.height);
  decoded d = decode_jpeg(&t);
  int lo = 255, hi = 0;
  for (size_t i = 0; d.rgb != NULL && i < (size_t)d.w * d.h * 3; i++) {
    if (d.rgb[i] < lo) lo = d.rgb[i];
    if (d.rgb[i] > hi) hi = d.rgb[i];
  }
  CHECK(lo >= 123 && hi <= 132, "checkerboard thumbnail spans %d..%d, want flat gray 123..132",
        lo, hi);
  stbi_image_free(d.rgb);
  clipdb_thumbnail_free(&t);
}

static void check_exif(void) {
  static const struct {
    const char *file;
    int orientation;
    int w, h;           /* upright thumbnail size */
    const char *layout; /* colours of (first half, second half) along the longer side */
  } cases[] = {
      {"no-tag.jpg", 1, 320, 160, "rb"},
      {"orientation3.jpg", 3, 320, 160, "br"},
      {"orientation6.jpg", 6, 160, 320, "rb"},
      {"orientation8.jpg", 8, 160, 320, "br"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/exif/%s", CLIPDB_SOURCE_DIR, cases[i].file);
    size_t n = 0;
    uint8_t *jpeg = read_file(path, &n);
    CHECK(jpeg != NULL, "cannot read %s", path);
    if (jpeg == NULL) continue;
    for (int exif = 0; exif < 2; exif++) {
      clipdb_thumbnail_params p = params_with(320, 90, exif);
      clipdb_thumbnail t;
      clipdb_image_info info;
      const clipdb_status s = clipdb_image_thumbnail(jpeg, n, &p, &t, &info);
      CHECK(s == CLIPDB_STATUS_SUCCESS, "%s: %s", cases[i].file, clipdb_last_error());
      if (s != CLIPDB_STATUS_SUCCESS) continue;
      CHECK(info.orientation == cases[i].orientation && info.width == 320 && info.height == 160,
            "%s: info orientation %d, %dx%d", cases[i].file, info.orientation, info.width,
            info.height);
      const int want_w = exif ? cases[i].w : 320, want_h = exif ? cases[i].h : 160;
      decoded d = decode_jpeg(&t);
      CHECK(t.width == want_w && t.height == want_h && d.w == want_w && d.h == want_h,
            "%s exif %s: %dx%d (JPEG %dx%d), want %dx%d", cases[i].file,
            exif ? "apply" : "ignore", t.width, t.height, d.w, d.h, want_w, want_h);
      if (d.rgb != NULL && d.w == want_w && d.h == want_h) {
        char got[3] = {0};
        if (d.w > d.h) { /* halves side by side, 16 px kept clear of the seam */
          got[0] = colour_of(&d, 0, 0, d.w / 2 - 16, d.h);
          got[1] = colour_of(&d, d.w / 2 + 16, 0, d.w, d.h);
        } else { /* halves one above the other */
          got[0] = colour_of(&d, 0, 0, d.w, d.h / 2 - 16);
          got[1] = colour_of(&d, 0, d.h / 2 + 16, d.w, d.h);
        }
        const char *want = exif ? cases[i].layout : "rb";
        CHECK(strcmp(got, want) == 0, "%s exif %s: halves '%s', want '%s'", cases[i].file,
              exif ? "apply" : "ignore", got, want);
      }
      stbi_image_free(d.rgb);
      clipdb_thumbnail_free(&t);
    }
    free(jpeg);
  }
}

static void check_alpha_and_gray(void) {
  /* RGBA: left half transparent black (must become white), right half blue at alpha 128
   * (over white: 127, 127, 255). */
  enum { W = 64, H = 32 };
  uint8_t rgba[W * H * 4];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = rgba + (y * W + x) * 4;
      p[0] = p[1] = 0;
      p[2] = x < W / 2 ? 0 : 255;
      p[3] = x < W / 2 ? 0 : 128;
    }
  buf png = {0};
  CHECK(stbi_write_png_to_func(stb_sink, &png, W, H, 4, rgba, W * 4), "writing the RGBA PNG");
  clipdb_thumbnail_params p = params_with(320, 95, CLIPDB_EXIF_APPLY);
  clipdb_thumbnail t;
  clipdb_image_info info;
  clipdb_status s = clipdb_image_thumbnail(png.data, png.size, &p, &t, &info);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "RGBA PNG: %s", clipdb_last_error());
  if (s == CLIPDB_STATUS_SUCCESS) {
    CHECK(strcmp(info.mode, "RGBA") == 0, "RGBA PNG decoded as mode %s", info.mode);
    decoded d = decode_jpeg(&t);
    if (d.rgb != NULL) {
      CHECK(colour_of(&d, 0, 0, W / 2 - 8, H) == 'w', "transparent pixels are not white");
      const double r = mean_of(&d, 0, W / 2 + 8, 0, W, H), g = mean_of(&d, 1, W / 2 + 8, 0, W, H),
                   b = mean_of(&d, 2, W / 2 + 8, 0, W, H);
      CHECK(r > 121 && r < 133 && g > 121 && g < 133 && b > 249,
            "blue at alpha 128 over white: (%.1f, %.1f, %.1f), want about (127, 127, 255)", r, g, b);
    }
    stbi_image_free(d.rgb);
  }
  clipdb_thumbnail_free(&t);
  free(png.data);

  /* Gray + alpha: gray 0 at alpha 255 on top, alpha 0 below (white). */
  uint8_t la[W * H * 2];
  for (int i = 0; i < W * H; i++) {
    la[2 * i] = 0;
    la[2 * i + 1] = i < W * H / 2 ? 255 : 0;
  }
  buf la_png = {0};
  CHECK(stbi_write_png_to_func(stb_sink, &la_png, W, H, 2, la, W * 2), "writing the LA PNG");
  s = clipdb_image_thumbnail(la_png.data, la_png.size, &p, &t, &info);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "LA PNG: %s", clipdb_last_error());
  if (s == CLIPDB_STATUS_SUCCESS) {
    decoded d = decode_jpeg(&t);
    if (d.rgb != NULL) {
      CHECK(mean_of(&d, 0, 0, 0, W, H / 2 - 4) < 8 && mean_of(&d, 1, 0, 0, W, H / 2 - 4) < 8,
            "opaque black gray+alpha is not black");
      CHECK(colour_of(&d, 0, H / 2 + 4, W, H) == 'w', "transparent gray+alpha is not white");
    }
    stbi_image_free(d.rgb);
  }
  clipdb_thumbnail_free(&t);
  free(la_png.data);

  /* Plain gray stays gray: R = G = B = 100 (within JPEG rounding). */
  uint8_t gray[W * H];
  memset(gray, 100, sizeof gray);
  buf g_png = {0};
  CHECK(stbi_write_png_to_func(stb_sink, &g_png, W, H, 1, gray, W), "writing the gray PNG");
  s = clipdb_image_thumbnail(g_png.data, g_png.size, &p, &t, &info);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "gray PNG: %s", clipdb_last_error());
  if (s == CLIPDB_STATUS_SUCCESS) {
    CHECK(strcmp(info.mode, "L") == 0, "gray PNG decoded as mode %s", info.mode);
    decoded d = decode_jpeg(&t);
    for (int c = 0; d.rgb != NULL && c < 3; c++) {
      const double m = mean_of(&d, c, 0, 0, W, H);
      CHECK(m > 98 && m < 102, "gray 100 comes out as %.2f in channel %d", m, c);
    }
    stbi_image_free(d.rgb);
  }
  clipdb_thumbnail_free(&t);
  free(g_png.data);
}

static void check_quality(void) {
  /* Noise compresses worse at higher quality: 30 < 80 < 95 in bytes. */
  enum { W = 400, H = 300 };
  uint8_t *rgb = malloc(W * H * 3);
  uint32_t x = 12345;
  for (int i = 0; i < W * H * 3; i++) {
    x = x * 1664525u + 1013904223u;
    rgb[i] = (uint8_t)(x >> 24);
  }
  buf in = make_bmp(rgb, W, H);
  free(rgb);
  size_t sizes[3] = {0};
  const int qs[3] = {30, 80, 95};
  for (int i = 0; i < 3; i++) {
    clipdb_thumbnail_params p = params_with(320, qs[i], CLIPDB_EXIF_APPLY);
    clipdb_thumbnail t;
    CHECK(clipdb_image_thumbnail(in.data, in.size, &p, &t, NULL) == CLIPDB_STATUS_SUCCESS,
          "quality %d: %s", qs[i], clipdb_last_error());
    sizes[i] = t.size;
    clipdb_thumbnail_free(&t);
  }
  CHECK(sizes[0] < sizes[1] && sizes[1] < sizes[2], "bytes at quality 30/80/95: %zu/%zu/%zu",
        sizes[0], sizes[1], sizes[2]);
  free(in.data);
}

static void expect(clipdb_status got, clipdb_status want, const char *what, const char *needle) {
  CHECK(got == want, "%s: %s, want %s (%s)", what, clipdb_status_string(got),
        clipdb_status_string(want), clipdb_last_error());
  CHECK(needle == NULL || strstr(clipdb_last_error(), needle) != NULL,
        "%s: message '%s' does not mention '%s'", what, clipdb_last_error(), needle);
}

/* A GIF89a whose logical screen is w x h with one 1x1 black first frame. */
static buf make_gif(int w, int h) {
  buf b = {0};
  put(&b, "GIF89a", 6);
  put_le(&b, (uint32_t)w, 2);
  put_le(&b, (uint32_t)h, 2);
  const uint8_t screen[] = {0x80, 0, 0, 0, 0, 0, 255, 255, 255}; /* 2-entry global palette */
  put(&b, screen, sizeof screen);
  const uint8_t frame[] = {0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, /* descriptor: 1x1 at 0,0 */
                           2, 2, 0x44, 0x01, 0,              /* LZW: code size 2, one pixel */
                           0x3b};
  put(&b, frame, sizeof frame);
  return b;
}

static void check_errors(void) {
  buf small = make_halves(100, 50);
  clipdb_thumbnail t;
  clipdb_thumbnail_params p = clipdb_thumbnail_default_params();

  /* INVALID_ARGUMENT */
  expect(clipdb_image_thumbnail(small.data, small.size, &p, NULL, NULL),
         CLIPDB_STATUS_INVALID_ARGUMENT, "out NULL", "out is NULL");
  expect(clipdb_image_thumbnail(NULL, 10, &p, &t, NULL), CLIPDB_STATUS_INVALID_ARGUMENT,
         "data NULL", "data is NULL");
  static const struct {
    int max_side, quality, exif;
    const char *needle;
  } bad[] = {{15, 80, 1, "max_side 15"}, {4097, 80, 1, "max_side 4097"}, {0, 80, 1, "max_side 0"},
             {320, 0, 1, "quality 0"},   {320, 101, 1, "quality 101"},   {320, 80, 2, "exif mode 2"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clipdb_thumbnail_params q = params_with(bad[i].max_side, bad[i].quality, bad[i].exif);
    t.jpeg = (uint8_t *)1; /* must be zeroed on failure */
    expect(clipdb_image_thumbnail(small.data, small.size, &q, &t, NULL),
           CLIPDB_STATUS_INVALID_ARGUMENT, bad[i].needle, bad[i].needle);
    CHECK(t.jpeg == NULL && t.size == 0, "%s: out not zeroed on failure", bad[i].needle);
  }
  /* the bounds themselves are accepted */
  clipdb_thumbnail_params edge = params_with(16, 1, CLIPDB_EXIF_IGNORE);
  expect(clipdb_image_thumbnail(small.data, small.size, &edge, &t, NULL), CLIPDB_STATUS_SUCCESS,
         "max_side 16, quality 1", NULL);
  CHECK(t.width == 16 && t.height == 8, "max_side 16: %dx%d", t.width, t.height);
  clipdb_thumbnail_free(&t);
  edge = params_with(4096, 100, CLIPDB_EXIF_APPLY);
  expect(clipdb_image_thumbnail(small.data, small.size, &edge, &t, NULL), CLIPDB_STATUS_SUCCESS,
         "max_side 4096, quality 100", NULL);
  CHECK(t.width == 100 && t.height == 50, "max_side 4096 upscaled: %dx%d", t.width, t.height);
  clipdb_thumbnail_free(&t);

  /* BAD_IMAGE: empty, unknown bytes, a truncated JPEG, a BMP cut short */
  expect(clipdb_image_thumbnail("", 0, &p, &t, NULL), CLIPDB_STATUS_BAD_IMAGE, "empty", "empty");
  expect(clipdb_image_thumbnail("hello, world", 12, &p, &t, NULL), CLIPDB_STATUS_BAD_IMAGE,
         "text", "unrecognised");
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/exif/no-tag.jpg", CLIPDB_SOURCE_DIR);
  size_t n = 0;
  uint8_t *jpeg = read_file(path, &n);
  CHECK(jpeg != NULL, "cannot read %s", path);
  if (jpeg != NULL)
    expect(clipdb_image_thumbnail(jpeg, n / 2, &p, &t, NULL), CLIPDB_STATUS_BAD_IMAGE,
           "truncated JPEG", "truncated");
  free(jpeg);
  expect(clipdb_image_thumbnail(small.data, small.size - 100, &p, &t, NULL),
         CLIPDB_STATUS_BAD_IMAGE, "truncated BMP", "truncated");

  /* UNSUPPORTED: WebP by its signature */
  const uint8_t webp[] = {'R', 'I', 'F', 'F', 40, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
  expect(clipdb_image_thumbnail(webp, sizeof webp, &p, &t, NULL), CLIPDB_STATUS_UNSUPPORTED,
         "WebP", "WebP");

  /* IMAGE_TOO_LARGE: 100 x 50 = 5000 pixels over a 4999-pixel limit, before decoding */
  clipdb_thumbnail_params tight = clipdb_thumbnail_default_params();
  tight.max_pixels = 4999;
  expect(clipdb_image_thumbnail(small.data, small.size, &tight, &t, NULL),
         CLIPDB_STATUS_IMAGE_TOO_LARGE, "max_pixels", "5000 pixels");
  tight.max_pixels = 5000;
  expect(clipdb_image_thumbnail(small.data, small.size, &tight, &t, NULL), CLIPDB_STATUS_SUCCESS,
         "max_pixels at the size", NULL);
  clipdb_thumbnail_free(&t);
  free(small.data);

  /* OUT_OF_MEMORY: a 13000 x 13000 GIF canvas (169 Mpx, under the default max_pixels) needs
   * about 1.5 GB in the decoder; with the address space limited to 512 MB more than in use
   * now, the allocation fails and the status says so, naming the bytes. */
#if defined(__linux__) && !defined(UNDER_SANITIZER)
  buf gif = make_gif(13000, 13000);
  struct rlimit old;
  size_t vm_pages = 0;
  FILE *statm = fopen("/proc/self/statm", "r");
  const int have_vm = statm != NULL && fscanf(statm, "%zu", &vm_pages) == 1;
  if (statm != NULL) fclose(statm);
  if (have_vm && getrlimit(RLIMIT_AS, &old) == 0) {
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)vm_pages * 4096u + ((rlim_t)512 << 20);
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur) lim.rlim_cur = old.rlim_cur;
    if (setrlimit(RLIMIT_AS, &lim) == 0) {
      const clipdb_status s = clipdb_image_thumbnail(gif.data, gif.size, &p, &t, NULL);
      setrlimit(RLIMIT_AS, &old);
      expect(s, CLIPDB_STATUS_OUT_OF_MEMORY, "13000x13000 GIF under a memory limit", "bytes");
      CHECK(strstr(clipdb_last_error(), "13000 x 13000") != NULL, "OOM message: %s",
            clipdb_last_error());
      clipdb_thumbnail_free(&t);
    } else {
      printf("note: setrlimit(RLIMIT_AS) refused; OUT_OF_MEMORY not checked here\n");
    }
  }
  free(gif.data);
#else
  printf("note: OUT_OF_MEMORY check skipped (needs Linux RLIMIT_AS, no sanitizer)\n");
#endif
}

int main(void) {
  const size_t baseline = clipdb_allocated_bytes();
  const clipdb_thumbnail_params d = clipdb_thumbnail_default_params();
  CHECK(d.max_side == 320 && d.quality == 80 && d.exif == CLIPDB_EXIF_APPLY &&
            d.max_pixels == clipdb_image_default_params().max_pixels,
        "defaults: max_side %d, quality %d, exif %d, max_pixels %llu", d.max_side, d.quality,
        d.exif, (unsigned long long)d.max_pixels);
  clipdb_thumbnail_free(NULL);

  check_sizes();
  check_no_aliasing();
  check_exif();
  check_alpha_and_gray();
  check_quality();
  check_errors();

  CHECK(clipdb_allocated_bytes() == baseline, "%zu bytes still allocated by the library",
        clipdb_allocated_bytes() - baseline);
  if (failures == 0) printf("test-image-thumbnail: all checks passed\n");
  return failures != 0;
}
