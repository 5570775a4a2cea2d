// binding.mjs, the one JS mirror of the C API: the log callback (clipdb_log_set) receives the
// library's messages and stops when cleared, the vector-index and tokenizer functions agree
// with the classes built on them, and toError names the status.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as b from '../../web/src/binding.mjs';
import { createModule, loadModel, createTokenizer, WasmVectorIndex } from '../../web/src/index.mjs';

const at = (p) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const skip = existsSync(at('web/dist/clipdb.wasm')) ? false : 'web/dist/clipdb.wasm is missing: run scripts/build';

// The default model's safetensors with `name` dropped from the header (its bytes stay, unreferenced).
function without(name) {
  const file = readFileSync(at('models/clipdb-shapes/model.safetensors'));
  const len = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.toString('utf8', 8, 8 + len));
  assert.ok(header[name], `${name} is in the model`);
  delete header[name];
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([head, Buffer.from(json), file.subarray(8 + len)]);
}

it('clipdb_log_set routes the library log to a callback, and null stops it', { skip }, async () => {
  const module = await createModule();
  const messages = [];
  assert.equal(b.clipdb_log_set(module, (level, text) => messages.push([level, text])).status, 0);
  const bytes = without('logit_scale');
  (await loadModel({ 'model.safetensors': bytes }, { module })).free();
  assert.deepEqual(messages, [[1, 'model has no logit_scale; using ln(1/0.07)']]);
  b.clipdb_log_set(module, null);
  (await loadModel({ 'model.safetensors': bytes }, { module })).free();
  assert.equal(messages.length, 1);
  assert.equal(b.clipdb_log_set(module, 'not a function').status, b.statusCodes(module).INVALID_ARGUMENT);
});

it('index and tokenizer mirrors agree with the classes; toError names the status', { skip }, async () => {
  const module = await createModule();
  const ix = new WasmVectorIndex(module, 3);
  ix.reserve(4);
  ix.add([7, 9], new Float32Array([3, 0, 4, 0, 1, 0]));
  assert.deepEqual(Array.from(ix.get(7)), [0.6000000238418579, 0, 0.800000011920929]);
  assert.equal(ix.get(8), null);
  const r = b.clipdb_index_search(module, ix.ptr, new Float32Array([0, 1, 0]), 1, 2);
  assert.deepEqual(Array.from(r.results[0].keys), [9, 7]);
  assert.deepEqual(Array.from(r.results[0].scores), [1, 0]);
  assert.equal(b.clipdb_index_count(module, ix.ptr), 2);
  const bad = b.clipdb_index_add(module, ix.ptr, [1], new Float32Array([0, 0, 0]));
  const err = b.toError(module, bad, 'add', b.clipdb_index_last_error(module, ix.ptr));
  assert.equal(err.code, 'BAD_VECTOR');
  assert.equal(err.status, bad.status);
  assert.match(err.message, /zero|norm/i);
  ix.free();

  const tok = await createTokenizer({ 'vocab.txt.gz': readFileSync(at('models/clipdb-shapes/vocab.txt.gz')) }, { module });
  const t = b.clipdb_tokenize(module, tok.handle, 'a red circle', 77, false);
  assert.equal(t.status, 0);
  assert.deepEqual(t.tokens, tok.tokenize('a red circle'));
  const long = b.clipdb_tokenize(module, tok.handle, 'red '.repeat(100), 77, false);
  assert.equal(b.statusName(module, long.status), 'TEXT_TOO_LONG');
  tok.free();
  assert.equal(b.clipdb_allocated_bytes(module), 0);
});
