// db.exportParquet in real Chromium: an IndexedDB store exports through the page's import map
// (the Parquet writer is loaded only by the first export), and DuckDB in Node reads the Blob
// the page produced back to the page's own top-k.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, openProfile, NEEDS_WASM } from './chromium.mjs';

const skip = chromiumSkip([NEEDS_WASM]);
let server;
before(async () => { if (!skip) server = await serve(); });
after(async () => { await server?.close(); });

const PAGE = `<!doctype html><meta charset="utf-8">
<script type="importmap">{ "imports": {
  "idb": "/node_modules/idb/build/index.js",
  "hyparquet-writer/": "/node_modules/hyparquet-writer/",
  "hyparquet": "/node_modules/hyparquet/src/index.js",
  "hyparquet/": "/node_modules/hyparquet/"
} }</script>
<script type="module">
  import * as clipdb from '/web/src/index.mjs';
  window.clipdb = clipdb;
  window.ready = true;
</script>`;

const DIM = 16, N = 600;

test('an IndexedDB store exports Parquet in the page; DuckDB gives the page\'s top-10', { skip, timeout: 180000 }, async () => {
  const b = await openProfile();
  const dir = await mkdtemp(path.join(tmpdir(), 'clipdb-parquet-page-'));
  try {
    await b.page.route('**/parquet-test.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await b.page.goto(`${server.url}parquet-test.html`);
    await b.page.waitForFunction(() => window.ready === true);
    const r = await b.page.evaluate(async ({ DIM, N }) => {
      const { openDatabase, Model, Listener, VectorIndex } = window.clipdb;
      let s = 7;
      const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 - 0.5; };
      const model = new Model({ identifier: 'page-random', dim: DIM, encode: (v) => Float32Array.from(v) });
      const db = await openDatabase({ storage: 'indexeddb', name: 'pq', fallback: false });
      await db.add(new VectorIndex('vi', { indexingListener: new Listener({ model, key: 'vec', select: { collection: 'photos' } }) }));
      const docs = Array.from({ length: N }, (_, i) => ({ _id: i % 3 ? `img-${i}` : i, vec: Array.from({ length: DIM }, rnd), year: 2000 + (i % 20), image: new Blob([new Uint8Array([i & 255])], { type: 'image/png' }) }));
      await db.collection('photos').insertMany(docs);
      const loadedBefore = performance.getEntriesByType('resource').some((e) => e.name.includes('hyparquet'));
      const blob = await new Response(db.exportParquet({ vectorIndex: 'vi' })).blob();
      const loadedAfter = performance.getEntriesByType('resource').some((e) => e.name.includes('hyparquet-writer'));
      const queries = Array.from({ length: 5 }, () => Array.from({ length: DIM }, rnd));
      const tops = [];
      for (const q of queries) {
        const hits = await db.collection('photos').like({ vector: Float32Array.from(q) }, { vectorIndex: 'vi', n: 10 }).find();
        tops.push(hits.map((h) => ({ id: h._id, score: h.score })));
      }
      await db.close();
      return { bytes: Array.from(new Uint8Array(await blob.arrayBuffer())), queries, tops, loadedBefore, loadedAfter };
    }, { DIM, N });
    assert.equal(r.loadedBefore, false, 'the Parquet writer was loaded before any export');
    assert.equal(r.loadedAfter, true, 'the export did not load hyparquet-writer');
    const file = path.join(dir, 'page.parquet');
    await writeFile(file, Uint8Array.from(r.bytes));
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const rows = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJS();
    assert.deepEqual(await rows(`SELECT count(*) AS n, count(DISTINCT id) AS ids, min(year) AS y0, max(year) AS y1 FROM read_parquet('${file}')`), [{ n: BigInt(N), ids: BigInt(N), y0: 2000n, y1: 2019n }]);
    // A page whose import map lacks the writer: a named error, and the store still works.
    const bare = PAGE.replace(/,\n  "hyparquet-writer[^]*?\n\} \}/, '\n} }');
    assert.ok(!bare.includes('hyparquet'), 'test page without the writer');
    await b.page.route('**/parquet-bare.html', (route) => route.fulfill({ contentType: 'text/html', body: bare }));
    await b.page.goto(`${server.url}parquet-bare.html`);
    await b.page.waitForFunction(() => window.ready === true);
    const e = await b.page.evaluate(async () => {
      const db = await window.clipdb.openDatabase({ storage: 'indexeddb', name: 'pq', fallback: false });
      // Read with a reader: Response.blob() would turn the stream's error into 'Failed to fetch'.
      let err = null;
      const reader = db.exportParquet({ vectorIndex: 'vi' }).getReader();
      try { while (!(await reader.read()).done); } catch (x) { err = { code: x.code, message: x.message }; }
      const count = await db.collection('photos').count();
      await db.close();
      return { err, count };
    });
    assert.equal(e.err?.code, 'UNSUPPORTED', JSON.stringify(e.err));
    assert.match(e.err.message, /hyparquet-writer.*import map/);
    assert.equal(e.count, N);
    for (const [qi, q] of r.queries.entries()) {
      const got = await rows(`SELECT id, id_type, array_cosine_similarity(vector::FLOAT[${DIM}], [${q.map((x) => Math.fround(x)).join(',')}]::FLOAT[${DIM}]) AS score
        FROM read_parquet('${file}') ORDER BY score DESC, id LIMIT 10`);
      assert.deepEqual(got.map((x) => (x.id_type === 'number' ? Number(x.id) : x.id)), r.tops[qi].map((h) => h.id), `query ${qi}`);
      got.forEach((x, k) => assert.ok(Math.abs(x.score - r.tops[qi][k].score) <= 1e-6, `query ${qi} rank ${k}`));
    }
  } finally {
    await b.close();
    await rm(dir, { recursive: true, force: true });
  }
});
