// quantizeModel (web/src/quantize.mjs) and `clipdb quantize` on the golden tiny models, in
// the wasm build: the int8 file is about a quarter of the float32 one, loads through
// loadModel with config.weights 'int8', and every golden image and text embeds within cosine
// 0.999 of the float32 model (tiny-vit; F16: 0.99999); the JS, wasm-CLI and native-CLI outputs
// are byte-identical; Blob, {path} and bytes inputs agree; bad inputs are named errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { goldenSkip, goldenPath, repoRoot } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';
import { loadModel, quantizeModel, ClipdbError } from '../../web/src/index.mjs';

function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / Math.sqrt(aa * bb);
}

describe('quantizeModel: golden tiny-vit', { skip: goldenSkip }, () => {
  let f32, int8, f16, ref, tmp;
  before(async () => {
    f32 = readFileSync(goldenPath('tiny-vit', 'model.safetensors'));
    int8 = await quantizeModel(f32);
    f16 = await quantizeModel(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.byteLength), { dtype: 'f16' });
    ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-quantize-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes the int8 scheme: I8 weights with F32 per-channel scales, a quarter of the size', () => {
    assert.ok(int8 instanceof Uint8Array);
    assert.ok(int8.length < f32.length * 0.3, `${int8.length} of ${f32.length} bytes`);
    const st = new SafeTensors(int8);
    assert.equal(st.metadata.quantization, 'int8_symmetric_per_channel');
    assert.equal(st.metadata.quantization_version, '1');
    assert.ok(st.metadata.clip_config, 'clip_config metadata kept');
    assert.equal(st.info('visual.transformer.resblocks.0.mlp.c_fc.weight').dtype, 'I8');
    assert.deepEqual(st.info('visual.transformer.resblocks.0.mlp.c_fc.weight.scale').shape, [512, 1]);
    assert.equal(st.info('token_embedding.weight').dtype, 'I8');
    assert.deepEqual(st.info('token_embedding.weight.scale').shape, [49408, 1]);
    assert.deepEqual(st.info('visual.proj.scale').shape, [1, 64]); // [in, out]: per column
    assert.equal(st.info('visual.positional_embedding').dtype, 'F32');
    assert.equal(st.info('visual.ln_pre.weight').dtype, 'F32');
  });

  it('embeds every golden image and text within cosine 0.999 of float32 (F16: 0.99999)', async () => {
    const mf = await loadModel({ 'model.safetensors': f32 });
    const mq = await loadModel({ 'model.safetensors': int8 });
    const mh = await loadModel({ 'model.safetensors': f16 });
    try {
      assert.equal(mf.config.weights, 'float32');
      assert.equal(mq.config.weights, 'int8');
      assert.ok(mq.config.weight_bytes * 10 < mf.config.weight_bytes * 3,
        `int8 holds ${mq.config.weight_bytes} bytes, float32 ${mf.config.weight_bytes}`);
      let worst = 1, worstF16 = 1, n = 0;
      for (const name of ref.names()) {
        let a, b, c;
        if (/^image\/.*\/pixels$/.test(name)) {
          const px = ref.f32(name);
          [a, b, c] = [mf.embedImage(px), mq.embedImage(px), mh.embedImage(px)];
        } else if (/^text\/\d+\/tokens$/.test(name)) {
          const tok = Int32Array.from(ref.i32(name));
          [a, b, c] = [mf.embedText(tok), mq.embedText(tok), mh.embedText(tok)];
        } else continue;
        worst = Math.min(worst, cosine(a, b));
        worstF16 = Math.min(worstF16, cosine(a, c));
        n++;
      }
      assert.equal(n, 63);
      assert.ok(worst >= 0.999, `min cosine(int8, float32) ${worst}`);
      assert.ok(worstF16 >= 0.99999, `min cosine(f16, float32) ${worstF16}`);
    } finally {
      mf.free(), mq.free(), mh.free();
    }
  });

  it('gives the same bytes from a Blob (as bytes or Blob output) and from a {path}', async () => {
    const fromBlob = await quantizeModel(new Blob([f32]), { output: 'blob' });
    assert.ok(fromBlob instanceof Blob);
    assert.deepEqual(new Uint8Array(await fromBlob.arrayBuffer()), int8);
    const fromPath = await quantizeModel({ path: goldenPath('tiny-vit', 'model.safetensors') });
    assert.deepEqual(fromPath, int8);
  });

  for (const [cli, cmd] of [['native', path.join(repoRoot, 'build/native/clipdb')], ['wasm', path.join(repoRoot, 'web/bin/clipdb.mjs')]]) {
    const built = cli === 'native' ? existsSync(cmd) : existsSync(path.join(repoRoot, 'web/dist/clipdb-cli.wasm'));
    it(`clipdb quantize (${cli} CLI) writes the same bytes`, { skip: !built && `${cli} CLI not built (scripts/build)` }, () => {
      const out = path.join(tmp, `${cli}.safetensors`);
      const argv = ['quantize', '--model', goldenPath('tiny-vit', 'model.safetensors'), '--out', out];
      const r = cli === 'native' ? spawnSync(cmd, argv, { encoding: 'utf8' }) : spawnSync(process.execPath, [cmd, ...argv], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const res = JSON.parse(r.stdout);
      assert.equal(res.dtype, 'int8');
      assert.equal(res.bytes, int8.length);
      assert.deepEqual(new Uint8Array(readFileSync(out)), int8);
      assert.ok(!existsSync(`${out}.partial`));
      // refusing a second pass leaves the existing output as it was
      const again = cli === 'native'
        ? spawnSync(cmd, ['quantize', '--model', out, '--out', out + '2'], { encoding: 'utf8' })
        : spawnSync(process.execPath, [cmd, 'quantize', '--model', out, '--out', out + '2'], { encoding: 'utf8' });
      assert.equal(again.status, 1);
      assert.equal(JSON.parse(again.stderr).error, 'BAD_MODEL');
      assert.ok(!existsSync(out + '2') && !existsSync(out + '2.partial'));
      const info = cli === 'native'
        ? spawnSync(cmd, ['info', '--model', out], { encoding: 'utf8' })
        : spawnSync(process.execPath, [cmd, 'info', '--model', out], { encoding: 'utf8' });
      assert.equal(info.status, 0, info.stderr);
      const cfg = JSON.parse(info.stdout);
      assert.equal(cfg.weights, 'int8');
      assert.ok(cfg.weight_bytes > 0 && cfg.weight_bytes < 0.3 * f32.length, String(cfg.weight_bytes));
    });
  }

  it('rejects bad options and inputs with named errors', async () => {
    await assert.rejects(quantizeModel(f32, { dtype: 'int4' }), (e) => e instanceof ClipdbError && e.code === 'INVALID_ARGUMENT' && /int4/.test(e.message));
    await assert.rejects(quantizeModel(int8), (e) => e.code === 'BAD_MODEL' && /already quantized/.test(e.message));
    await assert.rejects(quantizeModel(new Uint8Array(64)), (e) => e.code === 'BAD_MODEL');
    await assert.rejects(quantizeModel('model.safetensors'), (e) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(quantizeModel({ path: path.join(tmp, 'missing.safetensors') }), (e) => e.code === 'IO');
    // an unknown scheme in the file is refused by loadModel, naming it
    const bad = Uint8Array.from(int8);
    const hdr = new TextDecoder().decode(bad.subarray(8, 8 + 4096));
    const at = hdr.indexOf('int8_symmetric_per_channel');
    bad[8 + at] = 'u'.charCodeAt(0);
    await assert.rejects(loadModel({ 'model.safetensors': bad }), (e) => e.code === 'BAD_MODEL' && /unt8_symmetric_per_channel/.test(e.message));
  });
});
