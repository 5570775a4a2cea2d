// Loading the clipdb wasm module (web/dist/clipdb.{mjs,wasm}) in pages, Web Workers, Node and
// edge runtimes. Every high-level module gets its instance from its caller, or from getModule()
// (the shared default instance) when the caller names none.
//
// Where the wasm comes from, in order:
//   wasmModule  a precompiled WebAssembly.Module (edge runtimes forbid compiling bytes at run
//               time; Cloudflare Workers get one from `import m from 'clipdb/dist/clipdb.wasm'`)
//   wasmBinary  ArrayBuffer/Uint8Array of clipdb.wasm
//   wasmURL     where to fetch clipdb.wasm from (pages)
//   otherwise   the clipdb.wasm next to this package, located from import.meta.url: read with
//               node:fs when that URL is a file: URL, fetched otherwise.
// The glue itself is instantiated in instantiate.mjs (which the edge entry uses alone).
import { ClipdbError } from './errors.mjs';
import { instantiateClipdb } from './instantiate.mjs';
import { checkThreads, defaultThreads, instantiateClipdbMt, threadsAvailable } from './instantiate-mt.mjs';

export { instantiateClipdb };

// Through a variable, so bundlers for Workers and pages leave it out (file: URLs only).
const NODE_FS_PROMISES = 'node:fs/promises';
let defaultInstance = null; // Promise of the shared instance
let defaultModule = null; // the shared instance once created

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new ClipdbError('IO', `failed to fetch ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

// The package's own clipdb.wasm. Decided by what the URL is (a file: URL is read from disk,
// anything else fetched), not by which runtime this looks like.
async function readDefaultWasm(file = 'clipdb.wasm') {
  const base = import.meta.url;
  if (typeof base !== 'string' || base === '') {
    throw new ClipdbError('INVALID_ARGUMENT',
      'cannot locate clipdb.wasm (this runtime gives modules no URL): pass {wasmModule} (edge runtimes: ' +
      "import wasmModule from 'clipdb/dist/clipdb.wasm'), {wasmBinary} or {wasmURL}");
  }
  const url = new URL(`../dist/${file}`, base);
  if (url.protocol === 'file:') {
    const { readFile } = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS_PROMISES);
    return readFile(url);
  }
  return fetchBytes(url);
}

/**
 * Create a new, independent clipdb wasm instance (its own memory).
 * `threads`: compute threads for the models loaded into it (1 to 16). Default: half the logical
 * cores, 1 to 4, where wasm threads are available (Node; a cross-origin isolated page or
 * Worker) and the package's own wasm files are used; else 1 (a wasm given as wasmModule /
 * wasmBinary / wasmURL is taken as clipdb.wasm). Above 1 the threaded module clipdb-mt.wasm is
 * used (a wasm given must then be clipdb-mt.wasm; clipdb.wasm is INVALID_ARGUMENT); asking for
 * more than 1 where threads are not available is UNSUPPORTED. The instance's `clipdbThreads`
 * says what was picked.
 * @param {{wasmBinary?: ArrayBuffer|Uint8Array, wasmModule?: WebAssembly.Module, wasmURL?: string|URL, threads?: number}} [options]
 * @returns {Promise<object>} the Emscripten module (flat C exports as `_clipdb_*`, HEAP views)
 * @throws ClipdbError INVALID_ARGUMENT (a wasmModule that is not a WebAssembly.Module or does
 *   not instantiate; no way to locate clipdb.wasm; threads not an integer from 1 to 16),
 *   UNSUPPORTED (threads > 1 without wasm threads), IO (fetch failed)
 */
export async function createModule(options = {}) {
  checkThreads(options.threads);
  // A wasm the caller hands over is taken as clipdb.wasm unless `threads` says otherwise.
  const given = options.wasmModule != null || options.wasmBinary != null || options.wasmURL != null;
  const threads = options.threads ?? (!given && threadsAvailable() ? await defaultThreads() : 1);
  let source;
  if (options.wasmModule != null) source = { wasmModule: options.wasmModule };
  else if (options.wasmBinary != null) source = { wasmBinary: options.wasmBinary };
  else if (options.wasmURL != null) source = { wasmBinary: await fetchBytes(options.wasmURL) };
  else source = { wasmBinary: await readDefaultWasm(threads > 1 ? 'clipdb-mt.wasm' : 'clipdb.wasm') };
  if (threads > 1) return instantiateClipdbMt({ ...source, threads });
  const mod = await instantiateClipdb(source);
  mod.clipdbThreads = 1;
  return mod;
}

/**
 * The shared default instance, created on first use (with `options` as createModule's, on
 * that first call only). A failed creation, or an instance that aborted (a wasm trap), is not
 * kept: the next call creates a new one.
 */
export function getModule(options) {
  if (defaultModule != null && defaultModule.clipdbAborted) {
    defaultModule = null;
    defaultInstance = null;
  }
  if (defaultInstance == null) {
    const p = createModule(options);
    defaultInstance = p;
    p.then((m) => { if (defaultInstance === p) defaultModule = m; },
      () => { if (defaultInstance === p) defaultInstance = null; });
  }
  return defaultInstance;
}
