// The main job end to end, through the CLI (native build/native/clipdb and the wasm
// `node web/bin/clipdb.mjs`), with the shipped default model models/clipdb-shapes:
//   * scripts/shapes.py writes fresh held-out images (a seed training never used): 2 JPEG/PNG
//     images of every colour x shape, at varied sizes and aspect ratios, plus a corrupt JPEG
//     and a truncated PNG;
//   * `clipdb index` embeds them into a store, reports each corrupt file by name on stderr and
//     keeps going; re-running skips every unchanged file;
//   * `clipdb search --text "a {colour} {shape}"` for the whole grid: text->image top-1 (the
//     best hit shows that colour and shape) >= 0.9 and recall@5 (one of the best five does)
//     >= 0.97, the figures models/README.md quotes; the same grid with the model quantized to
//     int8 by `clipdb quantize` loses at most 0.01 of either;
//   * `clipdb search --image` finds the query image itself first;
//   * a deleted image leaves the store on re-index; a truncated store file and a model file changed
//     since indexing are refused with a clear error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, modelsDir } from './golden.mjs';

const SEED = 90210; // training uses 20261130 (+1, +2) and evaluates on 777/778
const model = path.join(modelsDir, 'clipdb-shapes', 'model.safetensors');
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const havePython = spawnSync(python, ['-c', 'import PIL, numpy']).status === 0;

const clis = [
  ['native', path.join(repoRoot, 'build', 'native', 'clipdb'), []],
  ['wasm', process.execPath, [path.join(repoRoot, 'web', 'bin', 'clipdb.mjs')]],
].filter(([name, exe, pre]) => existsSync(pre.length ? path.join(repoRoot, 'web', 'dist', 'clipdb-cli.wasm') : exe));

function run(cli, args) {
  const [, exe, pre] = cli;
  const r = spawnSync(exe, [...pre, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const jsonLines = (s) => s.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

let skip = false;
if (!havePython) skip = `${python} with PIL and numpy is missing (scripts/setup installs python3-pil, python3-numpy)`;
else if (!clis.length) skip = 'no CLI built (run scripts/build)';

describe('clipdb index/search with the shipped model (held-out generated images)', { skip }, () => {
  let tmp, images, manifest;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-retrieval-'));
    images = path.join(tmp, 'images');
    const g = spawnSync(python, [path.join(repoRoot, 'scripts', 'shapes.py'), 'write', '--out', images,
      '--seed', String(SEED), '--grid', '2', '--manifest', path.join(tmp, 'manifest.json')], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    manifest = JSON.parse(readFileSync(path.join(tmp, 'manifest.json'), 'utf8'));
    // Damaged files, one in a sub-folder: they must be reported by name and skipped.
    mkdirSync(path.join(images, 'broken'));
    writeFileSync(path.join(images, 'broken', 'corrupt.jpg'), Buffer.from('\xff\xd8\xff\xe0 this is not really a JPEG'));
    const png = readFileSync(path.join(images, manifest.images.find((m) => m.file.endsWith('.png')).file));
    writeFileSync(path.join(images, 'truncated.png'), png.subarray(0, 200));
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  // text->image over the colour x shape grid through `cli` on `store`: the fraction of queries
  // whose best hit (top-1) or one of the best five (recall@5) shows that colour and shape.
  const floatScores = new Map();
  function gridScores(cli, store) {
    const truth = new Map(manifest.images.map((m) => [m.file, `${m.objects[0].colour} ${m.objects[0].shape}`]));
    let top1 = 0, r5 = 0, n = 0;
    const misses = [];
    for (const colour of manifest.colours) {
      for (const shape of manifest.shapes) {
        const want = `${colour} ${shape}`;
        const r = run(cli, ['search', '--store', store, '--text', `a ${want}`, '-n', '5']);
        assert.equal(r.status, 0, r.stderr);
        const hits = jsonLines(r.stdout);
        assert.equal(hits.length, 5);
        assert.deepEqual(hits.map((h) => h.rank), [1, 2, 3, 4, 5]);
        for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score, 'scores descending');
        const labels = hits.map((h) => truth.get(path.basename(h.file)));
        n++;
        if (labels[0] === want) top1++;
        else misses.push(`"a ${want}" -> ${labels[0]}`);
        if (labels.includes(want)) r5++;
      }
    }
    return { top1: top1 / n, r5: r5 / n, n, misses };
  }

  for (const cli of clis) {
    const name = cli[0];
    it(`${name}: index reports the corrupt files by name, skips them, and re-runs incrementally`, () => {
      const store = path.join(tmp, `store-${name}`);
      let r = run(cli, ['index', '--model', model, '--store', store, images]);
      assert.equal(r.status, 0, r.stderr);
      let sum = jsonLines(r.stdout).at(-1);
      assert.equal(sum.embedded, manifest.images.length);
      assert.equal(sum.images, manifest.images.length);
      assert.equal(sum.failed, 2);
      assert.match(r.stderr, /broken\/corrupt\.jpg/);
      assert.match(r.stderr, /truncated\.png/);
      r = run(cli, ['index', '--model', model, '--store', store, images]);
      assert.equal(r.status, 0, r.stderr);
      sum = jsonLines(r.stdout).at(-1);
      assert.deepEqual([sum.embedded, sum.unchanged, sum.failed, sum.images],
        [0, manifest.images.length, 2, manifest.images.length]);
    });

    it(`${name}: text->image over the colour x shape grid: top-1 >= 0.9, recall@5 >= 0.97`, () => {
      const { top1, r5, n, misses } = gridScores(cli, path.join(tmp, `store-${name}`));
      floatScores.set(name, { top1, r5 });
      console.log(`# ${name}: text->image over ${n} queries, ${manifest.images.length} held-out images: ` +
        `top-1 ${top1.toFixed(3)}, recall@5 ${r5.toFixed(3)}; top-1 misses: ${misses.join(', ') || 'none'}`);
      assert.equal(n, 80);
      assert.ok(top1 >= 0.9, `top-1 ${top1}`);
      assert.ok(r5 >= 0.97, `recall@5 ${r5}`);
    });

    it(`${name}: the shipped model quantized to int8 (clipdb quantize) loses at most 0.01 of top-1 and recall@5`, () => {
      const dir = path.join(tmp, `int8-${name}`);
      mkdirSync(dir);
      const q = path.join(dir, 'model.safetensors');
      let r = run(cli, ['quantize', '--model', model, '--out', q, '--dtype', 'int8']);
      assert.equal(r.status, 0, r.stderr);
      writeFileSync(path.join(dir, 'vocab.txt.gz'), readFileSync(path.join(path.dirname(model), 'vocab.txt.gz')));
      r = run(cli, ['info', '--model', q]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).weights, 'int8');
      const store = path.join(tmp, `store-int8-${name}`);
      r = run(cli, ['index', '--model', q, '--store', store, images]);
      assert.equal(r.status, 0, r.stderr);
      if (!floatScores.has(name)) floatScores.set(name, gridScores(cli, path.join(tmp, `store-${name}`)));
      const f = floatScores.get(name), i8 = gridScores(cli, store);
      console.log(`# ${name}: int8 copy (${statSync(q).size} bytes, float32 ${statSync(model).size}): top-1 ${i8.top1.toFixed(3)} ` +
        `(float32 ${f.top1.toFixed(3)}), recall@5 ${i8.r5.toFixed(3)} (float32 ${f.r5.toFixed(3)}); top-1 misses: ${i8.misses.join(', ') || 'none'}`);
      assert.equal(i8.n, 80);
      assert.ok(i8.top1 >= f.top1 - 0.01 - 1e-9, `int8 top-1 ${i8.top1} against float32 ${f.top1}`);
      assert.ok(i8.r5 >= f.r5 - 0.01 - 1e-9, `int8 recall@5 ${i8.r5} against float32 ${f.r5}`);
      assert.ok(statSync(q).size < 0.5 * statSync(model).size, 'the int8 file is under half the float32 one');
    });

    it(`${name}: an image query finds that image first`, () => {
      const store = path.join(tmp, `store-${name}`);
      const q = manifest.images[7].file;
      const r = run(cli, ['search', '--store', store, '--image', path.join(images, q), '-n', '3']);
      assert.equal(r.status, 0, r.stderr);
      const hits = jsonLines(r.stdout);
      assert.equal(hits.length, 3);
      assert.equal(path.basename(hits[0].file), q);
      assert.ok(Math.abs(hits[0].score - 1) < 1e-4, `self-similarity ${hits[0].score}`);
    });

    it(`${name}: a deleted image leaves the store; a damaged store or a changed model is refused`, () => {
      const dir = path.join(tmp, `small-${name}`), store = path.join(tmp, `store-small-${name}`);
      mkdirSync(dir);
      for (const m of manifest.images.slice(0, 3)) writeFileSync(path.join(dir, m.file), readFileSync(path.join(images, m.file)));
      // The model travels with its vocabulary (found by its documented name); decoy files
      // beside it must not be taken for either.
      const modelDir = path.join(tmp, `model-${name}`);
      mkdirSync(modelDir);
      const copy = path.join(modelDir, 'model.safetensors');
      writeFileSync(copy, readFileSync(model));
      writeFileSync(path.join(modelDir, 'vocab.txt.gz'), readFileSync(path.join(path.dirname(model), 'vocab.txt.gz')));
      writeFileSync(path.join(modelDir, 'aaa-decoy.txt.gz'), 'not a vocabulary');
      writeFileSync(path.join(modelDir, 'decoy.safetensors'), 'not a model');
      let r = run(cli, ['index', '--model', copy, '--store', store, dir]);
      assert.equal(r.status, 0, r.stderr);
      rmSync(path.join(dir, manifest.images[1].file));
      r = run(cli, ['index', '--model', copy, '--store', store, dir]);
      const sum = jsonLines(r.stdout).at(-1);
      assert.deepEqual([sum.images, sum.unchanged, sum.removed], [2, 2, 1]);
      r = run(cli, ['search', '--store', store, '--text', 'a red circle', '-n', '10']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(jsonLines(r.stdout).map((h) => path.basename(h.file)).sort(),
        [manifest.images[0].file, manifest.images[2].file].sort());
      // A truncated store file (as a crash mid-write would leave, were it not renamed into place).
      const bin = path.join(store, 'clipdb-store.bin');
      const good = readFileSync(bin);
      writeFileSync(bin, good.subarray(0, good.length - 20));
      r = run(cli, ['search', '--store', store, '--text', 'a red circle']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /checksum mismatch/);
      writeFileSync(bin, good);
      // The model file changed after indexing: search refuses rather than mixing embeddings.
      const bytes = readFileSync(copy);
      bytes[bytes.length - 1] ^= 1;
      writeFileSync(copy, bytes);
      r = run(cli, ['search', '--store', store, '--text', 'a red circle']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /changed since/);
    });
  }
});
