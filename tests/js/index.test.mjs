// The vector index in wasm: the f32-dot SIMD128 kernel against its scalar twin (test-only
// module build/wasm/clipdb-kernel-tests), and the C index through its JS mirror
// (web/src/db/vector-index.mjs) against a float64 brute force, batched and filtered.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from './golden.mjs';
import { getModule, WasmVectorIndex, ClipdbError } from '../../web/src/index.mjs';
import { rng } from './store-helpers.mjs';

const dir = path.join(repoRoot, 'build', 'wasm');
const glue = path.join(dir, 'clipdb-kernel-tests.cjs');
const skip = existsSync(glue) ? false : `kernel test module not built (${glue}); run scripts/build`;

describe('f32-dot: wasmsimd_u16 vs scalar twin', { skip }, () => {
  let M;
  before(async () => {
    M = await createRequire(import.meta.url)(glue)({ wasmBinary: readFileSync(path.join(dir, 'clipdb-kernel-tests.wasm')) });
  });
  it('agrees on dims 1..70 and 512 with strides, offsets and tails', () => {
    const r = rng(5);
    for (const dim of [...Array(70).keys()].map((d) => d + 1).concat([511, 512, 513])) {
      for (const extra of [0, 1, 5]) {
        const rows = 7, stride = dim + extra;
        const q = M._malloc(4 * dim + 68), m = M._malloc(4 * rows * stride + 68), o1 = M._malloc(4 * rows), o2 = M._malloc(4 * rows);
        const qo = q + 4 * (extra % 3); // unaligned starts too
        const f = (p, n) => new Float32Array(M.HEAPF32.buffer, p, n);
        f(qo, dim).forEach((_, i, a) => { a[i] = r(); });
        f(m, rows * stride).forEach((_, i, a) => { a[i] = r(); });
        M._clipdb__wasm_test_f32_dot(0, rows, dim, qo, m, stride, o1);
        M._clipdb__wasm_test_f32_dot(1, rows, dim, qo, m, stride, o2);
        const a = f(o1, rows), b = f(o2, rows), qv = f(qo, dim), mv = f(m, rows * stride);
        for (let i = 0; i < rows; i++) {
          let ref = 0, mag = 0;
          for (let j = 0; j < dim; j++) { ref += qv[j] * mv[i * stride + j]; mag += Math.abs(qv[j] * mv[i * stride + j]); }
          // Different summation orders: both within float32 rounding of the float64 sum.
          const tol = 4e-7 * mag + 1e-7;
          assert.ok(Math.abs(a[i] - ref) <= tol, `scalar dim ${dim} row ${i}: ${a[i]} vs ${ref}`);
          assert.ok(Math.abs(b[i] - ref) <= tol, `simd dim ${dim} row ${i}: ${b[i]} vs ${ref}`);
          assert.ok(Math.abs(a[i] - b[i]) <= 2 * tol, `twins dim ${dim} row ${i}: ${a[i]} vs ${b[i]}`);
        }
        for (const p of [q, m, o1, o2]) M._free(p);
      }
    }
  });
});

describe('qs8-dot: wasmsimd_u16 vs scalar twin', { skip }, () => {
  it('gives the same int32 sums on dims 1..70, 511..513 and 1024 with strides, offsets and extreme values', async () => {
    const M = await createRequire(import.meta.url)(glue)({ wasmBinary: readFileSync(path.join(dir, 'clipdb-kernel-tests.wasm')) });
    const r = rng(6);
    for (const dim of [...Array(70).keys()].map((d) => d + 1).concat([511, 512, 513, 1024])) {
      for (const extra of [0, 3]) {
        const rows = 5, stride = dim + extra;
        const q = M._malloc(2 * dim + 8), m = M._malloc(rows * stride + 8), o1 = M._malloc(4 * rows), o2 = M._malloc(4 * rows);
        const qo = q + 2 * (extra % 2), mo = m + extra; // unaligned starts too
        const qv = new Int16Array(M.HEAP8.buffer, qo, dim), mv = new Int8Array(M.HEAP8.buffer, mo, rows * stride);
        const qmax = Math.min(32767, Math.floor(2147483647 / (127 * dim)));
        qv.forEach((_, i, a) => { a[i] = Math.round(r() * qmax); });
        mv.forEach((_, i, a) => { a[i] = Math.round(r() * 127); });
        if (extra === 0) { qv.fill(qmax); mv.fill(-127, 0, dim); } // the largest sum allowed
        M._clipdb__wasm_test_qs8_dot(0, rows, dim, qo, mo, stride, o1);
        M._clipdb__wasm_test_qs8_dot(1, rows, dim, qo, mo, stride, o2);
        const a = new Int32Array(M.HEAP8.buffer, o1, rows), b = new Int32Array(M.HEAP8.buffer, o2, rows);
        for (let i = 0; i < rows; i++) {
          let ref = 0;
          for (let j = 0; j < dim; j++) ref += qv[j] * mv[i * stride + j];
          assert.equal(a[i], ref, `scalar dim ${dim} row ${i}`);
          assert.equal(b[i], ref, `simd dim ${dim} row ${i}`);
        }
        for (const p of [q, m, o1, o2]) M._free(p);
      }
    }
  });
});

describe('int8 candidate pass in wasm', () => {
  for (const compact of [false, true]) it(`returns exactly what scoring every row returns (keys, scores bit for bit) on 6,000 clustered 512-d rows${compact ? ', compact (16-bit rows)' : ''}`, async () => {
    const mod = await getModule();
    const dim = 512, n = 6000, r = rng(21);
    const ix = new WasmVectorIndex(mod, dim);
    const centres = Array.from({ length: 30 }, () => Float32Array.from({ length: dim }, () => r()));
    const vecs = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = centres[Math.floor((r() + 1) * 15) % 30], noise = i % 3 === 0 ? 1e-3 : i % 3 === 1 ? 1e-5 : 1e-6;
      for (let d = 0; d < dim; d++) vecs[i * dim + d] = c[d] + noise * r();
    }
    vecs.copyWithin(10 * dim, 3 * dim, 4 * dim); // an exact duplicate: tied scores
    ix.add(Uint32Array.from({ length: n }, (_, i) => i), vecs);
    if (compact) {
      const f32 = ix.get(77);
      ix.compact();
      assert.equal(ix.isCompact, true);
      // the 16-bit copy is within s/512 of each float32 value (s = max|v|/127)
      const c = ix.get(77), m = Math.max(...f32.map(Math.abs));
      for (let d = 0; d < dim; d++) assert.ok(Math.abs(c[d] - f32[d]) <= m / 127 / 512 * 1.0001 + 1e-7 * m, `element ${d}: ${c[d]} vs ${f32[d]}`);
      assert.notDeepEqual(c, f32);
    }
    const queries = [Float32Array.from({ length: dim }, () => r()), vecs.slice(3 * dim, 4 * dim), Float32Array.from(centres[4], (x) => x + 1e-4 * r())];
    const half = Uint32Array.from({ length: n / 2 }, (_, i) => 2 * i);
    const run = (on, q, k, cand) => { mod._clipdb__wasm_index_set_prefilter(ix.ptr, on); return ix.search(q, k, cand)[0]; };
    for (const q of queries) {
      for (const [k, cand] of [[1, null], [10, null], [200, null], [10, half]]) {
        const a = run(1, q, k, cand), b = run(0, q, k, cand);
        assert.deepEqual(Array.from(a.keys), Array.from(b.keys));
        assert.deepEqual(new Uint32Array(a.scores.buffer.slice(a.scores.byteOffset, a.scores.byteOffset + a.scores.byteLength)), new Uint32Array(b.scores.buffer.slice(b.scores.byteOffset, b.scores.byteOffset + b.scores.byteLength)), 'scores bit for bit');
      }
    }
    // the tie: the stored duplicate ranks right after its original (insertion order)
    const top = run(1, queries[1], 2, null);
    assert.deepEqual(Array.from(top.keys), [3, 10]);
    ix.free();
  });
});

describe('C vector index in wasm', () => {
  it('uses the SIMD kernel and matches a float64 brute force (batched, filtered)', async () => {
    const mod = await getModule();
    assert.equal(mod.UTF8ToString(mod._clipdb_index_kernel_name()), 'clipdb_f32_dot_ukernel__wasmsimd_u16');
    const base = mod._clipdb_allocated_bytes();
    const dim = 37, n = 500, r = rng(9);
    const ix = new WasmVectorIndex(mod, dim);
    const vecs = Float32Array.from({ length: n * dim }, () => r());
    const keys = Uint32Array.from({ length: n }, (_, i) => i * 3 + 1);
    ix.add(keys, vecs);
    assert.equal(ix.count, n);
    const queries = Float32Array.from({ length: 3 * dim }, () => r());
    const cand = Uint32Array.from(keys.filter((k) => k % 2 === 0));
    for (const candidates of [null, cand]) {
      const res = ix.search(queries, 10, candidates);
      assert.equal(res.length, 3);
      res.forEach(({ keys: got, scores }, qi) => {
        const q = queries.subarray(qi * dim, qi * dim + dim);
        const qn = Math.hypot(...q);
        const ref = [];
        for (let i = 0; i < n; i++) {
          if (candidates && !candidates.includes(keys[i])) continue;
          const v = vecs.subarray(i * dim, i * dim + dim);
          ref.push({ key: keys[i], score: v.reduce((s, x, j) => s + x * q[j], 0) / (Math.hypot(...v) * qn) });
        }
        ref.sort((a, b) => b.score - a.score);
        assert.equal(got.length, 10);
        for (let i = 0; i < 10; i++) {
          assert.ok(Math.abs(scores[i] - ref[i].score) < 1e-5);
          if (i + 1 < ref.length && ref[i].score - ref[i + 1].score > 1e-5 && (i === 0 || ref[i - 1].score - ref[i].score > 1e-5)) assert.equal(got[i], ref[i].key);
        }
      });
    }
    assert.equal(ix.remove(4), true);
    assert.equal(ix.remove(4), false);
    assert.throws(() => ix.add(Uint32Array.of(9), new Float32Array(dim)), (e) => e instanceof ClipdbError && e.code === 'BAD_VECTOR' && /zeros/.test(e.message));
    assert.throws(() => ix.add(Uint32Array.of(9), new Float32Array(dim - 1)), (e) => e.code === 'DIMENSION_MISMATCH' && /37/.test(e.message));
    assert.throws(() => ix.search(new Float32Array(dim).fill(NaN), 3), (e) => e.code === 'BAD_VECTOR');
    assert.equal(ix.count, n - 1);
    ix.free();
    assert.equal(mod._clipdb_allocated_bytes(), base);
  });
});
