// Image preprocessing on the wasm build: decode (JPEG, PNG, BMP, GIF) and the official CLIP
// transform (clip/clip.py `_transform`: Resize(R, BICUBIC) on a PIL image, CenterCrop(R),
// convert("RGB"), ToTensor, Normalize), reproducing Pillow 9.4's arithmetic; see
// include/clipdb.h (clipdb_image_preprocess).
import { getModule } from './module.mjs';
import { check, ClipdbError, outOfMemory } from './errors.mjs';

const INFO_CAP = 256;

function readDefaults(mod) {
  const p = mod._malloc(64);
  try {
    mod._clipdb__wasm_image_default_params(p, p + 8, p + 40, p + 48);
    const f32 = new Float32Array(mod.HEAPU8.buffer, p + 8, 6);
    return {
      resolution: mod.HEAP32[p >> 2],
      mean: Array.from(f32.subarray(0, 3)),
      std: Array.from(f32.subarray(3, 6)),
      maxPixels: new Float64Array(mod.HEAPU8.buffer, p + 40, 1)[0],
      exif: mod.HEAP32[(p + 48) >> 2] === 1 ? 'apply' : 'ignore',
    };
  } finally {
    mod._free(p);
  }
}

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
 * Options (defaults from the C library, clipdb_image_default_params, or from `model`, a
 * ClipModel from loadModel(), whose config gives resolution, mean and std): `resolution` (224),
 * `mean` / `std` (OpenAI CLIP's, RGB), `maxPixels` (178956970, Pillow's decompression-bomb
 * limit; checked from the header before decoding), `exif`: 'apply' (default: rotate/flip
 * by the JPEG EXIF orientation first, as PIL.ImageOps.exif_transpose, so the bytes of a
 * phone photo give what a browser draws and an ImageData of it gives; README "Images") or 'ignore' (reference parity: PIL.Image.open + the official transform, which
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
  const mod = options.module || (await getModule());
  const o = resolveOptions(mod, options);
  const R = o.resolution;
  const outBytes = 3 * R * R * 4;
  if (isImageDataLike(input)) {
    const { width, height, data } = input;
    if (!(width > 0 && height > 0) || data.length % (width * height) !== 0)
      throw new ClipdbError('INVALID_ARGUMENT', `preprocess: ${data.length} samples do not fit ${width} x ${height} pixels`);
    const channels = data.length / (width * height);
    const ptrs = [];
    try {
      const px = mod._malloc(data.length || 1); ptrs.push(px);
      const ms = mod._malloc(24); ptrs.push(ms);
      const out = mod._malloc(outBytes); ptrs.push(out);
      if (!px || !ms || !out) throw outOfMemory(mod, 'preprocess', (px ? 0 : data.length || 1) + (ms ? 0 : 24) + (out ? 0 : outBytes));
      mod.HEAPU8.set(data, px);
      new Float32Array(mod.HEAPU8.buffer, ms, 6).set([...o.mean, ...o.std]);
      const s = mod._clipdb__wasm_image_preprocess_pixels(px, width, height, channels, width * channels, R, ms, o.maxPixels, out);
      check(mod, s, 'preprocess');
      return new Float32Array(mod.HEAPU8.buffer.slice(out, out + outBytes));
    } finally {
      for (const p of ptrs) if (p) mod._free(p);
    }
  }
  const bytes = await toBytes(input);
  const ptrs = [];
  try {
    const src = mod._malloc(bytes.length || 1); ptrs.push(src);
    const ms = mod._malloc(24); ptrs.push(ms);
    const out = mod._malloc(outBytes); ptrs.push(out);
    const info = mod._malloc(INFO_CAP); ptrs.push(info);
    if (!src || !ms || !out || !info) throw outOfMemory(mod, 'preprocess', (src ? 0 : bytes.length || 1) + (ms ? 0 : 24) + (out ? 0 : outBytes) + (info ? 0 : INFO_CAP));
    mod.HEAPU8.set(bytes, src);
    new Float32Array(mod.HEAPU8.buffer, ms, 6).set([...o.mean, ...o.std]);
    const s = mod._clipdb__wasm_image_preprocess(src, bytes.length, R, ms, o.maxPixels, o.exif === 'apply' ? 1 : 0, out, info, INFO_CAP);
    check(mod, s, 'preprocess');
    const pixels = new Float32Array(mod.HEAPU8.buffer.slice(out, out + outBytes));
    if (options.info) return { pixels, info: JSON.parse(mod.UTF8ToString(info)) };
    return pixels;
  } finally {
    for (const p of ptrs) if (p) mod._free(p);
  }
}

/** The C library's default preprocessing options (resolution, mean, std, maxPixels, exif). */
export async function defaultImageOptions(options = {}) {
  return readDefaults(options.module || (await getModule()));
}
