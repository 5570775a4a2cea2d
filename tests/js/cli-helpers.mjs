// Shared by the CLI tests (tests/js/cli-*.test.mjs): the CLI builds present, running one, and
// the shipped model the tests index with.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, modelsDir } from './golden.mjs';

export const model = path.join(modelsDir, 'clipdb-shapes', 'model.safetensors');
export const vocab = path.join(modelsDir, 'clipdb-shapes', 'vocab.txt.gz');
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

/** FNV-1a 64 of `bytes` (as the CLI store's checksum). */
export function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}

/**
 * An independent reader of the CLI store file (format versions 1 and 2, src/cli/store-file.h):
 * {version, dim, modelPath, modelSize, modelHash, vocab: [paths], vocabSize, vocabHash, exif
 * (these four from version 2 on),
 * entries: [{path, size, mtime, vector: Float32Array}], checksumOk}.
 */
export function readStoreFile(bytes) {
  const b = Buffer.from(bytes);
  assertMagic(b);
  let at = 8;
  const u32 = () => { const v = b.readUInt32LE(at); at += 4; return v; };
  const u64 = () => { const v = b.readBigUInt64LE(at); at += 8; return v; };
  const str = () => { const n = u32(); const s = b.subarray(at, at + n).toString('utf8'); at += n; return s; };
  const out = { version: u32(), dim: u32() };
  const count = Number(u64());
  out.modelSize = u64();
  out.modelHash = u64();
  out.modelPath = str();
  if (out.version !== 1 && out.version !== 2) throw new Error(`store version ${out.version}`);
  if (out.version === 2) {
    out.vocab = [str(), str()].filter((s) => s);
    out.vocabSize = u64();
    out.vocabHash = u64();
    out.exif = u32();
  }
  out.entries = [];
  for (let i = 0; i < count; i++) {
    const p = str(), size = Number(u64()), mtime = Number(b.readBigInt64LE(at));
    at += 8;
    const vector = new Float32Array(out.dim);
    for (let k = 0; k < out.dim; k++) vector[k] = b.readFloatLE(at + 4 * k);
    at += 4 * out.dim;
    out.entries.push({ path: p, size, mtime, vector });
  }
  out.checksumOk = at === b.length - 8 && fnv1a64(b.subarray(0, at)) === b.readBigUInt64LE(at);
  return out;
}

function assertMagic(b) {
  if (b.length < 20 || b.subarray(0, 8).toString('latin1') !== 'CLIPDBST') throw new Error('not a clipdb store');
}
