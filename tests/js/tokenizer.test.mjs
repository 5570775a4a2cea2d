// The tokenizer on the wasm build (web/src/text.mjs -> web/dist/clipdb.wasm) against the
// official one: `text/<i>/tokens` of ../shared/golden tiny-vit/reference.safetensors for all
// 42 golden texts, from OpenAI's .txt.gz and from HF's vocab.json + merges.txt; TEXT_TOO_LONG
// for the texts the manifest marks truncated; no leak; the wasm (and native) CLI's `tokenize`,
// and `embed --model tiny-vit --text` against `text/<i>/embedding` (1e-4 * max|ref|).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { goldenSkip, goldenPath, repoRoot } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';

const dist = path.join(repoRoot, 'web', 'dist', 'clipdb.wasm');
const skip = goldenSkip || (existsSync(dist) ? false : `wasm build missing (${dist}); run scripts/build`);

describe('tokenizer (wasm)', { skip }, () => {
  let api, mod, texts, manifest, ref;
  const tokenizers = {};

  before(async () => {
    api = await import('../../web/src/index.mjs');
    mod = await api.getModule();
    texts = JSON.parse(readFileSync(goldenPath('texts.json'), 'utf8'));
    manifest = JSON.parse(readFileSync(goldenPath('tiny-vit', 'manifest.json'), 'utf8'));
    ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
    tokenizers.openai = await api.createTokenizer({
      'bpe_simple_vocab_16e6.txt.gz': readFileSync(goldenPath('bpe_simple_vocab_16e6.txt.gz')),
    });
    tokenizers.hf = await api.createTokenizer([
      { name: 'vocab.json', data: readFileSync(goldenPath('tiny-vit', 'hf', 'vocab.json')) },
      { name: 'merges.txt', data: readFileSync(goldenPath('tiny-vit', 'hf', 'merges.txt')) },
    ]);
  });

  after(() => {
    for (const t of Object.values(tokenizers)) t.free();
  });

  for (const format of ['openai', 'hf']) {
    it(`all 42 golden texts give the reference ids (${format} vocabulary)`, () => {
      const tok = tokenizers[format];
      assert.equal(tok.vocabSize, 49408);
      assert.equal(tok.sot, 49406);
      assert.equal(tok.eot, 49407);
      assert.equal(texts.length, 42);
      for (let i = 0; i < texts.length; i++) {
        const expect = ref.i32(`text/${i}/tokens`);
        const got = tok.tokenize(texts[i], { truncate: true });
        assert.ok(got instanceof Int32Array && got.length === 77);
        assert.deepEqual(Array.from(got), Array.from(expect), `text ${i}: ${JSON.stringify(texts[i])}`);
        if (manifest.texts[i].truncated) {
          assert.throws(() => tok.tokenize(texts[i]), (e) => {
            assert.equal(e.name, 'ClipdbError');
            assert.equal(e.code, 'TEXT_TOO_LONG');
            assert.match(e.message, new RegExp(`${manifest.texts[i].n_tokens_incl_sot_eot_before_truncation} tokens`));
            return true;
          }, `text ${i} should be too long`);
        } else {
          assert.deepEqual(Array.from(tok.tokenize(texts[i])), Array.from(expect), `text ${i} without truncate`);
        }
      }
    });
  }

  it('the module-level tokenize() uses the default tokenizer', () => {
    api.setDefaultTokenizer(tokenizers.openai);
    const ids = api.tokenize('hello world');
    assert.deepEqual(Array.from(ids.subarray(0, 5)), [49406, 3306, 1002, 49407, 0]);
    assert.deepEqual(Array.from(api.tokenize('hello world', { tokenizer: tokenizers.hf }).subarray(0, 4)), [49406, 3306, 1002, 49407]);
  });

  it('rejects bad input with named errors', async () => {
    const tok = tokenizers.openai;
    assert.throws(() => tok.tokenize(42), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => tok.tokenize('x', { contextLength: 1 }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(api.createTokenizer({ 'vocab.txt.gz': new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2]) }), { code: 'BAD_VOCAB' });
    await assert.rejects(api.createTokenizer({ 'vocab.txt': '#version: 0.2\nonlyonesymbol\n' }), (e) => {
      assert.equal(e.code, 'BAD_VOCAB');
      assert.match(e.message, /line 2/);
      return true;
    });
    await assert.rejects(api.createTokenizer([]), { code: 'INVALID_ARGUMENT' });
  });

  it('a small vocabulary in the OpenAI format sizes itself from the file', async () => {
    // 2 merges: ids 0..511 bytes (a</w> = 256 + 64), 512 "ca", 513 "cat</w>", SOT 514, EOT 515
    const tok = await api.createTokenizer({ 'tiny.txt': '#version: 0.2\nc a\nca t</w>\n' });
    try {
      assert.equal(tok.vocabSize, 516);
      assert.equal(tok.sot, 514);
      assert.equal(tok.eot, 515);
      assert.deepEqual(Array.from(tok.tokenize('Cat a').subarray(0, 5)), [514, 513, 320, 515, 0]);
    } finally {
      tok.free();
    }
  });

  it('does not leak: allocated bytes return to baseline', async () => {
    const before = mod._clipdb_allocated_bytes();
    const tok = await api.createTokenizer({ 'bpe_simple_vocab_16e6.txt.gz': readFileSync(goldenPath('bpe_simple_vocab_16e6.txt.gz')) });
    for (const t of texts) tok.tokenize(t, { truncate: true });
    tok.free();
    assert.equal(mod._clipdb_allocated_bytes(), before);
  });
});

describe('clipdb tokenize (CLI)', { skip }, () => {
  const clis = [['wasm', process.execPath, [path.join(repoRoot, 'web', 'bin', 'clipdb.mjs')]]];
  const native = path.join(repoRoot, 'build', 'native', 'clipdb');
  if (existsSync(native)) clis.push(['native', native, []]);
  for (const [kind, exe, pre] of clis) {
    it(`prints one JSON array of 77 ids per text (${kind})`, () => {
      const texts = JSON.parse(readFileSync(goldenPath('texts.json'), 'utf8'));
      const ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
      const pick = [0, 7, 15, 24, 30, 39];
      for (const vocab of [goldenPath('bpe_simple_vocab_16e6.txt.gz'), goldenPath('tiny-vit', 'hf')]) {
        const out = execFileSync(exe, [...pre, 'tokenize', '--vocab', vocab, '--truncate', ...pick.map((i) => texts[i])], { encoding: 'utf8' });
        const lines = out.trim().split('\n');
        assert.equal(lines.length, pick.length);
        pick.forEach((i, k) => assert.deepEqual(JSON.parse(lines[k]), Array.from(ref.i32(`text/${i}/tokens`)), `text ${i} via ${vocab}`));
      }
      // a directory holding some other *.txt.gz (a model's own vocabulary) is found too
      const dir = mkdtempSync(path.join(os.tmpdir(), 'clipdb-vocab-'));
      try {
        copyFileSync(goldenPath('bpe_simple_vocab_16e6.txt.gz'), path.join(dir, 'own-vocab.txt.gz'));
        const out = execFileSync(exe, [...pre, 'tokenize', '--vocab', dir, texts[0]], { encoding: 'utf8' });
        assert.deepEqual(JSON.parse(out), Array.from(ref.i32('text/0/tokens')));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const r = spawnSync(exe, [...pre, 'tokenize', '--vocab', goldenPath('bpe_simple_vocab_16e6.txt.gz'), texts[41]], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      const err = JSON.parse(r.stderr.trim());
      assert.equal(err.error, 'TEXT_TOO_LONG');
      assert.match(err.message, /78 tokens/);
    });
  }

  for (const [kind, exe, pre] of clis) {
    it(`embed --model tiny-vit --text reproduces text/<i>/embedding for all 42 texts (${kind})`, () => {
      const texts = JSON.parse(readFileSync(goldenPath('texts.json'), 'utf8'));
      const ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
      // the vocabulary is found beside the model: ../bpe_simple_vocab_16e6.txt.gz for the
      // OpenAI-named folder, vocab.json + merges.txt inside the HF folder
      for (const model of [goldenPath('tiny-vit'), goldenPath('tiny-vit', 'hf')]) {
        const out = execFileSync(exe, [...pre, 'embed', '--model', model, ...texts.flatMap((t) => ['--text', t])],
          { encoding: 'utf8', maxBuffer: 1 << 26 });
        const lines = out.trim().split('\n');
        assert.equal(lines.length, texts.length);
        lines.forEach((line, i) => {
          const got = JSON.parse(line), want = ref.f32(`text/${i}/embedding`);
          let maxRef = 0, maxD = 0;
          for (let k = 0; k < want.length; k++) {
            maxRef = Math.max(maxRef, Math.abs(want[k]));
            maxD = Math.max(maxD, Math.abs(got[k] - want[k]));
          }
          assert.ok(maxD <= 1e-4 * maxRef, `text ${i} via ${model}: max|d| ${maxD} > 1e-4 * ${maxRef}`);
        });
      }
    });
  }
});

// gzip vocabularies on the wasm build (no golden data needed): the fixtures of
// tests/c/test-tokenizer-gzip.c (scripts/gen-gzip-fixtures.py: the clipdb-shapes vocabulary at
// gzip levels 0/1/6/9, with FNAME, with every optional header field, as two members) give the
// ids of the Python training tokenizer; the truncated and bad-CRC copies are BAD_VOCAB errors
// naming the problem. JS does no gzip handling of its own: the bytes go to the C tokenizer.
describe('tokenizer gzip vocabularies (wasm)', { skip: existsSync(dist) ? false : `wasm build missing (${dist}); run scripts/build` }, () => {
  const dir = path.join(repoRoot, 'tests', 'data', 'gzip');
  const want = {
    'a red circle': [630, 320, 600, 539, 631],
    'a photo of a small blue square on the left': [630, 320, 564, 512, 320, 607, 580, 533, 560, 518, 611, 631],
    'Two purple STARS next to a pink heart!': [630, 83, 86, 334, 585, 534, 515, 338, 620, 621, 320, 602, 549, 256, 631],
    'zebra 42': [630, 89, 68, 65, 81, 320, 275, 273, 631],
  };
  const good = ['vocab-l0.txt.gz', 'vocab-l1.txt.gz', 'vocab-l6-fname.txt.gz', 'vocab-l9.txt.gz',
    'vocab-l9-fname.txt.gz', 'vocab-flags.txt.gz', 'vocab-members.txt.gz'];
  let api;
  before(async () => { api = await import('../../web/src/index.mjs'); });

  for (const name of good) {
    it(`${name} loads and gives the training tokenizer's ids`, async () => {
      const tok = await api.createTokenizer({ 'vocab.txt.gz': readFileSync(path.join(dir, name)) });
      try {
        assert.equal(tok.vocabSize, 632);
        for (const [text, ids] of Object.entries(want)) {
          const got = Array.from(tok.tokenize(text));
          assert.deepEqual(got, [...ids, ...new Array(77 - ids.length).fill(0)], `${name}: ${text}`);
        }
      } finally {
        tok.free();
      }
    });
  }

  it('truncated and bad-CRC copies are BAD_VOCAB with the reason', async () => {
    for (const [name, reason] of [['vocab-l9-truncated.txt.gz', /truncated gzip data/], ['vocab-l9-badcrc.txt.gz', /CRC-32 mismatch in gzip member 1/]]) {
      await assert.rejects(api.createTokenizer({ 'vocab.txt.gz': readFileSync(path.join(dir, name)) }), (e) => {
        assert.equal(e.code, 'BAD_VOCAB', name);
        assert.match(e.message, reason, name);
        return true;
      });
    }
  });
});
