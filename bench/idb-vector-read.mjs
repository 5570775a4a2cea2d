// How fast Chromium's IndexedDB gives back 512-d float32 vector chunks (the open of a store):
// records holding a Float32Array (f) against records holding the same floats as a Blob (b),
// read one at a time (readSeq) or 4 ahead (readPar), in one fresh browser per case. Prints
// wall time and the CPU time of each browser process. This chose the vectors' storage form in
// web/src/db/storage.mjs and the read-ahead in vector-set.mjs.
//   node bench/idb-vector-read.mjs [vectors per chunk, default 2048]
import os from 'node:os';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { serve } from '../scripts/serve.mjs';
import { withBrowser } from './store-chromium.mjs';
import { procs, diff } from './procs.mjs';
const profile = path.join(os.tmpdir(), 'clipdb-idb-vector-read'); rmSync(profile, { recursive: true, force: true });
const server = await serve({ port: 0 });
const sum = (o) => Object.entries(o).map(([k, v]) => `${k.split('#')[0]}=${v}`).join(' ');
const per = Number(process.argv[2] ?? 2048), chunks = Math.ceil(50000 / per);
/** A fresh browser on the profile with the probe page open and its database opened. */
const browser = (fn) => withBrowser(profile, server, 'bench/idb-vector-read.html', async (page) => { await page.evaluate(() => exp.open()); await fn(page); });
await browser((p) => p.evaluate(([c, per]) => exp.write(c, per), [chunks, per]));
for (const [name, ...a] of [['readSeq', 'f'], ['readSeq', 'b'], ['readPar', 'f', 4], ['readPar', 'b', 4]]) {
  await browser(async (page) => {
    const p0 = procs(profile);
    const r = await page.evaluate(([n, a]) => exp[n](...a), [name, a]);
    console.log(per, name, a.join(','), r[0].toFixed(0), 'ms', r[1], 'vectors;', sum(diff(p0, procs(profile))));
  });
}
await server.close();
