/* qs8-dot scalar reference kernel: see qs8-dot.h. */
#include "qs8-dot.h"

void clipdb_qs8_dot_ukernel__scalar(size_t rows, size_t dim, const int16_t *q, const int8_t *m,
                                    size_t stride, int32_t *out) {
  for (size_t r = 0; r < rows; r++) {
    const int8_t *row = m + r * stride;
    int32_t acc = 0;
    for (size_t i = 0; i < dim; i++) acc += (int32_t)q[i] * (int32_t)row[i];
    out[r] = acc;
  }
}
