/* Code-point buffers, UTF-8, lower-casing and NFC. See unicode.h. */
#include "unicode.h"

#include <string.h>

#include "../clipdb-impl.h"

void clipdb__u32buf_free(clipdb__u32buf *b) {
  clipdb__free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
  b->oom = 0;
}

static int reserve(clipdb__u32buf *b, size_t extra) {
  if (b->oom) return 0;
  if (b->n + extra <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->n + extra) cap *= 2;
  uint32_t *v = clipdb__realloc(b->v, cap * sizeof *v);
  if (v == NULL) {
    b->oom = 1;
    return 0;
  }
  b->v = v;
  b->cap = cap;
  return 1;
}

void clipdb__u32buf_push(clipdb__u32buf *b, uint32_t cp) {
  if (reserve(b, 1)) b->v[b->n++] = cp;
}

void clipdb__u32buf_append(clipdb__u32buf *b, const uint32_t *cps, size_t n) {
  if (n == 0 || !reserve(b, n)) return;
  memcpy(b->v + b->n, cps, n * sizeof *cps);
  b->n += n;
}

void clipdb__u32buf_append_utf8z(clipdb__u32buf *b, const char *s) {
  clipdb__utf8_decode(s, strlen(s), b);
}

void clipdb__u32buf_swap(clipdb__u32buf *a, clipdb__u32buf *b) {
  clipdb__u32buf t = *a;
  *a = *b;
  *b = t;
}

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Length of the well-formed sequence starting at s[0..n) (1..4), or, if it is ill-formed,
 * minus the length of its maximal ill-formed prefix (Unicode 3.9 "maximal subpart", which is
 * what CPython's decoder replaces by one U+FFFD). */
static int utf8_seq(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  uint32_t v = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (int i = 1; i < len; i++) {
    if ((size_t)i >= n) return -i;
    uint8_t t = s[i];
    if (t < (i == 1 ? lo : 0x80) || t > (i == 1 ? hi : 0xBF)) return -i;
    v = (v << 6) | (t & 0x3F);
  }
  *cp = v;
  return len;
}

void clipdb__utf8_decode(const char *str, size_t n, clipdb__u32buf *out) {
  const uint8_t *s = (const uint8_t *)str;
  if (!reserve(out, n)) return; /* never more code points than bytes */
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      out->v[out->n++] = s[i++];
      continue;
    }
    uint32_t cp;
    int k = utf8_seq(s + i, n - i, &cp);
    if (k > 0) {
      out->v[out->n++] = cp;
      i += (size_t)k;
    } else {
      out->v[out->n++] = 0xFFFD;
      i += (size_t)-k;
    }
  }
}

int clipdb__utf8_decode_strict(const uint8_t *s, size_t n, int variants, clipdb__u32buf *out) {
  if (!reserve(out, n)) return 0;
  size_t i = 0;
  while (i < n) {
    if (variants && s[i] == 0xC0 && i + 1 < n && s[i + 1] == 0x80) {
      out->v[out->n++] = 0;
      i += 2;
      continue;
    }
    if (variants && s[i] == 0xED && i + 5 < n && s[i + 1] >= 0xA0 && s[i + 1] <= 0xAF &&
        s[i + 2] >= 0x80 && s[i + 2] <= 0xBF && s[i + 3] == 0xED && s[i + 4] >= 0xB0 &&
        s[i + 4] <= 0xBF && s[i + 5] >= 0x80 && s[i + 5] <= 0xBF) {
      uint32_t hi = 0xD000u | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      uint32_t lo = 0xD000u | ((uint32_t)(s[i + 4] & 0x3F) << 6) | (s[i + 5] & 0x3F);
      out->v[out->n++] = 0x10000u + ((hi - 0xD800u) << 10) + (lo - 0xDC00u);
      i += 6;
      continue;
    }
    uint32_t cp;
    int k = utf8_seq(s + i, n - i, &cp);
    if (k <= 0) return 0;
    out->v[out->n++] = cp;
    i += (size_t)k;
  }
  return 1;
}

size_t clipdb__utf8_len(uint32_t cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

size_t clipdb__utf8_put(uint32_t cp, uint8_t *o) {
  if (cp < 0x80) {
    o[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (uint8_t)(0xC0 | (cp >> 6));
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | (cp >> 12));
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | (cp >> 18));
  o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- lower case ------------------------------------------------------------------------ */

static uint32_t simple_lower(uint32_t cp) {
  size_t lo = 0, hi = CLIPDB__LOWER_COUNT;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (clipdb__lower_pairs[mid][0] < cp) lo = mid + 1;
    else hi = mid;
  }
  return lo < CLIPDB__LOWER_COUNT && clipdb__lower_pairs[lo][0] == cp ? clipdb__lower_pairs[lo][1] : cp;
}

static int is_cased(uint32_t cp) { return (clipdb__unicode_flags(cp) & CLIPDB__UF_CASED) != 0; }
static int is_case_ignorable(uint32_t cp) {
  return (clipdb__unicode_flags(cp) & CLIPDB__UF_CASE_IGN) != 0;
}

/* CPython's Final_Sigma test: a cased letter (skipping case-ignorables) before position i,
 * and no cased letter (skipping case-ignorables) after it. */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(s[j - 1])) j--;
  if (j == 0 || !is_cased(s[j - 1])) return 0;
  j = i + 1;
  while (j < n && is_case_ignorable(s[j])) j++;
  return j == n || !is_cased(s[j]);
}

void clipdb__unicode_lower(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  if (!reserve(out, n)) return;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') c += 32;
      clipdb__u32buf_push(out, c);
      continue;
    }
    if (c == 0x3A3) {
      clipdb__u32buf_push(out, final_sigma(in, n, i) ? 0x3C2 : 0x3C3);
      continue;
    }
    int special = 0;
    for (size_t k = 0; k < CLIPDB__LOWER_SPECIAL_COUNT; k++) {
      if (clipdb__lower_special[k][0] == c) {
        for (uint32_t m = 0; m < clipdb__lower_special[k][1]; m++)
          clipdb__u32buf_push(out, clipdb__lower_special[k][2 + m]);
        special = 1;
        break;
      }
    }
    if (!special) clipdb__u32buf_push(out, simple_lower(c));
  }
}

/* ---- NFC ------------------------------------------------------------------------------- */

#define HANGUL_S 0xAC00u
#define HANGUL_L 0x1100u
#define HANGUL_V 0x1161u
#define HANGUL_T 0x11A7u
#define HANGUL_LCOUNT 19u
#define HANGUL_VCOUNT 21u
#define HANGUL_TCOUNT 28u
#define HANGUL_NCOUNT (HANGUL_VCOUNT * HANGUL_TCOUNT)
#define HANGUL_SCOUNT (HANGUL_LCOUNT * HANGUL_NCOUNT)

unsigned clipdb__unicode_ccc(uint32_t cp) {
  if (cp < 0x300) return 0;
  size_t lo = 0, hi = CLIPDB__CCC_COUNT;
  uint32_t key = cp << 8;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (clipdb__ccc_packed[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  if (lo < CLIPDB__CCC_COUNT && (clipdb__ccc_packed[lo] >> 8) == cp) return clipdb__ccc_packed[lo] & 0xFF;
  return 0;
}

static const uint32_t *find_decomp(uint32_t cp) {
  size_t lo = 0, hi = CLIPDB__DECOMP_COUNT;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (clipdb__decomp[mid][0] < cp) lo = mid + 1;
    else hi = mid;
  }
  return lo < CLIPDB__DECOMP_COUNT && clipdb__decomp[lo][0] == cp ? clipdb__decomp[lo] : NULL;
}

static void decompose(uint32_t cp, clipdb__u32buf *out) {
  if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SCOUNT) {
    uint32_t s = cp - HANGUL_S;
    clipdb__u32buf_push(out, HANGUL_L + s / HANGUL_NCOUNT);
    clipdb__u32buf_push(out, HANGUL_V + (s % HANGUL_NCOUNT) / HANGUL_TCOUNT);
    if (s % HANGUL_TCOUNT) clipdb__u32buf_push(out, HANGUL_T + s % HANGUL_TCOUNT);
    return;
  }
  const uint32_t *d = cp >= 0xC0 ? find_decomp(cp) : NULL;
  if (d == NULL) {
    clipdb__u32buf_push(out, cp);
    return;
  }
  decompose(d[1], out);
  if (d[2]) decompose(d[2], out);
}

static uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_VCOUNT)
    return HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
  if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 &&
      b > HANGUL_T && b < HANGUL_T + HANGUL_TCOUNT)
    return a + (b - HANGUL_T);
  size_t lo = 0, hi = CLIPDB__COMP_COUNT;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const uint32_t *r = clipdb__decomp[clipdb__comp_index[mid]];
    if (r[1] < a || (r[1] == a && r[2] < b)) lo = mid + 1;
    else hi = mid;
  }
  if (lo < CLIPDB__COMP_COUNT) {
    const uint32_t *r = clipdb__decomp[clipdb__comp_index[lo]];
    if (r[1] == a && r[2] == b) return r[0];
  }
  return 0;
}

void clipdb__unicode_nfc(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  int simple = 1;
  for (size_t i = 0; i < n; i++) {
    if (in[i] >= 0x300) {
      simple = 0;
      break;
    }
  }
  size_t base = out->n;
  if (simple) { /* everything below U+0300 is a starter that nothing composes with */
    clipdb__u32buf_append(out, in, n);
    return;
  }
  /* 1. full canonical decomposition */
  for (size_t i = 0; i < n; i++) decompose(in[i], out);
  if (out->oom) return;
  uint32_t *s = out->v + base;
  size_t m = out->n - base;
  /* 2. canonical ordering: stable insertion sort of each run of non-starters by ccc */
  for (size_t i = 1; i < m; i++) {
    unsigned c = clipdb__unicode_ccc(s[i]);
    if (c == 0) continue;
    size_t j = i;
    uint32_t ch = s[i];
    while (j > 0) {
      unsigned p = clipdb__unicode_ccc(s[j - 1]);
      if (p == 0 || p <= c) break;
      s[j] = s[j - 1];
      j--;
    }
    s[j] = ch;
  }
  /* 3. canonical composition */
  if (m == 0) return;
  size_t starter = 0, w = 1;
  int last_class = clipdb__unicode_ccc(s[0]) ? 256 : 0;
  for (size_t r = 1; r < m; r++) {
    uint32_t ch = s[r];
    int cls = (int)clipdb__unicode_ccc(ch);
    uint32_t comp = last_class < 256 || last_class == 0 ? compose(s[starter], ch) : 0;
    if (comp != 0 && (last_class < cls || last_class == 0)) {
      s[starter] = comp;
      continue;
    }
    if (cls == 0) starter = w;
    last_class = cls;
    s[w++] = ch;
  }
  out->n = base + w;
}
