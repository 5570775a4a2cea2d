// A failed module instance is not kept: getModule() after a failed creation (or after the
// instance aborted) creates a new one. Its own file, so nothing created the shared instance
// before (node --test runs each file in its own process).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { getModule } from '../../web/src/module.mjs';
import * as binding from '../../web/src/binding.mjs';

const skip = existsSync(fileURLToPath(new URL('../../web/dist/clipdb.wasm', import.meta.url))) ? false : 'web/dist/clipdb.wasm is missing: run scripts/build';

it('a failed or aborted default module is dropped: the next getModule() creates a working one', { skip }, async () => {
  await assert.rejects(getModule({ wasmBinary: new Uint8Array([1, 2, 3, 4]) }));
  const mod = await getModule();
  assert.equal(binding.clipdb_backend_name(mod), 'simd');
  assert.equal(await getModule(), mod, 'a working instance is shared');
  mod.clipdbAborted = true; // what the glue's onAbort sets after a wasm trap
  const fresh = await getModule();
  assert.notEqual(fresh, mod);
  assert.equal(binding.clipdb_backend_name(fresh), 'simd');
});
