// SIGKILL of `clipdb index` (native CLI) at 20 random points in one run: each time the store left
// behind is intact (its checksum holds; every entry it keeps is one of the images with exactly
// the vector an uninterrupted run computes), and re-running the same command ends with a store
// byte-equal to the one an uninterrupted run writes. --save-every 1 makes every embedding a
// store write, so the kills land before, during and after writes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clis, run, model, haveModel, exifDir, readStoreFile } from './cli-helpers.mjs';

const native = clis.find((c) => c[0] === 'native');
let skip = false;
if (!haveModel) skip = 'the shipped model models/clipdb-shapes (model.safetensors + vocab.txt.gz) is missing';
else if (!native) skip = 'no native CLI built (run scripts/build)';

function killAfter(cli, args, ms) {
  const [, exe, pre] = cli;
  const child = spawn(exe, [...pre, ...args], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) => child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); }));
}

describe('CLI index killed at random points', { skip }, () => {
  let tmp, images;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-kill-'));
    images = path.join(tmp, 'images');
    mkdirSync(images);
    const src = readdirSync(exifDir).filter((f) => f.endsWith('.jpg')).sort();
    for (let i = 0; i < 24; i++) copyFileSync(path.join(exifDir, src[i % src.length]), path.join(images, `img-${String(i).padStart(2, '0')}.jpg`));
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  it('20 kills: the store is intact each time and a re-run ends byte-equal to an uninterrupted run', async () => {
    const args = (store) => ['index', '--model', model, '--store', store, '--save-every', '1', images];
    const refStore = path.join(tmp, 'reference');
    const t0 = process.hrtime.bigint();
    const r = run(native, args(refStore));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(r.status, 0, r.stderr);
    const refBytes = readFileSync(path.join(refStore, 'clipdb-store.bin'));
    const ref = readStoreFile(refBytes);
    assert.ok(ref.checksumOk);
    assert.equal(ref.entries.length, 24);
    const refByPath = new Map(ref.entries.map((e) => [e.path, e]));

    let seed = Number(process.env.CLIPDB_KILL_SEED || Date.now() % 1000000);
    console.log(`# kill points: uniform in [0, ${Math.round(ms)}] ms (uninterrupted run ${Math.round(ms)} ms), seed ${seed}`);
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const kept = [];
    let kills = 0;
    // 20 runs that were really killed (one that finished before its kill point does not count)
    for (let k = 0; kills < 20; k++) {
      assert.ok(k < 80, `only ${kills} of ${k} runs were killed before finishing`);
      const store = path.join(tmp, `killed-${k}`);
      const delay = Math.floor(random() * ms);
      const { signal } = await killAfter(native, args(store), delay);
      const file = path.join(store, 'clipdb-store.bin');
      let n = 0;
      if (existsSync(file)) {
        const s = readStoreFile(readFileSync(file));
        assert.ok(s.checksumOk, `kill ${k} at ${delay} ms: checksum`);
        for (const e of s.entries) {
          const want = refByPath.get(e.path);
          assert.ok(want, `kill ${k}: unexpected entry ${e.path}`);
          assert.deepEqual([e.size, e.mtime], [want.size, want.mtime]);
          assert.deepEqual(e.vector, want.vector, `kill ${k}: vector of ${e.path}`);
        }
        n = s.entries.length;
      }
      if (signal === 'SIGKILL') kills++;
      kept.push(`${delay}ms:${signal ? n : 'done'}`);
      const again = run(native, args(store));
      assert.equal(again.status, 0, again.stderr);
      assert.ok(readFileSync(file).equals(refBytes), `kill ${k} at ${delay} ms: the re-run's store differs from the uninterrupted one`);
      assert.deepEqual(readdirSync(store).sort(), ['clipdb-store.bin', 'clipdb-store.lock'], `kill ${k}: leftover files`);
    }
    console.log(`# kill point: entries kept (of 24) -> ${kept.join(', ')}`);
  });
});
