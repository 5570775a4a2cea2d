// Types of clipdb's public JS API (web/src/index.mjs).

/** Every failure of the high-level API. `code` is the C status name (e.g. 'BAD_IMAGE'). */
export class ClipdbError extends Error {
  code: string;
  status?: number;
  details?: unknown;
}

/**
 * Create a new, independent clipdb wasm instance (its own memory). The instance's
 * `clipdbThreads` (number) says how many compute threads its models use.
 * Throws ClipdbError INVALID_ARGUMENT (a bad wasm source; `threads` not an integer 1..16),
 * UNSUPPORTED (no WebAssembly SIMD; `threads` > 1 where wasm threads are not available), IO.
 */
export function createModule(options?: {
  /** The wasm as bytes: clipdb.wasm, or clipdb-mt.wasm when `threads` > 1. */
  wasmBinary?: ArrayBuffer | Uint8Array;
  /** The wasm compiled (edge runtimes): clipdb.wasm, or clipdb-mt.wasm when `threads` > 1. */
  wasmModule?: WebAssembly.Module;
  /** Where to fetch the wasm from (the same file choice). Default: the package's own. */
  wasmURL?: string | URL;
  /**
   * Compute threads for the models loaded into this instance, 1 to 16 (the caller's thread
   * counts as one; GEMMs are split by output columns, so embeddings are bit-identical for any
   * count). Above 1 the threaded module (web/dist/clipdb-mt.*, Emscripten pthreads on a
   * SharedArrayBuffer) is used, with threads - 1 Workers started with it. Needs wasm threads:
   * Node, or a cross-origin isolated page / Worker (COOP: same-origin, COEP: require-corp).
   * Default: where threads are available and the package's own wasm files are used, half the
   * logical cores, 1 to 4 (as onnxruntime-web); else 1 (a wasm given as wasmModule / wasmBinary
   * / wasmURL is taken as clipdb.wasm; with `threads` > 1 it must be clipdb-mt.wasm, and
   * clipdb.wasm is INVALID_ARGUMENT). Under Node, CLIPDB_THREADS=N sets the default.
   */
  threads?: number;
}): Promise<object>;
/** The shared default instance, created on first use. */
export function getModule(options?: Parameters<typeof createModule>[0]): Promise<object>;

// ---- CLIP encoders (web/src/engine.mjs) -----------------------------------------------------

/** The resolved architecture (clipdb_model_config_json; field names follow clip/model.py `CLIP.__init__`). */
export interface ModelConfig {
  /** Joint embedding size E: the length of every embedding. */
  embed_dim: number;
  /** Input side R in pixels (0 without a vision tower). */
  image_resolution: number;
  vision_type: 'vit' | 'modified_resnet' | 'none';
  /** ViT: number of blocks; ModifiedResNet: blocks per stage [4]. */
  vision_layers: number | number[];
  vision_width: number;
  /** ViT patch size; null for ModifiedResNet. */
  vision_patch_size: number | null;
  vision_heads: number;
  /** Text positions (77 for OpenAI); 0 without a text tower. */
  context_length: number;
  vocab_size: number;
  transformer_width: number;
  transformer_heads: number;
  transformer_layers: number;
  /** Stored value; logits use exp(logit_scale). */
  logit_scale: number;
  /** Normalisation constants for preprocessing, RGB. */
  image_mean: [number, number, number];
  image_std: [number, number, number];
  has_vision: boolean;
  has_text: boolean;
  /** Compute backend compiled into the module: 'simd' (wasm default), 'scalar' or 'xnnpack'. */
  backend: string;
  /** 'float32', or 'int8' when the file's layers were stored int8. */
  weights: 'float32' | 'int8';
  /** Bytes of weights the model holds (packed layers, embedding tables, norms). */
  weight_bytes: number;
  /**
   * Compute threads its embed calls use: 1 in the single-threaded module; in the threaded one
   * (createModule's `threads`) the module's pool, shared by its models (at most `threads`).
   */
  threads: number;
}

/**
 * One model file's content: bytes (a `.safetensors` file's are read in place, tensor by tensor;
 * other files' are copied), a Blob/File
 * (streamed inside a Worker through FileReaderSync; read whole on the main thread), or, under
 * Node only, `{ path }` (streamed with fs.readSync). Streamed files are never held whole: the
 * load's peak is about the packed float32 weights plus the largest tensor.
 */
export type ModelFileData = ArrayBuffer | ArrayBufferView | Blob | { path: string } | SyncReader | EdgeFileData;

/**
 * A synchronous random-access reader of one file: `read(offset, n)` returns a Uint8Array of
 * exactly the n bytes at byte `offset` (0 <= offset, offset + n <= size). The loader copies
 * them into wasm memory tensor by tensor, so the file is never held twice.
 */
export interface SyncReader {
  size: number;
  read(offset: number, n: number): Uint8Array;
}

/** Model files by published name: 'model.safetensors' (+ 'config.json' for a Hugging Face CLIPModel). */
export type ModelFiles =
  | Array<{ name: string; data: ModelFileData } | { name: string; path: string }>
  | Map<string, ModelFileData>
  | Record<string, ModelFileData | string>;

export interface LoadModelOptions {
  /** A module from createModule() instead of the shared default instance. */
  module?: object;
  /** Load the image tower if present (default true). */
  loadVision?: boolean;
  /** Load the text tower if present (default true). */
  loadText?: boolean;
  /**
   * Memory budget in MiB (2^20 bytes), e.g. 128 for a Cloudflare Worker isolate. From the
   * safetensors header alone, before anything is allocated: when the towers to load need more
   * wasm memory than this (packed weights: 4 bytes per float value, 1 per int8 weight plus its
   * F32 scales; plus what the largest tensor of those towers holds while it loads: a layer
   * weight's float32 copy before packing and a non-F32 tensor's bytes as stored; plus a file
   * given as bytes other than a `.safetensors` file, which is copied whole; plus 16 MiB of working memory and what the module
   * already holds), loadModel throws ClipdbError 'MEMORY_BUDGET_EXCEEDED' whose message states
   * the bytes needed and suggests int8 (for a model already int8: loading one tower or a larger
   * budget); `details` = {needed, budget, weights, largest, copied, towers} (bytes; towers
   * 'text'/'image').
   */
  maxMemoryMB?: number;
}

/**
 * A loaded CLIP model (packed float32 weights in wasm memory) with its scratch session.
 * Methods are synchronous; use one model from one thread (Worker) at a time. Call free().
 */
export class ClipModel {
  readonly config: ModelConfig;
  /**
   * `model.encode_image` of github.com/openai/CLIP for one preprocessed image.
   * @param pixels Float32Array [3·R·R], CHW RGB, as returned by preprocess() (R = config.image_resolution).
   * @returns a new Float32Array [embed_dim], NOT L2-normalised.
   * @throws ClipdbError INVALID_ARGUMENT (wrong length/type), INVALID_STATE (no vision tower, or freed), OUT_OF_MEMORY.
   * @example const e = model.embedImage(await preprocess(bytes));
   */
  embedImage(pixels: Float32Array): Float32Array;
  /**
   * `model.encode_text` of github.com/openai/CLIP: pooled at the first largest id (the end-of-text token).
   * @param tokens int32 ids as clip.tokenize returns them: the full context (zero padding included)
   *   or a shorter list ending at end-of-text; at most config.context_length.
   * @returns a new Float32Array [embed_dim], NOT L2-normalised.
   * @throws ClipdbError INVALID_ARGUMENT (empty, too long, id outside [0, vocab_size)), INVALID_STATE.
   * @example const e = model.embedText(new Int32Array([49406, 320, 1125, 539, 320, 2368, 49407]));
   */
  embedText(tokens: Int32Array | ArrayLike<number>): Float32Array;
  /**
   * `model.encode_text` on a batch (include/clipdb.h clipdb_text_embed_batch): texts sorted by
   * pooled length and run in groups of similar length, so each linear layer reads its weights
   * once per group rather than once per text.
   * @param texts token id lists as for embedText (each at most config.context_length).
   * @returns one new Float32Array [embed_dim] per text, in input order, NOT L2-normalised; each
   *   equals embedText's result for that text.
   * @throws ClipdbError INVALID_ARGUMENT (no texts, a text too long, an id outside
   *   [0, vocab_size): the message names the text and position), INVALID_STATE.
   * @example const [a, b] = model.embedTexts([tokensA, tokensB]);
   */
  embedTexts(texts: ArrayLike<Int32Array | ArrayLike<number>>): Float32Array[];
  /** Release the wasm memory of the model and its session. Idempotent; later calls throw INVALID_STATE. */
  free(): void;
  readonly freed: boolean;
  /** The clipdb wasm instance the model lives in (its createModule() one, or the shared one). */
  readonly module: object;
}

/**
 * Load a CLIP model from safetensors as published: an OpenAI/open_clip state dict
 * (`visual.*`, `transformer.resblocks.*`, ...; config from the `clip_config` metadata, else
 * inferred from shapes like clip/model.py build_model) or a Hugging Face CLIPModel directory
 * ('model.safetensors' + 'config.json'). F32, F16, BF16 and int8 (I8 + scales) tensors. Each
 * tensor is read once, converted and packed (the caller keeps ownership of what it passed):
 * a safetensors file given as bytes is read in place, tensor by tensor, as are files given as
 * `{ path }` (Node) or as a Blob inside a Worker; the file is never copied whole into wasm
 * memory (see ModelFileData).
 * @throws ClipdbError BAD_MODEL (bad header, truncated, unknown dtype, missing or misshapen
 *   tensor: the message names it; a failed streamed read names the file, byte range and
 *   tensor), UNSUPPORTED (e.g. hidden_act other than quick_gelu; `{ path }` outside Node),
 *   IO (a path that cannot be opened), INVALID_ARGUMENT (no safetensors file), OUT_OF_MEMORY.
 * @example const model = await loadModel({ 'model.safetensors': await (await fetch(url)).arrayBuffer() });
 * @example const model = await loadModel([{ name: 'model.safetensors', path: '/models/vit-b-32.safetensors' }]); // Node
 */
export function loadModel(files: ModelFiles, options?: LoadModelOptions): Promise<ClipModel>;

/** Options of quantizeModel(). */
export interface QuantizeModelOptions {
  /** 'int8' (default): every linear/convolution/projection weight and the token embedding as
   * I8 with a float32 scale per output channel (scheme "int8_symmetric_per_channel" version 1
   * in the file's __metadata__, documented in include/clipdb.h); 'f16': every float tensor as
   * IEEE half. */
  dtype?: 'int8' | 'f16';
  /** 'bytes' (default): a Uint8Array; 'blob': a Blob (where Blob exists). */
  output?: 'bytes' | 'blob';
  /** File name used in error messages (default 'model.safetensors'). */
  name?: string;
  /** The wasm module instance (default: getModule()). */
  module?: unknown;
}

/**
 * Rewrite one float CLIP safetensors file (OpenAI/open_clip names, or a Hugging Face
 * CLIPModel's model.safetensors; F32, F16 or BF16) as an int8 (about a quarter of the float32
 * size) or F16 file, without Python. The result loads with loadModel() like any model file
 * (a Hugging Face directory keeps its config.json); `config.weights` is then 'int8' and
 * `config.weight_bytes` the bytes of weights held. Works in a page, a Worker and Node; a
 * Blob/File inside a Worker (FileReaderSync) and a `{ path }` in Node are streamed, one tensor
 * in memory at a time. The output is byte-identical to `clipdb quantize`.
 * @throws ClipdbError INVALID_ARGUMENT (unknown dtype/output, unusable input), BAD_MODEL
 *   (not a valid safetensors file, no float weights, already quantized: the message names the
 *   tensor), IO (a path that cannot be opened or read), OUT_OF_MEMORY, UNSUPPORTED.
 * @example const int8 = await quantizeModel(await file.arrayBuffer()); const model = await loadModel({ 'model.safetensors': int8 });
 */
export function quantizeModel(input: ArrayBuffer | ArrayBufferView | Blob | { path: string },
  options?: QuantizeModelOptions & { output?: 'bytes' }): Promise<Uint8Array>;
export function quantizeModel(input: ArrayBuffer | ArrayBufferView | Blob | { path: string },
  options: QuantizeModelOptions & { output: 'blob' }): Promise<Blob>;

/**
 * A unit-L2-norm copy of `v` (cosine similarity of two normalised embeddings is their dot product).
 * @throws ClipdbError BAD_VECTOR for a zero or non-finite vector.
 */
export function normalize(v: ArrayLike<number>): Float32Array;

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
   * 'apply' (default): rotate/flip by the JPEG EXIF orientation first
   * (ImageOps.exif_transpose), so encoded bytes give the upright photo a browser draws
   * (ImageData is already upright). 'ignore': the official pipeline
   * (PIL.Image.open does not rotate), reference parity. Only affects encoded input.
   */
  exif?: 'ignore' | 'apply';
  /** Also return {format, mode, width, height, orientation} of the decoded file. */
  info?: boolean;
  /** A module from createModule() instead of the shared one. */
  module?: object;
  /** A loaded model (loadModel()): resolution, mean and std from its config by default. */
  model?: { config: { image_resolution: number; image_mean: number[]; image_std: number[] } };
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
 *   const pixels = await preprocess(await blob.arrayBuffer()); // EXIF orientation applied
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

// ---- thumbnails ----------------------------------------------------------------------------

export interface ThumbnailOptions {
  /**
   * Longer side of the thumbnail in pixels, integer 16..4096. Default 320. Images already
   * that small keep their size (never enlarged); the shorter side is scaled by the same
   * factor and rounded to the nearest pixel (4000x3000 -> 320x240, 3000x4000 -> 240x320).
   */
  maxSide?: number;
  /** JPEG quality, integer 1..100 (IJG scale). Default 80. */
  quality?: number;
  /**
   * 'apply' (default): turned upright by the JPEG EXIF orientation, as a browser draws the
   * photo (the thumbnail itself carries no EXIF). 'ignore': the stored orientation.
   */
  exif?: 'apply' | 'ignore';
  /** Decoded width*height limit, checked from the header before decoding. Default 178956970. */
  maxPixels?: number;
  /** A module from createModule() instead of the shared one. */
  module?: object;
}

/**
 * A JPEG thumbnail of an encoded image (JPEG, PNG, BMP, GIF first frame), made in wasm:
 * decoded, shrunk by area averaging (no aliasing on large reductions), alpha drawn over
 * white, EXIF orientation applied, encoded at `quality`. A 12-MP photo gives a few tens of KB
 * at the defaults. Wasm memory while it runs: about width x height x 3 bytes of decoded
 * pixels plus the input; all released before the promise settles.
 * @returns a Blob of type 'image/jpeg' (a Blob in Node too).
 * @throws ClipdbError INVALID_ARGUMENT (input not a Blob/ArrayBuffer/typed array, maxSide
 *   outside 16..4096, quality outside 1..100, bad exif), BAD_IMAGE (empty, corrupt,
 *   truncated), UNSUPPORTED (WebP, AVIF, HEIC, TIFF, ...; the message names the format),
 *   IMAGE_TOO_LARGE (over maxPixels), OUT_OF_MEMORY (the message names the bytes).
 * @example
 *   const blob = await thumbnail(file);               // <= 320 px, upright, image/jpeg
 *   img.src = URL.createObjectURL(blob);
 */
export function thumbnail(
  input: Blob | ArrayBuffer | ArrayBufferView,
  options?: ThumbnailOptions,
): Promise<Blob>;

// ---- tokenizer ---------------------------------------------------------------------------

/** Vocabulary file bytes; strings are UTF-8 encoded. */
/** Vocabulary file content; a Blob, Response or ReadableStream only through the edge entry. */
export type VocabData = ArrayBuffer | ArrayBufferView | string | Blob | EdgeFileData;

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
// ---- document store (web/src/db/) ----------------------------------------------------------

/**
 * Storage behind a Database (layout version 2). Stores: 'docs' (small fields of each document,
 * keyed "<collection>\0<s|n><_id>"), 'pending' (vector indexes owing a document a vector),
 * 'blobs' (binary fields, read only when a document is returned), 'vectors' (chunk records
 * per (vector index, model)), 'meta' (index definitions). `write` is atomic: all ops land or none.
 */
export interface StorageAdapter {
  kind: string;
  /** True if writes survive a restart. */
  persistent: boolean;
  /** [key, value] pairs in key order; `prefix` restricts to keys starting with it. */
  getAll(store: string, prefix?: string): Promise<Array<[string, unknown]>>;
  /** Keys in key order. */
  keys(store: string, prefix?: string): Promise<string[]>;
  /**
   * One record, or undefined. `options.vectorsInto(byteLength)` (optional for an adapter to
   * honour): for a 'vectors' record whose floats are kept apart (a Blob, a file), the adapter
   * may read them into the 4-byte-aligned Uint8Array of at least `byteLength` bytes it returns
   * (caller-owned, reused across reads) and return `vectors` as a Float32Array view on that
   * memory (after a BYOB read, on the transferred buffer holding the same memory). Adapters
   * that ignore it return their own Float32Array.
   */
  get(store: string, key: string, options?: { vectorsInto?: (byteLength: number) => Uint8Array }): Promise<unknown>;
  lastKey(store: string, prefix: string): Promise<string | undefined>;
  write(ops: Array<{ store: string; key: string; value: unknown } | { store: string; key: string; delete: true }>): Promise<void>;
  close(): Promise<void>;
  /** Browsers: navigator.storage.persist(). */
  persist?(): Promise<boolean | null>;
  estimate?(): Promise<{ usage?: number; quota?: number } | null>;
  /** Set when opening converted a clipdb 0.1 store. */
  migrated?: { from: number; documents: number };
}

/** In-memory storage (edge runtimes, tests, the private-mode fallback). */
export function memoryStorage(): StorageAdapter;
/**
 * Node: LevelDB (classic-level) in `<dir>/<name>.clipdb/`, binary fields as files in
 * `<dir>/<name>.clipdb.blobs/` (returned as disk-backed Blobs). Every write is one synced batch.
 * A clipdb 0.1 journal `<dir>/<name>.clipdb.jsonl` is converted on first open (kept as
 * `.v1-backup`). Errors: 'BLOCKED' (open in another process), 'CORRUPT' (a damaged record,
 * named; nothing is rewritten), 'QUOTA_EXCEEDED' (disk full), 'IO'.
 */
export function fsStorage(options: { dir: string; name?: string }): Promise<StorageAdapter>;
/**
 * Browsers: IndexedDB via the `idb` package (database version 2; a version-1 database is
 * converted in its upgrade transaction). Throws ClipdbError 'STORAGE_UNAVAILABLE' (no
 * IndexedDB, private mode) or 'BLOCKED' (another tab holds an older version open).
 */
export function indexedDBStorage(options?: {
  name?: string; indexedDB?: IDBFactory; blockedTimeoutMs?: number;
  /** The `idb` module itself, where `import('idb')` cannot resolve (module Workers see no import map). */
  idb?: object;
}): Promise<StorageAdapter>;

export interface OpenDatabaseOptions {
  /** 'auto' (default): IndexedDB in browsers, the file system in Node when `dir` is given, else memory. */
  storage?: 'auto' | 'indexeddb' | 'fs' | 'memory' | StorageAdapter;
  /** IndexedDB database name / the store folder's name (`<dir>/<name>.clipdb`). Default 'clipdb'. */
  name?: string;
  /** Folder of the file-system store (storage 'fs'). */
  dir?: string;
  /** If IndexedDB cannot be opened, use memory and report `{persistent: false, reason}` (default true). */
  fallback?: boolean;
  /** The wasm module holding the C vector index (default: the shared one). */
  module?: object;
  /** The `idb` module itself, for IndexedDB where `import('idb')` cannot resolve (module Workers). */
  idb?: object;
  /**
   * How each vector index holds its vectors in memory. 'float32': as stored, dim × 5 bytes per
   * vector (the float32 row and the search's int8 copy). 'compact': a 16-bit copy, dim × 2
   * bytes per vector; each score is then within sqrt(dim) × max|v| / 65024 of the float32 one
   * (about 1e-6 typically, at most 7e-5 for 512-d CLIP embeddings), `like({_id})` queries with
   * the 16-bit copy, and the stored vectors, exports and Parquet files stay float32. 'auto'
   * (default): float32 up to 8 MiB of float32 vectors per index (4,096 vectors at 512-d),
   * compact from there. Another value: ClipdbError 'INVALID_ARGUMENT'.
   */
  vectorMemory?: 'auto' | 'float32' | 'compact';
}

/**
 * Open (or create) a database. Reads the small fields of every document (what filters use),
 * pending marks and index definitions; binary fields are read when a document is returned,
 * vectors when their VectorIndex is added with `db.add`.
 * Errors: 'STORAGE_UNAVAILABLE' (fallback false), 'BLOCKED', 'CORRUPT', 'UNSUPPORTED' (a store
 * written by a newer clipdb), 'IO'.
 * @example
 *   const db = await openDatabase({ storage: 'indexeddb', name: 'photos' });
 *   if (!db.persistent) showBanner(`not saved: ${db.reason}`);
 */
export function openDatabase(options?: OpenDatabaseOptions): Promise<Database>;

/** What a model's encode function receives for an image field. */
export type ModelInput = string | Uint8Array | ImageDataLike | unknown;

/** An encoder with an injected embedding function (clipdb's wasm CLIP, a server, a test fake). */
export class Model {
  /**
   * @param options.identifier names the model and weights; stored with each vector index and
   *   checked on reopen ('MODEL_MISMATCH').
   * @param options.dim embedding length.
   * @param options.encode input → embedding (float32 [dim], need not be normalised). Image
   *   fields arrive as a Uint8Array of encoded bytes or an ImageData-like; text as a string.
   * @param options.concurrency how many encode calls insertMany and db.add's backfill may have
   *   in flight (default 1; an integer >= 1, else 'INVALID_ARGUMENT'). They start that many
   *   documents ahead and still take vectors and errors in document order, so the result is
   *   the same; more than 1 only helps an encode that runs elsewhere (Workers, a server).
   * @param options.blobs when true, an image field held in a Blob arrives as that Blob (the
   *   document's own one on insert; the stored one in the backfill), not read into bytes
   *   (default false): e.g. to hand it to a Worker unread (a Blob is cloned by handle).
   * @example
   *   const visual = new Model({ identifier: 'clip-tiny-vit', dim: 64, encode: (bytes) => engine.embedImage(bytes) });
   */
  constructor(options: { identifier: string; dim: number; encode: (input: ModelInput | Blob) => Float32Array | number[] | Promise<Float32Array | number[]>; kind?: string; concurrency?: number; blobs?: boolean });
  identifier: string;
  dim: number;
  /** Encode calls the store may have in flight (constructor's `concurrency`). */
  concurrency: number;
  /** Whether encode receives Blobs unread (constructor's `blobs`). */
  blobs: boolean;
  /** Embed one input. Errors: 'DIMENSION_MISMATCH' (wrong length, names both), 'BAD_VECTOR' (NaN/Inf/zero). */
  predict(input: ModelInput): Promise<Float32Array>;
}

/** Applies `model` to field `key` (dotted path) of the selected collection's documents. */
export class Listener {
  /**
   * @example new Listener({ model: visual, key: 'image', select: { collection: 'photos' } })
   */
  constructor(options: { model: Model; key: string; select: string | Collection | { collection: string; filter?: Filter } });
  model: Model;
  key: string;
  collection: string | null;
}

/** The indexing listener fills the index; the compatible listener's model embeds queries of its key. */
export class VectorIndex {
  /**
   * @example new VectorIndex('photo-index', { indexingListener: imageListener, compatibleListener: textListener })
   */
  constructor(name: string, options: { indexingListener: Listener; compatibleListener?: Listener });
  name: string;
  readonly dim: number;
}

/** Mongo-style filter: equality, $eq/$ne/$gt/$gte/$lt/$lte/$in/$nin/$exists/$not, $and/$or/$nor, dotted paths. */
export type Filter = Record<string, unknown>;

export type Document = Record<string, unknown> & { _id?: string | number };

export interface Progress { done: number; total: number; id: string | number }

export class Collection {
  readonly name: string;
  /**
   * Insert one document; resolves after it is stored and embedded. Duplicate `_id` →
   * 'DUPLICATE_ID'. If embedding fails the document is removed and the error thrown.
   * @example await photos.insertOne({ _id: 'p1', image: file, tags: ['beach'] });
   */
  insertOne(doc: Document, options?: { signal?: AbortSignal }): Promise<{ insertedId: string | number }>;
  /**
   * Insert in batches (stored pending → embedded → vectors written). Progress per document;
   * `signal` stops between documents ('ABORTED', details.insertedIds lists what was inserted).
   * @example await photos.insertMany(docs, { onProgress: ({ done, total }) => bar(done / total), signal });
   */
  insertMany(docs: Document[], options?: { signal?: AbortSignal; onProgress?: (p: Progress) => void; batchSize?: number }): Promise<{ insertedIds: Array<string | number> }>;
  /**
   * Documents matching `filter`, in insertion order; binary fields come back as given (Blob,
   * ArrayBuffer, Uint8Array, ImageData), read from storage for the returned documents only (a
   * Blob stays disk-backed in IndexedDB and the Node store until it is read).
   */
  find(filter?: Filter, options?: { limit?: number; skip?: number }): Promise<Document[]>;
  /** @example const d = await photos.findOne({ _id: 'p1' }); img.src = URL.createObjectURL(d.image); */
  findOne(filter?: Filter): Promise<Document | null>;
  count(filter?: Filter): Promise<number>;
  /**
   * Update the first match with {$set, $unset} or a replacement; re-embeds changed listener keys
   * before writing document + vectors in one transaction.
   */
  updateOne(filter: Filter, update: Document | { $set?: Record<string, unknown>; $unset?: Record<string, unknown> }): Promise<{ matchedCount: number; modifiedCount: number }>;
  /** Delete the first match and its vectors. */
  deleteOne(filter: Filter): Promise<{ deletedCount: number }>;
  /**
   * Vector search. `query`: {text}, {image}, any {<listener key>: value}, {vector: float32
   * [dim]}, or {_id} (the stored vector of that document: "more like this", nothing embedded;
   * 'NOT_FOUND' if it has none). `n`: non-negative integer (default 10).
   * @example const top3 = await photos.like({ text: 'mushroom' }, { vectorIndex: 'photo-index', n: 3 }).find({ year: { $gte: 2020 } });
   */
  like(query: { text: string } | { image: Blob | ArrayBuffer | ArrayBufferView | ImageDataLike } | { vector: Float32Array | number[] } | { _id: string | number } | Record<string, unknown>,
    options: { vectorIndex: string; n?: number }): LikeQuery;
}

export class LikeQuery {
  /**
   * Exactly min(n, matching documents with a vector) results, pre-filtered in the C index,
   * sorted by `score` (cosine similarity) descending, ties by `_id`.
   * Errors: 'INVALID_ARGUMENT' (bad n or query), 'NOT_FOUND' (unknown index),
   * 'DIMENSION_MISMATCH', 'BAD_VECTOR'.
   */
  find(filter?: Filter): Promise<Array<Document & { score: number }>>;
}

export class Database {
  /** True if writes survive a restart (false where IndexedDB was unavailable and the store fell back to memory). */
  readonly persistent: boolean;
  /** Why storage is not persistent, if it is not. */
  readonly reason?: string;
  /** navigator.storage.persist() result after the first write; null if unavailable/not asked. */
  readonly persisted: boolean | null;
  readonly info: { persistent: boolean; reason?: string; storage: string; documents: number; pending: number; persisted: boolean | null; migrated?: { from: number; documents: number } };
  /** Set when opening converted a clipdb 0.1 store: {from: 1, documents}. */
  readonly migrated?: { from: number; documents: number };
  /** Documents whose re-queued embedding failed on `add` (left pending, out of search). */
  pendingErrors?: Array<{ id: string | number; index: string; error: Error }>;
  collection(name: string): Collection;
  /**
   * Add a vector index. Vectors are kept per (vector index, model): the model it was built with
   * loads its stored vectors; another model whose vectors are kept switches to them; a model the
   * index has never seen is 'MODEL_MISMATCH' (naming both) unless `reindex: true`, which embeds
   * every document with it — the other models' vectors are never deleted. Then pending and
   * missing documents are embedded (crash recovery, backfill).
   * @example await db.add(new VectorIndex('photo-index', { indexingListener, compatibleListener }));
   */
  add(vectorIndex: VectorIndex, options?: { reindex?: boolean; signal?: AbortSignal; onProgress?: (p: Progress) => void }): Promise<{ loaded: number; embedded: number }>;
  /** Take an added vector index out of memory; its stored vectors stay. Resolves false if it was not added. */
  removeVectorIndex(name: string): Promise<boolean>;
  /** Every vector index the store knows, added or not, with the models whose vectors it keeps. */
  vectorIndexes(): Array<{ name: string; collection: string; key: string; model: { identifier: string; dim: number }; models: Array<{ identifier: string; dim: number }>; added: boolean; vectors: number | null }>;
  /**
   * For vector index `name`, each model whose vectors it keeps and how many stored documents
   * have a vector of it (`added`: the model the index is added with now). [] for an unknown index.
   */
  vectorCounts(name: string): Promise<Array<{ identifier: string; dim: number; vectors: number; added: boolean }>>;
  /**
   * Reclaim the space of deleted and replaced documents: the stored vectors of the added vector
   * indexes are rewritten as full chunks without dead entries, and every binary pack (the
   * binary fields written by one call) in which at least a quarter of the bytes belong to no
   * document is rewritten with only its live fields. Each rewrite is one atomic write: a crash
   * leaves the old or the new layout, never a field without its bytes. Writes wait meanwhile.
   * @returns packs rewritten, and the bytes (of binary fields) given back to the storage.
   * @throws ClipdbError 'CORRUPT' if a pack that a document points into is missing or short.
   */
  compact(): Promise<{ packsRewritten: number; bytesFreed: number }>;
  /**
   * The whole store as one export container (a ustar file; format in docs/export-format.md):
   * documents, binary fields, the vectors of every (vector index, model), index definitions.
   * Streams with bounded memory; writes wait until the stream has been read to the end.
   * @example await new Response(db.exportData()).blob()   // pages; Node: stream.Readable.fromWeb(...)
   */
  exportData(): ReadableStream<Uint8Array>;
  /**
   * Load an export container, batch by batch (each batch one transaction: after a crash every
   * document is absent or complete; running it again completes the import). Existing `_id`s are
   * 'DUPLICATE_ID' unless `onConflict: 'skip'`. Errors: 'BAD_EXPORT' (not an export, truncated),
   * 'UNSUPPORTED' (a newer version), 'MODEL_MISMATCH' (an index with other dimensions).
   */
  importData(source: ReadableStream<Uint8Array> | Blob | ArrayBuffer | ArrayBufferView | AsyncIterable<Uint8Array>,
    options?: { onConflict?: 'error' | 'skip'; onProgress?: (p: { documents: number; vectors: number; skipped: number }) => void; signal?: AbortSignal }): Promise<{ documents: number; vectors: number; skipped: number }>;
  /**
   * One vector index's vectors as one Parquet file, the format server vector databases and
   * query engines bulk-load (DuckDB, LanceDB, Milvus, Pinecone imports). One row per document of
   * the index's collection that has a vector of that model (pending documents are left out), in
   * insertion order. Columns: `id` (UTF-8 string: String(_id)), `id_type` ('string' | 'number',
   * so `Number(id)` restores numeric ids), `collection` (string), `vector` (list<float32> of
   * `dim` values, L2-normalised, so inner product equals cosine similarity), then the document's
   * fields, nested objects flattened to dotted names (`exif.camera`): strings (UTF-8), integers
   * (INT64), other numbers (DOUBLE), booleans, Dates (TIMESTAMP, milliseconds, UTC); a field whose
   * values have several types is a JSON column; a field named `id`, `id_type`, `collection` or
   * `vector` is written as `doc.<name>`. Binary fields (images) and typed arrays are never
   * written; arrays only when `fields` names them (as JSON). Key-value metadata: `model` (the
   * model identifier) and `clipdb` (JSON: format 'clipdb-parquet', version, collection,
   * vectorIndex, key, model {identifier, dim}, rows, fields [{name, path, type}]).
   * Streams one row group at a time (memory: one row group, not the file). The write lock is
   * taken by this call and held until the stream ends, fails or is cancelled: read it to the end
   * or cancel it. The Parquet writer (npm `hyparquet-writer`, pure JS) is imported on the first
   * call by its bare name, so a page needs import-map entries for `hyparquet-writer/` and
   * `hyparquet/` (bundlers and Node resolve them as they are).
   * Errors: thrown at once, 'INVALID_ARGUMENT' (no vectorIndex, fields not an array of strings,
   * rowGroupSize not a positive integer); through the stream, 'NOT_FOUND' (no such vector index,
   * or no vectors of `model` kept for it), 'INVALID_ARGUMENT' (a `fields` path no exported
   * document has; rowGroupSize × dim over 2^26), 'UNSUPPORTED' (hyparquet-writer cannot be
   * loaded), 'CORRUPT' (a damaged vector record). Chromium's `new Response(stream).blob()`
   * turns a stream error into `TypeError: Failed to fetch`; `getReader()` sees the ClipdbError.
   * @param options.vectorIndex the vector index whose vectors to export.
   * @param options.model the model identifier whose vectors to export (default: the model the
   *   index is added with, else the one it was last added with).
   * @param options.fields dotted paths of the fields to write (a path selects the fields under
   *   it too); default: every string, number, boolean and Date field.
   * @param options.rowGroupSize rows per row group (default: about 2^20 vector values, at least 256 rows; 2048 for 512-d).
   * @example await pipeline(Readable.fromWeb(db.exportParquet({ vectorIndex: 'my-index' })), fs.createWriteStream('photos.parquet'));
   */
  exportParquet(options: {
    vectorIndex: string; model?: string; fields?: string[]; rowGroupSize?: number;
  }): ReadableStream<Uint8Array>;
  close(): Promise<void>;
}

/** Low-level JS mirror of clipdb_index_* (exact cosine top-k in wasm). */
export class WasmVectorIndex {
  constructor(module: object, dim: number);
  readonly dim: number;
  readonly count: number;
  /** keys uint32 [n]; vectors float32 [n*dim]. Upsert. Errors: DIMENSION_MISMATCH, BAD_VECTOR. */
  add(keys: Uint32Array, vectors: Float32Array): void;
  remove(key: number): boolean;
  /** One entry per query; scores descending, ties in insertion order. */
  search(queries: Float32Array, k: number, candidates?: Uint32Array | null): Array<{ keys: Uint32Array; scores: Float32Array }>;
  free(): void;
}

/**
 * The visual and text encoders of one loaded CLIP model as store Models: images go through
 * preprocess() (the official transform) and clipdb_image_embed, texts through the CLIP
 * tokenizer and clipdb_text_embed. `identifier` names the weights and is stored with each
 * vector index ('<identifier>#visual+exif' with exif 'apply', the default; '<identifier>#visual'
 * with 'ignore'), so reopening with other weights, or with the other EXIF policy, is
 * MODEL_MISMATCH ({reindex: true} re-embeds the stored documents).
 * `truncate` (default true) cuts over-long texts as clip.tokenize(truncate=True).
 * `exif` (default 'apply') as in preprocess().
 * @example
 *   const clip = await loadModel({ 'model.safetensors': bytes });
 *   const tokenizer = await createTokenizer({ 'bpe_simple_vocab_16e6.txt.gz': vocab });
 *   const { visual, text } = clipModels({ clip, tokenizer, identifier: 'openai/ViT-B-32' });
 *   await db.add(new VectorIndex('photos', {
 *     indexingListener: new Listener({ model: visual, key: 'image', select: { collection: 'photos' } }),
 *     compatibleListener: new Listener({ model: text, key: 'text', select: { collection: 'photos' } }),
 *   }));
 *   const top3 = await db.collection('photos').like({ text: 'mushroom' }, { vectorIndex: 'photos', n: 3 }).find({});
 */
export function clipModels(options: {
  clip: { config: Record<string, any>; embedImage(pixels: Float32Array): Float32Array; embedText(tokens: Int32Array): Float32Array };
  tokenizer?: { tokenize(text: string, options?: { truncate?: boolean; contextLength?: number }): Int32Array };
  identifier: string;
  truncate?: boolean;
  exif?: 'ignore' | 'apply';
}): { visual: Model | null; text: Model | null };

// ---- model files cached in IndexedDB (web/src/model-cache.mjs) ---------------------------------

/**
 * Model files kept in IndexedDB (database 'clipdb-models', object store 'files', keyed by the
 * URL they were fetched from) as Blobs, so reloads and offline use need no network and a
 * Worker can stream them into loadModel() without holding the file whole. A record is used
 * only if its Blob has the recorded size and each `chunkSize` slice has the SHA-256 recorded
 * when it was written (a file whose write failed half-way is never taken as cached); slices
 * are read one at a time, never the whole file.
 * Records from before per-slice digests are checked against their whole-file SHA-256 with the
 * streaming JavaScript SHA-256. Security is SHA-256's (per slice; the slice list and the file's
 * `sha256` come from the same bytes).
 */
export interface ModelCache {
  /**
   * The file cached for `url` as a Blob (IndexedDB-backed; not read here beyond the check) with
   * the whole file's SHA-256 (hex), or null: absent, failing its size/slice check (then deleted),
   * or a slice unreadable within readTimeoutMs (kept).
   */
  get(url: string): Promise<{ data: Blob; sha256: string; name: string } | null>;
  /**
   * Store a file: a Blob is stored as it is, bytes are copied into one. `sha256` (hex, the whole
   * file's) is computed when not given (from a Blob: streamed in slices). Resolves true once
   * committed, false if the write failed (logged, never thrown).
   */
  put(url: string, name: string, data: Blob | ArrayBuffer | ArrayBufferView, sha256?: string): Promise<boolean>;
  list(): Promise<Array<{ url: string; name: string; size: number; storedAt: number }>>;
  delete(url: string): Promise<void>;
  clear(): Promise<void>;
  close(): void;
}

/**
 * Open the model cache; resolves to null where IndexedDB cannot be opened (private mode, edge
 * runtimes), in which case callers fetch every time. `readTimeoutMs` (default 15000): a cached
 * slice read making no progress that long is abandoned and the file fetched again. `chunkSize`
 * (bytes, 64 to 2^30, default CHUNK_SIZE = 4 MiB; else 'INVALID_ARGUMENT'): slice size of new
 * records' digests and of every read when checking (memory per read vs number of reads).
 * `log` receives why a cached file was not used.
 * @example
 *   const cache = await openModelCache();
 *   const files = await getModelFiles([{ name: 'model.safetensors', url }], { cache });
 */
export function openModelCache(options?: { name?: string; idb?: object; indexedDB?: IDBFactory; readTimeoutMs?: number; chunkSize?: number; log?: (message: string) => void }): Promise<ModelCache | null>;

/** Default slice size (bytes) of the model cache's checks and of sha256Hex over a Blob: 4 MiB. */
export const CHUNK_SIZE: number;

/** Progress of a model download or cached read, in bytes. */
export interface ModelFileProgress { file: string; loaded: number; total: number; source: 'cache' | 'network' }

/**
 * Get model files: each from `cache` when present and intact, else fetched (with byte progress)
 * and then stored in `cache`. Every file comes back as a Blob (the cached one, or the download
 * wrapped once) with its SHA-256 (hex); in a Worker, pass them to loadModel() as they are to
 * stream them. Files marked `optional` that are missing (HTTP 404) or unreachable
 * are left out of the result. Throws ClipdbError 'IO' (network failure, HTTP error, short
 * body), 'ABORTED' (`signal`).
 * @example
 *   const files = await getModelFiles([
 *     { name: 'model.safetensors', url: '/models/clipdb-shapes/model.safetensors' },
 *     { name: 'vocab.txt.gz', url: '/models/clipdb-shapes/vocab.txt.gz' },
 *   ], { cache: await openModelCache(), onProgress: (p) => console.log(p.file, p.loaded, p.total) });
 *   const clip = await loadModel(files.filter((f) => f.name.endsWith('.safetensors')));
 */
export function getModelFiles(
  files: Array<{ name: string; url: string | URL; optional?: boolean }>,
  options?: { cache?: ModelCache | null; signal?: AbortSignal; onProgress?: (p: ModelFileProgress) => void; fetch?: typeof fetch },
): Promise<Array<{ name: string; url: string; data: Blob; sha256: string; source: 'cache' | 'network' }>>;

/** Fetch one URL into an ArrayBuffer with byte progress; null for a missing/unreachable `optional` file. Errors: 'IO', 'ABORTED'. */
export function fetchWithProgress(url: string | URL, options?: { signal?: AbortSignal; onProgress?: (p: { loaded: number; total: number }) => void; optional?: boolean; fetch?: typeof fetch }): Promise<ArrayBuffer | null>;

/**
 * Lower-case hex SHA-256 (FIPS 180-4) of `data`. Bytes: Web Crypto, one call. A Blob/File: read
 * `chunkSize` (default CHUNK_SIZE) slices at a time through an incremental SHA-256 written in
 * JavaScript (web/src/sha256.mjs; Web Crypto cannot digest incrementally), so the Blob is never
 * held whole; slower than Web Crypto, same digest. Errors: 'INVALID_ARGUMENT' (not bytes or a
 * Blob, bad chunkSize), 'ABORTED' (`signal`, checked between slices).
 */
export function sha256Hex(data: ArrayBuffer | ArrayBufferView | Blob, options?: { signal?: AbortSignal; chunkSize?: number }): Promise<string>;

/** Incremental SHA-256 (FIPS 180-4): update() with byte chunks in order, then digest() once (32 bytes). */
export class Sha256 {
  update(data: ArrayBuffer | ArrayBufferView): this;
  digest(): Uint8Array;
}

// ---- clipdb in a Web Worker (web/src/worker.mjs + web/src/client.mjs) ---------------------------

/** A stored photo as the Worker returns it; `image` is the Blob stored (cloned by handle, not copied). */
/**
 * A stored photo as the Worker hands it back. `image`: the original file as stored (a
 * disk-backed Blob, read only when used), or the thumbnail when the Worker keeps no originals.
 * `thumb`: the thumbnail for display (JPEG, longer side `thumbSide` px, default 320), or `image`
 * for photos stored without one. `size`: bytes of `image`.
 */
export interface WorkerPhoto { _id: string; name: string; type: string; size: number; image: Blob; thumb: Blob }

/** What the Worker's store and model are. */
export interface WorkerInfo {
  persistent: boolean; reason?: string; storage: string; documents: number; pending: number; persisted: boolean | null;
  /** The loaded model, or null. `identifier` = label + '@sha256:' + the first 16 hex digits of the weights' SHA-256. */
  /** `threads`: wasm compute threads of the clipdb Worker's module (1 without wasm threads);
   * `workers`: engine-pool members embedding photos (WorkerPoolOptions). */
  model: { identifier: string; label: string; config: Record<string, unknown>; source: 'cache' | 'network' | 'files'; bytes: number; threads: number; workers: number } | null;
  /** Whether the IndexedDB model cache could be opened. */
  modelCache: boolean;
  estimate?: { usage?: number; quota?: number } | null;
  /** The engine pool of the loaded model (null before loadModel): see WorkerPoolStats. */
  pool: WorkerPoolStats | null;
}

/**
 * The engine pool: `workers` Workers thumbnail and embed photos, member 0 being the clipdb Worker
 * itself (which alone reads and writes the store) and members 1.. engine Workers it started.
 * Counts are per member, since the model was loaded: `embedded` images embedded, `thumbnails`
 * thumbnails made. `alive`: members still running; `failure`: the message of the first engine
 * that failed (its work then goes to the others). `modelBytes`: one member's copy of the model
 * in bytes, as its load took in the clipdb Worker's engine (float32 weights and the session's
 * buffers), what poolMemoryMB is checked against.
 */
export interface WorkerPoolStats { workers: number; alive: number; modelBytes: number; embedded: number[]; thumbnails: number[]; failure?: string }

/**
 * Engine-pool options (constructor and init()). Without wasm threads (a page that is not
 * cross-origin isolated, or this build) one Worker embeds on one core; the pool runs `workers`
 * of them and spreads insert()'s photos over them (thumbnail + embedding per photo; results in
 * input order and the same floats as with 1 worker). Memory: each member holds its own copy
 * of the model in its wasm memory: the weights in float32 (an F16 or BF16 file takes twice its
 * size: a ViT-B/32 about 600 MB either way) plus its session's buffers (clipdb-shapes: 4.5 MB in all),
 * measured when the clipdb Worker loads the model (WorkerPoolStats.modelBytes); the pool is
 * made smaller until `workers` copies fit in `poolMemoryMB`.
 */
export interface WorkerPoolOptions {
  /** Pool size, an integer 1-16 (default: 1 when the module has wasm threads, else half of navigator.hardwareConcurrency, at least 1, at most 4). Else 'INVALID_ARGUMENT'. */
  workers?: number;
  /** MiB the model copies may take together (default 1024; > 0, else 'INVALID_ARGUMENT'). Applied at loadModel(). */
  poolMemoryMB?: number;
  /**
   * Wasm compute threads of the clipdb Worker's module, an integer 1-16 (createModule's
   * `threads`; default there: half the cores, 1 to 4, where the page is cross-origin isolated,
   * else 1). Else 'INVALID_ARGUMENT'. Applied when the Worker first creates its module (the
   * first loadModel). With more than 1 thread, `workers` defaults to 1.
   */
  threads?: number;
}

/** Progress messages of Worker calls. */
export type WorkerProgress =
  | ({ phase: 'download' } & ModelFileProgress)
  | { phase: 'load' }
  | { phase: 'workers'; workers: number }
  | { phase: 'index'; done: number; total: number; id: string }
  | { phase: 'insert'; done: number; total: number; id?: string }
  /** importData: documents and vectors stored so far, documents skipped (already present). */
  | { phase: 'import'; documents: number; vectors: number; skipped: number };

/**
 * The page side of clipdb's Web Worker (web/src/worker.mjs), which runs the CLIP engine and the
 * document store (IndexedDB, collection 'photos', vector index 'images') off the main thread.
 * Each call is a message with an id and returns a Promise; progress arrives through the call's
 * `onProgress` and as 'progress' events ({op, callId, progress}); an AbortSignal aborts the call
 * inside the Worker (ClipdbError 'ABORTED'); terminate() stops the Worker and rejects every
 * pending call with 'TERMINATED'. ArrayBuffers in the arguments are transferred (the caller's
 * copies become detached) unless `transfer: false`; Files and Blobs are cloned by handle.
 * Errors from the Worker arrive as ClipdbError with the Worker-side `code` and message.
 * Also emits 'log' events ({message}: e.g. why a cached model file was not used) and 'error'.
 *
 * For offline pages, start the Worker from a URL inside the service worker's scope (a one-line
 * module `import 'clipdb/worker';` next to the page, passed as `workerURL`): a dedicated Worker
 * is matched to a service worker by its own URL. Module Workers see no import map, so
 * init() passes the page's resolution of 'idb' (import.meta.resolve) to the Worker.
 * @example
 *   const client = new ClipdbWorkerClient();
 *   await client.init();
 *   await client.loadModel({ urls: [
 *     { name: 'model.safetensors', url: '/models/clipdb-shapes/model.safetensors' },
 *     { name: 'vocab.txt.gz', url: '/models/clipdb-shapes/vocab.txt.gz' } ] });
 *   const ac = new AbortController();
 *   await client.insert(input.files, { signal: ac.signal, onProgress: (p) => bar.value = p.done / p.total });
 *   const hits = await client.search({ text: 'a red circle' }, { n: 10 });
 */
export class ClipdbWorkerClient extends EventTarget {
  /**
   * `worker`: an existing Worker running worker.mjs; `workerURL`: its URL (default worker.mjs
   * next to client.mjs), started as a module Worker. `workers` / `poolMemoryMB`: the engine pool
   * (WorkerPoolOptions), passed to init() unless it names them itself.
   */
  constructor(options?: { worker?: Worker; workerURL?: string | URL } & WorkerPoolOptions);
  /**
   * Open the store (IndexedDB; memory with `persistent: false` and a `reason` where IndexedDB
   * is unavailable, e.g. in a private window) and the model cache. `dbName` default 'clipdb'.
   * `modelChunkSize`: the model cache's `chunkSize`, also the slice size when hashing model files
   * given as Blobs (default 4 MiB). `workers` / `poolMemoryMB` (WorkerPoolOptions) size the
   * engine pool that the next loadModel() starts; `engineURL`: the script the engine Workers
   * run (default the clipdb Worker's own URL; it must import clipdb's worker.mjs).
   * Errors: 'INVALID_ARGUMENT' (bad pool options).
   */
  init(options?: { dbName?: string; modelCacheName?: string; collection?: string; idbURL?: string; modelChunkSize?: number; engineURL?: string } & WorkerPoolOptions): Promise<WorkerInfo>;
  /**
   * Load a CLIP model (safetensors, OpenAI or Hugging Face layout, plus its tokenizer: a *.txt.gz
   * BPE file or vocab.json + merges.txt) from URLs (through the IndexedDB model cache) or from
   * files, then (re)build the vector index: photos embedded with other weights are re-embedded
   * ('index' progress). `loaded`: vectors read from storage; `embedded`: photos embedded now.
   * Weights given as Files/Blobs, or handed back by the model cache, are streamed into the engine
   * inside the Worker (never read whole; hashed in slices for the identifier). A failed load
   * leaves the model loaded before, the photos and their vectors as they were; a BAD_MODEL from
   * a cached file says so (and keeps the cached copy). With a pool of N > 1 (WorkerPoolOptions)
   * the N-1 engine Workers are started and each loads its own copy of the weights (a 'workers'
   * progress message first); the previous model's engines are stopped once the new one is in.
   * Errors: 'INVALID_ARGUMENT' (no .safetensors / no vocabulary), 'IO', 'BAD_MODEL', 'BAD_VOCAB', 'ABORTED',
   * 'WORKER_ERROR' (an engine Worker could not start or load the model: "engine worker i of N failed: …").
   */
  loadModel(
    source: { urls: Array<{ name: string; url: string; optional?: boolean }>; label?: string; cache?: boolean } | { files: Array<{ name: string; data: ArrayBuffer | Blob }>; label?: string },
    options?: { signal?: AbortSignal; onProgress?: (p: WorkerProgress) => void; transfer?: boolean },
  ): Promise<WorkerInfo['model'] & { loaded: number; embedded: number; info: WorkerInfo }>;
  /**
   * Store and index photos. Ids are the files' `webkitRelativePath` (folder picks) or names;
   * ids already stored are skipped; files that cannot be decoded are reported in `failed` and
   * not stored. Aborting stops between photos: ClipdbError 'ABORTED' with details.insertedIds.
   * Photos are thumbnailed and embedded over the engine pool (each read once, by the member
   * that takes it) and stored by the clipdb Worker in groups of 32 (insertMany). An engine
   * Worker that dies (an uncaught error) fails the call with 'WORKER_ERROR' ("engine worker i
   * of N failed: …", details.insertedIds: the photos stored); it leaves the pool and later
   * calls run on the members left.
   */
  insert(
    files: Iterable<File | Blob | { name: string; type?: string; data: ArrayBuffer | Blob; path?: string }>,
    options?: { signal?: AbortSignal; onProgress?: (p: WorkerProgress) => void; transfer?: boolean },
  ): Promise<{ inserted: number; skipped: number; failed: Array<{ id: string; code: string; message: string }>; count: number }>;
  /**
   * Search by text, by a stored photo ("more like this": `{id}`) or by an image. Results best
   * first with `score` = cosine similarity, at most `n` (default 24), pre-filtered by `filter`
   * over the photo documents ({_id, name, type, size}). Errors: 'INVALID_STATE' (no model),
   * 'NOT_FOUND' (unknown id), 'BAD_IMAGE'.
   */
  search(query: { text: string } | { id: string } | { image: Blob | ArrayBuffer }, options?: { n?: number; filter?: Filter; signal?: AbortSignal }): Promise<Array<WorkerPhoto & { score: number }>>;
  /**
   * Stored photos in insertion order (default limit 200). `thumbURLs: true` adds each
   * thumbnail as a data: URL (`thumbURL`), made in the Worker: no object URL on the page's thread.
   */
  list(options?: { limit?: number; skip?: number; thumbURLs?: boolean }): Promise<Array<WorkerPhoto & { thumbURL?: string }>>;
  count(): Promise<number>;
  /** Delete one photo and its vector. */
  delete(id: string): Promise<{ deletedCount: number }>;
  /** Delete every photo and vector (the store's IndexedDB database); `modelCache: true` also empties the model cache. */
  clear(options?: { modelCache?: boolean }): Promise<WorkerInfo>;
  info(): Promise<WorkerInfo>;
  /**
   * The models whose vectors the photos' vector index keeps, each with the number of photos it
   * has embedded; `label` is the identifier without its '@sha256:…' suffix, `current` marks the loaded model.
   */
  models(): Promise<Array<{ identifier: string; label: string; dim: number; vectors: number; current: boolean }>>;
  /** The whole store as one export container (ustar, docs/export-format.md) in a Blob; browsers keep large Blobs on disk. */
  exportData(options?: { signal?: AbortSignal }): Promise<{ file: Blob; documents: number }>;
  /**
   * Load an export container; photos already stored are kept (`onConflict: 'skip'`, the default here).
   * The loaded model's vector index is added again, so imported vectors of that model are searchable at once.
   */
  importData(file: Blob, options?: { onConflict?: 'error' | 'skip'; signal?: AbortSignal; onProgress?: (p: { documents: number; vectors: number; skipped: number }) => void }): Promise<{ documents: number; vectors: number; skipped: number; info: WorkerInfo }>;
  /** Run any Worker op by name (the methods above are shorthands), e.g. call('resources') → {urls}: what the Worker loaded. */
  call(op: string, args?: object, options?: { signal?: AbortSignal; onProgress?: (p: WorkerProgress) => void; transfer?: boolean | Transferable[] }): Promise<any>;
  /** Stop the Worker now; pending calls reject with ClipdbError 'TERMINATED'. Idempotent. */
  terminate(): void;
}

// ---- Edge entry ('clipdb' under the workerd / edge-light conditions, or 'clipdb/edge') -----------
// The same names as above with these differences: nothing is located or cached for the caller.
// createModule needs {wasmModule} (or {wasmBinary}); loadModel, createTokenizer, preprocess,
// defaultImageOptions and openDatabase need {module} (from that createModule) and throw
// INVALID_ARGUMENT without it; model and vocabulary data may also be a ReadableStream or a
// Response (chunks kept as they arrive and streamed tensor by tensor into wasm memory; with
// maxMemoryMB a model is refused as soon as its header has arrived and the stream is
// cancelled); openDatabase runs on memory storage unless given an adapter object. Not exported
// there: getModule, setDefaultTokenizer, tokenize, fsStorage, indexedDBStorage, the model cache
// and the Worker client.

/**
 * Edge entry only: model or vocabulary data as a Worker gets it (an R2 object's body, a KV
 * stream, a fetch Response): read chunk by chunk, the chunks kept as they arrive (never
 * concatenated), then streamed into wasm memory tensor by tensor.
 */
export type EdgeFileData = Response | ReadableStream<Uint8Array>;
