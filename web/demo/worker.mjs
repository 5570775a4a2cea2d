// The demo's clipdb Worker: clipdb's own worker (../src/worker.mjs), started from a URL inside
// the service worker's scope (./) so that the Worker, and every module and wasm file it loads,
// is served by the service worker when offline (a dedicated Worker is matched to a service
// worker by its own URL).
import '../src/worker.mjs';
