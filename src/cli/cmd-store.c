/* Placeholder until the store lands. */
#include "cli.h"

int cli_index(int argc, char **argv) { return cli_fail(CLIPDB_STATUS_UNSUPPORTED, "clipdb index: not built yet"); }
int cli_search(int argc, char **argv) { return cli_fail(CLIPDB_STATUS_UNSUPPORTED, "clipdb search: not built yet"); }
