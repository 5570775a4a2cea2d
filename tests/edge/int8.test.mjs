// An int8 ViT-B/32 text tower in Cloudflare's runtime: random ViT-B/32-architecture weights
// (scripts/gen-random-model.mjs --towers text), quantized by the native `clipdb quantize
// --dtype int8`, bundled by wrangler into a minimal Worker on the edge entry
// (tests/edge/int8-worker/) that loads it with maxMemoryMB: 128 and answers text queries over
// a few vectors made by the native CLI. workerd from npm serves it on 127.0.0.1. Checked: the
// answer is the Node run's (the wasm CLI, web/bin/clipdb.mjs: same top 5 ids in order, cosine
// within 1e-5, the embedding within 1e-5; the edge entry under Node gives the embedding
// exactly) and close to the native CLI's (same top 5, cosine within 1e-3: int8 layers quantize
// their inputs per row, so where the native and the wasm build's float arithmetic differ by an
// ulp a value can land on the other side of a rounding step, and 12 layers of random weights
// carry that on; measured: some texts give the same embedding to 9 digits, others differ by up
// to 0.04 of a norm of 22, cosine by 6.5e-4, with the native xnnpack and scalar backends
// alike); the isolate's wasm memory stays ≤ 110 MB and workerd's RSS grows
// ≤ 128 MB from before the first /search to after it. Everything is made in the test's own
// temporary folder (about 64 MB of model).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, copyFileSync, writeFileSync, readFileSync, readdirSync, symlinkSync, statSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import * as edge from '../../web/src/edge.mjs';
import { towerBytes, readHeader } from '../../web/src/budget.mjs';
import { edgeSkip, root, startWorkerd } from './harness.mjs';
import { modelsDir } from '../js/golden.mjs';

const cli = path.join(root, 'build/native/clipdb');
const MB = 1e6;
// ids of the indexed vectors: the texts the CLI embedded for them
const IDS = ['a red circle', 'a large blue star', 'a photo of a yellow heart', 'a pink star and a purple heart',
  'green triangle', 'two orange squares', 'a small black cross', 'a white moon at night', 'a purple hexagon',
  'three grey dots'];
const QUERIES = ['a red star', 'a photo of a heart', 'squares and triangles'];
const N = 5;

const unit = (v) => { const s = Math.sqrt(v.reduce((a, x) => a + x * x, 0)); return v.map((x) => x / s); };
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
// `clipdb embed --text T...` (native, or the wasm CLI under Node): one JSON array per text
const embedArgs = (model, texts) => ['embed', '--model', model, ...texts.flatMap((t) => ['--text', t])];
const parseRows = (out) => out.trim().split('\n').map((l) => JSON.parse(l));
const cliEmbed = (model, texts) => parseRows(execFileSync(cli, embedArgs(model, texts), { encoding: 'utf8' }));
const nodeEmbed = (model, texts) => parseRows(execFileSync(process.execPath, [path.join(root, 'web/bin/clipdb.mjs'), ...embedArgs(model, texts)], { encoding: 'utf8' }));
const vmKB = (pid, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

describe('int8 ViT-B/32 text tower in workerd with maxMemoryMB: 128', { skip: edgeSkip(), timeout: 300000 }, () => {
  let tmp, app, model, bundle, vectors, expected, native;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-edge-int8-'));
    app = path.join(tmp, 'app');
    mkdirSync(path.join(app, 'node_modules'), { recursive: true });
    const f16 = path.join(tmp, 'vit-b-32-text-f16.safetensors');
    model = path.join(app, 'model.safetensors');
    let t0 = performance.now();
    execFileSync(process.execPath, [path.join(root, 'scripts/gen-random-model.mjs'), 'ViT-B/32', f16, '--towers', 'text'], { stdio: 'ignore' });
    const genMs = performance.now() - t0;
    t0 = performance.now();
    execFileSync(cli, ['quantize', '--model', f16, '--out', model, '--dtype', 'int8'], { stdio: 'ignore' });
    const quantMs = performance.now() - t0;
    console.log(`# ViT-B/32 text tower: generated (F16, ${statSync(f16).size} bytes) in ${(genMs / 1000).toFixed(1)} s, ` +
      `quantized (int8, ${statSync(model).size} bytes) in ${(quantMs / 1000).toFixed(1)} s; load average ${os.loadavg()[0].toFixed(2)}`);
    rmSync(f16);
    // the CLI finds the vocabulary beside the model; any CLIP BPE vocabulary fits (ids < 49408)
    copyFileSync(path.join(modelsDir, 'clipdb-shapes', 'vocab.txt.gz'), path.join(app, 'vocab.txt.gz'));

    vectors = cliEmbed(model, IDS).map(unit);
    writeFileSync(path.join(app, 'vectors.bin'), new Uint8Array(Float32Array.from(vectors.flat()).buffer));
    writeFileSync(path.join(app, 'ids.json'), JSON.stringify(IDS));
    // what the Worker should answer (the query embedded by the same wasm under Node) and what
    // the native CLI answers, both over the native CLI's vectors
    const rank = (raw) => new Map(QUERIES.map((q, i) => {
      const qv = unit(raw[i]);
      const ranked = IDS.map((id, k) => ({ id, score: dot(qv, vectors[k]) })).sort((a, b) => b.score - a.score);
      return [q, { embedding: raw[i], top: ranked.slice(0, N), next: ranked[N] }];
    }));
    expected = rank(nodeEmbed(model, QUERIES));
    native = rank(cliEmbed(model, QUERIES));
    for (const f of ['worker.mjs', 'wrangler.toml']) copyFileSync(path.join(root, 'tests/edge/int8-worker', f), path.join(app, f));
    symlinkSync(path.join(root, 'web'), path.join(app, 'node_modules', 'clipdb'), 'dir');
    bundle = path.join(tmp, 'bundle');
    const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', XDG_CONFIG_HOME: path.join(tmp, 'config') };
    const w = spawnSync(path.join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', bundle], { cwd: app, env, encoding: 'utf8' });
    if (w.status !== 0) throw new Error(`wrangler deploy --dry-run failed (${w.status}): ${w.stdout}\n${w.stderr}`);
  });

  after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it('wrangler bundles it under Cloudflare\'s 64 MiB limit', () => {
    const files = readdirSync(bundle).filter((f) => !f.endsWith('.map') && f !== 'README.md').map((f) => [f, statSync(path.join(bundle, f)).size]);
    const total = files.reduce((a, [, n]) => a + n, 0);
    console.log(`# bundle: ${total} bytes (${files.map(([f, n]) => `${f.replace(/^[0-9a-f]{40}-/, '')} ${n}`).join(', ')})`);
    assert.ok(files.some(([f, n]) => f.endsWith('model.safetensors') && n === statSync(model).size), 'the model is bundled as it is');
    assert.ok(total < 64 * 2 ** 20, `${total} bytes`);
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

  it('answers like the Node run and the native CLI, with the wasm heap ≤ 110 MB and workerd RSS growth ≤ 128 MB', async () => {
    const w = await startWorkerd(bundle, tmp, { date: '2026-04-20', tag: 'int8' });
    try {
      // the Worker has answered a 404 (the readiness probe): nothing loaded yet
      const rssBefore = vmKB(w.pid, 'VmRSS'), hwmBefore = vmKB(w.pid, 'VmHWM');
      const bodies = [];
      for (const q of QUERIES) {
        const res = await fetch(`${w.url}/search?q=${encodeURIComponent(q)}&n=${N}`);
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        bodies.push(body);
      }
      const rssAfter = vmKB(w.pid, 'VmRSS'), hwmAfter = vmKB(w.pid, 'VmHWM');
      const heap = Math.max(...bodies.map((b) => b.wasmHeapBytes));
      const growth = (rssAfter - rssBefore) * 1024;
      console.log(`# workerd: wasm heap ${heap} bytes, weights held ${bodies[0].weightBytes}; VmRSS ${rssBefore} -> ${rssAfter} kB ` +
        `(+${(growth / MB).toFixed(1)} MB), VmHWM ${hwmBefore} -> ${hwmAfter} kB; load average ${os.loadavg()[0].toFixed(2)}`);
      assert.ok(heap <= 110 * MB, `wasm heap ${heap} bytes`);
      assert.ok(growth <= 128 * MB, `RSS grew by ${growth} bytes`);
      assert.equal(bodies[0].weightBytes, 64436376); // what the loader reports holding

      bodies.forEach((body, i) => {
        const q = QUERIES[i], want = expected.get(q);
        assert.deepEqual(body.results.map((h) => h.id), want.top.map((h) => h.id), q);
        body.results.forEach((h, r) => {
          assert.equal(h.rank, r + 1);
          assert.ok(Math.abs(h.score - want.top[r].score) <= 1e-5, `${q} #${r + 1}: worker ${h.score}, Node run ${want.top[r].score}`);
        });
        // the ranking is not decided by rounding: the 5th and 6th are further apart than that
        assert.ok(want.top[N - 1].score - want.next.score > 1e-4, `${q}: ${want.top[N - 1].score} vs ${want.next.score}`);
        const diff = Math.max(...body.embedding.map((x, k) => Math.abs(x - want.embedding[k])));
        assert.ok(diff <= 1e-5, `${q}: embedding differs from the Node run's by up to ${diff}`);
      });
      // the native CLI: the same top 5, cosine within 1e-3 (see the header)
      let worst = 0;
      bodies.forEach((body, i) => {
        const q = QUERIES[i], nat = native.get(q);
        assert.deepEqual(body.results.map((h) => h.id), nat.top.map((h) => h.id), `${q} (native CLI)`);
        body.results.forEach((h, r) => { worst = Math.max(worst, Math.abs(h.score - nat.top[r].score)); });
      });
      console.log(`# largest cosine difference to the native CLI: ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-3, `cosine differs from the native CLI's by ${worst}`);

      // the same edge entry under Node gives the Worker's embedding exactly (the same wasm)
      const module = await edge.createModule({ wasmModule: new WebAssembly.Module(readFileSync(path.join(root, 'web/dist/clipdb.wasm'))) });
      const clip = await edge.loadModel({ 'model.safetensors': readFileSync(model) }, { module, loadVision: false, maxMemoryMB: 128 });
      const tok = await edge.createTokenizer({ 'vocab.txt.gz': readFileSync(path.join(app, 'vocab.txt.gz')) }, { module });
      assert.deepEqual(Array.from(clip.embedText(tok.tokenize(QUERIES[0]))), bodies[0].embedding);
      clip.free();
      tok.free();
    } finally {
      await w.stop();
    }
  });
});
