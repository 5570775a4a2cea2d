// Low-level binding: a 1:1 mirror of the C API of include/clipdb.h (status and log, models,
// sessions, tokenizer, image preprocessing, vector index) over an Emscripten module that the
// caller passes as the first argument (module.mjs createModule()/getModule(), or the edge
// entry's). image.mjs, text.mjs, engine.mjs and db/vector-index.mjs reach wasm only through
// these functions. None of them throws for a C failure: each returns the numeric status
// (0 = success) with its results, and `message` where the failure happened on the JS side;
// otherwise the C message stays readable through clipdb_last_error(mod) (or the handle's
// *_last_error). toError() turns such a result into the ClipdbError the high-level API throws,
// using the one status table statusCodes(). Memory discipline:
//   - every _malloc made during a call is freed in `finally` (scoped allocation);
//   - typed arrays are copied in and results copied out (no views escape);
//   - HEAP views are re-read after any call that may grow memory (mod.HEAPU8 etc. are
//     replaced by Emscripten when memory grows, so never cache them across calls).
// Handles (model, session, tokenizer, index) are plain numbers (wasm pointers); free them with
// the matching *_free function.
import { ClipdbError, WASM_MEMORY_LIMIT } from './errors.mjs';

/** Scoped heap allocations: `alloc(n)` returns a pointer freed by `release()`. */
function scope(mod) {
  const ptrs = [];
  return {
    alloc(bytes) {
      const p = mod._malloc(Math.max(1, bytes));
      // The bytes asked for and the memory's size and limit (not the size of the caller's input).
      if (p === 0) throw Object.assign(new RangeError(`failed to allocate ${bytes} bytes of wasm memory (memory is ${mod.HEAPU8 ? mod.HEAPU8.length : 0} bytes, at most ${WASM_MEMORY_LIMIT} bytes)`), { clipdbAlloc: true });
      ptrs.push(p);
      return p;
    },
    release() {
      for (const p of ptrs.reverse()) mod._free(p);
      ptrs.length = 0;
    },
  };
}

/** Status numbers by name ({SUCCESS: 0, BAD_MODEL: ..., ...}), read from the module (never hard-coded). */
const statusCache = new WeakMap();
export function statusCodes(mod) {
  let t = statusCache.get(mod);
  if (!t) {
    t = JSON.parse(mod.UTF8ToString(mod._clipdb__wasm_enum_json())).status;
    statusCache.set(mod, t);
  }
  return t;
}

const OOM = (mod) => statusCodes(mod).OUT_OF_MEMORY;
const INVALID = (mod) => statusCodes(mod).INVALID_ARGUMENT;

/** The status name of a number ('BAD_MODEL'), or 'STATUS_<n>' for one the table lacks. */
export function statusName(mod, status) {
  const table = statusCodes(mod);
  return Object.keys(table).find((k) => table[k] === status) || `STATUS_${status}`;
}

/**
 * The ClipdbError for a failed binding result `r` ({status, message?}): code = the status
 * name, message = r.message, else `fallback` (a handle's own *_last_error text), else
 * clipdb_last_error(), else '<what>: <code>'. `status` is kept on the error.
 */
export function toError(mod, r, what, fallback = '') {
  const code = statusName(mod, r.status);
  let text = r.message || fallback || clipdb_last_error(mod) || `${what}: ${code}`;
  if (r.message && r.message.startsWith('failed to allocate ') && what) text = `${what}: ${r.message}`;
  return new ClipdbError(code, text, { status: r.status });
}

/** Throw toError(...) unless r.status is 0; returns r. */
export function check(mod, r, what, fallback) {
  if (r.status !== 0) throw toError(mod, r, what, fallback);
  return r;
}

// Run `body(scope)`; a RangeError from a failed _malloc becomes {status: OUT_OF_MEMORY}.
function scoped(mod, body) {
  const s = scope(mod);
  try {
    return body(s);
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), message: err.message };
    throw err;
  } finally {
    s.release();
  }
}

const utf8 = new TextEncoder();

// Copy bytes into the scope, NUL-terminated (C strings and byte buffers alike).
function copyBytes(mod, s, bytes) {
  const p = s.alloc(bytes.length + 1);
  mod.HEAPU8.set(bytes, p);
  mod.HEAPU8[p + bytes.length] = 0;
  return p;
}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** clipdb_last_error(): message of the calling thread's most recent failure, or ''. */
export function clipdb_last_error(mod) {
  return mod.UTF8ToString(mod._clipdb_last_error());
}

/** clipdb_status_string(status), e.g. 'BAD_MODEL'. */
export function clipdb_status_string(mod, status) {
  return mod.UTF8ToString(mod._clipdb_status_string(status));
}

/** clipdb_backend_name(): 'simd' or 'scalar' in the wasm build. */
export function clipdb_backend_name(mod) {
  return mod.UTF8ToString(mod._clipdb_backend_name());
}

/**
 * clipdb_log_set: `callback(level, message)` receives the library's log messages (level 0
 * error, 1 warn, 2 info, 3 debug; message a string), or null to discard them (the default).
 * One callback per module instance.
 */
export function clipdb_log_set(mod, callback) {
  if (callback != null && typeof callback !== 'function') return { status: INVALID(mod), message: 'clipdb_log_set: callback must be a function or null' };
  mod.clipdbLog = callback || undefined;
  mod._clipdb__wasm_log_enable(callback ? 1 : 0);
  return { status: 0 };
}

/** clipdb_allocated_bytes(): bytes held by the library (leak checks). */
export function clipdb_allocated_bytes(mod) {
  return mod._clipdb_allocated_bytes() >>> 0;
}

let nextReader = 1;

/**
 * clipdb_model_init_from_files. `files`: [{name: 'model.safetensors' | 'config.json' | ...,
 * data: Uint8Array | ArrayBuffer | TypedArray}] — the bytes are copied into the wasm heap for
 * the call and freed afterwards (the model keeps its own packed copy) — or, to stream a file
 * (clipdb_file.read), {name, size, read(offset, dst, n)}: `read` must synchronously write the
 * n bytes at file offset `offset` to wasm memory at address `dst` (mod.HEAPU8, read afresh on
 * each call: memory may grow between calls) and throw on failure; it is called only during
 * this call. Returns {status, model} (model = 0 on failure; a reader's exception is appended
 * to `message`).
 */
export function clipdb_model_init_from_files(mod, files, params = {}) {
  const s = scope(mod);
  const handles = [];
  try {
    if (!Array.isArray(files) || files.length === 0) {
      // let C produce the message for the empty table
      const outp = s.alloc(4);
      const status = mod._clipdb__wasm_model_init(0, 0, 0, 0, 0, 1, 1, 0, outp);
      return { status, model: 0 };
    }
    const n = files.length;
    const names = s.alloc(4 * n), datas = s.alloc(4 * n), sizes = s.alloc(4 * n), readers = s.alloc(4 * n);
    const outp = s.alloc(4);
    const entries = [];
    if (!mod.clipdbReaders) mod.clipdbReaders = new Map();
    for (const f of files) {
      const name = String((f && f.name) || '');
      const np = s.alloc(mod.lengthBytesUTF8(name) + 1);
      mod.stringToUTF8(name, np, mod.lengthBytesUTF8(name) + 1);
      if (f && typeof f.read === 'function') {
        const size = Number(f.size);
        if (!Number.isSafeInteger(size) || size < 0 || size > 0xffffffff) {
          return { status: statusCodes(mod).INVALID_ARGUMENT, model: 0, message: `file ${name}: size ${f.size} is not a byte count below 4 GiB` };
        }
        const handle = nextReader++;
        const read = (offset, dst, len) => { f.read(offset, dst, len); return 0; };
        mod.clipdbReaders.set(handle, read);
        handles.push([handle, read]);
        entries.push([np, 0, size, handle]);
        continue;
      }
      const bytes = bytesOf(f && f.data);
      if (bytes == null) return { status: statusCodes(mod).INVALID_ARGUMENT, model: 0, message: `file ${name} has no byte data` };
      const dp = s.alloc(bytes.length);
      mod.HEAPU8.set(bytes, dp); // HEAPU8 read after the allocation (memory may have grown)
      entries.push([np, dp, bytes.length, 0]);
    }
    const u32 = mod.HEAPU32;
    entries.forEach(([np, dp, len, handle], i) => {
      u32[(names >> 2) + i] = np;
      u32[(datas >> 2) + i] = dp;
      u32[(sizes >> 2) + i] = len;
      u32[(readers >> 2) + i] = handle;
    });
    const status = mod._clipdb__wasm_model_init(names, datas, sizes, readers, n,
      params.loadVision === false ? 0 : 1, params.loadText === false ? 0 : 1, (params.nThreads ?? mod.clipdbThreads ?? 1) | 0, outp);
    if (status !== 0) {
      const thrown = handles.map(([, read]) => read.error).find((e) => e != null);
      if (thrown != null) return { status, model: 0, message: `${clipdb_last_error(mod)}: ${thrown && thrown.message ? thrown.message : thrown}` };
    }
    return { status, model: status === 0 ? mod.HEAPU32[outp >> 2] : 0 };
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), model: 0, message: err.message };
    throw err;
  } finally {
    for (const [handle] of handles) mod.clipdbReaders.delete(handle);
    s.release();
  }
}

/**
 * clipdb_model_quantize. `file`: {name, data} (bytes, copied into the heap for the call) or
 * {name, size, read(offset, dst, n)} (streamed, as for clipdb_model_init_from_files);
 * `dtype`: 1 = int8, 2 = f16; `write(bytes)` receives each output chunk (a Uint8Array copy,
 * in order). Returns {status, size} (size = bytes written; message set if a callback threw).
 */
export function clipdb_model_quantize(mod, file, dtype, write) {
  const s = scope(mod);
  let rh = 0, wh = 0;
  if (!mod.clipdbReaders) mod.clipdbReaders = new Map();
  if (!mod.clipdbWriters) mod.clipdbWriters = new Map();
  let written = 0;
  const writer = (ptr, n) => { write(mod.HEAPU8.slice(ptr, ptr + n)); written += n; return 0; };
  let reader = null;
  try {
    const name = String((file && file.name) || 'model.safetensors');
    const np = s.alloc(mod.lengthBytesUTF8(name) + 1);
    mod.stringToUTF8(name, np, mod.lengthBytesUTF8(name) + 1);
    let dp = 0, size = 0;
    if (file && typeof file.read === 'function') {
      size = Number(file.size);
      if (!Number.isSafeInteger(size) || size < 0 || size > 0xffffffff) {
        return { status: statusCodes(mod).INVALID_ARGUMENT, size: 0, message: `file ${name}: size ${file.size} is not a byte count below 4 GiB` };
      }
      reader = (offset, dst, len) => { file.read(offset, dst, len); return 0; };
      rh = nextReader++;
      mod.clipdbReaders.set(rh, reader);
    } else {
      const bytes = bytesOf(file && file.data);
      if (bytes == null) return { status: statusCodes(mod).INVALID_ARGUMENT, size: 0, message: `file ${name} has no byte data` };
      dp = s.alloc(bytes.length);
      mod.HEAPU8.set(bytes, dp);
      size = bytes.length;
    }
    wh = nextReader++;
    mod.clipdbWriters.set(wh, writer);
    const status = mod._clipdb__wasm_model_quantize(np, dp, size, rh, dtype, wh, 0);
    const thrown = (reader && reader.error) || writer.error;
    if (status !== 0 && thrown != null) return { status, size: 0, message: `${clipdb_last_error(mod)}: ${thrown && thrown.message ? thrown.message : thrown}` };
    return { status, size: status === 0 ? written : 0 };
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), size: 0, message: err.message };
    throw err;
  } finally {
    if (rh) mod.clipdbReaders.delete(rh);
    if (wh) mod.clipdbWriters.delete(wh);
    s.release();
  }
}

/** clipdb_model_free(model). */
export function clipdb_model_free(mod, model) {
  if (model) mod._clipdb_model_free(model);
}

/** clipdb_model_config_json(model) parsed: the resolved configuration object, or null. */
export function clipdb_model_config_json(mod, model) {
  const n = mod._clipdb_model_config_json(model, 0, 0);
  if (n < 0) return null;
  const s = scope(mod);
  try {
    const p = s.alloc(n + 1);
    mod._clipdb_model_config_json(model, p, n + 1);
    return JSON.parse(mod.UTF8ToString(p));
  } finally {
    s.release();
  }
}

/** clipdb_model_last_error(model). */
export function clipdb_model_last_error(mod, model) {
  return mod.UTF8ToString(mod._clipdb_model_last_error(model));
}

/** clipdb_session_init(model) → {status, session}. */
export function clipdb_session_init(mod, model) {
  const s = scope(mod);
  try {
    const outp = s.alloc(4);
    const status = mod._clipdb_session_init(model, outp);
    return { status, session: status === 0 ? mod.HEAPU32[outp >> 2] : 0 };
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), session: 0, message: err.message };
    throw err;
  } finally {
    s.release();
  }
}

/** clipdb_session_free(session). */
export function clipdb_session_free(mod, session) {
  if (session) mod._clipdb_session_free(session);
}

/** clipdb_session_last_error(session). */
export function clipdb_session_last_error(mod, session) {
  return mod.UTF8ToString(mod._clipdb_session_last_error(session));
}

function modelDims(mod, model, s) {
  const p = s.alloc(12);
  const status = mod._clipdb__wasm_model_dims(model, p, p + 4, p + 8);
  const i32 = mod.HEAP32;
  return { status, embedDim: i32[p >> 2], imageResolution: i32[(p >> 2) + 1], contextLength: i32[(p >> 2) + 2] };
}

/**
 * clipdb_image_embed(session, pixels, n): `pixels` Float32Array of n·3·R·R (CHW per image,
 * preprocessed). `model` gives the sizes. Returns {status, embeddings: Float32Array
 * [n·embed_dim]} (a copy; null on failure).
 */
export function clipdb_image_embed(mod, model, session, pixels, n = 1) {
  const s = scope(mod);
  try {
    const d = modelDims(mod, model, s);
    if (d.status !== 0) return { status: d.status, embeddings: null };
    const per = 3 * d.imageResolution * d.imageResolution;
    if (!(pixels instanceof Float32Array) || per === 0 || pixels.length !== per * n || n < 1)
      return { status: statusCodes(mod).INVALID_ARGUMENT, embeddings: null,
        message: `failed to embed image: expected a Float32Array of ${n}x3x${d.imageResolution}x${d.imageResolution} values` };
    const px = s.alloc(pixels.length * 4), out = s.alloc(n * d.embedDim * 4);
    mod.HEAPF32.set(pixels, px >> 2);
    const status = mod._clipdb_image_embed(session, px, n, out);
    // the call may have grown memory: read HEAPF32 afresh
    const embeddings = status === 0 ? mod.HEAPF32.slice(out >> 2, (out >> 2) + n * d.embedDim) : null;
    return { status, embeddings };
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), embeddings: null, message: err.message };
    throw err;
  } finally {
    s.release();
  }
}

/**
 * clipdb_text_embed(session, tokens): `tokens` Int32Array (or number array) of at most
 * context_length ids. Returns {status, embedding: Float32Array [embed_dim]} (null on failure).
 */
export function clipdb_text_embed(mod, model, session, tokens) {
  const s = scope(mod);
  try {
    const d = modelDims(mod, model, s);
    if (d.status !== 0) return { status: d.status, embedding: null };
    const ids = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens || []);
    const tp = s.alloc(ids.length * 4), out = s.alloc(d.embedDim * 4);
    mod.HEAP32.set(ids, tp >> 2);
    const status = mod._clipdb_text_embed(session, tp, ids.length, out);
    const embedding = status === 0 ? mod.HEAPF32.slice(out >> 2, (out >> 2) + d.embedDim) : null;
    return { status, embedding };
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), embedding: null, message: err.message };
    throw err;
  } finally {
    s.release();
  }
}

/**
 * clipdb_text_embed_batch(session, rows): `rows` an array of Int32Array (or number arrays) of
 * ids, each at most context_length long; shorter rows are zero-padded to the longest (padding
 * after end-of-text does not change a text's embedding). Returns {status, embeddings:
 * Float32Array [rows.length * embed_dim]} (null on failure).
 */
export function clipdb_text_embed_batch(mod, model, session, rows) {
  const s = scope(mod);
  try {
    const d = modelDims(mod, model, s);
    if (d.status !== 0) return { status: d.status, embeddings: null };
    const list = Array.from(rows || [], (r) => (r instanceof Int32Array ? r : Int32Array.from(r || [])));
    const rowLen = list.reduce((m, r) => Math.max(m, r.length), 0);
    const n = list.length;
    const tp = s.alloc(Math.max(1, n * rowLen) * 4), out = s.alloc(Math.max(1, n) * d.embedDim * 4);
    mod.HEAP32.fill(0, tp >> 2, (tp >> 2) + n * rowLen);
    list.forEach((r, i) => mod.HEAP32.set(r, (tp >> 2) + i * rowLen));
    const status = mod._clipdb_text_embed_batch(session, tp, n, rowLen, out);
    const embeddings = status === 0 ? mod.HEAPF32.slice(out >> 2, (out >> 2) + n * d.embedDim) : null;
    return { status, embeddings };
  } catch (err) {
    if (err instanceof RangeError) return { status: OOM(mod), embeddings: null, message: err.message };
    throw err;
  } finally {
    s.release();
  }
}

/** clipdb_embedding_normalize on a copy of `v`: {status, vector}. */
export function clipdb_embedding_normalize(mod, v) {
  const s = scope(mod);
  try {
    const x = v instanceof Float32Array ? v : Float32Array.from(v);
    const p = s.alloc(x.length * 4);
    mod.HEAPF32.set(x, p >> 2);
    const status = mod._clipdb_embedding_normalize(p, x.length);
    return { status, vector: status === 0 ? mod.HEAPF32.slice(p >> 2, (p >> 2) + x.length) : null };
  } finally {
    s.release();
  }
}

/* ---------------------------------------------------------------------------------------------
 * Tokenizer
 * ------------------------------------------------------------------------------------------- */

/**
 * clipdb_tokenizer_init_from_files: `files` [{name, data: Uint8Array}] — one OpenAI
 * `*.txt.gz`/`*.txt` vocabulary, or HF `vocab.json` + `merges.txt`. The bytes are copied for
 * the call. Returns {status, tokenizer} (0 on failure).
 */
export function clipdb_tokenizer_init_from_files(mod, files) {
  const r = scoped(mod, (s) => {
    const list = Array.isArray(files) ? files : [];
    if (list.length < 1 || list.length > 2) {
      return { status: INVALID(mod), message: `failed to create tokenizer: expected 1 file (.txt.gz) or 2 (vocab.json + merges.txt), got ${list.length}` };
    }
    const args = [];
    for (const f of list) {
      const bytes = bytesOf(f && f.data);
      if (typeof (f && f.name) !== 'string' || bytes == null) return { status: INVALID(mod), message: 'failed to create tokenizer: every file needs a name and bytes' };
      args.push(copyBytes(mod, s, utf8.encode(f.name)), copyBytes(mod, s, bytes), bytes.length);
    }
    while (args.length < 6) args.push(0);
    const out = s.alloc(4);
    const status = mod._clipdb__wasm_tokenizer_init(...args, list.length, out);
    return { status, tokenizer: status === 0 ? mod.HEAPU32[out >> 2] : 0 };
  });
  if (r.tokenizer === undefined) r.tokenizer = 0;
  return r;
}

/** clipdb_tokenizer_free(tokenizer). */
export function clipdb_tokenizer_free(mod, tokenizer) {
  if (tokenizer) mod._clipdb_tokenizer_free(tokenizer);
}

/** clipdb_tokenizer_last_error(tokenizer). */
export function clipdb_tokenizer_last_error(mod, tokenizer) {
  return mod.UTF8ToString(mod._clipdb_tokenizer_last_error(tokenizer));
}

/** clipdb_tokenizer_vocab_size / _sot / _eot: {vocabSize, sot, eot}. */
export function clipdb_tokenizer_info(mod, tokenizer) {
  return {
    vocabSize: mod._clipdb_tokenizer_vocab_size(tokenizer),
    sot: mod._clipdb_tokenizer_sot(tokenizer),
    eot: mod._clipdb_tokenizer_eot(tokenizer),
  };
}

/**
 * clipdb_tokenize(tokenizer, text, context_length, truncate): `text` a string (UTF-8 encoded
 * here; lone surrogates become U+FFFD) or UTF-8 bytes. Returns {status, tokens: Int32Array
 * [contextLength]} (null on failure; TEXT_TOO_LONG names the token count).
 */
export function clipdb_tokenize(mod, tokenizer, text, contextLength = 77, truncate = false) {
  return scoped(mod, (s) => {
    const bytes = typeof text === 'string' ? utf8.encode(text) : bytesOf(text);
    if (bytes == null) return { status: INVALID(mod), tokens: null, message: 'failed to tokenize: text must be a string or UTF-8 bytes' };
    const src = copyBytes(mod, s, bytes);
    const out = s.alloc(contextLength * 4);
    const status = mod._clipdb_tokenize(tokenizer, src, bytes.length, contextLength, truncate ? 1 : 0, out, 0);
    return { status, tokens: status === 0 ? mod.HEAP32.slice(out >> 2, (out >> 2) + contextLength) : null };
  });
}

/* ---------------------------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------------------------- */

const INFO_CAP = 256;

/**
 * clipdb_image_default_params(): {resolution, mean: number[3], std: number[3], maxPixels,
 * exif: 'apply'|'ignore'}.
 */
export function clipdb_image_default_params(mod) {
  const s = scope(mod);
  try {
    const p = s.alloc(64);
    mod._clipdb__wasm_image_default_params(p, p + 8, p + 40, p + 48);
    const f32 = mod.HEAPF32.subarray((p + 8) >> 2, ((p + 8) >> 2) + 6);
    return {
      resolution: mod.HEAP32[p >> 2],
      mean: Array.from(f32.subarray(0, 3)),
      std: Array.from(f32.subarray(3, 6)),
      maxPixels: new Float64Array(mod.HEAPU8.buffer, p + 40, 1)[0],
      exif: mod.HEAP32[(p + 48) >> 2] === 1 ? 'apply' : 'ignore',
    };
  } finally {
    s.release();
  }
}

function meanStd(mod, s, params) {
  const ms = s.alloc(24);
  mod.HEAPF32.set([...params.mean, ...params.std], ms >> 2);
  return ms;
}

/**
 * clipdb_image_preprocess: `bytes` (Uint8Array) of an encoded JPEG/PNG/BMP/GIF; `params`
 * {resolution, mean[3], std[3], maxPixels, exif: 'apply'|'ignore'}. Returns {status, pixels:
 * Float32Array [3·R·R] (CHW), info: {format, mode, width, height, orientation}} (null on
 * failure: BAD_IMAGE, UNSUPPORTED, IMAGE_TOO_LARGE, OUT_OF_MEMORY).
 */
export function clipdb_image_preprocess(mod, bytes, params) {
  return scoped(mod, (s) => {
    const R = params.resolution;
    const src = copyBytes(mod, s, bytes);
    const ms = meanStd(mod, s, params);
    const out = s.alloc(3 * R * R * 4), info = s.alloc(INFO_CAP);
    const status = mod._clipdb__wasm_image_preprocess(src, bytes.length, R, ms, params.maxPixels,
      params.exif === 'apply' ? 1 : 0, out, info, INFO_CAP);
    if (status !== 0) return { status, pixels: null, info: null };
    return { status, pixels: mod.HEAPF32.slice(out >> 2, (out >> 2) + 3 * R * R), info: JSON.parse(mod.UTF8ToString(info)) };
  });
}

/**
 * clipdb_image_preprocess_pixels: 8-bit `data` (Uint8Array/Uint8ClampedArray) of width x
 * height pixels with `channels` 3 (RGB) or 4 (RGBA, resized premultiplied), rows packed.
 * Returns {status, pixels: Float32Array [3·R·R]} (null on failure).
 */
export function clipdb_image_preprocess_pixels(mod, data, width, height, channels, params) {
  return scoped(mod, (s) => {
    const R = params.resolution;
    const px = s.alloc(data.length);
    mod.HEAPU8.set(data, px);
    const ms = meanStd(mod, s, params);
    const out = s.alloc(3 * R * R * 4);
    const status = mod._clipdb__wasm_image_preprocess_pixels(px, width, height, channels, width * channels, R, ms, params.maxPixels, out);
    return { status, pixels: status === 0 ? mod.HEAPF32.slice(out >> 2, (out >> 2) + 3 * R * R) : null };
  });
}

/* ---------------------------------------------------------------------------------------------
 * Vector index (exact cosine top-k)
 * ------------------------------------------------------------------------------------------- */

/** clipdb_index_init(dim) → {status, index} (0 on failure). */
export function clipdb_index_init(mod, dim) {
  const r = scoped(mod, (s) => {
    const p = s.alloc(4);
    const status = mod._clipdb_index_init(dim, p);
    return { status, index: status === 0 ? mod.HEAPU32[p >> 2] : 0 };
  });
  if (r.index === undefined) r.index = 0;
  return r;
}

/** clipdb_index_free(index). */
export function clipdb_index_free(mod, index) {
  if (index) mod._clipdb_index_free(index);
}

/** clipdb_index_last_error(index). */
export function clipdb_index_last_error(mod, index) {
  return mod.UTF8ToString(mod._clipdb_index_last_error(index));
}

/** clipdb_index_dim(index). */
export function clipdb_index_dim(mod, index) {
  return mod._clipdb_index_dim(index);
}

/** clipdb_index_count(index): number of vectors held. */
export function clipdb_index_count(mod, index) {
  return mod._clipdb_index_count(index) >>> 0;
}

/** clipdb_index_kernel_name(): the dot-product kernel chosen at run time. */
export function clipdb_index_kernel_name(mod) {
  return mod.UTF8ToString(mod._clipdb_index_kernel_name());
}

/**
 * clipdb_index_add(index, keys, vectors, n): `keys` uint32 [n], `vectors` Float32Array
 * [n·dim] (copied; the index keeps its own normalised copy). Returns {status}.
 */
export function clipdb_index_add(mod, index, keys, vectors) {
  return scoped(mod, (s) => {
    const n = keys.length;
    const pk = s.alloc(n * 4), pv = s.alloc(vectors.length * 4);
    mod.HEAPU32.set(keys, pk >> 2);
    mod.HEAPF32.set(vectors, pv >> 2);
    return { status: mod._clipdb_index_add(index, pk, pv, n) };
  });
}

/** clipdb_index_reserve(index, n): room for n vectors in total. {status}. */
export function clipdb_index_reserve(mod, index, n) {
  return { status: mod._clipdb_index_reserve(index, n >>> 0) };
}

/** clipdb_index_compact(index): {status}; afterwards rows are 16-bit codes (no float32 copy). */
export function clipdb_index_compact(mod, index) {
  return { status: mod._clipdb_index_compact(index) };
}

/** clipdb_index_compact_version(): the compact row encoding's version (1). */
export function clipdb_index_compact_version(mod) { return mod._clipdb_index_compact_version(); }

/**
 * clipdb_index_compact_encode(dim, vectors Float32Array [n * dim]): {status, planes: Uint8Array
 * [n * (4 + 2 * dim)]} (scales, codes, low bytes; see clipdb.h), a copy owned by the caller.
 */
export function clipdb_index_compact_encode(mod, dim, vectors) {
  return scoped(mod, (s) => {
    const n = vectors.length / dim, bytes = n * (4 + 2 * dim);
    const pv = s.alloc(Math.max(1, vectors.length) * 4), po = s.alloc(Math.max(1, bytes));
    mod.HEAPF32.set(vectors, pv >> 2);
    const status = mod._clipdb_index_compact_encode(dim, pv, n, po);
    return { status, planes: status === 0 ? mod.HEAPU8.slice(po, po + bytes) : null };
  });
}

/** clipdb_index_add_compact(index, keys Uint32Array [n], planes Uint8Array [n * (4 + 2 * dim)]): {status}. */
export function clipdb_index_add_compact(mod, index, keys, planes) {
  return scoped(mod, (s) => {
    const pk = s.alloc(Math.max(1, keys.length) * 4), pp = s.alloc(Math.max(1, planes.length));
    mod.HEAPU32.set(keys, pk >> 2);
    mod.HEAPU8.set(planes, pp);
    return { status: mod._clipdb_index_add_compact(index, pk, pp, keys.length) };
  });
}

/** clipdb_index_remove(index, key): {status} (NOT_FOUND when absent). */
export function clipdb_index_remove(mod, index, key) {
  return { status: mod._clipdb_index_remove(index, key >>> 0) };
}

/** clipdb_index_get(index, key): {status, vector: Float32Array [dim]} (the stored, normalised copy). */
export function clipdb_index_get(mod, index, key) {
  return scoped(mod, (s) => {
    const dim = mod._clipdb_index_dim(index);
    const out = s.alloc(Math.max(1, dim) * 4);
    const status = mod._clipdb_index_get(index, key >>> 0, out);
    return { status, vector: status === 0 ? mod.HEAPF32.slice(out >> 2, (out >> 2) + dim) : null };
  });
}

/**
 * clipdb_index_search(index, queries, nq, k, candidates): `queries` Float32Array [nq·dim];
 * `k` >= 0; `candidates` null or a Uint32Array of keys to search among. Returns {status,
 * results: [{keys: Uint32Array, scores: Float32Array}] per query, best first (cosine
 * similarity; equal scores by key)}.
 */
export function clipdb_index_search(mod, index, queries, nq, k, candidates = null) {
  return scoped(mod, (s) => {
    const nc = candidates ? candidates.length : 0;
    const pq = s.alloc(queries.length * 4), pkeys = s.alloc(Math.max(1, nq * k) * 4),
      pscores = s.alloc(Math.max(1, nq * k) * 4), pcounts = s.alloc(Math.max(1, nq) * 4),
      pc = candidates ? s.alloc(Math.max(1, nc) * 4) : 0;
    mod.HEAPF32.set(queries, pq >> 2);
    if (candidates) mod.HEAPU32.set(candidates, pc >> 2);
    const status = mod._clipdb_index_search(index, pq, nq, k, pc, nc, pkeys, pscores, pcounts);
    if (status !== 0) return { status, results: null };
    const results = [];
    for (let q = 0; q < nq; q++) {
      const c = mod.HEAPU32[(pcounts >> 2) + q], off = q * k;
      results.push({
        keys: mod.HEAPU32.slice((pkeys >> 2) + off, (pkeys >> 2) + off + c),
        scores: mod.HEAPF32.slice((pscores >> 2) + off, (pscores >> 2) + off + c),
      });
    }
    return { status, results };
  });
}
