/*
 * libFuzzer target for the image pipeline: arbitrary bytes through decoding (stb_image plus
 * our own header reading), EXIF orientation and the resamplers, and the same bytes as raw
 * pixels. Built only when asked (see tests/fuzz/README.md); it must never crash, leak or
 * read out of bounds, and every failure must be a named status.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "clipdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static float out[3 * 48 * 48];
  const size_t before = clipdb_allocated_bytes();
  clipdb_image_params p = clipdb_image_default_params();
  p.resolution = 48;             /* small output: the decode and resample paths are the same */
  p.max_pixels = 4096u * 4096u;  /* keep a single input's memory bounded */
  p.exif = size > 0 && (data[size - 1] & 1) ? CLIPDB_EXIF_APPLY : CLIPDB_EXIF_IGNORE;
  clipdb_status s = clipdb_image_preprocess(data, size, &p, out, NULL);
  if (s != CLIPDB_STATUS_SUCCESS && clipdb_last_error()[0] == '\0') abort(); /* unnamed failure */
  if (size >= 3) {
    /* the same bytes as pixels: width from the first byte, channels 1/3/4 */
    const int32_t channels = (int32_t[]){1, 3, 4, 4}[data[0] & 3];
    const int32_t width = 1 + data[1] % 64;
    const size_t body = size - 2;
    const int32_t height = (int32_t)(body / ((size_t)width * channels));
    if (height > 0)
      clipdb_image_preprocess_pixels(data + 2, width, height, channels, width * channels, &p, out);
  }
  if (clipdb_allocated_bytes() != before) abort(); /* leak */
  return 0;
}
