/* f32-dot reference kernel: see f32-dot.h. */
#include "f32-dot.h"

void clipdb_f32_dot_ukernel__scalar(size_t rows, size_t dim, const float *q, const float *m,
                                    size_t stride, float *out) {
  for (size_t r = 0; r < rows; r++) {
    const float *row = m + r * stride;
    /* Four partial sums break the add dependency chain; the order is fixed, so the result is
     * deterministic for a given (q, row). */
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
      s0 += q[i + 0] * row[i + 0];
      s1 += q[i + 1] * row[i + 1];
      s2 += q[i + 2] * row[i + 2];
      s3 += q[i + 3] * row[i + 3];
    }
    for (; i < dim; i++) s0 += q[i] * row[i];
    out[r] = (s0 + s1) + (s2 + s3);
  }
}
