// The engine pool of ClipdbWorkerClient (web/src/pool.mjs) in Debian's Chromium, not
// cross-origin isolated (no wasm threads): 40 pictures scripts/shapes.py draws, plus one broken
// file, indexed with the shipped model models/clipdb-shapes by a client with workers: 1 and one
// with workers: 2. Checked: the same scores, to the last bit, for whole rankings (three text
// queries and a "more like this"), so the same vectors; the same insertion order (the input's);
// both workers embedded and thumbnailed (the pool's per-worker counts); the broken file fails
// alone in both; the pool's size follows poolMemoryMB; an abort part-way with 2 workers is
// ABORTED naming exactly what was stored; an engine worker that crashes fails the insert with
// WORKER_ERROR naming it, and the next insert finishes on the worker left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM, NEEDS_SHAPES_MODEL, PYTHON, pythonSkip, openProfile, openTestPage } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]) || pythonSkip();
const SEED = 5151; // not a training seed (scripts/train-tiny-clip.py)
const COUNT = 40;

let server, browser, page, work, names, queries;
before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-pool-'));
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', work, '--seed', String(SEED), '--count', String(COUNT)], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  writeFileSync(path.join(work, 'zz-broken.jpg'), Buffer.from('\xff\xd8\xff\xe0 not really a JPEG', 'latin1'));
  names = (await readdir(work)).sort();
  // Three queries for what the first pictures show (their names say: img0003-red-star.png).
  queries = [...new Set(names.map((n) => /^img\d+-([a-z]+)-([a-z]+)\./.exec(n)).filter(Boolean).map((m) => `${m[1]} ${m[2]}`))].slice(0, 3);
  server = await serve({ mounts: { '/pool-photos/': work }, isolate: false });
  browser = await openProfile();
  page = browser.page;
  await openTestPage(page, server, 'worker.html');
});
after(async () => {
  await browser?.close();
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

test('worker pool: 1 and 2 workers give the same vectors; both workers are used; a crashed worker is WORKER_ERROR', { skip, timeout: 300000 }, async () => {
  const r = await page.evaluate(async ({ names, queries }) => {
    const { ClipdbWorkerClient } = await import('/web/src/index.mjs');
    const err = async (p) => { try { await p; return 'resolved'; } catch (e) { return { code: e.code, message: e.message, inserted: e.details?.insertedIds?.length }; } };
    const files = await Promise.all(names.map(async (n) => new File([await (await fetch(`/pool-photos/${n}`)).blob()], n, { type: n.endsWith('.png') ? 'image/png' : 'image/jpeg' })));
    const urls = ['model.safetensors', 'vocab.txt.gz'].map((name) => ({ name, url: new URL(`/models/clipdb-shapes/${name}`, location.href).href }));
    const out = { isolated: crossOriginIsolated };
    const clients = [];
    try {
      for (const workers of [1, 2]) {
        const c = new ClipdbWorkerClient({ workers });
        clients.push(c);
        await c.init({ dbName: `pool-${workers}` });
        const loaded = await c.loadModel({ urls });
        const ins = await c.insert(files.map((f) => new File([f], f.name, { type: f.type })), { transfer: false });
        const o = { identifier: loaded.identifier, inserted: ins.inserted, failed: ins.failed.map((f) => [f.id, f.code]), pool: (await c.info()).pool, rankings: [] };
        o.order = (await c.list({ limit: 100 })).map((d) => d._id);
        for (const q of queries) o.rankings.push((await c.search({ text: `a ${q}` }, { n: names.length })).map((h) => [h._id, h.score]));
        o.rankings.push((await c.search({ id: o.rankings[0][5][0] }, { n: names.length })).map((h) => [h._id, h.score]));
        out[workers] = o;
      }
      // The copies must fit in poolMemoryMB: 2.5 copies' worth holds two, not four.
      const small = new ClipdbWorkerClient({ workers: 4, poolMemoryMB: (2.5 * out[1].pool.modelBytes) / 2 ** 20 });
      clients.push(small);
      await small.init({ dbName: 'pool-small' });
      await small.loadModel({ urls });
      out.small = (await small.info()).pool;
      out.badWorkers = await err(small.init({ workers: 0 }));
      out.badMemory = await err(small.init({ poolMemoryMB: -1 }));
      // Abort part-way with 2 workers: ABORTED naming what was stored; each stored photo is
      // searchable; the next insert adds the rest.
      const ab = new ClipdbWorkerClient({ workers: 2 });
      clients.push(ab);
      await ab.init({ dbName: 'pool-abort' });
      await ab.loadModel({ urls });
      const ac = new AbortController();
      out.aborted = await err(ab.insert(files, { transfer: false, signal: ac.signal, onProgress: (p) => { if (p.done >= 5) ac.abort(); } }));
      out.abortedCount = await ab.count();
      out.abortedHits = (await ab.search({ text: `a ${queries[0]}` }, { n: names.length })).length;
      const rest = await ab.insert(files, { transfer: false });
      out.abortedRest = { inserted: rest.inserted, skipped: rest.skipped, count: rest.count };
      // An engine that crashes on its third task (pool-crash-worker.mjs).
      const crash = new ClipdbWorkerClient({ workers: 2 });
      clients.push(crash);
      await crash.init({ dbName: 'pool-crash', engineURL: new URL('/tests/browser/pool-crash-worker.mjs', location.href).href });
      await crash.loadModel({ urls });
      out.crash = await err(crash.insert(files.slice(0, 20), { transfer: false }));
      out.crashPool = (await crash.info()).pool;
      const again = await crash.insert(files, { transfer: false });
      out.again = { inserted: again.inserted, skipped: again.skipped, failed: again.failed.length, count: again.count };
      out.crashRanking = (await crash.search({ text: `a ${queries[0]}` }, { n: names.length })).map((h) => [h._id, h.score]);
    } finally {
      for (const c of clients) c.terminate();
    }
    return out;
  }, { names, queries });
  assert.equal(r.isolated, false, 'this test runs without cross-origin isolation');
  const good = names.filter((n) => n !== 'zz-broken.jpg');
  for (const w of [1, 2]) {
    assert.equal(r[w].inserted, COUNT, `${w} worker(s): every picture stored`);
    assert.deepEqual(r[w].failed, [['zz-broken.jpg', r[w].failed[0]?.[1]]]);
    assert.ok(r[w].failed[0][1] !== 'WORKER_ERROR');
    for (const ranking of r[w].rankings) assert.deepEqual(ranking.map((x) => x[0]).sort(), good);
  }
  assert.equal(r[1].identifier, r[2].identifier);
  // Stored in input order either way.
  assert.deepEqual(r[1].order, good);
  assert.deepEqual(r[2].order, good);
  // The same vectors: every score of every ranking is the same number, in the same order.
  assert.deepEqual(r[2].rankings, r[1].rankings);
  // The best hit shows what was asked for; "more like this" ranks its photo first with score 1.
  assert.equal(queries.length, 3);
  for (let q = 0; q < 3; q++) assert.ok(r[1].rankings[q][0][0].includes(`-${queries[q].replace(' ', '-')}.`), `best hit for '${queries[q]}': ${r[1].rankings[q][0][0]}`);
  assert.equal(r[1].rankings[3][0][0], r[1].rankings[0][5][0]);
  assert.ok(Math.abs(r[1].rankings[3][0][1] - 1) < 1e-5);
  // The pool: one worker did everything; with two, both embedded and thumbnailed.
  // One copy of clipdb-shapes: its 1.29-MB weights in float32 and the engine's buffers.
  assert.ok(r[1].pool.modelBytes > 1289628 && r[1].pool.modelBytes < 64 << 20, `model copy: ${r[1].pool.modelBytes} bytes`);
  assert.equal(r[2].pool.modelBytes, r[1].pool.modelBytes);
  console.log(`# one copy of clipdb-shapes in an engine: ${r[1].pool.modelBytes} bytes; 2 workers: ${r[2].pool.embedded.join('/')} embedded, ${r[2].pool.thumbnails.join('/')} thumbnails`);
  assert.deepEqual(r[1].pool, { workers: 1, alive: 1, modelBytes: r[1].pool.modelBytes, embedded: [COUNT], thumbnails: [COUNT] });
  assert.equal(r[2].pool.workers, 2);
  assert.equal(r[2].pool.alive, 2);
  assert.equal(r[2].pool.embedded.length, 2);
  assert.equal(r[2].pool.embedded[0] + r[2].pool.embedded[1], COUNT);
  assert.equal(r[2].pool.thumbnails[0] + r[2].pool.thumbnails[1], COUNT); // made (the broken file made none)
  for (const k of [0, 1]) {
    assert.ok(r[2].pool.embedded[k] >= COUNT / 4, `worker ${k} embedded ${r[2].pool.embedded[k]} of ${COUNT}`);
    assert.ok(r[2].pool.thumbnails[k] >= COUNT / 4, `worker ${k} made ${r[2].pool.thumbnails[k]} thumbnails`);
  }
  assert.deepEqual([r.small.workers, r.small.alive], [2, 2]);
  assert.equal(r.badWorkers.code, 'INVALID_ARGUMENT');
  assert.match(r.badWorkers.message, /workers must be an integer from 1 to 16, got 0/);
  assert.equal(r.badMemory.code, 'INVALID_ARGUMENT');
  assert.match(r.badMemory.message, /poolMemoryMB must be a number > 0, got -1/);
  // Abort: a named error listing what was stored, and that is what the store holds.
  assert.equal(r.aborted.code, 'ABORTED');
  assert.ok(r.aborted.inserted >= 5 && r.aborted.inserted < COUNT, `aborted after ${r.aborted.inserted}`);
  assert.equal(r.abortedCount, r.aborted.inserted);
  assert.equal(r.abortedHits, r.aborted.inserted);
  assert.deepEqual(r.abortedRest, { inserted: COUNT - r.aborted.inserted, skipped: r.aborted.inserted, count: COUNT });
  // The crash: a named error, not a hang; the worker left finishes the next insert.
  assert.equal(r.crash.code, 'WORKER_ERROR');
  assert.match(r.crash.message, /^engine worker 1 of 2 failed: .*engine crash staged by the test/);
  assert.ok(r.crash.inserted < 20);
  assert.equal(r.crashPool.alive, 1);
  assert.match(r.crashPool.failure, /engine worker 1 of 2 failed/);
  assert.equal(r.again.inserted + r.again.skipped, COUNT);
  assert.equal(r.again.count, COUNT);
  assert.equal(r.again.failed, 1);
  assert.deepEqual(r.crashRanking, r[1].rankings[0]);
});
