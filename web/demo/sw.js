// Service worker of the clipdb demo: the app shell (this page, clipdb's JS modules and wasm,
// the idb module) is served from the Cache API when the network is unreachable, so the demo
// opens offline. Network first while online (so updates show up), cache as the fallback.
// Model weights are not cached here: the clipdb Worker keeps them in IndexedDB
// (web/src/model-cache.mjs): large files in the Cache API are the first thing a browser
// evicts or refuses.
// VERSION names this release of the app's files: changing it (with any file) makes the browser
// install this service worker anew; the new one takes over open pages at once and drops the
// old version's cache. Photos, vectors and models live in IndexedDB and are not touched.
// The page shows the version it is served by (it asks with {type: 'version'}).
const VERSION = '3';
const CACHE = `clipdb-demo-v${VERSION}`;
// A response served from the cache gets the headers that make the page cross-origin isolated
// (the ones scripts/serve.mjs sends), so offline the demo is isolated as it is online: wasm
// threads need SharedArrayBuffer, which only an isolated page has. A page without them
// still works, one engine thread per Worker.
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
function withIsolation(res) {
  const headers = new Headers(res.headers);
  for (const [k, v] of Object.entries(ISOLATION)) headers.set(k, v);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}
const SHELL = ['./', './index.html', './app.mjs', './virtual-grid.mjs', './worker.mjs', './style.css', './manifest.webmanifest', './icon.svg', './icon-192.png', './icon-512.png', './icon-maskable-512.png'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all(SHELL.map((u) => cache.add(u).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

// The page sends the URLs it and its Worker loaded ({type: 'cache', urls}); reply: how many are cached.
// {type: 'version'} is answered with {version}.
self.addEventListener('message', (event) => {
  if (event.data?.type === 'version') { event.ports[0]?.postMessage({ version: VERSION }); return; }
  if (event.data?.type !== 'cache') return;
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const urls = event.data.urls.filter((u) => new URL(u).origin === self.location.origin && !u.endsWith('.safetensors'));
    const results = await Promise.allSettled(urls.map(async (u) => {
      const res = await fetch(u, { cache: 'no-cache' });
      if (!res.ok) throw new Error(`${u}: HTTP ${res.status}`);
      await cache.put(u, res);
    }));
    event.ports[0]?.postMessage({ cached: results.filter((r) => r.status === 'fulfilled').length, failed: results.filter((r) => r.status === 'rejected').map((r) => String(r.reason)) });
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.safetensors') || req.headers.has('range')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok) await cache.put(req, res.clone());
      return res;
    } catch (e) {
      const hit = await cache.match(req, { ignoreSearch: true }) ?? (req.mode === 'navigate' ? await cache.match('./index.html') : undefined);
      if (hit) return withIsolation(hit);
      throw e;
    }
  })());
});
