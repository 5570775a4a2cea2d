// Incremental SHA-256 (FIPS 180-4), for hashing a Blob slice by slice without holding it whole.
// Web Crypto's crypto.subtle.digest only takes the whole message at once, so a model file given
// as a Blob (a File the user picked, a Blob kept in IndexedDB) would have to be read into one
// ArrayBuffer to be hashed: the very copy that streaming the model load avoids. The digest is
// the standard one (tests/js/sha256.test.mjs checks it against crypto.subtle), so identifiers
// and cache records made from ArrayBuffers and from Blobs agree.

// FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube roots of the
// first 64 primes.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
// Section 5.3.3: the initial hash value.
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

/** An incremental SHA-256: update(bytes) any number of times, then digest() once. */
export class Sha256 {
  #h = new Int32Array(H0);
  #w = new Int32Array(64);
  #block = new Uint8Array(64); // a partial block carried between update() calls
  #fill = 0;
  #length = 0; // message bytes so far
  #done = false;

  /** Hash 64-byte blocks of `b` from `off`, `count` of them. */
  #compress(b, off, count) {
    const w = this.#w, h = this.#h;
    let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], h6 = h[6], h7 = h[7];
    for (let blk = 0; blk < count; blk++, off += 64) {
      for (let t = 0; t < 16; t++) {
        const p = off + 4 * t;
        w[t] = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
      }
      for (let t = 16; t < 64; t++) {
        const x = w[t - 15], y = w[t - 2];
        const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
        const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let a = h0, bb = h1, c = h2, d = h3, e = h4, f = h5, g = h6, hh = h7;
      for (let t = 0; t < 64; t++) {
        const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
        const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        const maj = (a & bb) ^ (a & c) ^ (bb & c);
        const t2 = (S0 + maj) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0;
        d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + bb) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + hh) | 0;
    }
    h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
  }

  /** Add `data` (ArrayBuffer or typed array/DataView, read as bytes) to the message. Returns this. */
  update(data) {
    if (this.#done) throw new Error('Sha256: update() after digest()');
    const b = data instanceof Uint8Array ? data
      : data instanceof ArrayBuffer ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let i = 0;
    const n = b.length;
    this.#length += n;
    if (this.#fill > 0) {
      const take = Math.min(64 - this.#fill, n);
      this.#block.set(b.subarray(0, take), this.#fill);
      this.#fill += take;
      i = take;
      if (this.#fill < 64) return this;
      this.#compress(this.#block, 0, 1);
      this.#fill = 0;
    }
    const whole = (n - i) >> 6;
    if (whole > 0) { this.#compress(b, i, whole); i += whole << 6; }
    if (i < n) { this.#block.set(b.subarray(i), 0); this.#fill = n - i; }
    return this;
  }

  /** The 32-byte digest (section 5.1.1 padding: 0x80, zeros, the bit length big-endian). */
  digest() {
    if (this.#done) throw new Error('Sha256: digest() called twice');
    this.#done = true;
    const bits = this.#length * 8;
    const pad = new Uint8Array(this.#fill < 56 ? 64 : 128);
    pad.set(this.#block.subarray(0, this.#fill));
    pad[this.#fill] = 0x80;
    const dv = new DataView(pad.buffer);
    dv.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
    dv.setUint32(pad.length - 4, bits >>> 0);
    this.#compress(pad, 0, pad.length >> 6);
    const out = new Uint8Array(32);
    const ov = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) ov.setUint32(4 * i, this.#h[i]);
    return out;
  }
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}
