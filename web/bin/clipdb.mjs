#!/usr/bin/env node
// The clipdb command-line tool on the wasm build: the same C program as the native
// `clipdb`, compiled with Emscripten (NODERAWFS gives it the real file system).
// Usage: node web/bin/clipdb.mjs COMMAND [OPTIONS]   (see `--help`)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const distUrl = new URL('../dist/', import.meta.url);
let createClipdbCli;
try {
  createClipdbCli = require(fileURLToPath(new URL('clipdb-cli.cjs', distUrl)));
} catch (err) {
  process.stderr.write(JSON.stringify({ error: 'IO', message: `wasm CLI not built (run scripts/build): ${err.message}` }) + '\n');
  process.exit(1);
}
// Hand Emscripten the wasm bytes: its default loader would fetch() a file path under Node 20.
const wasmBinary = readFileSync(new URL('clipdb-cli.wasm', distUrl));
let exitCode = 0;
const mod = await createClipdbCli({
  wasmBinary,
  noInitialRun: true,
  print: (s) => process.stdout.write(s + '\n'),
  printErr: (s) => process.stderr.write(s + '\n'),
  quit: (status) => { exitCode = status; },
  onExit: (status) => { exitCode = status; },
});
try {
  const rc = mod.callMain(process.argv.slice(2));
  if (typeof rc === 'number') exitCode = rc;
} catch (err) {
  if (err && err.name === 'ExitStatus') exitCode = err.status;
  else {
    process.stderr.write(JSON.stringify({ error: 'INTERNAL', message: String(err && err.message || err) }) + '\n');
    exitCode = 1;
  }
}
process.exitCode = exitCode;
