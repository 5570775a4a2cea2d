/*
 * clipdb thumbnail [--max-side N] [--quality Q] [--exif ignore|apply] IMAGE OUT.jpg
 *
 * Writes a JPEG thumbnail of IMAGE (JPEG, PNG, BMP or GIF) to OUT.jpg with
 * clipdb_image_thumbnail: the longer side becomes at most N pixels (16..4096, default 320;
 * smaller images keep their size), area-averaged, alpha over white, JPEG quality Q (1..100,
 * default 80), upright by the EXIF orientation unless --exif ignore. Prints one JSON line:
 * {"out", "width", "height", "bytes", "quality", "format", "mode", "source_width",
 * "source_height", "orientation", "exif"}. OUT.jpg is only created once the thumbnail exists,
 * so a failure leaves no file behind.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* An integer option value in lo..hi, or -1. */
static long int_in(const char *s, long lo, long hi) {
  char *end = NULL;
  const long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return -1;
  return v;
}

int cli_thumbnail(int argc, char **argv) {
  clipdb_thumbnail_params p = clipdb_thumbnail_default_params();
  const char *in_path = NULL, *out_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int has_value = i + 1 < argc;
    if (strcmp(a, "--max-side") == 0 && has_value) {
      const long v = int_in(argv[++i], 16, 4096);
      if (v < 0) return cli_usage("thumbnail", "--max-side takes an integer 16..4096, not '%s'", argv[i]);
      p.max_side = (int32_t)v;
    } else if (strcmp(a, "--quality") == 0 && has_value) {
      const long v = int_in(argv[++i], 1, 100);
      if (v < 0) return cli_usage("thumbnail", "--quality takes an integer 1..100, not '%s'", argv[i]);
      p.quality = (int32_t)v;
    } else if (strcmp(a, "--exif") == 0 && has_value) {
      const char *v = argv[++i];
      if (strcmp(v, "apply") == 0) p.exif = CLIPDB_EXIF_APPLY;
      else if (strcmp(v, "ignore") == 0) p.exif = CLIPDB_EXIF_IGNORE;
      else return cli_usage("thumbnail", "--exif takes ignore or apply, not '%s'", v);
    } else if (a[0] == '-' && a[1] != '\0') {
      return cli_usage("thumbnail", "unknown or incomplete option '%s'", a);
    } else if (in_path == NULL) {
      in_path = a;
    } else if (out_path == NULL) {
      out_path = a;
    } else {
      return cli_usage("thumbnail", "one IMAGE and one OUT.jpg expected, got a third '%s'", a);
    }
  }
  if (in_path == NULL) return cli_usage("thumbnail", "missing IMAGE");
  if (out_path == NULL) return cli_usage("thumbnail", "missing OUT.jpg");

  void *data = NULL;
  size_t size = 0;
  if (cli_read_file(in_path, &data, &size) != CLIPDB_STATUS_SUCCESS) return 1; /* reported */
  clipdb_thumbnail t;
  clipdb_image_info info;
  const clipdb_status status = clipdb_image_thumbnail(data, size, &p, &t, &info);
  free(data);
  if (status != CLIPDB_STATUS_SUCCESS)
    return cli_fail(status, "%s: %s", in_path, clipdb_last_error());

  FILE *f = fopen(out_path, "wb");
  int ok = f != NULL;
  if (ok) ok = fwrite(t.jpeg, 1, t.size, f) == t.size;
  if (f != NULL && fclose(f) != 0) ok = 0;
  const size_t bytes = t.size;
  const int32_t w = t.width, h = t.height;
  clipdb_thumbnail_free(&t);
  if (!ok) {
    if (f != NULL) remove(out_path);
    return cli_fail(CLIPDB_STATUS_IO, "failed to write %s", out_path);
  }

  printf("{\"out\":");
  cli_json_string(stdout, out_path);
  printf(",\"width\":%d,\"height\":%d,\"bytes\":%zu,\"quality\":%d,\"format\":", (int)w, (int)h,
         bytes, (int)p.quality);
  cli_json_string(stdout, info.format);
  printf(",\"mode\":");
  cli_json_string(stdout, info.mode);
  printf(",\"source_width\":%d,\"source_height\":%d,\"orientation\":%d,\"exif\":\"%s\"}\n",
         (int)info.width, (int)info.height, (int)info.orientation,
         p.exif == CLIPDB_EXIF_APPLY ? "apply" : "ignore");
  return 0;
}
