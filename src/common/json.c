/* The library's JSON reader over jsmn: see json.h. */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

clipdb_status clipdb__json_parse_as(const char *js, size_t len, const char *what, clipdb_status status,
                                    char *errbuf, clipdb__json *doc) {
  memset(doc, 0, sizeof *doc);
  jsmn_parser p;
  jsmn_init(&p);
  int n = jsmn_parse(&p, js, len, NULL, 0);
  if (n < 1)
    return clipdb__error(errbuf, status, "failed to parse %s: %s", what,
                         n == JSMN_ERROR_PART ? "the JSON is incomplete" : "invalid JSON");
  jsmntok_t *t = clipdb__malloc(sizeof *t * (size_t)n);
  doc->tok = clipdb__malloc(sizeof *doc->tok * (size_t)n);
  if (t == NULL || doc->tok == NULL) {
    clipdb__free(t);
    clipdb__json_free(doc);
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %zu JSON tokens for %s",
                         (size_t)n, what);
  }
  jsmn_init(&p);
  int got = jsmn_parse(&p, js, len, t, (unsigned)n);
  if (got != n || t[0].type != JSMN_OBJECT) {
    clipdb__free(t);
    clipdb__json_free(doc);
    return clipdb__error(errbuf, status, "failed to parse %s: %s", what,
                         got != n ? "invalid JSON" : "the top level is not a JSON object");
  }
  for (int i = 0; i < n; i++) {
    doc->tok[i].type = t[i].type == JSMN_OBJECT  ? CLIPDB__JSON_OBJECT
                       : t[i].type == JSMN_ARRAY ? CLIPDB__JSON_ARRAY
                       : t[i].type == JSMN_STRING ? CLIPDB__JSON_STRING
                                                  : CLIPDB__JSON_PRIMITIVE;
    doc->tok[i].start = t[i].start;
    doc->tok[i].end = t[i].end;
    doc->tok[i].size = t[i].size;
  }
  clipdb__free(t);
  doc->js = js;
  doc->n = n;
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb__json_parse(const char *js, size_t len, const char *what, char *errbuf,
                                 clipdb__json *doc) {
  return clipdb__json_parse_as(js, len, what, CLIPDB_STATUS_BAD_MODEL, errbuf, doc);
}

void clipdb__json_free(clipdb__json *doc) {
  if (doc == NULL) return;
  clipdb__free(doc->tok);
  doc->tok = NULL;
  doc->n = 0;
}

/* jsmn gives an object size = its number of keys, a key size 1, an array size = its elements:
 * count the values still owed until the subtree is complete. */
int clipdb__json_skip(const clipdb__json *doc, int i) {
  int pending = 1;
  while (pending > 0 && i < doc->n) {
    pending += doc->tok[i].size - 1;
    i++;
  }
  return i;
}

int clipdb__json_streq(const clipdb__json *doc, int t, const char *s) {
  if (t < 0 || t >= doc->n || doc->tok[t].type != CLIPDB__JSON_STRING) return 0;
  size_t n = strlen(s);
  return (size_t)(doc->tok[t].end - doc->tok[t].start) == n &&
         memcmp(doc->js + doc->tok[t].start, s, n) == 0;
}

int clipdb__json_get(const clipdb__json *doc, int obj, const char *key) {
  if (obj < 0 || obj >= doc->n || doc->tok[obj].type != CLIPDB__JSON_OBJECT) return -1;
  int i = obj + 1;
  for (int k = 0; k < doc->tok[obj].size && i + 1 < doc->n; k++) {
    if (clipdb__json_streq(doc, i, key)) return i + 1;
    i = clipdb__json_skip(doc, i + 1);
  }
  return -1;
}

int clipdb__json_item(const clipdb__json *doc, int arr, int idx) {
  if (arr < 0 || arr >= doc->n || doc->tok[arr].type != CLIPDB__JSON_ARRAY) return -1;
  if (idx < 0 || idx >= doc->tok[arr].size) return -1;
  int i = arr + 1;
  for (int k = 0; k < idx; k++) i = clipdb__json_skip(doc, i);
  return i < doc->n ? i : -1;
}

int clipdb__json_is_null(const clipdb__json *doc, int t) {
  return t >= 0 && t < doc->n && doc->tok[t].type == CLIPDB__JSON_PRIMITIVE &&
         doc->tok[t].end - doc->tok[t].start == 4 && memcmp(doc->js + doc->tok[t].start, "null", 4) == 0;
}

int clipdb__json_number(const clipdb__json *doc, int t, double *out) {
  if (t < 0 || t >= doc->n || doc->tok[t].type != CLIPDB__JSON_PRIMITIVE) return 0;
  char buf[64];
  int len = doc->tok[t].end - doc->tok[t].start;
  if (len <= 0 || len >= (int)sizeof buf) return 0;
  memcpy(buf, doc->js + doc->tok[t].start, (size_t)len);
  buf[len] = '\0';
  char c = buf[0];
  if (!(c == '-' || (c >= '0' && c <= '9'))) return 0;
  char *end = NULL;
  double v = strtod(buf, &end);
  if (end == NULL || *end != '\0' || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

int clipdb__json_int(const clipdb__json *doc, int t, int64_t *out) {
  double v;
  if (!clipdb__json_number(doc, t, &v)) return 0;
  if (v != floor(v) || v < -9.0e15 || v > 9.0e15) return 0;
  *out = (int64_t)v;
  return 1;
}

int clipdb__json_uint(const clipdb__json *doc, int t, uint64_t *out) {
  if (t < 0 || t >= doc->n || doc->tok[t].type != CLIPDB__JSON_PRIMITIVE) return 0;
  int a = doc->tok[t].start, b = doc->tok[t].end;
  if (b <= a || b - a > 16) return 0;
  uint64_t v = 0;
  for (int i = a; i < b; i++) {
    char c = doc->js[i];
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (uint64_t)(c - '0');
  }
  *out = v;
  return 1;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_hex4(const char *s, const char *end, uint32_t *out) {
  if (end - s < 4) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(s[i]);
    if (h < 0) return 0;
    v = (v << 4) | (uint32_t)h;
  }
  *out = v;
  return 1;
}

/* `cp` (a Unicode scalar value) as UTF-8 at `d`; returns the byte after it. */
static char *put_utf8(char *d, uint32_t cp) {
  if (cp < 0x80) {
    *d++ = (char)cp;
  } else if (cp < 0x800) {
    *d++ = (char)(0xc0 | (cp >> 6));
    *d++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *d++ = (char)(0xe0 | (cp >> 12));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *d++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *d++ = (char)(0xf0 | (cp >> 18));
    *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *d++ = (char)(0x80 | (cp & 0x3f));
  }
  return d;
}

long clipdb__json_unescape(const clipdb__json *doc, int t, char *dst) {
  if (t < 0 || t >= doc->n || doc->tok[t].type != CLIPDB__JSON_STRING) return -1;
  const char *s = doc->js + doc->tok[t].start, *end = doc->js + doc->tok[t].end;
  char *d = dst;
  while (s < end) {
    char c = *s++;
    if (c != '\\') {
      if (c == '\0') return -1;
      *d++ = c;
      continue;
    }
    if (s >= end) return -1;
    c = *s++;
    switch (c) {
      case '"': *d++ = '"'; break;
      case '\\': *d++ = '\\'; break;
      case '/': *d++ = '/'; break;
      case 'b': *d++ = '\b'; break;
      case 'f': *d++ = '\f'; break;
      case 'n': *d++ = '\n'; break;
      case 'r': *d++ = '\r'; break;
      case 't': *d++ = '\t'; break;
      case 'u': {
        uint32_t cp;
        if (!read_hex4(s, end, &cp)) return -1;
        s += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair: \uD8xx\uDCxx */
          uint32_t lo;
          if (end - s < 6 || s[0] != '\\' || s[1] != 'u' || !read_hex4(s + 2, end, &lo) ||
              lo < 0xdc00 || lo > 0xdfff)
            return -1;
          s += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          return -1;
        }
        if (cp == 0) return -1;
        /* \uXXXX is 6 bytes of input and at most 3 of UTF-8; a pair is 12 in, 4 out */
        d = put_utf8(d, cp);
        break;
      }
      default:
        return -1;
    }
  }
  *d = '\0';
  return (long)(d - dst);
}
