// The document store end to end on the wasm build, with a deterministic embedder (the
// document's own vector) so rankings can be checked against a float64 brute force.
// The golden CLIP model runs in store-golden.test.mjs.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, cp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase, Model, Listener, VectorIndex, ClipdbError, memoryStorage, getModule } from '../../web/src/index.mjs';
import { vectorModel, vectorIndex, randomVectors, bruteForce, assertOrder } from './store-helpers.mjs';

const DIM = 16;
const tmp = () => mkdtemp(path.join(tmpdir(), 'clipdb-store-'));
const ids = (rs) => rs.map((r) => r._id);

async function filled(n = 60, seed = 7, opts = {}) {
  const db = await openDatabase({ storage: 'memory', ...opts });
  const model = vectorModel({ dim: DIM });
  await db.add(vectorIndex(model));
  const vecs = randomVectors(n, DIM, seed);
  const docs = vecs.map((vec, i) => ({ _id: `d${String(i).padStart(3, '0')}`, i, group: i % 3 === 0 ? 'a' : 'b', vec, meta: { n: i * 10 } }));
  await db.collection('docs').insertMany(docs);
  return { db, model, docs };
}

describe('collection CRUD and filters', () => {
  test('find with equality, $in, ranges, $and/$or, $exists, dotted paths', async () => {
    const { db } = await filled(30);
    const c = db.collection('docs');
    assert.equal(await c.count(), 30);
    assert.equal(await c.count({ group: 'a' }), 10);
    assert.deepEqual(ids(await c.find({ i: { $in: [3, 5, 99] } })), ['d003', 'd005']);
    assert.deepEqual((await c.find({ 'meta.n': { $gte: 250 } })).map((d) => d.i), [25, 26, 27, 28, 29]);
    assert.deepEqual((await c.find({ $and: [{ i: { $gt: 3 } }, { i: { $lt: 7 } }] })).map((d) => d.i), [4, 5, 6]);
    assert.deepEqual((await c.find({ $or: [{ i: 1 }, { i: 29 }] })).map((d) => d.i), [1, 29]);
    assert.equal(await c.count({ meta: { $exists: true } }), 30);
    assert.equal(await c.count({ missing: { $exists: true } }), 0);
    assert.equal((await c.findOne({ i: 4 }))._id, 'd004');
    assert.equal(await c.findOne({ i: 400 }), null);
    await assert.rejects(c.find({ i: { $regex: 'x' } }), (e) => e instanceof ClipdbError && e.code === 'INVALID_ARGUMENT' && /\$regex/.test(e.message));
    await db.close();
  });

  test('image fields come back as they went in: Blob, ArrayBuffer, Uint8Array, ImageData-like', async () => {
    const db = await openDatabase({ storage: 'memory' });
    const c = db.collection('imgs');
    const bytes = Uint8Array.from([137, 80, 78, 71, 1, 2, 3]);
    await c.insertOne({ _id: 1, blob: new Blob([bytes], { type: 'image/png' }), ab: bytes.buffer.slice(0), u8: bytes });
    const d = await c.findOne({ _id: 1 });
    assert.ok(d.blob instanceof Blob);
    assert.equal(d.blob.type, 'image/png');
    assert.deepEqual(new Uint8Array(await d.blob.arrayBuffer()), bytes);
    assert.ok(d.ab instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(d.ab), bytes);
    assert.ok(d.u8 instanceof Uint8Array);
    assert.deepEqual(d.u8, bytes);
    await db.close();
  });

  test('duplicate _id is rejected (DUPLICATE_ID), nothing of the batch is written', async () => {
    const { db } = await filled(5);
    const c = db.collection('docs');
    await assert.rejects(c.insertOne({ _id: 'd001', vec: randomVectors(1, DIM, 1)[0] }), (e) => e.code === 'DUPLICATE_ID' && /d001/.test(e.message));
    await assert.rejects(c.insertMany([{ _id: 'new1', vec: randomVectors(1, DIM, 2)[0] }, { _id: 'new1', vec: randomVectors(1, DIM, 3)[0] }]), (e) => e.code === 'DUPLICATE_ID');
    assert.equal(await c.count(), 5);
    assert.equal(await c.count({ _id: 'd001' }), 1);
    const q = (await c.findOne({ _id: 'd001' })).vec;
    const r = await c.like({ vector: Float32Array.from(q) }, { vectorIndex: 'vi', n: 10 }).find();
    assert.equal(r.filter((x) => x._id === 'd001').length, 1);
    await db.close();
  });
});

describe('like().find()', () => {
  test('order equals a float64 brute force over 300 random vectors, 5 queries', async () => {
    const { db, docs } = await filled(300, 11);
    const c = db.collection('docs');
    for (const [qi, query] of randomVectors(5, DIM, 99).entries()) {
      const got = await c.like({ vector: Float32Array.from(query) }, { vectorIndex: 'vi', n: 20 }).find();
      const ref = bruteForce(docs, query).slice(0, 20);
      const exact = assertOrder(assert, ids(got), ref, 1e-6, `query ${qi}`);
      assert.ok(exact >= 18, `query ${qi}: most positions checked exactly (${exact})`);
      got.forEach((g, i) => assert.ok(Math.abs(g.score - ref[i].score) < 1e-5, `score ${g.score} vs ${ref[i].score}`));
    }
    await db.close();
  });

  test('pre-filtered search returns exactly min(n, matching)', async () => {
    const { db, docs } = await filled(300, 12);
    const c = db.collection('docs');
    const query = randomVectors(1, DIM, 5)[0];
    const filter = { i: { $in: [3, 50, 77, 120, 121, 200, 299] } };
    const matching = docs.filter((d) => filter.i.$in.includes(d.i));
    const r5 = await c.like({ vector: Float32Array.from(query) }, { vectorIndex: 'vi', n: 5 }).find(filter);
    assert.equal(r5.length, 5);
    assertOrder(assert, ids(r5), bruteForce(matching, query).slice(0, 5), 1e-6, 'filtered n=5');
    const r10 = await c.like({ vector: Float32Array.from(query) }, { vectorIndex: 'vi', n: 10 }).find(filter);
    assert.equal(r10.length, 7);
    // A selective filter with a small n: post-filtering would return fewer than n here.
    const rare = await c.like({ vector: Float32Array.from(query) }, { vectorIndex: 'vi', n: 3 }).find({ group: 'a', i: { $gte: 270 } });
    assert.deepEqual(rare.map((d) => d.i).sort((a, b) => a - b).length, 3);
    assert.ok(rare.every((d) => d.group === 'a' && d.i >= 270));
    assert.deepEqual(await c.like({ vector: Float32Array.from(query) }, { vectorIndex: 'vi', n: 3 }).find({ group: 'zzz' }), []);
    await db.close();
  });

  test('k edge cases: empty, k > size, 0, negative, non-integer, 2^31', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    const c = db.collection('docs');
    const q = { vector: Float32Array.from(randomVectors(1, DIM, 3)[0]) };
    assert.deepEqual(await c.like(q, { vectorIndex: 'vi', n: 5 }).find(), []);
    const vecs = randomVectors(3, DIM, 4);
    await c.insertMany(vecs.map((vec, i) => ({ _id: `x${i}`, vec })));
    const all = await c.like(q, { vectorIndex: 'vi', n: 10 }).find();
    assert.equal(all.length, 3);
    assert.deepEqual(ids(all), bruteForce(vecs.map((vec, i) => ({ _id: `x${i}`, vec })), [...q.vector]).map((h) => h.id));
    assert.ok(all[0].score >= all[1].score && all[1].score >= all[2].score);
    assert.deepEqual(await c.like(q, { vectorIndex: 'vi', n: 0 }).find(), []);
    for (const n of [-1, 1.5, NaN, '3']) {
      await assert.rejects(c.like(q, { vectorIndex: 'vi', n }).find(), (e) => e.code === 'INVALID_ARGUMENT' && /non-negative integer/.test(e.message), `n=${n}`);
    }
    assert.equal((await c.like(q, { vectorIndex: 'vi', n: 2 ** 31 }).find()).length, 3);
    await db.close();
  });

  test('zero vector, NaN and wrong dimension are named errors (the message names both dims)', async () => {
    const { db } = await filled(10);
    const c = db.collection('docs');
    await assert.rejects(c.like({ vector: new Float32Array(DIM) }, { vectorIndex: 'vi', n: 3 }).find(), (e) => e.code === 'BAD_VECTOR' && /zero/.test(e.message));
    const nan = new Float32Array(DIM).fill(1); nan[3] = NaN;
    await assert.rejects(c.like({ vector: nan }, { vectorIndex: 'vi', n: 3 }).find(), (e) => e.code === 'BAD_VECTOR');
    await assert.rejects(c.like({ vector: new Float32Array(DIM - 1).fill(1) }, { vectorIndex: 'vi', n: 3 }).find(),
      (e) => e.code === 'DIMENSION_MISMATCH' && e.message.includes(String(DIM)) && e.message.includes(String(DIM - 1)) && e.message.includes('identity'));
    // A model that returns the wrong length on insert: nothing is stored.
    await assert.rejects(c.insertOne({ _id: 'bad', vec: [1, 2, 3] }), (e) => e.code === 'DIMENSION_MISMATCH' && e.message.includes('16') && e.message.includes(' 3 '));
    await assert.rejects(c.insertOne({ _id: 'zero', vec: new Array(DIM).fill(0) }), (e) => e.code === 'BAD_VECTOR');
    assert.equal(await c.count(), 10);
    assert.equal(await c.findOne({ _id: 'bad' }), null);
    await assert.rejects(c.like({ vector: new Float32Array(DIM).fill(1) }, { vectorIndex: 'nope', n: 3 }).find(), (e) => e.code === 'NOT_FOUND');
    await db.close();
  });

  test('update re-embeds, delete drops the vector', async () => {
    const { db } = await filled(50, 21);
    const c = db.collection('docs');
    const target = randomVectors(1, DIM, 77)[0];
    const q = { vector: Float32Array.from(target) };
    const before = await c.like(q, { vectorIndex: 'vi', n: 1 }).find();
    assert.notEqual(before[0]._id, 'd010');
    assert.deepEqual(await c.updateOne({ _id: 'd010' }, { $set: { vec: target } }), { matchedCount: 1, modifiedCount: 1 });
    const after = await c.like(q, { vectorIndex: 'vi', n: 2 }).find();
    assert.equal(after[0]._id, 'd010');
    assert.ok(Math.abs(after[0].score - 1) < 1e-6);
    assert.equal(after[1]._id, before[0]._id);
    // updating a non-key field does not re-embed
    const model = db._vis.get('vi').vi.indexingListener.model;
    const calls = model.calls;
    await c.updateOne({ _id: 'd010' }, { $set: { tag: 'x' } });
    assert.equal(model.calls, calls);
    assert.equal((await c.findOne({ tag: 'x' }))._id, 'd010');
    assert.deepEqual(await c.deleteOne({ _id: 'd010' }), { deletedCount: 1 });
    const gone = await c.like(q, { vectorIndex: 'vi', n: 50 }).find();
    assert.equal(gone.length, 49);
    assert.ok(!ids(gone).includes('d010'));
    assert.equal(gone[0]._id, before[0]._id);
    assert.deepEqual(await c.deleteOne({ _id: 'd010' }), { deletedCount: 0 });
    await db.close();
  });

  test('tied scores are ordered by _id on every run', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: 4 })));
    const c = db.collection('docs');
    await c.insertMany([{ _id: 'x', vec: [1, 2, 3, 4] }, { _id: 'y', vec: [1, 2, 3, 4] }, { _id: 'far', vec: [-1, 0, 0, 0] }, { _id: 'a', vec: [2, 4, 6, 8] }]);
    for (let run = 0; run < 100; run++) {
      const r = await c.like({ vector: Float32Array.of(1, 2, 3, 4) }, { vectorIndex: 'vi', n: 3 }).find();
      assert.deepEqual(ids(r), ['a', 'x', 'y']);
    }
    // k cuts inside the tie: still the smallest ids
    assert.deepEqual(ids(await c.like({ vector: Float32Array.of(1, 2, 3, 4) }, { vectorIndex: 'vi', n: 2 }).find()), ['a', 'x']);
    await db.close();
  });
});

describe('listeners and ingest', () => {
  test('a result\'s Blob field is made on first read (then a plain property); spread and structuredClone see the same bytes', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: 4 })));
    const c = db.collection('docs');
    await c.insertMany([0, 1, 2].map((i) => ({ _id: i, vec: [1, i, 0, 0], image: new Blob([Uint8Array.of(i, 7, 7)], { type: 'image/png' }), bytes: Uint8Array.of(9, i) })));
    const [r] = await c.like({ vector: [1, 2, 0, 0] }, { vectorIndex: 'vi', n: 1 }).find();
    assert.equal(r._id, 2);
    assert.equal(typeof Object.getOwnPropertyDescriptor(r, 'image').get, 'function', 'not sliced yet');
    assert.deepEqual(Object.keys(r), ['_id', 'vec', 'image', 'bytes', 'score']);
    const copy = { ...r };
    assert.ok(copy.image instanceof Blob && copy.image.type === 'image/png');
    assert.deepEqual([...new Uint8Array(await copy.image.arrayBuffer())], [2, 7, 7]);
    assert.equal(Object.getOwnPropertyDescriptor(r, 'image').value, copy.image, 'made once, then a plain property');
    assert.deepEqual([...new Uint8Array(await structuredClone(r).image.arrayBuffer())], [2, 7, 7]);
    assert.deepEqual([...r.bytes], [9, 2], 'non-Blob binary fields are read as before');
    const [f] = await c.find({ _id: 1 });
    f.image = 'replaced';
    assert.equal(f.image, 'replaced', 'assignable like any property');
    await db.close();
  });

  test('insertMany hands each model its own document\'s bytes (Blob, Uint8Array, ArrayBuffer, nested key; read from the batch\'s pack)', async () => {
    const db = await openDatabase({ storage: 'memory' });
    const got = new Map();
    // The "image" is 3 + i bytes of value i; the model records what it receives.
    const model = new Model({ identifier: 'bytes', dim: 4, kind: 'image', encode: async (b) => {
      const i = b[0];
      got.set(i, Array.from(b));
      return Float32Array.of(1 + i, b.length, 1, 0);
    } });
    await db.add(new VectorIndex('vi', { indexingListener: new Listener({ model, key: 'media.image', select: { collection: 'docs' } }) }));
    const bytesOf = (i) => new Uint8Array(3 + i).fill(i);
    const forms = [(u) => new Blob([u]), (u) => u, (u) => u.buffer.slice(0)];
    const docs = Array.from({ length: 40 }, (_, i) => ({
      _id: i,
      thumb: new Blob([new Uint8Array(7).fill(200)]), // another binary field in the same pack
      media: { image: forms[i % 3](bytesOf(i)) },
    }));
    await db.collection('docs').insertMany(docs, { batchSize: 16 });
    assert.equal(got.size, 40);
    for (let i = 0; i < 40; i++) assert.deepEqual(got.get(i), Array.from(bytesOf(i)), `document ${i}`);
    const top = await db.collection('docs').like({ _id: 17 }, { vectorIndex: 'vi', n: 1 }).find();
    assert.equal(top[0]._id, 17);
    await db.close();
  });

  test('insertMany reports progress and honours an AbortSignal', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    const c = db.collection('docs');
    const ac = new AbortController();
    const seen = [];
    const docs = randomVectors(20, DIM, 8).map((vec, i) => ({ _id: `p${String(i).padStart(2, '0')}`, vec }));
    await assert.rejects(c.insertMany(docs, {
      batchSize: 4, signal: ac.signal,
      onProgress: (p) => { seen.push(p.done); if (p.done === 6) ac.abort(); },
    }), (e) => e.code === 'ABORTED' && e.details.insertedIds.length === 8);
    // batch 2 (docs 4..7) completes its in-flight documents before stopping
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(await c.count(), 8);
    assert.equal(db.info.pending, 0);
    assert.equal((await c.like({ vector: Float32Array.from(docs[7].vec) }, { vectorIndex: 'vi', n: 1 }).find())[0]._id, 'p07');
    await db.close();
  });

  test('a failing embedding removes the document again and rejects', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    const c = db.collection('docs');
    const docs = randomVectors(5, DIM, 9).map((vec, i) => ({ _id: `f${i}`, vec }));
    docs[3].vec = [1, 2]; // wrong length
    await assert.rejects(c.insertMany(docs, { batchSize: 10 }), (e) => e.code === 'DIMENSION_MISMATCH' && e.details.insertedIds.length === 3);
    assert.deepEqual(ids(await c.find()), ['f0', 'f1', 'f2']);
    await db.close();
  });

  test('a vector index added later backfills existing documents; documents without the key are skipped', async () => {
    const db = await openDatabase({ storage: 'memory' });
    const c = db.collection('docs');
    const vecs = randomVectors(6, DIM, 10);
    await c.insertMany(vecs.map((vec, i) => ({ _id: `b${i}`, vec })));
    await c.insertOne({ _id: 'novec', title: 'no vector' });
    const r = await db.add(vectorIndex(vectorModel({ dim: DIM })));
    assert.deepEqual(r, { loaded: 0, embedded: 6 });
    assert.equal((await c.like({ vector: Float32Array.from(vecs[4]) }, { vectorIndex: 'vi', n: 1 }).find())[0]._id, 'b4');
    assert.equal((await c.like({ vector: Float32Array.from(vecs[4]) }, { vectorIndex: 'vi', n: 10 }).find()).length, 6);
    await db.close();
  });

  test('slow embedder: writes never wait on embedding inside a transaction', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: DIM, delayMs: 50 })));
    const c = db.collection('docs');
    const [v1, v2] = randomVectors(2, DIM, 13);
    await c.insertOne({ _id: 'a', vec: v1 });
    await c.updateOne({ _id: 'a' }, { $set: { vec: v2 } });
    const r = await c.like({ vector: Float32Array.from(v2) }, { vectorIndex: 'vi', n: 1 }).find();
    assert.equal(r[0]._id, 'a');
    assert.ok(r[0].score > 0.99999);
    await db.close();
  });
});

describe('persistence (file system adapter)', () => {
  test('reopen: identical results without re-embedding, ties stable after reload', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      const m1 = vectorModel({ dim: DIM });
      await db.add(vectorIndex(m1));
      const c = db.collection('docs');
      const docs = randomVectors(40, DIM, 31).map((vec, i) => ({ _id: `r${String(i).padStart(2, '0')}`, vec, i }));
      docs.push({ _id: 'tie-b', vec: docs[0].vec }, { _id: 'tie-a', vec: docs[0].vec });
      await c.insertMany(docs);
      await c.deleteOne({ _id: 'r05' });
      await c.updateOne({ _id: 'r06' }, { $set: { vec: docs[1].vec } });
      const queries = randomVectors(3, DIM, 32).concat([docs[0].vec]);
      const before = [];
      for (const q of queries) before.push(await c.like({ vector: Float32Array.from(q) }, { vectorIndex: 'vi', n: 8 }).find({ i: { $ne: 7 } }));
      assert.deepEqual(ids(before[3]).slice(0, 3), ['r00', 'tie-a', 'tie-b']);
      await db.close();

      db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      assert.equal(db.persistent, true);
      const m2 = vectorModel({ dim: DIM });
      assert.deepEqual(await db.add(vectorIndex(m2)), { loaded: 41, embedded: 0 });
      assert.equal(m2.calls, 0);
      const c2 = db.collection('docs');
      assert.equal(await c2.count(), 41);
      for (const [i, q] of queries.entries()) {
        const after = await c2.like({ vector: Float32Array.from(q) }, { vectorIndex: 'vi', n: 8 }).find({ i: { $ne: 7 } });
        assert.deepEqual(after.map((d) => [d._id, d.score]), before[i].map((d) => [d._id, d.score]));
      }
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('crash in the middle of insertMany: pending documents are re-embedded on reopen, none lost', async () => {
    const dir = await tmp(), crashed = await tmp();
    try {
      const db = await openDatabase({ storage: 'fs', dir, name: 'c' });
      const vecs = randomVectors(12, DIM, 41);
      let resolvedIds = [];
      // The 7th document's embedding never returns: the "process dies" while it waits.
      const hanging = vectorModel({ dim: DIM, hang: (v) => v[0] === vecs[6][0] });
      await db.add(vectorIndex(hanging));
      const c = db.collection('docs');
      const progress = [];
      c.insertMany(vecs.map((vec, i) => ({ _id: `k${String(i).padStart(2, '0')}`, vec })), { batchSize: 4, onProgress: (p) => progress.push(p.id) })
        .then((r) => { resolvedIds = r.insertedIds; });
      while (hanging.calls < 7) await new Promise((r) => setTimeout(r, 5));
      // Snapshot the disk at this moment = the state a crash leaves behind.
      await cp(dir, crashed, { recursive: true });
      assert.deepEqual(progress, ['k00', 'k01', 'k02', 'k03']);
      assert.deepEqual(resolvedIds, []);

      const db2 = await openDatabase({ storage: 'fs', dir: crashed, name: 'c' });
      const c2 = db2.collection('docs');
      // docs 0..3 fully written; 4..7 stored pending; 8..11 never written
      assert.equal(db2.info.documents, 8);
      assert.equal(db2.info.pending, 4);
      const fresh = vectorModel({ dim: DIM });
      assert.deepEqual(await db2.add(vectorIndex(fresh)), { loaded: 4, embedded: 4 });
      assert.equal(fresh.calls, 4);
      assert.equal(db2.info.pending, 0);
      for (let i = 0; i < 8; i++) {
        const r = await c2.like({ vector: Float32Array.from(vecs[i]) }, { vectorIndex: 'vi', n: 1 }).find();
        assert.equal(r[0]._id, `k${String(i).padStart(2, '0')}`);
      }
      assert.equal(await c2.count({ _id: 'k08' }), 0);
      await db2.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(crashed, { recursive: true, force: true });
    }
  });

  test('a torn journal line (crash mid-write) is dropped, earlier writes survive', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 't' });
      await db.collection('docs').insertMany([{ _id: 1, a: 1 }, { _id: 2, a: 2 }]);
      await db.close();
      const { appendFile } = await import('node:fs/promises');
      await appendFile(path.join(dir, 't.clipdb.jsonl'), '[{"s":"docs","k":"docs\\u00003","v":{"doc":{"_id":3');
      db = await openDatabase({ storage: 'fs', dir, name: 't' });
      assert.deepEqual((await db.collection('docs').find()).map((d) => d._id), [1, 2]);
      await db.collection('docs').insertOne({ _id: 4 });
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 't' });
      assert.deepEqual((await db.collection('docs').find()).map((d) => d._id), [1, 2, 4]);
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  test('opening a vector index with another model is MODEL_MISMATCH naming both models and dims', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'm' });
      await db.add(vectorIndex(vectorModel({ identifier: 'clip-tiny-64', dim: DIM })));
      await db.collection('docs').insertMany(randomVectors(3, DIM, 5).map((vec) => ({ vec })));
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'm' });
      await assert.rejects(db.add(vectorIndex(vectorModel({ identifier: 'clip-vit-b32', dim: 512 }))),
        (e) => e.code === 'MODEL_MISMATCH' && /clip-tiny-64/.test(e.message) && /clip-vit-b32/.test(e.message) && /16-dimensional/.test(e.message) && /512-dimensional/.test(e.message));
      // reindex: re-embed everything with the new model (here: same vectors, new identifier)
      const r = await db.add(vectorIndex(vectorModel({ identifier: 'identity-v2', dim: DIM })), { reindex: true });
      assert.deepEqual(r, { loaded: 0, embedded: 3 });
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });
});

describe('storage failures', () => {
  test('IndexedDB unavailable: falls back to memory with {persistent: false, reason}', async () => {
    const db = await openDatabase({ storage: 'indexeddb', name: 'x' });
    assert.equal(db.persistent, false);
    assert.match(db.reason, /IndexedDB is not available/);
    assert.equal(db.info.persistent, false);
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    await db.collection('docs').insertOne({ _id: 'a', vec: randomVectors(1, DIM, 1)[0] });
    assert.equal((await db.collection('docs').like({ vector: Float32Array.from(randomVectors(1, DIM, 1)[0]) }, { vectorIndex: 'vi', n: 1 }).find())[0]._id, 'a');
    await assert.rejects(openDatabase({ storage: 'indexeddb', fallback: false }), (e) => e.code === 'STORAGE_UNAVAILABLE');
    await db.close();
  });

  test('IndexedDB open throws InvalidStateError (private window): memory fallback, no unhandled rejection', async () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'indexedDB');
    globalThis.indexedDB = {
      open() { throw new DOMException('A mutation operation was attempted on a database that did not allow mutations.', 'InvalidStateError'); },
    };
    try {
      const db = await openDatabase({ storage: 'auto', name: 'private' });
      assert.equal(db.persistent, false);
      assert.equal(db.info.storage, 'memory');
      assert.match(db.reason, /InvalidStateError/);
      await db.add(vectorIndex(vectorModel({ dim: DIM })));
      await db.collection('docs').insertOne({ _id: 'p', vec: randomVectors(1, DIM, 2)[0] });
      assert.equal((await db.collection('docs').like({ vector: Float32Array.from(randomVectors(1, DIM, 2)[0]) }, { vectorIndex: 'vi', n: 3 }).find())[0]._id, 'p');
      await db.close();
      await assert.rejects(openDatabase({ storage: 'indexeddb', fallback: false }), (e) => e.code === 'STORAGE_UNAVAILABLE' && e.cause?.name === 'InvalidStateError');
    } finally {
      if (saved) Object.defineProperty(globalThis, 'indexedDB', saved); else delete globalThis.indexedDB;
    }
  });

  test('QuotaExceededError: QUOTA_EXCEEDED with the cause, nothing half-written, index consistent', async () => {
    const inner = memoryStorage();
    let failAt = Infinity, writes = 0;
    const adapter = {
      ...inner, kind: 'test', persistent: true,
      async write(ops) {
        if (++writes >= failAt) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return inner.write(ops);
      },
      getAll: inner.getAll, close: inner.close,
    };
    const db = await openDatabase({ storage: adapter });
    await db.add(vectorIndex(vectorModel({ dim: DIM })));
    const c = db.collection('docs');
    const vecs = randomVectors(4, DIM, 51);
    await c.insertMany(vecs.slice(0, 2).map((vec, i) => ({ _id: `q${i}`, vec })));
    failAt = writes + 1; // the next transaction (the document write) fails
    await assert.rejects(c.insertOne({ _id: 'q2', vec: vecs[2] }), (e) => e.code === 'QUOTA_EXCEEDED' && e.name === 'QuotaExceededError' && e instanceof ClipdbError && e.cause?.name === 'QuotaExceededError');
    assert.equal(await c.count(), 2);
    assert.equal((await c.like({ vector: Float32Array.from(vecs[2]) }, { vectorIndex: 'vi', n: 10 }).find()).length, 2);
    // the vector write (2nd transaction) fails: the insert rejects and the document is taken out again
    const plan = ['ok', 'quota'];
    const write = adapter.write;
    adapter.write = async (ops) => {
      if (plan.shift() === 'quota') throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return inner.write(ops);
    };
    await assert.rejects(c.insertOne({ _id: 'q3', vec: vecs[3] }), (e) => e.code === 'QUOTA_EXCEEDED');
    adapter.write = write;
    assert.equal((await c.like({ vector: Float32Array.from(vecs[3]) }, { vectorIndex: 'vi', n: 10 }).find()).length, 2);
    assert.equal(await c.count(), 2);
    assert.equal(db.info.pending, 0);
    // Vectors are chunk records ({ids, vectors, del}); the live ids across them are q0 and q1.
    const live = new Set();
    for (const [, rec] of await inner.getAll('vectors')) { for (const t of rec.ids) live.add(t); for (const t of rec.del) live.delete(t); }
    assert.deepEqual([...live].sort(), ['sq0', 'sq1']);
    // Documents are stored in pages ({docs: [{doc, seq}]}): one page holding q0 and q1.
    assert.deepEqual((await inner.getAll('docs')).flatMap(([, page]) => page.docs.map((r) => r.doc._id)), ['q0', 'q1']);
    assert.equal((await inner.getAll('pending')).length, 0);
    failAt = Infinity;
    await db.close();
  });
});

describe('export / import', () => {
  test('round trip through an export file into a fresh store', async () => {
    const { db, docs } = await filled(20, 61);
    const bytes = new Uint8Array(await new Response(db.exportData()).arrayBuffer());
    const q = Float32Array.from(randomVectors(1, DIM, 62)[0]);
    const before = await db.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 5 }).find();
    await db.close();
    const db2 = await openDatabase({ storage: 'memory' });
    await db2.importData(bytes);
    const m = vectorModel({ dim: DIM });
    assert.deepEqual(await db2.add(vectorIndex(m)), { loaded: 20, embedded: 0 });
    const after = await db2.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 5 }).find();
    assert.deepEqual(after.map((d) => [d._id, d.score]), before.map((d) => [d._id, d.score]));
    assert.equal(docs.length, 20);
    await db2.close();
  });
});

test('no wasm memory leaked by the store tests', async () => {
  const mod = await getModule();
  const base = mod._clipdb_allocated_bytes();
  const { db } = await filled(100, 71);
  await db.collection('docs').like({ vector: new Float32Array(DIM).fill(1) }, { vectorIndex: 'vi', n: 5 }).find({ group: 'a' });
  await db.close();
  assert.equal(mod._clipdb_allocated_bytes(), base);
});
