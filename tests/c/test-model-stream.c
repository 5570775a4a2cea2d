/*
 * Streaming model load (clipdb_file.read): the golden tiny models (tiny-vit, tiny-rn, the
 * Hugging Face tiny-vit directory, an F16 copy of tiny-vit) loaded through a reader give
 * bit-identical embeddings to the in-memory load, and match the official reference
 * (reference.safetensors, itself read through the streaming reader) within the engine
 * tolerance max|d| <= 1e-4 * max|ref|. The reader is asked for every byte at most once, and
 * the library's own allocations during the load stay below the final model plus a few tensors
 * (never the whole file). Reader failures at every call, truncated / oversized declared sizes
 * and bad arguments give BAD_MODEL / INVALID_ARGUMENT with a message naming the file, and
 * leak nothing.
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb.h"
#include "golden.h"
#include "model/safetensors.h"

#include "check.h"
#include "read-file.h"

/* A reader over a memory buffer that behaves like a file of `real` bytes. */
typedef struct source {
  const unsigned char *bytes;
  size_t real;
  int fail_call;       /* 1-based call number that fails; 0 = none */
  int calls;
  size_t bytes_read;   /* total requested */
  size_t largest_read;
  unsigned char *seen; /* per byte: how often it was read (NULL: not tracked) */
  int reread;          /* a byte was read twice */
  size_t alloc_peak;   /* clipdb_allocated_bytes() seen at any read */
} source;

static int source_read(void *user, uint64_t offset, void *dst, size_t n) {
  source *s = user;
  s->calls++;
  size_t now = clipdb_allocated_bytes();
  if (now > s->alloc_peak) s->alloc_peak = now;
  if (s->fail_call == s->calls) return 5;
  if (offset > s->real || n > s->real - offset) return 1; /* past the end of the "file" */
  memcpy(dst, s->bytes + offset, n);
  s->bytes_read += n;
  if (n > s->largest_read) s->largest_read = n;
  if (s->seen) {
    for (size_t i = 0; i < n; i++)
      if (s->seen[offset + i]++) s->reread = 1;
  }
  return 0;
}

static source make_source(const unsigned char *bytes, size_t n) {
  source s;
  memset(&s, 0, sizeof s);
  s.bytes = bytes;
  s.real = n;
  return s;
}

static clipdb_file streamed(const char *name, source *s, size_t declared) {
  clipdb_file f = {name, NULL, declared, source_read, s};
  return f;
}

/* Embed the reference's first image and text 0 with `m`. Returns 1 on success. */
static int embed_ref(clipdb_model_t *m, clipdb__safetensors *ref, const char *image, float *img,
                     float *txt) {
  char key[160];
  snprintf(key, sizeof key, "image/%s/pixels", image);
  float *pixels = clipdb__safetensors_read_f32(ref, key, NULL, NULL);
  int32_t *tokens = clipdb__safetensors_read_i32(ref, "text/0/tokens", NULL, NULL);
  clipdb_session_t *s = NULL;
  int ok = pixels && tokens && clipdb_session_init(m, &s) == CLIPDB_STATUS_SUCCESS &&
           clipdb_image_embed(s, pixels, 1, img) == CLIPDB_STATUS_SUCCESS &&
           clipdb_text_embed(s, tokens, 77, txt) == CLIPDB_STATUS_SUCCESS;
  if (!ok) printf("  embed failed: %s\n", clipdb_last_error());
  clipdb_session_free(s);
  clipdb__free(pixels);
  clipdb__free(tokens);
  return ok;
}

static double rel_err(const float *a, const float *b, size_t n) {
  double d = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= d)) d = e;
    if (fabs(b[i]) > m) m = fabs(b[i]);
  }
  return d / m;
}

/* The name after "image/" of the reference's first "image/<name>/pixels". */
static void first_image(const clipdb__safetensors *ref, char *out, size_t cap) {
  out[0] = '\0';
  for (size_t i = 0; i < ref->n_tensors; i++) {
    const char *n = ref->tensors[i].name;
    size_t len = strlen(n);
    if (strncmp(n, "image/", 6) == 0 && len > 13 && strcmp(n + len - 7, "/pixels") == 0) {
      snprintf(out, cap, "%.*s", (int)(len - 13), n + 6);
      return;
    }
  }
}

/* F16 copy of a safetensors file (every tensor; metadata dropped, so the config is inferred). */
static unsigned char *to_f16(const unsigned char *bytes, size_t n, size_t *out_n) {
  clipdb__safetensors *st = NULL;
  if (clipdb__safetensors_open(bytes, n, NULL, &st) != CLIPDB_STATUS_SUCCESS) return NULL;
  size_t hcap = 64 * 1024, hl = 0, data = 0;
  char *h = malloc(hcap);
  h[hl++] = '{';
  for (size_t i = 0; i < st->n_tensors; i++) {
    const clipdb__st_tensor *t = &st->tensors[i];
    hl += (size_t)snprintf(h + hl, hcap - hl, "%s\"%s\":{\"dtype\":\"F16\",\"shape\":[", i ? "," : "",
                           t->name);
    for (int d = 0; d < t->n_dims; d++)
      hl += (size_t)snprintf(h + hl, hcap - hl, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    hl += (size_t)snprintf(h + hl, hcap - hl, "],\"data_offsets\":[%zu,%zu]}", data, data + 2 * t->numel);
    data += 2 * t->numel;
  }
  h[hl++] = '}';
  unsigned char *out = malloc(8 + hl + data);
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(out + 8, h, hl);
  unsigned char *p = out + 8 + hl;
  for (size_t i = 0; i < st->n_tensors; i++) {
    const clipdb__st_tensor *t = &st->tensors[i];
    float *v = malloc(t->numel * sizeof(float) + 4);
    clipdb__st_tensor_to_f32(t, v);
    for (size_t k = 0; k < t->numel; k++) {
      uint16_t half = clipdb__f32_to_f16(v[k]);
      memcpy(p, &half, 2);
      p += 2;
    }
    free(v);
  }
  *out_n = 8 + hl + data;
  free(h);
  clipdb__safetensors_free(st);
  return out;
}

/*
 * Load `bytes` (plus an optional config.json) in memory and through a reader; compare the
 * embeddings bit for bit, and against the reference within 1e-4 when `check_ref`.
 */
static void compare_paths(const char *label, const unsigned char *bytes, size_t n, const char *cfg,
                          size_t cfg_n, clipdb__safetensors *ref, int check_ref) {
  char image[128];
  first_image(ref, image, sizeof image);
  CHECK(image[0] != '\0', "%s: reference has no image", label);
  clipdb_file mem[2] = {{"model.safetensors", bytes, n}, {"config.json", cfg, cfg_n}};
  size_t n_files = cfg ? 2 : 1;
  clipdb_model_t *a = NULL, *b = NULL;
  size_t base = clipdb_allocated_bytes();
  CHECK(clipdb_model_init_from_files(mem, n_files, NULL, &a) == CLIPDB_STATUS_SUCCESS,
        "%s in memory: %s", label, clipdb_last_error());
  size_t model_bytes = clipdb_allocated_bytes() - base;

  source s = make_source(bytes, n), sc = make_source((const unsigned char *)cfg, cfg_n);
  s.seen = calloc(n, 1);
  clipdb_file str[2] = {streamed("model.safetensors", &s, n), streamed("config.json", &sc, cfg_n)};
  size_t before = clipdb_allocated_bytes();
  s.alloc_peak = before;
  CHECK(clipdb_model_init_from_files(str, n_files, NULL, &b) == CLIPDB_STATUS_SUCCESS,
        "%s streamed: %s", label, clipdb_last_error());
  if (a == NULL || b == NULL) {
    clipdb_model_free(a);
    clipdb_model_free(b);
    free(s.seen);
    return;
  }
  size_t after = clipdb_allocated_bytes();
  CHECK(after - before == model_bytes, "%s: the streamed model holds %zu bytes, the in-memory one %zu",
        label, after - before, model_bytes);
  CHECK(!s.reread, "%s: the reader was asked for some bytes twice", label);
  CHECK(s.bytes_read <= n && s.bytes_read > n * 9 / 10, "%s: %zu of %zu file bytes read", label,
        s.bytes_read, n);
  /* library memory while streaming: the model under construction plus at most a couple of
   * tensors (a float32 copy and a scratch), far below model + file */
  /* the largest tensor as float32, plus for 16-bit files the scratch holding its raw bytes */
  int half = strstr((const char *)bytes + 8, "\"F16\"") != NULL;
  size_t largest = half ? 3 * s.largest_read : s.largest_read;
  size_t during = s.alloc_peak - before;
  printf("  %-24s %zu-byte file, model %zu bytes, peak during load %zu, largest read %zu, %d reads\n",
         label, n, after - before, during, s.largest_read, s.calls);
  CHECK(during <= (after - before) + largest + 256 * 1024,
        "%s: %zu bytes allocated while streaming (model %zu, largest tensor %zu)", label, during,
        after - before, largest);

  clipdb_model_config cfg_a, cfg_b;
  clipdb_model_get_config(a, &cfg_a);
  clipdb_model_get_config(b, &cfg_b);
  CHECK(memcmp(&cfg_a, &cfg_b, sizeof cfg_a) == 0, "%s: configs differ", label);
  size_t E = (size_t)cfg_a.embed_dim;
  float *ia = calloc(E, 4), *ta = calloc(E, 4), *ib = calloc(E, 4), *tb = calloc(E, 4);
  CHECK(embed_ref(a, ref, image, ia, ta), "%s: in-memory embed", label);
  CHECK(embed_ref(b, ref, image, ib, tb), "%s: streamed embed", label);
  CHECK(memcmp(ia, ib, E * 4) == 0, "%s: image embeddings differ between the two loads", label);
  CHECK(memcmp(ta, tb, E * 4) == 0, "%s: text embeddings differ between the two loads", label);
  if (check_ref) {
    char key[160];
    snprintf(key, sizeof key, "image/%s/embedding", image);
    float *wi = clipdb__safetensors_read_f32(ref, key, NULL, NULL);
    float *wt = clipdb__safetensors_read_f32(ref, "text/0/embedding", NULL, NULL);
    CHECK(wi && wt, "%s: reference embeddings", label);
    if (wi && wt) {
      double ri = rel_err(ib, wi, E), rt = rel_err(tb, wt, E);
      printf("  %-24s streamed vs official: image %.3g, text %.3g of max\n", label, ri, rt);
      CHECK(ri <= 1e-4 && rt <= 1e-4, "%s: streamed embeddings off the reference (%.3g, %.3g)",
            label, ri, rt);
    }
    clipdb__free(wi);
    clipdb__free(wt);
  }
  free(ia), free(ta), free(ib), free(tb);
  free(s.seen);
  clipdb_model_free(a);
  clipdb_model_free(b);
}

static void expect_stream_fail(const char *what, clipdb_file *files, size_t n_files,
                               clipdb_status want, const char *needle1, const char *needle2) {
  size_t before = clipdb_allocated_bytes();
  clipdb_model_t *m = (clipdb_model_t *)1;
  clipdb_status st = clipdb_model_init_from_files(files, n_files, NULL, &m);
  const char *msg = clipdb_last_error();
  CHECK(st == want, "%s: status %s, expected %s (%s)", what, clipdb_status_string(st),
        clipdb_status_string(want), msg);
  CHECK(m == NULL, "%s: handle not NULL on failure", what);
  CHECK(needle1 == NULL || strstr(msg, needle1) != NULL, "%s: \"%s\" lacks \"%s\"", what, msg, needle1);
  CHECK(needle2 == NULL || strstr(msg, needle2) != NULL, "%s: \"%s\" lacks \"%s\"", what, msg, needle2);
  CHECK(clipdb_allocated_bytes() == before, "%s: %zu bytes leaked", what,
        clipdb_allocated_bytes() - before);
}

static void test_errors(const unsigned char *bytes, size_t n, const char *cfg, size_t cfg_n,
                        const unsigned char *hf, size_t hf_n) {
  /* count the reads of a good load, then fail each one in turn */
  source probe = make_source(bytes, n);
  clipdb_file f = streamed("model.safetensors", &probe, n);
  clipdb_model_t *m = NULL;
  CHECK(clipdb_model_init_from_files(&f, 1, NULL, &m) == CLIPDB_STATUS_SUCCESS, "probe: %s",
        clipdb_last_error());
  clipdb_model_free(m);
  int total = probe.calls;
  CHECK(total > 10, "only %d reads", total);
  for (int k = 1; k <= total; k++) {
    source s = make_source(bytes, n);
    s.fail_call = k;
    clipdb_file g = streamed("model.safetensors", &s, n);
    char what[64];
    snprintf(what, sizeof what, "reader fails at call %d", k);
    /* the first two calls read the header; later ones name a tensor */
    expect_stream_fail(what, &g, 1, CLIPDB_STATUS_BAD_MODEL, "reader failed at bytes",
                       k <= 2 ? "model.safetensors" : "of tensor ");
    if (k == 1 || k == 3 || k == total) printf("  %-28s -> %s\n", what, clipdb_last_error());
  }
  /* declared sizes that do not match the file */
  size_t cuts[] = {0, 5, 8, 100, n / 2, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    source s = make_source(bytes, n);
    clipdb_file g = streamed("model.safetensors", &s, cuts[i]);
    char what[64];
    snprintf(what, sizeof what, "declared size %zu", cuts[i]);
    expect_stream_fail(what, &g, 1, CLIPDB_STATUS_BAD_MODEL,
                       cuts[i] < 8 ? "truncated" : cuts[i] > 7100 ? "outside the data section" : "safetensors",
                       "model.safetensors");
  }
  {
    /* the file is shorter than declared: the reader reports the failure */
    source s = make_source(bytes, n / 2);
    clipdb_file g = streamed("model.safetensors", &s, n);
    expect_stream_fail("file shorter than declared", &g, 1, CLIPDB_STATUS_BAD_MODEL,
                       "reader failed at bytes", "model.safetensors");
    printf("  %-28s -> %s\n", "file shorter than declared", clipdb_last_error());
  }
  {
    /* header edit: unknown dtype, found before any tensor is read */
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)bytes[i] << (8 * i);
    unsigned char *b = malloc(n);
    memcpy(b, bytes, n);
    char *at = memmem(b + 8, hl, "\"dtype\":\"F32\"", 13);
    CHECK(at != NULL, "golden header has an F32 dtype");
    if (at) memcpy(at, "\"dtype\":\"Q32\"", 13);
    source s = make_source(b, n);
    clipdb_file g = streamed("model.safetensors", &s, n);
    expect_stream_fail("streamed unknown dtype", &g, 1, CLIPDB_STATUS_BAD_MODEL, "unknown dtype \"Q32\"",
                       "model.safetensors");
    CHECK(s.calls == 2, "unknown dtype: %d reads (header only expected)", s.calls);
    free(b);
  }
  {
    /* config.json through a reader that fails */
    source sm = make_source(hf, hf_n), sc = make_source((const unsigned char *)cfg, cfg_n);
    sc.fail_call = 1;
    clipdb_file g[2] = {streamed("model.safetensors", &sm, hf_n), streamed("config.json", &sc, cfg_n)};
    expect_stream_fail("config.json reader fails", g, 2, CLIPDB_STATUS_BAD_MODEL, "config.json",
                       "reader failed");
  }
  {
    clipdb_file g = {"model.safetensors", NULL, n, NULL, NULL};
    expect_stream_fail("neither data nor reader", &g, 1, CLIPDB_STATUS_INVALID_ARGUMENT,
                       "neither data nor a reader", NULL);
  }
  {
    /* the tokenizer needs its data in memory */
    source s = make_source(bytes, n);
    clipdb_file g = streamed("bpe_simple_vocab_16e6.txt.gz", &s, n);
    clipdb_tokenizer_t *tok = NULL;
    CHECK(clipdb_tokenizer_init_from_files(&g, 1, &tok) == CLIPDB_STATUS_INVALID_ARGUMENT,
          "tokenizer with a reader: %s", clipdb_last_error());
    CHECK(tok == NULL && s.calls == 0, "tokenizer used the reader");
  }
}

/* The internal reader API on a small file: every dtype through the scratch buffer. */
static void test_dtypes(void) {
  /* h: F16 [3], b: BF16 [2], i: I64 [2], w: F32 [2] */
  static const char hdr[] =
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]},"
      "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[10,26]},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[26,34]}}";
  size_t hl = sizeof hdr - 1, n = 8 + hl + 34;
  unsigned char *b = calloc(n, 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, hdr, hl);
  unsigned char *d = b + 8 + hl;
  const uint16_t h[3] = {0x3c00, 0xc000, 0x3555}; /* 1, -2, 0.333251953125 */
  const uint16_t bf[2] = {0x3f80, 0x4049};        /* 1, 3.140625 */
  const int64_t iv[2] = {-7, 123456789};
  const float wv[2] = {0.25f, -8.5f};
  memcpy(d, h, 6), memcpy(d + 6, bf, 4), memcpy(d + 10, iv, 16), memcpy(d + 26, wv, 8);
  source s = make_source(b, n);
  clipdb__safetensors *st = NULL;
  CHECK(clipdb__safetensors_open_reader(source_read, &s, n, NULL, &st) == CLIPDB_STATUS_SUCCESS,
        "open_reader: %s", clipdb_last_error());
  if (st) {
    CHECK(st->scratch_bytes == 16, "largest non-F32 tensor %zu bytes, want 16 (the I64 tensor)", st->scratch_bytes);
    CHECK(st->scratch == NULL && st->scratch_cap == 0, "no scratch before a conversion");
    /* the scratch grows to the tensors converted so far, not to the file's largest */
    float *fh = clipdb__safetensors_read_f32(st, "h", NULL, NULL);
    CHECK(st->scratch_cap == 6, "scratch %zu bytes after the 6-byte F16 tensor", st->scratch_cap);
    float *fb = clipdb__safetensors_read_f32(st, "b", NULL, NULL);
    float *fw = clipdb__safetensors_read_f32(st, "w", NULL, NULL);
    CHECK(st->scratch_cap == 6, "scratch %zu bytes after BF16 (4 bytes) and F32 (none)", st->scratch_cap);
    int32_t *ii = clipdb__safetensors_read_i32(st, "i", NULL, NULL);
    CHECK(st->scratch_cap == 16, "scratch %zu bytes after the 16-byte I64 tensor", st->scratch_cap);
    CHECK(fh && fh[0] == 1.0f && fh[1] == -2.0f && fh[2] == 0.333251953125f, "F16 streamed");
    CHECK(fb && fb[0] == 1.0f && fb[1] == 3.140625f, "BF16 streamed");
    CHECK(fw && fw[0] == 0.25f && fw[1] == -8.5f, "F32 streamed");
    CHECK(ii && ii[0] == -7 && ii[1] == 123456789, "I64 streamed as int32");
    int calls = s.calls;
    CHECK(clipdb__safetensors_read_i32(st, "w", NULL, NULL) == NULL && s.calls == calls,
          "F32 read as int32 must fail before reading");
    clipdb__free(fh), clipdb__free(fb), clipdb__free(fw), clipdb__free(ii);
    s.fail_call = s.calls + 1;
    CHECK(clipdb__safetensors_read_f32(st, "h", NULL, NULL) == NULL &&
              strstr(clipdb_last_error(), "reader failed at bytes [") != NULL &&
              strstr(clipdb_last_error(), "tensor h") != NULL,
          "failed read: %s", clipdb_last_error());
    clipdb__safetensors_free(st);
  }
  free(b);
}

int main(void) {
  size_t vit_n = 0, rn_n = 0, hf_n = 0, cfg_n = 0, vref_n = 0, rref_n = 0;
  unsigned char *vit = read_file(golden_require("tiny-vit/model.safetensors"), &vit_n);
  unsigned char *rn = read_file(golden_require("tiny-rn/model.safetensors"), &rn_n);
  unsigned char *hf = read_file(golden_require("tiny-vit/hf/model.safetensors"), &hf_n);
  char *cfg = (char *)read_file(golden_require("tiny-vit/hf/config.json"), &cfg_n);
  unsigned char *vref = read_file(golden_require("tiny-vit/reference.safetensors"), &vref_n);
  unsigned char *rref = read_file(golden_require("tiny-rn/reference.safetensors"), &rref_n);
  if (!vit || !rn || !hf || !cfg || !vref || !rref) {
    printf("FAIL: cannot read the golden files\n");
    return 1;
  }
  /* the references are read through the streaming reader too */
  source vs = make_source(vref, vref_n), rs = make_source(rref, rref_n);
  clipdb__safetensors *vr = NULL, *rr = NULL;
  CHECK(clipdb__safetensors_open_reader(source_read, &vs, vref_n, NULL, &vr) == CLIPDB_STATUS_SUCCESS,
        "tiny-vit reference: %s", clipdb_last_error());
  CHECK(clipdb__safetensors_open_reader(source_read, &rs, rref_n, NULL, &rr) == CLIPDB_STATUS_SUCCESS,
        "tiny-rn reference: %s", clipdb_last_error());
  if (vr && rr) {
    compare_paths("tiny-vit", vit, vit_n, NULL, 0, vr, 1);
    compare_paths("tiny-rn", rn, rn_n, NULL, 0, rr, 1);
    compare_paths("tiny-vit hf + config.json", hf, hf_n, cfg, cfg_n, vr, 1);
    size_t h16_n = 0;
    unsigned char *h16 = to_f16(vit, vit_n, &h16_n);
    CHECK(h16 != NULL, "F16 copy");
    /* F16 weights and an inferred config: only the two loads are compared */
    if (h16) compare_paths("tiny-vit F16", h16, h16_n, NULL, 0, vr, 0);
    free(h16);
  }
  test_errors(vit, vit_n, cfg, cfg_n, hf, hf_n);
  test_dtypes();
  clipdb__safetensors_free(vr);
  clipdb__safetensors_free(rr);
  free(vit), free(rn), free(hf), free(cfg), free(vref), free(rref);
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
