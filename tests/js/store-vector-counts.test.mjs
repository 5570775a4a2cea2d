// db.vectorCounts(name): per model kept for a vector index, how many stored documents have a
// vector of it — the added model counted in memory, the others from their stored records, a
// deleted document no longer counted for either; an unknown index gives [].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../web/src/index.mjs';
import { vectorModel, vectorIndex, randomVectors } from './store-helpers.mjs';

test('vectorCounts: each model of a vector index with the number of documents it embedded', async () => {
  const vecs = randomVectors(30, 8, 99);
  const a = vectorModel({ identifier: 'model-a', dim: 8 });
  const b = vectorModel({ identifier: 'model-b', dim: 8 });
  const db = await openDatabase({ storage: 'memory' });
  assert.deepEqual(await db.vectorCounts('vi'), []);
  await db.add(vectorIndex(a));
  const c = db.collection('docs');
  await c.insertMany(vecs.slice(0, 20).map((v, i) => ({ _id: `d${i}`, vec: v })));
  assert.deepEqual(await db.vectorCounts('vi'), [{ identifier: 'model-a', dim: 8, vectors: 20, added: true }]);
  // Switch to model B: it embeds the 20; then 10 more documents are embedded by B only.
  await db.removeVectorIndex('vi');
  await db.add(vectorIndex(b), { reindex: true });
  await c.insertMany(vecs.slice(20).map((v, i) => ({ _id: `d${20 + i}`, vec: v })));
  assert.deepEqual(await db.vectorCounts('vi'), [
    { identifier: 'model-a', dim: 8, vectors: 20, added: false },
    { identifier: 'model-b', dim: 8, vectors: 30, added: true },
  ]);
  // A count asked again is remembered (nothing read), until something changes: a deleted
  // document counts for neither model.
  const gets = db.adapter.get;
  let reads = 0;
  db.adapter.get = (...args) => { reads++; return gets.apply(db.adapter, args); };
  assert.equal((await db.vectorCounts('vi'))[0].vectors, 20);
  assert.equal(reads, 0, 'the count of model A was remembered');
  await c.deleteOne({ _id: 'd3' });
  assert.deepEqual((await db.vectorCounts('vi')).map((m) => [m.identifier, m.vectors, m.added]), [['model-a', 19, false], ['model-b', 29, true]]);
  assert.ok(reads > 0, 'read again after the delete');
  // A document added again under a deleted id has no vector of model A.
  await c.insertOne({ _id: 'd3', vec: vecs[3] });
  assert.deepEqual((await db.vectorCounts('vi')).map((m) => m.vectors), [19, 30]);
  assert.deepEqual(await db.vectorCounts('other'), []);
  await db.close();
});
