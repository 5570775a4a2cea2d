// High-level model API: load a CLIP model from named file buffers, embed images and texts.
// Throws ClipdbError (web/src/errors.mjs) with the C status name as `code`. Built on the
// non-throwing mirror in binding.mjs. The math is the C engine's (include/clipdb.h:
// clipdb_image_embed = model.encode_image, clipdb_text_embed = model.encode_text of
// github.com/openai/CLIP).
import { getModule } from './module.mjs';
import { ClipdbError } from './errors.mjs';
import * as b from './binding.mjs';
import { checkMemoryBudget } from './budget.mjs';

const raise = (mod, status, message, what) => b.toError(mod, { status, message }, what);

// Named through a variable so that bundlers for Workers and pages leave it out (only a path
// given under Node reaches it).
const NODE_FS = 'node:fs';

// A streamed file for binding.clipdb_model_init_from_files: {name, size, read(offset, dst, n),
// close()}. `read` writes into mod.HEAPU8, looked up on every call (memory may grow).
async function nodeFileSource(mod, name, file) {
  // Decided by capability: a runtime that cannot import node:fs cannot read a path.
  let fs;
  try {
    fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS);
    if (typeof fs.openSync !== 'function') throw new Error('no synchronous file API');
  } catch {
    throw new ClipdbError('UNSUPPORTED', `loadModel: file ${name} is given by path, which this runtime cannot read (no node:fs); pass its bytes or a Blob`);
  }
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new ClipdbError('IO', `loadModel: cannot open ${file} (${name}): ${e.message}`);
  }
  const size = fs.fstatSync(fd).size;
  return {
    name,
    size,
    read(offset, dst, n) {
      for (let done = 0; done < n;) {
        const chunk = Math.min(n - done, 64 << 20);
        const got = fs.readSync(fd, mod.HEAPU8, dst + done, chunk, offset + done);
        if (got <= 0) throw new Error(`${file} ended at byte ${offset + done} (short read)`);
        done += got;
      }
    },
    peek(offset, n) {
      const buf = new Uint8Array(n);
      const got = fs.readSync(fd, buf, 0, n, offset);
      return buf.subarray(0, got);
    },
    close() { fs.closeSync(fd); },
  };
}

function blobSource(mod, name, blob) {
  const reader = new FileReaderSync();
  return {
    name,
    size: blob.size,
    read(offset, dst, n) {
      const bytes = new Uint8Array(reader.readAsArrayBuffer(blob.slice(offset, offset + n)));
      if (bytes.length !== n) throw new Error(`${name}: got ${bytes.length} of ${n} bytes at ${offset}`);
      mod.HEAPU8.set(bytes, dst);
    },
    peek(offset, n) { return new Uint8Array(reader.readAsArrayBuffer(blob.slice(offset, offset + n))); },
    close() {},
  };
}

// A caller's synchronous random-access reader {size, read(offset, n) -> Uint8Array} (the
// edge entry's over a module's ArrayBuffer or a stream's chunks): copied slice by slice.
function readerSource(mod, name, src) {
  return {
    name,
    size: src.size,
    read(offset, dst, n) {
      const bytes = src.read(offset, n);
      if (!bytes || bytes.length !== n) throw new Error(`${name}: got ${bytes ? bytes.length : 0} of ${n} bytes at ${offset}`);
      mod.HEAPU8.set(bytes, dst);
    },
    peek: (offset, n) => src.read(offset, Math.max(0, Math.min(n, src.size - offset))),
    close() {},
  };
}

// The bytes of a safetensors file, read in place tensor by tensor (as the edge entry does)
// instead of copied whole into wasm memory first: the heap then holds only what the loaded
// towers' tensors need (an int8 ViT-B/32 text tower given as bytes: 88 MiB, not the 261 MiB of
// the file copied in plus its tensors).
function bytesSource(mod, name, bytes) {
  return readerSource(mod, name, { size: bytes.length, read: (offset, n) => bytes.subarray(offset, offset + n) });
}

// One file as the binding wants it: bytes ({name, data}) or a streamed source.
async function toSource(mod, name, data) {
  if (name.endsWith('.safetensors') && (data instanceof ArrayBuffer || (ArrayBuffer.isView(data) && !(data instanceof DataView)))) {
    return bytesSource(mod, name, data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  if (data instanceof Uint8Array) return { name, data };
  if (data instanceof ArrayBuffer) return { name, data: new Uint8Array(data) };
  if (ArrayBuffer.isView(data)) return { name, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  if (typeof Blob !== 'undefined' && data instanceof Blob) {
    // Streamed where reads can be synchronous (a Worker); on the main thread, read whole.
    if (typeof FileReaderSync !== 'undefined') return blobSource(mod, name, data);
    return { name, data: new Uint8Array(await data.arrayBuffer()) };
  }
  if (data && typeof data === 'object' && typeof data.path === 'string') return nodeFileSource(mod, name, data.path);
  if (data && typeof data === 'object' && typeof data.read === 'function' && Number.isSafeInteger(data.size)) return readerSource(mod, name, data);
  if (typeof data === 'string' && name.endsWith('.json')) return { name, data: new TextEncoder().encode(data) };
  throw new ClipdbError('INVALID_ARGUMENT', `loadModel: file ${name} must be an ArrayBuffer, typed array, Blob or (Node) {path}`);
}

async function normalizeFiles(mod, files) {
  let entries;
  if (Array.isArray(files)) entries = files.map((f) => [f && f.name, f && (f.path !== undefined && f.data === undefined ? { path: f.path } : f.data)]);
  else if (files instanceof Map) entries = [...files.entries()];
  else if (files && typeof files === 'object') entries = Object.entries(files);
  else throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: files must be an array of {name, data} / {name, path}, a Map or an object of name → bytes');
  if (entries.length === 0) throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: no files given');
  const out = [];
  try {
    for (const [name, data] of entries) {
      if (typeof name !== 'string' || name === '') throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: every file needs a name');
      out.push(await toSource(mod, name, data));
    }
  } catch (e) {
    closeSources(out);
    throw e;
  }
  return out;
}

function closeSources(list) {
  for (const f of list) if (f.close) f.close();
}

// ---- argument checks: every public entry point validates before any wasm memory is touched.
// A bad argument is ClipdbError INVALID_ARGUMENT whose message names the function, the
// argument and what was wrong (the first bad element where it is an array).

function invalid(message) {
  return new ClipdbError('INVALID_ARGUMENT', message);
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v)}`;
  if (typeof v === 'object') return `a ${v.constructor ? v.constructor.name : 'object'}`;
  return `a ${typeof v}`;
}

// Token ids: an Int32Array, or an array / other typed array of integers in [0, 2^31).
// Returns the ids as an Int32Array (the input itself when it already is one).
function tokenIds(what, arg, tokens) {
  if (tokens instanceof Int32Array) return tokens;
  const listLike = Array.isArray(tokens) || (ArrayBuffer.isView(tokens) && !(tokens instanceof DataView));
  if (!listLike) throw invalid(`${what}: ${arg} must be an Int32Array or an array of integer token ids, got ${describe(tokens)}`);
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i];
    if (typeof id === 'bigint' || typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
      throw invalid(`${what}: ${arg}[${i}] is ${describe(id)}, not an integer token id in [0, 2^31)`);
    }
  }
  return Int32Array.from(tokens);
}

/** A loaded CLIP model with its scratch session. Create with loadModel(); call free() when done. */
export class ClipModel {
  #mod;
  #model;
  #session;

  constructor(mod, model, session, config) {
    this.#mod = mod;
    this.#model = model;
    this.#session = session;
    /** The resolved configuration (clipdb_model_config_json). */
    this.config = Object.freeze(config);
  }

  #live(what) {
    if (!this.#model) throw new ClipdbError('INVALID_STATE', `${what}: the model was freed`);
  }

  /**
   * Image embedding (unnormalised) of one preprocessed image: `pixels` Float32Array
   * [3·R·R] (CHW, RGB; R = config.image_resolution). Returns Float32Array [embed_dim].
   */
  embedImage(pixels) {
    this.#live('embedImage');
    if (!(pixels instanceof Float32Array)) {
      throw invalid(`embedImage: pixels must be a Float32Array of 3x${this.config.image_resolution}x${this.config.image_resolution} values, got ${describe(pixels)}`);
    }
    const r = b.clipdb_image_embed(this.#mod, this.#model, this.#session, pixels, 1);
    if (r.status !== 0) throw raise(this.#mod, r.status, r.message, 'embedImage');
    return r.embeddings;
  }

  /**
   * Text embedding (unnormalised): `tokens` Int32Array (or number[]) of clip.tokenize ids,
   * at most config.context_length, zero padding optional. Returns Float32Array [embed_dim].
   */
  embedText(tokens) {
    this.#live('embedText');
    const ids = tokenIds('embedText', 'tokens', tokens);
    const r = b.clipdb_text_embed(this.#mod, this.#model, this.#session, ids);
    if (r.status !== 0) throw raise(this.#mod, r.status, r.message, 'embedText');
    return r.embedding;
  }

  /**
   * Text embeddings (unnormalised) of many texts in one call: `texts` an array of Int32Array
   * (or number[]) of clip.tokenize ids, each at most config.context_length. Texts are grouped
   * by length inside (include/clipdb.h clipdb_text_embed_batch), so each weight matrix is read
   * once per group instead of once per text; each embedding equals embedText's for that text.
   * Returns an array of Float32Array [embed_dim], in the input order.
   */
  embedTexts(texts) {
    this.#live('embedTexts');
    if (!Array.isArray(texts)) throw invalid(`embedTexts: texts must be an array of token id arrays, got ${describe(texts)}`);
    const rows = texts.map((t, i) => tokenIds('embedTexts', `texts[${i}]`, t));
    const r = b.clipdb_text_embed_batch(this.#mod, this.#model, this.#session, rows);
    if (r.status !== 0) throw raise(this.#mod, r.status, r.message, 'embedTexts');
    const dim = r.embeddings.length / texts.length;
    return Array.from(texts, (_, i) => r.embeddings.slice(i * dim, (i + 1) * dim));
  }

  /** Release the wasm memory of the model and its session. Idempotent. */
  free() {
    if (!this.#model) return;
    b.clipdb_session_free(this.#mod, this.#session);
    b.clipdb_model_free(this.#mod, this.#model);
    this.#model = 0;
    this.#session = 0;
  }

  /** The clipdb wasm instance this model lives in (pass it to preprocess/createTokenizer). */
  get module() {
    return this.#mod;
  }

  /** True once free() was called. */
  get freed() {
    return !this.#model;
  }
}

/**
 * Load a CLIP model from safetensors as published: `files` is an array of {name, data} (or
 * {name, path} under Node), a Map, or an object {name: data}; names as published
 * ('model.safetensors', 'config.json' for a Hugging Face CLIPModel directory). `data`:
 * ArrayBuffer / typed array (copied into wasm memory for the call), Blob, {path} (Node), or a
 * synchronous reader {size, read(offset, n) -> Uint8Array of those n bytes} (streamed).
 * Streamed (include/clipdb.h clipdb_file.read: never held whole, so the peak is about the
 * packed weights plus one tensor instead of weights plus file): a {path} under Node
 * (fs.readSync), a Blob/File inside a Worker (FileReaderSync on slices). A Blob on the main
 * thread is read whole first. The caller may drop its data once the promise settles.
 * Options: module (a createModule() instance instead of the shared one), loadVision /
 * loadText (default true), maxMemoryMB (a budget in MiB: when the towers to load would need
 * more wasm memory than that, by the safetensors header, throws MEMORY_BUDGET_EXCEEDED with
 * the bytes needed before anything is allocated).
 */
export async function loadModel(files, options = {}) {
  if (options === null || typeof options !== 'object') throw invalid(`loadModel: options must be an object, got ${describe(options)}`);
  for (const key of ['loadVision', 'loadText']) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalid(`loadModel: options.${key} must be true or false, got ${describe(options[key])}`);
  }
  const mod = options.module || (await getModule(options));
  const list = await normalizeFiles(mod, files);
  if (options.maxMemoryMB != null) {
    try {
      checkMemoryBudget(list, options, b.clipdb_allocated_bytes(mod));
    } catch (e) {
      closeSources(list);
      throw e;
    }
  }
  let r;
  try {
    r = b.clipdb_model_init_from_files(mod, list, options);
  } finally {
    closeSources(list);
  }
  if (r.status !== 0) throw raise(mod, r.status, r.message, 'loadModel');
  const s = b.clipdb_session_init(mod, r.model);
  if (s.status !== 0) {
    const err = raise(mod, s.status, s.message, 'loadModel');
    b.clipdb_model_free(mod, r.model);
    throw err;
  }
  return new ClipModel(mod, r.model, s.session, b.clipdb_model_config_json(mod, r.model));
}

/**
 * A unit-L2-norm copy of `v` (Float32Array or number[]), as clipdb_embedding_normalize.
 * Throws ClipdbError BAD_VECTOR for a zero or non-finite vector, INVALID_ARGUMENT when `v` is
 * not an array or typed array of numbers.
 */
export function normalize(v) {
  const listLike = Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
  if (!listLike) throw invalid(`normalize: v must be a Float32Array or an array of numbers, got ${describe(v)}`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'number') throw invalid(`normalize: v[${i}] is ${describe(v[i])}, not a number`);
  }
  const x = Float32Array.from(v);
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  if (!(ss > 0) || !Number.isFinite(ss)) throw new ClipdbError('BAD_VECTOR', `normalize: the norm is ${ss === 0 ? '0' : 'not finite'}`);
  const inv = Math.fround(1 / Math.sqrt(ss));
  for (let i = 0; i < x.length; i++) x[i] *= inv;
  return x;
}
