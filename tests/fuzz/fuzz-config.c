/*
 * Fuzz target for the Hugging Face `config.json` reader: the input is config.json, given to
 * clipdb_model_init_from_files beside a small Hugging Face-named `model.safetensors` built
 * here (a token and a position embedding table, so the dialect is detected and the sizes the
 * config overrides are inferred first). The JSON tokenizer, the field checks (integers,
 * nested text_config / vision_config, hidden_act, layer_norm_eps) and the size checks that
 * follow all see the fuzzed text. Loading then stops at the first missing tensor, which is a
 * named BAD_MODEL like any other failure. A crash, an unnamed failure or a leak aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"

/* model.safetensors: u64 header length, JSON header, then float32 zeros for both tables. */
static size_t build_model(uint8_t *buf, size_t cap) {
  static const char header[] =
      "{\"text_model.embeddings.token_embedding.weight\":{\"dtype\":\"F32\",\"shape\":[16,8],"
      "\"data_offsets\":[0,512]},"
      "\"text_model.embeddings.position_embedding.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],"
      "\"data_offsets\":[512,640]}}";
  const size_t hlen = sizeof header - 1, total = 8 + hlen + 640;
  if (total > cap) abort();
  memset(buf, 0, total);
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  memcpy(buf + 8, header, hlen);
  return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t model[2048];
  static size_t model_size = 0;
  if (model_size == 0) model_size = build_model(model, sizeof model);
  const size_t before = clipdb_allocated_bytes();
  clipdb_model_params p = clipdb_model_default_params();
  p.n_threads = 1;
  clipdb_file f[2] = {{"model.safetensors", model, model_size},
                      {"config.json", size ? (const void *)data : "", size}};
  clipdb_model_t *m = NULL;
  clipdb_status s = clipdb_model_init_from_files(f, 2, &p, &m);
  fuzz_require_message(s, clipdb_last_error(), "clipdb_model_init_from_files (config.json)");
  clipdb_model_free(m);
  fuzz_require_no_leak(before, "model init (config.json)");
  return 0;
}
