// The image pipeline on the wasm build (web/src/image.mjs -> web/dist/clipdb.wasm) against the
// official one (../shared/golden tiny-vit/reference.safetensors `image/<name>/pixels`):
// lossless files within 1e-6, JPEG within uint8 mean |d| <= 0.5 and max |d| <= 4; EXIF apply
// vs the transposed entry; ImageData input; named errors; the wasm CLI's `preprocess`.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { goldenSkip, goldenPath, repoRoot } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';

const dist = path.join(repoRoot, 'web', 'dist', 'clipdb.wasm');
const skip = goldenSkip || (existsSync(dist) ? false : `wasm build missing (${dist}); run scripts/build`);

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];
const PLANE = 224 * 224;

function compare(x, ref) {
  assert.equal(x.length, ref.length);
  let maxd = 0, sum = 0, umax = 0;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < PLANE; i++) {
      const a = x[c * PLANE + i], b = ref[c * PLANE + i];
      maxd = Math.max(maxd, Math.abs(a - b));
      const ua = Math.round((a * STD[c] + MEAN[c]) * 255), ub = Math.round((b * STD[c] + MEAN[c]) * 255);
      sum += Math.abs(ua - ub);
      umax = Math.max(umax, Math.abs(ua - ub));
    }
  }
  return { maxd, u8mean: sum / (3 * PLANE), u8max: umax };
}

describe('image preprocessing (wasm) vs the official pipeline', { skip }, () => {
  let preprocess, mod, ref, manifest, ClipdbError;
  before(async () => {
    ({ preprocess } = await import('../../web/src/image.mjs'));
    ({ ClipdbError } = await import('../../web/src/errors.mjs'));
    const { createModule } = await import('../../web/src/module.mjs');
    mod = await createModule({ wasmBinary: readFileSync(dist) });
    ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
    manifest = JSON.parse(readFileSync(goldenPath('tiny-vit', 'manifest.json'), 'utf8'));
  });

  it('every golden image entry: lossless exact, JPEG within tolerance, no leak', async () => {
    const baseline = mod._clipdb_allocated_bytes();
    assert.equal(manifest.images.length, 21);
    for (const im of manifest.images) {
      const bytes = readFileSync(goldenPath('images', im.file));
      const exif = im.exif_transpose ? 'apply' : 'ignore';
      const { pixels, info } = await preprocess(bytes, { module: mod, exif, info: true });
      assert.equal(info.mode, im.pil.mode_at_open, `${im.name}: mode`);
      assert.deepEqual([info.width, info.height], im.pil.size_at_open, `${im.name}: size`);
      const r = compare(pixels, ref.f32(`image/${im.name}/pixels`));
      if (im.file.endsWith('.jpg')) {
        assert.ok(r.u8mean <= 0.5 && r.u8max <= 4, `${im.name}: uint8 mean ${r.u8mean}, max ${r.u8max}`);
      } else {
        assert.ok(r.maxd <= 1e-6, `${im.name}: max |d| ${r.maxd}`);
      }
    }
    assert.equal(mod._clipdb_allocated_bytes(), baseline, 'allocation counter back to baseline');
  });

  it('ImageData-like input (RGBA and RGB) and Blob input', async () => {
    // tiny_1x1.png is the single pixel (200, 30, 90)
    const want = ref.f32('image/tiny_1x1/pixels');
    const rgba = await preprocess({ data: new Uint8ClampedArray([200, 30, 90, 255]), width: 1, height: 1 }, { module: mod });
    assert.ok(compare(rgba, want).maxd <= 1e-6);
    const rgb = await preprocess({ data: new Uint8Array([200, 30, 90]), width: 1, height: 1 }, { module: mod });
    assert.ok(compare(rgb, want).maxd <= 1e-6);
    const blob = new Blob([readFileSync(goldenPath('images', 'palette_P.png'))]);
    const fromBlob = await preprocess(blob, { module: mod });
    assert.ok(compare(fromBlob, ref.f32('image/palette_P/pixels')).maxd <= 1e-6);
  });

  it('resolution / mean / std options change the output as specified', async () => {
    const bytes = readFileSync(goldenPath('images', 'tiny_1x1.png'));
    const x = await preprocess(bytes, { module: mod, resolution: 32, mean: [0, 0, 0], std: [1, 1, 1] });
    assert.equal(x.length, 3 * 32 * 32);
    assert.equal(x[0], Math.fround(200 / 255));
    assert.equal(x[32 * 32], Math.fround(30 / 255));
    assert.equal(x[2 * 32 * 32 + 5], Math.fround(90 / 255));
  });

  it('named errors: empty, truncated, oversized, unsupported formats', async () => {
    const png = readFileSync(goldenPath('images', 'astronaut.png'));
    const jpg = readFileSync(goldenPath('images', 'rocket.jpg'));
    const bigPng = Buffer.alloc(33 + 24);
    Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').copy(bigPng, 0);
    bigPng.writeUInt32BE(20000, 16);
    bigPng.writeUInt32BE(20000, 20);
    bigPng[24] = 8; bigPng[25] = 2;
    const cases = [
      ['zero bytes', new Uint8Array(0), 'BAD_IMAGE', /empty/],
      ['truncated PNG', png.subarray(0, png.length >> 1), 'BAD_IMAGE', /PNG/],
      ['truncated JPEG', jpg.subarray(0, jpg.length >> 1), 'BAD_IMAGE', /truncated/],
      ['20000x20000 PNG header', bigPng, 'IMAGE_TOO_LARGE', /20000 x 20000/],
      ['WebP', Buffer.from('RIFF\x24\0\0\0WEBPVP8 ', 'latin1'), 'UNSUPPORTED', /WebP/],
      ['AVIF', Buffer.from('\0\0\0\x1cftypavif\0\0\0\0avifmif1', 'latin1'), 'UNSUPPORTED', /AVIF/],
      ['12-bit JPEG', Buffer.from([0xff, 0xd8, 0xff, 0xc1, 0, 11, 12, 0, 16, 0, 16, 1, 1, 0x11, 0, 0xff, 0xd9]), 'UNSUPPORTED', /12-bit/],
    ];
    for (const [what, bytes, code, re] of cases) {
      await assert.rejects(preprocess(bytes, { module: mod }), (err) => {
        assert.ok(err instanceof ClipdbError, `${what}: ${err}`);
        assert.equal(err.code, code, `${what}: ${err.message}`);
        assert.match(err.message, re, what);
        return true;
      });
    }
    await assert.rejects(preprocess(png, { module: mod, maxPixels: 1000 }), { code: 'IMAGE_TOO_LARGE' });
    await assert.rejects(preprocess(png, { module: mod, exif: 'sideways' }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(preprocess({ data: new Uint8Array(5), width: 2, height: 1 }, { module: mod }), { code: 'INVALID_ARGUMENT' });
  });

  it('wasm CLI: clipdb preprocess writes the same float32 tensor', () => {
    const cli = path.join(repoRoot, 'web', 'bin', 'clipdb.mjs');
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-img-'));
    try {
      for (const [name, file, exif] of [['gray16', 'gray16.png', 'ignore'], ['rgba_transparent', 'rgba_transparent.png', 'ignore'],
        ['exif_orientation6_transposed', 'exif_orientation6.jpg', 'apply']]) {
        const out = path.join(tmp, `${name}.f32`);
        const line = execFileSync('node', [cli, 'preprocess', '--resolution', '224', '--exif', exif, goldenPath('images', file), '--out', out], { encoding: 'utf8' });
        assert.equal(JSON.parse(line).shape.join('x'), '3x224x224');
        const b = readFileSync(out);
        const x = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
        const r = compare(x, ref.f32(`image/${name}/pixels`));
        if (file.endsWith('.jpg')) assert.ok(r.u8mean <= 0.5 && r.u8max <= 4, `${name}: ${JSON.stringify(r)}`);
        else assert.ok(r.maxd <= 1e-6, `${name}: ${r.maxd}`);
      }
      let failed = null;
      try {
        execFileSync('node', [cli, 'preprocess', '--resolution', '224', path.join(tmp, 'missing.png'), '--out', path.join(tmp, 'x')], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        failed = err;
      }
      assert.ok(failed && failed.status === 1 && /"error":"IO"/.test(failed.stderr), 'missing file -> IO error');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// End to end: image file -> embedding for all 21 golden entries, through the wasm API
// (preprocess + loadModel().embedImage) and through `clipdb embed --model DIR --image FILE`
// of the native and the wasm CLI. Lossless files: max |d| <= 1e-4 * max|ref| (the engine
// tolerance, pixels being exact); JPEG: cosine >= 0.9999.
const nativeCli = path.join(repoRoot, 'build', 'native', 'clipdb');

function embeddingCheck(name, file, got, want) {
  let maxd = 0, maxref = 0, dot = 0, na = 0, nb = 0;
  for (let i = 0; i < want.length; i++) {
    maxd = Math.max(maxd, Math.abs(got[i] - want[i]));
    maxref = Math.max(maxref, Math.abs(want[i]));
    dot += got[i] * want[i]; na += got[i] * got[i]; nb += want[i] * want[i];
  }
  assert.equal(got.length, want.length, `${name}: embedding length`);
  const cosine = dot / Math.sqrt(na * nb);
  if (file.endsWith('.jpg')) assert.ok(cosine >= 0.9999, `${name}: cosine ${cosine}`);
  else assert.ok(maxd <= 1e-4 * maxref, `${name}: max |d| ${maxd} > 1e-4 * ${maxref}`);
}

describe('image file -> embedding, all golden entries (tiny-vit)', { skip }, () => {
  let ref, manifest;
  before(() => {
    ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
    manifest = JSON.parse(readFileSync(goldenPath('tiny-vit', 'manifest.json'), 'utf8'));
  });

  it('wasm API: preprocess(bytes, {model}) + embedImage', async () => {
    const { preprocess } = await import('../../web/src/image.mjs');
    const { loadModel } = await import('../../web/src/engine.mjs');
    const model = await loadModel({ 'model.safetensors': readFileSync(goldenPath('tiny-vit', 'model.safetensors')) });
    try {
      for (const im of manifest.images) {
        const pixels = await preprocess(readFileSync(goldenPath('images', im.file)), { model, exif: im.exif_transpose ? 'apply' : 'ignore' });
        embeddingCheck(im.name, im.file, model.embedImage(pixels), ref.f32(`image/${im.name}/embedding`));
      }
    } finally {
      model.free();
    }
  });

  for (const [which, cmd] of [['native', existsSync(nativeCli) ? [nativeCli] : null], ['wasm', ['node', path.join(repoRoot, 'web', 'bin', 'clipdb.mjs')]]]) {
    it(`${which} CLI: clipdb embed --model tiny-vit --image FILE`, { skip: cmd ? false : `${nativeCli} not built` }, () => {
      for (const exif of ['ignore', 'apply']) {
        const list = manifest.images.filter((im) => Boolean(im.exif_transpose) === (exif === 'apply'));
        const args = ['embed', '--model', goldenPath('tiny-vit'), '--exif', exif];
        for (const im of list) args.push('--image', goldenPath('images', im.file));
        const lines = execFileSync(cmd[0], [...cmd.slice(1), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n');
        assert.equal(lines.length, list.length);
        list.forEach((im, i) => embeddingCheck(im.name, im.file, JSON.parse(lines[i]), ref.f32(`image/${im.name}/embedding`)));
      }
    });
  }

  it('CLI preprocess --model takes R, mean and std from the model', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-img-'));
    try {
      const out = path.join(tmp, 'coins.f32');
      execFileSync('node', [path.join(repoRoot, 'web', 'bin', 'clipdb.mjs'), 'preprocess', '--model', goldenPath('tiny-vit'), goldenPath('images', 'coins.png'), '--out', out]);
      const b = readFileSync(out);
      assert.ok(compare(new Float32Array(b.buffer, b.byteOffset, b.length / 4), ref.f32('image/coins/pixels')).maxd <= 1e-6);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
