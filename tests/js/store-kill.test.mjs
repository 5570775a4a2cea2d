// Crash safety of the 'fs' store (LevelDB) under SIGKILL: a child process inserting documents
// (insertMany) or importing an export file (importData) is killed at 20 random points in each test
// (CLIPDB_KILL_POINTS=N runs N instead, for a quick run while iterating).
// After every kill the store, read raw and through the database, must hold only complete
// documents (small fields and binary field intact, a vector for every document without a
// pending mark, no vector and no binary field without its document, import batches whole), every
// document must be searchable once its vector index is added again, and resuming (inserting the
// rest, re-running the same import) must end with exactly N documents.
//
// The same file is the child: CLIPDB_KILL_CHILD=insert|import runs one insert or import and
// reports progress on stdout. CLIPDB_KILL_SEED fixes the random kill points (printed on failure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { openDatabase, fsStorage, Model, Listener, VectorIndex } from '../../web/src/index.mjs';
import { imageFor, indexOfImage, vectorFor, docId } from '../../bench/store-data.mjs';
import { idFromKey, parseDocKey } from '../../web/src/db/layout.mjs';
import { PACK_PREFIX, refsOf } from '../../web/src/db/packs.mjs';

const DIM = 16;
const IMAGE = 600;           // bytes per image (the first 4 are the document's number)
const N_INSERT = 600;
const KILLS = Number(process.env.CLIPDB_KILL_POINTS ?? 20);
const N_IMPORT = 5000;       // the export writes batches of 1024 documents: 5 batches
const IMPORT_BATCH = 1024;
const self = fileURLToPath(import.meta.url);

function model() {
  const m = new Model({
    identifier: 'kill-test-vector', dim: DIM, kind: 'image',
    // A short wait per document, so that kills also land between a batch's two transactions.
    encode: async (bytes) => { m.calls++; await new Promise((r) => setTimeout(r, 1)); return vectorFor(indexOfImage(bytes), DIM); },
  });
  m.calls = 0;
  return m;
}
const index = (m) => new VectorIndex('images', { indexingListener: new Listener({ model: m, key: 'image', select: { collection: 'photos' } }) });
const doc = (i) => ({ _id: docId(i), year: 2000 + (i % 25), image: new Blob([imageFor(i, IMAGE)], { type: 'image/x-test' }) });

// ---- the child -------------------------------------------------------------------------------

async function child(kind) {
  const { dir, file } = JSON.parse(process.env.CLIPDB_KILL_ARGS);
  const say = (s) => process.stdout.write(`${s}\n`);
  const db = await openDatabase({ storage: 'fs', dir, name: 'kill' });
  if (kind === 'insert') {
    await db.add(index(model())); // re-embeds what a kill left pending
    const c = db.collection('photos');
    const have = new Set((await c.find()).map((d) => d._id));
    const todo = [];
    for (let i = 0; i < N_INSERT; i++) if (!have.has(docId(i))) todo.push(doc(i));
    say('ready');
    await c.insertMany(todo, { batchSize: 8, onProgress: (p) => say(`ok ${p.id}`) });
  } else {
    say('ready');
    await db.importData(createReadStream(file, { highWaterMark: 64 << 10 }), { onProgress: (p) => say(`batch ${p.documents + p.skipped}`) });
  }
  await db.close();
  say('done');
}

if (process.env.CLIPDB_KILL_CHILD) {
  await child(process.env.CLIPDB_KILL_CHILD);
} else {
  // ---- the parent ----------------------------------------------------------------------------

  const seed = Number(process.env.CLIPDB_KILL_SEED ?? (Date.now() % 1e9));
  let s = seed >>> 0 || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };

  /**
   * Run the child; `killAt(lines)` decides after each stdout line whether to SIGKILL it now
   * (returning a delay in ms). Resolves to {lines, killed}.
   */
  function runChild(kind, args, killAt) {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [self], { env: { ...process.env, CLIPDB_KILL_CHILD: kind, CLIPDB_KILL_ARGS: JSON.stringify(args) }, stdio: ['ignore', 'pipe', 'pipe'] });
      const lines = [];
      let buf = '', err = '', killed = false, armed = false;
      p.stdout.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i)); buf = buf.slice(i + 1);
          const delay = armed ? null : killAt?.(lines);
          if (delay != null) { armed = true; setTimeout(() => { killed = p.kill('SIGKILL'); }, delay); }
        }
      });
      p.stderr.on('data', (d) => { err += d; });
      p.on('close', (code, signal) => {
        if (signal === 'SIGKILL' || code === 0) resolve({ lines, killed: signal === 'SIGKILL' });
        else reject(new Error(`child ${kind} exited with ${code}: ${err.slice(-1500)}`));
      });
    });
  }

  /**
   * The store read raw, with no database opened on it: live vector ids (chunk records applied in
   * order), documents, pending marks and binary-field keys. Checks the invariants that need no
   * database: no vector, pending mark or binary field without its document; every document
   * without a pending mark has a vector.
   */
  async function rawCheck(dir, what) {
    const a = await fsStorage({ dir, name: 'kill' });
    try {
      // 'docs' records are pages of documents' small fields.
      const docs = new Set(), packUsers = new Map();
      for (const [, page] of await a.getAll('docs')) {
        for (const r of page.docs) {
          docs.add(r.doc._id);
          for (const { ref } of refsOf(r.doc)) packUsers.set(ref.pack, [...(packUsers.get(ref.pack) ?? []), r.doc._id]);
        }
      }
      const pending = new Set((await a.keys('pending')).map((k) => parseDocKey(k)[1]));
      // Binary fields are packed per write (packs.mjs): every document's image lies in a pack
      // that exists, and no pack is left without a document.
      const packs = new Set((await a.keys('blobs')).map((k) => { assert.ok(k.startsWith(PACK_PREFIX), `${what}: ${JSON.stringify(k)} is not a pack`); return Number(k.slice(PACK_PREFIX.length)); }));
      const blobOwners = [];
      for (const [seq, users] of packUsers) {
        assert.ok(packs.has(seq), `${what}: the images of ${users.join(', ')} lie in pack ${seq}, which is missing`);
        blobOwners.push(...users);
      }
      for (const seq of packs) assert.ok(packUsers.has(seq), `${what}: pack ${seq} has no document`);
      const live = new Set();
      for (const [, rec] of await a.getAll('vectors')) {
        for (const t of rec.ids) live.add(idFromKey(t));
        for (const t of rec.del ?? []) live.delete(idFromKey(t));
      }
      for (const id of live) assert.ok(docs.has(id), `${what}: vector of ${id} without its document`);
      for (const id of pending) assert.ok(docs.has(id), `${what}: pending mark of ${id} without its document`);
      assert.equal(blobOwners.length, docs.size, `${what}: one image per document`);
      for (const id of docs) assert.ok(live.has(id) || pending.has(id), `${what}: ${id} has neither a vector nor a pending mark`);
      return { documents: docs.size, pending: pending.size, vectors: live.size };
    } finally { await a.close(); }
  }

  /** Open the store as an application would: every document complete and searchable. */
  async function dbCheck(dir, raw, what) {
    const db = await openDatabase({ storage: 'fs', dir, name: 'kill' });
    try {
      const c = db.collection('photos');
      const docs = await c.find();
      assert.equal(docs.length, raw.documents, `${what}: documents`);
      for (const d of docs) {
        const i = Number(d._id.slice(1));
        assert.equal(d.year, 2000 + (i % 25), `${what}: ${d._id} year`);
        assert.ok(d.image instanceof Blob, `${what}: ${d._id} image is a Blob`);
        assert.deepEqual(new Uint8Array(await d.image.arrayBuffer()), imageFor(i, IMAGE), `${what}: ${d._id} image bytes`);
      }
      const m = model();
      const added = await db.add(index(m));
      assert.deepEqual(added, { loaded: raw.vectors, embedded: raw.pending }, `${what}: stored vectors loaded, exactly the pending documents embedded`);
      assert.equal(db.info.pending, 0, `${what}: nothing pending after the index is added`);
      assert.equal(db.vectorIndexes()[0].vectors, raw.documents, `${what}: a vector per document`);
      // Every document is searchable: one query for all of them returns each once, and (a
      // sample of 40) each is found first by its own vector.
      const all = await c.like({ vector: vectorFor(0, DIM) }, { vectorIndex: 'images', n: docs.length + 5 }).find();
      assert.deepEqual(all.map((d) => d._id).sort(), docs.map((d) => d._id).sort(), `${what}: a query for everything returns every document`);
      const sample = Math.min(40, docs.length);
      for (let k = 0; k < sample; k++) {
        const d = docs[Math.floor((k * docs.length) / sample)];
        const [hit] = await c.like({ vector: vectorFor(Number(d._id.slice(1)), DIM) }, { vectorIndex: 'images', n: 1 }).find();
        assert.equal(hit?._id, d._id, `${what}: ${d._id} is found by its own vector`);
        assert.ok(hit.score > 0.99999, `${what}: ${d._id} score ${hit.score}`);
      }
      return docs.map((d) => d._id);
    } finally { await db.close(); }
  }

  test(`SIGKILL mid-insertMany (${KILLS} random kill points, seed ${seed}): every document absent or complete and searchable; resuming ends with exactly N`, { timeout: 600000 }, async () => {
    const top = await mkdtemp(path.join(tmpdir(), 'clipdb-kill-insert-'));
    let generation = 0;
    const fresh = () => path.join(top, `store-${generation++}`);
    /** Insert the rest without a kill: exactly N documents, each complete and searchable. */
    const resume = async (dir) => {
      const last = await runChild('insert', { dir }, null);
      assert.ok(last.lines.includes('done'));
      const raw = await rawCheck(dir, 'after resuming');
      assert.deepEqual(raw, { documents: N_INSERT, pending: 0, vectors: N_INSERT });
      const ids = await dbCheck(dir, raw, 'after resuming');
      assert.deepEqual(ids.sort(), Array.from({ length: N_INSERT }, (_, i) => docId(i)));
    };
    try {
      let kills = 0, dir = fresh();
      for (let round = 0; kills < KILLS && round < 3 * KILLS; round++) {
        const target = Math.floor(rand() * 40);      // documents resolved in this round before the kill
        const extra = Math.floor(rand() * 25);       // then a few ms more: lands anywhere in a batch
        let resolvedNow = 0;
        const r = await runChild('insert', { dir }, (lines) => {
          const l = lines.at(-1);
          if (l.startsWith('ok ')) resolvedNow++;
          return (l === 'ready' && target === 0) || (l.startsWith('ok ') && resolvedNow >= target) ? extra : null;
        });
        const resolved = r.lines.filter((l) => l.startsWith('ok ')).map((l) => l.slice(3));
        const what = `round ${round} (seed ${seed}, kill after ${target} resolved + ${extra} ms)`;
        const raw = await rawCheck(dir, what);
        const ids = await dbCheck(dir, raw, what);
        for (const id of resolved) assert.ok(ids.includes(id), `${what}: ${id} resolved before the kill and is present`);
        if (r.killed && raw.documents < N_INSERT) kills++;
        else { await resume(dir); dir = fresh(); } // finished before the kill: check it, start over
      }
      assert.equal(kills, KILLS, `killed mid-insert ${KILLS} times`);
      await resume(dir);
    } finally { await rm(top, { recursive: true, force: true }); }
  });

  test(`SIGKILL mid-importData (${KILLS} random kill points, seed ${seed}): whole batches only, re-running the import ends with exactly N and the same answers`, { timeout: 600000 }, async () => {
    const top = await mkdtemp(path.join(tmpdir(), 'clipdb-kill-import-'));
    try {
      // The source: N_IMPORT documents with vectors, exported to a file.
      const src = await openDatabase({ storage: 'memory' });
      const m = new Model({ identifier: 'kill-test-vector', dim: DIM, encode: (b) => vectorFor(indexOfImage(b), DIM) });
      await src.add(index(m));
      const docs = [];
      for (let i = 0; i < N_IMPORT; i++) docs.push(doc(i));
      await src.collection('photos').insertMany(docs);
      const file = path.join(top, 'photos.clipdb');
      await pipeline(Readable.fromWeb(src.exportData()), createWriteStream(file));
      const queries = Array.from({ length: 20 }, (_, q) => vectorFor(1e9 + q, DIM));
      const answer = async (db) => Promise.all(queries.map(async (v) => (await db.collection('photos').like({ vector: v }, { vectorIndex: 'images', n: 10 }).find()).map((d) => [d._id, d.score])));
      const expected = await answer(src);
      await src.close();

      let generation = 0;
      const fresh = () => path.join(top, `store-${generation++}`);
      /** The complete store: N documents, answering as the original. `rerun`: import the rest first. */
      const complete = async (store, rerun) => {
        if (rerun) assert.ok((await runChild('import', { dir: store, file }, null)).lines.includes('done'));
        const raw = await rawCheck(store, 'after re-running the import');
        assert.deepEqual(raw, { documents: N_IMPORT, pending: 0, vectors: N_IMPORT });
        await dbCheck(store, raw, 'after re-running the import');
        const db = await openDatabase({ storage: 'fs', dir: store, name: 'kill' });
        await db.add(index(model()));
        assert.deepEqual(await answer(db), expected, 'the imported store answers as the original');
        await db.close();
      };
      let kills = 0, store = fresh();
      for (let round = 0; kills < KILLS && round < 3 * KILLS; round++) {
        const target = Math.floor(rand() * 4);       // batches written before the kill
        const extra = Math.floor(rand() * 60);
        let batches = 0;
        const r = await runChild('import', { dir: store, file }, (lines) => {
          const l = lines.at(-1);
          if (l.startsWith('batch ')) batches++;
          return (l === 'ready' && target === 0) || (l.startsWith('batch ') && batches >= target) ? extra : null;
        });
        const what = `import round ${round} (seed ${seed}, kill after ${target} batches + ${extra} ms)`;
        const raw = await rawCheck(store, what);
        assert.equal(raw.pending, 0, `${what}: imported documents carry their vectors`);
        assert.ok(raw.documents === N_IMPORT || raw.documents % IMPORT_BATCH === 0, `${what}: whole batches only, got ${raw.documents} documents`);
        const reported = Math.max(0, ...r.lines.filter((l) => l.startsWith('batch ')).map((l) => Number(l.slice(6))));
        assert.ok(raw.documents >= reported, `${what}: ${reported} reported imported, ${raw.documents} present`);
        await dbCheck(store, raw, what);
        if (r.killed && raw.documents < N_IMPORT) kills++;
        else { await complete(store, false); store = fresh(); } // the import finished before the kill
      }
      assert.equal(kills, KILLS, `killed mid-import ${KILLS} times`);
      await complete(store, true);
    } finally { await rm(top, { recursive: true, force: true }); }
  });
}
