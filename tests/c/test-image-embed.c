/*
 * End to end, image file -> embedding, against the official pipeline for both golden models
 * (../shared/golden/tiny-{vit,rn}: `image/<name>/embedding` = model.encode_image of the
 * official preprocess of PIL.Image.open(file)), for all 21 entries:
 *  - lossless files (pixels bit-exact): max |d| <= 1e-4 * max |ref| (the engine tolerance);
 *  - JPEG (stb_image decoding, pixels within 2/255): cosine similarity >= 0.9999.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void run_model(const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  size_t model_n = 0, ref_n = 0;
  uint8_t *model_bytes = read_all(golden_require(path), &model_n);
  snprintf(path, sizeof path, "%s/reference.safetensors", dir);
  uint8_t *ref_bytes = read_all(golden_require(path), &ref_n);
  clipdb__safetensors *st = NULL;
  CHECK(clipdb__safetensors_open(ref_bytes, ref_n, NULL, &st) == 0, "reference: %s", clipdb_last_error());

  clipdb_file file = {"model.safetensors", model_bytes, model_n};
  clipdb_model_params mp = clipdb_model_default_params();
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  CHECK(clipdb_model_init_from_files(&file, 1, &mp, &model) == 0, "%s: %s", dir, clipdb_last_error());
  CHECK(model != NULL && clipdb_session_init(model, &session) == 0, "%s session: %s", dir, clipdb_last_error());
  if (session == NULL || st == NULL) return;
  clipdb_model_config cfg;
  clipdb_model_get_config(model, &cfg);

  /* The image parameters come from the model's config, as the CLI does. */
  clipdb_image_params p = clipdb_image_default_params();
  p.resolution = cfg.image_resolution;
  memcpy(p.mean, cfg.image_mean, sizeof p.mean);
  memcpy(p.std, cfg.image_std, sizeof p.std);
  const size_t R = (size_t)cfg.image_resolution, E = (size_t)cfg.embed_dim;
  float *pixels = malloc(3 * R * R * sizeof(float)), *emb = malloc(E * sizeof(float));
  double worst_rel = 0, worst_cos = 1;
  printf("%s (R = %zu, E = %zu):\n", dir, R, E);
  for (size_t e = 0; e < N_ENTRIES; e++) {
    const struct entry *en = &entries[e];
    snprintf(path, sizeof path, "images/%s", en->file);
    size_t n = 0;
    uint8_t *bytes = read_all(golden_require(path), &n);
    p.exif = en->exif_apply ? CLIPDB_EXIF_APPLY : CLIPDB_EXIF_IGNORE;
    clipdb_status s = clipdb_image_preprocess(bytes, n, &p, pixels, NULL);
    CHECK(s == 0, "%s: preprocess: %s", en->name, clipdb_last_error());
    free(bytes);
    if (s != 0) continue;
    s = clipdb_image_embed(session, pixels, 1, emb);
    CHECK(s == 0, "%s: embed: %s", en->name, clipdb_session_last_error(session));
    char tname[128];
    snprintf(tname, sizeof tname, "image/%s/embedding", en->name);
    size_t numel = 0;
    float *ref = clipdb__safetensors_read_f32(st, tname, NULL, &numel);
    CHECK(ref != NULL && numel == E, "%s missing or misshapen", tname);
    if (ref == NULL || s != 0) {
      clipdb__free(ref);
      continue;
    }
    double maxd = 0, maxref = 0, dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < E; i++) {
      maxd = fmax(maxd, fabs((double)emb[i] - ref[i]));
      maxref = fmax(maxref, fabs((double)ref[i]));
      dot += (double)emb[i] * ref[i];
      na += (double)emb[i] * emb[i];
      nb += (double)ref[i] * ref[i];
    }
    const double cosine = dot / sqrt(na * nb), rel = maxd / maxref;
    if (entry_is_jpeg(en)) {
      CHECK(cosine >= 0.9999, "%s/%s: cosine %.7f < 0.9999", dir, en->name, cosine);
      worst_cos = fmin(worst_cos, cosine);
    } else {
      CHECK(rel <= 1e-4, "%s/%s: max |d| %.3g = %.3g x max|ref| > 1e-4", dir, en->name, maxd, rel);
      worst_rel = fmax(worst_rel, rel);
    }
    printf("  %-30s max|d|/max|ref| = %.3g  cosine = %.8f\n", en->name, rel, cosine);
    clipdb__free(ref);
  }
  printf("  worst: lossless max|d|/max|ref| %.3g, JPEG cosine %.7f\n", worst_rel, worst_cos);
  free(pixels);
  free(emb);
  clipdb_session_free(session);
  clipdb_model_free(model);
  clipdb__safetensors_free(st);
  free(ref_bytes);
  free(model_bytes);
}

int main(void) {
  golden_require("README.md");
  const size_t baseline = clipdb_allocated_bytes();
  run_model("tiny-vit");
  run_model("tiny-rn");
  CHECK(clipdb_allocated_bytes() == baseline, "leak: %zu bytes (baseline %zu)", clipdb_allocated_bytes(), baseline);
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("all end-to-end image checks passed\n");
  return 0;
}
