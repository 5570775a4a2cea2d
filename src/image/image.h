/*
 * Private interface of the image pipeline (src/image/): decoding into the "mode" Pillow would
 * give the file (decode.c), Pillow's resamplers restricted to the centre-crop window
 * (resample.c), and the public entry points that tie them together (preprocess.c).
 *
 * The reference is the official CLIP transform (clip/clip.py `_transform`: torchvision
 * Resize(R, BICUBIC) on a PIL image, CenterCrop(R), convert("RGB"), ToTensor, Normalize) run
 * on Pillow 9.4; every step of it is reproduced, Pillow's integer arithmetic included.
 */
#ifndef CLIPDB_IMAGE_H
#define CLIPDB_IMAGE_H

#include <stdint.h>

#include "../clipdb-impl.h"

/* The Pillow modes that reach the resampler. */
typedef enum clipdb__image_mode {
  CLIPDB__MODE_L = 0,    /* 8-bit gray, 1 channel */
  CLIPDB__MODE_LA = 1,   /* gray + alpha, 2 channels (resampled premultiplied) */
  CLIPDB__MODE_RGB = 2,  /* 3 channels */
  CLIPDB__MODE_RGBA = 3, /* 4 channels (resampled premultiplied) */
  CLIPDB__MODE_P = 4,    /* palette, stored already looked up as RGB (3 channels); NEAREST */
  CLIPDB__MODE_1 = 5,    /* bilevel, stored as 0/255 (1 channel); NEAREST */
  CLIPDB__MODE_I = 6,    /* 32-bit signed integer gray (16-bit PNG), 1 channel in `i32` */
  CLIPDB__MODE_CMYK = 7, /* 4 channels, Pillow's convention (0 = no ink) */
} clipdb__image_mode;

/* A decoded image. Exactly one of u8 / i32 is set (i32 for mode I), rows packed. */
typedef struct clipdb__image {
  int32_t width, height;
  int32_t channels; /* samples per pixel */
  int32_t mode;     /* clipdb__image_mode */
  uint8_t *u8;      /* width*height*channels, owned (clipdb__malloc) */
  int32_t *i32;     /* width*height, owned (clipdb__malloc) */
} clipdb__image;

void clipdb__image_release(clipdb__image *img);
const char *clipdb__image_mode_name(int32_t mode);

/*
 * Decode `data` into `img` in the mode Pillow would open it in. Checks the pixel count from
 * the header against `max_pixels` before decoding. `info` (not NULL) gets format, mode, size
 * and the EXIF orientation (JPEG APP1; 1 when absent or unreadable).
 */
clipdb_status clipdb__image_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                                   clipdb__image *img, clipdb_image_info *info);

/* Apply EXIF `orientation` (2..8) in place, as PIL.ImageOps.exif_transpose does. */
clipdb_status clipdb__image_orient(clipdb__image *img, int orientation);

/*
 * Resize `in` to tw x th as Pillow's Image.resize(BICUBIC) does for in->mode (NEAREST for
 * P and 1, the fixed-point 8-bit resampler for 8-bit modes, the double one for mode I; the
 * caller premultiplies RGBA/LA), computing only the `side` x `side` window at (left, top)
 * of the result. `out` gets a new image of that window in the same mode.
 */
clipdb_status clipdb__image_resize_window(const clipdb__image *in, int32_t tw, int32_t th,
                                          int32_t left, int32_t top, int32_t side,
                                          clipdb__image *out);

#endif
