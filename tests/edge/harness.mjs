// Shared by tests/edge/worker.test.mjs, int8.test.mjs and bench/edge.mjs: build the example
// Worker the way a user would (the CLI indexes generated images, or the caller writes its own
// assets; `npm pack` of web/ installed into an empty folder, not linked; wrangler bundles it),
// then serve the bundle with workerd from npm on 127.0.0.1 and query it over HTTP.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, cpSync, writeFileSync, readdirSync, statSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelsDir } from '../js/golden.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);
const cli = path.join(root, 'build/native/clipdb');
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the edge tests cannot run here, or false. */
export function edgeSkip() {
  if (!existsSync(path.join(root, 'web/dist/clipdb.wasm'))) return 'web/dist/clipdb.wasm is missing: run scripts/build';
  if (!existsSync(cli)) return 'build/native/clipdb is missing: run scripts/build';
  if (!existsSync(bin('workerd')) || !existsSync(bin('wrangler'))) return 'workerd/wrangler are not installed: run npm ci (scripts/setup)';
  return false;
}

const run = (file, args, opts = {}) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

/**
 * In `tmp`: images (the demo's generator and seed), a CLI store of them, the example app with
 * clipdb installed from a packed tarball and its assets (prepare.mjs), and wrangler's bundle.
 * Returns {images, store, app, bundle, bundleFiles: [{name, bytes}], bundleBytes, tarball, wranglerLog}.
 */
export function buildExample(tmp, { model = path.join(modelsDir, 'clipdb-shapes') } = {}) {
  const images = path.join(tmp, 'images'), store = path.join(tmp, 'store');
  run(python, [path.join(root, 'scripts/shapes.py'), 'write', '--out', images, '--seed', '4711', '--grid', '1', '--two', '16', '--manifest', path.join(tmp, 'manifest.json')]);
  run(cli, ['index', '--model', path.join(model, 'model.safetensors'), '--store', store, images]);
  const { app, tarball } = installExample(tmp);
  run(process.execPath, [path.join(root, 'examples/edge-worker/prepare.mjs'), '--store', store, '--model', model, '--out', path.join(app, 'assets')]);
  return { images, store, app, tarball, ...bundleExample(tmp, app) };
}

/**
 * In `tmp/app`: the example Worker's src/ and wrangler.toml with clipdb installed from `npm
 * pack` of web/ (a tarball in `tmp`, not a link). Its assets/ is left for the caller to fill:
 * model.safetensors, vocab.txt.gz, index.clipdb. Returns {app, tarball}.
 */
export function installExample(tmp) {
  const app = path.join(tmp, 'app');
  const packed = run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: path.join(root, 'web') });
  const tarball = path.join(tmp, JSON.parse(packed)[0].filename);
  mkdirSync(app);
  cpSync(path.join(root, 'examples/edge-worker/src'), path.join(app, 'src'), { recursive: true });
  cpSync(path.join(root, 'examples/edge-worker/wrangler.toml'), path.join(app, 'wrangler.toml'));
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'edge-app', private: true, type: 'module' }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app });
  return { app, tarball };
}

/**
 * `wrangler deploy --dry-run` of the app in `app` into `tmp/bundle`.
 * Returns {bundle, bundleFiles: [{name, bytes}], bundleBytes, wranglerLog}.
 */
export function bundleExample(tmp, app) {
  const bundle = path.join(tmp, 'bundle');
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', XDG_CONFIG_HOME: path.join(tmp, 'config') };
  const w = spawnSync(bin('wrangler'), ['deploy', '--dry-run', '--outdir', bundle], { cwd: app, env, encoding: 'utf8' });
  const log = `${w.stdout}\n${w.stderr}`;
  if (w.status !== 0) throw new Error(`wrangler deploy --dry-run failed (${w.status}): ${log}`);
  const bundleFiles = readdirSync(bundle).filter((f) => !f.endsWith('.map') && f !== 'README.md')
    .map((name) => ({ name, bytes: statSync(path.join(bundle, name)).size }));
  const bundleBytes = bundleFiles.reduce((a, f) => a + f.bytes, 0);
  return { bundle, bundleFiles, bundleBytes, wranglerLog: log };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/**
 * Serve wrangler's bundle with workerd on 127.0.0.1 (a free port). `date`: the compatibility
 * date; `flags`: compatibility flags. Resolves once the Worker answers; returns {url, stop, log}.
 */
export async function startWorkerd(bundle, tmp, { date, flags = [], tag = 'w' }) {
  const files = readdirSync(bundle).filter((f) => !f.endsWith('.map') && f !== 'README.md');
  const kind = (f) => (f.endsWith('.js') ? 'esModule' : f.endsWith('.wasm') ? 'wasm' : 'data');
  const modules = ['worker.js', ...files.filter((f) => f !== 'worker.js')]
    .map((f) => `(name = "${f}", ${kind(f)} = embed "${path.relative(tmp, path.join(bundle, f))}")`).join(',\n    ');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = path.join(tmp, `${tag}-${port}.capnp`);
    writeFileSync(config, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules}
  ],
  compatibilityDate = "${date}",
  compatibilityFlags = [${flags.map((f) => `"${f}"`).join(', ')}],
);
`);
    const started = performance.now();
    const proc = spawn(bin('workerd'), ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    const url = `http://127.0.0.1:${port}`;
    const stop = () => new Promise((resolve) => {
      if (proc.exitCode !== null) { resolve(); return; }
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const res = await fetch(`${url}/`);
        await res.arrayBuffer();
        return { url, stop, started, pid: proc.pid, log: () => log };
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await stop();
    if (attempt >= 2 || !/address already in use/i.test(log)) throw new Error(`workerd did not start: ${log}`);
  }
}

/** GET /search on the Worker: the parsed JSON and the HTTP status. */
export async function search(url, q, n = 5) {
  const res = await fetch(`${url}/search?q=${encodeURIComponent(q)}&n=${n}`);
  return { status: res.status, body: await res.json() };
}

/** `clipdb search` over the CLI store: [{rank, file, score}]. */
export function cliSearch(store, q, n = 5) {
  return run(cli, ['search', '--store', store, '--text', q, '-n', String(n)]).trim().split('\n').map((l) => JSON.parse(l));
}

export { readFileSync };
