// Loading the clipdb wasm module (web/dist/clipdb.{mjs,wasm}) in pages, Web Workers, Node and
// edge runtimes. Every high-level module gets the instance through getModule().
//
// The wasm file is resolved next to this package (new URL('../dist/clipdb.wasm',
// import.meta.url)) unless the caller passes one of:
//   wasmBinary  ArrayBuffer/Uint8Array of clipdb.wasm
//   wasmModule  a precompiled WebAssembly.Module (edge runtimes that forbid runtime compile)
//   wasmURL     where to fetch clipdb.wasm from (pages)
import createClipdbModule from '../dist/clipdb.mjs';
import { requireWasmSimd } from './features.mjs';

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
let defaultInstance = null;

async function readDefaultWasm() {
  const url = new URL('../dist/clipdb.wasm', import.meta.url);
  if (isNode) {
    const { readFile } = await import('node:fs/promises');
    return readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`failed to fetch ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

/**
 * Create a new, independent clipdb wasm instance (its own memory).
 * @param {{wasmBinary?: ArrayBuffer|Uint8Array, wasmModule?: WebAssembly.Module, wasmURL?: string|URL}} [options]
 * Throws ClipdbError UNSUPPORTED (before compiling anything) where the engine lacks WebAssembly
 * or its 128-bit SIMD, which the module is built with.
 * @returns {Promise<object>} the Emscripten module (flat C exports as `_clipdb_*`, HEAP views)
 */
export async function createModule(options = {}) {
  requireWasmSimd(); // a clear UNSUPPORTED error instead of a CompileError on engines without SIMD
  const config = {};
  if (options.wasmModule) {
    config.instantiateWasm = (imports, done) => {
      WebAssembly.instantiate(options.wasmModule, imports).then((instance) => done(instance, options.wasmModule));
      return {};
    };
  } else if (options.wasmBinary) {
    config.wasmBinary = options.wasmBinary;
  } else if (options.wasmURL) {
    const res = await fetch(options.wasmURL);
    if (!res.ok) throw new Error(`failed to fetch ${options.wasmURL}: HTTP ${res.status}`);
    config.wasmBinary = await res.arrayBuffer();
  } else {
    config.wasmBinary = await readDefaultWasm();
  }
  if (isNode && typeof globalThis.__dirname === 'undefined') {
    // Emscripten 3.1.6's ES6 glue reads `__dirname` (and `require` for its file helpers) when
    // it runs in Node, which an ES module does not have. The wasm bytes are passed in above,
    // so these only have to exist; point them at dist/.
    const { fileURLToPath } = await import('node:url');
    const { createRequire } = await import('node:module');
    globalThis.__dirname = fileURLToPath(new URL('../dist/', import.meta.url));
    if (typeof globalThis.require === 'undefined') globalThis.require = createRequire(import.meta.url);
  }
  return createClipdbModule(config);
}

/** The shared default instance, created on first use. */
export function getModule(options) {
  if (defaultInstance == null) defaultInstance = createModule(options);
  return defaultInstance;
}
