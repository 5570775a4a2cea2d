/*
 * gzip reading (RFC 1952): member headers, trailers and checks are ours; the DEFLATE
 * streams (RFC 1951) go to stb_image's inflater through clipdb__stbi_inflate_raw
 * (src/common/stb-image.c), which also says where each stream ended.
 *
 * Member layout: ID1 0x1F, ID2 0x8B, CM (8 = deflate), FLG, MTIME (4), XFL, OS; then, by
 * FLG bits, FEXTRA (bit 2: 2-byte little-endian XLEN, XLEN bytes), FNAME (bit 3: zero-
 * terminated), FCOMMENT (bit 4: zero-terminated), FHCRC (bit 1: the low 16 bits of the
 * CRC-32 of every header byte before it); bits 5-7 are reserved and must be zero, bit 0
 * (FTEXT) is a hint. Then the compressed blocks, then CRC32 and ISIZE (4 bytes each, little-
 * endian) of the uncompressed data.
 */
#include <string.h>

#include "gzip.h"

int clipdb__stbi_inflate_raw(const unsigned char *in, size_t n, size_t size_hint, char **out,
                             size_t *out_n, size_t *used);

/* OpenAI's bpe_simple_vocab_16e6.txt.gz inflates to 3.2 MB */
#define HINT_MAX ((size_t)16 << 20)

enum { FTEXT = 1, FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16, FRESERVED = 0xE0 };

/* CRC-32 four bits at a time: entry i is the CRC register after shifting the nibble i
 * through the reflected polynomial 0xEDB88320 four times. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t clipdb__crc32(uint32_t crc, const void *data, size_t n) {
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 15];
    crc = (crc >> 4) ^ crc_nibble[crc & 15];
  }
  return ~crc;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Parse the member header at d[p..n): the offset of its deflate stream, or 0 with the error
 * recorded (a header is at least 10 bytes, so 0 is never a valid answer). */
static size_t parse_header(const uint8_t *d, size_t n, size_t p, int member, const char *ctx,
                           clipdb_status bad, char *err, clipdb_status *st) {
  if (n - p < 2 || d[p] != 0x1F || d[p + 1] != 0x8B) {
    *st = member == 1 ? clipdb__error(err, bad, "%s: not a gzip file (no 1f 8b signature)", ctx)
                      : clipdb__error(err, bad, "%s: unexpected bytes after gzip member %d (offset %zu)", ctx,
                                      member - 1, p);
    return 0;
  }
  if (n - p < 10) goto truncated;
  if (d[p + 2] != 8) {
    *st = clipdb__error(err, bad, "%s: gzip member %d uses compression method %u, not deflate (8)", ctx, member,
                        (unsigned)d[p + 2]);
    return 0;
  }
  uint8_t flags = d[p + 3];
  if (flags & FRESERVED) {
    *st = clipdb__error(err, bad, "%s: gzip member %d has reserved header flags set (0x%02x)", ctx, member,
                        (unsigned)flags);
    return 0;
  }
  size_t q = p + 10;
  if (flags & FEXTRA) {
    if (n - q < 2) goto truncated;
    size_t xlen = (size_t)d[q] | ((size_t)d[q + 1] << 8);
    q += 2;
    if (n - q < xlen) goto truncated;
    q += xlen;
  }
  for (int field = FNAME; field <= FCOMMENT; field <<= 1) {
    if (!(flags & field)) continue;
    const uint8_t *nul = memchr(d + q, 0, n - q);
    if (nul == NULL) goto truncated;
    q = (size_t)(nul - d) + 1;
  }
  if (flags & FHCRC) {
    if (n - q < 2) goto truncated;
    uint32_t want = (uint32_t)d[q] | ((uint32_t)d[q + 1] << 8);
    uint32_t got = clipdb__crc32(0, d + p, q - p) & 0xFFFFu;
    if (got != want) {
      *st = clipdb__error(err, bad, "%s: gzip member %d header CRC mismatch (computed %04x, stored %04x)", ctx,
                          member, (unsigned)got, (unsigned)want);
      return 0;
    }
    q += 2;
  }
  return q;
truncated:
  *st = clipdb__error(err, bad, "%s: truncated gzip header (member %d, file of %zu bytes)", ctx, member, n);
  return 0;
}

clipdb_status clipdb__gunzip(const uint8_t *d, size_t n, const char *ctx, clipdb_status bad, char *err,
                             char **out, size_t *out_size) {
  *out = NULL;
  *out_size = 0;
  char *all = NULL, *part = NULL;
  size_t all_n = 0;
  clipdb_status st = CLIPDB_STATUS_SUCCESS;
  size_t p = 0;
  for (int member = 1;; member++) {
    size_t q = parse_header(d, n, p, member, ctx, bad, err, &st);
    if (q == 0) goto fail;
    /* first capacity: the last trailer's ISIZE (exact for one member), at most what deflate's
     * best ratio (258 bytes from 2 bits: < 1032:1) can make of the bytes there are, and at
     * most HINT_MAX, so a corrupt ISIZE costs no huge allocation (the buffer grows anyway) */
    size_t hint = n - q >= 8 ? le32(d + n - 4) : 0;
    if (hint / 1032 > n - q) hint = 1032 * (n - q);
    if (hint > HINT_MAX) hint = HINT_MAX;
    size_t part_n = 0, used = 0;
    int r = clipdb__stbi_inflate_raw(d + q, n - q, hint + 1, &part, &part_n, &used);
    if (r == 2) {
      st = clipdb__error(err, CLIPDB_STATUS_OUT_OF_MEMORY, "%s: out of memory inflating gzip member %d", ctx, member);
      goto fail;
    }
    if (r == 3) {
      st = clipdb__error(err, bad, "%s: truncated gzip data: member %d's deflate stream and 8-byte trailer do not fit in the file's %zu bytes",
                         ctx, member, n);
      goto fail;
    }
    if (r != 0) {
      st = clipdb__error(err, bad, "%s: corrupt deflate data in gzip member %d (at offset %zu)", ctx, member, q);
      goto fail;
    }
    q += used;
    if (n - q < 8) {
      st = clipdb__error(err, bad, "%s: truncated gzip trailer (member %d: %zu of 8 bytes)", ctx, member, n - q);
      goto fail;
    }
    uint32_t crc = clipdb__crc32(0, part, part_n);
    if (crc != le32(d + q)) {
      st = clipdb__error(err, bad, "%s: CRC-32 mismatch in gzip member %d (data %08x, trailer %08x)", ctx, member,
                         (unsigned)crc, (unsigned)le32(d + q));
      goto fail;
    }
    if ((uint32_t)part_n != le32(d + q + 4)) {
      st = clipdb__error(err, bad, "%s: gzip member %d inflated to %zu bytes, its trailer says %u (mod 2^32)", ctx,
                         member, part_n, (unsigned)le32(d + q + 4));
      goto fail;
    }
    if (all == NULL) {
      all = part;
      all_n = part_n;
    } else if (part_n > 0) {
      char *grown = clipdb__realloc(all, all_n + part_n);
      if (grown == NULL) {
        st = clipdb__error(err, CLIPDB_STATUS_OUT_OF_MEMORY, "%s: out of memory joining gzip members (%zu bytes)", ctx,
                           all_n + part_n);
        goto fail;
      }
      all = grown;
      memcpy(all + all_n, part, part_n);
      all_n += part_n;
      clipdb__free(part);
    } else {
      clipdb__free(part);
    }
    part = NULL;
    p = q + 8;
    while (p < n && d[p] == 0) p++; /* zero padding after the last member (gzip -d allows it) */
    if (p == n) break;
  }
  *out = all;
  *out_size = all_n;
  return CLIPDB_STATUS_SUCCESS;
fail:
  clipdb__free(part);
  clipdb__free(all);
  return st;
}
