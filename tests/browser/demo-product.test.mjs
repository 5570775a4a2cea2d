// The photo-search demo as a person keeps using it (Debian's Chromium via playwright-core):
//   * the chosen model is remembered: a reload loads it from the model cache, embeds nothing;
//   * Load during an import is refused with a message, and no photo is lost;
//   * an import interrupted by a reload is reported on the next visit, with a resume button;
//   * each model-load failure says what went wrong, and the previous model keeps answering;
//   * the page lists each model's indexed photos (after a switch, a resumed import, a restore);
//   * Tab reaches every control in order; Enter/Space activate them; focus is visible;
//   * delete, then Undo, restores the photo and its vector; "All photos" is one grid that draws
//     only the rows near the view, down to the last photo;
//   * axe-core finds no serious or critical violation (empty page, results, 390 px phone);
//   * screenshots of the desktop and 390 px layouts go to tests/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm, readdir, cp } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS, NEEDS_WASM, PYTHON, pythonSkip } from './chromium.mjs';
import { modelsDir } from '../js/golden.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const AXE = path.join(repo, 'node_modules', 'axe-core', 'axe.min.js');
const ARTIFACTS = path.join(repo, 'tests', 'artifacts');

const skip = chromiumSkip([NEEDS_WASM]) || (!existsSync(AXE) && 'axe-core is not installed (npm ci)') || pythonSkip();

let server, work, photos, many, modelCopy;
before(async () => {
  if (skip) return;
  work = await mkdtemp(path.join(tmpdir(), 'clipdb-demo-product-'));
  photos = path.join(work, 'photos');
  many = path.join(work, 'many');
  for (const [dir, grid, seed] of [[photos, '1', 777], [many, '3', 778]]) {
    const g = spawnSync(PYTHON, [path.join(repo, 'scripts', 'shapes.py'), 'write', '--out', dir, '--seed', String(seed), '--grid', grid], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
  }
  // The shipped model under another folder name: "a model chosen by URL".
  modelCopy = path.join(work, 'served', 'other-model');
  mkdirSync(modelCopy, { recursive: true });
  await cp(path.join(modelsDir, 'clipdb-shapes', 'model.safetensors'), path.join(modelCopy, 'model.safetensors'));
  await cp(path.join(modelsDir, 'clipdb-shapes', 'vocab.txt.gz'), path.join(modelCopy, 'vocab.txt.gz'));
  server = await serve({ root: repo, mounts: { '/served/': path.join(work, 'served') } });
});
after(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const state = (page) => page.evaluate(() => document.body.dataset.state);
const waitReady = (page, timeout = 180000) => page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout });
const count = async (page) => Number(await page.evaluate(() => document.body.dataset.count));
const models = (page) => page.evaluate(() => document.body.dataset.models);

async function addFolder(page, dir) {
  await page.evaluate(() => { delete document.body.dataset.lastInsert; });
  await page.setInputFiles('#pick-folder', dir);
  await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 300000 });
  return JSON.parse(await page.evaluate(() => document.body.dataset.lastInsert));
}

async function axe(page, what) {
  await page.addScriptTag({ content: readFileSync(AXE, 'utf8') });
  const r = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })));
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: axe-core serious/critical violations: ${JSON.stringify(bad, null, 1)}`);
}

test('demo as a product: remembered model, guarded loads, resume, keyboard, undo, paging, axe-core', { skip, timeout: 900000 }, async () => {
  const profile = path.join(work, 'profile');
  let context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
  let page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${server.url}web/demo/?model=shapes`);
    await waitReady(page);
    assert.equal(await page.evaluate(() => document.body.dataset.model), 'clipdb-shapes');
    assert.equal(await page.isVisible('#scope'), true, 'the shipped model states its scope where results appear');
    mkdirSync(ARTIFACTS, { recursive: true });
    await axe(page, 'empty page');
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-empty-desktop.png'), fullPage: true });

    // Keyboard: Tab order reaches every control, in document order, each with a visible focus.
    await page.focus('#model-choice');
    const order = ['model-choice', 'model-load', 'drop', 'pick-folder-button', 'pick-files-button', 'samples', 'query'];
    const seen = ['model-choice'];
    for (let i = 0; i < 12 && seen.length < order.length; i++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement?.id);
      if (order.includes(id) && !seen.includes(id)) seen.push(id);
    }
    assert.deepEqual(seen, order, 'Tab order');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    // Enter on "Pick photos" and on the drop zone, Space on "Pick a folder": each activates its
    // file input (the click that opens the chooser; prevented here so no native dialog opens).
    await page.evaluate(() => {
      window.picks = [];
      for (const id of ['pick-files', 'pick-folder']) {
        document.getElementById(id).addEventListener('click', (e) => { window.picks.push(id); e.preventDefault(); });
      }
    });
    for (const [sel, key] of [['#pick-files-button', 'Enter'], ['#drop', 'Enter'], ['#pick-folder-button', 'Space']]) {
      await page.focus(sel);
      await page.keyboard.press(key);
    }
    await page.waitForFunction(() => window.picks.length === 3, null, { timeout: 10000 }).catch(() => {});
    assert.deepEqual(await page.evaluate(() => window.picks), ['pick-files', 'pick-files', 'pick-folder'], 'keyboard activation of the pickers');
    await page.reload(); // drop the instrumentation
    await waitReady(page);

    // Add 80 photos; while they are added, Load is refused with a message; none is lost.
    await page.evaluate(() => { delete document.body.dataset.lastInsert; });
    await page.setInputFiles('#pick-folder', photos);
    await page.waitForFunction(() => document.body.dataset.state === 'indexing', null, { timeout: 60000 });
    await page.click('#model-load');
    assert.match(await page.textContent('#model-status'), /Photos are being added: wait/);
    await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 300000 });
    assert.equal(JSON.parse(await page.evaluate(() => document.body.dataset.lastInsert)).inserted, 80);
    assert.equal(await count(page), 80);
    assert.equal(await models(page), 'clipdb-shapes=80', 'what each model has indexed');
    await page.fill('#query', 'a red circle');
    await page.click('#search-form button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.query === 'text:a red circle');
    await axe(page, 'results page');
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-results-desktop.png'), fullPage: false });

    // Model-load failures: each its own message; the shipped model keeps answering.
    const failures = [
      ['not a url at all', /is not a URL/],
      [`${server.url}served/missing-model/`, /HTTP 404/],
      [`${server.url}served/other-model/nothing.safetensors`, /HTTP 404/],
      ['http://127.0.0.1:9/model/', /unreachable, or the server does not allow this page to read it \(CORS\)/],
    ];
    await page.selectOption('#model-choice', 'url');
    for (const [url, want] of failures) {
      await page.fill('#model-url', url);
      await page.evaluate(() => { document.body.dataset.modelError = ''; });
      await page.click('#model-load');
      await page.waitForFunction(() => document.body.dataset.state === 'ready' && !/^Loading/.test(document.getElementById('model-status').textContent), null, { timeout: 60000 });
      const msg = await page.textContent('#model-status');
      assert.match(msg, want, url);
      if (!/is not a URL/.test(msg)) assert.match(msg, /still using clipdb-shapes/, url);
    }
    const top = await page.$$eval('#results figure', (fs) => fs.map((f) => f.dataset.id));
    await page.click('#search-form button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.query === 'text:a red circle');
    assert.deepEqual(await page.$$eval('#results figure', (fs) => fs.map((f) => f.dataset.id)), top, 'the old model still answers');

    // Delete, then Undo: the photo and its vector are back ("more like this" finds it first).
    const victim = top[0];
    await page.click(`#results figure[data-id="${victim}"] button.delete`);
    await page.waitForFunction(() => document.body.dataset.count === '79');
    await page.click('#undo');
    await page.waitForFunction(() => /^Restored /.test(document.getElementById('add-status').textContent), null, { timeout: 60000 });
    assert.equal(await count(page), 80);
    await page.fill('#query', '');
    await page.evaluate(() => { delete document.body.dataset.shown; });
    await page.click('#show-all');
    await page.waitForFunction(() => document.body.dataset.shown !== undefined);
    // Stored again, it is the newest photo: the last of the grid.
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForFunction((id) => document.querySelector(`#results figure[data-id="${id}"][data-index="79"]`), victim);
    await page.click(`#results figure[data-id="${victim}"] button.like`);
    await page.waitForFunction((id) => document.body.dataset.query === `id:${id}`, victim);
    assert.equal(await page.$eval('#results figure', (f) => f.dataset.id), victim);

    // Choose another model by URL: every photo is embedded with it once.
    await page.fill('#model-url', `${server.url}served/other-model/`);
    await page.click('#model-load');
    await page.waitForFunction(() => document.body.dataset.model === 'other-model', null, { timeout: 180000 });
    await waitReady(page);
    assert.equal(await page.evaluate(() => document.body.dataset.embedded), '80');
    assert.equal(await page.isVisible('#scope'), false, 'a user-chosen model gets no shipped-model note');
    // Both models' vectors are kept: each has indexed the 80 photos; the one in use comes first.
    assert.equal(await models(page), 'other-model=80,clipdb-shapes=80');
    assert.equal(await page.textContent('#models'), 'Indexed: other-model: 80 photos (in use) · clipdb-shapes: 80 photos');

    // Reload: the chosen model comes back from the model cache; nothing is embedded.
    await page.reload();
    await waitReady(page);
    assert.equal(await page.evaluate(() => document.body.dataset.model), 'other-model');
    assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'cache');
    assert.deepEqual(await page.evaluate(() => [document.body.dataset.loaded, document.body.dataset.embedded]), ['80', '0']);

    // An import interrupted by closing the page is reported on the next visit; resume adds the rest.
    await page.evaluate(() => { delete document.body.dataset.lastInsert; });
    await page.setInputFiles('#pick-folder', many);
    await page.waitForFunction(() => Number(document.body.dataset.count) > 85, null, { timeout: 120000 });
    await page.reload();
    await waitReady(page);
    assert.ok(await page.isVisible('#resume-box'), 'the interrupted import is reported');
    assert.match(await page.textContent('#resume-text'), /was interrupted/);
    const total = 80 + (await readdir(many)).length;
    // "Resume" opens the folder picker (checked above for the same input); pick the folder.
    await page.evaluate(() => { delete document.body.dataset.lastInsert; });
    await page.setInputFiles('#pick-folder', many);
    await page.waitForFunction(() => document.body.dataset.lastInsert, null, { timeout: 600000 });
    assert.equal(await count(page), total, 'exactly every photo once');
    assert.equal(await page.isVisible('#resume-box'), false);
    // The new photos were embedded by the model in use only.
    assert.equal(await models(page), `other-model=${total},clipdb-shapes=80`);

    // "All photos": one grid over the whole library; only the rows near the view are drawn, and
    // scrolling to the end draws the last photo added (tests/browser/demo-library.test.mjs
    // does this over 10,000 photos).
    await page.evaluate(() => { delete document.body.dataset.shown; });
    await page.click('#show-all');
    await page.waitForFunction((n) => document.body.dataset.shown === String(n), total);
    assert.match(await page.textContent('#results-status'), new RegExp(`^All ${total} photos`));
    const drawn = await page.$$eval('#results figure', (fs) => fs.map((f) => Number(f.dataset.index)));
    assert.ok(drawn.length >= 7 && drawn.length < 150, `${drawn.length} figures drawn of ${total}`);
    assert.deepEqual(drawn, drawn.map((_, i) => i), 'the first photos, in order');
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForFunction((n) => document.querySelector(`#results figure[data-index="${n - 1}"]`), total);
    assert.ok(await page.$$eval('#results figure', (fs) => fs.length) < 150);

    // Back up, clear everything, restore: every photo back, nothing embedded, same results.
    await page.fill('#query', 'a blue star');
    await page.evaluate(() => { document.body.dataset.query = ''; });
    await page.click('#search-form button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.query === 'text:a blue star');
    const before = await page.$$eval('#results figure', (fs) => fs.map((f) => [f.dataset.id, f.dataset.score]));
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('#backup')]);
    const backup = path.join(work, 'backup.clipdb');
    await download.saveAs(backup);
    const names = spawnSync('tar', ['tf', backup], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.equal(names[0], 'clipdb-export.json');
    page.once('dialog', (d) => d.accept());
    await page.click('#clear');
    await page.waitForFunction(() => document.body.dataset.count === '0', null, { timeout: 60000 });
    await page.setInputFiles('#restore', backup);
    await page.waitForFunction(() => /^Restored /.test(document.getElementById('results-status').textContent), null, { timeout: 300000 });
    assert.match(await page.textContent('#results-status'), new RegExp(`Restored ${total} photos`));
    assert.equal(await count(page), total);
    assert.equal(await models(page), `other-model=${total},clipdb-shapes=80`, 'the backup carried both models\' vectors');
    await page.fill('#query', 'a blue star');
    await page.evaluate(() => { document.body.dataset.query = ''; });
    await page.click('#search-form button[type=submit]');
    await page.waitForFunction(() => document.body.dataset.query === 'text:a blue star');
    assert.deepEqual(await page.$$eval('#results figure', (fs) => fs.map((f) => [f.dataset.id, f.dataset.score])), before, 'restored results');

    // Phone layout: 390 px wide, touch targets at least 44 px, no serious axe violation.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#search-form button[type=submit]');
    const small = await page.$$eval('button:not([hidden])', (bs) => bs.filter((b) => b.offsetParent && b.getBoundingClientRect().height < 44).map((b) => b.id || b.textContent));
    assert.deepEqual(small, [], 'buttons under 44 px tall on a phone');
    await axe(page, '390 px layout');
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-results-390.png'), fullPage: false });
    assert.deepEqual(errors, [], 'no uncaught page errors');
    assert.notEqual(await state(page), 'error');
  } finally {
    await context.close();
  }
});
