/*
 * The default model (models/clipdb-emoji) against PyTorch: tests/data/clipdb-emoji-fixture.safetensors,
 * written by scripts/train-emoji-clip.py in eval mode (4 held-out OpenMoji pictures, preprocessed,
 * and 4 token rows, with PyTorch's embeddings of them). Its image encoder is the official
 * ModifiedResNet, so this also checks the engine's ResNet path on trained weights. See
 * model-parity.h for what is compared.
 */
#include "model-parity.h"

/* The texts the fixture's token rows were made from (train-emoji-clip.py, in order). */
static const char *const texts[] = {"a mushroom", "a photo of a red apple", "a dog face and a pizza",
                                    "an unseen word: zebra 42!"};

int main(void) {
  return model_parity("models/clipdb-emoji", "tests/data/clipdb-emoji-fixture.safetensors", texts,
                      sizeof texts / sizeof texts[0]);
}
