/*
 * Bad model files and bad calls: every case gives its status code and a message naming the
 * problem (the tensor, where there is one), never a crash, and frees everything it
 * allocated. The bad files are built here from the golden tiny-vit (header edits, prefixes)
 * or from scratch. Also: F16 and BF16 copies of the golden model load and give exactly the
 * embeddings of an F32 model holding the same (rounded) values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "model/safetensors.h"

#include "check.h"
#include "read-file.h"

static unsigned char *golden;
static size_t golden_size;
static char *cfg_json;
static size_t cfg_size;

/* Load `files`; expect `want`, with `needle` in the message. */
static void expect_load(const char *what, const clipdb_file *files, size_t n, clipdb_status want,
                        const char *needle) {
  size_t before = clipdb_allocated_bytes();
  clipdb_model_t *m = (clipdb_model_t *)1;
  clipdb_status st = clipdb_model_init_from_files(files, n, NULL, &m);
  CHECK(st == want, "%s: status %s, expected %s (%s)", what, clipdb_status_string(st),
        clipdb_status_string(want), clipdb_last_error());
  if (want != CLIPDB_STATUS_SUCCESS) {
    CHECK(m == NULL, "%s: handle not NULL on failure", what);
    CHECK(needle == NULL || strstr(clipdb_last_error(), needle) != NULL,
          "%s: message \"%s\" lacks \"%s\"", what, clipdb_last_error(), needle);
    printf("  %-28s -> %s: %s\n", what, clipdb_status_string(st), clipdb_last_error());
  } else {
    clipdb_model_free(m);
  }
  CHECK(clipdb_allocated_bytes() == before, "%s: %zu bytes leaked", what, clipdb_allocated_bytes() - before);
}

static void expect_bytes(const char *what, const void *data, size_t size, clipdb_status want, const char *needle) {
  clipdb_file f = {"model.safetensors", data, size};
  expect_load(what, &f, 1, want, needle);
}

/* The golden file with its JSON header's first `find` replaced by `repl` (header length
 * rewritten; offsets are relative to the data section, so they stay valid). */
static unsigned char *edit_header(const char *find, const char *repl, size_t *size) {
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)golden[i] << (8 * i);
  char *h = malloc(hl + 1);
  memcpy(h, golden + 8, hl);
  h[hl] = '\0';
  char *at = strstr(h, find);
  if (at == NULL) {
    free(h);
    return NULL;
  }
  size_t fl = strlen(find), rl = strlen(repl), nl = hl - fl + rl;
  unsigned char *out = malloc(8 + nl + (golden_size - 8 - hl));
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)nl >> (8 * i));
  size_t pre = (size_t)(at - h);
  memcpy(out + 8, h, pre);
  memcpy(out + 8 + pre, repl, rl);
  memcpy(out + 8 + pre + rl, at + fl, hl - pre - fl);
  memcpy(out + 8 + nl, golden + 8 + hl, golden_size - 8 - hl);
  *size = 8 + nl + (golden_size - 8 - hl);
  free(h);
  return out;
}

static void expect_edit(const char *what, const char *find, const char *repl, clipdb_status want, const char *needle) {
  size_t size;
  unsigned char *b = edit_header(find, repl, &size);
  CHECK(b != NULL, "%s: \"%s\" not in the golden header", what, find);
  if (b) expect_bytes(what, b, size, want, needle);
  free(b);
}

static void test_bad_files(void) {
  /* truncated */
  size_t cuts[] = {0, 5, 8, 100, 7000, 7024, 7100, golden_size / 2, golden_size - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "truncated to %zu bytes", cuts[i]);
    expect_bytes(what, golden, cuts[i], cuts[i] == 0 ? CLIPDB_STATUS_BAD_MODEL : CLIPDB_STATUS_BAD_MODEL,
                 cuts[i] > 8 + 7016 ? "outside the data section" : NULL);
  }
  /* garbage */
  unsigned char junk[4096];
  unsigned x = 12345;
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
  expect_bytes("random bytes", junk, sizeof junk, CLIPDB_STATUS_BAD_MODEL, "safetensors");
  memcpy(junk, "\x20\x00\x00\x00\x00\x00\x00\x00{\"a\": tru", 18);
  expect_bytes("garbage JSON header", junk, 64, CLIPDB_STATUS_BAD_MODEL, "JSON");
  static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
  expect_bytes("a PNG file", png, sizeof png, CLIPDB_STATUS_BAD_MODEL, "header length");
  /* header edits */
  expect_edit("wrong shape", "\"ln_final.weight\":{\"dtype\":\"F32\",\"shape\":[64]",
              "\"ln_final.weight\":{\"dtype\":\"F32\",\"shape\":[32,2]", CLIPDB_STATUS_BAD_MODEL,
              "ln_final.weight has shape [32,2], expected [64]");
  expect_edit("missing tensor", "\"transformer.resblocks.1.mlp.c_fc.bias\"",
              "\"transformer.resblocks.1.mlp.c_fc.bogus\"", CLIPDB_STATUS_BAD_MODEL,
              "transformer.resblocks.1.mlp.c_fc.bias is missing");
  expect_edit("missing visual tensor", "\"visual.ln_post.bias\"", "\"visual.ln_post.bogus\"",
              CLIPDB_STATUS_BAD_MODEL, "visual.ln_post.bias is missing");
  expect_edit("unknown dtype", "\"ln_final.weight\":{\"dtype\":\"F32\"",
              "\"ln_final.weight\":{\"dtype\":\"Q4\"", CLIPDB_STATUS_BAD_MODEL,
              "ln_final.weight has unknown dtype \"Q4\"");
  expect_edit("integer weights", "\"ln_final.weight\":{\"dtype\":\"F32\"",
              "\"ln_final.weight\":{\"dtype\":\"I32\"", CLIPDB_STATUS_BAD_MODEL,
              "ln_final.weight has dtype I32");
  expect_edit("size/offset mismatch", "\"ln_final.weight\":{\"dtype\":\"F32\",\"shape\":[64]",
              "\"ln_final.weight\":{\"dtype\":\"F32\",\"shape\":[65]", CLIPDB_STATUS_BAD_MODEL,
              "ln_final.weight");
  expect_edit("heads do not divide width", "\\\"transformer_heads\\\": 2", "\\\"transformer_heads\\\": 3",
              CLIPDB_STATUS_BAD_MODEL, "heads 3");
  expect_edit("bad clip_config", "\\\"embed_dim\\\": 64", "\\\"embed_dim\\\": \\\"x\\\"",
              CLIPDB_STATUS_BAD_MODEL, "embed_dim");
  expect_edit("config disagrees with shapes", "\\\"embed_dim\\\": 64", "\\\"embed_dim\\\": 32",
              CLIPDB_STATUS_BAD_MODEL, "expected [64,32]");
  expect_edit("bad vision_heads metadata", "\"vision_heads\":\"2\"", "\"vision_heads\":\"x\"",
              CLIPDB_STATUS_BAD_MODEL, "vision_heads");
  expect_bytes("no CLIP tensors",
               "\x38\x00\x00\x00\x00\x00\x00\x00{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}  \0\0\0\0",
               8 + 56 + 4, CLIPDB_STATUS_BAD_MODEL, "no CLIP tensors");
  /* arguments */
  expect_load("no files", NULL, 0, CLIPDB_STATUS_INVALID_ARGUMENT, "no files");
  clipdb_file only_cfg = {"config.json", "{}", 2};
  expect_load("no safetensors", &only_cfg, 1, CLIPDB_STATUS_INVALID_ARGUMENT, "safetensors");
  CHECK(clipdb_model_init_from_files(&only_cfg, 1, NULL, NULL) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL out");
}

/* Random byte changes in the header: any status, never a crash or a leak (run under ASan
 * to see out-of-bounds reads). */
static void test_header_mutations(void) {
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)golden[i] << (8 * i);
  unsigned char *b = malloc(golden_size);
  unsigned x = 2024;
  int ok = 0, bad = 0;
  static const char alphabet[] = "{}[]\",:0123456789-.eE \\uFTnl";
  for (int round = 0; round < 150; round++) {
    memcpy(b, golden, golden_size);
    int edits = 1 + round % 4;
    for (int e = 0; e < edits; e++) {
      x = x * 1103515245u + 12345u;
      size_t at = 8 + (x >> 8) % hl;
      x = x * 1103515245u + 12345u;
      b[at] = (x >> 20) & 1 ? (unsigned char)alphabet[(x >> 8) % (sizeof alphabet - 1)] : (unsigned char)(x >> 12);
    }
    size_t before = clipdb_allocated_bytes();
    clipdb_file f = {"model.safetensors", b, golden_size};
    clipdb_model_t *m = NULL;
    clipdb_status st = clipdb_model_init_from_files(&f, 1, NULL, &m);
    CHECK(st == CLIPDB_STATUS_SUCCESS || st == CLIPDB_STATUS_BAD_MODEL || st == CLIPDB_STATUS_UNSUPPORTED,
          "mutation %d: status %s", round, clipdb_status_string(st));
    CHECK((st == CLIPDB_STATUS_SUCCESS) == (m != NULL), "mutation %d: handle vs status", round);
    if (st == CLIPDB_STATUS_SUCCESS) ok++; else bad++;
    clipdb_model_free(m);
    CHECK(clipdb_allocated_bytes() == before, "mutation %d: leak", round);
  }
  printf("  150 header mutations: %d loaded, %d rejected\n", ok, bad);
  free(b);
}

static void test_hf_config(void) {
  size_t hs;
  char *hf = read_file(golden_require("tiny-vit/hf/model.safetensors"), &hs);
  CHECK(hf != NULL, "read hf");
  if (!hf) return;
  clipdb_file files[2] = {{"model.safetensors", hf, hs}, {"config.json", cfg_json, cfg_size}};
  expect_load("hf dir", files, 2, CLIPDB_STATUS_SUCCESS, NULL);
  /* hidden_act other than quick_gelu */
  char *edited = malloc(cfg_size + 16);
  char *at = strstr(cfg_json, "\"quick_gelu\"");
  CHECK(at != NULL, "config.json has quick_gelu");
  if (at) {
    size_t pre = (size_t)(at - cfg_json);
    memcpy(edited, cfg_json, pre);
    strcpy(edited + pre, "\"gelu\"");
    strcat(edited, at + strlen("\"quick_gelu\""));
    files[1].data = edited;
    files[1].size = strlen(edited);
    expect_load("hf hidden_act gelu", files, 2, CLIPDB_STATUS_UNSUPPORTED, "gelu");
  }
  files[1].data = "{\"text_config\": [1,";
  files[1].size = strlen(files[1].data);
  expect_load("hf config.json garbage", files, 2, CLIPDB_STATUS_BAD_MODEL, "config.json");
  /* no config.json: inferred from shapes, heads = width // 64 = 1 for the text tower */
  clipdb_model_t *m = NULL;
  CHECK(clipdb_model_init_from_files(files, 1, NULL, &m) == CLIPDB_STATUS_SUCCESS, "hf without config: %s",
        clipdb_last_error());
  if (m) {
    clipdb_model_config c;
    clipdb_model_get_config(m, &c);
    CHECK(c.transformer_heads == 1 && c.vision_heads == 2 && c.embed_dim == 64 && c.vision_layers[0] == 2,
          "inferred hf config: text heads %d vision heads %d", c.transformer_heads, c.vision_heads);
    clipdb_model_free(m);
  }
  free(edited);
  free(hf);
}

/* ---- F16 / BF16 copies ------------------------------------------------------------------- */

typedef uint16_t (*to_half_fn)(float);
static uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even (finite inputs) */
  return (uint16_t)(u >> 16);
}

/* Rewrite the golden file with every tensor in `dtype` ("F16"/"BF16"), or in F32 holding the
 * values rounded through that dtype (`as_f32`). Metadata copied (clip_config escaped). */
static unsigned char *convert_model(const char *dtype, int as_f32, size_t *out_size) {
  clipdb__safetensors *st = NULL;
  if (clipdb__safetensors_open(golden, golden_size, NULL, &st) != CLIPDB_STATUS_SUCCESS) return NULL;
  int bf = strcmp(dtype, "BF16") == 0;
  size_t esz = as_f32 ? 4 : 2, data = 0;
  for (size_t i = 0; i < st->n_tensors; i++) data += st->tensors[i].numel * esz;
  size_t hcap = 64 * 1024;
  char *h = malloc(hcap);
  size_t hl = (size_t)snprintf(h, hcap, "{\"__metadata__\":{\"clip_config\":\"");
  for (const char *p = clipdb__safetensors_metadata(st, "clip_config"); *p; p++) {
    if (*p == '"' || *p == '\\') h[hl++] = '\\';
    h[hl++] = *p;
  }
  hl += (size_t)snprintf(h + hl, hcap - hl, "\",\"vision_heads\":\"%s\"}",
                         clipdb__safetensors_metadata(st, "vision_heads"));
  size_t off = 0;
  for (size_t i = 0; i < st->n_tensors; i++) {
    const clipdb__st_tensor *t = &st->tensors[i];
    hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name,
                           as_f32 ? "F32" : dtype);
    for (int d = 0; d < t->n_dims; d++)
      hl += (size_t)snprintf(h + hl, hcap - hl, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    hl += (size_t)snprintf(h + hl, hcap - hl, "],\"data_offsets\":[%zu,%zu]}", off, off + t->numel * esz);
    off += t->numel * esz;
  }
  h[hl++] = '}';
  unsigned char *out = malloc(8 + hl + data);
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(out + 8, h, hl);
  unsigned char *p = out + 8 + hl;
  for (size_t i = 0; i < st->n_tensors; i++) {
    const clipdb__st_tensor *t = &st->tensors[i];
    float *v = malloc(t->numel * sizeof(float));
    clipdb__st_tensor_to_f32(t, v);
    for (size_t k = 0; k < t->numel; k++) {
      uint16_t half = bf ? f32_to_bf16(v[k]) : clipdb__f32_to_f16(v[k]);
      if (as_f32) {
        float r = bf ? clipdb__bf16_to_f32(half) : clipdb__f16_to_f32(half);
        memcpy(p, &r, 4);
        p += 4;
      } else {
        memcpy(p, &half, 2);
        p += 2;
      }
    }
    free(v);
  }
  *out_size = 8 + hl + data;
  free(h);
  clipdb__safetensors_free(st);
  return out;
}

static int embed_both(const unsigned char *file, size_t size, float *img, float *txt) {
  clipdb_file f = {"model.safetensors", file, size};
  clipdb_model_t *m = NULL;
  if (clipdb_model_init_from_files(&f, 1, NULL, &m) != CLIPDB_STATUS_SUCCESS) return 0;
  clipdb_session_t *s = NULL;
  clipdb_session_init(m, &s);
  float *pixels = malloc(3 * 224 * 224 * sizeof(float));
  for (size_t i = 0; i < 3 * 224 * 224; i++) pixels[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  int32_t tok[7] = {49406, 320, 1125, 539, 320, 2368, 49407};
  int ok = clipdb_image_embed(s, pixels, 1, img) == CLIPDB_STATUS_SUCCESS &&
           clipdb_text_embed(s, tok, 7, txt) == CLIPDB_STATUS_SUCCESS;
  free(pixels);
  clipdb_session_free(s);
  clipdb_model_free(m);
  return ok;
}

static void test_half_models(void) {
  static const char *dtypes[2] = {"F16", "BF16"};
  float ref_img[64], ref_txt[64];
  CHECK(embed_both(golden, golden_size, ref_img, ref_txt), "f32 model");
  for (int d = 0; d < 2; d++) {
    size_t hs, fs;
    unsigned char *half = convert_model(dtypes[d], 0, &hs), *f32 = convert_model(dtypes[d], 1, &fs);
    CHECK(half && f32, "convert %s", dtypes[d]);
    if (!half || !f32) continue;
    float a_img[64], a_txt[64], b_img[64], b_txt[64];
    CHECK(embed_both(half, hs, a_img, a_txt), "%s model loads: %s", dtypes[d], clipdb_last_error());
    CHECK(embed_both(f32, fs, b_img, b_txt), "%s-rounded F32 model loads", dtypes[d]);
    CHECK(memcmp(a_img, b_img, sizeof a_img) == 0 && memcmp(a_txt, b_txt, sizeof a_txt) == 0,
          "%s weights differ from their exact float32 values", dtypes[d]);
    /* and the rounding moved the outputs only a little (sanity: the model is the same) */
    double cos_i = 0, ni = 0, nr = 0;
    for (int k = 0; k < 64; k++) cos_i += a_img[k] * ref_img[k], ni += a_img[k] * a_img[k], nr += ref_img[k] * ref_img[k];
    cos_i /= sqrt(ni * nr);
    printf("  %s model: image cosine to F32 %.6f, file %zu bytes\n", dtypes[d], cos_i, hs);
    CHECK(cos_i > 0.99, "%s model image embedding cosine %.4f", dtypes[d], cos_i);
    free(half);
    free(f32);
  }
}

static void test_bad_calls(void) {
  clipdb_file f = {"model.safetensors", golden, golden_size};
  clipdb_model_params p = clipdb_model_default_params();
  p.load_text = 0;
  clipdb_model_t *m = NULL;
  CHECK(clipdb_model_init_from_files(&f, 1, &p, &m) == CLIPDB_STATUS_SUCCESS, "vision only");
  if (!m) return;
  clipdb_session_t *s = NULL;
  CHECK(clipdb_session_init(m, &s) == CLIPDB_STATUS_SUCCESS, "session");
  int32_t tok[3] = {49406, 320, 49407};
  float out[64];
  CHECK(clipdb_text_embed(s, tok, 3, out) == CLIPDB_STATUS_INVALID_STATE, "text on vision-only model");
  CHECK(strstr(clipdb_session_last_error(s), "text tower") != NULL, "message: %s", clipdb_session_last_error(s));
  clipdb_session_free(s);
  clipdb_model_free(m);
  CHECK(clipdb_model_init_from_files(&f, 1, NULL, &m) == CLIPDB_STATUS_SUCCESS, "full");
  clipdb_session_init(m, &s);
  int32_t bad[3] = {49406, 49408, 49407};
  CHECK(clipdb_text_embed(s, bad, 3, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "id >= vocab");
  CHECK(strstr(clipdb_last_error(), "49408") != NULL, "message: %s", clipdb_last_error());
  bad[1] = -1;
  CHECK(clipdb_text_embed(s, bad, 3, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "negative id");
  int32_t many[78] = {49406};
  CHECK(clipdb_text_embed(s, many, 78, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "78 tokens");
  CHECK(clipdb_text_embed(s, many, 0, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "0 tokens");
  CHECK(clipdb_text_embed(s, NULL, 3, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL tokens");
  CHECK(clipdb_image_embed(s, NULL, 1, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL pixels");
  CHECK(clipdb_image_embed(NULL, out, 1, out) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL session");
  float zero[4] = {0, 0, 0, 0}, nan4[2] = {NAN, 1}, v[2] = {3, 4};
  CHECK(clipdb_embedding_normalize(zero, 4) == CLIPDB_STATUS_BAD_VECTOR, "zero vector");
  CHECK(clipdb_embedding_normalize(nan4, 2) == CLIPDB_STATUS_BAD_VECTOR, "NaN vector");
  CHECK(clipdb_embedding_normalize(v, 2) == CLIPDB_STATUS_SUCCESS && v[0] == 0.6f && v[1] == 0.8f, "normalize");
  clipdb_session_free(s);
  clipdb_model_free(m);
  clipdb_model_free(NULL);
  clipdb_session_free(NULL);
}

int main(void) {
  golden = read_file(golden_require("tiny-vit/model.safetensors"), &golden_size);
  cfg_json = read_file(golden_require("tiny-vit/hf/config.json"), &cfg_size);
  if (golden == NULL || cfg_json == NULL) {
    printf("FAIL: cannot read the golden tiny-vit\n");
    return 1;
  }
  test_bad_files();
  test_header_mutations();
  test_hf_config();
  test_half_models();
  test_bad_calls();
  free(golden);
  free(cfg_json);
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
