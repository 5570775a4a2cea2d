// Every wasm SIMD128 kernel against its scalar twin (src/kernels/*/scalar.c), in the wasm
// build's test-only module build/wasm/clipdb-kernel-tests.{cjs,wasm} (CLIPDB_WASM_TESTS).
// The GEMM kernels share one summation order, so without QuickGELU they must agree bit for bit;
// QuickGELU's vector exp is a polynomial, so there the tolerance is relative 2e-6.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from './golden.mjs';

const dir = path.join(repoRoot, 'build', 'wasm');
const glue = path.join(dir, 'clipdb-kernel-tests.cjs');
const skip = existsSync(glue) ? false : `kernel test module not built (${glue}); run scripts/build`;

let seed = 12345;
const rand = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed / 2 ** 32) * 2 - 1;
};
const irand = (lo, hi) => lo + Math.floor(((rand() + 1) / 2) * (hi - lo + 1)) % (hi - lo + 1);

describe('f32 GEMM: wasmsimd kernels vs scalar twins', { skip }, () => {
  let M;
  before(async () => {
    M = await createRequire(import.meta.url)(glue)({ wasmBinary: readFileSync(path.join(dir, 'clipdb-kernel-tests.wasm')) });
  });

  function runCase(ki, twin, m, n, k, act, residual) {
    const lda = k + 1, ldc = n + 3;
    const alloc = (count) => M._malloc(4 * count + 64);
    const a = alloc(m * lda), w = alloc(n * k), b = alloc(n), r = alloc(m * ldc);
    const c1 = alloc(m * ldc), c2 = alloc(m * ldc);
    const p = alloc(M._clipdb__wasm_test_gemm_packed_size(n, k));
    const f = (ptr, cnt) => new Float32Array(M.HEAPF32.buffer, ptr, cnt);
    for (const [ptr, cnt] of [[a, m * lda], [w, n * k], [b, n], [r, m * ldc]]) {
      const v = f(ptr, cnt);
      for (let i = 0; i < cnt; i++) v[i] = rand() * 2;
    }
    f(c1, m * ldc).fill(7), f(c2, m * ldc).fill(7);
    M._clipdb__wasm_test_gemm_pack(n, k, w, k, 1, b, p);
    M._clipdb__wasm_test_gemm_run(ki, m, n, k, a, lda, p, c1, ldc, residual ? r : 0, ldc, act, 1);
    M._clipdb__wasm_test_gemm_run(twin, m, n, k, a, lda, p, c2, ldc, residual ? r : 0, ldc, act, 1);
    const x = f(c1, m * ldc).slice(), y = f(c2, m * ldc).slice();
    for (const ptr of [a, w, b, r, c1, c2, p]) M._free(ptr);
    for (let i = 0; i < m * ldc; i++) {
      const col = i % ldc;
      if (col >= n) {
        assert.equal(x[i], 7, `wrote past column ${n}`);
        continue;
      }
      if (act === 2) {
        const tol = 2e-6 * Math.max(1, Math.abs(y[i]));
        if (!(Math.abs(x[i] - y[i]) <= tol)) assert.fail(`m=${m} n=${n} k=${k} [${i}]: ${x[i]} vs ${y[i]}`);
      } else if (x[i] !== y[i]) {
        assert.fail(`m=${m} n=${n} k=${k} act=${act} res=${residual} [${i}]: ${x[i]} vs twin ${y[i]}`);
      }
    }
  }

  it('covers every SIMD kernel', () => {
    const names = [];
    for (let i = 0; i < M._clipdb__wasm_test_gemm_kernel_count(); i++)
      names.push(M.UTF8ToString(M._clipdb__wasm_test_gemm_kernel_name(i)));
    assert.ok(names.filter((s) => s.includes('wasmsimd')).length >= 4, names.join());
    assert.match(names[M._clipdb__wasm_test_gemm_default()], /wasmsimd/);
  });

  it('matches the twin on sizes 1..65 with tails, residuals and activations', () => {
    const count = M._clipdb__wasm_test_gemm_kernel_count();
    let cases = 0;
    for (let ki = 0; ki < count; ki++) {
      const twin = M._clipdb__wasm_test_gemm_kernel_twin(ki);
      if (twin === ki) continue; // a scalar kernel
      const mr = M._clipdb__wasm_test_gemm_kernel_mr(ki);
      for (let m = 1; m <= 2 * mr + 1; m++)
        for (let n = 1; n <= 17; n++) runCase(ki, twin, m, n, irand(1, 9), 0, false), cases++;
      for (let t = 0; t < 120; t++)
        runCase(ki, twin, irand(1, 65), irand(1, 65), irand(1, 65), irand(0, 2), rand() > 0), cases++;
      runCase(ki, twin, 50, 64, 768, 2, false), cases++;
    }
    assert.ok(cases > 500);
  });
});

describe('f32 softmax: wasmsimd kernel vs scalar twin', { skip }, () => {
  let M;
  before(async () => {
    M = await createRequire(import.meta.url)(glue)({ wasmBinary: readFileSync(path.join(dir, 'clipdb-kernel-tests.wasm')) });
  });
  it('matches within 1e-6 relative on n = 1..70', () => {
    for (let n = 1; n <= 70; n++) {
      const scale = n % 3 ? 0.125 : 1;
      const ptr = M._malloc(4 * n + 64), ptr2 = M._malloc(4 * n + 64);
      const a = new Float32Array(M.HEAPF32.buffer, ptr, n), b = new Float32Array(M.HEAPF32.buffer, ptr2, n);
      for (let j = 0; j < n; j++) a[j] = b[j] = rand() * 30;
      M._clipdb__wasm_test_softmax(1, n, scale, ptr);
      M._clipdb__wasm_test_softmax(0, n, scale, ptr2);
      let sum = 0;
      for (let j = 0; j < n; j++) {
        sum += a[j];
        if (!(Math.abs(a[j] - b[j]) <= 1e-7 + 1e-6 * b[j])) assert.fail(`n=${n} [${j}]: ${a[j]} vs twin ${b[j]}`);
      }
      assert.ok(Math.abs(sum - 1) < 1e-5, `n=${n}: sums to ${sum}`);
      M._free(ptr), M._free(ptr2);
    }
  });
});
