/* Compute threads: pthreadpool (Debian libpthreadpool-dev) natively where the build has it,
 * a pool of our own on pthreads in the threaded wasm build, none otherwise. */
#define _POSIX_C_SOURCE 200112L /* clock_gettime under -std=c11 */
#include "threads.h"

size_t clipdb__parallel_min_macs = (size_t)1 << 20;

#if defined(CLIPDB_HAVE_PTHREADPOOL)
#include <pthreadpool.h>

static _Thread_local pthreadpool_t current;
static _Thread_local int inside; /* this thread is running a parallel_for's tasks */

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
  if (current == NULL || n <= 1 || inside) { /* a task's own parallel_for runs inline */
    for (size_t i = 0; i < n; i++) task(ctx, i);
    return;
  }
  inside = 1; /* pthreadpool would deadlock on a nested call from the calling thread */
  pthreadpool_parallelize_1d(current, (pthreadpool_task_1d_t)task, ctx, n, 0);
  inside = 0;
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
 * The threaded wasm build (Emscripten pthreads, CLIPDB_WASM_THREADS): pthreadpool is not available
 * there, so a small pool of our own. A parallel_for publishes its job (task, ctx, n) under a new
 * generation number in one atomic word, `claim` (generation, n and the next index), and every
 * thread, the caller included, claims indices from it by compare-and-swap until none is left; the
 * caller then waits until all n tasks are done, not until every thread has looked: a thread that is
 * slow to wake (a sleeping core of a virtual machine can take milliseconds) takes what is left of
 * the job, or nothing, and holds no one up. A claim only succeeds while its generation is current
 * and the task and context are read after it, so a late thread never runs an old job's task on a
 * new job's indices. Between jobs the threads spin for about SPIN_NS before they sleep on a
 * condition variable, so the jobs of one embed call (tens to hundreds, tens of microseconds apart)
 * find them awake; making a pool current (the start of an embed call) wakes sleeping threads, so
 * they wake while the caller does its first serial steps. Which thread runs an index does not
 * change what it computes (the tasks write disjoint outputs), so results do not depend on the
 * thread count. In Emscripten a thread can only start from a Worker created in advance
 * (PTHREAD_POOL_SIZE, set by the JS loader: threads - 1); pthread_create fails with EAGAIN past
 * that, and the pool then keeps the threads it got (at least the caller). So that a second model in
 * the same module (the Worker loads the next model before freeing the previous one) is not left
 * without threads, the module has one pool, shared by reference count: the first model sizes it.
 * Native builds without pthreadpool (or with CLIPDB_OWN_THREADPOOL) give each model its own pool.
 * Calls from several threads are serialised (call_lock), as pthreadpool does.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* How long an idle thread spins before it sleeps (nanoseconds). */
#define SPIN_NS 1000000
/* claim = generation (24 bits) | n (20 bits) | next index (20 bits) */
#define CLAIM_BITS 20
#define CLAIM_MASK ((UINT64_C(1) << CLAIM_BITS) - 1)
#define MAX_JOB ((size_t)CLAIM_MASK)
#define CLAIM_GEN_MASK ((UINT32_C(1) << (64 - 2 * CLAIM_BITS)) - 1)
#define CLAIM_GEN(c) ((uint32_t)((c) >> (2 * CLAIM_BITS)))
#define CLAIM_N(c) ((size_t)(((c) >> CLAIM_BITS) & CLAIM_MASK))
#define CLAIM_NEXT(c) ((size_t)((c) & CLAIM_MASK))

typedef struct pool {
  pthread_mutex_t call_lock; /* one parallel_for at a time */
  pthread_mutex_t lock;      /* the sleeping side of `wake` and `idle` */
  pthread_cond_t wake, idle;
  size_t n_threads;          /* caller included */
  size_t started;            /* threads created (n_threads - 1 when all started) */
  _Atomic(clipdb__task_fn) task; /* the current job: written before its generation is */
  _Atomic(void *) ctx;           /* published, read after a claim of it succeeded */
  atomic_uint_least64_t claim;
  atomic_size_t done;        /* tasks of the current job finished */
  atomic_uint pokes;         /* bumped to wake sleeping threads without a job */
  atomic_int sleepers;       /* threads asleep on `wake` (or about to be) */
  atomic_int caller_asleep;  /* the caller is asleep on `idle` (or about to be) */
  atomic_int stop;
  pthread_t *threads;
  size_t refs;               /* models holding the shared pool */
} pool;

#if defined(__EMSCRIPTEN__)
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pool *shared; /* the module's pool while a model holds it */
#endif

static _Thread_local pool *current;
static _Thread_local int inside; /* this thread is running a parallel_for's tasks */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A spin that started at t0 is over: checked every 256th step (s counts from 1), since reading
 * the clock costs more than a load. */
static int spin_over(unsigned s, uint64_t t0) { return (s & 255) == 0 && now_ns() - t0 > SPIN_NS; }

/* Claim and run indices of generation `gen` until none is left (or the job is no longer
 * current); each task run is counted in `done`, and whoever finishes the job's last task
 * wakes the caller if it sleeps. */
static void run_claims(pool *p, uint32_t gen) {
  uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
  for (;;) {
    if (CLAIM_GEN(c) != gen || CLAIM_NEXT(c) >= CLAIM_N(c)) return;
    if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue; /* c now holds the current value */
    const size_t n = CLAIM_N(c);
    clipdb__task_fn task = atomic_load_explicit(&p->task, memory_order_relaxed);
    task(atomic_load_explicit(&p->ctx, memory_order_relaxed), CLAIM_NEXT(c));
    if (atomic_fetch_add(&p->done, 1) + 1 == n && /* seq_cst against caller_asleep */
        atomic_load(&p->caller_asleep)) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->idle);
      pthread_mutex_unlock(&p->lock);
    }
    c = atomic_load_explicit(&p->claim, memory_order_acquire);
  }
}

static void *worker_main(void *arg) {
  pool *p = arg;
  uint32_t seen = CLAIM_GEN(atomic_load(&p->claim));
  unsigned pokes = atomic_load(&p->pokes);
  for (;;) {
    /* spin, then sleep, until a new generation (or a poke, which restarts the spin) */
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    const uint64_t t0 = now_ns();
    for (unsigned s = 1;
         CLAIM_GEN(c) == seen && !atomic_load_explicit(&p->stop, memory_order_relaxed); s++) {
      if (spin_over(s, t0)) break;
      c = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
    if (CLAIM_GEN(c) == seen && !atomic_load(&p->stop)) {
      pthread_mutex_lock(&p->lock);
      atomic_fetch_add(&p->sleepers, 1);
      while (!atomic_load(&p->stop) && CLAIM_GEN(atomic_load(&p->claim)) == seen &&
             atomic_load(&p->pokes) == pokes)
        pthread_cond_wait(&p->wake, &p->lock);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->lock);
      pokes = atomic_load(&p->pokes);
    }
    if (atomic_load(&p->stop)) break;
    c = atomic_load_explicit(&p->claim, memory_order_acquire);
    if (CLAIM_GEN(c) == seen) continue; /* poked: spin again */
    seen = CLAIM_GEN(c);
    run_claims(p, seen);
  }
  return NULL;
}

/* Wake the threads asleep on `wake` (seq_cst against their `sleepers` increment: either we see
 * it, or they see what we published before calling this). */
static void wake_sleepers(pool *p) {
  if (atomic_load(&p->sleepers) == 0) return;
  pthread_mutex_lock(&p->lock);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
}

static void pool_free(pool *p) {
  atomic_store(&p->stop, 1);
  pthread_mutex_lock(&p->lock);
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
  atomic_init(&p->task, NULL);
  atomic_init(&p->ctx, NULL);
  atomic_init(&p->claim, 0);
  atomic_init(&p->done, 0);
  atomic_init(&p->pokes, 0);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->caller_asleep, 0);
  atomic_init(&p->stop, 0);
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
  if (handle != NULL && handle != old) { /* an embed call starts: wake the threads early */
    pool *p = handle;
    atomic_fetch_add(&p->pokes, 1);
    wake_sleepers(p);
  }
  return old;
}

void clipdb__parallel_for(size_t n, clipdb__task_fn task, void *ctx) {
  pool *p = current;
  if (p == NULL || n <= 1 || n > MAX_JOB || inside || p->started == 0) {
    /* inline: no pool or no thread of it started, one task, more tasks than the claim word
     * counts, or a task's own parallel_for */
    for (size_t i = 0; i < n; i++) task(ctx, i);
    return;
  }
  pthread_mutex_lock(&p->call_lock);
  /* no thread reads task / ctx now: every claim of the last job has finished */
  atomic_store_explicit(&p->task, task, memory_order_relaxed);
  atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  const uint32_t gen = (CLAIM_GEN(atomic_load(&p->claim)) + 1) & CLAIM_GEN_MASK;
  atomic_store(&p->claim, (uint64_t)gen << (2 * CLAIM_BITS) | (uint64_t)n << CLAIM_BITS);
  wake_sleepers(p);
  inside = 1;
  run_claims(p, gen);
  inside = 0;
  /* every index is claimed; wait for the ones other threads run */
  const uint64_t t0 = now_ns();
  for (unsigned s = 1; atomic_load_explicit(&p->done, memory_order_acquire) != n; s++)
    if (spin_over(s, t0)) {
      pthread_mutex_lock(&p->lock);
      atomic_store(&p->caller_asleep, 1);
      while (atomic_load(&p->done) != n) pthread_cond_wait(&p->idle, &p->lock);
      atomic_store(&p->caller_asleep, 0);
      pthread_mutex_unlock(&p->lock);
      break;
    }
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
