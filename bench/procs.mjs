// CPU time (ms) of each process of a Chromium started with --user-data-dir=profile, by process type.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
export function procs(profile) {
  const ps = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8', maxBuffer: 1 << 24 }).split('\n').filter(Boolean)
    .map((l) => { const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l); return { pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }; });
  const browser = ps.find((p) => p.args.includes(`--user-data-dir=${profile}`) && !p.args.includes('--type='));
  const mine = new Map([[browser.pid, browser]]);
  for (let grew = true; grew;) { grew = false; for (const p of ps) if (!mine.has(p.pid) && mine.has(p.ppid)) { mine.set(p.pid, p); grew = true; } }
  const out = {};
  for (const [pid, p] of mine) {
    let t = 0; try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8'); const r = f.slice(f.lastIndexOf(')') + 2).split(' '); t = (Number(r[11]) + Number(r[12])) * 10; } catch {}
    const type = (/--type=(\S+)/.exec(p.args)?.[1] ?? 'browser') + (/--utility-sub-type=(\S+)/.exec(p.args)?.[1] ? ':' + /--utility-sub-type=(\S+)/.exec(p.args)[1] : '');
    out[`${type}#${pid}`] = t;
  }
  return out;
}
export const diff = (a, b) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => v > 0));
