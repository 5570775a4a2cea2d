// Low-level binding of the model API: a 1:1 mirror of the C names of include/clipdb.h
// ("Models", "Sessions") over an Emscripten module from module.mjs. It never throws for a
// C failure: every function returns the numeric status (0 = success) plus its results, and
// the message stays readable through clipdb_last_error(mod). Memory discipline:
//   - every _malloc made during a call is freed in `finally` (scoped allocation);
//   - typed arrays are copied in and results copied out (no views escape);
//   - HEAP views are re-read after any call that may grow memory (mod.HEAPU8 etc. are
//     replaced by Emscripten when memory grows, so never cache them across calls).
// Handles (model, session) are plain numbers (wasm pointers); free them with the matching
// *_free function.

/** Scoped heap allocations: `alloc(n)` returns a pointer freed by `release()`. */
function scope(mod) {
  const ptrs = [];
  return {
    alloc(bytes) {
      const p = mod._malloc(Math.max(1, bytes));
      if (p === 0) throw new RangeError(`wasm heap: failed to allocate ${bytes} bytes`);
      ptrs.push(p);
      return p;
    },
    release() {
      for (const p of ptrs.reverse()) mod._free(p);
      ptrs.length = 0;
    },
  };
}

/** Status numbers by name, read from the module (never hard-coded). */
let statusCache = new WeakMap();
export function statusCodes(mod) {
  let t = statusCache.get(mod);
  if (!t) {
    t = JSON.parse(mod.UTF8ToString(mod._clipdb__wasm_enum_json())).status;
    statusCache.set(mod, t);
  }
  return t;
}

const OOM = (mod) => statusCodes(mod).OUT_OF_MEMORY;

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
      params.loadVision === false ? 0 : 1, params.loadText === false ? 0 : 1, params.nThreads | 0, outp);
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
