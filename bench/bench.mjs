// clipdb vs a peer runtime on the same CLIP architectures and the same random weights.
//   node bench/bench.mjs [--native [--native-backend xnnpack|simd]] [--threads N] [--runs N] [--gap-ms MS] [--cases a,b] [--work DIR]
// wasm (default): clipdb's wasm build (web/dist) vs onnxruntime-web (wasm backend, SIMD,
// numThreads as --threads, default 1), both in Node. --native: clipdb's native build with the given backend
// (bench/work/clipdb-native-<backend>, default xnnpack) vs onnxruntime-node (CPU, 1 intra-op
// thread).
// Each runtime runs in its own process (peak memory = that process's max RSS). Before timing,
// both must produce the same embedding (cosine >= 0.9999, max |diff| <= 1e-3·max |ref|);
// then, after warm-up, runs alternate between the two and the medians are compared.
// The *-int8 cases (wasm only) time clipdb's int8 file against two peers in the same run,
// onnxruntime-web on the q8 graph (bench/onnx_q8.py) and on the float32 graph: one row each,
// `peer` naming it, with the cosines of clipdb's int8 embedding to that peer's and to clipdb's
// own float32 embedding (see int8Case below).
// Appends one JSON object per case to bench/results.jsonl. bench/run prepares the files.
import { fork, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const native = args.includes('--native');
const nativeBackend = opt('--native-backend', 'xnnpack');
const runs = Number(opt('--runs', 10));
const work = path.resolve(opt('--work', path.join(here, 'work')));
const only = opt('--cases', '') ? opt('--cases', '').split(',') : null;
// Threads of both runtimes (clipdb: n_threads, the threaded wasm module above 1; onnxruntime:
// numThreads / intraOpNumThreads). bench/run runs every case at 1 and at 2 threads.
const threads = Number(opt('--threads', 1));
if (!Number.isInteger(threads) || threads < 1 || threads > 16) throw new Error(`--threads must be 1..16, got ${opt('--threads')}`);
// Before every timed run (and warm-up run) the bench waits until both runtimes' processes are
// quiet: their threads' CPU time (/proc/<pid>/task/*/schedstat, ns) grew by less than 0.5 ms
// over the last 5 ms (at most 1 s). After a run both runtimes' pools keep their threads spinning
// for a while (measured here at 2 threads after a ViT-B/32 image: onnxruntime-node about 35-45
// ms of CPU over the next ~50 ms, clipdb's pthreadpool about 20 ms), and without the wait those
// threads took cores from the other runtime's run that follows (clipdb ViT-B/32 at 2 threads:
// 54 ms right after an onnxruntime-node run, 33 ms after 100 ms idle). A fixed idle time also
// works but makes short runs pay for waking from idle (a 77-token text in wasm at 1 thread:
// 0.82-0.90 of the peer after 150 ms idle against 0.65-0.77 back to back), which the quiet wait
// mostly avoids. `--gap-ms N` adds N ms of idle on top (default 0). Where /proc is not there,
// the wait is a fixed 150 ms.
const gapMs = Number(opt('--gap-ms', 0));
if (!(gapMs >= 0)) throw new Error(`--gap-ms must be >= 0, got ${opt('--gap-ms')}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function cpuNs(pids) {
  let ns = 0;
  for (const pid of pids) {
    let tasks = [];
    try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return null; }
    for (const t of tasks) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
    }
  }
  return ns;
}
const quietWaits = [];
process.on('exit', () => {
  const q = [...quietWaits].sort((x, y) => x - y);
  if (q.length) console.log(`waits for quiet before runs: median ${q[q.length >> 1].toFixed(1)} ms, max ${q[q.length - 1].toFixed(1)} ms`);
});
async function idle(...workers) {
  if (gapMs > 0) await sleep(gapMs);
  const pids = workers.map((w) => w.child.pid);
  const t0 = performance.now();
  let before = cpuNs(pids);
  if (before === null) return sleep(150);
  while (performance.now() - t0 < 1000) {
    await sleep(5);
    const now = cpuNs(pids);
    if (now - before < 0.5e6) break;
    before = now;
  }
  quietWaits.push(performance.now() - t0);
}
const arch = JSON.parse(readFileSync(path.join(root, '..', 'shared', 'golden', 'architectures.json'), 'utf8')).models;

// Tokens: start-of-text 49406, end-of-text 49407 (the largest id); ids in between are random
// but fixed. The 77-token text fills the context (end-of-text last), so both runtimes compute
// 77 positions; the 7-token query is what a search box sends.
const SOT = 49406, EOT = 49407;
let s = 42;
const rid = () => ((s = (s * 1103515245 + 12345) >>> 0) % 49000) + 256;
const tok77 = [SOT, ...Array.from({ length: 75 }, rid), EOT];
const tok7 = [SOT, ...Array.from({ length: 5 }, rid), EOT];
// 32 search-box queries of 5 to 20 tokens (start, 3..18 ids, end).
const queries32 = Array.from({ length: 32 }, (_, i) => [SOT, ...Array.from({ length: 3 + ((i * 7) % 16) }, rid), EOT]);
const pad77 = (t) => [...t, ...new Array(77 - t.length).fill(0)];

const vit = { model: path.join(work, 'vit-b-32.safetensors'), resolution: 224, embedDim: arch['ViT-B/32'].embed_dim };
const rn50 = { model: path.join(work, 'rn50.safetensors'), resolution: 224, embedDim: arch.RN50.embed_dim };
const onnx = (f) => path.join(work, f);
const cases = [
  { case: 'vit-b-32-image', kind: 'image', ...vit, peerModel: onnx('vit-b-32-image.onnx') },
  { case: 'rn50-image', kind: 'image', ...rn50, peerModel: onnx('rn50-image.onnx') },
  { case: 'vit-b-32-text-77', kind: 'text', ...vit, tokens: tok77, peerModel: onnx('vit-b-32-text77.onnx') },
  // The target case: a 7-token query against the peer's usual 77-position graph.
  { case: 'vit-b-32-text-7-query-vs-peer-77', kind: 'text', ...vit, tokens: tok7, ortTokens: pad77(tok7), peerModel: onnx('vit-b-32-text77.onnx') },
  // The same query against a peer graph cut to 7 positions (what the peer could do at best).
  { case: 'vit-b-32-text-7-query-vs-peer-7', kind: 'text', ...vit, tokens: tok7, peerModel: onnx('vit-b-32-text7.onnx') },
  // Memory: one process loads both towers (fp32) and embeds one image and the 7-token query.
  // 32 queries in one call: clipdb groups them by length (clipdb_text_embed_batch), the peer
  // runs its usual [32, 77] batch (a graph exported with a dynamic batch dimension).
  { case: 'vit-b-32-text-batch-32-queries', kind: 'textbatch', ...vit, batch: queries32, peerModel: onnx('vit-b-32-text77-batch.onnx'), wasmOnly: true },
  { case: 'vit-b-32-both-towers', kind: 'both', ...vit, tokens: tok7, ortTokens: pad77(tok7), peerModel: onnx('vit-b-32-image.onnx'), peerTextModel: onnx('vit-b-32-text77.onnx') },
  // int8 (wasm only): clipdb's int8 file (bench/run: `clipdb quantize` of the same safetensors)
  // against two peers in one run, onnxruntime-web on the q8 graph (bench/onnx_q8.py) and on the
  // float32 graph; clipdb float32 gives the reference embedding for the cosines.
  ...[
    ['vit-b-32-image-int8', 'image', vit, {}, 'vit-b-32-image'],
    ['rn50-image-int8', 'image', rn50, {}, 'rn50-image'],
    ['vit-b-32-text-77-int8', 'text', vit, { tokens: tok77 }, 'vit-b-32-text77'],
    // the search-box case in int8: the 7-token query against the peers' 77-position graphs
    ['vit-b-32-text-7-query-vs-peer-77-int8', 'text', vit, { tokens: tok7, ortTokens: pad77(tok7) }, 'vit-b-32-text77'],
    ['vit-b-32-both-towers-int8', 'both', vit, { tokens: tok7, ortTokens: pad77(tok7) }, 'vit-b-32-image', 'vit-b-32-text77'],
  ].map(([name, kind, m, inputs, peerImage, peerText]) => ({
    case: name, kind, ...m, ...inputs, int8: true, wasmOnly: true,
    floatModel: m.model, model: m.model.replace(/\.safetensors$/, '-int8.safetensors'),
    peers: [
      { peer: 'onnxruntime-web-q8', peerModel: onnx(`${peerImage}-q8.onnx`), peerTextModel: peerText && onnx(`${peerText}-q8.onnx`) },
      { peer: 'onnxruntime-web-float32', peerModel: onnx(`${peerImage}.onnx`), peerTextModel: peerText && onnx(`${peerText}.onnx`) },
    ],
  })),
].filter((c) => (!only || only.includes(c.case)) && !(native && c.wasmOnly)); // the native harness has no batch protocol

class Worker {
  constructor(name, child, lines) {
    this.name = name;
    this.child = child;
    this.queue = [];
    this.waiters = [];
    const push = (m) => (this.waiters.length ? this.waiters.shift()(m) : this.queue.push(m));
    if (lines) createInterface({ input: child.stdout }).on('line', (l) => push(JSON.parse(l)));
    else child.on('message', push);
    this.exited = new Promise((res) => child.on('exit', (code) => {
      if (code) push({ error: `${name} exited with status ${code}` });
      res(code);
    }));
    this.send = lines ? (m) => child.stdin.write(`${m.cmd}\n`) : (m) => child.send(m);
  }
  next() {
    return new Promise((res) => (this.queue.length ? res(this.queue.shift()) : this.waiters.push(res)));
  }
  async call(m) {
    this.send(m);
    const r = await this.next();
    if (r.error) throw new Error(r.error);
    return r;
  }
}

function startClipdb(c) {
  if (native) {
    const bin = path.join(work, `clipdb-native-${nativeBackend}`);
    const argv = [c.model, c.kind, String(c.resolution), String(c.embedDim), ...(c.kind !== 'image' ? c.tokens.map(String) : [])];
    return new Worker('clipdb-native', spawn(bin, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, CLIPDB_BENCH_THREADS: String(threads) } }), true);
  }
  const spec = { kind: c.kind, model: c.model, resolution: c.resolution, embedDim: c.embedDim, tokens: c.tokens, batch: c.batch, threads };
  return new Worker('clipdb-wasm', fork(path.join(here, 'worker.mjs'), ['clipdb-wasm', JSON.stringify(spec)]));
}

function startClipdbFloat(c) {
  return startClipdb({ ...c, model: c.floatModel });
}

function startPeer(c) {
  const spec = { kind: c.kind, model: c.peerModel, textModel: c.peerTextModel, resolution: c.resolution, tokens: c.tokens, ortTokens: c.ortTokens, batch: c.batch, threads };
  const rt = native ? 'ort-node' : 'ort-web';
  return new Worker(rt, fork(path.join(here, 'worker.mjs'), [rt, JSON.stringify(spec)]));
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

function compare(a, b) {
  if (a.length !== b.length) return { ok: false, why: `length ${a.length} vs ${b.length}` };
  let dot = 0, na = 0, nb = 0, maxd = 0, maxr = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
    maxd = Math.max(maxd, Math.abs(a[i] - b[i]));
    maxr = Math.max(maxr, Math.abs(b[i]));
  }
  const cos = dot / Math.sqrt(na * nb);
  return { ok: cos >= 0.9999 && maxd <= 1e-3 * maxr, cos, maxRel: maxd / maxr };
}

const peerName = native ? 'onnxruntime-node' : 'onnxruntime-web';
const peerVersion = JSON.parse(readFileSync(path.join(root, 'node_modules', peerName, 'package.json'), 'utf8')).version;
console.log(`clipdb (${native ? `native, ${nativeBackend} backend` : 'wasm SIMD128'}) vs ${peerName} ${peerVersion}, ${threads} thread${threads > 1 ? 's' : ''} each, Node ${process.version}`);
console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`median of ${runs} alternating runs after warm-up, each once both processes are quiet${gapMs ? ` and ${gapMs} ms idle` : ''}\n`);
console.log('case                                   clipdb ms    peer ms   ratio  clipdb MB  peer MB   cosine  cpu ratio');

// Cosine per tower (a 'both' embedding is the image's then the text's), and the worst of them.
const towerCosines = (a, b, dim) => Array.from({ length: a.length / dim }, (_, i) =>
  +compare(a.slice(i * dim, (i + 1) * dim), b.slice(i * dim, (i + 1) * dim)).cos.toFixed(6));
const worst = (xs) => Math.min(...xs);
const kill = (ws) => ws.forEach((w) => w.child.exitCode === null && w.child.signalCode === null && w.child.kill());

// An int8 case: clipdb int8 against both onnxruntime-web peers in the same run. clipdb float32
// first computes the reference embedding (not timed) and exits; then clipdb int8, the q8 peer
// and the float32 peer load one after another and stay up. Before timing, the float32 peer must
// give clipdb float32's embedding (same weights: the usual check) and both int8 embeddings must
// be near it (cosine >= 0.9: a broken rewrite or quantizer is not timed). After warm-up the
// three run in turn, the order rotating each round; one row per peer, clipdb's side the same.
async function int8Case(c) {
  const files = [c.model, c.floatModel, ...c.peers.flatMap((p) => [p.peerModel, p.peerTextModel])].filter(Boolean);
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    console.log(`${c.case.padEnd(38)} skipped: missing ${missing.join(', ')} (run bench/run)`);
    return;
  }
  const workers = [];
  const ready = async (w) => {
    workers.push(w);
    const r = await w.next();
    if (r.error) throw new Error(r.error);
    return r.embedding;
  };
  try {
    const f = startClipdbFloat(c);
    const ef = await ready(f);
    await f.call({ cmd: 'exit' });
    workers.length = 0;
    const q = startClipdb(c);
    const eq = await ready(q);
    const peers = [];
    for (const p of c.peers) {
      const w = startPeer({ ...c, ...p });
      peers.push({ ...p, w, embedding: await ready(w) });
    }
    const f32 = compare(peers.find((p) => p.peer === 'onnxruntime-web-float32').embedding, ef);
    const cosQ = towerCosines(eq, ef, c.embedDim);
    const cosPeers = peers.map((p) => towerCosines(p.embedding, ef, c.embedDim));
    if (!f32.ok || worst(cosQ) < 0.9 || cosPeers.some((x) => worst(x) < 0.9)) {
      const why = `float32 peer vs clipdb float32 cosine ${f32.cos?.toFixed(6)}, clipdb int8 ${cosQ}, ` +
        peers.map((p, i) => `${p.peer} ${cosPeers[i]}`).join(', ');
      console.log(`${c.case.padEnd(38)} EMBEDDINGS DIFFER (${why}): not timed`);
      appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify({ case: c.case, threads, error: 'embeddings differ', detail: why, date: new Date().toISOString() }) + '\n');
      return;
    }
    const all = [q, ...peers.map((p) => p.w)];
    for (let i = 0; i < 2; i++) for (const w of all) await idle(...all), await w.call({ cmd: 'run' }); // warm-up
    const t = all.map(() => []), cpu = all.map(() => []);
    for (let i = 0; i < runs; i++) {
      for (let j = 0; j < all.length; j++) {
        const k = (i + j) % all.length;
        await idle(...all);
        const r = await all[k].call({ cmd: 'run' });
        t[k].push(r.ms);
        cpu[k].push(r.cpu_ms);
      }
    }
    const peak = [];
    for (const w of all) peak.push((await w.call({ cmd: 'exit' })).peak_mb);
    const load = os.loadavg().map((x) => +x.toFixed(2));
    peers.forEach((p, i) => {
      const cosToPeer = towerCosines(eq, p.embedding, c.embedDim);
      const row = {
        case: c.case, threads, clipdb_ms: +median(t[0]).toFixed(2), peer_ms: +median(t[i + 1]).toFixed(2),
        ratio: +(median(t[0]) / median(t[i + 1])).toFixed(3), clipdb_peak_mb: Math.round(peak[0]), peer_peak_mb: Math.round(peak[i + 1]),
        clipdb_cpu_ms: +median(cpu[0]).toFixed(2), peer_cpu_ms: +median(cpu[i + 1]).toFixed(2),
        cpu_ratio: +(median(cpu[0]) / median(cpu[i + 1])).toFixed(3),
        target: 'wasm', runtime: 'clipdb-wasm-int8', peer: p.peer, peer_version: `${peerName} ${peerVersion}`,
        // cosine: clipdb int8 to this peer's embedding; *_to_clipdb_float32: to clipdb's float32
        // embedding of the same weights (the worst tower; 'both' also lists image, text).
        cosine: worst(cosToPeer), cosine_to_clipdb_float32: worst(cosQ), peer_cosine_to_clipdb_float32: worst(cosPeers[i]),
        ...(c.kind === 'both' ? { cosine_by_tower: cosToPeer, cosine_to_clipdb_float32_by_tower: cosQ, peer_cosine_to_clipdb_float32_by_tower: cosPeers[i] } : {}),
        clipdb_file_bytes: statSync(c.model).size,
        peer_file_bytes: statSync(p.peerModel).size + (p.peerTextModel ? statSync(p.peerTextModel).size : 0),
        runs, gap_ms: gapMs, loadavg: load, date: new Date().toISOString(),
      };
      console.log(`${`${c.case} vs ${p.peer.replace('onnxruntime-web-', '')}`.padEnd(38)} ${row.clipdb_ms.toFixed(1).padStart(9)} ${row.peer_ms.toFixed(1).padStart(10)} ${row.ratio.toFixed(3).padStart(7)} ${String(row.clipdb_peak_mb).padStart(10)} ${String(row.peer_peak_mb).padStart(8)} ${row.cosine.toFixed(6).padStart(8)} ${row.cpu_ratio.toFixed(3).padStart(10)}  int8/f32 ${row.cosine_to_clipdb_float32.toFixed(5)} peer/f32 ${row.peer_cosine_to_clipdb_float32.toFixed(5)}`);
      appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(row) + '\n');
    });
  } catch (e) {
    console.log(`${c.case.padEnd(38)} failed: ${e.message}`);
  } finally {
    kill(workers);
  }
}

for (const c of cases) {
  if (c.int8) {
    await int8Case(c);
    continue;
  }
  const missing = [c.model, c.peerModel, c.peerTextModel].filter((f) => f && !existsSync(f));
  if (missing.length) {
    console.log(`${c.case.padEnd(38)} skipped: missing ${missing.join(', ')} (run bench/run)`);
    continue;
  }
  // Load one at a time so the two loads do not compete for the CPU or memory.
  const a = startClipdb(c);
  let ra, rb, b;
  try {
    ra = await a.next();
    if (ra.error) throw new Error(ra.error);
    if (!native && ra.threads !== threads) throw new Error(`clipdb's model runs on ${ra.threads} threads, not ${threads}`);
    b = startPeer(c);
    rb = await b.next();
    if (rb.error) throw new Error(rb.error);
  } catch (e) {
    console.log(`${c.case.padEnd(38)} failed: ${e.message}`);
    a.child.kill();
    b?.child.kill();
    continue;
  }
  const cmp = compare(ra.embedding, rb.embedding);
  if (!cmp.ok) {
    console.log(`${c.case.padEnd(38)} EMBEDDINGS DIFFER (cosine ${cmp.cos?.toFixed(6)}, max rel diff ${cmp.maxRel?.toExponential(2)} ${cmp.why ?? ''}): not timed`);
    await a.call({ cmd: 'exit' }).catch(() => {});
    await b.call({ cmd: 'exit' }).catch(() => {});
    appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify({ case: c.case, threads, error: 'embeddings differ', cosine: cmp.cos }) + '\n');
    continue;
  }
  for (let i = 0; i < 2; i++) await idle(a, b), await a.call({ cmd: 'run' }), await idle(a, b), await b.call({ cmd: 'run' }); // warm-up
  const ta = [], tb = [], ca = [], cb = [];
  for (let i = 0; i < runs; i++) {
    const order = i % 2 ? [[b, tb, cb], [a, ta, ca]] : [[a, ta, ca], [b, tb, cb]];
    for (const [w, t, cpu] of order) {
      await idle(a, b);
      const r = await w.call({ cmd: 'run' });
      t.push(r.ms);
      cpu.push(r.cpu_ms);
    }
  }
  const ma = (await a.call({ cmd: 'exit' })).peak_mb, mb = (await b.call({ cmd: 'exit' })).peak_mb;
  const row = {
    case: c.case, threads, clipdb_ms: +median(ta).toFixed(2), peer_ms: +median(tb).toFixed(2),
    ratio: +(median(ta) / median(tb)).toFixed(3), clipdb_peak_mb: Math.round(ma), peer_peak_mb: Math.round(mb),
    // CPU time of the run (process CPU, all threads): a diagnostic on a machine shared with
    // other jobs, where wall-clock time includes waiting for a core.
    clipdb_cpu_ms: +median(ca).toFixed(2), peer_cpu_ms: +median(cb).toFixed(2),
    cpu_ratio: +(median(ca) / median(cb)).toFixed(3),
    target: native ? `native-${nativeBackend}` : 'wasm', peer: `${peerName} ${peerVersion}`, cosine: +cmp.cos.toFixed(7),
    gap_ms: gapMs, date: new Date().toISOString(),
  };
  console.log(`${c.case.padEnd(38)} ${row.clipdb_ms.toFixed(1).padStart(9)} ${row.peer_ms.toFixed(1).padStart(10)} ${row.ratio.toFixed(3).padStart(7)} ${String(row.clipdb_peak_mb).padStart(10)} ${String(row.peer_peak_mb).padStart(8)} ${cmp.cos.toFixed(6).padStart(8)} ${row.cpu_ratio.toFixed(3).padStart(10)}`);
  appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(row) + '\n');
}

if (!native) {
  const size = (f) => (existsSync(f) ? (statSync(f).size / 1048576).toFixed(2) + ' MB' : 'missing');
  console.log(`\nwasm binaries: clipdb.wasm ${size(path.join(root, 'web', 'dist', 'clipdb.wasm'))}, ` +
    `onnxruntime-web ort-wasm-simd-threaded.wasm ${size(path.join(root, 'node_modules', 'onnxruntime-web', 'dist', 'ort-wasm-simd-threaded.wasm'))}`);
}
