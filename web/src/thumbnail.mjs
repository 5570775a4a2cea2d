// Thumbnails on the wasm build: an encoded photo in, a small upright JPEG Blob out, made by
// the C library (clipdb_image_thumbnail in include/clipdb.h): decoded with the image
// pipeline's decoder, shrunk by area averaging so the longer side is at most maxSide pixels
// (never enlarged), alpha drawn over white, EXIF orientation applied, encoded as JPEG.
// Runs wherever the module runs: a page, a Web Worker (keeps decoding off the main thread),
// Node, an edge function.
import { getModule } from './module.mjs';
import { check, ClipdbError } from './errors.mjs';

// The C defaults (clipdb_thumbnail_default_params), never repeated here.
function defaults(mod) {
  const p = mod._malloc(24);
  if (!p) throw new ClipdbError('OUT_OF_MEMORY', 'thumbnail: out of wasm memory for 24 bytes');
  try {
    mod._clipdb__wasm_thumbnail_default_params(p, p + 4, p + 8, p + 16);
    return {
      maxSide: mod.HEAP32[p >> 2],
      quality: mod.HEAP32[(p + 4) >> 2],
      maxPixels: new Float64Array(mod.HEAPU8.buffer, p + 8, 1)[0],
      exif: mod.HEAP32[(p + 16) >> 2] === 1 ? 'apply' : 'ignore',
    };
  } finally {
    mod._free(p);
  }
}

async function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  throw new ClipdbError('INVALID_ARGUMENT',
    'thumbnail: input must be encoded image bytes (Blob, File, ArrayBuffer or Uint8Array)');
}

function integerIn(name, v, lo, hi) {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new ClipdbError('INVALID_ARGUMENT', `thumbnail: ${name} must be an integer ${lo}..${hi}, not ${v}`);
  return v;
}

/**
 * A JPEG thumbnail of an encoded image, for display (e.g. the photo grid of a library).
 *
 * `input`: the bytes of a JPEG, PNG, BMP or GIF (first frame) as a Blob, File, ArrayBuffer or
 * Uint8Array (any typed-array view). Options:
 *   maxSide   longer side of the thumbnail in pixels, integer 16..4096 (default 320); an image
 *             already that small keeps its size (never enlarged); the shorter side is scaled by
 *             the same factor and rounded (4000x3000 -> 320x240, 3000x4000 -> 240x320);
 *   quality   JPEG quality 1..100 (default 80);
 *   exif      'apply' (default: turned upright by the JPEG EXIF orientation, as browsers draw
 *             it; the thumbnail carries no EXIF, so nothing rotates it twice) or 'ignore';
 *   maxPixels width*height limit read from the header before decoding (default 178956970);
 *   module    a module from createModule() instead of the shared one.
 * Resolves to a Blob of type 'image/jpeg' (Node 18+ has Blob too); a 12-MP photo gives a few
 * tens of KB at the defaults. The wasm memory used while it runs is about the decoded image
 * (width x height x 3 bytes) plus the input bytes; all of it is released before resolving.
 * Rejects with ClipdbError: INVALID_ARGUMENT (bad input type or option), BAD_IMAGE (empty,
 * corrupt, truncated), UNSUPPORTED (WebP, AVIF, HEIC, ...: the message names the format),
 * IMAGE_TOO_LARGE (over maxPixels), OUT_OF_MEMORY (the message names the bytes).
 *
 * @example
 *   const small = await thumbnail(file);                      // Blob, image/jpeg, <= 320 px
 *   img.src = URL.createObjectURL(small);
 *   const big = await thumbnail(bytes, { maxSide: 1024, quality: 90 });
 */
export async function thumbnail(input, options = {}) {
  const mod = options.module || (await getModule());
  const d = defaults(mod);
  const maxSide = integerIn('maxSide', options.maxSide ?? d.maxSide, 16, 4096);
  const quality = integerIn('quality', options.quality ?? d.quality, 1, 100);
  const exif = options.exif ?? d.exif;
  if (exif !== 'apply' && exif !== 'ignore')
    throw new ClipdbError('INVALID_ARGUMENT', `thumbnail: exif must be 'apply' or 'ignore', not '${exif}'`);
  const maxPixels = options.maxPixels ?? d.maxPixels;
  if (typeof maxPixels !== 'number' || !(maxPixels > 0))
    throw new ClipdbError('INVALID_ARGUMENT', `thumbnail: maxPixels must be a positive number, not ${maxPixels}`);
  const bytes = await toBytes(input);

  const src = mod._malloc(bytes.length || 1);
  const result = mod._malloc(16);
  try {
    if (!src || !result)
      throw new ClipdbError('OUT_OF_MEMORY', `thumbnail: out of wasm memory for the ${bytes.length} input bytes`);
    mod.HEAPU8.set(bytes, src);
    const s = mod._clipdb__wasm_image_thumbnail(src, bytes.length, maxSide, quality, maxPixels, exif === 'apply' ? 1 : 0, result);
    check(mod, s, 'thumbnail');
    const jpeg = mod.HEAPU32[result >> 2], size = mod.HEAPU32[(result + 4) >> 2];
    try {
      return new Blob([mod.HEAPU8.slice(jpeg, jpeg + size)], { type: 'image/jpeg' });
    } finally {
      mod._clipdb__wasm_thumbnail_free(jpeg);
    }
  } finally {
    if (src) mod._free(src);
    if (result) mod._free(result);
  }
}
