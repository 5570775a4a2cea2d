// One phase of the store benchmark in its own Node process (so that RSS and peak RSS belong to
// that phase alone), with the 'fs' storage adapter. Prints one JSON line.
//
//   node bench/store-node.mjs insert --lib L --dir D --n N [--batch B]
//   node bench/store-node.mjs open   --lib L --dir D [--save F] [--profile F.cpuprofile]
//   node bench/store-node.mjs export --dir D --file F      (opens the store without its vector index)
//   node bench/store-node.mjs import --file F --dir D --expect Q
//
// --lib: the store's index.mjs (default web/src/index.mjs; the clipdb 0.1 peer passes its copy).
// `open` also runs the queries (50 timed, top-10, unfiltered and with year filters) and with
// --save writes the ids and scores of 100 queries; `import` compares its store's answers to them.
import { readFileSync, writeFileSync, createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { docFor, queryVector, vectorModel, vectorIndexFor, median } from './store-data.mjs';

const [phase, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = rest[i + 1];
const here = path.dirname(new URL(import.meta.url).pathname);
const libPath = path.resolve(opt.lib ?? path.join(here, '..', 'web', 'src', 'index.mjs'));
const lib = await import(pathToFileURL(libPath).href);
const { getModule } = await import(pathToFileURL(path.join(path.dirname(libPath), 'module.mjs')).href);

const MB = 1024 * 1024;
const status = () => readFileSync('/proc/self/status', 'utf8');
const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status())[1]);
const rssMB = () => kb('VmRSS') / 1024;
const peakMB = () => kb('VmHWM') / 1024;

/** Sample RSS every `ms` (the event loop permitting); returns stop() → max seen in MB. */
function sampler(ms = 100) {
  let max = rssMB();
  const t = setInterval(() => { max = Math.max(max, rssMB()); }, ms);
  return () => { clearInterval(t); return Math.max(max, rssMB()); };
}

const FILTERS = { none: {}, year_eq: { year: 2010 }, year_gte: { year: { $gte: 2012 } } };

async function openAndAdd(dir) {
  const c0 = process.cpuUsage(); // all threads of this process (LevelDB's included)
  const t0 = performance.now();
  const db = await lib.openDatabase({ storage: 'fs', dir, name: 'bench' });
  const tOpen = performance.now();
  const model = vectorModel(lib);
  const added = await db.add(vectorIndexFor(lib, model));
  const t1 = performance.now();
  const cpu = process.cpuUsage(c0);
  return { db, model, added, open_ms: t1 - t0, open_cpu_ms: (cpu.user + cpu.system) / 1000, load_docs_ms: tOpen - t0, add_index_ms: t1 - tOpen };
}

async function queries(db, count, filter = {}) {
  const c = db.collection('photos');
  const times = [], answers = [];
  for (let q = 0; q < count; q++) {
    const v = queryVector(q);
    const t0 = performance.now();
    const r = await c.like({ vector: v }, { vectorIndex: 'images', n: 10 }).find(filter);
    times.push(performance.now() - t0);
    answers.push(r.map((d) => [d._id, d.score]));
  }
  return { median_ms: median(times), answers };
}

const out = { phase, lib: path.relative(path.join(here, '..'), libPath), node: process.version };
// A phase that fails (clipdb 0.1 cannot open large stores) is a result too: {error}.
process.on('uncaughtException', (e) => {
  console.log(JSON.stringify({ ...out, error: `${e.code ? e.code + ': ' : ''}${e.message}`, peak_rss_mb: peakMB() }));
  process.exit(3);
});
const tModule = performance.now();
await getModule();
out.module_ms = performance.now() - tModule;

if (phase === 'insert') {
  const n = Number(opt.n);
  const { db, model } = await openAndAdd(opt.dir);
  const c = db.collection('photos');
  const slice = 1000;
  const t0 = performance.now();
  for (let i = 0; i < n; i += slice) {
    const docs = [];
    for (let j = i; j < Math.min(n, i + slice); j++) docs.push(docFor(j));
    await c.insertMany(docs, opt.batch ? { batchSize: Number(opt.batch) } : {});
  }
  const ms = performance.now() - t0;
  await db.close();
  Object.assign(out, { n, batch_size: opt.batch ? Number(opt.batch) : 'default', insert_ms: ms, docs_per_s: n / (ms / 1000), encodes: model.calls, peak_rss_mb: peakMB() });
} else if (phase === 'open') {
  // --profile F: a CPU profile of the open alone (openDatabase + db.add), for bench/store-profile.mjs.
  let session = null;
  if (opt.profile) {
    const { Session } = await import('node:inspector');
    session = new Session();
    session.connect();
    const post = (m, p) => new Promise((res, rej) => session.post(m, p, (e, r) => (e ? rej(e) : res(r))));
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
    session.stopTo = async (file) => writeFileSync(file, JSON.stringify((await post('Profiler.stop')).profile));
  }
  const { db, added, open_ms, open_cpu_ms, load_docs_ms, add_index_ms } = await openAndAdd(opt.dir);
  if (session) { await session.stopTo(opt.profile); session.disconnect(); }
  const mu = process.memoryUsage();
  Object.assign(out, {
    open_ms, open_cpu_ms, load_docs_ms, add_index_ms, added, documents: db.info.documents, rss_after_open_mb: rssMB(),
    // where the memory is: the wasm heap (the C index's vectors), V8's heap, ArrayBuffers outside it
    wasm_memory_mb: (await getModule()).HEAPU8.length / MB, js_heap_used_mb: mu.heapUsed / MB, array_buffers_mb: mu.arrayBuffers / MB,
  });
  if (global.gc) { global.gc(); out.rss_after_open_gc_mb = rssMB(); }
  for (const [name, f] of Object.entries(FILTERS)) {
    await queries(db, 3, f); // warm-up
    out[`like_${name}_ms`] = (await queries(db, 50, f)).median_ms;
  }
  if (opt.save) writeFileSync(opt.save, JSON.stringify((await queries(db, 100)).answers));
  out.peak_rss_mb = peakMB();
  await db.close();
} else if (phase === 'export') {
  // A backup needs no vector index in memory: the export reads the stored vector chunks.
  const stop = sampler();
  const t00 = performance.now();
  const db = await lib.openDatabase({ storage: 'fs', dir: opt.dir, name: 'bench' });
  const open_ms = performance.now() - t00;
  const t0 = performance.now();
  await pipeline(Readable.fromWeb(db.exportData()), createWriteStream(opt.file));
  const ms = performance.now() - t0;
  await db.close();
  const bytes = (await stat(opt.file)).size;
  Object.assign(out, { open_ms, export_ms: ms, bytes, mb_per_s: bytes / MB / (ms / 1000), sampled_max_rss_mb: stop(), peak_rss_mb: peakMB() });
} else if (phase === 'import') {
  const stop = sampler();
  const db = await lib.openDatabase({ storage: 'fs', dir: opt.dir, name: 'bench' });
  const t0 = performance.now();
  const r = await db.importData(createReadStream(opt.file, { highWaterMark: 1 << 20 }));
  const ms = performance.now() - t0;
  const importOnlyMB = stop(); // the import itself, before the check below loads the vector index
  const stop2 = sampler();
  const bytes = (await stat(opt.file)).size;
  const model = vectorModel(lib);
  const added = await db.add(vectorIndexFor(lib, model));
  const expect = JSON.parse(readFileSync(opt.expect, 'utf8'));
  const got = (await queries(db, expect.length)).answers;
  let same = 0;
  for (let q = 0; q < expect.length; q++) if (JSON.stringify(got[q]) === JSON.stringify(expect[q])) same++;
  await db.close();
  Object.assign(out, { imported: r, import_ms: ms, mb_per_s: bytes / MB / (ms / 1000), added, encodes: model.calls, queries: expect.length, identical_answers: same, import_sampled_max_rss_mb: importOnlyMB, sampled_max_rss_mb: Math.max(importOnlyMB, stop2()), peak_rss_mb: peakMB() });
} else {
  throw new Error(`unknown phase ${phase}`);
}
console.log(JSON.stringify(out));
