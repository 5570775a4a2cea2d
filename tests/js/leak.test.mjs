// Memory stays flat over a long run in one wasm instance: 10,000 text embeds (tokenize +
// embedText, texts of varying length from a fixed word list) and 1,000 image embeds
// (preprocess + embedImage over PNG/JPEG/BMP/GIF inputs, every tenth a damaged file that must
// fail with BAD_IMAGE) on the shipped default model models/clipdb-shapes. After a warm-up of
// 1,000 texts / 100 images, over the remaining 9,000 texts / 900 images: the heap in use (the
// library's allocation counter plus the blocks the JS layer holds through mod._malloc, which
// this test counts) and the wasm memory size each grow by at most 2 MB, and the library's
// counter returns exactly to its warm-up value. (The memory size alone would hide a leak
// smaller than the free part of the initial 16 MB heap.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, modelsDir } from './golden.mjs';
import { createModule, loadModel, createTokenizer, preprocess } from '../../web/src/index.mjs';
import * as binding from '../../web/src/binding.mjs';

const shapes = path.join(modelsDir, 'clipdb-shapes');
const corpus = path.join(repoRoot, 'tests', 'fuzz', 'corpus', 'image');
const LIMIT = 2 * 1024 * 1024;
const WORDS = ['a', 'red', 'green', 'blue', 'yellow', 'circle', 'square', 'triangle', 'star', 'photo', 'of', 'small', 'big', 'two', 'on', 'white'];

// Count the bytes the JS layer holds in wasm memory: wrap mod._malloc / mod._free.
function countJsAllocations(mod) {
  mod._free(mod._malloc(1)); // the glue's first call swaps in the wasm export: do it first
  const { _malloc: malloc, _free: free } = mod;
  const live = new Map();
  let bytes = 0;
  mod._malloc = (n) => {
    const p = malloc(n);
    if (p) { live.set(p, n); bytes += n; }
    return p;
  };
  mod._free = (p) => {
    if (live.has(p)) { bytes -= live.get(p); live.delete(p); }
    free(p);
  };
  return () => bytes;
}

describe('no leak over long runs (one wasm instance)', () => {
  let mod, model, tokenizer, jsBytes;
  const inUse = () => binding.clipdb_allocated_bytes(mod) + jsBytes();
  before(async () => {
    mod = await createModule();
    jsBytes = countJsAllocations(mod);
    model = await loadModel([{ name: 'model.safetensors', path: path.join(shapes, 'model.safetensors') }], { module: mod });
    tokenizer = await createTokenizer({ 'vocab.txt.gz': readFileSync(path.join(shapes, 'vocab.txt.gz')) }, { module: mod });
  });
  after(() => {
    if (model) model.free();
    if (tokenizer) tokenizer.free();
  });

  it('10,000 text embeds: memory growth after warm-up <= 2 MB, allocation counter flat', () => {
    const text = (i) => {
      const n = 1 + (i * 7) % 12;
      const w = [];
      for (let k = 0; k < n; k++) w.push(WORDS[(i * 31 + k * 17 + (i >> 4)) % WORDS.length]);
      return w.join(' ');
    };
    const dim = model.config.embed_dim;
    let heapAfterWarmup = 0, allocatedAfterWarmup = 0, inUseAfterWarmup = 0;
    for (let i = 0; i < 10000; i++) {
      const e = model.embedText(tokenizer.tokenize(text(i)));
      if (e.length !== dim || !Number.isFinite(e[0])) assert.fail(`text ${i}: bad embedding`);
      if (i === 999) {
        heapAfterWarmup = mod.HEAPU8.length;
        allocatedAfterWarmup = binding.clipdb_allocated_bytes(mod);
        inUseAfterWarmup = inUse();
      }
    }
    const growth = mod.HEAPU8.length - heapAfterWarmup, used = inUse() - inUseAfterWarmup;
    console.log(`text: over the last 9,000 embeds heap in use ${inUseAfterWarmup} -> ${inUse()} bytes (${used}), wasm memory ${heapAfterWarmup} -> ${mod.HEAPU8.length} (${growth})`);
    assert.ok(used <= LIMIT, `heap in use grew by ${used} bytes over the last 9,000 text embeds`);
    assert.ok(growth <= LIMIT, `wasm memory grew by ${growth} bytes over the last 9,000 text embeds`);
    assert.equal(binding.clipdb_allocated_bytes(mod), allocatedAfterWarmup);
  });

  it('1,000 image embeds (every tenth a damaged file): growth after warm-up <= 2 MB, counter flat', async () => {
    const good = ['rgb-13x9.png', 'rgba-13x9.png', 'gray-13x9.png', 'palette-13x9.png', 'gray16-7x5.png',
      'rgb-13x9.jpg', 'rgb-13x9-progressive.jpg', 'gray-13x9.jpg', 'rgb-13x9.bmp', 'rgb-13x9.gif',
      'exif-orientation6.jpg', 'exif-orientation8.jpg'].map((f) => readFileSync(path.join(corpus, f)));
    const bad = ['truncated.png', 'jpeg-huffman-over-256.jpg'].map((f) => readFileSync(path.join(corpus, f)));
    const R = model.config.image_resolution;
    let heapAfterWarmup = 0, allocatedAfterWarmup = 0, inUseAfterWarmup = 0, failed = 0;
    for (let i = 0; i < 1000; i++) {
      if (i % 10 === 9) {
        await assert.rejects(preprocess(bad[(i / 10) & 1], { module: mod, resolution: R }), { code: 'BAD_IMAGE' });
        failed++;
      } else {
        const pixels = await preprocess(good[i % good.length], { module: mod, model });
        const e = model.embedImage(pixels);
        if (e.length !== model.config.embed_dim || !Number.isFinite(e[0])) assert.fail(`image ${i}: bad embedding`);
      }
      if (i === 99) {
        heapAfterWarmup = mod.HEAPU8.length;
        allocatedAfterWarmup = binding.clipdb_allocated_bytes(mod);
        inUseAfterWarmup = inUse();
      }
    }
    const growth = mod.HEAPU8.length - heapAfterWarmup, used = inUse() - inUseAfterWarmup;
    console.log(`image: over the last 900 embeds heap in use ${inUseAfterWarmup} -> ${inUse()} bytes (${used}), wasm memory ${heapAfterWarmup} -> ${mod.HEAPU8.length} (${growth}); ${failed} damaged inputs refused`);
    assert.equal(failed, 100);
    assert.ok(used <= LIMIT, `heap in use grew by ${used} bytes over the last 900 image embeds`);
    assert.ok(growth <= LIMIT, `wasm memory grew by ${growth} bytes over the last 900 image embeds`);
    assert.equal(binding.clipdb_allocated_bytes(mod), allocatedAfterWarmup);
  });
});
