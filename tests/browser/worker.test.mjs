// The Worker API (ClipdbWorkerClient + web/src/worker.mjs) and the IndexedDB model cache in
// Debian's Chromium, without a model: errors cross the Worker as ClipdbError with their code,
// AbortSignal aborts a call inside the Worker, terminate() rejects pending calls; the model
// cache returns what was stored (as a Blob), ignores (and deletes) records whose size or SHA-256 no longer
// match (CASES.md B20), and getModelFiles reads the network once, then the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM, openProfile, openTestPage } from './chromium.mjs';

const skip = chromiumSkip([NEEDS_WASM]);

let server, hang, hangURL, browser, context, page;
const held = [];
before(async () => {
  if (skip) return;
  server = await serve({});
  // A server that accepts requests and never answers: calls stay in flight until aborted.
  hang = http.createServer((req, res) => { held.push(res); res.setHeader('access-control-allow-origin', '*'); });
  await new Promise((r) => hang.listen(0, '127.0.0.1', r));
  hangURL = `http://127.0.0.1:${hang.address().port}/model.safetensors`;
  browser = await openProfile();
  ({ context, page } = browser);
  await openTestPage(page, server, 'worker.html');
});
after(async () => {
  await browser?.close();
  for (const r of held) r.destroy();
  hang?.closeAllConnections?.();
  await new Promise((r) => (hang ? hang.close(r) : r()));
  await server?.close();
});

test('ClipdbWorkerClient: results, errors with codes, abort, terminate', { skip, timeout: 120000 }, async () => {
  const r = await page.evaluate(async (hangURL) => {
    const { ClipdbWorkerClient } = await import('/web/src/index.mjs');
    const err = async (p) => { try { await p; return 'resolved'; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
    const client = new ClipdbWorkerClient();
    const progress = [];
    client.addEventListener('progress', (e) => progress.push(e.progress));
    const out = {};
    out.init = await client.init({ dbName: 'worker-test' });
    out.count = await client.count();
    out.noModel = await err(client.search({ text: 'a red circle' }));
    out.unknownOp = await err(client.call('nope'));
    out.badArgs = await err(client.loadModel({}));
    const ac0 = new AbortController(); ac0.abort();
    out.preAborted = await err(client.loadModel({ urls: [{ name: 'model.safetensors', url: hangURL }] }, { signal: ac0.signal }));
    // In flight: the model download never completes; abort it inside the Worker.
    const ac = new AbortController();
    // (The vocabulary is fetched first and found; then the weights' download hangs.)
    const vocab = { name: 'vocab.txt.gz', url: new URL('/models/clipdb-shapes/vocab.txt.gz', location.href).href };
    out.noVocab = await err(client.loadModel({ urls: [{ name: 'model.safetensors', url: hangURL }], cache: false }));
    const p = client.loadModel({ urls: [vocab, { name: 'model.safetensors', url: hangURL }], cache: false }, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    out.aborted = await err(p);
    out.stillWorks = await client.count();
    // terminate() rejects what is pending, and every later call.
    const p2 = client.loadModel({ urls: [vocab, { name: 'model.safetensors', url: hangURL }], cache: false });
    await new Promise((r) => setTimeout(r, 300));
    client.terminate();
    out.terminated = await err(p2);
    out.after = await err(client.count());
    // Transfer: an ArrayBuffer argument is moved to the Worker (detached here).
    const c2 = new ClipdbWorkerClient();
    await c2.init({ dbName: 'worker-test' });
    const buf = new Uint8Array([1, 2, 3]).buffer;
    out.transferErr = await err(c2.search({ image: buf }));
    out.detached = buf.byteLength;
    c2.terminate();
    return out;
  }, hangURL);
  assert.equal(r.init.persistent, true);
  assert.equal(r.init.storage, 'indexeddb');
  assert.equal(r.init.model, null);
  assert.equal(r.init.modelCache, true);
  assert.equal(r.count, 0);
  assert.deepEqual(r.noModel, { name: 'ClipdbError', code: 'INVALID_STATE', message: 'no model is loaded: call loadModel() first' });
  assert.equal(r.unknownOp.code, 'INVALID_ARGUMENT');
  assert.match(r.unknownOp.message, /unknown worker op 'nope'/);
  assert.equal(r.badArgs.code, 'INVALID_ARGUMENT');
  assert.equal(r.preAborted.code, 'ABORTED');
  assert.equal(r.aborted.code, 'ABORTED');
  // No vocabulary among the URLs: a named error before the (hanging) weights download starts.
  assert.equal(r.noVocab.code, 'NOT_FOUND');
  assert.match(r.noVocab.message, /no tokenizer vocabulary found .*the weights were not downloaded/);
  assert.equal(r.stillWorks, 0);
  assert.equal(r.terminated.code, 'TERMINATED');
  assert.equal(r.after.code, 'TERMINATED');
  assert.equal(r.transferErr.code, 'INVALID_STATE');
  assert.equal(r.detached, 0, 'the ArrayBuffer was transferred, not copied');
  assert.ok(held.length >= 1, 'the Worker did request the model');
});

test('model cache: stored bytes come back; size or SHA-256 mismatches are ignored and deleted; network once, then cache', { skip, timeout: 120000 }, async () => {
  const r = await page.evaluate(async () => {
    const { openModelCache, getModelFiles, sha256Hex } = await import('/web/src/index.mjs');
    const { openDB } = await import('idb');
    const logs = [];
    const cache = await openModelCache({ name: 'cache-test', log: (m) => logs.push(m) });
    const out = {};
    const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 255);
    out.put = await cache.put('http://x/a.safetensors', 'a.safetensors', bytes.buffer.slice(0));
    const got = await cache.get('http://x/a.safetensors');
    out.isBlob = got?.data instanceof Blob;
    out.same = got && Array.from(new Uint8Array(await got.data.arrayBuffer())).join() === Array.from(bytes).join();
    out.sha = got?.sha256 === await sha256Hex(bytes);
    out.miss = await cache.get('http://x/none');
    // Tamper with the stored records the way a failed or partial write would leave them.
    const raw = await openDB('cache-test', 1);
    const rec = await raw.get('files', 'http://x/a.safetensors');
    await raw.put('files', { ...rec, data: new Blob([bytes.slice(0, 999)]) }, 'http://x/a.safetensors');
    out.shortIgnored = await cache.get('http://x/a.safetensors');
    out.shortDeleted = (await raw.get('files', 'http://x/a.safetensors')) === undefined;
    await cache.put('http://x/b', 'b', bytes.buffer.slice(0));
    const recB = await raw.get('files', 'http://x/b');
    const flipped = bytes.slice(); flipped[500] ^= 1;
    await raw.put('files', { ...recB, data: new Blob([flipped]) }, 'http://x/b');
    out.hashIgnored = await cache.get('http://x/b');
    out.hashDeleted = (await raw.get('files', 'http://x/b')) === undefined;
    // A record written before per-slice digests (whole-file sha256 only) is checked with the
    // streaming SHA-256: intact → used; one byte changed → ignored and deleted.
    const { chunks, chunkSize, ...legacy } = await (async () => { await cache.put('http://x/c', 'c', bytes.buffer.slice(0)); return raw.get('files', 'http://x/c'); })();
    out.recordChunks = [chunkSize, chunks.length];
    await raw.put('files', legacy, 'http://x/c');
    const legacyHit = await cache.get('http://x/c');
    out.legacySame = legacyHit && Array.from(new Uint8Array(await legacyHit.data.arrayBuffer())).join() === Array.from(bytes).join();
    await raw.put('files', { ...legacy, data: new Blob([flipped]) }, 'http://x/c');
    out.legacyIgnored = await cache.get('http://x/c');
    out.legacyDeleted = (await raw.get('files', 'http://x/c')) === undefined;
    raw.close();
    out.logs = logs;
    // getModelFiles: network, then cache; optional missing files skipped; required missing → IO.
    const files = [{ name: 'worker.html', url: new URL('/tests/browser/worker.html', location.href).href }, { name: 'config.json', url: new URL('/no/such/config.json', location.href).href, optional: true }];
    const prog = [];
    const first = await getModelFiles(files, { cache, onProgress: (p) => prog.push(p.source) });
    const second = await getModelFiles(files, { cache });
    out.first = first.map((f) => [f.name, f.source, f.data instanceof Blob && f.data.size]);
    out.second = second.map((f) => [f.name, f.source, f.data instanceof Blob && f.data.size]);
    out.sameText = (await first[0].data.text()) === (await second[0].data.text());
    out.shaBlob = second[0].sha256 === await sha256Hex(await first[0].data.arrayBuffer()) && second[0].sha256 === await sha256Hex(second[0].data);
    out.firstProgress = [...new Set(prog)];
    try { await getModelFiles([{ name: 'x', url: '/no/such/file' }], { cache }); out.required = 'resolved'; } catch (e) { out.required = [e.code, e.message]; }
    out.list = (await cache.list()).map((f) => f.name);
    return out;
  });
  assert.equal(r.put, true);
  assert.equal(r.isBlob, true, 'the cache hands back a Blob');
  assert.equal(r.same, true);
  assert.equal(r.sha, true);
  assert.equal(r.miss, null);
  assert.equal(r.shortIgnored, null);
  assert.equal(r.shortDeleted, true);
  assert.equal(r.hashIgnored, null);
  assert.equal(r.hashDeleted, true);
  assert.deepEqual(r.recordChunks, [4 << 20, 1]);
  assert.equal(r.legacySame, true);
  assert.equal(r.legacyIgnored, null);
  assert.equal(r.legacyDeleted, true);
  assert.equal(r.logs.length, 3);
  assert.match(r.logs[0], /size 999 != recorded 1000/);
  assert.match(r.logs[1], /SHA-256 differs .*\(bytes 0-999\)/);
  assert.match(r.logs[2], /ignoring http:\/\/x\/c: SHA-256 differs/);
  const size = r.first[0][2];
  assert.ok(size > 100);
  assert.deepEqual(r.first, [['worker.html', 'network', size]]);
  assert.deepEqual(r.second, [['worker.html', 'cache', size]]);
  assert.deepEqual(r.firstProgress, ['network']);
  assert.equal(r.sameText, true);
  assert.equal(r.shaBlob, true);
  assert.equal(r.required[0], 'IO');
  assert.match(r.required[1], /HTTP 404/);
  assert.deepEqual(r.list, ['worker.html']);
});
