/*
 * EXIF orientation: one policy on every path, and by default it is "apply".
 *  - clipdb_image_default_params().exif == CLIPDB_EXIF_APPLY;
 *  - tests/data/exif/ (scripts/make-exif-fixtures.py: a 320x160 PIL JPEG, left half red,
 *    right half blue, without a tag and with Orientation 3, 6, 8): with the defaults the
 *    224x224 input shows the photo upright (orientation 6: top half red, bottom half blue;
 *    8: blue over red; 3: blue left, red right; no tag: red left, blue right), and with an
 *    explicit CLIPDB_EXIF_IGNORE every file gives the untagged layout (PIL.Image.open);
 *  - golden (skipped when absent): with the defaults, exif_orientation6.jpg matches the
 *    reference `exif_orientation6_transposed` (ImageOps.exif_transpose then the official
 *    transform) within the JPEG tolerance of test-image-golden, and only with IGNORE does it
 *    match `exif_orientation6` (the plain PIL.Image.open reference).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb.h"
#include "golden.h"
#include "model/safetensors.h"
#include "read-file.h"

#include "check.h"

#define R 224
#define PLANE (R * R)

static const float MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* read_file, exiting with a message when the file is missing. */
static uint8_t *read_all(const char *path, size_t *n) {
  uint8_t *buf = read_file(path, n);
  if (buf == NULL) {
    printf("cannot read %s\n", path);
    exit(1);
  }
  return buf;
}

/* Mean uint8 value of channel c over a quadrant (qy, qx in {0, 1}), 16 px away from the
 * centre lines (where the JPEG and the bicubic resize blend the colours). */
static double quadrant_mean(const float *x, int c, int qy, int qx) {
  double s = 0;
  int n = 0;
  for (int y = qy ? R / 2 + 16 : 0; y < (qy ? R : R / 2 - 16); y++)
    for (int xx = qx ? R / 2 + 16 : 0; xx < (qx ? R : R / 2 - 16); xx++, n++)
      s += ((double)x[c * PLANE + y * R + xx] * STD[c] + MEAN[c]) * 255.0;
  return s / n;
}

/* 'r' or 'b' when the quadrant is clearly pure red / pure blue, else '?'. */
static char quadrant_colour(const float *x, int qy, int qx) {
  const double r = quadrant_mean(x, 0, qy, qx), g = quadrant_mean(x, 1, qy, qx),
               b = quadrant_mean(x, 2, qy, qx);
  if (r > 240 && g < 15 && b < 15) return 'r';
  if (b > 240 && g < 15 && r < 15) return 'b';
  return '?';
}

/* uint8-scale mean and max |a - b| over the whole [3,R,R] tensor. */
static void u8_diff(const float *a, const float *b, double *mean, double *max) {
  double s = 0, m = 0;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < PLANE; i++) {
      const double d = fabs(round(((double)a[c * PLANE + i] * STD[c] + MEAN[c]) * 255.0) -
                            round(((double)b[c * PLANE + i] * STD[c] + MEAN[c]) * 255.0));
      s += d;
      if (d > m) m = d;
    }
  *mean = s / (3.0 * PLANE);
  *max = m;
}

int main(void) {
  static float out[3 * PLANE];
  const size_t baseline = clipdb_allocated_bytes();
  CHECK(clipdb_image_default_params().exif == CLIPDB_EXIF_APPLY,
        "default exif mode is %d, the documented default is APPLY (1)",
        (int)clipdb_image_default_params().exif);

  /* The generated orientation photos. Quadrants in reading order: top-left, top-right, bottom-left,
   * bottom-right. */
  static const struct {
    const char *file;
    int orientation;
    const char *upright;
  } fx[] = {{"no-tag.jpg", 1, "rbrb"}, {"orientation3.jpg", 3, "brbr"},
            {"orientation6.jpg", 6, "rrbb"}, {"orientation8.jpg", 8, "bbrr"}};
  for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/exif/%s", CLIPDB_SOURCE_DIR, fx[i].file);
    size_t n = 0;
    uint8_t *bytes = read_all(path, &n);
    for (int mode = 0; mode < 2; mode++) {
      clipdb_image_params p = clipdb_image_default_params(); /* mode 0: the defaults */
      if (mode == 1) p.exif = CLIPDB_EXIF_IGNORE;
      clipdb_image_info info;
      CHECK(clipdb_image_preprocess(bytes, n, &p, out, &info) == CLIPDB_STATUS_SUCCESS, "%s: %s",
            fx[i].file, clipdb_last_error());
      CHECK(info.orientation == fx[i].orientation && info.width == 320 && info.height == 160,
            "%s: info %dx%d orientation %d", fx[i].file, (int)info.width, (int)info.height,
            (int)info.orientation);
      char got[5] = {quadrant_colour(out, 0, 0), quadrant_colour(out, 0, 1),
                     quadrant_colour(out, 1, 0), quadrant_colour(out, 1, 1), 0};
      /* no tag / IGNORE: red left, blue right */
      const char *want = mode == 0 ? fx[i].upright : "rbrb";
      CHECK(strcmp(got, want) == 0, "%s, exif %s: quadrants (TL TR BL BR) %s, want %s",
            fx[i].file, mode == 0 ? "default" : "ignore", got, want);
      printf("  %-18s exif %-7s quadrants %s\n", fx[i].file, mode == 0 ? "default" : "ignore",
             got);
    }
    free(bytes);
  }

  /* The golden photo with orientation 6 against both references. */
  if (golden_dir() == NULL) {
    printf("SKIP (golden part): golden reference data not found: expected ../shared/golden "
           "beside the checkout, or set CLIPDB_GOLDEN\n");
  } else {
    size_t rn = 0, n = 0;
    uint8_t *ref_bytes = read_all(golden_require("tiny-vit/reference.safetensors"), &rn);
    clipdb__safetensors *st = NULL;
    CHECK(clipdb__safetensors_open(ref_bytes, rn, NULL, &st) == CLIPDB_STATUS_SUCCESS,
          "reference.safetensors: %s", clipdb_last_error());
    uint8_t *jpg = read_all(golden_require("images/exif_orientation6.jpg"), &n);
    float *plain = st ? clipdb__safetensors_read_f32(st, "image/exif_orientation6/pixels", NULL, NULL) : NULL;
    float *upright = st ? clipdb__safetensors_read_f32(st, "image/exif_orientation6_transposed/pixels", NULL, NULL) : NULL;
    CHECK(plain != NULL && upright != NULL, "golden exif_orientation6 references missing");
    if (plain != NULL && upright != NULL) {
      clipdb_image_params p = clipdb_image_default_params();
      double m, x, m2, x2;
      CHECK(clipdb_image_preprocess(jpg, n, &p, out, NULL) == CLIPDB_STATUS_SUCCESS, "%s",
            clipdb_last_error());
      u8_diff(out, upright, &m, &x);
      u8_diff(out, plain, &m2, &x2);
      CHECK(m <= 0.5 && x <= 4, "defaults vs exif_orientation6_transposed: uint8 mean |d| %.4f "
            "(<= 0.5), max %.0f (<= 4)", m, x);
      CHECK(m2 > 10, "defaults vs the unrotated reference: uint8 mean |d| %.4f, expected the "
            "rotation to change the input", m2);
      printf("  golden exif_orientation6, defaults: vs transposed ref mean|d| %.4f max %.0f; "
             "vs plain ref mean|d| %.2f\n", m, x, m2);
      p.exif = CLIPDB_EXIF_IGNORE;
      CHECK(clipdb_image_preprocess(jpg, n, &p, out, NULL) == CLIPDB_STATUS_SUCCESS, "%s",
            clipdb_last_error());
      u8_diff(out, plain, &m, &x);
      CHECK(m <= 0.5 && x <= 4, "IGNORE vs exif_orientation6: uint8 mean |d| %.4f, max %.0f", m,
            x);
      printf("  golden exif_orientation6, IGNORE: vs plain ref mean|d| %.4f max %.0f\n", m, x);
    }
    clipdb__free(plain);
    clipdb__free(upright);
    clipdb__safetensors_free(st);
    free(jpg);
    free(ref_bytes);
  }
  CHECK(clipdb_allocated_bytes() == baseline, "leak: %zu bytes still allocated",
        clipdb_allocated_bytes());
  if (failures) printf("%d failure(s)\n", failures);
  else printf("ok\n");
  return failures != 0;
}
