// Query filters: compileFilter (what searches and finds run) gives exactly matches()'s answer
// on documents of every value kind the comparisons treat differently, and the expected sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, matches } from '../../web/src/db/filter.mjs';

const D = (y, m) => new Date(Date.UTC(y, m, 1));
const docs = [
  { _id: 0, year: 2010 },
  { _id: 1, year: 2012, tag: 'b' },
  { _id: 2, year: '2012', tag: 'a' },            // a string: never ordered against numbers
  { _id: 3, year: [2001, 2015], tag: ['a', 'c'] }, // arrays: any element
  { _id: 4, year: null },
  { _id: 5 },                                     // missing
  { _id: 6, year: D(2012, 0), meta: { n: 7 } },
  { _id: 7, year: [D(2013, 5)], meta: { n: '7' } },
  { _id: 8, year: true, meta: null },
  { _id: 9, year: NaN, tag: 'z' },
  { _id: 10, year: [], meta: { n: [1, 9] } },
];

const filters = [
  { year: { $gte: 2012 } }, { year: { $gt: 2012 } }, { year: { $lt: 2012 } }, { year: { $lte: 2010 } },
  { year: { $gte: '2012' } }, { year: { $lt: 'z' } },
  { year: { $gte: D(2012, 0) } }, { year: { $lt: D(2013, 0) } },
  { year: { $gte: null } }, { year: { $gte: true } }, { year: { $gte: NaN } },
  { year: { $gte: 2000, $lt: 2012 } }, { year: { $not: { $gte: 2012 } } },
  { tag: { $gt: 'a' } }, { 'meta.n': { $gte: 5 } }, { 'meta.n': { $lt: '8' } },
  { $or: [{ year: { $gt: 2014 } }, { tag: { $lte: 'a' } }] },
];

test('compileFilter equals matches() on every document and filter', () => {
  for (const f of filters) {
    const c = compileFilter(f);
    for (const d of docs) assert.equal(c(d), matches(d, f), `${JSON.stringify(f)} on document ${d._id}`);
  }
});

test('ordering comparisons: same type only, any array element, Dates by time', () => {
  const ids = (f) => docs.filter(compileFilter(f)).map((d) => d._id);
  assert.deepEqual(ids({ year: { $gte: 2012 } }), [1, 3]);
  assert.deepEqual(ids({ year: { $lt: 2012 } }), [0, 3]);
  assert.deepEqual(ids({ year: { $gte: '2012' } }), [2]);
  assert.deepEqual(ids({ year: { $gte: D(2012, 0) } }), [6, 7]);
  assert.deepEqual(ids({ year: { $lt: D(2013, 0) } }), [6]);
  assert.deepEqual(ids({ year: { $gte: null } }), []);
  assert.deepEqual(ids({ year: { $gte: NaN } }), []);
  assert.deepEqual(ids({ year: { $not: { $gte: 2012 } } }), [0, 2, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(ids({ 'meta.n': { $gte: 5 } }), [6, 10]);
  assert.deepEqual(ids({ tag: { $gt: 'a' } }), [1, 3, 9]);
});

test('filtered like() over cached field columns follows every insert, update, delete and import', async () => {
  const { openDatabase } = await import('../../web/src/index.mjs');
  const { vectorModel, vectorIndex, randomVectors, bruteForce } = await import('./store-helpers.mjs');
  const db = await openDatabase({ storage: 'memory' });
  try {
    await db.add(vectorIndex(vectorModel({ dim: 8 })));
    const col = db.collection('docs');
    const vecs = randomVectors(300, 8, 41);
    const docs = vecs.map((vec, i) => ({ _id: `d${i}`, year: 2000 + (i % 10), meta: { ok: i % 3 === 0 }, vec }));
    await col.insertMany(docs);
    const live = new Map(docs.map((d) => [d._id, d]));
    const q = randomVectors(1, 8, 42)[0];
    const check = async (f, what) => {
      const want = bruteForce([...live.values()].filter(compileFilter(f)), q).slice(0, 20).map((h) => h.id);
      const got = (await col.like({ vector: q }, { vectorIndex: 'vi', n: 20 }).find(f)).map((d) => d._id);
      assert.deepEqual(got, want, `${what}: ${JSON.stringify(f)}`);
    };
    const f1 = { year: { $gte: 2005 } }, f2 = { year: 2003, 'meta.ok': true };
    await check(f1, 'first (builds the column)');
    await check(f2, 'two fields');
    await col.updateOne({ _id: 'd1' }, { $set: { year: 2009 } });
    live.set('d1', { ...live.get('d1'), year: 2009 });
    await col.updateOne({ _id: 'd3' }, { $set: { 'meta.ok': false } });
    live.set('d3', { ...live.get('d3'), meta: { ok: false } });
    await check(f1, 'after updateOne');
    await check(f2, 'after updateOne of a nested field');
    for (const id of ['d5', 'd15', 'd23']) { await col.deleteOne({ _id: id }); live.delete(id); }
    await check(f1, 'after deleteOne');
    const extra = randomVectors(5, 8, 43).map((vec, i) => ({ _id: `e${i}`, year: 2008, meta: { ok: true }, vec }));
    await col.insertMany(extra);
    for (const d of extra) live.set(d._id, d);
    await check(f1, 'after insertMany');
    await check({ year: 2008 }, 'new documents');
  } finally { await db.close(); }
});
