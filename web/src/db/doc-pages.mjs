// Documents are stored in pages: one 'docs' record holds the small fields of up to PAGE_DOCS
// documents of one collection, so opening a store reads a few hundred records instead of one
// per document (a browser's IndexedDB pays a fixed cost per record read). A page is rewritten
// whenever one of its documents is inserted, changed or deleted, in the same transaction as the
// rest of that write. New documents go to the last page of their collection until it is full.
import { ClipdbError } from '../errors.mjs';
import { SEP } from './layout.mjs';

export const PAGE_DOCS = 512;
export const pageKey = (collection, page) => `${collection}${SEP}${String(page).padStart(10, '0')}`;

/** Split a page key into [collection, page number]. */
export function parsePageKey(k) {
  const i = k.lastIndexOf(SEP), page = Number(k.slice(i + 1));
  if (i < 0 || !Number.isInteger(page)) throw new ClipdbError('CORRUPT', `the store is damaged: ${JSON.stringify(k)} is not a document page key`);
  return [k.slice(0, i), page];
}

export class DocPages {
  constructor() { this.cols = new Map(); }

  _col(collection) {
    let c = this.cols.get(collection);
    if (!c) { c = { byId: new Map(), pages: new Map(), last: -1 }; this.cols.set(collection, c); }
    return c;
  }

  /** Record that `id` is stored in page `page` (opening a store). */
  loaded(collection, page, id) {
    const c = this._col(collection);
    if (!c.pages.has(page)) c.pages.set(page, new Set());
    c.pages.get(page).add(id);
    c.byId.set(id, page);
    if (page > c.last) c.last = page;
  }

  /** Give new ids a page (the last one while it has room); returns the pages touched. */
  place(collection, ids) {
    const c = this._col(collection), touched = new Set();
    for (const id of ids) {
      if (c.last < 0 || c.pages.get(c.last).size >= PAGE_DOCS) { c.last++; c.pages.set(c.last, new Set()); }
      c.pages.get(c.last).add(id);
      c.byId.set(id, c.last);
      touched.add(c.last);
    }
    return touched;
  }

  /** Take `id` out of its page; returns that page number (or undefined). */
  remove(collection, id) {
    const c = this.cols.get(collection), page = c?.byId.get(id);
    if (page === undefined) return undefined;
    c.byId.delete(id);
    c.pages.get(page).delete(id);
    return page;
  }

  pageOf(collection, id) { return this.cols.get(collection)?.byId.get(id); }

  /** Storage ops writing `pages` of `collection` as they are now; `recs` maps id → {doc, seq}. */
  ops(collection, pages, recs) {
    const c = this._col(collection), out = [];
    for (const p of pages) {
      const ids = c.pages.get(p);
      out.push(ids && ids.size
        ? { store: 'docs', key: pageKey(collection, p), value: { docs: [...ids].map((id) => recs.get(id)) } }
        : { store: 'docs', key: pageKey(collection, p), delete: true });
    }
    return out;
  }
}
