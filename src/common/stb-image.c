/*
 * The one translation unit that compiles stb_image (Debian's libstb-dev header, never a
 * copy). Configuration:
 *  - only the formats clipdb decodes (JPEG, PNG, BMP, GIF); PNG brings stb's zlib inflate,
 *    which the tokenizer also uses for bpe_simple_vocab_16e6.txt.gz;
 *  - memory input only (STBI_NO_STDIO): in wasm there are no files;
 *  - clipdb's counted allocator, so decoded images show up in clipdb_allocated_bytes();
 *  - a dimension limit well under stb's 2^24; the pixel-count guard is clipdb's own
 *    (clipdb_image_params.max_pixels), checked before decoding from the header;
 *  - no assert() aborts in release builds: stb's asserts guard internal invariants only.
 * stb's failure reasons are per thread (STBI_THREAD_LOCAL) and are translated into
 * clipdb_status + message by the image pipeline.
 *
 * One addition of ours (clipdb__stbi_jpeg_load_4): stb converts 4-component JPEGs to RGB
 * itself, but the official pipeline (Pillow) keeps them as CMYK, resizes in CMYK and only
 * then converts, so the image pipeline needs the 4 decoded channels as stored. That function
 * reuses stb's JPEG decoder and chroma upsamplers and only replaces the final colour step.
 */
#include "../clipdb-impl.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 16)
#define STBI_MALLOC(sz) clipdb__malloc(sz)
#define STBI_REALLOC(p, newsz) clipdb__realloc(p, newsz)
#define STBI_FREE(p) clipdb__free(p)
#define STBI_ASSERT(x) ((void)0)
#define STBI_FAILURE_USERMSG /* "Corrupt PNG" rather than "bad IHDR" in our messages */

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb/stb_image.h>

unsigned char *clipdb__stbi_jpeg_load_4(const unsigned char *data, int len, int *out_w,
                                        int *out_h, int *out_transform);
int clipdb__stbi_inflate_raw(const unsigned char *in, size_t n, size_t size_hint, char **out,
                             size_t *out_n, size_t *used);

/*
 * Inflate the raw DEFLATE stream (RFC 1951) at the start of in[0..n), which other bytes must
 * follow (gzip's 8-byte trailer: see "3" below). On success (0) *out (clipdb__malloc'ed,
 * release with clipdb__free) holds *out_n inflated bytes and *used is the stream's length
 * in bytes, the partly used last byte included. `size_hint`: first output capacity (the
 * buffer grows as needed). Failures, *out NULL: 1 corrupt data (bad block type, Huffman
 * code, distance or stored-block length), 2 out of memory, 3 the decoder reached the end of
 * `in`: the stream is cut off, or ends less than 4 bytes before the end of `in`.
 *
 * Why not stb's stbi_zlib_decode_noheader_malloc on exactly the stream's bytes: stb 2.27's
 * stbi__zhuffman_decode fails ("bad huffman code") whenever fewer than 16 bits are buffered
 * and its input is exhausted, even when the remaining bits hold the last symbols, so a valid
 * stream that is the very end of its buffer is rejected unless its last codes happen to fit
 * (stb's PNG reader never hits this: zlib's 4-byte Adler-32 follows the stream). Passing
 * the bytes after the stream too avoids that, and then the position where the stream ended
 * is needed to find the trailer.
 *
 * Bit accounting: stb fetches whole bytes into a 32-bit buffer (num_bits = bits held, at
 * most 32) and consumes codes from its low end; the stream's padding bits after its last
 * block are at most 7, so once the last block is decoded the stream occupied
 * fetched - floor(num_bits / 8) bytes. stb's stbi__zget8 returns 0 without advancing at the
 * end of input, so that count is only exact while the input was not exhausted: hence "3".
 */
int clipdb__stbi_inflate_raw(const unsigned char *in, size_t n, size_t size_hint, char **out,
                             size_t *out_n, size_t *used) {
  *out = NULL;
  *out_n = 0;
  *used = 0;
  if (size_hint < 64) size_hint = 64;
  if (size_hint > (1u << 30)) size_hint = 1u << 30;
  char *buf = (char *)stbi__malloc(size_hint);
  if (buf == NULL) return 2;
  stbi__zbuf a;
  memset(&a, 0, sizeof a);
  a.zbuffer = (stbi_uc *)in;
  a.zbuffer_end = (stbi_uc *)in + n;
  stbi__g_failure_reason = NULL;
  int ok = stbi__do_zlib(&a, buf, (int)size_hint, 1, 0);
  const char *why = stbi__g_failure_reason;
  if (!ok || a.zbuffer >= a.zbuffer_end) {
    STBI_FREE(a.zout_start); /* the (possibly grown) output buffer */
    if (a.zbuffer >= a.zbuffer_end) return 3;
    return why != NULL && strcmp(why, "Out of memory") == 0 ? 2 : 1;
  }
  *out = a.zout_start;
  *out_n = (size_t)(a.zout - a.zout_start);
  *used = (size_t)(a.zbuffer - (stbi_uc *)in) - (size_t)(a.num_bits / 8);
  return 0;
}

/*
 * Decode a 4-component JPEG into interleaved 4-channel samples: the stored channels for
 * Adobe transform 0 or no Adobe marker (CMYK as written, i.e. inverted for Adobe files), or
 * for transform 2 (YCCK) the first three converted from YCbCr to RGB and the fourth as
 * stored. `*out_transform` gets the APP14 transform (-1 when absent). NULL on failure with
 * stbi_failure_reason() set. Free with stbi_image_free.
 */
unsigned char *clipdb__stbi_jpeg_load_4(const unsigned char *data, int len, int *out_w,
                                        int *out_h, int *out_transform) {
  stbi__context ctx;
  stbi__start_mem(&ctx, data, len);
  stbi__jpeg *z = (stbi__jpeg *)stbi__malloc(sizeof(stbi__jpeg));
  if (z == NULL) return stbi__errpuc("outofmem", "Out of memory");
  z->s = &ctx;
  stbi__setup_jpeg(z);
  z->s->img_n = 0;
  unsigned char *result = NULL;
  if (!stbi__decode_jpeg_image(z)) goto done;
  if (z->s->img_n != 4) {
    stbi__err("not 4 components", "Internal error: expected a 4-component JPEG");
    goto done;
  }
  {
    stbi__resample planes[4];
    unsigned char *rows[4];
    const unsigned int w = z->s->img_x, h = z->s->img_y;
    for (int c = 0; c < 4; c++) {
      stbi__resample *r = &planes[c];
      z->img_comp[c].linebuf = (stbi_uc *)stbi__malloc(w + 3);
      if (z->img_comp[c].linebuf == NULL) {
        stbi__err("outofmem", "Out of memory");
        goto done;
      }
      r->hs = z->img_h_max / z->img_comp[c].h;
      r->vs = z->img_v_max / z->img_comp[c].v;
      r->ystep = r->vs >> 1;
      r->w_lores = (w + r->hs - 1) / r->hs;
      r->ypos = 0;
      r->line0 = r->line1 = z->img_comp[c].data;
      if (r->hs == 1 && r->vs == 1) r->resample = resample_row_1;
      else if (r->hs == 1 && r->vs == 2) r->resample = stbi__resample_row_v_2;
      else if (r->hs == 2 && r->vs == 1) r->resample = stbi__resample_row_h_2;
      else if (r->hs == 2 && r->vs == 2) r->resample = z->resample_row_hv_2_kernel;
      else r->resample = stbi__resample_row_generic;
    }
    result = (unsigned char *)stbi__malloc_mad3(4, (int)w, (int)h, 0);
    if (result == NULL) {
      stbi__err("outofmem", "Out of memory");
      goto done;
    }
    for (unsigned int y = 0; y < h; y++) {
      unsigned char *out = result + (size_t)4 * w * y;
      for (int c = 0; c < 4; c++) {
        stbi__resample *r = &planes[c];
        int bottom = r->ystep >= (r->vs >> 1);
        rows[c] = r->resample(z->img_comp[c].linebuf, bottom ? r->line1 : r->line0,
                              bottom ? r->line0 : r->line1, r->w_lores, r->hs);
        if (++r->ystep >= r->vs) {
          r->ystep = 0;
          r->line0 = r->line1;
          if (++r->ypos < z->img_comp[c].y) r->line1 += z->img_comp[c].w2;
        }
      }
      if (z->app14_color_transform == 2) {
        z->YCbCr_to_RGB_kernel(out, rows[0], rows[1], rows[2], (int)w, 4);
        for (unsigned int x = 0; x < w; x++) out[4 * x + 3] = rows[3][x];
      } else {
        for (unsigned int x = 0; x < w; x++) {
          out[4 * x + 0] = rows[0][x];
          out[4 * x + 1] = rows[1][x];
          out[4 * x + 2] = rows[2][x];
          out[4 * x + 3] = rows[3][x];
        }
      }
    }
    *out_w = (int)w;
    *out_h = (int)h;
    *out_transform = z->app14_color_transform;
  }
done:
  stbi__cleanup_jpeg(z);
  STBI_FREE(z);
  return result;
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
