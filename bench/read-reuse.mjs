// Reading vector-chunk-sized files (4 MB each, like the 'fs' adapter's vector files at 512-d)
// into a fresh Buffer per file (fs.readFile, what the adapter does today) against into one
// reused Buffer (fs.readSync into the same memory). On a VM where the first write to a fresh
// page is slow (bench/page-touch.mjs) the fresh buffers cost most of the read; this is the
// figure behind the note that the open should read vectors into reused memory.
//   node bench/read-reuse.mjs [files, default 49] [MB each, default 4]
import { mkdtempSync, writeFileSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomFillSync } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
const n = Number(process.argv[2] ?? 49), mb = Number(process.argv[3] ?? 4);
const dir = mkdtempSync(path.join(os.tmpdir(), 'clipdb-read-reuse-'));
const cpu = (c0) => { const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };
try {
  const files = Array.from({ length: n }, (_, i) => path.join(dir, `chunk-${i}`));
  const bytes = Buffer.alloc(mb << 20);
  for (const f of files) { randomFillSync(bytes, 0, 4096); writeFileSync(f, bytes); }
  const run = async (what, read) => {
    const c0 = process.cpuUsage(), t0 = performance.now();
    let check = 0;
    for (const f of files) check += await read(f);
    console.log(`${what}: ${n} files of ${mb} MB, ${cpu(c0).toFixed(0)} ms CPU, ${(performance.now() - t0).toFixed(0)} ms wall (check ${check})`);
  };
  const scratch = Buffer.allocUnsafeSlow(mb << 20);
  const reused = async (f) => { const fd = openSync(f, 'r'); try { readSync(fd, scratch, 0, scratch.length, 0); } finally { closeSync(fd); } return scratch[0]; };
  const fresh = async (f) => (await readFile(f))[0];
  for (let round = 0; round < 2; round++) { await run('fresh Buffer per file', fresh); await run('one reused Buffer', reused); }
} finally { rmSync(dir, { recursive: true, force: true }); }
