#!/usr/bin/env python3
"""Write the gzip fixtures of tests/c/test-tokenizer-gzip.c (and tests/js/tokenizer.test.mjs)
into tests/data/gzip/: the clipdb-shapes BPE vocabulary (models/clipdb-shapes/vocab.txt.gz,
this project's own data, 1000 bytes inflated) compressed in the ways gzip files come:

  vocab-l0.txt.gz         stored blocks (level 0), no file name (how the model shipped first)
  vocab-l1.txt.gz         level 1, no file name
  vocab-l6-fname.txt.gz   level 6, FNAME "vocab.txt"
  vocab-l9.txt.gz         level 9, no file name
  vocab-l9-fname.txt.gz   level 9, FNAME "vocab.txt"
  vocab-flags.txt.gz      level 9 raw deflate in a hand-built header with FTEXT, FEXTRA (one
                          "cd" subfield), FNAME, FCOMMENT and FHCRC all set
  vocab-members.txt.gz    two members (first 40 lines at level 6, the rest at level 9), then 4
                          zero bytes of padding (gzip -d and Python accept both)
  vocab-l9-truncated.txt.gz   vocab-l9.txt.gz cut in the middle of its deflate data
  vocab-l9-badcrc.txt.gz      vocab-l9.txt.gz with the trailer's first CRC-32 byte inverted

Only the Python standard library (gzip, zlib): any python3 works. Deterministic (MTIME 0);
byte-exact output depends on the zlib build, which is why the files are committed.
Usage: python3 scripts/gen-gzip-fixtures.py
"""
import gzip
import io
import os
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "gzip")


def member(data, level, fname=None):
    buf = io.BytesIO()
    with gzip.GzipFile(filename=fname or "", mode="wb", fileobj=buf, mtime=0, compresslevel=level) as g:
        g.write(data)
    return buf.getvalue()


def all_flags(data):
    """RFC 1952 member with FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT (0x1F), built field by field."""
    extra = b"cd" + struct.pack("<H", 5) + b"hello"  # one subfield: SI1 SI2, LEN, data
    head = bytes([0x1F, 0x8B, 8, 0x1F]) + struct.pack("<I", 0) + bytes([2, 3])  # XFL 2 (best), OS 3 (Unix)
    head += struct.pack("<H", len(extra)) + extra
    head += b"vocab.txt\0" + b"clipdb-shapes BPE vocabulary, all header fields set\0"
    head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def main():
    with open(os.path.join(ROOT, "models", "clipdb-shapes", "vocab.txt.gz"), "rb") as f:
        vocab = gzip.decompress(f.read())
    lines = vocab.splitlines(keepends=True)
    files = {
        "vocab-l0.txt.gz": member(vocab, 0),
        "vocab-l1.txt.gz": member(vocab, 1),
        "vocab-l6-fname.txt.gz": member(vocab, 6, "vocab.txt"),
        "vocab-l9.txt.gz": member(vocab, 9),
        "vocab-l9-fname.txt.gz": member(vocab, 9, "vocab.txt"),
        "vocab-flags.txt.gz": all_flags(vocab),
        "vocab-members.txt.gz": member(b"".join(lines[:40]), 6) + member(b"".join(lines[40:]), 9) + bytes(4),
    }
    for name, data in files.items():
        assert gzip.decompress(data) == vocab, name
    l9 = files["vocab-l9.txt.gz"]
    files["vocab-l9-truncated.txt.gz"] = l9[: len(l9) // 2]
    files["vocab-l9-badcrc.txt.gz"] = l9[:-8] + bytes([l9[-8] ^ 0xFF]) + l9[-7:]
    os.makedirs(OUT, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("%-28s %5d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
