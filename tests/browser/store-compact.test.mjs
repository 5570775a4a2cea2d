// Compact vector memory in real Chromium IndexedDB: records rewritten by a compact index keep
// their compact planes as a second Blob; after a browser restart the open reads those planes
// (not the floats) and answers exactly as before; the floats are still there for exports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS } from './chromium.mjs';

const skip = chromiumSkip();
let server, profile;
before(async () => {
  if (skip) return;
  server = await serve({});
  profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-compact-'));
});
after(async () => {
  await server?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function withPage(fn) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (e) => console.error('pageerror:', e));
    await page.goto(`${server.url}tests/browser/store.html`);
    await page.waitForFunction(() => window.ready === true);
    // Open the store in the page: an identity "model" over 128-d vectors made from a seed.
    await page.evaluate(async () => {
      const lib = await import('/web/src/index.mjs');
      const { WasmVectorIndex } = await import('/web/src/db/vector-index.mjs');
      const vec = (i) => { let s = (i + 1) * 2654435761 >>> 0; return Array.from({ length: 128 }, () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 - 0.5 + (i % 7 === 0 ? 0.3 : 0); }); };
      const counts = { add: 0, addCompact: 0 };
      const proto = WasmVectorIndex.prototype, add = proto.add, addCompact = proto.addCompact;
      proto.add = function (...a) { counts.add++; return add.apply(this, a); };
      proto.addCompact = function (...a) { counts.addCompact++; return addCompact.apply(this, a); };
      const db = await lib.openDatabase({ storage: 'indexeddb', name: 'compact-test', vectorMemory: 'compact', fallback: false });
      const model = new lib.Model({ identifier: 'seeded-128', dim: 128, kind: 'vector', encode: async (v) => Float32Array.from(v) });
      const added = await db.add(new lib.VectorIndex('vi', { indexingListener: new lib.Listener({ model, key: 'vec', select: { collection: 'docs' } }) }));
      const like = async (i) => (await db.collection('docs').like({ vector: vec(i) }, { vectorIndex: 'vi', n: 10 }).find()).map((d) => [d._id, d.score]);
      window.t = { lib, db, vec, counts, added, like };
    });
    return await fn(page);
  } finally { await context.close(); }
}

test('compact planes in IndexedDB: written by db.compact(), read instead of the floats after a restart, same answers', { skip, timeout: 180000 }, async () => {
  const first = await withPage(async (page) => page.evaluate(async () => {
    const { db, vec, like } = window.t;
    const col = db.collection('docs');
    for (let s = 0; s < 3000; s += 500) await col.insertMany(Array.from({ length: 500 }, (_, j) => ({ _id: `p${s + j}`, vec: vec(s + j) })));
    await db.compact();
    const keys = await db.adapter.keys('vectors');
    const rec = await db.adapter.get('vectors', keys[0], { planesInto: (n) => new Uint8Array(n) });
    const plain = await db.adapter.get('vectors', keys[0]);
    const answers = [await like(5), await like(1234), await like(2999)];
    await db.close();
    return { keys: keys.length, planes: rec.planes?.length, version: rec.planesVersion, rows: rec.ids.length, vectors: rec.vectors === undefined, floats: plain.vectors.length, plainPlanes: plain.planes === undefined, answers };
  }));
  assert.equal(first.keys, 1);
  assert.equal(first.rows, 3000);
  assert.equal(first.planes, 3000 * (4 + 2 * 128));
  assert.equal(first.version, 1);
  assert.ok(first.vectors, 'the floats are not read when the planes are');
  assert.equal(first.floats, 3000 * 128);
  assert.ok(first.plainPlanes, 'the planes are not read when not asked for');
  assert.equal(first.answers[0][0][0], 'p5');
  const second = await withPage(async (page) => page.evaluate(async () => {
    const { counts, added, like, db } = window.t;
    const answers = [await like(5), await like(1234), await like(2999)];
    await db.close();
    return { counts, added, answers };
  }));
  assert.deepEqual(second.added, { loaded: 3000, embedded: 0 });
  assert.deepEqual(second.counts, { add: 0, addCompact: 1 });
  assert.deepEqual(second.answers, first.answers);
});
