// The example Worker (examples/edge-worker) in Cloudflare's runtime from npm: the native CLI
// indexes the demo's generated images, `npm pack` of web/ is installed into an empty folder,
// wrangler bundles the Worker (deploy --dry-run), and workerd serves the bundle on 127.0.0.1
// with nodejs_compat on (a date after 2026-08-04, where it is the default and the runtime
// reports process.versions.node) and off. Each answer must be the CLI's: same top 5 files in
// the same order, cosine scores within 1e-5. The same installed package must work in Node.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { edgeSkip, buildExample, startWorkerd, search, cliSearch } from './harness.mjs';

const QUERIES = ['a red circle', 'a large blue star', 'a photo of a yellow heart', 'a pink star and a purple heart', 'green triangle'];
const MODES = [
  { name: 'nodejs_compat on (compatibility date 2026-11-01, the default there)', date: '2026-11-01', flags: [], node: true },
  { name: 'nodejs_compat off (compatibility date 2026-04-20)', date: '2026-04-20', flags: [], node: false },
  { name: 'nodejs_compat explicitly off (2026-11-01 with no_nodejs_compat)', date: '2026-11-01', flags: ['no_nodejs_compat'], node: false },
];

describe('example edge Worker in workerd', { skip: edgeSkip(), timeout: 300000 }, () => {
  let tmp, ex, expected;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-edge-'));
    ex = buildExample(tmp);
    expected = new Map(QUERIES.map((q) => [q, cliSearch(ex.store, q, 5)]));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('wrangler bundles the installed package without configuration; the bundle fits the 64 MiB limit', () => {
    const names = ex.bundleFiles.map((f) => f.name);
    assert.ok(names.includes('worker.js'), names.join(', '));
    assert.ok(names.some((n) => n.endsWith('clipdb.wasm')), 'clipdb.wasm bundled as a module');
    assert.ok(names.some((n) => n.endsWith('model.safetensors')) && names.some((n) => n.endsWith('index.clipdb')));
    assert.ok(ex.bundleBytes < 64 * 2 ** 20, `${ex.bundleBytes} bytes`);
    const js = readFileSync(path.join(ex.bundle, 'worker.js'), 'utf8');
    // clipdb's own modules import nothing from node: (their Node-only paths name it through a
    // variable, so a Worker bundle neither needs nor warns about it)
    for (const f of ['engine.mjs', 'module.mjs', 'edge.mjs', 'instantiate.mjs', 'binding.mjs', 'image.mjs', 'text.mjs']) {
      assert.doesNotMatch(ex.wranglerLog, new RegExp(`clipdb/src/${f.replace('.', '\\.')}`), `wrangler warned about ${f}`);
    }
    assert.doesNotMatch(js, /require\("(fs|path)"\)|__dirname/, 'the glue has no Node branch');
    console.log(`# bundle: ${ex.bundleBytes} bytes (${ex.bundleFiles.map((f) => `${f.name.replace(/^[0-9a-f]{40}-/, '')} ${f.bytes}`).join(', ')})`);
  });

  it('the installed package works in Node too (the node condition), with the same ranking', () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import * as clipdb from 'clipdb';
      import { openSearch } from './src/search.mjs';
      const s = await openSearch(clipdb, { module: await clipdb.getModule(), model: readFileSync('assets/model.safetensors'),
        vocab: readFileSync('assets/vocab.txt.gz'), index: readFileSync('assets/index.clipdb'), maxMemoryMB: 128 });
      console.log(JSON.stringify(await s.search(${JSON.stringify(QUERIES[0])}, 5)));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ex.app, encoding: 'utf8' }));
    const want = expected.get(QUERIES[0]);
    assert.deepEqual(out.map((h) => h.file), want.map((h) => h.file));
    out.forEach((h, i) => assert.ok(Math.abs(h.score - want[i].score) <= 1e-5, `${h.score} vs ${want[i].score}`));
  });

  for (const mode of MODES) {
    it(`answers like clipdb search: ${mode.name}`, async () => {
      const w = await startWorkerd(ex.bundle, tmp, mode);
      try {
        for (const q of QUERIES) {
          const { status, body } = await search(w.url, q, 5);
          assert.equal(status, 200, JSON.stringify(body));
          assert.equal(body.runtime.processVersionsNode !== null, mode.node, `process.versions.node: ${body.runtime.processVersionsNode}`);
          const want = expected.get(q);
          assert.deepEqual(body.results.map((h) => h.file), want.map((h) => h.file), q);
          body.results.forEach((h, i) => {
            assert.equal(h.rank, i + 1);
            assert.ok(Math.abs(h.score - want[i].score) <= 1e-5, `${q} #${i + 1}: worker ${h.score}, CLI ${want[i].score}`);
          });
        }
        const bad = await search(w.url, '', 5);
        assert.equal(bad.status, 400);
        assert.equal(bad.body.error, 'INVALID_ARGUMENT');
        const badN = await fetch(`${w.url}/search?q=star&n=0`);
        assert.equal(badN.status, 400);
        assert.match((await badN.json()).message, /n must be an integer/);
      } finally {
        await w.stop();
      }
    });
  }
});
