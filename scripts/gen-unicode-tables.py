#!/usr/bin/python3
"""Generate src/text/unicode-tables.{c,h}: the Unicode and HTML data the CLIP tokenizer needs.

Run with Debian's python3 (`/usr/bin/python3 scripts/gen-unicode-tables.py`). Inputs:
  - Debian's `unicode-data` package (/usr/share/unicode/): UnicodeData.txt (general
    categories, canonical decompositions, combining classes, simple lower-case mappings,
    bidi classes), SpecialCasing.txt (unconditional full lower-case mappings, e.g.
    U+0130 -> U+0069 U+0307), DerivedNormalizationProps.txt (Full_Composition_Exclusion),
    DerivedCoreProperties.txt (Cased, Case_Ignorable: Python's final-sigma rule),
    PropList.txt (White_Space: what the `regex` module's \\s matches).
  - Python's standard library, for data the official pipeline takes from it:
    html.entities.html5 and html's invalid character-reference tables (html.unescape),
    the Windows-1252 code page (ftfy's "sloppy" codec), NFKC of the half/full-width forms
    (ftfy's fix_character_width builds its map exactly that way).
  - The short lists ftfy 6.3.1 hard-codes (ligatures, control characters) are restated here.

The output is data only; the algorithms live in src/text/*.c.
"""
import codecs
import html
import html.entities
import os
import sys
import unicodedata

UCD = os.environ.get("UNICODE_DATA_DIR", "/usr/share/unicode")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_C = os.path.join(ROOT, "src", "text", "unicode-tables.c")
OUT_H = os.path.join(ROOT, "src", "text", "unicode-tables.h")
MAX_CP = 0x110000

# Flag bits (keep in sync with the header written below).
F_LETTER, F_NUMBER, F_SPACE, F_PYSPACE, F_CASED, F_CASE_IGN, F_MARK = 1, 2, 4, 8, 16, 32, 64


def ucd_lines(name):
    with open(os.path.join(UCD, name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def parse_range(text):
    if ".." in text:
        a, b = text.split("..")
        return int(a, 16), int(b, 16)
    return int(text, 16), int(text, 16)


def read_unicode_data():
    """Per code point: (category, ccc, bidi, decomposition, simple lower)."""
    cat = {}
    ccc = {}
    bidi = {}
    decomp = {}
    lower = {}
    first = None
    for fields in ucd_lines("UnicodeData.txt"):
        cp = int(fields[0], 16)
        name = fields[1]
        if name.endswith(", First>"):
            first = cp
            continue
        cps = range(first, cp + 1) if name.endswith(", Last>") else [cp]
        for c in cps:
            cat[c] = fields[2]
            if int(fields[3]):
                ccc[c] = int(fields[3])
            bidi[c] = fields[4]
        if fields[5] and not fields[5].startswith("<"):
            decomp[cp] = [int(x, 16) for x in fields[5].split()]
        if fields[13]:
            lower[cp] = int(fields[13], 16)
    return cat, ccc, bidi, decomp, lower


def read_property(name, prop):
    out = set()
    for fields in ucd_lines(name):
        if len(fields) >= 2 and fields[1] == prop:
            a, b = parse_range(fields[0])
            out.update(range(a, b + 1))
    return out


def c_array(ctype, name, values, per_line=16, fmt="{}"):
    lines = [f"const {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        lines.append("  " + ",".join(fmt.format(v) for v in values[i:i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines) + "\n"


def c_string_literal(data):
    """A C string literal for raw bytes (octal escapes outside printable ASCII)."""
    out = []
    for b in data:
        ch = chr(b)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def blob_table(name, items):
    """Strings as one NUL-separated byte blob plus uint32 offsets."""
    blob = bytearray()
    offsets = []
    for s in items:
        offsets.append(len(blob))
        blob += s + b"\0"
    text = [f"const char {name}_blob[{len(blob) + 1}] ="]
    for i in range(0, len(blob), 64):
        text.append("  " + c_string_literal(blob[i:i + 64]))
    text[-1] += ";"
    assert len(blob) < 65536
    return "\n".join(text) + "\n" + c_array("uint16_t", name + "_offsets", offsets, 12)


def main():
    cat, ccc, bidi, decomp, simple_lower = read_unicode_data()
    white = read_property("PropList.txt", "White_Space")
    cased = read_property("DerivedCoreProperties.txt", "Cased")
    case_ign = read_property("DerivedCoreProperties.txt", "Case_Ignorable")
    excluded = read_property("DerivedNormalizationProps.txt", "Full_Composition_Exclusion")

    # ---- per-code-point flags, two-level table (256-entry blocks, deduplicated) ----
    flags = bytearray(MAX_CP)
    for cp, c in cat.items():
        f = 0
        if c[0] == "L":
            f |= F_LETTER
        if c[0] == "N":
            f |= F_NUMBER
        if c[0] == "M":
            f |= F_MARK
        # Python str.isspace(): bidi class WS, B or S, or category Zs (used by str.strip()).
        if bidi.get(cp) in ("WS", "B", "S") or c == "Zs":
            f |= F_PYSPACE
        flags[cp] = f
    for cp in white:
        flags[cp] |= F_SPACE
    for cp in cased:
        flags[cp] |= F_CASED
    for cp in case_ign:
        flags[cp] |= F_CASE_IGN
    blocks = {}
    stage1 = []
    stage2 = bytearray()
    for hi in range(MAX_CP >> 8):
        block = bytes(flags[hi << 8:(hi + 1) << 8])
        if block not in blocks:
            blocks[block] = len(blocks)
            stage2 += block
        stage1.append(blocks[block])
    assert len(blocks) < 256

    # ---- lower case: simple mappings + SpecialCasing unconditional lower entries ----
    special = {}
    for fields in ucd_lines("SpecialCasing.txt"):
        if len(fields) >= 5 and fields[4]:
            continue  # conditional (final sigma is done in code; language-specific ignored)
        cp = int(fields[0], 16)
        low = [int(x, 16) for x in fields[1].split()]
        if low != [cp]:
            special[cp] = low
    lower_pairs = []
    for cp in sorted(set(simple_lower) | set(special)):
        if cp in special:
            continue
        lower_pairs.append((cp, simple_lower[cp]))
    special_rows = []
    for cp in sorted(special):
        low = special[cp]
        assert len(low) <= 3
        special_rows.append((cp, len(low), low + [0] * (3 - len(low))))

    # ---- canonical composition data for NFC ----
    ccc_pairs = sorted(ccc.items())
    decomp_rows = []
    for cp in sorted(decomp):
        d = decomp[cp]
        assert 1 <= len(d) <= 2, hex(cp)
        decomp_rows.append((cp, d[0], d[1] if len(d) == 2 else 0))
    comp_rows = []
    for cp in sorted(decomp):
        d = decomp[cp]
        if len(d) == 2 and cp not in excluded:
            comp_rows.append((d[0], d[1], cp))
    comp_rows.sort()
    decomp_index = {r[0]: i for i, r in enumerate(decomp_rows)}
    comp_index = [decomp_index[r[2]] for r in comp_rows]

    # ---- ftfy data ----
    # fix_character_width: U+3000 -> space, and every U+FF01..U+FFEF whose NFKC differs.
    width_rows = [(0x3000, " ".encode())]
    for cp in range(0xFF01, 0xFFF0):
        alt = unicodedata.normalize("NFKC", chr(cp))
        if alt != chr(cp):
            width_rows.append((cp, alt.encode("utf-8")))
    # fix_latin_ligatures (ftfy 6.3.1 chardata.LIGATURES).
    ligatures = [
        (0x0132, "IJ"), (0x0133, "ij"), (0x0149, "\u02bcn"), (0x01F1, "DZ"), (0x01F2, "Dz"),
        (0x01F3, "dz"), (0x01C4, "D\u017d"), (0x01C5, "D\u017e"), (0x01C6, "d\u017e"),
        (0x01C7, "LJ"), (0x01C8, "Lj"), (0x01C9, "lj"), (0x01CA, "NJ"), (0x01CB, "Nj"),
        (0x01CC, "nj"), (0xFB00, "ff"), (0xFB01, "fi"), (0xFB02, "fl"), (0xFB03, "ffi"),
        (0xFB04, "ffl"), (0xFB05, "\u017ft"), (0xFB06, "st"),
    ]
    ligatures.sort()

    # ---- ftfy's single-byte code pages, in the order fix_encoding tries them ----
    charmap_names = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
                     "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257",
                     "iso-8859-2", "macroman", "cp437"]
    charmaps = []
    for name in charmap_names:
        base = name.replace("sloppy-windows-", "cp").replace("macroman", "mac_roman")
        row = []
        for b in range(0x80, 0x100):
            try:
                row.append(ord(bytes([b]).decode(base)))
            except UnicodeDecodeError:
                assert name.startswith("sloppy")
                row.append(b)  # sloppy codecs: undefined bytes decode as Latin-1
        charmaps.append(row)

    # ---- ftfy 6.3.1 badness.py character categories (MOJIBAKE_CATEGORIES) ----
    def rng(a, b):
        return list(range(ord(a), ord(b) + 1))
    bad_classes = [
        ("COMMON", [0xA0, 0xAD, 0xB7, 0xB4, 0x2013, 0x2014, 0x2015, 0x2026, 0x2019]),
        ("BAD", [0xA6, 0xA4, 0xA8, 0xAC, 0xAF, 0xB8, 0x192, 0x2C6, 0x2C7, 0x2D8, 0x2DB, 0x2DC,
                 0x2020, 0x2021, 0x2030, 0x2310, 0x25CA, 0xFFFD, 0xAA, 0xBA]),
        ("LAW", [0xB6, 0xA7]),
        ("CURRENCY", [0xA2, 0xA3, 0xA5, 0x20A7, 0x20AC]),
        ("START_PUNCT", [0xA1, 0xAB, 0xBF, 0xA9, 0x384, 0x385, 0x2018, 0x201A, 0x201C, 0x201E,
                         0x2022, 0x2039, 0xF8FF]),
        ("END_PUNCT", [0xAE, 0xBB, 0x2DD, 0x201D, 0x203A, 0x2122]),
        ("NUMERIC", [0xB2, 0xB3, 0xB9, 0xB1, 0xBC, 0xBD, 0xBE, 0xD7, 0xB5, 0xF7, 0x2044, 0x2202,
                     0x2206, 0x220F, 0x2211, 0x221A, 0x221E, 0x2229, 0x222B, 0x2248, 0x2260,
                     0x2261, 0x2264, 0x2265, 0x2116]),
        ("KAOMOJI", rng("\xd2", "\xd6") + rng("\xd9", "\xdc") + rng("\xf2", "\xf6") +
         rng("\xf8", "\xfc") + [0x150, 0x14C, 0x16A, 0x172, 0xB0]),
        ("UPPER_ACCENTED", rng("\xc0", "\xd1") + [0xD8, 0xDC, 0xDD, 0x102, 0x100, 0x104, 0x106,
                           0x10C, 0x10E, 0x110, 0x118, 0x11A, 0x112, 0x116, 0x11E, 0x122, 0x130,
                           0x12A, 0x136, 0x139, 0x13D, 0x141, 0x13B, 0x143, 0x147, 0x145, 0x152,
                           0x158, 0x15A, 0x15E, 0x160, 0x162, 0x164, 0x16E, 0x170, 0x178, 0x179,
                           0x17B, 0x17D, 0x490]),
        ("LOWER_ACCENTED", [0xDF] + rng("\xe0", "\xf1") + [0x103, 0x105, 0x101, 0x107, 0x10D,
                           0x10F, 0x111, 0x119, 0x11B, 0x113, 0x117, 0x11F, 0x123, 0x12F, 0x12B,
                           0x137, 0x13A, 0x13E, 0x142, 0x13C, 0x153, 0x155, 0x15B, 0x15F, 0x161,
                           0x165, 0xFC, 0x17A, 0x17C, 0x17E, 0x491, 0xFB01, 0xFB02]),
        ("UPPER_COMMON", [0xDE] + list(range(0x391, 0x3A9 + 1)) + [0x386, 0x388, 0x389, 0x38A,
                          0x38C, 0x38E, 0x38F, 0x3AA, 0x3AB] + list(range(0x401, 0x42F + 1))),
        ("LOWER_COMMON", list(range(0x3B1, 0x3C9 + 1)) + [0x3AC, 0x3AD, 0x3AE, 0x3AF, 0x3B0] +
         list(range(0x430, 0x45F + 1))),
        ("BOX", [0x2502, 0x250C, 0x2510, 0x2518, 0x251C, 0x2524, 0x252C, 0x253C] +
         list(range(0x2550, 0x256C + 1)) + [0x2580, 0x2584, 0x2588, 0x258C, 0x2590, 0x2591,
                                            0x2592, 0x2593]),
    ]
    # ftfy chardata.UTF8_CLUES: characters that the Latin-1-like code pages (Latin-1 and
    # Windows-1250/1251/1252/1253/1254/1257) decode lead bytes C2-DF / E0-EF / F0,F3 and
    # continuation bytes 80-BF to; "continuation" also takes a space (for a lost A0), the
    # strict variant leaves out spaces, dashes, quotation marks, the bullet and the ellipsis.
    clue_encodings = ["latin-1", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1257"]

    def decoded(byte_values):
        out = set()
        for enc in clue_encodings:
            for b in byte_values:
                try:
                    out.add(ord(bytes([b]).decode(enc)))
                except UnicodeDecodeError:
                    pass
        return sorted(out)
    continuation = sorted(set(range(0x80, 0xC0)) | {0x20} | set(decoded(range(0x80, 0xC0))))
    not_strict = {0x20, 0x2013, 0x2014, 0x2015, 0x2018, 0x2019, 0x201A, 0x201C, 0x201D, 0x201E,
                  0x2022, 0x2026}
    bad_classes += [
        ("UTF8_FIRST_OF_2", decoded(range(0xC2, 0xE0))),
        ("UTF8_FIRST_OF_3", decoded(range(0xE0, 0xF0))),
        ("UTF8_FIRST_OF_4", decoded([0xF0, 0xF3])),
        ("UTF8_CONTINUATION", continuation),
        ("UTF8_CONTINUATION_STRICT", [c for c in continuation if c not in not_strict]),
    ]
    bad_mask = {}
    for bit, (_, cps) in enumerate(bad_classes):
        for cp in cps:
            bad_mask[cp] = bad_mask.get(cp, 0) | (1 << bit)
    bad_rows = sorted(bad_mask.items())

    # ---- HTML5 named character references (html.unescape) ----
    entities = sorted((name.encode(), value.encode("utf-8")) for name, value in html.entities.html5.items())
    # ftfy also decodes upper-cased names of all-lower-case entities (&NTILDE; -> Ñ), when
    # html.unescape would leave the upper-cased form alone.
    upper_entities = []
    for name, value in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            upper = "&" + name.upper()
            if html.unescape(upper) == upper:
                upper_entities.append((name.upper().encode(), value.upper().encode("utf-8")))
    upper_entities.sort()
    invalid_charrefs = sorted(html._invalid_charrefs.items())
    invalid_codepoints = sorted(html._invalid_codepoints)

    header_note = ("/* Generated by scripts/gen-unicode-tables.py from Debian's unicode-data "
                   "(Unicode %s) and Python %s's html/codecs data. Do not edit. */\n"
                   % (open(os.path.join(UCD, "ReadMe.txt"), encoding="utf-8").read().split("Version ")[1].split()[0]
                      if os.path.exists(os.path.join(UCD, "ReadMe.txt")) else "?",
                      sys.version.split()[0]))

    h = [header_note, "#ifndef CLIPDB_TEXT_UNICODE_TABLES_H\n#define CLIPDB_TEXT_UNICODE_TABLES_H\n\n",
         "#include <stddef.h>\n#include <stdint.h>\n\n",
         "/* Per-code-point flag bits (clipdb__unicode_flags). */\n",
         "#define CLIPDB__UF_LETTER %d    /* general category L* (regex \\p{L}) */\n" % F_LETTER,
         "#define CLIPDB__UF_NUMBER %d    /* general category N* (regex \\p{N}) */\n" % F_NUMBER,
         "#define CLIPDB__UF_SPACE %d     /* White_Space (regex \\s) */\n" % F_SPACE,
         "#define CLIPDB__UF_PYSPACE %d   /* Python str.isspace() (str.strip()) */\n" % F_PYSPACE,
         "#define CLIPDB__UF_CASED %d    /* Cased (final-sigma rule) */\n" % F_CASED,
         "#define CLIPDB__UF_CASE_IGN %d /* Case_Ignorable (final-sigma rule) */\n" % F_CASE_IGN,
         "#define CLIPDB__UF_MARK %d     /* general category M* */\n\n" % F_MARK,
         "extern const uint8_t clipdb__uflags_stage1[%d];\n" % len(stage1),
         "extern const uint8_t clipdb__uflags_stage2[%d];\n" % len(stage2),
         "static inline unsigned clipdb__unicode_flags(uint32_t cp) {\n"
         "  if (cp >= 0x110000) return 0;\n"
         "  return clipdb__uflags_stage2[((uint32_t)clipdb__uflags_stage1[cp >> 8] << 8) | (cp & 0xFF)];\n}\n\n",
         "/* Simple lower-case mappings {cp, lower}, sorted by cp (without the special ones). */\n",
         "#define CLIPDB__LOWER_COUNT %d\nextern const uint32_t clipdb__lower_pairs[%d][2];\n" % (len(lower_pairs), len(lower_pairs)),
         "/* Unconditional multi-code-point lower-case mappings (SpecialCasing.txt) {cp, n, a, b, c}. */\n",
         "#define CLIPDB__LOWER_SPECIAL_COUNT %d\nextern const uint32_t clipdb__lower_special[%d][5];\n" % (len(special_rows), len(special_rows)),
         "/* Canonical combining class, (cp << 8 | ccc) for ccc != 0, sorted. */\n",
         "#define CLIPDB__CCC_COUNT %d\nextern const uint32_t clipdb__ccc_packed[%d];\n" % (len(ccc_pairs), len(ccc_pairs)),
         "/* Canonical decompositions {cp, first, second (0 if a singleton)}, sorted. */\n",
         "#define CLIPDB__DECOMP_COUNT %d\nextern const uint32_t clipdb__decomp[%d][3];\n" % (len(decomp_rows), len(decomp_rows)),
         "/* Primary composites: indexes into clipdb__decomp of the pairs that NFC recomposes\n"
         " * (not Full_Composition_Exclusion), sorted by (first, second). */\n",
         "#define CLIPDB__COMP_COUNT %d\nextern const uint16_t clipdb__comp_index[%d];\n" % (len(comp_rows), len(comp_rows)),
         "/* ftfy fix_character_width: {cp, offset into clipdb__width_blob} sorted; values NUL-terminated UTF-8. */\n",
         "#define CLIPDB__WIDTH_COUNT %d\nextern const uint32_t clipdb__width_map[%d][2];\nextern const char clipdb__width_blob[];\n" % (len(width_rows), len(width_rows)),
         "/* ftfy fix_latin_ligatures: {cp, offset into clipdb__ligature_blob} sorted. */\n",
         "#define CLIPDB__LIGATURE_COUNT %d\nextern const uint32_t clipdb__ligature_map[%d][2];\nextern const char clipdb__ligature_blob[];\n" % (len(ligatures), len(ligatures)),
         "/* ftfy's single-byte encodings (fix_encoding order): bytes 0x80..0xFF -> code point. */\n",
         "#define CLIPDB__CHARMAP_COUNT %d\n" % len(charmaps),
         "extern const uint16_t clipdb__charmaps[%d][128];\n" % len(charmaps),
         "extern const uint8_t clipdb__charmap_sloppy[%d]; /* 1: byte 0x1A stands for U+FFFD */\n" % len(charmaps),
         "".join("#define CLIPDB__CHARMAP_%s %d\n" % (n.upper().replace("-", "_"), i) for i, n in enumerate(charmap_names)),
         "/* ftfy badness.py character categories: {cp, mask} sorted by cp; bits below. */\n",
         "".join("#define CLIPDB__BAD_%s 0x%X\n" % (n, 1 << i) for i, (n, _) in enumerate(bad_classes)),
         "#define CLIPDB__BAD_CLASS_COUNT %d\nextern const uint32_t clipdb__bad_classes[%d][2];\n" % (len(bad_rows), len(bad_rows)),
         "/* HTML5 named character references (Python html.entities.html5), sorted by name bytes;\n"
         " * name i and value i start at the offsets given in the blobs (NUL-terminated). */\n",
         "#define CLIPDB__HTML_ENTITY_COUNT %d\n" % len(entities),
         "extern const char clipdb__html_name_blob[];\nextern const uint16_t clipdb__html_name_offsets[%d];\n" % len(entities),
         "extern const char clipdb__html_value_blob[];\nextern const uint16_t clipdb__html_value_offsets[%d];\n" % len(entities),
         "/* ftfy's extra upper-cased entity names (with ';'), same layout. */\n",
         "#define CLIPDB__HTML_UPPER_COUNT %d\n" % len(upper_entities),
         "extern const char clipdb__html_upper_name_blob[];\nextern const uint16_t clipdb__html_upper_name_offsets[%d];\n" % len(upper_entities),
         "extern const char clipdb__html_upper_value_blob[];\nextern const uint16_t clipdb__html_upper_value_offsets[%d];\n" % len(upper_entities),
         "/* html.unescape: numeric references replaced by another code point {num, cp}, and the\n"
         " * numbers that are dropped (Python html._invalid_charrefs / _invalid_codepoints). */\n",
         "#define CLIPDB__HTML_INVALID_CHARREF_COUNT %d\nextern const uint32_t clipdb__html_invalid_charrefs[%d][2];\n" % (len(invalid_charrefs), len(invalid_charrefs)),
         "#define CLIPDB__HTML_INVALID_CODEPOINT_COUNT %d\nextern const uint32_t clipdb__html_invalid_codepoints[%d];\n" % (len(invalid_codepoints), len(invalid_codepoints)),
         "\n#endif\n"]

    c = [header_note, '#include "unicode-tables.h"\n\n']
    c.append(c_array("uint8_t", "clipdb__uflags_stage1", stage1, 32))
    c.append(c_array("uint8_t", "clipdb__uflags_stage2", list(stage2), 32))
    c.append("const uint32_t clipdb__lower_pairs[%d][2] = {\n" % len(lower_pairs))
    for i in range(0, len(lower_pairs), 6):
        c.append("  " + "".join("{0x%X,0x%X}," % p for p in lower_pairs[i:i + 6]) + "\n")
    c.append("};\n")
    c.append("const uint32_t clipdb__lower_special[%d][5] = {\n" % len(special_rows))
    for cp, n, low in special_rows:
        c.append("  {0x%X,%d,0x%X,0x%X,0x%X},\n" % (cp, n, *low))
    c.append("};\n")
    c.append(c_array("uint32_t", "clipdb__ccc_packed", [(cp << 8) | v for cp, v in ccc_pairs], 10, "0x{:X}"))
    c.append("const uint32_t clipdb__decomp[%d][3] = {\n" % len(decomp_rows))
    for i in range(0, len(decomp_rows), 5):
        c.append("  " + "".join("{0x%X,0x%X,0x%X}," % r for r in decomp_rows[i:i + 5]) + "\n")
    c.append("};\n")
    c.append(c_array("uint16_t", "clipdb__comp_index", comp_index, 16))
    for name, rows in (("width", width_rows), ("ligature", [(cp, s.encode("utf-8")) for cp, s in ligatures])):
        blob = bytearray()
        pairs = []
        for cp, val in rows:
            pairs.append((cp, len(blob)))
            blob += val + b"\0"
        c.append("const char clipdb__%s_blob[] = %s;\n" % (name, c_string_literal(blob)))
        c.append("const uint32_t clipdb__%s_map[%d][2] = {\n" % (name, len(pairs)))
        for i in range(0, len(pairs), 8):
            c.append("  " + "".join("{0x%X,%d}," % p for p in pairs[i:i + 8]) + "\n")
        c.append("};\n")
    c.append("const uint16_t clipdb__charmaps[%d][128] = {\n" % len(charmaps))
    for row in charmaps:
        c.append("  {" + ",".join("0x%X" % v for v in row) + "},\n")
    c.append("};\n")
    c.append("const uint8_t clipdb__charmap_sloppy[%d] = {%s};\n" % (
        len(charmaps), ",".join("1" if n.startswith("sloppy") else "0" for n in charmap_names)))
    c.append("const uint32_t clipdb__bad_classes[%d][2] = {\n" % len(bad_rows))
    for i in range(0, len(bad_rows), 8):
        c.append("  " + "".join("{0x%X,0x%X}," % r for r in bad_rows[i:i + 8]) + "\n")
    c.append("};\n")
    c.append(blob_table("clipdb__html_name", [n for n, _ in entities]))
    c.append(blob_table("clipdb__html_value", [v for _, v in entities]))
    c.append(blob_table("clipdb__html_upper_name", [n for n, _ in upper_entities]))
    c.append(blob_table("clipdb__html_upper_value", [v for _, v in upper_entities]))
    c.append("const uint32_t clipdb__html_invalid_charrefs[%d][2] = {\n" % len(invalid_charrefs))
    c.append("  " + "".join("{0x%X,0x%X}," % (k, ord(v)) for k, v in invalid_charrefs) + "\n};\n")
    c.append(c_array("uint32_t", "clipdb__html_invalid_codepoints", invalid_codepoints, 12, "0x{:X}"))

    with open(OUT_H, "w", encoding="utf-8") as f:
        f.write("".join(h))
    with open(OUT_C, "w", encoding="utf-8") as f:
        f.write("".join(c))
    print("stage2 blocks: %d (%d bytes), lower %d, special %d, ccc %d, decomp %d, comp %d, "
          "entities %d (+%d upper)" % (len(blocks), len(stage2), len(lower_pairs), len(special_rows),
                                       len(ccc_pairs), len(decomp_rows), len(comp_rows), len(entities),
                                       len(upper_entities)))


if __name__ == "__main__":
    main()
