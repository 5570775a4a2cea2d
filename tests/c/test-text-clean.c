/*
 * Each text-cleaning step on its own (src/text/clean.h, unicode.h). Expected values are what
 * the reference implementations return for the same input: Python 3.11's html.unescape,
 * str.lower, str.strip, unicodedata.normalize('NFC') and bytes.decode('utf-8', 'replace')
 * (checked with /usr/bin/python3), and ftfy 6.3.1's fixers (its documented examples and the
 * behaviour of its tables). No golden data needed.
 */
#include <stdio.h>
#include <string.h>

#include "clipdb.h"
#include "text/clean.h"

static int failures;

typedef void (*step_fn)(const uint32_t *, size_t, clipdb__u32buf *);

static void to_utf8(const clipdb__u32buf *b, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < b->n && o + 4 < cap; i++) o += clipdb__utf8_put(b->v[i], (uint8_t *)out + o);
  out[o] = 0;
}

static void check_step(const char *name, step_fn fn, const char *in, const char *expect) {
  clipdb__u32buf a = {0}, b = {0};
  clipdb__utf8_decode(in, strlen(in), &a);
  fn(a.v, a.n, &b);
  char got[1024];
  to_utf8(&b, got, sizeof got);
  if (strcmp(got, expect) != 0) {
    printf("FAIL: %s(\"%s\") = \"%s\", expected \"%s\"\n", name, in, got, expect);
    failures++;
  }
  clipdb__u32buf_free(&a);
  clipdb__u32buf_free(&b);
}

static void check_decode(const char *in, size_t n, const uint32_t *expect, size_t n_expect) {
  clipdb__u32buf a = {0};
  clipdb__utf8_decode(in, n, &a);
  if (a.n != n_expect || memcmp(a.v, expect, n_expect * sizeof *expect) != 0) {
    printf("FAIL: utf8_decode: got %zu code points:", a.n);
    for (size_t i = 0; i < a.n; i++) printf(" %X", a.v[i]);
    printf("\n");
    failures++;
  }
  clipdb__u32buf_free(&a);
}

static void check_bad(const char *in, int expect) {
  clipdb__u32buf a = {0};
  clipdb__utf8_decode(in, strlen(in), &a);
  int got = clipdb__ftfy_is_bad(a.v, a.n);
  if (got != expect) {
    printf("FAIL: is_bad(\"%s\") = %d, expected %d\n", in, got, expect);
    failures++;
  }
  clipdb__u32buf_free(&a);
}

static void clip_clean_fn(const uint32_t *in, size_t n, clipdb__u32buf *out) {
  char buf[2048];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) o += clipdb__utf8_put(in[i], (uint8_t *)buf + o);
  clipdb__clip_clean(buf, o, out);
}

int main(void) {
  /* invalid UTF-8: one U+FFFD per maximal ill-formed subsequence, as CPython */
  {
    static const char in[] = "a\xe2\x82" "b\xf0\x80\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80z\xe2\x82";
    /* F0 | 80 | ED | A0 | 80 | C0 | AF | F4 | 90 | 80 | 80: eleven replacements */
    static const uint32_t expect[] = {'a', 0xFFFD, 'b', 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD,
                                      0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 'z', 0xFFFD};
    check_decode(in, sizeof in - 1, expect, sizeof expect / sizeof expect[0]);
    static const char nul[] = "x\0y";
    static const uint32_t expect_nul[] = {'x', 0, 'y'};
    check_decode(nul, 3, expect_nul, 3);
  }

  /* Python html.unescape */
  check_step("html_unescape", clipdb__html_unescape, "&amp;lt;", "&lt;");
  check_step("html_unescape", clipdb__html_unescape,
             "&ampx &amp &AMP; &#65;&#x42;&#X43 &#0; &#128; &#x110000; &#xD800; &#1; &notit; &notin; &#; &abc &lt",
             "&x & & ABC \xef\xbf\xbd \xe2\x82\xac \xef\xbf\xbd \xef\xbf\xbd  \xc2\xacit; \xe2\x88\x89 &#; &abc <");
  check_step("html_unescape", clipdb__html_unescape, "&acE;", "\xe2\x88\xbe\xcc\xb3");
  check_step("html_unescape", clipdb__html_unescape, "&#9;x&#65", "\txA");

  /* ftfy unescape_html: only complete `&...;` entities; upper-cased names too */
  check_step("ftfy_unescape_html", clipdb__ftfy_unescape_html, "fish &amp; chips &amp", "fish & chips &amp");
  check_step("ftfy_unescape_html", clipdb__ftfy_unescape_html, "&NTILDE;o &Ntilde;o &ntilde;o", "\xc3\x91o \xc3\x91o \xc3\xb1o");
  check_step("ftfy_unescape_html", clipdb__ftfy_unescape_html, "&#x2019;s &#65x; &#65;", "\xe2\x80\x99s &#65x; A");
  check_step("ftfy_unescape_html", clipdb__ftfy_unescape_html, "&amp;amp;", "&amp;");

  /* ftfy remove_terminal_escapes */
  check_step("remove_terminal_escapes", clipdb__ftfy_remove_terminal_escapes, "\x1b[36;44mblue\x1b[0m!", "blue!");
  check_step("remove_terminal_escapes", clipdb__ftfy_remove_terminal_escapes, "\x1b[36;4", "\x1b[36;4");

  /* ftfy fix_encoding: UTF-8 mis-decoded as Windows-1252 / Latin-1, repeatedly */
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "caf\xc3\x83\xc2\xa9 cr\xc3\x83\xc2\xa8me", "caf\xc3\xa9 cr\xc3\xa8me");
  check_step("fix_encoding", clipdb__ftfy_fix_encoding,
             "doesn\xc3\x83\xc2\xa2\xc3\xa2\xe2\x80\x9a\xc2\xac\xc3\xa2\xe2\x80\x9e\xc2\xa2t", "doesn\xe2\x80\x99t");
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "This \xc3\xa2\xe2\x82\xac\xe2\x80\x9d should be an em dash",
             "This \xe2\x80\x94 should be an em dash");
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "\xc3\x83\xc2\xbanico", "\xc3\xbanico");
  /* text that is fine stays: accents, a thorn after a colon, ellipsis after a name */
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "na\xc3\xafve caf\xc3\xa9 Stra\xc3\x9f" "e", "na\xc3\xafve caf\xc3\xa9 Stra\xc3\x9f" "e");
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "This text is fine already :\xc3\xbe", "This text is fine already :\xc3\xbe");
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "not such a fan of Charlotte Bront\xc3\xab\xe2\x80\xa6\xe2\x80\x9d",
             "not such a fan of Charlotte Bront\xc3\xab\xe2\x80\xa6\xe2\x80\x9d");
  /* Latin-1 C1 controls meant as Windows-1252 */
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "never UTF-8 at all\xc2\x85", "never UTF-8 at all\xe2\x80\xa6");
  /* mojibake inside correct text (decode_inconsistent_utf8): only the bad runs change */
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 caf\xc3\x83\xc2\xa9 cr\xc3\x83\xc2\xa8me",
             "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 caf\xc3\xa9 cr\xc3\xa8me");
  /* a byte lost to U+FFFD inside a sequence (replace_lossy_sequences) */
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "caf\xc3\x83\xef\xbf\xbd", "caf\xef\xbf\xbd");
  /* a space where a UTF-8 A0 byte was (restore_byte_a0): "Ã " is the mojibake of "à" */
  check_step("fix_encoding", clipdb__ftfy_fix_encoding, "voil\xc3\x83 tout", "voil\xc3\xa0tout");
  check_bad("caf\xc3\x83\xc2\xa9", 1);
  check_bad("caf\xc3\xa9 na\xc3\xafve", 0);
  check_bad("\xc3\xa2\xe2\x82\xac\xe2\x80\x9d", 1);

  /* ftfy fix_c1_controls */
  check_step("fix_c1_controls", clipdb__ftfy_fix_c1_controls, "I\xc2\x92m \xc2\x93ok\xc2\x94 \xc2\x81", "I\xe2\x80\x99m \xe2\x80\x9cok\xe2\x80\x9d \xc2\x81");

  /* ftfy fix_latin_ligatures (its docstring example), keeps æ */
  check_step("fix_latin_ligatures", clipdb__ftfy_fix_latin_ligatures, "\xef\xac\x82u\xef\xac\x83" "e\xef\xac\x86", "fluffiest");
  check_step("fix_latin_ligatures", clipdb__ftfy_fix_latin_ligatures, "\xc4\xb3s \xc7\x86 \xc3\xa6", "ijs d\xc5\xbe \xc3\xa6");

  /* ftfy fix_character_width: full-width -> ASCII, ideographic space -> space, half-width
   * katakana -> full-width */
  check_step("fix_character_width", clipdb__ftfy_fix_character_width, "\xef\xbc\xa3\xef\xbc\xac\xef\xbc\xa9\xef\xbc\xb0\xe3\x80\x80\xef\xbd\x8d\xef\xbc\x81",
             "CLIP m!");
  check_step("fix_character_width", clipdb__ftfy_fix_character_width, "\xef\xbd\xb1\xef\xbe\x9e", "\xe3\x82\xa2\xe3\x82\x99");

  /* ftfy uncurl_quotes */
  check_step("uncurl_quotes", clipdb__ftfy_uncurl_quotes, "\xe2\x80\x9chere\xe2\x80\x99s a test\xe2\x80\x9d \xca\xbc \xe2\x80\x9b \xe2\x80\x9f",
             "\"here's a test\" ' ' \"");

  /* ftfy fix_line_breaks */
  check_step("fix_line_breaks", clipdb__ftfy_fix_line_breaks, "a\r\nb\rc\xe2\x80\xa8" "d\xe2\x80\xa9" "e\xc2\x85" "f\n", "a\nb\nc\nd\ne\nf\n");

  /* ftfy remove_control_chars: BEL, BOM, U+206A dropped; tab, \n, ZWSP, soft hyphen kept */
  check_step("remove_control_chars", clipdb__ftfy_remove_control_chars,
             "\xef\xbb\xbf" "a\x07" "b\tc\n\xe2\x80\x8b" "d\xc2\xad" "e\xe2\x81\xaa" "f\x7f" "g\x0b" "h\x0c",
             "ab\tc\n\xe2\x80\x8b" "d\xc2\xad" "efgh\x0c");

  /* NFC (unicodedata.normalize) incl. Hangul, reordering and a composition exclusion */
  check_step("nfc", clipdb__unicode_nfc, "e\xcc\x81", "\xc3\xa9");
  check_step("nfc", clipdb__unicode_nfc, "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81");
  check_step("nfc", clipdb__unicode_nfc, "a\xcc\xa3\xcc\x82", "\xe1\xba\xad");
  check_step("nfc", clipdb__unicode_nfc, "a\xcc\x82\xcc\xa3", "\xe1\xba\xad");
  check_step("nfc", clipdb__unicode_nfc, "\xcd\x84", "\xcc\x88\xcc\x81");
  check_step("nfc", clipdb__unicode_nfc, "\xe2\x84\xab", "\xc3\x85");
  check_step("nfc", clipdb__unicode_nfc, "q\xcc\x87\xcc\xa3", "q\xcc\xa3\xcc\x87");

  /* Python str.lower(): İ -> i + U+0307, final sigma, titlecase digraph */
  check_step("lower", clipdb__unicode_lower, "\xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3", "\xcf\x83\xce\xaf\xcf\x83\xcf\x85\xcf\x86\xce\xbf\xcf\x82");
  check_step("lower", clipdb__unicode_lower, "\xc4\xb0stanbul", "i\xcc\x87stanbul");
  check_step("lower", clipdb__unicode_lower, "\xce\x91\xce\xa3.", "\xce\xb1\xcf\x82.");
  check_step("lower", clipdb__unicode_lower, "\xce\xa3", "\xcf\x83");
  check_step("lower", clipdb__unicode_lower, "a\xce\xa3 b", "a\xcf\x82 b");
  check_step("lower", clipdb__unicode_lower, "\xc7\x85\xe1\xba\x9e", "\xc7\x86\xc3\x9f");

  /* str.strip() (isspace incl. U+001C, U+3000, U+2029, U+0085) and the \s+ collapse */
  check_step("py_strip", clipdb__py_strip, " \x1c\xe3\x80\x80" "a b\xe2\x80\xa9\xc2\x85", "a b");
  check_step("whitespace_clean", clipdb__whitespace_clean, "  multiple   spaces\tand\n\r\nnewlines \xc2\xa0\xe2\x80\x83x  ",
             "multiple spaces and newlines x");
  check_step("whitespace_clean", clipdb__whitespace_clean, "zero\xe2\x80\x8bwidth", "zero\xe2\x80\x8bwidth");

  /* ftfy.fix_text: line by line; HTML unescaping stops at the first line with '<' */
  check_step("ftfy_fix_text", clipdb__ftfy_fix_text, "&NTILDE;\n<b>&NTILDE;\n&NTILDE;", "\xc3\x91\n<b>&NTILDE;\n&NTILDE;");
  check_step("ftfy_fix_text", clipdb__ftfy_fix_text, "&amp;rsquo;s \xef\xac\x81ne", "'s fine");

  /* the whole chain */
  check_step("clip_clean", clip_clean_fn, "  &lt;b&gt; \xef\xac\x81ne  \xe2\x80\x9cQuotes\xe2\x80\x9d &amp;amp; \xc3\x89" "COLE\n",
             "<b> fine \"quotes\" & \xc3\xa9" "cole");
  check_step("clip_clean", clip_clean_fn, "", "");

  if (clipdb_allocated_bytes() != 0) {
    printf("FAIL: leak: %zu bytes\n", clipdb_allocated_bytes());
    failures++;
  }
  if (failures) {
    printf("%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
