// How fast Chromium's IndexedDB gives back pages of documents' small fields (the first half of
// a store's open): 512 documents per record as structured-clone objects ('o', the layout today)
// against the same documents as one JSON string per record ('j', parsed with JSON.parse). One
// fresh browser per case; prints wall time (getAll, then parse) and each browser process's CPU.
//   node bench/idb-page-read.mjs [documents, default 100000]
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { serve } from '../scripts/serve.mjs';
import { withBrowser } from './store-chromium.mjs';
import { procs, diff } from './procs.mjs';
const profile = mkdtempSync(path.join(os.tmpdir(), 'clipdb-idb-page-read-'));
const server = await serve({ port: 0 });
const sum = (o) => Object.entries(o).map(([k, v]) => `${k.split('#')[0]}=${v}`).join(' ');
const n = Number(process.argv[2] ?? 100000);
/** A fresh browser on the profile with the probe page open and its database opened. */
const browser = (fn) => withBrowser(profile, server, 'bench/idb-page-read.html', async (page) => { await page.evaluate(() => exp.open()); await fn(page); });
try {
  await browser((p) => p.evaluate((n) => exp.write(n), n));
  for (const form of ['o', 'j', 'o', 'j']) {
    await browser(async (page) => {
      const p0 = procs(profile);
      const [get, parse, docs, pages] = await page.evaluate((f) => exp.read(f), form);
      console.log(form, `getAll ${get.toFixed(0)} ms + parse ${parse.toFixed(0)} ms,`, docs, 'documents in', pages, 'pages;', sum(diff(p0, procs(profile))));
    });
  }
} finally { await server.close(); rmSync(profile, { recursive: true, force: true }); }
