// The wasm glue must not take over the host's process: after importing clipdb and creating a
// module (and loading a model), an unrelated unhandled rejection or uncaught exception in the
// app ends the process exactly as in plain Node (same exit code, the app's own error on
// stderr, no glue source dumped), and the process has no listeners clipdb added.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, modelsDir } from './golden.mjs';

const clipdbURL = pathToFileURL(path.join(repoRoot, 'web', 'src', 'index.mjs')).href;
const modelPath = path.join(modelsDir, 'clipdb-shapes', 'model.safetensors');

// Run `body` in a fresh Node process, after `prelude`; returns {status, stderr, stdout}.
function runScript(dir, name, prelude, body) {
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(file, `${prelude}\n${body}\n`);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

const withClipdb = `
import { createModule, loadModel } from ${JSON.stringify(clipdbURL)};
const mod = await createModule();
const model = await loadModel([{ name: 'model.safetensors', path: ${JSON.stringify(modelPath)} }], { module: mod });
model.free();
console.log(JSON.stringify({ rejection: process.listenerCount('unhandledRejection'), exception: process.listenerCount('uncaughtException') }));
`;
const plain = `console.log(JSON.stringify({ rejection: process.listenerCount('unhandledRejection'), exception: process.listenerCount('uncaughtException') }));`;

describe('the host process keeps its own error handling', () => {
  for (const [what, body, marker] of [
    ['an unhandled rejection', `Promise.reject(new Error('app-rejection-7f3a'));`, 'app-rejection-7f3a'],
    ['an uncaught exception', `setTimeout(() => { throw new Error('app-exception-91c2'); }, 1);`, 'app-exception-91c2'],
  ]) {
    it(`${what} ends the process as in plain Node`, () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'clipdb-handlers-'));
      try {
        const a = runScript(dir, 'plain', plain, body);
        const b = runScript(dir, 'clipdb', withClipdb, body);
        assert.equal(b.status, a.status, `exit code with clipdb ${b.status}, plain Node ${a.status}\n${b.stderr.slice(0, 400)}`);
        assert.notEqual(a.status, 0);
        assert.deepEqual(JSON.parse(b.stdout), JSON.parse(a.stdout), 'listeners added by clipdb');
        assert.ok(b.stderr.includes(marker), `the app's error is reported: ${b.stderr.slice(0, 400)}`);
        assert.ok(!b.stderr.includes('createClipdbModule') && !b.stderr.includes('ExitStatus'), 'no glue source on stderr');
        assert.ok(b.stderr.length < a.stderr.length + 400, `stderr ${b.stderr.length} bytes vs ${a.stderr.length} in plain Node`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
