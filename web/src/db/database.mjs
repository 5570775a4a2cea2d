// The document store: SuperDuperDB's concepts (collections, models, listeners, vector indexes,
// like().find()) over a storage adapter (storage.mjs), with the vector search done by the C
// index (vector-index.mjs). Storage is the source of truth; the C index is a cache rebuilt
// from the stored vectors when a vector index is added to an opened database.
//
// Write protocol (crash safety): a new document is written with a "pending" mark naming the
// vector indexes that still owe it a vector (transaction 1); the embedding runs with no
// transaction open (B22); its vector is written in a later transaction that clears the mark
// (transaction 2). Opening the store and adding the vector index re-queues pending documents.
// Search only ever sees documents whose vector is stored, so nothing half-written is visible.
import { ClipdbError } from '../errors.mjs';
import { getModule } from '../module.mjs';
import { matches, isEmptyFilter, getPath, hasPath } from './filter.mjs';
import { encodeDoc, decodeDoc, modelInput, storedEquals, toJSONSafe, fromJSONSafe } from './codec.mjs';
import { openStorage, storageError } from './storage.mjs';
import { WasmVectorIndex } from './vector-index.mjs';

const SEP = '\u0000';
const docKey = (collection, id) => `${collection}${SEP}${id}`;
const vecKey = (index, id) => `${index}${SEP}${id}`;
const splitKey = (k) => { const i = k.indexOf(SEP); return [k.slice(0, i), k.slice(i + 1)]; };

function newId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function abortError(signal, details) {
  return new ClipdbError('ABORTED', 'the operation was aborted', { cause: signal?.reason, details });
}

/** Check a vector from a model or a caller: right length, finite, not all zero. */
function checkVector(v, dim, who) {
  if (!(v instanceof Float32Array)) {
    if (Array.isArray(v) || ArrayBuffer.isView(v)) v = Float32Array.from(v);
    else throw new ClipdbError('INVALID_ARGUMENT', `${who} must be a Float32Array or an array of numbers, got ${v === null ? 'null' : typeof v}`);
  }
  if (v.length !== dim) {
    throw new ClipdbError('DIMENSION_MISMATCH', `expected ${dim}-dimensional vectors, got ${v.length} from ${who}`, { details: { expected: dim, got: v.length } });
  }
  let ss = 0;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new ClipdbError('BAD_VECTOR', `${who} contains NaN or Inf at position ${i}`);
    ss += v[i] * v[i];
  }
  if (ss === 0) throw new ClipdbError('BAD_VECTOR', `${who} is all zeros (no direction to compare)`);
  return v;
}

/**
 * A model turning one input into an embedding. The encode function is injected, so any
 * encoder fits: clipdb's wasm CLIP (see clipModels in ../index.mjs), a server, or a test fake.
 */
export class Model {
  /**
   * @param {{identifier: string, dim: number, encode: (input: any) => (Float32Array|number[]|Promise<Float32Array|number[]>), kind?: 'image'|'text'|string}} options
   *   `identifier` names the model and its weights (stored with every vector index and checked
   *   on reopen); `dim` is the embedding length; `encode` receives the listener key's value:
   *   a string for text, a Uint8Array of encoded image bytes, or an ImageData-like
   *   {width, height, data: Uint8ClampedArray RGBA} for images.
   */
  constructor({ identifier, dim, encode, kind } = {}) {
    if (typeof identifier !== 'string' || identifier === '') throw new ClipdbError('INVALID_ARGUMENT', 'Model needs a non-empty identifier');
    if (!Number.isInteger(dim) || dim < 1) throw new ClipdbError('INVALID_ARGUMENT', `Model '${identifier}' needs an integer dim >= 1, got ${dim}`);
    if (typeof encode !== 'function') throw new ClipdbError('INVALID_ARGUMENT', `Model '${identifier}' needs an encode function`);
    this.identifier = identifier;
    this.dim = dim;
    this.kind = kind;
    this._encode = encode;
  }

  /** Embed one input; resolves to a checked Float32Array [dim] (not normalised). */
  async predict(input) {
    const v = await this._encode(input);
    return checkVector(v, this.dim, `model '${this.identifier}'`);
  }
}

/**
 * Applies `model` to the field `key` (a dotted path) of every document of the selected
 * collection that matches `select.filter` (SuperDuperDB's Listener).
 */
export class Listener {
  /**
   * @param {{model: Model, key: string, select: string | {collection: string, filter?: object} | Collection}} options
   */
  constructor({ model, key, select } = {}) {
    if (!(model instanceof Model)) throw new ClipdbError('INVALID_ARGUMENT', 'Listener needs a Model');
    if (typeof key !== 'string' || key === '') throw new ClipdbError('INVALID_ARGUMENT', 'Listener needs a key (field path)');
    this.model = model;
    this.key = key;
    if (select == null) { this.collection = null; this.filter = {}; }
    else if (typeof select === 'string') { this.collection = select; this.filter = {}; }
    else if (select instanceof Collection) { this.collection = select.name; this.filter = {}; }
    else { this.collection = select.collection ?? null; this.filter = select.filter ?? {}; }
  }
}

/** A vector index: the indexing listener fills it; the compatible listener's model embeds queries. */
export class VectorIndex {
  /**
   * @param {string} name
   * @param {{indexingListener: Listener, compatibleListener?: Listener}} options
   */
  constructor(name, { indexingListener, compatibleListener } = {}) {
    if (typeof name !== 'string' || name === '' || name.includes(SEP)) throw new ClipdbError('INVALID_ARGUMENT', 'VectorIndex needs a name');
    if (!(indexingListener instanceof Listener)) throw new ClipdbError('INVALID_ARGUMENT', `VectorIndex '${name}' needs an indexingListener`);
    if (compatibleListener != null && !(compatibleListener instanceof Listener)) throw new ClipdbError('INVALID_ARGUMENT', `VectorIndex '${name}': compatibleListener must be a Listener`);
    if (compatibleListener && compatibleListener.model.dim !== indexingListener.model.dim) {
      throw new ClipdbError('DIMENSION_MISMATCH', `VectorIndex '${name}': the indexing model '${indexingListener.model.identifier}' makes ${indexingListener.model.dim}-dimensional vectors but the compatible model '${compatibleListener.model.identifier}' makes ${compatibleListener.model.dim}-dimensional ones`);
    }
    this.name = name;
    this.indexingListener = indexingListener;
    this.compatibleListener = compatibleListener ?? null;
  }
  get dim() { return this.indexingListener.model.dim; }
}

/** A named set of documents. Get one with `db.collection(name)`. */
export class Collection {
  constructor(db, name) { this.db = db; this.name = name; }

  /**
   * Insert one document (a plain object; `_id` optional, a string or number, generated if
   * absent). Resolves once the document is stored and embedded by every vector index that
   * listens to it. Duplicate `_id` → ClipdbError 'DUPLICATE_ID' (use updateOne to change a
   * document). If embedding fails the document is removed again and the error is thrown.
   * @returns {Promise<{insertedId: string|number}>}
   */
  async insertOne(doc, options = {}) {
    const r = await this.insertMany([doc], options);
    return { insertedId: r.insertedIds[0] };
  }

  /**
   * Insert documents in batches of `batchSize` (default 16): each batch is stored with a
   * pending mark in one transaction, embedded, then its vectors written in a second one.
   * `onProgress({done, total, id})` is called after each document; `signal` (AbortSignal)
   * stops between documents: documents already resolved stay, the rest of the batch is
   * removed, and the promise rejects with ClipdbError 'ABORTED' whose details.insertedIds
   * lists what was inserted. The same happens (with the model's error) if an embedding fails.
   * @returns {Promise<{insertedIds: Array<string|number>}>}
   */
  insertMany(docs, options = {}) { return this.db._exclusive(() => this.db._insertMany(this.name, docs, options)); }

  /**
   * Find documents matching a Mongo-style filter (see filter.mjs), in insertion order.
   * Image fields come back in the form they were given (Blob, ArrayBuffer, Uint8Array, ImageData).
   * @param {object} [filter]
   * @param {{limit?: number, skip?: number}} [options]
   */
  async find(filter = {}, { limit = Infinity, skip = 0 } = {}) {
    await this.db._ready();
    const out = [];
    let skipped = 0;
    for (const rec of this.db._records(this.name)) {
      if (out.length >= limit) break;
      if (!matches(rec.doc, filter)) continue;
      if (skipped++ < skip) continue;
      out.push(decodeDoc(rec.doc));
    }
    return out;
  }

  /** The first document matching `filter` (insertion order), or null. */
  async findOne(filter = {}) { return (await this.find(filter, { limit: 1 }))[0] ?? null; }

  /** Number of documents matching `filter`. */
  async count(filter = {}) {
    await this.db._ready();
    let n = 0;
    for (const rec of this.db._records(this.name)) if (matches(rec.doc, filter)) n++;
    return n;
  }

  /**
   * Update the first document matching `filter`: `update` is {$set: {path: value}, $unset:
   * {path: 1}} or a replacement document (its `_id` must be absent or unchanged). Listeners
   * whose key changed re-embed before anything is written; document and vectors are then
   * written in one transaction.
   * @returns {Promise<{matchedCount: number, modifiedCount: number}>}
   */
  updateOne(filter, update) { return this.db._exclusive(() => this.db._updateOne(this.name, filter, update)); }

  /** Delete the first document matching `filter` and its vectors (one transaction). */
  deleteOne(filter) { return this.db._exclusive(() => this.db._deleteOne(this.name, filter)); }

  /**
   * Start a vector search: `query` is {text: string}, {image: Blob|ArrayBuffer|Uint8Array|ImageData},
   * any {<listener key>: value}, or {vector: Float32Array}. The field picks the listener whose model
   * embeds it. `n` is how many results to return (a non-negative integer).
   * @param {object} query
   * @param {{vectorIndex: string, n?: number}} options
   * @returns {LikeQuery}
   */
  like(query, { vectorIndex, n = 10 } = {}) { return new LikeQuery(this, query, vectorIndex, n); }
}

/** The result of `collection.like(...)`; call `.find(filter)` to run it. */
export class LikeQuery {
  constructor(collection, query, vectorIndex, n) { Object.assign(this, { collection, query, vectorIndex, n }); }

  /**
   * Run the search restricted to documents matching `filter` (pre-filtering in the C index:
   * exactly min(n, matching documents with a vector) results). Results are documents with a
   * `score` field (cosine similarity, float32), sorted by score descending, equal scores by
   * `_id` ascending (String order), so ties are stable across runs and reloads (B29).
   * Errors: 'INVALID_ARGUMENT' (n negative or not an integer, bad query), 'NOT_FOUND'
   * (unknown vector index), 'DIMENSION_MISMATCH' (a raw vector of the wrong length, message
   * names both), 'BAD_VECTOR' (zero/NaN query).
   * @returns {Promise<Array<object>>}
   */
  async find(filter = {}) { return this.collection.db._search(this.collection.name, this.query, this.vectorIndex, this.n, filter); }
}

/** An open database. Create with openDatabase(). */
export class Database {
  constructor(adapter, info, mod) {
    this.adapter = adapter;
    /** True if writes survive a restart. */
    this.persistent = info.persistent;
    /** Why storage is not persistent (B21), else undefined. */
    this.reason = info.reason;
    /** Result of navigator.storage.persist() after the first write (B25): true/false, null if unavailable or not asked yet. */
    this.persisted = null;
    this._mod = mod;
    this._cols = new Map();       // collection -> Map(id -> {doc, pending: string[], seq})
    this._vis = new Map();        // vector index name -> state
    this._meta = new Map();       // stored meta records
    this._storedVectors = new Map(); // index name -> Map(id -> Float32Array), until the index is added
    this._seq = 0;
    this._lock = Promise.resolve();
    this._closed = false;
    this._persistAsked = false;
  }

  async _load() {
    const [docs, vectors, meta] = await Promise.all(['docs', 'vectors', 'meta'].map((s) => this.adapter.getAll(s)));
    const all = docs.map(([k, rec]) => [...splitKey(k), rec]).sort((a, b) => a[2].seq - b[2].seq);
    for (const [col, id, rec] of all) {
      if (!this._cols.has(col)) this._cols.set(col, new Map());
      this._cols.get(col).set(rec.doc._id ?? id, rec);
      this._seq = Math.max(this._seq, rec.seq + 1);
    }
    for (const [k, v] of meta) this._meta.set(k, v);
    for (const [k, v] of vectors) {
      const [index, id] = splitKey(k);
      if (!this._storedVectors.has(index)) this._storedVectors.set(index, new Map());
      this._storedVectors.get(index).set(id, v);
    }
  }

  /** Status of the store: {persistent, reason, storage, documents, pending, persisted}. */
  get info() {
    let documents = 0, pending = 0;
    for (const m of this._cols.values()) for (const r of m.values()) { documents++; if (r.pending.length) pending++; }
    return { persistent: this.persistent, reason: this.reason, storage: this.adapter.kind, documents, pending, persisted: this.persisted };
  }

  /** The collection called `name` (created on first insert). */
  collection(name) {
    if (typeof name !== 'string' || name === '' || name.includes(SEP)) throw new ClipdbError('INVALID_ARGUMENT', `bad collection name ${JSON.stringify(name)}`);
    if (!this._cols.has(name)) this._cols.set(name, new Map());
    return new Collection(this, name);
  }

  _records(name) { return (this._cols.get(name) ?? new Map()).values(); }

  async _ready() { if (this._closed) throw new ClipdbError('INVALID_STATE', 'the database is closed'); }

  _exclusive(fn) {
    const run = async () => { await this._ready(); return fn(); };
    const p = this._lock.then(run, run);
    this._lock = p.catch(() => {});
    return p;
  }

  async _write(ops) {
    try {
      await this.adapter.write(ops);
    } catch (e) {
      throw storageError(e, `write to ${this.adapter.kind} storage`);
    }
    if (!this._persistAsked && this.adapter.persist) {
      this._persistAsked = true;
      this.persisted = await this.adapter.persist();
    }
  }

  /**
   * Add a vector index (SuperDuperDB's db.add(VectorIndex(...))). Checks the stored model
   * identity and dimension (a different model → 'MODEL_MISMATCH' naming both models and dims,
   * unless `reindex: true`, which drops the stored vectors and re-embeds everything), loads the
   * stored vectors into the C index in batches, then embeds every document of the collection
   * that is pending or has no vector yet (crash recovery and backfill), reporting
   * `onProgress({done, total, id})` and honouring `signal`.
   * @returns {Promise<{loaded: number, embedded: number}>}
   */
  add(vectorIndex, { reindex = false, signal, onProgress } = {}) {
    return this._exclusive(() => this._addVectorIndex(vectorIndex, { reindex, signal, onProgress }));
  }

  async _addVectorIndex(vi, { reindex, signal, onProgress }) {
    if (!(vi instanceof VectorIndex)) throw new ClipdbError('INVALID_ARGUMENT', 'db.add expects a VectorIndex');
    if (this._vis.has(vi.name)) throw new ClipdbError('INVALID_STATE', `vector index '${vi.name}' is already added`);
    const L = vi.indexingListener;
    const collection = L.collection ?? vi.compatibleListener?.collection;
    if (!collection) throw new ClipdbError('INVALID_ARGUMENT', `vector index '${vi.name}': the indexing listener needs select: {collection}`);
    const metaKey = `vectorIndex${SEP}${vi.name}`;
    const record = {
      name: vi.name, collection, key: L.key, filter: toJSONSafe(L.filter),
      model: { identifier: L.model.identifier, dim: L.model.dim },
      compatible: vi.compatibleListener ? { identifier: vi.compatibleListener.model.identifier, key: vi.compatibleListener.key, dim: vi.compatibleListener.model.dim } : null,
    };
    const stored = this._meta.get(metaKey);
    const ops = [];
    let storedVectors = this._storedVectors.get(vi.name) ?? new Map();
    if (stored && (stored.model.identifier !== record.model.identifier || stored.model.dim !== record.model.dim || stored.collection !== collection || stored.key !== record.key)) {
      if (!reindex) {
        throw new ClipdbError('MODEL_MISMATCH',
          `vector index '${vi.name}' was built with model '${stored.model.identifier}' (${stored.model.dim}-dimensional vectors, key '${stored.key}' of '${stored.collection}'), ` +
          `but is being opened with model '${record.model.identifier}' (${record.model.dim}-dimensional, key '${record.key}' of '${collection}'); ` +
          `pass {reindex: true} to re-embed every document, or use another store`,
          { details: { stored: stored.model, given: record.model } });
      }
      for (const id of storedVectors.keys()) ops.push({ store: 'vectors', key: vecKey(vi.name, id), delete: true });
      storedVectors = new Map();
    }
    if (!stored || !storedEquals(stored, record)) ops.push({ store: 'meta', key: metaKey, value: record });
    if (ops.length) await this._write(ops);
    this._meta.set(metaKey, record);
    this._storedVectors.delete(vi.name);

    const core = new WasmVectorIndex(this._mod, L.model.dim);
    const state = { vi, collection, core, idToKey: new Map(), keyToId: [], nextKey: 0 };
    this._vis.set(vi.name, state);
    // Rebuild from storage in insertion order, in batches.
    const recs = this._cols.get(collection) ?? new Map();
    const BATCH = 1024;
    let keys = [], vecs = [], loaded = 0;
    const flush = () => {
      if (!keys.length) return;
      const flat = new Float32Array(keys.length * L.model.dim);
      vecs.forEach((v, i) => flat.set(v, i * L.model.dim));
      core.add(Uint32Array.from(keys), flat);
      loaded += keys.length;
      keys = []; vecs = [];
    };
    for (const [id, rec] of recs) {
      const v = storedVectors.get(String(id));
      if (!v || rec.pending.includes(vi.name)) continue;
      if (v.length !== L.model.dim) continue; // cannot happen after the meta check; never truncate
      keys.push(this._keyFor(state, id)); vecs.push(v);
      if (keys.length === BATCH) flush();
    }
    flush();
    // Re-queue: pending documents and documents without a vector (backfill).
    const todo = [];
    for (const [id, rec] of recs) if (this._listens(state, rec.doc) && !state.idToKey.has(id)) todo.push(id);
    let embedded = 0;
    for (const id of todo) {
      if (signal?.aborted) throw abortError(signal, { embedded });
      const rec = recs.get(id);
      if (!rec) continue;
      let v;
      try {
        v = await L.model.predict(modelInput(getPath(rec.doc, L.key)));
      } catch (e) {
        // Leave it pending (and out of search); report it, keep going.
        (this.pendingErrors ??= []).push({ id, index: vi.name, error: e });
        continue;
      }
      const newRec = { ...rec, pending: rec.pending.filter((p) => p !== vi.name) };
      await this._write([{ store: 'vectors', key: vecKey(vi.name, id), value: v }, { store: 'docs', key: docKey(collection, id), value: newRec }]);
      recs.set(id, newRec);
      core.add(Uint32Array.of(this._keyFor(state, id)), v);
      embedded++;
      onProgress?.({ done: embedded, total: todo.length, id });
    }
    return { loaded, embedded };
  }

  _keyFor(state, id) {
    let k = state.idToKey.get(id);
    if (k === undefined) { k = state.nextKey++; state.idToKey.set(id, k); state.keyToId[k] = id; }
    return k;
  }

  _listens(state, storedDoc) {
    const L = state.vi.indexingListener;
    const v = hasPath(storedDoc, L.key) ? getPath(storedDoc, L.key) : null;
    return v != null && matches(storedDoc, L.filter);
  }

  _indexesOn(collection) { return [...this._vis.values()].filter((s) => s.collection === collection); }

  async _insertMany(collection, docs, { signal, onProgress, batchSize = 16 } = {}) {
    if (!Array.isArray(docs)) throw new ClipdbError('INVALID_ARGUMENT', 'insertMany expects an array of documents');
    const recs = this._cols.get(collection) ?? new Map();
    this._cols.set(collection, recs);
    // Validate ids (B29: duplicates are rejected, never silently doubled) before writing anything.
    const seen = new Set();
    for (const d of docs) {
      if (d == null || typeof d !== 'object' || Array.isArray(d)) throw new ClipdbError('INVALID_ARGUMENT', 'a document must be a plain object');
      if (d._id === undefined) continue;
      if (typeof d._id !== 'string' && typeof d._id !== 'number') throw new ClipdbError('INVALID_ARGUMENT', `_id must be a string or a number, got ${typeof d._id}`);
      if (recs.has(d._id) || seen.has(d._id)) throw new ClipdbError('DUPLICATE_ID', `a document with _id ${JSON.stringify(d._id)} already exists in '${collection}'; nothing was inserted (use updateOne to change it)`, { details: { id: d._id } });
      seen.add(d._id);
    }
    const insertedIds = [];
    const indexes = this._indexesOn(collection);
    let done = 0;
    for (let start = 0; start < docs.length; start += batchSize) {
      if (signal?.aborted) throw abortError(signal, { insertedIds });
      // Everything async that is not storage happens before a transaction opens (B22).
      const batch = await Promise.all(docs.slice(start, start + batchSize).map(async (d) => {
        const seq = this._seq++; // taken before any await: insertion order = argument order
        const stored = await encodeDoc(d);
        if (stored._id === undefined) stored._id = newId();
        const rec = { doc: stored, pending: [], seq };
        for (const s of indexes) if (this._listens(s, stored)) rec.pending.push(s.vi.name);
        return rec;
      }));
      // Transaction 1: documents with their pending marks.
      try {
        await this._write(batch.map((rec) => ({ store: 'docs', key: docKey(collection, rec.doc._id), value: rec })));
      } catch (e) {
        if (e instanceof ClipdbError) e.details = { ...(e.details || {}), insertedIds };
        throw e;
      }
      for (const rec of batch) recs.set(rec.doc._id, rec);
      // Embed, no transaction open.
      const vectors = [];
      let failure = null, stop = batch.length;
      for (let i = 0; i < batch.length && !failure; i++) {
        const rec = batch[i];
        if (signal?.aborted) { failure = abortError(signal); stop = i; break; }
        const vs = [];
        try {
          for (const name of rec.pending) {
            const s = this._vis.get(name);
            vs.push([s, await s.vi.indexingListener.model.predict(modelInput(getPath(rec.doc, s.vi.indexingListener.key)))]);
          }
        } catch (e) { failure = e; stop = i; break; }
        vectors.push(vs);
      }
      // Transaction 2: vectors of the embedded documents, marks cleared; the rest removed.
      const ops = [];
      const finished = batch.slice(0, stop), dropped = batch.slice(stop);
      finished.forEach((rec, i) => {
        for (const [s, v] of vectors[i]) ops.push({ store: 'vectors', key: vecKey(s.vi.name, rec.doc._id), value: v });
        if (rec.pending.length) ops.push({ store: 'docs', key: docKey(collection, rec.doc._id), value: { ...rec, pending: [] } });
      });
      for (const rec of dropped) ops.push({ store: 'docs', key: docKey(collection, rec.doc._id), delete: true });
      if (ops.length) {
        try {
          await this._write(ops);
        } catch (e) {
          // The vectors could not be written (e.g. QUOTA_EXCEEDED): take the whole batch back
          // out (deletes free space, so this normally succeeds) so that the rejected insert
          // leaves nothing behind. If even that fails, the documents stay pending and are
          // re-embedded when the store is next opened; they are never searchable without a vector.
          try {
            await this._write(batch.map((rec) => ({ store: 'docs', key: docKey(collection, rec.doc._id), delete: true })));
            for (const rec of batch) recs.delete(rec.doc._id);
          } catch { /* left pending */ }
          if (e instanceof ClipdbError) e.details = { ...(e.details || {}), insertedIds };
          throw e;
        }
      }
      finished.forEach((rec, i) => {
        recs.set(rec.doc._id, { ...rec, pending: [] });
        for (const [s, v] of vectors[i]) s.core.add(Uint32Array.of(this._keyFor(s, rec.doc._id)), v);
        insertedIds.push(rec.doc._id);
        onProgress?.({ done: ++done, total: docs.length, id: rec.doc._id });
      });
      for (const rec of dropped) recs.delete(rec.doc._id);
      if (failure) {
        if (failure instanceof ClipdbError) failure.details = { ...(failure.details || {}), insertedIds };
        throw failure;
      }
    }
    return { insertedIds };
  }

  _firstMatch(collection, filter) {
    for (const [id, rec] of this._cols.get(collection) ?? new Map()) if (matches(rec.doc, filter)) return [id, rec];
    return [undefined, undefined];
  }

  async _updateOne(collection, filter, update) {
    if (update == null || typeof update !== 'object') throw new ClipdbError('INVALID_ARGUMENT', 'updateOne needs an update object');
    const [id, rec] = this._firstMatch(collection, filter);
    if (rec === undefined) return { matchedCount: 0, modifiedCount: 0 };
    const keys = Object.keys(update);
    let next;
    if (keys.some((k) => k.startsWith('$'))) {
      if (keys.some((k) => k !== '$set' && k !== '$unset')) throw new ClipdbError('INVALID_ARGUMENT', `updateOne supports $set and $unset, got ${keys.join(', ')}`);
      next = structuredClone(rec.doc);
      for (const [path, value] of Object.entries(update.$set ?? {})) {
        if (path === '_id' && value !== id) throw new ClipdbError('INVALID_ARGUMENT', '_id cannot be changed');
        const parts = path.split('.');
        let o = next;
        for (const p of parts.slice(0, -1)) { if (o[p] == null || typeof o[p] !== 'object') o[p] = {}; o = o[p]; }
        o[parts.at(-1)] = await encodeDoc(value);
      }
      for (const path of Object.keys(update.$unset ?? {})) {
        if (path === '_id') throw new ClipdbError('INVALID_ARGUMENT', '_id cannot be unset');
        const parts = path.split('.');
        let o = next;
        for (const p of parts.slice(0, -1)) { o = o?.[p]; }
        if (o && typeof o === 'object') delete o[parts.at(-1)];
      }
    } else {
      if (update._id !== undefined && update._id !== id) throw new ClipdbError('INVALID_ARGUMENT', '_id cannot be changed');
      next = await encodeDoc({ ...update, _id: id });
    }
    if (storedEquals(next, rec.doc)) return { matchedCount: 1, modifiedCount: 0 };
    // Re-embed where the listener's key (or membership) changed, before any transaction.
    const ops = [], apply = [];
    for (const s of this._indexesOn(collection)) {
      const L = s.vi.indexingListener;
      const was = s.idToKey.has(id) || rec.pending.includes(s.vi.name), now = this._listens(s, next);
      if (now && (!was || !storedEquals(getPath(next, L.key), getPath(rec.doc, L.key)) || rec.pending.includes(s.vi.name))) {
        const v = await L.model.predict(modelInput(getPath(next, L.key)));
        ops.push({ store: 'vectors', key: vecKey(s.vi.name, id), value: v });
        apply.push(() => s.core.add(Uint32Array.of(this._keyFor(s, id)), v));
      } else if (!now && was) {
        ops.push({ store: 'vectors', key: vecKey(s.vi.name, id), delete: true });
        apply.push(() => { const k = s.idToKey.get(id); if (k !== undefined) s.core.remove(k); s.idToKey.delete(id); });
      }
    }
    const newRec = { doc: next, pending: [], seq: rec.seq };
    ops.push({ store: 'docs', key: docKey(collection, id), value: newRec });
    await this._write(ops);
    this._cols.get(collection).set(id, newRec);
    for (const f of apply) f();
    return { matchedCount: 1, modifiedCount: 1 };
  }

  async _deleteOne(collection, filter) {
    const [id, rec] = this._firstMatch(collection, filter);
    if (rec === undefined) return { deletedCount: 0 };
    const ops = [{ store: 'docs', key: docKey(collection, id), delete: true }];
    const states = this._indexesOn(collection);
    for (const s of states) ops.push({ store: 'vectors', key: vecKey(s.vi.name, id), delete: true });
    for (const [k, m] of this._meta) if (m.collection === collection && !this._vis.has(m.name)) ops.push({ store: 'vectors', key: vecKey(m.name, id), delete: true });
    await this._write(ops);
    this._cols.get(collection).delete(id);
    for (const s of states) {
      const k = s.idToKey.get(id);
      if (k !== undefined) { s.core.remove(k); s.idToKey.delete(id); }
    }
    for (const m of this._storedVectors.values()) m.delete(String(id));
    return { deletedCount: 1 };
  }

  async _queryVector(state, query) {
    if (query == null || typeof query !== 'object') throw new ClipdbError('INVALID_ARGUMENT', 'like() needs a query object such as {text: "..."} or {image: blob}');
    const fields = Object.keys(query);
    if (fields.length !== 1) throw new ClipdbError('INVALID_ARGUMENT', `like() needs exactly one query field, got ${fields.length ? fields.join(', ') : 'none'}`);
    const [field] = fields;
    const dim = state.core.dim, modelId = state.vi.indexingListener.model.identifier;
    if (field === 'vector') {
      const v = query.vector;
      if (v != null && (v.length ?? -1) !== dim) {
        throw new ClipdbError('DIMENSION_MISMATCH', `expected ${dim}-dimensional vectors (model ${modelId}), got ${v.length}`, { details: { expected: dim, got: v.length } });
      }
      return checkVector(v, dim, 'the query vector');
    }
    const listeners = [state.vi.compatibleListener, state.vi.indexingListener].filter(Boolean);
    const L = listeners.find((l) => l.key === field || l.key.split('.').at(-1) === field);
    if (!L) throw new ClipdbError('INVALID_ARGUMENT', `vector index '${state.vi.name}' has no listener for query field '${field}' (it has ${listeners.map((l) => `'${l.key}'`).join(', ')})`);
    const input = modelInput(await encodeDoc(query[field]));
    return L.model.predict(input);
  }

  async _search(collection, query, indexName, n, filter) {
    await this._ready();
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
      throw new ClipdbError('INVALID_ARGUMENT', `n must be a non-negative integer, got ${typeof n === 'number' ? n : typeof n}`);
    }
    const state = this._vis.get(indexName);
    if (!state) throw new ClipdbError('NOT_FOUND', `no vector index named '${indexName}' has been added (db.add(new VectorIndex(...)))`);
    if (state.collection !== collection) throw new ClipdbError('INVALID_ARGUMENT', `vector index '${indexName}' indexes '${state.collection}', not '${collection}'`);
    const q = await this._queryVector(state, query);
    if (n === 0) return [];
    const recs = this._cols.get(collection) ?? new Map();
    let candidates = null;
    if (!isEmptyFilter(filter)) {
      const keys = [];
      for (const [id, rec] of recs) {
        const k = state.idToKey.get(id);
        if (k !== undefined && matches(rec.doc, filter)) keys.push(k);
      }
      candidates = Uint32Array.from(keys);
    }
    const searched = candidates ? candidates.length : state.core.count;
    if (searched === 0) return [];
    const k = Math.min(n, searched);
    // Fetch a little more than k so that scores tied with the k-th are all seen, then order
    // ties by _id (B29); widen until the k-th score is strictly above the last fetched one.
    let kq = Math.min(searched, k + 8), res;
    for (;;) {
      res = state.core.search(q, kq, candidates)[0];
      if (kq >= searched || res.scores[kq - 1] < res.scores[k - 1]) break;
      kq = Math.min(searched, kq * 2);
    }
    const hits = Array.from(res.keys, (key, i) => ({ id: state.keyToId[key], score: res.scores[i] }));
    hits.sort((a, b) => (b.score - a.score) || (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0));
    return hits.slice(0, k).map(({ id, score }) => ({ ...decodeDoc(recs.get(id).doc), score }));
  }

  /**
   * Export the whole store (documents, vectors, vector index definitions) as one JSON file
   * (UTF-8 bytes; binary as base64), for backups (B25). Import with importData.
   * @returns {Promise<Uint8Array>}
   */
  exportData() {
    return this._exclusive(async () => {
      const out = { format: 'clipdb-store', version: 1 };
      for (const s of ['docs', 'vectors', 'meta']) out[s] = (await this.adapter.getAll(s)).map(([k, v]) => [k, toJSONSafe(v)]);
      return new TextEncoder().encode(JSON.stringify(out));
    });
  }

  /**
   * Replace the whole store with an export (one transaction). Vector indexes must be added
   * again afterwards (their C indexes are rebuilt from the imported vectors).
   */
  importData(bytes) {
    return this._exclusive(async () => {
      let data;
      try { data = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) { throw new ClipdbError('INVALID_ARGUMENT', `not a clipdb export: ${e.message}`); }
      if (data?.format !== 'clipdb-store' || data.version !== 1) throw new ClipdbError('INVALID_ARGUMENT', 'not a clipdb export (format clipdb-store, version 1)');
      const ops = [];
      for (const s of ['docs', 'vectors', 'meta']) {
        for (const [k] of await this.adapter.getAll(s)) ops.push({ store: s, key: k, delete: true });
        for (const [k, v] of data[s]) ops.push({ store: s, key: k, value: fromJSONSafe(v) });
      }
      await this._write(ops);
      for (const s of this._vis.values()) s.core.free();
      this._vis.clear(); this._cols.clear(); this._meta.clear(); this._storedVectors.clear(); this._seq = 0;
      await this._load();
    });
  }

  /** Close the storage and free the C indexes. Pending embeddings are resumed on the next open. */
  close() {
    return this._exclusive(async () => {
      this._closed = true;
      for (const s of this._vis.values()) s.core.free();
      this._vis.clear();
      await this.adapter.close();
    });
  }
}

/**
 * Open (or create) a database.
 * @param {{storage?: 'auto'|'indexeddb'|'fs'|'memory'|object, name?: string, dir?: string, fallback?: boolean, module?: object}} [options]
 *   `storage`: where documents live ('auto': IndexedDB in browsers, else the file system when
 *   `dir` is given, else memory; or a StorageAdapter object). `name`: the IndexedDB database
 *   or journal file name. `fallback` (default true): if IndexedDB cannot be opened (private
 *   mode, no IndexedDB), use memory and report `{persistent: false, reason}` (B21).
 *   `module`: the clipdb wasm module (default: the shared one).
 * @returns {Promise<Database>}
 */
export async function openDatabase(options = {}) {
  const mod = options.module ?? await getModule();
  const info = await openStorage(options);
  const db = new Database(info.adapter, info, mod);
  try {
    await db._load();
  } catch (e) {
    await info.adapter.close().catch(() => {});
    throw storageError(e, 'load the store');
  }
  return db;
}
