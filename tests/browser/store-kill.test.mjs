// Crash safety of the IndexedDB store in real Chromium: the browser process is SIGKILLed at
// random points in the middle of insertMany, of importData and of a model switch (db.add of the
// vector index with a new model and reindex): 20 kills each (CLIPDB_KILL_POINTS=N runs N). After each
// restart the store, read raw through the storage adapter and then through the database, must
// hold only complete documents (small fields and image intact), a vector for every document
// without a pending mark, no vector, pending mark or image without its document, import
// batches whole; adding the vector index again embeds exactly the pending documents, a query
// for everything returns every document, and a sample of them is found by its own vector.
// Resuming (inserting the rest, re-running the same import) ends with exactly N documents, and
// the imported store answers as the original. A killed switch keeps every document and every
// vector of the old model (adding the index with it again loads them all and answers as
// before); adding the index with the new model embeds exactly the documents it lacks.
// CLIPDB_KILL_SEED fixes the random kill points (the seed is in the test names).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM } from './chromium.mjs';

const skip = chromiumSkip([NEEDS_WASM]);
const DIM = 16, IMAGE = 600, N_INSERT = 300, N_IMPORT = 2100, IMPORT_BATCH = 1024; // the import: 3 batches
const N_SWITCH = 400;
const KILLS = Number(process.env.CLIPDB_KILL_POINTS ?? 20);
const seed = Number(process.env.CLIPDB_KILL_SEED ?? (Date.now() % 1e9));
let s = seed >>> 0 || 1;
const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };

let server;
before(async () => { if (!skip) server = await serve(); });
after(async () => { await server?.close(); });

// ---- code that runs in the page (bench/store.html: it maps 'idb' for the IndexedDB adapter) ----

/** Shared page setup: the library, the synthetic data and the vector index. */
async function pageSetup() {
  const lib = await import('/web/src/index.mjs');
  const data = await import('/bench/store-data.mjs');
  const { dim } = window.killArgs;
  const model = new lib.Model({
    identifier: 'kill-test-vector', dim, kind: 'image',
    encode: async (b) => { window.encodes = (window.encodes ?? 0) + 1; await new Promise((r) => setTimeout(r, 1)); return data.vectorFor(data.indexOfImage(b), dim); },
  });
  const index = new lib.VectorIndex('images', { indexingListener: new lib.Listener({ model, key: 'image', select: { collection: 'photos' } }) });
  const doc = (i) => ({ _id: data.docId(i), year: 2000 + (i % 25), image: new Blob([data.imageFor(i, window.killArgs.image)], { type: 'image/x-test' }) });
  window.kill = { lib, data, index, doc };
}

/** Insert the documents the store lacks, reporting each resolved insert. */
async function pageInsert(name) {
  const { lib, data, index, doc } = window.kill;
  const db = await lib.openDatabase({ storage: 'indexeddb', name, fallback: false });
  await db.add(index);
  const c = db.collection('photos');
  const have = new Set((await c.find()).map((d) => d._id));
  const todo = [];
  for (let i = 0; i < window.killArgs.n; i++) if (!have.has(data.docId(i))) todo.push(doc(i));
  window.reportLine('ready');
  await c.insertMany(todo, { batchSize: 8, onProgress: (p) => window.reportLine(`ok ${p.id}`) });
  await db.close();
  window.reportLine('done');
}

/** Build the source store in memory, export it to an OPFS file, keep its answers. */
async function pageMakeExport() {
  const { lib, data, index, doc } = window.kill;
  const src = await lib.openDatabase({ storage: 'memory' });
  await src.add(index);
  const docs = [];
  for (let i = 0; i < window.killArgs.n; i++) docs.push(doc(i));
  await src.collection('photos').insertMany(docs);
  const dir = await navigator.storage.getDirectory();
  await src.exportData().pipeTo(await (await dir.getFileHandle('kill.clipdb', { create: true })).createWritable());
  const answers = [];
  for (let q = 0; q < 20; q++) answers.push((await src.collection('photos').like({ vector: data.vectorFor(1e9 + q, window.killArgs.dim) }, { vectorIndex: 'images', n: 10 }).find()).map((d) => [d._id, d.score]));
  await src.close();
  return answers;
}

/** Import the OPFS export file into the IndexedDB store `name`, reporting each batch. */
async function pageImport(name) {
  const { lib } = window.kill;
  const file = await (await (await navigator.storage.getDirectory()).getFileHandle('kill.clipdb')).getFile();
  const db = await lib.openDatabase({ storage: 'indexeddb', name, fallback: false });
  window.reportLine('ready');
  await db.importData(file, { onProgress: (p) => window.reportLine(`batch ${p.documents + p.skipped}`) });
  await db.close();
  window.reportLine('done');
}

/**
 * The store `name` after a restart: raw (the adapter, no database) and through the database.
 * Returns what the Node side asserts on.
 */
async function pageCheck(name) {
  const { lib, data, index } = window.kill;
  const dim = window.killArgs.dim;
  const SEP = '\u0000';
  const idOf = (t) => (t[0] === 's' ? t.slice(1) : Number(t.slice(1)));
  const docIdOf = (k) => idOf(k.split(SEP)[1]);
  const a = await lib.indexedDBStorage({ name });
  const docs = new Set(); // 'docs' records are pages of documents' small fields
  const packUsers = new Map(); // binary fields are packed per write: pack seq → document ids
  for (const [, page] of await a.getAll('docs')) {
    for (const r of page.docs) {
      docs.add(r.doc._id);
      const ref = r.doc.image;
      if (ref?.$clipdb === 'ref') packUsers.set(ref.pack, [...(packUsers.get(ref.pack) ?? []), r.doc._id]);
    }
  }
  const pending = new Set((await a.keys('pending')).map(docIdOf));
  const PACK = `${SEP}pack${SEP}`;
  const packs = new Set();
  const problems = [];
  for (const k of await a.keys('blobs')) {
    if (k.startsWith(PACK)) packs.add(Number(k.slice(PACK.length))); else problems.push(`${JSON.stringify(k)} is not a pack`);
  }
  const blobOwners = [];
  for (const [seq, users] of packUsers) {
    if (!packs.has(seq)) problems.push(`the images of ${users.join(', ')} lie in pack ${seq}, which is missing`);
    else blobOwners.push(...users);
  }
  for (const seq of packs) if (!packUsers.has(seq)) problems.push(`pack ${seq} has no document`);
  const live = new Set();
  for (const [, rec] of await a.getAll('vectors')) {
    for (const t of rec.ids) live.add(idOf(t));
    for (const t of rec.del ?? []) live.delete(idOf(t));
  }
  await a.close();
  const raw = { documents: docs.size, pending: pending.size, vectors: live.size };
  for (const id of live) if (!docs.has(id)) problems.push(`vector of ${id} without its document`);
  for (const id of pending) if (!docs.has(id)) problems.push(`pending mark of ${id} without its document`);
  for (const id of blobOwners) if (!docs.has(id)) problems.push(`image of ${id} without its document`);
  if (blobOwners.length !== docs.size) problems.push(`${blobOwners.length} images for ${docs.size} documents`);
  for (const id of docs) if (!live.has(id) && !pending.has(id)) problems.push(`${id} has neither a vector nor a pending mark`);

  const db = await lib.openDatabase({ storage: 'indexeddb', name, fallback: false });
  const c = db.collection('photos');
  const found = await c.find();
  for (const d of found) {
    const i = Number(d._id.slice(1));
    if (d.year !== 2000 + (i % 25)) problems.push(`${d._id}: year ${d.year}`);
    if (!(d.image instanceof Blob)) { problems.push(`${d._id}: image is not a Blob`); continue; }
    const got = new Uint8Array(await d.image.arrayBuffer()), want = data.imageFor(i, window.killArgs.image);
    if (got.length !== want.length || got.some((x, k) => x !== want[k])) problems.push(`${d._id}: image bytes differ`);
  }
  window.encodes = 0;
  const added = await db.add(index);
  const encodes = window.encodes;
  const info = db.info;
  const vectors = db.vectorIndexes()[0].vectors;
  // Every document is searchable: one query for all of them returns each once...
  const all = await c.like({ vector: data.vectorFor(0, dim) }, { vectorIndex: 'images', n: found.length + 5 }).find();
  const hitIds = new Set(all.map((d) => d._id));
  if (all.length !== found.length || found.some((d) => !hitIds.has(d._id))) problems.push(`a query for everything returns ${all.length} of ${found.length} documents`);
  // ...and (a sample of 25) is found first by its own vector.
  for (let k = 0; k < Math.min(25, found.length); k++) {
    const d = found[Math.floor((k * found.length) / Math.min(25, found.length))];
    const [hit] = await c.like({ vector: data.vectorFor(Number(d._id.slice(1)), dim) }, { vectorIndex: 'images', n: 1 }).find();
    if (hit?._id !== d._id || !(hit.score > 0.99999)) problems.push(`${d._id} is not found by its own vector (got ${hit?._id} ${hit?.score})`);
  }
  const answers = [];
  for (let q = 0; q < 20; q++) answers.push((await c.like({ vector: data.vectorFor(1e9 + q, dim) }, { vectorIndex: 'images', n: 10 }).find()).map((d) => [d._id, d.score]));
  // the first of those queries again with n = every document: its first hits, for reports
  const wide = await c.like({ vector: data.vectorFor(1e9, dim) }, { vectorIndex: 'images', n: found.length }).find();
  const probe = { hits: wide.length, first: wide.slice(0, 3).map((d) => [d._id, d.score]), index: db.vectorIndexes()[0] };
  await db.close();
  return { raw, problems: problems.slice(0, 20), ids: found.map((d) => d._id), added, encodes, pendingAfter: info.pending, vectors, answers, probe };
}

/** The model switch's two models and the vector index over either. B is slow (a worker round trip). */
function pageSwitchSetup() {
  const { lib, data } = window.kill;
  const { dim, dimB, delayB } = window.killArgs;
  const a = new lib.Model({ identifier: 'kill-switch-a', dim, kind: 'image', encode: async (x) => data.vectorFor(data.indexOfImage(x), dim) });
  const b = new lib.Model({
    identifier: 'kill-switch-b', dim: dimB, kind: 'image',
    encode: async (x) => { window.encodes = (window.encodes ?? 0) + 1; await new Promise((r) => setTimeout(r, delayB)); return data.vectorFor(data.indexOfImage(x) + 5e8, dimB); },
  });
  const vi = (m) => new lib.VectorIndex('images', { indexingListener: new lib.Listener({ model: m, key: 'image', select: { collection: 'photos' } }) });
  window.kill.sw = { a, b, vi };
}

/** Model A's answers to 20 queries over the N documents (a memory store: the reference). */
async function pageSwitchReference() {
  const { lib, data, doc, sw } = window.kill;
  const { n, dim } = window.killArgs;
  const db = await lib.openDatabase({ storage: 'memory' });
  await db.add(sw.vi(sw.a));
  await db.collection('photos').insertMany(Array.from({ length: n }, (_, i) => doc(i)));
  const answers = [];
  for (let q = 0; q < 20; q++) answers.push((await db.collection('photos').like({ vector: data.vectorFor(1e9 + q, dim) }, { vectorIndex: 'images', n: 10 }).find()).map((d) => [d._id, d.score]));
  await db.close();
  return answers;
}

/** A new store `name` of N documents embedded by model A, then switched to model B (reindex). */
async function pageSwitch(name) {
  const { lib, doc, sw } = window.kill;
  const db = await lib.openDatabase({ storage: 'indexeddb', name, fallback: false });
  await db.add(sw.vi(sw.a));
  await db.collection('photos').insertMany(Array.from({ length: window.killArgs.n }, (_, i) => doc(i)));
  await db.close();
  const db2 = await lib.openDatabase({ storage: 'indexeddb', name, fallback: false });
  window.reportLine('ready');
  await db2.add(sw.vi(sw.b), { reindex: true, onProgress: (p) => window.reportLine(`ok ${p.id}`) });
  await db2.close();
  window.reportLine('done');
}

/**
 * The store `name` after a kill mid-switch: raw (the adapter: documents, each model's live
 * vectors, pending marks, images) and through the database (documents complete; adding the
 * index with model B embeds exactly the documents B lacks and finds every document; adding it
 * with model A again loads every vector, embeds nothing and answers as before).
 */
async function pageSwitchCheck(name) {
  const { lib, data, sw } = window.kill;
  const { n, dim, dimB } = window.killArgs;
  const SEP = '\u0000';
  const idOf = (t) => (t[0] === 's' ? t.slice(1) : Number(t.slice(1)));
  const docIdOf = (k) => idOf(k.split(SEP)[1]);
  const a = await lib.indexedDBStorage({ name });
  const docs = new Set(), packOf = new Map(); // images are packed per write: id → pack seq
  for (const [, page] of await a.getAll('docs')) for (const r of page.docs) { docs.add(r.doc._id); packOf.set(r.doc._id, r.doc.image?.pack); }
  const pending = (await a.keys('pending')).map(docIdOf);
  const PACK = `${SEP}pack${SEP}`;
  const packs = new Set((await a.keys('blobs')).map((k) => (k.startsWith(PACK) ? Number(k.slice(PACK.length)) : k)));
  const blobOwners = [...packOf].filter(([, seq]) => packs.has(seq)).map(([id]) => id);
  const live = { 'kill-switch-a': new Set(), 'kill-switch-b': new Set() };
  const problems = [];
  for (const seq of packs) if (![...packOf.values()].includes(seq)) problems.push(`blob record ${JSON.stringify(seq)} is no document's pack`);
  for (const [k, rec] of await a.getAll('vectors')) {
    const [index, model] = k.split(SEP);
    if (index !== 'images' || !live[model]) { problems.push(`unexpected vector record ${JSON.stringify(k)}`); continue; }
    for (const t of rec.ids) live[model].add(idOf(t));
    for (const t of rec.del ?? []) live[model].delete(idOf(t));
  }
  await a.close();
  const A = live['kill-switch-a'], B = live['kill-switch-b'];
  const raw = { documents: docs.size, a: A.size, b: B.size, pending: pending.length };
  for (const [model, set] of Object.entries(live)) for (const id of set) if (!docs.has(id)) problems.push(`vector of ${model} for ${id} without its document`);
  for (const id of pending) problems.push(`pending mark of ${id} (a switch writes none)`);
  for (const id of blobOwners) if (!docs.has(id)) problems.push(`image of ${id} without its document`);
  if (blobOwners.length !== docs.size) problems.push(`${blobOwners.length} images for ${docs.size} documents`);
  for (const id of docs) if (!A.has(id)) problems.push(`${id} lost its vector of model A`);

  const db = await lib.openDatabase({ storage: 'indexeddb', name, fallback: false });
  const c = db.collection('photos');
  const found = await c.find();
  for (const d of found) {
    const i = Number(d._id.slice(1));
    if (d.year !== 2000 + (i % 25)) problems.push(`${d._id}: year ${d.year}`);
    const got = new Uint8Array(await d.image.arrayBuffer()), want = data.imageFor(i, window.killArgs.image);
    if (got.length !== want.length || got.some((x, k) => x !== want[k])) problems.push(`${d._id}: image bytes differ`);
  }
  const ownHit = async (m, off, d) => {
    const [hit] = await c.like({ vector: data.vectorFor(Number(d._id.slice(1)) + off, m) }, { vectorIndex: 'images', n: 1 }).find();
    if (hit?._id !== d._id || !(hit.score > 0.99999)) problems.push(`${d._id} is not found by its own vector of ${m === dim ? 'A' : 'B'} (got ${hit?._id} ${hit?.score})`);
  };
  // Model B: the switch resumed. Only the documents B lacks are embedded; every one is found.
  window.encodes = 0;
  const addedB = await db.add(sw.vi(sw.b), { reindex: true });
  const encodesB = window.encodes;
  const all = await c.like({ vector: data.vectorFor(0, dimB) }, { vectorIndex: 'images', n: n + 5 }).find();
  if (all.length !== found.length) problems.push(`model B: a query for everything returns ${all.length} of ${found.length} documents`);
  for (let k = 0; k < 20; k++) await ownHit(dimB, 5e8, found[Math.floor((k * found.length) / 20)]);
  // Model A: its vectors were kept; nothing to embed, the same answers as before the switch.
  await db.removeVectorIndex('images');
  const addedA = await db.add(sw.vi(sw.a));
  for (let k = 0; k < 20; k++) await ownHit(dim, 0, found[(k * 7 + 3) % found.length]);
  const answersA = [];
  for (let q = 0; q < 20; q++) answersA.push((await c.like({ vector: data.vectorFor(1e9 + q, dim) }, { vectorIndex: 'images', n: 10 }).find()).map((d) => [d._id, d.score]));
  const models = db.vectorIndexes()[0].models.map((m) => m.identifier).sort();
  await db.close();
  return { raw, bIds: [...B], problems: problems.slice(0, 20), found: found.length, addedB, encodesB, addedA, answersA, models };
}

// ---- the Node side ---------------------------------------------------------------------------

async function launch(profile, args, setup = null) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => console.error('pageerror:', e));
  const lines = [];
  const listeners = [];
  await page.exposeFunction('reportLine', (l) => { lines.push(l); for (const f of listeners) f(l); });
  await page.goto(`${server.url}bench/store.html`);
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate((a) => { window.killArgs = a; }, args);
  await page.evaluate(pageSetup);
  if (setup) await page.evaluate(setup);
  return { context, page, lines, onLine: (f) => listeners.push(f) };
}

/** SIGKILL the browser process of `profile` (found by its --user-data-dir). */
function killBrowser(profile) {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const pids = out.split('\n').filter((l) => l.includes(`--user-data-dir=${profile}`) && !l.includes('--type=')).map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.ok(pids.length >= 1, 'found the browser process');
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}

/**
 * Run `fn` in a fresh browser (after the page function `setup`, if given) and SIGKILL it
 * `extra` ms after `when(line, lines)` first says so. Resolves to {lines, killed} (not killed:
 * the run finished first).
 */
async function runAndKill(profile, args, fn, fnArg, when, extra, setup = null) {
  const b = await launch(profile, args, setup);
  let scheduled = false, timer = null, sent = false;
  const closed = new Promise((r) => b.context.once('close', r));
  b.onLine((l) => {
    if (scheduled || !when(l, b.lines)) return;
    scheduled = true;
    timer = setTimeout(() => { sent = true; try { killBrowser(profile); } catch { /* already gone */ } }, extra);
  });
  // A page error before any kill was due is a failure, not a kill.
  const run = b.page.evaluate(fn, fnArg).then(() => 'finished', (e) => (scheduled ? 'killed' : Promise.reject(e)));
  let outcome;
  try {
    outcome = await Promise.race([run, closed.then(() => 'killed')]);
  } catch (e) { clearTimeout(timer); await b.context.close().catch(() => {}); throw e; }
  if (outcome === 'finished') clearTimeout(timer);
  if (outcome === 'finished' && !sent) await b.context.close();
  else await closed; // killed (possibly just after the run finished: the caller sees a complete store)
  return { lines: [...b.lines], killed: sent };
}

async function check(profile, args, name, what) {
  const b = await launch(profile, args);
  try {
    const r = await b.page.evaluate(pageCheck, name);
    assert.deepEqual(r.problems, [], `${what}: ${JSON.stringify(r.raw)}`);
    assert.equal(r.ids.length, r.raw.documents, `${what}: documents`);
    assert.deepEqual(r.added, { loaded: r.raw.vectors, embedded: r.raw.pending }, `${what}: stored vectors loaded, exactly the pending documents embedded`);
    assert.equal(r.encodes, r.raw.pending, `${what}: encodes`);
    assert.equal(r.pendingAfter, 0, `${what}: nothing pending after the index is added`);
    assert.equal(r.vectors, r.raw.documents, `${what}: a vector per document`);
    return r;
  } finally { await b.context.close(); }
}

test(`Chromium SIGKILLed mid-insertMany (${KILLS} random kill points, seed ${seed}): every document absent or complete and searchable; resuming ends with exactly N`, { skip, timeout: 1800000 }, async () => {
  const profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-kill-'));
  const args = { dim: DIM, image: IMAGE, n: N_INSERT };
  try {
    let kills = 0, generation = 0, name = `ins${generation}`;
    /** Insert the rest with no kill: exactly N documents, all complete and searchable. */
    const resume = async () => {
      const r = await runAndKill(profile, args, pageInsert, name, () => false, 0);
      assert.ok(r.lines.includes('done'), 'the resumed insert finished');
      const c = await check(profile, args, name, 'after resuming');
      assert.deepEqual(c.raw, { documents: N_INSERT, pending: 0, vectors: N_INSERT });
      assert.equal(new Set(c.ids).size, N_INSERT);
    };
    for (let round = 0; kills < KILLS && round < 3 * KILLS; round++) {
      const target = Math.floor(rand() * 30), extra = Math.floor(rand() * 40);
      let resolved = 0;
      const r = await runAndKill(profile, args, pageInsert, name, (l) => {
        if (l.startsWith('ok ')) resolved++;
        return (l === 'ready' && target === 0) || (l.startsWith('ok ') && resolved >= target);
      }, extra);
      const what = `round ${round} (seed ${seed}, kill after ${target} resolved + ${extra} ms)`;
      const c = await check(profile, args, name, what);
      for (const l of r.lines) if (l.startsWith('ok ')) assert.ok(c.ids.includes(l.slice(3)), `${what}: ${l.slice(3)} resolved before the kill and is present`);
      if (r.killed && c.raw.documents < N_INSERT) kills++;
      else { await resume(); name = `ins${++generation}`; } // finished before the kill: start over
    }
    assert.equal(kills, KILLS, `killed mid-insert ${KILLS} times`);
    await resume();
  } finally { await rm(profile, { recursive: true, force: true }); }
});

test(`Chromium SIGKILLed mid-importData (${KILLS} random kill points, seed ${seed}): whole batches only; re-running the import ends with exactly N and the original's answers`, { skip, timeout: 1800000 }, async () => {
  const profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-kill-'));
  const args = { dim: DIM, image: IMAGE, n: N_IMPORT };
  try {
    const b = await launch(profile, args);
    const expected = await b.page.evaluate(pageMakeExport);
    await b.context.close();
    let kills = 0, generation = 0, name = `imp${generation}`;
    // Imports write a pack per batch and finish fast: kill within ~120 ms of a batch, and allow
    // rounds that finish before the kill (they start over on a fresh store).
    for (let round = 0; kills < KILLS && round < 4 * KILLS; round++) {
      const target = Math.floor(rand() * 2), extra = Math.floor(rand() * 120);
      let batches = 0;
      const r = await runAndKill(profile, args, pageImport, name, (l) => {
        if (l.startsWith('batch ')) batches++;
        return (l === 'ready' && target === 0) || (l.startsWith('batch ') && batches >= target);
      }, extra);
      const what = `import round ${round} (seed ${seed}, kill after ${target} batches + ${extra} ms)`;
      const c = await check(profile, args, name, what);
      assert.equal(c.raw.pending, 0, `${what}: imported documents carry their vectors`);
      assert.ok(c.raw.documents === N_IMPORT || c.raw.documents % IMPORT_BATCH === 0, `${what}: whole batches only, got ${c.raw.documents}`);
      if (r.killed && c.raw.documents < N_IMPORT) kills++;
      else {
        // Not killed mid-import: the run finished (or the kill came just after it), so the store
        // is complete. (A trial run once failed below with 20 empty answers, its counts unknown:
        // these say which.)
        const state = `killed ${r.killed}, store ${JSON.stringify(c.raw)}, last lines ${JSON.stringify(r.lines.slice(-3))}, ` +
          `added ${JSON.stringify(c.added)}, first query with n = all ${JSON.stringify(c.probe)}`;
        assert.equal(c.raw.documents, N_IMPORT, `${what}: not killed mid-import, yet the store is incomplete (${state})`);
        assert.deepEqual(c.answers, expected, `${what}: complete import answers as the original (${state})`);
        name = `imp${++generation}`;
      }
    }
    assert.equal(kills, KILLS, `killed mid-import ${KILLS} times`);
    const r = await runAndKill(profile, args, pageImport, name, () => false, 0);
    assert.ok(r.lines.includes('done'), 'the re-run import finished');
    const c = await check(profile, args, name, 'after re-running the import');
    assert.deepEqual(c.raw, { documents: N_IMPORT, pending: 0, vectors: N_IMPORT });
    assert.deepEqual(c.answers, expected, 'the imported store answers as the original');
  } finally { await rm(profile, { recursive: true, force: true }); }
});

test(`Chromium SIGKILLed mid model switch (db.add with a new model and reindex; ${KILLS} random kill points, seed ${seed}): every document complete and searchable with both models, counts equal, no vector without its document, model A's vectors all kept`, { skip, timeout: 1800000 }, async () => {
  const profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-kill-'));
  const args = { dim: DIM, dimB: 12, delayB: 4, image: 256, n: N_SWITCH };
  try {
    const b = await launch(profile, args, pageSwitchSetup);
    const expected = await b.page.evaluate(pageSwitchReference);
    await b.context.close();
    let kills = 0;
    for (let round = 0; kills < KILLS && round < 3 * KILLS; round++) {
      const name = `switch${round}`;
      const target = Math.floor(rand() * N_SWITCH), extra = Math.floor(rand() * 40);
      let resolved = 0;
      const r = await runAndKill(profile, args, pageSwitch, name, (l) => {
        if (l.startsWith('ok ')) resolved++;
        return (l === 'ready' && target === 0) || (l.startsWith('ok ') && resolved >= target);
      }, extra, pageSwitchSetup);
      const what = `switch round ${round} (seed ${seed}, kill after ${target} re-embedded + ${extra} ms)`;
      assert.ok(r.lines.includes('ready'), `${what}: the store of N documents was made before the kill`);
      const cb = await launch(profile, args, pageSwitchSetup);
      let c;
      try { c = await cb.page.evaluate(pageSwitchCheck, name); } finally { await cb.context.close(); }
      assert.deepEqual(c.problems, [], `${what}: ${JSON.stringify(c.raw)}`);
      assert.equal(c.raw.documents, N_SWITCH, `${what}: every document is still there`);
      assert.equal(c.found, N_SWITCH, `${what}: the database finds every document`);
      assert.equal(c.raw.a, N_SWITCH, `${what}: model A keeps a vector per document`);
      const stored = new Set(c.bIds);
      for (const l of r.lines) if (l.startsWith('ok ')) assert.ok(stored.has(l.slice(3)), `${what}: ${l.slice(3)} was reported re-embedded before the kill and its model B vector is stored`);
      assert.deepEqual(c.addedB, { loaded: c.raw.b, embedded: N_SWITCH - c.raw.b }, `${what}: adding B again embeds exactly the documents B lacks`);
      assert.equal(c.encodesB, N_SWITCH - c.raw.b, `${what}: encodes of model B`);
      assert.deepEqual(c.addedA, { loaded: N_SWITCH, embedded: 0 }, `${what}: model A's vectors all load, nothing re-embedded`);
      assert.deepEqual(c.answersA, expected, `${what}: model A answers as before the switch`);
      assert.deepEqual(c.models, ['kill-switch-a', 'kill-switch-b'], `${what}: both models are listed`);
      if (r.killed && c.raw.b < N_SWITCH) kills++;
    }
    assert.equal(kills, KILLS, `killed mid-switch ${KILLS} times`);
  } finally { await rm(profile, { recursive: true, force: true }); }
});
