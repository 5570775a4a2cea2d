// The edge entry under Deno (deno from npm, a devDependency): tests/edge/deno/smoke.mjs loads
// the default model's text tower from a Deno file stream with maxMemoryMB: 128 and embeds
// texts, allowed to read its three input files and nothing else. The embeddings must equal the
// Node entry's exactly, and a 16 MiB budget must be refused with MEMORY_BUDGET_EXCEEDED and the
// same byte count as the edge entry under Node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

import * as node from '../../web/src/index.mjs';
import * as edge from '../../web/src/edge.mjs';
import { root } from './harness.mjs';
import { modelsDir } from '../js/golden.mjs';

const deno = path.join(root, 'node_modules/.bin/deno');
const wasm = path.join(root, 'web/dist/clipdb.wasm');
const model = path.join(modelsDir, 'clipdb-shapes', 'model.safetensors');
const vocab = path.join(modelsDir, 'clipdb-shapes', 'vocab.txt.gz');
const TEXTS = ['a red circle', 'a large blue star', 'a pink star and a purple heart'];

function skipReason() {
  if (!existsSync(wasm)) return 'web/dist/clipdb.wasm is missing: run scripts/build';
  if (!existsSync(deno)) return 'deno is not installed: run npm ci (scripts/setup)';
  const v = spawnSync(deno, ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) return `node_modules/.bin/deno does not run: ${v.stderr || v.error}`;
  return false;
}

describe('edge entry under Deno', { skip: skipReason(), timeout: 120000 }, () => {
  it('embeds like the Node entry, reading only its inputs; over budget is MEMORY_BUDGET_EXCEEDED', async () => {
    const denoDir = mkdtempSync(path.join(os.tmpdir(), 'clipdb-deno-'));
    let out;
    try {
      out = execFileSync(deno, ['run', '--no-prompt', '--no-config', '--no-lock', `--allow-read=${wasm},${model},${vocab}`,
        path.join(root, 'tests/edge/deno/smoke.mjs'), wasm, model, vocab, ...TEXTS],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: denoDir } });
    } finally {
      rmSync(denoDir, { recursive: true, force: true });
    }
    const got = JSON.parse(out);

    const clip = await node.loadModel({ 'model.safetensors': readFileSync(model) }, { loadVision: false });
    const tok = await node.createTokenizer({ 'vocab.txt.gz': readFileSync(vocab) });
    TEXTS.forEach((t, i) => assert.deepEqual(got.embeddings[i], Array.from(clip.embedText(tok.tokenize(t))), t));
    clip.free();
    tok.free();

    // the same refusal, to the byte, as the edge entry under Node on a fresh instance
    const module = await edge.createModule({ wasmModule: new WebAssembly.Module(readFileSync(wasm)) });
    const want = await edge.loadModel({ 'model.safetensors': readFileSync(model) }, { module, maxMemoryMB: 16 }).then(() => null, (e) => e);
    assert.equal(want && want.code, 'MEMORY_BUDGET_EXCEEDED');
    assert.deepEqual(got.refused, { name: 'ClipdbError', code: 'MEMORY_BUDGET_EXCEEDED', needed: want.details.needed, budget: 16 * 2 ** 20 });
    assert.equal(got.heapBytes, 16 * 2 ** 20, 'the default model leaves the heap at its initial 16 MiB');
  });
});
