#!/usr/bin/env node
// Seeded mutation fuzzing of the export container reader (db.importData → importContainer in
// web/src/db/container.mjs; the format is docs/export-format.md).
//
// The seed corpus is made at start: small memory stores (documents with binary fields of every
// kind, typed `_id`s, dates, NaN, a document left pending, two vector indexes, one of them
// switched to a second model so the manifest lists it twice, a store of two batches, an empty
// store) exported with db.exportData(). Each run takes one seed, applies one to four
// mutations — structural ones on the tar entries (drop, duplicate, swap, rename, type flag,
// size field, checksum, JSON values of the manifest / docs lines / end record, vector and blob
// lengths and values) and byte-level ones on the file (bit flips, interesting bytes,
// truncation, spans inserted, deleted or copied) — and imports the result into a fresh memory
// store that already holds documents of its own (sometimes with a vector index added, with the
// file's model or another one), fed as bytes, a Blob, a ReadableStream or chunks of random size.
//
// A run passes when the import resolves, or rejects with a ClipdbError whose code is one the
// importer documents (BAD_EXPORT, UNSUPPORTED, DUPLICATE_ID, MODEL_MISMATCH), within the time
// limit; and afterwards the store is whole: its earlier documents are unchanged (fields and
// binary bytes) and found first by their own vectors, the document count is the earlier one
// plus what the import reported, and a second Database opened on the same storage reads every
// record, counts the same documents, loads the vector index, and finds no vector, pending mark
// or binary field without its document. Anything else is a finding: the input is written to
// the findings folder (a fresh temporary one unless --out is given) with a line saying which
// run, mutations and check failed; the exit status is then 1.
//
//   node tests/fuzz/container-fuzz.mjs [--seconds S] [--seed N] [--runs N] [--run I] [--out DIR]
//     --seconds  stop after S seconds (default 12)      --runs  stop after N runs
//     --seed     the run sequence (default 1)           --run   only run I of that sequence
// Run I of seed N is the same input on every machine: `--seed N --run I` replays a finding.
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase, memoryStorage, Model, Listener, VectorIndex, ClipdbError } from '../../web/src/index.mjs';
import { parseTar, writeTar } from './container-tar.mjs';
import { PACK_PREFIX, packKey, refsOf } from '../../web/src/db/packs.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const SECONDS = Number(opt('seconds', 12));
const SEED = Number(opt('seed', 1)) >>> 0;
const MAX_RUNS = opt('runs') === undefined ? Infinity : Number(opt('runs'));
const ONLY = opt('run') === undefined ? null : Number(opt('run'));
const OUT = opt('out');
const RUN_TIMEOUT_MS = 20000;
/** Codes importData may reject a file with (docs/errors.md). */
const DOCUMENTED = new Set(['BAD_EXPORT', 'UNSUPPORTED', 'DUPLICATE_ID', 'MODEL_MISMATCH']);
const SEP = '\u0000';

// ---- deterministic randomness -----------------------------------------------------------------

function prng(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (a) => a[Math.floor(next() * a.length)],
    chance: (p) => next() < p,
  };
  return r;
}
/** The seed of run `i` of sequence `seed` (a 32-bit mix, so neighbouring runs differ widely). */
function runSeed(seed, i) {
  let h = (seed * 0x85ebca6b) ^ (i * 0xc2b2ae35) ^ 0x27d4eb2f;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b); h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- the models of the seed stores ------------------------------------------------------------

/** FNV-1a of the bytes drawn into `dim` floats: identical bytes, identical vector. */
function hashVector(bytes, dim, salt = 0) {
  let h = (2166136261 ^ salt) >>> 0;
  for (const b of bytes) { h ^= b; h = Math.imul(h, 16777619) >>> 0; }
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; v[i] = h / 4294967296 - 0.5; }
  return v;
}
const imageModel = (identifier, dim, salt) => new Model({
  identifier, dim, kind: 'image',
  encode: async (b) => {
    if (b[0] === 0xee) throw new Error('this stand-in encoder refuses images starting with 0xEE');
    return hashVector(b, dim, salt);
  },
});
const captionModel = () => new Model({ identifier: 'fz-caption', dim: 4, kind: 'vector', encode: async (v) => Float32Array.from(v) });
const imageIndex = (model) => new VectorIndex('img', { indexingListener: new Listener({ model, key: 'image', select: { collection: 'photos' } }) });
const captionIndex = () => new VectorIndex('cap', { indexingListener: new Listener({ model: captionModel(), key: 'caption', select: { collection: 'photos' } }) });

const bytesFor = (i, n) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7 + 1) & 255);
const exportBytes = async (db) => new Uint8Array(await new Response(db.exportData()).arrayBuffer());

/** The seed containers, each as a list of tar entries {name, data, type}. */
async function makeSeeds() {
  const seeds = [];
  // 1. Every kind of field; two vector indexes; 'img' switched to a second model.
  {
    const db = await openDatabase({ storage: 'memory' });
    const docs = [];
    for (let i = 0; i < 12; i++) {
      const d = { _id: i % 2 ? i : `p${i}`, n: i, when: new Date(1.7e12 + i * 1000), tags: ['a', i, null, true], nested: { a: { b: i / 3 } } };
      d.image = new Blob([bytesFor(i, 30 + i)], { type: i % 3 ? 'image/png' : 'image/jpeg' });
      if (i === 5) d.image = new Blob([Uint8Array.of(0xee, 1, 2, 3)], { type: 'image/png' }); // its embedding fails: pending
      if (i % 4 === 0) d.raw = bytesFor(i + 100, 5);
      if (i % 4 === 1) d.buf = bytesFor(i + 200, 6).buffer;
      if (i % 4 === 2) d.f32 = Float32Array.of(i, -i, 0.5);
      if (i === 3) d.weird = NaN;
      if (i !== 7) d.caption = [i + 1, -1, 0.25, i % 2];
      docs.push(d);
    }
    await db.collection('photos').insertMany(docs);
    await db.collection('notes').insertMany([{ _id: 'n1', text: 'no vectors' }, { _id: 2, list: [1, 2, 3] }]);
    // Added after the inserts: the backfill leaves the document whose embedding fails pending.
    await db.add(imageIndex(imageModel('fz-image', 8, 1)));
    await db.add(captionIndex());
    await db.removeVectorIndex('img');
    await db.add(imageIndex(imageModel('fz-image-2', 6, 2)), { reindex: true });
    seeds.push(await exportBytes(db));
    await db.close();
  }
  // 2. Two documents, one vector index.
  {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(imageIndex(imageModel('fz-image', 8, 1)));
    await db.collection('photos').insertMany([
      { _id: 'a', image: new Blob([bytesFor(1, 20)], { type: 'image/png' }), caption: [1, 2, 3, 4] },
      { _id: 1, image: bytesFor(2, 9) },
    ]);
    seeds.push(await exportBytes(db));
    await db.close();
  }
  // 3. An empty store.
  {
    const db = await openDatabase({ storage: 'memory' });
    seeds.push(await exportBytes(db));
    await db.close();
  }
  // 4. Two batches (the importer writes one batch per transaction).
  {
    const db = await openDatabase({ storage: 'memory' });
    await db.add(captionIndex());
    const docs = [];
    for (let i = 0; i < 1030; i++) docs.push({ _id: i % 3 ? `b${i}` : i, caption: [1 + (i % 7), i % 5, -(i % 3), 0.5] });
    await db.collection('photos').insertMany(docs, { batchSize: 512 });
    seeds.push(await exportBytes(db));
    await db.close();
  }
  return seeds.map((bytes) => {
    const entries = parseTar(bytes);
    // A fixed 'created' and mtime: the same seed bytes on every run and machine.
    const m = JSON.parse(new TextDecoder().decode(entries[0].data));
    m.created = '2026-01-01T00:00:00.000Z';
    entries[0].data = new TextEncoder().encode(JSON.stringify(m));
    return entries;
  });
}

// ---- mutations ----------------------------------------------------------------------------------

const enc = new TextEncoder(), dec = new TextDecoder();
const INTERESTING_BYTES = [0, 1, 0x20, 0x30, 0x37, 0x38, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x0a, 0x7b, 0x7d];
const interestingValues = (r) => r.pick([
  null, true, false, 0, -1, 1, 2, 7, 0.5, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, -0, '', 'x', '0', '\u0000', 'a\u0000b',
  [], [0], [0, 0], [-1], [99], ['0'], [null], {}, { $ref: 0 }, { $ref: 999 }, { $ref: -1 }, { $ref: '0' },
  { $date: 'x' }, { $date: 1e20 }, { $num: 'NaN' }, { $num: 'nope' }, { $bin: 'AAAA', $type: 'Float32Array' },
  { $bin: 'AAAAAA', $type: 'Float32Array' }, { $bin: '!!', $type: 'Uint8Array' }, { $bin: 'AA==', $type: 'BigInt64Array' },
  { $bin: 'AAAAAAAA', $type: 'Float64Array' }, { $clipdb: 'ref', as: 'blob', size: 3 },
  { identifier: 'fz-image', dim: 8 }, { identifier: 'fz-image', dim: 0 }, { identifier: 'fz-image', dim: 1e9 },
  { n: 0, path: 'image', as: 'blob', size: 1 }, { n: 0, path: '', as: 'nope', size: -1 }, { n: 0, path: 'a.b.c', as: 'imagedata', size: 4, width: 1, height: 1 },
  'photos', 'notes', 'img', 'cap', 'vectors', `photos${SEP}x`, 'clipdb-export',
]);

/** Replace, delete or add one value somewhere inside a parsed JSON value; returns the new root. */
function mutateJson(root, r) {
  const holders = [];
  const walk = (v, depth) => {
    if (v == null || typeof v !== 'object' || depth > 8) return;
    holders.push(v);
    for (const k of Object.keys(v)) walk(v[k], depth + 1);
  };
  walk(root, 0);
  if (!holders.length || r.chance(0.05)) return interestingValues(r);
  const o = r.pick(holders);
  const keys = Object.keys(o);
  const what = r.int(4);
  if (what === 0 && keys.length) { const k = r.pick(keys); if (Array.isArray(o)) o.splice(Number(k), 1); else delete o[k]; }
  else if (what === 1) o[Array.isArray(o) ? o.length : r.pick(['id', 'v', 'b', 'c', 'doc', 'n', 'dim', 'vectorIndexes', 'batches', '_id', 'extra'])] = interestingValues(r);
  else if (what === 2 && keys.length) { const k = r.pick(keys); o[k] = r.chance(0.5) ? interestingValues(r) : structuredClone(o[r.pick(keys)]); }
  else if (keys.length) { const k = r.pick(keys); if (typeof o[k] === 'number') o[k] = r.pick([o[k] + 1, o[k] - 1, -o[k], o[k] * 1024, 0]); else o[k] = interestingValues(r); }
  return root;
}

function mutateJsonEntry(e, r) {
  const text = dec.decode(e.data);
  if (e.name.endsWith('.jsonl')) {
    const lines = text.split('\n').filter((l) => l !== '');
    if (!lines.length) { e.data = enc.encode(JSON.stringify(interestingValues(r)) + '\n'); return 'json: line added to an empty batch'; }
    const i = r.int(lines.length), k = r.int(6);
    if (k === 0) lines.splice(i, 1);
    else if (k === 1) lines.splice(r.int(lines.length + 1), 0, lines[i]);
    else if (k === 2) { const j = r.int(lines.length); [lines[i], lines[j]] = [lines[j], lines[i]]; }
    else if (k === 3) lines[i] = lines[i].slice(0, r.int(lines[i].length));
    else { let v; try { v = JSON.parse(lines[i]); } catch { v = {}; } lines[i] = JSON.stringify(mutateJson(v, r)); }
    e.data = enc.encode(lines.join('\n') + (r.chance(0.9) ? '\n' : ''));
    return `json: ${e.name} line ${i + 1} (${['dropped', 'duplicated', 'swapped', 'cut', 'value', 'value'][k]})`;
  }
  let v;
  try { v = JSON.parse(text); } catch { v = {}; }
  e.data = enc.encode(JSON.stringify(mutateJson(v, r)));
  return `json: ${e.name} value`;
}

function mutateBinaryEntry(e, r) {
  const d = e.data, k = r.int(5);
  if (k === 0) { e.data = d.slice(0, Math.max(0, d.length - 1 - r.int(8))); return `${e.name}: cut`; }
  if (k === 1) { const extra = new Uint8Array(d.length + 1 + r.int(8)); extra.set(d); e.data = extra; return `${e.name}: grown`; }
  if (k === 2 && d.length >= 4) {
    const f = new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + (d.length & ~3)));
    f[r.int(f.length)] = r.pick([NaN, Infinity, -Infinity, 0, 3.4e38, 1e-45]);
    const out = d.slice(); out.set(new Uint8Array(f.buffer)); e.data = out;
    return `${e.name}: a float replaced`;
  }
  if (k === 3 && d.length >= 4) { e.data = new Uint8Array(d.length); return `${e.name}: zeroed`; }
  e.data = new Uint8Array(0);
  return `${e.name}: emptied`;
}

const NAMES = ['clipdb-export.json', 'clipdb-end.json', 'batch-000000/docs.jsonl', 'batch-000001/docs.jsonl', 'batch-0/docs.jsonl',
  'batch-000000/vectors-0.f32', 'batch-000000/vectors-1.f32', 'batch-000000/vectors-7.f32', 'batch-000000/blob-0', 'batch-000000/blob-99999',
  'batch-000001/blob-0', 'batch-000000/other', 'batch-1000000/docs.jsonl', 'docs.jsonl', '', 'batch-000000/', 'batch-000000/vectors-.f32',
  'batch-000000/vectors-99999999999999999999.f32', 'batch-000000/blob-1e3'];

/** Structural mutations on the entry list; each returns a description. */
const STRUCTURAL = [
  (es, r) => { const i = r.int(es.length); es.splice(i, 1); return `entry ${i} dropped`; },
  (es, r) => { const i = r.int(es.length), j = r.int(es.length + 1); es.splice(j, 0, { ...es[i], data: es[i].data.slice() }); return `entry ${i} duplicated at ${j}`; },
  (es, r) => { const i = r.int(es.length), j = r.int(es.length); [es[i], es[j]] = [es[j], es[i]]; return `entries ${i} and ${j} swapped`; },
  (es, r) => {
    const i = r.int(es.length), other = es[r.int(es.length)].name;
    es[i].name = r.chance(0.3) ? other : r.chance(0.8) ? r.pick(NAMES) : Uint8Array.from({ length: 1 + r.int(99) }, () => 1 + r.int(255));
    return `entry ${i} renamed`;
  },
  (es, r) => { const i = r.int(es.length); es[i].type = r.pick(['x', 'g', '5', '1', '2', 'L', 'K', '\u0000', '7', '\u00ff']); return `entry ${i} type '${es[i].type}'`; },
  (es, r) => {
    const i = r.int(es.length), n = es[i].data.length;
    es[i].sizeField = r.pick([(n + 1).toString(8), Math.max(0, n - 1).toString(8), (n + 512).toString(8), '77777777777', '', ' ', '8', '-1',
      '0', '1e3', Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0), (2 ** 33 - 1).toString(8), ` ${n.toString(8)} `]);
    return `entry ${i} size field ${JSON.stringify(String(es[i].sizeField))}`;
  },
  (es, r) => { const i = r.int(es.length); es[i].badSum = 1 + r.int(1000); return `entry ${i} checksum`; },
  (es, r) => {
    const json = es.filter((e) => typeof e.name === 'string' && /\.jsonl?$/.test(e.name));
    return json.length ? mutateJsonEntry(r.pick(json), r) : 'no JSON entry';
  },
  (es, r) => {
    const json = es.filter((e) => typeof e.name === 'string' && /\.jsonl?$/.test(e.name));
    return json.length ? mutateJsonEntry(r.pick(json), r) : 'no JSON entry';
  },
  (es, r) => {
    const bin = es.filter((e) => typeof e.name === 'string' && /(\.f32|blob-\d+)$/.test(e.name));
    return bin.length ? mutateBinaryEntry(r.pick(bin), r) : 'no binary entry';
  },
  (es, r) => {
    const i = r.int(es.length + 1);
    es.splice(i, 0, { name: r.pick(NAMES), type: r.pick(['0', 'x']), data: Uint8Array.from({ length: r.int(700) }, () => r.int(256)) });
    return `junk entry at ${i}`;
  },
];

/** Byte-level mutations on the whole file. */
const BYTES = [
  (b, r) => { const n = 1 + r.int(8); for (let k = 0; k < n; k++) { const i = r.int(b.length); b[i] ^= 1 << r.int(8); } return [b, `${n} bits flipped`]; },
  (b, r) => { const n = 1 + r.int(4); for (let k = 0; k < n; k++) b[r.int(b.length)] = r.pick(INTERESTING_BYTES); return [b, `${n} bytes set`]; },
  (b, r) => { const at = r.chance(0.5) ? r.int(b.length) : Math.max(0, 512 * r.int(Math.ceil(b.length / 512)) + r.pick([0, -1, 1, 100, 148, 156])); return [b.slice(0, at), `cut at ${at}`]; },
  (b, r) => { const at = r.int(b.length), n = 1 + r.int(600); const o = new Uint8Array(b.length + n); o.set(b.subarray(0, at)); o.set(Uint8Array.from({ length: n }, () => r.int(256)), at); o.set(b.subarray(at), at + n); return [o, `${n} bytes inserted at ${at}`]; },
  (b, r) => { const at = r.int(b.length), n = Math.min(1 + r.int(600), b.length - at); const o = new Uint8Array(b.length - n); o.set(b.subarray(0, at)); o.set(b.subarray(at + n), at); return [o, `${n} bytes deleted at ${at}`]; },
  (b, r) => { const from = r.int(b.length), to = r.int(b.length), n = Math.min(1 + r.int(1024), b.length - from, b.length - to); b.copyWithin(to, from, from + n); return [b, `${n} bytes copied from ${from} to ${to}`]; },
];

/** One mutated file: [bytes, description]. */
function mutate(seeds, r) {
  const si = r.int(seeds.length);
  const entries = seeds[si].map((e) => ({ ...e, data: e.data.slice() }));
  const notes = [`seed ${si}`];
  const nStruct = r.chance(0.75) ? 1 + r.int(3) : 0;
  for (let k = 0; k < nStruct && entries.length; k++) notes.push(r.pick(STRUCTURAL)(entries, r));
  let bytes = writeTar(entries, { end: r.chance(0.97) });
  const nBytes = nStruct === 0 ? 1 + r.int(3) : r.chance(0.3) ? 1 : 0;
  for (let k = 0; k < nBytes && bytes.length; k++) { const [b, note] = r.pick(BYTES)(bytes, r); bytes = b; notes.push(note); }
  return [bytes, notes.join('; ')];
}

/** The same bytes as one of the sources importData takes. */
function asSource(bytes, r) {
  const k = r.int(4);
  if (k === 0) return [bytes, 'Uint8Array'];
  if (k === 1) return [new Blob([bytes]), 'Blob'];
  if (k === 2) return [new Response(bytes).body, 'ReadableStream'];
  const sizes = [1, 7, 511, 512, 513, 4096, 65536];
  const chunk = r.pick(sizes);
  return [(async function* () { for (let o = 0; o < bytes.length; o += chunk) yield bytes.slice(o, o + chunk); })(), `chunks of ${chunk}`];
}

// ---- the target store and its checks ----------------------------------------------------------

const EARLIER = [
  { col: 'photos', doc: { _id: 'earlier-a', n: -1, image: bytesFor(900, 25), caption: [9, 8, 7, 6], when: new Date(1e12) } },
  { col: 'photos', doc: { _id: 900001, n: -2, image: bytesFor(901, 26), caption: [1, 0, 0, 0] } },
  { col: 'photos', doc: { _id: '900001', n: -3, image: bytesFor(902, 27) } },
  { col: 'other', doc: { _id: 'o', text: 'kept', blob: bytesFor(903, 3).buffer } },
];
const TARGET_MODES = ['no vector index added', "'img' added with the file's first model", "'img' added with another model"];

async function openTarget(mode) {
  const inner = memoryStorage();
  // close() of the first Database must not close the storage the second one reopens.
  const adapter = { ...inner, close: async () => {} };
  const db = await openDatabase({ storage: adapter });
  const model = mode === 1 ? imageModel('fz-image', 8, 1) : mode === 2 ? imageModel('fz-other', 8, 3) : null;
  if (model) await db.add(imageIndex(model));
  for (const e of EARLIER) await db.collection(e.col).insertOne(e.doc);
  return { db, adapter, model };
}

const same = (a, b) => {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof ArrayBuffer) a = new Uint8Array(a);
  if (b instanceof ArrayBuffer) b = new Uint8Array(b);
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) return ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && a.length === b.length && a.every((x, i) => x === b[i]);
  if (a == null || b == null || typeof a !== 'object' || typeof b !== 'object') return Object.is(a, b);
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same(a[k], b[k]));
};

/** Problems with the store after an import: [] when it is whole. */
async function checkStore(db, adapter, mode, model, countBefore, imported) {
  const problems = [];
  for (const e of EARLIER) {
    const got = await db.collection(e.col).findOne({ _id: e.doc._id });
    if (!got) { problems.push(`earlier document ${JSON.stringify(e.doc._id)} is gone`); continue; }
    if (!same(got, e.doc)) problems.push(`earlier document ${JSON.stringify(e.doc._id)} changed`);
    if (model && e.col === 'photos') {
      const [hit] = await db.collection('photos').like({ vector: hashVector(e.doc.image, 8, mode === 1 ? 1 : 3) }, { vectorIndex: 'img', n: 1 }).find();
      if (hit?._id !== e.doc._id || !(hit.score > 0.9999)) problems.push(`earlier document ${JSON.stringify(e.doc._id)} is not found by its own vector (got ${JSON.stringify(hit?._id)})`);
    }
  }
  const count = db.info.documents;
  if (imported !== null && count !== countBefore + imported) problems.push(`${count} documents after importing ${imported} into ${countBefore}`);
  await db.close();
  // Reopen the same storage: every record reads, the counts agree, no orphan.
  let db2;
  try {
    db2 = await openDatabase({ storage: adapter });
    if (db2.info.documents !== count) problems.push(`reopened with ${db2.info.documents} documents, had ${count}`);
    if (model) {
      const a = await db2.add(imageIndex(model));
      if (a.loaded < EARLIER.filter((e) => e.col === 'photos').length) problems.push(`reopened 'img' loads ${a.loaded} vectors`);
    }
    for (const e of EARLIER) if (!(await db2.collection(e.col).findOne({ _id: e.doc._id }))) problems.push(`earlier document ${JSON.stringify(e.doc._id)} is gone after reopening`);
  } catch (e) {
    problems.push(`reopening failed: ${e.code ?? e.name}: ${e.message}`);
  } finally { await db2?.close().catch(() => {}); }
  // Raw records: no vector, pending mark or binary field without its document.
  const docs = new Set(), packsUsed = new Set();
  for (const [k, page] of await adapter.getAll('docs')) {
    for (const rec of page.docs ?? []) {
      docs.add(`${k.split(SEP)[0]}${SEP}${typeKey(rec.doc._id)}`);
      for (const { ref } of refsOf(rec.doc)) if (ref.pack !== undefined) packsUsed.add(packKey(ref.pack));
    }
  }
  const vsets = new Map();
  for (const [k, v] of await adapter.getAll('meta')) if (k.startsWith(`vset${SEP}`)) vsets.set(`${v.index}${SEP}${v.model}`, v.collection);
  const live = new Map();
  for (const [k, rec] of await adapter.getAll('vectors')) {
    const [index, m] = k.split(SEP);
    const col = vsets.get(`${index}${SEP}${m}`);
    for (const t of rec.ids ?? []) live.set(`${col}${SEP}${t}`, k);
    for (const t of rec.del ?? []) live.delete(`${col}${SEP}${t}`);
  }
  for (const [owner, k] of live) if (!docs.has(owner)) problems.push(`vector ${JSON.stringify(owner)} (record ${JSON.stringify(k)}) without its document`);
  for (const k of await adapter.keys('pending')) if (!docs.has(k)) problems.push(`pending mark ${JSON.stringify(k)} without its document`);
  // Binary fields are packed per write: a pack must hold at least one document's field.
  const blobKeys = new Set(await adapter.keys('blobs'));
  for (const k of blobKeys) {
    if (k.startsWith(PACK_PREFIX)) { if (!packsUsed.has(k)) problems.push(`binary pack ${JSON.stringify(k)} without a document`); continue; }
    const [c, t] = k.split(SEP);
    if (!docs.has(`${c}${SEP}${t}`)) problems.push(`binary field ${JSON.stringify(k)} without its document`);
  }
  for (const k of packsUsed) if (!blobKeys.has(k)) problems.push(`binary pack ${JSON.stringify(k)} is missing`);
  return problems;
}
const typeKey = (id) => (typeof id === 'string' ? `s${id}` : `n${id}`);

// ---- the loop ---------------------------------------------------------------------------------

async function oneRun(seeds, i) {
  const r = prng(runSeed(SEED, i));
  const [bytes, notes] = mutate(seeds, r);
  const mode = r.int(TARGET_MODES.length);
  const [source, form] = asSource(bytes, r);
  const onConflict = r.chance(0.2) ? 'skip' : 'error';
  const { db, adapter, model } = await openTarget(mode);
  const countBefore = db.info.documents;
  let outcome, timer, imported = null;
  try {
    const result = await Promise.race([
      db.importData(source, { onConflict }),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`no answer within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS); }),
    ]);
    imported = result.documents;
    outcome = { ok: true, code: 'success' };
  } catch (e) {
    outcome = e instanceof ClipdbError && DOCUMENTED.has(e.code) ? { ok: true, code: e.code } : { ok: false, code: e?.code ?? e?.name ?? String(e), error: e };
  } finally { clearTimeout(timer); }
  let problems = [];
  if (outcome.error?.message?.startsWith('no answer within')) problems.push(outcome.error.message);
  else {
    try { problems = await checkStore(db, adapter, mode, model, countBefore, imported); } catch (e) { problems.push(`checking the store threw ${e?.name}: ${e?.message}`); }
  }
  if (!outcome.ok) problems.unshift(`import threw ${outcome.code}: ${outcome.error?.message}\n${outcome.error?.stack?.split('\n').slice(1, 4).join('\n')}`);
  return { bytes, notes: `${notes}; target: ${TARGET_MODES[mode]}; source: ${form}; onConflict: ${onConflict}`, code: outcome.code, problems };
}

const t0 = Date.now();
const seeds = await makeSeeds();
const codes = new Map();
const findings = [];
let outDir = null, runs = 0;
const first = ONLY ?? 0;
for (let i = first; ; i++) {
  if (ONLY !== null && i > ONLY) break;
  if (runs >= MAX_RUNS || (ONLY === null && (Date.now() - t0) / 1000 >= SECONDS)) break;
  const res = await oneRun(seeds, i);
  runs++;
  codes.set(res.code, (codes.get(res.code) ?? 0) + 1);
  if (res.problems.length) {
    // One saved input per distinct finding: an exception by its name and where it was thrown,
    // a damaged store by its first problem (numbers and quoted names stripped).
    const key = res.problems[0].startsWith('import threw')
      ? `${res.code} ${(res.problems[0].split('\n')[1] ?? '').trim()}`
      : res.problems[0].replace(/"[^"]*"/g, 'S').replace(/\d+/g, 'N');
    if (!findings.some((f) => f.key === key)) {
      outDir ??= OUT ?? await mkdtemp(path.join(tmpdir(), 'clipdb-container-fuzz-'));
      await mkdir(outDir, { recursive: true });
      const file = path.join(outDir, `seed${SEED}-run${i}.clipdb`);
      await writeFile(file, res.bytes);
      await writeFile(`${file}.txt`, `run ${i} of seed ${SEED}: ${res.notes}\n${res.problems.join('\n')}\n`);
      console.error(`FINDING run ${i} (${res.notes})\n  ${res.problems.join('\n  ')}\n  input: ${file}`);
    }
    findings.push({ key, run: i });
  }
}
const seconds = ((Date.now() - t0) / 1000).toFixed(1);
const byCode = [...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
const kinds = new Set(findings.map((f) => f.key)).size;
console.log(`container-fuzz: seed ${SEED}, ${runs} runs in ${seconds} s (${(runs / Number(seconds)).toFixed(0)}/s), ${seeds.length} seed files; outcomes: ${byCode}; findings: ${findings.length} runs, ${kinds} distinct${outDir ? ` (inputs in ${outDir})` : ''}`);
process.exit(findings.length ? 1 : 0);
