// The photo-search demo when the browser dies mid-import (Debian's Chromium via playwright-core):
// a folder of 160 photos is being added when the Chromium process is SIGKILLed (found by its
// --user-data-dir, as in store-kill.test.mjs). Chromium is started again on the same profile:
//   * the page reports the interrupted import (what, how many, how many are stored now);
//   * every stored photo has its vector (the model's count equals the photo count);
//   * Resume (its file chooser, given the same folder) adds exactly the photos missing;
//   * then exactly the 160 photos are stored, each once (the grid walked end to end), and
//     searches rank them as the same engine does in Node over the 160 files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { spawnSync, execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM, PYTHON, pythonSkip, NEEDS_SHAPES_MODEL } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = path.join(repo, 'models', 'clipdb-shapes');
const N = 160;

const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]) || pythonSkip();

let work, photos, files, server, rank;

/** Rankings of the N files by a text query, computed in Node with the same wasm engine. */
async function nodeRanker() {
  const lib = await import('../../web/src/index.mjs');
  const clip = await lib.loadModel([{ name: 'model.safetensors', data: readFileSync(path.join(MODEL, 'model.safetensors')) }]);
  const tok = await lib.createTokenizer([{ name: 'vocab.txt.gz', data: readFileSync(path.join(MODEL, 'vocab.txt.gz')) }]);
  const c = clip.config;
  const vecs = [];
  for (const f of files) {
    const pixels = await lib.preprocess(readFileSync(path.join(photos, f)), { resolution: c.image_resolution, mean: c.image_mean, std: c.image_std });
    vecs.push([`photos/${f}`, lib.normalize(clip.embedImage(pixels))]);
  }
  return (text) => {
    const q = lib.normalize(clip.embedText(tok.tokenize(text, { truncate: true, contextLength: c.context_length })));
    const hits = vecs.map(([id, v]) => { let s = 0; for (let i = 0; i < v.length; i++) s += v[i] * q[i]; return { id, score: s }; });
    return hits.sort((a, b) => (b.score - a.score) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-demo-kill-'));
  photos = path.join(work, 'photos');
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', photos, '--seed', '781', '--grid', '2'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  files = (await readdir(photos)).sort();
  assert.equal(files.length, N);
  rank = await nodeRanker();
  server = await serve({ root: repo });
});
after(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

/** SIGKILL the browser process that uses `profile` (its main process: no --type= argument; its children die with it). */
function killBrowser(profile) {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const pids = ps.split('\n').filter((l) => l.includes(`--user-data-dir=${profile}`) && !l.includes('--type=')).map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.ok(pids.length >= 1, `no browser process on ${profile}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}

const launch = (profile) => chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
const waitReady = (page) => page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180000 });
const data = (page, key) => page.evaluate((k) => document.body.dataset[k], key);

async function search(page, text) {
  await page.evaluate(() => { document.body.dataset.query = ''; });
  await page.fill('#query', text);
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction((t) => document.body.dataset.query === `text:${t}`, text);
  return page.$$eval('#results figure', (fs) => fs.map((f) => ({ id: f.dataset.id, score: Number(f.dataset.score) })));
}

test(`demo: Chromium SIGKILLed while a folder of ${N} photos is added; the next start reports it, Resume adds the rest: exactly ${N}, each once, searchable`, { skip, timeout: 900000 }, async (t) => {
  const profile = path.join(work, 'profile');
  let context = await launch(profile);
  t.after(() => context.close().catch(() => {}));
  let page = context.pages()[0] ?? await context.newPage();
  await page.goto(`${server.url}web/demo/?model=shapes`);
  await waitReady(page);

  // Add the folder; kill the browser once some photos are stored (the count shown is live).
  await page.setInputFiles('#pick-folder', photos);
  await page.waitForFunction(() => Number(document.body.dataset.count) >= 10, null, { timeout: 120000 });
  const closed = new Promise((r) => context.once('close', r));
  killBrowser(profile);
  await closed;

  // Start again on the same profile: the interrupted import is reported.
  context = await launch(profile);
  page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}web/demo/?model=shapes`);
  await waitReady(page);
  const kept = Number(await data(page, 'count'));
  console.log(`# killed with ${kept} of ${N} photos stored`);
  assert.ok(kept >= 10 && kept < N, `${kept} photos stored at the kill`);
  assert.equal(await data(page, 'interrupted'), String(N));
  assert.equal(await page.isVisible('#resume-box'), true, 'the interrupted import is reported');
  assert.equal(await page.textContent('#resume-text'), `Adding photos (${N} photos) was interrupted; ${kept} photos are stored now. ` +
    'Pick the same photos again to add the rest: those already stored are skipped.');
  assert.equal(await data(page, 'models'), `clipdb-shapes=${kept}`, 'every stored photo has its vector');

  // Resume: its button opens the folder chooser; given the same folder, the rest is added.
  await page.evaluate(() => { delete document.body.dataset.lastInsert; });
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#resume')]);
  await chooser.setFiles(photos);
  await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 600000 });
  assert.deepEqual(JSON.parse(await data(page, 'lastInsert')), { inserted: N - kept, skipped: kept, failed: 0 });
  assert.equal(await data(page, 'count'), String(N));
  assert.equal(await data(page, 'models'), `clipdb-shapes=${N}`);
  assert.equal(await page.isVisible('#resume-box'), false);

  // Each photo once: walk the whole grid, collecting what it draws.
  await page.click('#show-all');
  await page.waitForFunction((n) => document.body.dataset.shown === String(n), N);
  const seen = await page.evaluate(async () => {
    const grid = document.getElementById('results');
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    const at = new Map();
    for (let y = grid.getBoundingClientRect().top + scrollY - 100; ; y += innerHeight / 2) {
      scrollTo(0, y);
      for (let k = 0; k < 20; k++) await frame();
      for (const f of grid.querySelectorAll('figure')) {
        const i = Number(f.dataset.index);
        if (at.has(i) && at.get(i) !== f.dataset.id) return { error: `index ${i} drew ${at.get(i)} and ${f.dataset.id}` };
        at.set(i, f.dataset.id);
      }
      if (scrollY + innerHeight >= document.documentElement.scrollHeight - 1) break;
    }
    return { ids: [...at].sort((a, b) => a[0] - b[0]).map(([i, id]) => `${i} ${id}`) };
  });
  assert.equal(seen.error, undefined, seen.error);
  assert.equal(seen.ids.length, N, 'the grid holds N photos');
  const ids = seen.ids.map((s) => s.split(' ')[1]);
  assert.deepEqual(seen.ids.map((s) => Number(s.split(' ')[0])), [...Array(N).keys()], 'indices 0 … N-1');
  assert.deepEqual([...ids].sort(), files.map((f) => `photos/${f}`), 'each file once');

  // Searchable: the rankings of the same engine in Node over the N files.
  for (const text of ['a red circle', 'a blue star', 'a yellow heart']) {
    const got = await search(page, text);
    const want = rank(text);
    assert.equal(got.length, 24, text);
    assert.deepEqual(got.map((h) => h.id), want.slice(0, 24).map((h) => h.id), `${text}: the ranking the engine gives in Node`);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i].score - want[i].score) < 1e-5, `${text}: score ${i}: ${got[i].score} vs ${want[i].score}`);
  }
  assert.deepEqual(errors, [], 'no uncaught page errors');
});
