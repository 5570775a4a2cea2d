// Several cores without wasm threads: the clipdb Worker (worker.mjs, which owns the store)
// starts more Workers of the same script, each with its own copy of the CLIP model, and hands
// them photos to thumbnail and embed (one 'index' task per photo: the file is read once). The
// store and its writes stay in the clipdb Worker, so the store's crash-safety protocol does not
// change; only photos (Blobs, not copied), thumbnails and vectors cross.
//
// Members: #0 is the clipdb Worker itself (its tasks run here, one at a time), #1..#N-1 are the
// engine Workers. Tasks wait in the pool and go to a member with room (see #pump). The
// engines run the same wasm on the same bytes as #0 does, so a vector does not depend on who
// made it.
//
// Protocol with an engine Worker (started with the name ENGINE_NAME; structured clone):
//   pool → engine  {type: 'load', files: [{name, data: Blob}], exif}
//                  {type: 'task', id, kind: 'embed', input}             (an image → Float32Array)
//                  {type: 'task', id, kind: 'index', input: {image, maxSide, embedThumb}}
//                      → {thumb: Blob, vector: Float32Array|null, error: {code, message}|null}
//   engine → pool  {type: 'ready'} once its script ran; {type: 'loaded'} | {type: 'failed', error}
//                  {type: 'done', id, result} | {type: 'fail', id, error: {code, message}}
import { ClipdbError } from './errors.mjs';
import { checkThreads } from './instantiate-mt.mjs';

// Tasks an engine Worker holds at once: one computed, the next ones read ahead, so that it does
// not wait for this Worker, which may be busy with a photo of its own when the engine finishes.
const TASKS_PER_ENGINE = 3;

/** self.name of an engine Worker (worker.mjs runs the engine loop below instead of the ops). */
export const ENGINE_NAME = 'clipdb-engine';

/** Default pool size: half the logical cores this browser reports, at least 1, at most 4. */
export function defaultWorkers() {
  const hc = Number(globalThis.navigator?.hardwareConcurrency) || 2;
  return Math.min(4, Math.max(1, Math.floor(hc / 2)));
}

/**
 * How many members a pool gets: `workers` (default defaultWorkers()), lowered so that the model
 * copies (`modelBytes` each) fit in `memoryMB` (default 1024); never below 1.
 */
export function poolSize({ workers, memoryMB = 1024, modelBytes }) {
  const want = workers ?? defaultWorkers();
  const fit = modelBytes > 0 ? Math.floor((memoryMB * 2 ** 20) / modelBytes) : want;
  return Math.max(1, Math.min(want, fit));
}

/** Check pool options (init's `workers`, `poolMemoryMB` and `threads`); throws INVALID_ARGUMENT. */
export function checkPoolOptions({ workers, poolMemoryMB, threads }) {
  checkThreads(threads);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 16)) {
    throw new ClipdbError('INVALID_ARGUMENT', `workers must be an integer from 1 to 16, got ${workers}`);
  }
  if (poolMemoryMB !== undefined && !(typeof poolMemoryMB === 'number' && poolMemoryMB > 0)) {
    throw new ClipdbError('INVALID_ARGUMENT', `poolMemoryMB must be a number > 0, got ${poolMemoryMB}`);
  }
}

function fromWire(e) {
  return new ClipdbError(e?.code || 'INTERNAL', e?.message || 'engine worker error');
}

function wireError(e) {
  return { code: e?.code || 'INTERNAL', message: e?.message || String(e) };
}

/**
 * A task's input with its Blob read: the read starts when the task arrives, not when its turn
 * comes, so a member's queue never waits on a read (a Blob read is a round trip to the browser).
 */
function readAhead(kind, input) {
  if (kind === 'index') return input.image instanceof Blob ? input.image.arrayBuffer().then((b) => ({ ...input, image: new Uint8Array(b) })) : Promise.resolve(input);
  return input instanceof Blob ? input.arrayBuffer().then((b) => new Uint8Array(b)) : Promise.resolve(input);
}

/**
 * The 'index' task: a JPEG thumbnail (longer side maxSide) of `image` (encoded bytes) and the
 * embedding of the image (or, with embedThumb, of the thumbnail's bytes, for stores that keep
 * only the thumbnail). A photo that cannot be thumbnailed fails the task; an embedding that
 * fails comes back as `error` with the thumbnail.
 */
export async function indexPhoto({ embed, thumbnail }, { image, maxSide, embedThumb }) {
  const thumb = await thumbnail(image, { maxSide });
  try {
    return { thumb, vector: await embed(embedThumb ? new Uint8Array(await thumb.arrayBuffer()) : image), error: null };
  } catch (e) { return { thumb, vector: null, error: wireError(e) }; }
}

/** Count a finished task for member `m`. */
function counted(m, kind, result) {
  if (kind === 'embed') m.embedded++;
  else { m.thumbnails++; if (result?.vector) m.embedded++; }
  return result;
}

/** Transferable buffers of a task input (a fresh Uint8Array or ImageData-like), else []. */
function inputBuffers(input) {
  const v = ArrayBuffer.isView(input) ? input : ArrayBuffer.isView(input?.data) ? input.data : null;
  return v && v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? [v.buffer] : [];
}

export class EnginePool {
  /**
   * @param {{size: number, modelBytes?: number, url: string|URL, local: {embed: (input) => Promise<Float32Array>, thumbnail: (bytes, {maxSide}) => Promise<Blob>}}} options
   *   `local` runs member #0's tasks in this Worker; `url` is the script the engines run;
   *   `modelBytes`: one model copy's memory (reported by stats()).
   */
  constructor({ size, modelBytes = 0, url, local }) {
    this.size = size;
    this.modelBytes = modelBytes;
    this.url = url;
    this.members = [{ index: 0, local, inflight: 0, embedded: 0, thumbnails: 0, alive: true }];
    this.tasks = new Map(); // id → {member, kind, resolve, reject}: sent to an engine
    this.waiting = []; // {kind, input, resolve, reject}: not given to a member yet
    this.nextId = 1;
    this.turn = 0; // where the next search for a free member starts
    this.failure = null; // the first engine failure (later tasks run on the rest)
  }

  /** Start the engines and load the model (`files`: [{name, data: Blob}]) in each. Rejects with WORKER_ERROR. */
  async start(files, { exif }) {
    const starts = [];
    for (let i = 1; i < this.size; i++) {
      const m = { index: i, worker: null, inflight: 0, embedded: 0, thumbnails: 0, alive: true };
      this.members.push(m);
      starts.push(new Promise((resolve, reject) => {
        const fail = (why) => {
          const err = new ClipdbError('WORKER_ERROR', `engine worker ${i} of ${this.size} failed: ${why}`);
          if (m.alive) this.#drop(m, err);
          reject(err);
        };
        try {
          m.worker = new Worker(this.url, { type: 'module', name: ENGINE_NAME });
        } catch (e) { fail(`it could not be started (${e?.message || e})`); return; }
        m.worker.addEventListener('error', (ev) => { ev.preventDefault?.(); fail(ev.message || 'script error'); });
        m.worker.addEventListener('messageerror', () => fail('a message could not be read'));
        m.worker.addEventListener('message', (ev) => {
          const msg = ev.data;
          if (msg?.type === 'ready') m.worker.postMessage({ type: 'load', files, exif });
          else if (msg?.type === 'loaded') resolve();
          else if (msg?.type === 'failed') fail(`loading the model: ${msg.error?.message}`);
          else this.#settle(m, msg);
        });
      }));
    }
    try {
      await Promise.all(starts);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  #settle(m, msg) {
    const t = this.tasks.get(msg?.id);
    if (!t || t.member !== m) return;
    this.tasks.delete(msg.id);
    m.inflight--;
    if (msg.type === 'done') t.resolve(counted(m, t.kind, msg.result)); else t.reject(fromWire(msg.error));
    this.#pump();
  }

  /** Take a failed engine out: its tasks reject with `err`; later tasks go to the others. */
  #drop(m, err) {
    m.alive = false;
    m.worker?.terminate();
    this.failure ??= err;
    for (const [id, t] of this.tasks) if (t.member === m) { this.tasks.delete(id); t.reject(err); }
    m.inflight = 0;
    this.#pump();
  }

  /** Embed one image (a model input: Blob or Uint8Array of encoded bytes, or ImageData-like) → Float32Array. */
  embed(input) { return this.#run('embed', input); }

  /**
   * Thumbnail and embed one photo: input {image: Blob|Uint8Array, maxSide, embedThumb} →
   * {thumb: Blob, vector: Float32Array|null, error: {code, message}|null} (indexPhoto).
   */
  index(input) { return this.#run('index', input); }

  #run(kind, input) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ kind, input, resolve, reject });
      this.#pump();
    });
  }

  /**
   * Hand waiting tasks to members with room: an engine holds up to TASKS_PER_ENGINE (its next
   * photos are read while one is computed), this Worker one at a time, since it also reads and
   * writes the store. The member with the fewest in flight first, ties in turn. Tasks wait here,
   * not in a member's queue, so a slower member simply takes fewer.
   */
  #pump() {
    const n = this.members.length;
    while (this.waiting.length) {
      let m = null;
      for (let k = 0; k < n; k++) {
        const c = this.members[(this.turn + k) % n];
        if (c.alive && c.inflight < (c.local ? 1 : TASKS_PER_ENGINE) && (!m || c.inflight < m.inflight)) m = c;
      }
      if (!m) return;
      this.turn = (m.index + 1) % n;
      this.#start(m, this.waiting.shift());
    }
  }

  #start(m, { kind, input, resolve, reject }) {
    m.inflight++;
    const done = () => { m.inflight--; this.#pump(); };
    if (m.local) {
      readAhead(kind, input)
        .then((inp) => (kind === 'embed' ? m.local.embed(inp) : indexPhoto(m.local, inp)))
        .then((r) => { done(); resolve(counted(m, kind, r)); }, (e) => { done(); reject(e); });
      return;
    }
    const id = this.nextId++;
    this.tasks.set(id, { member: m, kind, resolve, reject });
    try {
      m.worker.postMessage({ type: 'task', id, kind, input }, inputBuffers(input));
    } catch (e) {
      this.tasks.delete(id);
      done();
      reject(new ClipdbError('INVALID_ARGUMENT', `the image cannot be sent to engine worker ${m.index}: ${e?.message || e}`));
    }
  }

  /** {workers, alive, modelBytes, embedded: [per member], thumbnails: [per member], failure?} */
  stats() {
    return {
      workers: this.size,
      modelBytes: this.modelBytes,
      alive: this.members.filter((m) => m.alive).length,
      embedded: this.members.map((m) => m.embedded),
      thumbnails: this.members.map((m) => m.thumbnails),
      ...(this.failure ? { failure: this.failure.message } : {}),
    };
  }

  /** Stop the engines; tasks in flight on them reject with TERMINATED. */
  close() {
    const err = new ClipdbError('TERMINATED', 'the engine workers were stopped');
    for (const m of this.members) if (m.worker && m.alive) { m.alive = false; m.worker.terminate(); }
    for (const t of this.tasks.values()) t.reject(err);
    this.tasks.clear();
    for (const t of this.waiting.splice(0)) t.reject(err);
  }
}

/**
 * The engine Worker's side: load the model once ({type: 'load'}), then run tasks in arrival
 * order. `lib` is index.mjs (passed in so this file does not import the engine).
 */
export function runEngine(lib) {
  let engine = null;
  let queue = Promise.resolve();
  self.onmessage = (event) => {
    const msg = event.data;
    if (msg?.type === 'load') {
      queue = queue.then(async () => {
        try {
          const clip = await lib.loadModel(msg.files.map((f) => ({ name: f.name, data: f.data })));
          const { visual } = lib.clipModels({ clip, identifier: 'engine', exif: msg.exif });
          engine = { embed: (input) => visual.predict(input), thumbnail: lib.thumbnail };
          postMessage({ type: 'loaded' });
        } catch (e) { postMessage({ type: 'failed', error: wireError(e) }); }
      });
    } else if (msg?.type === 'task') {
      const ready = readAhead(msg.kind, msg.input);
      ready.catch(() => {});
      queue = queue.then(async () => {
        try {
          if (!engine) throw new ClipdbError('INVALID_STATE', 'no model is loaded in this engine worker');
          const input = await ready;
          const result = msg.kind === 'embed' ? await engine.embed(input) : await indexPhoto(engine, input);
          postMessage({ type: 'done', id: msg.id, result });
        } catch (e) { postMessage({ type: 'fail', id: msg.id, error: wireError(e) }); }
      });
    }
  };
  postMessage({ type: 'ready' });
}
