// A small ustar reader and writer for the export container tests and fuzzing, independent of
// the code under test (web/src/db/container.mjs). Entries are {name, type, data} (name a string
// or raw bytes, type one character, data a Uint8Array); a writer entry may also carry
// `sizeField` (a string or bytes written in the size field instead of the real size) and
// `badSum` (added to the header checksum, spoiling it).

/** The entries of a well-formed ustar file (stops at the first all-zero block). */
export function parseTar(bytes) {
  const out = [];
  for (let off = 0; off + 512 <= bytes.length;) {
    const h = bytes.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    let name = '';
    for (let i = 0; i < 100 && h[i]; i++) name += String.fromCharCode(h[i]);
    const size = parseInt(new TextDecoder().decode(h.subarray(124, 135)), 8);
    out.push({ name, type: String.fromCharCode(h[156]), data: bytes.slice(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The 512-byte header block of entry `e`. */
export function header(e) {
  const h = new Uint8Array(512);
  const name = typeof e.name === 'string' ? new TextEncoder().encode(e.name) : e.name;
  h.set(name.subarray(0, 100), 0);
  const put = (off, len, s) => { for (let i = 0; i < len; i++) h[off + i] = i < s.length ? (typeof s === 'string' ? s.charCodeAt(i) : s[i]) : 0; };
  put(100, 8, '0000644'); put(108, 8, '0000000'); put(116, 8, '0000000');
  put(124, 12, e.sizeField ?? e.data.length.toString(8).padStart(11, '0'));
  put(136, 12, '00000000000');
  h[156] = e.type.charCodeAt(0);
  put(257, 8, 'ustar\u000000');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  if (e.badSum) sum += 1 + (e.badSum % 200);
  put(148, 8, sum.toString(8).padStart(6, '0') + '\u0000 ');
  return h;
}

/** A ustar file of `entries`, ended by two zero blocks unless `end` is false. */
export function writeTar(entries, { end = true } = {}) {
  const parts = [];
  for (const e of entries) {
    parts.push(header(e), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  if (end) parts.push(new Uint8Array(1024));
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
