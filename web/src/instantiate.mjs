// Instantiating the Emscripten glue (web/dist/clipdb.mjs) around a wasm the caller already has.
// The glue is told where the wasm is (locateFile) and given the module or the bytes, so it never
// resolves anything against import.meta.url itself, and it is built without its Node branch, so
// it never asks for __dirname, require('fs') or process. This file touches no URL, file system
// or process object: the edge entry (edge.mjs) imports it alone, module.mjs adds the lookup of
// the package's own clipdb.wasm.
import createClipdbModule from '../dist/clipdb.mjs';
import { ClipdbError } from './errors.mjs';

/**
 * Instantiate the glue around a wasm the caller already has; touches no URL, file system or
 * process object. `source`: {wasmModule} or {wasmBinary}. Returns the Emscripten module.
 * Used by module.mjs createModule() and by the edge entry.
 */
export function instantiateClipdb({ wasmModule, wasmBinary } = {}) {
  // `config` becomes the module object. onAbort marks an instance that trapped (out of memory
  // inside the glue, a wasm trap): it is unusable afterwards and getModule() drops it.
  const config = { locateFile: (path) => path, onAbort: () => { config.clipdbAborted = true; } };
  if (wasmModule != null) {
    if (typeof WebAssembly === 'undefined' || !(wasmModule instanceof WebAssembly.Module)) {
      return Promise.reject(new ClipdbError('INVALID_ARGUMENT', 'wasmModule must be a WebAssembly.Module (the compiled clipdb.wasm)'));
    }
    // A failed instantiation never reaches the glue's own promise (it would wait forever):
    // race it against one that the failure rejects.
    let fail;
    const failure = new Promise((_, reject) => { fail = reject; });
    const refuse = (e) => fail(new ClipdbError('INVALID_ARGUMENT',
      `wasmModule could not be instantiated (is it this package version's clipdb.wasm?): ${e && e.message ? e.message : e}`, { cause: e }));
    config.instantiateWasm = (imports, done) => {
      WebAssembly.instantiate(wasmModule, imports).then((instance) => {
        try { done(instance, wasmModule); } catch (e) { refuse(e); }
      }, refuse);
      return {};
    };
    return Promise.race([createClipdbModule(config), failure]);
  }
  if (wasmBinary != null) {
    if (!(wasmBinary instanceof ArrayBuffer) && !ArrayBuffer.isView(wasmBinary)) {
      return Promise.reject(new ClipdbError('INVALID_ARGUMENT', 'wasmBinary must be an ArrayBuffer or typed array of clipdb.wasm'));
    }
    config.wasmBinary = wasmBinary;
    return createClipdbModule(config);
  }
  return Promise.reject(new ClipdbError('INVALID_ARGUMENT', 'instantiateClipdb needs {wasmModule} or {wasmBinary}'));
}

