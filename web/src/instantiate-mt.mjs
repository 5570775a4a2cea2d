// The threaded wasm module (web/dist/clipdb-mt.{mjs,wasm,worker.js,worker.cjs}: Emscripten
// pthreads on a SharedArrayBuffer memory). Its glue is imported only when a caller asks for
// threads, so single-threaded users (and edge runtimes) do not load it; a page that bundles
// clipdb and wants threads serves web/dist's files as they are (the glue, its Worker script and
// the wasm are found next to each other). The compute threads are Workers started with the
// module (clipdbPoolSize = threads - 1: the calling thread is the first); the model's pool
// (src/nn/threads.c) takes them at load.
import { ClipdbError } from './errors.mjs';
import { requireWasmSimd } from './features.mjs';

const NODE_URL = 'node:url';
// Through a variable, so bundlers leave the threaded glue out (an edge Worker's bundle includes
// this file but never has threads, and the glue's Node branch must not reach it); resolved
// against this file at run time, like the package's wasm files.
const MT_GLUE = '../dist/clipdb-mt.mjs';
const NODE_OS = 'node:os';

function onNode() {
  return typeof process === 'object' && typeof process.versions === 'object' && typeof process.versions.node === 'string';
}

/**
 * Whether this runtime can run the threaded module: SharedArrayBuffer and Atomics exist, and
 * it is Node, or a page / Worker that is cross-origin isolated (COOP + COEP headers).
 */
export function threadsAvailable() {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  if (onNode()) return true;
  return globalThis.crossOriginIsolated === true;
}

const isThreadCount = (n) => Number.isInteger(n) && n >= 1 && n <= 16;

/** Throw ClipdbError INVALID_ARGUMENT unless `threads` is an integer from 1 to 16 (undefined passes). */
export function checkThreads(threads) {
  if (threads !== undefined && !isThreadCount(threads)) {
    throw new ClipdbError('INVALID_ARGUMENT', `threads must be an integer from 1 to 16, got ${threads}`);
  }
}

/**
 * The default thread count, like onnxruntime-web's: half the logical cores, 1 to 4. Under Node
 * the environment variable CLIPDB_THREADS (an integer 1..16), when set, is the default instead
 * (as for the CLI).
 */
export async function defaultThreads() {
  const env = onNode() ? process.env.CLIPDB_THREADS : undefined;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!isThreadCount(n)) throw new ClipdbError('INVALID_ARGUMENT', `CLIPDB_THREADS must be an integer from 1 to 16, got '${env}'`);
    return n;
  }
  let cores = Number(globalThis.navigator?.hardwareConcurrency) || 0;
  if (!cores && onNode()) {
    const os = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_OS);
    cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return Math.min(4, Math.max(1, Math.floor((cores || 2) / 2)));
}

// Heap views that follow memory growth made on any thread. The glue refreshes Module.HEAPU8
// etc. only when the growth happens on the thread that reads them; a compute thread may grow
// the shared memory (a GEMM's scratch), after which the old views are too short. The binding
// re-reads mod.HEAPU8 after every call, so a getter that checks the buffer is enough.
const VIEWS = [['HEAP8', Int8Array], ['HEAPU8', Uint8Array], ['HEAP16', Int16Array], ['HEAPU16', Uint16Array],
  ['HEAP32', Int32Array], ['HEAPU32', Uint32Array], ['HEAPF32', Float32Array], ['HEAPF64', Float64Array]];

function followGrowth(mod) {
  for (const [name, View] of VIEWS) {
    let view = null;
    Object.defineProperty(mod, name, {
      configurable: true,
      enumerable: true,
      get() {
        const buf = mod.wasmMemory.buffer;
        if (view === null || view.buffer !== buf) view = new View(buf);
        return view;
      },
      set() { /* the glue's own refresh: the getter already follows the memory */ },
    });
  }
}

// The pthread Workers must not keep a Node process alive once the caller is done (they only
// ever run inside a synchronous call into the module).
function unrefWorkers(mod) {
  const pt = mod.PThread;
  if (!pt) return;
  for (const w of [...(pt.unusedWorkers || []), ...(pt.runningWorkers || [])]) {
    if (w && typeof w.unref === 'function') w.unref();
  }
}

/**
 * Instantiate the threaded module with `threads` compute threads (2..16) around clipdb-mt.wasm
 * given as {wasmModule} or {wasmBinary}. Returns the Emscripten module; `mod.clipdbThreads` is
 * the thread count, and loadModel's default n_threads. Rejects with ClipdbError UNSUPPORTED
 * when threadsAvailable() is false, INVALID_ARGUMENT for a bad source or count.
 */
export async function instantiateClipdbMt({ wasmModule, wasmBinary, threads }) {
  requireWasmSimd();
  if (!threadsAvailable()) {
    throw new ClipdbError('UNSUPPORTED', 'wasm threads need SharedArrayBuffer: Node, or a cross-origin isolated page (COOP: same-origin, COEP: require-corp)');
  }
  if (!Number.isInteger(threads) || threads < 2 || threads > 16) {
    throw new ClipdbError('INVALID_ARGUMENT', `threads must be an integer from 2 to 16 for the threaded module, got ${threads}`);
  }
  // clipdb-mt.wasm imports its (shared) memory; clipdb.wasm defines its own. Told apart here,
  // the wrong file is a named error instead of the glue's LinkError.
  let compiled = wasmModule instanceof WebAssembly.Module ? wasmModule : null;
  if (compiled === null && (wasmBinary instanceof ArrayBuffer || ArrayBuffer.isView(wasmBinary))) {
    try {
      compiled = await WebAssembly.compile(wasmBinary);
    } catch (e) {
      throw new ClipdbError('INVALID_ARGUMENT', `wasmBinary could not be compiled (is it clipdb-mt.wasm?): ${e && e.message ? e.message : e}`, { cause: e });
    }
  }
  if (compiled !== null && !WebAssembly.Module.imports(compiled).some((i) => i.kind === 'memory')) {
    throw new ClipdbError('INVALID_ARGUMENT', `threads ${threads} needs clipdb-mt.wasm (the threaded module), but the wasm given is the single-threaded clipdb.wasm`);
  }
  const { default: create } = await import(/* webpackIgnore: true */ /* @vite-ignore */ MT_GLUE);
  let workerPath;
  if (onNode() && new URL('../dist/', import.meta.url).protocol === 'file:') {
    const { fileURLToPath } = await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_URL);
    workerPath = fileURLToPath(new URL('../dist/clipdb-mt.worker.cjs', import.meta.url));
  } else {
    workerPath = new URL('../dist/clipdb-mt.worker.js', import.meta.url).href;
  }
  const config = {
    clipdbPoolSize: threads - 1,
    locateFile: (path) => (path.endsWith('.worker.js') ? workerPath : path),
    onAbort: () => { config.clipdbAborted = true; },
  };
  // A failed instantiation never reaches the glue's own promise (it would wait forever): raced
  // against one that the failure rejects, as in instantiate.mjs.
  let fail;
  const failure = new Promise((_, reject) => { fail = reject; });
  if (compiled !== null) {
    // Compiled once here; the glue hands the same WebAssembly.Module to its pthread Workers.
    config.instantiateWasm = (imports, done) => {
      WebAssembly.instantiate(compiled, imports).then((instance) => done(instance, compiled)).catch((e) => fail(
        new ClipdbError('INVALID_ARGUMENT', `clipdb-mt.wasm could not be instantiated (is it this package version's?): ${e && e.message ? e.message : e}`, { cause: e })));
      return {};
    };
  } else if (wasmModule != null) {
    throw new ClipdbError('INVALID_ARGUMENT', 'wasmModule must be a WebAssembly.Module (the compiled clipdb-mt.wasm)');
  } else {
    throw new ClipdbError('INVALID_ARGUMENT', 'instantiateClipdbMt needs {wasmModule} or {wasmBinary} of clipdb-mt.wasm');
  }
  const mod = await Promise.race([create(config), failure]);
  followGrowth(mod);
  unrefWorkers(mod);
  mod.clipdbThreads = threads;
  return mod;
}
