// int8 GEMM throughput of the wasm SIMD128 kernels, single-threaded, in one process: the whole
// int8 path of a layer (per-row quantization of A, the kernel, the float epilogue) on the
// shapes the int8 encoders run (ViT-B/32 image m = 50, text m = 77, RN50 convolutions as im2col
// GEMMs). Kernels alternate run by run after a warm-up, so machine noise is shared; GMAC/s =
// M·N·K / median time. Usage:
//   node bench/qs8-gemm.mjs [--json] [KERNEL ...]     (default: every wasmsimd qs8 kernel)
//   node bench/qs8-gemm.mjs --quantize                 (the activation quantizer alone)
// Needs build/wasm/clipdb-kernel-tests.{cjs,wasm} (scripts/build).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'build', 'wasm');
const args = process.argv.slice(2);
const asJson = args.includes('--json');
const create = createRequire(import.meta.url)(path.join(dir, 'clipdb-kernel-tests.cjs'));
const M = await create({ wasmBinary: readFileSync(path.join(dir, 'clipdb-kernel-tests.wasm')) });

// --quantize: only the per-row activation quantizer (max|x| then scale, round, clamp, narrow),
// ns per value over ViT-B/32's 50 rows of 768, median of 9 runs.
if (args.includes('--quantize')) {
  const k = 768, rows = 50, x = M._malloc(4 * k * rows), q = M._malloc(k * rows + 64);
  for (let i = 0; i < k * rows; i++) M.HEAPF32[(x >> 2) + i] = Math.sin(i * 0.37) * 3;
  const t = [];
  for (let rep = 0; rep < 10; rep++) {
    const t0 = performance.now();
    for (let it = 0; it < 200; it++) for (let r = 0; r < rows; r++) M._clipdb__wasm_test_qs8_quantize_row(k, k, x + 4 * r * k, q + r * k);
    if (rep > 0) t.push(((performance.now() - t0) * 1e6) / (200 * rows * k));
  }
  t.sort((a, b) => a - b);
  console.log(`qs8 per-row quantization, wasm SIMD128, Node ${process.version}: ${t[t.length >> 1].toFixed(3)} ns per value (median of 9; ${rows} rows of ${k})`);
  process.exit(0);
}

const table = [];
for (let i = 0; i < M._clipdb__wasm_test_qs8_kernel_count(); i++) table.push({ i, name: M.UTF8ToString(M._clipdb__wasm_test_qs8_kernel_name(i)) });
const wanted = args.filter((a) => !a.startsWith('--'));
const kernels = wanted.length ? table.filter((k) => wanted.includes(k.name)) : table.filter((k) => k.name.includes('wasmsimd'));
const def = M.UTF8ToString(M._clipdb__wasm_test_qs8_default());

const shapes = [
  ['vit image qkv', 50, 2304, 768], ['vit image c_fc', 50, 3072, 768], ['vit image c_proj', 50, 768, 3072],
  ['text c_fc', 77, 2048, 512],
  ['rn50 stem conv3', 12544, 64, 288], ['rn50 layer1 conv2', 3136, 64, 576], ['rn50 layer1 conv3', 3136, 256, 64],
  ['rn50 layer2 conv2', 3136, 128, 1152], ['rn50 layer3 conv2', 784, 256, 2304], ['rn50 layer4 conv2', 196, 512, 4608],
];
const rows = [];
for (const [label, m, n, k] of shapes) {
  const h = M._clipdb__wasm_test_qs8_bench_new(m, n, k);
  if (!h) throw new Error(`out of memory for ${label}`);
  const reps = Math.max(1, Math.round(1e8 / (m * n * k)));
  const t = kernels.map(() => []);
  for (const { i } of kernels) M._clipdb__wasm_test_qs8_bench_run(h, i, 2); // warm-up (tier-up)
  for (let r = 0; r < 9; r++)
    kernels.forEach(({ i }, j) => {
      const t0 = performance.now();
      M._clipdb__wasm_test_qs8_bench_run(h, i, reps);
      t[j].push((performance.now() - t0) / reps);
    });
  kernels.forEach(({ name }, j) => {
    const s = t[j].sort((a, b) => a - b);
    rows.push({ shape: label, m, n, k, kernel: name, default: name === def, ms: s[s.length >> 1], gmacs: (m * n * k) / (s[s.length >> 1] * 1e6) });
  });
}
if (asJson) for (const r of rows) console.log(JSON.stringify(r));
else {
  console.log(`int8 GEMM (quantize A + kernel + epilogue), wasm SIMD128, 1 thread, Node ${process.version}; median of 9, alternating; * = default`);
  for (const r of rows)
    console.log(`${r.shape.padEnd(18)} ${String(r.m).padStart(5)} ${String(r.n).padStart(5)} ${String(r.k).padStart(5)}  ${(r.kernel + (r.default ? ' *' : '')).padEnd(40)} ${r.ms.toFixed(3).padStart(8)} ms ${r.gmacs.toFixed(1).padStart(6)} GMAC/s`);
  const geo = new Map();
  for (const r of rows) geo.set(r.kernel, [...(geo.get(r.kernel) || []), Math.log(r.gmacs)]);
  for (const [name, v] of geo) console.log(`geomean ${name.padEnd(40)} ${Math.exp(v.reduce((a, b) => a + b, 0) / v.length).toFixed(1)} GMAC/s`);
}
