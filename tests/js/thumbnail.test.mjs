// thumbnail() on the wasm build (web/src/thumbnail.mjs):
//  - a Blob of type image/jpeg from a Uint8Array, ArrayBuffer, Blob or File;
//  - exact sizes (4000x3000 -> 320x240, 3000x4000 -> 240x320, 100x50 stays, maxSide 640),
//    read back by decoding the JPEG with the library itself (preprocess(..., {info: true}));
//    content stays in place (left red, right blue);
//  - the EXIF orientation 6 fixture (320x160 stored, red left / blue right) comes out 160x320
//    with red on top, and 320x160 as stored with exif 'ignore';
//  - the native CLI (build/native/clipdb) and the wasm CLI make thumbnails of the same size
//    as thumbnail() from the same files, with pixels within JPEG rounding;
//  - every error by code: INVALID_ARGUMENT, BAD_IMAGE, UNSUPPORTED, IMAGE_TOO_LARGE,
//    OUT_OF_MEMORY (a GIF whose canvas needs more than the 4 GB wasm memory, on a module of
//    its own).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './golden.mjs';

const dist = path.join(repoRoot, 'web', 'dist', 'clipdb.wasm');
const skip = existsSync(dist) ? false : `wasm build missing (${dist}); run scripts/build`;
const fixture = (name) => new Uint8Array(readFileSync(path.join(repoRoot, 'tests', 'data', 'exif', name)));
const nativeCli = path.join(repoRoot, 'build', 'native', 'clipdb');
const wasmCli = path.join(repoRoot, 'web', 'bin', 'clipdb.mjs');

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];
const R = 224, PLANE = R * R;

/** An uncompressed 24-bit BMP, w x h, rgb(x, y) -> [r, g, b]. */
function bmp(w, h, rgb) {
  const row = (w * 3 + 3) & ~3;
  const out = new Uint8Array(54 + row * h);
  const v = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  v.setUint32(2, out.length, true);
  v.setUint32(10, 54, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, w, true);
  v.setInt32(22, h, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, 24, true);
  v.setUint32(34, row * h, true);
  for (let y = 0; y < h; y++) {
    const at = 54 + (h - 1 - y) * row; // bottom-up rows, BGR
    for (let x = 0; x < w; x++) {
      const [r, g, b] = rgb(x, y);
      out[at + 3 * x] = b; out[at + 3 * x + 1] = g; out[at + 3 * x + 2] = r;
    }
  }
  return out;
}
const RED = [255, 0, 0], BLUE = [0, 0, 255];
const halves = (w, h) => bmp(w, h, (x) => (x < w / 2 ? RED : BLUE));

/** 'r' / 'b' / '?' per quadrant (TL TR BL BR) of a [3,224,224] preprocess() output. */
function quadrants(x) {
  let s = '';
  for (const [qy, qx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
    const m = [0, 0, 0];
    let n = 0;
    for (let y = qy ? R / 2 + 16 : 0; y < (qy ? R : R / 2 - 16); y++) {
      for (let xx = qx ? R / 2 + 16 : 0; xx < (qx ? R : R / 2 - 16); xx++, n += 1) {
        for (let c = 0; c < 3; c++) m[c] += (x[c * PLANE + y * R + xx] * STD[c] + MEAN[c]) * 255;
      }
    }
    const [r, g, b] = m.map((v) => v / n);
    s += r > 240 && g < 16 && b < 16 ? 'r' : b > 240 && g < 16 && r < 16 ? 'b' : '?';
  }
  return s;
}

describe('thumbnail()', { skip }, () => {
  let lib;
  before(async () => { lib = await import('../../web/src/index.mjs'); });

  /** The JPEG's size and a look at it: decoded by the library (no EXIF in a thumbnail). */
  async function look(blob) {
    assert.ok(blob instanceof Blob, 'a Blob');
    assert.equal(blob.type, 'image/jpeg');
    const bytes = new Uint8Array(await blob.arrayBuffer());
    assert.deepEqual([bytes[0], bytes[1], bytes.at(-2), bytes.at(-1)], [0xff, 0xd8, 0xff, 0xd9], 'JPEG SOI ... EOI');
    const { pixels, info } = await lib.preprocess(bytes, { info: true, exif: 'ignore' });
    assert.equal(info.format, 'JPEG');
    return { width: info.width, height: info.height, layout: quadrants(pixels), bytes };
  }

  it('sizes for several aspect ratios, never upscaled, content in place', async () => {
    for (const [w, h, opts, want] of [
      [4000, 3000, {}, [320, 240]], [3000, 4000, {}, [240, 320]], [100, 50, {}, [100, 50]],
      [4000, 3000, { maxSide: 640 }, [640, 480]], [321, 100, {}, [320, 100]], [999, 333, { maxSide: 16 }, [16, 5]],
    ]) {
      const t = await look(await lib.thumbnail(halves(w, h), opts));
      assert.deepEqual([t.width, t.height], want, `${w}x${h} ${JSON.stringify(opts)}`);
      if (want[0] >= 64) assert.equal(t.layout, 'rbrb', `${w}x${h}: left red, right blue`);
    }
  });

  it('accepts Uint8Array, ArrayBuffer, another typed-array view, Blob and File', async () => {
    const u8 = halves(200, 100);
    const inputs = [u8, u8.buffer.slice(0), new DataView(u8.buffer), new Blob([u8])];
    if (typeof File !== 'undefined') inputs.push(new File([u8], 'photo.bmp', { type: 'image/bmp' }));
    const first = await look(await lib.thumbnail(inputs[0], { maxSide: 100 }));
    assert.deepEqual([first.width, first.height], [100, 50]);
    for (const input of inputs.slice(1)) {
      const t = await look(await lib.thumbnail(input, { maxSide: 100 }));
      assert.deepEqual(t.bytes, first.bytes, `${input.constructor.name} gives the same JPEG`);
    }
  });

  it('EXIF orientation 6: upright by default (sides swapped, red on top), as stored with exif ignore', async () => {
    const up = await look(await lib.thumbnail(fixture('orientation6.jpg')));
    assert.deepEqual([up.width, up.height], [160, 320]);
    assert.equal(up.layout, 'rrbb');
    const stored = await look(await lib.thumbnail(fixture('orientation6.jpg'), { exif: 'ignore' }));
    assert.deepEqual([stored.width, stored.height], [320, 160]);
    assert.equal(stored.layout, 'rbrb');
  });

  it('quality: a larger quality gives a larger file of the same size', async () => {
    let seed = 7;
    const noise = bmp(400, 300, () => {
      const px = [];
      for (let c = 0; c < 3; c++) { seed = (seed * 1664525 + 1013904223) >>> 0; px.push(seed >>> 24); }
      return px;
    });
    const low = await lib.thumbnail(noise, { quality: 30 }), high = await lib.thumbnail(noise, { quality: 95 });
    assert.ok(low.size < high.size, `quality 30: ${low.size} bytes, 95: ${high.size} bytes`);
    assert.deepEqual([(await look(low)).width, (await look(high)).height], [320, 240]);
  });

  it('native CLI, wasm CLI and thumbnail() agree on size and pixels', { skip: !existsSync(nativeCli) && `native CLI not built (${nativeCli})` }, async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-thumbnail-'));
    try {
      const inputs = [['halves.bmp', halves(4000, 3000)], ['orientation6.jpg', fixture('orientation6.jpg')],
        ['tall.bmp', bmp(300, 1000, (x, y) => [x & 255, y & 255, (x ^ y) & 255])]];
      for (const [name, bytes] of inputs) {
        const src = path.join(tmp, name);
        writeFileSync(src, bytes);
        const mine = await look(await lib.thumbnail(bytes, { maxSide: 256 }));
        for (const [cli, argv] of [['native', [nativeCli]], ['wasm', [process.execPath, wasmCli]]]) {
          const out = path.join(tmp, `${cli}-${name}.jpg`);
          const r = spawnSync(argv[0], [...argv.slice(1), 'thumbnail', '--max-side', '256', src, out], { encoding: 'utf8' });
          assert.equal(r.status, 0, `${cli} CLI: ${r.stderr}`);
          const line = JSON.parse(r.stdout);
          const theirs = await look(new Blob([readFileSync(out)], { type: 'image/jpeg' }));
          assert.deepEqual([line.width, line.height, theirs.width, theirs.height], [mine.width, mine.height, mine.width, mine.height], `${cli} CLI, ${name}`);
          assert.equal(line.bytes, theirs.bytes.length);
          const a = await lib.preprocess(mine.bytes, { exif: 'ignore' }), b = await lib.preprocess(theirs.bytes, { exif: 'ignore' });
          let d = 0;
          for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]) * STD[Math.floor(i / PLANE)] * 255;
          assert.ok(d / a.length < 1, `${cli} CLI vs thumbnail(), ${name}: mean |d| ${(d / a.length).toFixed(3)} uint8 steps`);
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('errors by code', async () => {
    const small = halves(100, 50);
    const rejects = (p, code, re) => assert.rejects(p, (e) => {
      assert.equal(e.name, 'ClipdbError');
      assert.equal(e.code, code, e.message);
      if (re) assert.match(e.message, re);
      return true;
    });
    await rejects(lib.thumbnail('photo.jpg'), 'INVALID_ARGUMENT', /Blob, File, ArrayBuffer or Uint8Array/);
    await rejects(lib.thumbnail(small, { maxSide: 15 }), 'INVALID_ARGUMENT', /maxSide .*16\.\.4096/);
    await rejects(lib.thumbnail(small, { maxSide: 4097 }), 'INVALID_ARGUMENT', /maxSide/);
    await rejects(lib.thumbnail(small, { maxSide: 100.5 }), 'INVALID_ARGUMENT', /maxSide/);
    await rejects(lib.thumbnail(small, { quality: 0 }), 'INVALID_ARGUMENT', /quality .*1\.\.100/);
    await rejects(lib.thumbnail(small, { quality: 101 }), 'INVALID_ARGUMENT', /quality/);
    await rejects(lib.thumbnail(small, { exif: 'rotate' }), 'INVALID_ARGUMENT', /exif/);
    await rejects(lib.thumbnail(new Uint8Array(0)), 'BAD_IMAGE', /empty/);
    await rejects(lib.thumbnail(new TextEncoder().encode('not an image at all')), 'BAD_IMAGE', /unrecognised/);
    const jpeg = fixture('no-tag.jpg');
    await rejects(lib.thumbnail(jpeg.subarray(0, jpeg.length >> 1)), 'BAD_IMAGE', /truncated/);
    await rejects(lib.thumbnail(small.subarray(0, small.length - 100)), 'BAD_IMAGE', /truncated/);
    const webp = new Uint8Array([...'RIFF'].map((c) => c.charCodeAt(0)).concat([40, 0, 0, 0], [...'WEBPVP8 '].map((c) => c.charCodeAt(0))));
    await rejects(lib.thumbnail(webp), 'UNSUPPORTED', /WebP/);
    await rejects(lib.thumbnail(small, { maxPixels: 4999 }), 'IMAGE_TOO_LARGE', /5000 pixels/);
    assert.equal((await look(await lib.thumbnail(small, { maxPixels: 5000 }))).width, 100);
  });

  it('OUT_OF_MEMORY names the bytes: a 23000 x 23000 GIF canvas does not fit the 4 GB wasm memory', async () => {
    // GIF89a, logical screen 23000 x 23000, 2-entry palette, one 1x1 frame: tiny file, but
    // the decoder allocates about 9 bytes per canvas pixel (4.8 GB) before reading the frame.
    const gif = new Uint8Array([
      ...'GIF89a'.split('').map((c) => c.charCodeAt(0)), 23000 & 255, 23000 >> 8, 23000 & 255, 23000 >> 8,
      0x80, 0, 0, 0, 0, 0, 255, 255, 255,
      0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]);
    const module = await lib.createModule(); // its own memory: the shared module is not grown
    await assert.rejects(lib.thumbnail(gif, { maxPixels: Infinity, module }), (e) => {
      assert.equal(e.code, 'OUT_OF_MEMORY', e.message);
      assert.match(e.message, /23000 x 23000 .*\d+ bytes/);
      return true;
    });
    // the module still works afterwards
    assert.equal((await lib.thumbnail(halves(100, 50), { module })).type, 'image/jpeg');
  });
});
