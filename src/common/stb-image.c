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

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
