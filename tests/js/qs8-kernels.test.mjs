// The wasm SIMD128 int8 GEMM kernels (src/kernels/qs8-gemm/wasmsimd.c) against their scalar
// twins and a plain int32 reference, in the test-only module build/wasm/clipdb-kernel-tests:
// the int32 accumulators must agree bit for bit on random odd M, N, K (tails everywhere); and the
// per-row activation quantizer (SIMD128 path) against a float32 reference written here.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from './golden.mjs';

const dir = path.join(repoRoot, 'build', 'wasm');
const glue = path.join(dir, 'clipdb-kernel-tests.cjs');
const skip = existsSync(glue) ? false : `kernel test module not built (${glue}); run scripts/build`;

describe('qs8 GEMM: wasmsimd kernels vs scalar twins', { skip }, () => {
  let M;
  before(async () => {
    M = await createRequire(import.meta.url)(glue)({ wasmBinary: readFileSync(path.join(dir, 'clipdb-kernel-tests.wasm')) });
  });
  const kernels = () => {
    const out = [];
    for (let i = 0; i < M._clipdb__wasm_test_qs8_kernel_count(); i++) out.push([i, M.UTF8ToString(M._clipdb__wasm_test_qs8_kernel_name(i))]);
    return out;
  };

  it('has the SIMD128 kernels and uses one of them by default', () => {
    const names = kernels().map(([, n]) => n);
    assert.ok(names.includes('qs8_gemm_2x8c4__wasmsimd_dot16'), names.join(', '));
    assert.ok(names.includes('qs8_gemm_4x8c4__wasmsimd_dot16'), names.join(', '));
    assert.ok(names.includes('qs8_gemm_2x8c4__wasmsimd_dot16_wide'), names.join(', '));
    assert.equal(M.UTF8ToString(M._clipdb__wasm_test_qs8_default()), 'qs8_gemm_2x8c4__wasmsimd_dot16_wide');
    // the default's first-tile form (it widens each int8 panel while computing the panel's
    // first tile) is checked with it below
    const wide = kernels().find(([, name]) => name === 'qs8_gemm_2x8c4__wasmsimd_dot16_wide')[0];
    assert.equal(M._clipdb__wasm_test_qs8_kernel_widens(wide), 1);
  });

  it('gives the same int32 sums as the twin and the reference', () => {
    let seed = 99;
    const irand = (lo, hi) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return lo + (seed % (hi - lo + 1));
    };
    const shapes = [[50, 24, 768], [7, 9, 4608], [1, 1, 1], [5, 17, 3]];
    for (let t = 0; t < 120; t++) shapes.push([irand(1, 13), irand(1, 37), irand(1, 77)]);
    for (const [i, name] of kernels()) {
      for (const [m, n, k] of shapes) {
        const bad = M._clipdb__wasm_test_qs8_check(i, m, n, k, m * 1000 + n * 10 + k);
        assert.equal(bad, 0, `${name} m=${m} n=${n} k=${k}: ${bad} accumulators differ`);
      }
    }
  });

  // x · (127 / max|x|) in float32, rounded to nearest with ties to even, clamped to ±127.
  const reference = (x) => {
    let amax = 0;
    for (const v of x) amax = Number.isNaN(v) || Number.isNaN(amax) ? NaN : Math.max(amax, Math.abs(v));
    if (!(amax > 0) || !Number.isFinite(amax)) return { scale: 0, q: x.map(() => 0) };
    const inv = Math.fround(127 / amax);
    const q = x.map((v) => {
      const t = Math.fround(Math.fround(v) * inv);
      let r = Math.round(t);
      if (Math.abs(t - Math.trunc(t)) === 0.5) r = 2 * Math.round(t / 2); // a tie: the even neighbour
      return Math.max(-127, Math.min(127, r)) || 0; // -0 → 0
    });
    return { scale: Math.fround(amax / 127), q };
  };

  it('quantizes rows per row: ties to even, NaN or infinity rows to zeros, zero padding', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const rows = [
      [127, 2.5, -2.5, 3.5, 0.5, -0.5, 1.5, -126.5, 0, 126.5, 64.5, -64.5, 7, 8, 9, 10, 11, 12, 13], // ties over SIMD lanes and the tail
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      Array.from({ length: 33 }, (_, i) => (i === 20 ? NaN : i)),
      Array.from({ length: 33 }, (_, i) => (i === 3 ? -Infinity : i)),
    ];
    for (let t = 0; t < 60; t++) rows.push(Array.from({ length: 1 + (t * 7) % 90 }, () => rnd() * (t + 1)));
    for (const row of rows) {
      const k = row.length, kpad = Math.ceil(k / 4) * 4;
      const x = M._malloc(4 * k), q = M._malloc(kpad + 16);
      M.HEAPF32.set(Float32Array.from(row), x >> 2);
      M.HEAP8.fill(99, q, q + kpad + 16);
      const scale = M._clipdb__wasm_test_qs8_quantize_row(k, kpad, x, q);
      const got = Array.from(M.HEAP8.subarray(q, q + kpad));
      const want = reference(Array.from(Float32Array.from(row)));
      assert.equal(scale, want.scale, `scale of a row of ${k}`);
      assert.deepEqual(got, [...want.q, ...Array(kpad - k).fill(0)], `row of ${k}: ${row.slice(0, 6).join(', ')}...`);
      assert.equal(M.HEAP8[q + kpad], 99, 'nothing written past kpad');
      M._free(x), M._free(q);
    }
  });
});
