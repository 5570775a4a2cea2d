// Cross-origin isolation of the photo-search demo (web/demo/) in Debian's Chromium:
//   * served without the COOP/COEP headers (serve({isolate: false})): the page is not
//     isolated and works (photos added, a search); then offline (context offline, server
//     stopped) the service worker serves the app from its cache WITH the headers (sw.js adds
//     them, the cached copies had none): the reloaded page is isolated and searches the same;
//   * served by scripts/serve.mjs with its default headers: isolated online, the same search.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM, NEEDS_SHAPES_MODEL, PYTHON, pythonSkip, demoSearch as search } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]) || pythonSkip();
const SEED = 6262; // not a training seed (scripts/train-tiny-clip.py)

let work, photos;
before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-demo-coi-'));
  photos = path.join(work, 'photos');
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', photos, '--seed', String(SEED), '--count', '12'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const waitReady = async (page, what) => {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', `${what}: ${await page.textContent('#model-status')}`);
};
const isolated = (page) => page.evaluate(() => [self.crossOriginIsolated, typeof SharedArrayBuffer === 'function']);

/** A fresh profile; `body(page, context)` runs; the browser and profile go in any case. */
async function withDemo(body) {
  const profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    return await body(page, context);
  } finally {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

async function addPhotos(page) {
  await page.setInputFiles('#pick-folder', photos);
  await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 120000 });
  return JSON.parse(await page.evaluate(() => document.body.dataset.lastInsert));
}

test('demo: not isolated without the headers but works; isolated offline (service worker) and online (serve.mjs)', { skip, timeout: 600000 }, async () => {
  let plain = await serve({ isolate: false });
  let ranking;
  try {
    await withDemo(async (page, context) => {
      await page.goto(`${plain.url}web/demo/?model=shapes`);
      await waitReady(page, 'without headers');
      assert.deepEqual(await isolated(page), [false, false], 'served without COOP/COEP: not isolated');
      assert.deepEqual(await addPhotos(page), { inserted: 12, skipped: 0, failed: 0 });
      ranking = await search(page, 'a red circle');
      assert.equal(ranking.length, 12);
      // The app's files are in the service worker's cache, then the network goes away.
      await page.waitForFunction(() => document.body.dataset.cached !== undefined, null, { timeout: 60000 });
      assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'the service worker controls the page');
      await context.setOffline(true);
      await plain.close();
      plain = null;
      await page.reload();
      await waitReady(page, 'offline');
      assert.deepEqual(await isolated(page), [true, true], 'offline, from the service worker\'s cache: isolated');
      assert.deepEqual(await search(page, 'a red circle'), ranking, 'offline search');
    });
  } finally {
    await plain?.close();
  }
  const coi = await serve({});
  try {
    await withDemo(async (page) => {
      await page.goto(`${coi.url}web/demo/?model=shapes`);
      await waitReady(page, 'with headers');
      assert.deepEqual(await isolated(page), [true, true], 'served by serve.mjs: isolated');
      assert.deepEqual(await addPhotos(page), { inserted: 12, skipped: 0, failed: 0 });
      assert.deepEqual(await search(page, 'a red circle'), ranking, 'isolated search');
    });
  } finally {
    await coi.close();
  }
});
