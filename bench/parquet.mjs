// db.exportParquet against its peer in the same run, db.exportData (the export container), on
// one in-memory store of N documents with D-dimensional vectors and a few small fields:
//   node --expose-gc bench/parquet.mjs [--n 100000] [--dim 512] [--runs 3]
// Each export is read to the end into a byte counter (no disk). Reported per export: median
// wall time and CPU time (process.cpuUsage: on a shared machine the CPU ratio is the steadier
// one), output bytes, and the peak RSS above the RSS just before it (sampled at every chunk
// and every 20 ms), after a forced GC. Runs alternate between the two exports.
import { openDatabase, Model, Listener, VectorIndex } from '../web/src/index.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const N = opt('--n', 100000), DIM = opt('--dim', 512), RUNS = opt('--runs', 3);
if (typeof globalThis.gc !== 'function') { console.error('run with node --expose-gc'); process.exit(2); }

// The model derives each vector from the document's `seed` field (a PRNG), so documents hold
// only small fields, as photo documents whose vectors come from their images do.
function vectorOf(seed) {
  let s = (seed + 1) * 2654435761 >>> 0 || 1;
  const v = new Float32Array(DIM);
  for (let j = 0; j < DIM; j++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; v[j] = s / 4294967296 - 0.5; }
  return v;
}

const db = await openDatabase({ storage: 'memory' });
const model = new Model({ identifier: 'bench-seeded', dim: DIM, encode: vectorOf });
await db.add(new VectorIndex('vi', { indexingListener: new Listener({ model, key: 'seed', select: { collection: 'photos' } }) }));
const col = db.collection('photos');
const t0 = performance.now();
for (let start = 0; start < N; start += 5000) {
  const docs = [];
  for (let i = start; i < Math.min(N, start + 5000); i++) {
    docs.push({ _id: i % 2 ? `p${i}` : i, seed: i, year: 1990 + (i % 35), title: `photo ${i}`, exif: { camera: ['a', 'b', 'c'][i % 3], iso: 100 * (i % 16) } });
  }
  await col.insertMany(docs, { batchSize: 1024 });
}
console.error(`store: ${N} documents × ${DIM}-d in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

async function measure(make) {
  globalThis.gc();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  const t = performance.now(), cpu0 = process.cpuUsage();
  let bytes = 0;
  for await (const c of make()) { bytes += c.length; peak = Math.max(peak, process.memoryUsage().rss); }
  const ms = performance.now() - t, cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, bytes, peakMB: (peak - base) / 2 ** 20 };
}

const res = { parquet: [], container: [] };
for (let r = 0; r < RUNS; r++) {
  res.parquet.push(await measure(() => db.exportParquet({ vectorIndex: 'vi' })));
  res.container.push(await measure(() => db.exportData()));
}
const med = (xs) => { const a = [...xs].sort((x, y) => x - y); return a[a.length >> 1]; };
const row = (k) => ({ ms: med(res[k].map((x) => x.ms)), cpuMs: med(res[k].map((x) => x.cpuMs)), peakMB: med(res[k].map((x) => x.peakMB)), MB: res[k][0].bytes / 2 ** 20 });
const p = row('parquet'), c = row('container');
const out = {
  bench: 'parquet-export', n: N, dim: DIM, runs: RUNS, node: process.version,
  parquet: { ms: Math.round(p.ms), cpuMs: Math.round(p.cpuMs), fileMB: +p.MB.toFixed(1), peakExtraRssMB: Math.round(p.peakMB) },
  container: { ms: Math.round(c.ms), cpuMs: Math.round(c.cpuMs), fileMB: +c.MB.toFixed(1), peakExtraRssMB: Math.round(c.peakMB) },
  wallRatio: +(p.ms / c.ms).toFixed(2), cpuRatio: +(p.cpuMs / c.cpuMs).toFixed(2),
};
console.log(JSON.stringify(out));
await db.close();
