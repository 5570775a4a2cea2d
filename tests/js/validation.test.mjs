// Arguments checked before wasm memory is touched: bad token ids (fractions, NaN, strings,
// negative), a non-Float32Array image, a negative or fractional top-k, bad keys and candidate
// lists are ClipdbError INVALID_ARGUMENT naming the argument, and the same instance keeps
// giving the same results afterwards (nothing was written out of bounds, nothing leaked).
// Runs on the shipped default model models/clipdb-shapes in its own wasm instance.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, modelsDir } from './golden.mjs';
import { createModule, loadModel, normalize, preprocess, WasmVectorIndex, ClipdbError } from '../../web/src/index.mjs';
import * as binding from '../../web/src/binding.mjs';

const modelPath = path.join(modelsDir, 'clipdb-shapes', 'model.safetensors');

function invalidNaming(pattern) {
  return (e) => e instanceof ClipdbError && e.code === 'INVALID_ARGUMENT' && pattern.test(e.message);
}

describe('public entry points validate their arguments', () => {
  let mod, model, sot, eot, reference, allocated;
  before(async () => {
    mod = await createModule();
    model = await loadModel([{ name: 'model.safetensors', path: modelPath }], { module: mod });
    const v = model.config.vocab_size;
    [sot, eot] = [v - 2, v - 1];
    reference = model.embedText([sot, 5, 7, eot]);
    allocated = binding.clipdb_allocated_bytes(mod);
  });
  after(() => model && model.free());

  it('embedText rejects non-integer, NaN, string and negative token ids by position', () => {
    const cases = [
      [[sot, 1.5, eot], /embedText: tokens\[1\] is 1\.5/],
      [[sot, 5, NaN, eot], /embedText: tokens\[2\] is NaN/],
      [[sot, '5', eot], /embedText: tokens\[1\] is the string "5"/],
      [[sot, -3, eot], /embedText: tokens\[1\] is -3/],
      [[sot, 2 ** 31, eot], /embedText: tokens\[1\] is 2147483648/],
      [[sot, Infinity], /embedText: tokens\[1\] is Infinity/],
      [new Float32Array([sot, 0.25, eot]), /embedText: tokens\[1\] is 0\.25/],
      ['a photo of a cat', /embedText: tokens must be an Int32Array .* got the string "a photo of a cat"/],
      [null, /embedText: tokens must be .* got null/],
      [42, /embedText: tokens must be .* got 42/],
    ];
    for (const [tokens, pattern] of cases) assert.throws(() => model.embedText(tokens), invalidNaming(pattern), String(tokens));
    assert.throws(() => model.embedTexts([[sot, eot], [sot, 'x', eot]]), invalidNaming(/embedTexts: texts\[1\]\[1\] is the string "x"/));
    assert.throws(() => model.embedTexts('abc'), invalidNaming(/embedTexts: texts must be an array/));
    assert.throws(() => model.embedImage([0, 1, 2]), invalidNaming(/embedImage: pixels must be a Float32Array of 3x\d+x\d+ values, got a Array/));
    // The instance is intact: the same text gives the same embedding, nothing leaked.
    assert.deepEqual(model.embedText([sot, 5, 7, eot]), reference);
    assert.deepEqual(model.embedText(Int32Array.of(sot, 5, 7, eot)), reference);
    assert.equal(binding.clipdb_allocated_bytes(mod), allocated);
  });

  it('loadModel and normalize reject bad options and vectors by name', async () => {
    const files = [{ name: 'model.safetensors', path: modelPath }];
    await assert.rejects(loadModel(files, { module: mod, loadText: 'no' }), invalidNaming(/loadModel: options.loadText must be true or false, got the string "no"/));
    await assert.rejects(loadModel(files, null), invalidNaming(/loadModel: options must be an object, got null/));
    assert.throws(() => normalize('abc'), invalidNaming(/normalize: v must be a Float32Array or an array of numbers, got the string "abc"/));
    assert.throws(() => normalize([1, '2', 3]), invalidNaming(/normalize: v\[1\] is the string "2", not a number/));
    assert.deepEqual([...normalize([3, 4])], [Math.fround(0.6), Math.fround(0.8)]);
    assert.equal(binding.clipdb_allocated_bytes(mod), allocated);
  });

  it('WasmVectorIndex.search rejects a negative or fractional k and bad candidates; add rejects bad keys', () => {
    const dim = 4;
    const index = new WasmVectorIndex(mod, dim);
    try {
      index.add(Uint32Array.of(10, 20, 30), Float32Array.of(1, 0, 0, 0, 0, 1, 0, 0, 0.6, 0.8, 0, 0));
      const q = Float32Array.of(1, 0.1, 0, 0);
      const before = index.search(q, 3);
      assert.deepEqual([...before[0].keys], [10, 30, 20]);
      const heapBefore = mod.HEAPU8.length;
      for (const [k, pattern] of [[-1, /search: k must be an integer >= 0, got -1/], [1.5, /got 1\.5/],
        [NaN, /got NaN/], ['3', /got string/], [undefined, /got undefined/]]) {
        assert.throws(() => index.search(q, k), invalidNaming(pattern), String(k));
      }
      assert.throws(() => index.search(q, 2, [10, -1]), invalidNaming(/search: candidates\[1\] is -1/));
      assert.throws(() => index.search(q, 2, 'abc'), invalidNaming(/search: candidates must be a Uint32Array/));
      assert.throws(() => index.search([1, 'x', 0, 0], 2), invalidNaming(/search: queries\[1\] is a string/));
      assert.throws(() => index.add([1.5], Float32Array.of(1, 0, 0, 0)), invalidNaming(/add: keys\[0\] is 1\.5/));
      assert.throws(() => index.add([2 ** 32], Float32Array.of(1, 0, 0, 0)), invalidNaming(/add: keys\[0\] is 4294967296/));
      assert.throws(() => index.add(Uint32Array.of(1), 'abcd'), invalidNaming(/add: vectors must be a Float32Array/));
      // Nothing changed: same count, same ranking and scores, no heap growth from the bad calls.
      assert.equal(index.count, 3);
      const after = index.search(q, 3);
      assert.deepEqual([...after[0].keys], [10, 30, 20]);
      assert.deepEqual(after[0].scores, before[0].scores);
      assert.equal(mod.HEAPU8.length, heapBefore);
      // k = 0 is allowed and returns no hits.
      assert.equal(index.search(q, 0)[0].keys.length, 0);
    } finally {
      index.free();
    }
  });
});

describe('messages name what failed', () => {
  it('a failed wasm allocation reports the bytes asked for and the memory limit, not the input size', async () => {
    const mod = await createModule();
    const png = readFileSync(path.join(repoRoot, 'tests', 'fuzz', 'corpus', 'image', 'rgb-13x9.png'));
    const R = 512, outBytes = 3 * R * R * 4;
    // Every allocation above 1 MB fails in this instance: the 3 MB output buffer does. (The
    // glue's first _malloc call replaces mod._malloc with the wasm export: call it once first.)
    mod._free(mod._malloc(1));
    const malloc = mod._malloc;
    mod._malloc = (n) => (n > 1 << 20 ? 0 : malloc(n));
    try {
      await assert.rejects(preprocess(png, { module: mod, resolution: R }), (e) => {
        assert.equal(e.code, 'OUT_OF_MEMORY');
        assert.match(e.message, new RegExp(`^preprocess: failed to allocate ${outBytes} bytes of wasm memory \\(memory is \\d+ bytes, at most 4294967296 bytes\\)$`));
        assert.ok(!e.message.includes(`${png.length} bytes`), e.message);
        return true;
      });
    } finally {
      mod._malloc = malloc;
    }
    // The same instance still works once memory is available again.
    const pixels = await preprocess(png, { module: mod, resolution: 16 });
    assert.equal(pixels.length, 3 * 16 * 16);
  });
});

describe('a damaged file cannot make the module grow its memory', () => {
  it('a 143-byte PNG whose IDAT claims 1.6 GB is BAD_IMAGE without growing wasm memory', async () => {
    const mod = await createModule();
    const png = readFileSync(path.join(repoRoot, 'tests', 'fuzz', 'corpus', 'image', 'png-chunk-claims-1.6gb.png'));
    assert.equal(png.length, 143);
    const before = mod.HEAPU8.length;
    await assert.rejects(preprocess(png, { module: mod, resolution: 16 }), (e) => {
      assert.equal(e.code, 'BAD_IMAGE');
      assert.match(e.message, /^failed to decode PNG: truncated file \(the IDAT chunk at byte 33 needs 1632043106 bytes, 110 are left\)$/);
      return true;
    });
    // Before the check, stb grew its buffer to the claimed length first: wasm memory went
    // from 16 MB to about 1.6 GB and stayed there.
    assert.equal(mod.HEAPU8.length, before, `wasm memory grew from ${before} to ${mod.HEAPU8.length} bytes`);
  });
});
