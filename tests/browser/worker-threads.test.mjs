// The threaded wasm module in Debian's Chromium: a cross-origin isolated page (scripts/serve.mjs
// sends COOP/COEP) whose ClipdbWorkerClient asks for threads: 2 gets a clipdb Worker running
// web/dist/clipdb-mt.wasm on 2 threads (info().model.threads, one engine: the threads use the
// cores), and indexes 24 pictures scripts/shapes.py draws with the shipped model; its rankings
// (three text queries and a "more like this") are the same floats, to the last bit, as those of
// a client with threads: 1 (the single-threaded clipdb.wasm). On a page that is not isolated,
// threads: 2 is UNSUPPORTED and the default stays 1 thread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM, NEEDS_SHAPES_MODEL, PYTHON, pythonSkip, openProfile, openTestPage } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]) || pythonSkip();
const SEED = 6262; // not a training seed (scripts/train-tiny-clip.py)
const COUNT = 24;

let work, names, queries;
before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-threads-'));
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', work, '--seed', String(SEED), '--count', String(COUNT)], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  names = (await readdir(work)).sort();
  queries = [...new Set(names.map((n) => /^img\d+-([a-z]+)-([a-z]+)\./.exec(n)).filter(Boolean).map((m) => `${m[1]} ${m[2]}`))].slice(0, 3);
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function onPage(isolate, fn, arg) {
  const server = await serve({ mounts: { '/thread-photos/': work }, isolate });
  const browser = await openProfile();
  try {
    await openTestPage(browser.page, server, 'worker.html');
    return await browser.page.evaluate(fn, arg);
  } finally {
    await browser.close();
    await server.close();
  }
}

test('threads: an isolated page runs the threaded module on 2 threads with the same vectors as 1 thread', { skip, timeout: 300000 }, async () => {
  const r = await onPage(true, async ({ names, queries }) => {
    const { ClipdbWorkerClient } = await import('/web/src/index.mjs');
    const files = await Promise.all(names.map(async (n) => new File([await (await fetch(`/thread-photos/${n}`)).blob()], n, { type: n.endsWith('.png') ? 'image/png' : 'image/jpeg' })));
    const urls = ['model.safetensors', 'vocab.txt.gz'].map((name) => ({ name, url: new URL(`/models/clipdb-shapes/${name}`, location.href).href }));
    const out = { isolated: crossOriginIsolated };
    for (const threads of [1, 2]) {
      const c = new ClipdbWorkerClient({ threads });
      try {
        await c.init({ dbName: `threads-${threads}` });
        await c.loadModel({ urls });
        const ins = await c.insert(files, { transfer: false });
        const info = await c.info();
        const o = { inserted: ins.inserted, threads: info.model.threads, workers: info.model.workers, configThreads: info.model.config.threads, rankings: [] };
        for (const q of queries) o.rankings.push((await c.search({ text: `a ${q}` }, { n: names.length })).map((h) => [h._id, h.score]));
        o.rankings.push((await c.search({ id: o.rankings[0][3][0] }, { n: names.length })).map((h) => [h._id, h.score]));
        out[threads] = o;
      } finally {
        c.terminate();
      }
    }
    return out;
  }, { names, queries });
  assert.equal(r.isolated, true);
  for (const t of [1, 2]) {
    assert.equal(r[t].inserted, COUNT);
    assert.equal(r[t].threads, t, `info().model.threads with threads: ${t}`);
    assert.equal(r[t].configThreads, t, 'the model config reports the pool');
    assert.equal(r[t].workers, 1, 'one engine: the threads use the cores');
  }
  assert.equal(r[1].rankings.length, 4);
  for (let i = 0; i < 4; i++) {
    assert.equal(r[1].rankings[i].length, COUNT);
    assert.deepEqual(r[2].rankings[i], r[1].rankings[i], `ranking ${i}: the same ids and scores to the last bit`);
  }
});

test('threads: a page that is not isolated cannot have wasm threads (UNSUPPORTED) and defaults to 1', { skip, timeout: 120000 }, async () => {
  const r = await onPage(false, async () => {
    const { createModule } = await import('/web/src/index.mjs');
    const out = { isolated: crossOriginIsolated };
    try { await createModule({ threads: 2 }); out.two = 'resolved'; } catch (e) { out.two = { code: e.code, message: e.message }; }
    out.defaultThreads = (await createModule()).clipdbThreads;
    return out;
  });
  assert.equal(r.isolated, false);
  assert.equal(r.two.code, 'UNSUPPORTED');
  assert.match(r.two.message, /cross-origin isolated/);
  assert.equal(r.defaultThreads, 1);
});
