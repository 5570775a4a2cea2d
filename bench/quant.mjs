// clipdb int8 against clipdb float32, both in the wasm build (1 thread), on the same random
// published architectures (scripts/gen-random-model.mjs, seed 7): the int8 model is the float
// one through quantizeModel. Per case, after one warm-up each, runs alternate between the two
// models and the medians are compared; also the cosine of each int8 embedding to the float32
// one, the file sizes and the weights held. One JSON row per case is appended to
// bench/results.jsonl with `peer` naming the other side ("clipdb-wasm-float32").
//   node bench/quant.mjs [--runs N] [--cases vit-b-32-image-int8,...]
// (The onnxruntime-web peers, q8 and float32, are bench/bench.mjs's *-int8 cases, run by
// bench/run --wasm on its own random weights and ONNX graphs.)
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateModel } from '../scripts/gen-random-model.mjs';
import { loadModel, quantizeModel, createModule } from '../web/src/index.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const runs = Number(opt('--runs', 5));
const only = opt('--cases', '') ? opt('--cases', '').split(',') : null;

let s = 42;
const rid = () => ((s = (s * 1103515245 + 12345) >>> 0) % 49000) + 256;
const tok77 = Int32Array.from([49406, ...Array.from({ length: 75 }, rid), 49407]);
const pixels = new Float32Array(3 * 224 * 224);
for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.0007) * 1.2 + Math.cos(i * 0.013) * 0.4;

const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / Math.sqrt(aa * bb);
};
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];

const cases = [
  { case: 'vit-b-32-image-int8', arch: 'ViT-B/32', run: (m) => m.embedImage(pixels) },
  { case: 'vit-b-32-text-77-int8', arch: 'ViT-B/32', run: (m) => m.embedText(tok77) },
  { case: 'vit-b-32-both-towers-int8', arch: 'ViT-B/32', run: (m) => [m.embedImage(pixels), m.embedText(tok77)] },
  { case: 'rn50-image-int8', arch: 'RN50', run: (m) => m.embedImage(pixels) },
].filter((c) => !only || only.includes(c.case));

const models = new Map();
async function pair(arch) {
  if (!models.has(arch)) {
    const f16 = generateModel(arch, { dtype: 'F16', seed: 7 });
    const int8 = await quantizeModel(f16);
    const float = await loadModel({ 'model.safetensors': f16 });
    const q = await loadModel({ 'model.safetensors': int8 });
    models.set(arch, { float, q, sizes: { float32_bytes: 2 * f16.length, f16_bytes: f16.length, int8_bytes: int8.length } });
  }
  return models.get(arch);
}

for (const c of cases) {
  const { float, q, sizes } = await pair(c.arch);
  const ef = [c.run(float)].flat(), eq = [c.run(q)].flat(); // warm-up + accuracy
  const cos = ef.map((e, i) => cosine(e, eq[i]));
  const tf = [], tq = [];
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    c.run(q);
    tq.push(performance.now() - t);
    t = performance.now();
    c.run(float);
    tf.push(performance.now() - t);
  }
  const row = {
    date: new Date().toISOString(), case: c.case, runtime: 'clipdb-wasm-int8', peer: 'clipdb-wasm-float32',
    ms: median(tq), peer_ms: median(tf), ratio: median(tq) / median(tf), cosine_to_float32: cos,
    weight_bytes: q.config.weight_bytes, peer_weight_bytes: float.config.weight_bytes, ...sizes,
    runs, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), cpus: os.cpus().length, cpu: os.cpus()[0].model,
  };
  console.log(JSON.stringify(row));
  appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(row) + '\n');
}
for (const { float, q } of models.values()) float.free(), q.free();

// Memory: the wasm heap of a fresh module after loading one tower of the int8 ViT-B/32 from
// bytes and embedding with it (the heap only grows, so its size is the peak), against float32.
if (!only || only.includes('vit-b-32-text-int8-heap')) {
  const f16 = generateModel('ViT-B/32', { dtype: 'F16', seed: 7 });
  const int8 = await quantizeModel(f16);
  const heap = {};
  for (const [label, bytes] of [['int8', int8], ['float32', f16]]) {
    const mod = await createModule();
    const m = await loadModel({ 'model.safetensors': bytes }, { module: mod, loadVision: false });
    m.embedText(tok77);
    heap[label] = mod.HEAPU8.length;
    m.free();
  }
  const row = {
    date: new Date().toISOString(), case: 'vit-b-32-text-int8-heap', runtime: 'clipdb-wasm-int8', peer: 'clipdb-wasm-float32',
    heap_bytes: heap.int8, peer_heap_bytes: heap.float32, ratio: heap.int8 / heap.float32,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), cpus: os.cpus().length, cpu: os.cpus()[0].model,
  };
  console.log(JSON.stringify(row));
  appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(row) + '\n');
}
