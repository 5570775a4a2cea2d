// ClipdbWorkerClient: the page side of worker.mjs. Every call gets an id and a Promise; progress
// messages go to the call's onProgress and to 'progress' events on the client; an AbortSignal
// aborts the call inside the Worker; terminate() stops the Worker and rejects what is pending.
// ArrayBuffers in the arguments are transferred (moved, not copied) unless `transfer: false`.
// (The optional-Worker-wrapper pattern of ffmpeg.wasm's classes and sqlite's worker1 promiser.)
import { ClipdbError } from './errors.mjs';

function fromWire(e) {
  return new ClipdbError(e?.code || 'INTERNAL', e?.message || 'worker error', e?.details !== undefined ? { details: e.details } : {});
}

/** ArrayBuffers reachable in `value` (plain objects, arrays, typed-array views), for transfer. */
function transferables(value, out = new Set(), depth = 0) {
  if (value == null || depth > 4) return out;
  if (value instanceof ArrayBuffer) out.add(value);
  else if (ArrayBuffer.isView(value)) { if (value.buffer instanceof ArrayBuffer) out.add(value.buffer); }
  else if (Array.isArray(value)) for (const v of value) transferables(v, out, depth + 1);
  else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) transferables(v, out, depth + 1);
  return out;
}

/** Where the page's import map (if any) puts `idb`, for the Worker, which has no import map. */
function resolveIdb() {
  try { return typeof import.meta.resolve === 'function' ? import.meta.resolve('idb') : undefined; } catch { return undefined; }
}

export class ClipdbWorkerClient extends EventTarget {
  #worker;
  #pending = new Map();
  #nextId = 1;
  #ready;
  #terminated = false;
  #readyResolve;
  #readyReject;
  #poolOptions;

  /**
   * @param {{worker?: Worker, workerURL?: string|URL, workers?: number, poolMemoryMB?: number, threads?: number}} [options]
   *   an existing Worker running worker.mjs, or its URL (default: worker.mjs next to this file,
   *   as a module Worker). `workers` / `poolMemoryMB`: the engine pool; `threads`: wasm compute
   *   threads of the Worker's module (init's options of the same names; given to init unless
   *   it names them itself).
   */
  constructor({ worker, workerURL, workers, poolMemoryMB, threads } = {}) {
    super();
    this.#poolOptions = { ...(workers !== undefined ? { workers } : {}), ...(poolMemoryMB !== undefined ? { poolMemoryMB } : {}), ...(threads !== undefined ? { threads } : {}) };
    this.#worker = worker ?? new Worker(workerURL ?? new URL('./worker.mjs', import.meta.url), { type: 'module', name: 'clipdb' });
    this.#ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.#ready.catch(() => {}); // reported through the calls that wait on it
    this.#worker.addEventListener('message', (ev) => this.#onMessage(ev.data));
    this.#worker.addEventListener('error', (ev) => {
      const err = new ClipdbError('WORKER_ERROR', `the clipdb Worker failed: ${ev.message || 'script error'}`);
      this.#readyReject(err);
      this.#failAll(err);
      this.dispatchEvent(Object.assign(new Event('error'), { error: err }));
    });
  }

  #onMessage(msg) {
    if (msg?.type === 'ready') { this.#readyResolve(); return; }
    if (msg?.type === 'log') { this.dispatchEvent(Object.assign(new Event('log'), { message: msg.message })); return; }
    const p = this.#pending.get(msg?.id);
    if (!p) return;
    if (msg.type === 'progress') {
      p.onProgress?.(msg.progress);
      this.dispatchEvent(Object.assign(new Event('progress'), { op: p.op, callId: msg.id, progress: msg.progress }));
      return;
    }
    this.#pending.delete(msg.id);
    p.cleanup();
    if (msg.type === 'result') p.resolve(msg.result);
    else p.reject(fromWire(msg.error));
  }

  #failAll(err) {
    for (const p of this.#pending.values()) { p.cleanup(); p.reject(err); }
    this.#pending.clear();
  }

  /**
   * Run one worker op. Resolves with its result; rejects with ClipdbError (the Worker's code,
   * 'ABORTED' after `signal` fired, 'TERMINATED' after terminate()).
   * @param {string} op
   * @param {object} [args]
   * @param {{signal?: AbortSignal, onProgress?: (p: object) => void, transfer?: boolean|Transferable[]}} [options]
   */
  async call(op, args = {}, { signal, onProgress, transfer = true } = {}) {
    if (this.#terminated) throw new ClipdbError('TERMINATED', 'the clipdb Worker was terminated');
    if (signal?.aborted) throw new ClipdbError('ABORTED', `${op} was aborted before it started`, { cause: signal.reason });
    await this.#ready;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ type: 'abort', id, reason: String(signal.reason ?? 'aborted') });
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, { op, resolve, reject, onProgress, cleanup });
      const list = transfer === true ? [...transferables(args)] : Array.isArray(transfer) ? transfer : [];
      try {
        this.#worker.postMessage({ type: 'call', id, op, args }, list);
      } catch (e) {
        this.#pending.delete(id); cleanup();
        reject(new ClipdbError('INVALID_ARGUMENT', `${op}: the arguments cannot be sent to the Worker: ${e?.message || e}`, { cause: e }));
      }
    });
  }

  /** Open the store and the model cache (and set the engine pool's size for loadModel). */
  init(options = {}) {
    return this.call('init', { idbURL: resolveIdb(), ...this.#poolOptions, ...options });
  }

  /** Load a model from URLs ({urls}) or files ({files}) and index every stored photo with it. */
  loadModel(source, options) { return this.call('loadModel', source, options); }

  /** Store and index photos (Files / Blobs / {name, data}). */
  insert(files, options) { return this.call('insert', { files: Array.from(files) }, options); }

  /** Text query, "more like this" ({id}) or an image query ({image}). */
  search(query, options = {}) {
    const { n, filter, signal } = options;
    return this.call('search', { ...query, ...(n !== undefined ? { n } : {}), ...(filter ? { filter } : {}) }, { signal });
  }

  list(options = {}) { return this.call('list', options); }
  count() { return this.call('count'); }
  delete(id) { return this.call('delete', { id }); }
  clear(options = {}) { return this.call('clear', options); }
  info() { return this.call('info'); }
  /** Each model kept for the photos' vector index and how many photos it has embedded. */
  models() { return this.call('models'); }
  /** The whole store as one export container (docs/export-format.md), as a Blob (large ones live on disk). */
  exportData(options) { return this.call('exportData', {}, options); }
  /** Load an export container (a Blob/File); `onConflict: 'skip'` keeps the photos already stored. */
  importData(file, { onConflict, ...options } = {}) { return this.call('importData', { file, onConflict }, options); }

  /** Stop the Worker now; every pending call rejects with 'TERMINATED'. Idempotent. */
  terminate() {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#worker.terminate();
    const err = new ClipdbError('TERMINATED', 'the clipdb Worker was terminated');
    this.#readyReject(err);
    this.#failAll(err);
  }
}
