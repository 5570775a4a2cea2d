/*
 * Fuzz target for the vocabulary readers behind clipdb_tokenizer_init_from_files. The first
 * input byte picks the format, the rest is the file(s):
 *   0: OpenAI BPE merges file named "vocab.txt.gz" (gzip when it starts with 1f 8b, else text:
 *      the gzip member parser, inflate, CRC-32/length checks, the merges reader);
 *   1: the same bytes named "vocab.txt" (plain merges text);
 *   2: Hugging Face "vocab.json" + "merges.txt", split at the first NUL byte (the JSON reader
 *      and the merges reader).
 * A tokenizer that loads then tokenizes a fixed text (a vocabulary without some byte tokens
 * may fail that with a named error). A crash, an unnamed
 * failure or a leak aborts.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const size_t before = clipdb_allocated_bytes();
  const int kind = data[0] % 3;
  const uint8_t *body = data + 1;
  const size_t n = size - 1;
  clipdb_file f[2];
  memset(f, 0, sizeof f);
  size_t n_files = 1;
  if (kind == 2) {
    const uint8_t *nul = memchr(body, 0, n);
    const size_t a = nul ? (size_t)(nul - body) : n;
    f[0] = (clipdb_file){"vocab.json", body, a};
    f[1] = (clipdb_file){"merges.txt", nul ? nul + 1 : body + n, nul ? n - a - 1 : 0};
    n_files = 2;
  } else {
    f[0] = (clipdb_file){kind == 0 ? "vocab.txt.gz" : "vocab.txt", body, n};
  }
  clipdb_tokenizer_t *t = NULL;
  clipdb_status s = clipdb_tokenizer_init_from_files(f, n_files, &t);
  fuzz_require_message(s, clipdb_last_error(), "clipdb_tokenizer_init_from_files");
  if (s == CLIPDB_STATUS_SUCCESS) {
    int32_t ids[77], n_ids = 0;
    static const char text[] = "a photo of a cat, 2 dogs!";
    clipdb_status ts = clipdb_tokenize(t, text, sizeof text - 1, 77, 1, ids, &n_ids);
    fuzz_require_message(ts, clipdb_tokenizer_last_error(t), "clipdb_tokenize");
    if (ts == CLIPDB_STATUS_SUCCESS && (n_ids < 2 || n_ids > 77)) abort();
    clipdb_tokenizer_free(t);
  } else if (t != NULL) {
    abort();
  }
  fuzz_require_no_leak(before, "tokenizer init");
  return 0;
}
