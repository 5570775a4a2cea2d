// What binary fields cost Chromium's IndexedDB, 3,000 documents of 20 KB: making the bytes, making
// one Blob each, reading each Blob back, storing one Blob per record (putBlobs), the bytes per
// record (putBytes), and 512 documents' bytes or Blobs concatenated into one Blob per record
// (putPacked, putPackedBlobs: what web/src/db/packs.mjs does). Prints wall time and the CPU time
// of each browser process.   node bench/idb-blob-write.mjs
import os from 'node:os';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { serve } from '../scripts/serve.mjs';
import { chromium, CHROMIUM, ARGS } from '../tests/browser/chromium.mjs';
import { procs, diff } from './procs.mjs';
const profile = path.join(os.tmpdir(), 'clipdb-idb-blob-write'); rmSync(profile, { recursive: true, force: true });
const server = await serve({ port: 0 });
const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
const page = context.pages()[0] ?? await context.newPage();
await page.goto(`${server.url}bench/idb-blob-write.html`); await page.waitForFunction(() => window.ready === true);
await page.evaluate(() => exp.open());
const sum = (o) => Object.entries(o).map(([k, v]) => `${k.split('#')[0]}=${v}`).join(' ');
for (const [name, arg] of [['gen', 3000], ['blobs'], ['readBlobs'], ['putBlobs', 512], ['putBytes', 512], ['putPacked', 512], ['putPackedBlobs', 512]]) {
  const p0 = procs(profile);
  const ms = await page.evaluate(([n, a]) => exp[n](a), [name, arg]);
  await new Promise((r) => setTimeout(r, 300));
  console.log(name, ms.toFixed(0), 'ms;', sum(diff(p0, procs(profile))));
}
await context.close(); await server.close();
