// The threaded wasm module (web/dist/clipdb-mt.*, Emscripten pthreads) under Node: createModule
// picks it for threads > 1 and says so; every GEMM split over 2 and 3 threads (the test hook
// lowers the split threshold to 0, so even the golden tiny models split) gives embeddings
// bit-identical to the single-threaded module's, which match the official CLIP outputs; bad
// thread counts are named errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { goldenSkip, goldenPath } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';
import { createModule, loadModel, ClipdbError } from '../../web/src/index.mjs';
import { threadsAvailable } from '../../web/src/instantiate-mt.mjs';

function relErr(got, want) {
  let m = 0, r = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(got[i] - want[i]));
    r = Math.max(r, Math.abs(want[i]));
  }
  return m / r;
}

describe('threaded wasm module: options', () => {
  it('threads 1 is the single-threaded module; bad counts are INVALID_ARGUMENT', async () => {
    const one = await createModule({ threads: 1 });
    assert.equal(one.clipdbThreads, 1);
    assert.equal(typeof one.PThread, 'undefined', 'no pthread runtime in clipdb.wasm');
    for (const bad of [0, 17, 1.5, '2']) {
      await assert.rejects(createModule({ threads: bad }),
        (e) => e instanceof ClipdbError && e.code === 'INVALID_ARGUMENT' && /threads must be an integer from 1 to 16/.test(e.message));
    }
  });

  it('Node has wasm threads; threads 2 is the pthread module with one Worker started', async () => {
    assert.equal(threadsAvailable(), true);
    const two = await createModule({ threads: 2 });
    assert.equal(two.clipdbThreads, 2);
    assert.ok(two.wasmMemory.buffer instanceof SharedArrayBuffer, 'shared memory');
    assert.equal(two.PThread.unusedWorkers.length + two.PThread.runningWorkers.length, 1);
  });
});

for (const dir of ['tiny-vit', 'tiny-rn']) {
  describe(`threaded wasm module: golden ${dir} at 1, 2 and 3 threads`, { skip: goldenSkip }, () => {
    let ref, manifest, files;
    const models = new Map();
    before(async () => {
      ref = SafeTensors.fromFile(goldenPath(dir, 'reference.safetensors'));
      manifest = JSON.parse(readFileSync(goldenPath(dir, 'manifest.json'), 'utf8'));
      files = { 'model.safetensors': readFileSync(path.join(goldenPath(dir), 'model.safetensors')) };
      for (const threads of [1, 2, 3]) {
        const mod = await createModule({ threads });
        if (threads > 1) mod._clipdb__wasm_parallel_min_macs(0);
        models.set(threads, await loadModel(files, { module: mod }));
      }
    });
    after(() => { for (const m of models.values()) m.free(); });

    it('every image and text embedding equals the 1-thread one bit for bit and the official one within 1e-4', () => {
      let compared = 0;
      for (const entry of manifest.images) {
        const px = ref.f32(`image/${entry.name}/pixels`);
        const one = models.get(1).embedImage(px);
        assert.ok(relErr(one, ref.f32(`image/${entry.name}/embedding`)) <= 1e-4, `image ${entry.name}`);
        for (const t of [2, 3]) assert.deepEqual(models.get(t).embedImage(px), one, `image ${entry.name}, ${t} threads`);
        compared++;
      }
      for (let i = 0; i < manifest.texts.length; i++) {
        const tokens = ref.i32(`text/${i}/tokens`);
        const one = models.get(1).embedText(tokens);
        assert.ok(relErr(one, ref.f32(`text/${i}/embedding`)) <= 1e-4, `text ${i}`);
        for (const t of [2, 3]) assert.deepEqual(models.get(t).embedText(tokens), one, `text ${i}, ${t} threads`);
        compared++;
      }
      assert.equal(compared, manifest.images.length + manifest.texts.length);
      assert.ok(compared >= 4);
    });
  });
}

describe('threaded wasm module: which wasm', () => {
  it('a wasm handed over without threads is taken as clipdb.wasm; threads 2 with it is a named error', async () => {
    const single = readFileSync(new URL('../../web/dist/clipdb.wasm', import.meta.url));
    const mod = await createModule({ wasmBinary: single });
    assert.equal(mod.clipdbThreads, 1);
    await assert.rejects(createModule({ wasmBinary: single, threads: 2 }),
      (e) => e instanceof ClipdbError && e.code === 'INVALID_ARGUMENT' && /needs clipdb-mt\.wasm/.test(e.message));
    await assert.rejects(createModule({ wasmBinary: Uint8Array.of(0, 97, 115, 109, 9, 9), threads: 2 }),
      (e) => e instanceof ClipdbError && e.code === 'INVALID_ARGUMENT' && /could not be compiled/.test(e.message));
    const mt = await createModule({ wasmBinary: readFileSync(new URL('../../web/dist/clipdb-mt.wasm', import.meta.url)), threads: 2 });
    assert.equal(mt.clipdbThreads, 2);
  });
});

describe('threaded wasm module: models share the pool', { skip: goldenSkip }, () => {
  it('two models loaded into one module both run on its 2 threads, and after the first is freed too', async () => {
    const mod = await createModule({ threads: 2 });
    mod._clipdb__wasm_parallel_min_macs(0);
    const files = { 'model.safetensors': readFileSync(path.join(goldenPath('tiny-vit'), 'model.safetensors')) };
    const a = await loadModel(files, { module: mod });
    const b = await loadModel(files, { module: mod });
    assert.equal(a.config.threads, 2);
    assert.equal(b.config.threads, 2, 'the second model gets threads too (one pool per module)');
    const ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
    const manifest = JSON.parse(readFileSync(goldenPath('tiny-vit', 'manifest.json'), 'utf8'));
    const px = ref.f32(`image/${manifest.images[0].name}/pixels`);
    const ea = a.embedImage(px);
    assert.ok(relErr(ea, ref.f32(`image/${manifest.images[0].name}/embedding`)) <= 1e-4);
    a.free();
    assert.deepEqual(b.embedImage(px), ea);
    b.free();
    const c = await loadModel(files, { module: mod });
    assert.equal(c.config.threads, 2, 'a pool freed with its last model starts again');
    assert.deepEqual(c.embedImage(px), ea);
    c.free();
    const one = await loadModel(files, { module: await createModule({ threads: 1 }) });
    assert.equal(one.config.threads, 1);
    one.free();
  });
});
