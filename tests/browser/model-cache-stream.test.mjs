// The Worker path of the PWA (web/src/worker.mjs through ClipdbWorkerClient) with the shipped
// model models/clipdb-shapes in Debian's Chromium: model files given as File/Blob, or handed
// back by the IndexedDB model cache, reach loadModel as Blobs and are read in slices (every Blob
// read in the Worker is recorded by tests/browser/model-cache-probe-worker.mjs; none is of the
// whole file); the cached record is a Blob whose streamed load gives exactly the embeddings of
// the same file as an ArrayBuffer; the identifier carries the file's true SHA-256 (hashed over
// 64 KiB slices); a damaged cached model gives a clear error while the photos, their vectors,
// the model loaded before and the other cached files stay as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM, openProfile, openTestPage } from './chromium.mjs';
import { modelsDir } from '../js/golden.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = path.join(modelsDir, 'clipdb-shapes', 'model.safetensors');
const skip = chromiumSkip([NEEDS_WASM, [MODEL, 'models/clipdb-shapes is not in this tree']]);
const CHUNK = 65536; // modelChunkSize: far below the 1.3 MB model, so "never whole" is visible

let server, models, browser, context, page;
before(async () => {
  if (skip) return;
  server = await serve({});
  // The model files come from a second origin that the test can take away ("offline").
  models = await serve({ root: modelsDir, headers: { 'access-control-allow-origin': '*' } });
  browser = await openProfile();
  ({ context, page } = browser);
  await openTestPage(page, server, 'worker.html');
});
after(async () => {
  await browser?.close();
  await models?.close();
  await server?.close();
});

const modelSize = () => readFileSync(MODEL).length;

test('worker: model Files and cached models are streamed Blobs, never read whole; same embeddings and results', { skip, timeout: 180000 }, async () => {
  const r = await page.evaluate(async ({ CHUNK, modelsURL }) => {
    const { ClipdbWorkerClient } = await import('/web/src/index.mjs');
    const w = new Worker('/tests/browser/model-cache-probe-worker.mjs', { type: 'module' });
    const probe = (m) => new Promise((resolve) => {
      const on = (e) => { if (e.data?.type === 'probe') { w.removeEventListener('message', on); resolve(e.data); } };
      w.addEventListener('message', on);
      w.postMessage({ type: 'probe', ...m });
    });
    const client = new ClipdbWorkerClient({ worker: w });
    const logs = [];
    client.addEventListener('log', (e) => logs.push(e.message));
    const urls = [{ name: 'model.safetensors', url: `${modelsURL}clipdb-shapes/model.safetensors` }, { name: 'vocab.txt.gz', url: `${modelsURL}clipdb-shapes/vocab.txt.gz` }];
    window.__t = { client, probe, urls, logs };
    const out = {};
    await client.init({ dbName: 'stream-db', modelCacheName: 'stream-cache', modelChunkSize: CHUNK });
    // 1. Files picked by the user (a File per model file).
    const model = await (await fetch(urls[0].url)).blob();
    const vocab = await (await fetch(urls[1].url)).blob();
    await probe({ op: 'reads' });
    out.files = await client.loadModel({ files: [{ name: 'model.safetensors', data: new File([model], 'model.safetensors') }, { name: 'vocab.txt.gz', data: new File([vocab], 'vocab.txt.gz') }], label: 'shapes' });
    out.filesReads = (await probe({ op: 'reads' })).reads;
    // Photos: eight 64x64 PNGs, a coloured shape on white.
    const photos = [];
    for (const [i, colour] of ['red', 'blue', 'green', 'yellow'].entries()) {
      for (const shape of ['circle', 'square']) {
        const c = new OffscreenCanvas(64, 64);
        const g = c.getContext('2d');
        g.fillStyle = 'white'; g.fillRect(0, 0, 64, 64);
        g.fillStyle = colour;
        if (shape === 'circle') { g.beginPath(); g.arc(32, 32, 20 + i, 0, 2 * Math.PI); g.fill(); } else g.fillRect(12 - i, 12, 40 + i, 40);
        photos.push({ name: `${colour}-${shape}.png`, type: 'image/png', data: await c.convertToBlob({ type: 'image/png' }) });
      }
    }
    out.insert = await client.insert(photos);
    const search = async () => (await client.search({ text: 'a red circle', n: 8 })).map((h) => [h._id, h.score]);
    out.searchFiles = await search();
    // 2. From URLs: the network once (then stored in the cache), then the cache.
    out.network = await client.loadModel({ urls, label: 'shapes' });
    await probe({ op: 'reads' });
    out.cached = await client.loadModel({ urls, label: 'shapes' });
    out.cachedReads = (await probe({ op: 'reads' })).reads;
    out.searchCached = await search();
    window.__t.search = search;
    window.__t.before = out.searchCached;
    // 3. The cached record: a Blob; streamed it embeds exactly as the fetched ArrayBuffer.
    out.emb = await probe({ op: 'embeddings', url: urls[0].url, cacheName: 'stream-cache', chunkSize: CHUNK, idbURL: new URL('/node_modules/idb/build/index.js', location.href).href });
    out.logs = logs.slice();
    return out;
  }, { CHUNK, modelsURL: models.url });
  const size = modelSize();
  const sha = createHash('sha256').update(readFileSync(MODEL)).digest('hex');
  for (const [what, load] of [['files', r.files], ['network', r.network], ['cache', r.cached]]) {
    assert.equal(load.source, what);
    assert.equal(load.identifier, `shapes@sha256:${sha.slice(0, 16)}`, `${what}: the identifier carries the file's SHA-256`);
  }
  assert.equal(r.files.bytes, size + readFileSync(path.join(modelsDir, 'clipdb-shapes', 'vocab.txt.gz')).length);
  assert.deepEqual([r.insert.inserted, r.insert.failed], [8, []]);
  // Reads in the Worker while loading from Files: the load streamed (FileReaderSync, many
  // slices), the hash read 64 KiB slices covering the file once; no read of the whole file.
  const check = (reads, what) => {
    const sync = reads.filter(([k]) => k === 'sync').map(([, n]) => n);
    const slices = reads.filter(([k, n]) => k === 'arrayBuffer' && n === CHUNK).length;
    assert.ok(sync.length > 10, `${what}: ${sync.length} streamed reads`);
    assert.ok(sync.reduce((a, b) => a + b, 0) <= size, `${what}: streamed ${sync.reduce((a, b) => a + b, 0)} bytes of ${size}`);
    assert.equal(slices, Math.floor(size / CHUNK), `${what}: whole 64 KiB slices read by the hash / cache check`);
    const largest = Math.max(...reads.map(([, n]) => n));
    assert.ok(largest < size / 2, `${what}: largest Blob read ${largest} bytes of a ${size}-byte model`);
  };
  check(r.filesReads, 'files');
  check(r.cachedReads, 'cache');
  assert.equal(r.emb.error, undefined, r.emb.error);
  assert.equal(r.emb.isBlob, true, 'the model cache hands back a Blob');
  assert.equal(r.emb.size, size);
  assert.ok(r.emb.streamedReads.length > 10 && r.emb.streamedReads.every(([k]) => k === 'sync'), 'the cached Blob was streamed');
  assert.ok(r.emb.fromCache.image.some((v) => v !== 0));
  assert.deepEqual(r.emb.fromCache, r.emb.fromBuffer, 'embeddings from the cached Blob and from the ArrayBuffer differ');
  assert.equal(r.searchFiles.length, 8);
  assert.deepEqual(r.searchCached, r.searchFiles, 'the model from Files and from the cache rank and score alike');
  assert.deepEqual(r.logs, []);
});

test('worker: a damaged cached model gives a clear error; photos, vectors, the loaded model and other cached files stay', { skip, timeout: 180000 }, async () => {
  const run = (step) => page.evaluate(async ({ step, CHUNK }) => {
    const { client, urls, search, before, logs } = window.__t;
    const { openModelCache } = await import('/web/src/index.mjs');
    const { openDB } = await import('idb');
    const err = async (p) => { try { await p; return 'resolved'; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
    const state = async () => ({ count: await client.count(), same: JSON.stringify(await search()) === JSON.stringify(before), model: (await client.info()).model.identifier, cached: (await (await openModelCache({ name: 'stream-cache', chunkSize: CHUNK })).list()).map((f) => f.name).sort() });
    const out = {};
    const raw = await openDB('stream-cache', 1);
    const rec = await raw.get('files', urls[0].url);
    logs.length = 0;
    if (step === 'truncated') {
      // A record that passes its checks but holds a truncated file (e.g. what a server sent).
      const cache = await openModelCache({ name: 'stream-cache', chunkSize: CHUNK });
      out.put = await cache.put(urls[0].url, 'model.safetensors', rec.data.slice(0, rec.size >> 1));
      out.load = await err(client.loadModel({ urls, label: 'shapes' }));
      out.kept = (await raw.get('files', urls[0].url))?.size === rec.size >> 1;
      out.after = await state();
      await raw.put('files', rec, urls[0].url); // restore the intact record
      out.reload = (await client.loadModel({ urls, label: 'shapes' })).source;
      out.reloadSame = JSON.stringify(await search()) === JSON.stringify(before);
    } else {
      // One byte changed in the stored Blob (same size): the slice check finds it; the record is
      // dropped and, with the model server gone, the load fails with IO naming the URL.
      const bytes = new Uint8Array(await rec.data.arrayBuffer());
      bytes[700000] ^= 0x10;
      await raw.put('files', { ...rec, data: new Blob([bytes]) }, urls[0].url);
      out.load = await err(client.loadModel({ urls, label: 'shapes' }));
      out.after = await state();
    }
    raw.close();
    out.logs = logs.slice();
    return out;
  }, { step, CHUNK });

  const t = await run('truncated');
  assert.equal(t.put, true);
  assert.equal(t.load.code, 'BAD_MODEL', JSON.stringify(t.load));
  assert.match(t.load.message, /model\.safetensors/);
  assert.match(t.load.message, /read from the model cache: model\.safetensors \(http:\/\/127\.0\.0\.1:\d+\/clipdb-shapes\/model\.safetensors\); the cached copy was kept/);
  assert.equal(t.kept, true, 'the cached record was not deleted');
  assert.equal(t.after.count, 8, 'the photos are still stored');
  assert.equal(t.after.same, true, 'search still gives the same results with the model loaded before');
  assert.match(t.after.model, /^shapes@sha256:/);
  assert.deepEqual(t.after.cached, ['model.safetensors', 'vocab.txt.gz']);
  assert.equal(t.reload, 'cache');
  assert.equal(t.reloadSame, true);

  await models.close();
  models = null;
  const f = await run('flipped');
  assert.equal(f.load.code, 'IO', JSON.stringify(f.load));
  assert.match(f.load.message, /failed to fetch http:\/\/127\.0\.0\.1:\d+\/clipdb-shapes\/model\.safetensors/);
  assert.ok(f.logs.some((m) => /ignoring .*model\.safetensors: SHA-256 differs .*\(bytes 655360-720895\)/.test(m)), f.logs.join('\n'));
  assert.equal(f.after.count, 8);
  assert.equal(f.after.same, true);
  assert.deepEqual(f.after.cached, ['vocab.txt.gz'], 'only the damaged record was dropped');
});
