// The incremental SHA-256 (web/src/sha256.mjs) used to hash model Blobs slice by slice: FIPS
// 180-2 appendix B test vectors, and agreement with Node's native SHA-256 for every padding
// boundary and for arbitrary update() splits; sha256Hex gives one digest for the same bytes as
// an ArrayBuffer (Web Crypto) and as a Blob (streamed across CHUNK_SIZE slices).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Sha256, toHex } from '../../web/src/sha256.mjs';
import { sha256Hex, CHUNK_SIZE } from '../../web/src/model-cache.mjs';

const ascii = (s) => new TextEncoder().encode(s);
const hex = (...parts) => { const h = new Sha256(); for (const p of parts) h.update(p); return toHex(h.digest()); };

test('FIPS 180-2 appendix B vectors', () => {
  assert.equal(hex(ascii('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  assert.equal(hex(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  // One million 'a', fed in uneven pieces.
  const h = new Sha256();
  const a = new Uint8Array(1000003).fill(0x61);
  let left = 1000000;
  for (let k = 1; left > 0; k = (k * 7 + 3) % 4099 + 1) { const n = Math.min(k, left); h.update(a.subarray(0, n)); left -= n; }
  assert.equal(toHex(h.digest()), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

test('every length around the padding boundaries, any split, matches node:crypto', () => {
  const data = new Uint8Array(300).map((_, i) => (i * 151 + 17) & 255);
  for (let n = 0; n <= 200; n++) {
    const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
    assert.equal(hex(data.subarray(0, n)), want, `length ${n}`);
    const cut = (n * 37) % (n + 1);
    assert.equal(hex(data.subarray(0, cut), data.subarray(cut, n).buffer.slice(data.byteOffset + cut, n)), want, `length ${n} split at ${cut}`);
  }
  assert.throws(() => { const h = new Sha256(); h.digest(); h.update(data); }, /after digest/);
});

test('sha256Hex: Blob (streamed in slices) and ArrayBuffer give the same digest', async () => {
  const n = 2 * CHUNK_SIZE + 12345; // three slices, the last one partial
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 2654435761) >>> 24;
  const want = createHash('sha256').update(bytes).digest('hex');
  assert.equal(await sha256Hex(bytes.buffer), want);
  assert.equal(await sha256Hex(new Blob([bytes])), want);
  assert.equal(await sha256Hex(new Blob([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  await assert.rejects(sha256Hex('not bytes'), (e) => e.code === 'INVALID_ARGUMENT');
});
