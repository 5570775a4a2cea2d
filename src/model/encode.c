/*
 * The three encoders, as clip/model.py computes them (see ../shared/golden/README.md
 * "Forward pass"): text transformer (causal mask, pooled at the first argmax token), vision
 * transformer, ModifiedResNet with attention pooling. Scratch comes from the session.
 */
#include <math.h>
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
 * x [n, W] in place through every block. Only row `keep` of the output is used by the caller
 * (the class token, or the text's end-of-text token), so the last block computes just that
 * row after its key/value projections: attention for one query, then out_proj and the MLP on
 * one row (about 1/12 of ViT-B/32's work). Debug runs (golden activations) compute all rows.
 */
static void transformer_run(clipdb_session_t *s, const clipdb__transformer *t, float eps, size_t n,
                            float *x, int causal, size_t keep, const char *debug_prefix) {
  size_t W = (size_t)t->width, hd = W / (size_t)t->heads;
  float *h = s->buf[1], *qkv = s->buf[2], *tmp = s->buf[3], *sc = s->buf[4];
  for (int i = 0; i < t->layers; i++) {
    const clipdb__block *b = &t->blocks[i];
    if (i + 1 == t->layers && s->debug == NULL && keep < n) {
      clipdb__layer_norm(n, W, x, W, b->ln1.gamma, b->ln1.beta, eps, h, W);
      clipdb__linear_run(&b->qkv, n, h, W, qkv, 3 * W, 0);
      const size_t n_kv = causal ? keep + 1 : n;
      float *xr = x + keep * W;
      clipdb__attention(1, n_kv, (size_t)t->heads, hd, qkv + keep * 3 * W, 3 * W, qkv + W, 3 * W,
                        qkv + 2 * W, 3 * W, 0, tmp, W, sc);
      clipdb__linear_run(&b->out, 1, tmp, W, xr, W, CLIPDB__GEMM_RESIDUAL);
      clipdb__layer_norm(1, W, xr, W, b->ln2.gamma, b->ln2.beta, eps, h, W);
      clipdb__linear_run(&b->fc, 1, h, W, tmp, (size_t)t->hidden, CLIPDB__GEMM_QUICKGELU);
      clipdb__linear_run(&b->proj, 1, tmp, (size_t)t->hidden, xr, W, CLIPDB__GEMM_RESIDUAL);
      break;
    }
    clipdb__layer_norm(n, W, x, W, b->ln1.gamma, b->ln1.beta, eps, h, W);
    clipdb__linear_run(&b->qkv, n, h, W, qkv, 3 * W, 0);
    clipdb__attention(n, n, (size_t)t->heads, hd, qkv, 3 * W, qkv + W, 3 * W, qkv + 2 * W, 3 * W,
                      causal, tmp, W, sc);
    clipdb__linear_run(&b->out, n, tmp, W, x, W, CLIPDB__GEMM_RESIDUAL);
    clipdb__layer_norm(n, W, x, W, b->ln2.gamma, b->ln2.beta, eps, h, W);
    clipdb__linear_run(&b->fc, n, h, W, tmp, (size_t)t->hidden, CLIPDB__GEMM_QUICKGELU);
    clipdb__linear_run(&b->proj, n, tmp, (size_t)t->hidden, x, W, CLIPDB__GEMM_RESIDUAL);
    if (s->debug) {
      char name[96];
      snprintf(name, sizeof name, "%s%d", debug_prefix, i);
      debug2(s, name, x, n, W);
    }
  }
}

clipdb_status clipdb__encode_text(clipdb_session_t *s, const int32_t *tokens, size_t n_tokens,
                                  float *out) {
  const clipdb_model_t *m = s->model;
  const clipdb_model_config *c = &m->cfg;
  /* pooled position: the first occurrence of the largest id (torch argmax) */
  size_t eot = 0;
  for (size_t i = 0; i < n_tokens; i++) {
    if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
      return clipdb__error(s->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                           "failed to embed text: token %zu is %d, outside [0, %d)", i,
                           (int)tokens[i], (int)c->vocab_size);
    if (tokens[i] > tokens[eot]) eot = i;
  }
  size_t n = eot + 1, W = (size_t)c->transformer_width;
  size_t need[CLIPDB__SESSION_SLOTS] = {0};
  need[0] = n * W;
  transformer_needs(&m->text, n, need);
  clipdb_status status = clipdb__session_reserve(s, need, CLIPDB__SESSION_SLOTS);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  float *x = s->buf[0];
  for (size_t i = 0; i < n; i++)
    memcpy(x + i * W, m->token_embedding + (size_t)tokens[i] * W, W * sizeof(float));
  debug2(s, "token_embedding", x, n, W);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < W; j++) x[i * W + j] += m->text_pos[i * W + j];
  transformer_run(s, &m->text, m->ln_eps, n, x, 1, eot, "transformer.resblocks.");
  float *h = s->buf[1];
  clipdb__layer_norm(n, W, x, W, m->ln_final.gamma, m->ln_final.beta, m->ln_eps, h, W);
  debug2(s, "ln_final", h, n, W);
  clipdb__linear_run(&m->text_proj, 1, h + eot * W, W, out, (size_t)c->embed_dim, 0);
  return CLIPDB_STATUS_SUCCESS;
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
  clipdb__conv2d_run(&m->patch, R, R, hwc, x + W, s->buf[6], 0);
  debug3(s, "visual.conv1", x + W, G, G, W);
  memcpy(x, m->class_embedding, W * sizeof(float));
  for (size_t i = 0; i < n * W; i++) x[i] += m->vis_pos[i];
  clipdb__layer_norm(n, W, x, W, m->ln_pre.gamma, m->ln_pre.beta, m->ln_eps, x, W);
  debug2(s, "visual.ln_pre", x, n, W);
  transformer_run(s, &m->vit, m->ln_eps, n, x, 0, 0, "visual.transformer.resblocks.");
  float *h = s->buf[1];
  clipdb__layer_norm(1, W, x, W, m->ln_post.gamma, m->ln_post.beta, m->ln_eps, h, W);
  if (s->debug) {
    size_t shape[1] = {W};
    s->debug(s->debug_user, "visual.ln_post", h, 1, shape);
  }
  clipdb__linear_run(&m->vis_proj, 1, h, W, out, (size_t)c->embed_dim, 0);
  return CLIPDB_STATUS_SUCCESS;
}

static clipdb_status encode_resnet(clipdb_session_t *s, const float *pixels, float *out) {
  const clipdb_model_t *m = s->model;
  const clipdb_model_config *c = &m->cfg;
  size_t R = (size_t)c->image_resolution;
  size_t need[CLIPDB__SESSION_SLOTS] = {0};
  for (int i = 0; i < 4; i++) need[i] = m->rn_act_floats;
  need[4] = m->rn_col_floats + 1;
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
  clipdb__conv2d_run(&m->stem[0], side, side, x, a, col, CLIPDB__GEMM_RELU);
  side = clipdb__conv2d_out_size(&m->stem[0], side);
  clipdb__conv2d_run(&m->stem[1], side, side, a, b, col, CLIPDB__GEMM_RELU);
  clipdb__conv2d_run(&m->stem[2], side, side, b, a, col, CLIPDB__GEMM_RELU);
  size_t ch = m->stem[2].c_out;
  clipdb__avg_pool2d(side, side, ch, 2, a, x);
  side /= 2;
  debug3(s, "visual.stem", x, side, side, ch);
  int stage = 0;
  for (int i = 0; i < m->n_blocks; i++) {
    const clipdb__bottleneck *bl = &m->blocks[i];
    size_t st = (size_t)bl->stride, planes = bl->conv1.c_out, os = side / st;
    clipdb__conv2d_run(&bl->conv1, side, side, x, a, col, CLIPDB__GEMM_RELU);
    clipdb__conv2d_run(&bl->conv2, side, side, a, b, col, CLIPDB__GEMM_RELU);
    float *mid = b;
    if (st > 1) {
      clipdb__avg_pool2d(side, side, planes, st, b, a);
      mid = a;
    }
    /* identity (or downsample: avg-pool(stride), 1×1 conv, BN) into o, then conv3 + residual + ReLU */
    if (bl->has_down) {
      const float *src = x;
      if (st > 1) {
        clipdb__avg_pool2d(side, side, ch, st, x, b == mid ? a : b);
        src = b == mid ? a : b;
      }
      clipdb__conv2d_run(&bl->down, os, os, src, o, col, 0);
    } else {
      memcpy(o, x, os * os * ch * sizeof(float));
    }
    clipdb__conv2d_run(&bl->conv3, os, os, mid, o, col, CLIPDB__GEMM_RESIDUAL | CLIPDB__GEMM_RELU);
    float *t = x;
    x = o;
    o = t;
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
  clipdb__linear_run(&m->ap_q, 1, tok, C, q, C, 0);
  clipdb__linear_run(&m->ap_k, n, tok, C, kb, C, 0);
  clipdb__linear_run(&m->ap_v, n, tok, C, vb, C, 0);
  size_t heads = (size_t)c->vision_heads;
  clipdb__attention(1, n, heads, C / heads, q, C, kb, C, vb, C, 0, att, C, sc);
  clipdb__linear_run(&m->ap_c, 1, att, C, out, (size_t)c->embed_dim, 0);
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
