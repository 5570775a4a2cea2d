/*
 * The image pipeline against the official one (../shared/golden, tiny-vit/reference.safetensors
 * `image/<name>/pixels`, made by PIL.Image.open + clip's _transform on Pillow 9.4):
 *  - lossless files (PNG, BMP, GIF): every value within 1e-6 (in practice bit-exact);
 *  - JPEG (stb_image's IDCT/upsampling is not libjpeg-turbo's): in uint8 terms, recovered
 *    as round((x * std + mean) * 255), mean |d| <= 0.5 and max |d| <= 4 per image;
 *  - EXIF apply vs the `exif_orientation6_transposed` entry; both EXIF byte orders;
 *  - clipdb_image_preprocess_pixels (RGB and RGBA with row padding) vs the same references;
 *  - corrupt, truncated, zero-byte, oversized and unsupported inputs get their named errors;
 *  - the library's allocation counter returns to its baseline.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#include "clipdb.h"
#include "golden.h"
#include "image-entries.h"
#include "model/safetensors.h"

#include "check.h"

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    printf("cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
  if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
    printf("cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  *n = (size_t)size;
  return buf;
}

#define R 224
#define PLANE (R * R)

static const float MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static int is_jpeg(const char *file) { return strstr(file, ".jpg") != NULL; }

/* Compare with the reference; returns max |d| in float and fills uint8-domain stats. */
static double compare(const float *x, const float *ref, double *u8_mean, double *u8_max) {
  double maxd = 0, sum = 0, umax = 0;
  for (int c = 0; c < 3; c++) {
    for (int i = 0; i < PLANE; i++) {
      const double d = fabs((double)x[c * PLANE + i] - ref[c * PLANE + i]);
      if (d > maxd) maxd = d;
      const double a = round(((double)x[c * PLANE + i] * STD[c] + MEAN[c]) * 255.0);
      const double b = round(((double)ref[c * PLANE + i] * STD[c] + MEAN[c]) * 255.0);
      sum += fabs(a - b);
      if (fabs(a - b) > umax) umax = fabs(a - b);
    }
  }
  *u8_mean = sum / (3.0 * PLANE);
  *u8_max = umax;
  return maxd;
}

static clipdb_status run_bytes(const uint8_t *data, size_t n, clipdb_image_params *p,
                               float *out, clipdb_image_info *info) {
  return clipdb_image_preprocess(data, n, p, out, info);
}

static void expect_error(const char *what, const uint8_t *data, size_t n, uint64_t max_pixels,
                         clipdb_status want, const char *want_in_message) {
  clipdb_image_params p = clipdb_image_default_params();
  if (max_pixels) p.max_pixels = max_pixels;
  static float out[3 * PLANE];
  clipdb_status s = run_bytes(data, n, &p, out, NULL);
  const char *msg = clipdb_last_error();
  CHECK(s == want, "%s: got %s (%s), want %s", what, clipdb_status_string(s), msg,
        clipdb_status_string(want));
  if (want_in_message != NULL)
    CHECK(strstr(msg, want_in_message) != NULL, "%s: message '%s' does not name '%s'", what, msg,
          want_in_message);
  printf("  %-34s -> %s: %s\n", what, clipdb_status_string(s), msg);
}

/* A PNG whose IHDR claims w x h RGB 8-bit, with a tiny (empty) IDAT. */
static size_t make_png_header(uint8_t *buf, uint32_t w, uint32_t h) {
  static const uint8_t tail[] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e,
                                 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  size_t n = 0;
  memcpy(buf, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  n = 16;
  const uint8_t ihdr[13] = {w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h, 8, 2, 0, 0, 0};
  memcpy(buf + n, ihdr, 13);
  n += 13;
  memset(buf + n, 0, 4); /* CRC: stb does not check it */
  n += 4;
  memcpy(buf + n, tail, sizeof tail);
  return n + sizeof tail;
}

/* `jpeg` with an APP1 Exif segment (orientation `o`, byte order II or MM) after SOI. */
static uint8_t *with_exif(const uint8_t *jpeg, size_t n, int big_endian, int o, size_t *out_n) {
  uint8_t seg[2 + 2 + 6 + 8 + 2 + 12 + 4];
  size_t k = 0;
  seg[k++] = 0xff;
  seg[k++] = 0xe1;
  const size_t len = sizeof seg - 2;
  seg[k++] = (uint8_t)(len >> 8);
  seg[k++] = (uint8_t)len;
  memcpy(seg + k, "Exif\0\0", 6);
  k += 6;
  const uint8_t tiff_le[8] = {'I', 'I', 42, 0, 8, 0, 0, 0};
  const uint8_t tiff_be[8] = {'M', 'M', 0, 42, 0, 0, 0, 8};
  memcpy(seg + k, big_endian ? tiff_be : tiff_le, 8);
  k += 8;
  /* one IFD entry: 0x0112 SHORT count 1 value o */
  const uint8_t ifd_le[14] = {1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)o, 0, 0, 0};
  const uint8_t ifd_be[14] = {0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)o, 0, 0};
  memcpy(seg + k, big_endian ? ifd_be : ifd_le, 14);
  k += 14;
  memset(seg + k, 0, 4); /* next IFD offset */
  k += 4;
  uint8_t *buf = malloc(n + k);
  memcpy(buf, jpeg, 2);
  memcpy(buf + 2, seg, k);
  memcpy(buf + 2 + k, jpeg + 2, n - 2);
  *out_n = n + k;
  return buf;
}

int main(void) {
  const char *ref_path = golden_require("tiny-vit/reference.safetensors");
  size_t ref_n = 0;
  uint8_t *ref_bytes = read_all(ref_path, &ref_n);
  clipdb__safetensors *st = NULL;
  if (clipdb__safetensors_open(ref_bytes, ref_n, NULL, &st) != CLIPDB_STATUS_SUCCESS) {
    printf("cannot parse %s: %s\n", ref_path, clipdb_last_error());
    return 1;
  }
  /* Every image/<name>/pixels tensor of the reference has an entry here. */
  size_t n_pixels = 0;
  for (size_t i = 0; i < st->n_tensors; i++) {
    const char *nm = st->tensors[i].name;
    size_t l = strlen(nm);
    if (strncmp(nm, "image/", 6) == 0 && l > 7 && strcmp(nm + l - 7, "/pixels") == 0) n_pixels++;
  }
  CHECK(n_pixels == N_ENTRIES, "reference has %zu pixel tensors, the test knows %zu", n_pixels,
        (size_t)N_ENTRIES);

  const size_t baseline = clipdb_allocated_bytes();
  static float out[3 * PLANE];
  char path[256];
  double worst_jpeg_mean = 0, worst_jpeg_max = 0;
  printf("golden image entries (R = %d):\n", R);
  for (size_t e = 0; e < N_ENTRIES; e++) {
    const struct entry *en = &entries[e];
    snprintf(path, sizeof path, "images/%s", en->file);
    size_t n = 0;
    uint8_t *bytes = read_all(golden_require(path), &n);
    char tname[128];
    snprintf(tname, sizeof tname, "image/%s/pixels", en->name);
    size_t numel = 0;
    float *ref = clipdb__safetensors_read_f32(st, tname, NULL, &numel);
    CHECK(ref != NULL && numel == 3 * PLANE, "%s: reference tensor missing or misshapen", tname);
    clipdb_image_params p = clipdb_image_default_params();
    p.exif = en->exif_apply ? CLIPDB_EXIF_APPLY : CLIPDB_EXIF_IGNORE;
    clipdb_image_info info;
    clipdb_status s = run_bytes(bytes, n, &p, out, &info);
    CHECK(s == CLIPDB_STATUS_SUCCESS, "%s: %s", en->name, clipdb_last_error());
    if (s == CLIPDB_STATUS_SUCCESS && ref != NULL) {
      double um, ux;
      const double d = compare(out, ref, &um, &ux);
      CHECK(strcmp(info.mode, en->mode) == 0, "%s: mode %s, Pillow opens it as %s", en->name,
            info.mode, en->mode);
      if (is_jpeg(en->file)) {
        CHECK(um <= 0.5 && ux <= 4, "%s: uint8 mean |d| %.4f (<= 0.5), max %.0f (<= 4)",
              en->name, um, ux);
        if (um > worst_jpeg_mean) worst_jpeg_mean = um;
        if (ux > worst_jpeg_max) worst_jpeg_max = ux;
      } else {
        CHECK(d <= 1e-6, "%s: max |d| = %g > 1e-6 for a lossless file", en->name, d);
      }
      printf("  %-30s %-5s %-4s %4dx%-4d o=%d max|d|=%.3g uint8 mean|d|=%.4f max|d|=%.0f\n",
             en->name, info.format, info.mode, (int)info.width, (int)info.height,
             (int)info.orientation, d, um, ux);
    }
    clipdb__free(ref);
    free(bytes);
  }
  printf("JPEG worst: uint8 mean |d| %.4f, max |d| %.0f\n", worst_jpeg_mean, worst_jpeg_max);

  /* Already-decoded pixels: RGB (astronaut) and RGBA (rgba_transparent), rows padded. */
  {
    const char *cases[][2] = {{"astronaut.png", "image/astronaut/pixels"},
                              {"rgba_transparent.png", "image/rgba_transparent/pixels"},
                              {"tiny_1x1.png", "image/tiny_1x1/pixels"}};
    for (int c = 0; c < 3; c++) {
      snprintf(path, sizeof path, "images/%s", cases[c][0]);
      size_t n = 0;
      uint8_t *bytes = read_all(golden_require(path), &n);
      int w, h, comp;
      stbi_uc *px = stbi_load_from_memory(bytes, (int)n, &w, &h, &comp, 0);
      CHECK(px != NULL && (comp == 3 || comp == 4), "stb decode of %s", cases[c][0]);
      if (px == NULL) continue;
      const int stride = w * comp + 7;
      uint8_t *padded = malloc((size_t)stride * h);
      for (int y = 0; y < h; y++) memcpy(padded + (size_t)y * stride, px + (size_t)y * w * comp, (size_t)w * comp);
      clipdb_image_params p = clipdb_image_default_params();
      clipdb_status s = clipdb_image_preprocess_pixels(padded, w, h, comp, stride, &p, out);
      CHECK(s == CLIPDB_STATUS_SUCCESS, "preprocess_pixels %s: %s", cases[c][0], clipdb_last_error());
      float *ref = clipdb__safetensors_read_f32(st, cases[c][1], NULL, NULL);
      double um, ux;
      const double d = compare(out, ref, &um, &ux);
      CHECK(d <= 1e-6, "preprocess_pixels %s (%d channels): max |d| = %g", cases[c][0], comp, d);
      printf("  pixels path %-22s %d channels: max|d|=%.3g\n", cases[c][0], comp, d);
      clipdb__free(ref);
      free(padded);
      stbi_image_free(px);
      free(bytes);
    }
  }

  /* EXIF orientation: both byte orders read alike; apply changes the result, ignore does not. */
  {
    size_t n = 0;
    uint8_t *rocket = read_all(golden_require("images/rocket.jpg"), &n);
    static float a[3 * PLANE], b[3 * PLANE], c0[3 * PLANE], c1[3 * PLANE];
    clipdb_image_params p = clipdb_image_default_params();
    size_t nle, nbe;
    uint8_t *le = with_exif(rocket, n, 0, 6, &nle), *be = with_exif(rocket, n, 1, 6, &nbe);
    clipdb_image_info ile, ibe;
    p.exif = CLIPDB_EXIF_APPLY;
    CHECK(run_bytes(le, nle, &p, a, &ile) == 0 && run_bytes(be, nbe, &p, b, &ibe) == 0,
          "EXIF variants: %s", clipdb_last_error());
    CHECK(ile.orientation == 6 && ibe.orientation == 6, "orientation II %d, MM %d (want 6)",
          (int)ile.orientation, (int)ibe.orientation);
    CHECK(memcmp(a, b, sizeof a) == 0, "II and MM orientation 6 differ");
    p.exif = CLIPDB_EXIF_IGNORE;
    CHECK(run_bytes(le, nle, &p, c0, NULL) == 0 && run_bytes(rocket, n, &p, c1, NULL) == 0, "ignore");
    CHECK(memcmp(c0, c1, sizeof c0) == 0, "EXIF ignore changed the pixels");
    CHECK(memcmp(a, c0, sizeof a) != 0, "EXIF apply did not change the pixels");
    /* Every orientation value is read (and only 1..8 are accepted). */
    for (int o = 1; o <= 9; o++) {
      size_t no;
      uint8_t *v = with_exif(rocket, n, o & 1, o, &no);
      clipdb_image_info io;
      p.exif = CLIPDB_EXIF_APPLY;
      CHECK(run_bytes(v, no, &p, a, &io) == 0, "orientation %d: %s", o, clipdb_last_error());
      CHECK(io.orientation == (o <= 8 ? o : 1), "orientation %d read as %d", o, (int)io.orientation);
      free(v);
    }
    free(le);
    free(be);
    free(rocket);
  }

  /* Errors. */
  printf("errors:\n");
  {
    size_t n = 0;
    uint8_t *png = read_all(golden_require("images/astronaut.png"), &n);
    expect_error("zero-byte input", png, 0, 0, CLIPDB_STATUS_BAD_IMAGE, "empty");
    expect_error("truncated PNG (header only)", png, 40, 0, CLIPDB_STATUS_BAD_IMAGE, "PNG");
    expect_error("truncated PNG (half the file)", png, n / 2, 0, CLIPDB_STATUS_BAD_IMAGE, "PNG");
    uint8_t *bad = malloc(n);
    memcpy(bad, png, n);
    memset(bad + 100, 0x5a, 4000); /* inside the first IDAT: corrupt deflate data */
    expect_error("corrupt PNG data", bad, n, 0, CLIPDB_STATUS_BAD_IMAGE, "PNG");
    memcpy(bad, png, n);
    bad[25] = 9; /* invalid colour type */
    expect_error("corrupt PNG header", bad, n, 0, CLIPDB_STATUS_BAD_IMAGE, "PNG");
    expect_error("pixel limit (512x512 > 1000)", png, n, 1000, CLIPDB_STATUS_IMAGE_TOO_LARGE, "1000");
    free(bad);
    free(png);

    uint8_t big[128];
    size_t bn = make_png_header(big, 20000, 20000);
    expect_error("PNG claiming 20000x20000", big, bn, 0, CLIPDB_STATUS_IMAGE_TOO_LARGE, "20000");
    bn = make_png_header(big, 70000, 10);
    expect_error("PNG claiming 70000x10", big, bn, 0, CLIPDB_STATUS_IMAGE_TOO_LARGE, "70000");

    uint8_t *jpg = read_all(golden_require("images/rocket.jpg"), &n);
    expect_error("truncated JPEG (headers only)", jpg, 300, 0, CLIPDB_STATUS_BAD_IMAGE, "JPEG");
    expect_error("truncated JPEG (half the file)", jpg, n / 2, 0, CLIPDB_STATUS_BAD_IMAGE, "truncated");
    free(jpg);
    jpg = read_all(golden_require("images/progressive.jpg"), &n);
    expect_error("truncated progressive JPEG", jpg, n - 100, 0, CLIPDB_STATUS_BAD_IMAGE, "truncated");
    free(jpg);
    uint8_t *bmp = read_all(golden_require("images/bmp24.bmp"), &n);
    expect_error("truncated BMP", bmp, n / 2, 0, CLIPDB_STATUS_BAD_IMAGE, "BMP");
    free(bmp);
    uint8_t *gif = read_all(golden_require("images/anim.gif"), &n);
    expect_error("truncated GIF (header only)", gif, 20, 0, CLIPDB_STATUS_BAD_IMAGE, "GIF");
    expect_error("truncated GIF (inside frame 0)", gif, 5000, 0, CLIPDB_STATUS_BAD_IMAGE, "GIF");
    free(gif);

    const uint8_t webp[] = "RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0";
    expect_error("WebP", webp, sizeof webp - 1, 0, CLIPDB_STATUS_UNSUPPORTED, "WebP");
    const uint8_t avif[] = "\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf";
    expect_error("AVIF", avif, sizeof avif - 1, 0, CLIPDB_STATUS_UNSUPPORTED, "AVIF");
    const uint8_t heic[] = "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic";
    expect_error("HEIC", heic, sizeof heic - 1, 0, CLIPDB_STATUS_UNSUPPORTED, "HEIC");
    const uint8_t tiff[] = "II*\0\x08\0\0\0\0\0";
    expect_error("TIFF", tiff, sizeof tiff - 1, 0, CLIPDB_STATUS_UNSUPPORTED, "TIFF");
    /* SOI + SOF1 with 12-bit precision, 16x16, 1 component */
    const uint8_t j12[] = {0xff, 0xd8, 0xff, 0xc1, 0, 11, 12, 0, 16, 0, 16, 1, 1, 0x11, 0,
                           0xff, 0xd9};
    expect_error("12-bit JPEG", j12, sizeof j12, 0, CLIPDB_STATUS_UNSUPPORTED, "12-bit");
    const uint8_t text[] = "hello, this is not an image";
    expect_error("unknown bytes", text, sizeof text - 1, 0, CLIPDB_STATUS_BAD_IMAGE, "unrecognised");
  }
  {
    clipdb_image_params p = clipdb_image_default_params();
    const uint8_t px[4] = {1, 2, 3, 4};
    CHECK(clipdb_image_preprocess(px, 4, &p, NULL, NULL) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL out");
    p.resolution = 0;
    CHECK(clipdb_image_preprocess_pixels(px, 1, 1, 4, 4, &p, out) == CLIPDB_STATUS_INVALID_ARGUMENT,
          "resolution 0");
    p = clipdb_image_default_params();
    CHECK(clipdb_image_preprocess_pixels(px, 1, 1, 2, 2, &p, out) == CLIPDB_STATUS_INVALID_ARGUMENT,
          "2 channels");
    CHECK(clipdb_image_preprocess_pixels(px, 2, 1, 4, 4, &p, out) == CLIPDB_STATUS_INVALID_ARGUMENT,
          "stride too small");
    p.exif = 7;
    CHECK(clipdb_image_preprocess_pixels(px, 1, 1, 4, 4, &p, out) == CLIPDB_STATUS_INVALID_ARGUMENT,
          "exif 7");
  }

  CHECK(clipdb_allocated_bytes() == baseline, "leak: %zu bytes still allocated (baseline %zu)",
        clipdb_allocated_bytes(), baseline);
  clipdb__safetensors_free(st);
  free(ref_bytes);
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("all image checks passed\n");
  return 0;
}
