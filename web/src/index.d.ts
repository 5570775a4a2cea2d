// Types of clipdb's public JS API (web/src/index.mjs).

/** Every failure of the high-level API. `code` is the C status name (e.g. 'BAD_IMAGE'). */
export class ClipdbError extends Error {
  code: string;
  status?: number;
  details?: unknown;
}

/** Create a new, independent clipdb wasm instance. */
export function createModule(options?: {
  wasmBinary?: ArrayBuffer | Uint8Array;
  wasmModule?: WebAssembly.Module;
  wasmURL?: string | URL;
}): Promise<object>;
/** The shared default instance, created on first use. */
export function getModule(options?: Parameters<typeof createModule>[0]): Promise<object>;

// ---- image preprocessing -------------------------------------------------------------------

/** Decoded 8-bit pixels, e.g. a browser ImageData (4 channels RGBA) or RGB (3 channels). */
export interface ImageDataLike {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

export interface PreprocessOptions {
  /** Output side R in pixels (the model's image_resolution). Default 224. */
  resolution?: number;
  /** Per-channel mean, RGB. Default OpenAI CLIP's (0.48145466, 0.4578275, 0.40821073). */
  mean?: ArrayLike<number>;
  /** Per-channel std, RGB. Default OpenAI CLIP's (0.26862954, 0.26130258, 0.27577711). */
  std?: ArrayLike<number>;
  /** Decoded width*height limit, checked from the header before decoding. Default 178956970. */
  maxPixels?: number;
  /**
   * 'ignore' (default): the official pipeline (PIL.Image.open does not rotate), reference
   * parity. 'apply': rotate by the JPEG EXIF orientation first (ImageOps.exif_transpose),
   * what photo users expect. Only affects encoded input.
   */
  exif?: 'ignore' | 'apply';
  /** Also return {format, mode, width, height, orientation} of the decoded file. */
  info?: boolean;
  /** A module from createModule() instead of the shared one. */
  module?: object;
}

export interface ImageInfo {
  format: 'PNG' | 'JPEG' | 'BMP' | 'GIF';
  /** The PIL mode the official pipeline would resize in: RGB, L, LA, RGBA, P, 1, I, CMYK. */
  mode: string;
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
}

/**
 * Decode (JPEG, PNG, BMP, GIF first frame) and preprocess one image exactly as OpenAI CLIP's
 * `_transform` on Pillow does: short side to R (long side truncated), Pillow's bicubic
 * resampler in the image's own mode, centre crop (round half to even), RGB, x/255,
 * (x - mean)/std. Returns float32 [3*R*R] (CHW, RGB).
 * Throws ClipdbError: BAD_IMAGE (corrupt/truncated/empty), UNSUPPORTED (WebP, AVIF, HEIC,
 * TIFF, 12-bit JPEG, ...), IMAGE_TOO_LARGE, INVALID_ARGUMENT, OUT_OF_MEMORY.
 * @example
 *   const pixels = await preprocess(await blob.arrayBuffer(), { exif: 'apply' });
 */
export function preprocess(
  input: ArrayBuffer | ArrayBufferView | Blob | ImageDataLike,
  options?: PreprocessOptions & { info?: false },
): Promise<Float32Array>;
export function preprocess(
  input: ArrayBuffer | ArrayBufferView | Blob,
  options: PreprocessOptions & { info: true },
): Promise<{ pixels: Float32Array; info: ImageInfo }>;

/** The C library's defaults: {resolution, mean, std, maxPixels, exif}. */
export function defaultImageOptions(options?: { module?: object }): Promise<{
  resolution: number; mean: number[]; std: number[]; maxPixels: number; exif: 'ignore' | 'apply';
}>;
