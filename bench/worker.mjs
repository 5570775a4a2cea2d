// One runtime in its own process, driven by bench/bench.mjs over IPC (so each side's peak
// memory is its own). Usage (forked): worker.mjs <runtime> <json spec>
//   runtime: clipdb-wasm | ort-web | ort-node
//   spec: { kind: 'image'|'text'|'both'|'textbatch', model: path (safetensors or .onnx),
//           textModel?: .onnx, resolution, tokens?: int[], batch?: int[][] (textbatch: token
//           lists of different lengths; clipdb gets them as they are, the peer padded to 77) }
// Protocol: the worker loads, computes the embedding once and sends {ready, embedding,
// load_ms}; then each {cmd:'run'} is answered with {ms}; {cmd:'exit'} with {peak_mb} before
// it exits. Inputs are deterministic (same pixels/tokens for both runtimes).
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [runtime, specJson] = process.argv.slice(2);
const spec = JSON.parse(specJson);

export function benchPixels(resolution) {
  const n = 3 * resolution * resolution;
  const px = new Float32Array(n);
  let s = 1234567;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0; // exact mod 2^32, as bench/clipdb-native.c
    px[i] = (s / 2 ** 32) * 4 - 2; // normalised pixels are roughly in [-2, 2]
  }
  return px;
}

async function clipdbWasm() {
  // web/src/module.mjs gives the ES6 glue what it needs under Node (__dirname, require).
  const { createModule } = await import(path.join(root, 'web', 'src', 'module.mjs'));
  const threads = spec.threads ?? 1;
  const M = await createModule({ threads, wasmBinary: readFileSync(path.join(root, 'web', 'dist', threads > 1 ? 'clipdb-mt.wasm' : 'clipdb.wasm')) });
  const check = (status, what) => {
    if (status !== 0) throw new Error(`${what}: ${M.UTF8ToString(M._clipdb_last_error())}`);
  };
  const { clipdb_model_init_from_files, clipdb_model_config_json } = await import(path.join(root, 'web', 'src', 'binding.mjs'));
  const t0 = performance.now();
  // The model is streamed (clipdb_file.read): each tensor is read from the file straight into
  // the wasm heap when the loader needs it, so the file is never held whole in memory.
  const size = statSync(spec.model).size;
  const fd = openSync(spec.model, 'r');
  const read = (offset, dst, n) => {
    for (let done = 0; done < n;) {
      const got = readSync(fd, M.HEAPU8, dst + done, Math.min(64 << 20, n - done), offset + done);
      if (got <= 0) throw new Error(`short read of ${spec.model}`);
      done += got;
    }
  };
  const textOnly = spec.kind === 'text' || spec.kind === 'textbatch';
  const r = clipdb_model_init_from_files(M, [{ name: 'model.safetensors', size, read }],
    { nThreads: threads, loadVision: !textOnly, loadText: spec.kind !== 'image' });
  closeSync(fd);
  if (r.status !== 0) throw new Error(`clipdb_model_init_from_files: ${r.message || M.UTF8ToString(M._clipdb_last_error())}`);
  const model = r.model;
  // the compute threads the model got (config "threads"), checked by bench.mjs
  const threadsUsed = clipdb_model_config_json(M, model).threads;
  const out = M._malloc(8);
  check(M._clipdb_session_init(model, out), 'clipdb_session_init');
  const session = M.HEAPU32[out >> 2];
  const load_ms = performance.now() - t0;
  const dim = spec.embedDim;
  if (spec.kind === 'textbatch') {
    // clip.tokenize layout [n][row_len], zero padded to the longest query
    const n = spec.batch.length, rowLen = Math.max(...spec.batch.map((t) => t.length));
    const tok = M._malloc(4 * n * rowLen), emb = M._malloc(4 * n * dim);
    M.HEAP32.fill(0, tok >> 2, (tok >> 2) + n * rowLen);
    spec.batch.forEach((t, i) => M.HEAP32.set(Int32Array.from(t), (tok >> 2) + i * rowLen));
    const run = () => {
      check(M._clipdb_text_embed_batch(session, tok, n, rowLen, emb), 'clipdb_text_embed_batch');
      return Array.from(M.HEAPF32.subarray(emb >> 2, (emb >> 2) + n * dim));
    };
    return { run, load_ms, threads: threadsUsed };
  }
  const emb = M._malloc(4 * 4096);
  let px = 0, tok = 0;
  if (spec.kind !== 'text') {
    const p = benchPixels(spec.resolution);
    px = M._malloc(p.byteLength);
    M.HEAPF32.set(p, px >> 2);
  }
  if (spec.kind !== 'image') {
    tok = M._malloc(4 * spec.tokens.length);
    M.HEAP32.set(Int32Array.from(spec.tokens), tok >> 2);
  }
  const run = () => {
    if (px) check(M._clipdb_image_embed(session, px, 1, emb), 'clipdb_image_embed');
    if (tok) check(M._clipdb_text_embed(session, tok, spec.tokens.length, emb + (px ? 4 * dim : 0)), 'clipdb_text_embed');
    return Array.from(M.HEAPF32.subarray(emb >> 2, (emb >> 2) + (px && tok ? 2 : 1) * dim));
  };
  return { run, load_ms, threads: threadsUsed };
}

async function ort(kind) {
  const ortMod = kind === 'web' ? await import('onnxruntime-web') : await import('onnxruntime-node');
  const o = ortMod.default ?? ortMod;
  const opts = kind === 'web'
    ? { executionProviders: ['wasm'] }
    : { executionProviders: ['cpu'], intraOpNumThreads: spec.threads ?? 1, interOpNumThreads: 1 };
  if (kind === 'web') {
    o.env.wasm.numThreads = spec.threads ?? 1;
    o.env.wasm.simd = true;
  }
  const t0 = performance.now();
  const sessions = [];
  if (spec.kind === 'image' || spec.kind === 'both') sessions.push(['image', await o.InferenceSession.create(spec.model, opts)]);
  if (spec.kind !== 'image') sessions.push(['text', await o.InferenceSession.create(spec.textModel ?? spec.model, opts)]);
  const load_ms = performance.now() - t0;
  const r = spec.resolution;
  const feeds = {
    image: { pixels: new o.Tensor('float32', benchPixels(r), [1, 3, r, r]) },
    text: spec.tokens && { tokens: new o.Tensor('int64', BigInt64Array.from(spec.ortTokens ?? spec.tokens, BigInt), [1, (spec.ortTokens ?? spec.tokens).length]) },
  };
  if (spec.kind === 'textbatch') {
    const rows = spec.batch.map((t) => [...t, ...new Array(77 - t.length).fill(0)]);
    feeds.text = { tokens: new o.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, 77]) };
  }
  const run = async () => {
    const out = [];
    for (const [k, s] of sessions) out.push(...(await s.run(feeds[k])).embedding.data);
    return out;
  };
  return { run, load_ms };
}

const impl = runtime === 'clipdb-wasm' ? await clipdbWasm() : await ort(runtime === 'ort-web' ? 'web' : 'node');
const embedding = await impl.run();
process.send({ ready: true, embedding, load_ms: impl.load_ms, threads: impl.threads });
process.on('message', async (msg) => {
  if (msg.cmd === 'run') {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await impl.run();
    const ms = performance.now() - t0, c = process.cpuUsage(c0);
    process.send({ ms, cpu_ms: (c.user + c.system) / 1000 });
  } else if (msg.cmd === 'exit') {
    process.send({ peak_mb: process.resourceUsage().maxRSS / 1024 });
    process.exit(0);
  }
});
