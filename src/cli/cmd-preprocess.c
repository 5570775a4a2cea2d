/*
 * clipdb preprocess --model PATH [--exif ignore|apply] IMAGE --out FILE
 * clipdb preprocess --resolution N [--exif ignore|apply] IMAGE --out FILE
 *
 * Decodes IMAGE and applies the official CLIP transform (clipdb_image_preprocess), writing
 * the float32 [3, R, R] tensor (CHW, RGB, little-endian, no header) to FILE and one JSON line
 * describing it to stdout. R, mean and std come from the model's config; --resolution N
 * instead uses N with OpenAI's mean/std (no model needed). EXIF orientation is applied by
 * default (the image is turned upright first, as ImageOps.exif_transpose; the one policy of
 * every path, README "Images"); --exif ignore gives the official pipeline's input exactly
 * (PIL.Image.open does not rotate; reference parity).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Resolution, mean and std of the model at `path` (cli_load_model). 0 or an exit status. */
static int config_from_model(const char *path, clipdb_model_config *cfg) {
  clipdb_model_t *model = NULL;
  if (cli_load_model(path, &model) != CLIPDB_STATUS_SUCCESS) return 1; /* reported there */
  clipdb_status status = clipdb_model_get_config(model, cfg);
  clipdb_model_free(model);
  if (status != CLIPDB_STATUS_SUCCESS) return cli_fail(status, "%s", clipdb_last_error());
  if (cfg->image_resolution <= 0)
    return cli_fail(CLIPDB_STATUS_INVALID_STATE,
                    "failed to preprocess for %s: the model has no image tower", path);
  return 0;
}

int cli_preprocess(int argc, char **argv) {
  const char *model_path = NULL, *image = NULL, *out_path = NULL;
  int exif = CLIPDB_EXIF_APPLY, resolution = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int has_value = i + 1 < argc;
    if (strcmp(a, "--model") == 0 && has_value) model_path = argv[++i];
    else if (strcmp(a, "--out") == 0 && has_value) out_path = argv[++i];
    else if (strcmp(a, "--exif") == 0 && has_value) {
      exif = cli_parse_exif(argv[++i]);
      if (exif < 0) return cli_usage("preprocess", "--exif takes ignore or apply, not '%s'", argv[i]);
    } else if (strcmp(a, "--resolution") == 0 && has_value) {
      char *end = NULL;
      long v = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || v < 1 || v > 8192)
        return cli_usage("preprocess", "--resolution takes an integer 1..8192, not '%s'", argv[i]);
      resolution = (int)v;
    } else if (a[0] == '-' && a[1] != '\0') {
      return cli_usage("preprocess", "unknown or incomplete option '%s'", a);
    } else if (image == NULL) {
      image = a;
    } else {
      return cli_usage("preprocess", "more than one IMAGE ('%s' and '%s')", image, a);
    }
  }
  if (image == NULL) return cli_usage("preprocess", "missing IMAGE");
  if (out_path == NULL) return cli_usage("preprocess", "missing --out FILE");
  if (model_path == NULL && resolution == 0)
    return cli_usage("preprocess", "missing --model PATH (or --resolution N)");

  clipdb_model_config cfg;
  memset(&cfg, 0, sizeof cfg);
  int have_cfg = 0;
  if (model_path != NULL) {
    int rc = config_from_model(model_path, &cfg);
    if (rc != 0) return rc;
    have_cfg = 1;
  }
  clipdb_image_params p = cli_image_params(have_cfg ? &cfg : NULL, exif);
  if (resolution > 0) p.resolution = resolution;

  const size_t n = (size_t)3 * p.resolution * p.resolution;
  float *pixels = malloc(n * sizeof(float));
  if (pixels == NULL) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory for %zu floats", n);
  clipdb_image_info info;
  if (cli_load_image(image, &p, pixels, &info) != CLIPDB_STATUS_SUCCESS) {
    free(pixels);
    return 1;
  }
  FILE *f = fopen(out_path, "wb");
  int ok = f != NULL;
  /* The tensor file is little-endian float32; every target clipdb builds for is LE. */
  if (ok) ok = fwrite(pixels, sizeof(float), n, f) == n;
  if (f != NULL && fclose(f) != 0) ok = 0;
  free(pixels);
  if (!ok) return cli_fail(CLIPDB_STATUS_IO, "failed to write %s", out_path);

  printf("{\"out\":");
  cli_json_string(stdout, out_path);
  printf(",\"shape\":[3,%d,%d],\"dtype\":\"float32\",\"format\":", (int)p.resolution,
         (int)p.resolution);
  cli_json_string(stdout, info.format);
  printf(",\"mode\":");
  cli_json_string(stdout, info.mode);
  printf(",\"width\":%d,\"height\":%d,\"orientation\":%d,\"exif\":\"%s\"}\n", (int)info.width,
         (int)info.height, (int)info.orientation, exif == CLIPDB_EXIF_APPLY ? "apply" : "ignore");
  return 0;
}
