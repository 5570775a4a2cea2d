/*
 * Fuzz target for the tokenizer's text path: arbitrary bytes (invalid UTF-8 included) through
 * clipdb_tokenize — UTF-8 decoding with replacement, the text cleaning (HTML unescaping,
 * whitespace, lower-casing), the pre-tokenizer pattern, byte-level BPE and the BPE cache —
 * with the OpenAI vocabulary when the reference data is beside the checkout, else the
 * repository's small default-model vocabulary. Both context handling modes run: truncation on
 * and off (TEXT_TOO_LONG is a fine answer). Ids must be in range, start with the start-of-text
 * id and end with the end-of-text id. A crash, an unnamed failure or a leak aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"

#ifndef CLIPDB_SOURCE_DIR
#define CLIPDB_SOURCE_DIR "."
#endif

static clipdb_tokenizer_t *load_tokenizer(void) {
  static const char *const paths[] = {
      CLIPDB_SOURCE_DIR "/../shared/golden/bpe_simple_vocab_16e6.txt.gz",
      CLIPDB_SOURCE_DIR "/models/clipdb-shapes/vocab.txt.gz",
  };
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    FILE *fp = fopen(paths[i], "rb");
    if (fp == NULL) continue;
    static uint8_t buf[4 << 20];
    const size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    clipdb_file f = {"vocab.txt.gz", buf, n};
    clipdb_tokenizer_t *t = NULL;
    if (clipdb_tokenizer_init_from_files(&f, 1, &t) == CLIPDB_STATUS_SUCCESS) {
      fprintf(stderr, "fuzz-tokenize: vocabulary %s\n", paths[i]);
      return t;
    }
    fprintf(stderr, "fuzz-tokenize: %s: %s\n", paths[i], clipdb_last_error());
  }
  fprintf(stderr, "fuzz-tokenize: no vocabulary found\n");
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static clipdb_tokenizer_t *t = NULL;
  if (t == NULL) t = load_tokenizer(); /* kept for the whole run: its BPE cache is fuzzed too */
  const int32_t vocab = clipdb_tokenizer_vocab_size(t);
  int32_t ids[77];
  for (int truncate = 0; truncate < 2; truncate++) {
    int32_t n = -1;
    clipdb_status s = clipdb_tokenize(t, size ? (const char *)data : "", size, 77, truncate, ids, &n);
    fuzz_require_message(s, clipdb_tokenizer_last_error(t), "clipdb_tokenize");
    if (s == CLIPDB_STATUS_TEXT_TOO_LONG && !truncate) continue;
    if (s != CLIPDB_STATUS_SUCCESS) abort(); /* only an over-long text may fail */
    if (n < 2 || n > 77 || ids[0] != clipdb_tokenizer_sot(t) || ids[n - 1] != clipdb_tokenizer_eot(t))
      abort();
    for (int i = 0; i < 77; i++)
      if (ids[i] < 0 || ids[i] >= vocab || (i >= n && ids[i] != 0)) abort();
  }
  return 0;
}
