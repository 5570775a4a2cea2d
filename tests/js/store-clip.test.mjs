// The store with clipdb's own CLIP on the wasm build (engine + tokenizer + image pipeline) and
// the golden tiny-vit model: the 20 golden image files go in as documents and are embedded by
// the visual encoder; every golden text (text encoder) and every image is used as a query.
// The expected order is computed in float64 from the reference embeddings.
//
// Tolerance: our PNG/BMP/GIF pixels equal the reference bit for bit, so those embeddings agree
// to 1 - cos < 1e-12 and their scores to ~1e-6; JPEG files are decoded by stb_image, not
// libjpeg, so their embeddings differ slightly (measured 1 - cos up to ~1e-7, i.e. scores up to
// ~5e-4). Two results may therefore appear in either order only when their reference scores
// are closer than 2e-5 (both non-JPEG) or 2e-3 (a JPEG involved); any other inversion fails.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { goldenSkip, goldenPath, repoRoot } from './golden.mjs';
import { loadGolden, referenceOrder } from './store-helpers.mjs';

const haveEngine = ['engine.mjs', 'text.mjs', 'image.mjs'].every((f) => existsSync(path.join(repoRoot, 'web', 'src', f)));
const skip = goldenSkip || (haveEngine ? false : 'the CLIP engine JS API (web/src/engine.mjs, text.mjs) is not on this branch yet');

/**
 * `got` ([{_id, score}]) against the float64 reference for the same candidates: the right
 * count, the right members (everything clearly above the n-th reference score is in), and no
 * pair ordered against a reference gap larger than the tolerance (the wider one whenever the
 * query or either document is a JPEG).
 */
function checkRanking(got, ref, n, jpeg, what, queryIsJpeg = false) {
  const tol = (a, b) => (queryIsJpeg || jpeg.has(a) || jpeg.has(b) ? 2e-3 : 2e-5);
  const refScore = new Map(ref.map((h) => [h.id, h.score]));
  assert.equal(got.length, Math.min(n, ref.length), `${what}: count`);
  const ids = got.map((d) => d._id);
  assert.equal(new Set(ids).size, ids.length, `${what}: no duplicates`);
  const last = ref[got.length - 1];
  for (const h of ref.slice(0, got.length)) {
    if (h.score > last.score + tol(h.id, last.id)) assert.ok(ids.includes(h.id), `${what}: ${h.id} (ref ${h.score}) missing`);
  }
  for (let i = 0; i < ids.length; i++) {
    const si = refScore.get(ids[i]);
    assert.ok(Math.abs(got[i].score - si) < tol(ids[i], ids[i]) * 2, `${what}: score of ${ids[i]} ${got[i].score} vs ref ${si}`);
    for (let j = i + 1; j < ids.length; j++) {
      const sj = refScore.get(ids[j]);
      assert.ok(sj <= si + tol(ids[i], ids[j]), `${what}: ${ids[j]} (ref ${sj}) ranked below ${ids[i]} (ref ${si})`);
    }
  }
}

describe('store with the real wasm CLIP on tiny-vit', { skip }, () => {
  let g, db, photos, jpeg, visual;
  before(async () => {
    const C = await import('../../web/src/index.mjs');
    g = loadGolden();
    jpeg = new Set(g.images.filter((im) => im.format === 'JPEG').map((im) => im.name));
    const clip = await C.loadModel({ 'model.safetensors': readFileSync(goldenPath('tiny-vit', 'model.safetensors')) });
    const tokenizer = await C.createTokenizer({ 'bpe_simple_vocab_16e6.txt.gz': readFileSync(goldenPath('bpe_simple_vocab_16e6.txt.gz')) });
    // exif 'ignore': the golden references are the official pipeline's (PIL.Image.open, no rotation).
    const models = C.clipModels({ clip, tokenizer, identifier: 'golden/tiny-vit', exif: 'ignore' });
    visual = models.visual;
    db = await C.openDatabase({ storage: 'memory' });
    await db.add(new C.VectorIndex('clip', {
      indexingListener: new C.Listener({ model: models.visual, key: 'image', select: { collection: 'images' } }),
      compatibleListener: new C.Listener({ model: models.text, key: 'text', select: { collection: 'images' } }),
    }));
    photos = db.collection('images');
    const progress = [];
    await photos.insertMany(g.images.map((im) => ({ _id: im.name, file: im.file, kind: im.kind, format: im.format, image: new Blob([im.bytes]) })),
      { onProgress: (p) => progress.push(p.done) });
    assert.equal(progress.length, 20);
  });

  test('each of the 42 golden texts: top-10 in reference order', async () => {
    for (const [i, text] of g.texts.entries()) {
      const got = await photos.like({ text }, { vectorIndex: 'clip', n: 10 }).find();
      checkRanking(got, referenceOrder(g.images, g.textEmb[i]), 10, jpeg, `text ${i}`);
    }
  });

  test('each golden image as the query: all 20 in reference order, itself first', async () => {
    for (const im of g.images) {
      const got = await photos.like({ image: im.bytes }, { vectorIndex: 'clip', n: 20 }).find();
      checkRanking(got, referenceOrder(g.images, im.embedding), 20, jpeg, `image ${im.name}`, jpeg.has(im.name));
      assert.equal(got[0]._id, im.name);
    }
  });

  test('filtered queries return exactly n; k beyond the collection returns all', async () => {
    const photosOnly = g.images.filter((im) => im.kind === 'photo');
    const got = await photos.like({ text: 'a photo of a cat' }, { vectorIndex: 'clip', n: 3 }).find({ kind: 'photo' });
    assert.equal(got.length, 3);
    checkRanking(got, referenceOrder(photosOnly, g.textEmb[0]), 3, jpeg, 'cat among photos');
    const notJpeg = g.images.filter((im) => im.format !== 'JPEG');
    const png = await photos.like({ text: g.texts[4] }, { vectorIndex: 'clip', n: 100 }).find({ format: { $ne: 'JPEG' } });
    assert.equal(png.length, notJpeg.length);
    checkRanking(png, referenceOrder(notJpeg, g.textEmb[4]), 100, jpeg, 'rocket text, non-JPEG');
    assert.equal((await photos.like({ text: 'mushroom' }, { vectorIndex: 'clip', n: 2 ** 31 }).find()).length, 20);
  });

  test('update re-embeds with the visual encoder, delete drops the vector', async () => {
    const before = await photos.like({ text: g.texts[0] }, { vectorIndex: 'clip', n: 1 }).find();
    const calls = [];
    const orig = visual._encode;
    visual._encode = async (x) => { calls.push(1); return orig(x); };
    const best = g.images.find((im) => im.name === before[0]._id);
    const worstId = referenceOrder(g.images, g.textEmb[0]).at(-1).id;
    await photos.updateOne({ _id: worstId }, { $set: { image: best.bytes } });
    assert.equal(calls.length, 1);
    const top2 = await photos.like({ text: g.texts[0] }, { vectorIndex: 'clip', n: 2 }).find();
    assert.deepEqual(top2.map((d) => d._id).sort(), [before[0]._id, worstId].sort());
    assert.ok(Math.abs(top2[0].score - top2[1].score) < 1e-6);
    await photos.deleteOne({ _id: worstId });
    await photos.deleteOne({ _id: before[0]._id });
    const rest = g.images.filter((im) => im.name !== worstId && im.name !== before[0]._id);
    checkRanking(await photos.like({ text: g.texts[0] }, { vectorIndex: 'clip', n: 5 }).find(), referenceOrder(rest, g.textEmb[0]), 5, jpeg, 'after delete');
    visual._encode = orig;
    assert.equal(await photos.count(), 18);
  });

  test('a wrong-dimension query vector names both sizes and the model', async () => {
    await assert.rejects(photos.like({ vector: new Float32Array(512).fill(1) }, { vectorIndex: 'clip', n: 3 }).find(),
      (e) => e.code === 'DIMENSION_MISMATCH' && /expected 64-dimensional vectors \(model golden\/tiny-vit#visual\), got 512/.test(e.message));
  });
});
