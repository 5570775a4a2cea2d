// The store in real Chromium (Debian /usr/bin/chromium via playwright-core) with real
// IndexedDB: results identical after a page reload and after a browser restart, without
// re-embedding; a browser killed (SIGKILL) in the middle of insertMany loses nothing whose
// insert had resolved, and every document present after restart is searchable once its
// pending embedding is redone. The image encoder here is a deterministic stand-in (the page's
// hashEmbed); the golden CLIP model runs in tests/js/store-golden.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, chromium, CHROMIUM, ARGS } from './chromium.mjs';
import { goldenDir, repoRoot } from '../js/golden.mjs';
import { loadGolden, referenceOrder } from '../js/store-helpers.mjs';

const skip = chromiumSkip();

let server, profile;
before(async () => {
  if (skip) return;
  server = await serve(goldenDir ? { mounts: { '/golden/': goldenDir } } : {});
  profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-'));
});
after(async () => {
  await server?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function launch() {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => console.error('pageerror:', e));
  return { context, page };
}

async function load(page) {
  await page.goto(`${server.url}tests/browser/store.html`);
  await page.waitForFunction(() => window.ready === true);
}

/** SIGKILL the browser process of our profile (found by its --user-data-dir), not a graceful close. */
function killBrowser() {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const pids = out.split('\n').filter((l) => l.includes(`--user-data-dir=${profile}`) && !l.includes('--type=')).map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.ok(pids.length >= 1, 'found the browser process');
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}

test('reload and browser restart: identical results without re-embedding', { skip, timeout: 120000 }, async () => {
  let { context, page } = await launch();
  await load(page);
  let r = await page.evaluate(() => window.openStore('reopen'));
  assert.deepEqual(r.added, { loaded: 0, embedded: 0 });
  const ins = await page.evaluate(() => window.insert(0, 30));
  assert.equal(ins.ids.length, 30);
  assert.equal(typeof ins.persisted, 'boolean', 'navigator.storage.persist() was asked on first write');
  const before = [];
  for (const [i, n, f] of [[3, 5, {}], [17, 4, { n: { $gte: 10 } }], [29, 40, {}]]) before.push(await page.evaluate(([i, n, f]) => window.query(i, n, f), [i, n, f]));
  assert.equal(before[0][0][0], 'img003');
  assert.ok(Math.abs(before[0][0][1] - 1) < 1e-6);
  assert.equal(before[2].length, 30);
  assert.deepEqual(await page.evaluate(() => window.roundTrip('img004')), { isBlob: true, type: 'image/png', bytes: Array.from((await page.evaluate(() => Array.from(window.imageBytes(4).slice(0, 8))))) });

  const check = async (what) => {
    const r2 = await page.evaluate(() => window.openStore('reopen'));
    assert.deepEqual(r2.added, { loaded: 30, embedded: 0 }, `${what}: rebuilt from IndexedDB`);
    assert.equal(r2.info.documents, 30);
    const calls = await page.evaluate(() => window.embedCalls);
    const afterRes = [];
    for (const [i, n, f] of [[3, 5, {}], [17, 4, { n: { $gte: 10 } }], [29, 40, {}]]) afterRes.push(await page.evaluate(([i, n, f]) => window.query(i, n, f), [i, n, f]));
    assert.deepEqual(afterRes, before, `${what}: identical results`);
    // only the 3 queries were embedded, no document
    assert.equal(await page.evaluate(() => window.embedCalls), calls + 3, `${what}: no re-embedding`);
  };
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  await check('page reload');
  await context.close();
  ({ context, page } = await launch());
  await load(page);
  await check('browser restart');

  // The browser evicts the site's storage (Safari's 7-day rule, "clear site data").
  // Reopening must report an empty store and serve no stale results.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.clearDataForOrigin', { origin: server.url.replace(/\/$/, ''), storageTypes: 'all' });
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const wiped = await page.evaluate(() => window.openStore('reopen'));
  assert.deepEqual(wiped.added, { loaded: 0, embedded: 0 });
  assert.equal(wiped.info.documents, 0);
  assert.deepEqual(await page.evaluate(() => window.query(3, 5)), []);
  await context.close();
});

const haveEngine = existsSync(path.join(repoRoot, 'web', 'src', 'engine.mjs')) && existsSync(path.join(repoRoot, 'web', 'src', 'text.mjs'));
const clipSkip = skip || (!goldenDir ? 'golden data not found (../shared/golden)' : !haveEngine ? 'the CLIP engine JS API (web/src/engine.mjs) is not on this branch yet' : false);

// With the engine and golden data present, the images are the 20 golden files (each used three
// times) embedded by the real wasm CLIP, slowed to 60 ms per image so the kill lands mid-batch;
// otherwise synthetic bytes and the stand-in encoder.
test('browser killed in the middle of insertMany: nothing resolved is lost, pending documents are re-embedded', { skip, timeout: 180000 }, async () => {
  const real = !clipSkip;
  const files = real ? loadGolden().images.map((im) => im.file) : [];
  let { context, page } = await launch();
  await load(page);
  const resolved = [];
  await page.exposeFunction('reportResolved', (id) => { resolved.push(id); });
  await page.evaluate(([real, files]) => window.openStore('crash', { delayMs: 60, real, files }), [real, files]);
  page.evaluate(() => window.insert(0, 60, { batchSize: 8 })).catch(() => {});
  while (resolved.length < 13) await new Promise((r) => setTimeout(r, 10));
  killBrowser();
  await new Promise((r) => context.once('close', r));
  const resolvedBeforeKill = [...resolved];

  ({ context, page } = await launch());
  await load(page);
  const state = await page.evaluate(async () => {
    const { openDatabase } = await import('/web/src/index.mjs');
    const db = await openDatabase({ storage: 'indexeddb', name: 'crash', fallback: false });
    const info = db.info;
    const ids = (await db.collection('photos').find()).map((d) => d._id);
    await db.close();
    return { info, ids };
  });
  for (const id of resolvedBeforeKill) assert.ok(state.ids.includes(id), `${id} resolved before the kill and is present`);
  assert.ok(state.info.documents >= resolvedBeforeKill.length && state.info.documents < 60, `documents: ${state.info.documents}`);
  const r = await page.evaluate(([real, files]) => window.openStore('crash', { real, files }), [real, files]);
  assert.equal(r.added.loaded + r.added.embedded, state.info.documents, 'every present document is indexed');
  assert.equal(r.added.embedded, state.info.pending, 're-embedded exactly the pending ones');
  assert.equal(r.info.pending, 0);
  for (const id of state.ids) {
    const i = Number(id.slice(3));
    // real: the same file appears up to 3 times (equal scores), so look at the top 4
    const top = await page.evaluate((i) => window.query(i, 4), i);
    assert.ok(top.some(([hit, score]) => hit === id && score > 0.99999), `${id} is searchable: ${JSON.stringify(top)}`);
  }
  console.log(`# ${real ? 'real CLIP' : 'stand-in encoder'}: killed after ${resolvedBeforeKill.length} resolved inserts; ${state.info.documents} documents present, ${state.info.pending} pending re-embedded`);
  await context.close();
});

test('slow embedder between read and write: no TransactionInactiveError in real IndexedDB', { skip, timeout: 60000 }, async () => {
  const { context, page } = await launch();
  await load(page);
  const r = await page.evaluate(() => window.slowUpdate());
  assert.equal(r[0][0], 'a');
  assert.ok(Math.abs(r[0][1] - 1) < 1e-6, 'the updated image is the one indexed');
  await context.close();
});

// A full disk as users meet it: the browser profile on a 60 MB tmpfs, 1 MB incompressible
// images until the disk fills. Needs root (mount); skipped otherwise.
function mountTmpfs(dir) {
  try { execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=60m', 'tmpfs', dir], { stdio: 'pipe' }); return true; } catch { return false; }
}

test('QuotaExceededError: a named error, nothing half-written, index and storage agree after reload', { skip, timeout: 180000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'clipdb-quota-'));
  if (!mountTmpfs(dir)) { await rm(dir, { recursive: true, force: true }); t.skip('cannot mount a tmpfs for the small-disk profile (needs root)'); return; }
  try {
    const small = path.join(dir, 'profile');
    let context = await chromium.launchPersistentContext(small, { executablePath: CHROMIUM, headless: true, args: ARGS });
    let page = context.pages()[0] ?? await context.newPage();
    await load(page);
    const r = await page.evaluate(() => window.fillQuota('quota'));
    assert.ok(r.error, 'the disk filled up');
    assert.equal(r.error.code, 'QUOTA_EXCEEDED', JSON.stringify(r.error));
    assert.equal(r.error.cause, 'QuotaExceededError', 'the original error is kept as the cause');
    assert.ok(r.ok >= 5 && r.ok < 60, `inserted ${r.ok} x 1 MB before the quota`);
    assert.equal(r.count, r.ok, 'the failed insert left no document');
    assert.equal(r.info.pending, 0);
    assert.equal(r.hits, r.ok, 'the index holds exactly the stored documents');
    await context.close();
    context = await chromium.launchPersistentContext(small, { executablePath: CHROMIUM, headless: true, args: ARGS });
    page = context.pages()[0] ?? await context.newPage();
    await load(page);
    const again = await page.evaluate(() => window.openStore('quota'));
    assert.deepEqual(again.added, { loaded: r.ok, embedded: 0 }, 'after a restart: every earlier document with its vector');
    assert.equal(again.info.documents, r.ok);
    console.log(`# quota hit after ${r.ok} x 1 MB documents: ${r.error.message}`);
    await context.close();
  } finally {
    try { execFileSync('umount', [dir]); } catch { /* already gone */ }
    await rm(dir, { recursive: true, force: true });
  }
});

test('real wasm CLIP in the page: text queries rank golden images as the reference does, also after a restart', { skip: clipSkip, timeout: 180000 }, async () => {
  const g = loadGolden();
  const pick = ['astronaut', 'chelsea', 'coffee', 'camera', 'coins', 'rocket', 'hubble_deep_field', 'palette_P'];
  const images = g.images.filter((im) => pick.includes(im.name));
  const files = images.map((im) => [im.name, im.file]);
  const textIdx = [0, 2, 3, 4, 11];
  const texts = textIdx.map((i) => g.texts[i]);
  let { context, page } = await launch();
  await load(page);
  const first = await page.evaluate(([f, t]) => window.clipStore('clip', f, t), [files, texts]);
  assert.equal(first.embedded, images.length);
  assert.ok(first.blob, 'findOne returns the Blob');
  // JPEG files (rocket, hubble) are decoded by stb_image: allow near-ties of 2e-3 to swap.
  textIdx.forEach((ti, q) => {
    const ref = referenceOrder(images, g.textEmb[ti]);
    const got = first.results[q];
    assert.equal(got.length, images.length);
    for (let i = 0; i < got.length; i++) {
      const ri = ref.find((h) => h.id === got[i][0]).score;
      assert.ok(Math.abs(got[i][1] - ri) < 2e-3, `text ${ti}: score of ${got[i][0]}`);
      for (let j = i + 1; j < got.length; j++) assert.ok(ref.find((h) => h.id === got[j][0]).score <= ri + 2e-3, `text ${ti}: ${got[j][0]} ranked below ${got[i][0]}`);
    }
  });
  await context.close();
  ({ context, page } = await launch());
  await load(page);
  const again = await page.evaluate(([f, t]) => window.clipStore('clip', f, t), [files, texts]);
  assert.deepEqual(again.added, { loaded: images.length, embedded: 0 });
  assert.equal(again.embedded, 0, 'no image re-embedded after the restart');
  assert.deepEqual(again.results, first.results);
  await context.close();
});
