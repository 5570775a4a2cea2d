// The TypeScript declarations (web/src/index.d.ts) type-check every ```js example of the
// README under `tsc --strict`: each block is compiled as its own module against the package
// typings, with the few free names the examples assume (the model bytes, the picked files, a
// progress callback, an AbortSignal, an open database) declared once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './golden.mjs';

const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const skip = existsSync(tsc) ? false : 'typescript is not installed (npm ci)';

const GLOBALS = `// Names the README examples use without defining them.
declare const weights: Uint8Array;
declare const vocab: Uint8Array;
declare const files: File[];
declare const onProgress: (p: { done: number; total: number; id: string | number }) => void;
declare const signal: AbortSignal;
declare const db: import('clipdb').Database;
declare const fresh: import('clipdb').Database;
declare const wasmModule: WebAssembly.Module;
declare const exported: Uint8Array;
`;

test('README examples type-check against index.d.ts with tsc --strict', { skip, timeout: 120000 }, async () => {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2, `found ${blocks.length} js blocks in README.md`);
  const dir = await mkdtemp(path.join(tmpdir(), 'clipdb-types-'));
  try {
    const files = ['globals.d.ts'];
    await writeFile(path.join(dir, 'globals.d.ts'), GLOBALS);
    for (const [i, code] of blocks.entries()) {
      const name = `readme-${i}.ts`;
      await writeFile(path.join(dir, name), `${code}\nexport {};\n`);
      files.push(name);
    }
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
        lib: ['es2022', 'dom', 'dom.iterable'], types: [], skipLibCheck: false,
        paths: { clipdb: [path.join(repoRoot, 'web', 'src', 'index.d.ts')] },
      },
      files,
    }));
    let out = '';
    try { execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' }); } catch (e) { out = `${e.stdout}${e.stderr}`; }
    assert.equal(out, '', `tsc --strict reported:\n${out}\n(blocks in ${dir})`);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
