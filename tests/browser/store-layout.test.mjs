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
