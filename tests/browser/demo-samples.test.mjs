// The photo-search demo's first visit with the default model (models/clipdb-emoji) and its
// sample pictures (web/demo/samples: OpenMoji emoji, a style the model never saw in training,
// on photo-like backgrounds), in Debian's Chromium:
//   * the page loads clipdb-emoji by itself, the model select names it, and the note under
//     the search says what the model knows;
//   * "Try sample pictures" stores all 78 samples with their vectors;
//   * `mushroom` (the query of the notebook clipdb re-creates) ranks a mushroom first and both
//     mushroom samples in the top 3, and the page's whole ranking equals the one the same wasm engine
//     computes in Node from the sample files (ids in order, cosine scores within 1e-5);
//   * "a cat and a dog" ranks a picture of a cat or a dog first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM, NEEDS_EMOJI_MODEL, demoSearch as search } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = chromiumSkip([NEEDS_WASM, NEEDS_EMOJI_MODEL]);
const MODEL_DIR = path.join(repo, 'models', 'clipdb-emoji');
const SAMPLES = path.join(repo, 'web', 'demo', 'samples');

/** The ranking of every sample for `texts`, computed in Node with the wasm engine. */
async function nodeRankings(texts) {
  const lib = await import('../../web/src/index.mjs');
  const clip = await lib.loadModel([{ name: 'model.safetensors', data: readFileSync(path.join(MODEL_DIR, 'model.safetensors')) }]);
  const tok = await lib.createTokenizer([{ name: 'vocab.txt.gz', data: readFileSync(path.join(MODEL_DIR, 'vocab.txt.gz')) }]);
  const c = clip.config;
  const vecs = [];
  for (const { file } of JSON.parse(readFileSync(path.join(SAMPLES, 'index.json'), 'utf8')).images) {
    const pixels = await lib.preprocess(readFileSync(path.join(SAMPLES, file)), { resolution: c.image_resolution, mean: c.image_mean, std: c.image_std });
    vecs.push([file, lib.normalize(clip.embedImage(pixels))]);
  }
  const out = {};
  for (const t of texts) {
    const q = lib.normalize(clip.embedText(tok.tokenize(t, { truncate: true, contextLength: c.context_length })));
    out[t] = vecs.map(([id, v]) => { let s = 0; for (let i = 0; i < v.length; i++) s += v[i] * q[i]; return [id, s]; })
      .sort((a, b) => (b[1] - a[1]) || (a[0] < b[0] ? -1 : 1));
  }
  return out;
}

test('demo: first visit loads clipdb-emoji; the sample pictures answer "mushroom"', { skip, timeout: 600000 }, async () => {
  const queries = ['mushroom', 'a cat and a dog'];
  const reference = await nodeRankings(queries);
  const server = await serve({});
  const profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}web/demo/`);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.textContent('#model-status'));
    assert.equal(await page.evaluate(() => document.body.dataset.model), 'clipdb-emoji');
    assert.equal(await page.inputValue('#model-choice'), 'emoji');
    assert.match(await page.textContent('#scope'), /emoji pictures, not photos, of about 1,600 everyday things/);

    await page.click('#samples');
    await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 300000 });
    assert.deepEqual(JSON.parse(await page.evaluate(() => document.body.dataset.lastInsert)), { inserted: 78, skipped: 0, failed: 0 },
      await page.textContent('#add-status'));
    assert.equal(await page.evaluate(() => document.body.dataset.models), 'clipdb-emoji=78');

    for (const q of queries) {
      const got = await search(page, q);
      const want = reference[q].slice(0, got.length);
      assert.ok(got.length >= 3, `${q}: ${got.length} results`);
      assert.deepEqual(got.map(([id]) => id), want.map(([id]) => id), `${q}: the page's ranking is the engine's`);
      got.forEach(([id, s], i) => assert.ok(Math.abs(s - want[i][1]) < 1e-5, `${q}: ${id} scored ${s} in the page, ${want[i][1]} in Node`));
    }
    const top = (await search(page, 'mushroom')).slice(0, 3).map(([id]) => id.replace(/^\d+-/, ''));
    assert.ok(top[0].includes('mushroom') && top.filter((f) => /^mushroom\.(jpg|png)$/.test(f)).length === 2,
      `mushroom: the best hit shows a mushroom and both mushroom samples are in the top 3: ${top.join(', ')}`);
    const both = (await search(page, 'a cat and a dog'))[0][0];
    assert.match(both, /-(cat|dog|cat\+dog)\.(jpg|png)$/, `"a cat and a dog" first: ${both}`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    await server.close();
  }
});
