/*
 * The safetensors reader (src/model/safetensors.c): golden reference.safetensors read back
 * with known values, and malformed buffers built here (truncation, garbage, unknown dtype,
 * bad offsets, duplicates, escapes) each rejected with BAD_MODEL and a message, never a
 * crash. F16/BF16 conversions checked against exact values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "model/safetensors.h"

#include "check.h"

/* Build a safetensors buffer from a JSON header and `data_len` bytes of data. */
static unsigned char *build(const char *json, const void *payload, size_t data_len, size_t *size) {
  size_t hl = strlen(json);
  unsigned char *b = malloc(8 + hl + data_len + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, json, hl);
  if (data_len) memcpy(b + 8 + hl, payload, data_len);
  *size = 8 + hl + data_len;
  return b;
}

static void expect_bad(const char *what, const char *json, size_t data_len, const char *needle) {
  static unsigned char zeros[256];
  size_t size;
  unsigned char *b = build(json, zeros, data_len, &size);
  clipdb__safetensors *st = (clipdb__safetensors *)1;
  char err[CLIPDB__ERROR_SIZE] = "";
  clipdb_status s = clipdb__safetensors_open(b, size, err, &st);
  CHECK(s == CLIPDB_STATUS_BAD_MODEL, "%s: status %s, expected BAD_MODEL", what,
        clipdb_status_string(s));
  CHECK(st == NULL, "%s: out not NULL on failure", what);
  CHECK(needle == NULL || strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
        err, needle);
  CHECK(strcmp(err, clipdb_last_error()) == 0, "%s: last_error differs", what);
  free(b);
}

static void test_malformed(void) {
  size_t before = clipdb_allocated_bytes();
  clipdb__safetensors *st = NULL;
  char err[CLIPDB__ERROR_SIZE];
  CHECK(clipdb__safetensors_open("abc", 3, err, &st) == CLIPDB_STATUS_BAD_MODEL, "3 bytes");
  CHECK(strstr(err, "truncated") != NULL, "3 bytes message: %s", err);
  unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
  CHECK(clipdb__safetensors_open(huge, sizeof huge, err, &st) == CLIPDB_STATUS_BAD_MODEL,
        "huge header length");
  unsigned char shortlen[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  CHECK(clipdb__safetensors_open(shortlen, sizeof shortlen, err, &st) == CLIPDB_STATUS_BAD_MODEL,
        "header longer than file");
  CHECK(strstr(err, "truncated") != NULL, "header longer message: %s", err);

  expect_bad("not JSON", "hello world!", 0, "JSON");
  expect_bad("array top level", "[1,2,3]", 0, NULL);
  expect_bad("unterminated", "{\"a\": {\"dtype\": \"F32\"", 0, "JSON");
  expect_bad("trailing junk", "{} xx", 0, "JSON");
  expect_bad("two objects", "{}  {}", 0, "JSON");
  expect_bad("unknown dtype",
             "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "Q4_K");
  expect_bad("missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "shape");
  expect_bad("negative dim",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "w");
  expect_bad("size mismatch",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
  expect_bad("outside data",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside");
  expect_bad("begin > end",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "outside");
  expect_bad("float offsets",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]}}", 8, "data_offsets");
  expect_bad("duplicate",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice");
  expect_bad("overlap",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
  expect_bad("overflowing shape",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
             "\"data_offsets\":[0,8]}}", 8, "w");
  expect_bad("metadata not strings", "{\"__metadata__\":{\"a\":1}}", 0, "strings");
  expect_bad("bad escape", "{\"__metadata__\":{\"a\":\"\\x\"}}", 0, "JSON");
  expect_bad("lone surrogate", "{\"__metadata__\":{\"a\":\"\\ud800\"}}", 0, "escape");
  expect_bad("too many dims",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
             "dimensions");
  /* every prefix of a valid file fails cleanly */
  float vals[2] = {1.5f, -2.0f};
  size_t size;
  unsigned char *good = build(
      "{\"__metadata__\":{\"k\":\"v\\\"q\\u00e9\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
      "\"data_offsets\":[0,8]}}",
      vals, 8, &size);
  for (size_t n = 0; n < size; n++) {
    clipdb__safetensors *p = NULL;
    clipdb_status s = clipdb__safetensors_open(good, n, NULL, &p);
    CHECK(s == CLIPDB_STATUS_BAD_MODEL && p == NULL, "prefix %zu of %zu accepted", n, size);
  }
  CHECK(clipdb__safetensors_open(good, size, err, &st) == CLIPDB_STATUS_SUCCESS, "good: %s", err);
  if (st) {
    CHECK(st->n_tensors == 1, "n_tensors %zu", st->n_tensors);
    const char *v = clipdb__safetensors_metadata(st, "k");
    CHECK(v && strcmp(v, "v\"q\xc3\xa9") == 0, "metadata unescape: %s", v ? v : "(null)");
    float *f = clipdb__safetensors_read_f32(st, "w", NULL, NULL);
    CHECK(f && f[0] == 1.5f && f[1] == -2.0f, "values");
    clipdb__free(f);
    CHECK(clipdb__safetensors_read_f32(st, "nope", NULL, NULL) == NULL, "missing found");
    CHECK(strstr(clipdb_last_error(), "nope") != NULL, "missing message: %s", clipdb_last_error());
    clipdb__safetensors_free(st);
  }
  free(good);
  CHECK(clipdb_allocated_bytes() == before, "leak: %zu bytes", clipdb_allocated_bytes() - before);
}

static void test_halves(void) {
  struct { uint16_t h; float f; } f16[] = {
      {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f}, {0x0001, 5.9604644775390625e-8f},
      {0x03ff, 6.097555160522461e-5f}, {0x0400, 6.103515625e-5f}, {0x3555, 0.333251953125f},
      {0x8000, -0.0f}, {0x7c00, INFINITY}};
  for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++) {
    CHECK(clipdb__f16_to_f32(f16[i].h) == f16[i].f, "f16 %04x -> %g", f16[i].h,
          (double)clipdb__f16_to_f32(f16[i].h));
    CHECK(clipdb__f32_to_f16(f16[i].f) == f16[i].h, "f32 %g -> f16 %04x", (double)f16[i].f,
          clipdb__f32_to_f16(f16[i].f));
  }
  CHECK(isnan(clipdb__f16_to_f32(0x7e00)), "f16 nan");
  CHECK(clipdb__f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "ties to even (down)");
  CHECK(clipdb__f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "ties to even (up)");
  CHECK(clipdb__bf16_to_f32(0x3f80) == 1.0f && clipdb__bf16_to_f32(0xc049) == -3.140625f, "bf16");
  /* all finite halves round-trip */
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00) continue;
    uint16_t back = clipdb__f32_to_f16(clipdb__f16_to_f32((uint16_t)h));
    if (back != h) {
      CHECK(0, "f16 round trip %04x -> %04x", h, back);
      break;
    }
  }
  /* F16/BF16/I64 tensors through the reader */
  uint16_t hv[3] = {0x3c00, 0xc000, 0x3555};
  uint16_t bv[2] = {0x3f80, 0xc049};
  int64_t iv[2] = {49407, -3};
  unsigned char payload[6 + 4 + 16];
  memcpy(payload, hv, 6);
  memcpy(payload + 6, bv, 4);
  memcpy(payload + 10, iv, 16);
  size_t size;
  unsigned char *b = build("{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]},"
                           "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[10,26]}}",
                           payload, sizeof payload, &size);
  clipdb__safetensors *st = NULL;
  CHECK(clipdb__safetensors_open(b, size, NULL, &st) == CLIPDB_STATUS_SUCCESS, "halves open: %s",
        clipdb_last_error());
  if (st) {
    float *h = clipdb__safetensors_read_f32(st, "h", NULL, NULL);
    float *bf = clipdb__safetensors_read_f32(st, "b", NULL, NULL);
    int32_t *i = clipdb__safetensors_read_i32(st, "i", NULL, NULL);
    CHECK(h && h[0] == 1.0f && h[1] == -2.0f && h[2] == 0.333251953125f, "F16 tensor");
    CHECK(bf && bf[0] == 1.0f && bf[1] == -3.140625f, "BF16 tensor");
    CHECK(i && i[0] == 49407 && i[1] == -3, "I64 tensor");
    CHECK(clipdb__safetensors_read_i32(st, "h", NULL, NULL) == NULL, "F16 read as int");
    clipdb__free(h);
    clipdb__free(bf);
    clipdb__free(i);
    clipdb__safetensors_free(st);
  }
  free(b);
}

static void test_golden(void) {
  const char *path = golden_require("tiny-vit/reference.safetensors");
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "open %s", path);
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n);
  CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n, "read");
  fclose(f);
  clipdb__safetensors *st = NULL;
  CHECK(clipdb__safetensors_open(buf, (size_t)n, NULL, &st) == CLIPDB_STATUS_SUCCESS, "golden: %s",
        clipdb_last_error());
  if (st) {
    const clipdb__st_tensor *t = clipdb__safetensors_find(st, "text/0/tokens");
    CHECK(t && t->dtype == CLIPDB__DTYPE_I32 && t->n_dims == 1 && t->shape[0] == 77, "tokens");
    int32_t *tok = clipdb__safetensors_read_i32(st, "text/0/tokens", NULL, NULL);
    CHECK(tok && tok[0] == 49406, "tokens[0] = %d", tok ? tok[0] : -1);
    clipdb__free(tok);
    t = clipdb__safetensors_find(st, "logits_per_image");
    CHECK(t && t->dtype == CLIPDB__DTYPE_F32 && t->n_dims == 2 && t->shape[0] == 21 &&
              t->shape[1] == 42, "logits shape");
    t = clipdb__safetensors_find(st, "image/astronaut/pixels");
    CHECK(t && t->n_dims == 3 && t->shape[0] == 3 && t->shape[1] == 224, "pixels shape");
    clipdb__safetensors_free(st);
  }
  free(buf);
}

int main(void) {
  test_malformed();
  test_halves();
  test_golden();
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
