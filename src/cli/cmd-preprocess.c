/* Placeholder until the image pipeline lands. */
#include "cli.h"

int cli_preprocess(int argc, char **argv) { return cli_fail(CLIPDB_STATUS_UNSUPPORTED, "clipdb preprocess: not built yet"); }
clipdb_status cli_load_pixels(const char *image_path, const clipdb_model_config *cfg, int exif, float *out) { return CLIPDB_STATUS_UNSUPPORTED; }
