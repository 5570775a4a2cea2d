/*
 * The CLIP BPE tokenizer: clip/simple_tokenizer.py (SimpleTokenizer) and clip.tokenize of
 * github.com/openai/CLIP at d05afc4.
 *
 *  - vocabulary: OpenAI's bpe_simple_vocab_16e6.txt.gz layout (a header line, then merges in
 *    rank order; ids = 256 byte symbols, the same with "</w>", one per merge, then
 *    <|startoftext|>, <|endoftext|>), gzip-compressed or plain; or Hugging Face's
 *    vocab.json (token -> id) + merges.txt (header line, merges in rank order);
 *  - cleaning: clean.c; pre-tokenisation: the official regex, see pretokenize();
 *  - BPE: each piece's UTF-8 bytes mapped through GPT-2's bytes_to_unicode table, "</w>"
 *    appended to the last symbol, then the lowest-ranked adjacent pair merged (all its
 *    occurrences, left to right) until no ranked pair is left.
 *
 * Symbols are interned strings (their text in the byte-to-unicode alphabet, UTF-8), so BPE
 * runs on integer symbol ids and a (left, right) -> (rank, merged) hash map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clipdb-impl.h"
#include "../common/json.h"
#include "../common/gzip.h"
#include "clean.h"

#define NONE UINT32_MAX
/* clip/simple_tokenizer.py reads merges[1 : 49152 - 256 - 2 + 1]. */
#define MAX_MERGES (49152 - 256 - 2)
#define CACHE_MAX_ENTRIES 65536

typedef struct strtab {
  char *pool;
  size_t pool_len, pool_cap;
  uint32_t *off, *len;
  uint32_t n, cap;
  uint32_t *slots; /* open addressing: symbol id or NONE */
  uint32_t n_slots; /* power of two */
} strtab;

typedef struct pairtab {
  uint64_t *keys; /* (left << 32 | right) + 1, 0 = empty */
  uint32_t *rank, *merged;
  uint32_t n, n_slots;
} pairtab;

typedef struct cache {
  uint64_t *hash; /* 0 = empty */
  uint32_t *key_off, *key_len, *ids_off, *ids_len;
  uint32_t n, n_slots;
  char *keys;
  size_t keys_len, keys_cap;
  int32_t *ids;
  size_t ids_n, ids_cap;
} cache;

struct clipdb_tokenizer {
  char error[CLIPDB__ERROR_SIZE];
  strtab syms;
  int32_t *sym_token; /* token id of each symbol, -1 if it is not in the vocabulary */
  uint32_t sym_token_cap;
  pairtab merges;
  uint32_t byte_sym[256], byte_sym_eow[256];
  int32_t sot, eot, vocab_size;
  cache cache;
  clipdb_status load_status; /* status of the last failed load step */
  /* scratch */
  uint32_t *word;
  size_t word_cap;
};

static uint64_t fnv1a(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* ---- interned strings ------------------------------------------------------------------ */

static int strtab_grow_slots(strtab *t) {
  uint32_t n_slots = t->n_slots ? t->n_slots * 2 : 1024;
  uint32_t *slots = clipdb__malloc((size_t)n_slots * sizeof *slots);
  if (slots == NULL) return 0;
  memset(slots, 0xFF, (size_t)n_slots * sizeof *slots);
  for (uint32_t id = 0; id < t->n; id++) {
    uint32_t h = (uint32_t)fnv1a(t->pool + t->off[id], t->len[id]) & (n_slots - 1);
    while (slots[h] != NONE) h = (h + 1) & (n_slots - 1);
    slots[h] = id;
  }
  clipdb__free(t->slots);
  t->slots = slots;
  t->n_slots = n_slots;
  return 1;
}

static uint32_t strtab_find(const strtab *t, const char *s, size_t n) {
  if (t->n_slots == 0) return NONE;
  uint32_t h = (uint32_t)fnv1a(s, n) & (t->n_slots - 1);
  while (t->slots[h] != NONE) {
    uint32_t id = t->slots[h];
    if (t->len[id] == n && memcmp(t->pool + t->off[id], s, n) == 0) return id;
    h = (h + 1) & (t->n_slots - 1);
  }
  return NONE;
}

/* Id of string s (added if new); NONE when out of memory. */
static uint32_t strtab_intern(strtab *t, const char *s, size_t n) {
  uint32_t id = strtab_find(t, s, n);
  if (id != NONE) return id;
  if ((t->n + 1) * 2 > t->n_slots && !strtab_grow_slots(t)) return NONE;
  if (t->n == t->cap) {
    uint32_t cap = t->cap ? t->cap * 2 : 1024;
    uint32_t *off = clipdb__realloc(t->off, cap * sizeof *off);
    if (off == NULL) return NONE;
    t->off = off;
    uint32_t *len = clipdb__realloc(t->len, cap * sizeof *len);
    if (len == NULL) return NONE;
    t->len = len;
    t->cap = cap;
  }
  if (t->pool_len + n > t->pool_cap) {
    size_t cap = t->pool_cap ? t->pool_cap : 65536;
    while (cap < t->pool_len + n) cap *= 2;
    char *pool = clipdb__realloc(t->pool, cap);
    if (pool == NULL) return NONE;
    t->pool = pool;
    t->pool_cap = cap;
  }
  memcpy(t->pool + t->pool_len, s, n);
  id = t->n++;
  t->off[id] = (uint32_t)t->pool_len;
  t->len[id] = (uint32_t)n;
  t->pool_len += n;
  uint32_t h = (uint32_t)fnv1a(s, n) & (t->n_slots - 1);
  while (t->slots[h] != NONE) h = (h + 1) & (t->n_slots - 1);
  t->slots[h] = id;
  return id;
}

static void strtab_free(strtab *t) {
  clipdb__free(t->pool);
  clipdb__free(t->off);
  clipdb__free(t->len);
  clipdb__free(t->slots);
  memset(t, 0, sizeof *t);
}

/* ---- merge ranks ----------------------------------------------------------------------- */

static uint64_t pair_key(uint32_t a, uint32_t b) { return (((uint64_t)a << 32) | b) + 1; }
static uint32_t pair_slot(uint64_t key, uint32_t mask) {
  key ^= key >> 29;
  key *= 0xBF58476D1CE4E5B9ull;
  key ^= key >> 32;
  return (uint32_t)key & mask;
}

static int pairtab_init(pairtab *p, uint32_t n_merges) {
  uint32_t n_slots = 1024;
  while (n_slots < n_merges * 2) n_slots *= 2;
  p->keys = clipdb__calloc(n_slots, sizeof *p->keys);
  p->rank = clipdb__malloc((size_t)n_slots * sizeof *p->rank);
  p->merged = clipdb__malloc((size_t)n_slots * sizeof *p->merged);
  p->n_slots = n_slots;
  p->n = 0;
  return p->keys && p->rank && p->merged;
}

/* Lowest rank wins: a pair listed twice keeps its first (lowest) rank, as dict(zip(...))
 * in the official code would keep the LAST; see the note at the caller. */
static void pairtab_put(pairtab *p, uint32_t a, uint32_t b, uint32_t rank, uint32_t merged) {
  uint64_t key = pair_key(a, b);
  uint32_t mask = p->n_slots - 1, h = pair_slot(key, mask);
  while (p->keys[h] != 0 && p->keys[h] != key) h = (h + 1) & mask;
  if (p->keys[h] == 0) p->n++;
  p->keys[h] = key;
  p->rank[h] = rank;
  p->merged[h] = merged;
}

static int pairtab_get(const pairtab *p, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *merged) {
  uint64_t key = pair_key(a, b);
  uint32_t mask = p->n_slots - 1, h = pair_slot(key, mask);
  while (p->keys[h] != 0) {
    if (p->keys[h] == key) {
      *rank = p->rank[h];
      *merged = p->merged[h];
      return 1;
    }
    h = (h + 1) & mask;
  }
  return 0;
}

static void pairtab_free(pairtab *p) {
  clipdb__free(p->keys);
  clipdb__free(p->rank);
  clipdb__free(p->merged);
  memset(p, 0, sizeof *p);
}

/* ---- word cache -------------------------------------------------------------------------- */

static void cache_free(cache *c) {
  clipdb__free(c->hash);
  clipdb__free(c->key_off);
  clipdb__free(c->key_len);
  clipdb__free(c->ids_off);
  clipdb__free(c->ids_len);
  clipdb__free(c->keys);
  clipdb__free(c->ids);
  memset(c, 0, sizeof *c);
}

static int cache_init(cache *c) {
  memset(c, 0, sizeof *c);
  c->n_slots = CACHE_MAX_ENTRIES * 2;
  c->hash = clipdb__calloc(c->n_slots, sizeof *c->hash);
  c->key_off = clipdb__malloc(c->n_slots * sizeof(uint32_t));
  c->key_len = clipdb__malloc(c->n_slots * sizeof(uint32_t));
  c->ids_off = clipdb__malloc(c->n_slots * sizeof(uint32_t));
  c->ids_len = clipdb__malloc(c->n_slots * sizeof(uint32_t));
  return c->hash && c->key_off && c->key_len && c->ids_off && c->ids_len;
}

static void cache_clear(cache *c) {
  memset(c->hash, 0, c->n_slots * sizeof *c->hash);
  c->n = 0;
  c->keys_len = 0;
  c->ids_n = 0;
}

static int cache_get(const cache *c, const char *key, size_t n, const int32_t **ids, size_t *n_ids) {
  uint64_t h = fnv1a(key, n) | 1;
  uint32_t mask = c->n_slots - 1, s = (uint32_t)h & mask;
  while (c->hash[s] != 0) {
    if (c->hash[s] == h && c->key_len[s] == n && memcmp(c->keys + c->key_off[s], key, n) == 0) {
      *ids = c->ids + c->ids_off[s];
      *n_ids = c->ids_len[s];
      return 1;
    }
    s = (s + 1) & mask;
  }
  return 0;
}

/* Best effort: a full cache is cleared; an allocation failure just skips caching. */
static void cache_put(cache *c, const char *key, size_t n, const int32_t *ids, size_t n_ids) {
  if (c->n >= CACHE_MAX_ENTRIES || c->keys_len + n > (64u << 20) || c->ids_n + n_ids > (16u << 20))
    cache_clear(c);
  if (c->keys_len + n > c->keys_cap) {
    size_t cap = c->keys_cap ? c->keys_cap : 65536;
    while (cap < c->keys_len + n) cap *= 2;
    char *k = clipdb__realloc(c->keys, cap);
    if (k == NULL) return;
    c->keys = k;
    c->keys_cap = cap;
  }
  if (c->ids_n + n_ids > c->ids_cap) {
    size_t cap = c->ids_cap ? c->ids_cap : 16384;
    while (cap < c->ids_n + n_ids) cap *= 2;
    int32_t *v = clipdb__realloc(c->ids, cap * sizeof *v);
    if (v == NULL) return;
    c->ids = v;
    c->ids_cap = cap;
  }
  uint64_t h = fnv1a(key, n) | 1;
  uint32_t mask = c->n_slots - 1, s = (uint32_t)h & mask;
  while (c->hash[s] != 0) s = (s + 1) & mask;
  c->hash[s] = h;
  c->key_off[s] = (uint32_t)c->keys_len;
  c->key_len[s] = (uint32_t)n;
  c->ids_off[s] = (uint32_t)c->ids_n;
  c->ids_len[s] = (uint32_t)n_ids;
  memcpy(c->keys + c->keys_len, key, n);
  c->keys_len += n;
  memcpy(c->ids + c->ids_n, ids, n_ids * sizeof *ids);
  c->ids_n += n_ids;
  c->n++;
}

/* ---- building the tables ------------------------------------------------------------------ */

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68
 * bytes get U+0100.. in byte order. `order[i]` is the byte of vocabulary id i (i < 256). */
static void byte_alphabet(uint32_t cp_of_byte[256], uint8_t order[256]) {
  int n = 0, extra = 0;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) {
      cp_of_byte[b] = (uint32_t)b;
      order[n++] = (uint8_t)b;
    }
  }
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) {
      cp_of_byte[b] = 256u + (uint32_t)extra++;
      order[n++] = (uint8_t)b;
    }
  }
}

static int set_token(clipdb_tokenizer_t *t, uint32_t sym, int32_t id) {
  if (sym >= t->sym_token_cap) {
    uint32_t cap = t->sym_token_cap ? t->sym_token_cap : 1024;
    while (cap <= sym) cap *= 2;
    int32_t *v = clipdb__realloc(t->sym_token, cap * sizeof *v);
    if (v == NULL) return 0;
    for (uint32_t i = t->sym_token_cap; i < cap; i++) v[i] = -1;
    t->sym_token = v;
    t->sym_token_cap = cap;
  }
  t->sym_token[sym] = id; /* later entries win, as dict(zip(vocab, range(len(vocab)))) */
  if (id >= t->vocab_size) t->vocab_size = id + 1;
  return 1;
}

/* Intern the byte symbols (plain and with "</w>"). */
static int intern_bytes(clipdb_tokenizer_t *t, uint8_t order[256]) {
  uint32_t cp_of_byte[256];
  byte_alphabet(cp_of_byte, order);
  for (int b = 0; b < 256; b++) {
    uint8_t s[8];
    size_t k = clipdb__utf8_put(cp_of_byte[b], s);
    memcpy(s + k, "</w>", 4);
    t->byte_sym[b] = strtab_intern(&t->syms, (const char *)s, k);
    t->byte_sym_eow[b] = strtab_intern(&t->syms, (const char *)s, k + 4);
    if (t->byte_sym[b] == NONE || t->byte_sym_eow[b] == NONE) return 0;
  }
  return 1;
}

/* Iterate over lines: returns the next line [*s, *e) or 0 at the end. */
static int next_line(const char *buf, size_t size, size_t *pos, const char **s, const char **e) {
  if (*pos >= size) return 0;
  const char *p = buf + *pos, *end = buf + size;
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  *s = p;
  *e = nl ? nl : end;
  *pos = (size_t)((nl ? nl + 1 : end) - buf);
  return 1;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Split a merges line into its two parts (Python str.split() on ASCII whitespace). */
static int split_merge(const char *s, const char *e, const char **a, size_t *na, const char **b, size_t *nb) {
  while (s < e && is_ws(*s)) s++;
  const char *p = s;
  while (p < e && !is_ws(*p)) p++;
  *a = s;
  *na = (size_t)(p - s);
  while (p < e && is_ws(*p)) p++;
  const char *q = p;
  while (q < e && !is_ws(*q)) q++;
  *b = p;
  *nb = (size_t)(q - p);
  while (q < e && is_ws(*q)) q++;
  return *na > 0 && *nb > 0 && q == e;
}

/* Read the merges (after the header line). `vocab_from_merges`: OpenAI layout, where merge
 * r also defines token 512 + r. Returns the number of merges or -1 (error recorded). */
static long load_merges(clipdb_tokenizer_t *t, const char *buf, size_t size, const char *fname,
                        int vocab_from_merges) {
  size_t pos = 0;
  const char *s, *e;
  if (!next_line(buf, size, &pos, &s, &e)) {
    t->load_status = clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB, "failed to load tokenizer %s: the file is empty", fname);
    return -1;
  }
  /* count the merge lines first (the file's trailing newline/blank lines are not merges) */
  size_t start = pos, count = 0, scan = pos;
  while (count < MAX_MERGES && next_line(buf, size, &scan, &s, &e)) {
    const char *p = s;
    while (p < e && is_ws(*p)) p++;
    if (p == e) break;
    count++;
  }
  if (!pairtab_init(&t->merges, (uint32_t)count)) {
    t->load_status = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory for %zu merges", fname, count);
    return -1;
  }
  pos = start;
  char *joined = NULL;
  size_t joined_cap = 0;
  for (size_t r = 0; r < count; r++) {
    next_line(buf, size, &pos, &s, &e);
    const char *a, *b;
    size_t na, nb;
    if (!split_merge(s, e, &a, &na, &b, &nb)) {
      clipdb__free(joined);
      t->load_status = clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB,
                    "failed to load tokenizer %s: line %zu is not a merge of two symbols", fname, r + 2);
      return -1;
    }
    if (na + nb > joined_cap) {
      joined_cap = (na + nb) * 2 + 64;
      char *j = clipdb__realloc(joined, joined_cap);
      if (j == NULL) {
        clipdb__free(joined);
        t->load_status = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", fname);
        return -1;
      }
      joined = j;
    }
    memcpy(joined, a, na);
    memcpy(joined + na, b, nb);
    uint32_t sa = strtab_intern(&t->syms, a, na);
    uint32_t sb = strtab_intern(&t->syms, b, nb);
    uint32_t sm = strtab_intern(&t->syms, joined, na + nb);
    if (sa == NONE || sb == NONE || sm == NONE ||
        (vocab_from_merges && !set_token(t, sm, (int32_t)(512 + r)))) {
      clipdb__free(joined);
      t->load_status = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", fname);
      return -1;
    }
    /* dict(zip(merges, range(len(merges)))): a repeated pair keeps its LAST rank */
    pairtab_put(&t->merges, sa, sb, (uint32_t)r, sm);
  }
  clipdb__free(joined);
  return (long)count;
}

static clipdb_status load_openai(clipdb_tokenizer_t *t, const clipdb_file *f) {
  const uint8_t *d = f->data;
  char *text = NULL;
  size_t n = f->size;
  if (n >= 2 && d[0] == 0x1F && d[1] == 0x8B) {
    char ctx[300];
    snprintf(ctx, sizeof ctx, "failed to load tokenizer %s", f->name);
    clipdb_status st = clipdb__gunzip(d, n, ctx, CLIPDB_STATUS_BAD_VOCAB, t->error, &text, &n);
    if (st != CLIPDB_STATUS_SUCCESS) return st;
  }
  const char *buf = text ? text : (const char *)d;
  uint8_t order[256];
  if (!intern_bytes(t, order)) {
    clipdb__free(text);
    return clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", f->name);
  }
  for (int i = 0; i < 256; i++) {
    if (!set_token(t, t->byte_sym[order[i]], i) || !set_token(t, t->byte_sym_eow[order[i]], 256 + i)) {
      clipdb__free(text);
      return clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", f->name);
    }
  }
  long n_merges = load_merges(t, buf, n, f->name, 1);
  clipdb__free(text);
  if (n_merges < 0) return t->load_status;
  int32_t sot = (int32_t)(512 + n_merges), eot = sot + 1;
  uint32_t s1 = strtab_intern(&t->syms, "<|startoftext|>", 15);
  uint32_t s2 = strtab_intern(&t->syms, "<|endoftext|>", 13);
  if (s1 == NONE || s2 == NONE || !set_token(t, s1, sot) || !set_token(t, s2, eot))
    return clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", f->name);
  t->sot = sot;
  t->eot = eot;
  return CLIPDB_STATUS_SUCCESS;
}

static clipdb_status load_hf(clipdb_tokenizer_t *t, const clipdb_file *vocab, const clipdb_file *merges) {
  char what[300];
  snprintf(what, sizeof what, "tokenizer %s", vocab->name);
  clipdb__json doc;
  clipdb_status st = clipdb__json_parse_as((const char *)vocab->data, vocab->size, what, CLIPDB_STATUS_BAD_VOCAB, t->error, &doc);
  if (st != CLIPDB_STATUS_SUCCESS) return st;
  char *str = clipdb__malloc(vocab->size + 4);
  uint8_t order[256];
  if (str == NULL || !intern_bytes(t, order)) {
    st = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", vocab->name);
    goto done;
  }
  int i = 1;
  for (int k = 0; k < doc.tok[0].size; k++) {
    if (i + 1 >= doc.n || doc.tok[i].type != CLIPDB__JSON_STRING) {
      st = clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB, "failed to load tokenizer %s: entry %d is not \"token\": integer", vocab->name, k);
      goto done;
    }
    long len = clipdb__json_unescape(&doc, i, str);
    if (len < 0) {
      st = clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB, "failed to load tokenizer %s: bad string escape in entry %d", vocab->name, k);
      goto done;
    }
    uint64_t id = 0;
    if (!clipdb__json_uint(&doc, i + 1, &id) || id > 0x7FFFFFFF) {
      st = clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB, "failed to load tokenizer %s: entry %d has no valid id", vocab->name, k);
      goto done;
    }
    uint32_t sym = strtab_intern(&t->syms, str, (size_t)len);
    if (sym == NONE || !set_token(t, sym, (int32_t)id)) {
      st = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to load tokenizer %s: out of memory", vocab->name);
      goto done;
    }
    i += 2;
  }
  {
    uint32_t s1 = strtab_find(&t->syms, "<|startoftext|>", 15);
    uint32_t s2 = strtab_find(&t->syms, "<|endoftext|>", 13);
    if (s1 == NONE || s2 == NONE || t->sym_token[s1] < 0 || t->sym_token[s2] < 0) {
      st = clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB, "failed to load tokenizer %s: <|startoftext|> or <|endoftext|> missing", vocab->name);
      goto done;
    }
    t->sot = t->sym_token[s1];
    t->eot = t->sym_token[s2];
  }
  if (load_merges(t, merges->data, merges->size, merges->name, 0) < 0) st = t->load_status;
done:
  clipdb__json_free(&doc);
  clipdb__free(str);
  return st;
}

static const char *base_name(const char *name) {
  const char *slash = strrchr(name, '/');
  return slash ? slash + 1 : name;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

CLIPDB_API clipdb_status clipdb_tokenizer_init_from_files(const clipdb_file *files, size_t n_files,
                                                          clipdb_tokenizer_t **out) {
  if (out == NULL) return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to create tokenizer: out is NULL");
  *out = NULL;
  if (files == NULL || n_files == 0)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to create tokenizer: no files given");
  const clipdb_file *openai = NULL, *vocab = NULL, *merges = NULL;
  for (size_t i = 0; i < n_files; i++) {
    if (files[i].name == NULL || (files[i].data == NULL && files[i].size > 0))
      return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to create tokenizer: file %zu has no name or data", i);
    const char *b = base_name(files[i].name);
    if (strcmp(b, "vocab.json") == 0) vocab = &files[i];
    else if (strcmp(b, "merges.txt") == 0) merges = &files[i];
    else if (ends_with(b, ".gz") || ends_with(b, ".txt")) openai = &files[i];
  }
  if (openai == NULL && (vocab == NULL || merges == NULL))
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to create tokenizer: need bpe_simple_vocab_16e6.txt.gz (or another *.txt.gz / *.txt) or vocab.json + merges.txt");
  clipdb_tokenizer_t *t = clipdb__calloc(1, sizeof *t);
  if (t == NULL) return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to create tokenizer: out of memory (%zu bytes)", sizeof *t);
  clipdb_status st;
  if (!cache_init(&t->cache)) st = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to create tokenizer: out of memory for the word cache");
  else st = openai ? load_openai(t, openai) : load_hf(t, vocab, merges);
  if (st != CLIPDB_STATUS_SUCCESS) {
    clipdb_tokenizer_free(t);
    return st;
  }
  *out = t;
  return CLIPDB_STATUS_SUCCESS;
}

CLIPDB_API void clipdb_tokenizer_free(clipdb_tokenizer_t *t) {
  if (t == NULL) return;
  strtab_free(&t->syms);
  pairtab_free(&t->merges);
  cache_free(&t->cache);
  clipdb__free(t->sym_token);
  clipdb__free(t->word);
  clipdb__free(t);
}

CLIPDB_API const char *clipdb_tokenizer_last_error(const clipdb_tokenizer_t *t) {
  return t == NULL ? "" : t->error;
}

CLIPDB_API int32_t clipdb_tokenizer_vocab_size(const clipdb_tokenizer_t *t) { return t ? t->vocab_size : 0; }
CLIPDB_API int32_t clipdb_tokenizer_sot(const clipdb_tokenizer_t *t) { return t ? t->sot : -1; }
CLIPDB_API int32_t clipdb_tokenizer_eot(const clipdb_tokenizer_t *t) { return t ? t->eot : -1; }

/* ---- BPE --------------------------------------------------------------------------------- */

/* Growable id list for one call. */
typedef struct idbuf {
  int32_t *v;
  size_t n, cap;
  int oom;
} idbuf;

static void idbuf_push(idbuf *b, int32_t id) {
  if (b->oom) return;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 128;
    int32_t *v = clipdb__realloc(b->v, cap * sizeof *v);
    if (v == NULL) {
      b->oom = 1;
      return;
    }
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = id;
}

/* BPE of one piece (raw UTF-8 bytes) into ids; 0 on success, else a status. */
static clipdb_status bpe_piece(clipdb_tokenizer_t *t, const char *piece, size_t n, idbuf *ids) {
  if ((n == 15 && memcmp(piece, "<|startoftext|>", 15) == 0)) {
    idbuf_push(ids, t->sot);
    return CLIPDB_STATUS_SUCCESS;
  }
  if ((n == 13 && memcmp(piece, "<|endoftext|>", 13) == 0)) {
    idbuf_push(ids, t->eot);
    return CLIPDB_STATUS_SUCCESS;
  }
  const int32_t *cached;
  size_t n_cached;
  if (cache_get(&t->cache, piece, n, &cached, &n_cached)) {
    for (size_t i = 0; i < n_cached; i++) idbuf_push(ids, cached[i]);
    return CLIPDB_STATUS_SUCCESS;
  }
  if (n > t->word_cap) {
    uint32_t *w = clipdb__realloc(t->word, n * sizeof *w);
    if (w == NULL) return clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to tokenize: out of memory");
    t->word = w;
    t->word_cap = n;
  }
  uint32_t *w = t->word;
  size_t m = n;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = (uint8_t)piece[i];
    w[i] = i + 1 == n ? t->byte_sym_eow[b] : t->byte_sym[b];
  }
  while (m > 1) {
    uint32_t best_rank = NONE, best_a = 0, best_b = 0, best_m = 0, r, mg;
    for (size_t i = 0; i + 1 < m; i++) {
      if (pairtab_get(&t->merges, w[i], w[i + 1], &r, &mg) && r < best_rank) {
        best_rank = r;
        best_a = w[i];
        best_b = w[i + 1];
        best_m = mg;
      }
    }
    if (best_rank == NONE) break;
    size_t o = 0;
    for (size_t i = 0; i < m;) {
      if (i + 1 < m && w[i] == best_a && w[i + 1] == best_b) {
        w[o++] = best_m;
        i += 2;
      } else {
        w[o++] = w[i++];
      }
    }
    m = o;
  }
  size_t first = ids->n;
  for (size_t i = 0; i < m; i++) {
    int32_t id = w[i] < t->sym_token_cap ? t->sym_token[w[i]] : -1;
    if (id < 0)
      return clipdb__error(t->error, CLIPDB_STATUS_BAD_VOCAB,
                           "failed to tokenize: BPE symbol \"%.*s\" is not in the vocabulary",
                           (int)t->syms.len[w[i]], t->syms.pool + t->syms.off[w[i]]);
    idbuf_push(ids, id);
  }
  if (!ids->oom) cache_put(&t->cache, piece, n, ids->v + first, ids->n - first);
  return CLIPDB_STATUS_SUCCESS;
}

/* ---- pre-tokenisation ---------------------------------------------------------------------- */

/* Case-insensitive literal match (the official pattern is compiled with re.IGNORECASE; the
 * text is already lower-case, so only U+017F LONG S, which simple case folding maps to 's',
 * can still differ). */
static int fold_eq(uint32_t c, char lit) { return c == (uint32_t)lit || (lit == 's' && c == 0x17F); }

static size_t match_literal(const uint32_t *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  if (k > n) return 0;
  for (size_t i = 0; i < k; i++)
    if (!fold_eq(s[i], lit[i])) return 0;
  return k;
}

/* Length of the piece the official regex matches at s[0], 0 if s[0] starts none (white
 * space). Pattern, alternatives tried in order:
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ */
static size_t piece_at(const uint32_t *s, size_t n) {
  static const char *const literals[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  if (s[0] == '<' || s[0] == '\'') {
    for (size_t k = 0; k < sizeof literals / sizeof literals[0]; k++) {
      size_t len = match_literal(s, n, literals[k]);
      if (len) return len;
    }
  }
  unsigned f = clipdb__unicode_flags(s[0]);
  if (f & CLIPDB__UF_LETTER) {
    size_t i = 1;
    while (i < n && (clipdb__unicode_flags(s[i]) & CLIPDB__UF_LETTER)) i++;
    return i;
  }
  if (f & CLIPDB__UF_NUMBER) return 1;
  if (f & CLIPDB__UF_SPACE) return 0;
  size_t i = 1;
  while (i < n && !(clipdb__unicode_flags(s[i]) & (CLIPDB__UF_LETTER | CLIPDB__UF_NUMBER | CLIPDB__UF_SPACE))) i++;
  return i;
}

/* The ids of clip's encode(): BPE ids of every piece of the cleaned text (no SOT/EOT). */
static clipdb_status encode(clipdb_tokenizer_t *t, const char *text, size_t bytes, idbuf *ids) {
  clipdb__u32buf clean = {0};
  clipdb__clip_clean(text, bytes, &clean);
  if (clean.oom) {
    clipdb__u32buf_free(&clean);
    return clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to tokenize: out of memory cleaning %zu bytes", bytes);
  }
  clipdb_status st = CLIPDB_STATUS_SUCCESS;
  char *piece = NULL;
  size_t piece_cap = 0;
  size_t i = 0;
  while (i < clean.n && st == CLIPDB_STATUS_SUCCESS) {
    size_t len = piece_at(clean.v + i, clean.n - i);
    if (len == 0) {
      i++;
      continue;
    }
    if (len * 4 > piece_cap) {
      piece_cap = len * 4 + 64;
      char *p = clipdb__realloc(piece, piece_cap);
      if (p == NULL) {
        st = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to tokenize: out of memory");
        break;
      }
      piece = p;
    }
    size_t nb = 0;
    for (size_t k = 0; k < len; k++) nb += clipdb__utf8_put(clean.v[i + k], (uint8_t *)piece + nb);
    st = bpe_piece(t, piece, nb, ids);
    i += len;
  }
  if (st == CLIPDB_STATUS_SUCCESS && ids->oom)
    st = clipdb__error(t->error, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to tokenize: out of memory");
  clipdb__free(piece);
  clipdb__u32buf_free(&clean);
  return st;
}

CLIPDB_API clipdb_status clipdb_tokenize(clipdb_tokenizer_t *t, const char *text, size_t text_bytes,
                                         int32_t context_length, int32_t truncate, int32_t *out,
                                         int32_t *out_n) {
  if (t == NULL) return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to tokenize: tokenizer is NULL");
  if (text == NULL && text_bytes > 0)
    return clipdb__error(t->error, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to tokenize: text is NULL");
  if (out == NULL) return clipdb__error(t->error, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to tokenize: out is NULL");
  if (context_length < 2)
    return clipdb__error(t->error, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to tokenize: context_length %d is below 2 (start and end tokens)", (int)context_length);
  idbuf ids = {0};
  clipdb_status st = encode(t, text ? text : "", text_bytes, &ids);
  if (st != CLIPDB_STATUS_SUCCESS) {
    clipdb__free(ids.v);
    return st;
  }
  size_t total = ids.n + 2;
  if (total > (size_t)context_length && !truncate) {
    clipdb__free(ids.v);
    return clipdb__error(t->error, CLIPDB_STATUS_TEXT_TOO_LONG,
                         "failed to tokenize: text is too long for context length %d: %zu tokens "
                         "including start and end (pass truncate to keep the first %d)",
                         (int)context_length, total, (int)context_length);
  }
  size_t keep = ids.n < (size_t)context_length - 2 ? ids.n : (size_t)context_length - 2;
  out[0] = t->sot;
  for (size_t i = 0; i < keep; i++) out[1 + i] = ids.v[i];
  if (total > (size_t)context_length) out[context_length - 1] = t->eot; /* tokens[:ctx]; [-1] = eot */
  else out[1 + keep] = t->eot;
  size_t used = total > (size_t)context_length ? (size_t)context_length : total;
  for (size_t i = used; i < (size_t)context_length; i++) out[i] = 0;
  if (out_n) *out_n = (int32_t)used;
  clipdb__free(ids.v);
  return CLIPDB_STATUS_SUCCESS;
}
