/*
 * The internal ops interface every encoder is written against (see src/nn/README.md).
 *
 * Layout conventions: activations are float32, row-major; a sequence is [tokens, channels]
 * (one row per token), an image feature map is NHWC without N ([H, W, C]). Weights are
 * packed once at model load (clipdb__linear_init, clipdb__conv2d_init) and never per call;
 * scratch memory is passed in by the caller (the session owns it).
 *
 * Sources of the semantics: torch.nn.Linear, torch.nn.Conv2d (+ BatchNorm2d in eval mode,
 * folded), torch.nn.LayerNorm, torch.nn.MultiheadAttention (q scaled by head_dim^-0.5,
 * heads = contiguous column groups), CLIP's QuickGELU (clip/model.py).
 */
#ifndef CLIPDB_NN_OPS_H
#define CLIPDB_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "../clipdb-impl.h"
#include "gemm.h"
#include "../kernels/qs8-gemm/qs8-gemm.h"

/* Weight precision of a layer. */
typedef enum clipdb__weight_dtype {
  CLIPDB__WEIGHTS_F32 = 0, /* packed for the backend's float GEMM (gemm.h) */
  CLIPDB__WEIGHTS_QS8 = 1, /* int8 per output channel, activations quantized per row
                              (src/kernels/qs8-gemm/), the same on every backend */
} clipdb__weight_dtype;

/* A fully connected layer y = x · Wᵀ + b with W [n_out, n_in] packed once at load: either for
 * clipdb__gemm_run (float32) or as qs8 panels. Exactly one of packed / q8 is set. */
typedef struct clipdb__linear {
  size_t n_in, n_out;
  clipdb__gemm_weights *packed; /* the backend's packed form (gemm.h), owned; NULL when q8 */
  clipdb__qs8_packed *q8;  /* owned; NULL for float32 layers */
} clipdb__linear;

/*
 * Pack W (element (j, p) at w[j*stride_n + p*stride_k], see gemm.h) and `bias` [n_out]
 * (NULL: zeros). `what` names the layer for the OUT_OF_MEMORY message.
 */
clipdb_status clipdb__linear_init(clipdb__linear *l, size_t n_out, size_t n_in, const float *w,
                                  size_t stride_n, size_t stride_k, const float *bias,
                                  const char *what, char *errbuf);
/* The same with a chosen precision: QS8 quantizes W symmetric per output channel (a weight
 * that was stored as int8 with per-channel scales comes back with the same int8 values). */
clipdb_status clipdb__linear_init_dtype(clipdb__linear *l, clipdb__weight_dtype dtype, size_t n_out,
                                        size_t n_in, const float *w, size_t stride_n,
                                        size_t stride_k, const float *bias, const char *what,
                                        char *errbuf);
void clipdb__linear_free(clipdb__linear *l);
/* Bytes of packed weights the layer holds. */
size_t clipdb__linear_bytes(const clipdb__linear *l);

/* y[m, n_out] = epilogue(x[m, n_in] · Wᵀ + b); rows ldx / ldy apart; the epilogue
 * (src/kernels/epilogue.h) indexes its residual like y (it may be y itself). */
void clipdb__linear_run(const clipdb__linear *l, size_t m, const float *x, size_t ldx, float *y,
                        size_t ldy, clipdb_epilogue ep);

/* 2-D convolution on NHWC maps (square kernel, symmetric zero padding), optional
 * BatchNorm folded at init: w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε) (+ b·γ/√(σ²+ε)). */
typedef struct clipdb__conv2d {
  size_t c_in, c_out, kernel, stride, pad;
  clipdb__linear gemm; /* W [c_out, kernel*kernel*c_in], k index (ky, kx, ci); empty (packed
                        * and q8 NULL) when `winograd` is set */
  /* NULL, or the 16 GEMMs of Winograd F(2x2, 3x3) (owned): U_xi [c_out, c_in] = (G g Gᵀ)[a][b]
   * for xi = 4a + b, the folded bias in U_5 (see clipdb__conv2d_init_ex) */
  clipdb__linear *winograd;
} clipdb__conv2d;

typedef struct clipdb__batchnorm {
  const float *gamma, *beta, *mean, *var; /* [c_out] each */
  float eps;
} clipdb__batchnorm;

/* `w` is torch's OIHW [c_out, c_in, kernel, kernel]; `bias` [c_out] or NULL; `bn` or NULL. */
clipdb_status clipdb__conv2d_init(clipdb__conv2d *c, size_t c_in, size_t c_out, size_t kernel,
                                  size_t stride, size_t pad, const float *w, const float *bias,
                                  const clipdb__batchnorm *bn, const char *what, char *errbuf);
/* The same with a chosen precision for the convolution's GEMM (BatchNorm folded first). */
clipdb_status clipdb__conv2d_init_dtype(clipdb__conv2d *c, clipdb__weight_dtype dtype, size_t c_in,
                                        size_t c_out, size_t kernel, size_t stride, size_t pad,
                                        const float *w, const float *bias,
                                        const clipdb__batchnorm *bn, const char *what,
                                        char *errbuf);
/*
 * The same, and with `winograd` nonzero a 3×3, stride-1, pad-1 float32 convolution is computed
 * by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2015): each 2×2 block of outputs from a 4×4 input tile with 16 products per
 * channel pair instead of 36, as 16 GEMMs [tiles, c_in]·[c_in, c_out] between the input and
 * output transforms; 2.25× fewer multiply-adds, values within a few float32 roundings of the
 * direct sum (tests/c/test-conv2d.c bounds the difference). Other shapes and int8 weights take
 * the im2col path whatever `winograd` says; so do all when clipdb__conv2d_winograd is 0.
 */
clipdb_status clipdb__conv2d_init_ex(clipdb__conv2d *c, clipdb__weight_dtype dtype, size_t c_in,
                                     size_t c_out, size_t kernel, size_t stride, size_t pad,
                                     const float *w, const float *bias,
                                     const clipdb__batchnorm *bn, int winograd, const char *what,
                                     char *errbuf);
/* Nonzero (the default): clipdb__conv2d_init_ex may choose Winograd. Tests set it to 0 to get
 * the im2col path for the same layer. Read at init, not per call. */
extern int clipdb__conv2d_winograd;
void clipdb__conv2d_free(clipdb__conv2d *c);
/* Bytes of packed weights the convolution holds (its GEMM's or its 16 Winograd GEMMs'). */
size_t clipdb__conv2d_bytes(const clipdb__conv2d *c);

/* Output side for an input side `in`. */
size_t clipdb__conv2d_out_size(const clipdb__conv2d *c, size_t in);

/* Scratch floats clipdb__conv2d_run needs for an h×w input (0 for 1×1, stride 1). */
size_t clipdb__conv2d_scratch_floats(const clipdb__conv2d *c, size_t h, size_t w);

/* Tests only: nonzero makes int8 convolutions quantize a float im2col (the path taken when the
 * int8 im2col's buffers cannot be allocated) instead of writing the im2col as int8; both give
 * the same bytes, which tests/c/test-quantize.c checks. */
extern int clipdb__conv2d_float_im2col;

/* y [oh, ow, c_out] = epilogue(conv(x [h, w, c_in])); the epilogue's residual is indexed like y
 * as [oh·ow, c_out] rows (residual_stride >= c_out; ep.residual = y, stride c_out adds y's old
 * contents). */
void clipdb__conv2d_run(const clipdb__conv2d *c, size_t h, size_t w, const float *x, float *y,
                        float *scratch, clipdb_epilogue ep);

/* LayerNorm over the last dimension: y = (x − mean)/√(var + eps)·γ + β, per row of n. */
void clipdb__layer_norm(size_t m, size_t n, const float *x, size_t ldx, const float *gamma,
                        const float *beta, float eps, float *y, size_t ldy);

/* Numerically stable softmax of x[n] in place. */
void clipdb__softmax(float *x, size_t n);

/*
 * Multi-head scaled dot-product attention (torch.nn.MultiheadAttention core, after the input
 * projections, before out_proj). q [n_q, heads*head_dim], k and v [n_kv, heads*head_dim],
 * rows ldq/ldk/ldv apart; out [n_q, heads*head_dim] rows ldo apart. `causal`: query i sees
 * keys j <= i only (the text transformer's mask). `scratch`: at least
 * clipdb__attention_scratch_floats(n_q, n_kv, head_dim) floats. At most one head's scores are
 * held at a time. One implementation for every backend (attention-tiled.c): per head,
 * S = Q·Kᵀ and O = P·V on the f32-gemm microkernels of the current kernel configuration with K
 * and V packed into panels in scratch, the softmax kernel in between. The plain-loop
 * reference it is tested against is tests/c/attention-reference.c.
 */
void clipdb__attention(size_t n_q, size_t n_kv, size_t heads, size_t head_dim, const float *q,
                       size_t ldq, const float *k, size_t ldk, const float *v, size_t ldv,
                       int causal, float *out, size_t ldo, float *scratch);
size_t clipdb__attention_scratch_floats(size_t n_q, size_t n_kv, size_t head_dim);

/* Average pooling, kernel = stride = s, no padding, NHWC: [h, w, c] -> [h/s, w/s, c]. */
void clipdb__avg_pool2d(size_t h, size_t w, size_t c, size_t s, const float *x, float *y);

/* Mean over rows: y[n] = mean of x[m, n]. */
void clipdb__mean_rows(size_t m, size_t n, const float *x, size_t ldx, float *y);

#endif
