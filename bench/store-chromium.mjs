// The Chromium half of bench/store.mjs: Debian chromium through playwright-core with the
// browser tests' launch flags (tests/browser/chromium.mjs), real IndexedDB in a profile folder
// under bench/work/store/, one fresh browser per phase (insert; open + queries; export to an
// OPFS file + import into a fresh store). Renderer memory is the resident set (VmRSS, and the
// peak VmHWM) of the page's renderer process, read from /proc: the largest --type=renderer
// process among the browser's descendants.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { serve } from '../scripts/serve.mjs';
import { chromium, CHROMIUM, ARGS, chromiumSkip } from '../tests/browser/chromium.mjs';

/** {pid, rss, hwm} (MB) of the biggest renderer process under the browser using `profile`. */
export function rendererMemory(profile) {
  const ps = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8', maxBuffer: 1 << 24 }).split('\n').filter(Boolean)
    .map((l) => { const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l); return { pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }; });
  const browser = ps.find((p) => p.args.includes(`--user-data-dir=${profile}`) && !p.args.includes('--type='));
  if (!browser) return null;
  const mine = new Set([browser.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of ps) if (!mine.has(p.pid) && mine.has(p.ppid)) { mine.add(p.pid); grew = true; }
  }
  let best = null;
  for (const p of ps) {
    // Headless Chromium runs its own UI in a renderer too (--top-chrome-webui): not the page's.
    if (!mine.has(p.pid) || !p.args.includes('--type=renderer') || /--top-chrome-webui|--extension-process/.test(p.args)) continue;
    let st;
    try { st = readFileSync(`/proc/${p.pid}/status`, 'utf8'); } catch { continue; }
    const kb = (f) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
    const m = { pid: p.pid, rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
    if (!best || m.rss > best.rss) best = m;
  }
  return best;
}

/**
 * CPU time (ms, user + system) used so far by the browser's processes: {renderer (`rendererPid`,
 * default the largest renderer), total (every process of the browser, IndexedDB's included)}.
 */
export function browserCpu(profile, rendererPid = rendererMemory(profile)?.pid) {
  const ps = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8', maxBuffer: 1 << 24 }).split('\n').filter(Boolean)
    .map((l) => { const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l); return { pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }; });
  const browser = ps.find((p) => p.args.includes(`--user-data-dir=${profile}`) && !p.args.includes('--type='));
  if (!browser) return null;
  const mine = new Set([browser.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of ps) if (!mine.has(p.pid) && mine.has(p.ppid)) { mine.add(p.pid); grew = true; }
  }
  const ticks = (pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(rest[11]) + Number(rest[12])) * 10; // utime + stime, 100 Hz ticks → ms
    } catch { return 0; }
  };
  let total = 0;
  for (const pid of mine) total += ticks(pid);
  return { renderer: rendererPid ? ticks(rendererPid) : null, total };
}

/** Poll the renderer's RSS every `ms` until stop() (→ the largest value seen, MB). */
function sampleRenderer(profile, ms = 250) {
  let max = 0;
  const t = setInterval(() => { const m = rendererMemory(profile); if (m) max = Math.max(max, m.rss); }, ms);
  return () => { clearInterval(t); const m = rendererMemory(profile); if (m) max = Math.max(max, m.rss); return { max, hwm: m?.hwm ?? null }; };
}

/**
 * The port of the server whose origin wrote the profile's IndexedDB (an origin includes its
 * port, so a reused profile must be served from the same one), or 0 for a new profile.
 */
export function profilePort(profile) {
  let names = [];
  try { names = readdirSync(path.join(profile, 'Default', 'IndexedDB')); } catch { return 0; }
  // Several origins (an earlier run under another port): the one holding the most data.
  const size = (d) => { try { return readdirSync(d).reduce((t, f) => t + statSync(path.join(d, f)).size, 0); } catch { return 0; } };
  let best = null;
  for (const n of names) {
    const m = /^http_127\.0\.0\.1_(\d+)\.indexeddb\.leveldb$/.exec(n);
    if (!m) continue;
    const bytes = size(path.join(profile, 'Default', 'IndexedDB', n));
    if (!best || bytes > best.bytes) best = { port: Number(m[1]), bytes };
  }
  return best ? best.port : 0;
}

/**
 * A fresh Chromium on `profile` with `file` (a bench page under the repository root, served by
 * `server`) loaded until it sets window.ready; resolves to fn(page) and always closes the browser.
 */
export async function withBrowser(profile, server, file, fn) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (e) => console.error('pageerror:', e));
    page.setDefaultTimeout(0);
    await page.goto(`${server.url}${file}`);
    await page.waitForFunction(() => window.ready === true);
    return await fn(page);
  } finally {
    await context.close();
  }
}

export async function run({ n, lib, tag, work, record, reuse, batch, exportOnly = false }) {
  const skip = chromiumSkip();
  if (skip) { console.error(`# chromium cases skipped: ${skip}`); return; }
  const profile = path.join(work, `chromium-${tag}-${n}`);
  if (!reuse) rmSync(profile, { recursive: true, force: true });
  const server = await serve({ port: profilePort(profile) });
  const answersFile = path.join(work, `chromium-answers-${n}.json`);
  try {
    if (!(reuse && existsSync(path.join(profile, 'done')))) {
      rmSync(profile, { recursive: true, force: true });
      const r = await withBrowser(profile, server, 'bench/store.html', async (page) => {
        let last = 0;
        await page.exposeFunction('reportProgress', (k) => { if (k - last >= 10000) { last = k; console.error(`#   ${tag} inserted ${k}/${n}`); } });
        // CLIPDB_BENCH_INSERT_PROFILE=F.cpuprofile: a CPU profile of the page during the insert.
        const cdp = process.env.CLIPDB_BENCH_INSERT_PROFILE ? await page.context().newCDPSession(page) : null;
        if (cdp) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 500 }); await cdp.send('Profiler.start'); }
        const out = await page.evaluate(([lib, n, b]) => window.bench.insert(lib, 'bench', n, b), [lib, n, batch ? Number(batch) : null]);
        if (cdp) writeFileSync(process.env.CLIPDB_BENCH_INSERT_PROFILE, JSON.stringify((await cdp.send('Profiler.stop')).profile));
        return out;
      });
      record('store-chromium-insert', { store: tag, ...r });
      writeFileSync(path.join(profile, 'done'), '');
    }
    if (!exportOnly) {
      const r = await withBrowser(profile, server, 'bench/store.html', async (page) => {
        const before = rendererMemory(profile);
        // CLIPDB_BENCH_PROFILE=F.cpuprofile: a CPU profile of the page during the open alone.
        const cdp = process.env.CLIPDB_BENCH_PROFILE ? await page.context().newCDPSession(page) : null;
        if (cdp) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 200 }); await cdp.send('Profiler.start'); }
        // Two steps (openDatabase; db.add of the vector index), CPU time read around each.
        await page.evaluate((lib) => import(lib), lib);
        const rpid = rendererMemory(profile)?.pid;
        const cpu0 = browserCpu(profile, rpid);
        const a = await page.evaluate((lib) => window.bench.openOnly(lib, 'bench'), lib);
        const cpu1 = browserCpu(profile, rpid);
        const afterDocs = rendererMemory(profile);
        const b = await page.evaluate(() => window.bench.addOnly());
        const cpu2 = browserCpu(profile, rpid);
        const opened = {
          ...a, ...b, open_ms: a.load_docs_ms + b.add_index_ms,
          open_cpu_renderer_ms: cpu2.renderer - cpu0.renderer, open_cpu_all_processes_ms: cpu2.total - cpu0.total,
          load_docs_cpu_all_processes_ms: cpu1.total - cpu0.total, add_index_cpu_all_processes_ms: cpu2.total - cpu1.total,
          load_docs_cpu_renderer_ms: cpu1.renderer - cpu0.renderer, add_index_cpu_renderer_ms: cpu2.renderer - cpu1.renderer,
        };
        if (cdp) writeFileSync(process.env.CLIPDB_BENCH_PROFILE, JSON.stringify((await cdp.send('Profiler.stop')).profile));
        const after = rendererMemory(profile);
        // The resident set while the page sits idle after the open (V8 collects the open's
        // garbage when it sees the page idle): at 5, 10 and 20 s.
        const settle = {};
        for (const s of [5, 10, 20]) {
          await new Promise((r) => setTimeout(r, (s - (Object.keys(settle).length ? Number(Object.keys(settle).at(-1).split('_')[2]) : 0)) * 1000));
          settle[`renderer_rss_idle_${s}s_mb`] = rendererMemory(profile)?.rss;
        }
        // The V8 heap exactly (performance.memory is rounded), then the resident set again after a
        // full garbage collection: what the open left live, against what it left for the GC.
        const cdpMem = await page.context().newCDPSession(page);
        const heap = await cdpMem.send('Runtime.getHeapUsage');
        await cdpMem.send('HeapProfiler.collectGarbage');
        const heapGc = await cdpMem.send('Runtime.getHeapUsage');
        const afterGc = rendererMemory(profile);
        await cdpMem.detach();
        // CLIPDB_BENCH_SMAPS=F: the renderer's /proc smaps right after the open (where its memory is).
        if (process.env.CLIPDB_BENCH_SMAPS && after) writeFileSync(process.env.CLIPDB_BENCH_SMAPS, readFileSync(`/proc/${after.pid}/smaps`));
        const q = await page.evaluate(() => window.bench.queries());
        if (tag === 'clipdb') writeFileSync(answersFile, JSON.stringify(q.answers));
        delete q.answers;
        const mb = (x) => x / 2 ** 20;
        return {
          ...opened, renderer_rss_before_open_mb: before?.rss, renderer_rss_after_docs_mb: afterDocs?.rss, renderer_rss_after_open_mb: after?.rss, ...settle,
          v8_heap_used_mb: mb(heap.usedSize), v8_heap_total_mb: mb(heap.totalSize), v8_heap_used_after_gc_mb: mb(heapGc.usedSize),
          v8_heap_total_after_gc_mb: mb(heapGc.totalSize), renderer_rss_after_gc_mb: afterGc?.rss,
          ...q, renderer_peak_mb: rendererMemory(profile)?.hwm, renderer_pids: [before?.pid, after?.pid, afterGc?.pid, rendererMemory(profile)?.pid].join(','),
        };
      });
      record('store-chromium-open', { store: tag, n, ...r });
    }
    if (tag === 'clipdb' && exportOnly) {
      const file = `export-${n}.clipdb`;
      const ex = await withBrowser(profile, server, 'bench/store.html', async (page) => {
        await page.evaluate((lib) => window.bench.open(lib, 'bench'), lib);
        const stop = sampleRenderer(profile);
        const r = await page.evaluate((f) => window.bench.exportToOpfs(f), file);
        return { ...r, ...Object.fromEntries(Object.entries(stop()).map(([k, v]) => [`renderer_${k}_mb`, v])) };
      });
      record('store-chromium-export', { store: tag, n, export: ex });
      const expect = JSON.parse(readFileSync(answersFile, 'utf8'));
      const im = await withBrowser(profile, server, 'bench/store.html', async (page) => {
        const stop = sampleRenderer(profile);
        const r = await page.evaluate(([lib, f, e]) => window.bench.importFromOpfs(lib, 'imported', f, e), [lib, file, expect]);
        return { ...r, ...Object.fromEntries(Object.entries(stop()).map(([k, v]) => [`renderer_${k}_mb`, v])) };
      });
      record('store-chromium-import', { store: tag, n, import: im });
      await withBrowser(profile, server, 'bench/store.html', (page) => page.evaluate((f) => window.bench.cleanup('imported', f), file));
    }
  } finally {
    await server.close();
  }
}
