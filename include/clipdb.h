/*
 * clipdb.h — the public C API of clipdb: OpenAI CLIP image and text encoders, the CLIP
 * tokenizer, the official image preprocessing, and an exact cosine top-k vector index.
 *
 * Everything here works on memory buffers (or caller-supplied read callbacks, see
 * clipdb_file); the library never opens files itself, never blocks,
 * never prints. It is the same API in the native build and in the WebAssembly build.
 *
 * Usage (error handling shortened):
 *
 *     clipdb_model_t *model = NULL;
 *     clipdb_file files[] = {{"model.safetensors", bytes, n_bytes}};
 *     clipdb_model_params mp = clipdb_model_default_params();
 *     if (clipdb_model_init_from_files(files, 1, &mp, &model) != CLIPDB_STATUS_SUCCESS)
 *       fprintf(stderr, "%s\n", clipdb_last_error());
 *     clipdb_session_t *s = NULL;
 *     clipdb_session_init(model, &s);
 *     float emb[1024];                             // >= config.embed_dim
 *     clipdb_image_embed(s, pixels_chw, 1, emb);   // pixels: float32 [3,R,R], preprocessed
 *     clipdb_session_free(s);
 *     clipdb_model_free(model);
 *
 * Threading: a model is immutable after init and may be shared by any number of threads;
 * a session, a tokenizer under construction and an index must be used by one thread at a
 * time. Error messages are kept per handle and per thread (clipdb_last_error()).
 *
 * Ownership: the caller owns every buffer it passes in; the library keeps no pointer to it
 * after returning (weights are copied and packed at load). What the library allocates and
 * returns, its matching *_free releases.
 *
 * Reference: "Learning Transferable Visual Models From Natural Language Supervision"
 * (Radford et al., 2021) and the official implementation github.com/openai/CLIP at commit
 * d05afc4 (clip/model.py, clip/simple_tokenizer.py, clip/clip.py `_transform`).
 */
#ifndef CLIPDB_H
#define CLIPDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__EMSCRIPTEN__)
#define CLIPDB_API __attribute__((used, visibility("default")))
#elif defined(__GNUC__)
#define CLIPDB_API __attribute__((visibility("default")))
#else
#define CLIPDB_API
#endif

#define CLIPDB_VERSION_MAJOR 0
#define CLIPDB_VERSION_MINOR 1
#define CLIPDB_VERSION_PATCH 0

/* ------------------------------------------------------------------------------------------
 * Status codes and errors
 * ---------------------------------------------------------------------------------------- */

/** Every fallible function returns one of these. Values are stable; new ones go at the end. */
typedef enum clipdb_status {
  CLIPDB_STATUS_SUCCESS = 0,
  CLIPDB_STATUS_INVALID_ARGUMENT = 1, /**< NULL pointer, bad size, out-of-range option */
  CLIPDB_STATUS_INVALID_STATE = 2,    /**< e.g. the model has no text tower */
  CLIPDB_STATUS_OUT_OF_MEMORY = 3,    /**< an allocation failed; message names the byte count */
  CLIPDB_STATUS_BAD_MODEL = 4,        /**< malformed safetensors/config, missing or misshapen tensor */
  CLIPDB_STATUS_BAD_IMAGE = 5,        /**< corrupt, truncated or empty image file */
  CLIPDB_STATUS_UNSUPPORTED = 6,      /**< valid input that clipdb does not handle (e.g. WebP) */
  CLIPDB_STATUS_IO = 7,               /**< the CLI and JS layers; clipdb_model_quantize: its writer failed */
  CLIPDB_STATUS_ABORTED = 8,          /**< cancelled by the caller */
  CLIPDB_STATUS_TEXT_TOO_LONG = 9,    /**< more tokens than the context length, truncation off */
  CLIPDB_STATUS_BAD_VOCAB = 10,       /**< malformed tokenizer files */
  CLIPDB_STATUS_DIMENSION_MISMATCH = 11, /**< vector length differs from the index dimension */
  CLIPDB_STATUS_NOT_FOUND = 12,       /**< unknown key */
  CLIPDB_STATUS_IMAGE_TOO_LARGE = 13, /**< width*height above the configured pixel limit */
  CLIPDB_STATUS_BAD_VECTOR = 14,      /**< NaN, Inf or all-zero vector */
} clipdb_status;

/** Static English name of a status, e.g. "BAD_MODEL". Never NULL. */
CLIPDB_API const char *clipdb_status_string(clipdb_status status);

/**
 * The message of the most recent failure on the calling thread, shaped like
 * "failed to <verb> <object>: <reason>", or "" if none. Valid until the next failing call on
 * this thread. Functions that take a handle also keep the message on that handle.
 */
CLIPDB_API const char *clipdb_last_error(void);

/** Log levels for clipdb_log_set. */
typedef enum clipdb_log_level {
  CLIPDB_LOG_LEVEL_ERROR = 0,
  CLIPDB_LOG_LEVEL_WARN = 1,
  CLIPDB_LOG_LEVEL_INFO = 2,
  CLIPDB_LOG_LEVEL_DEBUG = 3,
} clipdb_log_level;

typedef void (*clipdb_log_callback)(clipdb_log_level level, const char *message, void *user_data);

/** Route library log messages to `callback` (NULL: discard, the default). Process-wide. */
CLIPDB_API void clipdb_log_set(clipdb_log_callback callback, void *user_data);

/** Bytes currently allocated by the library (all handles, all threads). For leak checks. */
CLIPDB_API size_t clipdb_allocated_bytes(void);

/**
 * Name of the compute backend models are loaded on now (a static string, never NULL): the
 * build's own, "scalar", "simd" (our kernels: wasm SIMD128, native x86 AVX/AVX2/AVX-512) or
 * "xnnpack" (XNNPACK operators, native builds configured for it), or natively the build's other
 * backend named by the environment variable CLIPDB_BACKEND ("simd" in an xnnpack build).
 */
CLIPDB_API const char *clipdb_backend_name(void);

/* ------------------------------------------------------------------------------------------
 * Models
 * ---------------------------------------------------------------------------------------- */

/**
 * Reads `n` bytes at byte `offset` of a file into `dst` (caller = the library; `dst` has room
 * for `n` bytes). Returns 0 once all `n` bytes are in `dst`, nonzero on any failure (a short
 * read is a failure). `user` is clipdb_file.user, passed through untouched.
 */
typedef int (*clipdb_file_read_fn)(void *user, uint64_t offset, void *dst, size_t n);

/**
 * A named input file: `name` is the file's base name as published (see model init). Either
 * in memory (`data` non-NULL) or pulled through a reader (`data` NULL, `read` non-NULL);
 * initialise unused fields to zero (`{name, data, size}` does).
 */
typedef struct clipdb_file {
  const char *name; /**< e.g. "model.safetensors", "config.json", "open_clip_model.safetensors" */
  const void *data; /**< borrowed; not kept after the call returns */
  size_t size;      /**< bytes (also with a reader: the file's total size) */
  /**
   * Optional streaming reader, used only when `data` is NULL; only clipdb_model_init_from_files
   * accepts one (the tokenizer needs `data`). The library calls it only during that call, from
   * the calling thread, with `offset + n <= size`; it never keeps `read` or `user` afterwards.
   * A nonzero return fails the load with BAD_MODEL naming the file and the byte range.
   */
  clipdb_file_read_fn read;
  void *user; /**< passed to `read`; owned by the caller */
} clipdb_file;

typedef enum clipdb_vision_type {
  CLIPDB_VISION_NONE = 0,   /**< text tower only */
  CLIPDB_VISION_VIT = 1,    /**< VisionTransformer (ViT-B/32, B/16, L/14, ...) */
  CLIPDB_VISION_RESNET = 2, /**< ModifiedResNet with attention pooling (RN50, RN101, ...) */
} clipdb_vision_type;

/**
 * The resolved architecture. Field names follow the official CLIP constructor
 * (clip/model.py `CLIP.__init__`), plus the values it derives.
 */
typedef struct clipdb_model_config {
  int32_t embed_dim;            /**< joint embedding size E */
  int32_t image_resolution;     /**< input side R in pixels (0 without a vision tower) */
  int32_t vision_type;          /**< clipdb_vision_type */
  int32_t vision_layers[4];     /**< ViT: [layers,0,0,0]; ResNet: blocks per stage */
  int32_t vision_width;         /**< ViT width, or ResNet stem width */
  int32_t vision_patch_size;    /**< ViT only, else 0 */
  int32_t vision_heads;         /**< ViT: width/64; ResNet: width*32/64, unless config says */
  int32_t context_length;       /**< text positions (77 for OpenAI), 0 without a text tower */
  int32_t vocab_size;
  int32_t transformer_width;
  int32_t transformer_heads;
  int32_t transformer_layers;
  float logit_scale;            /**< stored value; logits use exp(logit_scale) */
  float image_mean[3];          /**< per-channel normalisation, RGB order */
  float image_std[3];
} clipdb_model_config;

typedef struct clipdb_model_params {
  int32_t n_threads; /**< compute threads for this model's embed calls, 0 to 256; 0 and 1 = the
                          calling thread only. Native builds with pthreadpool and the threaded
                          wasm module (clipdb-mt, Emscripten pthreads) split each large linear
                          layer by output columns and attention by heads over n_threads (results
                          identical to one thread); the single-threaded wasm module and builds
                          without pthreadpool use the calling thread. Concurrent calls on one
                          model share its pool (one call at a time). In the threaded wasm module
                          every model shares one pool, sized by the first, of at most the
                          module's Workers + 1 threads (config JSON "threads" says how many). */
  /* booleans last */
  uint8_t load_vision; /**< 1 (default): load the image tower if present */
  uint8_t load_text;   /**< 1 (default): load the text tower if present */
} clipdb_model_params;

/** Defaults: n_threads 0 (the calling thread), load_vision 1, load_text 1. */
CLIPDB_API clipdb_model_params clipdb_model_default_params(void);

typedef struct clipdb_model clipdb_model_t;

/**
 * Load a CLIP model from safetensors as published.
 *
 * `files`: one of
 *   - an OpenAI/open_clip state dict: one `*.safetensors` (names `visual.*`,
 *     `transformer.resblocks.*`, `token_embedding.weight`, ...); config from the
 *     `clip_config` JSON in `__metadata__`, else inferred from tensor shapes as
 *     clip/model.py `build_model` does;
 *   - a Hugging Face `CLIPModel` directory's `model.safetensors` plus its `config.json`.
 * Tensors may be F32, F16 or BF16; they are converted to float32 and packed at load.
 * Quantized files (written by clipdb_model_quantize, see "Quantized model files" below) load
 * through the same call: layers stored as I8 stay int8 (int8 GEMM with activations
 * quantized per row), everything else is float32 as above.
 *
 * Errors: INVALID_ARGUMENT (NULL/empty, n_threads outside 0..256), BAD_MODEL (bad header,
 * truncated data, unknown dtype, missing tensor, wrong shape — the message names the tensor;
 * for quantized files also: an unknown quantization scheme or version, an I8 tensor without
 * its `.scale` tensor, a scale tensor of the wrong shape or dtype or with a negative / NaN
 * entry), UNSUPPORTED (an int8 layer with more than 16256 inputs),
 * OUT_OF_MEMORY (also: the compute threads could not be started).
 * `params` may be NULL (defaults). Towers not present in the files, or switched off in
 * `params`, are absent: the matching embed function then returns INVALID_STATE.
 * Memory: about 4 bytes per parameter (packed float32), plus the token embedding table; for
 * an int8 file about 1 byte per int8 weight plus its float32 scales (the int8 token table
 * stays int8); the input buffers are not kept (the caller may free them on return).
 * Streaming: a `*.safetensors` file given by a reader (`data` NULL, `read` set) is never held
 * whole: the header is read once, then each tensor when it is needed (F32 data straight into
 * its float32 buffer; F16/BF16/I8 through one reusable scratch buffer, grown to the largest
 * tensor converted so far; an I8 token table straight into its own buffer), so the peak during
 * init is about the packed weights plus the largest layer as float32 (plus its bytes as stored
 * for F16/BF16/I8) instead of the packed weights plus the whole file. `config.json` through a reader is read whole (it is
 * small). Reader failures and a `size` shorter than the header promises are BAD_MODEL naming
 * the file (e.g. "failed to read model.safetensors: reader failed at bytes [off, off+n)").
 * On success `*out` owns a model to release with clipdb_model_free; on failure `*out` is NULL
 * and nothing is leaked.
 * Source: clip/model.py `build_model` (shape inference), transformers'
 * convert_clip_original_pytorch_to_hf.py (HF name mapping).
 */
CLIPDB_API clipdb_status clipdb_model_init_from_files(const clipdb_file *files, size_t n_files,
                                                      const clipdb_model_params *params,
                                                      clipdb_model_t **out);

/** Release a model (NULL is allowed). Sessions using it must be freed first. */
CLIPDB_API void clipdb_model_free(clipdb_model_t *model);

/** Copy the resolved configuration into `*out` (caller-owned). INVALID_ARGUMENT on NULL. */
CLIPDB_API clipdb_status clipdb_model_get_config(const clipdb_model_t *model,
                                                 clipdb_model_config *out);

/**
 * Write the resolved configuration as a JSON object (UTF-8, NUL-terminated) into `buf`.
 * Returns the length without the NUL; if it is >= `size`, the output was truncated (`buf`
 * may be NULL with `size` 0 to query the length); -1 if `model` is NULL. Keys: the
 * clipdb_model_config fields (vision_type "vit" | "modified_resnet" | "none",
 * vision_layers a number or a 4-array, vision_patch_size null for ResNet), plus has_vision,
 * has_text, backend, weights ("float32", or "int8" when the file's layers were stored int8)
 * and weight_bytes (bytes of weights the model holds: packed layers, embedding tables,
 * norms; scratch buffers of sessions not included), threads (compute threads its embed calls
 * use: 1 without a pool; may be fewer than n_threads asked for where threads could not start).
 */
CLIPDB_API int32_t clipdb_model_config_json(const clipdb_model_t *model, char *buf, size_t size);

/** Last error message recorded on this model, or "". Owned by the model. */
CLIPDB_API const char *clipdb_model_last_error(const clipdb_model_t *model);

/* ------------------------------------------------------------------------------------------
 * Quantized model files
 *
 * An int8 file is a safetensors file whose `__metadata__` holds
 *     "quantization": "int8_symmetric_per_channel", "quantization_version": "1"
 * (CLIPDB_QUANTIZATION_SCHEME / _VERSION; other keys such as clip_config are kept). In it,
 * every weight of a linear layer, convolution (the ViT patch embedding, the ResNet's
 * convolutions), projection and the token embedding table is stored as I8 `q` with an F32
 * tensor `<name>.scale` beside it; the float weight is q · scale, symmetric (no zero point),
 * q in [-127, 127], scale = max|w| / 127 over one output channel:
 *   - scale shape [d0, 1, ..., 1]: one scale per index of axis 0 (torch Linear [out, in],
 *     Conv2d [out, in, kh, kw], the token embedding's rows [vocab, width]);
 *   - scale shape [1, d1]: per column of a 2-D tensor (OpenAI's `text_projection` and
 *     `visual.proj`, stored [in, out]).
 * Rounding is half away from zero. Biases, layer norms, batch norms, positional and class
 * embeddings and logit_scale stay F32. An I8 tensor in a file without the scheme, or without
 * its scale, is BAD_MODEL naming the tensor.
 * ---------------------------------------------------------------------------------------- */

#define CLIPDB_QUANTIZATION_SCHEME "int8_symmetric_per_channel"
#define CLIPDB_QUANTIZATION_VERSION "1"

typedef enum clipdb_quantize_dtype {
  CLIPDB_QUANTIZE_INT8 = 1, /**< the int8 scheme above */
  CLIPDB_QUANTIZE_F16 = 2,  /**< every F32/BF16/F64 tensor as IEEE half (round to nearest even) */
} clipdb_quantize_dtype;

/** Output sink: write `size` bytes at the current end; return 0 on success (nonzero fails the
 * call with IO). `user` is passed through. */
typedef int (*clipdb_write_fn)(void *user, const void *data, size_t size);

/**
 * Rewrite one float CLIP safetensors file (OpenAI/open_clip names or a Hugging Face
 * CLIPModel's model.safetensors; F32, F16 or BF16) as an int8 or F16 file, written in order
 * through `write`. `in` may carry `data` or a streaming `read` (then only the header and one
 * tensor at a time are held: about 6 bytes per element of the largest converted tensor, plus
 * the stored size of the largest F16/BF16 one).
 * Tensors other than float weights are copied unchanged; metadata is kept, with the scheme
 * keys added for int8. The result loads with clipdb_model_init_from_files.
 * `*out_size` (may be NULL) receives the bytes written.
 * Errors: INVALID_ARGUMENT (NULL arguments, unknown dtype), BAD_MODEL (the input is not a
 * valid safetensors file, or is already quantized: the message names the tensor),
 * OUT_OF_MEMORY, IO (`write` failed).
 */
CLIPDB_API clipdb_status clipdb_model_quantize(const clipdb_file *in, clipdb_quantize_dtype dtype,
                                               clipdb_write_fn write, void *user,
                                               uint64_t *out_size);

/* ------------------------------------------------------------------------------------------
 * Sessions: scratch buffers for running a model
 * ---------------------------------------------------------------------------------------- */

typedef struct clipdb_session clipdb_session_t;

/**
 * Create a session (scratch memory) for `model`, which must outlive it. Scratch buffers are
 * allocated on the first embed call and reused (grown if a larger input needs it).
 * Several sessions may share one model, one per thread. Errors: INVALID_ARGUMENT,
 * OUT_OF_MEMORY. Release with clipdb_session_free (NULL allowed).
 */
CLIPDB_API clipdb_status clipdb_session_init(const clipdb_model_t *model, clipdb_session_t **out);
CLIPDB_API void clipdb_session_free(clipdb_session_t *session);
/** Last error message recorded on this session (embed failures), or "". Owned by the session. */
CLIPDB_API const char *clipdb_session_last_error(const clipdb_session_t *session);

/**
 * Image encoder: `model.encode_image` of the official code.
 * `pixels`: float32, `n` images of shape [3, R, R] (NCHW, RGB), already preprocessed
 * (clipdb_image_preprocess). `out`: float32 [n, embed_dim], NOT L2-normalised.
 * Errors: INVALID_ARGUMENT, INVALID_STATE (no vision tower), OUT_OF_MEMORY.
 * Matches the official float32 output within 1e-5 of max|ref| on the golden set (README).
 */
CLIPDB_API clipdb_status clipdb_image_embed(clipdb_session_t *session, const float *pixels,
                                            size_t n, float *out);

/**
 * Text encoder: `model.encode_text` of the official code.
 * `tokens`: int32 ids, `n_tokens` <= context_length, as clip.tokenize returns them: starting
 * with the start-of-text id, containing an end-of-text id (the largest id, pooled at its
 * first occurrence, as `argmax`); zero padding after it is optional and ignored. Only
 * positions up to the first end-of-text are computed (the causal mask makes the rest
 * irrelevant to the output). `out`: float32 [embed_dim], NOT L2-normalised.
 * Errors: INVALID_ARGUMENT (empty, too long, id >= vocab_size, negative id), INVALID_STATE.
 */
CLIPDB_API clipdb_status clipdb_text_embed(clipdb_session_t *session, const int32_t *tokens,
                                           size_t n_tokens, float *out);

/**
 * Text encoder on a batch: `model.encode_text` of the official code on clip.tokenize's
 * [n_texts, row_len] output. `tokens`: int32 [n_texts][row_len] (text t at tokens + t·row_len,
 * row_len <= context_length, zero padding after each end-of-text id optional). `out`: float32
 * [n_texts][embed_dim] in the input order, NOT L2-normalised.
 * Texts are sorted by pooled length (up to the first end-of-text) and run in groups of similar
 * length (the longest within a quarter, and at least 2 positions, of the shortest; at most 512
 * positions per group), so each linear layer reads its weights once per group rather than once
 * per text; a shorter text in a group is computed up to the group's length, which the causal
 * mask makes irrelevant to its output. Each embedding equals clipdb_text_embed's for that text
 * (bit for bit with the `simd` and `scalar` backends; the `xnnpack` backend may differ in the
 * last bits, since XNNPACK picks its kernel by batch size).
 * Errors: INVALID_ARGUMENT (n_texts or row_len 0, row_len > context_length, an id outside
 * [0, vocab_size): the message names the text and position), INVALID_STATE (no text tower),
 * OUT_OF_MEMORY. Scratch grows with the largest group (about 16 KB per position for ViT-B/32).
 */
CLIPDB_API clipdb_status clipdb_text_embed_batch(clipdb_session_t *session, const int32_t *tokens,
                                                 size_t n_texts, size_t row_len, float *out);

/** Scale `v` [n] in place to unit L2 norm. BAD_VECTOR if its norm is 0 or not finite. */
CLIPDB_API clipdb_status clipdb_embedding_normalize(float *v, size_t n);

/* ------------------------------------------------------------------------------------------
 * Tokenizer: clip.tokenize
 * ---------------------------------------------------------------------------------------- */

typedef struct clipdb_tokenizer clipdb_tokenizer_t;

/**
 * Create a tokenizer from OpenAI's `bpe_simple_vocab_16e6.txt.gz` format (gzip-compressed
 * or plain text: a header line, then merges in rank order; as clip/simple_tokenizer.py, at
 * most the first 48894 merges are used, and the vocabulary size follows from the merge
 * count, so smaller vocabularies in the same format work), or from Hugging Face files
 * ("vocab.json" + "merges.txt"). `files` are recognised by the base name of `name`: "*.gz"
 * or "*.txt" other than merges.txt = OpenAI format; "vocab.json" and "merges.txt" = HF
 * format. Gzip (RFC 1952) is recognised by its 1f 8b signature whatever the name: any
 * compression level, optional header fields, several members (concatenated); each member's
 * CRC-32 and length are checked. The data is copied; the buffers may be freed after the call.
 * Errors: INVALID_ARGUMENT, BAD_VOCAB (message names the file and line, or the gzip problem:
 * truncated, corrupt deflate data, CRC-32/length mismatch, ...), OUT_OF_MEMORY.
 * A tokenizer keeps a cache of BPE results: use it from one thread at a time.
 */
CLIPDB_API clipdb_status clipdb_tokenizer_init_from_files(const clipdb_file *files,
                                                          size_t n_files,
                                                          clipdb_tokenizer_t **out);
CLIPDB_API void clipdb_tokenizer_free(clipdb_tokenizer_t *tokenizer);
CLIPDB_API const char *clipdb_tokenizer_last_error(const clipdb_tokenizer_t *tokenizer);

/**
 * Vocabulary size (largest id + 1) and the start/end-of-text ids. OpenAI format: 512 + number
 * of merges + 2, with <|startoftext|> and <|endoftext|> the last two ids (49406, 49407 for
 * bpe_simple_vocab_16e6.txt.gz); HF format: taken from vocab.json. 0 / -1 for NULL.
 */
CLIPDB_API int32_t clipdb_tokenizer_vocab_size(const clipdb_tokenizer_t *tokenizer);
CLIPDB_API int32_t clipdb_tokenizer_sot(const clipdb_tokenizer_t *tokenizer);
CLIPDB_API int32_t clipdb_tokenizer_eot(const clipdb_tokenizer_t *tokenizer);

/**
 * clip.tokenize(text, context_length, truncate) for one UTF-8 string (invalid UTF-8 is
 * decoded with U+FFFD replacement, as Python's errors='replace').
 * `out`: int32 [context_length], written fully: [SOT, ids..., EOT, 0, 0, ...].
 * `out_n` (optional): number of non-padding ids written (SOT and EOT included).
 * Errors: TEXT_TOO_LONG when ids+2 > context_length and `truncate` is 0 (nothing useful in
 * `out`); with `truncate` = 1 the first context_length ids are kept and the last one is
 * replaced by EOT, as the official code does.
 */
CLIPDB_API clipdb_status clipdb_tokenize(clipdb_tokenizer_t *tokenizer, const char *text,
                                         size_t text_bytes, int32_t context_length,
                                         int32_t truncate, int32_t *out, int32_t *out_n);

/* ------------------------------------------------------------------------------------------
 * Images: decode + the official preprocessing (clip/clip.py `_transform`)
 * ---------------------------------------------------------------------------------------- */

/*
 * The official transform is Resize(R, BICUBIC) -> CenterCrop(R) -> convert("RGB") ->
 * ToTensor -> Normalize(mean, std) on a PIL image from PIL.Image.open (clip/clip.py
 * `_transform`, torchvision 0.14, Pillow 9.4). clipdb reproduces Pillow's arithmetic: the
 * short side goes to R and the long side to int(R * long / short); nothing is resampled when
 * the image already has that size; the resize runs in the mode Pillow opens the file in
 * (separable fixed-point bicubic with antialiasing, horizontal pass first; NEAREST for
 * palette and 1-bit images; premultiplied alpha for RGBA/LA; 32-bit integers for 16-bit
 * gray; CMYK converted to RGB after the resize); crop offsets round half to even; then
 * float32 x / 255 and (x - mean[c]) / std[c]. Lossless files give the reference tensor bit
 * for bit; JPEG is decoded by stb_image, whose IDCT differs from libjpeg-turbo's by at most a
 * few uint8 steps (see README "Images").
 */

typedef enum clipdb_exif_mode {
  CLIPDB_EXIF_IGNORE = 0, /**< as PIL.Image.open + the official transform (reference parity;
                               explicit opt-in) */
  CLIPDB_EXIF_APPLY = 1,  /**< as ImageOps.exif_transpose first: upright, as browsers draw it
                               (the default of clipdb_image_default_params) */
} clipdb_exif_mode;

typedef struct clipdb_image_params {
  int32_t resolution;   /**< output side R in pixels (the model's image_resolution), 1..8192, default 224 */
  float mean[3];        /**< RGB, default OpenAI CLIP's (0.48145466, 0.4578275, 0.40821073) */
  float std[3];         /**< RGB, non-zero, default OpenAI CLIP's (0.26862954, 0.26130258, 0.27577711) */
  uint64_t max_pixels;  /**< width*height limit, read from the file header before decoding
                             (decompression-bomb guard), default 178956970 (Pillow's error
                             threshold); sides are also limited to 65536 */
  int32_t exif;         /**< clipdb_exif_mode. Default APPLY, everywhere (C API, CLI, JS,
                             store, demo): rotate/flip by the JPEG EXIF orientation (APP1, both
                             byte orders) first, as PIL.ImageOps.exif_transpose, so encoded bytes
                             give what a browser draws (ImageData is already upright).
                             IGNORE gives the official pipeline's input exactly
                             (PIL.Image.open does not rotate): use it for reference parity */
} clipdb_image_params;

/** The defaults listed on clipdb_image_params. */
CLIPDB_API clipdb_image_params clipdb_image_default_params(void);

/** What was decoded, for diagnostics. */
typedef struct clipdb_image_info {
  int32_t width, height;   /**< as decoded, before EXIF orientation */
  int32_t orientation;     /**< EXIF orientation 1..8 (1 if absent) */
  char format[8];          /**< "PNG", "JPEG", "BMP", "GIF" */
  char mode[8];            /**< the PIL mode the official pipeline resizes in: "RGB", "L", "LA",
                                "RGBA", "P", "1", "I" (16-bit gray), "CMYK" */
} clipdb_image_info;

/**
 * Decode an encoded image and preprocess it exactly as the official pipeline does.
 * `data`: `size` bytes of JPEG (baseline, progressive; gray, RGB, CMYK/YCCK), PNG (1-16 bit;
 * gray, RGB, palette, gray+alpha, RGBA), BMP or GIF (first frame). Borrowed, not kept.
 * `out`: float32 [3, R, R] (CHW, RGB, normalised), R = params->resolution, caller-owned.
 * `info` (optional) receives format, mode, size and EXIF orientation.
 * EXIF: with the default params->exif (APPLY) a JPEG carrying an EXIF orientation is turned
 * upright first (PIL.ImageOps.exif_transpose), so it matches what a browser draws and what
 * clipdb_image_preprocess_pixels gets from an ImageData; IGNORE reproduces the
 * official pipeline's input exactly (PIL.Image.open does not rotate).
 * Memory: the decoded image plus about R x (rows the crop needs) x channels bytes, all freed
 * before returning.
 * Errors: INVALID_ARGUMENT (NULL, bad params), BAD_IMAGE (empty, corrupt or truncated; the
 * message carries stb_image's reason), UNSUPPORTED (WebP, AVIF, HEIC/HEIF, TIFF, JPEG 2000,
 * JPEG XL, PSD, 12-bit / lossless / arithmetic-coded JPEG; the message names the format),
 * IMAGE_TOO_LARGE (over max_pixels), OUT_OF_MEMORY. Message: clipdb_last_error().
 */
CLIPDB_API clipdb_status clipdb_image_preprocess(const void *data, size_t size,
                                                 const clipdb_image_params *params, float *out,
                                                 clipdb_image_info *info);

/**
 * Preprocess already-decoded 8-bit pixels (e.g. a browser ImageData, which the browser has
 * already turned upright; params->exif is not used): `channels` 1 (PIL mode L), 3 (RGB) or 4
 * (RGBA: resized premultiplied, alpha then dropped without compositing, as Pillow does),
 * `height` rows of `stride` >= width*channels bytes. Borrowed, not kept.
 * `out`: float32 [3, R, R] as for clipdb_image_preprocess.
 * Errors: INVALID_ARGUMENT, IMAGE_TOO_LARGE (width*height over max_pixels), OUT_OF_MEMORY.
 */
CLIPDB_API clipdb_status clipdb_image_preprocess_pixels(const uint8_t *pixels, int32_t width,
                                                        int32_t height, int32_t channels,
                                                        int32_t stride,
                                                        const clipdb_image_params *params,
                                                        float *out);

/* ------------------------------------------------------------------------------------------
 * Thumbnails: a small JPEG of an encoded image, for display (e.g. a photo grid)
 * ---------------------------------------------------------------------------------------- */

typedef struct clipdb_thumbnail_params {
  int32_t max_side;    /**< the longer side of the thumbnail in pixels, 16..4096, default 320;
                            an image whose longer side is already at most this keeps its size
                            (never upscaled) */
  int32_t quality;     /**< JPEG quality 1..100 (the usual IJG scale), default 80; chroma is
                            subsampled 2x2 up to 90, kept at full resolution above */
  uint64_t max_pixels; /**< width*height limit read from the file header before decoding, as
                            clipdb_image_params.max_pixels (default 178956970) */
  int32_t exif;        /**< clipdb_exif_mode, default APPLY: the thumbnail is upright as a
                            browser draws the photo (the JPEG written carries no EXIF, so
                            nothing rotates it again); IGNORE keeps the stored orientation */
} clipdb_thumbnail_params;

/** The defaults listed on clipdb_thumbnail_params. */
CLIPDB_API clipdb_thumbnail_params clipdb_thumbnail_default_params(void);

/** A JPEG written by clipdb_image_thumbnail. Release with clipdb_thumbnail_free. */
typedef struct clipdb_thumbnail {
  uint8_t *jpeg;         /**< `size` bytes of a baseline JFIF JPEG (3 components, YCbCr);
                              allocated and owned by the library */
  size_t size;           /**< bytes at `jpeg` */
  int32_t width, height; /**< thumbnail size in pixels, upright (after EXIF orientation) */
} clipdb_thumbnail;

/**
 * Decode an encoded image, shrink it and encode the result as a JPEG.
 * `data`: `size` bytes of any file clipdb_image_preprocess decodes (JPEG, PNG, BMP, GIF first
 * frame). Borrowed, not kept.
 * Size: the longer side becomes min(longer side, params->max_side) and the shorter side is
 * scaled by the same factor, rounded to the nearest pixel (at least 1): 4000x3000 -> 320x240,
 * 3000x4000 -> 240x320, 100x50 stays 100x50. Sides are those after EXIF orientation.
 * Resampling: area averaging (each output pixel is the mean of the input area it covers,
 * partial pixels weighted by their covered fraction), so large reductions do not alias.
 * Colour: gray images stay gray (written as a 3-component JPEG); alpha (PNG, BMP) is
 * composited on white; 16-bit gray is scaled to 8 bits; CMYK is converted to RGB.
 * `params` NULL = clipdb_thumbnail_default_params(). `info` (optional) receives format, mode,
 * stored size and EXIF orientation of the input, as for clipdb_image_preprocess.
 * On success `out` (caller-provided struct) holds a JPEG allocated by the library: release it
 * with clipdb_thumbnail_free. On failure `out` is zeroed and nothing is allocated.
 * Memory: the decoded image (width*height*channels bytes; 36 MB for a 12-MP RGB photo; stb's
 * decoder holds its component planes next to it while decoding) plus a few rows; the
 * thumbnail is oriented after shrinking, so no second full-size copy is made.
 * Errors: INVALID_ARGUMENT (`out` NULL, `data` NULL with size > 0, max_side outside 16..4096,
 * quality outside 1..100, exif neither IGNORE nor APPLY), BAD_IMAGE (empty, corrupt or
 * truncated), UNSUPPORTED (WebP, AVIF, HEIC, TIFF, ...; the message names the format),
 * IMAGE_TOO_LARGE (over max_pixels, checked before decoding), OUT_OF_MEMORY (the message
 * names the bytes). Message: clipdb_last_error().
 */
CLIPDB_API clipdb_status clipdb_image_thumbnail(const void *data, size_t size,
                                                const clipdb_thumbnail_params *params,
                                                clipdb_thumbnail *out, clipdb_image_info *info);

/** Release the JPEG of a thumbnail and zero the struct (NULL and a zeroed struct are allowed). */
CLIPDB_API void clipdb_thumbnail_free(clipdb_thumbnail *thumbnail);

/* ------------------------------------------------------------------------------------------
 * Vector index: exact cosine top-k over L2-normalised float32 vectors
 * ---------------------------------------------------------------------------------------- */

typedef struct clipdb_index clipdb_index_t;

/*
 * An exact cosine-similarity index held in memory: no approximation, the top-k returned is
 * exactly the top-k of scoring every stored vector. Keys are caller-chosen uint32 ids (the JS
 * store maps document ids to them). Scores are cosine similarities in [-1, 1] (Radford et al.
 * 2021: CLIP ranks by the cosine of L2-normalised image and text embeddings); vectors are
 * normalised on the way in, so the score of a query q against a stored v is
 * dot(q/|q|, v/|v|), computed in float32 by the SIMD f32-dot kernel selected at init
 * (src/index/index-config.c).
 * Searches over 4,096 vectors or more (k <= 1024) first score an int8 copy of every vector
 * against an int16 copy of the query; from bounds on the error of both copies they keep only
 * the vectors whose float32 score can reach the top k, and score those in float32 with the
 * same kernel. Keys and scores are identical, bit for bit, to scoring every vector; only
 * fewer float32 rows are read (tests/c/test-index.c compares the two on clustered data).
 * Memory: about dim*5 + 24 bytes per vector (float32 row, int8 copy, its scale and error
 * bound, key, insertion number), plus 8 bytes per vector of key table; dim*2 + 24 once
 * compacted (clipdb_index_compact: 16-bit rows instead of float32).
 */

/**
 * Create an empty index of `dim`-dimensional float32 vectors (dim in [1, 2^20]).
 * On success `*out` owns the index; release it with clipdb_index_free.
 * Errors: INVALID_ARGUMENT (out NULL, dim out of range), OUT_OF_MEMORY.
 */
CLIPDB_API clipdb_status clipdb_index_init(int32_t dim, clipdb_index_t **out);

/** Release an index and every vector it holds (NULL is allowed). */
CLIPDB_API void clipdb_index_free(clipdb_index_t *index);

/** Last error message recorded on this index, or "". Owned by the index. */
CLIPDB_API const char *clipdb_index_last_error(const clipdb_index_t *index);

/** The vector dimension given at init (0 for NULL). */
CLIPDB_API int32_t clipdb_index_dim(const clipdb_index_t *index);

/**
 * Add `n` vectors (float32 [n, dim], row-major, copied) under `keys` (uint32 [n]).
 * An existing key is replaced in place (upsert: it keeps its original insertion position for
 * tie-breaking); a key repeated inside the batch ends with its last vector. Vectors are
 * L2-normalised on the way in (norm computed in double).
 * Errors: BAD_VECTOR (a NaN/Inf or all-zero vector; the message names its batch position and
 * key; nothing of the batch is added), INVALID_ARGUMENT (NULL with n > 0, more than 2^32-2
 * vectors), OUT_OF_MEMORY (nothing of the batch is added). The caller guarantees each row
 * has `dim` floats: the C API cannot see lengths, so dimension checks are the binding's job
 * (the JS layer rejects with DIMENSION_MISMATCH naming both sizes).
 */
CLIPDB_API clipdb_status clipdb_index_add(clipdb_index_t *index, const uint32_t *keys,
                                          const float *vectors, size_t n);

/**
 * Make room for `n` vectors in total (not `n` more), so that adding them allocates once: an
 * index filled one batch at a time otherwise grows by doubling, and freed blocks do not shrink a
 * wasm memory. Never shrinks; a smaller `n` than the current capacity does nothing.
 * Errors: INVALID_ARGUMENT (NULL, n above 2^32-2), OUT_OF_MEMORY (the index is unchanged).
 */
CLIPDB_API clipdb_status clipdb_index_reserve(clipdb_index_t *index, size_t n);

/**
 * Compact rows: drop every float32 row and keep each vector as a 16-bit code instead (from
 * then on, for every vector added too), cutting memory from about dim*5 to dim*2 bytes per
 * vector. Row v (normalised) is held as v^ = (s/256) * (256 c + r) with s = max|v|/127 per
 * row, c = round(v/s) its int8 copy (the candidate pass's) and r = round((v - s c)/(s/256))
 * a second int8 byte; v^ is computed in float32 (s/256 times the exact integer).
 * |v_i - v^_i| <= s/512 (+ float32 rounding), so ||v - v^|| <= sqrt(dim) * max|v| / 65024
 * and each score moves by at most that much from the float32 row's (for 512-d CLIP
 * embeddings, whose max|v| is about 0.1-0.2: at most 7e-5, typically 1e-6).
 * Afterwards search scores v^ exactly as it scored the float32 rows (same kernel, same
 * candidate pass, same results as scoring every v^) and clipdb_index_get returns v^. One-way:
 * the float32 rows are gone; keep them in storage if they must be read back exactly.
 * Already compact: does nothing.
 * Errors: INVALID_ARGUMENT (NULL), OUT_OF_MEMORY (needs dim bytes per allocated vector while
 * it runs; the index is unchanged).
 */
CLIPDB_API clipdb_status clipdb_index_compact(clipdb_index_t *index);

/** 1 if clipdb_index_compact has run on `index`, else 0 (0 for NULL). */
CLIPDB_API int clipdb_index_is_compact(const clipdb_index_t *index);

/**
 * Version of the compact row encoding below (1). Stored planes carry it, so that planes made by
 * another version are recomputed from the float32 vectors instead of being read.
 */
CLIPDB_API int32_t clipdb_index_compact_version(void);

/**
 * Encode `n` vectors (float32 [n, dim], need not be normalised; each finite and non-zero) as the
 * compact rows a compact index would hold for them, so they can be stored and later added with
 * clipdb_index_add_compact without normalising and quantising again. `out` (caller-owned,
 * n * (4 + 2 * dim) bytes) receives three planes: the scales s (float32 [n], host byte order),
 * the codes c (int8 [n, dim]) and the low bytes r (int8 [n, dim]); row j is
 * v^ = (s_j / 256) * (256 c + r) (see clipdb_index_compact). Pure: no index involved.
 * Errors: INVALID_ARGUMENT (dim out of [1, 2^20], NULL with n > 0), BAD_VECTOR (NaN/Inf or zero
 * row; the message names it), OUT_OF_MEMORY.
 */
CLIPDB_API clipdb_status clipdb_index_compact_encode(int32_t dim, const float *vectors, size_t n,
                                                     uint8_t *out);

/**
 * Add (or replace, as clipdb_index_add) `n` vectors given as compact planes from
 * clipdb_index_compact_encode (n * (4 + 2 * dim) bytes, read, not kept) under `keys` (uint32 [n])
 * to a compact index. The result is the same as clipdb_index_add of the float32 vectors.
 * Errors: INVALID_ARGUMENT (NULL, or the index is not compact), BAD_VECTOR (a scale that is not
 * positive and finite, or a code of -128: damaged planes; nothing of the batch is added),
 * OUT_OF_MEMORY (nothing of the batch is added).
 */
CLIPDB_API clipdb_status clipdb_index_add_compact(clipdb_index_t *index, const uint32_t *keys,
                                                  const uint8_t *planes, size_t n);

/** Remove `key` and its vector. Errors: NOT_FOUND if absent (the index is unchanged). */
CLIPDB_API clipdb_status clipdb_index_remove(clipdb_index_t *index, uint32_t key);

/** Number of vectors held (0 for NULL). */
CLIPDB_API size_t clipdb_index_count(const clipdb_index_t *index);

/**
 * Copy the stored (normalised) vector of `key` into `out` (float32 [dim]); for a compact index
 * its 16-bit copy v^ (clipdb_index_compact).
 * Errors: INVALID_ARGUMENT (NULL), NOT_FOUND.
 */
CLIPDB_API clipdb_status clipdb_index_get(const clipdb_index_t *index, uint32_t key, float *out);

/** Name of the dot-product kernel this build selected, e.g. "clipdb_f32_dot_ukernel__scalar". */
CLIPDB_API const char *clipdb_index_kernel_name(void);

/**
 * Exact top-k by cosine similarity for `n_queries` queries (float32 [n_queries, dim], need
 * not be normalised; each must be finite and non-zero).
 *
 * `candidates`: NULL searches every stored vector. Otherwise only the keys listed
 * (uint32 [n_candidates]) are searched: pre-filtering, so a query returns exactly
 * min(k, matching) results; keys not in the index are skipped and duplicates count once
 * (candidates non-NULL with n_candidates = 0 searches nothing).
 *
 * Results for query q are written at row q of `out_keys` (uint32) and `out_scores`
 * (float32), both [n_queries, k] row-major: scores descending, equal scores in insertion
 * order (first inserted first; an upsert keeps its position). `out_counts[q]` (size_t
 * [n_queries]) is the number written, min(k, searched); entries after it are left untouched.
 * k = 0 writes nothing and succeeds. The top-k heap lives in the output rows, so internal
 * allocation never depends on k (only dim floats, plus one bit per stored vector and
 * n_candidates slots when filtering); callers that pass a huge k should clamp it to
 * clipdb_index_count() to keep their own output buffers small.
 * Errors: BAD_VECTOR (a query is NaN/Inf/zero; the message names it; nothing written),
 * INVALID_ARGUMENT (NULL buffers), OUT_OF_MEMORY.
 */
CLIPDB_API clipdb_status clipdb_index_search(const clipdb_index_t *index, const float *queries,
                                             size_t n_queries, size_t k,
                                             const uint32_t *candidates, size_t n_candidates,
                                             uint32_t *out_keys, float *out_scores,
                                             size_t *out_counts);

#ifdef __cplusplus
}
#endif

#endif /* CLIPDB_H */
