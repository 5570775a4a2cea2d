// Compact vector memory (openDatabase({vectorMemory})): the C index holds 16-bit copies of the
// vectors, the store keeps float32. Checked against a float32 store of the same documents:
// rankings and scores within the documented bound, and everything that hands vectors out
// (export/import, Parquet, db.compact()'s rewrite) gives the stored float32 vectors bit for bit.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../web/src/index.mjs';
import { compactAt } from '../../web/src/db/vector-set.mjs';
import { WasmVectorIndex } from '../../web/src/db/vector-index.mjs';
import { vectorModel, vectorIndex, randomVectors, bruteForce, assertOrder, rng, drain } from './store-helpers.mjs';

const DIM = 64;
const N = 5000;
const tmp = () => mkdtemp(path.join(tmpdir(), 'clipdb-compact-'));

/** 40 clusters, so that neighbours are close (near-ties within the 16-bit copies' error). */
function makeDocs(n = N, dim = DIM) {
  const centres = randomVectors(40, dim, 5);
  const noise = randomVectors(n, dim, 6);
  return noise.map((e, i) => ({ _id: `d${i}`, year: 2000 + (i % 20), vec: centres[i % 40].map((c, j) => c + 0.2 * e[j]) }));
}

/** The float32 row a float32 C index stores for the document vector `v` (stored as float32):
 * float64 norm, each value times 1/norm rounded to float32. */
function normalised(v) {
  const f = Float32Array.from(v);
  let ss = 0;
  for (const x of f) ss += x * x;
  const inv = 1 / Math.sqrt(ss);
  return Float32Array.from(f, (x) => x * inv);
}

const setOf = (db, name = 'vi') => db._vis.get(name).set; // internal: which memory form an index took

/** How many times the C index's add (float32 rows) and addCompact (stored planes) ran during fn(). */
async function countAdds(fn) {
  const proto = WasmVectorIndex.prototype, add = proto.add, addCompact = proto.addCompact;
  const counts = { add: 0, addCompact: 0 };
  proto.add = function (...a) { counts.add++; return add.apply(this, a); };
  proto.addCompact = function (...a) { counts.addCompact++; return addCompact.apply(this, a); };
  try { await fn(); } finally { proto.add = add; proto.addCompact = addCompact; }
  return counts;
}

describe('vectorMemory option', () => {
  test('modes and the auto threshold (8 MiB of float32 vectors)', () => {
    assert.equal(compactAt('auto', 512), 4096);
    assert.equal(compactAt('auto', 768), 2731);
    assert.equal(compactAt('float32', 512), Infinity);
    assert.equal(compactAt('compact', 512), 0);
  });
  test('an unknown mode is INVALID_ARGUMENT before anything opens', async () => {
    await assert.rejects(openDatabase({ storage: 'memory', vectorMemory: 'f16' }),
      (e) => e.code === 'INVALID_ARGUMENT' && /vectorMemory must be one of 'auto', 'float32', 'compact', got "f16"/.test(e.message));
  });
});

describe('a compact store against a float32 store of the same documents', () => {
  let dir, docs, dbf, dbc, eps;
  before(async () => {
    dir = await tmp();
    docs = makeDocs();
    dbf = await openDatabase({ storage: 'fs', dir, name: 'f32', vectorMemory: 'float32' });
    dbc = await openDatabase({ storage: 'fs', dir, name: 'compact', vectorMemory: 'compact' });
    for (const db of [dbf, dbc]) {
      await db.add(vectorIndex(vectorModel({ identifier: 'rand-64', dim: DIM })));
      await db.collection('docs').insertMany(docs);
    }
    // The documented bound: sqrt(dim) * max|v| / 65024 per score, plus float32 rounding.
    let m = 0;
    for (const d of docs) for (const x of normalised(d.vec)) m = Math.max(m, Math.abs(x));
    eps = Math.sqrt(DIM) * m / 65024 + 1e-6;
  });
  after(async () => {
    await dbf?.close();
    await dbc?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the two stores took the memory forms asked for', () => {
    assert.equal(setOf(dbf).compact, false);
    assert.equal(setOf(dbc).compact, true);
  });

  test('like(): the float64 ranking outside near-ties, scores within the bound', async () => {
    const r = rng(31);
    const queries = [...Array.from({ length: 6 }, () => Array.from({ length: DIM }, () => r())), docs[17].vec, docs[4242].vec];
    let exact = 0;
    for (const q of queries) {
      const ref = bruteForce(docs, q).slice(0, 50);
      const got = await dbc.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 50 }).find();
      exact += assertOrder(assert, got.map((d) => d._id), ref, 2 * eps, 'compact like');
      const refScore = new Map(ref.map((h) => [h.id, h.score]));
      for (const d of got) {
        if (!refScore.has(d._id)) continue; // a near-tie at the cut
        assert.ok(Math.abs(d.score - refScore.get(d._id)) <= eps, `${d._id}: ${d.score} vs ${refScore.get(d._id)} (eps ${eps})`);
      }
      // against the float32 store: the same ids in the same order wherever scores differ by more than 2 eps
      const f = await dbf.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 50 }).find();
      assertOrder(assert, got.map((d) => d._id), f.map((d) => ({ id: d._id, score: d.score })), 2 * eps, 'compact vs float32');
    }
    assert.ok(exact > 200, `${exact} positions checked exactly`);
  });

  test('a filtered like() and like({_id}) give the float32 store\'s answers', async () => {
    const q = docs[99].vec;
    const a = await dbc.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 10 }).find({ year: 2005 });
    const b = await dbf.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 10 }).find({ year: 2005 });
    assert.ok(a.every((d) => d.year === 2005));
    assertOrder(assert, a.map((d) => d._id), b.map((d) => ({ id: d._id, score: d.score })), 2 * eps, 'filtered');
    const byId = await dbc.collection('docs').like({ _id: 'd99' }, { vectorIndex: 'vi', n: 3 }).find();
    assert.equal(byId[0]._id, 'd99');
    assert.ok(Math.abs(byId[0].score - 1) <= 2 * eps, `self score ${byId[0].score}`);
  });

  test('exportData carries the stored float32 vectors: imported, they equal the float32 store\'s export bit for bit', async () => {
    assert.deepEqual(setOf(dbf).vectorOf('d7'), normalised(docs[7].vec));
    const imported = [];
    for (const db of [dbc, dbf]) {
      const blob = new Blob([(await drain(db.exportData())).bytes]);
      const into = await openDatabase({ storage: 'memory', vectorMemory: 'float32' });
      await into.add(vectorIndex(vectorModel({ identifier: 'rand-64', dim: DIM })));
      await into.importData(blob);
      imported.push(into);
    }
    try {
      const [a, b] = imported.map((db) => setOf(db));
      assert.equal(a.count, N);
      assert.equal(b.count, N);
      for (const d of docs) assert.deepEqual(a.vectorOf(d._id), b.vectorOf(d._id), d._id);
      // an import normalises the exported (normalised) vectors again: within an ulp or two of the original
      const x = a.vectorOf('d7'), y = normalised(docs[7].vec);
      for (let j = 0; j < DIM; j++) assert.ok(Math.abs(x[j] - y[j]) <= 2.5e-7 * Math.abs(y[j]) + 1e-12, `element ${j}`);
    } finally { for (const db of imported) await db.close(); }
  });

  test('exportParquet writes the float32 store\'s ids and vectors, read back by DuckDB', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const duck = await DuckDBInstance.create(':memory:');
    const con = await duck.connect();
    try {
      const read = async (db, name) => {
        const file = path.join(dir, name);
        await writeFile(file, (await drain(db.exportParquet({ vectorIndex: 'vi', rowGroupSize: 700 }))).bytes);
        return (await con.runAndReadAll(`SELECT id, vector FROM read_parquet('${file}') ORDER BY id`)).getRowObjectsJS();
      };
      const a = await read(dbc, 'compact.parquet'), b = await read(dbf, 'f32.parquet');
      assert.equal(a.length, N);
      assert.deepEqual(a, b);
      const d7 = a.find((r) => r.id === 'd7');
      assert.deepEqual(Float32Array.from(d7.vector), normalised(docs[7].vec));
    } finally { con.closeSync?.(); }
  });

  test('db.compact() on a compact index rewrites the records from storage, losing nothing; a reopen answers the same', async () => {
    const col = dbc.collection('docs');
    for (let i = 0; i < N; i += 5) await col.deleteOne({ _id: `d${i}` });
    await col.insertMany([{ _id: 'late', year: 1999, vec: docs[3].vec.map((x) => -x) }]);
    const q = docs[1234].vec;
    const before = await col.like({ vector: q }, { vectorIndex: 'vi', n: 20 }).find();
    await dbc.compact();
    assert.deepEqual((await col.like({ vector: q }, { vectorIndex: 'vi', n: 20 }).find()).map((d) => [d._id, d.score]), before.map((d) => [d._id, d.score]));
    await dbc.close();
    // the rewritten records, read back as float32: every live vector is the stored one
    const f32 = await openDatabase({ storage: 'fs', dir, name: 'compact', vectorMemory: 'float32' });
    try {
      await f32.add(vectorIndex(vectorModel({ identifier: 'rand-64', dim: DIM })));
      const s = setOf(f32);
      assert.equal(s.compact, false);
      assert.equal(s.count, N - N / 5 + 1);
      for (let i = 1; i < N; i += 37) if (i % 5) assert.deepEqual(s.vectorOf(`d${i}`), normalised(docs[i].vec), `d${i}`);
      assert.deepEqual(s.vectorOf('late'), normalised(docs[3].vec.map((x) => -x)));
    } finally { await f32.close(); }
    // the rewritten records keep their compact planes (in files: over 64 KiB each); a compact
    // open adds those, and never normalises or quantises a float32 vector
    dbc = await openDatabase({ storage: 'fs', dir, name: 'compact', vectorMemory: 'compact' });
    const keys = await dbc.adapter.keys('vectors');
    const rec = await dbc.adapter.get('vectors', keys[0], { planesInto: (n) => new Uint8Array(n) });
    assert.equal(rec.planesVersion, 1);
    assert.equal(rec.vectors, undefined);
    assert.equal(rec.planes.length, rec.ids.length * (4 + 2 * DIM));
    const plain = await dbc.adapter.get('vectors', keys[0]);
    assert.equal(plain.planes, undefined);
    assert.equal(plain.vectors.length, plain.ids.length * DIM);
    const counts = await countAdds(() => dbc.add(vectorIndex(vectorModel({ identifier: 'rand-64', dim: DIM }))));
    assert.deepEqual(counts, { add: 0, addCompact: keys.length });
    assert.equal(setOf(dbc).compact, true);
    assert.deepEqual((await dbc.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 20 }).find()).map((d) => [d._id, d.score]), before.map((d) => [d._id, d.score]));
  });

  test('planes of an unknown encoding version are not used: the floats are read instead, same answers', async () => {
    const keys = await dbc.adapter.keys('vectors');
    const rec = await dbc.adapter.get('vectors', keys[0], { planesInto: (n) => new Uint8Array(n) });
    const full = await dbc.adapter.get('vectors', keys[0]);
    const q = docs[2222].vec;
    const before = (await dbc.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 20 }).find()).map((d) => [d._id, d.score]);
    await dbc.close();
    const raw = await openDatabase({ storage: 'fs', dir, name: 'compact', vectorMemory: 'compact' });
    await raw.adapter.write([{ store: 'vectors', key: keys[0], value: { ...full, planes: rec.planes, planesVersion: 99 } }]);
    await raw.close();
    dbc = await openDatabase({ storage: 'fs', dir, name: 'compact', vectorMemory: 'compact' });
    const counts = await countAdds(() => dbc.add(vectorIndex(vectorModel({ identifier: 'rand-64', dim: DIM }))));
    assert.deepEqual(counts, { add: 1, addCompact: keys.length - 1 });
    assert.deepEqual((await dbc.collection('docs').like({ vector: q }, { vectorIndex: 'vi', n: 20 }).find()).map((d) => [d._id, d.score]), before);
  });
});

test("'auto' keeps float32 below 4,096 vectors of 512-d and compacts at 4,096, on insert and on open", async () => {
  const dir = await tmp();
  try {
    const r = rng(8);
    const mk = (i) => ({ _id: i, vec: Array.from({ length: 512 }, () => r()) });
    let db = await openDatabase({ storage: 'fs', dir, name: 'auto' });
    await db.add(vectorIndex(vectorModel({ identifier: 'rand-512', dim: 512 })));
    const col = db.collection('docs');
    for (let s = 0; s < 4095; s += 1024) await col.insertMany(Array.from({ length: Math.min(1024, 4095 - s) }, (_, j) => mk(s + j)));
    assert.equal(setOf(db).count, 4095);
    assert.equal(setOf(db).compact, false);
    const probe = mk(-1).vec;
    const beforeTop = (await col.like({ vector: probe }, { vectorIndex: 'vi', n: 5 }).find()).map((d) => d._id);
    await col.insertMany([mk(4095)]);
    assert.equal(setOf(db).compact, true);
    // random 512-d vectors: the top scores are far apart next to the 16-bit error
    const afterTop = (await col.like({ vector: probe }, { vectorIndex: 'vi', n: 5 }).find()).map((d) => d._id).filter((id) => id !== 4095);
    assert.deepEqual(afterTop, beforeTop.slice(0, afterTop.length));
    await db.close();
    db = await openDatabase({ storage: 'fs', dir, name: 'auto' });
    await db.add(vectorIndex(vectorModel({ identifier: 'rand-512', dim: 512 })));
    assert.equal(setOf(db).count, 4096);
    assert.equal(setOf(db).compact, true);
    await db.close();
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('a compact set\'s records of a quarter of chunkTarget or more keep planes from their first write; smaller ones do not', async () => {
  const dir = await tmp();
  try {
    const db = await openDatabase({ storage: 'fs', dir, name: 'append', vectorMemory: 'compact' });
    await db.add(vectorIndex(vectorModel({ identifier: 'rand-512', dim: 512 })));
    const vecs = randomVectors(700, 512, 77);
    const col = db.collection('docs');
    await col.insertMany(vecs.slice(0, 600).map((vec, i) => ({ _id: i, vec })), { batchSize: 600 }); // 600 >= 2048 / 4
    await col.insertMany(vecs.slice(600).map((vec, i) => ({ _id: 600 + i, vec })), { batchSize: 100 });
    const keys = await db.adapter.keys('vectors');
    const recs = [];
    for (const k of keys) recs.push(await db.adapter.get('vectors', k, { planesInto: (n) => new Uint8Array(n) }));
    assert.deepEqual(recs.map((r) => [r.ids.length, r.planes?.length ?? null]), [[600, 600 * (4 + 2 * 512)], [100, null]]);
    await db.close();
  } finally { await rm(dir, { recursive: true, force: true }); }
});
