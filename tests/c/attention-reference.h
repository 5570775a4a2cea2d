/*
 * The reference multi-head attention the backends' clipdb__attention (src/nn/ops.h) is tested
 * against (attention-reference.c): the same contract and arguments, one query row at a time
 * with plain float32 loops; scratch holds clipdb__attention_portable_scratch_floats floats.
 */
#ifndef CLIPDB_TESTS_ATTENTION_REFERENCE_H
#define CLIPDB_TESTS_ATTENTION_REFERENCE_H

#include "nn/ops.h"

void clipdb__attention_portable(size_t n_q, size_t n_kv, size_t heads, size_t head_dim,
                                const float *q, size_t ldq, const float *k, size_t ldk,
                                const float *v, size_t ldv, int causal, float *out, size_t ldo,
                                float *scratch);
size_t clipdb__attention_portable_scratch_floats(size_t n_q, size_t n_kv, size_t head_dim);

#endif
