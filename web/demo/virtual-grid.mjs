// A grid over the whole library that keeps the page small: the grid element is as tall as all
// its rows would be, and only the rows on screen plus a few above and below exist as <figure>s,
// placed absolutely at their row and column. Cells all have one size (measured once per width
// from a real cell), so the position of photo i is arithmetic, and scrolling to any point of a
// 10,000-photo library draws only what is there. Photos come from `fetchPage(skip, limit)` in
// pages, fetched as the view reaches them (a few pages are kept; far ones are dropped).
//
// Keyboard: figures stay in index order in the DOM, and those still in range are kept (not
// redrawn) when the range moves, so focus is never lost by a redraw; Tab onto a button of a
// margin row scrolls it into view, which draws the rows after it.

const PAGE = 120; // photos per fetch (about one screenful on a desktop)
const MARGIN_ROWS = 3; // rows drawn above and below the visible ones
const KEEP_PAGES = 6; // fetched pages kept around the view
const PER_FRAME = 14; // figures made per frame at most

export class VirtualGrid {
  /**
   * @param {HTMLElement} el  the grid element (CSS grid gap and a minimum cell width apply)
   * @param {{fetchPage: (skip: number, limit: number) => Promise<object[]>, makeCell: (item: object, index: number) => HTMLElement,
   *          dropCell?: (fig: HTMLElement) => void, minCell?: number, onRange?: (first: number, end: number) => void}} options
   */
  constructor(el, { fetchPage, makeCell, dropCell = () => {}, minCell = 140, onRange = () => {} }) {
    Object.assign(this, { el, fetchPage, makeCell, dropCell, minCell, onRange });
    this.total = 0;
    this.pages = new Map(); // page number → items | Promise
    this.cells = new Map(); // index → figure on screen
    this.layout = null; // {width, cols, cellW, cellH, stride}
    this.frame = 0;
    this.generation = 0; // bumped by reset: fetches of an older one are dropped
    this.onScroll = () => this.schedule();
    this.onFocus = (e) => { if (e.target.closest?.('figure')) this.schedule(); };
    this.ro = typeof ResizeObserver === 'function' ? new ResizeObserver(() => { if (this.el.clientWidth !== this.layout?.width) { this.layout = null; this.schedule(); } }) : null;
    this.active = false;
  }

  /** Show `total` photos from the top of the library (or keep the scroll position: `keep`). */
  reset(total, { keep = false } = {}) {
    this.generation++;
    this.total = total;
    this.pages.clear();
    this.clearCells();
    if (!this.active) {
      this.active = true;
      this.el.classList.add('virtual');
      addEventListener('scroll', this.onScroll, { passive: true });
      addEventListener('resize', this.onScroll);
      this.el.addEventListener('focusin', this.onFocus);
      this.ro?.observe(this.el);
    }
    this.layout = null;
    if (!keep) {
      const top = this.el.getBoundingClientRect().top + scrollY;
      if (scrollY > top) scrollTo(0, Math.max(0, top - 80));
    }
    return this.update();
  }

  /** Leave virtual mode (the element is free for a plain list of results). */
  detach() {
    if (!this.active) return;
    this.active = false;
    this.generation++;
    removeEventListener('scroll', this.onScroll);
    removeEventListener('resize', this.onScroll);
    this.el.removeEventListener('focusin', this.onFocus);
    this.ro?.disconnect();
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.clearCells();
    this.pages.clear();
    this.el.classList.remove('virtual');
    this.el.style.height = '';
  }

  clearCells() {
    for (const fig of this.cells.values()) { this.dropCell(fig); fig.remove(); }
    this.cells.clear();
  }

  schedule() {
    if (!this.active || this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.update(); });
  }

  /** Cell size for the current width, measured from a real cell (first photo's). */
  measure(sample) {
    const width = this.el.clientWidth;
    const gap = parseFloat(getComputedStyle(this.el).columnGap) || 0;
    const cols = Math.max(1, Math.floor((width + gap) / (this.minCell + gap)));
    const cellW = (width - gap * (cols - 1)) / cols;
    const probe = this.makeCell(sample, 0);
    probe.style.cssText = `position:absolute;visibility:hidden;left:0;top:0;width:${cellW}px`;
    this.el.append(probe);
    const cellH = Math.ceil(probe.getBoundingClientRect().height);
    probe.remove();
    this.dropCell(probe);
    this.layout = { width, gap, cols, cellW, cellH, stride: cellH + gap };
    this.clearCells(); // positions change with the layout
  }

  /** Indices [first, end) that should be drawn now, and [first, end) of those on screen. */
  range() {
    const { cols, stride } = this.layout;
    const top = -this.el.getBoundingClientRect().top; // how far the grid's top is above the viewport
    const at = (row) => Math.min(this.total, Math.max(0, row) * cols);
    const topRow = Math.floor(top / stride), bottomRow = Math.floor((top + innerHeight) / stride);
    return [at(topRow - MARGIN_ROWS), at(bottomRow + MARGIN_ROWS + 1), [at(topRow), at(bottomRow + 1)]];
  }

  item(i) {
    const p = this.pages.get(Math.floor(i / PAGE));
    return Array.isArray(p) ? p[i % PAGE] : undefined;
  }

  /** Fetch page `n` if it is not here or coming; redraw when it arrives. */
  want(n) {
    if (this.pages.has(n)) return;
    const gen = this.generation;
    const p = this.fetchPage(n * PAGE, PAGE).then((items) => {
      if (gen !== this.generation) return;
      this.pages.set(n, items);
      this.schedule();
    }, (e) => { if (gen === this.generation) this.pages.delete(n); console.warn('grid page not read:', e); });
    this.pages.set(n, p);
  }

  async update() {
    if (!this.active) return;
    if (this.total === 0) { this.el.style.height = '0px'; this.onRange(0, 0); return; }
    if (!this.layout) {
      const first = this.item(0);
      if (!first) { this.want(0); await this.pages.get(0); if (!this.item(0)) return; }
      this.measure(this.item(0));
    }
    const t0 = performance.now();
    const { cols, cellW, cellH, stride } = this.layout;
    this.el.style.height = `${Math.ceil(this.total / cols) * stride}px`;
    const [first, end, visible] = this.range();
    // Pages this range needs; drop those far from it.
    const lo = Math.floor(first / PAGE), hi = Math.floor(Math.max(first, end - 1) / PAGE);
    for (let n = lo; n <= hi; n++) this.want(n);
    for (const n of this.pages.keys()) if (n < lo - KEEP_PAGES / 2 || n > hi + KEEP_PAGES / 2) this.pages.delete(n);
    // Keep the figures still in range; drop the others.
    for (const [i, fig] of this.cells) {
      if (i < first || i >= end || !this.item(i)) { this.dropCell(fig); fig.remove(); this.cells.delete(i); }
    }
    // The missing ones with their photo at hand, those on screen first, then the nearest rows;
    // at most PER_FRAME per frame (a jump to a far place draws over a few frames instead of in
    // one long task).
    const [vFirst, vEnd] = visible;
    const away = (i) => (i < vFirst ? vFirst - i : i >= vEnd ? i - vEnd + 1 : 0);
    const todo = [];
    for (let i = first; i < end; i++) if (!this.cells.has(i) && this.item(i)) todo.push(i);
    todo.sort((a, b) => away(a) - away(b) || a - b);
    const order = [...this.cells.keys()].sort((a, b) => a - b); // DOM order = index order
    for (const i of todo.slice(0, PER_FRAME)) {
      const fig = this.makeCell(this.item(i), i);
      fig.dataset.index = String(i);
      fig.style.cssText = `position:absolute;left:${(i % cols) * (cellW + this.layout.gap)}px;top:${Math.floor(i / cols) * stride}px;width:${cellW}px;height:${cellH}px`;
      let at = 0, to = order.length; // where i goes among the drawn indices
      while (at < to) { const mid = (at + to) >> 1; if (order[mid] < i) at = mid + 1; else to = mid; }
      if (at < order.length) this.el.insertBefore(fig, this.cells.get(order[at])); else this.el.append(fig);
      order.splice(at, 0, i);
      this.cells.set(i, fig);
    }
    if (todo.length > PER_FRAME) this.schedule();
    this.onRange(first, end);
    performance.measure('clipdb-grid-update', { start: t0 }); // for performance tools and the tests
  }
}
