#!/usr/bin/env node
// Exact top-10 cosine search over N random D-dimensional vectors (default 100,000 x 512):
// the C index in the wasm build (single thread, the f32-dot kernel the build selected), and in
// the same run two peers: the same index with its int8 candidate pass turned off (every row
// scored in float32; results must be identical, which is checked), and a plain-JS loop over one
// Float32Array with the same top-10 selection. --clustered draws the rows around 50 centres
// with small noise (many near-ties, as in a photo library of similar pictures), the harder case
// for the candidate pass.
// Reports per-query milliseconds (median of Q queries, and all Q in one batched call) and
// the ratios. Appends one JSON line to
// bench/results.jsonl.
//   node bench/search.mjs [--n 100000] [--dim 512] [--k 10] [--queries 20] [--clustered]
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getModule, WasmVectorIndex } from '../web/src/index.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : d; };
const N = opt('n', 100000), DIM = opt('dim', 512), K = opt('k', 10), Q = opt('queries', 20);

let s = 2463534242;
const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 - 0.5; };

const clustered = args.includes('--clustered');
const centres = Array.from({ length: 50 }, () => Float32Array.from({ length: DIM }, rand));
// Data: unit vectors (both sides get the same normalised data; normalising is not timed).
const data = new Float32Array(N * DIM);
for (let i = 0; i < N; i++) {
  let ss = 0;
  const c = centres[i % 50];
  for (let j = 0; j < DIM; j++) { const x = clustered ? c[j] + 0.05 * rand() : rand(); data[i * DIM + j] = x; ss += x * x; }
  const inv = 1 / Math.sqrt(ss);
  for (let j = 0; j < DIM; j++) data[i * DIM + j] *= inv;
}
const queries = Array.from({ length: Q }, (_, q) => Float32Array.from({ length: DIM }, (_, j) => (clustered ? centres[q % 50][j] + 0.05 * rand() : rand())));

const mod = await getModule();
const kernel = mod.UTF8ToString(mod._clipdb_index_kernel_name());
const index = new WasmVectorIndex(mod, DIM);
const CH = 10000;
for (let i = 0; i < N; i += CH) {
  const n = Math.min(CH, N - i);
  index.add(Uint32Array.from({ length: n }, (_, j) => i + j), data.subarray(i * DIM, (i + n) * DIM));
}

// Peer: plain JS, Float32Array rows, dot products in float64 JS numbers, top-k kept in a small
// sorted array (insertion), the usual hand-written brute force.
function jsSearch(q, k) {
  let qn = 0;
  for (let j = 0; j < DIM; j++) qn += q[j] * q[j];
  qn = 1 / Math.sqrt(qn);
  const topS = new Float64Array(k).fill(-Infinity), topI = new Int32Array(k).fill(-1);
  for (let i = 0; i < N; i++) {
    let d = 0;
    const o = i * DIM;
    for (let j = 0; j < DIM; j++) d += q[j] * data[o + j];
    d *= qn;
    if (d > topS[k - 1]) {
      let p = k - 1;
      while (p > 0 && topS[p - 1] < d) { topS[p] = topS[p - 1]; topI[p] = topI[p - 1]; p--; }
      topS[p] = d; topI[p] = i;
    }
  }
  return topI;
}

const median = (xs) => { const a = [...xs].sort((x, y) => x - y); return a[a.length >> 1]; };
function time(fn) {
  fn(queries[0]); // warm-up (JIT, page-in)
  const ts = [];
  for (const q of queries) { const t0 = performance.now(); fn(q); ts.push(performance.now() - t0); }
  return median(ts);
}

let agree = 0;
for (const q of queries.slice(0, 5)) {
  const a = index.search(q, K)[0].keys, b = jsSearch(q, K);
  agree += Number(a[0] === b[0]);
}
const wasmMs = time((q) => index.search(q, K));
// Peer 1: the same index scoring every row in float32 (candidate pass off); the answers must be
// the same keys and the same scores, bit for bit.
let identical = 0;
for (const q of queries) {
  const a = index.search(q, K)[0];
  mod._clipdb__wasm_index_set_prefilter(index.ptr, 0);
  const b = index.search(q, K)[0];
  mod._clipdb__wasm_index_set_prefilter(index.ptr, 1);
  identical += Number(a.keys.join() === b.keys.join() && a.scores.join() === b.scores.join());
}
mod._clipdb__wasm_index_set_prefilter(index.ptr, 0);
const fullMs = time((q) => index.search(q, K));
mod._clipdb__wasm_index_set_prefilter(index.ptr, 1);
const wasmMs2 = time((q) => index.search(q, K)); // again after the peer, so load drifts show
// Batched: all Q queries in one clipdb_index_search call (each row block read once per batch).
const batch = new Float32Array(Q * DIM);
queries.forEach((q, i) => batch.set(q, i * DIM));
index.search(batch, K);
const batchTimes = [];
for (let r = 0; r < 3; r++) { const t0 = performance.now(); index.search(batch, K); batchTimes.push((performance.now() - t0) / Q); }
const batchMs = median(batchTimes);
const jsMs = time((q) => jsSearch(q, K));
// Kernel level, same run: the f32-dot SIMD128 kernel against its scalar twin over the same
// matrix (test-only module build/wasm/clipdb-kernel-tests; skipped if it is not built).
let kernelRatio = null;
const glue = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'wasm', 'clipdb-kernel-tests.cjs');
if (existsSync(glue)) {
  const { createRequire } = await import('node:module');
  const M = await createRequire(import.meta.url)(glue)({ wasmBinary: readFileSync(glue.replace(/\.cjs$/, '.wasm')) });
  const pm = M._malloc(data.byteLength), pq = M._malloc(DIM * 4), po = M._malloc(N * 4);
  if (pm && pq && po) {
    M.HEAPF32.set(data, pm >> 2);
    M.HEAPF32.set(queries[0], pq >> 2);
    const run = (isa) => { M._clipdb__wasm_test_f32_dot(isa, N, DIM, pq, pm, DIM, po); const ts = []; for (let r = 0; r < 5; r++) { const t0 = performance.now(); M._clipdb__wasm_test_f32_dot(isa, N, DIM, pq, pm, DIM, po); ts.push(performance.now() - t0); } return median(ts); };
    const scalarMs = run(0), simdMs = run(1);
    kernelRatio = { scalar_ms: +scalarMs.toFixed(2), wasmsimd_u16_ms: +simdMs.toFixed(2), ratio: +(scalarMs / simdMs).toFixed(2) };
  }
}
const result = {
  bench: 'search', date: new Date().toISOString(), n: N, dim: DIM, k: K, queries: Q, kernel, clustered,
  wasm_ms_per_query: +wasmMs.toFixed(2), wasm_ms_per_query_again: +wasmMs2.toFixed(2),
  full_scan_ms_per_query: +fullMs.toFixed(2), candidate_pass_speedup: +(fullMs / Math.max(wasmMs, wasmMs2)).toFixed(2),
  identical_to_full_scan: `${identical}/${Q}`, js_ms_per_query: +jsMs.toFixed(2),
  speedup_vs_js: +(jsMs / wasmMs).toFixed(2), wasm_batched_ms_per_query: +batchMs.toFixed(2),
  batched_speedup_vs_js: +(jsMs / batchMs).toFixed(2), f32_dot_kernel: kernelRatio, top1_agree_of_5: agree, node: process.version,
};
console.log(JSON.stringify(result));
console.log(`top-${K} of ${N} x ${DIM}${clustered ? ' (clustered)' : ''}: candidate pass ${wasmMs.toFixed(1)} / ${wasmMs2.toFixed(1)} ms/query vs full float32 scan ${fullMs.toFixed(1)} ms (answers identical ${identical}/${Q}); wasm (${kernel})`);
console.log(`top-${K} of ${N} x ${DIM}: wasm (${kernel}) ${wasmMs.toFixed(1)} ms/query, batched ${Q} queries ${batchMs.toFixed(1)} ms/query, plain JS ${jsMs.toFixed(1)} ms/query; ratio ${(jsMs / wasmMs).toFixed(2)}x single, ${(jsMs / batchMs).toFixed(2)}x batched`);
if (kernelRatio) console.log(`f32-dot over ${N} x ${DIM}: scalar ${kernelRatio.scalar_ms} ms, wasmsimd_u16 ${kernelRatio.wasmsimd_u16_ms} ms, ratio ${kernelRatio.ratio}x`);
index.free();
appendFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.jsonl'), JSON.stringify(result) + '\n');
