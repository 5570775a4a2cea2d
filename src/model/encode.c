/*
 * The three encoders, as clip/model.py computes them in float32: text transformer (causal mask, pooled at the first argmax token), vision
 * transformer, ModifiedResNet with attention pooling. Scratch comes from the session.
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "model-impl.h"

#define MAX2(a, b) ((a) > (b) ? (a) : (b))

clipdb_status clipdb__session_reserve(clipdb_session_t *s, const size_t *floats, int n_slots) {
  for (int i = 0; i < n_slots && i < CLIPDB__SESSION_SLOTS; i++) {
    if (floats[i] <= s->cap[i]) continue;
    clipdb__free(s->buf[i]);
    s->buf[i] = clipdb__malloc(floats[i] * sizeof(float));
    s->cap[i] = s->buf[i] ? floats[i] : 0;
    if (s->buf[i] == NULL)
      return clipdb__error(s->err, CLIPDB_STATUS_OUT_OF_MEMORY,
                           "failed to allocate %zu bytes of session scratch", floats[i] * sizeof(float));
  }
  return CLIPDB_STATUS_SUCCESS;
}

void clipdb__session_set_debug(clipdb_session_t *s, clipdb__debug_fn fn, void *user) {
  s->debug = fn;
  s->debug_user = user;
}

static void debug2(clipdb_session_t *s, const char *name, const float *x, size_t a, size_t b) {
  if (s->debug == NULL) return;
  size_t shape[2] = {a, b};
  s->debug(s->debug_user, name, x, 2, shape);
}

static void debug3(clipdb_session_t *s, const char *name, const float *x, size_t a, size_t b, size_t c) {
  if (s->debug == NULL) return;
  size_t shape[3] = {a, b, c};
  s->debug(s->debug_user, name, x, 3, shape);
}

/* Scratch floats a transformer of `t` needs for `n` tokens, slots 1..4 (slot 0 holds x). */
static void transformer_needs(const clipdb__transformer *t, size_t n, size_t *need) {
  need[1] = MAX2(need[1], n * (size_t)t->width);      /* ln output */
  need[2] = MAX2(need[2], n * 3 * (size_t)t->width);  /* qkv */
  need[3] = MAX2(need[3], n * (size_t)MAX2(t->width, t->hidden)); /* attention out / MLP hidden */
  need[4] = MAX2(need[4], clipdb__attention_scratch_floats(n, n, (size_t)(t->width / t->heads)));
}

/*
 * x holds n_seq sequences of n rows each ([n_seq·n, W], sequence q at rows q·n ..), run in
 * place through every block: layer norms and linear layers see all n_seq·n rows at once (one
 * pass over each weight matrix for the whole batch), attention runs per sequence. Every row's
 * arithmetic is the same as for a batch of one, so batching does not change results.
 * Only row keep[q] of each sequence is used by the caller (the class token, or a text's
 * end-of-text token), so the last block computes just those rows after its key/value
 * projections: attention for one query per sequence, then out_proj and the MLP on n_seq rows
 * (about 1/12 of ViT-B/32's work); the rows are written back to x at their places. Debug runs
 * (golden activations) compute all rows.
 */
static void transformer_run(clipdb_session_t *s, const clipdb__transformer *t, float eps,
                            size_t n_seq, size_t n, float *x, int causal, const size_t *keep,
                            const char *debug_prefix) {
  const size_t W = (size_t)t->width, hd = W / (size_t)t->heads, rows = n_seq * n;
  const size_t lqkv = 3 * W;
  float *h = s->buf[1], *qkv = s->buf[2], *tmp = s->buf[3], *sc = s->buf[4];
  for (int i = 0; i < t->layers; i++) {
    const clipdb__block *b = &t->blocks[i];
    clipdb__layer_norm(rows, W, x, W, b->ln1.gamma, b->ln1.beta, eps, h, W);
    clipdb__linear_run(&b->qkv, rows, h, W, qkv, lqkv, clipdb_epilogue_act(CLIPDB_ACT_NONE));
    if (i + 1 == t->layers && s->debug == NULL) {
      float *xr = h, *h2 = qkv; /* both free once attention has read qkv */
      for (size_t q = 0; q < n_seq; q++) {
        const float *sq = qkv + q * n * lqkv;
        const size_t n_kv = causal ? keep[q] + 1 : n;
        clipdb__attention(1, n_kv, (size_t)t->heads, hd, sq + keep[q] * lqkv, lqkv, sq + W, lqkv,
                          sq + 2 * W, lqkv, 0, tmp + q * W, W, sc);
      }
      for (size_t q = 0; q < n_seq; q++)
        memcpy(xr + q * W, x + (q * n + keep[q]) * W, W * sizeof(float));
      clipdb__linear_run(&b->out, n_seq, tmp, W, xr, W,
                         clipdb_epilogue_residual(xr, W, CLIPDB_ACT_NONE));
      clipdb__layer_norm(n_seq, W, xr, W, b->ln2.gamma, b->ln2.beta, eps, h2, W);
      clipdb__linear_run(&b->fc, n_seq, h2, W, tmp, (size_t)t->hidden,
                         clipdb_epilogue_act(CLIPDB_ACT_QUICK_GELU));
      clipdb__linear_run(&b->proj, n_seq, tmp, (size_t)t->hidden, xr, W,
                         clipdb_epilogue_residual(xr, W, CLIPDB_ACT_NONE));
      for (size_t q = 0; q < n_seq; q++)
        memcpy(x + (q * n + keep[q]) * W, xr + q * W, W * sizeof(float));
      break;
    }
    for (size_t q = 0; q < n_seq; q++) {
      const float *sq = qkv + q * n * lqkv;
      clipdb__attention(n, n, (size_t)t->heads, hd, sq, lqkv, sq + W, lqkv, sq + 2 * W, lqkv,
                        causal, tmp + q * n * W, W, sc);
    }
    clipdb__linear_run(&b->out, rows, tmp, W, x, W,
                       clipdb_epilogue_residual(x, W, CLIPDB_ACT_NONE));
    clipdb__layer_norm(rows, W, x, W, b->ln2.gamma, b->ln2.beta, eps, h, W);
    clipdb__linear_run(&b->fc, rows, h, W, tmp, (size_t)t->hidden,
                       clipdb_epilogue_act(CLIPDB_ACT_QUICK_GELU));
    clipdb__linear_run(&b->proj, rows, tmp, (size_t)t->hidden, x, W,
                       clipdb_epilogue_residual(x, W, CLIPDB_ACT_NONE));
    if (s->debug) {
      char name[96];
      snprintf(name, sizeof name, "%s%d", debug_prefix, i);
      debug2(s, name, x, rows, W);
    }
  }
}

/* Pooled position of a text: the first occurrence of its largest id (torch argmax). */
static size_t pooled_position(const int32_t *tokens, size_t n_tokens) {
  size_t eot = 0;
  for (size_t i = 0; i < n_tokens; i++)
    if (tokens[i] > tokens[eot]) eot = i;
  return eot;
}

/* A batch group holds at most this many rows (n_seq · n): enough for the linear layers to
 * run near their best rate, about 8 MB of scratch for a ViT-B/32 text tower. */
#define TEXT_GROUP_ROWS 512

/*
 * Texts `order[0..n_seq)` (rows of `tokens`, row_len apart), pooled at positions
 * `keep[0..n_seq)` (all < n), as one batch of n positions each; embeddings to
 * out + order[q]·embed_dim. Positions after a
 * text's end-of-text token cannot change its pooled row (causal mask), so padding a shorter
 * text to n positions with its own later tokens leaves its embedding unchanged.
 */
static clipdb_status encode_text_group(clipdb_session_t *s, const int32_t *tokens, size_t row_len,
                                       const size_t *order, const size_t *keep, size_t n_seq,
                                       size_t n, float *out) {
  const clipdb_model_t *m = s->model;
  const clipdb_model_config *c = &m->cfg;
  const size_t W = (size_t)c->transformer_width, E = (size_t)c->embed_dim;
  size_t need[CLIPDB__SESSION_SLOTS] = {0};
  need[0] = n_seq * n * W;
  transformer_needs(&m->text, n_seq * n, need);
  need[3] = MAX2(need[3], n_seq * E); /* projected rows */
  clipdb_status status = clipdb__session_reserve(s, need, CLIPDB__SESSION_SLOTS);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  float *x = s->buf[0];
  for (size_t q = 0; q < n_seq; q++) {
    const int32_t *row = tokens + order[q] * row_len;
    float *xq = x + q * n * W;
    for (size_t i = 0; i < n; i++) {
      if (m->token_q8 != NULL) { /* int8 table: dequantize only this text's rows */
        const int8_t *src = m->token_q8 + (size_t)row[i] * W;
        const float sc = m->token_scale[row[i]];
        for (size_t d = 0; d < W; d++) xq[i * W + d] = (float)src[d] * sc;
      } else {
        memcpy(xq + i * W, m->token_embedding + (size_t)row[i] * W, W * sizeof(float));
      }
    }
  }
  if (n_seq == 1) debug2(s, "token_embedding", x, n, W);
  for (size_t q = 0; q < n_seq; q++)
    for (size_t i = 0; i < n * W; i++) x[q * n * W + i] += m->text_pos[i];
  transformer_run(s, &m->text, m->ln_eps, n_seq, n, x, 1, keep, "transformer.resblocks.");
  float *h = s->buf[1], *proj = s->buf[3];
  if (s->debug) {
    clipdb__layer_norm(n, W, x, W, m->ln_final.gamma, m->ln_final.beta, m->ln_eps, h, W);
    debug2(s, "ln_final", h, n, W);
    memmove(h, h + keep[0] * W, W * sizeof(float));
  } else {
    for (size_t q = 0; q < n_seq; q++)
      clipdb__layer_norm(1, W, x + (q * n + keep[q]) * W, W, m->ln_final.gamma, m->ln_final.beta,
                         m->ln_eps, h + q * W, W);
  }
  clipdb__linear_run(&m->text_proj, n_seq, h, W, proj, E, clipdb_epilogue_act(CLIPDB_ACT_NONE));
  for (size_t q = 0; q < n_seq; q++) memcpy(out + order[q] * E, proj + q * E, E * sizeof(float));
  return CLIPDB_STATUS_SUCCESS;
}

static int cmp_by_length(const void *pa, const void *pb) {
  const size_t *a = pa, *b = pb; /* {length, index} pairs */
  return a[0] != b[0] ? (a[0] > b[0]) - (a[0] < b[0]) : (a[1] > b[1]) - (a[1] < b[1]);
}

clipdb_status clipdb__encode_text_batch(clipdb_session_t *s, const int32_t *tokens, size_t n_texts,
                                        size_t row_len, float *out) {
  const clipdb_model_t *m = s->model;
  const clipdb_model_config *c = &m->cfg;
  for (size_t t = 0; t < n_texts; t++)
    for (size_t i = 0; i < row_len; i++) {
      const int32_t id = tokens[t * row_len + i];
      if (id < 0 || id >= c->vocab_size)
        return n_texts == 1
                   ? clipdb__error(s->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                                   "failed to embed text: token %zu is %d, outside [0, %d)", i,
                                   (int)id, (int)c->vocab_size)
                   : clipdb__error(s->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                                   "failed to embed texts: text %zu, token %zu is %d, outside [0, %d)",
                                   t, i, (int)id, (int)c->vocab_size);
    }
  /* {pooled length, index} pairs sorted by length, then split into the texts' order and their
   * pooled positions (length - 1) in that order; one allocation */
  size_t *pairs = clipdb__malloc(sizeof(size_t) * 4 * n_texts);
  if (pairs == NULL)
    return clipdb__error(s->err, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to embed texts: cannot allocate the order of %zu texts", n_texts);
  size_t *order = pairs + 2 * n_texts, *keep = order + n_texts;
  for (size_t t = 0; t < n_texts; t++) {
    pairs[2 * t] = pooled_position(tokens + t * row_len, row_len) + 1;
    pairs[2 * t + 1] = t;
  }
  qsort(pairs, n_texts, 2 * sizeof(size_t), cmp_by_length);
  for (size_t t = 0; t < n_texts; t++) {
    keep[t] = pairs[2 * t] - 1;
    order[t] = pairs[2 * t + 1];
  }
  /* Groups of similar length: from the shortest left, add texts while the group's longest is
   * within a quarter (at least 2 positions) of its shortest and the rows fit the group. */
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  for (size_t g0 = 0; g0 < n_texts && status == CLIPDB_STATUS_SUCCESS;) {
    const size_t shortest = pairs[2 * g0];
    const size_t slack = MAX2((size_t)2, shortest / 4);
    size_t g1 = g0 + 1;
    while (g1 < n_texts && pairs[2 * g1] <= shortest + slack &&
           (g1 - g0 + 1) * pairs[2 * g1] <= TEXT_GROUP_ROWS)
      g1++;
    status = encode_text_group(s, tokens, row_len, order + g0, keep + g0, g1 - g0,
                               pairs[2 * (g1 - 1)], out);
    g0 = g1;
  }
  clipdb__free(pairs);
  return status;
}

clipdb_status clipdb__encode_text(clipdb_session_t *s, const int32_t *tokens, size_t n_tokens,
                                  float *out) {
  return clipdb__encode_text_batch(s, tokens, 1, n_tokens, out);
}

static clipdb_status encode_vit(clipdb_session_t *s, const float *pixels, float *out) {
  const clipdb_model_t *m = s->model;
  const clipdb_model_config *c = &m->cfg;
  size_t R = (size_t)c->image_resolution, P = (size_t)c->vision_patch_size, G = R / P;
  size_t W = (size_t)c->vision_width, n = G * G + 1;
  size_t need[CLIPDB__SESSION_SLOTS] = {0};
  need[0] = n * W;
  transformer_needs(&m->vit, n, need);
  need[5] = R * R * 3;                                           /* HWC pixels */
  need[6] = clipdb__conv2d_scratch_floats(&m->patch, R, R) + 1;  /* im2col */
  clipdb_status status = clipdb__session_reserve(s, need, CLIPDB__SESSION_SLOTS);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  float *x = s->buf[0], *hwc = s->buf[5];
  for (size_t ch = 0; ch < 3; ch++)
    for (size_t i = 0; i < R * R; i++) hwc[i * 3 + ch] = pixels[ch * R * R + i];
  /* patch embedding into rows 1..G*G (row-major grid), class token in row 0 */
  clipdb__conv2d_run(&m->patch, R, R, hwc, x + W, s->buf[6], clipdb_epilogue_act(CLIPDB_ACT_NONE));
  debug3(s, "visual.conv1", x + W, G, G, W);
  memcpy(x, m->class_embedding, W * sizeof(float));
  for (size_t i = 0; i < n * W; i++) x[i] += m->vis_pos[i];
  clipdb__layer_norm(n, W, x, W, m->ln_pre.gamma, m->ln_pre.beta, m->ln_eps, x, W);
  debug2(s, "visual.ln_pre", x, n, W);
  const size_t cls = 0;
  transformer_run(s, &m->vit, m->ln_eps, 1, n, x, 0, &cls, "visual.transformer.resblocks.");
  float *h = s->buf[1];
  clipdb__layer_norm(1, W, x, W, m->ln_post.gamma, m->ln_post.beta, m->ln_eps, h, W);
  if (s->debug) {
    size_t shape[1] = {W};
    s->debug(s->debug_user, "visual.ln_post", h, 1, shape);
  }
  clipdb__linear_run(&m->vis_proj, 1, h, W, out, (size_t)c->embed_dim,
                     clipdb_epilogue_act(CLIPDB_ACT_NONE));
  return CLIPDB_STATUS_SUCCESS;
}

/* The convolutions' scratch (im2col blocks, Winograd blocks or one chunk per thread): sized
 * here, inside the embed call, where the model's thread pool is current. The map sides are
 * encode_resnet's. */
static size_t resnet_scratch_floats(const clipdb_model_t *m) {
  size_t side = (size_t)m->cfg.image_resolution, col = 0;
#define COL_MAX(conv, sd)                                            \
  do {                                                               \
    const size_t f_ = clipdb__conv2d_scratch_floats((conv), sd, sd); \
    if (f_ > col) col = f_;                                          \
  } while (0)
  COL_MAX(&m->stem[0], side);
  side = clipdb__conv2d_out_size(&m->stem[0], side);
  COL_MAX(&m->stem[1], side);
  COL_MAX(&m->stem[2], side);
  side /= 2;
  for (int i = 0; i < m->n_blocks; i++) {
    const clipdb__bottleneck *bl = &m->blocks[i];
    COL_MAX(&bl->conv1, side);
    COL_MAX(&bl->conv2, side);
    const size_t os = side / (size_t)bl->stride;
    if (bl->has_down) COL_MAX(&bl->down, os);
    COL_MAX(&bl->conv3, os);
    side = os;
  }
#undef COL_MAX
  return col;
}

static clipdb_status encode_resnet(clipdb_session_t *s, const float *pixels, float *out) {
  const clipdb_model_t *m = s->model;
  const clipdb_model_config *c = &m->cfg;
  size_t R = (size_t)c->image_resolution;
  size_t need[CLIPDB__SESSION_SLOTS] = {0};
  for (int i = 0; i < 4; i++) need[i] = m->rn_act_floats;
  need[4] = resnet_scratch_floats(m) + 1;
  size_t spatial = R / 32;
  need[5] = (size_t)m->ap_channels * 2 + /* q, attention out, attention scratch */
            clipdb__attention_scratch_floats(1, spatial * spatial + 1,
                                             (size_t)m->ap_channels / (size_t)c->vision_heads);
  clipdb_status status = clipdb__session_reserve(s, need, CLIPDB__SESSION_SLOTS);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  float *x = s->buf[0], *a = s->buf[1], *b = s->buf[2], *o = s->buf[3], *col = s->buf[4];
  for (size_t ch = 0; ch < 3; ch++)
    for (size_t i = 0; i < R * R; i++) x[i * 3 + ch] = pixels[ch * R * R + i];
  /* stem: 3 × (conv, BN, ReLU), then 2×2 average pool */
  size_t side = R;
  clipdb__conv2d_run(&m->stem[0], side, side, x, a, col, clipdb_epilogue_act(CLIPDB_ACT_RELU));
  side = clipdb__conv2d_out_size(&m->stem[0], side);
  clipdb__conv2d_run(&m->stem[1], side, side, a, b, col, clipdb_epilogue_act(CLIPDB_ACT_RELU));
  clipdb__conv2d_run(&m->stem[2], side, side, b, a, col, clipdb_epilogue_act(CLIPDB_ACT_RELU));
  size_t ch = m->stem[2].c_out;
  clipdb__avg_pool2d(side, side, ch, 2, a, x);
  side /= 2;
  debug3(s, "visual.stem", x, side, side, ch);
  int stage = 0;
  for (int i = 0; i < m->n_blocks; i++) {
    const clipdb__bottleneck *bl = &m->blocks[i];
    size_t st = (size_t)bl->stride, planes = bl->conv1.c_out, os = side / st;
    clipdb__conv2d_run(&bl->conv1, side, side, x, a, col, clipdb_epilogue_act(CLIPDB_ACT_RELU));
    clipdb__conv2d_run(&bl->conv2, side, side, a, b, col, clipdb_epilogue_act(CLIPDB_ACT_RELU));
    float *mid = b;
    if (st > 1) {
      clipdb__avg_pool2d(side, side, planes, st, b, a);
      mid = a;
    }
    /* conv3 + residual + ReLU onto the downsampled identity (avg-pool(stride), 1×1 conv, BN)
     * in o, or straight onto the identity x itself (the GEMM reads each element of C before
     * writing it, and conv3 reads only mid) */
    if (bl->has_down) {
      const float *src = x;
      if (st > 1) {
        clipdb__avg_pool2d(side, side, ch, st, x, b == mid ? a : b);
        src = b == mid ? a : b;
      }
      clipdb__conv2d_run(&bl->down, os, os, src, o, col, clipdb_epilogue_act(CLIPDB_ACT_NONE));
      clipdb__conv2d_run(&bl->conv3, os, os, mid, o, col,
                         clipdb_epilogue_residual(o, bl->conv3.c_out, CLIPDB_ACT_RELU));
      float *t = x;
      x = o;
      o = t;
    } else {
      clipdb__conv2d_run(&bl->conv3, os, os, mid, x, col,
                         clipdb_epilogue_residual(x, bl->conv3.c_out, CLIPDB_ACT_RELU));
    }
    side = os;
    ch = bl->conv3.c_out;
    if (i + 1 == m->stage_end[stage]) {
      if (s->debug) {
        char name[32];
        snprintf(name, sizeof name, "visual.layer%d", stage + 1);
        debug3(s, name, x, side, side, ch);
      }
      while (stage < 3 && m->stage_end[stage] == i + 1) stage++;
    }
  }
  /* attention pool: [mean; x] + pos, one query (the mean token) */
  size_t C = (size_t)m->ap_channels, hw = side * side, n = hw + 1;
  /* three activation buffers other than x */
  float *free_bufs[3];
  int nf = 0;
  for (int i = 0; i < 4 && nf < 3; i++)
    if (s->buf[i] != x) free_bufs[nf++] = s->buf[i];
  float *tok = free_bufs[0], *kb = free_bufs[1], *vb = free_bufs[2];
  clipdb__mean_rows(hw, C, x, C, tok);
  memcpy(tok + C, x, hw * C * sizeof(float));
  for (size_t i = 0; i < n * C; i++) tok[i] += m->ap_pos[i];
  float *q = s->buf[5], *att = q + C, *sc = att + C;
  clipdb__linear_run(&m->ap_q, 1, tok, C, q, C, clipdb_epilogue_act(CLIPDB_ACT_NONE));
  clipdb__linear_run(&m->ap_k, n, tok, C, kb, C, clipdb_epilogue_act(CLIPDB_ACT_NONE));
  clipdb__linear_run(&m->ap_v, n, tok, C, vb, C, clipdb_epilogue_act(CLIPDB_ACT_NONE));
  size_t heads = (size_t)c->vision_heads;
  clipdb__attention(1, n, heads, C / heads, q, C, kb, C, vb, C, 0, att, C, sc);
  clipdb__linear_run(&m->ap_c, 1, att, C, out, (size_t)c->embed_dim,
                     clipdb_epilogue_act(CLIPDB_ACT_NONE));
  if (s->debug) {
    size_t shape[1] = {(size_t)c->embed_dim};
    s->debug(s->debug_user, "visual.attnpool", out, 1, shape);
  }
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status clipdb__encode_image(clipdb_session_t *s, const float *pixels, float *out) {
  if (s->model->cfg.vision_type == CLIPDB_VISION_VIT) return encode_vit(s, pixels, out);
  return encode_resnet(s, pixels, out);
}
