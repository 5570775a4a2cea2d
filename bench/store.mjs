#!/usr/bin/env node
// The store benchmark: documents with 20 KB images and precomputed 512-d vectors (the model
// returns each document's own vector, so no embedding is measured), in Node (the 'fs' adapter,
// one process per phase: bench/store-node.mjs) and in Chromium (real IndexedDB, a fresh browser
// per phase: bench/store.html). clipdb 0.1 (git 8d79f4c, the last commit before the current
// layout) runs the same phases as a peer where it can. Each phase appends one JSON line to
// bench/results.jsonl ({"case": "store-...", ...}); a table is printed at the end.
//
//   node bench/store.mjs [--cases node,node-peer,export,chromium,chromium-peer,chromium-export]
//                        [--sizes 10000,100000] [--peer-sizes 10000] [--batch B] [--reuse]
//
// Stores and the export file live in bench/work/store/ (ignored); --reuse skips the insert
// phase where a store of that size is already there. Big cases take long on a small machine:
// run them niced (`nice -n 10 node bench/store.mjs ...`).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const work = path.join(here, 'work', 'store');
const args = process.argv.slice(2);
const arg = (name, dflt) => { const i = args.indexOf(`--${name}`); return i < 0 ? dflt : args[i + 1]; };
const cases = arg('cases', 'node,node-peer,export,chromium,chromium-peer').split(',');
const sizes = arg('sizes', '10000,100000').split(',').map(Number);
const peerSizes = arg('peer-sizes', '10000').split(',').map(Number);
const batch = arg('batch', null);
const reuse = args.includes('--reuse');
mkdirSync(work, { recursive: true });

const machine = {
  cpus: os.cpus().length, cpu: os.cpus()[0]?.model, mem_gb: Math.round(os.totalmem() / 2 ** 30),
  load1: Number(os.loadavg()[0].toFixed(2)),
};
const rows = [];
function record(caseName, r) {
  const line = { case: caseName, ...r, machine: { ...machine, load1_at_end: Number(os.loadavg()[0].toFixed(2)) }, date: new Date().toISOString() };
  appendFileSync(path.join(here, 'results.jsonl'), JSON.stringify(line) + '\n');
  rows.push(line);
  console.error(`# ${caseName}: ${JSON.stringify(r)}`);
}

/** Run a child and return its last stdout line as JSON. */
function child(cmd, argv, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('close', (code) => {
      const last = out.trim().split('\n').at(-1);
      if (code === 3 && last?.startsWith('{')) { resolve(JSON.parse(last)); return; }
      if (code !== 0) { reject(new Error(`${cmd} ${argv.join(' ')} exited with ${code}`)); return; }
      resolve(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

/** clipdb 0.1's web/src (git 8d79f4c) next to a link to this build's web/dist. */
function peerLib() {
  const dir = path.join(work, 'clipdb-0.1');
  if (!existsSync(path.join(dir, 'web', 'src', 'index.mjs'))) {
    mkdirSync(path.join(dir, 'web'), { recursive: true });
    execFileSync('sh', ['-c', `git archive 8d79f4c web/src | tar -x -C "${dir}"`], { cwd: root });
    execFileSync('ln', ['-sfn', path.join(root, 'web', 'dist'), path.join(dir, 'web', 'dist')]);
  }
  return path.join(dir, 'web', 'src', 'index.mjs');
}

const node = (phase, more) => child(process.execPath, ['--expose-gc', path.join(here, 'store-node.mjs'), phase, ...more]);

async function nodeCase(n, peer) {
  const tag = peer ? 'clipdb-0.1' : 'clipdb';
  const lib = peer ? peerLib() : path.join(root, 'web', 'src', 'index.mjs');
  const dir = path.join(work, `node-${tag}-${n}`);
  if (!(reuse && existsSync(path.join(dir, 'done')))) {
    rmSync(dir, { recursive: true, force: true });
    const r = await node('insert', ['--lib', lib, '--dir', dir, '--n', String(n), ...(batch ? ['--batch', batch] : [])]);
    record('store-node-insert', { store: tag, ...r });
    writeFileSync(path.join(dir, 'done'), '');
  }
  const r = await node('open', ['--lib', lib, '--dir', dir, ...(peer ? [] : ['--save', path.join(work, `answers-${n}.json`)])]);
  record('store-node-open', { store: tag, n, ...r });
}

async function exportCase(n) {
  const dir = path.join(work, `node-clipdb-${n}`);
  if (!existsSync(path.join(work, `answers-${n}.json`))) await nodeCase(n, false);
  const file = path.join(work, `export-${n}.clipdb`);
  const r = await node('export', ['--dir', dir, '--file', file]);
  record('store-node-export', { store: 'clipdb', n, export: r });
  const into = path.join(work, `node-imported-${n}`);
  rmSync(into, { recursive: true, force: true });
  const r2 = await node('import', ['--file', file, '--dir', into, '--expect', path.join(work, `answers-${n}.json`)]);
  record('store-node-import', { store: 'clipdb', n, import: r2 });
  rmSync(into, { recursive: true, force: true });
  rmSync(file, { force: true });
}

let chromiumBench = null;
const chromiumCase = async (...a) => (chromiumBench ??= await import('./store-chromium.mjs')).run(...a);

for (const c of cases) {
  if (c === 'node') for (const n of sizes) await nodeCase(n, false);
  else if (c === 'node-peer') for (const n of peerSizes) await nodeCase(n, true);
  else if (c === 'export') for (const n of sizes) await exportCase(n);
  else if (c === 'chromium') for (const n of sizes) await chromiumCase({ n, lib: '/web/src/index.mjs', tag: 'clipdb', work, record, reuse, batch });
  else if (c === 'chromium-peer') {
    const lib = '/' + path.relative(root, peerLib()).split(path.sep).join('/');
    for (const n of peerSizes) await chromiumCase({ n, lib, tag: 'clipdb-0.1', work, record, reuse, batch: null });
  } else if (c === 'chromium-export') for (const n of sizes) await chromiumCase({ n, lib: '/web/src/index.mjs', tag: 'clipdb', work, record, reuse, batch, exportOnly: true });
  else throw new Error(`unknown case ${c}`);
}

// The table: one row per (environment, store, n).
const fmt = (x, d = 0) => (x == null ? '' : typeof x === 'number' ? x.toFixed(d) : String(x));
const table = new Map();
for (const r of rows) {
  const env = r.case.startsWith('store-chromium') ? 'chromium' : 'node';
  const key = `${env} ${r.store} ${r.n}`;
  table.set(key, { ...(table.get(key) ?? { env, store: r.store, n: r.n }), ...r });
}
console.log('| env | store | docs | open → first query (ms) | memory after open (MB) | like top-10 (ms) | year = 2010 (ms) | year ≥ 2012 (ms) | insert (docs/s) | export / import peak (MB) | imported answers identical |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const t of table.values()) {
  const mem = t.renderer_rss_after_open_mb ?? t.rss_after_open_mb;
  const peaks = t.export || t.import ? `${fmt(t.export?.peak_rss_mb ?? t.export?.renderer_max_mb)} / ${fmt(t.import?.peak_rss_mb ?? t.import?.renderer_max_mb)}` : '';
  console.log(`| ${t.env} | ${t.store} | ${t.n} | ${t.error ? `fails: ${t.error.slice(0, 60)}` : fmt(t.open_ms)} | ${fmt(mem)} | ${fmt(t.like_none_ms, 1)} | ${fmt(t.like_year_eq_ms, 1)} | ${fmt(t.like_year_gte_ms, 1)} | ${fmt(t.docs_per_s)} | ${peaks} | ${t.import ? `${t.import.identical_answers}/${t.import.queries}` : ''} |`);
}
