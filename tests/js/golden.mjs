// The one place JS tests find the golden reference data: ../shared/golden beside the
// checkout, or $CLIPDB_GOLDEN. Tests pass `{ skip: goldenSkip }` so that, where the data is
// absent (a user's clone), they are reported as skipped with a clear reason.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const goldenDir = (() => {
  const candidate = process.env.CLIPDB_GOLDEN || path.join(repoRoot, '..', 'shared', 'golden');
  return existsSync(path.join(candidate, 'README.md')) ? candidate : null;
})();

export const goldenSkip = goldenDir
  ? false
  : 'golden reference data not found: expected ../shared/golden beside the checkout, or set CLIPDB_GOLDEN';

export function goldenPath(...parts) {
  if (!goldenDir) throw new Error(goldenSkip);
  return path.join(goldenDir, ...parts);
}

/**
 * The folder of the models shipped in this tree (models/), or $CLIPDB_MODELS: scripts/test-decoys
 * points it (and CLIPDB_GOLDEN) at copies with decoy files beside every model.
 */
export const modelsDir = process.env.CLIPDB_MODELS || path.join(repoRoot, 'models');

export { repoRoot };
