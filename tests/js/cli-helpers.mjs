// Shared by the CLI tests (tests/js/cli-*.test.mjs): the CLI builds present, running one, and
// the shipped model the tests index with.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './golden.mjs';

export const model = path.join(repoRoot, 'models', 'clipdb-shapes', 'model.safetensors');
export const vocab = path.join(repoRoot, 'models', 'clipdb-shapes', 'vocab.txt.gz');
export const haveModel = existsSync(model) && existsSync(vocab);
export const exifDir = path.join(repoRoot, 'tests', 'data', 'exif');

/** [name, executable, leading args]: native build/native/clipdb and the wasm CLI, where built. */
export const clis = [
  ['native', path.join(repoRoot, 'build', 'native', 'clipdb'), []],
  ['wasm', process.execPath, [path.join(repoRoot, 'web', 'bin', 'clipdb.mjs')]],
].filter(([, exe, pre]) => existsSync(pre.length ? path.join(repoRoot, 'web', 'dist', 'clipdb-cli.wasm') : exe));

export function run(cli, args, options = {}) {
  const [, exe, pre] = cli;
  const r = spawnSync(exe, [...pre, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export const jsonLines = (s) => s.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

/** The last JSON error line a command wrote to stderr. */
export const lastError = (r) => JSON.parse(r.stderr.trim().split('\n').at(-1));
