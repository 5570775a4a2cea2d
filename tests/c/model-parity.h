/*
 * Engine-vs-PyTorch parity for a shipped model (used by tests/c/test-*-model.c): a fixture
 * written by the training script holds preprocessed pixels, token rows and the embeddings
 * PyTorch computed for them. The engine's image and text embeddings must match within
 * 1e-4 x max|ref| (the tolerance for a float32 port of the same forward pass), and the C
 * tokenizer reading the model's own BPE vocabulary (vocab.txt.gz, official file format) must
 * produce the same token ids as the Python one.
 */
#ifndef CLIPDB_TEST_MODEL_PARITY_H
#define CLIPDB_TEST_MODEL_PARITY_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb.h"
#include "model/safetensors.h"

#include "check.h"
#include "read-file.h"

/* max |a-b| relative to max |ref| over n values. */
static double rel_err(const float *got, const float *ref, size_t n, double *max_ref) {
  double d = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - (double)ref[i]);
    if (!(e <= d)) d = e; /* NaN propagates as a failure */
    if (fabs(ref[i]) > m) m = fabs(ref[i]);
  }
  *max_ref = m;
  return d;
}

/* Checks the model in `model_dir` (model.safetensors + vocab.txt.gz, relative to the source
 * tree) against the PyTorch fixture `fixture`, whose token rows were made from `texts`.
 * Returns the process exit status (0 when every check passed). */
static int model_parity(const char *model_dir, const char *fixture, const char *const *texts,
                        size_t n_texts) {
  size_t msize = 0, fsize = 0, vsize = 0;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/model.safetensors", CLIPDB_SOURCE_DIR, model_dir);
  void *mbytes = read_file(path, &msize);
  snprintf(path, sizeof path, "%s/%s/vocab.txt.gz", CLIPDB_SOURCE_DIR, model_dir);
  void *vbytes = read_file(path, &vsize);
  snprintf(path, sizeof path, "%s/%s", CLIPDB_SOURCE_DIR, fixture);
  void *fbytes = read_file(path, &fsize);
  if (!mbytes || !fbytes || !vbytes) {
    printf("FAIL: %s/{model.safetensors,vocab.txt.gz} or %s is missing\n", model_dir, fixture);
    return 1;
  }

  clipdb_file mf = {"model.safetensors", mbytes, msize};
  clipdb_model_params mp = clipdb_model_default_params();
  clipdb_model_t *model = NULL;
  clipdb_status s = clipdb_model_init_from_files(&mf, 1, &mp, &model);
  if (s != CLIPDB_STATUS_SUCCESS) {
    printf("FAIL: model load: %s: %s\n", clipdb_status_string(s), clipdb_last_error());
    return 1;
  }
  clipdb_model_config cfg;
  CHECK(clipdb_model_get_config(model, &cfg) == CLIPDB_STATUS_SUCCESS, "get_config");
  CHECK((cfg.vision_type == CLIPDB_VISION_VIT || cfg.vision_type == CLIPDB_VISION_RESNET) &&
            cfg.context_length == 77 && cfg.vocab_size > 512,
        "config: vision_type %d context_length %d vocab_size %d", cfg.vision_type,
        cfg.context_length, cfg.vocab_size);
  clipdb_session_t *session = NULL;
  s = clipdb_session_init(model, &session);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "session: %s", clipdb_status_string(s));

  clipdb__safetensors *fx = NULL;
  s = clipdb__safetensors_open(fbytes, fsize, NULL, &fx);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "fixture open: %s", clipdb_last_error());
  if (s != CLIPDB_STATUS_SUCCESS || session == NULL) return 1;
  const clipdb__st_tensor *tp = clipdb__safetensors_find(fx, "pixels");
  const clipdb__st_tensor *tt = clipdb__safetensors_find(fx, "tokens");
  CHECK(tp && tt, "fixture lacks pixels/tokens");
  if (!tp || !tt) return 1;
  const size_t n_img = (size_t)tp->shape[0], n_txt = (size_t)tt->shape[0];
  const size_t ctx = (size_t)tt->shape[1], E = (size_t)cfg.embed_dim;
  CHECK(tp->n_dims == 4 && tp->shape[1] == 3 && tp->shape[2] == cfg.image_resolution &&
            tp->shape[3] == cfg.image_resolution,
        "fixture pixels are not [n,3,%d,%d]", cfg.image_resolution, cfg.image_resolution);
  float *pixels = clipdb__safetensors_read_f32(fx, "pixels", NULL, NULL);
  float *ref_img = clipdb__safetensors_read_f32(fx, "image_embeddings", NULL, NULL);
  float *ref_txt = clipdb__safetensors_read_f32(fx, "text_embeddings", NULL, NULL);
  int32_t *tokens = clipdb__safetensors_read_i32(fx, "tokens", NULL, NULL);
  const clipdb__st_tensor *te = clipdb__safetensors_find(fx, "image_embeddings");
  CHECK(te && te->n_dims == 2 && te->shape[1] == cfg.embed_dim, "fixture embeddings are not [n,%d]",
        cfg.embed_dim);
  CHECK(pixels && ref_img && ref_txt && tokens, "fixture tensors unreadable");
  if (!(pixels && ref_img && ref_txt && tokens)) return 1;

  /* Image tower, all images in one batch. */
  float *img = malloc(n_img * E * sizeof *img);
  s = clipdb_image_embed(session, pixels, n_img, img);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "image_embed: %s", clipdb_session_last_error(session));
  double m, d = rel_err(img, ref_img, n_img * E, &m);
  printf("image embeddings: %zu x %zu, max|d| %.3g, max|ref| %.3g\n", n_img, E, d, m);
  CHECK(d <= 1e-4 * m, "image embeddings differ: max|d| %.3g > 1e-4 * %.3g", d, m);

  /* Text tower, one row at a time (zero padding included). */
  float *txt = malloc(n_txt * E * sizeof *txt);
  for (size_t i = 0; i < n_txt; i++) {
    s = clipdb_text_embed(session, tokens + i * ctx, ctx, txt + i * E);
    CHECK(s == CLIPDB_STATUS_SUCCESS, "text_embed %zu: %s", i, clipdb_session_last_error(session));
  }
  d = rel_err(txt, ref_txt, n_txt * E, &m);
  printf("text embeddings: %zu x %zu, max|d| %.3g, max|ref| %.3g\n", n_txt, E, d, m);
  CHECK(d <= 1e-4 * m, "text embeddings differ: max|d| %.3g > 1e-4 * %.3g", d, m);

  /* The model's own vocabulary through the C tokenizer: the same ids as in training. */
  CHECK(n_txt == n_texts, "fixture has %zu texts, expected %zu", n_txt, n_texts);
  clipdb_file vf = {"vocab.txt.gz", vbytes, vsize};
  clipdb_tokenizer_t *tok = NULL;
  s = clipdb_tokenizer_init_from_files(&vf, 1, &tok);
  CHECK(s == CLIPDB_STATUS_SUCCESS, "tokenizer: %s: %s", clipdb_status_string(s), clipdb_last_error());
  int32_t row[77];
  for (size_t i = 0; tok && i < n_txt && ctx == 77; i++) {
    int32_t n = 0;
    s = clipdb_tokenize(tok, texts[i], strlen(texts[i]), 77, 1, row, &n);
    CHECK(s == CLIPDB_STATUS_SUCCESS, "tokenize %zu", i);
    CHECK(memcmp(row, tokens + i * ctx, sizeof row) == 0, "token row %zu (\"%s\") differs from training's",
          i, texts[i]);
  }
  clipdb_tokenizer_free(tok);

  free(img);
  free(txt);
  clipdb__free(pixels);
  clipdb__free(ref_img);
  clipdb__free(ref_txt);
  clipdb__free(tokens);
  clipdb__safetensors_free(fx);
  clipdb_session_free(session);
  clipdb_model_free(model);
  free(mbytes);
  free(fbytes);
  free(vbytes);
  if (failures) printf("%d failure(s)\n", failures);
  else printf("OK\n");
  return failures ? 1 : 0;
}

#endif
