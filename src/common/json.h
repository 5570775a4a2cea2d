/* The library's one JSON reader, over jsmn (Debian libjsmn-dev) in strict mode: read-only
 * documents for the safetensors header, Hugging Face config.json, the `clip_config` metadata
 * string and the tokenizer's vocab.json. Tokens are indices into `tok`; -1 means "absent". */
#ifndef CLIPDB_COMMON_JSON_H
#define CLIPDB_COMMON_JSON_H

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

/* Parse `len` bytes of `js` (borrowed: it must outlive `doc`); the top level must be an
 * object, which may be followed by other bytes (tok[0].end is where it ends). On failure
 * returns `status` (e.g. BAD_MODEL, BAD_VOCAB) with the message "failed to parse <what>: ..."
 * saying whether the JSON is incomplete, invalid, or not an object (OUT_OF_MEMORY for the
 * token array), and leaves `doc` empty. Free with clipdb__json_free. */
clipdb_status clipdb__json_parse_as(const char *js, size_t len, const char *what, clipdb_status status,
                                    char *errbuf, clipdb__json *doc);
/* clipdb__json_parse_as with BAD_MODEL. */
clipdb_status clipdb__json_parse(const char *js, size_t len, const char *what, char *errbuf,
                                 clipdb__json *doc);
void clipdb__json_free(clipdb__json *doc);

/* The index just past the value at token `i` (its whole subtree; iterative, so nesting depth
 * cannot exhaust the stack). */
int clipdb__json_skip(const clipdb__json *doc, int i);
/* Decode string token `t` into `dst`, which has room for its raw length + 1 bytes (decoding
 * never lengthens a string): UTF-8, NUL-terminated. Returns the decoded length, or -1 if `t`
 * is not a string, an escape is malformed (a lone or reversed surrogate included), or the
 * string holds a NUL. */
long clipdb__json_unescape(const clipdb__json *doc, int t, char *dst);
/* A non-negative integer written with digits only (no sign, fraction or exponent), at most 16
 * digits: 1 and *out. */
int clipdb__json_uint(const clipdb__json *doc, int t, uint64_t *out);
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
