// The browser tests' one Chromium setup: Debian's chromium driven by playwright-core
// (`npx playwright install` cannot download here), headless, each profile in a fresh
// --user-data-dir so IndexedDB starts empty.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.CLIPDB_CHROMIUM || '/usr/bin/chromium';
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let pw = null;
try { ({ chromium: pw } = await import('playwright-core')); } catch { /* reported by chromiumSkip */ }
/** playwright-core's chromium launcher, or null when the package is not installed. */
export const chromium = pw;

/**
 * Why the browser tests cannot run on this machine (a message for node:test's `skip`), or
 * false. `needs`: more [path, message] pairs that must exist (e.g. the wasm build).
 */
export function chromiumSkip(needs = []) {
  if (!existsSync(CHROMIUM)) return `chromium not found at ${CHROMIUM}`;
  if (!chromium) return 'playwright-core not installed (npm ci)';
  for (const [file, message] of needs) if (!existsSync(file)) return message;
  return false;
}

/** Requirement: the wasm build in web/dist (for chromiumSkip). */
export const NEEDS_WASM = [new URL('../../web/dist/clipdb.wasm', import.meta.url), 'web/dist/clipdb.wasm missing (scripts/build)'];
/** Requirement: the shipped model in models/clipdb-shapes (for chromiumSkip). */
export const NEEDS_SHAPES_MODEL = [new URL('../../models/clipdb-shapes/model.safetensors', import.meta.url), 'the shipped model models/clipdb-shapes is missing'];

/** Requirement: the default model in models/clipdb-emoji (for chromiumSkip). */
export const NEEDS_EMOJI_MODEL = [new URL('../../models/clipdb-emoji/model.safetensors', import.meta.url), 'the default model models/clipdb-emoji is missing'];

/** Debian's Python, which draws the demo tests' pictures (scripts/shapes.py: PIL and numpy). */
export const PYTHON = '/usr/bin/python3';
/** Why PYTHON cannot draw the pictures (a message for node:test's `skip`), or false. */
export function pythonSkip() {
  return spawnSync(PYTHON, ['-c', 'import PIL, numpy']).status !== 0 ? `${PYTHON} with PIL and numpy is missing (scripts/setup)` : false;
}

/**
 * A persistent browser context on a new, empty profile directory. Returns {profile, context,
 * page, close}; close() shuts the browser and deletes the profile.
 */
export async function openProfile() {
  const profile = await mkdtemp(path.join(tmpdir(), 'clipdb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  const page = context.pages()[0] ?? await context.newPage();
  return {
    profile, context, page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Open tests/browser/<file> from `server` (scripts/serve.mjs) in `page` and wait for window.ready. */
export async function openTestPage(page, server, file) {
  await page.goto(`${server.url}tests/browser/${file}`);
  await page.waitForFunction(() => window.ready === true);
}

/**
 * Type `text` into the demo's search box and submit it; resolves once the page shows that
 * query's results, with [id, cosine score] for each result in order.
 */
export async function demoSearch(page, text) {
  await page.evaluate(() => { document.body.dataset.query = ''; });
  await page.fill('#query', text);
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction((t) => document.body.dataset.query === `text:${t}`, text);
  return page.$$eval('#results figure', (fs) => fs.map((f) => [f.dataset.id, Number(f.dataset.score)]));
}
