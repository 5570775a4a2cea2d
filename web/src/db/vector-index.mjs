// JS mirror of the C vector index (clipdb_index_* in include/clipdb.h) on the wasm module.
// Every heap allocation made for a call is freed in `finally`; HEAP views are read after the
// call (memory may grow). Failures throw ClipdbError with the C status name and message.
import { ClipdbError, check, statusTable } from '../errors.mjs';

export class WasmVectorIndex {
  /**
   * @param {object} mod the Emscripten module (getModule())
   * @param {number} dim vector dimension (integer >= 1)
   */
  constructor(mod, dim) {
    this.mod = mod;
    this.dim = dim;
    const p = mod._malloc(4);
    try {
      check(mod, mod._clipdb_index_init(dim, p), 'create index');
      this.ptr = mod.HEAPU32[p >> 2];
    } finally { mod._free(p); }
  }

  _checkIndex(st, what) {
    if (st === 0) return;
    const m = this.mod;
    try { check(m, st, what); } catch (e) {
      const own = m.UTF8ToString(m._clipdb_index_last_error(this.ptr));
      if (own) e.message = own;
      throw e;
    }
  }

  /** Number of vectors held. */
  get count() { return this.mod._clipdb_index_count(this.ptr); }

  /**
   * Add or replace vectors. `keys` uint32 [n]; `vectors` Float32Array [n * dim].
   * Throws DIMENSION_MISMATCH if vectors.length != n * dim, BAD_VECTOR for NaN/Inf/zero.
   */
  add(keys, vectors) {
    const n = keys.length, m = this.mod;
    if (vectors.length !== n * this.dim) {
      throw new ClipdbError('DIMENSION_MISMATCH', `expected ${n} vectors of ${this.dim} dimensions (${n * this.dim} floats), got ${vectors.length} floats`);
    }
    if (n === 0) return;
    const pk = m._malloc(n * 4), pv = m._malloc(vectors.length * 4);
    try {
      if (!pk || !pv) throw new ClipdbError('OUT_OF_MEMORY', `failed to allocate ${n} vectors in wasm memory`);
      m.HEAPU32.set(keys, pk >> 2);
      m.HEAPF32.set(vectors, pv >> 2);
      this._checkIndex(m._clipdb_index_add(this.ptr, pk, pv, n), 'add to index');
    } finally { m._free(pk); m._free(pv); }
  }

  /** Make room for `n` vectors in total, so that filling the index allocates once (clipdb_index_reserve). */
  reserve(n) {
    if (!Number.isInteger(n) || n < 0) throw new ClipdbError('INVALID_ARGUMENT', `reserve needs a non-negative integer, got ${n}`);
    this._checkIndex(this.mod._clipdb_index_reserve(this.ptr, n), 'reserve index');
  }

  /** The stored vector of `key` (L2-normalised, Float32Array [dim]), or null if absent. */
  get(key) {
    const m = this.mod, p = m._malloc(this.dim * 4);
    try {
      if (!p) throw new ClipdbError('OUT_OF_MEMORY', 'failed to allocate a vector in wasm memory');
      const st = m._clipdb_index_get(this.ptr, key >>> 0, p);
      if (st === statusTable(m).NOT_FOUND) return null;
      this._checkIndex(st, 'read from index');
      return m.HEAPF32.slice(p >> 2, (p >> 2) + this.dim);
    } finally { m._free(p); }
  }

  /** Remove `key`; returns false if it was absent. */
  remove(key) {
    const st = this.mod._clipdb_index_remove(this.ptr, key >>> 0);
    if (st === 0) return true;
    if (st === statusTable(this.mod).NOT_FOUND) return false;
    this._checkIndex(st, 'remove from index');
    return false;
  }

  /**
   * Top-k search. `queries` Float32Array [nq * dim]; `k` integer >= 0 (clamped to the index
   * size here, so no buffer depends on a huge k); `candidates` optional Uint32Array of keys.
   * @returns {Array<{keys: Uint32Array, scores: Float32Array}>} one entry per query
   */
  search(queries, k, candidates = null) {
    const m = this.mod, dim = this.dim;
    if (queries.length === 0 || queries.length % dim !== 0) {
      throw new ClipdbError('DIMENSION_MISMATCH', `expected query vectors of ${dim} dimensions, got ${queries.length} floats`);
    }
    const nq = queries.length / dim;
    const kk = Math.min(k, this.count, candidates ? candidates.length : Infinity);
    const nc = candidates ? candidates.length : 0;
    const pq = m._malloc(queries.length * 4), pkeys = m._malloc(Math.max(1, nq * kk) * 4),
      pscores = m._malloc(Math.max(1, nq * kk) * 4), pcounts = m._malloc(nq * 4),
      pc = candidates ? m._malloc(Math.max(1, nc) * 4) : 0;
    try {
      if (!pq || !pkeys || !pscores || !pcounts || (candidates && !pc)) throw new ClipdbError('OUT_OF_MEMORY', 'failed to allocate search buffers in wasm memory');
      m.HEAPF32.set(queries, pq >> 2);
      if (candidates) m.HEAPU32.set(candidates, pc >> 2);
      this._checkIndex(m._clipdb_index_search(this.ptr, pq, nq, kk, pc, nc, pkeys, pscores, pcounts), 'search index');
      const out = [];
      for (let q = 0; q < nq; q++) {
        const c = m.HEAPU32[(pcounts >> 2) + q];
        const off = q * kk;
        out.push({
          keys: m.HEAPU32.slice((pkeys >> 2) + off, (pkeys >> 2) + off + c),
          scores: m.HEAPF32.slice((pscores >> 2) + off, (pscores >> 2) + off + c),
        });
      }
      return out;
    } finally {
      m._free(pq); m._free(pkeys); m._free(pscores); m._free(pcounts); if (pc) m._free(pc);
    }
  }

  /** Release the C index (idempotent). */
  free() {
    if (this.ptr) { this.mod._clipdb_index_free(this.ptr); this.ptr = 0; }
  }
}
