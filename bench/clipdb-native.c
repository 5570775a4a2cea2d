/*
 * Native clipdb for bench/bench.mjs: the same protocol as bench/worker.mjs, as JSON lines on
 * stdout, commands ("run", "exit") on stdin. Built by bench/run against build/native.
 *   clipdb-native <model.safetensors> <image|text|both> <resolution> <embed_dim> [tokens...]
 * Inputs are generated exactly as worker.mjs benchPixels() does, so both runtimes see the
 * same pixels. The model is streamed from the file (pread), as the CLI does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "clipdb.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* clipdb_file_read_fn over a file descriptor. */
static int pread_all(void *user, uint64_t offset, void *dst, size_t n) {
  int fd = *(const int *)user;
  char *p = dst;
  while (n > 0) {
    ssize_t got = pread(fd, p, n, (off_t)offset);
    if (got <= 0) return 1;
    p += got, offset += (uint64_t)got, n -= (size_t)got;
  }
  return 0;
}

static void die(const char *what) {
  fprintf(stderr, "clipdb-native: %s: %s\n", what, clipdb_last_error());
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: clipdb-native MODEL image|text|both RESOLUTION EMBED_DIM [TOKENS...]\n");
    return 2;
  }
  const char *kind = argv[2];
  const int image = strcmp(kind, "text") != 0, text = strcmp(kind, "image") != 0;
  const int res = atoi(argv[3]), dim = atoi(argv[4]);
  const int n_tokens = argc - 5;
  int32_t *tokens = malloc(sizeof(int32_t) * (n_tokens > 0 ? n_tokens : 1));
  for (int i = 0; i < n_tokens; i++) tokens[i] = atoi(argv[5 + i]);

  double t0 = now_ms();
  /* streamed through pread (clipdb_file.read): the file is never held whole */
  int fd = open(argv[1], O_RDONLY);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    perror(argv[1]);
    return 1;
  }
  clipdb_file file = {"model.safetensors", NULL, (size_t)sb.st_size, pread_all, &fd};
  clipdb_model_params params = clipdb_model_default_params();
  /* CLIPDB_BENCH_THREADS: bench.mjs --threads (default 1) */
  const char *bench_threads = getenv("CLIPDB_BENCH_THREADS");
  params.n_threads = bench_threads != NULL ? atoi(bench_threads) : 1;
  params.load_vision = (uint8_t)image;
  params.load_text = (uint8_t)text;
  clipdb_model_t *model = NULL;
  if (clipdb_model_init_from_files(&file, 1, &params, &model) != CLIPDB_STATUS_SUCCESS) die("model");
  close(fd);
  clipdb_session_t *session = NULL;
  if (clipdb_session_init(model, &session) != CLIPDB_STATUS_SUCCESS) die("session");
  const double load_ms = now_ms() - t0;

  float *pixels = NULL;
  if (image) {
    const size_t n = (size_t)3 * res * res;
    pixels = malloc(sizeof(float) * n);
    uint32_t s = 1234567;
    for (size_t i = 0; i < n; i++) {
      s = s * 1103515245u + 12345u;
      pixels[i] = (float)((double)s / 4294967296.0 * 4.0 - 2.0);
    }
  }
  float *emb = malloc(sizeof(float) * 2 * (size_t)dim);
  char line[64];
  for (int first = 1;; first = 0) {
    double t = now_ms(), c = cpu_ms();
    if (image && clipdb_image_embed(session, pixels, 1, emb) != CLIPDB_STATUS_SUCCESS) die("image");
    if (text && clipdb_text_embed(session, tokens, (size_t)n_tokens, emb + (image ? dim : 0)) !=
                    CLIPDB_STATUS_SUCCESS)
      die("text");
    t = now_ms() - t;
    c = cpu_ms() - c;
    if (first) {
      printf("{\"ready\":true,\"load_ms\":%.3f,\"embedding\":[", load_ms);
      for (int i = 0; i < (image && text ? 2 : 1) * dim; i++) printf("%s%.9g", i ? "," : "", emb[i]);
      printf("]}\n");
    } else {
      printf("{\"ms\":%.4f,\"cpu_ms\":%.4f}\n", t, c);
    }
    fflush(stdout);
    if (fgets(line, sizeof line, stdin) == NULL || strncmp(line, "exit", 4) == 0) break;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"peak_mb\":%.1f}\n", ru.ru_maxrss / 1024.0);
  fflush(stdout);
  clipdb_session_free(session);
  clipdb_model_free(model);
  free(pixels), free(emb), free(tokens);
  return 0;
}
