// The clipdb photo-search demo. Uses only clipdb's public JS API (ClipdbWorkerClient): the
// engine and the store run in a Web Worker, so this page only draws.
import { ClipdbWorkerClient } from '../src/index.mjs';
import { VirtualGrid } from './virtual-grid.mjs';

const $ = (id) => document.getElementById(id);
// The two models shipped in models/: clipdb-emoji (the default: about 1,600 everyday things,
// trained on emoji pictures) and clipdb-shapes (coloured shapes only; smaller). `?model=shapes`
// in the page address makes the second one the first visit's model.
const builtIn = (name, scope) => ({
  builtIn: true,
  label: name,
  scope,
  urls: [
    { name: 'model.safetensors', url: new URL(`../../models/${name}/model.safetensors`, location.href).href },
    { name: 'vocab.txt.gz', url: new URL(`../../models/${name}/vocab.txt.gz`, location.href).href },
  ],
});
const BUILT_IN = {
  emoji: builtIn('clipdb-emoji', 'The shipped model is small and was trained on emoji pictures, not photos, of about 1,600 everyday things (animals, food, plants, vehicles, objects, …): it finds drawings of those things and is not made for real photos.'),
  shapes: builtIn('clipdb-shapes', 'This shipped model is small and knows only simple coloured shapes (circle, square, triangle, star, …): photos of other things get confident but meaningless scores.'),
};
const DEFAULT_KEY = new URLSearchParams(location.search).get('model') === 'shapes' ? 'shapes' : 'emoji';
const DEFAULT_MODEL = BUILT_IN[DEFAULT_KEY];
// Files a published CLIP folder may hold (OpenAI/open_clip or Hugging Face CLIPModel layout).
const CANDIDATES = ['model.safetensors', 'open_clip_model.safetensors', 'config.json', 'vocab.json', 'merges.txt', 'bpe_simple_vocab_16e6.txt.gz', 'vocab.txt.gz'];
const IMAGE_TYPES = /\.(png|jpe?g|gif|bmp)$/i;

// The Worker script lives next to this page, inside the service worker's scope (see worker.mjs).
const client = new ClipdbWorkerClient({ workerURL: new URL('./worker.mjs', import.meta.url) });
client.addEventListener('log', (e) => console.info('[clipdb worker]', e.message));
let modelReady = false;
let busy = null; // AbortController of the running insert
let lastQuery = null; // {text} | {id, name} for re-running after changes
const urls = new Set(); // object URLs of the thumbnails on screen

const setState = (s) => { document.body.dataset.state = s; };

function fmtBytes(n) { return n > 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`; }
function fmtTime(s) { return !Number.isFinite(s) ? '…' : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`; }

function showStorage(info) {
  const el = $('storage');
  if (!info.persistent) {
    el.textContent = `Not saved: photos stay only until this tab closes (${info.reason || 'no IndexedDB'}).`;
    el.className = 'note warn';
  } else if (info.persisted === false) {
    el.textContent = 'Saved in this browser, but the browser may evict it when space runs low (persistent storage was not granted).';
    el.className = 'note';
  } else {
    el.textContent = info.persisted ? 'Saved in this browser (persistent storage granted).' : 'Saved in this browser.';
    el.className = 'note';
  }
  document.body.dataset.persistent = String(info.persistent);
}

async function updateCount() {
  const n = await client.count();
  $('count').textContent = `${n} photo${n === 1 ? '' : 's'} stored.`;
  document.body.dataset.count = String(n);
  return n;
}

/**
 * What each model has indexed: "clipdb-shapes: 80 photos · other-model: 80 photos" (the loaded
 * model first). Vectors of models used before stay stored, so a switch back embeds nothing.
 */
async function showModels() {
  let models;
  try { models = await client.models(); } catch { return; }
  models.sort((a, b) => Number(b.current) - Number(a.current));
  const el = $('models');
  el.textContent = models.length ? 'Indexed: ' + models.map((m) => `${m.label}: ${m.vectors} photo${m.vectors === 1 ? '' : 's'}${m.current ? ' (in use)' : ''}`).join(' · ') : '';
  document.body.dataset.models = models.map((m) => `${m.label}=${m.vectors}`).join(',');
}

function modelSource() {
  const choice = $('model-choice').value;
  if (BUILT_IN[choice]) return BUILT_IN[choice];
  if (choice === 'url') {
    let base = $('model-url').value.trim();
    if (!base) throw new Error('enter the URL of a model folder');
    try { new URL(base, location.href); if (!/^(https?:|\.{0,2}\/)/i.test(base)) throw new Error(); } catch {
      throw new Error(`“${base}” is not a URL: enter an http(s) address of a model folder or of its .safetensors file`);
    }
    if (base.endsWith('.safetensors')) {
      const u = new URL(base, location.href);
      const dir = new URL('.', u).href;
      return { label: u.pathname.split('/').slice(-2).join('/'), urls: [{ name: u.pathname.split('/').pop(), url: u.href }, ...CANDIDATES.filter((c) => !c.endsWith('.safetensors')).map((name) => ({ name, url: dir + name, optional: true }))] };
    }
    if (!base.endsWith('/')) base += '/';
    const dir = new URL(base, location.href).href;
    return { label: dir.split('/').slice(-2, -1)[0] || dir, urls: CANDIDATES.map((name) => ({ name, url: dir + name, optional: true })) };
  }
  const all = [...$('model-folder').files];
  // Only the picked folder's own files: a parent folder of several models is an error naming them.
  const files = all.filter((f) => /\.(safetensors|json|txt|gz)$/i.test(f.name) && f.webkitRelativePath.split('/').length <= 2);
  const nested = all.filter((f) => /\.safetensors$/i.test(f.name) && f.webkitRelativePath.split('/').length > 2);
  if (!files.some((f) => /\.safetensors$/i.test(f.name))) {
    throw new Error(nested.length ? `this folder holds no weights itself; its subfolders do (${nested.slice(0, 4).map((f) => f.webkitRelativePath).join(', ')}): pick one of them` : 'pick a folder with model.safetensors and its vocabulary');
  }
  return { label: files[0].webkitRelativePath.split('/')[0] || 'local model', files: files.map((f) => ({ name: f.name, path: f.webkitRelativePath, data: f })), remember: true };
}

const MODEL_KEY = 'clipdb-demo-model'; // where the page remembers the last model chosen
const IMPORT_KEY = 'clipdb-demo-import'; // an import in progress (removed when it ends)

// The mark of an import in progress (and the model chosen) must outlive the browser being
// killed: they are kept in IndexedDB (on disk when its transaction completes), not in
// localStorage, which Chromium writes to disk only seconds later (a kill in between lost the
// mark: tests/browser/demo-kill.test.mjs). localStorage is read too, where a page before this
// one kept them.
let marks = null;
function markStore(mode, op) {
  marks ??= new Promise((resolve, reject) => {
    const r = indexedDB.open('clipdb-demo-marks', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('marks');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  return marks.then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction('marks', mode, { durability: 'strict' });
    const req = op(tx.objectStore('marks'));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = tx.onabort = () => reject(tx.error);
  }));
}
const putMark = (key, value) => markStore('readwrite', (s) => s.put(value, key));
const getMark = (key) => markStore('readonly', (s) => s.get(key));
const dropMark = (key) => markStore('readwrite', (s) => s.delete(key));
let modelLabel = null; // label of the model that answers now
let loadingModel = false;
let modelText = ''; // the loaded model's description, shown again after a refused Load

async function loadModel({ source: given } = {}) {
  const status = $('model-status');
  if (busy) { status.textContent = 'Photos are being added: wait until that finishes (or cancel it), then load the model.'; return false; }
  if (loadingModel) return false;
  let source = given;
  try { source ??= modelSource(); } catch (e) { status.textContent = e.message; return false; }
  const wasReady = modelReady;
  loadingModel = true;
  setState('loading-model');
  status.textContent = `Loading ${source.label}…`;
  try {
    const r = await client.loadModel(source, {
      transfer: false,
      onProgress: (p) => {
        if (p.phase === 'download') status.textContent = `${p.source === 'cache' ? 'Reading' : 'Downloading'} ${p.file}: ${fmtBytes(p.loaded)}${p.total ? ` of ${fmtBytes(p.total)}` : ''}`;
        else if (p.phase === 'load') status.textContent = `Loading ${source.label} into WebAssembly…`;
        else if (p.phase === 'workers') status.textContent = `Loading ${source.label} into ${p.workers} workers…`;
        else if (p.phase === 'index') status.textContent = `Indexing stored photos with ${source.label}: ${p.done} of ${p.total}`;
      },
    });
    modelReady = true;
    modelLabel = r.label;
    if (r.urls?.length) {
      const chosen = { label: r.label, urls: r.urls, builtIn: Boolean(source.builtIn) };
      await putMark(MODEL_KEY, chosen).catch(() => localStorage.setItem(MODEL_KEY, JSON.stringify(chosen)));
    }
    const c = r.config;
    modelText = status.textContent = `${r.label}: ${c.vision_layers ?? '?'}-layer ${c.vision_patch_size ? 'ViT' : 'ResNet'} image encoder, ${c.embed_dim}-d embeddings, ${fmtBytes(r.bytes)} ` +
      `(from ${r.source === 'cache' ? 'this browser\'s model cache' : r.source === 'files' ? 'local files' : 'the network, now cached'}); ` +
      `${r.loaded} stored photo${r.loaded === 1 ? '' : 's'} loaded, ${r.embedded} embedded.`;
    document.body.dataset.modelSource = r.source;
    document.body.dataset.model = r.label;
    document.body.dataset.loaded = String(r.loaded);
    document.body.dataset.embedded = String(r.embedded);
    // The shipped model's small world is stated where results appear.
    const key = source.builtIn && Object.keys(BUILT_IN).find((k) => BUILT_IN[k].label === r.label);
    $('scope-text').textContent = key ? BUILT_IN[key].scope : '';
    $('scope').hidden = !key;
    if (key) $('model-choice').value = key; // the select names the shipped model in use
    showStorage(r.info);
    loadingModel = false; // before 'ready': photos picked from here on are added
    await showModels();
    setState('ready');
    if (lastQuery) await runQuery(lastQuery); else await showAll();
    return true;
  } catch (e) {
    // The worker keeps the model it had: say so, and keep using it.
    modelReady = wasReady;
    status.textContent = `Could not load ${source.label}: ${e.message}` + (wasReady ? ` — still using ${modelLabel}.` : '');
    document.body.dataset.modelError = e.code || 'ERROR';
    setState(wasReady ? 'ready' : 'error');
    return false;
  } finally { loadingModel = false; }
}

async function addFiles(fileList) {
  const files = [...fileList].filter((f) => IMAGE_TYPES.test(f.name));
  const status = $('add-status');
  if (!files.length) { status.textContent = 'No PNG, JPEG, GIF or BMP files among those.'; return; }
  if (loadingModel) { status.textContent = 'A model is loading: add the photos once it is ready.'; return; }
  if (!modelReady) { status.textContent = 'Load a model first.'; return; }
  if (busy) { status.textContent = 'Still adding the previous photos.'; return; }
  busy = new AbortController();
  setState('indexing');
  // Until this import ends, the next visit can tell that it was interrupted (written before the
  // first photo is stored).
  const mark = { total: files.length, started: Date.now(), what: files[0].webkitRelativePath ? files[0].webkitRelativePath.split('/')[0] : `${files.length} photos` };
  await putMark(IMPORT_KEY, mark).catch((e) => { console.warn('import mark not kept in IndexedDB:', e); localStorage.setItem(IMPORT_KEY, JSON.stringify(mark)); });
  $('progress-box').hidden = false;
  const bar = $('progress'), text = $('progress-text');
  bar.value = 0;
  const t0 = performance.now();
  status.textContent = '';
  let last = 0, lastCount = 0, lastInsert = null;
  try {
    const pending = client.insert(files, {
      signal: busy.signal,
      onProgress: (p) => {
        if (p.phase !== 'insert') return;
        bar.max = Math.max(1, p.total); bar.value = p.done;
        const now = performance.now();
        if (p.done !== p.total && now - last < 100) return; // repaint the text at most 10 times a second
        last = now;
        const rate = p.done / ((now - t0) / 1000);
        if (now - lastCount > 500) { lastCount = now; updateCount().catch(() => {}); } // the count stays live during long imports
        text.textContent = `${p.done} of ${p.total} · ${p.done ? rate.toFixed(1) : '…'} photos/s · ${p.done ? fmtTime((p.total - p.done) / rate) : '…'} left`;
      },
    });
    // Marks for performance tools (and the browser test's long-task check): indexing runs in
    // the Worker from here until the results are drawn again.
    performance.mark('clipdb-insert-start');
    const r = await pending;
    const secs = (performance.now() - t0) / 1000;
    status.textContent = `Added ${r.inserted} photo${r.inserted === 1 ? '' : 's'} in ${secs.toFixed(1)} s` +
      (r.skipped ? `; ${r.skipped} already stored` : '') + (r.failed.length ? `; ${r.failed.length} could not be read (${r.failed[0].id}: ${r.failed[0].message})` : '') + '.';
    lastInsert = JSON.stringify({ inserted: r.inserted, skipped: r.skipped, failed: r.failed.length });
  } catch (e) {
    status.textContent = e.code === 'ABORTED' ? `Cancelled: ${e.message}.` : `Adding failed: ${e.message}`;
  } finally {
    await dropMark(IMPORT_KEY).catch(() => {});
    localStorage.removeItem(IMPORT_KEY); // where a page before this one kept it
    $('resume-box').hidden = true;
    if (modelReady && modelText) $('model-status').textContent = modelText;
    busy = null;
    $('progress-box').hidden = true;
    setState('ready');
    await updateCount();
    await showModels();
    if (lastQuery) await runQuery(lastQuery); else await showAll();
    // Set once the page shows the new state (tests and tools wait for it).
    if (lastInsert) document.body.dataset.lastInsert = lastInsert;
    performance.mark('clipdb-insert-end');
  }
}

/**
 * The sample pictures served beside the page (web/demo/samples: emoji drawn in a style the
 * shipped model never saw, on photo-like backgrounds; index.json lists them), added like picked
 * photos.
 */
async function addSamples() {
  const status = $('add-status');
  const base = new URL('samples/', location.href);
  let files;
  try {
    const list = await fetch(new URL('index.json', base)).then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status} for samples/index.json`); return r.json(); });
    files = await Promise.all(list.images.map(async ({ file }) => {
      const r = await fetch(new URL(file, base));
      if (!r.ok) throw new Error(`HTTP ${r.status} for samples/${file}`);
      const blob = await r.blob();
      return new File([blob], file, { type: blob.type || (file.endsWith('.png') ? 'image/png' : 'image/jpeg') });
    }));
  } catch (e) {
    status.textContent = `The sample pictures could not be fetched: ${e.message}`;
    return;
  }
  await addFiles(files);
}

function figureFor(it, { scores }) {
  const fig = document.createElement('figure');
  fig.dataset.id = it._id;
  if (scores) fig.dataset.score = String(it.score);
  const img = document.createElement('img');
  // The stored thumbnail (the original stays on disk): a data: URL made by the Worker for the
  // whole-library grid, else an object URL (revoked when the figure goes).
  let u = it.thumbURL;
  if (!u) { u = URL.createObjectURL(it.thumb ?? it.image); urls.add(u); fig.objectURL = u; }
  img.alt = it.name;
  img.loading = 'lazy'; // before src: an image set to load lazily does not start loading here
  img.decoding = 'async';
  img.src = u;
  const cap = document.createElement('figcaption');
  cap.textContent = scores ? `${it.score.toFixed(3)} · ${it.name}` : it.name;
  const like = document.createElement('button');
  like.type = 'button';
  like.className = 'like';
  like.textContent = 'More like this';
  like.setAttribute('aria-label', `More like this: ${it.name}`);
  like.addEventListener('click', () => runQuery({ id: it._id, name: it.name }));
  img.addEventListener('click', () => like.click());
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'delete';
  del.textContent = 'Delete';
  del.setAttribute('aria-label', `Delete ${it.name}`);
  del.addEventListener('click', () => deleteWithUndo(it, fig));
  fig.append(img, cap, like, del);
  return fig;
}

/** Delete a photo now and offer Undo (which stores it again, with its vector) for a while. */
async function deleteWithUndo(it, fig) {
  await client.delete(it._id);
  fig.remove();
  await updateCount();
  await showModels();
  if (grid.active && !lastQuery) await showAll({ keep: true }); // the photos after it move up one place
  const box = $('undo-box');
  $('undo-text').textContent = `Deleted ${it.name}.`;
  box.hidden = false;
  const undo = $('undo');
  undo.onclick = async () => {
    box.hidden = true;
    const r = await client.insert([{ name: it.name, path: String(it._id), type: it.type, data: it.image }]);
    await updateCount();
    await showModels();
    if (lastQuery) await runQuery(lastQuery); else await showAll({ keep: true });
    // Said once the page shows it again.
    $('add-status').textContent = r.inserted ? `Restored ${it.name}.` : `Could not restore ${it.name}: ${r.failed[0]?.message ?? 'unknown error'}`;
  };
  undo.focus();
}

/** Draw search results (a short list, all in the DOM). */
function render(items, { scores }) {
  grid.detach();
  for (const u of urls) URL.revokeObjectURL(u);
  urls.clear();
  const frag = document.createDocumentFragment();
  for (const it of items) frag.append(figureFor(it, { scores }));
  $('results').replaceChildren(frag);
}

// "All photos": the whole library in a virtualised grid (only the rows on screen are drawn).
const grid = new VirtualGrid($('results'), {
  fetchPage: (skip, limit) => client.list({ skip, limit, thumbURLs: true }),
  makeCell: (it) => figureFor(it, { scores: false }),
  dropCell: (fig) => { if (fig.objectURL) { URL.revokeObjectURL(fig.objectURL); urls.delete(fig.objectURL); } },
  onRange: (first, end) => { document.body.dataset.range = `${first}-${end}`; },
});

// Each grid refresh (a search, "all photos") takes a ticket; one that finishes after a newer one
// started draws nothing, so a slow refresh never replaces a newer search's results.
let view = 0;

async function runQuery(q) {
  if (!modelReady) { $('results-status').textContent = 'Load a model first.'; return; }
  lastQuery = q;
  const ticket = ++view;
  const t0 = performance.now();
  try {
    const hits = await client.search(q.text !== undefined ? { text: q.text } : { id: q.id }, { n: 24 });
    if (ticket !== view) return;
    render(hits, { scores: true });
    $('results-status').textContent = `${hits.length} result${hits.length === 1 ? '' : 's'} ${q.text !== undefined ? `for “${q.text}”` : `like ${q.name}`} in ${Math.round(performance.now() - t0)} ms.`;
    document.body.dataset.query = q.text !== undefined ? `text:${q.text}` : `id:${q.id}`;
  } catch (e) {
    if (ticket !== view) return;
    $('results-status').textContent = `Search failed: ${e.message}`;
    if (e.code === 'NOT_FOUND') { lastQuery = null; await showAll(); }
  }
}

/** Every stored photo, in the order they were added; `keep`: stay at the same scroll position. */
async function showAll({ keep = false } = {}) {
  lastQuery = null;
  const ticket = ++view;
  const n = await updateCount();
  if (ticket !== view) return;
  if (!grid.active) { for (const u of urls) URL.revokeObjectURL(u); urls.clear(); $('results').replaceChildren(); }
  await grid.reset(n, { keep });
  if (ticket !== view) return;
  $('results-status').textContent = n ? `All ${n} photo${n === 1 ? '' : 's'}, in the order they were added (scroll through them); search to rank them.` : 'No photos yet: add some above.';
  document.body.dataset.query = '';
  document.body.dataset.shown = String(n);
}

function wire() {
  $('model-choice').value = DEFAULT_KEY;
  $('model-choice').addEventListener('change', () => {
    $('model-url').hidden = $('model-choice').value !== 'url';
    $('model-folder').hidden = $('model-choice').value !== 'folder';
  });
  $('model-load').addEventListener('click', () => loadModel());
  for (const id of ['pick-folder', 'pick-files']) {
    $(id).addEventListener('change', (e) => { const files = [...e.target.files]; e.target.value = ''; addFiles(files); });
    $(`${id}-button`).addEventListener('click', () => $(id).click());
  }
  $('samples').addEventListener('click', () => addSamples());
  $('resume').addEventListener('click', () => $('pick-folder').click());
  $('cancel').addEventListener('click', () => busy?.abort());
  const drop = $('drop');
  drop.addEventListener('keydown', (e) => {
    if (e.target === drop && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); $('pick-files').click(); }
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addFiles(await droppedFiles(e.dataTransfer));
  });
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('query').value.trim();
    if (text) runQuery({ text }); else showAll();
  });
  $('show-all').addEventListener('click', () => { $('query').value = ''; showAll(); });
  $('backup').addEventListener('click', async () => {
    $('results-status').textContent = 'Writing a backup of every photo and vector…';
    try {
      const { file, documents } = await client.exportData();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(file);
      a.download = `photos-${new Date().toISOString().slice(0, 10)}.clipdb`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      $('results-status').textContent = `Backup of ${documents} photos ready (${fmtBytes(file.size)}): restore it here or in another browser with Restore.`;
    } catch (e) { $('results-status').textContent = `Backup failed: ${e.message}`; }
  });
  $('update-reload').addEventListener('click', () => {
    if (busy) { $('update-text').textContent = 'Photos are being added: reload once that finishes (or cancel it).'; return; }
    location.reload();
  });
  $('restore-button').addEventListener('click', () => $('restore').click());
  $('restore').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    $('results-status').textContent = `Restoring ${file.name}…`;
    // Where a restore is (for tests and bug reports): importing, counting, models, grid, done.
    const step = (s) => { document.body.dataset.restore = s; };
    try {
      step('importing');
      const r = await client.importData(file, { onProgress: (p) => { if (p.phase === 'import') $('results-status').textContent = `Restoring ${file.name}: ${p.documents} photos…`; } });
      step('counting');
      await updateCount();
      step('models');
      await showModels();
      step('grid');
      await showAll();
      step('done');
      // Said once the grid shows the restored library.
      $('results-status').textContent = `Restored ${r.documents} photos (${r.skipped} already here).`;
    } catch (err) { step('failed'); $('results-status').textContent = `Restore failed: ${err.message}`; }
  });
  $('clear').addEventListener('click', async () => {
    if (!confirm('Delete every stored photo from this browser?')) return;
    const info = await client.clear();
    showStorage(info);
    await showModels();
    await showAll();
  });
}

/** Files of a drop, walking dropped folders (webkitGetAsEntry). */
async function droppedFiles(dt) {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...dt.files];
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) { out.push(await new Promise((res, rej) => entry.file(res, rej))); return; }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const e of batch) await walk(e);
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

/** The version of the service worker that serves this page ({type: 'version'}), or null. */
function askVersion() {
  const sw = navigator.serviceWorker.controller;
  if (!sw) return Promise.resolve(null);
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    const timer = setTimeout(() => resolve(null), 5000); // a service worker without the message
    ch.port1.onmessage = (e) => { clearTimeout(timer); resolve(e.data?.version ?? null); };
    sw.postMessage({ type: 'version' }, [ch.port2]);
  });
}

let appVersion = null;
/**
 * Show the app's version. When a new service worker takes over this open page (an update was
 * published), say so: this page still runs the files it loaded, a reload runs the new ones.
 * The photos stay where they are (IndexedDB), whatever the version.
 */
async function showVersion() {
  const v = await askVersion();
  if (v === null) return;
  if (appVersion !== null && v !== appVersion) {
    $('update-text').textContent = `Version ${v} of this app is installed: reload to use it (your photos stay).`;
    $('update-box').hidden = false;
  }
  appVersion = v;
  $('version').textContent = `Version ${v}.`;
  document.body.dataset.version = v;
}

async function main() {
  setState('starting');
  wire();
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch((e) => console.warn('service worker not registered:', e));
    navigator.serviceWorker.addEventListener('controllerchange', () => { showVersion(); });
    showVersion();
  }
  try {
    // The photo app's policy: its photos live in 'photos' / 'images', and a newly chosen model
    // embeds the whole library (the other models' vectors stay stored for a switch back).
    const info = await client.init({ collection: 'photos', vectorIndex: 'images', reindex: true });
    showStorage(info);
    await updateCount();
  } catch (e) {
    $('storage').textContent = `clipdb could not start: ${e.message}`;
    setState('error');
    return;
  }
  const interrupted = (await getMark(IMPORT_KEY).catch(() => null)) ?? JSON.parse(localStorage.getItem(IMPORT_KEY) || 'null');
  if (interrupted) {
    const n = Number(document.body.dataset.count || 0);
    $('resume-text').textContent = `Adding ${interrupted.what} (${interrupted.total} photos) was interrupted; ${n} photo${n === 1 ? ' is' : 's are'} stored now. ` +
      'Pick the same photos again to add the rest: those already stored are skipped.';
    $('resume-box').hidden = false;
    document.body.dataset.interrupted = String(interrupted.total);
  }
  // The model chosen last time, from this browser's model cache (nothing is embedded again);
  // the shipped model if there is none or it cannot be read any more.
  const remembered = (await getMark(MODEL_KEY).catch(() => null)) ?? JSON.parse(localStorage.getItem(MODEL_KEY) || 'null');
  if (!(remembered && await loadModel({ source: { label: remembered.label, urls: remembered.urls, builtIn: remembered.builtIn } }))) {
    if (remembered) $('model-status').textContent += ' Loading the shipped model instead.';
    await loadModel({ source: DEFAULT_MODEL });
  }
  if ('serviceWorker' in navigator) cacheAppShell().catch((e) => console.warn('app shell not cached:', e));
}

/**
 * Ask the service worker to keep every file this page and its Worker loaded (the page, the
 * library's modules, the wasm), so the next visit works offline. Model weights are not in
 * this list: the Worker keeps them in IndexedDB.
 */
async function cacheAppShell() {
  const reg = await navigator.serviceWorker.ready;
  const resources = performance.getEntriesByType('resource').map((e) => e.name);
  let workerResources = [];
  try { workerResources = (await client.call('resources')).urls; } catch { /* older worker */ }
  const all = [location.href, ...resources, ...workerResources].filter((u) => u.startsWith(location.origin) && !/\.safetensors$/.test(u));
  await new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = (e) => { document.body.dataset.cached = String(e.data.cached); resolve(); };
    reg.active.postMessage({ type: 'cache', urls: [...new Set(all)] }, [ch.port2]);
  });
}

main();
