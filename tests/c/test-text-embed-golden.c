/*
 * Text to embedding end to end: every golden text, tokenized by clipdb_tokenize (OpenAI and
 * HF vocabulary) and encoded by clipdb_text_embed with tiny-vit/model.safetensors, matches
 * `text/<i>/embedding` of reference.safetensors within the engine tolerance
 * max|d| <= 1e-4 * max|ref| (../shared/golden/README.md, "Tolerances").
 */
#include <math.h>

#include "golden-texts.h"
#include "model/safetensors.h"

int main(void) {
  golden_text texts[GOLDEN_N_TEXTS];
  memset(texts, 0, sizeof texts);
  golden_texts_load(texts);
  size_t n_ref, n_model;
  unsigned char *ref_bytes = gt_read_file(golden_require("tiny-vit/reference.safetensors"), &n_ref);
  unsigned char *model_bytes = gt_read_file(golden_require("tiny-vit/model.safetensors"), &n_model);
  clipdb__safetensors *ref = NULL;
  if (clipdb__safetensors_open(ref_bytes, n_ref, NULL, &ref) != CLIPDB_STATUS_SUCCESS) {
    printf("FAIL: reference.safetensors: %s\n", clipdb_last_error());
    return 1;
  }
  clipdb_file mf = {"model.safetensors", model_bytes, n_model};
  clipdb_model_params mp = clipdb_model_default_params();
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  if (clipdb_model_init_from_files(&mf, 1, &mp, &model) != CLIPDB_STATUS_SUCCESS ||
      clipdb_session_init(model, &session) != CLIPDB_STATUS_SUCCESS) {
    printf("FAIL: load tiny-vit: %s\n", clipdb_last_error());
    return 1;
  }
  clipdb_model_config cfg;
  clipdb_model_get_config(model, &cfg);
  int failures = 0;
  double worst = 0;
  for (int hf = 0; hf < 2; hf++) {
    clipdb_tokenizer_t *tok = golden_tokenizer(hf);
    for (int i = 0; i < GOLDEN_N_TEXTS; i++) {
      char name[64];
      snprintf(name, sizeof name, "text/%d/embedding", i);
      size_t numel = 0;
      float *expect = clipdb__safetensors_read_f32(ref, name, NULL, &numel);
      int32_t ids[77];
      float emb[1024];
      if (expect == NULL || (int)numel != cfg.embed_dim ||
          clipdb_tokenize(tok, texts[i].text, texts[i].len, 77, 1, ids, NULL) != CLIPDB_STATUS_SUCCESS ||
          clipdb_text_embed(session, ids, 77, emb) != CLIPDB_STATUS_SUCCESS) {
        printf("FAIL: text %d: %s\n", i, clipdb_last_error());
        failures++;
        clipdb__free(expect);
        continue;
      }
      double maxref = 0, maxd = 0;
      for (size_t k = 0; k < numel; k++) {
        maxref = fmax(maxref, fabs(expect[k]));
        maxd = fmax(maxd, fabs((double)emb[k] - expect[k]));
      }
      worst = fmax(worst, maxd / maxref);
      if (!(maxd <= 1e-4 * maxref)) {
        printf("FAIL: [%s] text %d: max|d| %.3g > 1e-4 * max|ref| %.3g\n", hf ? "hf" : "openai", i, maxd, maxref);
        failures++;
      }
      clipdb__free(expect);
    }
    clipdb_tokenizer_free(tok);
  }
  printf("42 texts x 2 vocabularies: worst max|d| / max|ref| = %.3g (limit 1e-4)\n", worst);
  clipdb_session_free(session);
  clipdb_model_free(model);
  clipdb__safetensors_free(ref);
  free(ref_bytes);
  free(model_bytes);
  golden_texts_free(texts);
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
