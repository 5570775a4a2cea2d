// Streaming model load on the wasm build (include/clipdb.h clipdb_file.read): a golden model
// given to loadModel() as {name, path} (Node: read with fs.readSync straight into wasm memory,
// tensor by tensor) gives exactly the embeddings of the same file given as bytes, and the
// official ones within max|Δ| <= 1e-4·max|ref|; bad paths, truncated files and failing
// readers throw ClipdbError naming the file, and leave no library allocation behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { goldenSkip, goldenPath } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';
import { loadModel, ClipdbError, getModule } from '../../web/src/index.mjs';
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

function firstImage(ref) {
  const key = ref.names().find((k) => k.startsWith('image/') && k.endsWith('/pixels'));
  return key.slice('image/'.length, -'/pixels'.length);
}

describe('streamed model load (Node paths)', { skip: goldenSkip }, () => {
  let mod, baseline, tmp;
  before(async () => {
    mod = await getModule();
    baseline = binding.clipdb_allocated_bytes(mod);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-stream-'));
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
    assert.equal(binding.clipdb_allocated_bytes(mod), baseline, 'library allocations back to baseline');
  });

  for (const [label, dir, hf] of [['tiny-vit', 'tiny-vit', false], ['tiny-vit hf/ + config.json', 'tiny-vit', true], ['tiny-rn', 'tiny-rn', false]]) {
    it(`${label}: same embeddings as the buffer route, and the official ones`, async () => {
      const base = hf ? goldenPath(dir, 'hf') : goldenPath(dir);
      const weights = path.join(base, 'model.safetensors');
      const byPath = [{ name: 'model.safetensors', path: weights }];
      const byBytes = [{ name: 'model.safetensors', data: readFileSync(weights) }];
      if (hf) {
        byPath.push({ name: 'config.json', path: path.join(base, 'config.json') });
        byBytes.push({ name: 'config.json', data: readFileSync(path.join(base, 'config.json')) });
      }
      const ref = SafeTensors.fromFile(goldenPath(dir, 'reference.safetensors'));
      const image = firstImage(ref);
      const streamed = await loadModel(byPath);
      const buffered = await loadModel(byBytes);
      try {
        assert.deepEqual(streamed.config, buffered.config);
        const pixels = ref.f32(`image/${image}/pixels`), tokens = ref.i32('text/0/tokens');
        const si = streamed.embedImage(pixels), bi = buffered.embedImage(pixels);
        const st = streamed.embedText(tokens), bt = buffered.embedText(tokens);
        assert.deepEqual(si, bi, 'image embedding differs between the two routes');
        assert.deepEqual(st, bt, 'text embedding differs between the two routes');
        const ei = relErr(si, ref.f32(`image/${image}/embedding`)), et = relErr(st, ref.f32('text/0/embedding'));
        assert.ok(ei <= 1e-4 && et <= 1e-4, `streamed vs official: image ${ei}, text ${et}`);
      } finally {
        streamed.free();
        buffered.free();
      }
    });
  }

  it('the object form takes {path} values too', async () => {
    const m = await loadModel({ 'model.safetensors': { path: goldenPath('tiny-vit', 'model.safetensors') } });
    assert.equal(m.config.embed_dim, 64);
    assert.equal(m.config.vision_heads, 2);
    m.free();
  });

  it('a missing file is IO naming the path', async () => {
    const missing = path.join(tmp, 'nope.safetensors');
    await assert.rejects(loadModel([{ name: 'model.safetensors', path: missing }]),
      (e) => e instanceof ClipdbError && e.code === 'IO' && e.message.includes(missing));
  });

  it('a truncated file is BAD_MODEL naming the file', async () => {
    const bytes = readFileSync(goldenPath('tiny-vit', 'model.safetensors'));
    const cut = path.join(tmp, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(loadModel([{ name: 'model.safetensors', path: cut }]),
      (e) => e instanceof ClipdbError && e.code === 'BAD_MODEL' && /outside the data section/.test(e.message) &&
        e.message.includes('model.safetensors'));
  });

  it('a reader that throws is BAD_MODEL with its byte range, tensor and exception', async () => {
    const bytes = readFileSync(goldenPath('tiny-vit', 'model.safetensors'));
    let calls = 0;
    const read = (offset, dst, n) => {
      if (++calls === 5) throw new Error('disk on fire');
      mod.HEAPU8.set(bytes.subarray(offset, offset + n), dst);
    };
    const r = binding.clipdb_model_init_from_files(mod, [{ name: 'model.safetensors', size: bytes.length, read }]);
    assert.equal(r.status, binding.statusCodes(mod).BAD_MODEL);
    assert.equal(r.model, 0);
    assert.match(r.message, /failed to read model\.safetensors: reader failed at bytes \[\d+, \d+\) of tensor \S+: disk on fire/);
    assert.equal(calls, 5);
    // the same reader without the failure loads, and reads each byte once
    let total = 0;
    const ok = binding.clipdb_model_init_from_files(mod, [{
      name: 'model.safetensors', size: bytes.length,
      read: (offset, dst, n) => { total += n; mod.HEAPU8.set(bytes.subarray(offset, offset + n), dst); },
    }]);
    assert.equal(ok.status, 0, ok.message);
    assert.ok(total <= bytes.length && total > bytes.length * 0.9, `${total} of ${bytes.length} bytes read`);
    binding.clipdb_model_free(mod, ok.model);
  });

  it('a reader with a size that is not a byte count is INVALID_ARGUMENT', () => {
    const r = binding.clipdb_model_init_from_files(mod, [{ name: 'model.safetensors', size: -1, read() {} }]);
    assert.equal(r.status, binding.statusCodes(mod).INVALID_ARGUMENT);
    assert.match(r.message, /size -1/);
  });
});
