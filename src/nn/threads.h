/*
 * Compute threads for the GEMM boundary (native builds with pthreadpool; see src/nn/README.md
 * "Threading"). A model owns a pool when it was loaded with n_threads > 1; the public embed
 * functions make it the calling thread's current pool for the duration of the call, and the
 * backends' clipdb__gemm_run split their work over it. Each output element is still computed
 * by one thread in the same order, so results do not depend on the thread count.
 */
#ifndef CLIPDB_NN_THREADS_H
#define CLIPDB_NN_THREADS_H

#include <stddef.h>

/* A pool of n threads (the caller counts as one), or NULL when n <= 1 or threads are not
 * available in this build (the single-threaded wasm module). In the threaded wasm module the
 * pool is shared by every model of the module (the first sizes it) and may hold fewer threads
 * than asked for (see threads.c). */
void *clipdb__threadpool_create(size_t n);
void clipdb__threadpool_destroy(void *pool);

/* Make `pool` (may be NULL) the calling thread's current pool; returns the previous one. */
void *clipdb__threadpool_swap(void *pool);

/* Run task(ctx, i) for i in [0, n) on the current pool (inline, in order, without one). */
typedef void (*clipdb__task_fn)(void *ctx, size_t i);
void clipdb__parallel_for(size_t n, clipdb__task_fn task, void *ctx);

/* Threads of the current pool (1 without one). */
size_t clipdb__threads_current(void);
/* Threads of `pool` (1 for NULL): what clipdb_model_config_json reports as "threads". */
size_t clipdb__threadpool_threads(const void *pool);

/* Items per task when n items are split over `threads` threads: about two tasks per thread, so
 * one slow thread holds up at most half its share (every split of the ops and backends). */
static inline size_t clipdb__per_task(size_t n, size_t threads) {
  return (n + 2 * threads - 1) / (2 * threads);
}

/* GEMMs with fewer multiply-adds than this run on the calling thread alone (1 Mi by default;
 * tests lower it to exercise the split on small models). */
extern size_t clipdb__parallel_min_macs;

/* The current pool as the backend's native handle (pthreadpool_t), or NULL. */
void *clipdb__threadpool_current(void);

#endif
