// The photo-search demo over a library of 10,000 photos (Debian's Chromium via playwright-core).
// The library is built fast and honestly in Node: scripts/shapes.py draws 80 scenes, Pillow
// shrinks them to 48 px PNGs, the shipped model (models/clipdb-shapes, the wasm engine in Node,
// the identity the demo's Worker gives it) embeds each of the 80 once, and a memory store holds
// 10,000 photos library/photo-00001.png … photo-10000.png, photo i showing scene (i-1) % 80
// with that scene's vector; its export (the store's own exportData, docs/export-format.md) is
// restored through the page's Restore input. Then:
//   * 10,000 photos, the model's count 10,000, nothing embedded in the page; a text search
//     ranks the copies of the scene the engine ranks first in Node, with its score;
//   * "All photos" draws a bounded number of <figure>s (< 500) wherever the view is: stepping
//     through the whole grid, every view is covered, and the grid's redraws fit in a frame;
//     at the end the last photo, photo-10000.png, is on screen;
//   * Tab from the first photo's first button walks the photos' buttons in order, past the
//     rows drawn at first, the DOM staying bounded;
//   * Delete in the grid moves the photos after it up one place; Undo stores it again, last.
// Saves tests/artifacts/demo-library-desktop.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, createWriteStream, mkdirSync } from 'node:fs';
import { mkdtemp, rm, readdir, readFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM, PYTHON, pythonSkip, NEEDS_SHAPES_MODEL } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = path.join(repo, 'models', 'clipdb-shapes'); // the files the page loads
const N = 10000, SCENES = 80, MAX_FIGURES = 500;
// Smoothness while scrolling: the grid's own work per redraw (its 'clipdb-grid-update' measure:
// at most 14 new figures a frame, thumbnails as data: URLs made in the Worker) fits in a frame
// (16 ms) for 9 redraws in 10. On a 2-core machine under a load average of 10 to 15 the slowest
// redraws reach 50 ms and whole main-thread tasks 150 to 330 ms with no script in them (the
// thread waits for a core), so those are reported, not asserted. The first version of this
// grid made an object URL per figure on the page (a round trip to the browser process each),
// 28 to 66 figures at once: about 1 ms a figure there, which the 90th percentile catches.
const REDRAW_P90_MS = 16;
const ARTIFACTS = path.join(repo, 'tests', 'artifacts');

const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]) || pythonSkip();

const name = (i) => `photo-${String(i).padStart(5, '0')}.png`; // i = 1 … N
const sceneOf = (i) => (i - 1) % SCENES;

let work, backup, server, rankScenes;

/** The 10,000-photo library as an export container at `file`; returns a text ranker of the 80 scenes. */
async function buildLibrary(file) {
  const lib = await import('../../web/src/index.mjs');
  const scenes = path.join(work, 'scenes'), small = path.join(work, 'small');
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', scenes, '--seed', '780', '--grid', '1'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  const shrink = spawnSync(PYTHON, ['-c', `
import os, sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
for k, f in enumerate(sorted(os.listdir(src))):
    Image.open(os.path.join(src, f)).convert('RGB').resize((48, 48), Image.LANCZOS).save(os.path.join(dst, '%02d.png' % k))
`, scenes, small], { encoding: 'utf8' });
  assert.equal(shrink.status, 0, shrink.stderr);
  const files = (await readdir(small)).sort();
  assert.equal(files.length, SCENES);
  const pngs = await Promise.all(files.map((f) => readFile(path.join(small, f))));

  // The model as the demo's Worker names it: '<label>@sha256:<16 hex digits of the weights>'.
  const weights = readFileSync(path.join(MODEL, 'model.safetensors'));
  const identifier = `clipdb-shapes@sha256:${createHash('sha256').update(weights).digest('hex').slice(0, 16)}`;
  const clip = await lib.loadModel([{ name: 'model.safetensors', data: weights }]);
  const tokenizer = await lib.createTokenizer([{ name: 'vocab.txt.gz', data: readFileSync(path.join(MODEL, 'vocab.txt.gz')) }]);
  const { visual, text } = lib.clipModels({ clip, tokenizer, identifier, exif: 'apply' });
  // Each scene embedded once by the real visual model; the 10,000 photos reuse its vector.
  const vectors = new Map();
  for (const png of pngs) vectors.set(png.toString('base64'), await visual.predict(png));
  const bytesOf = async (x) => Buffer.from(x instanceof Blob ? await x.arrayBuffer() : x instanceof ArrayBuffer ? new Uint8Array(x) : x);
  const lookup = new lib.Model({
    identifier: visual.identifier, dim: visual.dim, kind: 'image',
    encode: async (x) => {
      const v = vectors.get((await bytesOf(x)).toString('base64'));
      if (!v) throw new Error('an image that is none of the 80 scenes');
      return v;
    },
  });
  const db = await lib.openDatabase({ storage: 'memory' });
  await db.add(new lib.VectorIndex('images', {
    indexingListener: new lib.Listener({ model: lookup, key: 'image', select: { collection: 'photos' } }),
    compatibleListener: new lib.Listener({ model: text, key: 'text', select: { collection: 'photos' } }),
  }));
  const docs = [];
  for (let i = 1; i <= N; i++) {
    const png = pngs[sceneOf(i)];
    docs.push({ _id: `library/${name(i)}`, name: name(i), type: 'image/png', size: png.length, image: new Blob([png], { type: 'image/png' }) });
  }
  await db.collection('photos').insertMany(docs);
  assert.equal(await db.collection('photos').count(), N);
  await pipeline(Readable.fromWeb(db.exportData()), createWriteStream(file));
  await db.close();
  const sceneVecs = await Promise.all(pngs.map((png) => visual.predict(png)));
  const unit = (v) => { const n = Math.hypot(...v); return Array.from(v, (x) => x / n); };
  return async (query) => {
    const q = unit(await text.predict(query));
    return sceneVecs.map((v, k) => ({ scene: k, score: unit(v).reduce((s, x, j) => s + x * q[j], 0) })).sort((a, b) => b.score - a.score);
  };
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-demo-library-'));
  backup = path.join(work, 'library.clipdb');
  const t0 = Date.now();
  rankScenes = await buildLibrary(backup);
  console.log(`# built a ${N}-photo export in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  server = await serve({ root: repo });
});
after(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const figures = (page) => page.$$eval('#results figure', (fs) => fs.length);

test(`demo over ${N} photos: restored from a backup, searched, scrolled to the last photo with a bounded DOM, walked by keyboard`, { skip, timeout: 900000 }, async (t) => {
  const context = await chromium.launchPersistentContext(path.join(work, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
  t.after(() => context.close().catch(() => {}));
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [], consoleLines = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') consoleLines.push(`${m.type()}: ${m.text()}`); });
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration }); })
      .observe({ type: 'longtask', buffered: true });
  });
  await page.goto(`${server.url}web/demo/?model=shapes`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180000 });

  // Restore the library: every photo, the shipped model's vectors, nothing embedded here.
  const t0 = Date.now();
  await page.setInputFiles('#restore', backup);
  try {
    await page.waitForFunction(() => /^Restore(d| failed)/.test(document.getElementById('results-status').textContent), null, { timeout: 600000 });
  } catch (e) {
    // say where it stopped: the status line (import progress, or the grid after it) and page errors
    // where the page's restore handler is, and the calls the clipdb Worker is running
    const status = await page.textContent('#results-status').catch((err) => `(unreadable: ${err.message})`);
    const step = await page.evaluate(() => document.body.dataset.restore).catch((err) => `(unreadable: ${err.message})`);
    // (a Worker blocked in synchronous work never answers: 10 s each)
    const calls = [];
    const within = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(() => r(`(no answer in ${ms / 1000} s: the Worker is blocked)`), ms))]);
    for (const w of page.workers()) {
      calls.push(await within(w.evaluate(() => JSON.stringify(globalThis.clipdbCalls?.() ?? 'not the store Worker')), 10000)
        .catch((err) => `(unreadable: ${err.message})`));
    }
    throw new Error(`restore did not finish: status '${status}', restore step '${step}', Worker calls ${calls.join('; ') || '(no Worker)'}, ` +
      `page errors ${JSON.stringify(errors)}, console ${JSON.stringify(consoleLines.slice(-20))}: ${e.message}`);
  }
  assert.equal(await page.textContent('#results-status'), `Restored ${N} photos (0 already here).`);
  console.log(`# restored ${N} photos in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(await page.evaluate(() => document.body.dataset.count), String(N));
  assert.equal(await page.evaluate(() => document.body.dataset.models), `clipdb-shapes=${N}`);

  // Search: the copies of the scene the engine ranks first in Node, with its score.
  const want = (await rankScenes('a red circle'))[0];
  await page.fill('#query', 'a red circle');
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.query === 'text:a red circle');
  const hits = await page.$$eval('#results figure', (fs) => fs.map((f) => [f.dataset.id, Number(f.dataset.score)]));
  assert.equal(hits.length, 24);
  for (const [id, score] of hits) {
    const i = Number(/photo-(\d+)\.png$/.exec(id)[1]);
    assert.equal(sceneOf(i), want.scene, `${id} shows scene ${sceneOf(i)}, not the best scene ${want.scene}`);
    assert.ok(Math.abs(score - want.score) < 1e-4, `${id}: score ${score} vs ${want.score}`);
  }

  // All photos: a bounded DOM wherever the view is.
  await page.evaluate(() => { delete document.body.dataset.shown; });
  await page.click('#show-all');
  await page.waitForFunction((n) => document.body.dataset.shown === String(n), N);
  const first = await page.$$eval('#results figure', (fs) => fs.map((f) => f.dataset.id));
  assert.equal(first[0], `library/${name(1)}`);
  assert.ok(first.length > 0 && first.length < MAX_FIGURES, `${first.length} figures at the top`);
  const height = await page.evaluate(() => document.getElementById('results').getBoundingClientRect().height);
  assert.ok(height > 100000, `the grid is as tall as ${N} photos (${height} px)`);

  // Step through the whole grid: each view covered by figures, never more than MAX_FIGURES,
  // no long main-thread task while scrolling.
  const steps = await page.evaluate(async ({ max }) => {
    const grid = document.getElementById('results');
    const top = grid.getBoundingClientRect().top + scrollY;
    const bottom = top + grid.getBoundingClientRect().height - innerHeight;
    const start = performance.now();
    const out = [];
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    for (let k = 0; k <= 40; k++) {
      scrollTo(0, top + (bottom - top) * (k / 40));
      let covered = 0;
      for (let wait = 0; wait < 300 && covered < 7; wait++) {
        await frame();
        covered = [...grid.querySelectorAll('figure')].filter((f) => { const r = f.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }).length;
      }
      out.push({ k, covered, figures: grid.querySelectorAll('figure').length });
    }
    return { out, start, end: performance.now(), max };
  }, { max: MAX_FIGURES });
  for (const s of steps.out) {
    assert.ok(s.covered >= 7, `step ${s.k}: only ${s.covered} figures in view`);
    assert.ok(s.figures < MAX_FIGURES, `step ${s.k}: ${s.figures} figures in the DOM`);
  }
  const tasks = await page.evaluate(({ start, end }) => window.__longTasks.filter((e) => e.start >= start && e.start <= end), steps);
  const worst = Math.max(0, ...tasks.map((e) => e.duration));
  const redraws = await page.evaluate(({ start, end }) => performance.getEntriesByName('clipdb-grid-update').filter((e) => e.startTime >= start && e.startTime <= end).map((e) => e.duration), steps);
  const slowest = Math.max(...redraws);
  console.log(`# scrolled through ${N} photos in 41 steps, ${((steps.end - steps.start) / 1000).toFixed(1)} s; most figures in the DOM ${Math.max(...steps.out.map((s) => s.figures))}; ` +
    `${redraws.length} redraws, median ${[...redraws].sort((a, b) => a - b)[redraws.length >> 1].toFixed(1)} ms, slowest ${slowest.toFixed(1)} ms; long tasks ${tasks.length}, longest ${worst.toFixed(0)} ms`);
  assert.ok(redraws.length >= 41, `${redraws.length} redraws`);
  const p90 = [...redraws].sort((a, b) => a - b)[Math.floor(redraws.length * 0.9)];
  assert.ok(p90 <= REDRAW_P90_MS, `9 redraws in 10 took up to ${p90} ms`);

  // The end: the last photo is on screen.
  await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
  const last = `#results figure[data-id="library/${name(N)}"]`;
  await page.waitForSelector(last, { timeout: 30000 });
  assert.equal(await page.$eval(last, (f) => f.dataset.index), String(N - 1));
  assert.equal(await page.$eval(last, (f) => f.querySelector('figcaption').textContent), name(N));
  assert.ok(await page.$eval(last, (f) => { const r = f.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }), 'photo-10000 is in view');
  assert.ok(await figures(page) < MAX_FIGURES);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-library-desktop.png') });

  // Keyboard: from the first photo's first button, Tab walks every photo's two buttons in
  // order, well past the figures drawn at first.
  await page.evaluate(() => scrollTo(0, 0));
  await page.waitForSelector('#results figure[data-index="0"]');
  const drawnAtTop = await page.$$eval('#results figure', (fs) => Math.max(...fs.map((f) => Number(f.dataset.index))));
  await page.focus('#results figure[data-index="0"] button.like');
  const presses = 2 * (drawnAtTop + 40);
  for (let k = 1; k <= presses; k++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => { const a = document.activeElement; return [a?.closest('figure')?.dataset.index ?? null, a?.className]; });
    assert.deepEqual(at, [String(Math.floor(k / 2)), k % 2 ? 'delete' : 'like'], `Tab ${k}`);
  }
  assert.ok(Math.floor(presses / 2) > drawnAtTop);
  assert.ok(await figures(page) < MAX_FIGURES);
  assert.ok(await page.evaluate(() => { const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }), 'the focused button is in view');

  // Delete in the grid: the photos after it move up one place; Undo stores it again, as the
  // newest photo (the last of the grid), with its vector.
  await page.evaluate(() => scrollTo(0, 0));
  await page.waitForSelector(`#results figure[data-index="5"][data-id="library/${name(6)}"]`);
  await page.click('#results figure[data-index="5"] button.delete');
  await page.waitForFunction((n) => document.body.dataset.count === String(n - 1), N);
  await page.waitForFunction((id) => document.querySelector('#results figure[data-index="5"]')?.dataset.id === id, `library/${name(7)}`);
  assert.equal(await page.textContent('#undo-text'), `Deleted ${name(6)}.`);
  assert.equal(await page.evaluate(() => document.body.dataset.models), `clipdb-shapes=${N - 1}`);
  await page.click('#undo');
  await page.waitForFunction(() => /^Restored /.test(document.getElementById('add-status').textContent), null, { timeout: 60000 });
  assert.equal(await page.evaluate(() => document.body.dataset.count), String(N));
  assert.equal(await page.evaluate(() => document.body.dataset.models), `clipdb-shapes=${N}`);
  await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForSelector(`#results figure[data-index="${N - 1}"][data-id="library/${name(6)}"]`, { timeout: 30000 });
  assert.equal(await page.$eval(`#results figure[data-index="${N - 2}"]`, (f) => f.dataset.id), `library/${name(N)}`);
  assert.ok(await figures(page) < MAX_FIGURES);
  assert.deepEqual(errors, [], 'no uncaught page errors');
});
