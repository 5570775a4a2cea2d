/*
 * Text cleaning exactly as the official CLIP tokenizer does it before BPE
 * (clip/simple_tokenizer.py: basic_clean + whitespace_clean + lower):
 *
 *   ftfy.fix_text(text)                  ftfy 6.3.1 defaults, see clipdb__ftfy_fix_text
 *   html.unescape(html.unescape(text))   Python's html.unescape, full HTML5 entity table
 *   .strip()                             Python str.strip() (str.isspace characters)
 *   re.sub(r'\s+', ' ', text).strip()    `regex` module \s = White_Space
 *   .lower()                             Python str.lower()
 *
 * Every step is its own function working on code points: it reads `in[0..n)` and appends
 * its result to `out` (which must not alias `in`). Allocation failure sets out->oom.
 */
#ifndef CLIPDB_TEXT_CLEAN_H
#define CLIPDB_TEXT_CLEAN_H

#include "unicode.h"

/* ---- ftfy 6.3.1 fixers (ftfy/fixes.py), in the order fix_text applies them ---- */

/* unescape_html: `&#?[0-9A-Za-z]{1,24};` entities; names from the HTML5 table (with ';')
 * plus ftfy's upper-cased variants (&NTILDE; -> Ñ); numeric ones via html.unescape, kept
 * as they are unless html.unescape consumed the ';'. */
void clipdb__ftfy_unescape_html(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* ftfy.badness.is_bad: does the text contain a sequence typical of mojibake? */
int clipdb__ftfy_is_bad(const uint32_t *in, size_t n);
/* fix_encoding: while the text looks bad, re-decode text that looks like UTF-8 mis-decoded
 * as a single-byte code page (Latin-1, Windows-125x, ISO-8859-2, MacRoman, cp437; with
 * restore_byte_a0 and, for the sloppy code pages, replace_lossy_sequences, and the
 * utf-8-variants decoder for CESU-8 / C0 80); failing that, decode_inconsistent_utf8 (fix
 * UTF-8-looking runs inside otherwise correct text one by one), the Latin-1 -> Windows-1252
 * reading of C1 controls, or fix_c1_controls. */
void clipdb__ftfy_fix_encoding(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* fix_c1_controls: U+0080..U+009F -> the Windows-1252 character of that byte. */
void clipdb__ftfy_fix_c1_controls(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* fix_latin_ligatures: ﬁ -> fi, Ĳ -> IJ, ǆ -> dž, ... */
void clipdb__ftfy_fix_latin_ligatures(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* fix_character_width: full-width/half-width forms -> NFKC, U+3000 -> space. */
void clipdb__ftfy_fix_character_width(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* uncurl_quotes: U+02BC, U+2018..U+201B -> ', U+201C..U+201F -> ". */
void clipdb__ftfy_uncurl_quotes(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* fix_line_breaks: \r\n, \r, U+2028, U+2029, U+0085 -> \n. */
void clipdb__ftfy_fix_line_breaks(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* remove_terminal_escapes: ESC [ (digits or ;)* letter. */
void clipdb__ftfy_remove_terminal_escapes(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* remove_control_chars: U+0000-0008, 000B, 000E-001F, 007F, 206A-206F, FEFF, FFF9-FFFC
 * (tab, \n, \f, \r, ZWSP, soft hyphen stay). */
void clipdb__ftfy_remove_control_chars(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* ftfy.fix_text with default TextFixerConfig: line by line, each line fixed until stable. */
void clipdb__ftfy_fix_text(const uint32_t *in, size_t n, clipdb__u32buf *out);

/* ---- Python standard library behaviour ---- */

/* html.unescape (Python 3.11): named references with/without ';' (longest prefix for the
 * legacy ones), decimal/hex references with html's invalid-reference rules. */
void clipdb__html_unescape(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* str.strip(): drop leading/trailing str.isspace() characters. */
void clipdb__py_strip(const uint32_t *in, size_t n, clipdb__u32buf *out);
/* re.sub(r'\s+', ' ', text) with the `regex` module's \s (White_Space), then str.strip(). */
void clipdb__whitespace_clean(const uint32_t *in, size_t n, clipdb__u32buf *out);

/* The whole chain above, for UTF-8 input (invalid UTF-8 -> U+FFFD). Result in `out`. */
void clipdb__clip_clean(const char *text, size_t n, clipdb__u32buf *out);

#endif
