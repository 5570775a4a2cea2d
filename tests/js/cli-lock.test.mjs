// Two `clipdb index` runs on one store (native and wasm CLI): the store lock makes the second
// wait for the first and re-read the store, so the store ends with exactly the union of both
// runs' images (10 repetitions, each in a fresh store); --no-wait refuses by name while another
// process holds the lock; temp files are per process and none is left behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clis, run, lastError, model, haveModel, exifDir, readStoreFile } from './cli-helpers.mjs';

let skip = false;
if (!haveModel) skip = 'the shipped model models/clipdb-shapes (model.safetensors + vocab.txt.gz) is missing';
else if (!clis.length) skip = 'no CLI built (run scripts/build)';

/** Run a CLI command without blocking: resolves {status, stdout, stderr}. */
function start(cli, args) {
  const [, exe, pre] = cli;
  const child = spawn(exe, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  return { child, done };
}

describe('CLI store lock: concurrent index runs keep every image', { skip }, () => {
  let tmp, setA, setB;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-lock-'));
    // Two disjoint image sets (copies of the EXIF fixtures under distinct names).
    setA = path.join(tmp, 'a');
    setB = path.join(tmp, 'b');
    const src = readdirSync(exifDir).filter((f) => f.endsWith('.jpg')).sort();
    for (const [dir, n] of [[setA, 12], [setB, 10]]) {
      mkdirSync(dir);
      for (let i = 0; i < n; i++) copyFileSync(path.join(exifDir, src[i % src.length]), path.join(dir, `${path.basename(dir)}-${String(i).padStart(2, '0')}.jpg`));
    }
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  for (const cli of clis) {
    const name = cli[0];
    const reps = name === 'native' ? 10 : 3; // the wasm CLI starts slower; the same code path
    it(`${name}: ${reps} x two concurrent index runs over different images: the store holds exactly the union`, async () => {
      const want = [...readdirSync(setA).map((f) => path.join(setA, f)), ...readdirSync(setB).map((f) => path.join(setB, f))].sort();
      for (let rep = 0; rep < reps; rep++) {
        const store = path.join(tmp, `store-${name}-${rep}`);
        const a = start(cli, ['index', '--model', model, '--store', store, '--save-every', '2', setA]);
        const b = start(cli, ['index', '--model', model, '--store', store, '--save-every', '2', setB]);
        const [ra, rb] = await Promise.all([a.done, b.done]);
        assert.equal(ra.status, 0, ra.stderr);
        assert.equal(rb.status, 0, rb.stderr);
        const s = readStoreFile(readFileSync(path.join(store, 'clipdb-store.bin')));
        assert.ok(s.checksumOk, 'checksum');
        assert.deepEqual(s.entries.map((e) => e.path), want, `repetition ${rep}`);
        // nothing but the store and its lock is left in the folder (no temp files)
        assert.deepEqual(readdirSync(store).filter((f) => !f.startsWith('clipdb-store.lock')), ['clipdb-store.bin']);
      }
    });
  }

  it('native: a second index waits while the lock is held, or refuses at once with --no-wait', { skip: !clis.some((c) => c[0] === 'native') && 'no native CLI' }, async () => {
    const cli = clis.find((c) => c[0] === 'native');
    const store = path.join(tmp, 'store-held');
    mkdirSync(store);
    // Another process holds the flock on the lock file.
    const holder = spawn('python3', ['-c', 'import fcntl, sys, time\nf = open(sys.argv[1], "a")\nfcntl.flock(f, fcntl.LOCK_EX)\nprint("locked", flush=True)\ntime.sleep(30)', path.join(store, 'clipdb-store.lock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve, reject) => { holder.stdout.once('data', resolve); holder.once('exit', reject); });
      const r = run(cli, ['index', '--model', model, '--store', store, '--no-wait', setA]);
      assert.equal(r.status, 1);
      const e = lastError(r);
      assert.equal(e.error, 'INVALID_STATE');
      assert.equal(e.message, `store ${store} is in use by another clipdb process (lock ${path.join(store, 'clipdb-store.lock')})`);
      assert.equal(existsSync(path.join(store, 'clipdb-store.bin')), false, 'nothing written');
      const waiting = start(cli, ['index', '--model', model, '--store', store, setA]);
      let finished = false;
      waiting.done.then(() => { finished = true; });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(finished, false, 'index finished while the lock was held');
      holder.kill('SIGKILL'); // its lock goes with it
      const w = await waiting.done;
      assert.equal(w.status, 0, w.stderr);
      assert.equal(readStoreFile(readFileSync(path.join(store, 'clipdb-store.bin'))).entries.length, 12);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('wasm: a lock file naming a live process makes --no-wait refuse; one naming a dead process is taken over', { skip: !clis.some((c) => c[0] === 'wasm') && 'no wasm CLI' }, () => {
    const cli = clis.find((c) => c[0] === 'wasm');
    const store = path.join(tmp, 'store-held-wasm');
    mkdirSync(store);
    const lock = path.join(store, 'clipdb-store.lock.pid');
    writeFileSync(lock, String(process.pid)); // this test's process: alive
    let r = run(cli, ['index', '--model', model, '--store', store, '--no-wait', setA]);
    assert.equal(r.status, 1);
    assert.equal(lastError(r).message, `store ${store} is in use by another clipdb process (lock ${lock})`);
    // a process id that does not exist (a holder that was killed): stale, taken over
    writeFileSync(lock, '2147483646');
    r = run(cli, ['index', '--model', model, '--store', store, '--no-wait', setA]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(lock), false, 'the lock file is removed on exit');
    assert.equal(readStoreFile(readFileSync(path.join(store, 'clipdb-store.bin'))).entries.length, 12);
  });
});
