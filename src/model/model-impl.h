/* The model and session objects (private to src/model/). A model holds packed, immutable
 * weights shared by any number of sessions; a session holds the scratch buffers of one
 * caller at a time. */
#ifndef CLIPDB_MODEL_IMPL_H
#define CLIPDB_MODEL_IMPL_H

#include "../clipdb-impl.h"
#include "../nn/ops.h"

typedef struct clipdb__ln {
  float *gamma, *beta; /* [width] each, owned */
} clipdb__ln;

/* One pre-LN residual block: x += attn(ln_1(x)); x += mlp(ln_2(x)). */
typedef struct clipdb__block {
  clipdb__ln ln1, ln2;
  clipdb__linear qkv;  /* [3W, W]: rows q, k, v (in_proj_weight) */
  clipdb__linear out;  /* out_proj */
  clipdb__linear fc;   /* c_fc / fc1, QuickGELU */
  clipdb__linear proj; /* c_proj / fc2 */
} clipdb__block;

typedef struct clipdb__transformer {
  int32_t width, heads, layers, hidden; /* hidden = MLP width (4W for OpenAI) */
  clipdb__block *blocks;                /* [layers] */
} clipdb__transformer;

/* ModifiedResNet bottleneck (clip/model.py Bottleneck), BN folded into each conv. */
typedef struct clipdb__bottleneck {
  clipdb__conv2d conv1, conv2, conv3, down;
  int32_t stride, has_down;
} clipdb__bottleneck;

/* Optional hook for tests: called with intermediate activations. `shape` lists the dims of
 * the row-major data (NHWC for feature maps, [tokens, width] for sequences). */
typedef void (*clipdb__debug_fn)(void *user, const char *name, const float *data, int n_dims,
                                 const size_t *shape);

/* Upper bound of clipdb_model_params.n_threads. */
#define CLIPDB__MAX_THREADS 256

struct clipdb_model {
  clipdb_model_config cfg;
  void *threadpool; /* src/nn/threads.h; NULL: one thread */
  int has_text, has_vision;
  float ln_eps;
  char err[CLIPDB__ERROR_SIZE];

  /* text */
  float *token_embedding; /* [vocab, W]; NULL when the table is int8 (token_q8) */
  int8_t *token_q8;       /* [vocab, W] int8, row r = token_q8[r] · token_scale[r]; or NULL */
  float *token_scale;     /* [vocab] */
  float *text_pos;        /* [context, W] */
  clipdb__transformer text;
  clipdb__ln ln_final;
  clipdb__linear text_proj; /* W -> E */

  /* ViT */
  clipdb__conv2d patch;   /* conv1, no bias */
  float *class_embedding; /* [Wv] */
  float *vis_pos;         /* [grid*grid + 1, Wv] */
  clipdb__ln ln_pre, ln_post;
  clipdb__transformer vit;
  clipdb__linear vis_proj; /* Wv -> E */

  /* ModifiedResNet */
  clipdb__conv2d stem[3];
  int32_t n_blocks, blocks_cap;
  clipdb__bottleneck *blocks; /* all stages, in order */
  int32_t stage_end[4];       /* index one past each stage's last block */
  int32_t ap_channels;        /* attnpool embed dim (width*32) */
  float *ap_pos;              /* [spacial^2 + 1, ap_channels] */
  clipdb__linear ap_q, ap_k, ap_v, ap_c;
  size_t rn_act_floats; /* activation bound computed at load (the convolutions' scratch is
                         * sized per call: encode.c) */
  int int8;            /* some weights are held as int8 (a quantized file) */
  size_t weight_bytes; /* bytes of weights held (packed layers, tables, norms) */
};

#define CLIPDB__SESSION_SLOTS 8

struct clipdb_session {
  const clipdb_model_t *model;
  char err[CLIPDB__ERROR_SIZE];
  float *buf[CLIPDB__SESSION_SLOTS];
  size_t cap[CLIPDB__SESSION_SLOTS]; /* floats */
  clipdb__debug_fn debug;
  void *debug_user;
};

/* Grow the session's scratch slots to at least `floats[i]` each (0: leave). */
clipdb_status clipdb__session_reserve(clipdb_session_t *s, const size_t *floats, int n_slots);

/* Install a debug hook on a session (tests only). */
void clipdb__session_set_debug(clipdb_session_t *s, clipdb__debug_fn fn, void *user);

/* load.c */
clipdb_status clipdb__model_load(const clipdb_file *files, size_t n_files,
                                 const clipdb_model_params *params, clipdb_model_t *m);
void clipdb__model_release(clipdb_model_t *m);

/* encode.c */
clipdb_status clipdb__encode_text(clipdb_session_t *s, const int32_t *tokens, size_t n_tokens,
                                  float *out);
/* tokens [n_texts][row_len] (range-checked here: the message names the text and position);
 * out [n_texts][embed_dim]. */
clipdb_status clipdb__encode_text_batch(clipdb_session_t *s, const int32_t *tokens, size_t n_texts,
                                        size_t row_len, float *out);
clipdb_status clipdb__encode_image(clipdb_session_t *s, const float *pixels, float *out);

#endif
