// A folder indexed by the native CLI (`clipdb index`), exported (`clipdb export`) and imported
// into the JS store (`importData`): `like({text})` in the wasm build gives the CLI's own
// `clipdb search --text` ranking, and `like({_id})` the CLI's `--image` ranking, with nothing
// re-embedded. Pictures are generated at test time (scripts/shapes.py, a seed the shipped model
// never saw), in a temporary folder.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './golden.mjs';
import { clis, run, jsonLines, model, vocab, haveModel } from './cli-helpers.mjs';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const havePil = spawnSync(python, ['-c', 'import numpy, PIL']).status === 0;
const native = clis.find(([name]) => name === 'native');

let skip = false;
if (!haveModel) skip = 'the shipped model models/clipdb-shapes is missing';
else if (!native) skip = 'the native CLI is not built (run scripts/build)';
else if (!havePil) skip = `${python} lacks numpy or Pillow (scripts/setup installs them)`;

const QUERIES = ['a red circle', 'a large blue star', 'a photo of a yellow heart', 'a green square'];

/**
 * `got` ([[id, score]]) against the CLI's `want` ([[file, score]]): the same ids in the same
 * order, except that neighbours whose CLI scores differ by less than `tol` may swap (the native
 * and wasm kernels round differently), and scores within `tol`.
 */
function sameRanking(got, want, tol, what) {
  assert.equal(got.length, want.length, `${what}: count`);
  const wantScore = new Map(want.map(([f, s]) => [f, s]));
  for (let i = 0; i < got.length; i++) {
    const [id, score] = got[i];
    assert.ok(wantScore.has(id), `${what}: ${id} at rank ${i + 1} is not in the CLI's top ${want.length}`);
    assert.ok(Math.abs(score - wantScore.get(id)) <= tol, `${what}: ${id} scores ${score} here, ${wantScore.get(id)} in the CLI`);
    if (got[i][0] !== want[i][0]) assert.ok(Math.abs(want[i][1] - wantScore.get(id)) <= tol, `${what}: rank ${i + 1} is ${id} here, ${want[i][0]} in the CLI`);
  }
}

describe('a CLI-indexed folder, exported and imported into the JS store, gives the CLI\'s ranking', { skip }, () => {
  let tmp, images, store, file, C, db, calls = 0;
  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-import-'));
    images = path.join(tmp, 'images');
    store = path.join(tmp, 'store');
    file = path.join(tmp, 'folder.clipdb');
    const g = spawnSync(python, [path.join(repoRoot, 'scripts', 'shapes.py'), 'write', '--out', images, '--seed', '9127', '--grid', '1', '--two', '8'], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    let r = run(native, ['index', '--model', model, '--store', store, images]);
    assert.equal(r.status, 0, r.stderr);
    r = run(native, ['export', '--store', store, '--out', file]);
    assert.equal(r.status, 0, r.stderr);
    C = await import('../../web/src/index.mjs');
    const manifest = JSON.parse(spawnSync('tar', ['-xOf', file, 'clipdb-export.json'], { encoding: 'utf8' }).stdout);
    const identifier = manifest.vectorIndexes[0].model.identifier.replace(/#visual(\+exif)?$/, '');
    const clip = await C.loadModel({ 'model.safetensors': readFileSync(model) });
    const tokenizer = await C.createTokenizer({ 'vocab.txt.gz': readFileSync(vocab) });
    const { visual, text } = C.clipModels({ clip, tokenizer, identifier });
    const encode = visual.encode;
    visual.encode = (...a) => { calls++; return encode.apply(visual, a); };
    db = await C.openDatabase({ storage: 'memory' });
    await db.importData(new Blob([readFileSync(file)]));
    const added = await db.add(new C.VectorIndex('images', {
      indexingListener: new C.Listener({ model: visual, key: 'image', select: { collection: 'photos' } }),
      compatibleListener: new C.Listener({ model: text, key: 'text', select: { collection: 'photos' } }),
    }));
    assert.deepEqual(added, { loaded: readdirSync(images).length, embedded: 0 });
  });
  after(async () => {
    await db?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const q of QUERIES) {
    it(`"${q}": top 20 as clipdb search ranks them`, async () => {
      const r = run(native, ['search', '--store', store, '--text', q, '-n', '20', '--vocab', vocab]);
      assert.equal(r.status, 0, r.stderr);
      const want = jsonLines(r.stdout).map((h) => [h.file, h.score]);
      const got = (await db.collection('photos').like({ text: q }, { vectorIndex: 'images', n: 20 }).find()).map((d) => [d._id, d.score]);
      // the text query is embedded by the wasm build here and by the native one in the CLI
      sameRanking(got, want, 2e-4, q);
    });
  }

  it('an image query: like({_id}) with the stored vector ranks as clipdb search --image, nothing embedded', async () => {
    const picture = readdirSync(images).filter((f) => /^img\d+-[a-z]+-[a-z]+\.(jpg|png)$/.test(f)).sort()[0];
    const abs = path.join(images, picture);
    const r = run(native, ['search', '--store', store, '--image', abs, '-n', '20']);
    assert.equal(r.status, 0, r.stderr);
    const want = jsonLines(r.stdout).map((h) => [h.file, h.score]);
    const got = (await db.collection('photos').like({ _id: want[0][0] }, { vectorIndex: 'images', n: 20 }).find()).map((d) => [d._id, d.score]);
    assert.equal(got[0][0], abs);
    sameRanking(got, want, 1e-5, picture);
    assert.equal(calls, 0, 'no image was embedded');
  });
});
