// db.exportParquet: the file is read back by an independent engine (DuckDB's Node package),
// whose own cosine top-k in SQL must give the store's ranking, ids (typed) and metadata.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openDatabase, Model } from '../../web/src/index.mjs';
import { vectorModel, vectorIndex, randomVectors, rng, drain } from './store-helpers.mjs';

const DIM = 64;
const N = 3000;
const tmp = () => mkdtemp(path.join(tmpdir(), 'clipdb-parquet-'));

/** The test documents: ids of both types (42 and '42' both), scalar fields, a nested object, a binary field, an array. */
function makeDocs() {
  const vecs = randomVectors(N, DIM, 777);
  const r = rng(99);
  const cameras = ['nikon', 'canon', 'fuji'];
  return vecs.map((vec, i) => {
    const _id = i === 0 ? 42 : i === 1 ? '42' : i === 2 ? -7.5 : i % 2 ? `p${i}` : 100000 + i;
    const d = { _id, vec, year: 1990 + (i % 35), title: `photo ${i}` };
    if (i % 3 === 0) d.ratio = Math.round(r() * 1e6) / 1e3;
    if (i % 4 !== 1) d.flag = i % 5 === 0;
    if (i % 7 === 0) d.taken = new Date(Date.UTC(2020, i % 12, 1 + (i % 28), i % 24));
    if (i % 2 === 0) d.exif = { camera: cameras[i % 3], iso: 100 * (1 + (i % 16)) };
    if (i % 10 === 0) d.thumb = new Uint8Array([i & 255, 1, 2]);
    if (i % 6 === 0) d.tags = ['a', `t${i % 4}`];
    return d;
  });
}

const sqlVector = (q) => `[${Array.from(q).join(',')}]::FLOAT[${DIM}]`;

describe('exportParquet read back by DuckDB', () => {
  let dir, db, docs, duck, con, file, chunks;
  before(async () => {
    dir = await tmp();
    db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ identifier: 'rand-64', dim: DIM }), { collection: 'photos' }));
    docs = makeDocs();
    await db.collection('photos').insertMany(docs);
    file = path.join(dir, 'photos.parquet');
    const out = await drain(db.exportParquet({ vectorIndex: 'vi', rowGroupSize: 500 }));
    chunks = out.chunks;
    await writeFile(file, out.bytes);
    duck = await DuckDBInstance.create(':memory:');
    con = await duck.connect();
  });
  after(async () => {
    con?.closeSync?.();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });
  const rows = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJS();

  test('one row per document, written as six row groups and streamed in pieces', async () => {
    assert.deepEqual(await rows(`SELECT count(*) AS n FROM read_parquet('${file}')`), [{ n: BigInt(N) }]);
    const groups = await rows(`SELECT row_group_id, count(*) AS cols, max(row_group_num_rows) AS n FROM parquet_metadata('${file}') GROUP BY row_group_id ORDER BY row_group_id`);
    assert.deepEqual(groups.map((g) => Number(g.n)), [500, 500, 500, 500, 500, 500]);
    // One piece per row group (the first with the file's magic), then the footer: never the
    // whole file at once.
    assert.ok(chunks.length >= 7, `${chunks.length} chunks`);
    const biggest = Math.max(...chunks.map((c) => c.length));
    assert.ok(biggest < 500 * DIM * 4 * 2, `biggest chunk ${biggest} bytes`);
  });

  test('columns: id, id_type, collection, vector FLOAT[], then the scalar fields, dotted for nested ones', async () => {
    const cols = await rows(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
    assert.deepEqual(cols.map((c) => [c.column_name, c.column_type]), [
      ['id', 'VARCHAR'], ['id_type', 'VARCHAR'], ['collection', 'VARCHAR'], ['vector', 'FLOAT[]'],
      ['year', 'BIGINT'], ['title', 'VARCHAR'], ['ratio', 'DOUBLE'], ['flag', 'BOOLEAN'], ['taken', 'TIMESTAMP'],
      ['exif.camera', 'VARCHAR'], ['exif.iso', 'BIGINT'],
    ]);
    const kv = await rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${file}') ORDER BY k`);
    assert.equal(kv.find((x) => x.k === 'model').v, 'rand-64');
    const info = JSON.parse(kv.find((x) => x.k === 'clipdb').v);
    assert.equal(info.format, 'clipdb-parquet');
    assert.deepEqual(info.model, { identifier: 'rand-64', dim: DIM });
    assert.equal(info.rows, N);
    assert.equal(info.vectorIndex, 'vi');
    assert.equal(info.collection, 'photos');
  });

  test('numeric and string ids both round-trip (42 and "42" are two rows)', async () => {
    const got = (await rows(`SELECT id, id_type FROM read_parquet('${file}')`)).map((r) => (r.id_type === 'number' ? Number(r.id) : r.id));
    assert.deepEqual(got, docs.map((d) => d._id)); // insertion order
    assert.ok(got.includes(42) && got.includes('42') && got.includes(-7.5));
    const types = await rows(`SELECT id_type, count(*) AS n FROM read_parquet('${file}') GROUP BY id_type ORDER BY id_type`);
    assert.deepEqual(types, [{ id_type: 'number', n: 1500n }, { id_type: 'string', n: 1500n }]);
  });

  test('metadata columns equal the documents', async () => {
    const got = await rows(`SELECT * EXCLUDE (vector) FROM read_parquet('${file}')`);
    assert.equal(got.length, N);
    for (let i = 0; i < N; i++) {
      const d = docs[i], g = got[i];
      const want = {
        id: String(d._id), id_type: typeof d._id, collection: 'photos',
        year: BigInt(d.year), title: d.title, ratio: d.ratio ?? null, flag: d.flag ?? null,
        taken: d.taken ?? null, 'exif.camera': d.exif?.camera ?? null, 'exif.iso': d.exif ? BigInt(d.exif.iso) : null,
      };
      assert.deepEqual(g, want, `row ${i}`);
    }
  });

  test('cosine top-10 in SQL gives the store\'s ids in the same order, scores within 1e-6', async () => {
    const queries = randomVectors(10, DIM, 4242).map((q) => Float32Array.from(q));
    const col = db.collection('photos');
    for (const [qi, q] of queries.entries()) {
      const mine = await col.like({ vector: q }, { vectorIndex: 'vi', n: 10 }).find();
      const theirs = await rows(`SELECT id, id_type, array_cosine_similarity(vector::FLOAT[${DIM}], ${sqlVector(q)}) AS score
        FROM read_parquet('${file}') ORDER BY score DESC, id LIMIT 10`);
      assert.deepEqual(theirs.map((r) => (r.id_type === 'number' ? Number(r.id) : r.id)), mine.map((d) => d._id), `query ${qi}`);
      theirs.forEach((r, k) => assert.ok(Math.abs(r.score - mine[k].score) <= 1e-6, `query ${qi} rank ${k}: ${r.score} vs ${mine[k].score}`));
    }
  });

  test('the exported vectors are the stored ones, L2-normalised', async () => {
    const got = await rows(`SELECT vector FROM read_parquet('${file}') LIMIT 3`);
    got.forEach((r, i) => {
      const v = docs[i].vec, norm = Math.hypot(...v);
      assert.equal(r.vector.length, DIM);
      r.vector.forEach((x, j) => assert.ok(Math.abs(x - v[j] / norm) < 1e-6, `row ${i} [${j}]`));
    });
  });
});

describe('exportParquet options and errors', () => {
  const small = [
    { _id: 'a', vec: [1, 0, 0, 0], id: 'own-a', tags: ['x', 'y'], meta: { n: 1, deep: { s: 'q' } }, mixed: 3, 'lens.f': 2.8 },
    { _id: 2, vec: [0, 1, 0, 0], mixed: 'three', meta: { n: 2.5 } },
    { _id: 'c', vec: [0, 0, 1, 0], image: new Uint8Array([1, 2]) },
  ];
  const reader = async () => { const d = await DuckDBInstance.create(':memory:'); return d.connect(); };
  async function exported(db, options) {
    const dir = await tmp();
    const file = path.join(dir, 'x.parquet');
    await writeFile(file, (await drain(db.exportParquet(options))).bytes);
    return { file, dir };
  }

  test('fields picks columns (arrays as JSON); a field named like a reserved column becomes doc.<name>; mixed types are JSON; a key holding a dot keeps its value', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: 4 })));
    await db.collection('docs').insertMany(small);
    const con = await reader();
    const all = await exported(db, { vectorIndex: 'vi' });
    const picked = await exported(db, { vectorIndex: 'vi', fields: ['tags', 'meta.deep', 'id'] });
    try {
      const cols = async (f) => (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).getRowObjectsJS().map((c) => `${c.column_name}:${c.column_type}`);
      assert.deepEqual(await cols(all.file), ['id:VARCHAR', 'id_type:VARCHAR', 'collection:VARCHAR', 'vector:FLOAT[]',
        'doc.id:VARCHAR', 'meta.n:DOUBLE', 'meta.deep.s:VARCHAR', 'mixed:JSON', 'lens.f:DOUBLE']);
      assert.deepEqual(await cols(picked.file), ['id:VARCHAR', 'id_type:VARCHAR', 'collection:VARCHAR', 'vector:FLOAT[]',
        'doc.id:VARCHAR', 'tags:JSON', 'meta.deep.s:VARCHAR']);
      const r = (await con.runAndReadAll(`SELECT id, "doc.id", tags::VARCHAR AS tags, "meta.deep.s" FROM read_parquet('${picked.file}')`)).getRowObjectsJS();
      assert.deepEqual(r, [
        { id: 'a', 'doc.id': 'own-a', tags: '["x","y"]', 'meta.deep.s': 'q' },
        { id: '2', 'doc.id': null, tags: null, 'meta.deep.s': null },
        { id: 'c', 'doc.id': null, tags: null, 'meta.deep.s': null },
      ]);
      const m = (await con.runAndReadAll(`SELECT mixed::VARCHAR AS m, "meta.n" AS n, "lens.f" AS f FROM read_parquet('${all.file}')`)).getRowObjectsJS();
      assert.deepEqual(m, [{ m: '3', n: 1, f: 2.8 }, { m: '"three"', n: 2.5, f: null }, { m: null, n: null, f: null }]);
    } finally {
      await db.close();
      await rm(all.dir, { recursive: true, force: true });
      await rm(picked.dir, { recursive: true, force: true });
    }
  });

  test('bad options throw at once; an unknown index or field fails the stream with NOT_FOUND / INVALID_ARGUMENT', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: 4 })));
    await db.collection('docs').insertMany(small);
    try {
      assert.throws(() => db.exportParquet(), { code: 'INVALID_ARGUMENT' });
      assert.throws(() => db.exportParquet({ vectorIndex: 'vi', rowGroupSize: 0 }), { code: 'INVALID_ARGUMENT', message: /rowGroupSize/ });
      assert.throws(() => db.exportParquet({ vectorIndex: 'vi', fields: 'meta' }), { code: 'INVALID_ARGUMENT', message: /fields/ });
      await assert.rejects(drain(db.exportParquet({ vectorIndex: 'nope' })), { code: 'NOT_FOUND', message: /no vector index named 'nope'/ });
      await assert.rejects(drain(db.exportParquet({ vectorIndex: 'vi', model: 'other' })), { code: 'NOT_FOUND', message: /keeps no vectors of model 'other' \(it keeps 'identity'\)/ });
      await assert.rejects(drain(db.exportParquet({ vectorIndex: 'vi', fields: ['meta.nope'] })), { code: 'INVALID_ARGUMENT', message: /'meta\.nope'/ });
      // The store still works and is unchanged after the failed exports.
      assert.equal(await db.collection('docs').count(), 3);
      const hits = await db.collection('docs').like({ _id: 'a' }, { vectorIndex: 'vi', n: 1 }).find();
      assert.equal(hits[0]._id, 'a');
    } finally { await db.close(); }
  });

  test('writes made during the export wait for it; the file holds the store as it was when the export began', async () => {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(vectorIndex(vectorModel({ dim: 4 })));
    const col = db.collection('docs');
    await col.insertMany(small);
    const stream = db.exportParquet({ vectorIndex: 'vi' });
    let inserted = false;
    const ins = col.insertOne({ _id: 'late', vec: [1, 1, 1, 1] }).then(() => { inserted = true; });
    const { bytes } = await drain(stream);
    await ins;
    assert.ok(inserted);
    const dir = await tmp();
    try {
      const file = path.join(dir, 'x.parquet');
      await writeFile(file, bytes);
      const con = await reader();
      const ids = (await con.runAndReadAll(`SELECT id FROM read_parquet('${file}')`)).getRowObjectsJS().map((r) => r.id);
      assert.deepEqual(ids, ['a', '2', 'c']);
    } finally { await db.close(); await rm(dir, { recursive: true, force: true }); }
  });

  test('an index not added in this session, or another model\'s vectors, are read from storage; deleted documents are left out', async () => {
    const dir = await tmp();
    try {
      let db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      await db.add(vectorIndex(vectorModel({ identifier: 'm1', dim: 4 })));
      const col = db.collection('docs');
      await col.insertMany(small);
      await col.deleteOne({ _id: 'c' });
      await db.close();
      // A second model for the same index: every document embedded again (reversed vector).
      db = await openDatabase({ storage: 'fs', dir, name: 'p' });
      const rev = new Model({ identifier: 'm2', dim: 4, encode: (v) => Float32Array.from(v).reverse() });
      await db.add(vectorIndex(rev), { reindex: true });
      await db.close();
      db = await openDatabase({ storage: 'fs', dir, name: 'p' }); // nothing added
      const con = await reader();
      const read = async (options) => {
        const file = path.join(dir, `${options.model ?? 'default'}.parquet`);
        await writeFile(file, (await drain(db.exportParquet(options))).bytes);
        const r = (await con.runAndReadAll(`SELECT id, vector FROM read_parquet('${file}')`)).getRowObjectsJS();
        const kv = (await con.runAndReadAll(`SELECT decode(value) AS v FROM parquet_kv_metadata('${file}') WHERE decode(key) = 'model'`)).getRowObjectsJS();
        return { rows: r.map((x) => [x.id, x.vector]), model: kv[0].v };
      };
      // Default: the model the index was last added with.
      assert.deepEqual(await read({ vectorIndex: 'vi' }), { model: 'm2', rows: [['a', [0, 0, 0, 1]], ['2', [0, 0, 1, 0]]] });
      assert.deepEqual(await read({ vectorIndex: 'vi', model: 'm1' }), { model: 'm1', rows: [['a', [1, 0, 0, 0]], ['2', [0, 1, 0, 0]]] });
      await db.close();
    } finally { await rm(dir, { recursive: true, force: true }); }
  });
});
