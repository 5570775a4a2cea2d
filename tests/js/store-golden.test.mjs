// The store on the golden data (../shared/golden, tiny-vit): the 20 golden image files are
// inserted as documents (encoded bytes), then queried by each of the 42 golden texts and by
// each image. Expected orders are computed in float64 from the reference embeddings
// (tiny-vit/reference.safetensors: image/<name>/embedding, text/<i>/embedding).
//
// 1. "reference encoders": models that return the reference embedding of their input. The
//    store must then reproduce the float64 order exactly wherever neighbouring scores differ
//    by more than 1e-6 (float32 scoring), with scores within 1e-6.
// 2. the real wasm CLIP (engine + tokenizer + image pipeline) when its JS API is on this
//    branch: see store-clip.test.mjs.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { goldenSkip } from './golden.mjs';
import { openDatabase, Model, Listener, VectorIndex } from '../../web/src/index.mjs';
import { assertOrder, loadGolden, referenceOrder } from './store-helpers.mjs';

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

describe('store on the golden data with reference encoders', { skip: goldenSkip }, () => {
  let g, db, photos;
  before(async () => {
    g = loadGolden();
    const visual = new Model({
      identifier: 'golden-tiny-vit-reference-visual', dim: g.dim, kind: 'image',
      encode: (bytes) => { const im = g.images.find((x) => sameBytes(x.bytes, bytes)); assert.ok(im, 'a golden image'); return im.embedding; },
    });
    const textual = new Model({
      identifier: 'golden-tiny-vit-reference-text', dim: g.dim, kind: 'text',
      encode: (text) => { const i = g.texts.indexOf(text); assert.ok(i >= 0, 'a golden text'); return g.textEmb[i]; },
    });
    db = await openDatabase({ storage: 'memory' });
    await db.add(new VectorIndex('golden', {
      indexingListener: new Listener({ model: visual, key: 'image', select: { collection: 'images' } }),
      compatibleListener: new Listener({ model: textual, key: 'text', select: { collection: 'images' } }),
    }));
    photos = db.collection('images');
    await photos.insertMany(g.images.map((im) => ({ _id: im.name, file: im.file, kind: im.kind, format: im.format, image: im.bytes })));
  });

  test('each golden text: top-10 order and scores equal the float64 reference', async () => {
    assert.equal(await photos.count(), 20);
    for (const [i, text] of g.texts.entries()) {
      const got = await photos.like({ text }, { vectorIndex: 'golden', n: 10 }).find();
      const ref = referenceOrder(g.images, g.textEmb[i]).slice(0, 10);
      assertOrder(assert, got.map((d) => d._id), ref, 1e-6, `text ${i} ${JSON.stringify(text)}`);
      got.forEach((d, r) => assert.ok(Math.abs(d.score - ref[r].score) < 1e-6, `text ${i} rank ${r}: ${d.score} vs ${ref[r].score}`));
    }
  });

  test('each golden image: full order equals the float64 reference, itself first', async () => {
    for (const im of g.images) {
      const got = await photos.like({ image: new Blob([im.bytes]) }, { vectorIndex: 'golden', n: 20 }).find();
      const ref = referenceOrder(g.images, im.embedding);
      assertOrder(assert, got.map((d) => d._id), ref, 1e-6, `image ${im.name}`);
      assert.equal(got[0]._id, im.name);
      assert.ok(Math.abs(got[0].score - 1) < 1e-6);
    }
  });

  test('filtered: exactly n photos for "a photo of a cat", in reference order', async () => {
    const photosOnly = g.images.filter((im) => im.kind === 'photo');
    for (const n of [1, 3, photosOnly.length, 50]) {
      const got = await photos.like({ text: g.texts[0] }, { vectorIndex: 'golden', n }).find({ kind: 'photo' });
      assert.equal(got.length, Math.min(n, photosOnly.length));
      assertOrder(assert, got.map((d) => d._id), referenceOrder(photosOnly, g.textEmb[0]).slice(0, n), 1e-6, `n=${n}`);
    }
    const png = await photos.like({ text: g.texts[4] }, { vectorIndex: 'golden', n: 4 }).find({ format: { $in: ['PNG'] }, file: { $ne: 'coins.png' } });
    assert.equal(png.length, 4);
    assert.ok(png.every((d) => d.format === 'PNG' && d.file !== 'coins.png'));
  });

  test('delete and update change the results', async () => {
    const q = g.textEmb[2]; // "an astronaut in a white space suit holding a flag"
    const before = await photos.like({ text: g.texts[2] }, { vectorIndex: 'golden', n: 3 }).find();
    await photos.deleteOne({ _id: before[0]._id });
    const rest = g.images.filter((im) => im.name !== before[0]._id);
    const after = await photos.like({ text: g.texts[2] }, { vectorIndex: 'golden', n: 3 }).find();
    assertOrder(assert, after.map((d) => d._id), referenceOrder(rest, q).slice(0, 3), 1e-6, 'after delete');
    assert.equal(after[0]._id, before[1]._id);
    // Give the last-ranked image the bytes of the deleted best match: it re-embeds and becomes first.
    const last = referenceOrder(rest, q).at(-1).id;
    const bestBytes = g.images.find((im) => im.name === before[0]._id).bytes;
    await photos.updateOne({ _id: last }, { $set: { image: bestBytes } });
    const updated = await photos.like({ text: g.texts[2] }, { vectorIndex: 'golden', n: 2 }).find();
    assert.equal(updated[0]._id, last);
    assert.ok(Math.abs(updated[0].score - before[0].score) < 1e-6);
    const back = await photos.findOne({ _id: last });
    assert.ok(back.image instanceof Uint8Array && sameBytes(back.image, bestBytes), 'findOne returns the image bytes');
  });
});
