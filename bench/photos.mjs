#!/usr/bin/env node
// The real-photo case of the store: N generated 12-MP JPEGs of 3-4 MB (bench/photos-gen.py,
// cached under bench/work/photos/seed-S/) stored in Chromium's IndexedDB by bench/photos.html,
// in two modes, each in its own temporary profile:
//   kept    documents {name, image: the original File, thumb: a thumbnail};
//   thumbs  documents {name, thumb}.
// Either way the vector index holds the ORIGINAL photo's embedding (shipped model
// models/clipdb-shapes) and thumbnails come from the library's thumbnail() (defaults: 320 px,
// quality 80). First browser: index every photo (photos/s, for information). Second, fresh
// browser on the same profile (the second visit): load the model (reported alone), open until
// the first query can run (openDatabase + db.add of the vector index), text searches with their
// top-10 thumbnails shown (until every <img> has decoded; the first search alone, then the
// median of --reps), renderer memory (/proc), navigator.storage.estimate().usage; after it
// closed, the profile's IndexedDB folder on disk (du) against the originals' total bytes.
// Appends {"case": "photos-kept" | "photos-thumbs", ...} to bench/results.jsonl; prints a table.
//
//   node bench/photos.mjs [--photos 240] [--seed 1] [--modes kept,thumbs] [--reps 20]
//
// The machine's load average is recorded with every row: wall-clock figures include waiting
// for a core on a shared machine.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM } from '../tests/browser/chromium.mjs';
import { browserCpu, rendererMemory, withBrowser } from './store-chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const args = process.argv.slice(2);
const arg = (name, dflt) => { const i = args.indexOf(`--${name}`); return i < 0 ? dflt : args[i + 1]; };
const N = Number(arg('photos', 240));
const seed = Number(arg('seed', 1));
const modes = arg('modes', 'kept,thumbs').split(',');
const reps = Number(arg('reps', 20));
const QUERIES = ['a red circle', 'a blue square', 'a green triangle', 'a yellow star', 'a purple heart'];
for (const m of modes) if (m !== 'kept' && m !== 'thumbs') throw new Error(`unknown mode ${m} (kept, thumbs)`);

const load = () => Number(os.loadavg()[0].toFixed(2));
const MB = (b) => b / 2 ** 20;

/** The first N photos of the seed's folder, generating what is missing. */
function photos() {
  const dir = path.join(here, 'work', 'photos', `seed-${seed}`);
  const manifest = path.join(dir, 'manifest.json');
  const have = () => (existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).photos : []);
  if (have().length < N || !have().slice(0, N).every((p) => existsSync(path.join(dir, p.file)))) {
    console.error(`# generating ${N} photos into ${path.relative(root, dir)} (cached for later runs)`);
    execFileSync('/usr/bin/python3', [path.join(here, 'photos-gen.py'), '--out', dir, '--seed', String(seed), '--count', String(N)], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return have().slice(0, N).map((p) => ({ ...p, path: path.join(dir, p.file) }));
}

/** Bytes under `dir`: {disk (allocated blocks, du), apparent (file sizes, du -b)}. */
function du(dir) {
  if (!existsSync(dir)) return { disk: 0, apparent: 0 };
  const n = (flags) => Number(execFileSync('du', [...flags, dir], { encoding: 'utf8' }).split('\t')[0]);
  return { disk: n(['-s', '--block-size=1']), apparent: n(['-sb']) };
}

/** The profile's IndexedDB folder: in total, and its LevelDB part and blob part. */
function idbSize(profile) {
  const dir = path.join(profile, 'Default', 'IndexedDB');
  let leveldb = 0, blob = 0;
  try {
    for (const e of execFileSync('ls', [dir], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      if (e.endsWith('.indexeddb.leveldb')) leveldb += du(path.join(dir, e)).disk;
      else if (e.endsWith('.indexeddb.blob')) blob += du(path.join(dir, e)).disk;
    }
  } catch { /* no folder yet */ }
  return { ...du(dir), leveldb_disk: leveldb, blob_disk: blob };
}


async function runMode(mode, list, server) {
  const originals = list.reduce((a, p) => a + p.bytes, 0);
  const profile = mkdtempSync(path.join(os.tmpdir(), `clipdb-photos-${mode}-`));
  try {
    // First visit: index.
    const indexed = await withBrowser(profile, server, 'bench/photos.html', async (page) => {
      let last = 0;
      await page.exposeFunction('reportProgress', (k, n) => {
        if (k === n || Date.now() - last > 30000) { last = Date.now(); console.error(`#   ${mode}: ${k}/${n} photos (load ${load()})`); }
      });
      await page.evaluate(() => window.bench.loadModel());
      await page.setInputFiles('#files', list.map((p) => p.path));
      const load0 = load();
      const r = await page.evaluate((m) => window.bench.index(m), mode);
      return { ...r, load1_during_index: [load0, load()], renderer_peak_during_index_mb: rendererMemory(profile)?.hwm };
    });
    const afterIndex = idbSize(profile);
    // Second visit: a fresh browser on the same profile.
    const visit = await withBrowser(profile, server, 'bench/photos.html', async (page) => {
      const before = rendererMemory(profile);
      const m = await page.evaluate(() => window.bench.loadModel());
      const afterModel = rendererMemory(profile);
      const cpu0 = browserCpu(profile, afterModel?.pid);
      const loadOpen = load();
      const o = await page.evaluate((x) => window.bench.open(x), mode);
      const cpu1 = browserCpu(profile, afterModel?.pid);
      const afterOpen = rendererMemory(profile);
      const loadSearch = load();
      const s = await page.evaluate(([q, n]) => window.bench.search(q, n), [QUERIES, reps]);
      const afterSearch = rendererMemory(profile);
      const u = await page.evaluate(() => window.bench.usage());
      await page.evaluate(() => window.bench.close());
      return {
        ...m, ...o, open_cpu_renderer_ms: cpu1.renderer - cpu0.renderer, open_cpu_all_processes_ms: cpu1.total - cpu0.total,
        ...s, storage_usage: u.usage, load1_at_open: loadOpen, load1_at_search: loadSearch,
        renderer_rss_mb: { before_model: before?.rss, after_model: afterModel?.rss, after_open: afterOpen?.rss, after_search: afterSearch?.rss, peak: afterSearch?.hwm },
      };
    });
    const afterVisit = idbSize(profile);
    // Which top-10 results show what the query asks for (the file names say what each shows).
    const hits = {};
    for (const [q, names] of Object.entries(visit.top)) {
      const want = q.replace(/^a /, '').replace(' ', '-');
      hits[q] = names.filter((n) => n.includes(`-${want}.`)).length;
    }
    delete visit.top;
    return {
      mode, photos: list.length, original_bytes: originals, ...indexed, ...visit,
      top10_matching: hits, matching_possible_per_query: Math.ceil(list.length / 80),
      idb_after_index: afterIndex, idb: afterVisit,
      idb_disk_vs_originals: afterVisit.disk / originals, usage_vs_originals: visit.storage_usage / originals,
    };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

const skip = chromiumSkip([NEEDS_WASM]);
if (skip) { console.error(`# skipped: ${skip}`); process.exit(0); }
const list = photos();
console.error(`# ${list.length} photos, ${MB(list.reduce((a, p) => a + p.bytes, 0)).toFixed(1)} MB of originals; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const server = await serve({ root, port: 0 });
const rows = [];
try {
  for (const mode of modes) {
    const r = await runMode(mode, list, server);
    const line = { case: `photos-${mode}`, ...r, machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load1_at_end: load() }, date: new Date().toISOString() };
    appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(line) + '\n');
    console.error(`# photos-${mode}: ${JSON.stringify(r)}`);
    rows.push(line);
  }
} finally {
  await server.close();
}

const f = (x, d = 0) => (x == null ? '' : x.toFixed(d));
console.log('| mode | photos | originals (MB) | index (photos/s) | model load (ms) | open → first query (ms) | search + 10 thumbnails shown, first / median / max (ms) | IndexedDB on disk (MB) | ÷ originals | storage.estimate (MB) | renderer RSS after open / after search / peak (MB) | load avg (index, open, search) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const m = r.renderer_rss_mb;
  console.log(`| ${r.mode} | ${r.photos} | ${f(MB(r.original_bytes), 1)} | ${f(r.photos_per_s, 2)} | ${f(r.module_ms + r.model_ms)} | ${f(r.open_ms)} | ${f(r.first_search_shown_ms)} / ${f(r.search_shown_median_ms)} / ${f(r.search_shown_max_ms)} | ${f(MB(r.idb.disk), 1)} | ${f(r.idb_disk_vs_originals * 100, 1)} % | ${f(MB(r.storage_usage), 1)} | ${f(m.after_open)} / ${f(m.after_search)} / ${f(m.peak)} | ${r.load1_during_index[1]}, ${r.load1_at_open}, ${r.load1_at_search} |`);
}
