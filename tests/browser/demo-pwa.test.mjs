// The photo-search demo as an installable app (Debian's Chromium via playwright-core), served
// from a copy of web/demo in a temporary folder so that the test can publish an update:
//   * Chromium's own installability check (CDP Page.getInstallabilityErrors) finds nothing
//     wrong with the manifest and service worker; the same page with a manifest that lacks
//     icons and says display "browser" is reported (the check does look);
//   * 80 photos are added; then the app's files change (a new VERSION in sw.js, a new heading
//     in index.html): the open page notices the new service worker and offers a reload; after
//     it the page shows the new version and heading, the old version's cache is gone, and all
//     80 photos are still there, with each model's count and the same search results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, cp } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM, PYTHON, pythonSkip, NEEDS_SHAPES_MODEL } from './chromium.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const skip = chromiumSkip([NEEDS_WASM, NEEDS_SHAPES_MODEL]) || pythonSkip();

let work, demo, photos, server, badServer;
before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-demo-pwa-'));
  demo = path.join(work, 'demo');
  await cp(path.join(repo, 'web', 'demo'), demo, { recursive: true });
  // The negative control: the same app with a manifest no browser would install.
  const bad = path.join(work, 'bad');
  await cp(path.join(repo, 'web', 'demo'), bad, { recursive: true });
  const m = JSON.parse(readFileSync(path.join(bad, 'manifest.webmanifest'), 'utf8'));
  delete m.icons;
  m.display = 'browser';
  writeFileSync(path.join(bad, 'manifest.webmanifest'), JSON.stringify(m));
  photos = path.join(work, 'photos');
  const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', photos, '--seed', '779', '--grid', '1'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  // The rest of the repository (web/src, web/dist, the model, node_modules/idb) as it is.
  server = await serve({ root: repo, mounts: { '/web/demo/': demo } });
  badServer = await serve({ root: repo, mounts: { '/web/demo/': bad } });
});
after(async () => {
  await server?.close();
  await badServer?.close();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const waitReady = (page) => page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180000 });

async function search(page, text) {
  await page.evaluate(() => { document.body.dataset.query = ''; });
  await page.fill('#query', text);
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction((t) => document.body.dataset.query === `text:${t}`, text);
  return page.$$eval('#results figure', (fs) => fs.map((f) => [f.dataset.id, f.dataset.score]));
}

/** Chromium's installability errors for `page`, once its service worker controls it. */
async function installability(context, page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60000 });
  const cdp = await context.newCDPSession(page);
  try {
    const manifest = await cdp.send('Page.getAppManifest');
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    return { manifestErrors: manifest.errors, errors: installabilityErrors.map((e) => e.errorId) };
  } finally { await cdp.detach(); }
}

test('demo PWA: Chromium finds it installable; an update of its files is picked up with every photo kept', { skip, timeout: 600000 }, async (t) => {
  const context = await chromium.launchPersistentContext(path.join(work, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
  t.after(() => context.close().catch(() => {}));
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const version = /const VERSION = '([^']+)';/.exec(readFileSync(path.join(demo, 'sw.js'), 'utf8'))?.[1];
  assert.ok(version, 'sw.js names its VERSION');

  await page.goto(`${server.url}web/demo/?model=shapes`);
  await waitReady(page);
  assert.deepEqual(await installability(context, page), { manifestErrors: [], errors: [] }, 'Chromium: installable');
  await page.waitForFunction((v) => document.body.dataset.version === v, version, { timeout: 30000 });
  assert.equal(await page.textContent('#version'), `Version ${version}.`);

  const bad = await context.newPage();
  try {
    await bad.goto(`${badServer.url}web/demo/?model=shapes`);
    await waitReady(bad);
    const r = await installability(context, bad);
    assert.deepEqual(r.manifestErrors, []);
    assert.ok(r.errors.includes('manifest-display-not-supported'), `display "browser" is reported: ${r.errors}`);
    assert.ok(r.errors.includes('manifest-missing-suitable-icon'), `no icon is reported: ${r.errors}`);
  } finally { await bad.close(); }

  // 80 photos, a search to compare after the update.
  await page.evaluate(() => { delete document.body.dataset.lastInsert; });
  await page.setInputFiles('#pick-folder', photos);
  await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 300000 });
  assert.equal(JSON.parse(await page.evaluate(() => document.body.dataset.lastInsert)).inserted, 80);
  const red = await search(page, 'a red circle');
  assert.equal(red.length, 24);
  const models = await page.evaluate(() => document.body.dataset.models);
  assert.equal(models, 'clipdb-shapes=80');
  assert.equal(await page.isVisible('#update-box'), false);

  // Publish an update: a new service worker version and a changed page.
  const next = `${version}-update`;
  const sw = readFileSync(path.join(demo, 'sw.js'), 'utf8');
  writeFileSync(path.join(demo, 'sw.js'), sw.replace(`const VERSION = '${version}';`, `const VERSION = '${next}';`));
  const html = readFileSync(path.join(demo, 'index.html'), 'utf8');
  assert.ok(html.includes('clipdb photo search</h1>'));
  writeFileSync(path.join(demo, 'index.html'), html.replace('clipdb photo search</h1>', 'clipdb photo search (updated)</h1>'));
  // The browser looks for a new service worker on navigations and on registration.update()
  // (what it also does by itself from time to time); the open page is told of the new one.
  await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
  await page.waitForFunction((v) => document.body.dataset.version === v, next, { timeout: 60000 });
  assert.equal(await page.isVisible('#update-box'), true, 'the open page offers the update');
  assert.match(await page.textContent('#update-text'), new RegExp(`Version ${next} of this app is installed: reload`));
  assert.equal(await page.textContent('h1'), ' clipdb photo search', 'the open page still runs the files it loaded');
  await Promise.all([page.waitForNavigation(), page.click('#update-reload')]);
  await waitReady(page);
  await page.waitForFunction((v) => document.body.dataset.version === v, next, { timeout: 30000 });
  assert.equal(await page.textContent('h1'), ' clipdb photo search (updated)');
  assert.equal(await page.isVisible('#update-box'), false);
  assert.deepEqual(await page.evaluate(() => caches.keys()), [`clipdb-demo-v${next}`], 'the old version\'s cache is gone');

  // Every photo, both counts and the search results are as before the update.
  assert.equal(await page.evaluate(() => document.body.dataset.count), '80');
  assert.equal(await page.evaluate(() => document.body.dataset.models), models);
  assert.deepEqual(await page.evaluate(() => [document.body.dataset.loaded, document.body.dataset.embedded]), ['80', '0'], 'nothing re-embedded');
  assert.deepEqual(await search(page, 'a red circle'), red);
  assert.deepEqual(await installability(context, page), { manifestErrors: [], errors: [] }, 'still installable');
  assert.deepEqual(errors, [], 'no uncaught page errors');
});
