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

// ---- tokenizer ---------------------------------------------------------------------------

/** Vocabulary file bytes; strings are UTF-8 encoded. */
export type VocabData = ArrayBuffer | ArrayBufferView | string;

/**
 * A CLIP BPE tokenizer held in wasm memory (clip/simple_tokenizer.py + clip.tokenize of
 * github.com/openai/CLIP at d05afc4). Create with createTokenizer(); release with free().
 */
export class Tokenizer {
  /** Largest id + 1 (49408 for OpenAI's vocabulary; smaller for a model's own). */
  readonly vocabSize: number;
  /** <|startoftext|> id (49406 for OpenAI's vocabulary). */
  readonly sot: number;
  /** <|endoftext|> id (49407 for OpenAI's vocabulary). */
  readonly eot: number;
  /**
   * Token ids of one text: Int32Array(contextLength) = [sot, ids..., eot, 0, ...] (int32).
   * Throws ClipdbError TEXT_TOO_LONG (the message names the token count) when the text needs
   * more than contextLength (default 77) tokens and `truncate` is false; with `truncate` the
   * first contextLength ids are kept and the last becomes eot, as the official code does.
   * @example
   *   tok.tokenize("it's a cat");   // Int32Array(77) [49406, 585, 568, 320, 2368, 49407, 0, ...]
   */
  tokenize(text: string, options?: { truncate?: boolean; contextLength?: number }): Int32Array;
  /** Release the wasm memory. */
  free(): void;
}

/**
 * Create a tokenizer from OpenAI's `bpe_simple_vocab_16e6.txt.gz` format (any `*.txt.gz` or
 * `*.txt`: a header line, then merges in rank order) or Hugging Face's `vocab.json` +
 * `merges.txt`, given as `{name: bytes}` or `[{name, data}]`. The bytes are copied.
 * `default: true` also makes it the tokenizer tokenize() uses.
 * Throws ClipdbError BAD_VOCAB (names the file and line), INVALID_ARGUMENT, OUT_OF_MEMORY.
 * @example
 *   const tok = await createTokenizer({ 'bpe_simple_vocab_16e6.txt.gz': await (await fetch(url)).arrayBuffer() });
 */
export function createTokenizer(
  files: Record<string, VocabData> | Array<{ name: string; data: VocabData }>,
  options?: { module?: object; default?: boolean },
): Promise<Tokenizer>;

/** Make `tokenizer` the one tokenize() uses when none is passed. */
export function setDefaultTokenizer(tokenizer: Tokenizer): void;

/**
 * clip.tokenize for one string with `options.tokenizer` or the default tokenizer:
 * Int32Array(77) [49406, ids..., 49407, 0, ...]. Throws ClipdbError TEXT_TOO_LONG (without
 * `truncate`), INVALID_STATE (no tokenizer yet).
 * @example
 *   tokenize('a photo of a cat', { truncate: true });
 */
export function tokenize(
  text: string,
  options?: { truncate?: boolean; contextLength?: number; tokenizer?: Tokenizer },
): Int32Array;
