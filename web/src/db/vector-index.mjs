// JS mirror of the C vector index (clipdb_index_* in include/clipdb.h) on the wasm module the
// caller passes, through binding.mjs (which frees every heap allocation of a call and reads
// HEAP views afresh). Failures throw ClipdbError with the C status name and message.
import { ClipdbError } from '../errors.mjs';
import * as b from '../binding.mjs';

// Argument checks, before any wasm memory is touched: INVALID_ARGUMENT naming the argument.
function checkKeys(what, arg, keys) {
  if (keys instanceof Uint32Array) return;
  if (!Array.isArray(keys)) throw new ClipdbError('INVALID_ARGUMENT', `${what}: ${arg} must be a Uint32Array or an array of integer keys`);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > 0xffffffff) {
      throw new ClipdbError('INVALID_ARGUMENT', `${what}: ${arg}[${i}] is ${typeof key === 'number' ? key : typeof key}, not an integer key in [0, 2^32)`);
    }
  }
}

function checkFloats(what, arg, values) {
  if (values instanceof Float32Array) return;
  if (!Array.isArray(values)) throw new ClipdbError('INVALID_ARGUMENT', `${what}: ${arg} must be a Float32Array or an array of numbers`);
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] !== 'number') throw new ClipdbError('INVALID_ARGUMENT', `${what}: ${arg}[${i}] is a ${typeof values[i]}, not a number`);
  }
}

export class WasmVectorIndex {
  /**
   * @param {object} mod the Emscripten module (getModule())
   * @param {number} dim vector dimension (integer >= 1)
   */
  constructor(mod, dim) {
    this.mod = mod;
    this.dim = dim;
    this.ptr = b.check(mod, b.clipdb_index_init(mod, dim), 'create index').index;
    /** True once compact() ran. */
    this.isCompact = false;
  }

  _checkIndex(r, what) {
    if (r.status === 0) return r;
    throw b.toError(this.mod, r, what, r.message ? '' : b.clipdb_index_last_error(this.mod, this.ptr));
  }

  /** Number of vectors held. */
  get count() { return b.clipdb_index_count(this.mod, this.ptr); }

  /**
   * Add or replace vectors. `keys` uint32 [n]; `vectors` Float32Array [n * dim].
   * Throws DIMENSION_MISMATCH if vectors.length != n * dim, BAD_VECTOR for NaN/Inf/zero.
   */
  add(keys, vectors) {
    checkKeys('add', 'keys', keys);
    checkFloats('add', 'vectors', vectors);
    const n = keys.length;
    if (vectors.length !== n * this.dim) {
      throw new ClipdbError('DIMENSION_MISMATCH', `expected ${n} vectors of ${this.dim} dimensions (${n * this.dim} floats), got ${vectors.length} floats`);
    }
    if (n === 0) return;
    this._checkIndex(b.clipdb_index_add(this.mod, this.ptr, keys, vectors), 'add to index');
  }

  /** Make room for `n` vectors in total, so that filling the index allocates once (clipdb_index_reserve). */
  reserve(n) {
    if (!Number.isInteger(n) || n < 0) throw new ClipdbError('INVALID_ARGUMENT', `reserve needs a non-negative integer, got ${n}`);
    this._checkIndex(b.clipdb_index_reserve(this.mod, this.ptr, n), 'reserve index');
  }

  /** The stored vector of `key` (L2-normalised, Float32Array [dim]; its 16-bit copy once compact), or null if absent. */
  get(key) {
    const r = b.clipdb_index_get(this.mod, this.ptr, key);
    if (r.status === b.statusCodes(this.mod).NOT_FOUND) return null;
    return this._checkIndex(r, 'read from index').vector;
  }

  /**
   * Drop the float32 rows and keep every vector (and every later one) as a 16-bit code:
   * memory dim*2 instead of dim*5 bytes per vector; scores then move by at most
   * sqrt(dim)*max|v|/65024 from the float32 rows' (clipdb_index_compact). One-way.
   */
  compact() {
    this._checkIndex(b.clipdb_index_compact(this.mod, this.ptr), 'compact index');
    this.isCompact = true;
  }

  /**
   * Compact planes of `vectors` (Float32Array [n * dim]): a Uint8Array of n * (4 + 2 * dim) bytes
   * (clipdb_index_compact_encode), for addCompact later. BAD_VECTOR for a NaN/Inf/zero row.
   */
  static encodeCompact(mod, dim, vectors) {
    return b.check(mod, b.clipdb_index_compact_encode(mod, dim, vectors), 'encode compact rows').planes;
  }

  /** The compact encoding's version (clipdb_index_compact_version). */
  static compactVersion(mod) { return b.clipdb_index_compact_version(mod); }

  /**
   * Add or replace vectors given as compact planes from encodeCompact (the index must be
   * compact): the same result as add() of the float32 vectors. `keys` Uint32Array [n].
   * DIMENSION_MISMATCH if planes.length != n * (4 + 2 * dim); BAD_VECTOR for damaged planes.
   */
  addCompact(keys, planes) {
    checkKeys('addCompact', 'keys', keys);
    const n = keys.length;
    if (!(planes instanceof Uint8Array) || planes.length !== n * (4 + 2 * this.dim)) {
      throw new ClipdbError('DIMENSION_MISMATCH', `expected compact planes of ${n} vectors of ${this.dim} dimensions (${n * (4 + 2 * this.dim)} bytes), got ${planes?.length ?? 0} bytes`);
    }
    if (n === 0) return;
    this._checkIndex(b.clipdb_index_add_compact(this.mod, this.ptr, Uint32Array.from(keys), planes), 'add compact rows to index');
  }

  /** Remove `key`; returns false if it was absent. */
  remove(key) {
    const r = b.clipdb_index_remove(this.mod, this.ptr, key);
    if (r.status === 0) return true;
    if (r.status === b.statusCodes(this.mod).NOT_FOUND) return false;
    this._checkIndex(r, 'remove from index');
    return false;
  }

  /**
   * Top-k search. `queries` Float32Array [nq * dim]; `k` integer >= 0 (clamped to the index
   * size here, so no buffer depends on a huge k); `candidates` optional Uint32Array of keys.
   * @returns {Array<{keys: Uint32Array, scores: Float32Array}>} one entry per query
   */
  search(queries, k, candidates = null) {
    checkFloats('search', 'queries', queries);
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0) {
      throw new ClipdbError('INVALID_ARGUMENT', `search: k must be an integer >= 0, got ${typeof k === 'number' ? k : typeof k}`);
    }
    if (candidates !== null && candidates !== undefined) checkKeys('search', 'candidates', candidates);
    else candidates = null;
    const dim = this.dim;
    if (queries.length === 0 || queries.length % dim !== 0) {
      throw new ClipdbError('DIMENSION_MISMATCH', `expected query vectors of ${dim} dimensions, got ${queries.length} floats`);
    }
    const nq = queries.length / dim;
    const kk = Math.min(k, this.count, candidates ? candidates.length : Infinity);
    return this._checkIndex(b.clipdb_index_search(this.mod, this.ptr, queries, nq, kk, candidates), 'search index').results;
  }

  /** Release the C index (idempotent). */
  free() {
    if (this.ptr) { b.clipdb_index_free(this.mod, this.ptr); this.ptr = 0; }
  }
}
