#!/usr/bin/env node
// Summarise a V8 CPU profile (.cpuprofile from `node --cpu-prof` or Chrome's Profiler domain):
// self time per function, and total (inclusive) time of the functions named on the command line.
//
//   node bench/store-profile.mjs FILE.cpuprofile [--top 25] [--total name1,name2,...]
import { readFileSync } from 'node:fs';

const [file, ...rest] = process.argv.slice(2);
const arg = (n, d) => { const i = rest.indexOf(`--${n}`); return i < 0 ? d : rest[i + 1]; };
const top = Number(arg('top', 25));
const totals = (arg('total', '') || '').split(',').filter(Boolean);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample i lasts timeDeltas[i + 1] µs (the last one: the mean).
const self = new Map();
const deltas = prof.timeDeltas;
const dt = (i) => (i + 1 < deltas.length ? deltas[i + 1] : deltas.reduce((a, b) => a + b, 0) / deltas.length);
const label = (n) => {
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(web|bench|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
};
const inclusive = new Map(totals.map((t) => [t, 0]));
let all = 0;
prof.samples.forEach((id, i) => {
  const d = dt(i);
  all += d;
  const n = nodes.get(id);
  const l = label(n);
  self.set(l, (self.get(l) ?? 0) + d);
  const seen = new Set();
  for (let p = id; p !== undefined; p = parent.get(p)) {
    const name = nodes.get(p).callFrame.functionName;
    if (inclusive.has(name) && !seen.has(name)) { seen.add(name); inclusive.set(name, inclusive.get(name) + d); }
  }
});
console.log(`profile: ${(all / 1000).toFixed(0)} ms sampled`);
for (const [l, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(us / 1000).toFixed(1).padStart(9)} ms  ${(100 * us / all).toFixed(1).padStart(5)} %  ${l}`);
}
for (const [name, us] of inclusive) console.log(`total ${name}: ${(us / 1000).toFixed(1)} ms (${(100 * us / all).toFixed(1)} %)`);
