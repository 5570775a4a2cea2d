// What first use of fresh memory costs on this machine: touching one byte per 4 KiB page of a
// new 256 MB ArrayBuffer and of 256 MB of newly grown wasm memory (the C index's vectors live
// in such memory: 100,000 512-d vectors are 205 MB). Prints CPU time of each, and of touching
// the same pages again. On a VM whose page faults are slow, this is a floor under a store's open.
//   node bench/page-touch.mjs [MB, default 256]
const mb = Number(process.argv[2] ?? 256);
const cpu = (c0) => { const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };
const touch = (u) => { for (let i = 0; i < u.length; i += 4096) u[i]++; };
const timed = (what, f) => { const c0 = process.cpuUsage(), t0 = performance.now(); f(); console.log(`${what}: ${cpu(c0).toFixed(0)} ms CPU, ${(performance.now() - t0).toFixed(0)} ms wall`); };
const b = new Uint8Array(mb << 20);
timed(`first touch, ${mb} MB ArrayBuffer`, () => touch(b));
timed(`second touch, ${mb} MB ArrayBuffer`, () => touch(b));
const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
m.grow(mb * 16);
const u = new Uint8Array(m.buffer);
timed(`first touch, ${mb} MB grown wasm memory`, () => touch(u));
timed(`second touch, ${mb} MB grown wasm memory`, () => touch(u));
