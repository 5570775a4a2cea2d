/*
 * Golden parity of the encoders: every golden image `pixels` and text `tokens` through
 * tiny-vit (OpenAI names and the hf/ CLIPModel copy) and tiny-rn, compared with the official
 * implementation's outputs (../shared/golden/<model>/reference.safetensors):
 *   embeddings: max|Δ| <= 1e-4 · max|ref| per vector;  logits_per_image: max|Δ| <= 1e-3;
 *   intermediate activations (debug/...): max|Δ| <= 1e-4 · max|ref|, reported stage by stage
 *   so a failure says where the forward pass diverged.
 * Also: a token list cut after the end-of-text id gives the same embedding as the padded 77.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "common/json.h"
#include "model/model-impl.h"
#include "model/safetensors.h"
#include "kernels/config.h"
#include "nn/backend.h"
#include "nn/threads.h"

#include "check.h"
#include "read-file.h"

/* max|a-b| / max|ref| */
static double rel_err(const float *a, const float *ref, size_t n, double *max_abs) {
  double m = 0.0, r = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)ref[i]);
    if (!(d <= m)) m = d; /* NaN propagates as failure */
    if (fabs(ref[i]) > r) r = fabs(ref[i]);
  }
  if (max_abs) *max_abs = m;
  return r > 0 ? m / r : m;
}

/* ---- debug capture --------------------------------------------------------------------- */

#define MAX_CAPTURE 32
typedef struct capture {
  char name[96];
  float *data;
  int n_dims;
  size_t shape[4];
  size_t numel;
} capture;
static capture captured[MAX_CAPTURE];
static int n_captured;

static void on_debug(void *user, const char *name, const float *data, int n_dims, const size_t *shape) {
  if (n_captured == MAX_CAPTURE) return;
  capture *c = &captured[n_captured++];
  snprintf(c->name, sizeof c->name, "%s", name);
  c->n_dims = n_dims;
  c->numel = 1;
  for (int i = 0; i < n_dims; i++) c->shape[i] = shape[i], c->numel *= shape[i];
  c->data = malloc(c->numel * sizeof(float));
  memcpy(c->data, data, c->numel * sizeof(float));
}

static void clear_captures(void) {
  for (int i = 0; i < n_captured; i++) free(captured[i].data);
  n_captured = 0;
}

/* Compare every golden debug tensor under `prefix` (e.g. "debug/image/astronaut/") with the
 * captured activation of the same name. Ours: NHWC maps [H,W,C], sequences [n,W] (n may be
 * shorter than the reference's 77: text rows past the end-of-text token are not computed). */
static void compare_debug(const char *model, const clipdb__safetensors *ref, const char *prefix) {
  size_t plen = strlen(prefix);
  int compared = 0;
  for (size_t t = 0; t < ref->n_tensors; t++) {
    const clipdb__st_tensor *g = &ref->tensors[t];
    if (strncmp(g->name, prefix, plen) != 0) continue;
    const char *name = g->name + plen;
    const capture *c = NULL;
    for (int i = 0; i < n_captured; i++)
      if (strcmp(captured[i].name, name) == 0) c = &captured[i];
    CHECK(c != NULL, "%s: activation %s was never produced", model, g->name);
    if (c == NULL) continue;
    float *gv = malloc(g->numel * sizeof(float));
    clipdb__st_tensor_to_f32(g, gv);
    float *mine = NULL;
    size_t n = 0;
    if (g->n_dims == 3) {
      /* golden CHW vs ours HWC */
      size_t C = (size_t)g->shape[0], H = (size_t)g->shape[1], W = (size_t)g->shape[2];
      CHECK(c->n_dims == 3 && c->shape[0] == H && c->shape[1] == W && c->shape[2] == C,
            "%s: %s shape mismatch", model, g->name);
      if (c->numel == C * H * W) {
        mine = malloc(c->numel * sizeof(float));
        for (size_t ch = 0; ch < C; ch++)
          for (size_t i = 0; i < H * W; i++) mine[ch * H * W + i] = c->data[i * C + ch];
        n = c->numel;
      }
    } else if (g->n_dims == 2) {
      CHECK(c->n_dims == 2 && c->shape[1] == (size_t)g->shape[1] && c->shape[0] <= (size_t)g->shape[0],
            "%s: %s shape mismatch", model, g->name);
      if (c->n_dims == 2) {
        mine = malloc(c->numel * sizeof(float));
        memcpy(mine, c->data, c->numel * sizeof(float));
        n = c->numel; /* compare the first rows only */
      }
    } else {
      CHECK(c->numel == g->numel, "%s: %s size mismatch", model, g->name);
      if (c->numel == g->numel) {
        mine = malloc(c->numel * sizeof(float));
        memcpy(mine, c->data, c->numel * sizeof(float));
        n = c->numel;
      }
    }
    if (mine != NULL) {
      double abs_err, rel = rel_err(mine, gv, n, &abs_err);
      printf("  %-8s %-45s max|d| %.3g  (%.3g of max|ref|)\n", model, g->name, abs_err, rel);
      CHECK(rel <= 1e-4, "%s: %s diverges: max|d| %.3g = %.3g of max|ref|", model, g->name, abs_err, rel);
      compared++;
    }
    free(mine);
    free(gv);
  }
  CHECK(compared > 0, "%s: no debug tensors under %s", model, prefix);
}

/* ---- one model ---------------------------------------------------------------------------- */

static void run_model(const char *label, const char *dir, const char *hf_subdir) {
  char path[600], cfgpath[600], mpath[600];
  snprintf(mpath, sizeof mpath, "%s/manifest.json", golden_require(dir));
  snprintf(path, sizeof path, "%s/reference.safetensors", golden_require(dir));
  size_t ref_size, man_size, model_size, cfg_size = 0;
  void *ref_bytes = read_file(path, &ref_size);
  char *manifest = read_file(mpath, &man_size);
  if (hf_subdir) {
    snprintf(path, sizeof path, "%s/%s/model.safetensors", golden_require(dir), hf_subdir);
    snprintf(cfgpath, sizeof cfgpath, "%s/%s/config.json", golden_require(dir), hf_subdir);
  } else {
    snprintf(path, sizeof path, "%s/model.safetensors", golden_require(dir));
  }
  void *model_bytes = read_file(path, &model_size);
  void *cfg_bytes = hf_subdir ? read_file(cfgpath, &cfg_size) : NULL;
  CHECK(ref_bytes && manifest && model_bytes && (!hf_subdir || cfg_bytes), "%s: cannot read golden files", label);
  if (!(ref_bytes && manifest && model_bytes)) return;

  size_t before = clipdb_allocated_bytes();
  clipdb_file files[2] = {{"model.safetensors", model_bytes, model_size}, {"config.json", cfg_bytes, cfg_size}};
  clipdb_model_t *model = NULL;
  /* CLIPDB_TEST_THREADS=N (ctest's test-engine-golden-2-threads): the same checks with N
   * compute threads, every GEMM and attention split (threshold 0). */
  clipdb_model_params mp = clipdb_model_default_params();
  const char *tt = getenv("CLIPDB_TEST_THREADS");
  if (tt != NULL && atoi(tt) > 1) {
    mp.n_threads = atoi(tt);
    clipdb__parallel_min_macs = 0;
  }
  clipdb_status st = clipdb_model_init_from_files(files, hf_subdir ? 2 : 1, &mp, &model);
  CHECK(st == CLIPDB_STATUS_SUCCESS, "%s: load: %s %s", label, clipdb_status_string(st), clipdb_last_error());
  if (st != CLIPDB_STATUS_SUCCESS) return;
  clipdb_model_config cfg;
  clipdb_model_get_config(model, &cfg);
  char json[1024];
  clipdb_model_config_json(model, json, sizeof json);
  printf("%s config: %s\n", label, json);
  CHECK(cfg.transformer_heads == 2, "%s: text heads %d, the config says 2", label, cfg.transformer_heads);
  CHECK(cfg.embed_dim == 64 && cfg.image_resolution == 224 && cfg.context_length == 77, "%s: config", label);

  clipdb__safetensors *ref = NULL;
  CHECK(clipdb__safetensors_open(ref_bytes, ref_size, NULL, &ref) == CLIPDB_STATUS_SUCCESS, "reference");
  clipdb__json man;
  CHECK(clipdb__json_parse(manifest, man_size, "manifest", NULL, &man) == CLIPDB_STATUS_SUCCESS, "manifest");
  int images = clipdb__json_get(&man, 0, "images");
  int n_images = images >= 0 ? man.tok[images].size : 0;
  clipdb_session_t *s = NULL;
  clipdb_session_init(model, &s);
  size_t E = (size_t)cfg.embed_dim;
  float *img_emb = calloc((size_t)n_images * E, sizeof(float));
  float *txt_emb = calloc(64 * E, sizeof(float));
  double worst_img = 0, worst_txt = 0;

  for (int i = 0; i < n_images; i++) {
    int it = clipdb__json_item(&man, images, i);
    int nt = clipdb__json_get(&man, it, "name");
    char name[128], key[200];
    snprintf(name, sizeof name, "%.*s", man.tok[nt].end - man.tok[nt].start, man.js + man.tok[nt].start);
    snprintf(key, sizeof key, "image/%s/pixels", name);
    float *pixels = clipdb__safetensors_read_f32(ref, key, NULL, NULL);
    snprintf(key, sizeof key, "image/%s/embedding", name);
    float *want = clipdb__safetensors_read_f32(ref, key, NULL, NULL);
    CHECK(pixels && want, "%s: reference lacks image %s", label, name);
    if (pixels && want) {
      int debug = i == 0;
      if (debug) clipdb__session_set_debug(s, on_debug, NULL);
      st = clipdb_image_embed(s, pixels, 1, img_emb + (size_t)i * E);
      clipdb__session_set_debug(s, NULL, NULL);
      CHECK(st == CLIPDB_STATUS_SUCCESS, "%s: image %s: %s", label, name, clipdb_last_error());
      double abs_err, rel = rel_err(img_emb + (size_t)i * E, want, E, &abs_err);
      if (rel > worst_img || rel != rel) worst_img = rel;
      CHECK(rel <= 1e-4, "%s: image %s embedding off by %.3g (%.3g of max)", label, name, abs_err, rel);
      if (debug) {
        snprintf(key, sizeof key, "debug/image/%s/", name);
        compare_debug(label, ref, key);
        clear_captures();
      }
    }
    clipdb__free(pixels);
    clipdb__free(want);
  }

  int n_texts = 0;
  for (;; n_texts++) {
    char key[64];
    snprintf(key, sizeof key, "text/%d/tokens", n_texts);
    if (!clipdb__safetensors_find(ref, key)) break;
  }
  CHECK(n_texts == 42, "%s: %d texts", label, n_texts);
  int32_t *all = calloc(64 * 77, sizeof(int32_t)); /* every text's ids, for the batch below */
  int have_all = 1;
  for (int i = 0; i < n_texts && i < 64; i++) {
    char key[64];
    snprintf(key, sizeof key, "text/%d/tokens", i);
    int32_t *tok = clipdb__safetensors_read_i32(ref, key, NULL, NULL);
    if (tok) memcpy(all + (size_t)i * 77, tok, 77 * sizeof(int32_t));
    else have_all = 0;
    snprintf(key, sizeof key, "text/%d/embedding", i);
    float *want = clipdb__safetensors_read_f32(ref, key, NULL, NULL);
    if (tok && want) {
      if (i == 0) clipdb__session_set_debug(s, on_debug, NULL);
      st = clipdb_text_embed(s, tok, 77, txt_emb + (size_t)i * E);
      clipdb__session_set_debug(s, NULL, NULL);
      CHECK(st == CLIPDB_STATUS_SUCCESS, "%s: text %d: %s", label, i, clipdb_last_error());
      double abs_err, rel = rel_err(txt_emb + (size_t)i * E, want, E, &abs_err);
      if (rel > worst_txt || rel != rel) worst_txt = rel;
      CHECK(rel <= 1e-4, "%s: text %d embedding off by %.3g (%.3g of max)", label, i, abs_err, rel);
      if (i == 0) {
        compare_debug(label, ref, "debug/text/0/");
        clear_captures();
      }
      /* the same ids cut right after the pooled (argmax) position: identical output */
      size_t eot = 0;
      for (size_t k = 0; k < 77; k++)
        if (tok[k] > tok[eot]) eot = k;
      float cut[1024];
      st = clipdb_text_embed(s, tok, eot + 1, cut);
      CHECK(st == CLIPDB_STATUS_SUCCESS && memcmp(cut, txt_emb + (size_t)i * E, E * sizeof(float)) == 0,
            "%s: text %d cut after EOT differs", label, i);
    }
    clipdb__free(tok);
    clipdb__free(want);
  }

  /* The whole text set as one batch ([n_texts][77], as clip.tokenize returns it), texts grouped
   * by length inside: each embedding must equal the one-text call (bit for bit except on the
   * xnnpack backend, whose kernel choice depends on the batch size). Then in reverse order
   * (other groups), and a bad id in one text, named by the error. */
  CHECK(have_all, "%s: text tokens for the batch", label);
  if (n_texts > 0 && n_texts <= 64 && have_all) {
    int32_t *rows = calloc((size_t)n_texts * 77, sizeof(int32_t));
    float *batch = calloc((size_t)n_texts * E, sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
      /* pass 0: the texts in reverse order; pass 1: the reference order */
      for (int i = 0; i < n_texts; i++)
        memcpy(rows + (size_t)i * 77, all + (size_t)(pass == 0 ? n_texts - 1 - i : i) * 77,
               77 * sizeof(int32_t));
      st = clipdb_text_embed_batch(s, rows, (size_t)n_texts, 77, batch);
      CHECK(st == CLIPDB_STATUS_SUCCESS, "%s: text batch: %s", label, clipdb_last_error());
      double worst_batch = 0;
      for (int i = 0; i < n_texts && st == CLIPDB_STATUS_SUCCESS; i++) {
        const int j = pass == 0 ? n_texts - 1 - i : i; /* reference index of batch row i */
        for (size_t k = 0; k < E; k++) {
          double d = fabs((double)batch[(size_t)i * E + k] - txt_emb[(size_t)j * E + k]);
          if (d > worst_batch || d != d) worst_batch = d;
        }
      }
      /* our kernels give a row the same bits whatever the batch; XNNPACK picks its kernels by
       * batch size */
      const double batch_tol = strcmp(clipdb__backend_current()->name, "xnnpack") == 0 ? 1e-6 : 0;
      CHECK(worst_batch <= batch_tol, "%s: text batch (pass %d) differs from one-text calls by %.3g",
            label, pass, worst_batch);
    }
    if (n_texts > 5) {
      rows[5 * 77 + 3] = (int32_t)cfg.vocab_size;
      st = clipdb_text_embed_batch(s, rows, (size_t)n_texts, 77, batch);
      CHECK(st == CLIPDB_STATUS_INVALID_ARGUMENT && strstr(clipdb_last_error(), "text 5, token 3") != NULL,
            "%s: bad id in a batch: %s %s", label, clipdb_status_string(st), clipdb_last_error());
    }
    st = clipdb_text_embed_batch(s, rows, 0, 77, batch);
    CHECK(st == CLIPDB_STATUS_INVALID_ARGUMENT, "%s: empty batch accepted", label);
    st = clipdb_text_embed_batch(s, rows, 1, 78, batch);
    CHECK(st == CLIPDB_STATUS_INVALID_ARGUMENT, "%s: rows longer than the context accepted", label);
    free(rows);
    free(batch);
  }
  free(all);

  /* logits_per_image = exp(logit_scale) · cos(img, txt) */
  size_t nl = 0;
  float *logits = clipdb__safetensors_read_f32(ref, "logits_per_image", NULL, &nl);
  CHECK(logits && nl == (size_t)n_images * (size_t)n_texts, "%s: logits", label);
  double worst_logit = 0;
  if (logits && nl == (size_t)n_images * (size_t)n_texts) {
    for (int i = 0; i < n_images; i++) clipdb_embedding_normalize(img_emb + (size_t)i * E, E);
    for (int j = 0; j < n_texts; j++) clipdb_embedding_normalize(txt_emb + (size_t)j * E, E);
    float scale = expf(cfg.logit_scale);
    for (int i = 0; i < n_images; i++)
      for (int j = 0; j < n_texts; j++) {
        float dot = 0;
        for (size_t k = 0; k < E; k++) dot += img_emb[(size_t)i * E + k] * txt_emb[(size_t)j * E + k];
        double d = fabs((double)(scale * dot) - logits[(size_t)i * n_texts + j]);
        if (d > worst_logit || d != d) worst_logit = d;
      }
    CHECK(worst_logit <= 1e-3, "%s: logits_per_image off by %.3g", label, worst_logit);
  }
  printf("%s: %d images, %d texts; worst embedding error image %.3g, text %.3g (of max|ref|), "
         "logits %.3g\n", label, n_images, n_texts, worst_img, worst_txt, worst_logit);
  clipdb__free(logits);
  free(img_emb);
  free(txt_emb);
  clipdb_session_free(s);
  clipdb_model_free(model);
  clipdb__json_free(&man);
  clipdb__safetensors_free(ref);
  CHECK(clipdb_allocated_bytes() == before, "%s: %zu bytes leaked", label, clipdb_allocated_bytes() - before);
  free(ref_bytes);
  free(manifest);
  free(model_bytes);
  free(cfg_bytes);
}

int main(void) {
  golden_require("README.md");
  printf("backend: %s\n", clipdb_backend_name());
  /* Every kernel configuration this build and CPU run, one after another in this process
   * (src/kernels/config.h): the scalar twins, and each instruction set's kernels. */
  const char *def = clipdb__kernels()->name;
  printf("default kernels: %s\n", def);
  if (getenv("CLIPDB_KERNELS") == NULL)
    CHECK(strcmp(def, strcmp(clipdb_backend_name(), "scalar") == 0 ? "scalar" : "auto") == 0,
          "the %s backend starts on kernels %s", clipdb_backend_name(), def);
  /* ... on every backend of this build (src/nn/backend.h): the xnnpack build runs XNNPACK's
   * GEMMs and ours side by side */
  int configs = 0;
  const clipdb__backend *start = clipdb__backend_current();
  for (size_t b = 0; clipdb__backends[b] != NULL; b++) {
    CHECK(clipdb__backend_select(clipdb__backends[b]->name) == 0, "backend %s not selected",
          clipdb__backends[b]->name);
    for (size_t c = 0; clipdb__kernel_config_names[c] != NULL; c++) {
      const char *name = clipdb__kernel_config_names[c];
      int err = 0;
      if (clipdb__kernels_find(name, &err) == NULL) {
        CHECK(err == CLIPDB__KERNELS_UNSUPPORTED, "kernels %s: error %d", name, err);
        printf("kernels %s: not on this CPU\n", name);
        continue;
      }
      CHECK(clipdb__kernels_select(name) == 0 && strcmp(clipdb__kernels()->name, name) == 0,
            "kernels %s: not selected", name);
      printf("backend %s, kernels %s: f32 GEMM %s, qs8 GEMM %s, dot %s\n",
             clipdb__backend_current()->name, name, clipdb__kernels()->f32_gemm->name,
             clipdb__kernels()->qs8_gemm->name, clipdb__kernels()->f32_dot_name);
      run_model("tiny-vit", "tiny-vit", NULL);
      run_model("vit-hf", "tiny-vit", "hf");
      run_model("tiny-rn", "tiny-rn", NULL);
      configs++;
    }
  }
  clipdb__backend_select(start->name);
  CHECK(configs >= 2, "%d kernel configurations ran (auto and scalar at least)", configs);
  CHECK(clipdb__kernels_select("no-such-kernels") == CLIPDB__KERNELS_UNKNOWN, "unknown name");
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
