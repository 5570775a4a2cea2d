/* Compute threads: pthreadpool (Debian libpthreadpool-dev) natively where the build has it,
 * a pool of our own on pthreads in the threaded wasm build, none otherwise. */
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

size_t clipdb__threadpool_threads(const void *pool) {
  return pool != NULL ? pthreadpool_get_threads_count((pthreadpool_t)pool) : 1;
}

void *clipdb__threadpool_current(void) { return current; }

#elif defined(CLIPDB_HAVE_PTHREADS)
/*
 * The threaded wasm build (Emscripten pthreads, CLIPDB_WASM_THREADS): pthreadpool is not
 * available there, so a small pool of our own. n-1 threads wait on a condition variable; a
 * parallel_for publishes (task, ctx, n) with a new generation number and every thread, the
 * caller included, takes indices from one atomic counter until none is left; the caller then
 * waits until each thread has reported the generation done. Which thread runs an index does not
 * change what it computes (the tasks write disjoint outputs), so results do not depend on the
 * thread count. In Emscripten a thread can only start from a Worker created in advance
 * (PTHREAD_POOL_SIZE, set by the JS loader: threads - 1); pthread_create fails with EAGAIN past
 * that, and the pool then keeps the threads it got (at least the caller). So that a second model
 * in the same module (the Worker loads the next model before freeing the previous one) is not
 * left without threads, the module has one pool, shared by reference count: the first model
 * sizes it. Native builds without pthreadpool (or with CLIPDB_OWN_THREADPOOL) give each model
 * its own pool. Calls from several threads are serialised (call_lock), as pthreadpool does.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct pool {
  pthread_mutex_t call_lock; /* one parallel_for at a time */
  pthread_mutex_t lock;
  pthread_cond_t wake, idle;
  size_t n_threads;          /* caller included */
  size_t started;            /* threads created (n_threads - 1 when all started) */
  unsigned long generation;  /* bumped per job */
  size_t finished;           /* threads done with this generation */
  int stop;
  clipdb__task_fn task;
  void *ctx;
  size_t n;
  atomic_size_t next;
  pthread_t *threads;
  size_t refs;               /* models holding the shared pool */
} pool;

#if defined(__EMSCRIPTEN__)
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pool *shared; /* the module's pool while a model holds it */
#endif

static _Thread_local pool *current;
static _Thread_local int inside; /* this thread is running a parallel_for's tasks */

static void run_indices(pool *p) {
  for (;;) {
    const size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= p->n) break;
    p->task(p->ctx, i);
  }
}

static void *worker_main(void *arg) {
  pool *p = arg;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->lock);
    run_indices(p);
    pthread_mutex_lock(&p->lock);
    if (++p->finished == p->started) pthread_cond_signal(&p->idle);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static void pool_free(pool *p) {
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (size_t i = 0; i < p->started; i++) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->idle);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->call_lock);
  free(p->threads);
  free(p);
}

/* A pool of up to n threads, or NULL when out of memory. Started threads may be fewer (none:
 * the caller runs everything; threads_current() is then 1). */
static pool *pool_new(size_t n) {
  pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->threads = calloc(n - 1, sizeof *p->threads);
  if (p->threads == NULL || pthread_mutex_init(&p->lock, NULL) != 0) {
    free(p->threads);
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->call_lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->idle, NULL);
  atomic_init(&p->next, 0);
  for (size_t i = 0; i + 1 < n; i++) {
    if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) break;
    p->started++;
  }
  p->n_threads = p->started + 1;
  return p;
}

void *clipdb__threadpool_create(size_t n) {
  if (n <= 1) return NULL;
#if defined(__EMSCRIPTEN__)
  /* wasm: the module's Workers are few and started in advance, so its models share one pool */
  pthread_mutex_lock(&shared_lock);
  if (shared == NULL) shared = pool_new(n);
  pool *p = shared;
  if (p != NULL) p->refs++;
  pthread_mutex_unlock(&shared_lock);
#else
  /* natively (no pthreadpool, or CLIPDB_OWN_THREADPOOL): a pool per model, as with pthreadpool */
  pool *p = pool_new(n);
  if (p != NULL) p->refs = 1;
#endif
  return p;
}

void clipdb__threadpool_destroy(void *handle) {
  pool *p = handle;
  if (p == NULL) return;
#if defined(__EMSCRIPTEN__)
  pthread_mutex_lock(&shared_lock);
  const int last = --p->refs == 0;
  if (last && shared == p) shared = NULL;
  pthread_mutex_unlock(&shared_lock);
#else
  const int last = --p->refs == 0;
#endif
  if (last) pool_free(p);
}

void *clipdb__threadpool_swap(void *handle) {
  void *old = current;
  current = handle;
  return old;
}

void clipdb__parallel_for(size_t n, clipdb__task_fn task, void *ctx) {
  pool *p = current;
  if (p == NULL || n <= 1 || inside) { /* a task's own parallel_for runs inline */
    for (size_t i = 0; i < n; i++) task(ctx, i);
    return;
  }
  pthread_mutex_lock(&p->call_lock);
  pthread_mutex_lock(&p->lock);
  p->task = task;
  p->ctx = ctx;
  p->n = n;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  p->finished = 0;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  inside = 1;
  run_indices(p);
  inside = 0;
  pthread_mutex_lock(&p->lock);
  while (p->finished != p->started) pthread_cond_wait(&p->idle, &p->lock);
  pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&p->call_lock);
}

size_t clipdb__threads_current(void) { return current != NULL ? current->n_threads : 1; }

size_t clipdb__threadpool_threads(const void *handle) {
  return handle != NULL ? ((const pool *)handle)->n_threads : 1;
}

/* No pthreadpool handle in this build (the xnnpack backend is native only). */
void *clipdb__threadpool_current(void) { return NULL; }

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
size_t clipdb__threadpool_threads(const void *pool) {
  (void)pool;
  return 1;
}
void *clipdb__threadpool_current(void) { return NULL; }

#endif
