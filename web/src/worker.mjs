// clipdb in a Web Worker: the CLIP engine and the document store run here, off the page's main
// thread (long computations there would freeze the page). Pages talk to it through ClipdbWorkerClient
// (client.mjs); this file is the other end of that protocol and holds no page logic.
//
// Protocol (structured-clone messages):
//   page → worker  {type: 'call', id, op, args}      run op(args); ids are the caller's
//                  {type: 'abort', id, reason}       abort call `id` (its AbortSignal fires)
//   worker → page  {type: 'progress', id, progress}  zero or more per call
//                  {type: 'result', id, result}      exactly one of result / error per call
//                  {type: 'error', id, error: {name, code, message, details?}}
//                  {type: 'log', message}            diagnostics (model cache fallbacks, ...)
// With init's `workers` > 1 this Worker starts engine Workers of its own script (pool.mjs)
// and spreads the embedding and thumbnailing of insert() over them and itself.
// The ops are the methods of `ops` below; their arguments and results are documented on
// ClipdbWorkerClient in index.d.ts.
import { ClipdbError } from './errors.mjs';
import { openModelCache, getModelFiles, sha256Hex, byteSize } from './model-cache.mjs';
import { selectModelFiles } from './model-files.mjs';
import { EnginePool, ENGINE_NAME, checkPoolOptions, defaultWorkers, poolSize, runEngine } from './pool.mjs';
import { clipdb_allocated_bytes } from './binding.mjs';
import * as lib from './index.mjs';

const { openDatabase, createTokenizer, clipModels, Listener, VectorIndex, Model } = lib;

const state = {
  idb: null, dbName: 'clipdb', collection: 'photos', index: 'images',
  db: null, cache: null, clip: null, tokenizer: null, models: null, model: null, reindex: false,
  keepOriginals: true, thumbSide: 320,
  chunkSize: undefined, // bytes per Blob read when hashing / checking model files (model-cache.mjs)
  // Engine pool (pool.mjs): `workers` Workers embed and thumbnail, this one included; each holds
  // a model copy, so the pool shrinks until the copies fit in poolMemoryMB.
  workers: undefined, poolMemoryMB: 1024, engineURL: undefined, pool: null,
  // Compute threads of this Worker's wasm module (createModule's `threads`; default there).
  threads: undefined,
};

// Photos per insertMany call in insert(); while one group is stored, the pool makes the
// thumbnails and vectors of the next GROUPS_AHEAD groups (an abort waits for none of them).
const INSERT_GROUP = 32;
const GROUPS_AHEAD = 3;
const running = new Map(); // call id → {ac: AbortController, op, since, progress}

/**
 * The calls this Worker is running now: [{id, op, ms, step, progress}] (`ms` since the call
 * arrived, `step` where a long op is (a few ops name theirs), `progress` the last progress it
 * reported). For devtools consoles and tests that must say
 * where a call stands when it has not finished (evaluate `clipdbCalls()` in this Worker).
 */
globalThis.clipdbCalls = () => [...running].map(([id, c]) => ({ id, op: c.op, ms: Math.round(performance.now() - c.since), step: c.step, progress: c.progress }));

const log = (message) => postMessage({ type: 'log', message });

function toWire(e) {
  const err = { name: e?.name || 'Error', code: e?.code || (e?.name === 'AbortError' ? 'ABORTED' : 'INTERNAL'), message: e?.message || String(e) };
  if (e?.details !== undefined) { try { structuredClone(e.details); err.details = e.details; } catch { /* not cloneable: dropped */ } }
  return err;
}

// A file that may be a vocabulary: only to fetch the small files first (the choice among
// them is model-files.mjs's).
function isVocab(name) {
  const n = name.toLowerCase();
  return n.endsWith('.txt.gz') || n === 'vocab.json' || n === 'merges.txt' || (n.endsWith('.txt') && !n.includes('license'));
}

function needDb() {
  if (!state.db) throw new ClipdbError('INVALID_STATE', 'call init() first');
  return state.db;
}

function needModel() {
  if (!state.models) throw new ClipdbError('INVALID_STATE', 'no model is loaded: call loadModel() first');
}

async function openDb() {
  state.db = await openDatabase({ storage: 'indexeddb', name: state.dbName, idb: state.idb ?? undefined });
}

async function addIndex({ signal, progress, reindex = state.reindex } = {}) {
  const { visual, text } = state.models;
  const vi = new VectorIndex(state.index, {
    indexingListener: new Listener({ model: visual, key: 'image', select: { collection: state.collection } }),
    compatibleListener: text ? new Listener({ model: text, key: 'text', select: { collection: state.collection } }) : undefined,
  });
  // A model this index has never seen: with `reindex` (the page's choice, see init) every photo
  // is embedded with it; the vectors of the other models stay stored for a switch back.
  return state.db.add(vi, { reindex, signal, onProgress: (p) => progress({ phase: 'index', done: p.done, total: p.total, id: p.id }) });
}

function dbInfo() {
  const db = needDb();
  return { ...db.info, model: state.model, modelCache: state.cache != null, pool: state.pool ? state.pool.stats() : null };
}

// Vectors insert() had the pool make with each photo's thumbnail ('index' tasks), by the Blob
// the store will hand the image Model (the photo, or its thumbnail when only that is kept).
const made = new WeakMap(); // Blob → {vector} | {error: {code, message}}

/**
 * The store's image Model over `pool`: the same identifier and vectors as `visual`. A vector
 * insert() already made is taken as it is; any other image is embedded by whichever pool member
 * is free (insertMany keeps two per member in flight; photos go over as Blobs, read there).
 */
function pooledVisual(visual, pool) {
  return new Model({
    identifier: visual.identifier, dim: visual.dim, kind: visual.kind, concurrency: 2 * pool.size, blobs: true,
    encode: (input) => {
      const pre = input instanceof Blob ? made.get(input) : undefined;
      if (!pre) return pool.embed(input);
      made.delete(input);
      if (pre.error) throw new ClipdbError(pre.error.code, pre.error.message);
      return pre.vector;
    },
  });
}

/**
 * A Blob as a data: URL (base64). Read asynchronously: this Worker answers every call of the
 * page, and a synchronous read (FileReaderSync) of a photo stored in IndexedDB would hold all
 * of them until the bytes arrive.
 */
async function dataURL(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:${blob.type || 'application/octet-stream'};base64,${btoa(bin)}`;
}

// This Worker's one wasm module (lib.getModule's shared instance), made with the threads init
// asked for the first time it is needed.
const workerModule = () => lib.getModule(state.threads !== undefined ? { threads: state.threads } : undefined);

const ops = {
  /**
   * Open the store (IndexedDB, else memory with {persistent: false, reason}) and the model
   * cache. args: {idbURL?, dbName?, modelCacheName?, collection?, vectorIndex?, reindex?,
   * modelChunkSize?}. `collection` / `vectorIndex` name where photos and their vectors go
   * (default 'photos' / 'images'); `reindex` (default false): when a model this vector index
   * has never seen is loaded, embed every stored photo with it (else loadModel fails with
   * MODEL_MISMATCH and the previous model stays loaded). Each photo is stored with a JPEG
   * thumbnail (`thumb`, longer side `thumbSide`, default 320 px) for display; `keepOriginals`
   * (default true) keeps the original file as `image` too, else the thumbnail is the stored image.
   */
  async init({ idbURL, dbName, modelCacheName, collection, vectorIndex, reindex, keepOriginals, thumbSide, modelChunkSize, workers, poolMemoryMB, engineURL, threads } = {}) {
    checkPoolOptions({ workers, poolMemoryMB, threads });
    if (workers !== undefined) state.workers = workers;
    if (threads !== undefined) state.threads = threads;
    if (poolMemoryMB !== undefined) state.poolMemoryMB = poolMemoryMB;
    if (engineURL !== undefined) state.engineURL = engineURL;
    if (keepOriginals !== undefined) state.keepOriginals = Boolean(keepOriginals);
    if (thumbSide !== undefined) state.thumbSide = thumbSide;
    if (idbURL) state.idb = await import(idbURL);
    if (dbName) state.dbName = dbName;
    if (collection) state.collection = collection;
    if (vectorIndex) state.index = vectorIndex;
    if (reindex !== undefined) state.reindex = Boolean(reindex);
    if (modelChunkSize !== undefined) state.chunkSize = modelChunkSize;
    // The Worker's one wasm module is made here, before the store opens with it, so that it
    // has the threads asked for (later inits cannot change them).
    await workerModule();
    if (state.db) await state.db.close();
    await openDb();
    state.cache = await openModelCache({ name: modelCacheName, idb: state.idb ?? undefined, chunkSize: state.chunkSize, log });
    return dbInfo();
  },

  /**
   * Load a CLIP model (weights + tokenizer) and (re)build the vector index with it.
   * args: {files?: [{name, data: ArrayBuffer|Blob}], urls?: [{name, url, optional?}], label?,
   * reindex?, remember?}. The result's `urls` say where to load the same model from next time
   * (with `remember`, picked files are copied into the model cache under local: URLs). Small
   * files are fetched before the weights, so a folder without a vocabulary fails early; a
   * missing file names each URL tried and what happened (HTTP status, unreachable or CORS).
   * Weights given or cached as a Blob/File go to the engine as the Blob, which streams it
   * (FileReaderSync on slices, engine.mjs): the file is never read whole here. The store and
   * the model loaded before are switched only once the new model loaded, so a failed load
   * (a damaged file, a bad cached copy while offline) leaves both as they were.
   */
  async loadModel({ files, urls, label, cache = true, reindex, remember = false } = {}, { signal, progress }) {
    needDb();
    if (signal?.aborted) throw new ClipdbError('ABORTED', 'loadModel was aborted before it started', { cause: signal.reason });
    if (typeof lib.loadModel !== 'function') throw new ClipdbError('UNSUPPORTED', 'this clipdb build has no CLIP engine (web/src/engine.mjs)');
    let list;
    const misses = [];
    if (urls && urls.length) {
      // Small files first: a folder without a vocabulary fails before the weights download.
      const order = [...urls].sort((a, b) => Number(/\.safetensors$/i.test(a.name)) - Number(/\.safetensors$/i.test(b.name)));
      const opts = { cache: cache ? state.cache : null, signal, onMiss: (m) => misses.push(m), onProgress: (p) => progress({ phase: 'download', ...p }) };
      list = await getModelFiles(order.filter((u) => !/\.safetensors$/i.test(u.name)), opts);
      const tried = () => misses.map((m) => `${m.url}: ${m.why}`).join('; ');
      if (!list.some((f) => isVocab(f.name))) {
        throw new ClipdbError('NOT_FOUND', `no tokenizer vocabulary found (looked for ${order.filter((u) => isVocab(u.name)).map((u) => u.name).join(', ') || 'none'}; ${tried() || 'nothing answered'}); the weights were not downloaded`, { details: { misses } });
      }
      list.push(...await getModelFiles(order.filter((u) => /\.safetensors$/i.test(u.name)), opts));
      if (!list.some((f) => /\.safetensors$/i.test(f.name))) {
        throw new ClipdbError('NOT_FOUND', `no weights found (${tried() || 'no .safetensors URL given'})`, { details: { misses } });
      }
    } else if (files && files.length) {
      list = files.map((f) => ({ name: f.name, data: f.data, source: 'files' }));
    } else {
      throw new ClipdbError('INVALID_ARGUMENT', 'loadModel needs files or urls');
    }
    // Weights and vocabulary by their documented names only (model-files.mjs).
    const picked = await selectModelFiles(list);
    const st = picked.weights, vocab = picked.vocab;
    const weights = picked.config ? [st, picked.config] : [st];
    progress({ phase: 'load' });
    const mod = await workerModule();
    // With wasm threads the module already uses several cores: one engine unless asked for more.
    const workersWanted = state.workers ?? (mod.clipdbThreads > 1 ? 1 : defaultWorkers());
    // Engine workers get the weights as Blobs (made before the engine here reads them).
    let engineFiles = workersWanted > 1 ? weights.map((f) => ({ name: f.name, data: f.data instanceof Blob ? f.data : new Blob([f.data]) })) : [];
    const allocated = clipdb_allocated_bytes(mod);
    let clip;
    try {
      clip = await lib.loadModel(weights.map((f) => ({ name: f.name, data: f.data })));
    } catch (e) {
      const cached = weights.filter((f) => f.source === 'cache').map((f) => `${f.name} (${f.url})`);
      if (cached.length && e instanceof ClipdbError) {
        throw new ClipdbError(e.code, `${e.message} [read from the model cache: ${cached.join(', ')}; the cached copy was kept]`, { status: e.status });
      }
      throw e;
    }
    let tokenizer;
    try {
      // Vocabulary files are small (≤ 2 MB): read whole for the tokenizer.
      tokenizer = await createTokenizer(await Promise.all(vocab.map(async (f) => ({ name: f.name, data: f.data instanceof Blob ? await f.data.arrayBuffer() : f.data }))));
    } catch (e) { clip.free(); throw e; }
    let hash;
    try { hash = st.sha256 ?? await sha256Hex(st.data, { signal, chunkSize: state.chunkSize }); } catch (e) { clip.free(); tokenizer.free(); throw e; }
    const identifier = `${label || st.name}@sha256:${hash.slice(0, 16)}`;
    // The pool: this Worker (member #0, the model just loaded) and size - 1 engine Workers, each
    // loading its own copy. An engine that fails to start or load fails loadModel (WORKER_ERROR).
    // One copy's memory: what the load just took in this Worker's engine (float32 weights and
    // the session's buffers; an F16 file takes twice its size), else the weights file's size.
    const took = clip.module === mod ? clipdb_allocated_bytes(mod) - allocated : 0;
    const modelBytes = took > 0 ? took : byteSize(st.data);
    const size = poolSize({ workers: workersWanted, memoryMB: state.poolMemoryMB, modelBytes });
    if (size === 1) engineFiles = [];
    const models = clipModels({ clip, tokenizer, identifier, exif: 'apply' });
    const pool = new EnginePool({
      size, modelBytes, url: state.engineURL ?? self.location.href,
      local: { embed: (input) => models.visual.predict(input), thumbnail: lib.thumbnail },
    });
    if (size > 1) progress({ phase: 'workers', workers: size });
    try { await pool.start(engineFiles, { exif: 'apply' }); } catch (e) { clip.free(); tokenizer.free(); throw e; }
    // Switch: the vector index of the old model leaves memory (its vectors stay stored; the
    // store stays open, so an import running meanwhile goes on), then the new model's index is
    // added. If that fails (MODEL_MISMATCH without reindex, an abort), the old model is put back.
    const previous = { clip: state.clip, tokenizer: state.tokenizer, models: state.models, model: state.model, pool: state.pool };
    if (state.models) await state.db.removeVectorIndex(state.index);
    // EXIF orientation applied (clipModels' default, README "Images"): photos stored as bytes
    // embed upright, as the page shows them.
    state.clip = clip; state.tokenizer = tokenizer; state.pool = pool;
    state.models = models.visual ? { ...models, visual: pooledVisual(models.visual, pool) } : models;
    state.model = { identifier, label: label || st.name, config: { ...clip.config }, source: list.every((f) => f.source === 'cache') ? 'cache' : list.some((f) => f.source === 'network') ? 'network' : 'files', bytes: list.reduce((a, f) => a + byteSize(f.data), 0), threads: mod.clipdbThreads ?? 1, workers: size };
    let added;
    try {
      added = await addIndex({ signal, progress, reindex: reindex ?? state.reindex });
    } catch (e) {
      await state.db.removeVectorIndex(state.index);
      pool.close(); clip.free(); tokenizer.free();
      Object.assign(state, previous);
      if (state.models) await addIndex({ progress: () => {} }).catch(() => {});
      throw e;
    }
    previous.pool?.close(); previous.clip?.free(); previous.tokenizer?.free();
    // Where this model can be loaded from next time: its URLs (cached), or, for files picked
    // on this device, copies kept in the model cache under local: URLs.
    let source = list.filter((f) => f.url).map((f) => ({ name: f.name, url: f.url }));
    if (remember && !source.length && state.cache) {
      const base = `local:${encodeURIComponent(state.model.label)}@${hash.slice(0, 16)}/`;
      source = [];
      for (const f of [...weights, ...vocab]) {
        const data = f.data instanceof Blob ? f.data : new Blob([f.data]);
        if (await state.cache.put(base + f.name, f.name, data, f === st ? hash : undefined)) source.push({ name: f.name, url: base + f.name });
      }
      if (source.length !== weights.length + vocab.length) source = [];
    }
    return { ...state.model, ...added, urls: source, info: dbInfo() };
  },

  /**
   * Store and index photos. args: {files: [File | {name, type?, data: ArrayBuffer|Blob, path?}]}.
   * Ids are the files' relative paths (folder picks) or names; ids already stored are skipped.
   */
  async insert({ files } = {}, { signal, progress }) {
    const db = needDb(); needModel();
    if (!Array.isArray(files)) throw new ClipdbError('INVALID_ARGUMENT', 'insert needs {files: [...]}');
    const col = db.collection(state.collection);
    const docs = [];
    const seen = new Set();
    for (const f of files) {
      const id = f.webkitRelativePath || f.path || f.name;
      if (typeof id !== 'string' || id === '') throw new ClipdbError('INVALID_ARGUMENT', 'every file needs a name');
      if (seen.has(id)) continue;
      seen.add(id);
      const image = f instanceof Blob ? f : new Blob([f.data], { type: f.type || '' });
      docs.push({ _id: id, name: f.name, type: f.type || image.type || '', size: image.size, image });
    }
    const existing = new Set((await col.find({ _id: { $in: docs.map((d) => d._id) } })).map((d) => d._id));
    const todo = docs.filter((d) => !existing.has(d._id));
    const failed = [];
    const insertedIds = [];
    let done = 0;
    progress({ phase: 'insert', done: 0, total: todo.length });
    const cancelled = () => new ClipdbError('ABORTED', `cancelled after ${insertedIds.length} of ${todo.length} photos`, { details: { insertedIds } });
    const fail = (id, e) => {
      failed.push({ id, code: e?.code || 'ERROR', message: e?.message || String(e) });
      done++;
      progress({ phase: 'insert', done, total: todo.length, id });
    };
    // A thumbnail for the grid (a few tens of KB) and the vector, made by a pool member from one
    // read of the photo. With keepOriginals (the default) the original is stored too, as
    // `image`; without it the thumbnail is the stored `image` and is what is embedded (CLIP
    // looks at 224 px, so a 320-px thumbnail embeds nearly as the original does). A photo that
    // cannot be decoded is reported in `failed` and skipped; the others go on.
    const thumbs = (group) => Promise.all(group.map((d) => state.pool.index({ image: d.image, maxSide: state.thumbSide, embedThumb: !state.keepOriginals })
      .then(({ thumb, vector, error }) => {
        made.set(state.keepOriginals ? d.image : thumb, vector ? { vector } : { error });
        return { d, thumb };
      }, (error) => ({ d, error }))));
    // Groups of INSERT_GROUP photos: one insertMany each (its image Model takes the vectors
    // made above); the next groups are thumbnailed and embedded while this one is stored.
    const groups = []; // promises of the groups being made, in order
    const more = (at) => { for (let k = at + groups.length * INSERT_GROUP; groups.length < GROUPS_AHEAD && k < todo.length; k += INSERT_GROUP) groups.push(thumbs(todo.slice(k, k + INSERT_GROUP))); };
    for (let at = 0; at < todo.length; at += INSERT_GROUP) {
      more(at);
      const made = await groups.shift();
      if (signal.aborted) throw cancelled();
      more(at + INSERT_GROUP);
      let batch = [];
      for (const { d, thumb, error } of made) {
        if (error) { if (error.code === 'WORKER_ERROR') throw Object.assign(error, { details: { insertedIds } }); fail(d._id, error); continue; }
        batch.push(state.keepOriginals ? { ...d, thumb } : { ...d, image: thumb, size: thumb.size });
      }
      while (batch.length) {
        let stored = 0;
        try {
          await col.insertMany(batch, {
            signal,
            onProgress: ({ id }) => { stored++; insertedIds.push(id); done++; progress({ phase: 'insert', done, total: todo.length, id }); },
          });
          batch = [];
        } catch (e) {
          if (e?.code === 'ABORTED' || signal.aborted) throw cancelled();
          // An engine worker failed: the call fails with its named error (the photos stored
          // so far stay; a later insert runs on the pool members left).
          if (e?.code === 'WORKER_ERROR' || e?.code === 'TERMINATED') throw Object.assign(e, { details: { ...(e.details || {}), insertedIds } });
          // insertMany stores the photos before the first failure and drops the rest of its
          // batch: the first one not stored is the one that failed; the rest go again.
          fail(batch[stored]._id, e);
          batch = batch.slice(stored + 1);
        }
      }
    }
    return { inserted: insertedIds.length, skipped: docs.length - todo.length, failed, count: await col.count() };
  },

  /**
   * Search. args: {text} | {id} (more like this stored photo, by its stored vector) | {image: Blob|ArrayBuffer}, plus
   * n (default 24) and filter. Results: [{_id, name, type, size, image: Blob, score}] best first.
   */
  async search({ text, id, image, n = 24, filter = {} } = {}) {
    const db = needDb(); needModel();
    const col = db.collection(state.collection);
    let query;
    if (typeof text === 'string') query = { text };
    else if (id !== undefined) query = { _id: id }; // its stored vector: nothing is embedded again
    else if (image != null) query = { image };
    else throw new ClipdbError('INVALID_ARGUMENT', 'search needs {text}, {id} or {image}');
    const hits = await col.like(query, { vectorIndex: state.index, n }).find(filter);
    return hits.map((h) => ({ _id: h._id, name: h.name, type: h.type, size: h.size, image: h.image, thumb: h.thumb ?? h.image, score: h.score }));
  },

  /**
   * Stored photos in insertion order: args {limit?, skip?, thumbURLs?} → [{_id, name, type, size,
   * image, thumb, thumbURL?}]. With `thumbURLs`, each thumbnail also comes as a data: URL made
   * here, so a page drawing many of them makes no object URL on its main thread (in Chromium
   * each URL.createObjectURL is a round trip to the browser process, about 1 ms).
   */
  async list({ limit = 200, skip = 0, thumbURLs = false } = {}) {
    const docs = await needDb().collection(state.collection).find({}, { limit, skip });
    return Promise.all(docs.map(async (d) => {
      const thumb = d.thumb ?? d.image;
      const out = { _id: d._id, name: d.name, type: d.type, size: d.size, image: d.image, thumb };
      if (thumbURLs && thumb instanceof Blob) out.thumbURL = await dataURL(thumb);
      return out;
    }));
  },

  async count() { return needDb().collection(state.collection).count(); },

  /** Delete one photo and its vector: args {id} → {deletedCount}. */
  async delete({ id } = {}) {
    return needDb().collection(state.collection).deleteOne({ _id: id });
  },

  /** Delete every photo and vector (the IndexedDB database is deleted); the model stays loaded. */
  async clear({ modelCache = false } = {}, { progress }) {
    needDb();
    await state.db.close();
    if (state.db.info.storage === 'indexeddb') {
      await new Promise((resolve, reject) => {
        const r = indexedDB.deleteDatabase(state.dbName);
        r.onsuccess = () => resolve();
        r.onerror = () => reject(new ClipdbError('IO', `failed to delete IndexedDB database '${state.dbName}': ${r.error?.message}`));
        r.onblocked = () => log(`deleting '${state.dbName}' is blocked by another tab`);
      });
    }
    if (modelCache && state.cache) await state.cache.clear();
    await openDb();
    if (state.models) await addIndex({ progress });
    return dbInfo();
  },

  /** URLs this Worker loaded (its modules, the wasm, model files), e.g. for a service worker to cache. */
  async resources() {
    return { urls: [self.location.href, ...performance.getEntriesByType('resource').map((e) => e.name)] };
  },

  /** The store as one export container: {file: Blob (application/x-tar), documents}. */
  async exportData() {
    const db = needDb();
    const file = await new Response(db.exportData()).blob();
    return { file: new Blob([file], { type: 'application/x-tar' }), documents: db.info.documents };
  },

  /** Load an export container: args {file: Blob|File, onConflict?: 'error'|'skip'} → {documents, vectors, skipped}. */
  async importData({ file, onConflict = 'skip' } = {}, { signal, progress, step }) {
    const db = needDb();
    if (!(file instanceof Blob)) throw new ClipdbError('INVALID_ARGUMENT', 'importData needs {file: Blob}');
    step('importing');
    const r = await db.importData(file, { onConflict, signal, onProgress: (p) => progress({ phase: 'import', ...p }) });
    // Vectors of the loaded model's index came with the file: re-add it so they are searchable.
    if (state.models) {
      step('taking the index out');
      await db.removeVectorIndex(state.index);
      step('adding the index again');
      await addIndex({ signal, progress });
    }
    step('done');
    return { ...r, info: dbInfo() };
  },

  /**
   * The models whose vectors the photos' vector index keeps: [{identifier, label, dim, vectors,
   * current}], `vectors` = photos embedded with it, `label` = the identifier before '@'.
   */
  async models() {
    const db = needDb();
    const current = state.models?.visual?.identifier;
    return (await db.vectorCounts(state.index)).map((m) => {
      const at = m.identifier.lastIndexOf('@');
      return { identifier: m.identifier, label: at > 0 ? m.identifier.slice(0, at) : m.identifier, dim: m.dim, vectors: m.vectors, current: m.identifier === current };
    });
  },

  async info() {
    const info = dbInfo();
    try { info.estimate = globalThis.navigator?.storage?.estimate ? await navigator.storage.estimate() : null; } catch { info.estimate = null; }
    return info;
  },
};

// An engine Worker of a pool (started by pool.mjs with this script's URL): embeds and
// thumbnails only; it opens no store.
const isEngine = self.name === ENGINE_NAME;
if (isEngine) runEngine(lib);
else self.onmessage = async (event) => {
  const msg = event.data;
  if (msg?.type === 'abort') { running.get(msg.id)?.ac.abort(msg.reason); return; }
  if (msg?.type !== 'call') return;
  const { id, op, args } = msg;
  const ac = new AbortController();
  const call = { ac, op, since: performance.now(), step: null, progress: null };
  running.set(id, call);
  const progress = (p) => { call.progress = p; postMessage({ type: 'progress', id, progress: p }); };
  try {
    const fn = Object.hasOwn(ops, op) ? ops[op] : null;
    if (!fn) throw new ClipdbError('INVALID_ARGUMENT', `unknown worker op '${op}' (known: ${Object.keys(ops).join(', ')})`);
    const result = await fn(args ?? {}, { signal: ac.signal, progress, step: (s) => { call.step = s; } });
    postMessage({ type: 'result', id, result });
  } catch (e) {
    postMessage({ type: 'error', id, error: toWire(e) });
  } finally {
    running.delete(id);
  }
};
if (!isEngine) postMessage({ type: 'ready' });
