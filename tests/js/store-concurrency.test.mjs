// A Model with concurrency > 1 (an encoder that runs elsewhere, e.g. the Worker pool): insertMany
// and db.add's backfill start that many documents ahead, yet each document gets its own vector
// even when the encodes finish out of order, and a failure stops at the same document as with
// concurrency 1 (the documents before it stay, the rest of the batch is removed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, Model, ClipdbError } from '../../web/src/index.mjs';
import { vectorIndex, randomVectors } from './store-helpers.mjs';

const DIM = 8;
// Later documents finish first: encode i waits (20 - i % 5) ms.
function slowModel({ concurrency, failAt = -1 }) {
  const model = new Model({
    identifier: 'identity', dim: DIM, kind: 'vector', concurrency,
    encode: async ([i, ...v]) => {
      model.inFlight++; model.maxInFlight = Math.max(model.maxInFlight, model.inFlight);
      await new Promise((r) => setTimeout(r, 20 - (i % 5) * 4));
      model.inFlight--;
      if (i === failAt) throw new ClipdbError('DECODE', `document ${i} cannot be embedded`);
      return Float32Array.from(v);
    },
  });
  Object.assign(model, { inFlight: 0, maxInFlight: 0 });
  return model;
}

const vecs = randomVectors(20, DIM, 3);
const docs = () => vecs.map((v, i) => ({ _id: `d${String(i).padStart(2, '0')}`, vec: [i, ...v] }));

async function run(concurrency, failAt) {
  const db = await openDatabase({ storage: 'memory' });
  const model = slowModel({ concurrency, failAt });
  await db.add(vectorIndex(model, { key: 'vec' }));
  let error = null;
  try { await db.collection('docs').insertMany(docs(), { batchSize: 20 }); } catch (e) { error = e; }
  // Each stored document's best match for its own vector is itself, with score 1.
  const stored = await db.collection('docs').find({});
  const best = [];
  for (const d of stored) {
    const [hit] = await db.collection('docs').like({ vec: d.vec }, { vectorIndex: 'vi', n: 1 }).find({});
    best.push([d._id, hit._id, Math.round(hit.score * 1e5) / 1e5]);
  }
  await db.close();
  return { model, error, ids: stored.map((d) => d._id), best };
}

test('concurrency 4: the right vector for each document, 4 encodes in flight', async () => {
  const r = await run(4);
  assert.equal(r.error, null);
  assert.equal(r.model.maxInFlight, 4);
  assert.deepEqual(r.ids, docs().map((d) => d._id));
  assert.deepEqual(r.best, docs().map((d) => [d._id, d._id, 1]));
});

test('concurrency 4: a failed encode stops where concurrency 1 stops', async () => {
  const one = await run(1, 7);
  const four = await run(4, 7);
  assert.equal(one.model.maxInFlight, 1);
  for (const r of [one, four]) {
    assert.equal(r.error?.code, 'DECODE');
    assert.equal(r.error.message, 'document 7 cannot be embedded');
    assert.deepEqual(r.error.details.insertedIds, docs().slice(0, 7).map((d) => d._id));
    assert.deepEqual(r.ids, docs().slice(0, 7).map((d) => d._id));
  }
});

test('concurrency must be an integer >= 1', () => {
  for (const bad of [0, 1.5, '2']) {
    assert.throws(() => new Model({ identifier: 'm', dim: 2, encode: () => [1, 0], concurrency: bad }),
      { code: 'INVALID_ARGUMENT', message: `Model 'm': concurrency must be an integer >= 1, got ${bad}` });
  }
});

test('concurrency 4 in db.add\'s backfill: the right vector for each stored document', async () => {
  const db = await openDatabase({ storage: 'memory' });
  await db.collection('docs').insertMany(docs());
  const model = slowModel({ concurrency: 4 });
  const added = await db.add(vectorIndex(model, { key: 'vec' }));
  assert.equal(added.embedded, 20);
  assert.equal(model.maxInFlight, 4);
  for (const d of docs()) {
    const [hit] = await db.collection('docs').like({ vec: d.vec }, { vectorIndex: 'vi', n: 1 }).find({});
    assert.equal(hit._id, d._id);
  }
  await db.close();
});

test('Model({blobs: true}) receives a Blob field as the Blob, on insert and in the backfill; by default its bytes', async () => {
  const seen = [];
  const make = (blobs) => new Model({
    identifier: 'bytes', dim: 2, kind: 'image', blobs,
    encode: async (input) => {
      const bytes = input instanceof Blob ? new Uint8Array(await input.arrayBuffer()) : input;
      seen.push([blobs, input instanceof Blob ? 'Blob' : input.constructor.name, bytes.length]);
      return [bytes[0], bytes.length];
    },
  });
  for (const blobs of [false, true]) {
    const db = await openDatabase({ storage: 'memory' });
    await db.collection('docs').insertOne({ _id: 'before', img: new Blob([Uint8Array.of(7, 1, 2)]) });
    await db.add(vectorIndex(make(blobs), { key: 'img' }));
    await db.collection('docs').insertOne({ _id: 'after', img: new Blob([Uint8Array.of(9, 1, 2, 3)]) });
    const [hit] = await db.collection('docs').like({ img: new Blob([Uint8Array.of(9, 1, 2, 3)]) }, { vectorIndex: 'vi', n: 1 }).find({});
    assert.equal(hit._id, 'after');
    await db.close();
  }
  // backfill of 'before', insert of 'after', then the query (its own path: bytes either way).
  assert.deepEqual(seen.slice(0, 2), [[false, 'Uint8Array', 3], [false, 'Uint8Array', 4]]);
  assert.deepEqual(seen.slice(3, 5), [[true, 'Blob', 3], [true, 'Blob', 4]]);
});
