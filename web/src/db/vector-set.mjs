// The state of one added vector index: the stored vectors of one (vector index, model) pair,
// their C index (WasmVectorIndex), the map between document ids and the C index's uint32 keys,
// and the chunk records that hold the vectors in storage.
//
// Storage: the vectors of a (vector index, model) pair are a sequence of chunk records in key
// order, each {ids: [typed id keys], vectors: Float32Array [ids.length * dim] | null, del:
// [typed id keys]}. Reading them in order and applying each (add or replace the listed ids,
// then remove `del`) gives the current set. New vectors are appended as records (one per
// write), deletions as records with only `del`; small records (under a quarter of chunkTarget)
// at the tail are merged into full ones
// when there are enough of them (mergeTail), in one atomic write, so a crash leaves either the
// small records or the merged one. `compact()` rewrites the whole sequence without dead entries.
//
// Memory: from `compactAt` vectors on, the C index is compact (clipdb_index_compact: 16-bit rows,
// dim*2 bytes per vector instead of dim*5); the stored float32 vectors stay as they are, and
// whatever must hand them out exactly (exports, the rewrite in compact()) reads them from the
// chunk records (ChunkVectors). Records that a compact set merges or rewrites also keep their
// rows' compact planes (clipdb_index_compact_encode, with planesVersion), and an open of a compact
// set reads those instead of the floats: half the bytes, and no normalising or quantising.
import { ClipdbError } from '../errors.mjs';
import { WasmVectorIndex } from './vector-index.mjs';
import { idKey, idFromKey, vsetPrefix, chunkKey, chunkSeq } from './layout.mjs';

/** CORRUPT for the vector chunk record `key`, saying `why`. */
export const damagedChunk = (key, why) => new ClipdbError('CORRUPT', `the store is damaged: vector record ${JSON.stringify(key)}: ${why}; nothing was changed`, { details: { key } });

/** `rec` if it is a well-formed chunk record of `dim`-dimensional vectors, else CORRUPT naming `key`. */
export function checkedChunk(rec, key, dim) {
  if (rec == null || !Array.isArray(rec.ids) || !Array.isArray(rec.del ?? [])) throw damagedChunk(key, 'it is not a vector chunk');
  const n = rec.ids.length;
  if (n > 0 && (!(rec.vectors instanceof Float32Array) || rec.vectors.length !== n * dim)) {
    throw damagedChunk(key, `it lists ${n} ids but holds ${rec.vectors?.length ?? 0} floats (${dim} per vector expected)`);
  }
  return rec;
}

/** Vectors per chunk record: about 4 MiB of float32 whatever the dimension, at least 64. */
export const chunkTarget = (dim) => Math.max(64, Math.floor((4 << 20) / (dim * 4)));
const MERGE_AFTER = 16; // small tail records before they are merged
/** Records of fewer vectors than this are small (merged at the tail): a quarter of chunkTarget. */
const smallBelow = (dim) => Math.max(1, chunkTarget(dim) >> 2);
const MAX_COLUMNS = 8;  // field columns kept per set for filtered searches (least recently used go)
const ABSENT = Symbol('no document'); // a column's value for a key without a live document

/**
 * A collection's documents (Map _id → {doc, seq}) that counts its changes in `version`, so that
 * what is derived from them (the field columns of filtered searches) knows when to rebuild.
 */
export class DocMap extends Map {
  constructor(entries) {
    super();
    this.version = 0;
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }
  set(k, v) { this.version++; return super.set(k, v); }
  delete(k) { this.version++; return super.delete(k); }
  clear() { this.version++; super.clear(); }
}
const READ_AHEAD = 4;   // chunk records read ahead while loading (at most about 16 MiB)

/**
 * The float32 bytes of vectors from which 'auto' compacts a C index: 8 MiB (4,096 512-d vectors,
 * where the int8 candidate pass starts too). Below that, float32 rows cost little memory.
 */
export const COMPACT_BYTES = 8 << 20;
const MEMORY_MODES = ['auto', 'float32', 'compact'];

/**
 * The vector count at which a C index of `dim` is compacted under `mode` ('auto' | 'float32' |
 * 'compact'): INVALID_ARGUMENT for another mode.
 */
export function compactAt(mode, dim) {
  if (!MEMORY_MODES.includes(mode)) throw new ClipdbError('INVALID_ARGUMENT', `vectorMemory must be one of ${MEMORY_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(mode)}`);
  return mode === 'compact' ? 0 : mode === 'float32' ? Infinity : Math.ceil(COMPACT_BYTES / (4 * dim));
}

function compareIds(a, b) {
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class VectorSet {
  /**
   * @param {{mod: object, adapter: object, index: string, model: string, dim: number, collection: string, compactAt?: number}} o
   *   `compactAt`: the vector count from which the C index is compact (default never: float32
   *   rows, so vectorOf is exact; temporary sets of exports rely on that).
   */
  constructor({ mod, adapter, index, model, dim, collection, compactAt = Infinity }) {
    Object.assign(this, { mod, adapter, index, model, dim, collection, compactAt });
    this.core = new WasmVectorIndex(mod, dim);
    this.idToKey = new Map();
    this.keyToId = [];
    this.nextKey = 0;
    this.records = []; // [{key, n}] in storage order
    this.nextSeq = 0;
    this.keysVersion = 0;     // bumped when a key is made or removed (columns below)
    this.columns = new Map(); // field path → {docsVersion, keysVersion, values: [] by C key}
  }

  get count() { return this.idToKey.size; }
  /** True when the C index holds 16-bit copies (vectorOf is then not the stored float32 vector). */
  get compact() { return this.core.isCompact; }

  _compactFrom(n) { if (!this.core.isCompact && n >= this.compactAt) this.core.compact(); }
  has(id) { return this.idToKey.has(id); }

  _key(id) {
    let k = this.idToKey.get(id);
    if (k === undefined) { k = this.nextKey++; this.idToKey.set(id, k); this.keyToId[k] = id; this.keysVersion++; }
    return k;
  }

  /**
   * Read the chunk records of this (index, model) from storage into the C index. `isLive(id)`
   * says whether a document exists and owes this index nothing; other ids are dropped.
   * `expected`: the number of vectors to reserve room for. Reads one record at a time.
   */
  async load({ isLive, expected = 0 }) {
    const prefix = vsetPrefix(this.index, this.model);
    const keys = await this.adapter.keys('vectors', prefix);
    // Compact first when the index will be large, so the float32 rows are never held at all.
    this._compactFrom(expected);
    if (expected > 0) this.core.reserve(expected);
    // Up to READ_AHEAD records are being read while one is added to the C index (storage
    // reads overlap the copy); they are applied in key order. Each read lands in one of
    // READ_AHEAD + 1 scratch buffers used in turn (adapters that honour `vectorsInto`), so the
    // whole load touches about 20 MiB of fresh memory instead of one new buffer per record;
    // a record is copied into the C index before its buffer is handed to a later read.
    const scratch = new Array(READ_AHEAD + 1).fill(null);
    const intoSlot = (slot) => (bytes) => {
      if (scratch[slot] === null || scratch[slot].byteLength < bytes) scratch[slot] = new Uint8Array(Math.max(bytes, chunkTarget(this.dim) * this.dim * 4));
      return scratch[slot].subarray(0, bytes);
    };
    // A compact set asks for the records' compact planes where they have them (else the floats).
    const options = (slot) => (this.compact ? { vectorsInto: intoSlot(slot), planesInto: intoSlot(slot) } : { vectorsInto: intoSlot(slot) });
    const reads = [];
    let next = 0;
    const fill = () => {
      while (reads.length < READ_AHEAD && next < keys.length) {
        const slot = next % scratch.length;
        const p = this.adapter.get('vectors', keys[next++], options(slot));
        p.catch(() => {}); // reported when its turn comes
        reads.push({ p, slot });
      }
    };
    for (const key of keys) {
      fill();
      const { p, slot } = reads.shift();
      let rec = await p;
      // A BYOB read transfers the scratch buffer: keep using its memory under the new handle.
      const view = rec?.planes ?? rec?.vectors;
      if (scratch[slot]?.byteLength === 0 && view?.buffer?.byteLength) scratch[slot] = new Uint8Array(view.buffer);
      // Planes read in place of the floats but unusable (another encoding version, damaged):
      // read the floats. (An adapter that hands out both, as memory does, needs no second read.)
      if (rec?.planes != null && rec.vectors === undefined && !this._planesFit(rec)) rec = await this.adapter.get('vectors', key, { vectorsInto: intoSlot(slot) });
      const n = this._apply(rec, key);
      this.records.push({ key, n });
    }
    if (keys.length) this.nextSeq = chunkSeq(keys.at(-1)) + 1;
    for (const id of [...this.idToKey.keys()]) if (!isLive(id)) this.remove(id);
    this._compactFrom(this.count);
    return this.count;
  }

  /** Whether `rec`'s compact planes can be added as they are (this encoding, this size). */
  _planesFit(rec) {
    return this.compact && rec.planes instanceof Uint8Array && Array.isArray(rec.ids) && rec.planesVersion === WasmVectorIndex.compactVersion(this.mod) &&
      rec.planes.length === rec.ids.length * (4 + 2 * this.dim);
  }

  /** The compact planes to store beside `flat` (Float32Array [n * dim]) in a record, when this set is compact. */
  _planesOf(flat) {
    if (!this.compact || flat.length === 0) return {};
    return { planes: WasmVectorIndex.encodeCompact(this.mod, this.dim, flat), planesVersion: WasmVectorIndex.compactVersion(this.mod) };
  }

  _apply(rec, key) {
    const planes = rec != null && this._planesFit(rec);
    checkedChunk(planes ? { ...rec, vectors: null, ids: [], del: rec.del } : rec, key, this.dim);
    const n = rec.ids.length;
    if (n > 0) {
      const keys = new Uint32Array(n);
      for (let i = 0; i < n; i++) keys[i] = this._key(idFromKey(rec.ids[i]));
      try {
        if (planes) this.core.addCompact(keys, rec.planes);
        else this.core.add(keys, rec.vectors);
      } catch (e) { throw damagedChunk(key, e.message); }
    }
    for (const t of rec.del ?? []) this.remove(idFromKey(t));
    return n + (rec.del?.length ?? 0);
  }

  /** Remove `id` from the C index (memory only). */
  remove(id) {
    const k = this.idToKey.get(id);
    if (k === undefined) return false;
    this.core.remove(k);
    this.idToKey.delete(id);
    this.keyToId[k] = undefined;
    this.keysVersion++;
    return true;
  }

  /**
   * The storage op that appends vectors and deletions as one chunk record, and the function
   * that applies it to the C index once the write has landed.
   * @param {Array<string|number>} ids  @param {Float32Array[]} vectors  @param {Array<string|number>} [del]
   */
  appendOp(ids, vectors, del = []) {
    const flat = new Float32Array(ids.length * this.dim);
    vectors.forEach((v, i) => flat.set(v, i * this.dim));
    const key = chunkKey(this.index, this.model, this.nextSeq++);
    // A record big enough never to be merged keeps its compact planes from the start.
    const planes = ids.length >= smallBelow(this.dim) ? this._planesOf(flat) : {};
    const op = { store: 'vectors', key, value: { ids: ids.map(idKey), vectors: ids.length ? flat : null, del: del.map(idKey), ...planes } };
    const apply = () => {
      if (ids.length) this.core.add(Uint32Array.from(ids, (id) => this._key(id)), flat);
      for (const id of del) this.remove(id);
      this.records.push({ key, n: ids.length + del.length });
      this._compactFrom(this.count);
    };
    return { op, apply };
  }

  /**
   * Merge the small records at the tail when there are MERGE_AFTER of them, into records of at
   * most chunkTarget vectors (so no record, and no read buffer while loading, outgrows about
   * 4 MiB), under the first of the tail's keys (kept in order); the others are deleted. `write`
   * is the database's write function (atomic).
   */
  async mergeTail(write) {
    const target = chunkTarget(this.dim);
    let i = this.records.length;
    const small = smallBelow(this.dim);
    while (i > 0 && this.records[i - 1].n < small) i--;
    const tail = this.records.slice(i);
    if (tail.length < MERGE_AFTER) return;
    const state = new Map(); // typed id key → Float32Array | null (deleted)
    for (const r of tail) {
      const rec = await this.adapter.get('vectors', r.key);
      if (rec == null) return; // written elsewhere meanwhile; leave it
      for (let j = 0; j < rec.ids.length; j++) { state.delete(rec.ids[j]); state.set(rec.ids[j], rec.vectors.subarray(j * this.dim, (j + 1) * this.dim)); }
      for (const t of rec.del ?? []) { state.delete(t); state.set(t, null); }
    }
    const ids = [], del = [], rows = [];
    for (const [t, v] of state) { if (v) { ids.push(t); rows.push(v); } else del.push(t); }
    // Deletions go into the first merged record: no id is both deleted and live in `state`,
    // so where they are applied among the merged records does not matter.
    const ops = [], merged = [];
    for (let s = 0, j = 0; s < ids.length || j === 0; s += target, j++) {
      const part = ids.slice(s, s + target);
      const flat = new Float32Array(part.length * this.dim);
      for (let r = 0; r < part.length; r++) flat.set(rows[s + r], r * this.dim);
      const d = j === 0 ? del : [];
      ops.push({ store: 'vectors', key: tail[j].key, value: { ids: part, vectors: part.length ? flat : null, del: d, ...this._planesOf(flat) } });
      merged.push({ key: tail[j].key, n: part.length + d.length });
    }
    for (const r of tail.slice(merged.length)) ops.push({ store: 'vectors', key: r.key, delete: true });
    await write(ops);
    this.records.splice(i, tail.length, ...merged);
  }

  /**
   * Rewrite every chunk record of this (index, model): full chunks, no dead entries. One atomic
   * write. The vectors come from the C index, or (compact) from the records themselves, read in
   * storage order.
   */
  async rewrite(write) {
    const target = chunkTarget(this.dim);
    let ids = [...this.idToKey.keys()], stored = null;
    if (this.compact) {
      stored = await ChunkVectors.locate(this.adapter, this, ids);
      const missing = ids.find((id) => !stored.has(id));
      if (missing !== undefined) throw new ClipdbError('CORRUPT', `the store is damaged: the vector of ${JSON.stringify(missing)} in '${this.index}' (model '${this.model}') is in memory but in no vector record; nothing was changed`);
      ids = stored.storageOrder();
    }
    const ops = this.records.map((r) => ({ store: 'vectors', key: r.key, delete: true }));
    const records = [];
    this.nextSeq = 0;
    for (let s = 0; s < ids.length; s += target) {
      const part = ids.slice(s, s + target);
      let flat;
      if (stored) flat = await stored.rows(part);
      else {
        flat = new Float32Array(part.length * this.dim);
        part.forEach((id, j) => flat.set(this.core.get(this.idToKey.get(id)), j * this.dim));
      }
      const key = chunkKey(this.index, this.model, this.nextSeq++);
      ops.push({ store: 'vectors', key, value: { ids: part.map(idKey), vectors: flat, del: [], ...this._planesOf(flat) } });
      records.push({ key, n: part.length });
    }
    // Put-after-delete on the same key keeps the put (ops apply in order).
    await write(ops);
    this.records = records;
  }

  /** The stored (L2-normalised) vector of `id` (its 16-bit copy when compact), or null. */
  vectorOf(id) {
    const k = this.idToKey.get(id);
    return k === undefined ? null : this.core.get(k);
  }

  /**
   * The C index keys of the documents of `recs` (Map id → {doc}) whose doc passes `test`, as
   * one Uint32Array (documents without a vector here are left out). One pass, no id list.
   */
  keysWhere(recs, test) {
    // Each key comes from a distinct id of both maps, so the smaller size bounds the count.
    const keys = new Uint32Array(Math.min(recs.size, this.idToKey.size));
    let n = 0;
    for (const [id, rec] of recs) {
      if (!test(rec.doc)) continue;
      const k = this.idToKey.get(id);
      if (k !== undefined) keys[n++] = k;
    }
    return keys.subarray(0, n);
  }

  /**
   * keysWhere for a conjunction of field conditions ([{path, get, test}] from fieldConditions):
   * each field's values are kept as a column by C key, built once and reused until a document of
   * `recs` (a DocMap, whose version counts its changes) or a key of this set changes, so a
   * filtered search tests values in an array instead of walking every document. The keys come
   * in key order (the C index's results do not depend on it).
   */
  keysWhereFields(recs, conds) {
    const cols = conds.map((c) => this._column(recs, c));
    const tests = conds.map((c) => c.test);
    const keys = new Uint32Array(Math.min(recs.size, this.idToKey.size));
    let n = 0;
    const end = this.nextKey, m = cols.length;
    for (let k = 0; k < end; k++) {
      let j = 0;
      for (; j < m; j++) {
        const v = cols[j][k];
        if (v === ABSENT || !tests[j](v)) break;
      }
      if (j === m) keys[n++] = k;
    }
    return keys.subarray(0, n);
  }

  /** The values of `path` by C key (ABSENT where a key has no document), cached (see keysWhereFields). */
  _column(recs, { path, get }) {
    const docsVersion = recs.version;
    let c = this.columns.get(path);
    if (c && docsVersion !== undefined && c.docsVersion === docsVersion && c.keysVersion === this.keysVersion) return c.values;
    const values = new Array(this.nextKey);
    for (let k = 0; k < this.nextKey; k++) {
      const id = this.keyToId[k];
      const rec = id === undefined ? undefined : recs.get(id);
      values[k] = rec === undefined ? ABSENT : get(rec.doc);
    }
    c = { docsVersion, keysVersion: this.keysVersion, values };
    this.columns.delete(path);
    this.columns.set(path, c);
    if (this.columns.size > MAX_COLUMNS) this.columns.delete(this.columns.keys().next().value);
    return values;
  }

  /**
   * Exact top-`n` by cosine similarity, restricted to `candidates` (C index keys as a
   * Uint32Array, from keysWhere) when given (null: all).
   * Equal scores are ordered by `_id` (String order), the same on every run and after a reload.
   * @returns {Array<{id: string|number, score: number}>}
   */
  search(q, n, candidates = null) {
    const searched = candidates ? candidates.length : this.core.count;
    if (searched === 0 || n === 0) return [];
    const k = Math.min(n, searched);
    // Fetch a little more than k so that scores tied with the k-th are all seen, then order
    // ties by _id; widen until the k-th score is strictly above the last fetched one.
    let kq = Math.min(searched, k + 8), res;
    for (;;) {
      res = this.core.search(q, kq, candidates)[0];
      if (kq >= searched || res.scores[kq - 1] < res.scores[k - 1]) break;
      kq = Math.min(searched, kq * 2);
    }
    const hits = Array.from(res.keys, (key, i) => ({ id: this.keyToId[key], score: res.scores[i] }));
    hits.sort((a, b) => (b.score - a.score) || compareIds(a.id, b.id));
    return hits.slice(0, k);
  }

  free() { this.core.free(); }
}

/**
 * The stored float32 vectors of one (vector index, model) read straight from its chunk records:
 * for exports of an index that is not in memory or is compact (whose C index holds 16-bit
 * copies), and for rewriting a compact index's records. `locate` reads every chunk once to learn
 * where each live document's vector lies (later chunks replace earlier ones, deletions apply).
 * With `batch`, it then decides: if `ids`, taken in order in runs of `batch`, would need few
 * chunk reads (at most twice the number of chunks), it returns a ChunkVectors, else null (the
 * caller loads the vectors into a temporary float32 C index instead). Vectors come back
 * L2-normalised exactly as a float32 C index stores them (float64 sum of squares, each value
 * times 1/sqrt(sum) rounded to float32), so an export is the same whichever way it read them.
 */
export class ChunkVectors {
  static async locate(adapter, vs, ids, batch = 0) {
    const keys = await adapter.keys('vectors', vsetPrefix(vs.index, vs.model));
    const where = new Map(); // id → [chunk number, row]
    for (let c = 0; c < keys.length; c++) {
      const rec = checkedChunk(await adapter.get('vectors', keys[c]), keys[c], vs.dim);
      rec.ids.forEach((k, row) => where.set(idFromKey(k), [c, row]));
      for (const k of rec.del ?? []) where.delete(idFromKey(k));
    }
    const live = new Set(ids);
    for (const id of where.keys()) if (!live.has(id)) where.delete(id);
    if (batch > 0) {
      let reads = 0;
      for (let i = 0; i < ids.length; i += batch) {
        const touched = new Set();
        for (const id of ids.slice(i, i + batch)) { const w = where.get(id); if (w) touched.add(w[0]); }
        reads += touched.size;
      }
      if (reads > 2 * keys.length) return null;
    }
    return new ChunkVectors(adapter, vs.dim, keys, where);
  }

  constructor(adapter, dim, keys, where) {
    Object.assign(this, { adapter, dim, keys, where });
    this.cache = new Map(); // chunk number → checked record (the last few)
  }

  has(id) { return this.where.has(id); }

  /** The located ids in storage order (chunk by chunk, row by row): reading them in this order reads each chunk once. */
  storageOrder() {
    return [...this.where.keys()].sort((a, b) => { const x = this.where.get(a), y = this.where.get(b); return x[0] - y[0] || x[1] - y[1]; });
  }

  async _chunk(c) {
    let rec = this.cache.get(c);
    if (!rec) {
      rec = checkedChunk(await this.adapter.get('vectors', this.keys[c]), this.keys[c], this.dim);
      this.cache.set(c, rec);
      if (this.cache.size > 4) this.cache.delete(this.cache.keys().next().value);
    }
    return rec;
  }

  /** The normalised vectors of `ids` (each has one), as rows of a Float32Array [ids.length, dim]. */
  async rows(ids) {
    const d = this.dim, out = new Float32Array(ids.length * d);
    for (let i = 0; i < ids.length; i++) {
      const [c, row] = this.where.get(ids[i]);
      const v = (await this._chunk(c)).vectors.subarray(row * d, row * d + d);
      let ss = 0;
      for (let j = 0; j < d; j++) ss += v[j] * v[j];
      if (!(ss > 0) || !Number.isFinite(ss)) {
        throw damagedChunk(this.keys[c], `the vector of ${JSON.stringify(ids[i])} ${Number.isFinite(ss) ? 'is all zeros' : 'contains NaN or Inf'}`);
      }
      const inv = 1 / Math.sqrt(ss);
      for (let j = 0; j < d; j++) out[i * d + j] = v[j] * inv;
    }
    return out;
  }
}
