/*
 * Image decoding with stb_image (src/common/stb-image.c), keeping the "mode" Pillow 9.4 would
 * open the file in, because the official pipeline resizes in that mode before converting to
 * RGB (so a palette or 16-bit image is resized as Pillow resizes it). stb decodes; the mode comes from our
 * own reading of the headers:
 *
 *   PNG   IHDR colour type / bit depth: gray 1-bit -> "1"; gray 2..8-bit -> L; gray 16-bit ->
 *         I (all 16 bits kept); RGB -> RGB (16-bit: high byte); palette -> P; gray+alpha ->
 *         LA (16-bit: RGBA, high byte); RGBA -> RGBA (16-bit: high byte). tRNS is ignored
 *         (convert("RGB") ignores it).
 *   JPEG  SOF: 1 component -> L, 3 -> RGB, 4 -> CMYK (Pillow assumes Adobe-inverted samples);
 *         precision other than 8 bits, lossless and arithmetic-coded JPEG -> UNSUPPORTED.
 *         EXIF orientation from the first APP1 "Exif" segment (both byte orders).
 *   GIF   first frame only; P, or L when there is no palette or it is the identity gray
 *         ramp (Pillow's _is_palette_needed). The transparency flag of the first frame is
 *         cleared before decoding, since Pillow keeps the index and convert("RGB") shows its
 *         palette colour.
 *   BMP   <= 8 bits: P, or L / "1" when the palette is the gray ramp / black-white
 *         (Pillow's rule); 32-bit with an alpha bit mask -> RGBA; otherwise RGB.
 * WebP, AVIF, HEIC/HEIF, TIFF, JPEG 2000 and JPEG XL are recognised by their magic bytes and
 * reported as UNSUPPORTED with the format's name.
 */
#include <stdio.h>
#include <string.h>

#include "image.h"

/* stb's public API (compiled in src/common/stb-image.c with the clipdb allocator, so its
 * buffers are released with clipdb__free and may be adopted as they are). */
#include <stb/stb_image.h>
unsigned char *clipdb__stbi_jpeg_load_4(const unsigned char *data, int len, int *out_w,
                                        int *out_h, int *out_transform);

/* stb's own dimension limit (STBI_MAX_DIMENSIONS in stb-image.c). */
#define MAX_SIDE (1 << 16)

void clipdb__image_release(clipdb__image *img) {
  if (img == NULL) return;
  clipdb__free(img->u8);
  clipdb__free(img->i32);
  memset(img, 0, sizeof *img);
}

const char *clipdb__image_mode_name(int32_t mode) {
  static const char *names[] = {"L", "LA", "RGB", "RGBA", "P", "1", "I", "CMYK"};
  return mode >= 0 && mode < 8 ? names[mode] : "?";
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

typedef enum { FMT_UNKNOWN, FMT_PNG, FMT_JPEG, FMT_GIF, FMT_BMP } format;

/* Name of a recognised but unsupported format, or NULL. */
static const char *unsupported_format(const uint8_t *d, size_t n) {
  if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
  if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) {
    const uint8_t *brand = d + 8;
    if (memcmp(brand, "avif", 4) == 0 || memcmp(brand, "avis", 4) == 0) return "AVIF";
    if (memcmp(brand, "heic", 4) == 0 || memcmp(brand, "heix", 4) == 0 ||
        memcmp(brand, "hevc", 4) == 0 || memcmp(brand, "heim", 4) == 0 ||
        memcmp(brand, "heis", 4) == 0 || memcmp(brand, "hevx", 4) == 0)
      return "HEIC";
    if (memcmp(brand, "mif1", 4) == 0 || memcmp(brand, "msf1", 4) == 0) return "HEIF";
    if (memcmp(brand, "jp2 ", 4) == 0) return "JPEG 2000";
    if (memcmp(brand, "jxl ", 4) == 0) return "JPEG XL";
    return NULL;
  }
  if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
  if (n >= 12 && memcmp(d, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0) return "JPEG 2000";
  if (n >= 4 && memcmp(d, "\xff\x4f\xff\x51", 4) == 0) return "JPEG 2000";
  if (n >= 12 && memcmp(d, "\0\0\0\x0cJXL \r\n\x87\n", 12) == 0) return "JPEG XL";
  if (n >= 2 && d[0] == 0xff && d[1] == 0x0a) return "JPEG XL";
  if (n >= 4 && memcmp(d, "8BPS", 4) == 0) return "PSD";
  if (n >= 10 && memcmp(d, "#?RADIANCE", 10) == 0) return "Radiance HDR";
  if (n >= 4 && memcmp(d, "qoif", 4) == 0) return "QOI";
  return NULL;
}

static format sniff(const uint8_t *d, size_t n) {
  if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return FMT_PNG;
  if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return FMT_JPEG;
  if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return FMT_GIF;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return FMT_BMP;
  return FMT_UNKNOWN;
}

/* ---- JPEG markers: SOF, APP1 EXIF orientation, APP14 Adobe ---------------------------- */

typedef struct jpeg_header {
  int sof;       /* SOF marker (0xC0..0xCF) or 0 */
  int precision; /* bits per sample */
  int components;
  int orientation; /* EXIF, 1 if absent */
  int width, height;
  size_t sos;      /* offset of the first start-of-scan marker, 0 if none */
} jpeg_header;

/* Orientation from an APP1 payload ("Exif\0\0" + TIFF). 1 when absent or malformed. */
static int exif_orientation(const uint8_t *p, size_t n) {
  if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0) return 1;
  const uint8_t *t = p + 6;
  const size_t tn = n - 6;
  int little;
  if (t[0] == 'I' && t[1] == 'I') little = 1;
  else if (t[0] == 'M' && t[1] == 'M') little = 0;
  else return 1;
#define U16(q) (little ? le16(q) : be16(q))
#define U32(q) (little ? le32(q) : be32(q))
  if (U16(t + 2) != 42) return 1;
  const uint32_t ifd = U32(t + 4);
  if (ifd > tn || tn - ifd < 2) return 1;
  const uint32_t count = U16(t + ifd);
  for (uint32_t i = 0; i < count; i++) {
    const size_t e = (size_t)ifd + 2 + (size_t)i * 12;
    if (e + 12 > tn) break;
    if (U16(t + e) != 0x0112) continue;
    const uint16_t type = U16(t + e + 2);
    uint32_t v;
    if (type == 3) v = U16(t + e + 8);      /* SHORT, stored in the value field */
    else if (type == 4) v = U32(t + e + 8); /* LONG */
    else return 1;
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
#undef U16
#undef U32
  return 1;
}

/* A Huffman table (DHT segment) whose 16 code counts add up to more than 256 symbols, which
 * JPEG does not allow: stb_image 2.27 writes that many code lengths into its 257-entry table
 * (past its end) before it looks at the count, so such a file is refused before stb sees it.
 * The walk follows stb's reading: bytes between segments are skipped, the entropy-coded data
 * after a start of scan runs to the next marker (0xFF not followed by 0x00 stuffing or a
 * restart marker), and a DHT segment is read table by table while its remaining length is
 * positive, 17 bytes at least each time, with zeros past the end of the file. 1 and the
 * segment's offset and symbol count when found; 0 otherwise (other damage is stb's to
 * report). */
static int jpeg_bad_huffman(const uint8_t *d, size_t n, size_t *where, int *symbols) {
  size_t at = 2;
  while (at + 1 < n) {
    if (d[at] != 0xff) { /* stb skips stray bytes between segments */
      at++;
      continue;
    }
    const int marker = d[at + 1];
    if (marker == 0xff) { /* fill byte */
      at++;
      continue;
    }
    if (marker == 0x00 || marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (marker == 0xd9) return 0;
    const size_t len = at + 4 <= n ? be16(d + at + 2) : 0;
    if (marker == 0xc4) {
      long left = (long)len - 2;
      size_t p = at + 4;
      while (left > 0) {
        int sum = 0;
        for (size_t i = 0; i < 16; i++) sum += p + 1 + i < n ? d[p + 1 + i] : 0;
        if (sum > 256) {
          *where = at;
          *symbols = sum;
          return 1;
        }
        p += 17 + (size_t)sum;
        left -= 17 + sum;
      }
      if (left != 0) return 0; /* stb stops at this segment */
    }
    if (len < 2) return 0;
    at += 2 + len;
    if (marker == 0xda)
      while (at + 1 < n && !(d[at] == 0xff && d[at + 1] != 0x00 && !(d[at + 1] >= 0xd0 && d[at + 1] <= 0xd7)))
        at++;
  }
  return 0;
}

static void jpeg_scan(const uint8_t *d, size_t n, jpeg_header *h) {
  memset(h, 0, sizeof *h);
  h->orientation = 1;
  int saw_exif = 0;
  size_t at = 2;
  while (at + 4 <= n) {
    if (d[at] != 0xff) return; /* stb reports the corruption */
    const int marker = d[at + 1];
    if (marker == 0xff) { /* fill byte */
      at++;
      continue;
    }
    if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {
      at += 2;
      continue;
    }
    if (marker == 0xda) h->sos = at;
    if (marker == 0xd9 || marker == 0xda) return; /* EOI / start of scan: headers done */
    const size_t len = be16(d + at + 2);
    if (len < 2 || at + 2 + len > n) return;
    const uint8_t *p = d + at + 4;
    const size_t pn = len - 2;
    if (marker == 0xe1 && !saw_exif && pn >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
      saw_exif = 1;
      h->orientation = exif_orientation(p, pn);
    } else if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 &&
               marker != 0xcc && h->sof == 0 && pn >= 6) {
      h->sof = marker;
      h->precision = p[0];
      h->height = be16(p + 1);
      h->width = be16(p + 3);
      h->components = p[5];
    }
    at += 2 + len;
  }
}

/* ---- PNG IHDR -------------------------------------------------------------------------- */

static clipdb_status png_mode(const uint8_t *d, size_t n, int32_t *mode, int *want16) {
  *want16 = 0;
  if (n < 8 + 8 + 13 || memcmp(d + 12, "IHDR", 4) != 0)
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                         "failed to decode PNG: truncated or missing IHDR header");
  const int depth = d[24], type = d[25];
  switch (type) {
    case 0:
      if (depth == 16) {
        *mode = CLIPDB__MODE_I;
        *want16 = 1;
      } else {
        *mode = depth == 1 ? CLIPDB__MODE_1 : CLIPDB__MODE_L;
      }
      return CLIPDB_STATUS_SUCCESS;
    case 2: *mode = CLIPDB__MODE_RGB; return CLIPDB_STATUS_SUCCESS;
    case 3: *mode = CLIPDB__MODE_P; return CLIPDB_STATUS_SUCCESS;
    case 4: /* Pillow opens 16-bit gray+alpha as RGBA ("LA;16B" unpacked to RGBA) */
      *mode = depth == 16 ? CLIPDB__MODE_RGBA : CLIPDB__MODE_LA;
      return CLIPDB_STATUS_SUCCESS;
    case 6: *mode = CLIPDB__MODE_RGBA; return CLIPDB_STATUS_SUCCESS;
    default:
      return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                           "failed to decode PNG: invalid colour type %d in IHDR", type);
  }
}

/* ---- GIF ------------------------------------------------------------------------------- */

/* Pillow's _is_palette_needed: false when entry i is (i, i, i) for every entry. */
static int palette_needed(const uint8_t *p, size_t entries) {
  for (size_t i = 0; i < entries; i++)
    if (p[3 * i] != i || p[3 * i + 1] != i || p[3 * i + 2] != i) return 1;
  return 0;
}

/* The first frame's rectangle and what Pillow shows outside it. */
typedef struct gif_frame {
  int x, y, w, h;     /* image descriptor rectangle */
  int fill_index;     /* transparency index if the frame has one, else 0 */
  const uint8_t *pal; /* the frame's palette (local, else global), NULL if none */
  size_t pal_entries;
} gif_frame;

/*
 * Walk the GIF up to the first image descriptor: decide P or L as Pillow does, and find the
 * first frame's Graphic Control Extension so its transparency flag can be cleared.
 * `gce_flags_at` gets the offset of the GCE packed byte (0 if none).
 */
static void gif_scan(const uint8_t *d, size_t n, int32_t *mode, size_t *gce_flags_at,
                     int *truncated, gif_frame *fr) {
  *mode = CLIPDB__MODE_P;
  *gce_flags_at = 0;
  *truncated = 0;
  memset(fr, 0, sizeof *fr);
  if (n < 13) return;
  int has_palette = 0;
  size_t at = 13;
  const int flags = d[10];
  if (flags & 0x80) {
    const size_t entries = (size_t)1 << ((flags & 7) + 1);
    if (at + 3 * entries > n) return;
    has_palette = palette_needed(d + at, entries);
    fr->pal = d + at;
    fr->pal_entries = entries;
    at += 3 * entries;
  }
  while (at < n) {
    const int block = d[at];
    if (block == 0x21) { /* extension */
      if (at + 2 > n) return;
      const int label = d[at + 1];
      size_t q = at + 2;
      if (label == 0xf9 && q + 5 <= n && d[q] >= 4) *gce_flags_at = q + 1;
      while (q < n && d[q] != 0) q += 1 + (size_t)d[q];
      at = q + 1;
    } else if (block == 0x2c) { /* image descriptor */
      if (at + 10 > n) return;
      const int iflags = d[at + 9];
      size_t q = at + 10;
      fr->x = le16(d + at + 1);
      fr->y = le16(d + at + 3);
      fr->w = le16(d + at + 5);
      fr->h = le16(d + at + 7);
      if (*gce_flags_at != 0 && (d[*gce_flags_at] & 1)) fr->fill_index = d[*gce_flags_at + 3];
      if (iflags & 0x80) {
        const size_t entries = (size_t)1 << ((iflags & 7) + 1);
        if (at + 10 + 3 * entries > n) return;
        has_palette = palette_needed(d + at + 10, entries);
        fr->pal = d + at + 10;
        fr->pal_entries = entries;
        q += 3 * entries;
      }
      *mode = has_palette ? CLIPDB__MODE_P : CLIPDB__MODE_L;
      /* stb decodes a first frame cut short without complaint: its LZW data sub-blocks
       * (after the code size byte) must end with a zero-length block inside the file. */
      q += 1;
      while (q < n && d[q] != 0) q += 1 + (size_t)d[q];
      *truncated = q >= n;
      return;
    } else {
      return;
    }
  }
}

/* ---- BMP ------------------------------------------------------------------------------- */

static void bmp_mode(const uint8_t *d, size_t n, int32_t *mode) {
  *mode = CLIPDB__MODE_RGB;
  if (n < 14 + 16) return;
  const uint32_t header = le32(d + 14);
  int bits, compression = 0, colors = 0;
  size_t pal_entry = 4;
  if (header == 12) { /* OS/2 core header */
    bits = le16(d + 14 + 10);
    pal_entry = 3;
  } else {
    if (n < 14 + 40) return;
    bits = le16(d + 14 + 14);
    compression = (int)le32(d + 14 + 16);
    colors = (int)le32(d + 14 + 32);
  }
  if (bits == 32 && compression == 3 && header >= 56 && n >= 14 + 56 &&
      le32(d + 14 + 52) != 0) {
    *mode = CLIPDB__MODE_RGBA; /* BI_BITFIELDS with an alpha mask */
    return;
  }
  if (bits > 8) return;
  if (colors <= 0) colors = 1 << bits;
  const size_t pal = 14 + header;
  if (pal + (size_t)colors * pal_entry > n) {
    *mode = CLIPDB__MODE_P;
    return;
  }
  int gray = 1;
  for (int i = 0; i < colors && gray; i++) {
    const int want = colors == 2 ? (i ? 255 : 0) : i;
    const uint8_t *e = d + pal + (size_t)i * pal_entry;
    if (e[0] != want || e[1] != want || e[2] != want) gray = 0;
  }
  if (colors == 2 && gray) *mode = CLIPDB__MODE_1;
  else *mode = gray ? CLIPDB__MODE_L : CLIPDB__MODE_P;
}

/* stb reads past the end of an uncompressed BMP as zeros; Pillow and we refuse it. */
static clipdb_status bmp_check_size(const uint8_t *d, size_t n) {
  if (n < 14 + 16) return CLIPDB_STATUS_SUCCESS; /* stb reports it */
  const uint32_t header = le32(d + 14);
  int64_t w, h;
  int bits, compression = 0;
  if (header == 12) {
    w = le16(d + 18);
    h = le16(d + 20);
    bits = le16(d + 24);
  } else {
    if (n < 14 + 20) return CLIPDB_STATUS_SUCCESS;
    w = (int32_t)le32(d + 18);
    h = (int32_t)le32(d + 22);
    bits = le16(d + 28);
    compression = (int)le32(d + 30);
  }
  if (h < 0) h = -h;
  if (w <= 0 || h <= 0 || bits <= 0 || (compression != 0 && compression != 3))
    return CLIPDB_STATUS_SUCCESS; /* RLE or odd headers: left to stb */
  const uint64_t row = (((uint64_t)w * (uint64_t)bits + 31) / 32) * 4;
  const uint64_t need = (uint64_t)le32(d + 10) + row * (uint64_t)h;
  if (need > n)
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                         "failed to decode BMP: truncated file (%zu bytes, the pixel rows need "
                         "%llu)", n, (unsigned long long)need);
  return CLIPDB_STATUS_SUCCESS;
}

/*
 * Outside the first frame's rectangle Pillow shows palette index 0, or the transparency
 * index when the frame has one (it starts from an image filled with that index); stb leaves
 * black or its background colour there.
 */
static void gif_fill_canvas(uint8_t *px, int w, int h, int channels, const gif_frame *fr) {
  if (fr->x == 0 && fr->y == 0 && fr->w >= w && fr->h >= h) return;
  uint8_t rgb[3] = {0, 0, 0};
  const size_t idx = (size_t)fr->fill_index;
  if (fr->pal != NULL && idx < fr->pal_entries) memcpy(rgb, fr->pal + 3 * idx, 3);
  else if (fr->pal == NULL) rgb[0] = rgb[1] = rgb[2] = (uint8_t)idx;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      if (x >= fr->x && x < fr->x + fr->w && y >= fr->y && y < fr->y + fr->h) continue;
      uint8_t *p = px + ((size_t)y * w + x) * channels;
      if (channels == 1) p[0] = rgb[0]; /* mode L: identity gray palette, so index = value */
      else memcpy(p, rgb, 3);
    }
  }
}

/* ---- decode ---------------------------------------------------------------------------- */

/* A PNG whose chunks run past the end of the data, or that stops before IEND: the byte
 * offset and type of the chunk that was cut (stb reports such files as corrupt or as an
 * unknown chunk, because it reads the missing bytes as zeros). 0 when the file is whole. */
static int png_truncated(const uint8_t *d, size_t n, size_t *at, char type[5], uint64_t *need) {
  size_t pos = 8;
  memset(type, 0, 5);
  while (pos + 8 <= n) {
    const uint64_t len = be32(d + pos);
    for (int i = 0; i < 4; i++) {
      const uint8_t c = d[pos + 4 + i];
      type[i] = (char)((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? c : '?');
    }
    if (pos + 12 + len > n) {
      *at = pos;
      *need = 12 + len;
      return 1;
    }
    if (memcmp(type, "IEND", 4) == 0) return 0;
    pos += 12 + (size_t)len;
  }
  *at = pos;
  *need = 12;
  if (pos < n) memcpy(type, "????", 4);
  else memset(type, 0, 5);
  return 1;
}

static clipdb_status stb_failure(const char *fmt_name, const uint8_t *data, size_t size) {
  size_t at = 0;
  uint64_t need = 0;
  char type[5];
  if (strcmp(fmt_name, "PNG") == 0 && png_truncated(data, size, &at, type, &need)) {
    if (type[0] != '\0' && memcmp(type, "????", 4) != 0)
      return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                           "failed to decode PNG: truncated file (the %s chunk at byte %zu needs "
                           "%llu bytes, %zu are left)", type, at, (unsigned long long)need,
                           size - at);
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                         "failed to decode PNG: truncated file (it ends at byte %zu, before the "
                         "IEND chunk)", size);
  }
  const char *why = stbi_failure_reason();
  if (why != NULL && strcmp(why, "Out of memory") == 0)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to decode %s: out of memory",
                         fmt_name);
  return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE, "failed to decode %s: %s", fmt_name,
                       why != NULL ? why : "corrupt or truncated data");
}

static int channels_of(int32_t mode) {
  switch (mode) {
    case CLIPDB__MODE_L: case CLIPDB__MODE_1: case CLIPDB__MODE_I: return 1;
    case CLIPDB__MODE_LA: return 2;
    case CLIPDB__MODE_RGB: case CLIPDB__MODE_P: return 3;
    default: return 4;
  }
}

clipdb_status clipdb__image_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                                   clipdb__image *img, clipdb_image_info *info) {
  memset(img, 0, sizeof *img);
  memset(info, 0, sizeof *info);
  info->orientation = 1;
  if (size == 0)
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE, "failed to decode image: empty input (0 bytes)");
  const char *unsupported = unsupported_format(data, size);
  if (unsupported != NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_UNSUPPORTED,
                         "failed to decode image: %s is not supported (JPEG, PNG, BMP and GIF are)",
                         unsupported);
  const format fmt = sniff(data, size);
  if (fmt == FMT_UNKNOWN)
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                         "failed to decode image: unrecognised format (%zu bytes, not JPEG, PNG, "
                         "BMP or GIF)", size);
  if (size > 0x7fffffff)
    return clipdb__error(NULL, CLIPDB_STATUS_IMAGE_TOO_LARGE,
                         "failed to decode image: %zu bytes is over the 2 GiB decoder limit", size);
  static const char *names[] = {"image", "PNG", "JPEG", "GIF", "BMP"};
  const char *name = names[fmt];
  snprintf(info->format, sizeof info->format, "%s", name);

  int32_t mode = CLIPDB__MODE_RGB;
  int want16 = 0;
  size_t gce_flags_at = 0;
  gif_frame gif;
  memset(&gif, 0, sizeof gif);
  jpeg_header jh;
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  switch (fmt) {
    case FMT_PNG:
      status = png_mode(data, size, &mode, &want16);
      if (status != CLIPDB_STATUS_SUCCESS) return status;
      {
        /* A chunk that claims more bytes than the file has left is refused here: stb would
         * first grow its buffer to the claimed length (up to 2 GiB for a file of a few
         * bytes, memory that wasm never gives back) before finding the data missing. */
        size_t at = 0;
        uint64_t need = 0;
        char type[5];
        if (png_truncated(data, size, &at, type, &need) && need > 12 && memcmp(type, "IEND", 4) != 0)
          return stb_failure(name, data, size);
      }
      break;
    case FMT_JPEG: {
      jpeg_scan(data, size, &jh);
      info->orientation = jh.orientation;
      size_t dht_at = 0;
      int dht_symbols = 0;
      if (jpeg_bad_huffman(data, size, &dht_at, &dht_symbols))
        return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                             "failed to decode JPEG: the Huffman table at byte %zu has %d codes "
                             "(at most 256)", dht_at, dht_symbols);
      if (jh.sof == 0xc3 || jh.sof == 0xc7 || jh.sof == 0xcb || jh.sof == 0xcf)
        return clipdb__error(NULL, CLIPDB_STATUS_UNSUPPORTED,
                             "failed to decode JPEG: lossless JPEG (SOF%d) is not supported",
                             jh.sof - 0xc0);
      if (jh.sof >= 0xc9)
        return clipdb__error(NULL, CLIPDB_STATUS_UNSUPPORTED,
                             "failed to decode JPEG: arithmetic-coded JPEG (SOF%d) is not "
                             "supported", jh.sof - 0xc0);
      if (jh.sof == 0xc5 || jh.sof == 0xc6)
        return clipdb__error(NULL, CLIPDB_STATUS_UNSUPPORTED,
                             "failed to decode JPEG: hierarchical JPEG (SOF%d) is not supported",
                             jh.sof - 0xc0);
      if (jh.sof != 0 && jh.precision != 8)
        return clipdb__error(NULL, CLIPDB_STATUS_UNSUPPORTED,
                             "failed to decode JPEG: %d-bit JPEG is not supported (8-bit only)",
                             jh.precision);
      if (jh.sof != 0 && jh.components != 1 && jh.components != 3 && jh.components != 4)
        return clipdb__error(NULL, CLIPDB_STATUS_UNSUPPORTED,
                             "failed to decode JPEG: %d colour components are not supported",
                             jh.components);
      /* stb decodes a JPEG cut short as if the rest were flat; Pillow (and we) refuse it.
       * After the first scan 0xFF 0xD9 can only be the end-of-image marker (entropy-coded
       * 0xFF bytes are stuffed), so its absence means the file was truncated. */
      if (jh.sof != 0 && jh.sos != 0) {
        int eoi = 0;
        for (size_t i = size - 1; i > jh.sos && !eoi; i--) eoi = data[i - 1] == 0xff && data[i] == 0xd9;
        if (!eoi)
          return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                               "failed to decode JPEG: truncated file (no end-of-image marker "
                               "after the image data, %zu bytes)", size);
      }
      mode = jh.components == 1 ? CLIPDB__MODE_L
             : jh.components == 4 ? CLIPDB__MODE_CMYK : CLIPDB__MODE_RGB;
      break;
    }
    case FMT_GIF: {
      int truncated = 0;
      gif_scan(data, size, &mode, &gce_flags_at, &truncated, &gif);
      if (truncated)
        return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE,
                             "failed to decode GIF: truncated file (the first frame's data runs "
                             "past the end of the %zu bytes)", size);
      break;
    }
    case FMT_BMP:
      bmp_mode(data, size, &mode);
      status = bmp_check_size(data, size);
      if (status != CLIPDB_STATUS_SUCCESS) return status;
      break;
    default: break;
  }

  /* Decompression-bomb guard: the header's size, before any pixel is decoded (our own
   * reading first: stb refuses some large headers with a generic message). */
  int64_t hw = 0, hh = 0;
  switch (fmt) {
    case FMT_PNG: hw = be32(data + 16); hh = be32(data + 20); break;
    case FMT_JPEG: hw = jh.width; hh = jh.height; break;
    case FMT_GIF:
      if (size >= 10) {
        hw = le16(data + 6);
        hh = le16(data + 8);
      }
      break;
    case FMT_BMP:
      if (size >= 26 && le32(data + 14) == 12) {
        hw = le16(data + 18);
        hh = le16(data + 20);
      } else if (size >= 26) {
        hw = (int32_t)le32(data + 18);
        hh = (int32_t)le32(data + 22);
        if (hh < 0) hh = -hh; /* top-down rows */
      }
      break;
    default: break;
  }
  if (hw > 0 && hh > 0 && ((uint64_t)hw * (uint64_t)hh > max_pixels || hw > MAX_SIDE || hh > MAX_SIDE))
    return clipdb__error(NULL, CLIPDB_STATUS_IMAGE_TOO_LARGE,
                         "failed to decode %s: %lld x %lld = %llu pixels is over the limit of %llu "
                         "pixels (and %d per side)", name, (long long)hw, (long long)hh,
                         (unsigned long long)hw * (unsigned long long)hh,
                         (unsigned long long)max_pixels, MAX_SIDE);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp)) return stb_failure(name, data, size);
  if (w <= 0 || h <= 0)
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_IMAGE, "failed to decode %s: size %d x %d",
                         name, w, h);
  if ((uint64_t)w * (uint64_t)h > max_pixels || w > MAX_SIDE || h > MAX_SIDE)
    return clipdb__error(NULL, CLIPDB_STATUS_IMAGE_TOO_LARGE,
                         "failed to decode %s: %d x %d = %llu pixels is over the limit of %llu "
                         "pixels (and %d per side)", name, w, h,
                         (unsigned long long)w * (unsigned long long)h,
                         (unsigned long long)max_pixels, MAX_SIDE);

  const int channels = channels_of(mode);
  int dw = 0, dh = 0, file_comp = 0;
  if (mode == CLIPDB__MODE_I && want16) {
    unsigned short *p16 = stbi_load_16_from_memory(data, (int)size, &dw, &dh, &file_comp, 1);
    if (p16 == NULL) return stb_failure(name, data, size);
    img->i32 = clipdb__malloc((size_t)dw * (size_t)dh * sizeof(int32_t));
    if (img->i32 == NULL) {
      stbi_image_free(p16);
      return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to decode %s: out of memory for %d x %d pixels", name, dw, dh);
    }
    for (size_t i = 0; i < (size_t)dw * (size_t)dh; i++) img->i32[i] = p16[i];
    stbi_image_free(p16);
  } else if (mode == CLIPDB__MODE_CMYK) {
    int transform = -1;
    stbi_uc *raw = clipdb__stbi_jpeg_load_4(data, (int)size, &dw, &dh, &transform);
    if (raw == NULL) return stb_failure(name, data, size);
    /* Pillow reads every 4-component JPEG as Adobe-inverted CMYK ("CMYK;I"); for YCCK
     * libjpeg first turns YCC into inverted RGB, so the RGB channels come out as stored. */
    const size_t n = (size_t)dw * (size_t)dh * 4;
    for (size_t i = 0; i < n; i++)
      if (transform != 2 || (i & 3) == 3) raw[i] = (stbi_uc)(255 - raw[i]);
    img->u8 = raw; /* allocated by clipdb__malloc through STBI_MALLOC */
  } else {
    const uint8_t *src = data;
    uint8_t *patched = NULL;
    if (gce_flags_at != 0 && (data[gce_flags_at] & 1)) {
      /* First GIF frame: clear "transparent colour" so stb writes that index's colour. */
      patched = clipdb__malloc(size);
      if (patched == NULL)
        return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                             "failed to decode GIF: out of memory for a %zu-byte copy", size);
      memcpy(patched, data, size);
      patched[gce_flags_at] &= (uint8_t)~1u;
      src = patched;
    }
    stbi_uc *p = stbi_load_from_memory(src, (int)size, &dw, &dh, &file_comp, channels);
    clipdb__free(patched);
    if (p == NULL) return stb_failure(name, data, size);
    img->u8 = p; /* allocated by clipdb__malloc through STBI_MALLOC */
    if (fmt == FMT_GIF) gif_fill_canvas(img->u8, dw, dh, channels, &gif);
  }
  img->width = dw;
  img->height = dh;
  img->channels = channels;
  img->mode = mode;
  info->width = dw;
  info->height = dh;
  snprintf(info->mode, sizeof info->mode, "%s", clipdb__image_mode_name(mode));
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb__image_orient(clipdb__image *img, int orientation) {
  if (orientation < 2 || orientation > 8) return CLIPDB_STATUS_SUCCESS;
  const int32_t w = img->width, h = img->height;
  const int swap = orientation >= 5; /* 5..8 exchange width and height */
  const int32_t ow = swap ? h : w, oh = swap ? w : h;
  const size_t es = img->i32 != NULL ? sizeof(int32_t) : (size_t)img->channels;
  const uint8_t *src = img->i32 != NULL ? (const uint8_t *)img->i32 : img->u8;
  uint8_t *dst = clipdb__malloc((size_t)w * (size_t)h * es);
  if (dst == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to apply EXIF orientation: out of memory for %d x %d pixels",
                         (int)w, (int)h);
  for (int32_t y = 0; y < oh; y++) {
    for (int32_t x = 0; x < ow; x++) {
      int32_t sx, sy;
      switch (orientation) {
        case 2: sx = w - 1 - x; sy = y; break;          /* FLIP_LEFT_RIGHT */
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;  /* ROTATE_180 */
        case 4: sx = x; sy = h - 1 - y; break;          /* FLIP_TOP_BOTTOM */
        case 5: sx = y; sy = x; break;                  /* TRANSPOSE */
        case 6: sx = y; sy = h - 1 - x; break;          /* ROTATE_270 (90 deg clockwise) */
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;  /* TRANSVERSE */
        default: sx = w - 1 - y; sy = x; break;         /* 8: ROTATE_90 (counter-clockwise) */
      }
      memcpy(dst + ((size_t)y * ow + x) * es, src + ((size_t)sy * w + sx) * es, es);
    }
  }
  if (img->i32 != NULL) {
    clipdb__free(img->i32);
    img->i32 = (int32_t *)dst;
  } else {
    clipdb__free(img->u8);
    img->u8 = dst;
  }
  img->width = ow;
  img->height = oh;
  return CLIPDB_STATUS_SUCCESS;
}
