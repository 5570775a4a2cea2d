/* Placeholder until the tokenizer lands. */
#include "cli.h"

int cli_tokenize(int argc, char **argv) { return cli_fail(CLIPDB_STATUS_UNSUPPORTED, "clipdb tokenize: not built yet"); }
clipdb_status cli_load_tokenizer(const char *vocab_path, const char *model_path, clipdb_tokenizer_t **out) { *out = NULL; return CLIPDB_STATUS_UNSUPPORTED; }
