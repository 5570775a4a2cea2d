/*
 * Bad input to the tokenizer: named errors instead of crashes. Malformed vocabularies
 * (truncated/corrupt gzip, bad merge lines, bad JSON, missing special tokens), bad
 * arguments, and random bytes as text (invalid UTF-8 included) with both truncation modes;
 * plus a small vocabulary in the OpenAI format sizing itself from the file, and
 * context lengths other than 77. No golden data needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb.h"

#include "check.h"

static clipdb_status make(const char *name, const void *data, size_t size, clipdb_tokenizer_t **t) {
  clipdb_file f = {name, data, size};
  return clipdb_tokenizer_init_from_files(&f, 1, t);
}

static void expect_bad_vocab(const char *what, clipdb_status st, clipdb_tokenizer_t *t, const char *needle) {
  CHECK(st == CLIPDB_STATUS_BAD_VOCAB && t == NULL, "%s: status %s", what, clipdb_status_string(st));
  CHECK(strstr(clipdb_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, clipdb_last_error(), needle);
}

/* A tiny OpenAI-format vocabulary: 2 merges, ids 512 "ca", 513 "cat</w>", SOT 514, EOT 515. */
static const char tiny[] = "#version: 0.2\nc a\nca t</w>\n";

int main(void) {
  clipdb_tokenizer_t *t = (clipdb_tokenizer_t *)1;

  /* arguments */
  CHECK(clipdb_tokenizer_init_from_files(NULL, 0, &t) == CLIPDB_STATUS_INVALID_ARGUMENT && t == NULL, "no files");
  CHECK(clipdb_tokenizer_init_from_files(NULL, 1, NULL) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL out");
  {
    clipdb_file f = {"vocab.json", "{}", 2};
    CHECK(clipdb_tokenizer_init_from_files(&f, 1, &t) == CLIPDB_STATUS_INVALID_ARGUMENT, "vocab.json without merges.txt");
    CHECK(strstr(clipdb_last_error(), "merges.txt") != NULL, "message names merges.txt: %s", clipdb_last_error());
  }

  /* malformed OpenAI vocabularies */
  static const unsigned char not_deflate[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
  expect_bad_vocab("corrupt gzip", make("v.txt.gz", not_deflate, sizeof not_deflate, &t), t, "v.txt.gz");
  expect_bad_vocab("truncated gzip", make("v.txt.gz", not_deflate, 6, &t), t, "gzip");
  expect_bad_vocab("bad merge line", make("v.txt", "#version: 0.2\nc a\nthree parts here\n", 34, &t), t, "line 3");
  expect_bad_vocab("empty", make("v.txt", "", 0, &t), t, "empty");

  /* malformed HF vocabularies */
  {
    const char *cases[][2] = {
        {"[1, 2]", "object"},
        {"{\"a\": \"x\"}", "entry 0"},
        {"{\"a\": 1", "JSON"},
        {"{\"a\\q\": 1}", "JSON"},
        {"{\"a\\ud800\": 1}", "escape"},
        {"{\"a\": 1, \"b\": 2}", "<|startoftext|>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      clipdb_file f[2] = {{"vocab.json", cases[i][0], strlen(cases[i][0])}, {"merges.txt", "#version: 0.2\n", 14}};
      clipdb_status st = clipdb_tokenizer_init_from_files(f, 2, &t);
      expect_bad_vocab(cases[i][0], st, t, cases[i][1]);
    }
  }

  /* a small vocabulary sizes itself from the file */
  CHECK(make("tiny.txt", tiny, sizeof tiny - 1, &t) == CLIPDB_STATUS_SUCCESS, "tiny vocab: %s", clipdb_last_error());
  CHECK(clipdb_tokenizer_vocab_size(t) == 516 && clipdb_tokenizer_sot(t) == 514 && clipdb_tokenizer_eot(t) == 515,
        "tiny vocab size %d sot %d eot %d", clipdb_tokenizer_vocab_size(t), clipdb_tokenizer_sot(t), clipdb_tokenizer_eot(t));
  int32_t out[80];
  int32_t n = 0;
  CHECK(clipdb_tokenize(t, "Cat a", 5, 77, 0, out, &n) == CLIPDB_STATUS_SUCCESS && n == 4, "tiny tokenize");
  CHECK(out[0] == 514 && out[1] == 513 && out[2] == 320 && out[3] == 515 && out[4] == 0, "tiny ids %d %d %d %d",
        out[0], out[1], out[2], out[3]);

  /* other context lengths: 4 keeps [SOT, cat, a, EOT]; 3 truncates to [SOT, cat, EOT] */
  CHECK(clipdb_tokenize(t, "cat a", 5, 4, 0, out, &n) == CLIPDB_STATUS_SUCCESS && n == 4 && out[3] == 515, "context 4");
  CHECK(clipdb_tokenize(t, "cat a", 5, 3, 0, out, &n) == CLIPDB_STATUS_TEXT_TOO_LONG, "context 3 strict");
  CHECK(strstr(clipdb_tokenizer_last_error(t), "4 tokens") != NULL, "too-long message: %s", clipdb_tokenizer_last_error(t));
  CHECK(clipdb_tokenize(t, "cat a", 5, 3, 1, out, &n) == CLIPDB_STATUS_SUCCESS && n == 3 && out[0] == 514 &&
            out[1] == 513 && out[2] == 515, "context 3 truncated");
  CHECK(clipdb_tokenize(t, "cat", 3, 1, 1, out, &n) == CLIPDB_STATUS_INVALID_ARGUMENT, "context 1");
  CHECK(clipdb_tokenize(t, NULL, 3, 77, 1, out, &n) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL text");
  CHECK(clipdb_tokenize(t, NULL, 0, 77, 1, out, &n) == CLIPDB_STATUS_SUCCESS && n == 2, "NULL empty text");
  CHECK(clipdb_tokenize(t, "cat", 3, 77, 1, NULL, &n) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL out");
  CHECK(clipdb_tokenize(NULL, "cat", 3, 77, 1, out, &n) == CLIPDB_STATUS_INVALID_ARGUMENT, "NULL tokenizer");

  /* random bytes (mostly invalid UTF-8, with some ASCII, '&', '<', quotes): never a crash,
   * SOT first, EOT present, ids within the vocabulary, zero padding */
  uint32_t state = 12345;
  char text[300];
  for (int iter = 0; iter < 3000; iter++) {
    size_t len = (size_t)(iter % 300);
    for (size_t i = 0; i < len; i++) {
      state = state * 1664525u + 1013904223u;
      uint32_t r = state >> 24;
      static const char alphabet[] = " &<;#'abcxyz\xc3\xa9\xe2\x80\x99\xef\xbc\xa1\xc2\x85\xcc\x81";
      text[i] = (char)(r < 64 ? alphabet[r % (sizeof alphabet - 1)] : r); /* within the literal */
    }
    for (int trunc = 0; trunc < 2; trunc++) {
      clipdb_status st = clipdb_tokenize(t, text, len, 77, trunc, out, &n);
      if (st == CLIPDB_STATUS_TEXT_TOO_LONG && !trunc) continue;
      CHECK(st == CLIPDB_STATUS_SUCCESS, "random text %d: %s %s", iter, clipdb_status_string(st), clipdb_tokenizer_last_error(t));
      if (st != CLIPDB_STATUS_SUCCESS) break;
      int ok = out[0] == 514 && n >= 2 && n <= 77 && out[n - 1] == 515;
      for (int k = 1; k < n - 1; k++) ok &= out[k] >= 0 && out[k] < 514;
      for (int k = n; k < 77; k++) ok &= out[k] == 0;
      CHECK(ok, "random text %d: malformed ids", iter);
    }
  }
  clipdb_tokenizer_free(t);
  clipdb_tokenizer_free(NULL);

  CHECK(clipdb_allocated_bytes() == 0, "leak: %zu bytes", clipdb_allocated_bytes());
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
