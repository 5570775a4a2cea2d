#!/usr/bin/env node
// Install the threaded wasm module (build/wasm-mt/clipdb-mt.*) into web/dist, making its glue
// loadable as an ES module under Node. Emscripten 3.1.6's ES6 output still calls `require(...)`
// and reads `__dirname` on its Node branch, neither of which exists in an ES module; the
// threaded glue needs that branch (pthreads on worker_threads). This prepends both, made from
// import.meta.url only when the glue runs under Node (through a variable, so page bundlers do
// not follow 'node:module'), and writes the pthread Worker script twice: clipdb-mt.worker.js for
// browsers, clipdb-mt.worker.cjs for Node (web/ is "type": "module", where a .js would load as
// an ES module and lose `require`).
//   node scripts/mt-glue.mjs BUILD_DIR DIST_DIR
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [buildDir, distDir] = process.argv.slice(2);
if (!buildDir || !distDir) throw new Error('usage: mt-glue.mjs BUILD_DIR DIST_DIR');
const glue = readFileSync(path.join(buildDir, 'clipdb-mt.mjs'), 'utf8');
const header = `// clipdb (scripts/mt-glue.mjs): require and __dirname for this glue's Node branch.
const __clipdbOnNode = typeof process == 'object' && typeof process.versions == 'object' && typeof process.versions.node == 'string';
const __clipdbNodeModule = 'node:module', __clipdbNodeUrl = 'node:url';
const require = __clipdbOnNode ? (await import(__clipdbNodeModule)).createRequire(import.meta.url) : undefined;
const __dirname = __clipdbOnNode ? (await import(__clipdbNodeUrl)).fileURLToPath(new URL('.', import.meta.url)) : '';
`;
if (glue.startsWith('// clipdb (scripts/mt-glue.mjs)')) throw new Error('glue already patched');
writeFileSync(path.join(distDir, 'clipdb-mt.mjs'), header + glue);
copyFileSync(path.join(buildDir, 'clipdb-mt.wasm'), path.join(distDir, 'clipdb-mt.wasm'));
copyFileSync(path.join(buildDir, 'clipdb-mt.worker.js'), path.join(distDir, 'clipdb-mt.worker.js'));
copyFileSync(path.join(buildDir, 'clipdb-mt.worker.js'), path.join(distDir, 'clipdb-mt.worker.cjs'));
