/* JSON helpers over jsmn: see json.h. */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

clipdb_status clipdb__json_parse(const char *js, size_t len, const char *what, char *errbuf,
                                 clipdb__json *doc) {
  memset(doc, 0, sizeof *doc);
  jsmn_parser p;
  jsmn_init(&p);
  int n = jsmn_parse(&p, js, len, NULL, 0);
  if (n < 1) return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL, "failed to parse %s: invalid JSON", what);
  jsmntok_t *t = clipdb__malloc(sizeof *t * (size_t)n);
  doc->tok = clipdb__malloc(sizeof *doc->tok * (size_t)n);
  if (t == NULL || doc->tok == NULL) {
    clipdb__free(t);
    clipdb__json_free(doc);
    return clipdb__error(errbuf, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate tokens for %s", what);
  }
  jsmn_init(&p);
  if (jsmn_parse(&p, js, len, t, (unsigned)n) != n || t[0].type != JSMN_OBJECT) {
    clipdb__free(t);
    clipdb__json_free(doc);
    return clipdb__error(errbuf, CLIPDB_STATUS_BAD_MODEL,
                         "failed to parse %s: invalid JSON or not an object", what);
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

void clipdb__json_free(clipdb__json *doc) {
  if (doc == NULL) return;
  clipdb__free(doc->tok);
  doc->tok = NULL;
  doc->n = 0;
}

static int skip(const clipdb__json *doc, int i) {
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
    i = skip(doc, i + 1);
  }
  return -1;
}

int clipdb__json_item(const clipdb__json *doc, int arr, int idx) {
  if (arr < 0 || arr >= doc->n || doc->tok[arr].type != CLIPDB__JSON_ARRAY) return -1;
  if (idx < 0 || idx >= doc->tok[arr].size) return -1;
  int i = arr + 1;
  for (int k = 0; k < idx; k++) i = skip(doc, i);
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
