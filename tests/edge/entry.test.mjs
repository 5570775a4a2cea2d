// The edge entry (web/src/edge.mjs) under Node, with everything passed in as a Worker would:
// a compiled WebAssembly.Module, model and vocabulary bytes / streams / Blobs. Checks that
// each input form gives exactly the embedding of the default Node path, that bad input is a
// named error and nothing failed stays cached, and that maxMemoryMB refuses a float32 ViT-B/32
// text tower from its header alone, before anything is allocated.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, openSync, readSync, closeSync, statSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as edge from '../../web/src/edge.mjs';
import * as node from '../../web/src/index.mjs';
import { getModule } from '../../web/src/module.mjs';
import * as binding from '../../web/src/binding.mjs';
import { modelsDir } from '../js/golden.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const wasmPath = path.join(root, 'web/dist/clipdb.wasm');
const modelDir = path.join(modelsDir, 'clipdb-shapes');
const skip = existsSync(wasmPath) ? false : 'web/dist/clipdb.wasm is missing: run scripts/build';

// A ReadableStream over `bytes` in chunks of `size` bytes.
function chunked(bytes, size) {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) { c.close(); return; }
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

describe('edge entry', { skip }, () => {
  let wasmModule, modelBytes, vocabBytes, reference;
  before(async () => {
    wasmModule = new WebAssembly.Module(readFileSync(wasmPath));
    modelBytes = readFileSync(path.join(modelDir, 'model.safetensors'));
    vocabBytes = readFileSync(path.join(modelDir, 'vocab.txt.gz'));
    // the default Node path: shared module, bytes copied in
    const clip = await node.loadModel({ 'model.safetensors': modelBytes });
    const tok = await node.createTokenizer({ 'vocab.txt.gz': vocabBytes });
    reference = clip.embedText(tok.tokenize('a pink star and a purple heart'));
    clip.free();
    tok.free();
  });

  it('needs a module, and refuses a wasm that is not clipdb.wasm with a named error', async () => {
    await assert.rejects(edge.createModule({}), (e) => e.code === 'INVALID_ARGUMENT' && /wasmModule/.test(e.message));
    const empty = new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    await assert.rejects(edge.createModule({ wasmModule: empty }), (e) => e.code === 'INVALID_ARGUMENT' && /could not be instantiated/.test(e.message));
    await assert.rejects(edge.loadModel({ 'model.safetensors': modelBytes }), (e) => e.code === 'INVALID_ARGUMENT' && /\{module\}/.test(e.message));
  });

  it('bytes, a chunked ReadableStream, a Blob and a Response give the reference embedding exactly', async () => {
    const module = await edge.createModule({ wasmModule });
    const tokenizer = await edge.createTokenizer({ 'vocab.txt.gz': chunked(vocabBytes, 100) }, { module });
    const ids = tokenizer.tokenize('a pink star and a purple heart');
    const inputs = {
      bytes: modelBytes,
      stream: chunked(modelBytes, 4093), // chunk edges fall inside tensors and the header
      blob: new Blob([modelBytes]),
      response: new Response(chunked(modelBytes, 65536)),
    };
    for (const [kind, data] of Object.entries(inputs)) {
      const before = binding.clipdb_allocated_bytes(module);
      const clip = await edge.loadModel({ 'model.safetensors': data }, { module, loadVision: false, maxMemoryMB: 128 });
      assert.equal(clip.config.has_vision, false, kind);
      assert.deepEqual(clip.embedText(ids), reference, kind);
      clip.free();
      assert.equal(binding.clipdb_allocated_bytes(module), before, `${kind}: nothing left allocated`);
    }
  });

  it('maxMemoryMB: the default model fits 128 MiB, and not 16 (a named error with the bytes)', async () => {
    const module = await edge.createModule({ wasmModule });
    const clip = await edge.loadModel({ 'model.safetensors': modelBytes }, { module, loadVision: false, maxMemoryMB: 128 });
    clip.free();
    await assert.rejects(edge.loadModel({ 'model.safetensors': modelBytes }, { module, maxMemoryMB: 16 }), (e) => {
      assert.equal(e.code, 'MEMORY_BUDGET_EXCEEDED');
      assert.ok(e.details.needed > 16 * 2 ** 20 && e.details.budget === 16 * 2 ** 20, JSON.stringify(e.details));
      assert.match(e.message, new RegExp(`the text and image towers of model.safetensors need about ${e.details.needed} bytes`));
      return true;
    });
  });
});

describe('edge entry: memory budget for a ViT-B/32 float32 text tower', { skip }, () => {
  let tmp, file;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-edge-budget-'));
    file = path.join(tmp, 'vit-b-32.safetensors');
    execFileSync(process.execPath, [path.join(root, 'scripts/gen-random-model.mjs'), 'ViT-B/32', file, '--dtype', 'F32'], { stdio: 'ignore' });
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('is refused from its header: MEMORY_BUDGET_EXCEEDED states the bytes and suggests int8; nothing allocated, the stream cancelled', async () => {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    let pulled = 0, cancelled = false;
    const stream = new ReadableStream({
      pull(c) {
        const buf = new Uint8Array(64 * 1024);
        const n = readSync(fd, buf, 0, buf.length, pulled);
        if (n === 0) { c.close(); return; }
        pulled += n;
        c.enqueue(buf.subarray(0, n));
      },
      cancel() { cancelled = true; },
    }, { highWaterMark: 0 });
    try {
      const module = await edge.createModule({ wasmModule: new WebAssembly.Module(readFileSync(wasmPath)) });
      const heap = module.HEAPU8.length, allocated = binding.clipdb_allocated_bytes(module);
      await assert.rejects(edge.loadModel({ 'model.safetensors': stream }, { module, loadVision: false, maxMemoryMB: 128 }), (e) => {
        assert.equal(e.code, 'MEMORY_BUDGET_EXCEEDED');
        // ViT-B/32's text tower: 63,428,097 float32 values = 253,712,388 bytes packed
        assert.equal(e.details.weights, 253712388);
        // + the largest layer's float32 copy before packing (c_fc / c_proj, 2048x512x4; no
        // scratch: F32) + 16 MiB of working memory + what the fresh module holds; no copy (streamed)
        assert.equal(e.details.largest, 4194304);
        assert.equal(e.details.copied, 0);
        assert.equal(e.details.needed, 253712388 + 4194304 + 16 * 2 ** 20 + allocated);
        assert.deepEqual(e.details.towers, ['text']);
        assert.ok(e.details.needed > 128 * 2 ** 20);
        assert.match(e.message, new RegExp(`the text tower of model.safetensors needs about ${e.details.needed} bytes`));
        assert.match(e.message, /Quantize the model to int8 \(clipdb quantize; about 63428097 bytes of weights\)\./);
        assert.match(e.message, /maxMemoryMB 128/);
        return true;
      });
      assert.equal(module.HEAPU8.length, heap, 'the wasm heap did not grow');
      assert.equal(binding.clipdb_allocated_bytes(module), allocated, 'the library allocated nothing');
      assert.ok(cancelled, 'the stream was cancelled');
      assert.ok(pulled < 2 * 2 ** 20 && pulled < size / 100, `read ${pulled} of ${size} bytes before refusing`);
    } finally {
      closeSync(fd);
    }
  });

  it('also through loadModel({path}) under Node', async () => {
    const mod = await getModule();
    await assert.rejects(node.loadModel([{ name: 'model.safetensors', path: file }], { loadVision: false, maxMemoryMB: 128 }),
      (e) => e.code === 'MEMORY_BUDGET_EXCEEDED' && e.details.weights === 253712388);
    assert.equal(binding.clipdb_allocated_bytes(mod), 0);
  });
});
