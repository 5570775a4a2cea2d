/*
 * The previous default model (models/clipdb-shapes, still used by tests and as the small
 * shapes-only model) against PyTorch: tests/data/clipdb-shapes-fixture.safetensors, written by
 * scripts/train-tiny-clip.py. See model-parity.h for what is compared.
 */
#include "model-parity.h"

/* The texts the fixture's token rows were made from (train-tiny-clip.py, in order). */
static const char *const texts[] = {"a red circle", "a photo of a small blue square on the left",
                                    "a green star and a yellow heart", "an unseen word: zebra 42!"};

int main(void) {
  return model_parity("models/clipdb-shapes", "tests/data/clipdb-shapes-fixture.safetensors", texts,
                      sizeof texts / sizeof texts[0]);
}
