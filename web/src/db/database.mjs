// The document store: SuperDuperDB's concepts (collections, models, listeners, vector indexes,
// like().find()) over a storage adapter (storage.mjs), with the vector search done by the C
// index (vector-set.mjs). Storage is the source of truth; the C index is a cache rebuilt from
// the stored vectors when a vector index is added to an opened database.
//
// Opening reads the small fields of every document (what filters use), the pending marks and
// the index definitions; binary fields (images) are separate records read only when a caller
// asks for a document, and vectors are read when their vector index is added.
//
// Write protocol (crash safety): new documents are written with a "pending" mark naming the
// vector indexes that still owe them a vector (transaction 1); the embedding runs with no
// transaction open; the vectors are then written as one chunk record in a later transaction
// that clears the marks (transaction 2). Adding the vector index after a restart re-embeds
// documents still marked. Search only sees documents whose vector is stored, so nothing
// half-written is ever visible.
import { ClipdbError } from '../errors.mjs';
import { getModule } from '../module.mjs';
import { matches, isEmptyFilter, getPath, hasPath, compileFilter, fieldConditions } from './filter.mjs';
import { splitDoc, joinDoc, modelInput, storedEquals, toJSONSafe } from './codec.mjs';
import { openStorage, storageError } from './storage.mjs';
import { VectorSet, compactAt, DocMap } from './vector-set.mjs';
import { Packs, refsOf, packKey, packSeq, PACK_MAX_BYTES } from './packs.mjs';
import { SEP, idKey, idFromKey, docKey, blobKey, parseDocKey, indexMetaKey, vsetPrefix, chunkKey, chunkSeq } from './layout.mjs';
import { exportChunks, importContainer } from './container.mjs';
import { exportParquet } from './parquet.mjs';
import { DocPages, parsePageKey } from './doc-pages.mjs';

const hasBlob = typeof Blob !== 'undefined';
/** Documents whose model inputs are read ahead of the one being embedded (insertMany). */
const INPUT_AHEAD = 32;
/** A batch's pack up to this size is read once for the model inputs of its documents. */
const PACK_READ_BYTES = 16 << 20;

/**
 * Model inputs out of the packs an insert batch is writing: a pack Blob of at most
 * PACK_READ_BYTES is read once (one read instead of one per document: in a browser each Blob
 * read is a round trip to the browser process), and a binary field's input is a copy of its
 * bytes [offset, offset + size) (a copy, since a model may transfer the buffer it is given).
 * Returns bin → Promise<input> | null (null: read the field itself).
 */
function packedInputs(packOps) {
  const packs = new Map(); // pack seq → {data, bytes: Promise<Uint8Array> | null}
  for (const op of packOps) {
    if (hasBlob && op.value?.data instanceof Blob && op.value.data.size <= PACK_READ_BYTES) packs.set(packSeq(op.key), { data: op.value.data, bytes: null });
  }
  return (bin) => {
    const p = packs.get(bin.ref?.pack);
    if (!p || bin.record.as === 'imagedata') return null;
    p.bytes ??= p.data.arrayBuffer().then((b) => new Uint8Array(b));
    return p.bytes.then((bytes) => bytes.slice(bin.ref.offset, bin.ref.offset + bin.record.size));
  };
}

/**
 * A stored document comes back from storage with its own copy of every string; the strings of
 * its top-level binary references ('ref', the kind, the MIME type) repeat in every document,
 * so they are replaced by one shared copy each (about 100 bytes of heap per document).
 */
function shareRefStrings(doc, strings) {
  for (const k in doc) {
    const v = doc[k];
    if (v === null || typeof v !== 'object' || v.$clipdb !== 'ref') continue;
    for (const f of ['$clipdb', 'as', 'type']) {
      const x = v[f];
      if (typeof x !== 'string') continue;
      const shared = strings.get(x);
      if (shared === undefined) strings.set(x, x); else v[f] = shared;
    }
  }
}

const vsetMetaKey = (index, model) => `vset${SEP}${index}${SEP}${model}`;

function newId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function abortError(signal, details) {
  return new ClipdbError('ABORTED', 'the operation was aborted', { cause: signal?.reason, details });
}

function checkId(id) {
  if (typeof id === 'string') return;
  if (typeof id === 'number' && Number.isFinite(id)) return;
  throw new ClipdbError('INVALID_ARGUMENT', `_id must be a string or a finite number, got ${typeof id === 'number' ? id : typeof id}`);
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
 * Results of `count` async jobs taken in order, with up to `width` of them started ahead:
 * next() resolves job i's result (or rejects with its error) for i = 0, 1, ...; jobs started
 * ahead of one that failed are left to settle unobserved. width 1 starts each job only when
 * it is asked for, as a plain loop would.
 */
function ahead(count, width, job) {
  const started = [];
  let i = 0;
  return {
    next() {
      for (let j = started.length; j < Math.min(count, i + width); j++) {
        const p = job(j);
        p.catch(() => {}); // observed by next(); ones never asked for must not be unhandled
        started.push(p);
      }
      return started[i++];
    },
  };
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
   *   `concurrency` (default 1): how many encode calls the store may have in flight at once
   *   (insertMany and the backfill of db.add start that many documents ahead and still take
   *   their vectors, and their errors, in document order). More than 1 only helps an encode
   *   that runs elsewhere (a pool of Workers, a server); results must not depend on it.
   *   `blobs` (default false): encode may receive a Blob instead of the Uint8Array of its
   *   bytes (the field's own Blob or a stored one), e.g. to hand it to a Worker unread.
   */
  constructor({ identifier, dim, encode, kind, concurrency = 1, blobs = false } = {}) {
    if (typeof identifier !== 'string' || identifier === '') throw new ClipdbError('INVALID_ARGUMENT', 'Model needs a non-empty identifier');
    if (!Number.isInteger(dim) || dim < 1) throw new ClipdbError('INVALID_ARGUMENT', `Model '${identifier}' needs an integer dim >= 1, got ${dim}`);
    if (typeof encode !== 'function') throw new ClipdbError('INVALID_ARGUMENT', `Model '${identifier}' needs an encode function`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ClipdbError('INVALID_ARGUMENT', `Model '${identifier}': concurrency must be an integer >= 1, got ${concurrency}`);
    this.identifier = identifier;
    this.dim = dim;
    this.kind = kind;
    this.concurrency = concurrency;
    this.blobs = Boolean(blobs);
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
    const test = compileFilter(filter);
    const picked = [];
    let skipped = 0;
    for (const [id, rec] of this.db._docs(this.name)) {
      if (picked.length >= limit) break;
      if (!test(rec.doc)) continue;
      if (skipped++ < skip) continue;
      picked.push([id, rec]);
    }
    return Promise.all(picked.map(([id, rec]) => this.db._userDoc(this.name, id, rec.doc)));
  }

  /** The first document matching `filter` (insertion order), or null. */
  async findOne(filter = {}) { return (await this.find(filter, { limit: 1 }))[0] ?? null; }

  /** Number of documents matching `filter`. */
  async count(filter = {}) {
    await this.db._ready();
    let n = 0;
    const test = compileFilter(filter);
    for (const rec of this.db._docs(this.name).values()) if (test(rec.doc)) n++;
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
   * any {<listener key>: value}, {vector: Float32Array}, or {_id: id} (the stored vector of that
   * document of this collection: "more like this" without embedding anything again). The field
   * picks the listener whose model embeds it. `n` is how many results to return (a
   * non-negative integer).
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
   * `_id` ascending (String order), so ties are stable across runs and reloads.
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
    /** Why storage is not persistent, else undefined. */
    this.reason = info.reason;
    /** Result of navigator.storage.persist() after the first write: true/false, null if unavailable or not asked yet. */
    this.persisted = null;
    /** Set when opening converted a store written by clipdb 0.1: {from: 1, documents}. */
    this.migrated = adapter.migrated;
    this._mod = mod;
    this._vectorMemory = 'auto';  // openDatabase's vectorMemory option (see compactAt)
    this._cols = new Map();       // collection -> Map(_id -> {doc (small fields), seq})
    this._pending = new Map();    // docKey -> [vector index names owing a vector]
    this._pages = new DocPages(); // which 'docs' page holds each document
    this._vis = new Map();        // vector index name -> {vi, collection, set: VectorSet}
    this._packs = new Packs(adapter, () => this._storedDocs()); // binary fields, packed per write
    this._meta = new Map();       // stored meta records
    this._seq = 0;
    this._vectorCounts = new Map(); // vset prefix -> {n, seq, size, writes}: vectorCounts of a model not added
    this._vectorWrites = 0;         // writes that touched the 'vectors' store
    this._lock = Promise.resolve();
    this._closed = false;
    this._persistAsked = false;
    this._batchSizes = new Map(); // collection → insertMany batch size learned last time
  }

  async _load() {
    const strings = new Map(); // one copy of each repeated string of binary references
    const [docs, pending, meta] = await Promise.all(['docs', 'pending', 'meta'].map((s) => this.adapter.getAll(s)));
    for (const [k, v] of meta) this._meta.set(k, v);
    // Documents go into their collection's map in `seq` order (insertion order). Pages are
    // normally already in that order, so they are put in as read, with no list of all
    // documents to sort; a collection found out of order is sorted afterwards.
    const lastSeq = new Map(), unsorted = new Set();
    for (const [k, page] of docs) {
      const [col, pageNo] = parsePageKey(k);
      if (page == null || !Array.isArray(page.docs)) throw new ClipdbError('CORRUPT', `the store is damaged: document page ${JSON.stringify(k)} is not a page of this layout; nothing was changed`, { details: { key: k } });
      let recs = this._cols.get(col);
      if (!recs) { recs = new DocMap(); this._cols.set(col, recs); lastSeq.set(col, -Infinity); }
      for (const rec of page.docs) {
        const id = rec?.doc?._id;
        if (rec == null || typeof rec !== 'object' || typeof rec.seq !== 'number' || !(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))) {
          throw new ClipdbError('CORRUPT', `the store is damaged: document page ${JSON.stringify(k)} holds a record that is not a document; nothing was changed`, { details: { key: k } });
        }
        shareRefStrings(rec.doc, strings);
        if (rec.seq < lastSeq.get(col)) unsorted.add(col);
        lastSeq.set(col, rec.seq);
        const old = recs.get(id);
        if (old === undefined || old.seq <= rec.seq) recs.set(id, rec);
        if (rec.seq >= this._seq) this._seq = rec.seq + 1;
        this._pages.loaded(col, pageNo, id);
      }
    }
    for (const col of unsorted) {
      const sorted = [...this._cols.get(col)].sort((a, b) => a[1].seq - b[1].seq);
      this._cols.set(col, new DocMap(sorted));
    }
    for (const [k, v] of pending) if (Array.isArray(v) && v.length) this._pending.set(k, v);
  }

  /** Status of the store: {persistent, reason, storage, documents, pending, persisted, migrated}. */
  get info() {
    let documents = 0;
    for (const m of this._cols.values()) documents += m.size;
    return { persistent: this.persistent, reason: this.reason, storage: this.adapter.kind, documents, pending: this._pending.size, persisted: this.persisted, migrated: this.migrated };
  }

  /**
   * The vector indexes this store knows (added or not): [{name, collection, key, model,
   * models: [{identifier, dim}], added, vectors}]. `model` is the model the index was last
   * added with; `models` every model whose vectors are kept for it (a model switch keeps the
   * others); `vectors` is the number in memory for an added index, else null.
   */
  vectorIndexes() {
    const out = [];
    for (const [k, def] of this._meta) {
      if (!k.startsWith(`vectorIndex${SEP}`)) continue;
      const models = [];
      for (const [k2, vs] of this._meta) if (k2.startsWith(vsetMetaKey(def.name, ''))) models.push({ identifier: vs.model, dim: vs.dim });
      const st = this._vis.get(def.name);
      out.push({ name: def.name, collection: def.collection, key: def.key, model: def.model, models, added: Boolean(st), vectors: st ? st.set.count : null });
    }
    return out;
  }

  /**
   * How many documents each model kept for vector index `name` has a vector for:
   * [{identifier, dim, vectors, added}], in the order the models were first used. The model the
   * index is added with now is counted in memory; the others by reading their chunk records
   * (ids only matter; a vector whose document is gone is not counted). [] for an unknown name.
   */
  async vectorCounts(name) {
    await this._ready();
    const def = this._meta.get(indexMetaKey(name));
    if (!def) return [];
    const docs = this._docs(def.collection);
    const st = this._vis.get(name);
    const out = [];
    for (const [k, vs] of this._meta) {
      if (!k.startsWith(`vset${SEP}${name}${SEP}`)) continue;
      if (st && st.set.model === vs.model) { out.push({ identifier: vs.model, dim: vs.dim, vectors: st.set.count, added: true }); continue; }
      // Remembered until vectors are written or documents are added or deleted (a write while
      // the records are read leaves the count unremembered).
      const prefix = vsetPrefix(name, vs.model);
      let c = this._vectorCounts.get(prefix);
      if (!c || c.seq !== this._seq || c.size !== docs.size || c.writes !== this._vectorWrites) {
        c = { seq: this._seq, size: docs.size, writes: this._vectorWrites };
        const ids = new Set();
        for (const key of await this.adapter.keys('vectors', prefix)) {
          const rec = await this.adapter.get('vectors', key);
          for (const t of rec?.ids ?? []) ids.add(t);
          for (const t of rec?.del ?? []) ids.delete(t);
        }
        c.n = 0;
        for (const t of ids) if (docs.has(idFromKey(t))) c.n++;
        if (c.writes === this._vectorWrites && c.seq === this._seq) this._vectorCounts.set(prefix, c);
      }
      out.push({ identifier: vs.model, dim: vs.dim, vectors: c.n, added: false });
    }
    return out;
  }

  /** The collection called `name` (created on first insert). */
  collection(name) {
    if (typeof name !== 'string' || name === '' || name.includes(SEP)) throw new ClipdbError('INVALID_ARGUMENT', `bad collection name ${JSON.stringify(name)}`);
    if (!this._cols.has(name)) this._cols.set(name, new DocMap());
    return new Collection(this, name);
  }

  _docs(name) { return this._cols.get(name) ?? new DocMap(); }

  async _ready() {
    if (this._closed) throw new ClipdbError('INVALID_STATE', 'the database is closed');
    const why = this.adapter.closedReason?.();
    if (why) throw new ClipdbError('INVALID_STATE', `the store can no longer be used: ${why}`);
  }

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
    } finally {
      if (ops.some((op) => op.store === 'vectors')) this._vectorWrites++; // remembered counts are stale
    }
    if (!this._persistAsked && this.adapter.persist) {
      this._persistAsked = true;
      this.persisted = await this.adapter.persist();
    }
  }

  /** Every stored document in memory (small fields), all collections. */
  *_storedDocs() { for (const m of this._cols.values()) for (const rec of m.values()) yield rec.doc; }

  /**
   * The binary record behind reference `ref` at `path` of a stored document: a slice of its
   * pack, or (stores written before packs) its own record; undefined if that record is missing.
   */
  _readBinary(collection, id, path, ref, options) {
    if (ref?.pack !== undefined) return this._packs.read(ref, `the binary field '${path}' of document ${JSON.stringify(id)}`, options);
    return this.adapter.get('blobs', blobKey(collection, id, path));
  }

  /**
   * A stored document in user form; its binary fields are looked up in storage now (a missing
   * or short pack is CORRUPT here), and a Blob field's slice is made when the property is first
   * read (a getter that then becomes a plain property; spread, structured clone and
   * JSON.stringify read it like any other).
   */
  _userDoc(collection, id, doc) {
    return joinDoc(doc, (path) => this._readBinary(collection, id, path, getPath(doc, path), { lazy: true }));
  }

  /** The model input of a stored document's field (binary fields read from storage). */
  async _storedInput(collection, id, doc, key, opts) {
    const v = getPath(doc, key);
    if (v != null && typeof v === 'object' && v.$clipdb === 'ref') {
      const rec = await this._readBinary(collection, id, key, v);
      if (rec === undefined) throw new ClipdbError('CORRUPT', `the store is damaged: the binary field '${key}' of document ${JSON.stringify(id)} is missing`);
      return modelInput(rec, opts);
    }
    return modelInput(v, opts);
  }

  /**
   * Add a vector index (SuperDuperDB's db.add(VectorIndex(...))). Vectors are kept per
   * (vector index, model): adding an index with the model it was built with loads its stored
   * vectors (batched into the C index, reserved once); adding it with another model whose
   * vectors this store already keeps switches to them; adding it with a model it has never
   * seen is 'MODEL_MISMATCH' naming both models and dimensions unless `reindex: true`, which
   * embeds every document with the new model — the other model's vectors are kept either way,
   * and come back when the index is added with that model again. Then every document of the
   * collection that is pending or has no vector yet is embedded (crash recovery and backfill),
   * reporting `onProgress({done, total, id})` and honouring `signal`.
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
    const model = L.model.identifier;
    if (model.includes(SEP)) throw new ClipdbError('INVALID_ARGUMENT', 'a model identifier cannot contain U+0000');
    const record = {
      name: vi.name, collection, key: L.key, filter: toJSONSafe(L.filter),
      model: { identifier: model, dim: L.model.dim },
      compatible: vi.compatibleListener ? { identifier: vi.compatibleListener.model.identifier, key: vi.compatibleListener.key, dim: vi.compatibleListener.model.dim } : null,
    };
    const stored = this._meta.get(indexMetaKey(vi.name));
    const vsKey = vsetMetaKey(vi.name, model);
    const known = this._meta.get(vsKey);
    const ops = [];
    if (stored && (stored.collection !== collection || stored.key !== record.key)) {
      throw new ClipdbError('MODEL_MISMATCH',
        `vector index '${vi.name}' indexes key '${stored.key}' of '${stored.collection}', not key '${record.key}' of '${collection}'; use another vector index name`,
        { details: { stored: { collection: stored.collection, key: stored.key }, given: { collection, key: record.key } } });
    }
    if (known && known.dim !== record.model.dim) {
      throw new ClipdbError('MODEL_MISMATCH', `vector index '${vi.name}' keeps ${known.dim}-dimensional vectors of model '${model}', but that model now makes ${record.model.dim}-dimensional ones`, { details: { stored: { identifier: model, dim: known.dim }, given: record.model } });
    }
    if (stored && !known && stored.model.identifier !== model && !reindex) {
      throw new ClipdbError('MODEL_MISMATCH',
        `vector index '${vi.name}' was built with model '${stored.model.identifier}' (${stored.model.dim}-dimensional vectors, key '${stored.key}' of '${stored.collection}'), ` +
        `but is being opened with model '${model}' (${record.model.dim}-dimensional, key '${record.key}' of '${collection}'); ` +
        `pass {reindex: true} to embed every document with the new model (the vectors of '${stored.model.identifier}' are kept), or use another vector index name`,
        { details: { stored: stored.model, given: record.model } });
    }
    if (!known) ops.push({ store: 'meta', key: vsKey, value: { index: vi.name, model, dim: record.model.dim, collection } });
    if (!stored || !storedEquals(stored, record)) ops.push({ store: 'meta', key: indexMetaKey(vi.name), value: record });
    if (ops.length) await this._write(ops);
    for (const op of ops) this._meta.set(op.key, op.value);

    const recs = this._docs(collection);
    const set = new VectorSet({ mod: this._mod, adapter: this.adapter, index: vi.name, model, dim: L.model.dim, collection, compactAt: compactAt(this._vectorMemory, L.model.dim) });
    const state = { vi, collection, set };
    let loaded;
    try {
      loaded = await set.load({
        expected: recs.size,
        // (no key string per document when nothing is pending, the usual case)
        isLive: this._pending.size === 0 ? (id) => recs.has(id) : (id) => recs.has(id) && !(this._pending.get(docKey(collection, id)) ?? []).includes(vi.name),
      });
    } catch (e) { set.free(); throw e; }
    this._vis.set(vi.name, state);
    // Re-queue: pending documents and documents without a vector (backfill), in batches.
    const todo = [];
    for (const [id, rec] of recs) if (this._listens(state, rec.doc) && !set.has(id)) todo.push(id);
    let embedded = 0, batchSize = 16;
    for (let start = 0; start < todo.length;) {
      if (signal?.aborted) throw abortError(signal, { embedded });
      const ids = [], vectors = [], t0 = Date.now();
      const slice = todo.slice(start, start + batchSize);
      const jobs = ahead(slice.length, L.model.concurrency ?? 1, async (j) => {
        const rec = recs.get(slice[j]);
        return rec ? L.model.predict(await this._storedInput(collection, slice[j], rec.doc, L.key, { blobs: L.model.blobs })) : null;
      });
      for (const id of slice) {
        if (signal?.aborted) break;
        const job = jobs.next();
        if (!recs.get(id)) continue;
        try {
          vectors.push(await job);
          ids.push(id);
        } catch (e) {
          // Leave it pending (and out of search); report it, keep going.
          (this.pendingErrors ??= []).push({ id, index: vi.name, error: e });
        }
      }
      start += batchSize;
      if (ids.length) {
        const { op, apply } = set.appendOp(ids, vectors);
        const wr = [op];
        for (const id of ids) wr.push(...this._clearPendingOps(collection, id, vi.name));
        await this._write(wr);
        apply();
        for (const id of ids) this._clearPending(collection, id, vi.name);
        for (const id of ids) { embedded++; onProgress?.({ done: embedded, total: todo.length, id }); }
        await set.mergeTail((o) => this._write(o));
      }
      if (Date.now() - t0 < 50 && batchSize < 1024) batchSize *= 2;
    }
    return { loaded, embedded };
  }

  /**
   * Take an added vector index out of memory (its C index is freed); its stored vectors and
   * definition stay, so adding it again — with the same model or another one — needs no
   * re-embedding of what was stored. Waits for writes in progress. Returns false if it was
   * not added.
   */
  removeVectorIndex(name) {
    return this._exclusive(async () => {
      const st = this._vis.get(name);
      if (!st) return false;
      st.set.free();
      this._vis.delete(name);
      return true;
    });
  }

  _clearPendingOps(collection, id, name) {
    const k = docKey(collection, id), p = this._pending.get(k);
    if (!p || !p.includes(name)) return [];
    const rest = p.filter((x) => x !== name);
    return [rest.length ? { store: 'pending', key: k, value: rest } : { store: 'pending', key: k, delete: true }];
  }

  _clearPending(collection, id, name) {
    const k = docKey(collection, id), p = this._pending.get(k);
    if (!p) return;
    const rest = p.filter((x) => x !== name);
    if (rest.length) this._pending.set(k, rest); else this._pending.delete(k);
  }

  _listens(state, storedDoc) {
    const L = state.vi.indexingListener;
    const v = hasPath(storedDoc, L.key) ? getPath(storedDoc, L.key) : null;
    return v != null && matches(storedDoc, L.filter);
  }

  _indexesOn(collection) { return [...this._vis.values()].filter((s) => s.collection === collection); }

  /** Definitions of every (vector index, model) pair of `collection` that is not loaded now. */
  _unloadedSets(collection) {
    const out = [];
    for (const [k, vs] of this._meta) {
      if (!k.startsWith(`vset${SEP}`) || vs.collection !== collection) continue;
      const st = this._vis.get(vs.index);
      if (st && st.set.model === vs.model) continue;
      out.push(vs);
    }
    return out;
  }

  /** A deletion record for a (vector index, model) pair that is not loaded. */
  async _tombstoneOp(vs, ids) {
    const last = await this.adapter.lastKey('vectors', vsetPrefix(vs.index, vs.model));
    const seq = last === undefined ? 0 : chunkSeq(last) + 1;
    return { store: 'vectors', key: chunkKey(vs.index, vs.model, seq), value: { ids: [], vectors: null, del: ids.map(idKey) } };
  }

  async _insertMany(collection, docs, { signal, onProgress, batchSize } = {}) {
    if (!Array.isArray(docs)) throw new ClipdbError('INVALID_ARGUMENT', 'insertMany expects an array of documents');
    if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) throw new ClipdbError('INVALID_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`);
    const recs = this._docs(collection);
    this._cols.set(collection, recs);
    // Validate ids (duplicates are rejected, never silently doubled) before writing anything.
    const seen = new Set();
    for (const d of docs) {
      if (d == null || typeof d !== 'object' || Array.isArray(d)) throw new ClipdbError('INVALID_ARGUMENT', 'a document must be a plain object');
      if (d._id === undefined) continue;
      checkId(d._id);
      if (recs.has(d._id) || seen.has(d._id)) throw new ClipdbError('DUPLICATE_ID', `a document with _id ${JSON.stringify(d._id)} already exists in '${collection}'; nothing was inserted (use updateOne to change it)`, { details: { id: d._id } });
      seen.add(d._id);
    }
    const insertedIds = [];
    const indexes = this._indexesOn(collection);
    // Batch size: given, or the size this collection's last insertMany ended with (so a caller
    // feeding a library in slices does not start again from 16 each time), or 16.
    let done = 0, size = batchSize ?? this._batchSizes.get(collection) ?? 16;
    for (let start = 0; start < docs.length;) {
      if (signal?.aborted) throw abortError(signal, { insertedIds });
      const batch = docs.slice(start, start + size).map((d) => {
        const { doc, bins } = splitDoc(d);
        if (doc._id === undefined) doc._id = newId();
        const rec = { doc, seq: this._seq++ };
        const pending = indexes.filter((s) => this._listens(s, doc)).map((s) => s.vi.name);
        return { user: d, rec, bins, pending, key: docKey(collection, doc._id) };
      });
      start += size;
      const anyPending = batch.some((b) => b.pending.length);
      // Transaction 1: documents, their binary fields (one pack per batch) and pending marks.
      const packed = await this._packs.pack(batch.flatMap((b) => b.bins));
      for (const b of batch) recs.set(b.rec.doc._id, b.rec); // tentatively, to write their pages
      const ops1 = this._pages.ops(collection, this._pages.place(collection, batch.map((b) => b.rec.doc._id)), recs);
      ops1.push(...packed.ops);
      for (const b of batch) if (b.pending.length) ops1.push({ store: 'pending', key: b.key, value: b.pending });
      try {
        await this._write(ops1);
        packed.commit();
      } catch (e) {
        for (const b of batch) { recs.delete(b.rec.doc._id); this._pages.remove(collection, b.rec.doc._id); }
        if (e instanceof ClipdbError) e.details = { ...(e.details || {}), insertedIds };
        throw e;
      }
      for (const b of batch) if (b.pending.length) this._pending.set(b.key, b.pending);
      if (!anyPending) {
        for (const b of batch) { insertedIds.push(b.rec.doc._id); done++; onProgress?.({ done, total: docs.length, id: b.rec.doc._id }); }
        if (batchSize === undefined && size < 1024) { size *= 2; this._batchSizes.set(collection, size); } // nothing to embed
        continue;
      }
      // Embed, no transaction open.
      const tEmbed = Date.now();
      const vectors = []; // per document: [[state, vector], ...]
      let failure = null, stop = batch.length;
      // The model inputs of the next INPUT_AHEAD documents are read while one is embedded: a
      // stored Blob is read through the browser (an IPC round trip each), and waiting for
      // each in turn left the page idle between embeddings. A model that takes Blobs
      // (Model({blobs})) gets the document's own Blob, unread.
      const inputs = new Array(batch.length).fill(null);
      const packedInput = packedInputs(packed.ops);
      const inputOf = (b, name) => {
        const L = this._vis.get(name).vi.indexingListener;
        if (L.model.blobs) return modelInput(getPath(b.user, L.key), { blobs: true });
        const bin = b.bins.find((x) => x.path === L.key);
        return (bin && packedInput(bin)) ?? modelInput(getPath(b.user, L.key));
      };
      const prefetch = (j) => {
        if (j >= batch.length || inputs[j]) return;
        inputs[j] = Promise.all(batch[j].pending.map((name) => inputOf(batch[j], name)));
        inputs[j].catch(() => {}); // reported when its turn comes
      };
      // Models that embed elsewhere (concurrency > 1) get the next documents started ahead.
      const width = Math.max(1, ...batch.flatMap((b) => b.pending.map((name) => this._vis.get(name).vi.indexingListener.model.concurrency ?? 1)));
      const jobs = ahead(batch.length, width, async (i) => {
        for (let j = i; j <= i + INPUT_AHEAD; j++) prefetch(j);
        const ins = await inputs[i];
        inputs[i] = null;
        const vs = [];
        for (let p = 0; p < batch[i].pending.length; p++) {
          const s = this._vis.get(batch[i].pending[p]);
          vs.push([s, await s.vi.indexingListener.model.predict(ins[p])]);
        }
        return vs;
      });
      for (let i = 0; i < batch.length; i++) {
        if (signal?.aborted) { failure = abortError(signal); stop = i; break; }
        try {
          vectors.push(await jobs.next());
        } catch (e) { failure = e; stop = i; break; }
      }
      const embedMs = Date.now() - tEmbed;
      // Transaction 2: one chunk record per vector index, marks cleared; the rest removed.
      const finished = batch.slice(0, stop), dropped = batch.slice(stop);
      const perSet = new Map();
      finished.forEach((b, i) => {
        for (const [s, v] of vectors[i]) {
          if (!perSet.has(s)) perSet.set(s, { ids: [], vecs: [] });
          perSet.get(s).ids.push(b.rec.doc._id); perSet.get(s).vecs.push(v);
        }
      });
      const appends = [...perSet].map(([s, { ids, vecs }]) => ({ s, ...s.set.appendOp(ids, vecs) }));
      const ops2 = appends.map((a) => a.op);
      for (const b of finished) if (b.pending.length) ops2.push({ store: 'pending', key: b.key, delete: true });
      const pageOfBatch = new Map(batch.map((b) => [b.rec.doc._id, this._pages.pageOf(collection, b.rec.doc._id)]));
      const restorePages = (bs) => { for (const b of bs) if (this._pages.pageOf(collection, b.rec.doc._id) === undefined) this._pages.loaded(collection, pageOfBatch.get(b.rec.doc._id), b.rec.doc._id); };
      const rmDropped = this._removeDocs(collection, dropped.map((b) => b.rec.doc._id));
      ops2.push(...rmDropped.ops);
      try {
        await this._write(ops2);
        rmDropped.commit();
      } catch (e) {
        // The vectors could not be written (e.g. QUOTA_EXCEEDED): take the whole batch back
        // out (deletes free space, so this normally succeeds) so that the rejected insert
        // leaves nothing behind. If even that fails, the documents stay pending and are
        // re-embedded when the store is next opened; they are never searchable without a vector.
        for (const a of appends) a.s.set.nextSeq--; // the record was not written
        // ops2 was not written: the dropped documents are still in their pages in storage.
        restorePages(dropped);
        try {
          const rm = this._removeDocs(collection, batch.map((b) => b.rec.doc._id));
          await this._write(rm.ops);
          rm.commit();
          for (const b of batch) { recs.delete(b.rec.doc._id); this._pending.delete(b.key); }
        } catch {
          // Left pending in storage: keep them in memory too (out of search, embedded on reopen).
          restorePages(batch);
        }
        if (e instanceof ClipdbError) e.details = { ...(e.details || {}), insertedIds };
        throw e;
      }
      for (const a of appends) a.apply();
      for (const b of finished) {
        this._pending.delete(b.key);
        insertedIds.push(b.rec.doc._id);
        done++;
        onProgress?.({ done, total: docs.length, id: b.rec.doc._id });
      }
      for (const b of dropped) { recs.delete(b.rec.doc._id); this._pending.delete(b.key); }
      for (const a of appends) await a.s.set.mergeTail((o) => this._write(o));
      if (failure) {
        if (failure instanceof ClipdbError) failure.details = { ...(failure.details || {}), insertedIds };
        throw failure;
      }
      // Fast encoders get bigger batches (fewer transactions, one pack per batch); slow ones
      // keep small batches, so progress stays live and a crash re-embeds little. The time
      // that counts is the encoders' (a batch whose embedding took under 100 ms doubles; one
      // that took over 400 ms halves, down to 16).
      if (batchSize === undefined && embedMs < 100 && size < 1024) size *= 2;
      else if (batchSize === undefined && embedMs > 400 && size > 16) size = Math.max(16, size >> 1);
      if (batchSize === undefined) this._batchSizes.set(collection, size);
    }
    return { insertedIds };
  }

  /**
   * Storage ops that remove documents: they leave their pages (taken out of the page map now;
   * the pages are rewritten from `recs`, which must still hold the removed documents' records
   * for their binary fields), their binary fields (a pack goes with its last document) and
   * pending marks go. Call `commit()` once the ops are written.
   * @returns {{ops: object[], commit: () => void}}
   */
  _removeDocs(collection, ids) {
    const recs = this._docs(collection), touched = new Set(), ops = [], packed = [];
    for (const id of ids) {
      const p = this._pages.remove(collection, id);
      if (p !== undefined) touched.add(p);
      const rec = recs.get(id);
      if (rec) {
        for (const { path, ref } of refsOf(rec.doc)) {
          if (ref.pack !== undefined) packed.push(ref);
          else ops.push({ store: 'blobs', key: blobKey(collection, id, path), delete: true });
        }
      }
      ops.push({ store: 'pending', key: docKey(collection, id), delete: true });
    }
    const rel = this._packs.release(packed);
    return { ops: [...this._pages.ops(collection, touched, recs), ...ops, ...rel.ops], commit: rel.commit };
  }

  _firstMatch(collection, filter) {
    const test = compileFilter(filter);
    for (const [id, rec] of this._docs(collection)) if (test(rec.doc)) return [id, rec];
    return [undefined, undefined];
  }

  async _updateOne(collection, filter, update) {
    if (update == null || typeof update !== 'object') throw new ClipdbError('INVALID_ARGUMENT', 'updateOne needs an update object');
    const [id, rec] = this._firstMatch(collection, filter);
    if (rec === undefined) return { matchedCount: 0, modifiedCount: 0 };
    const keys = Object.keys(update);
    let nextUser;
    if (keys.some((k) => k.startsWith('$'))) {
      if (keys.some((k) => k !== '$set' && k !== '$unset')) throw new ClipdbError('INVALID_ARGUMENT', `updateOne supports $set and $unset, got ${keys.join(', ')}`);
      nextUser = structuredClone(rec.doc);
      for (const [path, value] of Object.entries(update.$set ?? {})) {
        if (path === '_id' && value !== id) throw new ClipdbError('INVALID_ARGUMENT', '_id cannot be changed');
        const parts = path.split('.');
        let o = nextUser;
        for (const p of parts.slice(0, -1)) { if (o[p] == null || typeof o[p] !== 'object') o[p] = {}; o = o[p]; }
        o[parts.at(-1)] = value;
      }
      for (const path of Object.keys(update.$unset ?? {})) {
        if (path === '_id') throw new ClipdbError('INVALID_ARGUMENT', '_id cannot be unset');
        const parts = path.split('.');
        let o = nextUser;
        for (const p of parts.slice(0, -1)) { o = o?.[p]; }
        if (o && typeof o === 'object') delete o[parts.at(-1)];
      }
    } else {
      if (update._id !== undefined && update._id !== id) throw new ClipdbError('INVALID_ARGUMENT', '_id cannot be changed');
      nextUser = { ...update, _id: id };
    }
    const { doc: next, bins } = splitDoc(nextUser);
    if (!bins.length && storedEquals(next, rec.doc)) return { matchedCount: 1, modifiedCount: 0 };
    const changedPaths = new Set(bins.map((b) => b.path));
    const keyChanged = (key) => changedPaths.has(key) || [...changedPaths].some((p) => p.startsWith(`${key}.`) || key.startsWith(`${p}.`)) || !storedEquals(getPath(next, key), getPath(rec.doc, key));
    const dk = docKey(collection, id);
    const pending = this._pending.get(dk) ?? [];
    // Re-embed where the listener's key (or membership) changed, before any transaction.
    const ops = [], apply = [];
    for (const s of this._indexesOn(collection)) {
      const L = s.vi.indexingListener;
      const was = s.set.has(id) || pending.includes(s.vi.name), now = this._listens(s, next);
      if (now && (!was || keyChanged(L.key) || pending.includes(s.vi.name))) {
        const bin = bins.find((b) => b.path === L.key);
        const input = bin ? await modelInput(bin.record) : await this._storedInput(collection, id, next, L.key);
        const v = await L.model.predict(input);
        const a = s.set.appendOp([id], [v]);
        ops.push(a.op); apply.push(a.apply);
      } else if (!now && was) {
        const a = s.set.appendOp([], [], [id]);
        ops.push(a.op); apply.push(a.apply);
      }
    }
    for (const vs of this._unloadedSets(collection)) {
      const def = this._meta.get(indexMetaKey(vs.index));
      if (def && keyChanged(def.key)) ops.push(await this._tombstoneOp(vs, [id]));
    }
    const newRec = { doc: next, seq: rec.seq };
    const recs = this._docs(collection);
    recs.set(id, newRec); // tentatively, to write its page
    try { ops.push(...this._pages.ops(collection, [this._pages.pageOf(collection, id)], recs)); } finally { recs.set(id, rec); }
    // New binary fields in a pack of their own; the old references they replace, and those the
    // update drops, are released (a legacy per-document record is deleted unless overwritten).
    const packed = await this._packs.pack(bins);
    ops.push(...packed.ops);
    const nextRefs = refsOf(next);
    const keptPacked = new Set(nextRefs.filter((r) => r.ref.pack !== undefined).map((r) => `${r.ref.pack}:${r.ref.offset}`));
    const keptOwn = new Set(nextRefs.filter((r) => r.ref.pack === undefined).map((r) => r.path));
    const released = [];
    for (const { path, ref } of refsOf(rec.doc)) {
      if (ref.pack !== undefined) { if (!keptPacked.has(`${ref.pack}:${ref.offset}`)) released.push(ref); }
      else if (!keptOwn.has(path)) ops.push({ store: 'blobs', key: blobKey(collection, id, path), delete: true });
    }
    const rel = this._packs.release(released);
    ops.push(...rel.ops);
    if (pending.length) ops.push({ store: 'pending', key: dk, delete: true });
    await this._write(ops);
    packed.commit(); rel.commit();
    recs.set(id, newRec);
    this._pending.delete(dk);
    for (const f of apply) f();
    return { matchedCount: 1, modifiedCount: 1 };
  }

  async _deleteOne(collection, filter) {
    const [id, rec] = this._firstMatch(collection, filter);
    if (rec === undefined) return { deletedCount: 0 };
    const page = this._pages.pageOf(collection, id);
    const rm = this._removeDocs(collection, [id]), ops = rm.ops, apply = [];
    for (const s of this._indexesOn(collection)) {
      if (!s.set.has(id)) continue;
      const a = s.set.appendOp([], [], [id]);
      ops.push(a.op); apply.push(a.apply);
    }
    for (const vs of this._unloadedSets(collection)) ops.push(await this._tombstoneOp(vs, [id]));
    try { await this._write(ops); } catch (e) { this._pages.loaded(collection, page, id); throw e; }
    rm.commit();
    this._docs(collection).delete(id);
    this._pending.delete(docKey(collection, id));
    for (const f of apply) f();
    return { deletedCount: 1 };
  }

  async _queryVector(state, collection, query) {
    if (query == null || typeof query !== 'object') throw new ClipdbError('INVALID_ARGUMENT', 'like() needs a query object such as {text: "..."} or {image: blob}');
    const fields = Object.keys(query);
    if (fields.length !== 1) throw new ClipdbError('INVALID_ARGUMENT', `like() needs exactly one query field, got ${fields.length ? fields.join(', ') : 'none'}`);
    const [field] = fields;
    const dim = state.set.dim, modelId = state.vi.indexingListener.model.identifier;
    if (field === 'vector') {
      const v = query.vector;
      if (v != null && (v.length ?? -1) !== dim) {
        throw new ClipdbError('DIMENSION_MISMATCH', `expected ${dim}-dimensional vectors (model ${modelId}), got ${v.length}`, { details: { expected: dim, got: v.length } });
      }
      return checkVector(v, dim, 'the query vector');
    }
    if (field === '_id') {
      checkId(query._id);
      const v = state.set.vectorOf(query._id);
      if (v) return v;
      const exists = this._docs(collection).has(query._id);
      throw new ClipdbError('NOT_FOUND', exists
        ? `document ${JSON.stringify(query._id)} of '${collection}' has no vector in '${state.vi.name}' yet (it is pending, or lacks the key '${state.vi.indexingListener.key}')`
        : `no document with _id ${JSON.stringify(query._id)} in '${collection}'`);
    }
    const listeners = [state.vi.compatibleListener, state.vi.indexingListener].filter(Boolean);
    const L = listeners.find((l) => l.key === field || l.key.split('.').at(-1) === field);
    if (!L) throw new ClipdbError('INVALID_ARGUMENT', `vector index '${state.vi.name}' has no listener for query field '${field}' (it has ${listeners.map((l) => `'${l.key}'`).join(', ')}, and '_id' / 'vector')`);
    return L.model.predict(await modelInput(query[field]));
  }

  async _search(collection, query, indexName, n, filter) {
    await this._ready();
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
      throw new ClipdbError('INVALID_ARGUMENT', `n must be a non-negative integer, got ${typeof n === 'number' ? n : typeof n}`);
    }
    const state = this._vis.get(indexName);
    if (!state) throw new ClipdbError('NOT_FOUND', `no vector index named '${indexName}' has been added (db.add(new VectorIndex(...)))`);
    if (state.collection !== collection) throw new ClipdbError('INVALID_ARGUMENT', `vector index '${indexName}' indexes '${state.collection}', not '${collection}'`);
    const q = await this._queryVector(state, collection, query);
    if (n === 0) return [];
    const recs = this._docs(collection);
    let candidates = null;
    if (!isEmptyFilter(filter)) {
      const test = compileFilter(filter); // validates the filter
      const conds = fieldConditions(filter);
      candidates = conds ? state.set.keysWhereFields(recs, conds) : state.set.keysWhere(recs, test);
    }
    const hits = state.set.search(q, n, candidates);
    // score is set on the document (not spread into a copy, which would read every lazy field)
    return Promise.all(hits.map(async ({ id, score }) => {
      const d = await this._userDoc(collection, id, recs.get(id).doc);
      d.score = score;
      return d;
    }));
  }

  /**
   * Reclaim space left by deleted and replaced documents: the stored vectors of every added
   * vector index are rewritten as full chunk records without dead entries, and every binary
   * pack in which at least a quarter of the bytes belong to no document any more is rewritten
   * with only its live fields (the packs of up to 64 MB of live bytes per atomic write: the new
   * pack, the document pages pointing into it, and the deletion of the old packs go together,
   * so a crash leaves either the old or the new layout). Reads during the compaction see the
   * old packs until each write has landed.
   * @returns {Promise<{packsRewritten: number, bytesFreed: number}>}
   */
  compact() {
    return this._exclusive(async () => {
      for (const s of this._vis.values()) await s.set.rewrite((o) => this._write(o));
      return this._repack();
    });
  }

  async _repack() {
    // Live packed fields, per pack: [{collection, id, path, ref}].
    const byPack = new Map();
    for (const [collection, recs] of this._cols) {
      for (const [id, rec] of recs) {
        for (const { path, ref } of refsOf(rec.doc)) {
          if (ref.pack === undefined) continue;
          if (!byPack.has(ref.pack)) byPack.set(ref.pack, []);
          byPack.get(ref.pack).push({ collection, id, path, ref });
        }
      }
    }
    const wasteful = [];
    for (const [seq, fields] of byPack) {
      const rec = await this.adapter.get('blobs', packKey(seq));
      if (rec === undefined) continue; // reported by reads; nothing to move
      const live = fields.reduce((n, f) => n + f.ref.size, 0);
      if (live < 0.75 * rec.size) wasteful.push({ seq, fields, live, size: rec.size });
    }
    let packsRewritten = 0, bytesFreed = 0;
    for (let i = 0; i < wasteful.length;) {
      const group = [];
      let bytes = 0;
      while (i < wasteful.length && (!group.length || bytes + wasteful[i].live <= PACK_MAX_BYTES)) { bytes += wasteful[i].live; group.push(wasteful[i++]); }
      // New documents (copies whose references point into the new pack), and the bytes to pack.
      const newRecs = new Map(), bins = [];
      for (const { fields } of group) {
        for (const f of fields) {
          const key = docKey(f.collection, f.id);
          if (!newRecs.has(key)) {
            const rec = this._docs(f.collection).get(f.id);
            newRecs.set(key, { collection: f.collection, id: f.id, old: rec, rec: { doc: structuredClone(rec.doc), seq: rec.seq } });
          }
          const copy = refsOf(newRecs.get(key).rec.doc).find((r) => r.path === f.path).ref;
          const record = await this._packs.read(f.ref, `${f.collection}/${JSON.stringify(f.id)}.${f.path}`);
          bins.push({ ref: copy, record });
        }
      }
      const packed = await this._packs.pack(bins);
      const ops = [...packed.ops];
      const touched = new Map(); // collection -> pages
      for (const n of newRecs.values()) {
        if (!touched.has(n.collection)) touched.set(n.collection, new Set());
        touched.get(n.collection).add(this._pages.pageOf(n.collection, n.id));
      }
      for (const [collection, pages] of touched) {
        const recs = this._docs(collection), mine = [...newRecs.values()].filter((n) => n.collection === collection);
        for (const n of mine) recs.set(n.id, n.rec); // tentatively, to write their pages
        try { ops.push(...this._pages.ops(collection, pages, recs)); } finally { for (const n of mine) recs.set(n.id, n.old); }
      }
      for (const { seq } of group) ops.push({ store: 'blobs', key: packKey(seq), delete: true });
      await this._write(ops);
      for (const n of newRecs.values()) this._docs(n.collection).set(n.id, n.rec);
      this._packs.forget(group.map((g) => g.seq));
      packed.commit();
      packsRewritten += group.length;
      bytesFreed += group.reduce((n, g) => n + g.size, 0) - bytes;
    }
    return { packsRewritten, bytesFreed };
  }

  /**
   * Back up the whole store as one export container (docs/export-format.md): documents,
   * binary fields, the vectors of every vector index and model, index definitions. Streams:
   * memory stays bounded by one batch whatever the size of the store. Writes made while the
   * export runs wait until it has finished.
   * @returns {ReadableStream<Uint8Array>} write it to a file (Node: stream.Readable.fromWeb; pages:
   *   showSaveFilePicker().createWritable(), or `await new Response(stream).blob()`).
   */
  exportData() { return this._lockedStream(() => exportChunks(this)); }

  /**
   * A ReadableStream of the chunks `chunks()` yields, produced while this database's write lock
   * is held: the lock is taken now (writes queued later wait), the generator starts once it is
   * held, and it is released when the stream ends, fails or is cancelled.
   */
  _lockedStream(chunks) {
    let release;
    const gate = new Promise((r) => { release = r; });
    const acquired = new Promise((res, rej) => { this._exclusive(() => { res(); return gate; }).catch(rej); });
    acquired.catch(() => {}); // reported through the stream
    const gen = (async function* () { await acquired; yield* chunks(); })();
    let finished = false;
    const finish = () => { if (!finished) { finished = true; release(); } };
    return new ReadableStream({
      async pull(controller) {
        try {
          const r = await gen.next();
          if (r.done) { finish(); controller.close(); } else controller.enqueue(r.value);
        } catch (e) { finish(); controller.error(e); }
      },
      async cancel() { finish(); await gen.return(); },
    }, { highWaterMark: 1 });
  }

  /** One vector index's vectors, ids and small fields as one Parquet file, streamed: see exportParquet in parquet.mjs. */
  exportParquet(options) { return exportParquet(this, options); }

  /**
   * Load an export container (a ReadableStream, Blob, Uint8Array/ArrayBuffer or an async
   * iterable of Uint8Array chunks) into this store. Each batch of the file is written in one
   * transaction, so after a crash mid-import every document is absent or complete with its
   * vectors; running importData again with the same file completes it (documents already
   * present with the same _id are skipped). Documents whose _id exists and were not imported by
   * an earlier run of the same file are 'DUPLICATE_ID' unless `onConflict: 'skip'`.
   * Vector indexes and their models come with the file; add them with db.add as usual (no
   * embedding happens for imported vectors when the model identifiers match).
   * @returns {Promise<{documents: number, vectors: number, skipped: number}>}
   */
  importData(source, { onConflict = 'error', onProgress, signal } = {}) {
    return this._exclusive(() => importContainer(this, source, { onConflict, onProgress, signal }));
  }

  /** Close the storage and free the C indexes. Pending embeddings are resumed on the next open. */
  close() {
    return this._exclusive(async () => {
      this._closed = true;
      for (const s of this._vis.values()) s.set.free();
      this._vis.clear();
      await this.adapter.close();
    });
  }
}

/**
 * Open (or create) a database.
 * @param {{storage?: 'auto'|'indexeddb'|'fs'|'memory'|object, name?: string, dir?: string, fallback?: boolean, module?: object, vectorMemory?: 'auto'|'float32'|'compact'}} [options]
 *   `storage`: where documents live ('auto': IndexedDB in browsers, else the file system when
 *   `dir` is given, else memory; or a StorageAdapter object). `name`: the IndexedDB database
 *   or the store folder's name (`<dir>/<name>.clipdb`). `fallback` (default true): if IndexedDB
 *   cannot be opened (private mode, no IndexedDB), use memory and report `{persistent: false,
 *   reason}`. `module`: the clipdb wasm module (default: the shared one). `vectorMemory`: how a
 *   vector index holds its vectors in memory: 'float32' (dim*5 bytes per vector), 'compact'
 *   (16-bit copies, dim*2 bytes; each score within sqrt(dim)*max|v|/65024 of the float32 one,
 *   about 1e-6 typically; the stored vectors, exports and backups stay float32), 'auto' (the
 *   default: float32 up to 8 MiB of float32 vectors per index, 4,096 at 512-d, compact from
 *   there). INVALID_ARGUMENT for another value.
 * @returns {Promise<Database>}
 */
export async function openDatabase(options = {}) {
  const vectorMemory = options.vectorMemory ?? 'auto';
  compactAt(vectorMemory, 1); // INVALID_ARGUMENT before anything is opened
  const mod = options.module ?? await getModule();
  const info = await openStorage(options);
  const db = new Database(info.adapter, info, mod);
  db._vectorMemory = vectorMemory;
  try {
    await db._load();
  } catch (e) {
    await info.adapter.close().catch(() => {});
    throw storageError(e, 'load the store');
  }
  return db;
}
