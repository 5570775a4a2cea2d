// Memory of the int8 ViT-B/32 against float32 of the same weights (bench/run's random
// bench/work/vit-b-32.safetensors and its `clipdb quantize` int8 file).
//   node bench/int8-memory.mjs [--work DIR]
// 1. Peak RSS of a fresh process that loads both towers and embeds one image and one 7-token
//    text: Node with clipdb's wasm build (web/src/index.mjs loadModel, the file given as
//    {path}, which streams, and as bytes, which JS holds while the loader reads them in place,
//    tensor by tensor), and the
//    native CLI (`clipdb embed --pixels --tokens`, peak from /usr/bin/time -v). Rows
//    `vit-b-32-both-towers-int8-rss`, one per target, the float32 file as `peer`.
// 2. The wasm heap after loading only the text tower from bytes and embedding a 77-token text
//    (a fresh module each; the heap never shrinks, so its size is the peak): the two-tower file
//    through the Node entry and the edge entry (both read the bytes in place, tensor
//    by tensor), and a text-only file (the visual.* tensors left out, then `clipdb quantize`)
//    through both. Rows `vit-b-32-text-int8-heap`.
// Every measurement runs in its own child process, int8 then float32. File sizes go in the rows.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const MB = 2 ** 20;

let s = 42;
const rid = () => ((s = (s * 1103515245 + 12345) >>> 0) % 49000) + 256;
const tok77 = Int32Array.from([49406, ...Array.from({ length: 75 }, rid), 49407]);
const tok7 = Int32Array.from([49406, 320, 1125, 539, 320, 2368, 49407]);
const pixels = () => {
  const p = new Float32Array(3 * 224 * 224);
  for (let i = 0; i < p.length; i++) p[i] = Math.sin(i * 0.0007) * 1.2 + Math.cos(i * 0.013) * 0.4;
  return p;
};

// ---- child: one measurement, answered over IPC ----
if (args[0] === '--child') {
  const [, what, file, how] = args;
  try {
    if (what === 'rss') {
      const { loadModel } = await import('../web/src/index.mjs');
      const data = how === 'path' ? { path: file } : readFileSync(file);
      const m = await loadModel({ 'model.safetensors': data });
      const e = [m.embedImage(pixels()), m.embedText(tok7)];
      if (e.some((v) => !v.every(Number.isFinite))) throw new Error('non-finite embedding');
      process.send({ peak_bytes: process.resourceUsage().maxRSS * 1024 });
    } else {
      let mod, loadModel;
      if (how === 'edge') {
        const edge = await import('../web/src/edge.mjs');
        mod = await edge.createModule({ wasmBinary: readFileSync(path.join(root, 'web', 'dist', 'clipdb.wasm')) });
        loadModel = (files, o) => edge.loadModel(files, { ...o, module: mod });
      } else {
        const node = await import('../web/src/index.mjs');
        mod = await node.createModule();
        loadModel = (files, o) => node.loadModel(files, { ...o, module: mod });
      }
      const bytes = readFileSync(file);
      const m = await loadModel({ 'model.safetensors': bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }, { loadVision: false });
      if (!m.embedText(tok77).every(Number.isFinite)) throw new Error('non-finite embedding');
      process.send({ heap_bytes: mod.HEAPU8.length });
    }
  } catch (e) {
    process.send({ error: `${what} ${file} (${how}): ${e.message}` });
  }
  process.exit(0);
}

// ---- coordinator ----
const work = path.resolve(args.includes('--work') ? args[args.indexOf('--work') + 1] : path.join(here, 'work'));
const cli = path.join(root, 'build', 'native', 'clipdb');
const f32 = path.join(work, 'vit-b-32.safetensors'), int8 = path.join(work, 'vit-b-32-int8.safetensors');
const textF32 = path.join(work, 'vit-b-32-text.safetensors'), textInt8 = path.join(work, 'vit-b-32-text-int8.safetensors');
for (const f of [f32, int8, cli]) {
  if (!existsSync(f)) {
    console.log(`int8-memory: skipped, ${f} is missing (run bench/run --wasm first)`);
    process.exit(0);
  }
}

// The text tower alone: the same file without its visual.* tensors (header rewritten, the
// other tensors' bytes copied as they are), then quantized by the CLI.
function textOnly(src, dst) {
  const fd = openSync(src, 'r');
  const len = Buffer.alloc(8);
  readSync(fd, len, 0, 8, 0);
  const n = Number(len.readBigUInt64LE(0));
  const hbuf = Buffer.alloc(n);
  readSync(fd, hbuf, 0, n, 8);
  const header = JSON.parse(hbuf.toString('utf8'));
  const out = {}, parts = [];
  let off = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') out[name] = t;
    else if (!name.startsWith('visual.')) {
      const size = t.data_offsets[1] - t.data_offsets[0];
      out[name] = { ...t, data_offsets: [off, off + size] };
      parts.push([t.data_offsets[0], size]);
      off += size;
    }
  }
  let h = Buffer.from(JSON.stringify(out));
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const o = openSync(dst, 'w');
  const l = Buffer.alloc(8);
  l.writeBigUInt64LE(BigInt(h.length));
  writeSync(o, l);
  writeSync(o, h);
  for (const [start, size] of parts) {
    const b = Buffer.alloc(size);
    readSync(fd, b, 0, size, 8 + n + start);
    writeSync(o, b);
  }
  closeSync(o);
  closeSync(fd);
}
if (!existsSync(textF32) || statSync(textF32).mtimeMs < statSync(f32).mtimeMs) textOnly(f32, textF32);
if (!existsSync(textInt8) || statSync(textInt8).mtimeMs < Math.max(statSync(textF32).mtimeMs, statSync(cli).mtimeMs)) {
  execFileSync(cli, ['quantize', '--model', textF32, '--out', textInt8, '--dtype', 'int8'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function child(what, file, how) {
  return new Promise((resolve, reject) => {
    const c = fork(fileURLToPath(import.meta.url), ['--child', what, file, how], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got = null;
    c.on('message', (m) => (got = m));
    c.on('exit', (code) => {
      if (got?.error) reject(new Error(got.error));
      else if (!got) reject(new Error(`${what} ${file} (${how}): child exited with status ${code}`));
      else resolve(got);
    });
  });
}

function nativePeak(file) {
  const px = path.join(work, 'int8-memory-pixels.bin');
  if (!existsSync(px)) writeFileSync(px, Buffer.from(pixels().buffer));
  const r = spawnSync('/usr/bin/time', ['-v', cli, 'embed', '--model', file, '--pixels', px, '--tokens', Array.from(tok7).join(',')], { encoding: 'utf8' });
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`clipdb embed --model ${file}: status ${r.status}: ${r.stderr.slice(-300)}`);
  if (r.stdout.trim().split('\n').length !== 2) throw new Error(`clipdb embed --model ${file}: expected two embeddings`);
  return Number(m[1]) * 1024;
}

const common = () => ({
  loadavg: os.loadavg().map((x) => +x.toFixed(2)), cpus: os.cpus().length, cpu: os.cpus()[0].model,
  node: process.version, date: new Date().toISOString(),
});
const emit = (row) => {
  console.log(JSON.stringify(row));
  appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(row) + '\n');
};
const size = (f) => statSync(f).size;
console.log(`int8-memory: load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

const rss = [
  ['wasm-node-path', async (f) => (await child('rss', f, 'path')).peak_bytes],
  ['wasm-node-bytes', async (f) => (await child('rss', f, 'bytes')).peak_bytes],
  ['native-cli', async (f) => nativePeak(f)],
];
for (const [target, measure] of rss) {
  const a = await measure(int8), b = await measure(f32);
  emit({
    case: 'vit-b-32-both-towers-int8-rss', target, runtime: 'clipdb-int8', peer: 'clipdb-float32',
    peak_mb: +(a / MB).toFixed(1), peer_peak_mb: +(b / MB).toFixed(1), ratio: +(a / b).toFixed(3),
    file_bytes: size(int8), peer_file_bytes: size(f32), ...common(),
  });
}
const heaps = [
  ['two-tower file, Node entry', int8, f32, 'node'],
  ['two-tower file, edge entry', int8, f32, 'edge'],
  ['text-only file, Node entry', textInt8, textF32, 'node'],
  ['text-only file, edge entry', textInt8, textF32, 'edge'],
];
for (const [source, a, b, how] of heaps) {
  const ha = (await child('heap', a, how)).heap_bytes, hb = (await child('heap', b, how)).heap_bytes;
  emit({
    case: 'vit-b-32-text-int8-heap', source, runtime: 'clipdb-wasm-int8', peer: 'clipdb-wasm-float32',
    heap_bytes: ha, peer_heap_bytes: hb, heap_mb: +(ha / MB).toFixed(1), peer_heap_mb: +(hb / MB).toFixed(1),
    ratio: +(ha / hb).toFixed(3), file_bytes: size(a), peer_file_bytes: size(b), ...common(),
  });
}
