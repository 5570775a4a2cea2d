/*
 * The 21 image entries of the golden manifest (../shared/golden/tiny-vit/manifest.json
 * `images`): reference tensor name, input file, the mode Pillow opens it in, and whether
 * the entry applies EXIF orientation (ImageOps.exif_transpose) first. Inputs only; the
 * expected values are read from reference.safetensors.
 */
#ifndef CLIPDB_TEST_IMAGE_ENTRIES_H
#define CLIPDB_TEST_IMAGE_ENTRIES_H

#include <string.h>

static const struct entry {
  const char *name, *file, *mode;
  int exif_apply;
} entries[] = {
    {"astronaut", "astronaut.png", "RGB", 0},
    {"chelsea", "chelsea.png", "RGB", 0},
    {"coffee", "coffee.png", "RGB", 0},
    {"rocket", "rocket.jpg", "RGB", 0},
    {"camera", "camera.png", "L", 0},
    {"coins", "coins.png", "L", 0},
    {"hubble_deep_field", "hubble_deep_field.jpg", "RGB", 0},
    {"wide_300x120", "wide_300x120.png", "RGB", 0},
    {"tall_97x513", "tall_97x513.png", "RGB", 0},
    {"tiny_1x1", "tiny_1x1.png", "RGB", 0},
    {"tiny_3x3", "tiny_3x3.png", "RGB", 0},
    {"gray_L", "gray_L.png", "L", 0},
    {"rgba_transparent", "rgba_transparent.png", "RGBA", 0},
    {"palette_P", "palette_P.png", "P", 0},
    {"gray16", "gray16.png", "I", 0},
    {"cmyk", "cmyk.jpg", "CMYK", 0},
    {"progressive", "progressive.jpg", "RGB", 0},
    {"exif_orientation6", "exif_orientation6.jpg", "RGB", 0},
    {"bmp24", "bmp24.bmp", "RGB", 0},
    {"anim_gif", "anim.gif", "P", 0},
    {"exif_orientation6_transposed", "exif_orientation6.jpg", "RGB", 1},
};
#define N_ENTRIES (sizeof entries / sizeof entries[0])

/* JPEG entries are decoded by stb_image, not libjpeg-turbo: close, not bit-exact. */
static inline int entry_is_jpeg(const struct entry *e) { return strstr(e->file, ".jpg") != NULL; }

#endif
