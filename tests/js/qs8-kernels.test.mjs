// The wasm SIMD128 int8 GEMM kernels (src/kernels/qs8-gemm/wasmsimd.c) against their scalar
// twins and a plain int32 reference, in the test-only module build/wasm/clipdb-kernel-tests:
// the int32 accumulators must agree bit for bit on random odd M, N, K (tails everywhere).
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
    assert.match(M.UTF8ToString(M._clipdb__wasm_test_qs8_default()), /wasmsimd/);
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
});
