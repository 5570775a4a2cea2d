/*
 * Golden token ids: for each of the 42 golden texts, clipdb_tokenize equals `text/<i>/tokens`
 * of tiny-vit/reference.safetensors (clip.tokenize(..., truncate=True) of the official code),
 * with the vocabulary read from OpenAI's .txt.gz and from the HF vocab.json + merges.txt;
 * texts the manifest marks as truncated fail with TEXT_TOO_LONG when truncation is off, and
 * the others give the same ids either way. Also ids users reported from the official Python
 * tokenizer for two strings, and a wrong sequence reported for the first (which must not come out).
 */
#include "golden-texts.h"
#include "model/safetensors.h"

#include "check.h"

static void print_ids(const char *label, const int32_t *v) {
  printf("  %s:", label);
  for (int i = 0; i < 77; i++) printf(" %d", v[i]);
  printf("\n");
}

static void check_golden(clipdb_tokenizer_t *tok, const char *vocab_name, golden_text *texts,
                         const clipdb__safetensors *ref) {
  int ok = 0;
  for (int i = 0; i < GOLDEN_N_TEXTS; i++) {
    char name[64];
    snprintf(name, sizeof name, "text/%d/tokens", i);
    int32_t *expect = clipdb__safetensors_read_i32(ref, name, NULL, NULL);
    if (expect == NULL) {
      printf("FAIL: %s missing in reference.safetensors\n", name);
      failures++;
      continue;
    }
    int32_t got[77];
    int32_t n = -1;
    clipdb_status st = clipdb_tokenize(tok, texts[i].text, texts[i].len, 77, 1, got, &n);
    int same = st == CLIPDB_STATUS_SUCCESS && memcmp(got, expect, sizeof got) == 0;
    CHECK(same, "[%s] text %d: ids differ (status %s)", vocab_name, i, clipdb_status_string(st));
    if (!same) {
      print_ids("expected", expect);
      print_ids("got     ", got);
    }
    int expect_n = texts[i].n_tokens > 77 ? 77 : texts[i].n_tokens;
    CHECK(n == expect_n, "[%s] text %d: out_n %d, expected %d", vocab_name, i, n, expect_n);
    /* truncate = 0 */
    int32_t strict[77];
    st = clipdb_tokenize(tok, texts[i].text, texts[i].len, 77, 0, strict, NULL);
    if (texts[i].truncated) {
      CHECK(st == CLIPDB_STATUS_TEXT_TOO_LONG, "[%s] text %d: expected TEXT_TOO_LONG, got %s",
            vocab_name, i, clipdb_status_string(st));
      char count[32];
      snprintf(count, sizeof count, "%d tokens", texts[i].n_tokens);
      CHECK(strstr(clipdb_tokenizer_last_error(tok), count) != NULL &&
                strstr(clipdb_tokenizer_last_error(tok), "77") != NULL,
            "[%s] text %d: message should name %s and the limit 77: %s", vocab_name, i, count,
            clipdb_tokenizer_last_error(tok));
    } else {
      CHECK(st == CLIPDB_STATUS_SUCCESS && memcmp(strict, expect, sizeof strict) == 0,
            "[%s] text %d: truncate=0 differs (status %s)", vocab_name, i, clipdb_status_string(st));
    }
    ok += same;
    clipdb__free(expect);
  }
  printf("[%s] %d/%d golden texts exact\n", vocab_name, ok, GOLDEN_N_TEXTS);
}

/* Ids users reported from the official Python tokenizer for two strings; `reported_broken` is
 * what a faulty port produced for the first one. */
static void check_reported(clipdb_tokenizer_t *tok) {
  static const int32_t reported_test[] = {49406, 589, 533, 320, 1628, 9696, 539, 4160, 49407};
  static const int32_t reported_broken[] = {49406, 4340, 595, 64, 7738, 25512, 684, 18169, 49407};
  static const int32_t reported_hello[] = {49406, 3306, 1002, 49407};
  int32_t got[77];
  const char *s = "this is a test string of text";
  CHECK(clipdb_tokenize(tok, s, strlen(s), 77, 0, got, NULL) == CLIPDB_STATUS_SUCCESS, "\"this is a test...\" tokenize");
  CHECK(memcmp(got, reported_test, sizeof reported_test) == 0, "\"this is a test...\" ids");
  CHECK(memcmp(got, reported_broken, sizeof reported_broken) != 0, "\"this is a test...\" is not the broken sequence");
  for (int i = 9; i < 77; i++) CHECK(got[i] == 0, "\"this is a test...\" padding at %d", i);
  s = "hello world";
  CHECK(clipdb_tokenize(tok, s, strlen(s), 77, 0, got, NULL) == CLIPDB_STATUS_SUCCESS, "\"hello world\" tokenize");
  CHECK(memcmp(got, reported_hello, sizeof reported_hello) == 0 && got[4] == 0, "\"hello world\" ids");
}

int main(void) {
  golden_text texts[GOLDEN_N_TEXTS];
  memset(texts, 0, sizeof texts);
  golden_texts_load(texts);
  size_t n;
  unsigned char *bytes = gt_read_file(golden_require("tiny-vit/reference.safetensors"), &n);
  clipdb__safetensors *ref = NULL;
  if (clipdb__safetensors_open(bytes, n, NULL, &ref) != CLIPDB_STATUS_SUCCESS) {
    printf("FAIL: reference.safetensors: %s\n", clipdb_last_error());
    return 1;
  }
  for (int hf = 0; hf < 2; hf++) {
    clipdb_tokenizer_t *tok = golden_tokenizer(hf);
    CHECK(clipdb_tokenizer_vocab_size(tok) == 49408, "vocab size %d", clipdb_tokenizer_vocab_size(tok));
    CHECK(clipdb_tokenizer_sot(tok) == 49406 && clipdb_tokenizer_eot(tok) == 49407, "SOT/EOT ids");
    check_golden(tok, hf ? "hf" : "openai", texts, ref);
    /* second pass: answers from the word cache must be the same */
    check_golden(tok, hf ? "hf cached" : "openai cached", texts, ref);
    check_reported(tok);
    clipdb_tokenizer_free(tok);
  }
  clipdb__safetensors_free(ref);
  free(bytes);
  golden_texts_free(texts);
  CHECK(clipdb_allocated_bytes() == 0, "leak: %zu bytes still allocated", clipdb_allocated_bytes());
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
