/*
 * The tokenizer's gzip reading (src/common/gzip.c over stb's inflater): the clipdb-shapes
 * vocabulary (this project's own data) compressed at levels 0, 1, 6 and 9, with and without
 * FNAME, with every optional header field (FEXTRA, FNAME, FCOMMENT, FHCRC), and as two
 * members plus zero padding; fixtures written by scripts/gen-gzip-fixtures.py (Python's
 * gzip/zlib) in tests/data/gzip/. Each must give exactly the ids of the training
 * tokenizer (scripts/train-tiny-clip.py, Tokenizer.tokenize) for four texts.
 *
 * Regression: levels 6 and 9 (dynamic Huffman blocks) used to be rejected as "corrupt deflate
 * data", because stb's inflater was handed exactly the deflate bytes and stb 2.27 refuses
 * to decode the last codes of a stream that ends its buffer.
 *
 * Bad files, each BAD_VOCAB with a message naming the problem: the committed truncated and
 * bad-CRC copies; every prefix of the all-fields file (from 2 bytes: "truncated"); every
 * single-bit flip of the level-9 file from byte 2 on (an error, or the same ids when the flip
 * is harmless: MTIME, XFL, OS, FTEXT, the unused bits after the last block); trailer flips
 * (CRC-32 / ISIZE mismatch), header CRC, method, reserved flags, bytes after a member.
 * No golden data needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipdb.h"

#include "check.h"

#define DIR CLIPDB_SOURCE_DIR "/tests/data/gzip/"
#define N_TEXTS 4

static const char *const texts[N_TEXTS] = {
    "a red circle",
    "a photo of a small blue square on the left",
    "Two purple STARS next to a pink heart!",
    "zebra 42",
};
/* Tokenizer(merges).tokenize(texts) of scripts/train-tiny-clip.py on the same vocabulary
 * (Python, independent of the C tokenizer); SOT 630, EOT 631, zero padding to 77. */
static const int32_t want[N_TEXTS][16] = {
    {630, 320, 600, 539, 631},
    {630, 320, 564, 512, 320, 607, 580, 533, 560, 518, 611, 631},
    {630, 83, 86, 334, 585, 534, 515, 338, 620, 621, 320, 602, 549, 256, 631},
    {630, 89, 68, 65, 81, 320, 275, 273, 631},
};

static unsigned char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static clipdb_status load(const unsigned char *data, size_t size, clipdb_tokenizer_t **t) {
  clipdb_file f = {"vocab.txt.gz", data, size};
  *t = NULL;
  return clipdb_tokenizer_init_from_files(&f, 1, t);
}

/* 1 when `t` gives the expected ids for every text (context 77, zero padding). */
static int ids_match(clipdb_tokenizer_t *t, const char *what, int report) {
  int ok = clipdb_tokenizer_vocab_size(t) == 632 && clipdb_tokenizer_sot(t) == 630 && clipdb_tokenizer_eot(t) == 631;
  if (!ok && report)
    CHECK(0, "%s: vocab size %d sot %d eot %d", what, clipdb_tokenizer_vocab_size(t), clipdb_tokenizer_sot(t),
          clipdb_tokenizer_eot(t));
  for (int i = 0; i < N_TEXTS; i++) {
    int32_t out[77];
    int32_t n = 0;
    clipdb_status st = clipdb_tokenize(t, texts[i], strlen(texts[i]), 77, 0, out, &n);
    int same = st == CLIPDB_STATUS_SUCCESS;
    for (int k = 0; same && k < 77; k++) same = out[k] == (k < 16 ? want[i][k] : 0);
    if (!same && report) CHECK(0, "%s: ids of \"%s\" differ (status %s)", what, texts[i], clipdb_status_string(st));
    ok &= same;
  }
  return ok;
}

static void expect_error(const char *what, const unsigned char *data, size_t size, const char *needle) {
  clipdb_tokenizer_t *t = (clipdb_tokenizer_t *)1;
  clipdb_status st = load(data, size, &t);
  CHECK(st == CLIPDB_STATUS_BAD_VOCAB && t == NULL, "%s: status %s, want BAD_VOCAB", what, clipdb_status_string(st));
  CHECK(strstr(clipdb_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, clipdb_last_error(), needle);
  if (st == CLIPDB_STATUS_SUCCESS) clipdb_tokenizer_free(t);
}

int main(void) {
  static const char *const good[] = {
      "vocab-l0.txt.gz",       "vocab-l1.txt.gz",    "vocab-l6-fname.txt.gz", "vocab-l9.txt.gz",
      "vocab-l9-fname.txt.gz", "vocab-flags.txt.gz", "vocab-members.txt.gz",
  };
  unsigned char *l9 = NULL, *flags = NULL;
  size_t l9_n = 0, flags_n = 0;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, DIR "%s", good[i]);
    size_t n = 0;
    unsigned char *d = read_all(path, &n);
    if (d == NULL) {
      CHECK(0, "fixture %s missing (scripts/gen-gzip-fixtures.py writes it)", path);
      continue;
    }
    clipdb_tokenizer_t *t = NULL;
    clipdb_status st = load(d, n, &t);
    CHECK(st == CLIPDB_STATUS_SUCCESS, "%s: %s %s", good[i], clipdb_status_string(st), clipdb_last_error());
    if (st == CLIPDB_STATUS_SUCCESS) ids_match(t, good[i], 1);
    clipdb_tokenizer_free(t);
    if (strcmp(good[i], "vocab-l9.txt.gz") == 0) l9 = d, l9_n = n;
    else if (strcmp(good[i], "vocab-flags.txt.gz") == 0) flags = d, flags_n = n;
    else free(d);
  }

  /* the committed corrupt copies */
  {
    size_t n = 0;
    unsigned char *d = read_all(DIR "vocab-l9-truncated.txt.gz", &n);
    CHECK(d != NULL, "vocab-l9-truncated.txt.gz missing");
    if (d) expect_error("truncated copy", d, n, "truncated gzip data");
    free(d);
    d = read_all(DIR "vocab-l9-badcrc.txt.gz", &n);
    CHECK(d != NULL, "vocab-l9-badcrc.txt.gz missing");
    if (d) expect_error("flipped CRC", d, n, "CRC-32 mismatch in gzip member 1");
    free(d);
  }

  if (l9 != NULL && flags != NULL) {
    unsigned char *buf = malloc(l9_n + flags_n + 16);
    char what[96];

    /* every prefix of the all-fields file: header fields, deflate data, trailer cut */
    for (size_t cut = 2; cut < flags_n; cut++) {
      snprintf(what, sizeof what, "all-fields file cut to %zu of %zu bytes", cut, flags_n);
      expect_error(what, flags, cut, "truncated gzip");
    }

    /* every single-bit flip of the level-9 file from byte 2 on */
    int failed = 0, harmless = 0;
    for (size_t at = 2; at < l9_n; at++) {
      for (int bit = 0; bit < 8; bit++) {
        memcpy(buf, l9, l9_n);
        buf[at] ^= (unsigned char)(1u << bit);
        snprintf(what, sizeof what, "level 9, byte %zu bit %d flipped", at, bit);
        if (at >= l9_n - 8) {
          expect_error(what, buf, l9_n, at < l9_n - 4 ? "CRC-32 mismatch" : "its trailer says");
          failed++;
          continue;
        }
        clipdb_tokenizer_t *t = NULL;
        clipdb_status st = load(buf, l9_n, &t);
        int must_pass = (at >= 4 && at < 10) || (at == 3 && bit == 0); /* MTIME, XFL, OS, FTEXT */
        if (st == CLIPDB_STATUS_SUCCESS) {
          harmless++;
          ids_match(t, what, 1);
        } else {
          failed++;
          CHECK(st == CLIPDB_STATUS_BAD_VOCAB && !must_pass, "%s: %s %s", what, clipdb_status_string(st), clipdb_last_error());
        }
        clipdb_tokenizer_free(t);
      }
    }
    printf("level-9 bit flips: %d rejected, %d harmless (same ids)\n", failed, harmless);
    CHECK(failed > 7 * (int)(l9_n - 18), "only %d of %zu flips rejected", failed, 8 * (l9_n - 2));

    /* header checks */
    memcpy(buf, l9, l9_n);
    buf[2] = 7;
    expect_error("method 7", buf, l9_n, "compression method 7");
    memcpy(buf, l9, l9_n);
    buf[3] |= 0x20;
    expect_error("reserved flag", buf, l9_n, "reserved header flags set (0x20)");
    {
      /* the all-fields file's FHCRC: after the 10-byte header, FEXTRA (2 + XLEN), FNAME, FCOMMENT */
      size_t q = 12 + (size_t)(flags[10] | (flags[11] << 8));
      q = (size_t)((unsigned char *)memchr(flags + q, 0, flags_n - q) - flags) + 1;
      q = (size_t)((unsigned char *)memchr(flags + q, 0, flags_n - q) - flags) + 1;
      memcpy(buf, flags, flags_n);
      buf[q] ^= 1;
      expect_error("header CRC", buf, flags_n, "header CRC mismatch");
    }

    /* after a member: zero padding is fine, anything else is not; a second member is read */
    memcpy(buf, l9, l9_n);
    memcpy(buf + l9_n, "\0\0\0xyz", 6);
    expect_error("bytes after the member", buf, l9_n + 6, "unexpected bytes after gzip member 1");
    memset(buf + l9_n, 0, 6);
    clipdb_tokenizer_t *t = NULL;
    CHECK(load(buf, l9_n + 6, &t) == CLIPDB_STATUS_SUCCESS, "zero padding: %s", clipdb_last_error());
    if (t) ids_match(t, "zero padding", 1);
    clipdb_tokenizer_free(t);
    /* the file twice (two members): both are inflated, so the second copy's version line
     * arrives as merge line 120 (1 header + 118 merges before it) and is refused as such */
    memcpy(buf, l9, l9_n);
    memcpy(buf + l9_n, l9, l9_n);
    expect_error("the file twice", buf, 2 * l9_n, "line 120 is not a merge");
    free(buf);
  }
  free(l9);
  free(flags);

  CHECK(clipdb_allocated_bytes() == 0, "leak: %zu bytes", clipdb_allocated_bytes());
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
