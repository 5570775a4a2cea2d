/*
 * Model loading: safetensors (OpenAI/open_clip names, or a Hugging Face CLIPModel directory)
 * -> resolved config -> packed weights.
 *
 * Config resolution: every field is first inferred from tensor
 * shapes the way clip/model.py `build_model` does (heads = width // 64 there), then
 * overridden by the explicit config where one exists: the `clip_config` JSON (and
 * `vision_heads`) in `__metadata__`, or HF `config.json`. Every tensor is then checked
 * against the final config; a mismatch is BAD_MODEL naming the tensor.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "model-impl.h"
#include "safetensors.h"

#define MAX_FILES 16

typedef struct loader {
  clipdb__safetensors *st[MAX_FILES];
  int n_st;
  int hf;
  const char *config_json; /* HF config.json bytes, borrowed (or config_owned) */
  char *config_owned;      /* config.json read through a reader */
  size_t config_len;
  float ln_eps; /* from config.json, else 1e-5 (torch LayerNorm default, used by CLIP) */
  char *err;
  int quantized;  /* a file declares the int8 scheme (CLIPDB_QUANTIZATION_SCHEME) */
  int fetched_i8; /* the last fetch() read an I8 tensor (dequantized through its scale) */
} loader;

/* The tensor called `name` in any of the files; `*owner` (optional) receives its file. */
static const clipdb__st_tensor *find_in(const loader *ld, const char *name,
                                        const clipdb__safetensors **owner) {
  for (int i = 0; i < ld->n_st; i++) {
    const clipdb__st_tensor *t = clipdb__safetensors_find(ld->st[i], name);
    if (t) {
      if (owner) *owner = ld->st[i];
      return t;
    }
  }
  return NULL;
}

static const clipdb__st_tensor *find(const loader *ld, const char *name) {
  return find_in(ld, name, NULL);
}

static const clipdb__st_tensor *findf(const loader *ld, const char *fmt, ...) CLIPDB__PRINTF(2, 3);
static const clipdb__st_tensor *findf(const loader *ld, const char *fmt, ...) {
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  return find(ld, name);
}

static int has_prefix(const loader *ld, const char *prefix) {
  size_t n = strlen(prefix);
  for (int i = 0; i < ld->n_st; i++)
    for (size_t k = 0; k < ld->st[i]->n_tensors; k++)
      if (strncmp(ld->st[i]->tensors[k].name, prefix, n) == 0) return 1;
  return 0;
}

/* Tensor names in the two checkpoint dialects: [0] OpenAI / open_clip, [1] Hugging Face
 * transformers' CLIPModel. The block entries follow a tower's layer prefix and index
 * ("<layers><i>.<name>.weight" / ".bias"); the tower entries are name prefixes. */
enum tensor_name {
  TN_TEXT_TOWER, TN_VISION_TOWER,
  TN_TOKEN_EMBEDDING, TN_TEXT_POSITIONS, TN_TEXT_LAYERS, TN_LN_FINAL_W, TN_LN_FINAL_B, TN_TEXT_PROJ,
  TN_PATCH, TN_CLASS_EMBEDDING, TN_VISION_POSITIONS, TN_LN_PRE_W, TN_LN_PRE_B, TN_VISION_LAYERS,
  TN_LN_POST_W, TN_LN_POST_B, TN_VISION_PROJ,
  TN_BLOCK_QKV, TN_BLOCK_OUT, TN_BLOCK_LN1, TN_BLOCK_LN2, TN_BLOCK_FC1, TN_BLOCK_FC2,
  TN_COUNT
};

static const char *const tensor_names[TN_COUNT][2] = {
    [TN_TEXT_TOWER] = {"transformer.resblocks.", "text_model."},
    [TN_VISION_TOWER] = {"visual.", "vision_model."},
    [TN_TOKEN_EMBEDDING] = {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
    [TN_TEXT_POSITIONS] = {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
    [TN_TEXT_LAYERS] = {"transformer.resblocks.", "text_model.encoder.layers."},
    [TN_LN_FINAL_W] = {"ln_final.weight", "text_model.final_layer_norm.weight"},
    [TN_LN_FINAL_B] = {"ln_final.bias", "text_model.final_layer_norm.bias"},
    [TN_TEXT_PROJ] = {"text_projection", "text_projection.weight"},
    [TN_PATCH] = {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
    [TN_CLASS_EMBEDDING] = {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
    [TN_VISION_POSITIONS] = {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
    [TN_LN_PRE_W] = {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
    [TN_LN_PRE_B] = {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
    [TN_VISION_LAYERS] = {"visual.transformer.resblocks.", "vision_model.encoder.layers."},
    [TN_LN_POST_W] = {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
    [TN_LN_POST_B] = {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
    [TN_VISION_PROJ] = {"visual.proj", "visual_projection.weight"},
    /* the fused q/k/v projection (OpenAI) or the three HF ones: the name used in messages */
    [TN_BLOCK_QKV] = {"attn.in_proj_weight", "self_attn.q/k/v_proj"},
    [TN_BLOCK_OUT] = {"attn.out_proj", "self_attn.out_proj"},
    [TN_BLOCK_LN1] = {"ln_1", "layer_norm1"},
    [TN_BLOCK_LN2] = {"ln_2", "layer_norm2"},
    [TN_BLOCK_FC1] = {"mlp.c_fc", "mlp.fc1"},
    [TN_BLOCK_FC2] = {"mlp.c_proj", "mlp.fc2"},
};

/* The name of tensor `k` in the loader's dialect. */
static const char *tname(const loader *ld, enum tensor_name k) { return tensor_names[k][ld->hf ? 1 : 0]; }

static int64_t dim(const clipdb__st_tensor *t, int i) {
  if (t == NULL) return 0;
  if (i < 0) i += t->n_dims;
  return i >= 0 && i < t->n_dims ? t->shape[i] : 0;
}

/* ---- int8 tensors ------------------------------------------------------------------------- */

/* Format shape as "a,b,c". */
static void shape_str(const clipdb__st_tensor *t, char *buf, size_t size) {
  size_t g = 0;
  buf[0] = '\0';
  for (int i = 0; i < t->n_dims && g < size; i++)
    g += (size_t)snprintf(buf + g, size - g, i ? ",%lld" : "%lld", (long long)t->shape[i]);
}

/*
 * The scale tensor of I8 tensor `t`: `<name>.scale`, F32, one value per channel along one axis:
 * shape [d0, 1, ..., 1] (axis 0: a Linear's or a convolution's output channels, an embedding
 * table's rows) or, for a 2-D tensor, [1, d1] (axis 1: a projection stored [in, out]).
 */
static clipdb_status find_scale(loader *ld, const clipdb__st_tensor *t,
                                const clipdb__st_tensor **scale, size_t *axis) {
  char sname[300];
  snprintf(sname, sizeof sname, "%s.scale", t->name);
  if (!ld->quantized)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: tensor %s is I8 but no file declares a "
                         "quantization scheme (__metadata__ \"quantization\": \"%s\")",
                         t->name, CLIPDB_QUANTIZATION_SCHEME);
  const clipdb__st_tensor *s = find(ld, sname);
  if (s == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: tensor %s is I8 but its scale tensor %s is missing",
                         t->name, sname);
  if (s->dtype != CLIPDB__DTYPE_F32)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: scale tensor %s has dtype %s (F32 needed)", sname,
                         clipdb__dtype_name(s->dtype));
  int ok0 = t->n_dims >= 1 && s->n_dims == t->n_dims && s->shape[0] == t->shape[0];
  for (int i = 1; ok0 && i < s->n_dims; i++) ok0 = s->shape[i] == 1;
  int ok1 = t->n_dims == 2 && s->n_dims == 2 && s->shape[0] == 1 && s->shape[1] == t->shape[1];
  if (ok1 && ok0) ok1 = 0; /* [d0, 1] with d1 == 1 too: per row */
  if (!ok0 && !ok1) {
    char got[128], want[128];
    shape_str(s, got, sizeof got);
    shape_str(t, want, sizeof want);
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: scale tensor %s has shape [%s]; for I8 tensor %s "
                         "of shape [%s] it must be [%lld, 1...] (per row) or [1, %lld] (per column)",
                         sname, got, t->name, want, (long long)(t->n_dims ? t->shape[0] : 0),
                         (long long)(t->n_dims > 1 ? t->shape[1] : 0));
  }
  *scale = s;
  *axis = ok0 ? 0 : 1;
  return CLIPDB_STATUS_SUCCESS;
}

/* v (t's int8 values as floats) *= scale along `axis`. */
static clipdb_status dequantize(loader *ld, const clipdb__st_tensor *t,
                                const clipdb__st_tensor *scale, size_t axis, float *v) {
  const clipdb__safetensors *st = NULL;
  find_in(ld, scale->name, &st);
  float *s = clipdb__malloc(scale->numel * sizeof(float) + 4);
  if (s == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %zu bytes for %s",
                         scale->numel * sizeof(float), scale->name);
  clipdb_status status = clipdb__st_tensor_load_f32(st, scale, s, ld->err);
  if (status == CLIPDB_STATUS_SUCCESS) {
    for (size_t c = 0; c < scale->numel; c++)
      if (!(s[c] >= 0.0f) || !isfinite(s[c])) {
        status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                               "failed to load model: scale tensor %s has a negative, NaN or "
                               "infinite entry at %zu", scale->name, c);
        break;
      }
  }
  if (status == CLIPDB_STATUS_SUCCESS) {
    const size_t rows = (size_t)t->shape[0], per_row = rows ? t->numel / rows : 0;
    for (size_t r = 0; r < rows; r++)
      for (size_t i = 0; i < per_row; i++)
        v[r * per_row + i] *= s[axis == 0 ? r : i];
  }
  clipdb__free(s);
  return status;
}

/* Check every file's quantization metadata; sets ld->quantized. */
static clipdb_status check_scheme(loader *ld) {
  for (int i = 0; i < ld->n_st; i++) {
    const char *q = clipdb__safetensors_metadata(ld->st[i], "quantization");
    const char *v = clipdb__safetensors_metadata(ld->st[i], "quantization_version");
    const char *file = ld->st[i]->source_name ? ld->st[i]->source_name : "model";
    if (q == NULL && v == NULL) continue;
    if (q == NULL || strcmp(q, CLIPDB_QUANTIZATION_SCHEME) != 0)
      return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                           "failed to load model: %s declares quantization scheme \"%.64s\"; this "
                           "build reads only \"%s\" version %s", file, q ? q : "(none)",
                           CLIPDB_QUANTIZATION_SCHEME, CLIPDB_QUANTIZATION_VERSION);
    if (v == NULL || strcmp(v, CLIPDB_QUANTIZATION_VERSION) != 0)
      return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                           "failed to load model: %s declares %s version \"%.16s\"; this build "
                           "reads version %s", file, q, v ? v : "(none)", CLIPDB_QUANTIZATION_VERSION);
    ld->quantized = 1;
  }
  return CLIPDB_STATUS_SUCCESS;
}

/* The precision a layer keeps: int8 when its weight was stored as I8. */
static clipdb__weight_dtype fetched_dtype(const loader *ld) {
  return ld->fetched_i8 ? CLIPDB__WEIGHTS_QS8 : CLIPDB__WEIGHTS_F32;
}

/* Fetch a tensor as float32 (new clipdb__malloc buffer) after checking its shape. `nd` dims
 * in `d`; a scalar (nd 0) also accepts shape [1]. */
static clipdb_status fetch(loader *ld, float **out, int nd, const int64_t *d, const char *fmt,
                           ...) CLIPDB__PRINTF(5, 6);
static clipdb_status fetch(loader *ld, float **out, int nd, const int64_t *d, const char *fmt,
                           ...) {
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  *out = NULL;
  const clipdb__safetensors *st = NULL;
  const clipdb__st_tensor *t = find_in(ld, name, &st);
  if (t == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: tensor %s is missing", name);
  int ok = t->n_dims == nd;
  for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == d[i];
  if (nd == 0 && t->n_dims == 1 && t->shape[0] == 1) ok = 1;
  if (!ok) {
    char got[128] = "", want[128] = "";
    size_t g = 0, w = 0;
    for (int i = 0; i < t->n_dims && g < sizeof got; i++)
      g += (size_t)snprintf(got + g, sizeof got - g, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    for (int i = 0; i < nd && w < sizeof want; i++)
      w += (size_t)snprintf(want + w, sizeof want - w, i ? ",%lld" : "%lld", (long long)d[i]);
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: tensor %s has shape [%s], expected [%s]", name,
                         got, want);
  }
  ld->fetched_i8 = 0;
  const clipdb__st_tensor *scale = NULL;
  size_t axis = 0;
  if (t->dtype == CLIPDB__DTYPE_I8) {
    clipdb_status qs = find_scale(ld, t, &scale, &axis);
    if (qs != CLIPDB_STATUS_SUCCESS) return qs;
  } else if (t->dtype != CLIPDB__DTYPE_F32 && t->dtype != CLIPDB__DTYPE_F16 &&
             t->dtype != CLIPDB__DTYPE_BF16) {
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: tensor %s has dtype %s (F32, F16, BF16, or I8 "
                         "with scales, needed)", name, clipdb__dtype_name(t->dtype));
  }
  float *v = clipdb__malloc(t->numel * sizeof(float) + 4);
  if (v == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to allocate %zu bytes for tensor %s", t->numel * sizeof(float), name);
  /* in memory: converted from the caller's buffer; streamed: F32 read straight into v */
  clipdb_status status = clipdb__st_tensor_load_f32(st, t, v, ld->err);
  if (status == CLIPDB_STATUS_SUCCESS && scale != NULL) status = dequantize(ld, t, scale, axis, v);
  if (status != CLIPDB_STATUS_SUCCESS) {
    clipdb__free(v);
    return status;
  }
  ld->fetched_i8 = scale != NULL;
  *out = v;
  return CLIPDB_STATUS_SUCCESS;
}

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define ND(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
/* FETCH(&ptr, (dims...), "fmt", args...) */
#define FETCH(out, dims, ...)                                                  \
  do {                                                                         \
    status = fetch(ld, (out), ND dims, D dims, __VA_ARGS__);                   \
    if (status != CLIPDB_STATUS_SUCCESS) goto error;                           \
  } while (0)
#define CHECK(expr)                                                            \
  do {                                                                         \
    status = (expr);                                                           \
    if (status != CLIPDB_STATUS_SUCCESS) goto error;                           \
  } while (0)

/* ---- config -------------------------------------------------------------------------------- */

static int count_layers(const loader *ld, const char *fmt) {
  int n = 0;
  while (n < 1000 && findf(ld, fmt, n) != NULL) n++;
  return n;
}

static int isqrt_round(int64_t v) { return v > 0 ? (int)lround(sqrt((double)v)) : 0; }

static void infer_openai(const loader *ld, clipdb_model_config *c) {
  const clipdb__st_tensor *t;
  if ((t = find(ld, "visual.proj")) != NULL && find(ld, "visual.conv1.weight") != NULL &&
      !has_prefix(ld, "visual.layer1.")) {
    const clipdb__st_tensor *conv = find(ld, "visual.conv1.weight");
    c->vision_type = CLIPDB_VISION_VIT;
    c->vision_width = (int32_t)dim(conv, 0);
    c->vision_patch_size = (int32_t)dim(conv, -1);
    c->vision_layers[0] = count_layers(ld, "visual.transformer.resblocks.%d.attn.in_proj_weight");
    int grid = isqrt_round(dim(find(ld, "visual.positional_embedding"), 0) - 1);
    c->image_resolution = c->vision_patch_size * grid;
    c->vision_heads = c->vision_width / 64;
    c->embed_dim = (int32_t)dim(t, 1);
  } else if (has_prefix(ld, "visual.layer1.")) {
    c->vision_type = CLIPDB_VISION_RESNET;
    for (int s = 0; s < 4; s++) {
      char fmt[64];
      snprintf(fmt, sizeof fmt, "visual.layer%d.%%d.conv1.weight", s + 1);
      c->vision_layers[s] = count_layers(ld, fmt);
    }
    c->vision_width = (int32_t)dim(find(ld, "visual.layer1.0.conv1.weight"), 0);
    c->image_resolution = 32 * isqrt_round(dim(find(ld, "visual.attnpool.positional_embedding"), 0) - 1);
    c->vision_heads = c->vision_width * 32 / 64;
    c->embed_dim = (int32_t)dim(find(ld, "visual.attnpool.c_proj.weight"), 0);
  }
  if ((t = find(ld, "token_embedding.weight")) != NULL) {
    c->vocab_size = (int32_t)dim(t, 0);
    c->context_length = (int32_t)dim(find(ld, "positional_embedding"), 0);
    c->transformer_width = (int32_t)dim(find(ld, "ln_final.weight"), 0);
    if (c->transformer_width == 0) c->transformer_width = (int32_t)dim(t, 1);
    c->transformer_heads = c->transformer_width / 64;
    c->transformer_layers = count_layers(ld, "transformer.resblocks.%d.attn.in_proj_weight");
  }
  if ((t = find(ld, "text_projection")) != NULL) c->embed_dim = (int32_t)dim(t, 1);
}

static void infer_hf(const loader *ld, clipdb_model_config *c) {
  const clipdb__st_tensor *t;
  if ((t = find(ld, "vision_model.embeddings.patch_embedding.weight")) != NULL) {
    c->vision_type = CLIPDB_VISION_VIT;
    c->vision_width = (int32_t)dim(t, 0);
    c->vision_patch_size = (int32_t)dim(t, -1);
    c->vision_layers[0] = count_layers(ld, "vision_model.encoder.layers.%d.self_attn.q_proj.weight");
    int grid = isqrt_round(dim(find(ld, "vision_model.embeddings.position_embedding.weight"), 0) - 1);
    c->image_resolution = c->vision_patch_size * grid;
    c->vision_heads = c->vision_width / 64;
    c->embed_dim = (int32_t)dim(find(ld, "visual_projection.weight"), 0);
  }
  if ((t = find(ld, "text_model.embeddings.token_embedding.weight")) != NULL) {
    c->vocab_size = (int32_t)dim(t, 0);
    c->transformer_width = (int32_t)dim(t, 1);
    c->context_length = (int32_t)dim(find(ld, "text_model.embeddings.position_embedding.weight"), 0);
    c->transformer_heads = c->transformer_width / 64;
    c->transformer_layers = count_layers(ld, "text_model.encoder.layers.%d.self_attn.q_proj.weight");
  }
  if ((t = find(ld, "text_projection.weight")) != NULL) c->embed_dim = (int32_t)dim(t, 0);
}

/* Set *field from `key` of object `obj` when present; BAD_MODEL if present but not a
 * non-negative integer (null is allowed where `allow_null`: leaves the field). */
static clipdb_status cfg_int(loader *ld, const clipdb__json *doc, int obj, const char *key,
                             int32_t *field, const char *what) {
  int t = clipdb__json_get(doc, obj, key);
  if (t < 0 || clipdb__json_is_null(doc, t)) return CLIPDB_STATUS_SUCCESS;
  int64_t v;
  if (!clipdb__json_int(doc, t, &v) || v < 0 || v > 1000000)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: %s field %s is not a valid integer", what, key);
  *field = (int32_t)v;
  return CLIPDB_STATUS_SUCCESS;
}

static clipdb_status apply_clip_config(loader *ld, const char *json, clipdb_model_config *c) {
  clipdb__json doc;
  clipdb_status status = clipdb__json_parse(json, strlen(json), "clip_config metadata", ld->err, &doc);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  const char *w = "clip_config";
  CHECK(cfg_int(ld, &doc, 0, "embed_dim", &c->embed_dim, w));
  CHECK(cfg_int(ld, &doc, 0, "image_resolution", &c->image_resolution, w));
  CHECK(cfg_int(ld, &doc, 0, "vision_width", &c->vision_width, w));
  CHECK(cfg_int(ld, &doc, 0, "vision_patch_size", &c->vision_patch_size, w));
  CHECK(cfg_int(ld, &doc, 0, "context_length", &c->context_length, w));
  CHECK(cfg_int(ld, &doc, 0, "vocab_size", &c->vocab_size, w));
  CHECK(cfg_int(ld, &doc, 0, "transformer_width", &c->transformer_width, w));
  CHECK(cfg_int(ld, &doc, 0, "transformer_heads", &c->transformer_heads, w));
  CHECK(cfg_int(ld, &doc, 0, "transformer_layers", &c->transformer_layers, w));
  CHECK(cfg_int(ld, &doc, 0, "vision_heads", &c->vision_heads, w));
  int vl = clipdb__json_get(&doc, 0, "vision_layers");
  if (vl >= 0 && doc.tok[vl].type == CLIPDB__JSON_ARRAY) {
    if (doc.tok[vl].size != 4) {
      status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                             "failed to load model: clip_config vision_layers must have 4 entries");
      goto error;
    }
    c->vision_type = CLIPDB_VISION_RESNET;
    c->vision_patch_size = 0;
    for (int i = 0; i < 4; i++) {
      int64_t v;
      if (!clipdb__json_int(&doc, clipdb__json_item(&doc, vl, i), &v) || v < 0 || v > 1000) {
        status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                               "failed to load model: clip_config vision_layers[%d] is invalid", i);
        goto error;
      }
      c->vision_layers[i] = (int32_t)v;
    }
  } else if (vl >= 0) {
    int64_t v;
    if (!clipdb__json_int(&doc, vl, &v) || v < 0 || v > 1000) {
      status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                             "failed to load model: clip_config vision_layers is invalid");
      goto error;
    }
    c->vision_type = CLIPDB_VISION_VIT;
    memset(c->vision_layers, 0, sizeof c->vision_layers);
    c->vision_layers[0] = (int32_t)v;
  }
error:
  clipdb__json_free(&doc);
  return status;
}

static clipdb_status apply_hf_config(loader *ld, clipdb_model_config *c) {
  clipdb__json doc;
  clipdb_status status = clipdb__json_parse(ld->config_json, ld->config_len, "config.json", ld->err, &doc);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  const char *w = "config.json";
  int tc = clipdb__json_get(&doc, 0, "text_config"), vc = clipdb__json_get(&doc, 0, "vision_config");
  CHECK(cfg_int(ld, &doc, 0, "projection_dim", &c->embed_dim, w));
  CHECK(cfg_int(ld, &doc, tc, "hidden_size", &c->transformer_width, w));
  CHECK(cfg_int(ld, &doc, tc, "num_attention_heads", &c->transformer_heads, w));
  CHECK(cfg_int(ld, &doc, tc, "num_hidden_layers", &c->transformer_layers, w));
  CHECK(cfg_int(ld, &doc, tc, "max_position_embeddings", &c->context_length, w));
  CHECK(cfg_int(ld, &doc, tc, "vocab_size", &c->vocab_size, w));
  if (vc >= 0) {
    CHECK(cfg_int(ld, &doc, vc, "hidden_size", &c->vision_width, w));
    CHECK(cfg_int(ld, &doc, vc, "num_attention_heads", &c->vision_heads, w));
    CHECK(cfg_int(ld, &doc, vc, "num_hidden_layers", &c->vision_layers[0], w));
    CHECK(cfg_int(ld, &doc, vc, "image_size", &c->image_resolution, w));
    CHECK(cfg_int(ld, &doc, vc, "patch_size", &c->vision_patch_size, w));
  }
  const int objs[3] = {0, tc, vc};
  for (int i = 0; i < 3; i++) {
    int act = clipdb__json_get(&doc, objs[i], "hidden_act");
    if (act >= 0 && !clipdb__json_streq(&doc, act, "quick_gelu")) {
      status = clipdb__error(ld->err, CLIPDB_STATUS_UNSUPPORTED,
                             "failed to load model: config.json hidden_act \"%.*s\" is not "
                             "supported (CLIP uses quick_gelu)",
                             doc.tok[act].end - doc.tok[act].start > 32 ? 32 : doc.tok[act].end - doc.tok[act].start,
                             doc.js + doc.tok[act].start);
      goto error;
    }
    double eps;
    int e = clipdb__json_get(&doc, objs[i], "layer_norm_eps");
    if (e >= 0 && clipdb__json_number(&doc, e, &eps) && eps > 0 && eps < 1) ld->ln_eps = (float)eps;
  }
error:
  clipdb__json_free(&doc);
  return status;
}

static clipdb_status resolve_config(loader *ld, const clipdb_model_params *p, clipdb_model_t *m) {
  clipdb_model_config *c = &m->cfg;
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  memset(c, 0, sizeof *c);
  if (ld->hf) infer_hf(ld, c);
  else infer_openai(ld, c);
  if (ld->hf && ld->config_json != NULL) {
    CHECK(apply_hf_config(ld, c));
  } else if (!ld->hf) {
    const char *cc = NULL, *vh = NULL;
    for (int i = 0; i < ld->n_st && cc == NULL; i++) cc = clipdb__safetensors_metadata(ld->st[i], "clip_config");
    for (int i = 0; i < ld->n_st && vh == NULL; i++) vh = clipdb__safetensors_metadata(ld->st[i], "vision_heads");
    if (cc != NULL) CHECK(apply_clip_config(ld, cc, c));
    if (vh != NULL) {
      char *end = NULL;
      long v = strtol(vh, &end, 10);
      if (end == vh || *end != '\0' || v <= 0 || v > 100000) {
        status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                               "failed to load model: metadata vision_heads \"%.16s\" is not a "
                               "positive integer", vh);
        goto error;
      }
      c->vision_heads = (int32_t)v;
    }
  }
  m->has_text = p->load_text && (has_prefix(ld, tname(ld, TN_TEXT_TOWER)) ||
                                  find(ld, tname(ld, TN_TOKEN_EMBEDDING)) != NULL);
  m->has_vision = p->load_vision && has_prefix(ld, tname(ld, TN_VISION_TOWER));
  if (!m->has_vision) {
    c->vision_type = CLIPDB_VISION_NONE;
    c->image_resolution = c->vision_width = c->vision_patch_size = c->vision_heads = 0;
    memset(c->vision_layers, 0, sizeof c->vision_layers);
  }
  if (!m->has_text) c->context_length = c->vocab_size = c->transformer_width = c->transformer_heads = c->transformer_layers = 0;
  if (!m->has_text && !m->has_vision) {
    status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                           "failed to load model: no CLIP tensors found (expected OpenAI names "
                           "like visual.* / token_embedding.weight, or a Hugging Face "
                           "CLIPModel's vision_model.* / text_model.*)");
    goto error;
  }
  /* sanity of the resolved numbers */
  if (c->embed_dim <= 0)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL, "failed to load model: embed_dim %d is invalid", c->embed_dim);
  if (m->has_text) {
    if (c->transformer_width <= 0 || c->transformer_heads <= 0 || c->transformer_width % c->transformer_heads ||
        c->context_length <= 0 || c->vocab_size <= 0)
      return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                           "failed to load model: text config is invalid (width %d, heads %d, "
                           "context %d, vocab %d)", c->transformer_width, c->transformer_heads,
                           c->context_length, c->vocab_size);
  }
  if (m->has_vision) {
    if (c->vision_type == CLIPDB_VISION_VIT) {
      if (c->vision_width <= 0 || c->vision_heads <= 0 || c->vision_width % c->vision_heads ||
          c->vision_patch_size <= 0 || c->image_resolution <= 0 ||
          c->image_resolution % c->vision_patch_size)
        return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                             "failed to load model: ViT config is invalid (width %d, heads %d, "
                             "patch %d, resolution %d)", c->vision_width, c->vision_heads,
                             c->vision_patch_size, c->image_resolution);
    } else if (c->vision_type == CLIPDB_VISION_RESNET) {
      if (c->vision_width <= 0 || c->vision_width % 2 || c->vision_heads <= 0 ||
          (c->vision_width * 32) % c->vision_heads || c->image_resolution <= 0 ||
          c->image_resolution % 32 || c->vision_layers[0] <= 0)
        return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                             "failed to load model: ResNet config is invalid (width %d, heads %d, "
                             "resolution %d)", c->vision_width, c->vision_heads, c->image_resolution);
    } else {
      return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                           "failed to load model: cannot tell the vision tower type (no "
                           "visual.proj / visual.layer1.*)");
    }
  }
  /* OpenAI CLIP normalisation constants (clip/clip.py _transform) */
  c->image_mean[0] = 0.48145466f, c->image_mean[1] = 0.4578275f, c->image_mean[2] = 0.40821073f;
  c->image_std[0] = 0.26862954f, c->image_std[1] = 0.26130258f, c->image_std[2] = 0.27577711f;
error:
  return status;
}

/* ---- weights ------------------------------------------------------------------------------- */

static clipdb_status load_ln(loader *ld, clipdb__ln *ln, int64_t w, const char *name_w, const char *name_b) {
  clipdb_status status;
  FETCH(&ln->gamma, (w), "%s", name_w);
  FETCH(&ln->beta, (w), "%s", name_b);
error:
  return status;
}

static clipdb_status load_linear(loader *ld, clipdb__linear *l, int64_t n_out, int64_t n_in,
                                 const char *wname, const char *bname) {
  clipdb_status status;
  float *w = NULL, *b = NULL;
  FETCH(&w, (n_out, n_in), "%s", wname);
  const clipdb__weight_dtype dt = fetched_dtype(ld);
  if (bname != NULL) FETCH(&b, (n_out), "%s", bname);
  CHECK(clipdb__linear_init_dtype(l, dt, (size_t)n_out, (size_t)n_in, w, (size_t)n_in, 1, b, wname, ld->err));
error:
  clipdb__free(w);
  clipdb__free(b);
  return status;
}

static clipdb_status load_transformer(loader *ld, clipdb__transformer *t, const char *prefix,
                                      int32_t width, int32_t heads, int32_t layers) {
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  char a[256], b[256];
  float *qkv_w = NULL, *qkv_b = NULL, *part = NULL;
  int64_t W = width;
  t->width = width;
  t->heads = heads;
  t->layers = layers;
  t->hidden = 4 * width;
  if (ld->hf) {
    const clipdb__st_tensor *fc = findf(ld, "%s0.mlp.fc1.weight", prefix);
    if (fc != NULL && fc->n_dims == 2) t->hidden = (int32_t)fc->shape[0];
  }
  t->blocks = clipdb__calloc((size_t)(layers > 0 ? layers : 1), sizeof *t->blocks);
  if (t->blocks == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %d blocks", layers);
  int64_t H = t->hidden;
  for (int i = 0; i < layers; i++) {
    clipdb__block *bl = &t->blocks[i];
    clipdb__weight_dtype qkv_dt = CLIPDB__WEIGHTS_F32;
    if (!ld->hf) {
      FETCH(&qkv_w, (3 * W, W), "%s%d.attn.in_proj_weight", prefix, i);
      qkv_dt = fetched_dtype(ld);
      FETCH(&qkv_b, (3 * W), "%s%d.attn.in_proj_bias", prefix, i);
    } else {
      qkv_w = clipdb__malloc((size_t)(3 * W * W) * sizeof(float));
      qkv_b = clipdb__malloc((size_t)(3 * W) * sizeof(float));
      if (qkv_w == NULL || qkv_b == NULL) {
        status = clipdb__error(ld->err, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate q/k/v of layer %d", i);
        goto error;
      }
      static const char *qkv[3] = {"q", "k", "v"};
      for (int j = 0; j < 3; j++) {
        FETCH(&part, (W, W), "%s%d.self_attn.%s_proj.weight", prefix, i, qkv[j]);
        if (ld->fetched_i8) qkv_dt = CLIPDB__WEIGHTS_QS8;
        memcpy(qkv_w + j * W * W, part, (size_t)(W * W) * sizeof(float));
        clipdb__free(part);
        part = NULL;
        FETCH(&part, (W), "%s%d.self_attn.%s_proj.bias", prefix, i, qkv[j]);
        memcpy(qkv_b + j * W, part, (size_t)W * sizeof(float));
        clipdb__free(part);
        part = NULL;
      }
    }
    snprintf(a, sizeof a, "%s%d.%s", prefix, i, tname(ld, TN_BLOCK_QKV));
    CHECK(clipdb__linear_init_dtype(&bl->qkv, qkv_dt, (size_t)(3 * W), (size_t)W, qkv_w, (size_t)W, 1,
                                    qkv_b, a, ld->err));
    clipdb__free(qkv_w);
    clipdb__free(qkv_b);
    qkv_w = qkv_b = NULL;
#define NAMES(k)                                                         \
  snprintf(a, sizeof a, "%s%d.%s.weight", prefix, i, tname(ld, k));     \
  snprintf(b, sizeof b, "%s%d.%s.bias", prefix, i, tname(ld, k))
    NAMES(TN_BLOCK_OUT);
    CHECK(load_linear(ld, &bl->out, W, W, a, b));
    NAMES(TN_BLOCK_LN1);
    CHECK(load_ln(ld, &bl->ln1, W, a, b));
    NAMES(TN_BLOCK_LN2);
    CHECK(load_ln(ld, &bl->ln2, W, a, b));
    NAMES(TN_BLOCK_FC1);
    CHECK(load_linear(ld, &bl->fc, H, W, a, b));
    NAMES(TN_BLOCK_FC2);
    CHECK(load_linear(ld, &bl->proj, W, H, a, b));
#undef NAMES
  }
error:
  clipdb__free(qkv_w);
  clipdb__free(qkv_b);
  clipdb__free(part);
  return status;
}

/* A projection used as `x @ P`: OpenAI stores P [in, out]; HF stores a Linear [out, in]. */
static clipdb_status load_projection(loader *ld, clipdb__linear *l, int64_t n_in, int64_t n_out,
                                     enum tensor_name k) {
  clipdb_status status;
  float *p = NULL;
  const char *name = tname(ld, k);
  if (ld->hf) {
    FETCH(&p, (n_out, n_in), "%s", name);
    CHECK(clipdb__linear_init_dtype(l, fetched_dtype(ld), (size_t)n_out, (size_t)n_in, p, (size_t)n_in, 1,
                                    NULL, name, ld->err));
  } else {
    FETCH(&p, (n_in, n_out), "%s", name);
    CHECK(clipdb__linear_init_dtype(l, fetched_dtype(ld), (size_t)n_out, (size_t)n_in, p, 1, (size_t)n_out,
                                    NULL, name, ld->err));
  }
error:
  clipdb__free(p);
  return status;
}

/* An int8 token embedding table stays int8 (a query dequantizes only its own rows): the
 * values as stored plus one scale per row. */
static clipdb_status load_token_q8(loader *ld, clipdb_model_t *m, const clipdb__st_tensor *t,
                                   int64_t W) {
  const clipdb__st_tensor *scale = NULL;
  size_t axis = 0;
  clipdb_status status = find_scale(ld, t, &scale, &axis);
  if (status != CLIPDB_STATUS_SUCCESS) return status;
  if (t->n_dims != 2 || t->shape[0] != m->cfg.vocab_size || t->shape[1] != W)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: tensor %s has the wrong shape (expected [%d, %lld])",
                         t->name, (int)m->cfg.vocab_size, (long long)W);
  if (axis != 0)
    return clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                         "failed to load model: scale tensor %s.scale must be per row ([%lld, 1])",
                         t->name, (long long)t->shape[0]);
  const clipdb__safetensors *st = NULL, *sst = NULL;
  find_in(ld, t->name, &st);
  find_in(ld, scale->name, &sst);
  m->token_q8 = clipdb__malloc(t->nbytes);
  m->token_scale = clipdb__malloc(scale->numel * sizeof(float));
  if (m->token_q8 == NULL || m->token_scale == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_OUT_OF_MEMORY,
                         "failed to allocate %zu bytes for tensor %s", t->nbytes, t->name);
  status = clipdb__st_tensor_load_raw(st, t, m->token_q8, ld->err);
  if (status == CLIPDB_STATUS_SUCCESS)
    status = clipdb__st_tensor_load_f32(sst, scale, m->token_scale, ld->err);
  for (size_t r = 0; status == CLIPDB_STATUS_SUCCESS && r < scale->numel; r++)
    if (!(m->token_scale[r] >= 0.0f) || !isfinite(m->token_scale[r]))
      status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                             "failed to load model: scale tensor %s has a negative, NaN or "
                             "infinite entry at %zu", scale->name, r);
  return status;
}

static clipdb_status load_text(loader *ld, clipdb_model_t *m) {
  clipdb_status status;
  const clipdb_model_config *c = &m->cfg;
  int64_t W = c->transformer_width;
  const char *tok_name = tname(ld, TN_TOKEN_EMBEDDING);
  const clipdb__st_tensor *tok = find(ld, tok_name);
  if (tok != NULL && tok->dtype == CLIPDB__DTYPE_I8)
    CHECK(load_token_q8(ld, m, tok, W));
  else
    FETCH(&m->token_embedding, (c->vocab_size, W), "%s", tok_name);
  FETCH(&m->text_pos, (c->context_length, W), "%s", tname(ld, TN_TEXT_POSITIONS));
  CHECK(load_transformer(ld, &m->text, tname(ld, TN_TEXT_LAYERS), c->transformer_width, c->transformer_heads,
                         c->transformer_layers));
  CHECK(load_ln(ld, &m->ln_final, W, tname(ld, TN_LN_FINAL_W), tname(ld, TN_LN_FINAL_B)));
  CHECK(load_projection(ld, &m->text_proj, W, c->embed_dim, TN_TEXT_PROJ));
error:
  return status;
}

static clipdb_status load_vit(loader *ld, clipdb_model_t *m) {
  clipdb_status status;
  const clipdb_model_config *c = &m->cfg;
  int64_t W = c->vision_width, P = c->vision_patch_size, G = c->image_resolution / c->vision_patch_size;
  float *w = NULL;
  const char *conv_name = tname(ld, TN_PATCH);
  FETCH(&w, (W, 3, P, P), "%s", conv_name);
  CHECK(clipdb__conv2d_init_dtype(&m->patch, fetched_dtype(ld), 3, (size_t)W, (size_t)P, (size_t)P, 0, w,
                                  NULL, NULL, conv_name, ld->err));
  FETCH(&m->class_embedding, (W), "%s", tname(ld, TN_CLASS_EMBEDDING));
  FETCH(&m->vis_pos, (G * G + 1, W), "%s", tname(ld, TN_VISION_POSITIONS));
  CHECK(load_ln(ld, &m->ln_pre, W, tname(ld, TN_LN_PRE_W), tname(ld, TN_LN_PRE_B)));
  CHECK(load_transformer(ld, &m->vit, tname(ld, TN_VISION_LAYERS), c->vision_width, c->vision_heads,
                         c->vision_layers[0]));
  CHECK(load_ln(ld, &m->ln_post, W, tname(ld, TN_LN_POST_W), tname(ld, TN_LN_POST_B)));
  CHECK(load_projection(ld, &m->vis_proj, W, c->embed_dim, TN_VISION_PROJ));
error:
  clipdb__free(w);
  return status;
}

/* conv (OIHW, no bias) + BatchNorm named `<conv>.weight`, `<bn>.{weight,bias,running_mean,running_var}` */
static clipdb_status load_conv_bn(loader *ld, clipdb__conv2d *cv, int64_t cin, int64_t cout, int64_t k,
                                  int64_t stride, int winograd, const char *conv, const char *bn) {
  clipdb_status status;
  float *w = NULL, *g = NULL, *b = NULL, *mu = NULL, *var = NULL;
  FETCH(&w, (cout, cin, k, k), "%s.weight", conv);
  const clipdb__weight_dtype dt = fetched_dtype(ld);
  FETCH(&g, (cout), "%s.weight", bn);
  FETCH(&b, (cout), "%s.bias", bn);
  FETCH(&mu, (cout), "%s.running_mean", bn);
  FETCH(&var, (cout), "%s.running_var", bn);
  for (int64_t i = 0; i < cout; i++)
    if (!(var[i] >= 0.0f)) {
      status = clipdb__error(ld->err, CLIPDB_STATUS_BAD_MODEL,
                             "failed to load model: tensor %s.running_var has a negative or NaN entry", bn);
      goto error;
    }
  clipdb__batchnorm bnp = {g, b, mu, var, 1e-5f};
  CHECK(clipdb__conv2d_init_ex(cv, dt, (size_t)cin, (size_t)cout, (size_t)k, (size_t)stride,
                               (size_t)(k / 2), w, NULL, &bnp, winograd, conv, ld->err));
error:
  clipdb__free(w);
  clipdb__free(g);
  clipdb__free(b);
  clipdb__free(mu);
  clipdb__free(var);
  return status;
}

#define MAX2(a, b) ((a) > (b) ? (a) : (b))

/* Which 3×3 convolutions run as Winograd F(2×2, 3×3) (src/nn/ops.h): those whose maps are at
 * least this wide. Narrower maps are the deep layers (RN50's last stage: 7×7, 512 channels),
 * where the weights, 16/9 larger as Winograd's, dominate and the tiles pad 7 to 8. */
#define WINOGRAD_MIN_SIDE 8
#define WINOGRAD_AT(side) ((side) >= WINOGRAD_MIN_SIDE)

static clipdb_status load_resnet(loader *ld, clipdb_model_t *m) {
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  const clipdb_model_config *c = &m->cfg;
  if (ld->hf)
    return clipdb__error(ld->err, CLIPDB_STATUS_UNSUPPORTED,
                         "failed to load model: Hugging Face CLIPModel has no ResNet vision tower");
  int64_t w = c->vision_width, R = c->image_resolution;
  char a[128], b[128];
  size_t act = 0, side = (size_t)R / 2;
  CHECK(load_conv_bn(ld, &m->stem[0], 3, w / 2, 3, 2, 0, "visual.conv1", "visual.bn1"));
  CHECK(load_conv_bn(ld, &m->stem[1], w / 2, w / 2, 3, 1, WINOGRAD_AT(side), "visual.conv2", "visual.bn2"));
  CHECK(load_conv_bn(ld, &m->stem[2], w / 2, w, 3, 1, WINOGRAD_AT(side), "visual.conv3", "visual.bn3"));
  act = MAX2(act, (size_t)R * R * 3);
  act = MAX2(act, side * side * (size_t)w);
  side /= 2; /* avgpool 2 */
  int total = 0;
  for (int s = 0; s < 4; s++) total += c->vision_layers[s];
  m->blocks = clipdb__calloc((size_t)(total > 0 ? total : 1), sizeof *m->blocks);
  m->blocks_cap = total;
  if (m->blocks == NULL)
    return clipdb__error(ld->err, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %d blocks", total);
  int64_t inplanes = w;
  for (int s = 0; s < 4; s++) {
    int64_t planes = w << s;
    for (int j = 0; j < c->vision_layers[s]; j++) {
      clipdb__bottleneck *bl = &m->blocks[m->n_blocks];
      int stride = (j == 0 && s > 0) ? 2 : 1;
      bl->stride = stride;
      snprintf(a, sizeof a, "visual.layer%d.%d.conv1", s + 1, j);
      snprintf(b, sizeof b, "visual.layer%d.%d.bn1", s + 1, j);
      CHECK(load_conv_bn(ld, &bl->conv1, inplanes, planes, 1, 1, 0, a, b));
      snprintf(a, sizeof a, "visual.layer%d.%d.conv2", s + 1, j);
      snprintf(b, sizeof b, "visual.layer%d.%d.bn2", s + 1, j);
      CHECK(load_conv_bn(ld, &bl->conv2, planes, planes, 3, 1, WINOGRAD_AT(side), a, b));
      snprintf(a, sizeof a, "visual.layer%d.%d.conv3", s + 1, j);
      snprintf(b, sizeof b, "visual.layer%d.%d.bn3", s + 1, j);
      CHECK(load_conv_bn(ld, &bl->conv3, planes, planes * 4, 1, 1, 0, a, b));
      if (stride > 1 || inplanes != planes * 4) {
        bl->has_down = 1;
        snprintf(a, sizeof a, "visual.layer%d.%d.downsample.0", s + 1, j);
        snprintf(b, sizeof b, "visual.layer%d.%d.downsample.1", s + 1, j);
        CHECK(load_conv_bn(ld, &bl->down, inplanes, planes * 4, 1, 1, 0, a, b));
      }
      m->n_blocks++;
      act = MAX2(act, side * side * (size_t)MAX2(inplanes, planes * 4));
      side /= (size_t)stride;
      inplanes = planes * 4;
    }
    m->stage_end[s] = m->n_blocks;
  }
  int64_t C = w * 32, S = R / 32, E = c->embed_dim;
  m->ap_channels = (int32_t)C;
  FETCH(&m->ap_pos, (S * S + 1, C), "visual.attnpool.positional_embedding");
  static const char *names[3] = {"q", "k", "v"};
  clipdb__linear *dst[3] = {&m->ap_q, &m->ap_k, &m->ap_v};
  for (int i = 0; i < 3; i++) {
    snprintf(a, sizeof a, "visual.attnpool.%s_proj.weight", names[i]);
    snprintf(b, sizeof b, "visual.attnpool.%s_proj.bias", names[i]);
    CHECK(load_linear(ld, dst[i], C, C, a, b));
  }
  CHECK(load_linear(ld, &m->ap_c, E, C, "visual.attnpool.c_proj.weight", "visual.attnpool.c_proj.bias"));
  act = MAX2(act, (size_t)(S * S + 1) * (size_t)C);
  m->rn_act_floats = act;
error:
  return status;
}

/* ---- weights held -------------------------------------------------------------------------- */

static size_t transformer_bytes(const clipdb__transformer *t) {
  size_t b = 0;
  for (int i = 0; t->blocks != NULL && i < t->layers; i++) {
    const clipdb__block *bl = &t->blocks[i];
    b += clipdb__linear_bytes(&bl->qkv) + clipdb__linear_bytes(&bl->out) +
         clipdb__linear_bytes(&bl->fc) + clipdb__linear_bytes(&bl->proj) +
         4 * (size_t)t->width * sizeof(float); /* two layer norms */
  }
  return b;
}

static int linear_is_q8(const clipdb__linear *l) { return l->q8 != NULL; }

/* m->weight_bytes and m->int8 from what was loaded. */
static void count_weights(clipdb_model_t *m) {
  const clipdb_model_config *c = &m->cfg;
  size_t b = 0;
  if (m->has_text) {
    const size_t W = (size_t)c->transformer_width;
    b += m->token_q8 != NULL ? (size_t)c->vocab_size * (W + sizeof(float))
                             : (size_t)c->vocab_size * W * sizeof(float);
    b += (size_t)c->context_length * W * sizeof(float) + 2 * W * sizeof(float);
    b += transformer_bytes(&m->text) + clipdb__linear_bytes(&m->text_proj);
    m->int8 |= m->token_q8 != NULL || linear_is_q8(&m->text_proj) ||
               (m->text.blocks != NULL && m->text.layers > 0 && linear_is_q8(&m->text.blocks[0].fc));
  }
  if (m->has_vision && c->vision_type == CLIPDB_VISION_VIT) {
    const size_t W = (size_t)c->vision_width, G = (size_t)(c->image_resolution / c->vision_patch_size);
    b += clipdb__linear_bytes(&m->patch.gemm) + (W + (G * G + 1) * W + 4 * W) * sizeof(float);
    b += transformer_bytes(&m->vit) + clipdb__linear_bytes(&m->vis_proj);
    m->int8 |= linear_is_q8(&m->patch.gemm) || linear_is_q8(&m->vis_proj);
  } else if (m->has_vision) {
    for (int i = 0; i < 3; i++) b += clipdb__conv2d_bytes(&m->stem[i]);
    for (int i = 0; i < m->n_blocks; i++)
      b += clipdb__conv2d_bytes(&m->blocks[i].conv1) + clipdb__conv2d_bytes(&m->blocks[i].conv2) +
           clipdb__conv2d_bytes(&m->blocks[i].conv3) + clipdb__conv2d_bytes(&m->blocks[i].down);
    const size_t C = (size_t)m->ap_channels, S = (size_t)(c->image_resolution / 32);
    b += (S * S + 1) * C * sizeof(float) + clipdb__linear_bytes(&m->ap_q) + clipdb__linear_bytes(&m->ap_k) +
         clipdb__linear_bytes(&m->ap_v) + clipdb__linear_bytes(&m->ap_c);
    m->int8 |= linear_is_q8(&m->stem[0].gemm) || linear_is_q8(&m->ap_c);
  }
  m->weight_bytes = b;
}

/* ---- entry points -------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

clipdb_status clipdb__model_load(const clipdb_file *files, size_t n_files,
                                 const clipdb_model_params *params, clipdb_model_t *m) {
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  loader ld;
  memset(&ld, 0, sizeof ld);
  ld.err = m->err;
  ld.ln_eps = 1e-5f;
  for (size_t i = 0; i < n_files; i++) {
    const char *name = files[i].name ? files[i].name : "";
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (ends_with(base, ".safetensors")) {
      if (ld.n_st == MAX_FILES) {
        status = clipdb__error(m->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                               "failed to load model: more than %d safetensors files", MAX_FILES);
        goto error;
      }
      if (files[i].data == NULL && files[i].read != NULL)
        status = clipdb__safetensors_open_reader(files[i].read, files[i].user, files[i].size,
                                                 m->err, &ld.st[ld.n_st]);
      else
        status = clipdb__safetensors_open(files[i].data, files[i].size, m->err, &ld.st[ld.n_st]);
      if (status == CLIPDB_STATUS_SUCCESS) ld.st[ld.n_st]->source_name = base;
      if (status != CLIPDB_STATUS_SUCCESS) {
        char inner[CLIPDB__ERROR_SIZE];
        memcpy(inner, m->err, sizeof inner);
        status = clipdb__error(m->err, status, "%s (%s)", inner, base);
        goto error;
      }
      ld.n_st++;
    } else if (strcmp(base, "config.json") == 0) {
      ld.config_json = files[i].data;
      ld.config_len = files[i].size;
      if (files[i].data == NULL && files[i].read != NULL && files[i].size > 0) {
        /* small: read whole (the JSON parser wants it in memory) */
        if (files[i].size > ((size_t)64 << 20)) {
          status = clipdb__error(m->err, CLIPDB_STATUS_BAD_MODEL,
                                 "failed to load model: config.json is %zu bytes (at most 64 MiB)",
                                 files[i].size);
          goto error;
        }
        clipdb__free(ld.config_owned);
        ld.config_owned = clipdb__malloc(files[i].size);
        if (ld.config_owned == NULL) {
          status = clipdb__error(m->err, CLIPDB_STATUS_OUT_OF_MEMORY,
                                 "failed to allocate %zu bytes for config.json", files[i].size);
          goto error;
        }
        if (files[i].read(files[i].user, 0, ld.config_owned, files[i].size) != 0) {
          status = clipdb__error(m->err, CLIPDB_STATUS_BAD_MODEL,
                                 "failed to read config.json: reader failed at bytes [0, %zu)",
                                 files[i].size);
          goto error;
        }
        ld.config_json = ld.config_owned;
      }
    }
    /* other files (tokenizer, preprocessor config) are not the model's business */
  }
  if (ld.n_st == 0) {
    status = clipdb__error(m->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                           "failed to load model: no *.safetensors file among the %zu given", n_files);
    goto error;
  }
  CHECK(check_scheme(&ld));
  ld.hf = find(&ld, tensor_names[TN_TOKEN_EMBEDDING][1]) != NULL ||
          find(&ld, tensor_names[TN_PATCH][1]) != NULL;
  CHECK(resolve_config(&ld, params, m));
  m->ln_eps = ld.ln_eps;
  if (m->has_text) CHECK(load_text(&ld, m));
  if (m->has_vision) {
    if (m->cfg.vision_type == CLIPDB_VISION_VIT) CHECK(load_vit(&ld, m));
    else CHECK(load_resnet(&ld, m));
  }
  count_weights(m);
  const clipdb__st_tensor *ls = find(&ld, "logit_scale");
  if (ls != NULL) {
    float *v = NULL;
    int64_t none[1] = {0};
    CHECK(fetch(&ld, &v, 0, none, "logit_scale"));
    m->cfg.logit_scale = v[0];
    clipdb__free(v);
  } else {
    m->cfg.logit_scale = logf(1.0f / 0.07f);
    clipdb__log(CLIPDB_LOG_LEVEL_WARN, "model has no logit_scale; using ln(1/0.07)");
  }
error:
  for (int i = 0; i < ld.n_st; i++) clipdb__safetensors_free(ld.st[i]);
  clipdb__free(ld.config_owned);
  return status;
}

static void free_ln(clipdb__ln *ln) {
  clipdb__free(ln->gamma);
  clipdb__free(ln->beta);
}

static void free_transformer(clipdb__transformer *t) {
  if (t->blocks == NULL) return;
  for (int i = 0; i < t->layers; i++) {
    clipdb__block *b = &t->blocks[i];
    free_ln(&b->ln1);
    free_ln(&b->ln2);
    clipdb__linear_free(&b->qkv);
    clipdb__linear_free(&b->out);
    clipdb__linear_free(&b->fc);
    clipdb__linear_free(&b->proj);
  }
  clipdb__free(t->blocks);
}

void clipdb__model_release(clipdb_model_t *m) {
  clipdb__free(m->token_embedding);
  clipdb__free(m->token_q8);
  clipdb__free(m->token_scale);
  clipdb__free(m->text_pos);
  free_transformer(&m->text);
  free_ln(&m->ln_final);
  clipdb__linear_free(&m->text_proj);
  clipdb__conv2d_free(&m->patch);
  clipdb__free(m->class_embedding);
  clipdb__free(m->vis_pos);
  free_ln(&m->ln_pre);
  free_ln(&m->ln_post);
  free_transformer(&m->vit);
  clipdb__linear_free(&m->vis_proj);
  for (int i = 0; i < 3; i++) clipdb__conv2d_free(&m->stem[i]);
  if (m->blocks) {
    for (int i = 0; i < m->blocks_cap; i++) { /* includes a block that failed half-way */
      clipdb__conv2d_free(&m->blocks[i].conv1);
      clipdb__conv2d_free(&m->blocks[i].conv2);
      clipdb__conv2d_free(&m->blocks[i].conv3);
      clipdb__conv2d_free(&m->blocks[i].down);
    }
  }
  clipdb__free(m->blocks);
  clipdb__free(m->ap_pos);
  clipdb__linear_free(&m->ap_q);
  clipdb__linear_free(&m->ap_k);
  clipdb__linear_free(&m->ap_v);
  clipdb__linear_free(&m->ap_c);
}
