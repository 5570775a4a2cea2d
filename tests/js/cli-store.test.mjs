// The CLI store (native build/native/clipdb and wasm `node web/bin/clipdb.mjs`) records what its
// vectors were made with and holds to it: the vocabulary found next to the model at `index`
// time (path, size, hash) is the one `search --text` uses, a changed vocabulary is refused by
// name, and the EXIF policy of `index --exif` is kept for later runs and image queries.
// Each test works in its own temporary folder with decoy files beside the model.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clis, run, jsonLines, lastError, model, vocab, haveModel, exifDir } from './cli-helpers.mjs';

let skip = false;
if (!haveModel) skip = 'the shipped model models/clipdb-shapes (model.safetensors + vocab.txt.gz) is missing';
else if (!clis.length) skip = 'no CLI built (run scripts/build)';

describe('CLI store: recorded vocabulary and EXIF policy', { skip }, () => {
  let tmp;
  before(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-store-')); });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  for (const cli of clis) {
    const name = cli[0];
    it(`${name}: search --text uses exactly the vocabulary index recorded; a changed one is refused by name`, () => {
      const dir = path.join(tmp, `model-${name}`), images = path.join(tmp, `img-${name}`), store = path.join(tmp, `store-${name}`);
      mkdirSync(dir);
      mkdirSync(images);
      const m = path.join(dir, 'model.safetensors'), v = path.join(dir, 'vocab.txt.gz');
      copyFileSync(model, m);
      copyFileSync(vocab, v);
      writeFileSync(path.join(dir, 'aaa-decoy.txt.gz'), 'not a vocabulary');
      for (const f of ['no-tag.jpg', 'orientation3.jpg', 'orientation6.jpg']) copyFileSync(path.join(exifDir, f), path.join(images, f));
      let r = run(cli, ['index', '--model', m, '--store', store, images]);
      assert.equal(r.status, 0, r.stderr);
      const want = run(cli, ['search', '--store', store, '--text', 'a red circle', '-n', '3']);
      assert.equal(want.status, 0, want.stderr);
      assert.equal(jsonLines(want.stdout).length, 3);

      // A second documented name beside the model now: the rule alone would refuse (two
      // candidates), but the store knows which one it was indexed with.
      copyFileSync(vocab, path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
      r = run(cli, ['search', '--store', store, '--text', 'a red circle', '-n', '3']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, want.stdout);
      // ... and another index run into the store, with the model folder ambiguous, needs --vocab
      r = run(cli, ['index', '--model', m, '--store', store, images]);
      assert.equal(r.status, 1);
      assert.match(lastError(r).message, /two tokenizer vocabularies/);
      r = run(cli, ['index', '--model', m, '--vocab', v, '--store', store, images]);
      assert.equal(r.status, 0, r.stderr);

      // The recorded file changed: refused, naming it.
      const good = readFileSync(v);
      writeFileSync(v, Buffer.concat([good, Buffer.from([0])]));
      r = run(cli, ['search', '--store', store, '--text', 'a red circle']);
      assert.equal(r.status, 1);
      const e = lastError(r);
      assert.equal(e.error, 'INVALID_STATE');
      assert.ok(e.message.includes(`vocabulary ${v} changed or is gone since store`), e.message);
      // --vocab: a moved copy with the same bytes is accepted, different bytes are refused
      const moved = path.join(tmp, `moved-${name}.txt.gz`);
      writeFileSync(moved, good);
      r = run(cli, ['search', '--store', store, '--vocab', moved, '--text', 'a red circle', '-n', '3']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, want.stdout);
      r = run(cli, ['search', '--store', store, '--vocab', v, '--text', 'a red circle']);
      assert.equal(r.status, 1);
      assert.ok(lastError(r).message.includes(`--vocab ${v} is not the vocabulary store`), r.stderr);
      // index with a different vocabulary into this store: refused
      r = run(cli, ['index', '--model', m, '--vocab', v, '--store', store, images]);
      assert.equal(r.status, 1);
      assert.match(lastError(r).message, /was indexed with vocabulary .*vocab\.txt\.gz, which differs from/);
      writeFileSync(v, good);
      r = run(cli, ['search', '--store', store, '--text', 'a red circle', '-n', '3']);
      assert.equal(r.stdout, want.stdout);
    });

    it(`${name}: the EXIF policy of index is kept: image queries use it, a run with the other policy is refused`, () => {
      const images = path.join(tmp, `exif-img-${name}`), store = path.join(tmp, `exif-store-${name}`);
      mkdirSync(images);
      for (const f of ['no-tag.jpg', 'orientation6.jpg', 'orientation8.jpg']) copyFileSync(path.join(exifDir, f), path.join(images, f));
      let r = run(cli, ['index', '--model', model, '--store', store, '--exif', 'ignore', images]);
      assert.equal(r.status, 0, r.stderr);
      const q = path.join(images, 'orientation6.jpg');
      // The three files hold the same pixels and differ only in their EXIF orientation tag.
      // The store's policy (ignore) for the query: it is embedded exactly as the stored vectors.
      r = run(cli, ['search', '--store', store, '--image', q, '-n', '3']);
      assert.equal(r.status, 0, r.stderr);
      let hits = jsonLines(r.stdout);
      assert.equal(hits.length, 3);
      for (const h of hits) assert.ok(Math.abs(h.score - 1) < 1e-5, `${h.file}: ${h.score}`);
      // --exif apply for the query turns it upright (90 degrees): no stored vector matches it exactly
      r = run(cli, ['search', '--store', store, '--image', q, '--exif', 'apply', '-n', '3']);
      assert.equal(r.status, 0, r.stderr);
      hits = jsonLines(r.stdout);
      assert.ok(hits[0].score < 0.9999, `rotated query scored ${hits[0].score}`);
      r = run(cli, ['index', '--model', model, '--store', store, '--exif', 'apply', images]);
      assert.equal(r.status, 1);
      assert.match(lastError(r).message, /holds images embedded with --exif ignore, not apply/);
      r = run(cli, ['index', '--model', model, '--store', store, images]); // no --exif: the store's
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(jsonLines(r.stdout).at(-1).unchanged, 3);
    });
  }
});
