// The export container reader (importData) on damaged files: each case is an input the
// container fuzzer (tests/fuzz/container-fuzz.mjs) found, where the import threw a bare
// RangeError / SyntaxError / TypeError, succeeded leaving a vector without its document, or
// stored a vector that made the store fail to open afterwards. Now each is BAD_EXPORT naming
// the problem, the target store's earlier documents are unchanged, and the store reopens whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, memoryStorage } from '../../web/src/index.mjs';
import { vectorModel, vectorIndex } from './store-helpers.mjs';
import { parseTar, writeTar } from '../fuzz/container-tar.mjs';

const DIM = 4;
const enc = new TextEncoder(), dec = new TextDecoder();
const model = () => vectorModel({ identifier: 'model-a', dim: DIM });
const bytesOf = async (blob) => new Uint8Array(await blob.arrayBuffer());

/** The entries of an export of three documents (an image each) and a 'notes' document. */
async function sourceEntries() {
  const db = await openDatabase({ storage: 'memory' });
  await db.add(vectorIndex(model()));
  await db.collection('docs').insertMany([0, 1, 2].map((i) => ({
    _id: i === 1 ? 1 : `d${i}`, vec: [1 + i, -i, 0.5, 2], image: new Blob([Uint8Array.of(i, 1, 2, 3, 4)], { type: 'image/png' }),
  })));
  await db.collection('notes').insertOne({ _id: 'n', text: 'hello' });
  const file = new Uint8Array(await new Response(db.exportData()).arrayBuffer());
  await db.close();
  return parseTar(file);
}

/** A store that already holds one document with a vector, on storage that outlives close(). */
async function target() {
  const inner = memoryStorage();
  const adapter = { ...inner, close: async () => {} };
  const db = await openDatabase({ storage: adapter });
  await db.add(vectorIndex(model()));
  await db.collection('docs').insertOne({ _id: 'kept', vec: [0, 0, 1, 0], image: Uint8Array.of(9, 9) });
  return { db, adapter };
}

/** The target after the import failed: the earlier document is whole, searchable, and survives a reopen with no orphan vector. */
async function assertIntact({ db, adapter }) {
  const check = async (d) => {
    const kept = await d.collection('docs').findOne({ _id: 'kept' });
    assert.deepEqual(kept.image, Uint8Array.of(9, 9));
    const [hit] = await d.collection('docs').like({ vector: [0, 0, 1, 0] }, { vectorIndex: 'vi', n: 1 }).find();
    assert.equal(hit._id, 'kept');
  };
  await check(db);
  const count = db.info.documents, indexed = (await db.collection('docs').find()).length;
  await db.close();
  const db2 = await openDatabase({ storage: adapter });
  assert.equal(db2.info.documents, count);
  const added = await db2.add(vectorIndex(model()));
  assert.deepEqual(added, { loaded: indexed, embedded: 0 }, 'every stored vector loads, one per document of the indexed collection');
  await check(db2);
  const docs = new Set();
  for (const [, page] of await adapter.getAll('docs')) for (const r of page.docs) docs.add(r.doc._id);
  for (const [, rec] of await adapter.getAll('vectors')) for (const t of rec.ids) assert.ok(docs.has(t[0] === 's' ? t.slice(1) : Number(t.slice(1))), `vector ${t} has its document`);
  await db2.close();
}

/** Import `entries` into a fresh target: BAD_EXPORT matching `message`, the target intact. */
async function rejects(entries, message) {
  const t = await target();
  await assert.rejects(t.db.importData(writeTar(entries)), (e) => {
    assert.equal(e.name, 'ClipdbError', `${e.name}: ${e.message}`);
    assert.equal(e.code, 'BAD_EXPORT', e.message);
    assert.match(e.message, message);
    return true;
  });
  await assertIntact(t);
}

const entry = (es, re) => es.find((e) => re.test(e.name));
const docsLines = (es) => dec.decode(entry(es, /docs\.jsonl$/).data).split('\n').filter(Boolean).map((l) => JSON.parse(l));
const setDocsLines = (es, lines) => { entry(es, /docs\.jsonl$/).data = enc.encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'); };

test('the unchanged file imports (the cases below change one thing each)', async () => {
  const t = await target();
  assert.deepEqual(await t.db.importData(writeTar(await sourceEntries())), { documents: 4, vectors: 3, skipped: 0 });
  assert.deepEqual(await bytesOf((await t.db.collection('docs').findOne({ _id: 1 })).image), Uint8Array.of(1, 1, 2, 3, 4));
  await assertIntact(t);
});

test('a vectors entry whose length is not a multiple of 4 bytes is BAD_EXPORT (was a RangeError)', async () => {
  const es = await sourceEntries();
  const v = entry(es, /vectors-0\.f32$/);
  v.data = Uint8Array.from([...v.data, 0, 0]);
  await rejects(es, /vectors-0\.f32 holds 50 bytes, not a whole number of float32 values/);
});

test('an end record that is not JSON is BAD_EXPORT (was a SyntaxError)', async () => {
  const es = await sourceEntries();
  entry(es, /clipdb-end\.json$/).data = enc.encode('{"batches": 1,');
  await rejects(es, /end record \(clipdb-end\.json\) is not JSON/);
});

test('a manifest whose vectorIndexes is not a list, or an index without a collection, is BAD_EXPORT (was a TypeError / a vector filed under no collection)', async () => {
  const es = await sourceEntries();
  const m = JSON.parse(dec.decode(es[0].data));
  es[0].data = enc.encode(JSON.stringify({ ...m, vectorIndexes: 7 }));
  await rejects(es, /"vectorIndexes" is not a list/);
  delete m.vectorIndexes[0].collection;
  es[0].data = enc.encode(JSON.stringify(m));
  await rejects(es, /bad vector index entry in the manifest/);
});

test('a docs line without "doc", or with a typed array of an unknown type, is BAD_EXPORT (was a TypeError / an IO error)', async () => {
  const es = await sourceEntries();
  const lines = docsLines(es);
  setDocsLines(es, lines.map((l, i) => (i === 1 ? { ...l, doc: undefined } : l)));
  await rejects(es, /batch 000000 line 2: "doc" is not a JSON object/);
  setDocsLines(es, lines.map((l, i) => (i === 1 ? { ...l, doc: { ...l.doc, f: { $bin: 'AAAAAAAA', $type: 'BigInt64Array' } } } : l)));
  await rejects(es, /batch 000000 line 2: a value of the document cannot be read/);
});

test("a document whose line names another collection than its vector's index is BAD_EXPORT (was imported with a vector without its document)", async () => {
  const es = await sourceEntries();
  setDocsLines(es, docsLines(es).map((l, i) => (i === 0 ? { ...l, c: 'elsewhere' } : l)));
  await rejects(es, /line 1: a document of 'elsewhere' has a vector of index 0, which indexes 'docs'/);
});

test('a zero or NaN vector is BAD_EXPORT before anything is stored (was stored, and the store then failed to open: CORRUPT)', async () => {
  for (const bad of [0, NaN]) {
    const es = await sourceEntries();
    const v = entry(es, /vectors-0\.f32$/);
    const f = new Float32Array(v.data.slice().buffer);
    f.fill(bad, DIM, 2 * DIM);
    v.data = new Uint8Array(f.buffer);
    await rejects(es, /the vector of document 1 in vectors-0\.f32 is zero, NaN or infinite/);
  }
});

test('a binary entry shorter than its line says, or a binary list that does not match the {$ref} fields, is BAD_EXPORT (was stored with a wrong size)', async () => {
  const es = await sourceEntries();
  const b = entry(es, /blob-1$/);
  b.data = b.data.subarray(0, 3);
  await rejects(es, /binary 1 of document 1 holds 3 bytes, its line says 5/);
  const es2 = await sourceEntries();
  setDocsLines(es2, docsLines(es2).map((l, i) => (i === 2 ? { ...l, b: [{ ...l.b[0], path: 'other' }] } : l)));
  await rejects(es2, /line 3: the binary list "b" does not match the document's \{\$ref\} fields/);
});
