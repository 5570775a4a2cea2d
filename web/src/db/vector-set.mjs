// The state of one added vector index: the stored vectors of one (vector index, model) pair,
// their C index (WasmVectorIndex), the map between document ids and the C index's uint32 keys,
// and the chunk records that hold the vectors in storage.
//
// Storage: the vectors of a (vector index, model) pair are a sequence of chunk records in key
// order, each {ids: [typed id keys], vectors: Float32Array [ids.length * dim] | null, del:
// [typed id keys]}. Reading them in order and applying each (add or replace the listed ids,
// then remove `del`) gives the current set. New vectors are appended as small records (one per
// write), deletions as records with only `del`; small records at the tail are merged into one
// when there are enough of them (mergeTail), in one atomic write, so a crash leaves either the
// small records or the merged one. `compact()` rewrites the whole sequence without dead entries.
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
const READ_AHEAD = 2;   // chunk records read ahead while loading (about 8 MiB)

function compareIds(a, b) {
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class VectorSet {
  /**
   * @param {{mod: object, adapter: object, index: string, model: string, dim: number, collection: string}} o
   */
  constructor({ mod, adapter, index, model, dim, collection }) {
    Object.assign(this, { mod, adapter, index, model, dim, collection });
    this.core = new WasmVectorIndex(mod, dim);
    this.idToKey = new Map();
    this.keyToId = [];
    this.nextKey = 0;
    this.records = []; // [{key, n}] in storage order
    this.nextSeq = 0;
  }

  get count() { return this.idToKey.size; }
  has(id) { return this.idToKey.has(id); }

  _key(id) {
    let k = this.idToKey.get(id);
    if (k === undefined) { k = this.nextKey++; this.idToKey.set(id, k); this.keyToId[k] = id; }
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
    if (expected > 0) this.core.reserve(expected);
    // Up to READ_AHEAD records are being read while one is added to the C index (storage
    // reads overlap the copy); they are applied in key order. Each read lands in one of
    // READ_AHEAD + 1 scratch buffers used in turn (adapters that honour `vectorsInto`), so the
    // whole load touches about 12 MiB of fresh memory instead of one new buffer per record;
    // a record is copied into the C index before its buffer is handed to a later read.
    const scratch = new Array(READ_AHEAD + 1).fill(null);
    const intoSlot = (slot) => (bytes) => {
      if (scratch[slot] === null || scratch[slot].byteLength < bytes) scratch[slot] = new Uint8Array(Math.max(bytes, chunkTarget(this.dim) * this.dim * 4));
      return scratch[slot].subarray(0, bytes);
    };
    const reads = [];
    let next = 0;
    const fill = () => {
      while (reads.length < READ_AHEAD && next < keys.length) {
        const slot = next % scratch.length;
        const p = this.adapter.get('vectors', keys[next++], { vectorsInto: intoSlot(slot) });
        p.catch(() => {}); // reported when its turn comes
        reads.push({ p, slot });
      }
    };
    for (const key of keys) {
      fill();
      const { p, slot } = reads.shift();
      const rec = await p;
      // A BYOB read transfers the scratch buffer: keep using its memory under the new handle.
      if (scratch[slot]?.byteLength === 0 && rec?.vectors?.buffer?.byteLength) scratch[slot] = new Uint8Array(rec.vectors.buffer);
      const n = this._apply(rec, key);
      this.records.push({ key, n });
    }
    if (keys.length) this.nextSeq = chunkSeq(keys.at(-1)) + 1;
    for (const id of [...this.idToKey.keys()]) if (!isLive(id)) this.remove(id);
    return this.count;
  }

  _apply(rec, key) {
    checkedChunk(rec, key, this.dim);
    const n = rec.ids.length;
    if (n > 0) {
      const keys = new Uint32Array(n);
      for (let i = 0; i < n; i++) keys[i] = this._key(idFromKey(rec.ids[i]));
      try { this.core.add(keys, rec.vectors); } catch (e) { throw damagedChunk(key, e.message); }
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
    const op = { store: 'vectors', key, value: { ids: ids.map(idKey), vectors: ids.length ? flat : null, del: del.map(idKey) } };
    const apply = () => {
      if (ids.length) this.core.add(Uint32Array.from(ids, (id) => this._key(id)), flat);
      for (const id of del) this.remove(id);
      this.records.push({ key, n: ids.length + del.length });
    };
    return { op, apply };
  }

  /**
   * Merge the small records at the tail into one when there are MERGE_AFTER of them. `write`
   * is the database's write function (atomic).
   */
  async mergeTail(write) {
    const target = chunkTarget(this.dim);
    let i = this.records.length;
    while (i > 0 && this.records[i - 1].n < target) i--;
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
    const flat = new Float32Array(ids.length * this.dim);
    rows.forEach((v, j) => flat.set(v, j * this.dim));
    const ops = [{ store: 'vectors', key: tail[0].key, value: { ids, vectors: ids.length ? flat : null, del } }];
    for (const r of tail.slice(1)) ops.push({ store: 'vectors', key: r.key, delete: true });
    await write(ops);
    this.records.splice(i, tail.length, { key: tail[0].key, n: ids.length + del.length });
  }

  /**
   * Rewrite every chunk record of this (index, model) from the C index: full chunks, no dead
   * entries. One atomic write.
   */
  async compact(write) {
    const target = chunkTarget(this.dim);
    const ids = [...this.idToKey.keys()];
    const ops = this.records.map((r) => ({ store: 'vectors', key: r.key, delete: true }));
    const records = [];
    this.nextSeq = 0;
    for (let s = 0; s < ids.length; s += target) {
      const part = ids.slice(s, s + target);
      const flat = new Float32Array(part.length * this.dim);
      part.forEach((id, j) => flat.set(this.core.get(this.idToKey.get(id)), j * this.dim));
      const key = chunkKey(this.index, this.model, this.nextSeq++);
      ops.push({ store: 'vectors', key, value: { ids: part.map(idKey), vectors: flat, del: [] } });
      records.push({ key, n: part.length });
    }
    // Put-after-delete on the same key keeps the put (ops apply in order).
    await write(ops);
    this.records = records;
  }

  /** The stored (L2-normalised) vector of `id`, or null. */
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
