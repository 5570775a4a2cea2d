// clipdb's edge entry: for Cloudflare Workers (workerd), Deno Deploy and other runtimes where a
// module has no usable URL, there is no file system, no IndexedDB, no FileReaderSync, no
// threads, and compiling wasm from bytes may be forbidden. `import ... from 'clipdb'` resolves
// here under the `workerd`, `worker` and `edge-light` export conditions; `clipdb/edge` names it
// explicitly.
//
// Everything is passed in: the compiled wasm (a WebAssembly.Module), the model and vocabulary
// bytes (ArrayBuffer, typed array, Blob or ReadableStream), and the module instance to every
// call. Nothing here reads import.meta.url, process, fs, FileReaderSync or IndexedDB, and
// nothing is cached between calls (a failed instantiation leaves nothing behind). The store
// runs on memory storage (or an adapter object the caller provides).
import { ClipdbError } from './errors.mjs';
import { instantiateClipdb } from './instantiate.mjs';
import { loadModel as loadModelOn, ClipModel, normalize } from './engine.mjs';
import { preprocess as preprocessOn, defaultImageOptions as defaultImageOptionsOn } from './image.mjs';
import { createTokenizer as createTokenizerOn, Tokenizer } from './text.mjs';
import { openDatabase as openDatabaseOn, Database, Collection, LikeQuery, Model, Listener, VectorIndex } from './db/database.mjs';
import { memoryStorage } from './db/storage.mjs';
import { WasmVectorIndex } from './db/vector-index.mjs';
import { clipModels } from './db/clip-models.mjs';
import { checkMemoryBudget } from './budget.mjs';
import * as b from './binding.mjs';

export {
  ClipdbError, ClipModel, normalize, Tokenizer, Database, Collection, LikeQuery, Model, Listener,
  VectorIndex, memoryStorage, WasmVectorIndex, clipModels,
};

function needModule(options, what) {
  const mod = options && options.module;
  if (!mod || typeof mod._malloc !== 'function') {
    throw new ClipdbError('INVALID_ARGUMENT', `${what}: the edge entry needs {module}, the instance from createModule({wasmModule})`);
  }
  return mod;
}

/**
 * A new clipdb wasm instance (its own memory) from a precompiled module.
 * @param {{wasmModule?: WebAssembly.Module, wasmBinary?: ArrayBuffer|Uint8Array}} options
 *   `wasmModule`: clipdb.wasm compiled by the platform (Workers/wrangler:
 *   `import wasmModule from 'clipdb/dist/clipdb.wasm'`); `wasmBinary`: its bytes, for runtimes
 *   that may compile at run time.
 * @returns {Promise<object>} the module to pass as `{module}` to every other call.
 * @throws ClipdbError INVALID_ARGUMENT (neither given; not a WebAssembly.Module; it does not
 *   instantiate).
 */
export async function createModule(options = {}) {
  if (options.wasmModule == null && options.wasmBinary == null) {
    throw new ClipdbError('INVALID_ARGUMENT',
      "createModule: the edge entry needs {wasmModule} (import wasmModule from 'clipdb/dist/clipdb.wasm') or {wasmBinary}");
  }
  return instantiateClipdb(options);
}

// A synchronous random-access reader over a list of byte chunks (a stream's, or one buffer),
// so loadModel streams the file into the wasm heap tensor by tensor instead of copying it whole.
function chunkReader(chunks) {
  const starts = [];
  let size = 0;
  for (const c of chunks) { starts.push(size); size += c.length; }
  return {
    size,
    read(offset, n) {
      if (chunks.length === 1) return chunks[0].subarray(offset, offset + n);
      const out = new Uint8Array(n);
      let i = 0;
      while (i + 1 < starts.length && starts[i + 1] <= offset) i++;
      for (let done = 0; done < n && i < chunks.length; i++) {
        const c = chunks[i], from = offset + done - starts[i];
        const take = Math.min(c.length - from, n - done);
        out.set(c.subarray(from, from + take), done);
        done += take;
      }
      return out;
    },
  };
}

// `early(chunks)`, when given, runs after each chunk until it returns true; if it throws, the
// stream is cancelled (nothing more is read) and the error passed on.
async function readChunks(stream, name, early) {
  const chunks = [];
  const reader = stream.getReader();
  let waiting = typeof early === 'function';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) {
      reader.cancel().catch(() => {});
      throw new ClipdbError('INVALID_ARGUMENT', `${name}: the stream must yield Uint8Array chunks`);
    }
    chunks.push(value);
    if (waiting) {
      try {
        waiting = !early(chunks);
      } catch (e) {
        reader.cancel().catch(() => {});
        throw e;
      }
    }
  }
  return chunks;
}

// Bytes of one input as chunks: ArrayBuffer / typed array (no copy), Blob, ReadableStream,
// Response (its body).
async function chunksOf(data, name, early) {
  if (data instanceof Uint8Array) return [data];
  if (data instanceof ArrayBuffer) return [new Uint8Array(data)];
  if (ArrayBuffer.isView(data)) return [new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
  if (typeof Response !== 'undefined' && data instanceof Response) {
    if (!data.ok) throw new ClipdbError('IO', `${name}: HTTP ${data.status}`);
    return data.body ? readChunks(data.body, name, early) : [];
  }
  if (data && typeof data.getReader === 'function') return readChunks(data, name, early);
  if (typeof Blob !== 'undefined' && data instanceof Blob) return readChunks(data.stream(), name, early);
  throw new ClipdbError('INVALID_ARGUMENT', `${name} must be an ArrayBuffer, typed array, Blob, Response or ReadableStream`);
}

function entriesOf(files, what) {
  if (Array.isArray(files)) return files.map((f) => [f && f.name, f && f.data]);
  if (files instanceof Map) return [...files.entries()];
  if (files && typeof files === 'object') return Object.entries(files);
  throw new ClipdbError('INVALID_ARGUMENT', `${what}: files must be an object {name: bytes}, a Map or an array of {name, data}`);
}

// True once `r` holds the whole safetensors header and the budget check passed (throws
// MEMORY_BUDGET_EXCEEDED otherwise); false while the header is still incomplete.
function headerChecked(name, r, options, mod) {
  if (r.size < 8) return false;
  const h = r.read(0, 8);
  const len = h[0] + h[1] * 2 ** 8 + h[2] * 2 ** 16 + h[3] * 2 ** 24 + (h[4] + h[5] * 2 ** 8) * 2 ** 32;
  if (r.size < 8 + len && len <= 100 * 2 ** 20) return false;
  checkMemoryBudget([{ name, peek: (o, n) => r.read(o, Math.max(0, Math.min(n, r.size - o))) }], options, b.clipdb_allocated_bytes(mod));
  return true;
}

/**
 * Load a CLIP model (engine.mjs loadModel) on `options.module`. `files`: {name: data} (or a
 * Map / [{name, data}]), data an ArrayBuffer or typed array (a Worker's Data module; read in
 * place, tensor by tensor, never copied whole into wasm memory), a Blob, Response or
 * ReadableStream (an R2 object's body, a KV stream, a static asset: its chunks are kept as
 * they arrive, not concatenated, then streamed the same way).
 * Options: `module` (required), `loadVision` / `loadText` (default true; a text-search Worker
 * passes loadVision: false), `maxMemoryMB` (refuse, before anything is allocated, a model
 * whose towers need more: MEMORY_BUDGET_EXCEEDED stating the bytes; a stream is refused as
 * soon as its safetensors header has arrived and is cancelled).
 * @returns {Promise<ClipModel>}
 */
export async function loadModel(files, options = {}) {
  const mod = needModule(options, 'loadModel');
  const list = [];
  for (const [name, data] of entriesOf(files, 'loadModel')) {
    if (typeof name !== 'string' || name === '') throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: every file needs a name');
    // With a budget, a streamed safetensors file is checked as soon as its header has arrived:
    // a model that cannot fit is refused after reading a few KB, not the whole file.
    const early = options.maxMemoryMB != null && name.endsWith('.safetensors')
      ? (chunks) => headerChecked(name, chunkReader(chunks), options, mod) : null;
    list.push({ name, data: chunkReader(await chunksOf(data, name, early)) });
  }
  return loadModelOn(list, { ...options, module: mod });
}

/**
 * A CLIP tokenizer (text.mjs createTokenizer) on `options.module`; vocabulary files as
 * {name: data} with data as for loadModel, or a string (UTF-8 encoded).
 * @throws ClipdbError INVALID_ARGUMENT (no module, bad data), BAD_VOCAB (names file and line).
 */
export async function createTokenizer(files, options = {}) {
  const mod = needModule(options, 'createTokenizer');
  const out = {};
  for (const [name, data] of entriesOf(files, 'createTokenizer')) {
    if (typeof data === 'string') { out[name] = data; continue; }
    const r = chunkReader(await chunksOf(data, name));
    out[name] = r.read(0, r.size);
  }
  return createTokenizerOn(out, { module: mod });
}

/** preprocess (image.mjs) on `options.module` (or `options.model`'s). */
export async function preprocess(input, options = {}) {
  if (!(options.model && options.model.module)) needModule(options, 'preprocess');
  return preprocessOn(input, options);
}

/** defaultImageOptions (image.mjs) of `options.module`. */
export async function defaultImageOptions(options = {}) {
  return defaultImageOptionsOn({ module: needModule(options, 'defaultImageOptions') });
}

/**
 * openDatabase on `options.module` with memory storage (the default here), or `storage` given
 * as a StorageAdapter object. Other storage kinds need a runtime this entry does not assume.
 */
export async function openDatabase(options = {}) {
  const mod = needModule(options, 'openDatabase');
  const storage = options.storage == null || options.storage === 'memory' ? memoryStorage() : options.storage;
  if (typeof storage !== 'object') {
    throw new ClipdbError('INVALID_ARGUMENT', `openDatabase: the edge entry runs on memory storage or an adapter object, not '${options.storage}'`);
  }
  return openDatabaseOn({ ...options, storage, module: mod });
}
