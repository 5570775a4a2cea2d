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
