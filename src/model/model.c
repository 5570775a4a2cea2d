/* Public model/session API (include/clipdb.h, "Models" and "Sessions"). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model-impl.h"
#include "../nn/threads.h"

clipdb_model_params clipdb_model_default_params(void) {
  clipdb_model_params p;
  memset(&p, 0, sizeof p);
  p.n_threads = 0;
  p.load_vision = 1;
  p.load_text = 1;
  return p;
}

clipdb_status clipdb_model_init_from_files(const clipdb_file *files, size_t n_files,
                                           const clipdb_model_params *params,
                                           clipdb_model_t **out) {
  if (out == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to load model: out is NULL");
  *out = NULL;
  if (files == NULL || n_files == 0)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to load model: no files given");
  for (size_t i = 0; i < n_files; i++)
    if (files[i].data == NULL && files[i].read == NULL && files[i].size != 0)
      return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                           "failed to load model: file %zu (%s) has neither data nor a reader", i,
                           files[i].name ? files[i].name : "unnamed");
  clipdb_model_params p = params ? *params : clipdb_model_default_params();
  if (p.n_threads < 0 || p.n_threads > CLIPDB__MAX_THREADS)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to load model: n_threads is %d (0 to %d allowed)", (int)p.n_threads,
                         CLIPDB__MAX_THREADS);
  clipdb_model_t *m = clipdb__calloc(1, sizeof *m);
  if (m == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %zu bytes for a model", sizeof *m);
  clipdb_status status = clipdb__model_load(files, n_files, &p, m);
  if (status == CLIPDB_STATUS_SUCCESS && p.n_threads > 1) {
    m->threadpool = clipdb__threadpool_create((size_t)p.n_threads);
#if defined(CLIPDB_HAVE_PTHREADPOOL)
    if (m->threadpool == NULL)
      status = clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY,
                             "failed to load model: cannot start %d compute threads", (int)p.n_threads);
#endif
  }
  if (status != CLIPDB_STATUS_SUCCESS) {
    clipdb__model_release(m);
    clipdb__free(m);
    return status;
  }
  *out = m;
  return CLIPDB_STATUS_SUCCESS;
}

void clipdb_model_free(clipdb_model_t *model) {
  if (model == NULL) return;
  clipdb__threadpool_destroy(model->threadpool);
  clipdb__model_release(model);
  clipdb__free(model);
}

clipdb_status clipdb_model_get_config(const clipdb_model_t *model, clipdb_model_config *out) {
  if (model == NULL || out == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to get model config: NULL argument");
  *out = model->cfg;
  return CLIPDB_STATUS_SUCCESS;
}

int32_t clipdb_model_config_json(const clipdb_model_t *model, char *buf, size_t size) {
  if (model == NULL) return -1;
  const clipdb_model_config *c = &model->cfg;
  static const char *types[] = {"none", "vit", "modified_resnet"};
  char tmp[1024];
  int n = snprintf(
      tmp, sizeof tmp,
      "{\"embed_dim\":%d,\"image_resolution\":%d,\"vision_type\":\"%s\",\"vision_layers\":",
      c->embed_dim, c->image_resolution, types[c->vision_type >= 0 && c->vision_type <= 2 ? c->vision_type : 0]);
  if (c->vision_type == CLIPDB_VISION_RESNET)
    n += snprintf(tmp + n, sizeof tmp - (size_t)n, "[%d,%d,%d,%d]", c->vision_layers[0],
                  c->vision_layers[1], c->vision_layers[2], c->vision_layers[3]);
  else
    n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%d", c->vision_layers[0]);
  n += snprintf(tmp + n, sizeof tmp - (size_t)n,
                ",\"vision_width\":%d,\"vision_patch_size\":", c->vision_width);
  if (c->vision_type == CLIPDB_VISION_VIT)
    n += snprintf(tmp + n, sizeof tmp - (size_t)n, "%d", c->vision_patch_size);
  else
    n += snprintf(tmp + n, sizeof tmp - (size_t)n, "null");
  n += snprintf(tmp + n, sizeof tmp - (size_t)n,
                ",\"vision_heads\":%d,\"context_length\":%d,\"vocab_size\":%d,"
                "\"transformer_width\":%d,\"transformer_heads\":%d,\"transformer_layers\":%d,"
                "\"logit_scale\":%.9g,\"image_mean\":[%.9g,%.9g,%.9g],\"image_std\":[%.9g,%.9g,%.9g],"
                "\"has_vision\":%s,\"has_text\":%s,\"backend\":\"%s\",\"weights\":\"%s\","
                "\"weight_bytes\":%zu,\"threads\":%zu}",
                c->vision_heads, c->context_length, c->vocab_size, c->transformer_width,
                c->transformer_heads, c->transformer_layers, (double)c->logit_scale,
                (double)c->image_mean[0], (double)c->image_mean[1], (double)c->image_mean[2],
                (double)c->image_std[0], (double)c->image_std[1], (double)c->image_std[2],
                model->has_vision ? "true" : "false", model->has_text ? "true" : "false",
                clipdb_backend_name(), model->int8 ? "int8" : "float32", model->weight_bytes,
                clipdb__threadpool_threads(model->threadpool));
  if (buf != NULL && size > 0) snprintf(buf, size, "%s", tmp);
  return n;
}

const char *clipdb_model_last_error(const clipdb_model_t *model) {
  return model ? model->err : "";
}

clipdb_status clipdb_session_init(const clipdb_model_t *model, clipdb_session_t **out) {
  if (out == NULL || model == NULL) {
    if (out) *out = NULL;
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to create session: NULL argument");
  }
  clipdb_session_t *s = clipdb__calloc(1, sizeof *s);
  if (s == NULL)
    return clipdb__error(NULL, CLIPDB_STATUS_OUT_OF_MEMORY, "failed to allocate %zu bytes for a session", sizeof *s);
  s->model = model;
  *out = s;
  return CLIPDB_STATUS_SUCCESS;
}

void clipdb_session_free(clipdb_session_t *session) {
  if (session == NULL) return;
  for (int i = 0; i < CLIPDB__SESSION_SLOTS; i++) clipdb__free(session->buf[i]);
  clipdb__free(session);
}

const char *clipdb_session_last_error(const clipdb_session_t *session) {
  return session ? session->err : "";
}

clipdb_status clipdb_image_embed(clipdb_session_t *session, const float *pixels, size_t n, float *out) {
  if (session == NULL || pixels == NULL || out == NULL || n == 0)
    return clipdb__error(session ? session->err : NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed image: %s", n == 0 ? "n is 0" : "NULL argument");
  const clipdb_model_t *m = session->model;
  if (!m->has_vision)
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_STATE,
                         "failed to embed image: the model has no vision tower loaded");
  size_t R = (size_t)m->cfg.image_resolution, E = (size_t)m->cfg.embed_dim;
  void *prev = clipdb__threadpool_swap(m->threadpool);
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  for (size_t i = 0; i < n && status == CLIPDB_STATUS_SUCCESS; i++)
    status = clipdb__encode_image(session, pixels + i * 3 * R * R, out + i * E);
  clipdb__threadpool_swap(prev);
  return status;
}

clipdb_status clipdb_text_embed(clipdb_session_t *session, const int32_t *tokens, size_t n_tokens,
                                float *out) {
  if (session == NULL || tokens == NULL || out == NULL)
    return clipdb__error(session ? session->err : NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed text: NULL argument");
  const clipdb_model_t *m = session->model;
  if (!m->has_text)
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_STATE,
                         "failed to embed text: the model has no text tower loaded");
  if (n_tokens == 0 || n_tokens > (size_t)m->cfg.context_length)
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed text: %zu tokens (1 to context_length %d allowed)",
                         n_tokens, (int)m->cfg.context_length);
  void *prev = clipdb__threadpool_swap(m->threadpool);
  clipdb_status status = clipdb__encode_text(session, tokens, n_tokens, out);
  clipdb__threadpool_swap(prev);
  return status;
}

clipdb_status clipdb_text_embed_batch(clipdb_session_t *session, const int32_t *tokens,
                                      size_t n_texts, size_t row_len, float *out) {
  if (session == NULL || tokens == NULL || out == NULL)
    return clipdb__error(session ? session->err : NULL, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed texts: NULL argument");
  const clipdb_model_t *m = session->model;
  if (!m->has_text)
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_STATE,
                         "failed to embed texts: the model has no text tower loaded");
  if (n_texts == 0)
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed texts: no texts (n_texts is 0)");
  if (row_len == 0 || row_len > (size_t)m->cfg.context_length)
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed texts: rows of %zu tokens (1 to context_length %d allowed)",
                         row_len, (int)m->cfg.context_length);
  if (n_texts > SIZE_MAX / row_len / sizeof(int32_t))
    return clipdb__error(session->err, CLIPDB_STATUS_INVALID_ARGUMENT,
                         "failed to embed texts: %zu texts is too many", n_texts);
  void *prev = clipdb__threadpool_swap(m->threadpool);
  clipdb_status status = clipdb__encode_text_batch(session, tokens, n_texts, row_len, out);
  clipdb__threadpool_swap(prev);
  return status;
}

clipdb_status clipdb_embedding_normalize(float *v, size_t n) {
  if (v == NULL || n == 0)
    return clipdb__error(NULL, CLIPDB_STATUS_INVALID_ARGUMENT, "failed to normalize embedding: %s",
                         v == NULL ? "NULL vector" : "length 0");
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) ss += (double)v[i] * (double)v[i];
  if (!(ss > 0.0) || !isfinite(ss))
    return clipdb__error(NULL, CLIPDB_STATUS_BAD_VECTOR,
                         "failed to normalize embedding: its norm is %s", ss == 0.0 ? "0" : "not finite");
  float inv = (float)(1.0 / sqrt(ss));
  for (size_t i = 0; i < n; i++) v[i] *= inv;
  return CLIPDB_STATUS_SUCCESS;
}
