/* Placeholder until the engine lands: embed/info and model loading. */
#include "cli.h"

int cli_embed(int argc, char **argv) { return cli_fail(CLIPDB_STATUS_UNSUPPORTED, "clipdb embed: not built yet"); }
int cli_info(int argc, char **argv) { return cli_fail(CLIPDB_STATUS_UNSUPPORTED, "clipdb info: not built yet"); }
clipdb_status cli_load_model(const char *path, clipdb_model_t **out) { *out = NULL; return CLIPDB_STATUS_UNSUPPORTED; }
