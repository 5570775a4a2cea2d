/* Compute threads on pthreadpool (Debian libpthreadpool-dev) where the build has it. */
#include "threads.h"

size_t clipdb__parallel_min_macs = (size_t)1 << 20;

#if defined(CLIPDB_HAVE_PTHREADPOOL)
#include <pthreadpool.h>

static _Thread_local pthreadpool_t current;

void *clipdb__threadpool_create(size_t n) { return n > 1 ? (void *)pthreadpool_create(n) : NULL; }

void clipdb__threadpool_destroy(void *pool) {
  if (pool != NULL) pthreadpool_destroy((pthreadpool_t)pool);
}

void *clipdb__threadpool_swap(void *pool) {
  void *old = current;
  current = (pthreadpool_t)pool;
  return old;
}

void clipdb__parallel_for(size_t n, clipdb__task_fn task, void *ctx) {
  if (current == NULL || n <= 1) {
    for (size_t i = 0; i < n; i++) task(ctx, i);
    return;
  }
  pthreadpool_parallelize_1d(current, (pthreadpool_task_1d_t)task, ctx, n, 0);
}

size_t clipdb__threads_current(void) {
  return current != NULL ? pthreadpool_get_threads_count(current) : 1;
}

void *clipdb__threadpool_current(void) { return current; }

#else

void *clipdb__threadpool_create(size_t n) {
  (void)n;
  return NULL;
}
void clipdb__threadpool_destroy(void *pool) { (void)pool; }
void *clipdb__threadpool_swap(void *pool) {
  (void)pool;
  return NULL;
}
void clipdb__parallel_for(size_t n, clipdb__task_fn task, void *ctx) {
  for (size_t i = 0; i < n; i++) task(ctx, i);
}
size_t clipdb__threads_current(void) { return 1; }
void *clipdb__threadpool_current(void) { return NULL; }

#endif
