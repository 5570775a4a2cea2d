/*
 * Inputs whose failure (or success) used to be misreported:
 *  - empty and whitespace-only text through the tokenizer: [SOT, EOT] and no pointer
 *    arithmetic on the empty buffer (the sanitizer build runs this as well);
 *  - a PNG cut anywhere after its header: BAD_IMAGE "truncated file" naming the chunk that
 *    was cut, not a corrupt or unknown chunk;
 *  - a negative or fractional tensor dimension in a safetensors header: BAD_MODEL quoting the
 *    entry as written, not "bad dimension 0";
 *  - a JPEG whose Huffman table claims more than 256 codes (found by fuzz-image: stb_image
 *    wrote past its code-length table), also in a segment cut by the end of the file:
 *    BAD_IMAGE naming the table.
 * Each failure must leave nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clipdb.h"
#include "read-file.h"

static void test_empty_texts(void) {
  size_t n = 0;
  void *vocab = read_file(CLIPDB_SOURCE_DIR "/models/clipdb-shapes/vocab.txt.gz", &n);
  CHECK(vocab != NULL, "cannot read models/clipdb-shapes/vocab.txt.gz");
  if (vocab == NULL) return;
  clipdb_file f = {"vocab.txt.gz", vocab, n};
  clipdb_tokenizer_t *t = NULL;
  CHECK(clipdb_tokenizer_init_from_files(&f, 1, &t) == CLIPDB_STATUS_SUCCESS, "tokenizer: %s",
        clipdb_last_error());
  free(vocab);
  if (t == NULL) return;
  static const char *const texts[] = {"", " ", "   ", "\t\n", "\r\n \f\v", "\xc2\xa0\xe3\x80\x80"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int32_t ids[8], n_ids = -1;
    clipdb_status s = clipdb_tokenize(t, texts[i], strlen(texts[i]), 8, 0, ids, &n_ids);
    CHECK(s == CLIPDB_STATUS_SUCCESS, "text %zu: %s", i, clipdb_tokenizer_last_error(t));
    CHECK(n_ids == 2 && ids[0] == clipdb_tokenizer_sot(t) && ids[1] == clipdb_tokenizer_eot(t) &&
              ids[2] == 0,
          "text %zu: %d ids [%d %d %d], want [SOT EOT 0]", i, n_ids, ids[0], ids[1], ids[2]);
  }
  clipdb_tokenizer_free(t);
}

static void test_truncated_png(void) {
  size_t n = 0;
  uint8_t *png = read_file(CLIPDB_SOURCE_DIR "/tests/fuzz/corpus/image/rgb-13x9.png", &n);
  CHECK(png != NULL && n > 100, "cannot read the 13x9 PNG");
  if (png == NULL) return;
  clipdb_image_params p = clipdb_image_default_params();
  p.resolution = 16;
  static float out[3 * 16 * 16];
  CHECK(clipdb_image_preprocess(png, n, &p, out, NULL) == CLIPDB_STATUS_SUCCESS, "whole PNG: %s",
        clipdb_last_error());
  const size_t before = clipdb_allocated_bytes();
  /* every cut after the IHDR chunk (33 bytes: signature, IHDR) up to the start of IEND (a
   * file cut inside the empty IEND chunk still holds the whole image) */
  int checked = 0;
  for (size_t cut = 33; cut <= n - 12; cut++) {
    clipdb_status s = clipdb_image_preprocess(png, cut, &p, out, NULL);
    const char *msg = clipdb_last_error();
    CHECK(s == CLIPDB_STATUS_BAD_IMAGE, "cut at %zu: %s (%s)", cut, clipdb_status_string(s), msg);
    CHECK(strstr(msg, "truncated file") != NULL && strstr(msg, "unknown") == NULL &&
              strstr(msg, "Corrupt") == NULL,
          "cut at %zu of %zu: message \"%s\" does not say truncated", cut, n, msg);
    checked++;
  }
  /* the cut inside the pixel data names the IDAT chunk and the bytes it needs */
  clipdb_image_preprocess(png, 60, &p, out, NULL);
  CHECK(strstr(clipdb_last_error(), "the IDAT chunk at byte 33") != NULL, "cut at 60: %s",
        clipdb_last_error());
  CHECK(checked > 300, "only %d cuts checked", checked);
  CHECK(clipdb_allocated_bytes() == before, "truncated PNGs leaked %zu bytes",
        clipdb_allocated_bytes() - before);
  free(png);
}

static void test_bad_dimension(void) {
  static const struct {
    const char *shape, *quoted;
  } cases[] = {{"[-3,4]", "entry 0 is -3,"}, {"[4,-1]", "entry 1 is -1,"},
               {"[2.5]", "entry 0 is 2.5,"}, {"[4,\"x\"]", "entry 1 is x,"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char header[256];
    int hl = snprintf(header, sizeof header,
                      "{\"token_embedding.weight\":{\"dtype\":\"F32\",\"shape\":%s,"
                      "\"data_offsets\":[0,48]}}",
                      cases[i].shape);
    uint8_t file[512];
    memset(file, 0, sizeof file);
    for (int b = 0; b < 8; b++) file[b] = (uint8_t)((uint64_t)hl >> (8 * b));
    memcpy(file + 8, header, (size_t)hl);
    const size_t before = clipdb_allocated_bytes();
    clipdb_file f = {"model.safetensors", file, 8 + (size_t)hl + 48};
    clipdb_model_t *m = NULL;
    clipdb_status s = clipdb_model_init_from_files(&f, 1, NULL, &m);
    const char *msg = clipdb_last_error();
    CHECK(s == CLIPDB_STATUS_BAD_MODEL && m == NULL, "shape %s: %s", cases[i].shape,
          clipdb_status_string(s));
    CHECK(strstr(msg, "token_embedding.weight") != NULL && strstr(msg, cases[i].quoted) != NULL &&
              strstr(msg, "bad dimension") == NULL,
          "shape %s: message \"%s\" should quote \"%s\"", cases[i].shape, msg, cases[i].quoted);
    CHECK(clipdb_allocated_bytes() == before, "shape %s: leaked", cases[i].shape);
  }
}

static void test_jpeg_huffman_table(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/%s", CLIPDB_SOURCE_DIR, name);
  size_t n = 0;
  uint8_t *jpg = read_file(path, &n);
  CHECK(jpg != NULL, "cannot read %s", path);
  if (jpg == NULL) return;
  clipdb_image_params p = clipdb_image_default_params();
  p.resolution = 16;
  static float out[3 * 16 * 16];
  const size_t before = clipdb_allocated_bytes();
  clipdb_status s = clipdb_image_preprocess(jpg, n, &p, out, NULL);
  CHECK(s == CLIPDB_STATUS_BAD_IMAGE, "%s: got %s", name, clipdb_status_string(s));
  CHECK(strstr(clipdb_last_error(), "Huffman table at byte") != NULL &&
            strstr(clipdb_last_error(), "(at most 256)") != NULL,
        "%s: message: %s", name, clipdb_last_error());
  CHECK(clipdb_allocated_bytes() == before, "%s: leaked", name);
  free(jpg);
}

int main(void) {
  test_jpeg_huffman_table("jpeg-huffman-over-256.jpg");     /* a whole DHT segment */
  test_jpeg_huffman_table("jpeg-huffman-over-256-cut.jpg");   /* a DHT cut by the end of file */
  test_jpeg_huffman_table("jpeg-huffman-over-256-stray.jpg"); /* stray bytes before the DHT */
  test_empty_texts();
  test_truncated_png();
  test_bad_dimension();
  if (failures == 0) printf("test-error-messages: all passed\n");
  return failures != 0;
}
