/*
 * The one translation unit that compiles stb_image_write (Debian's libstb-dev header, never
 * a copy), next to stb-image.c and configured the same way:
 *  - memory output only (STBI_WRITE_NO_STDIO): callers pass a write callback; in wasm there
 *    are no files;
 *  - clipdb's counted allocator, so its scratch buffers show up in clipdb_allocated_bytes();
 *  - no assert() aborts: stb's asserts guard internal invariants only.
 * clipdb uses its JPEG encoder (stbi_write_jpg_to_func) for thumbnails (src/image/thumbnail.c);
 * the other writers come with the header and are left unused.
 */
#include "../clipdb-impl.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_MALLOC(sz) clipdb__malloc(sz)
#define STBIW_REALLOC(p, newsz) clipdb__realloc(p, newsz)
#define STBIW_FREE(p) clipdb__free(p)
#define STBIW_ASSERT(x) ((void)0)

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
