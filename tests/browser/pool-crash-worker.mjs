// The crashing engine of worker-pool.test.mjs: pool-crash-engine.mjs first, then clipdb's worker.
import './pool-crash-engine.mjs';
import '../../web/src/worker.mjs';
