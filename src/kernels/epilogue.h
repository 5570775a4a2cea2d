/*
 * The epilogue of every GEMM in clipdb, one type for all of them: the f32 microkernels and
 * their driver (f32-gemm/), the int8 GEMM (qs8-gemm/), the GEMM boundary a backend implements
 * (src/nn/gemm.h) and the layers above it (linear, convolution).
 *
 * For output element (i, j) with product-plus-bias y (float32), in this order:
 *   y = y + residual[i * residual_stride + j]     when residual != NULL
 *   y = act(y)
 * then C[i, j] = y. CLIP's transformer blocks use the residual add with act = NONE (attention
 * out-projection and MLP c_proj: `x = x + attn(ln_1(x))`, `x = x + mlp(ln_2(x))` in OpenAI's
 * clip/model.py ResidualAttentionBlock), its MLP c_fc uses QUICK_GELU, the ResNet's
 * convolutions RELU, and a bottleneck's last convolution both (`relu(bn3(conv3(x)) + identity)`,
 * clip/model.py Bottleneck).
 *
 * `residual` may be C itself with residual_stride = C's row stride (the usual in-place add:
 * each element is read before it is written); it must not overlap C in any other way. All
 * strides are in elements (floats).
 */
#ifndef CLIPDB_KERNELS_EPILOGUE_H
#define CLIPDB_KERNELS_EPILOGUE_H

#include <math.h>
#include <stddef.h>

typedef enum clipdb_act {
  CLIPDB_ACT_NONE = 0,
  CLIPDB_ACT_RELU = 1,       /* y > 0 ? y : 0 (so NaN and -0 become +0) */
  CLIPDB_ACT_QUICK_GELU = 2, /* y · sigmoid(1.702 y), OpenAI clip/model.py QuickGELU */
} clipdb_act;

typedef struct clipdb_epilogue {
  const float *residual;  /* NULL: no residual add */
  size_t residual_stride; /* elements between residual rows */
  clipdb_act act;
} clipdb_epilogue;

/* Only an activation (act = CLIPDB_ACT_NONE: C = A·W + bias as it is). */
static inline clipdb_epilogue clipdb_epilogue_act(clipdb_act act) {
  const clipdb_epilogue e = {NULL, 0, act};
  return e;
}

/* Add `residual` (rows `stride` apart; may be C itself), then `act`. */
static inline clipdb_epilogue clipdb_epilogue_residual(const float *residual, size_t stride,
                                                       clipdb_act act) {
  const clipdb_epilogue e = {residual, stride, act};
  return e;
}

/* The same epilogue for the block of C whose element (0, 0) is (row, col) of the whole. */
static inline clipdb_epilogue clipdb_epilogue_at(clipdb_epilogue e, size_t row, size_t col) {
  if (e.residual != NULL) e.residual += row * e.residual_stride + col;
  return e;
}

/* act(y) for one float, the definition every SIMD form must match (QuickGELU within the
 * tolerance of its vector exp; ReLU exactly). */
static inline float clipdb_act_scalar(float y, clipdb_act act) {
  switch (act) {
  case CLIPDB_ACT_RELU: return y > 0.0f ? y : 0.0f;
  case CLIPDB_ACT_QUICK_GELU: return y / (1.0f + expf(-1.702f * y));
  default: return y;
  }
}

#endif /* CLIPDB_KERNELS_EPILOGUE_H */
