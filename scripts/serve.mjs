#!/usr/bin/env node
// A tiny static file server for the demo and the browser tests: serves a folder (default:
// the repository root, so /web/src, /web/dist and /node_modules/idb are reachable) on
// localhost with the right MIME types (application/wasm included, which streaming
// compilation requires). No network access, no directory listings, no paths outside root.
// Pages are cross-origin isolated by default (ISOLATION_HEADERS on every response), so they
// may use SharedArrayBuffer and wasm threads; --no-isolate / {isolate: false} serves without.
//
//   node scripts/serve.mjs [--root DIR] [--port N] [--no-isolate]   (port 0 = any free port; `npm run serve`)
//   import { serve } from './scripts/serve.mjs'; const s = await serve({ root, port: 0 }); s.url; await s.close();
import http from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.gz': 'application/gzip',
  '.safetensors': 'application/octet-stream',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The headers that make a page cross-origin isolated (self.crossOriginIsolated === true):
 * COOP keeps other origins' windows out of its browsing context group, COEP lets it load only
 * resources that agree to it, and CORP is that agreement for this server's own files (a
 * same-origin load needs none; it matters to workers and pages of another origin/port).
 */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Start serving `root` on 127.0.0.1:`port` (0 = a free port). `mounts` maps URL prefixes to
 * other folders (e.g. {'/golden/': '../shared/golden'}); `isolate` (default true) adds
 * ISOLATION_HEADERS to every response; `headers` are added after them (and may override them).
 * Resolves to {url, port, server, close()}.
 */
export function serve({ root = repoRoot, port = 0, headers = {}, mounts = {}, log = false, isolate = true } = {}) {
  headers = { ...(isolate ? ISOLATION_HEADERS : {}), ...headers };
  const base = path.resolve(root);
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      let rel = decodeURIComponent(url.pathname);
      if (rel.endsWith('/')) rel += 'index.html';
      let dir = base;
      for (const [prefix, target] of Object.entries(mounts)) {
        if (rel.startsWith(prefix)) { dir = path.resolve(target); rel = '/' + rel.slice(prefix.length); break; }
      }
      const file = path.resolve(dir, '.' + rel);
      if (file !== dir && !file.startsWith(dir + path.sep)) { res.writeHead(403).end('forbidden'); return; }
      const st = await stat(file).catch(() => null);
      if (!st || !st.isFile()) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); return; }
      res.writeHead(200, {
        'content-type': MIME[path.extname(file).toLowerCase()] || 'application/octet-stream',
        'content-length': st.size,
        'cache-control': 'no-cache',
        ...headers,
      });
      if (req.method === 'HEAD') { res.end(); return; }
      createReadStream(file).pipe(res);
      if (log) console.error(`${req.method} ${url.pathname}`);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const p = server.address().port;
      resolve({ url: `http://127.0.0.1:${p}/`, port: p, server, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  const isolate = !args.includes('--no-isolate');
  const s = await serve({ root: opt('--root', repoRoot), port: Number(opt('--port', 8080)), log: true, isolate });
  console.log(`serving ${path.resolve(opt('--root', repoRoot))} at ${s.url}${isolate ? ' (cross-origin isolated)' : ''}`);
  console.log(`photo-search demo: ${s.url}web/demo/`);
}
