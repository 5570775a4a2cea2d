// A model and its vocabulary travel together: which vocabulary the CLI (native and wasm) and the
// JS rule (web/src/model-files.mjs) take for a model, with decoy `*.txt.gz` and `*.safetensors`
// files beside it in clean temporary folders. Only documented names count
// (bpe_simple_vocab_16e6.txt.gz, vocab.txt.gz, vocab.json + merges.txt, or the file the model's
// safetensors metadata `clipdb_vocab` names); two candidates are an error naming both, none an
// error naming what was looked for and --vocab.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, modelsDir } from './golden.mjs';
import { pickModelFiles, readSafetensorsMetadata, selectModelFiles } from '../../web/src/model-files.mjs';

const modelDir = path.join(modelsDir, 'clipdb-shapes');
const model = path.join(modelDir, 'model.safetensors');
const vocab = path.join(modelDir, 'vocab.txt.gz');
const haveModel = existsSync(model) && existsSync(vocab);

const clis = [
  ['native', path.join(repoRoot, 'build', 'native', 'clipdb'), []],
  ['wasm', process.execPath, [path.join(repoRoot, 'web', 'bin', 'clipdb.mjs')]],
].filter(([, exe, pre]) => existsSync(pre.length ? path.join(repoRoot, 'web', 'dist', 'clipdb-cli.wasm') : exe));

function run(cli, args) {
  const [, exe, pre] = cli;
  const r = spawnSync(exe, [...pre, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of a safetensors file with `extra` added to its __metadata__. */
function withMetadata(src, dst, extra) {
  const b = readFileSync(src);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  header.__metadata__ = { ...(header.__metadata__ || {}), ...extra };
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(dst, Buffer.concat([len, Buffer.from(json, 'utf8'), b.subarray(8 + n)]));
}

const decoy = (dir) => {
  // Not vocabularies by name: an unrelated gzip text file and a second weights file.
  writeFileSync(path.join(dir, 'aaa-unrelated.txt.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
  writeFileSync(path.join(dir, 'notes.txt.gz'), 'not a vocabulary');
  writeFileSync(path.join(dir, 'decoy.safetensors'), 'not weights either');
};

let skip = false;
if (!haveModel) skip = 'the shipped model models/clipdb-shapes (model.safetensors + vocab.txt.gz) is missing';

describe('CLI: the vocabulary next to a model', { skip: skip || (!clis.length && 'no CLI built (run scripts/build)') }, () => {
  let tmp;
  before(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-vocab-')); });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  for (const cli of clis) {
    const name = cli[0];
    it(`${name}: decoys only -> NOT_FOUND naming the names and --vocab; vocab.txt.gz -> the model's embedding; two -> both named`, () => {
      const dir = path.join(tmp, `m-${name}`);
      mkdirSync(dir);
      const m = path.join(dir, 'model.safetensors');
      copyFileSync(model, m);
      decoy(dir);
      let r = run(cli, ['embed', '--model', m, '--text', 'a red circle']);
      assert.equal(r.status, 1, r.stderr);
      const err = JSON.parse(r.stderr.trim().split('\n').at(-1));
      assert.equal(err.error, 'NOT_FOUND');
      for (const want of ['bpe_simple_vocab_16e6.txt.gz', 'vocab.txt.gz', 'vocab.json + merges.txt', 'clipdb_vocab', '--vocab PATH']) {
        assert.ok(err.message.includes(want), `${want} in ${err.message}`);
      }
      assert.ok(!err.message.includes('aaa-unrelated'), err.message);

      // The reference: the shipped folder, and the same with --vocab given explicitly.
      const ref = run(cli, ['embed', '--model', model, '--text', 'a red circle']);
      assert.equal(ref.status, 0, ref.stderr);
      const explicit = run(cli, ['embed', '--model', m, '--vocab', vocab, '--text', 'a red circle']);
      assert.equal(explicit.stdout, ref.stdout);

      copyFileSync(vocab, path.join(dir, 'vocab.txt.gz'));
      r = run(cli, ['embed', '--model', m, '--text', 'a red circle']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, ref.stdout);
      assert.equal(JSON.parse(r.stdout).length, 64);

      copyFileSync(vocab, path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
      r = run(cli, ['embed', '--model', m, '--text', 'a red circle']);
      assert.equal(r.status, 1);
      const two = JSON.parse(r.stderr.trim());
      assert.equal(two.error, 'INVALID_ARGUMENT');
      assert.match(two.message, /two tokenizer vocabularies/);
      assert.ok(two.message.includes(path.join(dir, 'bpe_simple_vocab_16e6.txt.gz')) && two.message.includes(path.join(dir, 'vocab.txt.gz')), two.message);
      // --vocab settles it
      r = run(cli, ['embed', '--model', m, '--vocab', path.join(dir, 'vocab.txt.gz'), '--text', 'a red circle']);
      assert.equal(r.stdout, ref.stdout);
    });

    it(`${name}: the model's metadata clipdb_vocab names its vocabulary (over the other names); a missing one is named`, () => {
      const dir = path.join(tmp, `meta-${name}`);
      mkdirSync(dir);
      const m = path.join(dir, 'model.safetensors');
      withMetadata(model, m, { clipdb_vocab: 'shapes-tokens.txt.gz' });
      decoy(dir);
      let r = run(cli, ['embed', '--model', m, '--text', 'a blue square']);
      assert.equal(r.status, 1);
      assert.equal(JSON.parse(r.stderr.trim()).error, 'NOT_FOUND');
      assert.ok(r.stderr.includes(path.join(dir, 'shapes-tokens.txt.gz')), r.stderr);
      copyFileSync(vocab, path.join(dir, 'shapes-tokens.txt.gz'));
      // both documented names present too: the metadata decides, so no ambiguity
      copyFileSync(vocab, path.join(dir, 'vocab.txt.gz'));
      writeFileSync(path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'), 'a decoy under a documented name');
      r = run(cli, ['embed', '--model', m, '--text', 'a blue square']);
      assert.equal(r.status, 0, r.stderr);
      const ref = run(cli, ['embed', '--model', model, '--text', 'a blue square']);
      assert.equal(r.stdout, ref.stdout);
    });

  }
});

describe('JS: pickModelFiles / selectModelFiles (web/src/model-files.mjs)', () => {
  const code = (fn) => { try { fn(); return 'no error'; } catch (e) { return [e.name, e.code, e.message]; } };

  it('picks by documented names only; decoys are ignored; two or none are errors naming the files', () => {
    assert.deepEqual(pickModelFiles(['aaa.txt.gz', 'decoy.safetensors', 'model.safetensors', 'vocab.txt.gz']),
      { weights: 'model.safetensors', config: null, vocab: ['vocab.txt.gz'] });
    assert.deepEqual(pickModelFiles(['config.json', 'merges.txt', 'model.safetensors', 'vocab.json', 'other.txt.gz']),
      { weights: 'model.safetensors', config: 'config.json', vocab: ['vocab.json', 'merges.txt'] });
    assert.deepEqual(pickModelFiles(['tiny.safetensors', 'bpe_simple_vocab_16e6.txt.gz']),
      { weights: 'tiny.safetensors', config: null, vocab: ['bpe_simple_vocab_16e6.txt.gz'] });
    const none = code(() => pickModelFiles(['model.safetensors', 'aaa.txt.gz', 'vocab.json']));
    assert.equal(none[0], 'ClipdbError');
    assert.equal(none[1], 'INVALID_ARGUMENT');
    assert.match(none[2], /no tokenizer vocabulary among model\.safetensors, aaa\.txt\.gz, vocab\.json \(looked for bpe_simple_vocab_16e6\.txt\.gz, vocab\.txt\.gz, vocab\.json \+ merges\.txt, or the file named by the weights' safetensors metadata key clipdb_vocab\)/);
    const two = code(() => pickModelFiles(['model.safetensors', 'vocab.txt.gz', 'vocab.json', 'merges.txt']));
    assert.deepEqual(two.slice(0, 2), ['ClipdbError', 'INVALID_ARGUMENT']);
    assert.match(two[2], /two tokenizer vocabularies among the model files: vocab\.txt\.gz and vocab\.json \+ merges\.txt/);
    const weights = code(() => pickModelFiles(['a.safetensors', 'b.safetensors', 'vocab.txt.gz']));
    assert.match(weights[2], /several \.safetensors files and none is model\.safetensors: a\.safetensors, b\.safetensors/);
    assert.match(code(() => pickModelFiles(['vocab.txt.gz']))[2], /no \.safetensors weights among vocab\.txt\.gz/);
    // metadata names the vocabulary: it wins over the documented names, and must be there
    assert.deepEqual(pickModelFiles(['model.safetensors', 'vocab.txt.gz', 'bpe_simple_vocab_16e6.txt.gz', 'mine.txt.gz'], { metadataVocab: 'mine.txt.gz' }).vocab, ['mine.txt.gz']);
    assert.match(code(() => pickModelFiles(['model.safetensors', 'vocab.txt.gz'], { metadataVocab: 'mine.txt.gz' }))[2],
      /names its vocabulary mine\.txt\.gz \(metadata clipdb_vocab\), which is not among model\.safetensors, vocab\.txt\.gz/);
    assert.match(code(() => pickModelFiles(['model.safetensors'], { metadataVocab: '../x.txt.gz' }))[2], /not a file name/);
  });

  it('selectModelFiles reads clipdb_vocab from the weights header (bytes and Blob)', { skip }, async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-model-files-'));
    try {
      const m = path.join(tmp, 'model.safetensors');
      withMetadata(model, m, { clipdb_vocab: 'shapes-tokens.txt.gz' });
      const bytes = readFileSync(m);
      const meta = await readSafetensorsMetadata(bytes);
      assert.equal(meta.clipdb_vocab, 'shapes-tokens.txt.gz');
      assert.equal(meta.naming, 'openai');
      const files = [
        { name: 'model.safetensors', data: new Blob([bytes]) },
        { name: 'vocab.txt.gz', data: new Uint8Array(1) },
        { name: 'shapes-tokens.txt.gz', data: new Uint8Array(2) },
        { name: 'aaa.txt.gz', data: new Uint8Array(3) },
      ];
      const picked = await selectModelFiles(files);
      assert.equal(picked.weights, files[0]);
      assert.equal(picked.config, null);
      assert.deepEqual(picked.vocab, [files[2]]);
      // without the key, the documented name
      const plain = await selectModelFiles([{ name: 'model.safetensors', data: readFileSync(model) }, files[1], files[3]]);
      assert.deepEqual(plain.vocab, [files[1]]);
      // a header that cannot be read is left to the model loader: no metadata, documented names
      const cut = await selectModelFiles([{ name: 'model.safetensors', data: new Uint8Array(5) }, files[1]]);
      assert.deepEqual(cut.vocab, [files[1]]);
      await assert.rejects(readSafetensorsMetadata(new Uint8Array(5)), { name: 'ClipdbError', code: 'BAD_MODEL' });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
