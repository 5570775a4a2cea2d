#!/usr/bin/env node
// Indexing throughput in Debian's Chromium (playwright-core), two ways of using the cores: the
// Worker client's engine pool (web/src/pool.mjs) on a page that is NOT cross-origin isolated
// (no wasm threads: each Worker runs one engine thread), and one engine with the threaded wasm
// module on an isolated page. N generated 640x480 JPEGs (bench/indexing-gen.py, about 90 KB each,
// cached under bench/work/indexing-photos/seed-S/) go through ClipdbWorkerClient.insert()
// (thumbnail + embedding + IndexedDB writes per photo) with workers: 1 and workers: 2, then on a
// cross-origin isolated page with one engine and threads: 1 and threads: 2 (the threaded wasm
// module), each run in a fresh browser and profile, runs alternating (1, 2, 2, 1, ...). Only insert() is
// timed (files read and model loaded before). Model: the shipped default models/clipdb-shapes;
// --model vitb32 uses a random-weight ViT-B/32 (scripts/gen-random-model.mjs, F16, cached in
// bench/work/) with clipdb-shapes' vocabulary — same architecture cost as the real one.
// Appends {"case": "indexing-workers" | "indexing-threads", model, photos, images_per_s_1, images_per_s_2, speedup,
// runs, cpu_ms_per_image_1, cpu_ms_per_image_2, machine, load} to bench/results.jsonl
// (images/s: the median over --reps runs; CPU: user + system time of every process of the
// browser during insert(), per photo, from /proc — what the photos cost the machine;
// other_cores: the machine's busy CPU time (/proc/stat) minus the browser's, over the run's
// wall time — how many cores other jobs took meanwhile, per run).
//
//   node bench/indexing.mjs [--photos 200] [--seed 1] [--reps 3] [--model shapes|vitb32] [--mode workers|threads|both]
//
// Timing bench: run it un-niced; the load average is recorded (wall-clock figures include
// waiting for a core on a shared machine).
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM, NEEDS_SHAPES_MODEL } from '../tests/browser/chromium.mjs';
import { browserCpu, withBrowser } from './store-chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const args = process.argv.slice(2);
const arg = (name, dflt) => { const i = args.indexOf(`--${name}`); return i < 0 ? dflt : args[i + 1]; };
const N = Number(arg('photos', 200));
const seed = Number(arg('seed', 1));
const reps = Number(arg('reps', 3));
const modelName = arg('model', 'shapes');
// workers: engine Workers on a page that is not isolated (1 vs 2); threads: one engine with the
// threaded wasm module on a cross-origin isolated page (1 vs 2 threads); both: one, then the other.
const mode = arg('mode', 'both');
if (!['workers', 'threads', 'both'].includes(mode)) throw new Error(`unknown --mode ${mode} (workers, threads, both)`);
if (modelName !== 'shapes' && modelName !== 'vitb32') throw new Error(`unknown --model ${modelName} (shapes, vitb32)`);

const load = () => Number(os.loadavg()[0].toFixed(2));
/** CPU ms the whole machine has spent so far (every core; /proc/stat, not idle or iowait). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + (steal || 0)) * 10; // 100 Hz ticks → ms
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]);
if (skip) { console.error(`# indexing bench skipped: ${skip}`); process.exit(0); }

/** The first N photos of the seed's folder, generating them when missing. */
function photos() {
  const dir = path.join(here, 'work', 'indexing-photos', `seed-${seed}`);
  const manifest = path.join(dir, 'manifest.json');
  const have = () => (existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).photos : []);
  if (have().length < N) {
    console.error(`# generating ${N} photos into ${path.relative(root, dir)} (cached for later runs)`);
    execFileSync('/usr/bin/python3', [path.join(here, 'indexing-gen.py'), '--out', dir, '--seed', String(seed), '--count', String(N)], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { dir, names: have().slice(0, N).map((p) => p.file) };
}

/** The model's files as [{name, url}] on the bench server, and the folders to mount. */
function model() {
  const shapes = path.join(root, 'models', 'clipdb-shapes');
  if (modelName === 'shapes') return { files: [{ name: 'model.safetensors', url: '/models/clipdb-shapes/model.safetensors' }, { name: 'vocab.txt.gz', url: '/models/clipdb-shapes/vocab.txt.gz' }], mounts: {}, label: 'clipdb-shapes' };
  const dir = path.join(here, 'work', 'indexing-model');
  const st = path.join(dir, 'vit-b-32-random-f16.safetensors');
  if (!existsSync(st)) {
    mkdirSync(dir, { recursive: true });
    console.error(`# generating a random ViT-B/32 (F16) into ${path.relative(root, st)}`);
    execFileSync(process.execPath, [path.join(root, 'scripts', 'gen-random-model.mjs'), 'ViT-B/32', st, '--dtype', 'F16'], { stdio: 'inherit' });
  }
  return { files: [{ name: 'model.safetensors', url: '/indexing-model/vit-b-32-random-f16.safetensors' }, { name: 'vocab.txt.gz', url: '/models/clipdb-shapes/vocab.txt.gz' }], mounts: { '/indexing-model/': dir }, label: 'random ViT-B/32 (F16)' };
}

const { dir, names } = photos();
const m = model();
const work = path.join(here, 'work', 'indexing');
mkdirSync(work, { recursive: true });
async function measure(kind) {
  const isolated = kind === 'threads';
  const server = await serve({ isolate: isolated, mounts: { '/indexing-photos/': dir, ...m.mounts } });
  const runs = { 1: [], 2: [] };
  const cpu = { 1: [], 2: [] }; // CPU ms per photo, every process of the browser
  const others = { 1: [], 2: [] }; // cores other processes kept busy during insert(), on average
  const loads = [];
  try {
    for (let r = 0; r < reps; r++) {
      for (const n of r % 2 ? [2, 1] : [1, 2]) {
        const opts = isolated ? { workers: 1, threads: n } : { workers: n };
        const profile = mkdtempSync(path.join(work, 'profile-'));
        try {
          loads.push(load());
          const out = await withBrowser(profile, server, 'bench/indexing.html', async (page) => {
            const prep = await page.evaluate((a) => window.bench.prepare(a), { ...opts, names, model: m.files, poolMemoryMB: 4096 });
            const cpu0 = browserCpu(profile)?.total, all0 = machineCpu();
            const ins = await page.evaluate(() => window.bench.insert());
            const cpuMs = browserCpu(profile)?.total - cpu0;
            return { ...prep, ...ins, cpuMs, otherMs: machineCpu() - all0 - cpuMs };
          });
          if (out.isolated !== isolated) throw new Error(`the bench page is ${out.isolated ? '' : 'not '}cross-origin isolated; it must${isolated ? '' : ' not'} be`);
          if (out.inserted !== N || out.failed) throw new Error(`${JSON.stringify(opts)}: ${out.inserted} of ${N} inserted, ${out.failed} failed`);
          if (out.pool.workers !== opts.workers || out.pool.alive !== opts.workers) throw new Error(`asked for ${opts.workers} workers, the pool has ${JSON.stringify(out.pool)}`);
          if (isolated && out.threads !== n) throw new Error(`asked for ${n} threads, the engine has ${out.threads}`);
          const ips = N / (out.ms / 1000);
          runs[n].push(ips);
          cpu[n].push(out.cpuMs / N);
          others[n].push(out.otherMs / out.ms);
          console.error(`# ${kind}, run ${r + 1}/${reps}, ${isolated ? 'threads' : 'workers'} ${n}: ${N} photos in ${(out.ms / 1000).toFixed(2)} s = ${ips.toFixed(2)} images/s (browser CPU ${(out.cpuMs / N).toFixed(1)} ms per photo = ${(out.cpuMs / out.ms).toFixed(2)} cores; other processes ${(out.otherMs / out.ms).toFixed(2)} cores; model load ${(out.loadMs / 1000).toFixed(2)} s; embedded per worker ${out.pool.embedded.join('/')}, thumbnails ${out.pool.thumbnails.join('/')}; load ${load()})`);
        } finally {
          rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
        }
      }
    }
  } finally {
    await server.close();
  }
  const row = {
    case: `indexing-${kind}`, model: m.label, photos: N, photo_size: '640x480 JPEG q90', isolated,
    images_per_s_1: Number(median(runs[1]).toFixed(2)), images_per_s_2: Number(median(runs[2]).toFixed(2)),
    speedup: Number((median(runs[2]) / median(runs[1])).toFixed(3)),
    runs: { 1: runs[1].map((x) => Number(x.toFixed(2))), 2: runs[2].map((x) => Number(x.toFixed(2))) },
    cpu_ms_per_image_1: Number(median(cpu[1]).toFixed(2)), cpu_ms_per_image_2: Number(median(cpu[2]).toFixed(2)),
    other_cores: { 1: others[1].map((x) => Number(x.toFixed(2))), 2: others[2].map((x) => Number(x.toFixed(2))) },
    machine: `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}`, load: Math.max(...loads, load()), date: new Date().toISOString(),
  };
  appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(row) + '\n');
  const unit = isolated ? 'thread' : 'worker';
  console.log(`indexing ${N} photos (${m.label}, ${isolated ? 'isolated' : 'not isolated'}): 1 ${unit} ${row.images_per_s_1} images/s, 2 ${unit}s ${row.images_per_s_2} images/s, speedup ${row.speedup}x (load ${row.load})`);
}

for (const kind of mode === 'both' ? ['workers', 'threads'] : [mode]) await measure(kind);
