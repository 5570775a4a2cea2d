// The store's IndexedDB layout in real Chromium: a version-1 database (clipdb 0.1: documents
// with their image bytes inline in 'docs', one record per vector in 'vectors') is converted on
// open with nothing lost and nothing re-embedded; binary fields come back as Blobs read from
// IndexedDB; site data deleted under an open page is reported instead of serving deleted
// documents.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, openProfile, NEEDS_WASM } from './chromium.mjs';

const skip = chromiumSkip([NEEDS_WASM]);
let server;
before(async () => { if (!skip) server = await serve(); });
after(async () => { await server?.close(); });

const PAGE = `<!doctype html><meta charset="utf-8">
<script type="importmap">{ "imports": { "idb": "/node_modules/idb/build/index.js" } }</script>
<script type="module">
  import * as clipdb from '/web/src/index.mjs';
  window.clipdb = clipdb;
  window.ready = true;
</script>`;

async function page(p) {
  await p.route('**/layout-test.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  await p.goto(`${server.url}layout-test.html`);
  await p.waitForFunction(() => window.ready === true);
}

test('a clipdb 0.1 IndexedDB database is converted on open: documents, Blobs, typed ids, vectors, no re-embedding', { skip, timeout: 120000 }, async () => {
  const b = await openProfile();
  try {
    await page(b.page);
    const r = await b.page.evaluate(async () => {
      // Version 1 exactly as clipdb 0.1 wrote it (web/src/db/storage.mjs of 0.1): stores
      // docs/vectors/meta, keys "<collection>\\0<_id>" / "<index>\\0<_id>", binary inline.
      await new Promise((resolve, reject) => {
        const req = indexedDB.open('v1store', 1);
        req.onupgradeneeded = () => { for (const s of ['docs', 'vectors', 'meta']) req.result.createObjectStore(s); };
        req.onsuccess = () => {
          const db = req.result, tx = db.transaction(['docs', 'vectors', 'meta'], 'readwrite');
          tx.objectStore('meta').put({ name: 'images', collection: 'photos', key: 'image', filter: {}, model: { identifier: 'fake#visual', dim: 4 }, compatible: null }, 'vectorIndex\u0000images');
          const bytes = (a) => Uint8Array.from([a, 2, 3, 4, 255, 216, 255]);
          tx.objectStore('docs').put({ doc: { _id: 'a.jpg', image: { $clipdb: 'blob', type: 'image/jpeg', bytes: bytes(1) }, year: 2020 }, pending: [], seq: 0 }, 'photos\u0000a.jpg');
          tx.objectStore('docs').put({ doc: { _id: 5, image: { $clipdb: 'blob', type: 'image/jpeg', bytes: bytes(9) }, year: 2021 }, pending: [], seq: 1 }, 'photos\u00005');
          tx.objectStore('docs').put({ doc: { _id: 'late.jpg', image: { $clipdb: 'blob', type: 'image/jpeg', bytes: bytes(4) }, year: 2022 }, pending: ['images'], seq: 2 }, 'photos\u0000late.jpg');
          tx.objectStore('vectors').put(Float32Array.of(2, 2, 3, 4), 'images\u0000a.jpg');
          tx.objectStore('vectors').put(Float32Array.of(10, 2, 3, 4), 'images\u00005');
          tx.oncomplete = () => { db.close(); resolve(); };
          tx.onerror = () => reject(tx.error);
        };
        req.onerror = () => reject(req.error);
      });
      const { openDatabase, Model, Listener, VectorIndex } = window.clipdb;
      let calls = 0;
      const model = new Model({ identifier: 'fake#visual', dim: 4, encode: async (v) => { calls++; return Float32Array.from(v.subarray(0, 4), (x) => x + 1); } });
      const db = await openDatabase({ storage: 'indexeddb', name: 'v1store', fallback: false });
      const migrated = db.migrated;
      const added = await db.add(new VectorIndex('images', { indexingListener: new Listener({ model, key: 'image', select: { collection: 'photos' } }) }));
      const hits = await db.collection('photos').like({ _id: 5 }, { vectorIndex: 'images', n: 3 }).find();
      const img = hits[0].image;
      const out = {
        migrated, added, calls, ids: hits.map((h) => h._id), idTypes: hits.map((h) => typeof h._id),
        isBlob: img instanceof Blob, type: img.type, bytes: [...new Uint8Array(await img.arrayBuffer())],
        stores: [...(await new Promise((res) => { const q = indexedDB.open('v1store'); q.onsuccess = () => { res(q.result.objectStoreNames); q.result.close(); }; }))],
      };
      await db.close();
      return out;
    });
    assert.deepEqual(r.migrated, { from: 1, documents: 3 });
    // a.jpg and 5 keep their vectors; late.jpg was pending in 0.1 and is embedded now (once).
    assert.deepEqual(r.added, { loaded: 2, embedded: 1 });
    assert.equal(r.calls, 1);
    assert.deepEqual(r.ids, [5, 'late.jpg', 'a.jpg']);
    assert.deepEqual(r.idTypes, ['number', 'string', 'string']);
    assert.ok(r.isBlob);
    assert.equal(r.type, 'image/jpeg');
    assert.deepEqual(r.bytes, [9, 2, 3, 4, 255, 216, 255]);
    assert.deepEqual(r.stores.sort(), ['blobs', 'docs-v2', 'meta', 'pending', 'vectors-v2']);
  } finally { await b.close(); }
});

test('site data deleted under an open page: reads and writes are INVALID_STATE naming the cause', { skip, timeout: 120000 }, async () => {
  const b = await openProfile();
  try {
    await page(b.page);
    await b.page.evaluate(async () => {
      const { openDatabase } = window.clipdb;
      window.db = await openDatabase({ storage: 'indexeddb', name: 'wiped', fallback: false });
      await window.db.collection('c').insertMany([{ _id: 1, a: 1 }, { _id: 2, a: 2 }]);
    });
    const cdp = await b.context.newCDPSession(b.page);
    await cdp.send('Storage.clearDataForOrigin', { origin: new URL(server.url).origin, storageTypes: 'indexeddb' });
    const r = await b.page.evaluate(async () => {
      await new Promise((res) => setTimeout(res, 300));
      const out = {};
      for (const [name, fn] of [['find', () => window.db.collection('c').find()], ['insert', () => window.db.collection('c').insertOne({ _id: 3 })]]) {
        try { await fn(); out[name] = 'no error'; } catch (e) { out[name] = `${e.code}: ${e.message}`; }
      }
      return out;
    });
    assert.match(r.find, /^INVALID_STATE: .*site data/);
    assert.match(r.insert, /^INVALID_STATE: .*site data/);
  } finally { await b.close(); }
});

test('vector chunks kept as Blobs load through reused buffers: a reopened store ranks exactly as brute force; a torn chunk is CORRUPT', { skip, timeout: 180000 }, async () => {
  const b = await openProfile();
  try {
    await page(b.page);
    const r = await b.page.evaluate(async () => {
      const { openDatabase, Model, Listener, VectorIndex } = window.clipdb;
      const D = 64;
      let s = 7; // a small LCG: the same vectors on every run
      const rnd = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
      const model = () => new Model({ identifier: 'identity', dim: D, kind: 'vector', encode: async (v) => Float32Array.from(v) });
      const index = () => new VectorIndex('vi', { indexingListener: new Listener({ model: model(), key: 'vec', select: { collection: 'docs' } }) });
      // Ten writes of 300 vectors (76.8 KB each: kept as Blobs), more than the loader's five
      // scratch buffers, then one of 20,000 (5.1 MB: more than a buffer's first size).
      const docs = [];
      let db = await openDatabase({ storage: 'indexeddb', name: 'vecblobs', fallback: false });
      await db.add(index());
      for (const size of [300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 20000]) {
        const batch = Array.from({ length: size }, (_, i) => ({ _id: docs.length + i, vec: Array.from({ length: D }, rnd) }));
        docs.push(...batch);
        await db.collection('docs').insertMany(batch, { batchSize: size });
      }
      const queries = Array.from({ length: 5 }, () => Array.from({ length: D }, rnd));
      const top = async (d) => Promise.all(queries.map(async (q) => (await d.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 10 }).find()).map((x) => [x._id, x.score])));
      const before = await top(db);
      await db.close();
      db = await openDatabase({ storage: 'indexeddb', name: 'vecblobs', fallback: false });
      const added = await db.add(index());
      const after = await top(db);
      await db.close();
      // Brute force in float64 over the documents as inserted.
      const norm = (v) => Math.sqrt(v.reduce((t, x) => t + x * x, 0));
      const expected = queries.map((q) => docs.map((d) => ({ id: d._id, score: d.vec.reduce((t, x, i) => t + x * q[i], 0) / (norm(d.vec) * norm(q)) }))
        .sort((x, y) => y.score - x.score).slice(0, 10));
      // Tear one chunk: its Blob one byte short of whole floats.
      const req = indexedDB.open('vecblobs');
      const raw = await new Promise((res, rej) => { req.onsuccess = () => res(req.result); req.onerror = () => rej(req.error); });
      const keys = await new Promise((res) => { const g = raw.transaction('vectors-v2').objectStore('vectors-v2').getAllKeys(); g.onsuccess = () => res(g.result); });
      const rec = await new Promise((res) => { const g = raw.transaction('vectors-v2').objectStore('vectors-v2').get(keys[3]); g.onsuccess = () => res(g.result); });
      const blobbed = rec.vectors instanceof Blob;
      await new Promise((res, rej) => {
        const tx = raw.transaction('vectors-v2', 'readwrite');
        tx.objectStore('vectors-v2').put({ ...rec, vectors: rec.vectors.slice(0, rec.vectors.size - 1) }, keys[3]);
        tx.oncomplete = res; tx.onerror = () => rej(tx.error);
      });
      raw.close();
      db = await openDatabase({ storage: 'indexeddb', name: 'vecblobs', fallback: false });
      let torn = null;
      try { await db.add(index()); } catch (e) { torn = { code: e.code, message: e.message }; }
      await db.close();
      return { before, after, added, expected: expected.map((h) => h.map((x) => [x.id, x.score])), chunks: keys.length, blobbed, tornKey: keys[3], torn };
    });
    assert.equal(r.chunks, 11);
    assert.equal(r.blobbed, true, 'a 76.8 KB chunk is stored as a Blob');
    assert.deepEqual(r.added, { loaded: 23000, embedded: 0 });
    assert.deepEqual(r.after, r.before, 'the reopened store answers exactly as before');
    for (let q = 0; q < r.expected.length; q++) {
      assert.deepEqual(r.after[q].map((x) => x[0]), r.expected[q].map((x) => x[0]), `query ${q}: the brute-force ranking`);
      for (let i = 0; i < 10; i++) assert.ok(Math.abs(r.after[q][i][1] - r.expected[q][i][1]) < 1e-5, `query ${q} rank ${i}: score ${r.after[q][i][1]} vs ${r.expected[q][i][1]}`);
    }
    assert.equal(r.torn?.code, 'CORRUPT');
    assert.match(r.torn.message, /vector record/);
    assert.ok(r.torn.message.includes(JSON.stringify(r.tornKey)), r.torn.message);
  } finally { await b.close(); }
});
