/*
 * A plain main() for the fuzz targets where libFuzzer is not available (gcc, or clang without
 * its runtime): runs LLVMFuzzerTestOneInput once per file named on the command line, walking
 * folders one level deep. Flags starting with '-' are ignored, so it takes the same command
 * line as the libFuzzer binary. Exit 0 when every input ran; a crash aborts as it would under
 * libFuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    return 1;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (buf == NULL) abort();
    n += fread(buf + n, 1, cap - n, fp);
    if (n < cap) break;
    cap *= 2;
    buf = realloc(buf, cap);
  }
  fclose(fp);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int failures = 0, runs = 0;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "cannot stat %s\n", argv[i]);
      failures++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failures += run_file(argv[i]);
      runs++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (d == NULL) {
      failures++;
      continue;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
      if (e->d_name[0] == '.') continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        failures += run_file(path);
        runs++;
      }
    }
    closedir(d);
  }
  fprintf(stderr, "ran %d inputs, %d unreadable\n", runs, failures);
  return failures ? 1 : 0;
}
