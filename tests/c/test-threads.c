/*
 * Compute threads (clipdb_model_params.n_threads): the project's own trained model
 * (models/clipdb-shapes, in the repository) embeds the same image and texts with 1, 2 and 3
 * threads, with the parallel threshold lowered so that every linear layer is split. Each
 * output element is computed by one thread in the same order, so the embeddings must be
 * bit-identical. Also: n_threads outside 0..256 is INVALID_ARGUMENT, and a model with threads
 * can be used from a second session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clipdb.h"
#include "nn/threads.h"
#include "read-file.h"

#define MAX_E 1024

/* Embeds a fixed image and two texts (one batch call, one single call). */
static int embed(const void *bytes, size_t size, int n_threads, float *out) {
  clipdb_file file = {"model.safetensors", bytes, size, NULL, NULL};
  clipdb_model_params p = clipdb_model_default_params();
  p.n_threads = n_threads;
  clipdb_model_t *model = NULL;
  clipdb_status st = clipdb_model_init_from_files(&file, 1, &p, &model);
  CHECK(st == CLIPDB_STATUS_SUCCESS, "load with %d threads: %s", n_threads, clipdb_last_error());
  if (st != CLIPDB_STATUS_SUCCESS) return 0;
  clipdb_model_config c;
  clipdb_model_get_config(model, &c);
  const size_t R = (size_t)c.image_resolution, E = (size_t)c.embed_dim;
  float *pixels = malloc(sizeof(float) * 3 * R * R);
  for (size_t i = 0; i < 3 * R * R; i++) pixels[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  /* two texts in clip.tokenize form for this vocabulary: start-of-text (vocab - 2), a few
   * ids, end-of-text (vocab - 1, the largest), zero padding */
  const int32_t sot = c.vocab_size - 2, eot = c.vocab_size - 1;
  const int32_t texts[2][6] = {{sot, 5, 9, 12, eot, 0}, {sot, 3, 4, 7, 8, eot}};
  clipdb_session_t *s = NULL, *s2 = NULL;
  int ok = clipdb_session_init(model, &s) == CLIPDB_STATUS_SUCCESS &&
           clipdb_session_init(model, &s2) == CLIPDB_STATUS_SUCCESS;
  ok = ok && clipdb_image_embed(s, pixels, 1, out) == CLIPDB_STATUS_SUCCESS;
  ok = ok && clipdb_text_embed_batch(s, &texts[0][0], 2, 6, out + E) == CLIPDB_STATUS_SUCCESS;
  ok = ok && clipdb_text_embed(s2, texts[1], 6, out + 3 * E) == CLIPDB_STATUS_SUCCESS;
  CHECK(ok, "embed with %d threads: %s", n_threads, clipdb_last_error());
  CHECK(ok && memcmp(out + 2 * E, out + 3 * E, E * sizeof(float)) == 0,
        "%d threads: batch and single text embeddings differ", n_threads);
  clipdb_session_free(s);
  clipdb_session_free(s2);
  clipdb_model_free(model);
  free(pixels);
  return ok ? (int)E : 0;
}

int main(void) {
  size_t size = 0;
  void *bytes = read_file(CLIPDB_SOURCE_DIR "/models/clipdb-shapes/model.safetensors", &size);
  CHECK(bytes != NULL, "cannot read models/clipdb-shapes/model.safetensors");
  if (bytes == NULL) return 1;
  clipdb__parallel_min_macs = 0; /* split every GEMM, even this small model's */
  static float ref[4 * MAX_E], got[4 * MAX_E];
  const int E = embed(bytes, size, 1, ref);
  for (int threads = 2; threads <= 3 && E > 0; threads++) {
    if (embed(bytes, size, threads, got) != E) continue;
    CHECK(memcmp(ref, got, sizeof(float) * 4 * (size_t)E) == 0,
          "embeddings with %d threads differ from one thread", threads);
  }
  clipdb_file file = {"model.safetensors", bytes, size, NULL, NULL};
  clipdb_model_params p = clipdb_model_default_params();
  clipdb_model_t *model = NULL;
  p.n_threads = -1;
  CHECK(clipdb_model_init_from_files(&file, 1, &p, &model) == CLIPDB_STATUS_INVALID_ARGUMENT &&
            strstr(clipdb_last_error(), "n_threads") != NULL && model == NULL,
        "n_threads -1: %s", clipdb_last_error());
  p.n_threads = 257;
  CHECK(clipdb_model_init_from_files(&file, 1, &p, &model) == CLIPDB_STATUS_INVALID_ARGUMENT,
        "n_threads 257 accepted");
  free(bytes);
  CHECK(clipdb_allocated_bytes() == 0, "%zu bytes still allocated", clipdb_allocated_bytes());
  printf("%d-float embeddings identical with 1, 2 and 3 threads (backend %s); %d failures\n", E,
         clipdb_backend_name(), failures);
  return failures ? 1 : 0;
}
