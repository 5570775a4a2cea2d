// The storage layout (version 2): small fields apart from binary fields, vectors in chunk
// records per (vector index, model), typed _id keys, conversion of clipdb 0.1 stores, checked
// records, and the export container. Node: the 'fs' (LevelDB) and memory adapters.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, cp, rm, readFile, writeFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openDatabase, Model, Listener, VectorIndex, memoryStorage } from '../../web/src/index.mjs';
import { vectorModel, vectorIndex, randomVectors } from './store-helpers.mjs';
import { PACK_PREFIX, packKey } from '../../web/src/db/packs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE_V1 = path.join(here, '..', 'data', 'store-v1'); // written by clipdb 0.1 (fs journal)
const tmp = () => mkdtemp(path.join(tmpdir(), 'clipdb-layout-'));
const DIM = 8;
const bytesOf = async (blob) => new Uint8Array(await blob.arrayBuffer());

/** The fake image model the v1 fixture was built with: the first four bytes + 1. */
function fixtureModel() {
  const m = new Model({ identifier: 'fake-v1#visual', dim: 4, encode: async (v) => { m.calls++; return Float32Array.from(v.subarray(0, 4), (x) => x + 1); } });
  m.calls = 0;
  return m;
}
const fixtureIndex = (model) => new VectorIndex('images', { indexingListener: new Listener({ model, key: 'image', select: { collection: 'photos' } }) });

/** An adapter wrapper counting reads per store. */
function counting(inner) {
  const reads = { getAll: {}, get: {} };
  const bump = (kind, store) => { reads[kind][store] = (reads[kind][store] ?? 0) + 1; };
  return {
    reads,
    adapter: {
      ...inner,
      getAll: (store, prefix) => { bump('getAll', store); return inner.getAll(store, prefix); },
      get: (store, key) => { bump('get', store); return inner.get(store, key); },
    },
  };
}

describe('clipdb 0.1 stores are converted on open, nothing lost', () => {
  test('the v1 journal fixture: documents, images, typed ids and vectors come back without re-embedding', async () => {
    const dir = await tmp();
    try {
      await cp(FIXTURE_V1, dir, { recursive: true });
      const before = await readFile(path.join(dir, 'photos.clipdb.jsonl'));
      const db = await openDatabase({ storage: 'fs', dir, name: 'photos' });
      assert.deepEqual(db.migrated, { from: 1, documents: 3 });
      assert.deepEqual((await readdir(dir)).sort(), ['photos.clipdb', 'photos.clipdb.blobs', 'photos.clipdb.jsonl.v1-backup']);
      assert.deepEqual(await readFile(path.join(dir, 'photos.clipdb.jsonl.v1-backup')), before);
      const c = db.collection('photos');
      // clipdb 0.1 stored _id 7 and '7' under one key, so only '7' (written last) was ever on disk.
      assert.deepEqual((await c.find()).map((d) => d._id), ['a.png', '7', 'nopic']);
      const a = await c.findOne({ _id: 'a.png' });
      assert.ok(a.image instanceof Blob);
      assert.equal(a.image.type, 'image/png');
      assert.deepEqual(await bytesOf(a.image), Uint8Array.from([9, 1, 3, 4, 137, 80, 78, 71]));
      assert.equal(a.year, 2024);
      assert.deepEqual((await c.findOne({ _id: '7' })).image, Uint8Array.from([5, 5, 5, 5, 1]));
      const model = fixtureModel();
      assert.deepEqual(await db.add(fixtureIndex(model)), { loaded: 2, embedded: 0 });
      assert.equal(model.calls, 0);
      const hits = await c.like({ _id: 'a.png' }, { vectorIndex: 'images', n: 5 }).find();
      // vectors [10,2,4,5] and [6,6,6,6]: cosine 126 / (sqrt(145) * 12) = 0.8720
      assert.deepEqual(hits.map((d) => d._id), ['a.png', '7']);
      assert.ok(Math.abs(hits[1].score - 126 / (Math.sqrt(145) * 12)) < 1e-6, String(hits[1].score));
      await db.close();
      // Second open: no conversion again.
      const db2 = await openDatabase({ storage: 'fs', dir, name: 'photos' });
      assert.equal(db2.migrated, undefined);
      assert.equal(db2.info.documents, 3);
      await db2.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('a damaged line inside the journal is CORRUPT naming the line; the journal is left as it was', async () => {
    const dir = await tmp();
    try {
      await cp(FIXTURE_V1, dir, { recursive: true });
      const file = path.join(dir, 'photos.clipdb.jsonl');
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines[2] = lines[2].slice(0, 40) + '#' + lines[2].slice(41);
      await writeFile(file, lines.join('\n'));
      const damaged = await readFile(file);
      await assert.rejects(openDatabase({ storage: 'fs', dir, name: 'photos' }), (e) => e.code === 'CORRUPT' && /line 3\b/.test(e.message) && /nothing was changed/.test(e.message));
      assert.deepEqual(await readFile(file), damaged);
      assert.ok(!(await readdir(dir)).includes('photos.clipdb.jsonl.v1-backup'));
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('a torn last line (crash mid-append in 0.1) is ignored; the rest converts', async () => {
    const dir = await tmp();
    try {
      await cp(FIXTURE_V1, dir, { recursive: true });
      const file = path.join(dir, 'photos.clipdb.jsonl');
      await writeFile(file, (await readFile(file, 'utf8')) + '[{"s":"docs","k":"photos\\u0000zz","v":{"doc":{"_id":"zz"');
      const db = await openDatabase({ storage: 'fs', dir, name: 'photos' });
      assert.deepEqual((await db.collection('photos').find()).map((d) => d._id), ['a.png', '7', 'nopic']);
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });
});

describe('layout version 2', () => {
  test('_id 1 and "1" are two documents, before and after a reopen', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'ids' });
      const c = db.collection('docs');
      await c.insertMany([{ _id: 1, kind: 'number' }, { _id: '1', kind: 'string' }, { _id: 2.5, kind: 'float' }]);
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'ids' });
      const docs = await db.collection('docs').find();
      assert.deepEqual(docs.map((d) => [d._id, d.kind]), [[1, 'number'], ['1', 'string'], [2.5, 'float']]);
      await assert.rejects(db.collection('docs').insertOne({ _id: 1 }), (e) => e.code === 'DUPLICATE_ID');
      await assert.rejects(db.collection('docs').insertOne({ _id: NaN }), (e) => e.code === 'INVALID_ARGUMENT');
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('documents are stored 512 to a page; writes rewrite only their page; a reopen gives the same documents in order', async () => {
    const inner = memoryStorage();
    const pagesWritten = [];
    const adapter = { ...inner, close: async () => {}, write: (ops) => { pagesWritten.push(ops.filter((o) => o.store === 'docs').map((o) => o.key.split('\u0000')[1])); return inner.write(ops); } };
    let db = await openDatabase({ storage: adapter });
    const c = db.collection('docs');
    await c.insertMany(Array.from({ length: 1100 }, (_, i) => ({ _id: i, n: i, tag: i % 7 })), { batchSize: 100 });
    const pages = await inner.getAll('docs');
    assert.deepEqual(pages.map(([k, p]) => [k.split('\u0000')[1], p.docs.length]), [['0000000000', 512], ['0000000001', 512], ['0000000002', 76]]);
    pagesWritten.length = 0;
    await c.updateOne({ _id: 600 }, { $set: { n: -600 } });
    await c.deleteOne({ _id: 5 });
    await c.insertOne({ _id: 'late', n: 2000 });
    assert.deepEqual(pagesWritten, [['0000000001'], ['0000000000'], ['0000000002']]);
    await db.close();
    db = await openDatabase({ storage: adapter });
    const all = await db.collection('docs').find();
    assert.equal(all.length, 1100);
    assert.deepEqual(all.slice(0, 6).map((d) => d._id), [0, 1, 2, 3, 4, 6]);
    assert.equal(all.at(-1)._id, 'late');
    assert.equal((await db.collection('docs').findOne({ _id: 600 })).n, -600);
    assert.equal(await db.collection('docs').count({ tag: 3 }), 157);
    await db.close();
  });

  test('opening reads no binary field; a search reads only the packs that hold its n results', async () => {
    const { adapter, reads } = counting(memoryStorage());
    adapter.close = async () => {}; // reopened below: the memory adapter must outlive close()
    let db = await openDatabase({ storage: adapter });
    const model = vectorModel({ dim: DIM });
    await db.add(vectorIndex(model));
    const vecs = randomVectors(50, DIM, 3);
    await db.collection('docs').insertMany(vecs.map((vec, i) => ({ _id: `p${i}`, vec, photo: new Blob([Uint8Array.of(i, 1, 2)], { type: 'image/jpeg' }), year: 2000 + (i % 10) })));
    await db.close();
    reads.get = {}; reads.getAll = {};
    db = await openDatabase({ storage: adapter });
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    assert.equal(reads.get.blobs ?? 0, 0);
    assert.equal(reads.getAll.blobs ?? 0, 0);
    const hits = await db.collection('docs').like({ vector: Float32Array.from(vecs[7]) }, { vectorIndex: 'vi', n: 3 }).find({ year: { $gte: 2005 } });
    assert.equal(hits[0]._id, 'p7');
    assert.deepEqual(await bytesOf(hits[0].photo), Uint8Array.of(7, 1, 2));
    for (const h of hits) assert.equal((await bytesOf(h.photo))[0], Number(h._id.slice(1)));
    // The 50 photos were written in batches, one pack per batch: a search opens each pack
    // holding one of its results once (a lazy Blob: the pack's bytes are not read whole).
    const packsOfHits = new Set(hits.map((h) => db._docs('docs').get(h._id).doc.photo.pack));
    assert.ok(packsOfHits.size >= 1 && packsOfHits.size <= 3);
    assert.equal(reads.get.blobs, packsOfHits.size);
    assert.equal(await db.collection('docs').count({ year: 2003 }), 5);
    assert.equal(reads.get.blobs, packsOfHits.size);
  });

  test('binary fields are packed per write: a pack goes with its last document; updates, reopen and stores without packs read back', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      const c = db.collection('photos');
      const img = (i, n = 5) => Uint8Array.from({ length: n }, (_, k) => (i * 7 + k) & 255);
      await c.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, image: img(i), thumb: new Blob([img(i + 100, 3)], { type: 'image/jpeg' }) })), { batchSize: 5 });
      const packOf = (id) => db._docs('photos').get(id).doc.image.pack;
      const packKeys = async () => (await db.adapter.keys('blobs')).filter((k) => k.startsWith(PACK_PREFIX));
      assert.deepEqual([0, 4, 5, 9].map(packOf), [0, 0, 1, 1]);
      assert.equal(db._docs('photos').get(3).doc.thumb.pack, 0);
      assert.equal((await packKeys()).length, 2);
      // Deleting 0..3 keeps pack 0 (document 4 still uses it); deleting 4 removes it.
      for (let i = 0; i < 4; i++) await c.deleteOne({ _id: i });
      assert.equal((await packKeys()).length, 2);
      assert.deepEqual((await c.findOne({ _id: 4 })).image, img(4));
      await c.deleteOne({ _id: 4 });
      assert.deepEqual(await packKeys(), [packKey(1)]);
      // An update that replaces the image writes a pack of its own; the thumb stays in pack 1.
      await c.updateOne({ _id: 7 }, { $set: { image: img(77, 9) } });
      assert.equal(packOf(7), 2);
      assert.equal(db._docs('photos').get(7).doc.thumb.pack, 1);
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      const got = await db.collection('photos').find();
      assert.deepEqual(got.map((d) => d._id), [5, 6, 7, 8, 9]);
      for (const d of got) {
        assert.deepEqual(d.image, d._id === 7 ? img(77, 9) : img(d._id));
        assert.equal(d.thumb.type, 'image/jpeg');
        assert.deepEqual(await bytesOf(d.thumb), img(d._id + 100, 3));
      }
      // Removing the rest deletes every pack.
      for (const d of got) await db.collection('photos').deleteOne({ _id: d._id });
      assert.deepEqual(await db.adapter.keys('blobs'), []);
      // A store written before packs: a binary field in a record of its own still reads, and
      // goes when its document is deleted.
      const legacy = { _id: 'old', image: { $clipdb: 'ref', as: 'uint8array', size: 3 } };
      await db.adapter.write([
        { store: 'docs', key: `photos\u0000${'9'.padStart(10, '0')}`, value: { docs: [{ doc: legacy, seq: 1000 }] } },
        { store: 'blobs', key: `photos\u0000sold\u0000image`, value: { as: 'uint8array', size: 3, data: Uint8Array.of(1, 2, 3) } },
      ]);
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      assert.deepEqual((await db.collection('photos').findOne({ _id: 'old' })).image, Uint8Array.of(1, 2, 3));
      await db.collection('photos').deleteOne({ _id: 'old' });
      assert.deepEqual(await db.adapter.keys('blobs'), []);
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('compact() rewrites packs whose bytes are mostly deleted; every field reads back, before and after a reopen', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'k' });
      const c = db.collection('photos');
      const img = (i) => Uint8Array.from({ length: 1000 }, (_, k) => (i * 13 + k) & 255);
      // Three packs of 10 documents (10,000 bytes each); string and number ids, nested fields.
      await c.insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: i % 2 ? i : String(i), image: img(i), more: { thumb: new Blob([img(i + 500).subarray(0, 10)], { type: 'image/png' }) } })), { batchSize: 10 });
      const packKeys = async () => (await db.adapter.keys('blobs')).filter((k) => k.startsWith(PACK_PREFIX));
      assert.deepEqual(await packKeys(), [packKey(0), packKey(1), packKey(2)]);
      const id = (i) => (i % 2 ? i : String(i));
      // Pack 0 loses 8 of 10 (rewritten), pack 1 loses 2 (kept: 80 % live), pack 2 loses none.
      const gone = [0, 1, 2, 3, 4, 5, 6, 7, 10, 11];
      for (const i of gone) await c.deleteOne({ _id: id(i) });
      const r = await db.compact();
      assert.equal(r.packsRewritten, 1);
      assert.equal(r.bytesFreed, 8 * 1010);
      assert.deepEqual(await packKeys(), [packKey(1), packKey(2), packKey(3)]);
      assert.equal((await db.adapter.get('blobs', packKey(3))).size, 2 * 1010);
      const check = async (d) => {
        const left = Array.from({ length: 30 }, (_, i) => i).filter((i) => !gone.includes(i));
        const got = await d.collection('photos').find();
        assert.deepEqual(got.map((x) => x._id), left.map(id));
        for (const x of got) {
          const i = Number(x._id);
          assert.deepEqual(x.image, img(i));
          assert.equal(x.more.thumb.type, 'image/png');
          assert.deepEqual(await bytesOf(x.more.thumb), img(i + 500).subarray(0, 10));
        }
      };
      await check(db);
      // A second compact finds nothing to do; deleting the moved documents removes their pack.
      assert.deepEqual(await db.compact(), { packsRewritten: 0, bytesFreed: 0 });
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'k' });
      await check(db);
      await db.collection('photos').deleteOne({ _id: id(8) });
      await db.collection('photos').deleteOne({ _id: id(9) });
      assert.deepEqual(await packKeys(), [packKey(1), packKey(2)]);
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test("'fs': vector chunks of 64 KiB and more live in files, read back after reopen, go with compaction; older in-LevelDB chunks still read", async () => {
    const dir = await tmp();
    try {
      const D = 64, N = 300; // one insertMany batch of 300 × 64 floats = 76.8 KB: a file
      let db = await openDatabase({ storage: 'fs', dir, name: 'v' });
      await db.add(vectorIndex(vectorModel({ dim: D })));
      const vecs = randomVectors(N, D, 11);
      await db.collection('docs').insertMany(vecs.map((v, i) => ({ _id: i, vec: v })), { batchSize: N });
      const raw = async () => {
        const { ClassicLevel } = await import('classic-level');
        const v8 = await import('node:v8');
        const lv = new ClassicLevel(path.join(dir, 'v.clipdb'), { keyEncoding: 'utf8', valueEncoding: 'view' });
        const out = [];
        for await (const [k, v] of lv.iterator({ gte: 'vectors:', lt: 'vectors;' })) out.push([k, v8.deserialize(v)]);
        return { lv, out };
      };
      const q = Float32Array.from(randomVectors(1, D, 12)[0]);
      const top = async (d) => (await d.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 5 }).find()).map((x) => [x._id, x.score]);
      const before = await top(db);
      await db.close();
      let { lv, out } = await raw();
      assert.equal(out.length, 1);
      const rec = out[0][1];
      assert.equal(rec.vectors, undefined, 'the floats are not in LevelDB');
      assert.equal(rec.vectorsBytes, N * D * 4);
      const file = path.join(dir, 'v.clipdb.blobs', rec.vectorsFile);
      assert.equal((await stat(file)).size, N * D * 4);
      // The same chunk written the older way (floats inside the record) reads back the same.
      const v8 = await import('node:v8');
      const floats = new Float32Array((await readFile(file)).buffer.slice(0));
      const { vectorsFile, vectorsBytes, ...rest } = rec;
      void vectorsFile; void vectorsBytes;
      await lv.put(out[0][0], v8.serialize({ ...rest, vectors: floats }));
      await lv.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'v' });
      assert.deepEqual(await db.add(vectorIndex(vectorModel({ dim: D }))), { loaded: N, embedded: 0 });
      assert.deepEqual(await top(db), before);
      // Compaction rewrites the chunk (into a file again); the older record's floats leave LevelDB.
      for (let i = 0; i < 10; i++) await db.collection('docs').deleteOne({ _id: i });
      await db.compact();
      await db.close();
      ({ lv, out } = await raw());
      assert.equal(out.length, 1);
      assert.equal(out[0][1].vectors, undefined);
      assert.equal(out[0][1].vectorsBytes, (N - 10) * D * 4);
      await lv.close();
      // A vector file cut short: CORRUPT naming the record and both sizes, nothing changed.
      const vfile = path.join(dir, 'v.clipdb.blobs', out[0][1].vectorsFile);
      const whole = await readFile(vfile);
      await writeFile(vfile, whole.subarray(0, whole.length - 4));
      db = await openDatabase({ storage: 'fs', dir, name: 'v' });
      await assert.rejects(db.add(vectorIndex(vectorModel({ dim: D }))), (e) => e.code === 'CORRUPT' && /vector record/.test(e.message) && e.message.includes(`holds ${whole.length - 4} bytes, ${whole.length} expected`));
      await db.close();
      await writeFile(vfile, whole);
      db = await openDatabase({ storage: 'fs', dir, name: 'v' });
      assert.deepEqual(await db.add(vectorIndex(vectorModel({ dim: D }))), { loaded: N - 10, embedded: 0 }, 'restored, it loads again');
      await db.close();
      // A vector file gone missing: CORRUPT naming the record, nothing changed.
      await rm(vfile);
      db = await openDatabase({ storage: 'fs', dir, name: 'v' });
      await assert.rejects(db.add(vectorIndex(vectorModel({ dim: D }))), (e) => e.code === 'CORRUPT' && /vector record/.test(e.message) && /cannot be read/.test(e.message));
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('a pack that is missing or shorter than a reference into it is CORRUPT naming the pack; other fields still read', async () => {
    const db = await openDatabase({ storage: 'memory' });
    const c = db.collection('photos');
    await c.insertMany([0, 1, 2].map((i) => ({ _id: i, image: Uint8Array.of(i, i, i) })), { batchSize: 1 });
    assert.deepEqual([0, 1, 2].map((i) => db._docs('photos').get(i).doc.image.pack), [0, 1, 2]);
    await db.adapter.write([{ store: 'blobs', key: packKey(1), delete: true }]);
    await db.adapter.write([{ store: 'blobs', key: packKey(2), value: { as: 'pack', size: 2, data: Uint8Array.of(2, 2) } }]);
    db._packs.cache.clear();
    await assert.rejects(c.findOne({ _id: 1 }), (e) => e.code === 'CORRUPT' && /pack 1, which is missing/.test(e.message));
    await assert.rejects(c.findOne({ _id: 2 }), (e) => e.code === 'CORRUPT' && /bytes 0\.\.3 of pack 2, which holds 2/.test(e.message));
    assert.deepEqual((await c.findOne({ _id: 0 })).image, Uint8Array.of(0, 0, 0));
    await db.close();
  });

  test('switching models keeps every model\'s vectors; like({_id}) embeds nothing', async () => {
    const dir = await tmp();
    try {
      const vecs = randomVectors(30, DIM, 21);
      const docs = vecs.map((vec, i) => ({ _id: `d${i}`, vec, neg: vec.map((x) => -x + (i % 3)) }));
      const mA = vectorModel({ identifier: 'model-a', dim: DIM });
      let db = await openDatabase({ storage: 'fs', dir, name: 's' });
      await db.add(vectorIndex(mA));
      await db.collection('docs').insertMany(docs);
      const topA = (await db.collection('docs').like({ _id: 'd4' }, { vectorIndex: 'vi', n: 5 }).find()).map((d) => d._id);
      assert.equal(mA.calls, 30);
      await db.close();
      // Model B: a model this index has never seen needs reindex: true.
      db = await openDatabase({ storage: 'fs', dir, name: 's' });
      const mB = new Model({ identifier: 'model-b', dim: DIM, encode: async (v) => { mB.calls++; return Float32Array.from(v, (x) => x * x + 0.1); } });
      mB.calls = 0;
      await assert.rejects(db.add(vectorIndex(mB)), (e) => e.code === 'MODEL_MISMATCH' && /model-a/.test(e.message) && /kept/.test(e.message));
      assert.deepEqual(await db.add(vectorIndex(mB), { reindex: true }), { loaded: 0, embedded: 30 });
      await db.close();
      // Back to A: its vectors are all there; no embedding, same ranking.
      db = await openDatabase({ storage: 'fs', dir, name: 's' });
      const mA2 = vectorModel({ identifier: 'model-a', dim: DIM });
      assert.deepEqual(await db.add(vectorIndex(mA2)), { loaded: 30, embedded: 0 });
      assert.deepEqual((await db.collection('docs').like({ _id: 'd4' }, { vectorIndex: 'vi', n: 5 }).find()).map((d) => d._id), topA);
      assert.equal(mA2.calls, 0);
      const list = db.vectorIndexes();
      assert.deepEqual(list.map((v) => [v.name, v.model.identifier, v.models.map((m) => m.identifier).sort(), v.vectors]), [['vi', 'model-a', ['model-a', 'model-b'], 30]]);
      await assert.rejects(db.collection('docs').like({ _id: 'nope' }, { vectorIndex: 'vi', n: 5 }).find(), (e) => e.code === 'NOT_FOUND');
      // Delete d4 and insert a new d4 while model B's vectors are not loaded: B must not bring
      // back the old d4's vector.
      await db.collection('docs').deleteOne({ _id: 'd4' });
      await db.collection('docs').insertOne({ _id: 'd4', title: 'no vector now' });
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 's' });
      const mB2 = new Model({ identifier: 'model-b', dim: DIM, encode: async (v) => Float32Array.from(v, (x) => x * x + 0.1) });
      assert.deepEqual(await db.add(vectorIndex(mB2)), { loaded: 29, embedded: 0 });
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('small vector records are merged; the result after reopen is unchanged', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'm' });
      await db.add(vectorIndex(vectorModel({ dim: DIM })));
      const vecs = randomVectors(40, DIM, 5);
      for (let i = 0; i < 40; i++) await db.collection('docs').insertOne({ _id: i, vec: vecs[i] });
      for (let i = 0; i < 40; i += 4) await db.collection('docs').deleteOne({ _id: i });
      const recordsBefore = (await db.adapter.keys('vectors')).length;
      assert.ok(recordsBefore < 30, `records: ${recordsBefore}`);
      const q = Float32Array.from(randomVectors(1, DIM, 6)[0]);
      const before = (await db.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 40 }).find()).map((d) => [d._id, d.score]);
      assert.equal(before.length, 30);
      await db.compact();
      assert.equal((await db.adapter.keys('vectors')).length, 1);
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'm' });
      assert.deepEqual(await db.add(vectorIndex(vectorModel({ dim: DIM }))), { loaded: 30, embedded: 0 });
      assert.deepEqual((await db.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 40 }).find()).map((d) => [d._id, d.score]), before);
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('merged records hold at most 4 MiB of vectors (chunkTarget); every vector and deletion survives a reopen', async () => {
    const dir = await tmp();
    try {
      const dim = 2048, target = 512; // 4 MiB / (2048 * 4 bytes)
      let db = await openDatabase({ storage: 'fs', dir, name: 'split' });
      await db.add(vectorIndex(vectorModel({ identifier: 'rand-2048', dim })));
      const vecs = randomVectors(2000, dim, 12);
      const col = db.collection('docs');
      // 20 writes of 100 (small: under 128): merging the tail gives full records of 512 and a rest
      for (let b = 0; b < 20; b++) await col.insertMany(Array.from({ length: 100 }, (_, j) => ({ _id: b * 100 + j, vec: vecs[b * 100 + j] })), { batchSize: 100 });
      for (let i = 0; i < 2000; i += 7) await col.deleteOne({ _id: i });
      const sizes = [];
      for (const k of await db.adapter.keys('vectors')) sizes.push((await db.adapter.get('vectors', k)).ids.length);
      assert.ok(Math.max(...sizes) <= target, `record sizes ${sizes.join(',')}`);
      assert.ok(sizes.filter((n) => n === target).length >= 3, `full records: ${sizes.slice(0, 12).join(',')}`);
      const q = Float32Array.from(randomVectors(1, dim, 13)[0]);
      const before = (await col.like({ vector: q }, { vectorIndex: 'vi', n: 3000 }).find()).map((d) => [d._id, d.score]);
      assert.equal(before.length, 2000 - Math.ceil(2000 / 7));
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'split' });
      assert.deepEqual(await db.add(vectorIndex(vectorModel({ identifier: 'rand-2048', dim }))), { loaded: before.length, embedded: 0 });
      assert.deepEqual((await db.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 3000 }).find()).map((d) => [d._id, d.score]), before);
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('a damaged record is CORRUPT naming its key; nothing is rewritten', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'c' });
      await db.collection('docs').insertMany([{ _id: 'x', a: 1 }, { _id: 'y', a: 2 }]);
      await db.close();
      const { ClassicLevel } = await import('classic-level');
      const raw = new ClassicLevel(path.join(dir, 'c.clipdb'), { keyEncoding: 'utf8', valueEncoding: 'view' });
      // The first page of documents (key "docs:<collection>\0<10-digit page>") gets garbage.
      const key = 'docs:docs\u00000000000000';
      assert.ok(await raw.get(key), 'the page record exists');
      await raw.put(key, Uint8Array.of(0xff, 0x0f, 0x6f, 0x22));
      await raw.close();
      await assert.rejects(openDatabase({ storage: 'fs', dir, name: 'c' }), (e) => e.code === 'CORRUPT' && /docs\\u00000000000000/.test(e.message) && /does not decode/.test(e.message));
      const raw2 = new ClassicLevel(path.join(dir, 'c.clipdb'), { keyEncoding: 'utf8', valueEncoding: 'view' });
      assert.deepEqual(new Uint8Array(await raw2.get(key)), Uint8Array.of(0xff, 0x0f, 0x6f, 0x22));
      await raw2.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('a store open elsewhere is BLOCKED, by name', async () => {
    const dir = await tmp();
    try {
      const db = await openDatabase({ storage: 'fs', dir, name: 'l' });
      await assert.rejects(openDatabase({ storage: 'fs', dir, name: 'l' }), (e) => e.code === 'BLOCKED' && /another process|open/.test(e.message));
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });
});

test('a full disk: QUOTA_EXCEEDED by name, nothing of the failed write kept, every earlier insert there after reopen', async (t) => {
  const dir = await tmp();
  let db = null;
  try {
    try { execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' }); } catch {
      t.skip('cannot mount a small tmpfs for a full disk (needs root)');
      return;
    }
    const big = () => new Blob([new Uint8Array(1 << 20).fill(7)], { type: 'image/png' });
    await writeFile(path.join(dir, 'filler'), new Uint8Array(1 << 20)); // freed before the reopen
    db = await openDatabase({ storage: 'fs', dir, name: 'full' });
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    const vecs = randomVectors(40, DIM, 77);
    const ok = [];
    let err = null;
    for (let i = 0; i < 40 && !err; i++) {
      try { await db.collection('docs').insertOne({ _id: i, vec: vecs[i], photo: big() }); ok.push(i); } catch (e) { err = e; }
    }
    assert.ok(err, 'the disk filled up');
    assert.equal(err.code, 'QUOTA_EXCEEDED', String(err));
    assert.equal(err.name, 'QuotaExceededError');
    assert.ok(ok.length >= 2 && ok.length <= 8, `inserted ${ok.length} x 1 MB into 8 MB before the disk was full`);
    assert.equal(await db.collection('docs').count(), ok.length);
    await db.close();
    // Opening needs a little space for LevelDB's new log: while the disk is full that is a named error.
    await assert.rejects(openDatabase({ storage: 'fs', dir, name: 'full' }), (e) => e.code === 'QUOTA_EXCEEDED' && /full|space|quota/i.test(e.message));
    await rm(path.join(dir, 'filler'));
    db = await openDatabase({ storage: 'fs', dir, name: 'full' });
    assert.deepEqual((await db.collection('docs').find()).map((d) => d._id), ok);
    assert.deepEqual(await db.add(vectorIndex(vectorModel({ dim: DIM }))), { loaded: ok.length, embedded: 0 });
    for (const i of ok) assert.equal((await db.collection('docs').findOne({ _id: i })).photo.size, 1 << 20);
  } finally {
    await db?.close().catch(() => {});
    try { execFileSync('umount', [dir], { stdio: 'pipe' }); } catch { /* not mounted */ }
    await rm(dir, { recursive: true, force: true });
  }
});

describe('export container', () => {
  async function twoModelStore() {
    const db = await openDatabase({ storage: 'memory' });
    const vecs = randomVectors(70, DIM, 31);
    const mA = vectorModel({ identifier: 'model-a', dim: DIM });
    await db.add(vectorIndex(mA));
    await db.collection('docs').insertMany(vecs.map((vec, i) => ({
      _id: i % 2 ? i : `s${i}`, vec, n: i, when: new Date(1e12 + i),
      image: new Blob([Uint8Array.from({ length: 100 + i }, (_, j) => (i * 7 + j) & 255)], { type: 'image/jpeg' }),
      raw: Uint8Array.of(i, i + 1),
    })));
    await db.collection('notes').insertOne({ _id: 'n1', text: 'no vectors here' });
    return { db, vecs };
  }
  const readAll = async (stream) => new Uint8Array(await new Response(stream).arrayBuffer());

  test('round trip: documents, binary fields, typed ids, vectors; the same top-k; tar lists it', async () => {
    const { db, vecs } = await twoModelStore();
    const q = Float32Array.from(randomVectors(1, DIM, 32)[0]);
    const before = (await db.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 10 }).find({ n: { $lt: 60 } })).map((d) => [d._id, d.score]);
    const file = await readAll(db.exportData());
    await db.close();
    const dir = await tmp();
    try {
      await writeFile(path.join(dir, 'backup.clipdb'), file);
      const names = execFileSync('tar', ['tf', path.join(dir, 'backup.clipdb')], { encoding: 'utf8' }).trim().split('\n');
      assert.equal(names[0], 'clipdb-export.json');
      assert.equal(names.at(-1), 'clipdb-end.json');
      assert.ok(names.includes('batch-000000/docs.jsonl') && names.includes('batch-000000/vectors-0.f32'));
      assert.equal(names.filter((n) => /\/blob-\d+$/.test(n)).length, 140);
      const manifest = JSON.parse(execFileSync('tar', ['xOf', path.join(dir, 'backup.clipdb'), 'clipdb-export.json'], { encoding: 'utf8' }));
      assert.deepEqual(manifest.vectorIndexes.map((v) => [v.id, v.name, v.model]), [[0, 'vi', { identifier: 'model-a', dim: DIM }]]);
      // Into a fresh fs store, read from the file as a stream.
      const { createReadStream } = await import('node:fs');
      const db2 = await openDatabase({ storage: 'fs', dir, name: 'imported' });
      const r = await db2.importData(createReadStream(path.join(dir, 'backup.clipdb')));
      assert.deepEqual(r, { documents: 71, vectors: 70, skipped: 0 });
      const m = vectorModel({ identifier: 'model-a', dim: DIM });
      assert.deepEqual(await db2.add(vectorIndex(m)), { loaded: 70, embedded: 0 });
      const after = (await db2.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 10 }).find({ n: { $lt: 60 } })).map((d) => [d._id, d.score]);
      assert.deepEqual(after.map((x) => x[0]), before.map((x) => x[0]));
      after.forEach((x, i) => assert.ok(Math.abs(x[1] - before[i][1]) < 1e-6));
      const d33 = await db2.collection('docs').findOne({ _id: 33 });
      assert.equal(d33.when.getTime(), 1e12 + 33);
      assert.deepEqual(d33.raw, Uint8Array.of(33, 34));
      assert.equal(d33.image.type, 'image/jpeg');
      assert.deepEqual(await bytesOf(d33.image), Uint8Array.from({ length: 133 }, (_, j) => (33 * 7 + j) & 255));
      assert.equal(await db2.collection('docs').count({ _id: '33' }), 0);
      assert.equal((await db2.collection('notes').findOne({})).text, 'no vectors here');
      assert.ok(vecs.length === 70);
      await db2.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('an export reads the same vectors whether the index is in memory, read chunk by chunk, or loaded for the export', async () => {
    const { parseTar } = await import('../fuzz/container-tar.mjs');
    const D = 24, N = 2600;
    const entries = async (db) => parseTar(await readAll(db.exportData()))
      .map((e) => [e.name, e.name === 'clipdb-export.json' ? JSON.stringify({ ...JSON.parse(new TextDecoder().decode(e.data)), created: null }) : Buffer.from(e.data).toString('base64')]);
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: D })));
    const vecs = randomVectors(N, D, 41);
    await db.collection('docs').insertMany(vecs.map((vec, i) => ({ _id: i % 3 ? i : `s${i}`, vec })), { batchSize: 300 });
    // Re-embedded and deleted documents: later chunks replace and delete earlier vectors.
    for (let i = 0; i < 40; i++) await db.collection('docs').updateOne({ _id: i * 7 % 3 ? i * 7 : `s${i * 7}` }, { $set: { vec: vecs[N - 1 - i] } });
    for (let i = 1; i < 30; i += 3) await db.collection('docs').deleteOne({ _id: i });
    const inMemory = await entries(db);
    assert.equal(inMemory.filter(([n]) => /vectors-0\.f32$/.test(n)).length, 3, 'three batches of vectors');
    // The same store without its index in memory: chunk by chunk (documents follow the chunks).
    await db.removeVectorIndex('vi');
    assert.deepEqual(await entries(db), inMemory);
    // Documents in an order unrelated to the chunks: the vectors are loaded for the export.
    const shuffled = await openDatabase({ storage: 'memory' });
    await shuffled.importData(new Blob([await readAll(db.exportData())]).stream());
    const recs = shuffled._docs('docs'), order = [...recs].sort((a, b) => (String(a[0]) * 7919 % 2551) - (String(b[0]) * 7919 % 2551) || String(a[0]).localeCompare(String(b[0])));
    recs.clear();
    for (const [id, rec] of order) recs.set(id, rec);
    const reread = await entries(shuffled);
    await shuffled.add(vectorIndex(vectorModel({ dim: D })));
    assert.deepEqual(await entries(shuffled), reread);
    await shuffled.close();
    await db.close();
  });

  test('a truncated file is BAD_EXPORT; an interrupted import resumes to exactly the full store', async () => {
    const { db } = await twoModelStore();
    const file = await readAll(db.exportData());
    await db.close();
    const db2 = await openDatabase({ storage: 'memory' });
    await assert.rejects(db2.importData(file.subarray(0, file.length - 2048)), (e) => e.code === 'BAD_EXPORT' && /truncated|end record/.test(e.message));
    // Everything imported so far is complete; the second run completes it.
    const partial = db2.info.documents;
    assert.ok(partial >= 0 && partial <= 71);
    const r = await db2.importData(file);
    assert.equal(r.documents + r.skipped, 71);
    assert.equal(db2.info.documents, 71);
    assert.deepEqual(await db2.add(vectorIndex(vectorModel({ identifier: 'model-a', dim: DIM }))), { loaded: 70, embedded: 0 });
    await assert.rejects(db2.importData(file), (e) => e.code === 'DUPLICATE_ID');
    await assert.rejects(db2.importData(Uint8Array.of(1, 2, 3)), (e) => e.code === 'BAD_EXPORT');
    await db2.close();
  });
});
