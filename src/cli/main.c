/* clipdb command-line tool: dispatch to the command files. See cli.h for the contract. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} commands[] = {
    {"embed", cli_embed,
     "embed --model PATH (--pixels FILE | --tokens IDS | --text TEXT | --image FILE) [--exif ignore|apply]"},
    {"info", cli_info, "info --model PATH"},
    {"tokenize", cli_tokenize, "tokenize --vocab PATH [--truncate] TEXT..."},
    {"preprocess", cli_preprocess, "preprocess --model PATH [--exif ignore|apply] IMAGE --out FILE"},
    {"index", cli_index, "index --model PATH --store DIR IMAGE_DIR..."},
    {"search", cli_search, "search --store DIR (--text TEXT | --image FILE) [-n N]"},
    {"thumbnail", cli_thumbnail, "thumbnail [--max-side N] [--quality Q] [--exif ignore|apply] IMAGE OUT.jpg"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: clipdb COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  clipdb %s\n", commands[i].help);
  fprintf(f, "\nResults are JSON on stdout, one per line; errors are JSON on stderr.\n");
  fprintf(f, "Environment: CLIPDB_THREADS=N compute threads for the model (native builds; default 1).\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("clipdb %d.%d.%d (%s)\n", CLIPDB_VERSION_MAJOR, CLIPDB_VERSION_MINOR,
           CLIPDB_VERSION_PATCH, clipdb_backend_name());
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  usage(stderr);
  return cli_usage(argv[1], "unknown command");
}
