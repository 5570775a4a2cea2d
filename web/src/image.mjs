// Image preprocessing on the wasm build: decode (JPEG, PNG, BMP, GIF) and the official CLIP
// transform (clip/clip.py `_transform`: Resize(R, BICUBIC) on a PIL image, CenterCrop(R),
// convert("RGB"), ToTensor, Normalize), reproducing Pillow 9.4's arithmetic; see
// include/clipdb.h (clipdb_image_preprocess).
// Reaches wasm only through binding.mjs, on the module its caller passes (`options.module`),
// else the shared default instance.
import { getModule } from './module.mjs';
import { ClipdbError } from './errors.mjs';
import * as b from './binding.mjs';

const readDefaults = (mod) => b.clipdb_image_default_params(mod);

function resolveOptions(mod, options) {
  const d = readDefaults(mod);
  const cfg = options && options.model && options.model.config;
  if (cfg) {
    // a ClipModel (engine.mjs): its resolution and normalisation, unless given explicitly
    if (cfg.image_resolution > 0) d.resolution = cfg.image_resolution;
    if (cfg.image_mean && cfg.image_std) {
      d.mean = Array.from(cfg.image_mean);
      d.std = Array.from(cfg.image_std);
    }
  }
  const given = Object.fromEntries(Object.entries(options || {}).filter(([k, v]) => v !== undefined && k !== 'model'));
  const o = { ...d, ...given };
  if (!Number.isInteger(o.resolution) || o.resolution < 1)
    throw new ClipdbError('INVALID_ARGUMENT', `preprocess: resolution must be a positive integer, not ${o.resolution}`);
  for (const k of ['mean', 'std'])
    if (!o[k] || o[k].length !== 3)
      throw new ClipdbError('INVALID_ARGUMENT', `preprocess: ${k} must have 3 values (RGB)`);
  if (o.exif !== 'ignore' && o.exif !== 'apply')
    throw new ClipdbError('INVALID_ARGUMENT', `preprocess: exif must be 'ignore' or 'apply', not '${o.exif}'`);
  return o;
}

function isImageDataLike(x) {
  return x != null && typeof x === 'object' && typeof x.width === 'number' && typeof x.height === 'number' &&
    x.data != null && typeof x.data.length === 'number' && !(x instanceof ArrayBuffer) && !ArrayBuffer.isView(x);
}

async function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  throw new ClipdbError('INVALID_ARGUMENT',
    'preprocess: input must be encoded image bytes (ArrayBuffer, Uint8Array, Blob) or ImageData-like {data, width, height}');
}

/**
 * Preprocess one image exactly as the official CLIP pipeline does.
 *
 * `input`: encoded bytes (ArrayBuffer, Uint8Array or another typed array view, Blob) of a
 * JPEG, PNG, BMP or GIF (first frame); or decoded 8-bit pixels `{data, width, height}` such as
 * a browser `ImageData` (4 channels: RGBA, resized premultiplied as Pillow does for RGBA) or
 * 3-channel RGB. Browsers apply EXIF orientation when they draw an image (and
 * createImageBitmap does by default), so ImageData is already upright and `exif` only
 * affects encoded input: with the default 'apply' both paths see the same upright photo.
 *
 * Options: `module`, the clipdb wasm instance to run on (createModule(); the edge entry
 * passes its own), else `model`'s, else the shared default one. Preprocessing options
 * (defaults from the C library, clipdb_image_default_params, or from `model`, a ClipModel from loadModel(), whose config gives resolution, mean and std): `resolution` (224),
 * `mean` / `std` (OpenAI CLIP's, RGB), `maxPixels` (178956970, Pillow's decompression-bomb
 * limit; checked from the header before decoding), `exif`: 'apply' (default: rotate/flip
 * by the JPEG EXIF orientation first, as PIL.ImageOps.exif_transpose, so the bytes of a
 * phone photo give what a browser draws and an ImageData of it gives; README
 * "Images") or 'ignore' (reference parity: PIL.Image.open + the official transform, which
 * do not rotate; the golden embeddings assume it).
 *
 * Returns a new Float32Array [3 * R * R] (CHW, RGB, normalised). Throws ClipdbError with
 * code BAD_IMAGE (corrupt, truncated or empty), UNSUPPORTED (WebP, AVIF, HEIC, TIFF, 12-bit
 * JPEG, ...; the message names the format), IMAGE_TOO_LARGE, INVALID_ARGUMENT or
 * OUT_OF_MEMORY. With `{info: true}` in options, returns `{pixels, info}` where info is
 * {format, mode, width, height, orientation} (encoded input only).
 *
 * @example
 *   const pixels = await preprocess(await file.arrayBuffer()); // upright (EXIF applied)
 *   const parity = await preprocess(bytes, { exif: 'ignore' }); // as the official pipeline
 */
export async function preprocess(input, options = {}) {
  const mod = options.module || (options.model && options.model.module) || (await getModule());
  const o = resolveOptions(mod, options);
  if (isImageDataLike(input)) {
    const { width, height, data } = input;
    if (!(width > 0 && height > 0) || data.length % (width * height) !== 0)
      throw new ClipdbError('INVALID_ARGUMENT', `preprocess: ${data.length} samples do not fit ${width} x ${height} pixels`);
    const r = b.clipdb_image_preprocess_pixels(mod, data, width, height, data.length / (width * height), o);
    return b.check(mod, r, 'preprocess').pixels;
  }
  const bytes = await toBytes(input);
  const r = b.check(mod, b.clipdb_image_preprocess(mod, bytes, o), 'preprocess');
  if (options.info) return { pixels: r.pixels, info: r.info };
  return r.pixels;
}

/** The C library's default preprocessing options (resolution, mean, std, maxPixels, exif). */
export async function defaultImageOptions(options = {}) {
  return readDefaults(options.module || (await getModule()));
}
