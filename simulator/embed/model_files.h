/* model_files.h — private to simulator/embed/: the files of a sentence-transformers BERT model
 * directory. config.json becomes an us_bert_config; 1_Pooling/config.json, modules.json and
 * sentence_bert_config.json add pooling, normalization and the sequence cap; model.safetensors is
 * opened as an us_safetensors (memory-mapped, validated) and copied, checked name by name and
 * shape by shape, into an us_bert_weights: one float block that the encoder uses directly.
 *
 *   us_err err;
 *   us_bert_config cfg;
 *   us_bert_weights w;
 *   if (us_bert_model_load("models/all-MiniLM-L6-v2", &cfg, &w, &err) != US_OK) {
 *       char buf[1024];
 *       fprintf(stderr, "%s\n", us_err_str(&err, buf, sizeof buf));
 *       return 1;
 *   }
 *   const float *wq2 = w.wq + 2 * (size_t)cfg.hidden_size * cfg.hidden_size; // layer 2, (C, C)
 *   us_bert_weights_free(&w);
 *
 * Dimension letters: V word pieces, P positions, C channels (hidden size), H heads, I the
 * feed-forward width, L layers. Linear weights are stored as PyTorch stores them, [out, in]:
 * y = x W^T + b.
 */
#ifndef USERSIM_SIMULATOR_MODEL_FILES_H
#define USERSIM_SIMULATOR_MODEL_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------------
 * Configuration
 * ---------------------------------------------------------------------------------------- */

typedef enum us_bert_pooling {
    US_BERT_POOL_MEAN = 0, /* mean of the token vectors over the attention mask */
} us_bert_pooling;

typedef struct us_bert_config {
    /* config.json (Hugging Face BertConfig; hidden_act "gelu", model_type "bert") */
    int vocab_size;              /* V */
    int hidden_size;             /* C; a multiple of num_attention_heads */
    int num_hidden_layers;       /* L */
    int num_attention_heads;     /* H; head size C / H */
    int intermediate_size;       /* I */
    int max_position_embeddings; /* P */
    int type_vocab_size;         /* rows of the token-type table (2 for BERT) */
    float layer_norm_eps;
    /* sentence-transformers files; defaults when a file is absent (see us_bert_dir_config) */
    int max_seq_length;      /* longest input in word pieces, [CLS] and [SEP] included; <= P */
    us_bert_pooling pooling; /* always mean: the other modes are refused */
    int normalize;           /* 1 when the pooled vector is L2-normalized (a Normalize module) */
} us_bert_config;

/* Reads a Hugging Face config.json into cfg: every field above it is required, with the right
 * type and a sane value; the sentence-transformers fields get their defaults (max_seq_length =
 * P, mean pooling, normalize 0). Errors name the file and the field and say what was expected
 * and found. Fills the caller's cfg and err; keeps nothing. */
us_status us_bert_config_read(const char *path, us_bert_config *cfg, us_err *err);

/* Reads a sentence-transformers Pooling config (1_Pooling/config.json) into cfg->pooling:
 * pooling_mode_mean_tokens must be true and every other pooling_mode_* false (those modes are
 * refused as unsupported); word_embedding_dimension, when present, must equal hidden_size.
 * cfg must already hold config.json. Keeps nothing. */
us_status us_bert_pooling_read(const char *path, us_bert_config *cfg, us_err *err);

/* Reads sentence_bert_config.json: max_seq_length, a positive integer <= P, into cfg. cfg must
 * already hold config.json. Keeps nothing. */
us_status us_bert_sbert_read(const char *path, us_bert_config *cfg, us_err *err);

/* Reads modules.json, the list of sentence-transformers modules: one Transformer, one Pooling,
 * optionally a Normalize (sets cfg->normalize); other modules (Dense, ...) are refused. Writes
 * the Pooling module's folder, relative to the model directory, into pool_dir[cap] ("" for the
 * directory itself). Keeps nothing. */
us_status us_bert_modules_read(const char *path, us_bert_config *cfg, char *pool_dir, size_t cap,
                               us_err *err);

/* Reads the configuration of the model directory dir: config.json (required), then, when
 * modules.json exists, the modules it names (its Pooling config is then required), else
 * 1_Pooling/config.json when present; and sentence_bert_config.json when present. Without the
 * sentence-transformers files, the defaults are those of sentence-transformers for a plain
 * BERT: mean pooling, no normalization, max_seq_length = P. Keeps nothing. */
us_status us_bert_dir_config(const char *dir, us_bert_config *cfg, us_err *err);

/* ------------------------------------------------------------------------------------------
 * safetensors files: an 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data section, which the tensors tile exactly (no overlap, no hole, no tail).
 * ---------------------------------------------------------------------------------------- */

typedef enum us_dtype {
    US_DT_BOOL,
    US_DT_U8,
    US_DT_I8,
    US_DT_F8_E5M2,
    US_DT_F8_E4M3,
    US_DT_I16,
    US_DT_U16,
    US_DT_F16,
    US_DT_BF16,
    US_DT_I32,
    US_DT_U32,
    US_DT_F32,
    US_DT_F64,
    US_DT_I64,
    US_DT_U64,
    US_DT_COUNT
} us_dtype;

/* The safetensors spelling ("F32", "BF16", ...); a static string. */
const char *us_dtype_name(us_dtype dt);
/* Bytes per element. */
size_t us_dtype_size(us_dtype dt);

/* Exact conversions of one IEEE half (binary16) and one bfloat16 to float: every value,
 * subnormals, infinities and NaNs included, is represented exactly in float. */
float us_f16_to_f32(uint16_t h);
float us_bf16_to_f32(uint16_t b);

#define US_ST_MAX_DIMS 8      /* tensors of higher rank are refused */
#define US_ST_MAX_HEADER (100u << 20) /* longest header accepted, as the reference library */

typedef struct us_st_tensor {
    const char *name; /* borrowed from the file object */
    us_dtype dtype;
    int ndim;                        /* 0 for a scalar */
    uint64_t shape[US_ST_MAX_DIMS];  /* shape[0..ndim) */
    uint64_t numel;                  /* product of the shape (1 for a scalar) */
    uint64_t begin, end;             /* byte range in the data section */
    const uint8_t *data;             /* end - begin bytes, little-endian, any alignment */
} us_st_tensor;

typedef struct us_safetensors us_safetensors;

/* Maps the file at path read-only and validates it completely: the header length against the
 * file size, the header as UTF-8 JSON (trailing spaces allowed), every tensor's dtype, shape and
 * byte range (size = numel * dtype size, inside the data section), no duplicate names, and
 * ranges that tile the data section exactly. Errors name the file, the tensor and what was
 * expected and found. Caller owns *out; release with us_safetensors_close(). */
us_status us_safetensors_open(const char *path, us_safetensors **out, us_err *err);

/* The same over len bytes in memory (a fuzzer, a test); name labels errors. Borrows buf, which
 * must outlive *out and stay unchanged. Caller owns *out; release with us_safetensors_close(). */
us_status us_safetensors_open_mem(const void *buf, size_t len, const char *name,
                                  us_safetensors **out, us_err *err);

/* Unmaps and frees. NULL is a no-op. */
void us_safetensors_close(us_safetensors *st);

/* Number of tensors. */
size_t us_safetensors_count(const us_safetensors *st);
/* Tensor i of count, in byte order of their names (strcmp). Borrowed from st. */
const us_st_tensor *us_safetensors_at(const us_safetensors *st, size_t i);
/* The tensor called name, or NULL. Borrowed from st. */
const us_st_tensor *us_safetensors_find(const us_safetensors *st, const char *name);
/* The value of key in "__metadata__", or NULL. Borrowed from st. */
const char *us_safetensors_meta(const us_safetensors *st, const char *key);
/* The path or name st was opened with. Borrowed from st. */
const char *us_safetensors_name(const us_safetensors *st);

/* Converts tensor t of st (F32, F16 or BF16) into out[0..t->numel), exactly; any other dtype is
 * an error naming the tensor. Writes into the caller's out; keeps nothing. */
us_status us_safetensors_read_f32(const us_safetensors *st, const us_st_tensor *t, float *out,
                                  us_err *err);

/* ------------------------------------------------------------------------------------------
 * BERT weights (llama2.c's Weights): one block, tensors in this order, layers stacked
 * ---------------------------------------------------------------------------------------- */

typedef struct us_bert_weights {
    /* embeddings: x = word_emb[id] + pos_emb[t] + type_emb[0], then LayerNorm */
    float *word_emb; /* (V, C) */
    float *pos_emb;  /* (P, C) */
    float *type_emb; /* (type_vocab_size, C) */
    float *emb_ln_w; /* (C) */
    float *emb_ln_b; /* (C) */
    /* encoder layers: layer l of an (L, X, Y) tensor starts at l * X * Y, of an (L, X) at l * X */
    float *wq, *bq;       /* (L, C, C), (L, C): attention.self.query */
    float *wk, *bk;       /* (L, C, C), (L, C): attention.self.key */
    float *wv, *bv;       /* (L, C, C), (L, C): attention.self.value */
    float *wo, *bo;       /* (L, C, C), (L, C): attention.output.dense */
    float *ln1_w, *ln1_b; /* (L, C), (L, C): attention.output.LayerNorm */
    float *w1, *b1;       /* (L, I, C), (L, I): intermediate.dense (then GELU) */
    float *w2, *b2;       /* (L, C, I), (L, C): output.dense */
    float *ln2_w, *ln2_b; /* (L, C), (L, C): output.LayerNorm */
    /* pooler.dense (tanh on [CLS]); unused by mean pooling; NULL when the file has none */
    float *pool_w; /* (C, C) */
    float *pool_b; /* (C) */
    float *block;  /* the one 64-byte aligned allocation all of the above point into */
    size_t nfloats;       /* floats in block: the parameter count */
    int has_pooler;       /* the file has pooler.dense.weight and .bias */
    int has_position_ids; /* the file has embeddings.position_ids (checked to be 0..P-1) */
} us_bert_weights;

/* Checks that st holds exactly the tensors of the BERT described by cfg, with or without a
 * "bert." prefix on every name: each required tensor present, in F32, F16 or BF16, with its
 * expected shape; pooler.dense optional (both or neither); embeddings.position_ids optional
 * (I64, [1, P] or [P], holding 0..P-1); no layer numbered L or above. Other tensors (an MLM
 * head, ...) are ignored. Errors name the tensor and the expected and found shape. Then copies
 * every tensor, converted to float, into one block. On error *w is zeroed. Borrows st and cfg
 * for the call. Caller owns *w; release with us_bert_weights_free(). */
us_status us_bert_weights_init(us_bert_weights *w, const us_safetensors *st,
                               const us_bert_config *cfg, us_err *err);

/* Frees the block and zeroes *w. NULL, or a zeroed *w, is a no-op. */
void us_bert_weights_free(us_bert_weights *w);

/* Reads dir's configuration (us_bert_dir_config) and dir/model.safetensors into cfg and w; the
 * file is closed before returning. Caller owns *w; release with us_bert_weights_free(). */
us_status us_bert_model_load(const char *dir, us_bert_config *cfg, us_bert_weights *w,
                             us_err *err);

#endif
