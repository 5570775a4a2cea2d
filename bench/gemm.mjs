// f32 GEMM throughput of every kernel in the wasm build, single-threaded, on the ViT-B/32
// linear-layer shapes (M = 50 tokens; K, N in {768, 3072}). Usage:
//   node bench/gemm.mjs [--reps N] [--json]
// Needs build/wasm/clipdb-kernel-tests.{cjs,wasm} (scripts/build). GFLOP/s = 2·M·N·K / time,
// median of the timed runs, alternating kernels after a warm-up so machine noise is shared.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = path.join(root, 'build', 'wasm');
const args = process.argv.slice(2);
const reps = Number(args[args.indexOf('--reps') + 1] || 0) || 15;
const asJson = args.includes('--json');

const create = createRequire(import.meta.url)(path.join(wasmDir, 'clipdb-kernel-tests.cjs'));
const M = await create({ wasmBinary: await readFile(path.join(wasmDir, 'clipdb-kernel-tests.wasm')) });

const shapes = [
  { m: 50, k: 768, n: 768 },
  { m: 50, k: 768, n: 3072 },
  { m: 50, k: 3072, n: 768 },
];
const count = M._clipdb__wasm_test_gemm_kernel_count();
const kernels = [];
for (let i = 0; i < count; i++) {
  const name = M.UTF8ToString(M._clipdb__wasm_test_gemm_kernel_name(i));
  if (name.includes('wasmsimd') || !args.includes('--simd-only')) kernels.push({ i, name });
}
const simd = kernels.filter((k) => k.name.includes('wasmsimd') && !k.name.includes('_1x8_'));
const list = simd.length ? simd : kernels;
const def = M._clipdb__wasm_test_gemm_default();

function fill(ptr, n) {
  const v = new Float32Array(M.HEAPF32.buffer, ptr, n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37) * 0.5;
}

const results = [];
for (const { m, k, n } of shapes) {
  const a = M._malloc(4 * m * k), w = M._malloc(4 * n * k), b = M._malloc(4 * n), c = M._malloc(4 * m * n);
  const psize = M._clipdb__wasm_test_gemm_packed_size(n, k);
  const p = M._malloc(4 * psize + 64);
  fill(a, m * k), fill(w, n * k), fill(b, n);
  M._clipdb__wasm_test_gemm_pack(n, k, w, k, 1, b, p);
  const times = new Map(list.map((x) => [x.i, []]));
  const cpu = new Map(list.map((x) => [x.i, []]));
  const run = (i) => M._clipdb__wasm_test_gemm_run(i, m, n, k, a, k, p, c, n, 0, n, 0, 1);
  for (const { i } of list) for (let t = 0; t < 3; t++) run(i); // warm-up (tier-up)
  for (let t = 0; t < reps; t++)
    for (const { i } of list) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      run(i);
      times.get(i).push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.get(i).push((c.user + c.system) / 1000);
    }
  for (const { i, name } of list) {
    const s = times.get(i).sort((x, y) => x - y);
    const ms = s[s.length >> 1], best = s[0];
    const cs = cpu.get(i).sort((x, y) => x - y), cms = cs[cs.length >> 1];
    const flop = 2 * m * n * k;
    // cpu_gflops: from this process's CPU time (robust to waiting for a core on a busy machine)
    results.push({ kernel: name, default: i === def, m, k, n, ms, gflops: flop / (ms * 1e6), best_gflops: flop / (best * 1e6), cpu_gflops: flop / (cms * 1e6) });
  }
  for (const ptr of [a, w, b, c, p]) M._free(ptr);
}

if (asJson) {
  for (const r of results) console.log(JSON.stringify(r));
} else {
  console.log(`f32 GEMM, wasm SIMD128, 1 thread, Node ${process.version}; median of ${reps} (alternating)`);
  console.log('kernel                              M     K     N      ms   GFLOP/s  (best run)');
  for (const r of results)
    console.log(`${(r.kernel + (r.default ? ' *' : '')).padEnd(34)} ${String(r.m).padStart(3)} ${String(r.k).padStart(5)} ${String(r.n).padStart(5)} ${r.ms.toFixed(3).padStart(7)} ${r.gflops.toFixed(1).padStart(8)} ${r.best_gflops.toFixed(1).padStart(8)}`);
  const byKernel = new Map();
  for (const r of results) {
    const g = byKernel.get(r.kernel) || [0, 0, 0];
    byKernel.set(r.kernel, [g[0] + Math.log(r.gflops), g[1] + Math.log(r.best_gflops), g[2] + Math.log(r.cpu_gflops)]);
  }
  const f = (x) => Math.exp(x / shapes.length).toFixed(1).padStart(5);
  for (const [name, [med, best, c]] of byKernel)
    console.log(`geomean ${name.padEnd(36)} ${f(med)} GFLOP/s median, ${f(best)} best run, ${f(c)} by CPU time`);
}
