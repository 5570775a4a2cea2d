/* Small read-only JSON documents over jsmn (Debian libjsmn-dev), for config.json and the
 * `clip_config` metadata string. Tokens are indices; -1 means "absent". */
#ifndef CLIPDB_MODEL_JSON_H
#define CLIPDB_MODEL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "../clipdb-impl.h"

enum { CLIPDB__JSON_OBJECT = 1, CLIPDB__JSON_ARRAY, CLIPDB__JSON_STRING, CLIPDB__JSON_PRIMITIVE };

typedef struct clipdb__json_tok {
  int type, start, end, size;
} clipdb__json_tok;

typedef struct clipdb__json {
  const char *js; /* borrowed text */
  clipdb__json_tok *tok;
  int n;
} clipdb__json;

/* Parse `len` bytes; the top level must be an object. BAD_MODEL names `what`. */
clipdb_status clipdb__json_parse(const char *js, size_t len, const char *what, char *errbuf,
                                 clipdb__json *doc);
void clipdb__json_free(clipdb__json *doc);

/* Value of `key` in object token `obj` (-1 if absent or `obj` is not an object). */
int clipdb__json_get(const clipdb__json *doc, int obj, const char *key);
/* Element `i` of array token `arr` (-1 if out of range). */
int clipdb__json_item(const clipdb__json *doc, int arr, int i);
int clipdb__json_is_null(const clipdb__json *doc, int t);
/* An integer (a JSON number with no fraction, or an integral one like 224.0): 1 and *out. */
int clipdb__json_int(const clipdb__json *doc, int t, int64_t *out);
int clipdb__json_number(const clipdb__json *doc, int t, double *out);
/* 1 if `t` is a string equal to `s` (no escape decoding: fine for ASCII identifiers). */
int clipdb__json_streq(const clipdb__json *doc, int t, const char *s);

#endif
