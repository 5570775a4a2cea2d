/* Text cleaning steps of the official CLIP tokenizer. See clean.h. */
#include "clean.h"

#include <string.h>

#include "../clipdb-impl.h"

static int in_sorted_u32(const uint32_t *v, size_t n, uint32_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && v[lo] == x;
}

/* Value offset of a {cp, offset} map entry, or -1. */
static long map_lookup(const uint32_t (*map)[2], size_t count, uint32_t cp) {
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (map[mid][0] < cp) lo = mid + 1;
    else hi = mid;
  }
  return lo < count && map[lo][0] == cp ? (long)map[lo][1] : -1;
}

static int is_pyspace(uint32_t c) { return (clipdb__unicode_flags(c) & CLIPDB__UF_PYSPACE) != 0; }

/* ---- HTML ------------------------------------------------------------------------------ */

/* Look a name (code points, ASCII only) up in a sorted blob table; value or NULL. */
static const char *entity_lookup(const char *name_blob, const uint16_t *name_offsets,
                                 const char *value_blob, const uint16_t *value_offsets,
                                 size_t count, const uint32_t *name, size_t len) {
  char key[40];
  if (len == 0 || len >= sizeof key) return NULL;
  for (size_t i = 0; i < len; i++) {
    if (name[i] >= 0x80) return NULL;
    key[i] = (char)name[i];
  }
  key[len] = '\0';
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(name_blob + name_offsets[mid], key);
    if (c == 0) return value_blob + value_offsets[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

static const char *html5_lookup(const uint32_t *name, size_t len) {
  return entity_lookup(clipdb__html_name_blob, clipdb__html_name_offsets, clipdb__html_value_blob,
                       clipdb__html_value_offsets, CLIPDB__HTML_ENTITY_COUNT, name, len);
}

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_hex(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_ascii_alnum(uint32_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Python html._replace_charref for a numeric reference. */
static void numeric_charref(uint64_t num, clipdb__u32buf *out) {
  for (size_t k = 0; k < CLIPDB__HTML_INVALID_CHARREF_COUNT; k++) {
    if (clipdb__html_invalid_charrefs[k][0] == num) {
      clipdb__u32buf_push(out, clipdb__html_invalid_charrefs[k][1]);
      return;
    }
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    clipdb__u32buf_push(out, 0xFFFD);
    return;
  }
  if (in_sorted_u32(clipdb__html_invalid_codepoints, CLIPDB__HTML_INVALID_CODEPOINT_COUNT, (uint32_t)num))
    return;
  clipdb__u32buf_push(out, (uint32_t)num);
}

/* One html.unescape match at in[i] == '&'; returns the index after what it consumed (i + 1
 * when nothing matched, after pushing '&'). */
static size_t html_unescape_at(const uint32_t *in, size_t n, size_t i, clipdb__u32buf *out) {
  size_t j = i + 1;
  if (j < n && in[j] == '#') {
    size_t k = j + 1;
    int hex = 0;
    if (k + 1 < n && (in[k] == 'x' || in[k] == 'X') && is_hex(in[k + 1])) {
      hex = 1;
      k++;
    } else if (!(k < n && is_digit(in[k]))) {
      clipdb__u32buf_push(out, '&');
      return i + 1;
    }
    uint64_t num = 0;
    while (k < n && (hex ? is_hex(in[k]) : is_digit(in[k]))) {
      uint32_t c = in[k++];
      uint32_t d = is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
      num = num * (hex ? 16 : 10) + d;
      if (num > 0x10FFFFu) num = 0x110000u; /* saturate: any such value gives U+FFFD */
    }
    if (k < n && in[k] == ';') k++;
    numeric_charref(num, out);
    return k;
  }
  /* named: [^\t\n\f <&#;]{1,32};? */
  size_t k = j;
  while (k < n && k - j < 32) {
    uint32_t c = in[k];
    if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';')
      break;
    k++;
  }
  if (k == j) {
    clipdb__u32buf_push(out, '&');
    return i + 1;
  }
  if (k < n && in[k] == ';') k++;
  size_t len = k - j;
  const char *v = html5_lookup(in + j, len);
  if (v != NULL) {
    clipdb__u32buf_append_utf8z(out, v);
    return k;
  }
  for (size_t x = len - 1; x >= 2 && x < len; x--) {
    v = html5_lookup(in + j, x);
    if (v != NULL) {
      clipdb__u32buf_append_utf8z(out, v);
      clipdb__u32buf_append(out, in + j + x, len - x);
      return k;
    }
  }
  clipdb__u32buf_append(out, in + i, k - i);
  return k;
}

void clipdb__html_unescape(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  size_t i = 0;
  while (i < n) {
    if (in[i] != '&') {
      clipdb__u32buf_push(out, in[i++]);
      continue;
    }
    i = html_unescape_at(in, n, i, out);
  }
}

void clipdb__ftfy_unescape_html(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  size_t i = 0;
  while (i < n) {
    if (in[i] != '&') {
      clipdb__u32buf_push(out, in[i++]);
      continue;
    }
    size_t j = i + 1;
    int numeric = j < n && in[j] == '#';
    if (numeric) j++;
    size_t k = j;
    while (k < n && k - j < 25 && is_ascii_alnum(in[k])) k++;
    if (k == j || k - j > 24 || k >= n || in[k] != ';') {
      clipdb__u32buf_push(out, in[i++]);
      continue;
    }
    size_t end = k + 1; /* the match is in[i..end) */
    const char *v = NULL;
    if (!numeric) {
      v = html5_lookup(in + i + 1, end - i - 1);
      if (v == NULL)
        v = entity_lookup(clipdb__html_upper_name_blob, clipdb__html_upper_name_offsets,
                          clipdb__html_upper_value_blob, clipdb__html_upper_value_offsets,
                          CLIPDB__HTML_UPPER_COUNT, in + i + 1, end - i - 1);
      if (v != NULL) clipdb__u32buf_append_utf8z(out, v);
      else clipdb__u32buf_append(out, in + i, end - i);
    } else {
      clipdb__u32buf tmp = {0};
      clipdb__html_unescape(in + i, end - i, &tmp);
      int has_semicolon = 0;
      for (size_t t = 0; t < tmp.n; t++) has_semicolon |= tmp.v[t] == ';';
      if (tmp.oom) out->oom = 1;
      else if (has_semicolon) clipdb__u32buf_append(out, in + i, end - i);
      else clipdb__u32buf_append(out, tmp.v, tmp.n);
      clipdb__u32buf_free(&tmp);
    }
    i = end;
  }
}

/* ---- mojibake: ftfy badness.py and fix_encoding ------------------------------------------- */

static unsigned bad_class(uint32_t c) {
  if (c < 0x20 || (c > 0x20 && c < 0x80) || c > 0xFFFD) return 0;
  long v = map_lookup(clipdb__bad_classes, CLIPDB__BAD_CLASS_COUNT, c);
  return v < 0 ? 0 : (unsigned)v;
}

#define B_COMMON CLIPDB__BAD_COMMON
#define B_BAD CLIPDB__BAD_BAD
#define B_LAW CLIPDB__BAD_LAW
#define B_CUR CLIPDB__BAD_CURRENCY
#define B_START CLIPDB__BAD_START_PUNCT
#define B_END CLIPDB__BAD_END_PUNCT
#define B_NUM CLIPDB__BAD_NUMERIC
#define B_KAO CLIPDB__BAD_KAOMOJI
#define B_UACC CLIPDB__BAD_UPPER_ACCENTED
#define B_LACC CLIPDB__BAD_LOWER_ACCENTED
#define B_UCOM CLIPDB__BAD_UPPER_COMMON
#define B_LCOM CLIPDB__BAD_LOWER_COMMON
#define B_BOX CLIPDB__BAD_BOX

static int is_c1(uint32_t c) { return c >= 0x80 && c <= 0x9F; }
static int is_ascii_lower(uint32_t c) { return c >= 'a' && c <= 'z'; }
static int is_ascii_alpha(uint32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_word(uint32_t c) {
  return c == '_' || (clipdb__unicode_flags(c) & (CLIPDB__UF_LETTER | CLIPDB__UF_NUMBER)) != 0;
}
static int one_of(uint32_t c, const uint32_t *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == c) return 1;
  return 0;
}
#define ONE_OF(c, ...) one_of((c), (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* Does any alternative of ftfy 6.3.1's BADNESS_RE match at position i? */
static int bad_at(const uint32_t *t, size_t n, size_t i) {
  uint32_t c0 = t[i];
  uint32_t c1 = i + 1 < n ? t[i + 1] : 0xFFFFFFFFu; /* sentinel: in no class */
  uint32_t c2 = i + 2 < n ? t[i + 2] : 0xFFFFFFFFu;
  uint32_t c3 = i + 3 < n ? t[i + 3] : 0xFFFFFFFFu;
  unsigned m0 = bad_class(c0), m1 = c1 == 0xFFFFFFFFu ? 0 : bad_class(c1);
  unsigned m2 = c2 == 0xFFFFFFFFu ? 0 : bad_class(c2);
  int h1 = i + 1 < n, h2 = i + 2 < n;

  if (is_c1(c0)) return 1;
  if ((m0 & (B_BAD | B_LACC | B_UACC | B_BOX | B_START | B_END | B_CUR | B_NUM | B_LAW)) && (m1 & B_BAD)) return 1;
  if (is_ascii_alpha(c0) && (m1 & (B_LCOM | B_UCOM)) && (m2 & B_BAD)) return 1;
  if ((m0 & B_BAD) && (m1 & (B_LACC | B_UACC | B_BOX | B_START | B_END | B_CUR | B_NUM | B_LAW))) return 1;
  if ((m0 & (B_LACC | B_LCOM | B_BOX | B_END | B_CUR | B_NUM)) && (m1 & B_UACC)) return 1;
  if ((m0 & (B_BOX | B_END | B_CUR | B_NUM)) && (m1 & B_LACC)) return 1;
  if ((m0 & (B_LACC | B_BOX | B_END)) && (m1 & B_CUR)) return 1;
  if (is_pyspace(c0) && (m1 & B_UACC) && (m2 & B_CUR)) return 1;
  if ((m0 & (B_UACC | B_BOX)) && (m1 & (B_NUM | B_LAW))) return 1;
  if ((m0 & (B_LACC | B_UACC | B_BOX | B_CUR | B_END)) && (m1 & B_START) && (m2 & B_NUM)) return 1;
  if ((m0 & (B_LACC | B_UACC | B_CUR | B_NUM | B_BOX | B_LAW)) && (m1 & B_END) && (m2 & B_START)) return 1;
  if ((m0 & (B_CUR | B_NUM | B_BOX)) && (m1 & B_START)) return 1;
  if (is_ascii_lower(c0) && (m1 & B_UACC) && (m2 & (B_START | B_CUR))) return 1;
  if ((m0 & B_BOX) && (m1 & B_KAO)) return 1;
  if ((m0 & (B_LACC | B_UACC | B_CUR | B_NUM | B_START | B_END | B_LAW)) && (m1 & B_BOX)) return 1;
  if ((m0 & B_BOX) && (m1 & B_END)) return 1;
  if ((m0 & (B_LACC | B_UACC)) && (m1 & (B_START | B_END)) && h2 && is_word(c2)) return 1;
  if ((c0 == 0x152 || c0 == 0x153) && h1 && !is_ascii_alpha(c1)) return 1;
  if ((m0 & B_UACC) && c1 == 0xB0) return 1;
  if (ONE_OF(c0, 0xC2, 0xC3, 0xCE, 0xD0) &&
      (ONE_OF(c1, 0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3, 0x178, 0x17E, 0xA0, 0xAD, 0xAE, 0xA9,
              0xB0, 0xB7, 0xBB, 0x2013, 0x2014, 0xB4) ||
       (m1 & (B_START | B_END))))
    return 1;
  if (c0 == 0xD7 && (c1 == 0xB2 || c1 == 0xB3)) return 1;
  if (c0 == 0xD8 || c0 == 0xD9) {
#define ARABIC_SECOND(c, m) \
  (((m) & (B_COMMON | B_CUR | B_BAD | B_NUM | B_START)) || ONE_OF((c), 0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB))
    unsigned m3 = c3 == 0xFFFFFFFFu ? 0 : bad_class(c3);
    if (h1 && ARABIC_SECOND(c1, m1) && (c2 == 0xD8 || c2 == 0xD9) && c3 != 0xFFFFFFFFu && ARABIC_SECOND(c3, m3))
      return 1;
#undef ARABIC_SECOND
  }
  if (c0 == 0xE0 && ONE_OF(c1, 0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE)) return 1;
  if (c0 == 0x221A && ONE_OF(c1, 0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4, 0x2264, 0x2265, 0xA5, 0xB5, 0xF8)) return 1;
  if (c0 == 0x2248 && (c1 == 0xB0 || c1 == 0xA2)) return 1;
  if (c0 == 0x201A && c1 == 0xC4 && ONE_OF(c2, 0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2, 0x3C0)) return 1;
  if (c0 == 0x201A && (c1 == 0xE2 || c1 == 0xF3) && ONE_OF(c2, 0xE0, 0xE4, 0xB0, 0xEA)) return 1;
  if (c0 == 0x432 && c1 == 0x402) return 1;
  if (ONE_OF(c0, 0x412, 0x413, 0x420, 0x421) && h1 &&
      (is_c1(c1) || (m1 & (B_BAD | B_START | B_END | B_CUR)) || c1 == 0xB0 || c1 == 0xB5) &&
      ONE_OF(c2, 0x412, 0x413, 0x420, 0x421))
    return 1;
  if (c0 == 0x413 && i + 6 < n && t[i + 1] == 0x45E && t[i + 2] == 0x412 && t[i + 3] == 0x402 &&
      t[i + 4] == 0x412 && t[i + 5] != '\n' && (is_ascii_alpha(t[i + 6]) || t[i + 6] == ' '))
    return 1;
  if (c0 == 0xC3 && (c1 == 0xA0 || c1 == 0xA1)) return 1;
  if (is_ascii_lower(c0)) {
    if ((c1 == 0xC3 || c1 == 0xC2) && c2 == ' ') return 1;
    if (h1 && is_pyspace(c1) && (c2 == 0xC3 || c2 == 0xC2) && c3 == ' ') return 1;
  }
  if (i == 0 && (c0 == 0xC3 || c0 == 0xC2) && c1 == ' ') return 1;
  if ((is_ascii_lower(c0) || ONE_OF(c0, '.', ',', '?', '!') || (m0 & B_END)) && c1 == 0xC2 &&
      (c2 == ' ' || (m2 & (B_START | B_END))))
    return 1;
  if (c0 == 0x3B2 && c1 == 0x20AC && ONE_OF(c2, 0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0)) return 1;
  if (ONE_OF(c0, 0x392, 0x393, 0x39E, 0x39F) && h1 &&
      (is_c1(c1) || (m1 & (B_BAD | B_START | B_END | B_CUR)) || c1 == 0xB0) &&
      ONE_OF(c2, 0x392, 0x393, 0x39E, 0x39F))
    return 1;
  if (c0 == 0x101 && c1 == 0x20AC) return 1;
  return 0;
}

int clipdb__ftfy_is_bad(const uint32_t *in, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (in[i] < 0x80 && in[i] != ' ' && !is_ascii_lower(in[i]) && in[i] != '.' && in[i] != ',' &&
        in[i] != '?' && in[i] != '!' && !is_ascii_alpha(in[i]) && !is_pyspace(in[i]))
      continue; /* no alternative starts with other ASCII characters */
    if (bad_at(in, n, i)) return 1;
  }
  return 0;
}

/* Can `cp` be encoded in code page `k` (ftfy's possible_encoding)? Writes the byte. */
static int charmap_encode(int k, uint32_t cp, uint8_t *byte) {
  if (cp < 0x80) {
    if (cp == 0x1A && clipdb__charmap_sloppy[k]) return 0; /* 0x1A decodes to U+FFFD there */
    *byte = (uint8_t)cp;
    return 1;
  }
  if (cp == 0xFFFD && clipdb__charmap_sloppy[k]) {
    *byte = 0x1A;
    return 1;
  }
  for (int b = 0; b < 128; b++) {
    if (clipdb__charmaps[k][b] == cp) {
      *byte = (uint8_t)(0x80 + b);
      return 1;
    }
  }
  return 0;
}

/* ALTERED_UTF8_RE + restore_byte_a0: a space where a UTF-8 continuation byte 0xA0 was. */
static int cont_not_85_a0(uint8_t b) { return b >= 0x80 && b <= 0xBF && b != 0x85 && b != 0xA0; }
static int cont(uint8_t b) { return b >= 0x80 && b <= 0xBF; }
static void restore_byte_a0(uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len = 0;
    if ((c == 0xC2 || c == 0xC3 || c == 0xC5 || c == 0xCE || c == 0xD0 || c == 0xD9) && i + 1 < n && s[i + 1] == ' ')
      len = 2;
    else if ((c == 0xE2 || c == 0xE3) && i + 2 < n && s[i + 1] == ' ' && cont_not_85_a0(s[i + 2]))
      len = 3;
    else if (c >= 0xE0 && c <= 0xE3 && i + 2 < n && cont_not_85_a0(s[i + 1]) && s[i + 2] == ' ')
      len = 3;
    else if (c == 0xF0 && i + 3 < n &&
             ((s[i + 1] == ' ' && cont(s[i + 2]) && cont(s[i + 3])) ||
              (cont(s[i + 1]) && s[i + 2] == ' ' && cont(s[i + 3])) ||
              (cont(s[i + 1]) && cont(s[i + 2]) && s[i + 3] == ' ')))
      len = 4;
    if (len) {
      for (size_t k = i; k < i + len; k++)
        if (s[k] == ' ') s[k] = 0xA0;
      i += len;
    } else {
      i++;
    }
  }
}

/* LOSSY_UTF8_RE + replace_lossy_sequences: UTF-8 sequences with bytes lost to U+FFFD (0x1A
 * in the sloppy code pages) or '?' become EF BF BD. Rewrites s[0..*n) in place (never longer
 * per match than the match: a match is at least 1 byte for 3 output bytes, so it writes
 * into `out`, capacity 3 * *n). */
static int lossy_lost(uint8_t b) { return b == 0x1A || b == '?'; }
static int lossy_any(uint8_t b) { return b == 0x1A || (b >= 0x80 && b <= 0xBF); }
static int lossy_any_q(uint8_t b) { return b == 0x1A || b == '?' || (b >= 0x80 && b <= 0xBF); }
static size_t lossy_match(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c == 0x1A) return 1;
  if (c >= 0xC2 && c <= 0xDF && n >= 2 && s[1] == 0x1A) return 2;
  if ((c == 0xC2 || c == 0xC3) && n >= 2 && s[1] == '?') return 2;
  if (c == 0xED && n >= 6 && s[1] >= 0xA0 && s[1] <= 0xAF && s[3] == 0xED && s[4] >= 0xB0 && s[4] <= 0xBF) {
    if (lossy_lost(s[2]) && lossy_any_q(s[5])) return 6;
    if (lossy_any_q(s[2]) && lossy_lost(s[5])) return 6;
  }
  if (c >= 0xE0 && c <= 0xEF && n >= 3) {
    if (lossy_lost(s[1]) && lossy_any(s[2])) return 3;
    if (lossy_any(s[1]) && lossy_lost(s[2])) return 3;
  }
  if (c >= 0xF0 && c <= 0xF4 && n >= 4) {
    if (lossy_lost(s[1]) && lossy_any(s[2]) && lossy_any(s[3])) return 4;
    if (lossy_any(s[1]) && lossy_lost(s[2]) && lossy_any(s[3])) return 4;
    if (lossy_any(s[1]) && lossy_any(s[2]) && lossy_lost(s[3])) return 4;
  }
  return 0;
}

static size_t replace_lossy_sequences(const uint8_t *s, size_t n, uint8_t *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t k = lossy_match(s + i, n - i);
    if (k) {
      out[o++] = 0xEF;
      out[o++] = 0xBF;
      out[o++] = 0xBD;
      i += k;
    } else {
      out[o++] = s[i++];
    }
  }
  return o;
}

/* chardata.UTF8_DETECTOR_RE: runs of what look like UTF-8 sequences decoded one byte per
 * character, not preceded by a strict continuation character. */
static int clue_cont(uint32_t c) { return (bad_class(c) & CLIPDB__BAD_UTF8_CONTINUATION) != 0; }
static size_t utf8_clue_unit(const uint32_t *t, size_t n, size_t i) {
  unsigned m = bad_class(t[i]);
  if ((m & CLIPDB__BAD_UTF8_FIRST_OF_2) && i + 1 < n && clue_cont(t[i + 1])) return 2;
  if ((m & CLIPDB__BAD_UTF8_FIRST_OF_3) && i + 2 < n && clue_cont(t[i + 1]) && clue_cont(t[i + 2])) return 3;
  if ((m & CLIPDB__BAD_UTF8_FIRST_OF_4) && i + 3 < n && clue_cont(t[i + 1]) && clue_cont(t[i + 2]) &&
      clue_cont(t[i + 3]))
    return 4;
  return 0;
}
static size_t utf8_clue_match(const uint32_t *t, size_t n, size_t i) {
  if (i > 0 && (bad_class(t[i - 1]) & CLIPDB__BAD_UTF8_CONTINUATION_STRICT)) return 0;
  size_t j = i, u;
  while (j < n && (u = utf8_clue_unit(t, n, j)) > 0) j += u;
  return j - i;
}

/* fixes.decode_inconsistent_utf8: fix each detected run on its own when it is shorter than
 * the whole text and looks bad. */
static void decode_inconsistent_utf8(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n;) {
    size_t len = utf8_clue_match(in, n, i);
    if (len == 0) {
      clipdb__u32buf_push(out, in[i++]);
      continue;
    }
    if (len < n && clipdb__ftfy_is_bad(in + i, len)) clipdb__ftfy_fix_encoding(in + i, len, out);
    else clipdb__u32buf_append(out, in + i, len);
    i += len;
  }
}

/* One step of ftfy's fix_encoding; returns 1 and fills `out` if it changed something. */
static int fix_encoding_step(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  int ascii = 1;
  for (size_t i = 0; i < n && ascii; i++) ascii = in[i] < 0x80;
  if (n == 0 || ascii || !clipdb__ftfy_is_bad(in, n)) return 0;
  uint8_t *bytes = clipdb__malloc(4 * n + 4); /* n encoded bytes, then 3n for replace_lossy */
  if (bytes == NULL) {
    out->oom = 1;
    return 0;
  }
  int possible[CLIPDB__CHARMAP_COUNT] = {0};
  int changed = 0;
  for (int k = 0; k < CLIPDB__CHARMAP_COUNT && !changed; k++) {
    size_t i = 0;
    for (; i < n; i++)
      if (!charmap_encode(k, in[i], &bytes[i])) break;
    if (i < n) continue;
    possible[k] = 1;
    restore_byte_a0(bytes, n);
    const uint8_t *enc = bytes;
    size_t m = n;
    if (clipdb__charmap_sloppy[k]) {
      m = replace_lossy_sequences(bytes, n, bytes + n);
      enc = bytes + n;
    }
    int variants = memchr(enc, 0xED, m) != NULL || memchr(enc, 0xC0, m) != NULL;
    size_t mark = out->n;
    if (clipdb__utf8_decode_strict(enc, m, variants, out)) changed = 1;
    else out->n = mark;
  }
  clipdb__free(bytes);
  if (changed) return 1;
  /* mojibake next to correct text: fix the UTF-8-looking runs one by one */
  int detected = 0;
  for (size_t i = 0; i < n && !detected; i++) detected = utf8_clue_match(in, n, i) > 0;
  if (detected) {
    size_t mark = out->n;
    decode_inconsistent_utf8(in, n, out);
    if (out->oom) return 0;
    if (out->n - mark != n || memcmp(out->v + mark, in, n * sizeof *in) != 0) return 1;
    out->n = mark;
  }
  if (possible[CLIPDB__CHARMAP_LATIN_1]) {
    if (possible[CLIPDB__CHARMAP_SLOPPY_WINDOWS_1252]) return 0;
    /* Latin-1 with C1 controls that Windows-1252 lacks: encode Latin-1, decode Windows-1252
     * (strict: fails on the five bytes Windows-1252 leaves undefined) */
    size_t mark = out->n;
    int ok = 1, diff = 0;
    for (size_t i = 0; i < n && ok; i++) {
      uint32_t c = in[i];
      if (c >= 0x80 && c <= 0x9F) {
        uint32_t w = clipdb__charmaps[CLIPDB__CHARMAP_SLOPPY_WINDOWS_1252][c - 0x80];
        if (w == c) ok = 0; /* undefined in strict Windows-1252 */
        diff |= w != c;
        c = w;
      }
      clipdb__u32buf_push(out, c);
    }
    if (ok && diff) return 1;
    out->n = mark;
  }
  int has_c1 = 0;
  for (size_t i = 0; i < n; i++) has_c1 |= is_c1(in[i]);
  if (has_c1) {
    clipdb__ftfy_fix_c1_controls(in, n, out);
    return 1;
  }
  return 0;
}

void clipdb__ftfy_fix_encoding(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  clipdb__u32buf cur = {0}, next = {0};
  clipdb__u32buf_append(&cur, in, n);
  for (int guard = 0; guard < 64 && !cur.oom; guard++) {
    next.n = 0;
    if (!fix_encoding_step(cur.v, cur.n, &next)) break;
    if (next.oom) break;
    if (next.n == cur.n && memcmp(next.v, cur.v, cur.n * sizeof *cur.v) == 0) break;
    clipdb__u32buf_swap(&cur, &next);
  }
  if (cur.oom || next.oom) out->oom = 1;
  clipdb__u32buf_append(out, cur.v, cur.n);
  clipdb__u32buf_free(&cur);
  clipdb__u32buf_free(&next);
}

/* ---- simple ftfy fixers ------------------------------------------------------------------- */

void clipdb__ftfy_fix_c1_controls(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    clipdb__u32buf_push(out, is_c1(c) ? clipdb__charmaps[CLIPDB__CHARMAP_SLOPPY_WINDOWS_1252][c - 0x80] : c);
  }
}

void clipdb__ftfy_fix_latin_ligatures(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    long off = c >= 0x132 ? map_lookup(clipdb__ligature_map, CLIPDB__LIGATURE_COUNT, c) : -1;
    if (off >= 0) clipdb__u32buf_append_utf8z(out, clipdb__ligature_blob + off);
    else clipdb__u32buf_push(out, c);
  }
}

void clipdb__ftfy_fix_character_width(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    long off = c >= 0x3000 ? map_lookup(clipdb__width_map, CLIPDB__WIDTH_COUNT, c) : -1;
    if (off >= 0) clipdb__u32buf_append_utf8z(out, clipdb__width_blob + off);
    else clipdb__u32buf_push(out, c);
  }
}

void clipdb__ftfy_uncurl_quotes(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
    clipdb__u32buf_push(out, c);
  }
}

void clipdb__ftfy_fix_line_breaks(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c == '\r' && i + 1 < n && in[i + 1] == '\n') continue; /* the \n follows */
    if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
    clipdb__u32buf_push(out, c);
  }
}

void clipdb__ftfy_remove_terminal_escapes(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    if (in[i] == 0x1B && i + 1 < n && in[i + 1] == '[') {
      size_t k = i + 2;
      while (k < n && (is_digit(in[k]) || in[k] == ';')) k++;
      if (k < n && is_ascii_alpha(in[k])) {
        i = k;
        continue;
      }
    }
    clipdb__u32buf_push(out, in[i]);
  }
}

void clipdb__ftfy_remove_control_chars(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    int drop = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
               (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
    if (!drop) clipdb__u32buf_push(out, c);
  }
}

/* ---- ftfy.fix_text ------------------------------------------------------------------------ */

typedef void (*fixer_fn)(const uint32_t *, size_t, clipdb__u32buf *);

/* fix_and_explain for one segment: apply the fixers in ftfy's order until nothing changes. */
static void fix_segment(const uint32_t *in, size_t n, int unescape, clipdb__u32buf *out) {
  static const fixer_fn steps[] = {
      clipdb__ftfy_fix_encoding,      clipdb__ftfy_fix_c1_controls,
      clipdb__ftfy_fix_latin_ligatures, clipdb__ftfy_fix_character_width,
      clipdb__ftfy_uncurl_quotes,      clipdb__ftfy_fix_line_breaks,
      clipdb__ftfy_remove_terminal_escapes, clipdb__ftfy_remove_control_chars,
      clipdb__unicode_nfc,
  };
  clipdb__u32buf cur = {0}, next = {0}, orig = {0};
  clipdb__u32buf_append(&cur, in, n);
  for (int round = 0; round < 16; round++) {
    orig.n = 0;
    clipdb__u32buf_append(&orig, cur.v, cur.n);
    if (unescape) {
      next.n = 0;
      clipdb__ftfy_unescape_html(cur.v, cur.n, &next);
      clipdb__u32buf_swap(&cur, &next);
    }
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
      next.n = 0;
      steps[s](cur.v, cur.n, &next);
      clipdb__u32buf_swap(&cur, &next);
    }
    if (cur.oom || next.oom || orig.oom) break;
    if (cur.n == orig.n && memcmp(cur.v, orig.v, cur.n * sizeof *cur.v) == 0) break;
  }
  if (cur.oom || next.oom || orig.oom) out->oom = 1;
  clipdb__u32buf_append(out, cur.v, cur.n);
  clipdb__u32buf_free(&cur);
  clipdb__u32buf_free(&next);
  clipdb__u32buf_free(&orig);
}

void clipdb__ftfy_fix_text(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  /* Fast path: printable ASCII, tab and \n without '&' is left unchanged by every fixer
   * (nothing to unescape, decode, fold, uncurl, break, strip or compose). */
  int plain = 1;
  for (size_t i = 0; i < n && plain; i++)
    plain = ((in[i] >= 0x20 && in[i] < 0x7F) || in[i] == '\t' || in[i] == '\n') && in[i] != '&';
  if (plain) {
    clipdb__u32buf_append(out, in, n);
    return;
  }
  /* unescape_html="auto": switched off from the first line holding '<' on (it may be HTML);
   * lines before it are still unescaped, as ftfy's fix_text does */
  int unescape = 1;
  size_t pos = 0;
  while (pos < n) {
    size_t end = pos;
    while (end < n && in[end] != '\n') end++;
    if (end < n) end++; /* the segment keeps its \n */
    for (size_t i = pos; i < end && unescape; i++)
      if (in[i] == '<') unescape = 0;
    fix_segment(in + pos, end - pos, unescape, out);
    pos = end;
  }
}

/* ---- whitespace and the whole chain ----------------------------------------------------- */

void clipdb__py_strip(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  size_t a = 0, b = n;
  while (a < b && is_pyspace(in[a])) a++;
  while (b > a && is_pyspace(in[b - 1])) b--;
  /* `in` is NULL for an empty buffer (empty or all-whitespace text): no pointer arithmetic */
  if (b > a) clipdb__u32buf_append(out, in + a, b - a);
}

void clipdb__whitespace_clean(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  clipdb__u32buf tmp = {0};
  for (size_t i = 0; i < n; i++) {
    if (clipdb__unicode_flags(in[i]) & CLIPDB__UF_SPACE) {
      while (i + 1 < n && (clipdb__unicode_flags(in[i + 1]) & CLIPDB__UF_SPACE)) i++;
      clipdb__u32buf_push(&tmp, ' ');
    } else {
      clipdb__u32buf_push(&tmp, in[i]);
    }
  }
  if (tmp.oom) out->oom = 1;
  clipdb__py_strip(tmp.v, tmp.n, out);
  clipdb__u32buf_free(&tmp);
}

void clipdb__clip_clean(const char *text, size_t n, clipdb__u32buf *out) {
  clipdb__u32buf a = {0}, b = {0};
  clipdb__utf8_decode(text, n, &a);
  clipdb__ftfy_fix_text(a.v, a.n, &b);
  a.n = 0;
  clipdb__html_unescape(b.v, b.n, &a);
  b.n = 0;
  clipdb__html_unescape(a.v, a.n, &b);
  a.n = 0;
  clipdb__py_strip(b.v, b.n, &a);
  b.n = 0;
  clipdb__whitespace_clean(a.v, a.n, &b);
  if (a.oom || b.oom) out->oom = 1;
  clipdb__unicode_lower(b.v, b.n, out);
  clipdb__u32buf_free(&a);
  clipdb__u32buf_free(&b);
}
