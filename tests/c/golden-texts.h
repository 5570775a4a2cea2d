/*
 * Test helper: the golden texts (texts.json), the per-text manifest fields the tokenizer
 * tests use, file reading, and a tokenizer built from either vocabulary format.
 */
#ifndef CLIPDB_TEST_GOLDEN_TEXTS_H
#define CLIPDB_TEST_GOLDEN_TEXTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#include <jsmn.h>

#include "clipdb.h"
#include "golden.h"

#define GOLDEN_N_TEXTS 42

static inline unsigned char *gt_read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  buf[n] = 0;
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static inline void gt_put_utf8(unsigned cp, char **o) {
  unsigned char *p = (unsigned char *)*o;
  if (cp < 0x80) *p++ = (unsigned char)cp;
  else if (cp < 0x800) { *p++ = (unsigned char)(0xC0 | (cp >> 6)); *p++ = (unsigned char)(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) { *p++ = (unsigned char)(0xE0 | (cp >> 12)); *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); *p++ = (unsigned char)(0x80 | (cp & 0x3F)); }
  else { *p++ = (unsigned char)(0xF0 | (cp >> 18)); *p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F)); *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); *p++ = (unsigned char)(0x80 | (cp & 0x3F)); }
  *o = (char *)p;
}

/* Decode a JSON string token into a malloc'ed UTF-8 string; *len gets its byte length. */
static inline char *gt_json_string(const char *s, int n, size_t *len) {
  char *out = malloc((size_t)n * 2 + 8), *o = out;
  for (int i = 0; i < n; i++) {
    if (s[i] != '\\') { *o++ = s[i]; continue; }
    char c = s[++i];
    if (c == 'n') *o++ = '\n';
    else if (c == 't') *o++ = '\t';
    else if (c == 'r') *o++ = '\r';
    else if (c == 'b') *o++ = '\b';
    else if (c == 'f') *o++ = '\f';
    else if (c == 'u') {
      unsigned cp = (unsigned)strtoul((char[5]){s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0}, NULL, 16);
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && s[i + 1] == '\\' && s[i + 2] == 'u') {
        unsigned lo = (unsigned)strtoul((char[5]){s[i + 3], s[i + 4], s[i + 5], s[i + 6], 0}, NULL, 16);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      }
      gt_put_utf8(cp, &o);
    } else *o++ = c;
  }
  *o = 0;
  *len = (size_t)(o - out);
  return out;
}

typedef struct golden_text {
  char *text;
  size_t len;
  int truncated; /* manifest: more than 77 tokens, so truncate=False raises */
  int n_tokens;  /* manifest: tokens incl. SOT/EOT before truncation */
} golden_text;

/* Parse texts.json and the manifest's per-text fields into `out[42]`. */
static inline void golden_texts_load(golden_text *out) {
  size_t n;
  char *json = (char *)gt_read_file(golden_require("texts.json"), &n);
  jsmn_parser p;
  jsmn_init(&p);
  int count = jsmn_parse(&p, json, n, NULL, 0);
  jsmntok_t *tok = malloc(sizeof *tok * (size_t)count);
  jsmn_init(&p);
  jsmn_parse(&p, json, n, tok, (unsigned)count);
  if (tok[0].type != JSMN_ARRAY || tok[0].size != GOLDEN_N_TEXTS) {
    fprintf(stderr, "texts.json: expected an array of %d strings\n", GOLDEN_N_TEXTS);
    exit(1);
  }
  for (int i = 0; i < GOLDEN_N_TEXTS; i++)
    out[i].text = gt_json_string(json + tok[1 + i].start, tok[1 + i].end - tok[1 + i].start, &out[i].len);
  free(tok);
  free(json);

  json = (char *)gt_read_file(golden_require("tiny-vit/manifest.json"), &n);
  jsmn_init(&p);
  count = jsmn_parse(&p, json, n, NULL, 0);
  tok = malloc(sizeof *tok * (size_t)count);
  jsmn_init(&p);
  jsmn_parse(&p, json, n, tok, (unsigned)count);
  /* find "texts": [ {...}, ... ] and read "truncated" and the token count of each object */
  int t = 0;
  for (int k = 1; k < count; k++) {
    if (tok[k].type == JSMN_STRING && tok[k].end - tok[k].start == 5 &&
        memcmp(json + tok[k].start, "texts", 5) == 0 && tok[k + 1].type == JSMN_ARRAY) {
      t = k + 1;
      break;
    }
  }
  if (t == 0) {
    fprintf(stderr, "manifest.json: no texts array\n");
    exit(1);
  }
  int idx = -1;
  for (int k = t + 1; k < count && tok[k].start < tok[t].end; k++) {
    if (tok[k].type == JSMN_OBJECT && tok[k].start > tok[t].start) {
      /* an object directly inside the array starts a new text */
      int inside = 0;
      for (int j = t + 1; j < k; j++)
        if (tok[j].type == JSMN_OBJECT && tok[j].start < tok[k].start && tok[j].end > tok[k].end) inside = 1;
      if (!inside) idx++;
      continue;
    }
    if (idx < 0 || idx >= GOLDEN_N_TEXTS || tok[k].type != JSMN_STRING) continue;
    const char *key = json + tok[k].start;
    int kl = tok[k].end - tok[k].start;
    if (kl == 9 && memcmp(key, "truncated", 9) == 0)
      out[idx].truncated = json[tok[k + 1].start] == 't';
    if (kl == 39 && memcmp(key, "n_tokens_incl_sot_eot_before_truncation", 39) == 0)
      out[idx].n_tokens = atoi(json + tok[k + 1].start);
  }
  if (idx != GOLDEN_N_TEXTS - 1) {
    fprintf(stderr, "manifest.json: expected %d texts, found %d\n", GOLDEN_N_TEXTS, idx + 1);
    exit(1);
  }
  free(tok);
  free(json);
}

static inline void golden_texts_free(golden_text *t) {
  for (int i = 0; i < GOLDEN_N_TEXTS; i++) free(t[i].text);
}

/* A tokenizer from the golden OpenAI vocabulary (hf = 0) or the HF files (hf = 1). */
static inline clipdb_tokenizer_t *golden_tokenizer(int hf) {
  clipdb_tokenizer_t *tok = NULL;
  clipdb_status st;
  if (!hf) {
    size_t n;
    unsigned char *gz = gt_read_file(golden_require("bpe_simple_vocab_16e6.txt.gz"), &n);
    clipdb_file f = {"bpe_simple_vocab_16e6.txt.gz", gz, n};
    st = clipdb_tokenizer_init_from_files(&f, 1, &tok);
    free(gz);
  } else {
    size_t nv, nm;
    unsigned char *v = gt_read_file(golden_require("tiny-vit/hf/vocab.json"), &nv);
    unsigned char *m = gt_read_file(golden_require("tiny-vit/hf/merges.txt"), &nm);
    clipdb_file f[2] = {{"vocab.json", v, nv}, {"merges.txt", m, nm}};
    st = clipdb_tokenizer_init_from_files(f, 2, &tok);
    free(v);
    free(m);
  }
  if (st != CLIPDB_STATUS_SUCCESS) {
    fprintf(stderr, "FAIL: tokenizer from %s: %s: %s\n", hf ? "HF files" : "OpenAI .txt.gz",
            clipdb_status_string(st), clipdb_last_error());
    exit(1);
  }
  return tok;
}

#endif
