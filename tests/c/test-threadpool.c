/*
 * The compute thread pool (src/nn/threads.h) on its own: pthreadpool natively, or the pool of
 * src/nn/threads.c (the threaded wasm module's; natively with CLIPDB_OWN_THREADPOOL, which
 * scripts/test-sanitize runs under ThreadSanitizer). For 2 to 4 threads:
 *   - 4,000 jobs (300 where threads outnumber cores) of 1 to 97 tasks, some of uneven length,
 *     each index run exactly once per job, with pauses longer than the pool's spin every 250
 *     jobs (its threads fall asleep and must be woken) and the pool made current again (an
 *     embed call's start) after each pause;
 *   - the tasks really run on several threads: a job of 2 tasks whose task 0 waits (up to 5 s)
 *     for task 1 to start can only finish when another thread claims task 1;
 *   - a parallel_for inside a task runs inline and completes;
 *   - the pool is destroyed right after a job (threads still spinning) and after a pause
 *     (threads asleep).
 */
#define _POSIX_C_SOURCE 200112L
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "nn/threads.h"

#define MAX_N 97

static atomic_int counts[MAX_N];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
  size_t spin; /* busy iterations per index (uneven task lengths) */
} job;

static void count_task(void *ctx, size_t i) {
  const job *j = ctx;
  volatile size_t sink = 0;
  for (size_t s = 0; s < j->spin * (i % 5); s++) sink += s;
  atomic_fetch_add(&counts[i], 1);
}

static int check_counts(size_t n, const char *what) {
  int ok = 1;
  for (size_t i = 0; i < MAX_N; i++) {
    const int want = i < n ? 1 : 0, got = atomic_exchange(&counts[i], 0);
    if (got != want) ok = 0;
  }
  CHECK(ok, "%s: some index did not run exactly once (n = %zu)", what, n);
  return ok;
}

static atomic_int started1;
static atomic_int concurrent;

static void pair_task(void *ctx, size_t i) {
  (void)ctx;
  if (i == 1) {
    atomic_store(&started1, 1);
    return;
  }
  /* task 0 (or task 1 already done by this same thread: then it is not concurrent) */
  const double t0 = now_s();
  while (!atomic_load(&started1) && now_s() - t0 < 5.0) {}
  if (atomic_load(&started1)) atomic_store(&concurrent, 1);
}

static void nested_task(void *ctx, size_t i) {
  (void)ctx;
  (void)i;
  job inner = {0};
  /* inline on whichever thread runs this task: counts 0..2 once per outer task */
  clipdb__parallel_for(3, count_task, &inner);
}

static void run_pool(size_t n_threads, size_t n_jobs) {
  void *pool = clipdb__threadpool_create(n_threads);
  CHECK(pool != NULL, "%zu threads: no pool", n_threads);
  if (pool == NULL) return;
  const size_t got = clipdb__threadpool_threads(pool);
  CHECK(got >= 2 && got <= n_threads, "%zu threads: pool has %zu", n_threads, got);
  void *old = clipdb__threadpool_swap(pool);
  CHECK(clipdb__threads_current() == got, "current pool has %zu threads, want %zu",
        clipdb__threads_current(), got);

  int bad = 0;
  for (size_t j = 0; j < n_jobs && !bad; j++) {
    const size_t n = 1 + (j * 37) % MAX_N;
    job jb = {j % 7 == 0 ? 200 : 0};
    clipdb__parallel_for(n, count_task, &jb);
    bad = !check_counts(n, "jobs");
    if (j % 250 == 249) {
      sleep_ms(5); /* longer than any spin: the threads sleep */
      clipdb__threadpool_swap(old);
      clipdb__threadpool_swap(pool);
    }
  }

  /* concurrency: needs a second thread to claim task 1 while task 0 waits */
  atomic_store(&started1, 0);
  atomic_store(&concurrent, 0);
  clipdb__parallel_for(2, pair_task, NULL);
  CHECK(atomic_load(&concurrent), "%zu threads: the two tasks never ran at the same time",
        n_threads);

  /* a parallel_for inside a task runs inline: 4 outer tasks, each counting 0..2 once */
  clipdb__parallel_for(4, nested_task, NULL);
  int ok = 1;
  for (size_t i = 0; i < MAX_N; i++) ok &= atomic_exchange(&counts[i], 0) == (i < 3 ? 4 : 0);
  CHECK(ok, "%zu threads: nested parallel_for did not run each inner index once per task",
        n_threads);

  clipdb__threadpool_swap(old);
  if (n_threads % 2 == 0) sleep_ms(5); /* destroy a sleeping pool, and (odd) a spinning one */
  clipdb__threadpool_destroy(pool);
}

int main(void) {
  void *probe = clipdb__threadpool_create(2);
  if (probe == NULL) {
    printf("SKIP: this build has no compute threads\n");
    return 77;
  }
  clipdb__threadpool_destroy(probe);
  /* more threads than cores: pthreadpool waits for every thread at every job, which then
   * takes scheduler time slices, so fewer jobs there */
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (size_t t = 2; t <= 4; t++) {
    const size_t n_jobs = (long)t <= cores ? 4000 : 300;
    const double t0 = now_s();
    run_pool(t, n_jobs);
    printf("%zu threads: %zu jobs, %.2f s\n", t, n_jobs, now_s() - t0);
  }
  /* without a current pool everything runs inline, in order */
  job jb = {0};
  clipdb__parallel_for(MAX_N, count_task, &jb);
  check_counts(MAX_N, "no pool");
  printf("thread pool on 2, 3 and 4 threads: %d failures\n", failures);
  return failures ? 1 : 0;
}
