// The CLIP encoders on the wasm build (node --test): every golden image `pixels` and text
// `tokens` through tiny-vit (OpenAI names and hf/) and tiny-rn, compared with the official
// outputs (max|Δ| <= 1e-4·max|ref| per embedding, logits_per_image within 1e-3); bad model
// files and bad calls throw ClipdbError with the C status as `code`; the wasm CLI prints what
// the native CLI prints.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { goldenSkip, goldenPath, repoRoot } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';
import { loadModel, normalize, ClipdbError, getModule } from '../../web/src/index.mjs';
import * as binding from '../../web/src/binding.mjs';

function relErr(got, want) {
  let m = 0, r = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= m)) m = d;
    r = Math.max(r, Math.abs(want[i]));
  }
  return m / r;
}

function modelFiles(dir, hf) {
  const base = hf ? goldenPath(dir, 'hf') : goldenPath(dir);
  const files = { 'model.safetensors': readFileSync(path.join(base, 'model.safetensors')) };
  if (hf) files['config.json'] = readFileSync(path.join(base, 'config.json'));
  return files;
}

for (const [label, dir, hf] of [['tiny-vit', 'tiny-vit', false], ['tiny-vit hf/', 'tiny-vit', true], ['tiny-rn', 'tiny-rn', false]]) {
  describe(`golden parity: ${label}`, { skip: goldenSkip }, () => {
    let model, ref, manifest, mod, baseline;
    before(async () => {
      mod = await getModule();
      baseline = binding.clipdb_allocated_bytes(mod);
      model = await loadModel(modelFiles(dir, hf));
      ref = SafeTensors.fromFile(goldenPath(dir, 'reference.safetensors'));
      manifest = JSON.parse(readFileSync(goldenPath(dir, 'manifest.json'), 'utf8'));
    });
    after(() => {
      model.free();
      assert.equal(binding.clipdb_allocated_bytes(mod), baseline, 'library allocations back to baseline');
    });

    it('resolves the config (2 text heads from the config, not width // 64)', () => {
      assert.equal(model.config.transformer_heads, 2);
      assert.equal(model.config.embed_dim, 64);
      assert.equal(model.config.vision_type, dir === 'tiny-rn' ? 'modified_resnet' : 'vit');
      assert.equal(model.config.vision_heads, dir === 'tiny-rn' ? 8 : 2);
    });

    it('intermediate activations (debug/) agree within 1e-4 of their max', () => {
      // through the C-name binding: model + session handles, and the capture export
      const files = Object.entries(modelFiles(dir, hf)).map(([name, data]) => ({ name, data }));
      const m = binding.clipdb_model_init_from_files(mod, files);
      assert.equal(m.status, 0);
      const s = binding.clipdb_session_init(mod, m.model);
      const cap = 1 << 20;
      const out = mod._malloc(cap * 4), info = mod._malloc(24), name = mod._malloc(128);
      let compared = 0;
      try {
        for (const key of ref.names().filter((k) => k.startsWith('debug/')).sort()) {
          const [, kind, which, ...rest] = key.split('/');
          const act = rest.join('/');
          mod.stringToUTF8(act, name, 128);
          mod._clipdb__wasm_session_capture(s.session, name, out, cap, info);
          const r = kind === 'image'
            ? binding.clipdb_image_embed(mod, m.model, s.session, ref.f32(`image/${which}/pixels`), 1)
            : binding.clipdb_text_embed(mod, m.model, s.session, ref.i32(`text/${which}/tokens`));
          mod._clipdb__wasm_session_capture(s.session, 0, 0, 0, 0);
          assert.equal(r.status, 0);
          const inf = mod.HEAP32.slice(info >> 2, (info >> 2) + 6);
          assert.ok(inf[0] > 0, `${key}: activation ${act} never produced`);
          const got = mod.HEAPF32.slice(out >> 2, (out >> 2) + inf[0]);
          const want = ref.f32(key), shape = ref.info(key).shape;
          let mine = got;
          if (shape.length === 3) { // golden CHW, ours HWC
            const [C, H, W] = shape;
            mine = new Float32Array(C * H * W);
            for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) mine[c * H * W + i] = got[i * C + c];
          }
          // text rows past the end-of-text token are not computed: compare the rows we have
          const err = relErr(mine, want.subarray(0, mine.length));
          assert.ok(err <= 1e-4, `${key} diverges: ${err} of max|ref|`);
          compared++;
        }
      } finally {
        mod._free(out); mod._free(info); mod._free(name);
        binding.clipdb_session_free(mod, s.session);
        binding.clipdb_model_free(mod, m.model);
      }
      assert.ok(compared >= 8, `compared ${compared} debug tensors`);
    });

    it('embeds every image and text within 1e-4 of max|ref|, logits within 1e-3', () => {
      const E = model.config.embed_dim;
      const imgs = [], txts = [];
      let worstImg = 0, worstTxt = 0;
      for (const entry of manifest.images) {
        const e = model.embedImage(ref.f32(`image/${entry.name}/pixels`));
        const err = relErr(e, ref.f32(`image/${entry.name}/embedding`));
        assert.ok(err <= 1e-4, `image ${entry.name}: ${err}`);
        worstImg = Math.max(worstImg, err);
        imgs.push(normalize(e));
      }
      for (let i = 0; i < manifest.texts.length; i++) {
        const tokens = ref.i32(`text/${i}/tokens`);
        const e = model.embedText(tokens);
        const err = relErr(e, ref.f32(`text/${i}/embedding`));
        assert.ok(err <= 1e-4, `text ${i}: ${err}`);
        worstTxt = Math.max(worstTxt, err);
        // cut right after the pooled (argmax) position: the same embedding
        let eot = 0;
        for (let k = 0; k < tokens.length; k++) if (tokens[k] > tokens[eot]) eot = k;
        assert.deepEqual(model.embedText(tokens.slice(0, eot + 1)), e, `text ${i} cut after EOT`);
        txts.push(normalize(e));
      }
      // All texts in one embedTexts call, cut after their end-of-text tokens so they have
      // different lengths (grouped by length inside), in reverse order: each is bit-identical
      // to its embedText result (the wasm build runs the simd backend).
      const rows = manifest.texts.map((_, i) => {
        const t = ref.i32(`text/${i}/tokens`);
        let eot = 0;
        for (let k = 0; k < t.length; k++) if (t[k] > t[eot]) eot = k;
        return t.slice(0, eot + 1);
      }).reverse();
      const batch = model.embedTexts(rows);
      assert.equal(batch.length, manifest.texts.length);
      rows.forEach((r, i) => assert.deepEqual(batch[i], model.embedText(r), `batch text ${i}`));
      const bad = rows.map((r) => Int32Array.from(r));
      bad[4][2] = model.config.vocab_size;
      assert.throws(() => model.embedTexts(bad), (e) => e.code === 'INVALID_ARGUMENT' && /text 4, token 2/.test(e.message));
      assert.throws(() => model.embedTexts([]), { code: 'INVALID_ARGUMENT' });
      const logits = ref.f32('logits_per_image');
      const scale = Math.exp(model.config.logit_scale);
      let worstLogit = 0;
      for (let i = 0; i < imgs.length; i++)
        for (let j = 0; j < txts.length; j++) {
          let dot = 0;
          for (let k = 0; k < E; k++) dot += imgs[i][k] * txts[j][k];
          worstLogit = Math.max(worstLogit, Math.abs(scale * dot - logits[i * txts.length + j]));
        }
      assert.ok(worstLogit <= 1e-3, `logits off by ${worstLogit}`);
      console.log(`# ${label} (${model.config.backend}): worst image ${worstImg.toExponential(2)}, text ${worstTxt.toExponential(2)} of max|ref|, logits ${worstLogit.toExponential(2)}`);
    });
  });
}

describe('errors', { skip: goldenSkip }, () => {
  const good = () => new Uint8Array(readFileSync(goldenPath('tiny-vit', 'model.safetensors')));
  // the golden file with its JSON header edited (offsets are relative: still valid)
  function editHeader(find, repl) {
    const b = good();
    const n = Number(new DataView(b.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(b.subarray(8, 8 + n));
    assert.ok(header.includes(find), `golden header contains ${find}`);
    const h = new TextEncoder().encode(header.replace(find, repl));
    const out = new Uint8Array(8 + h.length + b.length - 8 - n);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(b.subarray(8 + n), 8 + h.length);
    return out;
  }
  async function rejects(files, code, pattern) {
    const mod = await getModule();
    const before = binding.clipdb_allocated_bytes(mod);
    await assert.rejects(loadModel(files), (err) => {
      assert.ok(err instanceof ClipdbError, `ClipdbError, got ${err}`);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, pattern);
      return true;
    });
    assert.equal(binding.clipdb_allocated_bytes(mod), before, 'nothing leaked');
  }

  it('truncated file → BAD_MODEL', async () => {
    const b = good();
    await rejects({ 'model.safetensors': b.subarray(0, b.length - 1) }, 'BAD_MODEL', /visual\.transformer\.resblocks\.1\.mlp\.c_proj\.weight.*outside/);
    await rejects({ 'model.safetensors': b.subarray(0, 5) }, 'BAD_MODEL', /truncated/);
  });
  it('garbage header → BAD_MODEL', async () => {
    const b = good();
    b.set(new TextEncoder().encode('garbage!'), 8);
    await rejects({ 'model.safetensors': b }, 'BAD_MODEL', /JSON/);
    await rejects({ 'model.safetensors': new Uint8Array(64).fill(0xab) }, 'BAD_MODEL', /header length/);
  });
  it('wrong shape → BAD_MODEL naming the tensor', async () => {
    await rejects({ 'model.safetensors': editHeader('"ln_final.weight":{"dtype":"F32","shape":[64]', '"ln_final.weight":{"dtype":"F32","shape":[2,32]') },
      'BAD_MODEL', /ln_final\.weight has shape \[2,32\], expected \[64\]/);
  });
  it('missing tensor → BAD_MODEL naming the tensor', async () => {
    await rejects({ 'model.safetensors': editHeader('"visual.ln_pre.bias"', '"visual.ln_pre.gone"') },
      'BAD_MODEL', /visual\.ln_pre\.bias is missing/);
  });
  it('unknown dtype → BAD_MODEL', async () => {
    await rejects({ 'model.safetensors': editHeader('"ln_final.bias":{"dtype":"F32"', '"ln_final.bias":{"dtype":"F8"') },
      'BAD_MODEL', /ln_final\.bias has unknown dtype "F8"/);
  });
  it('no safetensors / bad arguments → INVALID_ARGUMENT', async () => {
    await rejects({ 'config.json': '{}' }, 'INVALID_ARGUMENT', /safetensors/);
    await assert.rejects(loadModel([]), { name: 'ClipdbError', code: 'INVALID_ARGUMENT' });
    await assert.rejects(loadModel({ 'model.safetensors': 42 }), { name: 'ClipdbError', code: 'INVALID_ARGUMENT' });
  });
  it('bad calls throw with the code; a freed model throws INVALID_STATE', async () => {
    const model = await loadModel({ 'model.safetensors': good() }, { loadVision: false });
    assert.equal(model.config.has_vision, false);
    assert.throws(() => model.embedImage(new Float32Array(3 * 224 * 224)), { name: 'ClipdbError', code: 'INVALID_ARGUMENT' });
    assert.throws(() => model.embedText([49406, 49408, 49407]), (e) => e.code === 'INVALID_ARGUMENT' && /49408/.test(e.message));
    assert.throws(() => model.embedText(new Int32Array(78)), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => model.embedText([]), { code: 'INVALID_ARGUMENT' });
    assert.equal(model.embedText([49406, 49407]).length, 64);
    model.free();
    model.free();
    assert.throws(() => model.embedText([49406, 49407]), { code: 'INVALID_STATE' });
    assert.throws(() => normalize([0, 0]), { code: 'BAD_VECTOR' });
    assert.deepEqual(Array.from(normalize([3, 4])), [Math.fround(0.6), Math.fround(0.8)]);
  });
  it('text on a vision-only model → INVALID_STATE', async () => {
    const model = await loadModel({ 'model.safetensors': good() }, { loadText: false });
    assert.throws(() => model.embedText([49406, 49407]), (e) => e.code === 'INVALID_STATE' && /text tower/.test(e.message));
    model.free();
  });
});

describe('wasm CLI matches the native CLI', { skip: goldenSkip || (!existsSync(path.join(repoRoot, 'build/native/clipdb')) && 'native CLI not built') }, () => {
  const cli = (bin, args) => {
    const r = bin === 'native'
      ? spawnSync(path.join(repoRoot, 'build/native/clipdb'), args, { encoding: 'utf8' })
      : spawnSync(process.execPath, [path.join(repoRoot, 'web/bin/clipdb.mjs'), ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  let tmp;
  before(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-')); });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('embed --tokens / --pixels / --text / --image, info, errors', () => {
    const ref = SafeTensors.fromFile(goldenPath('tiny-rn', 'reference.safetensors'));
    const px = path.join(tmp, 'pixels.f32');
    const a = ref.f32('image/chelsea/pixels'), b2 = ref.f32('image/rocket/pixels');
    const both = new Float32Array(a.length * 2);
    both.set(a);
    both.set(b2, a.length);
    writeFileSync(px, Buffer.from(both.buffer));
    const tokens = Array.from(ref.i32('text/3/tokens')).join(',');
    for (const [model, args] of [
      [goldenPath('tiny-rn', 'model.safetensors'), ['--pixels', px, '--tokens', tokens]],
      [goldenPath('tiny-vit', 'hf'), ['--tokens', '49406,320,1125,539,320,1929,49407']],
      // end to end: tokenizer (hf/vocab.json + merges.txt beside the model) and image pipeline
      [goldenPath('tiny-vit', 'hf'), ['--text', 'a photo of a cat', '--image', goldenPath('images', 'chelsea.png')]],
    ]) {
      const n = cli('native', ['embed', '--model', model, ...args]);
      const w = cli('wasm', ['embed', '--model', model, ...args]);
      assert.equal(n.code, 0, n.err);
      assert.equal(w.code, 0, w.err);
      const nl = n.out.trim().split('\n').map((l) => JSON.parse(l));
      const wl = w.out.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(wl.length, nl.length);
      for (let i = 0; i < nl.length; i++) assert.ok(relErr(wl[i], nl[i]) <= 1e-5, `line ${i}: ${relErr(wl[i], nl[i])}`);
      if (args[0] === '--text') {
        const vref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
        assert.ok(relErr(nl[0], vref.f32('text/0/embedding')) <= 1e-4, 'text 0 end to end');
        assert.ok(relErr(nl[1], vref.f32('image/chelsea/embedding')) <= 1e-4, 'chelsea end to end');
      }
      if (model.endsWith('.safetensors')) {
        // and they are the golden embeddings
        assert.ok(relErr(nl[0], ref.f32('image/chelsea/embedding')) <= 1e-4);
        assert.ok(relErr(nl[1], ref.f32('image/rocket/embedding')) <= 1e-4);
        assert.ok(relErr(nl[2], ref.f32('text/3/embedding')) <= 1e-4);
      }
    }
    const ni = JSON.parse(cli('native', ['info', '--model', goldenPath('tiny-rn', 'model.safetensors')]).out);
    const wi = JSON.parse(cli('wasm', ['info', '--model', goldenPath('tiny-rn', 'model.safetensors')]).out);
    delete ni.backend;
    delete wi.backend;
    // threads: the native CLI's model takes CLIPDB_THREADS (scripts/test's second pass sets 2);
    // the wasm CLI is the single-threaded module
    const asked = Number(process.env.CLIPDB_THREADS || 1);
    assert.equal(ni.threads, asked > 1 ? asked : 1, 'native CLI threads (CLIPDB_THREADS)');
    assert.equal(wi.threads, 1, 'wasm CLI threads');
    delete ni.threads;
    delete wi.threads;
    assert.deepEqual(wi, ni);
    assert.deepEqual(ni.vision_layers, [1, 1, 1, 1]);
    // a bad file: the same JSON error from both
    const bad = path.join(tmp, 'bad.safetensors');
    writeFileSync(bad, Buffer.from('not a model at all'));
    const ne = cli('native', ['embed', '--model', bad, '--tokens', '49406,49407']);
    const we = cli('wasm', ['embed', '--model', bad, '--tokens', '49406,49407']);
    assert.equal(ne.code, 1);
    assert.equal(we.code, 1);
    assert.equal(JSON.parse(we.err.trim()).error, 'BAD_MODEL');
    assert.deepEqual(JSON.parse(we.err.trim()), JSON.parse(ne.err.trim()));
  });
});
