// EXIF orientation on the wasm build: one policy on every path, 'apply' by
// default, 'ignore' as the explicit reference-parity option.
//  - defaultImageOptions().exif is 'apply'; preprocess() of the generated orientation photos
//    (tests/data/exif, scripts/make-exif-fixtures.py: 320x160, red left / blue right, EXIF
//    orientation none/3/6/8) gives the upright layout by default (orientation 6: top half of
//    the 224x224 input red, bottom half blue) and the untagged layout with exif 'ignore';
//    the wasm CLI (`preprocess`, `embed --image`) does the same without --exif;
//  - golden: the defaults embed exif_orientation6.jpg like the reference run on
//    ImageOps.exif_transpose(img) (`exif_orientation6_transposed`, cosine >= 0.999; 0.9999 as
//    every JPEG entry), 'ignore' like the plain one;
//  - the store: clipModels' visual identifier carries the policy, so a store whose vectors
//    were made with 'ignore' (the old default) reopened with the default models is a
//    MODEL_MISMATCH that keeps every document and vector; reopened with 'ignore' it loads
//    them unchanged; {reindex: true} re-embeds them upright.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { goldenSkip, goldenPath, repoRoot } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';

const dist = path.join(repoRoot, 'web', 'dist', 'clipdb.wasm');
const skip = existsSync(dist) ? false : `wasm build missing (${dist}); run scripts/build`;
const fixture = (name) => new Uint8Array(readFileSync(path.join(repoRoot, 'tests', 'data', 'exif', name)));
const cli = path.join(repoRoot, 'web', 'bin', 'clipdb.mjs');

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];
const R = 224, PLANE = R * R;

/** 'r' / 'b' / '?' for each quadrant (TL TR BL BR) of a [3,224,224] input, 16 px from the centre lines. */
function quadrants(x) {
  let s = '';
  for (const [qy, qx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
    const m = [0, 0, 0];
    let n = 0;
    for (let y = qy ? R / 2 + 16 : 0; y < (qy ? R : R / 2 - 16); y++) {
      for (let xx = qx ? R / 2 + 16 : 0; xx < (qx ? R : R / 2 - 16); xx++, n += 1) {
        for (let c = 0; c < 3; c++) m[c] += (x[c * PLANE + y * R + xx] * STD[c] + MEAN[c]) * 255;
      }
    }
    const [r, g, b] = m.map((v) => v / n);
    s += r > 240 && g < 15 && b < 15 ? 'r' : b > 240 && g < 15 && r < 15 ? 'b' : '?';
  }
  return s;
}

function cosine(a, b) {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
}

// Upright layouts (TL TR BL BR) of the fixtures; without rotation every one is 'rbrb'.
const FIXTURES = [['no-tag.jpg', 1, 'rbrb'], ['orientation3.jpg', 3, 'brbr'], ['orientation6.jpg', 6, 'rrbb'], ['orientation8.jpg', 8, 'bbrr']];

describe('EXIF orientation: one policy, applied by default', { skip }, () => {
  let lib;
  before(async () => { lib = await import('../../web/src/index.mjs'); });

  it('the default is apply; the orientation photos come out upright, ignore keeps them as stored', async () => {
    assert.equal((await lib.defaultImageOptions()).exif, 'apply');
    for (const [file, o, upright] of FIXTURES) {
      const { pixels, info } = await lib.preprocess(fixture(file), { info: true });
      assert.deepEqual([info.width, info.height, info.orientation], [320, 160, o], file);
      assert.equal(quadrants(pixels), upright, `${file}, defaults`);
      assert.equal(quadrants(await lib.preprocess(fixture(file), { exif: 'ignore' })), 'rbrb', `${file}, exif ignore`);
    }
  });

  it('wasm CLI: preprocess and embed --image apply it without --exif', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-exif-'));
    try {
      for (const [args, want, exif] of [[[], 'rrbb', 'apply'], [['--exif', 'ignore'], 'rbrb', 'ignore']]) {
        const out = path.join(tmp, 'x.f32');
        const line = JSON.parse(execFileSync('node', [cli, 'preprocess', '--resolution', '224', ...args, path.join(repoRoot, 'tests', 'data', 'exif', 'orientation6.jpg'), '--out', out], { encoding: 'utf8' }));
        assert.equal(line.exif, exif);
        assert.equal(line.orientation, 6);
        const b = readFileSync(out);
        assert.equal(quadrants(new Float32Array(b.buffer, b.byteOffset, b.length / 4)), want);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('golden exif_orientation6: defaults = the exif_transpose reference, ignore = the plain one', { skip: goldenSkip }, async () => {
    const ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
    const model = await lib.loadModel({ 'model.safetensors': readFileSync(goldenPath('tiny-vit', 'model.safetensors')) });
    try {
      const bytes = readFileSync(goldenPath('images', 'exif_orientation6.jpg'));
      const upright = ref.f32('image/exif_orientation6_transposed/embedding'), plain = ref.f32('image/exif_orientation6/embedding');
      const byDefault = model.embedImage(await lib.preprocess(bytes, { model }));
      const ignored = model.embedImage(await lib.preprocess(bytes, { model, exif: 'ignore' }));
      assert.ok(cosine(byDefault, upright) >= 0.9999, `defaults vs transposed reference: cosine ${cosine(byDefault, upright)}`);
      assert.ok(cosine(ignored, plain) >= 0.9999, `ignore vs plain reference: cosine ${cosine(ignored, plain)}`);
      // The two references differ by more than that tolerance (cosine 0.99906 on this tiny
      // model), so the checks above tell rotated from unrotated.
      assert.ok(cosine(upright, plain) < 0.9995, `references too close: ${cosine(upright, plain)}`);
      assert.ok(cosine(byDefault, plain) < 0.9995, `defaults vs plain reference: cosine ${cosine(byDefault, plain)}`);
      // the wasm CLI's embed --image: the same default
      const line = execFileSync('node', [cli, 'embed', '--model', goldenPath('tiny-vit'), '--image', goldenPath('images', 'exif_orientation6.jpg')], { encoding: 'utf8' });
      assert.ok(cosine(JSON.parse(line), upright) >= 0.9999, 'CLI embed --image default');
    } finally {
      model.free();
    }
  });

  describe('store: the EXIF policy is part of the visual model identity', { skip: goldenSkip }, () => {
    let dir, clip, tokenizer;
    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'clipdb-exif-store-'));
      clip = await lib.loadModel({ 'model.safetensors': readFileSync(goldenPath('tiny-vit', 'model.safetensors')) });
      tokenizer = await lib.createTokenizer({ 'bpe_simple_vocab_16e6.txt.gz': readFileSync(goldenPath('bpe_simple_vocab_16e6.txt.gz')) });
    });
    after(() => { clip?.free(); tokenizer?.free(); if (dir) rmSync(dir, { recursive: true, force: true }); });

    const index = (models) => new lib.VectorIndex('images', {
      indexingListener: new lib.Listener({ model: models.visual, key: 'image', select: { collection: 'photos' } }),
    });
    const open = () => lib.openDatabase({ storage: 'fs', dir, name: 'photos' });

    it('identifiers: apply (default) and ignore differ; ignore keeps the name older stores carry', () => {
      assert.equal(lib.clipModels({ clip, tokenizer, identifier: 'm' }).visual.identifier, 'm#visual+exif');
      assert.equal(lib.clipModels({ clip, tokenizer, identifier: 'm', exif: 'apply' }).visual.identifier, 'm#visual+exif');
      assert.equal(lib.clipModels({ clip, tokenizer, identifier: 'm', exif: 'ignore' }).visual.identifier, 'm#visual');
      assert.equal(lib.clipModels({ clip, tokenizer, identifier: 'm' }).text.identifier, 'm#text');
      assert.throws(() => lib.clipModels({ clip, tokenizer, identifier: 'm', exif: 'rotate' }), { code: 'INVALID_ARGUMENT' });
    });

    it('an ignore store is not mixed with apply vectors, and nothing stored is lost', async () => {
      const ignore = lib.clipModels({ clip, tokenizer, identifier: 'tiny-vit', exif: 'ignore' });
      const apply = lib.clipModels({ clip, tokenizer, identifier: 'tiny-vit' });
      const docs = FIXTURES.map(([file]) => ({ _id: file, image: fixture(file) }));
      let db = await open();
      assert.deepEqual(await db.add(index(ignore)), { loaded: 0, embedded: 0 });
      await db.collection('photos').insertMany(docs);
      const want6 = await ignore.visual.predict(fixture('orientation6.jpg'));
      await db.close();

      // reopened with the default (apply) models: refused, nothing dropped
      db = await open();
      await assert.rejects(db.add(index(apply)), (e) => e.code === 'MODEL_MISMATCH' && /tiny-vit#visual\b/.test(e.message) && /tiny-vit#visual\+exif/.test(e.message));
      assert.equal(await db.collection('photos').count(), 4);
      await db.close();

      // reopened with exif 'ignore': the stored vectors load as they were, none re-embedded
      db = await open();
      assert.deepEqual(await db.add(index(ignore)), { loaded: 4, embedded: 0 });
      // (ignoring the tag, all four files are the same red|blue picture: all score 1)
      let hit = await db.collection('photos').like({ vector: want6 }, { vectorIndex: 'images', n: 4 }).find();
      assert.equal(hit.length, 4);
      for (const h of hit) assert.ok(Math.abs(h.score - 1) < 1e-5, `${h._id}: ${h.score}`);
      await db.close();

      // reindex with apply: every document kept and re-embedded upright
      db = await open();
      assert.deepEqual(await db.add(index(apply), { reindex: true }), { loaded: 0, embedded: 4 });
      assert.equal(await db.collection('photos').count(), 4);
      const upright6 = await apply.visual.predict(fixture('orientation6.jpg'));
      assert.ok(cosine(upright6, want6) < 0.9999, 'apply and ignore vectors of orientation6.jpg differ');
      hit = await db.collection('photos').like({ vector: upright6 }, { vectorIndex: 'images', n: 4 }).find();
      assert.equal(hit[0]._id, 'orientation6.jpg');
      assert.ok(Math.abs(hit[0].score - 1) < 1e-5);
      assert.ok(hit[1].score < 0.9999, `only the orientation 6 photo is upright red-over-blue: ${hit[1]._id} ${hit[1].score}`);
      const stored = await db.collection('photos').findOne({ _id: 'orientation6.jpg' });
      assert.deepEqual(new Uint8Array(stored.image), new Uint8Array(fixture('orientation6.jpg')));
      await db.close();
    });
  });
});
