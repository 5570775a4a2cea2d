// The example Worker (examples/edge-worker: src/worker.mjs + src/search.mjs, maxMemoryMB: 128)
// with an int8 ViT-B/32 text tower in Cloudflare's runtime: random ViT-B/32-architecture weights
// (scripts/gen-random-model.mjs --towers text) quantized by the native `clipdb quantize --dtype
// int8` are its assets/model.safetensors; assets/index.clipdb is a memory store's export
// (db.exportData) of 10 captions whose 512-d vectors the native CLI made with that tower.
// `npm pack` of web/ is installed into the app and wrangler bundles it, as in worker.test.mjs
// (harness.mjs); workerd from npm serves it on 127.0.0.1. Checked: the answer is the same
// search run in Node through search.mjs's openSearch on the same assets (same top 5 in order,
// cosine within 1e-5) and close to the native CLI's (same top 5, cosine within 1e-3: int8
// layers quantize their inputs per row, so where the native and the wasm build's float
// arithmetic differ by an ulp a value can land on the other side of a rounding step, and 12
// layers of random weights carry that on; measured: some texts give the same embedding to 9
// digits, others differ by up to 0.04 of a norm of 22, cosine by 6.5e-4, with the native
// xnnpack and scalar backends alike); the isolate's wasm memory stays ≤ 110 MB and workerd's
// RSS grows ≤ 128 MB from before the first /search to after the third. Everything is made in
// the test's own temporary folder (about 64 MB of model).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, copyFileSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import * as clipdb from '../../web/src/index.mjs';
import * as edge from '../../web/src/edge.mjs';
import { towerBytes, readHeader } from '../../web/src/budget.mjs';
import { openSearch } from '../../examples/edge-worker/src/search.mjs';
import { edgeSkip, root, startWorkerd, search, installExample, bundleExample } from './harness.mjs';
import { modelsDir } from '../js/golden.mjs';

const cli = path.join(root, 'build/native/clipdb');
const MB = 1e6;
// the indexed documents: one per caption, its vector the native CLI's embedding of it
const IDS = ['a red circle', 'a large blue star', 'a photo of a yellow heart', 'a pink star and a purple heart',
  'green triangle', 'two orange squares', 'a small black cross', 'a white moon at night', 'a purple hexagon',
  'three grey dots'];
const QUERIES = ['a red star', 'a photo of a heart', 'squares and triangles'];
const N = 5;
const MODEL_ID = 'random-vit-b-32-text-int8 (native CLI, caption vectors)';

const unit = (v) => { const s = Math.sqrt(v.reduce((a, x) => a + x * x, 0)); return v.map((x) => x / s); };
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
// `clipdb embed --text T...` (native): one JSON array per text
const cliEmbed = (model, texts) => execFileSync(cli, ['embed', '--model', model, ...texts.flatMap((t) => ['--text', t])], { encoding: 'utf8' })
  .trim().split('\n').map((l) => JSON.parse(l));
const vmKB = (pid, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** The export container of a memory store holding one document per caption with its given vector. */
async function captionIndex(vectors) {
  const db = await clipdb.openDatabase({ storage: 'memory' });
  const byCaption = new Map(IDS.map((id, i) => [id, vectors[i]]));
  const model = new clipdb.Model({ identifier: MODEL_ID, dim: vectors[0].length, kind: 'image', encode: (c) => byCaption.get(c) });
  await db.add(new clipdb.VectorIndex('images', { indexingListener: new clipdb.Listener({ model, key: 'caption', select: { collection: 'photos' } }) }));
  await db.collection('photos').insertMany(IDS.map((id) => ({ _id: id, file: id, caption: id })));
  return new Uint8Array(await new Response(db.exportData()).arrayBuffer());
}

describe('the example Worker with an int8 ViT-B/32 text tower in workerd (maxMemoryMB: 128)', { skip: edgeSkip(), timeout: 300000 }, () => {
  let tmp, assets, model, ex, vectors, expected, native;
  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-edge-int8-'));
    const { app } = installExample(tmp);
    assets = path.join(app, 'assets');
    mkdirSync(assets);
    const f16 = path.join(tmp, 'vit-b-32-text-f16.safetensors');
    model = path.join(assets, 'model.safetensors');
    let t0 = performance.now();
    execFileSync(process.execPath, [path.join(root, 'scripts/gen-random-model.mjs'), 'ViT-B/32', f16, '--towers', 'text'], { stdio: 'ignore' });
    const genMs = performance.now() - t0;
    t0 = performance.now();
    execFileSync(cli, ['quantize', '--model', f16, '--out', model, '--dtype', 'int8'], { stdio: 'ignore' });
    const quantMs = performance.now() - t0;
    rmSync(f16);
    // the CLI finds the vocabulary beside the model; any CLIP BPE vocabulary fits (ids < 49408)
    copyFileSync(path.join(modelsDir, 'clipdb-shapes', 'vocab.txt.gz'), path.join(assets, 'vocab.txt.gz'));
    t0 = performance.now();
    vectors = cliEmbed(model, IDS).map(unit);
    writeFileSync(path.join(assets, 'index.clipdb'), await captionIndex(vectors));
    const indexMs = performance.now() - t0;
    console.log(`# ViT-B/32 text tower: generated (F16) in ${(genMs / 1000).toFixed(1)} s, quantized (int8, ${statSync(model).size} bytes) ` +
      `in ${(quantMs / 1000).toFixed(1)} s; index.clipdb (${statSync(path.join(assets, 'index.clipdb')).size} bytes, ${IDS.length} vectors) ` +
      `in ${(indexMs / 1000).toFixed(1)} s; load average ${os.loadavg()[0].toFixed(2)}`);
    ex = bundleExample(tmp, app);

    // what the Worker should answer: the same search in Node (the Node entry, the same wasm)
    // through search.mjs on the same assets, one more hit than asked to see the margin. The
    // model goes in as {path} (streamed): the Node entry copies bytes into wasm memory whole,
    // which maxMemoryMB: 128 refuses for this file; the edge entry streams an ArrayBuffer.
    const s = await openSearch(clipdb, { module: await clipdb.getModule(), model: { path: model },
      vocab: readFileSync(path.join(assets, 'vocab.txt.gz')), index: readFileSync(path.join(assets, 'index.clipdb')), maxMemoryMB: 128 });
    assert.equal(s.count, IDS.length);
    expected = new Map();
    for (const q of QUERIES) expected.set(q, await s.search(q, N + 1));
    // the native CLI's ranking over the same vectors
    const raw = cliEmbed(model, QUERIES);
    native = new Map(QUERIES.map((q, i) => {
      const qv = unit(raw[i]);
      return [q, IDS.map((id, k) => ({ file: id, score: dot(qv, vectors[k]) })).sort((x, y) => y.score - x.score).slice(0, N)];
    }));
  });

  after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it('wrangler bundles the example under Cloudflare\'s 64 MiB limit', () => {
    console.log(`# bundle: ${ex.bundleBytes} bytes (${ex.bundleFiles.map((f) => `${f.name.replace(/^[0-9a-f]{40}-/, '')} ${f.bytes}`).join(', ')})`);
    assert.ok(ex.bundleFiles.some((f) => f.name.endsWith('model.safetensors') && f.bytes === statSync(model).size), 'the model is bundled as it is');
    assert.ok(ex.bundleFiles.some((f) => f.name.endsWith('index.clipdb')), 'the index is bundled');
    assert.ok(ex.bundleBytes < 64 * 2 ** 20, `${ex.bundleBytes} bytes`);
  });

  it('the budget estimate of the int8 file: 1 byte per int8 weight plus F32 scales; the token table int8', () => {
    const bytes = readFileSync(model);
    const t = towerBytes(readHeader((o, n) => bytes.subarray(o, o + n)));
    // int8: 12 blocks x (1536x512 + 512x512 + 2048x512 + 512x2048) + 49408x512 token table +
    // 512x512 projection = 63,307,776 bytes; F32 values kept (biases, norms, 77x512 positions,
    // logit_scale): 120,321 x 4 = 481,284; F32 scales (one per output channel / token row /
    // projection column): 105,216 x 4 = 420,864
    assert.equal(t.text, 63307776 + 481284 + 420864);
    assert.equal(t.vision, 0);
    // the largest layer while it loads: c_fc / c_proj, 2048x512 int8 read as stored + its
    // float32 copy before packing; the token table is read straight into its own buffer
    assert.equal(t.largestText, 1048576 + 4 * 1048576);
  });

  it('an int8 tower over budget is refused with the bytes needed, without suggesting int8 again', async () => {
    const module = await edge.createModule({ wasmModule: new WebAssembly.Module(readFileSync(path.join(root, 'web/dist/clipdb.wasm'))) });
    const heap = module.HEAPU8.length;
    await assert.rejects(edge.loadModel({ 'model.safetensors': readFileSync(model) }, { module, loadVision: false, maxMemoryMB: 64 }), (e) => {
      assert.equal(e.code, 'MEMORY_BUDGET_EXCEEDED');
      assert.equal(e.details.needed, 64209924 + 5242880 + 16 * 2 ** 20);
      assert.match(e.message, /the text tower of model\.safetensors needs about 86230020 bytes \(82\.2 MiB/);
      assert.match(e.message, /The model is already int8: raise maxMemoryMB\.$/);
      return true;
    });
    assert.equal(module.HEAPU8.length, heap, 'the wasm heap did not grow');
  });

  it('answers like the same search in Node and the native CLI, with the wasm heap ≤ 110 MB and workerd RSS growth ≤ 128 MB', async () => {
    const w = await startWorkerd(ex.bundle, tmp, { date: '2026-04-20', tag: 'int8' });
    try {
      // the Worker has answered a 404 (the readiness probe): nothing loaded yet
      const rssBefore = vmKB(w.pid, 'VmRSS'), hwmBefore = vmKB(w.pid, 'VmHWM');
      const bodies = [];
      for (const q of QUERIES) {
        const { status, body } = await search(w.url, q, N);
        assert.equal(status, 200, JSON.stringify(body));
        bodies.push(body);
      }
      const rssAfter = vmKB(w.pid, 'VmRSS'), hwmAfter = vmKB(w.pid, 'VmHWM');
      const heap = Math.max(...bodies.map((b) => b.runtime.wasmHeapBytes));
      const growth = (rssAfter - rssBefore) * 1024;
      console.log(`# workerd: wasm heap ${heap} bytes; VmRSS ${rssBefore} -> ${rssAfter} kB (+${(growth / MB).toFixed(1)} MB), ` +
        `VmHWM ${hwmBefore} -> ${hwmAfter} kB; setup ${bodies[0].setupMs} ms; load average ${os.loadavg()[0].toFixed(2)}`);
      assert.ok(heap <= 110 * MB, `wasm heap ${heap} bytes`);
      assert.ok(growth <= 128 * MB, `RSS grew by ${growth} bytes`);

      let worstNode = 0;
      bodies.forEach((body, i) => {
        const q = QUERIES[i], want = expected.get(q);
        assert.deepEqual(body.results.map((h) => h.file), want.slice(0, N).map((h) => h.file), q);
        body.results.forEach((h, r) => {
          assert.equal(h.rank, r + 1);
          worstNode = Math.max(worstNode, Math.abs(h.score - want[r].score));
          assert.ok(Math.abs(h.score - want[r].score) <= 1e-5, `${q} #${r + 1}: worker ${h.score}, Node ${want[r].score}`);
        });
        // the ranking is not decided by rounding: the 5th and 6th are further apart than that
        assert.ok(want[N - 1].score - want[N].score > 1e-4, `${q}: ${want[N - 1].score} vs ${want[N].score}`);
      });
      console.log(`# largest cosine difference to the Node run: ${worstNode}; top 5 of ${JSON.stringify(QUERIES[0])}: ` +
        bodies[0].results.map((h) => `${h.file} ${h.score.toFixed(6)}`).join(', '));
      // the native CLI: the same top 5, cosine within 1e-3 (see the header)
      let worst = 0;
      bodies.forEach((body, i) => {
        const q = QUERIES[i], nat = native.get(q);
        assert.deepEqual(body.results.map((h) => h.file), nat.map((h) => h.file), `${q} (native CLI)`);
        body.results.forEach((h, r) => { worst = Math.max(worst, Math.abs(h.score - nat[r].score)); });
      });
      console.log(`# largest cosine difference to the native CLI: ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-3, `cosine differs from the native CLI's by ${worst}`);
    } finally {
      await w.stop();
    }
  });
});
